//! The shared HTTP server: slow request heads (slowloris) and idle keep-alive connections are
//! closed after the header-read timeout, normal requests see their peer address, and shutdown
//! is graceful.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use framelog_core::serve::{HttpSettings, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

struct Server {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(timeout_secs: u64) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new()
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
        .route(
            "/upload",
            axum::routing::put(|body: axum::body::Bytes| async move { body.len().to_string() }),
        )
        .route(
            "/stream",
            get(|| async {
                let ticks = futures::stream::unfold(0u32, |n| async move {
                    if n == 5 {
                        return None;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    Some((Ok::<_, std::convert::Infallible>(format!("tick {n}\n")), n + 1))
                });
                axum::body::Body::from_stream(ticks)
            }),
        );
    let shutdown = CancellationToken::new();
    let settings = HttpSettings { header_read_timeout_secs: timeout_secs };
    let s = shutdown.clone();
    let task =
        tokio::spawn(async move { serve(listener, router, &settings, s.cancelled_owned()).await });
    Server { addr, shutdown, task }
}

/// Reads until the server closes the connection (EOF or reset); returns what was read.
async fn read_until_closed(s: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(out),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn a_client_sending_half_a_request_line_is_disconnected_within_the_timeout() {
    let server = start(1).await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /peer HT").await.unwrap();
    let started = Instant::now();
    let got = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    let elapsed = started.elapsed();
    assert!(got.is_some(), "the slow client was still connected after 5 s");
    assert!(elapsed >= Duration::from_millis(800), "closed too early: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "closed too late: {elapsed:?}");

    // A normal request on another connection still works and sees its peer address.
    let mut ok = TcpStream::connect(server.addr).await.unwrap();
    let local = ok.local_addr().unwrap();
    ok.write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let text = String::from_utf8(read_until_closed(&mut ok, Duration::from_secs(5)).await.unwrap())
        .unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with(&local.to_string()), "ConnectInfo is the TCP peer: {text}");
}

#[tokio::test]
async fn headers_trickled_byte_by_byte_do_not_extend_the_deadline() {
    let server = start(1).await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    let head =
        b"GET /peer HTTP/1.1\r\nHost: x\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let mut closed = false;
    for b in head.iter() {
        if slow.write_all(&[*b]).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut probe = [0u8; 1];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(1), slow.read(&mut probe)).await
        {
            closed = true;
            break;
        }
    }
    let elapsed = started.elapsed();
    assert!(closed, "a head trickled over {elapsed:?} was still being read");
    assert!(elapsed < Duration::from_secs(3), "closed too late: {elapsed:?}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_timeout() {
    let server = start(1).await;
    let mut c = TcpStream::connect(server.addr).await.unwrap();
    c.write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 1024];
    let n = c.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    let rest = read_until_closed(&mut c, Duration::from_secs(5)).await;
    assert!(rest.is_some(), "an idle keep-alive connection stayed open for 5 s");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

#[tokio::test]
async fn shutdown_stops_accepting_and_returns_once_connections_close() {
    let server = start(30).await;
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 1024];
    assert!(idle.read(&mut buf).await.unwrap() > 0);
    server.shutdown.cancel();
    let res = tokio::time::timeout(Duration::from_secs(5), server.task).await;
    assert!(matches!(res, Ok(Ok(Ok(())))), "serve did not return after shutdown: {res:?}");
    assert!(read_until_closed(&mut idle, Duration::from_secs(2)).await.is_some());
    assert!(TcpStream::connect(server.addr).await.is_err(), "still accepting after shutdown");
}

#[tokio::test]
async fn a_slow_body_and_a_long_response_are_not_cut_by_the_header_timeout() {
    let server = start(1).await;
    // A body trickled over 3 s (three header timeouts): uploads keep their generous pace.
    let mut up = TcpStream::connect(server.addr).await.unwrap();
    up.write_all(
        b"PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    for part in [b"ab", b"cd", b"ef"] {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        up.write_all(part).await.unwrap();
    }
    let text = String::from_utf8(read_until_closed(&mut up, Duration::from_secs(5)).await.unwrap())
        .unwrap();
    assert!(text.starts_with("HTTP/1.1 200") && text.ends_with("\r\n6"), "{text}");

    // A response streamed over 2.5 s (an SSE feed, a large segment) is not cut either.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let text = String::from_utf8(read_until_closed(&mut s, Duration::from_secs(8)).await.unwrap())
        .unwrap();
    assert!(text.contains("tick 4"), "{text}");
}
