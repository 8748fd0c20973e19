//! `apache_kafka`: Apache Kafka itself, one combined KRaft node (or a cluster of them,
//! [`ApacheKafkaCluster`]) started from its Maven jars
//! (`kafka_2.13`: `kafka.tools.StorageTool format`, then `kafka.Kafka`), as the peer of tests
//! that need a real Kafka beside Ironlog (MirrorMaker 2 between the two) and as the
//! reference when Kafka's behaviour is unclear.
//!
//! The caller brings the classpath (the Java sessions' Maven project resolves it); the node
//! listens on free loopback ports, keeps its data and log in a [`TestDir`] (kept, and its log
//! tail printed, when the test fails) and is killed when dropped.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::dirs::TestDir;
use crate::ports::free_port;

/// How long Kafka may take from exec to accepting connections (a JVM on a loaded machine).
pub const KAFKA_START_TIMEOUT: Duration = Duration::from_secs(120);
/// Heap of the node: what Kafka's start scripts give a broker by default.
pub const KAFKA_HEAP: &str = "-Xmx1G";

/// A running Apache Kafka node; killed on drop.
#[derive(Debug)]
pub struct ApacheKafka {
    child: Child,
    bootstrap: String,
    dir: TestDir,
}

impl ApacheKafka {
    /// Formats a fresh data dir and starts a combined broker+controller node with
    /// `settings` (`key=value` lines of server.properties) on top of a single-node base
    /// (internal topics at replication factor 1). Panics, with the log tail, when it does
    /// not start.
    pub fn start(classpath: &str, settings: &[(&str, &str)]) -> ApacheKafka {
        Self::try_start(classpath, settings).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`ApacheKafka::start`] for callers that report rather than panic (the bench): the
    /// error says what failed, with Kafka's log tail.
    pub fn try_start(classpath: &str, settings: &[(&str, &str)]) -> Result<ApacheKafka, String> {
        let mut nodes = start_nodes(classpath, 1, settings)?;
        nodes
            .pop()
            .ok_or_else(|| "no Apache Kafka node started".to_string())
    }

    /// The JVM's process id (for CPU and memory figures).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last lines of Kafka's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("kafka.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

impl Drop for ApacheKafka {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "----- Apache Kafka log ({}) -----\n{}",
                self.dir.path().display(),
                self.log_tail()
            );
        }
    }
}

/// Several combined KRaft nodes of one Apache Kafka cluster (every node a controller
/// voter and a broker), each with its own data dir and log; killed when dropped. Internal
/// topics keep Kafka's defaults (replication factor 3, `transaction.state.log.min.isr` 2)
/// from three nodes on.
#[derive(Debug)]
pub struct ApacheKafkaCluster {
    nodes: Vec<ApacheKafka>,
}

impl ApacheKafkaCluster {
    /// Formats `nodes` data dirs with one cluster id and starts the nodes, on ports picked
    /// free just before (a controller quorum's voters must be named up front, so port 0 is
    /// not possible); returns once every node accepts connections.
    pub fn try_start(
        classpath: &str,
        nodes: usize,
        settings: &[(&str, &str)],
    ) -> Result<ApacheKafkaCluster, String> {
        Ok(ApacheKafkaCluster {
            nodes: start_nodes(classpath, nodes, settings)?,
        })
    }

    /// Every node's client listener, comma separated.
    pub fn bootstrap(&self) -> String {
        let listeners: Vec<&str> = self.nodes.iter().map(ApacheKafka::bootstrap).collect();
        listeners.join(",")
    }

    pub fn nodes(&self) -> &[ApacheKafka] {
        &self.nodes
    }
}

/// Formats and starts `count` combined nodes (ids 1..=count) naming each other as
/// controller voters, and waits until each listens.
fn start_nodes(
    classpath: &str,
    count: usize,
    settings: &[(&str, &str)],
) -> Result<Vec<ApacheKafka>, String> {
    let cluster_id = random_cluster_id(classpath)?;
    let ports: Vec<(u16, u16)> = (0..count).map(|_| (free_port(), free_port())).collect();
    let voters: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(index, (_, controller_port))| format!("{}@127.0.0.1:{controller_port}", index + 1))
        .collect();
    let voters = voters.join(",");
    // Below three nodes Kafka's internal topics cannot have their default replication.
    let internal_topics = if count < 3 {
        "offsets.topic.replication.factor=1\ntransaction.state.log.replication.factor=1\n\
         transaction.state.log.min.isr=1\n"
    } else {
        ""
    };
    let mut nodes = Vec::with_capacity(count);
    for (index, (port, controller_port)) in ports.into_iter().enumerate() {
        let dir =
            TestDir::new("apache-kafka-").map_err(|e| format!("temp dir for Apache Kafka: {e}"))?;
        let mut properties = format!(
            "process.roles=broker,controller\nnode.id={}\n\
             controller.quorum.voters={voters}\n\
             listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}\n\
             advertised.listeners=PLAINTEXT://127.0.0.1:{port}\n\
             controller.listener.names=CONTROLLER\n\
             listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
             log.dirs={}\n{internal_topics}group.initial.rebalance.delay.ms=0\n",
            index + 1,
            dir.path().join("data").display()
        );
        for (key, value) in settings {
            properties.push_str(&format!("{key}={value}\n"));
        }
        let config = dir.path().join("server.properties");
        std::fs::write(&config, properties).map_err(|e| format!("write server.properties: {e}"))?;
        let format = Command::new("java")
            .args(["-cp", classpath, "kafka.tools.StorageTool", "format"])
            .arg("-t")
            .arg(&cluster_id)
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run java kafka.tools.StorageTool: {e}"))?;
        if !format.status.success() {
            return Err(format!(
                "kafka-storage format failed: {}{}",
                String::from_utf8_lossy(&format.stdout),
                String::from_utf8_lossy(&format.stderr)
            ));
        }
        let log = std::fs::File::create(dir.path().join("kafka.log"))
            .and_then(|log| Ok((log.try_clone()?, log)))
            .map_err(|e| format!("kafka.log: {e}"))?;
        let child = Command::new("java")
            .args([KAFKA_HEAP, "-cp", classpath, "kafka.Kafka"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.0)
            .stderr(log.1)
            .spawn()
            .map_err(|e| format!("cannot run java kafka.Kafka: {e}"))?;
        nodes.push(ApacheKafka {
            child,
            bootstrap: format!("127.0.0.1:{port}"),
            dir,
        });
    }
    // One deadline for the cluster: the nodes start side by side.
    let deadline = Instant::now() + KAFKA_START_TIMEOUT;
    for kafka in &mut nodes {
        while TcpStream::connect(&kafka.bootstrap).is_err() {
            if let Ok(Some(status)) = kafka.child.try_wait() {
                return Err(format!(
                    "Apache Kafka exited ({status}) while starting:\n{}",
                    kafka.log_tail()
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "Apache Kafka did not listen on {} within {} s:\n{}",
                    kafka.bootstrap,
                    KAFKA_START_TIMEOUT.as_secs(),
                    kafka.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(nodes)
}

/// A fresh cluster id, from `kafka-storage random-uuid`.
fn random_cluster_id(classpath: &str) -> Result<String, String> {
    let out = Command::new("java")
        .args(["-cp", classpath, "kafka.tools.StorageTool", "random-uuid"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run java kafka.tools.StorageTool: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "kafka-storage random-uuid failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
