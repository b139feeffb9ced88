//! ffprobe: what a media file is. The parser is pure (unit-tested on captured JSON); [`probe`]
//! runs the real binary.

use std::path::Path;
use std::time::Duration;

use framelog_events::Probe;
use serde::Deserialize;

/// Why a file is not a usable video.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProbeError {
    /// The file is empty.
    #[error("the file is empty")]
    Empty,
    /// ffprobe could not read it (not a media file, truncated, unknown container).
    #[error("not a readable media file: {0}")]
    Unreadable(String),
    /// A media file without any video stream (audio only, subtitles...).
    #[error("the file has no video stream")]
    NoVideo,
    /// A video stream without usable dimensions or duration.
    #[error("the video stream is unusable: {0}")]
    Unusable(String),
    /// ffprobe itself failed to run.
    #[error("ffprobe failed to run: {0}")]
    Tool(String),
}

impl ProbeError {
    /// A stable code for API errors and `rejected` events.
    pub fn code(&self) -> &'static str {
        match self {
            ProbeError::Empty => "empty_file",
            ProbeError::Unreadable(_) => "not_a_video",
            ProbeError::NoVideo => "no_video_stream",
            ProbeError::Unusable(_) => "unusable_video",
            ProbeError::Tool(_) => "probe_failed",
        }
    }

    /// Whether the input itself is at fault (as opposed to the tool).
    pub fn is_input_error(&self) -> bool {
        !matches!(self, ProbeError::Tool(_))
    }
}

#[derive(Deserialize)]
struct FfprobeOutput {
    #[serde(default)]
    streams: Vec<FfStream>,
    format: Option<FfFormat>,
}

#[derive(Deserialize)]
struct FfStream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    duration: Option<String>,
    #[serde(default)]
    tags: std::collections::HashMap<String, String>,
    #[serde(default)]
    side_data_list: Vec<serde_json::Value>,
    #[serde(default)]
    disposition: std::collections::HashMap<String, i64>,
}

#[derive(Deserialize)]
struct FfFormat {
    format_name: Option<String>,
    duration: Option<String>,
    bit_rate: Option<String>,
}

fn parse_rate(s: &str) -> Option<f64> {
    let (n, d) = s.split_once('/').unwrap_or((s, "1"));
    let (n, d) = (n.parse::<f64>().ok()?, d.parse::<f64>().ok()?);
    (d > 0.0 && n > 0.0).then(|| n / d).filter(|r| r.is_finite())
}

/// Normalises a rotation in degrees to 0, 90, 180 or 270.
pub fn normalise_rotation(deg: f64) -> i32 {
    let r = ((deg.round() as i64 % 360) + 360) % 360;
    // Snap to the nearest quarter turn.
    (((r + 45) / 90 * 90) % 360) as i32
}

/// Parses `ffprobe -print_format json -show_format -show_streams` output.
pub fn parse_ffprobe(json: &[u8]) -> Result<Probe, ProbeError> {
    let out: FfprobeOutput =
        serde_json::from_slice(json).map_err(|e| ProbeError::Unreadable(e.to_string()))?;
    let format = out.format.ok_or_else(|| ProbeError::Unreadable("no container format".into()))?;
    let video = out
        .streams
        .iter()
        .filter(|s| s.codec_type.as_deref() == Some("video"))
        // Cover art is a one-frame "video" stream: skip it.
        .find(|s| s.disposition.get("attached_pic").copied().unwrap_or(0) == 0)
        .ok_or(ProbeError::NoVideo)?;
    let audio = out.streams.iter().find(|s| s.codec_type.as_deref() == Some("audio"));
    let (width, height) = match (video.width, video.height) {
        (Some(w), Some(h)) if w > 0 && h > 0 => (w, h),
        _ => return Err(ProbeError::Unusable("no width/height".into())),
    };
    let fps = video
        .avg_frame_rate
        .as_deref()
        .and_then(parse_rate)
        .or_else(|| video.r_frame_rate.as_deref().and_then(parse_rate))
        .filter(|f| *f <= 1000.0)
        .ok_or_else(|| ProbeError::Unusable("no frame rate".into()))?;
    let duration_secs = format
        .duration
        .as_deref()
        .or(video.duration.as_deref())
        .and_then(|d| d.parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d > 0.0)
        .ok_or_else(|| ProbeError::Unusable("no duration".into()))?;
    let rotation = video
        .side_data_list
        .iter()
        .find_map(|sd| sd.get("rotation").and_then(|r| r.as_f64()))
        .or_else(|| video.tags.get("rotate").and_then(|r| r.parse::<f64>().ok()))
        .map(normalise_rotation)
        .unwrap_or(0);
    Ok(Probe {
        duration_secs,
        width,
        height,
        rotation,
        fps,
        video_codec: video.codec_name.clone().unwrap_or_else(|| "unknown".into()),
        audio_codec: audio.and_then(|a| a.codec_name.clone()),
        format: format.format_name.unwrap_or_else(|| "unknown".into()),
        bit_rate: format.bit_rate.and_then(|b| b.parse().ok()),
    })
}

/// Display size after rotation (width, height).
pub fn display_size(p: &Probe) -> (u32, u32) {
    if p.rotation % 180 == 90 { (p.height, p.width) } else { (p.width, p.height) }
}

/// Runs ffprobe on `path` (at most `timeout`).
pub async fn probe(path: &Path, timeout: Duration) -> Result<Probe, ProbeError> {
    let len = tokio::fs::metadata(path).await.map_err(|e| ProbeError::Tool(e.to_string()))?.len();
    if len == 0 {
        return Err(ProbeError::Empty);
    }
    let mut cmd = tokio::process::Command::new("ffprobe");
    cmd.args(["-v", "error", "-print_format", "json", "-show_format", "-show_streams"])
        .arg(path)
        .kill_on_drop(true);
    let out = tokio::time::timeout(timeout, cmd.output())
        .await
        .map_err(|_| ProbeError::Tool(format!("ffprobe timed out after {timeout:?}")))?
        .map_err(|e| ProbeError::Tool(format!("cannot run ffprobe: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().last().unwrap_or("unknown error").trim();
        return Err(ProbeError::Unreadable(first.chars().take(300).collect()));
    }
    parse_ffprobe(&out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORTRAIT: &str = r#"{"streams":[{"codec_type":"video","codec_name":"h264","width":1280,"height":720,
      "avg_frame_rate":"30000/1001","side_data_list":[{"side_data_type":"Display Matrix","rotation":-90}]},
      {"codec_type":"audio","codec_name":"aac"}],
      "format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"4.004000","bit_rate":"812345"}}"#;

    #[test]
    fn a_rotated_phone_video_is_parsed_with_its_rotation() {
        let p = parse_ffprobe(PORTRAIT.as_bytes()).unwrap();
        assert_eq!((p.width, p.height, p.rotation), (1280, 720, 270));
        assert!((p.fps - 29.97).abs() < 0.01);
        assert_eq!(p.audio_codec.as_deref(), Some("aac"));
        assert_eq!(p.bit_rate, Some(812345));
        assert_eq!(display_size(&p), (720, 1280));
    }

    #[test]
    fn audio_only_and_cover_art_only_files_have_no_video() {
        let audio = r#"{"streams":[{"codec_type":"audio","codec_name":"mp3"},
          {"codec_type":"video","codec_name":"mjpeg","width":500,"height":500,"avg_frame_rate":"0/0",
           "disposition":{"attached_pic":1}}],"format":{"format_name":"mp3","duration":"3.0"}}"#;
        assert_eq!(parse_ffprobe(audio.as_bytes()), Err(ProbeError::NoVideo));
    }

    #[test]
    fn a_stream_without_duration_or_rate_is_unusable() {
        let j = r#"{"streams":[{"codec_type":"video","codec_name":"h264","width":2,"height":2,
          "avg_frame_rate":"0/0","r_frame_rate":"0/0"}],"format":{"format_name":"x","duration":"1"}}"#;
        assert!(matches!(parse_ffprobe(j.as_bytes()), Err(ProbeError::Unusable(_))));
        let j = r#"{"streams":[{"codec_type":"video","codec_name":"h264","width":2,"height":2,
          "avg_frame_rate":"25/1"}],"format":{"format_name":"x"}}"#;
        assert!(matches!(parse_ffprobe(j.as_bytes()), Err(ProbeError::Unusable(_))));
    }

    #[test]
    fn rotations_snap_to_quarter_turns() {
        assert_eq!(normalise_rotation(-90.0), 270);
        assert_eq!(normalise_rotation(90.0), 90);
        assert_eq!(normalise_rotation(180.0), 180);
        assert_eq!(normalise_rotation(-180.0), 180);
        assert_eq!(normalise_rotation(360.0), 0);
        assert_eq!(normalise_rotation(89.6), 90);
    }
}
