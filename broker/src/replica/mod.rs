//! Replication, broker side: the partitions this broker hosts and their roles.
//!
//! - `partition` — [`Partition`]: one hosted partition: its log, its replica set (leader,
//!   leader and partition epochs, replicas, ISR), the leader's view of its followers and
//!   the high watermark rule; follower-side log changes at the fetcher's epoch.
//! - `manager` — [`ReplicaManager`]: turns metadata images into local partition state
//!   (creating, reconfiguring and deleting logs; starting and stopping fetchers), appends
//!   produced batches as leader, writes transaction markers for the transaction coordinator
//!   ([`ReplicaManager::write_txn_markers`]), serves reads (followers to the log end,
//!   consumers below the high watermark, read_committed below the last stable offset), and
//!   wakes long-polling fetches when data arrives or becomes visible.
//! - `delayed_produce` — the acks=all purgatory.
//! - `fetcher` — the replica fetchers (follower side), one task per source broker.
//! - `isr` — ISR shrink and expansion through the controller.
//! - `selector` — fetch from the closest replica (KIP-392): the follower a leader names as
//!   a consumer's preferred read replica (`replica.selector.class` rack-aware).
//! - `quota` — the replication throttles (leader and follower side), taken from each
//!   applied image.
//!
//! Invariants: partition roles change only when a metadata image is applied (never by a
//! handler directly; an ISR change goes through the controller); the high watermark never
//! exceeds the log end offset and never goes backwards while this broker leads; all file
//! I/O runs under `spawn_blocking`.

mod delayed_produce;
mod fetcher;
mod isr;
mod manager;
mod partition;
mod quota;
mod selector;
#[cfg(test)]
mod test_support;

pub(crate) use manager::{FetchIsolation, ReplicaManager, TxnMarker};
pub(crate) use partition::Partition;
pub(crate) use selector::preferred_read_replica;
