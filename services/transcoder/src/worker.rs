//! [`Worker`]: pulls jobs one at a time while it has a free slot (the concurrency semaphore),
//! runs each as a task that keeps its message alive with in-progress acks, and settles the
//! message: ack when outputs and events are durable, term on a permanent failure, nak with
//! back-off on a transient one (dead-lettered after the last attempt), nak at once on shutdown.
//! Before a job runs, [`crate::fairness`] decides: run it (as which attempt, hand-backs not
//! counted), hand it back because its tenant is at its cap while other work waits, or
//! dead-letter it because its last attempt's worker died.
//! [`Worker::process_next`] is the one step; the service loop and the tests drive it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use framelog_core::service::ServiceContext;
use framelog_core::tombstones::{KV_TOMBSTONES, Tombstones};
use framelog_events::{AggregateId, EventData, TranscodeData};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::consumer::{DURABLE, JobConsumer, JobMessage, job_spec};
use crate::deadletter::{self, MaxDeliveries};
use crate::emit::Emitter;
use crate::encoder::Encoder;
use crate::error::{JobError, TranscoderError};
use crate::fairness::{Admission, HandBacks, TenantSlots, admit};
use crate::job::{Done, Shared, TMP_DIR, transcode};
use crate::settings::TranscoderSettings;

/// Longest failure reason put in an event.
const MAX_REASON: usize = 1000;

/// What one step observed.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// No job arrived within the poll time.
    Idle,
    /// A job was taken and started as a task; its end is reported by a later step.
    Taken { video: AggregateId, attempt: u32 },
    /// Every output and event is durable and the job is acked.
    Completed {
        video: AggregateId,
        renditions: Vec<String>,
        cpu_seconds: f64,
        wall: Duration,
        time_to_playable: Duration,
    },
    /// The video was already complete for this request: acked without work.
    AlreadyComplete { video: AggregateId },
    /// The video was deleted before or during the job: its outputs are removed, nothing says
    /// it plays, and the job is acked (neither failed nor retried).
    Deleted { video: AggregateId },
    /// The attempt failed; `permanent` and `dead_lettered` jobs are not retried.
    Failed { video: AggregateId, reason: String, permanent: bool, dead_lettered: bool },
    /// Shutdown: ffmpeg was stopped and the job naked for another worker.
    HandedBack { video: AggregateId },
    /// Its tenant already runs its cap on this worker: handed back for `delay`, not run.
    Deferred { video: AggregateId, delay: Duration },
    /// The message was not a transcode request; terminated.
    Rejected { video: AggregateId },
    /// Pulling failed (NATS unreachable...).
    ConsumerError(String),
    /// A job task panicked (its message will be redelivered after the ack wait).
    Crashed(String),
}

impl Outcome {
    /// Whether this ends a job (as opposed to Idle, Taken or a consumer error).
    pub fn is_job_end(&self) -> bool {
        !matches!(
            self,
            Outcome::Idle
                | Outcome::Taken { .. }
                | Outcome::Deferred { .. }
                | Outcome::ConsumerError(_)
        )
    }
}

/// A transcode worker: one consumer binding, at most `concurrency` jobs at once.
#[derive(Debug)]
pub struct Worker {
    shared: Arc<Shared>,
    consumer: JobConsumer,
    permits: Arc<Semaphore>,
    tenants: TenantSlots,
    handbacks: HandBacks,
    running: JoinSet<Outcome>,
    cancel: CancellationToken,
    poll: Duration,
}

impl Worker {
    /// Binds the shared durable consumer. Jobs stop (and hand their message back) when
    /// `ctx.shutdown` is cancelled; dropping the worker aborts them without any ack.
    pub async fn new(
        ctx: &ServiceContext,
        settings: TranscoderSettings,
        encoder: Encoder,
        name: impl Into<String>,
    ) -> Result<Worker, TranscoderError> {
        settings.validate()?;
        let tmp = ctx.platform.settings.data_dir.join(TMP_DIR);
        std::fs::create_dir_all(&tmp)
            .map_err(|source| TranscoderError::Io { path: tmp.display().to_string(), source })?;
        let consumer = JobConsumer::bind(&ctx.platform.js, &job_spec(&settings)).await?;
        let tombstones = Tombstones::open(&ctx.platform.js).await.map_err(|e| {
            TranscoderError::Io { path: KV_TOMBSTONES.into(), source: std::io::Error::other(e) }
        })?;
        let handbacks =
            HandBacks::open(&ctx.platform.js, ctx.platform.settings.replicas).await.map_err(
                |m| TranscoderError::Consumer(framelog_core::consumer::ConsumeError::Receive(m)),
            )?;
        Ok(Worker {
            permits: Arc::new(Semaphore::new(settings.concurrency)),
            tenants: TenantSlots::default(),
            handbacks,
            shared: Arc::new(Shared {
                ctx: ctx.clone(),
                settings,
                encoder,
                worker: name.into(),
                tombstones,
            }),
            consumer,
            running: JoinSet::new(),
            cancel: ctx.shutdown.child_token(),
            poll: Duration::from_secs(5),
        })
    }

    /// How long one step waits for a job (default 5 s).
    pub fn with_poll(mut self, poll: Duration) -> Worker {
        self.poll = poll;
        self
    }

    /// The worker's name.
    pub fn name(&self) -> &str {
        &self.shared.worker
    }

    /// Jobs running now.
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// One step: reports a finished job if there is one; else, with a free slot, pulls one job
    /// and starts it; with no free slot, waits for a running job to end.
    pub async fn process_next(&mut self) -> Outcome {
        if let Some(done) = self.running.try_join_next() {
            return joined(done);
        }
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            return match self.running.join_next().await {
                Some(done) => joined(done),
                None => Outcome::Idle,
            };
        };
        let msg = match self.consumer.next(self.poll).await {
            Ok(Some(m)) => m,
            Ok(None) => return Outcome::Idle,
            Err(e) => return Outcome::ConsumerError(e.to_string()),
        };
        let video = msg.event.subject.clone();
        let (attempt, handed_back) = match self.admit(&msg).await {
            Ok((Admission::Run { attempt }, n)) => (attempt, n > 0),
            Ok((Admission::HandBack { delay }, _)) => return Outcome::Deferred { video, delay },
            Ok((Admission::OutOfAttempts { attempts }, _)) => {
                return self.dead_letter(msg, attempts).await;
            }
            Err(outcome) => return outcome,
        };
        let slot = self.tenants.take(&msg.event.tenant);
        let (shared, cancel, span) = (self.shared.clone(), self.cancel.clone(), msg.span.clone());
        let handbacks = self.handbacks.clone();
        self.running.spawn(
            async move {
                let seq = msg.stream_sequence;
                let outcome = handle(&shared, msg, attempt, &cancel).await;
                drop(slot);
                drop(permit);
                if handed_back && settled(&outcome) {
                    handbacks.forget(seq).await;
                }
                outcome
            }
            .instrument(span),
        );
        Outcome::Taken { video, attempt }
    }

    /// The fairness decision for `msg` (see [`crate::fairness`]) and its hand-backs so far; a
    /// hand-back is recorded and naked here.
    async fn admit(&self, msg: &JobMessage) -> Result<(Admission, i64), Outcome> {
        let seq = msg.stream_sequence;
        let handbacks = if msg.delivered > 1 {
            match self.handbacks.count(seq).await {
                Ok(n) => n,
                Err(e) => {
                    // Unknown hand-backs could look like used-up attempts: try again later.
                    let _ = msg.nak(Some(Duration::from_secs(1))).await;
                    return Err(Outcome::ConsumerError(format!("reading hand-backs: {e}")));
                }
            }
        } else {
            0
        };
        let running = self.tenants.running(&msg.event.tenant);
        // Only at the cap is it worth a round trip to see whether other work waits.
        let queued = running >= self.shared.settings.tenant_cap()
            && self.consumer.queued().await.map_or(true, |n| n > 0);
        let decision = admit(&self.shared.settings, msg.delivered, handbacks, running, queued);
        if let Admission::HandBack { delay } = decision {
            if let Err(e) = self.handbacks.record(seq, handbacks + 1).await {
                tracing::warn!(error = %e, "hand-back not recorded; running the job over the cap");
                let attempt = (msg.delivered - handbacks).clamp(1, i64::from(u32::MAX)) as u32;
                return Ok((Admission::Run { attempt }, handbacks));
            }
            tracing::debug!(tenant = %msg.event.tenant, running, ?delay, "tenant at its cap: handed back");
            if let Err(e) = msg.nak(Some(delay)).await {
                tracing::warn!(error = %e, "hand-back nak failed; the job will be redelivered");
            }
        }
        Ok((decision, handbacks))
    }

    /// A delivery after the last attempt, whose worker died without settling it: dead-lettered
    /// (unless complete) and terminated without running.
    async fn dead_letter(&self, msg: JobMessage, attempts: u32) -> Outcome {
        let video = msg.event.subject.clone();
        let advisory = MaxDeliveries {
            stream: framelog_core::nats::STREAM_VID.into(),
            consumer: DURABLE.into(),
            stream_seq: msg.stream_sequence,
            deliveries: u64::from(attempts),
        };
        let written = deadletter::handle(&self.shared.ctx, &advisory).await;
        if let Err(e) = &written {
            tracing::error!(error = %e, "a job out of attempts could not be dead-lettered");
            let _ = msg.nak(Some(Duration::from_secs(5))).await;
            return Outcome::ConsumerError(e.clone());
        }
        let _ = msg.term().await;
        self.handbacks.forget(msg.stream_sequence).await;
        Outcome::Failed {
            video,
            reason: deadletter::reason(u64::from(attempts)),
            permanent: false,
            dead_lettered: written == Ok(true),
        }
    }

    /// Stops every running job (ffmpeg killed, message naked) and reports how each ended.
    pub async fn shutdown(mut self) -> Vec<Outcome> {
        self.cancel.cancel();
        let mut out = Vec::new();
        while let Some(done) = self.running.join_next().await {
            out.push(joined(done));
        }
        out
    }
}

/// Whether the job's message will not come back (so its hand-back count can go).
fn settled(o: &Outcome) -> bool {
    match o {
        Outcome::Failed { permanent, dead_lettered, .. } => *permanent || *dead_lettered,
        Outcome::Completed { .. }
        | Outcome::AlreadyComplete { .. }
        | Outcome::Rejected { .. }
        | Outcome::Deleted { .. } => true,
        _ => false,
    }
}

fn joined(r: Result<Outcome, tokio::task::JoinError>) -> Outcome {
    r.unwrap_or_else(|e| Outcome::Crashed(e.to_string()))
}

/// Runs `work`, sending an in-progress ack every `every` until it ends.
async fn with_keep_alive<F: Future>(msg: &JobMessage, every: Duration, work: F) -> F::Output {
    tokio::pin!(work);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = tick.tick() => {
                if let Err(e) = msg.in_progress().await {
                    tracing::warn!(error = %e, "in-progress ack failed");
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

/// Runs attempt `attempt` of one job and settles its message.
async fn handle(
    shared: &Shared,
    msg: JobMessage,
    attempt: u32,
    cancel: &CancellationToken,
) -> Outcome {
    let video = msg.event.subject.clone();
    let EventData::Transcode(TranscodeData::Requested { source_key, .. }) = &msg.event.data else {
        tracing::error!(event = %msg.event.id, "not a transcode request; terminated");
        let _ = msg.term().await;
        return Outcome::Rejected { video };
    };
    let emit = Emitter::new(shared.ctx.platform.events.clone(), msg.event.clone());
    let work = transcode(shared, &emit, source_key, attempt, cancel);
    let result = with_keep_alive(&msg, shared.settings.keep_alive_interval(), work).await;
    let settle = |r: Result<(), framelog_core::consumer::ConsumeError>, what: &str| {
        if let Err(e) = r {
            tracing::warn!(error = %e, "{what} failed; the job will be redelivered");
        }
    };
    match result {
        Ok(Done::AlreadyComplete) => {
            tracing::info!("video already complete for this request; acked without work");
            settle(msg.ack().await, "ack");
            Outcome::AlreadyComplete { video }
        }
        Ok(Done::Deleted) => {
            settle(msg.ack().await, "ack");
            Outcome::Deleted { video }
        }
        Ok(Done::Completed(r)) => {
            settle(msg.ack().await, "ack");
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
            settle(msg.nak(None).await, "nak");
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
                settle(msg.term().await, "term");
            } else {
                settle(msg.nak(Some(shared.settings.retry_delay(attempt))).await, "nak");
            }
            Outcome::Failed { video, reason, permanent, dead_lettered: last }
        }
    }
}
