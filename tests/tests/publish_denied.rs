//! A publish the server refuses for permissions (the shipped read-only `dashboard` role of
//! `deploy/nats/permissions.conf`) is a refusal seen at once, not a timeout taken for an
//! outage: a direct publish answers refused within a second, and an outbox entry is set aside
//! in `outbox_refused` with the server's reason instead of waiting at the head for ever.

use std::time::{Duration, Instant};

use framelog_core::eventlog::{EventLog, EventLogError, Published};
use framelog_core::nats::STREAM_VID;
use framelog_core::publish_denied::PublishViolations;
use framelog_events::{AggregateId, Event, Kind, TenantId, UploadData};
use framelog_tests::NatsServer;
use framelog_tests::auth::DASHBOARD_USER;
use time::OffsetDateTime;

fn event(video: &str) -> Event {
    let (t, v) = (TenantId::new("acme").unwrap(), AggregateId::new(video).unwrap());
    let id = Event::deterministic_id(&t, &v, Kind::Upload, "deleted", "");
    Event::new(id, OffsetDateTime::now_utc(), "framelog/test", t, v, UploadData::Deleted {})
}

/// An event log of the `dashboard` user (watching its violations or not), with its own store.
async fn dashboard_log(nats: &NatsServer, watch: bool) -> (EventLog, tempfile::TempDir) {
    let violations = PublishViolations::default();
    let mut opts = nats.auth().options(DASHBOARD_USER);
    if watch {
        opts = violations.install(opts);
    }
    let client = opts.connect(nats.anonymous_url()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::new(client, sled::open(dir.path()).unwrap()).unwrap();
    (if watch { log.watch(violations) } else { log }, dir)
}

async fn stored(js: &async_nats::jetstream::Context) -> u64 {
    js.get_stream(STREAM_VID).await.unwrap().info().await.unwrap().state.messages
}

#[tokio::test]
async fn fault_a_publish_denied_for_permissions_is_refused_at_once_and_set_aside() {
    let nats = NatsServer::start();
    // The framelog user declares the topology.
    let (p, _data) = framelog_tests::platform(&nats).await;
    let (log, _dir) = dashboard_log(&nats, true).await;

    let t0 = Instant::now();
    let direct = log.publish(&event("vid_denied")).await;
    let took = t0.elapsed();
    let Err(EventLogError::Refused { message, .. }) = &direct else {
        panic!("not refused: {direct:?}");
    };
    assert!(message.contains("Permissions Violation for Publish"), "{message}");
    assert!(message.contains("vid.acme.upload.deleted.vid_denied"), "{message}");
    assert!(took < Duration::from_secs(1), "refused after {took:?}, not at once");
    assert_eq!(log.outbox_len(), 0, "a refusal is not queued");

    // In the outbox, the entry is set aside after its few tries, each answered at once.
    log.queue(&[&event("vid_queued")]).await.unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let flusher = tokio::spawn(log.clone().run_outbox(shutdown.clone()));
    let t0 = Instant::now();
    while log.outbox_len() > 0 {
        assert!(t0.elapsed() < Duration::from_secs(4), "the denied entry still blocks the outbox");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let set_aside = t0.elapsed();
    shutdown.cancel();
    flusher.await.unwrap();
    let refused = log.refused_entries();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].subject, "vid.acme.upload.deleted.vid_queued");
    assert!(refused[0].reason.contains("Permissions Violation for Publish"), "{refused:?}");
    assert_eq!(stored(&p.js).await, 0, "nothing was stored");
    eprintln!("direct refusal in {took:?}; outbox entry set aside in {set_aside:?}");
}

#[tokio::test]
async fn unwatched_a_denied_publish_only_times_out_and_waits_in_the_outbox() {
    // What the watch changes: without it the same publish is taken for an outage.
    let nats = NatsServer::start();
    let (_p, _data) = framelog_tests::platform(&nats).await;
    let (log, _dir) = dashboard_log(&nats, false).await;
    let t0 = Instant::now();
    let r = log.publish(&event("vid_blind")).await.unwrap();
    assert_eq!(r, Published::Queued);
    assert!(t0.elapsed() >= Duration::from_secs(2), "{:?}", t0.elapsed());
    assert_eq!(log.outbox_len(), 1);
}
