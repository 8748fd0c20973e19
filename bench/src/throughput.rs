//! Produce throughput (batched) and consume throughput of the same records.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::clients;
use crate::error::BenchError;
use crate::proc_stats;
use crate::scenario::ThroughputSpec;

/// How long `flush` may wait for outstanding deliveries after the last send.
const FLUSH_TIMEOUT_MS: u64 = 60_000;
/// Back-off when librdkafka's local queue is full.
const QUEUE_FULL_BACKOFF_MS: u64 = 1;
/// Consume phase deadline, as a multiple of the send bound (reading is expected to be faster).
const CONSUME_TIMEOUT_FACTOR: u32 = 2;
/// Consumer poll wait; the consume loop re-checks its deadline at least this often.
const CONSUME_POLL_MS: u64 = 100;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ThroughputResult {
    pub(crate) produced_records: u64,
    pub(crate) produce_failed: u64,
    pub(crate) produce_elapsed: Duration,
    /// Broker user+system CPU seconds spent during the produce phase, if its pid is known.
    pub(crate) broker_cpu_s: Option<f64>,
    pub(crate) consumed_records: u64,
    pub(crate) consumed_bytes: u64,
    /// From the first record received to the last.
    pub(crate) consume_elapsed: Duration,
    /// Set when the consume phase ended early or short.
    pub(crate) consume_error: Option<String>,
}

/// Counts deliveries from librdkafka's delivery report callback.
#[derive(Default)]
pub(crate) struct DeliveryCounter {
    pub(crate) ok: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) first_error: std::sync::Mutex<Option<String>>,
}

impl ClientContext for DeliveryCounter {}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();

    fn delivery(&self, delivery_result: &DeliveryResult<'_>, _opaque: ()) {
        match delivery_result {
            Ok(_) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| error.to_string());
                }
            }
        }
    }
}

/// Producer settings for the batched throughput runs.
pub(crate) fn producer_config(bootstrap: &str, spec: &ThroughputSpec) -> rdkafka::ClientConfig {
    let mut config = clients::base_config(bootstrap);
    config
        .set("acks", spec.acks.config_value())
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        // Let 100 B records fill a 1 MB batch (default cap is 10,000 messages).
        .set("batch.num.messages", "100000")
        .set("compression.type", "none")
        .set("enable.idempotence", "false")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576");
    config
}

/// Where a run's clients connect, and the librdkafka settings they take there on top of
/// [`clients::base_config`] (a listener's security protocol, its CA, SASL credentials).
pub(crate) struct Endpoint<'a> {
    pub(crate) bootstrap: &'a str,
    pub(crate) settings: &'a [(String, String)],
}

/// Creates the topic, produces `spec.record_count` records (or fewer if the send deadline
/// passes first), then consumes them back.
pub(crate) fn run(
    bootstrap: &str,
    topic: &str,
    spec: &ThroughputSpec,
    replication_factor: i32,
    broker_pid: Option<u32>,
) -> Result<ThroughputResult, BenchError> {
    let endpoint = Endpoint {
        bootstrap,
        settings: &[],
    };
    run_on(
        bootstrap,
        &endpoint,
        topic,
        spec,
        replication_factor,
        broker_pid,
    )
}

/// [`run`] with the topic created through `admin_bootstrap` (plain librdkafka settings)
/// and the producer and consumer connecting to `endpoint`.
pub(crate) fn run_on(
    admin_bootstrap: &str,
    endpoint: &Endpoint<'_>,
    topic: &str,
    spec: &ThroughputSpec,
    replication_factor: i32,
    broker_pid: Option<u32>,
) -> Result<ThroughputResult, BenchError> {
    clients::create_topics(
        admin_bootstrap,
        &[topic.to_string()],
        spec.partitions,
        replication_factor,
    )?;
    let config =
        clients::with_settings(producer_config(endpoint.bootstrap, spec), endpoint.settings);
    let produced = produce(config, topic, spec, broker_pid)?;
    let mut result = ThroughputResult {
        produced_records: produced.ok,
        produce_failed: produced.failed,
        produce_elapsed: produced.elapsed,
        broker_cpu_s: produced.broker_cpu_s,
        consumed_records: 0,
        consumed_bytes: 0,
        consume_elapsed: Duration::ZERO,
        consume_error: None,
    };
    if let Some(error) = produced.first_error {
        tracing::warn!(topic, failed = produced.failed, %error, "some deliveries failed");
    }
    let consume_timeout = spec.send_duration_max * CONSUME_TIMEOUT_FACTOR;
    match consume(
        endpoint,
        topic,
        spec.partitions,
        produced.ok,
        consume_timeout,
    ) {
        Ok(consumed) => {
            result.consumed_records = consumed.records;
            result.consumed_bytes = consumed.bytes;
            result.consume_elapsed = consumed.elapsed;
            result.consume_error = consumed.error;
        }
        Err(e) => result.consume_error = Some(e.to_string()),
    }
    Ok(result)
}

/// What one produce phase delivered.
pub(crate) struct Produced {
    pub(crate) ok: u64,
    pub(crate) failed: u64,
    /// From the first send to the end of the flush.
    pub(crate) elapsed: Duration,
    pub(crate) broker_cpu_s: Option<f64>,
    pub(crate) first_error: Option<String>,
}

/// Sends `spec.record_count` records (bounded by `spec.send_duration_max`) with a producer
/// built from `config`, round-robin over the partitions, then flushes.
pub(crate) fn produce(
    config: rdkafka::ClientConfig,
    topic: &str,
    spec: &ThroughputSpec,
    broker_pid: Option<u32>,
) -> Result<Produced, BenchError> {
    produce_with(config, topic, spec, broker_pid, false)
}

/// [`produce`] after a warm-up that is not measured: one record per partition, flushed, so
/// that connections, metadata and (for idempotent producers) the producer id are in place
/// and the figures compare steady-state produce paths, not client start-up.
pub(crate) fn produce_warmed_up(
    config: rdkafka::ClientConfig,
    topic: &str,
    spec: &ThroughputSpec,
    broker_pid: Option<u32>,
) -> Result<Produced, BenchError> {
    produce_with(config, topic, spec, broker_pid, true)
}

fn produce_with(
    config: rdkafka::ClientConfig,
    topic: &str,
    spec: &ThroughputSpec,
    broker_pid: Option<u32>,
    warm_up: bool,
) -> Result<Produced, BenchError> {
    let producer: ThreadedProducer<DeliveryCounter> =
        config.create_with_context(DeliveryCounter::default())?;
    let payload = clients::payload(spec.record_bytes);
    let partitions = spec.partitions.max(1);

    let mut warm_up_ok = 0;
    let mut warm_up_failed = 0;
    if warm_up {
        for partition in 0..partitions {
            let record = BaseRecord::<(), [u8]>::to(topic)
                .payload(&payload[..])
                .partition(partition);
            producer.send(record).map_err(|(e, _)| e)?;
        }
        producer.flush(Duration::from_millis(FLUSH_TIMEOUT_MS))?;
        warm_up_ok = producer.context().ok.load(Ordering::Relaxed);
        warm_up_failed = producer.context().failed.load(Ordering::Relaxed);
    }

    let cpu_before = broker_pid.map(proc_stats::cpu_seconds).transpose()?;
    let started = Instant::now();
    let send_deadline = started + spec.send_duration_max;
    let mut sent: u64 = 0;
    'records: while sent < spec.record_count {
        // Round-robin over partitions so every partition gets the same share.
        let partition = (sent % partitions.unsigned_abs() as u64) as i32;
        let mut record = BaseRecord::to(topic)
            .payload(&payload[..])
            .partition(partition);
        loop {
            if Instant::now() >= send_deadline {
                tracing::warn!(
                    topic,
                    sent,
                    wanted = spec.record_count,
                    "send deadline reached"
                );
                break 'records;
            }
            match producer.send::<(), [u8]>(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    std::thread::sleep(Duration::from_millis(QUEUE_FULL_BACKOFF_MS));
                }
                Err((error, _)) => return Err(error.into()),
            }
        }
        sent += 1;
    }
    let flush_result = producer.flush(Duration::from_millis(FLUSH_TIMEOUT_MS));
    let elapsed = started.elapsed();
    let cpu_after = broker_pid.map(proc_stats::cpu_seconds).transpose()?;
    if let Err(e) = flush_result {
        tracing::warn!(topic, error = %e, "flush did not complete; undelivered records count as not produced");
    }
    let context = producer.context();
    let first_error = context.first_error.lock().ok().and_then(|e| e.clone());
    Ok(Produced {
        ok: context.ok.load(Ordering::Relaxed) - warm_up_ok,
        failed: context.failed.load(Ordering::Relaxed) - warm_up_failed,
        elapsed,
        broker_cpu_s: cpu_before
            .zip(cpu_after)
            .map(|(before, after)| after - before),
        first_error,
    })
}

struct Consumed {
    records: u64,
    bytes: u64,
    elapsed: Duration,
    error: Option<String>,
}

/// One consumer, manually assigned to every partition from the beginning, reads until it
/// has seen `expected` records or the timeout passes.
fn consume(
    endpoint: &Endpoint<'_>,
    topic: &str,
    partitions: i32,
    expected: u64,
    timeout: Duration,
) -> Result<Consumed, BenchError> {
    let mut config =
        clients::with_settings(clients::base_config(endpoint.bootstrap), endpoint.settings);
    config
        // librdkafka refuses assign() without a group.id; with manual assignment and no
        // commits the group is never joined, so only Fetch (and ListOffsets) is measured.
        .set("group.id", format!("{topic}-reader"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "10485760");
    let consumer: BaseConsumer = config.create()?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;

    let started = Instant::now();
    let deadline = started + timeout;
    let poll_max = timeout.as_millis() / u128::from(CONSUME_POLL_MS) + expected as u128 + 1;
    let mut records = 0;
    let mut bytes = 0;
    let mut error = None;
    // Throughput is timed from the first record to the last, so connection setup, offset
    // lookup and the first fetch wait do not count against the broker's read rate.
    let mut first_record_at = None;
    let mut last_record_at = started;
    for _ in 0..poll_max {
        if records >= expected {
            break;
        }
        if Instant::now() >= deadline {
            error = Some(format!(
                "read {records} of {expected} records before the {} s deadline",
                timeout.as_secs()
            ));
            break;
        }
        match consumer.poll(Duration::from_millis(CONSUME_POLL_MS)) {
            None => {}
            Some(Ok(message)) => {
                records += 1;
                bytes += message.payload_len() as u64;
                last_record_at = Instant::now();
                first_record_at.get_or_insert(last_record_at);
            }
            Some(Err(KafkaError::PartitionEOF(_))) => {}
            Some(Err(e)) => {
                error = Some(format!("consumer error after {records} records: {e}"));
                break;
            }
        }
    }
    if error.is_none() && records < expected {
        error = Some(format!("read {records} of {expected} records"));
    }
    Ok(Consumed {
        records,
        bytes,
        elapsed: first_record_at.map_or(Duration::ZERO, |first| last_record_at - first),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Acks;

    #[test]
    fn producer_config_is_batched_uncompressed() {
        let spec = ThroughputSpec {
            record_bytes: 1024,
            partitions: 8,
            acks: Acks::All,
            record_count: 10,
            send_duration_max: Duration::from_secs(1),
        };
        let config = producer_config("127.0.0.1:9092", &spec);
        assert_eq!(config.get("acks"), Some("all"));
        assert_eq!(config.get("linger.ms"), Some("5"));
        assert_eq!(config.get("batch.size"), Some("1000000"));
        assert_eq!(config.get("compression.type"), Some("none"));
    }
}
