//! Assembling a chunked job's playlists from the ranges encoded so far (pure).
//!
//! Each range of the source is encoded on its own ([`crate::range_types::RangeOutput`]: per rung
//! an init segment and segments whose names carry the attempt's token). The coordinator renders
//! from the ranges done:
//! - each rung's media playlist ([`media_playlist`]) over the contiguous prefix from range 0
//!   ([`contiguous`]): `EVENT` with `#EXT-X-START:TIME-OFFSET=0` while it grows (players start
//!   at the beginning, not at the live edge), `VOD` with `#EXT-X-ENDLIST` once every range is
//!   in; the first range's init is the `EXT-X-MAP`, and a new one is named only before a range
//!   whose init plays differently (another `init_fingerprint`);
//! - each rung's I-frame playlist ([`iframe_playlist`]): one byte range per segment, its first
//!   sync sample, as [`crate::iframes`] makes them for a single-process encode;
//! - the master's entries ([`variant`], [`iframe_variant`]) measured from the segments so far
//!   exactly as [`crate::outputs::measure`] and [`crate::iframes::for_variant`] measure a
//!   finished rendition, and the master itself ([`growing_master`]);
//! - the job's progress ([`done_fraction`]).

use std::collections::BTreeMap;

use crate::command::MEDIA_PLAYLIST;
use crate::iframes::{IFRAME_PLAYLIST, IFrame, IFrameVariant, iframe_bandwidth, iframe_stream_inf};
use crate::playlist::{AudioMedia, Variant, average_bandwidth, peak_bandwidth, render_master};
use crate::profile::Profile;
use crate::range_types::{ChunkPlan, RangeOutput, RungOutput};

/// Slack when rounding durations up: an `EXTINF` of 6.0000001 s is a 6 s segment, not a 7 s one
/// (playlists print six decimals).
const ROUNDING_SLACK: f64 = 1e-6;

/// Ranges `0..k` present without a gap: the prefix a playlist may name, in order.
pub fn contiguous(done: &BTreeMap<u32, RangeOutput>) -> Vec<&RangeOutput> {
    (0u32..).map_while(|i| done.get(&i)).collect()
}

/// The outputs of `rung` in `ranges`, in order while the ranges run `0, 1, 2...` and each has
/// the rung; and whether every given range was taken (nothing left out).
fn rung_runs<'a>(rung: &str, ranges: &[&'a RangeOutput]) -> (Vec<&'a RungOutput>, bool) {
    let mut out = Vec::with_capacity(ranges.len());
    for (k, r) in ranges.iter().enumerate() {
        let found = r.rungs.iter().find(|o| o.name == rung);
        match found {
            Some(o) if r.index as usize == k => out.push(o),
            _ => return (out, false),
        }
    }
    (out, true)
}

/// Whole seconds at or above `secs` (with [`ROUNDING_SLACK`]).
fn ceil_secs(secs: f64) -> u32 {
    (secs - ROUNDING_SLACK).ceil().max(0.0) as u32
}

/// `EXT-X-TARGETDURATION`: the longest segment rounded up, never under `target_secs` (nor 1).
fn target_duration(runs: &[&RungOutput], target_secs: u32) -> u32 {
    runs.iter()
        .flat_map(|r| &r.segments)
        .map(|s| ceil_secs(s.duration))
        .fold(target_secs.max(1), u32::max)
}

/// The header every playlist of a growing or finished rung starts with.
fn header(target: u32, complete: bool, start_at_zero: bool) -> String {
    let kind = if complete { "VOD" } else { "EVENT" };
    let mut out = format!(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n\
         #EXT-X-PLAYLIST-TYPE:{kind}\n"
    );
    if !complete && start_at_zero {
        out.push_str("#EXT-X-START:TIME-OFFSET=0\n");
    }
    out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    out
}

/// Appends `EXT-X-MAP` for `run` if its init plays differently from the last one named.
fn map_if_new<'a>(out: &mut String, last: &mut Option<&'a str>, run: &'a RungOutput) {
    if *last != Some(run.init_fingerprint.as_str()) {
        out.push_str(&format!("#EXT-X-MAP:URI=\"{}\"\n", run.init));
        *last = Some(&run.init_fingerprint);
    }
}

/// The media playlist of `rung` from the ranges done so far, in order from range 0 while
/// contiguous (and while each range has the rung); `complete`: VOD with ENDLIST (honoured only
/// if every given range was used), else EVENT without ENDLIST and with
/// `#EXT-X-START:TIME-OFFSET=0`. A new `EXT-X-MAP` comes before a range whose init fingerprint
/// differs from the previous one. URIs are the file names (the playlist is in the rung's
/// directory, with its files).
pub fn media_playlist(
    rung: &str,
    ranges: &[&RangeOutput],
    complete: bool,
    target_secs: u32,
) -> String {
    let (runs, all) = rung_runs(rung, ranges);
    let complete = complete && all;
    let mut out = header(target_duration(&runs, target_secs), complete, true);
    let mut last = None;
    for run in &runs {
        map_if_new(&mut out, &mut last, run);
        for s in &run.segments {
            out.push_str(&format!("#EXTINF:{:.6},\n{}\n", s.duration, s.uri));
        }
    }
    if complete {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    out
}

/// The I-frames of `runs`, each with the run it is in: one per segment that starts with a sync
/// sample, lasting until the next one (a segment without one extends the previous entry, as in
/// [`crate::iframes::iframes`]).
fn frames<'a>(runs: &[&'a RungOutput]) -> Vec<(&'a RungOutput, IFrame)> {
    let mut out: Vec<(&RungOutput, IFrame)> = Vec::new();
    for run in runs {
        for s in &run.segments {
            match s.iframe {
                Some((offset, length)) => out.push((
                    run,
                    IFrame { uri: s.uri.clone(), offset, length, duration: s.duration },
                )),
                None => {
                    if let Some((_, f)) = out.last_mut() {
                        f.duration += s.duration;
                    }
                }
            }
        }
    }
    out
}

/// The I-frame playlist of `rung` from the same ranges as [`media_playlist`]: the format of
/// [`crate::iframes::iframe_playlist`] (`EXT-X-I-FRAMES-ONLY`, one `EXT-X-BYTERANGE` per
/// segment's first sync sample), `EVENT` without ENDLIST while growing, `EXT-X-MAP` again
/// before an I-frame of a range whose init differs.
pub fn iframe_playlist(rung: &str, ranges: &[&RangeOutput], complete: bool) -> String {
    let (runs, all) = rung_runs(rung, ranges);
    let complete = complete && all;
    let frames = frames(&runs);
    let target = frames.iter().map(|(_, f)| ceil_secs(f.duration)).fold(1, u32::max);
    let mut out = header(target, complete, false);
    out.push_str("#EXT-X-I-FRAMES-ONLY\n");
    let mut last = None;
    for (run, f) in &frames {
        map_if_new(&mut out, &mut last, run);
        out.push_str(&format!(
            "#EXTINF:{:.6},\n#EXT-X-BYTERANGE:{}@{}\n{}\n",
            f.duration, f.length, f.offset, f.uri
        ));
    }
    if complete {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    out
}

/// The init segment of `rung` in the first range (its file name): the one to read the
/// `CODECS` string from.
pub fn first_init<'a>(rung: &str, ranges: &[&'a RangeOutput]) -> Option<&'a str> {
    rung_runs(rung, ranges).0.first().map(|r| r.init.as_str())
}

/// Measured variant of `profile`'s rung from its segments so far, as
/// [`crate::outputs::measure`] makes it: peak over windows of the playlist's target duration and
/// mean bit rate of the video alone, `codecs` as given (from the init), the profile's size and
/// frame rate, URI `<rung>/playlist.m3u8`.
pub fn variant(
    profile: &Profile,
    ranges: &[&RangeOutput],
    codecs: &str,
    target_secs: u32,
) -> Variant {
    let (runs, _) = rung_runs(&profile.name, ranges);
    let sizes: Vec<(f64, u64)> =
        runs.iter().flat_map(|r| &r.segments).map(|s| (s.duration, s.bytes)).collect();
    let target = f64::from(target_duration(&runs, target_secs));
    Variant {
        uri: format!("{}/{MEDIA_PLAYLIST}", profile.name),
        bandwidth: peak_bandwidth(&sizes, target),
        average_bandwidth: average_bandwidth(&sizes),
        width: profile.width,
        height: profile.height,
        codecs: codecs.to_owned(),
        frame_rate: profile.fps.as_f64(),
    }
}

/// The master entry of `profile`'s I-frame playlist, as [`crate::iframes::for_variant`] makes
/// it: the peak bit rate of its I-frames, the video codec alone (the first of `codecs`), URI
/// `<rung>/iframes.m3u8`.
pub fn iframe_variant(profile: &Profile, ranges: &[&RangeOutput], codecs: &str) -> IFrameVariant {
    let (runs, _) = rung_runs(&profile.name, ranges);
    let frames: Vec<IFrame> = frames(&runs).into_iter().map(|(_, f)| f).collect();
    IFrameVariant {
        uri: format!("{}/{IFRAME_PLAYLIST}", profile.name),
        bandwidth: iframe_bandwidth(&frames),
        width: profile.width,
        height: profile.height,
        codecs: codecs.split(',').next().unwrap_or_default().to_owned(),
    }
}

/// The master playlist as it evolves: [`render_master`] of the variants and audio renditions,
/// then one `EXT-X-I-FRAME-STREAM-INF` per I-frame playlist, as `job.rs` writes the final one.
/// URIs are used as given (root them first, e.g. with `Version::variant`).
pub fn growing_master(
    variants: &[Variant],
    audio: &[AudioMedia],
    iframes: &[IFrameVariant],
) -> String {
    let mut out = render_master(variants, audio);
    for v in iframes {
        out.push_str(&iframe_stream_inf(v));
    }
    out
}

/// Progress of a chunked job: the share of the source duration whose ranges are done (0..=1).
/// Ranges without length (a plan of zero duration) count one each.
pub fn done_fraction(plan: &ChunkPlan, done: &BTreeMap<u32, RangeOutput>) -> f64 {
    let len = |r: &crate::range_types::RangeSpec| (r.end_secs - r.start_secs).max(0.0);
    let total: f64 = plan.ranges.iter().map(len).sum();
    let is_done = |r: &&crate::range_types::RangeSpec| done.contains_key(&r.index);
    if plan.ranges.is_empty() {
        return 1.0;
    }
    let share = if total > 0.0 && total.is_finite() {
        plan.ranges.iter().filter(is_done).map(len).sum::<f64>() / total
    } else {
        plan.ranges.iter().filter(is_done).count() as f64 / plan.ranges.len() as f64
    };
    share.clamp(0.0, 1.0)
}

#[cfg(test)]
#[path = "assemble_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "assemble_ffprobe_tests.rs"]
mod ffprobe_tests;
