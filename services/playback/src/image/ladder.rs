//! What a picture is cut from (pure): the video renditions a master lists, the one to use for
//! a size, and the segments of its media playlist that hold a time or a span.
//!
//! Times are the playlist's: a segment starts at the sum of the `EXTINF`s before it, which is
//! the timeline players show. Each segment carries the `EXT-X-MAP` in force for it (a chunked
//! transcode may name a new init segment mid-playlist).

use framelog_core::media::validate_key;

/// A video rendition of the master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rung {
    pub width: u32,
    pub height: u32,
    /// Its media playlist's URI as the master names it.
    pub uri: String,
}

/// One media segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Seconds from the start of the video.
    pub start: f64,
    pub duration: f64,
    pub uri: String,
    /// The init segment's URI, if the playlist names one (fMP4).
    pub init: Option<String>,
}

fn resolution(attrs: &str) -> Option<(u32, u32)> {
    let v = attrs.split(',').find_map(|a| a.strip_prefix("RESOLUTION="))?;
    let (w, h) = v.split_once('x')?;
    Some((w.parse().ok()?, h.parse().ok()?))
}

/// The video renditions of `master` (entries with a `RESOLUTION`), each URI once, smallest
/// first.
pub fn rungs(master: &str) -> Vec<Rung> {
    let mut out: Vec<Rung> = Vec::new();
    let mut pending: Option<(u32, u32)> = None;
    for line in master.lines().map(str::trim) {
        if let Some(attrs) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            pending = Some(resolution(attrs).unwrap_or((0, 0)));
        } else if !line.is_empty()
            && !line.starts_with('#')
            && let Some((width, height)) = pending.take()
            && width > 0
            && height > 0
            && !out.iter().any(|r| r.uri == line)
        {
            out.push(Rung { width, height, uri: line.to_owned() });
        }
    }
    out.sort_by_key(|r| (u64::from(r.width) * u64::from(r.height), r.width));
    out
}

/// The smallest rung at least `need` on both sides, else the largest.
pub fn choose(rungs: &[Rung], need: (u32, u32)) -> Option<&Rung> {
    rungs.iter().find(|r| r.width >= need.0 && r.height >= need.1).or_else(|| rungs.last())
}

fn uri_of_map(line: &str) -> Option<String> {
    let rest = &line[line.find("URI=\"")? + 5..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// The segments of a media playlist, in order.
pub fn segments(playlist: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let (mut init, mut next_duration, mut at) = (None, None::<f64>, 0.0);
    for line in playlist.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("#EXT-X-MAP:") {
            init = uri_of_map(rest);
        } else if let Some(rest) = line.strip_prefix("#EXTINF:") {
            next_duration = rest.split(',').next().and_then(|d| d.trim().parse().ok());
        } else if !line.is_empty()
            && !line.starts_with('#')
            && let Some(duration) = next_duration.take()
            && duration.is_finite()
            && duration > 0.0
        {
            let s = Segment { start: at, duration, uri: line.to_owned(), init: init.clone() };
            out.push(s);
            at += duration;
        }
    }
    out
}

/// The total duration of `segs`, milliseconds (rounded down, so every time below it is in a
/// segment).
pub fn duration_ms(segs: &[Segment]) -> u64 {
    segs.last().map(|s| ((s.start + s.duration) * 1000.0).floor() as u64).unwrap_or(0)
}

/// The segments overlapping `[from, to]` seconds (at least the one holding `from`), plus the
/// next one when `to` falls within `tail` seconds of the last one's end, so a frame shown at
/// the very end of a segment is still found.
pub fn span(segs: &[Segment], from: f64, to: f64, tail: f64) -> &[Segment] {
    let first = segs.iter().rposition(|s| s.start <= from).unwrap_or(0);
    let mut last = first;
    while last + 1 < segs.len() && segs[last + 1].start < to {
        last += 1;
    }
    if last + 1 < segs.len() && segs[last].start + segs[last].duration - to < tail {
        last += 1;
    }
    &segs[first..(last + 1).min(segs.len())]
}

/// The media key of `uri` as named by a file in directory `dir` (a key prefix), or `None` for
/// a URI that is absolute, has a scheme, a query, or leaves the directory.
pub fn join(dir: &str, uri: &str) -> Option<String> {
    if uri.contains("://") || uri.starts_with('/') || uri.contains(['?', '#']) {
        return None;
    }
    let key = format!("{dir}/{uri}");
    validate_key(&key).ok()?;
    Some(key)
}

/// The directory of key `key`.
pub fn dir_of(key: &str) -> &str {
    key.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASTER: &str = "#EXTM3U\n#EXT-X-VERSION:7\n\
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"en\",URI=\"v/x/audio/playlist.m3u8\"\n\
#EXT-X-STREAM-INF:BANDWIDTH=3000000,RESOLUTION=1280x720,CODECS=\"avc1.64001f\",AUDIO=\"a\"\n\
v/x/720p/playlist.m3u8\n\
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS=\"avc1.64001e\",AUDIO=\"a\"\n\
v/x/360p/playlist.m3u8\n\
#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,CODECS=\"avc1.64001e\",AUDIO=\"b\"\n\
v/x/360p/playlist.m3u8\n\
#EXT-X-STREAM-INF:BANDWIDTH=96000,CODECS=\"mp4a.40.2\",AUDIO=\"a\"\n\
v/x/audio/playlist.m3u8\n\
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,RESOLUTION=640x360,URI=\"v/x/360p/iframes.m3u8\"\n";

    #[test]
    fn rungs_are_the_video_variants_once_each_smallest_first() {
        let r = rungs(MASTER);
        let names: Vec<_> = r.iter().map(|r| (r.width, r.height, r.uri.as_str())).collect();
        assert_eq!(
            names,
            [(640, 360, "v/x/360p/playlist.m3u8"), (1280, 720, "v/x/720p/playlist.m3u8")]
        );
    }

    #[test]
    fn the_smallest_rung_covering_the_box_is_chosen_else_the_top() {
        let r = rungs(MASTER);
        assert_eq!(choose(&r, (320, 180)).unwrap().width, 640);
        assert_eq!(choose(&r, (640, 360)).unwrap().width, 640);
        assert_eq!(choose(&r, (641, 100)).unwrap().width, 1280);
        assert_eq!(choose(&r, (1920, 1080)).unwrap().width, 1280);
        assert!(choose(&[], (1, 1)).is_none());
    }

    const MEDIA: &str = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI=\"init-a.mp4\"\n\
#EXTINF:2.000000,\nseg_00000-a.m4s\n#EXTINF:2.000000,\nseg_00001-a.m4s\n\
#EXT-X-MAP:URI=\"init-b.mp4\"\n#EXTINF:1.500000,\nseg_00002-b.m4s\n#EXT-X-ENDLIST\n";

    #[test]
    fn segments_carry_their_start_and_the_init_in_force() {
        let s = segments(MEDIA);
        assert_eq!(s.len(), 3);
        assert_eq!((s[1].start, s[1].init.as_deref()), (2.0, Some("init-a.mp4")));
        assert_eq!((s[2].start, s[2].init.as_deref()), (4.0, Some("init-b.mp4")));
        assert_eq!(duration_ms(&s), 5500);
    }

    #[test]
    fn a_span_holds_its_times_and_the_next_segment_near_an_end() {
        let s = segments(MEDIA);
        let uris = |x: &[Segment]| x.iter().map(|s| s.uri.clone()).collect::<Vec<_>>();
        assert_eq!(uris(span(&s, 0.5, 0.5, 0.25)), ["seg_00000-a.m4s"]);
        assert_eq!(uris(span(&s, 1.9, 1.9, 0.25)), ["seg_00000-a.m4s", "seg_00001-a.m4s"]);
        assert_eq!(uris(span(&s, 1.0, 4.5, 0.25)).len(), 3);
        assert_eq!(uris(span(&s, 5.4, 5.4, 0.25)), ["seg_00002-b.m4s"]);
    }

    #[test]
    fn uris_that_leave_the_directory_are_refused() {
        assert_eq!(join("hls/t/v", "v/x/360p/a.m4s").as_deref(), Some("hls/t/v/v/x/360p/a.m4s"));
        for bad in ["../w/a.m4s", "/etc/passwd", "http://x/a.m4s", "a.m4s?x=1", "a/../../b"] {
            assert_eq!(join("hls/t/v", bad), None, "{bad}");
        }
        assert_eq!(dir_of("hls/t/v/360p/playlist.m3u8"), "hls/t/v/360p");
    }
}
