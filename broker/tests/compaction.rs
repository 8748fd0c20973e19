//! Log compaction (`cleanup.policy=compact`) as a user sees it: real rdkafka producers and
//! consumers against a real broker whose background cleaner runs every 100 ms.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

/// Cleaner settings that make compaction happen within a test's patience.
const FAST_CLEANER: &[(&str, &str)] = &[("log.cleaner.backoff.ms", "100")];
const SEGMENT_BYTES: &str = "1048576";
const VALUE_BYTES: usize = 2048;

fn value(key: usize, version: usize) -> Vec<u8> {
    let mut v = format!("key-{key}-version-{version}-").into_bytes();
    v.resize(VALUE_BYTES, b'.');
    v
}

/// `keys` keys, each overwritten `versions` times, interleaved; (key, value) in send order.
fn overwrites(keys: usize, versions: usize) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    (0..versions)
        .flat_map(|v| (0..keys).map(move |k| (format!("key-{k}").into_bytes(), Some(value(k, v)))))
        .collect()
}

/// The latest value per key in `records` (None = tombstone).
fn sent_payload_bytes(sent: &[(Vec<u8>, Option<Vec<u8>>)]) -> u64 {
    sent.iter()
        .map(|(k, v)| (k.len() + v.as_ref().map_or(0, Vec::len)) as u64)
        .sum()
}

fn latest_per_key(records: &[ConsumedRecord]) -> BTreeMap<String, Option<Vec<u8>>> {
    records
        .iter()
        .map(|r| (r.key_str(), r.value.clone()))
        .collect()
}

fn expected_latest(sent: &[(Vec<u8>, Option<Vec<u8>>)]) -> BTreeMap<String, Option<Vec<u8>>> {
    sent.iter()
        .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), v.clone()))
        .collect()
}

fn compacted_topic(broker: &TestBroker, extra: &[(&str, &str)]) -> String {
    let topic = topic_name("compacted");
    let mut configs = vec![
        ("cleanup.policy", "compact"),
        ("segment.bytes", SEGMENT_BYTES),
        ("min.cleanable.dirty.ratio", "0.01"),
    ];
    configs.extend_from_slice(extra);
    broker.create_topic(&topic, 1, &configs);
    topic
}

#[test]
fn overwritten_keys_shrink_on_disk_and_a_full_read_returns_the_latest_value_per_key() {
    let broker = TestBroker::start_with(FAST_CLEANER);
    let topic = compacted_topic(&broker, &[]);
    let producer = broker.producer_with(&[("linger.ms", "5")]);
    let sent = overwrites(40, 60); // 2400 records of 2 KiB: ~5 segments
    let offsets = broker.produce_all(&producer, &topic, 0, &sent);
    // The cleaner runs while the records are produced, so the bytes on disk after producing
    // may already be cleaned: measure against the payload sent instead.
    let produced_bytes = broker
        .partition_log_bytes(&topic, 0)
        .max(sent_payload_bytes(&sent));
    let expected = expected_latest(&sent);

    wait_until(
        Duration::from_secs(60),
        "the cleaner to shrink the compacted partition to under half its size",
        || broker.partition_log_bytes(&topic, 0) < produced_bytes / 2,
    );
    let records = broker.consume_all(&topic, 0, 0);
    assert_eq!(
        latest_per_key(&records),
        expected,
        "a full read after compaction must return exactly the latest value of every key"
    );
    assert!(
        records.len() < sent.len() / 2,
        "compaction must remove overwritten records: read {} of {} produced",
        records.len(),
        sent.len()
    );
    assert!(
        records.windows(2).all(|w| w[0].offset < w[1].offset),
        "offsets must stay in order"
    );
    let sent_offsets: std::collections::BTreeSet<i64> = offsets.iter().copied().collect();
    assert!(
        records.iter().all(|r| sent_offsets.contains(&r.offset)),
        "every surviving record keeps the offset it was acknowledged with (gaps, no renumbering)"
    );
    assert_eq!(
        broker.watermarks(&topic, 0),
        (0, *offsets.last().unwrap() + 1),
        "compaction moves neither the log start nor the high watermark"
    );
    let checkpoint = broker.data_dir().join("cleaner-offset-checkpoint");
    assert!(
        std::fs::read_to_string(&checkpoint)
            .unwrap_or_default()
            .contains(&format!("{topic} 0 ")),
        "cleaner-offset-checkpoint must record the partition"
    );

    // Producing continues normally after cleaning.
    let next = broker.produce_one(&producer, &topic, 0, b"key-0", b"after-cleaning");
    assert_eq!(next.1, *offsets.last().unwrap() + 1);
}

#[test]
fn tombstoned_keys_disappear_after_delete_retention_ms() {
    let broker = TestBroker::start_with(FAST_CLEANER);
    let topic = compacted_topic(&broker, &[("delete.retention.ms", "1000")]);
    let producer = broker.producer_with(&[("linger.ms", "5")]);
    let mut sent: Vec<(Vec<u8>, Option<Vec<u8>>)> = vec![
        (b"doomed".to_vec(), Some(b"first".to_vec())),
        (b"kept".to_vec(), Some(b"value".to_vec())),
        (b"doomed".to_vec(), None),
    ];
    sent.extend(overwrites(20, 60)); // filler that rolls the tombstone's segment
    broker.produce_all(&producer, &topic, 0, &sent);

    wait_until(
        Duration::from_secs(60),
        "the tombstoned key to vanish from a full read after delete.retention.ms",
        || {
            !broker
                .consume_all(&topic, 0, 0)
                .iter()
                .any(|r| r.key_str() == "doomed")
        },
    );
    let latest = latest_per_key(&broker.consume_all(&topic, 0, 0));
    assert_eq!(
        latest.get("kept"),
        Some(&Some(b"value".to_vec())),
        "a key that was never deleted keeps its value"
    );
    assert_eq!(
        latest.len(),
        21,
        "20 filler keys plus `kept`: {:?}",
        latest.keys()
    );
}

#[test]
fn keyless_records_are_rejected_on_compacted_topics_with_invalid_record() {
    let broker = TestBroker::start_with(FAST_CLEANER);
    let topic = compacted_topic(&broker, &[]);
    let mut raw = broker.raw();
    let keyless =
        encode_nullable_batch(&[(Some(b"k"), Some(b"v")), (None, Some(b"no key"))], 1_000);
    let response = raw.produce(&topic, 0, keyless, 1);
    assert_eq!(
        response.error_code,
        codes::INVALID_RECORD,
        "a batch with a keyless record must be refused on a compacted topic"
    );
    assert_eq!(
        broker.watermarks(&topic, 0),
        (0, 0),
        "nothing may be written"
    );
    let keyed = encode_nullable_batch(&[(Some(b"k"), Some(b"v")), (Some(b"t"), None)], 1_000);
    let response = raw.produce(&topic, 0, keyed, 1);
    assert_eq!(
        response.error_code,
        codes::NONE,
        "keyed records and tombstones are fine"
    );

    let plain = broker.new_topic("plain", 1);
    let keyless = encode_nullable_batch(&[(None, Some(b"no key"))], 1_000);
    assert_eq!(
        raw.produce(&plain, 0, keyless, 1).error_code,
        codes::NONE,
        "keyless records are fine on delete-policy topics"
    );
}

/// kill -9 at an arbitrary point (the cleaner is busy: many dirty segments, 100 ms backoff),
/// then hand-made leftovers of an interrupted swap: the log must come back complete, with
/// the swap completed.
#[test]
fn kill9_during_cleaning_and_leftover_swap_files_leave_a_complete_log() {
    let mut broker = TestBroker::start_with(FAST_CLEANER);
    let topic = compacted_topic(&broker, &[]);
    let producer = broker.producer_with(&[("linger.ms", "5")]);
    let sent = overwrites(30, 80);
    broker.produce_all(&producer, &topic, 0, &sent);
    let expected = expected_latest(&sent);
    drop(producer);
    broker.kill9();

    // Restart without the cleaner: recovery from the kill alone keeps every key's latest
    // value, and nothing cleans while the next leftovers are made.
    broker.set_override("log.cleaner.enable", "false");
    broker.restart();
    broker.wait_for_topic(&topic, 1);
    assert_eq!(
        latest_per_key(&broker.consume_all(&topic, 0, 0)),
        expected,
        "after kill -9 during cleaning every key must still read its latest value"
    );
    // More overwrites in small batches, left uncleaned: segments with many batches.
    let producer = broker.producer_with(&[("linger.ms", "5"), ("batch.size", "16384")]);
    let more = overwrites(30, 40);
    broker.produce_all(&producer, &topic, 0, &more);
    drop(producer);
    let sent: Vec<_> = sent.into_iter().chain(more).collect();
    let expected = expected_latest(&sent);
    broker.kill9();

    // Leftovers as a crash mid-cleaning would leave them: a half-written `.cleaned` and a
    // complete `.swap` of the first segment with several batches that keeps only its last
    // batch (every record of the others has a later value: a valid cleaned version that
    // differs from the segment), which must replace the segment. (Segments the cleaner
    // emptied before the kill hold no batch.)
    let dir = broker.data_dir().join(format!("{topic}-0"));
    let segments = files_with_suffix(&dir, ".log");
    let (segment_path, segment) = segments[..segments.len() - 1]
        .iter()
        .map(|path| (path, std::fs::read(path).expect("read a segment")))
        .find(|(_, bytes)| split_batches(bytes).len() >= 2)
        .unwrap_or_else(|| panic!("no closed segment with two batches or more: {segments:?}"));
    let batches = split_batches(&segment);
    let latest_offsets = latest_offset_per_key(&dir);
    let (dropped, kept) = batches.split_at(batches.len() - 1);
    let dropped_offsets: Vec<i64> = dropped
        .iter()
        .flat_map(|b| decode_records(bytes::Bytes::copy_from_slice(b)))
        .map(|r| {
            let key = String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned();
            assert!(
                latest_offsets[&key] > r.offset,
                "record {key}@{} is its key's latest: the swap would not be a valid cleaning",
                r.offset
            );
            r.offset
        })
        .collect();
    let swap_path = format!("{}.swap", segment_path.display());
    std::fs::write(&swap_path, kept[0]).expect("make .swap");
    std::fs::write(
        format!("{}.cleaned", segment_path.display()),
        b"half written",
    )
    .expect("make .cleaned");

    broker.restart();
    broker.wait_for_topic(&topic, 1);
    let records = broker.consume_all(&topic, 0, 0);
    assert_eq!(
        latest_per_key(&records),
        expected,
        "after interrupted-swap leftovers every key must still read its latest value"
    );
    let resurrected: Vec<i64> = records
        .iter()
        .map(|r| r.offset)
        .filter(|o| dropped_offsets.contains(o))
        .collect();
    assert!(
        resurrected.is_empty(),
        "recovery discarded the swap instead of completing it: {} records of batches the \
         swap left out are still read (offsets {:?} to {:?})",
        resurrected.len(),
        resurrected.first(),
        resurrected.last()
    );
    let leftovers: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".swap") || n.ends_with(".cleaned"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "recovery must clear swap/cleaned files: {leftovers:?}"
    );

    broker.set_override("log.cleaner.enable", "true");
    broker.restart();
    broker.wait_for_topic(&topic, 1);
    wait_until(
        Duration::from_secs(60),
        "the restarted broker's cleaner to compact the partition",
        || broker.consume_all(&topic, 0, 0).len() < sent.len() / 2,
    );
    assert_eq!(latest_per_key(&broker.consume_all(&topic, 0, 0)), expected);
}

/// A 2 KiB value starting with `text` (segments of 1 MiB roll after ~500 records).
fn padded(text: &str) -> Vec<u8> {
    let mut v = text.as_bytes().to_vec();
    v.resize(VALUE_BYTES, b'.');
    v
}

/// The text before the padding.
fn unpadded(record: &ConsumedRecord) -> String {
    record.value_str().trim_end_matches('.').to_owned()
}

/// Sends `(key, value)` pairs and waits for every ack (inside a transaction: before the
/// commit or abort).
fn send_and_wait(producer: &FutureProducer, topic: &str, records: &[(String, Vec<u8>)]) {
    let pending: Vec<_> = records
        .iter()
        .map(|(key, value)| {
            producer
                .send_result(
                    FutureRecord::to(topic)
                        .partition(0)
                        .key(key.as_bytes())
                        .payload(value.as_slice()),
                )
                .unwrap_or_else(|(e, _)| panic!("producer refused a record for {topic}: {e}"))
        })
        .collect();
    for delivery in pending {
        match block_on(delivery) {
            Ok(Ok(_)) => {}
            Ok(Err((e, _))) => panic!("send to {topic} was not acknowledged: {e}"),
            Err(_) => panic!("send to {topic}: delivery future cancelled"),
        }
    }
}

/// Latest value text per key, and the aborted values seen, of a full read at `isolation`.
fn read_compacted(
    broker: &TestBroker,
    topic: &str,
    isolation: &str,
) -> (BTreeMap<String, String>, Vec<String>) {
    let records = broker.consume_all_with(&[("isolation.level", isolation)], topic, 0, 0);
    let aborted = records
        .iter()
        .map(unpadded)
        .filter(|v| v.starts_with("aborted-"))
        .collect();
    let latest = records.iter().map(|r| (r.key_str(), unpadded(r))).collect();
    (latest, aborted)
}

/// A real transactional producer writes committed and aborted transactions over the same
/// keys, with plain records in between, to a compacted topic: the cleaner removes the aborted
/// records (a read_uncommitted consumer stops seeing them), read_committed and
/// read_uncommitted reads both return the latest committed value of every key, and so they
/// do after kill -9 and a restart.
#[test]
fn aborted_transactions_are_compacted_away_and_committed_ones_keep_their_latest_values() {
    let mut broker = TestBroker::start_with(FAST_CLEANER);
    let topic = compacted_topic(&broker, &[("delete.retention.ms", "1000")]);
    let txn_producer = broker.producer_with(&[
        ("transactional.id", "compacted-txn"),
        ("enable.idempotence", "true"),
        ("transaction.timeout.ms", "60000"),
    ]);
    txn_producer
        .init_transactions(CLIENT_TIMEOUT)
        .unwrap_or_else(|e| panic!("init_transactions: {e}\n{}", broker.log_tail()));
    let plain_producer = broker.producer_with(&[("linger.ms", "5")]);
    let keys: Vec<String> = (0..20).map(|k| format!("key-{k}")).collect();
    let mut expected: BTreeMap<String, String> = BTreeMap::new();

    // ~1 MiB of interleaved committed and aborted transactions over the same 20 keys.
    for round in 0..12 {
        let committed: Vec<(String, Vec<u8>)> = keys
            .iter()
            .map(|k| (k.clone(), padded(&format!("committed-{round}-{k}"))))
            .collect();
        txn_producer.begin_transaction().expect("begin_transaction");
        send_and_wait(&txn_producer, &topic, &committed);
        txn_producer
            .commit_transaction(CLIENT_TIMEOUT)
            .unwrap_or_else(|e| panic!("commit_transaction: {e}\n{}", broker.log_tail()));
        for k in &keys {
            expected.insert(k.clone(), format!("committed-{round}-{k}"));
        }
        let aborted: Vec<(String, Vec<u8>)> = keys
            .iter()
            .map(|k| (k.clone(), padded(&format!("aborted-{round}-{k}"))))
            .collect();
        txn_producer.begin_transaction().expect("begin_transaction");
        send_and_wait(&txn_producer, &topic, &aborted);
        txn_producer
            .abort_transaction(CLIENT_TIMEOUT)
            .unwrap_or_else(|e| panic!("abort_transaction: {e}\n{}", broker.log_tail()));
        if round % 3 == 0 {
            let key = keys[round % keys.len()].clone();
            let text = format!("plain-{round}-{key}");
            broker.produce_all(
                &plain_producer,
                &topic,
                0,
                &[(key.clone().into_bytes(), Some(padded(&text)))],
            );
            expected.insert(key, text);
        }
    }
    // Then ~1.2 MiB of committed records with their own keys, so that the segments holding
    // the aborted transactions are closed (only closed segments are cleaned).
    for batch in 0..6 {
        let filler: Vec<(String, String)> = (0..100)
            .map(|i| {
                (
                    format!("filler-{batch}-{i}"),
                    format!("committed-filler-{batch}-{i}"),
                )
            })
            .collect();
        let records: Vec<(String, Vec<u8>)> = filler
            .iter()
            .map(|(k, text)| (k.clone(), padded(text)))
            .collect();
        txn_producer.begin_transaction().expect("begin_transaction");
        send_and_wait(&txn_producer, &topic, &records);
        txn_producer
            .commit_transaction(CLIENT_TIMEOUT)
            .unwrap_or_else(|e| panic!("commit_transaction: {e}\n{}", broker.log_tail()));
        expected.extend(filler);
    }

    wait_until(
        Duration::from_secs(60),
        "the cleaner to remove every aborted record (read_uncommitted sees none)",
        || {
            read_compacted(&broker, &topic, "read_uncommitted")
                .1
                .is_empty()
        },
    );
    let (committed_view, _) = read_compacted(&broker, &topic, "read_committed");
    assert_eq!(
        committed_view, expected,
        "read_committed must return the latest committed value of every key"
    );
    let (uncommitted_view, aborted_seen) = read_compacted(&broker, &topic, "read_uncommitted");
    assert!(
        aborted_seen.is_empty(),
        "aborted records reappeared: {aborted_seen:?}"
    );
    assert_eq!(
        uncommitted_view, expected,
        "with the aborted records gone, read_uncommitted sees the committed values too"
    );

    drop(txn_producer);
    drop(plain_producer);
    broker.kill9_and_restart();
    broker.wait_for_topic(&topic, 1);
    let (committed_view, _) = read_compacted(&broker, &topic, "read_committed");
    assert_eq!(
        committed_view, expected,
        "after kill -9 and a restart read_committed returns the same latest values"
    );
    let (uncommitted_view, aborted_seen) = read_compacted(&broker, &topic, "read_uncommitted");
    assert!(
        aborted_seen.is_empty(),
        "after kill -9 and a restart aborted records must stay gone: {aborted_seen:?}"
    );
    assert_eq!(uncommitted_view, expected);
}

/// The record batches of a `.log` segment file, in order (v2 framing: base offset, length).
fn split_batches(segment: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 12 <= segment.len() {
        let length = i32::from_be_bytes(segment[at + 8..at + 12].try_into().expect("4 bytes"));
        let end = at + 12 + usize::try_from(length).expect("a batch length is positive");
        assert!(
            end <= segment.len(),
            "torn batch at byte {at} of the segment"
        );
        out.push(&segment[at..end]);
        at = end;
    }
    out
}

/// Key → offset of its latest record, over every `.log` segment in `dir`.
fn latest_offset_per_key(dir: &std::path::Path) -> BTreeMap<String, i64> {
    let mut latest = BTreeMap::new();
    for path in files_with_suffix(dir, ".log") {
        let bytes = std::fs::read(&path).expect("read a segment");
        for r in decode_records(bytes::Bytes::from(bytes)) {
            let key = String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned();
            latest.insert(key, r.offset);
        }
    }
    latest
}
