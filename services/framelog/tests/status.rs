//! `framelog status --json` (the real binary) against a real nats-server and a real
//! `framelog serve --only projection` process: killing the projection while events keep
//! arriving makes its lag (heartbeat against the stream's last sequence) and its consumer's
//! pending grow across two status calls (and the exit code say unhealthy past --lag-warn); a
//! restarted projection shows lag 0 within seconds (exit 0), without waiting for the killed
//! replica's ordered consumer to expire.

mod common;

use std::time::{Duration, Instant};

use common::*;
use framelog_events::{AggregateId, Event, Kind, TenantId, UploadData, UploadProtocol};
use framelog_tests::process::FramelogProcess;
use framelog_tests::{NatsServer, platform};

fn event(i: usize) -> Event {
    let tenant = TenantId::new("acme").unwrap();
    let video = AggregateId::new(format!("vid_status_{i:05}")).unwrap();
    let data = UploadData::Initiated {
        upload_id: format!("up_{i}"),
        filename: format!("clip {i}.mp4"),
        size: 1000 + i as u64,
        content_type: None,
        protocol: UploadProtocol::Rest,
        title: None,
        external_id: None,
        metadata: Default::default(),
    };
    Event::new(
        Event::deterministic_id(&tenant, &video, Kind::Upload, "initiated", ""),
        time::OffsetDateTime::now_utc(),
        "framelog/test",
        tenant,
        video,
        data,
    )
}

/// Runs `framelog status --json --lag-warn 10`: (exit code, report).
fn status(nats_url: &str) -> (i32, serde_json::Value) {
    let out = framelog()
        .args(["status", "--json", "--lag-warn", "10", "--nats-url", nats_url])
        .output()
        .unwrap();
    let code = out.status.code().expect("exited");
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status --json printed no JSON ({e}): {out:?}"));
    (code, v)
}

/// The pending counts of the projection's consumers on `VID`.
fn projection_pending(report: &serde_json::Value) -> Vec<u64> {
    report["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["stream"] == "VID" && c["role"] == "projection")
        .map(|c| c["num_pending"].as_u64().unwrap())
        .collect()
}

/// The projection replicas' (lag, running) on `VID`, from their heartbeats.
fn projection_lags(report: &serde_json::Value) -> Vec<(u64, bool)> {
    report["projections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["stream"] == "VID")
        .map(|p| (p["lag"].as_u64().unwrap(), p["running"].as_bool().unwrap()))
        .collect()
}

/// Polls status until `done` holds for the exit code and the report.
async fn until(
    nats_url: &str,
    what: &str,
    done: impl Fn(i32, &serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (code, v) = status(nats_url);
        if done(code, &v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: last status (exit {code}): {v:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn status_shows_the_projection_lag_growing_while_it_is_stopped_and_back_to_zero_after() {
    let nats = NatsServer::start();
    let (p, _dir) = platform(&nats).await;
    let url = nats.url();
    let only = ["--only".to_owned(), "projection".to_owned()];
    let mut projection = FramelogProcess::serve(&url, &only).await;
    for i in 0..20 {
        p.events.publish(&event(i)).await.unwrap();
    }
    let v = until(&url, "the projection caught up", |code, v| {
        code == 0 && projection_pending(v) == [0] && projection_lags(v) == [(0, true)]
    })
    .await;
    // The report names the server and lists the streams and buckets it found.
    assert_eq!(v["servers"][0]["jetstream"], true);
    let streams: Vec<&str> =
        v["streams"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(streams.contains(&"VID") && streams.contains(&"VID_VIEW"), "{streams:?}");
    let vid = v["streams"].as_array().unwrap().iter().find(|s| s["name"] == "VID").unwrap();
    assert_eq!(vid["messages"], 20);
    assert!(v["buckets"].as_array().unwrap().iter().any(|b| b["name"] == "framelog_tenants"));
    assert_eq!(v["outbox"]["visible"], false);

    // Stopped (SIGKILL): its consumer stays on the server a while, and the events pile up.
    projection.kill();
    for i in 20..50 {
        p.events.publish(&event(i)).await.unwrap();
    }
    let (code1, first) = status(&url);
    for i in 50..100 {
        p.events.publish(&event(i)).await.unwrap();
    }
    let (code2, second) = status(&url);
    let (p1, p2) = (projection_pending(&first), projection_pending(&second));
    assert_eq!(p1.len(), 1, "{first:#}");
    assert!(p1[0] >= 30 && p2[0] == p1[0] + 50, "pending grows: {p1:?} then {p2:?}");
    eprintln!("projection pending while stopped: {} then {}", p1[0], p2[0]);
    // Its heartbeat says the same: the lag grows by what was stored since.
    let (l1, l2) = (projection_lags(&first), projection_lags(&second));
    assert_eq!((l1.len(), l2.len()), (1, 1), "{second:#}");
    assert!(l1[0].0 >= 30 && l2[0].0 == l1[0].0 + 50, "lag grows: {l1:?} then {l2:?}");
    eprintln!("projection lag while stopped: {} then {}", l1[0].0, l2[0].0);
    assert_eq!((code1, code2), (1, 1), "a lag over --lag-warn is unhealthy");
    assert!(
        second["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m.as_str().unwrap().contains("80 behind on VID")),
        "{second:#}"
    );

    // Restarted (a new replica: a new data dir): it catches up and says so in its heartbeat,
    // the killed one reads stopped, and status is healthy again without waiting ~30 s for the
    // killed replica's ordered consumer (still on the server, its pending still counted) to
    // expire.
    let restarted = Instant::now();
    let _projection = FramelogProcess::serve(&url, &only).await;
    let started = restarted.elapsed();
    let v = until(&url, "the restarted projection caught up", |code, v| {
        let lags = projection_lags(v);
        code == 0 && lags.contains(&(0, true)) && lags.iter().filter(|l| l.1).count() == 1
    })
    .await;
    let caught_up = restarted.elapsed();
    assert_eq!(v["healthy"], true);
    assert!(projection_lags(&v).contains(&(80, false)), "the killed replica reads stopped: {v:#}");
    eprintln!(
        "lag 0 and healthy {caught_up:?} after the restart ({started:?} of it starting the process); \
         projection consumers' pending then: {:?}",
        projection_pending(&v)
    );
    assert!(
        caught_up < started + Duration::from_secs(10),
        "caught up {caught_up:?} after the restart, the process took {started:?} to start"
    );
}

#[tokio::test]
async fn status_exits_2_with_a_clear_message_when_nats_is_unreachable() {
    let mut nats = NatsServer::start();
    let url = nats.url();
    nats.stop();
    let out = framelog()
        .args(["status", "--json", "--connect-timeout", "1", "--nats-url", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], "nats_unreachable");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("NATS unreachable"), "{stderr}");
}

#[tokio::test]
async fn status_lists_the_workers_holding_live_transcode_leases_and_not_expired_ones() {
    use framelog_transcoder::lease::{self, Holder, Leases, Record};
    let nats = NatsServer::start();
    let (p, _dir) = platform(&nats).await;
    let leases = Leases::open(&p.js, 1).await.unwrap();
    let record = |worker: &str, expires_at_ms: u64| Record {
        request_seq: 7,
        attempts: 1,
        done: false,
        holder: Some(Holder { worker: worker.into(), token: "t".into(), expires_at_ms }),
    };
    let now = lease::now_ms();
    leases.write("acme.vid_live", &record("worker-a", now + 60_000), 0).await.unwrap();
    leases.write("acme.vid_gone", &record("worker-b", now - 1), 0).await.unwrap();

    let (code, v) = status(&nats.url());
    assert_eq!(code, 0, "{v:#}");
    let workers = v["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 1, "{v:#}");
    assert_eq!(workers[0]["worker"], "worker-a");
    assert_eq!(workers[0]["jobs"], serde_json::json!(["acme.vid_live"]));
    let lease = &v["leases"][0];
    assert_eq!(lease["bucket"], lease::KV_LEASES);
    assert!(lease["expires_in_ms"].as_u64().unwrap() > 50_000, "{lease}");
}

#[tokio::test]
async fn status_reports_the_replicas_of_a_clustered_stream_and_a_dead_node_as_unhealthy() {
    let mut cluster = framelog_tests::cluster::NatsCluster::start().await;
    let out = framelog()
        .args(["topology", "apply", "--replicas", "3", "--nats-url", &cluster.url_list()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Ask node 0 only, so the node killed below is never the one answering.
    let node0 = cluster.urls()[0].clone();
    let vid = |v: &serde_json::Value| {
        v["streams"].as_array().unwrap().iter().find(|s| s["name"] == "VID").unwrap().clone()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let v = loop {
        let (code, v) = status(&node0);
        let peers = vid(&v)["cluster"]["peers"].as_array().map_or(0, Vec::len);
        if code == 0 && peers == 2 {
            break v;
        }
        assert!(Instant::now() < deadline, "never healthy with R3: exit {code}: {v:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(v["servers"][0]["cluster"], "framelog_test");
    assert_eq!(vid(&v)["replicas"], 3);

    // Kill a node that does not lead VID: its replica goes offline or stops being current.
    let leader = vid(&v)["cluster"]["leader"].as_str().unwrap().to_owned();
    let victim = (1..3).find(|i| format!("n{i}") != leader).unwrap();
    cluster.kill(victim);
    let killed = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (code, v) = status(&node0);
        let named = v["problems"].as_array().unwrap().iter().any(|p| {
            let p = p.as_str().unwrap();
            p.starts_with("stream VID replica") && p.contains(&format!("n{victim}"))
        });
        if code == 1 && named {
            eprintln!("after {:?}: {}", killed.elapsed(), v["problems"]);
            break;
        }
        assert!(Instant::now() < deadline, "the dead replica never showed: exit {code}: {v:#}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
