//! The projection's part of `framelog status` (pure): each projection replica's heartbeat
//! (`framelog_projection_progress`, written by `framelog_projection::heartbeat`) set against
//! its stream's last sequence. The lag is their difference, known at once for every replica,
//! where the projection's ordered consumers only show it per consumer and keep a killed
//! replica's pending for about 30 s after its successor has caught up.
//!
//! Health: for a stream with a running replica (heartbeat under `STALE_AFTER_MS` old), every
//! running replica more than `--lag-warn` behind is a problem, and stopped ones are listed but
//! not judged (a replaced replica); with none running, the best stopped replica more than
//! `--lag-warn` behind is one. The projection's consumers of a stream with heartbeats are not
//! judged by their pending ([`crate::status_report::problems`]).

use std::collections::BTreeSet;

use framelog_projection::heartbeat::{Progress, STALE_AFTER_MS};
use serde::Serialize;

/// One projection replica's progress on one stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectionStatus {
    pub replica: String,
    pub stream: String,
    /// The last sequence the replica applied.
    pub applied_seq: u64,
    /// The stream's last sequence, as read by this command.
    pub stream_last_seq: u64,
    /// `stream_last_seq - applied_seq`: events not yet in the replica's views.
    pub lag: u64,
    /// Milliseconds since the replica's last heartbeat.
    pub age_ms: u64,
    /// Whether the replica is running (a heartbeat in the last `STALE_AFTER_MS`).
    pub running: bool,
}

/// The status of `p` against its stream's `last_seq`, read at `now_ms`.
pub fn status(p: &Progress, last_seq: u64, now_ms: u64) -> ProjectionStatus {
    let age_ms = now_ms.saturating_sub(p.at_ms);
    ProjectionStatus {
        replica: p.replica.clone(),
        stream: p.stream.clone(),
        applied_seq: p.applied_seq,
        stream_last_seq: last_seq,
        lag: last_seq.saturating_sub(p.applied_seq),
        age_ms,
        running: age_ms < STALE_AFTER_MS,
    }
}

/// Streams whose projection is judged by heartbeats.
pub fn judged_streams(projections: &[ProjectionStatus]) -> BTreeSet<&str> {
    projections.iter().map(|p| p.stream.as_str()).collect()
}

/// What is unhealthy about the projection (see the module doc).
pub fn problems(projections: &[ProjectionStatus], lag_warn: u64) -> Vec<String> {
    let mut out = Vec::new();
    for stream in judged_streams(projections) {
        let of: Vec<&ProjectionStatus> =
            projections.iter().filter(|p| p.stream == stream).collect();
        let running: Vec<_> = of.iter().filter(|p| p.running).collect();
        if running.is_empty() {
            let best = of.iter().min_by_key(|p| p.lag).expect("a judged stream has an entry");
            if best.lag > lag_warn {
                out.push(format!(
                    "projection of {stream}: no replica running (last seen {:.0} s ago, {} behind, over --lag-warn {lag_warn})",
                    best.age_ms as f64 / 1000.0,
                    best.lag
                ));
            }
            continue;
        }
        for p in running.iter().filter(|p| p.lag > lag_warn) {
            out.push(format!(
                "projection replica {} is {} behind on {stream} (over --lag-warn {lag_warn})",
                p.replica, p.lag
            ));
        }
    }
    out
}

/// The rows of the Projection table.
pub fn rows(projections: &[ProjectionStatus]) -> Vec<Vec<String>> {
    projections
        .iter()
        .map(|p| {
            vec![
                p.stream.clone(),
                p.replica.clone(),
                p.applied_seq.to_string(),
                p.stream_last_seq.to_string(),
                p.lag.to_string(),
                match p.running {
                    true => format!("running ({:.1}s ago)", p.age_ms as f64 / 1000.0),
                    false => format!("STOPPED ({:.0}s ago)", p.age_ms as f64 / 1000.0),
                },
            ]
        })
        .collect()
}

/// The headers of the Projection table.
pub const HEADERS: [&str; 6] = ["STREAM", "REPLICA", "APPLIED", "LAST SEQ", "LAG", "HEARTBEAT"];

#[cfg(test)]
mod tests {
    use super::*;

    fn p(replica: &str, applied: u64, at_ms: u64) -> Progress {
        Progress { replica: replica.into(), stream: "VID".into(), applied_seq: applied, at_ms }
    }

    #[test]
    fn the_lag_is_the_stream_last_sequence_minus_the_applied_one() {
        let s = status(&p("prj_a", 70, 1_000), 100, 3_000);
        assert_eq!((s.lag, s.age_ms, s.running), (30, 2_000, true));
        let s = status(&p("prj_a", 70, 1_000), 100, 1_000 + STALE_AFTER_MS);
        assert!(!s.running);
        // A heartbeat read just before the stream (applied past what was read): no lag.
        assert_eq!(status(&p("prj_a", 105, 1_000), 100, 1_000).lag, 0);
    }

    #[test]
    fn a_caught_up_running_replica_is_healthy_beside_a_stopped_one_far_behind() {
        let now = 100_000;
        let list = vec![
            status(&p("prj_old", 20, now - 60_000), 100, now),
            status(&p("prj_new", 100, now - 500), 100, now),
        ];
        assert!(problems(&list, 10).is_empty(), "{:?}", problems(&list, 10));
    }

    #[test]
    fn a_running_replica_behind_or_no_replica_running_is_unhealthy() {
        let now = 100_000;
        let behind = vec![status(&p("prj_a", 50, now - 500), 100, now)];
        let msgs = problems(&behind, 10);
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        assert!(msgs[0].contains("prj_a is 50 behind on VID"), "{msgs:?}");
        let stopped = vec![status(&p("prj_a", 50, now - 30_000), 100, now)];
        let msgs = problems(&stopped, 10);
        assert!(
            msgs[0].contains("no replica running") && msgs[0].contains("50 behind"),
            "{msgs:?}"
        );
        // Stopped but within --lag-warn: not a problem yet.
        assert!(problems(&stopped, 60).is_empty());
    }

    #[test]
    fn a_stopped_replica_reads_stopped_in_the_table() {
        let now = 100_000;
        let r = rows(&[status(&p("prj_a", 50, now - 30_000), 100, now)]);
        assert_eq!(r[0][..5], ["VID", "prj_a", "50", "100", "50"]);
        assert!(r[0][5].starts_with("STOPPED"), "{:?}", r[0]);
    }
}
