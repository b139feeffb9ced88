//! framelog-transcoder: durable transcode jobs into an adaptive HLS ladder (DESIGN §2, §4).
//!
//! Workers share one durable pull consumer on `vid.*.transcode.requested.*` (competing
//! consumers). Each job probes the source, picks the renditions (16:9 boxes from 270p to 2160p
//! fitted to the display size, never upscaling; frame rates snapped to the natural rate and
//! capped per rung; H.264 within High 4.2, 2160p in HEVC; capped CRF), and encodes them with as
//! few decodes as possible:
//!
//! 1. one fast ffmpeg process makes the lowest rendition, and from the same decode the poster
//!    (at 25%) and the 10×10 sprite sheet (tapped from the lowest rendition's frames). The
//!    rendition and a master naming only it are published at once: `VID_TRANSCODE playable`;
//! 2. at the same time, at the lowest CPU priority (`nice 19`, so it only takes what step 1
//!    leaves idle), one ffmpeg process decodes the source once more and encodes every other
//!    rendition, scaling in a cascade, keyframes aligned (GOP = 2 s × fps, no scene-cut
//!    keyframes, so segments of every rendition start at the same instants);
//! 3. the master playlist is rewritten from measured segment sizes (BANDWIDTH,
//!    AVERAGE-BANDWIDTH, RESOLUTION, CODECS, FRAME-RATE, EXT-X-INDEPENDENT-SEGMENTS), the
//!    storyboard VTT is written, and everything replaces the early publication atomically;
//!    then `rendition_completed`, `completed` (with CPU seconds for billing) and `VID_READY`,
//!    then a completion marker, then the ack.
//!
//! With `--transcode-early-playable false` (or a one-rung ladder) steps 1 and 2 are one process:
//! one decode fewer (less CPU), nothing playable before the end. `benches/ladder.rs` measures
//! both against the seed's one-process-per-profile approach.
//!
//! # Segments: fMP4 (CMAF), not MPEG-TS
//! fMP4 segments are ~3% smaller than TS (no 188-byte packet overhead), carry HEVC and AV1 as
//! well as H.264 (Apple requires fMP4 for HEVC in HLS), and the same CMAF segments can serve a
//! DASH manifest later without re-packaging. The init segment also gives exact `CODECS` strings
//! (copied from its `avcC` or `hvcC` box). Debian's ffmpeg 5.1 writes fMP4 with
//! `-var_stream_map`; every player we target (hls.js, Safari, ExoPlayer, AVPlayer) plays it.
//!
//! # Layout
//! - [`settings`]: [`TranscoderSettings`], the `--transcode-*` flags.
//! - [`worker`]: [`Worker`] and its one step [`Worker::process_next`] → [`Outcome`]; ack, nak,
//!   term, dead-lettering, the concurrency semaphore, in-progress acks.
//! - [`consumer`]: the durable consumer, pulled one message at a time.
//! - [`lease`]: the job record per video in KV (request, attempts, lease) and the pure
//!   decision of a worker receiving a job; [`attempts`]: one attempt under its lease
//!   (keep-alive with renewal, fencing, settling).
//! - [`deadletter`]: `dead_lettered` from the server's max-deliveries advisories, kept in the
//!   `VID_ADVISORY` stream and drained by a durable consumer.
//! - [`sweeper`]: one replica at a time finds videos stuck in processing (job message lost)
//!   and requests them again or dead-letters them.
//! - [`job`]: one job from source to `VID_READY`.
//! - [`profile`]: renditions and frame-rate snapping; [`ladder`]: the rungs and profile
//!   selection; [`level`]: H.264 levels; [`rate`]: per-rendition codec, level, GOP and rate
//!   control arguments (all pure).
//! - [`command`]: ffmpeg command lines and filter graphs (pure).
//! - [`video_filters`]: what a source needs before the cascade: deinterlace, HDR tone-map,
//!   BT.601 → BT.709; square pixels and BT.709 tags on every output (pure).
//! - [`ffmpeg`]: running ffmpeg: progress, CPU time, error classification, kill on cancel.
//! - [`encoder`]: hardware encoder detection by trial encode, libx264 fallback.
//! - [`playlist`]: media playlist parsing, bit rate measurement (pure); [`master`]: the master
//!   playlist (pure): audio groups, the mid rung first, an audio-only variant.
//! - [`audio`]: the audio renditions of a source (pure): every track at 48 kHz in play order,
//!   5.1 beside stereo, padded to the video; [`audio_only`]: the job path of a source without
//!   video (audio renditions, a waveform poster, an audio-only master).
//! - [`codecs`]: RFC 6381 codecs strings from init segments (pure).
//! - [`storyboard`]: sprite sheet geometry and the WebVTT storyboard (pure).
//! - [`progress`]: percent/ETA and the throttled progress publisher.
//! - [`outputs`]: measuring renditions, hard-linked early publication, the completion marker.
//! - [`emit`]: events with deterministic ids, caused by the request.
//! - [`error`]: [`TranscoderError`] (start-up) and [`JobError`] (one attempt).
//! - [`limits`], [`fence`], [`deadline`], [`fairness`]: hostile media and tenants: media
//!   limits checked before encoding, a request may only name its own tenant's source, a
//!   wall-clock deadline per job, a per-tenant cap on this worker's slots.
//!
//! Architecture invariant: a job's message is acked only after its outputs are in the media
//! store, its events are acked by NATS (or durable in the outbox) and the marker is written; a
//! redelivery of a completed request finds the marker and is acked without work.

pub mod assemble;
pub mod attempts;
pub mod audio;
pub mod audio_only;
pub mod chunk_settings;
pub mod chunked_job;
mod chunked_passthrough;
pub mod chunks;
pub mod codecs;
pub mod command;
pub mod consumer;
pub mod deadletter;
pub mod deadline;
pub mod emit;
pub mod encoder;
pub mod error;
pub mod fairness;
pub mod fence;
pub mod ffmpeg;
pub mod fmp4;
pub mod iframes;
pub mod item_lease;
pub mod item_runner;
pub mod item_worker;
pub mod items;
pub mod job;
pub mod ladder;
pub mod lease;
pub mod level;
pub mod limits;
pub mod master;
pub mod metrics;
pub mod mp4;
pub mod mp4_sources;
pub mod outputs;
pub mod passthrough;
pub mod playlist;
pub mod profile;
pub mod progress;
pub mod publish;
pub mod range_encode;
pub mod range_types;
pub mod rate;
pub mod settings;
pub mod sheets;
pub mod source;
pub mod storyboard;
pub mod sweeper;
pub mod version_gc;
pub mod video_filters;
pub mod work_plan;
pub mod worker;

use std::time::Duration;

use framelog_core::consumer::ConsumeError;
use framelog_core::service::{ServiceContext, ServiceHandle};
use tokio_util::sync::CancellationToken;

pub use encoder::{Detection, Encoder};
pub use error::{JobError, TranscoderError};
pub use settings::TranscoderSettings;
pub use worker::{Outcome, Worker};

/// The encoder the settings ask for: `auto` runs the hardware trials (NVENC, AMF, QSV, VAAPI)
/// and falls back to libx264; a name is trial-encoded once and refused if it does not work.
pub async fn choose_encoder(settings: &TranscoderSettings) -> Result<Encoder, TranscoderError> {
    let ffmpeg = settings.ffmpeg.as_path();
    let software = Encoder::libx264(&settings.x264_preset);
    if settings.encoder == "auto" {
        let d = encoder::detect(ffmpeg, &Encoder::hardware_candidates(), software).await;
        for t in &d.trials {
            if let Err(reason) = &t.result {
                tracing::info!(encoder = %t.encoder, %reason, "encoder unavailable");
            }
        }
        if let Some(Err(reason)) =
            d.trials.iter().find(|t| t.encoder == d.chosen).map(|t| &t.result)
        {
            return Err(TranscoderError::EncoderUnavailable {
                encoder: d.chosen.codec,
                reason: reason.clone(),
            });
        }
        tracing::info!(encoder = %d.chosen, "video encoder chosen");
        return Ok(d.chosen);
    }
    let chosen = Encoder::named(&settings.encoder, &settings.x264_preset);
    encoder::trial(ffmpeg, &chosen).await.map_err(|reason| {
        TranscoderError::EncoderUnavailable { encoder: chosen.codec.clone(), reason }
    })?;
    tracing::info!(encoder = %chosen, "video encoder set by the settings");
    Ok(chosen)
}

fn default_worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "transcoder".into());
    format!("{host}-{}", std::process::id())
}

/// Starts the transcoder: chooses the encoder (once; every job reuses it), binds the consumer
/// and spawns the worker loop, which stops when `ctx.shutdown` is cancelled (running jobs kill
/// ffmpeg and are naked so another worker takes them). No HTTP routes of its own.
pub async fn start(
    ctx: &ServiceContext,
    settings: TranscoderSettings,
) -> Result<ServiceHandle, TranscoderError> {
    settings.validate()?;
    let encoder = choose_encoder(&settings).await?;
    let name = settings.worker_name.clone().unwrap_or_else(default_worker_name);
    let sweeper = sweeper::spawn(ctx, &settings, &name).await.map_err(|e| {
        TranscoderError::Consumer(ConsumeError::Receive(format!("starting the sweeper: {e}")))
    })?;
    let chunked = settings.chunks.chunked() && settings.chunks.item_slots > 0;
    let worker_ffmpeg = settings.ffmpeg.clone();
    let worker = Worker::new(ctx, settings, encoder, name).await?;
    let items = match chunked {
        true => Some(worker.item_worker().await?),
        false => None,
    };
    let dead_letters = deadletter::spawn(ctx).await.map_err(|e| {
        TranscoderError::Consumer(ConsumeError::Receive(format!(
            "consuming max-deliveries advisories: {e}"
        )))
    })?;
    let mp4 =
        mp4::Mp4Worker::new(ctx, worker_ffmpeg.clone()).await.map_err(TranscoderError::Consumer)?;
    let task = tokio::spawn(run_loop(worker, ctx.shutdown.clone()));
    let mut handle = ServiceHandle::new("transcoder", axum::Router::new())
        .with_task(task)
        .with_task(dead_letters)
        .with_task(tokio::spawn(mp4.run(ctx.shutdown.clone())));
    if let Some(sweeper) = sweeper {
        handle = handle.with_task(sweeper);
    }
    if let Some(items) = items {
        handle = handle.with_task(tokio::spawn(items.run(ctx.shutdown.clone())));
    }
    Ok(handle)
}

/// The thin loop around [`Worker::process_next`].
pub async fn run_loop(mut worker: Worker, shutdown: CancellationToken) {
    tracing::info!(worker = worker.name(), "transcoder worker running");
    loop {
        let outcome = tokio::select! {
            _ = shutdown.cancelled() => break,
            o = worker.process_next() => o,
        };
        log_outcome(&outcome);
        if let Outcome::ConsumerError(_) = outcome {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
    for o in worker.shutdown().await {
        log_outcome(&o);
    }
    tracing::info!("transcoder worker stopped");
}

fn log_outcome(o: &Outcome) {
    match o {
        Outcome::Idle => {}
        Outcome::ConsumerError(e) => tracing::warn!(error = %e, "pulling transcode jobs failed"),
        Outcome::Crashed(e) => tracing::error!(error = %e, "a transcode task crashed"),
        other => tracing::debug!(outcome = ?other, "transcode step"),
    }
}
