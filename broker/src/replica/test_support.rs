//! Partitions for the replica layer's unit tests: t-0 on replicas 1, 2, 3, led by node 1.

use std::sync::Arc;

use tokio::sync::Notify;

use super::Partition;
use crate::log::{AppendOrigin, FileCache, Log, LogConfig, TxnVerification};
use crate::metadata::PartitionRegistration;
use crate::types::{now_ms, TopicPartition};

/// t-0's registration: replicas 1, 2, 3, the given leader, epochs and ISR.
pub(crate) fn registration(
    leader: i32,
    leader_epoch: i32,
    partition_epoch: i32,
    isr: &[i32],
) -> PartitionRegistration {
    PartitionRegistration {
        replicas: vec![1, 2, 3],
        isr: isr.to_vec(),
        leader,
        leader_epoch,
        partition_epoch,
        adding_replicas: vec![],
        removing_replicas: vec![],
        elr: vec![],
        last_known_elr: vec![],
    }
}

/// `tp` (topic `topic_id`) in `dir` on node 1 (this node) with `min.insync.replicas`
/// `min_isr`, before any registration.
pub(crate) fn partition_in(
    dir: &std::path::Path,
    tp: TopicPartition,
    topic_id: uuid::Uuid,
    min_isr: i32,
) -> Arc<Partition> {
    let log = Log::open(
        dir.to_path_buf(),
        LogConfig::default(),
        0,
        0,
        true,
        FileCache::new(16),
    )
    .expect("log");
    Arc::new(Partition::new(
        tp,
        topic_id,
        Arc::new(log),
        1,
        min_isr,
        Arc::new(Notify::new()),
    ))
}

/// t-0 in `dir`, led by node 1 (this node) with the given ISR and `min.insync.replicas`.
pub(crate) fn led_partition(dir: &std::path::Path, isr: &[i32], min_isr: i32) -> Arc<Partition> {
    let p = partition_in(
        dir,
        TopicPartition::new("t", 0),
        uuid::Uuid::new_v4(),
        min_isr,
    );
    p.apply_registration(&registration(1, 0, 0, isr), now_ms());
    p
}

/// Appends `records` records to `p` as its leader; the offset after the last one.
pub(crate) fn append_as_leader(p: &Partition, records: usize) -> i64 {
    let batch = crate::log::batch::test_support::batch(records, 1_000);
    let info = p
        .log
        .append_as_leader_from(
            &batch,
            p.leader_epoch(),
            1_000,
            AppendOrigin::Client,
            TxnVerification::Off,
        )
        .expect("append");
    info.last_offset + 1
}
