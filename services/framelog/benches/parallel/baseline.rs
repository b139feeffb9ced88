//! The two baselines the chunked ladder is compared with, run on the same source in the bench
//! process (pinned to one core like a worker): today's single-process ladder (one ffmpeg running
//! `command::stage_args` for every rung with the poster and sprite taps and the audio) and the
//! seed's (one ffmpeg per profile, then poster and sprites from the source), as in
//! `benches/ladder.rs` of the transcoder.

use std::path::{Path, PathBuf};
use std::time::Duration;

use framelog_transcoder::Encoder;
use framelog_transcoder::command::{Stage, Thumbnails, stage_args};
use framelog_transcoder::ffmpeg::{self, Priority, RunStats};
use framelog_transcoder::ladder::{LadderSource, select_profiles};
use framelog_transcoder::source::Source;
use framelog_transcoder::storyboard::{SpriteGrid, Storyboard, poster_size, tile_interval};
use tokio_util::sync::CancellationToken;

/// Wall and CPU seconds of one baseline.
pub struct Cost {
    pub wall: f64,
    pub cpu: f64,
}

async fn ffmpeg_run(args: Vec<String>) -> RunStats {
    let cancel = CancellationToken::new();
    ffmpeg::run(Path::new("ffmpeg"), &args, Priority::Normal, &cancel, &mut |_| {})
        .await
        .expect("ffmpeg run")
}

fn strs(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// A fresh output directory under `dir` named `name`.
fn fresh(dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(name);
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    out
}

/// Today's single-process ladder: one ffmpeg, one decode, every rung, the audio rendition and
/// the poster and sprite taps (what a job runs with early playable off).
pub async fn single_process(source: &Path, dir: &Path) -> Cost {
    let out = fresh(dir, "single");
    let inspection = framelog_core::probe::inspect(source, Duration::from_secs(30)).await.unwrap();
    let audio = framelog_transcoder::audio::plan_for(&inspection);
    let profiles = select_profiles(&LadderSource::from_inspection(&inspection));
    let (lowest, top) = (&profiles[0], &profiles[profiles.len() - 1]);
    let d = inspection.probe.duration_secs;
    let thumbs = Thumbnails {
        board: Storyboard::plan(d, lowest.width, lowest.height, tile_interval(d)),
        poster_at_secs: d * 0.25,
        poster_size: poster_size(top.width, top.height),
        sprites_dir: out.clone(),
        poster: out.join("poster.jpg"),
    };
    let encoder = Encoder::libx264("veryfast");
    let stage = Stage {
        input: &Source::File(source.to_owned()),
        profiles: &profiles,
        out_dir: &out,
        encoder: &encoder,
        audio: audio.as_ref(),
        segment_secs: 6,
        thumbnails: Some(&thumbs),
        video: inspection.video.as_ref(),
    };
    let s = ffmpeg_run(stage_args(&stage)).await;
    let _ = std::fs::remove_dir_all(&out);
    Cost { wall: s.wall.as_secs_f64(), cpu: s.cpu_secs }
}

/// The seed: every profile in its own process, then the poster and the sprite sheet from the
/// source.
pub async fn seed(source: &Path, dir: &Path) -> Cost {
    let out = fresh(dir, "seed");
    let inspection = framelog_core::probe::inspect(source, Duration::from_secs(30)).await.unwrap();
    let secs = inspection.probe.duration_secs;
    let audio = framelog_transcoder::audio::plan_for(&inspection);
    let profiles = select_profiles(&LadderSource::from_inspection(&inspection));
    let encoder = Encoder::libx264("veryfast");
    let (mut wall, mut cpu) = (0.0, 0.0);
    for p in &profiles {
        let stage = Stage {
            input: &Source::File(source.to_owned()),
            profiles: std::slice::from_ref(p),
            out_dir: &out,
            encoder: &encoder,
            audio: audio.as_ref(),
            segment_secs: 6,
            thumbnails: None,
            video: None,
        };
        let s = ffmpeg_run(stage_args(&stage)).await;
        println!(
            "  seed {:>5}: {:7.2} s wall {:7.2} s CPU",
            p.name,
            s.wall.as_secs_f64(),
            s.cpu_secs
        );
        wall += s.wall.as_secs_f64();
        cpu += s.cpu_secs;
    }
    let top = profiles.last().unwrap();
    let grid = SpriteGrid::for_picture(profiles[0].width, profiles[0].height);
    let common = strs(&["-hide_banner", "-nostdin", "-nostats", "-benchmark", "-y"]);
    let mut poster = common.clone();
    poster.extend(strs(&["-ss", &format!("{:.3}", secs * 0.25), "-i"]));
    poster.push(source.display().to_string());
    poster.extend(strs(&["-frames:v", "1", "-vf", &format!("scale={}:{}", top.width, top.height)]));
    poster.push(out.join("poster.jpg").display().to_string());
    let mut sprites = common;
    sprites.extend(strs(&["-i", &source.display().to_string(), "-frames:v", "1", "-vf"]));
    sprites.push(format!(
        "fps=100/{secs},scale={}:{},tile=10x10",
        grid.thumb_width, grid.thumb_height
    ));
    sprites.push(out.join("sprites.jpg").display().to_string());
    for args in [poster, sprites] {
        let s = ffmpeg_run(args).await;
        wall += s.wall.as_secs_f64();
        cpu += s.cpu_secs;
    }
    let _ = std::fs::remove_dir_all(&out);
    Cost { wall, cpu }
}
