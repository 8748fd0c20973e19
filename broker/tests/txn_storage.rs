//! Transactions, partition side: transactional batches hold the last stable offset (LSO)
//! until a transaction marker (WriteTxnMarkers, as Kafka's coordinator sends it) ends them;
//! read_committed fetches stop at the LSO and carry the aborted transactions, which real
//! clients (librdkafka) use to drop aborted records; the LSO survives kill -9; clients
//! cannot write control batches.

mod common;

use std::time::Duration;

use common::*;
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::records::Compression;

/// These tests drive the partition side alone (batches and markers from a raw client, no
/// transaction coordinator), so KIP-890's verification is off, as a Kafka broker with
/// `transaction.partition.verification.enable=false`; the transactional id on their
/// produce requests is then only required, not checked.
const UNVERIFIED: &[(&str, &str)] = &[("transaction.partition.verification.enable", "false")];
const RAW_TXN_ID: &str = "raw-txn";

const READ_UNCOMMITTED: i8 = 0;
const READ_COMMITTED: i8 = 1;
const LATEST: i64 = -1;

/// Partition 0's fetch result at `isolation_level`, without waiting.
fn fetch(raw: &mut RawClient, topic: &str, offset: i64, isolation_level: i8) -> PartitionData {
    raw.fetch_isolated(topic, 0, offset, isolation_level)
}

fn values(p: &PartitionData) -> Vec<String> {
    let records = p.records.clone().unwrap_or_default();
    if records.is_empty() {
        return Vec::new();
    }
    decode_records(records)
        .into_iter()
        .filter(|r| !r.control)
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect()
}

/// What these tests start from: a broker without transaction verification, a fresh
/// topic, a raw connection and an idempotent producer id (with its epoch).
struct Session {
    broker: TestBroker,
    topic: String,
    raw: RawClient,
    pid: i64,
    epoch: i16,
}

impl Session {
    fn start(topic_prefix: &str) -> Self {
        let broker = TestBroker::start_with(UNVERIFIED);
        let topic = broker.new_topic(topic_prefix, 1);
        let mut raw = broker.raw();
        let (pid, epoch) = raw.init_idempotent_producer();
        Session {
            broker,
            topic,
            raw,
            pid,
            epoch,
        }
    }
}

/// One plain record (key `k`, timestamped now) to partition 0, acknowledged.
fn produce_plain(raw: &mut RawClient, topic: &str, value: &[u8]) {
    let plain = encode_batch(&[(b"k", value)], 2, Compression::None, now_ms());
    assert_eq!(raw.produce(topic, 0, plain, -1).error_code, codes::NONE);
}

fn latest(raw: &mut RawClient, topic: &str, isolation_level: i8) -> i64 {
    let (code, offset, _) = raw.list_offset_isolated(topic, 0, LATEST, isolation_level);
    assert_eq!(code, codes::NONE, "ListOffsets latest failed");
    offset
}

#[test]
fn an_open_transaction_holds_read_committed_at_the_lso_until_its_commit_marker() {
    let Session {
        broker,
        topic,
        mut raw,
        pid,
        epoch,
    } = Session::start("txn-commit");

    produce_plain(&mut raw, &topic, b"before");
    let txn = encode_transactional_batch(&[b"t1", b"t2"], pid, epoch, 0);
    let r = raw.produce_as(Some(RAW_TXN_ID), &topic, 0, txn, -1);
    assert_eq!((r.error_code, r.base_offset), (codes::NONE, 1));

    let uncommitted = fetch(&mut raw, &topic, 0, READ_UNCOMMITTED);
    assert_eq!(values(&uncommitted), vec!["before", "t1", "t2"]);
    assert_eq!(uncommitted.high_watermark, 3);
    let committed = fetch(&mut raw, &topic, 0, READ_COMMITTED);
    assert_eq!(
        values(&committed),
        vec!["before"],
        "read_committed must stop at the open transaction"
    );
    assert_eq!(
        committed.last_stable_offset, 1,
        "the LSO is the open transaction's first offset"
    );
    assert_eq!(
        fetch(&mut raw, &topic, 1, READ_COMMITTED)
            .records
            .unwrap_or_default()
            .len(),
        0,
        "nothing is readable committed at the LSO"
    );
    assert_eq!(latest(&mut raw, &topic, READ_UNCOMMITTED), 3);
    assert_eq!(
        latest(&mut raw, &topic, READ_COMMITTED),
        1,
        "ListOffsets latest read_committed answers the LSO"
    );

    // A producer inside a transaction cannot write outside it.
    let stray = encode_idempotent_batch(&[b"stray"], pid, epoch, 2);
    assert_eq!(
        raw.produce(&topic, 0, stray, -1).error_code,
        codes::INVALID_TXN_STATE
    );

    assert_eq!(
        raw.write_txn_marker(&topic, &[0], pid, epoch, 0, true),
        vec![(0, codes::NONE)]
    );
    let committed = fetch(&mut raw, &topic, 0, READ_COMMITTED);
    assert_eq!(values(&committed), vec!["before", "t1", "t2"]);
    assert_eq!(
        committed.last_stable_offset, 4,
        "after the commit marker (offset 3) the LSO is the high watermark"
    );
    assert_eq!(committed.high_watermark, 4);
    assert_eq!(committed.aborted_transactions, Some(Vec::new()));
    assert_eq!(latest(&mut raw, &topic, READ_COMMITTED), 4);

    // librdkafka in read_committed mode sees the committed records.
    let got = broker.consume_all_with(&[("isolation.level", "read_committed")], &topic, 0, 0);
    let got: Vec<String> = got.iter().map(|r| r.value_str()).collect();
    assert_eq!(got, vec!["before", "t1", "t2"]);
}

#[test]
fn aborted_transactions_are_reported_and_real_consumers_drop_their_records() {
    let Session {
        broker,
        topic,
        mut raw,
        pid,
        epoch,
    } = Session::start("txn-abort");
    let (other, other_epoch) = raw.init_idempotent_producer();

    produce_plain(&mut raw, &topic, b"p0"); // 0
    let aborted = encode_transactional_batch(&[b"a1", b"a2"], pid, epoch, 0);
    assert_eq!(
        raw.produce_as(Some(RAW_TXN_ID), &topic, 0, aborted, -1)
            .base_offset,
        1
    ); // 1..=2
    let kept = encode_transactional_batch(&[b"c1"], other, other_epoch, 0);
    assert_eq!(
        raw.produce_as(Some(RAW_TXN_ID), &topic, 0, kept, -1)
            .base_offset,
        3
    ); // 3
    assert_eq!(
        raw.write_txn_marker(&topic, &[0], pid, epoch, 0, false),
        vec![(0, codes::NONE)]
    ); // abort marker at 4
    assert_eq!(
        fetch(&mut raw, &topic, 0, READ_COMMITTED).last_stable_offset,
        3,
        "the other producer's open transaction still holds the LSO"
    );
    assert_eq!(
        raw.write_txn_marker(&topic, &[0], other, other_epoch, 0, true),
        vec![(0, codes::NONE)]
    ); // commit marker at 5
    let plain = encode_batch(&[(b"k", b"p6")], 2, Compression::None, now_ms());
    assert_eq!(raw.produce(&topic, 0, plain, -1).base_offset, 6);

    let committed = fetch(&mut raw, &topic, 0, READ_COMMITTED);
    assert_eq!(committed.last_stable_offset, 7);
    let aborted_list: Vec<(i64, i64)> = committed
        .aborted_transactions
        .clone()
        .expect("read_committed fetch responses carry aborted_transactions")
        .iter()
        .map(|a| (a.producer_id.0, a.first_offset))
        .collect();
    assert_eq!(
        aborted_list,
        vec![(pid, 1)],
        "the aborted transaction overlapping the fetched range"
    );
    let after = fetch(&mut raw, &topic, 5, READ_COMMITTED);
    assert_eq!(
        after.aborted_transactions,
        Some(Vec::new()),
        "a fetch after the abort marker carries no aborted transaction"
    );
    assert!(
        fetch(&mut raw, &topic, 0, READ_UNCOMMITTED)
            .aborted_transactions
            .is_none_or(|a| a.is_empty()),
        "read_uncommitted fetches carry no aborted transactions"
    );

    let committed_values: Vec<String> = broker
        .consume_all_with(&[("isolation.level", "read_committed")], &topic, 0, 0)
        .iter()
        .map(|r| r.value_str())
        .collect();
    assert_eq!(
        committed_values,
        vec!["p0", "c1", "p6"],
        "librdkafka read_committed must not deliver aborted records"
    );
    let all_values: Vec<String> = broker
        .consume_all_with(&[("isolation.level", "read_uncommitted")], &topic, 0, 0)
        .iter()
        .map(|r| r.value_str())
        .collect();
    assert_eq!(all_values, vec!["p0", "a1", "a2", "c1", "p6"]);

    // The abort is in the partition's aborted transaction index, in Kafka's format.
    let partition_dir = broker.data_dir().join(format!("{topic}-0"));
    let index = files_with_suffix(&partition_dir, ".txnindex");
    assert_eq!(
        index.len(),
        1,
        "one .txnindex in {}",
        partition_dir.display()
    );
    let bytes = std::fs::read(&index[0]).expect("read .txnindex");
    assert_eq!(bytes.len(), 34, "one 34-byte entry");
    assert_eq!(&bytes[2..10], &pid.to_be_bytes(), "entry producer id");
    assert_eq!(&bytes[10..18], &1i64.to_be_bytes(), "entry first offset");
    assert_eq!(&bytes[18..26], &4i64.to_be_bytes(), "entry last offset");
}

#[test]
fn an_open_transaction_still_holds_the_lso_after_kill_9_and_aborts_survive_it() {
    let Session {
        mut broker,
        topic,
        mut raw,
        pid,
        epoch,
    } = Session::start("txn-crash");
    let (aborter, aborter_epoch) = raw.init_idempotent_producer();

    let aborted = encode_transactional_batch(&[b"x"], aborter, aborter_epoch, 0);
    assert_eq!(
        raw.produce_as(Some(RAW_TXN_ID), &topic, 0, aborted, -1)
            .base_offset,
        0
    );
    raw.write_txn_marker(&topic, &[0], aborter, aborter_epoch, 0, false); // 1
    let plain = encode_batch(&[(b"k", b"p")], 2, Compression::None, now_ms());
    assert_eq!(raw.produce(&topic, 0, plain, -1).base_offset, 2);
    let open = encode_transactional_batch(&[b"o1", b"o2"], pid, epoch, 0);
    assert_eq!(
        raw.produce_as(Some(RAW_TXN_ID), &topic, 0, open, -1)
            .base_offset,
        3
    );
    assert_eq!(latest(&mut raw, &topic, READ_COMMITTED), 3);

    broker.kill9_and_restart();
    let mut raw = broker.raw();
    wait_until(
        Duration::from_secs(30),
        "the partition answers ListOffsets after restart",
        || {
            raw.list_offset_isolated(&topic, 0, LATEST, READ_COMMITTED)
                .0
                == codes::NONE
        },
    );
    assert_eq!(
        latest(&mut raw, &topic, READ_COMMITTED),
        3,
        "the open transaction must still hold the LSO after kill -9"
    );
    assert_eq!(latest(&mut raw, &topic, READ_UNCOMMITTED), 5);
    let committed = fetch(&mut raw, &topic, 0, READ_COMMITTED);
    let aborted_list: Vec<(i64, i64)> = committed
        .aborted_transactions
        .unwrap_or_default()
        .iter()
        .map(|a| (a.producer_id.0, a.first_offset))
        .collect();
    assert_eq!(
        aborted_list,
        vec![(aborter, 0)],
        "the abort survives kill -9"
    );

    // A marker from an older producer epoch is fenced; the current one ends the txn.
    assert_eq!(
        raw.write_txn_marker(&topic, &[0], pid, epoch - 1, 0, true),
        vec![(0, codes::INVALID_PRODUCER_EPOCH)]
    );
    assert_eq!(
        raw.write_txn_marker(&topic, &[0], pid, epoch, 0, true),
        vec![(0, codes::NONE)]
    );
    assert_eq!(latest(&mut raw, &topic, READ_COMMITTED), 6);
}

#[test]
fn clients_cannot_write_control_batches_and_unknown_partitions_are_reported() {
    let Session {
        broker: _broker, // runs until the test ends
        topic,
        mut raw,
        pid,
        epoch,
    } = Session::start("txn-control");
    // Transactional records without the request's transactional id: the whole request
    // fails (Kafka's TRANSACTIONAL_ID_AUTHORIZATION_FAILED), nothing is written.
    let txn = encode_transactional_batch(&[b"t"], pid, epoch, 0);
    assert_eq!(
        raw.produce(&topic, 0, txn, -1).error_code,
        codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    );
    let control = encode_control_batch(pid, epoch, true, 0);
    assert_eq!(
        raw.produce(&topic, 0, control.clone(), -1).error_code,
        codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    );
    let r = raw.produce_as(Some(RAW_TXN_ID), &topic, 0, control, -1);
    assert_eq!(
        r.error_code,
        codes::INVALID_RECORD,
        "a client-sent control batch must be rejected"
    );
    assert_eq!(
        latest(&mut raw, &topic, READ_UNCOMMITTED),
        0,
        "nothing written"
    );
    // A marker without an ongoing transaction is written (Kafka allows it).
    assert_eq!(
        raw.write_txn_marker(&topic, &[0, 7], pid, epoch, 0, true),
        vec![(0, codes::NONE), (7, codes::UNKNOWN_TOPIC_OR_PARTITION)]
    );
    assert_eq!(latest(&mut raw, &topic, READ_COMMITTED), 1);
}

/// A described producer: (producer id, epoch, last sequence, coordinator epoch, open
/// transaction's first offset).
type DescribedProducer = (i64, i32, i32, i32, i64);

/// DescribeProducers v0 for partitions of `topic`: per partition (error, producers).
fn describe_producers(
    raw: &mut RawClient,
    topic: &str,
    partitions: &[i32],
) -> Vec<(i16, Vec<DescribedProducer>)> {
    use kafka_protocol::messages::describe_producers_request::TopicRequest;
    use kafka_protocol::messages::DescribeProducersRequest;
    let response = raw
        .call(
            0,
            &DescribeProducersRequest::default().with_topics(vec![TopicRequest::default()
                .with_name(topic_name_of(topic))
                .with_partition_indexes(partitions.to_vec())]),
        )
        .expect("DescribeProducers must be answered");
    response.topics[0]
        .partitions
        .iter()
        .map(|p| {
            let producers = p
                .active_producers
                .iter()
                .map(|s| {
                    (
                        s.producer_id.0,
                        s.producer_epoch,
                        s.last_sequence,
                        s.coordinator_epoch,
                        s.current_txn_start_offset,
                    )
                })
                .collect();
            (p.error_code, producers)
        })
        .collect()
}

#[test]
fn a_hanging_transaction_is_found_with_describe_producers_and_aborted_by_an_admin() {
    // The operator's procedure (kafka-transactions.sh find-hanging / abort): a transaction
    // no coordinator knows (possible with verification off, as on Kafka brokers before
    // KIP-890) holds the LSO; DescribeProducers shows its start, and a WriteTxnMarkers
    // ABORT from an admin releases it.
    let Session {
        broker,
        topic,
        mut raw,
        pid,
        epoch,
    } = Session::start("txn-hanging");
    produce_plain(&mut raw, &topic, b"before");
    let hanging = encode_transactional_batch(&[b"h1", b"h2"], pid, epoch, 0);
    assert_eq!(
        raw.produce_as(Some(RAW_TXN_ID), &topic, 0, hanging, -1)
            .base_offset,
        1
    );
    assert_eq!(
        latest(&mut raw, &topic, READ_COMMITTED),
        1,
        "the LSO is held"
    );

    let described = describe_producers(&mut raw, &topic, &[0, 5]);
    assert_eq!(
        described[0],
        (codes::NONE, vec![(pid, i32::from(epoch), 1, -1, 1)]),
        "the producer, its last sequence and its open transaction's first offset"
    );
    assert_eq!(described[1].0, codes::UNKNOWN_TOPIC_OR_PARTITION);

    assert_eq!(
        raw.write_txn_marker(&topic, &[0], pid, epoch, 0, false),
        vec![(0, codes::NONE)]
    );
    assert_eq!(latest(&mut raw, &topic, READ_COMMITTED), 4, "released");
    assert_eq!(
        describe_producers(&mut raw, &topic, &[0])[0],
        (codes::NONE, vec![(pid, i32::from(epoch), 1, 0, -1)]),
        "no open transaction; the marker's coordinator epoch is recorded"
    );
    let got = broker.consume_all_with(&[("isolation.level", "read_committed")], &topic, 0, 0);
    let got: Vec<String> = got.iter().map(|r| r.value_str()).collect();
    assert_eq!(got, vec!["before"], "the aborted records stay invisible");
}
