//! Transactional offset commits (TxnOffsetCommit) on the group side, as Kafka does them: the
//! offsets are appended to the group's `__consumer_offsets` partition as a transactional
//! batch of the producer (so they are durable before the request is answered) and held as
//! *pending* in the shard; the transaction's marker on that partition (AddOffsetsToTxn made
//! it part of the transaction) completes them — COMMIT makes them the group's committed
//! offsets, ABORT drops them. Loading a shard replays the same rules from the log, so a
//! crash anywhere between TxnOffsetCommit and the marker loses nothing: the records are in
//! the log and the coordinator's completion writes the marker after the restart.
//!
//! Ordering follows the log (Kafka's `CommitRecordMetadataAndOffset.olderThan`): a pending
//! offset that completes only replaces a committed one appended before it, so a plain
//! OffsetCommit appended after a TxnOffsetCommit wins over it, and of two transactions the
//! later-appended offset wins whatever the commit order. (Included into `coordinator` with
//! `#[path]` for access to shard internals.)

use super::*;
use crate::log::TxnVerification;
use crate::replica::TxnMarker;

/// A transactional offset awaiting its transaction's marker.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct PendingTxnOffset {
    pub(super) value: OffsetCommitValue,
    /// Where its record sits in `__consumer_offsets` (orders it against other commits).
    pub(super) log_offset: i64,
}

/// A shard's pending transactional offsets: producer id → group → partition.
#[derive(Debug, Default)]
pub(in crate::group) struct PendingTxnOffsets {
    by_producer: HashMap<i64, HashMap<String, HashMap<TopicPartition, PendingTxnOffset>>>,
}

impl PendingTxnOffsets {
    /// Records a transactional offset commit of `producer_id` appended at `log_offset`.
    pub(super) fn add(
        &mut self,
        producer_id: i64,
        group_id: &str,
        tp: TopicPartition,
        value: OffsetCommitValue,
        log_offset: i64,
    ) {
        self.by_producer
            .entry(producer_id)
            .or_default()
            .entry(group_id.to_owned())
            .or_default()
            .insert(tp, PendingTxnOffset { value, log_offset });
    }

    /// A commit of (`group_id`, `tp`) appended at `log_offset` became visible: pending
    /// offsets appended before it can no longer win and are forgotten.
    pub(super) fn supersede(&mut self, group_id: &str, tp: &TopicPartition, log_offset: i64) {
        for groups in self.by_producer.values_mut() {
            if let Some(partitions) = groups.get_mut(group_id) {
                if partitions
                    .get(tp)
                    .is_some_and(|p| p.log_offset < log_offset)
                {
                    partitions.remove(tp);
                }
                if partitions.is_empty() {
                    groups.remove(group_id);
                }
            }
        }
        self.by_producer.retain(|_, groups| !groups.is_empty());
    }

    /// Ends `producer_id`'s transaction: on commit returns its offsets (group, partition,
    /// value) to make visible, in log order; on abort drops them and returns nothing.
    pub(super) fn complete(
        &mut self,
        producer_id: i64,
        commit: bool,
    ) -> Vec<(String, TopicPartition, OffsetCommitValue)> {
        let Some(groups) = self.by_producer.remove(&producer_id) else {
            return Vec::new();
        };
        if !commit {
            return Vec::new();
        }
        let mut out: Vec<(String, TopicPartition, PendingTxnOffset)> = groups
            .into_iter()
            .flat_map(|(group_id, partitions)| {
                partitions
                    .into_iter()
                    .map(move |(tp, pending)| (group_id.clone(), tp, pending))
            })
            .collect();
        out.sort_by_key(|(_, _, p)| p.log_offset);
        for (group_id, tp, pending) in &out {
            self.supersede(group_id, tp, pending.log_offset);
        }
        out.into_iter()
            .map(|(group_id, tp, pending)| (group_id, tp, pending.value))
            .collect()
    }

    /// Partitions of `group_id` with an offset in a transaction not completed yet.
    pub(super) fn partitions_of(&self, group_id: &str) -> HashSet<(String, i32)> {
        self.by_producer
            .values()
            .filter_map(|groups| groups.get(group_id))
            .flat_map(|partitions| partitions.keys())
            .map(|tp| (tp.topic.clone(), tp.partition))
            .collect()
    }

    pub(super) fn producer_count(&self) -> usize {
        self.by_producer.len()
    }
}

impl GroupCoordinator {
    /// TxnOffsetCommit's group checks: this broker coordinates the group (loaded), and a
    /// member/generation given by the client is current.
    pub(crate) fn validate_txn_offset_commit(
        &self,
        group_id: &str,
        member_id: &str,
        generation_id: i32,
        group_instance_id: Option<&str>,
    ) -> Result<(), ResponseError> {
        if group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        let shard = self.shard_for(group_id)?;
        let st = shard.lock();
        let Some(group) = st.groups.get(group_id) else {
            // Kafka accepts commits for a group without members (generation -1).
            return if generation_id < 0 {
                Ok(())
            } else {
                Err(ResponseError::IllegalGeneration)
            };
        };
        match &group.consumer {
            // A consumer-protocol (KIP-848) group: the generation is the member epoch. As
            // Kafka, a stale epoch in a transactional commit is ILLEGAL_GENERATION (the
            // classic error every TxnOffsetCommit version carries).
            Some(cg) => cg
                .validate_offset_commit(member_id, group_instance_id, generation_id, true, 0)
                .map_err(|e| match e {
                    ResponseError::StaleMemberEpoch => ResponseError::IllegalGeneration,
                    other => other,
                }),
            None => group.validate_offset_commit(member_id, group_instance_id, generation_id, true),
        }
    }

    /// TxnOffsetCommit's write: appends the offsets as a transactional batch of
    /// `producer_id`/`producer_epoch` to the group's partition (answered once appended) and
    /// holds them as pending until the transaction's marker. The caller (the transaction
    /// coordinator) has checked that the group's partition is part of the producer's ongoing
    /// transaction and keeps its markers out until this returns — in process under the
    /// transaction's write lock (`TxnVerification::Off`), or, when the coordinator is
    /// another broker, by the verification guard the partition handed out before the check
    /// (a marker meanwhile voids it and the append is INVALID_TXN_STATE).
    pub(crate) async fn txn_offset_commit(
        &self,
        group_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        offsets: Vec<(TopicPartition, OffsetCommitValue)>,
        verification: TxnVerification,
    ) -> Result<(), ResponseError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let shard = self.shard_for(group_id)?;
        let _write = shard.write_lock.lock().await;
        let records: Vec<CoordinatorRecord> = offsets
            .iter()
            .map(|(tp, value)| CoordinatorRecord::OffsetCommit {
                group_id: group_id.to_owned(),
                topic: tp.topic.clone(),
                partition: tp.partition,
                value: Some(value.clone()),
            })
            .collect();
        let batch = records::encode_txn_batch(
            &records,
            self.config.offsets_topic_compression,
            now_ms(),
            producer_id,
            producer_epoch,
        )
        .map_err(|e| {
            tracing::error!(error = %e, "encoding transactional offset records failed");
            ResponseError::UnknownServerError
        })?;
        let base_offset = match self
            .append_batch_verified(&shard, batch, verification)
            .await
        {
            Ok(base) => base,
            // The partition saw a newer epoch of this producer: it is a zombie.
            Err(ResponseError::InvalidProducerEpoch) => return Err(ResponseError::ProducerFenced),
            Err(e) => return Err(e),
        };
        let incarnation = self.next_incarnation();
        let mut st = shard.lock();
        if st.is_closed() {
            return Err(ResponseError::NotCoordinator);
        }
        // Like a plain commit with generation -1, a transactional one creates the group.
        st.groups
            .entry(group_id.to_owned())
            .or_insert_with(|| ClassicGroup::new(group_id.to_owned(), incarnation, now_ms()));
        for (i, (tp, value)) in offsets.into_iter().enumerate() {
            st.pending_txn_offsets
                .add(producer_id, group_id, tp, value, base_offset + i as i64);
        }
        Ok(())
    }

    /// Partitions of `group_id` with offsets in a transaction that has not completed
    /// (OffsetFetch with require_stable answers them with UNSTABLE_OFFSET_COMMIT).
    pub(crate) fn pending_txn_offset_partitions(&self, group_id: &str) -> HashSet<(String, i32)> {
        match self.shard_for(group_id) {
            Ok(shard) => shard.lock().pending_txn_offsets.partitions_of(group_id),
            Err(_) => HashSet::new(),
        }
    }

    /// Writes transaction markers ([`ReplicaManager::write_txn_markers`]; results in input
    /// order) and completes the pending offsets of every `__consumer_offsets` partition
    /// whose marker was written — the one path by which markers are written, for the
    /// in-process transaction coordinator and for WriteTxnMarkers alike.
    pub(crate) async fn write_txn_markers(
        &self,
        markers: Vec<TxnMarker>,
    ) -> Vec<(i64, TopicPartition, Result<(), ApiError>)> {
        let outcomes: Vec<bool> = markers
            .iter()
            .flat_map(|m| m.partitions.iter().map(move |_| m.commit))
            .collect();
        let results = self.replicas.write_txn_markers(markers).await;
        for ((producer_id, tp, result), commit) in results.iter().zip(outcomes) {
            if result.is_ok() && tp.topic == GROUP_METADATA_TOPIC_NAME {
                self.complete_txn_offsets(tp.partition, *producer_id, commit)
                    .await;
            }
        }
        results
    }

    /// A marker ending `producer_id`'s transaction was written to `__consumer_offsets`
    /// partition `partition`: its pending offsets become committed (or are dropped). A
    /// shard not loaded yet replays the marker from the log instead (its loader holds the
    /// write lock while it reads).
    async fn complete_txn_offsets(&self, partition: i32, producer_id: i64, commit: bool) {
        let Some(shard) = self.shards.get(partition) else {
            return;
        };
        let _write = shard.write_lock.lock().await;
        let incarnation = self.next_incarnation();
        let mut st = shard.lock();
        if st.is_closed() || !st.is_loaded() {
            return;
        }
        let done = st.pending_txn_offsets.complete(producer_id, commit);
        if done.is_empty() {
            return;
        }
        tracing::debug!(
            partition,
            producer_id,
            offsets = done.len(),
            "transactional offsets committed"
        );
        for (group_id, tp, value) in done {
            let group = st
                .groups
                .entry(group_id.clone())
                .or_insert_with(|| ClassicGroup::new(group_id, incarnation, now_ms()));
            group.offsets.insert(tp, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(offset: i64) -> OffsetCommitValue {
        OffsetCommitValue {
            offset,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: 0,
            expire_timestamp_ms: None,
        }
    }

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    #[test]
    fn commit_returns_the_offsets_and_abort_drops_them() {
        let mut pending = PendingTxnOffsets::default();
        pending.add(1, "g", tp(0), value(10), 100);
        pending.add(1, "g", tp(1), value(11), 101);
        pending.add(2, "g", tp(2), value(12), 102);
        assert_eq!(
            pending.partitions_of("g"),
            [0, 1, 2].iter().map(|p| ("t".to_owned(), *p)).collect()
        );
        let committed = pending.complete(1, true);
        assert_eq!(
            committed,
            vec![
                ("g".to_owned(), tp(0), value(10)),
                ("g".to_owned(), tp(1), value(11))
            ]
        );
        assert!(pending.complete(2, false).is_empty());
        assert_eq!(pending.producer_count(), 0);
        assert!(pending.complete(2, true).is_empty(), "completed once");
    }

    #[test]
    fn a_later_commit_supersedes_an_earlier_pending_offset() {
        let mut pending = PendingTxnOffsets::default();
        pending.add(1, "g", tp(0), value(10), 100);
        // A plain OffsetCommit appended at 105 wins over the transaction's offset.
        pending.supersede("g", &tp(0), 105);
        assert!(pending.complete(1, true).is_empty());

        // Two transactions on one partition: the later-appended offset wins whichever
        // commits first.
        pending.add(1, "g", tp(0), value(20), 200);
        pending.add(2, "g", tp(0), value(30), 210);
        assert_eq!(
            pending.complete(2, true),
            vec![("g".into(), tp(0), value(30))]
        );
        assert!(pending.complete(1, true).is_empty());

        pending.add(1, "g", tp(0), value(40), 300);
        pending.add(2, "g", tp(0), value(50), 310);
        assert_eq!(
            pending.complete(1, true),
            vec![("g".into(), tp(0), value(40))]
        );
        assert_eq!(
            pending.complete(2, true),
            vec![("g".into(), tp(0), value(50))]
        );
        // Another group's offsets are independent.
        pending.add(3, "h", tp(0), value(1), 400);
        pending.supersede("g", &tp(0), 500);
        assert_eq!(pending.partitions_of("h").len(), 1);
    }
}
