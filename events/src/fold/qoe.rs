//! The QoE fold: `VID_VIEW qoe` summaries summed into a [`QoeTally`] (per video, per video and
//! UTC day, per tenant and day: the projection decides the keys), and the figures a dashboard
//! shows, computed from a tally by [`QoeTally::report`].
//!
//! A tally holds only sums and a fixed histogram, so it is a monoid: tallies of days merge into
//! a range ([`QoeTally::merge`]) and the percentiles of the merged histogram are those of the
//! range. Startup p50/p95 are read from the histogram: the upper bound of the bucket the
//! percentile falls in ([`STARTUP_BUCKETS_MS`]), so "p95 ≤ 2 s", exact to a bucket.
//!
//! Like the view counts it is a counter: each event id is folded once through
//! [`super::Deduped`] (or, in the projection, the seen-ids tree). Every sample is clamped again
//! by [`QoeBounds::FOLD`] before it is added.
//!
//! The score, in the spirit of Mux Data's viewer experience scores (each 0..=1, shown ×100):
//! - startup: the mean over startup samples of `1` at ≤ 1 s, `0` at ≥ 10 s, linear between;
//! - smoothness: `max(0, 1 − 5 × rebuffer ratio)` (20 % of the watch time stalled scores 0);
//! - success: `1 − (summaries with a fatal error) / max(views, that count)`;
//! - score: `100 × success × (startup + smoothness) / 2`: a failing player scores low however
//!   fast it started.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::data::ViewData;
use crate::envelope::{Event, EventData};
use crate::qoe::{QoeBounds, QoeSample};

/// Upper bounds (ms) of the startup histogram's buckets; one more bucket holds what is above
/// the last (and clamped startups of exactly 60 s fall in the last bucket).
pub const STARTUP_BUCKETS_MS: [u64; 14] = [
    250, 500, 750, 1_000, 1_500, 2_000, 3_000, 4_000, 6_000, 8_000, 10_000, 15_000, 30_000, 60_000,
];

/// Distinct error codes kept per tally; further codes are counted under `other`.
pub const MAX_ERROR_CODES: usize = 16;

/// Sums of the QoE summaries of one video (or tenant) over a day or all time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QoeTally {
    /// Summaries folded.
    pub summaries: u64,
    /// Sessions with QoE (their first summary, `seq` 0).
    pub views: u64,
    pub watch_ms: u64,
    pub rebuffer_ms: u64,
    pub rebuffer_count: u64,
    pub switches: u64,
    pub errors: u64,
    /// Summaries with at least one fatal error.
    pub errored: u64,
    /// Fatal errors by code (at most [`MAX_ERROR_CODES`] codes, then `other`).
    #[serde(default)]
    pub error_codes: BTreeMap<String, u64>,
    /// Startup samples, their sum, and their histogram over [`STARTUP_BUCKETS_MS`] (+ 1).
    pub startups: u64,
    pub startup_ms_sum: u64,
    #[serde(default)]
    pub startup_hist: Vec<u64>,
    /// Sum of the startup scores of the samples, in thousandths.
    pub startup_score_milli: u64,
    /// Live latency samples (one per summary that had one) and their sum.
    pub latency_samples: u64,
    pub latency_ms_sum: u64,
}

/// What a dashboard shows of a tally.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QoeReport {
    pub views: u64,
    pub summaries: u64,
    pub watch_secs: f64,
    pub rebuffer_secs: f64,
    /// Total rebuffer time / total watch time (0 when nothing was watched).
    pub rebuffer_ratio: f64,
    pub rebuffer_count: u64,
    /// Rebuffers per minute watched.
    pub rebuffers_per_minute: f64,
    pub switches: u64,
    pub errors: u64,
    pub error_codes: BTreeMap<String, u64>,
    pub startup_mean_ms: Option<u64>,
    /// Upper bound of the histogram bucket holding the 50th / 95th percentile.
    pub startup_p50_ms: Option<u64>,
    pub startup_p95_ms: Option<u64>,
    pub latency_mean_ms: Option<u64>,
    /// 0..=100 each (see the module docs).
    pub startup_score: Option<f64>,
    pub smoothness_score: Option<f64>,
    pub success_score: Option<f64>,
    pub score: Option<f64>,
}

/// The startup score of one sample, in thousandths: 1000 at ≤ 1 s, 0 at ≥ 10 s, linear between.
pub fn startup_score_milli(ms: u64) -> u64 {
    match ms {
        0..=1_000 => 1_000,
        10_000.. => 0,
        _ => (10_000 - ms) / 9,
    }
}

/// The histogram bucket of a startup time.
fn bucket(ms: u64) -> usize {
    STARTUP_BUCKETS_MS.iter().position(|b| ms <= *b).unwrap_or(STARTUP_BUCKETS_MS.len())
}

/// The QoE sample of an event, if it is one.
pub fn sample(event: &Event) -> Option<&QoeSample> {
    match &event.data {
        EventData::View(ViewData::Qoe(s)) => Some(s),
        _ => None,
    }
}

/// Adds a `qoe` event's sample (clamped again) to `tally`; other events leave it unchanged.
pub fn apply(tally: QoeTally, event: &Event) -> QoeTally {
    match sample(event) {
        Some(s) => tally.with(&QoeBounds::FOLD.clamp(s.clone())),
        None => tally,
    }
}

impl QoeTally {
    /// `self` with one (already clamped) sample added.
    pub fn with(mut self, s: &QoeSample) -> QoeTally {
        self.summaries = self.summaries.saturating_add(1);
        if s.seq == 0 {
            self.views = self.views.saturating_add(1);
        }
        self.watch_ms = self.watch_ms.saturating_add(s.watch_ms);
        self.rebuffer_ms = self.rebuffer_ms.saturating_add(s.rebuffer_ms);
        self.rebuffer_count = self.rebuffer_count.saturating_add(u64::from(s.rebuffer_count));
        self.switches = self.switches.saturating_add(u64::from(s.switches));
        if s.errors > 0 {
            self.errors = self.errors.saturating_add(u64::from(s.errors));
            self.errored = self.errored.saturating_add(1);
            let code = s.error_code.clone().unwrap_or_else(|| "unknown".to_owned());
            self.count_code(code, u64::from(s.errors));
        }
        if let Some(ms) = s.startup_ms {
            self.startups = self.startups.saturating_add(1);
            self.startup_ms_sum = self.startup_ms_sum.saturating_add(ms);
            self.startup_score_milli =
                self.startup_score_milli.saturating_add(startup_score_milli(ms));
            self.hist_add(bucket(ms), 1);
        }
        if let Some(ms) = s.latency_ms {
            self.latency_samples = self.latency_samples.saturating_add(1);
            self.latency_ms_sum = self.latency_ms_sum.saturating_add(ms);
        }
        self
    }

    fn hist_add(&mut self, i: usize, n: u64) {
        if self.startup_hist.len() <= STARTUP_BUCKETS_MS.len() {
            self.startup_hist.resize(STARTUP_BUCKETS_MS.len() + 1, 0);
        }
        if let Some(b) = self.startup_hist.get_mut(i) {
            *b = b.saturating_add(n);
        }
    }

    fn count_code(&mut self, code: String, n: u64) {
        let code =
            if self.error_codes.contains_key(&code) || self.error_codes.len() < MAX_ERROR_CODES {
                code
            } else {
                "other".to_owned()
            };
        let c = self.error_codes.entry(code).or_insert(0);
        *c = c.saturating_add(n);
    }

    /// The tally of both (days into a range).
    pub fn merge(mut self, o: &QoeTally) -> QoeTally {
        self.summaries = self.summaries.saturating_add(o.summaries);
        self.views = self.views.saturating_add(o.views);
        self.watch_ms = self.watch_ms.saturating_add(o.watch_ms);
        self.rebuffer_ms = self.rebuffer_ms.saturating_add(o.rebuffer_ms);
        self.rebuffer_count = self.rebuffer_count.saturating_add(o.rebuffer_count);
        self.switches = self.switches.saturating_add(o.switches);
        self.errors = self.errors.saturating_add(o.errors);
        self.errored = self.errored.saturating_add(o.errored);
        for (code, n) in &o.error_codes {
            self.count_code(code.clone(), *n);
        }
        self.startups = self.startups.saturating_add(o.startups);
        self.startup_ms_sum = self.startup_ms_sum.saturating_add(o.startup_ms_sum);
        self.startup_score_milli = self.startup_score_milli.saturating_add(o.startup_score_milli);
        for (i, n) in o.startup_hist.iter().enumerate() {
            self.hist_add(i, *n);
        }
        self.latency_samples = self.latency_samples.saturating_add(o.latency_samples);
        self.latency_ms_sum = self.latency_ms_sum.saturating_add(o.latency_ms_sum);
        self
    }

    /// The upper bound (ms) of the bucket holding percentile `p` (0..=1) of the startups.
    pub fn startup_percentile_ms(&self, p: f64) -> Option<u64> {
        let n: u64 = self.startup_hist.iter().sum();
        if n == 0 {
            return None;
        }
        let rank = ((p * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (i, c) in self.startup_hist.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(*STARTUP_BUCKETS_MS.get(i).unwrap_or(&crate::qoe::MAX_STARTUP_MS));
            }
        }
        None
    }

    /// The figures of this tally (see the module docs for the scores).
    pub fn report(&self) -> QoeReport {
        let ratio =
            if self.watch_ms == 0 { 0.0 } else { self.rebuffer_ms as f64 / self.watch_ms as f64 };
        let minutes = self.watch_ms as f64 / 60_000.0;
        let mean = |sum: u64, n: u64| (n > 0).then(|| sum / n);
        let startup = (self.startups > 0)
            .then(|| self.startup_score_milli as f64 / self.startups as f64 / 1000.0);
        let smooth = (self.watch_ms > 0).then(|| (1.0 - 5.0 * ratio).max(0.0));
        let attempts = self.views.max(self.errored);
        let success = (attempts > 0).then(|| 1.0 - self.errored as f64 / attempts as f64);
        let score = success.map(|ok| {
            let parts: Vec<f64> = [startup, smooth].into_iter().flatten().collect();
            let exp =
                if parts.is_empty() { 0.0 } else { parts.iter().sum::<f64>() / parts.len() as f64 };
            round1(100.0 * ok * exp)
        });
        QoeReport {
            views: self.views,
            summaries: self.summaries,
            watch_secs: round1(self.watch_ms as f64 / 1000.0),
            rebuffer_secs: round1(self.rebuffer_ms as f64 / 1000.0),
            rebuffer_ratio: (ratio * 10_000.0).round() / 10_000.0,
            rebuffer_count: self.rebuffer_count,
            rebuffers_per_minute: if minutes > 0.0 {
                round1(self.rebuffer_count as f64 / minutes)
            } else {
                0.0
            },
            switches: self.switches,
            errors: self.errors,
            error_codes: self.error_codes.clone(),
            startup_mean_ms: mean(self.startup_ms_sum, self.startups),
            startup_p50_ms: self.startup_percentile_ms(0.5),
            startup_p95_ms: self.startup_percentile_ms(0.95),
            latency_mean_ms: mean(self.latency_ms_sum, self.latency_samples),
            startup_score: startup.map(|s| round1(100.0 * s)),
            smoothness_score: smooth.map(|s| round1(100.0 * s)),
            success_score: success.map(|s| round1(100.0 * s)),
            score,
        }
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

#[cfg(test)]
#[path = "qoe_tests.rs"]
mod tests;
