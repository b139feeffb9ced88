//! Serving objects of a store without local paths (S3) straight from the store, without copying
//! them to a local file first.
//!
//! Immutable media (segments, init segments) is sized with one `HEAD` ([`MediaStore::size`]);
//! one small enough for the segment cache is read whole once and then served from memory like a
//! local file, a larger one is streamed by ranged reads of [`READ`] bytes covering only the
//! requested range. Its entity tag is its length and a hash of its key: these files are written
//! once under a name that is never reused, so the name identifies the contents (and a 304 needs
//! no read). The other files (playlists, posters, storyboards, sprite sheets) are small and may
//! be rewritten: they are read whole at every request and tagged by a hash of their bytes.
//! Neither kind has a `Last-Modified` (the store interface reports none): conditional requests
//! go by `ETag`.
//!
//! A cached object is re-checked (its size) at most once per revalidation interval, so a
//! deleted video stops being served from memory within that delay (tombstones stop it at once).
//! A store without ranged reads (the JetStream Object Store) answers [`open`] with `None`: the
//! caller then copies the object to the fetch directory as before.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use framelog_core::media::{MediaError, SharedMediaStore};
use sha2::{Digest, Sha256};

use crate::cache::{Lookup, SegmentCache};
use crate::mime::FileKind;
use crate::serve::{Content, FileMeta, Opened, ServeError};

/// Size of one ranged read from the store.
pub const READ: u64 = 1024 * 1024;

/// An object streamed from the store by ranged reads.
#[derive(Debug, Clone)]
pub struct RemoteObject {
    media: SharedMediaStore,
    key: String,
}

impl RemoteObject {
    /// Streams `len` bytes from `start`, one ranged read of at most [`READ`] bytes at a time
    /// (a read that comes back short ends the body with an error: the object changed).
    pub fn body(self, start: u64, len: u64) -> Body {
        let stream = futures::stream::try_unfold((self, start, len), |(o, pos, left)| async move {
            if left == 0 {
                return Ok(None);
            }
            let n = left.min(READ);
            let chunk =
                o.media.get_range(&o.key, pos..pos + n).await.map_err(std::io::Error::other)?;
            if chunk.len() as u64 != n {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "object shrank",
                ));
            }
            Ok::<_, std::io::Error>(Some((chunk, (o, pos + n, left - n))))
        });
        Body::from_stream(stream)
    }
}

/// A short hex tag of `data`.
fn tag(data: &[u8]) -> String {
    hex::encode(&Sha256::digest(data)[..8])
}

/// Opens `key` of a store without local paths; `None` if the store has no ranged reads.
/// Immutable objects go through `cache`, under their would-be path in `fetch_dir` (so a
/// deleted video's entries are evicted with its copies).
pub async fn open(
    media: &SharedMediaStore,
    cache: &SegmentCache,
    fetch_dir: &Path,
    key: &str,
    kind: FileKind,
) -> Result<Option<Opened>, ServeError> {
    if !kind.cacheable() {
        let bytes = media.get_bytes(key).await?;
        let meta = Arc::new(FileMeta::object(bytes.len() as u64, &tag(&bytes)));
        return Ok(Some(Opened { meta, content: Content::Memory(bytes) }));
    }
    let path = fetch_dir.join(key);
    match cache.get(&path) {
        Lookup::Fresh(bytes, meta) => {
            return Ok(Some(Opened { meta, content: Content::Memory(bytes) }));
        }
        Lookup::Stale(bytes, meta) => match media.size(key).await {
            Ok(Some(len)) if len == meta.len => {
                cache.confirm(&path);
                return Ok(Some(Opened { meta, content: Content::Memory(bytes) }));
            }
            Ok(_) => cache.remove(&path),
            Err(MediaError::Unsupported) => return Ok(None),
            Err(e) => return Err(e.into()),
        },
        Lookup::Miss => {}
    }
    let len = match media.size(key).await {
        Ok(Some(len)) => len,
        Ok(None) => return Err(ServeError::NotFound),
        Err(MediaError::Unsupported) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let meta = Arc::new(FileMeta::object(len, &tag(key.as_bytes())));
    if cache.admits(len) {
        let bytes: Bytes = media.get_range(key, 0..len).await?;
        if bytes.len() as u64 != len {
            return Err(ServeError::NotFound);
        }
        cache.insert(path, bytes.clone(), meta.clone());
        return Ok(Some(Opened { meta, content: Content::Memory(bytes) }));
    }
    let object = RemoteObject { media: media.clone(), key: key.to_owned() };
    Ok(Some(Opened { meta, content: Content::Remote(object) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_name_the_input_and_are_valid_entity_tags() {
        assert_eq!(tag(b"a"), tag(b"a"));
        assert_ne!(tag(b"hls/t/v/360p/seg_1.m4s"), tag(b"hls/t/v/360p/seg_2.m4s"));
        let m = FileMeta::object(4096, &tag(b"x"));
        assert_eq!(m.etag.to_str().unwrap(), format!("\"1000-{}\"", tag(b"x")));
        assert!(m.last_modified.is_none() && m.modified.is_none());
    }
}
