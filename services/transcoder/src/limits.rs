//! [`TranscodeLimits`]: the `--transcode-max-*` flags. The transcoder checks a source against
//! them from its own ffprobe before it encodes anything, so a request that got past ingest
//! (published straight to the log, or accepted under higher ingest limits) still cannot hold
//! a slot with a bomb; a violation fails the job permanently. Defaults and why:
//! `framelog_core::media_limits`.

use framelog_core::media_limits::{self as ml, MediaLimits};

/// Limits on a source's declared media, checked before encoding.
#[derive(Debug, Clone, clap::Args)]
pub struct TranscodeLimits {
    /// Longest source transcoded, seconds.
    #[arg(
        long = "transcode-max-duration-secs", id = "transcode_max_duration_secs", value_name = "SECS",
        env = "FRAMELOG_TRANSCODE_MAX_DURATION_SECS",
        default_value_t = ml::DEFAULT_MAX_DURATION_SECS
    )]
    pub max_duration_secs: f64,
    /// Widest source frame, pixels.
    #[arg(
        long = "transcode-max-width", id = "transcode_max_width", value_name = "PIXELS",
        env = "FRAMELOG_TRANSCODE_MAX_WIDTH",
        default_value_t = ml::DEFAULT_MAX_WIDTH
    )]
    pub max_width: u32,
    /// Tallest source frame, pixels.
    #[arg(
        long = "transcode-max-height", id = "transcode_max_height", value_name = "PIXELS",
        env = "FRAMELOG_TRANSCODE_MAX_HEIGHT",
        default_value_t = ml::DEFAULT_MAX_HEIGHT
    )]
    pub max_height: u32,
    /// Largest source frame, width × height.
    #[arg(
        long = "transcode-max-pixels", id = "transcode_max_pixels", value_name = "PIXELS",
        env = "FRAMELOG_TRANSCODE_MAX_PIXELS",
        default_value_t = ml::DEFAULT_MAX_PIXELS
    )]
    pub max_pixels: u64,
    /// Highest source frame rate, fps.
    #[arg(
        long = "transcode-max-fps", id = "transcode_max_fps", value_name = "FPS",
        env = "FRAMELOG_TRANSCODE_MAX_FPS",
        default_value_t = ml::DEFAULT_MAX_FPS
    )]
    pub max_fps: f64,
    /// Most decode work: width × height × fps × duration, in gigapixels.
    #[arg(
        long = "transcode-max-gigapixels", id = "transcode_max_gigapixels", value_name = "GIGAPIXELS",
        env = "FRAMELOG_TRANSCODE_MAX_GIGAPIXELS",
        default_value_t = ml::DEFAULT_MAX_GIGAPIXELS
    )]
    pub max_gigapixels: f64,
    /// Most streams in the source's container.
    #[arg(
        long = "transcode-max-streams", id = "transcode_max_streams", value_name = "COUNT",
        env = "FRAMELOG_TRANSCODE_MAX_STREAMS",
        default_value_t = ml::DEFAULT_MAX_STREAMS
    )]
    pub max_streams: u32,
}

impl Default for TranscodeLimits {
    fn default() -> Self {
        TranscodeLimits::from(MediaLimits::default())
    }
}

impl From<MediaLimits> for TranscodeLimits {
    fn from(l: MediaLimits) -> Self {
        TranscodeLimits {
            max_duration_secs: l.max_duration_secs,
            max_width: l.max_width,
            max_height: l.max_height,
            max_pixels: l.max_pixels,
            max_fps: l.max_fps,
            max_gigapixels: l.max_gigapixels,
            max_streams: l.max_streams,
        }
    }
}

impl TranscodeLimits {
    /// The limits to check.
    pub fn media_limits(&self) -> MediaLimits {
        MediaLimits {
            max_duration_secs: self.max_duration_secs,
            max_width: self.max_width,
            max_height: self.max_height,
            max_pixels: self.max_pixels,
            max_fps: self.max_fps,
            max_gigapixels: self.max_gigapixels,
            max_streams: self.max_streams,
        }
    }
}
