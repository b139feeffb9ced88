//! One video job split into work items (issue 16): the job's worker is the *coordinator*.
//!
//! 1. It plans the job ([`WorkPlan`]): the rungs, the ranges of the source
//!    ([`crate::chunks`]: exact multiples of the segment length, range 0 shortest), the audio.
//! 2. A source browsers can play as it is ([`crate::passthrough`]) is packaged by stream copy
//!    into the version's `source/` rendition and published with a master naming only it:
//!    `playable` before any encode starts.
//! 3. Every item goes on the `VID_WORK` queue, where any transcoder may take it; the
//!    coordinator itself walks the items in order and encodes each one whose lease it can take
//!    ([`crate::items`]): with no other worker it does them all, with others it shares them.
//! 4. As results land (watched in the results bucket), the playlists grow in order: without a
//!    passthrough, once range 0 and the audio are done the master names every rung and their
//!    media playlists are `EVENT` playlists that players reload as they grow (starting at 0).
//! 5. With every item done: VOD playlists, I-frame playlists, the storyboard sheets tiled from
//!    the ranges' thumbnails, the poster, the measured master; the pointer marks the version
//!    complete; `rendition_completed`, `completed` (CPU summed once per item, from the results
//!    that won) and `VID_READY`; the marker; the items are forgotten.
//!
//! A retry of the job (a new coordinator after a crash) plans the same version and finds the
//! items already done in the results bucket: only the missing ones are encoded again.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use framelog_core::media::hls_prefix;
use framelog_core::probe::Inspection;
use framelog_events::{ReadyData, Rendition, TranscodeData};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use tracing::instrument;

use crate::assemble;
use crate::command::{MEDIA_PLAYLIST, poster_args};
use crate::emit::Emitter;
use crate::error::JobError;
use crate::ffmpeg::{self, Priority};
use crate::iframes::IFrameVariant;
use crate::item_runner::{AudioResult, discard, is_deleted_result, run_item};
use crate::items::{ItemLease, ItemResult, Take, WorkItem};
use crate::job::{Done, Report, Shared, finish, write};
use crate::master::{AudioMedia, Variant};
use crate::outputs::{Deletion, MeasuredAudio, master_audio};
use crate::passthrough::{self, Packaged};
use crate::progress::{Progress, Reporter};
use crate::publish::Version;
use crate::range_encode::RangeOutput;
use crate::source::Source;
use crate::storyboard::storyboard_vtt;
use crate::work_plan::{AUDIO_ITEM, WorkPlan, range_index};

/// What the coordinator of one chunked job needs from `job.rs`.
pub(crate) struct Coordinator<'a> {
    pub shared: &'a Shared,
    pub emit: &'a Emitter,
    pub deletion: &'a Deletion,
    pub attempt: u32,
    pub started: Instant,
    pub source: &'a Source,
    pub source_key: &'a str,
    pub work: &'a Path,
    pub inspection: &'a Inspection,
    pub reporter: Reporter,
    /// The job's token (deadline and deletion); shutdown is `shutdown`.
    pub cancel: &'a CancellationToken,
    pub shutdown: &'a CancellationToken,
}

/// The results gathered so far.
#[derive(Default)]
struct Gathered {
    ranges: BTreeMap<u32, RangeOutput>,
    audio: Option<AudioResult>,
    /// CPU seconds of the results that won, once per item.
    cpu: f64,
}

impl Gathered {
    /// Takes in one item's result; `Err` when the item failed for good or the video is gone.
    fn absorb(&mut self, item: &str, r: ItemResult) -> Result<bool, JobError> {
        let v = match r {
            ItemResult::Done(v) => v,
            ItemResult::Failed { reason, attempts } => {
                return Err(JobError::ItemFailed {
                    item: item.to_owned(),
                    reason: format!("{reason} (after {attempts} attempts)"),
                });
            }
        };
        if is_deleted_result(&v) {
            return Err(JobError::Deleted);
        }
        let bad = |e: serde_json::Error| JobError::Items(format!("result of {item}: {e}"));
        if item == AUDIO_ITEM {
            if self.audio.is_none() {
                let a: AudioResult = serde_json::from_value(v).map_err(bad)?;
                self.cpu += a.cpu_secs;
                self.audio = Some(a);
                return Ok(true);
            }
        } else if let Some(i) = range_index(item)
            && !self.ranges.contains_key(&i)
        {
            let r: RangeOutput = serde_json::from_value(v).map_err(bad)?;
            self.cpu += r.cpu_secs;
            self.ranges.insert(i, r);
            return Ok(true);
        }
        Ok(false)
    }

    fn has(&self, item: &str) -> bool {
        match range_index(item) {
            Some(i) => self.ranges.contains_key(&i),
            None => self.audio.is_some(),
        }
    }

    fn audio_measured(&self) -> Vec<MeasuredAudio> {
        self.audio.iter().flat_map(|a| a.tracks.iter().map(|t| t.measured())).collect()
    }
}

fn names(plan: &WorkPlan) -> Vec<String> {
    plan.profiles.iter().map(|p| p.name.clone()).collect()
}

fn items_err(e: impl std::fmt::Display) -> JobError {
    JobError::Items(e.to_string())
}

impl Coordinator<'_> {
    /// Runs the job to `VID_READY`.
    #[instrument(skip_all, err)]
    pub(crate) async fn run(self) -> Result<Done, JobError> {
        let (shared, emit) = (self.shared, self.emit);
        let (tenant, video) = (emit.tenant().as_str(), emit.video().as_str());
        let media = &shared.ctx.media;
        let plan = WorkPlan::of(self.inspection, &shared.settings, &shared.encoder)?;
        let version = Version::for_request(&shared.ctx, tenant, video, emit.request()).await;
        version.note_stored(media).await;
        emit.emit(
            TranscodeData::Started {
                worker: shared.worker.clone(),
                encoder: shared.encoder.codec.clone(),
                attempt: self.attempt,
                profiles: names(&plan),
            },
            &self.attempt.to_string(),
        )
        .await?;
        let grace = shared.settings.version_grace_secs;
        let mut time_to_playable = None;
        let mut cpu = 0.0;
        let passthrough =
            if shared.settings.chunks.passthrough && version.early_allowed(media).await? {
                self.passthrough(&version, grace).await?
            } else {
                None
            };
        if let Some(p) = &passthrough {
            cpu += p.cpu_secs;
            time_to_playable = Some(self.started.elapsed());
        }
        let gathered =
            self.gather(&plan, &version, passthrough.is_some(), &mut time_to_playable).await?;
        cpu += gathered.cpu;
        self.reporter.set(Progress { percent: 96.0, eta_secs: None, stage: "publishing" });
        let finals = self.publish_final(&plan, &version, &gathered, passthrough.as_ref()).await?;
        version.go_live(self.deletion, media, true, grace).await?;
        let renditions = finals.renditions;
        for r in &renditions {
            emit.emit(TranscodeData::RenditionCompleted { rendition: r.clone() }, &r.name).await?;
        }
        if time_to_playable.is_none() {
            emit.emit(TranscodeData::Playable { renditions: names(&plan) }, "").await?;
            time_to_playable = Some(self.started.elapsed());
        }
        if passthrough.is_some() && !shared.settings.chunks.keep_passthrough {
            self.remove_passthrough_later(&version, plan.duration_secs, grace);
        }
        let audio = gathered.audio_measured();
        let wall = self.started.elapsed();
        let cpu_seconds = (cpu * 1000.0).round() / 1000.0;
        let prefix = hls_prefix(tenant, video);
        let completed = emit.event(
            TranscodeData::Completed {
                renditions: renditions.clone(),
                audio: audio.first().map(|a| a.audio.clone()),
                more_audio: audio.iter().skip(1).map(|a| a.audio.clone()).collect(),
                cpu_seconds,
                wall_secs: (wall.as_secs_f64() * 1000.0).round() / 1000.0,
                source_duration_secs: plan.duration_secs,
                encoder: shared.encoder.codec.clone(),
            },
            "",
        );
        let ready = emit.event(
            ReadyData::Published {
                renditions: names(&plan),
                duration_secs: plan.duration_secs,
                poster: format!("{prefix}/poster.jpg"),
                storyboard: format!("{prefix}/storyboard.vtt"),
                audio_only: false,
            },
            "",
        );
        let finals = [completed, ready];
        finish(
            shared,
            emit,
            self.deletion,
            &prefix,
            self.work,
            &finals,
            names(&plan),
            self.shutdown,
        )
        .await?;
        if let Err(e) = shared.items.forget(tenant, video, &version.id).await {
            tracing::warn!(error = %e, "the job's work items were not forgotten (they expire)");
        }
        self.reporter.finish(Progress { percent: 100.0, eta_secs: Some(0.0), stage: "done" }).await;
        Ok(Done::Completed(Report {
            renditions,
            cpu_seconds,
            wall,
            time_to_playable: time_to_playable.unwrap_or(wall),
            source_secs: plan.duration_secs,
        }))
    }

    /// Enqueues every item, encodes those this worker can take, and waits for the rest.
    async fn gather(
        &self,
        plan: &WorkPlan,
        version: &Version,
        passthrough: bool,
        time_to_playable: &mut Option<Duration>,
    ) -> Result<Gathered, JobError> {
        let (shared, emit) = (self.shared, self.emit);
        let (tenant, video) = (emit.tenant().as_str(), emit.video().as_str());
        let items = &shared.items;
        let request = emit.request();
        let work: Vec<WorkItem> = plan
            .items()
            .into_iter()
            .map(|item| WorkItem {
                tenant: tenant.to_owned(),
                video: video.to_owned(),
                request_id: request.id.to_string(),
                request_seq: 0,
                version: version.id.clone(),
                source_key: self.source_key.to_owned(),
                item,
                plan_hash: plan.hash.clone(),
                job_attempt: self.attempt,
            })
            .collect();
        let mut got = Gathered::default();
        let mut watch = items.watch(tenant, video, &version.id).await.map_err(items_err)?;
        for w in &work {
            // A new attempt of the job tries again what an earlier one dead-lettered.
            if items.retry_failed(w).await.map_err(items_err)? {
                tracing::info!(item = %w.item, "a dead-lettered item is tried again");
            } else if let Some(ItemResult::Done(v)) = items.result(w).await.map_err(items_err)?
                && !self.files_stored(version, &v).await?
            {
                // An earlier attempt's result whose files were collected meanwhile.
                tracing::warn!(item = %w.item, "a done item's files are gone: done again");
                items.reset(w).await.map_err(items_err)?;
            }
            if let Err(e) = items.enqueue(w).await {
                tracing::warn!(item = %w.item, error = %e, "not queued: this worker encodes it");
            }
        }
        let ttl = shared.settings.lease_ttl();
        let mut held_until: HashMap<String, Instant> = HashMap::new();
        let mut published = 0usize;
        loop {
            self.deletion.check().await?;
            if self.cancel.is_cancelled() {
                return Err(JobError::Cancelled);
            }
            let pending: Vec<&WorkItem> = work.iter().filter(|w| !got.has(&w.item)).collect();
            if pending.is_empty() {
                return Ok(got);
            }
            let now = Instant::now();
            let next = pending.iter().find(|w| held_until.get(&w.item).is_none_or(|t| *t <= now));
            let mut changed = false;
            if let Some(w) = next {
                match items.take(w, &shared.worker).await.map_err(items_err)? {
                    Take::Finished(r) => changed |= got.absorb(&w.item, r)?,
                    Take::Held => {
                        held_until.insert(w.item.clone(), now + ttl);
                    }
                    Take::Taken(lease) => {
                        let work = |token: CancellationToken| async move {
                            run_item(shared, w, &token).await
                        };
                        match lease.run(work, || async {}, self.cancel).await {
                            Ok((result, lease)) => {
                                changed |= self.settle_local(w, result, lease, &mut got).await?;
                            }
                            Err(e) => {
                                tracing::warn!(item = %w.item, error = %e, "item lease lost");
                            }
                        }
                    }
                }
            } else {
                let wait = ttl.min(Duration::from_secs(2));
                tokio::select! {
                    r = watch.next() => match r {
                        Some((item, r)) => changed |= got.absorb(&item, r)?,
                        None => tokio::time::sleep(wait).await,
                    },
                    () = tokio::time::sleep(wait) => {}
                    () = self.cancel.cancelled() => return Err(JobError::Cancelled),
                }
            }
            // Whatever else has landed meanwhile.
            while let Some(Some((item, r))) = futures::FutureExt::now_or_never(watch.next()) {
                changed |= got.absorb(&item, r)?;
            }
            if changed {
                let done = assemble::done_fraction(&plan.chunks, &got.ranges);
                self.reporter.set(self.progress(done));
                let contiguous = assemble::contiguous(&got.ranges).len();
                let audio_ready = plan.audio.is_none() || got.audio.is_some();
                if !passthrough
                    && audio_ready
                    && contiguous > published
                    && contiguous < plan.chunks.ranges.len()
                {
                    self.publish_growing(plan, version, &got).await?;
                    published = contiguous;
                    if time_to_playable.is_none() {
                        emit.emit(TranscodeData::Playable { renditions: names(plan) }, "").await?;
                        *time_to_playable = Some(self.started.elapsed());
                        tracing::info!(
                            secs = self.started.elapsed().as_secs_f64(),
                            "first range playable"
                        );
                    }
                }
            }
        }
    }

    /// Settles an item this worker ran: its result stored (or discarded if another won), the
    /// lease handed back on shutdown, the failure counted. Returns whether a result was added.
    async fn settle_local(
        &self,
        w: &WorkItem,
        result: Result<serde_json::Value, JobError>,
        lease: ItemLease,
        got: &mut Gathered,
    ) -> Result<bool, JobError> {
        let items = &self.shared.items;
        match result {
            Ok(value) => {
                if !lease.complete(value.clone()).await.unwrap_or(false) {
                    discard(&self.shared.ctx.media, w, &value).await;
                }
                match items.result(w).await.map_err(items_err)? {
                    Some(r) => got.absorb(&w.item, r),
                    None => Ok(false),
                }
            }
            Err(JobError::Cancelled | JobError::OtherPlan { .. }) => {
                let _ = lease.hand_back().await;
                if self.cancel.is_cancelled() {
                    return Err(JobError::Cancelled);
                }
                Ok(false)
            }
            Err(JobError::Deleted) => Err(JobError::Deleted),
            Err(e) => {
                tracing::warn!(item = %w.item, error = %e, "item failed here");
                let reason = e.to_string();
                let dead = if e.is_permanent() {
                    lease.dead_letter(&reason).await.map(|()| true)
                } else {
                    lease.fail(&reason).await
                };
                if dead.map_err(items_err)? {
                    return Err(JobError::ItemFailed { item: w.item.clone(), reason });
                }
                Ok(false)
            }
        }
    }

    /// Whether the files an earlier result names are still stored (one per rendition).
    async fn files_stored(
        &self,
        version: &Version,
        v: &serde_json::Value,
    ) -> Result<bool, JobError> {
        let media = &self.shared.ctx.media;
        let keys: Vec<String> = if let Ok(a) = serde_json::from_value::<AudioResult>(v.clone()) {
            a.tracks.iter().map(|t| format!("{}/{}", version.prefix, t.uri)).collect()
        } else if let Ok(r) = serde_json::from_value::<RangeOutput>(v.clone()) {
            r.rungs.iter().map(|g| format!("{}/{}/{}", version.prefix, g.name, g.init)).collect()
        } else {
            return Ok(true);
        };
        for k in keys {
            if !media.exists(&k).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn progress(&self, done: f64) -> Progress {
        let elapsed = self.started.elapsed().as_secs_f64();
        let eta = (done > 0.02).then(|| elapsed * (1.0 - done) / done);
        Progress { percent: (done * 95.0).clamp(0.0, 95.0), eta_secs: eta, stage: "encoding" }
    }

    /// The video codecs of each rung, from range 0's init segments.
    async fn rung_codecs(
        &self,
        version: &Version,
        r0: &RangeOutput,
    ) -> Result<HashMap<String, String>, JobError> {
        let mut out = HashMap::new();
        for rung in &r0.rungs {
            let local = self.work.join(format!("init-{}.mp4", rung.name));
            let key = format!("{}/{}/{}", version.prefix, rung.name, rung.init);
            self.shared.ctx.media.fetch_to(&key, &local).await?;
            let bytes = tokio::fs::read(&local).await.map_err(JobError::io("reading an init"))?;
            let codecs =
                crate::codecs::video_codecs(&bytes).map_err(|e| JobError::output(&local, e))?;
            out.insert(rung.name.clone(), codecs);
        }
        Ok(out)
    }

    /// Rewrites the growing playlists and master, and makes the version live (incomplete).
    async fn publish_growing(
        &self,
        plan: &WorkPlan,
        version: &Version,
        got: &Gathered,
    ) -> Result<(), JobError> {
        let ranges = assemble::contiguous(&got.ranges);
        let Some(r0) = ranges.first() else { return Ok(()) };
        let codecs = self.rung_codecs(version, r0).await?;
        let seg = self.shared.settings.segment_secs;
        let store = Stored { c: self, version };
        let mut variants = Vec::new();
        for p in &plan.profiles {
            store
                .text(
                    &format!("{}/{MEDIA_PLAYLIST}", p.name),
                    assemble::media_playlist(&p.name, &ranges, false, seg),
                )
                .await?;
            let c = codecs.get(&p.name).cloned().unwrap_or_default();
            variants.push(version.variant(&assemble::variant(p, &ranges, &c, seg)));
        }
        let audio: Vec<AudioMedia> =
            master_audio(&got.audio_measured()).iter().map(|a| version.audio(a)).collect();
        store.text("master.m3u8", assemble::growing_master(&variants, &audio, &[])).await?;
        let grace = self.shared.settings.version_grace_secs;
        version.go_live(self.deletion, &self.shared.ctx.media, false, grace).await?;
        Ok(())
    }

    /// Stores the complete playlists, storyboard and poster; returns the renditions.
    async fn publish_final(
        &self,
        plan: &WorkPlan,
        version: &Version,
        got: &Gathered,
        passthrough: Option<&Packaged>,
    ) -> Result<Finals, JobError> {
        let ranges: Vec<&RangeOutput> = got.ranges.values().collect();
        let r0 = ranges.first().ok_or_else(|| JobError::Items("no range was encoded".into()))?;
        let codecs = self.rung_codecs(version, r0).await?;
        let seg = self.shared.settings.segment_secs;
        let store = Stored { c: self, version };
        let audio = got.audio_measured();
        let default_audio = audio.first().map(|a| a.audio.clone());
        let (mut variants, mut iframes, mut renditions) = (Vec::new(), Vec::new(), Vec::new());
        for p in &plan.profiles {
            store
                .text(
                    &format!("{}/{MEDIA_PLAYLIST}", p.name),
                    assemble::media_playlist(&p.name, &ranges, true, seg),
                )
                .await?;
            store
                .text(
                    &format!("{}/iframes.m3u8", p.name),
                    assemble::iframe_playlist(&p.name, &ranges, true),
                )
                .await?;
            let c = codecs.get(&p.name).cloned().unwrap_or_default();
            let v = assemble::variant(p, &ranges, &c, seg);
            renditions.push(rendition(p, &v, &ranges, default_audio.as_ref()));
            variants.push(version.variant(&v));
            let iv = assemble::iframe_variant(p, &ranges, &c);
            iframes.push(IFrameVariant { uri: version.rooted(&iv.uri), ..iv });
        }
        if let (Some(p), true) = (passthrough, self.shared.settings.chunks.keep_passthrough) {
            variants.push(version.variant(&p.variant));
        }
        let audio_media: Vec<AudioMedia> =
            master_audio(&audio).iter().map(|a| version.audio(a)).collect();
        self.storyboard(plan, version, &ranges).await?;
        self.poster(plan, version, &ranges).await?;
        store
            .text("master.m3u8", assemble::growing_master(&variants, &audio_media, &iframes))
            .await?;
        Ok(Finals { renditions })
    }

    /// Tiles the ranges' thumbnails into sheets and writes the storyboard.
    async fn storyboard(
        &self,
        plan: &WorkPlan,
        version: &Version,
        ranges: &[&RangeOutput],
    ) -> Result<(), JobError> {
        let dir = self.work.join("thumbs");
        tokio::fs::create_dir_all(&dir).await.map_err(JobError::io("creating the thumbs dir"))?;
        let mut thumbs: Vec<PathBuf> = Vec::new();
        for name in ranges.iter().flat_map(|r| r.thumbs.iter()) {
            let local = dir.join(name);
            self.shared
                .ctx
                .media
                .fetch_to(&format!("{}/thumbs/{name}", version.prefix), &local)
                .await?;
            thumbs.push(local);
        }
        let sheets_dir = self.work.join("sheets");
        tokio::fs::create_dir_all(&sheets_dir)
            .await
            .map_err(JobError::io("creating the sheets dir"))?;
        let settings = &self.shared.settings;
        let sheets = if thumbs.is_empty() {
            0
        } else {
            crate::sheets::tile(&settings.ffmpeg, &thumbs, &plan.board, &sheets_dir, self.cancel)
                .await?
        };
        let store = Stored { c: self, version };
        for k in 0..sheets {
            let name = crate::storyboard::Storyboard::sheet_name(k);
            store.file(&sheets_dir.join(&name), &name).await?;
        }
        store.text("storyboard.vtt", storyboard_vtt(&plan.board, &version.rooted(""), sheets)).await
    }

    /// The poster tapped by its range, or (a video track that ends early) the first frame.
    async fn poster(
        &self,
        plan: &WorkPlan,
        version: &Version,
        ranges: &[&RangeOutput],
    ) -> Result<(), JobError> {
        let local = self.work.join("poster.jpg");
        if let Some(name) = ranges.iter().find_map(|r| r.poster.as_ref()) {
            self.shared.ctx.media.fetch_to(&format!("{}/{name}", version.prefix), &local).await?;
        } else {
            let args =
                poster_args(self.source, self.inspection.video.as_ref(), plan.poster_size, &local);
            let ffmpeg = &self.shared.settings.ffmpeg;
            ffmpeg::run(ffmpeg, &args, Priority::Normal, self.cancel, &mut |_| {}).await?;
        }
        Stored { c: self, version }.file(&local, "poster.jpg").await
    }

    /// Removes the passthrough rendition once players that started on it have had time to
    /// finish (the source's duration plus the grace period); a restart leaves it (logged).
    fn remove_passthrough_later(&self, version: &Version, duration: f64, grace: u64) {
        let media = self.shared.ctx.media.clone();
        let prefix = version.prefix.clone();
        let wait = Duration::from_secs_f64(duration.max(0.0)) + Duration::from_secs(grace);
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            for dir in [passthrough::SOURCE_RENDITION, passthrough::SOURCE_AUDIO] {
                if let Err(e) = media.delete_prefix(&format!("{prefix}/{dir}")).await {
                    tracing::warn!(prefix, error = %e, "the passthrough rendition was not removed");
                }
            }
        });
    }
}

/// What the final publication made.
struct Finals {
    renditions: Vec<Rendition>,
}

/// The event form of one rung, played with the default audio.
fn rendition(
    p: &crate::profile::Profile,
    v: &Variant,
    ranges: &[&RangeOutput],
    audio: Option<&framelog_events::AudioRendition>,
) -> Rendition {
    let bytes: u64 = ranges
        .iter()
        .flat_map(|r| r.rungs.iter().filter(|g| g.name == p.name))
        .flat_map(|g| g.segments.iter().map(|s| s.bytes))
        .sum();
    let mut r = Rendition {
        name: p.name.clone(),
        width: p.width,
        height: p.height,
        fps: (p.fps.as_f64() * 1000.0).round() / 1000.0,
        bandwidth: v.bandwidth,
        average_bandwidth: v.average_bandwidth,
        codecs: v.codecs.clone(),
        bytes,
    };
    if let Some(a) = audio {
        r.bandwidth += a.bandwidth;
        r.average_bandwidth += a.average_bandwidth;
        r.codecs = format!("{},{}", r.codecs, a.codecs);
    }
    r
}

/// Stores the coordinator's local files and texts under the version.
pub(crate) struct Stored<'a, 'b> {
    pub(crate) c: &'a Coordinator<'b>,
    pub(crate) version: &'a Version,
}

impl Stored<'_, '_> {
    pub(crate) async fn file(&self, local: &Path, rel: &str) -> Result<(), JobError> {
        let media = &self.c.shared.ctx.media;
        self.version.store_file(self.c.deletion, media, rel, local).await?;
        Ok(())
    }

    pub(crate) async fn text(&self, rel: &str, text: String) -> Result<(), JobError> {
        let local = self.c.work.join(format!("text-{}", uuid::Uuid::new_v4().simple()));
        write(&local, text).await?;
        self.file(&local, rel).await
    }

    /// Every file under `dir` (one level of subdirectories at most), the playlists last.
    pub(crate) async fn dir(&self, dir: &Path, rel: &str) -> Result<(), JobError> {
        let mut entries =
            tokio::fs::read_dir(dir).await.map_err(JobError::io(format!("reading {rel}")))?;
        let mut files = Vec::new();
        while let Some(e) = entries.next_entry().await.map_err(JobError::io("reading a dir"))? {
            files.push(e.path());
        }
        files.sort_by_key(|p| p.extension().is_some_and(|x| x == "m3u8"));
        for f in files {
            let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            self.file(&f, &format!("{rel}/{name}")).await?;
        }
        Ok(())
    }
}
