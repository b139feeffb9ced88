//! Direct uploads against real NATS and real ffprobe: the token creates exactly its one video
//! (tus and REST), once, before it expires, within `max_size`, only from its CORS origin, and
//! reaches nothing else.

mod common;

use common::*;
use framelog_tests::media::{VideoSpec, generate_video};
use reqwest::Method;
use serde_json::{Value, json};

async fn clip(env: &Env) -> Vec<u8> {
    let p = generate_video(env.work.path(), "clip.mp4", &VideoSpec::new(320, 240, 2.0));
    std::fs::read(p).unwrap()
}

/// `POST /v1/uploads/direct` as tenant `key`; asserts 201.
async fn direct(env: &Env, key: &str, body: Value) -> Value {
    let res = env
        .app
        .http
        .post(env.app.url("/v1/uploads/direct"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

/// A request to a direct URL (absolute) with the tus version header.
fn tus(env: &Env, method: Method, url: &str) -> reqwest::RequestBuilder {
    env.app.http.request(method, url).header("tus-resumable", "1.0.0")
}

/// tus create-with-upload of the whole `bytes` in one request.
async fn tus_upload(env: &Env, url: &str, bytes: &[u8]) -> reqwest::Response {
    tus(env, Method::POST, url)
        .header("upload-length", bytes.len().to_string())
        .header("upload-metadata", "filename Y2xpcC5tcDQ=")
        .header("content-type", "application/offset+octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap()
}

async fn show(env: &Env, key: &str, id: &str) -> reqwest::Response {
    let url = env.app.url(&format!("/v1/uploads/direct/{id}"));
    env.app.http.get(url).bearer_auth(key).send().await.unwrap()
}

#[tokio::test]
async fn a_direct_url_creates_exactly_its_one_video_with_its_title_and_only_once() {
    let env = env().await;
    let bytes = clip(&env).await;
    let d = direct(
        &env,
        &env.key_a,
        json!({"title": "Holiday", "external_id": "ext-42", "metadata": {"k": "v"}}),
    )
    .await;
    let url = d["url"].as_str().unwrap();
    assert!(url.starts_with(&env.app.url("/v1/direct/fdu_")), "{url}");
    assert_eq!(d["status"], "waiting");
    let video = d["video_id"].as_str().unwrap();

    // Created in two steps, so the Location and HEAD under the direct URL are exercised.
    let res = tus(&env, Method::POST, url)
        .header("upload-length", bytes.len().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["framelog-video-id"], video);
    let loc = res.headers()["location"].to_str().unwrap().to_owned();
    let token = url.rsplit('/').next().unwrap();
    assert!(loc.starts_with(&format!("/v1/direct/{token}/up_")), "{loc}");
    let at = env.app.url(&loc);
    let half = bytes.len() / 2;
    let res = tus(&env, Method::PATCH, &at)
        .header("upload-offset", "0")
        .header("content-type", "application/offset+octet-stream")
        .body(bytes[..half].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = tus(&env, Method::HEAD, &at).send().await.unwrap();
    assert_eq!(res.headers()["upload-offset"], half.to_string().as_str());
    assert_eq!(
        show(&env, &env.key_a, d["id"].as_str().unwrap()).await.json::<Value>().await.unwrap()["status"],
        "uploading"
    );
    let res = tus(&env, Method::PATCH, &at)
        .header("upload-offset", half.to_string())
        .header("content-type", "application/offset+octet-stream")
        .body(bytes[half..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);

    // A second create through the same token is refused, and no second video appears.
    assert_eq!(code(tus_upload(&env, url, &bytes).await).await, (409, "direct_upload_used".into()));
    let evs = events(&env).await;
    let initiated: Vec<_> = evs.iter().filter(|e| e.data.phase() == "initiated").collect();
    assert_eq!(initiated.len(), 1, "exactly one upload was opened");
    assert_eq!(initiated[0].subject.as_str(), video);
    let envelope: Value = serde_json::from_slice(&initiated[0].to_json()).unwrap();
    let data = &envelope["data"];
    assert_eq!(
        (data["title"].as_str(), data["external_id"].as_str()),
        (Some("Holiday"), Some("ext-42"))
    );
    assert_eq!(data["metadata"]["k"], "v");
    let completed: Vec<_> = evs.iter().filter(|e| e.data.phase() == "completed").collect();
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].subject.as_str(), video);
    let shown: Value =
        show(&env, &env.key_a, d["id"].as_str().unwrap()).await.json().await.unwrap();
    assert_eq!(shown["status"], "asset_created");
    assert!(shown.get("url").is_none(), "the token is not stored, so never shown again");
}

#[tokio::test]
async fn the_token_is_not_an_api_key_and_reaches_no_other_upload() {
    let env = env().await;
    let d = direct(&env, &env.key_a, json!({})).await;
    let token = d["url"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    let video = d["video_id"].as_str().unwrap();
    let del = env.app.http.delete(env.app.url(&format!("/v1/videos/{video}"))).bearer_auth(&token);
    assert_eq!(del.send().await.unwrap().status(), 401);
    let make =
        env.app.http.post(env.app.url("/v1/uploads/direct")).bearer_auth(&token).json(&json!({}));
    assert_eq!(make.send().await.unwrap().status(), 401);
    // The tenant's own upload opened with its key is not reachable through the token.
    let other = open(&env, &env.key_a, "x.mp4", &[0u8; 10]).await;
    let at = env.app.url(&format!("/v1/direct/{token}/{}", other["upload_id"].as_str().unwrap()));
    assert_eq!(tus(&env, Method::HEAD, &at).send().await.unwrap().status(), 404);
    let at =
        env.app.url(&format!("/v1/direct/{token}/rest/{}", other["upload_id"].as_str().unwrap()));
    assert_eq!(code(env.app.http.get(at).send().await.unwrap()).await, (404, "not_found".into()));
    // A made-up token of the right shape, and a wrong shape.
    let fake = format!("fdu_{}", "A".repeat(43));
    for t in [fake.as_str(), "nope"] {
        let res = tus(&env, Method::POST, &env.app.url(&format!("/v1/direct/{t}")))
            .header("upload-length", "10")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404);
    }
    // Another tenant's direct upload id is not found; its owner sees it.
    let id = d["id"].as_str().unwrap();
    assert_eq!(code(show(&env, &env.key_b, id).await).await, (404, "not_found".into()));
    let del = env
        .app
        .http
        .delete(env.app.url(&format!("/v1/uploads/direct/{id}")))
        .bearer_auth(&env.key_b);
    assert_eq!(del.send().await.unwrap().status(), 404);
    assert_eq!(show(&env, &env.key_a, id).await.status(), 200);
}

#[tokio::test]
async fn the_rest_protocol_works_through_the_token_chunks_then_complete() {
    let env = env().await;
    let bytes = clip(&env).await;
    let d = direct(&env, &env.key_a, json!({"max_size": bytes.len()})).await;
    let url = d["url"].as_str().unwrap();
    let res = env
        .app
        .http
        .post(format!("{url}/rest"))
        .json(&json!({"filename": "clip.mp4", "size": bytes.len()}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let up: Value = res.json().await.unwrap();
    assert_eq!(up["video_id"], d["video_id"]);
    let id = up["upload_id"].as_str().unwrap();
    let chunk = up["chunk_size"].as_u64().unwrap() as usize;
    assert!(bytes.len() > chunk, "the test needs several chunks");
    for (n, c) in bytes.chunks(chunk).enumerate() {
        let res = env
            .app
            .http
            .put(format!("{url}/rest/{id}/chunk/{n}"))
            .body(c.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "chunk {n}");
    }
    let st: Value =
        env.app.http.get(format!("{url}/rest/{id}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(st["missing"], json!([]));
    let res = env.app.http.post(format!("{url}/rest/{id}/complete")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let done: Value = res.json().await.unwrap();
    assert_eq!(done["video_id"], d["video_id"]);
    assert_eq!(done["sha256"], sha256_hex(&bytes));
}

#[tokio::test]
async fn max_size_is_enforced_on_the_declared_length_of_both_protocols() {
    let env = env().await;
    let d = direct(&env, &env.key_a, json!({"max_size": 1000})).await;
    let url = d["url"].as_str().unwrap();
    let res = tus(&env, Method::POST, url).header("upload-length", "1001").send().await.unwrap();
    assert_eq!(code(res).await, (413, "upload_too_large".into()));
    let res =
        env.app.http.post(format!("{url}/rest")).json(&json!({"filename": "a", "size": 1001}));
    assert_eq!(code(res.send().await.unwrap()).await, (413, "upload_too_large".into()));
    // A refused size does not use the URL up.
    let res = tus(&env, Method::POST, url).header("upload-length", "1000").send().await.unwrap();
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn an_expired_or_cancelled_url_answers_410() {
    let env = env().await;
    let d = direct(&env, &env.key_a, json!({"expires_in": 1})).await;
    let expires = time::OffsetDateTime::parse(
        d["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    // Wait until the recorded expiry has passed (driven by the record's own time).
    let left = expires - time::OffsetDateTime::now_utc();
    if left.is_positive() {
        tokio::time::sleep(left.unsigned_abs() + std::time::Duration::from_millis(50)).await;
    }
    let res = tus(&env, Method::POST, d["url"].as_str().unwrap()).header("upload-length", "10");
    assert_eq!(code(res.send().await.unwrap()).await, (410, "direct_upload_expired".into()));
    let shown: Value =
        show(&env, &env.key_a, d["id"].as_str().unwrap()).await.json().await.unwrap();
    assert_eq!(shown["status"], "expired");

    let d = direct(&env, &env.key_a, json!({})).await;
    let id = d["id"].as_str().unwrap();
    let del = env
        .app
        .http
        .delete(env.app.url(&format!("/v1/uploads/direct/{id}")))
        .bearer_auth(&env.key_a);
    assert_eq!(del.send().await.unwrap().status(), 204);
    let res = tus(&env, Method::POST, d["url"].as_str().unwrap()).header("upload-length", "10");
    assert_eq!(code(res.send().await.unwrap()).await, (410, "direct_upload_cancelled".into()));
}

#[tokio::test]
async fn cors_headers_and_preflights_answer_only_the_records_origin() {
    let env = env().await;
    let d = direct(&env, &env.key_a, json!({"cors_origin": "https://app.example"})).await;
    let url = d["url"].as_str().unwrap();
    let preflight = |origin: &'static str| {
        env.app
            .http
            .request(Method::OPTIONS, url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "tus-resumable, upload-length")
            .send()
    };
    let ok = preflight("https://app.example").await.unwrap();
    assert_eq!(ok.headers()["access-control-allow-origin"], "https://app.example");
    let allow = ok.headers()["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(allow.contains("upload-length") && allow.contains("tus-resumable"), "{allow}");
    let evil = preflight("https://evil.example").await.unwrap();
    assert!(evil.headers().get("access-control-allow-origin").is_none());

    let res = tus(&env, Method::POST, url)
        .header("origin", "https://app.example")
        .header("upload-length", "10")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let expose = res.headers()["access-control-expose-headers"].to_str().unwrap();
    assert!(expose.contains("Location") && expose.contains("Upload-Offset"), "{expose}");

    // No cors_origin: no CORS headers at all.
    let plain = direct(&env, &env.key_a, json!({})).await;
    let res = env
        .app
        .http
        .request(Method::OPTIONS, plain["url"].as_str().unwrap())
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn bad_create_requests_answer_422_and_bad_json_the_json_error_shape() {
    let env = env().await;
    let post = |body: &'static str| {
        env.app
            .http
            .post(env.app.url("/v1/uploads/direct"))
            .bearer_auth(&env.key_a)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_eq!(code(post(r#"{"expires_in": 604801}"#).await.unwrap()).await.0, 422);
    assert_eq!(code(post(r#"{"cors_origin": "*"}"#).await.unwrap()).await.0, 422);
    assert_eq!(code(post(r#"{"max_size": 0}"#).await.unwrap()).await.0, 422);
    assert_eq!(code(post("{not json").await.unwrap()).await.0, 400);
    let anon = env.app.http.post(env.app.url("/v1/uploads/direct")).json(&json!({}));
    assert_eq!(anon.send().await.unwrap().status(), 401);
}
