//! Delivery workers: every delivery replica pulls from one durable consumer on `WEBHOOK`
//! (competing consumers), makes one attempt per message, and then acks (success, 410, given
//! up, endpoint gone) or NAKs with the schedule's next delay. The attempt number is the
//! message's delivery count and the retry window starts at its stored time, so nothing about
//! a delivery lives in a worker: a worker SIGKILLed mid-backoff loses nothing.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull};
use framelog_core::outbound::OutboundPolicy;
use futures::StreamExt as _;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::attempts::{self, Attempt, AttemptStatus};
use crate::deliver::{self, Verdict};
use crate::endpoints::{DisabledReason, EndpointStore};
use crate::queue::{DeliveryJob, STREAM_WEBHOOK};
use crate::schedule::{Next, Schedule};

/// Durable name of the workers' consumer.
pub const DURABLE: &str = "delivery_workers";
/// A worker that dies mid-attempt has its message redelivered after this long.
pub const ACK_WAIT: Duration = Duration::from_secs(45);

/// What a worker needs.
#[derive(Debug, Clone)]
pub struct WorkerCtx {
    pub nats: async_nats::Client,
    pub js: jetstream::Context,
    pub endpoints: EndpointStore,
    pub http: reqwest::Client,
    pub policy: OutboundPolicy,
    pub schedule: Schedule,
    pub metrics: crate::metrics::DeliveryMetrics,
}

/// The consumer config.
pub fn consumer_config(max_pending: i64) -> pull::Config {
    pull::Config {
        durable_name: Some(DURABLE.into()),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ack_wait: ACK_WAIT,
        max_deliver: -1,
        max_ack_pending: max_pending,
        ..Default::default()
    }
}

/// What happened to one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Handled {
    Delivered,
    Disabled(DisabledReason),
    RetryIn(Duration),
    /// The endpoint is gone or disabled, or the message unreadable: dropped.
    Dropped,
}

/// Handles one delivery message.
pub async fn handle(ctx: &WorkerCtx, msg: jetstream::Message) -> Handled {
    let (attempt, first) = match msg.info() {
        Ok(i) => (u32::try_from(i.delivered).unwrap_or(u32::MAX).max(1), i.published),
        Err(e) => {
            tracing::error!(error = %e, "webhook delivery without metadata dropped");
            let _ = msg.ack_with(AckKind::Term).await;
            return Handled::Dropped;
        }
    };
    let job: DeliveryJob = match serde_json::from_slice(&msg.payload) {
        Ok(j) => j,
        Err(e) => {
            tracing::error!(error = %e, subject = %msg.subject, "unreadable webhook delivery dropped");
            let _ = msg.ack_with(AckKind::Term).await;
            return Handled::Dropped;
        }
    };
    let tenant = match framelog_events::TenantId::new(job.tenant.clone()) {
        Ok(t) => t,
        Err(_) => {
            let _ = msg.ack_with(AckKind::Term).await;
            return Handled::Dropped;
        }
    };
    let endpoint = match ctx.endpoints.get(&tenant, &job.endpoint).await {
        Ok(Some((e, _))) if e.enabled => e,
        Ok(_) => {
            let _ = msg.double_ack().await;
            return Handled::Dropped;
        }
        Err(e) => {
            tracing::warn!(error = %e, "endpoint unreadable; delivery handed back");
            let _ = msg.ack_with(AckKind::Nak(Some(Duration::from_secs(2)))).await;
            return Handled::RetryIn(Duration::from_secs(2));
        }
    };
    let now = OffsetDateTime::now_utc();
    let outcome =
        deliver::attempt(&ctx.http, ctx.policy, &endpoint.url, &job, &endpoint.live_secrets(now))
            .await;
    let mut record = Attempt {
        webhook_id: job.webhook_id.clone(),
        event_id: job.event_id.clone(),
        event_type: job.event_type.clone(),
        attempt,
        status: AttemptStatus::Failed,
        response_status: outcome.response_status,
        latency_ms: u64::try_from(outcome.latency.as_millis()).unwrap_or(u64::MAX),
        error: outcome.error.clone(),
        at: now,
        next_retry_at: None,
    };
    let handled = match outcome.verdict {
        Verdict::Success => {
            record.status = AttemptStatus::Succeeded;
            ctx.metrics.attempt("succeeded");
            let _ = msg.double_ack().await;
            Handled::Delivered
        }
        Verdict::Gone => {
            record.status = AttemptStatus::Gone;
            ctx.metrics.attempt("gone");
            disable(ctx, &tenant, &job.endpoint, DisabledReason::Gone).await;
            let _ = msg.double_ack().await;
            Handled::Disabled(DisabledReason::Gone)
        }
        Verdict::Failure => {
            let elapsed = (OffsetDateTime::now_utc() - first).try_into().unwrap_or(Duration::ZERO);
            match ctx.schedule.after_failure(attempt, elapsed, rand::random::<f64>()) {
                Next::RetryIn(d) => {
                    ctx.metrics.attempt("failed");
                    record.next_retry_at = Some(OffsetDateTime::now_utc() + d);
                    let _ = msg.ack_with(AckKind::Nak(Some(d))).await;
                    // The NAK is a plain publish: flush it before the attempt becomes visible,
                    // so "logged as in back-off" implies the server knows the delay.
                    let _ = ctx.nats.flush().await;
                    Handled::RetryIn(d)
                }
                Next::GiveUp => {
                    ctx.metrics.attempt("gave_up");
                    disable(ctx, &tenant, &job.endpoint, DisabledReason::Failing).await;
                    let _ = msg.double_ack().await;
                    Handled::Disabled(DisabledReason::Failing)
                }
            }
        }
    };
    tracing::info!(endpoint = %job.endpoint, webhook_id = %job.webhook_id, attempt,
        status = ?record.status, response = ?record.response_status, "webhook attempt");
    if let Err(e) = attempts::record(&ctx.js, &job.tenant, &job.endpoint, &record).await {
        tracing::warn!(error = %e, "webhook attempt not logged");
    }
    handled
}

async fn disable(
    ctx: &WorkerCtx,
    tenant: &framelog_events::TenantId,
    id: &str,
    reason: DisabledReason,
) {
    let r = ctx
        .endpoints
        .modify(tenant, id, |e| {
            e.enabled = false;
            e.disabled_reason = Some(reason);
        })
        .await;
    match r {
        Ok(_) => tracing::warn!(endpoint = %id, ?reason, "webhook endpoint disabled"),
        Err(e) => tracing::error!(endpoint = %id, error = %e, "webhook endpoint not disabled"),
    }
}

/// Pulls and handles deliveries until `shutdown`, `concurrency` at a time; rebinds after
/// consumer failures.
pub async fn run(
    ctx: WorkerCtx,
    concurrency: usize,
    max_pending: i64,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        let messages = async {
            let stream = ctx.js.get_stream(STREAM_WEBHOOK).await.map_err(|e| e.to_string())?;
            let consumer: jetstream::consumer::PullConsumer = stream
                .create_consumer(consumer_config(max_pending))
                .await
                .map_err(|e| e.to_string())?;
            consumer
                .stream()
                .max_messages_per_batch(concurrency.max(1))
                .messages()
                .await
                .map_err(|e| e.to_string())
        };
        let mut messages = match messages.await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "webhook workers not bound yet");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
                }
            }
        };
        loop {
            let permit = tokio::select! {
                _ = shutdown.cancelled() => return,
                p = permits.clone().acquire_owned() => p.expect("semaphore never closed"),
            };
            let next = tokio::select! {
                _ = shutdown.cancelled() => return,
                n = messages.next() => n,
            };
            match next {
                Some(Ok(msg)) => {
                    let ctx = ctx.clone();
                    tokio::spawn(async move {
                        handle(&ctx, msg).await;
                        drop(permit);
                    });
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "webhook workers: pull failed; rebinding");
                    break;
                }
                None => break,
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
