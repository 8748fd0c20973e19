//! DescribeTopicPartitions (API 75, KIP-966), as newer Java AdminClients and kafka-python's
//! `describe_topic_partitions` page through topics: name order, at most
//! `min(max.request.partition.size.limit, response_partition_limit)` partitions per
//! response, `next_cursor` for the rest; unknown and deleted topics are
//! UNKNOWN_TOPIC_OR_PARTITION, a cursor outside the named topics INVALID_REQUEST.
mod common;

use kafka_protocol::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
use kafka_protocol::messages::describe_topic_partitions_response::DescribeTopicPartitionsResponseTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, BrokerId, DescribeTopicPartitionsRequest,
    DescribeTopicPartitionsResponse, MetadataRequest,
};
use uuid::Uuid;

use common::*;

/// READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS as bits:
/// every topic operation, as Kafka reports without an authorizer.
const TOPIC_OPERATIONS_ALL: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);

fn describe(
    raw: &mut RawClient,
    topics: &[&str],
    limit: i32,
    cursor: Option<(&str, i32)>,
) -> DescribeTopicPartitionsResponse {
    let request = DescribeTopicPartitionsRequest::default()
        .with_topics(
            topics
                .iter()
                .map(|t| TopicRequest::default().with_name(topic_name_of(t)))
                .collect(),
        )
        .with_response_partition_limit(limit)
        .with_cursor(cursor.map(|(topic, partition)| {
            Cursor::default()
                .with_topic_name(topic_name_of(topic))
                .with_partition_index(partition)
        }));
    raw.call(0, &request)
        .unwrap_or_else(|e| panic!("DescribeTopicPartitions {topics:?} cursor {cursor:?}: {e:#}"))
}

fn name_of(topic: &DescribeTopicPartitionsResponseTopic) -> String {
    topic
        .name
        .as_ref()
        .map(|n| n.0.to_string())
        .unwrap_or_default()
}

/// (topic, partition) of every partition in the response, in response order.
fn partitions_of(response: &DescribeTopicPartitionsResponse) -> Vec<(String, i32)> {
    response
        .topics
        .iter()
        .flat_map(|t| {
            let name = name_of(t);
            t.partitions
                .iter()
                .map(move |p| (name.clone(), p.partition_index))
        })
        .collect()
}

fn cursor_of(response: &DescribeTopicPartitionsResponse) -> Option<(String, i32)> {
    response
        .next_cursor
        .as_ref()
        .map(|c| (c.topic_name.0.to_string(), c.partition_index))
}

/// Every topic the broker has (internal ones included) with its partition count, in name
/// order, from Metadata.
fn all_topics_by_metadata(raw: &mut RawClient) -> Vec<(String, i32)> {
    let metadata = raw
        .call(
            versions::METADATA,
            &MetadataRequest::default().with_topics(None),
        )
        .expect("Metadata of all topics");
    let mut topics: Vec<(String, i32)> = metadata
        .topics
        .iter()
        .map(|t| {
            (
                t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default(),
                t.partitions.len() as i32,
            )
        })
        .collect();
    topics.sort();
    topics
}

/// Three topics, created out of name order: `<prefix>-b` (5 partitions), `<prefix>-a` (3),
/// `<prefix>-c` (2).
fn three_topics(broker: &TestBroker, prefix: &str) -> [String; 3] {
    let [a, b, c] = ["a", "b", "c"].map(|s| format!("{prefix}-{s}"));
    broker.create_topic(&b, 5, &[]);
    broker.create_topic(&a, 3, &[]);
    broker.create_topic(&c, 2, &[]);
    [a, b, c]
}

fn expected_partitions(topics: &[(&str, i32)]) -> Vec<(String, i32)> {
    topics
        .iter()
        .flat_map(|(t, n)| (0..*n).map(move |p| (t.to_string(), p)))
        .collect()
}

#[test]
fn broker_advertises_describe_topic_partitions_v0() {
    let broker = TestBroker::start();
    let response = broker
        .raw()
        .call(versions::API_VERSIONS, &ApiVersionsRequest::default())
        .expect("ApiVersions");
    let entry = response
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::DescribeTopicPartitions as i16)
        .expect("ApiVersions must list DescribeTopicPartitions (75)");
    assert_eq!(
        (entry.min_version, entry.max_version),
        (0, 0),
        "Kafka 4.1's range"
    );
}

/// Every topic, paged 4 partitions at a time: each partition exactly once, in Kafka's order
/// (topic name, then partition), with the cursor Kafka sets at each page's end.
#[test]
fn paging_over_all_topics_returns_every_partition_once_in_name_order() {
    let broker = TestBroker::start();
    // Upper case sorts before the internal topics' "__" (the broker may hold
    // __consumer_offsets already).
    let [a, b, c] = three_topics(&broker, &topic_name("Dtp-all"));
    let mut raw = broker.raw();

    let page1 = describe(&mut raw, &[], 4, None);
    assert_eq!(
        partitions_of(&page1),
        expected_partitions(&[(&a, 3), (&b, 1)]),
        "page 1: the limit stops inside the second topic"
    );
    assert_eq!(cursor_of(&page1), Some((b.clone(), 1)));
    let (topic, partition) = cursor_of(&page1).expect("cursor");
    let page2 = describe(&mut raw, &[], 4, Some((&topic, partition)));
    assert_eq!(
        partitions_of(&page2),
        expected_partitions(&[(&b, 5)])[1..].to_vec()
    );
    assert_eq!(
        cursor_of(&page2),
        Some((c.clone(), 0)),
        "page 2 ends exactly with its topic: the cursor names the next topic"
    );
    let page3 = describe(&mut raw, &[], 4, Some((&c, 0)));
    assert_eq!(
        partitions_of(&page3)[..2],
        expected_partitions(&[(&c, 2)])[..],
        "page 3 starts at the cursor's topic"
    );

    // Following the cursors with any limit visits every partition of every topic exactly
    // once, in order.
    let topics = all_topics_by_metadata(&mut raw);
    let topic_refs: Vec<(&str, i32)> = topics.iter().map(|(t, n)| (t.as_str(), *n)).collect();
    let all = expected_partitions(&topic_refs);
    assert!(all.len() >= 10, "at least our 10 partitions: {topics:?}");
    for limit in [1, 2, 3, 7, 10, 2000] {
        let mut seen = Vec::new();
        let mut cursor: Option<(String, i32)> = None;
        for _ in 0..=all.len() {
            // Bounded: each page holds at least one partition.
            let page = describe(
                &mut raw,
                &[],
                limit,
                cursor.as_ref().map(|(t, p)| (t.as_str(), *p)),
            );
            let got = partitions_of(&page);
            assert!(
                got.len() <= limit as usize,
                "limit {limit}: a page of {} partitions",
                got.len()
            );
            seen.extend(got);
            cursor = cursor_of(&page);
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(seen, all, "limit {limit}: every partition once, in order");
    }
}

/// The broker's `max.request.partition.size.limit` caps the client's limit; a limit below
/// 1 is taken as 1.
#[test]
fn the_broker_limit_caps_the_request_limit() {
    let broker = TestBroker::start_with(&[("max.request.partition.size.limit", "3")]);
    let [a, b, _] = three_topics(&broker, &topic_name("Dtp-cap"));
    let mut raw = broker.raw();
    let page = describe(&mut raw, &[], 2000, None);
    assert_eq!(partitions_of(&page), expected_partitions(&[(&a, 3)]));
    assert_eq!(cursor_of(&page), Some((b.clone(), 0)));
    let page = describe(&mut raw, &[], 0, None);
    assert_eq!(
        partitions_of(&page),
        vec![(a.clone(), 0)],
        "limit 0 counts as 1"
    );
    assert_eq!(cursor_of(&page), Some((a.clone(), 1)));
}

#[test]
fn a_cursor_into_the_middle_of_a_named_topic() {
    let broker = TestBroker::start();
    let [a, b, c] = three_topics(&broker, &topic_name("dtp-mid"));
    let mut raw = broker.raw();
    // Named topics before the cursor's topic are skipped; the cursor's topic starts at its
    // partition, the following ones at 0.
    let page = describe(&mut raw, &[&c, &a, &b], 100, Some((&b, 2)));
    assert_eq!(
        partitions_of(&page),
        vec![
            (b.clone(), 2),
            (b.clone(), 3),
            (b.clone(), 4),
            (c.clone(), 0),
            (c.clone(), 1)
        ]
    );
    assert_eq!(cursor_of(&page), None);
    // A cursor past the topic's last partition describes none of it.
    let page = describe(&mut raw, &[&b, &c], 100, Some((&b, 9)));
    assert_eq!(partitions_of(&page), expected_partitions(&[(&c, 2)]));
    assert_eq!(page.topics.len(), 2, "the cursor's topic is still listed");
}

#[test]
fn partitions_carry_leader_replicas_isr_topic_id_and_empty_elr() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("dtp-fields", 2);
    let mut raw = broker.raw();
    let metadata = raw
        .call(
            versions::METADATA,
            &MetadataRequest::default().with_topics(Some(vec![
                kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                    .with_name(Some(topic_name_of(&topic))),
            ])),
        )
        .expect("Metadata");
    let topic_id = metadata.topics[0].topic_id;
    assert_ne!(topic_id, Uuid::nil());

    let response = describe(&mut raw, &[&topic], 2000, None);
    assert_eq!(response.topics.len(), 1);
    let t = &response.topics[0];
    assert_eq!(t.error_code, 0);
    assert_eq!(t.topic_id, topic_id, "the same topic id as Metadata");
    assert!(!t.is_internal);
    assert_eq!(t.topic_authorized_operations, TOPIC_OPERATIONS_ALL);
    assert_eq!(t.partitions.len(), 2);
    for (i, p) in t.partitions.iter().enumerate() {
        let md = &metadata.topics[0].partitions[i];
        assert_eq!(p.error_code, 0);
        assert_eq!(p.partition_index, i as i32);
        assert_eq!(p.leader_id, BrokerId(1), "partition {i}: leader");
        assert_eq!(
            p.leader_epoch, md.leader_epoch,
            "partition {i}: leader epoch as Metadata"
        );
        assert_eq!(p.replica_nodes, vec![BrokerId(1)]);
        assert_eq!(p.isr_nodes, vec![BrokerId(1)]);
        assert!(p.offline_replicas.is_empty());
        assert_eq!(
            p.eligible_leader_replicas,
            Some(Vec::new()),
            "no eligible leader replicas (empty, not null, as Kafka without ELR)"
        );
        assert_eq!(p.last_known_elr, Some(Vec::new()));
    }
}

#[test]
fn unknown_deleted_and_invalid_topics_get_their_errors() {
    let broker = TestBroker::start();
    let prefix = topic_name("dtp-unknown");
    let live = format!("{prefix}-live");
    let deleted = format!("{prefix}-deleted");
    broker.create_topic(&live, 1, &[]);
    broker.create_topic(&deleted, 2, &[]);
    let admin = broker.admin();
    for result in
        block_on(admin.delete_topics(&[&deleted], &admin_options())).expect("DeleteTopics")
    {
        result.unwrap_or_else(|(t, e)| panic!("delete {t}: {e:?}"));
    }
    let mut raw = broker.raw();
    let ghost = format!("{prefix}-ghost");
    let invalid = "not a valid name!";
    let deadline = std::time::Instant::now() + CLIENT_TIMEOUT;
    let response = loop {
        let response = describe(
            &mut raw,
            &[
                &live,
                &ghost,
                &deleted,
                invalid,
                "__consumer_offsets",
                &live,
            ],
            2000,
            None,
        );
        let deleted_gone = response
            .topics
            .iter()
            .any(|t| name_of(t) == deleted && t.error_code != 0);
        if deleted_gone || std::time::Instant::now() > deadline {
            break response;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let by_name = |name: &str| {
        response
            .topics
            .iter()
            .find(|t| name_of(t) == name)
            .unwrap_or_else(|| panic!("no entry for {name:?} in {response:?}"))
    };
    assert_eq!(
        response.topics.len(),
        5,
        "one entry per distinct named topic"
    );
    assert_eq!(by_name(&live).error_code, 0);
    assert_eq!(by_name(&live).partitions.len(), 1);
    for name in [ghost.as_str(), deleted.as_str()] {
        let t = by_name(name);
        assert_eq!(t.error_code, codes::UNKNOWN_TOPIC_OR_PARTITION, "{name}");
        assert_eq!(t.topic_id, Uuid::nil(), "{name}: no topic id");
        assert!(t.partitions.is_empty(), "{name}: no partitions");
        assert!(!t.is_internal, "{name}");
    }
    assert!(
        by_name("__consumer_offsets").is_internal,
        "__consumer_offsets is internal (whether it exists yet or not, as in Kafka)"
    );
    assert_eq!(by_name(invalid).error_code, codes::INVALID_TOPIC_EXCEPTION);
    // Name order, as Kafka sorts the named topics.
    let names: Vec<String> = response.topics.iter().map(name_of).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "topics in name order");
    // Listing every topic lists only existing ones.
    let all = describe(&mut raw, &[], 2000, None);
    assert_eq!(
        all.topics
            .iter()
            .filter(|t| !t.is_internal)
            .map(name_of)
            .collect::<Vec<_>>(),
        vec![live.clone()],
        "all topics: only the live one besides internal topics"
    );
    assert!(all.topics.iter().all(|t| t.error_code == 0));
}

#[test]
fn a_cursor_outside_the_named_topics_is_an_invalid_request() {
    let broker = TestBroker::start();
    let [a, b, c] = three_topics(&broker, &topic_name("dtp-bad-cursor"));
    let mut raw = broker.raw();
    let response = describe(&mut raw, &[&a, &b], 100, Some((&c, 0)));
    assert_eq!(response.topics.len(), 2);
    for t in &response.topics {
        assert_eq!(
            t.error_code,
            codes::INVALID_REQUEST,
            "{}: cursor topic not named",
            name_of(t)
        );
        assert!(t.partitions.is_empty());
    }
    assert!(response.next_cursor.is_none());
    let response = describe(&mut raw, &[&a], 100, Some((&a, -1)));
    assert_eq!(
        response
            .topics
            .iter()
            .map(|t| t.error_code)
            .collect::<Vec<_>>(),
        vec![codes::INVALID_REQUEST],
        "a negative cursor partition"
    );
    // The connection keeps serving.
    let response = describe(&mut raw, &[&a], 100, None);
    assert_eq!(response.topics[0].error_code, 0);
}
