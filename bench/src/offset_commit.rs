//! Offset commit rate of one group member (classic protocol), synchronous and asynchronous.
//!
//! Each commit carries a new offset for every assigned partition: the bench stores offset
//! `i` for each partition (`store_offset`, which commits `i + 1`) and then calls
//! `commit_consumer_state`; `i` rises across both modes because librdkafka skips a
//! partition whose stored offset is not above its committed one. The offsets lie beyond the
//! (empty) log; OffsetCommit does not check them against the log, as in Kafka.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::Offset;

use crate::clients;
use crate::error::BenchError;
use crate::scenario::OffsetCommitSpec;

/// Bound on joining the group and getting every partition assigned.
const JOIN_TIMEOUT_MS: u64 = 60_000;
/// Consumer poll wait while joining.
const JOIN_POLL_MS: u64 = 50;
/// Bound on reading back the committed offsets.
const COMMITTED_TIMEOUT_MS: u64 = 10_000;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CommitRate {
    pub(crate) committed: u64,
    pub(crate) failed: u64,
    pub(crate) elapsed: Duration,
    pub(crate) first_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OffsetCommitResult {
    pub(crate) sync: CommitRate,
    pub(crate) async_: CommitRate,
}

pub(crate) fn run(
    bootstrap: &str,
    topic: &str,
    spec: &OffsetCommitSpec,
    replication_factor: i32,
) -> Result<OffsetCommitResult, BenchError> {
    clients::create_topics(
        bootstrap,
        &[topic.to_string()],
        spec.partitions,
        replication_factor,
    )?;
    let consumer = joined_consumer(bootstrap, topic, spec.partitions)?;
    // librdkafka commits a partition only when its stored offset is above the committed
    // one, so offsets keep rising across both modes.
    let mut offset = 0;
    let sync = commit_sync(&consumer, topic, spec, &mut offset)?;
    let async_ = commit_async(&consumer, topic, spec, &mut offset)?;
    Ok(OffsetCommitResult { sync, async_ })
}

/// A consumer in group `{topic}-commits` that owns all `partitions` partitions.
fn joined_consumer(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
) -> Result<BaseConsumer, BenchError> {
    let mut config = clients::base_config(bootstrap);
    config
        .set("group.id", format!("{topic}-commits"))
        .set("group.protocol", "classic")
        .set("partition.assignment.strategy", "range")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "latest");
    let consumer: BaseConsumer = config.create()?;
    consumer.subscribe(&[topic])?;
    let started = Instant::now();
    let expected = partitions.unsigned_abs() as usize;
    for _ in 0..JOIN_TIMEOUT_MS / JOIN_POLL_MS + 1 {
        let assigned = consumer
            .assignment()
            .map(|tpl| tpl.elements_for_topic(topic).len())
            .unwrap_or(0);
        if assigned == expected {
            return Ok(consumer);
        }
        if started.elapsed() >= Duration::from_millis(JOIN_TIMEOUT_MS) {
            break;
        }
        match consumer.poll(Duration::from_millis(JOIN_POLL_MS)) {
            None | Some(Ok(_)) | Some(Err(KafkaError::PartitionEOF(_))) => {}
            Some(Err(e)) => tracing::debug!(error = %e, "consumer error while joining"),
        }
    }
    Err(BenchError::Timeout {
        what: format!("consumer to join group {topic}-commits and own {expected} partitions"),
        waited_ms: started.elapsed().as_millis(),
    })
}

/// Stores offset `offset` for every partition, for the next `commit_consumer_state`
/// (which commits `offset + 1`, the position after that record).
fn store_offsets(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: i32,
    offset: i64,
) -> Result<(), BenchError> {
    for partition in 0..partitions {
        consumer.store_offset(topic, partition, offset)?;
    }
    Ok(())
}

/// Commits one new offset at a time, waiting for each; `offset` is the last offset stored.
fn commit_sync(
    consumer: &BaseConsumer,
    topic: &str,
    spec: &OffsetCommitSpec,
    offset: &mut i64,
) -> Result<CommitRate, BenchError> {
    let started = Instant::now();
    let deadline = started + spec.duration;
    let mut committed = 0;
    let mut failed = 0;
    let mut first_error = None;
    let mut last_committed = None;
    for _ in 0..spec.commits_max {
        if Instant::now() >= deadline {
            break;
        }
        *offset += 1;
        store_offsets(consumer, topic, spec.partitions, *offset)?;
        match consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => {
                committed += 1;
                last_committed = Some(*offset);
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    let elapsed = started.elapsed();
    if let Some(last) = last_committed {
        if let Some(mismatch) = committed_offsets_mismatch(consumer, topic, last)? {
            first_error.get_or_insert(mismatch);
        }
    }
    Ok(CommitRate {
        committed,
        failed,
        elapsed,
        first_error,
    })
}

/// Issues `async_in_flight_max` asynchronous commits back to back, then one synchronous
/// commit: librdkafka gives no result for an asynchronous `commit_consumer_state` when the
/// consumer uses the event API (rust-rdkafka's `BaseConsumer` does), but the coordinator
/// answers one connection's requests in order, so the synchronous commit's answer means
/// every earlier one was answered. The committed offsets are checked at the end.
fn commit_async(
    consumer: &BaseConsumer,
    topic: &str,
    spec: &OffsetCommitSpec,
    offset: &mut i64,
) -> Result<CommitRate, BenchError> {
    let started = Instant::now();
    let deadline = started + spec.duration;
    let mut committed: u64 = 0;
    let mut failed: u64 = 0;
    let mut first_error = None;
    let rounds_max = spec.commits_max / (spec.async_in_flight_max + 1) + 1;
    for _ in 0..rounds_max {
        if Instant::now() >= deadline {
            break;
        }
        let mut issued = 0;
        for _ in 0..spec.async_in_flight_max {
            *offset += 1;
            store_offsets(consumer, topic, spec.partitions, *offset)?;
            match consumer.commit_consumer_state(CommitMode::Async) {
                Ok(()) => issued += 1,
                Err(e) => {
                    failed += 1;
                    first_error.get_or_insert_with(|| e.to_string());
                }
            }
        }
        *offset += 1;
        store_offsets(consumer, topic, spec.partitions, *offset)?;
        match consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => committed += issued + 1,
            Err(e) => {
                failed += issued + 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    let elapsed = started.elapsed();
    if let Some(mismatch) = committed_offsets_mismatch(consumer, topic, *offset)? {
        first_error.get_or_insert(mismatch);
    }
    Ok(CommitRate {
        committed,
        failed,
        elapsed,
        first_error,
    })
}

/// `Some(description)` when a partition's committed offset is not the one that follows
/// `stored` (`store_offset` takes a record's offset and commits the next one).
fn committed_offsets_mismatch(
    consumer: &BaseConsumer,
    topic: &str,
    stored: i64,
) -> Result<Option<String>, BenchError> {
    let expected = stored + 1;
    let committed = consumer.committed(Duration::from_millis(COMMITTED_TIMEOUT_MS))?;
    Ok(committed
        .elements_for_topic(topic)
        .iter()
        .find(|e| e.offset() != Offset::Offset(expected))
        .map(|e| {
            format!(
                "partition {} has committed offset {:?}, expected {expected}",
                e.partition(),
                e.offset()
            )
        }))
}
