//! [`MultipartMedia`] for [`S3MediaStore`] over object_store's `MultipartStore` (part numbers
//! are 0-based here, `n + 1` on the wire), and `put_file` of big files as a multipart upload
//! with a bounded number of parts in flight.

use std::path::Path;

use async_trait::async_trait;
use bytes::Bytes;
use object_store::aws::AmazonS3;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload, WriteMultipart};
use tokio::io::AsyncReadExt;

use super::errors::map_err;
use super::{PUT_FILE_PARALLEL, PUT_FILE_PART, S3MediaStore, io, opath};
use crate::media::{MediaError, MultipartMedia};

/// Uploads the local file `src` to `p` in parts of [`PUT_FILE_PART`], at most
/// [`PUT_FILE_PARALLEL`] in flight; aborts the upload on failure.
pub(super) async fn put_large(
    s3: &AmazonS3,
    key: &str,
    p: &ObjectPath,
    src: &Path,
) -> Result<(), MediaError> {
    let mut f = tokio::fs::File::open(src).await.map_err(|e| io(key, e))?;
    let upload = s3.put_multipart(p).await.map_err(|e| map_err(key, e))?;
    let mut w = WriteMultipart::new_with_chunk_size(upload, PUT_FILE_PART);
    let res = async {
        loop {
            let mut buf = Vec::with_capacity(PUT_FILE_PART);
            let n = (&mut f)
                .take(PUT_FILE_PART as u64)
                .read_to_end(&mut buf)
                .await
                .map_err(|e| io(key, e))?;
            if n == 0 {
                return Ok(());
            }
            w.wait_for_capacity(PUT_FILE_PARALLEL).await.map_err(|e| map_err(key, e))?;
            w.put(Bytes::from(buf));
        }
    }
    .await;
    match res {
        Ok(()) => w.finish().await.map(|_| ()).map_err(|e| map_err(key, e)),
        Err(e) => {
            let _ = w.abort().await;
            Err(e)
        }
    }
}

#[async_trait]
impl MultipartMedia for S3MediaStore {
    async fn create_multipart(&self, key: &str) -> Result<String, MediaError> {
        let p = opath(key)?;
        self.s3.create_multipart(&p).await.map_err(|e| map_err(key, e))
    }

    async fn put_part(
        &self,
        key: &str,
        upload: &str,
        part: usize,
        data: Bytes,
    ) -> Result<String, MediaError> {
        let p = opath(key)?;
        let id = upload.to_owned();
        let part = self
            .s3
            .put_part(&p, &id, part, PutPayload::from(data))
            .await
            .map_err(|e| map_err(key, e))?;
        Ok(part.content_id)
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload: &str,
        etags: Vec<String>,
    ) -> Result<(), MediaError> {
        let p = opath(key)?;
        let parts = etags.into_iter().map(|content_id| PartId { content_id }).collect();
        self.s3
            .complete_multipart(&p, &upload.to_owned(), parts)
            .await
            .map(|_| ())
            .map_err(|e| map_err(key, e))
    }

    async fn abort_multipart(&self, key: &str, upload: &str) -> Result<(), MediaError> {
        let p = opath(key)?;
        match self.s3.abort_multipart(&p, &upload.to_owned()).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(map_err(key, e)),
        }
    }
}
