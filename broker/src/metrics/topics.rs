//! Per-topic traffic: Kafka's `kafka.server:type=BrokerTopicMetrics` (bytes in and out,
//! records in, produce and fetch requests, failed ones) per topic, counted once per
//! partition of a request from the request's batch headers and the response's error codes
//! — never per record. Only topics of the current metadata image are counted (a client
//! naming made-up topics cannot grow the label set), and a deleted topic's series are
//! removed ([`TopicMetrics::retain_topics`]).

use kafka_protocol::messages::{
    FetchResponse, ProduceRequest, ProduceResponse, RequestKind, ResponseKind,
};
use prometheus::{IntCounterVec, Opts, Registry};

use super::registered;
use crate::handlers::Broker;
use crate::metadata::MetadataImage;

/// Offset of the record count in a v2 record batch header.
const RECORDS_COUNT_OFFSET: usize = 57;

/// One partition of a produce request: its topic, bytes and record count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProducedPartition {
    topic: String,
    /// Where the partition's answer is: (topic, partition) index in the response, which
    /// answers in the request's order.
    position: (usize, usize),
    bytes: u64,
    records: u64,
}

/// What the request path keeps of a request to count it once answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TrafficSummary {
    Produce(Vec<ProducedPartition>),
    Fetch { follower: bool },
    Other,
}

impl TrafficSummary {
    /// What to keep of `request` (produce partitions, whether a fetch is a follower's).
    pub(crate) fn of_request(request: &RequestKind, broker: &Broker) -> TrafficSummary {
        match request {
            RequestKind::Produce(r) => TrafficSummary::of_produce(r, &broker.image()),
            RequestKind::Fetch(r) => TrafficSummary::Fetch {
                follower: r.replica_id.0 >= 0 || r.replica_state.replica_id.0 >= 0,
            },
            _ => TrafficSummary::Other,
        }
    }

    /// A produce request's partitions (by name; v13+ topic ids through `image`).
    pub(crate) fn of_produce(request: &ProduceRequest, image: &MetadataImage) -> TrafficSummary {
        let mut out = Vec::new();
        for (ti, topic) in request.topic_data.iter().enumerate() {
            let name = if topic.name.is_empty() {
                image.topic_by_id(topic.topic_id).map(|t| t.name.clone())
            } else {
                Some(topic.name.0.to_string())
            };
            let Some(name) = name.filter(|n| image.topics.contains_key(n)) else {
                continue;
            };
            for (pi, p) in topic.partition_data.iter().enumerate() {
                let bytes = p.records.as_ref().map_or(0, |r| r.len() as u64);
                let records = p
                    .records
                    .as_ref()
                    .and_then(|r| r.get(RECORDS_COUNT_OFFSET..RECORDS_COUNT_OFFSET + 4))
                    .map_or(0, |b| {
                        u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                    });
                out.push(ProducedPartition {
                    topic: name.clone(),
                    position: (ti, pi),
                    bytes,
                    records,
                });
            }
        }
        TrafficSummary::Produce(out)
    }

    pub(crate) fn is_follower_fetch(&self) -> bool {
        matches!(self, TrafficSummary::Fetch { follower: true })
    }
}

/// How a produce request ended, as far as its topics' counters care.
enum ProduceOutcome<'a> {
    /// Answered: each partition's error code is in the response.
    Answered(&'a ProduceResponse),
    /// acks=0 and every partition appended (no response is sent).
    AllAppended,
    /// acks=0 and some partition failed (the connection is closed; which one is unknown,
    /// so each counts as failed).
    Failed,
}

pub(crate) struct TopicMetrics {
    bytes_in: IntCounterVec,
    bytes_out: IntCounterVec,
    messages_in: IntCounterVec,
    produce_requests: IntCounterVec,
    fetch_requests: IntCounterVec,
    failed_produce: IntCounterVec,
    failed_fetch: IntCounterVec,
    replication_bytes_out: IntCounterVec,
}

impl TopicMetrics {
    pub(crate) fn register(registry: &Registry) -> prometheus::Result<Self> {
        let counter = |name: &str, help: &str| -> prometheus::Result<IntCounterVec> {
            registered(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        format!("kafka_server_brokertopicmetrics_{name}_total"),
                        help,
                    ),
                    &["topic"],
                )?,
            )
        };
        Ok(TopicMetrics {
            bytes_in: counter(
                "bytesin",
                "Bytes of record batches appended from clients (BytesInPerSec).",
            )?,
            bytes_out: counter(
                "bytesout",
                "Bytes of record batches sent to consumers (BytesOutPerSec).",
            )?,
            messages_in: counter(
                "messagesin",
                "Records appended from clients (MessagesInPerSec).",
            )?,
            produce_requests: counter(
                "totalproducerequests",
                "Partitions of produce requests (TotalProduceRequestsPerSec).",
            )?,
            fetch_requests: counter(
                "totalfetchrequests",
                "Partitions of consumer fetch requests (TotalFetchRequestsPerSec).",
            )?,
            failed_produce: counter(
                "failedproducerequests",
                "Partitions of produce requests that failed (FailedProduceRequestsPerSec).",
            )?,
            failed_fetch: counter(
                "failedfetchrequests",
                "Partitions of consumer fetch requests that failed (FailedFetchRequestsPerSec).",
            )?,
            replication_bytes_out: counter(
                "replicationbytesout",
                "Bytes of record batches sent to follower replicas (ReplicationBytesOutPerSec).",
            )?,
        })
    }

    /// Counts a handled request: `response` is `None` when none is sent (acks=0 produce).
    pub(crate) fn record(
        &self,
        traffic: &TrafficSummary,
        response: Option<&ResponseKind>,
        broker: &Broker,
    ) {
        match (traffic, response) {
            (TrafficSummary::Produce(partitions), Some(ResponseKind::Produce(r))) => {
                self.record_produce(partitions, ProduceOutcome::Answered(r))
            }
            (TrafficSummary::Produce(partitions), None) => {
                self.record_produce(partitions, ProduceOutcome::AllAppended)
            }
            (TrafficSummary::Fetch { follower }, Some(ResponseKind::Fetch(r))) => {
                self.record_fetch(r, *follower, &broker.image())
            }
            _ => {}
        }
    }

    /// Counts a request whose connection the handler closed (acks=0 produce that failed).
    pub(crate) fn record_failed(&self, traffic: &TrafficSummary) {
        if let TrafficSummary::Produce(partitions) = traffic {
            self.record_produce(partitions, ProduceOutcome::Failed);
        }
    }

    /// Counts an answered (or unanswered acks=0) produce request.
    fn record_produce(&self, partitions: &[ProducedPartition], outcome: ProduceOutcome<'_>) {
        for p in partitions {
            let failed = match &outcome {
                ProduceOutcome::AllAppended => false,
                ProduceOutcome::Failed => true,
                ProduceOutcome::Answered(response) => {
                    produce_error(response, p.position).is_none_or(|code| code != 0)
                }
            };
            let topic = [p.topic.as_str()];
            self.produce_requests.with_label_values(&topic).inc();
            // The failure series exists from a topic's first request on (at 0), so that
            // rate() and alert rules see it before the first failure.
            let failures = self.failed_produce.with_label_values(&topic);
            if failed {
                failures.inc();
            } else {
                self.bytes_in.with_label_values(&topic).inc_by(p.bytes);
                self.messages_in.with_label_values(&topic).inc_by(p.records);
            }
        }
    }

    /// Counts a fetch response: bytes out per topic (to consumers, or to followers as
    /// replication bytes), and its partitions, failed ones apart.
    fn record_fetch(&self, response: &FetchResponse, follower: bool, image: &MetadataImage) {
        for t in &response.responses {
            let name = if t.topic.is_empty() {
                match image.topic_by_id(t.topic_id) {
                    Some(topic) => topic.name.clone(),
                    None => continue,
                }
            } else if image.topics.contains_key(t.topic.as_str()) {
                t.topic.0.to_string()
            } else {
                continue;
            };
            let bytes: u64 = t
                .partitions
                .iter()
                .filter_map(|p| p.records.as_ref())
                .map(|r| r.len() as u64)
                .sum();
            let topic = [name.as_str()];
            // Both byte series exist from a topic's first fetch on (at 0).
            let replication = self.replication_bytes_out.with_label_values(&topic);
            let consumers = self.bytes_out.with_label_values(&topic);
            if follower {
                replication.inc_by(bytes);
                continue;
            }
            consumers.inc_by(bytes);
            let failed = t.partitions.iter().filter(|p| p.error_code != 0).count() as u64;
            self.fetch_requests
                .with_label_values(&topic)
                .inc_by(t.partitions.len() as u64);
            self.failed_fetch.with_label_values(&topic).inc_by(failed);
        }
    }

    /// Drops the series of topics no longer in `image` (called when an image is applied).
    pub(crate) fn retain_topics(&self, image: &MetadataImage) {
        use prometheus::core::Collector;
        for family in [
            &self.bytes_in,
            &self.bytes_out,
            &self.messages_in,
            &self.produce_requests,
            &self.fetch_requests,
            &self.failed_produce,
            &self.failed_fetch,
            &self.replication_bytes_out,
        ] {
            let gone: Vec<String> = family
                .collect()
                .iter()
                .flat_map(|f| f.get_metric().iter())
                .flat_map(|m| m.get_label().iter())
                .filter(|l| l.name() == "topic" && !image.topics.contains_key(l.value()))
                .map(|l| l.value().to_owned())
                .collect();
            for topic in gone {
                let _ = family.remove_label_values(&[topic.as_str()]);
            }
        }
    }
}

/// The error code of one partition in a produce response.
fn produce_error(response: &ProduceResponse, (topic, partition): (usize, usize)) -> Option<i16> {
    response
        .responses
        .get(topic)?
        .partition_responses
        .get(partition)
        .map(|p| p.error_code)
}
