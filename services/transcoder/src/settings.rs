//! [`TranscoderSettings`]: the `--transcode-*` flags with `FRAMELOG_TRANSCODE_*` fallbacks.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::TranscoderError;
use crate::profile::GOP_SECS;

/// Settings of the transcoder workers.
#[derive(Debug, Clone, clap::Args)]
pub struct TranscoderSettings {
    /// Jobs one worker runs at once (the seed's GPU semaphore).
    #[arg(
        long = "transcode-concurrency",
        env = "FRAMELOG_TRANSCODE_CONCURRENCY",
        default_value_t = 2
    )]
    pub concurrency: usize,

    /// Video encoder: `auto` (try NVENC, AMF, QSV, VAAPI, then libx264) or an ffmpeg encoder
    /// name such as `libx264` or `h264_nvenc`.
    #[arg(long = "transcode-encoder", env = "FRAMELOG_TRANSCODE_ENCODER", default_value = "auto")]
    pub encoder: String,

    /// x264 preset when encoding in software.
    #[arg(
        long = "transcode-x264-preset",
        env = "FRAMELOG_TRANSCODE_X264_PRESET",
        default_value = "veryfast"
    )]
    pub x264_preset: String,

    /// Deliveries of a job before it is dead-lettered.
    #[arg(
        long = "transcode-max-deliver",
        env = "FRAMELOG_TRANSCODE_MAX_DELIVER",
        default_value_t = 4
    )]
    pub max_deliver: i64,

    /// Seconds without an ack or progress after which a job is handed to another worker.
    #[arg(
        long = "transcode-ack-wait-secs",
        env = "FRAMELOG_TRANSCODE_ACK_WAIT_SECS",
        default_value_t = 60
    )]
    pub ack_wait_secs: u64,

    /// First retry delay after a transient failure, in seconds; doubles per attempt.
    #[arg(
        long = "transcode-retry-delay-secs",
        env = "FRAMELOG_TRANSCODE_RETRY_DELAY_SECS",
        default_value_t = 10
    )]
    pub retry_delay_secs: u64,

    /// Target HLS segment length in seconds (a multiple of the 2 s GOP).
    #[arg(
        long = "transcode-segment-secs",
        env = "FRAMELOG_TRANSCODE_SEGMENT_SECS",
        default_value_t = 6
    )]
    pub segment_secs: u32,

    /// Publish the lowest rendition first (`VID_TRANSCODE playable`) from its own fast ffmpeg
    /// process, then the rest of the ladder from one process. `false`: the whole ladder from one
    /// process (less CPU, nothing playable before the end).
    #[arg(
        long = "transcode-early-playable",
        env = "FRAMELOG_TRANSCODE_EARLY_PLAYABLE",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub early_playable: bool,

    /// The ffmpeg binary.
    #[arg(long = "transcode-ffmpeg", env = "FRAMELOG_TRANSCODE_FFMPEG", default_value = "ffmpeg")]
    pub ffmpeg: PathBuf,

    /// This worker's name in `started` events (default: host name and process id).
    #[arg(long = "transcode-worker-name", env = "FRAMELOG_TRANSCODE_WORKER_NAME")]
    pub worker_name: Option<String>,
}

impl Default for TranscoderSettings {
    fn default() -> Self {
        TranscoderSettings {
            concurrency: 2,
            encoder: "auto".into(),
            x264_preset: "veryfast".into(),
            max_deliver: 4,
            ack_wait_secs: 60,
            retry_delay_secs: 10,
            segment_secs: 6,
            early_playable: true,
            ffmpeg: PathBuf::from("ffmpeg"),
            worker_name: None,
        }
    }
}

impl TranscoderSettings {
    /// Settings for tests: the defaults with libx264 (no hardware probing), one job at a time,
    /// a short ack wait and immediate retries.
    pub fn for_test() -> Self {
        TranscoderSettings {
            concurrency: 1,
            encoder: "libx264".into(),
            ack_wait_secs: 5,
            retry_delay_secs: 0,
            ..Default::default()
        }
    }

    /// How long the server waits for an ack or progress.
    pub fn ack_wait(&self) -> Duration {
        Duration::from_secs(self.ack_wait_secs)
    }

    /// In-progress acks are sent this often (a third of the ack wait).
    pub fn keep_alive_interval(&self) -> Duration {
        (self.ack_wait() / 3).max(Duration::from_millis(200))
    }

    /// Redelivery delay after a transient failure of `attempt` (1-based): doubling, at most 10 min.
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        let factor = 1u64 << attempt.saturating_sub(1).min(16);
        Duration::from_secs(self.retry_delay_secs.saturating_mul(factor).min(600))
    }

    /// The server's redelivery delays after a silent worker (no ack, no progress), one per
    /// delivery: the ack wait, then doubling, at most 10 min (at most `max_deliver - 1` values,
    /// as the server requires).
    pub fn backoff(&self) -> Vec<Duration> {
        let n = if self.max_deliver > 1 { (self.max_deliver - 1).min(8) as u32 } else { 0 };
        (0..n)
            .map(|i| {
                (self.ack_wait() * (1 << i)).min(Duration::from_secs(600).max(self.ack_wait()))
            })
            .collect()
    }

    /// Checks values clap cannot.
    pub fn validate(&self) -> Result<(), TranscoderError> {
        let bad = |m: String| Err(TranscoderError::InvalidSettings(m));
        if self.concurrency == 0 {
            return bad("--transcode-concurrency must be at least 1".into());
        }
        if self.max_deliver < 1 {
            return bad("--transcode-max-deliver must be at least 1".into());
        }
        if self.ack_wait_secs == 0 {
            return bad("--transcode-ack-wait-secs must be at least 1".into());
        }
        if self.segment_secs == 0 || !self.segment_secs.is_multiple_of(GOP_SECS) {
            return bad(format!(
                "--transcode-segment-secs must be a positive multiple of the {GOP_SECS} s GOP"
            ));
        }
        if self.encoder.trim().is_empty() {
            return bad("--transcode-encoder must be `auto` or an encoder name".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        t: TranscoderSettings,
    }

    #[test]
    fn flags_have_the_documented_defaults() {
        let s = Cli::parse_from(["x"]).t;
        assert_eq!((s.concurrency, s.max_deliver, s.ack_wait_secs), (2, 4, 60));
        assert_eq!((s.encoder.as_str(), s.x264_preset.as_str()), ("auto", "veryfast"));
        assert!(s.early_playable);
        let s = Cli::parse_from([
            "x",
            "--transcode-early-playable",
            "false",
            "--transcode-concurrency",
            "3",
        ])
        .t;
        assert!(!s.early_playable);
        assert_eq!(s.concurrency, 3);
    }

    #[test]
    fn retry_delays_double_and_the_backoff_fits_max_deliver() {
        let s = TranscoderSettings::default();
        assert_eq!(s.retry_delay(1), Duration::from_secs(10));
        assert_eq!(s.retry_delay(3), Duration::from_secs(40));
        assert_eq!(s.retry_delay(30), Duration::from_secs(600));
        let secs: Vec<u64> = s.backoff().iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [60, 120, 240]);
        assert_eq!(s.keep_alive_interval(), Duration::from_secs(20));
    }

    #[test]
    fn nonsense_values_are_refused() {
        let mut s = TranscoderSettings { segment_secs: 5, ..Default::default() };
        assert!(s.validate().is_err());
        s.segment_secs = 4;
        assert!(s.validate().is_ok());
        s.concurrency = 0;
        assert!(s.validate().is_err());
    }
}
