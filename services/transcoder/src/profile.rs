//! Profile selection (pure): which renditions a source gets, at which size, frame rate, GOP and
//! bit rates. Never upscales, respects display rotation, keeps dimensions even, caps the frame
//! rate per rung by an integer divisor (so every rendition's frame times are a subset of the
//! source's) and sizes every GOP so keyframes fall at the same instants in every rendition.

use framelog_core::probe::display_size;
use framelog_events::Probe;

/// Seconds between keyframes (GOP = this × fps).
pub const GOP_SECS: u32 = 2;

/// The one audio rendition every ladder shares: AAC-LC stereo at this bit rate. Audio is
/// encoded once and stored once beside the video renditions (an `EXT-X-MEDIA` group), not
/// muxed into each of them: N-1 fewer AAC encodes per job and N-1 fewer copies on disk.
pub const AUDIO_BPS: u64 = 128_000;

/// One rung of the ladder (DESIGN §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rung {
    /// Profile name, e.g. `720p`.
    pub name: &'static str,
    /// The short side of the picture (the height of a landscape picture).
    pub short: u32,
    /// Video bit rate, bits per second.
    pub video_bps: u64,
    /// Highest frame rate.
    pub max_fps: u32,
}

/// The seed's ladder, lowest first.
pub const LADDER: [Rung; 5] = [
    Rung { name: "360p", short: 360, video_bps: 800_000, max_fps: 30 },
    Rung { name: "480p", short: 480, video_bps: 1_500_000, max_fps: 30 },
    Rung { name: "720p", short: 720, video_bps: 3_000_000, max_fps: 30 },
    Rung { name: "1080p", short: 1080, video_bps: 6_000_000, max_fps: 60 },
    Rung { name: "2160p", short: 2160, video_bps: 15_000_000, max_fps: 60 },
];

/// A frame rate as an exact fraction (`30000/1001`), so ffmpeg's `fps` filter and GOP sizes
/// agree across renditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRate {
    pub num: u32,
    pub den: u32,
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn lcm(a: u64, b: u64) -> u64 {
    a / gcd(a, b) * b
}

impl FrameRate {
    /// A reduced fraction.
    pub fn new(num: u32, den: u32) -> FrameRate {
        let g = gcd(u64::from(num), u64::from(den)).max(1) as u32;
        FrameRate { num: num / g, den: den / g }
    }

    /// The nearest usual fraction of a measured rate: NTSC rates (`24000/1001`, `30000/1001`...),
    /// whole numbers, else millihertz.
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

    /// The smallest integer divisor that brings this rate to at most `max` fps.
    pub fn divisor_for(self, max: u32) -> u32 {
        let max = f64::from(max.max(1)) + 0.01;
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
    /// `360p` ... `2160p`, or `<short side>p` for a source below 360p.
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub fps: FrameRate,
    /// Keyframe interval in frames of this rendition.
    pub gop: u32,
    /// Target video bit rate, bits per second.
    pub video_bps: u64,
}

impl Profile {
    /// VBV maximum rate (7% over the target, as the seed).
    pub fn maxrate_bps(&self) -> u64 {
        self.video_bps * 107 / 100
    }

    /// VBV buffer (1.5 × the target).
    pub fn bufsize_bps(&self) -> u64 {
        self.video_bps * 3 / 2
    }

    /// Pixels per second encoded (a cost estimate).
    pub fn pixel_rate(&self) -> f64 {
        f64::from(self.width) * f64::from(self.height) * self.fps.as_f64()
    }
}

fn even_floor(x: u32) -> u32 {
    (x & !1).max(2)
}

fn even_round(x: f64) -> u32 {
    (((x / 2.0).round() as u32) * 2).max(2)
}

/// The renditions of a source, lowest first. Every rung whose short side fits in the source's
/// display short side is made; a source below the lowest rung gets one rendition at its own
/// (even) size.
pub fn select_profiles(probe: &Probe) -> Vec<Profile> {
    let (dw, dh) = display_size(probe);
    let (dw, dh) = (dw.max(2), dh.max(2));
    let landscape = dw >= dh;
    let (short, long) = if landscape { (dh, dw) } else { (dw, dh) };
    let source_fps = FrameRate::from_f64(probe.fps);

    struct Draft {
        name: String,
        short: u32,
        long: u32,
        divisor: u32,
        video_bps: u64,
    }
    let mut drafts: Vec<Draft> = LADDER
        .iter()
        .filter(|r| r.short <= short)
        .map(|r| Draft {
            name: r.name.to_owned(),
            short: r.short,
            long: even_round(f64::from(r.short) * f64::from(long) / f64::from(short))
                .min(even_floor(long)),
            divisor: source_fps.divisor_for(r.max_fps),
            video_bps: r.video_bps,
        })
        .collect();
    if drafts.is_empty() {
        let lowest = LADDER[0];
        let (s, l) = (even_floor(short), even_floor(long));
        let area = f64::from(s) * f64::from(l) / (f64::from(lowest.short) * 640.0);
        drafts.push(Draft {
            name: format!("{s}p"),
            short: s,
            long: l,
            divisor: source_fps.divisor_for(lowest.max_fps),
            video_bps: ((lowest.video_bps as f64 * area) as u64).max(150_000),
        });
    }
    // One GOP length in source frames that every divisor divides, so keyframes of every
    // rendition land on the same source frames (hence the same instants).
    let common = drafts.iter().fold(1u64, |acc, d| lcm(acc, u64::from(d.divisor)));
    let source_gop_frames = f64::from(GOP_SECS) * source_fps.as_f64();
    let source_gop = ((source_gop_frames / common as f64).round().max(1.0) as u64) * common;
    drafts
        .into_iter()
        .map(|d| {
            let (width, height) = if landscape { (d.long, d.short) } else { (d.short, d.long) };
            Profile {
                name: d.name,
                width,
                height,
                fps: source_fps.divided(d.divisor),
                gop: (source_gop / u64::from(d.divisor)) as u32,
                video_bps: d.video_bps,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(w: u32, h: u32, rotation: i32, fps: f64) -> Probe {
        Probe {
            duration_secs: 10.0,
            width: w,
            height: h,
            rotation,
            fps,
            video_codec: "h264".into(),
            audio_codec: Some("aac".into()),
            format: "mov,mp4,m4a,3gp,3g2,mj2".into(),
            bit_rate: None,
        }
    }

    fn sizes(p: &[Profile]) -> Vec<(String, u32, u32)> {
        p.iter().map(|p| (p.name.clone(), p.width, p.height)).collect()
    }

    #[test]
    fn a_360p_source_gets_only_360p() {
        let p = select_profiles(&probe(640, 360, 0, 30.0));
        assert_eq!(sizes(&p), vec![("360p".into(), 640, 360)]);
        assert_eq!((p[0].video_bps, p[0].gop), (800_000, 60));
    }

    #[test]
    fn a_720p_source_gets_the_seed_sizes_up_to_720p_and_never_upscales() {
        let p = select_profiles(&probe(1280, 720, 0, 30.0));
        assert_eq!(
            sizes(&p),
            vec![("360p".into(), 640, 360), ("480p".into(), 854, 480), ("720p".into(), 1280, 720)]
        );
        let p = select_profiles(&probe(3840, 2160, 0, 30.0));
        assert_eq!(p.len(), 5);
        assert_eq!((p[3].width, p[3].height, p[4].width, p[4].height), (1920, 1080, 3840, 2160));
    }

    #[test]
    fn a_rotated_phone_video_gets_portrait_renditions() {
        // Coded 1280x720 with a quarter-turn display matrix: displayed 720x1280.
        let p = select_profiles(&probe(1280, 720, 90, 30.0));
        assert_eq!(
            sizes(&p),
            vec![("360p".into(), 360, 640), ("480p".into(), 480, 854), ("720p".into(), 720, 1280)]
        );
        let upside_down = select_profiles(&probe(1280, 720, 180, 30.0));
        assert_eq!(upside_down[2].width, 1280, "a half turn keeps the orientation");
    }

    #[test]
    fn odd_sizes_give_even_dimensions_that_never_exceed_the_source() {
        let p = select_profiles(&probe(1281, 721, 0, 25.0));
        assert_eq!(p.last().unwrap().height, 720);
        assert!(p.iter().all(|p| p.width % 2 == 0 && p.height % 2 == 0));
        assert!(p.iter().all(|p| p.width <= 1281 && p.height <= 721));
        // A 1280x719 source is just short of 720p.
        assert_eq!(select_profiles(&probe(1280, 719, 0, 25.0)).len(), 2);
    }

    #[test]
    fn a_source_smaller_than_360p_gets_one_rendition_at_its_own_even_size() {
        let p = select_profiles(&probe(321, 241, 0, 15.0));
        assert_eq!(sizes(&p), vec![("240p".into(), 320, 240)]);
        assert!(p[0].video_bps < 800_000 && p[0].video_bps >= 150_000);
        assert_eq!((p[0].fps, p[0].gop), (FrameRate::new(15, 1), 30));
        let portrait = select_profiles(&probe(240, 320, 0, 30.0));
        assert_eq!(sizes(&portrait), vec![("240p".into(), 240, 320)]);
    }

    #[test]
    fn frame_rates_are_capped_per_rung_by_a_divisor_and_gops_stay_two_seconds() {
        let p = select_profiles(&probe(1920, 1080, 0, 59.94));
        let fps: Vec<String> = p.iter().map(|p| p.fps.to_string()).collect();
        assert_eq!(fps, ["30000/1001", "30000/1001", "30000/1001", "60000/1001"]);
        let gops: Vec<u32> = p.iter().map(|p| p.gop).collect();
        assert_eq!(gops, [60, 60, 60, 120]);
        // Keyframe instants agree: gop / fps is the same for every rendition.
        let secs: Vec<f64> = p.iter().map(|p| f64::from(p.gop) / p.fps.as_f64()).collect();
        assert!(secs.iter().all(|s| (s - secs[0]).abs() < 1e-9), "{secs:?}");

        let p = select_profiles(&probe(1920, 1080, 0, 50.0));
        assert_eq!((p[0].fps, p[3].fps), (FrameRate::new(25, 1), FrameRate::new(50, 1)));
        let p = select_profiles(&probe(1280, 720, 0, 24.0));
        assert!(p.iter().all(|p| p.fps == FrameRate::new(24, 1) && p.gop == 48));
    }

    #[test]
    fn measured_rates_map_to_exact_fractions() {
        assert_eq!(FrameRate::from_f64(29.97002997), FrameRate::new(30000, 1001));
        assert_eq!(FrameRate::from_f64(23.976), FrameRate::new(24000, 1001));
        assert_eq!(FrameRate::from_f64(25.0), FrameRate::new(25, 1));
        assert_eq!(FrameRate::from_f64(12.5), FrameRate::new(25, 2));
        assert_eq!(FrameRate::from_f64(f64::NAN), FrameRate::new(30, 1));
    }
}
