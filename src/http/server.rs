//! The accept loop: hyper's HTTP/1 connection driver with the limits `axum::serve`
//! leaves out. A peer that connects and says nothing, or trickles its headers, is
//! cut off after `header_timeout_ms` (also between keep-alive requests); at most
//! `max_connections` are served at once and the rest wait in the kernel's backlog,
//! so file descriptors stay bounded; an accept that fails (EMFILE) pauses the loop
//! instead of ending it; and a shutdown stops accepting, lets requests in flight
//! finish for `drain_timeout_ms`, then drops what is left.

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::StreamExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::metrics::gauge::Gauge;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::problem::Problem;

/// Descriptors kept back from the connection cap for the database, files and logs.
const RESERVED_DESCRIPTORS: u64 = 64;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub drain_timeout: Duration,
}

/// The connection cap the process can keep: the soft descriptor limit is raised
/// towards the hard one, and the cap is lowered if even that cannot hold it.
pub fn affordable_connections(wanted: usize) -> usize {
    let need = wanted as u64 + RESERVED_DESCRIPTORS;
    let have = rlimit::increase_nofile_limit(need).unwrap_or(need);
    let affordable = have.saturating_sub(RESERVED_DESCRIPTORS).max(1) as usize;
    if affordable < wanted {
        tracing::warn!(
            wanted,
            affordable,
            "the descriptor limit (ulimit -n) holds fewer connections than max_connections"
        );
    }
    affordable.min(wanted)
}

/// Serves `router` until `shutdown` completes, then drains.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    open: Gauge,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (closing, closing_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A permit first: past the cap, connections wait unaccepted.
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                // Never closed; were it, serving would have no cap to keep.
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    pause_after(&e).await;
                    continue;
                }
            },
        };
        // Reap finished connections so the set stays the size of what is open.
        while connections.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let closing = closing_rx.clone();
        let open = open.clone();
        connections.spawn(async move {
            open.inc();
            connection(stream, peer, router, limits.header_timeout, closing).await;
            open.dec();
            drop(permit);
        });
    }
    drop(listener);
    let _ = closing.send(true);
    let drained = tokio::time::timeout(limits.drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = connections.len(),
            "requests still in flight after drain_timeout_ms; closed"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// One connection: HTTP/1.1 with the header timeout; a graceful close when told.
async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    header_timeout: Duration,
    mut closing: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        // What `into_make_service_with_connect_info` gave: the per-address limit reads it.
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request.map(axum::body::Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn.with_upgrades());
    tokio::select! {
        result = conn.as_mut() => return log_end(result),
        _ = closing.changed() => {}
    }
    // Shutting down: the request in flight finishes, keep-alive ends.
    conn.as_mut().graceful_shutdown();
    log_end(conn.await);
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        tracing::trace!(error = %e, "connection ended");
    }
}

/// The whole body must arrive within `body_timeout_ms` (one deadline, so a peer
/// trickling a byte at a time gains nothing); past it the request is answered 408,
/// whatever the handler made of its cut-off body, which it never acts on.
pub async fn body_deadline(
    State(timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let deadline = tokio::time::Instant::now() + timeout;
    let late = Arc::new(AtomicBool::new(false));
    let (parts, body) = request.into_parts();
    let chunks = futures_util::stream::unfold(
        (body.into_data_stream(), late.clone(), false),
        move |(mut chunks, late, done)| async move {
            if done {
                return None;
            }
            match tokio::time::timeout_at(deadline, chunks.next()).await {
                Ok(Some(chunk)) => Some((chunk, (chunks, late, false))),
                Ok(None) => None,
                Err(_) => {
                    late.store(true, Ordering::Relaxed);
                    let cut = axum::Error::new("the request body did not arrive in time");
                    Some((Err(cut), (chunks, late, true)))
                }
            }
        },
    );
    let response = next
        .run(Request::from_parts(parts, Body::from_stream(chunks)))
        .await;
    if late.load(Ordering::Relaxed) {
        return Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            "request-timeout",
            "Request timeout",
            "the request body did not arrive in time; nothing was changed",
        )
        .into_response();
    }
    response
}

/// Connection-level errors (the peer reset before accept) are the peer's; anything
/// else (EMFILE, ENFILE, ENOBUFS) waits for descriptors to free up.
async fn pause_after(e: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %e, "accept failed; pausing");
    tokio::time::sleep(Duration::from_millis(100)).await;
}
