//! The sweeper: videos stuck in processing reach a terminal state.
//!
//! A job can be lost outside the consumer's redelivery: the durable consumer deleted and
//! recreated past it, a request published before the consumer existed under a deliver policy
//! that skips it, a message acked by mistake. Its video stays `processing` forever. Every
//! `--transcode-sweep-interval-secs`, one transcoder replica at a time (a lock in the
//! `framelog_transcode_sweeper` KV bucket, taken by compare-and-set with an expiry) sweeps:
//!
//! 1. it reads the `transcode.requested` events appended to `VID` since its cursor (direct gets
//!    by subject, so only requests are read) into a watch list in the same bucket
//!    (`w.<tenant>.<video>` → the request's sequence and how often it was rescheduled);
//! 2. for every watched video it reads the latest `vid.<tenant>.transcode.*.<video>` fact
//!    (a direct get of the last message by subject) and [`judge`]s: a terminal fact
//!    (completed, dead-lettered, failed for good) or a deleted video is forgotten; a fact
//!    younger than `--transcode-stuck-after-secs`, a live lease or a job still in the queue
//!    (its sequence above the consumer's ack floor) waits; anything else is stuck. A stuck
//!    video is requested again once (a new `transcode.requested` caused by the first, with a
//!    deterministic id), then dead-lettered with a reason saying so.
//!
//! Each sweep also collects old output versions ([`crate::version_gc`]): retired ones past
//! their grace period and ones no pointer ever named, whatever restarted meanwhile.

use std::time::Duration;

use async_nats::jetstream::consumer::{PullConsumer, pull};
use async_nats::jetstream::stream::{DirectGetErrorKind, Stream};
use async_nats::jetstream::{self, kv};
use framelog_core::nats::STREAM_VID;
use framelog_core::service::ServiceContext;
use framelog_core::tombstones::Tombstones;
use framelog_events::{Event, EventData, Kind, TranscodeData};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::task::JoinHandle;

use crate::consumer::DURABLE;
use crate::emit::{Emitter, SOURCE};
use crate::lease::{self, Holder, Leases};
use crate::settings::TranscoderSettings;
use crate::version_gc::{Journal, collect_versions};

/// KV bucket of the sweeper: its lock, its cursor in `VID`, the watch list.
pub const KV_SWEEPER: &str = "framelog_transcode_sweeper";
/// Times a stuck video is requested again before it is dead-lettered.
pub const MAX_RESCHEDULES: u32 = 1;
/// Requests read from the log per sweep (the rest next time).
const MAX_SCAN: usize = 10_000;
const LOCK: &str = "lock";
const CURSOR: &str = "cursor";

/// A watched video.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watched {
    /// Sequence of its latest `transcode.requested`.
    pub request_seq: u64,
    pub reschedules: u32,
}

/// The latest transcode fact of a video, as the sweeper sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Latest {
    /// Completed, dead-lettered or failed for good.
    Terminal,
    /// Anything else (`requested`, `started`, a retried failure...), this old.
    Open { phase: String, age: Duration },
}

/// What the sweeper does with a watched video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Forget,
    Wait,
    Reschedule,
    DeadLetter { reason: String },
}

/// Decides for a watched video (pure).
pub fn judge(
    w: &Watched,
    latest: &Latest,
    deleted: bool,
    lease_live: bool,
    queued: bool,
    stuck_after: Duration,
) -> Verdict {
    let (phase, age) = match latest {
        _ if deleted => return Verdict::Forget,
        Latest::Terminal => return Verdict::Forget,
        Latest::Open { phase, age } => (phase, *age),
    };
    if age < stuck_after || lease_live || queued {
        return Verdict::Wait;
    }
    if w.reschedules < MAX_RESCHEDULES {
        return Verdict::Reschedule;
    }
    Verdict::DeadLetter {
        reason: format!(
            "stuck in processing: its latest fact ({phase}) is {}s old, no worker holds it and \
             no job for it is queued (its job message was lost); requested again {} time(s) \
             without effect",
            age.as_secs(),
            w.reschedules
        ),
    }
}

/// The latest fact of a video from its event (pure).
pub fn latest_of(event: &Event, age: Duration) -> Latest {
    match &event.data {
        EventData::Transcode(
            TranscodeData::Completed { .. }
            | TranscodeData::DeadLettered { .. }
            | TranscodeData::Failed { permanent: true, .. },
        ) => Latest::Terminal,
        data => Latest::Open { phase: data.phase().to_owned(), age },
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swept {
    /// Another replica holds the lock: nothing done.
    pub locked_out: bool,
    pub watched: usize,
    pub rescheduled: usize,
    pub dead_lettered: usize,
    pub forgotten: usize,
    /// Output versions removed (retired past their grace, or never made live).
    pub versions_removed: usize,
}

/// One replica's sweeper.
pub struct Sweeper {
    ctx: ServiceContext,
    settings: TranscoderSettings,
    name: String,
    kv: kv::Store,
    leases: Leases,
    tombstones: Tombstones,
    journal: Journal,
}

impl std::fmt::Debug for Sweeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sweeper").field("name", &self.name).finish()
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl Sweeper {
    pub async fn open(
        ctx: &ServiceContext,
        settings: &TranscoderSettings,
        name: &str,
    ) -> Result<Sweeper, String> {
        let js = &ctx.platform.js;
        let replicas = ctx.platform.settings.replicas.max(1);
        let kv = js
            .create_or_update_key_value(kv::Config {
                bucket: KV_SWEEPER.into(),
                description: "Framelog transcode sweeper: lock, cursor, watched videos".into(),
                history: 1,
                storage: jetstream::stream::StorageType::File,
                num_replicas: replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("opening the {KV_SWEEPER} bucket: {e}"))?;
        Ok(Sweeper {
            ctx: ctx.clone(),
            settings: settings.clone(),
            name: name.to_owned(),
            kv,
            leases: Leases::open(js, replicas).await?,
            tombstones: Tombstones::open(js).await.map_err(err)?,
            journal: Journal::open(js, replicas).await?,
        })
    }

    /// Takes (or keeps) the sweeper lock for `ttl`; false if another replica holds it.
    async fn lock(&self, ttl: Duration) -> Result<bool, String> {
        let entry = self.kv.entry(LOCK).await.map_err(err)?;
        let now = lease::now_ms();
        let current = entry.as_ref().and_then(|e| serde_json::from_slice::<Holder>(&e.value).ok());
        if current.is_some_and(|h| h.live(now) && h.worker != self.name) {
            return Ok(false);
        }
        let me = Holder {
            worker: self.name.clone(),
            token: self.name.clone(),
            expires_at_ms: now + u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
        };
        let value = serde_json::to_vec(&me).expect("a holder serialises").into();
        let written = match entry {
            Some(e) => self.kv.update(LOCK, value, e.revision).await.map(|_| ()).map_err(err),
            None => self.kv.create(LOCK, value).await.map(|_| ()).map_err(err),
        };
        Ok(written.is_ok())
    }

    /// One sweep (see the module doc).
    pub async fn sweep(&self) -> Result<Swept, String> {
        let lock_ttl =
            self.settings.sweep_interval().unwrap_or_default() * 2 + Duration::from_secs(60);
        if !self.lock(lock_ttl).await? {
            return Ok(Swept { locked_out: true, ..Default::default() });
        }
        let grace = Duration::from_secs(self.settings.version_grace_secs);
        let now = OffsetDateTime::now_utc().unix_timestamp();
        // A failed collection never stops the sweep for stuck videos.
        let versions = collect_versions(&self.journal, &self.ctx.media, &self.leases, now, grace)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "collecting old output versions failed");
                Default::default()
            });
        let stream = self.ctx.platform.js.get_stream(STREAM_VID).await.map_err(err)?;
        self.scan(&stream).await?;
        // No consumer yet: every request will be delivered when one is created.
        let Ok(mut consumer) = stream.get_consumer::<pull::Config>(DURABLE).await else {
            return Ok(Swept { versions_removed: versions.removed, ..Default::default() });
        };
        let floor = PullConsumer::info(&mut consumer).await.map_err(err)?.ack_floor.stream_sequence;
        let mut out = Swept { versions_removed: versions.removed, ..Default::default() };
        let mut keys = self.kv.keys().await.map_err(err)?;
        let mut watched = Vec::new();
        while let Some(k) = keys.next().await {
            let k = k.map_err(err)?;
            if let Some(rest) = k.strip_prefix("w.") {
                watched.push(rest.to_owned());
            }
        }
        for key in watched {
            out.watched += 1;
            match self.check(&stream, &key, floor).await {
                Ok(Verdict::Forget) => out.forgotten += 1,
                Ok(Verdict::Reschedule) => out.rescheduled += 1,
                Ok(Verdict::DeadLetter { .. }) => out.dead_lettered += 1,
                Ok(Verdict::Wait) => {}
                Err(e) => tracing::warn!(video = %key, error = %e, "sweeping a video failed"),
            }
        }
        Ok(out)
    }

    /// Adds the requests appended since the cursor to the watch list.
    async fn scan(&self, stream: &Stream) -> Result<(), String> {
        let cursor = self.kv.get(CURSOR).await.map_err(err)?;
        let mut seq = cursor.and_then(|b| std::str::from_utf8(&b).ok()?.parse().ok()).unwrap_or(0);
        for _ in 0..MAX_SCAN {
            let m = match stream
                .direct_get_next_for_subject("vid.*.transcode.requested.*", Some(seq + 1))
                .await
            {
                Ok(m) => m,
                Err(e) if e.kind() == DirectGetErrorKind::NotFound => break,
                Err(e) => return Err(e.to_string()),
            };
            seq = m.sequence;
            let Ok(event) = Event::from_json(&m.payload) else { continue };
            let key = format!("w.{}", lease::key(event.tenant.as_str(), event.subject.as_str()));
            let old: Option<Watched> = self.read(&key).await?;
            let reschedules = old.map_or(0, |w| w.reschedules);
            self.write(&key, &Watched { request_seq: seq, reschedules }).await?;
        }
        self.kv.put(CURSOR, seq.to_string().into()).await.map_err(err)?;
        Ok(())
    }

    async fn read<T: for<'de> Deserialize<'de>>(&self, key: &str) -> Result<Option<T>, String> {
        let v = self.kv.get(key).await.map_err(err)?;
        Ok(v.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    async fn write(&self, key: &str, w: &Watched) -> Result<(), String> {
        let value = serde_json::to_vec(w).expect("serialises").into();
        self.kv.put(key, value).await.map(|_| ()).map_err(err)
    }

    /// Judges one watched video (`<tenant>.<video>`) and acts.
    async fn check(&self, stream: &Stream, key: &str, floor: u64) -> Result<Verdict, String> {
        let wkey = format!("w.{key}");
        let Some(w) = self.read::<Watched>(&wkey).await? else { return Ok(Verdict::Wait) };
        let Some((tenant, video)) = key.split_once('.') else {
            self.kv.purge(&wkey).await.map_err(err)?;
            return Ok(Verdict::Forget);
        };
        let last = stream
            .direct_get_last_for_subject(format!("vid.{tenant}.{}.*.{video}", Kind::Transcode))
            .await
            .map_err(err)?;
        let fact = Event::from_json(&last.payload).map_err(err)?;
        let age = (OffsetDateTime::now_utc() - last.time).try_into().unwrap_or_default();
        let latest = latest_of(&fact, age);
        let deleted = self.tombstones.is_buried(tenant, video).await.map_err(err)?;
        let record = self.leases.read(key).await.map_err(err)?.0;
        let live = record
            .as_ref()
            .and_then(|r| r.holder.as_ref())
            .is_some_and(|h| h.live(lease::now_ms()));
        let queued = w.request_seq > floor;
        let verdict = judge(&w, &latest, deleted, live, queued, self.settings.stuck_after());
        match &verdict {
            Verdict::Forget => self.kv.purge(&wkey).await.map_err(err)?,
            Verdict::Wait => {}
            Verdict::Reschedule => {
                let request = self.request(stream, w.request_seq).await?;
                let again = Event::new(
                    Event::deterministic_id(
                        &request.tenant,
                        &request.subject,
                        Kind::Transcode,
                        "requested",
                        &format!("rescheduled-{}", w.request_seq),
                    ),
                    OffsetDateTime::now_utc(),
                    SOURCE,
                    request.tenant.clone(),
                    request.subject.clone(),
                    request.data.clone(),
                )
                .caused_by(&request);
                // `requested` is one-shot: a plain publish would be taken as already stored.
                self.ctx.platform.events.publish_again(&again).await.map_err(err)?;
                let next = Watched { reschedules: w.reschedules + 1, ..w.clone() };
                self.write(&wkey, &next).await?;
                tracing::warn!(%tenant, %video, seq = w.request_seq,
                    "stuck in processing with its job lost: requested again");
            }
            Verdict::DeadLetter { reason } => {
                let request = self.request(stream, w.request_seq).await?;
                let attempts = record.as_ref().map_or(0, |r| r.attempts);
                let dead = TranscodeData::DeadLettered { reason: reason.clone(), attempts };
                let emit = Emitter::new(self.ctx.platform.events.clone(), request);
                emit.emit(dead, "").await.map_err(err)?;
                if record.is_some() {
                    let _ = self.leases.modify(key, |r| Some(r.settled())).await;
                }
                self.kv.purge(&wkey).await.map_err(err)?;
                tracing::warn!(%tenant, %video, %reason, "stuck in processing: dead-lettered");
            }
        }
        Ok(verdict)
    }

    async fn request(&self, stream: &Stream, seq: u64) -> Result<Event, String> {
        let m = stream.direct_get(seq).await.map_err(err)?;
        Event::from_json(&m.payload).map_err(err)
    }
}

/// Sweeps every `settings.sweep_interval()` until `ctx.shutdown` (none if it is off).
pub async fn spawn(
    ctx: &ServiceContext,
    settings: &TranscoderSettings,
    name: &str,
) -> Result<Option<JoinHandle<()>>, String> {
    let Some(every) = settings.sweep_interval() else { return Ok(None) };
    let sweeper = Sweeper::open(ctx, settings, name).await?;
    let shutdown = ctx.shutdown.clone();
    Ok(Some(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(every) => {}
            }
            match sweeper.sweep().await {
                Ok(s) if s.rescheduled + s.dead_lettered > 0 => tracing::warn!(?s, "swept"),
                Ok(s) => tracing::debug!(?s, "swept"),
                Err(e) => tracing::warn!(error = %e, "sweeping for stuck videos failed"),
            }
        }
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn open(phase: &str, mins: u64) -> Latest {
        Latest::Open { phase: phase.into(), age: Duration::from_secs(mins * 60) }
    }

    fn w(reschedules: u32) -> Watched {
        Watched { request_seq: 7, reschedules }
    }

    #[test]
    fn terminal_or_deleted_videos_are_forgotten() {
        assert_eq!(judge(&w(0), &Latest::Terminal, false, false, false, HOUR), Verdict::Forget);
        assert_eq!(
            judge(&w(0), &open("requested", 120), true, false, false, HOUR),
            Verdict::Forget
        );
    }

    #[test]
    fn young_leased_or_queued_jobs_wait() {
        assert_eq!(judge(&w(0), &open("requested", 10), false, false, false, HOUR), Verdict::Wait);
        assert_eq!(judge(&w(0), &open("started", 120), false, true, false, HOUR), Verdict::Wait);
        assert_eq!(judge(&w(0), &open("requested", 120), false, false, true, HOUR), Verdict::Wait);
    }

    #[test]
    fn a_stuck_video_is_requested_again_once_then_dead_lettered_with_a_reason() {
        let stuck = open("started", 120);
        assert_eq!(judge(&w(0), &stuck, false, false, false, HOUR), Verdict::Reschedule);
        let Verdict::DeadLetter { reason } = judge(&w(1), &stuck, false, false, false, HOUR) else {
            panic!("not dead-lettered");
        };
        assert!(reason.contains("stuck in processing") && reason.contains("(started)"), "{reason}");
        assert!(reason.contains("7200s") && reason.contains("lost"), "{reason}");
    }
}
