//! Static MP4 downloads: `/hls/<token>/<video>/mp4/capped-1080p.mp4` and `.../mp4/audio.m4a`.
//!
//! The stable path `mp4/<name>` is served from the live version's `mp4/` directory (like a root
//! file, [`crate::current`]), so the URL the API hands out never changes; it is revalidated
//! (`no-cache` + ETag) rather than immutable, since a new version or a new setting changes what
//! it names, and it is never redirected nor kept in the memory cache (a whole film). Ranges
//! work as for every file ([`crate::serve`]). `?download=<name>` adds `Content-Disposition:
//! attachment` with a sanitised file name (`<name>-capped-1080p.mp4`; the video id when the
//! value is empty). The token audience is `v` (video), as for segments.

use framelog_events::mp4::{Mp4File, download_name};
use http::HeaderValue;

use crate::mime::{CachePolicy, FileKind};

/// The static file a request path names at the stable location (`mp4/<name>`), if any.
pub fn stable_file(path: &str) -> Option<Mp4File> {
    Mp4File::from_name(path.strip_prefix("mp4/")?)
}

/// How a static file is served: its content type, revalidated on every use.
pub fn kind(file: Mp4File) -> FileKind {
    let content_type = match file {
        Mp4File::Capped1080p => "video/mp4",
        Mp4File::Audio => "audio/mp4",
    };
    FileKind { content_type, policy: CachePolicy::NoCache }
}

/// The `Content-Disposition` of a download: `Some` when the query has `download` (any value;
/// empty means "name it after the video").
pub fn disposition(query: Option<&str>, video: &str, file: Mp4File) -> Option<HeaderValue> {
    let value = query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == "download").then_some(v)
    })?;
    let decoded = percent_decode(value);
    let base = if decoded.trim().is_empty() { video.to_owned() } else { decoded };
    let name = download_name(&base, file);
    HeaderValue::try_from(format!("attachment; filename=\"{name}\"")).ok()
}

/// `res` with the `Content-Disposition` of a download when `path` is a static file and the
/// query asks for one (a successful answer only).
pub fn with_disposition(
    mut res: axum::response::Response,
    path: &str,
    query: Option<&str>,
    video: &str,
) -> axum::response::Response {
    if let Some(file) = stable_file(path)
        && res.status().is_success()
        && let Some(h) = disposition(query, video, file)
    {
        res.headers_mut().insert(http::header::CONTENT_DISPOSITION, h);
    }
    res
}

/// `%XX` and `+` decoding of a query value; invalid escapes are kept as they are (the name is
/// sanitised afterwards anyway).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_known_files_under_mp4_are_static_files() {
        assert_eq!(stable_file("mp4/capped-1080p.mp4"), Some(Mp4File::Capped1080p));
        assert_eq!(stable_file("mp4/audio.m4a"), Some(Mp4File::Audio));
        for p in ["capped-1080p.mp4", "mp4/other.mp4", "v/1/mp4/audio.m4a", "mp4/"] {
            assert_eq!(stable_file(p), None, "{p}");
        }
        assert_eq!(kind(Mp4File::Audio).content_type, "audio/mp4");
        for p in ["mp4/capped-1080p.mp4", "mp4/audio.m4a"] {
            assert_eq!(crate::jwt::Aud::for_path(p), crate::jwt::Aud::Video, "JWT audience of {p}");
        }
        assert!(!kind(Mp4File::Capped1080p).cacheable());
    }

    #[test]
    fn a_download_query_names_the_attachment_and_nothing_else_does() {
        let d = |q| {
            disposition(q, "vid_1", Mp4File::Capped1080p).map(|h| h.to_str().unwrap().to_owned())
        };
        assert_eq!(d(None), None);
        assert_eq!(d(Some("x=1")), None);
        assert_eq!(d(Some("download")).unwrap(), "attachment; filename=\"vid_1-capped-1080p.mp4\"");
        assert_eq!(
            d(Some("download=")).unwrap(),
            "attachment; filename=\"vid_1-capped-1080p.mp4\""
        );
        assert_eq!(
            d(Some("a=b&download=My%20Trip%22%0D%0A")).unwrap(),
            "attachment; filename=\"My_Trip-capped-1080p.mp4\""
        );
        assert_eq!(
            d(Some("download=%zz")).unwrap(),
            "attachment; filename=\"zz-capped-1080p.mp4\""
        );
    }
}
