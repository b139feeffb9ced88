//! The catalog's view of a video's static MP4 renditions: the setting asked for and the files
//! stored, from `VID_TRANSCODE mp4_requested` and `mp4_ready`.

use serde::{Deserialize, Serialize};

use crate::data::TranscodeData;
use crate::mp4::{Mp4Output, Mp4Setting};

/// Static MP4 renditions of one video.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Mp4Entry {
    /// The setting: the latest request, else what the latest result was made for (a tenant
    /// default).
    pub setting: Mp4Setting,
    /// Whether the tenant set it for this video (`mp4_requested` seen).
    #[serde(default)]
    pub requested: bool,
    /// The version the stored files belong to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The files stored, as the latest `mp4_ready` names them.
    #[serde(default)]
    pub files: Vec<Mp4Output>,
}

/// Folds an MP4 phase into the entry; other phases leave it unchanged.
pub fn apply(entry: Option<Mp4Entry>, t: &TranscodeData) -> Option<Mp4Entry> {
    match t {
        TranscodeData::Mp4Requested { mp4 } => {
            let mut e = entry.unwrap_or_default();
            e.setting = *mp4;
            e.requested = true;
            Some(e)
        }
        TranscodeData::Mp4Ready { mp4, version, files, .. } => {
            let mut e = entry.unwrap_or_default();
            if !e.requested {
                e.setting = *mp4;
            }
            e.version = Some(version.clone());
            e.files = files.clone();
            Some(e)
        }
        _ => entry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(mp4: Mp4Setting, names: &[&str]) -> TranscodeData {
        TranscodeData::Mp4Ready {
            mp4,
            version: "0abc".into(),
            files: names
                .iter()
                .map(|n| Mp4Output { name: (*n).into(), bytes: 10, rendition: None })
                .collect(),
            cpu_seconds: 0.1,
        }
    }

    #[test]
    fn given_a_tenant_default_when_files_are_ready_then_the_setting_is_the_results() {
        let e = apply(None, &ready(Mp4Setting::All, &["capped-1080p.mp4", "audio.m4a"])).unwrap();
        assert_eq!(e.setting, Mp4Setting::All);
        assert_eq!(e.files.len(), 2);
        assert_eq!(e.version.as_deref(), Some("0abc"));
    }

    #[test]
    fn given_a_request_when_an_older_result_lands_then_the_request_keeps_the_setting() {
        let e = apply(None, &TranscodeData::Mp4Requested { mp4: Mp4Setting::AudioOnly });
        let e = apply(e, &ready(Mp4Setting::Capped1080p, &["capped-1080p.mp4"])).unwrap();
        assert_eq!(e.setting, Mp4Setting::AudioOnly);
        assert_eq!(e.files[0].name, "capped-1080p.mp4", "what is stored is still shown");
        let e = apply(Some(e), &ready(Mp4Setting::None, &[])).unwrap();
        assert!(e.files.is_empty());
    }

    #[test]
    fn other_phases_change_nothing() {
        let t = TranscodeData::Playable { renditions: vec![] };
        assert_eq!(apply(None, &t), None);
    }
}
