//! The filters a source's video needs before the scaling cascade (pure), and what every output
//! says of its colour.
//!
//! Every rendition, the poster and the sprite sheet are 8-bit SDR BT.709, limited range, square
//! pixels. To get there from what people upload, the decoded source goes, once, through:
//! 1. `bwdif` for an interlaced source, one frame per field (1080i50 → 50p), so the cascade never
//!    scales two fields blended into one picture;
//! 2. for HDR (PQ or HLG) a tone-map to SDR BT.709 in linear light (`zscale` + `tonemap`), with
//!    the source's colour given to `zscale` explicitly, so a stream whose frames carry
//!    incomplete tags is still read as what ffprobe said it is;
//! 3. for an SDR source in BT.601 (SD) or full range, a matrix/range conversion so the BT.709
//!    limited-range tags on the outputs are true.
//!
//! A video track that stops before its source's end (the audio runs on) is first held on its
//! last picture to the end (`tpad`), so players do not stall there and no audio is cut.
//!
//! The cascade's scale steps then make the display size the ladder chose and each sets
//! `setsar=1` ([`scale_step`]). Rotation is ffmpeg's autorotate, which runs before all of this.
//! Colour names reach a filter string only through the fixed tables below, never as ffprobe
//! wrote them.

use framelog_core::probe::{Colour, DynamicRange, VideoStream};

/// Deinterlacer: one output frame per field, field order from the stream, every frame.
pub const DEINTERLACE: &str = "bwdif=mode=send_field:parity=auto:deint=all";

/// Output colour options (they go before the HLS output): BT.709, limited range, so players do
/// not take 8-bit SDR for HLG or BT.2020.
pub const OUTPUT_COLOUR_ARGS: [&str; 8] = [
    "-color_primaries",
    "bt709",
    "-color_trc",
    "bt709",
    "-colorspace",
    "bt709",
    "-color_range",
    "tv",
];

/// A video track that ends more than this before its source is held on its last picture.
pub const PAD_AFTER_SECS: f64 = 0.1;

/// Nominal peak luminance (cd/m²) SDR white maps to in the tone-map.
const NOMINAL_PEAK: u32 = 100;

/// The filters for `video`, in order, before the cascade's first `split`/`fps`/`scale`. Empty
/// for a progressive SDR BT.709 (or untagged HD) limited-range source.
pub fn pre_filters(video: &VideoStream) -> Vec<String> {
    let mut chain = Vec::new();
    if video.ends_early_secs > PAD_AFTER_SECS {
        // The audio runs on: hold the last picture to the end, as a desktop player does, so
        // MSE players do not stop where the video track ends and no audio is cut.
        chain.push(format!("tpad=stop_mode=clone:stop_duration={:.3}", video.ends_early_secs));
    }
    if video.is_interlaced() {
        chain.push(DEINTERLACE.to_owned());
    }
    match video.dynamic_range() {
        DynamicRange::Pq => chain.extend(tone_map(&video.colour, "smpte2084")),
        DynamicRange::Hlg => chain.extend(tone_map(&video.colour, "arib-std-b67")),
        DynamicRange::Sdr => chain.extend(sdr_to_bt709(video)),
    }
    chain
}

/// [`pre_filters`] joined for a filter graph, with a trailing comma when not empty (so it can be
/// written in front of the next filter).
pub fn pre_chain(video: Option<&VideoStream>) -> String {
    let chain = video.map(pre_filters).unwrap_or_default();
    if chain.is_empty() { String::new() } else { format!("{},", chain.join(",")) }
}

/// One step of the cascade: scale to the size the ladder chose and make the pixels square.
pub fn scale_step(width: u32, height: u32) -> String {
    format!("scale={width}:{height},setsar=1")
}

/// HDR → SDR: to linear light (primaries converted there), Möbius curve, back to BT.709
/// limited-range 8-bit. Möbius is linear up to 30% of SDR white and only rolls off above it, so
/// the SDR-range bulk of phone HDR keeps its level (on testsrc2 graded at 100 cd/m², mean luma
/// 110 against 122 for the SDR original; Hable gives 84, the untouched HDR samples a flat 100
/// with a third of the saturation) at the same cost.
fn tone_map(colour: &Colour, transfer: &str) -> Vec<String> {
    let primaries = colour.primaries.as_deref().and_then(zscale_primaries).unwrap_or("2020");
    let matrix = colour.matrix.as_deref().and_then(zscale_matrix).unwrap_or("2020_ncl");
    let range = match colour.range.as_deref() {
        Some("pc") => "full",
        _ => "limited",
    };
    vec![
        format!(
            "zscale=tin={transfer}:pin={primaries}:min={matrix}:rin={range}:t=linear:\
             npl={NOMINAL_PEAK}:p=709"
        ),
        "format=gbrpf32le".to_owned(),
        "tonemap=tonemap=mobius:desat=0".to_owned(),
        "zscale=t=709:m=709:r=limited".to_owned(),
        "format=yuv420p".to_owned(),
    ]
}

/// The matrix and range conversion an SDR source needs for BT.709 limited-range tags to be
/// true: BT.601 (tagged, or untagged SD) → BT.709, full → limited. None for the rest.
fn sdr_to_bt709(video: &VideoStream) -> Option<String> {
    let bt601 = match video.colour.matrix.as_deref() {
        Some("smpte170m" | "bt470bg") => true,
        // Untagged: players and ffmpeg take SD for BT.601 and HD for BT.709.
        None | Some("unknown" | "unspecified") => video.width <= 1024 && video.height <= 576,
        Some(_) => false,
    };
    let full = video.colour.range.as_deref() == Some("pc")
        || video.pix_fmt.as_deref().is_some_and(|f| f.starts_with("yuvj"));
    let mut opts = Vec::new();
    if bt601 {
        opts.push("in_color_matrix=bt601:out_color_matrix=bt709");
    }
    if full {
        opts.push("in_range=full:out_range=limited");
    }
    (!opts.is_empty()).then(|| format!("scale={}", opts.join(":")))
}

/// zscale's name for an ffprobe `color_primaries` (the ones HDR sources use).
fn zscale_primaries(p: &str) -> Option<&'static str> {
    Some(match p {
        "bt2020" => "2020",
        "bt709" => "709",
        "smpte432" => "smpte432",
        "smpte431" => "smpte431",
        _ => return None,
    })
}

/// zscale's name for an ffprobe `color_space` (matrix).
fn zscale_matrix(m: &str) -> Option<&'static str> {
    Some(match m {
        "bt2020nc" => "2020_ncl",
        "bt2020c" => "2020_cl",
        "bt709" => "709",
        "smpte170m" => "170m",
        "bt470bg" => "470bg",
        _ => return None,
    })
}

#[cfg(test)]
#[path = "video_filters_tests.rs"]
mod tests;
