//! `just bench auth`: the MediaMTX publish-auth webhook with a valid key.
//! 1. Throughput: wrk (same threads, connections, duration) against our webhook and against
//!    nginx answering `return 200;` on loopback, in the same run: the req/s ratio (goal ≥ 0.5).
//! 2. Latency at a fixed rate: an open-loop generator sends 2,000 req/s for 5 s and measures
//!    each request from its scheduled time (no coordinated omission): p50/p99 (goal p99 < 2 ms).

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use framelog_core::media::{FsMediaStore, SharedMediaStore};
use framelog_core::service::ServiceContext;
use framelog_events::TenantId;
use framelog_tests::{NatsServer, TestApp, platform};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wrk(url: &str, script: &std::path::Path) -> f64 {
    let out = Command::new("wrk")
        .args(["-t2", "-c32", "-d5s", "-s"])
        .arg(script)
        .arg(url)
        .output()
        .expect("wrk (apt install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| {
            l.strip_prefix("Requests/sec:").map(|v| v.trim().parse::<f64>().unwrap_or(0.0))
        })
        .unwrap_or_else(|| panic!("wrk printed no rate:\n{text}"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    framelog_core::tls::install_crypto_provider();
    let nats = NatsServer::start();
    let (p, dir) = platform(&nats).await;
    let key = p.tenants.create(&TenantId::new("bench").unwrap()).await.unwrap();
    let media: SharedMediaStore = Arc::new(FsMediaStore::new(dir.path().join("media")).unwrap());
    let ctx = ServiceContext { platform: p, media, shutdown: Default::default() };
    let st = framelog_live::state(&ctx, Default::default(), Default::default()).await.unwrap();
    let hook_secret = st.hook_secret.expose().to_owned();
    let app = TestApp::serve(framelog_live::router(st)).await;
    let stream: serde_json::Value = app
        .http
        .post(app.url("/v1/streams"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"name": "bench"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let body = serde_json::json!({
        "ip": "127.0.0.1", "user": "", "password": "", "token": "", "action": "publish",
        "path": format!("live/{}", stream["stream_id"].as_str().unwrap()), "protocol": "rtmp",
        "id": "6f5c3c3e-0000-4000-8000-000000000001",
        "query": format!("key={}", stream["stream_key"].as_str().unwrap()),
    })
    .to_string();
    let url = app.url(&format!("/v1/hooks/mediamtx/auth?secret={hook_secret}"));
    let check = app
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(check.status(), 200, "a valid key is allowed");

    // nginx answering `return 200;` on loopback.
    let work = tempfile::tempdir().unwrap();
    let port = free_port();
    std::fs::create_dir_all(work.path().join("tmp")).unwrap();
    let conf = work.path().join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;\n\
             events {{ worker_connections 1024; }}\n\
             http {{ access_log off; client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp; uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;\n\
             server {{ listen 127.0.0.1:{port}; location / {{ return 200; }} }} }}\n",
            d = work.path().display()
        ),
    )
    .unwrap();
    let mut nginx = Command::new("nginx")
        .arg("-p")
        .arg(work.path())
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx");
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nginx did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let lua = work.path().join("post.lua");
    std::fs::write(
        &lua,
        format!(
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = [[{body}]]\n"
        ),
    )
    .unwrap();
    let ours = tokio::task::spawn_blocking({
        let (url, lua) = (url.clone(), lua.clone());
        move || wrk(&url, &lua)
    })
    .await
    .unwrap();
    let base = tokio::task::spawn_blocking({
        let lua = lua.clone();
        move || wrk(&format!("http://127.0.0.1:{port}/auth"), &lua)
    })
    .await
    .unwrap();
    let _ = nginx.kill();
    let _ = nginx.wait();

    // Open loop at a fixed rate.
    let rate = 2000u32;
    let secs = 5u32;
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
    let body = Arc::new(body);
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity((rate * secs) as usize);
    for i in 0..rate * secs {
        let due = start + Duration::from_secs_f64(f64::from(i) / f64::from(rate));
        tokio::time::sleep_until(due).await;
        let (http, url, body) = (http.clone(), url.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let res = http
                .post(&url)
                .header("content-type", "application/json")
                .body((*body).clone())
                .send()
                .await;
            let ok = res.map(|r| r.status() == 200).unwrap_or(false);
            (due.elapsed().as_secs_f64() * 1000.0, ok)
        }));
    }
    let mut lat = Vec::with_capacity(tasks.len());
    let mut failed = 0;
    for t in tasks {
        let (ms, ok) = t.await.unwrap();
        lat.push(ms);
        failed += usize::from(!ok);
    }
    let achieved = lat.len() as f64 / start.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&lat, 0.5), percentile(&lat, 0.99));
    println!(
        "auth bench: wrk -t2 -c32 -d5s; open loop {rate} req/s for {secs} s ({achieved:.0} req/s achieved, {failed} not allowed)"
    );
    println!("| measure | ours | baseline | ratio | goal |\n|---|---|---|---|---|");
    println!(
        "| publish auth throughput | {ours:.0} req/s | {base:.0} req/s (nginx return 200) | {:.2} | >= 0.50 |",
        ours / base
    );
    println!(
        "| publish auth latency at {rate}/s | p50 {p50:.2} ms, p99 {p99:.2} ms | 2 ms p99 (goal) | {:.2} | p99 < 2 ms |",
        p99 / 2.0
    );
    println!(
        "TABLE|publish-auth webhook throughput (wrk)|{ours:.0} req/s|{base:.0} req/s (nginx return 200)|{:.2}|>= 0.50",
        ours / base
    );
    println!(
        "TABLE|publish-auth latency at {rate} req/s (open loop)|p50 {p50:.2} ms, p99 {p99:.2} ms|2 ms p99 (goal)|{:.2}|p99 < 2 ms",
        p99 / 2.0
    );
    assert_eq!(failed, 0, "every request with a valid key was allowed");
}
