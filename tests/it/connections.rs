//! Peers that hold connections open: silent sockets, trickled headers, bodies that
//! never arrive, more sockets than the cap. 20,000 half-open sockets once used up
//! the descriptors and `/healthz` stopped answering (`src/http/server.rs`).

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::helpers::*;

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes; what it sent, and how long that took.
async fn until_closed(
    stream: &mut (impl AsyncReadExt + Unpin),
    at_most: Duration,
) -> Option<(String, Duration)> {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(start + at_most, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => {
                return Some((String::from_utf8_lossy(&got).into_owned(), start.elapsed()))
            }
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Each way of holding a connection without finishing a request head is cut off
/// after `header_timeout_ms` (300 ms here); before, none of them ever was.
#[tokio::test]
async fn a_peer_that_never_finishes_its_request_head_is_cut_off() {
    let app = spawn_with(|s| s.header_timeout_ms = 300, false).await;
    let cases: [(&str, &[&[u8]]); 3] = [
        ("silent", &[]),
        ("half a request line", &[b"GET /healthz HT"]),
        (
            "headers trickled forever",
            &[
                b"GET /healthz HTTP/1.1\r\n",
                b"X-A: 1\r\n",
                b"X-B: 2\r\n",
                b"X-C: 3\r\n",
            ],
        ),
    ];
    for (case, pieces) in cases {
        let (mut read, mut write) = TcpStream::connect(addr(&app)).await.unwrap().into_split();
        let writer = tokio::spawn(async move {
            for piece in pieces.iter().cycle().take(40) {
                if write.write_all(piece).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let ended = until_closed(&mut read, Duration::from_secs(3)).await;
        writer.abort();
        assert!(ended.is_some(), "{case}: the connection stayed open");
    }
    // An idle keep-alive connection after a finished request is closed the same way.
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (said, took) = until_closed(&mut s, Duration::from_secs(3))
        .await
        .expect("an idle keep-alive connection is closed");
    assert!(said.starts_with("HTTP/1.1 200"), "{said}");
    assert!(
        took >= Duration::from_millis(250),
        "closed too early: {took:?}"
    );
}

/// A body that stops arriving is answered 408 after `body_timeout_ms`, and nothing
/// the request would have done is done.
#[tokio::test]
async fn a_body_that_stops_arriving_is_answered_408() {
    let app = spawn_with(|s| s.body_timeout_ms = 300, false).await;
    let before = count(&app, "organisations").await;
    let body =
        serde_json::json!({ "name": "A school", "number": org_number(1), "org_type": "school" })
            .to_string();
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    let head = format!(
        "POST /api/v1/organisations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        app.token,
        body.len()
    );
    // All but the closing brace, then nothing.
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body.as_bytes()[..body.len() - 1])
        .await
        .unwrap();
    let (said, took) = until_closed(&mut s, Duration::from_secs(5))
        .await
        .expect("the server answers and closes");
    assert!(said.starts_with("HTTP/1.1 408"), "{said}");
    assert!(said.contains("application/problem+json"), "{said}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(count(&app, "organisations").await, before);
}

/// Past `max_connections`, peers wait unaccepted: the service never holds more
/// than the cap (its own gauge says so), and once the silent ones are cut off
/// `/healthz` answers.
#[tokio::test]
async fn past_the_connection_cap_peers_wait_and_health_still_answers() {
    let app = spawn_with(
        |s| {
            s.max_connections = 4;
            s.header_timeout_ms = 400;
        },
        false,
    )
    .await;
    let mut silent = Vec::new();
    for _ in 0..12 {
        silent.push(TcpStream::connect(addr(&app)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let text = client
        .get(format!("{}/metrics", app.base))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let open: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("samtykke_open_connections "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the gauge is published");
    assert!((1..=4).contains(&open), "{open} connections open at once");
    let health = client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    drop(silent);
}

/// A client that asks and never reads holds its connection only until the server
/// has waited `write_timeout_ms` for it to take anything; before, for ever, so a
/// few such clients took every place under the cap.
#[tokio::test]
async fn a_client_that_never_reads_its_answers_is_cut_off() {
    let app = spawn_with(
        |s| {
            s.max_connections = 2;
            s.write_timeout_ms = 500;
        },
        false,
    )
    .await;
    // Many pipelined requests for a large document, and nothing read: the socket
    // buffers fill and the server's writes stop making progress.
    let ask = "GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n".repeat(400);
    let mut silent = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(addr(&app)).await.unwrap();
        let _ = tokio::time::timeout(Duration::from_secs(2), s.write_all(ask.as_bytes())).await;
        silent.push(s);
    }
    let health = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap()
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .expect("healthz answers once the readers that never read are cut off");
    assert_eq!(health.status(), 200);
    drop(silent);
}

/// One address gets at most `max_connections_per_address` at once; the next is
/// closed at once, before any timeout, and others are still served.
#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    let app = spawn_with(
        |s| {
            s.max_connections_per_address = 3;
            s.header_timeout_ms = 5_000;
        },
        false,
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(addr(&app)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fourth = TcpStream::connect(addr(&app)).await.unwrap();
    let (_, took) = until_closed(&mut fourth, Duration::from_secs(2))
        .await
        .expect("the fourth from this address is closed");
    assert!(
        took < Duration::from_secs(1),
        "at once, not at a timeout: {took:?}"
    );
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let health = reqwest::get(format!("{}/healthz", app.base)).await.unwrap();
    assert_eq!(health.status(), 200, "places come back as connections end");
}
