//! The filesystem row: the REST chunked protocol (5 MiB chunks, 4 in flight) against
//! `dd ... bs=5M conv=fsync` writing the same bytes to the same disk. Each side runs twice,
//! alternating; the best of each is compared (goal ≥ 0.7 of dd).

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use framelog_tests::TestApp;
use futures::StreamExt;

use crate::table::{Row, mibps};
use crate::{CHUNK, PARALLEL};

fn dd(src: &Path, dst: &Path) -> Duration {
    let t = Instant::now();
    let st = std::process::Command::new("dd")
        .arg(format!("if={}", src.display()))
        .arg(format!("of={}", dst.display()))
        .args(["bs=5M", "conv=fsync", "status=none"])
        .status()
        .expect("dd");
    assert!(st.success());
    let d = t.elapsed();
    std::fs::remove_file(dst).unwrap();
    d
}

/// One REST chunked upload of `src` (`size` bytes) to `base`, every chunk accepted: the time
/// until the last chunk's 200, and the upload id.
pub async fn rest_upload(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    src: &Path,
    size: u64,
) -> Result<(Duration, String), String> {
    let file = Arc::new(std::fs::File::open(src).unwrap());
    let t = Instant::now();
    let res = http
        .post(format!("{base}/v1/videos/upload"))
        .bearer_auth(key)
        .json(&serde_json::json!({"filename": "bench.bin", "size": size}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if res.status() != 201 {
        return Err(format!(
            "creation answered {}: {}",
            res.status(),
            res.text().await.unwrap_or_default()
        ));
    }
    let up: serde_json::Value = res.json().await.map_err(|e| e.to_string())?;
    let id = up["upload_id"].as_str().unwrap().to_owned();
    let total = up["total_chunks"].as_u64().unwrap();
    let results: Vec<(u16, String)> = futures::stream::iter(0..total)
        .map(|n| {
            let (file, http, url) =
                (file.clone(), http.clone(), format!("{base}/v1/videos/upload/{id}/chunk/{n}"));
            let key = key.to_owned();
            async move {
                let off = n * CHUNK;
                let len = CHUNK.min(size - off) as usize;
                let buf = tokio::task::spawn_blocking(move || {
                    let mut b = vec![0u8; len];
                    file.read_exact_at(&mut b, off).unwrap();
                    b
                })
                .await
                .unwrap();
                match http.put(url).bearer_auth(key).body(buf).send().await {
                    Ok(res) => (res.status().as_u16(), res.text().await.unwrap_or_default()),
                    Err(e) => (0, e.to_string()),
                }
            }
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let d = t.elapsed();
    if let Some((s, body)) = results.iter().find(|(s, _)| *s != 200) {
        return Err(format!("a chunk was refused: {s} {body}"));
    }
    Ok((d, id))
}

/// Aborts upload `id` to free its space (not timed).
pub async fn abort(http: &reqwest::Client, base: &str, key: &str, id: &str) {
    let _ = http.delete(format!("{base}/v1/videos/upload/{id}")).bearer_auth(key).send().await;
}

/// The filesystem row against `app`; source bytes and dd's target live in `dir`, the disk the
/// uploads go to.
pub async fn row(app: &TestApp, key: &str, dir: &Path, mib: u64) -> Row {
    let size = mib * 1024 * 1024;
    let src = framelog_tests::media::generate_bytes(dir, "source.bin", size as usize, 7);
    let dd_out = dir.join("dd.out");
    let base = app.url("");
    let mut dd_best = Duration::MAX;
    let mut ours_best = Duration::MAX;
    for _ in 0..2 {
        dd_best = dd_best.min(dd(&src, &dd_out));
        let (d, id) = rest_upload(&app.http, &base, key, &src, size).await.expect("REST upload");
        ours_best = ours_best.min(d);
        abort(&app.http, &base, key, &id).await;
    }
    std::fs::remove_file(&src).ok();
    println!(
        "fs: REST {mib} MiB, {} MiB chunks, {PARALLEL} in flight: best {:.2} s; dd conv=fsync best {:.2} s",
        CHUNK >> 20,
        ours_best.as_secs_f64(),
        dd_best.as_secs_f64()
    );
    Row::Measured {
        name: format!("REST upload {mib} MiB to fs (5 MiB chunks, 4 in flight)"),
        ours: mibps(size, ours_best),
        baseline: mibps(size, dd_best),
        baseline_name: "dd conv=fsync".into(),
        goal: 0.7,
    }
}
