//! Instant playback by stream copy: a source whose H.264 video every browser decodes as it is
//! is packaged into fMP4 HLS without re-encoding (one ffmpeg process, IO bound: well under a
//! second per minute of source), published as the version's first master before any encode.
//!
//! [`eligibility`] decides from the probe alone (pure); [`package_args`] is the command line
//! (pure); [`package`] runs it and measures the result, or says `None` when the source's
//! keyframes are too sparse to cut it into short segments (the caller then encodes as usual).
//!
//! What is copied and why:
//! - H.264 Constrained Baseline, Main or High, 8-bit 4:2:0, SDR, progressive, not rotated,
//!   square pixels, at most 60 fps, and at most what H.264 level 5.1 allows (36 864
//!   macroblocks a frame, e.g. 4096x2304; 983 040 macroblocks a second, e.g. 2160p30): what
//!   every browser's H.264 decoder (hardware ones included) plays. Plain Baseline and
//!   Extended (which may use FMO/ASO or data partitioning), High 10/4:2:2/4:4:4, HDR,
//!   interlaced, rotated (MSE players ignore the display matrix) and anamorphic sources (no
//!   player stretches by the pixel aspect in HLS) are refused: they wait for the encode.
//! - A stream whose field order is unknown is taken as progressive (most MP4 writers do not
//!   say); interlaced H.264 (PAFF/MBAFF) is flagged `tt`/`bb` by ffprobe.
//! - AAC audio (the first in play order) is copied, whatever its profile: LC, HE-AAC and
//!   HE-AAC v2 play in every browser. The probe does not say the AAC profile, so the packaged
//!   init's `esds` is read: its audio object type gives `CODECS` (`mp4a.40.2`, `.5`, `.29`),
//!   and any other object type (AAC Main, LTP: not decoded by MSE players) is packaged again
//!   with the audio encoded. Other audio is encoded once to AAC-LC 48 kHz stereo 128 kb/s.

use std::path::Path;

use framelog_core::probe::{DynamicRange, Inspection, VideoStream};
use tokio_util::sync::CancellationToken;
use tracing::instrument;

use crate::audio::{STEREO_GROUP, Track};
use crate::codecs;
use crate::command::MEDIA_PLAYLIST;
use crate::error::JobError;
use crate::ffmpeg::{self, FfmpegError, Priority};
use crate::playlist::{
    AudioMedia, Variant, average_bandwidth, parse_media_playlist, peak_bandwidth,
};
use crate::source::Source;

/// Directory of the passthrough rendition (and the `-var_stream_map` name).
pub const SOURCE_RENDITION: &str = "source";
/// Directory of the passthrough audio rendition.
pub const SOURCE_AUDIO: &str = "source-audio";
/// Most seconds between keyframes a passthrough may have (segments at most this long).
pub const MAX_KEYFRAME_GAP_SECS: f64 = 10.0;
/// Bit rate of encoded audio (a source whose audio is not AAC).
pub const ENCODED_AUDIO_BPS: u32 = 128_000;
/// Largest frame H.264 level 5.1 allows, in 16x16 macroblocks (4096x2304).
pub const MAX_FRAME_MBS: u64 = 36_864;
/// Largest macroblock rate H.264 level 5.1 allows (2160p30 fits, 2160p60 does not).
pub const MAX_MBS_PER_SEC: f64 = 983_040.0;
/// Highest frame rate copied.
pub const MAX_FPS: f64 = 60.0;
/// H.264 profiles (as ffprobe names them) copied.
pub const PROFILES: [&str; 3] = ["Constrained Baseline", "Main", "High"];
/// AAC audio object types copied (LC, HE-AAC, HE-AAC v2): every MSE player decodes them.
pub(crate) const PLAYABLE_AAC: [u8; 3] = [2, 5, 29];

/// What happens to the audio of a passthrough.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioHandling {
    /// Source audio stream index (absolute), AAC: copied.
    Copy(u32),
    /// Source audio stream index (absolute), not AAC: encoded once to AAC-LC 48 kHz stereo.
    Encode(u32),
    /// No audio.
    None,
}

/// Whether a source can be packaged by stream copy.
#[derive(Debug, Clone, PartialEq)]
pub enum Eligibility {
    /// The video can be copied as it is.
    Eligible {
        /// What to do with the audio.
        audio: AudioHandling,
    },
    /// Why not, for the log.
    NotEligible(String),
}

/// Pure: whether the probed source's video plays as it is in every browser (see the module
/// doc for the rules), and what to do with its audio. A refusal says every rule the source
/// breaks, joined by `; `.
pub fn eligibility(inspection: &Inspection) -> Eligibility {
    let Some(video) = &inspection.video else {
        return Eligibility::NotEligible("no video stream".into());
    };
    let refusals = video_refusals(video);
    if !refusals.is_empty() {
        return Eligibility::NotEligible(refusals.join("; "));
    }
    let audio = match inspection.audio_in_play_order().first() {
        Some(a) if a.codec == "aac" => AudioHandling::Copy(a.index),
        Some(a) => AudioHandling::Encode(a.index),
        None => AudioHandling::None,
    };
    Eligibility::Eligible { audio }
}

/// Every reason `v` cannot be copied (empty: it can), so the log says all of them.
fn video_refusals(v: &VideoStream) -> Vec<String> {
    let mut why = Vec::new();
    if v.codec != "h264" {
        why.push(format!("video codec {} is not H.264", v.codec));
    } else {
        match v.profile.as_deref() {
            Some(p) if PROFILES.contains(&p) => {}
            Some(p) => why.push(format!("H.264 profile {p} is not Constrained Baseline/Main/High")),
            None => why.push("the H.264 profile is unknown".into()),
        }
    }
    let pix = v.pix_fmt.as_deref().unwrap_or("unknown");
    if !matches!(pix, "yuv420p" | "yuvj420p") || v.bit_depth != 8 {
        why.push(format!("pixel format {pix} ({} bit) is not 8-bit 4:2:0", v.bit_depth));
    }
    match v.dynamic_range() {
        DynamicRange::Sdr => {}
        DynamicRange::Hlg => why.push("HDR (HLG) needs a tone-map".into()),
        DynamicRange::Pq => why.push("HDR (PQ) needs a tone-map".into()),
    }
    if v.is_interlaced() {
        why.push("interlaced video needs deinterlacing".into());
    }
    if v.rotation != 0 {
        why.push(format!("rotated by {} degrees (players ignore the display matrix)", v.rotation));
    }
    if v.sar != (1, 1) {
        why.push(format!("anamorphic (pixel aspect {}:{})", v.sar.0, v.sar.1));
    }
    if v.avg_fps > MAX_FPS + 0.01 {
        why.push(format!("{:.2} fps is over {MAX_FPS}", v.avg_fps));
    }
    let mbs = u64::from(v.width.div_ceil(16)) * u64::from(v.height.div_ceil(16));
    if mbs > MAX_FRAME_MBS || v.width > 4096 || v.height > 4096 {
        why.push(format!("{}x{} is over H.264 level 5.1's frame size", v.width, v.height));
    } else if mbs as f64 * v.avg_fps > MAX_MBS_PER_SEC {
        let (w, h, fps) = (v.width, v.height, v.avg_fps);
        why.push(format!("{w}x{h} at {fps:.2} fps is over H.264 level 5.1's macroblock rate"));
    }
    why
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

/// Pure: one ffmpeg process packaging `input`'s first video stream (not cover art) by stream
/// copy, and its audio as `audio` says, into fMP4 HLS: `<out>/source/playlist.m3u8` (and
/// `<out>/source-audio/playlist.m3u8`), init `init_<k>.mp4`, segments `seg_%05d.m4s`.
///
/// Timestamps: without `-copyts` ffmpeg moves the source's start to 0 (an MPEG-TS starting at
/// 11.4 s plays from 0) and shifts every stream by the same amount, so B-frames' negative
/// decode times become an edit list in the init and audio stays in sync. ffmpeg's MP4 muxer
/// turns Annex B (MPEG-TS) H.264 into length-prefixed samples itself; ADTS AAC needs
/// `aac_adtstoasc` (which passes MP4's raw AAC through unchanged). `-tag:v avc1`: parameter
/// sets in the init, as every HLS player expects. Metadata and chapters are dropped (a phone
/// video's location is not published).
pub fn package_args(
    input: &Source,
    audio: &AudioHandling,
    out: &Path,
    segment_secs: u32,
) -> Vec<String> {
    let mut a: Vec<String> =
        ["-hide_banner", "-nostdin", "-nostats", "-benchmark", "-y"].map(s).to_vec();
    a.extend(input.input_args());
    a.extend(["-map", "0:V:0"].map(s));
    let audio_index = match audio {
        AudioHandling::Copy(i) | AudioHandling::Encode(i) => Some(*i),
        AudioHandling::None => None,
    };
    if let Some(i) = audio_index {
        a.extend([s("-map"), format!("0:{i}")]);
    }
    a.extend(
        ["-map_metadata", "-1", "-map_chapters", "-1", "-c:v", "copy", "-tag:v", "avc1"].map(s),
    );
    match audio {
        AudioHandling::Copy(_) => a.extend(["-c:a", "copy", "-bsf:a", "aac_adtstoasc"].map(s)),
        AudioHandling::Encode(_) => {
            a.extend(["-c:a", "aac", "-ac", "2", "-ar", "48000"].map(s));
            a.extend([s("-b:a"), s(ENCODED_AUDIO_BPS)]);
        }
        AudioHandling::None => {}
    }
    // A stream copy reads as fast as the disk: a stream whose first packet comes late must not
    // overflow the muxing queue.
    a.extend(["-max_muxing_queue_size", "4096"].map(s));
    let dir = out.display();
    a.extend(["-f", "hls", "-hls_segment_type", "fmp4", "-hls_time"].map(s));
    a.push(s(segment_secs));
    a.extend(["-hls_playlist_type", "vod", "-hls_flags", "independent_segments"].map(s));
    a.extend(["-hls_fmp4_init_filename", "init.mp4", "-hls_segment_filename"].map(s));
    a.push(format!("{dir}/%v/seg_%05d.m4s"));
    let map = match audio_index {
        Some(_) => format!("v:0,name:{SOURCE_RENDITION} a:0,name:{SOURCE_AUDIO}"),
        None => format!("v:0,name:{SOURCE_RENDITION}"),
    };
    a.extend([s("-var_stream_map"), map]);
    a.push(format!("{dir}/%v/{MEDIA_PLAYLIST}"));
    a
}

/// A packaged source: what the master names.
#[derive(Debug, Clone, PartialEq)]
pub struct Packaged {
    /// The video, uri `source/playlist.m3u8`.
    pub variant: Variant,
    /// The audio, uri `source-audio/playlist.m3u8`, group `audio`; None without audio.
    pub audio: Option<AudioMedia>,
    /// CPU seconds of the ffmpeg run(s).
    pub cpu_secs: f64,
    /// The longest video segment (the widest keyframe gap the segmenter met).
    pub longest_segment_secs: f64,
}

/// Figures of one packaged directory.
pub(crate) struct Measured {
    pub(crate) bandwidth: u64,
    pub(crate) average_bandwidth: u64,
    pub(crate) longest_secs: f64,
    pub(crate) init: Vec<u8>,
}

async fn measure_dir(dir: &Path) -> Result<Measured, JobError> {
    let path = dir.join(MEDIA_PLAYLIST);
    let text = tokio::fs::read_to_string(&path).await.map_err(|e| JobError::output(&path, e))?;
    let playlist = parse_media_playlist(&text).map_err(|e| JobError::output(&path, e))?;
    if playlist.segments.is_empty() {
        return Err(JobError::output(&path, "no segments"));
    }
    let mut sizes = Vec::with_capacity(playlist.segments.len());
    for seg in &playlist.segments {
        let p = dir.join(&seg.uri);
        let len = tokio::fs::metadata(&p).await.map_err(|e| JobError::output(&p, e))?.len();
        sizes.push((seg.duration, len));
    }
    let init_name = playlist
        .init
        .as_deref()
        .ok_or_else(|| JobError::output(&path, "no EXT-X-MAP: not an fMP4 playlist"))?;
    let init_path = dir.join(init_name);
    let init = tokio::fs::read(&init_path).await.map_err(|e| JobError::output(&init_path, e))?;
    Ok(Measured {
        bandwidth: peak_bandwidth(&sizes, f64::from(playlist.target_duration.max(1))),
        average_bandwidth: average_bandwidth(&sizes),
        longest_secs: sizes.iter().map(|(d, _)| *d).fold(0.0, f64::max),
        init,
    })
}

/// The AAC audio object type in an init segment's `esds` (first 5 bits of the
/// AudioSpecificConfig, the DecoderSpecificInfo descriptor, tag 5): 2 LC, 5 HE, 29 HE v2.
pub fn aac_object_type(init: &[u8]) -> Option<u8> {
    let at = init.windows(4).position(|w| w == b"esds")?;
    // Box type, then version and flags; descriptors follow (tag, 1-4 length bytes, body).
    let body = init.get(at + 8..)?;
    let mut i = 0;
    while i < body.len() {
        let tag = body[i];
        i += 1;
        // The length: up to 4 bytes of 7 bits, high bit = more.
        let mut len = 0usize;
        for _ in 0..4 {
            let b = *body.get(i)?;
            i += 1;
            len = (len << 7) | usize::from(b & 0x7f);
            if b & 0x80 == 0 {
                break;
            }
        }
        match tag {
            // ES_Descriptor: ES_ID (2), flags (1), and the optional fields the flags say.
            3 => {
                let flags = *body.get(i + 2)?;
                i += 3;
                if flags & 0x80 != 0 {
                    i += 2;
                }
                if flags & 0x40 != 0 {
                    i += 1 + usize::from(*body.get(i)?);
                }
                if flags & 0x20 != 0 {
                    i += 2;
                }
            }
            // DecoderConfigDescriptor: 13 bytes of fixed fields, then DecoderSpecificInfo.
            4 => i += 13,
            5 => {
                let aot = body.get(i)? >> 3;
                // 31: escape to 32 + the next 6 bits.
                return if aot == 31 {
                    let next = u16::from_be_bytes([*body.get(i)?, *body.get(i + 1)?]);
                    Some(32 + ((next >> 5) & 0x3f) as u8)
                } else {
                    Some(aot)
                };
            }
            _ => i += len,
        }
    }
    None
}

pub(crate) fn variant(m: &Measured, video: &VideoStream) -> Result<Variant, JobError> {
    let codecs = codecs::video_codecs(&m.init)
        .map_err(|e| JobError::output(Path::new(SOURCE_RENDITION), e))?;
    let (width, height) = video.display_size();
    Ok(Variant {
        uri: format!("{SOURCE_RENDITION}/{MEDIA_PLAYLIST}"),
        bandwidth: m.bandwidth,
        average_bandwidth: m.average_bandwidth,
        width,
        height,
        codecs,
        frame_rate: (video.avg_fps * 1000.0).round() / 1000.0,
    })
}

/// Runs [`package_args`] into `out` (`out/source/`, `out/source-audio/`) and measures it.
/// `Ok(None)` (logged) when a segment is longer than [`MAX_KEYFRAME_GAP_SECS`]: keyframes too
/// sparse for short segments without re-encoding; the caller falls back to the encode.
#[instrument(skip_all, fields(source = ?source), err)]
pub async fn package(
    ffmpeg: &Path,
    inspection: &Inspection,
    source: &Source,
    out: &Path,
    segment_secs: u32,
    audio: &AudioHandling,
    cancel: &CancellationToken,
) -> Result<Option<Packaged>, JobError> {
    let Some(video) = &inspection.video else {
        return Err(JobError::output(
            Path::new(SOURCE_RENDITION),
            "a passthrough needs a video stream",
        ));
    };
    let mut audio = audio.clone();
    let mut cpu_secs = 0.0;
    loop {
        let args = package_args(source, &audio, out, segment_secs);
        let stats = match ffmpeg::run(ffmpeg, &args, Priority::Normal, cancel, &mut |_| {}).await {
            Ok(stats) => stats,
            Err(FfmpegError::Cancelled) => return Err(JobError::Cancelled),
            Err(e) => return Err(e.into()),
        };
        cpu_secs += stats.cpu_secs;
        let m = measure_dir(&out.join(SOURCE_RENDITION)).await?;
        if m.longest_secs > MAX_KEYFRAME_GAP_SECS {
            tracing::info!(
                longest_segment_secs = m.longest_secs,
                max = MAX_KEYFRAME_GAP_SECS,
                "keyframes too sparse for a passthrough"
            );
            return Ok(None);
        }
        let media = match &audio {
            AudioHandling::None => None,
            AudioHandling::Copy(i) | AudioHandling::Encode(i) => {
                let a = measure_dir(&out.join(SOURCE_AUDIO)).await?;
                let aot = if matches!(audio, AudioHandling::Copy(_)) {
                    aac_object_type(&a.init).unwrap_or(2)
                } else {
                    2
                };
                if !PLAYABLE_AAC.contains(&aot) {
                    tracing::info!(
                        object_type = aot,
                        "AAC profile not played by browsers: encoding it"
                    );
                    audio = AudioHandling::Encode(*i);
                    continue;
                }
                Some(audio_media(inspection, *i, &audio, &a, aot)?)
            }
        };
        let variant = variant(&m, video)?;
        tracing::info!(wall_secs = stats.wall.as_secs_f64(), longest = m.longest_secs, "packaged");
        return Ok(Some(Packaged {
            variant,
            audio: media,
            cpu_secs,
            longest_segment_secs: m.longest_secs,
        }));
    }
}

pub(crate) fn audio_media(
    inspection: &Inspection,
    index: u32,
    audio: &AudioHandling,
    m: &Measured,
    aot: u8,
) -> Result<AudioMedia, JobError> {
    codecs::audio_codecs(&m.init).map_err(|e| JobError::output(Path::new(SOURCE_AUDIO), e))?;
    let stream = inspection.audio.iter().find(|a| a.index == index);
    let track = stream.map(Track::from_stream);
    let channels = match (audio, stream) {
        (AudioHandling::Copy(_), Some(s)) if s.channels > 0 => s.channels,
        _ => 2,
    };
    let name = track
        .as_ref()
        .and_then(|t| t.language_name.clone().or_else(|| t.title.clone()))
        .unwrap_or_else(|| "Track 1".into())
        .replace('"', "'");
    Ok(AudioMedia {
        uri: format!("{SOURCE_AUDIO}/{MEDIA_PLAYLIST}"),
        group: STEREO_GROUP.to_owned(),
        name,
        language: track.and_then(|t| t.language),
        channels,
        bandwidth: m.bandwidth,
        average_bandwidth: m.average_bandwidth,
        codecs: format!("mp4a.40.{aot}"),
    })
}

#[cfg(test)]
#[path = "passthrough_tests.rs"]
mod tests;
