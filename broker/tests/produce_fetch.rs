//! A user's session: produce records with librdkafka and read them back — keys, headers,
//! timestamps, every codec, large records, many partitions, every acks level, offsets by
//! time, long polls and fetch sessions.
mod common;

use std::time::{Duration, Instant};

use common::*;
use kafka_protocol::records::Compression;
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Message, OwnedHeaders, Timestamp};
use rdkafka::producer::{FutureRecord, Producer};
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

#[test]
fn keys_headers_and_create_time_round_trip() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("kh", 1);
    let producer = broker.producer();
    let base_ts = now_ms() - 60_000;
    for i in 0..20i64 {
        let key = format!("key-{i}");
        let value = format!("value {i} ünïcödé");
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "trace-id",
                value: Some(&format!("t-{i}")),
            })
            .insert(Header {
                key: "empty",
                value: Some(""),
            })
            .insert(Header::<&str> {
                key: "null",
                value: None,
            });
        let record = FutureRecord::to(&topic)
            .partition(0)
            .key(&key)
            .payload(&value)
            .headers(headers)
            .timestamp(base_ts + i);
        let delivery = block_on(producer.send(record, CLIENT_TIMEOUT))
            .unwrap_or_else(|(e, _)| panic!("record {i} not acknowledged: {e}"));
        assert_eq!(
            delivery.offset, i,
            "record {i} acknowledged at the wrong offset"
        );
    }

    let records = broker.consume_all(&topic, 0, 0);
    assert_eq!(records.len(), 20, "expected all 20 records back");
    for (i, r) in records.iter().enumerate() {
        let i = i as i64;
        assert_eq!(r.offset, i, "offsets must be contiguous from 0");
        assert_eq!(r.key_str(), format!("key-{i}"), "key of offset {i}");
        assert_eq!(
            r.value_str(),
            format!("value {i} ünïcödé"),
            "value of offset {i}"
        );
        assert_eq!(
            r.headers,
            vec![
                ("trace-id".to_string(), Some(format!("t-{i}").into_bytes())),
                ("empty".to_string(), Some(Vec::new())),
                ("null".to_string(), None),
            ],
            "headers of offset {i} (order, empty and null values must survive)"
        );
        assert_eq!(
            r.timestamp,
            Timestamp::CreateTime(base_ts + i),
            "CreateTime of offset {i} must be the producer's timestamp"
        );
    }
}

#[test]
fn every_codec_round_trips_multi_record_batches() {
    let broker = TestBroker::start();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = topic_name(&format!("codec-{codec}"));
        broker.create_topic(&topic, 1, &[]);
        let producer = broker.producer_with(&[
            ("compression.type", codec),
            ("linger.ms", "100"),
            ("batch.num.messages", "250"),
        ]);
        let sent: Vec<(String, String)> = (0..1000)
            .map(|i| {
                (
                    format!("k{i}"),
                    format!("{i} compressible payload compressible payload {}", i % 7),
                )
            })
            .collect();
        let futures: Vec<_> = sent
            .iter()
            .map(|(k, v)| {
                producer
                    .send_result(FutureRecord::to(&topic).partition(0).key(k).payload(v))
                    .unwrap_or_else(|(e, _)| panic!("enqueue for {codec} failed: {e}"))
            })
            .collect();
        for (i, f) in futures.into_iter().enumerate() {
            block_on(f)
                .expect("delivery future dropped")
                .unwrap_or_else(|(e, _)| panic!("{codec}: record {i} not acknowledged: {e}"));
        }
        let got: Vec<(String, String)> = broker
            .consume_all(&topic, 0, 0)
            .iter()
            .map(|r| (r.key_str(), r.value_str()))
            .collect();
        assert_eq!(got.len(), sent.len(), "{codec}: record count differs");
        assert!(got == sent, "{codec}: records differ after the round trip");
    }
}

#[test]
fn one_megabyte_records_round_trip_with_raised_limits() {
    let broker = TestBroker::start_with(&[("message.max.bytes", "4194304")]);
    let topic = topic_name("big");
    broker.create_topic(&topic, 1, &[("max.message.bytes", "4194304")]);
    let producer = broker.producer_with(&[("message.max.bytes", "4000000")]);
    let payloads: Vec<Vec<u8>> = (0..3u32)
        .map(|n| {
            (0..1_100_000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(n) >> 13) as u8)
                .collect()
        })
        .collect();
    for (i, p) in payloads.iter().enumerate() {
        let (_, offset) = broker.produce_one(&producer, &topic, 0, b"big", p);
        assert_eq!(offset, i as i64, "large record {i} offset");
    }
    let records = broker.consume_all(&topic, 0, 0);
    assert_eq!(records.len(), 3, "expected 3 large records back");
    for (i, r) in records.iter().enumerate() {
        assert!(
            r.value.as_deref() == Some(&payloads[i][..]),
            "large record {i} differs (got {} bytes, sent {})",
            r.value.as_ref().map_or(0, |v| v.len()),
            payloads[i].len()
        );
    }
}

#[test]
fn sixteen_partitions_each_keep_their_own_order() {
    let broker = TestBroker::start();
    let topic = topic_name("many");
    let partitions = 16;
    broker.create_topic(&topic, partitions, &[]);
    let producer = broker.producer();
    let mut futures = Vec::new();
    for p in 0..partitions {
        for i in 0..25 {
            let value = format!("p{p}-{i}");
            futures.push(
                producer
                    .send_result(
                        FutureRecord::<(), _>::to(&topic)
                            .partition(p)
                            .payload(&value),
                    )
                    .unwrap_or_else(|(e, _)| panic!("enqueue failed: {e}")),
            );
        }
    }
    for f in futures {
        block_on(f)
            .expect("delivery future dropped")
            .unwrap_or_else(|(e, _)| panic!("record not acknowledged: {e}"));
    }
    for p in 0..partitions {
        let got: Vec<(i64, String)> = broker
            .consume_all(&topic, p, 0)
            .iter()
            .map(|r| (r.offset, r.value_str()))
            .collect();
        let want: Vec<(i64, String)> = (0..25).map(|i| (i, format!("p{p}-{i}"))).collect();
        assert_eq!(got, want, "partition {p} content");
    }
}

#[test]
fn acks_zero_one_and_all_store_every_record() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("acks", 1);
    for acks in ["0", "1", "all"] {
        let producer = broker.producer_with(&[("acks", acks)]);
        for i in 0..50 {
            let value = format!("acks={acks} #{i}");
            producer
                .send_result(
                    FutureRecord::<(), _>::to(&topic)
                        .partition(0)
                        .payload(&value),
                )
                .unwrap_or_else(|(e, _)| panic!("enqueue failed: {e}"));
        }
        producer
            .flush(Timeout::After(CLIENT_TIMEOUT))
            .unwrap_or_else(|e| panic!("flush with acks={acks} failed: {e}"));
    }
    // acks=0 gives no confirmation: wait until the broker shows all 150.
    wait_until(CLIENT_TIMEOUT, "high watermark 150", || {
        broker.watermarks(&topic, 0).1 >= 150
    });
    let got: Vec<String> = broker
        .consume_all(&topic, 0, 0)
        .iter()
        .map(|r| r.value_str())
        .collect();
    let want: Vec<String> = ["0", "1", "all"]
        .iter()
        .flat_map(|a| (0..50).map(move |i| format!("acks={a} #{i}")))
        .collect();
    assert_eq!(
        got, want,
        "all records of all acks levels, in produce order"
    );
}

#[test]
fn consuming_from_an_offset_starts_exactly_there() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("from", 1);
    let producer = broker.producer_with(&[("linger.ms", "50")]);
    let futures: Vec<_> = (0..100)
        .map(|i| {
            let v = format!("v{i}");
            producer
                .send_result(FutureRecord::<(), _>::to(&topic).partition(0).payload(&v))
                .unwrap_or_else(|(e, _)| panic!("enqueue failed: {e}"))
        })
        .collect();
    for f in futures {
        block_on(f)
            .expect("delivery future dropped")
            .unwrap_or_else(|(e, _)| panic!("record not acknowledged: {e}"));
    }
    for from in [0i64, 1, 37, 99] {
        let got = broker.consume_all(&topic, 0, from);
        assert_eq!(got.len() as i64, 100 - from, "records from offset {from}");
        assert_eq!(got[0].offset, from, "first offset when starting at {from}");
        assert_eq!(
            got[0].value_str(),
            format!("v{from}"),
            "first value from {from}"
        );
    }
    assert!(
        broker.consume_all(&topic, 0, 100).is_empty(),
        "starting at the high watermark yields nothing"
    );
}

#[test]
fn list_offsets_earliest_latest_by_time_and_max_timestamp() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("lo", 1);
    let producer = broker.producer();
    let t0 = now_ms() - 600_000;
    // offsets 0..9 at t0 + i s, except offset 5 carries the largest timestamp
    let ts_of = |i: i64| if i == 5 { t0 + 500_000 } else { t0 + i * 1000 };
    for i in 0..10i64 {
        let v = format!("v{i}");
        let record = FutureRecord::<(), _>::to(&topic)
            .partition(0)
            .payload(&v)
            .timestamp(ts_of(i));
        block_on(producer.send(record, CLIENT_TIMEOUT))
            .unwrap_or_else(|(e, _)| panic!("record {i} not acknowledged: {e}"));
    }

    assert_eq!(broker.watermarks(&topic, 0), (0, 10), "watermarks");

    // librdkafka's offsets_for_times: first offset with timestamp >= target
    let consumer = broker.consumer();
    let mut query = TopicPartitionList::new();
    query
        .add_partition_offset(&topic, 0, Offset::Offset(t0 + 2500))
        .expect("build query");
    let answer = consumer
        .offsets_for_times(query, CLIENT_TIMEOUT)
        .expect("offsets_for_times");
    let offset = answer
        .find_partition(&topic, 0)
        .expect("partition in answer")
        .offset();
    assert_eq!(
        offset,
        Offset::Offset(3),
        "first record at or after t0+2.5s"
    );

    let mut raw = broker.raw();
    assert_eq!(raw.list_offset(&topic, 0, -2).1, 0, "earliest offset");
    assert_eq!(raw.list_offset(&topic, 0, -1).1, 10, "latest offset");
    let (code, offset, ts) = raw.list_offset(&topic, 0, -3);
    assert_eq!(code, codes::NONE, "max-timestamp lookup error code");
    assert_eq!(
        (offset, ts),
        (5, t0 + 500_000),
        "max timestamp (-3) must point at offset 5 with the largest timestamp"
    );
    let (code, offset, ts) = raw.list_offset(&topic, 0, t0 + 2500);
    assert_eq!(
        (code, offset, ts),
        (codes::NONE, 3, t0 + 3000),
        "by time t0+2.5s"
    );
    let (code, offset, _) = raw.list_offset(&topic, 0, t0 + 900_000);
    assert_eq!(
        (code, offset),
        (codes::NONE, -1),
        "a timestamp after every record finds no offset (-1)"
    );
}

#[test]
fn a_waiting_consumer_gets_a_record_produced_later() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("longpoll", 1);
    // A long wait, so that an answer well before it can only be the wake-up on new data,
    // however loaded the machine is (the first fetch, which reports EOF, waits it out).
    let consumer = broker.consumer_with(&[("fetch.wait.max.ms", "20000")]);
    assign(&consumer, &topic, 0, Offset::Offset(0));
    // reaching partition EOF means the consumer is now long-polling the empty partition;
    // on a loaded machine that has taken more than one 20 s wait (the first fetch of a
    // just-created partition not reporting EOF yet), so the setup may take several
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        assert!(
            Instant::now() < deadline,
            "no partition EOF on the empty partition"
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Err(KafkaError::PartitionEOF(_))) => break,
            Some(Ok(m)) => panic!("empty partition returned a record at offset {}", m.offset()),
            Some(Err(e)) => panic!("consumer error on the empty partition: {e}"),
            None => {}
        }
    }
    let producer = broker.producer();
    let produced_at = Instant::now();
    broker.produce_one(&producer, &topic, 0, b"late", b"arrives while waiting");
    let got = loop {
        assert!(
            produced_at.elapsed() < Duration::from_secs(45),
            "record produced during the long poll never arrived"
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => break ConsumedRecord::from_message(&m),
            Some(Err(KafkaError::PartitionEOF(_))) | None => {}
            Some(Err(e)) => panic!("consumer error: {e}"),
        }
    };
    assert_eq!(got.value_str(), "arrives while waiting");
    assert!(
        produced_at.elapsed() < Duration::from_secs(10),
        "the waiting fetch should wake up when data arrives, not at fetch.wait.max.ms=20 s \
         (took {:?})",
        produced_at.elapsed()
    );
}

#[test]
fn an_empty_fetch_waits_for_max_wait_ms() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("emptywait", 1);
    let mut raw = broker.raw();
    let started = Instant::now();
    let response = raw.fetch(&topic, 0, 0, 0, -1, 600);
    let waited = started.elapsed();
    let p = &response.responses[0].partitions[0];
    assert_eq!(p.error_code, codes::NONE, "fetch of an empty partition");
    assert!(
        p.records.as_ref().is_none_or(|r| r.is_empty()),
        "an empty partition returned records"
    );
    assert!(
        waited >= Duration::from_millis(450),
        "a fetch with min_bytes=1 on an empty partition must wait about max_wait_ms=600 \
         (returned after {waited:?})"
    );
}

#[test]
fn log_append_time_topic_stamps_broker_time() {
    let broker = TestBroker::start();
    let topic = topic_name("lat");
    broker.create_topic(&topic, 1, &[("message.timestamp.type", "LogAppendTime")]);
    let producer = broker.producer();
    let before = now_ms();
    let record = FutureRecord::to(&topic)
        .partition(0)
        .key("k")
        .payload("v")
        .timestamp(1_000_000);
    let delivery = block_on(producer.send(record, CLIENT_TIMEOUT))
        .unwrap_or_else(|(e, _)| panic!("not acknowledged: {e}"));
    let after = now_ms();
    let got = broker.consume_all(&topic, 0, 0);
    assert_eq!(got.len(), 1);
    let stamped = match got[0].timestamp {
        Timestamp::LogAppendTime(ts) => ts,
        other => panic!("expected LogAppendTime, got {other:?}"),
    };
    assert!(
        (before - 1000..=after + 1000).contains(&stamped),
        "LogAppendTime {stamped} is not the broker's clock at append ({before}..{after})"
    );
    // The ack's log_append_time_ms (which librdkafka reports as the delivery's timestamp)
    // is the time the broker stamped on the batch.
    match delivery.timestamp {
        Timestamp::LogAppendTime(ts) => assert_eq!(
            ts, stamped,
            "produce response log_append_time_ms differs from the stored LogAppendTime"
        ),
        other => panic!(
            "the produce ack of a LogAppendTime topic must carry log_append_time_ms, got {other:?}"
        ),
    }
}

#[test]
fn fetch_sessions_serve_incremental_fetches() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("session", 1);
    let mut raw = broker.raw();
    let batch = encode_batch(&[(b"k0", b"v0")], 2, Compression::None, now_ms());
    assert_eq!(raw.produce(&topic, 0, batch, -1).error_code, codes::NONE);

    // full fetch, epoch 0: asks for a new session
    let full = raw.fetch(&topic, 0, 0, 0, 0, 100);
    assert_eq!(full.error_code, codes::NONE, "full fetch opening a session");
    let session_id = full.session_id;
    assert_ne!(session_id, 0, "the broker should create a fetch session");
    let records = full.responses[0].partitions[0]
        .records
        .clone()
        .unwrap_or_default();
    assert_eq!(
        decode_records(records).len(),
        1,
        "full fetch returns the record"
    );

    // incremental fetch, epoch 1, nothing new: the session still works
    let batch = encode_batch(&[(b"k1", b"v1")], 2, Compression::None, now_ms());
    assert_eq!(raw.produce(&topic, 0, batch, -1).error_code, codes::NONE);
    let incremental = raw.fetch(&topic, 0, 1, session_id, 1, 100);
    assert_eq!(incremental.error_code, codes::NONE, "incremental fetch");
    assert_eq!(incremental.session_id, session_id, "same session id");
    let records: Vec<_> = incremental
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .filter_map(|p| p.records.clone())
        .flat_map(decode_records)
        .collect();
    assert_eq!(
        records.len(),
        1,
        "incremental fetch returns only the new record"
    );
    assert_eq!(records[0].value.as_deref(), Some(&b"v1"[..]));

    let wrong_epoch = raw.fetch(&topic, 0, 2, session_id, 7, 100);
    assert_eq!(
        wrong_epoch.error_code,
        codes::INVALID_FETCH_SESSION_EPOCH,
        "a skipped session epoch"
    );
    let unknown = raw.fetch(&topic, 0, 2, session_id.wrapping_add(12345), 1, 100);
    assert_eq!(
        unknown.error_code,
        codes::FETCH_SESSION_ID_NOT_FOUND,
        "an unknown session id"
    );
}

/// Produce v13 (Kafka 4.1, KIP-516) names each topic by its id: the records land in that
/// topic, the response names it by id, and an id no topic has is UNKNOWN_TOPIC_ID.
#[test]
fn produce_v13_names_topics_by_id() {
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{MetadataRequest, ProduceRequest};
    const UNKNOWN_TOPIC_ID: i16 = 100;

    let broker = TestBroker::start();
    let topic = broker.new_topic("by-id", 1);
    let mut raw = broker.raw();
    let metadata = raw
        .call(
            versions::METADATA,
            &MetadataRequest::default().with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic_name_of(&topic)))
            ])),
        )
        .expect("raw Metadata");
    let topic_id = metadata.topics[0].topic_id;
    assert!(!topic_id.is_nil(), "Metadata v12 names the topic's id");

    let produce = |raw: &mut RawClient, id| {
        let batch = encode_batch(&[(b"k", b"by id")], 2, Compression::None, now_ms());
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_topic_id(id)
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(batch))])]);
        raw.call(13, &request).expect("raw Produce v13")
    };
    let response = produce(&mut raw, topic_id);
    let answered = &response.responses[0];
    assert_eq!(
        answered.topic_id, topic_id,
        "the response names the topic by id"
    );
    let partition = &answered.partition_responses[0];
    assert_eq!(
        (partition.error_code, partition.base_offset),
        (codes::NONE, 0),
        "Produce v13 by topic id"
    );
    let records = broker.consume_all(&topic, 0, 0);
    assert_eq!(
        records.iter().map(|r| r.value_str()).collect::<Vec<_>>(),
        ["by id"],
        "the record produced by topic id is in the topic"
    );

    let unknown = uuid::Uuid::new_v4();
    let response = produce(&mut raw, unknown);
    assert_eq!(
        response.responses[0].partition_responses[0].error_code, UNKNOWN_TOPIC_ID,
        "an id no topic has"
    );
}
