//! [`Platform`]: the handles every service is built from (NATS, the event log, tenants, the
//! local sled store, the secret, metrics), started once per process and shared by clone.

use std::time::Duration;

use async_nats::jetstream;

use crate::eventlog::EventLog;
use crate::metrics::Metrics;
use crate::nats::{self, NatsSetupError};
use crate::readiness::Readiness;
use crate::secret::Secret;
use crate::settings::CommonSettings;
use crate::tenants::{TenantError, TenantStore};

/// Why the platform could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Nats(#[from] NatsSetupError),
    #[error("opening the local store in {path}: {source}")]
    Sled { path: String, source: sled::Error },
    #[error("reading or creating the secret file {path}: {source}")]
    Secret { path: String, source: std::io::Error },
    #[error(transparent)]
    Tenants(#[from] TenantError),
    #[error("creating the data dir {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
}

/// Everything a service needs from the platform; cheap to clone.
#[derive(Clone, Debug)]
pub struct Platform {
    pub settings: CommonSettings,
    pub nats: async_nats::Client,
    pub js: jetstream::Context,
    pub events: EventLog,
    pub tenants: TenantStore,
    /// The process's one sled database (sled allows one opener per directory).
    pub db: sled::Db,
    pub secret: Secret,
    pub metrics: Metrics,
    /// Problems that make `/readyz` answer 503 (reported by the services).
    pub readiness: Readiness,
}

impl Platform {
    /// Connects to NATS (retrying for up to `patience`), declares the topology, opens the local
    /// store and loads the secret.
    pub async fn start(
        settings: CommonSettings,
        client_name: &str,
        patience: Duration,
    ) -> Result<Platform, StartError> {
        std::fs::create_dir_all(&settings.data_dir).map_err(|source| StartError::DataDir {
            path: settings.data_dir.display().to_string(),
            source,
        })?;
        let secret_path = settings.secret_path();
        let secret = Secret::load_or_create(&secret_path).map_err(|source| StartError::Secret {
            path: secret_path.display().to_string(),
            source,
        })?;
        // Read (and permission-check) the NATS password file before anything else can fail.
        let credentials = settings.nats_credentials().map_err(NatsSetupError::from)?;
        let db_path = settings.data_dir.join("state");
        let db =
            sled::Config::new().path(&db_path).flush_every_ms(Some(200)).open().map_err(
                |source| StartError::Sled { path: db_path.display().to_string(), source },
            )?;
        let violations = crate::publish_denied::PublishViolations::default();
        let urls = settings.nats_urls();
        let client = nats::connect_watching(
            &urls,
            credentials.as_ref(),
            client_name,
            patience,
            Some(&violations),
        )
        .await?;
        let js = jetstream::new(client.clone());
        nats::ensure_topology_with(&js, settings.replicas, settings.view_stream_max_bytes).await?;
        nats::apply_duplicate_window(&js, settings.nats_duplicate_window).await?;
        let tenants = TenantStore::open(&js).await?.with_client(client.clone());
        // Keys from before key ids get one, so they can be listed and revoked (idempotent).
        match tenants.index_legacy_keys().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(keys = n, "indexed API keys issued before named keys"),
            Err(e) => {
                tracing::warn!(error = %e, "indexing older API keys failed; retried at next start")
            }
        }
        let events = EventLog::new(client.clone(), db.clone())
            .map_err(|source| StartError::Sled { path: db_path.display().to_string(), source })?
            .watch(violations);
        let metrics = Metrics::new();
        events.register_metrics(&metrics);
        Ok(Platform {
            settings,
            nats: client,
            js,
            events,
            tenants,
            db,
            secret,
            metrics,
            readiness: Readiness::default(),
        })
    }
}
