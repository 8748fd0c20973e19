//! ISR changes, leader side (Kafka's `Partition.maybeShrinkIsr` / `maybeExpandIsr` and the
//! `AlterPartitionManager`): a follower that has not caught up for
//! `replica.lag.time.max.ms` leaves the ISR, one that fetched up to the high watermark (and
//! past the start of this leader's epoch) rejoins it — each as an AlterPartition proposal to
//! the controller at the leader and partition epochs this leader knows. The controller
//! commits a `PartitionChange`; the ISR takes effect when that image is applied. While a
//! proposal is in flight the partition proposes nothing else and its high watermark counts
//! the ISR with the proposed additions (Kafka's maximal ISR), so a replica is never in the
//! committed ISR without having had every record below the high watermark.
//!
//! The channel to the controller is the in-process `Controller` (a single node is its own
//! active controller); in a cluster whose active controller is elsewhere the proposal must
//! travel as AlterPartition (API 56) through the broker's `ControllerClient` — the one
//! seam to change is `send_isr_change`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Partition, ReplicaManager};
use crate::error::{ApiError, ResponseError};
use crate::metadata::{Controller, IsrChange, PartitionRegistration};
use crate::types::now_ms;

impl ReplicaManager {
    /// Installs where ISR changes go (the controller; see the module doc).
    pub(crate) fn set_isr_channel(&self, controller: Arc<Controller>) {
        let _ = self.isr_channel.set(controller);
    }

    /// Checks every led partition for out-of-sync followers each half
    /// `replica.lag.time.max.ms` (as Kafka's `isr-expiration` task), until shutdown.
    pub(crate) fn start_isr_expiration(
        self: &Arc<Self>,
        mut shutdown: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let period = Duration::from_millis((this.replica_lag_time_max_ms / 2).max(10) as u64);
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.changed() => return,
                    _ = tick.tick() => {}
                }
                let now = now_ms();
                for p in this.partitions() {
                    if let Some(isr) = p.shrunk_isr(now, this.replica_lag_time_max_ms) {
                        tracing::info!(partition = %p.tp, isr = ?isr, "shrinking the ISR: followers fell behind");
                        this.propose_isr(&p, isr);
                    }
                }
            }
        })
    }

    /// After a follower's fetch: proposes the ISR with every follower that caught up.
    pub(crate) fn maybe_expand_isr(&self, p: &Arc<Partition>) {
        if let Some(isr) = p.expanded_isr(now_ms(), self.replica_lag_time_max_ms) {
            tracing::info!(partition = %p.tp, isr = ?isr, "expanding the ISR: a follower caught up");
            self.propose_isr(p, isr);
        }
    }

    /// Sends one ISR proposal in the background (at most one per partition in flight).
    fn propose_isr(&self, p: &Arc<Partition>, isr: Vec<i32>) {
        let Some((leader_epoch, partition_epoch)) = p.begin_isr_change(&isr) else {
            return;
        };
        let change = IsrChange {
            broker_id: self.node_id(),
            topic_id: p.topic_id,
            partition: p.tp.partition,
            leader_epoch,
            partition_epoch,
            new_isr: isr,
        };
        let channel = self.isr_channel.get().cloned();
        let p = Arc::clone(p);
        tokio::spawn(async move {
            match send_isr_change(channel, change).await {
                // The new partition epoch's image ends the change (see `apply_registration`).
                Ok(registration) if registration.partition_epoch != partition_epoch => {}
                Ok(_) => p.end_isr_change(partition_epoch),
                Err(e) => {
                    tracing::warn!(partition = %p.tp, error = %e, "AlterPartition refused or failed");
                    p.end_isr_change(partition_epoch);
                }
            }
        });
    }
}

/// The seam to the active controller (module doc).
async fn send_isr_change(
    channel: Option<Arc<Controller>>,
    change: IsrChange,
) -> Result<PartitionRegistration, ApiError> {
    match channel {
        Some(controller) => controller.alter_partition(change).await,
        None => Err(ApiError::new(
            ResponseError::NotController,
            "no controller channel installed",
        )),
    }
}
