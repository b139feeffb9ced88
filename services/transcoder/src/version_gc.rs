//! Collecting old output versions durably, whatever crashed.
//!
//! A version's files exist from the moment an attempt stores them; the pointer
//! ([`framelog_core::media::versions`]) may never name them (the attempt died between storing
//! and moving it, or its early rung was kept out), or names them only until a newer version
//! retires them. The in-process timer of [`crate::publish`] removes a retired version when
//! its grace period ends, but a restart loses that timer. So every version an attempt stores
//! is first *noted* in the KV bucket [`KV_VERSIONS`] (key: the version's prefix
//! `hls/<tenant>/<video>/v/<version>`, value: when it was noted), and so is the live version
//! it may retire; the sweeper ([`collect_versions`], one replica at a time under its lock)
//! then [`judge`]s each noted version against the pointer:
//!
//! - named live and complete: nothing to collect, the note is dropped (a later publish notes
//!   it again before it can retire it);
//! - named live but incomplete (an early rung), or its attempt still holds the video's lease:
//!   kept;
//! - retired: removed with the pointer's other due versions once its grace period (from the
//!   pointer's retirement time, which survives restarts) has passed;
//! - named by nothing (an orphan): removed once noted longer ago than the grace period and no
//!   attempt holds the video's lease (a running attempt could still move the pointer to it;
//!   a dead one never can: every attempt writes a version of its own).
//!
//! Versions stored before this note existed are not known to it.

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use framelog_core::media::SharedMediaStore;
use framelog_core::media::versions::{self, Pointer};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::lease::{self, Leases};

/// KV bucket noting every stored output version not yet known collected or live.
pub const KV_VERSIONS: &str = "framelog_transcode_versions";

/// The notes of stored versions; cheap to clone.
#[derive(Clone)]
pub struct Journal {
    kv: kv::Store,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Journal")
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Note {
    /// Unix seconds when the version was noted (just before its files were stored).
    at: i64,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl Journal {
    /// Opens the bucket, creating it with `replicas` copies when missing (an existing bucket
    /// keeps its configuration).
    pub async fn open(js: &jetstream::Context, replicas: usize) -> Result<Journal, String> {
        if let Ok(kv) = js.get_key_value(KV_VERSIONS).await {
            return Ok(Journal { kv });
        }
        let kv = js
            .create_key_value(kv::Config {
                bucket: KV_VERSIONS.into(),
                description: "Framelog: stored output versions to collect when no longer live"
                    .into(),
                history: 1,
                storage: jetstream::stream::StorageType::File,
                num_replicas: replicas.max(1),
                ..Default::default()
            })
            .await;
        match kv {
            Ok(kv) => Ok(Journal { kv }),
            // Created by another replica meanwhile.
            Err(_) => js.get_key_value(KV_VERSIONS).await.map(|kv| Journal { kv }).map_err(err),
        }
    }

    /// Notes that `version` of the video at `video_prefix` is (about to be) stored, at `at`.
    pub async fn note(&self, video_prefix: &str, version: &str, at: i64) -> Result<(), String> {
        let key = versions::version_prefix(video_prefix, version);
        let value = serde_json::to_vec(&Note { at }).map_err(err)?;
        self.kv.put(key, value.into()).await.map(|_| ()).map_err(err)
    }

    async fn forget(&self, key: &str) -> Result<(), String> {
        self.kv.purge(key).await.map_err(err)
    }
}

/// What the sweeper does with a noted version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Live (incomplete), retired within its grace, or an orphan too young or still leased.
    Keep,
    /// Live and complete: the note is dropped, the files stay.
    Forget,
    /// Retired and due: removed with the pointer's other due versions.
    CollectRetired,
    /// Named by nothing, old enough, no attempt running: removed.
    RemoveOrphan,
}

/// Decides for `version`, noted at `noted_at`, given the video's pointer (pure).
pub fn judge(
    version: &str,
    noted_at: i64,
    pointer: Option<&Pointer>,
    lease_live: bool,
    now: i64,
    grace_secs: i64,
) -> Verdict {
    if let Some(p) = pointer {
        if p.version == version {
            return if p.complete { Verdict::Forget } else { Verdict::Keep };
        }
        if p.retired.iter().any(|r| r.version == version) {
            let due = versions::due(p, now, grace_secs).iter().any(|v| v == version);
            return if due { Verdict::CollectRetired } else { Verdict::Keep };
        }
    }
    if lease_live || noted_at.saturating_add(grace_secs) > now {
        return Verdict::Keep;
    }
    Verdict::RemoveOrphan
}

/// What one collection did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collected {
    /// Versions whose files were removed.
    pub removed: usize,
    /// Notes dropped for live, complete versions.
    pub forgotten: usize,
    /// Notes kept for later.
    pub kept: usize,
}

/// `hls/<tenant>/<video>/v/<version>` → (video prefix, tenant, video, version).
fn parse(key: &str) -> Option<(&str, &str, &str, &str)> {
    let (video_prefix, version) = key.rsplit_once(&format!("/{}/", versions::VERSIONS_DIR))?;
    let mut parts = video_prefix.split('/');
    let (Some("hls"), Some(tenant), Some(video), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    Some((video_prefix, tenant, video, version))
}

/// Judges every noted version and acts (see the module doc).
pub async fn collect_versions(
    journal: &Journal,
    media: &SharedMediaStore,
    leases: &Leases,
    now: i64,
    grace: Duration,
) -> Result<Collected, String> {
    let grace_secs = i64::try_from(grace.as_secs()).unwrap_or(i64::MAX);
    let mut keys = journal.kv.keys().await.map_err(err)?;
    let mut noted = Vec::new();
    while let Some(k) = keys.next().await {
        noted.push(k.map_err(err)?);
    }
    let mut out = Collected::default();
    for key in noted {
        let Some((video_prefix, tenant, video, version)) = parse(&key) else {
            journal.forget(&key).await?;
            continue;
        };
        let Some(value) = journal.kv.get(&key).await.map_err(err)? else { continue };
        let at = serde_json::from_slice::<Note>(&value).map_or(0, |n| n.at);
        let pointer = media.current(video_prefix).await.map_err(err)?.map(|c| c.pointer);
        let lease_live = match leases.read(&lease::key(tenant, video)).await.map_err(err)?.0 {
            Some(r) => r.holder.is_some_and(|h| h.live(lease::now_ms())),
            None => false,
        };
        match judge(version, at, pointer.as_ref(), lease_live, now, grace_secs) {
            Verdict::Keep => out.kept += 1,
            Verdict::Forget => {
                journal.forget(&key).await?;
                out.forgotten += 1;
            }
            Verdict::CollectRetired => {
                let gone = versions::collect(media.as_ref(), video_prefix, now, grace_secs)
                    .await
                    .map_err(err)?;
                tracing::info!(%video_prefix, ?gone, "retired versions removed by the sweeper");
                journal.forget(&key).await?;
                out.removed += 1;
            }
            Verdict::RemoveOrphan => {
                media.delete_prefix(&key).await.map_err(err)?;
                journal.forget(&key).await?;
                tracing::info!(prefix = %key, "an orphaned version (never live) removed");
                out.removed += 1;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use framelog_core::media::versions::Retired;

    fn ptr(version: &str, complete: bool, retired: &[(&str, i64)]) -> Pointer {
        let retired =
            retired.iter().map(|(v, at)| Retired { version: (*v).into(), at: *at }).collect();
        Pointer { version: version.into(), complete, retired }
    }

    #[test]
    fn the_live_version_is_never_collected() {
        let p = ptr("b", true, &[]);
        assert_eq!(judge("b", 0, Some(&p), false, 1000, 10), Verdict::Forget);
        let early = ptr("b", false, &[]);
        assert_eq!(judge("b", 0, Some(&early), false, 1000, 10), Verdict::Keep);
    }

    #[test]
    fn a_retired_version_goes_after_its_grace_from_the_pointers_retirement_time() {
        let p = ptr("b", true, &[("a", 100)]);
        assert_eq!(judge("a", 0, Some(&p), false, 105, 10), Verdict::Keep, "within grace");
        assert_eq!(judge("a", 0, Some(&p), false, 110, 10), Verdict::CollectRetired);
    }

    #[test]
    fn an_orphan_goes_after_its_grace_unless_an_attempt_still_runs() {
        let p = ptr("b", true, &[]);
        assert_eq!(judge("c", 100, Some(&p), false, 105, 10), Verdict::Keep, "too young");
        assert_eq!(judge("c", 100, Some(&p), true, 500, 10), Verdict::Keep, "leased");
        assert_eq!(judge("c", 100, Some(&p), false, 110, 10), Verdict::RemoveOrphan);
        assert_eq!(judge("c", 100, None, false, 110, 10), Verdict::RemoveOrphan, "no pointer");
    }

    #[test]
    fn note_keys_parse_back_and_strangers_do_not() {
        assert_eq!(
            parse("hls/acme/vid_1/v/0193abc"),
            Some(("hls/acme/vid_1", "acme", "vid_1", "0193abc"))
        );
        assert_eq!(parse("hls/acme/v/0193abc"), None);
        assert_eq!(parse("sources/acme/vid_1/v/x"), None);
        assert_eq!(parse("nothing"), None);
    }
}
