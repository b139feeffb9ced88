//! How a service plugs into a process: `start(&ServiceContext, settings)` returns a
//! [`ServiceHandle`] with its routes and background tasks. `framelog serve` merges the routers
//! of the services it runs into one app and waits for every task on shutdown; `--only <name>`
//! runs a subset, so the same crates run as separate processes and replicas.

use axum::Router;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::media::SharedMediaStore;
use crate::platform::Platform;

/// What every service is started with.
#[derive(Clone, Debug)]
pub struct ServiceContext {
    pub platform: Platform,
    pub media: SharedMediaStore,
    /// Cancelled when the process shuts down; tasks finish their current step and return.
    pub shutdown: CancellationToken,
}

/// A started service.
pub struct ServiceHandle {
    pub name: &'static str,
    /// Its HTTP routes (may be empty).
    pub router: Router,
    /// Its background tasks (consumers, cleaners); each returns after `shutdown` is cancelled.
    pub tasks: Vec<JoinHandle<()>>,
    /// Its part of the OpenAPI document (the service's `openapi()`, split from the same
    /// `OpenApiRouter` as `router`); empty for a service without routes.
    pub openapi: utoipa::openapi::OpenApi,
}

impl std::fmt::Debug for ServiceHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceHandle")
            .field("name", &self.name)
            .field("tasks", &self.tasks.len())
            .field("paths", &self.openapi.paths.paths.len())
            .finish()
    }
}

impl ServiceHandle {
    /// A service with routes and no tasks.
    pub fn new(name: &'static str, router: Router) -> ServiceHandle {
        ServiceHandle { name, router, tasks: Vec::new(), openapi: Default::default() }
    }

    /// Sets the service's part of the OpenAPI document.
    pub fn with_openapi(mut self, openapi: utoipa::openapi::OpenApi) -> ServiceHandle {
        self.openapi = openapi;
        self
    }

    /// Adds a background task.
    pub fn with_task(mut self, task: JoinHandle<()>) -> ServiceHandle {
        self.tasks.push(task);
        self
    }
}
