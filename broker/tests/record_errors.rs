//! Record-level produce errors (KIP-467): when Kafka refuses a batch because of some of its
//! records, the Produce response names them (`record_errors`: batch index + message) next to
//! the partition's `error_message`, so a client fails exactly those records with the error
//! and the rest of the batch with a retriable "invalid different record". Nothing of such a
//! batch is stored.
//!
//! The per-record checks are Kafka's `LogValidator` ones: a key on compacted topics
//! (INVALID_RECORD), CreateTime timestamps within `message.timestamp.before.max.ms` /
//! `message.timestamp.after.max.ms` of the broker clock (INVALID_TIMESTAMP), no producer
//! LogAppendTime batches (INVALID_TIMESTAMP). Batch-level faults (counts, control batches)
//! stay errors of the whole batch without record errors, as in Kafka.
mod common;

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::records::{Compression, TimestampType};
use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::statistics::Statistics;

use common::*;

const HOUR_MS: i64 = 60 * 60 * 1000;

// ------------------------------------------------------------------ librdkafka

/// Counts the Produce requests librdkafka sent, from its statistics.
#[derive(Clone, Default)]
struct ProduceRequestCounter {
    /// The Produce request count of the latest statistics, summed over broker handles.
    latest: Arc<Mutex<Option<i64>>>,
}

impl ClientContext for ProduceRequestCounter {
    fn stats(&self, statistics: Statistics) {
        let produce_requests = statistics
            .brokers
            .values()
            .filter_map(|b| b.req.get("Produce"))
            .sum();
        *self.latest.lock().unwrap_or_else(|p| p.into_inner()) = Some(produce_requests);
    }
}

/// A producer that gathers everything sent within a second into one batch per partition,
/// with statistics every 100 ms.
fn batching_producer(
    broker: &TestBroker,
) -> (FutureProducer<ProduceRequestCounter>, ProduceRequestCounter) {
    let counter = ProduceRequestCounter::default();
    let producer = broker
        .client_config()
        .set("acks", "all")
        .set("enable.idempotence", "false")
        .set("message.timeout.ms", "30000")
        .set("linger.ms", "1000")
        .set("batch.num.messages", "10000")
        .set("statistics.interval.ms", "100")
        .create_with_context(counter.clone())
        .expect("create rdkafka producer");
    (producer, counter)
}

/// A record to send: key (`None` = keyless), value, timestamp (`None` = now, by librdkafka).
type Outgoing = (Option<Vec<u8>>, Vec<u8>, Option<i64>);

/// Sends `records` (key, value, timestamp) to partition 0 without waiting in between, then
/// waits for every delivery report: the offset, or the error code per record.
fn send_all(
    producer: &FutureProducer<ProduceRequestCounter>,
    topic: &str,
    records: &[Outgoing],
) -> Vec<Result<i64, RDKafkaErrorCode>> {
    let mut pending = Vec::with_capacity(records.len());
    for (key, value, timestamp) in records {
        let mut record = FutureRecord::<[u8], [u8]>::to(topic)
            .partition(0)
            .payload(value.as_slice());
        if let Some(key) = key {
            record = record.key(key.as_slice());
        }
        if let Some(timestamp) = timestamp {
            record = record.timestamp(*timestamp);
        }
        match producer.send_result(record) {
            Ok(delivery) => pending.push(delivery),
            Err((e, _)) => panic!("librdkafka refused to queue a record for {topic}: {e}"),
        }
    }
    pending
        .into_iter()
        .enumerate()
        .map(|(i, delivery)| match block_on(delivery) {
            Ok(Ok(d)) => Ok(d.offset),
            Ok(Err((KafkaError::MessageProduction(code), _))) => Err(code),
            Ok(Err((e, _))) => panic!("record {i} to {topic} failed outside produce: {e}"),
            Err(_) => panic!("record {i} to {topic}: delivery future cancelled"),
        })
        .collect()
}

/// Waits for statistics taken after the deliveries and returns their Produce request count.
fn produce_requests_sent(counter: &ProduceRequestCounter) -> i64 {
    *counter.latest.lock().unwrap_or_else(|p| p.into_inner()) = None;
    let mut count = 0;
    wait_until(
        CLIENT_TIMEOUT,
        "librdkafka statistics counting at least one Produce request",
        || {
            let latest = *counter.latest.lock().unwrap_or_else(|p| p.into_inner());
            count = latest.unwrap_or(0);
            count > 0
        },
    );
    count
}

/// Asserts what librdkafka reports for a batch the broker refused naming the records
/// `named(i)` in `record_errors`: those fail with INVALID_RECORD, every other one with
/// "invalid different record" (failed for its neighbours); and nothing was stored.
fn assert_only_named_records_fail(
    broker: &TestBroker,
    topic: &str,
    results: &[Result<i64, RDKafkaErrorCode>],
    named: impl Fn(usize) -> bool,
    which: &str,
) {
    for (i, result) in results.iter().enumerate() {
        let expected = if named(i) {
            RDKafkaErrorCode::InvalidRecord
        } else {
            RDKafkaErrorCode::InvalidDifferentRecord
        };
        assert_eq!(
            *result,
            Err(expected),
            "record {i} ({}): the broker must name exactly {which} in record_errors",
            if named(i) { "named" } else { "a neighbour" }
        );
    }
    assert_eq!(
        broker.watermarks(topic, 0),
        (0, 0),
        "nothing of a refused batch may be stored"
    );
    assert!(
        broker.consume_all(topic, 0, 0).is_empty(),
        "a fetch from the partition must find nothing"
    );
}

/// The records not `named`: what an application sends again.
fn all_but(records: &[Outgoing], named: impl Fn(usize) -> bool) -> Vec<Outgoing> {
    records
        .iter()
        .enumerate()
        .filter(|(i, _)| !named(*i))
        .map(|(_, r)| r.clone())
        .collect()
}

/// The session: 100 records in one batch to a compacted topic, 10 without a key.
/// Kafka fails exactly the 10 with INVALID_RECORD and the 90 others with librdkafka's
/// "invalid different record", stores nothing, and takes the 90 when sent again.
#[test]
fn librdkafka_fails_only_the_keyless_records_of_a_batch_to_a_compacted_topic() {
    let broker = TestBroker::start();
    let topic = topic_name("keyless-batch");
    broker.create_topic(&topic, 1, &[("cleanup.policy", "compact")]);
    let (producer, counter) = batching_producer(&broker);
    let keyless = |i: usize| i % 10 == 7;
    let records: Vec<_> = (0..100)
        .map(|i| {
            let key = (!keyless(i)).then(|| format!("key-{i}").into_bytes());
            (key, format!("value-{i}").into_bytes(), None)
        })
        .collect();

    let results = send_all(&producer, &topic, &records);
    assert_eq!(
        produce_requests_sent(&counter),
        1,
        "the 100 records must have gone to the broker as one batch in one Produce request"
    );
    assert_only_named_records_fail(&broker, &topic, &results, keyless, "the keyless records");

    // The application resends the records that failed only because of their neighbours.
    let results = send_all(&producer, &topic, &all_but(&records, keyless));
    assert_eq!(
        results,
        (0..90).map(Ok).collect::<Vec<_>>(),
        "the resent 90 keyed records must be acknowledged at offsets 0..90"
    );
    let stored = broker.consume_all(&topic, 0, 0);
    let values: Vec<String> = stored.iter().map(|r| r.value_str()).collect();
    let expected: Vec<String> = (0..100)
        .filter(|i| !keyless(*i))
        .map(|i| format!("value-{i}"))
        .collect();
    assert_eq!(values, expected, "the resent records, in order");
}

/// Two records of a batch timestamped two hours ahead (Kafka 4's
/// `message.timestamp.after.max.ms` is one hour): the broker answers INVALID_TIMESTAMP
/// naming both; librdkafka fails them with INVALID_RECORD (its mapping whenever a response
/// names more than one record; with exactly one it fails the whole batch with the partition
/// error) and the others with "invalid different record".
#[test]
fn librdkafka_fails_the_records_timestamped_too_far_ahead() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("future-timestamp", 1);
    let (producer, counter) = batching_producer(&broker);
    let now = now_ms();
    let ahead = |i: usize| i == 31 || i == 40;
    let records: Vec<_> = (0..50)
        .map(|i| {
            let timestamp = if ahead(i) { now + 2 * HOUR_MS } else { now };
            (
                Some(format!("key-{i}").into_bytes()),
                format!("value-{i}").into_bytes(),
                Some(timestamp),
            )
        })
        .collect();
    let results = send_all(&producer, &topic, &records);
    assert_eq!(
        produce_requests_sent(&counter),
        1,
        "the 50 records must have gone as one batch in one Produce request"
    );
    assert_only_named_records_fail(&broker, &topic, &results, ahead, "the records out of range");
    assert_eq!(
        send_all(&producer, &topic, &all_but(&records, ahead)),
        (0..48).map(Ok).collect::<Vec<_>>(),
        "the 48 records in range, resent, are acknowledged"
    );
}

// ------------------------------------------------------------------ raw protocol

/// One v2 batch of `(key, timestamp)` records with values `v0, v1, ...`.
fn batch_of(records: &[(Option<&str>, i64)], compression: Compression) -> Bytes {
    let values: Vec<String> = (0..records.len()).map(|i| format!("v{i}")).collect();
    let records: Vec<BatchRecord<'_>> = records
        .iter()
        .zip(&values)
        .map(|((key, timestamp_ms), value)| BatchRecord {
            key: key.map(str::as_bytes),
            value: Some(value.as_bytes()),
            timestamp_ms: *timestamp_ms,
        })
        .collect();
    encode_v2_batch(&records, BatchProducer::PLAIN, compression)
}

/// Sets the batch's LogAppendTime attribute (as only a broker may) and fixes the CRC.
fn with_log_append_time(batch: Bytes) -> Bytes {
    const ATTRIBUTES_AT: usize = 21;
    let mut bytes = batch.to_vec();
    let attributes = i16::from_be_bytes([bytes[ATTRIBUTES_AT], bytes[ATTRIBUTES_AT + 1]]) | 1 << 3;
    bytes[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
    let crc = crc32c::crc32c(&bytes[ATTRIBUTES_AT..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(bytes)
}

/// (batch index, message) of every record error.
fn record_errors_of(response: &PartitionProduceResponse) -> Vec<(i32, String)> {
    response
        .record_errors
        .iter()
        .map(|e| {
            (
                e.batch_index,
                e.batch_index_error_message
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

fn error_message_of(response: &PartitionProduceResponse) -> String {
    response
        .error_message
        .as_ref()
        .map(|m| m.to_string())
        .unwrap_or_default()
}

/// Asserts a refused batch: the code, exactly these record indexes each with a message
/// containing `record_message`, a partition message, no offset, and nothing stored.
fn assert_refused(
    raw: &mut RawClient,
    topic: &str,
    response: &PartitionProduceResponse,
    code: i16,
    indexes: &[i32],
    record_message: &str,
) {
    assert_eq!(response.error_code, code, "{topic}: partition error code");
    let errors = record_errors_of(response);
    assert_eq!(
        errors.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        indexes,
        "{topic}: record_errors must name exactly the refused records, in batch order"
    );
    for (index, message) in &errors {
        assert!(
            message.contains(record_message),
            "{topic}: record {index}'s message {message:?} must say {record_message:?}"
        );
    }
    let summary = error_message_of(response);
    assert!(
        summary.starts_with(&format!("{} of ", indexes.len())),
        "{topic}: error_message must summarise the refused records, got {summary:?}"
    );
    assert_eq!(
        response.base_offset, -1,
        "{topic}: a refused batch has no offset"
    );
    let (error, latest, _) = raw.list_offset(topic, 0, -1);
    assert_eq!(
        (error, latest),
        (0, 0),
        "{topic}: nothing of a refused batch may be stored"
    );
}

#[test]
fn keyless_records_are_named_in_record_errors_uncompressed_and_compressed() {
    let broker = TestBroker::start();
    let topic = topic_name("raw-keyless");
    broker.create_topic(&topic, 1, &[("cleanup.policy", "compact")]);
    let mut raw = broker.raw();
    let now = now_ms();
    let records = [
        (Some("a"), now),
        (None, now),
        (Some("c"), now),
        (None, now),
        (Some("e"), now),
    ];
    for compression in [Compression::None, Compression::Zstd, Compression::Snappy] {
        let response = raw.produce_at(versions::PRODUCE, &topic, batch_of(&records, compression));
        assert_refused(
            &mut raw,
            &topic,
            &response,
            codes::INVALID_RECORD,
            &[1, 3],
            "without a key",
        );
        assert!(
            error_message_of(&response).contains("record 1: "),
            "{compression:?}: the summary quotes the first refused records"
        );
    }
    // Produce v7 (before KIP-467) has no record_errors: the code alone, and a valid response.
    let response = raw.produce_at(7, &topic, batch_of(&records, Compression::None));
    assert_eq!(response.error_code, codes::INVALID_RECORD, "Produce v7");
    assert!(response.record_errors.is_empty() && response.error_message.is_none());

    let keyed = [(Some("a"), now), (Some("b"), now)];
    let response = raw.produce_at(
        versions::PRODUCE,
        &topic,
        batch_of(&keyed, Compression::None),
    );
    assert_eq!(
        (response.error_code, response.base_offset),
        (0, 0),
        "the partition takes a good batch after refused ones"
    );
}

#[test]
fn timestamps_out_of_range_are_invalid_timestamp_with_the_record_indexes() {
    let broker = TestBroker::start();
    let ahead = broker.new_topic("raw-ahead", 1);
    let behind = topic_name("raw-behind");
    broker.create_topic(
        &behind,
        1,
        &[("message.timestamp.before.max.ms", "3600000")],
    );
    let mut raw = broker.raw();
    let now = now_ms();

    // Default message.timestamp.after.max.ms: one hour. No timestamp (-1) is never checked.
    let records = [
        (Some("a"), now),
        (Some("b"), now + 2 * HOUR_MS),
        (Some("c"), -1),
        (Some("d"), now + 3 * HOUR_MS),
    ];
    for compression in [Compression::None, Compression::Lz4] {
        let response = raw.produce_at(versions::PRODUCE, &ahead, batch_of(&records, compression));
        assert_refused(
            &mut raw,
            &ahead,
            &response,
            codes::INVALID_TIMESTAMP,
            &[1, 3],
            "out of range",
        );
    }
    // Old records are fine by default (message.timestamp.before.max.ms has no limit) ...
    let old = [
        (Some("a"), now - 48 * HOUR_MS),
        (Some("b"), 0),
        (Some("c"), now),
    ];
    let response = raw.produce_at(versions::PRODUCE, &ahead, batch_of(&old, Compression::None));
    assert_eq!(
        response.error_code, 0,
        "old timestamps on a topic without a lower bound"
    );
    // ... and refused where the topic sets one.
    let response = raw.produce_at(
        versions::PRODUCE,
        &behind,
        batch_of(&old, Compression::None),
    );
    assert_refused(
        &mut raw,
        &behind,
        &response,
        codes::INVALID_TIMESTAMP,
        &[0, 1],
        "out of range",
    );

    // A keyless and a future record on a compacted topic: each named with its own reason,
    // and any timestamp error makes the batch INVALID_TIMESTAMP (as Kafka).
    let compacted = topic_name("raw-both");
    broker.create_topic(&compacted, 1, &[("cleanup.policy", "compact")]);
    let both = [
        (None, now),
        (Some("b"), now + 2 * HOUR_MS),
        (Some("c"), now),
    ];
    let response = raw.produce_at(
        versions::PRODUCE,
        &compacted,
        batch_of(&both, Compression::None),
    );
    assert_refused(
        &mut raw,
        &compacted,
        &response,
        codes::INVALID_TIMESTAMP,
        &[0, 1],
        "",
    );
    let errors = record_errors_of(&response);
    assert!(
        errors[0].1.contains("without a key") && errors[1].1.contains("out of range"),
        "{errors:?}"
    );
}

#[test]
fn producer_log_append_time_batches_are_invalid_timestamp() {
    let broker = TestBroker::start();
    let log_append = topic_name("raw-lat");
    broker.create_topic(
        &log_append,
        1,
        &[("message.timestamp.type", "LogAppendTime")],
    );
    let create = broker.new_topic("raw-ct", 1);
    let mut raw = broker.raw();
    let now = now_ms();
    let records = [(Some("a"), now), (Some("b"), now), (Some("c"), now)];

    let batch = with_log_append_time(batch_of(&records, Compression::None));
    let response = raw.produce_at(versions::PRODUCE, &log_append, batch.clone());
    assert_refused(
        &mut raw,
        &log_append,
        &response,
        codes::INVALID_TIMESTAMP,
        &[0, 1, 2],
        "LogAppendTime",
    );

    // A CreateTime topic takes it when its timestamp is in range, stored as CreateTime.
    let response = raw.produce_at(versions::PRODUCE, &create, batch);
    assert_eq!(
        (response.error_code, response.base_offset),
        (0, 0),
        "{response:?}"
    );
    let fetched = raw.fetch(&create, 0, 0, 0, -1, 0);
    let blob = fetched.responses[0].partitions[0]
        .records
        .clone()
        .expect("fetched records");
    let stored = decode_records(blob);
    assert_eq!(stored.len(), 3);
    assert!(
        stored
            .iter()
            .all(|r| r.timestamp_type == TimestampType::Creation && r.timestamp == now),
        "stored as CreateTime with the producer's timestamps: {stored:?}"
    );
    // Without a timestamp it is refused there too.
    let untimed = with_log_append_time(batch_of(
        &[(Some("a"), -1), (Some("b"), -1)],
        Compression::None,
    ));
    let response = raw.produce_at(versions::PRODUCE, &create, untimed);
    assert_eq!(response.error_code, codes::INVALID_TIMESTAMP);
    assert_eq!(
        record_errors_of(&response)
            .iter()
            .map(|e| e.0)
            .collect::<Vec<_>>(),
        vec![0, 1]
    );
}

/// Faults of the batch as a whole are no record errors (Kafka reports them per batch).
#[test]
fn batch_level_faults_carry_no_record_errors() {
    let broker = TestBroker::start();
    let topic = topic_name("raw-batch-fault");
    broker.create_topic(&topic, 1, &[("cleanup.policy", "compact")]);
    let mut raw = broker.raw();
    // A keyless record in a batch whose lastOffsetDelta does not match its record count:
    // the count is checked first, for the whole batch.
    const LAST_OFFSET_DELTA_AT: usize = 23;
    let mut bytes = batch_of(
        &[(None, now_ms()), (Some("b"), now_ms())],
        Compression::None,
    )
    .to_vec();
    bytes[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4].copy_from_slice(&5i32.to_be_bytes());
    let crc = crc32c::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    let response = raw.produce_at(versions::PRODUCE, &topic, Bytes::from(bytes));
    assert_eq!(
        response.error_code,
        codes::INVALID_RECORD,
        "a batch with a wrong count"
    );
    assert!(
        response.record_errors.is_empty(),
        "a wrong count is a fault of the whole batch: {:?}",
        response.record_errors
    );
    // A producer id without a sequence number (Kafka refuses it per batch too).
    let unsequenced = encode_idempotent_batch(&[b"a", b"b"], 4242, 0, -1);
    let response = raw.produce_at(versions::PRODUCE, &topic, unsequenced);
    assert_eq!(
        response.error_code,
        codes::INVALID_RECORD,
        "a producer id with sequence -1"
    );
    assert!(response.record_errors.is_empty());
    let (error, latest, _) = raw.list_offset(&topic, 0, -1);
    assert_eq!((error, latest), (0, 0), "nothing stored");
}
