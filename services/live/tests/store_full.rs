//! When JetStream is full, live-auth still answers from its local copy of the stream records:
//! a valid key publishes (and `on_update` keeps it by its key), a wrong key is refused, and
//! neither answer turns into a server error because an event or a session cannot be written.

mod common;

use common::*;
use framelog_live::LiveSettings;
use framelog_tests::NatsServer;

#[tokio::test]
async fn with_jetstream_full_a_valid_key_publishes_and_a_wrong_one_is_refused() {
    let nats = NatsServer::start_with_conf("jetstream {\n  max_file_store: 8MB\n}");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let env = env_on_nats(listener, LiveSettings::default(), nats).await;
    let s = create_stream(&env, &env.key_a, "full", false).await;
    let (id, key) = (s["stream_id"].as_str().unwrap(), s["stream_key"].as_str().unwrap());

    // Fill the store until JetStream refuses a write.
    let js = &env.st.platform.js;
    let filler = bytes::Bytes::from(vec![b'x'; 256 * 1024]);
    let mut full = false;
    for i in 0..200 {
        let ack = js.publish(format!("vid.acme.upload.initiated.vid_f{i}"), filler.clone()).await;
        if ack.unwrap().await.is_err() {
            full = true;
            break;
        }
    }
    assert!(full, "an 8 MB store took 50 MB");
    // The store really refuses the writes a publish would make.
    let probe = js.publish("vid.acme.live.started.x", filler.clone()).await.unwrap().await;
    assert!(probe.is_err(), "the store still takes writes");

    let publish = [("name", id), ("key", key), ("clientid", "7"), ("addr", "127.0.0.1")];
    let res = nginx_hook(&env, "publish", &publish).await;
    assert_eq!(res.status(), 200, "a valid key publishes: {}", res.text().await.unwrap());
    let wrong = format!("{id}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let bad = [("name", id), ("key", wrong.as_str()), ("clientid", "8"), ("addr", "10.0.0.9")];
    assert_eq!(code(nginx_hook(&env, "publish", &bad).await).await.0, 403);
    // on_update keeps the publish by its key although no session could be recorded, and
    // drops a connection that presents no valid key.
    let update = [("name", id), ("key", key), ("clientid", "7"), ("call", "update_publish")];
    assert_eq!(nginx_hook(&env, "update", &update).await.status(), 200);
    let keyless = [("name", id), ("clientid", "9"), ("call", "update_publish")];
    assert_eq!(code(nginx_hook(&env, "update", &keyless).await).await.0, 403);
    let forged = [("name", id), ("key", wrong.as_str()), ("clientid", "8")];
    assert_eq!(code(nginx_hook(&env, "update", &forged).await).await.0, 403);
    // MediaMTX: the same key is allowed, a wrong one refused.
    let mtx = |k: &str| {
        serde_json::json!({"action": "publish", "path": format!("live/{id}"), "protocol": "rtmp",
                           "id": "c-1", "query": format!("key={k}"), "ip": "127.0.0.1"})
    };
    assert_eq!(mtx_auth(&env, mtx(key)).await.status(), 200);
    assert_eq!(mtx_auth(&env, mtx(&wrong)).await.status(), 401);
}
