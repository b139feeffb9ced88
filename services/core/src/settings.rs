//! Settings shared by every service (DESIGN §6, the operating contract): flags with
//! `FRAMELOG_*` environment fallbacks. Library code never reads the environment itself.

use std::path::PathBuf;
use std::time::Duration;

use crate::nats_auth::{NatsAuthError, NatsCredentials, redact_url};

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (default on a terminal).
    Human,
    /// One JSON object per line (for log shippers).
    Json,
}

/// Settings every service needs. Its `Debug` hides NATS passwords.
#[derive(Clone, clap::Args)]
pub struct CommonSettings {
    /// NATS server URL(s), comma-separated for a cluster. May carry credentials
    /// (`nats://user:password@host:4222`), though --nats-password-file keeps them out of `ps`.
    #[arg(
        long,
        env = "FRAMELOG_NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        hide_env_values = true
    )]
    pub nats_url: String,

    /// NATS user name (the `framelog` role of deploy/nats/ROLES.md, or a per-service role).
    #[arg(long, env = "FRAMELOG_NATS_USER")]
    pub nats_user: Option<String>,

    /// File holding the NATS user's password (one line, mode 0600). `just up` writes
    /// `<data dir>/nats-auth/framelog.pw`.
    #[arg(long, env = "FRAMELOG_NATS_PASSWORD_FILE", requires = "nats_user")]
    pub nats_password_file: Option<PathBuf>,

    /// Directory for sled stores, uploads and media.
    #[arg(long, env = "FRAMELOG_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// File holding the server's HMAC secret (stream keys, playback tokens). Generated into the
    /// data dir on first start if absent.
    #[arg(long, env = "FRAMELOG_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,

    /// Log format.
    #[arg(long, env = "FRAMELOG_LOG_FORMAT", value_enum, default_value = "human")]
    pub log_format: LogFormat,

    /// Replicas of streams, KV and object buckets (1 on one node, 3 on a cluster).
    #[arg(long, env = "FRAMELOG_REPLICAS", default_value_t = 1)]
    pub replicas: usize,

    /// Size limit of the `VID_VIEW` stream in bytes (its oldest views are dropped beyond it),
    /// for a new stream (10 GiB when unset). An existing stream keeps its limit at start;
    /// `framelog topology apply --view-stream-max-bytes N` changes it.
    #[arg(long = "view-stream-max-bytes", env = "FRAMELOG_VIEW_STREAM_MAX_BYTES")]
    pub view_stream_max_bytes: Option<u64>,

    /// Window in which JetStream drops a repeated event id (`Nats-Msg-Id`) on the `VID` and
    /// `VID_VIEW` streams: `120`, `90s`, `2m`, `1h`. One-shot facts stay unique after it too
    /// (see `framelog_events::once`); tests shrink it to `1s` to show that.
    #[arg(
        long = "nats-duplicate-window",
        env = "FRAMELOG_NATS_DUPLICATE_WINDOW",
        default_value = "2m",
        value_parser = parse_window
    )]
    pub nats_duplicate_window: Duration,

    /// Let outbound requests to tenant-chosen URLs (webhook endpoints, URL ingest) reach
    /// loopback and private addresses. Off by default: a tenant could otherwise make the server
    /// call its own admin ports or cloud metadata. Turn on for receivers on your own network.
    #[arg(long, env = "FRAMELOG_OUTBOUND_ALLOW_PRIVATE")]
    pub outbound_allow_private: bool,
}

/// Parses a duration of whole seconds, minutes or hours (`120`, `90s`, `2m`, `1h`); at least 1 s.
pub fn parse_window(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = digits.parse().map_err(|_| format!("{s:?} is not a duration like 2m or 90s"))?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => return Err(format!("unknown unit in {s:?}: use s, m or h")),
    };
    if secs == 0 {
        return Err("the duplicate window must be at least 1s".into());
    }
    Ok(Duration::from_secs(secs))
}

impl CommonSettings {
    /// The address policy of outbound requests to tenant-chosen URLs.
    pub fn outbound_policy(&self) -> crate::outbound::OutboundPolicy {
        crate::outbound::OutboundPolicy { allow_private: self.outbound_allow_private }
    }

    /// Settings for tests and tools: a NATS URL and a data dir, defaults elsewhere.
    pub fn for_test(nats_url: &str, data_dir: PathBuf) -> Self {
        CommonSettings {
            nats_url: nats_url.to_owned(),
            nats_user: None,
            nats_password_file: None,
            data_dir,
            secret_file: None,
            log_format: LogFormat::Human,
            replicas: 1,
            view_stream_max_bytes: None,
            nats_duplicate_window: crate::nats::DUPLICATE_WINDOW,
            outbound_allow_private: false,
        }
    }

    /// The secret file path: the flag, or `<data dir>/secret.key`.
    pub fn secret_path(&self) -> PathBuf {
        self.secret_file.clone().unwrap_or_else(|| self.data_dir.join("secret.key"))
    }

    /// The NATS credentials of --nats-user / --nats-password-file, if given (the password file
    /// must not be readable by group or others). Credentials in the URL are used otherwise.
    pub fn nats_credentials(&self) -> Result<Option<NatsCredentials>, NatsAuthError> {
        match (&self.nats_user, &self.nats_password_file) {
            (Some(user), Some(file)) => Ok(Some(NatsCredentials::from_password_file(user, file)?)),
            (Some(user), None) => Err(NatsAuthError::NoPassword { user: user.clone() }),
            (None, _) => Ok(None),
        }
    }

    /// The NATS server URLs.
    pub fn nats_urls(&self) -> Vec<String> {
        self.nats_url
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

impl std::fmt::Debug for CommonSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<String> = self.nats_urls().iter().map(|u| redact_url(u)).collect();
        f.debug_struct("CommonSettings")
            .field("nats_url", &urls.join(","))
            .field("nats_user", &self.nats_user)
            .field("nats_password_file", &self.nats_password_file)
            .field("data_dir", &self.data_dir)
            .field("secret_file", &self.secret_file)
            .field("log_format", &self.log_format)
            .field("replicas", &self.replicas)
            .field("nats_duplicate_window", &self.nats_duplicate_window)
            .field("outbound_allow_private", &self.outbound_allow_private)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_windows_parse_in_seconds_minutes_or_hours() {
        assert_eq!(parse_window("120"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_window("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_window("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_window("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_window("0s").is_err());
        assert!(parse_window("5d").is_err());
        assert!(parse_window("m").is_err());
    }

    #[test]
    fn a_nats_user_without_a_password_file_is_refused_and_debug_hides_url_passwords() {
        let mut s =
            CommonSettings::for_test("nats://framelog:hunter2@h:4222,nats://h:4223", "d".into());
        assert!(s.nats_credentials().unwrap().is_none());
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("hunter2") && dbg.contains("framelog:***@h:4222"), "{dbg}");
        s.nats_user = Some("framelog".into());
        let err = s.nats_credentials().unwrap_err().to_string();
        assert!(err.contains("--nats-password-file"), "{err}");
    }
}
