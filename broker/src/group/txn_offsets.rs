//! Transactional offset commits (TxnOffsetCommit) on the group side. The transaction
//! coordinator holds a transaction's offsets as pending until its EndTxn: on commit it calls
//! [`GroupCoordinator::commit_transactional_offsets`] after the markers were written (the
//! offsets then become visible to OffsetFetch); on abort they are dropped and never reach
//! the group. (Included into `coordinator` with `#[path]` for access to shard internals.)

use super::*;

impl GroupCoordinator {
    /// TxnOffsetCommit's group checks: this broker coordinates the group (loaded), and a
    /// member/generation given by the client is current.
    pub fn validate_txn_offset_commit(
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
        if generation_id >= 0 || !member_id.is_empty() || group_instance_id.is_some() {
            validate_member(group, member_id, group_instance_id)?;
            if generation_id != group.generation_id {
                return Err(ResponseError::IllegalGeneration);
            }
        }
        Ok(())
    }

    /// Makes a committed transaction's offsets durable and visible (creating the group's
    /// offsets-only entry if the group does not exist).
    pub async fn commit_transactional_offsets(
        &self,
        group_id: &str,
        offsets: Vec<(TopicPartition, OffsetCommitValue)>,
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
        self.append(&shard, records).await?;
        let now = now_ms();
        let incarnation = self.next_incarnation();
        let mut st = shard.lock();
        if st.closed {
            return Err(ResponseError::NotCoordinator);
        }
        let group = st
            .groups
            .entry(group_id.to_owned())
            .or_insert_with(|| ClassicGroup::new(group_id.to_owned(), incarnation, now));
        for (tp, value) in offsets {
            group.offsets.insert(tp, value);
        }
        Ok(())
    }
}
