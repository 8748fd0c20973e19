//! Committed offsets go with their topic (Kafka's `GroupCoordinator.onPartitionsDeleted`):
//! when an applied metadata image no longer has a topic — or has it under a new topic id,
//! re-created — every loaded shard appends tombstones for the groups' committed and pending
//! transactional offsets of that topic, so OffsetFetch stops answering them, a re-created
//! topic starts without the old topic's positions, and a reload does not bring them back.
//! A shard that is still loading keeps what it loads (Kafka's coordinators have the same
//! window). (Included into `coordinator` with `#[path]` for access to shard internals.)

use std::collections::BTreeSet;

use uuid::Uuid;

use super::*;
use crate::metadata::MetadataImage;

fn topic_ids(image: &MetadataImage) -> HashMap<String, Uuid> {
    image
        .topics
        .iter()
        .map(|(name, t)| (name.clone(), t.topic_id))
        .collect()
}

impl GroupCoordinator {
    /// Follows the applied images and deletes the offsets of every topic that disappears
    /// from one image to the next. Ends at shutdown.
    pub(super) async fn delete_offsets_of_deleted_topics(
        self: Arc<Self>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut images = self.quorum.subscribe();
        let mut known = topic_ids(&images.borrow_and_update());
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                changed = images.changed() => if changed.is_err() { return },
            }
            let current = topic_ids(&images.borrow_and_update());
            let deleted: HashSet<String> = known
                .iter()
                .filter(|(name, id)| current.get(*name) != Some(*id))
                .map(|(name, _)| name.clone())
                .collect();
            known = current;
            if deleted.is_empty() {
                continue;
            }
            for shard in self.shards.all() {
                self.delete_offsets_of_topics(&shard, &deleted).await;
            }
        }
    }

    /// Tombstones the offsets (committed and pending) of `topics` in one shard.
    async fn delete_offsets_of_topics(&self, shard: &Arc<Shard>, topics: &HashSet<String>) {
        let _write = shard.write_lock.lock().await;
        let mut records = Vec::new();
        let mut deleted: Vec<(String, u64, TopicPartition)> = Vec::new();
        {
            let st = shard.lock();
            if !st.is_loaded() {
                return;
            }
            for g in st.groups.values() {
                let mut partitions: BTreeSet<TopicPartition> = g
                    .offsets
                    .keys()
                    .filter(|tp| topics.contains(&tp.topic))
                    .cloned()
                    .collect();
                partitions.extend(
                    st.pending_txn_offsets
                        .partitions_of(&g.group_id)
                        .into_iter()
                        .filter(|(topic, _)| topics.contains(topic))
                        .map(|(topic, partition)| TopicPartition::new(topic, partition)),
                );
                for tp in partitions {
                    records.push(CoordinatorRecord::OffsetCommit {
                        group_id: g.group_id.clone(),
                        topic: tp.topic.clone(),
                        partition: tp.partition,
                        value: None,
                    });
                    deleted.push((g.group_id.clone(), g.incarnation, tp));
                }
            }
        }
        if records.is_empty() {
            return;
        }
        let base_offset = match self.append(shard, records).await {
            Ok(base) => base,
            Err(code) => {
                tracing::warn!(partition = shard.partition(), error = %code, "writing tombstones for offsets of deleted topics failed");
                return;
            }
        };
        let mut st = shard.lock();
        for (i, (group_id, _, tp)) in deleted.iter().enumerate() {
            st.pending_txn_offsets
                .supersede(group_id, tp, base_offset + i as i64);
        }
        for (group_id, incarnation, tp) in &deleted {
            if let Some(g) = st.group(group_id, *incarnation) {
                g.offsets.remove(tp);
            }
        }
        tracing::info!(
            partition = shard.partition(),
            offsets = deleted.len(),
            topics = ?topics,
            "deleted committed offsets of deleted topics"
        );
    }
}
