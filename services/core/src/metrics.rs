//! Prometheus metrics: one registry per process, passed explicitly; an HTTP middleware that
//! counts requests by route and status and times them.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of HTTP metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

/// The process's metrics; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    http_requests: Family<HttpLabels, Counter>,
    http_seconds: Family<HttpLabels, Histogram>,
    /// A crate's metric set, registered once per registry ([`Metrics::once`]).
    sets: Arc<Mutex<HashMap<TypeId, Box<dyn Any + Send + Sync>>>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0])
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("framelog");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_seconds = Family::<HttpLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register("http_requests", "HTTP requests answered", http_requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            http_seconds.clone(),
        );
        Metrics {
            registry: Arc::new(Mutex::new(registry)),
            http_requests,
            http_seconds,
            sets: Arc::default(),
        }
    }

    /// A crate's set of metrics (a cheap `Clone` struct of metric handles), registered by
    /// `register` the first time it is asked for and shared afterwards, so services that build
    /// their state more than once in a process (tests, `framelog serve`) never register a name
    /// twice.
    pub fn once<T: Clone + Send + Sync + 'static>(
        &self,
        register: impl FnOnce(&Metrics) -> T,
    ) -> T {
        let mut sets = self.sets.lock().expect("metric sets poisoned");
        if let Some(t) = sets.get(&TypeId::of::<T>()).and_then(|b| b.downcast_ref::<T>()) {
            return t.clone();
        }
        let t = register(self);
        sets.insert(TypeId::of::<T>(), Box::new(t.clone()));
        t
    }

    /// Registers a service's metric.
    pub fn register(
        &self,
        name: &str,
        help: &str,
        metric: impl prometheus_client::registry::Metric,
    ) {
        self.registry.lock().expect("metrics registry poisoned").register(name, help, metric);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let reg = self.registry.lock().expect("metrics registry poisoned");
        prometheus_client::encoding::text::encode(&mut out, &reg).expect("writing to a String");
        out
    }
}

/// The `method` label of a request: one of a fixed set, so a client inventing method names
/// (`FOO`, a random string per request) cannot grow the metric families without bound.
pub fn method_label(method: &http::Method) -> &'static str {
    use http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware: counts and times every request by method (a fixed set), matched route template
/// (never the raw path) and status.
pub async fn track_http(State(m): State<Metrics>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = method_label(req.method()).to_owned();
    let start = Instant::now();
    let res = next.run(req).await;
    let labels = HttpLabels { method, route, status: res.status().as_u16() };
    m.http_requests.get_or_create(&labels).inc();
    m.http_seconds.get_or_create(&labels).observe(start.elapsed().as_secs_f64());
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::get;
    use tower::ServiceExt;

    #[derive(Clone)]
    struct Set(Counter);

    #[test]
    fn a_metric_set_is_registered_once_per_registry() {
        let m = Metrics::new();
        let mut calls = 0;
        for _ in 0..3 {
            let set = m.once(|m| {
                calls += 1;
                let c = Counter::default();
                m.register("once_test", "test", c.clone());
                Set(c)
            });
            set.0.inc();
        }
        assert_eq!(calls, 1);
        let text = m.render();
        assert_eq!(text.matches("# TYPE framelog_once_test counter").count(), 1, "{text}");
        assert!(text.contains("framelog_once_test_total 3"), "{text}");
    }

    #[test]
    fn invented_methods_share_one_label() {
        assert_eq!(method_label(&http::Method::GET), "GET");
        assert_eq!(method_label(&http::Method::OPTIONS), "OPTIONS");
        for m in ["FOO", "BREW", "TRACE", "CONNECT", "X-RANDOM-0123456789"] {
            assert_eq!(method_label(&http::Method::from_bytes(m.as_bytes()).unwrap()), "other");
        }
    }

    #[tokio::test]
    async fn hostile_methods_and_paths_do_not_grow_the_label_set() {
        let m = Metrics::new();
        let app = Router::new()
            .route("/v1/videos/{id}", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(m.clone(), track_http));
        for i in 0..50 {
            let method = http::Method::from_bytes(format!("HOSTILE{i}").as_bytes()).unwrap();
            let req = Request::builder()
                .method(method)
                .uri(format!("/v1/videos/vid_{i}"))
                .body(axum::body::Body::empty())
                .unwrap();
            let _ = app.clone().oneshot(req).await.unwrap();
            let req = Request::builder()
                .uri(format!("/random/path/{i}"))
                .body(axum::body::Body::empty())
                .unwrap();
            let _ = app.clone().oneshot(req).await.unwrap();
        }
        let text = m.render();
        let series: Vec<&str> =
            text.lines().filter(|l| l.starts_with("framelog_http_requests_total{")).collect();
        assert!(!text.contains("HOSTILE"), "{text}");
        assert!(!text.contains("vid_1"), "raw paths are never labels: {text}");
        assert!(text.contains(r#"method="other",route="/v1/videos/{id}""#), "{text}");
        assert!(series.len() <= 2, "one series per (method label, route, status): {series:?}");
    }
}
