//! Given/when/then tests of the topology diff: what a start leaves alone, what it adds.

use std::time::Duration;

use async_nats::jetstream::stream;

use super::*;
use crate::nats::{STREAM_VID, STREAM_VIEW, kv_configs, stream_configs};

fn declared(name: &str, replicas: usize) -> stream::Config {
    stream_configs(replicas).into_iter().find(|c| c.name == name).unwrap()
}

/// How the server answers a stream it stores: unset limits are -1.
fn as_stored(mut cfg: stream::Config) -> stream::Config {
    for v in [&mut cfg.max_bytes, &mut cfg.max_messages, &mut cfg.max_messages_per_subject] {
        if *v == 0 {
            *v = -1;
        }
    }
    cfg
}

#[test]
fn a_stream_stored_as_declared_has_no_difference() {
    // Given the server stores VID exactly as declared (with its -1 for unlimited)
    let have = as_stored(declared(STREAM_VID, 3));
    // When it is compared with the declaration, then nothing differs
    assert_eq!(diff_stream(&have, &declared(STREAM_VID, 3)), vec![]);
}

#[test]
fn fewer_declared_replicas_are_a_difference_a_start_never_applies() {
    // Given an R3 stream, when a process declares R1
    let changes = diff_stream(&as_stored(declared(STREAM_VID, 3)), &declared(STREAM_VID, 1));
    // Then the difference names the field, and it is not additive (a start only warns)
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].field, "num_replicas");
    assert_eq!((changes[0].old.as_str(), changes[0].new.as_str()), ("3", "1"));
    assert!(!changes[0].additive);
}

#[test]
fn an_operators_raised_size_limit_is_kept_unless_a_limit_is_given() {
    // Given an operator raised VID_VIEW to 50 GiB
    let mut have = as_stored(declared(STREAM_VIEW, 1));
    have.max_bytes = 50 << 30;
    let wanted = declared(STREAM_VIEW, 1);
    // When the target keeps server limits, then nothing differs
    let kept = merged_for_apply(&have, &wanted, true);
    assert_eq!(kept.max_bytes, 50 << 30);
    assert_eq!(diff_stream(&have, &kept), vec![]);
    // When an explicit limit is given, then the change says old -> new
    let set = merged_for_apply(&have, &wanted, false);
    let changes = diff_stream(&have, &set);
    assert_eq!(changes.len(), 1);
    assert_eq!(
        changes[0].to_string(),
        format!("VID_VIEW max_bytes: {} -> {}", 50u64 << 30, wanted.max_bytes)
    );
}

#[test]
fn a_missing_subject_is_additive_and_an_operators_extra_subject_is_kept() {
    // Given VID lacks `vid.*.live.>` and has an operator's own subject
    let mut have = as_stored(declared(STREAM_VID, 1));
    have.subjects.retain(|s| s != "vid.*.live.>");
    have.subjects.push("ops.audit.>".into());
    // When compared with the declaration
    let target = merged_for_apply(&have, &declared(STREAM_VID, 1), true);
    let changes = diff_stream(&have, &target);
    // Then only the missing subject is added, and the operator's one stays
    assert_eq!(changes.len(), 1);
    assert!(changes[0].additive);
    assert!(target.subjects.contains(&"vid.*.live.>".to_string()));
    assert!(target.subjects.contains(&"ops.audit.>".to_string()));
}

#[test]
fn a_shorter_age_limit_and_another_discard_policy_are_named() {
    let mut have = as_stored(declared(STREAM_VIEW, 1));
    have.max_age = Duration::from_secs(800 * 24 * 3600);
    have.discard = stream::DiscardPolicy::New;
    let changes = diff_stream(&have, &declared(STREAM_VIEW, 1));
    let fields: Vec<_> = changes.iter().map(|c| c.field).collect();
    assert_eq!(fields, vec!["max_age", "discard"]);
    assert!(changes.iter().all(|c| !c.additive));
}

#[test]
fn a_bucket_at_fewer_replicas_is_named_with_its_stream() {
    let wanted = kv_configs(3).remove(0);
    let have = stream::Config {
        name: format!("KV_{}", wanted.bucket),
        num_replicas: 1,
        max_messages_per_subject: 1,
        ..Default::default()
    };
    let changes = diff_bucket(&have, &wanted);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].to_string(), format!("KV_{} num_replicas: 1 -> 3", wanted.bucket));
}
