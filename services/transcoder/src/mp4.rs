//! Static MP4 renditions (issue 19): a durable job, run by every transcoder, that remuxes a
//! ready video's CMAF segments into progressive files with no re-encode.
//!
//! The jobs are events on `VID`: `ready.published` (a video became ready: the tenant default
//! or the video's override may ask for files) and `transcode.mp4_requested` (the tenant set a
//! video's setting), pulled one at a time from the durable consumer `transcoder_mp4` that every
//! transcoder shares (competing consumers; in-progress acks while ffmpeg runs, a NAK with a
//! delay after a failure, at most [`MAX_DELIVER`] deliveries). One step:
//! 1. a deleted video, or one not ready yet (no `ready.published` in the log; its own
//!    `ready.published` brings it back), is acked with nothing done;
//! 2. the setting is read from [`Mp4Settings`] (the override, else the tenant default: the
//!    latest, so an older request replayed never undoes a newer one);
//! 3. for the live version (the pointer, complete): each wanted file that is not stored yet is
//!    built from the version's own master, its init and segments concatenated then remuxed
//!    (`ffmpeg -c copy -movflags +faststart`) with the default audio, and stored under
//!    `.../v/<version>/mp4/`; files no longer wanted are removed;
//! 4. `mp4_ready` (deterministic id over version, setting and files, so a redelivery is
//!    dropped by the server) is published, then the message acked.
//!
//! Idempotent rather than leased: the same segments give the same bytes, a file is put whole
//! (a rename or a single object), and a stored file is never rebuilt.

use std::path::{Path, PathBuf};
use std::time::Duration;

use framelog_core::consumer::{ConsumeError, ConsumerSpec};
use framelog_core::media::versions::version_prefix;
use framelog_core::media::{MediaError, SharedMediaStore, hls_prefix};
use framelog_core::mp4_settings::Mp4Settings;
use framelog_core::nats::STREAM_VID;
use framelog_core::platform::Platform;
use framelog_core::service::ServiceContext;
use framelog_core::tombstones::Tombstones;
use framelog_events::mp4::{Mp4File, Mp4Output, Mp4Setting, capped_rung};
use framelog_events::{Event, EventData, Kind, ReadyData, Subject, TranscodeData};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::consumer::{JobConsumer, JobMessage};
use crate::ffmpeg::{self, Priority};
use crate::mp4_sources::{MasterMedia, Piece, parse_master, parse_media};

/// Durable name shared by every transcoder's MP4 worker.
pub const DURABLE: &str = "transcoder_mp4";
/// Deliveries of one job before the server gives up.
pub const MAX_DELIVER: i64 = 8;

/// What one step did.
#[derive(Debug, Clone, PartialEq)]
pub enum Mp4Outcome {
    Idle,
    /// Acked with nothing to do (deleted, not ready, nothing wanted and nothing stored).
    Skipped(&'static str),
    /// `mp4_ready` published for this setting and these files.
    Done {
        setting: Mp4Setting,
        files: Vec<Mp4Output>,
        cpu_seconds: f64,
    },
    /// Handed back for a retry.
    Retry(String),
    ConsumerError(String),
}

#[derive(Debug, thiserror::Error)]
enum Mp4Error {
    #[error("media store: {0}")]
    Media(#[from] MediaError),
    #[error("{0}")]
    Other(String),
    #[error("ffmpeg: {0}")]
    Ffmpeg(#[from] ffmpeg::FfmpegError),
    #[error("writing {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// The MP4 worker of one transcoder.
pub struct Mp4Worker {
    platform: Platform,
    media: SharedMediaStore,
    consumer: JobConsumer,
    settings: Mp4Settings,
    tombstones: Tombstones,
    ffmpeg: PathBuf,
    tmp: PathBuf,
    cancel: CancellationToken,
}

impl std::fmt::Debug for Mp4Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mp4Worker").finish_non_exhaustive()
    }
}

/// The consumer of MP4 jobs.
pub fn spec() -> ConsumerSpec {
    let mut spec = ConsumerSpec::new(
        STREAM_VID,
        DURABLE,
        vec![
            Subject::phase_filter(Kind::Ready, "published"),
            Subject::phase_filter(Kind::Transcode, "mp4_requested"),
        ],
    );
    spec.ack_wait = Duration::from_secs(60);
    spec.max_deliver = MAX_DELIVER;
    spec.max_ack_pending = 100;
    // Videos made ready before the worker existed keep their (absent) files: no backfill.
    spec.deliver_policy = async_nats::jetstream::consumer::DeliverPolicy::New;
    spec
}

impl Mp4Worker {
    /// Binds the shared consumer.
    pub async fn new(ctx: &ServiceContext, ffmpeg: PathBuf) -> Result<Mp4Worker, ConsumeError> {
        let recv = |m: String| ConsumeError::Receive(m);
        let consumer = JobConsumer::bind(&ctx.platform.js, &spec()).await?;
        let settings =
            Mp4Settings::open(&ctx.platform.js).await.map_err(|e| recv(e.to_string()))?;
        let tombstones =
            Tombstones::open(&ctx.platform.js).await.map_err(|e| recv(e.to_string()))?;
        let tmp = ctx.platform.settings.data_dir.join(crate::job::TMP_DIR).join("mp4");
        tokio::fs::create_dir_all(&tmp)
            .await
            .map_err(|e| recv(format!("{}: {e}", tmp.display())))?;
        Ok(Mp4Worker {
            platform: ctx.platform.clone(),
            media: ctx.media.clone(),
            consumer,
            settings,
            tombstones,
            ffmpeg,
            tmp,
            cancel: ctx.shutdown.clone(),
        })
    }

    /// Runs steps until `shutdown`.
    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            let o = tokio::select! {
                _ = shutdown.cancelled() => return,
                o = self.process_next(Duration::from_secs(5)) => o,
            };
            match &o {
                Mp4Outcome::Idle => {}
                Mp4Outcome::ConsumerError(e) => {
                    tracing::warn!(error = %e, "pulling MP4 jobs failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Mp4Outcome::Retry(e) => tracing::warn!(error = %e, "MP4 job handed back"),
                other => tracing::debug!(outcome = ?other, "MP4 step"),
            }
        }
    }

    /// Takes one job (waiting at most `wait`) and handles it.
    pub async fn process_next(&mut self, wait: Duration) -> Mp4Outcome {
        let msg = match self.consumer.next(wait).await {
            Ok(Some(m)) => m,
            Ok(None) => return Mp4Outcome::Idle,
            Err(e) => return Mp4Outcome::ConsumerError(e.to_string()),
        };
        let span = msg.span.clone();
        let outcome = self.with_keep_alive(&msg).instrument(span).await;
        let settle = match &outcome {
            Mp4Outcome::Retry(_) => {
                let delay = Duration::from_secs(2u64.saturating_pow(msg.delivered as u32).min(300));
                msg.nak(Some(delay)).await
            }
            _ => msg.ack().await,
        };
        match settle {
            Ok(()) => outcome,
            Err(e) => Mp4Outcome::ConsumerError(e.to_string()),
        }
    }

    async fn with_keep_alive(&self, msg: &JobMessage) -> Mp4Outcome {
        let work = self.handle(&msg.event);
        tokio::pin!(work);
        loop {
            tokio::select! {
                r = &mut work => return match r {
                    Ok(o) => o,
                    Err(e) => Mp4Outcome::Retry(e.to_string()),
                },
                _ = tokio::time::sleep(Duration::from_secs(15)) => {
                    let _ = msg.in_progress().await;
                }
            }
        }
    }

    #[tracing::instrument(skip_all, fields(tenant = %job.tenant, video_id = %job.subject), err)]
    async fn handle(&self, job: &Event) -> Result<Mp4Outcome, Mp4Error> {
        let (tenant, video) = (job.tenant.as_str(), job.subject.as_str());
        let other = |e: &dyn std::fmt::Display| Mp4Error::Other(e.to_string());
        if self.tombstones.is_buried(tenant, video).await.map_err(|e| other(&e))? {
            return Ok(Mp4Outcome::Skipped("deleted"));
        }
        let Some(audio_only) = self.ready(job).await? else {
            return Ok(Mp4Outcome::Skipped("not ready"));
        };
        let setting = self.settings.effective(tenant, video).await.map_err(|e| other(&e))?;
        let prefix = hls_prefix(tenant, video);
        let Some(cur) = self.media.current(&prefix).await? else {
            return Err(Mp4Error::Other("a ready video without a version pointer".into()));
        };
        if !cur.pointer.complete {
            return Err(Mp4Error::Other("the live version is not complete yet".into()));
        }
        let version = cur.pointer.version;
        let dir = format!("{}/mp4", version_prefix(&prefix, &version));
        let wanted = setting.files(!audio_only);
        let mut removed = false;
        for stale in [Mp4File::Capped1080p, Mp4File::Audio] {
            let key = format!("{dir}/{}", stale.name());
            if !wanted.contains(&stale) && self.media.exists(&key).await? {
                self.media.delete_prefix(&key).await?;
                removed = true;
            }
        }
        let asked = matches!(job.data, EventData::Transcode(TranscodeData::Mp4Requested { .. }));
        if wanted.is_empty() && !removed && !asked {
            // A video becoming ready with `none`: nothing to say.
            return Ok(Mp4Outcome::Skipped("none wanted"));
        }
        let master = if wanted.is_empty() {
            MasterMedia::default()
        } else {
            let text = self
                .media
                .get_bytes(&format!("{}/master.m3u8", version_prefix(&prefix, &version)))
                .await?;
            parse_master(&String::from_utf8_lossy(&text), &prefix)
        };
        let (mut files, mut cpu) = (Vec::new(), 0.0);
        for file in wanted {
            let key = format!("{dir}/{}", file.name());
            let rendition = match file {
                Mp4File::Capped1080p => {
                    let rungs = master.rungs.iter().map(|r| (r.name.as_str(), r.height));
                    capped_rung(rungs).map(str::to_owned)
                }
                Mp4File::Audio => None,
            };
            let bytes = match self.media.size(&key).await? {
                Some(n) => n,
                None => {
                    let (n, c) = self.build(&master, file, rendition.as_deref(), &key).await?;
                    cpu += c;
                    n
                }
            };
            files.push(Mp4Output { name: file.name().to_owned(), bytes, rendition });
        }
        let discriminator = format!(
            "{version}/{}/{}",
            setting.as_str(),
            files.iter().map(|f| format!("{}:{}", f.name, f.bytes)).collect::<Vec<_>>().join(",")
        );
        let data = TranscodeData::Mp4Ready {
            mp4: setting,
            version,
            files: files.clone(),
            cpu_seconds: cpu,
        };
        let id = Event::deterministic_id(
            &job.tenant,
            &job.subject,
            Kind::Transcode,
            "mp4_ready",
            &discriminator,
        );
        let event = Event::new(
            id,
            time::OffsetDateTime::now_utc(),
            crate::emit::SOURCE,
            job.tenant.clone(),
            job.subject.clone(),
            data,
        )
        .caused_by(job);
        self.platform.events.publish(&event).await.map_err(|e| other(&e))?;
        Ok(Mp4Outcome::Done { setting, files, cpu_seconds: cpu })
    }

    /// `Some(audio_only)` once the video's `ready.published` is in the log.
    async fn ready(&self, job: &Event) -> Result<Option<bool>, Mp4Error> {
        if let EventData::Ready(ReadyData::Published { audio_only, .. }) = &job.data {
            return Ok(Some(*audio_only));
        }
        let subject =
            Subject::new(job.tenant.clone(), Kind::Ready, "published", job.subject.clone());
        let other = |e: &dyn std::fmt::Display| Mp4Error::Other(e.to_string());
        let stream =
            self.platform.js.get_stream_no_info(STREAM_VID).await.map_err(|e| other(&e))?;
        use async_nats::jetstream::stream::LastRawMessageErrorKind;
        let raw = match stream.get_last_raw_message_by_subject(&subject.to_string()).await {
            Ok(m) => m,
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => return Ok(None),
            Err(e) => return Err(other(&e)),
        };
        let event = Event::from_json(&raw.payload).map_err(|e| other(&e))?;
        match event.data {
            EventData::Ready(ReadyData::Published { audio_only, .. }) => Ok(Some(audio_only)),
            _ => Ok(None),
        }
    }

    /// Remuxes `file` into the store at `key`: its bytes and the CPU seconds spent.
    async fn build(
        &self,
        master: &MasterMedia,
        file: Mp4File,
        rung: Option<&str>,
        key: &str,
    ) -> Result<(u64, f64), Mp4Error> {
        let work = self.tmp.join(uuid::Uuid::now_v7().simple().to_string());
        tokio::fs::create_dir_all(&work).await.map_err(|source| io(&work, source))?;
        let res = self.build_in(&work, master, file, rung, key).await;
        let _ = tokio::fs::remove_dir_all(&work).await;
        res
    }

    async fn build_in(
        &self,
        work: &Path,
        master: &MasterMedia,
        file: Mp4File,
        rung: Option<&str>,
        key: &str,
    ) -> Result<(u64, f64), Mp4Error> {
        let mut inputs = Vec::new();
        if file.needs_video() {
            let rung = rung
                .and_then(|n| master.rungs.iter().find(|r| r.name == n))
                .ok_or_else(|| Mp4Error::Other("the master names no video rung".into()))?;
            inputs.push(self.concat(&rung.playlist, &work.join("video.mp4")).await?);
        }
        if let Some(audio) = &master.audio {
            inputs.push(self.concat(audio, &work.join("audio.mp4")).await?);
        } else if !file.needs_video() {
            return Err(Mp4Error::Other("the master names no audio rendition".into()));
        }
        let out = work.join(file.name());
        let args = remux_args(&inputs, file.needs_video(), &out);
        let stats =
            ffmpeg::run(&self.ffmpeg, &args, Priority::Normal, &self.cancel, &mut |_| {}).await?;
        let bytes = self.media.put_file(key, &out).await?;
        tracing::info!(key, bytes, cpu_secs = stats.cpu_secs, "static MP4 stored");
        Ok((bytes, stats.cpu_secs))
    }

    /// The init and segments of the media playlist at `playlist`, concatenated into `dest`.
    async fn concat(&self, playlist: &str, dest: &Path) -> Result<PathBuf, Mp4Error> {
        let text = self.media.get_bytes(playlist).await?;
        let pieces = parse_media(&String::from_utf8_lossy(&text), playlist)
            .ok_or_else(|| Mp4Error::Other(format!("unreadable media playlist {playlist}")))?;
        let mut out = tokio::fs::File::create(dest).await.map_err(|e| io(dest, e))?;
        let mut last_init: Option<bytes::Bytes> = None;
        for piece in pieces {
            let bytes = match &piece {
                Piece::Init(k) => {
                    let b = self.media.get_bytes(k).await?;
                    // An identical init repeated (a range's own `EXT-X-MAP`) is written once.
                    if last_init.as_ref() == Some(&b) {
                        continue;
                    }
                    last_init = Some(b.clone());
                    b
                }
                Piece::Segment(k) => self.media.get_bytes(k).await?,
            };
            out.write_all(&bytes).await.map_err(|e| io(dest, e))?;
        }
        out.flush().await.map_err(|e| io(dest, e))?;
        Ok(dest.to_owned())
    }
}

fn io(path: &Path, source: std::io::Error) -> Mp4Error {
    Mp4Error::Io { path: path.display().to_string(), source }
}

/// ffmpeg arguments: stream copy of the video of the first input (when `video`) and the audio
/// of the last, `moov` moved before `mdat`; `-benchmark` at log level `info` for the CPU time.
pub fn remux_args(inputs: &[PathBuf], video: bool, out: &Path) -> Vec<String> {
    let mut a: Vec<String> =
        ["-hide_banner", "-nostdin", "-nostats", "-loglevel", "info", "-benchmark", "-y"]
            .map(String::from)
            .to_vec();
    for i in inputs {
        a.extend(framelog_core::probe::input_fence_args().map(String::from));
        a.extend(["-i".to_owned(), framelog_core::probe::input_url(i)]);
    }
    if video {
        a.extend(["-map", "0:v:0"].map(String::from));
    }
    if !video || inputs.len() > 1 {
        a.extend(["-map".to_owned(), format!("{}:a:0", inputs.len() - 1)]);
    }
    a.extend(["-c", "copy", "-movflags", "+faststart", "-f", "mp4"].map(String::from));
    a.push(out.display().to_string());
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_remux_copies_video_and_audio_and_moves_the_index_first() {
        let a = remux_args(&["/t/v.mp4".into(), "/t/a.mp4".into()], true, Path::new("/t/o.mp4"));
        let s = a.join(" ");
        assert!(s.contains("-i file:/t/v.mp4") && s.contains("-i file:/t/a.mp4"), "{s}");
        assert!(s.contains("-map 0:v:0 -map 1:a:0 -c copy -movflags +faststart"), "{s}");
        assert!(!s.contains("libx264") && !s.contains("-c:v"), "never an encoder: {s}");
        let audio = remux_args(&["/t/a.mp4".into()], false, Path::new("/t/audio.m4a")).join(" ");
        assert!(audio.contains("-map 0:a:0") && !audio.contains(":v:"), "{audio}");
        let silent = remux_args(&["/t/v.mp4".into()], true, Path::new("/t/o.mp4")).join(" ");
        assert!(!silent.contains(":a:0"), "{silent}");
    }
}
