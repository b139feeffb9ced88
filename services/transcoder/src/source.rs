//! Where ffmpeg reads a source from: a local file, or (a store that presigns, S3) its URL, so
//! a range worker reads only the bytes its range needs instead of a copy of the whole source.
//!
//! A URL input is fenced like a file ([`framelog_core::probe::url_fence_args`]: the network
//! protocols for that input only, the same demuxer list) and opened `-seekable 1` (S3 serves
//! ranges, so `-ss` seeks by HTTP range) with reconnects on network errors.

use std::path::{Path, PathBuf};
use std::time::Duration;

use framelog_core::media::{MediaError, SharedMediaStore};
use framelog_core::probe::{self, Inspection, ProbeError};

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

/// The source `key` as a URL when the store presigns and has no local path; `None` to stage it
/// (as [`crate::job::locate_source`] does).
pub async fn presigned(media: &SharedMediaStore, key: &str) -> Result<Option<Source>, MediaError> {
    if media.local_path(key).is_some() {
        return Ok(None);
    }
    Ok(media.presigned_get(key, URL_TTL).await?.map(Source::Url))
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
        let f = Source::File(PathBuf::from("/m/source")).input_args();
        assert_eq!(f[1], "file,pipe");
        assert_eq!(f.last().unwrap(), "file:/m/source");
    }
}
