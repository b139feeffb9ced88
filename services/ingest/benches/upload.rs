//! `just bench upload`: 1 GiB through the REST chunked protocol (5 MiB chunks, 4 in flight)
//! against `dd ... bs=5M conv=fsync` writing the same bytes to the same disk, in the same run.
//! Each side runs twice, alternating; the best of each is compared. Prints the ratio of
//! throughputs (goal ≥ 0.7 of dd).
//!
//! Size with `FRAMELOG_BENCH_UPLOAD_MIB` (default 1024).

use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use framelog_core::media::{FsMediaStore, SharedMediaStore};
use framelog_events::TenantId;
use framelog_ingest::{IngestSettings, IngestState};
use framelog_tests::{NatsServer, TestApp, platform};
use futures::StreamExt;

const CHUNK: u64 = 5 * 1024 * 1024;
const PARALLEL: usize = 4;

fn dd(src: &std::path::Path, dst: &std::path::Path) -> Duration {
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

async fn ours(app: &TestApp, key: &str, src: &std::path::Path, size: u64) -> Duration {
    let file = Arc::new(std::fs::File::open(src).unwrap());
    let t = Instant::now();
    let res = app
        .http
        .post(app.url("/v1/videos/upload"))
        .bearer_auth(key)
        .json(&serde_json::json!({"filename": "bench.bin", "size": size}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let up: serde_json::Value = res.json().await.unwrap();
    let id = up["upload_id"].as_str().unwrap().to_owned();
    let total = up["total_chunks"].as_u64().unwrap();
    let results: Vec<u16> = futures::stream::iter(0..total)
        .map(|n| {
            let (file, http, url) = (
                file.clone(),
                app.http.clone(),
                app.url(&format!("/v1/videos/upload/{id}/chunk/{n}")),
            );
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
                http.put(url).bearer_auth(key).body(buf).send().await.unwrap().status().as_u16()
            }
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let d = t.elapsed();
    assert!(results.iter().all(|s| *s == 200), "every chunk accepted");
    // Abort to free the space for the next round (not timed).
    app.http
        .delete(app.url(&format!("/v1/videos/upload/{id}")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    d
}

#[tokio::main]
async fn main() {
    let mib: u64 = std::env::var("FRAMELOG_BENCH_UPLOAD_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let size = mib * 1024 * 1024;
    let nats = NatsServer::start();
    let (p, dir) = platform(&nats).await;
    let key = p.tenants.create(&TenantId::new("bench").unwrap()).await.unwrap();
    let media: SharedMediaStore = Arc::new(FsMediaStore::new(dir.path().join("media")).unwrap());
    let st = IngestState::new(
        p.clone(),
        media,
        IngestSettings { chunk_size: CHUNK, ..Default::default() },
    )
    .await
    .unwrap();
    let app = TestApp::serve(framelog_ingest::router(st)).await;
    // Source bytes and dd's target live in the same data dir (same disk) as the uploads.
    let src = framelog_tests::media::generate_bytes(dir.path(), "source.bin", size as usize, 7);
    let dd_out = dir.path().join("dd.out");

    let mut dd_best = Duration::MAX;
    let mut ours_best = Duration::MAX;
    for _ in 0..2 {
        dd_best = dd_best.min(dd(&src, &dd_out));
        ours_best = ours_best.min(ours(&app, &key, &src, size).await);
    }
    let mbps = |d: Duration| size as f64 / 1048576.0 / d.as_secs_f64();
    let ratio = mbps(ours_best) / mbps(dd_best);
    println!(
        "upload bench: {mib} MiB, {} MiB chunks, {PARALLEL} in flight, best of 2",
        CHUNK >> 20
    );
    println!("| measure | ours | baseline (dd conv=fsync) | ratio | goal |");
    println!("|---|---|---|---|---|");
    println!(
        "| upload throughput | {:.0} MiB/s ({:.2} s) | {:.0} MiB/s ({:.2} s) | {ratio:.2} | >= 0.70 |",
        mbps(ours_best),
        ours_best.as_secs_f64(),
        mbps(dd_best),
        dd_best.as_secs_f64()
    );
    println!(
        "TABLE|upload 1 GiB (5 MiB chunks, 4 in flight)|{:.0} MiB/s|{:.0} MiB/s (dd conv=fsync)|{ratio:.2}|>= 0.70",
        mbps(ours_best),
        mbps(dd_best)
    );
}
