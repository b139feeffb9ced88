//! A job this worker cannot read (a newer writer's schema version, or corrupt bytes) is handed
//! back with a delay, never terminated: a newer worker on the same queue gets it afterwards.

mod common;

use std::time::Duration;

use async_nats::jetstream::consumer::PullConsumer;
use common::env;
use framelog_core::nats::STREAM_VID;
use framelog_transcoder::TranscoderSettings;
use framelog_transcoder::consumer::{DURABLE, JobConsumer, job_spec};
use futures::StreamExt;

#[tokio::test]
async fn fault_an_unreadable_job_is_handed_back_for_a_newer_worker_not_terminated() {
    let env = env().await;
    let js = &env.ctx.platform.js;
    let mut spec = job_spec(&TranscoderSettings::for_test());
    spec.unreadable_delay = Duration::from_millis(300);
    let old = JobConsumer::bind(js, &spec).await.unwrap();
    let newer = serde_json::json!({
        "specversion": "1.0", "id": uuid::Uuid::now_v7(), "source": "framelog/ingest-v2",
        "type": "VID_TRANSCODE", "subject": "vid_new", "time": "2026-12-01T10:00:00Z",
        "dataschema": "framelog:VID_TRANSCODE/2", "tenant": "acme", "correlationid": "vid_new",
        "data": {"phase": "requested", "sources": [{"key": "k", "role": "main"}]},
    });
    let subject = "vid.acme.transcode.requested.vid_new";
    let seq = js
        .publish(subject, serde_json::to_vec(&newer).unwrap().into())
        .await
        .unwrap()
        .await
        .unwrap()
        .sequence;
    let corrupt_subject = "vid.acme.transcode.requested.vid_bad";
    let corrupt =
        js.publish(corrupt_subject, "not json".into()).await.unwrap().await.unwrap().sequence;

    assert!(old.next(Duration::from_millis(800)).await.unwrap().is_none(), "nothing it can run");

    // A newer worker on the same durable consumer gets both, redelivered.
    let stream = js.get_stream(STREAM_VID).await.unwrap();
    let consumer: PullConsumer = stream.get_consumer(DURABLE).await.unwrap();
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while got.len() < 2 && tokio::time::Instant::now() < deadline {
        let mut batch = consumer
            .fetch()
            .max_messages(2)
            .expires(Duration::from_secs(1))
            .messages()
            .await
            .unwrap();
        while let Some(Ok(m)) = batch.next().await {
            let info = m.info().unwrap();
            got.push((info.stream_sequence, info.delivered));
            m.ack().await.unwrap();
        }
    }
    got.sort();
    assert_eq!(got.len(), 2, "both jobs are still deliverable: {got:?}");
    assert_eq!((got[0].0, got[1].0), (seq, corrupt));
    assert!(got.iter().all(|(_, delivered)| *delivered >= 2), "redeliveries: {got:?}");
}
