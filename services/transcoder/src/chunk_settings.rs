//! [`ChunkSettings`]: the `--transcode-*` flags of chunked encoding and passthrough
//! ([`crate::chunked_job`]), flattened into [`crate::TranscoderSettings`].

use clap::Args;

/// How a video job is split into work items, and what is played before they are done.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ChunkSettings {
    /// Segments per range of the source, each range one work item any transcoder may encode
    /// (30 s with 6 s segments). `0`: no ranges, the whole ladder in one process of the job's
    /// worker (the lowest rung published first, see `--transcode-early-playable`).
    #[arg(
        long = "transcode-range-segments",
        env = "FRAMELOG_TRANSCODE_RANGE_SEGMENTS",
        default_value_t = 5
    )]
    pub range_segments: u32,

    /// Segments in the first range, made shorter so the ladder is playable soonest.
    #[arg(
        long = "transcode-first-range-segments",
        env = "FRAMELOG_TRANSCODE_FIRST_RANGE_SEGMENTS",
        default_value_t = 1
    )]
    pub first_range_segments: u32,

    /// Work items (ranges, audio) of any job this worker encodes at once besides its own jobs'.
    #[arg(
        long = "transcode-item-slots",
        env = "FRAMELOG_TRANSCODE_ITEM_SLOTS",
        default_value_t = 1
    )]
    pub item_slots: usize,

    /// Attempts of one work item before it is dead-lettered (and its job fails that attempt).
    #[arg(
        long = "transcode-item-attempts",
        env = "FRAMELOG_TRANSCODE_ITEM_ATTEMPTS",
        default_value_t = 3
    )]
    pub item_attempts: u32,

    /// Package a source that browsers can play as it is (H.264 up to High, 8-bit SDR
    /// progressive) by stream copy and publish it before any encode: playable in seconds.
    #[arg(
        long = "transcode-passthrough",
        env = "FRAMELOG_TRANSCODE_PASSTHROUGH",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub passthrough: bool,

    /// Keep offering the passthrough rendition (`source`) in the master once the ladder is
    /// complete; `false` drops it from the master and removes it after the source's duration
    /// plus the version grace period.
    #[arg(
        long = "transcode-keep-passthrough",
        env = "FRAMELOG_TRANSCODE_KEEP_PASSTHROUGH",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    pub keep_passthrough: bool,
}

impl Default for ChunkSettings {
    fn default() -> Self {
        ChunkSettings {
            range_segments: 5,
            first_range_segments: 1,
            item_slots: 1,
            item_attempts: 3,
            passthrough: true,
            keep_passthrough: false,
        }
    }
}

impl ChunkSettings {
    /// Whether jobs are split into ranges.
    pub fn chunked(&self) -> bool {
        self.range_segments > 0
    }

    /// Checks values clap cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.chunked() && self.first_range_segments == 0 {
            return Err("--transcode-first-range-segments must be at least 1".into());
        }
        if self.item_attempts == 0 {
            return Err("--transcode-item-attempts must be at least 1".into());
        }
        Ok(())
    }
}
