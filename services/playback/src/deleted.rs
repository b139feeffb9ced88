//! Deleted videos: every URL of a video with a tombstone ([`framelog_core::tombstones`]) answers
//! 404 — signed, public, playlists, segments, poster, storyboard — on every replica, whether
//! or not it handled the delete.
//!
//! The check ([`refuse`]) reads a local set fed by a watch of the tombstone bucket, so the hot
//! path makes no NATS round trip (until the watch has replayed the bucket at start, it reads
//! KV). When a tombstone arrives ([`follow`]), the replica also evicts the video's segments
//! from its memory cache, removes its local copies (stores without local paths) and forgets
//! its public mark (and removes it from KV, should the delete's own removal have raced with a
//! new mark).

use std::path::Path;

use framelog_core::ApiError;
use framelog_core::media::hls_prefix;
use framelog_core::tombstones::Buried;
use tokio_util::sync::CancellationToken;

use crate::state::PlaybackState;

/// `Err(404)` if `video` of `tenant` is deleted (503 if that cannot be known yet).
pub async fn refuse(st: &PlaybackState, tenant: &str, video: &str) -> Result<(), ApiError> {
    match st.tombstones.is_buried_cached(tenant, video).await {
        Ok(false) => Ok(()),
        Ok(true) => Err(ApiError::not_found("video")),
        Err(e) => Err(ApiError::unavailable(e.to_string())),
    }
}

/// Follows the tombstones until `shutdown`, forgetting each deleted video.
pub async fn follow(st: PlaybackState, shutdown: CancellationToken) {
    let graves = st.tombstones.clone();
    graves.follow(shutdown, |b| forget(&st, b)).await;
}

/// Drops what this replica holds of a deleted video.
async fn forget(st: &PlaybackState, b: Buried) {
    let prefix = hls_prefix(&b.tenant, &b.video);
    let fetched = st.fetch_dir.join(&prefix);
    let mut evicted = st.cache.evict_under(&fetched);
    if let Some(dir) = st.media.local_path(&prefix) {
        evicted += st.cache.evict_under(&dir);
    }
    remove_dir(&fetched).await;
    st.public.forget(&b.video);
    if b.live
        && let Err(e) = st.public.unmark(&b.tenant, &b.video).await
    {
        tracing::warn!(error = %e, video = %b.video, "public mark of a deleted video not removed");
    }
    if b.live
        && let Err(e) = st.images.posters.forget(&b.tenant, &b.video).await
    {
        tracing::warn!(error = %e, video = %b.video, "poster time of a deleted video not removed");
    }
    tracing::debug!(tenant = %b.tenant, video = %b.video, evicted, "deleted video forgotten");
}

async fn remove_dir(dir: &Path) {
    match tokio::fs::remove_dir_all(dir).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(error = %e, dir = %dir.display(), "local copies not removed"),
    }
}
