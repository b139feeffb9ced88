//! Scoped API keys against the real `framelog serve` (real nats-server): what each scope may
//! do, `/v1/api-keys`, revocation seen by a second replica within a second, and the
//! `framelog key` CLI through the real binary.

mod common;

use std::time::{Duration, Instant};

use common::*;
use framelog_tests::NatsServer;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Creates a key through `POST /v1/api-keys` with `admin`; returns (id, secret).
async fn mint(base: &str, admin: &str, name: &str, scopes: &[&str]) -> (String, String) {
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/api-keys"))
        .bearer_auth(admin)
        .json(&json!({"name": name, "scopes": scopes}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["name"], name);
    assert!(v["created_at"].is_string());
    assert!(v["id"].as_str().unwrap().starts_with("key_"), "{v}");
    (v["id"].as_str().unwrap().to_owned(), v["key"].as_str().unwrap().to_owned())
}

async fn call(
    base: &str,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(key)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "10");
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn assert_insufficient(what: &str, (status, body): &(u16, Value)) {
    assert_eq!(*status, 403, "{what}: {body}");
    assert_eq!(body["error"]["code"], "insufficient_scope", "{what}: {body}");
}

#[tokio::test]
async fn each_scope_opens_only_its_routes_and_admin_opens_all() {
    let nats = NatsServer::start();
    let served = serve(&nats.url(), &[]);
    let base = served.base.as_str();
    let admin = tenant(&nats.url(), "acme");
    let (_, read) = mint(base, &admin, "dashboard", &["videos:read"]).await;
    let (_, up) = mint(base, &admin, "uploader", &["uploads:write"]).await;

    // The uploader uploads.
    let (s, created) = call(
        base,
        &up,
        Method::POST,
        "/v1/videos/upload",
        Some(json!({"filename": "a.mp4", "size": 10})),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let upload = created["upload_id"].as_str().unwrap().to_owned();
    let video = created["video_id"].as_str().unwrap().to_owned();
    let r = reqwest::Client::new()
        .put(format!("{base}/v1/videos/upload/{upload}/chunk/0"))
        .bearer_auth(&up)
        .body(vec![7u8; 10])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "chunk PUT: {}", r.status());
    let (s, _) = call(base, &up, Method::POST, "/v1/tus/", None).await;
    assert_eq!(s, 201, "tus create with uploads:write");

    // The reader lists and, once the projection has it, shows the video.
    let (s, list) = call(base, &read, Method::GET, "/v1/videos", None).await;
    assert_eq!(s, 200, "{list}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (s, v) = call(base, &read, Method::GET, &format!("/v1/videos/{video}"), None).await;
        if s == 200 {
            break;
        }
        assert_eq!(s, 404, "{v}");
        assert!(Instant::now() < deadline, "video never visible to the reader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Everything else is refused to the reader, naming the scope.
    let chunk = format!("/v1/videos/upload/{upload}/chunk/0");
    let vpath = format!("/v1/videos/{video}");
    let refused = [
        (Method::POST, "/v1/videos/upload", Some(json!({"filename": "b.mp4", "size": 10}))),
        (Method::POST, "/v1/tus/", None),
        (Method::PUT, chunk.as_str(), None),
        (Method::DELETE, vpath.as_str(), None),
        (Method::POST, "/v1/streams", Some(json!({"name": "cam"}))),
        (Method::POST, "/v1/api-keys", Some(json!({"name": "x", "scopes": ["videos:read"]}))),
        (Method::GET, "/v1/api-keys", None),
    ];
    for (m, p, b) in refused {
        let what = format!("videos:read {m} {p}");
        let got = call(base, &read, m, p, b).await;
        assert_insufficient(&what, &got);
    }
    let (_, body) = call(base, &read, Method::DELETE, &vpath, None).await;
    assert!(body["error"]["message"].as_str().unwrap().contains("videos:write"), "{body}");

    // The uploader may not delete; admin may do everything.
    assert_insufficient(
        "uploads:write DELETE video",
        &call(base, &up, Method::DELETE, &vpath, None).await,
    );
    assert_insufficient(
        "uploads:write GET videos",
        &call(base, &up, Method::GET, "/v1/videos", None).await,
    );
    // Admin passes every gate: the video delete reaches the handler (which refuses an upload
    // still in progress, a domain answer), streams are created and deleted, reads answer.
    let (s, b) = call(base, &admin, Method::DELETE, &vpath, None).await;
    assert_eq!((s, b["error"]["code"].clone()), (409, json!("upload_in_progress")), "{b}");
    let (s, b) =
        call(base, &up, Method::DELETE, &format!("/v1/videos/upload/{upload}"), None).await;
    assert!((200..300).contains(&s), "uploads:write abort: {s} {b}");
    let (s, st) =
        call(base, &admin, Method::POST, "/v1/streams", Some(json!({"name": "cam"}))).await;
    assert_eq!(s, 201, "{st}");
    let sid = st["id"].as_str().or(st["stream_id"].as_str()).unwrap().to_owned();
    let (s, b) = call(base, &admin, Method::DELETE, &format!("/v1/streams/{sid}"), None).await;
    assert!((200..300).contains(&s), "admin stream delete: {s} {b}");
    for p in [
        "/v1/videos",
        "/v1/billing/usage",
        "/v1/api-keys",
        "/v1/streams",
        "/v1/admin/projection/digest",
    ] {
        let (s, b) = call(base, &admin, Method::GET, p, None).await;
        assert_eq!(s, 200, "admin GET {p}: {b}");
    }
}

#[tokio::test]
async fn api_keys_are_listed_without_secrets_and_stay_inside_their_tenant() {
    let nats = NatsServer::start();
    let served = serve(&nats.url(), &[]);
    let base = served.base.as_str();
    let acme = tenant(&nats.url(), "acme");
    let globex = tenant(&nats.url(), "globex");
    let (id, secret) = mint(base, &acme, "ci", &["uploads:write", "videos:read"]).await;

    let (s, list) = call(base, &acme, Method::GET, "/v1/api-keys", None).await;
    assert_eq!(s, 200);
    let text = list.to_string();
    assert!(!text.contains(&secret) && !text.contains(&acme), "a secret leaked: {text}");
    assert!(!text.contains("hash") && !text.contains("\"key\""), "{text}");
    let keys = list["api_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "the tenant's first admin key and ci: {text}");
    let ci = keys.iter().find(|k| k["id"] == id.as_str()).unwrap();
    assert_eq!(ci["scopes"], json!(["videos:read", "uploads:write"]));
    assert_eq!(keys.iter().find(|k| k["id"] != id.as_str()).unwrap()["scopes"], json!(["admin"]));

    // Another tenant sees none of it and cannot revoke it.
    let (_, other) = call(base, &globex, Method::GET, "/v1/api-keys", None).await;
    assert!(!other.to_string().contains(&id), "{other}");
    let (s, b) = call(base, &globex, Method::DELETE, &format!("/v1/api-keys/{id}"), None).await;
    assert_eq!((s, b["error"]["code"].clone()), (404, json!("not_found")));
    assert_eq!(call(base, &secret, Method::GET, "/v1/videos", None).await.0, 200);

    // Bad requests answer the JSON error shape; an unknown scope lists the valid ones.
    let (s, b) = call(
        base,
        &acme,
        Method::POST,
        "/v1/api-keys",
        Some(json!({"name": "x", "scopes": ["videos:delete"]})),
    )
    .await;
    assert_eq!((s, b["error"]["code"].clone()), (400, json!("invalid_scope")), "{b}");
    assert!(b["error"]["message"].as_str().unwrap().contains("signing_keys:write"), "{b}");
    let (s, b) =
        call(base, &acme, Method::POST, "/v1/api-keys", Some(json!({"name": "x", "scopes": []})))
            .await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = call(
        base,
        &acme,
        Method::POST,
        "/v1/api-keys",
        Some(json!({"name": "", "scopes": ["admin"]})),
    )
    .await;
    assert_eq!((s, b["error"]["code"].clone()), (400, json!("invalid_api_key")), "{b}");

    // The owner revokes: 204, gone from the list, the key refused, a second revoke 404.
    let path = format!("/v1/api-keys/{id}");
    assert_eq!(call(base, &acme, Method::DELETE, &path, None).await.0, 204);
    assert_eq!(call(base, &secret, Method::GET, "/v1/videos", None).await.0, 401);
    assert_eq!(call(base, &acme, Method::DELETE, &path, None).await.0, 404);
    let (_, list) = call(base, &acme, Method::GET, "/v1/api-keys", None).await;
    assert_eq!(list["api_keys"].as_array().unwrap().len(), 1, "{list}");
}

#[tokio::test]
async fn a_key_revoked_on_one_replica_is_refused_by_another_within_a_second() {
    let nats = NatsServer::start();
    let a = serve(&nats.url(), &[]);
    let b = serve(&nats.url(), &[]);
    let admin = tenant(&nats.url(), "acme");
    let (id, key) = mint(&a.base, &admin, "short-lived", &["videos:read"]).await;
    // B knows the key (and has it in its local cache).
    for _ in 0..3 {
        assert_eq!(call(&b.base, &key, Method::GET, "/v1/videos", None).await.0, 200);
    }
    // Timed from the moment the revoke is sent on A.
    let revoked = Instant::now();
    assert_eq!(
        call(&a.base, &admin, Method::DELETE, &format!("/v1/api-keys/{id}"), None).await.0,
        204
    );
    let answered = revoked.elapsed();
    let http = reqwest::Client::new();
    let mut accepted_after = 0;
    loop {
        let s = http
            .get(format!("{}/v1/videos", b.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status();
        if s == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(s, StatusCode::OK);
        accepted_after += 1;
        assert!(revoked.elapsed() < Duration::from_secs(1), "B still accepts the key after 1 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let latency = revoked.elapsed();
    println!(
        "revocation on A refused by B after {latency:?} (A's DELETE took {answered:?}; \
         B accepted it {accepted_after} times after A answered 204)"
    );
    assert!(latency < Duration::from_secs(1));
    // The KV delete is strongly consistent: once A has answered, B never accepts the key.
    assert_eq!(accepted_after, 0);
}

fn cli(nats: &str, args: &[&str]) -> (bool, String, String) {
    let out = framelog().args(args).args(["--nats-url", nats]).output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[tokio::test]
async fn the_key_cli_creates_lists_and_revokes_and_never_lists_a_secret() {
    let nats = NatsServer::start();
    let served = serve(&nats.url(), &[]);
    let base = served.base.as_str();
    let url = nats.url();
    let _admin = tenant(&url, "acme");

    let (ok, out, err) = cli(
        &url,
        &[
            "key",
            "create",
            "acme",
            "--name",
            "ci",
            "--scope",
            "videos:read",
            "--scope",
            "uploads:write",
        ],
    );
    assert!(ok, "{err}");
    let key = out.lines().last().unwrap().to_owned();
    assert!(key.starts_with("flk_"), "{out}");
    assert_eq!(call(base, &key, Method::GET, "/v1/videos", None).await.0, 200);
    assert_insufficient(
        "cli key delete",
        &call(base, &key, Method::DELETE, "/v1/videos/vid_x", None).await,
    );

    let (ok, out, err) =
        cli(&url, &["key", "create", "acme", "--name", "j", "--scope", "billing:read", "--json"]);
    assert!(ok, "{err}");
    let j: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (j["tenant"].clone(), j["scopes"].clone()),
        (json!("acme"), json!(["billing:read"]))
    );
    let jkey = j["key"].as_str().unwrap().to_owned();

    let (ok, list, err) = cli(&url, &["key", "list", "acme"]);
    assert!(ok, "{err}");
    assert!(!list.contains(&key) && !list.contains(&jkey), "a secret listed: {list}");
    let ci_id =
        list.lines().find(|l| l.contains("\tci\t")).unwrap().split('\t').next().unwrap().to_owned();
    assert!(list.contains("videos:read,uploads:write"), "{list}");
    let (ok, jlist, _) = cli(&url, &["key", "list", "acme", "--json"]);
    assert!(ok && !jlist.contains(&key) && !jlist.contains(&jkey));
    let jl: Value = serde_json::from_str(jlist.trim()).unwrap();
    assert_eq!(jl["api_keys"].as_array().unwrap().len(), 3, "{jl}");

    let (ok, _, err) = cli(&url, &["key", "revoke", "acme", &ci_id]);
    assert!(ok, "{err}");
    assert_eq!(call(base, &key, Method::GET, "/v1/videos", None).await.0, 401);
    let (ok, _, err) = cli(&url, &["key", "revoke", "acme", &ci_id]);
    assert!(!ok && err.contains("no API key"), "{err}");
    let (_, list, _) = cli(&url, &["key", "list", "acme"]);
    assert!(!list.contains(&ci_id), "{list}");

    // A mistyped scope is refused with the list of valid ones.
    let (ok, _, err) =
        cli(&url, &["key", "create", "acme", "--name", "x", "--scope", "video:read"]);
    assert!(!ok && err.contains("valid scopes") && err.contains("live:write"), "{err}");
}

#[tokio::test]
async fn while_nats_is_down_a_cached_key_keeps_its_scopes_and_nothing_more() {
    let mut nats = NatsServer::start();
    let served = serve(&nats.url(), &[]);
    let base = served.base.as_str();
    let admin = tenant(&nats.url(), "acme");
    let (_, read) = mint(base, &admin, "dashboard", &["videos:read"]).await;
    assert_eq!(call(base, &read, Method::GET, "/v1/videos", None).await.0, 200);

    nats.stop();
    // Wait until the server notices: a key it never saw cannot be resolved (503).
    let never_seen = "flk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (s, b) = call(base, never_seen, Method::GET, "/v1/videos", None).await;
        if s == 503 {
            break;
        }
        assert_eq!(s, 401, "{b}");
        assert!(Instant::now() < deadline, "the outage was never noticed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The cached key still reads, and still may not upload.
    assert_eq!(call(base, &read, Method::GET, "/v1/videos", None).await.0, 200);
    let got = call(
        base,
        &read,
        Method::POST,
        "/v1/videos/upload",
        Some(json!({"filename": "a.mp4", "size": 10})),
    )
    .await;
    assert_insufficient("cached videos:read key during the outage", &got);
    nats.restart();
}
