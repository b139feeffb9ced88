use super::*;

fn item(name: &str) -> WorkItem {
    WorkItem {
        tenant: "acme".into(),
        video: "v1".into(),
        request_id: "req".into(),
        request_seq: 7,
        version: "3".into(),
        source_key: "sources/acme/v1/source".into(),
        item: name.into(),
        plan_hash: "abc".into(),
        job_attempt: 1,
    }
}

#[test]
fn an_item_is_keyed_by_tenant_video_version_and_item_and_queued_under_work() {
    let r = item(&range_item(3));
    assert_eq!(r.key(), "acme.v1.3.r00003");
    assert_eq!(r.subject(), "work.acme.v1.3.r00003");
    assert_eq!(item(AUDIO_ITEM).key(), "acme.v1.3.audio");
}

#[test]
fn the_queue_is_a_bounded_work_queue_that_refuses_rather_than_drops_items() {
    let cfg = stream_config(3);
    assert_eq!(cfg.retention, stream::RetentionPolicy::WorkQueue);
    assert_eq!(cfg.discard, stream::DiscardPolicy::New);
    assert_eq!((cfg.num_replicas, cfg.subjects.as_slice()), (3, &["work.>".to_owned()][..]));
    assert_eq!(cfg.duplicate_window, DUPLICATE_WINDOW);
    assert!(cfg.max_bytes > 0 && cfg.max_age > Duration::ZERO);
}

#[test]
fn both_buckets_expire_abandoned_versions_and_keep_the_replicas_asked_for() {
    let names: Vec<_> =
        bucket_configs(0).into_iter().map(|c| (c.bucket, c.num_replicas, c.max_age)).collect();
    assert_eq!(
        names,
        vec![(KV_ITEMS.to_owned(), 1, ITEMS_MAX_AGE), (KV_RESULTS.to_owned(), 1, ITEMS_MAX_AGE)]
    );
}

#[test]
fn results_and_items_round_trip_through_json() {
    let done = ItemResult::Done(serde_json::json!({"index": 3}));
    let failed = ItemResult::Failed { reason: "boom".into(), attempts: 4 };
    for r in [done, failed] {
        let back: ItemResult = serde_json::from_slice(&serde_json::to_vec(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
    let i = item("audio");
    assert_eq!(serde_json::from_value::<WorkItem>(serde_json::to_value(&i).unwrap()).unwrap(), i);
}
