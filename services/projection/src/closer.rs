//! The month closer: once a month has ended (plus a grace for late egress reports) and this
//! replica has applied all of `VID_VIEW` it saw, it publishes each tenant's totals of that
//! month as `VID_READY month_closed` ([`crate::rollup`]). One-shot per (tenant, month): the
//! deterministic id and an expected last subject sequence of 0 make a second closer (another
//! replica, a retry) a no-op, so no lock is needed.

use std::time::Duration;

use async_nats::jetstream::{self, context::PublishErrorKind};
use framelog_core::nats::STREAM_VIEW;
use framelog_events::TenantId;
use framelog_events::fold::Month;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::error::ProjectionError;
use crate::rollup;
use crate::store::Store;

/// What closing one month did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// Stored at this `VID` sequence.
    Stored(u64),
    /// Another closer was first.
    AlreadyClosed,
}

/// Publishes `tenant`'s totals of `month` from this replica's open meters.
pub async fn close_month(
    js: &jetstream::Context,
    store: &Store,
    tenant: &TenantId,
    month: Month,
) -> Result<Closed, ProjectionError> {
    let totals = rollup::open_totals(store, tenant.as_str(), month)?;
    let event = rollup::closing_event(tenant, month, totals);
    let msg = jetstream::message::PublishMessage::build()
        .payload(event.to_json().into())
        .message_id(event.id.to_string())
        .expected_last_subject_sequence(0);
    let ack = js
        .send_publish(event.nats_subject().to_string(), msg)
        .await
        .map_err(|e| ProjectionError::js("publish month_closed", e))?;
    match ack.await {
        Ok(a) if a.duplicate => Ok(Closed::AlreadyClosed),
        Ok(a) => Ok(Closed::Stored(a.sequence)),
        Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => Ok(Closed::AlreadyClosed),
        Err(e) => Err(ProjectionError::js("month_closed ack", e)),
    }
}

/// Closes every month that can be closed now; returns how many were stored.
pub async fn close_due(
    js: &jetstream::Context,
    store: &Store,
    views_applied: u64,
    now: OffsetDateTime,
    grace: time::Duration,
) -> Result<usize, ProjectionError> {
    let mut view =
        js.get_stream(STREAM_VIEW).await.map_err(|e| ProjectionError::js("get VID_VIEW", e))?;
    let last =
        view.info().await.map_err(|e| ProjectionError::js("VID_VIEW info", e))?.state.last_sequence;
    if views_applied < last {
        return Ok(0); // not caught up: this replica's meters may miss events of the month
    }
    let mut stored = 0;
    for (tenant, month) in rollup::closable(store, now, grace)? {
        if let Closed::Stored(seq) = close_month(js, store, &tenant, month).await? {
            tracing::info!(tenant = %tenant, %month, seq, "month closed");
            stored += 1;
        }
    }
    Ok(stored)
}

/// Checks every `every` until `shutdown`; errors are logged and retried at the next check.
pub async fn run(
    js: jetstream::Context,
    store: Store,
    views_applied: tokio::sync::watch::Receiver<u64>,
    grace: Duration,
    every: Duration,
    shutdown: CancellationToken,
) {
    let grace = time::Duration::try_from(grace).unwrap_or(time::Duration::hours(6));
    loop {
        let applied = *views_applied.borrow();
        if let Err(e) = close_due(&js, &store, applied, OffsetDateTime::now_utc(), grace).await {
            tracing::warn!(error = %e, "closing months failed; retrying later");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
