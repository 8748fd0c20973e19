//! Kafka framing and a bounded async Kafka client over the `kafka-protocol` codec.
//!
//! - [`frame`]: size-prefixed frames with a maximum size ([`FrameReader`]), request and
//!   response headers — for clients and for a server's connection loop alike.
//! - [`Connection`]: one connection (TCP, or any stream such as TLS) with correlation ids,
//!   pipelining up to a bound, ApiVersions negotiation at start, per-request timeouts, and a
//!   failure reported to every waiter.
//! - [`Connector`]: how a connection's stream is opened ([`TcpConnector`] by default; the
//!   seam for TLS and SASL between nodes).
//! - [`tls`]: the client side of TLS ([`tls::TlsClient`], a rustls config from PEM or
//!   parsed certificates; [`tls::TlsConnector`] for SSL listeners), shared by the nodes'
//!   own connections and the operator's admin client.
//! - [`Client`]: requests by [`Target`] (any broker, a node, the controller) over one
//!   reused connection per node, with metadata discovery and bounded retries.
//! - [`creatable_topic_configs`]: request parts every client builds the same way.
//!
//! This crate knows no broker state: it speaks the protocol and nothing else. Encoding and
//! decoding are the `kafka-protocol` crate's; every wait, queue and retry has a limit.

pub mod frame;
pub mod sasl;
pub mod scram;
pub mod tls;

mod client;
mod connection;
mod connector;
mod error;
mod requests;
mod retry;
mod versions;

pub use client::{Client, ClientConfig, ClientStats, ClusterView, Node, Target};
pub use connection::{
    Connection, ConnectionConfig, RawRequest, RawResponse, SendOptions, MAX_IN_FLIGHT_LIMIT,
};
pub use connector::{ConnectFuture, Connector, Stream, TcpConnector};
pub use error::{kafka_name, ConnectionFailure, Error};
pub use frame::{CodecError, FrameError, FrameReader};
pub use requests::creatable_topic_configs;
pub use retry::RetryPolicy;
pub use versions::{ApiVersionTable, VersionChoice};

/// The codec this crate speaks, re-exported so users build requests with the same version.
pub use kafka_protocol;
