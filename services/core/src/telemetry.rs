//! Logging and tracing: one subscriber for the process, OpenTelemetry export over OTLP/HTTP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and W3C trace context carried in NATS headers so one
//! trace follows an upload from ingest through the transcoder to the projection.

use async_nats::HeaderMap;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::settings::LogFormat;

/// W3C trace context header names.
pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";

/// Keeps the tracer provider alive; dropping it flushes buffered spans.
#[must_use = "dropping the guard stops span export"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl std::fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryGuard").field("otlp", &self.provider.is_some()).finish()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            let _ = p.shutdown();
        }
    }
}

/// Installs the global tracing subscriber: logs to stderr (human or JSON, filtered by
/// `RUST_LOG`), plus OTLP/HTTP span export when the standard
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the exporter reads the standard `OTEL_*` variables).
///
/// `default_filter` applies when `RUST_LOG` is unset (`info` for servers, `warn` for commands).
pub fn init(
    service_name: &'static str,
    format: LogFormat,
    otlp: bool,
    default_filter: &str,
) -> TelemetryGuard {
    crate::tls::install_crypto_provider();
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let fmt_layer = match format {
        LogFormat::Human => tracing_subscriber::fmt::layer().with_writer(std::io::stderr).boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let mut provider = None;
    let otel_layer = if otlp {
        match build_provider(service_name) {
            Ok(p) => {
                let tracer = p.tracer(service_name);
                provider = Some(p);
                Some(tracing_opentelemetry::layer().with_tracer(tracer))
            }
            Err(e) => {
                eprintln!("OpenTelemetry export disabled: {e}");
                None
            }
        }
    } else {
        None
    };
    let _ = tracing_subscriber::registry().with(filter).with(fmt_layer).with(otel_layer).try_init();
    TelemetryGuard { provider }
}

fn build_provider(service_name: &'static str) -> Result<SdkTracerProvider, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| e.to_string())?;
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(service_name).build();
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // Only the two W3C names reach here; skip an empty tracestate (STACK.md).
        if value.is_empty() {
            return;
        }
        match key {
            TRACEPARENT => self.0.insert(TRACEPARENT, value.as_str()),
            TRACESTATE => self.0.insert(TRACESTATE, value.as_str()),
            _ => {}
        }
    }
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.as_str())
    }
    fn keys(&self) -> Vec<&str> {
        [TRACEPARENT, TRACESTATE].into_iter().filter(|k| self.0.get(*k).is_some()).collect()
    }
}

/// Writes the current span's W3C context into `headers` (nothing when no trace is active).
pub fn inject_current(headers: &mut HeaderMap) {
    let cx = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&cx, &mut HeaderInjector(headers));
}

/// The current span's `traceparent` and `tracestate`, for storing beside an outbox entry.
pub fn current_trace_headers() -> (Option<String>, Option<String>) {
    let mut h = HeaderMap::new();
    inject_current(&mut h);
    (
        h.get(TRACEPARENT).map(|v| v.as_str().to_owned()),
        h.get(TRACESTATE).map(|v| v.as_str().to_owned()),
    )
}

/// Makes `span` a child of the context found in `headers` (a consumer's span continues the
/// publisher's trace). Headers without a valid `traceparent` leave the span as it is.
pub fn set_parent_from(span: &tracing::Span, headers: Option<&HeaderMap>) {
    let Some(h) = headers else { return };
    if h.get(TRACEPARENT).is_none() {
        return;
    }
    let cx = TraceContextPropagator::new().extract(&HeaderExtractor(h));
    let _ = span.set_parent(cx);
}

/// The trace id of `span` as 32 hex digits, if it is being traced.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| sc.trace_id().to_string())
}
