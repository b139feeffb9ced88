//! Content types and cache policies of the files playback serves (DESIGN §4).

use http::HeaderValue;

/// How a kind of file may be cached by players and CDNs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachePolicy {
    /// VOD segments and init segments: written once under their name, never changed.
    Immutable,
    /// Playlists: revalidated on every use (live ones change, VOD ones may be re-published).
    NoCache,
    /// Posters, sprite sheets, storyboards: may be regenerated, cached for an hour.
    Hour,
    /// Live fragments: nginx-rtmp reuses names across sessions, so only briefly.
    ShortLived,
}

impl CachePolicy {
    /// The `Cache-Control` value.
    pub fn header(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            CachePolicy::Immutable => "public, max-age=31536000, immutable",
            CachePolicy::NoCache => "no-cache",
            CachePolicy::Hour => "public, max-age=3600",
            CachePolicy::ShortLived => "public, max-age=30",
        })
    }
}

/// What a served file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileKind {
    pub content_type: &'static str,
    pub policy: CachePolicy,
}

impl FileKind {
    /// Whether the in-memory segment cache may hold it (immutable VOD media only).
    pub fn cacheable(&self) -> bool {
        self.policy == CachePolicy::Immutable
    }

    /// Whether it may be answered with a redirect to the store or a CDN: a file that names no
    /// other file (media and images). Playlists and storyboards hold URIs relative to the token
    /// path, which a redirect would break.
    pub fn redirectable(&self) -> bool {
        !matches!(self.content_type, PLAYLIST | STORYBOARD | DASH_MANIFEST)
    }
}

const PLAYLIST: &str = "application/vnd.apple.mpegurl";
const STORYBOARD: &str = "text/vtt; charset=utf-8";
/// The DASH manifest ([`crate::dash`]): it names the segments by relative URL, like a playlist.
const DASH_MANIFEST: &str = "application/dash+xml";

/// The kind of a VOD file from its name; `None` for anything playback does not serve.
pub fn vod_kind(path: &str) -> Option<FileKind> {
    let (content_type, policy) = match extension(path)? {
        "m3u8" => (PLAYLIST, CachePolicy::NoCache),
        "mpd" => (DASH_MANIFEST, CachePolicy::NoCache),
        "ts" => ("video/mp2t", CachePolicy::Immutable),
        "m4s" | "mp4" => ("video/mp4", CachePolicy::Immutable),
        "m4a" => ("audio/mp4", CachePolicy::Immutable),
        "aac" => ("audio/aac", CachePolicy::Immutable),
        "jpg" | "jpeg" => ("image/jpeg", CachePolicy::Hour),
        "png" => ("image/png", CachePolicy::Hour),
        "webp" => ("image/webp", CachePolicy::Hour),
        "vtt" => (STORYBOARD, CachePolicy::Hour),
        _ => return None,
    };
    Some(FileKind { content_type, policy })
}

/// The kind of a live file (nginx-rtmp HLS: playlists and MPEG-TS fragments).
pub fn live_kind(path: &str) -> Option<FileKind> {
    let mut kind = vod_kind(path)?;
    if kind.policy != CachePolicy::NoCache {
        kind.policy = CachePolicy::ShortLived;
    }
    Some(kind)
}

fn extension(path: &str) -> Option<&str> {
    let name = path.rsplit('/').next()?;
    let (_, ext) = name.rsplit_once('.')?;
    Some(ext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_immutable_and_playlists_are_revalidated() {
        let ts = vod_kind("360p/seg_001.ts").unwrap();
        assert_eq!((ts.content_type, ts.policy), ("video/mp2t", CachePolicy::Immutable));
        let m4s = vod_kind("720p/seg_1.m4s").unwrap();
        assert_eq!((m4s.content_type, m4s.policy), ("video/mp4", CachePolicy::Immutable));
        assert_eq!(vod_kind("720p/init.mp4").unwrap().policy, CachePolicy::Immutable);
        let pl = vod_kind("master.m3u8").unwrap();
        assert_eq!(pl.content_type, "application/vnd.apple.mpegurl");
        assert_eq!(pl.policy, CachePolicy::NoCache);
        assert_eq!(CachePolicy::Immutable.header(), "public, max-age=31536000, immutable");
    }

    #[test]
    fn posters_sprites_and_storyboards_have_their_types() {
        assert_eq!(vod_kind("poster.jpg").unwrap().content_type, "image/jpeg");
        assert_eq!(vod_kind("sprites.jpg").unwrap().policy, CachePolicy::Hour);
        assert!(vod_kind("storyboard.vtt").unwrap().content_type.starts_with("text/vtt"));
    }

    #[test]
    fn unknown_or_missing_extensions_are_not_served() {
        for p in ["source", "a/b", "x.exe", "secret.key", "dir.ts/", ".m3u8x"] {
            assert_eq!(vod_kind(p), None, "{p}");
        }
    }

    #[test]
    fn only_files_that_name_no_other_file_may_be_redirected() {
        for p in ["360p/seg_1.m4s", "360p/init.mp4", "a.ts", "poster.jpg", "sprites_0.jpg"] {
            assert!(vod_kind(p).unwrap().redirectable(), "{p}");
        }
        for p in ["master.m3u8", "360p/index.m3u8", "storyboard.vtt", "manifest.mpd"] {
            assert!(!vod_kind(p).unwrap().redirectable(), "{p}");
        }
    }

    #[test]
    fn the_dash_manifest_is_dash_xml_and_revalidated_like_a_playlist() {
        let mpd = vod_kind("manifest.mpd").unwrap();
        assert_eq!((mpd.content_type, mpd.policy), ("application/dash+xml", CachePolicy::NoCache));
    }

    #[test]
    fn live_fragments_are_cached_briefly_and_live_playlists_not_at_all() {
        assert_eq!(live_kind("index.m3u8").unwrap().policy, CachePolicy::NoCache);
        assert_eq!(live_kind("index-12.ts").unwrap().policy, CachePolicy::ShortLived);
    }
}
