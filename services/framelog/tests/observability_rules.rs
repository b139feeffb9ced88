//! The alert rules and the Grafana dashboard against the real thing: `promtool` accepts the
//! rules (and rejects a broken copy), the rules' unit test passes, and after a mixed run on a
//! real `framelog serve` (an upload to ready, an upload refused, a view beacon, a webhook
//! delivery) every metric a rule expression or a dashboard panel reads is on `/metrics`. No
//! live stream is pushed: `framelog_live_sessions` and `framelog_live_viewers` are gauges
//! registered at 0, present on the scrape without one (their values are tested in the live and
//! playback crates' unit tests).
//! `promtool` comes from Debian's `prometheus` package (deploy/bootstrap.sh installs it).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use framelog_tests::NatsServer;
use framelog_tests::media::{VideoSpec, generate_video};
use framelog_tests::promql::{metric_names, scrape_names};
use serde_json::{Value, json};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn promtool(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool runs (deploy/bootstrap.sh installs Debian's prometheus package)")
}

/// The `expr:` of every rule (the file keeps each on one line), checked against the alert count.
fn rule_exprs(yaml: &str) -> Vec<String> {
    let exprs: Vec<String> = yaml
        .lines()
        .filter_map(|l| l.trim().strip_prefix("expr:"))
        .map(|e| e.trim().to_owned())
        .collect();
    let alerts = yaml.lines().filter(|l| l.trim().starts_with("- alert:")).count();
    assert_eq!(exprs.len(), alerts, "every rule has a one-line expr");
    assert!(exprs.iter().all(|e| !e.is_empty() && !e.starts_with(['|', '>'])), "{exprs:?}");
    exprs
}

/// The `expr` of every target of every panel.
fn dashboard_exprs(dash: &Value) -> Vec<String> {
    let panels = dash["panels"].as_array().expect("panels");
    let exprs: Vec<String> = panels
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["expr"].as_str().map(str::to_owned))
        .collect();
    assert!(exprs.len() >= panels.len(), "every panel has a query");
    exprs
}

#[test]
fn promtool_accepts_the_rules_the_config_and_the_rule_tests_and_rejects_a_broken_copy() {
    let dir = deploy().join("prometheus");
    let out = promtool(&["check", "rules", "framelog-rules.yml"], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("SUCCESS: 13 rules found"));
    let out = promtool(&["check", "config", "prometheus.yml"], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = promtool(&["test", "rules", "framelog-rules.test.yml"], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));

    let tmp = tempfile::tempdir().unwrap();
    let rules = std::fs::read_to_string(dir.join("framelog-rules.yml")).unwrap();
    let broken = rules.replacen("(framelog_consumer_pending)", "(framelog_consumer_pending", 1);
    assert_ne!(broken, rules);
    std::fs::write(tmp.path().join("broken.yml"), broken).unwrap();
    let out = promtool(&["check", "rules", "broken.yml"], tmp.path());
    assert!(!out.status.success(), "promtool accepted an unbalanced expression");
}

/// A webhook receiver answering 204, counting the requests it got.
async fn receiver() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let h = h.clone();
        async move {
            h.fetch_add(1, Ordering::SeqCst);
            axum::http::StatusCode::NO_CONTENT
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, hits)
}

async fn wait_ready(http: &reqwest::Client, base: &str, key: &str, video: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let res =
            http.get(format!("{base}/v1/videos/{video}")).bearer_auth(key).send().await.unwrap();
        if res.status() == 200 {
            let v: Value = res.json().await.unwrap();
            if v["status"] == "ready" {
                return v;
            }
            assert_ne!(v["status"], "failed", "{v}");
        }
        assert!(Instant::now() < deadline, "{video} not ready");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn every_metric_the_rules_and_the_dashboard_read_is_on_metrics_after_a_mixed_run() {
    let rules = std::fs::read_to_string(deploy().join("prometheus/framelog-rules.yml")).unwrap();
    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(deploy().join("grafana/framelog.json")).unwrap(),
    )
    .unwrap();
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    for e in rule_exprs(&rules).iter().chain(dashboard_exprs(&dash).iter()) {
        let names = metric_names(e);
        assert!(!names.is_empty(), "no metric found in {e}");
        wanted.extend(names);
    }
    assert!(wanted.len() >= 15, "{wanted:?}");

    let nats = NatsServer::start();
    let served = serve(&nats.url(), &["--outbound-allow-private"]);
    let key = tenant(&nats.url(), "acme");
    let http = reqwest::Client::new();
    // A webhook endpoint for every event type.
    let (hook_url, hits) = receiver().await;
    let res = http
        .post(format!("{}/v1/webhooks", served.base))
        .bearer_auth(&key)
        .json(&json!({"url": hook_url, "event_types": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    // An upload to ready.
    let work = tempfile::tempdir().unwrap();
    let file = generate_video(work.path(), "clip.mp4", &VideoSpec::new(320, 240, 1.0));
    let out = framelog()
        .args(["upload", "--server", &served.base, "--api-key", &key, "--state-dir"])
        .arg(work.path().join("state"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let video = text.lines().find_map(|l| l.strip_prefix("video_id: ")).unwrap().to_owned();
    let v = wait_ready(&http, &served.base, &key, &video).await;
    // An upload refused at completion (not media): `framelog_uploads_refused_total`.
    let junk = b"these bytes are no video at all".repeat(4);
    let junk_len = junk.len();
    let res = http
        .post(format!("{}/v1/videos/upload", served.base))
        .bearer_auth(&key)
        .json(&json!({"filename": "junk.mp4", "size": junk.len()}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let up: Value = res.json().await.unwrap();
    let id = up["upload_id"].as_str().unwrap();
    let res = http
        .put(format!("{}/v1/videos/upload/{id}/chunk/0", served.base))
        .bearer_auth(&key)
        .body(junk.clone())
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    let res = http
        .post(format!("{}/v1/videos/upload/{id}/complete", served.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422, "{}", res.text().await.unwrap());
    // A view beacon with the playback token.
    let playback = v["playback_url"].as_str().unwrap();
    // `/hls/{token}/{video}/master.m3u8`.
    let token = playback.split('/').nth(2).unwrap();
    let res = http
        .post(format!("{}/v1/views", served.base))
        .json(&json!({"token": token, "video_id": video, "session": "s1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202, "beacon for {playback}");

    // Scrape until every name is there: webhook deliveries and the 15 s JetStream collector
    // are asynchronous.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (missing, scrape) = loop {
        let scrape = http
            .get(format!("{}/metrics", served.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let have = scrape_names(&scrape);
        let missing: Vec<&String> = wanted.iter().filter(|n| !have.contains(*n)).collect();
        let delivered = scrape
            .contains(r#"framelog_webhook_deliveries_total{outcome="succeeded"} "#)
            && !scrape.contains(r#"framelog_webhook_deliveries_total{outcome="succeeded"} 0"#);
        let lag =
            scrape.contains(r#"framelog_consumer_pending{stream="VID",consumer="transcoder"}"#);
        if (missing.is_empty() && delivered && lag) || Instant::now() > deadline {
            eprintln!("receiver got {} webhook requests", hits.load(Ordering::SeqCst));
            for l in scrape.lines().filter(|l| {
                l.starts_with("framelog_event_since_request_seconds_sum")
                    || l.starts_with("framelog_transcode_time_to_")
                    || l.starts_with("framelog_transcode_realtime_factor_sum")
                    || l.starts_with("framelog_upload")
                    || l.starts_with("framelog_projection_applied_sequence")
                    || l.starts_with("framelog_live_")
                    || l.starts_with("framelog_consumer_pending")
                    || l.starts_with("framelog_webhook_deliveries_total")
            }) {
                eprintln!("{l}");
            }
            assert!(delivered, "no webhook delivery counted as succeeded");
            assert!(lag, "no consumer lag gauge for the transcoder");
            break (missing.into_iter().cloned().collect::<Vec<_>>(), scrape);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(missing.is_empty(), "read by rules or panels but not on /metrics: {missing:?}");
    // The new series count what happened: one job to playable and ready, its realtime factor,
    // the bytes of both uploads, one completed and one refused.
    let value = |prefix: &str| -> f64 {
        let line =
            scrape.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("{prefix}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(value("framelog_transcode_time_to_playable_seconds_count "), 1.0);
    assert_eq!(value("framelog_transcode_time_to_ready_seconds_count "), 1.0);
    assert_eq!(value(r#"framelog_transcode_job_duration_seconds_count{outcome="completed"}"#), 1.0);
    assert_eq!(value(r#"framelog_transcode_realtime_factor_count{encoder="libx264"}"#), 1.0);
    let source = std::fs::metadata(&file).unwrap().len() as f64;
    let rest = value(r#"framelog_upload_received_bytes_total{protocol="rest"}"#);
    assert_eq!(rest, source + junk_len as f64, "bytes received over REST");
    assert_eq!(value(r#"framelog_uploads_completed_total{protocol="rest"}"#), 1.0);
    assert_eq!(
        value(r#"framelog_uploads_refused_total{protocol="rest",code="#),
        1.0,
        "one refusal"
    );
    assert!(value(r#"framelog_projection_applied_sequence{stream="VID"}"#) > 0.0);
    assert!(hits.load(Ordering::SeqCst) >= 1);
}
