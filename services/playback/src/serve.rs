//! Serving one file: open (through the segment cache for immutable media), conditional requests
//! (`ETag`, `Last-Modified`), one byte range, `HEAD`, and a metered body.
//!
//! Files not in memory are streamed in 512 KiB chunks, each read on the blocking pool straight
//! into the buffer that goes to the socket; no response holds a whole file it did not get from
//! the cache. Objects of a store without local paths are streamed by ranged reads
//! ([`crate::remote`]) with the same statuses and headers.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use framelog_core::ApiError;
use framelog_core::media::MediaError;
use http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG,
    IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, LAST_MODIFIED,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use crate::cache::{Lookup, SegmentCache};
use crate::egress::{MeteredBody, TenantCounter};
use crate::mime::FileKind;
use crate::range::{self, RangeRequest};

/// Size of one read from disk.
const CHUNK: u64 = 512 * 1024;

/// A file's size and identity, with its validators formatted once.
#[derive(Debug)]
pub struct FileMeta {
    pub len: u64,
    /// The modification time (`None` for an object whose store reports none).
    pub modified: Option<SystemTime>,
    pub ino: u64,
    pub etag: HeaderValue,
    pub last_modified: Option<HeaderValue>,
}

#[cfg(unix)]
fn inode(m: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(m)
}
#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
}

impl FileMeta {
    fn new(len: u64, modified: SystemTime, ino: u64) -> FileMeta {
        let nanos = modified.duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let etag = HeaderValue::try_from(format!("\"{len:x}-{nanos:x}\""))
            .expect("hex digits are a valid header");
        let last_modified = HeaderValue::try_from(httpdate::fmt_http_date(modified))
            .expect("an HTTP date is a valid header");
        FileMeta { len, modified: Some(modified), ino, etag, last_modified: Some(last_modified) }
    }

    /// Metadata of a store object: its length and an entity tag naming its contents (no
    /// modification time: conditional requests go by the tag).
    pub fn object(len: u64, tag: &str) -> FileMeta {
        let etag = HeaderValue::try_from(format!("\"{len:x}-{tag}\""))
            .expect("hex digits are a valid header");
        FileMeta { len, modified: None, ino: 0, etag, last_modified: None }
    }

    /// The metadata of an opened file.
    pub fn of(m: &std::fs::Metadata) -> FileMeta {
        FileMeta::new(m.len(), m.modified().unwrap_or(UNIX_EPOCH), inode(m))
    }

    /// Whether `m` still describes the same file contents.
    pub fn unchanged(&self, m: &std::fs::Metadata) -> bool {
        m.is_file()
            && m.len() == self.len
            && Some(m.modified().unwrap_or(UNIX_EPOCH)) == self.modified
            && inode(m) == self.ino
    }

    /// Metadata for tests of the cache.
    #[cfg(test)]
    pub fn synthetic(len: u64) -> FileMeta {
        FileMeta::new(len, UNIX_EPOCH, 0)
    }
}

/// The bytes of an opened file.
#[derive(Debug)]
pub enum Content {
    /// Shared bytes from the segment cache.
    Memory(Bytes),
    /// An open file, streamed.
    File(File),
    /// An object of a store without local paths, streamed by ranged reads.
    Remote(crate::remote::RemoteObject),
}

/// A file ready to be answered.
#[derive(Debug)]
pub struct Opened {
    pub meta: Arc<FileMeta>,
    pub content: Content,
}

/// Why a file was not served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("file not found")]
    NotFound,
    #[error("reading {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error(transparent)]
    Media(MediaError),
    #[error("blocking task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

impl ServeError {
    fn io(path: &std::path::Path, source: io::Error) -> ServeError {
        match source.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => ServeError::NotFound,
            _ => ServeError::Io { path: path.display().to_string(), source },
        }
    }
}

impl From<MediaError> for ServeError {
    fn from(e: MediaError) -> ServeError {
        match e {
            MediaError::NotFound(_) | MediaError::InvalidKey(_) => ServeError::NotFound,
            other => ServeError::Media(other),
        }
    }
}

impl From<ServeError> for ApiError {
    fn from(e: ServeError) -> ApiError {
        match e {
            ServeError::NotFound => ApiError::not_found("file"),
            ServeError::Media(m) if m.is_unavailable() => {
                tracing::warn!(error = %m, "media store unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the media store is unavailable, retry later",
                )
            }
            other => ApiError::internal(&other),
        }
    }
}

/// Opens `path`, from memory when `cacheable` and cached (checking a stale entry against the
/// file), else from disk, filling the cache for cacheable files it admits.
pub async fn open(
    cache: &SegmentCache,
    path: PathBuf,
    cacheable: bool,
) -> Result<Opened, ServeError> {
    if cacheable {
        match cache.get(&path) {
            Lookup::Fresh(bytes, meta) => {
                return Ok(Opened { meta, content: Content::Memory(bytes) });
            }
            Lookup::Stale(bytes, meta) => {
                let p = path.clone();
                let now = tokio::task::spawn_blocking(move || std::fs::metadata(p)).await?;
                if now.as_ref().is_ok_and(|m| meta.unchanged(m)) {
                    cache.confirm(&path);
                    return Ok(Opened { meta, content: Content::Memory(bytes) });
                }
                cache.remove(&path);
            }
            Lookup::Miss => {}
        }
    }
    let cache = cache.clone();
    tokio::task::spawn_blocking(move || {
        let mut file = File::open(&path).map_err(|e| ServeError::io(&path, e))?;
        let m = file.metadata().map_err(|e| ServeError::io(&path, e))?;
        if !m.is_file() {
            return Err(ServeError::NotFound);
        }
        let meta = Arc::new(FileMeta::of(&m));
        if cacheable && cache.admits(meta.len) {
            let mut buf = Vec::with_capacity(meta.len as usize);
            file.read_to_end(&mut buf).map_err(|e| ServeError::io(&path, e))?;
            let bytes = Bytes::from(buf);
            if bytes.len() as u64 == meta.len {
                cache.insert(path, bytes.clone(), meta.clone());
            }
            return Ok(Opened { meta, content: Content::Memory(bytes) });
        }
        Ok(Opened { meta, content: Content::File(file) })
    })
    .await?
}

/// Streams `len` bytes of `file` from `start`, one chunk per blocking read.
fn file_body(file: File, start: u64, len: u64) -> Body {
    let file = Arc::new(file);
    let stream = futures::stream::try_unfold((file, start, len), |(file, pos, left)| async move {
        if left == 0 {
            return Ok(None);
        }
        let n = left.min(CHUNK);
        let f = file.clone();
        let chunk = tokio::task::spawn_blocking(move || -> io::Result<Bytes> {
            let mut r = &*f;
            r.seek(SeekFrom::Start(pos))?;
            let mut buf = Vec::with_capacity(n as usize);
            r.take(n).read_to_end(&mut buf)?;
            if (buf.len() as u64) < n {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank"));
            }
            Ok(Bytes::from(buf))
        })
        .await
        .map_err(io::Error::other)??;
        Ok::<_, io::Error>(Some((chunk, (file, pos + n, left - n))))
    });
    Body::from_stream(stream)
}

/// Whether the client's cached copy is current (`If-None-Match`, else `If-Modified-Since`).
fn not_modified(headers: &HeaderMap, meta: &FileMeta) -> bool {
    if let Some(inm) = headers.get(IF_NONE_MATCH) {
        let Ok(v) = inm.to_str() else { return false };
        return v
            .split(',')
            .map(str::trim)
            .any(|t| t == "*" || t.trim_start_matches("W/").as_bytes() == meta.etag.as_bytes());
    }
    let since = headers
        .get(IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    since.is_some_and(|s| meta.modified.is_some_and(|m| secs(m) <= secs(s)))
}

/// Whether a `Range` applies (`If-Range` absent or naming this version of the file).
fn range_applies(headers: &HeaderMap, meta: &FileMeta) -> bool {
    headers
        .get(IF_RANGE)
        .is_none_or(|v| v == meta.etag || meta.last_modified.as_ref().is_some_and(|lm| v == lm))
}

/// The response for an opened file: 200, 206, 304 or 416, with its body unless `HEAD`.
/// Counts the request and (through the body) the bytes sent into `counter`.
pub fn respond(
    method: &Method,
    headers: &HeaderMap,
    kind: FileKind,
    file: Opened,
    counter: Arc<TenantCounter>,
) -> Response {
    counter.request();
    let meta = &file.meta;
    let mut h = HeaderMap::with_capacity(8);
    h.insert(CONTENT_TYPE, HeaderValue::from_static(kind.content_type));
    h.insert(CACHE_CONTROL, kind.policy.header());
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(ETAG, meta.etag.clone());
    if let Some(lm) = &meta.last_modified {
        h.insert(LAST_MODIFIED, lm.clone());
    }
    if not_modified(headers, meta) {
        h.remove(CONTENT_TYPE);
        return (StatusCode::NOT_MODIFIED, h).into_response();
    }
    let range = if range_applies(headers, meta) {
        range::parse(headers.get(http::header::RANGE).and_then(|v| v.to_str().ok()), meta.len)
    } else {
        RangeRequest::Full
    };
    let (status, start, len) = match range {
        RangeRequest::Full => (StatusCode::OK, 0, meta.len),
        RangeRequest::Partial { start, end } => {
            let v = format!("bytes {start}-{end}/{}", meta.len);
            h.insert(CONTENT_RANGE, HeaderValue::try_from(v).expect("digits are a valid header"));
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        RangeRequest::Unsatisfiable => {
            let v = format!("bytes */{}", meta.len);
            h.insert(CONTENT_RANGE, HeaderValue::try_from(v).expect("digits are a valid header"));
            h.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
            return (StatusCode::RANGE_NOT_SATISFIABLE, h).into_response();
        }
    };
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    if method == Method::HEAD {
        return (status, h).into_response();
    }
    let body = match file.content {
        Content::Memory(bytes) => Body::from(bytes.slice(start as usize..(start + len) as usize)),
        Content::File(f) => file_body(f, start, len),
        Content::Remote(o) => o.body(start, len),
    };
    (status, h, MeteredBody::wrap(body, counter)).into_response()
}
