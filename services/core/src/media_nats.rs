//! [`NatsMediaStore`]: media bytes in a JetStream Object Store bucket, so ingest, transcoder
//! workers and playback can run on machines that share no disk (NATS is the only shared
//! engine). Objects are named by their media keys. There are no local paths: readers copy an
//! object to a local file (playback keeps a local cache).
//!
//! An object store has neither directories nor renames, and its listing reads the metadata of
//! every object in the bucket. So [`MediaStore::put_dir`] keeps a manifest object per prefix
//! ([`MANIFEST`], written after every file it names): replacing or deleting a prefix reads
//! its manifest, never the bucket's listing. Atomicity for readers comes from version
//! pointers ([`crate::media::versions`]), kept in the KV bucket [`VERSIONS_BUCKET`] by
//! [`KvPointers`] (keyed by prefix, moved by compare-and-set on the KV revision) and moved only
//! after `put_dir`.

use std::path::{Path, PathBuf};

use async_nats::jetstream::{self, object_store};
use async_trait::async_trait;
use futures::StreamExt;

use crate::media::kv_pointers::KvPointers;
use crate::media::{Current, MediaError, MediaStore, Pointer, validate_key};

/// The Object Store bucket holding media.
pub const MEDIA_BUCKET: &str = "framelog_media";
pub use crate::media::kv_pointers::VERSIONS_BUCKET;
/// The manifest object of a prefix written by `put_dir`: the JSON list of its object names.
pub const MANIFEST: &str = "_manifest.json";

/// Media in the JetStream Object Store.
#[derive(Clone)]
pub struct NatsMediaStore {
    store: object_store::ObjectStore,
    pointers: KvPointers,
}

impl std::fmt::Debug for NatsMediaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NatsMediaStore")
    }
}

fn err(key: &str, e: impl std::fmt::Display) -> MediaError {
    MediaError::Io { key: key.to_owned(), source: std::io::Error::other(e.to_string()) }
}

impl NatsMediaStore {
    /// Creates (or opens) the media bucket with `replicas` copies.
    pub async fn open(
        js: &jetstream::Context,
        replicas: usize,
    ) -> Result<NatsMediaStore, MediaError> {
        let store = js
            .create_object_store(object_store::Config {
                bucket: MEDIA_BUCKET.into(),
                description: Some("Framelog media (sources, HLS, posters)".into()),
                num_replicas: replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| err(MEDIA_BUCKET, e))?;
        let pointers = KvPointers::open(js, replicas).await?;
        Ok(NatsMediaStore { store, pointers })
    }

    /// The names in the manifest of `prefix`, if it has one.
    async fn manifest(&self, prefix: &str) -> Result<Option<Vec<String>>, MediaError> {
        let key = format!("{prefix}/{MANIFEST}");
        let mut obj = match self.store.get(key.as_str()).await {
            Ok(o) => o,
            Err(e) if e.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(err(&key, e)),
        };
        let mut bytes = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut obj, &mut bytes)
            .await
            .map_err(|e| err(&key, e))?;
        serde_json::from_slice(&bytes).map(Some).map_err(|e| err(&key, e))
    }

    /// Every object name under `prefix` from the bucket's listing (reads the metadata of the
    /// whole bucket: only for prefixes that have no manifest, such as a whole video).
    async fn names_under(&self, prefix: &str) -> Result<Vec<String>, MediaError> {
        let mut list = self.store.list().await.map_err(|e| err(prefix, e))?;
        let dir = format!("{prefix}/");
        let mut out = Vec::new();
        while let Some(item) = list.next().await {
            let info = item.map_err(|e| err(prefix, e))?;
            if !info.deleted && (info.name == prefix || info.name.starts_with(&dir)) {
                out.push(info.name);
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl MediaStore for NatsMediaStore {
    async fn put_file(&self, key: &str, src: &Path) -> Result<u64, MediaError> {
        validate_key(key)?;
        let mut f = tokio::fs::File::open(src).await.map_err(|e| err(key, e))?;
        let info = self.store.put(key, &mut f).await.map_err(|e| err(key, e))?;
        let _ = tokio::fs::remove_file(src).await;
        Ok(info.size as u64)
    }

    /// Uploads every file of `src` under `prefix`, then its manifest, then removes the objects
    /// of the previous manifest that the new tree does not have. Touches only the objects of
    /// this prefix: no listing of the bucket. Readers of a versioned prefix see it through its
    /// pointer, moved after this returns.
    async fn put_dir(&self, prefix: &str, src: &Path) -> Result<(), MediaError> {
        validate_key(prefix)?;
        let mut files = Vec::new();
        let root = src.to_path_buf();
        let listed = tokio::task::spawn_blocking(move || {
            crate::media::walk_files(&root, &root, &mut files).map(|_| files)
        })
        .await
        .map_err(|e| err(prefix, e))?
        .map_err(|e| err(prefix, e))?;
        let previous = self.manifest(prefix).await?.unwrap_or_default();
        let mut written = Vec::with_capacity(listed.len());
        for rel in &listed {
            let rel = rel.to_string_lossy().replace('\\', "/");
            let key = format!("{prefix}/{rel}");
            validate_key(&key)?;
            let path = src.join(&rel);
            // An object already stored with these bytes (the early rung, published again with
            // the whole ladder) is not rewritten under a reader.
            if !(previous.contains(&key) && self.holds(&key, &path).await?) {
                let mut f = tokio::fs::File::open(&path).await.map_err(|e| err(&key, e))?;
                self.store.put(key.as_str(), &mut f).await.map_err(|e| err(&key, e))?;
            }
            written.push(key);
        }
        let manifest = serde_json::to_vec(&written).expect("names serialise");
        let key = format!("{prefix}/{MANIFEST}");
        self.store.put(key.as_str(), &mut manifest.as_slice()).await.map_err(|e| err(&key, e))?;
        for old in previous.iter().filter(|n| !written.contains(n)) {
            self.delete_object(old).await?;
        }
        let _ = tokio::fs::remove_dir_all(src).await;
        Ok(())
    }

    fn local_path(&self, _key: &str) -> Option<PathBuf> {
        None
    }

    async fn fetch_to(&self, key: &str, dest: &Path) -> Result<(), MediaError> {
        validate_key(key)?;
        let mut obj = match self.store.get(key).await {
            Ok(o) => o,
            Err(e) if e.kind() == object_store::GetErrorKind::NotFound => {
                return Err(MediaError::NotFound(key.to_owned()));
            }
            Err(e) => return Err(err(key, e)),
        };
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(|e| err(key, e))?;
        }
        let tmp = dest.with_extension(format!("part-{}", uuid::Uuid::now_v7().simple()));
        let mut f = tokio::fs::File::create(&tmp).await.map_err(|e| err(key, e))?;
        tokio::io::copy(&mut obj, &mut f).await.map_err(|e| err(key, e))?;
        f.sync_all().await.map_err(|e| err(key, e))?;
        tokio::fs::rename(&tmp, dest).await.map_err(|e| err(key, e))?;
        Ok(())
    }

    async fn exists(&self, key: &str) -> Result<bool, MediaError> {
        validate_key(key)?;
        match self.store.info(key).await {
            Ok(i) => Ok(!i.deleted),
            Err(e) if e.kind() == object_store::InfoErrorKind::NotFound => Ok(false),
            Err(e) => Err(err(key, e)),
        }
    }

    /// A prefix written by `put_dir` (a version) is removed through its manifest; any other
    /// (a whole video, with versions, legacy files, markers) through the bucket's listing.
    async fn delete_prefix(&self, prefix: &str) -> Result<(), MediaError> {
        validate_key(prefix)?;
        let names = match self.manifest(prefix).await? {
            Some(names) => names,
            None => self.names_under(prefix).await?,
        };
        for name in names.iter().filter(|n| n.starts_with(&format!("{prefix}/"))) {
            self.delete_object(name).await?;
        }
        self.delete_object(&format!("{prefix}/{MANIFEST}")).await?;
        // The prefix may name one object itself.
        self.delete_object(prefix).await?;
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
}

impl NatsMediaStore {
    /// Whether the object `key` holds exactly the bytes of the local file `path` (by digest).
    async fn holds(&self, key: &str, path: &Path) -> Result<bool, MediaError> {
        let info = match self.store.info(key).await {
            Ok(i) if !i.deleted => i,
            Ok(_) => return Ok(false),
            Err(e) if e.kind() == object_store::InfoErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(err(key, e)),
        };
        let p = path.to_path_buf();
        let digest = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
            use base64::Engine;
            use sha2::Digest;
            let mut hasher = sha2::Sha256::new();
            let mut f = std::fs::File::open(p)?;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = std::io::Read::read(&mut f, &mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
            let sum = base64::engine::general_purpose::URL_SAFE.encode(hasher.finalize());
            Ok(format!("SHA-256={sum}"))
        })
        .await
        .map_err(|e| err(key, e))?
        .map_err(|e| err(key, e))?;
        Ok(info.digest.as_deref() == Some(digest.as_str()))
    }

    /// Deletes one object; a missing one is not an error.
    async fn delete_object(&self, name: &str) -> Result<(), MediaError> {
        match self.store.delete(name).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == object_store::DeleteErrorKind::NotFound => Ok(()),
            Err(e) => Err(err(name, e)),
        }
    }
}
