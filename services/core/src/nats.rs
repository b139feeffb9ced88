//! Connecting to NATS and declaring the JetStream topology of DESIGN §2 (streams and KV
//! buckets), idempotently, at every start.

use std::time::Duration;

use async_nats::ConnectErrorKind;
use async_nats::jetstream::{self, kv, stream};

use crate::nats_auth::{NatsAuthError, NatsCredentials, credentials_from_urls};

/// Oldest nats-server this code runs against (KV, multi-filter consumers and message TTLs need it).
pub const MIN_SERVER_VERSION: (u64, u64) = (2, 11);

/// The domain log: every kind but views, kept forever.
pub const STREAM_VID: &str = "VID";
/// Views and egress usage: high volume, age-limited.
pub const STREAM_VIEW: &str = "VID_VIEW";
/// Last-value progress of long work (`vidp.>`).
pub const STREAM_PROGRESS: &str = "VID_PROGRESS";
/// The server's max-deliveries advisories about `VID` consumers, kept so one emitted while no
/// transcoder listens is handled when one comes back (a durable consumer drains it).
pub const STREAM_ADVISORY: &str = "VID_ADVISORY";
/// Default size limit of `VID_ADVISORY` (advisories are small and rare).
pub const ADVISORY_MAX_BYTES: i64 = 64 * 1024 * 1024;

/// KV bucket: tenant id -> tenant record.
pub const KV_TENANTS: &str = "framelog_tenants";
/// KV bucket: sha256(api key) -> tenant id.
pub const KV_API_KEYS: &str = "framelog_api_keys";
/// KV bucket: live stream records and hashed stream keys.
pub const KV_STREAM_KEYS: &str = "framelog_stream_keys";
/// KV bucket: `<tenant>.<endpoint id>` -> webhook endpoint (URL, filter, secrets).
pub const KV_WEBHOOK_ENDPOINTS: &str = "framelog_webhook_endpoints";
/// KV bucket: signing key id (`sk_...`) -> public key record of JWT playback (names the tenant).
pub const KV_SIGNING_KEYS: &str = "framelog_signing_keys";

/// Window in which the server drops a repeated `Nats-Msg-Id`.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// Default age limit of `VID_VIEW`.
pub const VIEW_MAX_AGE: Duration = Duration::from_secs(400 * 24 * 3600);
/// Default size limit of `VID_VIEW` (oldest events are discarded beyond it, so a flood of views
/// can never fill the JetStream store that the domain log shares). An operator's own limit
/// (`nats stream edit VID_VIEW --max-bytes ...`) is kept across restarts.
pub const VIEW_MAX_BYTES: i64 = 10 * 1024 * 1024 * 1024;
/// Default size limit of `VID_PROGRESS` (last values only; best effort).
pub const PROGRESS_MAX_BYTES: i64 = 1024 * 1024 * 1024;
/// Smallest size limit tried when the server cannot reserve a stream's default (a small store).
pub(crate) const MIN_STREAM_MAX_BYTES: i64 = 1024 * 1024;

/// Failure to reach or use NATS at start-up.
#[derive(Debug, thiserror::Error)]
pub enum NatsSetupError {
    #[error("could not connect to NATS at {urls} after {attempts} attempts: {last}")]
    Connect { urls: String, attempts: u32, last: String },
    #[error(
        "nats-server {found} is too old: Framelog needs {}.{} or newer (Debian's 2.9 package is \
         too old; run deploy/bootstrap.sh, which installs a recent one into .tools/bin)",
        MIN_SERVER_VERSION.0, MIN_SERVER_VERSION.1
    )]
    ServerTooOld { found: String },
    #[error(
        "NATS at {urls} refused the connection ({}): give the credentials of a role of \
         deploy/nats/ROLES.md with --nats-user and --nats-password-file (FRAMELOG_NATS_USER, \
         FRAMELOG_NATS_PASSWORD_FILE) or in the URL (nats://user:password@host:4222); `just up` \
         writes the framelog user's password to <data dir>/nats-auth/framelog.pw",
        match user { Some(u) => format!("authorization violation for user {u}"), None => "no credentials given".to_owned() }
    )]
    Unauthorized { urls: String, user: Option<String> },
    #[error(transparent)]
    Credentials(#[from] NatsAuthError),
    #[error("nats-server at {0} does not have JetStream enabled (start it with -js)")]
    NoJetStream(String),
    #[error("creating or updating {what}: {source}")]
    Topology { what: String, source: Box<dyn std::error::Error + Send + Sync> },
}

/// Connects to the first reachable URL, retrying with back-off for up to `patience`, then checks
/// the server version. Once connected, the client reconnects by itself forever. Credentials in
/// the URLs (`nats://user:password@host`) are used; see [`connect_with`].
pub async fn connect(
    urls: &[String],
    name: &str,
    patience: Duration,
) -> Result<async_nats::Client, NatsSetupError> {
    connect_with(urls, None, name, patience).await
}

/// [`connect`] with explicit credentials (from --nats-user / --nats-password-file), which win
/// over credentials in the URLs. A server that refuses the credentials (or their absence) is
/// not retried: the error says how to give them.
pub async fn connect_with(
    urls: &[String],
    credentials: Option<&NatsCredentials>,
    name: &str,
    patience: Duration,
) -> Result<async_nats::Client, NatsSetupError> {
    connect_watching(urls, credentials, name, patience, None).await
}

/// [`connect_with`], reporting the connection's publish permission violations to `violations`
/// (for [`crate::eventlog::EventLog::watch`]).
pub async fn connect_watching(
    urls: &[String],
    credentials: Option<&NatsCredentials>,
    name: &str,
    patience: Duration,
    violations: Option<&crate::publish_denied::PublishViolations>,
) -> Result<async_nats::Client, NatsSetupError> {
    let (urls, from_url) = credentials_from_urls(urls).map_err(NatsSetupError::Credentials)?;
    let credentials = credentials.cloned().or(from_url);
    let joined = urls.join(",");
    let deadline = tokio::time::Instant::now() + patience;
    let mut delay = Duration::from_millis(100);
    let mut attempts = 0;
    let client = loop {
        attempts += 1;
        let mut opts = async_nats::ConnectOptions::new()
            .name(name)
            .connection_timeout(Duration::from_secs(2))
            .max_reconnects(None);
        if let Some(c) = &credentials {
            opts = c.apply(opts);
        }
        if let Some(v) = violations {
            opts = v.install(opts);
        }
        match opts.connect(urls.clone()).await {
            Ok(c) => break c,
            Err(e)
                if matches!(
                    e.kind(),
                    ConnectErrorKind::AuthorizationViolation | ConnectErrorKind::Authentication
                ) =>
            {
                return Err(NatsSetupError::Unauthorized {
                    urls: joined,
                    user: credentials.as_ref().map(|c| c.user.clone()),
                });
            }
            Err(e) => {
                if tokio::time::Instant::now() + delay > deadline {
                    return Err(NatsSetupError::Connect {
                        urls: joined,
                        attempts,
                        last: e.to_string(),
                    });
                }
                tracing::warn!(error = %e, attempt = attempts, "NATS not reachable yet, retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    };
    let info = client.server_info();
    if !version_at_least(&info.version, MIN_SERVER_VERSION) {
        return Err(NatsSetupError::ServerTooOld { found: info.version });
    }
    if !info.jetstream {
        return Err(NatsSetupError::NoJetStream(joined));
    }
    Ok(client)
}

/// Whether a `major.minor.patch[-suffix]` version is at least `min`.
pub fn version_at_least(version: &str, min: (u64, u64)) -> bool {
    let mut parts = version.trim_start_matches('v').split(['.', '-']);
    let major = parts.next().and_then(|s| s.parse::<u64>().ok());
    let minor = parts.next().and_then(|s| s.parse::<u64>().ok());
    match (major, minor) {
        (Some(a), Some(b)) => (a, b) >= min,
        _ => false,
    }
}

/// The stream configurations of DESIGN §2 with `replicas` copies.
pub fn stream_configs(replicas: usize) -> Vec<stream::Config> {
    vec![
        stream::Config {
            name: STREAM_VID.into(),
            description: Some(
                "Framelog domain log: every fact but views; the source of truth".into(),
            ),
            subjects: vec![
                "vid.*.upload.>".into(),
                "vid.*.transcode.>".into(),
                "vid.*.ready.>".into(),
                "vid.*.live.>".into(),
            ],
            retention: stream::RetentionPolicy::Limits,
            storage: stream::StorageType::File,
            duplicate_window: DUPLICATE_WINDOW,
            num_replicas: replicas,
            allow_direct: true,
            ..Default::default()
        },
        stream::Config {
            name: STREAM_VIEW.into(),
            description: Some("Framelog views and egress usage".into()),
            subjects: vec!["vid.*.view.>".into()],
            retention: stream::RetentionPolicy::Limits,
            storage: stream::StorageType::File,
            max_age: VIEW_MAX_AGE,
            max_bytes: VIEW_MAX_BYTES,
            discard: stream::DiscardPolicy::Old,
            duplicate_window: DUPLICATE_WINDOW,
            num_replicas: replicas,
            allow_direct: true,
            ..Default::default()
        },
        stream::Config {
            name: STREAM_PROGRESS.into(),
            description: Some("Framelog progress of long work, last value per subject".into()),
            subjects: vec!["vidp.>".into()],
            retention: stream::RetentionPolicy::Limits,
            storage: stream::StorageType::File,
            max_messages_per_subject: 1,
            max_age: Duration::from_secs(7 * 24 * 3600),
            max_bytes: PROGRESS_MAX_BYTES,
            discard: stream::DiscardPolicy::Old,
            num_replicas: replicas,
            allow_direct: true,
            ..Default::default()
        },
        stream::Config {
            name: STREAM_ADVISORY.into(),
            description: Some("Max-deliveries advisories of VID consumers (dead letters)".into()),
            subjects: vec![format!("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{STREAM_VID}.>")],
            retention: stream::RetentionPolicy::Limits,
            storage: stream::StorageType::File,
            max_age: Duration::from_secs(30 * 24 * 3600),
            max_bytes: ADVISORY_MAX_BYTES,
            discard: stream::DiscardPolicy::Old,
            num_replicas: replicas,
            ..Default::default()
        },
    ]
}

/// The KV bucket configurations with `replicas` copies.
pub fn kv_configs(replicas: usize) -> Vec<kv::Config> {
    [
        (KV_TENANTS, "Framelog tenants"),
        (KV_API_KEYS, "Framelog API keys, by sha256 of the key"),
        (KV_STREAM_KEYS, "Framelog live streams and hashed stream keys"),
        (crate::tombstones::KV_TOMBSTONES, "Framelog deleted videos: <tenant>.<video> -> when"),
        (KV_WEBHOOK_ENDPOINTS, "Framelog webhook endpoints: <tenant>.<endpoint> -> endpoint"),
        (KV_SIGNING_KEYS, "Framelog playback signing keys: kid -> tenant and public key"),
        (
            crate::mp4_settings::KV_MP4_SETTINGS,
            "Framelog static MP4 settings: t.<tenant>, v.<tenant>.<video>",
        ),
    ]
    .into_iter()
    .map(|(bucket, description)| kv::Config {
        bucket: bucket.into(),
        description: description.into(),
        history: 1,
        storage: stream::StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    })
    .collect()
}

/// Creates every stream and bucket that is missing and leaves existing ones as they are
/// (only a missing subject is added; any other difference is logged as a warning naming the
/// field): a process never lowers replicas or reverts an operator's limits. Safe to run from
/// every replica at every start. `framelog topology apply` changes existing ones
/// ([`crate::topology::apply`]).
pub async fn ensure_topology(
    js: &jetstream::Context,
    replicas: usize,
) -> Result<(), NatsSetupError> {
    ensure_topology_with(js, replicas, None).await
}

/// The declared streams with `VID_VIEW`'s size limit set to `view_max_bytes` when given.
pub fn declared_streams(replicas: usize, view_max_bytes: Option<u64>) -> Vec<stream::Config> {
    let mut cfgs = stream_configs(replicas);
    if let Some(b) = view_max_bytes
        && let Some(cfg) = cfgs.iter_mut().find(|c| c.name == STREAM_VIEW)
    {
        cfg.max_bytes = i64::try_from(b).unwrap_or(i64::MAX).max(MIN_STREAM_MAX_BYTES);
    }
    cfgs
}

/// [`ensure_topology`] with `VID_VIEW`'s size limit for a new stream set to `view_max_bytes`
/// when given (`--view-stream-max-bytes`; [`VIEW_MAX_BYTES`] otherwise). An existing stream
/// keeps its limit (`framelog topology apply --view-stream-max-bytes` changes it).
pub async fn ensure_topology_with(
    js: &jetstream::Context,
    replicas: usize,
    view_max_bytes: Option<u64>,
) -> Result<(), NatsSetupError> {
    let streams = declared_streams(replicas, view_max_bytes);
    crate::topology::ensure(js, streams, kv_configs(replicas), view_max_bytes.is_none()).await?;
    Ok(())
}

/// Creates one missing stream. When the server cannot reserve its size limit (a store smaller
/// than the default), the limit is halved until it fits, then dropped (with a warning) rather
/// than refusing to start. A limit found that way is then cut to a quarter: the largest size
/// that fits is more than half of what is free, and taking all of it would leave nothing for
/// the streams and buckets created after it (or for the domain log itself). A stream created
/// meanwhile by another replica is fine.
pub(crate) async fn ensure_stream_created(
    js: &jetstream::Context,
    mut cfg: stream::Config,
) -> Result<(), NatsSetupError> {
    let mut refused = false;
    loop {
        match js.get_or_create_stream(cfg.clone()).await {
            Ok(_) if refused && cfg.max_bytes / 4 >= MIN_STREAM_MAX_BYTES => {
                cfg.max_bytes /= 4;
                tracing::warn!(stream = %cfg.name, max_bytes = cfg.max_bytes,
                    "stream size limit lowered to leave room in a small JetStream store");
                return match js.update_stream(cfg.clone()).await {
                    Ok(_) => Ok(()),
                    Err(e) => Err(NatsSetupError::Topology {
                        what: format!("stream {}", cfg.name),
                        source: Box::new(e),
                    }),
                };
            }
            Ok(_) => return Ok(()),
            Err(e) if cfg.max_bytes > 0 && reservation_refused(&e) => {
                refused = true;
                let smaller =
                    if cfg.max_bytes > MIN_STREAM_MAX_BYTES { cfg.max_bytes / 2 } else { -1 };
                tracing::warn!(stream = %cfg.name, max_bytes = cfg.max_bytes, next = smaller,
                    "the JetStream store cannot reserve the stream's size limit; trying less");
                cfg.max_bytes = smaller;
            }
            Err(e) => {
                return Err(NatsSetupError::Topology {
                    what: format!("stream {}", cfg.name),
                    source: Box::new(e),
                });
            }
        }
    }
}

/// Whether the server refused a stream because it cannot reserve its `max_bytes`.
fn reservation_refused(e: &jetstream::context::CreateStreamError) -> bool {
    matches!(e.kind(), jetstream::context::CreateStreamErrorKind::JetStream(js)
        if crate::eventlog::STORE_FULL_CODES.contains(&js.error_code().0)
            // A cluster answers "no suitable peers for placement, insufficient storage" (10005)
            // when no node can reserve the limit.
            || (js.error_code().0 == NO_SUITABLE_PEERS
                && js.to_string().contains("insufficient storage")))
}

/// JetStream's "no suitable peers for placement" error code.
const NO_SUITABLE_PEERS: u64 = 10005;

/// Sets the duplicate window of `VID` and `VID_VIEW` to `window` (`--nats-duplicate-window`)
/// when it differs from the server's. Runs after [`ensure_topology`], which declares
/// [`DUPLICATE_WINDOW`].
pub async fn apply_duplicate_window(
    js: &jetstream::Context,
    window: Duration,
) -> Result<(), NatsSetupError> {
    for name in [STREAM_VID, STREAM_VIEW] {
        let err = |e: Box<dyn std::error::Error + Send + Sync>| NatsSetupError::Topology {
            what: format!("stream {name} (duplicate window)"),
            source: e,
        };
        let info = js.get_stream(name).await.map_err(|e| err(Box::new(e)))?;
        let mut cfg = info.cached_info().config.clone();
        if cfg.duplicate_window == window {
            continue;
        }
        cfg.duplicate_window = window;
        js.update_stream(cfg).await.map_err(|e| err(Box::new(e)))?;
    }
    Ok(())
}

/// Whether every stream of the topology exists (readiness).
pub async fn topology_present(js: &jetstream::Context) -> bool {
    for name in [STREAM_VID, STREAM_VIEW, STREAM_PROGRESS] {
        if js.get_stream_no_info(name).await.is_err() {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_compared_numerically() {
        assert!(version_at_least("2.15.1", (2, 11)));
        assert!(version_at_least("2.11.0", (2, 11)));
        assert!(version_at_least("3.0.0", (2, 11)));
        assert!(version_at_least("2.12.0-RC.1", (2, 11)));
        assert!(!version_at_least("2.9.10", (2, 11)));
        assert!(!version_at_least("2.10.25", (2, 11)));
        assert!(!version_at_least("", (2, 11)));
        assert!(!version_at_least("garbage", (2, 11)));
    }

    #[test]
    fn the_domain_log_never_takes_views_and_is_kept_forever() {
        let cfgs = stream_configs(1);
        let vid = cfgs.iter().find(|c| c.name == STREAM_VID).unwrap();
        assert!(vid.subjects.iter().all(|s| !s.contains("view")));
        assert_eq!(vid.max_age, Duration::ZERO);
        assert_eq!(vid.duplicate_window, DUPLICATE_WINDOW);
        let view = cfgs.iter().find(|c| c.name == STREAM_VIEW).unwrap();
        assert_eq!(view.subjects, vec!["vid.*.view.>".to_string()]);
        assert_eq!(view.max_age, VIEW_MAX_AGE);
        assert!(vid.max_bytes <= 0, "the domain log is never size-limited");
        assert!(vid.max_messages <= 0);
    }

    #[test]
    fn streams_other_than_the_domain_log_are_size_bounded_and_drop_their_oldest() {
        for cfg in stream_configs(1).iter().filter(|c| c.name != STREAM_VID) {
            assert!(cfg.max_bytes > 0, "{} has no size limit", cfg.name);
            assert_eq!(cfg.discard, stream::DiscardPolicy::Old, "{}", cfg.name);
        }
        let view = stream_configs(1).into_iter().find(|c| c.name == STREAM_VIEW).unwrap();
        assert_eq!(view.max_bytes, VIEW_MAX_BYTES);
    }
}
