//! [`ItemRunner`]: encodes one work item of a chunked job ([`crate::chunked_job`]) on
//! whichever worker took it: it finds the source, plans the job again and checks that its plan
//! is the coordinator's ([`WorkPlan::hash`]), encodes the range (every rung, its thumbnails,
//! the poster if it falls in it) or the audio renditions, and stores the files under the job's
//! version with names unique to this attempt. The result (JSON) is what the coordinator
//! assembles from; the item's lease ([`crate::items`]) decides whose result counts.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use framelog_core::media::{SharedMediaStore, hls_prefix};
use framelog_events::AudioRendition;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::instrument;

use crate::command::{MEDIA_PLAYLIST, hls_args};
use crate::error::JobError;
use crate::ffmpeg::{self, FfmpegError, Priority};
use crate::item_worker::ItemHandler;
use crate::items::WorkItem;
use crate::job::{Shared, TMP_DIR};
use crate::master::AudioMedia;
use crate::outputs::{Deletion, MeasuredAudio, measure_all_audio};
use crate::publish::Version;
use crate::range_encode::{RangeJob, RangeOutput, encode_range};
use crate::source::Source;
use crate::work_plan::{AUDIO_ITEM, WorkPlan};

const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// The result of the audio item: every audio rendition, stored under `a-<token>/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioResult {
    pub token: String,
    pub tracks: Vec<AudioTrack>,
    pub cpu_secs: f64,
}

/// One audio rendition as stored (its playlist URI relative to the version).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioTrack {
    pub audio: AudioRendition,
    pub uri: String,
    pub group: String,
    pub name: String,
    pub language: Option<String>,
    pub channels: u32,
    pub codecs: String,
}

impl AudioTrack {
    fn of(m: MeasuredAudio, dir: &str) -> AudioTrack {
        AudioTrack {
            uri: format!("{dir}/{}", m.media.uri),
            group: m.media.group,
            name: m.media.name,
            language: m.media.language,
            channels: m.media.channels,
            codecs: m.media.codecs,
            audio: m.audio,
        }
    }

    /// The master entry and the event form of this rendition.
    pub fn measured(&self) -> MeasuredAudio {
        MeasuredAudio {
            audio: self.audio.clone(),
            media: AudioMedia {
                uri: self.uri.clone(),
                group: self.group.clone(),
                name: self.name.clone(),
                language: self.language.clone(),
                channels: self.channels,
                bandwidth: self.audio.bandwidth,
                average_bandwidth: self.audio.average_bandwidth,
                codecs: self.codecs.clone(),
            },
        }
    }
}

/// What an item result says when the video was deleted before it was encoded.
pub fn is_deleted_result(v: &serde_json::Value) -> bool {
    v.get("deleted").and_then(serde_json::Value::as_bool) == Some(true)
}

/// The [`ItemHandler`] of every transcoder.
#[derive(Debug, Clone)]
pub struct ItemRunner {
    pub shared: Arc<Shared>,
}

#[async_trait::async_trait]
impl ItemHandler for ItemRunner {
    async fn run(
        &self,
        item: &WorkItem,
        cancel: &CancellationToken,
    ) -> Result<serde_json::Value, JobError> {
        run_item(&self.shared, item, cancel).await
    }

    async fn discard(&self, item: &WorkItem, output: &serde_json::Value) {
        discard(&self.shared.ctx.media, item, output).await;
    }
}

/// Removes the files of an item result that was not stored (another attempt's won).
pub async fn discard(media: &SharedMediaStore, item: &WorkItem, output: &serde_json::Value) {
    let prefix = item_prefix(item);
    let mut keys = Vec::new();
    if let Ok(a) = serde_json::from_value::<AudioResult>(output.clone()) {
        keys.push(format!("{prefix}/a-{}", a.token));
    } else if let Ok(r) = serde_json::from_value::<RangeOutput>(output.clone()) {
        for rung in &r.rungs {
            keys.push(format!("{prefix}/{}/{}", rung.name, rung.init));
            keys.extend(rung.segments.iter().map(|s| format!("{prefix}/{}/{}", rung.name, s.uri)));
        }
        keys.extend(r.thumbs.iter().map(|t| format!("{prefix}/thumbs/{t}")));
        keys.extend(r.poster.iter().map(|p| format!("{prefix}/{p}")));
    }
    for k in keys {
        if let Err(e) = media.delete_prefix(&k).await {
            tracing::warn!(key = k, error = %e, "a discarded item's file was not removed");
        }
    }
}

fn token() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

/// Encodes `item` and stores its files; the result as JSON (`{"deleted": true}` when the video
/// is deleted).
#[instrument(skip_all, fields(tenant = %item.tenant, video = %item.video, item = %item.item), err)]
pub async fn run_item(
    shared: &Shared,
    item: &WorkItem,
    cancel: &CancellationToken,
) -> Result<serde_json::Value, JobError> {
    let media = &shared.ctx.media;
    let deletion =
        Deletion::new(shared.tombstones.clone(), media.clone(), &item.tenant, &item.video);
    if deletion.is_deleted().await? {
        return Ok(serde_json::json!({ "deleted": true }));
    }
    let tenant = framelog_events::TenantId::new(&item.tenant)
        .map_err(|e| JobError::output(Path::new(&item.item), e))?;
    crate::fence::check_source_key(&tenant, &item.source_key)?;
    let tmp_root = shared.ctx.platform.settings.data_dir.join(TMP_DIR);
    tokio::fs::create_dir_all(&tmp_root).await.map_err(JobError::io("creating the work dir"))?;
    let work = tempfile::Builder::new()
        .prefix(&format!("{}-{}-{}-", item.tenant, item.video, item.item))
        .tempdir_in(&tmp_root)
        .map_err(JobError::io("creating the work dir"))?;
    let source = crate::source::locate_source(media, &item.source_key, work.path()).await?;
    let inspection = source.inspect(PROBE_TIMEOUT).await?;
    let plan = WorkPlan::of(&inspection, &shared.settings, &shared.encoder)?;
    if plan.hash != item.plan_hash {
        return Err(JobError::OtherPlan { ours: plan.hash, theirs: item.plan_hash.clone() });
    }
    let version = Version::named(&item.tenant, &item.video, &item.version);
    let token = token();
    let out = work.path().join("out");
    tokio::fs::create_dir_all(&out).await.map_err(JobError::io("creating the output dir"))?;
    let store = Store { deletion: &deletion, shared, version: &version };
    if item.item == AUDIO_ITEM {
        let Some(audio) = &plan.audio else {
            return Err(JobError::output(Path::new(AUDIO_ITEM), "the source has no audio"));
        };
        let args = audio_args(&source, audio, &out, shared.settings.segment_secs);
        let stats = run_ffmpeg(shared, &args, cancel).await?;
        let dir = format!("a-{token}");
        let mut tracks = Vec::new();
        for m in measure_all_audio(&out, audio).await? {
            let name = m.audio.name.clone().unwrap_or_else(|| "audio".into());
            store.dir(&out.join(&name), &format!("{dir}/{name}")).await?;
            tracks.push(AudioTrack::of(m, &dir));
        }
        let result = AudioResult { token, tracks, cpu_secs: stats.cpu_secs };
        return Ok(serde_json::to_value(result).expect("a result is JSON"));
    }
    let Some(range) = plan.range(&item.item) else {
        return Err(JobError::output(Path::new(&item.item), "no such range in the plan"));
    };
    let job = RangeJob {
        input: &source,
        profiles: &plan.profiles,
        encoder: &shared.encoder,
        video: inspection.video.as_ref(),
        range,
        segment_secs: shared.settings.segment_secs,
        board: Some(&plan.board),
        poster_size: plan.poster_size,
        poster_at_secs: plan.poster_at_secs,
        out: &out,
        token: &token,
    };
    let ffmpeg = &shared.settings.ffmpeg;
    let result = match encode_range(&job, ffmpeg, Priority::Normal, cancel, &mut |_| {}).await {
        Err(JobError::Ffmpeg(FfmpegError::Cancelled)) => return Err(JobError::Cancelled),
        r => r?,
    };
    store.range(&out, &result).await?;
    Ok(serde_json::to_value(result).expect("a result is JSON"))
}

/// Stores an item's local files under its version.
struct Store<'a> {
    deletion: &'a Deletion,
    shared: &'a Shared,
    version: &'a Version,
}

impl Store<'_> {
    /// Every file of a range's result (not the range's own playlists).
    async fn range(&self, out: &Path, r: &RangeOutput) -> Result<(), JobError> {
        for rung in &r.rungs {
            let names = std::iter::once(&rung.init).chain(rung.segments.iter().map(|s| &s.uri));
            for name in names {
                self.file(&out.join(&rung.name).join(name), &format!("{}/{name}", rung.name))
                    .await?;
            }
        }
        for t in &r.thumbs {
            self.file(&out.join("thumbs").join(t), &format!("thumbs/{t}")).await?;
        }
        if let Some(p) = &r.poster {
            self.file(&out.join(p), p).await?;
        }
        Ok(())
    }

    /// Every file directly in `dir`, as `<rel>/<name>`.
    async fn dir(&self, dir: &Path, rel: &str) -> Result<(), JobError> {
        let mut entries =
            tokio::fs::read_dir(dir).await.map_err(JobError::io(format!("reading {rel}")))?;
        let mut files: Vec<PathBuf> = Vec::new();
        while let Some(e) = entries.next_entry().await.map_err(JobError::io("reading a dir"))? {
            files.push(e.path());
        }
        // The playlist last: it names the others.
        files.sort_by_key(|p| p.file_name().is_some_and(|n| n == MEDIA_PLAYLIST));
        for f in files {
            let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            self.file(&f, &format!("{rel}/{name}")).await?;
        }
        Ok(())
    }

    async fn file(&self, local: &Path, rel: &str) -> Result<(), JobError> {
        let media = &self.shared.ctx.media;
        self.version.store_file(self.deletion, media, rel, local).await?;
        Ok(())
    }
}

async fn run_ffmpeg(
    shared: &Shared,
    args: &[String],
    cancel: &CancellationToken,
) -> Result<ffmpeg::RunStats, JobError> {
    let ffmpeg = &shared.settings.ffmpeg;
    match ffmpeg::run(ffmpeg, args, Priority::Normal, cancel, &mut |_| {}).await {
        Ok(stats) => Ok(stats),
        Err(FfmpegError::Cancelled) => Err(JobError::Cancelled),
        Err(e) => Err(e.into()),
    }
}

/// Every audio rendition of `plan` into `<out>/<dir>/` (no video, no poster).
pub fn audio_args(
    source: &Source,
    plan: &crate::audio::AudioPlan,
    out: &Path,
    segment_secs: u32,
) -> Vec<String> {
    let mut a = crate::command::preamble();
    a.extend(source.input_args());
    a.extend(plan.map_args());
    a.extend(plan.codec_args());
    a.extend(hls_args(out, segment_secs, &plan.var_stream_entries().join(" ")));
    a
}

/// The version prefix an item's files go under (for tests and tools).
pub fn item_prefix(item: &WorkItem) -> String {
    framelog_core::media::versions::version_prefix(
        &hls_prefix(&item.tenant, &item.video),
        &item.version,
    )
}
