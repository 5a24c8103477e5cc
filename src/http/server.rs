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
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::net::TcpStream;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::problem::Problem;

/// Descriptors kept back from the connection cap for files, logs and the runtime,
/// besides three per database connection (SQLite's file, WAL and shared memory).
const RESERVED_DESCRIPTORS: u64 = 64;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    /// At most this many at once from one address; 0: no such limit.
    pub per_address: usize,
    pub header_timeout: Duration,
    /// A response the peer does not read for this long ends the connection.
    pub write_timeout: Duration,
    pub drain_timeout: Duration,
}

/// The connection cap the process can keep: the soft descriptor limit is raised
/// towards the hard one, and the cap is lowered if even that cannot hold it.
pub fn affordable_connections(wanted: usize, database_connections: u32) -> usize {
    let reserved = RESERVED_DESCRIPTORS + 3 * u64::from(database_connections);
    let need = wanted as u64 + reserved;
    let have = rlimit::increase_nofile_limit(need).unwrap_or(need);
    let affordable = have.saturating_sub(reserved).max(1) as usize;
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
    let per_address = Arc::new(Mutex::new(HashMap::<IpAddr, usize>::new()));
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
        let Some(held) = Held::take(&per_address, peer.ip(), limits.per_address, open.clone())
        else {
            // One address holding its share already: closed at once, unanswered.
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let closing = closing_rx.clone();
        connections.spawn(async move {
            let io = Stalling::new(stream, limits.write_timeout);
            connection(io, peer, router, limits.header_timeout, closing).await;
            drop((held, permit));
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

/// A connection's share of the limits, given back when the connection ends however
/// it ends (finished, failed, or aborted at the end of a drain).
struct Held {
    addresses: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
    open: Gauge,
}

impl Held {
    fn take(
        addresses: &Arc<Mutex<HashMap<IpAddr, usize>>>,
        ip: IpAddr,
        per_address: usize,
        open: Gauge,
    ) -> Option<Self> {
        let mut map = addresses
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = map.entry(ip).or_insert(0);
        if per_address > 0 && *n >= per_address {
            return None;
        }
        *n += 1;
        open.inc();
        Some(Self {
            addresses: addresses.clone(),
            ip,
            open,
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.open.dec();
        let mut map = self
            .addresses
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// The socket, with writes that fail once the peer has taken nothing for
/// `write_timeout`: a client that asks and never reads would otherwise hold its
/// connection (and its place under the cap) for ever.
struct Stalling {
    io: TcpStream,
    write_timeout: Duration,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Stalling {
    fn new(io: TcpStream, write_timeout: Duration) -> Self {
        Self {
            io,
            write_timeout,
            stalled: None,
        }
    }

    /// A write that made progress clears the clock; one that did not starts it.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.stalled = None;
            return polled;
        }
        let timeout = self.write_timeout;
        let clock = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match clock.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the peer stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Stalling {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stalling {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        self.watch(cx, polled)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_flush(cx);
        self.watch(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_shutdown(cx);
        self.watch(cx, polled)
    }
}

/// One connection: HTTP/1.1 with the header timeout; a graceful close when told.
async fn connection(
    stream: Stalling,
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
