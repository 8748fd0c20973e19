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
//! Proposals go through the broker's `ControllerClient` (AlterPartition, API 56, to the
//! active controller; in process when that is this node) with this broker's epoch and the
//! broker epochs the ISR's followers fetched with. A follower joins only while it is
//! unfenced and fetches with the epoch of its live registration (Kafka's
//! `isReplicaIsrEligible`), so a broker that restarted rejoins by catching up anew.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Partition, ReplicaManager};
use crate::error::{ApiError, ResponseError};
use crate::metadata::{IsrChange, LeaderAndIsr};
use crate::types::now_ms;

impl ReplicaManager {
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
        let image = self.metadata.borrow().clone();
        let eligible = |replica: i32, fetched_epoch: i64| {
            image
                .brokers
                .get(&replica)
                .is_some_and(|b| !b.fenced && (fetched_epoch == -1 || fetched_epoch == b.epoch))
        };
        if let Some(isr) = p.expanded_isr(now_ms(), self.replica_lag_time_max_ms, eligible) {
            tracing::info!(partition = %p.tp, isr = ?isr, "expanding the ISR: a follower caught up");
            self.propose_isr(p, isr);
        }
    }

    /// Sends one ISR proposal in the background (at most one per partition in flight).
    fn propose_isr(&self, p: &Arc<Partition>, isr: Vec<i32>) {
        let Some((leader_epoch, partition_epoch)) = p.begin_isr_change(&isr) else {
            return;
        };
        let client = self.controller_client.clone();
        let broker_epoch = client.as_ref().map_or(-1, |c| c.broker_epoch());
        let mut new_isr_broker_epochs = p.follower_broker_epochs(&isr);
        new_isr_broker_epochs.insert(self.node_id(), broker_epoch);
        let change = IsrChange {
            broker_id: self.node_id(),
            broker_epoch,
            topic_id: p.topic_id,
            partition: p.tp.partition,
            leader_epoch,
            partition_epoch,
            new_isr: isr,
            new_isr_broker_epochs,
        };
        let p = Arc::clone(p);
        tokio::spawn(async move {
            match send_isr_change(client, change).await {
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

async fn send_isr_change(
    client: Option<Arc<crate::metadata::ControllerClient>>,
    change: IsrChange,
) -> Result<LeaderAndIsr, ApiError> {
    match client {
        Some(client) => client.alter_partition(change).await,
        None => Err(ApiError::new(
            ResponseError::NotController,
            "this replica manager has no controller client",
        )),
    }
}
