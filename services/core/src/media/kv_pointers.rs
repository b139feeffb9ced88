//! Version pointers in a NATS KV bucket, moved by compare-and-set on the KV revision: shared by
//! the stores whose backend has no atomic compare-and-set of its own (the Object Store, S3).

use async_nats::jetstream::{self, kv};

use super::{Current, MediaError, Pointer, validate_key};

/// The KV bucket of version pointers (key: the versioned prefix, value: a [`Pointer`]).
pub const VERSIONS_BUCKET: &str = "framelog_media_versions";

fn err(key: &str, e: impl std::fmt::Display) -> MediaError {
    MediaError::Io { key: key.to_owned(), source: std::io::Error::other(e.to_string()) }
}

/// The pointers of every versioned prefix (one KV entry each, history 1).
#[derive(Clone)]
pub struct KvPointers {
    kv: kv::Store,
}

impl std::fmt::Debug for KvPointers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KvPointers")
    }
}

impl KvPointers {
    /// Creates (or opens) the pointer bucket with `replicas` copies.
    pub async fn open(js: &jetstream::Context, replicas: usize) -> Result<KvPointers, MediaError> {
        let kv = js
            .create_key_value(kv::Config {
                bucket: VERSIONS_BUCKET.into(),
                description: "Framelog: the live version of each video's outputs".into(),
                history: 1,
                num_replicas: replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| err(VERSIONS_BUCKET, e))?;
        Ok(KvPointers { kv })
    }

    /// The pointer of `prefix` with its revision; `None` if none was ever set (or it was
    /// removed).
    pub async fn current(&self, prefix: &str) -> Result<Option<Current>, MediaError> {
        validate_key(prefix)?;
        let Some(entry) = self.kv.entry(prefix).await.map_err(|e| err(prefix, e))? else {
            return Ok(None);
        };
        if entry.operation != kv::Operation::Put {
            return Ok(None);
        }
        let pointer = serde_json::from_slice(&entry.value).map_err(|e| err(prefix, e))?;
        Ok(Some(Current { pointer, revision: entry.revision }))
    }

    /// Replaces the pointer of `prefix` if its revision is still `expected` (`None`: if there
    /// is none); else `Err(MediaError::Conflict)`. Returns the new revision.
    pub async fn set_current(
        &self,
        prefix: &str,
        pointer: &Pointer,
        expected: Option<u64>,
    ) -> Result<u64, MediaError> {
        validate_key(prefix)?;
        let value: bytes::Bytes = serde_json::to_vec(pointer).expect("a pointer serialises").into();
        let conflict = || MediaError::Conflict(prefix.to_owned());
        match expected {
            None => self.kv.create(prefix, value).await.map_err(|e| match e.kind() {
                kv::CreateErrorKind::AlreadyExists => conflict(),
                _ => err(prefix, e),
            }),
            Some(rev) => self.kv.update(prefix, value, rev).await.map_err(|e| match e.kind() {
                kv::UpdateErrorKind::WrongLastRevision => conflict(),
                _ => err(prefix, e),
            }),
        }
    }

    /// Removes the pointer of `prefix` (with the prefix's media); none is not an error.
    pub async fn remove(&self, prefix: &str) -> Result<(), MediaError> {
        self.kv.purge(prefix).await.map_err(|e| err(prefix, e))
    }
}
