//! ffmpeg command lines (pure). One process decodes the source once and encodes a set of
//! renditions: the filter graph scales in a cascade (each rendition is scaled from the next
//! larger one, which is cheaper than scaling every rendition from the source), caps the frame
//! rate where a rung needs it, and writes fMP4 HLS through `-var_stream_map`. The process that
//! makes the lowest rendition also taps its frames for the sprite sheet and the source for the
//! poster, so neither needs another decode, and encodes the one audio rendition that every
//! video rendition shares (video renditions carry no audio track).

use std::path::{Path, PathBuf};

use crate::encoder::Encoder;
use crate::profile::{AUDIO_BPS, FrameRate, Profile};
use crate::storyboard::Storyboard;

/// Name of every rendition's media playlist.
pub const MEDIA_PLAYLIST: &str = "playlist.m3u8";
/// Name of every rendition's fMP4 init segment.
pub const INIT_SEGMENT: &str = "init.mp4";
/// Directory (and `-var_stream_map` name) of the audio rendition.
pub const AUDIO_RENDITION: &str = "audio";

/// Poster and storyboard sheets, made by the process that makes the lowest rendition.
#[derive(Debug, Clone, PartialEq)]
pub struct Thumbnails {
    /// How many thumbnails, on what sheets: `board.count` frames sampled evenly over the
    /// duration, ffmpeg writing one image per full sheet and the last, partial one at the end.
    pub board: Storyboard,
    /// When the poster frame is taken (25% of the duration).
    pub poster_at_secs: f64,
    /// Poster size (the largest rendition's, fitted into 1080p).
    pub poster_size: (u32, u32),
    /// The directory of the sheets (`sprites_0.jpg`, `sprites_1.jpg`...).
    pub sprites_dir: PathBuf,
    pub poster: PathBuf,
}

impl Thumbnails {
    /// The path of every sheet, in order.
    pub fn sheets(&self) -> Vec<PathBuf> {
        (0..self.board.sheets()).map(|k| self.sprites_dir.join(Storyboard::sheet_name(k))).collect()
    }

    /// How many sheets ffmpeg wrote (the first ones; fewer than planned when the video track
    /// ends before the container does).
    pub fn sheets_written(&self) -> u32 {
        self.sheets().iter().take_while(|p| p.exists()).count() as u32
    }
}

/// One ffmpeg process: which renditions, from what, to where.
#[derive(Debug, Clone)]
pub struct Stage<'a> {
    pub input: &'a Path,
    /// Renditions to encode, in any order.
    pub profiles: &'a [Profile],
    /// Each rendition goes to `<out_dir>/<name>/`.
    pub out_dir: &'a Path,
    pub encoder: &'a Encoder,
    /// Whether this process also encodes the audio rendition (the source's first audio track,
    /// once, into `<out_dir>/audio/`).
    pub audio: bool,
    pub segment_secs: u32,
    pub thumbnails: Option<&'a Thumbnails>,
}

impl Stage<'_> {
    /// The renditions largest first: the order of the cascade and of the output streams.
    pub fn ordered(&self) -> Vec<&Profile> {
        let mut v: Vec<&Profile> = self.profiles.iter().collect();
        v.sort_by_key(|p| std::cmp::Reverse(u64::from(p.width) * u64::from(p.height)));
        v
    }
}

/// The `-filter_complex` graph. Output labels: `[v0]`, `[v1]`... in [`Stage::ordered`] order,
/// `[sprites]` and `[poster]` with thumbnails.
pub fn filter_graph(stage: &Stage<'_>) -> String {
    let ordered = stage.ordered();
    let mut parts = Vec::new();
    let mut node = "[0:v]".to_owned();
    if let Some(t) = stage.thumbnails {
        parts.push("[0:v]split=2[src][pst]".to_owned());
        parts.push(format!(
            // Exactly one frame passes (the first at or after the mark): letting every later
            // frame through would colour-convert each of them for an output already closed.
            "[pst]select='isnan(prev_selected_t)*gte(t,{:.3})',scale={}:{}[poster]",
            t.poster_at_secs, t.poster_size.0, t.poster_size.1
        ));
        node = "[src]".to_owned();
    }
    let mut prev_fps: Option<FrameRate> = None;
    for (k, p) in ordered.iter().enumerate() {
        let last = k + 1 == ordered.len();
        let mut filters = Vec::new();
        if prev_fps != Some(p.fps) {
            filters.push(format!("fps={}", p.fps));
            prev_fps = Some(p.fps);
        }
        filters.push(format!("scale={}:{}", p.width, p.height));
        let mut taps = vec![format!("[r{k}]")];
        if !last {
            taps.push(format!("[n{}]", k + 1));
        }
        if last && stage.thumbnails.is_some() {
            taps.push("[thumbs]".to_owned());
        }
        let chain = filters.join(",");
        if taps.len() == 1 {
            parts.push(format!("{node}{chain}{}", taps[0]));
        } else {
            parts.push(format!("{node}{chain},split={}{}", taps.len(), taps.concat()));
        }
        parts.push(format!("[r{k}]{}[v{k}]", stage.encoder.filter_tail()));
        node = format!("[n{}]", k + 1);
    }
    if let Some(t) = stage.thumbnails {
        let g = &t.board.grid;
        parts.push(format!(
            "[thumbs]fps={},scale={}:{},tile={}x{}[sprites]",
            t.board.rate(),
            g.thumb_width,
            g.thumb_height,
            g.cols,
            g.rows
        ));
    }
    parts.join(";")
}

/// The `-var_stream_map` value: `v:0,name:720p v:1,name:480p a:0,name:audio`.
pub fn var_stream_map(stage: &Stage<'_>) -> String {
    let mut streams: Vec<String> =
        stage.ordered().iter().enumerate().map(|(i, p)| format!("v:{i},name:{}", p.name)).collect();
    if stage.audio {
        streams.push(format!("a:0,name:{AUDIO_RENDITION}"));
    }
    streams.join(" ")
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

/// The whole argument list (without the program name).
pub fn stage_args(stage: &Stage<'_>) -> Vec<String> {
    let ordered = stage.ordered();
    let mut a: Vec<String> = [
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-loglevel",
        "info",
        "-benchmark",
        "-y",
        "-progress",
        "pipe:1",
        "-stats_period",
        "0.5",
    ]
    .into_iter()
    .map(s)
    .collect();
    a.extend(stage.encoder.input_args());
    a.extend(input_args(stage.input));
    a.extend([s("-filter_complex"), filter_graph(stage)]);
    for k in 0..ordered.len() {
        a.extend([s("-map"), format!("[v{k}]")]);
    }
    if stage.audio {
        a.extend([s("-map"), s("0:a:0")]);
    }
    a.extend(stage.encoder.codec_args());
    for (k, p) in ordered.iter().enumerate() {
        a.extend([format!("-b:v:{k}"), s(p.video_bps)]);
        a.extend([format!("-maxrate:v:{k}"), s(p.maxrate_bps())]);
        a.extend([format!("-bufsize:v:{k}"), s(p.bufsize_bps())]);
        a.extend([format!("-g:v:{k}"), s(p.gop), format!("-keyint_min:v:{k}"), s(p.gop)]);
    }
    a.extend([s("-sc_threshold"), s(0)]);
    if stage.audio {
        a.extend(["-c:a", "aac", "-ac", "2", "-b:a"].map(s));
        a.push(s(AUDIO_BPS));
    }
    let out = stage.out_dir.display();
    a.extend(
        [
            "-f",
            "hls",
            "-hls_time",
            &stage.segment_secs.to_string(),
            "-hls_playlist_type",
            "vod",
            "-hls_flags",
            "independent_segments",
            "-hls_segment_type",
            "fmp4",
            "-hls_fmp4_init_filename",
            INIT_SEGMENT,
        ]
        .map(s),
    );
    a.extend([s("-hls_segment_filename"), format!("{out}/%v/seg_%05d.m4s")]);
    a.extend([s("-var_stream_map"), var_stream_map(stage)]);
    a.push(format!("{out}/%v/{MEDIA_PLAYLIST}"));
    if let Some(t) = stage.thumbnails {
        // One image per sheet (`%d` from 0); the tile filter flushes the partial last sheet.
        let sheets = t.sprites_dir.join("sprites_%d.jpg").display().to_string();
        a.extend(["-map", "[sprites]", "-update", "0", "-start_number", "0"].map(s));
        a.extend([s("-q:v"), s(4), sheets]);
        a.extend(["-map", "[poster]", "-frames:v", "1", "-update", "1", "-q:v", "3"].map(s));
        a.push(t.poster.display().to_string());
    }
    a
}

/// `-i <source>` behind the input fence: only the `file`/`pipe` protocols (for every nested
/// open too) and only upload container demuxers, so a source that is really a playlist, an
/// ffconcat list or an image sequence cannot make ffmpeg read other files or URLs.
pub fn input_args(input: &Path) -> Vec<String> {
    let mut a: Vec<String> = framelog_core::probe::input_fence_args().map(s).to_vec();
    a.extend([s("-i"), framelog_core::probe::input_url(input)]);
    a
}

/// A poster from the first frame, for a video track that ends before the 25% mark.
pub fn poster_args(input: &Path, size: (u32, u32), out: &Path) -> Vec<String> {
    let mut a: Vec<String> =
        ["-hide_banner", "-nostdin", "-nostats", "-benchmark", "-y"].map(s).to_vec();
    a.extend(input_args(input));
    a.extend([
        "-frames:v".into(),
        "1".into(),
        "-vf".into(),
        format!("scale={}:{}", size.0, size.1),
    ]);
    a.extend([s("-q:v"), s(3), out.display().to_string()]);
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::select_profiles;
    use framelog_events::Probe;

    fn probe(w: u32, h: u32, fps: f64) -> Probe {
        Probe {
            duration_secs: 8.0,
            width: w,
            height: h,
            rotation: 0,
            fps,
            video_codec: "h264".into(),
            audio_codec: None,
            format: "mp4".into(),
            bit_rate: None,
        }
    }

    fn thumbs() -> Thumbnails {
        Thumbnails {
            board: Storyboard::plan(8.0, 640, 360, 0.08),
            poster_at_secs: 2.0,
            poster_size: (1920, 1080),
            sprites_dir: "/o".into(),
            poster: "/o/poster.jpg".into(),
        }
    }

    #[test]
    fn the_ladder_is_scaled_in_a_cascade_with_the_frame_rate_capped_once() {
        let profiles = select_profiles(&probe(1920, 1080, 60.0));
        let enc = Encoder::libx264("veryfast");
        let stage = Stage {
            input: Path::new("/in.mp4"),
            profiles: &profiles,
            out_dir: Path::new("/o"),
            encoder: &enc,
            audio: true,
            segment_secs: 6,
            thumbnails: None,
        };
        assert_eq!(
            filter_graph(&stage),
            "[0:v]fps=60/1,scale=1920:1080,split=2[r0][n1];[r0]format=yuv420p[v0];\
             [n1]fps=30/1,scale=1280:720,split=2[r1][n2];[r1]format=yuv420p[v1];\
             [n2]scale=854:480,split=2[r2][n3];[r2]format=yuv420p[v2];\
             [n3]scale=640:360[r3];[r3]format=yuv420p[v3]"
        );
        assert_eq!(
            var_stream_map(&stage),
            "v:0,name:1080p v:1,name:720p v:2,name:480p v:3,name:360p a:0,name:audio"
        );
        let args = stage_args(&stage).join(" ");
        assert!(args.contains("-b:v:0 6000000 -maxrate:v:0 6420000 -bufsize:v:0 9000000 -g:v:0 120 -keyint_min:v:0 120"));
        assert!(args.contains("-g:v:3 60"));
        assert!(args.contains("-sc_threshold 0"));
        assert!(args.contains("-c:a aac -ac 2 -b:a 128000"));
        assert_eq!(args.matches("-map 0:a:0").count(), 1, "audio is encoded once");
        assert!(args.contains("-hls_segment_type fmp4"));
        assert!(args.ends_with("/o/%v/playlist.m3u8"));
        assert!(args.contains(
            "-protocol_whitelist file,pipe -format_whitelist mov,matroska,webm,flv,live_flv,mpegts"
        ));
        assert!(args.contains("-i file:/in.mp4 -filter_complex"));
    }

    #[test]
    fn every_input_of_user_media_is_fenced() {
        let poster = poster_args(Path::new("/s/source"), (64, 36), Path::new("/o/p.jpg"));
        let i = poster.iter().position(|a| a == "-i").unwrap();
        assert_eq!(poster[i + 1], "file:/s/source");
        assert_eq!(
            poster[i - 4..i],
            [
                "-protocol_whitelist",
                "file,pipe",
                "-format_whitelist",
                framelog_core::probe::ALLOWED_DEMUXERS
            ]
        );
    }

    #[test]
    fn the_lowest_rendition_stage_taps_thumbnails_and_a_silent_source_maps_no_audio() {
        let profiles = select_profiles(&probe(1280, 720, 30.0));
        let enc = Encoder::libx264("veryfast");
        let t = thumbs();
        let stage = Stage {
            input: Path::new("/in.mp4"),
            profiles: &profiles[..1],
            out_dir: Path::new("/o"),
            encoder: &enc,
            audio: false,
            segment_secs: 6,
            thumbnails: Some(&t),
        };
        assert_eq!(
            filter_graph(&stage),
            "[0:v]split=2[src][pst];\
             [pst]select='isnan(prev_selected_t)*gte(t,2.000)',scale=1920:1080[poster];\
             [src]fps=30/1,scale=640:360,split=2[r0][thumbs];[r0]format=yuv420p[v0];\
             [thumbs]fps=25/2,scale=160:90,tile=10x10[sprites]"
        );
        assert_eq!(var_stream_map(&stage), "v:0,name:360p");
        let args = stage_args(&stage);
        assert!(!args.iter().any(|a| a == "0:a:0" || a == "-c:a"));
        let tail = args[args.len() - 20..].join(" ");
        assert!(tail.contains("-map [sprites] -update 0 -start_number 0 -q:v 4 /o/sprites_%d.jpg"));
        assert!(tail.ends_with("-map [poster] -frames:v 1 -update 1 -q:v 3 /o/poster.jpg"));
    }
}
