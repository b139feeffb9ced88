//! `framelog outbox list|replay` against a real nats-server: entries JetStream refused (their
//! stream was deleted) are listed, stay refused while the cause stands, and once the stream is
//! back a replay stores each exactly once, however often it is run, even after the duplicate
//! window and after a replay that stored them without removing them from the list.

use std::path::Path;
use std::time::Duration;

use framelog_core::nats::STREAM_VID;
use framelog_events::{AggregateId, Event, Kind, TenantId, TranscodeData, UploadData};
use framelog_tests::NatsServer;
use time::OffsetDateTime;

mod common;
use common::framelog;

const WINDOW: Duration = Duration::from_secs(1);

async fn platform(nats: &NatsServer, dir: &Path) -> framelog_core::Platform {
    let mut settings = framelog_core::CommonSettings::for_test(&nats.url(), dir.to_path_buf());
    settings.nats_duplicate_window = WINDOW;
    framelog_core::Platform::start(settings, "framelog-test", Duration::from_secs(10))
        .await
        .unwrap()
}

fn event(kind: Kind, phase: &str, data: impl Into<framelog_events::EventData>) -> Event {
    let (t, v) = (TenantId::new("acme").unwrap(), AggregateId::new("vid_replay").unwrap());
    let id = Event::deterministic_id(&t, &v, kind, phase, "");
    Event::new(id, OffsetDateTime::now_utc(), "framelog/test", t, v, data)
}

async fn count(js: &async_nats::jetstream::Context, subject: &str) -> usize {
    let mut s = js.get_stream(STREAM_VID).await.unwrap();
    let last = s.info().await.unwrap().state.last_sequence;
    let mut n = 0;
    for seq in 1..=last {
        if let Ok(m) = s.get_raw_message(seq).await
            && m.subject.as_str() == subject
        {
            n += 1;
        }
    }
    n
}

/// Runs `framelog outbox <args>` on `dir`; (success, stdout, stderr).
fn outbox(nats: &NatsServer, dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = framelog()
        .arg("outbox")
        .args(args)
        .args(["--nats-url", &nats.url(), "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (out.status.success(), text(out.stdout), text(out.stderr))
}

#[tokio::test]
async fn fault_refused_entries_replayed_after_the_fix_are_stored_once_however_often_replayed() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().unwrap();
    let deleted = event(Kind::Upload, "deleted", UploadData::Deleted {});
    let started = event(
        Kind::Transcode,
        "started",
        TranscodeData::Started {
            worker: "w".into(),
            encoder: "libx264".into(),
            attempt: 1,
            profiles: vec![],
        },
    );
    {
        let p = platform(&nats, data.path()).await;
        // The domain stream is gone (an operator's mistake): both events are refused for good.
        p.js.delete_stream(STREAM_VID).await.unwrap();
        p.events.queue(&[&deleted, &started]).await.unwrap();
        for _ in 0..20 {
            if p.events.outbox_len() == 0 {
                break;
            }
            let _ = p.events.drain_outbox().await;
        }
        assert_eq!(p.events.outbox_len(), 0);
        assert_eq!(p.events.refused_len(), 2);
    }

    let (ok, listed, err) = outbox(&nats, data.path(), &["list"]);
    assert!(ok, "{err}");
    for (e, subject) in [
        (&deleted, "vid.acme.upload.deleted.vid_replay"),
        (&started, "vid.acme.transcode.started.vid_replay"),
    ] {
        let line = listed.lines().find(|l| l.starts_with(&e.id.to_string())).unwrap_or_else(|| {
            panic!("{} not listed:\n{listed}", e.id);
        });
        assert!(line.contains(subject) && line.contains("no stream"), "{line}");
    }
    assert!(listed.ends_with("2 refused, 0 waiting in the outbox\n"), "{listed}");

    // While the cause stands, a replay changes nothing and says so.
    let (ok, out, _) = outbox(&nats, data.path(), &["replay"]);
    assert!(!ok, "{out}");
    assert_eq!(out.matches("still refused: no stream").count(), 2, "{out}");
    // An unknown id is refused before anything is sent.
    let (ok, _, err) = outbox(&nats, data.path(), &["replay", "--id", "nope"]);
    assert!(!ok && err.contains("no refused entry has the id(s) nope"), "{err}");

    // The operator recreates the stream (a start creates what is missing), with a 1 s window.
    let other = tempfile::tempdir().unwrap();
    let fixer = platform(&nats, other.path()).await;
    let js = fixer.js.clone();
    let saved: Vec<(sled::IVec, sled::IVec)> = {
        let db = sled::open(data.path().join("state")).unwrap();
        let tree = db.open_tree(framelog_core::eventlog::OUTBOX_REFUSED_TREE).unwrap();
        tree.iter().map(Result::unwrap).collect()
    };

    // One by id, then the rest.
    let id = started.id.to_string();
    let (ok, out, err) = outbox(&nats, data.path(), &["replay", "--id", &id]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(&format!("{id}  vid.acme.transcode.started.vid_replay  stored at")),
        "{out}"
    );
    assert!(out.contains("1 replayed, 0 still refused, 1 left in the list"), "{out}");
    let (ok, out, err) = outbox(&nats, data.path(), &["replay"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("1 replayed, 0 still refused, 0 left in the list"), "{out}");
    let subjects = ["vid.acme.upload.deleted.vid_replay", "vid.acme.transcode.started.vid_replay"];
    for s in subjects {
        assert_eq!(count(&js, s).await, 1, "{s}");
    }

    // Replayed again: nothing left to send.
    let (ok, out, _) = outbox(&nats, data.path(), &["replay"]);
    assert!(ok && out.contains("0 replayed, 0 still refused, 0 left in the list"), "{out}");

    // A replay that stored both and crashed before removing them from the list, run again long
    // after the duplicate window: both are found already stored, neither is stored twice.
    tokio::time::sleep(WINDOW * 3).await;
    {
        let db = sled::open(data.path().join("state")).unwrap();
        let tree = db.open_tree(framelog_core::eventlog::OUTBOX_REFUSED_TREE).unwrap();
        for (k, v) in &saved {
            tree.insert(k, v).unwrap();
        }
        db.flush().unwrap();
    }
    let (ok, out, err) = outbox(&nats, data.path(), &["replay", "--json"]);
    assert!(ok, "{out}{err}");
    let lines: Vec<serde_json::Value> =
        out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{out}");
    for l in &lines {
        assert_eq!(l["outcome"], "stored", "{l}");
        assert_eq!(l["duplicate"], true, "{l}");
    }
    for s in subjects {
        assert_eq!(count(&js, s).await, 1, "{s} stored twice");
    }

    // The store is locked while a server uses it: the command says what to do.
    let _busy = sled::open(data.path().join("state")).unwrap();
    let (ok, _, err) = outbox(&nats, data.path(), &["list"]);
    assert!(!ok && err.contains("stop the `framelog serve`"), "{err}");
}

#[test]
fn outbox_list_on_a_missing_data_dir_is_a_clear_error() {
    let out = framelog()
        .args(["outbox", "list", "--data-dir", "/nonexistent/framelog-data"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("no local store in /nonexistent/framelog-data"), "{err}");
}
