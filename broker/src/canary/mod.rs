//! `canary`: `ironlog canary`, the end-to-end canary — a process of its own that keeps a
//! canary topic with a partition led by every broker, produces one record per partition
//! every `canary.interval.ms` (acks=all; a run id, a per-partition sequence and the send
//! time in each record) and reads them back, and exports what happened as Prometheus
//! metrics on its own HTTP listener (`/metrics`, `/health/live`, `/health/ready`).
//! Strimzi's canary is the model (docs/metrics.md maps the names).
//!
//! It speaks to the cluster only through the protocol crate's `Client` — three of them, so
//! that a long-polling fetch never waits behind a produce or a metadata request on one
//! connection (a broker serves one connection's requests in order):
//! - admin: Metadata, CreateTopics, CreatePartitions, ListOffsets (`topic`);
//! - producer: one task per partition (`produce`), one Produce in flight each;
//! - consumer: one task per broker (`consume`) fetching the partitions it leads.
//!
//! Every record sent is read back, or a metric says which was not (`tracker`). Shared
//! state is per partition: its leader (an atomic), its `PartitionTracker` and metric
//! handles (each behind the partition's own mutex, held for one record or one fetched
//! batch, never across an `.await`).

mod config;
mod consume;
mod http;
mod metrics;
mod produce;
mod record;
mod topic;
mod tracker;

pub use config::{CanaryConfig, CanaryConfigError, KEYS as CANARY_SETTINGS};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ironlog_protocol::kafka_protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsTopic,
};
use ironlog_protocol::kafka_protocol::messages::{BrokerId, ListOffsetsRequest, TopicName};
use ironlog_protocol::kafka_protocol::protocol::StrBytes;
use ironlog_protocol::{
    Client, ClientConfig, ConnectionConfig, Error, RetryPolicy, SendOptions, Target,
};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use metrics::{CanaryErrorKind, CanaryMetrics, PartitionMetrics};
use tracker::{LostRecord, PartitionTracker};

/// Shortest time between two metadata look-ups asked for by failures.
const REFRESH_GAP: Duration = Duration::from_millis(500);
/// First wait after a failed reconcile (doubling up to the reconcile interval).
const RETRY_BACKOFF_INITIAL: Duration = Duration::from_millis(250);

/// Why the canary could not run.
#[derive(Debug, thiserror::Error)]
pub enum CanaryError {
    #[error("cannot bind the canary listener {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("cannot register the canary's metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot make a Kafka client: {0}")]
    Client(Error),
    #[error("cannot install a signal handler: {0}")]
    Signal(std::io::Error),
}

/// One canary partition: its leader as last seen, what its records became, its series.
pub(crate) struct CanaryPartition {
    pub(crate) partition: i32,
    /// -1: no leader known.
    leader: AtomicI32,
    tracker: Mutex<PartitionTracker>,
    pub(crate) metrics: PartitionMetrics,
}

impl CanaryPartition {
    pub(crate) fn leader(&self) -> Option<i32> {
        let l = self.leader.load(Ordering::Acquire);
        (l >= 0).then_some(l)
    }

    fn set_leader(&self, leader: Option<i32>) {
        self.leader.store(leader.unwrap_or(-1), Ordering::Release);
        self.metrics.leader_changed(leader);
    }

    pub(crate) fn tracker(&self) -> MutexGuard<'_, PartitionTracker> {
        self.tracker.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts lost records and logs them: one line per call, naming the first and last
    /// (a reset can lose many at once).
    pub(crate) fn report_lost(&self, lost: &[LostRecord]) {
        let (Some(first), Some(last)) = (lost.first(), lost.last()) else {
            return;
        };
        tracing::warn!(
            partition = self.partition,
            records = lost.len(),
            first_sequence = first.sequence,
            first_offset = first.offset,
            last_sequence = last.sequence,
            last_offset = last.offset,
            broker = first.broker,
            reason = first.reason.label(),
            "acknowledged canary records lost"
        );
        for l in lost {
            self.metrics.lost(l.broker, l.reason);
        }
    }
}

/// What the canary's tasks share.
pub(crate) struct Canary {
    pub(crate) config: CanaryConfig,
    pub(crate) run_id: String,
    pub(crate) metrics: Arc<CanaryMetrics>,
    pub(crate) admin: Client,
    pub(crate) producer: Client,
    pub(crate) consumer: Client,
    partitions: Mutex<BTreeMap<i32, Arc<CanaryPartition>>>,
    /// Failures that suggest leadership moved wake the reconcile loop.
    refresh: Notify,
    /// When the last reconcile succeeded (ms since the canary started; -1: never).
    reconciled_at_ms: AtomicI64,
    started: Instant,
}

impl Canary {
    /// Asks for metadata soon (leadership probably moved).
    pub(crate) fn refresh_metadata(&self) {
        self.refresh.notify_one();
    }

    /// The partitions `broker` leads now.
    pub(crate) fn led_by(&self, broker: i32) -> Vec<Arc<CanaryPartition>> {
        self.partitions()
            .values()
            .filter(|p| p.leader() == Some(broker))
            .cloned()
            .collect()
    }

    fn partitions(&self) -> MutexGuard<'_, BTreeMap<i32, Arc<CanaryPartition>>> {
        self.partitions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ready: the topic was reconciled recently (within three reconcile intervals) and
    /// has partitions.
    pub(crate) fn is_ready(&self) -> bool {
        let at = self.reconciled_at_ms.load(Ordering::Acquire);
        let now = self.started.elapsed().as_millis() as i64;
        let window = 3 * self.config.reconcile_interval.as_millis() as i64;
        at >= 0 && now - at <= window && !self.partitions().is_empty()
    }

    /// The offset ListOffsets answers for `partition` at `timestamp` (-1 latest, -2
    /// earliest), asked of `leader`.
    pub(crate) async fn list_offset(
        &self,
        leader: i32,
        partition: i32,
        timestamp: i64,
    ) -> Result<i64, Error> {
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_isolation_level(self.config.isolation_level.wire())
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_string(self.config.topic.clone())))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_current_leader_epoch(-1)
                    .with_timestamp(timestamp)])]);
        let result = self
            .admin
            .send_with(
                Target::Node(leader),
                &request,
                SendOptions::default().timeout(self.config.request_timeout),
                |response| {
                    let p = response
                        .topics
                        .iter()
                        .flat_map(|t| t.partitions.iter())
                        .find(|p| p.partition_index == partition)
                        .ok_or_else(|| {
                            Error::Config("ListOffsets answered without the partition".into())
                        })?;
                    Error::check(p.error_code, None)?;
                    Ok(p.offset)
                },
            )
            .await;
        if result.is_err() {
            self.metrics.error(CanaryErrorKind::ListOffsets);
        }
        result
    }
}

/// A running canary: the bound listener, and its tasks until [`RunningCanary::stop`].
pub(crate) struct RunningCanary {
    listener: std::net::SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
    http: http::CanaryListener,
}

impl RunningCanary {
    /// The address `/metrics` is served on.
    pub(crate) fn listener(&self) -> std::net::SocketAddr {
        self.listener
    }

    /// Stops every task and the listener.
    pub(crate) async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        let stopped = tokio::time::timeout(Duration::from_secs(5), async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if stopped.is_err() {
            self.tasks.abort_all();
        }
        self.http.stop().await;
    }
}

fn client(config: &CanaryConfig, retry: RetryPolicy) -> Result<Client, CanaryError> {
    let mut client_config = ClientConfig::new(config.bootstrap_servers.clone());
    client_config.connection = ConnectionConfig {
        client_id: Some(config.client_id.clone()),
        request_timeout: config.request_timeout,
        connect_timeout: config.request_timeout,
        ..ConnectionConfig::default()
    };
    client_config.retry = retry;
    // leaders are followed by the canary's own metadata requests; the clients' metadata
    // is only broker addresses
    client_config.metadata_max_age = config.reconcile_interval;
    Client::new(client_config).map_err(CanaryError::Client)
}

/// Binds the listener and starts the canary's tasks; it keeps trying whatever the cluster
/// answers (errors are metrics), until stopped.
pub(crate) async fn start(config: CanaryConfig) -> Result<RunningCanary, CanaryError> {
    let run_id = uuid::Uuid::new_v4().to_string();
    let metrics = CanaryMetrics::new(&config.topic, &run_id)?;
    let admin_retry = RetryPolicy {
        max_attempts: 3,
        total_timeout: config.request_timeout,
        ..RetryPolicy::default()
    };
    // one attempt each: a produce is never repeated (a repeat could be a duplicate), a
    // fetch is repeated by the consumer's loop
    let single = RetryPolicy {
        total_timeout: config.request_timeout + consume::FETCH_MAX_WAIT.max(produce::ANSWER_MARGIN),
        ..RetryPolicy::no_retries()
    };
    let canary = Arc::new(Canary {
        admin: client(&config, admin_retry)?,
        producer: client(&config, single.clone())?,
        consumer: client(&config, single)?,
        config,
        run_id,
        metrics,
        partitions: Mutex::new(BTreeMap::new()),
        refresh: Notify::new(),
        reconciled_at_ms: AtomicI64::new(-1),
        started: Instant::now(),
    });
    let http = http::CanaryListener::start(Arc::clone(&canary)).await?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tasks.spawn(reconcile_loop(Arc::clone(&canary), shutdown_rx));
    tracing::info!(
        topic = %canary.config.topic,
        run_id = %canary.run_id,
        bootstrap = ?canary.config.bootstrap_servers,
        "canary started"
    );
    Ok(RunningCanary {
        listener: http.local,
        shutdown,
        tasks,
        http,
    })
}

/// Runs a canary until SIGTERM or SIGINT; prints the listener line and `ironlog: started`.
pub async fn run(config: CanaryConfig) -> Result<(), CanaryError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(CanaryError::Signal)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(CanaryError::Signal)?;
    let running = start(config).await?;
    println!("ironlog: listener CANARY bound to {}", running.listener());
    println!("ironlog: started");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received, stopping the canary"),
        _ = interrupt.recv() => tracing::info!("interrupt received, stopping the canary"),
    }
    running.stop().await;
    tracing::info!("canary stopped");
    Ok(())
}

/// Reconciles the topic every `canary.topic.reconcile.interval.ms`, and soon after a
/// failure suggested leadership moved; starts the producer of every new partition and
/// the consumer of every new broker.
async fn reconcile_loop(canary: Arc<Canary>, mut shutdown: watch::Receiver<bool>) {
    let mut tasks = JoinSet::new();
    let mut consumers: BTreeSet<i32> = BTreeSet::new();
    let mut failures: u32 = 0;
    loop {
        match topic::reconcile(
            &canary.admin,
            &canary.config.topic,
            &canary.config.topic_configs,
            canary.config.request_timeout,
        )
        .await
        {
            Ok(state) => {
                apply(&canary, &state, &mut tasks, &mut consumers, &shutdown);
                canary.reconciled_at_ms.store(
                    canary.started.elapsed().as_millis() as i64,
                    Ordering::Release,
                );
                failures = 0;
            }
            Err(e) => {
                let kind = match e {
                    topic::TopicError::Metadata(_) | topic::TopicError::NoBrokers => {
                        CanaryErrorKind::Metadata
                    }
                    topic::TopicError::Create { .. } => CanaryErrorKind::TopicCreation,
                    topic::TopicError::AddPartitions { .. } => CanaryErrorKind::PartitionCreation,
                };
                canary.metrics.error(kind);
                tracing::warn!(error = %e, "canary topic reconcile failed; trying again");
                failures = failures.saturating_add(1);
            }
        }
        // after a failure, sooner: 0.5 s doubling up to the reconcile interval
        let next = if failures == 0 {
            canary.config.reconcile_interval
        } else {
            RETRY_BACKOFF_INITIAL
                .saturating_mul(1 << failures.min(8))
                .min(canary.config.reconcile_interval)
        };
        let wait = async {
            tokio::select! {
                _ = tokio::time::sleep(next) => {}
                _ = canary.refresh.notified() => {}
            }
            tokio::time::sleep(REFRESH_GAP).await;
        };
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            _ = wait => {}
        }
    }
    while tasks.join_next().await.is_some() {}
}

fn apply(
    canary: &Arc<Canary>,
    state: &topic::TopicState,
    tasks: &mut JoinSet<()>,
    consumers: &mut BTreeSet<i32>,
    shutdown: &watch::Receiver<bool>,
) {
    canary.metrics.brokers.set(state.brokers.len() as i64);
    let Some(partitions) = &state.partitions else {
        return;
    };
    canary.metrics.partitions.set(partitions.len() as i64);
    for (&id, p) in partitions {
        let existing = canary.partitions().get(&id).cloned();
        match existing {
            Some(partition) => {
                if partition.leader() != p.leader {
                    tracing::info!(partition = id, leader = ?p.leader, "canary partition leader moved");
                    partition.set_leader(p.leader);
                }
            }
            None => {
                let partition = Arc::new(CanaryPartition {
                    partition: id,
                    leader: AtomicI32::new(-1),
                    tracker: Mutex::new(PartitionTracker::default()),
                    metrics: canary.metrics.partition(id),
                });
                partition.set_leader(p.leader);
                canary.partitions().insert(id, Arc::clone(&partition));
                tasks.spawn(produce::produce_loop(
                    Arc::clone(canary),
                    partition,
                    shutdown.clone(),
                ));
            }
        }
    }
    for &broker in &state.brokers {
        if consumers.insert(broker) {
            tasks.spawn(consume::consume_loop(
                Arc::clone(canary),
                broker,
                shutdown.clone(),
            ));
        }
    }
}

/// Wall-clock ms since the epoch (what records carry).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
