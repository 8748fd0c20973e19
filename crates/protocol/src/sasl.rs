//! The SASL exchange a client runs on a fresh connection before handing it on: SaslHandshake
//! v1, then SaslAuthenticate v1 round trips for PLAIN or SCRAM ([`crate::scram`]), over a
//! [`RawExchange`] — request / response round trips with correlation ids checked and
//! responses bounded by the reader's frame limit. Used by the broker's own connections to
//! the other nodes and by the bench's connection set-up measurement.

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::AsyncWriteExt;

use crate::frame::{decode_body, decode_response_header, encode_request};
use crate::scram::{ScramClient, ScramMechanism};
use crate::{FrameReader, Stream};

const SASL_HANDSHAKE_VERSION: i16 = 1;
const SASL_AUTHENTICATE_VERSION: i16 = 1;

/// The SASL mechanism and credentials a client authenticates with (`Debug` shows no
/// password).
#[derive(Clone)]
pub enum SaslCredentials {
    Plain {
        username: String,
        password: String,
    },
    Scram {
        mechanism: ScramMechanism,
        username: String,
        password: String,
    },
}

impl std::fmt::Debug for SaslCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SaslCredentials::Plain { username, .. } => {
                write!(f, "PLAIN as {username}")
            }
            SaslCredentials::Scram {
                mechanism,
                username,
                ..
            } => write!(f, "{} as {username}", mechanism.name()),
        }
    }
}

impl SaslCredentials {
    /// The SASL mechanism's name, as SaslHandshake carries it.
    pub fn mechanism(&self) -> &'static str {
        match self {
            SaslCredentials::Plain { .. } => "PLAIN",
            SaslCredentials::Scram { mechanism, .. } => mechanism.name(),
        }
    }
}

/// SaslHandshake v1, then SaslAuthenticate v1 round trips until the mechanism is done.
/// The error says why, in words (never the password).
pub async fn authenticate(
    exchange: &mut RawExchange<'_>,
    credentials: &SaslCredentials,
) -> Result<(), String> {
    let mechanism = credentials.mechanism();
    let handshake: SaslHandshakeResponse = exchange
        .round_trip(
            ApiKey::SaslHandshake,
            SASL_HANDSHAKE_VERSION,
            &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism)),
        )
        .await?;
    if handshake.error_code != 0 {
        let enabled: Vec<&str> = handshake.mechanisms.iter().map(|m| m.as_str()).collect();
        return Err(format!(
            "the peer refused the mechanism (error {}); it enables {enabled:?}",
            handshake.error_code
        ));
    }
    match credentials {
        SaslCredentials::Plain { username, password } => {
            let token = format!("\0{username}\0{password}").into_bytes();
            exchange.authenticate(token).await?;
        }
        SaslCredentials::Scram {
            mechanism,
            username,
            password,
        } => {
            let mut client = ScramClient::new(*mechanism, username, password);
            let server_first = exchange.authenticate(client.client_first()).await?;
            let client_final = client
                .client_final(&server_first)
                .map_err(|e| e.to_string())?;
            let server_final = exchange.authenticate(client_final).await?;
            client
                .verify_server_final(&server_final)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Request / response round trips on a stream not yet handed to anything else.
pub struct RawExchange<'s> {
    stream: &'s mut Box<dyn Stream>,
    reader: FrameReader,
    client_id: &'static str,
    correlation_id: i32,
}

impl<'s> RawExchange<'s> {
    /// Round trips on `stream` as client `client_id`, responses at most `frame_bytes_max`.
    pub fn new(
        stream: &'s mut Box<dyn Stream>,
        client_id: &'static str,
        frame_bytes_max: usize,
    ) -> Self {
        RawExchange {
            stream,
            reader: FrameReader::new(frame_bytes_max),
            client_id,
            correlation_id: 0,
        }
    }

    /// One request and its response (the correlation id checked).
    pub async fn round_trip<Req, Resp>(
        &mut self,
        api: ApiKey,
        version: i16,
        request: &Req,
    ) -> Result<Resp, String>
    where
        Req: Encodable,
        Resp: Decodable,
    {
        self.correlation_id += 1;
        let client_id = StrBytes::from_static_str(self.client_id);
        let frame = encode_request(api, version, self.correlation_id, Some(&client_id), request)
            .map_err(|e| e.to_string())?;
        self.stream
            .write_all(&frame)
            .await
            .map_err(|e| format!("writing {api:?}: {e}"))?;
        self.stream
            .flush()
            .await
            .map_err(|e| format!("writing {api:?}: {e}"))?;
        let mut response: Bytes = self
            .reader
            .next_frame(self.stream.as_mut())
            .await
            .map_err(|e| format!("reading the {api:?} response: {e}"))?
            .ok_or_else(|| {
                format!("the peer closed the connection instead of answering {api:?}")
            })?;
        let header = decode_response_header(&mut response, api as i16, version)
            .map_err(|e| e.to_string())?;
        if header.correlation_id != self.correlation_id {
            return Err(format!(
                "{api:?} answered with correlation id {}, not {}",
                header.correlation_id, self.correlation_id
            ));
        }
        decode_body(&mut response, api as i16, version, "response").map_err(|e| e.to_string())
    }

    /// One SaslAuthenticate round trip: the server's token, or why it refused.
    async fn authenticate(&mut self, token: Vec<u8>) -> Result<Vec<u8>, String> {
        let response: SaslAuthenticateResponse = self
            .round_trip(
                ApiKey::SaslAuthenticate,
                SASL_AUTHENTICATE_VERSION,
                &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token)),
            )
            .await?;
        if response.error_code != 0 {
            return Err(format!(
                "the peer refused it (error {}): {}",
                response.error_code,
                response.error_message.as_ref().map_or("", |m| m.as_str())
            ));
        }
        Ok(response.auth_bytes.to_vec())
    }
}
