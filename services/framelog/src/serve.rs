//! `framelog serve`: every service in one process, on one port.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use axum::Router;
use framelog_core::health::{self, HealthState};
use framelog_core::media::{FsMediaStore, SharedMediaStore};
use framelog_core::media_nats::NatsMediaStore;
use framelog_core::media_s3::S3MediaStore;
use framelog_core::serve::HttpSettings;
use framelog_core::service::{ServiceContext, ServiceHandle};
use framelog_core::{Platform, metrics};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;

use crate::cli::{MediaStoreKind, ServeArgs, ServiceName};
use crate::web::WebDir;

/// Starts the chosen services and returns their handles.
pub async fn start_services(
    ctx: &ServiceContext,
    args: &ServeArgs,
    names: &[ServiceName],
) -> anyhow::Result<Vec<ServiceHandle>> {
    let mut handles = Vec::new();
    for name in names {
        let handle: ServiceHandle = match *name {
            // SERVICE START: one arm per service.
            ServiceName::Ingest => framelog_ingest::start(ctx, args.ingest.clone()).await?,
            ServiceName::Playback => framelog_playback::start(ctx, args.playback.clone()).await?,
            ServiceName::Transcoder => {
                framelog_transcoder::start(ctx, args.transcoder.clone()).await?
            }
            ServiceName::Projection => {
                framelog_projection::start(ctx, args.projection.clone()).await?
            }
            ServiceName::Live => {
                framelog_live::start(ctx, args.live.clone(), args.ingest.clone()).await?
            }
            ServiceName::Delivery => framelog_delivery::start(ctx, args.delivery.clone()).await?,
        };
        tracing::info!(service = handle.name, "service started");
        handles.push(handle);
    }
    Ok(handles)
}

/// The one router of the all-in-one server: health, metrics and every service's routes.
pub fn app(platform: &Platform) -> Router {
    app_with(platform, Router::new(), WebDir(None))
}

/// [`app`] with the services' routes merged in and the web UI (if built) as the fallback.
pub fn app_with(platform: &Platform, services: Router, web: WebDir) -> Router {
    let health = health::router(HealthState {
        nats: platform.nats.clone(),
        js: platform.js.clone(),
        metrics: platform.metrics.clone(),
        readiness: platform.readiness.clone(),
        events: Some(platform.events.clone()),
    });
    Router::new()
        .merge(health)
        .merge(services)
        .fallback(move |req: axum::extract::Request| crate::web::fallback(web.clone(), req))
        .layer(axum::middleware::from_fn(framelog_core::error::json_method_not_allowed))
        .layer(axum::middleware::from_fn(framelog_core::error::close_after_refused_body))
        .layer(axum::middleware::from_fn(framelog_core::error::limit_header_size))
        .layer(axum::middleware::from_fn_with_state(platform.metrics.clone(), metrics::track_http))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
}

/// The span of one request. Its URI is redacted: webhook secrets, stream keys and viewer
/// tokens travel in URLs and must not reach logs or traces.
fn request_span(req: &axum::extract::Request) -> tracing::Span {
    let uri = req.uri().to_string();
    tracing::info_span!(
        "request",
        method = %req.method(),
        uri = %framelog_core::redact::uri_for_log(&uri),
        version = ?req.version(),
    )
}

/// Runs the server, the services' background tasks and the outbox on `listener` until
/// `shutdown` is cancelled, then waits for every task to finish. Connections are served with
/// the header-read timeout of `http` (slowloris) and the peer address.
pub async fn run(
    listener: TcpListener,
    platform: Platform,
    services: Vec<ServiceHandle>,
    web: WebDir,
    http: &HttpSettings,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let outbox = tokio::spawn(platform.events.clone().run_outbox(shutdown.clone()));
    // Consumer lag and stream storage for the alert rules (deploy/prometheus).
    let jetstream_gauges = tokio::spawn(
        framelog_core::jetstream_metrics::JetStreamGauges::registered(&platform.metrics).run(
            platform.js.clone(),
            framelog_core::jetstream_metrics::INTERVAL,
            shutdown.clone(),
        ),
    );
    let mut routes = Router::new();
    let mut tasks = Vec::new();
    // The OpenAPI document of what this process serves: health and the services it runs.
    let mut docs = vec![health::openapi()];
    // `/v1/api-keys` wherever a tenant API is served (every service but the transcoder).
    if services.iter().any(|s| s.name != "transcoder") {
        routes = routes.merge(framelog_core::api_keys_api::router(platform.tenants.clone()));
        docs.push(framelog_core::api_keys_api::openapi());
    }
    for s in services {
        routes = routes.merge(s.router);
        docs.push(s.openapi);
        tasks.extend(s.tasks);
    }
    routes = routes.merge(framelog_core::openapi::router(docs));
    let router = app_with(&platform, routes, web);
    let res =
        framelog_core::serve::serve(listener, router, http, shutdown.clone().cancelled_owned())
            .await;
    shutdown.cancel();
    for t in tasks {
        let _ = t.await;
    }
    let _ = outbox.await;
    let _ = jetstream_gauges.await;
    let _ = platform.db.flush_async().await;
    res
}

/// The media store chosen by the settings.
pub async fn media_store(
    args: &ServeArgs,
    platform: &Platform,
) -> anyhow::Result<SharedMediaStore> {
    Ok(match args.media_store {
        MediaStoreKind::Fs => {
            let root = args.media_dir.clone().unwrap_or_else(|| args.common.data_dir.join("media"));
            Arc::new(
                FsMediaStore::new(&root)
                    .with_context(|| format!("creating the media root {}", root.display()))?,
            )
        }
        MediaStoreKind::Nats => Arc::new(
            NatsMediaStore::open(&platform.js, args.common.replicas)
                .await
                .context("opening the media Object Store bucket")?,
        ),
        MediaStoreKind::S3 => {
            let mut s3 = args.s3.clone();
            // --s3-region, else the standard AWS_REGION (read here: library code does not).
            s3.region = s3.region.or_else(|| std::env::var("AWS_REGION").ok());
            if let Err(msg) = framelog_core::media_s3::bucket::check(&s3) {
                anyhow::bail!("{msg}");
            }
            Arc::new(
                S3MediaStore::open(&s3, &platform.js, args.common.replicas)
                    .await
                    .context("opening the S3 media bucket")?,
            )
        }
    })
}

/// `framelog serve` from the command line.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let platform = Platform::start(
        args.common.clone(),
        "framelog",
        Duration::from_secs(args.nats_patience_secs),
    )
    .await?;
    let shutdown = CancellationToken::new();
    let ctx = ServiceContext {
        platform: platform.clone(),
        media: media_store(&args, &platform).await?,
        shutdown: shutdown.clone(),
    };
    let names = if args.only.is_empty() { ServiceName::all() } else { args.only.clone() };
    let services = start_services(&ctx, &args, &names).await?;
    let listener =
        TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %args.common.data_dir.display(), "framelog serving");
    println!("framelog listening on http://{addr}");
    let s = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        s.cancel();
    });
    let web = crate::web::resolve(&args.web_dir);
    match &web.0 {
        Some(d) => tracing::info!(dir = %d.display(), "serving the web UI"),
        None => {
            tracing::warn!(dir = %args.web_dir.display(), "no built web UI there; / answers JSON")
        }
    }
    run(listener, platform, services, web, &args.http, shutdown).await?;
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
