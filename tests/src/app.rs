//! [`TestApp`]: a router served on a random port for a test.

use std::net::SocketAddr;

/// An axum app served on `127.0.0.1:0`; stopped on drop.
#[derive(Debug)]
pub struct TestApp {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

/// A reqwest client (after installing the TLS provider reqwest needs).
pub fn http_client() -> reqwest::Client {
    framelog_core::tls::install_crypto_provider();
    reqwest::Client::new()
}

impl TestApp {
    /// Serves `router` on a fresh loopback port.
    pub async fn serve(router: axum::Router) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let svc = router.into_make_service_with_connect_info::<SocketAddr>();
            let _ = axum::serve(listener, svc).await;
        });
        TestApp { addr, http: http_client(), task }
    }

    /// Serves `router` on an already bound listener (when its address must be known earlier,
    /// e.g. to configure a media server's webhooks).
    pub async fn serve_on(listener: tokio::net::TcpListener, router: axum::Router) -> TestApp {
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let svc = router.into_make_service_with_connect_info::<SocketAddr>();
            let _ = axum::serve(listener, svc).await;
        });
        TestApp { addr, http: http_client(), task }
    }

    /// Serves whatever `run` serves on the listener it is given (for apps with workers).
    pub async fn serve_with<F, Fut>(run: F) -> TestApp
    where
        F: FnOnce(tokio::net::TcpListener) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(run(listener));
        TestApp { addr, http: http_client(), task }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GET with an optional bearer key.
    pub async fn get(&self, path: &str, key: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(self.url(path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        req.send().await.expect("GET")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}
