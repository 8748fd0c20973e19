//! Idempotent producers: InitProducerId, duplicate retries answered with their original
//! offsets, sequence and epoch errors, and producer state that survives restarts.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn init_producer_id_hands_out_distinct_ids_with_epoch_zero_across_restarts() {
    let mut broker = TestBroker::start();
    let mut raw = broker.raw();
    let (first, epoch) = raw.init_idempotent_producer();
    let (second, _) = raw.init_idempotent_producer();
    assert_eq!(epoch, 0, "a new idempotent producer starts at epoch 0");
    assert!(
        first >= 0 && second > first,
        "ids must be fresh: {first}, {second}"
    );
    broker.restart();
    let mut raw = broker.raw();
    let (after, _) = raw.init_idempotent_producer();
    assert!(
        after > second,
        "a restarted broker must not reuse producer ids (got {after} after {second})"
    );
}

#[test]
fn retries_are_acknowledged_with_original_offsets_and_gaps_and_stale_epochs_are_refused() {
    let mut broker = TestBroker::start();
    let topic = broker.new_topic("idempotent", 1);
    let mut raw = broker.raw();
    let (pid, _) = raw.init_idempotent_producer();

    let first = encode_idempotent_batch(&[b"a", b"b", b"c"], pid, 0, 0);
    let r = raw.produce(&topic, 0, first.clone(), -1);
    assert_eq!((r.error_code, r.base_offset), (codes::NONE, 0));
    let second = encode_idempotent_batch(&[b"d"], pid, 0, 3);
    assert_eq!(raw.produce(&topic, 0, second.clone(), -1).base_offset, 3);

    let retry = raw.produce(&topic, 0, first.clone(), -1);
    assert_eq!(
        (retry.error_code, retry.base_offset),
        (codes::NONE, 0),
        "a retry of an acknowledged batch gets its original offset, not an error"
    );
    assert_eq!(
        broker.watermarks(&topic, 0).1,
        4,
        "the retry must not be written again"
    );

    let gap = raw.produce(&topic, 0, encode_idempotent_batch(&[b"x"], pid, 0, 6), -1);
    assert_eq!(
        gap.error_code,
        codes::OUT_OF_ORDER_SEQUENCE_NUMBER,
        "sequence 6 after 3 leaves a gap"
    );

    let bumped = encode_idempotent_batch(&[b"e"], pid, 1, 0);
    assert_eq!(
        raw.produce(&topic, 0, bumped.clone(), -1).error_code,
        codes::NONE
    );
    let stale = raw.produce(&topic, 0, encode_idempotent_batch(&[b"y"], pid, 0, 4), -1);
    assert_eq!(
        stale.error_code,
        codes::INVALID_PRODUCER_EPOCH,
        "epoch 0 after epoch 1 is stale"
    );
    assert_eq!(
        broker.watermarks(&topic, 0).1,
        5,
        "refused batches write nothing"
    );

    // The state survives a crash (rebuilt from the log) and a clean restart (snapshot).
    broker.kill9_and_restart();
    broker.wait_for_topic(&topic, 1);
    let mut raw = broker.raw();
    let retry = raw.produce(&topic, 0, bumped.clone(), -1);
    assert_eq!(
        (retry.error_code, retry.base_offset),
        (codes::NONE, 4),
        "after kill -9 a retry is still recognised as a duplicate"
    );
    let next = raw.produce(&topic, 0, encode_idempotent_batch(&[b"f"], pid, 1, 1), -1);
    assert_eq!((next.error_code, next.base_offset), (codes::NONE, 5));
    broker.restart(); // clean stop + start: state from the snapshot
    broker.wait_for_topic(&topic, 1);
    let mut raw = broker.raw();
    let retry = raw.produce(&topic, 0, encode_idempotent_batch(&[b"f"], pid, 1, 1), -1);
    assert_eq!((retry.error_code, retry.base_offset), (codes::NONE, 5));
    let gap = raw.produce(&topic, 0, encode_idempotent_batch(&[b"g"], pid, 1, 9), -1);
    assert_eq!(gap.error_code, codes::OUT_OF_ORDER_SEQUENCE_NUMBER);
    let snapshots: Vec<String> = std::fs::read_dir(broker.data_dir().join(format!("{topic}-0")))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".snapshot"))
        .collect();
    assert!(
        !snapshots.is_empty(),
        "a clean shutdown writes a producer snapshot"
    );
}

/// A real idempotent librdkafka producer keeps sending while the broker is killed with
/// SIGKILL and restarted on the same port: every record is delivered exactly once, in order.
#[test]
fn librdkafka_idempotent_producer_across_kill9_restart_has_no_duplicates() {
    let mut broker = TestBroker::start();
    let topic = broker.new_topic("idempotent-crash", 1);
    let producer = broker.producer_with(&[
        ("enable.idempotence", "true"),
        ("linger.ms", "2"),
        ("message.timeout.ms", "120000"),
        ("batch.num.messages", "50"),
    ]);
    let total = 3000usize;
    let mut pending = Vec::with_capacity(total);
    for i in 0..total {
        let value = format!("value-{i:05}");
        let record = rdkafka::producer::FutureRecord::to(&topic)
            .partition(0)
            .key("k")
            .payload(&value);
        pending.push(
            producer
                .send_result(record)
                .map_err(|(e, _)| e)
                .expect("enqueue"),
        );
        if i == total / 3 {
            // Crash while batches are in flight, then come back on the same port.
            broker.kill9();
            broker.restart_on_same_port();
        }
    }
    for (i, delivery) in pending.into_iter().enumerate() {
        match block_on(delivery) {
            Ok(Ok(_)) => {}
            Ok(Err((e, _))) => {
                panic!("record {i} was not delivered by the idempotent producer: {e}")
            }
            Err(_) => panic!("record {i}: delivery cancelled"),
        }
    }
    let records = broker.consume_n(&topic, 0, 0, total, Duration::from_secs(60));
    let values: Vec<String> = records.iter().map(|r| r.value_str()).collect();
    let expected: Vec<String> = (0..total).map(|i| format!("value-{i:05}")).collect();
    assert_eq!(
        values.len(),
        expected.len(),
        "exactly {total} records expected in the log"
    );
    let first_difference = values.iter().zip(&expected).position(|(a, b)| a != b);
    assert!(
        first_difference.is_none(),
        "records must appear exactly once and in order; first difference at index {first_difference:?}"
    );
    assert_eq!(
        broker.watermarks(&topic, 0).1,
        total as i64,
        "no duplicate may have been written"
    );
}
