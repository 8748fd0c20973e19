//! ACL authorization (Kafka's StandardAuthorizer) against real clients: SASL PLAIN users
//! through librdkafka (the rdkafka crate) consume, produce and describe what their ACLs
//! allow and get Kafka's authorization errors elsewhere; a DENY beats an ALLOW, a super
//! user bypasses both, Metadata hides what a user may not DESCRIBE,
//! `allow.everyone.if.no.acl.found` both ways; bad CreateAcls / DescribeAcls / DeleteAcls
//! input gets Kafka's answers and stores nothing; denials reach the audit log and the
//! metrics; ACLs created through one node of a 3-node cluster hold on every node.
//!
//! The brokers have a SASL_PLAINTEXT listener for the users and a PLAINTEXT one whose
//! connections are `User:ANONYMOUS`, a super user here (an operator's internal listener):
//! the ACL APIs are driven through it with the raw protocol client.
mod common;

use std::time::{Duration, Instant};

use common::*;
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, BrokerId, CreateAclsRequest, DeleteAclsRequest,
    DescribeAclsRequest, DescribeAclsResponse, DescribeClusterRequest, ElectLeadersRequest,
    ListPartitionReassignmentsRequest, MetadataRequest, UnregisterBrokerRequest,
};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::FutureRecord;
use rdkafka::Message;

const PLAIN_JAAS: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret" user_bob="bob-secret";"#;
const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
const INVALID_REQUEST: i16 = 42;
const SECURITY_DISABLED: i16 = 54;

// Kafka's ACL codes.
const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const CLUSTER: i8 = 4;
const ANY: i8 = 1;
const MATCH: i8 = 2;
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;
const ALL: i8 = 2;
const READ: i8 = 3;
const WRITE: i8 = 4;
const DESCRIBE: i8 = 8;
const DENY: i8 = 2;
const ALLOW: i8 = 3;

const POLL_DEADLINE: Duration = Duration::from_secs(30);

/// A broker with the ACL authorizer: SASL PLAIN users admin (a super user), alice and bob,
/// and an ANONYMOUS super-user PLAINTEXT listener.
fn acl_broker(extra: &[(&str, &str)]) -> TestBroker {
    let listeners = "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0";
    let mut settings: Vec<(&str, &str)> = vec![
        ("listeners", listeners),
        ("advertised.listeners", listeners),
        ("sasl.enabled.mechanisms", "PLAIN"),
        (
            "listener.name.sasl_plaintext.plain.sasl.jaas.config",
            PLAIN_JAAS,
        ),
        ("authorizer.class.name", STANDARD_AUTHORIZER),
        ("super.users", "User:admin;User:ANONYMOUS"),
        ("auto.create.topics.enable", "true"),
    ];
    settings.extend_from_slice(extra);
    broker_spec().overrides(&settings).start()
}

/// librdkafka settings of a SASL PLAIN user on the broker's SASL listener.
fn sasl_config(broker: &TestBroker, user: &str, extra: &[(&str, &str)]) -> rdkafka::ClientConfig {
    let bootstrap = broker
        .listener("SASL_PLAINTEXT")
        .expect("the broker printed its SASL_PLAINTEXT listener");
    let password = format!("{user}-secret");
    let mut config = client_config(&bootstrap);
    config
        .set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanisms", "PLAIN")
        .set("sasl.username", user)
        .set("sasl.password", &password);
    for (k, v) in extra {
        config.set(*k, *v);
    }
    config
}

fn acl(
    resource_type: i8,
    name: &str,
    pattern: i8,
    principal: &str,
    operation: i8,
    permission: i8,
) -> AclCreation {
    AclCreation::default()
        .with_resource_type(resource_type)
        .with_resource_name(sb(name))
        .with_resource_pattern_type(pattern)
        .with_principal(sb(principal))
        .with_host(sb("*"))
        .with_operation(operation)
        .with_permission_type(permission)
}

/// CreateAcls v3; the error code and message of each creation.
fn create_acls(raw: &mut RawClient, creations: Vec<AclCreation>) -> Vec<(i16, Option<String>)> {
    raw.expect_call(
        3,
        &CreateAclsRequest::default().with_creations(creations),
        "CreateAcls",
    )
    .results
    .into_iter()
    .map(|r| (r.error_code, r.error_message.map(|m| m.to_string())))
    .collect()
}

fn create_acls_ok(raw: &mut RawClient, creations: Vec<AclCreation>) {
    for (code, message) in create_acls(raw, creations) {
        assert_eq!(code, 0, "CreateAcls refused a binding: {message:?}");
    }
}

/// A DescribeAcls filter of `resource_type` and `pattern` matching any name, principal,
/// host, operation and permission.
fn describe_filter(resource_type: i8, pattern: i8) -> DescribeAclsRequest {
    DescribeAclsRequest::default()
        .with_resource_type_filter(resource_type)
        .with_resource_name_filter(None)
        .with_pattern_type_filter(pattern)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_operation(ANY)
        .with_permission_type(ANY)
}

/// The DeleteAcls counterpart of [`describe_filter`].
fn delete_filter(resource_type: i8, pattern: i8) -> DeleteAclsFilter {
    DeleteAclsFilter::default()
        .with_resource_type_filter(resource_type)
        .with_resource_name_filter(None)
        .with_pattern_type_filter(pattern)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_operation(ANY)
        .with_permission_type(ANY)
}

fn describe_all(raw: &mut RawClient) -> DescribeAclsResponse {
    let request = describe_filter(ANY, ANY)
        .with_resource_type_filter(ANY)
        .with_pattern_type_filter(ANY)
        .with_operation(ANY)
        .with_permission_type(ANY);
    raw.expect_call(3, &request, "DescribeAcls")
}

fn binding_count(response: &DescribeAclsResponse) -> usize {
    response.resources.iter().map(|r| r.acls.len()).sum()
}

/// Polls `consumer` until it yields `count` records (their values) or an error (returned),
/// within the deadline.
fn consume(consumer: &BaseConsumer, count: usize) -> Result<Vec<String>, KafkaError> {
    let deadline = Instant::now() + POLL_DEADLINE;
    let mut values = Vec::new();
    while values.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} records arrived within {POLL_DEADLINE:?}",
            values.len()
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                values.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned())
            }
            Some(Err(KafkaError::PartitionEOF(_))) | None => {}
            Some(Err(e)) => return Err(e),
        }
    }
    Ok(values)
}

/// Polls `consumer` until it reports an error; fails if none comes within the deadline.
fn consume_error(consumer: &BaseConsumer, what: &str) -> KafkaError {
    let deadline = Instant::now() + POLL_DEADLINE;
    loop {
        assert!(
            Instant::now() < deadline,
            "{what}: no error within {POLL_DEADLINE:?}"
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => panic!(
                "{what}: a record arrived from {} instead of an authorization error",
                m.topic()
            ),
            Some(Err(KafkaError::PartitionEOF(_))) | None => {}
            Some(Err(e)) => return e,
        }
    }
}

fn subscribed(broker: &TestBroker, user: &str, group: &str, topic: &str) -> BaseConsumer {
    let consumer: BaseConsumer = sasl_config(
        broker,
        user,
        &[
            ("group.id", group),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
            ("enable.partition.eof", "false"),
        ],
    )
    .create()
    .expect("create a SASL consumer");
    consumer
        .subscribe(&[topic])
        .unwrap_or_else(|e| panic!("subscribing to {topic}: {e}"));
    consumer
}

fn produce_values(broker: &TestBroker, topic: &str, values: &[&str]) {
    let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
    send_all(&broker.producer(), topic, &values);
}

fn error_code_of(error: &KafkaError) -> Option<RDKafkaErrorCode> {
    error.rdkafka_error_code()
}

#[test]
fn a_prefixed_read_consumes_those_topics_and_is_refused_elsewhere() {
    let broker = acl_broker(&[]);
    broker.create_topic("orders-eu", 1, &[]);
    broker.create_topic("payments", 1, &[]);
    produce_values(&broker, "orders-eu", &["o1", "o2", "o3"]);
    produce_values(&broker, "payments", &["p1"]);
    let mut raw = broker.raw();
    create_acls_ok(
        &mut raw,
        vec![
            acl(TOPIC, "orders-", PREFIXED, "User:alice", READ, ALLOW),
            acl(GROUP, "alice-", PREFIXED, "User:alice", READ, ALLOW),
        ],
    );

    let orders = subscribed(&broker, "alice", "alice-orders", "orders-eu");
    assert_eq!(
        consume(&orders, 3).expect("alice may read orders-eu in her group"),
        vec!["o1", "o2", "o3"]
    );

    let payments = subscribed(&broker, "alice", "alice-payments", "payments");
    let error = consume_error(&payments, "alice reading payments");
    assert_eq!(
        error_code_of(&error),
        Some(RDKafkaErrorCode::TopicAuthorizationFailed),
        "a topic outside alice's prefix is TOPIC_AUTHORIZATION_FAILED, got {error}"
    );

    let foreign_group = subscribed(&broker, "alice", "bobs-group", "orders-eu");
    let error = consume_error(&foreign_group, "alice in a group she has no ACL for");
    assert_eq!(
        error_code_of(&error),
        Some(RDKafkaErrorCode::GroupAuthorizationFailed),
        "a group without READ is GROUP_AUTHORIZATION_FAILED, got {error}"
    );

    // READ is not WRITE.
    let producer: rdkafka::producer::FutureProducer = sasl_config(
        &broker,
        "alice",
        &[
            ("message.timeout.ms", "10000"),
            ("enable.idempotence", "false"),
        ],
    )
    .create()
    .expect("create a SASL producer");
    let sent = block_on(producer.send(
        FutureRecord::<(), str>::to("orders-eu").payload("x"),
        Duration::from_secs(10),
    ));
    match sent {
        Err((e, _)) => assert_eq!(
            error_code_of(&e),
            Some(RDKafkaErrorCode::TopicAuthorizationFailed),
            "producing with READ only is TOPIC_AUTHORIZATION_FAILED, got {e}"
        ),
        Ok(delivered) => panic!("alice produced to orders-eu without WRITE: {delivered:?}"),
    }

    // The denials are in the audit log, with who, what and from where.
    let log = broker.log_text();
    let audit = log
        .lines()
        .find(|l| l.contains("ironlog::audit") && l.contains("resource_name=payments"))
        .unwrap_or_else(|| {
            panic!(
                "no audit line for alice's READ of payments in the log:\n{}",
                broker.log_tail()
            )
        });
    // (librdkafka is refused at its Metadata request already: DESCRIBE, implied by READ.)
    for field in [
        "denied",
        "principal=User:alice",
        "operation=DESCRIBE",
        "resource_type=TOPIC",
        "host=127.0.0.1",
        "listener=SASL_PLAINTEXT",
        "api=Metadata",
        "rule=DefaultDeny",
    ] {
        assert!(
            audit.contains(field),
            "the audit line lacks {field}: {audit}"
        );
    }
    // And in the metrics.
    let admin = broker
        .admin_url()
        .expect("the broker has an admin listener");
    let (status, metrics) = http("GET", &format!("{admin}/metrics"), None);
    assert_eq!(status, 200, "/metrics answered {status}");
    assert!(
        metrics.lines().any(|l| l
            .starts_with("kafka_server_authorizer_metrics_authorization_denied_total")
            && l.contains("operation=\"DESCRIBE\"")
            && l.contains("resource_type=\"TOPIC\"")),
        "no denied-authorization series for DESCRIBE on a topic in /metrics"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l == "kafka_server_authorizer_metrics_acls 2"),
        "the ACL count gauge is not 2"
    );
}

#[test]
fn a_deny_overrides_an_allow_and_super_users_bypass_both() {
    let broker = acl_broker(&[]);
    broker.create_topic("orders-secret", 1, &[]);
    broker.create_topic("orders-open", 1, &[]);
    produce_values(&broker, "orders-secret", &["s1"]);
    produce_values(&broker, "orders-open", &["o1"]);
    let mut raw = broker.raw();
    create_acls_ok(
        &mut raw,
        vec![
            acl(TOPIC, "orders-", PREFIXED, "User:alice", ALL, ALLOW),
            acl(GROUP, "*", LITERAL, "User:*", READ, ALLOW),
            acl(TOPIC, "orders-secret", LITERAL, "User:*", READ, DENY),
        ],
    );
    let open = subscribed(&broker, "alice", "g-open", "orders-open");
    assert_eq!(
        consume(&open, 1).expect("alice reads orders-open"),
        vec!["o1"]
    );
    let secret = subscribed(&broker, "alice", "g-secret", "orders-secret");
    let error = consume_error(&secret, "alice reading orders-secret despite her ALL");
    assert_eq!(
        error_code_of(&error),
        Some(RDKafkaErrorCode::TopicAuthorizationFailed),
        "the DENY must win over the prefixed ALLOW, got {error}"
    );
    let admin = subscribed(&broker, "admin", "g-admin", "orders-secret");
    assert_eq!(
        consume(&admin, 1).expect("a super user reads despite the DENY for User:*"),
        vec!["s1"]
    );
}

/// Topic names in a Metadata response with their error codes.
fn metadata_of(
    raw: &mut RawClient,
    topics: Option<&[&str]>,
    allow_create: bool,
) -> Vec<(String, i16)> {
    let request = MetadataRequest::default()
        .with_topics(topics.map(|names| {
            names
                .iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(topic_name_of(n))))
                .collect()
        }))
        .with_allow_auto_topic_creation(allow_create);
    raw.expect_call(12, &request, "Metadata")
        .topics
        .into_iter()
        .map(|t| {
            (
                t.name.map(|n| n.0.to_string()).unwrap_or_default(),
                t.error_code,
            )
        })
        .collect()
}

#[test]
fn metadata_hides_topics_a_user_may_not_describe() {
    let broker = acl_broker(&[]);
    broker.create_topic("orders-eu", 1, &[]);
    broker.create_topic("payments", 1, &[]);
    let mut raw = broker.raw();
    create_acls_ok(
        &mut raw,
        vec![acl(TOPIC, "orders-", PREFIXED, "User:alice", READ, ALLOW)],
    );
    // What alice's client sees (librdkafka's metadata request for all topics).
    let consumer: BaseConsumer = sasl_config(&broker, "alice", &[("group.id", "unused")])
        .create()
        .expect("create a SASL consumer");
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(20))
        .expect("alice's metadata request");
    let names: Vec<&str> = metadata.topics().iter().map(|t| t.name()).collect();
    assert_eq!(
        names,
        vec!["orders-eu"],
        "alice must see only the topics she may DESCRIBE"
    );
    let named = consumer
        .fetch_metadata(Some("payments"), Duration::from_secs(20))
        .expect("alice's metadata request for payments");
    assert_eq!(
        named.topics()[0].error().map(RDKafkaErrorCode::from),
        Some(RDKafkaErrorCode::TopicAuthorizationFailed),
        "a named topic without DESCRIBE is TOPIC_AUTHORIZATION_FAILED"
    );
    // The super user sees everything; an unknown topic nobody may describe is refused as
    // unauthorized (not UNKNOWN_TOPIC_OR_PARTITION), and auto-creation needs CREATE.
    let all = metadata_of(&mut raw, None, false);
    assert!(
        all.iter().any(|(n, _)| n == "payments"),
        "the super user sees payments: {all:?}"
    );
    drop(consumer);
    let alice_consumer: BaseConsumer = sasl_config(
        &broker,
        "alice",
        &[("group.id", "unused"), ("allow.auto.create.topics", "true")],
    )
    .create()
    .expect("create a SASL consumer");
    for topic in ["nowhere", "orders-new"] {
        let named = alice_consumer
            .fetch_metadata(Some(topic), Duration::from_secs(20))
            .expect("alice's metadata request");
        assert_eq!(
            named.topics()[0].error().map(RDKafkaErrorCode::from),
            Some(RDKafkaErrorCode::TopicAuthorizationFailed),
            "{topic}: a missing topic alice may not create is TOPIC_AUTHORIZATION_FAILED"
        );
    }
    let after = metadata_of(&mut raw, Some(&["orders-new"]), false);
    assert_eq!(
        after,
        vec![("orders-new".to_string(), 3)],
        "orders-new must not have been auto-created without CREATE"
    );
}

#[test]
fn allow_everyone_if_no_acl_found_works_both_ways() {
    for allow_everyone in [true, false] {
        let flag = allow_everyone.to_string();
        let broker = acl_broker(&[("allow.everyone.if.no.acl.found", &flag)]);
        broker.create_topic("open", 1, &[]);
        broker.create_topic("guarded", 1, &[]);
        produce_values(&broker, "open", &["v"]);
        produce_values(&broker, "guarded", &["v"]);
        let mut raw = broker.raw();
        create_acls_ok(
            &mut raw,
            vec![acl(TOPIC, "guarded", LITERAL, "User:bob", READ, ALLOW)],
        );
        let open = subscribed(&broker, "alice", "g-open", "open");
        if allow_everyone {
            assert_eq!(
                consume(&open, 1).expect("no ACL on open or the group: everyone may"),
                vec!["v"]
            );
        } else {
            let error = consume_error(&open, "alice without any ACL");
            assert!(
                matches!(
                    error_code_of(&error),
                    Some(RDKafkaErrorCode::TopicAuthorizationFailed)
                        | Some(RDKafkaErrorCode::GroupAuthorizationFailed)
                ),
                "without ACLs and allow.everyone false alice is refused, got {error}"
            );
        }
        let guarded = subscribed(&broker, "alice", "g-guarded", "guarded");
        let error = consume_error(&guarded, "alice on a topic with bob's ACL");
        assert!(
            matches!(
                error_code_of(&error),
                Some(RDKafkaErrorCode::TopicAuthorizationFailed)
                    | Some(RDKafkaErrorCode::GroupAuthorizationFailed)
            ),
            "allow.everyone={allow_everyone}: a topic with ACLs is refused to others, got {error}"
        );
    }
}

#[test]
fn bad_acl_requests_get_kafkas_answers_and_store_nothing() {
    let broker = acl_broker(&[]);
    let mut raw = broker.raw();
    let results = create_acls(
        &mut raw,
        vec![
            acl(ANY, "t", LITERAL, "User:a", READ, ALLOW),
            acl(TOPIC, "t", MATCH, "User:a", READ, ALLOW),
            acl(TOPIC, "t", LITERAL, "alice", READ, ALLOW),
            acl(CLUSTER, "my-cluster", LITERAL, "User:a", DESCRIBE, ALLOW),
            acl(TOPIC, "", LITERAL, "User:a", READ, ALLOW),
            acl(TOPIC, "t", LITERAL, "User:a", ANY, ALLOW),
            acl(TOPIC, "t", LITERAL, "User:a", READ, ANY),
        ],
    );
    let expected = [
        "Invalid resourceType ANY",
        "Invalid patternType MATCH",
        "Could not parse principal from `alice` (no colon is present separating the principal type from the principal name)",
        "The only valid name for the CLUSTER resource is kafka-cluster",
        "Invalid empty resource name",
        "Invalid operation ANY",
        "Invalid permissionType ANY",
    ];
    for ((code, message), want) in results.iter().zip(expected) {
        assert_eq!(*code, INVALID_REQUEST, "{want}: got code {code}");
        assert_eq!(message.as_deref(), Some(want));
    }
    // Unknown codes are refused while parsing, as Kafka does: the connection closes.
    let mut unknown = broker.raw();
    let closed = unknown.call(
        3,
        &CreateAclsRequest::default()
            .with_creations(vec![acl(99, "t", LITERAL, "User:a", READ, ALLOW)]),
    );
    assert!(
        closed.is_err(),
        "an unknown resource type must close the connection"
    );
    let mut unknown = broker.raw();
    let closed = unknown.call(3, &describe_filter(TOPIC, ANY).with_operation(77));
    assert!(
        closed.is_err(),
        "an unknown operation must close the connection"
    );
    let mut unknown = broker.raw();
    let closed = unknown.call(
        3,
        &DeleteAclsRequest::default().with_filters(vec![delete_filter(TOPIC, 0)]),
    );
    assert!(
        closed.is_err(),
        "an UNKNOWN pattern type must close the connection"
    );
    // Nothing was stored, and the broker still serves the first connection.
    assert_eq!(
        binding_count(&describe_all(&mut raw)),
        0,
        "a refused binding was stored"
    );

    // Filters: MATCH finds the bindings that apply to a name; DeleteAcls removes what a
    // filter matches and says what it removed.
    create_acls_ok(
        &mut raw,
        vec![
            acl(TOPIC, "orders-", PREFIXED, "User:alice", READ, ALLOW),
            acl(TOPIC, "*", LITERAL, "User:bob", WRITE, ALLOW),
            acl(TOPIC, "payments", LITERAL, "User:bob", READ, DENY),
            // The same binding twice is one binding.
            acl(TOPIC, "payments", LITERAL, "User:bob", READ, DENY),
        ],
    );
    assert_eq!(binding_count(&describe_all(&mut raw)), 3);
    let matching = raw.expect_call(
        3,
        &describe_filter(TOPIC, MATCH).with_resource_name_filter(Some(sb("orders-eu"))),
        "DescribeAcls MATCH",
    );
    let mut found: Vec<(String, i8)> = matching
        .resources
        .iter()
        .map(|r| (r.resource_name.to_string(), r.pattern_type))
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            ("*".to_string(), LITERAL),
            ("orders-".to_string(), PREFIXED)
        ],
        "MATCH on orders-eu finds the wildcard and the prefix"
    );
    let deleted = raw.expect_call(
        3,
        &DeleteAclsRequest::default().with_filters(vec![
            delete_filter(ANY, ANY).with_principal_filter(Some(sb("User:bob")))
        ]),
        "DeleteAcls",
    );
    let result = &deleted.filter_results[0];
    assert_eq!(result.error_code, 0);
    assert_eq!(
        result.matching_acls.len(),
        2,
        "bob's two bindings are deleted"
    );
    let left = describe_all(&mut raw);
    assert_eq!(binding_count(&left), 1);
    assert_eq!(left.resources[0].resource_name.as_str(), "orders-");
}

#[test]
fn acl_apis_need_cluster_permissions_and_an_authorizer() {
    // ANONYMOUS is no super user here: the ACL APIs need ALTER / DESCRIBE on the cluster.
    let broker = acl_broker(&[("super.users", "User:admin")]);
    let mut raw = broker.raw();
    let results = create_acls(
        &mut raw,
        vec![acl(TOPIC, "t", LITERAL, "User:ANONYMOUS", ALL, ALLOW)],
    );
    assert_eq!(
        results[0].0, CLUSTER_AUTHORIZATION_FAILED,
        "CreateAcls without ALTER on the cluster"
    );
    assert_eq!(
        describe_all(&mut raw).error_code,
        CLUSTER_AUTHORIZATION_FAILED,
        "DescribeAcls without DESCRIBE on the cluster"
    );
    let admin = broker
        .admin_url()
        .expect("the broker has an admin listener");
    let (_, metrics) = http("GET", &format!("{admin}/metrics"), None);
    assert!(
        metrics
            .lines()
            .any(|l| l == "kafka_server_authorizer_metrics_acls 0"),
        "a refused CreateAcls stored a binding"
    );
    // Elections and reassignments need ALTER on the cluster, listing them DESCRIBE.
    let elect = raw.expect_call(
        2,
        &ElectLeadersRequest::default()
            .with_election_type(0)
            .with_topic_partitions(Some(vec![TopicPartitions::default()
                .with_topic(sb("t").into())
                .with_partitions(vec![0])])),
        "ElectLeaders",
    );
    assert_eq!(
        elect.error_code, CLUSTER_AUTHORIZATION_FAILED,
        "ElectLeaders without ALTER on the cluster"
    );
    assert_eq!(
        elect.replica_election_results[0].partition_result[0].error_code,
        CLUSTER_AUTHORIZATION_FAILED
    );
    let alter = raw.expect_call(
        0,
        &AlterPartitionReassignmentsRequest::default().with_topics(vec![
            ReassignableTopic::default()
                .with_name(sb("t").into())
                .with_partitions(vec![ReassignablePartition::default()
                    .with_partition_index(0)
                    .with_replicas(Some(vec![BrokerId(1)]))]),
        ]),
        "AlterPartitionReassignments",
    );
    assert_eq!(
        alter.error_code, CLUSTER_AUTHORIZATION_FAILED,
        "AlterPartitionReassignments without ALTER on the cluster"
    );
    assert_eq!(
        alter.responses[0].partitions[0].error_code,
        CLUSTER_AUTHORIZATION_FAILED
    );
    let list = raw.expect_call(
        0,
        &ListPartitionReassignmentsRequest::default().with_topics(None),
        "ListPartitionReassignments",
    );
    assert_eq!(
        list.error_code, CLUSTER_AUTHORIZATION_FAILED,
        "ListPartitionReassignments without DESCRIBE on the cluster"
    );
    // UnregisterBroker needs ALTER on the cluster (KIP-746); the broker stays registered.
    let unregister = raw.expect_call(
        0,
        &UnregisterBrokerRequest::default().with_broker_id(BrokerId(1)),
        "UnregisterBroker",
    );
    assert_eq!(
        unregister.error_code, CLUSTER_AUTHORIZATION_FAILED,
        "UnregisterBroker without ALTER on the cluster"
    );
    // The quorum's voter changes (KIP-853) need ALTER on the cluster too, checked first.
    let add = raw.expect_call(
        0,
        &kafka_protocol::messages::AddRaftVoterRequest::default()
            .with_cluster_id(None)
            .with_voter_id(2)
            .with_voter_directory_id(uuid::Uuid::from_u128(7)),
        "AddRaftVoter",
    );
    assert_eq!(
        add.error_code, CLUSTER_AUTHORIZATION_FAILED,
        "AddRaftVoter without ALTER on the cluster"
    );
    let remove = raw.expect_call(
        0,
        &kafka_protocol::messages::RemoveRaftVoterRequest::default()
            .with_cluster_id(None)
            .with_voter_id(1)
            .with_voter_directory_id(uuid::Uuid::from_u128(7)),
        "RemoveRaftVoter",
    );
    assert_eq!(
        remove.error_code, CLUSTER_AUTHORIZATION_FAILED,
        "RemoveRaftVoter without ALTER on the cluster"
    );
    let described = raw.expect_call(1, &DescribeClusterRequest::default(), "DescribeCluster");
    assert_eq!(
        described
            .brokers
            .iter()
            .map(|b| b.broker_id.0)
            .collect::<Vec<_>>(),
        vec![1],
        "a refused UnregisterBroker removed the broker"
    );
    // Topics without DESCRIBE are unknown to ANONYMOUS, even the ones that exist.
    let listed = metadata_of(&mut raw, Some(&["anything"]), true);
    assert_eq!(
        listed,
        vec![("anything".to_string(), TOPIC_AUTHORIZATION_FAILED)]
    );
    drop(broker);

    // Without an authorizer the ACL APIs answer SECURITY_DISABLED.
    let plain = TestBroker::start();
    let mut raw = plain.raw();
    let results = create_acls(
        &mut raw,
        vec![acl(TOPIC, "t", LITERAL, "User:a", READ, ALLOW)],
    );
    assert_eq!(results[0].0, SECURITY_DISABLED);
    assert_eq!(describe_all(&mut raw).error_code, SECURITY_DISABLED);
}

#[test]
fn acls_created_through_one_node_hold_on_every_node() {
    let cluster = cluster_spec(3)
        .overrides(&[
            ("authorizer.class.name", STANDARD_AUTHORIZER),
            // Brokers and clients are ANONYMOUS on these PLAINTEXT listeners: resources
            // without ACLs stay open to them, the cluster included.
            ("allow.everyone.if.no.acl.found", "true"),
        ])
        .start();
    let topic = "guarded";
    {
        let mut raw = cluster.node(1).raw();
        let (code, message) = raw.create_topic(topic, 3, 3, &[], &[], false);
        assert_eq!(code, 0, "CreateTopics {topic}: {message:?}");
    }
    // Every node learns of the topic once it applies the metadata record (CreateTopics
    // answers when the controller committed it, as Kafka's does).
    for id in cluster.node_ids() {
        let mut raw = cluster.node(id).raw();
        wait_until(
            POLL_DEADLINE,
            &format!("node {id} describes {topic} before any ACL"),
            || metadata_of(&mut raw, Some(&[topic]), false) == vec![(topic.to_string(), 0)],
        );
    }
    // Through node 2, whichever node is the active controller (else it is forwarded).
    create_acls_ok(
        &mut cluster.node(2).raw(),
        vec![acl(TOPIC, topic, LITERAL, "User:ANONYMOUS", DESCRIBE, DENY)],
    );
    for id in cluster.node_ids() {
        let mut raw = cluster.node(id).raw();
        wait_until(
            POLL_DEADLINE,
            &format!("node {id} enforces the DENY"),
            || {
                metadata_of(&mut raw, Some(&[topic]), false)
                    == vec![(topic.to_string(), TOPIC_AUTHORIZATION_FAILED)]
            },
        );
        let listed = describe_all(&mut raw);
        assert_eq!(binding_count(&listed), 1, "node {id} lists the binding");
    }
}

#[test]
fn the_audit_log_goes_to_its_own_file_as_json_lines() {
    let dir = TestDir::new("ironlog-audit").expect("a temp dir for the audit log");
    let audit = dir.path().join("audit.log");
    let audit_setting = audit.display().to_string();
    let broker = acl_broker(&[
        ("super.users", "User:admin"),
        ("logger.audit.file", &audit_setting),
    ]);
    let mut raw = broker.raw();
    let refused = metadata_of(&mut raw, Some(&["audited"]), false);
    assert_eq!(
        refused,
        vec![("audited".to_string(), TOPIC_AUTHORIZATION_FAILED)]
    );
    let mut line = String::new();
    wait_until(POLL_DEADLINE, "the denial in the audit file", || {
        line = std::fs::read_to_string(&audit)
            .unwrap_or_default()
            .lines()
            .find(|l| l.contains("\"resource_name\":\"audited\""))
            .unwrap_or_default()
            .to_string();
        !line.is_empty()
    });
    let entry: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("the audit line is not JSON ({e}): {line}"));
    assert_eq!(entry["target"], "ironlog::audit", "{line}");
    assert_eq!(entry["level"], "INFO", "{line}");
    let fields = &entry["fields"];
    for (key, want) in [
        ("message", "denied"),
        ("principal", "User:ANONYMOUS"),
        ("operation", "DESCRIBE"),
        ("resource_type", "TOPIC"),
        ("pattern_type", "LITERAL"),
        ("host", "127.0.0.1"),
        ("listener", "PLAINTEXT"),
        ("api", "Metadata"),
        ("rule", "DefaultDeny"),
    ] {
        assert_eq!(fields[key], want, "audit field {key} in {line}");
    }
    assert!(
        !broker.log_text().contains("ironlog::audit"),
        "with logger.audit.file the audit log must not go to stderr too"
    );
}

/// An Envelope speaks for the client it names; only a sender with CLUSTER_ACTION (a broker)
/// may send one: from anyone else the controller refuses it without running the request.
#[test]
fn an_envelope_from_a_principal_without_cluster_action_is_refused() {
    use bytes::BytesMut;
    use kafka_protocol::messages::{EnvelopeRequest, RequestHeader};
    use kafka_protocol::protocol::Encodable;

    let listeners = "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0";
    let broker = acl_broker(&[
        ("super.users", "User:admin"),
        ("listeners", listeners),
        (
            "advertised.listeners",
            "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
        ),
        ("controller.listener.names", "CONTROLLER"),
        (
            "listener.security.protocol.map",
            "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
        ),
    ]);
    // CreateAcls v3 as the super user admin, wrapped by an unauthenticated sender.
    let mut inner = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(30)
        .with_request_api_version(3)
        .with_correlation_id(7)
        .with_client_id(Some(sb("forger")))
        .encode(&mut inner, 2)
        .expect("encode the inner header");
    CreateAclsRequest::default()
        .with_creations(vec![acl(TOPIC, "*", LITERAL, "User:ANONYMOUS", ALL, ALLOW)])
        .encode(&mut inner, 3)
        .expect("encode the inner request");
    let mut principal = BytesMut::new();
    principal.extend_from_slice(&0i16.to_be_bytes());
    kafka_protocol::messages::DefaultPrincipalData::default()
        .with_type(sb("User"))
        .with_name(sb("admin"))
        .encode(&mut principal, 0)
        .expect("encode the principal");
    let envelope = EnvelopeRequest::default()
        .with_request_data(inner.freeze())
        .with_request_principal(Some(principal.freeze()))
        .with_client_host_address(bytes::Bytes::from_static(&[127, 0, 0, 1]));
    let controller = broker
        .listener("CONTROLLER")
        .expect("the broker printed its CONTROLLER listener");
    let response = RawClient::connect(&controller).expect_call(0, &envelope, "Envelope");
    assert_eq!(
        response.error_code, CLUSTER_AUTHORIZATION_FAILED,
        "an Envelope from User:ANONYMOUS must be refused"
    );
    assert!(
        response.response_data.is_none(),
        "the inner request must not have run"
    );
    let admin = broker
        .admin_url()
        .expect("the broker has an admin listener");
    let (_, metrics) = http("GET", &format!("{admin}/metrics"), None);
    assert!(
        metrics
            .lines()
            .any(|l| l == "kafka_server_authorizer_metrics_acls 0"),
        "the forged CreateAcls stored a binding"
    );
}

/// confluent-kafka (librdkafka through Python) as a user with READ on a prefix: it
/// consumes, sees its authorized operations (Metadata and DescribeGroups fields), and is
/// refused elsewhere; kcat likewise reads what it may and reports Kafka's error otherwise.
#[test]
fn confluent_kafka_and_kcat_users_see_what_their_acls_allow() {
    let broker = acl_broker(&[]);
    broker.create_topic("reports-daily", 1, &[]);
    broker.create_topic("salaries", 1, &[]);
    produce_values(&broker, "reports-daily", &["r1", "r2"]);
    let mut raw = broker.raw();
    create_acls_ok(
        &mut raw,
        vec![
            acl(TOPIC, "reports-", PREFIXED, "User:alice", READ, ALLOW),
            acl(GROUP, "reports-", PREFIXED, "User:alice", READ, ALLOW),
        ],
    );
    let sasl = broker
        .listener("SASL_PLAINTEXT")
        .expect("the broker printed its SASL_PLAINTEXT listener");
    require_python_modules(&["confluent_kafka"], "pip install confluent-kafka");
    let args = vec![
        r#"{"security.protocol": "sasl_plaintext", "sasl.mechanism": "PLAIN", "sasl.username": "alice", "sasl.password": "alice-secret"}"#.into(),
        "reports-daily".into(),
        "salaries".into(),
        "reports-readers".into(),
        "2".into(),
    ];
    python_session("acl_session.py", sasl.clone(), args, 120).run(&broker.log_tail());

    let alice = [
        ("security.protocol", "SASL_PLAINTEXT".to_string()),
        ("sasl.mechanisms", "PLAIN".to_string()),
        ("sasl.username", "alice".to_string()),
        ("sasl.password", "alice-secret".to_string()),
    ];
    let run_kcat = |topic: &str| {
        let args = [
            "-C",
            "-t",
            topic,
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            "%s\n",
        ];
        kcat_output(&sasl, &alice, &args, None, 60)
    };
    let read = run_kcat("reports-daily");
    assert!(
        read.status.success(),
        "kcat as alice could not read reports-daily: {}",
        String::from_utf8_lossy(&read.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&read.stdout), "r1\nr2\n");
    let refused = run_kcat("salaries");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("authorization failed"),
        "kcat as alice on salaries must fail with Kafka's authorization error, got {:?}: {stderr}",
        refused.status
    );
}
