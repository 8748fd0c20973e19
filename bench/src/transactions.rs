//! Transactional produce: `init_transactions`, then begin / send N records / commit,
//! repeated. A broker that refuses InitProducerId for a transactional id makes the
//! scenario fail with that reason.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use crate::clients;
use crate::error::BenchError;
use crate::scenario::TransactionsSpec;
use crate::throughput::DeliveryCounter;

/// Bound on InitProducerId (with coordinator lookup) and on each commit.
const TRANSACTION_TIMEOUT_MS: u64 = 30_000;
/// Back-off when librdkafka's local queue is full.
const QUEUE_FULL_BACKOFF_MS: u64 = 1;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TransactionsResult {
    pub(crate) committed_transactions: u64,
    pub(crate) committed_records: u64,
    /// First begin → last commit acknowledged.
    pub(crate) elapsed: Duration,
}

pub(crate) fn run(
    bootstrap: &str,
    topic: &str,
    spec: &TransactionsSpec,
    replication_factor: i32,
) -> Result<TransactionsResult, BenchError> {
    clients::create_topics(
        bootstrap,
        &[topic.to_string()],
        spec.partitions,
        replication_factor,
    )?;
    let mut config = clients::base_config(bootstrap);
    config
        .set("transactional.id", format!("{topic}-txn"))
        .set("linger.ms", "5")
        .set("compression.type", "none")
        .set("transaction.timeout.ms", TRANSACTION_TIMEOUT_MS.to_string());
    // A BaseProducer served by this loop (delivery reports are polled below).
    let producer: BaseProducer<DeliveryCounter> =
        config.create_with_context(DeliveryCounter::default())?;
    producer
        .init_transactions(Duration::from_millis(TRANSACTION_TIMEOUT_MS))
        .map_err(|e| BenchError::Refused {
            what: "InitProducerId with a transactional.id".to_string(),
            reason: e.to_string(),
        })?;

    let payload = clients::payload(spec.record_bytes);
    let partitions = spec.partitions.max(1).unsigned_abs() as u64;
    let started = Instant::now();
    let deadline = started + spec.duration_max;
    let mut committed_transactions = 0;
    let mut sent: u64 = 0;
    for _ in 0..spec.transactions {
        if Instant::now() >= deadline {
            tracing::warn!(
                topic,
                committed_transactions,
                "transaction deadline reached"
            );
            break;
        }
        producer.begin_transaction()?;
        for _ in 0..spec.records_per_transaction {
            let partition = (sent % partitions) as i32;
            let mut record = BaseRecord::to(topic)
                .payload(&payload[..])
                .partition(partition);
            loop {
                match producer.send::<(), [u8]>(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned))
                        if Instant::now() < deadline =>
                    {
                        record = returned;
                        producer.poll(Duration::from_millis(QUEUE_FULL_BACKOFF_MS));
                    }
                    Err((error, _)) => return Err(error.into()),
                }
            }
            sent += 1;
        }
        // Serve delivery reports in 1 ms slices until nothing is in flight: rdkafka's
        // commit_transaction flushes by polling in 100 ms slices, which would otherwise put
        // ~100 ms of client-side waiting into every transaction.
        while producer.in_flight_count() > 0 && Instant::now() < deadline {
            producer.poll(Duration::from_millis(1));
        }
        producer.commit_transaction(Duration::from_millis(TRANSACTION_TIMEOUT_MS))?;
        committed_transactions += 1;
    }
    let elapsed = started.elapsed();
    let context = producer.context();
    let failed = context.failed.load(Ordering::Relaxed);
    if failed > 0 {
        let error = context.first_error.lock().ok().and_then(|e| e.clone());
        return Err(BenchError::Topic {
            topic: topic.to_string(),
            reason: format!(
                "{failed} records of committed transactions failed: {}",
                error.unwrap_or_default()
            ),
        });
    }
    Ok(TransactionsResult {
        committed_transactions,
        committed_records: committed_transactions * spec.records_per_transaction,
        elapsed,
    })
}
