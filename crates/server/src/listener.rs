//! The accept loop and the life of each connection, in place of `axum::serve`, which has no
//! timeouts and no bound on connections: a client that opens connections and sends nothing, or
//! a byte now and then, would otherwise hold a descriptor each until the node cannot accept its
//! load balancer's probe.
//!
//! - **Connections are capped** below the open-file limit. Past the cap the loop stops
//!   accepting, so that newcomers wait in the kernel's backlog (their SYN is answered, their
//!   request waits) rather than being closed, and it closes the connections that are doing
//!   nothing to make room: idle ones, new ones that have sent nothing, and heads trickling in.
//!   A connection in the middle of a request is never closed for room.
//! - **Each connection is watched** through its phase: a head must arrive within
//!   `header_timeout` (from the connection's start, or from its first byte on a kept-alive
//!   connection), and a kept-alive connection may wait `idle_timeout` for its next request.
//!   hyper's own header timer is off: it starts as soon as a connection waits for a head, so
//!   it would close every kept-alive connection after the header timeout, and it allocates a
//!   timer per request where the watch keeps one per connection.
//! - Bodies and requests in flight are limited per request, by the router (`api::limits`).
//! - **HTTPS**, when configured, is handshaken on the connection's own task, never in the
//!   accept loop, and the handshake counts against the header timeout: a client that stalls in
//!   it is closed as one that stalls in its head. The certificate chain a client presented is
//!   given to each of its requests ([`PeerCertificates`]), for receivers that check it.
//!
//! `serve` and `wabahook listen` both accept connections here, with the same `[server]` limits.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::config::ServerSettings;
use crate::fdlimit;

/// The listener's limits.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_connections: usize,
}

impl Limits {
    /// The limits of `settings`; without a configured cap, connections are held below the
    /// open-file limit with room for the store and `outgoing` connections of our own.
    pub fn of(settings: &ServerSettings, outgoing: usize) -> Limits {
        let soft = fdlimit::soft_nofile();
        let max_connections = match settings.max_connections {
            Some(n) => {
                if n as u64 >= soft {
                    tracing::warn!(
                        max_connections = n,
                        open_file_limit = soft,
                        "server.max_connections is not below the open-file limit; when descriptors run out, idle connections are closed and accepting pauses"
                    );
                }
                n
            }
            None => fdlimit::default_max_connections(soft, outgoing),
        };
        Limits {
            header_timeout: Duration::from_millis(settings.header_timeout_ms),
            idle_timeout: Duration::from_millis(settings.idle_timeout_ms),
            max_header_bytes: settings.max_header_bytes,
            max_connections,
        }
    }
}

/// Told of each client whose TLS handshake failed, with its address and the error.
pub(crate) type OnTlsRefused = Arc<dyn Fn(SocketAddr, &io::Error) + Send + Sync>;

/// HTTPS: the acceptor, and who wants to hear of refused handshakes (a receiver shows them to
/// its user; `serve` only logs them at debug).
#[derive(Clone)]
pub(crate) struct Tls {
    pub acceptor: TlsAcceptor,
    pub on_refused: Option<OnTlsRefused>,
}

impl From<TlsAcceptor> for Tls {
    fn from(acceptor: TlsAcceptor) -> Tls {
        Tls {
            acceptor,
            on_refused: None,
        }
    }
}

/// The certificate chain, leaf first, that the client of a request's connection presented in
/// its TLS handshake: an extension of each of its requests, absent when it presented none.
#[derive(Debug, Clone)]
pub(crate) struct PeerCertificates(pub Arc<[CertificateDer<'static>]>);

/// How long a head may have been trickling in before a node at its cap closes it for room; a
/// client sends its head at once, so this is far more than any real one needs.
const SLOW_HEAD: Duration = Duration::from_secs(1);
/// How often a node at its cap asks again for room while no connection has ended.
const PRESSURE_RETRY: Duration = Duration::from_millis(100);
/// The pause after an accept error other than a connection gone before it was accepted
/// (mostly: out of descriptors), so that the loop does not spin on it.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// A warning that can repeat is logged at most this often.
const WARN_EVERY: Duration = Duration::from_secs(10);
/// How long the connections cut off at the end of the grace period get to go.
const CUT_OFF_WAIT: Duration = Duration::from_secs(1);

/// What the accept loop tells the connections at shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    No,
    /// Finish the request in hand, then close.
    Drain,
    /// Close now.
    Now,
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets open
/// connections finish their requests for up to `grace`, and closes what is left.
pub(crate) async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    tls: Option<Tls>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let limits = Arc::new(limits);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let pressure = Arc::new(Notify::new());
    let (stop_tx, stop_rx) = watch::channel(Stop::No);
    let mut http = http1::Builder::new();
    http.header_read_timeout(None)
        .max_header_size(limits.max_header_bytes);
    tracing::info!(
        max_connections = limits.max_connections,
        header_timeout_ms = limits.header_timeout.as_millis() as u64,
        idle_timeout_ms = limits.idle_timeout.as_millis() as u64,
        max_header_bytes = limits.max_header_bytes,
        https = tls.is_some(),
        "accepting connections"
    );

    tokio::pin!(shutdown);
    let mut slot: Option<OwnedSemaphorePermit> = None;
    let mut full_warned = None;
    let mut accept_warned = None;
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            permit = next_slot(&slots, &pressure, &mut full_warned), if slot.is_none() => {
                slot = Some(permit);
            }
            accepted = listener.accept(), if slot.is_some() => match accepted {
                Ok((stream, peer)) => {
                    let Some(permit) = slot.take() else { continue };
                    // Answers are written whole; Nagle would only hold back their last bytes.
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(connection(
                        stream,
                        peer,
                        tls.clone(),
                        http.clone(),
                        router.clone(),
                        limits.clone(),
                        pressure.clone(),
                        stop_rx.clone(),
                        permit,
                    ));
                }
                Err(e) if gone_before_accepted(&e) => {}
                Err(e) => {
                    if due(&mut accept_warned) {
                        tracing::warn!(error = %e, "accepting a connection failed; closing idle connections to make room");
                    }
                    pressure.notify_waiters();
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }

    // From here new connections are refused, and those still in the backlog are reset.
    drop(listener);
    drop(slot);
    let _ = stop_tx.send(Stop::Drain);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(grace, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over; dropping open connections");
        let _ = stop_tx.send(Stop::Now);
        let _ = tokio::time::timeout(CUT_OFF_WAIT, slots.acquire_many(all)).await;
    }
}

/// A connection slot; at the cap, asks the connections that do nothing to make room until one
/// frees.
async fn next_slot(
    slots: &Arc<Semaphore>,
    pressure: &Notify,
    warned: &mut Option<Instant>,
) -> OwnedSemaphorePermit {
    if let Ok(permit) = slots.clone().try_acquire_owned() {
        return permit;
    }
    if due(warned) {
        tracing::warn!(
            "connection limit reached; closing idle connections to make room, new ones wait"
        );
    }
    loop {
        pressure.notify_waiters();
        tokio::select! {
            permit = slots.clone().acquire_owned() => {
                return permit.expect("the connection slots are never closed");
            }
            () = tokio::time::sleep(PRESSURE_RETRY) => {}
        }
    }
}

/// Errors of `accept` that concern only a connection that went away before it was accepted.
fn gone_before_accepted(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// True at most once per [`WARN_EVERY`].
fn due(last: &mut Option<Instant>) -> bool {
    let now = Instant::now();
    if last.is_some_and(|t| now.duration_since(t) < WARN_EVERY) {
        return false;
    }
    *last = Some(now);
    true
}

/// Serves one connection until it ends, times out, is closed for room, or shutdown closes it;
/// with `tls`, after its TLS handshake.
#[allow(clippy::too_many_arguments)]
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<Tls>,
    http: http1::Builder,
    router: axum::Router,
    limits: Arc<Limits>,
    pressure: Arc<Notify>,
    mut stop: watch::Receiver<Stop>,
    slot: OwnedSemaphorePermit,
) {
    let phase = Arc::new(Phase::new());
    let watched = Watched {
        inner: stream,
        phase: phase.clone(),
    };
    let Some(tls) = tls else {
        return serve_io(
            watched, phase, None, http, router, limits, pressure, stop, slot,
        )
        .await;
    };
    // The handshake's bytes make the phase a head, counted from the accept.
    let handshake = tls.acceptor.accept(watched);
    tokio::pin!(handshake);
    let deadline = tokio::time::sleep_until(phase.started + limits.header_timeout);
    tokio::pin!(deadline);
    let stream = loop {
        tokio::select! {
            biased;
            done = handshake.as_mut() => match done {
                Ok(stream) => break stream,
                Err(e) => {
                    tracing::debug!(error = %e, "TLS handshake failed");
                    if let Some(tell) = &tls.on_refused {
                        tell(peer, &e);
                    }
                    return;
                }
            },
            // No request is in hand yet: nothing to drain.
            _ = stop.changed() => return,
            () = &mut deadline => {
                tracing::debug!("closing a connection whose TLS handshake took too long");
                return;
            }
            () = pressure.notified() => {
                if phase.evictable() {
                    tracing::debug!("closing a connection in its TLS handshake to make room");
                    return;
                }
            }
        }
    };
    let certificates = stream
        .get_ref()
        .1
        .peer_certificates()
        .filter(|chain| !chain.is_empty())
        .map(|chain| PeerCertificates(chain.iter().map(|c| c.clone().into_owned()).collect()));
    serve_io(
        stream,
        phase,
        certificates,
        http,
        router,
        limits,
        pressure,
        stop,
        slot,
    )
    .await
}

/// Serves HTTP/1 on `io` (plain or after TLS) under the connection's watch; each request
/// carries the `certificates` the client presented.
#[allow(clippy::too_many_arguments)]
async fn serve_io<I>(
    io: I,
    phase: Arc<Phase>,
    certificates: Option<PeerCertificates>,
    http: http1::Builder,
    router: axum::Router,
    limits: Arc<Limits>,
    pressure: Arc<Notify>,
    mut stop: watch::Receiver<Stop>,
    _slot: OwnedSemaphorePermit,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    let service = {
        let phase = phase.clone();
        hyper::service::service_fn(move |mut req: Request<Incoming>| {
            phase.set(BUSY);
            if let Some(c) = &certificates {
                req.extensions_mut().insert(c.clone());
            }
            let phase = phase.clone();
            let response = router.clone().oneshot(req);
            async move {
                let response = response.await;
                phase.set(IDLE);
                response
            }
        })
    };
    let conn = http.serve_connection(io, service);
    tokio::pin!(conn);
    let sleep = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(sleep);
    let mut draining = false;
    loop {
        let (deadline, _) = phase.deadline(&limits);
        sleep.as_mut().reset(deadline);
        tokio::select! {
            // The connection first, so that a request already in the socket is taken up (and
            // the connection busy) before the connection could be closed for room.
            biased;
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            changed = stop.changed() => {
                let stop = if changed.is_ok() { *stop.borrow_and_update() } else { Stop::Now };
                match stop {
                    Stop::Now => return,
                    Stop::Drain if !draining => {
                        draining = true;
                        conn.as_mut().graceful_shutdown();
                    }
                    _ => {}
                }
            }
            () = phase.nearer.notified() => {}
            () = &mut sleep => {
                let (deadline, closes) = phase.deadline(&limits);
                if closes && deadline <= Instant::now() {
                    tracing::debug!(phase = phase.name(), "closing a connection that took too long");
                    return;
                }
            }
            () = pressure.notified(), if !draining => {
                if phase.evictable() {
                    tracing::debug!(phase = phase.name(), "closing a connection to make room");
                    return;
                }
            }
        }
    }
}

/// Accepted, nothing received yet.
const FRESH: u8 = 0;
/// Part of a request head received.
const HEAD: u8 = 1;
/// A request is being handled.
const BUSY: u8 = 2;
/// Kept alive between requests.
const IDLE: u8 = 3;

/// Where a connection is in its request cycle: written by its reads and its service, read by
/// its watch. All run on the connection's own task; the atomics are there only because hyper
/// wants a service that is `Send`.
struct Phase {
    started: Instant,
    phase: AtomicU8,
    /// When the phase began, in milliseconds since `started`.
    since_ms: AtomicU64,
    /// Wakes the watch when a deadline comes nearer: an idle connection begins a head.
    nearer: Notify,
}

impl Phase {
    fn new() -> Phase {
        Phase {
            started: Instant::now(),
            phase: AtomicU8::new(FRESH),
            since_ms: AtomicU64::new(0),
            nearer: Notify::new(),
        }
    }

    fn set(&self, phase: u8) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.since_ms.store(ms, Ordering::Relaxed);
        self.phase.store(phase, Ordering::Relaxed);
    }

    fn since(&self) -> Instant {
        self.started + Duration::from_millis(self.since_ms.load(Ordering::Relaxed))
    }

    /// Bytes came in. A first head keeps the connection's start as its own: the header
    /// timeout counts from the accept, as in Go's `ReadHeaderTimeout`.
    fn bytes_arrived(&self) {
        match self.phase.load(Ordering::Relaxed) {
            FRESH => self.phase.store(HEAD, Ordering::Relaxed),
            IDLE => {
                self.set(HEAD);
                self.nearer.notify_one();
            }
            _ => {}
        }
    }

    /// When the connection is to be closed if its phase does not change, and whether it is
    /// closed then; a busy connection is only looked at again an idle timeout later.
    fn deadline(&self, limits: &Limits) -> (Instant, bool) {
        match self.phase.load(Ordering::Relaxed) {
            FRESH | HEAD => (self.since() + limits.header_timeout, true),
            IDLE => (self.since() + limits.idle_timeout, true),
            _ => (Instant::now() + limits.idle_timeout, false),
        }
    }

    /// Whether the connection may be closed to make room for another.
    fn evictable(&self) -> bool {
        match self.phase.load(Ordering::Relaxed) {
            FRESH | IDLE => true,
            HEAD => self.since().elapsed() >= SLOW_HEAD,
            _ => false,
        }
    }

    fn name(&self) -> &'static str {
        match self.phase.load(Ordering::Relaxed) {
            FRESH => "new",
            HEAD => "head",
            BUSY => "busy",
            _ => "idle",
        }
    }
}

/// A connection's socket, telling its [`Phase`] when bytes arrive.
struct Watched {
    inner: TcpStream,
    phase: Arc<Phase>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.phase.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_header_bytes: 8192,
            max_connections: 10,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn each_phase_has_its_deadline() {
        let l = limits();
        let p = Phase::new();
        let start = p.started;
        assert_eq!(p.deadline(&l), (start + l.header_timeout, true));
        assert!(p.evictable());

        // The first head counts from the accept.
        tokio::time::advance(Duration::from_secs(3)).await;
        p.bytes_arrived();
        assert_eq!(p.name(), "head");
        assert_eq!(p.deadline(&l), (start + l.header_timeout, true));

        tokio::time::advance(Duration::from_secs(1)).await;
        p.set(BUSY);
        let (_, closes) = p.deadline(&l);
        assert!(!closes && !p.evictable());
        p.bytes_arrived();
        assert_eq!(p.name(), "busy");

        tokio::time::advance(Duration::from_secs(5)).await;
        p.set(IDLE);
        let idle_since = start + Duration::from_secs(9);
        assert_eq!(p.deadline(&l), (idle_since + l.idle_timeout, true));
        assert!(p.evictable());

        // A later head counts from its first byte, and wakes the watch: its deadline is nearer.
        tokio::time::advance(Duration::from_secs(20)).await;
        p.bytes_arrived();
        let head_since = start + Duration::from_secs(29);
        assert_eq!(p.deadline(&l), (head_since + l.header_timeout, true));
        assert!(!p.evictable(), "a head just begun is left alone");
        tokio::time::timeout(Duration::from_millis(1), p.nearer.notified())
            .await
            .expect("the watch is woken");
        tokio::time::advance(SLOW_HEAD).await;
        assert!(p.evictable(), "a head trickling in is not");
    }

    #[test]
    fn only_lost_connections_are_ignored_at_accept() {
        assert!(gone_before_accepted(&io::Error::from(
            io::ErrorKind::ConnectionAborted
        )));
        assert!(!gone_before_accepted(&io::Error::from_raw_os_error(24)));
    }
}
