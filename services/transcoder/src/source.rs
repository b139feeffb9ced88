//! Where ffmpeg reads a source from: a local file, or (a store that presigns, S3) its URL, so
//! a range worker reads only the bytes its range needs instead of a copy of the whole source.
//!
//! A URL input is fenced like a file ([`framelog_core::probe::url_fence_args`]: the network
//! protocols for that input only, the same demuxer list) and opened `-seekable 1` (S3 serves
//! ranges, so `-ss` seeks by HTTP range) with reconnects on network errors.
//!
//! [`locate_source`] is the one place a job or a work item gets its source: the store's own
//! file, else its URL (nothing on local disk, the coordinator probes and packages from it),
//! else (a store that neither has paths nor presigns: the NATS object store) a staged copy.
//! A URL is a credential: it is never logged ([`Source`]'s `Debug`, [`redacted`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use framelog_core::media::{MediaError, SharedMediaStore};
use framelog_core::probe::{self, Inspection, ProbeError};
use tracing::instrument;

use crate::error::JobError;

/// Lifetime of a source URL: longer than any item's encode (ffmpeg reconnects with it).
pub const URL_TTL: Duration = Duration::from_secs(6 * 3600);

/// A source input.
#[derive(Clone, PartialEq, Eq)]
pub enum Source {
    /// A local file.
    File(PathBuf),
    /// A presigned URL (a credential: never logged).
    Url(String),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(p) => f.debug_tuple("File").field(p).finish(),
            Source::Url(_) => f.write_str("Url(<presigned>)"),
        }
    }
}

impl From<&Path> for Source {
    fn from(p: &Path) -> Source {
        Source::File(p.to_owned())
    }
}

impl Source {
    /// `-i <source>` behind its fence (see [`crate::command::input_args`] for files).
    pub fn input_args(&self) -> Vec<String> {
        match self {
            Source::File(p) => crate::command::input_args(p),
            Source::Url(url) => {
                let mut a: Vec<String> =
                    probe::url_fence_args().iter().map(|s| (*s).to_owned()).collect();
                for (k, v) in
                    [("-seekable", "1"), ("-reconnect", "1"), ("-reconnect_on_network_error", "1")]
                {
                    a.extend([k.to_owned(), v.to_owned()]);
                }
                a.extend(["-i".to_owned(), url.clone()]);
                a
            }
        }
    }

    /// ffprobe of the source (at most `timeout`).
    pub async fn inspect(&self, timeout: Duration) -> Result<Inspection, ProbeError> {
        match self {
            Source::File(p) => probe::inspect(p, timeout).await,
            Source::Url(url) => probe::inspect_url(url, timeout).await,
        }
    }
}

/// Where to read the source `key` from: the store's own file; else its presigned URL (after
/// checking the object is there, so a missing source fails for good as with a copy); else a
/// copy in `work` (`work/source`).
#[instrument(skip_all, fields(key = %key), err)]
pub async fn locate_source(
    media: &SharedMediaStore,
    key: &str,
    work: &Path,
) -> Result<Source, JobError> {
    let missing = |e: MediaError| match e {
        MediaError::NotFound(_) | MediaError::InvalidKey(_) => {
            JobError::SourceMissing(key.to_owned())
        }
        e => e.into(),
    };
    if let Some(p) = media.local_path(key) {
        if tokio::fs::try_exists(&p).await.unwrap_or(false) {
            return Ok(Source::File(p));
        }
    } else if let Some(url) = media.presigned_get(key, URL_TTL).await.map_err(missing)? {
        if !media.exists(key).await.map_err(missing)? {
            return Err(JobError::SourceMissing(key.to_owned()));
        }
        return Ok(Source::Url(url));
    }
    let dest = work.join("source");
    media.fetch_to(key, &dest).await.map_err(missing)?;
    Ok(Source::File(dest))
}

/// `args` joined for a log line, every URL argument replaced by `<url>`.
pub fn redacted(args: &[String]) -> String {
    let shown: Vec<&str> = args
        .iter()
        .map(|a| if a.contains("://") && !a.starts_with("file:") { "<url>" } else { a.as_str() })
        .collect();
    shown.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_source_is_fenced_seekable_and_never_shown() {
        let s = Source::Url("https://s3/b/k?X-Amz-Signature=secret".into());
        let a = s.input_args();
        assert_eq!(a[..4], probe::url_fence_args().map(str::to_owned));
        let seek = a.iter().position(|x| x == "-seekable").unwrap();
        assert_eq!(a[seek + 1], "1");
        assert_eq!(
            a[a.len() - 2..],
            ["-i".to_owned(), "https://s3/b/k?X-Amz-Signature=secret".to_owned()]
        );
        assert!(!format!("{s:?}").contains("secret"));
        let logged = redacted(&a);
        assert!(!logged.contains("secret") && logged.ends_with("-i <url>"), "{logged}");
        let f = Source::File(PathBuf::from("/m/source")).input_args();
        assert_eq!(f[1], "file,pipe");
        assert_eq!(f.last().unwrap(), "file:/m/source");
        assert!(redacted(&f).ends_with("-i file:/m/source"), "a file is shown");
    }
}
