//! The command line. Every setting is a flag with a `FRAMELOG_*` environment fallback
//! (DESIGN §6).

use std::net::SocketAddr;

use clap::{Parser, Subcommand};
use framelog_core::CommonSettings;

/// Framelog: self-hostable multi-tenant video hosting and live streaming on NATS JetStream.
#[derive(Debug, Parser)]
#[command(name = "framelog", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of the `serve` settings does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every service in one process (or one service with --only).
    Serve(ServeArgs),
    /// Manage tenants and their API keys.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Create, list and revoke a tenant's scoped API keys.
    #[command(subcommand)]
    Key(crate::key::KeyCommand),
    /// Upload a video (parallel chunks; run the same command again to resume).
    Upload(UploadArgs),
    /// MediaMTX hook bridge: report a runOn* hook (from the MTX_* environment) to live-auth.
    Hook(HookArgs),
    /// Operate the projection's local views.
    #[command(subcommand)]
    Projection(ProjectionCommand),
    /// Manage the master keys of the secret file (rotate, list).
    #[command(subcommand)]
    Secret(crate::secret::SecretCommand),
    /// Change existing streams and buckets to the declared topology (a start never does).
    #[command(subcommand)]
    Topology(crate::topology::TopologyCommand),
    /// List or replay the events JetStream refused for good (the server must be stopped).
    #[command(subcommand)]
    Outbox(crate::outbox::OutboxCommand),
    /// Print the health of a deployment from NATS: servers, streams and replicas, consumers
    /// and their lag, buckets, transcode workers (exit 0 healthy, 1 unhealthy, 2 unreachable).
    Status(crate::status::StatusArgs),
}

/// `framelog projection ...`. Each opens the local sled store, so the server using that data
/// dir must be stopped (or point --data-dir at another directory).
#[derive(Debug, Subcommand)]
pub enum ProjectionCommand {
    /// Rebuild the views from sequence 1 of the log into the data dir's store (emptied first).
    Rebuild {
        #[command(flatten)]
        common: CommonSettings,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the digest of the views in the data dir's store (the last line).
    Digest {
        #[command(flatten)]
        common: CommonSettings,
    },
    /// Read past one message the projection cannot read and stopped before (`/readyz` and the
    /// logs name it). The message is lost for the views; a readable one is never skipped.
    Skip {
        #[command(flatten)]
        common: CommonSettings,
        /// The stream: VID or VID_VIEW.
        #[arg(long, default_value = "VID")]
        stream: String,
        /// The sequence of the unreadable message.
        #[arg(long)]
        seq: u64,
    },
}

/// `framelog hook`.
#[derive(Debug, clap::Args)]
pub struct HookArgs {
    /// Which hook: available, unavailable (runOnReady/runOnNotReady, runOnAvailable/
    /// runOnUnavailable) or record-segment-complete (runOnRecordSegmentComplete).
    #[arg(value_enum)]
    pub event: HookName,
    /// Framelog (live-auth) URL.
    #[arg(long, env = "FRAMELOG_SERVER", default_value = "http://127.0.0.1:8145")]
    pub server: String,
    /// File holding live-auth's webhook secret (its `<data dir>/hook-secret`).
    #[arg(long, env = "FRAMELOG_LIVE_HOOK_SECRET_FILE")]
    pub secret_file: Option<std::path::PathBuf>,
    /// The webhook secret itself (prefer --secret-file or the variable: argv is visible to
    /// other local users).
    #[arg(long, env = "FRAMELOG_LIVE_HOOK_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
}

/// The MediaMTX hooks the bridge reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HookName {
    Available,
    Unavailable,
    RecordSegmentComplete,
}

/// `framelog upload`.
#[derive(Debug, clap::Args)]
pub struct UploadArgs {
    /// The video file.
    pub file: std::path::PathBuf,
    /// Framelog server URL.
    #[arg(long, env = "FRAMELOG_SERVER", default_value = "http://127.0.0.1:8145")]
    pub server: String,
    /// The tenant's API key.
    #[arg(long, env = "FRAMELOG_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Chunks in flight.
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
    /// Where resumable uploads are remembered (default ~/.cache/framelog/uploads).
    #[arg(long, env = "FRAMELOG_UPLOAD_STATE_DIR")]
    pub state_dir: Option<std::path::PathBuf>,
}

/// `framelog serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonSettings,

    /// Address the HTTP server listens on.
    #[arg(long, env = "FRAMELOG_LISTEN", default_value = "127.0.0.1:8145")]
    pub listen: SocketAddr,

    /// How long to keep retrying the first NATS connection, seconds.
    #[arg(long, env = "FRAMELOG_NATS_PATIENCE", default_value_t = 30)]
    pub nats_patience_secs: u64,

    /// Run only these services (comma-separated); default: all of them.
    #[arg(long, env = "FRAMELOG_ONLY", value_enum, value_delimiter = ',')]
    pub only: Vec<ServiceName>,

    /// The built web UI (`npm --prefix web run build` writes `web/dist`).
    #[arg(long, env = "FRAMELOG_WEB_DIR", default_value = "web/dist")]
    pub web_dir: std::path::PathBuf,

    /// Where media bytes live: `fs` (the media dir), `nats` (the JetStream Object Store) or
    /// `s3` (an S3 bucket: `--s3-*`), the last two for services on machines that share no disk.
    #[arg(long, env = "FRAMELOG_MEDIA_STORE", value_enum, default_value = "fs")]
    pub media_store: MediaStoreKind,

    /// Media root (HLS output, sources); default `<data dir>/media`.
    #[arg(long, env = "FRAMELOG_MEDIA_DIR")]
    pub media_dir: Option<std::path::PathBuf>,

    /// The S3 bucket of `--media-store s3` (`--s3-endpoint`, `--s3-bucket`, ...).
    #[command(flatten)]
    pub s3: framelog_core::S3Settings,

    /// HTTP connection limits (`--http-header-read-timeout`).
    #[command(flatten)]
    pub http: framelog_core::serve::HttpSettings,
    // SERVICE SETTINGS: each service flattens its own settings here (flags prefixed by its name).
    #[command(flatten)]
    pub ingest: framelog_ingest::IngestSettings,
    #[command(flatten)]
    pub live: framelog_live::LiveSettings,
    #[command(flatten)]
    pub projection: framelog_projection::ProjectionSettings,
    #[command(flatten)]
    pub playback: framelog_playback::PlaybackSettings,
    #[command(flatten)]
    pub transcoder: framelog_transcoder::TranscoderSettings,
    #[command(flatten)]
    pub delivery: framelog_delivery::DeliverySettings,
}

/// The media store backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MediaStoreKind {
    Fs,
    Nats,
    /// An S3 bucket (AWS S3, R2, MinIO, SeaweedFS).
    S3,
}

/// The services `framelog serve` can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ServiceName {
    // SERVICE NAMES: one variant per service crate.
    /// Uploads (REST chunked and tus) into VID_UPLOAD events.
    Ingest,
    /// Live streams, stream keys and the media-server webhooks (live-auth).
    Live,
    /// Tenant-scoped views from the log: catalog, live directory, billing, views; query API, SSE.
    Projection,
    /// Signed HLS serving (VOD and live), view beacons, egress metering.
    Playback,
    /// Transcode workers: durable jobs into an adaptive HLS ladder.
    Transcoder,
    /// Outbound webhooks (Standard Webhooks): endpoints, signed durable deliveries, retries.
    Delivery,
}

impl ServiceName {
    /// Every service, in start order.
    pub fn all() -> Vec<ServiceName> {
        <ServiceName as clap::ValueEnum>::value_variants().to_vec()
    }
}

/// `framelog tenant ...`.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant and print its first API key (shown once) as the last line.
    Create {
        /// Tenant id: 1-64 characters of a-z, 0-9, '_' and '-'.
        id: String,
        /// Print {"tenant":..,"api_key":..} instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: CommonSettings,
    },
    /// Issue another API key for an existing tenant (printed once, as the last line).
    Key {
        id: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: CommonSettings,
    },
}
