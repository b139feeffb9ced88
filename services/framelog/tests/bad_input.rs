//! Bad-input battery against the real `framelog serve` with every service: malformed JSON,
//! wrong types, huge bodies and headers, unicode and control characters, path traversal, wrong
//! methods, missing and foreign tenants. Every answer must be a 4xx with the JSON error shape;
//! no 5xx, and no panic in the logs.

mod common;

use common::*;
use framelog_tests::NatsServer;
use reqwest::Method;

struct Case {
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    key: Option<String>,
}

fn case(method: Method, path: impl Into<String>, key: Option<&str>) -> Case {
    Case {
        method,
        path: path.into(),
        headers: Vec::new(),
        body: Vec::new(),
        key: key.map(str::to_owned),
    }
}

impl Case {
    fn json(mut self, body: &str) -> Case {
        self.headers.push(("content-type", "application/json".into()));
        self.body = body.as_bytes().to_vec();
        self
    }
    fn body(mut self, ct: &str, body: Vec<u8>) -> Case {
        self.headers.push(("content-type", ct.to_owned()));
        self.body = body;
        self
    }
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Case {
        self.headers.push((name, value.into()));
        self
    }
}

#[tokio::test]
async fn every_public_endpoint_answers_bad_input_with_a_json_4xx_and_never_panics() {
    let nats = NatsServer::start();
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("serve.log");
    let data = work.path().join("data");
    let served = serve_logged(&nats.url(), &["--data-dir", data.to_str().unwrap()], Some(&log));
    let a = tenant(&nats.url(), "acme");
    let b = tenant(&nats.url(), "globex");
    let base = served.base.clone();
    let http = reqwest::Client::new();

    // Things tenant A owns.
    let up: serde_json::Value = http
        .post(format!("{base}/v1/videos/upload"))
        .bearer_auth(&a)
        .json(&serde_json::json!({"filename": "a.mp4", "size": 10}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (a_up, a_vid) =
        (up["upload_id"].as_str().unwrap().to_owned(), up["video_id"].as_str().unwrap().to_owned());
    let st: serde_json::Value = http
        .post(format!("{base}/v1/streams"))
        .bearer_auth(&a)
        .json(&serde_json::json!({"name": "cam"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let a_str = st["stream_id"].as_str().unwrap().to_owned();

    // The webhook secret `serve` generated on first start, and a file an attacker would aim at.
    let hook_secret = std::fs::read_to_string(data.join("hook-secret")).unwrap();
    let hs = hook_secret.trim();
    let secret_key = data.join("secret.key");
    let secret_key_bytes = std::fs::read(&secret_key).unwrap();
    let sk = secret_key.to_str().unwrap();
    let form = "application/x-www-form-urlencoded";

    let (ka, kb) = (Some(a.as_str()), Some(b.as_str()));
    let big_json = format!("{{\"filename\":\"{}\",\"size\":1}}", "x".repeat(3 * 1024 * 1024));
    let cases = vec![
        // Missing and bad credentials.
        case(Method::GET, "/v1/videos", None),
        case(Method::GET, "/v1/stats", Some("flk_not_a_real_key")),
        case(Method::POST, "/v1/streams", Some("Bearer-less")).json(r#"{"name":"x"}"#),
        case(Method::GET, "/v1/videos", ka).header("x-tenant-id", "globex"),
        // Another tenant's resources: 404, like missing ones.
        case(Method::GET, format!("/v1/videos/upload/{a_up}"), kb),
        case(Method::PUT, format!("/v1/videos/upload/{a_up}/chunk/0"), kb)
            .body("application/octet-stream", vec![0; 10]),
        case(Method::POST, format!("/v1/videos/upload/{a_up}/complete"), kb),
        case(Method::DELETE, format!("/v1/videos/upload/{a_up}"), kb),
        case(Method::DELETE, format!("/v1/videos/{a_vid}"), kb),
        case(Method::GET, format!("/v1/videos/{a_vid}"), kb),
        case(Method::GET, format!("/v1/streams/{a_str}"), kb),
        case(Method::POST, format!("/v1/streams/{a_str}/key/reveal"), kb),
        case(Method::POST, format!("/v1/streams/{a_str}/key/rotate"), kb),
        case(Method::GET, format!("/v1/streams/{a_str}/playback"), kb),
        case(Method::DELETE, format!("/v1/streams/{a_str}"), kb),
        case(Method::PATCH, format!("/v1/tus/{a_up}"), kb)
            .header("tus-resumable", "1.0.0")
            .body("application/offset+octet-stream", b"abc".to_vec())
            .header("upload-offset", "0"),
        // Malformed JSON and wrong types.
        case(Method::POST, "/v1/videos/upload", ka).json("{"),
        case(Method::POST, "/v1/videos/upload", ka).json("[]"),
        case(Method::POST, "/v1/videos/upload", ka).json("null"),
        case(Method::POST, "/v1/videos/upload", ka).json(r#"{"filename":1,"size":2}"#),
        case(Method::POST, "/v1/videos/upload", ka).json(r#"{"filename":"a","size":"abc"}"#),
        case(Method::POST, "/v1/videos/upload", ka).json(r#"{"filename":"a","size":1e30}"#),
        case(Method::POST, "/v1/videos/upload", ka).json(r#"{"filename":"a","size":-1}"#),
        case(Method::POST, "/v1/videos/upload", ka)
            .json(r#"{"filename":"a","size":1,"extra":true}"#),
        case(Method::POST, "/v1/videos/upload", ka).body("text/plain", b"filename=a".to_vec()),
        case(Method::POST, "/v1/videos/upload", ka).json(&big_json),
        case(Method::POST, "/v1/streams", ka).json(r#"{"name":"\u0000\u0007"}"#),
        case(Method::POST, "/v1/streams", ka).json(r#"{"name":"ok","record":"yes"}"#),
        case(Method::POST, "/v1/streams", ka).json("\u{feff}{\"name\":\"bom\"}"),
        case(Method::POST, "/v1/streams", ka).body("application/json", vec![0xff, 0xfe, 0x00]),
        // Path traversal and bad path values.
        case(Method::GET, "/v1/videos/upload/..%2F..%2Fetc%2Fpasswd", ka),
        case(Method::GET, "/v1/videos/%2e%2e%2f%2e%2e", ka),
        case(Method::GET, "/v1/videos/upload/%00", ka),
        case(Method::PUT, format!("/v1/videos/upload/{a_up}/chunk/abc"), ka)
            .body("application/octet-stream", vec![1]),
        case(Method::PUT, format!("/v1/videos/upload/{a_up}/chunk/-1"), ka)
            .body("application/octet-stream", vec![1]),
        case(Method::PUT, format!("/v1/videos/upload/{a_up}/chunk/99999999999999999999999"), ka)
            .body("application/octet-stream", vec![1]),
        case(Method::POST, "/v1/streams/..%2f..%2f/key/reveal", ka),
        case(Method::GET, "/v1/videos/vid_%F0%9F%8E%AC", ka),
        // Wrong methods.
        case(Method::PATCH, "/v1/videos/upload", ka),
        case(Method::PUT, "/v1/streams", ka),
        case(Method::GET, "/v1/hooks/mediamtx/auth", None),
        case(Method::DELETE, "/v1/stats", ka),
        // Bad queries.
        case(Method::GET, "/v1/videos?limit=abc", ka),
        case(Method::GET, "/v1/videos?limit=-1", ka),
        case(Method::GET, "/v1/videos?status=bogus", ka),
        case(Method::GET, "/v1/videos?cursor=%25%25%25", ka),
        case(Method::GET, "/v1/billing/usage?month=2026-13", ka),
        case(Method::GET, "/v1/billing/usage?month=abc", ka),
        case(Method::GET, "/v1/videos?after_seq=xyz", ka),
        // Webhooks.
        case(Method::POST, "/v1/hooks/mediamtx/auth", None).json("{"),
        case(Method::POST, "/v1/hooks/mediamtx/auth", None).json(r#"{"action":[]}"#),
        case(Method::POST, "/v1/hooks/mediamtx/auth", None)
            .json(r#"{"action":"publish","path":"live/../../x","query":"key=a.b"}"#),
        case(Method::POST, "/v1/hooks/mediamtx/event", None)
            .json(r#"{"event":"boom","path":"live/x"}"#),
        case(Method::POST, "/v1/hooks/nginx-rtmp/publish", None)
            .body("application/x-www-form-urlencoded", b"call=publish".to_vec()),
        case(Method::POST, "/v1/hooks/nginx-rtmp/publish", None)
            .body("application/x-www-form-urlencoded", b"name=%FF%FE&key=%00".to_vec()),
        case(Method::POST, "/v1/hooks/nginx-rtmp/nope", None)
            .body("application/x-www-form-urlencoded", b"name=x".to_vec()),
        // Every webhook route with the secret: bad bodies, hooks naming no connection or no
        // authorised session, recordings outside the recordings directory.
        case(Method::POST, format!("/v1/hooks/mediamtx/auth?secret={hs}"), None).json("{"),
        case(Method::POST, format!("/v1/hooks/mediamtx/auth?secret={hs}"), None)
            .json(r#"{"action":[]}"#),
        case(Method::POST, format!("/v1/hooks/mediamtx/auth?secret={hs}"), None)
            .json(r#"{"action":"publish","path":"live/../../x","query":"key=a.b"}"#),
        case(Method::POST, format!("/v1/hooks/mediamtx/auth?secret={hs}"), None)
            .json(&format!(r#"{{"action":"read","path":"live/{a_str}"}}"#)),
        case(Method::POST, format!("/v1/hooks/mediamtx/auth?secret={hs}"), None)
            .json(&format!(r#"{{"action":"playback","path":"live/{a_str}"}}"#)),
        case(Method::POST, format!("/v1/hooks/mediamtx/auth?secret={hs}"), None)
            .json(r#"{"action":"api"}"#),
        case(Method::POST, "/v1/hooks/mediamtx/event", None)
            .header("x-framelog-hook-secret", hs)
            .json(r#"{"event":"boom","path":"live/x"}"#),
        case(Method::POST, "/v1/hooks/mediamtx/event", None)
            .header("x-framelog-hook-secret", hs)
            .json(&format!(r#"{{"event":"available","path":"live/{a_str}","source_id":"c-1"}}"#)),
        case(Method::POST, "/v1/hooks/mediamtx/event", None)
            .header("x-framelog-hook-secret", hs)
            .json(&format!(r#"{{"event":"available","path":"live/{a_str}"}}"#)),
        case(Method::POST, "/v1/hooks/mediamtx/event", None)
            .header("x-framelog-hook-secret", hs)
            .json(&format!(r#"{{"event":"unavailable","path":"live/{a_str}"}}"#)),
        case(Method::POST, "/v1/hooks/mediamtx/event", None)
            .header("x-framelog-hook-secret", hs)
            .json(&format!(r#"{{"event":"record_segment_complete","path":"live/{a_str}"}}"#)),
        case(Method::POST, "/v1/hooks/mediamtx/event", Some(hs)).json(&format!(
            r#"{{"event":"record_segment_complete","path":"live/{a_str}","segment_path":"{sk}"}}"#
        )),
        case(Method::POST, "/v1/hooks/mediamtx/event", Some(hs)).json(
            r#"{"event":"record_segment_complete","path":"live/str_nope","segment_path":"/etc/passwd"}"#,
        ),
        case(Method::POST, "/v1/hooks/mediamtx/event", Some(hs)).json(r#"{"event":1}"#),
        case(Method::POST, format!("/v1/hooks/nginx-rtmp/publish?secret={hs}"), None)
            .body(form, b"call=publish".to_vec()),
        case(Method::POST, format!("/v1/hooks/nginx-rtmp/publish?secret={hs}"), None)
            .body(form, format!("name={a_str}&key={a_str}.AAAA&clientid=1").into_bytes()),
        case(Method::POST, format!("/v1/hooks/nginx-rtmp/publish?secret={hs}"), None)
            .body(form, b"name=%FF%FE&key=%00".to_vec()),
        case(Method::POST, format!("/v1/hooks/nginx-rtmp/publish_done?secret={hs}"), None)
            .body(form, format!("name={a_str}").into_bytes()),
        case(Method::POST, format!("/v1/hooks/nginx-rtmp/publish_done?secret={hs}"), None)
            .body(form, format!("name={a_str}&clientid=99").into_bytes()),
        case(Method::POST, format!("/v1/hooks/nginx-rtmp/update?secret={hs}"), None)
            .body(form, format!("name={a_str}&clientid=99").into_bytes()),
        case(Method::POST, format!("/v1/hooks/nginx-rtmp/record_done?secret={hs}"), None)
            .body(form, format!("name={a_str}&clientid=1").into_bytes()),
        case(Method::POST, format!("/v1/hooks/nginx-rtmp/record_done?secret={hs}"), None)
            .body(form, format!("name={a_str}&clientid=1&path={sk}").into_bytes()),
        case(Method::POST, format!("/v1/hooks/nginx-rtmp/record_done?secret={hs}"), None)
            .body(form, b"name=str_nope&clientid=1&path=/etc/passwd".to_vec()),
        case(Method::POST, format!("/v1/hooks/nginx-rtmp/nope?secret={hs}"), None)
            .body(form, b"name=x".to_vec()),
        case(Method::POST, format!("/v1/hooks/nginx-rtmp/record_done?secret={hs}"), None)
            .body(form, b"name=x&path=/etc/passwd".to_vec())
            .header("x-forwarded-for", "203.0.113.9"),
        case(Method::POST, format!("/v1/hooks/mediamtx/auth?secret={hs}"), None)
            .header("forwarded", "for=203.0.113.9")
            .json(r#"{"action":"read","path":"live/x"}"#),
        // ... and without it, or with a wrong one.
        case(Method::POST, "/v1/hooks/nginx-rtmp/record_done", None)
            .body(form, format!("name={a_str}&clientid=1&path={sk}").into_bytes()),
        case(Method::POST, "/v1/hooks/nginx-rtmp/publish_done?secret=wrong", None)
            .body(form, format!("name={a_str}&clientid=1").into_bytes()),
        case(Method::POST, "/v1/hooks/nginx-rtmp/update", Some("wrong"))
            .body(form, format!("name={a_str}&clientid=1").into_bytes()),
        case(Method::POST, "/v1/hooks/mediamtx/event", None)
            .header("x-framelog-hook-secret", "wrong")
            .json(&format!(r#"{{"event":"available","path":"live/{a_str}","source_id":"c"}}"#)),
        // tus protocol errors.
        case(Method::POST, "/v1/tus/", ka).header("upload-length", "10"),
        case(Method::POST, "/v1/tus/", ka)
            .header("tus-resumable", "1.0.0")
            .header("upload-length", "-5"),
        case(Method::POST, "/v1/tus/", ka)
            .header("tus-resumable", "1.0.0")
            .header("upload-length", "5")
            .header("upload-metadata", "filename !!!"),
        case(Method::PATCH, format!("/v1/tus/{a_up}"), ka)
            .header("tus-resumable", "1.0.0")
            .body("text/plain", b"x".to_vec()),
        // Playback.
        case(Method::GET, format!("/hls/not-a-token/{a_vid}/master.m3u8"), None),
        case(
            Method::GET,
            format!("/hls/acme.99999999999.AAAAAAAAAAAAAAAAAAAAAA/{a_vid}/master.m3u8"),
            None,
        ),
        case(Method::GET, format!("/hls/public/{a_vid}/master.m3u8"), None),
        case(Method::GET, format!("/hls/public/{a_vid}/..%2f..%2f..%2fetc%2fpasswd"), None),
        case(Method::GET, format!("/live/bad/{a_str}/index.m3u8"), None),
        case(Method::POST, "/v1/views", None).json("{"),
        case(Method::POST, "/v1/views", None)
            .json(r#"{"token":"x","video_id":"y","kind":"start"}"#),
        case(Method::POST, "/v1/views", None).json(r#"{"token":1}"#),
        case(Method::POST, "/v1/views", None)
            .json(r#"{"token":"x","video_id":"y","kind":"qoe","qoe":{"watch_ms":-1}}"#),
        case(Method::POST, "/v1/views", None)
            .json(r#"{"token":"x","video_id":"y","kind":"qoe","qoe":{"rebuffer_ms":1.5}}"#),
        case(Method::GET, format!("/v1/videos/{a_vid}/qoe"), kb),
        case(Method::GET, "/v1/videos/NOPE/qoe", ka),
        case(Method::GET, "/v1/qoe?from=2026-13-01", ka),
        case(Method::GET, "/v1/qoe?from=2026-12-02&to=2026-01-01", ka),
        case(Method::PUT, format!("/v1/videos/{a_vid}/visibility"), kb).json(r#"{"public":true}"#),
        case(Method::PUT, format!("/v1/videos/{a_vid}/visibility"), ka).json(r#"{"public":"yes"}"#),
        case(Method::GET, format!("/v1/live/{a_str}/viewers"), None),
        case(Method::GET, format!("/v1/live/{a_str}/viewers"), kb),
        // Huge headers: ours (431 JSON) and beyond hyper's own limit (connection closed).
        case(Method::GET, "/v1/stats", ka).header("x-padding", "a".repeat(200 * 1024)),
        case(Method::GET, "/v1/stats", ka).header("x-padding", "a".repeat(2 * 1024 * 1024)),
    ];

    // A fresh connection per case: the server closes a connection whose body it refused
    // unread (413), and a pooled client could race to reuse it.
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let mut failures = Vec::new();
    for c in &cases {
        let mut req = http.request(c.method.clone(), format!("{base}{}", c.path));
        if let Some(k) = &c.key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        for (n, v) in &c.headers {
            req = req.header(*n, v);
        }
        if !c.body.is_empty() {
            req = req.body(c.body.clone());
        }
        let what = format!("{} {}", c.method, &c.path[..c.path.len().min(80)]);
        let res = match req.send().await {
            Ok(r) => r,
            // hyper closes the connection on headers past its own limit: not a 5xx.
            Err(_) if c.headers.iter().any(|(n, v)| *n == "x-padding" && v.len() > 1024 * 1024) => {
                continue;
            }
            Err(e) => {
                failures.push(format!("{what}: request failed: {e:?}"));
                continue;
            }
        };
        let status = res.status().as_u16();
        let body = res.bytes().await.unwrap_or_default();
        if !(400..500).contains(&status) {
            failures.push(format!("{what}: status {status}"));
            continue;
        }
        // Past hyper's own header limit it answers 431 itself, before any handler.
        if status == 431
            && c.headers.iter().any(|(n, v)| *n == "x-padding" && v.len() > 1024 * 1024)
        {
            continue;
        }
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(v)
                if v["error"]["code"].as_str().is_some_and(|s| !s.is_empty())
                    && v["error"]["message"].as_str().is_some() => {}
            _ => failures.push(format!(
                "{what}: {status} without the JSON error shape: {}",
                String::from_utf8_lossy(&body)
            )),
        }
    }
    drop(served);
    assert_eq!(std::fs::read(&secret_key).unwrap(), secret_key_bytes, "no hook touched the secret");
    let logs = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!logs.contains(hs), "the webhook secret reached the logs");
    assert!(!logs.contains("panicked"), "a panic in the logs:\n{logs}");
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
