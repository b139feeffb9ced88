//! `framelog serve`: every service in one process, on one port.

use std::time::Duration;

use axum::Router;
use framelog_core::health::{self, HealthState};
use framelog_core::{Platform, error, metrics};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;

use crate::cli::ServeArgs;

/// The one router of the all-in-one server: health, metrics and every service's routes.
pub fn app(platform: &Platform) -> Router {
    let health = health::router(HealthState {
        nats: platform.nats.clone(),
        js: platform.js.clone(),
        metrics: platform.metrics.clone(),
    });
    Router::new()
        .merge(health)
        .fallback(error::fallback)
        .layer(axum::middleware::from_fn_with_state(platform.metrics.clone(), metrics::track_http))
        .layer(TraceLayer::new_for_http())
}

/// Runs the server and the background workers on `listener` until `shutdown` is cancelled.
pub async fn run(
    listener: TcpListener,
    platform: Platform,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let outbox = tokio::spawn(platform.events.clone().run_outbox(shutdown.clone()));
    let router = app(&platform);
    let res = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .await;
    shutdown.cancel();
    let _ = outbox.await;
    let _ = platform.db.flush_async().await;
    res
}

/// `framelog serve` from the command line.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let platform = Platform::start(
        args.common.clone(),
        "framelog",
        Duration::from_secs(args.nats_patience_secs),
    )
    .await?;
    let listener = TcpListener::bind(args.listen).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %args.common.data_dir.display(), "framelog serving");
    println!("framelog listening on http://{addr}");
    let shutdown = CancellationToken::new();
    let s = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        s.cancel();
    });
    run(listener, platform, shutdown).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
