//! How a projector that cannot go on says so: a readiness problem (`/readyz` answers 503 with
//! it) and the gauge `framelog_projection_stopped_at{stream}` (the sequence it stopped before;
//! 0 while running), until the projector moves again.

use framelog_core::readiness::Readiness;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::cursor::CursorMismatch;

/// The unreadable message a projector stopped before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    /// Its stream sequence (the projector applied everything before it, nothing after).
    pub seq: u64,
    /// Why it cannot be read.
    pub reason: String,
}

/// Labels of the projection gauges.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StreamLabel {
    pub stream: String,
}

/// The gauges of both projectors; registered once per process ([`StopGauges::register`]).
pub type StopGauges = Family<StreamLabel, Gauge>;

/// Registers the stop gauge family in `metrics` and returns it.
pub fn register(metrics: &framelog_core::metrics::Metrics) -> StopGauges {
    let family = StopGauges::default();
    metrics.register(
        "projection_stopped_at",
        "Sequence a projector stopped before (an unreadable message), 0 while it runs",
        family.clone(),
    );
    family
}

/// One projector's reporting.
#[derive(Debug, Clone)]
pub struct Health {
    stream: &'static str,
    readiness: Readiness,
    stopped_at: Gauge,
}

impl Health {
    pub fn new(stream: &'static str, readiness: Readiness, gauges: &StopGauges) -> Self {
        let stopped_at = gauges.get_or_create(&StreamLabel { stream: stream.to_owned() }).clone();
        Health { stream, readiness, stopped_at }
    }

    fn component(&self) -> String {
        format!("projection {}", self.stream)
    }

    /// Stopped before `stop` with everything up to `applied` applied.
    pub fn stopped(&self, stop: &Stop, applied: u64) {
        self.stopped_at.set(stop.seq as i64);
        self.readiness.set(
            &self.component(),
            format!(
                "stopped before unreadable message {} of {} (applied up to {applied}): {}; \
                 upgrade Framelog if a newer version wrote it, or stop the projection and run \
                 `framelog projection skip --stream {} --seq {}`",
                stop.seq, self.stream, stop.reason, self.stream, stop.seq
            ),
        );
    }

    /// Refused to resume: the stored cursor no longer fits the stream.
    pub fn cursor_refused(&self, m: &CursorMismatch) {
        self.readiness.set(&self.component(), m.to_string());
    }

    /// Events an older build read past are understood by this one: the views lack them until
    /// a rebuild. Not cleared by moving on.
    pub fn read_past_understood(&self, u: crate::read_past::Understood) {
        self.readiness.set(
            &format!("{} (read past)", self.component()),
            format!(
                "{} events of {} that an older build read past (the first at sequence {}) are \
                 understood by this one: the views lack them; run `framelog projection rebuild`",
                u.count, self.stream, u.first
            ),
        );
    }

    /// No read-past event is understood (any more).
    pub fn read_past_clear(&self) {
        self.readiness.clear(&format!("{} (read past)", self.component()));
    }

    /// Moving again.
    pub fn running(&self) {
        self.stopped_at.set(0);
        self.readiness.clear(&self.component());
    }
}
