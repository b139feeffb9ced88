//! Reading the stored HLS playlists a DASH manifest is built from (pure).
//!
//! Only what the MPD needs: the master's video variants (deduplicated: the transcoder lists
//! each once per audio group) and audio renditions, and a media playlist's init segment,
//! segment names, `EXTINF` durations and whether it has ended. The transcoder writes these
//! files; they are still read as data, so anything unexpected is an error, never a panic.

use std::collections::BTreeMap;

/// A playlist that cannot become part of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HlsError {
    #[error("not an HLS playlist (no #EXTM3U)")]
    NotHls,
    #[error("line {0}: {1}")]
    Bad(usize, &'static str),
}

/// One video variant of the master.
#[derive(Debug, Clone, PartialEq)]
pub struct MasterVideo {
    /// Its media playlist, relative to the video's root (`v/<version>/720p/playlist.m3u8`).
    pub uri: String,
    /// `BANDWIDTH` less its audio group's share (the group's audio-only variant).
    pub bandwidth: u64,
    pub width: u32,
    pub height: u32,
    /// The video codec alone (the first of `CODECS`), or every codec of a multiplexed
    /// rendition (a master without audio renditions).
    pub codecs: String,
    pub frame_rate: Option<f64>,
}

/// One audio rendition of the master (`EXT-X-MEDIA:TYPE=AUDIO`).
#[derive(Debug, Clone, PartialEq)]
pub struct MasterAudio {
    pub uri: String,
    pub group: String,
    pub name: String,
    /// `LANGUAGE` (BCP 47).
    pub language: Option<String>,
    pub channels: Option<u32>,
    pub default: bool,
    /// The group's audio-only variant's `BANDWIDTH`, if it has one.
    pub bandwidth: Option<u64>,
    /// The group's audio codecs (from its audio-only variant), `mp4a.40.2` if unknown.
    pub codecs: String,
}

/// The parts of a master playlist a manifest is made of.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Master {
    pub video: Vec<MasterVideo>,
    pub audio: Vec<MasterAudio>,
}

/// Parses an attribute list (`A=1,B="x,y"`); quoted values are unquoted.
pub fn attributes(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else { break };
        let (value, tail) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"').unwrap_or(q.len());
            (&q[..end], q.get(end + 1..).unwrap_or(""))
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        out.insert(key.trim().to_owned(), value.to_owned());
        rest = tail.trim_start_matches(',').trim_start();
    }
    out
}

fn lines(text: &str) -> Result<impl Iterator<Item = (usize, &str)>, HlsError> {
    let mut it = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
    match it.next() {
        Some((_, "#EXTM3U")) => Ok(it.filter(|(_, l)| !l.is_empty())),
        _ => Err(HlsError::NotHls),
    }
}

/// `WxH` of a `RESOLUTION` attribute.
fn resolution(v: &str) -> Option<(u32, u32)> {
    let (w, h) = v.split_once('x')?;
    Some((w.parse().ok()?, h.parse().ok()?))
}

/// Reads the master: its video variants once each (in master order, first pairing kept) and
/// its audio renditions once each (by URI).
pub fn parse_master(text: &str) -> Result<Master, HlsError> {
    let mut media: Vec<BTreeMap<String, String>> = Vec::new();
    let mut entries: Vec<(BTreeMap<String, String>, String)> = Vec::new();
    let mut pending = None;
    for (n, line) in lines(text)? {
        if let Some(v) = line.strip_prefix("#EXT-X-MEDIA:") {
            media.push(attributes(v));
        } else if let Some(v) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            pending = Some(attributes(v));
        } else if !line.starts_with('#') {
            let attrs = pending.take().ok_or(HlsError::Bad(n, "URI without EXT-X-STREAM-INF"))?;
            entries.push((attrs, line.to_owned()));
        }
    }
    // A group's audio-only variant: the entry without RESOLUTION that names the group.
    let audio_only = |group: &str| {
        entries.iter().find(|(a, _)| {
            !a.contains_key("RESOLUTION") && a.get("AUDIO").is_some_and(|g| g == group)
        })
    };
    let bandwidth = |a: &BTreeMap<String, String>| a.get("BANDWIDTH")?.parse::<u64>().ok();
    let mut master = Master::default();
    for (attrs, uri) in &entries {
        let Some(res) = attrs.get("RESOLUTION") else { continue };
        if master.video.iter().any(|v| &v.uri == uri) {
            continue;
        }
        let (width, height) = resolution(res).ok_or(HlsError::Bad(0, "bad RESOLUTION"))?;
        let total = bandwidth(attrs).ok_or(HlsError::Bad(0, "bad BANDWIDTH"))?;
        let audio_share = attrs
            .get("AUDIO")
            .and_then(|g| audio_only(g))
            .and_then(|(a, _)| bandwidth(a))
            .unwrap_or(0);
        // With audio renditions the variant's audio codecs are theirs; without, the
        // rendition is multiplexed (an older ladder) and keeps every codec.
        let all = attrs.get("CODECS").map(String::as_str).unwrap_or("");
        let has_audio_media = media.iter().any(|m| m.get("TYPE").is_some_and(|t| t == "AUDIO"));
        let codecs = if has_audio_media { all.split(',').next().unwrap_or("") } else { all };
        master.video.push(MasterVideo {
            uri: uri.clone(),
            bandwidth: total.saturating_sub(audio_share).max(1),
            width,
            height,
            codecs: codecs.trim().to_owned(),
            frame_rate: attrs.get("FRAME-RATE").and_then(|f| f.parse().ok()),
        });
    }
    for m in &media {
        if m.get("TYPE").map(String::as_str) != Some("AUDIO") {
            continue;
        }
        let Some(uri) = m.get("URI") else { continue };
        if master.audio.iter().any(|a| &a.uri == uri) {
            continue;
        }
        let group = m.get("GROUP-ID").cloned().unwrap_or_default();
        let only = audio_only(&group).map(|(a, _)| a);
        master.audio.push(MasterAudio {
            uri: uri.clone(),
            name: m.get("NAME").cloned().unwrap_or_default(),
            language: m.get("LANGUAGE").filter(|l| !l.is_empty()).cloned(),
            channels: m.get("CHANNELS").and_then(|c| c.split('/').next()?.parse().ok()),
            default: m.get("DEFAULT").is_some_and(|d| d == "YES"),
            bandwidth: only.and_then(bandwidth),
            codecs: only
                .and_then(|a| a.get("CODECS"))
                .and_then(|c| c.split(',').next())
                .unwrap_or("mp4a.40.2")
                .to_owned(),
            group,
        });
    }
    Ok(master)
}

/// A media playlist as the manifest needs it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MediaList {
    /// `EXT-X-TARGETDURATION`.
    pub target: u32,
    /// Every `EXT-X-MAP` URI, in order (one for a rendition DASH can describe).
    pub inits: Vec<String>,
    /// Segment URIs with their `EXTINF` durations (seconds).
    pub segments: Vec<(String, f64)>,
    /// Whether `EXT-X-ENDLIST` is present (no segment will be added).
    pub ended: bool,
}

/// Reads a media playlist.
pub fn parse_media(text: &str) -> Result<MediaList, HlsError> {
    let mut pl = MediaList::default();
    let mut pending: Option<f64> = None;
    for (n, line) in lines(text)? {
        if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            pl.target = v.trim().parse().map_err(|_| HlsError::Bad(n, "bad target duration"))?;
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            let d = v.split(',').next().unwrap_or("").trim();
            let d: f64 = d.parse().map_err(|_| HlsError::Bad(n, "bad EXTINF"))?;
            if !(d.is_finite() && d > 0.0) {
                return Err(HlsError::Bad(n, "EXTINF must be positive"));
            }
            pending = Some(d);
        } else if let Some(v) = line.strip_prefix("#EXT-X-MAP:") {
            if attributes(v).contains_key("BYTERANGE") {
                return Err(HlsError::Bad(n, "an init segment by byte range"));
            }
            let uri =
                attributes(v).remove("URI").ok_or(HlsError::Bad(n, "EXT-X-MAP without URI"))?;
            pl.inits.push(uri);
        } else if line.starts_with("#EXT-X-BYTERANGE") {
            return Err(HlsError::Bad(n, "segments by byte range"));
        } else if line == "#EXT-X-ENDLIST" {
            pl.ended = true;
        } else if !line.starts_with('#') {
            let d = pending.take().ok_or(HlsError::Bad(n, "segment without EXTINF"))?;
            pl.segments.push((line.to_owned(), d));
        }
    }
    Ok(pl)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A master as the transcoder writes it: one stereo group, two rungs listed mid rung first,
    /// the audio-only variant, an I-frame playlist.
    pub const MASTER: &str = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n\
        #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"English\",LANGUAGE=\"en\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"v/01/a-1/audio/playlist.m3u8\"\n\
        #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio-mc\",NAME=\"English 5.1\",LANGUAGE=\"en\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"6\",URI=\"v/01/a-2/audio/playlist.m3u8\"\n\
        #EXT-X-STREAM-INF:BANDWIDTH=2653813,AVERAGE-BANDWIDTH=2639451,RESOLUTION=1280x720,CODECS=\"avc1.64001f,mp4a.40.2\",FRAME-RATE=29.970,VIDEO-RANGE=SDR,AUDIO=\"audio\"\n\
        v/01/720p/playlist.m3u8\n\
        #EXT-X-STREAM-INF:BANDWIDTH=332733,AVERAGE-BANDWIDTH=316791,RESOLUTION=480x270,CODECS=\"avc1.640015,mp4a.40.2\",FRAME-RATE=29.970,VIDEO-RANGE=SDR,AUDIO=\"audio\"\n\
        v/01/270p/playlist.m3u8\n\
        #EXT-X-STREAM-INF:BANDWIDTH=3000000,AVERAGE-BANDWIDTH=2900000,RESOLUTION=1280x720,CODECS=\"avc1.64001f,mp4a.40.2\",FRAME-RATE=29.970,VIDEO-RANGE=SDR,AUDIO=\"audio-mc\"\n\
        v/01/720p/playlist.m3u8\n\
        #EXT-X-STREAM-INF:BANDWIDTH=110571,AVERAGE-BANDWIDTH=99323,CODECS=\"mp4a.40.2\",AUDIO=\"audio\"\n\
        v/01/a-1/audio/playlist.m3u8\n\
        #EXT-X-STREAM-INF:BANDWIDTH=400000,AVERAGE-BANDWIDTH=390000,CODECS=\"mp4a.40.2\",AUDIO=\"audio-mc\"\n\
        v/01/a-2/audio/playlist.m3u8\n\
        #EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=17114,RESOLUTION=480x270,CODECS=\"avc1.640015\",URI=\"v/01/270p/iframes.m3u8\"\n";

    #[test]
    fn the_masters_variants_come_once_each_with_the_audio_share_taken_out() {
        let m = parse_master(MASTER).unwrap();
        let uris: Vec<&str> = m.video.iter().map(|v| v.uri.as_str()).collect();
        assert_eq!(uris, ["v/01/720p/playlist.m3u8", "v/01/270p/playlist.m3u8"]);
        let hd = &m.video[0];
        assert_eq!((hd.width, hd.height, hd.codecs.as_str()), (1280, 720, "avc1.64001f"));
        assert_eq!(hd.bandwidth, 2_653_813 - 110_571, "the stereo pairing, less its audio");
        assert_eq!(hd.frame_rate, Some(29.97));
        assert_eq!(m.audio.len(), 2);
        let mc = &m.audio[1];
        assert_eq!(
            (mc.group.as_str(), mc.channels, mc.bandwidth),
            ("audio-mc", Some(6), Some(400_000))
        );
        assert_eq!(
            (mc.language.as_deref(), mc.default, mc.codecs.as_str()),
            (Some("en"), true, "mp4a.40.2")
        );
    }

    #[test]
    fn a_media_playlist_gives_its_init_segments_durations_and_end() {
        let text = "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-PLAYLIST-TYPE:VOD\n\
            #EXT-X-MAP:URI=\"init-f6.mp4\"\n#EXTINF:6.000000,\nseg_00000-f6.m4s\n\
            #EXTINF:2.5,\nseg_00001-ac.m4s\n#EXT-X-ENDLIST\n";
        let p = parse_media(text).unwrap();
        assert_eq!(p.target, 6);
        assert_eq!(p.inits, ["init-f6.mp4"]);
        assert_eq!(
            p.segments,
            [("seg_00000-f6.m4s".into(), 6.0), ("seg_00001-ac.m4s".into(), 2.5)]
        );
        assert!(p.ended);
        let growing =
            parse_media("#EXTM3U\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXTINF:6,\na.m4s\n").unwrap();
        assert!(!growing.ended);
    }

    #[test]
    fn broken_playlists_are_errors() {
        assert_eq!(parse_media("seg.ts\n"), Err(HlsError::NotHls));
        assert_eq!(parse_master(""), Err(HlsError::NotHls));
        assert!(matches!(parse_media("#EXTM3U\nseg.ts\n"), Err(HlsError::Bad(2, _))));
        assert!(parse_media("#EXTM3U\n#EXTINF:-1,\na.m4s\n").is_err());
        assert!(parse_media("#EXTM3U\n#EXTINF:nan,\na.m4s\n").is_err());
        assert!(parse_media("#EXTM3U\n#EXT-X-BYTERANGE:10@0\n#EXTINF:1,\na.m4s\n").is_err());
        assert!(parse_master("#EXTM3U\nv.m3u8\n").is_err());
        let bad_res = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=big\nv.m3u8\n";
        assert!(parse_master(bad_res).is_err());
    }

    #[test]
    fn a_variant_with_its_audio_inside_keeps_every_codec() {
        let muxed = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,CODECS=\"avc1.64001e,mp4a.40.2\"\n360p/index.m3u8\n";
        let m = parse_master(muxed).unwrap();
        assert_eq!(m.video[0].codecs, "avc1.64001e,mp4a.40.2");
        assert_eq!(m.video[0].bandwidth, 900_000);
        assert!(m.audio.is_empty());
    }
}
