//! `cargo bench -p framelog-projection --bench projection` (`just bench projection`).
//!
//! In one run against a real nats-server:
//! 1. raw JetStream publish rate of N events (async publish, acks pipelined): the limit;
//! 2. the projection's apply rate of the same N events (goal ≥ 50 % of 1.);
//! 3. rebuild time of R events (goal < 60 s for 1M);
//! 4. publish → SSE latency p50/p99 over K events (goal p99 < 50 ms).
//!
//! Sizes: `BENCH_EVENTS` (N, default 100000), `BENCH_REBUILD_EVENTS` (R, default 1000000),
//! `BENCH_SSE_EVENTS` (K, default 300).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::message::PublishMessage;
use framelog_core::media::FsMediaStore;
use framelog_core::service::ServiceContext;
use framelog_events::data::*;
use framelog_events::{AggregateId, Event, EventData, TenantId};
use framelog_projection::{Outcome, ProjectionSettings, build, rebuild};
use framelog_tests::{NatsServer, TestApp};
use futures::StreamExt;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn ev(tenant: &str, agg: &str, data: impl Into<EventData>) -> Event {
    Event::new(
        uuid::Uuid::now_v7(),
        OffsetDateTime::now_utc(),
        "framelog/bench",
        TenantId::new(tenant).unwrap(),
        AggregateId::new(agg).unwrap(),
        data,
    )
}

fn probe() -> Probe {
    Probe {
        duration_secs: 60.0,
        width: 1920,
        height: 1080,
        rotation: 0,
        fps: 30.0,
        video_codec: "h264".into(),
        audio_codec: Some("aac".into()),
        format: "mp4".into(),
        bit_rate: Some(5_000_000),
    }
}

fn rendition(name: &str, height: u32) -> Rendition {
    Rendition {
        name: name.into(),
        width: height * 16 / 9,
        height,
        fps: 30.0,
        bandwidth: 2_000_000,
        average_bandwidth: 1_800_000,
        codecs: "avc1.64001f,mp4a.40.2".into(),
        bytes: 50_000_000,
    }
}

/// Event `i` of a stream of video stories (8 events per video, 4 tenants) with views mixed in.
fn event(i: usize, tag: &str) -> Event {
    let video = i / 10;
    let tenant = ["acme", "globex", "initech", "umbrella"][video % 4];
    let vid = format!("vid_{tag}{video}");
    let renditions = vec![rendition("360p", 360), rendition("720p", 720)];
    match i % 10 {
        0 => ev(
            tenant,
            &vid,
            UploadData::Initiated {
                upload_id: "u".into(),
                filename: "clip.mp4".into(),
                size: 10_000_000,
                content_type: None,
                protocol: UploadProtocol::Tus,
                title: None,
                external_id: None,
                metadata: Default::default(),
            },
        ),
        1 => ev(
            tenant,
            &vid,
            UploadData::Completed {
                upload_id: "u".into(),
                source: SourceKind::Upload,
                filename: "clip.mp4".into(),
                size: 10_000_000,
                sha256: "ab".repeat(32),
                source_key: format!("sources/{tenant}/{vid}/source"),
                probe: probe(),
                stream_id: None,
            },
        ),
        2 => ev(tenant, &vid, TranscodeData::Requested { source_key: "k".into(), probe: probe() }),
        3 => ev(
            tenant,
            &vid,
            TranscodeData::Started {
                worker: "w1".into(),
                encoder: "libx264".into(),
                attempt: 1,
                profiles: vec!["360p".into(), "720p".into()],
            },
        ),
        4 => ev(
            tenant,
            &vid,
            TranscodeData::RenditionCompleted { rendition: rendition("360p", 360) },
        ),
        5 => ev(tenant, &vid, TranscodeData::Playable { renditions: vec!["360p".into()] }),
        6 => ev(
            tenant,
            &vid,
            TranscodeData::Completed {
                renditions,
                audio: Some(framelog_events::AudioRendition {
                    codecs: "mp4a.40.2".into(),
                    bandwidth: 131_000,
                    average_bandwidth: 128_700,
                    bytes: 965_000,
                    name: None,
                    language: None,
                    channels: None,
                }),
                more_audio: vec![],
                cpu_seconds: 120.0,
                wall_secs: 60.0,
                source_duration_secs: 60.0,
                encoder: "libx264".into(),
            },
        ),
        7 => ev(
            tenant,
            &vid,
            ReadyData::Published {
                renditions: vec!["360p".into(), "720p".into()],
                duration_secs: 60.0,
                poster: "p".into(),
                storyboard: "s".into(),
                audio_only: false,
            },
        ),
        _ => ev(
            tenant,
            &vid,
            ViewData::Counted { viewer: format!("viewer{i}"), window: 0, live: false },
        ),
    }
}

/// Publishes events `from..to` with up to 4096 acks in flight; returns (count, seconds).
async fn publish_raw(
    js: &async_nats::jetstream::Context,
    from: usize,
    to: usize,
    tag: &str,
) -> (usize, f64) {
    let msgs: Vec<(String, PublishMessage)> = (from..to)
        .map(|i| {
            let e = event(i, tag);
            let msg =
                PublishMessage::build().payload(e.to_json().into()).message_id(e.id.to_string());
            (e.nats_subject().to_string(), msg)
        })
        .collect();
    let start = Instant::now();
    let mut inflight: VecDeque<PublishAckFuture> = VecDeque::new();
    for (subject, msg) in msgs {
        if inflight.len() >= 4096 {
            inflight.pop_front().unwrap().await.expect("ack");
        }
        inflight.push_back(js.send_publish(subject, msg).await.expect("publish"));
    }
    for f in inflight {
        f.await.expect("ack");
    }
    (to - from, start.elapsed().as_secs_f64())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let n = env_usize("BENCH_EVENTS", 100_000);
    let r = env_usize("BENCH_REBUILD_EVENTS", 1_000_000).max(n);
    let k = env_usize("BENCH_SSE_EVENTS", 300);
    let nats = NatsServer::start();
    let (platform, dir) = framelog_tests::platform(&nats).await;
    let media = std::sync::Arc::new(FsMediaStore::new(dir.path().join("media")).unwrap());
    let ctx =
        ServiceContext { platform: platform.clone(), media, shutdown: CancellationToken::new() };
    let settings = ProjectionSettings { batch: 1000, ..ProjectionSettings::for_test() };
    let mut rows: Vec<(String, String, String)> = Vec::new();

    // 1. Raw publish rate.
    let (count, secs) = publish_raw(&platform.js, 0, n, "a").await;
    let raw_rate = count as f64 / secs;
    rows.push((
        "raw JetStream publish".into(),
        format!("{count} events in {secs:.2} s"),
        format!("{raw_rate:.0} events/s"),
    ));

    // 2. Apply rate of the same events (both streams, from a fresh store).
    let mut p = build(&ctx, settings.clone()).await.unwrap();
    let start = Instant::now();
    let mut applied = 0;
    for proj in [&mut p.vid, &mut p.views] {
        while let Outcome::Applied { events, .. } =
            proj.process_next(Duration::from_millis(500)).await.unwrap()
        {
            applied += events;
        }
    }
    let secs = start.elapsed().as_secs_f64() - 0.5 * 2.0; // minus the two final idle waits
    let apply_rate = applied as f64 / secs;
    rows.push((
        "projection apply".into(),
        format!("{applied} events in {secs:.2} s"),
        format!(
            "{apply_rate:.0} events/s ({:.0} % of raw; goal >= 50 %)",
            100.0 * apply_rate / raw_rate
        ),
    ));

    // 3. Rebuild of R events.
    if r > n {
        publish_raw(&platform.js, n, r, "a").await;
    }
    let (fresh, _fresh_dir) = framelog_tests::platform(&nats).await;
    let report = rebuild(&platform, &fresh.db).await.unwrap();
    let total = report.vid_events + report.view_events;
    let rebuild_1m = report.seconds * 1e6 / total as f64;
    rows.push((
        "rebuild".into(),
        format!("{total} events in {:.2} s", report.seconds),
        format!(
            "{:.0} events/s; 1M would take {:.1} s (goal < 60 s)",
            total as f64 / report.seconds,
            report.seconds * 1e6 / total as f64
        ),
    ));

    // 4. Publish -> SSE latency.
    let acme = platform.tenants.create(&TenantId::new("acme").unwrap()).await.unwrap();
    let app = TestApp::serve(framelog_projection::router(p.api.clone())).await;
    let res = app.http.get(app.url("/v1/events")).bearer_auth(&acme).send().await.unwrap();
    let mut body = res.bytes_stream();
    let mut buf = String::new();
    let mut lat = Vec::with_capacity(k);
    for i in 0..k {
        let e = ev("acme", &format!("vid_sse{i}"), UploadData::Aborted { upload_id: "u".into() });
        let sent = Instant::now();
        let seq = platform.events.publish(&e).await.unwrap().sequence().unwrap();
        let want = format!("id: {seq}\n");
        while !buf.contains(&want) {
            let chunk = tokio::time::timeout(Duration::from_secs(5), body.next())
                .await
                .expect("SSE event")
                .unwrap()
                .unwrap();
            buf.push_str(&String::from_utf8_lossy(&chunk));
        }
        lat.push(sent.elapsed().as_secs_f64() * 1000.0);
        buf.clear();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    let (p50, p99) = (percentile(&lat, 0.5), percentile(&lat, 0.99));
    rows.push((
        "publish -> SSE".into(),
        format!("{k} events"),
        format!(
            "p50 {:.2} ms, p99 {:.2} ms (goal p99 < 50 ms)",
            percentile(&lat, 0.5),
            percentile(&lat, 0.99)
        ),
    ));

    // One line per measure for `just bench`'s summary table: measure|ours|baseline|ratio|goal.
    println!(
        "TABLE|projection apply rate|{apply_rate:.0} events/s|{raw_rate:.0} events/s (raw JetStream publish)|{:.2}|>= 0.50",
        apply_rate / raw_rate
    );
    println!(
        "TABLE|rebuild of 1M events|{rebuild_1m:.1} s|60 s (goal)|{:.2}|< 60 s",
        rebuild_1m / 60.0
    );
    println!(
        "TABLE|publish -> SSE latency|p50 {p50:.2} ms, p99 {p99:.2} ms|50 ms p99 (goal)|{:.3}|p99 < 50 ms",
        p99 / 50.0
    );
    println!("\n{:<24} {:<34} result", "measure", "work");
    println!("{}", "-".repeat(110));
    for (a, b, c) in rows {
        println!("{a:<24} {b:<34} {c}");
    }
}
