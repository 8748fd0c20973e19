//! `ReplicaManager`: the partitions this broker hosts. It turns metadata images into local
//! partition state, appends as leader, writes transaction markers and serves reads.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use tokio::sync::{watch, Notify};

use super::delayed_produce::{self, PendingAck};
use super::fetcher::{FetcherConfig, ReplicaFetcherManager};
use super::partition::{Partition, RoleChange};
use super::quota::ReplicationQuotas;
use crate::error::{ApiError, ResponseError};
use crate::log::{
    AbortedTxn, AppendInfo, AppendOrigin, LogConfig, LogError, LogManager, RecordsRead,
    TxnVerification,
};
use crate::metadata::{
    ConfigChanges, ControllerClient, LocalPartition, LocalReplicaChanges, MetadataImage,
};
use crate::types::{now_ms, TopicPartition};
use ironlog_config::{effective_min_insync_replicas, BrokerConfig, ConfigLayers};

/// A transaction's outcome to write on its partitions (from the transaction coordinator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TxnMarker {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub coordinator_epoch: i32,
    pub commit: bool,
    pub partitions: Vec<TopicPartition>,
}

/// A read_committed or read_uncommitted read: the data and, for read_committed, the aborted
/// transactions overlapping it.
#[derive(Debug, Clone)]
pub(crate) struct ReadResult {
    pub data: RecordsRead,
    /// `Some` (possibly empty) for read_committed reads.
    pub aborted_transactions: Option<Vec<AbortedTxn>>,
    /// The high watermark and last stable offset the read was bounded by (taken together
    /// before reading, so the response reports the bounds of the data it carries).
    pub high_watermark: i64,
    pub last_stable_offset: i64,
}

pub(crate) struct ReplicaManager {
    node_id: i32,
    static_config: BrokerConfig,
    logs: Arc<LogManager>,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    /// Notified after every successful append (wakes long-polling fetches).
    data_arrived: Arc<Notify>,
    /// Metadata offset whose image has been fully applied to partition state.
    applied_offset: watch::Sender<u64>,
    /// Serializes image application (one applier at a time, images in order).
    apply_lock: tokio::sync::Mutex<Option<Arc<MetadataImage>>>,
    /// The latest published metadata image (Kafka's metadata cache): it may name partitions
    /// this broker has not created yet, which tells "not hosted yet" from "unknown".
    pub(super) metadata: watch::Receiver<Arc<MetadataImage>>,
    /// Partitions placed here whose log could not be opened or created (retried with the
    /// next image).
    failed_partitions: Mutex<HashSet<TopicPartition>>,
    /// The fetcher tasks of the partitions this broker follows.
    fetchers: ReplicaFetcherManager,
    /// The replication throttles, from the last applied image.
    quotas: Arc<ReplicationQuotas>,
    /// The way to the active controller (ISR changes, see `isr`) and this broker's epoch
    /// (follower fetches); `None` in component tests.
    pub(super) controller_client: Option<Arc<ControllerClient>>,
    /// `replica.lag.time.max.ms`.
    pub(super) replica_lag_time_max_ms: i64,
}

/// What applying an image did to roles: partitions created or changed (with how their role
/// changed) and partitions removed.
#[derive(Default)]
struct Applied {
    roles: Vec<(Arc<Partition>, RoleChange)>,
    removed: Vec<TopicPartition>,
}

/// How far a read may go (Kafka's `FetchIsolation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FetchIsolation {
    /// A follower: everything up to the log end.
    LogEnd,
    /// A read_uncommitted consumer: below the high watermark.
    HighWatermark,
    /// A read_committed consumer: below the last stable offset.
    TxnCommitted,
}

/// Result of appending one partition's records.
pub(crate) type AppendResult = Result<AppendInfo, ApiError>;

impl ReplicaManager {
    pub(crate) fn new(
        node_id: i32,
        static_config: BrokerConfig,
        logs: Arc<LogManager>,
        metadata: watch::Receiver<Arc<MetadataImage>>,
        controller_client: Option<Arc<ControllerClient>>,
        inter_broker_connector: Arc<dyn ironlog_protocol::Connector>,
    ) -> Self {
        let (applied_offset, _) = watch::channel(0);
        let quotas = Arc::new(ReplicationQuotas::new(node_id));
        let fetchers = ReplicaFetcherManager::new(
            FetcherConfig {
                connector: inter_broker_connector,
                ..FetcherConfig::from_broker_config(&static_config)
            },
            metadata.clone(),
            controller_client.clone(),
            Arc::clone(&quotas),
        );
        let replica_lag_time_max_ms = static_config.replica_lag_time_max_ms.max(1);
        Self {
            fetchers,
            quotas,
            controller_client,
            replica_lag_time_max_ms,
            metadata,
            node_id,
            static_config,
            logs,
            partitions: RwLock::new(HashMap::new()),
            data_arrived: Arc::new(Notify::new()),
            applied_offset,
            apply_lock: tokio::sync::Mutex::new(None),
            failed_partitions: Mutex::new(HashSet::new()),
        }
    }

    /// The replication throttles (as of the last applied image).
    pub(crate) fn quotas(&self) -> &ReplicationQuotas {
        &self.quotas
    }

    pub(crate) fn log_manager(&self) -> &Arc<LogManager> {
        &self.logs
    }

    pub(crate) fn node_id(&self) -> i32 {
        self.node_id
    }

    /// Offset of the newest metadata image applied to partition state.
    pub(crate) fn applied_offset(&self) -> u64 {
        *self.applied_offset.borrow()
    }

    /// Every hosted partition.
    pub(crate) fn partitions(&self) -> Vec<Arc<Partition>> {
        match self.partitions.read() {
            Ok(map) => map.values().cloned().collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Stops the replica fetchers (before the logs close at shutdown: nothing is appended
    /// after the clean-shutdown marker).
    pub(crate) async fn shutdown_fetchers(&self) {
        self.fetchers.shutdown().await;
    }

    /// Partitions of `topic` this broker leads in `image` and hosts locally, with their
    /// leader epochs: what an internal-topic coordinator (groups, transactions) serves.
    pub(crate) fn led_partitions(&self, image: &MetadataImage, topic: &str) -> HashMap<i32, i32> {
        let mut led = HashMap::new();
        if let Some(t) = image.topic(topic) {
            for (&p, reg) in &t.partitions {
                let tp = TopicPartition::new(topic, p);
                if reg.leader == self.node_id && self.partition(&tp).is_some() {
                    led.insert(p, reg.leader_epoch);
                }
            }
        }
        led
    }

    /// Calls `on_image` for the current and every later metadata image, each only after the
    /// image has been applied to local partitions, until shutdown. Coordinators use it to
    /// load and unload their shards as leadership moves.
    pub(crate) async fn follow_applied_images(
        &self,
        mut images: watch::Receiver<Arc<MetadataImage>>,
        mut shutdown: watch::Receiver<bool>,
        mut on_image: impl FnMut(&MetadataImage),
    ) {
        loop {
            let image = images.borrow_and_update().clone();
            self.await_applied(image.offset, Duration::from_secs(30))
                .await;
            on_image(&image);
            tokio::select! {
                _ = shutdown.changed() => return,
                changed = images.changed() => if changed.is_err() { return },
            }
        }
    }

    pub(crate) fn partition(&self, tp: &TopicPartition) -> Option<Arc<Partition>> {
        self.partitions.read().ok()?.get(tp).cloned()
    }

    /// A hosted partition, or Kafka's error for one that is not hosted here
    /// (`ReplicaManager.getPartitionOrError`): a partition the latest metadata knows — not
    /// created here yet, or hosted elsewhere — is the retriable NOT_LEADER_OR_FOLLOWER (the
    /// client refreshes its metadata and retries), an unknown one UNKNOWN_TOPIC_OR_PARTITION.
    pub(crate) fn hosted_partition(&self, tp: &TopicPartition) -> Result<Arc<Partition>, ApiError> {
        if let Some(p) = self.partition(tp) {
            return Ok(p);
        }
        if self
            .metadata
            .borrow()
            .has_partition(&tp.topic, tp.partition)
        {
            Err(ApiError::new(
                ResponseError::NotLeaderOrFollower,
                format!("{tp} is not hosted by broker {}", self.node_id),
            ))
        } else {
            Err(ResponseError::UnknownTopicOrPartition.into())
        }
    }

    /// A partition this broker hosts and leads (see [`Self::hosted_partition`]); a follower's
    /// replica is NOT_LEADER_OR_FOLLOWER.
    pub(crate) fn leader_partition(&self, tp: &TopicPartition) -> Result<Arc<Partition>, ApiError> {
        let p = self.hosted_partition(tp)?;
        if p.leader_id() != self.node_id {
            return Err(ResponseError::NotLeaderOrFollower.into());
        }
        Ok(p)
    }

    /// A future that completes at the next append anywhere on this broker. Create it
    /// *before* checking for data so that no wake-up is lost.
    pub(crate) fn data_arrived(&self) -> tokio::sync::futures::Notified<'_> {
        self.data_arrived.notified()
    }

    /// Waits (bounded) until an image at least as new as `offset` has been applied.
    pub(crate) async fn await_applied(&self, offset: u64, timeout: Duration) {
        let mut rx = self.applied_offset.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|applied| *applied >= offset)).await;
    }

    /// The effective storage config of `topic` in `image`, and its `min.insync.replicas`.
    pub(crate) fn log_config_for(&self, image: &MetadataImage, topic: &str) -> (LogConfig, i32) {
        let empty = Default::default();
        let layers = ConfigLayers {
            static_config: &self.static_config,
            dynamic_cluster: image
                .configs
                .get(&crate::metadata::ConfigResource::Broker(None))
                .unwrap_or(&empty),
            dynamic_broker: image
                .configs
                .get(&crate::metadata::ConfigResource::Broker(Some(self.node_id)))
                .unwrap_or(&empty),
            topic: image
                .configs
                .get(&crate::metadata::ConfigResource::Topic(topic.to_owned()))
                .unwrap_or(&empty),
        };
        (
            LogConfig::from_layers(&layers),
            effective_min_insync_replicas(&layers),
        )
    }

    /// Brings partition state in line with `image`: applies what changed since the last
    /// applied image ([`LocalReplicaChanges`]) — creates logs for partitions now hosted here,
    /// updates leadership and configs, deletes logs of partitions no longer hosted. The first
    /// image also deletes stray logs left on disk for partitions it does not place here.
    /// Images are applied in order; partitions whose log could not be opened are retried
    /// with the next image.
    pub(crate) async fn apply_image(
        self: &Arc<Self>,
        image: Arc<MetadataImage>,
    ) -> Result<(), LogError> {
        let mut last = self.apply_lock.lock().await;
        if last.as_ref().is_some_and(|l| l.offset >= image.offset) {
            return Ok(());
        }
        let this = Arc::clone(self);
        let img = Arc::clone(&image);
        let previous = last.clone();
        let (applied, result) = tokio::task::spawn_blocking(move || {
            this.apply_image_blocking(previous.as_deref(), &img)
        })
        .await
        .unwrap_or_else(|e| {
            (
                Applied::default(),
                Err(LogError::io(
                    "apply_image",
                    std::io::Error::other(e.to_string()),
                )),
            )
        });
        self.quotas.update(&image);
        self.update_fetchers(applied);
        // Even after a failure (logged per partition), record progress so waiters move on.
        *last = Some(Arc::clone(&image));
        self.applied_offset.send_replace(image.offset);
        result
    }

    /// Starts or stops fetching as partitions became followers, leaders or left.
    fn update_fetchers(&self, applied: Applied) {
        for tp in &applied.removed {
            self.fetchers.remove_partition(tp);
        }
        for (p, change) in applied.roles {
            let state = p.replica_set();
            if state.leader == self.node_id || state.leader < 0 {
                self.fetchers.remove_partition(&p.tp);
            } else if change != RoleChange::Unchanged {
                self.fetchers
                    .add_partition(Arc::clone(&p), state.leader, state.leader_epoch);
            }
        }
    }

    fn apply_image_blocking(
        &self,
        previous: Option<&MetadataImage>,
        image: &MetadataImage,
    ) -> (Applied, Result<(), LogError>) {
        let empty = MetadataImage::empty();
        let changes = LocalReplicaChanges::between(previous.unwrap_or(&empty), image, self.node_id);
        let mut applied = Applied::default();
        if previous.is_some() && changes.is_empty() && lock(&self.failed_partitions).is_empty() {
            return (applied, Ok(()));
        }
        let mut first_error = None;
        let mut deletes: Vec<TopicPartition> =
            changes.deletes.iter().map(|(tp, _)| tp.clone()).collect();
        if previous.is_none() {
            // Logs on disk that the image does not place here, or whose topic was deleted and
            // re-created under a new id while this broker was down.
            for (tp, _) in self.logs.all() {
                let placed = image
                    .topic(&tp.topic)
                    .filter(|t| {
                        t.partitions
                            .get(&tp.partition)
                            .is_some_and(|reg| reg.replicas.contains(&self.node_id))
                    })
                    .map(|t| t.topic_id);
                let keep = placed.is_some_and(|id| {
                    self.logs
                        .topic_id_of(&tp)
                        .is_none_or(|on_disk| on_disk == id)
                });
                if !keep {
                    deletes.push(tp);
                }
            }
        }
        for tp in deletes {
            if let Ok(mut map) = self.partitions.write() {
                map.remove(&tp);
            }
            applied.removed.push(tp.clone());
            tracing::info!(partition = %tp, "deleting log of partition no longer hosted");
            if let Err(e) = self.logs.delete(&tp) {
                tracing::error!(partition = %tp, error = %e, "cannot delete log");
                first_error.get_or_insert(e);
            }
        }
        let mut changed: Vec<LocalPartition> = changes.leaders;
        changed.extend(changes.followers);
        // Partitions whose log could not be opened with an earlier image, still placed here.
        let retry = std::mem::take(&mut *lock(&self.failed_partitions));
        for tp in retry {
            if changed.iter().any(|c| c.tp == tp) || self.partition(&tp).is_some() {
                continue;
            }
            if let Some(local) = local_partition(image, &tp, self.node_id) {
                changed.push(local);
            }
        }
        let mut updated = std::collections::HashSet::with_capacity(changed.len());
        for local in changed {
            updated.insert(local.tp.clone());
            match self.apply_partition(image, local) {
                Ok(role) => applied.roles.push(role),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if changes.configs != ConfigChanges::None {
            let hosted: Vec<Arc<Partition>> = match self.partitions.read() {
                Ok(map) => map.values().cloned().collect(),
                Err(_) => Vec::new(),
            };
            for p in hosted {
                if changes.configs.affects(&p.tp.topic) && !updated.contains(&p.tp) {
                    let (config, min_isr) = self.log_config_for(image, &p.tp.topic);
                    if p.log.config() != config {
                        p.log.update_config(config);
                    }
                    p.set_min_insync_replicas(min_isr);
                }
            }
        }
        let result = match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        };
        (applied, result)
    }

    /// Creates or updates one hosted partition from its registration in `image`; returns
    /// the partition and how its role changed.
    fn apply_partition(
        &self,
        image: &MetadataImage,
        local: LocalPartition,
    ) -> Result<(Arc<Partition>, RoleChange), LogError> {
        let LocalPartition {
            tp,
            topic_id,
            registration,
        } = local;
        let (config, min_isr) = self.log_config_for(image, &tp.topic);
        let partition = match self.partition(&tp) {
            Some(p) => {
                if p.log.config() != config {
                    p.log.update_config(config);
                }
                p.set_min_insync_replicas(min_isr);
                p
            }
            None => {
                let log = match self.logs.get_or_create(&tp, config.clone(), topic_id) {
                    Ok(log) => log,
                    Err(e) => {
                        tracing::error!(partition = %tp, error = %e, "cannot open or create log; retrying with the next image");
                        lock(&self.failed_partitions).insert(tp);
                        return Err(e);
                    }
                };
                // A log loaded at start-up was opened with the broker default config; the
                // topic's own config applies from the first image on.
                if log.config() != config {
                    log.update_config(config);
                }
                let partition = Arc::new(Partition::new(
                    tp.clone(),
                    topic_id,
                    log,
                    self.node_id,
                    min_isr,
                    Arc::clone(&self.data_arrived),
                ));
                if let Ok(mut map) = self.partitions.write() {
                    map.insert(tp, Arc::clone(&partition));
                }
                partition
            }
        };
        let change = partition.apply_registration(&registration, now_ms());
        Ok((partition, change))
    }

    /// Appends one batch buffer to each listed partition as leader (blocking work runs on
    /// the blocking pool, one hop per request). With `required_acks == -1` (acks=all) a
    /// partition whose ISR is below `min.insync.replicas` is NOT_ENOUGH_REPLICAS before
    /// anything is written, and the answer waits in the purgatory until the high watermark
    /// passes each written batch, at most `timeout_ms` ([`delayed_produce`]). Results come
    /// back in input order.
    pub(crate) async fn append_as_leader(
        &self,
        entries: Vec<(TopicPartition, bytes::Bytes, TxnVerification)>,
        required_acks: i16,
        timeout_ms: i32,
        origin: AppendOrigin,
    ) -> Vec<(TopicPartition, AppendResult)> {
        let deadline = delayed_produce::deadline_after(timeout_ms);
        let mut work = Vec::with_capacity(entries.len());
        let mut results: Vec<(TopicPartition, Option<AppendResult>)> =
            Vec::with_capacity(entries.len());
        for (i, (tp, records, verification)) in entries.into_iter().enumerate() {
            match self.leader_partition(&tp) {
                Err(e) => results.push((tp, Some(Err(e)))),
                Ok(p) => {
                    let (isr, min_isr) = (p.isr_len(), p.min_insync_replicas());
                    if required_acks == -1 && isr < min_isr {
                        results.push((
                            tp,
                            Some(Err(ApiError::new(
                                ResponseError::NotEnoughReplicas,
                                format!(
                                    "the ISR of {} has {isr} replicas, min.insync.replicas is {min_isr}",
                                    p.tp
                                ),
                            ))),
                        ));
                    } else {
                        results.push((tp, None));
                        work.push((i, p, records, verification));
                    }
                }
            }
        }
        let mut pending = Vec::new();
        if !work.is_empty() {
            let done = tokio::task::spawn_blocking(move || {
                let now = now_ms();
                work.into_iter()
                    .map(|(i, p, records, verification)| {
                        let leader_epoch = p.leader_epoch();
                        let r = p
                            .log
                            .append_as_leader_from(
                                &records,
                                leader_epoch,
                                now,
                                origin,
                                verification,
                            )
                            .map_err(ApiError::from);
                        if r.is_ok() {
                            p.maybe_increment_high_watermark();
                        }
                        spawn_roll_flush(&p);
                        (i, p, leader_epoch, r)
                    })
                    .collect::<Vec<_>>()
            })
            .await;
            match done {
                Ok(done) => {
                    for (i, p, leader_epoch, r) in done {
                        if let (Ok(info), -1) = (&r, required_acks) {
                            pending.push((
                                i,
                                PendingAck {
                                    partition: p,
                                    required_offset: info.last_offset + 1,
                                    leader_epoch,
                                },
                            ));
                        }
                        results[i].1 = Some(r);
                    }
                }
                Err(e) => tracing::error!(error = %e, "append task failed"),
            }
            self.data_arrived.notify_waiters();
        }
        // One deadline for the request: waiting for one partition after another ends
        // together with the slowest.
        for (i, ack) in pending {
            if let Err(e) = delayed_produce::wait_for_acks(&ack, deadline).await {
                tracing::debug!(partition = %ack.partition.tp, error = %e, "acks=all produce not acknowledged");
                results[i].1 = Some(Err(e));
            }
        }
        results
            .into_iter()
            .map(|(tp, r)| {
                (
                    tp,
                    r.unwrap_or_else(|| Err(ResponseError::KafkaStorageError.into())),
                )
            })
            .collect()
    }

    /// KIP-890: starts verifying a transactional produce of `producer_id` to `tp` (see
    /// [`crate::log::Log::start_txn_verification`]); `None` when there is nothing to verify or no such
    /// partition here (the append reports that).
    pub(crate) fn start_txn_verification(
        &self,
        tp: &TopicPartition,
        producer_id: i64,
    ) -> Option<u64> {
        self.partition(tp)
            .and_then(|p| p.log.start_txn_verification(producer_id, now_ms()))
    }

    /// Reads from one partition: for a follower up to the log end, for a consumer bounded
    /// by the high watermark, or for read_committed by the last stable offset, with the
    /// aborted transactions overlapping the returned batches (Kafka's
    /// `collectAbortedTransactions`, upper bound = the offset after the last returned batch).
    /// With `file_slice_min_bytes` the batches may stay in their segment file
    /// ([`crate::log::Log::read_records`]).
    pub(crate) fn read(
        partition: &Partition,
        fetch_offset: i64,
        max_bytes: usize,
        isolation: FetchIsolation,
        min_one_batch: bool,
        file_slice_min_bytes: Option<usize>,
    ) -> Result<ReadResult, LogError> {
        let high_watermark = partition.high_watermark();
        let last_stable_offset = partition.last_stable_offset().min(high_watermark);
        let read_committed = isolation == FetchIsolation::TxnCommitted;
        let bound = match isolation {
            FetchIsolation::LogEnd => i64::MAX,
            FetchIsolation::HighWatermark => high_watermark,
            FetchIsolation::TxnCommitted => last_stable_offset,
        };
        let data = partition.log.read_records(
            fetch_offset,
            max_bytes,
            bound,
            min_one_batch,
            file_slice_min_bytes,
        )?;
        let aborted_transactions = if read_committed {
            match data.next_offset {
                Some(upper) => Some(
                    partition
                        .log
                        .collect_aborted_transactions(fetch_offset, upper),
                ),
                None => Some(Vec::new()),
            }
        } else {
            None
        };
        Ok(ReadResult {
            data,
            aborted_transactions,
            high_watermark,
            last_stable_offset,
        })
    }

    /// Appends one transaction marker (control batch) per partition as leader, for the
    /// transaction coordinator; Ok when written. Per partition: UNKNOWN_TOPIC_OR_PARTITION,
    /// NOT_LEADER_OR_FOLLOWER, INVALID_PRODUCER_EPOCH (older producer epoch: Kafka's
    /// PRODUCER_FENCED), TRANSACTION_COORDINATOR_FENCED, KAFKA_STORAGE_ERROR. A marker for a
    /// producer without an ongoing transaction is written anyway. Results in input order.
    pub(crate) async fn write_txn_markers(
        &self,
        markers: Vec<TxnMarker>,
    ) -> Vec<(
        i64, /*producer_id*/
        TopicPartition,
        Result<(), ApiError>,
    )> {
        type Pending = (i64, TopicPartition, Option<Result<(), ApiError>>);
        let mut results: Vec<Pending> = Vec::new();
        let mut work = Vec::new();
        for marker in &markers {
            for tp in &marker.partitions {
                let outcome = match self.leader_partition(tp) {
                    Err(e) => Some(Err(e)),
                    Ok(p) => {
                        work.push((
                            results.len(),
                            p,
                            marker.producer_id,
                            marker.producer_epoch,
                            marker.coordinator_epoch,
                            marker.commit,
                        ));
                        None
                    }
                };
                results.push((marker.producer_id, tp.clone(), outcome));
            }
        }
        if !work.is_empty() {
            let done = tokio::task::spawn_blocking(move || {
                let now = now_ms();
                work.into_iter()
                    .map(|(i, p, producer_id, producer_epoch, coordinator_epoch, commit)| {
                        let r = p
                            .log
                            .append_txn_marker(
                                producer_id,
                                producer_epoch,
                                coordinator_epoch,
                                commit,
                                p.leader_epoch(),
                                now,
                            )
                            .map(|_| ())
                            .map_err(ApiError::from);
                        spawn_roll_flush(&p);
                        match &r {
                            Ok(()) => {
                                p.maybe_increment_high_watermark();
                            }
                            Err(e) => {
                                tracing::warn!(partition = %p.tp, producer_id, producer_epoch, coordinator_epoch, commit, error = %e, "transaction marker rejected")
                            }
                        }
                        (i, r)
                    })
                    .collect::<Vec<_>>()
            })
            .await;
            match done {
                Ok(done) => {
                    for (i, r) in done {
                        results[i].2 = Some(r);
                    }
                }
                Err(e) => tracing::error!(error = %e, "transaction marker task failed"),
            }
            // The last stable offset moved: wake read_committed long polls.
            self.data_arrived.notify_waiters();
        }
        results
            .into_iter()
            .map(|(producer_id, tp, r)| {
                (
                    producer_id,
                    tp,
                    r.unwrap_or_else(|| Err(ResponseError::KafkaStorageError.into())),
                )
            })
            .collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `tp` as `image` places it on `node_id`, if it does.
fn local_partition(
    image: &MetadataImage,
    tp: &TopicPartition,
    node_id: i32,
) -> Option<LocalPartition> {
    let topic = image.topic(&tp.topic)?;
    let registration = topic.partitions.get(&tp.partition)?;
    registration
        .replicas
        .contains(&node_id)
        .then(|| LocalPartition {
            tp: tp.clone(),
            topic_id: topic.topic_id,
            registration: registration.clone(),
        })
}

/// fsyncs the segments an append just rolled ([`crate::log::Log::flush_rolled`]) on another blocking
/// thread, so the appender answers without waiting for it (Kafka's asynchronous flush after
/// a roll). Called from blocking-pool threads, which carry the runtime's context; without
/// one it flushes inline. The periodic flush task is the backstop.
fn spawn_roll_flush(p: &Arc<Partition>) {
    if !p.log.roll_flush_pending() {
        return;
    }
    let flush = {
        let p = Arc::clone(p);
        move || {
            if let Err(e) = p.log.flush_rolled() {
                tracing::error!(partition = %p.tp, error = %e, "flushing rolled segments failed");
            }
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn_blocking(flush);
        }
        Err(_) => flush(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::records::MetadataRecord;
    use uuid::Uuid;

    fn replica_manager(dir: &std::path::Path, image: MetadataImage) -> ReplicaManager {
        let overrides = vec![format!("log.dirs={}", dir.display())];
        let config = BrokerConfig::load(None, &overrides).expect("config");
        let logs = LogManager::startup(
            vec![dir.to_path_buf()],
            LogConfig::broker_default(&config),
            |_| LogConfig::broker_default(&config),
            crate::log::FileCache::new(64),
        )
        .expect("log manager");
        let (_publisher, images) = watch::channel(Arc::new(image));
        ReplicaManager::new(
            1,
            config.clone(),
            Arc::new(logs),
            images,
            None,
            ironlog_protocol::TcpConnector::shared(),
        )
    }

    fn image_with_topic(name: &str) -> MetadataImage {
        let topic_id = Uuid::new_v4();
        MetadataImage::empty().apply(&[
            MetadataRecord::Topic {
                name: name.into(),
                topic_id,
            },
            MetadataRecord::new_partition(topic_id, 0, vec![1], vec![1]),
        ])
    }

    #[test]
    fn a_partition_known_to_metadata_but_not_hosted_yet_is_not_leader_or_follower() {
        let dir = tempfile::tempdir().expect("temp dir");
        // The image names t-0, but it has not been applied: the partition is not created yet,
        // which clients must see as retriable (Kafka's getPartitionOrError).
        let replicas = replica_manager(dir.path(), image_with_topic("t"));
        let not_hosted = replicas
            .leader_partition(&TopicPartition::new("t", 0))
            .err()
            .map(|e| e.code);
        assert_eq!(
            not_hosted,
            Some(ResponseError::NotLeaderOrFollower),
            "a partition metadata knows but this broker does not host yet must be retriable"
        );
        for (topic, partition) in [("t", 1), ("unknown", 0)] {
            let unknown = replicas
                .hosted_partition(&TopicPartition::new(topic, partition))
                .err()
                .map(|e| e.code);
            assert_eq!(
                unknown,
                Some(ResponseError::UnknownTopicOrPartition),
                "{topic}-{partition} is unknown to metadata"
            );
        }
    }

    #[tokio::test]
    async fn images_apply_their_changes_and_the_first_one_removes_stray_logs() {
        let dir = tempfile::tempdir().expect("temp dir");
        let t = image_with_topic("t");
        let t_id = t.topic("t").map(|t| t.topic_id).expect("topic t");
        let mut first = t.apply(&[MetadataRecord::Topic {
            name: "u".into(),
            topic_id: Uuid::new_v4(),
        }]);
        first.offset = 1;
        {
            // A log of a partition the image does not know, left on disk.
            let replicas = Arc::new(replica_manager(dir.path(), MetadataImage::empty()));
            let mut stray = image_with_topic("stray");
            stray.offset = 1;
            replicas.apply_image(Arc::new(stray)).await.expect("apply");
            replicas.log_manager().shutdown().expect("shutdown");
        }
        let replicas = Arc::new(replica_manager(dir.path(), MetadataImage::empty()));
        assert!(replicas
            .log_manager()
            .get(&TopicPartition::new("stray", 0))
            .is_some());
        replicas
            .apply_image(Arc::new(first.clone()))
            .await
            .expect("apply");
        assert!(
            replicas
                .log_manager()
                .get(&TopicPartition::new("stray", 0))
                .is_none(),
            "the first image deletes logs it does not place here"
        );
        let t0 = TopicPartition::new("t", 0);
        let hosted = replicas.partition(&t0).expect("t-0 hosted");
        // A topic config change reaches the partition's log.
        let mut second = first.apply(&[MetadataRecord::Config {
            resource: crate::metadata::ConfigResource::Topic("t".into()),
            name: "retention.ms".into(),
            value: Some("1234".into()),
        }]);
        second.offset = 2;
        replicas
            .apply_image(Arc::new(second.clone()))
            .await
            .expect("apply");
        assert_eq!(hosted.log.config().retention_ms, 1234);
        // A new leader epoch reaches the same partition object.
        let mut third = second.apply(&[MetadataRecord::leader_change(t_id, 0, 1)]);
        third.offset = 3;
        replicas
            .apply_image(Arc::new(third.clone()))
            .await
            .expect("apply");
        assert_eq!(hosted.leader_epoch(), 1);
        assert!(Arc::ptr_eq(
            &hosted,
            &replicas.partition(&t0).expect("still hosted")
        ));
        // Deleting the topic deletes its log.
        let mut fourth = third.apply(&[MetadataRecord::RemoveTopic { topic_id: t_id }]);
        fourth.offset = 4;
        replicas.apply_image(Arc::new(fourth)).await.expect("apply");
        assert!(replicas.partition(&t0).is_none());
        assert!(
            replicas.log_manager().get(&t0).is_none(),
            "the deleted topic's log is gone"
        );
    }

    #[tokio::test]
    async fn followed_partitions_get_a_fetcher_of_their_leader_and_leaders_none() {
        let dir = tempfile::tempdir().expect("temp dir");
        let topic_id = Uuid::new_v4();
        let mut image = MetadataImage::empty().apply(&[
            MetadataRecord::Topic {
                name: "t".into(),
                topic_id,
            },
            MetadataRecord::new_partition(topic_id, 0, vec![2, 1], vec![2, 1]),
        ]);
        image.offset = 1;
        let replicas = Arc::new(replica_manager(dir.path(), image.clone()));
        replicas
            .apply_image(Arc::new(image.clone()))
            .await
            .expect("apply");
        let t0 = TopicPartition::new("t", 0);
        assert_eq!(replicas.fetchers.followed(), vec![(2, vec![t0.clone()])]);
        assert_eq!(
            replicas.leader_partition(&t0).err().map(|e| e.code),
            Some(ResponseError::NotLeaderOrFollower),
            "a follower does not take produces"
        );
        let mut moved = image.apply(&[MetadataRecord::leader_change(topic_id, 0, 1)]);
        moved.offset = 2;
        replicas.apply_image(Arc::new(moved)).await.expect("apply");
        assert!(
            replicas.fetchers.followed().is_empty(),
            "the new leader stops fetching"
        );
        assert!(replicas.leader_partition(&t0).is_ok());
        replicas.shutdown_fetchers().await;
    }
}
