//! [`MultipartMedia`]: multipart uploads straight into the media store (S3's
//! `CreateMultipartUpload` / `UploadPart` / `CompleteMultipartUpload`), so an upload's chunks
//! go to the store as they arrive and any replica can take any chunk: the part ETags live with
//! the session (NATS KV), not on the machine that took the part.

use async_trait::async_trait;
use bytes::Bytes;

use super::MediaError;

/// S3's smallest part (every part but the last).
pub const S3_MIN_PART: u64 = 5 * 1024 * 1024;

/// Multipart uploads into the store.
#[async_trait]
pub trait MultipartMedia: Send + Sync {
    /// Starts a multipart upload that will become `key`; returns the store's upload id.
    async fn create_multipart(&self, key: &str) -> Result<String, MediaError>;

    /// Stores part `part` (0-based; S3 part number `part + 1`) of `upload`; returns its ETag
    /// once the store has acknowledged it. Storing a part again replaces it.
    async fn put_part(
        &self,
        key: &str,
        upload: &str,
        part: usize,
        data: Bytes,
    ) -> Result<String, MediaError>;

    /// Assembles the parts (their ETags in part order, every part present) into `key`.
    async fn complete_multipart(
        &self,
        key: &str,
        upload: &str,
        etags: Vec<String>,
    ) -> Result<(), MediaError>;

    /// Abandons `upload` and frees its parts. Aborting an unknown upload is not an error.
    async fn abort_multipart(&self, key: &str, upload: &str) -> Result<(), MediaError>;

    /// The smallest size of every part but the last.
    fn min_part_size(&self) -> u64 {
        S3_MIN_PART
    }
}
