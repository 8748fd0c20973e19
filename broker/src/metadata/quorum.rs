//! `MetadataQuorum`: the cluster metadata log (openraft in KRaft's role) and the image it
//! publishes.
//!
//! Two kinds of quorum, as in Kafka. Static: the voters are `controller.quorum.voters`
//! (none configured: this node alone, Ironlog's single-node default), and the stored
//! membership must name exactly them. Dynamic (KIP-853, `controller.quorum.bootstrap.servers`):
//! the voters are the membership in the log, changed one at a time by AddRaftVoter and
//! RemoveRaftVoter (see `voter_changes`); its controllers carry their controller listener
//! and directory id in their membership entries ([`MetadataNode`]). Node id = Kafka
//! `node.id`; peers are reached through [`super::network`] and serve this node through
//! [`super::raft_rpc`].
//!
//! Formatting on first start, static: every voter with an empty log initializes openraft with
//! the same voter set (openraft allows that; the membership entry is identical everywhere),
//! so nodes may start in any order. Dynamic: a controller formatted `--standalone` (or
//! whose one bootstrap server is itself) initializes with itself as the one voter; one
//! formatted `--initial-controllers` with that list (ids, endpoints, directory ids: the same
//! entries on each, as the static voters'); every other controller joins as a learner
//! (Kafka's observer) through the bootstrap servers.
//! The first leader whose image has no cluster id writes the `ClusterId` record (the
//! configured `cluster.id`, else a random one), in one batch with the bootstrap records
//! `ironlog format` left (see [`super::bootstrap`]); every node waits (bounded) until its
//! image holds one, and only then is formatted (`meta.properties`).
//!
//! Learners (broker-only nodes, a dynamic quorum's observer controllers,
//! `QuorumConfig::learner_address`): never initialize and never vote; at every `join` they
//! ask the voters (the bootstrap servers of a dynamic quorum; JoinAsLearner, see
//! [`super::raft_rpc`]) until the leader has them in the membership at their address, then
//! the leader's replication brings the log, the cluster id included. A dynamic quorum's
//! voter that restarts follows the membership it has and joins nobody — unless its endpoint
//! changed, which it then tells the leader (the role of Kafka's UpdateRaftVoter).

mod voter_changes;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{Config, Raft, RaftMetrics, ServerState, SnapshotPolicy};
use tokio::sync::watch;
use uuid::Uuid;

use super::identity::QuorumIdentity;
use super::image::MetadataImage;
use super::network::{PeerNetworkFactory, UNKNOWN_PEER};
use super::raft_rpc::{JoinAsLearnerRequest, JoinAsLearnerResponse};
use super::records::{MetadataBatch, MetadataRecord};
use super::store::{
    ControllerNode, LogStore, MetadataNode, MetadataRaftConfig, RaftNodeId, StateMachineStore,
    StoreOpenError,
};
use crate::security::NodeConnectors;
use crate::types::kafka_uuid_string;

pub(crate) use voter_changes::{VoterChangeError, VoterEndpoint};

/// Where and as whom the quorum runs.
#[derive(Debug, Clone)]
pub(crate) struct QuorumConfig {
    /// Kafka `node.id`; also the raft node id.
    pub node_id: i32,
    /// `<log dir>/__cluster_metadata-0`.
    pub metadata_dir: PathBuf,
    /// The cluster id to bootstrap with; a random one (Kafka's format) when `None`. On an
    /// existing dir it must match the stored one.
    pub cluster_id: Option<String>,
    /// Voter node id → `host:port` of its controller listener; empty = this node alone.
    pub voters: BTreeMap<i32, String>,
    /// `Some(host:port)` for a node that follows the log as a raft learner (never votes,
    /// never leads) and that the leader replicates to at this address: a broker-only node's
    /// inter-broker listener, a dynamic quorum's controller's controller listener (it is a
    /// learner, Kafka's observer, until AddRaftVoter makes it a voter).
    pub learner_address: Option<String>,
    /// `controller.quorum.bootstrap.servers` as `host:port`: non-empty (and `voters`
    /// empty) for a dynamic quorum (KIP-853), whose voters are the membership in the log.
    pub bootstrap_servers: Vec<String>,
    /// This node's listener and directory id when it is a controller of a dynamic quorum.
    pub controller: Option<ControllerNode>,
    /// `ironlog format --standalone`: a fresh log is initialized with this controller as
    /// its one voter (the others join as observers and are added with AddRaftVoter).
    pub standalone: bool,
    /// `ironlog format --initial-controllers`: a fresh log is initialized with these voters
    /// (the same on each of them, this controller among them); empty otherwise.
    pub initial_voters: BTreeMap<i32, MetadataNode>,
    /// How this node's raft client reaches voters (their controller listener) and learners
    /// (their inter-broker listener), and the other clients reach the other nodes.
    pub connectors: NodeConnectors,
    /// Records committed with the `ClusterId` record if this node writes it (the format
    /// command's, see [`super::bootstrap`]); ignored once the log has a cluster id.
    pub bootstrap_records: Vec<MetadataRecord>,
}

#[cfg(test)]
impl QuorumConfig {
    /// Node 1, the only voter, with its metadata log in `<dir>/__cluster_metadata-0`
    /// (plaintext connectors, a random cluster id).
    pub(crate) fn single_node(dir: &std::path::Path) -> Self {
        QuorumConfig {
            node_id: 1,
            metadata_dir: dir.join("__cluster_metadata-0"),
            cluster_id: None,
            voters: BTreeMap::new(),
            learner_address: None,
            bootstrap_servers: Vec::new(),
            controller: None,
            standalone: false,
            initial_voters: BTreeMap::new(),
            connectors: NodeConnectors::plaintext(),
            bootstrap_records: Vec::new(),
        }
    }
}

/// Tuning knobs; the defaults suit production, tests shrink them.
#[derive(Debug, Clone)]
pub(crate) struct QuorumOptions {
    /// Build a snapshot after this many log entries since the last one.
    pub snapshot_interval_entries: u64,
    /// Log entries kept (not purged) behind the latest snapshot, for lagging followers.
    pub logs_kept_after_snapshot: u64,
    /// Bound on `start` (open, election, catch-up, bootstrap).
    pub start_timeout_ms: u64,
    /// Bound on one `propose`.
    pub propose_timeout_ms: u64,
    pub heartbeat_interval_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// Bound on sending one snapshot chunk (up to 1 MiB) to a follower and its install.
    pub install_snapshot_timeout_ms: u64,
}

impl Default for QuorumOptions {
    fn default() -> Self {
        Self {
            snapshot_interval_entries: 1000,
            logs_kept_after_snapshot: 1000,
            start_timeout_ms: 10_000,
            propose_timeout_ms: 30_000,
            heartbeat_interval_ms: 50,
            election_timeout_min_ms: 150,
            election_timeout_max_ms: 300,
            install_snapshot_timeout_ms: 200,
        }
    }
}

/// Bound on one JoinAsLearner exchange with a voter.
const LEARNER_JOIN_REQUEST_MS: u64 = 2_000;
/// Pause between two JoinAsLearner attempts that found no leader.
const LEARNER_JOIN_PAUSE_MS: u64 = 200;

/// Shortest fetch timeout a networked quorum accepts (its heartbeat is a quarter of it).
const FETCH_TIMEOUT_MIN_MS: u64 = 100;
/// Shortest heartbeat interval, whatever the request timeout says.
const HEARTBEAT_INTERVAL_MIN_MS: u64 = 20;

impl QuorumOptions {
    /// The timing of a quorum over the network from Kafka's settings: a follower stands
    /// for election after `fetch_timeout_ms` without the leader plus a random extra of up
    /// to `election_timeout_ms`; the leader heartbeats four times per fetch timeout, and
    /// since openraft bounds each AppendEntries by the heartbeat interval, that interval
    /// is at most `request_timeout_ms`, which also bounds a snapshot chunk's transfer.
    pub(crate) fn set_network_timing(
        &mut self,
        fetch_timeout_ms: i32,
        election_timeout_ms: i32,
        request_timeout_ms: i32,
    ) {
        let positive = |ms: i32| u64::try_from(ms).unwrap_or(0);
        let fetch_ms = positive(fetch_timeout_ms).max(FETCH_TIMEOUT_MIN_MS);
        self.election_timeout_min_ms = fetch_ms;
        self.election_timeout_max_ms = fetch_ms + positive(election_timeout_ms).max(1);
        self.heartbeat_interval_ms = (fetch_ms / 4)
            .min(positive(request_timeout_ms))
            .max(HEARTBEAT_INTERVAL_MIN_MS);
        self.install_snapshot_timeout_ms = positive(request_timeout_ms).max(fetch_ms / 4);
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum QuorumError {
    #[error("node.id {0} cannot be a metadata quorum node id (must be >= 0)")]
    InvalidNodeId(i32),
    #[error("metadata dir {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("metadata store: {0}")]
    Store(String),
    #[error("cluster id mismatch: configured {configured}, stored in the metadata log {stored}")]
    InconsistentClusterId { configured: String, stored: String },
    #[error("this node is not the active controller (leader: {leader:?})")]
    NotController { leader: Option<i32> },
    #[error("timed out after {timeout_ms} ms waiting for {what}")]
    Timeout { what: &'static str, timeout_ms: u64 },
    #[error("metadata quorum is shut down")]
    ShutDown,
    #[error("{0}")]
    Fatal(String),
    #[error(
        "the metadata log in this data dir has the voters {stored:?} but controller.quorum.voters \
         names {configured:?}: the data dir belongs to another cluster, or the voters were \
         changed (not supported)"
    )]
    VotersMismatch {
        stored: Vec<RaftNodeId>,
        configured: Vec<RaftNodeId>,
    },
    #[error("the metadata quorum refused this node as a learner: {0}")]
    LearnerRefused(String),
    #[error("raft: {0}")]
    Raft(String),
}

impl From<StoreOpenError> for QuorumError {
    fn from(e: StoreOpenError) -> Self {
        QuorumError::Store(e.to_string())
    }
}

/// The running metadata quorum member on this node.
pub(crate) struct MetadataQuorum {
    node_id: i32,
    raft: Raft<MetadataRaftConfig>,
    identity: Arc<QuorumIdentity>,
    voters: BTreeMap<RaftNodeId, MetadataNode>,
    /// Where the leader reaches this node when it is a learner (a broker-only node, an
    /// observer controller of a dynamic quorum).
    learner_address: Option<String>,
    /// `controller.quorum.bootstrap.servers` (a dynamic quorum's), `host:port`.
    bootstrap_servers: Vec<String>,
    /// This controller's listener and directory id in a dynamic quorum.
    controller: Option<ControllerNode>,
    standalone: bool,
    /// `format --initial-controllers`' voters (empty: not formatted so).
    initial_voters: BTreeMap<RaftNodeId, MetadataNode>,
    /// Held while AddRaftVoter or RemoveRaftVoter runs: one voter change at a time.
    voter_change: tokio::sync::Mutex<()>,
    connectors: NodeConnectors,
    configured_cluster_id: Option<String>,
    bootstrap_records: Vec<MetadataRecord>,
    fatal: watch::Receiver<Option<String>>,
    images: watch::Receiver<Arc<MetadataImage>>,
    metrics: watch::Receiver<RaftMetrics<RaftNodeId, MetadataNode>>,
    options: QuorumOptions,
    shut_down: AtomicBool,
}

impl std::fmt::Debug for MetadataQuorum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataQuorum")
            .field("node_id", &self.node_id)
            .field("offset", &self.images.borrow().offset)
            .finish()
    }
}

/// A random cluster id in Kafka's format: 16 random bytes, URL-safe base64 without padding,
/// never starting with '-' (Kafka's `Uuid.randomUuid().toString()`).
pub(crate) fn random_cluster_id() -> String {
    // Bounded: a v4 uuid starts with '-' with probability 1/64.
    for _ in 0..1000 {
        let id = kafka_uuid_string(Uuid::new_v4());
        if !id.starts_with('-') {
            return id;
        }
    }
    kafka_uuid_string(Uuid::from_u128(1 << 100))
}

impl MetadataQuorum {
    /// The connectors of this node's own clients of the other nodes.
    pub(crate) fn connectors(&self) -> &NodeConnectors {
        &self.connectors
    }

    /// Opens the persisted log/vote/snapshot in `cfg.metadata_dir`, replays it into the image
    /// and waits (bounded) until this node leads and the image has caught up. A fresh dir
    /// gets a single-voter membership `{node_id}` and a `ClusterId` record.
    #[cfg(test)]
    pub(crate) async fn start(cfg: QuorumConfig) -> Result<MetadataQuorum, QuorumError> {
        Self::start_with_options(cfg, QuorumOptions::default()).await
    }

    #[cfg(test)]
    pub(crate) async fn start_with_options(
        cfg: QuorumConfig,
        options: QuorumOptions,
    ) -> Result<MetadataQuorum, QuorumError> {
        let timeout_ms = options.start_timeout_ms;
        let quorum = Self::open(cfg, options).await?;
        match quorum.join(timeout_ms).await {
            Ok(()) => Ok(quorum),
            Err(e) => {
                if let Err(shutdown_error) = quorum.shutdown().await {
                    tracing::warn!(error = %shutdown_error, "shutting down after a failed start");
                }
                Err(e)
            }
        }
    }

    /// Opens the persisted log/vote/snapshot and starts raft, without waiting for a leader:
    /// the caller serves the raft RPCs ([`MetadataQuorum::serve_rpc`]) and then
    /// [`MetadataQuorum::join`]s.
    pub(crate) async fn open(
        cfg: QuorumConfig,
        options: QuorumOptions,
    ) -> Result<MetadataQuorum, QuorumError> {
        let raft_node_id = RaftNodeId::try_from(cfg.node_id)
            .map_err(|_| QuorumError::InvalidNodeId(cfg.node_id))?;
        let mut voters = BTreeMap::new();
        for (id, addr) in &cfg.voters {
            let id = RaftNodeId::try_from(*id).map_err(|_| QuorumError::InvalidNodeId(*id))?;
            voters.insert(id, MetadataNode::new(addr.clone()));
        }
        let dynamic = voters.is_empty() && !cfg.bootstrap_servers.is_empty();
        if voters.is_empty() && !dynamic && cfg.learner_address.is_none() {
            voters.insert(raft_node_id, MetadataNode::default());
        }
        if voters.is_empty() && !dynamic {
            return Err(QuorumError::LearnerRefused(
                "a learner needs the voters (controller.quorum.voters) or \
                 controller.quorum.bootstrap.servers to follow"
                    .to_string(),
            ));
        }
        if cfg.standalone && (!dynamic || cfg.controller.is_none() || cfg.learner_address.is_none())
        {
            return Err(QuorumError::Fatal(
                "formatted --standalone, but this node is not a controller of a dynamic quorum \
                 (controller.quorum.bootstrap.servers)"
                    .to_string(),
            ));
        }
        let mut initial_voters = BTreeMap::new();
        for (id, node) in &cfg.initial_voters {
            let id = RaftNodeId::try_from(*id).map_err(|_| QuorumError::InvalidNodeId(*id))?;
            initial_voters.insert(id, node.clone());
        }
        if !initial_voters.is_empty() {
            let own = initial_voters
                .get(&raft_node_id)
                .and_then(|node| node.controller.as_ref());
            let directory_id = cfg.controller.as_ref().map(|c| c.directory_id);
            if !dynamic
                || cfg.learner_address.is_none()
                || own.map(|c| c.directory_id) != directory_id
            {
                return Err(QuorumError::Fatal(format!(
                    "formatted --initial-controllers, but this node is not a controller of a \
                     dynamic quorum among them under its directory id (node.id {}, directory \
                     id {:?})",
                    cfg.node_id,
                    directory_id.map(crate::types::kafka_uuid_string)
                )));
            }
        }
        let dir = cfg.metadata_dir.clone();
        let opened = tokio::task::spawn_blocking(move || -> Result<_, QuorumError> {
            std::fs::create_dir_all(&dir).map_err(|source| QuorumError::Io {
                path: dir.clone(),
                source,
            })?;
            let log_store = LogStore::open(&dir)?;
            Ok((dir, log_store))
        })
        .await
        .map_err(|e| QuorumError::Store(format!("opening the metadata log: {e}")))?;
        let (dir, log_store) = opened?;
        let (publisher, images) = watch::channel(Arc::new(MetadataImage::empty()));
        let (fatal_signal, fatal) = watch::channel(None);
        let identity = Arc::new(
            QuorumIdentity::new(
                cfg.node_id,
                cfg.cluster_id.clone(),
                images.clone(),
                voters
                    .keys()
                    .filter_map(|id| i32::try_from(*id).ok())
                    .collect(),
                fatal_signal,
            )
            .with_directory_id(cfg.controller.as_ref().map(|c| c.directory_id)),
        );
        let state_machine = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || StateMachineStore::open(&dir, publisher))
                .await
                .map_err(|e| QuorumError::Store(format!("opening the metadata snapshot: {e}")))??
        };

        let config = Config {
            cluster_name: "ironlog-metadata".to_string(),
            heartbeat_interval: options.heartbeat_interval_ms,
            election_timeout_min: options.election_timeout_min_ms,
            election_timeout_max: options.election_timeout_max_ms,
            install_snapshot_timeout: options.install_snapshot_timeout_ms,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(options.snapshot_interval_entries),
            max_in_snapshot_log_to_keep: options.logs_kept_after_snapshot,
            purge_batch_size: 1,
            // JSON doubles and more the bytes of a chunk on the wire.
            snapshot_max_chunk_size: 1024 * 1024,
            ..Config::default()
        }
        .validate()
        .map_err(|e| QuorumError::Raft(format!("invalid raft config: {e}")))?;

        let raft = Raft::new(
            raft_node_id,
            Arc::new(config),
            PeerNetworkFactory::new(
                Arc::clone(&identity),
                voters
                    .iter()
                    .filter(|(_, node)| !node.addr.is_empty())
                    .map(|(id, node)| (*id, node.addr.clone()))
                    .collect(),
                cfg.connectors.clone(),
            ),
            log_store,
            state_machine,
        )
        .await
        .map_err(|e| QuorumError::Raft(e.to_string()))?;
        Ok(MetadataQuorum {
            node_id: cfg.node_id,
            metrics: raft.metrics(),
            raft,
            identity,
            voters,
            learner_address: cfg.learner_address,
            bootstrap_servers: cfg.bootstrap_servers,
            controller: cfg.controller,
            standalone: cfg.standalone,
            initial_voters,
            voter_change: tokio::sync::Mutex::new(()),
            connectors: cfg.connectors,
            configured_cluster_id: cfg.cluster_id,
            bootstrap_records: cfg.bootstrap_records,
            fatal,
            images,
            options,
            shut_down: AtomicBool::new(false),
        })
    }

    /// Formats a fresh quorum member or rejoins the stored one, and waits (at most
    /// `timeout_ms`) until a leader is known and this node's image holds the cluster id —
    /// writing it when this node leads first (see the module header). A stored cluster id
    /// that is not the configured one is [`QuorumError::InconsistentClusterId`].
    pub(crate) async fn join(&self, timeout_ms: u64) -> Result<(), QuorumError> {
        let raft_node_id = RaftNodeId::try_from(self.node_id)
            .map_err(|_| QuorumError::InvalidNodeId(self.node_id))?;
        let initialized = self
            .raft
            .is_initialized()
            .await
            .map_err(|e| QuorumError::Raft(e.to_string()))?;
        // A dynamic quorum's stored voters are the membership; a static one's the config.
        let mut voter_now = false;
        let mut update_endpoint = false;
        if !initialized && self.standalone {
            let node = self.own_node();
            tracing::info!(
                node_id = self.node_id,
                node = %node,
                "formatting the metadata quorum: this controller is its one voter (--standalone)"
            );
            match self
                .raft
                .initialize(BTreeMap::from([(raft_node_id, node)]))
                .await
            {
                Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                Err(e) => return Err(QuorumError::Raft(e.to_string())),
            }
            voter_now = true;
        } else if !initialized && !self.initial_voters.is_empty() {
            tracing::info!(
                node_id = self.node_id,
                voters = ?self.initial_voters.keys().collect::<Vec<_>>(),
                "formatting the metadata quorum: initializing with the initial controllers"
            );
            match self.raft.initialize(self.initial_voters.clone()).await {
                Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                Err(e) => return Err(QuorumError::Raft(e.to_string())),
            }
            voter_now = true;
        } else if !initialized && self.learner_address.is_some() {
            tracing::info!(
                node_id = self.node_id,
                voters = ?self.voters.keys().collect::<Vec<_>>(),
                bootstrap_servers = ?self.bootstrap_servers,
                "a fresh metadata log: following the quorum as a learner"
            );
        } else if !initialized {
            tracing::info!(
                node_id = self.node_id,
                voters = ?self.voters.keys().collect::<Vec<_>>(),
                "formatting the metadata quorum: initializing with the configured voters"
            );
            match self.raft.initialize(self.voters.clone()).await {
                Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                Err(e) => return Err(QuorumError::Raft(e.to_string())),
            }
        } else {
            // Metrics carry the stored membership once raft has loaded its state.
            let timeout_ms = self.options.start_timeout_ms;
            let metrics = self
                .raft
                .wait(Some(Duration::from_millis(timeout_ms)))
                .metrics(
                    |m| m.membership_config.voter_ids().next().is_some(),
                    "stored membership loaded",
                )
                .await
                .map_err(|_| QuorumError::Timeout {
                    what: "the stored membership to load",
                    timeout_ms,
                })?;
            let voters: Vec<RaftNodeId> = metrics.membership_config.voter_ids().collect();
            let configured: Vec<RaftNodeId> = self.voters.keys().copied().collect();
            if !self.is_dynamic() && voters != configured {
                // A static quorum: the configuration names the voters (changing them takes
                // a dynamic quorum, controller.quorum.bootstrap.servers).
                return Err(QuorumError::VotersMismatch {
                    stored: voters,
                    configured,
                });
            }
            voter_now = voters.contains(&raft_node_id);
            let stored = metrics
                .membership_config
                .nodes()
                .find(|(id, _)| **id == raft_node_id)
                .map(|(_, node)| node.clone());
            if self.is_dynamic() && voter_now && stored.as_ref() != Some(&self.own_node()) {
                // restarted at another endpoint: the leader must learn it (Kafka's
                // UpdateRaftVoter), or nobody reaches this voter
                tracing::info!(
                    node_id = self.node_id,
                    stored = ?stored,
                    now = %self.own_node(),
                    "this voter's endpoint changed: updating it"
                );
                update_endpoint = true;
            }
            let sole_voter = voters == [raft_node_id];
            if sole_voter {
                // The only voter need not wait for an election timeout to lead again.
                self.raft
                    .trigger()
                    .elect()
                    .await
                    .map_err(|e| QuorumError::Raft(e.to_string()))?;
            }
        }

        let deadline = tokio::time::Instant::now() + Duration::from_millis(timeout_ms);
        if let Some(address) = &self.learner_address {
            // A dynamic quorum's voter follows as a voter (telling the leader its new
            // endpoint if it moved); everyone else (re)joins.
            if !(self.is_dynamic() && voter_now) || update_endpoint {
                self.join_as_learner(address, deadline, timeout_ms).await?;
            }
        }
        self.await_cluster_id(raft_node_id, timeout_ms).await?;
        let stored = self.image().cluster_id.clone();
        if let Some(configured) = &self.configured_cluster_id {
            if *configured != stored {
                return Err(QuorumError::InconsistentClusterId {
                    configured: configured.clone(),
                    stored,
                });
            }
        }
        let image = self.image();
        tracing::info!(
            node_id = self.node_id,
            cluster_id = %image.cluster_id,
            offset = image.offset,
            topics = image.topics.len(),
            "metadata quorum started"
        );
        Ok(())
    }

    /// Asks the voters' controller listeners (a dynamic quorum's bootstrap servers), the
    /// known leader first, until the leader has this node in the membership as a learner at
    /// `address` (then it replicates the log here). Bounded by `deadline`; a majority of
    /// voters of another cluster (the fatal signal) or a refusal ends it at once.
    async fn join_as_learner(
        &self,
        address: &str,
        deadline: tokio::time::Instant,
        timeout_ms: u64,
    ) -> Result<(), QuorumError> {
        let targets: Vec<(RaftNodeId, String)> = if self.is_dynamic() {
            self.bootstrap_servers
                .iter()
                .map(|addr| (UNKNOWN_PEER, addr.clone()))
                .collect()
        } else {
            self.voters
                .iter()
                .map(|(id, node)| (*id, node.addr.clone()))
                .collect()
        };
        let mut next: Option<(RaftNodeId, String)> = self
            .leader_id()
            .and_then(|l| RaftNodeId::try_from(l).ok())
            .and_then(|id| targets.iter().find(|(v, _)| *v == id).cloned());
        let mut round = 0usize;
        loop {
            if let Some(message) = self.fatal.borrow().clone() {
                return Err(QuorumError::Fatal(message));
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(QuorumError::Timeout {
                    what: "the metadata quorum leader to add this node as a learner",
                    timeout_ms,
                });
            }
            let (voter, voter_addr) = match next.take() {
                Some(target) => target,
                None => {
                    round += 1;
                    targets[round % targets.len()].clone()
                }
            };
            let ask = (deadline - now).min(Duration::from_millis(LEARNER_JOIN_REQUEST_MS));
            let request = JoinAsLearnerRequest {
                address: address.to_owned(),
                controller: self.controller.clone(),
            };
            match super::network::join_as_learner(
                &self.identity,
                &self.connectors.controller,
                voter,
                &voter_addr,
                request,
                ask,
            )
            .await
            {
                Ok(JoinAsLearnerResponse::Joined) => {
                    tracing::info!(
                        node_id = self.node_id,
                        leader = %voter_addr,
                        %address,
                        "following the metadata quorum as a learner"
                    );
                    return Ok(());
                }
                Ok(JoinAsLearnerResponse::Refused { reason }) => {
                    return Err(QuorumError::LearnerRefused(reason))
                }
                Ok(JoinAsLearnerResponse::NotLeader {
                    leader,
                    leader_address,
                }) => {
                    let leader = leader.and_then(|l| RaftNodeId::try_from(l).ok());
                    next = match (leader, leader_address) {
                        (Some(id), _) if !self.is_dynamic() => {
                            targets.iter().find(|(v, _)| *v == id).cloned()
                        }
                        (Some(id), Some(addr)) => Some((id, addr)),
                        _ => None,
                    }
                    .filter(|(_, addr)| *addr != voter_addr);
                    if next.is_some() {
                        continue;
                    }
                }
                Ok(JoinAsLearnerResponse::Retry { reason }) => {
                    tracing::debug!(%voter_addr, %reason, "joining as a learner: asked to retry");
                    next = Some((voter, voter_addr));
                }
                Err(e) => tracing::debug!(%voter_addr, error = %e, "joining as a learner"),
            }
            // paces the asking while no leader is elected or reachable
            tokio::time::sleep_until(
                (tokio::time::Instant::now() + Duration::from_millis(LEARNER_JOIN_PAUSE_MS))
                    .min(deadline),
            )
            .await;
        }
    }

    /// Whether the voters are the membership in the log (KIP-853) rather than
    /// `controller.quorum.voters`.
    pub(crate) fn is_dynamic(&self) -> bool {
        self.voters.is_empty() && !self.bootstrap_servers.is_empty()
    }

    /// Kafka's kraft.version of this quorum: 1 for a dynamic one (KIP-853), 0 for static
    /// voters (see [`super::features`]).
    pub(crate) fn kraft_version(&self) -> i16 {
        i16::from(self.is_dynamic())
    }

    /// This node's membership entry in a dynamic quorum.
    fn own_node(&self) -> MetadataNode {
        MetadataNode {
            addr: self.learner_address.clone().unwrap_or_default(),
            controller: self.controller.clone(),
        }
    }

    /// Waits until a leader is known and the image holds the cluster id (and, on the
    /// leader, every entry is applied), proposing the `ClusterId` record while this node
    /// leads an image without one. Bounded by `timeout_ms`; a fatal signal (another
    /// cluster's voters) ends it at once.
    async fn await_cluster_id(
        &self,
        raft_node_id: RaftNodeId,
        timeout_ms: u64,
    ) -> Result<(), QuorumError> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(timeout_ms);
        let mut metrics = self.metrics.clone();
        let mut images = self.images.clone();
        let mut fatal = self.fatal.clone();
        let mut proposed_in_term = None;
        loop {
            if let Some(message) = fatal.borrow().clone() {
                return Err(QuorumError::Fatal(message));
            }
            let (leader, caught_up, term) = {
                let m = metrics.borrow_and_update();
                (
                    m.current_leader,
                    m.last_applied.map(|l| l.index) == m.last_log_index,
                    m.current_term,
                )
            };
            let has_cluster_id = !images.borrow_and_update().cluster_id.is_empty();
            let self_named = leader == Some(raft_node_id);
            let leads = self_named && self.is_active_controller();
            // A leader answers for its image only once everything is applied.
            if has_cluster_id && leader.is_some() && (!self_named || (leads && caught_up)) {
                return Ok(());
            }
            if leads && caught_up && !has_cluster_id && proposed_in_term != Some(term) {
                proposed_in_term = Some(term);
                let cluster_id = self
                    .configured_cluster_id
                    .clone()
                    .unwrap_or_else(random_cluster_id);
                tracing::info!(
                    %cluster_id,
                    bootstrap_records = self.bootstrap_records.len(),
                    "writing the cluster id"
                );
                let mut records = vec![MetadataRecord::ClusterId { cluster_id }];
                records.extend(self.bootstrap_records.iter().cloned());
                if let Err(e) = self.propose(records).await {
                    tracing::warn!(error = %e, "writing the cluster id failed; retrying");
                    proposed_in_term = None;
                }
                continue;
            }
            // Woken by any change; the 100 ms tick re-checks what nothing signals.
            let woken = tokio::time::timeout_at(deadline, async {
                tokio::select! {
                    _ = metrics.changed() => {}
                    _ = images.changed() => {}
                    _ = fatal.changed() => {}
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            })
            .await;
            if woken.is_err() {
                return Err(QuorumError::Timeout {
                    what: "a metadata quorum leader and the cluster id",
                    timeout_ms,
                });
            }
        }
    }

    /// Serves one raft RPC of a peer on the controller listener (see [`super::raft_rpc`]).
    pub(crate) async fn serve_rpc(
        &self,
        api_key: i16,
        body: &[u8],
    ) -> Result<bytes::Bytes, super::raft_rpc::RaftRpcError> {
        super::raft_rpc::serve(&self.raft, &self.identity, api_key, body, false).await
    }

    /// Serves the leader's replication to this learner (AppendEntries, InstallSnapshot from
    /// a voter; anything else is refused) on a broker-only node's inter-broker listener.
    pub(crate) async fn serve_learner_rpc(
        &self,
        api_key: i16,
        body: &[u8],
    ) -> Result<bytes::Bytes, super::raft_rpc::RaftRpcError> {
        super::raft_rpc::serve(&self.raft, &self.identity, api_key, body, true).await
    }

    /// Set (with a message naming both cluster ids) once a majority of the voters turned
    /// out to belong to another cluster: this node must stop.
    pub(crate) fn fatal_signal(&self) -> watch::Receiver<Option<String>> {
        self.fatal.clone()
    }

    /// Controllers that asked to join under a voter's node id with another directory id
    /// (a voter whose data dir was replaced): Kafka's leader lists them as observers.
    pub(crate) fn replacing_observers(&self) -> Vec<(i32, Uuid, i64)> {
        self.identity.replacing_observers()
    }

    /// When a raft exchange with `peer` last went through (ms since the epoch).
    pub(crate) fn last_contact_ms(&self, peer: i32) -> Option<i64> {
        self.identity.last_contact_ms(peer)
    }

    /// The cluster id as this node knows it (see [`QuorumIdentity::cluster_id`]).
    pub(crate) fn cluster_id(&self) -> Option<String> {
        self.identity.cluster_id()
    }

    /// The current raft leader, i.e. Kafka's active controller, if known.
    pub(crate) fn leader_id(&self) -> Option<i32> {
        self.metrics
            .borrow()
            .current_leader
            .and_then(|id| i32::try_from(id).ok())
    }

    /// Resolves once the raft leader is no longer `leader` (an election named another, or
    /// none yet); pending forever while it stays.
    pub(crate) async fn leader_changed_from(&self, leader: i32) {
        let mut metrics = self.metrics.clone();
        loop {
            let current = metrics
                .borrow_and_update()
                .current_leader
                .and_then(|id| i32::try_from(id).ok());
            if current != Some(leader) {
                return;
            }
            if metrics.changed().await.is_err() {
                // the raft is gone: nothing will change any more
                std::future::pending::<()>().await;
            }
        }
    }

    /// `host:port` of voter `node_id`'s controller listener: the configured one, else the
    /// stored membership's.
    pub(crate) fn voter_address(&self, node_id: i32) -> Option<String> {
        let id = RaftNodeId::try_from(node_id).ok()?;
        if let Some(node) = self.voters.get(&id).filter(|n| !n.addr.is_empty()) {
            return Some(node.addr.clone());
        }
        let metrics = self.metrics.borrow();
        let address = metrics
            .membership_config
            .nodes()
            .find(|(nid, _)| **nid == id)
            .map(|(_, node)| node.addr.clone())
            .filter(|addr| !addr.is_empty());
        address
    }

    /// Where the leader `leader` is reached on the controller listener: this node's own
    /// address when it leads a dynamic quorum (its listener, as Kafka's leader names its
    /// own endpoints), else the one the voters have for it.
    pub(crate) fn leader_address(&self, leader: i32) -> Option<String> {
        if leader == self.node_id && self.is_dynamic() {
            if let Some(own) = self.learner_address.clone() {
                return Some(own);
            }
        }
        self.voter_address(leader)
    }

    /// Every controller's id and controller listener `host:port` — a static quorum's
    /// configured voters, a dynamic quorum's voters and observer controllers — by id.
    pub(crate) fn controller_addresses(&self) -> BTreeMap<i32, String> {
        if !self.is_dynamic() {
            return self
                .voters
                .iter()
                .filter_map(|(id, node)| Some((i32::try_from(*id).ok()?, node.addr.clone())))
                .filter(|(_, addr)| !addr.is_empty())
                .collect();
        }
        let metrics = self.metrics.borrow();
        let addresses = metrics
            .membership_config
            .nodes()
            .filter(|(_, node)| node.controller.is_some() && !node.addr.is_empty())
            .filter_map(|(id, node)| Some((i32::try_from(*id).ok()?, node.addr.clone())))
            .collect();
        addresses
    }

    /// The raft metrics now (DescribeQuorum's source).
    pub(crate) fn metrics(&self) -> RaftMetrics<RaftNodeId, MetadataNode> {
        self.metrics.borrow().clone()
    }

    /// The latest published image.
    pub(crate) fn image(&self) -> Arc<MetadataImage> {
        self.images.borrow().clone()
    }

    /// A receiver that sees every newly published image.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.images.clone()
    }

    /// Appends `records` as one raft entry (applied atomically) and returns its index once it
    /// is applied and the resulting image is published.
    pub(crate) async fn propose(&self, records: Vec<MetadataRecord>) -> Result<u64, QuorumError> {
        if self.shut_down.load(Ordering::Acquire) {
            return Err(QuorumError::ShutDown);
        }
        let timeout_ms = self.options.propose_timeout_ms;
        let written = tokio::time::timeout(
            Duration::from_millis(timeout_ms),
            self.raft.client_write(MetadataBatch::new(records)),
        )
        .await
        .map_err(|_| QuorumError::Timeout {
            what: "a metadata proposal to commit",
            timeout_ms,
        })?;
        match written {
            Ok(response) => {
                debug_assert!(
                    self.images.borrow().offset >= response.log_id.index,
                    "published before returning"
                );
                Ok(response.log_id.index)
            }
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
                Err(QuorumError::NotController {
                    leader: forward.leader_id.and_then(|id| i32::try_from(id).ok()),
                })
            }
            Err(RaftError::Fatal(e)) => {
                tracing::error!(error = %e, "metadata raft stopped");
                Err(QuorumError::Raft(e.to_string()))
            }
            Err(e) => Err(QuorumError::Raft(e.to_string())),
        }
    }

    /// Whether this node is the raft leader, i.e. Kafka's active controller.
    pub(crate) fn is_active_controller(&self) -> bool {
        let metrics = self.metrics.borrow();
        !self.shut_down.load(Ordering::Acquire)
            && metrics.state == ServerState::Leader
            && metrics.current_leader.and_then(|id| i32::try_from(id).ok()) == Some(self.node_id)
    }

    /// The raft term this node leads in, `None` unless it is the active controller: a new
    /// term is a new activation (the controller's in-memory broker sessions start over).
    pub(crate) fn active_term(&self) -> Option<u64> {
        let term = self.metrics.borrow().current_term;
        self.is_active_controller().then_some(term)
    }

    /// This node stops standing for election (it still votes, and keeps leading if it
    /// leads): a node on its way down that became the active controller would leave the
    /// quorum leaderless again moments later, when the others may no longer be a majority.
    pub(crate) fn stop_campaigning(&self) {
        self.raft.runtime_config().elect(false);
    }

    /// Stops raft and closes the files. Idempotent.
    pub(crate) async fn shutdown(&self) -> Result<(), QuorumError> {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        tracing::info!(node_id = self.node_id, "shutting down the metadata quorum");
        self.raft
            .shutdown()
            .await
            .map_err(|e| QuorumError::Raft(format!("shutdown: {e}")))
    }

    #[cfg(test)]
    pub(crate) async fn wait_for_snapshot_at_least(
        &self,
        index: u64,
        timeout_ms: u64,
    ) -> RaftMetrics<RaftNodeId, MetadataNode> {
        self.raft
            .wait(Some(Duration::from_millis(timeout_ms)))
            .metrics(
                |m| {
                    m.snapshot.is_some_and(|s| s.index >= index)
                        && m.purged.is_some_and(|p| p.index + 1 >= index)
                },
                "snapshot and purge",
            )
            .await
            .unwrap_or_else(|e| {
                panic!("no snapshot+purge at index {index} within {timeout_ms} ms: {e}")
            })
    }
}

impl Drop for MetadataQuorum {
    fn drop(&mut self) {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return;
        }
        // Dropped without `shutdown`: stop raft in the background (cannot await here).
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let raft = self.raft.clone();
            runtime.spawn(async move {
                if let Err(e) = raft.shutdown().await {
                    tracing::warn!(error = %e, "metadata raft shutdown on drop");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::metadata::store::{LOG_FILE_NAME, SNAPSHOT_FILE_NAME};

    fn config(dir: &std::path::Path) -> QuorumConfig {
        QuorumConfig::single_node(dir)
    }

    #[test]
    fn network_timing_follows_kafkas_quorum_timeouts() {
        let mut options = QuorumOptions::default();
        // Kafka's defaults: fetch 2000, election 1000, request 2000
        options.set_network_timing(2000, 1000, 2000);
        assert_eq!(
            (
                options.election_timeout_min_ms,
                options.election_timeout_max_ms,
                options.heartbeat_interval_ms,
                options.install_snapshot_timeout_ms
            ),
            (2000, 3000, 500, 2000)
        );
        // a short request timeout bounds the heartbeat; nonsense values are floored
        options.set_network_timing(2000, 1000, 200);
        assert_eq!(options.heartbeat_interval_ms, 200);
        options.set_network_timing(-1, -1, -1);
        assert_eq!(
            (
                options.election_timeout_min_ms,
                options.election_timeout_max_ms,
                options.heartbeat_interval_ms
            ),
            (100, 101, 20)
        );
    }

    fn topic(name: &str) -> MetadataRecord {
        MetadataRecord::Topic {
            name: name.into(),
            topic_id: Uuid::new_v4(),
        }
    }

    /// Images equal in content (the offset may move on restart: a new leader's blank entry).
    fn assert_same_content(a: &MetadataImage, b: &MetadataImage, what: &str) {
        let strip = |i: &MetadataImage| MetadataImage {
            offset: 0,
            ..i.clone()
        };
        assert_eq!(
            strip(a),
            strip(b),
            "{what}: metadata image differs after restart"
        );
    }

    #[test]
    fn cluster_ids_look_like_kafkas() {
        let id = random_cluster_id();
        assert_eq!(
            id.len(),
            22,
            "16 bytes in unpadded base64 are 22 characters: {id}"
        );
        assert!(id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert!(!id.starts_with('-'));
    }

    #[tokio::test]
    async fn fresh_start_bootstraps_quickly_and_state_survives_restart() {
        let dir = tempfile::tempdir().unwrap();
        let started_at = std::time::Instant::now();
        let quorum = MetadataQuorum::start(config(dir.path())).await.unwrap();
        let elapsed = started_at.elapsed();
        assert!(
            elapsed < Duration::from_millis(1000),
            "fresh start took {elapsed:?}, expected well under a second"
        );
        assert!(
            quorum.is_active_controller(),
            "the single voter must be the active controller"
        );
        let cluster_id = quorum.image().cluster_id.clone();
        assert_eq!(
            cluster_id.len(),
            22,
            "a random Kafka-style cluster id is written: {cluster_id}"
        );

        let mut images = quorum.subscribe();
        let offset = quorum.propose(vec![topic("a"), topic("b")]).await.unwrap();
        assert_eq!(
            quorum.image().offset,
            offset,
            "propose returns after the image is published"
        );
        assert!(
            images.has_changed().unwrap(),
            "subscribers see the new image"
        );
        assert_eq!(images.borrow_and_update().topics.len(), 2);
        let before = quorum.image();
        quorum.shutdown().await.unwrap();
        assert!(!quorum.is_active_controller());
        assert!(matches!(
            quorum.propose(vec![]).await,
            Err(QuorumError::ShutDown)
        ));

        let restarted_at = std::time::Instant::now();
        let quorum = MetadataQuorum::start(config(dir.path())).await.unwrap();
        let elapsed = restarted_at.elapsed();
        assert!(
            elapsed < Duration::from_millis(1000),
            "restart took {elapsed:?}, expected well under a second"
        );
        assert_same_content(&before, &quorum.image(), "start/propose/shutdown/start");
        assert!(
            quorum.image().offset >= before.offset,
            "image offsets never go back across restarts"
        );
        quorum.shutdown().await.unwrap();

        let mut wrong = config(dir.path());
        wrong.cluster_id = Some("another-cluster-id".into());
        let err = MetadataQuorum::start(wrong).await.unwrap_err();
        assert!(
            matches!(err, QuorumError::InconsistentClusterId { .. }),
            "expected a cluster id mismatch, got {err}"
        );
    }

    #[tokio::test]
    async fn configured_cluster_id_is_used_and_negative_node_ids_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path());
        cfg.cluster_id = Some("MkU3OEVBNTcwNTJENDM2Qk".into());
        let quorum = MetadataQuorum::start(cfg.clone()).await.unwrap();
        assert_eq!(quorum.image().cluster_id, "MkU3OEVBNTcwNTJENDM2Qk");
        quorum.shutdown().await.unwrap();
        let quorum = MetadataQuorum::start(cfg).await.unwrap();
        assert_eq!(
            quorum.image().cluster_id,
            "MkU3OEVBNTcwNTJENDM2Qk",
            "same id accepted on restart"
        );
        quorum.shutdown().await.unwrap();

        let mut negative = config(dir.path());
        negative.node_id = -1;
        assert!(matches!(
            MetadataQuorum::start(negative).await,
            Err(QuorumError::InvalidNodeId(-1))
        ));
    }

    #[tokio::test]
    async fn bootstrap_records_come_with_the_cluster_id_and_only_for_a_fresh_log() {
        use crate::security::sasl::scram::ScramMechanism;
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path());
        let credential = |name: &str| MetadataRecord::UserScramCredential {
            name: name.into(),
            mechanism: ScramMechanism::Sha256,
            credential: crate::security::sasl::scram::ScramCredential::derive(
                ScramMechanism::Sha256,
                b"salt",
                &[3; 32],
                4096,
            ),
        };
        cfg.bootstrap_records = vec![credential("alice")];
        let quorum = MetadataQuorum::start(cfg.clone()).await.unwrap();
        assert!(
            quorum
                .image()
                .scram_credential("alice", ScramMechanism::Sha256)
                .is_some(),
            "the bootstrap credential is in the first image"
        );
        quorum.shutdown().await.unwrap();
        // A log that has its cluster id takes no bootstrap records any more.
        cfg.bootstrap_records = vec![credential("mallory")];
        let quorum = MetadataQuorum::start(cfg).await.unwrap();
        let image = quorum.image();
        assert!(image
            .scram_credential("alice", ScramMechanism::Sha256)
            .is_some());
        assert!(
            image
                .scram_credential("mallory", ScramMechanism::Sha256)
                .is_none(),
            "bootstrap records are applied once, with the cluster id"
        );
        quorum.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn torn_log_tail_after_a_crash_is_dropped_and_the_quorum_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let quorum = MetadataQuorum::start(config(dir.path())).await.unwrap();
        quorum.propose(vec![topic("kept")]).await.unwrap();
        let before = quorum.image();
        quorum.shutdown().await.unwrap();

        // kill -9 in the middle of a frame write: a header promising more bytes than exist.
        let path = config(dir.path()).metadata_dir.join(LOG_FILE_NAME);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(&[0, 0, 1, 0, 0xde, 0xad, 0xbe, 0xef, b'{', b'"'])
            .unwrap();
        drop(file);

        let quorum = MetadataQuorum::start(config(dir.path())).await.unwrap();
        assert_same_content(&before, &quorum.image(), "torn tail");
        quorum.propose(vec![topic("after")]).await.unwrap();
        assert!(
            quorum.image().topic("after").is_some(),
            "the log accepts appends after recovery"
        );
        quorum.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn snapshot_purge_and_restart_from_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let options = QuorumOptions {
            snapshot_interval_entries: 5,
            logs_kept_after_snapshot: 0,
            ..Default::default()
        };
        let quorum = MetadataQuorum::start_with_options(config(dir.path()), options.clone())
            .await
            .unwrap();
        let mut last = 0;
        for i in 0..20 {
            last = quorum.propose(vec![topic(&format!("t{i}"))]).await.unwrap();
        }
        let metrics = quorum.wait_for_snapshot_at_least(last - 5, 30_000).await;
        let snapshot_index = metrics.snapshot.map(|s| s.index).unwrap_or(0);
        assert!(
            dir.path()
                .join("__cluster_metadata-0")
                .join(SNAPSHOT_FILE_NAME)
                .exists(),
            "snapshot file written"
        );
        let before = quorum.image();
        quorum.shutdown().await.unwrap();

        // The log file no longer holds the entries covered by the snapshot.
        let bytes = std::fs::read(config(dir.path()).metadata_dir.join(LOG_FILE_NAME)).unwrap();
        assert!(
            bytes.len() < 20 * 60,
            "log file of {} bytes was not purged",
            bytes.len()
        );
        assert!(snapshot_index >= last - 5);

        let quorum = MetadataQuorum::start_with_options(config(dir.path()), options)
            .await
            .unwrap();
        assert_same_content(&before, &quorum.image(), "snapshot + purge");
        assert_eq!(quorum.image().topics.len(), 20);
        quorum.shutdown().await.unwrap();
    }
}
