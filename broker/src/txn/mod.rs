//! Transactions, coordinator side (Kafka's `TransactionCoordinator` /
//! `TransactionStateManager`): transactional id → producer id/epoch, timeout, state and
//! partitions, persisted as Kafka-format records (`records`) in the compacted
//! `__transaction_state` topic, one in-memory shard per partition this broker leads
//! (COORDINATOR_LOAD_IN_PROGRESS until replayed).
//!
//! Invariants: a transactional id's shard is `abs(javaHashCode(id)) % partitions`; every state
//! change is appended to `__transaction_state` before it is applied in memory or answered;
//! all changes of a shard are serialized by its async write lock (held across the append and
//! the marker writes), the shard mutex is never held across an `.await`; a transaction in
//! PrepareCommit/PrepareAbort is completed (markers written, Complete* appended) by the request
//! that prepared it, or after a failure or restart by the background task.

mod coordinator;
mod producer_ids;
pub(crate) mod records;

pub(crate) use coordinator::{TransactionCoordinator, TxnConfig};
pub(crate) use producer_ids::{ProducerIdManager, PRODUCER_ID_BLOCK_SIZE};
pub(crate) use records::TxnState;

/// Kafka's internal topic of transaction state.
pub(crate) const TRANSACTION_STATE_TOPIC_NAME: &str = "__transaction_state";
