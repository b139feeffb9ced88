//! The transcoder's Prometheus metrics (prefix `framelog_`), registered once per process
//! through [`Metrics::once`]:
//!
//! - `transcode_job_duration_seconds{outcome}`: one job attempt on this worker, from its start
//!   to its end; `outcome` is one of [`OUTCOMES`].
//! - `transcode_time_to_playable_seconds` / `transcode_time_to_ready_seconds`: from the
//!   request event's time (the upload's completion: ingest publishes `transcode.requested`
//!   right after `upload.completed`) to the `playable` and `ready.published` events, recorded
//!   by the worker that published them and never for the server's duplicates (a redelivered
//!   job's repeat).
//! - `transcode_realtime_factor{encoder}`: source seconds per wall second of a completed job
//!   (above 1: faster than real time), by the worker's video encoder (a name from the fixed
//!   candidate list of [`crate::encoder`], else `other`).
//!
//! The work queue's depth is not a metric of its own: the job queue and the `VID_WORK` items
//! are read by durable consumers, so `framelog_consumer_pending{consumer="transcoder"}` (jobs
//! waiting) and `{consumer="transcode-items"}` (work items waiting) already are
//! ([`framelog_core::jetstream_metrics`]).

use framelog_core::eventlog::Published;
use framelog_core::metrics::Metrics;
use framelog_events::{Event, EventData, ReadyData, TranscodeData};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

use crate::worker::Outcome;

/// Every `outcome` label of `framelog_transcode_job_duration_seconds`.
pub const OUTCOMES: &[&str] = &[
    "completed",
    "already_complete",
    "deleted",
    "failed",
    "handed_back",
    "fenced",
    "rejected",
    "crashed",
];

/// Every `encoder` label of `framelog_transcode_realtime_factor`.
pub const ENCODERS: &[&str] = &[
    "libx264",
    "libx265",
    "h264_nvenc",
    "hevc_nvenc",
    "h264_amf",
    "hevc_amf",
    "h264_qsv",
    "hevc_qsv",
    "h264_vaapi",
    "hevc_vaapi",
    "other",
];

/// Labels of the job duration.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

/// Labels of the realtime factor.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EncoderLabels {
    pub encoder: &'static str,
}

type Hist<L> = Family<L, Histogram, fn() -> Histogram>;

/// The transcoder's metrics; cheap to clone.
#[derive(Debug, Clone)]
pub struct TranscodeMetrics {
    job_seconds: Hist<OutcomeLabels>,
    to_playable: Histogram,
    to_ready: Histogram,
    realtime: Hist<EncoderLabels>,
}

fn seconds_histogram() -> Histogram {
    Histogram::new([
        0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
    ])
}

fn factor_histogram() -> Histogram {
    Histogram::new([0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0])
}

impl TranscodeMetrics {
    /// The process's transcoder metrics, registered in `metrics` on first use. Every outcome
    /// and the software encoder are present (at 0) from the start, so rules and panels find
    /// their series before the first job.
    pub fn of(metrics: &Metrics) -> TranscodeMetrics {
        metrics.once(|m| {
            let t = TranscodeMetrics {
                job_seconds: Family::new_with_constructor(seconds_histogram),
                to_playable: seconds_histogram(),
                to_ready: seconds_histogram(),
                realtime: Family::new_with_constructor(factor_histogram),
            };
            for outcome in OUTCOMES {
                let _ = t.job_seconds.get_or_create(&OutcomeLabels { outcome });
            }
            let _ = t.realtime.get_or_create(&EncoderLabels { encoder: "libx264" });
            m.register(
                "transcode_job_duration_seconds",
                "Seconds one transcode job attempt ran on this worker, by outcome",
                t.job_seconds.clone(),
            );
            m.register(
                "transcode_time_to_playable_seconds",
                "Seconds from the transcode request (the upload's completion) to playable",
                t.to_playable.clone(),
            );
            m.register(
                "transcode_time_to_ready_seconds",
                "Seconds from the transcode request (the upload's completion) to ready",
                t.to_ready.clone(),
            );
            m.register(
                "transcode_realtime_factor",
                "Source seconds transcoded per wall second of a completed job, by video encoder",
                t.realtime.clone(),
            );
            t
        })
    }

    /// Records how a job attempt ended after `secs`; steps that end no job are ignored.
    pub fn job_ended(&self, outcome: &Outcome, secs: f64) {
        if let Some(outcome) = outcome_label(outcome) {
            self.job_seconds.get_or_create(&OutcomeLabels { outcome }).observe(secs);
        }
    }

    /// Records a completed job's realtime factor: `source_secs` of media in `wall_secs`.
    pub fn completed(&self, encoder: &str, source_secs: f64, wall_secs: f64) {
        if let Some(f) = realtime_factor(source_secs, wall_secs) {
            self.realtime
                .get_or_create(&EncoderLabels { encoder: encoder_label(encoder) })
                .observe(f);
        }
    }

    /// Records the time to playable or to ready when `event` is one of those and this
    /// publication is not the server's duplicate.
    pub fn published(&self, event: &Event, request: &Event, published: &Published) {
        if matches!(published, Published::Stored { duplicate: true, .. }) {
            return;
        }
        let secs = (event.time - request.time).as_seconds_f64().max(0.0);
        match &event.data {
            EventData::Transcode(TranscodeData::Playable { .. }) => self.to_playable.observe(secs),
            EventData::Ready(ReadyData::Published { .. }) => self.to_ready.observe(secs),
            _ => {}
        }
    }
}

/// The `outcome` label of a step that ends a job, `None` for the others.
pub fn outcome_label(o: &Outcome) -> Option<&'static str> {
    Some(match o {
        Outcome::Completed { .. } => "completed",
        Outcome::AlreadyComplete { .. } => "already_complete",
        Outcome::Deleted { .. } => "deleted",
        Outcome::Failed { .. } => "failed",
        Outcome::HandedBack { .. } => "handed_back",
        Outcome::Fenced { .. } => "fenced",
        Outcome::Rejected { .. } => "rejected",
        Outcome::Crashed(_) => "crashed",
        Outcome::Idle | Outcome::Taken { .. } | Outcome::Deferred { .. } => return None,
        Outcome::ConsumerError(_) => return None,
    })
}

/// The `encoder` label of an ffmpeg encoder name: one of [`ENCODERS`].
pub fn encoder_label(codec: &str) -> &'static str {
    ENCODERS.iter().copied().find(|e| *e == codec).unwrap_or("other")
}

/// Media seconds per wall second; `None` when either is not a positive, finite number.
pub fn realtime_factor(source_secs: f64, wall_secs: f64) -> Option<f64> {
    let ok = |x: f64| x.is_finite() && x > 0.0;
    (ok(source_secs) && ok(wall_secs)).then(|| source_secs / wall_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoder_names_outside_the_candidates_share_one_label() {
        assert_eq!(encoder_label("libx264"), "libx264");
        assert_eq!(encoder_label("h264_nvenc"), "h264_nvenc");
        assert_eq!(encoder_label("libsvtav1"), "other");
        assert_eq!(encoder_label("anything; rm -rf"), "other");
    }

    #[test]
    fn the_realtime_factor_is_media_over_wall_and_absent_for_nonsense() {
        assert_eq!(realtime_factor(60.0, 20.0), Some(3.0));
        assert_eq!(realtime_factor(10.0, 40.0), Some(0.25));
        assert_eq!(realtime_factor(0.0, 5.0), None);
        assert_eq!(realtime_factor(5.0, 0.0), None);
        assert_eq!(realtime_factor(f64::NAN, 1.0), None);
    }

    #[test]
    fn steps_that_end_no_job_have_no_outcome_label() {
        assert_eq!(outcome_label(&Outcome::Idle), None);
        assert_eq!(outcome_label(&Outcome::ConsumerError("x".into())), None);
        assert_eq!(outcome_label(&Outcome::Crashed("x".into())), Some("crashed"));
        let all: Vec<_> = [
            Outcome::Crashed("x".into()),
            Outcome::Rejected { video: framelog_events::AggregateId::new("v").unwrap() },
        ]
        .iter()
        .filter_map(outcome_label)
        .collect();
        assert!(all.iter().all(|l| OUTCOMES.contains(l)), "{all:?}");
    }

    #[test]
    fn every_outcome_is_on_the_scrape_before_the_first_job() {
        let m = Metrics::new();
        let t = TranscodeMetrics::of(&m);
        t.completed("libx264", 30.0, 10.0);
        let text = m.render();
        for o in OUTCOMES {
            let line =
                format!("framelog_transcode_job_duration_seconds_count{{outcome=\"{o}\"}} 0");
            assert!(text.contains(&line), "{line} in {text}");
        }
        assert!(
            text.contains("framelog_transcode_realtime_factor_count{encoder=\"libx264\"} 1"),
            "{text}"
        );
        assert!(text.contains("framelog_transcode_time_to_ready_seconds_count 0"), "{text}");
    }
}
