//! `connector`: how a [`crate::Connection`] gets its byte stream. [`TcpConnector`] (the
//! default) opens a TCP connection; a connector for a listener's security protocol wraps
//! that stream in TLS and may run the SASL exchange (SaslHandshake, SaslAuthenticate, which
//! Kafka allows to precede a connection's other requests) before handing the stream over.
//! The nodes' own clients — raft, forwarding, and later replication — take theirs from
//! [`crate::ConnectionConfig::connector`], so securing them means supplying a connector,
//! not changing them.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::error::Error;

/// A connection's byte stream, whatever carries it.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// What [`Connector::connect`] returns.
pub type ConnectFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Box<dyn Stream>, Error>> + Send + 'a>>;

/// Opens the stream to `addr` (`host:port`) within `timeout`.
pub trait Connector: fmt::Debug + Send + Sync + 'static {
    fn connect<'a>(&'a self, addr: &'a str, timeout: Duration) -> ConnectFuture<'a>;
}

/// Plain TCP (PLAINTEXT), with TCP_NODELAY.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpConnector;

impl TcpConnector {
    pub fn shared() -> Arc<dyn Connector> {
        Arc::new(TcpConnector)
    }
}

impl Connector for TcpConnector {
    fn connect<'a>(&'a self, addr: &'a str, timeout: Duration) -> ConnectFuture<'a> {
        Box::pin(async move {
            let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
                Err(_) => {
                    return Err(Error::ConnectTimeout {
                        addr: addr.to_string(),
                        timeout_ms: timeout.as_millis().min(u64::MAX as u128) as u64,
                    })
                }
                Ok(Err(e)) => {
                    return Err(Error::Connect {
                        addr: addr.to_string(),
                        source: Arc::new(e),
                    })
                }
                Ok(Ok(stream)) => stream,
            };
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(%addr, error = %e, "cannot set TCP_NODELAY");
            }
            Ok(Box::new(stream) as Box<dyn Stream>)
        })
    }
}
