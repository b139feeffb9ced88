//! One upload, one story: `completed` and `requested` stored once per video even when a client
//! retries after the duplicate window, a job for every completed upload even after a crash
//! between the two events, and deletes that work from any ingest replica.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use framelog_core::media::source_key;
use framelog_events::{AggregateId, Event, Kind, Probe, SourceKind, TenantId, UploadData};
use framelog_ingest::jobs::{Requester, Step};
use framelog_ingest::session::SessionState;
use framelog_ingest::{IngestSettings, IngestState};
use framelog_tests::TestApp;
use framelog_tests::media::{VideoSpec, generate_video};

fn count(events: &[Event], video: &str, kind: Kind, phase: &str) -> usize {
    events
        .iter()
        .filter(|e| e.subject.as_str() == video && e.kind() == kind && e.data.phase() == phase)
        .count()
}

async fn uploaded(env: &Env) -> (String, String, serde_json::Value) {
    let p = generate_video(env.work.path(), "clip.mp4", &VideoSpec::new(320, 240, 1.0));
    let bytes = std::fs::read(p).unwrap();
    let up = open(env, &env.key_a, "clip.mp4", &bytes).await;
    let id = up["upload_id"].as_str().unwrap().to_owned();
    upload_all(env, &env.key_a, &id, &bytes, 65536).await;
    let res = complete(env, &env.key_a, &id).await;
    assert_eq!(res.status(), 200);
    (id, up["video_id"].as_str().unwrap().to_owned(), res.json().await.unwrap())
}

#[tokio::test]
async fn fault_a_client_retrying_complete_after_the_duplicate_window_stores_each_fact_once() {
    let env = env().await;
    let js = &env.st.platform.js;
    framelog_core::nats::apply_duplicate_window(js, Duration::from_secs(1)).await.unwrap();
    let (upload, video, first) = uploaded(&env).await;
    // The process died after publishing, before it recorded the completion (its chunk records
    // are gone here, but they would not be after such a crash): the client's retry runs the
    // completion again, well after the duplicate window.
    env.st
        .sessions
        .update(&upload, |s| {
            s.state = SessionState::Open;
            Ok(())
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let session = env.st.sessions.get(&upload).await.unwrap().unwrap();
    let again = framelog_ingest::lifecycle::complete(&env.st, &session).await.unwrap();
    let again = serde_json::to_value(again).unwrap();
    assert_eq!(again["sequence"], first["sequence"], "the answer names the stored request");

    // And the job reactor sees the completion too: still one request.
    let mut requester = Requester::bind(env.st.platform.events.clone()).await.unwrap();
    let step = requester.process_next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(step, Step::Requested { duplicate: true });

    let log = events(&env).await;
    assert_eq!(count(&log, &video, Kind::Upload, "completed"), 1);
    assert_eq!(count(&log, &video, Kind::Transcode, "requested"), 1);
    assert_eq!(count(&log, &video, Kind::Upload, "initiated"), 1);
}

#[tokio::test]
async fn fault_a_crash_between_upload_completed_and_transcode_requested_still_yields_one_job() {
    let env = env().await;
    let (tenant, video) = (TenantId::new("acme").unwrap(), AggregateId::new("vid_crash").unwrap());
    let key = source_key("acme", "vid_crash");
    let upload_id = "up_crash".to_owned();
    // What ingest stores before the crash: `completed`, and nothing after it.
    let completed = Event::new(
        Event::deterministic_id(&tenant, &video, Kind::Upload, "completed", &upload_id),
        time::OffsetDateTime::now_utc(),
        framelog_ingest::lifecycle::SOURCE,
        tenant.clone(),
        video.clone(),
        UploadData::Completed {
            upload_id: upload_id.clone(),
            source: SourceKind::Upload,
            filename: "clip.mp4".into(),
            size: 10,
            sha256: "00".into(),
            source_key: key.clone(),
            probe: Probe {
                duration_secs: 1.0,
                width: 320,
                height: 240,
                rotation: 0,
                fps: 25.0,
                video_codec: "h264".into(),
                audio_codec: None,
                format: "mov,mp4,m4a,3gp,3g2,mj2".into(),
                bit_rate: None,
            },
            stream_id: None,
        },
    );
    env.st.platform.events.publish(&completed).await.unwrap();
    assert_eq!(count(&events(&env).await, "vid_crash", Kind::Transcode, "requested"), 0);

    // Another replica's reactor (the crashed one is gone) turns it into the job.
    let mut requester = Requester::bind(env.st.platform.events.clone()).await.unwrap();
    let step = requester.process_next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(step, Step::Requested { duplicate: false });
    // The crashed replica comes back and its client retries: its own request is a duplicate.
    let request = framelog_ingest::jobs::request_for(&completed).unwrap();
    let again = env.st.platform.events.publish(&request).await.unwrap();
    assert!(matches!(again, framelog_core::eventlog::Published::Stored { duplicate: true, .. }));
    assert_eq!(requester.process_next(Duration::from_millis(500)).await.unwrap(), Step::Idle);

    let log = events(&env).await;
    assert_eq!(count(&log, "vid_crash", Kind::Transcode, "requested"), 1, "exactly one job");
    let job = log.iter().find(|e| e.kind() == Kind::Transcode).unwrap();
    assert_eq!(job.causation_id, Some(completed.id.to_string()));
}

#[tokio::test]
async fn a_video_uploaded_through_one_ingest_replica_is_deleted_through_another() {
    let env = env().await;
    let (_, video, _) = uploaded(&env).await;
    // A second replica: its own local store, the same NATS and media store.
    let (p2, _dir2) = framelog_tests::platform(&env.nats).await;
    let st2 =
        IngestState::new(p2, Arc::clone(&env.media), IngestSettings::default()).await.unwrap();
    let app2 = TestApp::serve(framelog_ingest::router(st2)).await;
    let delete = |key: String| {
        let url = app2.url(&format!("/v1/videos/{video}"));
        let http = app2.http.clone();
        async move { http.delete(url).bearer_auth(key).send().await.unwrap().status() }
    };
    assert_eq!(delete(env.key_b.clone()).await, 404, "another tenant's video is not found");
    assert_eq!(delete(env.key_a.clone()).await, 200);
    assert_eq!(delete(env.key_a.clone()).await, 404, "a deleted video is gone");
    assert!(!env.media.exists(&format!("sources/acme/{video}/source")).await.unwrap());
    assert_eq!(count(&events(&env).await, &video, Kind::Upload, "deleted"), 1);
}
