//! A job's wall-clock deadline: max(floor, source duration × factor) from the job's start (see
//! [`crate::settings::TranscoderSettings::deadline`]). When it passes, the job's cancellation
//! token fires, which kills its ffmpeg processes (as a shutdown would), and the cancellation
//! is reported as [`JobError::DeadlineExceeded`]: a permanent failure, never retried, since
//! the same source would take as long again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::error::JobError;

/// An armed deadline; dropping it disarms the timer.
#[derive(Debug)]
pub struct Deadline {
    parent: CancellationToken,
    token: CancellationToken,
    fired: Arc<AtomicBool>,
    limit: Duration,
    duration_secs: f64,
    timer: tokio::task::JoinHandle<()>,
}

impl Deadline {
    /// Arms a deadline of `limit` from `started`: its token is a child of `parent` (a shutdown
    /// still cancels it) that also fires at the deadline.
    pub fn arm(
        parent: &CancellationToken,
        limit: Duration,
        started: Instant,
        duration_secs: f64,
    ) -> Deadline {
        let token = parent.child_token();
        let fired = Arc::new(AtomicBool::new(false));
        let at = started.checked_add(limit).map(tokio::time::Instant::from_std);
        let (t, f) = (token.clone(), fired.clone());
        let timer = tokio::spawn(async move {
            let Some(at) = at else { return };
            tokio::select! {
                _ = t.cancelled() => {}
                _ = tokio::time::sleep_until(at) => {
                    f.store(true, Ordering::SeqCst);
                    t.cancel();
                }
            }
        });
        Deadline { parent: parent.clone(), token, fired, limit, duration_secs, timer }
    }

    /// The token the job's ffmpeg runs watch.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// A cancellation caused by the deadline (not by a shutdown) becomes
    /// [`JobError::DeadlineExceeded`]; anything else passes through.
    pub fn explain(&self, e: JobError) -> JobError {
        let expired = self.fired.load(Ordering::SeqCst) && !self.parent.is_cancelled();
        match e {
            JobError::Cancelled if expired => {
                tracing::warn!(limit_secs = self.limit.as_secs(), "job deadline passed: stopped");
                JobError::DeadlineExceeded {
                    limit_secs: self.limit.as_secs(),
                    duration_secs: self.duration_secs,
                }
            }
            other => other,
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        self.timer.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_passed_deadline_cancels_and_is_told_apart_from_a_shutdown() {
        let shutdown = CancellationToken::new();
        let d = Deadline::arm(&shutdown, Duration::from_millis(50), Instant::now(), 7.0);
        tokio::time::timeout(Duration::from_secs(5), d.token().cancelled()).await.unwrap();
        let e = d.explain(JobError::Cancelled);
        assert!(matches!(e, JobError::DeadlineExceeded { duration_secs: 7.0, .. }), "{e:?}");
        assert!(e.is_permanent());
        assert!(!shutdown.is_cancelled(), "the deadline stops this job only");

        let d = Deadline::arm(&shutdown, Duration::from_secs(3600), Instant::now(), 7.0);
        shutdown.cancel();
        assert!(d.token().is_cancelled());
        assert!(matches!(d.explain(JobError::Cancelled), JobError::Cancelled), "a shutdown");
    }
}
