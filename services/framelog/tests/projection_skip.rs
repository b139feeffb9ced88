//! The real binary meets a message no build can read: `framelog serve --only projection` stops
//! before it (nothing after it applied, `/readyz` 503 naming it), stays stopped across a kill -9
//! and a restart, and reads past it only after `framelog projection skip`, which refuses to
//! skip a readable message.

mod common;

use std::time::{Duration, Instant};

use common::*;
use framelog_events::{AggregateId, Event, Kind, TenantId, UploadData, UploadProtocol};
use framelog_tests::{NatsServer, platform};
use serde_json::Value;

const ADMIN: &str = "admin-token-for-the-skip-test";

fn initiated(video: &str) -> Event {
    let (tenant, id) = (TenantId::new("acme").unwrap(), AggregateId::new(video).unwrap());
    Event::new(
        Event::deterministic_id(&tenant, &id, Kind::Upload, "initiated", ""),
        time::OffsetDateTime::now_utc(),
        "framelog/test",
        tenant,
        id,
        UploadData::Initiated {
            upload_id: format!("up_{video}"),
            filename: "clip.mp4".into(),
            size: 10,
            content_type: None,
            protocol: UploadProtocol::Rest,
            title: None,
            external_id: None,
            metadata: Default::default(),
        },
    )
}

async fn get(base: &str, path: &str) -> Option<(u16, Value)> {
    let res =
        reqwest::Client::new().get(format!("{base}{path}")).bearer_auth(ADMIN).send().await.ok()?;
    Some((res.status().as_u16(), res.json().await.ok()?))
}

/// Waits until `/readyz` and the applied `VID` sequence satisfy `ok`.
async fn wait_for(base: &str, what: &str, ok: impl Fn(u16, &Value, u64) -> bool) -> (u16, Value) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "never reached: {what}");
        if let (Some((code, ready)), Some((200, d))) =
            (get(base, "/readyz").await, get(base, "/v1/admin/projection/digest").await)
            && ok(code, &ready, d["applied"]["VID"].as_u64().unwrap_or(0))
        {
            return (code, ready);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn fault_an_unreadable_message_stops_the_projection_across_a_kill_until_skipped() {
    let nats = NatsServer::start();
    let (p, _dir) = platform(&nats).await;
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap().to_owned();
    let args = ["--only", "projection", "--projection-admin-token", ADMIN, "--data-dir", &data_dir];
    let first = p.events.publish(&initiated("vid_a")).await.unwrap().sequence().unwrap();
    let corrupt =
        p.js.publish("vid.acme.upload.initiated.vid_x", "{\"specversion\":\"1.0\",".into())
            .await
            .unwrap()
            .await
            .unwrap()
            .sequence;
    let last = p.events.publish(&initiated("vid_b")).await.unwrap().sequence().unwrap();

    let mut served = serve_in(&nats.url(), &args);
    let (_, ready) =
        wait_for(&served.base, "stopped before the corrupt message", |code, r, applied| {
            code == 503 && applied == first && r["problems"]["projection VID"].is_string()
        })
        .await;
    let problem = ready["problems"]["projection VID"].as_str().unwrap();
    assert!(problem.contains(&format!("message {corrupt} of VID")), "{problem}");
    assert!(problem.contains("framelog projection skip --stream VID --seq"), "{problem}");
    served.child.kill().unwrap(); // SIGKILL
    served.child.wait().unwrap();

    // Restarted, it stops there again: it never skips by itself.
    let mut served = serve_in(&nats.url(), &args);
    wait_for(&served.base, "stopped again", |code, r, applied| {
        code == 503 && applied == first && r["problems"]["projection VID"].is_string()
    })
    .await;
    served.child.kill().unwrap();
    served.child.wait().unwrap();

    let skip = |seq: u64| {
        framelog()
            .args(["projection", "skip", "--nats-url", &nats.url(), "--data-dir", &data_dir])
            .args(["--seq", &seq.to_string()])
            .output()
            .unwrap()
    };
    let refused = skip(last);
    assert!(!refused.status.success(), "a readable message was skipped");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("readable"), "{refused:?}");
    let done = skip(corrupt);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));

    let served = serve_in(&nats.url(), &args);
    let (code, _) = wait_for(&served.base, "read past it and ready", |code, _, applied| {
        code == 200 && applied == last
    })
    .await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn fault_serve_refuses_to_resume_a_projection_on_a_purged_stream_and_names_the_remedy() {
    let nats = NatsServer::start();
    let (p, _dir) = platform(&nats).await;
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap().to_owned();
    let args = ["--only", "projection", "--projection-admin-token", ADMIN, "--data-dir", &data_dir];
    let applied = p.events.publish(&initiated("vid_a")).await.unwrap().sequence().unwrap();
    let mut served = serve_in(&nats.url(), &args);
    wait_for(&served.base, "applied", |code, _, seq| code == 200 && seq == applied).await;
    // SIGTERM: a graceful stop flushes the store, so `applied` is durable (a SIGKILL could land
    // between the commit and the flush, leaving nothing applied: then any stream fits).
    let pid = served.child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    served.child.wait().unwrap();

    p.events.publish(&initiated("vid_b")).await.unwrap(); // never applied
    p.js.get_stream("VID").await.unwrap().purge().await.unwrap();
    let first = p.events.publish(&initiated("vid_c")).await.unwrap().sequence().unwrap();

    let mut child = framelog()
        .args(["serve", "--listen", "127.0.0.1:0", "--nats-url", &nats.url()])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            panic!("serve resumed the projection on a purged stream: {stderr}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains(&format!("stored sequence {applied}"))
            && stderr.contains(&format!("starts at {first}"))
            && stderr.contains("framelog projection rebuild"),
        "{stderr}"
    );
}
