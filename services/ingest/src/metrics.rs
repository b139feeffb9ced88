//! Ingest's Prometheus metrics (prefix `framelog_`), registered once per process through
//! [`Metrics::once`]; rates come from `rate()`:
//!
//! - `upload_received_bytes_total{protocol}`: request body bytes written for an upload (REST
//!   chunks, tus PATCHes, URL imports), counted as they arrive, kept or not (a refused chunk's
//!   bytes were still received);
//! - `uploads_completed_total{protocol}`: uploads completed and verified (`upload.completed`);
//! - `uploads_refused_total{protocol,code}`: uploads refused at completion (`upload.rejected`),
//!   by the refusal's code (a fixed set of ours, e.g. `unsupported_media`).
//!
//! `protocol` is one of `rest`, `tus`, `url`, `recording` ([`protocol_label`]).

use framelog_core::metrics::Metrics;
use framelog_events::UploadProtocol;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

/// Labels by protocol.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProtocolLabels {
    pub protocol: &'static str,
}

/// Labels of refusals.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusedLabels {
    pub protocol: &'static str,
    pub code: String,
}

/// Longest refusal code kept as a label; longer ones (none today) read `other`.
const MAX_CODE: usize = 40;

/// Ingest's metrics; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct IngestMetrics {
    received: Family<ProtocolLabels, Counter>,
    completed: Family<ProtocolLabels, Counter>,
    refused: Family<RefusedLabels, Counter>,
}

/// The `protocol` label.
pub fn protocol_label(p: UploadProtocol) -> &'static str {
    match p {
        UploadProtocol::Rest => "rest",
        UploadProtocol::Tus => "tus",
        UploadProtocol::Recording => "recording",
        UploadProtocol::Url => "url",
    }
}

/// The `code` label: a code of ours (`[a-z_]`, short), else `other`.
fn code_label(code: &str) -> String {
    let ours = !code.is_empty()
        && code.len() <= MAX_CODE
        && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if ours { code.to_owned() } else { "other".to_owned() }
}

impl IngestMetrics {
    /// The process's ingest metrics, registered in `metrics` on first use; the byte and
    /// completion counters of the client protocols are present (at 0) from the start.
    pub fn of(metrics: &Metrics) -> IngestMetrics {
        metrics.once(|m| {
            let i = IngestMetrics::default();
            for protocol in ["rest", "tus", "url"] {
                let _ = i.received.get_or_create(&ProtocolLabels { protocol });
                let _ = i.completed.get_or_create(&ProtocolLabels { protocol });
            }
            m.register(
                "upload_received_bytes",
                "Upload bytes received from clients and URL imports, by protocol",
                i.received.clone(),
            );
            m.register(
                "uploads_completed",
                "Uploads completed and verified, by protocol",
                i.completed.clone(),
            );
            m.register(
                "uploads_refused",
                "Uploads refused at completion, by protocol and refusal code",
                i.refused.clone(),
            );
            i
        })
    }

    /// Counts `bytes` received for an upload over `protocol`.
    pub fn received(&self, protocol: UploadProtocol, bytes: u64) {
        if bytes > 0 {
            let l = ProtocolLabels { protocol: protocol_label(protocol) };
            self.received.get_or_create(&l).inc_by(bytes);
        }
    }

    /// Counts a completed upload.
    pub fn completed(&self, protocol: UploadProtocol) {
        self.completed.get_or_create(&ProtocolLabels { protocol: protocol_label(protocol) }).inc();
    }

    /// Counts an upload refused at completion with `code`.
    pub fn refused(&self, protocol: UploadProtocol, code: &str) {
        let l = RefusedLabels { protocol: protocol_label(protocol), code: code_label(code) };
        self.refused.get_or_create(&l).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_codes_that_are_not_ours_share_one_label() {
        assert_eq!(code_label("unsupported_media"), "unsupported_media");
        assert_eq!(code_label("Not A Code"), "other");
        assert_eq!(code_label(""), "other");
        assert_eq!(code_label(&"a".repeat(41)), "other");
    }

    #[test]
    fn counters_are_on_the_scrape_at_zero_and_count_by_protocol() {
        let m = Metrics::new();
        let i = IngestMetrics::of(&m);
        i.received(UploadProtocol::Tus, 1000);
        i.received(UploadProtocol::Tus, 24);
        i.completed(UploadProtocol::Rest);
        i.refused(UploadProtocol::Rest, "unsupported_media");
        // A second `of` is the same set, not a second registration.
        IngestMetrics::of(&m).received(UploadProtocol::Tus, 1);
        let text = m.render();
        assert!(
            text.contains(r#"framelog_upload_received_bytes_total{protocol="tus"} 1025"#),
            "{text}"
        );
        assert!(
            text.contains(r#"framelog_upload_received_bytes_total{protocol="rest"} 0"#),
            "{text}"
        );
        assert!(text.contains(r#"framelog_uploads_completed_total{protocol="rest"} 1"#), "{text}");
        assert!(
            text.contains(
                r#"framelog_uploads_refused_total{protocol="rest",code="unsupported_media"} 1"#
            ),
            "{text}"
        );
        assert_eq!(text.matches("# TYPE framelog_upload_received_bytes counter").count(), 1);
    }
}
