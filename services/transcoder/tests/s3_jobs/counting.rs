//! A real media store wrapped to count what was read through it: how many times each key was
//! copied to local disk (`fetch_to`) and presigned (`presigned_get`). Every call goes to the
//! store it wraps.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use framelog_core::media::{
    Current, MediaError, MediaStore, MultipartMedia, Pointer, SharedMediaStore,
};

#[derive(Debug, Default)]
pub struct Counts {
    fetched: HashMap<String, usize>,
    presigned: HashMap<String, usize>,
}

/// The store and its counts.
#[derive(Debug)]
pub struct Counting {
    inner: SharedMediaStore,
    counts: Arc<Mutex<Counts>>,
}

impl Counting {
    pub fn wrap(inner: SharedMediaStore) -> Arc<Counting> {
        Arc::new(Counting { inner, counts: Arc::default() })
    }

    /// How many times `key` was copied to a local file.
    pub fn fetched(&self, key: &str) -> usize {
        self.counts.lock().unwrap().fetched.get(key).copied().unwrap_or(0)
    }

    /// How many times `key` was presigned.
    pub fn presigned(&self, key: &str) -> usize {
        self.counts.lock().unwrap().presigned.get(key).copied().unwrap_or(0)
    }
}

#[async_trait]
impl MediaStore for Counting {
    async fn put_file(&self, key: &str, src: &Path) -> Result<u64, MediaError> {
        self.inner.put_file(key, src).await
    }
    async fn put_dir(&self, prefix: &str, src: &Path) -> Result<(), MediaError> {
        self.inner.put_dir(prefix, src).await
    }
    fn local_path(&self, key: &str) -> Option<PathBuf> {
        self.inner.local_path(key)
    }
    async fn fetch_to(&self, key: &str, dest: &Path) -> Result<(), MediaError> {
        *self.counts.lock().unwrap().fetched.entry(key.to_owned()).or_default() += 1;
        self.inner.fetch_to(key, dest).await
    }
    async fn exists(&self, key: &str) -> Result<bool, MediaError> {
        self.inner.exists(key).await
    }
    async fn delete_prefix(&self, prefix: &str) -> Result<(), MediaError> {
        self.inner.delete_prefix(prefix).await
    }
    async fn current(&self, prefix: &str) -> Result<Option<Current>, MediaError> {
        self.inner.current(prefix).await
    }
    async fn set_current(
        &self,
        prefix: &str,
        pointer: &Pointer,
        expected: Option<u64>,
    ) -> Result<u64, MediaError> {
        self.inner.set_current(prefix, pointer, expected).await
    }
    async fn put_bytes(&self, key: &str, data: Bytes) -> Result<(), MediaError> {
        self.inner.put_bytes(key, data).await
    }
    async fn get_bytes(&self, key: &str) -> Result<Bytes, MediaError> {
        self.inner.get_bytes(key).await
    }
    async fn size(&self, key: &str) -> Result<Option<u64>, MediaError> {
        self.inner.size(key).await
    }
    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, MediaError> {
        self.inner.get_range(key, range).await
    }
    async fn presigned_get(&self, key: &str, ttl: Duration) -> Result<Option<String>, MediaError> {
        *self.counts.lock().unwrap().presigned.entry(key.to_owned()).or_default() += 1;
        self.inner.presigned_get(key, ttl).await
    }
    fn multipart(&self) -> Option<&dyn MultipartMedia> {
        self.inner.multipart()
    }
}
