//! Rendered images kept in the media store, under the version they were cut from:
//! `<version prefix>/images/<sha256(version, canonical query)>.<ext>`. A version's files never
//! change, so neither does a rendering of it: any replica answers a second request from the
//! store without ffmpeg, and the images go away with their version (version GC, deletes).
//! The same digest is the `ETag`.

use bytes::Bytes;
use framelog_core::media::{MediaError, SharedMediaStore};
use sha2::{Digest, Sha256};

/// The directory of rendered images under a version prefix.
pub const IMAGES_DIR: &str = "images";

/// Where one rendering lives and what names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The media key.
    pub key: String,
    /// The `ETag` value (quoted).
    pub etag: String,
}

/// The entry of `canonical` (a query in canonical form) rendered from the files under `root`
/// (a version prefix, or a video prefix without versions) as `ext`.
pub fn entry(root: &str, canonical: &str, ext: &str) -> Entry {
    let mut h = Sha256::new();
    h.update(root.as_bytes());
    h.update([0]);
    h.update(canonical.as_bytes());
    let digest = hex::encode(&h.finalize()[..16]);
    Entry { key: format!("{root}/{IMAGES_DIR}/{digest}.{ext}"), etag: format!("\"img-{digest}\"") }
}

/// The stored rendering, if any (a store error counts as a miss: the image is rendered again).
pub async fn get(media: &SharedMediaStore, e: &Entry) -> Option<Bytes> {
    match media.get_bytes(&e.key).await {
        Ok(b) if !b.is_empty() => Some(b),
        Ok(_) | Err(MediaError::NotFound(_)) => None,
        Err(err) => {
            tracing::warn!(error = %err, "image cache unreadable");
            None
        }
    }
}

/// Stores a rendering (a failure is logged: the answer does not depend on it).
pub async fn put(media: &SharedMediaStore, e: &Entry, bytes: Bytes) {
    if let Err(err) = media.put_bytes(&e.key, bytes).await {
        tracing::warn!(error = %err, "image not cached");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_a_function_of_the_version_and_the_canonical_query() {
        let a = entry("hls/t/v/v/01", "thumbnail.jpg?time=1000", "jpg");
        assert_eq!(a, entry("hls/t/v/v/01", "thumbnail.jpg?time=1000", "jpg"));
        assert!(a.key.starts_with("hls/t/v/v/01/images/") && a.key.ends_with(".jpg"));
        assert_ne!(a.etag, entry("hls/t/v/v/02", "thumbnail.jpg?time=1000", "jpg").etag);
        assert_ne!(a.etag, entry("hls/t/v/v/01", "thumbnail.jpg?time=1001", "jpg").etag);
        framelog_core::media::validate_key(&a.key).unwrap();
    }
}
