//! HLS playlists (pure): reading the media playlists ffmpeg writes, measuring bit rates from
//! segment sizes, and writing the master playlist ourselves (ffmpeg 5.1's has no FRAME-RATE, no
//! AVERAGE-BANDWIDTH, no EXT-X-INDEPENDENT-SEGMENTS, and a nominal BANDWIDTH).

use std::collections::BTreeMap;

/// A playlist that is not what we expect.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlaylistError {
    #[error("not an HLS playlist (no #EXTM3U)")]
    NotHls,
    #[error("line {line}: {message}")]
    Bad { line: usize, message: String },
    #[error("the playlist has no segments")]
    Empty,
}

/// One media segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub uri: String,
    pub duration: f64,
}

/// A media (rendition) playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaPlaylist {
    pub target_duration: u32,
    /// The `EXT-X-MAP` URI (fMP4 init segment), if any.
    pub init: Option<String>,
    pub segments: Vec<Segment>,
    pub independent_segments: bool,
    /// Whether `EXT-X-ENDLIST` is present.
    pub ended: bool,
}

impl MediaPlaylist {
    /// Sum of segment durations.
    pub fn duration(&self) -> f64 {
        self.segments.iter().map(|s| s.duration).sum()
    }
}

fn bad(line: usize, message: impl Into<String>) -> PlaylistError {
    PlaylistError::Bad { line: line + 1, message: message.into() }
}

/// Parses a media playlist.
pub fn parse_media_playlist(text: &str) -> Result<MediaPlaylist, PlaylistError> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i, l.trim()));
    match lines.next() {
        Some((_, "#EXTM3U")) => {}
        _ => return Err(PlaylistError::NotHls),
    }
    let mut pl = MediaPlaylist {
        target_duration: 0,
        init: None,
        segments: Vec::new(),
        independent_segments: false,
        ended: false,
    };
    let mut pending: Option<f64> = None;
    for (i, line) in lines {
        if line.is_empty() {
            continue;
        }
        if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            pl.target_duration = v.parse().map_err(|_| bad(i, "bad target duration"))?;
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            let d = v.split(',').next().unwrap_or("");
            let d: f64 = d.parse().map_err(|_| bad(i, "bad EXTINF duration"))?;
            if !(d.is_finite() && d > 0.0) {
                return Err(bad(i, "EXTINF duration must be positive"));
            }
            pending = Some(d);
        } else if let Some(v) = line.strip_prefix("#EXT-X-MAP:") {
            pl.init = attributes(v).remove("URI");
        } else if line == "#EXT-X-INDEPENDENT-SEGMENTS" {
            pl.independent_segments = true;
        } else if line == "#EXT-X-ENDLIST" {
            pl.ended = true;
        } else if !line.starts_with('#') {
            let duration = pending.take().ok_or_else(|| bad(i, "segment without EXTINF"))?;
            pl.segments.push(Segment { uri: line.to_owned(), duration });
        }
    }
    if pl.segments.is_empty() {
        return Err(PlaylistError::Empty);
    }
    Ok(pl)
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

/// Peak segment bit rate (RFC 8216 §4.3.4.2): the highest bit rate of any run of consecutive
/// segments lasting 0.5 to 1.5 target durations; `sizes` pairs each duration with its bytes.
pub fn peak_bandwidth(sizes: &[(f64, u64)], target_duration: f64) -> u64 {
    let (lo, hi) = (0.5 * target_duration, 1.5 * target_duration);
    let mut peak = 0.0f64;
    for start in 0..sizes.len() {
        let (mut secs, mut bytes) = (0.0, 0u64);
        for &(d, b) in &sizes[start..] {
            secs += d;
            bytes += b;
            if secs > hi + 1e-9 {
                break;
            }
            if secs + 1e-9 >= lo {
                peak = peak.max(bytes as f64 * 8.0 / secs);
            }
        }
    }
    if peak == 0.0 {
        // Only segments shorter than half the target (a tiny video): take the best single one.
        peak = sizes
            .iter()
            .filter(|(d, _)| *d > 0.0)
            .map(|(d, b)| *b as f64 * 8.0 / d)
            .fold(0.0, f64::max);
    }
    peak.ceil() as u64
}

/// Mean bit rate over the whole playlist.
pub fn average_bandwidth(sizes: &[(f64, u64)]) -> u64 {
    let secs: f64 = sizes.iter().map(|(d, _)| d).sum();
    let bytes: u64 = sizes.iter().map(|(_, b)| b).sum();
    if secs <= 0.0 { 0 } else { (bytes as f64 * 8.0 / secs).ceil() as u64 }
}

pub use crate::master::{
    AudioMedia, MasterEntry, Variant, parse_master, parse_master_media, render_master,
};

#[cfg(test)]
mod tests {
    use super::*;

    const MEDIA: &str = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:0\n\
        #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init.mp4\"\n\
        #EXTINF:6.000000,\nseg_00000.m4s\n#EXTINF:6.000000,\nseg_00001.m4s\n#EXTINF:2.500000,\n\
        seg_00002.m4s\n#EXT-X-ENDLIST\n";

    #[test]
    fn an_ffmpeg_fmp4_media_playlist_is_parsed() {
        let p = parse_media_playlist(MEDIA).unwrap();
        assert_eq!(p.target_duration, 6);
        assert_eq!(p.init.as_deref(), Some("init.mp4"));
        assert_eq!(p.segments.len(), 3);
        assert_eq!(p.segments[2], Segment { uri: "seg_00002.m4s".into(), duration: 2.5 });
        assert!(p.ended && p.independent_segments);
        assert!((p.duration() - 14.5).abs() < 1e-9);
    }

    #[test]
    fn broken_playlists_are_refused() {
        assert_eq!(parse_media_playlist("seg.ts\n"), Err(PlaylistError::NotHls));
        assert_eq!(parse_media_playlist("#EXTM3U\n#EXT-X-ENDLIST\n"), Err(PlaylistError::Empty));
        assert!(matches!(
            parse_media_playlist("#EXTM3U\nseg.ts\n"),
            Err(PlaylistError::Bad { line: 2, .. })
        ));
        assert!(parse_media_playlist("#EXTM3U\n#EXTINF:abc,\nseg.ts\n").is_err());
    }

    #[test]
    fn the_peak_is_the_densest_window_of_about_one_target_duration() {
        // 6 s target: windows last 3..9 s. The 2nd segment alone is the densest.
        let sizes = [(6.0, 600_000), (6.0, 900_000), (6.0, 300_000), (1.0, 200_000)];
        assert_eq!(peak_bandwidth(&sizes, 6.0), 1_200_000);
        // A short dense tail counts only together with its neighbour (7 s window).
        assert_eq!(peak_bandwidth(&[(6.0, 300_000), (1.0, 1_000_000)], 6.0), 1_485_715);
        // One tiny segment: its own rate.
        assert_eq!(peak_bandwidth(&[(0.4, 1_000)], 6.0), 20_000);
        assert_eq!(average_bandwidth(&sizes), 8 * 2_000_000 / 19 + 1);
        assert_eq!(average_bandwidth(&[]), 0);
    }
}
