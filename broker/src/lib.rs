//! Ironlog broker: a Kafka-wire-compatible event streaming broker.
//!
//! Data flow: `server` accepts connections, `network` frames and decodes requests,
//! `handlers` execute them against the `replica::ReplicaManager` (partition data, backed
//! by `log`) and the `metadata` quorum (cluster metadata as a replicated log applied to an
//! immutable `MetadataImage`). See ARCHITECTURE.md for the code map and invariants.

mod coordinator_shards;
pub mod crash;
pub mod error;
pub mod frame;
pub mod group;
pub mod handlers;
pub mod log;
pub mod metadata;
pub mod network;
pub mod replica;
pub mod server;
pub mod txn;
pub mod types;
