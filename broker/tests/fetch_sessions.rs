//! Incremental fetch sessions (KIP-227) as a consumer drives them, over the raw protocol
//! against the real broker: several partitions in one session, requests that leave out
//! partitions whose fetch offset did not change, responses that leave out partitions with
//! nothing new, forgotten partitions, the cache's slot limit and the session errors
//! (INVALID_FETCH_SESSION_EPOCH, FETCH_SESSION_ID_NOT_FOUND, FETCH_SESSION_TOPIC_ID_ERROR).
//! The eviction order, which needs sessions minutes old, is tested beside the cache
//! (`handlers/fetch_session.rs`).
mod common;

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    BrokerId, DeleteRecordsRequest, FetchRequest, FetchResponse, MetadataRequest,
};
use kafka_protocol::records::Compression;
use uuid::Uuid;

/// Fetch with topic names (v12) and with topic ids (v17, what current Java clients send).
const FETCH_BY_NAME: i16 = 12;
const FETCH_BY_ID: i16 = 17;
/// A long poll bound for requests expected to find nothing new (answered at the deadline).
const EMPTY_WAIT_MS: i32 = 200;
const FETCH_SESSION_TOPIC_ID_ERROR: i16 = 106;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// One partition as a fetch response reported it.
#[derive(Debug, Clone, PartialEq)]
struct Reported {
    error_code: i16,
    high_watermark: i64,
    log_start_offset: i64,
    /// (offset, value) of every record returned.
    records: Vec<(i64, String)>,
}

/// A consumer's view of one fetch session: the topics it knows (name ↔ id), the request
/// version it speaks, and the session id and epoch to send next.
struct SessionClient {
    raw: RawClient,
    version: i16,
    ids: BTreeMap<String, Uuid>,
    session_id: i32,
    epoch: i32,
    max_bytes: i32,
    partition_max_bytes: i32,
}

impl SessionClient {
    fn new(broker: &TestBroker, version: i16, topics: &[&str]) -> Self {
        let mut raw = broker.raw();
        let ids = topic_ids(&mut raw, topics);
        SessionClient {
            raw,
            version,
            ids,
            session_id: 0,
            epoch: 0,
            max_bytes: 8 * 1024 * 1024,
            partition_max_bytes: 4 * 1024 * 1024,
        }
    }

    fn topic_of_id(&self, id: Uuid) -> String {
        self.ids
            .iter()
            .find(|(_, v)| **v == id)
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| panic!("response names topic id {id}, which no request sent"))
    }

    /// Sends one fetch as (session id, epoch) with `partitions` (topic, partition, fetch
    /// offset) and `forgotten` (topic, partition) and returns the raw response.
    fn send(
        &mut self,
        session_id: i32,
        epoch: i32,
        partitions: &[(&str, i32, i64)],
        forgotten: &[(&str, i32)],
        max_wait_ms: i32,
    ) -> FetchResponse {
        let mut topics: Vec<FetchTopic> = Vec::new();
        for (topic, partition, offset) in partitions {
            let part = FetchPartition::default()
                .with_partition(*partition)
                .with_current_leader_epoch(-1)
                .with_fetch_offset(*offset)
                .with_last_fetched_epoch(-1)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(self.partition_max_bytes);
            match topics.last_mut() {
                Some(t) if t.topic.0.as_str() == *topic => t.partitions.push(part),
                _ => topics.push(
                    FetchTopic::default()
                        .with_topic(topic_name_of(topic))
                        .with_topic_id(self.ids[*topic])
                        .with_partitions(vec![part]),
                ),
            }
        }
        let mut forgotten_topics: Vec<ForgottenTopic> = Vec::new();
        for (topic, partition) in forgotten {
            match forgotten_topics.last_mut() {
                Some(t) if t.topic.0.as_str() == *topic => t.partitions.push(*partition),
                _ => forgotten_topics.push(
                    ForgottenTopic::default()
                        .with_topic(topic_name_of(topic))
                        .with_topic_id(self.ids[*topic])
                        .with_partitions(vec![*partition]),
                ),
            }
        }
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(max_wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(self.max_bytes)
            .with_isolation_level(0)
            .with_session_id(session_id)
            .with_session_epoch(epoch)
            .with_topics(topics)
            .with_forgotten_topics_data(forgotten_topics);
        self.raw.call(self.version, &request).unwrap_or_else(|e| {
            panic!(
                "Fetch v{} (session {session_id}, epoch {epoch}): {e:#}",
                self.version
            )
        })
    }

    /// A full fetch that opens a session; remembers its id and sets the next epoch to 1.
    fn open(&mut self, partitions: &[(&str, i32, i64)]) -> BTreeMap<(String, i32), Reported> {
        let response = self.send(0, 0, partitions, &[], EMPTY_WAIT_MS);
        assert_eq!(
            response.error_code,
            codes::NONE,
            "full fetch opening a session: error"
        );
        assert_ne!(
            response.session_id, 0,
            "the broker created no fetch session"
        );
        self.session_id = response.session_id;
        self.epoch = 1;
        self.reported(&response)
    }

    /// The next incremental fetch of the session; advances the epoch.
    fn incremental(
        &mut self,
        partitions: &[(&str, i32, i64)],
        forgotten: &[(&str, i32)],
        max_wait_ms: i32,
    ) -> BTreeMap<(String, i32), Reported> {
        let (id, epoch) = (self.session_id, self.epoch);
        let response = self.send(id, epoch, partitions, forgotten, max_wait_ms);
        assert_eq!(
            response.error_code,
            codes::NONE,
            "incremental fetch (session {id}, epoch {epoch}): error"
        );
        assert_eq!(
            response.session_id, id,
            "incremental fetch (epoch {epoch}) answered for another session"
        );
        self.epoch += 1;
        self.reported(&response)
    }

    /// Every partition a response reports, by (topic, partition).
    fn reported(&self, response: &FetchResponse) -> BTreeMap<(String, i32), Reported> {
        let mut out = BTreeMap::new();
        for t in &response.responses {
            let topic = if self.version >= 13 {
                self.topic_of_id(t.topic_id)
            } else {
                t.topic.0.to_string()
            };
            for p in &t.partitions {
                let records = p
                    .records
                    .clone()
                    .map(decode_records)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| {
                        let value = r.value.map(|v| String::from_utf8_lossy(&v).into_owned());
                        (r.offset, value.unwrap_or_default())
                    })
                    .collect();
                let previous = out.insert(
                    (topic.clone(), p.partition_index),
                    Reported {
                        error_code: p.error_code,
                        high_watermark: p.high_watermark,
                        log_start_offset: p.log_start_offset,
                        records,
                    },
                );
                assert!(
                    previous.is_none(),
                    "{topic}/{} reported twice in one response",
                    p.partition_index
                );
            }
        }
        out
    }
}

/// Topic ids by name, from Metadata.
fn topic_ids(raw: &mut RawClient, topics: &[&str]) -> BTreeMap<String, Uuid> {
    let request = MetadataRequest::default().with_topics(Some(
        topics
            .iter()
            .map(|t| MetadataRequestTopic::default().with_name(Some(topic_name_of(t))))
            .collect(),
    ));
    let response = raw
        .call(versions::METADATA, &request)
        .unwrap_or_else(|e| panic!("Metadata for {topics:?}: {e:#}"));
    let ids: BTreeMap<String, Uuid> = response
        .topics
        .iter()
        .filter_map(|t| Some((t.name.as_ref()?.0.to_string(), t.topic_id)))
        .collect();
    for t in topics {
        assert!(
            ids.get(*t).is_some_and(|id| !id.is_nil()),
            "Metadata gave no topic id for {t}: {ids:?}"
        );
    }
    ids
}

/// Produces `values` (one batch) to topic/partition with the raw client.
fn produce(raw: &mut RawClient, topic: &str, partition: i32, values: &[&str]) {
    let records: Vec<(&[u8], &[u8])> = values.iter().map(|v| (&b"k"[..], v.as_bytes())).collect();
    let batch = encode_batch(&records, 2, Compression::None, now_ms());
    let response = raw.produce(topic, partition, batch, -1);
    assert_eq!(
        response.error_code,
        codes::NONE,
        "produce {values:?} to {topic}/{partition}"
    );
}

fn key(topic: &str, partition: i32) -> (String, i32) {
    (topic.to_string(), partition)
}

fn values(reported: &Reported) -> Vec<String> {
    reported.records.iter().map(|(_, v)| v.clone()).collect()
}

/// The partitions a response reported, for failure messages and set comparisons.
fn reported_keys(reported: &BTreeMap<(String, i32), Reported>) -> Vec<(String, i32)> {
    reported.keys().cloned().collect()
}

#[test]
fn incremental_fetches_carry_and_report_only_what_changed_and_the_session_keeps_offsets() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("sess-incr", 3);
    let t = topic.as_str();
    let mut producer = broker.raw();
    for p in 0..3 {
        produce(
            &mut producer,
            t,
            p,
            &[&format!("p{p}-0"), &format!("p{p}-1")],
        );
    }

    let mut client = SessionClient::new(&broker, FETCH_BY_NAME, &[t]);
    let full = client.open(&[(t, 0, 0), (t, 1, 0), (t, 2, 0)]);
    assert_eq!(
        reported_keys(&full),
        vec![key(t, 0), key(t, 1), key(t, 2)],
        "a full fetch reports every partition"
    );
    for p in 0..3 {
        assert_eq!(
            values(&full[&key(t, p)]),
            vec![format!("p{p}-0"), format!("p{p}-1")],
            "full fetch: records of partition {p}"
        );
    }

    // The consumer advanced partitions 0 and 1 and sends only those; partition 2 is left
    // out, so the broker fetches it from the offset the session remembers (0), and
    // partitions 0 and 1, with nothing new, are left out of the response.
    let r = client.incremental(&[(t, 0, 2), (t, 1, 2)], &[], EMPTY_WAIT_MS);
    assert_eq!(
        reported_keys(&r),
        vec![key(t, 2)],
        "only partition 2 (fetched again from its remembered offset 0) has news"
    );
    assert_eq!(
        r[&key(t, 2)].records,
        vec![(0, "p2-0".to_string()), (1, "p2-1".to_string())],
        "partition 2 read from the offset the session remembered"
    );

    // Now every partition is at its end: an incremental fetch naming none reports none.
    let r = client.incremental(&[(t, 2, 2)], &[], EMPTY_WAIT_MS);
    assert!(
        r.is_empty(),
        "nothing changed, yet the response reports {r:?}"
    );
    let r = client.incremental(&[], &[], EMPTY_WAIT_MS);
    assert!(r.is_empty(), "an empty incremental request reported {r:?}");

    // A record on partition 1 only: the request names no partition, the session fetches
    // each from its remembered offset (2), and only partition 1 is reported.
    produce(&mut producer, t, 1, &["p1-2"]);
    let r = client.incremental(&[], &[], 5_000);
    assert_eq!(
        reported_keys(&r),
        vec![key(t, 1)],
        "only partition 1 has news"
    );
    assert_eq!(r[&key(t, 1)].records, vec![(2, "p1-2".to_string())]);
    assert_eq!(
        r[&key(t, 1)].high_watermark,
        3,
        "partition 1's new high watermark"
    );

    // A moved log start offset is news without records: DeleteRecords on partition 0.
    let request = DeleteRecordsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![DeleteRecordsTopic::default()
            .with_name(topic_name_of(t))
            .with_partitions(vec![DeleteRecordsPartition::default()
                .with_partition_index(0)
                .with_offset(1)])]);
    let deleted = producer
        .call(versions::DELETE_RECORDS, &request)
        .expect("DeleteRecords");
    assert_eq!(
        deleted.topics[0].partitions[0].error_code,
        codes::NONE,
        "DeleteRecords before offset 1 of partition 0"
    );
    let r = client.incremental(&[(t, 1, 3)], &[], EMPTY_WAIT_MS);
    assert_eq!(
        reported_keys(&r),
        vec![key(t, 0)],
        "only partition 0 (log start offset moved) has news"
    );
    let p0 = &r[&key(t, 0)];
    assert_eq!(p0.log_start_offset, 1, "partition 0's new log start offset");
    assert!(
        p0.records.is_empty(),
        "partition 0 has no new records: {p0:?}"
    );
    let r = client.incremental(&[], &[], EMPTY_WAIT_MS);
    assert!(r.is_empty(), "reported again without a change: {r:?}");
}

/// Forgotten partitions leave the session (not fetched, not reported, even with new
/// records); one can be added back; forgetting the last partition closes the session.
/// Topic ids (Fetch v17), as current Java clients send them.
#[test]
fn forgotten_partitions_leave_the_session_and_forgetting_all_closes_it() {
    let broker = TestBroker::start();
    let a = topic_name("sess-forget-a");
    let b = topic_name("sess-forget-b");
    broker.create_topic(&a, 2, &[]);
    broker.create_topic(&b, 1, &[]);
    let (a, b) = (a.as_str(), b.as_str());
    let mut producer = broker.raw();

    let mut client = SessionClient::new(&broker, FETCH_BY_ID, &[a, b]);
    let full = client.open(&[(a, 0, 0), (a, 1, 0), (b, 0, 0)]);
    assert_eq!(
        reported_keys(&full).len(),
        3,
        "full fetch reports all three: {full:?}"
    );

    // Forget a/1 and b/0 (all of topic b), then give every partition a record.
    let r = client.incremental(&[], &[(a, 1), (b, 0)], EMPTY_WAIT_MS);
    assert!(r.is_empty(), "forgetting reported {r:?}");
    produce(&mut producer, a, 0, &["a0-0"]);
    produce(&mut producer, a, 1, &["a1-0"]);
    produce(&mut producer, b, 0, &["b0-0"]);
    let r = client.incremental(&[], &[], 5_000);
    assert_eq!(
        reported_keys(&r),
        vec![key(a, 0)],
        "only a/0 is still in the session; forgotten a/1 and b/0 must not be fetched"
    );
    assert_eq!(values(&r[&key(a, 0)]), vec!["a0-0".to_string()]);

    // a/1 comes back by being named again, at the offset the request gives.
    let r = client.incremental(&[(a, 0, 1), (a, 1, 0)], &[], 5_000);
    assert_eq!(reported_keys(&r), vec![key(a, 1)], "a/1 added back");
    assert_eq!(values(&r[&key(a, 1)]), vec!["a1-0".to_string()]);
    let r = client.incremental(&[(a, 1, 1)], &[], EMPTY_WAIT_MS);
    assert!(
        r.is_empty(),
        "both partitions at their end, yet reported {r:?}"
    );

    // Forgetting every remaining partition closes the session (Kafka answers that request
    // without a session), so the old id is then unknown.
    let (id, epoch) = (client.session_id, client.epoch);
    let last = client.send(id, epoch, &[], &[(a, 0), (a, 1)], EMPTY_WAIT_MS);
    assert_eq!(
        last.error_code,
        codes::NONE,
        "forgetting the last partitions"
    );
    assert_eq!(
        last.session_id, 0,
        "a session left with no partitions is closed: the response carries no session id"
    );
    let after = client.send(id, epoch + 1, &[], &[], EMPTY_WAIT_MS);
    assert_eq!(
        after.error_code,
        codes::FETCH_SESSION_ID_NOT_FOUND,
        "the emptied session {id} must be gone"
    );
}

/// The epochs of a session must follow one another; errors leave the session usable; an
/// unknown or closed session id, or an epoch without a session id, is not found; a session
/// opened with topic names cannot continue with topic ids. Errors carry no session id and
/// no partitions.
#[test]
fn session_errors_match_kafka() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("sess-err", 2);
    let t = topic.as_str();
    let mut producer = broker.raw();
    produce(&mut producer, t, 0, &["v0"]);

    let mut client = SessionClient::new(&broker, FETCH_BY_NAME, &[t]);
    client.open(&[(t, 0, 0), (t, 1, 0)]);
    let id = client.session_id;
    let r = client.incremental(&[(t, 0, 1)], &[], EMPTY_WAIT_MS);
    assert!(r.is_empty(), "{r:?}");

    let expect_error = |response: &FetchResponse, code: i16, what: &str| {
        assert_eq!(response.error_code, code, "{what}: top-level error code");
        assert_eq!(
            response.session_id, 0,
            "{what}: an error carries no session id"
        );
        assert!(
            response.responses.is_empty(),
            "{what}: an error reports no partitions: {:?}",
            response.responses
        );
    };
    // epoch 1 was used: a repeat (e.g. a retried request) and a skipped epoch are refused
    let repeat = client.send(id, 1, &[], &[], EMPTY_WAIT_MS);
    expect_error(
        &repeat,
        codes::INVALID_FETCH_SESSION_EPOCH,
        "epoch 1 sent again",
    );
    let skipped = client.send(id, 5, &[], &[], EMPTY_WAIT_MS);
    expect_error(
        &skipped,
        codes::INVALID_FETCH_SESSION_EPOCH,
        "epoch 5 after 1",
    );
    // ... and the session is still there at the right epoch, offsets as remembered
    produce(&mut producer, t, 1, &["v1"]);
    let r = client.incremental(&[], &[], 5_000);
    assert_eq!(
        reported_keys(&r),
        vec![key(t, 1)],
        "the session survived the errors"
    );

    let unknown = client.send(id.wrapping_add(7919), 1, &[], &[], EMPTY_WAIT_MS);
    expect_error(
        &unknown,
        codes::FETCH_SESSION_ID_NOT_FOUND,
        "an unknown session id",
    );
    // Kafka treats any epoch other than 0 and -1 as incremental, so session id 0 with
    // epoch 3 looks up session 0, which never exists.
    let no_id = client.send(0, 3, &[(t, 0, 0)], &[], EMPTY_WAIT_MS);
    expect_error(
        &no_id,
        codes::FETCH_SESSION_ID_NOT_FOUND,
        "session id 0, epoch 3",
    );

    // A v13+ request for a session opened with topic names.
    let mut by_id = SessionClient::new(&broker, FETCH_BY_ID, &[t]);
    let mixed = by_id.send(id, client.epoch, &[], &[], EMPTY_WAIT_MS);
    expect_error(
        &mixed,
        FETCH_SESSION_TOPIC_ID_ERROR,
        "a topic-id request for a topic-name session",
    );
    // ... which does not consume the epoch
    let r = client.incremental(&[(t, 1, 1)], &[], EMPTY_WAIT_MS);
    assert!(r.is_empty(), "{r:?}");

    // Epoch -1 closes the session (and is answered without one); its id is then unknown.
    let close = client.send(id, -1, &[(t, 0, 0)], &[], EMPTY_WAIT_MS);
    assert_eq!(close.error_code, codes::NONE, "closing the session");
    assert_eq!(
        close.session_id, 0,
        "a closing request is answered without a session"
    );
    let closed = client.send(id, client.epoch, &[], &[], EMPTY_WAIT_MS);
    expect_error(
        &closed,
        codes::FETCH_SESSION_ID_NOT_FOUND,
        "a closed session",
    );
}

/// `max.incremental.fetch.session.cache.slots` bounds the sessions: a full cache of recent
/// sessions refuses new ones (the fetch is still answered, without a session) and evicts
/// none of them; a closed session frees its slot; a full fetch naming its own session
/// replaces it even when the cache is full; 0 slots means no sessions at all.
#[test]
fn the_session_cache_holds_at_most_its_slots() {
    let broker = TestBroker::start_with(&[("max.incremental.fetch.session.cache.slots", "2")]);
    let topic = broker.new_topic("sess-slots", 3);
    let t = topic.as_str();
    let mut producer = broker.raw();
    produce(&mut producer, t, 0, &["v0"]);

    let mut first = SessionClient::new(&broker, FETCH_BY_NAME, &[t]);
    first.open(&[(t, 0, 0)]);
    let mut second = SessionClient::new(&broker, FETCH_BY_NAME, &[t]);
    second.open(&[(t, 0, 0)]);

    // A third consumer, even with more partitions, finds no slot: the two sessions are
    // recent (Kafka evicts a session for a bigger one only after 120 s).
    let mut third = SessionClient::new(&broker, FETCH_BY_NAME, &[t]);
    let refused = third.send(0, 0, &[(t, 0, 0), (t, 1, 0), (t, 2, 0)], &[], EMPTY_WAIT_MS);
    assert_eq!(
        refused.error_code,
        codes::NONE,
        "a full fetch with a full cache"
    );
    assert_eq!(refused.session_id, 0, "a third session beyond the 2 slots");
    let got = third.reported(&refused);
    assert_eq!(
        got.len(),
        3,
        "the sessionless answer still reports all: {got:?}"
    );
    assert_eq!(values(&got[&key(t, 0)]), vec!["v0".to_string()]);
    for (name, client) in [("first", &mut first), ("second", &mut second)] {
        let r = client.incremental(&[(t, 0, 1)], &[], EMPTY_WAIT_MS);
        assert!(r.is_empty(), "{name} session evicted or confused: {r:?}");
    }

    // A full fetch (epoch 0) naming the first session closes it and opens a new one.
    let old_id = first.session_id;
    let renewed = first.send(old_id, 0, &[(t, 0, 1), (t, 1, 0)], &[], EMPTY_WAIT_MS);
    assert_eq!(renewed.error_code, codes::NONE, "renewing session {old_id}");
    assert_ne!(
        renewed.session_id, 0,
        "a renewed session reuses the freed slot"
    );
    assert_ne!(
        renewed.session_id, old_id,
        "a renewed session gets a new id"
    );
    let gone = first.send(old_id, first.epoch, &[], &[], EMPTY_WAIT_MS);
    assert_eq!(
        gone.error_code,
        codes::FETCH_SESSION_ID_NOT_FOUND,
        "the replaced session {old_id} must be gone"
    );

    // Closing the second session frees its slot for the third consumer.
    let close = second.send(second.session_id, -1, &[(t, 0, 1)], &[], EMPTY_WAIT_MS);
    assert_eq!(close.error_code, codes::NONE, "closing the second session");
    let opened = third.send(0, 0, &[(t, 0, 0)], &[], EMPTY_WAIT_MS);
    assert_ne!(
        opened.session_id, 0,
        "the slot freed by closing was not reused"
    );

    let none = TestBroker::start_with(&[("max.incremental.fetch.session.cache.slots", "0")]);
    let topic = none.new_topic("sess-noslots", 1);
    let mut client = SessionClient::new(&none, FETCH_BY_NAME, &[topic.as_str()]);
    let r = client.send(0, 0, &[(topic.as_str(), 0, 0)], &[], EMPTY_WAIT_MS);
    assert_eq!(r.error_code, codes::NONE, "a full fetch with 0 slots");
    assert_eq!(r.session_id, 0, "0 slots: no session may be created");
}

/// When the response's byte limit cannot hold every partition's data, a session serves
/// the partitions in turn: a partition that returned records moves to the back of the
/// session (as Kafka's), so the consumer's other partitions are not starved while one
/// partition has a backlog.
#[test]
fn a_session_takes_partitions_in_turn_when_the_response_is_full() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("sess-turns", 2);
    let t = topic.as_str();
    let mut producer = broker.raw();
    let big = "x".repeat(100 * 1024);
    for p in 0..2 {
        for n in 0..4 {
            produce(&mut producer, t, p, &[&format!("p{p}-{n}-{big}")]);
        }
    }

    // Room for one 100 KiB batch per response: the second partition's next batch does not
    // fit after the first's.
    let mut client = SessionClient::new(&broker, FETCH_BY_NAME, &[t]);
    client.max_bytes = 150 * 1024;
    let mut next = [0i64; 2];
    let mut served = Vec::new();
    let mut note = |r: &BTreeMap<(String, i32), Reported>, next: &mut [i64; 2]| {
        let with_data: Vec<i32> = r
            .iter()
            .filter(|(_, rep)| !rep.records.is_empty())
            .map(|((_, p), _)| *p)
            .collect();
        for ((_, p), rep) in r {
            if let Some((last, _)) = rep.records.last() {
                next[*p as usize] = last + 1;
            }
        }
        served.push(with_data);
    };
    let full = client.open(&[(t, 0, 0), (t, 1, 0)]);
    note(&full, &mut next);
    for _ in 0..3 {
        let r = client.incremental(&[(t, 0, next[0]), (t, 1, next[1])], &[], EMPTY_WAIT_MS);
        note(&r, &mut next);
    }
    assert!(
        served.iter().all(|s| s.len() == 1),
        "each response holds one partition's batch: {served:?}"
    );
    assert!(
        served.iter().skip(1).any(|s| s == &vec![1]),
        "partition 1 got no data in 3 incremental fetches while partition 0 had a backlog \
         (partitions served per response: {served:?})"
    );
}
