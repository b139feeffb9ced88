//! [`S3MediaStore`]: media bytes in an S3 bucket (AWS S3, R2, MinIO, SeaweedFS), through the
//! `object_store` crate, so every service can run on machines that share no disk. Keys are the
//! media keys; S3's LIST is prefix-scoped, so `put_dir` and `delete_prefix` need no manifest.
//! Version pointers live in NATS KV ([`KvPointers`], the same bucket as the Object Store
//! backend's): S3 has no compare-and-set the pointers could use everywhere.
//!
//! Failures reach callers as [`MediaError::NotFound`] (S3 404) or
//! [`MediaError::Unavailable`] (connection refused, timeout, 5xx: retries are few and short,
//! so a stopped server is reported in seconds), everything else as [`MediaError::Io`].
//!
//! - [`errors`]: object_store errors into [`MediaError`].
//! - [`bucket`]: building the client, the bucket check and `--s3-create-bucket`.
//! - [`multipart`]: [`MultipartMedia`] over object_store's `MultipartStore`, and big `put_file`s.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3;
use object_store::path::Path as ObjectPath;
use object_store::signer::Signer;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload};

use crate::S3Settings;
use crate::media::kv_pointers::KvPointers;
use crate::media::{Current, MediaError, MediaStore, MultipartMedia, Pointer, validate_key};

pub mod bucket;
pub mod errors;
pub mod multipart;

use errors::map_err;

/// Files up to this size are stored with one PUT; bigger ones as a multipart upload.
pub const SINGLE_PUT_MAX: u64 = 16 * 1024 * 1024;
/// Part size of `put_file`'s multipart uploads.
pub const PUT_FILE_PART: usize = 8 * 1024 * 1024;
/// Parts of one `put_file` in flight at once (memory: this many parts).
pub const PUT_FILE_PARALLEL: usize = 4;
/// Files of one `put_dir` uploaded at once.
pub const PUT_DIR_PARALLEL: usize = 8;

/// Media in an S3 bucket, pointers in NATS KV. Cheap to clone.
#[derive(Clone)]
pub struct S3MediaStore {
    s3: Arc<AmazonS3>,
    bucket: String,
    pointers: KvPointers,
}

impl std::fmt::Debug for S3MediaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3MediaStore").field("bucket", &self.bucket).finish()
    }
}

fn opath(key: &str) -> Result<ObjectPath, MediaError> {
    validate_key(key)?;
    Ok(ObjectPath::from(key))
}

fn io(key: &str, e: impl std::fmt::Display) -> MediaError {
    MediaError::Io { key: key.to_owned(), source: std::io::Error::other(e.to_string()) }
}

impl S3MediaStore {
    /// Connects to the bucket of `settings` (creating it with `--s3-create-bucket`) and opens
    /// the pointer bucket in NATS with `replicas` copies. A missing bucket or absent
    /// credentials are refused here, at start-up.
    pub async fn open(
        settings: &S3Settings,
        js: &jetstream::Context,
        replicas: usize,
    ) -> Result<S3MediaStore, MediaError> {
        let (s3, bucket) = bucket::connect(settings).await?;
        let pointers = KvPointers::open(js, replicas).await?;
        Ok(S3MediaStore { s3: Arc::new(s3), bucket, pointers })
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Every object key under `prefix` (the key itself too, if it is an object).
    async fn keys_under(&self, prefix: &str) -> Result<Vec<ObjectPath>, MediaError> {
        let p = opath(prefix)?;
        let listed: Vec<_> = self
            .s3
            .list(Some(&p))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .map_err(|e| map_err(prefix, e))?;
        Ok(listed)
    }

    /// Deletes these objects (S3 bulk delete); missing ones are not an error.
    async fn delete_all(&self, what: &str, keys: Vec<ObjectPath>) -> Result<(), MediaError> {
        if keys.is_empty() {
            return Ok(());
        }
        let stream = futures::stream::iter(keys.into_iter().map(Ok)).boxed();
        let mut out = self.s3.delete_stream(stream);
        while let Some(r) = out.next().await {
            match r {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(map_err(what, e)),
            }
        }
        Ok(())
    }

    async fn put_one(&self, key: &str, src: &Path) -> Result<u64, MediaError> {
        let p = opath(key)?;
        let len = tokio::fs::metadata(src).await.map_err(|e| io(key, e))?.len();
        if len <= SINGLE_PUT_MAX {
            let data = tokio::fs::read(src).await.map_err(|e| io(key, e))?;
            self.s3.put(&p, PutPayload::from(data)).await.map_err(|e| map_err(key, e))?;
        } else {
            multipart::put_large(&self.s3, key, &p, src).await?;
        }
        Ok(len)
    }
}

#[async_trait]
impl MediaStore for S3MediaStore {
    /// Uploads `src` (one PUT, or a multipart upload with bounded parallel parts when big),
    /// then removes it: the file is moved into the store.
    async fn put_file(&self, key: &str, src: &Path) -> Result<u64, MediaError> {
        let len = self.put_one(key, src).await?;
        let _ = tokio::fs::remove_file(src).await;
        Ok(len)
    }

    /// Uploads every file of `src` under `prefix` (a few at once), then deletes the objects
    /// under `prefix` the new tree does not have. Readers of a versioned prefix see it through
    /// its pointer, moved after this returns.
    async fn put_dir(&self, prefix: &str, src: &Path) -> Result<(), MediaError> {
        validate_key(prefix)?;
        let root = src.to_path_buf();
        let files = tokio::task::spawn_blocking(move || {
            let mut files = Vec::new();
            crate::media::walk_files(&root, &root, &mut files).map(|_| files)
        })
        .await
        .map_err(|e| io(prefix, e))?
        .map_err(|e| io(prefix, e))?;
        let mut keys = Vec::with_capacity(files.len());
        for rel in &files {
            let key = format!("{prefix}/{}", rel.to_string_lossy().replace('\\', "/"));
            validate_key(&key)?;
            keys.push((key, src.join(rel)));
        }
        let uploads: Vec<_> = keys
            .iter()
            .cloned()
            .map(|(key, path)| {
                let store = self.clone();
                async move { store.put_one(&key, &path).await }
            })
            .collect();
        futures::stream::iter(uploads)
            .buffer_unordered(PUT_DIR_PARALLEL)
            .try_collect::<Vec<u64>>()
            .await?;
        let written: std::collections::HashSet<&str> =
            keys.iter().map(|(k, _)| k.as_str()).collect();
        let stale: Vec<ObjectPath> = self
            .keys_under(prefix)
            .await?
            .into_iter()
            .filter(|k| !written.contains(k.as_ref()))
            .collect();
        self.delete_all(prefix, stale).await?;
        let _ = tokio::fs::remove_dir_all(src).await;
        Ok(())
    }

    fn local_path(&self, _key: &str) -> Option<PathBuf> {
        None
    }

    /// Streams `key` to a temporary file next to `dest`, syncs it, and renames it into place.
    async fn fetch_to(&self, key: &str, dest: &Path) -> Result<(), MediaError> {
        let p = opath(key)?;
        let got = self.s3.get(&p).await.map_err(|e| map_err(key, e))?;
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(|e| io(key, e))?;
        }
        let tmp = dest.with_extension(format!("part-{}", uuid::Uuid::now_v7().simple()));
        let res = async {
            let mut f = tokio::fs::File::create(&tmp).await.map_err(|e| io(key, e))?;
            let mut body = got.into_stream();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| map_err(key, e))?;
                tokio::io::AsyncWriteExt::write_all(&mut f, &chunk)
                    .await
                    .map_err(|e| io(key, e))?;
            }
            f.sync_all().await.map_err(|e| io(key, e))?;
            tokio::fs::rename(&tmp, dest).await.map_err(|e| io(key, e))
        }
        .await;
        if res.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        res
    }

    async fn exists(&self, key: &str) -> Result<bool, MediaError> {
        Ok(self.size(key).await?.is_some())
    }

    async fn size(&self, key: &str) -> Result<Option<u64>, MediaError> {
        let p = opath(key)?;
        match self.s3.head(&p).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(map_err(key, e)),
        }
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, MediaError> {
        let p = opath(key)?;
        if range.start >= range.end {
            return Ok(Bytes::new());
        }
        let opts =
            GetOptions { range: Some(GetRange::Bounded(range.clone())), ..Default::default() };
        match self.s3.get_opts(&p, opts).await {
            Ok(got) => got.bytes().await.map_err(|e| map_err(key, e)),
            Err(e) => {
                let e = map_err(key, e);
                if matches!(e, MediaError::NotFound(_) | MediaError::Unavailable { .. }) {
                    return Err(e);
                }
                // A range starting at or past the end (S3: 416): clamped, that is nothing.
                match self.size(key).await? {
                    Some(len) if range.start >= len => Ok(Bytes::new()),
                    Some(_) => Err(e),
                    None => Err(MediaError::NotFound(key.to_owned())),
                }
            }
        }
    }

    async fn get_bytes(&self, key: &str) -> Result<Bytes, MediaError> {
        let p = opath(key)?;
        let got = self.s3.get(&p).await.map_err(|e| map_err(key, e))?;
        got.bytes().await.map_err(|e| map_err(key, e))
    }

    async fn put_bytes(&self, key: &str, data: Bytes) -> Result<(), MediaError> {
        let p = opath(key)?;
        self.s3.put(&p, PutPayload::from(data)).await.map_err(|e| map_err(key, e))?;
        Ok(())
    }

    /// Deletes `prefix` itself if it is an object and everything under it (LIST + bulk
    /// delete), then its version pointer.
    async fn delete_prefix(&self, prefix: &str) -> Result<(), MediaError> {
        // The listing names what is under `prefix/`; the key itself may be an object too.
        let mut keys = self.keys_under(prefix).await?;
        keys.push(opath(prefix)?);
        self.delete_all(prefix, keys).await?;
        self.pointers.remove(prefix).await
    }

    async fn current(&self, prefix: &str) -> Result<Option<Current>, MediaError> {
        self.pointers.current(prefix).await
    }

    async fn set_current(
        &self,
        prefix: &str,
        pointer: &Pointer,
        expected: Option<u64>,
    ) -> Result<u64, MediaError> {
        self.pointers.set_current(prefix, pointer, expected).await
    }

    /// A SigV4 presigned GET, valid for `ttl` (signed locally: no request is made).
    async fn presigned_get(&self, key: &str, ttl: Duration) -> Result<Option<String>, MediaError> {
        let p = opath(key)?;
        let url = self
            .s3
            .signed_url(object_store::signer::Method::GET, &p, ttl)
            .await
            .map_err(|e| map_err(key, e))?;
        Ok(Some(url.to_string()))
    }

    fn multipart(&self) -> Option<&dyn MultipartMedia> {
        Some(self)
    }
}
