//! The `ironlog-protocol` crate's `Connection` and `Client` against the real broker:
//! ApiVersions negotiation, Metadata, CreateTopics + Produce + Fetch with batches built by
//! `kafka-protocol`'s `RecordBatchEncoder`, pipelining, a request timeout against a
//! long-polling Fetch, a broker killed mid-request and restarted, and retries that stay
//! within their limits while the broker is gone.
//!
//! Each test runs its own multi-threaded tokio runtime so the test thread can stop, kill and
//! restart the broker (blocking harness calls) while requests are in flight.
mod common;

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use ironlog_protocol::kafka_protocol::error::ResponseError;
use ironlog_protocol::kafka_protocol::messages::create_topics_request::CreatableTopic;
use ironlog_protocol::kafka_protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsTopic,
};
use ironlog_protocol::kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use ironlog_protocol::kafka_protocol::messages::produce_request::{
    PartitionProduceData, TopicProduceData,
};
use ironlog_protocol::kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, BrokerId, CreateTopicsRequest, DescribeClusterRequest,
    DescribeDelegationTokenRequest, FetchRequest, FetchResponse, ListOffsetsRequest,
    MetadataRequest, MetadataResponse, ProduceRequest, TopicName,
};
use ironlog_protocol::kafka_protocol::protocol::StrBytes;
use ironlog_protocol::kafka_protocol::records::{Compression, RecordBatchDecoder};
use ironlog_protocol::{
    Client, ClientConfig, Connection, ConnectionConfig, ConnectionFailure, Error, RetryPolicy,
    SendOptions, Target, VersionChoice,
};
use tokio::runtime::Runtime;
use uuid::Uuid;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build tokio runtime")
}

fn connection_config() -> ConnectionConfig {
    ConnectionConfig {
        client_id: Some("protocol-client-test".into()),
        request_timeout: CLIENT_TIMEOUT,
        ..ConnectionConfig::default()
    }
}

fn new_client(bootstrap: &str, retry: RetryPolicy) -> Client {
    Client::new(ClientConfig {
        connection: connection_config(),
        retry,
        ..ClientConfig::new([bootstrap])
    })
    .expect("client config is valid")
}

/// Retries for the tests that expect success: generous in attempts and time.
fn patient() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 200,
        total_timeout: CLIENT_TIMEOUT,
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
    }
}

async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(CLIENT_TIMEOUT, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {CLIENT_TIMEOUT:?}"))
}

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// One uncompressed v2 batch of `values` (keys `k0, k1, ...`), built by the codec's
/// `RecordBatchEncoder` (through the harness).
fn record_batch(values: &[&str]) -> Bytes {
    let keys: Vec<String> = (0..values.len()).map(|i| format!("k{i}")).collect();
    let records: Vec<(&[u8], &[u8])> = keys
        .iter()
        .zip(values)
        .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
        .collect();
    // now: a fixed old timestamp falls behind retention.ms, and the retention check may
    // then delete what the test is about to fetch
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    encode_batch(&records, 2, Compression::None, now_ms)
}

/// Produce of one partition; v13+ name the topic by id, older versions by name: both are set.
fn produce(topic: &Topic, partition: i32, values: &[&str], acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(&topic.name))
            .with_topic_id(topic.id)
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(record_batch(values)))])])
}

/// Fetch of one partition; v13+ name the topic by id, older versions by name: both are set.
fn fetch(topic: &Topic, partition: i32, offset: i64, max_wait_ms: i32) -> FetchRequest {
    let mut request = fetch_request(&topic.name, partition, offset, max_wait_ms);
    request.topics[0].topic_id = topic.id;
    request
}

/// (offset, value) of every record of partition `partition` in a Fetch response.
fn fetched(response: &FetchResponse, partition: i32) -> Vec<(i64, String)> {
    let p = response
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == partition)
        .unwrap_or_else(|| panic!("Fetch response has no partition {partition}"));
    assert_eq!(p.error_code, 0, "Fetch of partition {partition} failed");
    let mut records = p.records.clone().unwrap_or_default();
    let mut out = Vec::new();
    while !records.is_empty() {
        let set = RecordBatchDecoder::decode(&mut records).expect("decode fetched batch");
        for r in set.records {
            let value = String::from_utf8_lossy(r.value.as_deref().unwrap_or_default());
            out.push((r.offset, value.into_owned()));
        }
    }
    out
}

/// A topic by name and id.
struct Topic {
    name: String,
    id: Uuid,
}

/// Creates a topic named after `prefix` through the controller (any per-topic error fails
/// the test) and waits until every partition has a leader; returns the topic and partition
/// 0's leader. LEADER_NOT_AVAILABLE is retriable, so the client's retries do the waiting.
async fn create_topic(client: &Client, prefix: &str, partitions: i32) -> (Topic, i32) {
    let topic = topic_name(prefix);
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(name(&topic))
            .with_num_partitions(partitions)
            .with_replication_factor(1)]);
    client
        .send_with(Target::Controller, &request, SendOptions::default(), |r| {
            for t in &r.topics {
                Error::check(t.error_code, t.error_message.as_ref())?;
            }
            Ok(())
        })
        .await
        .unwrap_or_else(|e| panic!("CreateTopics {topic}: {e}"));

    let request = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name(&topic)))
        ]))
        .with_allow_auto_topic_creation(false);
    let not_yet = |what: String| Error::Kafka {
        error: ResponseError::LeaderNotAvailable,
        message: Some(what),
    };
    let created = client
        .send_with(Target::AnyBroker, &request, SendOptions::default(), |r| {
            let t = r
                .topics
                .first()
                .ok_or_else(|| not_yet(format!("Metadata names no topic {topic}")))?;
            Error::check(t.error_code, None)?;
            let leaders: Vec<i32> = t.partitions.iter().map(|p| p.leader_id.0).collect();
            if leaders.len() != partitions as usize || leaders.iter().any(|l| *l < 0) {
                return Err(not_yet(format!("leaders of {topic}: {leaders:?}")));
            }
            let leader = t
                .partitions
                .iter()
                .find(|p| p.partition_index == 0)
                .map(|p| p.leader_id.0)
                .ok_or_else(|| not_yet(format!("{topic} has no partition 0")))?;
            let topic = Topic {
                name: topic.clone(),
                id: t.topic_id,
            };
            Ok((topic, leader))
        })
        .await
        .unwrap_or_else(|e| panic!("leaders of {topic}: {e}"));

    // Metadata can name a leader before the leader hosts the partition (as in Kafka, the
    // metadata cache is updated before the replica manager): wait until every partition
    // answers ListOffsets, so the caller's first Fetch or Produce finds it.
    let (found, _) = &created;
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(name(&found.name))
            .with_partitions(
                (0..partitions)
                    .map(|p| {
                        ListOffsetsPartition::default()
                            .with_partition_index(p)
                            .with_current_leader_epoch(-1)
                            .with_timestamp(-1)
                    })
                    .collect(),
            )]);
    client
        .send_with(Target::AnyBroker, &request, SendOptions::default(), |r| {
            for p in r.topics.iter().flat_map(|t| t.partitions.iter()) {
                if p.error_code != 0 {
                    return Err(not_yet(format!(
                        "partition {} of {}: error {}",
                        p.partition_index, found.name, p.error_code
                    )));
                }
            }
            Ok(())
        })
        .await
        .unwrap_or_else(|e| panic!("partitions of {}: {e}", found.name));
    created
}

fn no_topics() -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(Some(Vec::new()))
        .with_allow_auto_topic_creation(false)
}

async fn wait_until_async(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + CLIENT_TIMEOUT;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {CLIENT_TIMEOUT:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn is_connection_failure(result: &Result<FetchResponse, Error>) -> bool {
    matches!(result, Err(Error::Connection { .. }))
}

// ------------------------------------------------------------------------------ tests

#[test]
fn api_versions_are_negotiated_with_the_broker() {
    let broker = TestBroker::start();
    runtime().block_on(async {
        let connection = Connection::connect(broker.bootstrap(), connection_config())
            .await
            .expect("connect to the broker");
        // what the broker advertises, asked again explicitly at v3
        let advertised = connection
            .send_with(
                &ApiVersionsRequest::default(),
                SendOptions::default().version(VersionChoice::Exactly(3)),
            )
            .await
            .expect("ApiVersions v3");
        assert_eq!(advertised.error_code, 0);
        assert!(
            advertised.api_keys.len() > 10,
            "the broker advertises its APIs"
        );
        for entry in &advertised.api_keys {
            let Ok(api) = ApiKey::try_from(entry.api_key) else {
                continue;
            };
            let codec = api.valid_versions();
            let expected = entry.max_version.min(codec.max);
            assert_eq!(
                connection.version_for(api, VersionChoice::Highest).ok(),
                Some(expected),
                "{api:?}: the broker serves {}..={}, the codec knows {codec}",
                entry.min_version,
                entry.max_version
            );
        }

        let unadvertised = ApiKey::DescribeDelegationToken as i16;
        assert!(
            advertised.api_keys.iter().all(|k| k.api_key != unadvertised),
            "this test needs an API the broker does not serve; it serves DescribeDelegationToken now: pick another"
        );
        let refused = connection
            .send(&DescribeDelegationTokenRequest::default())
            .await;
        assert!(
            matches!(refused, Err(Error::UnsupportedApi { .. })),
            "an API the broker does not advertise is refused before sending: {refused:?}"
        );
        // the broker closes a connection that sends an unsupported API: this one is fine
        let capped = connection
            .send_with(
                &no_topics(),
                SendOptions::default().version(VersionChoice::AtMost(4)),
            )
            .await
            .expect("Metadata capped at v4");
        assert_eq!(capped.brokers.len(), 1, "Metadata v4 lists the broker");
        assert!(connection.is_open());
    });
}

#[test]
fn metadata_names_the_broker_and_the_controller_and_connections_are_reused() {
    let broker = TestBroker::start();
    runtime().block_on(async {
        let client = new_client(broker.bootstrap(), patient());
        let view = client.refresh_metadata().await.expect("metadata");
        assert_eq!(view.brokers.len(), 1, "one broker: {view:?}");
        let node = &view.brokers[0];
        assert_eq!(node.node_id, 1);
        assert_eq!(
            node.address(),
            broker.bootstrap(),
            "advertised address = bound"
        );
        assert_eq!(view.controller_id, Some(1));
        let cluster_id = view.cluster_id.clone().expect("a cluster id");

        let described = client
            .send(Target::Controller, &DescribeClusterRequest::default())
            .await
            .expect("DescribeCluster to the controller");
        assert_eq!(described.error_code, 0);
        assert_eq!(described.cluster_id.as_str(), cluster_id);
        assert_eq!(described.controller_id.0, 1);

        let opened = client.stats().connections_opened;
        for _ in 0..3 {
            let _: MetadataResponse = client
                .send(Target::Node(1), &no_topics())
                .await
                .expect("metadata from node 1");
            client
                .send(Target::AnyBroker, &no_topics())
                .await
                .expect("metadata from any broker");
        }
        assert_eq!(
            client.stats().connections_opened,
            opened,
            "requests to the same node reuse its connection"
        );
    });
}

#[test]
fn create_produce_and_fetch_round_trip() {
    let broker = TestBroker::start();
    runtime().block_on(async {
        let client = new_client(broker.bootstrap(), patient());
        let (topic, leader) = create_topic(&client, "protocol-roundtrip", 2).await;

        let mut base_offsets = Vec::new();
        for values in [&["a", "b", "c"][..], &["d"][..]] {
            let response = client
                .send(Target::Node(leader), &produce(&topic, 1, values, -1))
                .await
                .expect("Produce acks=all");
            let p = &response.responses[0].partition_responses[0];
            assert_eq!(p.error_code, 0, "Produce to {}/1 failed", topic.name);
            base_offsets.push(p.base_offset);
        }
        assert_eq!(base_offsets, [0, 3]);

        // acks=0 on the connection the client uses for the leader; the Fetch after it on
        // the same connection is served after it (one request at a time, in order)
        let connection = client
            .connection(Target::Node(leader))
            .await
            .expect("leader connection");
        connection
            .send_without_response(&produce(&topic, 1, &["e"], 0), SendOptions::default())
            .await
            .expect("Produce acks=0 written");
        let response = client
            .send(Target::Node(leader), &fetch(&topic, 1, 0, 1000))
            .await
            .expect("Fetch");
        let records = fetched(&response, 1);
        let expected: Vec<(i64, String)> = ["a", "b", "c", "d", "e"]
            .iter()
            .enumerate()
            .map(|(i, v)| (i as i64, v.to_string()))
            .collect();
        assert_eq!(records, expected, "fetched what was produced, in order");
        let hw = response.responses[0].partitions[0].high_watermark;
        assert_eq!(hw, 5, "high watermark after five records");
        assert!(connection.is_open(), "acks=0 left the connection in step");
    });
}

#[test]
fn pipelined_requests_share_one_connection() {
    let broker = TestBroker::start();
    runtime().block_on(async {
        let client = new_client(broker.bootstrap(), patient());
        let (topic, _) = create_topic(&client, "protocol-pipeline", 8).await;
        let connection = Connection::connect(
            broker.bootstrap(),
            ConnectionConfig {
                max_in_flight: 4,
                ..connection_config()
            },
        )
        .await
        .expect("connect");

        // a long poll and a request behind it, both written before either is answered
        let long_poll = {
            let c = connection.clone();
            let request = fetch(&topic, 0, 0, 20_000);
            tokio::spawn(async move { c.send(&request).await })
        };
        // the long poll goes out first: the request behind it is sent only once it is
        wait_until_async("the long poll in flight", || connection.in_flight() == 1).await;
        let behind = {
            let c = connection.clone();
            tokio::spawn(async move { c.send(&no_topics()).await })
        };
        wait_until_async("two requests in flight", || connection.in_flight() == 2).await;
        let produced = client
            .send(Target::AnyBroker, &produce(&topic, 0, &["wake"], -1))
            .await
            .expect("produce on another connection");
        assert_eq!(
            produced.responses[0].partition_responses[0].error_code, 0,
            "the produce that should wake the long poll failed"
        );
        let woken = within("the long poll", long_poll)
            .await
            .expect("task")
            .expect("long-poll Fetch answered");
        assert_eq!(fetched(&woken, 0), [(0, "wake".to_string())]);
        let metadata = within("the request behind it", behind)
            .await
            .expect("task")
            .expect("Metadata answered after the Fetch");
        assert_eq!(metadata.brokers.len(), 1);

        // many more requests than slots: each answer reaches its own caller
        let calls: Vec<_> = (0..24)
            .map(|i| {
                let c = connection.clone();
                let partition = i % 8;
                let request = ListOffsetsRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_topics(vec![ListOffsetsTopic::default()
                        .with_name(name(&topic.name))
                        .with_partitions(vec![ListOffsetsPartition::default()
                            .with_partition_index(partition)
                            .with_current_leader_epoch(-1)
                            .with_timestamp(-1)])]);
                (
                    partition,
                    tokio::spawn(async move { c.send(&request).await }),
                )
            })
            .collect();
        let mut most_in_flight = 0;
        while calls.iter().any(|(_, h)| !h.is_finished()) {
            most_in_flight = most_in_flight.max(connection.in_flight());
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(
            most_in_flight <= 4,
            "{most_in_flight} requests in flight on a connection limited to 4"
        );
        for (partition, call) in calls {
            let response = call.await.expect("task").expect("ListOffsets");
            let p = &response.topics[0].partitions[0];
            assert_eq!(p.partition_index, partition, "answer for another request");
            assert_eq!(p.error_code, 0);
            let end = if partition == 0 { 1 } else { 0 };
            assert_eq!(p.offset, end, "log end offset of partition {partition}");
        }
    });
}

#[test]
fn a_request_timeout_cuts_a_long_polling_fetch_short() {
    let broker = TestBroker::start();
    runtime().block_on(async {
        let client = new_client(broker.bootstrap(), patient());
        let (topic, _) = create_topic(&client, "protocol-timeout", 1).await;
        let connection = Connection::connect(broker.bootstrap(), connection_config())
            .await
            .expect("connect");
        // the broker would answer this empty fetch after 50 s
        let result = connection
            .send_with(
                &fetch(&topic, 0, 0, 50_000),
                SendOptions::default().timeout(Duration::from_millis(500)),
            )
            .await;
        match &result {
            Err(Error::RequestTimeout {
                api_key,
                timeout_ms,
                ..
            }) => assert_eq!((*api_key, *timeout_ms), (ApiKey::Fetch as i16, 500)),
            other => panic!("expected a request timeout, got {other:?}"),
        }
        assert!(
            matches!(
                connection.failure(),
                Some(ConnectionFailure::RequestTimedOut { .. })
            ),
            "the timed-out connection is closed: {:?}",
            connection.failure()
        );
        let after = connection.send(&no_topics()).await;
        assert!(matches!(after, Err(Error::Connection { .. })), "{after:?}");
        // the broker is fine and serves a new connection
        let fresh = Connection::connect(broker.bootstrap(), connection_config())
            .await
            .expect("reconnect");
        fresh.send(&no_topics()).await.expect("metadata");
    });
}

#[test]
fn a_broker_killed_mid_request_fails_the_waiters_and_a_retry_after_restart_succeeds() {
    let mut broker = TestBroker::start();
    let rt = runtime();
    let client = new_client(broker.bootstrap(), patient());
    let (topic, connection) = rt.block_on(async {
        let (topic, _) = create_topic(&client, "protocol-kill", 1).await;
        let connection = Connection::connect(broker.bootstrap(), connection_config())
            .await
            .expect("connect");
        (topic, connection)
    });
    let topic = std::sync::Arc::new(topic);
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let c = connection.clone();
            let request = fetch(&topic, 0, 0, 30_000);
            rt.spawn(async move { c.send(&request).await })
        })
        .collect();
    rt.block_on(wait_until_async("two long polls in flight", || {
        connection.in_flight() == 2
    }));

    broker.kill9();
    for waiter in waiters {
        let result = rt
            .block_on(within("a waiter on the killed broker", waiter))
            .expect("task");
        assert!(
            is_connection_failure(&result),
            "a request on a killed broker's connection fails with a connection error: {result:?}"
        );
    }
    assert!(!connection.is_open());

    // while the broker is down, a retrying request keeps failing (bounded) ...
    let failed_before = client.stats().failed_attempts;
    let retried = {
        let client = client.clone();
        let topic = topic.clone();
        rt.spawn(async move {
            client
                .send(Target::AnyBroker, &fetch(&topic, 0, 0, 0))
                .await
        })
    };
    rt.block_on(wait_until_async(
        "an attempt to fail while the broker is down",
        || client.stats().failed_attempts > failed_before,
    ));
    // ... and succeeds once it is back on the same address
    broker.restart_on_same_port();
    let response = rt
        .block_on(within("the retried request", retried))
        .expect("task")
        .unwrap_or_else(|e| {
            panic!(
                "the retry after the restart failed: {e}\n{}",
                broker.log_tail()
            )
        });
    assert_eq!(
        fetched(&response, 0),
        Vec::<(i64, String)>::new(),
        "the empty topic survived the restart"
    );
}

#[test]
fn retries_stop_at_their_limits_when_the_broker_is_gone() {
    let mut broker = TestBroker::start();
    let rt = runtime();
    let bootstrap = broker.bootstrap().to_string();
    let three_attempts = RetryPolicy {
        max_attempts: 3,
        total_timeout: CLIENT_TIMEOUT,
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
    };
    let client = new_client(&bootstrap, three_attempts);
    rt.block_on(client.refresh_metadata())
        .expect("metadata while the broker runs");
    broker.stop();

    let result = rt.block_on(within(
        "retries against a stopped broker",
        client.send(Target::AnyBroker, &no_topics()),
    ));
    match &result {
        Err(Error::RetriesExhausted { attempts, last, .. }) => {
            assert_eq!(*attempts, 3, "max_attempts bounds the attempts");
            assert!(
                matches!(
                    **last,
                    Error::Connect { .. } | Error::ConnectTimeout { .. } | Error::Connection { .. }
                ),
                "the last error is about the connection: {last}"
            );
        }
        other => panic!("expected RetriesExhausted, got {other:?}"),
    }
    assert_eq!(client.stats().failed_attempts, 3);

    // many attempts allowed, little time: the total timeout ends it
    let short = RetryPolicy {
        max_attempts: 1_000_000,
        total_timeout: Duration::from_millis(500),
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(20),
    };
    let result = rt.block_on(within(
        "retries with a total timeout",
        new_client(&bootstrap, short).send(Target::Controller, &no_topics()),
    ));
    match &result {
        Err(Error::RetriesExhausted { attempts, .. }) => assert!(
            *attempts < 1_000_000,
            "the total timeout, not the attempt count, ended the retries"
        ),
        other => panic!("expected RetriesExhausted, got {other:?}"),
    }
}

#[test]
fn kafka_errors_are_typed_and_only_retriable_ones_are_retried() {
    let broker = TestBroker::start();
    let rt = runtime();
    let three_attempts = RetryPolicy {
        max_attempts: 3,
        total_timeout: CLIENT_TIMEOUT,
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
    };
    let client = new_client(broker.bootstrap(), three_attempts);
    let missing = topic_name("protocol-missing");

    // UNKNOWN_TOPIC_OR_PARTITION is retriable: tried three times, then given up
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(name(&missing))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_current_leader_epoch(-1)
                .with_timestamp(-1)])]);
    let result =
        rt.block_on(
            client.send_with(Target::AnyBroker, &request, SendOptions::default(), |r| {
                let p = &r.topics[0].partitions[0];
                Error::check(p.error_code, None).map(|()| p.offset)
            }),
        );
    match &result {
        Err(e @ Error::RetriesExhausted { attempts: 3, .. }) => assert_eq!(
            e.kafka_error(),
            Some(ResponseError::UnknownTopicOrPartition),
            "{e}"
        ),
        other => panic!("expected 3 attempts ending in UNKNOWN_TOPIC_OR_PARTITION, got {other:?}"),
    }

    // INVALID_REPLICATION_FACTOR is not: one attempt, the broker's message kept
    let failed_before = client.stats().failed_attempts;
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(name(&missing))
            .with_num_partitions(1)
            .with_replication_factor(3)]);
    let result =
        rt.block_on(
            client.send_with(Target::Controller, &request, SendOptions::default(), |r| {
                let t = &r.topics[0];
                Error::check(t.error_code, t.error_message.as_ref())
            }),
        );
    match &result {
        Err(
            e @ Error::Kafka {
                error: ResponseError::InvalidReplicationFactor,
                message: Some(_),
            },
        ) => assert!(
            e.to_string()
                .starts_with("INVALID_REPLICATION_FACTOR (38): "),
            "errors read with Kafka's names: {e}"
        ),
        other => panic!("expected INVALID_REPLICATION_FACTOR, got {other:?}"),
    }
    assert_eq!(
        client.stats().failed_attempts,
        failed_before,
        "a non-retriable error is not retried"
    );
}
