//! ffprobe: what a media file is. The parser is pure (unit-tested on captured JSON); [`probe`]
//! runs the real binary.
//!
//! Every ffprobe and ffmpeg run on user media opens its input behind [`input_fence_args`]: only
//! the `file` (and `pipe`) protocols and only the container demuxers users upload. A playlist
//! (HLS), an ffconcat list, an image sequence or any other format that opens further files or
//! URLs is refused before it reads anything; the protocol list also binds every nested open.

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

/// Protocols an input may be opened with: the file itself (and a pipe, for tools that stream).
pub const ALLOWED_PROTOCOLS: &str = "file,pipe";

/// Demuxers users' uploads need: the MP4/QuickTime family (`mov,mp4,m4a,3gp,3g2,mj2`),
/// Matroska/WebM, FLV, MPEG-TS and MPEG-PS, AVI, MXF, Ogg, ASF/WMV, DV, IVF, raw H.264/HEVC
/// elementary streams, and audio containers (refused later as having no video, but probed
/// cleanly). Absent on purpose: `hls`, `dash`, `concat`, `image2` (sequences), `tee`, `lavfi`,
/// `sdp`/`rtsp`, and every other format that opens more files or URLs.
pub const ALLOWED_DEMUXERS: &str = "mov,matroska,webm,flv,live_flv,mpegts,mpeg,avi,mxf,ogg,\
asf,dv,ivf,h264,hevc,m4v,wav,w64,mp3,aac,flac";

/// Input options that fence an ffmpeg or ffprobe input (put them before its `-i`).
pub fn input_fence_args() -> [&'static str; 4] {
    ["-protocol_whitelist", ALLOWED_PROTOCOLS, "-format_whitelist", ALLOWED_DEMUXERS]
}

/// A local path as an input URL: `file:` so a name such as `concat:a|b` or `subfile,,...` is
/// never taken for a protocol.
pub fn input_url(path: &Path) -> String {
    format!("file:{}", path.display())
}

/// What ffprobe says of a file: the video facts and how many streams the container has.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    pub probe: Probe,
    /// Every stream of the container (video, audio, subtitles, data, attachments).
    pub streams: u32,
}

/// Parses `ffprobe -print_format json -show_format -show_streams` output.
pub fn parse_ffprobe(json: &[u8]) -> Result<Probe, ProbeError> {
    parse_inspection(json).map(|i| i.probe)
}

/// [`parse_ffprobe`] with the stream count.
pub fn parse_inspection(json: &[u8]) -> Result<Inspection, ProbeError> {
    let out: FfprobeOutput =
        serde_json::from_slice(json).map_err(|e| ProbeError::Unreadable(e.to_string()))?;
    let streams = u32::try_from(out.streams.len()).unwrap_or(u32::MAX);
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
    let probe = Probe {
        duration_secs,
        width,
        height,
        rotation,
        fps,
        video_codec: video.codec_name.clone().unwrap_or_else(|| "unknown".into()),
        audio_codec: audio.and_then(|a| a.codec_name.clone()),
        format: format.format_name.unwrap_or_else(|| "unknown".into()),
        bit_rate: format.bit_rate.and_then(|b| b.parse().ok()),
    };
    Ok(Inspection { probe, streams })
}

/// Display size after rotation (width, height).
pub fn display_size(p: &Probe) -> (u32, u32) {
    if p.rotation % 180 == 90 { (p.height, p.width) } else { (p.width, p.height) }
}

/// Why ffprobe refused a file, for the uploader: the fence's refusal said plainly, and never
/// the server's own path.
fn unreadable_reason(stderr: &str, path: &Path) -> String {
    if stderr.contains("not on whitelist") {
        return "the container is not an accepted video format (playlists, concat lists, image \
                sequences and other inputs that open further files are refused)"
            .into();
    }
    let last = stderr.lines().last().unwrap_or("unknown error").trim();
    let last =
        last.replace(&input_url(path), "the file").replace(&path.display().to_string(), "the file");
    last.chars().take(300).collect()
}

/// Runs ffprobe on `path` (at most `timeout`).
pub async fn probe(path: &Path, timeout: Duration) -> Result<Probe, ProbeError> {
    inspect(path, timeout).await.map(|i| i.probe)
}

/// Runs ffprobe on `path` (at most `timeout`, behind [`input_fence_args`]).
pub async fn inspect(path: &Path, timeout: Duration) -> Result<Inspection, ProbeError> {
    let len = tokio::fs::metadata(path).await.map_err(|e| ProbeError::Tool(e.to_string()))?.len();
    if len == 0 {
        return Err(ProbeError::Empty);
    }
    let mut cmd = tokio::process::Command::new("ffprobe");
    cmd.args(["-v", "error", "-print_format", "json", "-show_format", "-show_streams"])
        .args(input_fence_args())
        .arg(input_url(path))
        .kill_on_drop(true);
    let out = tokio::time::timeout(timeout, cmd.output())
        .await
        .map_err(|_| ProbeError::Tool(format!("ffprobe timed out after {timeout:?}")))?
        .map_err(|e| ProbeError::Tool(format!("cannot run ffprobe: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(ProbeError::Unreadable(unreadable_reason(&err, path)));
    }
    parse_inspection(&out.stdout)
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
        assert_eq!(parse_inspection(PORTRAIT.as_bytes()).unwrap().streams, 2);
    }

    #[test]
    fn refusals_name_the_fence_and_never_the_servers_path() {
        let p = Path::new("/srv/data/uploads/up_1.part");
        let fenced = "[hls @ 0x1] Format not on whitelist 'mov,...'\nfile:/srv/data/uploads/up_1.part: Invalid argument";
        let r = unreadable_reason(fenced, p);
        assert!(r.contains("playlists") && !r.contains("/srv"), "{r}");
        let junk = "file:/srv/data/uploads/up_1.part: Invalid data found when processing input";
        assert_eq!(
            unreadable_reason(junk, p),
            "the file: Invalid data found when processing input"
        );
    }

    #[test]
    fn the_input_fence_allows_upload_containers_and_nothing_that_opens_other_files() {
        let demuxers: Vec<&str> = ALLOWED_DEMUXERS.split(',').collect();
        for ok in ["mov", "matroska", "webm", "flv", "mpegts", "avi", "mxf", "ogg", "mp3"] {
            assert!(demuxers.contains(&ok), "{ok}");
        }
        for bad in ["hls", "applehttp", "dash", "concat", "image2", "tee", "lavfi", "sdp", "rtsp"] {
            assert!(!demuxers.contains(&bad), "{bad}");
        }
        assert!(demuxers.iter().all(|d| !d.is_empty() && !d.contains(char::is_whitespace)));
        assert_eq!(input_fence_args()[1], "file,pipe");
        assert_eq!(input_url(Path::new("/m/concat:x|y")), "file:/m/concat:x|y");
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
