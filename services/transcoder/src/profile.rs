//! Renditions and their frame rates (pure). A measured rate is snapped to the natural rate it
//! is close to (a phone's 30.02 fps VFR average is 30 fps), each rung caps it by an integer
//! divisor (so every rendition's frame times are a subset of the source's) and GOPs are sized so
//! keyframes fall at the same instants in every rendition. [`crate::ladder`] chooses the rungs.

pub use crate::ladder::select_profiles;

/// Seconds between keyframes (GOP = this × fps).
pub const GOP_SECS: u32 = 2;

/// The one audio rendition every ladder shares: AAC-LC stereo at this bit rate. Audio is
/// encoded once and stored once beside the video renditions (an `EXT-X-MEDIA` group), not
/// muxed into each of them: N-1 fewer AAC encodes per job and N-1 fewer copies on disk.
pub const AUDIO_BPS: u64 = 128_000;

/// How far (relative) a measured rate may be from a natural rate and still be taken for it:
/// 2% takes 30.02 or 29.5 for 30 and 60.05 for 60, and keeps 24 and 25 apart (4% apart).
pub const SNAP_TOLERANCE: f64 = 0.02;

/// How far (relative) over a rung's cap a rate may be and still be kept whole: a 30.9 fps
/// source keeps 30.9 fps at a 30 fps cap rather than being halved to 15.45.
pub const CAP_TOLERANCE: f64 = 0.05;

/// The natural frame rates (film, PAL, NTSC and their doubles), as exact fractions.
pub const NATURAL_RATES: [(u32, u32); 8] =
    [(24000, 1001), (24, 1), (25, 1), (30000, 1001), (30, 1), (50, 1), (60000, 1001), (60, 1)];

/// The video codec of a rendition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    /// H.264 High, at most level 4.2 (what every player decodes).
    H264,
    /// HEVC Main (8-bit), `hvc1` in fMP4: the 2160p rung only.
    Hevc,
}

/// A frame rate as an exact fraction (`30000/1001`), so ffmpeg's `fps` filter and GOP sizes
/// agree across renditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRate {
    /// Numerator.
    pub num: u32,
    /// Denominator.
    pub den: u32,
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Least common multiple.
pub(crate) fn lcm(a: u64, b: u64) -> u64 {
    a / gcd(a, b) * b
}

impl FrameRate {
    /// A reduced fraction.
    pub fn new(num: u32, den: u32) -> FrameRate {
        let g = gcd(u64::from(num), u64::from(den)).max(1) as u32;
        FrameRate { num: num / g, den: den / g }
    }

    /// The natural rate nearest to `fps` if it is within [`SNAP_TOLERANCE`] of it.
    pub fn natural(fps: f64) -> Option<FrameRate> {
        if !fps.is_finite() || fps <= 0.0 {
            return None;
        }
        NATURAL_RATES
            .iter()
            .map(|&(n, d)| FrameRate::new(n, d))
            .map(|r| (r, (fps - r.as_f64()).abs() / r.as_f64()))
            .filter(|(_, off)| *off <= SNAP_TOLERANCE)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(r, _)| r)
    }

    /// The output rate for a source whose average rate is `avg` and whose nominal (base) rate
    /// is `nominal`: the natural rate the average is close to; else, for a variable-rate source
    /// whose average sits below a natural nominal rate, that nominal rate (frames are repeated,
    /// not dropped); else the exact rate ([`FrameRate::from_f64`]).
    pub fn snap(avg: f64, nominal: Option<f64>) -> FrameRate {
        if let Some(r) = FrameRate::natural(avg) {
            return r;
        }
        let nominal = nominal.and_then(|n| FrameRate::natural(n).filter(|_| n >= avg));
        nominal.unwrap_or_else(|| FrameRate::from_f64(avg))
    }

    /// The nearest usual fraction of a measured rate: NTSC rates (`24000/1001`, `30000/1001`...),
    /// whole numbers, else millihertz (no snapping beyond ±0.01 fps; see [`FrameRate::snap`]).
    pub fn from_f64(fps: f64) -> FrameRate {
        let fps = if fps.is_finite() && fps > 0.0 { fps } else { 30.0 };
        for base in [24u32, 30, 48, 60, 120, 240] {
            if (fps - f64::from(base) * 1000.0 / 1001.0).abs() < 0.01 {
                return FrameRate::new(base * 1000, 1001);
            }
        }
        if (fps - fps.round()).abs() < 0.01 {
            return FrameRate::new(fps.round().max(1.0) as u32, 1);
        }
        FrameRate::new((fps * 1000.0).round().max(1.0) as u32, 1000)
    }

    /// Frames per second.
    pub fn as_f64(self) -> f64 {
        f64::from(self.num) / f64::from(self.den)
    }

    /// The smallest integer divisor that brings this rate to at most `max` fps, give or take
    /// [`CAP_TOLERANCE`] (29.97 and 30.9 fit a 30 fps cap whole; 50 and 59.94 are halved).
    pub fn divisor_for(self, max: u32) -> u32 {
        let max = f64::from(max.max(1)) * (1.0 + CAP_TOLERANCE);
        (self.as_f64() / max).ceil().max(1.0) as u32
    }

    /// This rate divided by `k`.
    pub fn divided(self, k: u32) -> FrameRate {
        FrameRate::new(self.num, self.den * k.max(1))
    }
}

impl std::fmt::Display for FrameRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

/// One rendition to produce.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// `270p` ... `2160p`, or `<short side>p` for a source below 270p.
    pub name: String,
    /// Picture width (square pixels).
    pub width: u32,
    /// Picture height.
    pub height: u32,
    /// Output frame rate (constant).
    pub fps: FrameRate,
    /// Keyframe interval in frames of this rendition.
    pub gop: u32,
    /// Nominal video bit rate, bits per second: the ABR target and the cap of capped CRF
    /// (see `rate::vbv`).
    pub video_bps: u64,
    /// H.264, or HEVC for the 2160p rung.
    pub codec: VideoCodec,
}

impl Profile {
    /// ABR's VBV maximum rate (7% over the nominal rate, as the seed); the H.264 level is
    /// reckoned on it.
    pub fn maxrate_bps(&self) -> u64 {
        self.video_bps * 107 / 100
    }

    /// VBV buffer (1.5 × the nominal rate).
    pub fn bufsize_bps(&self) -> u64 {
        self.video_bps * 3 / 2
    }

    /// Pixels per second encoded (a cost estimate).
    pub fn pixel_rate(&self) -> f64 {
        f64::from(self.width) * f64::from(self.height) * self.fps.as_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measured_rates_near_a_natural_rate_snap_to_it() {
        let r = |n, d| Some(FrameRate::new(n, d));
        assert_eq!(FrameRate::natural(30.02), r(30, 1), "a phone's VFR average");
        assert_eq!(FrameRate::natural(60.05), r(60, 1));
        assert_eq!(FrameRate::natural(29.97002997), r(30000, 1001));
        assert_eq!(FrameRate::natural(29.98), r(30000, 1001), "nearest wins: 29.97 over 30");
        assert_eq!(FrameRate::natural(23.976), r(24000, 1001));
        assert_eq!(FrameRate::natural(24.2), r(24, 1));
        assert_eq!(FrameRate::natural(24.9), r(25, 1));
        assert_eq!(FrameRate::natural(49.3), r(50, 1));
        assert_eq!(FrameRate::natural(59.9), r(60000, 1001));
        assert_eq!(FrameRate::natural(29.3), None, "2.3% off 29.97: not snapped");
        assert_eq!(FrameRate::natural(15.0), None);
        assert_eq!(FrameRate::natural(f64::NAN), None);
        assert_eq!(FrameRate::natural(0.0), None);
    }

    #[test]
    fn an_unnatural_average_takes_a_natural_nominal_rate_above_it_or_stays_exact() {
        // Low-light phone video: 26.4 fps on average, 30 fps nominal.
        assert_eq!(FrameRate::snap(26.4, Some(30.0)), FrameRate::new(30, 1));
        assert_eq!(FrameRate::snap(30.02, Some(90000.0)), FrameRate::new(30, 1));
        // A nominal rate that is a timebase (90 kHz) or below the average is no guide.
        assert_eq!(FrameRate::snap(26.4, Some(90000.0)), FrameRate::new(26400, 1000));
        assert_eq!(FrameRate::snap(26.4, Some(25.0)), FrameRate::new(26400, 1000));
        assert_eq!(FrameRate::snap(15.0, None), FrameRate::new(15, 1));
        assert_eq!(FrameRate::snap(12.5, None), FrameRate::new(25, 2));
        assert_eq!(FrameRate::snap(f64::NAN, None), FrameRate::new(30, 1));
    }

    #[test]
    fn rung_caps_halve_50_and_60_but_never_a_30_fps_source() {
        let cap = |n, d| FrameRate::new(n, d).divisor_for(30);
        assert_eq!(cap(30, 1), 1);
        assert_eq!(cap(30000, 1001), 1);
        assert_eq!(cap(30900, 1000), 1, "within the cap tolerance");
        assert_eq!(cap(25, 1), 1);
        assert_eq!(cap(50, 1), 2);
        assert_eq!(cap(60000, 1001), 2);
        assert_eq!(cap(60, 1), 2);
        assert_eq!(cap(120, 1), 4);
        assert_eq!(FrameRate::new(60, 1).divisor_for(60), 1);
        assert_eq!(FrameRate::new(60, 1).divided(2), FrameRate::new(30, 1));
        assert_eq!(FrameRate::new(60000, 1001).divided(2).to_string(), "30000/1001");
    }

    #[test]
    fn exact_rates_map_to_exact_fractions() {
        assert_eq!(FrameRate::from_f64(29.97002997), FrameRate::new(30000, 1001));
        assert_eq!(FrameRate::from_f64(23.976), FrameRate::new(24000, 1001));
        assert_eq!(FrameRate::from_f64(25.0), FrameRate::new(25, 1));
        assert_eq!(FrameRate::from_f64(12.5), FrameRate::new(25, 2));
        assert_eq!(FrameRate::from_f64(f64::NAN), FrameRate::new(30, 1));
    }
}
