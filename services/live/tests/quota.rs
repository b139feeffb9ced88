//! The per-tenant limit of live streams.

mod common;

use common::*;
use framelog_live::LiveSettings;

#[tokio::test]
async fn creating_a_stream_past_the_tenant_limit_answers_429_with_retry_after() {
    let env = env_with(LiveSettings { max_streams_per_tenant: 2, ..Default::default() }).await;
    let a = create_stream(&env, &env.key_a, "one", false).await;
    create_stream(&env, &env.key_a, "two", false).await;
    let third = || {
        env.app
            .http
            .post(env.app.url("/v1/streams"))
            .bearer_auth(&env.key_a)
            .json(&serde_json::json!({"name": "three"}))
            .send()
    };
    let res = third().await.unwrap();
    let retry = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(code(res).await, (429, "stream_quota_exceeded".into()));
    assert_eq!(retry.as_deref(), Some("60"));
    let created = phases(&env).await.iter().filter(|p| *p == "live:stream_created").count();
    assert_eq!(created, 2, "the refused stream was never announced");
    // Another tenant has its own limit.
    create_stream(&env, &env.key_b, "theirs", false).await;
    // Deleting one frees its slot.
    let id = a["stream_id"].as_str().unwrap();
    let del = env
        .app
        .http
        .delete(env.app.url(&format!("/v1/streams/{id}")))
        .bearer_auth(&env.key_a)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 200);
    assert_eq!(third().await.unwrap().status(), 201);
    assert_eq!(code(third().await.unwrap()).await.0, 429);
}
