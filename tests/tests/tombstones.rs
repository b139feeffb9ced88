//! Tombstones across replicas: a follower replays the deletes made before it started, then sees
//! new ones as they happen, and once caught up answers from memory (even with NATS gone).

use std::time::Duration;

use framelog_core::tombstones::{Buried, Tombstones};
use framelog_tests::{NatsServer, platform};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn follow(graves: &Tombstones, shutdown: &CancellationToken) -> mpsc::UnboundedReceiver<Buried> {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = graves.clone().follow(shutdown.clone(), move |b| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(b);
        }
    });
    tokio::spawn(task);
    rx
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Buried>) -> Buried {
    tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap()
}

fn buried(video: &str, live: bool) -> Buried {
    Buried { tenant: "acme".into(), video: video.into(), live }
}

#[tokio::test]
async fn a_follower_replays_earlier_deletes_then_sees_new_ones_and_answers_from_memory() {
    let mut nats = NatsServer::start();
    let (p, _dir) = platform(&nats).await;
    let deleter = Tombstones::open(&p.js).await.unwrap();
    deleter.bury("acme", "v1").await.unwrap();
    deleter.bury("acme", "v2").await.unwrap();

    let replica = Tombstones::open(&p.js).await.unwrap();
    assert!(!replica.is_ready());
    assert!(!replica.knows("acme", "v1"));
    let shutdown = CancellationToken::new();
    let mut seen = follow(&replica, &shutdown);
    assert_eq!(next(&mut seen).await, buried("v1", false), "replayed, not a new delete");
    assert_eq!(next(&mut seen).await, buried("v2", false));
    assert!(replica.is_ready());
    deleter.bury("acme", "v3").await.unwrap();
    assert_eq!(next(&mut seen).await, buried("v3", true), "a delete happening now");
    assert!(replica.knows("acme", "v3"));
    assert!(!replica.knows("globex", "v3"), "another tenant's id is another video");

    // Caught up: the hot-path check needs no NATS.
    nats.stop();
    assert!(replica.is_buried_cached("acme", "v1").await.unwrap());
    assert!(!replica.is_buried_cached("acme", "v4").await.unwrap());
    shutdown.cancel();
}

#[tokio::test]
async fn a_follower_of_an_empty_bucket_is_ready_at_once_and_reads_kv_until_then() {
    let nats = NatsServer::start();
    let (p, _dir) = platform(&nats).await;
    let deleter = Tombstones::open(&p.js).await.unwrap();
    let replica = Tombstones::open(&p.js).await.unwrap();
    assert!(!replica.is_buried_cached("acme", "v1").await.unwrap());
    deleter.bury("acme", "v1").await.unwrap();
    assert!(replica.is_buried_cached("acme", "v1").await.unwrap(), "not ready: read from KV");

    let fresh = Tombstones::open(&p.js).await.unwrap();
    let shutdown = CancellationToken::new();
    let mut seen = follow(&fresh, &shutdown);
    assert_eq!(next(&mut seen).await, buried("v1", false));
    assert!(fresh.is_ready());
    shutdown.cancel();

    // A bucket with no tombstone at all: ready without any entry to replay.
    let nats2 = NatsServer::start();
    let (p2, _dir2) = platform(&nats2).await;
    let empty = Tombstones::open(&p2.js).await.unwrap();
    let shutdown2 = CancellationToken::new();
    let _seen = follow(&empty, &shutdown2);
    for _ in 0..250 {
        if empty.is_ready() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(empty.is_ready());
    shutdown2.cancel();
}
