//! Static MP4 renditions (issue 19): which progressive files a video offers for download, by
//! Mux's names. Pure: the setting, the file names a setting asks for, and the rung an MP4 is
//! remuxed from.

use serde::{Deserialize, Serialize};

/// Which static MP4 files a video has (a tenant default, overridden per video).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Mp4Setting {
    /// No static files (the default).
    #[default]
    #[serde(rename = "none")]
    None,
    /// `capped-1080p.mp4`: the highest video rung at most 1080 lines high, with the default
    /// audio rendition.
    #[serde(rename = "capped-1080p")]
    Capped1080p,
    /// `audio.m4a`: the default audio rendition alone.
    #[serde(rename = "audio-only")]
    AudioOnly,
    /// Both files (Mux's `audio-only,capped-1080p`).
    #[serde(rename = "all")]
    All,
}

/// One static file a setting can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mp4File {
    /// `capped-1080p.mp4`.
    Capped1080p,
    /// `audio.m4a`.
    Audio,
}

impl Mp4File {
    /// The file's name under the version's `mp4/` directory (and in the playback URL).
    pub const fn name(self) -> &'static str {
        match self {
            Mp4File::Capped1080p => "capped-1080p.mp4",
            Mp4File::Audio => "audio.m4a",
        }
    }

    /// The file named `name`, if it is one.
    pub fn from_name(name: &str) -> Option<Mp4File> {
        [Mp4File::Capped1080p, Mp4File::Audio].into_iter().find(|f| f.name() == name)
    }

    /// Whether the file needs a video stream.
    pub const fn needs_video(self) -> bool {
        matches!(self, Mp4File::Capped1080p)
    }
}

impl Mp4Setting {
    /// Every setting, in documentation order.
    pub const ALL: [Mp4Setting; 4] =
        [Mp4Setting::None, Mp4Setting::Capped1080p, Mp4Setting::AudioOnly, Mp4Setting::All];

    /// The wire name (`capped-1080p`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Mp4Setting::None => "none",
            Mp4Setting::Capped1080p => "capped-1080p",
            Mp4Setting::AudioOnly => "audio-only",
            Mp4Setting::All => "all",
        }
    }

    /// The setting named `s`.
    pub fn parse(s: &str) -> Option<Mp4Setting> {
        Mp4Setting::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// The files this setting asks for, for a video that has (`has_video`) or lacks a video
    /// stream: an audio-only asset never gets `capped-1080p.mp4`.
    pub fn files(self, has_video: bool) -> Vec<Mp4File> {
        let all = match self {
            Mp4Setting::None => &[][..],
            Mp4Setting::Capped1080p => &[Mp4File::Capped1080p][..],
            Mp4Setting::AudioOnly => &[Mp4File::Audio][..],
            Mp4Setting::All => &[Mp4File::Capped1080p, Mp4File::Audio][..],
        };
        all.iter().copied().filter(|f| has_video || !f.needs_video()).collect()
    }
}

/// One static file as stored (`VID_TRANSCODE mp4_ready`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mp4Output {
    /// Its name (`capped-1080p.mp4`, `audio.m4a`).
    pub name: String,
    /// Bytes stored (billed as storage).
    pub bytes: u64,
    /// The video rung it was remuxed from; absent for `audio.m4a`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendition: Option<String>,
}

/// The rung `capped-1080p.mp4` is remuxed from: among `(name, height)` of the ladder, the
/// highest at most 1080 lines, else (a ladder whose every rung is taller) the lowest.
pub fn capped_rung<'a>(rungs: impl IntoIterator<Item = (&'a str, u32)>) -> Option<&'a str> {
    let rungs: Vec<(&str, u32)> = rungs.into_iter().collect();
    rungs
        .iter()
        .filter(|(_, h)| *h <= 1080)
        .max_by_key(|(_, h)| *h)
        .or_else(|| rungs.iter().min_by_key(|(_, h)| *h))
        .map(|(n, _)| *n)
}

/// `base` reduced to a safe file name stem: ASCII letters, digits, `-`, `_` and `.` kept,
/// every other run of characters one `_`, at most 80 characters, no leading or trailing `_`
/// or `.`; `video` when nothing is left.
pub fn safe_stem(base: &str) -> String {
    let mut out = String::new();
    for c in base.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
        if out.len() >= 80 {
            break;
        }
    }
    let out = out.trim_matches(|c| c == '_' || c == '.');
    if out.is_empty() { "video".to_owned() } else { out.to_owned() }
}

/// A file name safe in `Content-Disposition: attachment; filename="..."`: the
/// [`safe_stem`] of `base`, then `-capped-1080p.mp4` or `-audio.m4a`.
pub fn download_name(base: &str, file: Mp4File) -> String {
    let suffix = match file {
        Mp4File::Capped1080p => "capped-1080p.mp4",
        Mp4File::Audio => "audio.m4a",
    };
    format!("{}-{suffix}", safe_stem(base))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_have_muxs_names_and_round_trip() {
        for m in Mp4Setting::ALL {
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(json, format!("\"{}\"", m.as_str()));
            assert_eq!(serde_json::from_str::<Mp4Setting>(&json).unwrap(), m);
            assert_eq!(Mp4Setting::parse(m.as_str()), Some(m));
        }
        assert_eq!(Mp4Setting::parse("capped_1080p"), None);
        assert!(serde_json::from_str::<Mp4Setting>("\"highest\"").is_err());
    }

    #[test]
    fn each_setting_asks_for_its_files_and_audio_only_assets_get_no_video_file() {
        assert!(Mp4Setting::None.files(true).is_empty());
        assert_eq!(Mp4Setting::Capped1080p.files(true), vec![Mp4File::Capped1080p]);
        assert_eq!(Mp4Setting::AudioOnly.files(true), vec![Mp4File::Audio]);
        assert_eq!(Mp4Setting::All.files(true), vec![Mp4File::Capped1080p, Mp4File::Audio]);
        assert!(Mp4Setting::Capped1080p.files(false).is_empty());
        assert_eq!(Mp4Setting::All.files(false), vec![Mp4File::Audio]);
        for f in [Mp4File::Capped1080p, Mp4File::Audio] {
            assert_eq!(Mp4File::from_name(f.name()), Some(f));
        }
        assert_eq!(Mp4File::from_name("../x.mp4"), None);
    }

    #[test]
    fn the_capped_rung_is_the_highest_at_most_1080_lines() {
        let ladder = [("270p", 270), ("720p", 720), ("1080p", 1080), ("2160p", 2160)];
        assert_eq!(capped_rung(ladder), Some("1080p"));
        assert_eq!(capped_rung([("360p", 360), ("540p", 540)]), Some("540p"));
        assert_eq!(capped_rung([("1440p", 1440), ("2160p", 2160)]), Some("1440p"));
        assert_eq!(capped_rung(std::iter::empty()), None);
    }

    #[test]
    fn download_names_cannot_break_the_header_or_escape() {
        assert_eq!(
            download_name("Holiday 2024", Mp4File::Capped1080p),
            "Holiday_2024-capped-1080p.mp4"
        );
        assert_eq!(download_name("a\"b\r\nc;d", Mp4File::Audio), "a_b_c_d-audio.m4a");
        assert_eq!(download_name("../../etc", Mp4File::Audio), "etc-audio.m4a");
        assert_eq!(download_name("日本", Mp4File::Audio), "video-audio.m4a");
        assert!(download_name(&"x".repeat(500), Mp4File::Audio).len() <= 80 + 10);
    }
}
