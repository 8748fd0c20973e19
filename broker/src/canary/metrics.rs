//! `canary::metrics`: the canary's Prometheus families (names and their Strimzi canary
//! counterparts: docs/metrics.md, "Canary"). Counters and histograms are labelled by
//! `partition` and `broker` — the partition's leader the canary produced to or fetched
//! from (`none` while it knows no leader); lost records by the broker that acknowledged
//! them. A partition's series of a broker are created together (at 0), so rates and
//! alerts have data before anything goes wrong.
//!
//! The registry is the canary's own: nothing of a broker's state is in it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use super::tracker::{LostReason, ReadOutcome};
use crate::metrics::registered;

/// Latency buckets, seconds (Prometheus's base unit): from a fast local cluster to a
/// stalled one.
const LATENCY_BUCKETS_SECONDS: &[f64] = &[
    0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6,
];

/// What went wrong outside producing and consuming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CanaryErrorKind {
    /// A Metadata request failed (no broker answered, or the topic could not be described).
    Metadata,
    /// CreateTopics of the canary topic failed.
    TopicCreation,
    /// CreatePartitions (a partition for a broker that joined) failed.
    PartitionCreation,
    /// ListOffsets (the consumer's start or reset position) failed.
    ListOffsets,
}

impl CanaryErrorKind {
    const ALL: [CanaryErrorKind; 4] = [
        CanaryErrorKind::Metadata,
        CanaryErrorKind::TopicCreation,
        CanaryErrorKind::PartitionCreation,
        CanaryErrorKind::ListOffsets,
    ];

    fn label(self) -> &'static str {
        match self {
            CanaryErrorKind::Metadata => "metadata",
            CanaryErrorKind::TopicCreation => "topic_creation",
            CanaryErrorKind::PartitionCreation => "partition_creation",
            CanaryErrorKind::ListOffsets => "list_offsets",
        }
    }
}

/// The canary's registered families.
pub(crate) struct CanaryMetrics {
    registry: Registry,
    produced: IntCounterVec,
    produce_failed: IntCounterVec,
    produce_latency_seconds: HistogramVec,
    produce_available: IntGaugeVec,
    consumed: IntCounterVec,
    consume_failed: IntCounterVec,
    end_to_end_latency_seconds: HistogramVec,
    consume_available: IntGaugeVec,
    lost: IntCounterVec,
    duplicated: IntCounterVec,
    out_of_order: IntCounterVec,
    pending: IntGaugeVec,
    errors: IntCounterVec,
    pub(crate) brokers: IntGauge,
    pub(crate) partitions: IntGauge,
}

fn counter(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    registered(registry, IntCounterVec::new(Opts::new(name, help), labels)?)
}

fn gauge(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntGaugeVec> {
    registered(registry, IntGaugeVec::new(Opts::new(name, help), labels)?)
}

fn histogram(registry: &Registry, name: &str, help: &str) -> prometheus::Result<HistogramVec> {
    registered(
        registry,
        HistogramVec::new(
            HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS_SECONDS.to_vec()),
            &["partition", "broker"],
        )?,
    )
}

const PB: &[&str] = &["partition", "broker"];

impl CanaryMetrics {
    pub(crate) fn new(topic: &str, run_id: &str) -> prometheus::Result<Arc<CanaryMetrics>> {
        let registry = Registry::new();
        let info = registered(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "ironlog_canary_info",
                    "The canary's topic and run id (value 1).",
                ),
                &["topic", "run_id", "version"],
            )?,
        )?;
        info.with_label_values(&[topic, run_id, env!("CARGO_PKG_VERSION")])
            .set(1);
        let brokers = registered(
            &registry,
            IntGauge::new(
                "ironlog_canary_brokers",
                "Brokers in the cluster's metadata, as the canary last saw it.",
            )?,
        )?;
        let partitions = registered(
            &registry,
            IntGauge::new(
                "ironlog_canary_topic_partitions",
                "Partitions of the canary topic, as the canary last saw it.",
            )?,
        )?;
        let metrics = CanaryMetrics {
            produced: counter(&registry, "ironlog_canary_records_produced_total", "Canary records acknowledged (acks=all) by the partition's leader.", PB)?,
            produce_failed: counter(&registry, "ironlog_canary_records_produced_failed_total", "Canary records whose produce failed (an error, no answer in time, or no leader).", PB)?,
            produce_latency_seconds: histogram(&registry, "ironlog_canary_records_produced_latency_seconds", "Time from sending a canary record to its acknowledgement (acks=all), seconds.")?,
            produce_available: gauge(&registry, "ironlog_canary_produce_available", "1 when the partition's last canary produce was acknowledged, else 0 (labelled by its current leader).", PB)?,
            consumed: counter(&registry, "ironlog_canary_records_consumed_total", "Canary records of this run read back.", PB)?,
            consume_failed: counter(&registry, "ironlog_canary_records_consumed_failed_total", "Fetches of a canary partition that failed (an error or no answer in time).", PB)?,
            end_to_end_latency_seconds: histogram(&registry, "ironlog_canary_records_end_to_end_latency_seconds", "Time from sending a canary record to reading it back, seconds.")?,
            consume_available: gauge(&registry, "ironlog_canary_consume_available", "1 when the partition's last canary fetch succeeded, else 0 (labelled by its current leader).", PB)?,
            lost: counter(&registry, "ironlog_canary_records_lost_total", "Acknowledged canary records never read: the consumer passed their offset (reason=skipped) or a successful fetch sent canary.lost.timeout.ms after their acknowledgement did not return them (reason=timeout). Labelled by the broker that acknowledged them.", &["partition", "broker", "reason"])?,
            duplicated: counter(&registry, "ironlog_canary_records_duplicated_total", "Canary records read more than once.", PB)?,
            out_of_order: counter(&registry, "ironlog_canary_records_out_of_order_total", "Canary records read after a later record of the same partition.", PB)?,
            pending: gauge(&registry, "ironlog_canary_records_pending", "Acknowledged canary records not read back yet.", &["partition"])?,
            errors: counter(&registry, "ironlog_canary_errors_total", "Canary errors outside producing and consuming, by kind.", &["kind"])?,
            brokers,
            partitions,
            registry,
        };
        for kind in CanaryErrorKind::ALL {
            metrics.errors.with_label_values(&[kind.label()]);
        }
        Ok(Arc::new(metrics))
    }

    pub(crate) fn error(&self, kind: CanaryErrorKind) {
        self.errors.with_label_values(&[kind.label()]).inc();
    }

    /// Every family as Prometheus text.
    pub(crate) fn render(&self) -> Result<String, String> {
        let mut out = Vec::with_capacity(16 * 1024);
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .map_err(|e| e.to_string())?;
        String::from_utf8(out).map_err(|e| e.to_string())
    }

    /// The series of `partition` (all created now, at 0).
    pub(crate) fn partition(self: &Arc<Self>, partition: i32) -> PartitionMetrics {
        let p = partition.to_string();
        let pending = self.pending.with_label_values(&[&p]);
        PartitionMetrics {
            metrics: Arc::clone(self),
            partition: p,
            pending,
            by_broker: Mutex::new(HashMap::new()),
            leader: Mutex::new(None),
        }
    }
}

fn broker_label(broker: Option<i32>) -> String {
    broker.map_or_else(|| "none".to_string(), |b| b.to_string())
}

/// One broker's series of one partition, looked up once.
struct BrokerSeries {
    produced: IntCounter,
    produce_failed: IntCounter,
    produce_latency_seconds: prometheus::Histogram,
    consumed: IntCounter,
    consume_failed: IntCounter,
    end_to_end_latency_seconds: prometheus::Histogram,
    lost_skipped: IntCounter,
    lost_timeout: IntCounter,
    duplicated: IntCounter,
    out_of_order: IntCounter,
}

/// A partition's series, by broker; the lookups happen once per broker, under this
/// partition's own lock only.
pub(crate) struct PartitionMetrics {
    metrics: Arc<CanaryMetrics>,
    partition: String,
    pending: IntGauge,
    by_broker: Mutex<HashMap<Option<i32>, Arc<BrokerSeries>>>,
    /// The leader the availability gauges are labelled with.
    leader: Mutex<Option<i32>>,
}

impl PartitionMetrics {
    fn series(&self, broker: Option<i32>) -> Arc<BrokerSeries> {
        let mut by_broker = self.by_broker.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(by_broker.entry(broker).or_insert_with(|| {
            let m = &self.metrics;
            let b = broker_label(broker);
            let l = [self.partition.as_str(), b.as_str()];
            Arc::new(BrokerSeries {
                produced: m.produced.with_label_values(&l),
                produce_failed: m.produce_failed.with_label_values(&l),
                produce_latency_seconds: m.produce_latency_seconds.with_label_values(&l),
                consumed: m.consumed.with_label_values(&l),
                consume_failed: m.consume_failed.with_label_values(&l),
                end_to_end_latency_seconds: m.end_to_end_latency_seconds.with_label_values(&l),
                lost_skipped: m
                    .lost
                    .with_label_values(&[l[0], l[1], LostReason::Skipped.label()]),
                lost_timeout: m
                    .lost
                    .with_label_values(&[l[0], l[1], LostReason::Timeout.label()]),
                duplicated: m.duplicated.with_label_values(&l),
                out_of_order: m.out_of_order.with_label_values(&l),
            })
        }))
    }

    /// The partition's leader is now `leader`: its series exist, and the availability
    /// gauges follow it (a former leader's are removed).
    pub(crate) fn leader_changed(&self, leader: Option<i32>) {
        self.series(leader);
        let previous = {
            let mut current = self.leader.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::replace(&mut *current, leader)
        };
        if previous != leader {
            // the former leader's gauges go; the new leader's appear with its first answer
            let old = broker_label(previous);
            for gauge in [
                &self.metrics.produce_available,
                &self.metrics.consume_available,
            ] {
                let _ = gauge.remove_label_values(&[&self.partition, &old]);
            }
        }
    }

    pub(crate) fn produced(&self, broker: Option<i32>, latency_seconds: f64) {
        let s = self.series(broker);
        s.produced.inc();
        s.produce_latency_seconds.observe(latency_seconds);
        self.set_available(&self.metrics.produce_available, broker, true);
    }

    pub(crate) fn produce_failed(&self, broker: Option<i32>) {
        self.series(broker).produce_failed.inc();
        self.set_available(&self.metrics.produce_available, broker, false);
    }

    pub(crate) fn fetched(&self, broker: Option<i32>) {
        self.set_available(&self.metrics.consume_available, broker, true);
    }

    pub(crate) fn fetch_failed(&self, broker: Option<i32>) {
        self.series(broker).consume_failed.inc();
        self.set_available(&self.metrics.consume_available, broker, false);
    }

    pub(crate) fn read(&self, broker: Option<i32>, outcome: ReadOutcome, latency_seconds: f64) {
        let s = self.series(broker);
        s.consumed.inc();
        s.end_to_end_latency_seconds.observe(latency_seconds);
        match outcome {
            ReadOutcome::InOrder => {}
            ReadOutcome::Duplicate => s.duplicated.inc(),
            ReadOutcome::OutOfOrder => s.out_of_order.inc(),
        }
    }

    pub(crate) fn lost(&self, broker: i32, reason: LostReason) {
        let s = self.series(Some(broker));
        match reason {
            LostReason::Skipped => s.lost_skipped.inc(),
            LostReason::Timeout => s.lost_timeout.inc(),
        }
    }

    pub(crate) fn set_pending(&self, pending: usize) {
        self.pending.set(i64::try_from(pending).unwrap_or(i64::MAX));
    }

    /// Sets an availability gauge if `broker` still leads (an answer from a former
    /// leader must not bring its series back).
    fn set_available(&self, gauge: &IntGaugeVec, broker: Option<i32>, up: bool) {
        let leader = self.leader.lock().unwrap_or_else(|e| e.into_inner());
        if *leader != broker {
            return;
        }
        gauge
            .with_label_values(&[&self.partition, &broker_label(broker)])
            .set(i64::from(up));
    }
}
