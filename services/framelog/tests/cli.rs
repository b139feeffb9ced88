//! The `framelog` binary as an operator uses it, against a real nats-server.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use framelog_tests::NatsServer;

mod common;
use common::framelog;

#[test]
fn help_lists_the_subcommands() {
    let out = framelog().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for sub in ["serve", "tenant"] {
        assert!(text.contains(sub), "{sub} missing from --help:\n{text}");
    }
    let serve = framelog().args(["serve", "--help"]).output().unwrap();
    let text = String::from_utf8(serve.stdout).unwrap();
    for flag in ["--nats-url", "--listen", "--data-dir", "--secret-file", "FRAMELOG_NATS_URL"] {
        assert!(text.contains(flag), "{flag} missing from serve --help");
    }
}

#[test]
fn tenant_create_prints_the_key_as_the_last_line_and_refuses_a_second_create() {
    let nats = NatsServer::start();
    let out =
        framelog().args(["tenant", "create", "acme", "--nats-url", &nats.url()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let last = text.lines().last().unwrap();
    assert!(last.starts_with("flk_") && last.len() > 40, "last line {last:?}");

    let again =
        framelog().args(["tenant", "create", "acme", "--nats-url", &nats.url()]).output().unwrap();
    assert!(!again.status.success());
    let err = String::from_utf8(again.stderr).unwrap();
    assert!(err.contains("already exists"), "{err}");
    assert!(!err.contains("Stack backtrace"), "{err}");

    let json = framelog()
        .args(["tenant", "key", "acme", "--json", "--nats-url", &nats.url()])
        .output()
        .unwrap();
    assert!(json.status.success());
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["tenant"], "acme");
    assert_ne!(v["api_key"].as_str().unwrap(), last, "a new key each time");
}

#[test]
fn an_invalid_tenant_id_is_refused_with_the_rule() {
    let out = framelog()
        .args(["tenant", "create", "Acme.Corp", "--nats-url", "nats://127.0.0.1:1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("a-z, 0-9"), "{err}");
}

#[tokio::test]
async fn serve_answers_readyz_once_connected_and_stops_on_sigterm() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().unwrap();
    let mut child = framelog()
        .args(["serve", "--listen", "127.0.0.1:0", "--nats-url", &nats.url(), "--data-dir"])
        .arg(data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout).lines().map_while(Result::ok).find(|l| l.contains("listening on"))
    })
    .await
    .unwrap()
    .expect("serve prints its URL");
    let base = line.rsplit(' ').next().unwrap().to_owned();
    let res = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["streams_present"], true);
    assert!(data.path().join("secret.key").exists(), "the secret is generated on first start");

    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "graceful exit, got {status}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn framelog_hook_reports_a_mediamtx_hook_to_live_auth() {
    let nats = NatsServer::start();
    let served = common::serve(&nats.url(), &[]);
    let key = common::tenant(&nats.url(), "acme");
    let http = reqwest::Client::new();
    let s: serde_json::Value = http
        .post(format!("{}/v1/streams", served.base))
        .bearer_auth(&key)
        .json(&serde_json::json!({"name": "cam"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = s["stream_id"].as_str().unwrap();
    // live-auth's webhook secret, generated into its data dir; MediaMTX's auth webhook (with
    // it in the URL) authorises the publish of connection conn-1 first.
    let secret_file = served.data.as_ref().unwrap().path().join("hook-secret");
    let secret = std::fs::read_to_string(&secret_file).unwrap();
    let auth = http
        .post(format!("{}/v1/hooks/mediamtx/auth?secret={}", served.base, secret.trim()))
        .json(&serde_json::json!({"action": "publish", "path": format!("live/{id}"),
            "protocol": "rtmp", "id": "conn-1",
            "query": format!("key={}", s["stream_key"].as_str().unwrap())}))
        .send()
        .await
        .unwrap();
    assert_eq!(auth.status(), 200);
    // Without the secret the bridge refuses before calling.
    let no_secret = framelog()
        .args(["hook", "available", "--server", &served.base])
        .env_remove("FRAMELOG_LIVE_HOOK_SECRET")
        .env_remove("FRAMELOG_LIVE_HOOK_SECRET_FILE")
        .env("MTX_PATH", format!("live/{id}"))
        .env("MTX_SOURCE_ID", "conn-1")
        .output()
        .unwrap();
    assert!(!no_secret.status.success());
    assert!(String::from_utf8_lossy(&no_secret.stderr).contains("--secret-file"));
    let out = framelog()
        .args(["hook", "available", "--server", &served.base, "--secret-file"])
        .arg(&secret_file)
        .env("MTX_PATH", format!("live/{id}"))
        .env("MTX_SOURCE_TYPE", "rtmpConn")
        .env("MTX_SOURCE_ID", "conn-1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The session started: a `started` event with the connection id is in the log.
    let js = async_nats::jetstream::new(nats.client().await);
    let stream = js.get_stream("VID").await.unwrap();
    let last = js.get_stream("VID").await.unwrap().info().await.unwrap().state.last_sequence;
    let mut found = false;
    for seq in 1..=last {
        let m = stream.get_raw_message(seq).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        if v["data"]["phase"] == "started" && v["data"]["connection_id"] == "conn-1" {
            found = true;
        }
    }
    assert!(found, "no started event");
    // Without MTX_PATH the command refuses with a clear message.
    let bad = framelog()
        .args(["hook", "available", "--server", &served.base, "--secret-file"])
        .arg(&secret_file)
        .env_remove("MTX_PATH")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("MTX_PATH"));
}

#[tokio::test]
async fn the_web_ui_is_served_for_app_paths_but_never_over_api_paths() {
    let nats = NatsServer::start();
    let web = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(web.path().join("assets")).unwrap();
    std::fs::write(web.path().join("index.html"), "<html>framelog ui</html>").unwrap();
    std::fs::write(web.path().join("assets/app-1234.js"), "console.log(1)").unwrap();
    let served = common::serve(&nats.url(), &["--web-dir", web.path().to_str().unwrap()]);
    let get = |p: &str| reqwest::get(format!("{}{p}", served.base));
    let root = get("/").await.unwrap();
    assert_eq!(root.headers()["cache-control"], "no-cache");
    assert!(root.text().await.unwrap().contains("framelog ui"));
    // A client-side route gets the app.
    assert!(get("/watch/vid_123").await.unwrap().text().await.unwrap().contains("framelog ui"));
    let asset = get("/assets/app-1234.js").await.unwrap();
    assert_eq!(asset.headers()["cache-control"], "public, max-age=31536000, immutable");
    // API paths keep their JSON 404.
    for p in ["/v1/nope", "/hls/x", "/live/x"] {
        let r = get(p).await.unwrap();
        assert_eq!(r.status(), 404, "{p}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "route_not_found", "{p}");
    }
}
