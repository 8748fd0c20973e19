//! Shared setup for Ironlog's integration tests: the test kit (`ironlog-testkit`), bound to
//! the `ironlog` binary cargo built for these tests.
//!
//! Every test starts its own `ironlog` process ([`TestBroker`], or a [`TestCluster`]) in a
//! temp dir with port-0 listeners, talks to it with real clients (rdkafka = librdkafka, the
//! most common Kafka client library) and, for APIs rdkafka lacks or for deliberately bad
//! input, with [`RawClient`] (the protocol crate's `Connection`) and [`RawSocket`] (bytes).
//!
//! Everything waits with a deadline and fails with a sentence that says what did not
//! happen; a failing test prints the tail of the broker's log and keeps its data dir.
#![allow(dead_code)]

pub use ironlog_testkit::*;

use std::collections::BTreeSet;
use std::time::Duration;

/// The broker binary under test.
pub const IRONLOG_BINARY: &str = env!("CARGO_BIN_EXE_ironlog");

/// `TestBroker::start()` and friends for the binary under test: the kit takes the binary
/// from its caller, and these name this crate's.
pub trait StartBroker {
    /// A single-node broker with default settings.
    fn start() -> Self;
    /// A single-node broker with extra `--override key=value` settings.
    fn start_with(overrides: &[(&str, &str)]) -> Self;
    /// Like [`StartBroker::start_with`], with the process's open-files limit (soft and hard,
    /// set in the child before exec) at `open_files_limit` — for this and every restart.
    fn start_with_open_files_limit(overrides: &[(&str, &str)], open_files_limit: u64) -> Self;
}

impl StartBroker for TestBroker {
    fn start() -> Self {
        broker_spec().start()
    }

    fn start_with(overrides: &[(&str, &str)]) -> Self {
        broker_spec().overrides(overrides).start()
    }

    fn start_with_open_files_limit(overrides: &[(&str, &str)], open_files_limit: u64) -> Self {
        broker_spec()
            .overrides(overrides)
            .open_files_limit(open_files_limit)
            .start()
    }
}

/// A broker of the binary under test, to configure further before `start()`.
pub fn broker_spec() -> BrokerSpec {
    BrokerSpec::new(IRONLOG_BINARY)
}

/// A cluster of `nodes` combined nodes of the binary under test.
pub fn cluster_spec(nodes: i32) -> ClusterSpec {
    ClusterSpec::new(IRONLOG_BINARY, nodes)
}

/// Three combined nodes, RF=3 and min.insync=2 by default, a short broker session (a
/// killed or cut-off node is fenced and replaced within seconds), replicated internal
/// topics, groups that form at once.
pub fn replicated_cluster_spec() -> ClusterSpec {
    replicated(cluster_spec(3))
}

/// `spec` with [`replicated_cluster_spec`]'s settings.
pub fn replicated(spec: ClusterSpec) -> ClusterSpec {
    spec.set("default.replication.factor", "3")
        .set("min.insync.replicas", "2")
        .set("broker.session.timeout.ms", "3000")
        .set("broker.heartbeat.interval.ms", "300")
        .set("offsets.topic.replication.factor", "3")
        .set("offsets.topic.num.partitions", "3")
        .set("group.initial.rebalance.delay.ms", "0")
}

/// How long a metadata quorum may take to show the voters and observers a test waits for.
pub const QUORUM_WAIT: Duration = Duration::from_secs(90);

/// The quorum as DescribeQuorum (v2) through node `via`'s client listener answers it (forwarded to the active controller):
/// leader, voters and observers, each with its directory id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumView {
    pub leader: i32,
    pub voters: BTreeSet<(i32, uuid::Uuid)>,
    pub observers: BTreeSet<(i32, uuid::Uuid)>,
}

impl QuorumView {
    pub fn voter_ids(&self) -> BTreeSet<i32> {
        self.voters.iter().map(|(id, _)| *id).collect()
    }
    pub fn observer_ids(&self) -> BTreeSet<i32> {
        self.observers.iter().map(|(id, _)| *id).collect()
    }
}

pub fn describe_quorum(cluster: &TestCluster, via: i32) -> Option<QuorumView> {
    use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
    use kafka_protocol::messages::{DescribeQuorumRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;
    let request = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
        .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
    let response = cluster.node(via).raw().call(2, &request).ok()?;
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

/// Waits until DescribeQuorum through `via` shows exactly `voters` voting and `observers`
/// observing, and returns what it showed.
pub fn await_quorum(
    cluster: &TestCluster,
    via: i32,
    voters: &[i32],
    observers: &[i32],
) -> QuorumView {
    let voters: BTreeSet<i32> = voters.iter().copied().collect();
    let observers: BTreeSet<i32> = observers.iter().copied().collect();
    let mut seen = None;
    wait_until(
        QUORUM_WAIT,
        &format!(
            "DescribeQuorum via node {via} to show voters {voters:?} and observers {observers:?}"
        ),
        || {
            seen = describe_quorum(cluster, via);
            seen.as_ref()
                .is_some_and(|q| q.voter_ids() == voters && q.observer_ids() == observers)
        },
    );
    seen.expect("seen once the wait ended")
}

/// One HTTP exchange through curl: (status, body).
pub fn http(method: &str, url: &str, body: Option<&str>) -> (u16, String) {
    http_with(method, url, body, &[])
}

/// [`http`] with a JSON body (`Content-Type: application/json`, as REST APIs such as Kafka
/// Connect's require).
pub fn http_json(method: &str, url: &str, body: Option<&str>) -> (u16, String) {
    http_with(method, url, body, &["Content-Type: application/json"])
}

fn http_with(method: &str, url: &str, body: Option<&str>, headers: &[&str]) -> (u16, String) {
    let mut command = std::process::Command::new("curl");
    for header in headers {
        command.args(["-H", header]);
    }
    command.args([
        "-sS",
        "--max-time",
        "30",
        "-X",
        method,
        "-w",
        "\n%{http_code}",
    ]);
    if let Some(body) = body {
        command.args(["--data-binary", body]);
    }
    let output = command
        .arg(url)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run curl (test.sh installs it): {e}"));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    let status = status
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("curl {method} {url} gave no status: {text:?} {output:?}"));
    (status, body.to_string())
}

/// `promtool check metrics` (Prometheus's linter) on a scrape; panics with its findings.
pub fn promtool_check_metrics(text: &str) {
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run promtool (test.sh installs Debian's prometheus package): {e}")
        });
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write the scrape to promtool");
    let output = child.wait_with_output().expect("promtool ran");
    assert!(
        output.status.success(),
        "promtool check metrics found problems:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A Python client session: `tests/clients/<script>` against `bootstrap` with `args`,
/// writing no bytecode into the source tree, within `timeout_secs`.
pub fn python_session(
    script: &str,
    bootstrap: impl Into<String>,
    args: Vec<String>,
    timeout_secs: u32,
) -> ClientSession {
    ClientSession {
        program: python(),
        script: [env!("CARGO_MANIFEST_DIR"), "tests", "clients", script]
            .iter()
            .collect(),
        bootstrap: bootstrap.into(),
        args,
        dir: None,
        env: vec![("PYTHONDONTWRITEBYTECODE".into(), "1".into())],
        timeout_secs,
    }
}
