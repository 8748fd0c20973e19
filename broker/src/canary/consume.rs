//! `canary::consume`: one task per broker, long-polling the canary partitions that broker
//! leads (sessionless Fetch, topics by name, at each partition's tracked position) and
//! reporting every record of this run to its partition's tracker: consumed, duplicated,
//! out of order, and the acknowledged records the position passed without them (lost).
//!
//! OFFSET_OUT_OF_RANGE resets the position to the log start (when it is below it: records
//! were deleted) or to the log end (when above: the log was truncated); acknowledged
//! records below the new position that were not read are lost. Other errors count as a
//! failed fetch for each partition asked, ask for fresh metadata and back off.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ironlog_protocol::kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use ironlog_protocol::kafka_protocol::messages::fetch_response::PartitionData;
use ironlog_protocol::kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
use ironlog_protocol::kafka_protocol::protocol::StrBytes;
use ironlog_protocol::kafka_protocol::records::RecordBatchDecoder;
use ironlog_protocol::kafka_protocol::ResponseError;
use ironlog_protocol::{SendOptions, Target, VersionChoice};
use tokio::sync::watch;

use super::record::CanaryRecord;
use super::{now_ms, Canary, CanaryPartition};

/// How long a fetch waits at the broker for records.
pub(crate) const FETCH_MAX_WAIT: Duration = Duration::from_millis(500);
/// Fetch v12 names topics (v13 takes topic ids).
const FETCH_VERSION_MAX: i16 = 12;
/// Bytes per partition per fetch (canary records are about 100 bytes).
const PARTITION_MAX_BYTES: i32 = 1024 * 1024;
/// Wait after a failed fetch, and while this broker leads no canary partition.
const BACKOFF: Duration = Duration::from_millis(200);
/// ListOffsets' "earliest" and "latest" timestamps.
const EARLIEST: i64 = -2;
const LATEST: i64 = -1;

pub(crate) async fn consume_loop(
    canary: Arc<Canary>,
    broker: i32,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let partitions: Vec<(Arc<CanaryPartition>, i64)> = canary
            .led_by(broker)
            .into_iter()
            .filter_map(|p| {
                let position = p.tracker().position()?;
                Some((p, position))
            })
            .collect();
        if partitions.is_empty() {
            if pause(&mut shutdown, BACKOFF).await {
                return;
            }
            continue;
        }
        let sent_at = Instant::now();
        let fetched = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            r = fetch(&canary, broker, &partitions) => r,
        };
        let ok = match fetched {
            Ok(response) => {
                let mut all_ok = response.error_code == 0;
                for topic in &response.responses {
                    for data in &topic.partitions {
                        let Some((partition, position)) = partitions
                            .iter()
                            .find(|(p, _)| p.partition == data.partition_index)
                        else {
                            continue;
                        };
                        all_ok &=
                            handle(&canary, broker, partition, *position, sent_at, data).await;
                    }
                }
                if response.error_code != 0 {
                    for (p, _) in &partitions {
                        p.metrics.fetch_failed(Some(broker));
                    }
                }
                all_ok
            }
            Err(e) => {
                tracing::warn!(broker, error = %e, "canary fetch failed");
                for (p, _) in &partitions {
                    p.metrics.fetch_failed(Some(broker));
                }
                false
            }
        };
        if !ok {
            canary.refresh_metadata();
            if pause(&mut shutdown, BACKOFF).await {
                return;
            }
        }
    }
}

/// Sleeps `delay` unless shutdown comes first (then `true`).
async fn pause(shutdown: &mut watch::Receiver<bool>, delay: Duration) -> bool {
    tokio::select! {
        _ = shutdown.wait_for(|stop| *stop) => true,
        _ = tokio::time::sleep(delay) => false,
    }
}

async fn fetch(
    canary: &Canary,
    broker: i32,
    partitions: &[(Arc<CanaryPartition>, i64)],
) -> Result<ironlog_protocol::kafka_protocol::messages::FetchResponse, ironlog_protocol::Error> {
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(FETCH_MAX_WAIT.as_millis() as i32)
        .with_min_bytes(1)
        .with_max_bytes(8 * PARTITION_MAX_BYTES)
        .with_isolation_level(canary.config.isolation_level.wire())
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(
                canary.config.topic.clone(),
            )))
            .with_partitions(
                partitions
                    .iter()
                    .map(|(p, position)| {
                        FetchPartition::default()
                            .with_partition(p.partition)
                            .with_current_leader_epoch(-1)
                            .with_fetch_offset(*position)
                            .with_last_fetched_epoch(-1)
                            .with_log_start_offset(-1)
                            .with_partition_max_bytes(PARTITION_MAX_BYTES)
                    })
                    .collect(),
            )]);
    let options = SendOptions::default()
        .version(VersionChoice::AtMost(FETCH_VERSION_MAX))
        .timeout(canary.config.request_timeout + FETCH_MAX_WAIT);
    canary
        .consumer
        .send_with(Target::Node(broker), &request, options, Ok)
        .await
}

/// Applies one partition's part of a fetch; `false` when it failed.
async fn handle(
    canary: &Canary,
    broker: i32,
    partition: &CanaryPartition,
    position: i64,
    sent_at: Instant,
    data: &PartitionData,
) -> bool {
    if data.error_code == ResponseError::OffsetOutOfRange.code() {
        partition.metrics.fetch_failed(Some(broker));
        reset_position(canary, broker, partition, position).await;
        return true;
    }
    if data.error_code != 0 {
        tracing::warn!(
            partition = partition.partition,
            broker,
            error = %ironlog_protocol::Error::check(data.error_code, None).err().map(|e| e.to_string()).unwrap_or_default(),
            "canary fetch of a partition failed"
        );
        partition.metrics.fetch_failed(Some(broker));
        return false;
    }
    partition.metrics.fetched(Some(broker));
    read_records(
        canary,
        broker,
        partition,
        position,
        sent_at,
        data.records.clone().unwrap_or_default(),
    );
    true
}

/// Reports every record of this run at or after `position` of a fetch sent at `sent_at`,
/// then the new position.
fn read_records(
    canary: &Canary,
    broker: i32,
    partition: &CanaryPartition,
    position: i64,
    sent_at: Instant,
    mut records: Bytes,
) {
    let read_at = now_ms();
    let mut next = position;
    let mut tracker = partition.tracker();
    if tracker.position() != Some(position) {
        // reset or moved meanwhile (a reset raced this fetch): this answer is stale
        return;
    }
    while !records.is_empty() {
        // a partial batch at the end of a response is normal; the next fetch reads it
        let Ok(set) = RecordBatchDecoder::decode(&mut records) else {
            break;
        };
        for record in &set.records {
            if record.offset < position {
                continue;
            }
            next = next.max(record.offset + 1);
            if record.control {
                continue;
            }
            let Some(value) = record.value.as_deref().and_then(CanaryRecord::decode) else {
                continue;
            };
            if value.run_id != canary.run_id {
                continue; // another run's or another canary's record
            }
            let outcome = tracker.read(value.sequence);
            let latency_seconds = (read_at - value.timestamp_ms).max(0) as f64 / 1000.0;
            partition
                .metrics
                .read(Some(broker), outcome, latency_seconds);
        }
    }
    tracker.fetched(sent_at);
    let lost = tracker.advance(next);
    let pending = tracker.pending();
    drop(tracker);
    partition.report_lost(&lost);
    partition.metrics.set_pending(pending);
}

/// After OFFSET_OUT_OF_RANGE at `position`: the log start when the position is below it,
/// else the log end.
async fn reset_position(canary: &Canary, broker: i32, partition: &CanaryPartition, position: i64) {
    let start = match canary
        .list_offset(broker, partition.partition, EARLIEST)
        .await
    {
        Ok(start) => start,
        Err(e) => {
            tracing::warn!(partition = partition.partition, broker, error = %e, "cannot find the canary partition's log start");
            return;
        }
    };
    let new_position = if position < start {
        start
    } else {
        match canary
            .list_offset(broker, partition.partition, LATEST)
            .await
        {
            Ok(end) => end,
            Err(e) => {
                tracing::warn!(partition = partition.partition, broker, error = %e, "cannot find the canary partition's log end");
                return;
            }
        }
    };
    tracing::warn!(
        partition = partition.partition,
        broker,
        position,
        new_position,
        "canary consumer position out of range; reset"
    );
    let lost = partition.tracker().reset(new_position);
    partition.report_lost(&lost);
}
