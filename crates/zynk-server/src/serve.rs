//! The listener: an accept loop that owns its connections. Each connection is served by hyper's
//! HTTP/1.1 server with a timer (so a client that never finishes its request headers is closed
//! after `connections.header_read_timeout_secs`), closed when idle for
//! `connections.idle_timeout_secs`, and counted against a global cap and a cap per client
//! address for as long as its socket lives, WebSocket upgrades included. Connections beyond a
//! cap are answered with 503 `too_many_connections` and closed at once, so a flood of half-open
//! connections cannot exhaust the process's file descriptors. At start the soft descriptor limit
//! is raised to the hard limit, and the global cap is kept below it.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use dashmap::DashMap;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt as _;

use crate::config::ConnectionsConfig;

/// The listen backlog asked for.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` for the accept loop (address reuse on, as `TcpListener::bind` does).
pub fn bind(addr: std::net::SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Raises the soft limit on open files to the hard limit and returns the soft limit in force
/// (`None` where the platform has no such limit).
pub fn raise_descriptor_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        if limit.current != limit.maximum {
            let raised = Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => {
                    tracing::info!(
                        from = ?limit.current,
                        to = ?limit.maximum,
                        "raised the open-files limit to the hard limit"
                    );
                    return limit.maximum;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot raise the open-files limit");
                }
            }
        }
        limit.current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The server holds its most connections.
    Global,
    /// The client address holds its most connections.
    Address,
}

/// Counts open connections, in all and per client address.
#[derive(Debug)]
pub struct ConnectionCaps {
    global: usize,
    per_address: usize,
    open: AtomicUsize,
    by_address: DashMap<IpAddr, usize>,
}

impl ConnectionCaps {
    /// Caps of `global` connections in all and `per_address` per client address.
    pub fn new(global: usize, per_address: usize) -> Arc<Self> {
        Arc::new(Self {
            global,
            per_address,
            open: AtomicUsize::new(0),
            by_address: DashMap::new(),
        })
    }

    /// The caps a configuration gives under a descriptor limit of `descriptors`.
    pub fn from_config(config: &ConnectionsConfig, descriptors: Option<u64>) -> Arc<Self> {
        let mut global = config.max_connections;
        if let Some(limit) = descriptors {
            let usable = usize::try_from(limit)
                .unwrap_or(usize::MAX)
                .saturating_sub(config.reserved_descriptors)
                .max(16);
            if usable < global {
                tracing::info!(
                    configured = global,
                    usable,
                    "connections.max_connections lowered below the open-files limit"
                );
                global = usable;
            }
        }
        Self::new(global, config.max_connections_per_address.min(global))
    }

    /// The global cap in force.
    pub fn global(&self) -> usize {
        self.global
    }

    /// Open connections now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Takes a slot for a connection from `ip`, held until the slot is dropped.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionSlot, Refusal> {
        if self.open.fetch_add(1, Ordering::AcqRel) >= self.global {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::Global);
        }
        let mut entry = self.by_address.entry(ip).or_insert(0);
        if *entry >= self.per_address {
            drop(entry);
            self.open.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::Address);
        }
        *entry += 1;
        drop(entry);
        metrics::gauge!("zynk_open_connections").increment(1.0);
        Ok(ConnectionSlot {
            caps: self.clone(),
            ip,
        })
    }
}

/// One open connection's place under the caps; freed when dropped (when the socket closes).
#[derive(Debug)]
pub struct ConnectionSlot {
    caps: Arc<ConnectionCaps>,
    ip: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.caps.by_address.remove_if_mut(&self.ip, |_, count| {
            *count = count.saturating_sub(1);
            *count == 0
        });
        self.caps.open.fetch_sub(1, Ordering::AcqRel);
        metrics::gauge!("zynk_open_connections").decrement(1.0);
    }
}

/// A TCP stream that holds its slot under the caps for as long as it lives (through a WebSocket
/// upgrade too) and records when a byte last moved.
struct TrackedStream {
    inner: TcpStream,
    _slot: ConnectionSlot,
    started: Instant,
    last_activity_ms: Arc<AtomicU64>,
}

impl TrackedStream {
    fn touch(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_activity_ms.store(ms, Ordering::Relaxed);
    }
}

impl AsyncRead for TrackedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        result
    }
}

impl AsyncWrite for TrackedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Serves `router` on `listener` under the caps and timeouts of `config` until `shutdown`
/// resolves; then stops accepting, lets open HTTP connections finish their requests and
/// returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: ConnectionsConfig,
    caps: Arc<ConnectionCaps>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let (signal_tx, signal_rx) = watch::channel(());
    let (close_tx, close_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    let header_timeout = Duration::from_secs(config.header_read_timeout_secs);
    let idle_timeout = Duration::from_secs(config.idle_timeout_secs);
    let mut last_accept_error: Option<Instant> = None;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    if last_accept_error.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
                        tracing::warn!(error = %err, "accept failed");
                        last_accept_error = Some(Instant::now());
                    }
                    // Out of descriptors (or a transient failure): give closing connections a
                    // moment rather than spinning.
                    if is_resource_error(&err) {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "cannot set TCP_NODELAY");
        }
        let slot = match caps.try_acquire(peer.ip()) {
            Ok(slot) => slot,
            Err(refusal) => {
                refuse(stream, refusal);
                continue;
            }
        };
        let last_activity_ms = Arc::new(AtomicU64::new(0));
        let io = TrackedStream {
            inner: stream,
            _slot: slot,
            started: Instant::now(),
            last_activity_ms: last_activity_ms.clone(),
        };
        let service =
            router
                .clone()
                .map_request(move |mut request: axum::http::Request<Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    request
                });
        let mut signal = signal_rx.clone();
        let close = close_rx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(true);
            let connection = builder
                .serve_connection(TokioIo::new(io), TowerToHyperService::new(service))
                .with_upgrades();
            let mut connection = std::pin::pin!(connection);
            let started = Instant::now();
            let mut idle_check = tokio::time::interval(idle_timeout.min(Duration::from_secs(5)));
            idle_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut draining = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(err) = result {
                            tracing::trace!(error = %err, "connection ended with an error");
                        }
                        break;
                    }
                    _ = idle_check.tick() => {
                        let last = Duration::from_millis(last_activity_ms.load(Ordering::Relaxed));
                        if started.elapsed().saturating_sub(last) >= idle_timeout {
                            tracing::trace!(peer = %peer, "idle connection closed");
                            break;
                        }
                    }
                    changed = signal.changed(), if !draining => {
                        let _ = changed;
                        draining = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(close);
        });
    }
    drop(listener);
    drop(close_rx);
    let _ = signal_tx.send(());
    close_tx.closed().await;
    Ok(())
}

fn is_resource_error(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(23 | 24)) // ENFILE, EMFILE
        || err.kind() == io::ErrorKind::OutOfMemory
}

/// Answers 503 `too_many_connections` and closes, without a task of its own: the answer fits
/// the empty send buffer of a new socket, so one non-blocking write suffices (a client that
/// sent a lot already may see a reset instead).
fn refuse(stream: TcpStream, refusal: Refusal) {
    let (reason, message) = match refusal {
        Refusal::Global => (
            "global",
            "the server has too many open connections; retry later",
        ),
        Refusal::Address => (
            "address",
            "too many open connections from this address; retry later",
        ),
    };
    metrics::counter!("zynk_connections_refused_total", "reason" => reason).increment(1);
    let body = serde_json::json!({
        "error": {"code": zynk_proto::ErrorCode::TooManyConnections.as_str(), "message": message}
    })
    .to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.try_write(response.as_bytes());
    drop(stream);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_per_address_and_in_all_and_free_on_drop() {
        let caps = ConnectionCaps::new(3, 2);
        let a = IpAddr::from([10, 0, 0, 1]);
        let b = IpAddr::from([10, 0, 0, 2]);
        let a1 = caps.try_acquire(a).unwrap();
        let _a2 = caps.try_acquire(a).unwrap();
        assert_eq!(caps.try_acquire(a).unwrap_err(), Refusal::Address);
        let _b1 = caps.try_acquire(b).unwrap();
        assert_eq!(caps.try_acquire(b).unwrap_err(), Refusal::Global);
        assert_eq!(caps.open(), 3);
        drop(a1);
        assert_eq!(caps.open(), 2);
        let _a3 = caps.try_acquire(a).unwrap();
    }

    #[test]
    fn the_global_cap_stays_below_the_descriptor_limit() {
        let config = ConnectionsConfig::default();
        let caps = ConnectionCaps::from_config(&config, Some(20_000));
        assert_eq!(caps.global(), 20_000 - config.reserved_descriptors);
        let caps = ConnectionCaps::from_config(&config, None);
        assert_eq!(caps.global(), config.max_connections);
    }
}
