//! Unit tests of `status_report`: the health rules, the table layout, the JSON field names.

use super::*;

fn consumer(name: &str, pending: u64) -> ConsumerStatus {
    ConsumerStatus {
        stream: "VID".into(),
        name: name.into(),
        durable: true,
        description: None,
        role: None,
        num_pending: pending,
        num_ack_pending: 2,
        num_redelivered: 0,
        num_waiting: 1,
        delivered_stream_seq: 10,
        ack_floor_stream_seq: 8,
        lag: pending + 2,
    }
}

fn report(consumers: Vec<ConsumerStatus>, peers: Vec<PeerStatus>) -> Report {
    Report {
        schema: SCHEMA,
        healthy: true,
        problems: vec![],
        servers: vec![ServerStatus {
            server_name: "n1".into(),
            version: "2.11.0".into(),
            cluster: None,
            connected_url: "nats://127.0.0.1:4222".into(),
            jetstream: true,
            connect_urls: vec![],
        }],
        streams: vec![StreamStatus {
            name: "VID".into(),
            messages: 12,
            bytes: 3400,
            first_seq: 1,
            last_seq: 12,
            consumers: 1,
            replicas: 3,
            cluster: Some(ClusterStatus { leader: Some("n1".into()), peers }),
        }],
        consumers,
        buckets: vec![],
        leases: vec![],
        workers: vec![],
        outbox: OutboxStatus::not_visible(),
        projections: vec![],
    }
}

fn peer(name: &str, current: bool, offline: bool) -> PeerStatus {
    PeerStatus { name: name.into(), current, offline, lag: (!current).then_some(7) }
}

#[test]
fn a_consumer_over_the_lag_threshold_is_a_problem_and_one_at_it_is_not() {
    let r = report(vec![consumer("at", 100), consumer("over", 101)], vec![]);
    assert_eq!(problems(&r, 100), vec!["consumer VID/over has 101 pending (over --lag-warn 100)"]);
}

#[test]
fn a_projection_with_heartbeats_is_judged_by_them_not_by_its_consumers_pending() {
    use crate::status_projection::ProjectionStatus;
    let mut dead = consumer("killed-replica", 500);
    dead.role = Some("projection".into());
    let mut r = report(vec![dead, consumer("transcoder", 3)], vec![]);
    // Without heartbeats the ordered consumer's pending is all there is.
    assert_eq!(
        problems(&r, 100),
        vec!["consumer VID/killed-replica has 500 pending (over --lag-warn 100)"]
    );
    let beat = |replica: &str, lag: u64, running: bool| ProjectionStatus {
        replica: replica.into(),
        stream: "VID".into(),
        applied_seq: 600 - lag,
        stream_last_seq: 600,
        lag,
        age_ms: if running { 400 } else { 40_000 },
        running,
    };
    r.projections = vec![beat("prj_old", 500, false), beat("prj_new", 0, true)];
    assert!(problems(&r, 100).is_empty(), "{:?}", problems(&r, 100));
    r.projections = vec![beat("prj_new", 150, true)];
    assert_eq!(
        problems(&r, 100),
        vec!["projection replica prj_new is 150 behind on VID (over --lag-warn 100)"]
    );
    let text = render(&r).join("\n");
    assert!(
        text.contains("Projection\n  STREAM  REPLICA  APPLIED  LAST SEQ  LAG  HEARTBEAT"),
        "{text}"
    );
}

#[test]
fn an_offline_or_lagging_replica_is_a_problem() {
    let r = report(vec![], vec![peer("n2", true, false), peer("n3", false, false)]);
    assert_eq!(problems(&r, 0), vec!["stream VID replica n3 is not current (7 behind)"]);
    let r = report(vec![], vec![peer("n2", false, true)]);
    assert_eq!(problems(&r, 0), vec!["stream VID replica n2 is offline"]);
}

#[test]
fn tables_align_every_column_to_its_widest_cell() {
    let rows =
        vec![vec!["VID_VIEW".to_owned(), "3".to_owned()], vec!["VID".into(), "12345".into()]];
    assert_eq!(
        table(&["STREAM", "N"], &rows),
        vec!["STREAM    N", "VID_VIEW  3", "VID       12345"]
    );
}

#[test]
fn the_text_report_names_the_verdict_the_replicas_and_each_consumer() {
    let mut projection = consumer("abc", 5);
    projection.role = Some("projection".into());
    let mut r = report(vec![projection], vec![peer("n2", false, true)]);
    r.problems = problems(&r, 0);
    r.healthy = r.problems.is_empty();
    let text = render(&r).join("\n");
    assert!(text.starts_with("status: UNHEALTHY\n  ! stream VID replica n2 is offline"), "{text}");
    assert!(text.contains("R3 leader n1, 1 lagging/offline"), "{text}");
    assert!(text.contains("abc (projection)"), "{text}");
    assert!(text.contains("not visible from NATS"), "{text}");
    assert!(text.contains("no live transcode leases"), "{text}");
}

#[test]
fn the_json_field_names_are_the_documented_ones() {
    let r = report(vec![consumer("c", 1)], vec![]);
    let v = serde_json::to_value(&r).unwrap();
    for k in [
        "schema",
        "healthy",
        "problems",
        "servers",
        "streams",
        "consumers",
        "buckets",
        "leases",
        "workers",
        "outbox",
    ] {
        assert!(v.get(k).is_some(), "missing {k}");
    }
    let c = &v["consumers"][0];
    for k in [
        "stream",
        "name",
        "durable",
        "role",
        "num_pending",
        "num_ack_pending",
        "num_redelivered",
        "delivered_stream_seq",
        "ack_floor_stream_seq",
        "lag",
    ] {
        assert!(c.get(k).is_some(), "missing consumers[].{k}");
    }
    assert_eq!(v["outbox"]["visible"], false);
}

#[test]
fn workers_group_their_leases() {
    let l = |w: &str, k: &str| LeaseStatus {
        bucket: "b".into(),
        key: k.into(),
        worker: w.into(),
        attempts: 1,
        expires_in_ms: 1000,
    };
    let w = workers(&[l("w2", "a"), l("w1", "b"), l("w2", "c")]);
    assert_eq!(w.len(), 2);
    assert_eq!((w[0].worker.as_str(), w[0].jobs.clone()), ("w1", vec!["b".to_owned()]));
    assert_eq!(w[1].jobs, vec!["a".to_owned(), "c".to_owned()]);
}
