//! The tus row: Framelog's `/v1/tus/` against `@tus/server` 2.4 with `@tus/file-store`, both
//! driven by the same tus-js-client 4.3 script (`deploy/bench/tus-peer/upload.mjs`), the same
//! real MP4 (ffprobe must accept it: Framelog probes at completion), 5 MiB PATCHes, the same
//! disk, alternating A/B/A/B; best of each. Framelog completes the upload (sha256 + ffprobe)
//! before answering the last PATCH, so tus-js-client's `onSuccess` is "completed on our side";
//! the bench then checks the upload state is `completed`.
//!
//! Size with `FRAMELOG_BENCH_TUS_MIB` (default 500). The MP4 is cached under
//! `target/bench-media/`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use framelog_tests::TestApp;

use crate::table::{Row, mibps};
use crate::{CHUNK, workspace};

const NAME: &str = "tus upload (5 MiB PATCHes, tus-js-client)";

/// `@tus/server` as a child process; killed on drop.
struct Peer {
    child: Child,
    endpoint: String,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_peer(js: &Path, store: &Path) -> Result<Peer, String> {
    let mut child = Command::new("node")
        .arg(js.join("server.mjs"))
        .arg(store)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("node: {e}"))?;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.by_ref().map_while(Result::ok).find(|l| l.starts_with("listening on "));
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    match line {
        Some(l) => Ok(Peer { child, endpoint: l["listening on ".len()..].to_owned() }),
        None => {
            let _ = child.kill();
            Err("@tus/server did not start".into())
        }
    }
}

/// A real MP4 of about `mib` MiB (MPEG-4 part 2 of random frames, which barely compresses),
/// generated once and cached.
pub fn video(mib: u64) -> Result<PathBuf, String> {
    let dir = workspace().join("target/bench-media");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let out = dir.join(format!("tus-{mib}mib.mp4"));
    if out.exists() {
        return Ok(out);
    }
    let tmp = dir.join(format!("tus-{mib}mib.partial.mp4"));
    let st = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt"])
        .args(["yuv420p", "-s", "640x360", "-r", "30", "-t", "3600", "-i", "/dev/urandom"])
        .args(["-c:v", "mpeg4", "-q:v", "2", "-fs", &(mib * 1024 * 1024).to_string()])
        .arg(&tmp)
        .status()
        .map_err(|e| format!("ffmpeg: {e}"))?;
    if !st.success() {
        return Err("ffmpeg could not generate the source".into());
    }
    std::fs::rename(&tmp, &out).map_err(|e| e.to_string())?;
    Ok(out)
}

#[derive(serde::Deserialize)]
struct Run {
    ms: f64,
    url: String,
}

/// One upload with the shared tus-js-client script.
fn drive(js: &Path, endpoint: &str, file: &Path, key: Option<&str>) -> Result<Run, String> {
    let mut cmd = Command::new("node");
    cmd.arg(js.join("upload.mjs")).arg(endpoint).arg(file).arg(CHUNK.to_string());
    if let Some(k) = key {
        cmd.arg(k);
    }
    let out = cmd.stderr(Stdio::inherit()).output().map_err(|e| format!("node: {e}"))?;
    if !out.status.success() {
        return Err(format!("tus-js-client against {endpoint} failed"));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).map_err(|e| format!("upload.mjs printed {text:?}: {e}"))
}

/// Asserts Framelog completed the upload (sha256 computed, probed), then deletes the video so
/// the next round has the space.
async fn check_and_delete(app: &TestApp, key: &str, url: &str) -> Result<(), String> {
    let id = url.rsplit('/').next().unwrap_or_default();
    let res = app.get(&format!("/v1/videos/upload/{id}"), Some(key)).await;
    let body: serde_json::Value = res.json().await.map_err(|e| e.to_string())?;
    if body["state"] != "completed" {
        return Err(format!("the Framelog upload is not completed: {body}"));
    }
    let video = body["video_id"].as_str().unwrap_or_default();
    let _ = app.http.delete(app.url(&format!("/v1/videos/{video}"))).bearer_auth(key).send().await;
    Ok(())
}

/// The tus row; `dir` is on the disk Framelog's uploads and media go to.
pub async fn row(app: &TestApp, key: &str, dir: &Path) -> Row {
    match measure(app, key, dir).await {
        Ok(r) => r,
        Err(why) => Row::skipped(NAME, why),
    }
}

async fn measure(app: &TestApp, key: &str, dir: &Path) -> Result<Row, String> {
    let mib: u64 =
        std::env::var("FRAMELOG_BENCH_TUS_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    let js = workspace().join("deploy/bench/tus-peer");
    if !js.join("node_modules/@tus/server").exists() {
        return Err(
            "deploy/bench/tus-peer has no node_modules (deploy/bench.sh installs it)".into()
        );
    }
    let file = video(mib)?;
    let size = std::fs::metadata(&file).map_err(|e| e.to_string())?.len();
    let store = dir.join("tus-peer-store");
    std::fs::create_dir_all(&store).map_err(|e| e.to_string())?;
    let peer = start_peer(&js, &store)?;
    let ours_endpoint = app.url("/v1/tus/");
    // Both read the source from the page cache.
    std::fs::read(&file).map_err(|e| e.to_string())?;
    let (mut peer_best, mut ours_best) = (Duration::MAX, Duration::MAX);
    for round in 0..2 {
        let p = drive(&js, &peer.endpoint, &file, None)?;
        let _ = std::fs::remove_dir_all(&store);
        std::fs::create_dir_all(&store).map_err(|e| e.to_string())?;
        let o = drive(&js, &ours_endpoint, &file, Some(key))?;
        check_and_delete(app, key, &o.url).await?;
        println!(
            "tus round {}: @tus/server {:.2} s, Framelog {:.2} s ({} bytes)",
            round + 1,
            p.ms / 1000.0,
            o.ms / 1000.0,
            size
        );
        peer_best = peer_best.min(Duration::from_secs_f64(p.ms / 1000.0));
        ours_best = ours_best.min(Duration::from_secs_f64(o.ms / 1000.0));
    }
    drop(peer);
    Ok(Row::Measured {
        name: format!("tus upload {mib} MiB MP4 (5 MiB PATCHes, tus-js-client 4.3)"),
        ours: mibps(size, ours_best),
        baseline: mibps(size, peer_best),
        baseline_name: "@tus/server 2.4 FileStore".into(),
        goal: 1.2,
    })
}
