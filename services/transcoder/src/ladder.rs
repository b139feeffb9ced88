//! The ladder (pure): which renditions a source gets, at which size, frame rate, GOP, bit rate
//! and codec. A rung is made when the source's display picture reaches its 16:9 box (width or
//! height, within [`FIT_TOLERANCE`]); the picture is then fitted into the box keeping the
//! display aspect, never upscaled, with even sides. So a 1920x800 film gets a 1920x800 top rung
//! and a 1920x1078 crop gets 1080p. Rungs run from 270p (for cellular viewers) to 2160p, which
//! is HEVC (every H.264 rung stays within High 4.2, see [`crate::level`]).

use framelog_core::probe::{Inspection, VideoStream};

use crate::profile::{FrameRate, GOP_SECS, Profile, VideoCodec, lcm};

/// How far (relative) below a rung's box a source may be and still get that rung.
pub const FIT_TOLERANCE: f64 = 0.03;

/// The frame rate above which a rung gets its high-frame-rate bit rate.
const HFR_ABOVE: f64 = 31.0;

/// One rung of the ladder (DESIGN §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rung {
    /// Profile name, e.g. `720p`.
    pub name: &'static str,
    /// The landscape box (width, height) a picture is fitted into; portrait swaps it.
    pub bbox: (u32, u32),
    /// Nominal video bit rate at up to 30 fps, bits per second.
    pub video_bps: u64,
    /// Nominal video bit rate above 30 fps (60 fps rungs).
    pub hfr_bps: u64,
    /// Highest frame rate.
    pub max_fps: u32,
    /// The codec of this rung.
    pub codec: VideoCodec,
}

/// The ladder, lowest first. Bit rates near Apple's HLS authoring table; 720p and up keep up
/// to 60 fps.
pub const LADDER: [Rung; 6] = [
    rung("270p", (480, 270), 400_000, 400_000, 30, VideoCodec::H264),
    rung("360p", (640, 360), 800_000, 800_000, 30, VideoCodec::H264),
    rung("480p", (854, 480), 1_500_000, 1_500_000, 30, VideoCodec::H264),
    rung("720p", (1280, 720), 3_000_000, 4_500_000, 60, VideoCodec::H264),
    rung("1080p", (1920, 1080), 6_000_000, 7_800_000, 60, VideoCodec::H264),
    rung("2160p", (3840, 2160), 12_000_000, 17_000_000, 60, VideoCodec::Hevc),
];

const fn rung(
    name: &'static str,
    bbox: (u32, u32),
    video_bps: u64,
    hfr_bps: u64,
    max_fps: u32,
    codec: VideoCodec,
) -> Rung {
    Rung { name, bbox, video_bps, hfr_bps, max_fps, codec }
}

/// What the ladder needs of a source's video: built from `framelog_core::probe::Inspection`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LadderSource {
    /// Display width (SAR and rotation applied); 0 without video.
    pub width: u32,
    /// Display height.
    pub height: u32,
    /// The rate frames come out of the decoder and deinterlacer at: the average rate, twice it
    /// for an interlaced source (deinterlaced one frame per field).
    pub fps: f64,
    /// The stream's nominal (base) rate, likewise doubled; a guide for variable-rate sources.
    pub nominal_fps: Option<f64>,
}

impl LadderSource {
    /// From a probe's inspection: its video stream, or a zero size (no renditions) for an
    /// audio-only source.
    pub fn from_inspection(i: &Inspection) -> LadderSource {
        i.video.as_ref().map_or(
            LadderSource { width: 0, height: 0, fps: 0.0, nominal_fps: None },
            LadderSource::from_video,
        )
    }

    /// The display size (SAR and rotation applied) and the rate after deinterlacing: an
    /// interlaced stream is deinterlaced one frame per field (`bwdif=mode=send_field`), so its
    /// rates are doubled (1080i25 → 50 fps).
    pub fn from_video(v: &VideoStream) -> LadderSource {
        let (width, height) = v.display_size();
        let fields = if v.is_interlaced() { 2.0 } else { 1.0 };
        LadderSource {
            width,
            height,
            fps: v.avg_fps * fields,
            nominal_fps: v.r_fps.map(|r| r * fields),
        }
    }

    /// From the summary probe alone (rotation applied; square pixels, progressive).
    pub fn from_probe(p: &framelog_events::Probe) -> LadderSource {
        let (width, height) = framelog_core::probe::display_size(p);
        LadderSource { width, height, fps: p.fps, nominal_fps: None }
    }

    /// The output base frame rate, snapped ([`FrameRate::snap`]).
    pub fn frame_rate(&self) -> FrameRate {
        FrameRate::snap(self.fps, self.nominal_fps)
    }
}

fn even_floor(x: u32) -> u32 {
    (x & !1).max(2)
}

fn even_round(x: f64) -> u32 {
    (((x / 2.0).round() as u32) * 2).max(2)
}

/// The picture of `(w, h)` fitted into `bbox`: aspect kept, never upscaled, sides even.
pub fn fit(w: u32, h: u32, bbox: (u32, u32)) -> (u32, u32) {
    let (fw, fh) = (f64::from(w.max(2)), f64::from(h.max(2)));
    let scale = (f64::from(bbox.0) / fw).min(f64::from(bbox.1) / fh).min(1.0);
    (
        even_round(fw * scale).min(even_floor(w.max(2))),
        even_round(fh * scale).min(even_floor(h.max(2))),
    )
}

/// Whether a `(w, h)` picture reaches `bbox` in width or height, within [`FIT_TOLERANCE`].
pub fn reaches(w: u32, h: u32, bbox: (u32, u32)) -> bool {
    let min = |side: u32| f64::from(side) * (1.0 - FIT_TOLERANCE);
    f64::from(w) >= min(bbox.0) || f64::from(h) >= min(bbox.1)
}

/// The renditions of a source, lowest first: every rung whose box the display picture reaches;
/// a source below the lowest rung gets one rendition at its own (even) size. No video (a zero
/// size), no renditions.
pub fn select_profiles(source: &LadderSource) -> Vec<Profile> {
    let (dw, dh) = (source.width, source.height);
    if dw == 0 || dh == 0 {
        return Vec::new();
    }
    let portrait = dh > dw;
    let source_fps = source.frame_rate();

    struct Draft {
        name: String,
        size: (u32, u32),
        divisor: u32,
        video_bps: u64,
        codec: VideoCodec,
    }
    let rate = |r: &Rung, divisor: u32| {
        if source_fps.divided(divisor).as_f64() > HFR_ABOVE { r.hfr_bps } else { r.video_bps }
    };
    let mut drafts: Vec<Draft> = LADDER
        .iter()
        .map(|r| (r, if portrait { (r.bbox.1, r.bbox.0) } else { r.bbox }))
        .filter(|(_, bbox)| reaches(dw, dh, *bbox))
        .map(|(r, bbox)| {
            let divisor = source_fps.divisor_for(r.max_fps);
            Draft {
                name: r.name.to_owned(),
                size: fit(dw, dh, bbox),
                divisor,
                video_bps: rate(r, divisor),
                codec: r.codec,
            }
        })
        .collect();
    if drafts.is_empty() {
        let lowest = LADDER[0];
        let size = (even_floor(dw), even_floor(dh));
        let area = f64::from(size.0) * f64::from(size.1)
            / (f64::from(lowest.bbox.0) * f64::from(lowest.bbox.1));
        drafts.push(Draft {
            name: format!("{}p", size.0.min(size.1)),
            size,
            divisor: source_fps.divisor_for(lowest.max_fps),
            video_bps: ((lowest.video_bps as f64 * area) as u64).max(150_000),
            codec: lowest.codec,
        });
    }
    // One GOP length in source frames that every divisor divides, so keyframes of every
    // rendition land on the same source frames (hence the same instants).
    let common = drafts.iter().fold(1u64, |acc, d| lcm(acc, u64::from(d.divisor)));
    let source_gop_frames = f64::from(GOP_SECS) * source_fps.as_f64();
    let source_gop = ((source_gop_frames / common as f64).round().max(1.0) as u64) * common;
    drafts
        .into_iter()
        .map(|d| Profile {
            name: d.name,
            width: d.size.0,
            height: d.size.1,
            fps: source_fps.divided(d.divisor),
            gop: (source_gop / u64::from(d.divisor)) as u32,
            video_bps: d.video_bps,
            codec: d.codec,
        })
        .collect()
}

#[cfg(test)]
#[path = "ladder_tests.rs"]
mod tests;
