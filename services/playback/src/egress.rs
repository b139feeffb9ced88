//! Egress metering: bytes and requests served per tenant (VOD and live), published as
//! `VID_VIEW egress_metered` events, one per tenant and period at most.
//!
//! The hot path touches one mutex briefly (to find the tenant's counter) and then only atomics:
//! a response body adds each chunk it yields, so an aborted download is billed for what left,
//! not for the file size. A flusher swaps the counters to zero at each
//! period boundary and publishes one event per tenant that had traffic, aggregate = this
//! instance's id, event id deterministic over (tenant, instance, period start): a retried flush
//! is stored once. The last period is flushed on shutdown.
//!
//! A period starts at the later of its aligned boundary (`floor(t / period) * period`) and the
//! time this meter started counting, so an instance restarted with the same fixed id within one
//! period does not reuse the previous run's event id (which NATS would drop as a duplicate).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use framelog_events::data::ViewData;
use framelog_events::kind::Kind;
use framelog_events::{AggregateId, Event, TenantId};
use http_body::{Frame, SizeHint};
use time::OffsetDateTime;

/// One tenant's traffic in the current period.
#[derive(Debug, Default)]
pub struct TenantCounter {
    bytes: AtomicU64,
    requests: AtomicU64,
}

impl TenantCounter {
    /// Counts one request.
    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts bytes sent.
    pub fn bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }
}

/// Bytes and requests of one tenant in one period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub bytes: u64,
    pub requests: u64,
}

/// The per-tenant meters of one playback instance; cheap to clone.
#[derive(Debug, Clone)]
pub struct EgressMeter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    instance: AggregateId,
    period_secs: u32,
    counters: Mutex<HashMap<String, Arc<TenantCounter>>>,
    /// Start of the period being counted, unix seconds.
    period_start: AtomicU64,
}

impl EgressMeter {
    /// A meter for `instance`, counting from `now`.
    pub fn new(instance: AggregateId, period_secs: u32, now: OffsetDateTime) -> EgressMeter {
        let period_secs = period_secs.max(1);
        EgressMeter {
            inner: Arc::new(Inner {
                instance,
                period_secs,
                counters: Mutex::new(HashMap::new()),
                period_start: AtomicU64::new(now.unix_timestamp().max(0) as u64),
            }),
        }
    }

    /// This instance's id (the aggregate of its egress events).
    pub fn instance(&self) -> &AggregateId {
        &self.inner.instance
    }

    /// The counter of `tenant` (created on first use).
    pub fn counter(&self, tenant: &str) -> Arc<TenantCounter> {
        let mut map = self.inner.counters.lock().expect("egress meter poisoned");
        if let Some(c) = map.get(tenant) {
            return c.clone();
        }
        let c = Arc::new(TenantCounter::default());
        map.insert(tenant.to_owned(), c.clone());
        c
    }

    /// The end of the current period, unix seconds: the next aligned boundary.
    pub fn period_end(&self) -> i64 {
        let start = self.inner.period_start.load(Ordering::Acquire) as i64;
        let p = i64::from(self.inner.period_secs);
        (start.div_euclid(p) + 1) * p
    }

    /// Closes the current period at `now`: takes every tenant's usage (zeroing the counters)
    /// and returns the events to publish. The next period starts at `now`'s aligned boundary,
    /// or at `now` when the period is closed early (shutdown).
    pub fn close_period(&self, now: OffsetDateTime) -> Vec<Event> {
        let p = i64::from(self.inner.period_secs);
        let now_s = now.unix_timestamp();
        let next = if now_s >= self.period_end() { now_s.div_euclid(p) * p } else { now_s };
        let start = self.inner.period_start.swap(next.max(0) as u64, Ordering::AcqRel) as i64;
        let period_start = OffsetDateTime::from_unix_timestamp(start).unwrap_or(now);
        let mut usage = Vec::new();
        {
            let mut map = self.inner.counters.lock().expect("egress meter poisoned");
            map.retain(|tenant, c| {
                let u = Usage {
                    bytes: c.bytes.swap(0, Ordering::AcqRel),
                    requests: c.requests.swap(0, Ordering::AcqRel),
                };
                if u.requests > 0 || u.bytes > 0 {
                    usage.push((tenant.clone(), u));
                    true
                } else {
                    // Idle: drop it unless a response still holds it (new holders need the lock).
                    Arc::strong_count(c) > 1
                }
            });
        }
        usage
            .into_iter()
            .filter_map(|(tenant, u)| {
                let tenant = TenantId::new(tenant).ok()?;
                Some(self.event(&tenant, period_start, u, now))
            })
            .collect()
    }

    fn event(
        &self,
        tenant: &TenantId,
        start: OffsetDateTime,
        u: Usage,
        now: OffsetDateTime,
    ) -> Event {
        let instance = &self.inner.instance;
        let disc = start.unix_timestamp().to_string();
        let id = Event::deterministic_id(tenant, instance, Kind::View, "egress_metered", &disc);
        let data = ViewData::EgressMetered {
            period_start: start,
            period_secs: self.inner.period_secs,
            bytes: u.bytes,
            requests: u.requests,
        };
        Event::new(id, now, crate::SOURCE, tenant.clone(), instance.clone(), data)
    }
}

/// A response body that adds each chunk it yields to a tenant's counter (so an aborted
/// download counts what left, not the file size).
pub struct MeteredBody {
    inner: Body,
    counter: Arc<TenantCounter>,
}

impl MeteredBody {
    /// Wraps `inner`, counting into `counter`.
    pub fn wrap(inner: Body, counter: Arc<TenantCounter>) -> Body {
        Body::new(MeteredBody { inner, counter })
    }
}

impl http_body::Body for MeteredBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.counter.bytes(data.len() as u64);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(s).unwrap()
    }

    #[test]
    fn a_period_yields_one_event_per_tenant_with_traffic_and_then_starts_again() {
        let m = EgressMeter::new(AggregateId::new("pb_1").unwrap(), 60, at(6_010));
        m.counter("acme").bytes(100);
        m.counter("acme").request();
        m.counter("acme").bytes(50);
        m.counter("globex").request();
        let mut events = m.close_period(at(6_060));
        events.sort_by(|a, b| a.tenant.cmp(&b.tenant));
        assert_eq!(events.len(), 2);
        match &events[0].data {
            framelog_events::EventData::View(ViewData::EgressMetered {
                period_start,
                bytes,
                requests,
                ..
            }) => {
                assert_eq!((*bytes, *requests), (150, 1));
                assert_eq!(period_start.unix_timestamp(), 6_010, "starts when counting started");
            }
            other => panic!("{other:?}"),
        }
        assert!(m.close_period(at(6_120)).is_empty(), "no traffic, no event");
        m.counter("acme").request();
        let again = m.close_period(at(6_180));
        assert_eq!(again.len(), 1);
        assert_ne!(again[0].id, events[0].id, "a new period has a new id");
    }

    #[test]
    fn an_early_close_starts_the_next_period_at_the_close() {
        let m = EgressMeter::new(AggregateId::new("pb_1").unwrap(), 60, at(6_000));
        m.counter("acme").request();
        let first = m.close_period(at(6_030));
        m.counter("acme").request();
        let second = m.close_period(at(6_060));
        assert_ne!(first[0].id, second[0].id);
        assert_eq!(m.period_end(), 6_120);
    }
}
