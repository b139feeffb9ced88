//! One attempt of a job under its lease ([`crate::lease`]): taking the lease (which counts the
//! attempt), keeping it and the message alive while the job runs, fencing, and settling.
//!
//! Every keep-alive tick sends an in-progress ack and renews the lease with a compare-and-set
//! on the revision this worker last wrote. A renewal that loses (another worker took the
//! expired lease over) fences the job; so does a lease that could not be renewed and would run
//! out before the next tick (the worker stops before anyone may take over: the lease lasts
//! 2.5 ticks, so a worker that missed one renewal stops half a tick before its lease ends). A fenced job is
//! dropped where it is: its ffmpeg processes are killed (kill on drop), nothing more is
//! published and its message is neither acked nor naked (it belongs to the new holder now).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use framelog_events::{EventData, TranscodeData};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::consumer::JobMessage;
use crate::emit::Emitter;
use crate::error::JobError;
use crate::job::{Done, Shared, transcode};
use crate::lease::{self, Decision, LeaseError, Leases, Record};
use crate::worker::Outcome;

/// Longest failure reason put in an event.
const MAX_REASON: usize = 1000;

/// A switch that pauses a worker's keep-alives (in-progress acks and lease renewals), as if
/// they were lost on the way: the seam the lost-ack fault test needs. Never paused otherwise.
#[derive(Debug, Clone, Default)]
pub struct KeepAlive(Arc<AtomicBool>);

impl KeepAlive {
    pub fn pause(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn resume(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    fn paused(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A lease this worker holds.
#[derive(Debug)]
pub struct Held {
    leases: Leases,
    key: String,
    token: String,
    ttl: Duration,
    record: Record,
    revision: u64,
}

impl Held {
    /// Extends the lease; `Err(Conflict)`: it was lost.
    async fn renew(&mut self) -> Result<(), LeaseError> {
        let next = self
            .record
            .renewed(&self.token, lease::now_ms(), self.ttl)
            .ok_or(LeaseError::Conflict)?;
        self.revision = self.leases.write(&self.key, &next, self.revision).await?;
        self.record = next;
        Ok(())
    }

    /// Writes the job's end (`change` of the record); false if the lease was lost meanwhile.
    async fn settle(&mut self, change: impl Fn(&Record) -> Option<Record>) -> bool {
        let Some(next) = change(&self.record) else { return false };
        match self.leases.write(&self.key, &next, self.revision).await {
            Ok(rev) => {
                (self.record, self.revision) = (next, rev);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "the job record was not updated");
                false
            }
        }
    }
}

/// Reads the video's record and decides; a `Take` is written (compare-and-set) and returned
/// with the lease held.
pub async fn take(
    leases: &Leases,
    msg: &JobMessage,
    worker: &str,
    shared: &Shared,
) -> Result<(Decision, Option<Held>), LeaseError> {
    let key = lease::key(msg.event.tenant.as_str(), msg.event.subject.as_str());
    let ttl = shared.settings.lease_ttl();
    let max = u32::try_from(shared.settings.max_deliver).unwrap_or(u32::MAX);
    for _ in 0..5 {
        let (current, revision) = leases.read(&key).await?;
        let token = uuid::Uuid::now_v7().to_string();
        let now = lease::now_ms();
        let d = lease::decide(current.as_ref(), msg.stream_sequence, worker, &token, now, ttl, max);
        let Decision::Take { record, .. } = &d else { return Ok((d, None)) };
        match leases.write(&key, record, revision).await {
            Ok(revision) => {
                let record = record.clone();
                let (leases, key) = (leases.clone(), key.clone());
                return Ok((d, Some(Held { leases, key, token, ttl, record, revision })));
            }
            Err(LeaseError::Conflict) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(LeaseError::Conflict)
}

/// Runs `work` while the lease and the message are kept alive; `None`: the lease was lost (or
/// would be before the next renewal) and `work` was dropped.
async fn keep_alive<F: Future>(
    msg: &JobMessage,
    held: &mut Held,
    every: Duration,
    switch: &KeepAlive,
    work: F,
) -> Option<F::Output> {
    tokio::pin!(work);
    let mut tick = tokio::time::interval_at(Instant::now() + every, every);
    let mut expires = Instant::now() + held.ttl;
    loop {
        tokio::select! {
            out = &mut work => return Some(out),
            _ = tick.tick() => {
                if !switch.paused() {
                    if let Err(e) = msg.in_progress().await {
                        tracing::warn!(error = %e, "in-progress ack failed");
                    }
                    let sent = Instant::now();
                    match held.renew().await {
                        Ok(()) => expires = sent + held.ttl,
                        Err(LeaseError::Conflict) => {
                            tracing::warn!("the job's lease was taken over: fenced");
                            return None;
                        }
                        Err(e) => tracing::warn!(error = %e, "renewing the job's lease failed"),
                    }
                }
                if expires.saturating_duration_since(Instant::now()) < every {
                    tracing::warn!("the job's lease could not be renewed in time: fenced");
                    return None;
                }
            }
        }
    }
}

fn truncate(s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Runs attempt `attempt` of one job under `held` and settles its message and record.
pub async fn handle(
    shared: &Shared,
    msg: JobMessage,
    mut held: Held,
    attempt: u32,
    cancel: &CancellationToken,
    switch: &KeepAlive,
) -> Outcome {
    let video = msg.event.subject.clone();
    let EventData::Transcode(TranscodeData::Requested { source_key, .. }) = &msg.event.data else {
        tracing::error!(event = %msg.event.id, "not a transcode request; terminated");
        held.settle(|r| Some(r.settled())).await;
        let _ = msg.term().await;
        return Outcome::Rejected { video };
    };
    let metrics = crate::metrics::TranscodeMetrics::of(&shared.ctx.platform.metrics);
    let emit = Emitter::new(shared.ctx.platform.events.clone(), msg.event.clone())
        .with_metrics(metrics.clone());
    let work = transcode(shared, &emit, source_key, attempt, cancel);
    let every = shared.settings.keep_alive_interval();
    let Some(result) = keep_alive(&msg, &mut held, every, switch, work).await else {
        return Outcome::Fenced { video };
    };
    let settle = |r: Result<(), framelog_core::consumer::ConsumeError>, what: &str| {
        if let Err(e) = r {
            tracing::warn!(error = %e, "{what} failed; the job will be redelivered");
        }
    };
    let done = |r: &Record| Some(r.settled());
    match result {
        Ok(Done::AlreadyComplete) => {
            tracing::info!("video already complete for this request; acked without work");
            held.settle(done).await;
            settle(msg.ack().await, "ack");
            Outcome::AlreadyComplete { video }
        }
        Ok(Done::Deleted) => {
            held.settle(done).await;
            settle(msg.ack().await, "ack");
            Outcome::Deleted { video }
        }
        Ok(Done::Completed(r)) => {
            held.settle(done).await;
            settle(msg.ack().await, "ack");
            metrics.completed(&shared.encoder.codec, r.source_secs, r.wall.as_secs_f64());
            tracing::info!(
                wall = r.wall.as_secs_f64(),
                cpu = r.cpu_seconds,
                playable = r.time_to_playable.as_secs_f64(),
                "transcode completed"
            );
            Outcome::Completed {
                video,
                renditions: r.renditions.into_iter().map(|r| r.name).collect(),
                cpu_seconds: r.cpu_seconds,
                wall: r.wall,
                time_to_playable: r.time_to_playable,
            }
        }
        Err(JobError::Cancelled) => {
            // A graceful hand-back: the attempt is given back, then the message.
            let token = held.token.clone();
            if held.settle(|r| r.handed_back(&token)).await {
                settle(msg.nak(None).await, "nak");
            }
            Outcome::HandedBack { video }
        }
        Err(e) => {
            let permanent = e.is_permanent();
            let reason = truncate(e.to_string(), MAX_REASON);
            let last = !permanent && i64::from(attempt) >= shared.settings.max_deliver;
            tracing::error!(error = %reason, permanent, last, "transcode attempt failed");
            let failed = TranscodeData::Failed { reason: reason.clone(), permanent, attempt };
            if let Err(e) = emit.emit(failed, &attempt.to_string()).await {
                tracing::error!(error = %e, "the failed event was not published");
            }
            if last {
                let dead =
                    TranscodeData::DeadLettered { reason: reason.clone(), attempts: attempt };
                if let Err(e) = emit.emit(dead, "").await {
                    tracing::error!(error = %e, "the dead_lettered event was not published");
                }
            }
            if permanent || last {
                held.settle(done).await;
                settle(msg.term().await, "term");
            } else {
                let token = held.token.clone();
                held.settle(|r| r.failed(&token)).await;
                settle(msg.nak(Some(shared.settings.retry_delay(attempt))).await, "nak");
            }
            Outcome::Failed { video, reason, permanent, dead_lettered: last }
        }
    }
}
