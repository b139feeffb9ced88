//! Issue #13 item 8: NATS requires credentials and the reader role is read-only. Every test runs
//! against the real nats-server with the shipped `deploy/nats/permissions.conf`.

use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use framelog_core::nats::{self, NatsSetupError};
use framelog_core::nats_auth::NatsCredentials;
use framelog_tests::NatsServer;
use framelog_tests::auth::{DASHBOARD_USER, FRAMELOG_USER};
use framelog_tests::cluster::NatsCluster;
use futures::StreamExt;

const SUBJECT: &str = "vid.acme.upload.initiated.vid_1";

async fn topology(server: &NatsServer) -> jetstream::Context {
    let js = jetstream::new(server.client().await);
    nats::ensure_topology(&js, 1).await.expect("topology");
    js
}

async fn vid_messages(js: &jetstream::Context) -> u64 {
    js.get_stream(nats::STREAM_VID).await.unwrap().info().await.unwrap().state.messages
}

#[tokio::test]
async fn a_client_without_credentials_is_refused_by_the_server() {
    let server = NatsServer::start();
    let err = async_nats::connect(server.anonymous_url()).await.unwrap_err();
    assert_eq!(err.kind(), async_nats::ConnectErrorKind::AuthorizationViolation, "{err}");
    // Credentials in the URL are not enough for plain async-nats: it ignores them.
    assert!(async_nats::connect(server.url()).await.is_err());
    assert!(server.connect_as(FRAMELOG_USER).await.is_ok());
}

#[tokio::test]
async fn framelog_without_credentials_fails_at_once_and_says_how_to_give_them() {
    let server = NatsServer::start();
    let t = std::time::Instant::now();
    let err = nats::connect(&[server.anonymous_url()], "test", Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(5), "an auth failure is not retried");
    assert!(matches!(err, NatsSetupError::Unauthorized { user: None, .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("--nats-user") && msg.contains("--nats-password-file"), "{msg}");
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_never_shown() {
    let server = NatsServer::start();
    let wrong = NatsCredentials::new(FRAMELOG_USER, "not-the-password");
    let err =
        nats::connect_with(&[server.anonymous_url()], Some(&wrong), "t", Duration::from_secs(5))
            .await
            .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("authorization violation for user framelog"), "{msg}");
    assert!(!msg.contains("not-the-password"), "{msg}");
}

#[tokio::test]
async fn framelog_connects_with_credentials_in_the_url_or_from_a_private_password_file() {
    use std::os::unix::fs::PermissionsExt;
    let server = NatsServer::start();
    let by_url = nats::connect(&[server.url()], "t", Duration::from_secs(5)).await.unwrap();
    assert_eq!(by_url.connection_state(), async_nats::connection::State::Connected);

    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("framelog.pw");
    let password = server.auth().credentials(FRAMELOG_USER).password().to_owned();
    std::fs::write(&pw, format!("{password}\n")).unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut settings =
        framelog_core::CommonSettings::for_test(&server.anonymous_url(), dir.path().join("data"));
    settings.nats_user = Some(FRAMELOG_USER.into());
    settings.nats_password_file = Some(pw.clone());
    let platform = framelog_core::Platform::start(settings.clone(), "t", Duration::from_secs(5))
        .await
        .expect("the platform logs in with --nats-user and --nats-password-file");
    assert_eq!(platform.nats.connection_state(), async_nats::connection::State::Connected);
    drop(platform);
    assert!(!format!("{settings:?}").contains(&password));
    assert!(
        !format!("{:?}", framelog_core::CommonSettings::for_test(&server.url(), "d".into()))
            .contains(&password)
    );

    // A password file others can read is refused before any connection is tried.
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = framelog_core::Platform::start(settings, "t", Duration::from_secs(5))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("chmod 600") && err.contains(&pw.display().to_string()), "{err}");
}

#[tokio::test]
async fn the_reader_cannot_publish_an_event() {
    let server = NatsServer::start();
    let js = topology(&server).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let reader = server
        .auth()
        .options(DASHBOARD_USER)
        .event_callback(move |e| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(e.to_string());
            }
        })
        .connect(server.anonymous_url())
        .await
        .unwrap();
    reader.publish(SUBJECT, "forged".into()).await.unwrap();
    reader.flush().await.unwrap();
    let violation = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let e = rx.recv().await.expect("event channel");
            if e.to_lowercase().contains("permissions violation") {
                return e;
            }
        }
    })
    .await
    .expect("the server reports a permissions violation");
    assert!(violation.contains(SUBJECT), "{violation}");
    // JetStream publish fails as well (the ack never comes).
    let rjs = jetstream::new(reader.clone());
    let publish = async { rjs.publish(SUBJECT, "forged".into()).await?.await };
    assert!(
        tokio::time::timeout(Duration::from_secs(8), publish).await.map_or(true, |r| r.is_err())
    );
    assert_eq!(vid_messages(&js).await, 0, "nothing the reader sent reached the log");
    // The same publish by the framelog role lands: the assertion above could fail.
    js.publish(SUBJECT, "real".into()).await.unwrap().await.unwrap();
    assert_eq!(vid_messages(&js).await, 1);
}

#[tokio::test]
async fn the_reader_reads_the_log_through_an_ordered_consumer() {
    let server = NatsServer::start();
    let js = topology(&server).await;
    js.publish(SUBJECT, "hello".into()).await.unwrap().await.unwrap();
    let reader = server.connect_as(DASHBOARD_USER).await.unwrap();
    let stream = jetstream::new(reader.clone()).get_stream(nats::STREAM_VID).await.unwrap();
    let ordered = stream
        .create_consumer(consumer::push::OrderedConfig {
            deliver_subject: reader.new_inbox(),
            filter_subject: "vid.acme.>".into(),
            ..Default::default()
        })
        .await
        .expect("the reader may create an ephemeral ordered consumer");
    let mut messages = ordered.messages().await.unwrap();
    let m = tokio::time::timeout(Duration::from_secs(5), messages.next())
        .await
        .expect("a message within 5 s")
        .unwrap()
        .unwrap();
    assert_eq!((m.subject.as_str(), m.payload.as_ref()), (SUBJECT, b"hello".as_ref()));
}

#[tokio::test]
async fn the_reader_cannot_read_api_keys_pull_a_durable_or_replace_it() {
    let server = NatsServer::start();
    let js = topology(&server).await;
    js.get_stream(nats::STREAM_VID)
        .await
        .unwrap()
        .create_consumer(consumer::pull::Config {
            durable_name: Some("transcoder".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    js.publish(SUBJECT, "job".into()).await.unwrap().await.unwrap();
    let reader = server.connect_as(DASHBOARD_USER).await.unwrap();
    let rjs = jetstream::new(reader.clone());
    let denied = |subject: String| {
        let reader = reader.clone();
        async move {
            let r = tokio::time::timeout(
                Duration::from_secs(3),
                reader.request(subject.clone(), r#"{"seq":1,"batch":1}"#.into()),
            )
            .await;
            assert!(!matches!(r, Ok(Ok(_))), "{subject} answered the reader");
        }
    };
    denied(format!("$JS.API.STREAM.MSG.GET.KV_{}", nats::KV_API_KEYS)).await;
    denied(format!("$JS.API.DIRECT.GET.KV_{}", nats::KV_API_KEYS)).await;
    denied("$JS.API.CONSUMER.MSG.NEXT.VID.transcoder".into()).await;
    denied("$JS.API.STREAM.DELETE.VID".into()).await;
    let takeover = rjs
        .get_stream(nats::STREAM_VID)
        .await
        .unwrap()
        .create_consumer(consumer::pull::Config {
            durable_name: Some("transcoder".into()),
            deliver_policy: consumer::DeliverPolicy::New,
            ..Default::default()
        })
        .await;
    assert!(takeover.is_err(), "the reader replaced a service's durable consumer");
    let info = js.get_stream(nats::STREAM_VID).await.unwrap().consumer_info("transcoder").await;
    assert_eq!(info.unwrap().num_pending, 1, "the job is still waiting for its worker");
    // Nor can it read other clients' replies on _INBOX.
    let mut spy = reader.subscribe("_INBOX.>").await.unwrap();
    reader.flush().await.unwrap();
    js.get_stream(nats::STREAM_VID).await.unwrap().info().await.unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(1), spy.next()).await;
    assert!(!matches!(seen, Ok(Some(_))), "the reader saw a reply meant for another client");
}

#[tokio::test]
async fn every_node_of_the_cluster_refuses_clients_without_credentials() {
    let cluster = NatsCluster::start().await;
    for url in cluster.anonymous_urls() {
        let err = async_nats::connect(url.clone()).await.unwrap_err();
        assert_eq!(err.kind(), async_nats::ConnectErrorKind::AuthorizationViolation, "{url}");
        let err = nats::connect(&[url], "t", Duration::from_secs(5)).await.unwrap_err();
        assert!(matches!(err, NatsSetupError::Unauthorized { .. }), "{err}");
    }
    let client = nats::connect(&cluster.urls(), "t", Duration::from_secs(10)).await.unwrap();
    let js = jetstream::new(client);
    assert!(js.query_account().await.is_ok());
    let reader = cluster.connect_as(DASHBOARD_USER).await.unwrap();
    let rjs = jetstream::new(reader);
    let publish = async { rjs.publish(SUBJECT, "forged".into()).await?.await };
    let result = tokio::time::timeout(Duration::from_secs(8), publish).await;
    assert!(result.map_or(true, |r| r.is_err()), "the reader published through the cluster");
}

#[tokio::test]
async fn a_third_party_client_nats_py_is_refused_without_credentials_and_as_reader_cannot_publish()
{
    let server = NatsServer::start();
    let js = topology(&server).await;
    let python = framelog_tests::tools::workspace_root().join(".tools/venv/bin/python");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/nats_py_client.py");
    let auth = server.auth();
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(server.anonymous_url())
        .arg(auth.credentials(FRAMELOG_USER).password())
        .arg(auth.credentials(DASHBOARD_USER).password())
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!("{} (deploy/bootstrap.sh installs nats-py): {e}", python.display())
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(v["anonymous"].as_str().unwrap().contains("Authorization Violation"), "{v}");
    assert_eq!(v["framelog"], "connected");
    let errors = v["reader_errors"].to_string().to_lowercase();
    assert!(errors.contains("permissions violation for publish"), "{v}");
    assert_eq!(v["vid_messages"], 0);
    assert_eq!(vid_messages(&js).await, 0);
}
