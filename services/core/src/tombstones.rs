//! Tombstones: deletes are final. `DELETE /v1/videos/{id}` writes one into the KV bucket
//! [`KV_TOMBSTONES`] (key `<tenant>.<video>`) before it answers, and every replica of every
//! service checks it: the transcoder before it publishes an output or an event that says a
//! video plays, playback before it serves any file of a video.
//!
//! A tombstone is never removed (video ids are random UUIDv7s and never reused), so a replica
//! may keep every one it has seen: [`Tombstones::follow`] fills a local set from a watch of the
//! bucket, and [`Tombstones::is_buried_cached`] answers from it with no IO once the watch has
//! replayed the bucket (before that, it reads KV). [`Tombstones::is_buried`] is the
//! authoritative check (one KV read on a miss) for work that is about to write.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures::StreamExt;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// KV bucket: `<tenant>.<video>` -> when the video was deleted (RFC 3339).
pub const KV_TOMBSTONES: &str = "framelog_tombstones";
/// KV bucket of playback's public marks (video id -> tenant); a delete drops the mark.
pub const KV_PUBLIC_VIDEOS: &str = "framelog_public_videos";

/// A tombstone read or write that failed (NATS unreachable, bucket missing).
#[derive(Debug, thiserror::Error)]
#[error("tombstones unavailable: {0}")]
pub struct TombstoneError(String);

fn err(e: impl std::fmt::Display) -> TombstoneError {
    TombstoneError(e.to_string())
}

/// The key of a video's tombstone. Ids never contain `.` (see `framelog_events::id`), so the
/// key splits back unambiguously.
pub fn key(tenant: &str, video: &str) -> String {
    format!("{tenant}.{video}")
}

/// The (tenant, video) of a tombstone key, if it is one.
pub fn parse_key(key: &str) -> Option<(&str, &str)> {
    let (tenant, video) = key.split_once('.')?;
    let valid = |s: &str| framelog_events::id::validate_id(s).is_ok();
    (valid(tenant) && valid(video)).then_some((tenant, video))
}

/// A tombstone seen by [`Tombstones::follow`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buried {
    pub tenant: String,
    pub video: String,
    /// Written after the watch replayed the bucket (a delete happening now), as opposed to one
    /// replayed at start.
    pub live: bool,
}

/// The tombstones of one process; cheap to clone.
#[derive(Clone)]
pub struct Tombstones {
    kv: kv::Store,
    known: Arc<RwLock<HashSet<String>>>,
    /// Whether `known` holds every tombstone written before the watch started.
    ready: Arc<AtomicBool>,
}

impl std::fmt::Debug for Tombstones {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tombstones").field("ready", &self.is_ready()).finish_non_exhaustive()
    }
}

impl Tombstones {
    /// Opens the bucket (declared by the topology, [`crate::nats::ensure_topology`]).
    pub async fn open(js: &jetstream::Context) -> Result<Tombstones, TombstoneError> {
        let kv = js.get_key_value(KV_TOMBSTONES).await.map_err(err)?;
        Ok(Tombstones { kv, known: Arc::default(), ready: Arc::default() })
    }

    /// Whether the local set is complete (the watch has replayed the bucket).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Whether this process has seen the tombstone (no IO).
    pub fn knows(&self, tenant: &str, video: &str) -> bool {
        self.known.read().expect("tombstones poisoned").contains(&key(tenant, video))
    }

    fn remember(&self, key: String) -> bool {
        self.known.write().expect("tombstones poisoned").insert(key)
    }

    /// Writes the tombstone of `video` (idempotent).
    #[tracing::instrument(skip(self), err)]
    pub async fn bury(&self, tenant: &str, video: &str) -> Result<(), TombstoneError> {
        let at = OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        self.kv.put(key(tenant, video), at.into()).await.map_err(err)?;
        self.remember(key(tenant, video));
        Ok(())
    }

    /// The authoritative check: the local set, else one KV read.
    pub async fn is_buried(&self, tenant: &str, video: &str) -> Result<bool, TombstoneError> {
        if self.knows(tenant, video) {
            return Ok(true);
        }
        let k = key(tenant, video);
        let found = match self.kv.entry(k.clone()).await.map_err(err)? {
            Some(e) => e.operation == kv::Operation::Put,
            None => false,
        };
        if found {
            self.remember(k);
        }
        Ok(found)
    }

    /// Resolves once `video` of `tenant` is buried (at once if it already is), for work that
    /// should stop as soon as its video is deleted.
    pub async fn wait_buried(&self, tenant: &str, video: &str) -> Result<(), TombstoneError> {
        let mut w = self.kv.watch_with_history(key(tenant, video)).await.map_err(err)?;
        while let Some(e) = w.next().await {
            let e = e.map_err(err)?;
            if e.operation == kv::Operation::Put {
                self.remember(e.key);
                return Ok(());
            }
        }
        Err(TombstoneError("the tombstone watch ended".into()))
    }

    /// The hot-path check: the local set once it is complete (no IO), else [`Self::is_buried`].
    pub async fn is_buried_cached(
        &self,
        tenant: &str,
        video: &str,
    ) -> Result<bool, TombstoneError> {
        if self.knows(tenant, video) {
            return Ok(true);
        }
        if self.is_ready() {
            return Ok(false);
        }
        self.is_buried(tenant, video).await
    }

    /// Follows the bucket until `shutdown`, calling `on_buried` once per tombstone this process
    /// had not seen (replayed ones first, with `live: false`). Restarts the watch after an
    /// error, keeping what it knows (tombstones are never removed).
    pub async fn follow<F, Fut>(self, shutdown: CancellationToken, mut on_buried: F)
    where
        F: FnMut(Buried) -> Fut,
        Fut: Future<Output = ()>,
    {
        loop {
            match self.kv.watch_with_history(">").await {
                Ok(mut w) => {
                    // Whether this watch has replayed the bucket (each restart replays it
                    // again: those entries are not new deletes). An empty bucket replays
                    // nothing: the (empty) set is complete at once.
                    let mut caught_up = self.kv.status().await.is_ok_and(|s| s.values() == 0);
                    if caught_up {
                        self.ready.store(true, Ordering::Release);
                    }
                    loop {
                        let entry = tokio::select! {
                            _ = shutdown.cancelled() => return,
                            e = w.next() => e,
                        };
                        match entry {
                            Some(Ok(e)) => {
                                let live = caught_up;
                                if e.delta == 0 {
                                    caught_up = true;
                                    self.ready.store(true, Ordering::Release);
                                }
                                if e.operation != kv::Operation::Put {
                                    continue;
                                }
                                let Some((tenant, video)) = parse_key(&e.key) else { continue };
                                let buried = Buried {
                                    tenant: tenant.to_owned(),
                                    video: video.to_owned(),
                                    live,
                                };
                                if self.remember(e.key.clone()) || live {
                                    on_buried(buried).await;
                                }
                            }
                            Some(Err(e)) => {
                                tracing::warn!(error = %e, "tombstone watch failed");
                                break;
                            }
                            None => break,
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "tombstone watch not started"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}

/// Drops the public mark of `video` if `tenant` holds it (nothing when the bucket does not
/// exist yet: playback creates it with the first mark).
#[tracing::instrument(skip(js), err)]
pub async fn drop_public_mark(
    js: &jetstream::Context,
    tenant: &str,
    video: &str,
) -> Result<(), TombstoneError> {
    use jetstream::ErrorCode;
    use jetstream::context::GetStreamErrorKind;
    match js.get_stream(format!("KV_{KV_PUBLIC_VIDEOS}")).await {
        Ok(_) => {}
        Err(e)
            if matches!(e.kind(), GetStreamErrorKind::JetStream(j)
            if j.error_code() == ErrorCode::STREAM_NOT_FOUND) =>
        {
            return Ok(());
        }
        Err(e) => return Err(err(e)),
    }
    let store = js.get_key_value(KV_PUBLIC_VIDEOS).await.map_err(err)?;
    if store.get(video).await.map_err(err)?.as_deref() == Some(tenant.as_bytes()) {
        store.delete(video).await.map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_names_tenant_and_video_and_splits_back() {
        let k = key("acme", "vid_0193abc");
        assert_eq!(k, "acme.vid_0193abc");
        assert_eq!(parse_key(&k), Some(("acme", "vid_0193abc")));
    }

    #[test]
    fn keys_that_are_not_tombstones_are_ignored() {
        for bad in ["", "acme", "acme.", ".vid", "acme.v.x", "ac me.vid", "acme.*", "acme.>"] {
            assert_eq!(parse_key(bad), None, "{bad:?}");
        }
    }
}
