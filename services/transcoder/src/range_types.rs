//! The chunked job's plan and result types, as INTERFACE.md (issue 16) defines them.
//!
//! Temporary home: `chunks.rs` (`RangeSpec`, `ChunkPlan`) and `range_encode.rs` (`SegmentOut`,
//! `RungOutput`, `RangeOutput`) own these types; `assemble` and `sheets` import them only
//! through this module, which the lead points at those definitions when merging.

use serde::{Deserialize, Serialize};

/// One time range of the source, encoded as one work item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RangeSpec {
    pub index: u32,
    /// Exact start and end in seconds (frame boundaries of the top rung's rate).
    pub start_secs: f64,
    pub end_secs: f64,
    /// Global number of its first segment; `segments` segments in it (the last range may hold
    /// a shorter last segment).
    pub first_segment: u32,
    pub segments: u32,
    /// Storyboard thumbnails this range taps: global index of the first, how many.
    pub first_thumb: u32,
    pub thumbs: u32,
    /// Whether the poster frame (at `poster_at_secs`) falls in this range.
    pub poster: bool,
}

/// The ranges of one source and the exact segment length they are multiples of.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkPlan {
    pub ranges: Vec<RangeSpec>,
    /// Exact segment length in seconds.
    pub segment_secs: f64,
}

/// One encoded media segment of a range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentOut {
    /// File name in the rung's directory (`seg_00012-<token>.m4s`).
    pub uri: String,
    pub duration: f64,
    pub bytes: u64,
    /// The first sync sample (for I-frame playlists): byte offset from the file start, length.
    pub iframe: Option<(u64, u64)>,
}

/// One rung of an encoded range: its init segment and its segments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RungOutput {
    /// The rung (`360p`), also its directory.
    pub name: String,
    /// File name of the init segment in the rung's directory (`init-<token>.mp4`).
    pub init: String,
    /// sha256 (hex) of the init without its `edts` box: equal for inits that play the same.
    pub init_fingerprint: String,
    pub segments: Vec<SegmentOut>,
}

/// The result of one encoded range (stored as JSON in the results KV).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RangeOutput {
    pub index: u32,
    pub token: String,
    pub rungs: Vec<RungOutput>,
    /// File names in `thumbs/`, in global order.
    pub thumbs: Vec<String>,
    pub poster: Option<String>,
    pub cpu_secs: f64,
}
