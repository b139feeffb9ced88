//! Per-rendition encoder arguments (pure): codec, level, GOP and rate control for every output
//! video stream of one ffmpeg process (`-c:v:k`, so H.264 rungs and the HEVC 2160p rung share a
//! process).
//!
//! Rate control is capped CRF for the software encoders: x264/x265 spend what the picture
//! needs at a constant quality, up to the rung's VBV cap (`-maxrate`/`-bufsize`, the same peak
//! the seed's near-CBR ABR had), so slides and talking heads cost far less than their rung's
//! nominal rate while motion still gets the full cap. Hardware encoders keep their peak-capped
//! VBR modes (`-b:v` with `-maxrate`), which is what they do well. `benches/ladder.rs` measures
//! both on static and on high-motion content.
//!
//! Keyframes: GOP = 2 s of the rung's rate, minimum = maximum, no scene-cut keyframes
//! (`-sc_threshold 0` for x264, `scenecut=0` for x265) and closed GOPs, so every rendition's
//! segments start at the same instants.

use crate::encoder::{Encoder, EncoderKind};
use crate::level::{H264Level, MAX_H264, StreamDemand, h264_level};
use crate::profile::{Profile, VideoCodec};

/// x264 CRF of every H.264 rung (x264's default: visually near-transparent at these sizes).
pub const X264_CRF: u8 = 23;

/// x265 CRF of the HEVC rung (about x264's 23 in quality, HEVC being ~30% more efficient).
pub const X265_CRF: u8 = 25;

/// How a rung's bits are spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateControl {
    /// One-pass average bit rate at the rung's nominal rate under a VBV cap (the seed's way;
    /// hardware encoders' VBR).
    Abr,
    /// Constant quality (`-crf`) under the rung's VBV cap.
    CappedCrf,
}

impl RateControl {
    /// Capped CRF for x264/x265; the peak-capped VBR for hardware encoders.
    pub fn for_encoder(encoder: &Encoder) -> RateControl {
        match encoder.kind {
            EncoderKind::Software if encoder.codec == "libx264" => RateControl::CappedCrf,
            _ => RateControl::Abr,
        }
    }
}

/// The VBV cap `(maxrate, bufsize)` of `p` under `rc`. ABR keeps the seed's 7% headroom over
/// its target; capped CRF is capped at the nominal rate itself, so the hardest content costs
/// what ABR's average did and anything easier costs less. Both fit [`level_of`]'s level, which
/// is reckoned on the larger cap.
pub fn vbv(p: &Profile, rc: RateControl) -> (u64, u64) {
    match rc {
        RateControl::Abr => (p.maxrate_bps(), p.bufsize_bps()),
        RateControl::CappedCrf => (p.video_bps, p.bufsize_bps()),
    }
}

/// The H.264 level of `p` (its VBV cap included), `None` for HEVC or beyond every level.
pub fn level_of(p: &Profile) -> Option<H264Level> {
    if p.codec != VideoCodec::H264 {
        return None;
    }
    h264_level(StreamDemand {
        width: p.width,
        height: p.height,
        fps: p.fps.as_f64(),
        maxrate_bps: p.maxrate_bps(),
        bufsize_bits: p.bufsize_bps(),
    })
}

fn kv(k: usize, option: &str, value: impl ToString) -> [String; 2] {
    [format!("-{option}:v:{k}"), value.to_string()]
}

/// Arguments of output video stream `k` encoding `p` with `encoder`'s family under `rc`
/// (`rc` applies to x264 and x265; hardware encoders always get their VBR).
pub fn stream_args(encoder: &Encoder, k: usize, p: &Profile, rc: RateControl) -> Vec<String> {
    let enc = encoder.for_codec(p.codec);
    let x26x = matches!(enc.codec.as_str(), "libx264" | "libx265");
    let mut a = enc.stream_codec_args(k);
    let knows_levels = x26x || enc.kind != EncoderKind::Software;
    if let Some(level) = level_of(p).filter(|l| l.idc <= MAX_H264 && knows_levels) {
        a.extend(kv(k, "level", enc.level_value(level.idc)));
    }
    let rc = if x26x { rc } else { RateControl::Abr };
    match rc {
        RateControl::CappedCrf => {
            let crf = if enc.is_hevc() { X265_CRF } else { X264_CRF };
            a.extend(kv(k, "crf", crf));
        }
        RateControl::Abr => a.extend(kv(k, "b", p.video_bps)),
    }
    let (maxrate, bufsize) = vbv(p, rc);
    a.extend(kv(k, "maxrate", maxrate));
    a.extend(kv(k, "bufsize", bufsize));
    a.extend(kv(k, "g", p.gop));
    a.extend(kv(k, "keyint_min", p.gop));
    if enc.is_hevc() {
        a.extend(kv(k, "tag", "hvc1"));
        if enc.codec == "libx265" {
            let params = format!(
                "keyint={g}:min-keyint={g}:scenecut=0:open-gop=0:info=0:log-level=error",
                g = p.gop
            );
            a.extend(kv(k, "x265-params", params));
        }
    }
    a
}

/// Every video stream's arguments, in output order (`ordered[k]` is stream `k`), with the rate
/// control [`RateControl::for_encoder`] picks; then `-sc_threshold 0` (x264, and hardware
/// encoders that honour it).
pub fn video_args(encoder: &Encoder, ordered: &[&Profile]) -> Vec<String> {
    let rc = RateControl::for_encoder(encoder);
    let mut a: Vec<String> =
        ordered.iter().enumerate().flat_map(|(k, p)| stream_args(encoder, k, p, rc)).collect();
    a.extend(["-sc_threshold".to_owned(), "0".to_owned()]);
    a
}

#[cfg(test)]
#[path = "rate_tests.rs"]
mod tests;
