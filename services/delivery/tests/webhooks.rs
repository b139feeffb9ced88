//! Webhooks end to end in one process: a real nats-server, the delivery service, events
//! published through the real event log, and a Python receiver that verifies every delivery
//! with the third-party `standardwebhooks` package.

mod support;

use std::sync::Arc;
use std::time::Duration;

use framelog_core::service::ServiceContext;
use framelog_delivery::DeliverySettings;
use framelog_events::TenantId;
use framelog_tests::{NatsServer, TestApp};
use reqwest::Method;
use serde_json::{Value, json};
use support::{Receiver, aborted, call, publish, ready, wait_attempts};
use tokio_util::sync::CancellationToken;

struct Env {
    app: TestApp,
    /// The same routes with the default address policy (private targets refused).
    strict: TestApp,
    platform: framelog_core::Platform,
    key: String,
    other_key: String,
    rx: Receiver,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
    _nats: NatsServer,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Retry delays shrunk 500×: 10 ms, 600 ms, 3.6 s ...
const SCALE: f64 = 0.002;

async fn env() -> Env {
    env_scaled(SCALE).await
}

async fn env_scaled(scale: f64) -> Env {
    let nats = NatsServer::start();
    let dir = tempfile::Builder::new().prefix("framelog-delivery-").tempdir().unwrap();
    let mut settings =
        framelog_core::CommonSettings::for_test(&nats.url(), dir.path().to_path_buf());
    settings.outbound_allow_private = true; // the receiver is on loopback
    let platform =
        framelog_core::Platform::start(settings, "delivery-test", Duration::from_secs(10))
            .await
            .unwrap();
    let key = platform.tenants.create(&TenantId::new("acme").unwrap()).await.unwrap();
    let other_key = platform.tenants.create(&TenantId::new("globex").unwrap()).await.unwrap();
    let shutdown = CancellationToken::new();
    let ctx = ServiceContext {
        platform: platform.clone(),
        media: Arc::new(framelog_core::media::FsMediaStore::new(dir.path().join("media")).unwrap()),
        shutdown: shutdown.clone(),
    };
    let settings = DeliverySettings { retry_scale: scale, ..Default::default() };
    let handle = framelog_delivery::start(&ctx, settings.clone()).await.unwrap();
    let app = TestApp::serve(handle.router).await;
    let mut strict_state = framelog_delivery::state(&ctx, settings).await.unwrap();
    strict_state.policy = framelog_core::outbound::OutboundPolicy::default();
    let strict = TestApp::serve(framelog_delivery::router(strict_state)).await;
    Env {
        app,
        strict,
        platform,
        key,
        other_key,
        rx: Receiver::start(),
        shutdown,
        _dir: dir,
        _nats: nats,
    }
}

impl Env {
    /// Creates an endpoint on the receiver's `path`; returns (id, secret).
    async fn endpoint(&self, path: &str, types: &[&str], plan: &[u16]) -> (String, String) {
        let body = json!({"url": self.rx.url(path), "event_types": types, "description": path});
        let (s, v) = call(
            &self.app.http,
            Method::POST,
            &self.app.url("/v1/webhooks"),
            &self.key,
            Some(body),
        )
        .await;
        assert_eq!(s, 201, "{v}");
        let secret = v["secret"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("whsec_"));
        self.rx.config(path, &[&secret], plan).await;
        (v["id"].as_str().unwrap().to_owned(), secret)
    }

    async fn get(&self, id: &str) -> Value {
        let (s, v) = call(
            &self.app.http,
            Method::GET,
            &self.app.url(&format!("/v1/webhooks/{id}")),
            &self.key,
            None,
        )
        .await;
        assert_eq!(s, 200, "{v}");
        v
    }
}

fn schema() -> jsonschema::Validator {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/webhooks/payload.v1.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

#[tokio::test]
async fn every_delivery_verifies_with_standardwebhooks_which_rejects_tampering_staleness_and_a_wrong_secret()
 {
    let env = env().await;
    let (_, secret) = env.endpoint("/all", &[], &[]).await;
    let event = ready("acme");
    publish(&env.platform, &event).await;

    let got = env.rx.wait_for("/all", 1, 20).await;
    let d = &got[0];
    assert_eq!(d["verified"], true, "{d:#}");
    let body: Value = serde_json::from_str(d["body"].as_str().unwrap()).unwrap();
    assert!(schema().is_valid(&body), "payload matches schemas/webhooks/payload.v1.json: {body:#}");
    assert_eq!(body["type"], "VID_READY");
    assert_eq!(body["phase"], "published");
    assert_eq!(body["subject"], event.subject.as_str());
    assert_eq!(body["data"]["renditions"], json!(["360p"]));
    assert_eq!(d["headers"]["content-type"], "application/json");

    // The package rejects the same delivery with one thing changed.
    let raw = d["body"].as_str().unwrap();
    let headers = &d["headers"];
    assert_eq!(env.rx.verify(&secret, raw, headers).await, (true, String::new()));
    let tampered = raw.replace("360p", "1080p");
    let (ok, err) = env.rx.verify(&secret, &tampered, headers).await;
    assert!(!ok && err.contains("No matching signature"), "tampered body: {err}");
    let wrong = framelog_delivery::sign::new_secret();
    let (ok, err) = env.rx.verify(&wrong, raw, headers).await;
    assert!(!ok && err.contains("No matching signature"), "wrong secret: {err}");
    // Correctly signed, but six minutes old.
    let id = headers["webhook-id"].as_str().unwrap();
    let old = time::OffsetDateTime::now_utc().unix_timestamp() - 360;
    let stale = json!({"webhook-id": id, "webhook-timestamp": old.to_string(),
        "webhook-signature": framelog_delivery::sign::header(&[&secret], id, old, raw.as_bytes())});
    let (ok, err) = env.rx.verify(&secret, raw, &stale).await;
    assert!(!ok && err.contains("too old"), "stale timestamp: {err}");
}

#[tokio::test]
async fn a_receiver_failing_three_times_gets_the_event_on_the_fourth_try_with_the_same_webhook_id()
{
    let env = env().await;
    let (id, _) = env.endpoint("/flaky", &[], &[500, 500, 500]).await;
    publish(&env.platform, &ready("acme")).await;

    let got = env.rx.wait_for("/flaky", 4, 30).await;
    let answered: Vec<u64> = got.iter().map(|d| d["answered"].as_u64().unwrap()).collect();
    assert_eq!(answered, [500, 500, 500, 200]);
    assert!(got.iter().all(|d| d["verified"] == true), "{got:#?}");
    let ids: Vec<&Value> = got.iter().map(|d| &d["headers"]["webhook-id"]).collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "one webhook-id across retries: {ids:?}");
    assert_eq!(got.iter().map(|d| &d["body"]).collect::<std::collections::HashSet<_>>().len(), 1);

    // The log shows every attempt, with status, response code and latency.
    let log =
        wait_attempts(&env.app.http, &env.app.url(""), &env.key, &id, 10, |a| a.len() == 4).await;
    let seen: Vec<(u64, &str, u64)> = log
        .iter()
        .map(|a| {
            (
                a["attempt"].as_u64().unwrap(),
                a["status"].as_str().unwrap(),
                a["response_status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [(1, "failed", 500), (2, "failed", 500), (3, "failed", 500), (4, "succeeded", 200)]
    );
    assert!(log.iter().all(|a| a["latency_ms"].is_u64() && a["webhook_id"] == *ids[0]));
    assert!(log[..3].iter().all(|a| a["next_retry_at"].is_string()));
    assert!(log[3]["next_retry_at"].is_null());
    // The back-off grows: the third wait (3.6 s scaled) is longer than the first (10 ms).
    let at = |i: usize| {
        time::OffsetDateTime::parse(
            log[i]["at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    assert!(at(3) - at(2) > at(1) - at(0), "{log:#?}");
}

#[tokio::test]
async fn an_endpoint_filtered_to_vid_ready_gets_only_those() {
    let env = env().await;
    env.endpoint("/ready-only", &["VID_READY"], &[]).await;
    env.endpoint("/everything", &[], &[]).await;
    let (a, r, b) = (aborted("acme"), ready("acme"), aborted("acme"));
    for e in [&a, &r, &b] {
        publish(&env.platform, e).await;
    }
    let all = env.rx.wait_for("/everything", 3, 20).await;
    let only = env.rx.wait_for("/ready-only", 1, 20).await;
    // The fan-out of each event queues both endpoints at once; once /everything has the last
    // event, anything for /ready-only has been queued as well. Let the queue drain.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let only = if env.rx.at("/ready-only").await.len() > only.len() {
        env.rx.at("/ready-only").await
    } else {
        only
    };
    assert_eq!(all.len(), 3);
    assert_eq!(only.len(), 1, "{only:#?}");
    let body: Value = serde_json::from_str(only[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        (body["type"].as_str(), body["id"].as_str()),
        (Some("VID_READY"), Some(r.id.to_string().as_str()))
    );
}

#[tokio::test]
async fn a_410_disables_the_endpoint_and_nothing_more_is_sent_to_it() {
    let env = env().await;
    let (gone, _) = env.endpoint("/gone", &[], &[410]).await;
    env.endpoint("/alive", &[], &[]).await;
    publish(&env.platform, &ready("acme")).await;
    env.rx.wait_for("/gone", 1, 20).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while env.get(&gone).await["enabled"] == true {
        assert!(std::time::Instant::now() < deadline, "not disabled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let e = env.get(&gone).await;
    assert_eq!(e["disabled_reason"], "gone");
    publish(&env.platform, &ready("acme")).await;
    env.rx.wait_for("/alive", 2, 20).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.rx.at("/gone").await.len(), 1, "a disabled endpoint gets nothing");
    let log =
        wait_attempts(&env.app.http, &env.app.url(""), &env.key, &gone, 5, |a| !a.is_empty()).await;
    assert_eq!(
        (log[0]["status"].as_str(), log[0]["response_status"].as_u64()),
        (Some("gone"), Some(410))
    );
}

#[tokio::test]
async fn after_a_rotation_the_old_and_the_new_secret_both_verify_during_the_overlap() {
    let env = env().await;
    let (id, old) = env.endpoint("/rot", &[], &[]).await;
    let url = env.app.url(&format!("/v1/webhooks/{id}/secret/rotate?overlap_secs=3600"));
    let (s, v) = call(&env.app.http, Method::POST, &url, &env.key, None).await;
    assert_eq!(s, 200, "{v}");
    let new = v["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    env.rx.config("/rot", &[&old, &new], &[]).await;
    publish(&env.platform, &ready("acme")).await;
    let got = env.rx.wait_for("/rot", 1, 20).await;
    assert_eq!(got[0]["verified_by"], json!([0, 1]), "each secret verifies alone: {:#}", got[0]);
    assert_eq!(got[0]["headers"]["webhook-signature"].as_str().unwrap().split(' ').count(), 2);
    // With no overlap, only the newest secret signs.
    let url = env.app.url(&format!("/v1/webhooks/{id}/secret/rotate?overlap_secs=0"));
    let (_, v) = call(&env.app.http, Method::POST, &url, &env.key, None).await;
    let newest = v["secret"].as_str().unwrap().to_owned();
    env.rx.config("/rot", &[&old, &new, &newest], &[]).await;
    publish(&env.platform, &ready("acme")).await;
    let got = env.rx.wait_for("/rot", 2, 20).await;
    assert_eq!(got[1]["verified_by"], json!([2]), "{:#}", got[1]);
}

#[tokio::test]
async fn replay_sends_past_events_again_under_their_webhook_id() {
    let env = env().await;
    let since = time::OffsetDateTime::now_utc() - time::Duration::seconds(5);
    let (id, _) = env.endpoint("/replay", &["VID_READY"], &[]).await;
    publish(&env.platform, &aborted("acme")).await;
    publish(&env.platform, &ready("acme")).await;
    let first = env.rx.wait_for("/replay", 1, 20).await;
    let since = since.format(&time::format_description::well_known::Rfc3339).unwrap();
    let url = env.app.url(&format!("/v1/webhooks/{id}/replay?since={}", since.replace('+', "%2B")));
    let (s, v) = call(&env.app.http, Method::POST, &url, &env.key, None).await;
    assert_eq!((s, &v["queued"]), (202, &json!(1)), "{v}");
    let got = env.rx.wait_for("/replay", 2, 20).await;
    assert_eq!(got[1]["headers"]["webhook-id"], first[0]["headers"]["webhook-id"]);
    assert_eq!(got[1]["verified"], true);
    let (s, v) = call(
        &env.app.http,
        Method::POST,
        &env.app.url(&format!("/v1/webhooks/{id}/replay?since=yesterday")),
        &env.key,
        None,
    )
    .await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("invalid_since")));
}

#[tokio::test]
async fn a_loopback_url_is_refused_unless_private_targets_are_allowed() {
    let env = env().await;
    for url in
        ["http://127.0.0.1:9/hook", "http://localhost/hook", "http://[::1]/x", "http://10.0.0.1/x"]
    {
        let (s, v) = call(
            &env.strict.http,
            Method::POST,
            &env.strict.url("/v1/webhooks"),
            &env.key,
            Some(json!({"url": url})),
        )
        .await;
        assert_eq!((s, v["error"]["code"].as_str()), (400, Some("url_not_allowed")), "{url}: {v}");
    }
    let (s, v) = call(
        &env.strict.http,
        Method::POST,
        &env.strict.url("/v1/webhooks"),
        &env.key,
        Some(json!({"url": "ftp://example.com/"})),
    )
    .await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("invalid_url")));
    let (s, _) = call(
        &env.strict.http,
        Method::POST,
        &env.strict.url("/v1/webhooks"),
        &env.key,
        Some(json!({"url": "https://example.com/hook"})),
    )
    .await;
    assert_eq!(s, 201, "a public URL is accepted");
    let (s, v) = call(
        &env.app.http,
        Method::POST,
        &env.app.url("/v1/webhooks"),
        &env.key,
        Some(json!({"url": "https://example.com/", "event_types": ["VID_NOPE"]})),
    )
    .await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("invalid_event_types")));
    let r = env
        .app
        .http
        .post(env.app.url("/v1/webhooks"))
        .bearer_auth(&env.key)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "invalid_json");
}

#[tokio::test]
async fn another_tenants_endpoint_id_answers_404_on_every_route() {
    let env = env().await;
    let (id, _) = env.endpoint("/mine", &[], &[]).await;
    let base = env.app.url(&format!("/v1/webhooks/{id}"));
    let routes = [
        (Method::GET, base.clone(), None),
        (Method::PATCH, base.clone(), Some(json!({"enabled": false}))),
        (Method::DELETE, base.clone(), None),
        (Method::GET, format!("{base}/attempts"), None),
        (Method::POST, format!("{base}/secret/rotate"), None),
        (Method::POST, format!("{base}/replay?since=2026-01-01T00:00:00Z"), None),
        (Method::POST, format!("{base}/test"), None),
    ];
    for (m, url, body) in routes {
        let (s, v) = call(&env.app.http, m.clone(), &url, &env.other_key, body).await;
        assert_eq!((s, v["error"]["code"].as_str()), (404, Some("not_found")), "{m} {url}");
    }
    let (s, v) =
        call(&env.app.http, Method::GET, &env.app.url("/v1/webhooks"), &env.other_key, None).await;
    assert_eq!((s, v["endpoints"].as_array().map(Vec::len)), (200, Some(0)));
    // The owner still has it, enabled, and a test delivery reaches the receiver.
    assert_eq!(env.get(&id).await["enabled"], true);
    let (s, v) = call(&env.app.http, Method::POST, &format!("{base}/test"), &env.key, None).await;
    assert_eq!(s, 202, "{v}");
    let got = env.rx.wait_for("/mine", 1, 20).await;
    assert_eq!(got[0]["verified"], true);
    assert_eq!(got[0]["headers"]["webhook-id"], v["webhook_id"]);
}

#[tokio::test]
async fn an_endpoint_failing_for_the_whole_retry_window_is_disabled_after_the_schedule_runs_out() {
    // Scale 1e-5: the ~5-day window is 4.3 s and the spec's steps 50 µs ... 360 ms.
    let env = env_scaled(0.000_01).await;
    let (id, _) = env.endpoint("/down", &[], &[500; 40]).await;
    publish(&env.platform, &ready("acme")).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while env.get(&id).await["enabled"] == true {
        assert!(std::time::Instant::now() < deadline, "never disabled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(env.get(&id).await["disabled_reason"], "failing");
    let log = wait_attempts(&env.app.http, &env.app.url(""), &env.key, &id, 5, |a| {
        a.last().is_some_and(|l| l["next_retry_at"].is_null())
    })
    .await;
    // The whole schedule was walked (17 attempts at the spec's steps; jitter may shift one).
    assert!((15..=19).contains(&log.len()), "{} attempts", log.len());
    assert!(log.iter().all(|a| a["status"] == "failed"));
    assert_eq!(env.rx.at("/down").await.len(), log.len(), "one request per logged attempt");
}
