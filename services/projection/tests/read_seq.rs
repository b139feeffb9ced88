//! `X-Projection-Seq` never claims more than the read saw: while events are applied one per
//! transaction, every answer's body holds every event up to its header's sequence. The video is
//! processing, so its answer also looks up transcode progress (a NATS round trip after the
//! view read): a header taken after the read claimed events applied during that round trip.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::*;
use framelog_events::data::TranscodeData;
use framelog_projection::ProjectionSettings;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn fault_every_answer_holds_every_event_up_to_its_projection_seq_while_events_apply() {
    let w = world().await;
    let settings = ProjectionSettings { batch: 1, ..ProjectionSettings::for_test() };
    let p = w.projection_with(settings).await;
    let app = serve(&p).await;
    let token = CancellationToken::new();
    let runner = tokio::spawn(p.vid.run(token.clone()));
    w.publish(&ev("acme", "vid_a", initiated("a"))).await;
    let start = w.publish(&ev("acme", "vid_a", completed(1000))).await;
    let total = start + 200;
    let publisher = {
        let events = w.platform.events.clone();
        tokio::spawn(async move {
            let mut seqs = BTreeMap::new();
            for i in 0..200 {
                let name = format!("r{i:03}");
                let data =
                    TranscodeData::RenditionCompleted { rendition: rendition(&name, 360, 1) };
                let seq = events.publish(&ev("acme", "vid_a", data)).await.unwrap();
                seqs.insert(seq.sequence().unwrap(), name);
            }
            seqs
        })
    };
    let mut answers = Vec::new();
    let mut last_header = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while answers.len() < 20 || last_header < total || !publisher.is_finished() {
        assert!(tokio::time::Instant::now() < deadline, "the projection never caught up");
        let res = app.get("/v1/videos/vid_a", Some(&w.acme)).await;
        let header: u64 = res.headers()["x-projection-seq"].to_str().unwrap().parse().unwrap();
        let body: serde_json::Value = res.json().await.unwrap();
        let ids: BTreeSet<String> = body["renditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect();
        last_header = last_header.max(header);
        answers.push((header, ids));
    }
    token.cancel();
    let _ = runner.await;
    let seqs = publisher.await.unwrap();
    let mut during = 0;
    for (header, ids) in &answers {
        if (start + 1..total).contains(header) {
            during += 1;
        }
        for (_, video) in seqs.range(..=header) {
            assert!(ids.contains(video), "header {header} claims {video}, the body lacks it");
        }
    }
    assert!(during > 0, "no answer was read while events were being applied");
}
