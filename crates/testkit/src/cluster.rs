//! `cluster`: [`TestCluster`], N broker processes started as one Kafka cluster in KRaft
//! mode — each node with exactly the command line a user types:
//!
//! ```text
//! ironlog broker --override node.id=n --override process.roles=broker,controller
//!   --override controller.quorum.voters=1@127.0.0.1:C1,2@127.0.0.1:C2,3@127.0.0.1:C3
//!   --override controller.listener.names=CONTROLLER
//!   --override listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
//!   --override listeners=PLAINTEXT://127.0.0.1:Pn,CONTROLLER://127.0.0.1:Cn
//!   --override advertised.listeners=PLAINTEXT://127.0.0.1:Pn --override log.dirs=DIRn
//!   --override admin.listener=http://127.0.0.1:0
//! ```
//!
//! plus the cluster's and the node's extra overrides (the admin listener on port 0: its
//! address is the node's `ADMIN` listener line). Broker-only nodes have no CONTROLLER
//! listener, controller-only nodes no PLAINTEXT one (split roles).
//!
//! Ports: the voters name every controller port, so those must be known before any node
//! starts, and the client ports are fixed too (a restarted node comes back where clients
//! and the other nodes know it). They come from [`crate::ports::allocate_port`]. A port
//! taken by someone else before its node bound it makes that node exit with "Address
//! already in use": the whole start is then repeated with fresh ports for every node (the
//! voters change, and no node may keep an old list), at most [`START_ATTEMPTS`] times. A
//! restart of one node keeps its ports and waits (bounded) while one is taken.
//!
//! Addresses: each node has a host address ([`ClusterSpec::node_host`], 127.0.0.1 by
//! default) used for its listeners, its advertised listener and its voter entry, and a
//! command wrapper ([`ClusterSpec::node_wrapper`]): where partition tests will give every
//! node its own address in its own network namespace (`ip netns exec nsN`).

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::Consumer;

use crate::broker::{host_in_url, BrokerSpec, StartFailure, TestBroker, CLIENT_LISTENER};
use crate::clients::{wait_until, KafkaClients};
use crate::cluster_security::ClusterSecurity;
use crate::netns::NetworkLab;
use crate::ports::allocate_port;
use crate::process::{BrokerCommand, Settings};

/// The listener name controllers talk on.
pub const CONTROLLER_LISTENER: &str = "CONTROLLER";
/// How many times a cluster start is repeated with fresh ports when one was taken.
pub const START_ATTEMPTS: usize = 5;
/// The client port of a node in its own network namespace (nothing else binds there).
pub const OWN_NETWORK_CLIENT_PORT: u16 = 9092;
/// The controller port of a node in its own network namespace.
pub const OWN_NETWORK_CONTROLLER_PORT: u16 = 9093;
/// How long [`TestCluster`] waits for every broker to see every other in Metadata.
pub const CLUSTER_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// `process.roles` of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roles {
    /// `broker,controller`: serves clients and votes in the metadata quorum.
    Combined,
    /// `broker`: serves clients, follows the metadata log without voting.
    Broker,
    /// `controller`: votes, serves no clients.
    Controller,
}

impl Roles {
    /// The value of `process.roles`.
    pub fn as_config(self) -> &'static str {
        match self {
            Roles::Combined => "broker,controller",
            Roles::Broker => "broker",
            Roles::Controller => "controller",
        }
    }

    pub fn is_broker(self) -> bool {
        matches!(self, Roles::Combined | Roles::Broker)
    }

    pub fn is_controller(self) -> bool {
        matches!(self, Roles::Combined | Roles::Controller)
    }
}

/// One node of a cluster to be.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// `node.id`.
    pub id: i32,
    pub roles: Roles,
    /// The address the node's listeners bind and advertise and its voter entry names.
    pub host: IpAddr,
    /// Programs the node's binary is started through (e.g. `ip netns exec ns1`).
    pub wrapper: Vec<OsString>,
    /// This node's extra overrides (after the cluster's).
    pub overrides: Settings,
    /// Arguments of `ironlog format` for this node (instead of the cluster's).
    pub format_args: Option<Vec<String>>,
    /// Whether the node has a network namespace to itself: then its ports are Kafka's
    /// usual 9092 (client) and 9093 (controller) instead of allocated ones.
    pub own_network: bool,
}

/// The fixed ports of one node: the client port of a broker, the controller port of a
/// controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodePorts {
    pub client: Option<u16>,
    pub controller: Option<u16>,
}

/// What a [`TestCluster`] is started with.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    binary: PathBuf,
    nodes: Vec<NodeSpec>,
    overrides: Settings,
    env: Settings,
    /// Node ids in the order they are spawned, and the pause between two spawns.
    start_order: Option<(Vec<i32>, Duration)>,
    /// The network lab the nodes run in, kept as long as the cluster.
    network: Option<Arc<NetworkLab>>,
    /// rdkafka settings of every client of the cluster and of its nodes.
    client_settings: Vec<(String, String)>,
    /// Arguments of `ironlog format` run for every node before its first start; `None`:
    /// the nodes format themselves as they start.
    format_args: Option<Vec<String>>,
    /// `controller.quorum.bootstrap.servers` (a dynamic quorum, KIP-853) instead of
    /// `controller.quorum.voters`.
    dynamic_quorum: bool,
    /// The cluster id every controller is formatted `--initial-controllers` with (the
    /// list is made from the ports at each start attempt), see
    /// [`ClusterSpec::dynamic_initial_controllers`].
    initial_controllers: Option<String>,
}

impl ClusterSpec {
    /// `count` combined nodes (broker and controller), ids 1..=count, on 127.0.0.1.
    pub fn new(binary: impl Into<PathBuf>, count: i32) -> Self {
        Self::with_roles(binary, (1..=count).map(|_| Roles::Combined).collect())
    }

    /// `controllers` controller-only nodes (ids 1..=controllers) and `brokers` broker-only
    /// nodes (the ids after them).
    pub fn split(binary: impl Into<PathBuf>, controllers: i32, brokers: i32) -> Self {
        let roles = (0..controllers)
            .map(|_| Roles::Controller)
            .chain((0..brokers).map(|_| Roles::Broker))
            .collect();
        Self::with_roles(binary, roles)
    }

    /// One node per entry of `roles`, ids from 1 in that order.
    pub fn with_roles(binary: impl Into<PathBuf>, roles: Vec<Roles>) -> Self {
        let nodes = roles
            .into_iter()
            .zip(1..)
            .map(|(roles, id)| NodeSpec {
                id,
                roles,
                host: IpAddr::V4(Ipv4Addr::LOCALHOST),
                wrapper: Vec::new(),
                overrides: Settings::default(),
                format_args: None,
                own_network: false,
            })
            .collect();
        ClusterSpec {
            binary: binary.into(),
            nodes,
            overrides: Settings::default(),
            env: Settings::default(),
            start_order: None,
            network: None,
            client_settings: Vec::new(),
            format_args: None,
            dynamic_quorum: false,
            initial_controllers: None,
        }
    }

    /// One `--override key=value` for every node (e.g. `default.replication.factor=3`).
    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.overrides.set(key, value);
        self
    }

    /// [`ClusterSpec::set`] for each pair, in order.
    pub fn overrides(mut self, overrides: &[(&str, &str)]) -> Self {
        self.overrides.set_all(overrides);
        self
    }

    /// Every listener secured as `security` says (its overrides on every node), and the
    /// cluster's clients connecting as it says.
    pub fn secured(mut self, security: &ClusterSecurity) -> Self {
        for (k, v) in security.overrides() {
            self.overrides.set(&k, &v);
        }
        self.client_settings = security.client_settings();
        self
    }

    /// One setting of the cluster's clients (after [`ClusterSpec::secured`], which sets
    /// them all), e.g. a client truststore of more than the nodes' CA.
    pub fn client_setting(mut self, key: &str, value: &str) -> Self {
        self.client_settings.retain(|(k, _)| k != key);
        self.client_settings
            .push((key.to_string(), value.to_string()));
        self
    }

    /// Every node's data dirs formatted with `ironlog format ARGS` (the node's own settings
    /// first, e.g. `--cluster-id ID --add-scram ...`) before it first starts.
    pub fn formatted_with(mut self, args: &[&str]) -> Self {
        self.format_args = Some(args.iter().map(|a| a.to_string()).collect());
        self
    }

    /// Node `id`'s data dirs formatted with `ironlog format ARGS` (instead of the cluster's
    /// [`ClusterSpec::formatted_with`]) before it first starts.
    pub fn node_formatted_with(mut self, id: i32, args: &[&str]) -> Self {
        self.node_spec_mut(id).format_args = Some(args.iter().map(|a| a.to_string()).collect());
        self
    }

    /// A dynamic metadata quorum (KIP-853): every node has the controllers'
    /// addresses as `controller.quorum.bootstrap.servers` and no `controller.quorum.voters`;
    /// the voters are whatever the metadata log says (format one controller
    /// `--standalone`, see [`ClusterSpec::node_formatted_with`]).
    pub fn dynamic_quorum(mut self) -> Self {
        self.dynamic_quorum = true;
        self
    }

    /// `count` combined nodes of a dynamic quorum formatted as Kafka's documentation starts
    /// one: node 1 `--standalone` (its one voter), the others `--no-initial-controllers`
    /// (observers, to be added as voters), all with `cluster_id`.
    pub fn dynamic_standalone(binary: impl Into<PathBuf>, count: i32, cluster_id: &str) -> Self {
        let mut spec = Self::new(binary, count).dynamic_quorum();
        for id in 1..=count {
            let topology = if id == 1 {
                "--standalone"
            } else {
                "--no-initial-controllers"
            };
            spec = spec.node_formatted_with(id, &["--cluster-id", cluster_id, topology]);
        }
        spec
    }

    /// `count` combined nodes of a dynamic quorum whose voters are all of them from the
    /// start: each formatted with `--cluster-id cluster_id --initial-controllers
    /// 1@host:port:DIRID,...` — the same list for all, every controller endpoint with the
    /// directory id [`initial_directory_id`] gives it.
    pub fn dynamic_initial_controllers(
        binary: impl Into<PathBuf>,
        count: i32,
        cluster_id: &str,
    ) -> Self {
        let mut spec = Self::new(binary, count).dynamic_quorum();
        spec.initial_controllers = Some(cluster_id.to_string());
        spec
    }

    /// `--initial-controllers` for these ports: every controller's entry.
    pub fn initial_controllers_argument(&self, ports: &[NodePorts]) -> String {
        self.controller_list(ports, |n, host, port| {
            format!("{}@{host}:{port}:{}", n.id, initial_directory_id(n.id))
        })
    }

    /// `entry(node, host, controller port)` of every controller, by id, joined with commas.
    fn controller_list(
        &self,
        ports: &[NodePorts],
        entry: impl Fn(&NodeSpec, String, u16) -> String,
    ) -> String {
        self.nodes
            .iter()
            .zip(ports)
            .filter(|(n, _)| n.roles.is_controller())
            .map(|(n, p)| entry(n, host_in_url(n.host), p.controller.unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// One `--override key=value` for node `id` only.
    pub fn node_override(mut self, id: i32, key: &str, value: &str) -> Self {
        self.node_spec_mut(id).overrides.set(key, value);
        self
    }

    /// The address node `id` binds, advertises and is a voter at.
    pub fn node_host(mut self, id: i32, host: IpAddr) -> Self {
        self.node_spec_mut(id).host = host;
        self
    }

    /// Programs node `id`'s binary is started through (e.g. `ip netns exec ns1`).
    pub fn node_wrapper(mut self, id: i32, wrapper: &[&str]) -> Self {
        self.node_spec_mut(id).wrapper = wrapper.iter().map(OsString::from).collect();
        self
    }

    /// Every node in its own namespace of `lab` (which must have a namespace for each node
    /// id): its address there, started through `ip netns exec`, Kafka's usual ports. The
    /// cluster keeps the lab until it is dropped (nodes are stopped first).
    pub fn network(mut self, lab: &Arc<NetworkLab>) -> Self {
        for node in &mut self.nodes {
            node.host = lab.address(node.id);
            node.wrapper = lab
                .wrapper(node.id)
                .into_iter()
                .map(OsString::from)
                .collect();
            node.own_network = true;
        }
        self.network = Some(Arc::clone(lab));
        self
    }

    /// One environment variable of every node's process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.set(key, value);
        self
    }

    /// Spawns the nodes in `order` (every node id once), `pause` apart — none waits for the
    /// others: nodes may start in any order and at different times. Default: in id order,
    /// back to back.
    pub fn start_order(mut self, order: &[i32], pause: Duration) -> Self {
        let mut sorted = order.to_vec();
        sorted.sort_unstable();
        let mut ids: Vec<i32> = self.nodes.iter().map(|n| n.id).collect();
        ids.sort_unstable();
        assert_eq!(sorted, ids, "the start order names every node once");
        self.start_order = Some((order.to_vec(), pause));
        self
    }

    pub fn nodes(&self) -> &[NodeSpec] {
        &self.nodes
    }

    fn node_spec_mut(&mut self, id: i32) -> &mut NodeSpec {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("the cluster has no node {id}"))
    }

    /// `controller.quorum.voters`: `id@host:port` of every controller, by id.
    pub fn voters(&self, ports: &[NodePorts]) -> String {
        self.controller_list(ports, |n, host, port| format!("{}@{host}:{port}", n.id))
    }

    /// `controller.quorum.bootstrap.servers`: `host:port` of every controller, by id.
    pub fn bootstrap_controllers(&self, ports: &[NodePorts]) -> String {
        self.controller_list(ports, |_, host, port| format!("{host}:{port}"))
    }

    /// The `--override` settings of every node, in the order of [`ClusterSpec::nodes`],
    /// given every node's ports and data dir. Pure: the command lines the cluster runs.
    pub fn node_settings(
        &self,
        ports: &[NodePorts],
        data_dirs: &[PathBuf],
    ) -> Vec<Vec<(String, String)>> {
        assert_eq!(ports.len(), self.nodes.len(), "one NodePorts per node");
        assert_eq!(data_dirs.len(), self.nodes.len(), "one data dir per node");
        let quorum = if self.dynamic_quorum {
            (
                "controller.quorum.bootstrap.servers",
                self.bootstrap_controllers(ports),
            )
        } else {
            ("controller.quorum.voters", self.voters(ports))
        };
        self.nodes
            .iter()
            .zip(ports)
            .zip(data_dirs)
            .map(|((node, ports), data_dir)| {
                let host = host_in_url(node.host);
                let client = ports
                    .client
                    .map(|p| format!("{CLIENT_LISTENER}://{host}:{p}"));
                let controller = ports
                    .controller
                    .map(|p| format!("{CONTROLLER_LISTENER}://{host}:{p}"));
                let listeners: Vec<String> = client.iter().chain(&controller).cloned().collect();
                let mut settings = vec![
                    ("node.id".to_string(), node.id.to_string()),
                    (
                        "process.roles".to_string(),
                        node.roles.as_config().to_string(),
                    ),
                    (quorum.0.to_string(), quorum.1.clone()),
                    (
                        "controller.listener.names".to_string(),
                        CONTROLLER_LISTENER.to_string(),
                    ),
                    (
                        "listener.security.protocol.map".to_string(),
                        format!("{CLIENT_LISTENER}:PLAINTEXT,{CONTROLLER_LISTENER}:PLAINTEXT"),
                    ),
                    ("listeners".to_string(), listeners.join(",")),
                ];
                if let Some(client) = client {
                    settings.push(("advertised.listeners".to_string(), client));
                }
                settings.push(("log.dirs".to_string(), data_dir.display().to_string()));
                settings.push((
                    "admin.listener".to_string(),
                    crate::broker::admin_listener_url(node.host),
                ));
                let mut settings = Settings::from_pairs(settings);
                settings
                    .set_all(self.overrides.pairs())
                    .set_all(node.overrides.pairs());
                settings.pairs().to_vec()
            })
            .collect()
    }

    /// Fresh ports for every node: a client port for brokers, a controller port for
    /// controllers.
    fn allocate_ports(&self) -> Vec<NodePorts> {
        let port = |node: &NodeSpec, own: u16| {
            if node.own_network {
                return own;
            }
            allocate_port(node.host).unwrap_or_else(|e| panic!("node {}: {e}", node.id))
        };
        self.nodes
            .iter()
            .map(|node| NodePorts {
                client: node
                    .roles
                    .is_broker()
                    .then(|| port(node, OWN_NETWORK_CLIENT_PORT)),
                controller: node
                    .roles
                    .is_controller()
                    .then(|| port(node, OWN_NETWORK_CONTROLLER_PORT)),
            })
            .collect()
    }

    /// Starts every node and waits until each broker sees every broker in Metadata;
    /// panics, saying why, if the cluster does not come up.
    pub fn start(self) -> TestCluster {
        let cluster = self.launch();
        cluster.wait_ready(CLUSTER_READY_TIMEOUT);
        cluster
    }

    /// Starts every node (each printed `ironlog: started`) without waiting for them to see
    /// each other; see [`TestCluster::wait_ready`].
    pub fn launch(self) -> TestCluster {
        for attempt in 1..=START_ATTEMPTS {
            let ports = self.allocate_ports();
            let mut nodes: Vec<TestBroker> = self
                .nodes
                .iter()
                .map(|node| {
                    let mut spec = BrokerSpec::new(&self.binary).host(node.host).named(
                        &format!("node {}", node.id),
                        &format!("ironlog-node{}-", node.id),
                    );
                    for (k, v) in self.env.iter() {
                        spec = spec.env(k, v);
                    }
                    let mut broker = spec.prepare();
                    broker.client_listener_required = node.roles.is_broker();
                    broker.client_settings = self.client_settings.clone();
                    broker
                })
                .collect();
            let data_dirs: Vec<PathBuf> = nodes.iter().map(TestBroker::data_dir).collect();
            let settings = self.node_settings(&ports, &data_dirs);
            for ((broker, node), settings) in nodes.iter_mut().zip(&self.nodes).zip(settings) {
                let mut command = BrokerCommand::new(&self.binary);
                command.set_all(&settings);
                command.wrapper = node.wrapper.clone();
                command.env = broker.command().env.clone();
                let initial = self
                    .initial_controllers
                    .as_ref()
                    .filter(|_| node.roles.is_controller() && node.format_args.is_none())
                    .map(|cluster_id| {
                        vec![
                            "--cluster-id".to_string(),
                            cluster_id.clone(),
                            "--initial-controllers".to_string(),
                            self.initial_controllers_argument(&ports),
                        ]
                    });
                let args = initial
                    .as_ref()
                    .or(node.format_args.as_ref())
                    .or(self.format_args.as_ref());
                if let Some(args) = args {
                    format_node(&self.binary, &command, args, node.id);
                }
                broker.replace_command(command);
            }
            // every node is spawned before any is waited for: nodes may wait for a quorum
            let order: Vec<usize> = match &self.start_order {
                Some((ids, _)) => ids
                    .iter()
                    .map(|id| {
                        self.nodes
                            .iter()
                            .position(|n| n.id == *id)
                            .unwrap_or_default()
                    })
                    .collect(),
                None => (0..nodes.len()).collect(),
            };
            let pause = self.start_order.as_ref().map(|(_, pause)| *pause);
            let mut starting: Vec<Option<_>> = (0..nodes.len()).map(|_| None).collect();
            for (n, &index) in order.iter().enumerate() {
                if let (Some(pause), true) = (pause, n > 0) {
                    std::thread::sleep(pause);
                }
                let command = nodes[index].command().clone();
                starting[index] = Some(nodes[index].begin_start(&command));
            }
            let starting: Vec<_> = starting.into_iter().flatten().collect();
            // waited for side by side: the first failure gives up the others' waits
            let abort = AtomicBool::new(false);
            let failures: Vec<StartFailure> = std::thread::scope(|scope| {
                let waits: Vec<_> = nodes
                    .iter_mut()
                    .zip(starting)
                    .map(|(broker, starting)| {
                        let abort = &abort;
                        scope.spawn(move || {
                            let outcome = broker.finish_start_unless(starting, abort);
                            if outcome.is_err() {
                                abort.store(true, Ordering::SeqCst);
                            }
                            outcome
                        })
                    })
                    .collect();
                waits
                    .into_iter()
                    .filter_map(|wait| match wait.join() {
                        Ok(outcome) => outcome.err(),
                        Err(panic) => std::panic::resume_unwind(panic),
                    })
                    .collect()
            });
            let port_taken = failures
                .iter()
                .any(|f| matches!(f, StartFailure::PortTaken));
            let other: Vec<&str> = failures
                .iter()
                .filter_map(|f| match f {
                    StartFailure::Other(message) => Some(message.as_str()),
                    StartFailure::PortTaken | StartFailure::Aborted => None,
                })
                .collect();
            if !other.is_empty() && !port_taken {
                panic!("the cluster did not start: {}", other.join("; "));
            }
            if port_taken {
                // the nodes go (killed, their fresh dirs removed); the next attempt has
                // fresh ports for all, since the voters name them all
                eprintln!(
                    "cluster start attempt {attempt}/{START_ATTEMPTS}: a port was taken \
                     before its node bound it; starting again with fresh ports"
                );
                continue;
            }
            return TestCluster {
                spec: self,
                nodes,
                ports,
                start_attempts: attempt,
            };
        }
        panic!(
            "the cluster did not start in {START_ATTEMPTS} attempts: a port was taken every time"
        );
    }
}

/// One partition as a broker's Metadata shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionView {
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: std::collections::BTreeSet<i32>,
}

/// N `ironlog` processes forming one cluster; killed when dropped. Each node is a
/// [`TestBroker`] (its own temp dir, log, kept when the test fails) with fixed ports.
pub struct TestCluster {
    nodes: Vec<TestBroker>,
    ports: Vec<NodePorts>,
    start_attempts: usize,
    /// Dropped after the nodes: its network lab outlives their processes.
    spec: ClusterSpec,
}

impl TestCluster {
    /// The active controller, as DescribeQuorum sent to node `via` (forwarded to the
    /// controller) reports it; waits up to `timeout` for the quorum to name one.
    pub fn active_controller(&self, via: i32, timeout: Duration) -> i32 {
        use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
        use kafka_protocol::messages::{DescribeQuorumRequest, TopicName};
        use kafka_protocol::protocol::StrBytes;
        let mut leader = -1;
        wait_until(timeout, "DescribeQuorum to name a leader", || {
            let mut raw = self.node(via).raw();
            let request = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
                .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
                .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
            let Ok(response) = raw.call(2, &request) else {
                return false;
            };
            let Some(p) = response.topics.first().and_then(|t| t.partitions.first()) else {
                return false;
            };
            leader = p.leader_id.0;
            p.error_code == 0 && leader > 0
        });
        leader
    }

    /// `topic`'s partitions (by index) as node `via` answers Metadata; `None` when it does
    /// not answer within 5 s or does not know the topic.
    pub fn partitions_via(&self, via: i32, topic: &str) -> Option<Vec<PartitionView>> {
        let consumer = self.node(via).consumer();
        let md = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(5))
            .ok()?;
        let t = md.topics().iter().find(|t| t.name() == topic)?;
        if t.error().is_some() {
            return None;
        }
        let mut partitions: Vec<_> = t.partitions().iter().collect();
        partitions.sort_by_key(|p| p.id());
        Some(
            partitions
                .iter()
                .map(|p| PartitionView {
                    leader: p.leader(),
                    replicas: p.replicas().to_vec(),
                    isr: p.isr().iter().copied().collect(),
                })
                .collect(),
        )
    }

    /// Waits until node `via` shows `partitions` partitions of `topic`, each led and with
    /// every one of its replicas in the ISR.
    pub fn await_full_isr(&self, via: i32, topic: &str, partitions: usize, timeout: Duration) {
        let mut seen = None;
        wait_until(
            timeout,
            &format!("node {via} to show every partition of {topic} led with a full ISR"),
            || {
                seen = self.partitions_via(via, topic);
                seen.as_ref().is_some_and(|p| {
                    p.len() == partitions
                        && p.iter()
                            .all(|p| p.leader > 0 && p.isr == p.replicas.iter().copied().collect())
                })
            },
        );
    }

    /// Creates `topic` with `partitions` partitions at replication factor `replicas` and
    /// waits until every running broker shows each partition led with a full ISR.
    pub fn create_replicated_topic(
        &self,
        topic: &str,
        partitions: i32,
        replicas: i32,
        timeout: Duration,
    ) {
        use rdkafka::admin::{NewTopic, TopicReplication};
        self.create_topic(NewTopic::new(
            topic,
            partitions,
            TopicReplication::Fixed(replicas),
        ));
        self.await_full_isr_on_running(topic, partitions as usize, timeout);
    }

    /// Creates `topic` with one partition per entry of `assignment` (its replicas, the
    /// preferred leader first); does not wait for the replicas.
    pub fn create_assigned_topic(&self, topic: &str, assignment: &[&[i32]]) {
        use rdkafka::admin::{NewTopic, TopicReplication};
        self.create_topic(NewTopic::new(
            topic,
            assignment.len() as i32,
            TopicReplication::Variable(assignment),
        ));
    }

    /// One CreateTopics through the admin client; panics, saying why, unless it succeeded.
    fn create_topic(&self, topic: rdkafka::admin::NewTopic<'_>) {
        let name = topic.name;
        let results = crate::clients::block_on(self.admin().create_topics(
            &[topic],
            &crate::clients::admin_options().operation_timeout(Some(Duration::from_secs(30))),
        ))
        .unwrap_or_else(|e| panic!("CreateTopics {name} failed as a request: {e}"));
        for result in results {
            if let Err((name, code)) = result {
                panic!("creating {name} failed: {code:?}");
            }
        }
    }

    /// [`TestCluster::await_full_isr`] through every running broker node.
    pub fn await_full_isr_on_running(&self, topic: &str, partitions: usize, timeout: Duration) {
        for (node, spec) in self.nodes.iter().zip(&self.spec.nodes) {
            if spec.roles.is_broker() && node.pid().is_some() {
                self.await_full_isr(spec.id, topic, partitions, timeout);
            }
        }
    }

    /// How many attempts the start took (more than 1 when a port was taken).
    pub fn start_attempts(&self) -> usize {
        self.start_attempts
    }

    pub fn spec(&self) -> &ClusterSpec {
        &self.spec
    }

    /// The network lab the nodes run in ([`ClusterSpec::network`]); panics without one.
    pub fn network(&self) -> &NetworkLab {
        self.spec
            .network
            .as_deref()
            .expect("the cluster was not started in a network lab (ClusterSpec::network)")
    }

    /// The node with `node.id` = `id`.
    pub fn node(&self, id: i32) -> &TestBroker {
        &self.nodes[self.index(id)]
    }

    pub fn node_mut(&mut self, id: i32) -> &mut TestBroker {
        let index = self.index(id);
        &mut self.nodes[index]
    }

    /// Every node's id, in order.
    pub fn node_ids(&self) -> Vec<i32> {
        self.spec.nodes.iter().map(|n| n.id).collect()
    }

    /// The fixed ports of node `id`.
    pub fn ports(&self, id: i32) -> NodePorts {
        self.ports[self.index(id)]
    }

    /// `controller.quorum.voters` as every node has it.
    pub fn voters(&self) -> String {
        self.spec.voters(&self.ports)
    }

    /// `host:port` of node `id`'s controller listener; panics for a node without one.
    pub fn controller_address(&self, id: i32) -> String {
        let node = &self.spec.nodes[self.index(id)];
        let port = self
            .ports(id)
            .controller
            .unwrap_or_else(|| panic!("node {id} is not a controller"));
        format!("{}:{port}", host_in_url(node.host))
    }

    /// The client addresses of every broker node (`host:port,...`), running or not: what
    /// a client is given as `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.spec
            .nodes
            .iter()
            .zip(&self.ports)
            .filter_map(|(n, p)| {
                p.client
                    .map(|port| format!("{}:{port}", host_in_url(n.host)))
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Clean shutdown of node `id` (SIGTERM, bounded wait, exit code 0).
    pub fn stop_node(&mut self, id: i32) {
        self.node_mut(id).stop();
    }

    /// Crash of node `id`: SIGKILL. Its data dir stays for [`TestCluster::restart_node`].
    pub fn kill9_node(&mut self, id: i32) {
        self.node_mut(id).kill9();
    }

    /// Starts node `id` again on its data dir and its ports (stopping it cleanly first if it
    /// runs); while one of its ports is taken by someone else, it tries again (bounded).
    pub fn restart_node(&mut self, id: i32) {
        let node = self.node_mut(id);
        if node.is_running() {
            node.stop();
        }
        let command = node.command().clone();
        node.start_retrying_taken_ports(&command, &format!("a port of node {id}"));
    }

    /// Stops every running node cleanly, then starts them all again on their data dirs and
    /// ports, side by side (a node's start waits for a quorum of the others; a port taken
    /// meanwhile is waited for, bounded), and waits until each broker sees every broker.
    pub fn restart_all(&mut self) {
        for node in &mut self.nodes {
            if node.is_running() {
                node.stop();
            }
        }
        let starting: Vec<_> = self
            .nodes
            .iter_mut()
            .map(|node| {
                let command = node.command().clone();
                node.begin_start(&command)
            })
            .collect();
        std::thread::scope(|scope| {
            let waits: Vec<_> = self
                .nodes
                .iter_mut()
                .zip(starting)
                .map(|(node, starting)| {
                    scope.spawn(move || {
                        // another test may take a port while its node is down: retried
                        // (bounded) as a single node's restart is
                        if node.finish_start(starting).is_err() {
                            let command = node.command().clone();
                            node.start_retrying_taken_ports(&command, "a port of the node");
                        }
                    })
                })
                .collect();
            for wait in waits {
                if let Err(panic) = wait.join() {
                    std::panic::resume_unwind(panic);
                }
            }
        });
        self.wait_ready(CLUSTER_READY_TIMEOUT);
    }

    /// Waits until every running broker node lists every broker node in Metadata.
    pub fn wait_ready(&self, timeout: Duration) {
        let brokers: Vec<i32> = self
            .spec
            .nodes
            .iter()
            .filter(|n| n.roles.is_broker())
            .map(|n| n.id)
            .collect();
        for (node, spec) in self.nodes.iter().zip(&self.spec.nodes) {
            if !spec.roles.is_broker() || node.pid().is_none() {
                continue;
            }
            let consumer = node.consumer();
            let mut seen = Vec::new();
            wait_until(
                timeout,
                &format!("node {} to list brokers {brokers:?} in Metadata", spec.id),
                || {
                    let Ok(md) = consumer.fetch_metadata(None, Duration::from_secs(5)) else {
                        return false;
                    };
                    seen = md.brokers().iter().map(|b| b.id()).collect();
                    seen.sort();
                    seen == brokers
                },
            );
        }
    }

    fn index(&self, id: i32) -> usize {
        self.spec
            .nodes
            .iter()
            .position(|n| n.id == id)
            .unwrap_or_else(|| panic!("the cluster has no node {id}"))
    }
}

impl KafkaClients for TestCluster {
    fn bootstrap_servers(&self) -> String {
        self.bootstrap()
    }

    fn client_config(&self) -> rdkafka::ClientConfig {
        let mut config = crate::clients::client_config(&self.bootstrap());
        for (k, v) in &self.spec.client_settings {
            config.set(k, v);
        }
        config
    }
}

/// Runs `ironlog format` with node `id`'s settings and `args`; panics with its output when
/// it fails.
/// The directory id (Kafka's text form) node `id` gets in
/// [`ClusterSpec::dynamic_initial_controllers`]: fixed per node id, and none of Kafka's
/// reserved ones.
pub fn initial_directory_id(id: i32) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let value: u128 = (0x0049_524f_4e4c_4f47_u128 << 64) | u128::from(id.unsigned_abs());
    let bytes = value.to_be_bytes();
    let mut text = String::with_capacity(22);
    let (mut bits, mut count) = (0u32, 0);
    for byte in bytes {
        bits = (bits << 8) | u32::from(byte);
        count += 8;
        while count >= 6 {
            count -= 6;
            text.push(char::from(ALPHABET[((bits >> count) & 63) as usize]));
        }
    }
    // 128 bits: 21 full characters and 2 bits left, padded with zeros
    text.push(char::from(ALPHABET[((bits << (6 - count)) & 63) as usize]));
    text
}

fn format_node(binary: &Path, command: &BrokerCommand, args: &[String], id: i32) {
    let mut line = command.args();
    line[0] = "format".to_string();
    let output = std::process::Command::new(binary)
        .args(&line)
        .args(args)
        .envs(command.env.iter())
        .output()
        .unwrap_or_else(|e| panic!("cannot run ironlog format for node {id}: {e}"));
    assert!(
        output.status.success(),
        "ironlog format failed for node {id}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args_of(settings: &[(String, String)]) -> String {
        let mut command = BrokerCommand::new("ironlog");
        command.set_all(settings);
        format!("ironlog {}", command.args().join(" "))
    }

    #[test]
    fn initial_directory_ids_are_kafka_uuids() {
        assert_eq!(initial_directory_id(1), "AElST05MT0cAAAAAAAAAAQ");
        assert_eq!(initial_directory_id(3).len(), 22);
        assert_ne!(initial_directory_id(2), initial_directory_id(3));
    }

    #[test]
    fn three_combined_nodes_get_exactly_the_documented_command_line() {
        let spec = ClusterSpec::new("ironlog", 3)
            .set("default.replication.factor", "3")
            .set("min.insync.replicas", "2");
        let ports: Vec<NodePorts> = (0..3)
            .map(|i| NodePorts {
                client: Some(21000 + i),
                controller: Some(22000 + i),
            })
            .collect();
        let dirs: Vec<PathBuf> = (1..=3).map(|n| PathBuf::from(format!("/d{n}"))).collect();
        let lines: Vec<String> = spec
            .node_settings(&ports, &dirs)
            .iter()
            .map(|s| args_of(s))
            .collect();
        let voters = "1@127.0.0.1:22000,2@127.0.0.1:22001,3@127.0.0.1:22002";
        for (n, line) in lines.iter().enumerate() {
            let (id, p, c) = (n + 1, 21000 + n, 22000 + n);
            assert_eq!(
                *line,
                format!(
                    "ironlog broker --override node.id={id} --override process.roles=broker,controller \
                     --override controller.quorum.voters={voters} \
                     --override controller.listener.names=CONTROLLER \
                     --override listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT \
                     --override listeners=PLAINTEXT://127.0.0.1:{p},CONTROLLER://127.0.0.1:{c} \
                     --override advertised.listeners=PLAINTEXT://127.0.0.1:{p} \
                     --override log.dirs=/d{id} \
                     --override admin.listener=http://127.0.0.1:0 \
                     --override default.replication.factor=3 --override min.insync.replicas=2"
                ),
                "node {id}"
            );
        }
    }

    #[test]
    fn a_dynamic_quorum_names_the_controllers_as_bootstrap_servers_and_no_voters() {
        let spec = ClusterSpec::split("ironlog", 2, 1).dynamic_quorum();
        let port = |client, controller| NodePorts { client, controller };
        let ports = [
            port(None, Some(24000)),
            port(None, Some(24001)),
            port(Some(24002), None),
        ];
        let dirs: Vec<PathBuf> = (1..=3).map(|n| PathBuf::from(format!("/d{n}"))).collect();
        for (n, settings) in spec.node_settings(&ports, &dirs).iter().enumerate() {
            let get = |key: &str| {
                settings
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.as_str())
            };
            assert_eq!(
                get("controller.quorum.bootstrap.servers"),
                Some("127.0.0.1:24000,127.0.0.1:24001"),
                "node {}",
                n + 1
            );
            assert_eq!(get("controller.quorum.voters"), None, "node {}", n + 1);
        }
    }

    #[test]
    fn split_roles_hosts_and_node_overrides_shape_each_line() {
        let spec = ClusterSpec::split("ironlog", 1, 2)
            .node_host(3, "10.0.0.3".parse().unwrap())
            .node_override(3, "broker.rack", "b")
            .set("num.partitions", "3")
            .node_override(2, "num.partitions", "6");
        let port = |client, controller| NodePorts { client, controller };
        let ports = [
            port(None, Some(23000)),
            port(Some(23001), None),
            port(Some(23002), None),
        ];
        let dirs: Vec<PathBuf> = (1..=3).map(|n| PathBuf::from(format!("/d{n}"))).collect();
        let settings = spec.node_settings(&ports, &dirs);
        let get = |node: usize, key: &str| {
            settings[node]
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        // (node index, key, value): the controller votes alone, serves no clients; a
        // node's override wins over the cluster's; a node's own host is what it binds,
        // advertises and is known at
        let voters = Some("1@127.0.0.1:23000");
        let expected = [
            (0, "controller.quorum.voters", voters),
            (1, "controller.quorum.voters", voters),
            (2, "controller.quorum.voters", voters),
            (0, "process.roles", Some("controller")),
            (0, "listeners", Some("CONTROLLER://127.0.0.1:23000")),
            (0, "advertised.listeners", None),
            (1, "process.roles", Some("broker")),
            (1, "listeners", Some("PLAINTEXT://127.0.0.1:23001")),
            (1, "num.partitions", Some("6")),
            (2, "num.partitions", Some("3")),
            (2, "listeners", Some("PLAINTEXT://10.0.0.3:23002")),
            (
                2,
                "advertised.listeners",
                Some("PLAINTEXT://10.0.0.3:23002"),
            ),
            (2, "broker.rack", Some("b")),
        ];
        for (node, key, value) in expected {
            assert_eq!(
                get(node, key).as_deref(),
                value,
                "{key} of node {}",
                node + 1
            );
        }
        let keys: Vec<&str> = settings[2].iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys.iter().filter(|k| **k == "num.partitions").count(),
            1,
            "every key once: {keys:?}"
        );
    }
}
