//! One transcode job, start to finish: completion check, source, probe, profiles, the lowest
//! rendition (with poster and sprite sheet) published early, the rest of the ladder, the final
//! master and storyboard, events, marker.
//!
//! Deletes are final: the job checks the video's tombstone before it starts, before and after
//! each publication of outputs and before each event. A deleted video (before or during the
//! job) ends as [`Done::Deleted`]: whatever the job stored is removed, nothing more is emitted.

use std::path::Path;
use std::time::{Duration, Instant};

use framelog_core::media::{SharedMediaStore, hls_prefix};
use framelog_core::service::ServiceContext;
use framelog_core::tombstones::Tombstones;
use framelog_core::{media_limits, probe};
use framelog_events::{Kind, ReadyData, Rendition, Subject, TranscodeData};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::instrument;

use crate::command::{Stage, Thumbnails, poster_args, stage_args};
use crate::deadline::Deadline;
use crate::emit::Emitter;
use crate::encoder::Encoder;
use crate::error::JobError;
use crate::ffmpeg::{self, FfmpegError, Priority, ProgressEvent, RunStats};
use crate::iframes::{self, IFrameVariant};
use crate::outputs::{
    Deletion, Marker, Measured, MeasuredAudio, link_dir, master_audio, measure, measure_all_audio,
    read_marker, write_marker,
};
use crate::playlist::render_master;
use crate::profile::{Profile, select_profiles};
use crate::progress::{Plan, Progress, Reporter};
use crate::publish::Version;
use crate::settings::TranscoderSettings;
use crate::storyboard::{Storyboard, poster_size, storyboard_vtt, tile_interval};

/// Directory under the data dir where jobs work.
pub const TMP_DIR: &str = "transcode-tmp";
/// Relative decode cost of a source pixel against an encoded one (for progress weights).
const DECODE_WEIGHT: f64 = 0.3;
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// What every job of a worker shares.
#[derive(Debug)]
pub struct Shared {
    pub ctx: ServiceContext,
    pub settings: TranscoderSettings,
    pub encoder: Encoder,
    /// The worker's name (in `started` events).
    pub worker: String,
    /// Deleted videos, checked before anything is published.
    pub tombstones: Tombstones,
    /// The work items of chunked jobs ([`crate::items`]).
    pub items: crate::items::Items,
}

/// What a completed job made.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub renditions: Vec<Rendition>,
    pub cpu_seconds: f64,
    pub wall: Duration,
    /// From the job's start to the `playable` event.
    pub time_to_playable: Duration,
    /// Seconds of video the job transcoded (0 for an audio-only source), for the realtime
    /// factor ([`crate::metrics`]).
    pub source_secs: f64,
}

/// How a job ended without error.
#[derive(Debug)]
pub enum Done {
    /// The completion marker names this request: nothing to do.
    AlreadyComplete,
    Completed(Report),
    /// The video was deleted before or during the job: its outputs and source are removed and
    /// nothing says it plays.
    Deleted,
}

fn names(p: &[Profile]) -> Vec<String> {
    p.iter().map(|p| p.name.clone()).collect()
}

/// Runs the job asked for by `emit.request()`, attempt `attempt`, unless or until the video is
/// deleted.
#[instrument(skip_all, fields(tenant = %emit.tenant(), video = %emit.video(), attempt), err)]
pub async fn transcode(
    shared: &Shared,
    emit: &Emitter,
    source_key: &str,
    attempt: u32,
    cancel: &CancellationToken,
) -> Result<Done, JobError> {
    let (tenant, video) = (emit.tenant().as_str(), emit.video().as_str());
    let deletion =
        Deletion::new(shared.tombstones.clone(), shared.ctx.media.clone(), tenant, video);
    let emit = emit.clone().guarded(deletion.clone());
    // A delete during the job stops its ffmpeg at once rather than at the next check.
    let job_cancel = cancel.child_token();
    let result = match deletion.check().await {
        Ok(()) => {
            let job = run(shared, &emit, &deletion, source_key, attempt, &job_cancel);
            tokio::pin!(job);
            tokio::select! {
                r = &mut job => r,
                () = deletion.cancel_on_delete(&job_cancel) => job.await,
            }
        }
        Err(e) => Err(e),
    };
    let deleted = match &result {
        // Shutdown: handed back to another worker.
        Err(JobError::Cancelled) if cancel.is_cancelled() => false,
        Err(JobError::Deleted) => true,
        // A failure of a video deleted meanwhile (its source removed...) is its deletion; a
        // check that cannot be made keeps the failure (retried).
        Err(_) => deletion.is_deleted().await.unwrap_or(false),
        // A delete may land after the last event: the marker must not stay behind.
        Ok(_) => deletion.is_deleted().await?,
    };
    if !deleted {
        return result;
    }
    deletion.clean().await?;
    tracing::info!("video deleted: its outputs are removed and nothing more is published");
    Ok(Done::Deleted)
}

async fn run(
    shared: &Shared,
    emit: &Emitter,
    deletion: &Deletion,
    source_key: &str,
    attempt: u32,
    cancel: &CancellationToken,
) -> Result<Done, JobError> {
    let started = Instant::now();
    crate::fence::check_source_key(emit.tenant(), source_key)?;
    let media = &shared.ctx.media;
    let prefix = hls_prefix(emit.tenant().as_str(), emit.video().as_str());
    let tmp_root = shared.ctx.platform.settings.data_dir.join(TMP_DIR);
    tokio::fs::create_dir_all(&tmp_root).await.map_err(JobError::io("creating the work dir"))?;
    let version = Version::noted(&shared.ctx, emit.tenant().as_str(), emit.video().as_str()).await;
    let grace = shared.settings.version_grace_secs;
    let work = tempfile::Builder::new()
        .prefix(&format!("{}-{}-", emit.tenant(), emit.video()))
        .tempdir_in(&tmp_root)
        .map_err(JobError::io("creating the work dir"))?;

    if let Some(m) = read_marker(media, &prefix, work.path()).await?
        && m.request_id == emit.request().id.to_string()
    {
        // The job that wrote it may have died with its final events only in its outbox.
        emit.settle(&m.final_events(), cancel).await?;
        return Ok(Done::AlreadyComplete);
    }
    // Never a copy of the whole source when the store presigns: probed and read from its URL.
    let source = crate::source::locate_source(media, source_key, work.path()).await?;
    let subject = Subject::progress(emit.tenant(), Kind::Transcode, emit.video());
    let reporter = Reporter::start(shared.ctx.platform.events.clone(), subject);
    reporter.set(Progress { percent: 0.0, eta_secs: None, stage: "probing" });
    let inspection = source.inspect(PROBE_TIMEOUT).await?;
    let limits = shared.settings.limits.media_limits();
    media_limits::check(&limits, &inspection.probe, inspection.streams)?;
    let audio_plan = crate::audio::plan_for(&inspection);
    // The probe refuses a file with neither video nor audio: no video means audio.
    if let (true, Some(plan)) = (inspection.is_audio_only(), &audio_plan) {
        let job = crate::audio_only::AudioJob {
            shared,
            emit,
            deletion,
            attempt,
            started,
            source: &source,
            work: work.path(),
            version: &version,
            reporter,
            cancel,
        };
        return job.run(plan, inspection.probe.duration_secs).await;
    }
    if shared.settings.chunks.chunked() {
        let duration = inspection.probe.duration_secs;
        let limit = shared.settings.deadline(duration);
        let deadline = Deadline::arm(cancel, limit, started, duration);
        let coordinator = crate::chunked_job::Coordinator {
            shared,
            emit,
            deletion,
            attempt,
            started,
            source: &source,
            source_key,
            work: work.path(),
            inspection: &inspection,
            reporter,
            cancel: deadline.token(),
            shutdown: cancel,
        };
        return coordinator.run().await.map_err(|e| deadline.explain(e));
    }
    let profiles = select_profiles(&crate::ladder::LadderSource::from_inspection(&inspection));
    if profiles.is_empty() {
        // No video stream, no video rung: never index an empty ladder.
        return Err(probe::ProbeError::NoVideo.into());
    }
    let probe = inspection.probe;
    let source_video = inspection.video.as_ref();
    let (lowest, top) = (&profiles[0], &profiles[profiles.len() - 1]);
    let split = shared.settings.early_playable && profiles.len() > 1;
    emit.emit(
        TranscodeData::Started {
            worker: shared.worker.clone(),
            encoder: shared.encoder.codec.clone(),
            attempt,
            profiles: names(&profiles),
        },
        &attempt.to_string(),
    )
    .await?;

    let decode = f64::from(probe.width) * f64::from(probe.height) * probe.fps * DECODE_WEIGHT;
    let encode = |p: &[Profile]| p.iter().map(Profile::pixel_rate).sum::<f64>();
    let (first, rest) = if split { profiles.split_at(1) } else { (&profiles[..], &[][..]) };
    let costs = [
        ("lowest", decode + encode(first)),
        ("ladder", if split { decode + encode(rest) } else { 0.0 }),
        ("publishing", 0.02 * (decode + encode(&profiles))),
    ];
    let plan = Plan::new(&costs, started);

    let out = work.path().join("out");
    tokio::fs::create_dir_all(&out).await.map_err(JobError::io("creating the output dir"))?;
    let d = probe.duration_secs;
    let thumbs = Thumbnails {
        board: Storyboard::plan(d, lowest.width, lowest.height, tile_interval(d)),
        poster_at_secs: d * 0.25,
        poster_size: poster_size(top.width, top.height),
        sprites_dir: out.clone(),
        poster: out.join("poster.jpg"),
    };
    let has_audio = audio_plan.as_ref();
    let stage = |profiles: &[Profile], thumbnails: Option<&Thumbnails>, audio| {
        stage_args(&Stage {
            input: &source,
            profiles,
            out_dir: &out,
            encoder: &shared.encoder,
            audio,
            segment_secs: shared.settings.segment_secs,
            thumbnails,
            video: source_video,
        })
    };
    let duration = probe.duration_secs;
    // Past it, the job's ffmpeg processes are killed and it fails for good.
    let shutdown = cancel;
    let deadline = Deadline::arm(cancel, shared.settings.deadline(duration), started, duration);
    let cancel = deadline.token();
    let runner = Runner { shared, plan: &plan, reporter: &reporter, cancel, duration };
    // The lowest rendition (with poster, sprites and the one audio rendition) at normal
    // priority, published as soon as it is done; the rest of the ladder (video only) at the
    // same time in the background, on what is left.
    let lowest_stage = async {
        let args = stage(first, Some(&thumbs), has_audio);
        let mut stats = runner.run(args, "lowest", Priority::Normal).await?;
        if !thumbs.poster.exists() {
            // The video track ended before 25% of the container's duration: first frame.
            let args = poster_args(&source, source_video, thumbs.poster_size, &thumbs.poster);
            stats.cpu_secs += runner.run(args, "lowest", Priority::Normal).await?.cpu_secs;
        }
        if thumbs.sheets_written() == 0 {
            return Err(JobError::output(&thumbs.sheets()[0], "ffmpeg did not write it"));
        }
        let audio = match &audio_plan {
            Some(plan) => measure_all_audio(&out, plan).await?,
            None => Vec::new(),
        };
        let mut measured = Vec::new();
        for p in first {
            measured.push(with_audio(measure(&out, p).await?, audio.first()));
        }
        let mut playable = None;
        // A retry of a ready video keeps its complete ladder live: no early rung then.
        if split && version.early_allowed(media).await? {
            let (lowest, audio) = (&measured[0], &audio[..]);
            let early =
                Early { deletion, emit, media, version: &version, work: work.path(), grace };
            if early.publish(&out, lowest, audio).await? {
                playable = Some(started.elapsed());
                tracing::info!(secs = started.elapsed().as_secs_f64(), "lowest rendition playable");
            }
        }
        Ok((stats, measured, audio, playable))
    };
    let ladder_stage = async {
        if !split {
            return Ok(None);
        }
        let stats = runner.run(stage(rest, None, None), "ladder", Priority::Background).await?;
        let mut measured = Vec::new();
        for p in rest {
            measured.push(measure(&out, p).await?);
        }
        Ok::<_, JobError>(Some((stats, measured)))
    };
    let ((stats, mut measured, audio, mut time_to_playable), ladder) =
        tokio::try_join!(lowest_stage, ladder_stage).map_err(|e| deadline.explain(e))?;
    drop(deadline);
    let mut cpu = stats.cpu_secs;
    let announced: Vec<String> =
        time_to_playable.map(|_| lowest.name.clone()).into_iter().collect();
    if let Some((stats, more)) = ladder {
        cpu += stats.cpu_secs;
        measured.extend(more.into_iter().map(|m| with_audio(m, audio.first())));
    }

    reporter.set(plan.update("publishing", 0.0, Instant::now()));
    let variants: Vec<_> = measured.iter().map(|m| version.variant(&m.variant)).collect();
    let audio_media: Vec<_> = master_audio(&audio).iter().map(|a| version.audio(a)).collect();
    let mut master = render_master(&variants, &audio_media);
    for m in &measured {
        let v = iframes::for_variant(&out, &m.variant).await?;
        master.push_str(&iframes::iframe_stream_inf(&IFrameVariant {
            uri: version.rooted(&v.uri),
            ..v
        }));
    }
    write(&out.join("master.m3u8"), master).await?;
    let vtt = storyboard_vtt(&thumbs.board, &version.rooted(""), thumbs.sheets_written());
    write(&out.join("storyboard.vtt"), vtt).await?;
    version.publish(deletion, media, &out, true, grace).await?;
    for m in measured.iter().filter(|m| !announced.contains(&m.rendition.name)) {
        let name = m.rendition.name.clone();
        emit.emit(TranscodeData::RenditionCompleted { rendition: m.rendition.clone() }, &name)
            .await?;
    }
    if time_to_playable.is_none() {
        emit.emit(TranscodeData::Playable { renditions: names(&profiles) }, "").await?;
        time_to_playable = Some(started.elapsed());
    }
    let renditions: Vec<Rendition> = measured.into_iter().map(|m| m.rendition).collect();
    let wall = started.elapsed();
    let cpu_seconds = (cpu * 1000.0).round() / 1000.0;
    let completed = emit.event(
        TranscodeData::Completed {
            renditions: renditions.clone(),
            audio: audio.first().map(|a| a.audio.clone()),
            more_audio: audio.iter().skip(1).map(|a| a.audio.clone()).collect(),
            cpu_seconds,
            wall_secs: (wall.as_secs_f64() * 1000.0).round() / 1000.0,
            source_duration_secs: duration,
            encoder: shared.encoder.codec.clone(),
        },
        "",
    );
    let ready = emit.event(
        ReadyData::Published {
            renditions: names(&profiles),
            duration_secs: duration,
            poster: format!("{prefix}/poster.jpg"),
            storyboard: format!("{prefix}/storyboard.vtt"),
            audio_only: false,
        },
        "",
    );
    let finals = [completed, ready];
    finish(shared, emit, deletion, &prefix, work.path(), &finals, names(&profiles), shutdown)
        .await?;
    reporter.finish(Progress { percent: 100.0, eta_secs: Some(0.0), stage: "done" }).await;
    Ok(Done::Completed(Report {
        renditions,
        cpu_seconds,
        wall,
        time_to_playable: time_to_playable.unwrap_or(wall),
        source_secs: duration,
    }))
}

/// Writes the completion marker with the job's final events, then sends them. The marker is
/// written before they are sent: whoever gets this request again (after a crash, or this
/// machine's loss with the events only in its outbox) re-emits them, and the job is acked only
/// once they are stored.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn finish(
    shared: &Shared,
    emit: &Emitter,
    deletion: &Deletion,
    prefix: &str,
    work: &Path,
    final_events: &[framelog_events::Event],
    renditions: Vec<String>,
    shutdown: &CancellationToken,
) -> Result<(), JobError> {
    let marker = Marker {
        request_id: emit.request().id.to_string(),
        renditions,
        completed_at: OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        final_events: final_events
            .iter()
            .map(|e| serde_json::from_slice(&e.to_json()).expect("an event is JSON"))
            .collect(),
    };
    deletion.check().await?;
    write_marker(&shared.ctx.media, prefix, work, &marker).await?;
    emit.settle(final_events, shutdown).await?;
    Ok(())
}

pub(crate) async fn write(path: &Path, text: String) -> Result<(), JobError> {
    tokio::fs::write(path, text).await.map_err(JobError::io(format!("writing {}", path.display())))
}

/// A video rendition as played with the default audio, if there is audio.
fn with_audio(m: Measured, audio: Option<&MeasuredAudio>) -> Measured {
    match audio {
        Some(a) => m.with_audio(&a.audio),
        None => m,
    }
}

/// The early publication of one attempt.
struct Early<'a> {
    deletion: &'a Deletion,
    emit: &'a Emitter,
    media: &'a SharedMediaStore,
    version: &'a Version,
    work: &'a Path,
    grace: u64,
}

impl Early<'_> {
    /// Publishes the lowest rendition (and the audio) with a master naming only it as this
    /// attempt's version and, if it went live, announces it. Returns whether it went live.
    #[instrument(skip_all, fields(rendition = %lowest.rendition.name), err)]
    async fn publish(
        &self,
        out: &Path,
        lowest: &Measured,
        audio: &[MeasuredAudio],
    ) -> Result<bool, JobError> {
        let (name, version) = (&lowest.rendition.name, self.version);
        let early = self.work.join("early");
        link_dir(&out.join(name), &early.join(name)).await?;
        for a in audio.iter().filter_map(|a| a.audio.name.as_ref()) {
            link_dir(&out.join(a), &early.join(a)).await?;
        }
        let audio_media: Vec<_> = master_audio(audio).iter().map(|a| version.audio(a)).collect();
        let master = render_master(&[version.variant(&lowest.variant)], &audio_media);
        write(&early.join("master.m3u8"), master).await?;
        if !version.publish(self.deletion, self.media, &early, false, self.grace).await? {
            return Ok(false);
        }
        let emit = self.emit;
        emit.emit(TranscodeData::RenditionCompleted { rendition: lowest.rendition.clone() }, name)
            .await?;
        emit.emit(TranscodeData::Playable { renditions: vec![name.clone()] }, "").await?;
        Ok(true)
    }
}

/// Runs the ffmpeg stages of one job, reporting progress.
pub(crate) struct Runner<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) plan: &'a Plan,
    pub(crate) reporter: &'a Reporter,
    pub(crate) cancel: &'a CancellationToken,
    pub(crate) duration: f64,
}

impl Runner<'_> {
    /// Runs one ffmpeg process, its progress counted as `stage` of the plan.
    pub(crate) async fn run(
        &self,
        args: Vec<String>,
        stage: &'static str,
        priority: Priority,
    ) -> Result<RunStats, JobError> {
        tracing::debug!(args = %crate::source::redacted(&args), "ffmpeg");
        let (tx, plan, duration) = (self.reporter.sender(), self.plan, self.duration);
        let mut on_progress = |ev: ProgressEvent| {
            let fraction = match ev {
                ProgressEvent::At(secs) if duration > 0.0 => secs / duration,
                ProgressEvent::At(_) => 0.0,
                ProgressEvent::End => 1.0,
            };
            tx.send_replace(Some(plan.update(stage, fraction, Instant::now())));
        };
        let ffmpeg = &self.shared.settings.ffmpeg;
        match ffmpeg::run(ffmpeg, &args, priority, self.cancel, &mut on_progress).await {
            Ok(stats) => {
                tx.send_replace(Some(plan.update(stage, 1.0, Instant::now())));
                Ok(stats)
            }
            Err(FfmpegError::Cancelled) => Err(JobError::Cancelled),
            Err(e) => Err(e.into()),
        }
    }
}
