//! Rolling upgrades and unreadable messages, against a real nats-server: events a newer version
//! wrote are read past (nothing after them is lost), a message no build can read stops the
//! projection at its sequence (nothing after it is applied, readiness says why) until an
//! operator skips it.

mod common;

use common::*;
use framelog_core::health::{self, HealthState};
use framelog_core::nats::STREAM_VID;
use framelog_projection::{Store, digest, rebuild};
use serde_json::{Value, json};

/// Publishes raw bytes on `subject` (as a newer or broken writer would); returns the sequence.
async fn publish_raw(w: &World, subject: &str, bytes: Vec<u8>) -> u64 {
    w.platform.js.publish(subject.to_owned(), bytes.into()).await.unwrap().await.unwrap().sequence
}

/// An envelope as a newer writer would send it.
fn v2(event_type: &str, subject: &str, data: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "specversion": "1.0",
        "id": uuid::Uuid::now_v7(),
        "source": "framelog/ingest-v2",
        "type": event_type,
        "subject": subject,
        "time": "2026-12-01T10:00:00Z",
        "datacontenttype": "application/json",
        "dataschema": format!("framelog:{event_type}/1"),
        "tenant": "acme",
        "correlationid": subject,
        "hologram": true,
        "data": data,
    }))
    .unwrap()
}

async fn readyz(w: &World) -> (u16, Value) {
    let app = framelog_tests::TestApp::serve(health::router(HealthState {
        nats: w.platform.nats.clone(),
        js: w.platform.js.clone(),
        metrics: w.platform.metrics.clone(),
        readiness: w.platform.readiness.clone(),
        events: None,
    }))
    .await;
    let res = app.get("/readyz", None).await;
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test]
async fn fault_events_from_a_newer_version_are_read_past_and_the_events_after_them_applied() {
    let w = world().await;
    let mut p = w.projection().await;
    w.publish(&ev("acme", "vid_a", initiated("a"))).await;
    let mut completed = serde_json::to_value(completed(4242)).unwrap();
    completed["hdr"] = json!({"transfer": "pq"}); // a field added by a newer writer
    publish_raw(&w, "vid.acme.upload.completed.vid_a", v2("VID_UPLOAD", "vid_a", completed)).await;
    let phase = json!({"phase": "rewound", "to_secs": 3});
    publish_raw(&w, "vid.acme.transcode.rewound.vid_a", v2("VID_TRANSCODE", "vid_a", phase)).await;
    let new_type = json!({"phase": "added", "lang": "fr"});
    let unknown_type =
        publish_raw(&w, "vid.acme.ready.added.vid_a", v2("VID_CAPTIONS", "vid_a", new_type)).await;
    let after = w.publish(&ev("acme", "vid_b", initiated("b"))).await;
    assert!(after > unknown_type);

    assert_eq!(drain(&mut p.vid).await, 4, "every known type is folded, the unknown one read past");
    assert_eq!(p.vid.applied(), after, "the applied sequence passes the newer events");
    let app = serve(&p).await;
    let (status, a) = get_json(&app, "/v1/videos/vid_a", &w.acme).await;
    assert_eq!(status, 200, "{a}");
    assert_eq!((a["status"].as_str(), a["size"].as_u64()), (Some("processing"), Some(4242)));
    let (status, _) = get_json(&app, "/v1/videos/vid_b", &w.acme).await;
    assert_eq!(status, 200, "the event after the newer ones is applied");
    assert_eq!(readyz(&w).await.0, 200);

    let (fresh, _dir) = w.other_platform().await;
    let report = rebuild(&w.platform, &fresh.db).await.unwrap();
    assert_eq!(report.digest, digest(&w.platform.db).unwrap(), "a rebuild reads them the same");
}

#[tokio::test]
async fn fault_an_unreadable_message_stops_the_projection_at_its_sequence_until_skipped() {
    let w = world().await;
    let mut p = w.projection().await;
    let first = w.publish(&ev("acme", "vid_a", initiated("a"))).await;
    let corrupt =
        publish_raw(&w, "vid.acme.upload.initiated.vid_x", b"{\"specversion\":".to_vec()).await;
    let newer_version = {
        let mut v: Value = serde_json::from_slice(&v2(
            "VID_UPLOAD",
            "vid_y",
            json!({"phase": "aborted", "upload_id": "u"}),
        ))
        .unwrap();
        v["dataschema"] = json!("framelog:VID_UPLOAD/2");
        publish_raw(&w, "vid.acme.upload.aborted.vid_y", serde_json::to_vec(&v).unwrap()).await
    };
    let last = w.publish(&ev("acme", "vid_b", initiated("b"))).await;

    let stop = drain_to_stop(&mut p.vid).await.expect("the projection stops");
    assert_eq!(stop.seq, corrupt);
    assert_eq!(p.vid.applied(), first, "everything before it is applied, nothing after");
    let stop = drain_to_stop(&mut p.vid).await.expect("it never skips by itself");
    assert_eq!((stop.seq, p.vid.applied()), (corrupt, first));
    let (status, ready) = readyz(&w).await;
    assert_eq!(status, 503, "{ready}");
    let problem = ready["problems"]["projection VID"].as_str().unwrap_or_default();
    assert!(
        problem.contains(&corrupt.to_string()) && problem.contains("projection skip"),
        "{ready}"
    );
    assert!(
        w.platform
            .metrics
            .render()
            .contains(&format!("framelog_projection_stopped_at{{stream=\"VID\"}} {corrupt}"))
    );
    let app = serve(&p).await;
    assert_eq!(get_json(&app, "/v1/videos/vid_b", &w.acme).await.0, 404);

    // A restart does not skip it either, nor does a rebuild.
    drop(p);
    let mut p = w.projection().await;
    assert_eq!(drain_to_stop(&mut p.vid).await.map(|s| s.seq), Some(corrupt));
    let (fresh, _dir) = w.other_platform().await;
    let err = rebuild(&w.platform, &fresh.db).await.unwrap_err().to_string();
    assert!(err.contains(&format!("message {corrupt} of VID")), "{err}");

    // The operator skips it (what `framelog projection skip` records): the next one, a newer
    // schema version, stops it again.
    Store::open(&w.platform.db).unwrap().mark_skip(STREAM_VID, corrupt).unwrap();
    assert_eq!(drain_to_stop(&mut p.vid).await.map(|s| s.seq), Some(newer_version));
    assert_eq!(p.vid.applied(), corrupt);
    Store::open(&w.platform.db).unwrap().mark_skip(STREAM_VID, newer_version).unwrap();
    assert_eq!(drain(&mut p.vid).await, 1);
    assert_eq!(p.vid.applied(), last);
    assert_eq!(get_json(&app, "/v1/videos/vid_b", &w.acme).await.0, 200);
    assert_eq!(readyz(&w).await.0, 200, "ready again once moving");
    // A skip never drops a readable event.
    Store::open(&w.platform.db).unwrap().mark_skip(STREAM_VID, last + 1).unwrap();
    let next = w.publish(&ev("acme", "vid_c", initiated("c"))).await;
    assert_eq!((drain(&mut p.vid).await, p.vid.applied()), (1, next));
}

#[tokio::test]
async fn fault_events_an_older_build_read_past_are_reported_once_a_build_reads_them() {
    let w = world().await;
    let mut p = w.projection().await;
    let known = w.publish(&ev("acme", "vid_a", initiated("a"))).await;
    let phase = json!({"phase": "teleported"});
    let unknown =
        publish_raw(&w, "vid.acme.upload.teleported.vid_a", v2("VID_UPLOAD", "vid_a", phase)).await;
    drain(&mut p.vid).await;
    let store = Store::open(&w.platform.db).unwrap();
    assert_eq!(store.read_past(STREAM_VID).unwrap(), vec![unknown], "read past, and noted");
    drop(p);
    let p = w.projection().await;
    assert_eq!(readyz(&w).await.0, 200, "this build cannot read it either: nothing to report");
    drop(p);

    // An older build that did not know `initiated` would have noted it the same way; this
    // build reads it, so the views lack an event: not ready, and the remedy is named.
    store.note_read_past(STREAM_VID, known).unwrap();
    let mut p = w.projection().await;
    let (status, ready) = readyz(&w).await;
    assert_eq!(status, 503, "{ready}");
    let problem = ready["problems"]["projection VID (read past)"].as_str().unwrap_or_default();
    assert!(
        problem.contains(&format!("sequence {known}")) && problem.contains("rebuild"),
        "{ready}"
    );
    let next = w.publish(&ev("acme", "vid_b", initiated("b"))).await;
    drain(&mut p.vid).await;
    assert_eq!(p.vid.applied(), next, "it still follows the stream meanwhile");
    assert_eq!(readyz(&w).await.0, 503, "moving on does not hide it");
    drop(p);

    rebuild(&w.platform, &w.platform.db).await.unwrap();
    assert_eq!(store.read_past(STREAM_VID).unwrap(), vec![unknown]);
    let p = w.projection().await;
    assert_eq!(readyz(&w).await.0, 200, "a rebuild applied it");
    drop(p);

    // A note whose message is gone from the stream is forgotten.
    store.note_read_past(STREAM_VID, 9_999).unwrap();
    let _p = w.projection().await;
    assert_eq!(readyz(&w).await.0, 200);
    assert_eq!(store.read_past(STREAM_VID).unwrap(), vec![unknown]);
}
