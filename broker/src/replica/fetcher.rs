//! The replica fetcher (Kafka's `ReplicaFetcherManager` / `ReplicaFetcherThread`): one
//! task per source broker, fetching every partition this broker follows from that leader
//! with long-polling Fetch requests through `ironlog-protocol`'s `Connection` (a replica
//! id, so the leader reads to its log end and records our position).
//!
//! Per partition, the fetch offset is the local log end and `last_fetched_epoch` the latest
//! epoch of the local leader-epoch cache; the response's batches are appended with the
//! leader's offsets ([`Partition::append_as_follower`]), a `diverging_epoch` truncates the
//! local tail (Kafka's KIP-320 truncation: to where the leader's epoch ends, or where ours
//! does when we do not know the leader's epoch), OFFSET_OUT_OF_RANGE compares with the
//! leader's log end (OffsetForLeaderEpoch) and start (ListOffsets), and the follower's high
//! watermark is the leader's, capped by the local log end.
//!
//! Bounded: at most `replica.fetch.response.max.bytes` per response (`replica.fetch.max.bytes`
//! per partition), one request in flight per source broker, the leader holds each request
//! at most `replica.fetch.wait.max.ms` (no busy loop: an idle follower sends about two
//! requests a second per source broker), and every failure — connection, request, or a
//! partition's error — waits `replica.fetch.backoff.ms` before that work is retried.

use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ironlog_protocol::{
    Connection, ConnectionConfig, Connector, Error as ProtocolError, SendOptions, TcpConnector,
    VersionChoice,
};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ReplicaState};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, ListOffsetsRequest, OffsetForLeaderEpochRequest,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::quota::ReplicationQuotas;
use super::Partition;
use crate::metadata::{ControllerClient, MetadataImage};
use crate::types::TopicPartition;
use ironlog_config::BrokerConfig;

/// Fetch settings (Kafka's `replica.fetch.*`).
#[derive(Debug, Clone)]
pub(crate) struct FetcherConfig {
    pub node_id: i32,
    /// The listener followers connect to on the leader (`inter.broker.listener.name`).
    pub listener_name: String,
    pub max_wait_ms: i32,
    pub min_bytes: i32,
    pub response_max_bytes: i32,
    pub partition_max_bytes: i32,
    pub backoff: Duration,
    pub socket_timeout: Duration,
    /// How followers reach the leader's inter-broker listener (its security protocol).
    pub connector: Arc<dyn Connector>,
}

impl FetcherConfig {
    pub(crate) fn from_broker_config(c: &BrokerConfig) -> Self {
        Self {
            node_id: c.node_id,
            listener_name: c.inter_broker_listener_name.clone(),
            max_wait_ms: c.replica_fetch_wait_max_ms.clamp(0, 60_000),
            min_bytes: c.replica_fetch_min_bytes.max(1),
            response_max_bytes: c.replica_fetch_response_max_bytes.max(1),
            partition_max_bytes: c.replica_fetch_max_bytes.max(1),
            backoff: Duration::from_millis(c.replica_fetch_backoff_ms.clamp(1, 60_000) as u64),
            socket_timeout: Duration::from_millis(match c.value("replica.socket.timeout.ms") {
                Some(ironlog_config::ConfigValue::Int(ms)) => ms.clamp(1_000, 300_000) as u64,
                _ => 30_000,
            }),
            connector: TcpConnector::shared(),
        }
    }
}

/// One followed partition in a fetcher.
#[derive(Clone)]
struct Fetched {
    partition: Arc<Partition>,
    /// The leader epoch the metadata gave when the partition was added.
    leader_epoch: i32,
    /// Not fetched before this instant (after an error).
    delayed_until: Option<Instant>,
}

/// The partitions of one source broker, shared between the manager and its task.
#[derive(Default)]
struct FetcherState {
    partitions: HashMap<TopicPartition, Fetched>,
}

struct FetcherHandle {
    state: Arc<Mutex<FetcherState>>,
    wake: Arc<Notify>,
    task: JoinHandle<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What every fetcher task reads besides its own partitions.
#[derive(Clone)]
struct FetcherContext {
    config: FetcherConfig,
    metadata: watch::Receiver<Arc<MetadataImage>>,
    /// This broker's epoch for `replica_state.replica_epoch` (-1 without a client).
    controller_client: Option<Arc<ControllerClient>>,
    /// The follower-side replication throttle.
    quotas: Arc<ReplicationQuotas>,
}

/// The fetcher tasks of this broker, by source broker id.
pub(crate) struct ReplicaFetcherManager {
    context: FetcherContext,
    fetchers: Mutex<HashMap<i32, FetcherHandle>>,
    shutdown: watch::Sender<bool>,
}

impl ReplicaFetcherManager {
    pub(crate) fn new(
        config: FetcherConfig,
        metadata: watch::Receiver<Arc<MetadataImage>>,
        controller_client: Option<Arc<ControllerClient>>,
        quotas: Arc<ReplicationQuotas>,
    ) -> Self {
        Self {
            context: FetcherContext {
                config,
                metadata,
                controller_client,
                quotas,
            },
            fetchers: Mutex::new(HashMap::new()),
            shutdown: watch::Sender::new(false),
        }
    }

    /// Follows `partition` from `leader` at `leader_epoch` (moving it from any other
    /// fetcher). Must be called on the runtime (it may start a task).
    pub(crate) fn add_partition(&self, partition: Arc<Partition>, leader: i32, leader_epoch: i32) {
        if *self.shutdown.borrow() {
            return;
        }
        let tp = partition.tp.clone();
        let mut fetchers = lock(&self.fetchers);
        for (source, handle) in fetchers.iter() {
            if *source != leader {
                lock(&handle.state).partitions.remove(&tp);
            }
        }
        let handle = fetchers.entry(leader).or_insert_with(|| {
            let state = Arc::new(Mutex::new(FetcherState::default()));
            let wake = Arc::new(Notify::new());
            let task = tokio::spawn(run_fetcher(
                leader,
                self.context.clone(),
                Arc::clone(&state),
                Arc::clone(&wake),
                self.shutdown.subscribe(),
            ));
            tracing::info!(source_broker = leader, "replica fetcher started");
            FetcherHandle { state, wake, task }
        });
        lock(&handle.state).partitions.insert(
            tp,
            Fetched {
                partition,
                leader_epoch,
                delayed_until: None,
            },
        );
        handle.wake.notify_one();
    }

    /// Stops following `tp` (it became leader, lost its leader, or is no longer hosted).
    /// A fetcher left without partitions stops.
    pub(crate) fn remove_partition(&self, tp: &TopicPartition) {
        let mut fetchers = lock(&self.fetchers);
        let mut idle = Vec::new();
        for (source, handle) in fetchers.iter() {
            let mut state = lock(&handle.state);
            if state.partitions.remove(tp).is_some() && state.partitions.is_empty() {
                idle.push(*source);
            }
        }
        for source in idle {
            if let Some(handle) = fetchers.remove(&source) {
                handle.task.abort();
                tracing::info!(
                    source_broker = source,
                    "replica fetcher stopped: no partitions left"
                );
            }
        }
    }

    /// Stops every fetcher and waits (bounded) until none appends any more.
    pub(crate) async fn shutdown(&self) {
        self.shutdown.send_replace(true);
        let handles: Vec<FetcherHandle> = lock(&self.fetchers).drain().map(|(_, h)| h).collect();
        for handle in handles {
            handle.wake.notify_one();
            if tokio::time::timeout(Duration::from_secs(10), handle.task)
                .await
                .is_err()
            {
                tracing::warn!("a replica fetcher did not stop within 10 s");
            }
        }
    }
}

/// The address of `broker`'s `listener` in `image`.
fn broker_address(image: &MetadataImage, broker: i32, listener: &str) -> Option<String> {
    let registration = image.brokers.get(&broker)?;
    let endpoint = registration
        .listeners
        .iter()
        .find(|l| l.name == listener)
        .or_else(|| registration.listeners.first())?;
    Some(if endpoint.host.contains(':') {
        format!("[{}]:{}", endpoint.host, endpoint.port)
    } else {
        format!("{}:{}", endpoint.host, endpoint.port)
    })
}

/// One source broker's fetch loop, until shutdown (or the manager aborts it).
async fn run_fetcher(
    source: i32,
    context: FetcherContext,
    state: Arc<Mutex<FetcherState>>,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let FetcherContext {
        config,
        metadata,
        controller_client,
        quotas,
    } = context;
    let mut connection: Option<Connection> = None;
    // Bounded: every round sends one long-polling request or waits (backoff, a wake-up).
    loop {
        if *shutdown.borrow() {
            return;
        }
        let now = Instant::now();
        // Kafka's `shouldFollowerThrottle`: a throttled partition this broker is not in the
        // ISR of is left out while the follower quota is exceeded.
        let throttle = |tp: &TopicPartition, f: &Fetched| {
            quotas.follower.is_throttled(&tp.topic, tp.partition)
                && !f.partition.replica_set().isr.contains(&config.node_id)
        };
        let exceeded = quotas.follower.is_exceeded(crate::types::now_ms());
        let mut throttled: HashSet<TopicPartition> = HashSet::new();
        let ready: Vec<(TopicPartition, Fetched)> = lock(&state)
            .partitions
            .iter()
            .filter(|(_, f)| f.delayed_until.is_none_or(|t| t <= now))
            .filter(|(tp, f)| {
                if !throttle(tp, f) {
                    return true;
                }
                throttled.insert((*tp).clone());
                !exceeded
            })
            .map(|(tp, f)| (tp.clone(), f.clone()))
            .collect();
        if ready.is_empty() {
            let next = lock(&state)
                .partitions
                .values()
                .filter_map(|f| f.delayed_until)
                .min()
                .unwrap_or(now + config.backoff);
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = wake.notified() => {}
                _ = tokio::time::sleep_until(next) => {}
            }
            continue;
        }
        let conn = match &connection {
            Some(c) if c.is_open() => c.clone(),
            _ => {
                let address = broker_address(&metadata.borrow(), source, &config.listener_name);
                let connected = match address {
                    Some(address) => Connection::connect(
                        &address,
                        ConnectionConfig {
                            client_id: Some(format!("broker-{}-fetcher-0", config.node_id)),
                            request_timeout: config.socket_timeout,
                            max_in_flight: 1,
                            max_frame_bytes: (config.response_max_bytes as usize)
                                .saturating_add(1 << 20)
                                .max(config.partition_max_bytes as usize + (1 << 20)),
                            connector: Arc::clone(&config.connector),
                            ..ConnectionConfig::default()
                        },
                    )
                    .await
                    .map_err(|e| e.to_string()),
                    None => Err(format!("broker {source} has no registered address")),
                };
                match connected {
                    Ok(c) => {
                        connection = Some(c.clone());
                        c
                    }
                    Err(e) => {
                        tracing::warn!(source_broker = source, error = %e, "replica fetcher cannot connect; backing off");
                        tokio::select! {
                            _ = shutdown.changed() => return,
                            _ = tokio::time::sleep(config.backoff) => {}
                        }
                        continue;
                    }
                }
            }
        };
        let broker_epoch = controller_client.as_ref().map_or(-1, |c| c.broker_epoch());
        let version = match conn.version_for(ApiKey::Fetch, VersionChoice::Highest) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(source_broker = source, error = %e, "the leader serves no Fetch; backing off");
                if close_and_back_off(&mut connection, &mut shutdown, config.backoff).await {
                    return;
                }
                continue;
            }
        };
        let request = fetch_request(&config, version, broker_epoch, &ready);
        let timeout = config.socket_timeout + Duration::from_millis(config.max_wait_ms as u64);
        let sent = tokio::select! {
            _ = shutdown.changed() => return,
            r = conn.send_with(&request, SendOptions::default().timeout(timeout)) => r,
        };
        let response = match sent {
            Ok(response) if response.error_code == 0 => response,
            Ok(response) => {
                tracing::warn!(
                    source_broker = source,
                    error_code = response.error_code,
                    "fetch from leader failed; backing off"
                );
                backoff(&mut shutdown, config.backoff).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(source_broker = source, error = %e, "fetch from leader failed; backing off");
                if close_and_back_off(&mut connection, &mut shutdown, config.backoff).await {
                    return;
                }
                continue;
            }
        };
        let throttled_bytes: usize = response
            .responses
            .iter()
            .flat_map(|t| t.partitions.iter().map(move |p| (t, p)))
            .filter(|(t, p)| {
                ready.iter().any(|(tp, f)| {
                    tp.partition == p.partition_index
                        && (tp.topic.as_str() == t.topic.0.as_str()
                            || (!t.topic_id.is_nil() && f.partition.topic_id == t.topic_id))
                        && throttled.contains(tp)
                })
            })
            .map(|(_, p)| p.records.as_ref().map_or(0, |r| r.len()))
            .sum();
        quotas
            .follower
            .record(throttled_bytes, crate::types::now_ms());
        let failed = process_response(&config, &conn, &state, &ready, response).await;
        if !failed.is_empty() {
            let until = Instant::now() + config.backoff;
            let mut state = lock(&state);
            for tp in failed {
                if let Some(f) = state.partitions.get_mut(&tp) {
                    f.delayed_until = Some(until);
                }
            }
        }
    }
}

/// Closes the connection to the leader (the next round connects again), then backs off as
/// [`backoff`] does.
async fn close_and_back_off(
    connection: &mut Option<Connection>,
    shutdown: &mut watch::Receiver<bool>,
    delay: Duration,
) -> bool {
    if let Some(conn) = connection.take() {
        conn.close();
    }
    backoff(shutdown, delay).await
}

/// Sleeps `delay` unless shutdown comes first (then `true`).
async fn backoff(shutdown: &mut watch::Receiver<bool>, delay: Duration) -> bool {
    tokio::select! {
        _ = shutdown.changed() => true,
        _ = tokio::time::sleep(delay) => false,
    }
}

/// A follower fetch at `version` from this broker of epoch `broker_epoch` (the leader lets
/// it join ISRs only with the epoch of its live registration): topics by id from v13 (by
/// name before), the replica in `replica_state` from v15 (`replica_id` before).
fn fetch_request(
    config: &FetcherConfig,
    version: i16,
    broker_epoch: i64,
    ready: &[(TopicPartition, Fetched)],
) -> FetchRequest {
    let mut by_topic: Vec<FetchTopic> = Vec::new();
    for (tp, f) in ready {
        let log = &f.partition.log;
        let mut partition = FetchPartition::default();
        partition.partition = tp.partition;
        partition.current_leader_epoch = f.leader_epoch;
        partition.fetch_offset = log.log_end_offset();
        partition.last_fetched_epoch = log.latest_leader_epoch().unwrap_or(-1);
        partition.log_start_offset = log.log_start_offset();
        partition.partition_max_bytes = config.partition_max_bytes;
        match by_topic.iter_mut().find(|t| {
            if version >= 13 {
                t.topic_id == f.partition.topic_id
            } else {
                t.topic.0.as_str() == tp.topic.as_str()
            }
        }) {
            Some(t) => t.partitions.push(partition),
            None => {
                let mut t = FetchTopic::default();
                if version >= 13 {
                    t.topic_id = f.partition.topic_id;
                } else {
                    t.topic = TopicName(StrBytes::from_string(tp.topic.clone()));
                }
                t.partitions.push(partition);
                by_topic.push(t);
            }
        }
    }
    let mut request = FetchRequest::default();
    if version >= 15 {
        let mut replica_state = ReplicaState::default();
        replica_state.replica_id = BrokerId(config.node_id);
        replica_state.replica_epoch = broker_epoch;
        request.replica_state = replica_state;
    } else {
        request.replica_id = BrokerId(config.node_id);
    }
    request.max_wait_ms = config.max_wait_ms;
    request.min_bytes = config.min_bytes;
    request.max_bytes = config.response_max_bytes;
    request.isolation_level = 0;
    // Sessionless full fetches (session id 0, final epoch -1).
    request.session_id = 0;
    request.session_epoch = -1;
    request.topics = by_topic;
    request
}

/// What a fetch response asks of one followed partition's log, applied on the blocking pool.
enum LogWork {
    /// Append the records (possibly none), then take the leader's high watermark and log
    /// start.
    Append {
        records: Bytes,
        leader_high_watermark: i64,
        leader_log_start_offset: i64,
    },
    /// The leader says the log diverged after `leader_epoch` ended at `end_offset`.
    Truncate { leader_epoch: i32, end_offset: i64 },
}

/// Applies one fetch response; returns the partitions to back off.
///
/// Every partition's log work of the response runs in one blocking task, not one each: a
/// response names every followed partition of the leader (most of them with nothing new),
/// and a hand-off to the blocking pool per partition made each round — and so every acks=all
/// produce waiting on it — cost a thread wake-up per partition the follower follows.
async fn process_response(
    config: &FetcherConfig,
    conn: &Connection,
    state: &Arc<Mutex<FetcherState>>,
    ready: &[(TopicPartition, Fetched)],
    response: FetchResponse,
) -> Vec<TopicPartition> {
    let mut failed = Vec::new();
    let mut work: Vec<(TopicPartition, Arc<Partition>, i32, LogWork)> = Vec::new();
    let mut out_of_range: Vec<(TopicPartition, Fetched)> = Vec::new();
    for topic in response.responses {
        for pd in topic.partitions {
            let found = ready.iter().find(|(tp, f)| {
                tp.partition == pd.partition_index
                    && (tp.topic.as_str() == topic.topic.0.as_str()
                        || (!topic.topic_id.is_nil() && f.partition.topic_id == topic.topic_id))
            });
            let Some((tp, fetched)) = found else { continue };
            // Still followed at the same epoch? (The manager may have moved it meanwhile;
            // the log work checks the epoch again under the partition's state lock.)
            let current = lock(state).partitions.get(tp).is_some_and(|f| {
                Arc::ptr_eq(&f.partition, &fetched.partition)
                    && f.leader_epoch == fetched.leader_epoch
            });
            if !current {
                continue;
            }
            match ResponseError::try_from_code(pd.error_code) {
                None => {
                    let diverging =
                        pd.diverging_epoch.epoch >= 0 || pd.diverging_epoch.end_offset >= 0;
                    let log_work = if diverging {
                        LogWork::Truncate {
                            leader_epoch: pd.diverging_epoch.epoch,
                            end_offset: pd.diverging_epoch.end_offset,
                        }
                    } else {
                        LogWork::Append {
                            records: pd.records.unwrap_or_default(),
                            leader_high_watermark: pd.high_watermark,
                            leader_log_start_offset: pd.log_start_offset,
                        }
                    };
                    work.push((
                        tp.clone(),
                        Arc::clone(&fetched.partition),
                        fetched.leader_epoch,
                        log_work,
                    ));
                }
                Some(ResponseError::OffsetOutOfRange) => {
                    out_of_range.push((tp.clone(), fetched.clone()));
                }
                Some(other) => {
                    tracing::debug!(partition = %tp, error = ?other, "leader answered an error for a replica fetch; backing off");
                    failed.push(tp.clone());
                }
            }
        }
    }
    if !work.is_empty() {
        let applied = tokio::task::spawn_blocking(move || {
            work.into_iter()
                .filter_map(|(tp, p, epoch, log_work)| {
                    let r = match log_work {
                        LogWork::Append {
                            records,
                            leader_high_watermark,
                            leader_log_start_offset,
                        } => p.append_as_follower(
                            epoch,
                            &records,
                            leader_high_watermark,
                            leader_log_start_offset,
                        ),
                        LogWork::Truncate {
                            leader_epoch,
                            end_offset,
                        } => p.truncate_on_divergence(epoch, leader_epoch, end_offset),
                    };
                    r.err().map(|e| (tp, e.to_string()))
                })
                .collect::<Vec<_>>()
        })
        .await;
        match applied {
            Ok(errors) => {
                for (tp, e) in errors {
                    tracing::debug!(partition = %tp, error = %e, "replica fetch of partition failed; backing off");
                    failed.push(tp);
                }
            }
            Err(e) => {
                // The task panicked or was cancelled: which partitions it reached is unknown,
                // so all of them back off (their next fetch starts from their log end).
                tracing::error!(error = %e, "applying a replica fetch response failed");
                failed.extend(ready.iter().map(|(tp, _)| tp.clone()));
            }
        }
    }
    for (tp, fetched) in out_of_range {
        if let Err(e) = handle_out_of_range(config, conn, &tp, &fetched).await {
            tracing::debug!(partition = %tp, error = %e, "replica fetch of partition failed; backing off");
            failed.push(tp);
        }
    }
    failed
}

/// OFFSET_OUT_OF_RANGE (Kafka's `handleOutOfRangeError`): a log end past the leader's is
/// truncated to it; a log end below the leader's log start restarts the log there.
async fn handle_out_of_range(
    config: &FetcherConfig,
    conn: &Connection,
    tp: &TopicPartition,
    fetched: &Fetched,
) -> Result<(), String> {
    let leader_end = leader_end_offset(config, conn, tp, fetched.leader_epoch).await?;
    let p = Arc::clone(&fetched.partition);
    let epoch = fetched.leader_epoch;
    if leader_end < p.log.log_end_offset() {
        return tokio::task::spawn_blocking(move || p.truncate_as_follower(epoch, leader_end))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
    }
    let leader_start = leader_start_offset(conn, tp).await?;
    if p.log.log_end_offset() < leader_start {
        return tokio::task::spawn_blocking(move || p.restart_as_follower(epoch, leader_start))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
    }
    Err(format!(
        "out of range although the leader's log spans [{leader_start}, {leader_end})"
    ))
}

fn protocol_error(e: ProtocolError) -> String {
    e.to_string()
}

/// The leader's log end offset: OffsetForLeaderEpoch of its current epoch.
async fn leader_end_offset(
    config: &FetcherConfig,
    conn: &Connection,
    tp: &TopicPartition,
    leader_epoch: i32,
) -> Result<i64, String> {
    let mut partition = OffsetForLeaderPartition::default();
    partition.partition = tp.partition;
    partition.current_leader_epoch = leader_epoch;
    partition.leader_epoch = leader_epoch;
    let mut topic = OffsetForLeaderTopic::default();
    topic.topic = TopicName(StrBytes::from_string(tp.topic.clone()));
    topic.partitions.push(partition);
    let mut request = OffsetForLeaderEpochRequest::default();
    request.replica_id = BrokerId(config.node_id);
    request.topics.push(topic);
    let response = conn.send(&request).await.map_err(protocol_error)?;
    let result = response
        .topics
        .into_iter()
        .flat_map(|t| t.partitions)
        .find(|p| p.partition == tp.partition)
        .ok_or("no OffsetForLeaderEpoch result")?;
    if result.error_code != 0 || result.end_offset < 0 {
        return Err(format!(
            "OffsetForLeaderEpoch answered error {} end offset {}",
            result.error_code, result.end_offset
        ));
    }
    Ok(result.end_offset)
}

/// The leader's log start offset: ListOffsets EARLIEST.
async fn leader_start_offset(conn: &Connection, tp: &TopicPartition) -> Result<i64, String> {
    let mut partition = ListOffsetsPartition::default();
    partition.partition_index = tp.partition;
    partition.timestamp = -2;
    partition.current_leader_epoch = -1;
    let mut topic = ListOffsetsTopic::default();
    topic.name = TopicName(StrBytes::from_string(tp.topic.clone()));
    topic.partitions.push(partition);
    let mut request = ListOffsetsRequest::default();
    request.replica_id = BrokerId(-1);
    request.topics.push(topic);
    let response = conn.send(&request).await.map_err(protocol_error)?;
    let result = response
        .topics
        .into_iter()
        .flat_map(|t| t.partitions)
        .find(|p| p.partition_index == tp.partition)
        .ok_or("no ListOffsets result")?;
    if result.error_code != 0 {
        return Err(format!("ListOffsets answered error {}", result.error_code));
    }
    Ok(result.offset)
}

/// The ids of the fetchers' source brokers and their partitions (diagnostics, tests).
#[cfg(test)]
impl ReplicaFetcherManager {
    pub(crate) fn followed(&self) -> Vec<(i32, Vec<TopicPartition>)> {
        let fetchers = lock(&self.fetchers);
        let mut out: Vec<(i32, Vec<TopicPartition>)> = fetchers
            .iter()
            .map(|(s, h)| {
                let mut tps: Vec<TopicPartition> =
                    lock(&h.state).partitions.keys().cloned().collect();
                tps.sort();
                (*s, tps)
            })
            .collect();
        out.sort_by_key(|(s, _)| *s);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::protocol::Encodable;

    fn followed(
        dir: &std::path::Path,
        topic: &str,
        topic_id: uuid::Uuid,
        partition: i32,
    ) -> (TopicPartition, Fetched) {
        let tp = TopicPartition::new(topic, partition);
        let p = super::super::test_support::partition_in(dir, tp.clone(), topic_id, 1);
        let fetched = Fetched {
            partition: p,
            leader_epoch: 3,
            delayed_until: None,
        };
        (tp, fetched)
    }

    #[test]
    fn follower_fetches_encode_at_every_fetch_version_with_the_fields_of_that_version() {
        let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().expect("dir")).collect();
        let topic_id = uuid::Uuid::new_v4();
        let ready = vec![
            followed(dirs[0].path(), "t", topic_id, 0),
            followed(dirs[1].path(), "t", topic_id, 1),
        ];
        let config = FetcherConfig::from_broker_config(
            &BrokerConfig::load(None, &["node.id=1".to_string()]).expect("config"),
        );
        for version in 4..=17 {
            let request = fetch_request(&config, version, 42, &ready);
            let mut out = BytesMut::new();
            if let Err(e) = request.encode(&mut out, version) {
                panic!("a follower fetch does not encode at Fetch v{version}: {e}");
            }
            let (replica_id, epoch) = if version >= 15 {
                (
                    request.replica_state.replica_id.0,
                    request.replica_state.replica_epoch,
                )
            } else {
                (request.replica_id.0, -1)
            };
            assert_eq!(
                (replica_id, epoch),
                (1, if version >= 15 { 42 } else { -1 }),
                "v{version} names this replica (and its broker epoch from v15)"
            );
            assert_eq!(
                request.topics.len(),
                1,
                "v{version}: the two partitions of one topic go in one topic entry"
            );
        }
    }
}
