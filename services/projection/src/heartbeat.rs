//! The projection's progress where operators can see it: every [`EVERY`] (and at once when a
//! batch is applied, at most every [`MIN_GAP`]) each projector's applied stream sequence goes
//! to
//!
//! - the gauge `framelog_projection_applied_sequence{stream}` (alert rules compare it with
//!   `framelog_jetstream_stream_last_sequence`), and
//! - the KV bucket `framelog_projection_progress`, key `<replica>.<stream>` → [`Progress`],
//!   which `framelog status` reads next to the stream's last sequence: the lag is their
//!   difference, and a replica whose entry is older than [`STALE_AFTER_MS`] is stopped.
//!
//! Why not the consumer: the projection reads through ordered (ephemeral) consumers, and a
//! killed replica's consumer stays on the server, pending growing, for about 30 s after the
//! replica that replaced it has caught up. The heartbeat says at once, and per replica.
//!
//! The replica id is generated once per data dir and kept in sled, so a restart on the same
//! data dir keeps its entry; entries age out of the bucket after [`MAX_AGE`].

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use framelog_core::metrics::Metrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::instrument;

/// The bucket of heartbeats.
pub const KV_PROGRESS: &str = "framelog_projection_progress";
/// How often a heartbeat is written without news.
pub const EVERY: Duration = Duration::from_secs(1);
/// The least time between two heartbeats of one stream.
pub const MIN_GAP: Duration = Duration::from_millis(250);
/// A heartbeat older than this means its replica is not running.
pub const STALE_AFTER_MS: u64 = 5_000;
/// How long a stopped replica's entry stays in the bucket.
pub const MAX_AGE: Duration = Duration::from_secs(15 * 60);

const REPLICA_TREE: &str = "projection_replica";
const REPLICA_KEY: &[u8] = b"id";

/// One heartbeat (the JSON value of a `framelog_projection_progress` entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// The replica (one per data dir).
    pub replica: String,
    /// `VID` or `VID_VIEW`.
    pub stream: String,
    /// The last stream sequence applied and durable in the replica's views.
    pub applied_seq: u64,
    /// When it was written, unix milliseconds.
    pub at_ms: u64,
}

/// The bucket key of a replica's stream.
pub fn key(replica: &str, stream: &str) -> String {
    format!("{replica}.{stream}")
}

/// This data dir's replica id: read from sled, or generated (`prj_...`) and stored.
pub fn replica_id(db: &sled::Db) -> Result<String, sled::Error> {
    let tree = db.open_tree(REPLICA_TREE)?;
    if let Some(v) = tree.get(REPLICA_KEY)? {
        return Ok(String::from_utf8_lossy(&v).into_owned());
    }
    let id = framelog_core::new_id("prj").to_string();
    // Two callers racing on a fresh store agree on the first id stored.
    match tree.compare_and_swap(REPLICA_KEY, None as Option<&[u8]>, Some(id.as_bytes()))? {
        Ok(()) => {
            tree.flush()?;
            Ok(id)
        }
        Err(e) => Ok(String::from_utf8_lossy(&e.current.unwrap_or_default()).into_owned()),
    }
}

/// The heartbeat bucket: opened, or created when missing (never reconfigured here).
#[instrument(skip_all, err)]
pub async fn open(js: &jetstream::Context, replicas: usize) -> Result<kv::Store, String> {
    if let Ok(kv) = js.get_key_value(KV_PROGRESS).await {
        return Ok(kv);
    }
    let created = js
        .create_key_value(kv::Config {
            bucket: KV_PROGRESS.into(),
            description: "Framelog projection replicas' applied sequences: <replica>.<stream>"
                .into(),
            history: 1,
            max_age: MAX_AGE,
            storage: jetstream::stream::StorageType::File,
            num_replicas: replicas.max(1),
            ..Default::default()
        })
        .await;
    match created {
        Ok(kv) => Ok(kv),
        // Another replica created it meanwhile.
        Err(e) => js.get_key_value(KV_PROGRESS).await.map_err(|_| format!("{KV_PROGRESS}: {e}")),
    }
}

/// Labels of the applied-sequence gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StreamLabels {
    pub stream: &'static str,
}

/// `framelog_projection_applied_sequence{stream}`; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct AppliedGauges(Family<StreamLabels, Gauge>);

/// The gauges, registered in `metrics` once per process.
pub fn gauges(metrics: &Metrics) -> AppliedGauges {
    metrics.once(|m| {
        let g = AppliedGauges::default();
        m.register(
            "projection_applied_sequence",
            "The last stream sequence the projection applied, by stream",
            g.0.clone(),
        );
        g
    })
}

impl AppliedGauges {
    pub fn set(&self, stream: &'static str, seq: u64) {
        self.0.get_or_create(&StreamLabels { stream }).set(i64::try_from(seq).unwrap_or(i64::MAX));
    }
}

fn now_ms() -> u64 {
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    u64::try_from(now).unwrap_or(0)
}

/// Writes heartbeats of `streams` (name, applied sequence) until `shutdown`: every [`EVERY`],
/// and after each change (at most every [`MIN_GAP`]). A failed write is logged and retried at
/// the next beat; the projection never waits on it.
pub async fn run(
    kv: kv::Store,
    replica: String,
    gauges: AppliedGauges,
    streams: Vec<(&'static str, watch::Receiver<u64>)>,
    shutdown: CancellationToken,
) {
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|(stream, rx)| {
            let (kv, replica, gauges) = (kv.clone(), replica.clone(), gauges.clone());
            tokio::spawn(beat(kv, replica, gauges, stream, rx, shutdown.clone()))
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
}

async fn beat(
    kv: kv::Store,
    replica: String,
    gauges: AppliedGauges,
    stream: &'static str,
    mut applied: watch::Receiver<u64>,
    shutdown: CancellationToken,
) {
    let key = key(&replica, stream);
    let mut failing = false;
    loop {
        let seq = *applied.borrow_and_update();
        gauges.set(stream, seq);
        let p = Progress {
            replica: replica.clone(),
            stream: stream.into(),
            applied_seq: seq,
            at_ms: now_ms(),
        };
        let value = serde_json::to_vec(&p).expect("a heartbeat serialises");
        match kv.put(&key, value.into()).await {
            Ok(_) => failing = false,
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(stream, error = %e, "projection heartbeat not written; retrying");
            }
            Err(_) => {}
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
            r = applied.changed() => {
                if r.is_err() {
                    // The projector is gone: keep beating its last sequence until shutdown.
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(EVERY) => {}
                    }
                } else {
                    tokio::time::sleep(MIN_GAP).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replica_id_is_kept_in_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let a = replica_id(&db).unwrap();
        assert!(a.starts_with("prj_"), "{a}");
        assert_eq!(replica_id(&db).unwrap(), a);
        drop(db);
        let db = sled::open(dir.path()).unwrap();
        assert_eq!(replica_id(&db).unwrap(), a, "the same after reopening");
        let other_dir = tempfile::tempdir().unwrap();
        let other = sled::open(other_dir.path()).unwrap();
        assert_ne!(replica_id(&other).unwrap(), a);
    }

    #[test]
    fn the_key_is_a_valid_kv_key_of_two_tokens() {
        let k = key("prj_0193abcd", "VID_VIEW");
        assert_eq!(k, "prj_0193abcd.VID_VIEW");
        assert!(k.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_=./".contains(&b)));
    }
}
