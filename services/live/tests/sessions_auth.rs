//! Live state only from authorised publishes: hooks that name no connection, or one no
//! authorised publish opened, start and end nothing (no fake billed minutes, no cut of the
//! real publisher). And the `publish_denied` audit of a key-guessing loop stays bounded.

mod common;

use common::*;
use framelog_live::LiveSettings;
use serde_json::json;

fn count(p: &[String], phase: &str) -> usize {
    p.iter().filter(|x| *x == phase).count()
}

async fn session_of(env: &Env, id: &str) -> Option<String> {
    let r = env.st.streams.get(id).await.unwrap().unwrap().0;
    r.session.map(|s| s.connection_id)
}

#[tokio::test]
async fn mediamtx_available_needs_the_connection_an_authorised_publish_recorded() {
    let env = env().await;
    let s = create_stream(&env, &env.key_a, "cam", false).await;
    let id = s["stream_id"].as_str().unwrap();
    let key = s["stream_key"].as_str().unwrap();
    let avail = |c: &str| {
        json!({"event": "available", "path": format!("live/{id}"), "source_type": "rtmpConn",
               "source_id": c})
    };
    let auth = |c: &str, k: &str| {
        json!({"action": "publish", "path": format!("live/{id}"), "protocol": "rtmp", "id": c,
               "query": format!("key={k}")})
    };
    // Nobody published: refused.
    assert_eq!(code(mtx_event(&env, avail("c-9")).await).await.0, 403);
    assert_eq!(code(mtx_event(&env, avail("")).await).await.0, 400);
    // A refused publish records nothing.
    let forged = format!("{id}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_eq!(mtx_auth(&env, auth("c-9", &forged)).await.status(), 401);
    assert_eq!(mtx_event(&env, avail("c-9")).await.status(), 403);
    // An authorised one: only its own connection goes live.
    assert_eq!(mtx_auth(&env, auth("c-1", key)).await.status(), 200);
    assert_eq!(mtx_event(&env, avail("c-2")).await.status(), 403);
    assert_eq!(count(&live_phases(&env).await, "live:started"), 0);
    assert_eq!(session_of(&env, id).await, None);
    assert_eq!(mtx_event(&env, avail("c-1")).await.status(), 200);
    assert_eq!(count(&live_phases(&env).await, "live:started"), 1);
    assert_eq!(session_of(&env, id).await.as_deref(), Some("c-1"));
}

#[tokio::test]
async fn unavailable_and_publish_done_end_only_the_connection_they_name() {
    let env = env().await;
    // A MediaMTX session on c-1.
    let m = create_stream(&env, &env.key_a, "mtx", false).await;
    let mid = m["stream_id"].as_str().unwrap();
    let auth = json!({"action": "publish", "path": format!("live/{mid}"), "protocol": "rtmp",
                      "id": "c-1", "query": format!("key={}", m["stream_key"].as_str().unwrap())});
    assert_eq!(mtx_auth(&env, auth).await.status(), 200);
    let ev = |e: &str, src: Option<&str>| {
        let mut b = json!({"event": e, "path": format!("live/{mid}"), "source_type": "rtmpConn"});
        if let Some(s) = src {
            b["source_id"] = json!(s);
        }
        b
    };
    assert_eq!(mtx_event(&env, ev("available", Some("c-1"))).await.status(), 200);
    // An nginx-rtmp session on client 7.
    let n = create_stream(&env, &env.key_a, "nginx", false).await;
    let nid = n["stream_id"].as_str().unwrap();
    let key = n["stream_key"].as_str().unwrap();
    let publish = [("name", nid), ("key", key), ("clientid", "7"), ("addr", "127.0.0.1")];
    assert_eq!(nginx_hook(&env, "publish", &publish).await.status(), 200);
    assert_eq!(count(&live_phases(&env).await, "live:started"), 2);

    // No id, or another connection's: nothing ends.
    assert_eq!(code(mtx_event(&env, ev("unavailable", None)).await).await.0, 400);
    assert_eq!(code(mtx_event(&env, ev("unavailable", Some(""))).await).await.0, 400);
    assert_eq!(code(mtx_event(&env, ev("unavailable", Some("c-2"))).await).await.0, 404);
    assert_eq!(code(nginx_hook(&env, "publish_done", &[("name", nid)]).await).await.0, 400);
    let other = [("name", nid), ("clientid", "8")];
    assert_eq!(code(nginx_hook(&env, "publish_done", &other).await).await.0, 404);
    assert_eq!(count(&live_phases(&env).await, "live:ended"), 0);
    assert_eq!(session_of(&env, mid).await.as_deref(), Some("c-1"));
    assert_eq!(session_of(&env, nid).await.as_deref(), Some("7"));
    // The right connection ends its own session.
    let own = [("name", nid), ("clientid", "7")];
    assert_eq!(nginx_hook(&env, "publish_done", &own).await.status(), 200);
    assert_eq!(mtx_event(&env, ev("unavailable", Some("c-1"))).await.status(), 200);
    assert_eq!(count(&live_phases(&env).await, "live:ended"), 2);
}

#[tokio::test]
async fn a_hundred_wrong_keys_from_one_address_write_one_publish_denied() {
    let settings = LiveSettings { denied_audit_window_secs: 2, ..Default::default() };
    let env = env_with(settings).await;
    let s = create_stream(&env, &env.key_a, "cam", false).await;
    let id = s["stream_id"].as_str().unwrap();
    let forged = format!("{id}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let guess = |ip: &str| {
        json!({"action": "publish", "path": format!("live/{id}"), "protocol": "rtmp",
               "ip": ip, "id": "c", "query": format!("key={forged}")})
    };
    for _ in 0..100 {
        assert_eq!(mtx_auth(&env, guess("203.0.113.7")).await.status(), 401, "each is refused");
    }
    for port in 0..100 {
        // nginx-rtmp reports the address; a new source port is no new pair.
        let addr = format!("203.0.113.8:{}", 40000 + port);
        let form = [("name", id), ("key", forged.as_str()), ("clientid", "1"), ("addr", &addr)];
        assert_eq!(nginx_hook(&env, "publish", &form).await.status(), 403);
    }
    let denied = |evs: Vec<framelog_events::Event>| -> Vec<framelog_events::LiveData> {
        evs.into_iter()
            .filter_map(|e| match e.data {
                framelog_events::EventData::Live(
                    d @ framelog_events::LiveData::PublishDenied { .. },
                ) => Some(d),
                _ => None,
            })
            .collect()
    };
    assert_eq!(denied(events(&env).await).len(), 2, "one per address");
    // After the window the next denial is written, carrying the count it stands for.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(mtx_auth(&env, guess("203.0.113.7")).await.status(), 401);
    let all = denied(events(&env).await);
    assert_eq!(all.len(), 3);
    let framelog_events::LiveData::PublishDenied { suppressed, .. } = &all[2] else { panic!() };
    assert_eq!(*suppressed, Some(99));
}
