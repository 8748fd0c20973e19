//! Replication, broker side: the partitions this broker hosts and their roles.
//!
//! - `partition` — [`Partition`]: one hosted partition (its log, leader, leader epoch, high
//!   watermark, last stable offset, ISR size, min.insync.replicas).
//! - `manager` — [`ReplicaManager`]: turns metadata images into local partition state
//!   (creating, reconfiguring and deleting logs), appends produced batches as leader, writes
//!   transaction markers for the transaction coordinator
//!   ([`ReplicaManager::write_txn_markers`]), serves reads bounded by the high watermark (the
//!   last stable offset for read_committed, with the aborted transactions of the range), and
//!   wakes long-polling fetches when data arrives.
//!
//! Invariants: partition state changes only when a metadata image is applied (never by a
//! handler directly); the high watermark never exceeds the log end offset and never goes
//! backwards while this broker leads; all file I/O runs under `spawn_blocking`.

mod manager;
mod partition;

pub(crate) use manager::{ReplicaManager, TxnMarker};
pub(crate) use partition::Partition;
