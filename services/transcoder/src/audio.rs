//! The audio renditions a source gets (pure), and their ffmpeg arguments.
//!
//! Every audio track of the source (up to [`MAX_TRACKS`]) becomes its own AAC-LC rendition at
//! 48 kHz, in play order (the default-flagged track first), in one `EXT-X-MEDIA` group
//! ([`STEREO_GROUP`]). Mono becomes stereo (players and MSE pipelines that switch between
//! tracks handle one channel layout best) and more than two channels are downmixed to stereo
//! there. A track with 5.1 or more channels is also kept as a 6-channel rendition in a second
//! group ([`MULTICHANNEL_GROUP`]): RFC 8216bis §4.4.6.2 and Apple's authoring spec put
//! different channel counts in different groups, each video variant listed once per group.
//! That group holds every track too (a stereo-only track by its stereo playlist), so switching
//! group never loses a language.
//!
//! Every rendition is padded with silence or trimmed to the video's duration
//! (`apad=whole_dur`, `atrim`): an audio track that ends early would otherwise end its
//! playlist early, and MSE players stall where the shortest buffered track ends (hls.js #7266).

use crate::profile::AUDIO_BPS;

/// Most audio tracks made into renditions (the rest are dropped, in play order).
/// `media_limits` already caps a container at 16 streams; eight languages is plenty.
pub const MAX_TRACKS: usize = 8;
/// Sample rate of every audio rendition.
pub const SAMPLE_RATE: u32 = 48_000;
/// Channels of a multichannel rendition (5.1).
pub const MULTICHANNEL: u32 = 6;
/// Bit rate of a 5.1 rendition (AAC-LC, 64 kb/s a channel).
pub const MULTICHANNEL_BPS: u64 = 384_000;
/// `GROUP-ID` of the stereo renditions.
pub const STEREO_GROUP: &str = "audio";
/// `GROUP-ID` of the multichannel renditions.
pub const MULTICHANNEL_GROUP: &str = "audio-mc";

/// One audio track of the source, as the plan needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// Absolute stream index in the container (`-map 0:<index>`).
    pub index: u32,
    pub channels: u32,
    /// BCP 47 tag (`en`), if the track has a language.
    pub language: Option<String>,
    /// Display name of the language (`English`), if any.
    pub language_name: Option<String>,
    pub title: Option<String>,
}

impl Track {
    /// The track as the probe describes it.
    pub fn from_stream(s: &framelog_core::probe::AudioStream) -> Track {
        let language = s.language.as_deref().map(framelog_core::probe::language_tag);
        Track {
            index: s.index,
            channels: s.channels,
            language_name: language.as_deref().map(framelog_core::probe::language_name),
            language,
            title: s.title.clone().filter(|t| !t.trim().is_empty()),
        }
    }
}

/// One audio rendition to encode.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioOut {
    /// Source stream index.
    pub index: u32,
    /// Directory and `-var_stream_map` name: `audio`, `audio_1`, `audio_mc`...
    pub dir: String,
    /// `NAME` in the master (unique within its group).
    pub name: String,
    /// `LANGUAGE` (BCP 47).
    pub language: Option<String>,
    /// Channels encoded (2 or 6).
    pub channels: u32,
    pub bit_rate: u64,
}

/// The audio renditions of one source.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioPlan {
    /// Stereo renditions in play order: the first is the default.
    pub stereo: Vec<AudioOut>,
    /// 6-channel renditions of the tracks that have 5.1 or more, in play order.
    pub multichannel: Vec<AudioOut>,
    /// What every rendition is padded or trimmed to, seconds.
    pub duration_secs: f64,
}

/// The plan for a probed source (None without audio).
pub fn plan_for(inspection: &framelog_core::probe::Inspection) -> Option<AudioPlan> {
    let tracks: Vec<Track> =
        inspection.audio_in_play_order().into_iter().map(Track::from_stream).collect();
    plan(&tracks, inspection.probe.duration_secs)
}

/// The plan for `tracks` (in play order), padded/trimmed to `duration_secs`.
pub fn plan(tracks: &[Track], duration_secs: f64) -> Option<AudioPlan> {
    if tracks.is_empty() {
        return None;
    }
    let tracks = &tracks[..tracks.len().min(MAX_TRACKS)];
    let names = unique_names(tracks);
    let mut stereo = Vec::new();
    let mut multichannel = Vec::new();
    for (k, (t, name)) in tracks.iter().zip(names).enumerate() {
        let dir = if k == 0 { STEREO_GROUP.to_owned() } else { format!("{STEREO_GROUP}_{k}") };
        if t.channels >= MULTICHANNEL {
            multichannel.push(AudioOut {
                index: t.index,
                dir: format!("{dir}_mc"),
                name: name.clone(),
                language: t.language.clone(),
                channels: MULTICHANNEL,
                bit_rate: MULTICHANNEL_BPS,
            });
        }
        stereo.push(AudioOut {
            index: t.index,
            dir,
            name,
            language: t.language.clone(),
            channels: 2,
            bit_rate: AUDIO_BPS,
        });
    }
    Some(AudioPlan { stereo, multichannel, duration_secs })
}

/// `NAME`s: the language name, else the title, else `Track N`; a name already taken gets the
/// title, then the track number, appended.
fn unique_names(tracks: &[Track]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (k, t) in tracks.iter().enumerate() {
        let base = t
            .language_name
            .clone()
            .or_else(|| t.title.clone())
            .unwrap_or_else(|| format!("Track {}", k + 1));
        let mut name = base.clone();
        if out.contains(&name)
            && let Some(title) = t.title.as_ref().filter(|title| **title != base)
        {
            name = format!("{base} ({title})");
        }
        if out.contains(&name) {
            name = format!("{base} {}", k + 1);
        }
        out.push(name.replace('"', "'"));
    }
    out
}

impl AudioPlan {
    /// Every rendition in output-stream order: stereo first, then multichannel.
    pub fn all(&self) -> impl Iterator<Item = &AudioOut> {
        self.stereo.iter().chain(&self.multichannel)
    }

    /// The default rendition (the first stereo one).
    pub fn default_out(&self) -> &AudioOut {
        &self.stereo[0]
    }

    /// `-map` for every rendition, in output-stream order.
    pub fn map_args(&self) -> Vec<String> {
        self.all().flat_map(|a| ["-map".to_owned(), format!("0:{}", a.index)]).collect()
    }

    /// Codec, channels, sample rate, bit rate and the pad/trim filter of every audio output
    /// stream (`:a:<j>` in output-stream order).
    pub fn codec_args(&self) -> Vec<String> {
        let d = format!("{:.3}", self.duration_secs.max(0.001));
        let mut a = vec!["-c:a".to_owned(), "aac".to_owned()];
        for (j, out) in self.all().enumerate() {
            a.extend([format!("-ac:a:{j}"), out.channels.to_string()]);
            a.extend([format!("-ar:a:{j}"), SAMPLE_RATE.to_string()]);
            a.extend([format!("-b:a:{j}"), out.bit_rate.to_string()]);
            a.extend([format!("-filter:a:{j}"), format!("apad=whole_dur={d},atrim=end={d}")]);
        }
        a
    }

    /// `-var_stream_map` entries (`a:0,name:audio` ...), audio streams counted from 0.
    pub fn var_stream_entries(&self) -> Vec<String> {
        self.all().enumerate().map(|(j, a)| format!("a:{j},name:{}", a.dir)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(index: u32, channels: u32, lang: Option<(&str, &str)>, title: Option<&str>) -> Track {
        Track {
            index,
            channels,
            language: lang.map(|l| l.0.to_owned()),
            language_name: lang.map(|l| l.1.to_owned()),
            title: title.map(str::to_owned),
        }
    }

    #[test]
    fn no_track_means_no_audio() {
        assert_eq!(plan(&[], 5.0), None);
    }

    #[test]
    fn every_track_is_a_stereo_rendition_in_play_order_named_by_language() {
        let tracks = [
            track(2, 2, Some(("fr", "Français")), None),
            track(1, 1, Some(("en", "English")), Some("Commentary")),
        ];
        let p = plan(&tracks, 10.0).unwrap();
        let dirs: Vec<_> = p.stereo.iter().map(|a| a.dir.as_str()).collect();
        assert_eq!(dirs, ["audio", "audio_1"]);
        assert_eq!(p.stereo[0].index, 2, "play order is kept");
        assert_eq!(p.stereo[0].name, "Français");
        assert_eq!(p.stereo[1].language.as_deref(), Some("en"));
        assert!(p.stereo.iter().all(|a| a.channels == 2), "mono becomes stereo");
        assert!(p.multichannel.is_empty());
        assert_eq!(p.var_stream_entries(), ["a:0,name:audio", "a:1,name:audio_1"]);
        assert_eq!(p.map_args().join(" "), "-map 0:2 -map 0:1");
    }

    #[test]
    fn names_are_unique_and_fall_back_to_the_title_then_the_number() {
        let en = Some(("en", "English"));
        let tracks = [
            track(1, 2, en, None),
            track(2, 2, en, Some("Commentary")),
            track(3, 2, en, None),
            track(4, 2, None, Some("Director \"cut\"")),
            track(5, 2, None, None),
        ];
        let names: Vec<_> =
            plan(&tracks, 1.0).unwrap().stereo.into_iter().map(|a| a.name).collect();
        assert_eq!(
            names,
            ["English", "English (Commentary)", "English 3", "Director 'cut'", "Track 5"]
        );
    }

    #[test]
    fn a_surround_track_is_also_kept_as_six_channels() {
        let tracks = [track(1, 6, Some(("en", "English")), None), track(2, 2, None, None)];
        let p = plan(&tracks, 4.0).unwrap();
        assert_eq!(p.stereo.len(), 2);
        assert_eq!(p.multichannel.len(), 1);
        let mc = &p.multichannel[0];
        assert_eq!((mc.dir.as_str(), mc.channels, mc.bit_rate), ("audio_mc", 6, MULTICHANNEL_BPS));
        assert_eq!(mc.name, "English");
        let args = p.codec_args().join(" ");
        assert!(args.starts_with("-c:a aac -ac:a:0 2 -ar:a:0 48000 -b:a:0 128000"), "{args}");
        assert!(args.contains("-ac:a:2 6 -ar:a:2 48000 -b:a:2 384000"), "{args}");
        assert!(args.contains("-filter:a:1 apad=whole_dur=4.000,atrim=end=4.000"), "{args}");
        assert_eq!(p.var_stream_entries()[2], "a:2,name:audio_mc");
        assert_eq!(p.map_args().join(" "), "-map 0:1 -map 0:2 -map 0:1");
    }

    #[test]
    fn tracks_past_the_cap_are_dropped() {
        let tracks: Vec<Track> = (0..12).map(|i| track(i, 2, None, None)).collect();
        let p = plan(&tracks, 1.0).unwrap();
        assert_eq!(p.stereo.len(), MAX_TRACKS);
        assert_eq!(p.stereo.last().unwrap().dir, format!("audio_{}", MAX_TRACKS - 1));
    }
}
