//! `framelog_live_sessions` against a real NATS and the real nginx-rtmp hooks: a stream whose
//! publish is authorised counts 1 on the scrape, and 0 again after its `publish_done`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use framelog_live::metrics;
use tokio_util::sync::CancellationToken;

/// The gauge's value on the platform's scrape, once the watch-fed records give `want`.
async fn sessions_become(env: &Env, want: i64) -> String {
    let gauge = metrics::registered(&env.st.platform.metrics);
    let line = format!("framelog_live_sessions {want}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        gauge.set_from(&env.st.streams);
        let text = env.st.platform.metrics.render();
        if text.lines().any(|l| l == line) {
            return text;
        }
        assert!(Instant::now() < deadline, "never {line}: {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_publishing_stream_counts_in_live_sessions_until_its_publish_done() {
    let env = env().await;
    let stop = CancellationToken::new();
    tokio::spawn(env.st.streams.clone().follow(stop.clone()));
    sessions_become(&env, 0).await;
    let s = create_stream(&env, &env.key_a, "cam", false).await;
    let id = s["stream_id"].as_str().unwrap().to_owned();
    let key = s["stream_key"].as_str().unwrap().to_owned();
    let form = [("name", id.as_str()), ("key", &key), ("clientid", "7"), ("addr", "127.0.0.1")];
    assert_eq!(nginx_hook(&env, "publish", &form).await.status(), 200);
    sessions_become(&env, 1).await;
    let done = nginx_hook(&env, "publish_done", &[("name", &id), ("clientid", "7")]).await;
    assert!(done.status().is_success(), "{}", done.status());
    sessions_become(&env, 0).await;
    stop.cancel();
}
