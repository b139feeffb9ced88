//! Errors: [`TranscoderError`] stops the service from starting; [`JobError`] fails one attempt of
//! one job, permanently (the input is at fault: never retried) or not (retried with back-off).

use framelog_core::consumer::ConsumeError;
use framelog_core::eventlog::EventLogError;
use framelog_core::media::MediaError;
use framelog_core::media_limits::LimitViolation;
use framelog_core::probe::ProbeError;

use crate::codecs::CodecsError;
use crate::ffmpeg::FfmpegError;
use crate::playlist::PlaylistError;

/// Why the transcoder could not start.
#[derive(Debug, thiserror::Error)]
pub enum TranscoderError {
    #[error("invalid transcoder settings: {0}")]
    InvalidSettings(String),
    #[error("encoder {encoder} does not work on this machine: {reason}")]
    EncoderUnavailable { encoder: String, reason: String },
    #[error(transparent)]
    Consumer(#[from] ConsumeError),
    #[error("preparing {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// Why one attempt of a job failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The source is not in the media store (deleted, or never stored).
    #[error("source {0} is not in the media store")]
    SourceMissing(String),
    /// ffprobe refuses the source.
    #[error("the source is not a usable video ({code}): {source}")]
    Probe { code: &'static str, source: ProbeError },
    #[error("ffmpeg failed: {0}")]
    Ffmpeg(#[from] FfmpegError),
    /// The worker is shutting down: the job is handed back, not failed.
    #[error("cancelled by shutdown")]
    Cancelled,
    /// The video was deleted (its tombstone exists): the job stops, its outputs are removed
    /// and the job is acked, neither failed nor retried.
    #[error("the video was deleted")]
    Deleted,
    #[error("media store: {0}")]
    Media(#[from] MediaError),
    #[error("publishing an event: {0}")]
    Events(#[from] EventLogError),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    /// The request names a source key outside `sources/<its tenant>/`: never read.
    #[error("source key {key:?} is not a source of tenant {tenant}; refused without reading it")]
    ForeignSource { key: String, tenant: String },
    /// The source is over a media limit (duration, size, frame rate, work, streams).
    #[error("the source is over a media limit ({code}): {0}", code = .0.code())]
    Limits(#[from] LimitViolation),
    /// The job ran past its wall-clock deadline; its ffmpeg processes were killed.
    #[error(
        "the transcode ran past its deadline of {limit_secs} s (for a source of \
         {duration_secs:.1} s) and was stopped"
    )]
    DeadlineExceeded { limit_secs: u64, duration_secs: f64 },
    /// A work item was planned by a worker whose plan of the source differs from this one's
    /// (another release): handed back for a worker that plans alike, no attempt used.
    #[error("the item was planned differently ({theirs}) than this worker plans it ({ours})")]
    OtherPlan { ours: String, theirs: String },
    /// A work item of a chunked job was dead-lettered: this attempt of the job fails.
    #[error("work item {item} failed: {reason}")]
    ItemFailed { item: String, reason: String },
    /// The work item queue or its leases could not be used.
    #[error("work items: {0}")]
    Items(String),
    /// ffmpeg succeeded but an output is not what it should be.
    #[error("output {path}: {message}")]
    Output { path: String, message: String },
}

impl JobError {
    /// Whether retrying cannot help (the input itself is at fault).
    pub fn is_permanent(&self) -> bool {
        match self {
            JobError::SourceMissing(_)
            | JobError::ForeignSource { .. }
            | JobError::Limits(_)
            | JobError::DeadlineExceeded { .. } => true,
            JobError::Probe { source, .. } => source.is_input_error(),
            JobError::Ffmpeg(FfmpegError::Failed { input_fault, .. }) => *input_fault,
            _ => false,
        }
    }

    /// An IO error with what was being done.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> JobError {
        let context = context.into();
        move |source| JobError::Io { context, source }
    }

    /// A bad output file.
    pub fn output(path: &std::path::Path, message: impl std::fmt::Display) -> JobError {
        JobError::Output { path: path.display().to_string(), message: message.to_string() }
    }
}

impl From<ProbeError> for JobError {
    fn from(source: ProbeError) -> Self {
        // Permanence is decided by `is_permanent` (a failing ffprobe is not the input's fault).
        JobError::Probe { code: source.code(), source }
    }
}

impl From<PlaylistError> for JobError {
    fn from(e: PlaylistError) -> Self {
        JobError::Output { path: "playlist".into(), message: e.to_string() }
    }
}

impl From<CodecsError> for JobError {
    fn from(e: CodecsError) -> Self {
        JobError::Output { path: "init segment".into(), message: e.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_faults_are_permanent_and_machine_faults_are_not() {
        assert!(JobError::SourceMissing("k".into()).is_permanent());
        assert!(JobError::from(ProbeError::Unreadable("x".into())).is_permanent());
        assert!(JobError::from(ProbeError::NoVideo).is_permanent());
        assert!(!JobError::from(ProbeError::Tool("timeout".into())).is_permanent());
        let bad_input =
            FfmpegError::Failed { status: "1".into(), tail: "".into(), input_fault: true };
        assert!(JobError::Ffmpeg(bad_input).is_permanent());
        let oom = FfmpegError::Failed { status: "1".into(), tail: "".into(), input_fault: false };
        assert!(!JobError::Ffmpeg(oom).is_permanent());
        assert!(!JobError::Cancelled.is_permanent());
        let foreign =
            JobError::ForeignSource { key: "sources/b/v/source".into(), tenant: "a".into() };
        assert!(foreign.is_permanent());
        let long = LimitViolation::Duration { actual: 36_000.0, limit: 43_200.0 };
        assert!(JobError::Limits(long).to_string().contains("duration_too_long"));
        assert!(JobError::DeadlineExceeded { limit_secs: 6, duration_secs: 1.0 }.is_permanent());
    }
}
