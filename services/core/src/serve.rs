//! Serving a router over HTTP/1.1 with connection timeouts, the peer address and graceful
//! shutdown.
//!
//! `axum::serve` sets no header-read timeout: a client that opens connections and sends a
//! request head one byte at a time (slowloris) holds a task and a socket each for ever. Here
//! every connection is served by hyper's HTTP/1 server with a timer, so:
//!
//! - a request head (request line and headers) must arrive completely within
//!   [`HttpSettings::header_read_timeout`] of the moment the server starts waiting for it;
//! - the same limit closes an idle keep-alive connection: between two requests hyper is
//!   waiting for the next head, and that wait has the same deadline;
//! - request bodies have no such deadline (a large upload over a slow link must finish), so
//!   body reads stay as generous as before;
//! - every request carries [`ConnectInfo<SocketAddr>`] (webhook guards and rate limiters need
//!   the peer address);
//! - on `shutdown` the listener stops accepting, open connections finish their current request
//!   and close, and [`serve`] returns once they have.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tower::ServiceExt as _;

/// Connection limits of the HTTP server (flags `--http-*`, variables `FRAMELOG_HTTP_*`).
#[derive(Debug, Clone, clap::Args)]
pub struct HttpSettings {
    /// Seconds a client has to send a complete request head; also how long an idle keep-alive
    /// connection is kept open. Slower clients are disconnected (slowloris).
    #[arg(
        long = "http-header-read-timeout",
        env = "FRAMELOG_HTTP_HEADER_READ_TIMEOUT",
        default_value_t = 10
    )]
    pub header_read_timeout_secs: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings { header_read_timeout_secs: 10 }
    }
}

impl HttpSettings {
    /// The header-read (and keep-alive idle) deadline, at least one second.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs.max(1))
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets open connections finish
/// their current request and returns once every connection is closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: &HttpSettings,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let header_timeout = settings.header_read_timeout();
    // Every connection task holds a receiver; `closed()` resolves when all are gone.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                router.clone().oneshot(req.map(axum::body::Body::new))
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(header_timeout).keep_alive(true);
            let conn = builder.serve_connection(TokioIo::new(stream), svc).with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                res = conn.as_mut() => {
                    if let Err(e) = res {
                        tracing::debug!(%peer, error = %e, "connection closed with an error");
                    }
                    return;
                }
                _ = stop.changed() => {}
            }
            conn.as_mut().graceful_shutdown();
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection closed with an error");
            }
        });
    }
    drop(listener);
    drop(stop_rx);
    stop_tx.send_replace(());
    stop_tx.closed().await;
    Ok(())
}
