//! `just soak`: a mixed soak against the real release `framelog serve` (every service) and a
//! real nats-server: uploads that get transcoded, view beacons, catalog and stats queries, and
//! SSE clients, for `FRAMELOG_SOAK_SECS` (default 600). Passes when no valid request failed and
//! the resident memory of every process grew less than 10% after warm-up.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use framelog_tests::NatsServer;
use framelog_tests::media::{VideoSpec, generate_video};
use framelog_tests::tools::workspace_root;
use futures::StreamExt;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

struct Load {
    base: String,
    key: String,
    http: reqwest::Client,
    errors: Vec<String>,
    requests: u64,
}

impl Load {
    async fn check(
        &mut self,
        what: &str,
        res: reqwest::Result<reqwest::Response>,
    ) -> Option<serde_json::Value> {
        self.requests += 1;
        match res {
            Ok(r) if r.status().is_success() => {
                r.json().await.ok().or(Some(serde_json::Value::Null))
            }
            Ok(r) => {
                self.errors.push(format!("{what}: {}", r.status()));
                None
            }
            Err(e) => {
                self.errors.push(format!("{what}: {e}"));
                None
            }
        }
    }

    async fn upload(&mut self, file: &std::path::Path) -> Option<String> {
        let bytes = std::fs::read(file).unwrap();
        let res = self
            .http
            .post(format!("{}/v1/videos/upload", self.base))
            .bearer_auth(&self.key)
            .json(&serde_json::json!({"filename": "soak.mp4", "size": bytes.len()}))
            .send()
            .await;
        let up = self.check("create upload", res).await?;
        let id = up["upload_id"].as_str()?.to_owned();
        let chunk = up["chunk_size"].as_u64()? as usize;
        for (n, c) in bytes.chunks(chunk).enumerate() {
            let res = self
                .http
                .put(format!("{}/v1/videos/upload/{id}/chunk/{n}", self.base))
                .bearer_auth(&self.key)
                .body(c.to_vec())
                .send()
                .await;
            self.check("chunk", res).await?;
        }
        let res = self
            .http
            .post(format!("{}/v1/videos/upload/{id}/complete", self.base))
            .bearer_auth(&self.key)
            .send()
            .await;
        let done = self.check("complete", res).await?;
        done["video_id"].as_str().map(str::to_owned)
    }
}

#[tokio::main]
async fn main() {
    framelog_core::tls::install_crypto_provider();
    let secs: u64 =
        std::env::var("FRAMELOG_SOAK_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(600);
    let bin = workspace_root().join("target/release/framelog");
    assert!(bin.exists(), "build it first: cargo build --release -p framelog (just soak does)");
    let nats = NatsServer::start();
    let work = tempfile::tempdir().unwrap();
    let key = {
        let out = Command::new(&bin)
            .args(["tenant", "create", "soak", "--nats-url", &nats.url()])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().lines().last().unwrap().to_owned()
    };
    let mut serve = Command::new(&bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--nats-url", &nats.url(), "--data-dir"])
        .arg(work.path().join("data"))
        .args(["--ingest-chunk-size", "262144"])
        // All load comes from one address: no per-address beacon limit.
        .args(["--playback-beacon-rate", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = BufReader::new(serve.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .find(|l| l.contains("listening on"))
        .unwrap();
    let base = line.rsplit(' ').next().unwrap().to_owned();
    let pids = [("framelog", serve.id()), ("nats-server", nats.pid().unwrap())];
    let clip = generate_video(work.path(), "clip.mp4", &VideoSpec::new(640, 360, 4.0));
    let mut load = Load {
        base: base.clone(),
        key: key.clone(),
        http: reqwest::Client::new(),
        errors: Vec::new(),
        requests: 0,
    };

    // SSE clients for the whole run.
    let mut sse = Vec::new();
    for _ in 0..5 {
        let (base, key) = (base.clone(), key.clone());
        sse.push(tokio::spawn(async move {
            let res = reqwest::Client::new()
                .get(format!("{base}/v1/events"))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap();
            let mut body = res.bytes_stream();
            let mut n = 0u64;
            while let Some(Ok(b)) = body.next().await {
                n += b.iter().filter(|c| **c == b'\n').count() as u64;
            }
            n
        }));
    }

    let start = Instant::now();
    let warm = Duration::from_secs((secs / 5).max(30).min(secs));
    let mut baseline = None;
    let mut samples: Vec<(u64, u64)> = Vec::new();
    let (mut last_upload, mut last_sample) =
        (Instant::now() - Duration::from_secs(60), Instant::now());
    let mut videos: Vec<String> = Vec::new();
    while start.elapsed() < Duration::from_secs(secs) {
        if last_upload.elapsed() > Duration::from_secs(20) {
            last_upload = Instant::now();
            if let Some(v) = load.upload(&clip).await {
                videos.push(v);
            }
        }
        let res =
            load.http.get(format!("{base}/v1/videos?limit=20")).bearer_auth(&key).send().await;
        load.check("list videos", res).await;
        let res = load.http.get(format!("{base}/v1/stats")).bearer_auth(&key).send().await;
        load.check("stats", res).await;
        // View beacons for videos that play.
        if let Some(v) = videos.last().cloned() {
            let res = load.http.get(format!("{base}/v1/videos/{v}")).bearer_auth(&key).send().await;
            if let Some(d) = load.check("get video", res).await
                && let Some(url) = d["playback_url"].as_str()
                && d["status"] != "processing"
                && d["status"] != "uploading"
            {
                let token = url.split('/').nth(2).unwrap_or_default().to_owned();
                let res = load
                    .http
                    .post(format!("{base}/v1/views"))
                    .json(&serde_json::json!({"token": token, "video_id": v, "kind": "heartbeat"}))
                    .send()
                    .await;
                load.check("view beacon", res).await;
            }
        }
        if last_sample.elapsed() > Duration::from_secs(5) {
            last_sample = Instant::now();
            let s = (rss_kib(pids[0].1), rss_kib(pids[1].1));
            if start.elapsed() >= warm {
                baseline.get_or_insert(s);
                samples.push(s);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = serve.kill();
    let _ = serve.wait();
    for t in sse {
        t.abort();
    }
    let base_rss = baseline.unwrap_or((1, 1));
    let end = samples.iter().rev().take(3).fold((0, 0), |a, s| (a.0.max(s.0), a.1.max(s.1)));
    let growth = |a: u64, b: u64| if a == 0 { 0.0 } else { (b as f64 / a as f64) - 1.0 };
    let (g_app, g_nats) = (growth(base_rss.0, end.0), growth(base_rss.1, end.1));
    println!(
        "soak: {secs} s, {} requests, {} uploads, {} errors",
        load.requests,
        videos.len(),
        load.errors.len()
    );
    for e in load.errors.iter().take(10) {
        println!("  error: {e}");
    }
    println!("TABLE|soak errors ({secs} s mixed)|{}|0|-|0", load.errors.len());
    println!(
        "TABLE|RSS growth framelog after warm-up|{:.1} % ({} -> {} KiB)|10 %|{:.2}|< 10 %",
        g_app * 100.0,
        base_rss.0,
        end.0,
        g_app / 0.10
    );
    println!(
        "TABLE|RSS growth nats-server after warm-up|{:.1} % ({} -> {} KiB)|10 %|{:.2}|< 10 %",
        g_nats * 100.0,
        base_rss.1,
        end.1,
        g_nats / 0.10
    );
    let ok = load.errors.is_empty() && g_app < 0.10 && g_nats < 0.10;
    println!("{} passed, {} failed", u8::from(ok), u8::from(!ok));
    std::process::exit(if ok { 0 } else { 1 });
}
