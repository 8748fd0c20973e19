//! Finalized features (KIP-584 in KRaft form): a broker formatted with `ironlog format
//! --release-version 3.9` runs at metadata.version 3.9-IV0 (21) — ApiVersions says so —
//! until UpdateFeatures moves it; the levels survive a restart. Refusals are checked with
//! raw requests, each answered INVALID_UPDATE_VERSION with Kafka's sentence and changing
//! nothing: an unknown feature, a level this build lacks, a downgrade without its type, a
//! metadata.version downgrade across a format change, and a level a registered broker does
//! not support (a broker registered by hand on the controller listener, with 3.9's
//! range). validate_only checks without writing. (Kafka's own kafka-features tool runs in
//! tests/java_clients.rs.) A broker that formats itself starts at `bootstrap.release.version`.
//! group.version 0 turns the consumer rebalance protocol off, as in Kafka 4.1.
//! kraft.version is the quorum's (KIP-853): finalized 1 on a dynamic quorum, absent (0) on a
//! static one, supported 0-1 on both; UpdateFeatures keeps it where it is (no downgrade, no
//! upgrade of static voters — Kafka's refusals).
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use kafka_protocol::messages::broker_registration_request::{
    Feature as RegistrationFeature, Listener as RegistrationListener,
};
use kafka_protocol::messages::update_features_request::FeatureUpdateKey;
use kafka_protocol::messages::{
    ApiVersionsRequest, BrokerId, BrokerRegistrationRequest, UnregisterBrokerRequest,
    UpdateFeaturesRequest, UpdateFeaturesResponse,
};
use kafka_protocol::protocol::StrBytes;

const CLUSTER_ID: &str = "f3Atur3s-Test-ClusterQ";
const INVALID_UPDATE_VERSION: i16 = 95;
const UNSUPPORTED_VERSION: i16 = 35;
const UPGRADE: i8 = 1;
const SAFE_DOWNGRADE: i8 = 2;

/// `ironlog format` of `data` with `spec`'s settings and `args`; panics unless it succeeds.
fn format(spec: &BrokerSpec, data: &Path, args: &[&str]) {
    let mut line = spec.command_in(data).args();
    line[0] = "format".to_string();
    let output = Command::new(IRONLOG_BINARY)
        .args(&line)
        .args(args)
        .output()
        .expect("the ironlog binary runs");
    assert!(
        output.status.success(),
        "format {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The finalized levels and their epoch, as ApiVersions answers them.
fn finalized(addr: &str) -> (BTreeMap<String, i16>, i64) {
    let response = RawClient::connect(addr).expect_call(
        3,
        &ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("ironlog-test"))
            .with_client_software_version(StrBytes::from_static_str("1")),
        "ApiVersions",
    );
    let levels = response
        .finalized_features
        .iter()
        .map(|f| {
            assert_eq!(
                f.min_version_level, f.max_version_level,
                "a finalized feature has one level"
            );
            (f.name.to_string(), f.max_version_level)
        })
        .collect();
    (levels, response.finalized_features_epoch)
}

fn levels(pairs: &[(&str, i16)]) -> BTreeMap<String, i16> {
    pairs.iter().map(|(n, l)| (n.to_string(), *l)).collect()
}

fn update_request(updates: &[(&str, i16, i8)], validate_only: bool) -> UpdateFeaturesRequest {
    UpdateFeaturesRequest::default()
        .with_feature_updates(
            updates
                .iter()
                .map(|(name, level, upgrade_type)| {
                    FeatureUpdateKey::default()
                        .with_feature(StrBytes::from_string(name.to_string()))
                        .with_max_version_level(*level)
                        .with_upgrade_type(*upgrade_type)
                })
                .collect(),
        )
        .with_validate_only(validate_only)
}

fn update(addr: &str, updates: &[(&str, i16, i8)], validate_only: bool) -> UpdateFeaturesResponse {
    RawClient::connect(addr).expect_call(
        1,
        &update_request(updates, validate_only),
        "UpdateFeatures",
    )
}

/// UpdateFeatures is refused with INVALID_UPDATE_VERSION, saying `expected`, and nothing
/// changes.
fn assert_refused(addr: &str, updates: &[(&str, i16, i8)], expected: &str) {
    let before = finalized(addr).0;
    let response = update(addr, updates, false);
    let message = response
        .error_message
        .as_ref()
        .map(|m| m.to_string())
        .unwrap_or_default();
    assert_eq!(
        response.error_code, INVALID_UPDATE_VERSION,
        "{updates:?} was not refused as INVALID_UPDATE_VERSION: {message}"
    );
    assert!(
        message.starts_with(
            "The update failed for all features since the following feature had an error: "
        ) && message.contains(expected),
        "{updates:?}: expected a message saying {expected:?}, got {message:?}"
    );
    assert!(
        response.results.is_empty(),
        "a refusal has no per-feature results"
    );
    assert_eq!(
        finalized(addr).0,
        before,
        "a refused update changed the levels"
    );
}

#[test]
fn a_broker_formatted_at_3_9_runs_there_until_updated_and_bad_updates_change_nothing() {
    let dir = TestDir::new("ironlog-features-").expect("a temp dir");
    let data = dir.path().join("data");
    let spec = broker_spec().set("log.dirs", &data.display().to_string());
    format(
        &spec,
        &data,
        &["--cluster-id", CLUSTER_ID, "--release-version", "3.9"],
    );
    let mut broker = spec.start();
    let addr = broker.bootstrap().to_string();
    let (at_start, epoch_at_start) = finalized(&addr);
    assert_eq!(
        at_start,
        levels(&[("metadata.version", 21)]),
        "a cluster formatted at 3.9 runs at 3.9-IV0 without group.version"
    );

    assert_refused(
        &addr,
        &[("no.such.feature", 1, UPGRADE)],
        "Invalid update version 1 for feature no.such.feature. Local controller 1 does not support this feature.",
    );
    assert_refused(
        &addr,
        &[("metadata.version", 99, UPGRADE)],
        "Local controller 1 only supports versions 7-27",
    );
    assert_refused(
        &addr,
        &[("metadata.version", 20, UPGRADE)],
        "Can't downgrade the version of this feature without setting the upgrade type",
    );
    assert_refused(
        &addr,
        &[("transaction.version", 2, UPGRADE)],
        "does not support this feature",
    );
    // One bad update refuses the good one beside it.
    assert_refused(
        &addr,
        &[
            ("metadata.version", 27, UPGRADE),
            ("group.version", 9, UPGRADE),
        ],
        "only supports versions 0-1",
    );

    let checked = update(&addr, &[("metadata.version", 27, UPGRADE)], true);
    assert_eq!(checked.error_code, 0, "validate_only of a good upgrade");
    assert_eq!(
        finalized(&addr).0,
        at_start,
        "validate_only changed the levels"
    );

    let upgraded = RawClient::connect(&addr).expect_call(
        2,
        &update_request(
            &[
                ("metadata.version", 27, UPGRADE),
                ("group.version", 1, UPGRADE),
            ],
            false,
        ),
        "UpdateFeatures",
    );
    assert_eq!(
        (upgraded.error_code, upgraded.results.len()),
        (0, 0),
        "v2 answers an upgrade without per-feature results: {:?}",
        upgraded.error_message
    );
    let (now, epoch) = finalized(&addr);
    assert_eq!(
        now,
        levels(&[("group.version", 1), ("metadata.version", 27)])
    );
    assert!(epoch > epoch_at_start, "the finalized epoch moves on");

    // 4.0-IV1 changed the metadata format: no way back below it.
    assert_refused(
        &addr,
        &[("metadata.version", 21, SAFE_DOWNGRADE)],
        "Invalid metadata.version 21. Refusing to perform the requested downgrade because it might delete metadata information.",
    );
    let downgraded = update(&addr, &[("group.version", 0, SAFE_DOWNGRADE)], false);
    assert_eq!(downgraded.error_code, 0, "{:?}", downgraded.error_message);
    assert_eq!(
        downgraded.results.len(),
        1,
        "v1 lists each feature's result"
    );

    broker.restart();
    assert_eq!(
        finalized(broker.bootstrap()).0,
        levels(&[("metadata.version", 27)]),
        "the levels are in the metadata log and survive a restart"
    );
}

/// No format step: `bootstrap.release.version` is what a broker that formats itself on
/// its first start bootstraps at (the operator's `spec.metadataVersion` on a new cluster),
/// and only then — once the log exists the finalized levels are the log's.
#[test]
fn a_broker_that_formats_itself_starts_at_its_bootstrap_release_version() {
    let mut broker = broker_spec()
        .set("bootstrap.release.version", "3.9-IV0")
        .start();
    let addr = broker.bootstrap().to_string();
    assert_eq!(
        finalized(&addr).0,
        levels(&[("metadata.version", 21)]),
        "a first start with bootstrap.release.version 3.9-IV0 runs at 3.9-IV0 without group.version"
    );
    let upgraded = update(&addr, &[("metadata.version", 27, UPGRADE)], false);
    assert_eq!(upgraded.error_code, 0, "{:?}", upgraded.error_message);
    broker.restart();
    assert_eq!(
        finalized(broker.bootstrap()).0,
        levels(&[("metadata.version", 27)]),
        "a restart keeps the log's levels whatever bootstrap.release.version says"
    );
}

#[test]
fn a_registered_broker_that_lacks_a_level_blocks_the_upgrade_and_an_old_one_cannot_join_above_its_range(
) {
    let cluster = cluster_spec(1)
        .formatted_with(&["--cluster-id", CLUSTER_ID, "--release-version", "3.9"])
        .start();
    let addr = cluster.node(1).bootstrap().to_string();
    let controller = format!(
        "127.0.0.1:{}",
        cluster
            .ports(1)
            .controller
            .expect("node 1's controller port")
    );
    // A broker of a 3.9 build: metadata.version up to 21 only.
    let registration = |max_metadata_version: i16| {
        BrokerRegistrationRequest::default()
            .with_broker_id(BrokerId(7))
            .with_cluster_id(StrBytes::from_static_str(CLUSTER_ID))
            .with_incarnation_id(uuid::Uuid::new_v4())
            .with_listeners(vec![RegistrationListener::default()
                .with_name(StrBytes::from_static_str("PLAINTEXT"))
                .with_host(StrBytes::from_static_str("127.0.0.1"))
                .with_port(1)
                .with_security_protocol(0)])
            .with_features(vec![RegistrationFeature::default()
                .with_name(StrBytes::from_static_str("metadata.version"))
                .with_min_supported_version(7)
                .with_max_supported_version(max_metadata_version)])
    };
    let registered =
        RawClient::connect(&controller).expect_call(4, &registration(21), "BrokerRegistration");
    assert_eq!(
        registered.error_code, 0,
        "a 3.9 broker joins a cluster at 3.9"
    );
    assert_refused(
        &addr,
        &[("metadata.version", 27, UPGRADE)],
        "Invalid update version 27 for feature metadata.version. Broker 7 only supports versions 7-21",
    );

    // Once it is gone the upgrade goes through, and a 3.9 broker can no longer join.
    let unregistered = RawClient::connect(&addr).expect_call(
        0,
        &UnregisterBrokerRequest::default().with_broker_id(BrokerId(7)),
        "UnregisterBroker",
    );
    assert_eq!(unregistered.error_code, 0);
    let upgraded = update(&addr, &[("metadata.version", 27, UPGRADE)], false);
    assert_eq!(upgraded.error_code, 0, "{:?}", upgraded.error_message);
    wait_until(
        Duration::from_secs(30),
        "metadata.version 27 in ApiVersions",
        || finalized(&addr).0.get("metadata.version") == Some(&27),
    );
    let refused =
        RawClient::connect(&controller).expect_call(4, &registration(21), "BrokerRegistration");
    assert_eq!(
        refused.error_code, UNSUPPORTED_VERSION,
        "a broker without the finalized metadata.version must not register"
    );
}

/// group.version gates the consumer rebalance protocol (KIP-848) as in Kafka 4.1: at 0 (a
/// cluster at 3.9) ConsumerGroupHeartbeat is answered UNSUPPORTED_VERSION before anything
/// else (ConsumerGroupDescribe too, for every group), and a librdkafka `group.protocol=consumer` consumer gets that error instead of a
/// group; once UpdateFeatures finalizes group.version 1 the same consumer joins and reads.
#[test]
fn group_version_0_refuses_the_consumer_protocol_and_1_allows_it() {
    use kafka_protocol::messages::{
        ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, ConsumerGroupHeartbeatRequest,
        ConsumerGroupHeartbeatResponse, GroupId, TopicName,
    };
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;

    let broker = broker_spec()
        .set("bootstrap.release.version", "3.9")
        .set("group.initial.rebalance.delay.ms", "0")
        .start();
    let addr = broker.bootstrap().to_string();
    assert_eq!(
        finalized(&addr).0,
        levels(&[("metadata.version", 21)]),
        "3.9 has no group.version"
    );
    let topic = broker.new_topic("gated", 1);
    let producer = broker.producer();
    broker.produce_one(&producer, &topic, 0, b"k", b"v");

    let join = || {
        let mut req = ConsumerGroupHeartbeatRequest::default();
        req.group_id = GroupId(StrBytes::from_static_str("gated-group"));
        req.member_id = StrBytes::from_static_str("m-1");
        req.member_epoch = 0;
        req.rebalance_timeout_ms = 30_000;
        req.subscribed_topic_names = Some(vec![TopicName(StrBytes::from_string(topic.clone()))]);
        req.topic_partitions = Some(Vec::new());
        req
    };
    let refused: ConsumerGroupHeartbeatResponse =
        RawClient::connect(&addr).expect_call(0, &join(), "ConsumerGroupHeartbeat");
    assert_eq!(
        (
            refused.error_code,
            refused.error_message.as_ref().map(|m| m.to_string())
        ),
        (UNSUPPORTED_VERSION, None),
        "group.version 0: ConsumerGroupHeartbeat is UNSUPPORTED_VERSION alone"
    );

    let described: ConsumerGroupDescribeResponse = RawClient::connect(&addr).expect_call(
        0,
        &ConsumerGroupDescribeRequest::default().with_group_ids(vec![
            GroupId(StrBytes::from_static_str("grp-1")),
            GroupId(StrBytes::from_static_str("grp-2")),
        ]),
        "ConsumerGroupDescribe",
    );
    assert_eq!(
        described
            .groups
            .iter()
            .map(|g| (g.group_id.to_string(), g.error_code, g.members.len()))
            .collect::<Vec<_>>(),
        vec![
            ("grp-1".to_string(), UNSUPPORTED_VERSION, 0),
            ("grp-2".to_string(), UNSUPPORTED_VERSION, 0)
        ],
        "group.version 0: ConsumerGroupDescribe is UNSUPPORTED_VERSION for every group"
    );

    let consumer = |group: &str| -> BaseConsumer {
        let consumer: BaseConsumer = broker
            .client_config()
            .set("group.id", group)
            .set("group.protocol", "consumer")
            .set("auto.offset.reset", "earliest")
            .create()
            .expect("a consumer-protocol consumer");
        consumer.subscribe(&[topic.as_str()]).expect("subscribe");
        consumer
    };
    let refused_consumer = consumer("gated-rdkafka");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let error = loop {
        match refused_consumer.poll(Duration::from_millis(200)) {
            Some(Err(e)) => break e,
            Some(Ok(m)) => panic!(
                "group.version 0: a consumer-protocol consumer read offset {}",
                m.offset()
            ),
            None => assert!(
                std::time::Instant::now() < deadline,
                "group.version 0: the consumer-protocol consumer got no error within 30 s"
            ),
        }
    };
    assert_eq!(
        error.rdkafka_error_code(),
        Some(rdkafka::types::RDKafkaErrorCode::UnsupportedVersion),
        "group.version 0: librdkafka is told UNSUPPORTED_VERSION: {error}"
    );
    assert!(
        error.to_string().contains("Fatal"),
        "librdkafka gives up on the group, as with Kafka at group.version 0: {error}"
    );
    drop(refused_consumer);

    let upgraded = update(&addr, &[("group.version", 1, UPGRADE)], false);
    assert_eq!(upgraded.error_code, 0, "{:?}", upgraded.error_message);
    let allowed_consumer = consumer("allowed-rdkafka");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match allowed_consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                assert_eq!(m.payload(), Some(&b"v"[..]));
                break;
            }
            // retriable ones only, while the coordinator loads
            Some(Err(e)) => assert!(
                e.rdkafka_error_code()
                    != Some(rdkafka::types::RDKafkaErrorCode::UnsupportedVersion),
                "group.version 1: still refused: {e}"
            ),
            None => {}
        }
        assert!(
            std::time::Instant::now() < deadline,
            "group.version 1: the consumer-protocol consumer read nothing within 60 s"
        );
    }
}

/// The supported range ApiVersions gives for `name`.
fn supported(addr: &str, name: &str) -> Option<(i16, i16)> {
    let response = RawClient::connect(addr).expect_call(
        3,
        &ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("ironlog-test"))
            .with_client_software_version(StrBytes::from_static_str("1")),
        "ApiVersions",
    );
    response
        .supported_features
        .iter()
        .find(|f| f.name.as_str() == name)
        .map(|f| (f.min_version, f.max_version))
}

#[test]
fn kraft_version_is_1_on_a_dynamic_quorum_and_0_on_static_voters() {
    let mut static_broker = broker_spec().start();
    let addr = static_broker.bootstrap().to_string();
    assert_eq!(supported(&addr, "kraft.version"), Some((0, 1)));
    assert_eq!(
        finalized(&addr).0.get("kraft.version"),
        None,
        "static voters run at kraft.version 0, which ApiVersions leaves out"
    );
    assert_refused(
        &addr,
        &[("kraft.version", 1, UPGRADE)],
        "Invalid upgrade of kraft.version to 1 because not all of the voters support it",
    );
    let same = update(&addr, &[("kraft.version", 0, SAFE_DOWNGRADE)], false);
    assert_eq!(same.error_code, 0, "the level it has: {same:?}");
    static_broker.stop();

    let dynamic = ClusterSpec::new(IRONLOG_BINARY, 1).dynamic_quorum().start();
    let addr = dynamic.node(1).bootstrap().to_string();
    let controller = dynamic.controller_address(1);
    for at in [&addr, &controller] {
        assert_eq!(supported(at, "kraft.version"), Some((0, 1)), "{at}");
        assert_eq!(
            finalized(at).0.get("kraft.version"),
            Some(&1),
            "a dynamic quorum is finalized at kraft.version 1 ({at})"
        );
    }
    let (before, epoch) = finalized(&addr);
    let same = update(&addr, &[("kraft.version", 1, UPGRADE)], false);
    assert_eq!(same.error_code, 0, "the level it has: {same:?}");
    assert_eq!(
        finalized(&addr),
        (before, epoch),
        "kraft.version is no metadata record: nothing was written"
    );
    assert_refused(
        &addr,
        &[("kraft.version", 0, SAFE_DOWNGRADE)],
        "Invalid update version 0 for feature kraft.version. Can't downgrade the version of this feature.",
    );
    assert_refused(
        &addr,
        &[("kraft.version", 2, UPGRADE)],
        "Local controller 1 only supports versions 0-1",
    );
}
