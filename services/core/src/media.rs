//! [`MediaStore`]: the one interface every media byte goes through (DESIGN §4). Keys are
//! relative paths such as `sources/<tenant>/<video>/source` or `hls/<tenant>/<video>/master.m3u8`.
//! The filesystem store is the default; an Object Store backend lets services run on machines
//! that share no disk.

use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

pub mod kv_pointers;
pub mod multipart;
pub mod versions;

pub use multipart::MultipartMedia;

pub use versions::{Current, Pointer};

/// A media store error.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("invalid media key {0:?}")]
    InvalidKey(String),
    #[error("media object {0:?} not found")]
    NotFound(String),
    #[error("media store I/O on {key:?}: {source}")]
    Io { key: String, source: std::io::Error },
    /// A compare-and-set of a pointer named a revision that is no longer the current one.
    #[error("the pointer of {0:?} moved meanwhile")]
    Conflict(String),
    /// The store keeps no version pointers, or cannot do what was asked.
    #[error("this media store keeps no version pointers")]
    Unsupported,
    /// The store could not be reached or answered that it is unavailable (connection refused,
    /// timeout, S3 5xx): retrying later may succeed. Callers answer 503.
    #[error("media store unavailable on {key:?}: {reason}")]
    Unavailable { key: String, reason: String },
}

impl MediaError {
    fn io(key: &str, source: std::io::Error) -> MediaError {
        if source.kind() == std::io::ErrorKind::NotFound {
            MediaError::NotFound(key.to_owned())
        } else {
            MediaError::Io { key: key.to_owned(), source }
        }
    }

    /// Whether retrying later may succeed (the store is down or overloaded).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, MediaError::Unavailable { .. })
    }

    /// Whether the store ran out of space (disk full, quota).
    pub fn is_out_of_space(&self) -> bool {
        matches!(self, MediaError::Io { source, .. }
            if source.kind() == std::io::ErrorKind::StorageFull
            || source.kind() == std::io::ErrorKind::QuotaExceeded)
    }
}

/// Where media bytes live.
#[async_trait]
pub trait MediaStore: Send + Sync + std::fmt::Debug {
    /// Moves the local file `src` into the store under `key` (a rename when possible, so no
    /// bytes are copied). Returns its size.
    async fn put_file(&self, key: &str, src: &Path) -> Result<u64, MediaError>;

    /// Replaces everything under `prefix` by the contents of the local directory `src`, as
    /// atomically as the backend allows (the filesystem store swaps directories by rename).
    async fn put_dir(&self, prefix: &str, src: &Path) -> Result<(), MediaError>;

    /// A local path to read `key` from directly, when the backend is a local filesystem.
    fn local_path(&self, key: &str) -> Option<PathBuf>;

    /// Copies `key` to the local file `dest` (for backends without local paths).
    async fn fetch_to(&self, key: &str, dest: &Path) -> Result<(), MediaError>;

    /// Whether `key` exists.
    async fn exists(&self, key: &str) -> Result<bool, MediaError>;

    /// Removes `key` or everything under it (with its version pointer). Removing nothing is
    /// not an error.
    async fn delete_prefix(&self, prefix: &str) -> Result<(), MediaError>;

    /// The pointer naming the live version of the versioned prefix `prefix`
    /// ([`versions`]), with its revision; `None` if no version was ever published.
    async fn current(&self, _prefix: &str) -> Result<Option<Current>, MediaError> {
        Ok(None)
    }

    /// Replaces the pointer of `prefix` if its revision is still `expected` (`None`: if there
    /// is none), atomically; else `Err(MediaError::Conflict)`. Returns the new revision.
    async fn set_current(
        &self,
        _prefix: &str,
        _pointer: &Pointer,
        _expected: Option<u64>,
    ) -> Result<u64, MediaError> {
        Err(MediaError::Unsupported)
    }

    /// Stores `data` under `key` (small objects: tails of uploads, markers). The default goes
    /// through a temporary file and [`MediaStore::put_file`].
    async fn put_bytes(&self, key: &str, data: Bytes) -> Result<(), MediaError> {
        let tmp = tempfile::NamedTempFile::new().map_err(|e| MediaError::io(key, e))?;
        tokio::fs::write(tmp.path(), &data).await.map_err(|e| MediaError::io(key, e))?;
        let (_f, path) = tmp.keep().map_err(|e| MediaError::io(key, e.error))?;
        let res = self.put_file(key, &path).await.map(|_| ());
        let _ = tokio::fs::remove_file(&path).await;
        res
    }

    /// Reads the whole object `key` into memory (small objects only).
    async fn get_bytes(&self, key: &str) -> Result<Bytes, MediaError> {
        if let Some(p) = self.local_path(key) {
            return tokio::fs::read(&p).await.map(Bytes::from).map_err(|e| MediaError::io(key, e));
        }
        let tmp = tempfile::NamedTempFile::new().map_err(|e| MediaError::io(key, e))?;
        self.fetch_to(key, tmp.path()).await?;
        tokio::fs::read(tmp.path()).await.map(Bytes::from).map_err(|e| MediaError::io(key, e))
    }

    /// The size of `key`, `None` if it does not exist.
    async fn size(&self, key: &str) -> Result<Option<u64>, MediaError> {
        if let Some(p) = self.local_path(key) {
            return match tokio::fs::metadata(&p).await {
                Ok(m) => Ok(Some(m.len())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(MediaError::io(key, e)),
            };
        }
        Err(MediaError::Unsupported)
    }

    /// Bytes `range` of `key` (clamped to its end), for serving ranges and hashing the rest
    /// of an upload without a local copy. `Unsupported` where the backend has no ranged read.
    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, MediaError> {
        let Some(p) = self.local_path(key) else { return Err(MediaError::Unsupported) };
        let k = key.to_owned();
        tokio::task::spawn_blocking(move || {
            use std::os::unix::fs::FileExt;
            let f = std::fs::File::open(&p)?;
            let len = f.metadata()?.len();
            let (start, end) = (range.start.min(len), range.end.min(len));
            let mut buf = vec![0u8; (end - start) as usize];
            f.read_exact_at(&mut buf, start)?;
            Ok::<_, std::io::Error>(Bytes::from(buf))
        })
        .await
        .map_err(|e| MediaError::io(&k, std::io::Error::other(e)))?
        .map_err(|e| MediaError::io(&k, e))
    }

    /// A URL that GETs `key` without credentials until `ttl` has passed (an S3 presigned URL),
    /// for ffmpeg/ffprobe inputs and playback redirects. `None` where the backend has none.
    async fn presigned_get(
        &self,
        _key: &str,
        _ttl: Duration,
    ) -> Result<Option<String>, MediaError> {
        Ok(None)
    }

    /// Multipart uploads straight into the store (S3), so upload chunks need no local disk.
    fn multipart(&self) -> Option<&dyn MultipartMedia> {
        None
    }
}

/// Name of a versioned prefix's pointer file in the filesystem store.
pub const POINTER_FILE: &str = "current.json";
/// The lock file serialising compare-and-sets of a pointer file.
const POINTER_LOCK: &str = "current.lock";

/// A pointer file: the pointer and its revision.
#[derive(serde::Serialize, serde::Deserialize)]
struct PointerFile {
    revision: u64,
    #[serde(flatten)]
    pointer: Pointer,
}

fn read_pointer(path: &Path) -> std::io::Result<Option<Current>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let f: PointerFile = serde_json::from_slice(&bytes).map_err(std::io::Error::other)?;
            Ok(Some(Current { pointer: f.pointer, revision: f.revision }))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Compare-and-set of the pointer file in `dir` under an exclusive lock (so concurrent
/// writers, in any process, are serialised); the new file replaces the old by rename.
fn swap_pointer(
    dir: &Path,
    pointer: &Pointer,
    expected: Option<u64>,
) -> std::io::Result<Option<u64>> {
    std::fs::create_dir_all(dir)?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(POINTER_LOCK))?;
    lock.lock()?;
    let path = dir.join(POINTER_FILE);
    let cur = read_pointer(&path)?;
    if cur.as_ref().map(|c| c.revision) != expected {
        return Ok(None);
    }
    let revision = expected.unwrap_or(0) + 1;
    let json = serde_json::to_vec(&PointerFile { revision, pointer: pointer.clone() })
        .map_err(std::io::Error::other)?;
    let tmp = dir.join(format!("{POINTER_FILE}.{}", uuid::Uuid::now_v7().simple()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut f, &json)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(Some(revision))
}

/// A shared media store.
pub type SharedMediaStore = Arc<dyn MediaStore>;

/// Checks a key: relative, `/`-separated, no `..`, components of `[A-Za-z0-9._-]`.
pub fn validate_key(key: &str) -> Result<(), MediaError> {
    let bad = || MediaError::InvalidKey(key.to_owned());
    if key.is_empty() || key.len() > 512 || key.starts_with('/') {
        return Err(bad());
    }
    for part in key.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err(bad());
        }
        if !part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
            return Err(bad());
        }
    }
    Ok(())
}

/// Media on a local filesystem under one root.
#[derive(Debug, Clone)]
pub struct FsMediaStore {
    root: PathBuf,
}

impl FsMediaStore {
    pub fn new(root: impl Into<PathBuf>) -> std::io::Result<FsMediaStore> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        Ok(FsMediaStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf, MediaError> {
        validate_key(key)?;
        let p = self.root.join(key);
        debug_assert!(p.components().all(|c| !matches!(c, Component::ParentDir)));
        Ok(p)
    }
}

async fn create_parent(path: &Path, key: &str) -> Result<(), MediaError> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(|e| MediaError::io(key, e))?;
    }
    Ok(())
}

#[async_trait]
impl MediaStore for FsMediaStore {
    async fn put_file(&self, key: &str, src: &Path) -> Result<u64, MediaError> {
        let dest = self.path(key)?;
        create_parent(&dest, key).await?;
        match tokio::fs::rename(src, &dest).await {
            Ok(()) => {}
            // Another filesystem: copy, sync, then remove the source.
            Err(e) if e.raw_os_error() == Some(18) => {
                tokio::fs::copy(src, &dest).await.map_err(|e| MediaError::io(key, e))?;
                let f = tokio::fs::File::open(&dest).await.map_err(|e| MediaError::io(key, e))?;
                f.sync_all().await.map_err(|e| MediaError::io(key, e))?;
                tokio::fs::remove_file(src).await.map_err(|e| MediaError::io(key, e))?;
            }
            Err(e) => return Err(MediaError::io(key, e)),
        }
        let meta = tokio::fs::metadata(&dest).await.map_err(|e| MediaError::io(key, e))?;
        Ok(meta.len())
    }

    async fn put_dir(&self, prefix: &str, src: &Path) -> Result<(), MediaError> {
        let dest = self.path(prefix)?;
        create_parent(&dest, prefix).await?;
        // The new tree must sit on the media root's filesystem for the swap to be a rename:
        // copy it next to its destination first when it comes from elsewhere (EXDEV).
        let staged = dest.with_extension(format!("new-{}", uuid::Uuid::now_v7().simple()));
        let incoming = match tokio::fs::rename(src, &staged).await {
            Ok(()) => staged,
            Err(e) if e.raw_os_error() == Some(18) => {
                let (from, to) = (src.to_path_buf(), staged.clone());
                tokio::task::spawn_blocking(move || copy_tree(&from, &to))
                    .await
                    .map_err(|e| MediaError::io(prefix, std::io::Error::other(e)))?
                    .map_err(|e| MediaError::io(prefix, e))?;
                let _ = tokio::fs::remove_dir_all(src).await;
                staged
            }
            Err(e) => return Err(MediaError::io(prefix, e)),
        };
        // Swap: move any old tree aside, move the new one in, remove the old one.
        let old = dest.with_extension(format!("old-{}", uuid::Uuid::now_v7().simple()));
        let had_old = tokio::fs::rename(&dest, &old).await.is_ok();
        if let Err(e) = tokio::fs::rename(&incoming, &dest).await {
            if had_old {
                let _ = tokio::fs::rename(&old, &dest).await;
            }
            let _ = tokio::fs::remove_dir_all(&incoming).await;
            return Err(MediaError::io(prefix, e));
        }
        if had_old {
            let _ = tokio::fs::remove_dir_all(&old).await;
        }
        Ok(())
    }

    fn local_path(&self, key: &str) -> Option<PathBuf> {
        self.path(key).ok()
    }

    async fn fetch_to(&self, key: &str, dest: &Path) -> Result<(), MediaError> {
        let src = self.path(key)?;
        tokio::fs::copy(&src, dest).await.map_err(|e| MediaError::io(key, e))?;
        Ok(())
    }

    async fn exists(&self, key: &str) -> Result<bool, MediaError> {
        let p = self.path(key)?;
        tokio::fs::try_exists(&p).await.map_err(|e| MediaError::io(key, e))
    }

    async fn current(&self, prefix: &str) -> Result<Option<Current>, MediaError> {
        let path = self.path(prefix)?.join(POINTER_FILE);
        tokio::task::spawn_blocking(move || read_pointer(&path))
            .await
            .map_err(|e| MediaError::io(prefix, std::io::Error::other(e)))?
            .map_err(|e| MediaError::io(prefix, e))
    }

    async fn set_current(
        &self,
        prefix: &str,
        pointer: &Pointer,
        expected: Option<u64>,
    ) -> Result<u64, MediaError> {
        let dir = self.path(prefix)?;
        let pointer = pointer.clone();
        tokio::task::spawn_blocking(move || swap_pointer(&dir, &pointer, expected))
            .await
            .map_err(|e| MediaError::io(prefix, std::io::Error::other(e)))?
            .map_err(|e| MediaError::io(prefix, e))?
            .ok_or_else(|| MediaError::Conflict(prefix.to_owned()))
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<(), MediaError> {
        let p = self.path(prefix)?;
        let res = match tokio::fs::symlink_metadata(&p).await {
            Ok(m) if m.is_dir() => tokio::fs::remove_dir_all(&p).await,
            Ok(_) => tokio::fs::remove_file(&p).await,
            Err(e) => Err(e),
        };
        match res {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(MediaError::io(prefix, e)),
        }
    }
}

/// Every file under `dir`, as paths relative to `base` (for stores that upload a tree file by
/// file).
pub(crate) fn walk_files(dir: &Path, base: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        if p.is_dir() {
            walk_files(&p, base, out)?;
        } else {
            out.push(p.strip_prefix(base).map_err(std::io::Error::other)?.to_path_buf());
        }
    }
    Ok(())
}

/// Copies a directory tree (files are synced), for moves across filesystems.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
            std::fs::File::open(&target)?.sync_all()?;
        }
    }
    Ok(())
}

/// Key of a video's source file.
pub fn source_key(tenant: &str, video: &str) -> String {
    format!("sources/{tenant}/{video}/source")
}

/// Key prefix of a video's HLS output (DESIGN §4).
pub fn hls_prefix(tenant: &str, video: &str) -> String {
    format!("hls/{tenant}/{video}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_could_escape_the_root_are_refused() {
        for bad in ["", "/etc/passwd", "a/../b", "..", "a//b", "a/./b", "a/b c", "a\\b", "hls/é"] {
            assert!(validate_key(bad).is_err(), "{bad:?}");
        }
        for ok in ["hls/acme/vid_1/master.m3u8", "sources/acme/v/source", "a-b_c.d"] {
            assert!(validate_key(ok).is_ok(), "{ok:?}");
        }
    }

    #[tokio::test]
    async fn a_file_is_moved_in_and_a_dir_is_swapped_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsMediaStore::new(dir.path().join("media")).unwrap();
        let src = dir.path().join("up");
        std::fs::write(&src, b"hello").unwrap();
        assert_eq!(store.put_file("sources/t/v/source", &src).await.unwrap(), 5);
        assert!(!src.exists(), "moved, not copied");
        assert!(store.exists("sources/t/v/source").await.unwrap());

        let out1 = dir.path().join("out1");
        std::fs::create_dir_all(&out1).unwrap();
        std::fs::write(out1.join("a.txt"), b"1").unwrap();
        store.put_dir("hls/t/v", &out1).await.unwrap();
        let out2 = dir.path().join("out2");
        std::fs::create_dir_all(&out2).unwrap();
        std::fs::write(out2.join("b.txt"), b"2").unwrap();
        store.put_dir("hls/t/v", &out2).await.unwrap();
        assert!(!store.exists("hls/t/v/a.txt").await.unwrap(), "old tree replaced");
        assert!(store.exists("hls/t/v/b.txt").await.unwrap());

        store.delete_prefix("hls/t/v").await.unwrap();
        assert!(!store.exists("hls/t/v/b.txt").await.unwrap());
        store.delete_prefix("hls/t/v").await.unwrap();
    }
}
