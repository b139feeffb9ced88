//! The chunk plan of a video job (pure): the source cut into time **ranges** that are whole
//! numbers of segments, each encoded as one work item by whichever transcoder takes it.
//!
//! A segment is `segment_secs / 2` GOPs of the top rung (a GOP is 2 s of its rate, rounded to
//! whole frames: 60 frames at 29.97 fps are 2.002 s), so every range starts on a keyframe of
//! every rung and on a frame boundary of every rung's rate (each rung's rate divides the
//! source's, and the ladder's GOP is a multiple of every divisor). Range 0 is short (one
//! segment by default) so the first playable piece is ready soonest; the others hold
//! `range_segments` segments, the last one the remainder (its last segment maybe shorter).
//! Storyboard thumbnail `i` is the last frame before `(i + 1/2) / board rate` (what the
//! single-process storyboard's `fps` filter picks) and belongs to the range holding that frame;
//! the poster to the range holding its time.

use crate::profile::{GOP_SECS, Profile};
use crate::storyboard::Storyboard;

/// One time range of the source, encoded as one work item.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RangeSpec {
    /// Position in the plan, from 0.
    pub index: u32,
    /// Exact start in seconds (a frame boundary of the top rung's rate).
    pub start_secs: f64,
    /// End in seconds: the next range's start, or the source duration for the last range.
    pub end_secs: f64,
    /// Global number of its first segment.
    pub first_segment: u32,
    /// Segments in it (the last range may hold a shorter last segment).
    pub segments: u32,
    /// Global index of the first storyboard thumbnail this range taps.
    pub first_thumb: u32,
    /// How many thumbnails it taps.
    pub thumbs: u32,
    /// Whether the poster frame (at `poster_at_secs`) falls in this range.
    pub poster: bool,
    /// Whether this is the plan's last range: encoded to the end of the source (no `-t`), and
    /// only it holds a video track that ends early on its last picture.
    #[serde(default)]
    pub last: bool,
}

/// Every range of one job, in order, and the exact segment length.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkPlan {
    /// The ranges, `ranges[i].index == i`, contiguous from 0 to the duration.
    pub ranges: Vec<RangeSpec>,
    /// Exact segment length in seconds (`segment_frames / fps` of the top rung).
    pub segment_secs: f64,
}

impl ChunkPlan {
    /// Segments of the whole plan.
    pub fn segments(&self) -> u32 {
        self.ranges.iter().map(|r| r.segments).sum()
    }
}

/// Frames of the top rung in one segment: `segment_secs / 2` of its GOPs (at least one).
pub fn segment_frames(top: &Profile, segment_secs: u32) -> u64 {
    u64::from(top.gop.max(1)) * u64::from((segment_secs / GOP_SECS).max(1))
}

/// The exact segment length in seconds: [`segment_frames`] at `top`'s rate.
pub fn segment_length(top: &Profile, segment_secs: u32) -> f64 {
    frames_secs(top, segment_frames(top, segment_secs))
}

/// The exact length in seconds of `frames` frames of `top`'s rate.
fn frames_secs(top: &Profile, frames: u64) -> f64 {
    frames as f64 * f64::from(top.fps.den.max(1)) / f64::from(top.fps.num.max(1))
}

/// The chunk plan of a `duration_secs` source. `range_segments` segments per range (setting
/// `--transcode-range-segments`, default 5); range 0 holds `first_range_segments` (default 1).
/// `top` is the largest rung: its fps and GOP fix the segment length. A tail shorter than half
/// a frame makes no segment of its own; a clip shorter than one segment is one range.
pub fn plan(
    duration_secs: f64,
    top: &Profile,
    segment_secs: u32,
    range_segments: u32,
    first_range_segments: u32,
    board: &Storyboard,
    poster_at_secs: f64,
) -> ChunkPlan {
    let frames = segment_frames(top, segment_secs);
    let segment = segment_length(top, segment_secs);
    let duration = if duration_secs.is_finite() { duration_secs.max(0.0) } else { 0.0 };
    let half_frame = frames_secs(top, 1) / 2.0;
    let total = ((duration - half_frame) / segment).ceil().max(1.0) as u32;
    let mut ranges: Vec<RangeSpec> = Vec::new();
    let mut first_segment = 0u32;
    while first_segment < total {
        let want = if ranges.is_empty() { first_range_segments } else { range_segments };
        let segments = want.max(1).min(total - first_segment);
        let start_secs = frames_secs(top, u64::from(first_segment) * frames);
        let next = first_segment + segments;
        let end_secs = if next == total {
            duration.max(start_secs)
        } else {
            frames_secs(top, u64::from(next) * frames)
        };
        ranges.push(RangeSpec {
            index: ranges.len() as u32,
            start_secs,
            end_secs,
            first_segment,
            segments,
            first_thumb: 0,
            thumbs: 0,
            poster: false,
            last: next == total,
        });
        first_segment = next;
    }
    for i in 0..board.count {
        // The range holding the thumbnail's frame: the last one starting before the instant.
        let t = thumb_frame_before(board, i);
        let r = ranges.iter().rposition(|r| r.start_secs < t - 1e-9).unwrap_or(0);
        if ranges[r].thumbs == 0 {
            ranges[r].first_thumb = i;
        }
        ranges[r].thumbs += 1;
    }
    // A range without thumbnails starts where the next one would: the global order is kept.
    for r in 0..ranges.len() {
        if ranges[r].thumbs == 0 {
            ranges[r].first_thumb =
                if r == 0 { 0 } else { ranges[r - 1].first_thumb + ranges[r - 1].thumbs };
        }
    }
    let poster = holding(&ranges, if poster_at_secs.is_finite() { poster_at_secs } else { 0.0 });
    ranges[poster].poster = true;
    ChunkPlan { ranges, segment_secs: segment }
}

/// When storyboard thumbnail `i` is taken: `i / board rate` (the rate as
/// [`Storyboard::rate`] gives it to ffmpeg, so both agree).
pub fn thumb_time(board: &Storyboard, i: u32) -> f64 {
    let ms = ((board.duration_secs * 1000.0).round() as u64).max(1);
    f64::from(i) * ms as f64 / (f64::from(board.count.max(1)) * 1000.0)
}

/// The instant thumbnail `i`'s frame comes just before: `(i + 1/2) / board rate`. The
/// single-process storyboard's `fps` filter (rounding to the nearest output tick) gives tile `i`
/// the last frame before it, which may lie after [`thumb_time`], even in the next range.
pub fn thumb_frame_before(board: &Storyboard, i: u32) -> f64 {
    (thumb_time(board, i) + thumb_time(board, i + 1)) / 2.0
}

/// The range holding time `t`: the last one starting at or before it (range 0 for earlier
/// times, the last range for times past the end).
fn holding(ranges: &[RangeSpec], t: f64) -> usize {
    ranges.iter().rposition(|r| r.start_secs <= t + 1e-9).unwrap_or(0)
}

#[cfg(test)]
#[path = "chunks_tests.rs"]
mod tests;
