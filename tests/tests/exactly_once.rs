//! Facts stored once forever, and an outbox that never jams, against a real nats-server with
//! the duplicate window shrunk to 1 s.

use std::time::Duration;

use framelog_core::eventlog::Published;
use framelog_core::nats::{STREAM_VID, STREAM_VIEW};
use framelog_events::{AggregateId, Event, Kind, TenantId, TranscodeData, UploadData, ViewData};
use framelog_tests::NatsServer;
use time::OffsetDateTime;
use uuid::Uuid;

async fn platform_with_window(
    nats: &NatsServer,
    window: Duration,
) -> (framelog_core::Platform, tempfile::TempDir) {
    let dir = tempfile::Builder::new().prefix("framelog-data-").tempdir().unwrap();
    let mut settings =
        framelog_core::CommonSettings::for_test(&nats.url(), dir.path().to_path_buf());
    settings.nats_duplicate_window = window;
    let p = framelog_core::Platform::start(settings, "framelog-test", Duration::from_secs(10))
        .await
        .unwrap();
    (p, dir)
}

fn event(
    video: &str,
    kind: Kind,
    phase: &str,
    data: impl Into<framelog_events::EventData>,
) -> Event {
    let (t, v) = (TenantId::new("acme").unwrap(), AggregateId::new(video).unwrap());
    let id = Event::deterministic_id(&t, &v, kind, phase, "");
    Event::new(id, OffsetDateTime::now_utc(), "framelog/test", t, v, data)
}

async fn count(js: &async_nats::jetstream::Context, stream: &str, subject: &str) -> usize {
    let mut s = js.get_stream(stream).await.unwrap();
    let last = s.info().await.unwrap().state.last_sequence;
    let mut n = 0;
    for seq in 1..=last {
        if let Ok(m) = s.get_raw_message(seq).await
            && m.subject.as_str() == subject
        {
            n += 1;
        }
    }
    n
}

#[tokio::test]
async fn fault_a_one_shot_fact_resent_from_the_outbox_after_the_duplicate_window_is_stored_once() {
    let nats = NatsServer::start();
    let (p, _dir) = platform_with_window(&nats, Duration::from_secs(1)).await;
    let vid = p.js.get_stream(STREAM_VID).await.unwrap();
    assert_eq!(vid.cached_info().config.duplicate_window, Duration::from_secs(1));

    let deleted = event("vid_once", Kind::Upload, "deleted", UploadData::Deleted {});
    let first = p.events.publish(&deleted).await.unwrap();
    let Published::Stored { stream_sequence, duplicate: false } = first else {
        panic!("{first:?}")
    };
    // Acked, then the process died before removing its outbox entry: the same entry is sent
    // again, long after the duplicate window.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    p.events.queue(&[&deleted]).await.unwrap();
    assert_eq!(p.events.drain_outbox().await.unwrap(), 1);
    assert!(p.events.refused_entries().is_empty(), "a duplicate is a success, not a refusal");
    // And a direct publish after the window reports the stored copy.
    let again = p.events.publish(&deleted).await.unwrap();
    assert_eq!(again, Published::Stored { stream_sequence, duplicate: true });
    assert_eq!(count(&p.js, STREAM_VID, "vid.acme.upload.deleted.vid_once").await, 1);

    // A fact that may repeat per subject (an attempt) keeps only the window: the window really
    // is 1 s, so the test above could have failed.
    let started = TranscodeData::Started {
        worker: "w".into(),
        encoder: "libx264".into(),
        attempt: 1,
        profiles: vec![],
    };
    let started = event("vid_once", Kind::Transcode, "started", started);
    p.events.publish(&started).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let twice = p.events.publish(&started).await.unwrap();
    assert!(matches!(twice, Published::Stored { duplicate: false, .. }), "{twice:?}");
    assert_eq!(count(&p.js, STREAM_VID, "vid.acme.transcode.started.vid_once").await, 2);
}

#[tokio::test]
async fn fault_an_outbox_entry_no_stream_takes_is_set_aside_and_the_events_behind_it_are_stored() {
    let nats = NatsServer::start();
    let (p, _dir) = platform_with_window(&nats, Duration::from_secs(120)).await;
    // The views stream is deleted under the process (an operator's mistake).
    p.js.delete_stream(STREAM_VIEW).await.unwrap();
    let view = event(
        "vid_v",
        Kind::View,
        "counted",
        ViewData::Counted { viewer: "x".into(), window: 1, live: false },
    );
    let behind: Vec<Event> = (0..3)
        .map(|i| {
            let mut e = event(
                &format!("vid_b{i}"),
                Kind::Upload,
                "aborted",
                UploadData::Aborted { upload_id: format!("up_{i}") },
            );
            e.id = Uuid::now_v7();
            e
        })
        .collect();
    let mut all = vec![&view];
    all.extend(behind.iter());
    p.events.queue(&all).await.unwrap();
    assert!(p.metrics.render().contains("framelog_outbox_size 4"), "{}", p.metrics.render());

    let shutdown = tokio_util::sync::CancellationToken::new();
    let flusher = tokio::spawn(p.events.clone().run_outbox(shutdown.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while p.events.outbox_len() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the refused entry blocks the outbox");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shutdown.cancel();
    flusher.await.unwrap();

    for i in 0..3 {
        let subject = format!("vid.acme.upload.aborted.vid_b{i}");
        assert_eq!(count(&p.js, STREAM_VID, &subject).await, 1, "{subject}");
    }
    let refused = p.events.refused_entries();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].subject, "vid.acme.view.counted.vid_v");
    assert_eq!(refused[0].msg_id, view.id.to_string());
    assert!(refused[0].reason.contains("no stream"), "{}", refused[0].reason);
    let metrics = p.metrics.render();
    assert!(metrics.contains("framelog_outbox_refused_total 1"), "{metrics}");
    assert!(metrics.contains("framelog_outbox_size 0"), "{metrics}");
    let health = framelog_core::health::router(framelog_core::health::HealthState {
        nats: p.nats.clone(),
        js: p.js.clone(),
        metrics: p.metrics.clone(),
        readiness: p.readiness.clone(),
        events: Some(p.events.clone()),
    });
    let app = framelog_tests::TestApp::serve(health).await;
    let ready: serde_json::Value = app.get("/readyz", None).await.json().await.unwrap();
    assert_eq!(ready["outbox"]["refused"], 1, "{ready}");
    assert_eq!(ready["outbox"]["size"], 0, "{ready}");
    assert_eq!(ready["outbox"]["last_refused"][0]["subject"], "vid.acme.view.counted.vid_v");

    // Published directly, the same event is refused at once rather than queued behind.
    let direct = p.events.publish(&view).await;
    assert!(direct.is_err(), "{direct:?}");
    assert_eq!(p.events.outbox_len(), 0);
}
