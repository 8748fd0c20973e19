//! `canary::produce`: one task per canary partition. Every `canary.interval.ms` it sends
//! one record (acks=all, no retries: a repeat could only make a duplicate) to the
//! partition's leader and reports the acknowledgement to the partition's tracker; one
//! produce is in flight per partition (a slow one delays the next tick, it is not stacked).
//!
//! Before its first record the consumer's start position is taken (the log end offset),
//! so no record of this run is written below where the consumer starts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ironlog_protocol::kafka_protocol::messages::produce_request::{
    PartitionProduceData, TopicProduceData,
};
use ironlog_protocol::kafka_protocol::messages::{ProduceRequest, TopicName};
use ironlog_protocol::kafka_protocol::protocol::StrBytes;
use ironlog_protocol::{Error, SendOptions, Target, VersionChoice};
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::record::CanaryRecord;
use super::{now_ms, Canary, CanaryPartition};

/// Produce v12 names topics (v13 takes topic ids, which the canary does not track).
const PRODUCE_VERSION_MAX: i16 = 12;
/// How much longer than the broker's acks=all wait (`timeout_ms`) the canary waits for
/// the answer: the broker's REQUEST_TIMED_OUT arrives first, and a client-side timeout
/// (which closes the connection every partition's produce to that leader shares) is left
/// for a broker that does not answer at all.
pub(crate) const ANSWER_MARGIN: Duration = Duration::from_secs(1);
/// ListOffsets' "latest" timestamp.
const LATEST: i64 = -1;

pub(crate) async fn produce_loop(
    canary: Arc<Canary>,
    partition: Arc<CanaryPartition>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(canary.config.interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut sequence: i64 = 0;
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            _ = tick.tick() => {}
        }
        let lost = partition.tracker().expire(canary.config.lost_timeout);
        partition.report_lost(&lost);

        let Some(leader) = partition.leader() else {
            partition.metrics.produce_failed(None);
            canary.refresh_metadata();
            continue;
        };
        if partition.tracker().position().is_none() {
            match canary
                .list_offset(leader, partition.partition, LATEST)
                .await
            {
                Ok(end) => {
                    let lost = partition.tracker().reset(end);
                    partition.report_lost(&lost);
                }
                Err(e) => {
                    tracing::warn!(partition = partition.partition, leader, error = %e,
                        "cannot find the canary partition's end offset");
                    canary.refresh_metadata();
                    continue;
                }
            }
        }

        sequence += 1;
        let record = CanaryRecord {
            run_id: canary.run_id.clone(),
            sequence,
            timestamp_ms: now_ms(),
        };
        let sent_at = Instant::now();
        match produce(&canary, partition.partition, leader, &record).await {
            Ok(offset) => {
                partition
                    .metrics
                    .produced(Some(leader), sent_at.elapsed().as_secs_f64());
                let lost = partition
                    .tracker()
                    .acked(sequence, offset, leader, Instant::now());
                partition.report_lost(&lost);
            }
            Err(e) => {
                tracing::warn!(partition = partition.partition, leader, sequence, error = %e,
                    "canary produce failed");
                partition.metrics.produce_failed(Some(leader));
                canary.refresh_metadata();
            }
        }
        let pending = partition.tracker().pending();
        partition.metrics.set_pending(pending);
    }
}

/// Sends `record` to `leader` with acks=all; its offset when acknowledged.
async fn produce(
    canary: &Canary,
    partition: i32,
    leader: i32,
    record: &CanaryRecord,
) -> Result<i64, Error> {
    let batch = record.encode_batch().map_err(Error::Config)?;
    let timeout = canary.config.request_timeout;
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX))
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(
                canary.config.topic.clone(),
            )))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch))])]);
    let options = SendOptions::default()
        .version(VersionChoice::AtMost(PRODUCE_VERSION_MAX))
        .timeout(timeout + ANSWER_MARGIN);
    canary
        .producer
        .send_with(Target::Node(leader), &request, options, |response| {
            let p = response
                .responses
                .iter()
                .flat_map(|t| t.partition_responses.iter())
                .find(|p| p.index == partition)
                .ok_or_else(|| Error::Config("Produce answered without the partition".into()))?;
            Error::check(p.error_code, p.error_message.as_ref())?;
            Ok(p.base_offset)
        })
        .await
}
