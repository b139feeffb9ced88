//! Versioned outputs (DESIGN §7): each transcode attempt writes its files under its own
//! prefix `<prefix>/v/<version>/`, and a pointer (behind [`MediaStore::current`] /
//! [`MediaStore::set_current`], moved only by compare-and-set) names the live version.
//!
//! So no path is ever written by two attempts (segments are immutable for real), a reader
//! never sees a half-written version (the pointer moves after every file is stored), and a
//! ready video is never replaced by a retry's early rung: [`advance`] lets an incomplete
//! version replace only an incomplete one. A version the pointer leaves is *retired* with a
//! timestamp and removed by [`collect`] once a grace period has passed, so players
//! mid-stream keep their segments.
//!
//! The rules ([`advance`], [`due`]) are pure; [`publish`] and [`collect`] run them against a
//! store, retrying when another writer moved the pointer meanwhile.

use serde::{Deserialize, Serialize};

use super::{MediaError, MediaStore};

/// The directory under a video's prefix that holds its versions.
pub const VERSIONS_DIR: &str = "v";

/// What the pointer of a versioned prefix says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pointer {
    /// The live version (its files are under [`version_prefix`]).
    pub version: String,
    /// Whether it is the whole output (false: the lowest rung published early).
    pub complete: bool,
    /// Versions the pointer left, still stored until their grace period ends.
    #[serde(default)]
    pub retired: Vec<Retired>,
}

/// A version no longer live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retired {
    pub version: String,
    /// Unix seconds when the pointer left it.
    pub at: i64,
}

/// A pointer as read, with the revision a compare-and-set must name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub pointer: Pointer,
    pub revision: u64,
}

/// A fresh version id: a UUIDv7 in hex, unique per attempt and ordered by creation time.
pub fn new_version_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// Where the files of `version` of `prefix` live.
pub fn version_prefix(prefix: &str, version: &str) -> String {
    format!("{prefix}/{VERSIONS_DIR}/{version}")
}

/// The pointer after publishing `version` (`complete` or not) at `now`, or `None` if the
/// pointer must stay: an incomplete version never replaces a complete one, and a complete
/// version never replaces a newer complete one (a late attempt of an older request).
pub fn advance(
    current: Option<&Pointer>,
    version: &str,
    complete: bool,
    now: i64,
) -> Option<Pointer> {
    let Some(cur) = current else {
        return Some(Pointer { version: version.to_owned(), complete, retired: Vec::new() });
    };
    if cur.complete && (!complete || cur.version.as_str() > version) {
        return None;
    }
    if cur.version == version && cur.complete == complete {
        return None;
    }
    let mut retired = cur.retired.clone();
    if cur.version != version {
        retired.push(Retired { version: cur.version.clone(), at: now });
    }
    Some(Pointer { version: version.to_owned(), complete, retired })
}

/// Retired versions whose grace period (seconds) has passed at `now`.
pub fn due(pointer: &Pointer, now: i64, grace_secs: i64) -> Vec<String> {
    pointer
        .retired
        .iter()
        .filter(|r| r.at.saturating_add(grace_secs) <= now && r.version != pointer.version)
        .map(|r| r.version.clone())
        .collect()
}

/// What [`publish`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// The pointer now names the version.
    Moved(Pointer),
    /// The pointer stays on another version (or already named this one).
    Kept(Option<Pointer>),
}

/// Moves the pointer of `prefix` to `version` if [`advance`] allows, by compare-and-set
/// (re-reading and deciding again when another writer moved it meanwhile).
pub async fn publish(
    store: &dyn MediaStore,
    prefix: &str,
    version: &str,
    complete: bool,
    now: i64,
) -> Result<Published, MediaError> {
    loop {
        let cur = store.current(prefix).await?;
        let Some(next) = advance(cur.as_ref().map(|c| &c.pointer), version, complete, now) else {
            return Ok(Published::Kept(cur.map(|c| c.pointer)));
        };
        match store.set_current(prefix, &next, cur.map(|c| c.revision)).await {
            Ok(_) => return Ok(Published::Moved(next)),
            Err(MediaError::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Removes the retired versions of `prefix` whose grace period has passed, then forgets them
/// in the pointer. Returns the versions removed.
pub async fn collect(
    store: &dyn MediaStore,
    prefix: &str,
    now: i64,
    grace_secs: i64,
) -> Result<Vec<String>, MediaError> {
    loop {
        let Some(cur) = store.current(prefix).await? else { return Ok(Vec::new()) };
        let gone = due(&cur.pointer, now, grace_secs);
        if gone.is_empty() {
            return Ok(gone);
        }
        for v in &gone {
            store.delete_prefix(&version_prefix(prefix, v)).await?;
        }
        let mut next = cur.pointer.clone();
        next.retired.retain(|r| !gone.contains(&r.version));
        match store.set_current(prefix, &next, Some(cur.revision)).await {
            Ok(_) => return Ok(gone),
            // Moved meanwhile: decide again (removing a removed version is harmless).
            Err(MediaError::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ptr(version: &str, complete: bool) -> Pointer {
        Pointer { version: version.into(), complete, retired: Vec::new() }
    }

    #[test]
    fn the_first_version_is_published_early_then_completed_in_place() {
        let early = advance(None, "a", false, 10).unwrap();
        assert_eq!(early, ptr("a", false));
        let done = advance(Some(&early), "a", true, 20).unwrap();
        assert_eq!(done, ptr("a", true), "same version: nothing retired");
        assert_eq!(advance(Some(&done), "a", true, 30), None, "already there");
    }

    #[test]
    fn a_retry_of_a_ready_video_never_shows_its_early_rung() {
        let ready = ptr("a", true);
        assert_eq!(advance(Some(&ready), "b", false, 10), None);
        let next = advance(Some(&ready), "b", true, 50).unwrap();
        assert_eq!(next.version, "b");
        assert_eq!(next.retired, [Retired { version: "a".into(), at: 50 }]);
    }

    #[test]
    fn an_older_complete_version_never_replaces_a_newer_one() {
        let ready = ptr("b", true);
        assert_eq!(advance(Some(&ready), "a", true, 10), None);
        let early = ptr("b", false);
        assert_eq!(advance(Some(&early), "a", true, 10).unwrap().version, "a", "complete wins");
    }

    #[test]
    fn an_incomplete_version_replaces_an_incomplete_one_and_retires_it() {
        let next = advance(Some(&ptr("a", false)), "b", false, 7).unwrap();
        assert_eq!((next.version.as_str(), next.complete), ("b", false));
        assert_eq!(next.retired, [Retired { version: "a".into(), at: 7 }]);
    }

    #[test]
    fn retired_versions_are_due_only_after_the_grace_period() {
        let mut p = ptr("c", true);
        p.retired = vec![
            Retired { version: "a".into(), at: 100 },
            Retired { version: "b".into(), at: 200 },
        ];
        assert!(due(&p, 150, 60).is_empty());
        assert_eq!(due(&p, 160, 60), ["a"]);
        assert_eq!(due(&p, 260, 60), ["a", "b"]);
    }

    #[test]
    fn version_ids_are_unique_valid_keys_ordered_by_creation() {
        let (a, b) = (new_version_id(), new_version_id());
        assert_ne!(a, b);
        assert!(a < b, "{a} then {b}");
        assert!(super::super::validate_key(&version_prefix("hls/t/v", &a)).is_ok());
    }
}
