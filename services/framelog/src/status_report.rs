//! The report `framelog status` prints, as plain data: what was read from NATS ([`Report`],
//! the stable `--json` shape), the health rules ([`problems`]) and the aligned text tables
//! ([`render`]). Pure, so the rules and the layout are unit-tested without a server; the reads
//! live in [`crate::status`].

use serde::Serialize;

/// Version of the `--json` shape; bumped when a field changes meaning or disappears.
pub const SCHEMA: u32 = 1;

/// Everything `framelog status` read, plus its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: u32,
    pub healthy: bool,
    /// One sentence per unhealthy thing (empty when healthy).
    pub problems: Vec<String>,
    pub servers: Vec<ServerStatus>,
    pub streams: Vec<StreamStatus>,
    pub consumers: Vec<ConsumerStatus>,
    /// KV buckets (`KV_*` streams) and object stores (`OBJ_*`).
    pub buckets: Vec<BucketStatus>,
    /// Live transcode leases (jobs and work items).
    pub leases: Vec<LeaseStatus>,
    /// Workers holding live leases, with what they hold.
    pub workers: Vec<WorkerStatus>,
    pub outbox: OutboxStatus,
    /// Each projection replica's applied sequence and lag, from its heartbeat.
    pub projections: Vec<crate::status_projection::ProjectionStatus>,
}

/// The NATS server this command is connected to, and the cluster it knows.
#[derive(Debug, Clone, Serialize)]
pub struct ServerStatus {
    pub server_name: String,
    pub version: String,
    pub cluster: Option<String>,
    pub connected_url: String,
    pub jetstream: bool,
    /// Other servers of the cluster the server advertises to clients.
    pub connect_urls: Vec<String>,
}

/// One stream (not a KV bucket or object store).
#[derive(Debug, Clone, Serialize)]
pub struct StreamStatus {
    pub name: String,
    pub messages: u64,
    pub bytes: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub consumers: usize,
    /// Configured replicas.
    pub replicas: usize,
    /// Present when the stream is clustered (R>1 or a clustered server).
    pub cluster: Option<ClusterStatus>,
}

/// The raft group of a clustered stream.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterStatus {
    pub leader: Option<String>,
    /// The followers (the leader is not listed by the server).
    pub peers: Vec<PeerStatus>,
}

/// One follower replica.
#[derive(Debug, Clone, Serialize)]
pub struct PeerStatus {
    pub name: String,
    pub current: bool,
    pub offline: bool,
    /// Operations behind the leader, when the server says.
    pub lag: Option<u64>,
}

/// One consumer of one stream (durable or ephemeral).
#[derive(Debug, Clone, Serialize)]
pub struct ConsumerStatus {
    pub stream: String,
    pub name: String,
    pub durable: bool,
    pub description: Option<String>,
    /// `projection` for the projection's ordered consumers (its cursor is the local sled
    /// store, so this ephemeral consumer is the only trace of its progress on NATS).
    pub role: Option<String>,
    pub num_pending: u64,
    pub num_ack_pending: u64,
    pub num_redelivered: u64,
    pub num_waiting: u64,
    pub delivered_stream_seq: u64,
    pub ack_floor_stream_seq: u64,
    /// Messages not yet done: `num_pending + num_ack_pending`.
    pub lag: u64,
}

/// One KV bucket or object store.
#[derive(Debug, Clone, Serialize)]
pub struct BucketStatus {
    pub name: String,
    /// `kv` or `object_store`.
    pub kind: &'static str,
    /// Messages held (for a KV bucket: values, history and delete markers included).
    pub values: u64,
    pub bytes: u64,
    pub replicas: usize,
}

/// A live lease of a transcode job or work item.
#[derive(Debug, Clone, Serialize)]
pub struct LeaseStatus {
    pub bucket: String,
    pub key: String,
    pub worker: String,
    pub attempts: u32,
    pub expires_in_ms: u64,
}

/// A worker and the keys it holds leases on.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerStatus {
    pub worker: String,
    pub jobs: Vec<String>,
}

/// The outbox backlog: a local sled store per process, so not readable from NATS.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxStatus {
    pub visible: bool,
    pub note: String,
}

impl OutboxStatus {
    pub fn not_visible() -> OutboxStatus {
        OutboxStatus {
            visible: false,
            note: "the outbox is each process's local sled store, not visible from NATS: run \
                   `framelog outbox list` on that host, or its /readyz"
                .to_owned(),
        }
    }
}

/// The workers of `leases`, each with the keys it holds, sorted by worker name.
pub fn workers(leases: &[LeaseStatus]) -> Vec<WorkerStatus> {
    let mut by: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for l in leases {
        by.entry(&l.worker).or_default().push(l.key.clone());
    }
    by.into_iter().map(|(w, jobs)| WorkerStatus { worker: w.to_owned(), jobs }).collect()
}

/// What is unhealthy: a consumer with more than `lag_warn` pending (the projection's, when it
/// writes heartbeats, judged by those instead: [`crate::status_projection::problems`]), a
/// stream replica offline or not current, a server without JetStream.
pub fn problems(report: &Report, lag_warn: u64) -> Vec<String> {
    let mut out = Vec::new();
    for s in report.servers.iter().filter(|s| !s.jetstream) {
        out.push(format!("server {} has JetStream disabled", s.server_name));
    }
    for s in &report.streams {
        for p in s.cluster.iter().flat_map(|c| &c.peers) {
            if p.offline {
                out.push(format!("stream {} replica {} is offline", s.name, p.name));
            } else if !p.current {
                let lag = p.lag.map(|l| format!(" ({l} behind)")).unwrap_or_default();
                out.push(format!("stream {} replica {} is not current{lag}", s.name, p.name));
            }
        }
        if let Some(c) = &s.cluster
            && c.leader.is_none()
        {
            out.push(format!("stream {} has no leader", s.name));
        }
    }
    // A projection with heartbeats is judged by them (status_projection.rs), not by its
    // ordered consumers, whose pending outlives a killed replica.
    let judged = crate::status_projection::judged_streams(&report.projections);
    let by_heartbeat = |c: &ConsumerStatus| {
        c.role.as_deref() == Some("projection") && judged.contains(c.stream.as_str())
    };
    out.extend(crate::status_projection::problems(&report.projections, lag_warn));
    for c in report.consumers.iter().filter(|c| c.num_pending > lag_warn && !by_heartbeat(c)) {
        out.push(format!(
            "consumer {}/{} has {} pending (over --lag-warn {lag_warn})",
            c.stream, c.name, c.num_pending
        ));
    }
    out
}

/// Left-aligned columns separated by two spaces; the header row first.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> Vec<String> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> =
            cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut out = vec![line(headers.to_vec())];
    out.extend(rows.iter().map(|r| line(r.iter().map(String::as_str).collect())));
    out
}

fn replicas_cell(s: &StreamStatus) -> String {
    match &s.cluster {
        None => format!("R{}", s.replicas),
        Some(c) => {
            let bad = c.peers.iter().filter(|p| p.offline || !p.current).count();
            let leader = c.leader.as_deref().unwrap_or("none");
            match bad {
                0 => format!("R{} leader {leader}, all current", s.replicas),
                n => format!("R{} leader {leader}, {n} lagging/offline", s.replicas),
            }
        }
    }
}

/// The human-readable report.
pub fn render(r: &Report) -> Vec<String> {
    let mut out = vec![format!("status: {}", if r.healthy { "healthy" } else { "UNHEALTHY" })];
    out.extend(r.problems.iter().map(|p| format!("  ! {p}")));
    let section = |out: &mut Vec<String>, title: &str, lines: Vec<String>| {
        out.push(String::new());
        out.push(title.to_owned());
        out.extend(lines.into_iter().map(|l| format!("  {l}")));
    };
    let rows = r.servers.iter().map(|s| {
        vec![
            s.server_name.clone(),
            s.cluster.clone().unwrap_or_else(|| "-".into()),
            s.connected_url.clone(),
            s.version.clone(),
            if s.jetstream { "yes" } else { "no" }.into(),
        ]
    });
    let headers = ["SERVER", "CLUSTER", "URL", "VERSION", "JETSTREAM"];
    section(&mut out, "NATS", table(&headers, &rows.collect::<Vec<_>>()));
    let rows = r.streams.iter().map(|s| {
        vec![
            s.name.clone(),
            s.messages.to_string(),
            s.bytes.to_string(),
            s.last_seq.to_string(),
            s.consumers.to_string(),
            replicas_cell(s),
        ]
    });
    let headers = ["STREAM", "MESSAGES", "BYTES", "LAST SEQ", "CONSUMERS", "REPLICAS"];
    section(&mut out, "Streams", table(&headers, &rows.collect::<Vec<_>>()));
    let rows = r.consumers.iter().map(|c| {
        let name = match &c.role {
            Some(role) => format!("{} ({role})", c.name),
            None if !c.durable => format!("{} (ephemeral)", c.name),
            None => c.name.clone(),
        };
        vec![
            c.stream.clone(),
            name,
            c.num_pending.to_string(),
            c.num_ack_pending.to_string(),
            c.num_redelivered.to_string(),
            c.delivered_stream_seq.to_string(),
            c.ack_floor_stream_seq.to_string(),
            c.lag.to_string(),
        ]
    });
    let headers = [
        "STREAM",
        "CONSUMER",
        "PENDING",
        "ACK PENDING",
        "REDELIVERED",
        "DELIVERED",
        "ACK FLOOR",
        "LAG",
    ];
    section(&mut out, "Consumers", table(&headers, &rows.collect::<Vec<_>>()));
    if !r.projections.is_empty() {
        let rows = crate::status_projection::rows(&r.projections);
        section(&mut out, "Projection", table(&crate::status_projection::HEADERS, &rows));
    }
    let rows = r
        .buckets
        .iter()
        .map(|b| vec![b.name.clone(), b.kind.into(), b.values.to_string(), b.bytes.to_string()]);
    section(
        &mut out,
        "Buckets",
        table(&["BUCKET", "KIND", "VALUES", "BYTES"], &rows.collect::<Vec<_>>()),
    );
    let lines = if r.workers.is_empty() {
        vec!["no live transcode leases".to_owned()]
    } else {
        let rows = r.leases.iter().map(|l| {
            vec![
                l.worker.clone(),
                l.bucket.clone(),
                l.key.clone(),
                l.attempts.to_string(),
                format!("{:.1}s", l.expires_in_ms as f64 / 1000.0),
            ]
        });
        table(&["WORKER", "BUCKET", "KEY", "ATTEMPTS", "EXPIRES IN"], &rows.collect::<Vec<_>>())
    };
    section(&mut out, "Workers", lines);
    section(&mut out, "Outbox", vec![r.outbox.note.clone()]);
    out
}

#[cfg(test)]
#[path = "status_report_tests.rs"]
mod tests;
