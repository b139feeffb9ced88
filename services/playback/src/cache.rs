//! A bounded in-memory cache of hot immutable VOD files (segments, init segments).
//!
//! Many viewers of one video fetch the same few segments; holding them as shared [`Bytes`] lets
//! a response go out with no file IO and no copy (every response clones a reference). Entries
//! are checked against the file (size, mtime, inode) at most once per `revalidate` interval, so
//! a deleted or re-published video stops being served from memory within that delay. Eviction
//! is least-recently-used by a logical clock, done in one pass down to 90 % of the budget.
//! Playlists and live files are never cached here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::serve::FileMeta;

/// Largest file kept in memory.
pub const MAX_ENTRY: u64 = 16 * 1024 * 1024;

/// What the cache knows about a path.
#[derive(Debug)]
pub enum Lookup {
    /// Cached and checked recently: serve it.
    Fresh(Bytes, Arc<FileMeta>),
    /// Cached but due for a check against the file.
    Stale(Bytes, Arc<FileMeta>),
    /// Not cached.
    Miss,
}

#[derive(Debug)]
struct Entry {
    bytes: Bytes,
    meta: Arc<FileMeta>,
    checked: Instant,
    used: u64,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<PathBuf, Entry>,
    size: u64,
    clock: u64,
}

/// The segment cache; cheap to clone.
#[derive(Debug, Clone)]
pub struct SegmentCache {
    budget: u64,
    revalidate: Duration,
    inner: Arc<Mutex<Inner>>,
}

impl SegmentCache {
    /// A cache holding up to `budget` bytes (0 disables it).
    pub fn new(budget: u64, revalidate: Duration) -> SegmentCache {
        SegmentCache { budget, revalidate, inner: Arc::default() }
    }

    /// Whether a file of `len` bytes may be cached.
    pub fn admits(&self, len: u64) -> bool {
        len <= MAX_ENTRY.min(self.budget / 4)
    }

    /// Looks `path` up.
    pub fn get(&self, path: &Path) -> Lookup {
        if self.budget == 0 {
            return Lookup::Miss;
        }
        let mut inner = self.inner.lock().expect("segment cache poisoned");
        inner.clock += 1;
        let clock = inner.clock;
        let Some(e) = inner.map.get_mut(path) else { return Lookup::Miss };
        e.used = clock;
        if e.checked.elapsed() < self.revalidate {
            Lookup::Fresh(e.bytes.clone(), e.meta.clone())
        } else {
            Lookup::Stale(e.bytes.clone(), e.meta.clone())
        }
    }

    /// Marks a stale entry as checked now (its file is unchanged).
    pub fn confirm(&self, path: &Path) {
        let mut inner = self.inner.lock().expect("segment cache poisoned");
        if let Some(e) = inner.map.get_mut(path) {
            e.checked = Instant::now();
        }
    }

    /// Forgets `path` (its file is gone or changed).
    pub fn remove(&self, path: &Path) {
        let mut inner = self.inner.lock().expect("segment cache poisoned");
        if let Some(e) = inner.map.remove(path) {
            inner.size -= e.bytes.len() as u64;
        }
    }

    /// Forgets every file under the directory `dir` (its video was deleted). Returns how many.
    pub fn evict_under(&self, dir: &Path) -> usize {
        let mut inner = self.inner.lock().expect("segment cache poisoned");
        let before = inner.map.len();
        let mut freed = 0;
        inner.map.retain(|p, e| {
            let keep = !p.starts_with(dir);
            if !keep {
                freed += e.bytes.len() as u64;
            }
            keep
        });
        inner.size -= freed;
        before - inner.map.len()
    }

    /// Caches `bytes` read from `path`, evicting the least recently used entries if needed.
    pub fn insert(&self, path: PathBuf, bytes: Bytes, meta: Arc<FileMeta>) {
        let len = bytes.len() as u64;
        if self.budget == 0 || !self.admits(len) {
            return;
        }
        let mut inner = self.inner.lock().expect("segment cache poisoned");
        inner.clock += 1;
        let entry = Entry { bytes, meta, checked: Instant::now(), used: inner.clock };
        if let Some(old) = inner.map.insert(path, entry) {
            inner.size -= old.bytes.len() as u64;
        }
        inner.size += len;
        if inner.size > self.budget {
            let target = self.budget / 10 * 9;
            let mut by_age: Vec<(u64, PathBuf)> =
                inner.map.iter().map(|(p, e)| (e.used, p.clone())).collect();
            by_age.sort_unstable_by_key(|(used, _)| *used);
            for (_, p) in by_age {
                if inner.size <= target {
                    break;
                }
                if let Some(e) = inner.map.remove(&p) {
                    inner.size -= e.bytes.len() as u64;
                }
            }
        }
    }

    /// Bytes held.
    pub fn size(&self) -> u64 {
        self.inner.lock().expect("segment cache poisoned").size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(len: u64) -> Arc<FileMeta> {
        Arc::new(FileMeta::synthetic(len))
    }

    #[test]
    fn the_least_recently_used_entries_go_first_when_the_budget_is_exceeded() {
        let c = SegmentCache::new(1000, Duration::from_secs(60));
        for name in ["a", "b", "c", "d"] {
            c.insert(PathBuf::from(name), Bytes::from(vec![0u8; 250]), meta(250));
        }
        assert!(matches!(c.get(Path::new("a")), Lookup::Fresh(..)));
        c.insert(PathBuf::from("e"), Bytes::from(vec![0u8; 250]), meta(250));
        assert!(c.size() <= 900, "{}", c.size());
        assert!(matches!(c.get(Path::new("a")), Lookup::Fresh(..)), "recently used, kept");
        assert!(matches!(c.get(Path::new("b")), Lookup::Miss), "oldest, evicted");
        assert!(matches!(c.get(Path::new("e")), Lookup::Fresh(..)));
    }

    #[test]
    fn an_entry_becomes_stale_after_the_revalidation_interval() {
        let c = SegmentCache::new(1000, Duration::ZERO);
        c.insert(PathBuf::from("a"), Bytes::from_static(b"x"), meta(1));
        assert!(matches!(c.get(Path::new("a")), Lookup::Stale(..)));
        c.remove(Path::new("a"));
        assert!(matches!(c.get(Path::new("a")), Lookup::Miss));
        assert_eq!(c.size(), 0);
    }

    #[test]
    fn evicting_a_directory_forgets_its_files_and_nothing_else() {
        let c = SegmentCache::new(1000, Duration::from_secs(60));
        for name in ["m/hls/t/v/360p/a.m4s", "m/hls/t/v/init.mp4", "m/hls/t/v2/a.m4s"] {
            c.insert(PathBuf::from(name), Bytes::from(vec![0u8; 10]), meta(10));
        }
        assert_eq!(c.evict_under(Path::new("m/hls/t/v")), 2);
        assert!(matches!(c.get(Path::new("m/hls/t/v/360p/a.m4s")), Lookup::Miss));
        assert!(matches!(c.get(Path::new("m/hls/t/v2/a.m4s")), Lookup::Fresh(..)), "v2 is not v");
        assert_eq!(c.size(), 10);
        assert_eq!(c.evict_under(Path::new("m/hls/t/v")), 0);
    }

    #[test]
    fn a_disabled_cache_holds_nothing_and_big_files_are_not_admitted() {
        let off = SegmentCache::new(0, Duration::from_secs(1));
        off.insert(PathBuf::from("a"), Bytes::from_static(b"x"), meta(1));
        assert!(matches!(off.get(Path::new("a")), Lookup::Miss));
        let small = SegmentCache::new(100, Duration::from_secs(1));
        assert!(!small.admits(26));
        assert!(small.admits(25));
    }
}
