//! Ironlog broker: a Kafka-wire-compatible event streaming broker.
//!
//! Data flow: `server` accepts connections, `network` frames and decodes requests,
//! `handlers` execute them against the `replica::ReplicaManager` (partition data, backed
//! by `log`) and the `metadata` quorum (cluster metadata as a replicated log applied to an
//! immutable `MetadataImage`). See ARCHITECTURE.md for the code map and invariants.
//!
//! The library exists for the binary: it exposes [`start`] and [`RunningBroker`], the
//! canary's [`run_canary`] and its settings, and nothing else. Integration tests drive the binary over the wire.

#![warn(unreachable_pub)]

mod admin;
mod canary;
mod client_quota;
mod connection_quota;
mod coordinator_shards;
mod crash;
mod error;
mod frame;
mod group;
mod handlers;
mod inter_broker;
mod lifecycle;
mod log;
mod logging;
mod metadata;
mod metrics;
mod network;
mod quota;
mod replica;
mod security;
mod server;
mod storage_format;
mod txn;
mod types;

pub use canary::{
    run as run_canary, CanaryConfig, CanaryConfigError, CanaryError, CANARY_SETTINGS,
};
pub use logging::init_logging;
pub use server::{start, RunningBroker, ServerError};
pub use storage_format::{format_storage, random_uuid, FormatError, FormatOutcome, FormatRequest};
