//! Stable URLs of versioned outputs ([`framelog_core::media::versions`]).
//!
//! A video's root files (`master.m3u8`, `poster.jpg`, `sprites.jpg`, `storyboard.vtt`: a
//! request path of one component) are served from the version the pointer names, so the URLs
//! players and the API hand out never change. The master and storyboard name every other file
//! by its versioned path (`v/<version>/360p/playlist.m3u8`), which is served as it is: once a
//! player has a master, it keeps reading that version even when the pointer moves, and those
//! files really are immutable. A video without a pointer (transcoded before versions existed)
//! is served from its prefix as before.

use framelog_core::media::versions::version_prefix;
use framelog_core::media::{MediaError, SharedMediaStore, hls_prefix, validate_key};

/// Whether `path` (already valid) is a root file, resolved through the pointer.
pub fn is_root_file(path: &str) -> bool {
    !path.contains('/')
}

/// The media key serving `path` of `tenant`'s `video` whose direct key is `key` (from
/// [`crate::paths::vod_key`]): for a root file, the same file in the live version.
pub async fn resolve(
    media: &SharedMediaStore,
    tenant: &str,
    video: &str,
    path: &str,
    key: String,
) -> Result<String, MediaError> {
    if !is_root_file(path) && crate::mp4::stable_file(path).is_none() {
        return Ok(key);
    }
    let prefix = hls_prefix(tenant, video);
    let Some(cur) = media.current(&prefix).await? else { return Ok(key) };
    let live = format!("{}/{path}", version_prefix(&prefix, &cur.pointer.version));
    validate_key(&live)?;
    Ok(live)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_at_the_videos_root_follow_the_pointer() {
        for root in ["master.m3u8", "poster.jpg", "storyboard.vtt", "sprites.jpg"] {
            assert!(is_root_file(root), "{root}");
        }
        for versioned in ["v/0192/360p/playlist.m3u8", "v/0192/360p/seg_1.m4s", "360p/a.m4s"] {
            assert!(!is_root_file(versioned), "{versioned}");
        }
    }
}
