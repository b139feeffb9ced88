//! [`TranscoderSettings`]: the `--transcode-*` flags with `FRAMELOG_TRANSCODE_*` fallbacks.

use std::path::PathBuf;
use std::time::Duration;

use crate::chunk_settings::ChunkSettings;
use crate::error::TranscoderError;
use crate::limits::TranscodeLimits;
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

    /// Attempts of a job before it is dead-lettered: failures and attempts whose worker died,
    /// counted by the transcoder (graceful hand-backs on shutdown do not count).
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

    // ---- Hostile media and fairness (issue #13) ----
    /// Limits on a source, checked before encoding (`--transcode-max-*`).
    #[command(flatten)]
    pub limits: TranscodeLimits,

    /// Shortest wall-clock deadline of a job, seconds: a job runs at most
    /// max(floor, source duration × factor), then its ffmpeg is killed and it fails for good.
    #[arg(
        long = "transcode-deadline-floor-secs",
        env = "FRAMELOG_TRANSCODE_DEADLINE_FLOOR_SECS",
        default_value_t = 900
    )]
    pub deadline_floor_secs: u64,

    /// Seconds of wall clock a job may take per second of source (see the floor).
    #[arg(
        long = "transcode-deadline-factor",
        env = "FRAMELOG_TRANSCODE_DEADLINE_FACTOR",
        default_value_t = 6.0
    )]
    pub deadline_factor: f64,

    /// Most jobs of one tenant this worker runs at once (default: concurrency − 1, at least 1).
    #[arg(long = "transcode-tenant-cap", env = "FRAMELOG_TRANSCODE_TENANT_CAP")]
    pub tenant_cap: Option<usize>,

    /// A job of a tenant at its cap is handed back for this many seconds × its deliveries
    /// (at most 60 s).
    #[arg(
        long = "transcode-handback-delay-secs",
        env = "FRAMELOG_TRANSCODE_HANDBACK_DELAY_SECS",
        default_value_t = 5
    )]
    pub handback_delay_secs: u64,

    /// Most hand-backs of one job; after them it runs even over its tenant's cap. They are
    /// counted apart from attempts (the server allows max-deliver + this many deliveries).
    #[arg(
        long = "transcode-max-handbacks",
        env = "FRAMELOG_TRANSCODE_MAX_HANDBACKS",
        default_value_t = 50
    )]
    pub max_handbacks: i64,

    // ---- Exactly once (issue #14) ----
    /// Deliveries of a job beyond its attempts and hand-backs that the server allows before it
    /// drops the job (a backstop: graceful shutdowns and waits for another worker's live lease
    /// are deliveries too). A job dropped there is dead-lettered from the server's advisory.
    #[arg(
        long = "transcode-max-requeues",
        env = "FRAMELOG_TRANSCODE_MAX_REQUEUES",
        default_value_t = 100
    )]
    pub max_requeues: i64,

    /// Seconds between sweeps for videos stuck in processing (0: no sweeper on this replica).
    #[arg(
        long = "transcode-sweep-interval-secs",
        env = "FRAMELOG_TRANSCODE_SWEEP_INTERVAL_SECS",
        default_value_t = 300
    )]
    pub sweep_interval_secs: u64,

    /// A video whose latest transcode fact is older than this many seconds, with no live lease
    /// and no job pending, is stuck: the sweeper requests it again or dead-letters it.
    #[arg(
        long = "transcode-stuck-after-secs",
        env = "FRAMELOG_TRANSCODE_STUCK_AFTER_SECS",
        default_value_t = 3600
    )]
    pub stuck_after_secs: u64,

    /// Seconds a version of a video's outputs stays stored after the pointer left it (players
    /// mid-stream keep their segments), then it is removed.
    #[arg(
        long = "transcode-version-grace-secs",
        env = "FRAMELOG_TRANSCODE_VERSION_GRACE_SECS",
        default_value_t = 600
    )]
    pub version_grace_secs: u64,

    /// Ranges, work items and passthrough ([`crate::chunk_settings`]).
    #[command(flatten)]
    pub chunks: ChunkSettings,
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
            limits: TranscodeLimits::default(),
            deadline_floor_secs: 900,
            deadline_factor: 6.0,
            tenant_cap: None,
            handback_delay_secs: 5,
            max_handbacks: 50,
            max_requeues: 100,
            sweep_interval_secs: 300,
            stuck_after_secs: 3600,
            version_grace_secs: 600,
            chunks: ChunkSettings::default(),
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
            handback_delay_secs: 1,
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

    /// How long a job's lease lasts after each renewal: half a keep-alive interval less than
    /// the ack wait, so a silent worker's lease has ended when the server redelivers its job.
    pub fn lease_ttl(&self) -> Duration {
        self.ack_wait().saturating_sub(self.keep_alive_interval() / 2)
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

    /// The wall-clock deadline of a job on a source of `duration_secs`.
    pub fn deadline(&self, duration_secs: f64) -> Duration {
        let floor = Duration::from_secs(self.deadline_floor_secs.max(1));
        let scaled = duration_secs * self.deadline_factor;
        if scaled.is_finite() && scaled > floor.as_secs_f64() {
            Duration::try_from_secs_f64(scaled).unwrap_or(Duration::MAX)
        } else {
            floor
        }
    }

    /// Most jobs of one tenant at once on this worker.
    pub fn tenant_cap(&self) -> usize {
        self.tenant_cap.unwrap_or(self.concurrency.saturating_sub(1)).clamp(1, self.concurrency)
    }

    /// How long a job of a tenant at its cap is handed back for, at its `delivered`th delivery.
    pub fn handback_delay(&self, delivered: i64) -> Duration {
        let n = u64::try_from(delivered.max(1)).unwrap_or(1);
        Duration::from_secs(self.handback_delay_secs.saturating_mul(n).min(60))
    }

    /// The consumer's `max_deliver`: every attempt, every fairness hand-back and the requeue
    /// budget. The transcoder decides dead letters from its own attempt count well before it;
    /// the server's limit only ends jobs whose deliveries could not be accounted (the job
    /// records unreachable), and its advisory is kept in `VID_ADVISORY`.
    pub fn server_max_deliver(&self) -> i64 {
        self.max_deliver
            .saturating_add(self.max_handbacks.max(0))
            .saturating_add(self.max_requeues.max(0))
    }

    /// How often the sweeper looks for stuck videos (`None`: never).
    pub fn sweep_interval(&self) -> Option<Duration> {
        (self.sweep_interval_secs > 0).then(|| Duration::from_secs(self.sweep_interval_secs))
    }

    /// How old a video's latest transcode fact must be for the sweeper to call it stuck.
    pub fn stuck_after(&self) -> Duration {
        Duration::from_secs(self.stuck_after_secs)
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
        if !(self.deadline_factor.is_finite() && self.deadline_factor >= 0.0) {
            return bad("--transcode-deadline-factor must be a number ≥ 0".into());
        }
        if self.tenant_cap == Some(0) {
            return bad("--transcode-tenant-cap must be at least 1".into());
        }
        if self.max_requeues < 0 {
            return bad("--transcode-max-requeues must be ≥ 0".into());
        }
        if self.max_handbacks < 0 {
            return bad("--transcode-max-handbacks must be ≥ 0".into());
        }
        if let Err(m) = self.chunks.validate() {
            return bad(m);
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
        assert_eq!(s.lease_ttl(), Duration::from_secs(50), "ends before the server redelivers");
    }

    #[test]
    fn nonsense_values_are_refused() {
        let mut s = TranscoderSettings { segment_secs: 5, ..Default::default() };
        assert!(s.validate().is_err());
        s.segment_secs = 4;
        assert!(s.validate().is_ok());
        s.concurrency = 0;
        assert!(s.validate().is_err());
        s.concurrency = 2;
        s.deadline_factor = f64::NAN;
        assert!(s.validate().is_err());
        s.deadline_factor = 1.0;
        s.tenant_cap = Some(0);
        assert!(s.validate().is_err());
    }

    #[test]
    fn the_deadline_grows_with_the_source_above_its_floor() {
        let s = TranscoderSettings::default();
        assert_eq!(s.deadline(10.0), Duration::from_secs(900), "the floor");
        assert_eq!(s.deadline(2.0 * 3600.0), Duration::from_secs(12 * 3600));
        assert_eq!(s.deadline(f64::INFINITY), Duration::from_secs(900));
        let quick = TranscoderSettings { deadline_floor_secs: 3, deadline_factor: 0.0, ..s };
        assert_eq!(quick.deadline(36_000.0), Duration::from_secs(3));
    }

    #[test]
    fn the_tenant_cap_leaves_a_slot_for_others_and_hand_backs_have_their_own_budget() {
        let cap = |concurrency, tenant_cap| {
            TranscoderSettings { concurrency, tenant_cap, ..Default::default() }.tenant_cap()
        };
        assert_eq!((cap(1, None), cap(2, None), cap(4, None)), (1, 1, 3));
        assert_eq!((cap(4, Some(2)), cap(2, Some(5))), (2, 2));
        let s = TranscoderSettings::default();
        assert_eq!(s.server_max_deliver(), 154);
        assert_eq!(s.handback_delay(1), Duration::from_secs(5));
        assert_eq!(s.handback_delay(3), Duration::from_secs(15));
        assert_eq!(s.handback_delay(40), Duration::from_secs(60));
    }
}
