//! Where one attempt's outputs go and when they go live ([`framelog_core::media::versions`]).
//!
//! Each attempt writes under its own version prefix `hls/<tenant>/<video>/v/<version>/`, so no
//! file name is ever reused by another attempt. The master and the storyboard name their files
//! from the video's root (`v/<version>/360p/playlist.m3u8`, `v/<version>/sprites.jpg`): playback
//! serves them at the stable URLs (`/hls/<token>/<video>/master.m3u8`) by following the
//! pointer, and every other URL a player then fetches names the version itself.
//!
//! The early rung moves the pointer only while no complete version exists; the whole ladder
//! moves it by compare-and-set, retires the version it replaces and removes it after the grace
//! period. That timer lives in this process; what a restart or a crash leaves (a retired
//! version, a version never made live) is collected by the sweeper from the notes of
//! [`crate::version_gc`], written before any file is stored.

use std::path::Path;
use std::time::Duration;

use framelog_core::media::versions::{self, Published};
use framelog_core::media::{SharedMediaStore, hls_prefix};
use framelog_core::service::ServiceContext;
use time::OffsetDateTime;
use tracing::instrument;

use crate::error::JobError;
use crate::outputs::Deletion;
use crate::playlist::{AudioMedia, Variant};
use crate::version_gc::Journal;

/// One attempt's version of a video's outputs.
#[derive(Debug, Clone)]
pub struct Version {
    /// The video's prefix (`hls/<tenant>/<video>`): the pointer's key.
    pub video_prefix: String,
    /// This attempt's version id.
    pub id: String,
    /// Where this attempt's files go.
    pub prefix: String,
    /// Where stored versions are noted for the sweeper ([`crate::version_gc`]); none: only
    /// this process's timer collects what this version retires.
    pub journal: Option<Journal>,
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

impl Version {
    /// A fresh version of `tenant`'s `video`.
    pub fn new(tenant: &str, video: &str) -> Version {
        let video_prefix = hls_prefix(tenant, video);
        let id = versions::new_version_id();
        let prefix = versions::version_prefix(&video_prefix, &id);
        Version { video_prefix, id, prefix, journal: None }
    }

    /// The existing version `id` of `tenant`'s `video` (a work item stores files into it).
    pub fn named(tenant: &str, video: &str, id: &str) -> Version {
        let video_prefix = hls_prefix(tenant, video);
        let prefix = versions::version_prefix(&video_prefix, id);
        Version { video_prefix, id: id.to_owned(), prefix, journal: None }
    }

    /// A fresh version whose stored files are noted for the sweeper (without notes if the
    /// bucket cannot be opened: logged).
    pub async fn noted(ctx: &ServiceContext, tenant: &str, video: &str) -> Version {
        let v = Version::new(tenant, video);
        let replicas = ctx.platform.settings.replicas;
        match Journal::open(&ctx.platform.js, replicas).await {
            Ok(j) => v.with_journal(j),
            Err(e) => {
                tracing::warn!(error = %e, "version notes unavailable: only this process collects");
                v
            }
        }
    }

    /// The version of one request (the same for every attempt of it, so ranges encoded by an
    /// earlier attempt of a chunked job are kept), noted for the sweeper like [`Version::noted`].
    /// Its id sorts like [`versions::new_version_id`]: the request's time in milliseconds, then
    /// a hash of its id.
    pub async fn for_request(
        ctx: &ServiceContext,
        tenant: &str,
        video: &str,
        request: &framelog_events::Event,
    ) -> Version {
        let mut v = Version::noted(ctx, tenant, video).await;
        v.id = request_version_id(request);
        v.prefix = versions::version_prefix(&v.video_prefix, &v.id);
        v
    }

    /// This version, noting what it stores (and what it may retire) in `journal`.
    pub fn with_journal(self, journal: Journal) -> Version {
        Version { journal: Some(journal), ..self }
    }

    /// Notes this version and the live one it may retire, before any file is stored, so that
    /// the sweeper collects them whatever crashes next. A failed note is logged, not fatal:
    /// only collection depends on it.
    async fn note(&self, media: &SharedMediaStore) {
        let Some(journal) = &self.journal else { return };
        let mut ids = vec![self.id.clone()];
        match media.current(&self.video_prefix).await {
            Ok(Some(cur)) if cur.pointer.version != self.id => ids.push(cur.pointer.version),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "the live version could not be read to note it"),
        }
        for id in ids {
            if let Err(e) = journal.note(&self.video_prefix, &id, now()).await {
                tracing::warn!(version = %id, error = %e,
                    "version not noted: the sweeper will not collect it");
            }
        }
    }

    /// `uri` (relative to the version) as named from the video's root.
    pub fn rooted(&self, uri: &str) -> String {
        format!("{}/{}/{uri}", versions::VERSIONS_DIR, self.id)
    }

    /// A variant as the master names it.
    pub fn variant(&self, v: &Variant) -> Variant {
        Variant { uri: self.rooted(&v.uri), ..v.clone() }
    }

    /// The audio rendition as the master names it.
    pub fn audio(&self, a: &AudioMedia) -> AudioMedia {
        AudioMedia { uri: self.rooted(&a.uri), ..a.clone() }
    }

    /// Whether an early rung may go live: no complete version is live yet.
    pub async fn early_allowed(&self, media: &SharedMediaStore) -> Result<bool, JobError> {
        let cur = media.current(&self.video_prefix).await?;
        Ok(!cur.is_some_and(|c| c.pointer.complete))
    }

    /// Stores `src` as this version (unless the video is deleted) and moves the pointer to it
    /// if the rules allow (`complete`: the whole output). Returns whether it is live.
    #[instrument(skip_all, fields(version = %self.id, complete), err)]
    pub async fn publish(
        &self,
        deletion: &Deletion,
        media: &SharedMediaStore,
        src: &Path,
        complete: bool,
        grace_secs: u64,
    ) -> Result<bool, JobError> {
        self.note(media).await;
        deletion.put_dir(&self.prefix, src).await?;
        let live = self.point(media, complete, grace_secs).await?;
        if complete && !live {
            // A newer complete version is live: this one was never visible.
            tracing::info!("a newer version is live: this attempt's outputs are dropped");
            media.delete_prefix(&self.prefix).await?;
        }
        Ok(live)
    }

    /// Stores one local file as `<version>/<rel>` (moved in; unless the video is deleted). The
    /// version is noted for the sweeper once, before its first file ([`Version::note_stored`]).
    pub async fn store_file(
        &self,
        deletion: &Deletion,
        media: &SharedMediaStore,
        rel: &str,
        local: &Path,
    ) -> Result<u64, JobError> {
        deletion.check().await?;
        Ok(media.put_file(&format!("{}/{rel}", self.prefix), local).await?)
    }

    /// Notes this version for the sweeper (before its first file is stored).
    pub async fn note_stored(&self, media: &SharedMediaStore) {
        self.note(media).await;
    }

    /// Moves the pointer to this version, whose files are already stored one by one, if the
    /// rules allow (`complete`: the whole output). Returns whether it is live. Unlike
    /// [`Version::publish`], a newer complete version being live does not remove this one's
    /// files here (the sweeper collects it from its note).
    pub async fn go_live(
        &self,
        deletion: &Deletion,
        media: &SharedMediaStore,
        complete: bool,
        grace_secs: u64,
    ) -> Result<bool, JobError> {
        deletion.check().await?;
        self.point(media, complete, grace_secs).await
    }

    /// Moves the pointer to this version if [`versions::advance`] allows (collecting what a
    /// complete version retires); whether this version is live.
    async fn point(
        &self,
        media: &SharedMediaStore,
        complete: bool,
        grace_secs: u64,
    ) -> Result<bool, JobError> {
        let moved =
            versions::publish(media.as_ref(), &self.video_prefix, &self.id, complete, now())
                .await?;
        match moved {
            Published::Moved(_) => {
                if complete {
                    self.collect_later(media.clone(), grace_secs).await;
                }
                Ok(true)
            }
            Published::Kept(p) => Ok(p.is_some_and(|p| p.version == self.id)),
        }
    }

    /// Removes the retired versions already due, and those retired now once the grace period
    /// has passed (a task of this process; the sweeper removes what a restart left).
    async fn collect_later(&self, media: SharedMediaStore, grace_secs: u64) {
        let grace = i64::try_from(grace_secs).unwrap_or(i64::MAX);
        let prefix = self.video_prefix.clone();
        if let Err(e) = versions::collect(media.as_ref(), &prefix, now(), grace).await {
            tracing::warn!(error = %e, "old versions not removed");
        }
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(grace_secs)).await;
            match versions::collect(media.as_ref(), &prefix, now(), grace).await {
                Ok(gone) => tracing::info!(prefix, ?gone, "retired versions removed"),
                Err(e) => tracing::warn!(prefix, error = %e, "retired versions not removed"),
            }
        });
    }
}

/// The version id of `request`: its time in milliseconds (12 hex digits, like a UUIDv7's) and
/// 20 hex digits of a hash of its id, so ids of later requests sort after earlier ones.
pub fn request_version_id(request: &framelog_events::Event) -> String {
    use sha2::Digest;
    let ms = request.time.unix_timestamp_nanos() / 1_000_000;
    let ms = u64::try_from(ms).unwrap_or(0) & 0xffff_ffff_ffff;
    let hash = sha2::Sha256::digest(request.id.to_string().as_bytes());
    format!("{ms:012x}{}", &hex::encode(hash)[..20])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_master_names_files_from_the_videos_root() {
        let v = Version::new("acme", "vid_1");
        assert!(v.prefix.starts_with("hls/acme/vid_1/v/"));
        assert_eq!(v.rooted("360p/playlist.m3u8"), format!("v/{}/360p/playlist.m3u8", v.id));
        assert_eq!(
            format!("{}/{}", v.video_prefix, v.rooted("a.m4s")),
            format!("{}/a.m4s", v.prefix)
        );
        assert_ne!(Version::new("acme", "vid_1").id, v.id, "one version per attempt");
    }
}
