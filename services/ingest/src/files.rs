//! Part files: one preallocated-as-needed file per upload under `<data dir>/uploads/`, written at
//! each chunk's offset. Chunks land directly where they belong, so completing an upload needs
//! no assembly copy: the part file *is* the source file and moves into the media store by rename.

use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use sha2::{Digest, Sha256};

/// An open part file; cheap to clone, safe to write from several tasks at distinct offsets.
#[derive(Clone, Debug)]
pub struct PartFile {
    file: Arc<std::fs::File>,
}

/// The path of an upload's part file.
pub fn part_path(uploads_dir: &Path, upload_id: &str) -> PathBuf {
    uploads_dir.join(format!("{upload_id}.part"))
}

impl PartFile {
    /// Opens (creating if needed, never truncating) the part file.
    pub async fn open(path: PathBuf) -> std::io::Result<PartFile> {
        let file = tokio::task::spawn_blocking(move || {
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(path)
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(PartFile { file: Arc::new(file) })
    }

    /// Writes `buf` at `offset` (positional: concurrent writers at other offsets are fine).
    pub async fn write_at(&self, buf: Bytes, offset: u64) -> std::io::Result<()> {
        let f = self.file.clone();
        tokio::task::spawn_blocking(move || f.write_all_at(&buf, offset))
            .await
            .map_err(std::io::Error::other)?
    }

    /// Makes the written data durable.
    pub async fn sync(&self) -> std::io::Result<()> {
        let f = self.file.clone();
        tokio::task::spawn_blocking(move || f.sync_data()).await.map_err(std::io::Error::other)?
    }
}

/// sha256 (hex) and length of a file.
pub async fn hash_file(path: PathBuf) -> std::io::Result<(String, u64)> {
    tokio::task::spawn_blocking(move || {
        let mut f = std::fs::File::open(&path)?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut len = 0u64;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            len += n as u64;
        }
        Ok((hex::encode(h.finalize()), len))
    })
    .await
    .map_err(std::io::Error::other)?
}

/// sha256 (hex) and length of a file, continuing `hash` (which covers its first `hash.len()`
/// bytes, hashed as they arrived): only the rest is read.
pub async fn hash_file_from(
    path: PathBuf,
    hash: Option<framelog_core::sha256_state::Sha256State>,
) -> std::io::Result<(String, u64)> {
    let Some(mut h) = hash else { return hash_file(path).await };
    tokio::task::spawn_blocking(move || {
        use std::io::{Seek, SeekFrom};
        let mut f = std::fs::File::open(&path)?;
        let size = f.metadata()?.len();
        if h.len() > size {
            drop(f);
            return Err(std::io::Error::other("the running hash covers more than the file"));
        }
        f.seek(SeekFrom::Start(h.len()))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        let len = h.len();
        Ok((h.finalize_hex(), len))
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Bytes buffered before a positional write.
const WRITE_BUF: usize = 1 << 20;

/// How a streamed request body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEnd {
    Complete,
    /// The client went away mid-body.
    Cut,
    /// More bytes than the upload has room for.
    TooLong,
}

/// Streams `body` into `file` from `offset`, at most `room` bytes, showing every frame to
/// `observe` (for checksums). Returns the bytes written and how the body ended.
pub async fn stream_body(
    file: &PartFile,
    offset: u64,
    room: u64,
    body: Body,
    mut observe: impl FnMut(&[u8]),
) -> std::io::Result<(u64, BodyEnd)> {
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::with_capacity(WRITE_BUF.min(room as usize + 1));
    let mut written = 0u64;
    let mut end = BodyEnd::Complete;
    loop {
        match stream.next().await {
            Some(Ok(frame)) => {
                if written + buf.len() as u64 + frame.len() as u64 > room {
                    end = BodyEnd::TooLong;
                    break;
                }
                observe(&frame);
                buf.extend_from_slice(&frame);
                if buf.len() >= WRITE_BUF {
                    let chunk = buf.split().freeze();
                    let n = chunk.len() as u64;
                    file.write_at(chunk, offset + written).await?;
                    written += n;
                }
            }
            Some(Err(_)) => {
                end = BodyEnd::Cut;
                break;
            }
            None => break,
        }
    }
    if !buf.is_empty() && !matches!(end, BodyEnd::TooLong) {
        let n = buf.len() as u64;
        file.write_at(buf.freeze(), offset + written).await?;
        written += n;
    }
    Ok((written, end))
}

/// Reads `len` bytes at `offset`.
pub async fn read_at(file: &PartFile, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let f = file.file.clone();
    tokio::task::spawn_blocking(move || {
        let mut b = vec![0u8; len];
        f.read_exact_at(&mut b, offset).map(|_| b)
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Removes a file, ignoring "not found".
pub async fn remove_quietly(path: &Path) {
    if let Err(e) = tokio::fs::remove_file(path).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "could not remove part file");
    }
}

/// Whether an I/O error means the disk is full.
pub fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
}

/// Makes a client-supplied file name safe to display: no path, no control characters, at most
/// 255 bytes. It is metadata only and never used to build a path.
pub fn sanitize_filename(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let mut out: String =
        base.chars().filter(|c| !c.is_control()).collect::<String>().trim().to_owned();
    if out == "." || out == ".." {
        out.clear();
    }
    while out.len() > 255 {
        out.pop();
    }
    if out.is_empty() { "upload".to_owned() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_lose_paths_and_control_characters() {
        assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_filename("C:\\Users\\me\\clip.mp4"), "clip.mp4");
        assert_eq!(sanitize_filename("a\u{0}b\nc.mp4"), "abc.mp4");
        assert_eq!(sanitize_filename(".."), "upload");
        assert_eq!(sanitize_filename("   "), "upload");
        assert_eq!(sanitize_filename("vidéo 🎬.mov"), "vidéo 🎬.mov");
        let long = "é".repeat(200);
        assert!(sanitize_filename(&long).len() <= 255);
    }

    #[tokio::test]
    async fn chunks_written_out_of_order_assemble_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let p = part_path(dir.path(), "up_1");
        let f = PartFile::open(p.clone()).await.unwrap();
        f.write_at(Bytes::from_static(b"world"), 5).await.unwrap();
        f.write_at(Bytes::from_static(b"hello"), 0).await.unwrap();
        f.sync().await.unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"helloworld");
        let (sha, len) = hash_file(p).await.unwrap();
        assert_eq!(len, 10);
        assert_eq!(sha, hex::encode(Sha256::digest(b"helloworld")));
    }
}
