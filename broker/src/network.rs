//! `network`: one task per client connection. Frames bytes (4-byte size prefix), decodes the
//! request header and body with `kafka-protocol`, hands the request to `handlers`, and writes
//! responses back in request order (Kafka's model: one request in flight per connection).
//!
//! Invariants: a frame larger than `socket.request.max.bytes`, an unknown API key, an
//! unsupported version (other than ApiVersions, which answers with a v0 error response) or an
//! undecodable body closes *this* connection with one logged reason; nothing else is affected
//! and no handler runs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::frame::ChunkedFrame;
use crate::handlers::{self, Broker, RequestContext};
use crate::metrics::requests::Observed;
use crate::metrics::topics::TrafficSummary;

/// Why a connection was closed by the broker (logged once per connection).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectionError {
    #[error("frame of {size} bytes exceeds socket.request.max.bytes {max}")]
    FrameTooLarge { size: i64, max: u32 },
    #[error("frame too short to hold a request header ({0} bytes)")]
    FrameTooShort(usize),
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("unsupported version {version} of {api:?}")]
    UnsupportedVersion { api: ApiKey, version: i16 },
    #[error("cannot decode {api:?} v{version}: {reason}")]
    Undecodable {
        api: ApiKey,
        version: i16,
        reason: String,
    },
    #[error("cannot encode {api:?} v{version} response: {reason}")]
    Unencodable {
        api: ApiKey,
        version: i16,
        reason: String,
    },
    #[error("handler asked to close the connection: {0}")]
    HandlerClosed(String),
    #[error("idle for more than connections.max.idle.ms")]
    Idle,
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves one client connection until it closes, errs, or the broker shuts down.
pub(crate) async fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    listener_name: Arc<str>,
    broker: Arc<Broker>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let _open = broker.metrics.requests.connection_opened(&listener_name);
    let max_frame_bytes = broker.config.socket_request_max_bytes;
    let idle_ms = broker.config.connections_max_idle_ms.max(1) as u64;
    let mut frame = BytesMut::with_capacity(64 * 1024);
    let result: Result<(), ConnectionError> = async {
        loop {
            let mut size_buf = [0u8; 4];
            tokio::select! {
                _ = shutdown.changed() => return Ok(()),
                r = tokio::time::timeout(Duration::from_millis(idle_ms), stream.read_exact(&mut size_buf)) => match r {
                    Err(_) => return Err(ConnectionError::Idle),
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                    Ok(Err(e)) => return Err(e.into()),
                    Ok(Ok(_)) => {}
                },
            }
            let size = i32::from_be_bytes(size_buf) as i64;
            if size < 0 || size > max_frame_bytes as i64 {
                return Err(ConnectionError::FrameTooLarge { size, max: max_frame_bytes });
            }
            frame.clear();
            frame.resize(size as usize, 0);
            stream.read_exact(&mut frame[..]).await?;
            let request = frame.split().freeze();
            let started = Instant::now();
            let (response, observed) = handle_frame(request, peer, &listener_name, &broker).await?;
            let local = started.elapsed();
            if let Some(response) = response {
                write_chunks(&mut stream, response).await?;
            }
            if let Some(observed) = observed {
                observed.record(&broker.metrics, local, started.elapsed() - local, size as usize);
            }
        }
    }
    .await;
    match result {
        Ok(()) => tracing::debug!(%peer, "connection closed"),
        Err(ConnectionError::Io(e)) => tracing::debug!(%peer, error = %e, "connection i/o error"),
        Err(e) => tracing::warn!(%peer, reason = %e, "closing connection"),
    }
}

/// Writes a response's chunks in order with vectored writes.
async fn write_chunks(stream: &mut TcpStream, chunks: Vec<Bytes>) -> std::io::Result<()> {
    let mut chunks: std::collections::VecDeque<Bytes> =
        chunks.into_iter().filter(|c| !c.is_empty()).collect();
    // Bounded: every iteration writes at least one byte or fails.
    while !chunks.is_empty() {
        let slices: Vec<std::io::IoSlice<'_>> = chunks
            .iter()
            .take(64)
            .map(|c| std::io::IoSlice::new(c))
            .collect();
        let mut written = stream.write_vectored(&slices).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while written > 0 {
            let Some(front) = chunks.front_mut() else {
                break;
            };
            if written >= front.len() {
                written -= front.len();
                chunks.pop_front();
            } else {
                front.advance(written);
                written = 0;
            }
        }
    }
    Ok(())
}

/// What [`handle_frame`] returns: the response frame, and what the metrics record of the
/// request once its response was written.
type Handled = (Option<Vec<Bytes>>, Option<Observed>);

/// Decodes one request frame, runs its handler and returns the encoded response frame as
/// chunks (size prefix first), or `None` when Kafka sends no response (produce with acks=0).
async fn handle_frame(
    mut frame: Bytes,
    peer: SocketAddr,
    listener_name: &Arc<str>,
    broker: &Arc<Broker>,
) -> Result<Handled, ConnectionError> {
    if frame.len() < 8 {
        return Err(ConnectionError::FrameTooShort(frame.len()));
    }
    let api_key_raw = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api =
        ApiKey::try_from(api_key_raw).map_err(|_| ConnectionError::UnknownApiKey(api_key_raw))?;
    let supported = handlers::api_versions::supported_range(api);

    if api == ApiKey::ApiVersions
        && !supported.is_some_and(|(min, max)| version >= min && version <= max)
    {
        // KIP-511: answer an unsupported ApiVersions version with a v0 response carrying
        // UNSUPPORTED_VERSION and our ranges, so the client can pick a version it knows.
        let body = handlers::api_versions::unsupported_version_response();
        let response = ResponseKind::ApiVersions(body);
        let observed = Observed::answered(api, version, &TrafficSummary::Other, &response);
        return encode_response(api, 0, correlation_id, &response)
            .map(|frame| (Some(frame), Some(observed)));
    }
    let Some((min, max)) = supported else {
        return Err(ConnectionError::UnsupportedVersion { api, version });
    };
    if version < min || version > max {
        return Err(ConnectionError::UnsupportedVersion { api, version });
    }

    let header_version = api.request_header_version(version);
    let header = RequestHeader::decode(&mut frame, header_version).map_err(|e| {
        ConnectionError::Undecodable {
            api,
            version,
            reason: format!("header: {e}"),
        }
    })?;
    let request = RequestKind::decode(api, &mut frame, version).map_err(|e| {
        ConnectionError::Undecodable {
            api,
            version,
            reason: e.to_string(),
        }
    })?;
    if frame.has_remaining() {
        tracing::debug!(%peer, ?api, version, trailing = frame.remaining(), "request has trailing bytes");
    }

    let ctx = RequestContext {
        version,
        client_id: header.client_id.as_ref().map(|s| s.to_string()),
        peer,
        listener_name: listener_name.clone(),
    };
    let traffic = TrafficSummary::of_request(&request, broker);
    match handlers::handle(broker, &ctx, request).await {
        handlers::Outcome::Respond(response) => {
            let observed = Observed::answered(api, version, &traffic, &response);
            broker
                .metrics
                .topics
                .record(&traffic, Some(&response), broker);
            encode_response(api, version, correlation_id, &response)
                .map(|frame| (Some(frame), Some(observed)))
        }
        handlers::Outcome::NoResponse => {
            broker.metrics.topics.record(&traffic, None, broker);
            Ok((None, Some(Observed::unanswered(api, version))))
        }
        handlers::Outcome::Close(reason) => {
            broker.metrics.topics.record_failed(&traffic);
            Err(ConnectionError::HandlerClosed(reason))
        }
    }
}

/// Encodes a response frame as chunks: the size prefix, then the header and body. A Fetch
/// response's record batches are spliced in by reference ([`ChunkedFrame`]) rather than
/// copied; every other response is one buffer.
fn encode_response(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    response: &ResponseKind,
) -> Result<Vec<Bytes>, ConnectionError> {
    let fail = |reason: String| ConnectionError::Unencodable {
        api,
        version,
        reason,
    };
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    let header_version = api.response_header_version(version);
    if let ResponseKind::Fetch(fetch) = response {
        let batches: Vec<Bytes> = fetch
            .responses
            .iter()
            .flat_map(|t| t.partitions.iter())
            .filter_map(|p| p.records.clone())
            .collect();
        let mut frame = ChunkedFrame::new(batches);
        header
            .encode(&mut frame, header_version)
            .map_err(|e| fail(e.to_string()))?;
        fetch
            .encode(&mut frame, version)
            .map_err(|e| fail(e.to_string()))?;
        let size = u32::try_from(frame.len())
            .map_err(|_| fail(format!("response of {} bytes", frame.len())))?;
        let mut chunks = vec![Bytes::copy_from_slice(&size.to_be_bytes())];
        chunks.extend(frame.into_chunks());
        return Ok(chunks);
    }
    let mut buf = BytesMut::with_capacity(256);
    buf.extend_from_slice(&[0, 0, 0, 0]);
    header
        .encode(&mut buf, header_version)
        .map_err(|e| fail(e.to_string()))?;
    response
        .encode(&mut buf, version)
        .map_err(|e| fail(e.to_string()))?;
    let size = (buf.len() - 4) as u32;
    buf[0..4].copy_from_slice(&size.to_be_bytes());
    Ok(vec![buf.freeze()])
}
