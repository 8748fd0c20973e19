//! A user's session with far more partitions than the broker's open-files limit would allow
//! if every partition kept its files open: the broker creates them, serves a sample of them,
//! and restarts — cleanly and after kill -9 — under the same limit, losing no acknowledged
//! record.
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::*;
use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::FutureProducer;
use rdkafka::{Offset, TopicPartitionList};

/// Soft = hard `RLIMIT_NOFILE` of the broker: three files per partition would need 6,000.
const OPEN_FILES_LIMIT: u64 = 512;
const TOPICS: usize = 20;
const PARTITIONS_PER_TOPIC: i32 = 100;
/// Descriptors a freshly restarted broker may hold: far fewer than one per partition.
const IDLE_DESCRIPTORS_MAX: usize = 300;

type Partition = (String, i32);
/// Acknowledged records per partition: offset → value.
type Acked = BTreeMap<Partition, BTreeMap<i64, String>>;

fn produce_round(
    broker: &TestBroker,
    producer: &FutureProducer,
    partitions: &[Partition],
    round: &str,
    acked: &mut Acked,
) {
    for (topic, partition) in partitions {
        let records: Vec<(Vec<u8>, Option<Vec<u8>>)> = (0..3)
            .map(|i| {
                let value = format!("{round}-{topic}-{partition}-{i}");
                (format!("k{i}").into_bytes(), Some(value.into_bytes()))
            })
            .collect();
        let offsets = broker.produce_all(producer, topic, *partition, &records);
        let entry = acked.entry((topic.clone(), *partition)).or_default();
        for (offset, (_, value)) in offsets.into_iter().zip(records) {
            let value = String::from_utf8(value.unwrap_or_default()).unwrap_or_default();
            entry.insert(offset, value);
        }
    }
}

/// Reads every listed partition from offset 0 up to its high watermark, with one consumer.
fn read_partitions(broker: &TestBroker, partitions: &[Partition]) -> Acked {
    let consumer = broker.consumer();
    let mut assignment = TopicPartitionList::new();
    let mut remaining: BTreeMap<Partition, i64> = BTreeMap::new();
    for (topic, partition) in partitions {
        let (_, high) = broker.watermarks(topic, *partition);
        if high > 0 {
            remaining.insert((topic.clone(), *partition), high);
            assignment
                .add_partition_offset(topic, *partition, Offset::Offset(0))
                .unwrap_or_else(|e| panic!("cannot assign {topic}/{partition}: {e}"));
        }
    }
    consumer
        .assign(&assignment)
        .unwrap_or_else(|e| panic!("assign failed: {e}"));
    let mut read: Acked = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !remaining.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{} partitions not read up to their high watermark within 120 s: {:?}",
            remaining.len(),
            remaining.keys().take(5).collect::<Vec<_>>()
        );
        match consumer.poll(Duration::from_millis(200)) {
            None | Some(Err(KafkaError::PartitionEOF(_))) => {}
            Some(Ok(message)) => {
                let key = (message.topic().to_string(), message.partition());
                let value = String::from_utf8_lossy(message.payload().unwrap_or_default());
                read.entry(key.clone())
                    .or_default()
                    .insert(message.offset(), value.into_owned());
                if remaining
                    .get(&key)
                    .is_some_and(|high| message.offset() + 1 >= *high)
                {
                    remaining.remove(&key);
                }
            }
            Some(Err(e)) => panic!("consuming the sample partitions failed: {e}"),
        }
    }
    read
}

fn assert_all_readable(broker: &TestBroker, acked: &Acked, when: &str) {
    let partitions: Vec<Partition> = acked.keys().cloned().collect();
    let read = read_partitions(broker, &partitions);
    for (partition, records) in acked {
        let got = read.get(partition).cloned().unwrap_or_default();
        for (offset, value) in records {
            assert_eq!(
                got.get(offset),
                Some(value),
                "{when}: acknowledged record at offset {offset} of {}/{} is missing or changed \
                 (partition holds {} records)\n{}",
                partition.0,
                partition.1,
                got.len(),
                broker.log_tail()
            );
        }
    }
}

fn assert_never_out_of_descriptors(broker: &TestBroker) {
    let log = broker.log_text();
    assert!(
        !log.contains("Too many open files"),
        "the broker ran out of file descriptors under a limit of {OPEN_FILES_LIMIT}\n{}",
        broker.log_tail()
    );
}

#[test]
fn two_thousand_partitions_serve_and_restart_under_a_512_descriptor_limit() {
    let mut broker = TestBroker::start_with_open_files_limit(&[], OPEN_FILES_LIMIT);
    let prefix = topic_name("many");
    let topics: Vec<String> = (0..TOPICS).map(|t| format!("{prefix}-{t}")).collect();

    let admin = broker.admin();
    let new_topics: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, PARTITIONS_PER_TOPIC, TopicReplication::Fixed(1)))
        .collect();
    let results = block_on(admin.create_topics(&new_topics, &admin_options()))
        .unwrap_or_else(|e| panic!("CreateTopics of {TOPICS} topics failed as a request: {e}"));
    for result in results {
        if let Err((topic, code)) = result {
            panic!("CreateTopics {topic} failed: {code:?}");
        }
    }
    for topic in &topics {
        broker.wait_for_topic(topic, PARTITIONS_PER_TOPIC);
    }
    // Three partitions of every topic, spread over the partition range.
    let sample = |salt: usize| -> Vec<Partition> {
        let mut chosen = BTreeSet::new();
        for (t, topic) in topics.iter().enumerate() {
            for k in 0..3usize {
                let partition =
                    ((t * 37 + k * 41 + salt * 13) % PARTITIONS_PER_TOPIC as usize) as i32;
                chosen.insert((topic.clone(), partition));
            }
        }
        chosen.into_iter().collect()
    };
    let first = sample(0);
    let mut acked: Acked = BTreeMap::new();
    let producer = broker.producer_with(&[("acks", "all")]);
    produce_round(&broker, &producer, &first, "created", &mut acked);
    assert_all_readable(&broker, &acked, "right after producing");
    assert_never_out_of_descriptors(&broker);
    drop(producer);

    broker.stop();
    broker.restart();
    // Loading keeps no file open: what is open right after start-up is sockets, the
    // metadata log and the few files start-up read last (the cache keeps them).
    let descriptors = broker.open_file_descriptors();
    eprintln!("descriptors after the clean restart: {descriptors}");
    assert!(
        descriptors < IDLE_DESCRIPTORS_MAX,
        "{descriptors} descriptors open right after loading {} idle partitions, expected \
         fewer than {IDLE_DESCRIPTORS_MAX}",
        TOPICS * PARTITIONS_PER_TOPIC as usize
    );
    assert_all_readable(&broker, &acked, "after a clean restart");
    // Partitions never used before the restart serve too.
    let second = sample(1);
    let producer = broker.producer_with(&[("acks", "all")]);
    produce_round(
        &broker,
        &producer,
        &second,
        "after-clean-restart",
        &mut acked,
    );
    produce_round(
        &broker,
        &producer,
        &first,
        "after-clean-restart",
        &mut acked,
    );
    drop(producer);

    broker.kill9();
    broker.restart();
    assert_all_readable(&broker, &acked, "after kill -9 and a restart");
    assert_never_out_of_descriptors(&broker);
    let producer = broker.producer_with(&[("acks", "all")]);
    produce_round(&broker, &producer, &sample(2), "after-kill-9", &mut acked);
    assert_all_readable(&broker, &acked, "after producing once more");
}
