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
#[derive(Debug)]
pub struct ServiceHandle {
    pub name: &'static str,
    /// Its HTTP routes (may be empty).
    pub router: Router,
    /// Its background tasks (consumers, cleaners); each returns after `shutdown` is cancelled.
    pub tasks: Vec<JoinHandle<()>>,
}

impl ServiceHandle {
    /// A service with routes and no tasks.
    pub fn new(name: &'static str, router: Router) -> ServiceHandle {
        ServiceHandle { name, router, tasks: Vec::new() }
    }

    /// Adds a background task.
    pub fn with_task(mut self, task: JoinHandle<()>) -> ServiceHandle {
        self.tasks.push(task);
        self
    }
}
