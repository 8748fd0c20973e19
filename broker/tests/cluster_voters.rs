//! A dynamic metadata quorum (KIP-853: `controller.quorum.bootstrap.servers`, AddRaftVoter,
//! RemoveRaftVoter) with real broker processes and real rdkafka clients:
//! - three combined nodes, node 1 formatted `--standalone` (the one voter), nodes 2 and 3
//!   `--no-initial-controllers` (observers): both are added as voters while an RF 3
//!   acks=all load runs; the active controller is killed (-9) and the new voters elect a
//!   leader; one voter is removed (forwarded by a broker), and the membership — voters and
//!   observers — survives restarts of every node; bad requests (a duplicate voter, an
//!   unknown node, a wrong directory id, removing a non-voter or the last voter) get
//!   Kafka's error and change nothing; nothing acknowledged is lost;
//! - a node that is its own only bootstrap server (Kafka's shipped server.properties) starts
//!   as the first voter without a format;
//! - a voter restarted at another controller endpoint is reached there (the role of
//!   Kafka's UpdateRaftVoter);
//! - two dedicated controllers and two brokers: the brokers follow as observers while a
//!   controller is added and the leader removes itself, handing the quorum over;
//! - a static quorum (`controller.quorum.voters`) refuses voter changes with
//!   UNSUPPORTED_VERSION (Kafka's kraft.version 0);
//! - the controller listener answers DescribeCluster for the controllers (KIP-919);
//! - a voter whose data dir was wiped (kill -9) comes back under a new directory id: an
//!   observer of that replica key while the old voter stays (never that voter), and a voter
//!   again once the old one is removed and the new one added;
//! - UpdateRaftVoter (API 82) on the controller listener only: Kafka's error for a stale or
//!   future epoch, a missing directory id, a kraft.version range without the quorum's, no
//!   controller listener, an unknown voter or directory id, another cluster id; a voter's
//!   new endpoint taken into the membership (DescribeQuorum shows it); a static quorum's
//!   voter answered NONE;
//! - three combined nodes formatted `--initial-controllers` (each entry with its controller
//!   endpoint and directory id) form a quorum of those three voters, under those directory
//!   ids, at kraft.version 1;
//! - both settings at once, `ironlog format` of a dynamic controller without
//!   `--standalone` / `--initial-controllers` / `--no-initial-controllers`, two of them, or a
//!   bad `--initial-controllers` (malformed, this node missing, an id twice) are refused
//!   before anything is written.
mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use common::*;
use kafka_protocol::messages::add_raft_voter_request::Listener;
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::{
    AddRaftVoterRequest, DescribeQuorumRequest, RemoveRaftVoterRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

const WAIT: Duration = Duration::from_secs(90);
const PARTITIONS: usize = 3;
const CLUSTER_ID: &str = "dynamicQuorumCluster1A";
const DUPLICATE_VOTER: i16 = 126;
const VOTER_NOT_FOUND: i16 = 127;
const REQUEST_TIMED_OUT: i16 = 7;
const UNSUPPORTED_VERSION: i16 = 35;
const UNSUPPORTED_ENDPOINT_TYPE: i16 = 115;

/// Three combined nodes of a dynamic quorum: node 1 its first voter, 2 and 3 observers.
fn dynamic_cluster_spec() -> ClusterSpec {
    replicated(ClusterSpec::dynamic_standalone(
        IRONLOG_BINARY,
        3,
        CLUSTER_ID,
    ))
    .set("transaction.state.log.replication.factor", "3")
    .set("transaction.state.log.min.isr", "2")
}

/// Kafka's `Uuid.fromString`: 22 characters of URL-safe base64 without padding.
fn kafka_uuid(text: &str) -> uuid::Uuid {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    assert_eq!(text.len(), 22, "a Kafka uuid has 22 characters: {text}");
    let mut bits: u32 = 0;
    let mut count = 0;
    let mut bytes = Vec::with_capacity(16);
    for c in text.bytes() {
        let value = ALPHABET
            .iter()
            .position(|a| *a == c)
            .unwrap_or_else(|| panic!("{text} is not base64url")) as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            bytes.push((bits >> count) as u8);
        }
    }
    uuid::Uuid::from_slice(&bytes[..16]).expect("16 bytes")
}

/// The directory id of node `id`'s metadata log dir, as its `meta.properties` has it.
fn directory_id(cluster: &TestCluster, id: i32) -> uuid::Uuid {
    let path = cluster.node(id).data_dir().join("meta.properties");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix("directory.id="))
        .unwrap_or_else(|| panic!("{} has no directory.id:\n{text}", path.display()));
    kafka_uuid(value.trim())
}

/// AddRaftVoter for node `id` (directory `directory`, its controller endpoint) sent to
/// `addr`; returns the error code.
fn add_voter(cluster: &TestCluster, addr: &str, id: i32, directory: uuid::Uuid) -> i16 {
    add_voter_at(cluster, addr, id, directory, id)
}

/// [`add_voter`] naming node `endpoint_of`'s controller endpoint.
fn add_voter_at(
    cluster: &TestCluster,
    addr: &str,
    id: i32,
    directory: uuid::Uuid,
    endpoint_of: i32,
) -> i16 {
    let (host, port) = cluster
        .controller_address(endpoint_of)
        .rsplit_once(':')
        .map(|(h, p)| (h.to_string(), p.parse::<u16>().expect("a port")))
        .expect("host:port");
    let request = AddRaftVoterRequest::default()
        .with_cluster_id(Some(StrBytes::from_static_str(CLUSTER_ID)))
        .with_timeout_ms(30_000)
        .with_voter_id(id)
        .with_voter_directory_id(directory)
        .with_listeners(vec![Listener::default()
            .with_name(StrBytes::from_static_str("CONTROLLER"))
            .with_host(StrBytes::from_string(host))
            .with_port(port)]);
    let response = RawClient::connect(addr).expect_call(0, &request, "AddRaftVoter");
    if response.error_code != 0 {
        eprintln!(
            "AddRaftVoter {id}: error {} {:?}",
            response.error_code, response.error_message
        );
    }
    response.error_code
}

/// RemoveRaftVoter for node `id` (directory `directory`) sent to `addr`; the error code.
fn remove_voter(addr: &str, id: i32, directory: uuid::Uuid) -> i16 {
    let request = RemoveRaftVoterRequest::default()
        .with_cluster_id(Some(StrBytes::from_static_str(CLUSTER_ID)))
        .with_voter_id(id)
        .with_voter_directory_id(directory);
    let response = RawClient::connect(addr).expect_call(0, &request, "RemoveRaftVoter");
    if response.error_code != 0 {
        eprintln!(
            "RemoveRaftVoter {id}: error {} {:?}",
            response.error_code, response.error_message
        );
    }
    response.error_code
}

#[test]
fn a_standalone_controller_grows_to_three_voters_fails_over_and_shrinks_again() {
    let mut cluster = dynamic_cluster_spec().start();
    // the standalone controller votes alone; the others follow as observers
    let start = await_quorum(&cluster, 2, &[1], &[2, 3]);
    let dirs: Vec<uuid::Uuid> = (1..=3).map(|id| directory_id(&cluster, id)).collect();
    let expected: BTreeSet<(i32, uuid::Uuid)> =
        (2..=3).map(|id| (id, dirs[id as usize - 1])).collect();
    assert_eq!(
        start.observers, expected,
        "observers are described with the directory ids of their meta.properties"
    );

    let topic = topic_name("voters");
    cluster.create_replicated_topic(&topic, PARTITIONS as i32, 3, WAIT);
    let load = ProduceLoad::start_idempotent(&cluster, &topic, Duration::from_secs(600));
    load.await_acks(100, WAIT, "the load to get its first acknowledgements");

    // bad requests change nothing
    let leader = cluster.controller_address(1);
    assert_eq!(
        add_voter(&cluster, &leader, 1, dirs[0]),
        DUPLICATE_VOTER,
        "adding the voter there is"
    );
    assert_eq!(
        add_voter_at(&cluster, &leader, 9, uuid::Uuid::new_v4(), 3),
        REQUEST_TIMED_OUT,
        "adding a node that is no observer (Kafka: it never catches up)"
    );
    assert_eq!(
        add_voter(&cluster, &leader, 2, uuid::Uuid::new_v4()),
        REQUEST_TIMED_OUT,
        "adding observer 2 under another directory id (Kafka: no such observer catches up)"
    );
    assert_eq!(
        remove_voter(&leader, 1, dirs[0]),
        VOTER_NOT_FOUND,
        "removing the last voter"
    );
    assert_eq!(
        remove_voter(&leader, 2, dirs[1]),
        VOTER_NOT_FOUND,
        "removing an observer"
    );
    assert_eq!(
        await_quorum(&cluster, 3, &[1], &[2, 3]).leader,
        1,
        "the refused requests changed nothing"
    );

    // both observers become voters, one change at a time
    assert_eq!(add_voter(&cluster, &leader, 2, dirs[1]), 0, "adding node 2");
    await_quorum(&cluster, 2, &[1, 2], &[3]);
    assert_eq!(add_voter(&cluster, &leader, 3, dirs[2]), 0, "adding node 3");
    let grown = await_quorum(&cluster, 3, &[1, 2, 3], &[]);
    let all: BTreeSet<(i32, uuid::Uuid)> = (1..=3).map(|id| (id, dirs[id as usize - 1])).collect();
    assert_eq!(grown.voters, all, "voters with their directory ids");
    load.await_acks(100, WAIT, "acknowledgements after the voters were added");

    // the new voters elect a leader when the old one dies
    cluster.kill9_node(1);
    let mut new_leader = -1;
    wait_until(WAIT, "a leader other than the killed node 1", || {
        new_leader = describe_quorum(&cluster, 2).map_or(-1, |q| q.leader);
        new_leader == 2 || new_leader == 3
    });
    load.await_acks(100, WAIT, "acknowledgements after node 1 was killed");
    cluster.restart_node(1);
    cluster.wait_ready(WAIT);
    await_quorum(&cluster, 1, &[1, 2, 3], &[]);

    // a follower voter is removed, through a broker (forwarded to the active controller)
    let leader_now = describe_quorum(&cluster, 1).map_or(-1, |q| q.leader);
    let removed = [1, 2, 3]
        .into_iter()
        .find(|id| *id != leader_now)
        .expect("a follower");
    let remaining: Vec<i32> = (1..=3).filter(|id| *id != removed).collect();
    let via = remaining[0];
    assert_eq!(
        remove_voter(
            cluster.node(via).bootstrap(),
            removed,
            dirs[removed as usize - 1]
        ),
        0,
        "removing voter {removed} through node {via}'s client listener"
    );
    await_quorum(&cluster, via, &remaining, &[removed]);
    assert_eq!(
        remove_voter(
            cluster.node(via).bootstrap(),
            removed,
            dirs[removed as usize - 1]
        ),
        VOTER_NOT_FOUND,
        "removing voter {removed} a second time"
    );
    load.await_acks(100, WAIT, "acknowledgements after a voter was removed");

    // the membership is the metadata log's: it survives restarts of every node
    let outcome = load.stop();
    cluster.restart_all();
    let after = await_quorum(&cluster, removed, &remaining, &[removed]);
    assert!(
        remaining.contains(&after.leader),
        "leader {} after the restart is one of the voters {remaining:?}",
        after.leader
    );
    cluster.await_full_isr_on_running(&topic, PARTITIONS, WAIT);
    check_load_outcome(
        &cluster,
        &topic,
        PARTITIONS as i32,
        &outcome,
        "after voter changes, a controller kill -9 and restarts",
    );
}

/// Dedicated controllers of a dynamic quorum and broker-only nodes: the brokers join
/// through the bootstrap servers and follow as observers; the leader hands the quorum to
/// an added controller by removing itself, and the brokers keep serving from the new one.
#[test]
fn brokers_follow_a_dynamic_quorum_whose_leader_removes_itself() {
    let cluster = ClusterSpec::split(IRONLOG_BINARY, 2, 2)
        .dynamic_quorum()
        .node_formatted_with(1, &["--cluster-id", CLUSTER_ID, "--standalone"])
        .node_formatted_with(2, &["--cluster-id", CLUSTER_ID, "--no-initial-controllers"])
        .set("default.replication.factor", "2")
        .set("min.insync.replicas", "1")
        .set("offsets.topic.replication.factor", "2")
        .set("broker.session.timeout.ms", "3000")
        .set("broker.heartbeat.interval.ms", "300")
        .start();
    await_quorum(&cluster, 3, &[1], &[2, 3, 4]);
    let topic = topic_name("dedicated");
    cluster.create_replicated_topic(&topic, 2, 2, WAIT);
    let load = ProduceLoad::start_idempotent(&cluster, &topic, Duration::from_secs(600));
    load.await_acks(50, WAIT, "the load to get its first acknowledgements");

    let leader = cluster.controller_address(1);
    assert_eq!(
        add_voter(&cluster, &leader, 2, directory_id(&cluster, 2)),
        0,
        "adding controller 2"
    );
    await_quorum(&cluster, 3, &[1, 2], &[3, 4]);
    assert_eq!(
        remove_voter(&leader, 1, directory_id(&cluster, 1)),
        0,
        "the leader removing itself"
    );
    await_quorum(&cluster, 4, &[2], &[1, 3, 4]);
    // the removed leader steps down once the change commits; the voter left is elected
    wait_until(WAIT, "controller 2 to lead the quorum", || {
        describe_quorum(&cluster, 4).is_some_and(|q| q.leader == 2)
    });
    load.await_acks(50, WAIT, "acknowledgements after the leader removed itself");
    // admin requests reach the new controller
    let later = topic_name("after-handover");
    cluster.create_replicated_topic(&later, 1, 2, WAIT);
    let outcome = load.stop();
    check_load_outcome(
        &cluster,
        &topic,
        2,
        &outcome,
        "after the quorum moved to another controller",
    );
}

/// `host:port` DescribeQuorum's `nodes` gives for voter `id` (through `via`).
fn described_endpoint(cluster: &TestCluster, via: i32, id: i32) -> Option<String> {
    let request = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
        .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
    let response = cluster.node(via).raw().call(2, &request).ok()?;
    let node = response.nodes.iter().find(|n| n.node_id.0 == id)?;
    let listener = node.listeners.first()?;
    Some(format!("{}:{}", listener.host, listener.port))
}

/// A voter that restarts on another controller port tells the leader (Kafka's
/// UpdateRaftVoter): DescribeQuorum shows the new endpoint, and the leader reaches it there
/// — with the third voter killed, commits need it.
#[test]
fn a_voter_restarted_at_another_endpoint_is_reached_there() {
    let mut cluster = dynamic_cluster_spec().start();
    await_quorum(&cluster, 1, &[1], &[2, 3]);
    let leader = cluster.controller_address(1);
    for id in [2, 3] {
        assert_eq!(
            add_voter(&cluster, &leader, id, directory_id(&cluster, id)),
            0,
            "adding node {id}"
        );
    }
    await_quorum(&cluster, 1, &[1, 2, 3], &[]);

    let moved = 3;
    cluster.stop_node(moved);
    let port = allocate_port("127.0.0.1".parse().expect("an address")).expect("a free port");
    let client = cluster.node(moved).bootstrap().to_string();
    cluster.node_mut(moved).set_override(
        "listeners",
        &format!("PLAINTEXT://{client},CONTROLLER://127.0.0.1:{port}"),
    );
    cluster.restart_node(moved);
    let endpoint = format!("127.0.0.1:{port}");
    wait_until(WAIT, "DescribeQuorum to show node 3's new endpoint", || {
        described_endpoint(&cluster, 1, moved).as_deref() == Some(endpoint.as_str())
    });

    // keep the leader and the moved voter: every commit now needs the moved one
    let leader_now = describe_quorum(&cluster, 1).map_or(-1, |q| q.leader);
    assert_ne!(leader_now, -1, "a leader");
    let killed = [1, 2, 3]
        .into_iter()
        .find(|id| *id != leader_now && *id != moved)
        .expect("a voter to kill");
    cluster.kill9_node(killed);
    let via = [1, 2, 3]
        .into_iter()
        .find(|id| *id != killed)
        .expect("a running node");
    let topic = topic_name("after-move");
    wait_until(
        WAIT,
        "a topic to be created with two of three voters",
        || {
            let results = block_on(cluster.admin().create_topics(
                &[rdkafka::admin::NewTopic::new(
                    &topic,
                    1,
                    rdkafka::admin::TopicReplication::Fixed(1),
                )],
                &admin_options().operation_timeout(Some(Duration::from_secs(10))),
            ));
            // (a retry after a timed-out attempt that did commit finds the topic there)
            matches!(
                results.as_deref(),
                Ok([Ok(_)])
                    | Ok([Err((
                        _,
                        rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists
                    ))])
            )
        },
    );
    assert!(
        cluster.partitions_via(via, &topic).is_some(),
        "node {via} knows the topic committed with the moved voter"
    );
}

/// Kafka's shipped server.properties: a combined node whose one bootstrap server is its own
/// controller listener, not formatted, starts as the dynamic quorum's first voter (under the
/// directory id its meta.properties then has) and is still that after a restart.
#[test]
fn a_node_that_is_its_own_bootstrap_server_starts_as_the_first_voter() {
    let mut cluster = ClusterSpec::new(IRONLOG_BINARY, 1).dynamic_quorum().start();
    let quorum = await_quorum(&cluster, 1, &[1], &[]);
    assert_eq!(
        quorum.voters,
        BTreeSet::from([(1, directory_id(&cluster, 1))]),
        "the voter under its meta.properties directory id"
    );
    cluster.restart_node(1);
    cluster.wait_ready(WAIT);
    let again = await_quorum(&cluster, 1, &[1], &[]);
    assert_eq!(
        again.voters, quorum.voters,
        "the same voter after a restart"
    );
}

#[test]
fn a_static_quorum_refuses_voter_changes_as_kraft_version_0() {
    let cluster = ClusterSpec::new(IRONLOG_BINARY, 1).start();
    let addr = cluster.controller_address(1);
    // no cluster id (the Java admin client's null): nothing to check it against
    let request = AddRaftVoterRequest::default()
        .with_cluster_id(None)
        .with_timeout_ms(1_000)
        .with_voter_id(2)
        .with_voter_directory_id(uuid::Uuid::new_v4())
        .with_listeners(vec![Listener::default()
            .with_name(StrBytes::from_static_str("CONTROLLER"))
            .with_host(StrBytes::from_static_str("127.0.0.1"))
            .with_port(1)]);
    let response = RawClient::connect(&addr).expect_call(0, &request, "AddRaftVoter");
    assert_eq!(response.error_code, UNSUPPORTED_VERSION, "{response:?}");
    let request = RemoveRaftVoterRequest::default()
        .with_cluster_id(None)
        .with_voter_id(1)
        .with_voter_directory_id(uuid::Uuid::new_v4());
    let response =
        RawClient::connect(cluster.node(1).bootstrap()).expect_call(0, &request, "RemoveRaftVoter");
    assert_eq!(response.error_code, UNSUPPORTED_VERSION, "{response:?}");
}

/// DescribeCluster on the controller listener (KIP-919), what an admin client with
/// `bootstrap.controllers` asks first: the controllers and the active one; brokers are
/// described only by brokers (UNSUPPORTED_ENDPOINT_TYPE).
#[test]
fn the_controller_listener_describes_the_controllers() {
    use kafka_protocol::messages::DescribeClusterRequest;
    let cluster = ClusterSpec::new(IRONLOG_BINARY, 1).start();
    let addr = cluster.controller_address(1);
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    let mut raw = RawClient::connect(&addr);
    let controllers = raw.expect_call(
        2,
        &DescribeClusterRequest::default().with_endpoint_type(2),
        "DescribeCluster",
    );
    assert_eq!(controllers.error_code, 0, "{controllers:?}");
    assert_eq!(controllers.controller_id.0, 1, "{controllers:?}");
    let listed: Vec<(i32, String, i32)> = controllers
        .brokers
        .iter()
        .map(|b| (b.broker_id.0, b.host.to_string(), b.port))
        .collect();
    assert_eq!(
        listed,
        [(1, host.to_string(), port.parse::<i32>().expect("a port"))],
        "the controller at its controller listener"
    );
    let brokers = raw.expect_call(
        2,
        &DescribeClusterRequest::default().with_endpoint_type(1),
        "DescribeCluster",
    );
    assert_eq!(brokers.error_code, UNSUPPORTED_ENDPOINT_TYPE, "{brokers:?}");
}

#[test]
fn voters_and_bootstrap_servers_together_or_an_unflagged_format_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let common = [
        "node.id=1",
        "process.roles=controller",
        "controller.listener.names=CONTROLLER",
        "listeners=CONTROLLER://127.0.0.1:0",
    ];
    let log_dirs = format!("log.dirs={}", dir.path().display());
    let run = |sub: &str, extra: &[&str]| {
        let mut command = Command::new(IRONLOG_BINARY);
        command.arg(sub);
        for o in common.iter().chain([&log_dirs.as_str()]) {
            command.arg("--override").arg(o);
        }
        command.args(extra);
        command.output().expect("run ironlog")
    };
    let both = run(
        "format",
        &[
            "--override",
            "controller.quorum.voters=1@127.0.0.1:9093",
            "--override",
            "controller.quorum.bootstrap.servers=127.0.0.1:9093",
            "--cluster-id",
            CLUSTER_ID,
        ],
    );
    let text =
        String::from_utf8_lossy(&both.stderr).to_string() + &String::from_utf8_lossy(&both.stdout);
    assert!(!both.status.success(), "both settings accepted: {text}");
    assert!(text.contains("mutually exclusive"), "{text}");

    let unflagged = run(
        "format",
        &[
            "--override",
            "controller.quorum.bootstrap.servers=127.0.0.1:9093",
            "--cluster-id",
            CLUSTER_ID,
        ],
    );
    let text = String::from_utf8_lossy(&unflagged.stderr).to_string()
        + &String::from_utf8_lossy(&unflagged.stdout);
    assert!(
        !unflagged.status.success(),
        "format without a topology flag: {text}"
    );
    assert!(text.contains("--standalone"), "{text}");
    assert!(
        !dir.path().join("meta.properties").exists(),
        "a refused format writes nothing"
    );
}

/// Kafka's way to start a quorum of three: each controller formatted with the same
/// `--initial-controllers` list; the voters are those three from the first entry on, with
/// the directory ids the list gave (which their meta.properties hold).
#[test]
fn controllers_formatted_with_initial_controllers_are_its_voters_from_the_start() {
    let mut cluster = replicated(ClusterSpec::dynamic_initial_controllers(
        IRONLOG_BINARY,
        3,
        CLUSTER_ID,
    ))
    .start();
    let quorum = await_quorum(&cluster, 2, &[1, 2, 3], &[]);
    let expected: BTreeSet<(i32, uuid::Uuid)> = (1..=3)
        .map(|id| (id, kafka_uuid(&initial_directory_id(id))))
        .collect();
    assert_eq!(
        quorum.voters, expected,
        "the voters under the directory ids --initial-controllers named"
    );
    for id in 1..=3 {
        assert_eq!(
            directory_id(&cluster, id),
            kafka_uuid(&initial_directory_id(id)),
            "node {id}'s meta.properties has its entry's directory id"
        );
    }
    let finalized = RawClient::connect(cluster.node(1).bootstrap()).expect_call(
        3,
        &kafka_protocol::messages::ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("ironlog-test"))
            .with_client_software_version(StrBytes::from_static_str("1")),
        "ApiVersions",
    );
    assert!(
        finalized
            .finalized_features
            .iter()
            .any(|f| f.name.as_str() == "kraft.version" && f.max_version_level == 1),
        "a dynamic quorum runs at kraft.version 1: {:?}",
        finalized.finalized_features
    );
    let topic = topic_name("initial");
    cluster.create_replicated_topic(&topic, 1, 3, WAIT);
    // any two voters commit: the leader killed, the other two go on
    let leader = quorum.leader;
    cluster.kill9_node(leader);
    let via = (1..=3).find(|id| *id != leader).expect("a node left");
    wait_until(WAIT, "a new leader among the two voters left", || {
        describe_quorum(&cluster, via).is_some_and(|q| q.leader != leader && q.leader > 0)
    });
    cluster.restart_node(leader);
    cluster.wait_ready(WAIT);
    let again = await_quorum(&cluster, leader, &[1, 2, 3], &[]);
    assert_eq!(again.voters, expected, "the same voters after a restart");
}

#[test]
fn bad_initial_controllers_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = [
        "node.id=2".to_string(),
        "process.roles=controller".to_string(),
        "controller.listener.names=CONTROLLER".to_string(),
        "listeners=CONTROLLER://127.0.0.1:0".to_string(),
        "controller.quorum.bootstrap.servers=127.0.0.1:9093".to_string(),
        format!("log.dirs={}", dir.path().display()),
    ];
    let format = |extra: &[&str]| {
        let mut command = Command::new(IRONLOG_BINARY);
        command.arg("format");
        for o in &settings {
            command.arg("--override").arg(o);
        }
        command.args(["--cluster-id", CLUSTER_ID]).args(extra);
        let output = command.output().expect("run ironlog");
        let text = String::from_utf8_lossy(&output.stderr).to_string()
            + &String::from_utf8_lossy(&output.stdout);
        (output.status.success(), text)
    };
    let (one, two, three) = (
        "1@127.0.0.1:9093:AAAAAAAAAAAAAAAAAAAAAQ",
        "2@127.0.0.1:9094:AAAAAAAAAAAAAAAAAAAAAg",
        "3@127.0.0.1:9095:AAAAAAAAAAAAAAAAAAAAAw",
    );
    for (args, expected) in [
        (
            vec![
                "--initial-controllers".to_string(),
                format!("{one},2@127.0.0.1:9094"),
            ],
            "No colon following port could be found.",
        ),
        (
            vec![
                "--initial-controllers".to_string(),
                format!("{one},x@h:1:AAAAAAAAAAAAAAAAAAAAAg"),
            ],
            "Failed to parse node id in dynamic voter string.",
        ),
        (
            vec![
                "--initial-controllers".to_string(),
                format!("{one},{three}"),
            ],
            "this node (node.id 2) is not one of the initial controllers",
        ),
        (
            vec![
                "--initial-controllers".to_string(),
                format!("{one},{two},{}", two.replace("9094", "9096")),
            ],
            "Node id 2 was specified more than once.",
        ),
        (
            vec![
                "--initial-controllers".to_string(),
                format!("{one},{two}"),
                "--standalone".to_string(),
            ],
            "mutually exclusive",
        ),
        (
            vec![
                "--initial-controllers".to_string(),
                format!("{one},{two}"),
                "--feature".to_string(),
                "kraft.version=0".to_string(),
            ],
            "Cannot set kraft.version to 0 if KIP-853 configuration is present.",
        ),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, text) = format(&args);
        assert!(!ok, "{args:?} accepted: {text}");
        assert!(
            text.contains(expected),
            "{args:?}: expected {expected:?} in {text}"
        );
        let written: Vec<_> = std::fs::read_dir(dir.path())
            .expect("the log dir")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(written.is_empty(), "{args:?} wrote {written:?}");
    }
    // the good list formats, node 2's metadata log dir under its entry's directory id
    let (ok, text) = format(&["--initial-controllers", &format!("{one},{two},{three}")]);
    assert!(ok, "{text}");
    let meta =
        std::fs::read_to_string(dir.path().join("meta.properties")).expect("meta.properties");
    assert!(
        meta.contains("directory.id=AAAAAAAAAAAAAAAAAAAAAg"),
        "node 2's directory id from its entry: {meta}"
    );
}

const FENCED_LEADER_EPOCH: i16 = 74;
const UNKNOWN_LEADER_EPOCH: i16 = 75;
const INVALID_REQUEST: i16 = 42;
const INCONSISTENT_CLUSTER_ID: i16 = 104;

/// The current leader epoch, as DescribeQuorum through `via` gives it.
fn leader_epoch(cluster: &TestCluster, via: i32) -> i32 {
    let request = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
        .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
    let response = cluster
        .node(via)
        .raw()
        .expect_call(2, &request, "DescribeQuorum");
    response.topics[0].partitions[0].leader_epoch
}

/// One UpdateRaftVoter to `addr`.
fn update_voter(
    addr: &str,
    cluster_id: Option<&str>,
    epoch: i32,
    id: i32,
    directory: uuid::Uuid,
    listener: (&str, &str, u16),
    kraft_versions: (i16, i16),
) -> kafka_protocol::messages::UpdateRaftVoterResponse {
    use kafka_protocol::messages::update_raft_voter_request::{KRaftVersionFeature, Listener};
    let request = kafka_protocol::messages::UpdateRaftVoterRequest::default()
        .with_cluster_id(cluster_id.map(|c| StrBytes::from_string(c.to_string())))
        .with_current_leader_epoch(epoch)
        .with_voter_id(id)
        .with_voter_directory_id(directory)
        .with_listeners(vec![Listener::default()
            .with_name(StrBytes::from_string(listener.0.to_string()))
            .with_host(StrBytes::from_string(listener.1.to_string()))
            .with_port(listener.2)])
        .with_k_raft_version_feature(
            KRaftVersionFeature::default()
                .with_min_supported_version(kraft_versions.0)
                .with_max_supported_version(kraft_versions.1),
        );
    RawClient::connect(addr).expect_call(0, &request, "UpdateRaftVoter")
}

/// Whether ApiVersions on `addr` advertises UpdateRaftVoter.
fn advertises_update_raft_voter(addr: &str) -> bool {
    let response = RawClient::connect(addr).expect_call(
        3,
        &kafka_protocol::messages::ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("ironlog-test"))
            .with_client_software_version(StrBytes::from_static_str("1")),
        "ApiVersions",
    );
    response.api_keys.iter().any(|k| k.api_key == 82)
}

#[test]
fn update_raft_voter_is_answered_with_kafkas_errors_on_the_controller_listener() {
    let cluster = ClusterSpec::new(IRONLOG_BINARY, 1)
        .dynamic_quorum()
        .set("cluster.id", CLUSTER_ID)
        .start();
    let addr = cluster.controller_address(1);
    assert!(
        advertises_update_raft_voter(&addr),
        "the controller listener has API 82"
    );
    assert!(
        !advertises_update_raft_voter(cluster.node(1).bootstrap()),
        "a client listener has no API 82 (as Kafka's brokers)"
    );
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    let port: u16 = port.parse().expect("a port");
    let epoch = leader_epoch(&cluster, 1);
    let dir = directory_id(&cluster, 1);
    let cid = Some(CLUSTER_ID);
    let ours = ("CONTROLLER", host, port);
    let check =
        |response: kafka_protocol::messages::UpdateRaftVoterResponse, code: i16, what: &str| {
            assert_eq!(response.error_code, code, "{what}: {response:?}");
            assert_eq!(
                response.current_leader.leader_id.0, 1,
                "{what}: the leader is named"
            );
            assert_eq!(response.current_leader.leader_epoch, epoch, "{what}");
            assert_eq!(
                (
                    response.current_leader.host.to_string(),
                    response.current_leader.port
                ),
                (host.to_string(), i32::from(port)),
                "{what}: the leader's controller endpoint"
            );
        };
    check(
        update_voter(&addr, None, epoch - 1, 1, dir, ours, (0, 1)),
        FENCED_LEADER_EPOCH,
        "an old epoch",
    );
    check(
        update_voter(&addr, None, epoch + 1, 1, dir, ours, (0, 1)),
        UNKNOWN_LEADER_EPOCH,
        "a future epoch",
    );
    check(
        update_voter(&addr, None, epoch, 1, uuid::Uuid::nil(), ours, (0, 1)),
        INVALID_REQUEST,
        "no directory id",
    );
    check(
        update_voter(&addr, None, epoch, 1, dir, ours, (0, 0)),
        INVALID_REQUEST,
        "a range without kraft.version 1",
    );
    check(
        update_voter(&addr, None, epoch, 1, dir, ("OTHER", host, port), (0, 1)),
        INVALID_REQUEST,
        "no controller listener",
    );
    check(
        update_voter(&addr, None, epoch, 9, uuid::Uuid::new_v4(), ours, (0, 1)),
        VOTER_NOT_FOUND,
        "an unknown voter",
    );
    check(
        update_voter(&addr, None, epoch, 1, uuid::Uuid::new_v4(), ours, (0, 1)),
        VOTER_NOT_FOUND,
        "another directory id",
    );
    check(
        update_voter(
            &addr,
            Some("someOtherClusterIdAAAA"),
            epoch,
            1,
            dir,
            ours,
            (0, 1),
        ),
        INCONSISTENT_CLUSTER_ID,
        "another cluster",
    );
    assert_eq!(
        described_endpoint(&cluster, 1, 1).as_deref(),
        Some(addr.as_str()),
        "the refusals changed nothing"
    );
    // the voter's endpoint as it says (a lone voter reaches nobody, so any port will do)
    let moved = allocate_port("127.0.0.1".parse().expect("an address")).expect("a free port");
    check(
        update_voter(
            &addr,
            cid,
            epoch,
            1,
            dir,
            ("CONTROLLER", "127.0.0.1", moved),
            (0, 1),
        ),
        0,
        "the new endpoint",
    );
    assert_eq!(
        described_endpoint(&cluster, 1, 1),
        Some(format!("127.0.0.1:{moved}")),
        "DescribeQuorum shows the updated endpoint"
    );
    check(
        update_voter(&addr, cid, epoch, 1, dir, ours, (0, 1)),
        0,
        "back to the real one",
    );
    assert_eq!(
        described_endpoint(&cluster, 1, 1).as_deref(),
        Some(addr.as_str())
    );

    // static voters: known by id (Kafka keeps the range in memory); nothing else to do
    let static_cluster = ClusterSpec::new(IRONLOG_BINARY, 1).start();
    let addr = static_cluster.controller_address(1);
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    let port: u16 = port.parse().expect("a port");
    let epoch = leader_epoch(&static_cluster, 1);
    let ours = ("CONTROLLER", host, port);
    let response = update_voter(&addr, None, epoch, 1, uuid::Uuid::new_v4(), ours, (0, 1));
    assert_eq!(
        response.error_code, 0,
        "a static voter's update: {response:?}"
    );
    let response = update_voter(&addr, None, epoch, 7, uuid::Uuid::new_v4(), ours, (0, 1));
    assert_eq!(response.error_code, VOTER_NOT_FOUND, "{response:?}");
    let response = update_voter(&addr, None, epoch, 1, uuid::Uuid::new_v4(), ours, (1, 1));
    assert_eq!(
        response.error_code, INVALID_REQUEST,
        "kraft.version 0 outside the range: {response:?}"
    );
}

/// DescribeQuorum through the client listener at `addr` (forwarded to the leader).
fn describe_quorum_at(addr: &str) -> Option<QuorumView> {
    let request = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
        .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
    let response = RawClient::connect(addr).call(2, &request).ok()?;
    let p = response.topics.first()?.partitions.first()?;
    if p.error_code != 0 || p.leader_id.0 < 0 {
        return None;
    }
    let keys = |replicas: &[kafka_protocol::messages::describe_quorum_response::ReplicaState]| {
        replicas
            .iter()
            .map(|r| (r.replica_id.0, r.replica_directory_id))
            .collect()
    };
    Some(QuorumView {
        leader: p.leader_id.0,
        voters: keys(&p.current_voters),
        observers: keys(&p.observers),
    })
}

/// Kafka's replica key is node id + directory id: a voter killed (-9) and started again on
/// an empty data dir (it formats itself, a new directory id) is another replica. It is an
/// observer under its new directory id while the old voter stays a voter (never answering
/// for it); RemoveRaftVoter of the old key and AddRaftVoter of the new one make it a voter.
#[test]
fn a_voter_whose_data_dir_was_wiped_is_an_observer_until_it_replaces_the_old_voter() {
    let mut cluster = dynamic_cluster_spec().start();
    await_quorum(&cluster, 1, &[1], &[2, 3]);
    let leader = cluster.controller_address(1);
    for id in [2, 3] {
        assert_eq!(
            add_voter(&cluster, &leader, id, directory_id(&cluster, id)),
            0,
            "adding node {id}"
        );
    }
    await_quorum(&cluster, 1, &[1, 2, 3], &[]);
    let old = directory_id(&cluster, 3);
    let topic = topic_name("wiped");
    cluster.create_replicated_topic(&topic, 1, 2, WAIT);

    cluster.kill9_node(3);
    let data = cluster.node(3).data_dir();
    std::fs::remove_dir_all(&data).expect("wipe node 3's data dir");
    std::fs::create_dir_all(&data).expect("an empty data dir");
    let via = cluster.node(1).bootstrap().to_string();
    std::thread::scope(|scope| {
        // the node starts once it is a learner of the quorum, i.e. after the removal below
        let restarted = scope.spawn(|| cluster.restart_node(3));
        let mut seen = None;
        wait_until(
            WAIT,
            "node 3's new replica as an observer beside voter 3",
            || {
                seen = describe_quorum_at(&via);
                seen.as_ref().is_some_and(|q| {
                    q.voters.contains(&(3, old))
                        && q.observers.iter().any(|(id, dir)| *id == 3 && *dir != old)
                })
            },
        );
        let view = seen.expect("a quorum view");
        assert_eq!(
            view.voters.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            vec![1, 2, 3],
            "the old voter stays until it is removed: {view:?}"
        );
        let topic_more = topic_name("wiped-more");
        let mut admin_ok = false;
        // commits go on with voters 1 and 2; the new replica answers nothing for voter 3
        wait_until(WAIT, "a topic created while voter 3 is gone", || {
            let mut raw = RawClient::connect(&via);
            admin_ok = raw
                .call(
                    7,
                    &kafka_protocol::messages::CreateTopicsRequest::default()
                        .with_topics(vec![kafka_protocol::messages::create_topics_request::CreatableTopic::default()
                            .with_name(TopicName(StrBytes::from_string(topic_more.clone())))
                            .with_num_partitions(1)
                            .with_replication_factor(1)])
                        .with_timeout_ms(10_000),
                )
                .is_ok_and(|r| r.topics.iter().all(|t| t.error_code == 0 || t.error_code == 36));
            admin_ok
        });
        assert_eq!(
            remove_voter(&via, 3, old),
            0,
            "removing the old replica key of voter 3"
        );
        restarted.join().expect("the restart of node 3");
    });
    cluster.wait_ready(WAIT);
    let new = directory_id(&cluster, 3);
    assert_ne!(new, old, "the wiped node has a new directory id");
    await_quorum(&cluster, 1, &[1, 2], &[3]);
    assert_eq!(
        add_voter(&cluster, &leader, 3, new),
        0,
        "adding node 3's new replica"
    );
    let view = await_quorum(&cluster, 1, &[1, 2, 3], &[]);
    assert!(
        view.voters.contains(&(3, new)),
        "voter 3 under its new directory id: {view:?}"
    );
}
