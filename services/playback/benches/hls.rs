//! `just bench hls`: one signed segment URL served by playback vs the same file served by nginx
//! (sendfile) from the same directory, with `wrk` (same threads and connections), in one run;
//! then the view beacon rate with dedup.
//!
//! Each side of the segment comparison runs twice, alternating; the best of each is compared.
//! Playback runs twice: as configured by default (hot segments in memory) and with the segment
//! cache off (every request reads the file in 512 KiB chunks on the blocking pool).
//! The beacon phase POSTs beacons from `wrk` (Lua) cycling over a fixed set of sessions, so all
//! but the first beacon of each session in the window are duplicates that JetStream drops; it
//! reports the accepted (202) rate, the end-to-end rate (until every ack is in) and the counts.
//!
//! A JWT row (ES256 token minted with a signing key loaded through the key cache's watch)
//! serves the same segment in the same alternation, compared with the HMAC row; the cost of
//! one uncached ES256 and RS256 check is printed beside it.
//!
//! Tunables: `FRAMELOG_BENCH_HLS_SECS` (default 6 per wrk run), `FRAMELOG_BENCH_HLS_MB` (segment
//! size, default 1.5), `FRAMELOG_BENCH_WRK` (default `-t2 -c16`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use framelog_core::media::{FsMediaStore, SharedMediaStore};
use framelog_core::nats::STREAM_VIEW;
use framelog_core::signing::playback_token;
use framelog_playback::{PlaybackSettings, PlaybackState};
use framelog_tests::{NatsServer, TestApp, platform};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

#[path = "hls/jwt.rs"]
mod jwt;

/// Distinct sessions the beacon load cycles over.
const SESSIONS: u64 = 5000;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// An nginx of our own (prefix, pid, logs, temp paths in a temp dir); killed on drop.
struct Nginx {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start(root: &Path) -> Nginx {
        let dir = tempfile::Builder::new().prefix("framelog-nginx-").tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let d = dir.path().display();
        let conf = format!(
            "worker_processes auto;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 1000000;\n\
               client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fcgi;\n\
               uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
               types {{ video/mp2t ts; application/vnd.apple.mpegurl m3u8; }}\n\
               server {{\n    listen 127.0.0.1:{port};\n    root {root};\n\
                 location / {{ add_header Cache-Control \"public, max-age=31536000, immutable\"; }}\n  }}\n}}\n",
            root = root.display()
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting nginx");
        Nginx { child, port, _dir: dir }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM to our master (it stops its workers); `kill` on Child would be SIGKILL.
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

/// What one wrk run measured.
#[derive(Debug, Clone, Copy, Default)]
struct Wrk {
    rps: f64,
    mb_per_s: f64,
    requests: u64,
    non_2xx: u64,
    secs: f64,
}

fn wrk(url: &str, secs: u64, script: Option<&Path>) -> Wrk {
    let opts: String = env_or("FRAMELOG_BENCH_WRK", "-t2 -c16".to_owned());
    let mut cmd = Command::new("wrk");
    cmd.args(opts.split_whitespace()).arg(format!("-d{secs}s"));
    if let Some(s) = script {
        cmd.arg("-s").arg(s);
    }
    let out = cmd.arg(url).output().expect("running wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "wrk failed: {text}");
    let mut w = Wrk::default();
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            w.rps = v.trim().parse().unwrap_or(0.0);
        } else if let Some(v) = line.strip_prefix("Transfer/sec:") {
            w.mb_per_s = parse_size(v.trim()) / 1e6;
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            w.non_2xx = v.trim().parse().unwrap_or(0);
        } else if line.contains(" requests in ") {
            let mut parts = line.split_whitespace();
            w.requests = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            w.secs = parts.nth(2).map(|s| s.trim_end_matches(',')).map(parse_secs).unwrap_or(0.0);
        }
    }
    w
}

fn parse_size(s: &str) -> f64 {
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().unwrap_or(0.0);
    n * match unit {
        "KB" => 1024.0,
        "MB" => 1024.0 * 1024.0,
        "GB" => 1024.0 * 1024.0 * 1024.0,
        _ => 1.0,
    }
}

fn parse_secs(s: &str) -> f64 {
    if let Some(ms) = s.strip_suffix("ms") {
        ms.parse::<f64>().unwrap_or(0.0) / 1000.0
    } else if let Some(m) = s.strip_suffix('m') {
        m.parse::<f64>().unwrap_or(0.0) * 60.0
    } else {
        s.trim_end_matches('s').parse().unwrap_or(0.0)
    }
}

fn best(runs: &[Wrk]) -> Wrk {
    runs.iter().copied().fold(Wrk::default(), |b, w| if w.rps > b.rps { w } else { b })
}

async fn wait_http(url: &str) {
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never answered");
}

fn write_segment(path: &Path, len: usize) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let data: Vec<u8> = (0..len).map(|i| (i as u32).wrapping_mul(2_654_435_761) as u8).collect();
    std::fs::write(path, data).unwrap();
}

fn st_clock(at: OffsetDateTime) -> framelog_playback::Clock {
    Arc::new(move || at)
}

async fn serve(st: PlaybackState) -> TestApp {
    let router = framelog_playback::router(st);
    TestApp::serve_with(move |l| async move {
        let _ = axum::serve(l, router.into_make_service_with_connect_info::<SocketAddr>()).await;
    })
    .await
}

#[tokio::main]
async fn main() {
    framelog_core::tls::install_crypto_provider();
    let secs: u64 = env_or("FRAMELOG_BENCH_HLS_SECS", 6);
    let mb: f64 = env_or("FRAMELOG_BENCH_HLS_MB", 1.5);
    let nats = NatsServer::start();
    let (p, dir) = platform(&nats).await;
    let media_root: PathBuf = dir.path().join("media");
    let media: SharedMediaStore = Arc::new(FsMediaStore::new(&media_root).unwrap());
    let rel = "hls/acme/vid_bench/360p/seg_000.ts";
    let seg_len = (mb * 1024.0 * 1024.0) as usize;
    write_segment(&media_root.join(rel), seg_len);

    let start = OffsetDateTime::now_utc();
    let clock: framelog_playback::Clock = Arc::new(move || start);
    // The beacon load comes from one address (wrk): measure the pipeline, not the per-address limit.
    let settings = PlaybackSettings { beacon_rate: 0.0, ..PlaybackSettings::default() };
    let (st, workers) = PlaybackState::new(p.clone(), media, settings, clock).await.unwrap();
    let shutdown = CancellationToken::new();
    let tasks = workers.spawn(&st, shutdown.clone());
    let app = serve(st.clone()).await;
    // The same service with the segment cache off: every request reads the file.
    let nocache = PlaybackSettings { cache_mb: 0, ..PlaybackSettings::default() };
    let (st_nc, _w) =
        PlaybackState::new(p.clone(), st.media.clone(), nocache, st_clock(start)).await.unwrap();
    let app_nc = serve(st_nc).await;
    let token = playback_token(&p.secret, "acme", "vid_bench", start.unix_timestamp() + 3600);
    let ours = app.url(&format!("/hls/{token}/vid_bench/360p/seg_000.ts"));
    let ours_nc = app_nc.url(&format!("/hls/{token}/vid_bench/360p/seg_000.ts"));
    std::fs::write(media_root.join("hls/acme/vid_bench/master.m3u8"), "#EXTM3U\n").unwrap();
    let exp = start.unix_timestamp() + 3600;
    let claims = serde_json::json!({"sub": "vid_bench", "aud": "v", "exp": exp});
    let es = jwt::create_key(&st, "acme", framelog_playback::jwt::Alg::ES256).await;
    let rs = jwt::create_key(&st, "acme", framelog_playback::jwt::Alg::RS256).await;
    let (es_token, rs_token) = (jwt::mint(&es, &claims), jwt::mint(&rs, &claims));
    let es_us = jwt::verify_micros(&es, &es_token, "vid_bench", start.unix_timestamp());
    let rs_us = jwt::verify_micros(&rs, &rs_token, "vid_bench", start.unix_timestamp());
    let ours_jwt = app.url(&format!("/hls/{es_token}/vid_bench/360p/seg_000.ts"));
    let nginx = Nginx::start(&media_root);
    let theirs = format!("http://127.0.0.1:{}/{rel}", nginx.port);
    wait_http(&ours).await;
    wait_http(&theirs).await;
    wait_http(&ours_jwt).await;

    let (mut n_runs, mut o_runs, mut c_runs) = (Vec::new(), Vec::new(), Vec::new());
    let mut j_runs = Vec::new();
    for _ in 0..2 {
        for (url, runs) in [
            (&theirs, &mut n_runs),
            (&ours, &mut o_runs),
            (&ours_jwt, &mut j_runs),
            (&ours_nc, &mut c_runs),
        ] {
            let (u, s) = (url.clone(), secs);
            runs.push(tokio::task::spawn_blocking(move || wrk(&u, s, None)).await.unwrap());
        }
    }
    let (n, o, c, j) = (best(&n_runs), best(&o_runs), best(&c_runs), best(&j_runs));
    assert_eq!(o.non_2xx + n.non_2xx + c.non_2xx + j.non_2xx, 0, "every segment answered 200");

    // Beacons: wrk POSTs cycling over SESSIONS sessions, in one view window (frozen clock).
    let script_dir = tempfile::tempdir().unwrap();
    let script = script_dir.path().join("beacon.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
             local n = 0\nrequest = function()\n  n = n + 1\n\
               local body = '{{\"token\":\"{token}\",\"video_id\":\"vid_bench\",\"session\":\"s' .. (n % {SESSIONS}) .. '\",\"kind\":\"start\"}}'\n\
               return wrk.format(nil, nil, nil, body)\nend\n"
        ),
    )
    .unwrap();
    let url = app.url("/v1/views");
    let t0 = Instant::now();
    let b = tokio::task::spawn_blocking({
        let (u, s, sc) = (url.clone(), secs, script.clone());
        move || wrk(&u, s, Some(&sc))
    })
    .await
    .unwrap();
    let stats = st.stats.clone();
    while stats.stored.get() + stats.duplicates.get() + stats.dropped.get() < stats.accepted.get() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let end_to_end = stats.accepted.get() as f64 / t0.elapsed().as_secs_f64();
    let accepted_rate = (b.requests - b.non_2xx) as f64 / b.secs.max(0.001);
    let mut view = p.js.get_stream(STREAM_VIEW).await.unwrap();
    let stored_in_stream = view.info().await.unwrap().state.messages;
    shutdown.cancel();
    for t in tasks {
        let _ = t.await;
    }

    println!();
    println!(
        "segment: {:.2} MiB, wrk {} -d{secs}s, best of 2 each",
        mb,
        env_or("FRAMELOG_BENCH_WRK", "-t2 -c16".to_owned())
    );
    println!("{:<22} {:>12} {:>12}", "", "req/s", "MB/s");
    println!("{:<22} {:>12.0} {:>12.1}", "nginx (sendfile)", n.rps, n.mb_per_s);
    println!("{:<22} {:>12.0} {:>12.1}", "playback", o.rps, o.mb_per_s);
    println!("{:<22} {:>12.0} {:>12.1}", "playback, JWT (ES256)", j.rps, j.mb_per_s);
    println!("{:<22} {:>12.0} {:>12.1}", "playback, cache off", c.rps, c.mb_per_s);
    println!(
        "JWT vs HMAC: {:.2}x req/s (goal >= 0.90); one uncached check: ES256 {es_us:.0} us, \
         RS256 {rs_us:.0} us (verified tokens are remembered until exp)",
        j.rps / o.rps
    );
    println!(
        "beacons: {} sent, {} accepted (202), {} refused; {} stored, {} duplicates dropped by \
         JetStream, {} lost; {} messages in VID_VIEW ({} distinct sessions)",
        b.requests,
        stats.accepted.get(),
        b.non_2xx,
        stats.stored.get(),
        stats.duplicates.get(),
        stats.dropped.get(),
        stored_in_stream,
        SESSIONS
    );
    println!(
        "beacons accepted/s {accepted_rate:.0}, end to end (until every ack) {end_to_end:.0}/s"
    );
    println!(
        "TABLE|HLS segment serving (wrk, one signed segment)|{:.0} req/s, {:.0} MB/s|{:.0} req/s, {:.0} MB/s (nginx sendfile)|{:.2} rps, {:.2} MB/s|>= 0.80",
        o.rps,
        o.mb_per_s,
        n.rps,
        n.mb_per_s,
        o.rps / n.rps,
        o.mb_per_s / n.mb_per_s
    );
    println!(
        "TABLE|HLS segment serving, JWT (ES256) token|{:.0} req/s|{:.0} req/s (HMAC token)|{:.2}|>= 0.90",
        j.rps,
        o.rps,
        j.rps / o.rps
    );
    println!(
        "TABLE|view beacons with dedup|{accepted_rate:.0} /s|10000 /s (goal)|{:.2}|>= 10k/s",
        accepted_rate / 10000.0
    );
    println!("RESULT hls_rps_ratio={:.2}", o.rps / n.rps);
    println!("RESULT hls_mbps_ratio={:.2}", o.mb_per_s / n.mb_per_s);
    println!("RESULT hls_jwt_vs_hmac_rps_ratio={:.2}", j.rps / o.rps);
    println!("RESULT jwt_es256_verify_us={es_us:.0}");
    println!("RESULT jwt_rs256_verify_us={rs_us:.0}");
    println!("RESULT hls_nocache_rps_ratio={:.2}", c.rps / n.rps);
    println!("RESULT beacons_per_sec={accepted_rate:.0}");
    println!("RESULT beacons_end_to_end_per_sec={end_to_end:.0}");
    println!("RESULT beacons_duplicates_dropped={}", stats.duplicates.get());
    drop(nginx);
}
