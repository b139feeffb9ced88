//! The S3 row: REST (5 MiB chunks, 4 in flight) into `framelog serve --only ingest
//! --media-store s3` on SeaweedFS, until `POST .../complete` answered (sha256, ffprobe,
//! CompleteMultipartUpload), against boto3's `upload_file` (`deploy/bench/s3_baseline.py`:
//! multipart, 5 MiB parts, 4 concurrent) of the same MP4 into the same SeaweedFS; alternating,
//! best of 2 each (goal ≥ 0.8×).
//!
//! The `framelog` binary is `FRAMELOG_BIN` or `target/release/framelog` (`deploy/bench.sh`
//! builds it); Python is `.tools/venv/bin/python` with boto3 (the script installs it). Until
//! `--media-store s3` exists, the row prints `skipped: <why>`.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use framelog_tests::NatsServer;
use sha2::{Digest, Sha256};

use crate::table::{Row, mibps};
use crate::{CHUNK, fs, tus, workspace};
use framelog_tests::SeaweedFs;

const BUCKET: &str = "framelog-bench";

/// `framelog serve` as a child process; killed on drop.
struct Served {
    child: Child,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn framelog_bin() -> Result<PathBuf, String> {
    let bin = std::env::var_os("FRAMELOG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/release/framelog"));
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!("no {} (cargo build --release -p framelog)", bin.display()))
    }
}

fn framelog(bin: &Path) -> Command {
    let mut c = Command::new(bin);
    c.env_remove("FRAMELOG_NATS_URL").env_remove("RUST_LOG").env_remove("FRAMELOG_API_KEY");
    c
}

fn serve(bin: &Path, nats: &NatsServer, weed: &SeaweedFs, data: &Path) -> Result<Served, String> {
    let mut child = framelog(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--nats-url", &nats.url(), "--only", "ingest"])
        .arg("--data-dir")
        .arg(data)
        .args(["--ingest-chunk-size", &CHUNK.to_string()])
        .args(weed.args(BUCKET))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.by_ref().map_while(Result::ok).find(|l| l.contains("listening on"));
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    match line {
        Some(l) => {
            let base = l.rsplit(' ').next().unwrap_or_default().to_owned();
            let mut err = child.stderr.take().unwrap();
            std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
            Ok(Served { child, base })
        }
        None => {
            let _ = child.wait();
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            // clap's `error: ...` line, else the last line logged.
            let last = err
                .lines()
                .find(|l| l.starts_with("error:"))
                .or_else(|| err.lines().rfind(|l| !l.trim().is_empty()))
                .unwrap_or("no output");
            Err(format!("framelog serve --media-store s3 did not start: {}", last.trim()))
        }
    }
}

fn tenant(bin: &Path, nats: &NatsServer) -> Result<String, String> {
    let out = framelog(bin)
        .args(["tenant", "create", "bench-s3", "--nats-url", &nats.url()])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("framelog tenant create: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().last().map(str::to_owned).ok_or_else(|| "no key printed".into())
}

fn python() -> Result<PathBuf, String> {
    let py = workspace().join(".tools/venv/bin/python");
    let ok = Command::new(&py)
        .args(["-c", "import boto3"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok { Ok(py) } else { Err("no boto3 in .tools/venv (deploy/bench.sh installs it)".into()) }
}

fn boto3(py: &Path, endpoint: &str, key: &str, file: &Path) -> Result<Duration, String> {
    let out = Command::new(py)
        .arg(workspace().join("deploy/bench/s3_baseline.py"))
        .args([endpoint, BUCKET, key])
        .arg(file)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err("the boto3 baseline failed".into());
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("s3_baseline.py: {e}"))?;
    Ok(Duration::from_secs_f64(v["ms"].as_f64().unwrap_or(f64::NAN) / 1000.0))
}

/// One REST upload through completion; deletes the video afterwards (not timed).
async fn ours(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    file: &Path,
    sha256: &str,
) -> Result<Duration, String> {
    let size = std::fs::metadata(file).map_err(|e| e.to_string())?.len();
    let t = Instant::now();
    let (_, id) = fs::rest_upload(http, base, key, file, size).await?;
    let res = http
        .post(format!("{base}/v1/videos/upload/{id}/complete"))
        .bearer_auth(key)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let d = t.elapsed();
    let status = res.status();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    if !status.is_success() {
        return Err(format!("completion answered {status}: {body}"));
    }
    if body["sha256"] != sha256 {
        return Err(format!("completed with sha256 {}, the file's is {sha256}", body["sha256"]));
    }
    if let Some(video) = body["video_id"].as_str() {
        let _ = http.delete(format!("{base}/v1/videos/{video}")).bearer_auth(key).send().await;
    }
    Ok(d)
}

pub async fn row(nats: &NatsServer, dir: &Path, mib: u64) -> Row {
    let name = format!("REST upload {mib} MiB MP4 to S3 (SeaweedFS, 5 MiB parts, 4 in flight)");
    match measure(nats, dir, mib).await {
        Ok((ours, base, size)) => Row::Measured {
            name,
            ours: mibps(size, ours),
            baseline: mibps(size, base),
            baseline_name: "boto3 upload_file, same parts".into(),
            goal: 0.8,
        },
        Err(why) => Row::skipped(name, why),
    }
}

async fn measure(
    nats: &NatsServer,
    dir: &Path,
    mib: u64,
) -> Result<(Duration, Duration, u64), String> {
    let bin = framelog_bin()?;
    let py = python()?;
    let file = tus::video(mib)?;
    let size = std::fs::metadata(&file).map_err(|e| e.to_string())?.len();
    let sha256 = hex::encode(Sha256::digest(std::fs::read(&file).map_err(|e| e.to_string())?));
    let weed = SeaweedFs::start().await;
    let served = match serve(&bin, nats, &weed, &dir.join("s3-serve")) {
        Ok(s) => s,
        // Still measure the baseline: the figure Framelog's S3 path will be held to.
        Err(why) => {
            let b = boto3(&py, &weed.endpoint(), "boto3/alone", &file)?;
            return Err(format!("{why} (boto3 alone: {:.0} MiB/s)", mibps(size, b)));
        }
    };
    let key = tenant(&bin, nats)?;
    let http = reqwest::Client::new();
    let (mut ours_best, mut base_best) = (Duration::MAX, Duration::MAX);
    for round in 0..2 {
        let b = boto3(&py, &weed.endpoint(), &format!("boto3/{round}"), &file)?;
        let o = ours(&http, &served.base, &key, &file, &sha256).await?;
        println!(
            "s3 round {}: boto3 {:.2} s, Framelog {:.2} s ({size} bytes)",
            round + 1,
            b.as_secs_f64(),
            o.as_secs_f64()
        );
        base_best = base_best.min(b);
        ours_best = ours_best.min(o);
    }
    Ok((ours_best, base_best, size))
}
