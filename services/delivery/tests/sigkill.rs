//! A delivering process SIGKILLed while an endpoint is in back-off loses nothing: the real
//! `framelog serve --only delivery` binary as a child process, killed after a failed attempt
//! and started again; the event arrives once more, verified by `standardwebhooks`, under the
//! same `webhook-id`.
//!
//! Needs the `framelog` binary built (`cargo build -p framelog`).

mod support;

use std::time::Duration;

use framelog_events::TenantId;
use framelog_tests::NatsServer;
use framelog_tests::process::FramelogProcess;
use reqwest::Method;
use serde_json::json;
use support::{Receiver, call, publish, ready, wait_attempts};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn args() -> Vec<String> {
    // Scale 0.6: the first back-off is 3 s (± 10 %), long enough to kill and restart in.
    ["--only", "delivery", "--outbound-allow-private", "--webhook-retry-scale", "0.6"]
        .map(String::from)
        .to_vec()
}

#[tokio::test]
async fn a_delivery_in_back_off_survives_a_sigkill_of_the_delivering_process() {
    let nats = NatsServer::start();
    let (platform, _dir) = framelog_tests::platform(&nats).await;
    let key = platform.tenants.create(&TenantId::new("acme").unwrap()).await.unwrap();
    let rx = Receiver::start();
    let http = framelog_tests::app::http_client();

    let mut first = FramelogProcess::serve(&nats.url(), &args()).await;
    let (s, v) = call(
        &http,
        Method::POST,
        &first.url("/v1/webhooks"),
        &key,
        Some(json!({"url": rx.url("/hook")})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    rx.config("/hook", &[v["secret"].as_str().unwrap()], &[500]).await;

    let event = ready("acme");
    publish(&platform, &event).await;
    // The first attempt failed and the delivery is in back-off ...
    let log = wait_attempts(&http, first.base(), &key, &id, 20, |a| a.len() == 1).await;
    assert_eq!(log[0]["status"], "failed");
    let due = OffsetDateTime::parse(log[0]["next_retry_at"].as_str().unwrap(), &Rfc3339).unwrap();
    // ... when the process dies without any chance to clean up.
    first.kill();
    assert!(OffsetDateTime::now_utc() < due, "killed during the back-off");
    assert_eq!(rx.at("/hook").await.len(), 1);

    let second = FramelogProcess::serve(&nats.url(), &args()).await;
    let got = rx.wait_for("/hook", 2, 30).await;
    assert_eq!(got[1]["answered"], 200);
    assert!(got.iter().all(|d| d["verified"] == true), "{got:#?}");
    assert_eq!(got[0]["headers"]["webhook-id"], got[1]["headers"]["webhook-id"]);
    let body: serde_json::Value = serde_json::from_str(got[1]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["id"], event.id.to_string());

    let log = wait_attempts(&http, second.base(), &key, &id, 10, |a| a.len() == 2).await;
    assert_eq!(
        (log[1]["attempt"].as_u64(), log[1]["status"].as_str()),
        (Some(2), Some("succeeded"))
    );
    // Delivered once: nothing more arrives.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rx.at("/hook").await.len(), 2);
}
