//! Limits on what an uploaded video may ask of the transcoder (pure). A few megabytes of
//! black 4K60 can declare ten hours and hold a transcode slot for days: what a source costs
//! is its declared duration, size and frame rate, not its bytes. Ingest checks these limits
//! at upload completion (422, `VID_UPLOAD rejected`) and the transcoder again before it
//! encodes (a job that violates them fails permanently), from the same ffprobe facts.

use framelog_events::Probe;

/// 12 hours: longer than any film or conference day; a longer source is a bomb or a
/// forgotten recorder.
pub const DEFAULT_MAX_DURATION_SECS: f64 = 12.0 * 3600.0;
/// 8K (DCI 8192 wide), either orientation: the largest frame cameras and phones record.
pub const DEFAULT_MAX_WIDTH: u32 = 8192;
/// As [`DEFAULT_MAX_WIDTH`], so a portrait 8K phone video passes.
pub const DEFAULT_MAX_HEIGHT: u32 = 8192;
/// 8192 × 4320 (full-frame DCI 8K): a frame larger than that is not a camera's.
pub const DEFAULT_MAX_PIXELS: u64 = 8192 * 4320;
/// 120 fps: high-frame-rate sports and gaming captures; the ladder caps rungs at 60 anyway.
pub const DEFAULT_MAX_FPS: f64 = 120.0;
/// Decoded pixels (width × height × fps × duration) in gigapixels: 7,200 is about four hours
/// of 4K60 or twelve hours of 1080p60, the real decode work of a job.
pub const DEFAULT_MAX_GIGAPIXELS: f64 = 7200.0;
/// Streams in the container: video, a few audio languages, subtitles, data tracks. Hundreds
/// of streams are a demuxer and memory bomb, not a video.
pub const DEFAULT_MAX_STREAMS: u32 = 16;

/// The limits. Every field is checked; the [`Default`] is what a production platform picks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MediaLimits {
    pub max_duration_secs: f64,
    pub max_width: u32,
    pub max_height: u32,
    pub max_pixels: u64,
    pub max_fps: f64,
    /// Largest width × height × fps × duration, in gigapixels (10⁹ decoded pixels).
    pub max_gigapixels: f64,
    pub max_streams: u32,
}

impl Default for MediaLimits {
    fn default() -> Self {
        MediaLimits {
            max_duration_secs: DEFAULT_MAX_DURATION_SECS,
            max_width: DEFAULT_MAX_WIDTH,
            max_height: DEFAULT_MAX_HEIGHT,
            max_pixels: DEFAULT_MAX_PIXELS,
            max_fps: DEFAULT_MAX_FPS,
            max_gigapixels: DEFAULT_MAX_GIGAPIXELS,
            max_streams: DEFAULT_MAX_STREAMS,
        }
    }
}

/// Every stable code a [`LimitViolation`] can have (for API errors and `rejected` events).
pub const CODES: [&str; 6] = [
    "duration_too_long",
    "resolution_too_large",
    "too_many_pixels",
    "frame_rate_too_high",
    "too_much_work",
    "too_many_streams",
];

/// The first limit a source violates: what it declares and what the limit is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LimitViolation {
    #[error("the video lasts {actual:.1} s; the duration limit is {limit} s")]
    Duration { actual: f64, limit: f64 },
    #[error("the video is {width}×{height}; the resolution limit is {max_width}×{max_height}")]
    Resolution { width: u32, height: u32, max_width: u32, max_height: u32 },
    #[error("a frame has {actual} pixels; the pixel count limit is {limit}")]
    Pixels { actual: u64, limit: u64 },
    #[error("the video runs at {actual:.2} fps; the frame rate limit is {limit} fps")]
    FrameRate { actual: f64, limit: f64 },
    #[error(
        "the video is {actual:.0} gigapixels of decoding (width × height × fps × duration); \
         the pixel rate × duration limit is {limit} gigapixels"
    )]
    Work { actual: f64, limit: f64 },
    #[error("the file has {actual} streams; the stream count limit is {limit}")]
    Streams { actual: u32, limit: u32 },
}

impl LimitViolation {
    /// A stable code, one of [`CODES`].
    pub fn code(&self) -> &'static str {
        match self {
            LimitViolation::Duration { .. } => CODES[0],
            LimitViolation::Resolution { .. } => CODES[1],
            LimitViolation::Pixels { .. } => CODES[2],
            LimitViolation::FrameRate { .. } => CODES[3],
            LimitViolation::Work { .. } => CODES[4],
            LimitViolation::Streams { .. } => CODES[5],
        }
    }
}

/// The static code equal to `code`, if it is a limit code (a stored `rejected` code).
pub fn known_code(code: &str) -> Option<&'static str> {
    CODES.iter().copied().find(|c| *c == code)
}

/// Whether `value` is over `limit`; NaN never passes a limit.
fn over(value: f64, limit: f64) -> bool {
    value.is_nan() || value > limit
}

/// Checks a probed source (and its container's stream count) against `limits`. Cheap checks
/// first; the first violation wins.
pub fn check(limits: &MediaLimits, probe: &Probe, streams: u32) -> Result<(), LimitViolation> {
    if streams > limits.max_streams {
        return Err(LimitViolation::Streams { actual: streams, limit: limits.max_streams });
    }
    if probe.width > limits.max_width || probe.height > limits.max_height {
        return Err(LimitViolation::Resolution {
            width: probe.width,
            height: probe.height,
            max_width: limits.max_width,
            max_height: limits.max_height,
        });
    }
    let pixels = u64::from(probe.width) * u64::from(probe.height);
    if pixels > limits.max_pixels {
        return Err(LimitViolation::Pixels { actual: pixels, limit: limits.max_pixels });
    }
    if over(probe.fps, limits.max_fps) {
        return Err(LimitViolation::FrameRate { actual: probe.fps, limit: limits.max_fps });
    }
    if over(probe.duration_secs, limits.max_duration_secs) {
        return Err(LimitViolation::Duration {
            actual: probe.duration_secs,
            limit: limits.max_duration_secs,
        });
    }
    let work = pixels as f64 * probe.fps * probe.duration_secs / 1e9;
    if over(work, limits.max_gigapixels) {
        return Err(LimitViolation::Work { actual: work, limit: limits.max_gigapixels });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(width: u32, height: u32, fps: f64, duration_secs: f64) -> Probe {
        Probe {
            duration_secs,
            width,
            height,
            rotation: 0,
            fps,
            video_codec: "h264".into(),
            audio_codec: Some("aac".into()),
            format: "mov,mp4,m4a,3gp,3g2,mj2".into(),
            bit_rate: None,
        }
    }

    fn code(p: &Probe, streams: u32) -> Option<&'static str> {
        check(&MediaLimits::default(), p, streams).err().map(|v| v.code())
    }

    #[test]
    fn ordinary_videos_pass_the_default_limits() {
        assert_eq!(code(&probe(1920, 1080, 29.97, 600.0), 2), None);
        assert_eq!(code(&probe(3840, 2160, 60.0, 2.0 * 3600.0), 3), None);
        assert_eq!(code(&probe(1920, 1080, 60.0, 12.0 * 3600.0), 2), None, "a 12 h 1080p60 day");
        assert_eq!(code(&probe(4320, 7680, 30.0, 60.0), 2), None, "portrait 8K");
        assert_eq!(code(&probe(1280, 720, 120.0, 60.0), 2), None);
    }

    #[test]
    fn a_ten_hour_declaration_is_over_the_duration_limit_with_both_values_named() {
        let v =
            check(&MediaLimits::default(), &probe(160, 90, 30.0, 36_000.0 * 1.3), 1).unwrap_err();
        assert_eq!(v.code(), "duration_too_long");
        let msg = v.to_string();
        assert!(msg.contains("46800.0 s") && msg.contains("43200 s"), "{msg}");
    }

    #[test]
    fn each_limit_is_enforced_on_its_own() {
        assert_eq!(code(&probe(8400, 64, 30.0, 1.0), 1), Some("resolution_too_large"));
        assert_eq!(code(&probe(64, 8400, 30.0, 1.0), 1), Some("resolution_too_large"));
        assert_eq!(code(&probe(8192, 8192, 30.0, 1.0), 1), Some("too_many_pixels"));
        assert_eq!(code(&probe(640, 360, 240.0, 1.0), 1), Some("frame_rate_too_high"));
        assert_eq!(code(&probe(640, 360, 30.0, 1.0), 17), Some("too_many_streams"));
        // 4K60 for 5 h: every single limit passes, the work does not.
        assert_eq!(code(&probe(3840, 2160, 60.0, 5.0 * 3600.0), 2), Some("too_much_work"));
    }

    #[test]
    fn values_at_a_limit_pass_and_nonsense_values_do_not() {
        let l = MediaLimits::default();
        assert!(check(&l, &probe(8192, 4320, 120.0, 1.0), 16).is_ok());
        assert!(check(&l, &probe(640, 360, 30.0, 43_200.0), 1).is_ok());
        assert_eq!(code(&probe(640, 360, f64::NAN, 1.0), 1), Some("frame_rate_too_high"));
        assert_eq!(code(&probe(640, 360, 30.0, f64::INFINITY), 1), Some("duration_too_long"));
    }

    #[test]
    fn raised_limits_let_a_long_video_through() {
        let l = MediaLimits { max_duration_secs: 48.0 * 3600.0, ..MediaLimits::default() };
        assert!(check(&l, &probe(160, 90, 30.0, 36_000.0), 1).is_ok());
        assert_eq!(known_code("duration_too_long"), Some("duration_too_long"));
        assert_eq!(known_code("nope"), None);
    }
}
