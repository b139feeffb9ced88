//! Job progress: percent and ETA over the job's stages (pure), and a per-job publisher that sends
//! the latest value to the job's `vidp.` subject at most twice a second (progress is not a log
//! fact: a dashboard that connects late reads the last value).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use framelog_core::eventlog::EventLog;
use serde::Serialize;
use tokio::sync::watch;

/// Least time between two progress messages of one job.
pub const MIN_INTERVAL: Duration = Duration::from_millis(500);

/// The progress message (`{"percent":..,"eta_secs":..,"stage":..}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Progress {
    /// 0 to 100.
    pub percent: f64,
    /// Estimated seconds left, once some work is done.
    pub eta_secs: Option<f64>,
    /// `probing`, `lowest` (the first rendition), `ladder` (the others), `publishing`, `done`.
    pub stage: &'static str,
}

/// The job's percent from each stage's own fraction, stages weighted by their estimated cost.
/// Stages may run at the same time (the lowest rendition and the rest of the ladder do).
#[derive(Debug)]
pub struct Plan {
    /// (stage name, share of the job) in order; shares sum to 1.
    stages: Vec<(&'static str, f64)>,
    /// How far each stage is (0..=1).
    done: Mutex<Vec<f64>>,
    started: Instant,
}

impl Plan {
    /// A plan of stages with relative `costs` (any unit).
    pub fn new(costs: &[(&'static str, f64)], started: Instant) -> Plan {
        let total: f64 = costs.iter().map(|(_, c)| c.max(0.0)).sum();
        let stages: Vec<_> = costs
            .iter()
            .map(|(n, c)| (*n, if total > 0.0 { c.max(0.0) / total } else { 0.0 }))
            .collect();
        let done = Mutex::new(vec![0.0; stages.len()]);
        Plan { stages, done, started }
    }

    /// Records that `stage` is `fraction` (0..=1) done at `now` (a stage never goes back) and
    /// returns the job's progress. The stage reported is the first one not finished.
    pub fn update(&self, stage: &'static str, fraction: f64, now: Instant) -> Progress {
        let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = self.stages.iter().position(|(n, _)| *n == stage) {
            done[i] = done[i].max(fraction.clamp(0.0, 1.0));
        }
        let total: f64 = self.stages.iter().zip(done.iter()).map(|((_, s), d)| s * d).sum();
        let current = self
            .stages
            .iter()
            .zip(done.iter())
            .find(|((_, share), d)| **d < 1.0 && *share > 0.0)
            .map_or(stage, |((n, _), _)| *n);
        let percent = (total * 100.0).clamp(0.0, 100.0);
        let elapsed = now.saturating_duration_since(self.started).as_secs_f64();
        let eta_secs = (1.0..100.0)
            .contains(&percent)
            .then(|| (elapsed * (100.0 - percent) / percent * 10.0).round() / 10.0);
        Progress { percent: (percent * 10.0).round() / 10.0, eta_secs, stage: current }
    }
}

/// Publishes one job's progress from a task; updates are coalesced to the latest value.
#[derive(Debug)]
pub struct Reporter {
    tx: watch::Sender<Option<Progress>>,
    task: tokio::task::JoinHandle<()>,
    events: EventLog,
    subject: String,
}

async fn send(events: &EventLog, subject: &str, p: &Progress) {
    let json = serde_json::to_vec(p).expect("progress serialises");
    events.publish_progress(subject.to_owned(), Bytes::from(json)).await;
}

impl Reporter {
    /// Starts publishing to `subject`.
    pub fn start(events: EventLog, subject: String) -> Reporter {
        let (tx, mut rx) = watch::channel::<Option<Progress>>(None);
        let (ev, subj) = (events.clone(), subject.clone());
        let task = tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let value = rx.borrow_and_update().clone();
                if let Some(p) = value {
                    send(&ev, &subj, &p).await;
                }
                tokio::time::sleep(MIN_INTERVAL).await;
            }
        });
        Reporter { tx, task, events, subject }
    }

    /// Sets the latest progress.
    pub fn set(&self, p: Progress) {
        self.tx.send_replace(Some(p));
    }

    /// A cheap handle to update progress from a callback.
    pub fn sender(&self) -> watch::Sender<Option<Progress>> {
        self.tx.clone()
    }

    /// Stops the periodic task and sends `last` at once.
    pub async fn finish(mut self, last: Progress) {
        self.task.abort();
        let _ = (&mut self.task).await;
        send(&self.events, &self.subject, &last).await;
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_follows_the_stage_shares_and_eta_extrapolates() {
        let t0 = Instant::now();
        let plan = Plan::new(&[("lowest", 1.0), ("ladder", 3.0), ("publishing", 0.0)], t0);
        let p = plan.update("lowest", 0.5, t0 + Duration::from_secs(5));
        assert_eq!((p.percent, p.eta_secs, p.stage), (12.5, Some(35.0), "lowest"));
        // The ladder runs at the same time: its share adds up; the label stays on the first
        // unfinished stage.
        let p = plan.update("ladder", 0.5, t0 + Duration::from_secs(5));
        assert_eq!((p.percent, p.stage), (50.0, "lowest"));
        let p = plan.update("lowest", 0.2, t0);
        assert_eq!(p.percent, 50.0, "a stage never goes back");
        let p = plan.update("lowest", 1.0, t0);
        assert_eq!((p.percent, p.stage), (62.5, "ladder"));
        assert_eq!(plan.update("ladder", 2.0, t0).percent, 100.0, "clamped");
        assert_eq!(plan.update("ladder", 1.0, t0).eta_secs, None, "nothing left");
        let fresh = Plan::new(&[("lowest", 1.0)], t0);
        assert_eq!(fresh.update("lowest", 0.0, t0).eta_secs, None, "unknown yet");
    }

    #[test]
    fn the_message_has_the_documented_shape() {
        let p = Progress { percent: 42.5, eta_secs: Some(3.0), stage: "ladder" };
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"percent":42.5,"eta_secs":3.0,"stage":"ladder"}"#
        );
    }
}
