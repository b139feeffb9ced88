//! Rendering a static MPEG-DASH manifest (ISO/IEC 23009-1) over the HLS ladder's own CMAF
//! files (pure).
//!
//! One `Period`; video Representations in one `AdaptationSet` per codec family (players switch
//! freely inside a set; H.264 rungs and an HEVC top rung are not mixed); one `AdaptationSet`
//! per audio rendition with its `lang`. Every Representation has its directory as `BaseURL`
//! (relative to the manifest, so it inherits the token prefix) and a `SegmentTimeline` in the
//! track's own timescale: `t` of the first segment is its `tfdt`, each `d` its `EXTINF` in
//! timescale units (EXTINF is printed to the microsecond, under half a unit of any timescale
//! up to 1 MHz, so rounding gives the fragment's exact duration and sums never drift).
//! Segments named `seg_NNNNN.m4s` in order get a `SegmentTemplate`
//! (`media="seg_$Number%05d$.m4s"`); any other names (a chunked encode's `seg_00012-<token>.m4s`)
//! a `SegmentList` of `SegmentURL`s with the same timeline. Profiles: `isoff-live` when every
//! Representation is a template, else `full`.

use std::fmt::Write;

/// What a track is.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Video { codecs: String, width: u32, height: u32, frame_rate: Option<f64> },
    Audio { codecs: String, lang: Option<String>, label: String, channels: Option<u32>, main: bool },
}

/// One Representation: a rendition's files and timing.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// Representation id, unique in the manifest (`720p`, `audio-1`).
    pub id: String,
    /// Directory of its files relative to the manifest, ending in `/`.
    pub base_url: String,
    /// Init segment file name.
    pub init: String,
    /// Segment file names with their durations (seconds), in order.
    pub segments: Vec<(String, f64)>,
    /// The track's timescale (`mdhd`).
    pub timescale: u32,
    /// Decode time of the first segment (`tfdt`), timescale units.
    pub start: u64,
    pub bandwidth: u64,
    pub kind: Kind,
}

impl Track {
    /// Seconds from the first segment's start to the end of the last.
    pub fn duration(&self) -> f64 {
        let t = timeline(self.start, &self.segments, self.timescale);
        let units: u64 = t.iter().map(|s| s.d * (u64::from(s.r) + 1)).sum();
        units as f64 / f64::from(self.timescale)
    }
}

/// One `S` element: `r + 1` segments of `d` units each, the first starting at `t` if given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S {
    pub t: Option<u64>,
    pub d: u64,
    pub r: u32,
}

/// The `SegmentTimeline` of `segments` starting at `start` in `timescale` units, equal
/// consecutive durations run-length encoded.
pub fn timeline(start: u64, segments: &[(String, f64)], timescale: u32) -> Vec<S> {
    let mut out: Vec<S> = Vec::new();
    for (_, secs) in segments {
        let d = ((secs * f64::from(timescale)).round() as u64).max(1);
        match out.last_mut() {
            Some(last) if last.d == d => last.r += 1,
            _ => out.push(S { t: out.is_empty().then_some(start), d, r: 0 }),
        }
    }
    out
}

/// The first number of `seg_NNNNN.m4s` names that count up by one, or `None` if any name
/// differs (then the segments are listed).
pub fn template_start(segments: &[(String, f64)]) -> Option<u64> {
    let number = |name: &str| -> Option<u64> {
        let digits = name.strip_prefix("seg_")?.strip_suffix(".m4s")?;
        (digits.len() == 5 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse().ok())?
    };
    let first = number(&segments.first()?.0)?;
    let counted =
        segments.iter().enumerate().all(|(k, (n, _))| number(n) == Some(first + k as u64));
    counted.then_some(first)
}

/// `frameRate` (an integer or a fraction): 29.97 is `30000/1001`, 25 is `25`.
pub fn frame_rate(fps: f64) -> Option<String> {
    if !(fps.is_finite() && fps > 0.0) {
        return None;
    }
    let ntsc = (fps * 1.001).round();
    if (fps.round() - fps).abs() < 0.0015 {
        return Some(format!("{}", fps.round() as u64));
    }
    if (ntsc * 1000.0 / 1001.0 - fps).abs() < 0.0015 {
        return Some(format!("{}/1001", ntsc as u64 * 1000));
    }
    let (mut n, mut d) = ((fps * 1000.0).round() as u64, 1000u64);
    let g = gcd(n, d);
    (n, d) = (n / g, d / g);
    Some(format!("{n}/{d}"))
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a.max(1) } else { gcd(b, a % b) }
}

/// An `xs:duration` of `secs` seconds, millisecond precision (`PT14.016S`).
pub fn iso_duration(secs: f64) -> String {
    format!("PT{:.3}S", secs.max(0.0))
}

/// `s` escaped for an XML attribute or text.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The codec family video Representations are grouped by (`avc1.64001f` → `avc1`).
fn family(codecs: &str) -> &str {
    codecs.split('.').next().unwrap_or(codecs)
}

fn segments_xml(out: &mut String, t: &Track) {
    let timeline_xml = |out: &mut String| {
        out.push_str("        <SegmentTimeline>");
        for s in timeline(t.start, &t.segments, t.timescale) {
            out.push_str("<S");
            if let Some(start) = s.t {
                let _ = write!(out, " t=\"{start}\"");
            }
            let _ = write!(out, " d=\"{}\"", s.d);
            if s.r > 0 {
                let _ = write!(out, " r=\"{}\"", s.r);
            }
            out.push_str("/>");
        }
        out.push_str("</SegmentTimeline>\n");
    };
    if let Some(first) = template_start(&t.segments) {
        let _ = writeln!(
            out,
            "        <SegmentTemplate timescale=\"{}\" presentationTimeOffset=\"{}\" \
             initialization=\"{}\" media=\"seg_$Number%05d$.m4s\" startNumber=\"{first}\">",
            t.timescale,
            t.start,
            esc(&t.init)
        );
        timeline_xml(out);
        out.push_str("        </SegmentTemplate>\n");
    } else {
        let _ = writeln!(
            out,
            "        <SegmentList timescale=\"{}\" presentationTimeOffset=\"{}\">",
            t.timescale, t.start
        );
        let _ = writeln!(out, "        <Initialization sourceURL=\"{}\"/>", esc(&t.init));
        timeline_xml(out);
        for (name, _) in &t.segments {
            let _ = writeln!(out, "        <SegmentURL media=\"{}\"/>", esc(name));
        }
        out.push_str("        </SegmentList>\n");
    }
}

fn representation(out: &mut String, t: &Track) {
    let _ =
        write!(out, "      <Representation id=\"{}\" bandwidth=\"{}\"", esc(&t.id), t.bandwidth);
    match &t.kind {
        Kind::Video { codecs, width, height, frame_rate: fps } => {
            let _ = write!(
                out,
                " codecs=\"{}\" width=\"{width}\" height=\"{height}\" sar=\"1:1\"",
                esc(codecs)
            );
            if let Some(f) = fps.and_then(frame_rate) {
                let _ = write!(out, " frameRate=\"{f}\"");
            }
            out.push_str(">\n");
        }
        Kind::Audio { codecs, channels, .. } => {
            let _ =
                writeln!(out, " codecs=\"{}\" audioSamplingRate=\"{}\">", esc(codecs), t.timescale);
            if let Some(ch) = channels {
                let _ = writeln!(
                    out,
                    "        <AudioChannelConfiguration schemeIdUri=\"urn:mpeg:mpegB:cicp:ChannelConfiguration\" value=\"{}\"/>",
                    cicp_channels(*ch)
                );
            }
        }
    }
    let _ = writeln!(out, "        <BaseURL>{}</BaseURL>", esc(&t.base_url));
    segments_xml(out, t);
    out.push_str("      </Representation>\n");
}

/// The CICP `ChannelConfiguration` of a channel count (ISO/IEC 23091-3: 1 mono, 2 stereo,
/// 6 channels 5.1 = 6, 8 channels 7.1 = 12); other counts as they are.
fn cicp_channels(channels: u32) -> u32 {
    match channels {
        6 => 6,
        8 => 12,
        n => n,
    }
}

/// The manifest of `tracks` (video and audio, in the order given).
pub fn render(tracks: &[Track]) -> String {
    let duration = tracks.iter().map(Track::duration).fold(0.0, f64::max);
    let all_templates = tracks.iter().all(|t| template_start(&t.segments).is_some());
    let profile = if all_templates {
        "urn:mpeg:dash:profile:isoff-live:2011"
    } else {
        "urn:mpeg:dash:profile:full:2011"
    };
    let longest = tracks.iter().flat_map(|t| t.segments.iter().map(|s| s.1)).fold(2.0, f64::max);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" profiles=\"{profile}\" type=\"static\" \
         mediaPresentationDuration=\"{}\" minBufferTime=\"{}\">",
        iso_duration(duration),
        iso_duration(longest.ceil())
    );
    out.push_str("  <Period id=\"0\" start=\"PT0S\">\n");
    let mut set = 0;
    let mut families: Vec<&str> = Vec::new();
    for t in tracks {
        if let Kind::Video { codecs, .. } = &t.kind
            && !families.contains(&family(codecs))
        {
            families.push(family(codecs));
        }
    }
    for fam in families {
        let reps: Vec<&Track> = tracks
            .iter()
            .filter(|t| matches!(&t.kind, Kind::Video { codecs, .. } if family(codecs) == fam))
            .collect();
        let max = |f: fn(&Track) -> u32| reps.iter().map(|t| f(t)).max().unwrap_or(0);
        let width = max(|t| if let Kind::Video { width, .. } = t.kind { width } else { 0 });
        let height = max(|t| if let Kind::Video { height, .. } = t.kind { height } else { 0 });
        // A multiplexed rendition (audio inside, `avc1...,mp4a...`) is no video-only set.
        let muxed = reps
            .iter()
            .any(|t| matches!(&t.kind, Kind::Video { codecs, .. } if codecs.contains(',')));
        let content = if muxed { "" } else { " contentType=\"video\"" };
        let _ = writeln!(
            out,
            "    <AdaptationSet id=\"{set}\"{content} mimeType=\"video/mp4\" \
             segmentAlignment=\"true\" startWithSAP=\"1\" maxWidth=\"{width}\" maxHeight=\"{height}\">"
        );
        set += 1;
        let mut by_bandwidth = reps;
        by_bandwidth.sort_by_key(|t| t.bandwidth);
        for t in by_bandwidth {
            representation(&mut out, t);
        }
        out.push_str("    </AdaptationSet>\n");
    }
    for t in tracks {
        let Kind::Audio { lang, label, main, .. } = &t.kind else { continue };
        let lang = lang.as_deref().unwrap_or("und");
        let _ = writeln!(
            out,
            "    <AdaptationSet id=\"{set}\" contentType=\"audio\" mimeType=\"audio/mp4\" lang=\"{}\" \
             segmentAlignment=\"true\" startWithSAP=\"1\">",
            esc(lang)
        );
        set += 1;
        if *main {
            out.push_str("      <Role schemeIdUri=\"urn:mpeg:dash:role:2011\" value=\"main\"/>\n");
        }
        if !label.is_empty() {
            let _ = writeln!(out, "      <Label>{}</Label>", esc(label));
        }
        representation(&mut out, t);
        out.push_str("    </AdaptationSet>\n");
    }
    out.push_str("  </Period>\n</MPD>\n");
    out
}

#[cfg(test)]
#[path = "mpd_tests.rs"]
mod tests;
