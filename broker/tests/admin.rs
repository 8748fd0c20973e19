//! A user's session with the admin APIs: create/delete topics and partitions, read and
//! change configs (legacy and incremental), describe the cluster and log dirs, delete
//! records, and topic auto-creation through metadata.
mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeLogDirsRequest, MetadataRequest,
};
use rdkafka::admin::{
    AlterConfig, ConfigSource, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};

/// IncrementalAlterConfigs of one config of `topic`; returns the error code.
fn alter_topic(broker: &TestBroker, topic: &str, op: (&str, i8, Option<&str>)) -> i16 {
    broker
        .raw()
        .incremental_alter_configs(resource::TOPIC, topic, &[op], false)
        .0
}

const SOURCE_DYNAMIC_DEFAULT_BROKER: i8 = 3;
const SOURCE_STATIC_BROKER: i8 = 4;
const TYPE_STRING: i8 = 2;

/// (value, source, is_default) of every config of a resource, via librdkafka.
fn describe(
    broker: &TestBroker,
    resource: ResourceSpecifier<'_>,
) -> HashMap<String, (Option<String>, ConfigSource, bool)> {
    let admin = broker.admin();
    let mut results = block_on(admin.describe_configs([&resource], &admin_options()))
        .unwrap_or_else(|e| panic!("DescribeConfigs {resource:?} failed as a request: {e}"));
    let resource_result = results
        .pop()
        .unwrap_or_else(|| panic!("DescribeConfigs {resource:?}: no result"))
        .unwrap_or_else(|code| panic!("DescribeConfigs {resource:?}: {code:?}"));
    resource_result
        .entries
        .into_iter()
        .map(|e| (e.name, (e.value, e.source, e.is_default)))
        .collect()
}

fn config_value(broker: &TestBroker, topic: &str, name: &str) -> Option<String> {
    describe(broker, ResourceSpecifier::Topic(topic))
        .remove(name)
        .unwrap_or_else(|| panic!("topic {topic} has no config {name}"))
        .0
}

fn topic_names(broker: &TestBroker) -> Vec<String> {
    let md = broker
        .consumer()
        .fetch_metadata(None, CLIENT_TIMEOUT)
        .expect("fetch metadata");
    md.topics().iter().map(|t| t.name().to_string()).collect()
}

#[test]
fn create_topics_validate_only_creates_nothing() {
    let broker = TestBroker::start();
    let topic = topic_name("validate");
    let admin = broker.admin();
    let results = block_on(admin.create_topics(
        [&NewTopic::new(&topic, 3, TopicReplication::Fixed(1))],
        &admin_options().validate_only(true),
    ))
    .expect("CreateTopics validate_only request");
    assert!(
        results.iter().all(|r| r.is_ok()),
        "validate_only of a valid topic should succeed: {results:?}"
    );
    assert!(
        !topic_names(&broker).contains(&topic),
        "validate_only must not create the topic"
    );
    // and invalid requests are still reported as invalid
    let (code, _) = broker.raw().create_topic(&topic, 0, 1, &[], &[], true);
    assert_eq!(
        code,
        codes::INVALID_PARTITIONS,
        "validate_only with 0 partitions"
    );
}

#[test]
fn create_topic_with_configs_then_describe_every_config() {
    let broker = TestBroker::start_with(&[("log.retention.ms", "86400000")]);
    let topic = topic_name("cfg");
    broker.create_topic(
        &topic,
        2,
        &[
            ("cleanup.policy", "compact"),
            ("max.message.bytes", "200000"),
        ],
    );
    let configs = describe(&broker, ResourceSpecifier::Topic(&topic));
    for name in [
        "cleanup.policy",
        "compression.type",
        "delete.retention.ms",
        "file.delete.delay.ms",
        "flush.messages",
        "flush.ms",
        "index.interval.bytes",
        "max.compaction.lag.ms",
        "max.message.bytes",
        "message.timestamp.after.max.ms",
        "message.timestamp.before.max.ms",
        "message.timestamp.type",
        "min.cleanable.dirty.ratio",
        "min.compaction.lag.ms",
        "min.insync.replicas",
        "retention.bytes",
        "retention.ms",
        "segment.bytes",
        "segment.index.bytes",
        "segment.jitter.ms",
        "segment.ms",
        "unclean.leader.election.enable",
    ] {
        assert!(
            configs.contains_key(name),
            "DescribeConfigs of a topic must list {name}"
        );
    }
    let get = |name: &str| {
        configs
            .get(name)
            .unwrap_or_else(|| panic!("missing topic config {name}"))
    };
    // set on the topic
    let (value, source, is_default) = get("cleanup.policy");
    assert_eq!(value.as_deref(), Some("compact"));
    assert_eq!(*source, ConfigSource::DynamicTopic, "cleanup.policy source");
    assert!(!is_default, "a topic override is not a default");
    assert_eq!(get("max.message.bytes").0.as_deref(), Some("200000"));
    // inherited from the broker's static log.retention.ms
    let (value, source, is_default) = get("retention.ms");
    assert_eq!(
        value.as_deref(),
        Some("86400000"),
        "retention.ms from the broker"
    );
    assert_eq!(*source, ConfigSource::StaticBroker, "retention.ms source");
    assert!(!is_default, "a static broker setting is not a default");
    // Kafka's defaults
    for (name, want) in [
        ("segment.bytes", "1073741824"),
        ("message.timestamp.type", "CreateTime"),
        ("compression.type", "producer"),
        ("retention.bytes", "-1"),
    ] {
        let (value, source, is_default) = get(name);
        assert_eq!(value.as_deref(), Some(want), "default of {name}");
        assert_eq!(*source, ConfigSource::Default, "source of default {name}");
        assert!(is_default, "{name} should report is_default");
    }
    // The controller writes the cluster-level min.insync.replicas eligible leader
    // replicas need (KIP-966), so Kafka 4.1 reports it as a dynamic default.
    let (value, source, is_default) = get("min.insync.replicas");
    assert_eq!(value.as_deref(), Some("1"), "min.insync.replicas value");
    assert_eq!(
        *source,
        ConfigSource::DynamicDefaultBroker,
        "min.insync.replicas comes from the cluster-level config record"
    );
    assert!(!is_default, "a cluster-level config is not a default");

    let broker_configs = describe(&broker, ResourceSpecifier::Broker(1));
    let (value, source, _) = broker_configs
        .get("log.retention.ms")
        .expect("broker config log.retention.ms listed");
    assert_eq!(value.as_deref(), Some("86400000"));
    assert_eq!(
        *source,
        ConfigSource::StaticBroker,
        "an --override is static"
    );
    assert!(
        broker_configs.contains_key("message.max.bytes") && broker_configs.contains_key("log.dirs"),
        "broker configs include message.max.bytes and log.dirs"
    );
}

#[test]
fn create_topics_reports_kafka_errors() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("dup", 1);
    // (what, name, partitions, replication factor, configs, expected error code)
    type Case<'a> = (&'a str, String, i32, i16, Vec<(&'a str, &'a str)>, i16);
    let cases: Vec<Case> = vec![
        (
            "existing name",
            topic.clone(),
            1,
            1,
            vec![],
            codes::TOPIC_ALREADY_EXISTS,
        ),
        ("slash in name", "bad/name".into(), 1, 1, vec![], 17),
        ("name '..'", "..".into(), 1, 1, vec![], 17),
        ("name of 250 chars", "x".repeat(250), 1, 1, vec![], 17),
        (
            "0 partitions",
            topic_name("zero"),
            0,
            1,
            vec![],
            codes::INVALID_PARTITIONS,
        ),
        (
            "replication factor 3 on 1 broker",
            topic_name("rf"),
            1,
            3,
            vec![],
            codes::INVALID_REPLICATION_FACTOR,
        ),
        (
            "non-numeric retention.ms",
            topic_name("badcfg"),
            1,
            1,
            vec![("retention.ms", "soon")],
            codes::INVALID_CONFIG,
        ),
        (
            "unknown config",
            topic_name("unknowncfg"),
            1,
            1,
            vec![("no.such.config", "1")],
            codes::INVALID_CONFIG,
        ),
        (
            "bad cleanup.policy",
            topic_name("badpolicy"),
            1,
            1,
            vec![("cleanup.policy", "shred")],
            codes::INVALID_CONFIG,
        ),
    ];
    for (what, name, partitions, rf, configs, want) in cases {
        let (code, message) =
            broker
                .raw()
                .create_topic(&name, partitions, rf, &[], &configs, false);
        assert_eq!(
            code, want,
            "CreateTopics with {what}: error code (message {message:?})"
        );
    }
    let names = topic_names(&broker);
    assert!(
        !names
            .iter()
            .any(|n| n.contains("zero") || n.contains("badcfg")),
        "failed creations must not leave topics behind: {names:?}"
    );
}

/// A manual replica assignment decides the partitions: here 3 partitions where the broker
/// would create `num.partitions=1`, as metadata then describes them. (One broker allows no
/// other replica list than [1]; the controller's unit tests check that an assignment the
/// round-robin placement would never choose is kept across three brokers.)
#[test]
fn create_topic_with_replica_assignment() {
    let broker = TestBroker::start_with(&[("num.partitions", "1")]);
    let topic = topic_name("assigned");
    let admin = broker.admin();
    let assignment: &[&[i32]] = &[&[1], &[1], &[1]];
    let results = block_on(admin.create_topics(
        [&NewTopic::new(
            &topic,
            3, // librdkafka sends -1 partitions / -1 replication factor with an assignment
            TopicReplication::Variable(assignment),
        )],
        &admin_options(),
    ))
    .expect("CreateTopics request");
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    broker.wait_for_topic(&topic, 3);
    let md = broker
        .consumer()
        .fetch_metadata(Some(&topic), CLIENT_TIMEOUT)
        .expect("Metadata");
    let described: Vec<(i32, Vec<i32>, Vec<i32>, i32)> = md.topics()[0]
        .partitions()
        .iter()
        .map(|p| (p.id(), p.replicas().to_vec(), p.isr().to_vec(), p.leader()))
        .collect();
    assert_eq!(
        described,
        vec![
            (0, vec![1], vec![1], 1),
            (1, vec![1], vec![1], 1),
            (2, vec![1], vec![1], 1),
        ],
        "the partitions as assigned: (partition, replicas, isr, leader)"
    );

    let refused = topic_name("nobroker");
    let (code, _) = broker
        .raw()
        .create_topic(&refused, -1, -1, &[(0, &[7])], &[], false);
    assert_eq!(
        code, 39,
        "assignment to unknown broker 7: INVALID_REPLICA_ASSIGNMENT"
    );
    assert!(
        !topic_names(&broker).contains(&refused),
        "a refused assignment must not create the topic"
    );
}

#[test]
fn delete_topics_then_recreate_starts_empty() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("del", 2);
    let producer = broker.producer();
    broker.produce_one(&producer, &topic, 0, b"k", b"old");
    // A producer refreshes the metadata of the topics it knows, which auto-creates a
    // deleted one (auto.create.topics.enable): it goes before the topic does.
    drop(producer);
    let admin = broker.admin();
    let results = block_on(admin.delete_topics(&[&topic], &admin_options())).expect("DeleteTopics");
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    wait_until(CLIENT_TIMEOUT, "deleted topic to leave metadata", || {
        !topic_names(&broker).contains(&topic)
    });

    let missing = topic_name("never");
    let results =
        block_on(admin.delete_topics(&[&missing], &admin_options())).expect("DeleteTopics");
    assert_eq!(
        results,
        vec![Err((
            missing.clone(),
            RDKafkaErrorCode::UnknownTopicOrPartition
        ))],
        "deleting an unknown topic"
    );

    broker.create_topic(&topic, 1, &[]);
    assert!(
        broker.consume_all(&topic, 0, 0).is_empty(),
        "a recreated topic must not show the old topic's records"
    );
    let (_, offset) = broker.produce_one(&broker.producer(), &topic, 0, b"k", b"new");
    assert_eq!(offset, 0, "a recreated topic starts at offset 0");
}

#[test]
fn create_partitions_grows_a_topic_and_refuses_to_shrink_it() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("grow", 1);
    let admin = broker.admin();
    let results =
        block_on(admin.create_partitions([&NewPartitions::new(&topic, 4)], &admin_options()))
            .expect("CreatePartitions request");
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    broker.wait_for_topic(&topic, 4);
    let producer = broker.producer();
    let (partition, offset) = broker.produce_one(&producer, &topic, 3, b"k", b"in new partition");
    assert_eq!((partition, offset), (3, 0), "produce to a new partition");

    let results =
        block_on(admin.create_partitions([&NewPartitions::new(&topic, 2)], &admin_options()))
            .expect("CreatePartitions request");
    assert_eq!(
        results,
        vec![Err((topic.clone(), RDKafkaErrorCode::InvalidPartitions))],
        "shrinking a topic"
    );
}

#[test]
fn legacy_alter_configs_replaces_the_whole_set() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("alter", 1);
    let admin = broker.admin();
    let alter = |pairs: &[(&str, &str)]| {
        let mut change = AlterConfig::new(ResourceSpecifier::Topic(&topic));
        for (k, v) in pairs {
            change = change.set(k, v);
        }
        let results =
            block_on(admin.alter_configs([&change], &admin_options())).expect("AlterConfigs");
        assert!(
            results.iter().all(|r| r.is_ok()),
            "AlterConfigs {pairs:?}: {results:?}"
        );
    };
    alter(&[("retention.ms", "3600000")]);
    assert_eq!(
        config_value(&broker, &topic, "retention.ms").as_deref(),
        Some("3600000")
    );
    // AlterConfigs (not incremental) replaces all dynamic topic configs
    alter(&[("segment.ms", "7200000")]);
    let configs = describe(&broker, ResourceSpecifier::Topic(&topic));
    assert_eq!(configs["segment.ms"].0.as_deref(), Some("7200000"));
    assert_eq!(
        configs["retention.ms"].0.as_deref(),
        Some("604800000"),
        "retention.ms must fall back to its default when left out of AlterConfigs"
    );
    assert!(configs["retention.ms"].2, "retention.ms is default again");
}

#[test]
fn incremental_alter_configs_set_delete_append_subtract_and_validate_only() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("incr", 1);
    let producer = broker.producer();
    let big = vec![b'x'; 5000];

    // SET max.message.bytes low: takes effect for the next produce
    assert_eq!(
        alter_topic(
            &broker,
            &topic,
            ("max.message.bytes", config_op::SET, Some("2000"))
        ),
        codes::NONE
    );
    assert_eq!(
        config_value(&broker, &topic, "max.message.bytes").as_deref(),
        Some("2000")
    );
    let result = block_on(producer.send(
        FutureRecord::to(&topic).partition(0).key("k").payload(&big),
        CLIENT_TIMEOUT,
    ));
    match result {
        Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge), _)) => {}
        other => panic!("a 5000-byte record over max.message.bytes=2000 must fail with MESSAGE_TOO_LARGE, got {other:?}"),
    }

    // DELETE restores the default, and the large record is accepted again
    assert_eq!(
        alter_topic(
            &broker,
            &topic,
            ("max.message.bytes", config_op::DELETE, None)
        ),
        codes::NONE
    );
    let configs = describe(&broker, ResourceSpecifier::Topic(&topic));
    assert_eq!(
        configs["max.message.bytes"].0.as_deref(),
        Some("1048588"),
        "default restored"
    );
    assert!(
        configs["max.message.bytes"].2,
        "max.message.bytes is default again"
    );
    broker.produce_one(&producer, &topic, 0, b"k", &big);

    // APPEND / SUBTRACT on a list config
    assert_eq!(
        alter_topic(
            &broker,
            &topic,
            ("cleanup.policy", config_op::APPEND, Some("compact"))
        ),
        codes::NONE
    );
    assert_eq!(
        config_value(&broker, &topic, "cleanup.policy").as_deref(),
        Some("delete,compact"),
        "APPEND compact to [delete]"
    );
    assert_eq!(
        alter_topic(
            &broker,
            &topic,
            ("cleanup.policy", config_op::SUBTRACT, Some("delete"))
        ),
        codes::NONE
    );
    assert_eq!(
        config_value(&broker, &topic, "cleanup.policy").as_deref(),
        Some("compact"),
        "SUBTRACT delete from [delete, compact]"
    );

    // validate_only changes nothing; invalid values are refused
    assert_eq!(
        broker
            .raw()
            .incremental_alter_configs(
                resource::TOPIC,
                &topic,
                &[("retention.ms", config_op::SET, Some("1234"))],
                true
            )
            .0,
        codes::NONE
    );
    assert_eq!(
        config_value(&broker, &topic, "retention.ms").as_deref(),
        Some("604800000"),
        "validate_only must not change retention.ms"
    );
    assert_eq!(
        alter_topic(
            &broker,
            &topic,
            ("retention.ms", config_op::SET, Some("soon"))
        ),
        codes::INVALID_CONFIG,
        "a non-numeric retention.ms"
    );
    assert_eq!(
        alter_topic(
            &broker,
            &topic,
            ("no.such.config", config_op::SET, Some("1"))
        ),
        codes::INVALID_CONFIG,
        "an unknown config name"
    );
    assert_eq!(
        alter_topic(
            &broker,
            &topic_name("missing"),
            ("retention.ms", config_op::SET, Some("1"))
        ),
        codes::UNKNOWN_TOPIC_OR_PARTITION,
        "altering a topic that does not exist"
    );
    // a dynamic broker-level change is accepted too
    assert_eq!(
        broker
            .raw()
            .incremental_alter_configs(
                resource::BROKER,
                "1",
                &[("log.retention.ms", config_op::SET, Some("7200000"))],
                false
            )
            .0,
        codes::NONE,
        "dynamic broker config log.retention.ms"
    );
}

#[test]
fn describe_cluster_names_this_broker_as_controller() {
    let broker = TestBroker::start();
    let response = broker
        .raw()
        .call(
            versions::DESCRIBE_CLUSTER,
            &DescribeClusterRequest::default().with_endpoint_type(1),
        )
        .expect("DescribeCluster");
    assert_eq!(response.error_code, codes::NONE);
    assert!(!response.cluster_id.is_empty(), "cluster id must be set");
    assert_eq!(
        response.controller_id,
        BrokerId(1),
        "the single node is the controller"
    );
    assert_eq!(response.brokers.len(), 1, "one broker");
    let b = &response.brokers[0];
    assert_eq!(b.broker_id, BrokerId(1));
    assert_eq!(
        format!("{}:{}", b.host.as_str(), b.port),
        broker.bootstrap(),
        "the advertised endpoint is the bound listener"
    );
    // the same cluster id appears in metadata
    let metadata = broker
        .raw()
        .call(
            versions::METADATA,
            &MetadataRequest::default().with_topics(Some(vec![])),
        )
        .expect("Metadata");
    assert_eq!(
        metadata.cluster_id.as_deref(),
        Some(response.cluster_id.as_str()),
        "cluster id in Metadata and DescribeCluster"
    );
}

#[test]
fn delete_records_moves_the_low_watermark() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("delrec", 1);
    let producer = broker.producer();
    for i in 0..100 {
        broker.produce_one(&producer, &topic, 0, b"k", format!("v{i}").as_bytes());
    }
    let admin = broker.admin();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(40))
        .expect("tpl");
    let result = block_on(admin.delete_records(&tpl, &admin_options())).expect("DeleteRecords");
    let p = result
        .find_partition(&topic, 0)
        .expect("partition in result");
    assert!(p.error().is_ok(), "DeleteRecords error: {:?}", p.error());
    assert_eq!(p.offset(), Offset::Offset(40), "new low watermark");
    assert_eq!(
        broker.watermarks(&topic, 0),
        (40, 100),
        "watermarks after DeleteRecords"
    );
    assert_eq!(
        broker.raw().list_offset(&topic, 0, -2).1,
        40,
        "earliest offset"
    );

    // fetching below the log start offset is out of range ...
    let response = broker.raw().fetch(&topic, 0, 10, 0, -1, 100);
    assert_eq!(
        response.responses[0].partitions[0].error_code,
        codes::OFFSET_OUT_OF_RANGE,
        "fetch at offset 10 after deleting records before 40"
    );
    // ... and a consumer with auto.offset.reset=earliest resets to the new start
    let got = broker.consume_all(&topic, 0, 10);
    assert_eq!(
        got.first().map(|r| r.offset),
        Some(40),
        "consumer resets to offset 40"
    );
    assert_eq!(got.len(), 60, "records 40..99 remain");
    assert_eq!(got[0].value_str(), "v40");
}

#[test]
fn describe_log_dirs_reports_the_data_dir_and_partition_sizes() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("logdirs", 2);
    let producer = broker.producer();
    for i in 0..20 {
        broker.produce_one(&producer, &topic, 0, b"k", format!("value {i}").as_bytes());
    }
    let response = broker
        .raw()
        .call(
            versions::DESCRIBE_LOG_DIRS,
            &DescribeLogDirsRequest::default().with_topics(None),
        )
        .expect("DescribeLogDirs");
    assert_eq!(response.error_code, codes::NONE);
    assert_eq!(response.results.len(), 1, "one log dir");
    let dir = &response.results[0];
    assert_eq!(dir.error_code, codes::NONE);
    let reported = std::path::PathBuf::from(dir.log_dir.as_str());
    assert_eq!(
        reported.canonicalize().ok(),
        broker.data_dir().canonicalize().ok(),
        "log dir path {reported:?}"
    );
    assert!(
        dir.total_bytes > 0 && dir.usable_bytes > 0,
        "disk space is reported"
    );
    let t = dir
        .topics
        .iter()
        .find(|t| t.name.0.as_str() == topic)
        .unwrap_or_else(|| panic!("topic {topic} missing from DescribeLogDirs"));
    let sizes: HashMap<i32, i64> = t
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.partition_size))
        .collect();
    assert!(
        sizes.get(&0).copied().unwrap_or(0) > 200,
        "partition 0 holds 20 records: {sizes:?}"
    );
    assert_eq!(
        sizes.get(&1).copied(),
        Some(0),
        "partition 1 is empty: {sizes:?}"
    );
}

fn metadata_for(broker: &TestBroker, topic: &str, allow_auto_create: bool) -> i16 {
    let request = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic_name_of(topic)))
        ]))
        .with_allow_auto_topic_creation(allow_auto_create);
    let response = broker
        .raw()
        .call(versions::METADATA, &request)
        .expect("Metadata");
    response
        .topics
        .first()
        .map(|t| t.error_code)
        .unwrap_or_else(|| panic!("Metadata response without topic {topic}"))
}

#[test]
fn metadata_auto_creates_topics_when_enabled() {
    let broker = TestBroker::start_with(&[("num.partitions", "3")]);
    let topic = topic_name("auto");
    let first = metadata_for(&broker, &topic, true);
    assert!(
        first == codes::NONE || first == 5, // LEADER_NOT_AVAILABLE while being created
        "Metadata with auto-create: error code {first}"
    );
    broker.wait_for_topic(&topic, 3);

    let not_allowed = topic_name("noauto");
    assert_eq!(
        metadata_for(&broker, &not_allowed, false),
        codes::UNKNOWN_TOPIC_OR_PARTITION,
        "a client that does not allow auto-creation"
    );
    assert!(!topic_names(&broker).contains(&not_allowed));
}

#[test]
fn metadata_does_not_auto_create_when_disabled() {
    let broker = TestBroker::start_with(&[("auto.create.topics.enable", "false")]);
    let topic = topic_name("off");
    assert_eq!(
        metadata_for(&broker, &topic, true),
        codes::UNKNOWN_TOPIC_OR_PARTITION,
        "auto.create.topics.enable=false"
    );
    // give a wrongly started creation a moment to show up, bounded
    let consumer = broker.consumer();
    let md = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata");
    assert!(
        md.topics().iter().all(|t| t.name() != topic),
        "topic {topic} must not exist"
    );
}

/// A broker refuses dynamic changes Kafka 4.1 refuses, with Kafka's error codes and
/// messages (those a Kafka 4.1.1 broker answered), and stores nothing for them.
#[test]
fn broker_config_changes_are_refused_as_kafka_refuses_them() {
    let broker = TestBroker::start();
    let advertised_before = broker.raw().describe_configs(resource::BROKER, "1", None).2
        ["advertised.listeners"]
        .value
        .as_ref()
        .map(|v| v.to_string());
    assert!(
        advertised_before.is_some(),
        "the test broker sets advertised.listeners"
    );
    let set = |name: &str, key: &str, value: &str| {
        broker.raw().incremental_alter_configs(
            resource::BROKER,
            name,
            &[(key, config_op::SET, Some(value))],
            false,
        )
    };
    let refused = |message: &str| (codes::INVALID_REQUEST, Some(message.to_string()));
    let read_only = refused("Cannot update these configs dynamically: Set(advertised.listeners)");
    assert_eq!(
        set("1", "advertised.listeners", "PLAINTEXT://elsewhere:9092"),
        read_only,
        "advertised.listeners is read-only (static) in Kafka 4"
    );
    assert_eq!(
        set("", "advertised.listeners", "PLAINTEXT://elsewhere:9092"),
        read_only,
        "read-only at the cluster default too"
    );
    assert_eq!(
        broker
            .raw()
            .alter_configs(resource::BROKER, "1", &[("num.partitions", "3")]),
        refused("Cannot update these configs dynamically: Set(num.partitions)"),
        "legacy AlterConfigs refuses read-only keys the same way"
    );
    assert_eq!(
        set("", "listeners", "PLAINTEXT://localhost:9092"),
        refused("Cannot update these configs at default cluster level, broker id must be specified: Set(listeners)")
    );
    assert_eq!(
        set("1", "ssl.keystore.location", "/etc/keystore.jks"),
        refused("These security configs can be dynamically updated only per-listener using the listener prefix: HashSet(ssl.keystore.location)")
    );
    assert_eq!(
        set("1", "log.retention.ms", "soon"),
        refused("Invalid value soon for configuration log.retention.ms: Not a number of type LONG"),
        "an invalid broker value is INVALID_REQUEST in Kafka"
    );
    assert_eq!(
        broker.raw().incremental_alter_configs(
            resource::BROKER,
            "1",
            &[("log.retention.ms", config_op::APPEND, Some("1"))],
            false
        ),
        (
            codes::INVALID_CONFIG,
            Some("Config value append is not allowed for config key: log.retention.ms".to_string())
        )
    );
    assert_eq!(
        set("7", "log.retention.ms", "1000"),
        refused("Unexpected broker id, expected 1, but received 7")
    );
    assert_eq!(
        set("one", "log.retention.ms", "1000"),
        refused("Node id must be an integer, but it is: one")
    );
    assert_eq!(
        broker.raw().incremental_alter_configs(
            resource::BROKER,
            "1",
            &[("num.partitions", config_op::DELETE, None)],
            false
        ),
        (codes::NONE, None),
        "deleting a read-only key is a no-op, as in Kafka"
    );

    // Nothing of the refused changes was stored.
    let (code, _, configs) = broker.raw().describe_configs(resource::BROKER, "1", None);
    assert_eq!(code, codes::NONE);
    let advertised = &configs["advertised.listeners"];
    assert_eq!(
        (
            advertised.value.as_ref().map(|v| v.to_string()),
            advertised.config_source,
            advertised.read_only
        ),
        (advertised_before, SOURCE_STATIC_BROKER, true),
        "advertised.listeners after the refused changes"
    );
    // KIP-966: min.insync.replicas lives at the cluster level only while ELR is on.
    assert_eq!(
        broker.raw().incremental_alter_configs(
            resource::BROKER,
            "1",
            &[("min.insync.replicas", config_op::SET, Some("2"))],
            false
        ),
        (
            codes::INVALID_CONFIG,
            Some(
                "Broker-level min.insync.replicas cannot be altered while ELR is enabled."
                    .to_string()
            )
        )
    );
    assert_eq!(
        broker.raw().incremental_alter_configs(
            resource::BROKER,
            "",
            &[("min.insync.replicas", config_op::DELETE, None)],
            false
        ),
        (
            codes::INVALID_CONFIG,
            Some(
                "Cluster-level min.insync.replicas cannot be removed while ELR is enabled."
                    .to_string()
            )
        )
    );
    let (_, _, defaults) = broker.raw().describe_configs(resource::BROKER, "", None);
    assert_eq!(
        defaults.keys().collect::<Vec<_>>(),
        ["min.insync.replicas"],
        "the cluster default holds only the min.insync.replicas the controller wrote"
    );

    // What Kafka allows goes through.
    assert_eq!(set("", "log.retention.ms", "5000"), (codes::NONE, None));
    let (_, _, configs) =
        broker
            .raw()
            .describe_configs(resource::BROKER, "1", Some(&["log.retention.ms"]));
    let retention = &configs["log.retention.ms"];
    assert_eq!(
        (
            retention.value.as_ref().map(|v| v.to_string()),
            retention.config_source,
            retention.read_only
        ),
        (
            Some("5000".to_string()),
            SOURCE_DYNAMIC_DEFAULT_BROKER,
            false
        )
    );
}

/// DescribeConfigs of this broker: Kafka 4.1's flags, every config for an empty key list,
/// and Kafka's errors for a broker id that is not this one.
#[test]
fn describe_broker_configs_reports_kafka_flags() {
    let broker = TestBroker::start();
    let (code, _, all) = broker.raw().describe_configs(resource::BROKER, "1", None);
    assert_eq!(code, codes::NONE);
    let advertised = &all["advertised.listeners"];
    assert_eq!(
        (
            advertised.config_source,
            advertised.read_only,
            advertised.config_type,
            advertised.is_sensitive
        ),
        (SOURCE_STATIC_BROKER, true, TYPE_STRING, false),
        "advertised.listeners: STATIC_BROKER_CONFIG, read-only, STRING, not sensitive (Kafka 4.1.1)"
    );
    assert!(
        !all["listeners"].read_only,
        "listeners is per-broker dynamic"
    );
    assert!(!all["log.retention.ms"].read_only && all["log.retention.hours"].read_only);
    let (_, _, empty_keys) = broker
        .raw()
        .describe_configs(resource::BROKER, "1", Some(&[]));
    assert_eq!(
        empty_keys.len(),
        all.len(),
        "an empty key list asks for every config, as in Kafka"
    );
    let (code, message, _) = broker.raw().describe_configs(resource::BROKER, "5", None);
    assert_eq!(
        (code, message.as_deref()),
        (
            codes::INVALID_REQUEST,
            Some("Unexpected broker id, expected 1 or empty string, but received 5")
        )
    );
    let (code, message, _) = broker.raw().describe_configs(resource::BROKER, "x", None);
    assert_eq!(
        (code, message.as_deref()),
        (
            codes::INVALID_REQUEST,
            Some("Broker id must be an integer, but it is: x")
        )
    );
}

/// ListConfigResources (KIP-1142) v1 lists this broker, its loggers and every topic, by type; v0
/// (ListClientMetricsResources) lists client-metrics subscriptions, of which there are
/// none; an unknown type is UNSUPPORTED_VERSION.
#[test]
fn list_config_resources_lists_brokers_and_topics() {
    use kafka_protocol::messages::ListConfigResourcesRequest;
    let broker = TestBroker::start();
    let topic = broker.new_topic("listed", 1);
    let list = |version: i16, types: &[i8]| {
        let request = ListConfigResourcesRequest::default().with_resource_types(types.to_vec());
        let response = broker
            .raw()
            .call(version, &request)
            .unwrap_or_else(|e| panic!("raw ListConfigResources v{version} failed: {e:#}"));
        // Internal topics are listed too (as in Kafka) once they exist; leave them out.
        let mut resources: Vec<(i8, String)> = response
            .config_resources
            .into_iter()
            .map(|r| (r.resource_type, r.resource_name.to_string()))
            .filter(|(_, name)| !name.starts_with("__"))
            .collect();
        resources.sort();
        (response.error_code, resources)
    };
    assert_eq!(
        list(1, &[]),
        (
            codes::NONE,
            vec![
                (resource::TOPIC, topic.clone()),
                (resource::BROKER, "1".to_string()),
                (resource::BROKER_LOGGER, "1".to_string())
            ]
        ),
        "every type"
    );
    assert_eq!(
        list(1, &[resource::TOPIC]),
        (codes::NONE, vec![(resource::TOPIC, topic.clone())])
    );
    assert_eq!(
        list(1, &[resource::BROKER]),
        (codes::NONE, vec![(resource::BROKER, "1".to_string())])
    );
    assert_eq!(
        list(1, &[16, 32]),
        (codes::NONE, vec![]),
        "no client metrics, no group configs"
    );
    assert_eq!(
        list(1, &[resource::TOPIC, 99]),
        (codes::UNSUPPORTED_VERSION, vec![])
    );
    assert_eq!(
        list(0, &[]),
        (codes::NONE, vec![]),
        "v0 lists client-metrics subscriptions only"
    );
}

/// Metadata by topic id (v12) as the Java admin client asks it: each topic with its id and
/// an empty name (the generated request's default). The id counts, not the name: the
/// topic is described with its name, an unknown id is UNKNOWN_TOPIC_ID.
#[test]
fn metadata_by_topic_id_ignores_the_empty_names_beside_the_ids() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("by-id", 2);
    let mut raw = broker.raw();
    let by_name = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(topic_name_of(&topic))),
    ]));
    let described = raw.expect_call(12, &by_name, "Metadata by name");
    let id = described.topics[0].topic_id;
    assert!(!id.is_nil(), "Metadata v12 names the topic id");
    let unknown = uuid::Uuid::from_u128(0x1234);
    let by_id = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default()
            .with_topic_id(id)
            .with_name(Some(topic_name_of(""))),
        MetadataRequestTopic::default()
            .with_topic_id(unknown)
            .with_name(Some(topic_name_of(""))),
    ]));
    let response = raw.expect_call(12, &by_id, "Metadata by id");
    let answers: Vec<_> = response
        .topics
        .iter()
        .map(|t| {
            let name = t.name.as_ref().map(|n| n.0.to_string());
            (t.topic_id, name, t.error_code, t.partitions.len())
        })
        .collect();
    assert_eq!(answers.len(), 2, "one answer per requested id: {answers:?}");
    assert!(
        answers.contains(&(id, Some(topic.clone()), 0, 2)),
        "the topic described by its id: {answers:?}"
    );
    assert!(
        answers.contains(&(unknown, None, 100, 0)),
        "UNKNOWN_TOPIC_ID for the unknown id: {answers:?}"
    );
}

/// ApiVersions v3+ lists Kafka 4.1's features (KIP-584) at the levels Ironlog implements:
/// the admin client's describeFeatures and kafka-features read them, and the Java producer
/// reads transaction.version to choose its transaction protocol.
#[test]
fn api_versions_lists_the_feature_levels_implemented() {
    let broker = TestBroker::start();
    let mut raw = broker.raw();
    let response = raw.expect_call(
        3,
        &kafka_protocol::messages::ApiVersionsRequest::default(),
        "ApiVersions v3",
    );
    let supported: Vec<(String, i16, i16)> = response
        .supported_features
        .iter()
        .map(|f| (f.name.to_string(), f.min_version, f.max_version))
        .collect();
    let finalized: Vec<(String, i16, i16)> = response
        .finalized_features
        .iter()
        .map(|f| (f.name.to_string(), f.min_version_level, f.max_version_level))
        .collect();
    let owned = |rows: &[(&str, i16, i16)]| -> Vec<(String, i16, i16)> {
        rows.iter()
            .map(|(n, a, b)| (n.to_string(), *a, *b))
            .collect()
    };
    assert_eq!(
        supported,
        owned(&[
            ("eligible.leader.replicas.version", 0, 0),
            ("group.version", 0, 1),
            ("kraft.version", 0, 1),
            ("metadata.version", 7, 27),
            ("share.version", 0, 0),
            ("transaction.version", 0, 0),
        ]),
        "supported features"
    );
    assert_eq!(
        finalized,
        owned(&[("group.version", 1, 1), ("metadata.version", 27, 27)]),
        "finalized features (metadata.version 27 is 4.1-IV1)"
    );
    assert!(
        response.finalized_features_epoch > 0,
        "finalized features epoch: {}",
        response.finalized_features_epoch
    );
}
