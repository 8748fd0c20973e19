//! Transactions, coordinator side: rdkafka transactional producers (commit, abort, fencing),
//! the raw protocol's error paths, transactional offset commits, a transaction whose live
//! producer goes silent and one open across a broker restart (both aborted after their
//! timeout by the background task).

mod common;

use std::time::{Duration, Instant};

use common::*;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    EndTxnRequest, FindCoordinatorRequest, GroupId, ListTransactionsRequest, OffsetFetchRequest,
    ProducerId, TxnOffsetCommitRequest,
};
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

#[test]
fn committed_transaction_is_visible_to_read_committed_consumers_and_described() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("txn-commit", 1);
    let producer = broker.transactional_producer("tx-commit");
    let sent = values("c", 20);
    transaction(&producer, &topic, &sent, TxnEnd::Commit);
    assert_eq!(
        broker.committed_values(&topic, 0),
        sent,
        "a read_committed consumer must see every committed record in order"
    );
    let (_, high) = broker.watermarks(&topic, 0);
    assert_eq!(high, 21, "20 records plus one COMMIT marker");

    let mut raw = broker.raw();
    let d = raw.describe_txn("tx-commit");
    let s = &d.transaction_states[0];
    assert_eq!(s.error_code, codes::NONE);
    assert_eq!(s.transaction_state.as_str(), "CompleteCommit");
    assert!(
        s.topics.is_empty(),
        "a completed transaction has no partitions"
    );
    let listed = raw
        .call(
            1,
            &ListTransactionsRequest::default()
                .with_state_filters(vec![sb("CompleteCommit"), sb("NoSuchState")])
                .with_duration_filter(-1),
        )
        .expect("ListTransactions must be answered");
    assert_eq!(listed.error_code, codes::NONE);
    assert!(
        listed
            .transaction_states
            .iter()
            .any(|t| t.transactional_id.0.as_str() == "tx-commit"),
        "ListTransactions(CompleteCommit) must list tx-commit"
    );
    assert_eq!(listed.unknown_state_filters, vec![sb("NoSuchState")]);
    assert_eq!(
        raw.describe_txn("never-used").transaction_states[0].error_code,
        codes::TRANSACTIONAL_ID_NOT_FOUND
    );
}

#[test]
fn aborted_transaction_is_invisible_to_read_committed_consumers() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("txn-abort", 1);
    let producer = broker.transactional_producer("tx-abort");
    transaction(&producer, &topic, &values("a", 10), TxnEnd::Abort);
    let committed = values("c", 3);
    transaction(&producer, &topic, &committed, TxnEnd::Commit);
    assert_eq!(
        broker.committed_values(&topic, 0),
        committed,
        "aborted records must not reach read_committed consumers"
    );
}

#[test]
fn abort_writes_a_marker_and_the_next_transaction_commits() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("txn-abort-marker", 1);
    let producer = broker.transactional_producer("tx-abort-marker");
    transaction(&producer, &topic, &values("a", 5), TxnEnd::Abort);
    let mut raw = broker.raw();
    assert_eq!(raw.txn_state("tx-abort-marker"), "CompleteAbort");
    transaction(&producer, &topic, &values("c", 3), TxnEnd::Commit);
    let (_, high) = broker.watermarks(&topic, 0);
    assert_eq!(
        high,
        5 + 1 + 3 + 1,
        "records plus an ABORT and a COMMIT marker"
    );
}

#[test]
fn a_second_producer_with_the_same_transactional_id_fences_the_first() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("txn-fence", 1);
    let first = broker.transactional_producer("tx-fence");
    first.begin_transaction().expect("begin_transaction");
    send_all(&first, &topic, &values("zombie", 3));

    let second = broker.transactional_producer("tx-fence");
    let mut raw = broker.raw();
    assert_eq!(
        raw.txn_state("tx-fence"),
        "Empty",
        "the second producer's init must have aborted the first one's transaction"
    );
    let err = first
        .commit_transaction(Duration::from_secs(30))
        .expect_err("the fenced producer must not commit");
    match &err {
        KafkaError::Transaction(e) => assert!(
            e.is_fatal() || e.code() == rdkafka::types::RDKafkaErrorCode::ProducerFenced,
            "fencing must be fatal for the zombie, got {e}"
        ),
        other => panic!("expected a transaction error, got {other}"),
    }

    transaction(&second, &topic, &values("live", 2), TxnEnd::Commit);
    assert_eq!(raw.txn_state("tx-fence"), "CompleteCommit");
}

#[test]
fn raw_error_paths_follow_kafka() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("txn-errors", 1);
    let mut raw = broker.raw();

    // FindCoordinator(key_type=1) creates __transaction_state and names this broker.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = raw
            .call(
                3,
                &FindCoordinatorRequest::default()
                    .with_key(sb("tx-errors"))
                    .with_key_type(1),
            )
            .expect("FindCoordinator must be answered");
        if r.error_code == codes::NONE {
            assert_eq!(r.node_id.0, 1, "the single broker coordinates transactions");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "FindCoordinator(transaction) kept failing with {}",
            r.error_code
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let (code, _, _) = raw.init_txn("tx-errors", 900_001);
    assert_eq!(
        code,
        codes::INVALID_TRANSACTION_TIMEOUT,
        "a timeout above transaction.max.timeout.ms"
    );
    let (pid, epoch) = raw.init_txn_ok("tx-errors");
    assert_eq!(epoch, 0, "a new transactional id starts at epoch 0");
    assert_eq!(
        raw.end_txn("tx-errors", pid, epoch, true),
        codes::INVALID_TXN_STATE,
        "EndTxn without a transaction"
    );
    assert_eq!(
        raw.add_partition("tx-unknown", pid, epoch, &topic),
        codes::INVALID_PRODUCER_ID_MAPPING,
        "AddPartitionsToTxn for an unknown transactional id"
    );
    assert_eq!(
        raw.add_partition("tx-errors", pid, epoch, "no-such-topic"),
        codes::UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(
        raw.add_partition("tx-errors", pid, epoch, &topic),
        codes::NONE
    );
    assert_eq!(
        raw.end_txn("tx-errors", pid, epoch + 1, true),
        codes::PRODUCER_FENCED,
        "EndTxn with an epoch that is not the current one"
    );
    // A re-init bumps the epoch and aborts the ongoing transaction.
    let (pid2, epoch2) = raw.init_txn_ok("tx-errors");
    assert_eq!(pid2, pid, "same producer id for the same transactional id");
    assert!(epoch2 > epoch, "epoch bumped: {epoch} → {epoch2}");
    assert_eq!(
        raw.end_txn("tx-errors", pid, epoch, false),
        codes::PRODUCER_FENCED,
        "the old epoch is fenced"
    );
    let (_, high) = broker.watermarks(&topic, 0);
    assert_eq!(high, 1, "the aborted transaction left its ABORT marker");
    // Commit retried after completion succeeds; the opposite outcome does not.
    assert_eq!(
        raw.add_partition("tx-errors", pid2, epoch2, &topic),
        codes::NONE
    );
    assert_eq!(raw.end_txn("tx-errors", pid2, epoch2, true), codes::NONE);
    assert_eq!(raw.end_txn("tx-errors", pid2, epoch2, true), codes::NONE);
    assert_eq!(
        raw.end_txn("tx-errors", pid2, epoch2, false),
        codes::INVALID_TXN_STATE
    );
}

#[test]
fn transactional_produce_is_verified_with_the_coordinator() {
    let broker = TestBroker::start();
    let (added, other) = (topic_name("txn-verify-in"), topic_name("txn-verify-out"));
    broker.create_topic(&added, 1, &[]);
    broker.create_topic(&other, 1, &[]);
    let id = "tx-verify";
    let mut raw = broker.raw();
    let (pid, epoch) = raw.init_txn_ok(id);
    assert_eq!(raw.add_partition(id, pid, epoch, &added), codes::NONE);

    // A partition never added to the transaction.
    let r = raw.produce_txn(id, &other, &[b"x"], pid, epoch, 0);
    assert_eq!(
        r.error_code,
        codes::INVALID_TXN_STATE,
        "partition not in the transaction"
    );
    assert_eq!(broker.watermarks(&other, 0), (0, 0), "nothing written");

    // The added partition: accepted, then the transaction aborts.
    let r = raw.produce_txn(id, &added, &[b"a"], pid, epoch, 0);
    assert_eq!(r.error_code, codes::NONE);
    assert_eq!(raw.end_txn(id, pid, epoch, false), codes::NONE);

    // A late batch of the ended transaction must not open a new (hanging) one.
    let r = raw.produce_txn(id, &added, &[b"late"], pid, epoch, 1);
    assert_eq!(
        r.error_code,
        codes::INVALID_TXN_STATE,
        "a produce after its transaction ended"
    );
    let (_, high) = broker.watermarks(&added, 0);
    assert_eq!(high, 2, "the record and the ABORT marker only");
    let (code, lso, _) = raw.list_offset_isolated(&added, 0, -1, 1);
    assert_eq!(
        (code, lso),
        (codes::NONE, 2),
        "no open transaction holds the LSO"
    );

    // A new incarnation bumps the epoch: the old one's batches are fenced.
    let (code, pid2, epoch2) = raw.init_txn(id, 60_000);
    assert_eq!((code, pid2), (codes::NONE, pid));
    assert!(epoch2 > epoch);
    let r = raw.produce_txn(id, &added, &[b"zombie"], pid, epoch, 2);
    assert_eq!(
        r.error_code,
        codes::INVALID_PRODUCER_EPOCH,
        "a zombie's batch"
    );
    let (_, high) = broker.watermarks(&added, 0);
    assert_eq!(high, 2, "nothing written by the zombie");
}

#[test]
fn transaction_verification_can_be_switched_off_without_a_restart() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("txn-verify-dynamic", 1);
    let id = "tx-verify-dynamic";
    let mut raw = broker.raw();
    let (pid, epoch) = raw.init_txn_ok(id);
    let unadded = |raw: &mut RawClient| {
        raw.produce_txn(id, &topic, &[b"x"], pid, epoch, 0)
            .error_code
    };
    assert_eq!(
        unadded(&mut raw),
        codes::INVALID_TXN_STATE,
        "verified by default"
    );

    // kafka-configs.sh --entity-type brokers --entity-default --alter
    //   --add-config transaction.partition.verification.enable=false
    assert_eq!(
        raw.set_config(
            resource::BROKER,
            "",
            "transaction.partition.verification.enable",
            "false"
        ),
        codes::NONE
    );
    wait_until(
        Duration::from_secs(30),
        "the unverified transactional produce to be accepted once verification is off",
        || unadded(&mut raw) == codes::NONE,
    );
}

/// The `__consumer_offsets` partition of `group` (Java's `String.hashCode`, as Kafka).
fn offsets_partition(group: &str, partitions: i32) -> i32 {
    let h = group
        .encode_utf16()
        .fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(i32::from(u)));
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions
}

#[test]
fn bad_txn_offset_commits_get_kafkas_errors_and_write_nothing() {
    let broker = TestBroker::start();
    let input = broker.new_topic("txn-bad-offsets", 1);
    let (id, group) = ("tx-bad-offsets", "txn-bad-offsets-group");
    let mut raw = broker.raw();
    let (pid, epoch) = raw.init_txn_ok(id);
    // Creates __consumer_offsets, so that its watermarks can be compared.
    assert_eq!(
        raw.add_offsets("tx-other-offsets", -1, 0, group),
        codes::INVALID_PRODUCER_ID_MAPPING
    );
    broker.wait_for_topic("__consumer_offsets", 50);
    let partition = offsets_partition(group, 50);
    let before = broker.watermarks("__consumer_offsets", partition);

    assert_eq!(
        raw.txn_commit_offset(id, group, pid, epoch, &input, 5),
        codes::INVALID_TXN_STATE,
        "offsets not added to the transaction (no AddOffsetsToTxn)"
    );
    assert_eq!(
        raw.txn_commit_offset("tx-unknown-offsets", group, pid, epoch, &input, 5),
        codes::INVALID_PRODUCER_ID_MAPPING,
        "an unknown transactional id"
    );
    assert_eq!(
        raw.txn_commit_offset(id, "", pid, epoch, &input, 5),
        codes::INVALID_GROUP_ID,
        "an empty group id"
    );
    assert_eq!(raw.add_offsets(id, pid, epoch, group), codes::NONE);
    let (code, _, epoch2) = raw.init_txn(id, 60_000);
    assert_eq!(
        code,
        codes::NONE,
        "a new incarnation fences the open transaction"
    );
    assert!(epoch2 > epoch);
    assert_eq!(
        raw.txn_commit_offset(id, group, pid, epoch, &input, 5),
        codes::PRODUCER_FENCED,
        "a fenced producer's offsets"
    );
    let (_, high) = broker.watermarks("__consumer_offsets", partition);
    assert!(
        high <= before.1 + 1,
        "nothing but the fencing abort's marker was written ({before:?} -> {high})"
    );
    assert_eq!(raw.fetch_offset(group, &input, true), (codes::NONE, -1));
}

/// TxnOffsetCommit answers UNKNOWN_TOPIC_OR_PARTITION for partitions of a topic that does
/// not exist and beyond a topic's partitions, and the transaction commits only the rest;
/// a commit of missing partitions only is answered without consulting the transaction or
/// the group (as Kafka's request handler does).
#[test]
fn txn_offset_commits_of_missing_topics_are_refused_and_never_committed() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("txn-known", 1);
    let missing = topic_name("txn-missing");
    let (id, group) = ("tx-missing-offsets", "txn-missing-offsets-group");
    let mut raw = broker.raw();
    let (pid, epoch) = raw.init_txn_ok(id);
    assert_eq!(raw.add_offsets(id, pid, epoch, group), codes::NONE);
    let unknown = codes::UNKNOWN_TOPIC_OR_PARTITION;
    let txn_commit = |raw: &mut RawClient, id: &str, offsets: &[(&str, &[(i32, i64)])]| {
        let request = TxnOffsetCommitRequest::default()
            .with_transactional_id(txn_id(id))
            .with_group_id(GroupId(sb(group)))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_generation_id(-1)
            .with_topics(
                offsets
                    .iter()
                    .map(|(t, ps)| {
                        TxnOffsetCommitRequestTopic::default()
                            .with_name(topic_name_of(t))
                            .with_partitions(
                                ps.iter()
                                    .map(|(p, o)| {
                                        TxnOffsetCommitRequestPartition::default()
                                            .with_partition_index(*p)
                                            .with_committed_offset(*o)
                                            .with_committed_leader_epoch(-1)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let r = raw
            .call(3, &request)
            .expect("TxnOffsetCommit must be answered");
        partition_codes!(r.topics)
    };
    // Retried while the group's shard loads, as clients retry COORDINATOR_LOAD_IN_PROGRESS.
    let mut answered = Vec::new();
    wait_until(CLIENT_TIMEOUT, "the group coordinator to load", || {
        answered = txn_commit(
            &mut raw,
            id,
            &[(&topic, &[(0, 5), (4, 6)]), (&missing, &[(0, 7)])],
        );
        answered[0].1[0].1 != codes::COORDINATOR_LOAD_IN_PROGRESS
    });
    assert_eq!(
        answered,
        vec![
            (topic.clone(), vec![(0, codes::NONE), (4, unknown)]),
            (missing.clone(), vec![(0, unknown)]),
        ],
        "TxnOffsetCommit of an existing partition, one beyond the topic's and a missing topic"
    );
    assert_eq!(
        txn_commit(&mut raw, "tx-never-initialized", &[(&missing, &[(0, 1)])]),
        vec![(missing.clone(), vec![(0, unknown)])],
        "missing partitions only: answered before the transactional id is looked at"
    );
    assert_eq!(raw.end_txn(id, pid, epoch, true), codes::NONE);

    let fetched = raw
        .call(
            7,
            &OffsetFetchRequest::default()
                .with_group_id(GroupId(sb(group)))
                .with_topics(None),
        )
        .expect("OffsetFetch must be answered");
    let committed: Vec<(String, i32, i64)> = fetched
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.0.to_string(), p.partition_index, p.committed_offset))
        })
        .collect();
    assert_eq!(
        (fetched.error_code, committed),
        (codes::NONE, vec![(topic.clone(), 0, 5)]),
        "the committed transaction holds only the existing partition's offset"
    );
}

#[test]
fn transactional_offsets_become_visible_only_when_committed() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("txn-offsets", 1);
    let mut raw = broker.raw();
    let (pid, epoch) = raw.init_txn_ok("tx-offsets");
    let group = "txn-offsets-group";

    let commit_offset = |raw: &mut RawClient, offset: i64, commit: bool| {
        assert_eq!(
            raw.add_offsets("tx-offsets", pid, epoch, group),
            codes::NONE
        );
        assert_eq!(
            raw.txn_commit_offset("tx-offsets", group, pid, epoch, &topic, offset),
            codes::NONE
        );
        // Until the transaction ends, a require_stable OffsetFetch must not see old offsets.
        assert_eq!(
            raw.fetch_offset(group, &topic, true).0,
            codes::UNSTABLE_OFFSET_COMMIT,
            "require_stable OffsetFetch while transactional offsets are pending"
        );
        assert_eq!(raw.end_txn("tx-offsets", pid, epoch, commit), codes::NONE);
    };
    let committed = |broker: &TestBroker| -> Offset {
        let consumer = broker.consumer_with(&[("group.id", group)]);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&topic, 0);
        let offsets = consumer
            .committed_offsets(tpl, Duration::from_secs(30))
            .expect("OffsetFetch");
        offsets
            .find_partition(&topic, 0)
            .expect("partition in OffsetFetch answer")
            .offset()
    };

    commit_offset(&mut raw, 7, false);
    assert_eq!(
        committed(&broker),
        Offset::Invalid,
        "offsets of an aborted transaction must never become visible"
    );
    commit_offset(&mut raw, 9, true);
    assert_eq!(
        committed(&broker),
        Offset::Offset(9),
        "committed transactional offset"
    );
}

#[test]
fn a_transaction_open_across_a_crash_is_aborted_after_its_timeout() {
    let mut broker = TestBroker::start_with(&[(
        "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        "200",
    )]);
    let topic = broker.new_topic("txn-crash", 1);
    let mut raw = broker.raw();
    let (code, pid, epoch) = raw.init_txn("tx-crash", 3_000);
    assert_eq!(code, codes::NONE);
    assert_eq!(
        raw.add_partition("tx-crash", pid, epoch, &topic),
        codes::NONE
    );
    let r = raw.produce_txn("tx-crash", &topic, &[b"x", b"y"], pid, epoch, 0);
    assert_eq!(r.error_code, codes::NONE, "transactional produce");

    broker.kill9_and_restart();
    let mut raw = broker.raw();
    wait_until(
        Duration::from_secs(30),
        "the open transaction to be aborted",
        || {
            let d = raw.describe_txn("tx-crash");
            let s = &d.transaction_states[0];
            s.error_code == codes::NONE && s.transaction_state.as_str() == "CompleteAbort"
        },
    );
    let d = raw.describe_txn("tx-crash");
    assert_eq!(
        d.transaction_states[0].producer_epoch,
        epoch + 1,
        "the timeout abort bumps the epoch (fencing the zombie)"
    );
    assert_eq!(
        raw.end_txn("tx-crash", pid, epoch, true),
        codes::PRODUCER_FENCED,
        "the pre-crash producer is fenced"
    );
    // The ABORT marker ends the transaction: the stable offset is not held back by it.
    let (_, high) = broker.watermarks(&topic, 0);
    assert_eq!(high, 3, "two records and the ABORT marker");
    let read_committed = broker
        .consumer_with(&[("isolation.level", "read_committed")])
        .fetch_watermarks(&topic, 0, Duration::from_secs(30))
        .expect("read_committed ListOffsets");
    assert_eq!(
        read_committed.1, 3,
        "the last stable offset reaches the log end"
    );
}

#[test]
fn idle_transactional_ids_expire_after_transactional_id_expiration_ms() {
    let broker = TestBroker::start_with(&[
        ("transactional.id.expiration.ms", "1000"),
        (
            "transaction.abort.timed.out.transaction.cleanup.interval.ms",
            "100",
        ),
        (
            "transaction.remove.expired.transaction.cleanup.interval.ms",
            "100",
        ),
    ]);
    let mut raw = broker.raw();
    let (_, _) = raw.init_txn_ok("tx-expiring");
    assert_eq!(
        raw.describe_txn("tx-expiring").transaction_states[0].error_code,
        codes::NONE,
        "just initialized"
    );
    wait_until(
        Duration::from_secs(30),
        "the idle transactional id to expire",
        || {
            raw.describe_txn("tx-expiring").transaction_states[0].error_code
                == codes::TRANSACTIONAL_ID_NOT_FOUND
        },
    );
}

#[test]
fn consume_transform_produce_commits_output_and_input_offsets_atomically() {
    consume_transform_produce_once("classic");
}

#[test]
fn consume_transform_produce_with_a_kip_848_consumer_group() {
    // send_offsets_to_transaction with a consumer-protocol member: its member epoch is the
    // generation TxnOffsetCommit carries.
    consume_transform_produce_once("consumer");
}

/// One consume-transform-produce round with a group consumer of `group_protocol`: the
/// output records and the input offsets commit in one transaction.
fn consume_transform_produce_once(group_protocol: &str) {
    let broker = TestBroker::start_with(&[("group.initial.rebalance.delay.ms", "0")]);
    let input = topic_name("txn-in");
    let output = topic_name("txn-out");
    broker.create_topic(&input, 1, &[]);
    broker.create_topic(&output, 1, &[]);
    let group = topic_name("txn-ctp");
    let inputs = values("in", 10);
    let records: Vec<(Vec<u8>, Option<Vec<u8>>)> = inputs
        .iter()
        .map(|v| (b"k".to_vec(), Some(v.as_bytes().to_vec())))
        .collect();
    broker.produce_all(&broker.producer(), &input, 0, &records);

    let consumer = broker.consumer_with(&[
        ("group.id", group.as_str()),
        ("group.protocol", group_protocol),
        ("isolation.level", "read_committed"),
        ("enable.partition.eof", "false"),
    ]);
    consumer.subscribe(&[&input]).expect("subscribe");
    let mut consumed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while consumed.len() < inputs.len() {
        assert!(
            Instant::now() < deadline,
            "the group consumer got {} of {} input records",
            consumed.len(),
            inputs.len()
        );
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Ok(m)) => consumed.push(ConsumedRecord::from_message(&m)),
            Some(Err(e)) => panic!("group consume: {e}"),
        }
    }

    let producer = broker.transactional_producer("tx-ctp");
    producer.begin_transaction().expect("begin_transaction");
    let outputs: Vec<String> = consumed
        .iter()
        .map(|r| r.value_str().to_uppercase())
        .collect();
    send_all(&producer, &output, &outputs);
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(&input, 0, Offset::Offset(consumed.len() as i64))
        .expect("offset list");
    let metadata = consumer.group_metadata().expect("consumer group metadata");
    producer
        .send_offsets_to_transaction(&offsets, &metadata, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("send_offsets_to_transaction: {e}\n{}", broker.log_tail()));
    producer
        .commit_transaction(Duration::from_secs(30))
        .expect("commit_transaction");

    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(&input, 0);
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(30))
        .expect("OffsetFetch");
    assert_eq!(
        committed.find_partition(&input, 0).map(|p| p.offset()),
        Some(Offset::Offset(10)),
        "the input offsets commit with the transaction"
    );
    assert_eq!(
        broker.committed_values(&output, 0),
        outputs,
        "the transformed records commit with the transaction"
    );
}

/// Checks the transaction's two outcomes after a crash at `crash_point` inside its
/// EndTxn(commit): the output records are visible to read_committed exactly once and the
/// TxnOffsetCommit offset is the group's committed offset — the records in
/// `__consumer_offsets` survive and the restarted coordinator's markers complete them.
fn crash_inside_a_commit_keeps_output_and_offsets(crash_point: &str) {
    let mut broker = TestBroker::start();
    broker.set_crash_point(Some(crash_point));
    broker.restart();
    let output = topic_name("txn-crash-out");
    let input = topic_name("txn-crash-in");
    broker.create_topic(&output, 1, &[]);
    broker.create_topic(&input, 1, &[]);
    let (id, group) = ("tx-crash-commit", "txn-crash-group");
    let mut raw = broker.raw();
    let (pid, epoch) = raw.init_txn_ok(id);
    assert_eq!(raw.add_partition(id, pid, epoch, &output), codes::NONE);
    let r = raw.produce_txn(id, &output, &[b"p", b"q"], pid, epoch, 0);
    assert_eq!(r.error_code, codes::NONE, "transactional produce");
    assert_eq!(raw.add_offsets(id, pid, epoch, group), codes::NONE);
    assert_eq!(
        raw.txn_commit_offset(id, group, pid, epoch, &input, 5),
        codes::NONE
    );
    // EndTxn reaches the crash point: the broker dies before answering.
    let answered = raw.call(
        4,
        &EndTxnRequest::default()
            .with_transactional_id(txn_id(id))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_committed(true),
    );
    assert!(
        answered.is_err(),
        "EndTxn must not be answered: the broker crashed at {crash_point}"
    );
    let status = broker.wait_for_exit(Duration::from_secs(30));
    assert!(
        !status.success(),
        "the broker aborted at {crash_point}: {status}"
    );
    assert!(broker
        .log_text()
        .contains(&format!("crash point {crash_point} reached")));

    broker.set_crash_point(None);
    broker.restart();
    let mut raw = broker.raw();
    wait_until(
        Duration::from_secs(30),
        "the prepared commit to complete after the restart",
        || {
            raw.describe_txn(id).transaction_states[0]
                .transaction_state
                .as_str()
                == "CompleteCommit"
        },
    );
    wait_until(
        Duration::from_secs(30),
        "the transactional offset to be the group's committed offset",
        || raw.fetch_offset(group, &input, true) == (codes::NONE, 5),
    );
    assert_eq!(
        broker.committed_values(&output, 0),
        ["p", "q"],
        "the committed output, once"
    );
    let (_, high) = broker.watermarks(&output, 0);
    assert!(
        high >= 3,
        "a COMMIT marker follows the two records (high watermark {high})"
    );
}

#[test]
fn a_crash_after_prepare_commit_completes_the_commit_with_its_offsets() {
    crash_inside_a_commit_keeps_output_and_offsets("txn.prepared");
}

#[test]
fn a_crash_after_the_markers_completes_the_commit_with_its_offsets() {
    crash_inside_a_commit_keeps_output_and_offsets("txn.markers_written");
}

/// A broker with transaction `id` open, holding a TxnOffsetCommit of `offset` for `group`
/// on partition 0 of a fresh input topic.
struct PendingOffset {
    broker: TestBroker,
    raw: RawClient,
    input: String,
    pid: i64,
    epoch: i16,
}

impl PendingOffset {
    fn open(id: &str, group: &str, offset: i64) -> Self {
        let broker = TestBroker::start();
        let input = broker.new_topic("txn-pending-in", 1);
        let mut raw = broker.raw();
        let (pid, epoch) = raw.init_txn_ok(id);
        assert_eq!(raw.add_offsets(id, pid, epoch, group), codes::NONE);
        assert_eq!(
            raw.txn_commit_offset(id, group, pid, epoch, &input, offset),
            codes::NONE
        );
        Self {
            broker,
            raw,
            input,
            pid,
            epoch,
        }
    }
}

/// kill -9 and restart; returns a new connection once the reloaded group coordinator reports
/// `group`'s offset of `topic` as pending (UNSTABLE_OFFSET_COMMIT).
fn crash_and_await_pending_offset(broker: &mut TestBroker, group: &str, topic: &str) -> RawClient {
    broker.kill9_and_restart();
    let mut raw = broker.raw();
    wait_until(
        Duration::from_secs(30),
        "the reloaded group coordinator to report the pending offset as unstable",
        || raw.fetch_offset(group, topic, true).0 == codes::UNSTABLE_OFFSET_COMMIT,
    );
    raw
}

#[test]
fn pending_transactional_offsets_survive_kill_9_and_complete_afterwards() {
    let (id, group) = ("tx-pending-offsets", "txn-pending-group");
    // Transaction 1: offset 5, crash, commit after the restart.
    let PendingOffset {
        mut broker,
        input,
        pid,
        epoch,
        ..
    } = PendingOffset::open(id, group, 5);
    let mut raw = crash_and_await_pending_offset(&mut broker, group, &input);
    assert_eq!(
        raw.fetch_offset(group, &input, false),
        (codes::NONE, -1),
        "a pending offset is not committed"
    );
    assert_eq!(raw.end_txn(id, pid, epoch, true), codes::NONE);
    assert_eq!(raw.fetch_offset(group, &input, true), (codes::NONE, 5));

    // Transaction 2: offset 8, crash, abort after the restart: 5 stays.
    assert_eq!(raw.add_offsets(id, pid, epoch, group), codes::NONE);
    assert_eq!(
        raw.txn_commit_offset(id, group, pid, epoch, &input, 8),
        codes::NONE
    );
    let mut raw = crash_and_await_pending_offset(&mut broker, group, &input);
    assert_eq!(raw.end_txn(id, pid, epoch, false), codes::NONE);
    assert_eq!(raw.fetch_offset(group, &input, true), (codes::NONE, 5));

    // The outcome is in the log: a further restart replays the same committed offset.
    broker.kill9_and_restart();
    let mut raw = broker.raw();
    wait_until(
        Duration::from_secs(30),
        "the committed offset to be reloaded",
        || raw.fetch_offset(group, &input, true) == (codes::NONE, 5),
    );
}

#[test]
fn deleting_a_group_deletes_its_pending_transactional_offsets() {
    let (id, group) = ("tx-delete-group", "txn-delete-group");
    let PendingOffset {
        mut broker,
        mut raw,
        input,
        pid,
        epoch,
    } = PendingOffset::open(id, group, 5);
    let deleted = raw
        .call(
            2,
            &kafka_protocol::messages::DeleteGroupsRequest::default()
                .with_groups_names(vec![GroupId(sb(group))]),
        )
        .expect("DeleteGroups must be answered");
    assert_eq!(
        deleted.results[0].error_code,
        codes::NONE,
        "a group with only transactional offsets exists and can be deleted"
    );
    // The transaction commits after the deletion: its offset must not come back.
    assert_eq!(raw.end_txn(id, pid, epoch, true), codes::NONE);
    assert_eq!(raw.fetch_offset(group, &input, true), (codes::NONE, -1));
    broker.kill9_and_restart();
    let mut raw = broker.raw();
    wait_until(
        Duration::from_secs(30),
        "the group coordinator to reload",
        || raw.fetch_offset(group, &input, true).0 != codes::COORDINATOR_LOAD_IN_PROGRESS,
    );
    assert_eq!(
        raw.fetch_offset(group, &input, true),
        (codes::NONE, -1),
        "replaying the log gives the same answer"
    );
}

#[test]
fn compacting_consumer_offsets_keeps_transactional_offsets_right() {
    // The log cleaner and the group loader meet on __consumer_offsets: transactional offset
    // commits (committed and aborted) compacted away must replay to the same offsets.
    let mut broker = TestBroker::start_with(&[
        ("offsets.topic.num.partitions", "1"),
        ("log.cleaner.min.cleanable.ratio", "0.01"),
        ("log.cleaner.backoff.ms", "50"),
        // Markers of transactions whose records were compacted away may go at once.
        ("log.cleaner.delete.retention.ms", "0"),
    ]);
    let input = broker.new_topic("txn-compact-in", 1);
    let (id, group) = ("tx-compact-offsets", "txn-compact-group");
    let mut raw = broker.raw();
    let (pid, epoch) = raw.init_txn_ok(id);
    // Create __consumer_offsets, then roll it every 20 ms of record time, so that the
    // cleaner (which only cleans closed segments) has work well below segment.bytes' 1 MiB.
    assert_eq!(raw.add_offsets(id, pid, epoch, group), codes::NONE);
    assert_eq!(
        raw.set_config(resource::TOPIC, "__consumer_offsets", "segment.ms", "20"),
        codes::NONE
    );
    const ROUNDS: i64 = 120;
    for round in 0..ROUNDS {
        assert_eq!(raw.add_offsets(id, pid, epoch, group), codes::NONE);
        assert_eq!(
            raw.txn_commit_offset(id, group, pid, epoch, &input, 1_000 + round),
            codes::NONE
        );
        // Every third transaction aborts; the last one commits.
        let commit = round % 3 != 1;
        assert_eq!(raw.end_txn(id, pid, epoch, commit), codes::NONE);
    }
    let last_committed = 1_000 + ROUNDS - 1;
    assert_eq!(
        raw.fetch_offset(group, &input, true),
        (codes::NONE, last_committed)
    );
    let written = broker.partition_log_bytes("__consumer_offsets", 0);
    // Segments roll on append (by record time), so keep appending — plain commits of
    // another group, compacted to one record — until the cleaner has closed segments
    // holding the transactions to clean.
    let mut filler = 0i64;
    wait_until(
        Duration::from_secs(60),
        "the cleaner to compact __consumer_offsets",
        || {
            filler += 1;
            let request = kafka_protocol::messages::OffsetCommitRequest::default()
                .with_group_id(GroupId(sb("txn-compact-filler")))
                .with_generation_id_or_member_epoch(-1)
                .with_topics(vec![
                    kafka_protocol::messages::offset_commit_request::OffsetCommitRequestTopic::default()
                        .with_name(topic_name_of(&input))
                        .with_partitions(vec![
                            kafka_protocol::messages::offset_commit_request::OffsetCommitRequestPartition::default()
                                .with_partition_index(0)
                                .with_committed_offset(filler),
                        ]),
                ]);
            let r = raw
                .call(8, &request)
                .expect("OffsetCommit must be answered");
            assert_eq!(r.topics[0].partitions[0].error_code, codes::NONE);
            broker.partition_log_bytes("__consumer_offsets", 0) < written / 2
        },
    );
    broker.kill9_and_restart();
    let mut raw = broker.raw();
    wait_until(
        Duration::from_secs(30),
        "the compacted offsets to replay to the last committed transaction's offset",
        || raw.fetch_offset(group, &input, true) == (codes::NONE, last_committed),
    );
    // And the group keeps working: one more transaction, aborted, changes nothing.
    assert_eq!(raw.add_offsets(id, pid, epoch, group), codes::NONE);
    assert_eq!(
        raw.txn_commit_offset(id, group, pid, epoch, &input, 5),
        codes::NONE
    );
    assert_eq!(raw.end_txn(id, pid, epoch, false), codes::NONE);
    assert_eq!(
        raw.fetch_offset(group, &input, true),
        (codes::NONE, last_committed)
    );
}

/// How one run of the exactly-once application ended.
enum Incarnation {
    /// Every input record's offset is committed by the group.
    Done,
    /// A transaction is open (records sent, offsets added, no commit): the caller crashes
    /// the broker now, then drops these clients.
    Crash(Box<(FutureProducer, rdkafka::consumer::BaseConsumer)>),
}

const EOS_PARTITIONS: i32 = 3;
const EOS_PER_PARTITION: i64 = 60;
const EOS_TXN_ID: &str = "eos-pipeline";

/// One incarnation of a consume-transform-produce application: a group consumer
/// (read_committed, manual offsets) and a transactional producer; each transaction carries up
/// to 20 transformed records and the input offsets. With `crash_after = Some(n)` it leaves the
/// (n+1)-th transaction open and returns `Crash`.
fn run_eos_incarnation(
    broker: &TestBroker,
    input: &str,
    output: &str,
    group: &str,
    group_protocol: &str,
    crash_after: Option<usize>,
) -> Incarnation {
    let mut config = vec![
        ("group.id", group),
        ("group.protocol", group_protocol),
        ("isolation.level", "read_committed"),
        ("enable.auto.commit", "false"),
        ("auto.offset.reset", "earliest"),
        ("enable.partition.eof", "false"),
    ];
    if group_protocol == "classic" {
        // The crashed incarnation's member stays in the group until its session expires;
        // keep that short so the next incarnation's rebalance does not wait 45 s. (The
        // consumer protocol's session is the broker's: see `eos_pipeline_with_kill_9`.)
        config.extend([
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "500"),
        ]);
    }
    let consumer = broker.consumer_with(&config);
    consumer.subscribe(&[input]).expect("subscribe");
    let producer = broker.transactional_producer(EOS_TXN_ID);
    let mut committed_txns = 0usize;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        assert!(
            Instant::now() < deadline,
            "an application incarnation made no progress for 90 s\n{}",
            broker.log_tail()
        );
        let mut batch = Vec::new();
        let gather_until = Instant::now() + Duration::from_millis(500);
        while batch.len() < 20 && Instant::now() < gather_until {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                batch.push(ConsumedRecord::from_message(&m));
            }
        }
        if batch.is_empty() {
            let mut tpl = TopicPartitionList::new();
            for p in 0..EOS_PARTITIONS {
                tpl.add_partition(input, p);
            }
            let done = consumer
                .committed_offsets(tpl, Duration::from_secs(30))
                .map(|c| {
                    (0..EOS_PARTITIONS).all(|p| {
                        c.find_partition(input, p).map(|x| x.offset())
                            == Some(Offset::Offset(EOS_PER_PARTITION))
                    })
                })
                .unwrap_or(false);
            if done {
                return Incarnation::Done;
            }
            continue;
        }
        producer.begin_transaction().expect("begin_transaction");
        let mut next: std::collections::BTreeMap<i32, i64> = Default::default();
        block_on(async {
            for r in &batch {
                let value = format!("out:{}", r.value_str());
                producer
                    .send(
                        FutureRecord::<(), String>::to(output)
                            .partition(r.partition)
                            .payload(&value),
                        Duration::from_secs(30),
                    )
                    .await
                    .unwrap_or_else(|(e, _)| panic!("transactional send: {e}"));
            }
        });
        for r in &batch {
            let e = next.entry(r.partition).or_insert(0);
            *e = (*e).max(r.offset + 1);
        }
        let mut offsets = TopicPartitionList::new();
        for (p, o) in &next {
            offsets
                .add_partition_offset(input, *p, Offset::Offset(*o))
                .expect("offset list");
        }
        let metadata = consumer.group_metadata().expect("group metadata");
        producer
            .send_offsets_to_transaction(&offsets, &metadata, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("send_offsets_to_transaction: {e}\n{}", broker.log_tail()));
        if crash_after == Some(committed_txns) {
            return Incarnation::Crash(Box::new((producer, consumer)));
        }
        producer
            .commit_transaction(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("commit_transaction: {e}\n{}", broker.log_tail()));
        committed_txns += 1;
    }
}

/// Issue 5's acceptance: a consume-transform-produce loop over 3 input partitions, the
/// broker killed with kill -9 three times while a transaction is open and the application
/// restarted each time; the output read with read_committed holds every input record exactly
/// once.
#[test]
fn exactly_once_pipeline_survives_repeated_broker_kill_9() {
    eos_pipeline_with_kill_9("classic");
}

#[test]
fn exactly_once_pipeline_with_a_kip_848_group_survives_repeated_broker_kill_9() {
    eos_pipeline_with_kill_9("consumer");
}

/// The exactly-once application over 3 input partitions, its broker killed -9 three times
/// mid-transaction, with a group consumer of `group_protocol`: the read_committed output
/// holds every input record exactly once.
fn eos_pipeline_with_kill_9(group_protocol: &str) {
    let mut broker = TestBroker::start_with(&[
        ("group.initial.rebalance.delay.ms", "0"),
        // Consumer-protocol members' sessions are the broker's: short, so that a crashed
        // incarnation's member leaves soon after the restart.
        ("group.consumer.session.timeout.ms", "6000"),
        ("group.consumer.min.session.timeout.ms", "1000"),
        ("group.consumer.heartbeat.interval.ms", "500"),
        ("group.consumer.min.heartbeat.interval.ms", "100"),
    ]);
    let input = topic_name("eos-in");
    let output = topic_name("eos-out");
    let group = topic_name("eos-app");
    broker.create_topic(&input, EOS_PARTITIONS, &[]);
    broker.create_topic(&output, EOS_PARTITIONS, &[]);
    let plain = broker.producer();
    for p in 0..EOS_PARTITIONS {
        let records: Vec<(Vec<u8>, Option<Vec<u8>>)> = (0..EOS_PER_PARTITION)
            .map(|i| {
                (
                    format!("k{p}-{i}").into_bytes(),
                    Some(format!("in-{p}-{i}").into_bytes()),
                )
            })
            .collect();
        broker.produce_all(&plain, &input, p, &records);
    }
    drop(plain);

    const KILLS: usize = 3;
    let mut kills = 0;
    let mut incarnations = 0;
    loop {
        incarnations += 1;
        assert!(
            incarnations <= 10,
            "the pipeline needed more than 10 incarnations"
        );
        let crash_after = (kills < KILLS).then_some(1 + kills);
        match run_eos_incarnation(
            &broker,
            &input,
            &output,
            &group,
            group_protocol,
            crash_after,
        ) {
            Incarnation::Done => break,
            Incarnation::Crash(clients) => {
                broker.kill9();
                // The clients belong to the dead broker; closing them may wait on it, so
                // they are dropped off the test thread.
                std::thread::spawn(move || drop(clients));
                broker.restart();
                kills += 1;
            }
        }
    }
    assert_eq!(
        kills, KILLS,
        "the broker was not killed as often as planned"
    );

    let mut got: Vec<String> = Vec::new();
    for p in 0..EOS_PARTITIONS {
        got.extend(broker.committed_values(&output, p));
    }
    let mut seen = std::collections::HashSet::new();
    let duplicates: Vec<&String> = got.iter().filter(|v| !seen.insert(v.as_str())).collect();
    assert!(
        duplicates.is_empty(),
        "records delivered twice: {duplicates:?}"
    );
    let mut expected: Vec<String> = (0..EOS_PARTITIONS)
        .flat_map(|p| (0..EOS_PER_PARTITION).map(move |i| format!("out:in-{p}-{i}")))
        .collect();
    expected.sort();
    got.sort();
    assert_eq!(
        got.len(),
        expected.len(),
        "read_committed output must hold every input record exactly once"
    );
    assert_eq!(
        got, expected,
        "read_committed output differs from the transformed input"
    );
}

/// A live producer (no restart) opens a transaction and goes silent: once its
/// `transaction.timeout.ms` has passed the coordinator aborts it on its own with an epoch
/// bump — DescribeTransactions and ListTransactions show CompleteAbort, the ABORT marker
/// lets the last stable offset reach the log end, read_committed consumers never see the
/// records — and the producer's next operations are fenced as in Kafka 4.1 (transaction
/// version 1): its commit fails fatally, EndTxn and AddPartitionsToTxn with the old epoch
/// are PRODUCER_FENCED, and a produce with it INVALID_PRODUCER_EPOCH (the partition's
/// verification maps the coordinator's PRODUCER_FENCED so).
#[test]
fn a_silent_producers_transaction_is_aborted_at_its_timeout_and_the_producer_fenced() {
    // Long enough that the checks of the open transaction finish well within it, on a busy
    // machine too.
    const TIMEOUT_MS: &str = "15000";
    let broker = TestBroker::start_with(&[(
        "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        "200",
    )]);
    let topic = broker.new_topic("txn-timeout", 1);
    let id = topic_name("tx-timeout");
    let producer = broker.producer_with(&[
        ("transactional.id", &id),
        ("enable.idempotence", "true"),
        ("transaction.timeout.ms", TIMEOUT_MS),
        ("message.timeout.ms", TIMEOUT_MS),
        ("socket.timeout.ms", "10000"),
    ]);
    producer
        .init_transactions(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("init_transactions: {e}"));
    producer
        .begin_transaction()
        .expect("begin the first transaction");
    send_all(&producer, &topic, &values("before", 2));
    producer
        .commit_transaction(Duration::from_secs(30))
        .expect("commit the first transaction");
    producer
        .begin_transaction()
        .expect("begin the abandoned transaction");
    send_all(&producer, &topic, &values("abandoned", 3)); // offsets 3..=5 after the marker

    // Open: the stable offset is held at the transaction's first offset.
    let mut raw = broker.raw();
    let open = raw.describe_txn(&id);
    let open = &open.transaction_states[0];
    assert_eq!(
        open.transaction_state.as_str(),
        "Ongoing",
        "right after its records were acked the transaction is open"
    );
    let (pid, epoch) = (open.producer_id.0, open.producer_epoch);
    let (code, lso, _) = raw.list_offset_isolated(&topic, 0, -1, 1);
    assert_eq!(
        (code, lso),
        (codes::NONE, 3),
        "LSO while the transaction is open"
    );

    // Silence: the coordinator aborts it by itself.
    wait_until(
        Duration::from_secs(60),
        "the coordinator to abort the timed-out transaction",
        || {
            raw.describe_txn(&id).transaction_states[0]
                .transaction_state
                .as_str()
                == "CompleteAbort"
        },
    );
    let aborted = raw.describe_txn(&id);
    let aborted = &aborted.transaction_states[0];
    assert_eq!(aborted.producer_id.0, pid, "same producer id");
    assert_eq!(
        aborted.producer_epoch,
        epoch + 1,
        "the timeout abort bumps the producer epoch (fencing the silent producer)"
    );
    assert!(
        aborted.topics.is_empty(),
        "a completed abort holds no partitions: {:?}",
        aborted.topics
    );
    assert!(
        raw.listed_in_state("CompleteAbort").contains(&id),
        "ListTransactions(CompleteAbort) must list {id}"
    );
    assert!(
        !raw.listed_in_state("Ongoing").contains(&id),
        "ListTransactions(Ongoing) still lists {id}"
    );
    let (_, high) = broker.watermarks(&topic, 0);
    assert_eq!(high, 7, "2 records, COMMIT, 3 records, ABORT");
    let (code, lso, _) = raw.list_offset_isolated(&topic, 0, -1, 1);
    assert_eq!(
        (code, lso),
        (codes::NONE, 7),
        "after the abort the LSO reaches the end"
    );

    // read_committed, up to a record written after the abort: none of the abandoned ones.
    let plain = broker.producer();
    broker.produce_one(&plain, &topic, 0, b"k", b"after");
    assert_eq!(
        broker.committed_values(&topic, 0),
        ["before-0", "before-1", "after"],
        "read_committed records"
    );

    // The producer's next operation is fenced.
    let err = producer
        .commit_transaction(Duration::from_secs(30))
        .expect_err("the silent producer's commit after the coordinator aborted");
    // librdkafka turns the broker's PRODUCER_FENCED into its fatal local "fenced" error.
    let fatal = matches!(&err, KafkaError::Transaction(e) if e.is_fatal());
    assert!(
        fatal && err.rdkafka_error_code() == Some(RDKafkaErrorCode::Fenced),
        "the commit must fail as fenced (fatally), failed with {err:?}"
    );
    assert_eq!(
        raw.end_txn(&id, pid, epoch, true),
        codes::PRODUCER_FENCED,
        "EndTxn with the epoch before the abort"
    );
    assert_eq!(
        raw.add_partition(&id, pid, epoch, &topic),
        codes::PRODUCER_FENCED,
        "AddPartitionsToTxn v3 with the epoch before the abort"
    );
    let r = raw.produce_txn(&id, &topic, &[b"late"], pid, epoch, 5);
    assert_eq!(
        r.error_code,
        codes::INVALID_PRODUCER_EPOCH,
        "a transactional produce with the epoch before the abort"
    );
    assert_eq!(
        broker.watermarks(&topic, 0).1,
        8,
        "nothing written by the fenced producer"
    );
}
