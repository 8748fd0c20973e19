//! A user's session around crashes and restarts: every acknowledged record survives
//! `kill -9`, a clean restart keeps topics and configs, and retention removes old segments.
mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use rdkafka::admin::ResourceSpecifier;
use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, FutureRecord, ProducerContext, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

/// Records every acknowledged delivery (key, partition, offset, value).
struct AckRecorder {
    acked: AckLog,
}

impl ClientContext for AckRecorder {}

impl ProducerContext for AckRecorder {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Ok(message) = result {
            let entry = (
                message.key().unwrap_or_default().to_vec(),
                message.partition(),
                message.offset(),
                message.payload().unwrap_or_default().to_vec(),
            );
            if let Ok(mut acked) = self.acked.lock() {
                acked.push(entry);
            }
        }
    }
}

#[test]
fn kill_9_under_load_loses_no_acknowledged_record() {
    let mut broker = TestBroker::start();
    let topic = topic_name("crash");
    let partitions = 3;
    broker.create_topic(&topic, partitions, &[]);

    let acked: AckLog = Arc::new(Mutex::new(Vec::new()));
    let mut config = broker.client_config();
    config
        .set("acks", "all")
        .set("enable.idempotence", "false")
        // no retries: a retried batch could be stored twice, and this test checks that
        // nothing is stored twice
        .set("message.send.max.retries", "0")
        .set("message.timeout.ms", "10000")
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "20000");
    let producer: ThreadedProducer<AckRecorder> = config
        .create_with_context(AckRecorder {
            acked: acked.clone(),
        })
        .expect("create producer");
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        let topic = topic.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(180);
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline && sent < 2_000_000 {
                let key = format!("k{sent:09}");
                let value = format!("{key}:{}", "payload-".repeat(4 + (sent % 16) as usize));
                match producer.send(BaseRecord::<_, _, ()>::to(&topic).key(&key).payload(&value)) {
                    Ok(()) => sent += 1,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        std::thread::sleep(Duration::from_millis(2))
                    }
                    Err((e, _)) => panic!("enqueue failed before the crash: {e}"),
                }
            }
            drop(producer); // purges what is still queued; those were never acknowledged
            sent
        })
    };

    let ack_count = || acked.lock().map(|a| a.len()).unwrap_or(0);
    wait_until(
        Duration::from_secs(90),
        "3000 acknowledged records before the crash",
        || ack_count() >= 3000,
    );
    broker.kill9();
    stop.store(true, Ordering::Relaxed);
    let sent = load.join().expect("producer thread");
    let acked: Vec<(Vec<u8>, i32, i64, Vec<u8>)> = acked.lock().expect("ack log").clone();
    eprintln!(
        "sent {sent} records, {} acknowledged before kill -9",
        acked.len()
    );

    broker.restart();
    broker.wait_for_topic(&topic, partitions);
    let mut stored_total = 0;
    for partition in 0..partitions {
        let records = broker.consume_all(&topic, partition, 0);
        stored_total += records.len();
        let mut keys = HashSet::new();
        for (i, r) in records.iter().enumerate() {
            assert_eq!(
                r.offset, i as i64,
                "partition {partition}: offsets must be contiguous from 0 after recovery"
            );
            assert!(
                keys.insert(r.key.clone()),
                "partition {partition}: key {} stored twice (second at offset {})",
                r.key_str(),
                r.offset
            );
        }
        for (key, p, offset, value) in acked.iter().filter(|a| a.1 == partition) {
            let stored = records.get(*offset as usize).unwrap_or_else(|| {
                panic!(
                    "acked offset {offset} of partition {p} missing after restart \
                     (log ends at {})",
                    records.len()
                )
            });
            assert!(
                stored.key.as_deref() == Some(&key[..]) && stored.value.as_deref() == Some(&value[..]),
                "partition {p} offset {offset}: acked record {} differs after restart (found key {})",
                String::from_utf8_lossy(key),
                stored.key_str()
            );
        }
        // the log keeps accepting writes right after the recovered end
        let producer = broker.producer();
        let (_, next) = broker.produce_one(&producer, &topic, partition, b"after", b"restart");
        assert_eq!(
            next,
            records.len() as i64,
            "partition {partition}: first offset after recovery"
        );
    }
    assert!(
        stored_total >= acked.len(),
        "stored {stored_total} records, fewer than the {} acknowledged",
        acked.len()
    );
}

#[test]
fn clean_restart_keeps_topics_configs_and_records() {
    let mut broker = TestBroker::start();
    let topic = topic_name("restart");
    broker.create_topic(&topic, 2, &[("retention.ms", "12345678")]);
    let producer = broker.producer();
    for p in 0..2 {
        for i in 0..50 {
            broker.produce_one(&producer, &topic, p, b"k", format!("p{p}-{i}").as_bytes());
        }
    }
    let before: Vec<Vec<ConsumedRecord>> =
        (0..2).map(|p| broker.consume_all(&topic, p, 0)).collect();
    drop(producer);

    broker.stop();
    broker.restart();
    broker.wait_for_topic(&topic, 2);

    let admin = broker.admin();
    let resource = ResourceSpecifier::Topic(&topic);
    let described =
        block_on(admin.describe_configs([&resource], &admin_options())).expect("DescribeConfigs");
    let config = described
        .into_iter()
        .next()
        .expect("one resource")
        .expect("DescribeConfigs of the topic");
    assert_eq!(
        config.get("retention.ms").and_then(|e| e.value.as_deref()),
        Some("12345678"),
        "topic config must survive a restart"
    );
    for p in 0..2 {
        let after = broker.consume_all(&topic, p, 0);
        assert_eq!(
            after, before[p as usize],
            "partition {p} records after a clean restart"
        );
    }
    let producer = broker.producer();
    let (_, offset) = broker.produce_one(&producer, &topic, 0, b"k", b"next");
    assert_eq!(offset, 50, "offsets continue after a clean restart");
}

#[test]
fn time_retention_deletes_old_segments_and_advances_log_start() {
    let broker = TestBroker::start_with(&[("log.retention.check.interval.ms", "200")]);
    let topic = topic_name("retention");
    broker.create_topic(
        &topic,
        1,
        &[("segment.ms", "200"), ("retention.ms", "60000")],
    );
    let producer = broker.producer();
    let hour_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
        - 3_600_000;
    for i in 0..50 {
        let v = format!("old-{i}");
        let record = FutureRecord::to(&topic)
            .partition(0)
            .key("old")
            .payload(&v)
            .timestamp(hour_ago + i);
        block_on(producer.send(record, CLIENT_TIMEOUT))
            .unwrap_or_else(|(e, _)| panic!("old record {i} not acknowledged: {e}"));
    }
    // Segments may already be rolled (segment.ms=200) and deleted (the records are an hour
    // old) while the producer is still sending: only the high watermark is fixed here.
    assert_eq!(
        broker.watermarks(&topic, 0).1,
        50,
        "all 50 old records acknowledged"
    );

    // keep appending fresh records (so the old segment rolls) until retention removes it
    let mut fresh = 0;
    wait_until(
        Duration::from_secs(60),
        "log start offset to pass the hour-old records",
        || {
            broker.produce_one(
                &producer,
                &topic,
                0,
                b"fresh",
                format!("fresh-{fresh}").as_bytes(),
            );
            fresh += 1;
            broker.watermarks(&topic, 0).0 >= 50
        },
    );
    let (low, high) = broker.watermarks(&topic, 0);
    assert_eq!(high, 50 + fresh, "no fresh record may be lost");
    let records = broker.consume_all(&topic, 0, 0);
    assert_eq!(
        records.first().map(|r| r.offset),
        Some(low),
        "consuming from 0 starts at the log start"
    );
    assert!(
        records.iter().all(|r| r.key_str() == "fresh"),
        "only fresh records remain"
    );
    let partition_dir = broker.data_dir().join(format!("{topic}-0"));
    let logs = files_with_suffix(&partition_dir, ".log");
    assert!(
        !logs.iter().any(|p| p.ends_with("00000000000000000000.log")),
        "the first segment file should be gone (or renamed .deleted): {logs:?}"
    );
}

#[test]
fn delete_records_survives_kill_9() {
    let mut broker = TestBroker::start();
    let topic = broker.new_topic("delrec-crash", 1);
    let producer = broker.producer();
    for i in 0..60 {
        broker.produce_one(&producer, &topic, 0, b"k", format!("v{i}").as_bytes());
    }
    drop(producer);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(25))
        .expect("tpl");
    let admin = broker.admin();
    let result = block_on(admin.delete_records(&tpl, &admin_options())).expect("DeleteRecords");
    let p = result
        .find_partition(&topic, 0)
        .expect("partition in result");
    assert!(p.error().is_ok(), "DeleteRecords error: {:?}", p.error());
    drop(admin);

    broker.kill9_and_restart();
    broker.wait_for_topic(&topic, 1);
    assert_eq!(
        broker.watermarks(&topic, 0),
        (25, 60),
        "an acknowledged DeleteRecords must survive kill -9 (low watermark came back lower)"
    );
    let records = broker.consume_all(&topic, 0, 0);
    assert_eq!(
        records.first().map(|r| r.offset),
        Some(25),
        "deleted records reappeared after kill -9"
    );
}
