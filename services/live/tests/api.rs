//! Stream management and the MediaMTX webhook contract (MediaMTX-shaped JSON).

mod common;

use common::*;
use framelog_live::LiveSettings;
use serde_json::json;

#[tokio::test]
async fn creating_a_stream_shows_the_key_once_with_obs_settings_and_never_a_key_in_urls() {
    let env = env().await;
    let s = create_stream(&env, &env.key_a, "Morning show", true).await;
    let id = s["stream_id"].as_str().unwrap();
    let key = s["stream_key"].as_str().unwrap();
    assert!(key.starts_with(&format!("{id}.")), "the key names its stream");
    assert_eq!(s["obs"]["server"], "rtmp://127.0.0.1:1935/live");
    assert_eq!(s["obs"]["key"], format!("{id}?key={key}"));
    assert_eq!(s["publish_url"], format!("rtmp://127.0.0.1:1935/live/{id}?key={key}"));
    let hls = s["playback"]["hls_path"].as_str().unwrap();
    assert!(
        hls.contains(id) && !hls.contains(key),
        "viewer URL by stream id, without the key: {hls}"
    );
    assert!(phases(&env).await.contains(&"live:stream_created".to_owned()));
    // The event never carries the key.
    let evs = events(&env).await;
    assert!(!String::from_utf8(evs[0].to_json()).unwrap().contains(key));
    // Reveal gives the same key; another tenant gets 404.
    let rev: serde_json::Value =
        post(&env, &env.key_a, &format!("/v1/streams/{id}/key/reveal")).await.json().await.unwrap();
    assert_eq!(rev["stream_key"], key);
    assert_eq!(
        code(post(&env, &env.key_b, &format!("/v1/streams/{id}/key/reveal")).await).await.0,
        404
    );
    assert_eq!(
        code(post(&env, &env.key_b, &format!("/v1/streams/{id}/key/rotate")).await).await.0,
        404
    );
    let del = env
        .app
        .http
        .delete(env.app.url(&format!("/v1/streams/{id}")))
        .bearer_auth(&env.key_b)
        .send()
        .await
        .unwrap();
    assert_eq!(code(del).await.0, 404);
}

#[tokio::test]
async fn bad_stream_requests_get_clear_4xx_errors() {
    let env = env().await;
    let post_body = |b: &'static str| {
        env.app
            .http
            .post(env.app.url("/v1/streams"))
            .bearer_auth(&env.key_a)
            .header("content-type", "application/json")
            .body(b)
            .send()
    };
    assert_eq!(code(post_body("{").await.unwrap()).await, (400, "invalid_json".into()));
    assert_eq!(
        code(post_body(r#"{"name":""}"#).await.unwrap()).await,
        (422, "invalid_field".into())
    );
    assert_eq!(code(post_body(r#"{"name":"x","record":"yes"}"#).await.unwrap()).await.0, 422);
    assert_eq!(code(post_body(r#"{"name":"a\u0000b"}"#).await.unwrap()).await.0, 422);
    assert_eq!(
        code(
            env.app
                .http
                .post(env.app.url("/v1/streams"))
                .json(&json!({"name":"x"}))
                .send()
                .await
                .unwrap()
        )
        .await
        .0,
        401
    );
    assert_eq!(code(post(&env, &env.key_a, "/v1/streams/str_nope/key/reveal").await).await.0, 404);
    assert_eq!(code(post(&env, &env.key_a, "/v1/streams/..%2f/key/reveal").await).await.0, 404);
}

#[tokio::test]
async fn mediamtx_publish_is_allowed_only_with_the_current_key_of_that_stream() {
    let env = env().await;
    let s = create_stream(&env, &env.key_a, "cam", false).await;
    let id = s["stream_id"].as_str().unwrap();
    let key = s["stream_key"].as_str().unwrap().to_owned();
    let req = |path: String, query: String| {
        json!({"ip": "127.0.0.1", "user": "", "password": "", "token": "", "action": "publish",
               "path": path, "protocol": "rtmp", "id": "3b5e6c1a-0000-4000-8000-000000000001",
               "query": query, "userAgent": "obs", "someFutureField": {"x": 1}})
    };
    // Valid key, MediaMTX shape with unknown fields: allowed.
    assert_eq!(mtx_auth(&env, req(format!("live/{id}"), format!("key={key}"))).await.status(), 200);
    // No key, wrong key, a key for another stream.
    assert_eq!(mtx_auth(&env, req(format!("live/{id}"), String::new())).await.status(), 401);
    let forged = format!("{id}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_eq!(
        mtx_auth(&env, req(format!("live/{id}"), format!("key={forged}"))).await.status(),
        401
    );
    let other = create_stream(&env, &env.key_b, "other", false).await;
    let other_key = other["stream_key"].as_str().unwrap();
    assert_eq!(
        mtx_auth(&env, req(format!("live/{id}"), format!("key={other_key}"))).await.status(),
        401,
        "another tenant's key never opens this stream"
    );
    // Rotation makes the old key fail at once.
    let rot: serde_json::Value =
        post(&env, &env.key_a, &format!("/v1/streams/{id}/key/rotate")).await.json().await.unwrap();
    let new_key = rot["stream_key"].as_str().unwrap();
    assert_ne!(new_key, key);
    assert_eq!(mtx_auth(&env, req(format!("live/{id}"), format!("key={key}"))).await.status(), 401);
    assert_eq!(
        mtx_auth(&env, req(format!("live/{id}"), format!("key={new_key}"))).await.status(),
        200
    );
    // The key may also come as the password (RTSP clients).
    let mut pw = req(format!("live/{id}"), String::new());
    pw["password"] = json!(new_key);
    assert_eq!(mtx_auth(&env, pw).await.status(), 200);
    // Denials are audited without the key.
    let evs = events(&env).await;
    let denied: Vec<_> = evs.iter().filter(|e| e.data.phase() == "publish_denied").collect();
    // Four denials from one address: one event (rate-limited per stream and address).
    assert_eq!(denied.len(), 1);
    for d in denied {
        let j = String::from_utf8(d.to_json()).unwrap();
        assert!(!j.contains(&key) && !j.contains(&forged));
    }
}

#[tokio::test]
async fn mediamtx_read_needs_a_viewer_token_unless_public_and_other_actions_are_denied() {
    let env = env().await;
    let s = create_stream(&env, &env.key_a, "cam", false).await;
    let id = s["stream_id"].as_str().unwrap();
    let token = s["playback"]["token"].as_str().unwrap();
    let read = |q: &str, tok: &str| json!({"action": "read", "path": format!("live/{id}"), "protocol": "hls", "query": q, "token": tok});
    assert_eq!(mtx_auth(&env, read("", "")).await.status(), 401);
    assert_eq!(mtx_auth(&env, read(&format!("token={token}"), "")).await.status(), 200);
    assert_eq!(mtx_auth(&env, read("", token)).await.status(), 200);
    assert_eq!(
        mtx_auth(&env, read("token=acme.9999999999.AAAAAAAAAAAAAAAAAAAAAA", "")).await.status(),
        401
    );
    // A token for another stream does not open this one.
    let other = create_stream(&env, &env.key_a, "other", false).await;
    assert_eq!(
        mtx_auth(&env, read("", other["playback"]["token"].as_str().unwrap())).await.status(),
        401
    );
    // Older MediaMTX versions send fewer fields: still understood.
    assert_eq!(mtx_auth(&env, json!({"action": "read", "path": format!("live/{id}"), "query": format!("token={token}")})).await.status(), 200);
    for action in ["api", "metrics", "pprof", "playback"] {
        assert_eq!(
            mtx_auth(&env, json!({"action": action, "path": ""})).await.status(),
            401,
            "{action}"
        );
    }
    // Public streams are readable by anyone.
    let res = env
        .app
        .http
        .post(env.app.url("/v1/streams"))
        .bearer_auth(&env.key_a)
        .json(&json!({"name": "open", "public": true}))
        .send()
        .await
        .unwrap();
    let public: serde_json::Value = res.json().await.unwrap();
    let pid = public["stream_id"].as_str().unwrap();
    assert_eq!(
        mtx_auth(&env, json!({"action": "read", "path": format!("live/{pid}")})).await.status(),
        200
    );
}

#[tokio::test]
async fn mediamtx_playback_needs_a_viewer_token_even_when_the_action_is_allowed() {
    // An operator allowing "playback" (as the flag's help once suggested) still gets a token
    // check: playback serves recorded media of a private stream.
    let settings = LiveSettings {
        mediamtx_allow_actions: vec!["playback".into(), "metrics".into()],
        ..Default::default()
    };
    let env = env_with(settings).await;
    let s = create_stream(&env, &env.key_a, "cam", true).await;
    let id = s["stream_id"].as_str().unwrap();
    let token = s["playback"]["token"].as_str().unwrap();
    let playback = |q: String| json!({"action": "playback", "path": format!("live/{id}"), "protocol": "", "query": q});
    assert_eq!(
        code(mtx_auth(&env, playback(String::new())).await).await,
        (401, "unauthorized".into())
    );
    assert_eq!(mtx_auth(&env, playback("token=forged.1.AAAA".into())).await.status(), 401);
    assert_eq!(mtx_auth(&env, playback(format!("token={token}"))).await.status(), 200);
    let read = json!({"action": "read", "path": format!("live/{id}"), "protocol": "rtmp"});
    assert_eq!(mtx_auth(&env, read).await.status(), 401, "read without a token");
    assert_eq!(mtx_auth(&env, json!({"action": "metrics"})).await.status(), 200, "allowed");
}

#[tokio::test]
async fn malformed_webhook_bodies_are_4xx_with_the_json_shape() {
    let env = env().await;
    let raw = |path: &'static str, ct: &'static str, b: &'static str| {
        hook(&env, path).header("content-type", ct).body(b).send()
    };
    assert_eq!(
        code(raw("/v1/hooks/mediamtx/auth", "application/json", "{nope").await.unwrap()).await.0,
        400
    );
    assert_eq!(
        code(raw("/v1/hooks/mediamtx/auth", "application/json", r#"{"path":"x"}"#).await.unwrap())
            .await
            .0,
        422
    );
    assert_eq!(
        code(raw("/v1/hooks/mediamtx/auth", "application/json", r#"{"action":5}"#).await.unwrap())
            .await
            .0,
        422
    );
    assert_eq!(
        code(
            raw(
                "/v1/hooks/mediamtx/event",
                "application/json",
                r#"{"event":"exploded","path":"live/x"}"#
            )
            .await
            .unwrap()
        )
        .await,
        (400, "unknown_event".into())
    );
    assert_eq!(
        code(
            raw(
                "/v1/hooks/nginx-rtmp/publish",
                "application/x-www-form-urlencoded",
                "call=publish"
            )
            .await
            .unwrap()
        )
        .await
        .0,
        400
    );
    assert_eq!(
        code(
            raw(
                "/v1/hooks/nginx-rtmp/publish",
                "application/x-www-form-urlencoded",
                "name=..%2f..%2fetc"
            )
            .await
            .unwrap()
        )
        .await
        .0,
        403
    );
    assert_eq!(
        code(
            raw("/v1/hooks/nginx-rtmp/explode", "application/x-www-form-urlencoded", "name=x")
                .await
                .unwrap()
        )
        .await
        .0,
        404
    );
}

#[tokio::test]
async fn mediamtx_hooks_start_and_end_a_session_with_its_duration() {
    let env = env().await;
    let s = create_stream(&env, &env.key_a, "cam", false).await;
    let id = s["stream_id"].as_str().unwrap();
    let event = |b: serde_json::Value| hook(&env, "/v1/hooks/mediamtx/event").json(&b).send();
    // MediaMTX asks the auth webhook first; the connection it names may then go live.
    let key = s["stream_key"].as_str().unwrap();
    let auth = json!({"action": "publish", "path": format!("live/{id}"), "protocol": "rtmp",
                      "id": "c-1", "query": format!("key={key}")});
    assert_eq!(mtx_auth(&env, auth).await.status(), 200);
    let avail = json!({"event": "available", "path": format!("live/{id}"), "source_type": "rtmpConn", "source_id": "c-1"});
    assert_eq!(event(avail.clone()).await.unwrap().status(), 200);
    assert_eq!(event(avail).await.unwrap().status(), 200, "a repeated hook is idempotent");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        event(json!({"event": "unavailable", "path": format!("live/{id}"), "source_id": "c-1"}))
            .await
            .unwrap()
            .status(),
        200
    );
    let p = phases(&env).await;
    assert_eq!(p.iter().filter(|x| *x == "live:started").count(), 1);
    let ended = wait_for(&env, "live:ended", 5).await;
    let framelog_events::EventData::Live(framelog_events::LiveData::Ended {
        duration_secs, ..
    }) = ended.data
    else {
        panic!()
    };
    assert!(duration_secs >= 0.3, "{duration_secs}");
}

#[tokio::test]
async fn a_rotation_on_one_replica_makes_the_old_key_fail_on_another_within_a_second() {
    let env = env().await;
    // A second live-auth replica on the same NATS, following the stream bucket.
    let ctx = framelog_core::service::ServiceContext {
        platform: env.st.platform.clone(),
        media: env.media.clone(),
        shutdown: Default::default(),
    };
    let other =
        framelog_live::state(&ctx, LiveSettings::default(), Default::default()).await.unwrap();
    let follow = tokio::spawn(other.streams.clone().follow(ctx.shutdown.clone()));
    let secret_b = other.hook_secret.expose().to_owned();
    assert_eq!(secret_b, env.hook_secret, "replicas on one data dir share the secret");
    let app_b = framelog_tests::TestApp::serve(framelog_live::router(other)).await;
    let s = create_stream(&env, &env.key_a, "cam", false).await;
    let id = s["stream_id"].as_str().unwrap();
    let key = s["stream_key"].as_str().unwrap().to_owned();
    let publish = |app: &framelog_tests::TestApp| {
        app.http
            .post(app.url(&format!("/v1/hooks/mediamtx/auth?secret={}", env.hook_secret)))
            .json(&json!({"action": "publish", "path": format!("live/{id}"), "query": format!("key={key}")}))
            .send()
    };
    assert_eq!(publish(&app_b).await.unwrap().status(), 200, "replica B knows the stream");
    post(&env, &env.key_a, &format!("/v1/streams/{id}/key/rotate")).await;
    assert_eq!(
        publish(&env.app).await.unwrap().status(),
        401,
        "at once on the replica that rotated"
    );
    let t = std::time::Instant::now();
    while publish(&app_b).await.unwrap().status() == 200 {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(1),
            "replica B still accepts the old key"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    ctx.shutdown.cancel();
    follow.await.unwrap();
}
