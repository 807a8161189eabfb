//! Connections: the open-file limit, accepting, the TLS handshake, hyper's
//! HTTP/1.1 with the request-head limits, and the write deadline of each
//! response (docs/operations.md, "Request limits").

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::response::Response;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;

use super::IncomingRequest;
use crate::process_metrics::{refused, Refusal};

/// Descriptors kept for what is not an HTTP connection: the Kafka
/// clients' sockets, the config and certificate files, the runtime.
const FDS_BESIDE_CONNECTIONS: u64 = 256;

/// Raises the soft limit of open files to the hard one, as Go's runtime
/// does for its servers: under a soft limit of 1024 (systemd's default,
/// and many containers') the default `http.max_connections` of 1024 could
/// never be reached, and accept failed for want of descriptors first. A
/// hard limit still too low for `max_connections` is a WARN naming both.
pub(super) fn raise_open_file_limit(max_connections: usize) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the struct given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim = raised;
        }
    }
    let wanted = max_connections as u64 + FDS_BESIDE_CONNECTIONS;
    if lim.rlim_cur < wanted {
        tracing::warn!(open_files = lim.rlim_cur, max_connections, wanted,
            "the open-file limit is below http.max_connections and the descriptors frontline needs beside them: raise the limit (ulimit -n, LimitNOFILE=) or lower http.max_connections");
    }
}

/// Failed accepts, logged at most once per 10 s with how many there were,
/// rather than one line each (20 a second while descriptors run out).
#[derive(Default)]
pub(super) struct AcceptFailures {
    last_logged: Option<std::time::Instant>,
    unlogged: u64,
}

impl AcceptFailures {
    pub(super) fn failed(&mut self, e: &io::Error) {
        self.unlogged += 1;
        if self
            .last_logged
            .is_some_and(|t| t.elapsed() < Duration::from_secs(10))
        {
            return;
        }
        tracing::warn!(error = %e, failures = self.unlogged,
            "accept failed (out of descriptors, typically: see process_open_fds and process_max_fds)");
        self.last_logged = Some(std::time::Instant::now());
        self.unlogged = 0;
    }
}

/// HTTP/1.1 with the request-head limits of `[http]`: `read_timeout` for
/// the head, `max_header_bytes`, at most 100 headers.
pub(super) fn http1_builder(
    cfg: &crate::config::HttpConfig,
    read_timeout: Duration,
) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(read_timeout)
        .max_header_size(cfg.max_header_bytes)
        .max_headers(100)
        .max_buf_size(cfg.max_header_bytes.max(8192) + 8192);
    builder
}

/// The TLS handshake of a connection on the TLS port, within
/// `read_timeout` (the deadline of the request head); `None`, counted as
/// refused, when the client does not open with TLS, fails or is too slow.
pub(super) async fn handshake(
    tcp: tokio::net::TcpStream,
    tls: Arc<rustls::ServerConfig>,
    read_timeout: Duration,
) -> Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    // The handshake shares the deadline of the request head.
    let deadline = tokio::time::Instant::now() + read_timeout;
    if !starts_with_tls(&tcp, deadline).await {
        refused(Refusal::Tls);
        return None;
    }
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    match tokio::time::timeout_at(deadline, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            refused(Refusal::Tls);
            tracing::debug!(error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            refused(Refusal::Tls);
            None
        }
    }
}

/// Whether a client on the TLS port opens with a TLS handshake record. One
/// that speaks plain HTTP gets a `400` saying so (as Go's servers answer)
/// rather than a bare disconnect.
async fn starts_with_tls(tcp: &tokio::net::TcpStream, deadline: tokio::time::Instant) -> bool {
    let mut first = [0u8; 1];
    match tokio::time::timeout_at(deadline, tcp.peek(&mut first)).await {
        Ok(Ok(1)) if first[0] == 0x16 => true,
        Ok(Ok(1)) => {
            let _ = tokio::time::timeout_at(deadline, async {
                loop {
                    tcp.writable().await?;
                    match tcp.try_write(PLAIN_ON_TLS) {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                        r => return r,
                    }
                }
            })
            .await;
            false
        }
        _ => false,
    }
}

const PLAIN_ON_TLS: &[u8] = b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

pub(super) async fn connection<T, S>(
    builder: &hyper::server::conn::http1::Builder,
    io: T,
    app: S,
    mut stop: watch::Receiver<bool>,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: tower::Service<IncomingRequest, Response = Response, Error = std::convert::Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let svc = hyper_util::service::TowerToHyperService::new(app);
    let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(io), svc);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = stop.changed() => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
}

/// A stream whose writes (and flushes) fail with `TimedOut` once a response
/// has taken `http.write_timeout` from its first write to being handed to
/// the connection in full: a client that stops reading, or reads a little
/// now and then to hold the connection, lets go of it. The clock starts at
/// a response's first write (not while its handler works) and stops when
/// a flush has written everything queued, the end of a response, so each
/// response of a keep-alive or pipelining client has its own.
pub(super) struct WriteDeadline<T> {
    inner: T,
    limit: Duration,
    /// When the response being written must be written by (`None` between
    /// responses).
    deadline: Option<tokio::time::Instant>,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<T> WriteDeadline<T> {
    pub(super) fn new(inner: T, limit: Duration) -> Self {
        WriteDeadline {
            inner,
            limit,
            deadline: None,
            timer: None,
        }
    }

    fn timed_out<R>() -> Poll<io::Result<R>> {
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "write deadline (http.write_timeout)",
        )))
    }

    /// Whether the response being written is past its deadline; a write
    /// (`starts`) sets the deadline when none is running.
    fn past(&mut self, starts: bool) -> bool {
        if starts && self.deadline.is_none() {
            self.deadline = Some(tokio::time::Instant::now() + self.limit);
        }
        self.deadline
            .is_some_and(|d| tokio::time::Instant::now() >= d)
    }

    /// A write that cannot go on now waits at most until the deadline.
    fn pending<R>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if r.is_ready() {
            return r;
        }
        let Some(deadline) = self.deadline else {
            return r;
        };
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Self::timed_out(),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteDeadline<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.past(true) {
            return Self::timed_out();
        }
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.pending(cx, r)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.past(false) {
            return Self::timed_out();
        }
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        if matches!(r, Poll::Ready(Ok(()))) {
            // Everything queued is written: the response's clock stops.
            self.deadline = None;
            self.timer = None;
        }
        self.pending(cx, r)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.past(false) {
            return Self::timed_out();
        }
        let r = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.pending(cx, r)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.past(true) {
            return Self::timed_out();
        }
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.pending(cx, r)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
