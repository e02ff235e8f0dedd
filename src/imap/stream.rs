//! The byte stream under a session: plain TCP or TLS, with an idle timeout on every read and
//! write so that a stalled server can never hang a worker (async-imap has no timeouts).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

#[derive(Debug)]
pub enum Transport {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// A transport whose reads and writes fail with `TimedOut` after `idle` without progress.
/// The timer measures silence, not total time, so a 50 MB message on a slow link still passes.
#[derive(Debug)]
pub struct Stream {
    inner: Transport,
    idle: Duration,
    read_timer: Option<Pin<Box<Sleep>>>,
    write_timer: Option<Pin<Box<Sleep>>>,
}

impl Stream {
    pub fn new(inner: Transport, idle: Duration) -> Self {
        Stream {
            inner,
            idle,
            read_timer: None,
            write_timer: None,
        }
    }

    pub fn into_transport(self) -> Transport {
        self.inner
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.inner, Transport::Tls(_))
    }
}

fn poll_timer(
    timer: &mut Option<Pin<Box<Sleep>>>,
    idle: Duration,
    cx: &mut Context<'_>,
) -> Poll<io::Error> {
    let t = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
    match t.as_mut().poll(cx) {
        Poll::Ready(()) => {
            *timer = None;
            Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no data for {}s", idle.as_secs()),
            ))
        }
        Poll::Pending => Poll::Pending,
    }
}

use std::future::Future;

/// A finished I/O step resets its timer; a pending one fails once the timer runs out.
fn timed<T>(
    res: Poll<io::Result<T>>,
    timer: &mut Option<Pin<Box<Sleep>>>,
    idle: Duration,
    cx: &mut Context<'_>,
) -> Poll<io::Result<T>> {
    match res {
        Poll::Ready(r) => {
            *timer = None;
            Poll::Ready(r)
        }
        Poll::Pending => match poll_timer(timer, idle, cx) {
            Poll::Ready(e) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        },
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let res = match &mut this.inner {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        timed(res, &mut this.read_timer, this.idle, cx)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let res = match &mut this.inner {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        };
        timed(res, &mut this.write_timer, this.idle, cx)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let res = match &mut this.inner {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        };
        timed(res, &mut this.write_timer, this.idle, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
