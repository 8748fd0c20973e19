//! `MetadataQuorum`: the cluster metadata log (openraft in KRaft's role) and the image it
//! publishes.
//!
//! Today the quorum has one voter, this node. The code path is the multi-node one: node id =
//! Kafka `node.id`, membership lives in the raft log, and peers are reached through the
//! network factory in [`super::network`] (the seam where the multi-broker issue plugs in a
//! real transport and adds voters/learners).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, Config, Raft, RaftMetrics, ServerState, SnapshotPolicy};
use tokio::sync::watch;
use uuid::Uuid;

use super::image::MetadataImage;
use super::network::UnreachableNetworkFactory;
use super::records::{MetadataBatch, MetadataRecord};
use super::store::{LogStore, MetadataRaftConfig, RaftNodeId, StateMachineStore, StoreOpenError};
use crate::types::kafka_uuid_string;

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
        }
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
    images: watch::Receiver<Arc<MetadataImage>>,
    metrics: watch::Receiver<RaftMetrics<RaftNodeId, BasicNode>>,
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
    /// Opens the persisted log/vote/snapshot in `cfg.metadata_dir`, replays it into the image
    /// and waits (bounded) until this node leads and the image has caught up. A fresh dir
    /// gets a single-voter membership `{node_id}` and a `ClusterId` record.
    pub(crate) async fn start(cfg: QuorumConfig) -> Result<MetadataQuorum, QuorumError> {
        Self::start_with_options(cfg, QuorumOptions::default()).await
    }

    pub(crate) async fn start_with_options(
        cfg: QuorumConfig,
        options: QuorumOptions,
    ) -> Result<MetadataQuorum, QuorumError> {
        let raft_node_id = RaftNodeId::try_from(cfg.node_id)
            .map_err(|_| QuorumError::InvalidNodeId(cfg.node_id))?;
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
            snapshot_policy: SnapshotPolicy::LogsSinceLast(options.snapshot_interval_entries),
            max_in_snapshot_log_to_keep: options.logs_kept_after_snapshot,
            purge_batch_size: 1,
            ..Config::default()
        }
        .validate()
        .map_err(|e| QuorumError::Raft(format!("invalid raft config: {e}")))?;

        let raft = Raft::new(
            raft_node_id,
            Arc::new(config),
            UnreachableNetworkFactory,
            log_store,
            state_machine,
        )
        .await
        .map_err(|e| QuorumError::Raft(e.to_string()))?;
        let quorum = MetadataQuorum {
            node_id: cfg.node_id,
            metrics: raft.metrics(),
            raft,
            images,
            options,
            shut_down: AtomicBool::new(false),
        };
        match quorum
            .bootstrap(raft_node_id, cfg.cluster_id.as_deref())
            .await
        {
            Ok(()) => Ok(quorum),
            Err(e) => {
                if let Err(shutdown_error) = quorum.shutdown().await {
                    tracing::warn!(error = %shutdown_error, "shutting down after a failed start");
                }
                Err(e)
            }
        }
    }

    async fn bootstrap(
        &self,
        raft_node_id: RaftNodeId,
        cluster_id: Option<&str>,
    ) -> Result<(), QuorumError> {
        let initialized = self
            .raft
            .is_initialized()
            .await
            .map_err(|e| QuorumError::Raft(e.to_string()))?;
        if !initialized {
            tracing::info!(
                node_id = self.node_id,
                "bootstrapping a single-voter metadata quorum"
            );
            let voters = BTreeMap::from([(raft_node_id, BasicNode::default())]);
            match self.raft.initialize(voters).await {
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

        let timeout_ms = self.options.start_timeout_ms;
        self.raft
            .wait(Some(Duration::from_millis(timeout_ms)))
            .metrics(
                |m| {
                    m.state == ServerState::Leader
                        && m.current_leader == Some(raft_node_id)
                        && m.last_applied.map(|l| l.index) == m.last_log_index
                },
                "leader with the metadata image caught up",
            )
            .await
            .map_err(|_| QuorumError::Timeout {
                what: "leadership and metadata catch-up",
                timeout_ms,
            })?;

        let stored = self.image().cluster_id.clone();
        match (stored.is_empty(), cluster_id) {
            (true, configured) => {
                let cluster_id = configured
                    .map(str::to_string)
                    .unwrap_or_else(random_cluster_id);
                tracing::info!(%cluster_id, "writing the cluster id");
                self.propose(vec![MetadataRecord::ClusterId { cluster_id }])
                    .await?;
            }
            (false, Some(configured)) if configured != stored => {
                return Err(QuorumError::InconsistentClusterId {
                    configured: configured.to_string(),
                    stored,
                });
            }
            (false, _) => {}
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
    ) -> RaftMetrics<RaftNodeId, BasicNode> {
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
        QuorumConfig {
            node_id: 1,
            metadata_dir: dir.join("__cluster_metadata-0"),
            cluster_id: None,
        }
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
