//! `framelog serve` drops slow request heads (slowloris) and keeps metric labels bounded.

mod common;

use std::time::{Duration, Instant};

use common::serve;
use framelog_tests::NatsServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn serve_closes_a_slow_request_head_and_labels_invented_methods_as_other() {
    let nats = NatsServer::start();
    let s = serve(&nats.url(), &["--http-header-read-timeout", "1"]);
    let addr = s.base.trim_start_matches("http://").to_owned();

    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HT").await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 256];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match slow.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a half request line kept its connection for 5 s");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());

    let http = reqwest::Client::new();
    assert_eq!(http.get(format!("{}/healthz", s.base)).send().await.unwrap().status(), 200);
    for i in 0..20 {
        let m = reqwest::Method::from_bytes(format!("HOSTILE{i}").as_bytes()).unwrap();
        let res = http.request(m, format!("{}/v1/videos", s.base)).send().await.unwrap();
        assert!(res.status().is_client_error(), "{}", res.status());
    }
    let metrics =
        http.get(format!("{}/metrics", s.base)).send().await.unwrap().text().await.unwrap();
    assert!(!metrics.contains("HOSTILE"), "invented methods became labels");
    assert!(metrics.contains(r#"method="other""#), "{metrics}");
}
