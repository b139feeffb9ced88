//! The fan-out's copy of every endpoint, fed by a KV watch, so fanning out an event costs no
//! listing (a consumer creation, serialised by the server) but one bucket status read.
//!
//! Freshness: the copy remembers the highest KV revision it applied. Before it answers for an
//! event it reads the bucket's last revision; if the watch has not reached it yet (an
//! endpoint created a moment ago), it waits for the watch, and after [`CATCH_UP`] the caller
//! lists from KV instead. So an endpoint created before an event is stored always takes it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream::kv;
use framelog_events::TenantId;
use futures::StreamExt as _;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::endpoints::Endpoint;

/// Longest wait for the watch to reach the bucket's last revision.
pub const CATCH_UP: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Inner {
    /// tenant -> key -> endpoint.
    by_tenant: HashMap<String, HashMap<String, Endpoint>>,
    revision: u64,
}

/// The watch-fed copy.
#[derive(Clone)]
pub struct EndpointCache {
    inner: Arc<RwLock<Inner>>,
    moved: Arc<Notify>,
    /// Start of the last check the copy caught up with.
    fresh_since: Arc<tokio::sync::Mutex<tokio::time::Instant>>,
    /// Held by the one check in flight (the same instant, written under it).
    checking: Arc<tokio::sync::Mutex<tokio::time::Instant>>,
}

impl Default for EndpointCache {
    fn default() -> Self {
        // "Never checked": a time before any event is received.
        let long_ago = tokio::time::Instant::now() - Duration::from_secs(3600);
        EndpointCache {
            inner: Arc::default(),
            moved: Arc::default(),
            fresh_since: Arc::new(tokio::sync::Mutex::new(long_ago)),
            checking: Arc::new(tokio::sync::Mutex::new(long_ago)),
        }
    }
}

impl std::fmt::Debug for EndpointCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EndpointCache")
    }
}

impl EndpointCache {
    fn apply(&self, e: &kv::Entry) {
        let tenant = e.key.split_once('.').map_or("", |(t, _)| t).to_owned();
        let mut inner = self.inner.write().expect("endpoint cache poisoned");
        let map = inner.by_tenant.entry(tenant).or_default();
        match (&e.operation, serde_json::from_slice::<Endpoint>(&e.value)) {
            (kv::Operation::Put, Ok(ep)) => {
                map.insert(e.key.clone(), ep);
            }
            (kv::Operation::Put, Err(err)) => {
                tracing::warn!(key = %e.key, error = %err, "unreadable webhook endpoint ignored");
                map.remove(&e.key);
            }
            _ => {
                map.remove(&e.key);
            }
        }
        inner.revision = inner.revision.max(e.revision);
        drop(inner);
        self.moved.notify_waiters();
    }

    /// Follows the bucket (every key's last value, then each change) until `shutdown`.
    pub async fn follow(self, kv: kv::Store, shutdown: CancellationToken) {
        loop {
            let watch = tokio::select! {
                _ = shutdown.cancelled() => return,
                w = kv.watch_with_history(">") => w,
            };
            match watch {
                Ok(mut w) => loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        next = w.next() => match next {
                            Some(Ok(entry)) => self.apply(&entry),
                            Some(Err(e)) => {
                                tracing::warn!(error = %e, "endpoint watch failed; restarting");
                                break;
                            }
                            None => break,
                        },
                    }
                },
                Err(e) => tracing::warn!(error = %e, "endpoint watch not started"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// The tenant's endpoints as of no earlier than `received` (when the event was in hand):
    /// the copy is used once a check of the bucket's last revision, started after `received`,
    /// has been caught up with. One check covers every event received before it started, so
    /// concurrent fan-outs share it. `None` if that cannot be told in time (list from KV).
    pub async fn endpoints_of(
        &self,
        kv: &kv::Store,
        tenant: &TenantId,
        received: tokio::time::Instant,
    ) -> Option<Vec<Endpoint>> {
        if *self.fresh_since.lock().await <= received {
            let mut fresh = self.checking.lock().await;
            if *fresh <= received {
                let started = tokio::time::Instant::now();
                self.catch_up(kv).await?;
                *fresh = started;
                *self.fresh_since.lock().await = started;
            }
        }
        let inner = self.inner.read().expect("endpoint cache poisoned");
        let mut out: Vec<Endpoint> = inner
            .by_tenant
            .get(tenant.as_str())
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Some(out)
    }

    /// Waits until the copy has applied the bucket's last revision (read now).
    async fn catch_up(&self, kv: &kv::Store) -> Option<()> {
        let last = kv.status().await.ok()?.info.state.last_sequence;
        let deadline = tokio::time::Instant::now() + CATCH_UP;
        loop {
            let moved = self.moved.notified();
            if self.inner.read().expect("endpoint cache poisoned").revision >= last {
                return Some(());
            }
            tokio::time::timeout_at(deadline, moved).await.ok()?;
        }
    }
}
