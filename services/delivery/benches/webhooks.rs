//! `cargo bench -p framelog-delivery --bench webhooks` (`just bench webhooks`).
//!
//! Against a real nats-server and a local receiver (axum, counting, answering 200) in this
//! process: N events published through the event log to one tenant with one endpoint, timed
//! until the receiver has N deliveries (fan-out, work stream, signing, POST), against a plain
//! loop of N HTTP POSTs of the same body from this process with the same concurrency (the
//! delivery service's `--webhook-concurrency`). `BENCH_WEBHOOK_EVENTS` (N, default 5000).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::routing::post;
use framelog_core::service::ServiceContext;
use framelog_delivery::DeliverySettings;
use framelog_events::data::ReadyData;
use framelog_events::{AggregateId, Event, TenantId};
use framelog_tests::{NatsServer, TestApp};
use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;

const CONCURRENCY: usize = 64;

fn ready(i: usize) -> Event {
    Event::new(
        uuid::Uuid::now_v7(),
        time::OffsetDateTime::now_utc(),
        "framelog/bench",
        TenantId::new("acme").unwrap(),
        AggregateId::new(format!("vid_bench{i}")).unwrap(),
        ReadyData::Published {
            renditions: vec!["360p".into(), "720p".into()],
            duration_secs: 60.0,
            poster: "poster.jpg".into(),
            storyboard: "storyboard.vtt".into(),
            audio_only: false,
        },
    )
}

async fn wait_count(count: &AtomicUsize, n: usize, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while count.load(Ordering::Relaxed) < n {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    true
}

#[tokio::main]
async fn main() {
    let n: usize =
        std::env::var("BENCH_WEBHOOK_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(5000);
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut common = framelog_core::CommonSettings::for_test(&nats.url(), dir.path().into());
    common.outbound_allow_private = true;
    let platform =
        framelog_core::Platform::start(common, "bench", Duration::from_secs(10)).await.unwrap();
    let key = platform.tenants.create(&TenantId::new("acme").unwrap()).await.unwrap();

    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let receiver = TestApp::serve(axum::Router::new().route(
        "/hook",
        post(move |_body: axum::body::Bytes| {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::Relaxed);
                "ok"
            }
        }),
    ))
    .await;

    let shutdown = CancellationToken::new();
    let ctx = ServiceContext {
        platform: platform.clone(),
        media: Arc::new(framelog_core::media::FsMediaStore::new(dir.path().join("m")).unwrap()),
        shutdown: shutdown.clone(),
    };
    let settings = DeliverySettings { concurrency: CONCURRENCY, ..Default::default() };
    let handle = framelog_delivery::start(&ctx, settings).await.unwrap();
    let app = TestApp::serve(handle.router).await;
    let r = app
        .http
        .post(app.url("/v1/webhooks"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"url": receiver.url("/hook")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // Ours: publish N events (acks pipelined 256 at a time), until N deliveries arrived.
    let events: Vec<Event> = (0..n).map(ready).collect();
    let body = framelog_delivery::fanout::payload(&events[0]).to_string();
    let started = Instant::now();
    futures::stream::iter(events.iter())
        .for_each_concurrent(256, |e| {
            let p = platform.clone();
            async move {
                p.events.publish(e).await.unwrap();
            }
        })
        .await;
    let published = started.elapsed();
    let mut fanned = Duration::ZERO;
    loop {
        let mut st =
            platform.js.get_stream(framelog_delivery::queue::STREAM_WEBHOOK).await.unwrap();
        if st.info().await.unwrap().state.last_sequence >= n as u64 {
            fanned = started.elapsed();
            break;
        }
        if count.load(Ordering::Relaxed) >= n || started.elapsed() > Duration::from_secs(600) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(wait_count(&count, n, Duration::from_secs(600)).await, "deliveries missing");
    let ours = started.elapsed();
    let ours_rate = n as f64 / ours.as_secs_f64();

    // Baseline: N plain POSTs of a payload from this process, CONCURRENCY in flight.
    count.store(0, Ordering::Relaxed);
    let http = framelog_core::outbound::client(
        framelog_core::outbound::OutboundPolicy { allow_private: true },
        framelog_core::outbound::OutboundTimeouts {
            connect: Duration::from_secs(5),
            total: Some(Duration::from_secs(15)),
            read: Duration::from_secs(15),
        },
    );
    let url = receiver.url("/hook");
    let started = Instant::now();
    futures::stream::iter(0..n)
        .for_each_concurrent(CONCURRENCY, |_| {
            let (http, url, body) = (http.clone(), url.clone(), body.clone());
            async move {
                let r = http.post(url).body(body).send().await.unwrap();
                assert!(r.status().is_success());
            }
        })
        .await;
    let base = started.elapsed();
    let base_rate = n as f64 / base.as_secs_f64();
    shutdown.cancel();

    println!("webhooks: {n} events, one endpoint, {CONCURRENCY} in flight");
    println!(
        "  delivered (publish -> fan-out -> WEBHOOK -> signed POST): {ours:.2?}, {ours_rate:.0}/s (publishing took {published:.2?}, all queued after {fanned:.2?})"
    );
    println!(
        "  plain POST loop:                                          {base:.2?}, {base_rate:.0}/s"
    );
    println!(
        "TABLE|webhook deliveries/s (event published -> receiver)|{ours_rate:.0}/s|{base_rate:.0}/s (plain POST loop)|{:.2}|report",
        ours_rate / base_rate
    );
}
