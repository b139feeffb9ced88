//! The job path of a source without video (podcasts, music): an audio-only HLS asset.
//!
//! One ffmpeg process encodes every audio rendition ([`crate::audio`]) and, from the default
//! track, a 1280×720 waveform poster (`showwavespic`). The master has only audio-only variants
//! (one per audio group); there is no sprite sheet, and the storyboard is one cue showing the
//! waveform over the whole duration, so players that preview the timeline still get a picture.
//! `VID_READY published` says `audio_only`, and names the audio renditions.

use std::path::Path;
use std::time::Instant;

use framelog_core::media::hls_prefix;
use framelog_events::{ReadyData, TranscodeData};
use tokio_util::sync::CancellationToken;

use crate::audio::AudioPlan;
use crate::command::hls_args;
use crate::deadline::Deadline;
use crate::emit::Emitter;
use crate::error::JobError;
use crate::ffmpeg::Priority;
use crate::job::{Done, Report, Runner, Shared, finish, write};
use crate::outputs::{Deletion, master_audio, measure_all_audio};
use crate::playlist::render_master;
use crate::progress::{Plan, Progress, Reporter};
use crate::publish::Version;
use crate::source::Source;
use crate::storyboard::vtt_time;

/// Size of the waveform poster.
pub const POSTER_SIZE: (u32, u32) = (1280, 720);
/// Sample rate the waveform is drawn from: enough for 1280 columns of any length, and it
/// bounds what `showwavespic` keeps in memory until the end (8 kHz mono s16: 57 MB an hour).
const WAVEFORM_RATE: u32 = 8_000;

/// Everything an audio-only job needs from the job that probed it.
pub struct AudioJob<'a> {
    pub shared: &'a Shared,
    pub emit: &'a Emitter,
    pub deletion: &'a Deletion,
    pub attempt: u32,
    pub started: Instant,
    pub source: &'a Source,
    pub work: &'a Path,
    pub version: &'a Version,
    pub reporter: Reporter,
    pub cancel: &'a CancellationToken,
}

/// The ffmpeg arguments: every audio rendition to `<out>/<dir>/`, and the poster.
pub fn args(source: &Source, plan: &AudioPlan, out: &Path, segment_secs: u32) -> Vec<String> {
    let mut a = crate::command::preamble();
    a.extend(source.input_args());
    let (w, h) = POSTER_SIZE;
    a.extend([
        "-filter_complex".to_owned(),
        format!(
            "[0:{}]aformat=sample_fmts=s16:channel_layouts=mono,aresample={WAVEFORM_RATE},\
             showwavespic=s={w}x{h}:split_channels=0:colors=0x4f8cff[poster]",
            plan.default_out().index
        ),
    ]);
    a.extend(plan.map_args());
    a.extend(plan.codec_args());
    a.extend(hls_args(out, segment_secs, &plan.var_stream_entries().join(" ")));
    a.extend(
        ["-map", "[poster]", "-frames:v", "1", "-update", "1", "-q:v", "3"].map(str::to_owned),
    );
    a.push(out.join("poster.jpg").display().to_string());
    a
}

/// A storyboard of one cue: the waveform `image` over the whole duration.
pub fn storyboard(duration_secs: f64, image: &str) -> String {
    let end = vtt_time((duration_secs.max(0.001) * 1000.0).round() as u64);
    let (w, h) = POSTER_SIZE;
    format!("WEBVTT\n\n{} --> {end}\n{image}#xywh=0,0,{w},{h}\n", vtt_time(0))
}

impl AudioJob<'_> {
    /// Encodes, publishes and announces the asset.
    pub async fn run(self, plan: &AudioPlan, duration: f64) -> Result<Done, JobError> {
        let (shared, emit) = (self.shared, self.emit);
        let names: Vec<String> = plan.all().map(|a| a.dir.clone()).collect();
        emit.emit(
            TranscodeData::Started {
                worker: shared.worker.clone(),
                encoder: "aac".into(),
                attempt: self.attempt,
                profiles: names.clone(),
            },
            &self.attempt.to_string(),
        )
        .await?;
        let out = self.work.join("out");
        tokio::fs::create_dir_all(&out).await.map_err(JobError::io("creating the output dir"))?;
        let costs = [("audio", duration.max(0.001)), ("publishing", 0.02 * duration.max(0.001))];
        let progress = Plan::new(&costs, self.started);
        let deadline =
            Deadline::arm(self.cancel, shared.settings.deadline(duration), self.started, duration);
        let runner = Runner {
            shared,
            plan: &progress,
            reporter: &self.reporter,
            cancel: deadline.token(),
            duration,
        };
        let ffmpeg = args(self.source, plan, &out, shared.settings.segment_secs);
        let stats =
            runner.run(ffmpeg, "audio", Priority::Normal).await.map_err(|e| deadline.explain(e))?;
        drop(deadline);
        let poster = out.join("poster.jpg");
        if !poster.exists() {
            return Err(JobError::output(&poster, "ffmpeg did not write the waveform"));
        }
        let audio = measure_all_audio(&out, plan).await?;

        self.reporter.set(progress.update("publishing", 0.0, Instant::now()));
        let version = self.version;
        let media: Vec<_> = master_audio(&audio).iter().map(|a| version.audio(a)).collect();
        write(&out.join("master.m3u8"), render_master(&[], &media)).await?;
        let vtt = storyboard(duration, &version.rooted("poster.jpg"));
        write(&out.join("storyboard.vtt"), vtt).await?;
        let grace = shared.settings.version_grace_secs;
        version.publish(self.deletion, &shared.ctx.media, &out, true, grace).await?;
        emit.emit(TranscodeData::Playable { renditions: names.clone() }, "").await?;
        let time_to_playable = self.started.elapsed();

        let prefix = hls_prefix(emit.tenant().as_str(), emit.video().as_str());
        let cpu_seconds = (stats.cpu_secs * 1000.0).round() / 1000.0;
        let wall = self.started.elapsed();
        let completed = emit.event(
            TranscodeData::Completed {
                renditions: Vec::new(),
                audio: audio.first().map(|a| a.audio.clone()),
                more_audio: audio.iter().skip(1).map(|a| a.audio.clone()).collect(),
                cpu_seconds,
                wall_secs: (wall.as_secs_f64() * 1000.0).round() / 1000.0,
                source_duration_secs: duration,
                encoder: "aac".into(),
            },
            "",
        );
        let ready = emit.event(
            ReadyData::Published {
                renditions: names.clone(),
                duration_secs: duration,
                poster: format!("{prefix}/poster.jpg"),
                storyboard: format!("{prefix}/storyboard.vtt"),
                audio_only: true,
            },
            "",
        );
        let finals = [completed, ready];
        finish(shared, emit, self.deletion, &prefix, self.work, &finals, names, self.cancel)
            .await?;
        let done = Progress { percent: 100.0, eta_secs: Some(0.0), stage: "done" };
        self.reporter.finish(done).await;
        Ok(Done::Completed(Report {
            renditions: Vec::new(),
            cpu_seconds,
            wall,
            time_to_playable,
            source_secs: 0.0,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::{Track, plan};

    #[test]
    fn one_process_encodes_every_track_and_draws_the_waveform_of_the_default() {
        let t =
            |index| Track { index, channels: 2, language: None, language_name: None, title: None };
        let p = plan(&[t(3), t(1)], 60.0).unwrap();
        let a = args(&Source::File("/in.m4a".into()), &p, Path::new("/o"), 6).join(" ");
        assert!(a.contains("-i file:/in.m4a -filter_complex [0:3]aformat="), "{a}");
        assert!(a.contains("showwavespic=s=1280x720"), "{a}");
        assert!(a.contains("-map 0:3 -map 0:1 -c:a aac"), "{a}");
        assert!(a.contains("-var_stream_map a:0,name:audio a:1,name:audio_1 /o/%v/playlist.m3u8"));
        assert!(a.ends_with("-map [poster] -frames:v 1 -update 1 -q:v 3 /o/poster.jpg"), "{a}");
        assert!(!a.contains("-c:v"), "no video encoder");
        let url = Source::Url("http://s3/b/k?X-Amz-Signature=s".into());
        let a = args(&url, &p, Path::new("/o"), 6).join(" ");
        assert!(a.contains("-seekable 1"), "{a}");
        assert!(a.contains("-i http://s3/b/k?X-Amz-Signature=s -filter_complex [0:3]"), "{a}");
    }

    #[test]
    fn the_storyboard_is_the_waveform_over_the_whole_duration() {
        assert_eq!(
            storyboard(61.5, "v/x/poster.jpg"),
            "WEBVTT\n\n00:00:00.000 --> 00:01:01.500\nv/x/poster.jpg#xywh=0,0,1280,720\n"
        );
    }
}
