//! Per-tenant fairness on one worker, against a real nats-server and real ffmpeg: with two
//! slots, one tenant's queued jobs never take both while another tenant's job waits (once
//! nothing else waits they may), and the hand-backs that make room cost no attempts.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::env;
use framelog_events::Kind;
use framelog_tests::media::{VideoSpec, generate_video};
use framelog_transcoder::fairness::KV_HANDBACKS;
use framelog_transcoder::{Outcome, TranscoderSettings};
use futures::TryStreamExt;

#[tokio::test]
async fn one_tenant_never_holds_both_slots_while_another_tenant_waits() {
    let env = env().await;
    let spec = VideoSpec::new(320, 180, 2.0).fps(10);
    // acme queues three jobs before globex's one.
    for id in ["va1", "va2", "va3"] {
        let src = generate_video(env.sources.path(), &format!("{id}.mp4"), &spec);
        env.request_file_as("acme", id, &src).await;
    }
    let src = generate_video(env.sources.path(), "vb1.mp4", &spec);
    env.request_file_as("globex", "vb1", &src).await;

    let settings = TranscoderSettings { concurrency: 2, ..TranscoderSettings::for_test() };
    assert_eq!(settings.tenant_cap(), 1);
    let mut w = env.worker(settings, "w1").await;
    let tenant_of = |v: &str| if v.starts_with("va") { "acme" } else { "globex" };
    let (mut running, mut log) = (HashMap::<&str, usize>::new(), Vec::new());
    let (mut completed, mut deferred) = (0, 0);
    let step = async {
        while completed < 4 {
            let o = w.process_next().await;
            match &o {
                Outcome::Taken { video, .. } => {
                    let t = tenant_of(video.as_str());
                    *running.entry(t).or_default() += 1;
                    let globex_waits = !log.iter().any(|l| l == "start vb1");
                    assert!(
                        !(globex_waits && running[t] > 1),
                        "acme holds both slots while globex waits: {log:?}"
                    );
                    log.push(format!("start {video}"));
                }
                Outcome::Completed { video, .. } => {
                    *running.get_mut(tenant_of(video.as_str())).unwrap() -= 1;
                    completed += 1;
                    log.push(format!("end {video}"));
                }
                Outcome::Deferred { delay, .. } => {
                    assert!(*delay <= Duration::from_secs(60));
                    deferred += 1;
                }
                Outcome::Idle => {}
                other => panic!("{other:?}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(240), step).await.expect("all jobs ended");
    assert!(deferred >= 1, "acme's second job was handed back");
    let at = |e: &str| log.iter().position(|l| l == e).unwrap_or_else(|| panic!("{e}: {log:?}"));
    assert!(at("start vb1") < at("end va1"), "globex started while acme's first ran: {log:?}");
    assert!(at("start va2") > at("start vb1"), "acme's second job waited: {log:?}");
    // The hand-backs cost no attempt: every job ran once, as attempt 1, and is ready.
    for (tenant, id) in [("acme", "va1"), ("acme", "va2"), ("acme", "va3"), ("globex", "vb1")] {
        let started = env.events_of(tenant, id, Kind::Transcode, "started").await;
        assert_eq!(started.len(), 1, "{id}");
        assert_eq!(started[0]["data"]["attempt"], 1, "{id}");
        assert_eq!(env.events_of(tenant, id, Kind::Ready, "published").await.len(), 1);
    }
    assert_eq!(w.process_next().await, Outcome::Idle);
    // The hand-back counts of settled jobs are gone.
    let kv = env.ctx.platform.js.get_key_value(KV_HANDBACKS).await.unwrap();
    let keys: Vec<String> = kv.keys().await.unwrap().try_collect().await.unwrap();
    assert!(keys.is_empty(), "{keys:?}");
}
