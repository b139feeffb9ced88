//! ffmpeg command lines (pure). One process decodes the source once and encodes a set of
//! renditions: the filter graph scales in a cascade (each rendition is scaled from the next
//! larger one, which is cheaper than scaling every rendition from the source), caps the frame
//! rate where a rung needs it, and writes fMP4 HLS through `-var_stream_map`. The process that
//! makes the lowest rendition also taps its frames for the sprite sheet and the source for the
//! poster, so neither needs another decode, and encodes the audio renditions that every video
//! rendition shares ([`crate::audio`]; video renditions carry no audio track).

use std::path::{Path, PathBuf};

use crate::audio::AudioPlan;
use crate::encoder::Encoder;
use crate::profile::{FrameRate, Profile};
use crate::source::Source;
use crate::storyboard::Storyboard;
use crate::video_filters::{OUTPUT_COLOUR_ARGS, pre_chain, scale_step};
use framelog_core::probe::VideoStream;

/// Name of every rendition's media playlist.
pub const MEDIA_PLAYLIST: &str = "playlist.m3u8";
/// Name of every rendition's fMP4 init segment.
pub const INIT_SEGMENT: &str = "init.mp4";
/// Directory (and `-var_stream_map` name) of the default audio rendition.
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
    pub input: &'a Source,
    /// Renditions to encode, in any order.
    pub profiles: &'a [Profile],
    /// Each rendition goes to `<out_dir>/<name>/`.
    pub out_dir: &'a Path,
    pub encoder: &'a Encoder,
    /// The audio renditions this process also encodes (each once, into `<out_dir>/<dir>/`).
    pub audio: Option<&'a AudioPlan>,
    pub segment_secs: u32,
    pub thumbnails: Option<&'a Thumbnails>,
    /// The source's video stream: what it needs before the cascade (deinterlace, tone-map,
    /// matrix), see [`crate::video_filters`]. None: taken as progressive SDR BT.709.
    pub video: Option<&'a VideoStream>,
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
    // Deinterlacing, tone-mapping and matrix conversion run once, before every tap.
    let mut node = format!("[0:v]{}", pre_chain(stage.video));
    if let Some(t) = stage.thumbnails {
        parts.push(format!("{node}split=2[src][pst]"));
        parts.push(format!(
            // Exactly one frame passes (the first at or after the mark): letting every later
            // frame through would colour-convert each of them for an output already closed.
            "[pst]select='isnan(prev_selected_t)*gte(t,{:.3})',{}[poster]",
            t.poster_at_secs,
            scale_step(t.poster_size.0, t.poster_size.1)
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
        filters.push(scale_step(p.width, p.height));
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
    if let Some(plan) = stage.audio {
        streams.extend(plan.var_stream_entries());
    }
    streams.join(" ")
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

/// The options every encoding ffmpeg of a job starts with: quiet but for its log, CPU time
/// (`-benchmark`), machine-readable progress on stdout twice a second.
pub fn preamble() -> Vec<String> {
    [
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
    .collect()
}

/// The whole argument list (without the program name).
pub fn stage_args(stage: &Stage<'_>) -> Vec<String> {
    let ordered = stage.ordered();
    let mut a = preamble();
    a.extend(stage.encoder.input_args());
    a.extend(stage.input.input_args());
    a.extend([s("-filter_complex"), filter_graph(stage)]);
    for k in 0..ordered.len() {
        a.extend([s("-map"), format!("[v{k}]")]);
    }
    if let Some(plan) = stage.audio {
        a.extend(plan.map_args());
    }
    a.extend(crate::rate::video_args(stage.encoder, &ordered));
    a.extend(OUTPUT_COLOUR_ARGS.map(s));
    if let Some(plan) = stage.audio {
        a.extend(plan.codec_args());
    }
    a.extend(hls_args(stage.out_dir, stage.segment_secs, &var_stream_map(stage)));
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

/// The fMP4 HLS output: every stream of `var_stream_map` to `<out>/<name>/playlist.m3u8`.
pub fn hls_args(out: &Path, segment_secs: u32, var_stream_map: &str) -> Vec<String> {
    let out = out.display();
    let mut a: Vec<String> = Vec::new();
    a.extend(
        [
            "-f",
            "hls",
            "-hls_time",
            &segment_secs.to_string(),
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
    a.extend([s("-var_stream_map"), s(var_stream_map)]);
    a.push(format!("{out}/%v/{MEDIA_PLAYLIST}"));
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

/// A poster from the first frame, for a video track that ends before the 25% mark (through the
/// same pre-filters as the ladder, see [`crate::video_filters`]).
pub fn poster_args(
    input: &Source,
    video: Option<&VideoStream>,
    size: (u32, u32),
    out: &Path,
) -> Vec<String> {
    let mut a: Vec<String> =
        ["-hide_banner", "-nostdin", "-nostats", "-benchmark", "-y"].map(s).to_vec();
    a.extend(input.input_args());
    a.extend([
        "-frames:v".into(),
        "1".into(),
        "-vf".into(),
        format!("{}{}", pre_chain(video), scale_step(size.0, size.1)),
    ]);
    a.extend([s("-q:v"), s(3), out.display().to_string()]);
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ladder::{LadderSource, select_profiles};

    fn probe(width: u32, height: u32, fps: f64) -> LadderSource {
        LadderSource { width, height, fps, nominal_fps: None }
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
        let track = crate::audio::Track {
            index: 1,
            channels: 1,
            language: None,
            language_name: None,
            title: None,
        };
        let audio = crate::audio::plan(&[track], 8.0).unwrap();
        let stage = Stage {
            input: &Source::File(PathBuf::from("/in.mp4")),
            profiles: &profiles,
            out_dir: Path::new("/o"),
            encoder: &enc,
            audio: Some(&audio),
            segment_secs: 6,
            thumbnails: None,
            video: None,
        };
        assert_eq!(
            filter_graph(&stage),
            "[0:v]fps=60/1,scale=1920:1080,setsar=1,split=2[r0][n1];[r0]format=yuv420p[v0];\
             [n1]scale=1280:720,setsar=1,split=2[r1][n2];[r1]format=yuv420p[v1];\
             [n2]fps=30/1,scale=854:480,setsar=1,split=2[r2][n3];[r2]format=yuv420p[v2];\
             [n3]scale=640:360,setsar=1,split=2[r3][n4];[r3]format=yuv420p[v3];\
             [n4]scale=480:270,setsar=1[r4];[r4]format=yuv420p[v4]"
        );
        assert_eq!(
            var_stream_map(&stage),
            "v:0,name:1080p v:1,name:720p v:2,name:480p v:3,name:360p v:4,name:270p a:0,name:audio"
        );
        let args = stage_args(&stage).join(" ");
        assert!(args.contains("-level:v:0 4.2 -crf:v:0 23 -maxrate:v:0 7800000 -bufsize:v:0 11700000 -g:v:0 120 -keyint_min:v:0 120"), "{args}");
        assert!(args.contains("-g:v:4 60"));
        assert!(args.contains("-sc_threshold 0"));
        assert!(
            args.contains(
                "-color_primaries bt709 -color_trc bt709 -colorspace bt709 -color_range tv"
            )
        );
        assert!(args.contains("-c:a aac -ac:a:0 2 -ar:a:0 48000 -b:a:0 128000"), "{args}");
        assert!(args.contains("-filter:a:0 apad=whole_dur=8.000,atrim=end=8.000"), "{args}");
        assert_eq!(args.matches("-map 0:1").count(), 1, "audio is encoded once");
        assert!(args.contains("-hls_segment_type fmp4"));
        assert!(args.ends_with("/o/%v/playlist.m3u8"));
        assert!(args.contains(
            "-protocol_whitelist file,pipe -format_whitelist mov,matroska,webm,flv,live_flv,mpegts"
        ));
        assert!(args.contains("-i file:/in.mp4 -filter_complex"));
    }

    #[test]
    fn every_input_of_user_media_is_fenced() {
        let poster =
            poster_args(&Source::File("/s/source".into()), None, (64, 36), Path::new("/o/p.jpg"));
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
            input: &Source::File(PathBuf::from("/in.mp4")),
            profiles: &profiles[..1],
            out_dir: Path::new("/o"),
            encoder: &enc,
            audio: None,
            segment_secs: 6,
            thumbnails: Some(&t),
            video: None,
        };
        assert_eq!(
            filter_graph(&stage),
            "[0:v]split=2[src][pst];\
             [pst]select='isnan(prev_selected_t)*gte(t,2.000)',scale=1920:1080,setsar=1[poster];\
             [src]fps=30/1,scale=480:270,setsar=1,split=2[r0][thumbs];[r0]format=yuv420p[v0];\
             [thumbs]fps=25/2,scale=160:90,tile=10x10[sprites]"
        );
        assert_eq!(var_stream_map(&stage), "v:0,name:270p");
        let args = stage_args(&stage);
        assert!(!args.iter().any(|a| a.starts_with("0:") || a == "-c:a"));
        let tail = args[args.len() - 20..].join(" ");
        assert!(tail.contains("-map [sprites] -update 0 -start_number 0 -q:v 4 /o/sprites_%d.jpg"));
        assert!(tail.ends_with("-map [poster] -frames:v 1 -update 1 -q:v 3 /o/poster.jpg"));
    }
}
