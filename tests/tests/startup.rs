//! Start-up checks: the server version gate and connection retry.

use std::time::Duration;

use framelog_core::nats::{self, NatsSetupError};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A minimal NATS protocol peer that announces `version` (what Debian's 2.9 would say).
async fn fake_server(version: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let info = format!(
                    "INFO {{\"server_id\":\"fake\",\"server_name\":\"fake\",\"version\":\"{version}\",\
                     \"proto\":1,\"host\":\"127.0.0.1\",\"port\":4222,\"max_payload\":1048576,\
                     \"headers\":true,\"jetstream\":true}}\r\n"
                );
                w.write_all(info.as_bytes()).await.unwrap();
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if line.starts_with("PING") && w.write_all(b"PONG\r\n").await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    format!("nats://{addr}")
}

#[tokio::test]
async fn a_server_older_than_2_11_is_refused_with_a_clear_message() {
    let url = fake_server("2.9.10").await;
    let err = nats::connect(&[url], "test", Duration::from_secs(5)).await.unwrap_err();
    assert!(
        matches!(err, NatsSetupError::ServerTooOld { ref found } if found == "2.9.10"),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("2.9.10") && msg.contains("2.11") && msg.contains("bootstrap"), "{msg}");
}

#[tokio::test]
async fn connecting_to_nothing_gives_up_after_the_patience_with_the_url() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("nats://{free}");
    let t = std::time::Instant::now();
    let err = nats::connect(std::slice::from_ref(&url), "test", Duration::from_millis(800))
        .await
        .unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(matches!(err, NatsSetupError::Connect { attempts, .. } if attempts > 1), "{err}");
    assert!(err.to_string().contains(&url));
}

#[tokio::test]
async fn a_server_that_starts_late_is_connected_to_by_retrying() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("nats://127.0.0.1:{port}");
    let connecting = tokio::spawn({
        let url = url.clone();
        async move { nats::connect(&[url], "test", Duration::from_secs(20)).await }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let bin = framelog_tests::tools::find_binary("nats-server");
    let store = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(bin)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(store.path())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let client = connecting.await.unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(client.is_ok(), "{:?}", client.err());
}
