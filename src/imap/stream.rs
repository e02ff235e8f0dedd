//! The byte stream under a session: plain TCP or TLS, with an idle timeout on every read and
//! write so that a stalled server can never hang a worker (async-imap has no timeouts).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use super::session::{Endpoint, Step, StepObserver};
use crate::error::{Error, Result};

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

/// Resolves the endpoint's host and opens a TCP connection to the first address that answers,
/// each step within the connect timeout and reported to the observer. Shared by IMAP and POP3.
pub async fn dial(endpoint: &Endpoint, observer: &mut dyn StepObserver) -> Result<TcpStream> {
    let host = endpoint.host.as_str();
    let idle = endpoint.idle_timeout;
    let connect_timeout = idle.min(Duration::from_secs(30));
    // DNS
    let addrs: Vec<SocketAddr> = match tokio::time::timeout(
        connect_timeout,
        tokio::net::lookup_host((host, endpoint.port)),
    )
    .await
    {
        Ok(Ok(a)) => a.collect(),
        Ok(Err(e)) => {
            let err = Error::Dns {
                host: host.into(),
                detail: e.to_string(),
            };
            observer.step(Step::Dns, Err(&err));
            return Err(err);
        }
        Err(_) => {
            let err = Error::Timeout {
                host: host.into(),
                what: "resolving the host name".into(),
                after: connect_timeout,
            };
            observer.step(Step::Dns, Err(&err));
            return Err(err);
        }
    };
    let shown: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
    observer.step(Step::Dns, Ok(shown.join(", ")));

    // TCP
    let mut last_err = None;
    let mut tcp = None;
    for addr in &addrs {
        match tokio::time::timeout(connect_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                tcp = Some(s);
                break;
            }
            Ok(Err(e)) => last_err = Some(e.to_string()),
            Err(_) => last_err = Some(format!("no answer in {}s", connect_timeout.as_secs())),
        }
    }
    let tcp = match tcp {
        Some(t) => t,
        None => {
            let err = Error::Connect {
                host: host.into(),
                port: endpoint.port,
                detail: last_err.unwrap_or_else(|| "no address".into()),
            };
            observer.step(Step::Tcp, Err(&err));
            return Err(err);
        }
    };
    let _ = tcp.set_nodelay(true);
    observer.step(Step::Tcp, Ok(format!("{}:{}", host, endpoint.port)));

    Ok(tcp)
}

/// The TLS handshake with certificate checks (see [`super::tls`]), reported to the observer.
pub async fn handshake(
    endpoint: &Endpoint,
    tcp: TcpStream,
    observer: &mut dyn StepObserver,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let host = endpoint.host.as_str();
    let config = match super::tls::client_config(endpoint.ca_file.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            observer.step(Step::Tls, Err(&e));
            return Err(e);
        }
    };
    let name = match rustls::pki_types::ServerName::try_from(host.to_string()) {
        Ok(n) => n,
        Err(e) => {
            let err = Error::Tls {
                host: host.into(),
                port: endpoint.port,
                detail: e.to_string(),
                hint: "The host is not a valid DNS name or IP address.",
            };
            observer.step(Step::Tls, Err(&err));
            return Err(err);
        }
    };
    let connector = tokio_rustls::TlsConnector::from(config);
    let timeout = endpoint.idle_timeout.min(Duration::from_secs(30));
    match tokio::time::timeout(timeout, connector.connect(name, tcp)).await {
        Ok(Ok(s)) => {
            let (_, conn) = s.get_ref();
            let detail = format!(
                "{}, certificate verified",
                conn.protocol_version()
                    .map(|v| format!("{v:?}"))
                    .unwrap_or_default()
            );
            observer.step(Step::Tls, Ok(detail));
            Ok(s)
        }
        Ok(Err(e)) => {
            let detail = e.to_string();
            let err = Error::Tls {
                host: host.into(),
                port: endpoint.port,
                hint: super::tls::hint_for(&detail),
                detail,
            };
            observer.step(Step::Tls, Err(&err));
            Err(err)
        }
        Err(_) => {
            let err = Error::Timeout {
                host: host.into(),
                what: "the TLS handshake".into(),
                after: timeout,
            };
            observer.step(Step::Tls, Err(&err));
            Err(err)
        }
    }
}
