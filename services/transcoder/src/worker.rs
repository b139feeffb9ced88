//! [`Worker`]: pulls jobs one at a time while it has a free slot (the concurrency semaphore),
//! runs each as a task that keeps its message alive with in-progress acks, and settles the
//! message: ack when outputs and events are durable, term on a permanent failure, nak with
//! back-off on a transient one (dead-lettered after the last attempt), nak at once on shutdown.
//! Before a job runs, [`crate::fairness`] decides whether its tenant is at its cap while other
//! work waits (hand it back), then [`crate::lease`] whether this worker takes it: as which
//! attempt (only failures and silent deaths count), not at all while another worker holds a
//! live lease, or dead-lettered because its attempts are used up. [`crate::attempts`] runs it.
//! [`Worker::process_next`] is the one step; the service loop and the tests drive it.

use std::sync::Arc;
use std::time::Duration;

use framelog_core::service::ServiceContext;
use framelog_core::tombstones::{KV_TOMBSTONES, Tombstones};
use framelog_events::AggregateId;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::attempts::{self, KeepAlive};
use crate::consumer::{DURABLE, JobConsumer, JobMessage, job_spec};
use crate::deadletter::{self, MaxDeliveries};
use crate::encoder::Encoder;
use crate::error::TranscoderError;
use crate::fairness::{Admission, HandBacks, TenantSlots, admit};
use crate::job::{Shared, TMP_DIR};
use crate::lease::{Decision, Leases};
use crate::settings::TranscoderSettings;

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
    /// Shutdown: ffmpeg was stopped, the attempt given back and the job naked for another
    /// worker.
    HandedBack { video: AggregateId },
    /// The job's lease was taken over by another worker (this one's keep-alives were lost):
    /// its ffmpeg was killed, nothing more was published and the message left alone.
    Fenced { video: AggregateId },
    /// Its tenant already runs its cap on this worker, or another worker holds the job's live
    /// lease: handed back for `delay`, not run, no attempt used.
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
    leases: Leases,
    keep_alive: KeepAlive,
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
        let kv_err =
            |m| TranscoderError::Consumer(framelog_core::consumer::ConsumeError::Receive(m));
        let replicas = ctx.platform.settings.replicas;
        let handbacks = HandBacks::open(&ctx.platform.js, replicas).await.map_err(kv_err)?;
        let leases = Leases::open(&ctx.platform.js, replicas).await.map_err(kv_err)?;
        let (ttl, tries) = (settings.lease_ttl(), settings.chunks.item_attempts);
        let items = crate::items::Items::open(&ctx.platform.js, replicas, ttl, tries)
            .await
            .map_err(|e| kv_err(format!("opening the work items: {e}")))?;
        Ok(Worker {
            permits: Arc::new(Semaphore::new(settings.concurrency)),
            tenants: TenantSlots::default(),
            handbacks,
            leases,
            keep_alive: KeepAlive::default(),
            shared: Arc::new(Shared {
                ctx: ctx.clone(),
                settings,
                encoder,
                worker: name.into(),
                tombstones,
                items,
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

    /// The loop that encodes work items of any worker's chunked jobs, sharing this worker's
    /// encoder and name (`--transcode-item-slots` at once).
    pub async fn item_worker(&self) -> Result<crate::item_worker::ItemWorker, TranscoderError> {
        let runner = crate::item_runner::ItemRunner { shared: self.shared.clone() };
        let (ctx, items) = (&self.shared.ctx, self.shared.items.clone());
        let slots = self.shared.settings.chunks.item_slots.max(1);
        crate::item_worker::ItemWorker::new(ctx, items, Arc::new(runner), self.name(), slots)
            .await
            .map_err(|e| {
                TranscoderError::Consumer(framelog_core::consumer::ConsumeError::Receive(format!(
                    "binding the work item consumer: {e}"
                )))
            })
    }

    /// The worker's name.
    pub fn name(&self) -> &str {
        &self.shared.worker
    }

    /// The switch pausing this worker's keep-alives (fault tests).
    pub fn keep_alive(&self) -> KeepAlive {
        self.keep_alive.clone()
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
        let handed_back = match self.admit(&msg).await {
            Ok((Admission::Run, n)) => n > 0,
            Ok((Admission::HandBack { delay }, _)) => return Outcome::Deferred { video, delay },
            Err(outcome) => return outcome,
        };
        let (held, attempt) =
            match attempts::take(&self.leases, &msg, &self.shared.worker, &self.shared).await {
                Ok((Decision::Take { attempt, .. }, Some(held))) => (held, attempt),
                Ok((Decision::Busy { holder, delay }, _)) => {
                    tracing::info!(%holder, ?delay, "another worker holds the job: handed back");
                    let _ = msg.nak(Some(delay)).await;
                    return Outcome::Deferred { video, delay };
                }
                Ok((Decision::OutOfAttempts { attempts }, _)) => {
                    return self.dead_letter(msg, attempts).await;
                }
                Ok((Decision::Settled, _)) | Ok((Decision::Take { .. }, None)) => {
                    let _ = msg.ack().await;
                    self.handbacks.forget(msg.stream_sequence).await;
                    return Outcome::AlreadyComplete { video };
                }
                Err(e) => {
                    // Unknown attempts could be used-up ones: try again later.
                    let _ = msg.nak(Some(Duration::from_secs(1))).await;
                    return Outcome::ConsumerError(format!("taking the job's lease: {e}"));
                }
            };
        let slot = self.tenants.take(&msg.event.tenant);
        let (shared, cancel, span) = (self.shared.clone(), self.cancel.clone(), msg.span.clone());
        let (handbacks, switch) = (self.handbacks.clone(), self.keep_alive.clone());
        self.running.spawn(
            async move {
                let seq = msg.stream_sequence;
                let started = std::time::Instant::now();
                let outcome = attempts::handle(&shared, msg, held, attempt, &cancel, &switch).await;
                crate::metrics::TranscodeMetrics::of(&shared.ctx.platform.metrics)
                    .job_ended(&outcome, started.elapsed().as_secs_f64());
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
                return Ok((Admission::Run, handbacks));
            }
            tracing::debug!(tenant = %msg.event.tenant, running, ?delay, "tenant at its cap: handed back");
            if let Err(e) = msg.nak(Some(delay)).await {
                tracing::warn!(error = %e, "hand-back nak failed; the job will be redelivered");
            }
        }
        Ok((decision, handbacks))
    }

    /// A delivery after the last attempt (whose worker died without settling it): dead-lettered
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

    /// Stops every running job (ffmpeg killed, attempt given back, message naked) and reports
    /// how each ended.
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
