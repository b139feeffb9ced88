//! [`NatsMediaStore`]: media bytes in a JetStream Object Store bucket, so ingest, transcoder
//! workers and playback can run on machines that share no disk (NATS is the only shared
//! engine). Objects are named by their media keys. There are no local paths: readers copy an
//! object to a local file (playback keeps a local cache).

use std::path::{Path, PathBuf};

use async_nats::jetstream::{self, object_store};
use async_trait::async_trait;
use futures::StreamExt;

use crate::media::{MediaError, MediaStore, validate_key};

/// The Object Store bucket holding media.
pub const MEDIA_BUCKET: &str = "framelog_media";

/// Media in the JetStream Object Store.
#[derive(Clone)]
pub struct NatsMediaStore {
    store: object_store::ObjectStore,
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
        Ok(NatsMediaStore { store })
    }

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

fn walk(dir: &Path, base: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        if p.is_dir() {
            walk(&p, base, out)?;
        } else {
            out.push(p.strip_prefix(base).map_err(std::io::Error::other)?.to_path_buf());
        }
    }
    Ok(())
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

    /// Uploads every file of `src` under `prefix`, then removes objects under `prefix` that the
    /// new tree does not have. Readers may briefly see a mix of old and new files (an object
    /// store has no directory rename); every new object is complete when it becomes visible.
    async fn put_dir(&self, prefix: &str, src: &Path) -> Result<(), MediaError> {
        validate_key(prefix)?;
        let mut files = Vec::new();
        let root = src.to_path_buf();
        let listed =
            tokio::task::spawn_blocking(move || walk(&root, &root, &mut files).map(|_| files))
                .await
                .map_err(|e| err(prefix, e))?
                .map_err(|e| err(prefix, e))?;
        let mut written = std::collections::HashSet::new();
        for rel in &listed {
            let rel = rel.to_string_lossy().replace('\\', "/");
            let key = format!("{prefix}/{rel}");
            validate_key(&key)?;
            let mut f = tokio::fs::File::open(src.join(&rel)).await.map_err(|e| err(&key, e))?;
            self.store.put(key.as_str(), &mut f).await.map_err(|e| err(&key, e))?;
            written.insert(key);
        }
        for old in self.names_under(prefix).await? {
            if !written.contains(&old) {
                self.store.delete(&old).await.map_err(|e| err(&old, e))?;
            }
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

    async fn delete_prefix(&self, prefix: &str) -> Result<(), MediaError> {
        validate_key(prefix)?;
        for name in self.names_under(prefix).await? {
            self.store.delete(&name).await.map_err(|e| err(&name, e))?;
        }
        Ok(())
    }
}
