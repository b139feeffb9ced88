//! Work items on a real nats-server: the `VID_WORK` queue, item leases, attempts and results,
//! driven through two item workers on two service contexts (two processes' platforms).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use framelog_core::media::{FsMediaStore, SharedMediaStore};
use framelog_core::service::ServiceContext;
use framelog_tests::NatsServer;
use framelog_transcoder::JobError;
use framelog_transcoder::item_worker::{ItemHandler, ItemOutcome, ItemWorker};
use framelog_transcoder::items::{
    ItemError, ItemResult, Items, KV_ITEMS, STREAM_WORK, Take, WorkItem, range_item,
};
use framelog_transcoder::lease::{Holder, Leases, Record, now_ms};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Two processes on one server; dropping it stops the server and removes the files.
struct Env {
    a: ServiceContext,
    b: ServiceContext,
    _dirs: Vec<tempfile::TempDir>,
    _nats: NatsServer,
}

async fn process(nats: &NatsServer, dirs: &mut Vec<tempfile::TempDir>) -> ServiceContext {
    let (platform, data) = framelog_tests::platform(nats).await;
    let media: SharedMediaStore = Arc::new(FsMediaStore::new(data.path().join("media")).unwrap());
    dirs.push(data);
    ServiceContext { platform, media, shutdown: CancellationToken::new() }
}

async fn env() -> Env {
    let nats = NatsServer::start();
    let mut dirs = Vec::new();
    let a = process(&nats, &mut dirs).await;
    let b = process(&nats, &mut dirs).await;
    Env { a, b, _dirs: dirs, _nats: nats }
}

async fn items(ctx: &ServiceContext, ttl_ms: u64, max_attempts: u32) -> Items {
    Items::open(&ctx.platform.js, 1, Duration::from_millis(ttl_ms), max_attempts).await.unwrap()
}

fn item(name: &str) -> WorkItem {
    WorkItem {
        tenant: "acme".into(),
        video: "v1".into(),
        request_id: "req-1".into(),
        request_seq: 7,
        version: "1".into(),
        source_key: "sources/acme/v1/source".into(),
        item: name.into(),
        plan_hash: "plan".into(),
        job_attempt: 1,
    }
}

/// What the test handler does with every item.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Works this many ms (handing back if cancelled first), then names the worker.
    Sleep(u64),
    /// Fails (a transient error) every time.
    Fail,
    /// Fails as no retry can mend (the source is gone).
    Missing,
}

/// Records every run; its output names the worker.
struct TestHandler {
    worker: String,
    mode: Mode,
    runs: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl ItemHandler for TestHandler {
    async fn run(&self, item: &WorkItem, cancel: &CancellationToken) -> Result<Value, JobError> {
        self.runs.lock().unwrap().push(item.key());
        match self.mode {
            Mode::Sleep(ms) => tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(ms)) => {
                    Ok(json!({ "worker": self.worker, "item": item.item }))
                }
                _ = cancel.cancelled() => Err(JobError::Cancelled),
            },
            Mode::Fail => Err(JobError::Io {
                context: "encoding".into(),
                source: std::io::Error::other("boom"),
            }),
            Mode::Missing => Err(JobError::SourceMissing(item.source_key.clone())),
        }
    }
}

type Runs = Arc<Mutex<Vec<String>>>;

async fn worker(
    ctx: &ServiceContext,
    items: &Items,
    name: &str,
    mode: Mode,
    runs: &Runs,
) -> ItemWorker {
    let handler = Arc::new(TestHandler { worker: name.into(), mode, runs: runs.clone() });
    ItemWorker::new(ctx, items.clone(), handler, name, 2)
        .await
        .unwrap()
        .with_poll(Duration::from_millis(200))
        .with_retry_delay(Duration::from_millis(100))
}

/// Steps `w` until `stop`, returning it and every outcome but Idle.
async fn drive(mut w: ItemWorker, stop: CancellationToken) -> (ItemWorker, Vec<ItemOutcome>) {
    let mut seen = Vec::new();
    loop {
        let o = tokio::select! {
            _ = stop.cancelled() => return (w, seen),
            o = w.process_next() => o,
        };
        if o != ItemOutcome::Idle {
            seen.push(o);
        }
    }
}

/// Steps `w` until an outcome matches `end` (at most `secs`), returning every outcome but Idle.
async fn step_until(
    w: &mut ItemWorker,
    secs: u64,
    end: impl Fn(&ItemOutcome) -> bool,
) -> Vec<ItemOutcome> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        let o = w.process_next().await;
        if o == ItemOutcome::Idle {
            continue;
        }
        let last = end(&o);
        seen.push(o);
        if last {
            return seen;
        }
    }
    panic!("no end within {secs} s; saw {seen:?}");
}

async fn queued(ctx: &ServiceContext) -> u64 {
    let mut stream = ctx.platform.js.get_stream(STREAM_WORK).await.unwrap();
    stream.info().await.unwrap().state.messages
}

fn done_by(r: &ItemResult) -> String {
    match r {
        ItemResult::Done(v) => v["worker"].as_str().unwrap().to_owned(),
        other => panic!("not done: {other:?}"),
    }
}

#[tokio::test]
async fn eight_items_are_done_exactly_once_across_two_workers_and_watch_sees_every_result() {
    let env = env().await;
    let (items_a, items_b) = (items(&env.a, 6000, 3).await, items(&env.b, 6000, 3).await);
    let mut live = items_a.watch("acme", "v1", "1").await.unwrap();
    for i in 0..8 {
        items_a.enqueue(&item(&range_item(i))).await.unwrap();
    }
    let runs = Runs::default();
    let stop = CancellationToken::new();
    let wa = worker(&env.a, &items_a, "a", Mode::Sleep(300), &runs).await;
    let wb = worker(&env.b, &items_b, "b", Mode::Sleep(300), &runs).await;
    let (ta, tb) = (tokio::spawn(drive(wa, stop.clone())), tokio::spawn(drive(wb, stop.clone())));
    let mut results = BTreeMap::new();
    while results.len() < 8 {
        let (name, r) = tokio::time::timeout(Duration::from_secs(20), live.next())
            .await
            .expect("every result within 20 s")
            .unwrap();
        results.insert(name, r);
    }
    stop.cancel();
    let ((wa, mut oa), (wb, mut ob)) = (ta.await.unwrap(), tb.await.unwrap());
    // Results land before their acks: let the last ones settle.
    oa.extend(wa.shutdown().await);
    ob.extend(wb.shutdown().await);
    let who: Vec<String> = results.values().map(done_by).collect();
    assert!(who.contains(&"a".into()) && who.contains(&"b".into()), "both did some: {who:?}");
    let mut ran = runs.lock().unwrap().clone();
    ran.sort();
    ran.dedup();
    assert_eq!((runs.lock().unwrap().len(), ran.len()), (8, 8), "each item ran exactly once");
    let dones =
        |o: &[ItemOutcome]| o.iter().filter(|o| matches!(o, ItemOutcome::Done { .. })).count();
    assert_eq!(dones(&oa) + dones(&ob), 8, "a: {oa:?} b: {ob:?}");
    for (name, r) in &results {
        let ItemResult::Done(v) = r else { panic!() };
        assert_eq!(v["item"], json!(name), "the result is the one of its own item");
    }
    // A watch started afterwards sees every result from the history; forget removes them.
    let later: Vec<_> = items_b.watch("acme", "v1", "1").await.unwrap().take(8).collect().await;
    assert_eq!(later.into_iter().collect::<BTreeMap<_, _>>(), results);
    assert_eq!(queued(&env.a).await, 0, "every message acked");
    items_b.forget("acme", "v1", "1").await.unwrap();
    assert_eq!(items_a.result(&item(&range_item(3))).await.unwrap(), None);
}

#[tokio::test]
async fn a_duplicate_enqueue_is_stored_once_and_a_finished_item_enqueued_again_is_not_run() {
    let env = env().await;
    let items = items(&env.a, 6000, 3).await;
    let audio = item("audio");
    items.enqueue(&audio).await.unwrap();
    items.enqueue(&audio).await.unwrap();
    assert_eq!(queued(&env.a).await, 1, "same job attempt: one message");
    let runs = Runs::default();
    let mut w = worker(&env.a, &items, "a", Mode::Sleep(20), &runs).await;
    let seen = step_until(&mut w, 10, |o| matches!(o, ItemOutcome::Done { .. })).await;
    assert_eq!(seen.last(), Some(&ItemOutcome::Done { item: audio.key(), attempt: 1 }));
    // The coordinator's next job attempt queues it again: acked without running.
    items.enqueue(&WorkItem { job_attempt: 2, ..audio.clone() }).await.unwrap();
    let seen = step_until(&mut w, 10, |o| !matches!(o, ItemOutcome::Taken { .. })).await;
    assert_eq!(seen, vec![ItemOutcome::AlreadyDone { item: audio.key() }]);
    assert_eq!(runs.lock().unwrap().len(), 1);
    assert_eq!(queued(&env.a).await, 0);
}

#[tokio::test]
async fn an_item_whose_worker_dies_is_taken_by_the_other_worker_as_its_second_attempt() {
    let env = env().await;
    let (items_a, items_b) = (items(&env.a, 2000, 3).await, items(&env.b, 2000, 3).await);
    let r0 = item(&range_item(0));
    items_a.enqueue(&r0).await.unwrap();
    let runs = Runs::default();
    let mut wa = worker(&env.a, &items_a, "a", Mode::Sleep(60_000), &runs).await;
    let seen = step_until(&mut wa, 10, |o| matches!(o, ItemOutcome::Taken { .. })).await;
    assert_eq!(seen, vec![ItemOutcome::Taken { item: r0.key(), attempt: 1 }]);
    drop(wa); // dies: no hand-back, no ack, its lease runs out
    let mut wb = worker(&env.b, &items_b, "b", Mode::Sleep(20), &runs).await;
    let seen = step_until(&mut wb, 20, |o| matches!(o, ItemOutcome::Done { .. })).await;
    assert_eq!(seen.last(), Some(&ItemOutcome::Done { item: r0.key(), attempt: 2 }), "{seen:?}");
    assert_eq!(done_by(&items_b.result(&r0).await.unwrap().unwrap()), "b");
}

#[tokio::test]
async fn graceful_shutdowns_hand_back_without_using_attempts() {
    let env = env().await;
    let items = items(&env.a, 6000, 3).await;
    let r1 = item(&range_item(1));
    items.enqueue(&r1).await.unwrap();
    let runs = Runs::default();
    for i in 0..4 {
        let mut w = worker(&env.a, &items, &format!("w{i}"), Mode::Sleep(60_000), &runs).await;
        let seen = step_until(&mut w, 10, |o| matches!(o, ItemOutcome::Taken { .. })).await;
        assert_eq!(seen, vec![ItemOutcome::Taken { item: r1.key(), attempt: 1 }], "restart {i}");
        assert_eq!(w.shutdown().await, vec![ItemOutcome::HandedBack { item: r1.key() }]);
    }
    let mut w = worker(&env.a, &items, "last", Mode::Sleep(10), &runs).await;
    let seen = step_until(&mut w, 10, |o| matches!(o, ItemOutcome::Done { .. })).await;
    assert_eq!(seen.last(), Some(&ItemOutcome::Done { item: r1.key(), attempt: 1 }));
    assert_eq!(runs.lock().unwrap().len(), 5);
}

#[tokio::test]
async fn an_item_failing_every_time_is_dead_lettered_after_max_attempts_with_a_failed_result() {
    let env = env().await;
    let items = items(&env.a, 6000, 3).await;
    let r2 = item(&range_item(2));
    items.enqueue(&r2).await.unwrap();
    let runs = Runs::default();
    let mut w = worker(&env.a, &items, "a", Mode::Fail, &runs).await;
    let seen = step_until(&mut w, 15, |o| matches!(o, ItemOutcome::DeadLettered { .. })).await;
    let ends: Vec<_> = seen.iter().filter(|o| !matches!(o, ItemOutcome::Taken { .. })).collect();
    assert!(
        matches!(
            ends.as_slice(),
            [
                ItemOutcome::Failed { attempt: 1, .. },
                ItemOutcome::Failed { attempt: 2, .. },
                ItemOutcome::DeadLettered { attempts: 3, .. }
            ]
        ),
        "{seen:?}"
    );
    assert_eq!(runs.lock().unwrap().len(), 3);
    let Some(ItemResult::Failed { reason, attempts }) = items.result(&r2).await.unwrap() else {
        panic!("no failed result");
    };
    assert!(reason.contains("boom") && attempts == 3, "{reason} {attempts}");
    assert_eq!(queued(&env.a).await, 0, "terminated");
}

#[tokio::test]
async fn a_worker_whose_lease_was_taken_over_cannot_store_its_result() {
    let env = env().await;
    let items = items(&env.a, 1000, 3).await;
    let r3 = item(&range_item(3));
    let Take::Taken(old) = items.take(&r3, "a").await.unwrap() else { panic!("not taken") };
    assert!(matches!(items.take(&r3, "b").await.unwrap(), Take::Held), "a live lease is held");
    tokio::time::sleep(Duration::from_millis(1300)).await; // a stalls past its lease
    let Take::Taken(new) = items.take(&r3, "b").await.unwrap() else { panic!("not taken over") };
    assert_eq!(new.attempt(), 2);
    assert_eq!(old.complete(json!({ "worker": "a" })).await, Err(ItemError::Fenced));
    assert_eq!(items.result(&r3).await.unwrap(), None, "the fenced result was not stored");
    assert!(new.complete(json!({ "worker": "b" })).await.unwrap());
    let Take::Finished(r) = items.take(&r3, "c").await.unwrap() else { panic!("not finished") };
    assert_eq!(done_by(&r), "b");
}

#[tokio::test]
async fn a_running_item_whose_lease_is_taken_over_has_its_work_cancelled_and_is_fenced() {
    let env = env().await;
    let items = items(&env.a, 1500, 3).await;
    let r4 = item(&range_item(4));
    let Take::Taken(lease) = items.take(&r4, "a").await.unwrap() else { panic!("not taken") };
    let given = Arc::new(Mutex::new(None::<CancellationToken>));
    let (slot, renewals) = (given.clone(), Arc::new(Mutex::new(0u32)));
    let counter = renewals.clone();
    let running = tokio::spawn(async move {
        let work = move |t: CancellationToken| {
            *slot.lock().unwrap() = Some(t);
            std::future::pending::<()>()
        };
        let on_renew = move || {
            *counter.lock().unwrap() += 1;
            std::future::ready(())
        };
        lease.run(work, on_renew, &CancellationToken::new()).await.map(|_| ())
    });
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(*renewals.lock().unwrap() >= 1, "renewed while working");
    // Another worker takes the lease over (as if a's renewals had been lost meanwhile).
    let leases = Leases::from_store(env.b.platform.js.get_key_value(KV_ITEMS).await.unwrap());
    let thief =
        Holder { worker: "b".into(), token: "b-1".into(), expires_at_ms: now_ms() + 60_000 };
    let taken = |r: &Record| Some(Record { holder: Some(thief.clone()), ..r.clone() });
    leases.modify(&r4.key(), taken).await.unwrap();
    let out = tokio::time::timeout(Duration::from_secs(3), running).await.unwrap().unwrap();
    assert_eq!(out, Err(ItemError::Fenced));
    assert!(given.lock().unwrap().as_ref().unwrap().is_cancelled(), "the work was told to stop");
}

#[tokio::test]
async fn an_item_running_longer_than_the_ack_wait_is_kept_alive_and_not_run_twice() {
    let env = env().await;
    // Lease 1 s, so the message's ack wait is 2 s: the work outlasts both.
    let (items_a, items_b) = (items(&env.a, 1000, 3).await, items(&env.b, 1000, 3).await);
    let r5 = item(&range_item(5));
    items_a.enqueue(&r5).await.unwrap();
    let runs = Runs::default();
    let mut wa = worker(&env.a, &items_a, "a", Mode::Sleep(3500), &runs).await;
    let mut seen = step_until(&mut wa, 10, |o| matches!(o, ItemOutcome::Taken { .. })).await;
    let wb = worker(&env.b, &items_b, "b", Mode::Sleep(10), &runs).await;
    let stop = CancellationToken::new();
    let other = tokio::spawn(drive(wb, stop.clone()));
    seen.extend(step_until(&mut wa, 15, |o| matches!(o, ItemOutcome::Done { .. })).await);
    stop.cancel();
    let (_, by_b) = other.await.unwrap();
    let (taken, done) = (
        ItemOutcome::Taken { item: r5.key(), attempt: 1 },
        ItemOutcome::Done { item: r5.key(), attempt: 1 },
    );
    assert_eq!(seen, vec![taken, done], "never redelivered to a either");
    assert_eq!(by_b, vec![], "never redelivered while a worked");
    assert_eq!(runs.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_permanent_failure_is_dead_lettered_at_once() {
    let env = env().await;
    let items = items(&env.a, 6000, 3).await;
    let r6 = item(&range_item(6));
    items.enqueue(&r6).await.unwrap();
    let runs = Runs::default();
    let mut w = worker(&env.a, &items, "a", Mode::Missing, &runs).await;
    let seen = step_until(&mut w, 10, |o| matches!(o, ItemOutcome::DeadLettered { .. })).await;
    assert!(matches!(seen.last(), Some(ItemOutcome::DeadLettered { attempts: 1, .. })), "{seen:?}");
    assert!(matches!(
        items.result(&r6).await.unwrap(),
        Some(ItemResult::Failed { attempts: 1, .. })
    ));
    assert_eq!(runs.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_unreadable_item_is_handed_back_for_a_newer_worker_not_terminated() {
    let env = env().await;
    let items = items(&env.a, 6000, 3).await;
    let js = &env.a.platform.js;
    js.publish("work.acme.v1.1.r00007", "not a work item".into()).await.unwrap().await.unwrap();
    let runs = Runs::default();
    let mut w = worker(&env.a, &items, "a", Mode::Sleep(10), &runs).await;
    let seen = step_until(&mut w, 10, |_| true).await;
    assert!(matches!(seen.as_slice(), [ItemOutcome::Rejected { .. }]), "{seen:?}");
    assert_eq!(queued(&env.a).await, 1, "kept for a build that reads it");
    assert!(runs.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_item_whose_last_attempt_died_is_dead_lettered_by_the_next_worker_without_running() {
    let env = env().await;
    let (items_a, items_b) = (items(&env.a, 1000, 1).await, items(&env.b, 1000, 1).await);
    let r8 = item(&range_item(8));
    items_a.enqueue(&r8).await.unwrap();
    let runs = Runs::default();
    let mut wa = worker(&env.a, &items_a, "a", Mode::Sleep(60_000), &runs).await;
    step_until(&mut wa, 10, |o| matches!(o, ItemOutcome::Taken { .. })).await;
    drop(wa); // its one attempt dies
    let runs_b = Runs::default();
    let mut wb = worker(&env.b, &items_b, "b", Mode::Sleep(10), &runs_b).await;
    let seen = step_until(&mut wb, 15, |o| matches!(o, ItemOutcome::DeadLettered { .. })).await;
    assert!(matches!(seen.as_slice(), [ItemOutcome::DeadLettered { attempts: 1, .. }]), "{seen:?}");
    assert!(matches!(items_b.result(&r8).await.unwrap(), Some(ItemResult::Failed { .. })));
    assert!(runs_b.lock().unwrap().is_empty(), "b did not run it");
    assert_eq!(queued(&env.b).await, 0, "terminated");
}
