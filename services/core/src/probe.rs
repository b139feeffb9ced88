//! ffprobe: what a media file is. The parser is pure (unit-tested on captured JSON); [`probe`]
//! runs the real binary.
//!
//! Every ffprobe and ffmpeg run on user media opens its input behind [`input_fence_args`]: only
//! the `file` (and `pipe`) protocols and only the container demuxers users upload. A playlist
//! (HLS), an ffconcat list, an image sequence or any other format that opens further files or
//! URLs is refused before it reads anything; the protocol list also binds every nested open.
//! A source in an S3 store is read over its presigned URL ([`inspect_url`], [`url_fence_args`]):
//! the network protocols are allowed for that one input, the demuxer list stays the same.

use std::path::Path;
use std::time::Duration;

use framelog_events::Probe;
use serde::Deserialize;

mod streams;
mod url;

use streams::FfStream;
pub use streams::{
    AudioStream, Colour, DynamicRange, FieldOrder, SubtitleStream, VideoStream, language_name,
    language_tag,
};
pub use url::{URL_PROTOCOLS, inspect_url, url_fence_args};

/// Why a file is not a usable video.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProbeError {
    /// The file is empty.
    #[error("the file is empty")]
    Empty,
    /// ffprobe could not read it (not a media file, truncated, unknown container).
    #[error("not a readable media file: {0}")]
    Unreadable(String),
    /// A media file with neither a video nor an audio stream (subtitles, cover art only...).
    #[error("the file has no video or audio stream")]
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

/// Where a source's duration was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationFrom {
    /// The container's header.
    Container,
    /// The video (or audio) stream's header.
    Stream,
    /// The end of the last packet, found by reading every packet: a file written to a pipe (a
    /// browser's MediaRecorder WebM) has no duration in its header.
    Packets,
}

/// What ffprobe says of a file: the summary events carry, and every stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    /// The summary (`VID_UPLOAD completed`, transcode requests). An audio-only source has width
    /// and height 0, fps 0 and video codec `none`.
    pub probe: Probe,
    /// Every stream of the container (video, audio, subtitles, data, attachments).
    pub streams: u32,
    /// The video stream (cover art skipped); `None` for an audio-only source.
    pub video: Option<VideoStream>,
    /// Audio streams in container order.
    pub audio: Vec<AudioStream>,
    /// Subtitle streams in container order.
    pub subtitles: Vec<SubtitleStream>,
    /// Where `probe.duration_secs` came from.
    pub duration_from: DurationFrom,
}

impl Inspection {
    /// Audio streams in play order: the one flagged default first, then the others in
    /// container order.
    pub fn audio_in_play_order(&self) -> Vec<&AudioStream> {
        let mut v: Vec<&AudioStream> = self.audio.iter().collect();
        // A stable sort keeps container order among equals.
        v.sort_by_key(|a| !a.default);
        v
    }

    /// Whether the source has audio and no video (a podcast, music).
    pub fn is_audio_only(&self) -> bool {
        self.video.is_none() && !self.audio.is_empty()
    }
}

/// Why a source whose headers and packets give no duration is unusable.
const NO_DURATION: &str = "no duration";

/// The video codec name an audio-only source's [`Probe`] carries.
pub const NO_VIDEO_CODEC: &str = "none";

/// Parses `ffprobe -print_format json -show_format -show_streams` output.
pub fn parse_ffprobe(json: &[u8]) -> Result<Probe, ProbeError> {
    parse_inspection(json).map(|i| i.probe)
}

/// [`parse_ffprobe`] with every stream.
pub fn parse_inspection(json: &[u8]) -> Result<Inspection, ProbeError> {
    parse_with_duration(json, None)
}

/// [`parse_inspection`], with `packets_end` as the duration when neither the container nor
/// the streams give one.
fn parse_with_duration(json: &[u8], packets_end: Option<f64>) -> Result<Inspection, ProbeError> {
    let out: FfprobeOutput =
        serde_json::from_slice(json).map_err(|e| ProbeError::Unreadable(e.to_string()))?;
    let streams = u32::try_from(out.streams.len()).unwrap_or(u32::MAX);
    let format = out.format.ok_or_else(|| ProbeError::Unreadable("no container format".into()))?;
    let video = out
        .streams
        .iter()
        .filter(|s| s.kind() == Some("video"))
        // Cover art is a one-frame "video" stream: skip it.
        .find(|s| !s.flag("attached_pic"));
    let audio: Vec<AudioStream> =
        out.streams.iter().filter(|s| s.kind() == Some("audio")).map(FfStream::audio).collect();
    let subtitles =
        out.streams.iter().filter(|s| s.kind() == Some("subtitle")).map(FfStream::subtitle);
    if video.is_none() && audio.is_empty() {
        return Err(ProbeError::NoVideo);
    }
    let secs = |d: Option<&str>| {
        d.and_then(|d| d.parse::<f64>().ok()).filter(|d| d.is_finite() && *d > 0.0)
    };
    let stream_duration = video
        .and_then(|v| secs(v.duration.as_deref()))
        .or_else(|| audio.iter().find_map(|a| a.duration_secs));
    let (duration_secs, duration_from) = match (secs(format.duration.as_deref()), stream_duration) {
        (Some(d), _) => (d, DurationFrom::Container),
        (None, Some(d)) => (d, DurationFrom::Stream),
        (None, None) => match packets_end.filter(|d| d.is_finite() && *d > 0.0) {
            Some(d) => (d, DurationFrom::Packets),
            None => return Err(ProbeError::Unusable(NO_DURATION.into())),
        },
    };
    let video = match video {
        Some(v) => {
            let mut stream = video_stream(v)?;
            // A video track that stops before the source does (its audio runs on).
            let early = v.own_duration().map_or(0.0, |d| duration_secs - d);
            stream.ends_early_secs = if early.is_finite() { early.max(0.0) } else { 0.0 };
            Some(stream)
        }
        None => None,
    };
    let probe = match &video {
        Some(v) => Probe {
            duration_secs,
            width: v.width,
            height: v.height,
            rotation: v.rotation,
            fps: v.avg_fps,
            video_codec: v.codec.clone(),
            audio_codec: audio.first().map(|a| a.codec.clone()),
            format: format.format_name.clone().unwrap_or_else(|| "unknown".into()),
            bit_rate: format.bit_rate.as_deref().and_then(|b| b.parse().ok()),
        },
        None => Probe {
            duration_secs,
            width: 0,
            height: 0,
            rotation: 0,
            fps: 0.0,
            video_codec: NO_VIDEO_CODEC.into(),
            audio_codec: audio.first().map(|a| a.codec.clone()),
            format: format.format_name.clone().unwrap_or_else(|| "unknown".into()),
            bit_rate: format.bit_rate.as_deref().and_then(|b| b.parse().ok()),
        },
    };
    Ok(Inspection { probe, streams, video, audio, subtitles: subtitles.collect(), duration_from })
}

/// The video stream's facts, or why it is unusable.
fn video_stream(video: &FfStream) -> Result<VideoStream, ProbeError> {
    match (video.width, video.height) {
        (Some(w), Some(h)) if w > 0 && h > 0 => {}
        _ => return Err(ProbeError::Unusable("no width/height".into())),
    }
    let r_fps = video.r_frame_rate.as_deref().and_then(parse_rate).filter(|f| *f <= 1000.0);
    let fps = video
        .avg_frame_rate
        .as_deref()
        .and_then(parse_rate)
        .filter(|f| *f <= 1000.0)
        .or(r_fps)
        .ok_or_else(|| ProbeError::Unusable("no frame rate".into()))?;
    let rotation = video
        .side_data_list
        .iter()
        .find_map(|sd| sd.get("rotation").and_then(|r| r.as_f64()))
        .or_else(|| video.tags.get("rotate").and_then(|r| r.parse::<f64>().ok()))
        .map(normalise_rotation)
        .unwrap_or(0);
    Ok(video.video(rotation, fps, r_fps))
}

/// Display size after rotation (width, height).
pub fn display_size(p: &Probe) -> (u32, u32) {
    if p.rotation % 180 == 90 { (p.height, p.width) } else { (p.width, p.height) }
}

/// What the uploader is told when the fence refused the input.
const FENCE_REFUSED: &str = "the container is not an accepted video format (playlists, concat \
lists, image sequences and other inputs that open further files are refused)";

/// Why ffprobe refused a file, for the uploader: the fence's refusal said plainly, and never
/// the server's own path.
fn unreadable_reason(stderr: &str, path: &Path) -> String {
    if stderr.contains("not on whitelist") {
        return FENCE_REFUSED.into();
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
    let input = Input {
        url: input_url(path),
        fence: input_fence_args(),
        failure: &|stderr| ProbeError::Unreadable(unreadable_reason(stderr, path)),
    };
    inspect_input(&input, timeout).await
}

/// One ffprobe input: its URL, the fence before it, and how a failure is told to the user
/// (without the server's paths or a URL's signature).
struct Input<'a> {
    url: String,
    fence: [&'a str; 4],
    failure: &'a (dyn Fn(&str) -> ProbeError + Sync),
}

/// Runs ffprobe on `input` (at most `timeout`).
async fn inspect_input(input: &Input<'_>, timeout: Duration) -> Result<Inspection, ProbeError> {
    let mut cmd = tokio::process::Command::new("ffprobe");
    cmd.args(["-v", "error", "-print_format", "json", "-show_format", "-show_streams"])
        .args(input.fence)
        .arg(&input.url)
        .kill_on_drop(true);
    let out = tokio::time::timeout(timeout, cmd.output())
        .await
        .map_err(|_| ProbeError::Tool(format!("ffprobe timed out after {timeout:?}")))?
        .map_err(|e| ProbeError::Tool(format!("cannot run ffprobe: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err((input.failure)(&err));
    }
    match parse_inspection(&out.stdout) {
        // Written to a pipe (a browser's MediaRecorder): read the packets for the duration.
        Err(ProbeError::Unusable(why)) if why == NO_DURATION => {
            let end = packets_end(input, timeout).await?;
            parse_with_duration(&out.stdout, end)
        }
        other => other,
    }
}

/// The end of the last packet of any stream (`pts + duration`), by reading every packet.
async fn packets_end(input: &Input<'_>, timeout: Duration) -> Result<Option<f64>, ProbeError> {
    let mut cmd = tokio::process::Command::new("ffprobe");
    cmd.args(["-v", "error", "-show_entries", "packet=pts_time,duration_time", "-of", "csv=p=0"])
        .args(input.fence)
        .arg(&input.url)
        .kill_on_drop(true);
    let out = tokio::time::timeout(timeout, cmd.output())
        .await
        .map_err(|_| {
            ProbeError::Tool(format!("ffprobe (packet scan) timed out after {timeout:?}"))
        })?
        .map_err(|e| ProbeError::Tool(format!("cannot run ffprobe: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err((input.failure)(&err));
    }
    Ok(last_packet_end(&String::from_utf8_lossy(&out.stdout)))
}

/// The latest `pts + duration` of `pts_time,duration_time` lines (`N/A` fields skipped).
fn last_packet_end(csv: &str) -> Option<f64> {
    csv.lines()
        .filter_map(|line| {
            let mut f = line.split(',').map(|v| v.trim().parse::<f64>().ok());
            let pts = f.next().flatten()?;
            Some(pts + f.next().flatten().unwrap_or(0.0))
        })
        .filter(|e| e.is_finite())
        .fold(None, |m: Option<f64>, e| Some(m.map_or(e, |m| m.max(e))))
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
    fn an_audio_only_file_is_audio_with_no_video_and_cover_art_is_not_video() {
        let audio = r#"{"streams":[{"index":0,"codec_type":"audio","codec_name":"mp3","channels":2,
          "sample_rate":"44100","tags":{"language":"eng"}},
          {"index":1,"codec_type":"video","codec_name":"mjpeg","width":500,"height":500,"avg_frame_rate":"0/0",
           "disposition":{"attached_pic":1}}],"format":{"format_name":"mp3","duration":"3.0"}}"#;
        let i = parse_inspection(audio.as_bytes()).unwrap();
        assert!(i.is_audio_only() && i.video.is_none());
        assert_eq!((i.probe.width, i.probe.height, i.probe.video_codec.as_str()), (0, 0, "none"));
        assert_eq!(i.probe.audio_codec.as_deref(), Some("mp3"));
        assert_eq!((i.audio[0].sample_rate, i.audio[0].language.as_deref()), (44100, Some("eng")));
        let art_only = r#"{"streams":[{"codec_type":"video","codec_name":"mjpeg","width":5,"height":5,
          "disposition":{"attached_pic":1}},{"codec_type":"subtitle","codec_name":"mov_text"}],
          "format":{"format_name":"mov","duration":"3.0"}}"#;
        assert_eq!(parse_ffprobe(art_only.as_bytes()), Err(ProbeError::NoVideo));
    }

    const HLG_TWO_LANGUAGES: &str = r#"{"streams":[
      {"index":0,"codec_type":"video","codec_name":"hevc","profile":"Main 10","width":1920,"height":1080,
       "pix_fmt":"yuv420p10le","color_range":"tv","color_space":"bt2020nc","color_transfer":"arib-std-b67",
       "color_primaries":"bt2020","field_order":"progressive","sample_aspect_ratio":"1:1",
       "avg_frame_rate":"15000/499","r_frame_rate":"30/1"},
      {"index":1,"codec_type":"audio","codec_name":"aac","channels":2,"channel_layout":"stereo",
       "sample_rate":"48000","tags":{"language":"eng"},"disposition":{"default":0}},
      {"index":2,"codec_type":"audio","codec_name":"ac3","channels":6,"channel_layout":"5.1(side)",
       "sample_rate":"48000","tags":{"LANGUAGE":"fre","title":"VF"},"disposition":{"default":1}},
      {"index":3,"codec_type":"subtitle","codec_name":"subrip","tags":{"language":"und"},
       "disposition":{"default":0,"forced":1}}],
      "format":{"format_name":"matroska,webm","duration":"2.0"}}"#;

    #[test]
    fn colour_fields_and_every_audio_stream_are_read() {
        let i = parse_inspection(HLG_TWO_LANGUAGES.as_bytes()).unwrap();
        let v = i.video.as_ref().unwrap();
        assert_eq!((v.index, v.bit_depth, v.dynamic_range()), (0, 10, DynamicRange::Hlg));
        assert_eq!(v.colour.primaries.as_deref(), Some("bt2020"));
        assert_eq!(v.colour.matrix.as_deref(), Some("bt2020nc"));
        assert_eq!(
            (v.field_order, v.sar, v.display_size()),
            (FieldOrder::Progressive, (1, 1), (1920, 1080))
        );
        assert!((v.avg_fps - 30.06).abs() < 0.01 && v.r_fps == Some(30.0));
        assert_eq!(i.audio.len(), 2);
        let order: Vec<u32> = i.audio_in_play_order().iter().map(|a| a.index).collect();
        assert_eq!(order, [2, 1], "the default-flagged track first");
        let fr = &i.audio[1];
        assert_eq!(
            (fr.channels, fr.language.as_deref(), fr.title.as_deref()),
            (6, Some("fre"), Some("VF"))
        );
        assert_eq!(
            i.probe.audio_codec.as_deref(),
            Some("aac"),
            "the summary names the first track"
        );
        assert_eq!(i.subtitles.len(), 1);
        assert!(i.subtitles[0].forced && i.subtitles[0].language.is_none(), "und is no language");
        assert_eq!(i.duration_from, DurationFrom::Container);
        assert_eq!(v.ends_early_secs, 0.0, "a stream without its own duration is not short");
    }

    #[test]
    fn a_video_track_that_stops_before_the_source_says_by_how_much() {
        let j = r#"{"streams":[{"codec_type":"video","codec_name":"h264","width":320,"height":180,
          "avg_frame_rate":"10/1","duration":"3.000000"},
          {"codec_type":"audio","codec_name":"aac","duration":"30.000000"}],
          "format":{"format_name":"mov","duration":"30.000000"}}"#;
        let v = parse_inspection(j.as_bytes()).unwrap().video.unwrap();
        assert!((v.ends_early_secs - 27.0).abs() < 1e-9, "{}", v.ends_early_secs);
    }

    #[test]
    fn interlaced_anamorphic_broadcast_is_read_as_such() {
        let j = r#"{"streams":[{"index":0,"codec_type":"video","codec_name":"mpeg2video","width":1440,
          "height":1080,"field_order":"tt","sample_aspect_ratio":"4:3","avg_frame_rate":"25/1",
          "pix_fmt":"yuv420p","color_transfer":"unknown"}],"format":{"format_name":"mpegts","duration":"2.0"}}"#;
        let v = parse_inspection(j.as_bytes()).unwrap().video.unwrap();
        assert!(v.is_interlaced());
        assert_eq!((v.sar, v.display_size(), v.bit_depth), ((4, 3), (1920, 1080), 8));
        assert_eq!((v.colour.transfer.as_deref(), v.dynamic_range()), (None, DynamicRange::Sdr));
    }

    #[test]
    fn a_duration_missing_from_the_headers_comes_from_the_streams_or_the_packets() {
        let webm = r#"{"streams":[{"codec_type":"video","codec_name":"vp8","width":320,"height":240,
          "avg_frame_rate":"30/1"},{"codec_type":"audio","codec_name":"opus","duration":"1.98"}],
          "format":{"format_name":"matroska,webm"}}"#;
        let i = parse_inspection(webm.as_bytes()).unwrap();
        assert_eq!((i.probe.duration_secs, i.duration_from), (1.98, DurationFrom::Stream));
        let piped = webm.replace(r#","duration":"1.98""#, "");
        assert_eq!(
            parse_inspection(piped.as_bytes()),
            Err(ProbeError::Unusable("no duration".into()))
        );
        let i = parse_with_duration(piped.as_bytes(), Some(2.033)).unwrap();
        assert_eq!((i.probe.duration_secs, i.duration_from), (2.033, DurationFrom::Packets));
        assert_eq!(
            last_packet_end("0.000000,0.033000\n1.967000,0.033000\nN/A,N/A\n1.950000,N/A\n"),
            Some(2.0)
        );
        assert_eq!(last_packet_end(""), None);
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
