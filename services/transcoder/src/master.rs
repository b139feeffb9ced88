//! The master playlist (pure): written by us from measured figures (ffmpeg 5.1's has no
//! FRAME-RATE, no AVERAGE-BANDWIDTH, no EXT-X-INDEPENDENT-SEGMENTS, and a nominal BANDWIDTH).
//!
//! Layout:
//! - one `EXT-X-MEDIA TYPE=AUDIO` per audio rendition, in groups by channel count
//!   ([`crate::audio::STEREO_GROUP`], [`crate::audio::MULTICHANNEL_GROUP`]); in each group the
//!   first is `DEFAULT=YES`, every one `AUTOSELECT=YES`;
//! - the video variants paired with the stereo group first: a mid rung first (the tallest at
//!   or under [`FIRST_VARIANT_MAX_HEIGHT`]: players start with the first variant, and 720p
//!   starts sharp without stalling on most links), then the rest by ascending bandwidth; then
//!   the same variants paired with the multichannel group; every one `VIDEO-RANGE=SDR`;
//! - last, one audio-only variant per group, pointing at the group's first playlist.
//!
//! Every pairing's `BANDWIDTH`, `AVERAGE-BANDWIDTH` and `CODECS` are the video's plus the
//! largest of its group's audio renditions (RFC 8216 §4.3.4.2: the peak of any combination).

use std::collections::BTreeMap;

use crate::playlist::{PlaylistError, attributes};

/// The first variant is the tallest at or under this height.
pub const FIRST_VARIANT_MAX_HEIGHT: u32 = 720;

/// One video rendition of the master (an `EXT-X-STREAM-INF` entry once per audio group).
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// Relative URI of the media playlist, e.g. `360p/playlist.m3u8`.
    pub uri: String,
    /// Peak segment bit rate of the video alone.
    pub bandwidth: u64,
    /// Mean bit rate of the video alone.
    pub average_bandwidth: u64,
    pub width: u32,
    pub height: u32,
    /// RFC 6381 codecs of the video alone (`avc1.64001f`).
    pub codecs: String,
    pub frame_rate: f64,
}

/// One audio rendition of a master playlist (an `EXT-X-MEDIA` tag).
#[derive(Debug, Clone, PartialEq)]
pub struct AudioMedia {
    /// Relative URI of its media playlist, e.g. `audio/playlist.m3u8`.
    pub uri: String,
    /// `GROUP-ID`.
    pub group: String,
    /// `NAME`, unique within the group.
    pub name: String,
    /// `LANGUAGE` (BCP 47).
    pub language: Option<String>,
    pub channels: u32,
    pub bandwidth: u64,
    pub average_bandwidth: u64,
    /// RFC 6381 codecs (`mp4a.40.2`).
    pub codecs: String,
}

/// Audio renditions grouped by `GROUP-ID`, groups in first-seen order.
fn groups(audio: &[AudioMedia]) -> Vec<(&str, Vec<&AudioMedia>)> {
    let mut out: Vec<(&str, Vec<&AudioMedia>)> = Vec::new();
    for a in audio {
        match out.iter_mut().find(|(g, _)| *g == a.group) {
            Some((_, members)) => members.push(a),
            None => out.push((&a.group, vec![a])),
        }
    }
    out
}

/// The video variants in master order: the mid rung, then the rest by ascending bandwidth.
pub fn play_order(variants: &[Variant]) -> Vec<&Variant> {
    let mut sorted: Vec<&Variant> = variants.iter().collect();
    sorted.sort_by_key(|v| (v.bandwidth, v.width));
    let first = sorted
        .iter()
        .enumerate()
        .filter(|(_, v)| v.height <= FIRST_VARIANT_MAX_HEIGHT)
        .max_by_key(|(i, v)| (v.height, std::cmp::Reverse(*i)))
        .map_or(0, |(i, _)| i);
    if !sorted.is_empty() {
        let v = sorted.remove(first);
        sorted.insert(0, v);
    }
    sorted
}

/// The peak, mean and codecs a group adds to a variant.
fn group_figures(members: &[&AudioMedia]) -> (u64, u64, String) {
    let peak = members.iter().map(|a| a.bandwidth).max().unwrap_or(0);
    let avg = members.iter().map(|a| a.average_bandwidth).max().unwrap_or(0);
    let mut codecs: Vec<&str> = Vec::new();
    for a in members {
        if !codecs.contains(&a.codecs.as_str()) {
            codecs.push(&a.codecs);
        }
    }
    (peak, avg, codecs.join(","))
}

/// Writes the master playlist: video `variants` (figures of the video alone) and `audio`
/// renditions (grouped by `group`, the first of each group its default). Without video
/// variants it is an audio-only master.
pub fn render_master(variants: &[Variant], audio: &[AudioMedia]) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    let groups = groups(audio);
    for (_, members) in &groups {
        for (k, a) in members.iter().enumerate() {
            let language =
                a.language.as_ref().map(|l| format!(",LANGUAGE=\"{l}\"")).unwrap_or_default();
            out.push_str(&format!(
                "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"{}\",NAME=\"{}\"{language},DEFAULT={},AUTOSELECT=YES,CHANNELS=\"{}\",URI=\"{}\"\n",
                a.group,
                a.name,
                if k == 0 { "YES" } else { "NO" },
                a.channels,
                a.uri
            ));
        }
    }
    let ordered = play_order(variants);
    let video = |v: &Variant, bw: u64, avg: u64, codecs: String, group: String| {
        format!(
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},RESOLUTION={}x{},CODECS=\"{codecs}\",FRAME-RATE={:.3},VIDEO-RANGE=SDR{group}\n{}\n",
            v.bandwidth + bw,
            v.average_bandwidth + avg,
            v.width,
            v.height,
            v.frame_rate,
            v.uri
        )
    };
    if groups.is_empty() {
        for v in &ordered {
            out.push_str(&video(v, 0, 0, v.codecs.clone(), String::new()));
        }
    }
    for (group, members) in &groups {
        let (bw, avg, codecs) = group_figures(members);
        for v in &ordered {
            let attr = format!(",AUDIO=\"{group}\"");
            out.push_str(&video(v, bw, avg, format!("{},{codecs}", v.codecs), attr));
        }
    }
    for (group, members) in &groups {
        let first = members[0];
        out.push_str(&format!(
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{}\",AUDIO=\"{group}\"\n{}\n",
            first.bandwidth, first.average_bandwidth, first.codecs, first.uri
        ));
    }
    out
}

/// The attributes of every `EXT-X-MEDIA` tag of a master playlist.
pub fn parse_master_media(text: &str) -> Vec<BTreeMap<String, String>> {
    text.lines().filter_map(|l| l.trim().strip_prefix("#EXT-X-MEDIA:")).map(attributes).collect()
}

/// One entry of a parsed master playlist: its attributes and URI.
pub type MasterEntry = (BTreeMap<String, String>, String);

/// Parses the `EXT-X-STREAM-INF` entries of a master playlist.
pub fn parse_master(text: &str) -> Result<Vec<MasterEntry>, PlaylistError> {
    let mut lines = text.lines().map(str::trim).enumerate();
    match lines.next() {
        Some((_, "#EXTM3U")) => {}
        _ => return Err(PlaylistError::NotHls),
    }
    let mut out = Vec::new();
    let mut pending = None;
    for (i, line) in lines {
        if let Some(v) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            pending = Some(attributes(v));
        } else if !line.is_empty() && !line.starts_with('#') {
            let attrs = pending.take().ok_or(PlaylistError::Bad {
                line: i + 1,
                message: "URI without EXT-X-STREAM-INF".into(),
            })?;
            out.push((attrs, line.to_owned()));
        }
    }
    if out.is_empty() {
        return Err(PlaylistError::Empty);
    }
    Ok(out)
}

/// Whether a parsed master entry is a video variant (it has a `RESOLUTION`).
pub fn is_video(entry: &MasterEntry) -> bool {
    entry.0.contains_key("RESOLUTION")
}

#[cfg(test)]
#[path = "master_tests.rs"]
mod tests;
