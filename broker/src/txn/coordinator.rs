//! `TransactionCoordinator`: the transaction state machine over shards of
//! `__transaction_state` (see the module docs of `txn` for the invariants; the shards'
//! loading and unloading is `crate::coordinator_shards`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::records::{self, TxnLogRecord, TxnLogValue, TxnState};
use super::{ProducerIdManager, TRANSACTION_STATE_TOPIC_NAME};
use crate::coordinator_shards::{
    self, append_error_to_coordinator_error, read_partition, CoordinatorShards, InternalTopicSpec,
};
use crate::error::{ApiError, ResponseError};
use crate::group::records::OffsetCommitValue;
use crate::group::{GroupCoordinator, GROUP_METADATA_TOPIC_NAME};
use crate::inter_broker::InterBrokerClient;
use crate::log::TxnVerification;
use crate::metadata::{ControllerClient, MetadataQuorum};
use crate::replica::{ReplicaManager, TxnMarker};
use crate::types::{now_ms, TopicPartition};
use ironlog_config::BrokerConfig;

/// Attempts to write a transaction's markers within one completion before leaving it to
/// the background task.
const MARKER_ATTEMPTS: u32 = 5;
const MARKER_RETRY_BACKOFF: Duration = Duration::from_millis(100);
/// Rounds of fence-then-retry inside one InitProducerId.
const INIT_ROUNDS: usize = 3;

/// The transaction settings (Kafka's `transaction.*` configs).
#[derive(Debug, Clone)]
pub(crate) struct TxnConfig {
    pub state_log_num_partitions: i32,
    pub state_log_replication_factor: i16,
    pub state_log_min_isr: i32,
    pub state_log_segment_bytes: i32,
    pub max_timeout_ms: i32,
    pub transactional_id_expiration_ms: i64,
    pub abort_timed_out_cleanup_interval_ms: i64,
    pub remove_expired_cleanup_interval_ms: i64,
    /// How long an append to `__transaction_state` waits for its ISR (acks=all; Kafka's
    /// coordinator uses `request.timeout.ms`).
    pub append_timeout_ms: i32,
}

impl TxnConfig {
    pub(crate) fn from_broker_config(c: &BrokerConfig) -> Self {
        Self {
            state_log_num_partitions: c.transaction_state_log_num_partitions.max(1),
            state_log_replication_factor: c.transaction_state_log_replication_factor.max(1),
            state_log_min_isr: c.transaction_state_log_min_isr.max(1),
            state_log_segment_bytes: c.transaction_state_log_segment_bytes,
            append_timeout_ms: c.request_timeout_ms.max(1),
            max_timeout_ms: c.transaction_max_timeout_ms.max(1),
            transactional_id_expiration_ms: i64::from(c.transactional_id_expiration_ms.max(1)),
            abort_timed_out_cleanup_interval_ms: i64::from(
                c.transaction_abort_timed_out_transaction_cleanup_interval_ms
                    .max(10),
            ),
            remove_expired_cleanup_interval_ms: i64::from(
                c.transaction_remove_expired_transaction_cleanup_interval_ms
                    .max(10),
            ),
        }
    }
}

/// One transactional id's state.
#[derive(Debug, Clone)]
struct TxnMetadata {
    producer_id: i64,
    producer_epoch: i16,
    timeout_ms: i32,
    state: TxnState,
    partitions: BTreeSet<TopicPartition>,
    start_ms: i64,
    last_update_ms: i64,
}

impl TxnMetadata {
    fn from_value(v: TxnLogValue) -> Self {
        Self {
            producer_id: v.producer_id,
            producer_epoch: v.producer_epoch,
            timeout_ms: v.timeout_ms,
            state: v.state,
            partitions: v.partitions,
            start_ms: v.start_ms,
            last_update_ms: v.last_update_ms,
        }
    }

    fn to_value(&self) -> TxnLogValue {
        TxnLogValue {
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            timeout_ms: self.timeout_ms,
            state: self.state,
            partitions: self.partitions.clone(),
            last_update_ms: self.last_update_ms,
            start_ms: self.start_ms,
        }
    }
}

/// DescribeTransactions' view of one transactional id.
#[derive(Debug, Clone)]
pub(crate) struct DescribedTxn {
    pub state: TxnState,
    pub timeout_ms: i32,
    pub start_ms: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub partitions: Vec<TopicPartition>,
}

/// ListTransactions' view of one transactional id.
#[derive(Debug, Clone)]
pub(crate) struct ListedTxn {
    pub transactional_id: String,
    pub producer_id: i64,
    pub state: TxnState,
}

/// One `__transaction_state` partition's transactional ids; its write lock serializes
/// every state change of the shard, its coordinator epoch goes into markers.
type Shard = coordinator_shards::Shard<TxnShardState>;

/// What a transaction shard holds (cleared when the shard is unloaded).
#[derive(Default)]
struct TxnShardState {
    txns: HashMap<String, TxnMetadata>,
}

impl Shard {
    fn get(&self, transactional_id: &str) -> Option<TxnMetadata> {
        self.lock().txns.get(transactional_id).cloned()
    }
}

pub(crate) struct TransactionCoordinator {
    config: TxnConfig,
    replicas: Arc<ReplicaManager>,
    controller: Arc<ControllerClient>,
    quorum: Arc<MetadataQuorum>,
    groups: Arc<GroupCoordinator>,
    producer_ids: Arc<ProducerIdManager>,
    /// Markers to partitions led by other brokers (WriteTxnMarkers).
    inter_broker: Arc<InterBrokerClient>,
    node_id: i32,
    shards: CoordinatorShards<TxnShardState>,
}

/// Kafka's mapping of `__transaction_state` append errors to coordinator errors.
fn append_error_to_txn_error(code: ResponseError) -> ResponseError {
    append_error_to_coordinator_error(code).unwrap_or(ResponseError::UnknownServerError)
}

fn err(code: ResponseError, message: impl Into<String>) -> ApiError {
    ApiError::new(code, message)
}

impl TransactionCoordinator {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        node_id: i32,
        config: TxnConfig,
        replicas: Arc<ReplicaManager>,
        controller: Arc<ControllerClient>,
        quorum: Arc<MetadataQuorum>,
        groups: Arc<GroupCoordinator>,
        producer_ids: Arc<ProducerIdManager>,
        inter_broker: Arc<InterBrokerClient>,
    ) -> Arc<Self> {
        Arc::new(Self {
            config,
            replicas,
            controller,
            quorum,
            groups,
            producer_ids,
            inter_broker,
            node_id,
            shards: CoordinatorShards::new(
                TRANSACTION_STATE_TOPIC_NAME,
                "transaction coordinator",
                node_id,
            ),
        })
    }

    /// Starts loading/unloading shards as leadership of `__transaction_state` changes, and
    /// the periodic abort of timed-out transactions / removal of expired ids.
    pub(crate) fn start(
        self: &Arc<Self>,
        shutdown: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let leadership = this.shards.follow_leadership(
                &this.replicas,
                this.quorum.subscribe(),
                shutdown.clone(),
                |shard| drop(tokio::spawn(Arc::clone(&this).load_shard(shard))),
            );
            tokio::join!(leadership, Arc::clone(&this).periodic(shutdown),);
        })
    }

    // ------------------------------------------------------------------ shards

    /// Replays the shard's partition into transactional ids, then completes the
    /// transactions caught between Prepare* and Complete*.
    async fn load_shard(self: Arc<Self>, shard: Arc<Shard>) {
        let tp = shard.tp();
        let read = || {
            let reading = read_partition(&self.replicas, &tp, records::decode_batches);
            async move { reading.await.map(replay) }
        };
        let install = |st: &mut TxnShardState, txns: HashMap<String, TxnMetadata>| {
            let pending: Vec<String> = txns
                .iter()
                .filter(|(_, m)| {
                    matches!(m.state, TxnState::PrepareCommit | TxnState::PrepareAbort)
                })
                .map(|(id, _)| id.clone())
                .collect();
            tracing::info!(partition = %tp, transactional_ids = txns.len(), pending = pending.len(), "loaded transaction coordinator shard");
            st.txns = txns;
            pending
        };
        let Some(pending) = self.shards.load(&shard, read, install).await else {
            return;
        };
        // Transactions caught between Prepare* and Complete*: re-send their markers.
        for id in pending {
            let this = Arc::clone(&self);
            let shard = Arc::clone(&shard);
            tokio::spawn(async move {
                let _write = shard.write_lock.lock().await;
                if let Err(e) = this.complete(&shard, &id).await {
                    tracing::warn!(transactional_id = %id, error = %e, "completing a loaded transaction failed; will retry");
                }
            });
        }
    }

    /// The `__transaction_state` partition of `transactional_id`.
    pub(crate) fn partition_for_txn(&self, transactional_id: &str) -> i32 {
        self.shards.partition_for_key(
            &self.quorum.image(),
            transactional_id,
            self.config.state_log_num_partitions,
        )
    }

    /// The loaded shard owning `transactional_id`, or the coordinator error to answer.
    fn shard_for(&self, transactional_id: &str) -> Result<Arc<Shard>, ApiError> {
        Ok(self
            .shards
            .shard_for(&self.quorum.image(), transactional_id)?)
    }

    /// Creates `__transaction_state` if it does not exist yet (FindCoordinator and
    /// InitProducerId do this on first use, as Kafka does).
    pub(crate) async fn ensure_state_topic(&self) -> Result<(), ApiError> {
        self.shards
            .ensure_topic(&self.quorum, &self.controller, &self.replicas, || {
                InternalTopicSpec {
                    num_partitions: self.config.state_log_num_partitions,
                    replication_factor: self.config.state_log_replication_factor,
                    segment_bytes: self.config.state_log_segment_bytes,
                    configs: vec![
                        (
                            "min.insync.replicas",
                            self.config.state_log_min_isr.to_string(),
                        ),
                        ("compression.type", "uncompressed".to_owned()),
                    ],
                }
            })
            .await
    }

    // ------------------------------------------------------------------ persistence

    /// Appends `meta` (or a tombstone) for `transactional_id`, then installs it in memory.
    /// Caller holds the shard's write lock.
    async fn persist(
        &self,
        shard: &Shard,
        transactional_id: &str,
        meta: Option<TxnMetadata>,
    ) -> Result<(), ApiError> {
        let record = TxnLogRecord {
            transactional_id: transactional_id.to_owned(),
            value: meta.as_ref().map(TxnMetadata::to_value),
        };
        let batch = records::encode_batch(&[record], now_ms()).map_err(|e| {
            tracing::error!(error = %e, "encoding transaction log record failed");
            err(ResponseError::UnknownServerError, e.to_string())
        })?;
        if let Err(e) = shard
            .append(
                &self.replicas,
                batch,
                TxnVerification::Off,
                self.config.append_timeout_ms,
            )
            .await
        {
            return Err(ApiError::new(
                append_error_to_txn_error(e.code),
                format!("cannot persist transaction state: {e}"),
            ));
        }
        let mut st = shard.lock();
        if st.is_closed() {
            return Err(ResponseError::NotCoordinator.into());
        }
        match meta {
            Some(m) => {
                st.txns.insert(transactional_id.to_owned(), m);
            }
            None => {
                st.txns.remove(transactional_id);
            }
        }
        Ok(())
    }

    /// Writes the markers of a transaction in PrepareCommit/PrepareAbort, materializes its
    /// offsets on commit, and appends CompleteCommit/CompleteAbort. Caller holds the write
    /// lock. On a marker failure the transaction stays prepared (the background task
    /// retries).
    async fn complete(&self, shard: &Shard, transactional_id: &str) -> Result<(), ApiError> {
        let Some(meta) = shard.get(transactional_id) else {
            return Ok(());
        };
        let commit = match meta.state {
            TxnState::PrepareCommit => true,
            TxnState::PrepareAbort => false,
            _ => return Ok(()),
        };
        let mut remaining: Vec<TopicPartition> = meta.partitions.iter().cloned().collect();
        for attempt in 1..=MARKER_ATTEMPTS {
            if remaining.is_empty() {
                break;
            }
            let marker = TxnMarker {
                producer_id: meta.producer_id,
                producer_epoch: meta.producer_epoch,
                coordinator_epoch: shard.coordinator_epoch(),
                commit,
                partitions: remaining.clone(),
            };
            let results = self.write_markers(marker).await;
            remaining = results
                .into_iter()
                .filter_map(|(_, tp, r)| match r {
                    Ok(()) => None,
                    // A deleted partition needs no marker (as Kafka drops them).
                    Err(e) if e.code == ResponseError::UnknownTopicOrPartition => None,
                    Err(e) => {
                        tracing::warn!(transactional_id, partition = %tp, attempt, error = %e, "writing transaction marker failed");
                        Some(tp)
                    }
                })
                .collect();
            if !remaining.is_empty() && attempt < MARKER_ATTEMPTS {
                tokio::time::sleep(MARKER_RETRY_BACKOFF).await;
            }
        }
        if !remaining.is_empty() {
            return Err(err(
                ResponseError::CoordinatorNotAvailable,
                format!("markers not written to {} partitions", remaining.len()),
            ));
        }
        crate::crash::point("txn.markers_written");
        let mut done = meta.clone();
        done.state = if commit {
            TxnState::CompleteCommit
        } else {
            TxnState::CompleteAbort
        };
        done.partitions.clear();
        done.last_update_ms = now_ms();
        self.persist(shard, transactional_id, Some(done)).await?;
        tracing::info!(
            transactional_id,
            producer_id = meta.producer_id,
            producer_epoch = meta.producer_epoch,
            commit,
            partitions = meta.partitions.len(),
            "transaction completed"
        );
        Ok(())
    }

    /// Writes `marker` on each of its partitions at that partition's current leader (as the
    /// image names it, looked up again on every attempt): through the group coordinator
    /// where this broker leads (a marker on `__consumer_offsets` completes the
    /// transaction's offsets there), else with WriteTxnMarkers to the leader, whose handler
    /// takes the same path. A partition without a live leader is NOT_LEADER_OR_FOLLOWER
    /// (retried by the caller). Results in no particular order.
    async fn write_markers(
        &self,
        marker: TxnMarker,
    ) -> Vec<(i64, TopicPartition, Result<(), ApiError>)> {
        let image = self.quorum.image();
        let mut by_leader: std::collections::BTreeMap<i32, Vec<TopicPartition>> =
            Default::default();
        let mut results = Vec::new();
        for tp in &marker.partitions {
            let leader = image
                .topic(&tp.topic)
                .and_then(|t| t.partitions.get(&tp.partition))
                .map(|p| p.leader)
                .filter(|l| image.brokers.get(l).is_some_and(|b| !b.fenced));
            match leader {
                Some(leader) => by_leader.entry(leader).or_default().push(tp.clone()),
                // Gone from the image: a deleted partition needs no marker.
                None if image.topic(&tp.topic).is_none() => results.push((
                    marker.producer_id,
                    tp.clone(),
                    Err(ResponseError::UnknownTopicOrPartition.into()),
                )),
                None => results.push((
                    marker.producer_id,
                    tp.clone(),
                    Err(ApiError::new(
                        ResponseError::NotLeaderOrFollower,
                        format!("{tp} has no live leader"),
                    )),
                )),
            }
        }
        for (leader, partitions) in by_leader {
            let marker = TxnMarker {
                partitions,
                ..marker.clone()
            };
            if leader == self.node_id {
                results.extend(self.groups.write_txn_markers(vec![marker]).await);
            } else {
                results.extend(self.inter_broker.write_txn_markers(leader, &[marker]).await);
            }
        }
        results
    }

    /// Moves an Ongoing transaction to PrepareAbort with a bumped epoch (fencing its
    /// producer), then completes it. Caller holds the write lock.
    async fn fence_and_abort(
        &self,
        shard: &Shard,
        transactional_id: &str,
        meta: &TxnMetadata,
    ) -> Result<(), ApiError> {
        let mut next = meta.clone();
        if next.producer_epoch < i16::MAX - 1 {
            next.producer_epoch += 1;
        }
        next.state = TxnState::PrepareAbort;
        next.last_update_ms = now_ms();
        self.persist(shard, transactional_id, Some(next)).await?;
        self.complete(shard, transactional_id).await
    }

    // ------------------------------------------------------------------ APIs

    /// InitProducerId with a transactional id: the id's producer id with a bumped epoch
    /// (a new producer id when new or when the epoch is exhausted). An ongoing transaction
    /// of the previous producer is aborted first (fencing it). `expected` is KIP-360's
    /// (producer id, epoch) a producer re-initializing itself sends.
    pub(crate) async fn init_producer_id(
        &self,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), ApiError> {
        if transactional_id.is_empty() {
            return Err(err(ResponseError::InvalidRequest, "empty transactional id"));
        }
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return Err(err(
                ResponseError::InvalidTransactionTimeout,
                format!(
                    "transaction timeout {timeout_ms} ms is not in 1..={} (transaction.max.timeout.ms)",
                    self.config.max_timeout_ms
                ),
            ));
        }
        self.ensure_state_topic().await?;
        let shard = self.shard_for(transactional_id)?;
        let _write = shard.write_lock.lock().await;
        for _ in 0..INIT_ROUNDS {
            let now = now_ms();
            let Some(meta) = shard.get(transactional_id) else {
                let producer_id = self.producer_ids.generate(&self.controller).await?;
                let meta = TxnMetadata {
                    producer_id,
                    producer_epoch: 0,
                    timeout_ms,
                    state: TxnState::Empty,
                    partitions: BTreeSet::new(),
                    start_ms: -1,
                    last_update_ms: now,
                };
                self.persist(&shard, transactional_id, Some(meta)).await?;
                tracing::info!(
                    transactional_id,
                    producer_id,
                    "initialized transactional producer"
                );
                return Ok((producer_id, 0));
            };
            if let Some((pid, epoch)) = expected {
                // The epoch may have been bumped once by a timeout abort since.
                let known = pid == meta.producer_id
                    && (epoch == meta.producer_epoch || epoch == meta.producer_epoch - 1);
                if !known {
                    return Err(err(
                        ResponseError::ProducerFenced,
                        format!("producer {pid} epoch {epoch} is not the current producer of {transactional_id}"),
                    ));
                }
            }
            match meta.state {
                TxnState::PrepareCommit | TxnState::PrepareAbort => {
                    // Try to finish it now; the client retries on CONCURRENT_TRANSACTIONS.
                    if let Err(e) = self.complete(&shard, transactional_id).await {
                        tracing::warn!(transactional_id, error = %e, "completing a prepared transaction failed");
                        return Err(ResponseError::ConcurrentTransactions.into());
                    }
                }
                TxnState::Ongoing => {
                    tracing::info!(
                        transactional_id,
                        producer_id = meta.producer_id,
                        producer_epoch = meta.producer_epoch,
                        "aborting the ongoing transaction of a fenced producer"
                    );
                    if let Err(e) = self.fence_and_abort(&shard, transactional_id, &meta).await {
                        tracing::warn!(transactional_id, error = %e, "aborting a fenced producer's transaction failed");
                        return Err(ResponseError::ConcurrentTransactions.into());
                    }
                }
                _ => {
                    let mut next = meta.clone();
                    if meta.producer_epoch >= i16::MAX - 1 {
                        next.producer_id = self.producer_ids.generate(&self.controller).await?;
                        next.producer_epoch = 0;
                    } else {
                        next.producer_epoch += 1;
                    }
                    next.state = TxnState::Empty;
                    next.timeout_ms = timeout_ms;
                    next.partitions.clear();
                    next.start_ms = -1;
                    next.last_update_ms = now;
                    let result = (next.producer_id, next.producer_epoch);
                    self.persist(&shard, transactional_id, Some(next)).await?;
                    tracing::info!(
                        transactional_id,
                        producer_id = result.0,
                        producer_epoch = result.1,
                        "bumped transactional producer epoch"
                    );
                    return Ok(result);
                }
            }
        }
        Err(ResponseError::ConcurrentTransactions.into())
    }

    /// The producer id/epoch checks every in-transaction request makes.
    fn check_producer(
        shard: &Shard,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Result<TxnMetadata, ApiError> {
        let Some(meta) = shard.get(transactional_id) else {
            return Err(err(
                ResponseError::InvalidProducerIdMapping,
                format!("unknown transactional id {transactional_id}"),
            ));
        };
        if meta.producer_id != producer_id {
            return Err(err(
                ResponseError::InvalidProducerIdMapping,
                format!(
                    "{transactional_id} belongs to producer id {}, not {producer_id}",
                    meta.producer_id
                ),
            ));
        }
        if meta.producer_epoch != producer_epoch {
            return Err(err(
                ResponseError::ProducerFenced,
                format!(
                    "producer epoch {producer_epoch} is not the current epoch {} of {transactional_id}",
                    meta.producer_epoch
                ),
            ));
        }
        Ok(meta)
    }

    /// AddPartitionsToTxn: adds partitions to the (possibly new) ongoing transaction. With
    /// `verify_only`, checks that they are already part of it.
    pub(crate) async fn add_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: Vec<TopicPartition>,
        verify_only: bool,
    ) -> Result<(), ApiError> {
        let shard = self.shard_for(transactional_id)?;
        let _write = shard.write_lock.lock().await;
        let meta = Self::check_producer(&shard, transactional_id, producer_id, producer_epoch)?;
        if matches!(
            meta.state,
            TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence
        ) {
            return Err(ResponseError::ConcurrentTransactions.into());
        }
        if meta.state == TxnState::Dead {
            return Err(ResponseError::InvalidTxnState.into());
        }
        let all_in = meta.state == TxnState::Ongoing
            && partitions.iter().all(|tp| meta.partitions.contains(tp));
        if verify_only {
            return if all_in {
                Ok(())
            } else {
                Err(err(
                    ResponseError::InvalidTxnState,
                    "partitions are not part of the ongoing transaction",
                ))
            };
        }
        if all_in {
            return Ok(());
        }
        let now = now_ms();
        let mut next = meta.clone();
        if next.state != TxnState::Ongoing {
            next.start_ms = now;
            next.partitions.clear();
        }
        next.state = TxnState::Ongoing;
        next.partitions.extend(partitions);
        next.last_update_ms = now;
        self.persist(&shard, transactional_id, Some(next)).await
    }

    /// The live broker leading `transactional_id`'s `__transaction_state` partition.
    fn coordinator_node(&self, transactional_id: &str) -> Option<i32> {
        let partition = self.partition_for_txn(transactional_id);
        let image = self.quorum.image();
        image
            .topic(TRANSACTION_STATE_TOPIC_NAME)
            .and_then(|t| t.partitions.get(&partition))
            .map(|p| p.leader)
            .filter(|l| image.brokers.get(l).is_some_and(|b| !b.fenced))
    }

    /// KIP-890 verification for a partition leader: is `tp` part of `transactional_id`'s
    /// ongoing transaction at this producer id and epoch? Answered here when this broker
    /// leads the id's `__transaction_state` partition, else asked of its leader with
    /// AddPartitionsToTxn v4 verify-only (Kafka's `AddPartitionsToTxnManager`). Errors are
    /// the coordinator's; nobody leading is COORDINATOR_NOT_AVAILABLE, a failed exchange
    /// NETWORK_EXCEPTION.
    pub(crate) async fn verify_partition(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        tp: &TopicPartition,
    ) -> Result<(), ApiError> {
        match self.coordinator_node(transactional_id) {
            Some(node) if node == self.node_id => {
                self.add_partitions(
                    transactional_id,
                    producer_id,
                    producer_epoch,
                    vec![tp.clone()],
                    true,
                )
                .await
            }
            Some(node) => {
                self.inter_broker
                    .verify_partition_in_txn(
                        node,
                        transactional_id,
                        producer_id,
                        producer_epoch,
                        tp,
                    )
                    .await
            }
            None => Err(err(
                ResponseError::CoordinatorNotAvailable,
                format!("the coordinator of {transactional_id} has no live leader"),
            )),
        }
    }

    /// AddOffsetsToTxn: adds the group's `__consumer_offsets` partition to the transaction.
    pub(crate) async fn add_offsets(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        group_id: &str,
    ) -> Result<(), ApiError> {
        self.groups.ensure_offsets_topic().await?;
        let tp = TopicPartition::new(
            GROUP_METADATA_TOPIC_NAME,
            self.groups.partition_for_group(group_id),
        );
        self.add_partitions(
            transactional_id,
            producer_id,
            producer_epoch,
            vec![tp],
            false,
        )
        .await
    }

    /// TxnOffsetCommit: checks that the group's offsets partition is part of the producer's
    /// ongoing transaction, then has the group coordinator append the offsets as a
    /// transactional batch (made visible by the COMMIT marker, dropped by ABORT). The
    /// shard's write lock is held throughout, so no marker of this transaction can be
    /// written between the check and the append (no hanging transaction on
    /// `__consumer_offsets`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn txn_offset_commit(
        &self,
        transactional_id: &str,
        group_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        member_id: &str,
        generation_id: i32,
        group_instance_id: Option<&str>,
        offsets: Vec<(TopicPartition, OffsetCommitValue)>,
    ) -> Result<(), ApiError> {
        self.groups.validate_txn_offset_commit(
            group_id,
            member_id,
            generation_id,
            group_instance_id,
        )?;
        let offsets_tp = TopicPartition::new(
            GROUP_METADATA_TOPIC_NAME,
            self.groups.partition_for_group(group_id),
        );
        if self.coordinator_node(transactional_id) != Some(self.node_id) {
            // The transaction's coordinator is another broker: Kafka's mechanism keeps a
            // marker from overtaking the append — a verification guard on the group's
            // partition, handed out before the coordinator confirmed the partition is in
            // the transaction and voided by any marker of the producer meanwhile.
            let verification = match self
                .replicas
                .start_txn_verification(&offsets_tp, producer_id)
            {
                Some(guard) => {
                    self.verify_partition(
                        transactional_id,
                        producer_id,
                        producer_epoch,
                        &offsets_tp,
                    )
                    .await
                    .map_err(|e| match e.code {
                        ResponseError::NetworkException => ApiError::new(
                            ResponseError::CoordinatorNotAvailable,
                            e.message.unwrap_or_default(),
                        ),
                        _ => e,
                    })?;
                    TxnVerification::Guard(guard)
                }
                // The producer's transaction is already ongoing on the partition.
                None => TxnVerification::Unverified,
            };
            return self
                .groups
                .txn_offset_commit(group_id, producer_id, producer_epoch, offsets, verification)
                .await
                .map_err(ApiError::from);
        }
        let shard = self.shard_for(transactional_id)?;
        let _write = shard.write_lock.lock().await;
        let meta = Self::check_producer(&shard, transactional_id, producer_id, producer_epoch)?;
        if meta.state != TxnState::Ongoing || !meta.partitions.contains(&offsets_tp) {
            return Err(err(
                ResponseError::InvalidTxnState,
                format!("group {group_id}'s offsets were not added to an ongoing transaction (AddOffsetsToTxn)"),
            ));
        }
        self.groups
            .txn_offset_commit(
                group_id,
                producer_id,
                producer_epoch,
                offsets,
                TxnVerification::Off,
            )
            .await
            .map_err(ApiError::from)
    }

    /// EndTxn: commits or aborts the ongoing transaction (markers written before the
    /// answer). A retry of a completed EndTxn succeeds; the other outcome is
    /// INVALID_TXN_STATE.
    pub(crate) async fn end_txn(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
    ) -> Result<(), ApiError> {
        let shard = self.shard_for(transactional_id)?;
        let _write = shard.write_lock.lock().await;
        let meta = Self::check_producer(&shard, transactional_id, producer_id, producer_epoch)?;
        match (meta.state, commit) {
            (TxnState::Ongoing, _) => {}
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => return Ok(()),
            (TxnState::PrepareCommit, _) | (TxnState::PrepareAbort, _) => {
                return Err(ResponseError::ConcurrentTransactions.into())
            }
            (state, _) => {
                return Err(err(
                    ResponseError::InvalidTxnState,
                    format!(
                        "cannot {} {transactional_id} in state {}",
                        if commit { "commit" } else { "abort" },
                        state.name()
                    ),
                ))
            }
        }
        let mut next = meta;
        next.state = if commit {
            TxnState::PrepareCommit
        } else {
            TxnState::PrepareAbort
        };
        next.last_update_ms = now_ms();
        self.persist(&shard, transactional_id, Some(next)).await?;
        crate::crash::point("txn.prepared");
        // Prepared and durable: the outcome is decided. Marker failures are retried by the
        // background task, as Kafka's marker channel does.
        if let Err(e) = self.complete(&shard, transactional_id).await {
            tracing::warn!(transactional_id, error = %e, "completing transaction failed; will retry");
        }
        Ok(())
    }

    /// DescribeTransactions for one id.
    pub(crate) fn describe(&self, transactional_id: &str) -> Result<DescribedTxn, ApiError> {
        let shard = self.shard_for(transactional_id)?;
        let meta = shard
            .get(transactional_id)
            .ok_or(ResponseError::TransactionalIdNotFound)?;
        Ok(DescribedTxn {
            state: meta.state,
            timeout_ms: meta.timeout_ms,
            start_ms: meta.start_ms,
            producer_id: meta.producer_id,
            producer_epoch: meta.producer_epoch,
            partitions: meta.partitions.into_iter().collect(),
        })
    }

    /// ListTransactions over every loaded shard. Empty filters match everything;
    /// `min_duration_ms` ≥ 0 keeps transactions running at least that long.
    pub(crate) fn list(
        &self,
        states: &[TxnState],
        producer_ids: &[i64],
        min_duration_ms: i64,
    ) -> Result<Vec<ListedTxn>, ApiError> {
        let now = now_ms();
        let mut out = Vec::new();
        for shard in self.shards.all() {
            let st = shard.lock();
            if !st.is_loaded() {
                return Err(ResponseError::CoordinatorLoadInProgress.into());
            }
            for (id, m) in &st.txns {
                if (!states.is_empty() && !states.contains(&m.state))
                    || (!producer_ids.is_empty() && !producer_ids.contains(&m.producer_id))
                    || (min_duration_ms >= 0
                        && (m.state != TxnState::Ongoing
                            || now.saturating_sub(m.start_ms) < min_duration_ms))
                {
                    continue;
                }
                out.push(ListedTxn {
                    transactional_id: id.clone(),
                    producer_id: m.producer_id,
                    state: m.state,
                });
            }
        }
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        Ok(out)
    }

    // ------------------------------------------------------------------ background

    async fn periodic(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let interval =
            Duration::from_millis(self.config.abort_timed_out_cleanup_interval_ms.max(10) as u64);
        let mut last_expiry_ms = now_ms();
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(interval) => {}
            }
            self.abort_timed_out().await;
            let now = now_ms();
            if now - last_expiry_ms >= self.config.remove_expired_cleanup_interval_ms {
                last_expiry_ms = now;
                self.remove_expired().await;
            }
        }
    }

    /// Aborts (with an epoch bump, fencing the producer) every Ongoing transaction older
    /// than its timeout, and retries the completion of prepared ones.
    async fn abort_timed_out(&self) {
        for shard in self.shards.all() {
            let now = now_ms();
            let due: Vec<String> = {
                let st = shard.lock();
                if !st.is_loaded() || st.is_closed() {
                    continue;
                }
                st.txns
                    .iter()
                    .filter(|(_, m)| match m.state {
                        TxnState::Ongoing => now >= m.start_ms + i64::from(m.timeout_ms),
                        TxnState::PrepareCommit | TxnState::PrepareAbort => true,
                        _ => false,
                    })
                    .map(|(id, _)| id.clone())
                    .collect()
            };
            for id in due {
                let _write = shard.write_lock.lock().await;
                let Some(meta) = shard.get(&id) else { continue };
                let result = match meta.state {
                    TxnState::Ongoing if now_ms() >= meta.start_ms + i64::from(meta.timeout_ms) => {
                        tracing::info!(transactional_id = %id, producer_id = meta.producer_id, producer_epoch = meta.producer_epoch, timeout_ms = meta.timeout_ms, "aborting timed-out transaction");
                        self.fence_and_abort(&shard, &id, &meta).await
                    }
                    TxnState::PrepareCommit | TxnState::PrepareAbort => {
                        self.complete(&shard, &id).await
                    }
                    _ => Ok(()),
                };
                if let Err(e) = result {
                    tracing::warn!(transactional_id = %id, error = %e, "transaction completion failed; will retry");
                }
            }
        }
    }

    /// Removes transactional ids idle (not in a transaction) longer than
    /// `transactional.id.expiration.ms`, with a tombstone.
    async fn remove_expired(&self) {
        for shard in self.shards.all() {
            let now = now_ms();
            let expired: Vec<String> = {
                let st = shard.lock();
                st.txns
                    .iter()
                    .filter(|(_, m)| {
                        matches!(
                            m.state,
                            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
                        ) && now.saturating_sub(m.last_update_ms)
                            >= self.config.transactional_id_expiration_ms
                    })
                    .map(|(id, _)| id.clone())
                    .collect()
            };
            for id in expired {
                let _write = shard.write_lock.lock().await;
                let still = shard.get(&id).is_some_and(|m| {
                    matches!(
                        m.state,
                        TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
                    ) && now_ms().saturating_sub(m.last_update_ms)
                        >= self.config.transactional_id_expiration_ms
                });
                if still {
                    match self.persist(&shard, &id, None).await {
                        Ok(()) => {
                            tracing::info!(transactional_id = %id, "expired transactional id removed")
                        }
                        Err(e) => {
                            tracing::warn!(transactional_id = %id, error = %e, "removing expired transactional id failed")
                        }
                    }
                }
            }
        }
    }
}

/// The transactional ids of a shard's records, replayed in offset order (a tombstone
/// removes its id).
fn replay(records: Vec<TxnLogRecord>) -> HashMap<String, TxnMetadata> {
    let mut txns = HashMap::new();
    for record in records {
        match record.value {
            Some(v) => {
                txns.insert(record.transactional_id, TxnMetadata::from_value(v));
            }
            None => {
                txns.remove(&record.transactional_id);
            }
        }
    }
    txns
}
