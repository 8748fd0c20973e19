//! `error`: every way a Kafka exchange can fail, typed.
//!
//! [`Error`] is what callers see; [`ConnectionFailure`] is why a connection stopped, shared
//! by every request that was waiting on it. Kafka's own error codes arrive as
//! [`Error::Kafka`] with the code's Kafka name (`NOT_CONTROLLER`) and the peer's message.

use std::io;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{StrBytes, VersionRange};

use crate::frame::{api_name, CodecError, FrameError};
use crate::versions::VersionChoice;

/// Why a connection stopped serving requests. Every request in flight on it, and every
/// later one, fails with the first failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectionFailure {
    #[error("closed by the peer")]
    PeerClosed,
    #[error("closed by this side")]
    Closed,
    #[error("reading: {0}")]
    Read(FrameError),
    #[error("writing: {0}")]
    Write(Arc<io::Error>),
    #[error("response with correlation id {received} while {expected} was next")]
    CorrelationMismatch { expected: i32, received: i32 },
    #[error("response frame with no request in flight")]
    UnexpectedResponse,
    #[error("bad response header: {0}")]
    BadHeader(CodecError),
    /// A request got no answer in time. Kafka answers in order on a connection, so nothing
    /// after it could be answered either: the connection is closed (as Kafka's clients do).
    #[error("{} v{version} (correlation id {correlation_id}) got no response within {timeout_ms} ms", api_name(*api_key))]
    RequestTimedOut {
        api_key: i16,
        version: i16,
        correlation_id: i32,
        timeout_ms: u64,
    },
}

/// The error of every call in this crate.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("connecting to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: Arc<io::Error>,
    },
    #[error("connecting to {addr}: no connection within {timeout_ms} ms")]
    ConnectTimeout { addr: String, timeout_ms: u64 },
    #[error("connection to {peer}: {failure}")]
    Connection {
        peer: Arc<str>,
        failure: ConnectionFailure,
    },
    #[error("{} v{version} to {peer}: no response within {timeout_ms} ms", api_name(*api_key))]
    RequestTimeout {
        peer: Arc<str>,
        api_key: i16,
        version: i16,
        timeout_ms: u64,
    },
    #[error("the peer does not support {api:?}")]
    UnsupportedApi { api: ApiKey },
    #[error("no version of {api:?} fits {choice:?}: the codec knows {ours}, the peer {peer}")]
    UnsupportedVersion {
        api: ApiKey,
        choice: VersionChoice,
        ours: VersionRange,
        peer: VersionRange,
    },
    #[error("{api:?} with acks=0 gets no response: send it with send_without_response")]
    NoResponseExpected { api: ApiKey },
    #[error("{api:?} gets a response: send_without_response is only for Produce with acks=0")]
    ResponseExpected { api: ApiKey },
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("{} ({}){}", kafka_name(error), error.code(), message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Kafka {
        error: ResponseError,
        message: Option<String>,
    },
    #[error("broker {node_id} is not in the cluster metadata")]
    UnknownNode { node_id: i32 },
    #[error("the cluster metadata names no controller")]
    NoController,
    #[error("the cluster metadata lists no brokers")]
    NoBrokers,
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("gave up after {attempts} attempts in {elapsed_ms} ms: {last}")]
    RetriesExhausted {
        attempts: u32,
        elapsed_ms: u64,
        last: Box<Error>,
    },
}

impl Error {
    /// `Ok(())` for error code 0 (NONE), else [`Error::Kafka`] with the code and message.
    pub fn check(error_code: i16, message: Option<&StrBytes>) -> Result<(), Error> {
        match ResponseError::try_from_code(error_code) {
            None => Ok(()),
            Some(error) => Err(Error::Kafka {
                error,
                message: message.map(|m| m.to_string()),
            }),
        }
    }

    /// The Kafka error code this error carries, if it came from the peer.
    pub fn kafka_error(&self) -> Option<ResponseError> {
        match self {
            Error::Kafka { error, .. } => Some(*error),
            Error::RetriesExhausted { last, .. } => last.kafka_error(),
            _ => None,
        }
    }

    /// The error of the last attempt: itself, or what the last try of
    /// [`Error::RetriesExhausted`] failed with. A caller that answers its own client with a
    /// Kafka error classifies this one (retries that ran out on a refused connection are
    /// still a network failure to the caller's client, who may retry later).
    pub fn last_attempt(&self) -> &Error {
        match self {
            Error::RetriesExhausted { last, .. } => last.last_attempt(),
            other => other,
        }
    }

    /// Would the same request, sent again (maybe elsewhere), possibly succeed? Connection
    /// failures, timeouts, metadata that is not there yet and Kafka's retriable error codes.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Connect { .. }
            | Error::ConnectTimeout { .. }
            | Error::Connection { .. }
            | Error::RequestTimeout { .. }
            | Error::UnknownNode { .. }
            | Error::NoController
            | Error::NoBrokers => true,
            Error::Kafka { error, .. } => error.is_retriable(),
            Error::UnsupportedApi { .. }
            | Error::UnsupportedVersion { .. }
            | Error::NoResponseExpected { .. }
            | Error::ResponseExpected { .. }
            | Error::Codec(_)
            | Error::Config(_)
            | Error::RetriesExhausted { .. } => false,
        }
    }

    /// Does this error mean the connection (or the peer behind it) is gone, so the next
    /// attempt should reconnect and look the peer up again?
    pub(crate) fn is_connection_error(&self) -> bool {
        matches!(
            self,
            Error::Connect { .. }
                | Error::ConnectTimeout { .. }
                | Error::Connection { .. }
                | Error::RequestTimeout { .. }
        )
    }

    /// Does this error mean the cluster metadata this client holds is out of date?
    pub(crate) fn means_stale_metadata(&self) -> bool {
        self.is_connection_error()
            || matches!(
                self,
                Error::UnknownNode { .. } | Error::NoController | Error::NoBrokers
            )
            || matches!(
                self.kafka_error(),
                Some(
                    ResponseError::NotController
                        | ResponseError::NotLeaderOrFollower
                        | ResponseError::LeaderNotAvailable
                        | ResponseError::NotCoordinator
                        | ResponseError::BrokerNotAvailable
                )
            )
    }
}

/// A Kafka error's name as Kafka spells it: `NotLeaderOrFollower` → `NOT_LEADER_OR_FOLLOWER`;
/// codes the codec does not know: `UNKNOWN_CODE`.
pub fn kafka_name(error: &ResponseError) -> String {
    if let ResponseError::Unknown(_) = error {
        return "UNKNOWN_CODE".to_string();
    }
    let camel = format!("{error:?}");
    let mut name = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_errors_read_as_kafka_names_them() {
        assert_eq!(
            kafka_name(&ResponseError::NotLeaderOrFollower),
            "NOT_LEADER_OR_FOLLOWER"
        );
        assert_eq!(
            kafka_name(&ResponseError::UnknownTopicOrPartition),
            "UNKNOWN_TOPIC_OR_PARTITION"
        );
        let e = Error::check(41, Some(&StrBytes::from_static_str("ask broker 2")))
            .expect_err("41 is an error");
        assert_eq!(e.to_string(), "NOT_CONTROLLER (41): ask broker 2");
        assert!(e.is_retriable() && e.means_stale_metadata());
        assert_eq!(
            Error::check(1000, None)
                .expect_err("unknown code")
                .to_string(),
            "UNKNOWN_CODE (1000)"
        );
        assert!(Error::check(0, None).is_ok());
    }

    #[test]
    fn exhausted_retries_are_final_but_keep_the_kafka_code() {
        let e = Error::RetriesExhausted {
            attempts: 3,
            elapsed_ms: 10,
            last: Box::new(Error::Kafka {
                error: ResponseError::UnknownTopicOrPartition,
                message: None,
            }),
        };
        assert!(!e.is_retriable());
        assert_eq!(
            e.kafka_error(),
            Some(ResponseError::UnknownTopicOrPartition)
        );
    }

    #[test]
    fn the_last_attempt_of_exhausted_retries_says_what_failed() {
        let refused = Error::NoBrokers;
        let e = Error::RetriesExhausted {
            attempts: 4,
            elapsed_ms: 800,
            last: Box::new(refused),
        };
        assert!(!e.is_retriable(), "the retry loop itself stops");
        assert!(
            e.last_attempt().is_retriable(),
            "its last attempt failed on something a later request may get past"
        );
        assert!(matches!(e.last_attempt(), Error::NoBrokers));
        let plain = Error::Config("x".to_string());
        assert!(matches!(plain.last_attempt(), Error::Config(_)));
    }
}
