//! The live feed (SSE) and read-your-writes.

mod common;

use std::time::Duration;

use common::*;
use framelog_events::data::UploadData;
use framelog_projection::ProjectionSettings;
use framelog_tests::TestApp;
use futures::StreamExt;

/// One SSE message.
#[derive(Debug, Clone, PartialEq)]
struct Msg {
    id: Option<String>,
    event: String,
    data: String,
}

/// An SSE client reading one connection.
struct Client {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: String,
}

impl Client {
    async fn connect(app: &TestApp, key: &str, last_id: Option<&str>, query: &str) -> Client {
        let mut req = app.http.get(app.url(&format!("/v1/events{query}"))).bearer_auth(key);
        if let Some(id) = last_id {
            req = req.header("last-event-id", id);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        Client { body: res.bytes_stream().boxed(), buf: String::new() }
    }

    /// The next message (comments skipped), or `None` after `wait` without one.
    async fn next(&mut self, wait: Duration) -> Option<Msg> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut m = Msg { id: None, event: "message".into(), data: String::new() };
                let mut any = false;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        m.id = Some(v.trim().to_owned());
                        any = true;
                    } else if let Some(v) = line.strip_prefix("event:") {
                        m.event = v.trim().to_owned();
                        any = true;
                    } else if let Some(v) = line.strip_prefix("data:") {
                        m.data.push_str(v.trim_start());
                        any = true;
                    }
                }
                if any {
                    return Some(m);
                }
                continue;
            }
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Ok(Some(Ok(b))) => self.buf.push_str(&String::from_utf8_lossy(&b)),
                _ => return None,
            }
        }
    }

    /// Every message arriving within `wait`.
    async fn collect(&mut self, wait: Duration) -> Vec<Msg> {
        let mut out = Vec::new();
        while let Some(m) = self.next(wait).await {
            out.push(m);
        }
        out
    }
}

#[tokio::test]
async fn a_client_sees_an_event_published_after_it_connected_with_its_sequence_and_type() {
    let w = world().await;
    let p = w.projection().await;
    let app = serve(&p).await;
    let mut c = Client::connect(&app, &w.acme, None, "").await;
    let seq = w.publish(&ev("acme", "vid_s", initiated("s"))).await;
    let m = c.next(Duration::from_secs(5)).await.expect("an event");
    assert_eq!(m.id, Some(seq.to_string()));
    assert_eq!(m.event, "VID_UPLOAD");
    let v: serde_json::Value = serde_json::from_str(&m.data).unwrap();
    assert_eq!((v["subject"].as_str(), v["tenant"].as_str()), (Some("vid_s"), Some("acme")));
}

#[tokio::test]
async fn reconnecting_with_last_event_id_replays_exactly_the_missed_events_and_b_never_sees_a() {
    let w = world().await;
    let p = w.projection().await;
    let app = serve(&p).await;
    let mut a = Client::connect(&app, &w.acme, None, "").await;
    let mut b = Client::connect(&app, &w.globex, None, "").await;
    let first = w.publish(&ev("acme", "vid_1", initiated("1"))).await;
    assert_eq!(a.next(Duration::from_secs(5)).await.unwrap().id, Some(first.to_string()));
    drop(a);

    let mut missed = Vec::new();
    for i in 2..5 {
        missed.push(w.publish(&ev("acme", &format!("vid_{i}"), initiated("x"))).await.to_string());
        w.publish(&ev("globex", &format!("vid_g{i}"), initiated("g"))).await;
    }
    let mut a = Client::connect(&app, &w.acme, Some(&first.to_string()), "").await;
    let got: Vec<String> =
        a.collect(Duration::from_millis(800)).await.into_iter().filter_map(|m| m.id).collect();
    assert_eq!(got, missed, "exactly the missed events, in order");
    let live = w.publish(&ev("acme", "vid_5", initiated("5"))).await;
    assert_eq!(
        a.next(Duration::from_secs(5)).await.unwrap().id,
        Some(live.to_string()),
        "then live again"
    );

    let seen_by_b = b.collect(Duration::from_millis(800)).await;
    assert_eq!(seen_by_b.len(), 3, "{seen_by_b:?}");
    for m in &seen_by_b {
        let v: serde_json::Value = serde_json::from_str(&m.data).unwrap();
        assert_eq!(v["tenant"], "globex");
    }
}

#[tokio::test]
async fn the_types_filter_and_progress_events_stay_within_the_tenant() {
    let w = world().await;
    let p = w.projection().await;
    let app = serve(&p).await;
    let mut a = Client::connect(&app, &w.acme, None, "?types=VID_READY,VID_TRANSCODE").await;
    let mut b = Client::connect(&app, &w.globex, None, "").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    w.publish(&ev("acme", "vid_t", initiated("t"))).await;
    w.platform
        .events
        .publish_progress("vidp.acme.transcode.vid_t".into(), r#"{"percent":42}"#.into())
        .await;
    let ready = w.publish(&ev("acme", "vid_t", published())).await;
    let got = a.collect(Duration::from_millis(800)).await;
    let progress = got.iter().find(|m| m.event == "progress").expect("a progress event");
    assert_eq!(progress.id, None);
    assert!(
        progress.data.contains("\"percent\":42") && progress.data.contains("vid_t"),
        "{progress:?}"
    );
    let logged: Vec<_> = got.iter().filter(|m| m.id.is_some()).collect();
    assert_eq!(logged.len(), 1, "the upload event is filtered out: {got:?}");
    assert_eq!(
        (logged[0].event.as_str(), logged[0].id.clone()),
        ("VID_READY", Some(ready.to_string()))
    );
    assert!(b.collect(Duration::from_millis(300)).await.is_empty());
}

#[tokio::test]
async fn a_query_with_after_seq_waits_for_the_projection_to_apply_that_sequence() {
    let w = world().await;
    let settings = ProjectionSettings { read_wait_ms: 3000, ..ProjectionSettings::for_test() };
    let p = w.projection_with(settings).await;
    let app = serve(&p).await;
    let token = tokio_util::sync::CancellationToken::new();
    let seq = w.publish(&ev("acme", "vid_ryw", initiated("ryw"))).await;
    let vid = p.vid;
    let t = token.clone();
    let runner = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        vid.run(t).await
    });
    let (status, v) = get_json(&app, "/v1/videos/vid_ryw", &w.acme).await;
    assert_eq!(status, 404, "not applied yet: {v}");
    let res = app
        .http
        .get(app.url(&format!("/v1/videos/vid_ryw?after_seq={seq}")))
        .bearer_auth(&w.acme)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["x-projection-seq"].to_str().unwrap().parse::<u64>().unwrap() >= seq);
    let del = w.publish(&ev("acme", "vid_ryw", UploadData::Deleted {})).await;
    let res = app
        .http
        .get(app.url("/v1/videos/vid_ryw"))
        .header("x-after-seq", del.to_string())
        .bearer_auth(&w.acme)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "the header works too");
    token.cancel();
    runner.await.unwrap();
}

#[tokio::test]
async fn a_query_for_a_sequence_not_applied_within_the_bound_answers_504_projection_lagging() {
    let w = world().await;
    let settings = ProjectionSettings { read_wait_ms: 300, ..ProjectionSettings::for_test() };
    let p = w.projection_with(settings).await;
    let app = serve(&p).await;
    let started = std::time::Instant::now();
    let res = app
        .http
        .get(app.url("/v1/stats?after_seq=1000"))
        .bearer_auth(&w.acme)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 504);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(res.headers()["retry-after"], "1");
    assert_eq!(res.headers()["x-projection-seq"], "0");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "projection_lagging");
}

#[tokio::test]
async fn a_tenant_over_its_feed_quota_is_answered_429_until_it_closes_one() {
    let w = world().await;
    let settings = ProjectionSettings {
        sse_max_per_tenant: 3,
        sse_keepalive_secs: 1,
        ..ProjectionSettings::for_test()
    };
    let p = w.projection_with(settings).await;
    let app = serve(&p).await;
    let mut feeds = Vec::new();
    for _ in 0..3 {
        feeds.push(Client::connect(&app, &w.acme, None, "").await);
    }
    let res = app.http.get(app.url("/v1/events")).bearer_auth(&w.acme).send().await.unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "5");
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "too_many_feeds", "{v}");
    // Another tenant has its own quota.
    let _other = Client::connect(&app, &w.globex, None, "").await;

    // Closing one frees its slot (the server notices within a keep-alive interval).
    drop(feeds.pop());
    let mut reopened = None;
    for _ in 0..50 {
        let res = app.http.get(app.url("/v1/events")).bearer_auth(&w.acme).send().await.unwrap();
        if res.status() == 200 {
            reopened = Some(res);
            break;
        }
        assert_eq!(res.status(), 429);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reopened.is_some(), "the closed feed's slot was never released");
    assert_eq!(p.api.feeds.open(&tenant("acme")), 3);
    let res = app.http.get(app.url("/v1/events")).bearer_auth(&w.acme).send().await.unwrap();
    assert_eq!(res.status(), 429, "back at the quota");
}
