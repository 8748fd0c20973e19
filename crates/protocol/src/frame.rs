//! `frame`: Kafka's size-prefixed frames and the headers in front of every body.
//!
//! On the wire a frame is a 4-byte big-endian size followed by that many bytes. A request
//! frame starts with a request header (API key, API version, correlation id, client id;
//! header v2 adds tagged fields), a response frame with a response header (correlation id;
//! header v1 adds tagged fields). Which header version an API version uses is the codec's
//! knowledge (`ApiKey::request_header_version` / `response_header_version`), never ours.
//!
//! Both sides of a connection are here: the client side (encode requests, read frames,
//! decode response headers) and the server side (peek and decode request headers, encode
//! responses), so a broker's connection loop and this crate's [`Connection`] share one
//! framing code.
//!
//! Limits: [`FrameReader`] refuses a frame whose claimed size exceeds its maximum before
//! buffering any byte of it, and its buffer grows with the bytes that actually arrived (in
//! reads of at most 64 KiB), never with the size the peer claimed.
//!
//! [`Connection`]: crate::Connection

use std::io;
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Bytes of the size prefix in front of every frame.
pub const SIZE_PREFIX_BYTES: usize = 4;

/// Bytes of the fixed request header prefix: API key, API version, correlation id.
pub const REQUEST_PREFIX_BYTES: usize = 8;

/// Most bytes one read asks the socket for. Buffer growth follows arrivals in steps of at
/// most this size, so a peer that claims a large frame and sends little costs little.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Why a frame could not be read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {size} bytes exceeds the maximum of {max} bytes")]
    TooLarge { size: i32, max: usize },
    #[error("negative frame size {size}")]
    NegativeSize { size: i32 },
    #[error("stream ended after {received} of {expected} bytes of a frame")]
    Truncated { expected: usize, received: usize },
    #[error("i/o: {0}")]
    Io(Arc<io::Error>),
}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        FrameError::Io(Arc::new(e))
    }
}

/// Why a header or body could not be encoded or decoded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CodecError {
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("cannot encode {} v{version} {part}: {reason}", api_name(*api_key))]
    Encode {
        api_key: i16,
        version: i16,
        part: &'static str,
        reason: String,
    },
    #[error("cannot decode {} v{version} {part}: {reason}", api_name(*api_key))]
    Decode {
        api_key: i16,
        version: i16,
        part: &'static str,
        reason: String,
    },
    #[error("{trailing} bytes left after decoding {} v{version} {part}", api_name(*api_key))]
    TrailingBytes {
        api_key: i16,
        version: i16,
        part: &'static str,
        trailing: usize,
    },
    #[error("frame of {len} bytes is too short for {part}")]
    TooShort { len: usize, part: &'static str },
    #[error("frame of {bytes} bytes does not fit the 4-byte size prefix")]
    TooLarge { bytes: usize },
}

/// `Produce` for known API keys, `API key 99` for others (errors name the API).
pub(crate) fn api_name(api_key: i16) -> String {
    match ApiKey::try_from(api_key) {
        Ok(api) => format!("{api:?}"),
        Err(()) => format!("API key {api_key}"),
    }
}

/// The API key, or [`CodecError::UnknownApiKey`] when the codec does not know it.
pub fn api_key(api_key: i16) -> Result<ApiKey, CodecError> {
    ApiKey::try_from(api_key).map_err(|()| CodecError::UnknownApiKey(api_key))
}

// ------------------------------------------------------------------------------ reading

/// Reads size-prefixed frames from a stream, one at a time, with a maximum frame size.
///
/// `next_frame` is cancel-safe: bytes read so far stay in the reader's buffer, so it can
/// be one branch of a `select!` (a shutdown signal, a timeout) and be called again later.
/// Bytes of the next frame that arrived with the current one stay buffered too.
#[derive(Debug)]
pub struct FrameReader {
    buf: BytesMut,
    max_frame_bytes: usize,
}

impl FrameReader {
    /// A reader that refuses frames larger than `max_frame_bytes` (size prefix excluded).
    pub fn new(max_frame_bytes: usize) -> Self {
        FrameReader {
            buf: BytesMut::new(),
            max_frame_bytes,
        }
    }

    pub fn max_frame_bytes(&self) -> usize {
        self.max_frame_bytes
    }

    /// Bytes received and not yet returned as part of a frame.
    pub fn buffered_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Capacity of the receive buffer (what the reader holds in memory).
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The next frame's payload (without its size prefix); `None` when the stream ended
    /// cleanly between frames. A stream that ends inside a frame is
    /// [`FrameError::Truncated`]; a claimed size over the maximum is
    /// [`FrameError::TooLarge`] before any of that frame's bytes are buffered.
    pub async fn next_frame<R>(&mut self, reader: &mut R) -> Result<Option<Bytes>, FrameError>
    where
        R: AsyncRead + Unpin + ?Sized,
    {
        loop {
            let missing = match self.parse()? {
                Parsed::Frame(frame) => return Ok(Some(frame)),
                Parsed::Missing(missing) => missing,
            };
            self.buf.reserve(missing.min(READ_CHUNK_BYTES));
            let read = reader.read_buf(&mut self.buf).await?;
            if read == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(FrameError::Truncated {
                    expected: self.buf.len() + missing,
                    received: self.buf.len(),
                });
            }
        }
    }

    /// A complete frame from the buffer, or how many bytes are still missing for one.
    fn parse(&mut self) -> Result<Parsed, FrameError> {
        if self.buf.len() < SIZE_PREFIX_BYTES {
            return Ok(Parsed::Missing(SIZE_PREFIX_BYTES - self.buf.len()));
        }
        let size = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        let Ok(size_bytes) = usize::try_from(size) else {
            return Err(FrameError::NegativeSize { size });
        };
        if size_bytes > self.max_frame_bytes {
            return Err(FrameError::TooLarge {
                size,
                max: self.max_frame_bytes,
            });
        }
        let total = SIZE_PREFIX_BYTES + size_bytes;
        if self.buf.len() < total {
            return Ok(Parsed::Missing(total - self.buf.len()));
        }
        self.buf.advance(SIZE_PREFIX_BYTES);
        Ok(Parsed::Frame(self.buf.split_to(size_bytes).freeze()))
    }
}

enum Parsed {
    Frame(Bytes),
    Missing(usize),
}

// ------------------------------------------------------------------------------ client side

/// Encodes a request frame: size prefix, request header (its version from the API key and
/// version) and `body` at `version`.
pub fn encode_request<M: Encodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    client_id: Option<&StrBytes>,
    body: &M,
) -> Result<Bytes, CodecError> {
    let api_key = api as i16;
    let header = request_header(api_key, version, correlation_id, client_id);
    let body_bytes = body.compute_size(version).unwrap_or(0);
    let mut buf = BytesMut::with_capacity(SIZE_PREFIX_BYTES + 64 + body_bytes);
    buf.put_i32(0);
    header
        .encode(&mut buf, api.request_header_version(version))
        .map_err(|e| encode_error(api_key, version, "request header", e))?;
    body.encode(&mut buf, version)
        .map_err(|e| encode_error(api_key, version, "request", e))?;
    finish_frame(buf)
}

/// Encodes a request frame around a body encoded elsewhere (or deliberately not at all: any
/// bytes). The header version follows the API key when the codec knows it; an unknown API
/// key gets request header v1 (key, version, correlation id, client id), which is what
/// every non-flexible API uses.
pub fn encode_raw_request(
    api_key: i16,
    version: i16,
    correlation_id: i32,
    client_id: Option<&StrBytes>,
    body: &[u8],
) -> Result<Bytes, CodecError> {
    let header = request_header(api_key, version, correlation_id, client_id);
    let header_version = match ApiKey::try_from(api_key) {
        Ok(api) => api.request_header_version(version),
        Err(()) => 1,
    };
    let mut buf = BytesMut::with_capacity(SIZE_PREFIX_BYTES + 64 + body.len());
    buf.put_i32(0);
    header
        .encode(&mut buf, header_version)
        .map_err(|e| encode_error(api_key, version, "request header", e))?;
    buf.put_slice(body);
    finish_frame(buf)
}

fn request_header(
    api_key: i16,
    version: i16,
    correlation_id: i32,
    client_id: Option<&StrBytes>,
) -> RequestHeader {
    RequestHeader::default()
        .with_request_api_key(api_key)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(client_id.cloned())
}

/// The correlation id at the start of a response frame (every response header version
/// starts with it), `None` for a frame shorter than 4 bytes.
pub fn peek_correlation_id(frame: &[u8]) -> Option<i32> {
    let bytes: [u8; 4] = frame.get(..4)?.try_into().ok()?;
    Some(i32::from_be_bytes(bytes))
}

/// Decodes the response header at the front of `frame` (leaving the body in `frame`).
pub fn decode_response_header(
    frame: &mut Bytes,
    api_key: i16,
    version: i16,
) -> Result<ResponseHeader, CodecError> {
    let header_version = match ApiKey::try_from(api_key) {
        Ok(api) => api.response_header_version(version),
        Err(()) => 0,
    };
    if frame.len() < 4 {
        return Err(CodecError::TooShort {
            len: frame.len(),
            part: "a response header",
        });
    }
    ResponseHeader::decode(frame, header_version)
        .map_err(|e| decode_error(api_key, version, "response header", e))
}

/// Decodes a whole message body at `version`; bytes left over are an error (the codec and
/// the peer disagree about the message).
pub fn decode_body<M: Decodable>(
    body: &mut Bytes,
    api_key: i16,
    version: i16,
    part: &'static str,
) -> Result<M, CodecError> {
    let message = M::decode(body, version).map_err(|e| decode_error(api_key, version, part, e))?;
    if body.has_remaining() {
        return Err(CodecError::TrailingBytes {
            api_key,
            version,
            part,
            trailing: body.remaining(),
        });
    }
    Ok(message)
}

// ------------------------------------------------------------------------------ server side

/// The fixed start of every request header, readable before the API is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestPrefix {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
}

/// Reads the API key, version and correlation id at the start of a request frame without
/// consuming them (so a server can answer or refuse before decoding anything else).
pub fn peek_request_prefix(frame: &[u8]) -> Result<RequestPrefix, CodecError> {
    let Some(prefix) = frame.get(..REQUEST_PREFIX_BYTES) else {
        return Err(CodecError::TooShort {
            len: frame.len(),
            part: "a request header",
        });
    };
    Ok(RequestPrefix {
        api_key: i16::from_be_bytes([prefix[0], prefix[1]]),
        api_version: i16::from_be_bytes([prefix[2], prefix[3]]),
        correlation_id: i32::from_be_bytes([prefix[4], prefix[5], prefix[6], prefix[7]]),
    })
}

/// Decodes the request header at the front of `frame` (leaving the body in `frame`).
pub fn decode_request_header(
    frame: &mut Bytes,
    api: ApiKey,
    version: i16,
) -> Result<RequestHeader, CodecError> {
    if frame.len() < REQUEST_PREFIX_BYTES {
        return Err(CodecError::TooShort {
            len: frame.len(),
            part: "a request header",
        });
    }
    RequestHeader::decode(frame, api.request_header_version(version))
        .map_err(|e| decode_error(api as i16, version, "request header", e))
}

/// Encodes a response frame: size prefix, response header and `body` at `version`.
pub fn encode_response<M: Encodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &M,
) -> Result<Bytes, CodecError> {
    let api_key = api as i16;
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    let body_bytes = body.compute_size(version).unwrap_or(0);
    let mut buf = BytesMut::with_capacity(SIZE_PREFIX_BYTES + 8 + body_bytes);
    buf.put_i32(0);
    header
        .encode(&mut buf, api.response_header_version(version))
        .map_err(|e| encode_error(api_key, version, "response header", e))?;
    body.encode(&mut buf, version)
        .map_err(|e| encode_error(api_key, version, "response", e))?;
    finish_frame(buf)
}

// ------------------------------------------------------------------------------ helpers

/// Writes the size prefix into the 4 bytes reserved at the front of `buf`.
fn finish_frame(mut buf: BytesMut) -> Result<Bytes, CodecError> {
    let payload = buf.len() - SIZE_PREFIX_BYTES;
    let size = i32::try_from(payload).map_err(|_| CodecError::TooLarge { bytes: payload })?;
    buf[..SIZE_PREFIX_BYTES].copy_from_slice(&size.to_be_bytes());
    Ok(buf.freeze())
}

fn encode_error(
    api_key: i16,
    version: i16,
    part: &'static str,
    e: impl std::fmt::Display,
) -> CodecError {
    CodecError::Encode {
        api_key,
        version,
        part,
        reason: e.to_string(),
    }
}

fn decode_error(
    api_key: i16,
    version: i16,
    part: &'static str,
    e: impl std::fmt::Display,
) -> CodecError {
    CodecError::Decode {
        api_key,
        version,
        part,
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use tokio::io::AsyncWriteExt;

    const MAX: usize = 1024 * 1024;

    fn frame_bytes(payload: &[u8]) -> Vec<u8> {
        let mut v = (payload.len() as i32).to_be_bytes().to_vec();
        v.extend_from_slice(payload);
        v
    }

    #[tokio::test]
    async fn frames_are_read_whole_across_partial_writes() {
        let (mut peer, mut ours) = tokio::io::duplex(16);
        let mut wire = frame_bytes(b"first frame");
        wire.extend(frame_bytes(b""));
        wire.extend(frame_bytes(&[7u8; 300]));
        let writer = tokio::spawn(async move {
            for chunk in wire.chunks(3) {
                peer.write_all(chunk).await.expect("write to duplex");
            }
        });
        let mut reader = FrameReader::new(MAX);
        let a = reader.next_frame(&mut ours).await.expect("first frame");
        let b = reader.next_frame(&mut ours).await.expect("empty frame");
        let c = reader.next_frame(&mut ours).await.expect("third frame");
        writer.await.expect("writer task");
        assert_eq!(a.as_deref(), Some(&b"first frame"[..]));
        assert_eq!(
            b.as_deref(),
            Some(&b""[..]),
            "a zero-length frame is a frame"
        );
        assert_eq!(c.map(|c| c.to_vec()), Some(vec![7u8; 300]));
        assert!(
            reader
                .next_frame(&mut ours)
                .await
                .expect("clean end")
                .is_none(),
            "end of stream between frames is a clean end"
        );
    }

    #[tokio::test]
    async fn oversized_claim_is_refused_without_buffering_it() {
        let (mut peer, mut ours) = tokio::io::duplex(64);
        peer.write_all(&i32::MAX.to_be_bytes())
            .await
            .expect("write size");
        peer.write_all(b"a few bytes").await.expect("write body");
        let mut reader = FrameReader::new(MAX);
        match reader.next_frame(&mut ours).await {
            Err(FrameError::TooLarge { size, max }) => {
                assert_eq!((size, max), (i32::MAX, MAX));
            }
            other => panic!("expected TooLarge for a 2 GiB claim, got {other:?}"),
        }
        assert!(
            reader.buffer_capacity() < READ_CHUNK_BYTES * 2,
            "the reader allocated {} bytes for a refused frame",
            reader.buffer_capacity()
        );
    }

    #[tokio::test]
    async fn buffer_follows_arrivals_not_the_claimed_size() {
        let (mut peer, mut ours) = tokio::io::duplex(64);
        let claimed = MAX as i32; // within the limit, but never sent
        peer.write_all(&claimed.to_be_bytes())
            .await
            .expect("write size");
        peer.write_all(&[1u8; 10]).await.expect("write body");
        let mut reader = FrameReader::new(MAX);
        let pending = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            reader.next_frame(&mut ours),
        )
        .await;
        assert!(pending.is_err(), "a frame that did not arrive was returned");
        assert_eq!(reader.buffered_bytes(), 14, "prefix and 10 body bytes kept");
        // growth is amortized doubling of what arrived plus one read chunk
        assert!(
            reader.buffer_capacity() <= (14 + READ_CHUNK_BYTES) * 2,
            "the reader holds {} bytes for 14 received (claimed {claimed})",
            reader.buffer_capacity()
        );
        drop(peer);
        match reader.next_frame(&mut ours).await {
            Err(FrameError::Truncated { expected, received }) => {
                assert_eq!((expected, received), (MAX + 4, 14));
            }
            other => panic!("expected Truncated after the peer left, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn next_frame_is_cancel_safe() {
        let (mut peer, mut ours) = tokio::io::duplex(64);
        let wire = frame_bytes(b"split in two");
        peer.write_all(&wire[..6]).await.expect("write first half");
        let mut reader = FrameReader::new(MAX);
        let first = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            reader.next_frame(&mut ours),
        )
        .await;
        assert!(first.is_err(), "half a frame must not complete");
        peer.write_all(&wire[6..]).await.expect("write second half");
        let frame = reader.next_frame(&mut ours).await.expect("whole frame");
        assert_eq!(frame.as_deref(), Some(&b"split in two"[..]));
    }

    #[tokio::test]
    async fn negative_size_is_an_error() {
        let (mut peer, mut ours) = tokio::io::duplex(64);
        peer.write_all(&(-5i32).to_be_bytes())
            .await
            .expect("write size");
        let mut reader = FrameReader::new(MAX);
        assert!(matches!(
            reader.next_frame(&mut ours).await,
            Err(FrameError::NegativeSize { size: -5 })
        ));
    }

    #[test]
    fn request_round_trips_through_the_server_side_helpers() {
        let client_id = StrBytes::from_static_str("frame-test");
        let request = MetadataRequest::default().with_topics(Some(vec![
            kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                .with_name(Some(TopicName(StrBytes::from_static_str("t")))),
        ]));
        for version in [1i16, 9, 12] {
            let frame = encode_request(ApiKey::Metadata, version, 42, Some(&client_id), &request)
                .expect("encode request");
            let size = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
            assert_eq!(size as usize, frame.len() - 4, "size prefix of v{version}");
            let mut payload = frame.slice(4..);
            let prefix = peek_request_prefix(&payload).expect("prefix");
            assert_eq!(
                prefix,
                RequestPrefix {
                    api_key: ApiKey::Metadata as i16,
                    api_version: version,
                    correlation_id: 42
                }
            );
            let header = decode_request_header(&mut payload, ApiKey::Metadata, version)
                .expect("decode header");
            assert_eq!(header.client_id.as_deref(), Some("frame-test"));
            let decoded: MetadataRequest =
                decode_body(&mut payload, prefix.api_key, version, "request").expect("body");
            assert_eq!(decoded, request, "v{version} body round trip");
        }
    }

    #[test]
    fn response_round_trips_and_keeps_the_correlation_id() {
        let response = MetadataResponse::default().with_cluster_id(Some("c".into()));
        for version in [2i16, 12] {
            let frame =
                encode_response(ApiKey::Metadata, version, -7, &response).expect("encode response");
            let mut payload = frame.slice(4..);
            assert_eq!(peek_correlation_id(&payload), Some(-7));
            let header = decode_response_header(&mut payload, ApiKey::Metadata as i16, version)
                .expect("decode header");
            assert_eq!(header.correlation_id, -7);
            let decoded: MetadataResponse =
                decode_body(&mut payload, ApiKey::Metadata as i16, version, "response")
                    .expect("body");
            assert_eq!(decoded, response);
        }
    }

    #[test]
    fn raw_requests_of_unknown_apis_use_header_v1() {
        let frame = encode_raw_request(999, 3, 5, None, b"\x01\x02").expect("encode raw");
        // size, key, version, correlation id, null client id (-1), body
        let expected: Vec<u8> = [
            &12i32.to_be_bytes()[..],
            &999i16.to_be_bytes(),
            &3i16.to_be_bytes(),
            &5i32.to_be_bytes(),
            &(-1i16).to_be_bytes(),
            b"\x01\x02",
        ]
        .concat();
        assert_eq!(frame.to_vec(), expected);
    }

    #[test]
    fn short_and_undecodable_headers_are_typed_errors() {
        assert!(matches!(
            peek_request_prefix(&[0, 3, 0]),
            Err(CodecError::TooShort { len: 3, .. })
        ));
        let mut short = Bytes::from_static(&[0, 0]);
        assert!(matches!(
            decode_response_header(&mut short, ApiKey::Metadata as i16, 12),
            Err(CodecError::TooShort { len: 2, .. })
        ));
        // header v1 ends with tagged fields: a varint count that claims 5 fields, none there
        let mut bad = Bytes::from_static(&[0, 0, 0, 1, 5]);
        assert!(matches!(
            decode_response_header(&mut bad, ApiKey::Metadata as i16, 12),
            Err(CodecError::Decode { .. })
        ));
        let mut trailing = Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0]);
        assert!(matches!(
            decode_body::<kafka_protocol::messages::ApiVersionsRequest>(
                &mut trailing,
                18,
                0,
                "request"
            ),
            Err(CodecError::TrailingBytes { trailing: 7, .. })
        ));
    }
}
