//! From a request path to a media key or a live file, refusing anything that could leave the
//! video's (or stream's) directory.
//!
//! The router has already percent-decoded the path, so `%2e%2e` arrives as `..` and `%2f` as `/`;
//! [`validate_key`] then refuses `..`, `.`, empty components (absolute paths, `//`), and every
//! character outside `[A-Za-z0-9._-]` (so a double-encoded `%252e` is refused for its `%`).
//! Ids are checked with the event id rule, so no id can hold a separator either.

use std::path::{Path, PathBuf};

use framelog_core::media::{hls_prefix, validate_key};
use framelog_events::id::validate_id;

/// The media key `hls/<tenant>/<video>/<path>`, or `None` if the request names no valid file.
pub fn vod_key(tenant: &str, video: &str, path: &str) -> Option<String> {
    validate_id(tenant).ok()?;
    validate_id(video).ok()?;
    validate_key(path).ok()?;
    let key = format!("{}/{path}", hls_prefix(tenant, video));
    validate_key(&key).ok()?;
    Some(key)
}

/// The live file `<dir>/<stream>/<path>`, or `None` if the request names no valid file.
pub fn live_file(dir: &Path, stream: &str, path: &str) -> Option<PathBuf> {
    validate_id(stream).ok()?;
    validate_key(path).ok()?;
    Some(dir.join(stream).join(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_paths_map_into_the_videos_directory() {
        assert_eq!(
            vod_key("acme", "vid_1", "360p/seg_001.ts").unwrap(),
            "hls/acme/vid_1/360p/seg_001.ts"
        );
        assert_eq!(vod_key("acme", "vid_1", "master.m3u8").unwrap(), "hls/acme/vid_1/master.m3u8");
        assert_eq!(
            live_file(Path::new("/live"), "str_1", "index.m3u8").unwrap(),
            Path::new("/live/str_1/index.m3u8")
        );
    }

    #[test]
    fn traversal_absolute_and_encoded_paths_are_refused() {
        for bad in [
            "../other/master.m3u8",
            "360p/../../vid_2/master.m3u8",
            "..",
            "/etc/passwd",
            "a//b.ts",
            "./master.m3u8",
            "%2e%2e/x.ts",
            "..%2fx.ts",
            "a\\..\\b.ts",
            "",
            "seg 1.ts",
        ] {
            assert_eq!(vod_key("acme", "vid_1", bad), None, "{bad:?}");
            assert_eq!(live_file(Path::new("/live"), "s", bad), None, "{bad:?}");
        }
        assert_eq!(vod_key("acme", "..", "master.m3u8"), None);
        assert_eq!(vod_key("acme", "vid_1/..", "master.m3u8"), None);
        assert_eq!(live_file(Path::new("/live"), "..", "index.m3u8"), None);
    }
}
