//! Encoding one range of the source ([`crate::chunks::RangeSpec`]) into every video rung, so
//! that its segments join those of the other ranges as if one process had made them all.
//!
//! One ffmpeg process seeks its input to the range start (`-ss` before `-i`: frame-accurate,
//! output timestamps from 0), reads only the range (`-t`, except the last range, which runs to
//! the end), and runs the ladder's own cascade, GOP and rate arguments ([`crate::rate`]), so
//! its init segments equal a single-process encode's and its keyframes fall on the same
//! frames. No audio (the audio item encodes it whole). The HLS muxer numbers segments from the
//! range's first global segment. From the same decode it taps the range's storyboard
//! thumbnails (one jpg each, numbered globally) and, in the range that holds it, the poster.
//!
//! Then [`finish_range`] moves every fragment's decode time to the range start
//! (`tfdt` + start × timescale, exact since ranges start on frame boundaries), makes fragment
//! sequence numbers global, renames every file with the attempt's token (so two attempts never
//! overwrite each other's files in the store) and measures the range: a [`RangeOutput`], stored
//! as JSON in the results KV.

use std::path::Path;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::chunks::RangeSpec;
use crate::encoder::Encoder;
use crate::error::JobError;
use crate::ffmpeg::{Priority, ProgressEvent};
use crate::profile::Profile;
use crate::storyboard::Storyboard;
use framelog_core::probe::VideoStream;

mod args;
mod finish;

pub use args::{filter_graph, range_args};
pub use finish::finish_range;

/// Directory of the range's thumbnails under its scratch dir (and in the version).
pub const THUMBS_DIR: &str = "thumbs";

/// One range to encode: what, how, where.
pub struct RangeJob<'a> {
    /// The source (a local file or its presigned URL).
    pub input: &'a crate::source::Source,
    /// Every video rung of the plan, in any order.
    pub profiles: &'a [Profile],
    pub encoder: &'a Encoder,
    /// The source's video stream (pre-filters, see [`crate::video_filters`]).
    pub video: Option<&'a VideoStream>,
    pub range: &'a RangeSpec,
    /// The `--transcode-segment-secs` setting (a multiple of the 2 s GOP).
    pub segment_secs: u32,
    /// Storyboard taps (grid thumb size, rate); None: no taps.
    pub board: Option<&'a Storyboard>,
    /// The poster's size.
    pub poster_size: (u32, u32),
    /// When the poster frame is taken (source time).
    pub poster_at_secs: f64,
    /// Local scratch dir: outputs land in `<out>/<rung>/...`, `<out>/thumbs/`,
    /// `<out>/poster-<token>.jpg`.
    pub out: &'a Path,
    /// Unique per attempt (8 hex chars): goes into every file name.
    pub token: &'a str,
}

impl RangeJob<'_> {
    /// The rungs largest first: the order of the cascade and of the output streams.
    pub fn ordered(&self) -> Vec<&Profile> {
        let mut v: Vec<&Profile> = self.profiles.iter().collect();
        v.sort_by_key(|p| std::cmp::Reverse(u64::from(p.width) * u64::from(p.height)));
        v
    }

    /// Whether this range taps thumbnails.
    pub fn taps_thumbs(&self) -> bool {
        self.board.is_some() && self.range.thumbs > 0
    }
}

/// One media segment of a rung.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentOut {
    /// File name in the rung's directory (`seg_00012-<token>.m4s`).
    pub uri: String,
    /// Seconds, from the range's media playlist.
    pub duration: f64,
    /// File size.
    pub bytes: u64,
    /// The first sync sample (for I-frame playlists): byte offset from the file start, length
    /// (from its `moof` through the end of that sample).
    pub iframe: Option<(u64, u64)>,
}

/// One rung of one range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RungOutput {
    /// The rung's name (its directory).
    pub name: String,
    /// The init segment's file name (`init-<token>.mp4`).
    pub init: String,
    /// [`crate::fmp4::init_fingerprint`] of the init.
    pub init_fingerprint: String,
    /// In play order, numbered from the range's first segment.
    pub segments: Vec<SegmentOut>,
}

/// What one range's encode made (the result of its work item).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RangeOutput {
    pub index: u32,
    /// The attempt's token (in every file name).
    pub token: String,
    /// Largest rung first.
    pub rungs: Vec<RungOutput>,
    /// File names in `thumbs/`, in global order.
    pub thumbs: Vec<String>,
    /// The poster's file name, when this range holds the poster and ffmpeg wrote it.
    pub poster: Option<String>,
    /// CPU seconds of the encode (user + system).
    pub cpu_secs: f64,
}

/// Convenience: [`range_args`] + [`crate::ffmpeg::run`] + [`finish_range`] (cpu_secs filled
/// in). Creates the scratch directories first. `on_progress` positions are seconds into the
/// range (0 to its length). A cancelled run is [`JobError::Cancelled`].
#[tracing::instrument(skip_all, fields(range = job.range.index), err)]
pub async fn encode_range(
    job: &RangeJob<'_>,
    ffmpeg: &Path,
    priority: Priority,
    cancel: &CancellationToken,
    on_progress: &mut (dyn FnMut(ProgressEvent) + Send),
) -> Result<RangeOutput, JobError> {
    for p in job.profiles {
        let dir = job.out.join(&p.name);
        tokio::fs::create_dir_all(&dir).await.map_err(JobError::io(dir.display().to_string()))?;
    }
    if job.taps_thumbs() {
        let dir = job.out.join(THUMBS_DIR);
        tokio::fs::create_dir_all(&dir).await.map_err(JobError::io(dir.display().to_string()))?;
    }
    let stats = crate::ffmpeg::run(ffmpeg, &range_args(job), priority, cancel, on_progress)
        .await
        .map_err(|e| match e {
        crate::ffmpeg::FfmpegError::Cancelled => JobError::Cancelled,
        e => JobError::Ffmpeg(e),
    })?;
    let mut out = finish_range(job).await?;
    out.cpu_secs = stats.cpu_secs;
    Ok(out)
}

#[cfg(test)]
#[path = "range_encode_tests.rs"]
mod tests;
