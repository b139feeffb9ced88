//! The event log against a real nats-server: dedup by deterministic id, the outbox across an
//! outage, consumers, and trace context across a NATS hop.

use std::time::Duration;

use framelog_core::consumer::{ConsumerSpec, EventConsumer};
use framelog_core::eventlog::Published;
use framelog_core::nats::STREAM_VID;
use framelog_events::{AggregateId, Event, Kind, TenantId, UploadData};
use framelog_tests::{NatsServer, platform};
use futures::StreamExt;
use time::OffsetDateTime;
use uuid::Uuid;

fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn aborted(video: &str, id: Uuid) -> Event {
    Event::new(
        id,
        OffsetDateTime::now_utc(),
        "framelog/test",
        tenant(),
        AggregateId::new(video).unwrap(),
        UploadData::Aborted { upload_id: format!("up_{video}") },
    )
}

async fn stream_messages(js: &async_nats::jetstream::Context, stream: &str) -> u64 {
    let mut s = js.get_stream(stream).await.unwrap();
    s.info().await.unwrap().state.messages
}

#[tokio::test]
async fn publishing_the_same_deterministic_id_twice_stores_one_message() {
    let nats = NatsServer::start();
    let (p, _dir) = platform(&nats).await;
    let video = AggregateId::new("vid_dedup").unwrap();
    let id = Event::deterministic_id(&tenant(), &video, Kind::Upload, "aborted", "");
    assert_eq!(id, Event::deterministic_id(&tenant(), &video, Kind::Upload, "aborted", ""));

    let first = p.events.publish(&aborted("vid_dedup", id)).await.unwrap();
    let second = p.events.publish(&aborted("vid_dedup", id)).await.unwrap();

    let Published::Stored { stream_sequence: s1, duplicate: d1 } = first else {
        panic!("{first:?}")
    };
    let Published::Stored { stream_sequence: s2, duplicate: d2 } = second else {
        panic!("{second:?}")
    };
    assert!(!d1);
    assert!(d2, "the second publish is reported as a duplicate");
    assert_eq!(s1, s2);
    assert_eq!(stream_messages(&p.js, STREAM_VID).await, 1);
}

#[tokio::test]
async fn events_published_while_nats_is_down_arrive_once_and_in_order_after_it_returns() {
    let mut nats = NatsServer::start();
    let (p, _dir) = platform(&nats).await;
    let ids: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();

    // One event before the outage.
    let before = p.events.publish(&aborted("vid_0", ids[0])).await.unwrap();
    assert!(matches!(before, Published::Stored { .. }));

    nats.stop();
    // Give the client a moment to notice the disconnect.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (i, id) in ids.iter().enumerate().skip(1) {
        let r = tokio::time::timeout(
            Duration::from_secs(15),
            p.events.publish(&aborted(&format!("vid_{i}"), *id)),
        )
        .await
        .expect("publish returns while NATS is down")
        .unwrap();
        assert_eq!(r, Published::Queued, "event {i} is kept in the outbox");
    }
    assert_eq!(p.events.outbox_len(), 4);

    nats.restart();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let flusher = tokio::spawn(p.events.clone().run_outbox(shutdown.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while p.events.outbox_len() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "outbox never drained");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A repeated drain (as after a crash between ack and removal) must not duplicate.
    assert_eq!(p.events.drain_outbox().await.unwrap(), 0);
    shutdown.cancel();
    flusher.await.unwrap();

    // Exactly the five events, in publish order.
    let stream = p.js.get_stream(STREAM_VID).await.unwrap();
    let mut got = Vec::new();
    for seq in 1..=stream_messages(&p.js, STREAM_VID).await {
        let m = stream.get_raw_message(seq).await.unwrap();
        got.push(Event::from_json(&m.payload).unwrap().id);
    }
    assert_eq!(got, ids);
}

#[tokio::test]
async fn an_outbox_entry_already_stored_is_dropped_by_the_duplicate_window() {
    let mut nats = NatsServer::start();
    let (p, _dir) = platform(&nats).await;
    let id = Uuid::now_v7();
    // Stored once directly...
    p.events.publish(&aborted("vid_a", id)).await.unwrap();
    // ...and once more through the outbox (as when an ack was lost during an outage).
    nats.stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(p.events.publish(&aborted("vid_a", id)).await.unwrap(), Published::Queued);
    nats.restart();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match p.events.drain_outbox().await {
            Ok(1) => break,
            Ok(n) => panic!("drained {n}"),
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(stream_messages(&p.js, STREAM_VID).await, 1);
}

#[tokio::test]
async fn a_consumer_receives_decoded_events_and_redelivers_a_nak() {
    let nats = NatsServer::start();
    let (p, _dir) = platform(&nats).await;
    let id = Uuid::now_v7();
    p.events.publish(&aborted("vid_c", id)).await.unwrap();

    let spec = ConsumerSpec::new(STREAM_VID, "test-consumer", vec!["vid.*.upload.>".into()]);
    let mut c = EventConsumer::bind(&p.js, spec).await.unwrap();
    let d = c.next(Duration::from_secs(5)).await.unwrap().expect("a delivery");
    assert_eq!(d.event.id, id);
    assert_eq!(d.delivered, 1);
    d.nak(None).await.unwrap();
    let again = c.next(Duration::from_secs(5)).await.unwrap().expect("a redelivery");
    assert_eq!(again.event.id, id);
    assert_eq!(again.delivered, 2);
    again.ack().await.unwrap();
    assert!(c.next(Duration::from_millis(500)).await.unwrap().is_none());
}

#[tokio::test]
async fn fault_an_unreadable_message_is_handed_back_not_terminated_and_the_next_one_delivered() {
    let nats = NatsServer::start();
    let (p, _dir) = platform(&nats).await;
    p.js.publish("vid.acme.upload.aborted.v1", "not json".into()).await.unwrap().await.unwrap();
    let id = Uuid::now_v7();
    p.events.publish(&aborted("vid_ok", id)).await.unwrap();
    let mut spec = ConsumerSpec::new(STREAM_VID, "poison", vec!["vid.>".into()]);
    spec.unreadable_delay = Duration::from_millis(200);
    let mut c = EventConsumer::bind(&p.js, spec).await.unwrap();
    let d = c.next(Duration::from_secs(5)).await.unwrap().expect("the good event");
    assert_eq!(d.event.id, id);
    assert_eq!(d.stream_sequence, 2);
    d.ack().await.unwrap();
    drop(c);
    // Not terminated: a newer consumer on the same durable gets it again.
    let stream = p.js.get_stream(STREAM_VID).await.unwrap();
    let raw: async_nats::jetstream::consumer::PullConsumer =
        stream.get_consumer("poison").await.unwrap();
    let mut batch =
        raw.fetch().max_messages(1).expires(Duration::from_secs(3)).messages().await.unwrap();
    let m = batch.next().await.expect("the unreadable message is redelivered").unwrap();
    assert_eq!(m.info().unwrap().stream_sequence, 1);
    assert!(m.info().unwrap().delivered >= 2);
}
