//! The cluster rows: three combined KRaft nodes, each row on a cluster of its own, started
//! by the test kit's `ClusterSpec` with the command line a user types (`node.id`,
//! `process.roles=broker,controller`, `controller.quorum.voters` naming all three, fixed
//! loopback ports), and driven with the bench's librdkafka clients and, for what rdkafka
//! lacks (AlterPartitionReassignments, per-broker IncrementalAlterConfigs), the test kit's
//! wire-protocol `RawClient`.
//!
//! - produce: `throughput::run` and `latency::run` at acks=all on a topic of each
//!   replication factor, in the same run on the same cluster;
//! - failover: a one-record-at-a-time acks=all producer runs while the leader of its
//!   partition (replication factor 3) is killed with SIGKILL, then, once that node is back
//!   and in sync, while the new leader is stopped with SIGTERM; the figure is the longest
//!   time without an acknowledgement from the signal on ([`produce_outage`]);
//! - reassignment: a partition on nodes 1 and 2 gets node 3 as a new replica; the figure is
//!   the leader's log bytes over the time node 3 takes to hold as many on disk, once
//!   without a throttle and once with the configs `kafka-reassign-partitions --throttle`
//!   sets ([`throttle_held`] judges the second against the rate, over the copy after the
//!   burst a fresh Kafka quota allows: [`throttle_burst_bytes`], [`steady_rate`]);
//! - idle CPU: topics created at replication factor 3, a settle period, then every node's
//!   CPU time from `/proc/<pid>/stat` over a window ([`cpu_percent`]).
//!
//! The test kit's cluster helpers panic, saying why, when the cluster does not do what they
//! wait for (they are test helpers); every row runs under `catch_unwind`, so such a failure
//! becomes the row's error, as any scenario's failure does.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ironlog_testkit::{config_op, resource, ClusterSpec as NodesSpec, RawClient, TestCluster};
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::{AlterPartitionReassignmentsRequest, BrokerId};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::args::BrokerOverride;
use crate::clients;
use crate::error::BenchError;
use crate::latency::{self, LatencyResult};
use crate::proc_stats;
use crate::scenario::{
    ClusterProduceSpec, ClusterSpec, FailoverSpec, IdleCpuSpec, ReassignmentSpec,
};
use crate::throughput::{self, ThroughputResult};

/// Nodes of every cluster row.
pub(crate) const CLUSTER_NODES: i32 = 3;
/// The throttled catch-up holds when it is at most this much above the rate (10 %).
pub(crate) const THROTTLE_TOLERANCE: f64 = 0.10;
/// Idle CPU goal per node, percent of one core.
pub(crate) const IDLE_CPU_PERCENT_MAX: f64 = 2.0;
/// Bound on waiting for every partition of a new topic to be led with a full ISR.
const TOPIC_IN_SYNC_TIMEOUT: Duration = Duration::from_secs(120);
/// Pause between two looks at a condition the bench waits for (acks, bytes on disk).
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// Delivery bound of one failover record; librdkafka retries within it.
const FAILOVER_MESSAGE_TIMEOUT_MS: &str = "30000";
/// Request timeout of AlterPartitionReassignments.
const REASSIGN_TIMEOUT_MS: i32 = 30_000;
/// AlterPartitionReassignments version sent (v0: replication factor changes allowed).
const REASSIGN_VERSION: i16 = 0;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ClusterOutcome {
    Produce(Vec<ProduceRow>),
    Failover(FailoverResult),
    Reassignment(ReassignmentResult),
    IdleCpu(IdleCpuResult),
}

/// One replication factor of the produce row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProduceRow {
    pub(crate) replication_factor: i32,
    pub(crate) throughput: Result<ThroughputResult, String>,
    pub(crate) latency: Result<LatencyResult, String>,
}

/// How one leader's departure looked to the producer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outage {
    /// The node that led the partition and was stopped.
    pub(crate) leader: i32,
    /// Longest time without an acknowledgement, from the signal until the first
    /// acknowledgement after the node's exit.
    pub(crate) outage: Duration,
    /// Signal to process exit (SIGTERM: the controlled shutdown; SIGKILL: ~0).
    pub(crate) exit_elapsed: Duration,
    /// Records that failed delivery during the event (each after librdkafka's retries).
    pub(crate) failed: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FailoverResult {
    pub(crate) kill: Outage,
    pub(crate) terminate: Outage,
}

/// Bytes a new replica copied and the time it took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CatchUp {
    pub(crate) bytes: u64,
    pub(crate) elapsed: Duration,
    /// The copy's rate after its first [`throttle_burst_bytes`] (the throttled run only).
    pub(crate) steady_bytes_per_s: Option<f64>,
}

impl CatchUp {
    pub(crate) fn bytes_per_s(&self) -> Option<f64> {
        rate_per_s(self.bytes, self.elapsed)
    }
}

/// Kafka's `replication.quota.window.num` default: a replication quota's rate is averaged
/// over this many windows of `replication.quota.window.size.seconds` (1 s), at least
/// `windows - 1` of them from the start — so a fresh throttle lets about
/// `rate × (windows - 1) s` through before it bites, by design.
pub(crate) const QUOTA_WINDOWS: u64 = 11;

/// What a fresh replication throttle of `rate_per_s` lets through at once.
pub(crate) fn throttle_burst_bytes(rate_per_s: u64) -> u64 {
    rate_per_s.saturating_mul(QUOTA_WINDOWS - 1)
}

/// The rate of a copy from the first sample holding at least `skip_bytes` to the last
/// sample; `samples` are (time, bytes copied) in time order. `None` when no sample after
/// the skipped part spans any time.
pub(crate) fn steady_rate(samples: &[(Duration, u64)], skip_bytes: u64) -> Option<f64> {
    let &(from_at, from_bytes) = samples.iter().find(|(_, bytes)| *bytes >= skip_bytes)?;
    let &(to_at, to_bytes) = samples.last()?;
    rate_per_s(
        to_bytes.saturating_sub(from_bytes),
        to_at.saturating_sub(from_at),
    )
    .filter(|_| to_at > from_at)
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ReassignmentResult {
    pub(crate) free: CatchUp,
    pub(crate) throttled: CatchUp,
    pub(crate) throttle_bytes_per_s: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IdleCpuResult {
    /// First CreateTopics until every partition was led with a full ISR on every node.
    pub(crate) create_elapsed: Duration,
    pub(crate) window: Duration,
    /// Node id and its CPU use over the window, percent of one core.
    pub(crate) cpu_percent_by_node: Vec<(i32, f64)>,
}

/// `amount` per second over `elapsed`; `None` for an empty interval.
pub(crate) fn rate_per_s(amount: u64, elapsed: Duration) -> Option<f64> {
    let seconds = elapsed.as_secs_f64();
    (seconds > 0.0).then(|| amount as f64 / seconds)
}

/// CPU use over a window in percent of one core, from a process's CPU seconds (user +
/// system, `/proc/<pid>/stat`) at the window's start and end; `None` for an empty window
/// or a counter that went backwards (another process behind the pid).
pub(crate) fn cpu_percent(cpu_s_start: f64, cpu_s_end: f64, window: Duration) -> Option<f64> {
    let seconds = window.as_secs_f64();
    let used = cpu_s_end - cpu_s_start;
    (seconds > 0.0 && used >= 0.0).then(|| used / seconds * 100.0)
}

/// Whether a throttled transfer stayed within [`THROTTLE_TOLERANCE`] above `limit_per_s`.
pub(crate) fn throttle_held(measured_per_s: f64, limit_per_s: u64) -> bool {
    measured_per_s <= limit_per_s as f64 * (1.0 + THROTTLE_TOLERANCE)
}

/// The longest time without an acknowledgement after `signal`: for each acknowledgement
/// at or after it, the time since the previous acknowledgement or the signal, whichever
/// is later. `acks` are times since a common origin, in order. `None` without an
/// acknowledgement after the signal.
pub(crate) fn produce_outage(signal: Duration, acks: &[Duration]) -> Option<Duration> {
    let mut previous = signal;
    let mut longest = None;
    for &ack in acks.iter().filter(|&&ack| ack >= signal) {
        let gap = ack.saturating_sub(previous);
        longest = Some(longest.map_or(gap, |l: Duration| l.max(gap)));
        previous = ack;
    }
    longest
}

/// Runs one cluster row on a cluster of its own.
pub(crate) fn run(
    binary: Option<&Path>,
    overrides: &[BrokerOverride],
    topic_prefix: &str,
    spec: &ClusterSpec,
) -> Result<ClusterOutcome, BenchError> {
    let binary = binary.ok_or_else(|| BenchError::Refused {
        what: "the cluster scenario".to_string(),
        reason: "it starts three nodes of its own: run with --spawn".to_string(),
    })?;
    let overrides: Vec<(&str, &str)> = overrides
        .iter()
        .map(|o| (o.key.as_str(), o.value.as_str()))
        .collect();
    let guarded = catch_unwind(AssertUnwindSafe(|| {
        let started = Instant::now();
        let mut cluster = NodesSpec::new(binary, CLUSTER_NODES)
            .overrides(&overrides)
            .start();
        tracing::info!(
            bootstrap = %cluster.bootstrap(),
            start_ms = started.elapsed().as_millis() as u64,
            "cluster of {CLUSTER_NODES} nodes started"
        );
        match spec {
            ClusterSpec::Produce(spec) => Ok(ClusterOutcome::Produce(produce(
                &cluster.bootstrap(),
                topic_prefix,
                spec,
            ))),
            ClusterSpec::Failover(spec) => {
                failover(&mut cluster, topic_prefix, spec).map(ClusterOutcome::Failover)
            }
            ClusterSpec::Reassignment(spec) => {
                reassignment(&cluster, topic_prefix, spec).map(ClusterOutcome::Reassignment)
            }
            ClusterSpec::IdleCpu(spec) => {
                idle_cpu(&cluster, topic_prefix, spec).map(ClusterOutcome::IdleCpu)
            }
        }
    }));
    guarded.unwrap_or_else(|panic| {
        let reason = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "the cluster helper failed".to_string());
        Err(BenchError::Refused {
            what: "the cluster".to_string(),
            reason,
        })
    })
}

/// The produce rows on the cluster behind `bootstrap` (Ironlog's, or the three-node Apache
/// Kafka peer's).
pub(crate) fn produce(bootstrap: &str, prefix: &str, spec: &ClusterProduceSpec) -> Vec<ProduceRow> {
    spec.replication_factors
        .iter()
        .map(|&rf| {
            let topic = format!("{prefix}-cluster-rf{rf}");
            let throughput = throughput::run(bootstrap, &topic, &spec.throughput, rf, None)
                .map_err(|e| e.to_string());
            let latency_topic = format!("{prefix}-cluster-rf{rf}-latency");
            let latency = latency::run(bootstrap, &latency_topic, &spec.latency, rf)
                .map_err(|e| e.to_string());
            ProduceRow {
                replication_factor: rf,
                throughput,
                latency,
            }
        })
        .collect()
}

/// What the failover producer thread saw, times since its origin.
#[derive(Default)]
struct AckLog {
    acks: Vec<Duration>,
    failed: u64,
    last_error: Option<String>,
}

/// A thread sending one acks=all record at a time to partition 0 of a topic, each
/// acknowledged (or failed) before the next, logging the acknowledgement times.
struct SequentialProducer {
    origin: Instant,
    log: Arc<Mutex<AckLog>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SequentialProducer {
    fn start(bootstrap: &str, topic: &str, record_bytes: usize) -> Result<Self, BenchError> {
        let mut config = clients::base_config(bootstrap);
        config
            .set("acks", "all")
            .set("linger.ms", "0")
            .set("enable.idempotence", "false")
            .set("message.timeout.ms", FAILOVER_MESSAGE_TIMEOUT_MS)
            .set("retry.backoff.ms", "20")
            .set("retry.backoff.max.ms", "100");
        let producer: FutureProducer = config.create()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| BenchError::io("building the failover producer's runtime", e))?;
        let origin = Instant::now();
        let log = Arc::new(Mutex::new(AckLog::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_log, thread_stop) = (Arc::clone(&log), Arc::clone(&stop));
        let topic = topic.to_string();
        let payload = clients::payload(record_bytes);
        let thread = std::thread::spawn(move || {
            while !thread_stop.load(Ordering::Relaxed) {
                let record = FutureRecord::<(), [u8]>::to(&topic)
                    .partition(0)
                    .payload(&payload[..]);
                let delivered = runtime.block_on(producer.send(record, Duration::ZERO));
                let Ok(mut log) = thread_log.lock() else {
                    return;
                };
                match delivered {
                    Ok(_) => log.acks.push(origin.elapsed()),
                    Err((error, _)) => {
                        log.failed += 1;
                        log.last_error = Some(error.to_string());
                    }
                }
            }
        });
        Ok(SequentialProducer {
            origin,
            log,
            stop,
            thread: Some(thread),
        })
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// Acknowledgement times and failures so far.
    fn snapshot(&self) -> (Vec<Duration>, u64, Option<String>) {
        self.log
            .lock()
            .map(|log| (log.acks.clone(), log.failed, log.last_error.clone()))
            .unwrap_or_default()
    }

    /// Waits (bounded) until some acknowledgement came at or after `since` and, counting
    /// from `since`, `count` have; returns every acknowledgement time so far.
    fn await_acks_since(
        &self,
        since: Duration,
        count: u64,
        timeout: Duration,
        what: &str,
    ) -> Result<(Vec<Duration>, u64), BenchError> {
        let deadline = Instant::now() + timeout;
        loop {
            let (acks, failed, last_error) = self.snapshot();
            if acks.iter().filter(|&&a| a >= since).count() as u64 >= count {
                return Ok((acks, failed));
            }
            if Instant::now() >= deadline {
                return Err(BenchError::Timeout {
                    what: format!(
                        "{what} ({failed} records failed so far, last error: {})",
                        last_error.as_deref().unwrap_or("none")
                    ),
                    waited_ms: timeout.as_millis(),
                });
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

impl Drop for SequentialProducer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // At most one delivery (bounded by message.timeout.ms) is still outstanding.
            let _ = thread.join();
        }
    }
}

/// The leader of partition 0 of `topic` as node `via` shows it.
fn leader_of(cluster: &TestCluster, via: i32, topic: &str) -> Result<i32, BenchError> {
    cluster
        .partitions_via(via, topic)
        .and_then(|partitions| partitions.first().map(|p| p.leader))
        .filter(|&leader| leader > 0)
        .ok_or_else(|| BenchError::Topic {
            topic: topic.to_string(),
            reason: format!("node {via} shows no leader for partition 0"),
        })
}

/// Stops `leader` with `stop` while the producer runs and measures the outage.
fn measure_outage(
    producer: &SequentialProducer,
    spec: &FailoverSpec,
    leader: i32,
    stop: impl FnOnce(),
) -> Result<Outage, BenchError> {
    producer.await_acks_since(
        producer.now(),
        spec.acks_before,
        spec.phase_timeout,
        "acknowledgements before stopping the leader",
    )?;
    let (_, failed_before, _) = producer.snapshot();
    let signal = producer.now();
    stop();
    let exited = producer.now();
    let (acks, failed) = producer.await_acks_since(
        exited,
        1,
        spec.phase_timeout,
        &format!("an acknowledgement after node {leader} exited"),
    )?;
    let outage = produce_outage(signal, &acks).unwrap_or_default();
    Ok(Outage {
        leader,
        outage,
        exit_elapsed: exited.saturating_sub(signal),
        failed: failed.saturating_sub(failed_before),
    })
}

fn failover(
    cluster: &mut TestCluster,
    prefix: &str,
    spec: &FailoverSpec,
) -> Result<FailoverResult, BenchError> {
    let topic = format!("{prefix}-cluster-failover");
    cluster.create_replicated_topic(&topic, 1, CLUSTER_NODES, TOPIC_IN_SYNC_TIMEOUT);
    let producer = SequentialProducer::start(&cluster.bootstrap(), &topic, spec.record_bytes)?;

    let leader = leader_of(cluster, 1, &topic)?;
    tracing::info!(leader, "killing the partition leader with SIGKILL");
    let kill = measure_outage(&producer, spec, leader, || cluster.kill9_node(leader))?;
    tracing::info!(
        outage_ms = kill.outage.as_millis() as u64,
        "produce resumed"
    );

    cluster.restart_node(leader);
    cluster.await_full_isr_on_running(&topic, 1, TOPIC_IN_SYNC_TIMEOUT);
    let leader = leader_of(cluster, 1, &topic)?;
    tracing::info!(leader, "stopping the partition leader with SIGTERM");
    let terminate = measure_outage(&producer, spec, leader, || cluster.stop_node(leader))?;
    tracing::info!(
        outage_ms = terminate.outage.as_millis() as u64,
        "produce resumed"
    );
    if terminate.exit_elapsed > SLOW_SHUTDOWN {
        keep_slow_shutdown_log(cluster, leader, terminate.exit_elapsed);
    }
    Ok(FailoverResult { kill, terminate })
}

/// A controlled shutdown this slow is looked into: its node's log is kept.
const SLOW_SHUTDOWN: Duration = Duration::from_secs(5);

/// Copies node `id`'s log (the cluster's dirs go when the bench ends) to the temp dir and
/// says where, for a controlled shutdown that took `took`.
fn keep_slow_shutdown_log(cluster: &TestCluster, id: i32, took: Duration) {
    let node = cluster.node(id);
    let kept = std::env::temp_dir().join(format!(
        "ironlog-bench-slow-shutdown-{}-node-{id}.log",
        std::process::id()
    ));
    match std::fs::write(&kept, node.log_text()) {
        Ok(()) => tracing::warn!(
            node = id,
            took_ms = took.as_millis() as u64,
            log = %kept.display(),
            "the controlled shutdown was slow; its node's log is kept"
        ),
        Err(e) => tracing::warn!(
            node = id,
            took_ms = took.as_millis() as u64,
            error = %e,
            "the controlled shutdown was slow; keeping its node's log failed:\n{}",
            node.log_tail()
        ),
    }
}

/// One IncrementalAlterConfigs through node `via`; an error code is a `Refused`.
fn alter_configs(
    cluster: &TestCluster,
    via: i32,
    resource_type: i8,
    name: &str,
    ops: &[(&str, i8, Option<&str>)],
) -> Result<(), BenchError> {
    let (code, message) = RawClient::connect(cluster.node(via).bootstrap())
        .incremental_alter_configs(resource_type, name, ops, false);
    if code == 0 {
        return Ok(());
    }
    Err(BenchError::Refused {
        what: format!("IncrementalAlterConfigs of {name} {ops:?}"),
        reason: format!("error code {code}: {}", message.unwrap_or_default()),
    })
}

/// The replication throttle `kafka-reassign-partitions --throttle` sets for moving
/// partition 0 of `topic` from `current` to `current` + `adding`: the rate, leader and
/// follower side, on every broker involved; the current replicas throttled as leaders, the
/// added ones as followers. `rate` `None` removes all of it (as `--verify` does).
fn set_throttle(
    cluster: &TestCluster,
    topic: &str,
    current: &[i32],
    adding: &[i32],
    rate: Option<u64>,
) -> Result<(), BenchError> {
    let rate = rate.map(|r| r.to_string());
    let (op, value) = match &rate {
        Some(rate) => (config_op::SET, Some(rate.as_str())),
        None => (config_op::DELETE, None),
    };
    for &broker in current.iter().chain(adding) {
        alter_configs(
            cluster,
            broker,
            resource::BROKER,
            &broker.to_string(),
            &[
                ("leader.replication.throttled.rate", op, value),
                ("follower.replication.throttled.rate", op, value),
            ],
        )?;
    }
    let replicas = |ids: &[i32]| {
        ids.iter()
            .map(|id| format!("0:{id}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let (leaders, followers) = (replicas(current), replicas(adding));
    let (leader_value, follower_value) = match rate {
        Some(_) => (Some(leaders.as_str()), Some(followers.as_str())),
        None => (None, None),
    };
    alter_configs(
        cluster,
        current[0],
        resource::TOPIC,
        topic,
        &[
            ("leader.replication.throttled.replicas", op, leader_value),
            (
                "follower.replication.throttled.replicas",
                op,
                follower_value,
            ),
        ],
    )
}

fn reassign(cluster: &TestCluster, topic: &str, replicas: &[i32]) -> Result<(), BenchError> {
    let request = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(REASSIGN_TIMEOUT_MS)
        .with_topics(vec![ReassignableTopic::default()
            .with_name(ironlog_testkit::topic_name_of(topic))
            .with_partitions(vec![ReassignablePartition::default()
                .with_partition_index(0)
                .with_replicas(Some(
                    replicas.iter().copied().map(BrokerId).collect(),
                ))])]);
    let what = format!("AlterPartitionReassignments of {topic}/0 to {replicas:?}");
    let response = RawClient::connect(cluster.node(1).bootstrap())
        .call(REASSIGN_VERSION, &request)
        .map_err(|e| BenchError::Refused {
            what: what.clone(),
            reason: e.to_string(),
        })?;
    let codes: Vec<i16> = std::iter::once(response.error_code)
        .chain(
            response
                .responses
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
        )
        .collect();
    if codes.iter().all(|&code| code == 0) {
        return Ok(());
    }
    Err(BenchError::Refused {
        what,
        reason: format!("error codes {codes:?}"),
    })
}

/// Produces `spec.data_bytes` into a new topic on nodes 1 and 2, optionally throttles,
/// adds node 3, and times node 3's copy.
fn catch_up(
    cluster: &TestCluster,
    topic: &str,
    spec: &ReassignmentSpec,
    throttle: Option<u64>,
) -> Result<CatchUp, BenchError> {
    const CURRENT: [i32; 2] = [1, 2];
    const ADDING: [i32; 1] = [3];
    cluster.create_assigned_topic(topic, &[&CURRENT[..]]);
    cluster.await_full_isr(1, topic, 1, TOPIC_IN_SYNC_TIMEOUT);
    let produce_spec = crate::scenario::ThroughputSpec {
        record_bytes: spec.record_bytes,
        partitions: 1,
        acks: crate::scenario::Acks::All,
        record_count: spec.data_bytes / spec.record_bytes.max(1) as u64,
        send_duration_max: spec.phase_timeout,
    };
    let bootstrap = cluster.bootstrap();
    let produced = throughput::produce(
        throughput::producer_config(&bootstrap, &produce_spec),
        topic,
        &produce_spec,
        None,
    )?;
    if produced.failed > 0 {
        return Err(BenchError::Topic {
            topic: topic.to_string(),
            reason: format!(
                "{} records failed: {}",
                produced.failed,
                produced.first_error.unwrap_or_default()
            ),
        });
    }
    let leader = leader_of(cluster, 1, topic)?;
    let bytes = cluster.node(leader).partition_log_bytes(topic, 0);
    if let Some(rate) = throttle {
        set_throttle(cluster, topic, &CURRENT, &ADDING, Some(rate))?;
    }
    let target: Vec<i32> = CURRENT.iter().chain(&ADDING).copied().collect();
    let started = Instant::now();
    reassign(cluster, topic, &target)?;
    let deadline = started + spec.phase_timeout;
    // (time, bytes on node 3) at every change; bounded by the timeout / POLL_INTERVAL.
    let mut samples: Vec<(Duration, u64)> = Vec::new();
    loop {
        let copied = cluster.node(ADDING[0]).partition_log_bytes(topic, 0);
        if samples.last().is_none_or(|&(_, last)| last != copied) {
            samples.push((started.elapsed(), copied));
        }
        if copied >= bytes {
            break;
        }
        if Instant::now() >= deadline {
            return Err(BenchError::Timeout {
                what: format!(
                    "node {} to copy {bytes} bytes of {topic}/0 (has {copied})",
                    ADDING[0]
                ),
                waited_ms: spec.phase_timeout.as_millis(),
            });
        }
        std::thread::sleep(POLL_INTERVAL);
    }
    let elapsed = started.elapsed();
    let steady_bytes_per_s =
        throttle.and_then(|rate| steady_rate(&samples, throttle_burst_bytes(rate)));
    if throttle.is_some() {
        set_throttle(cluster, topic, &CURRENT, &ADDING, None)?;
    }
    cluster.await_full_isr(1, topic, 1, TOPIC_IN_SYNC_TIMEOUT);
    tracing::info!(
        topic,
        bytes,
        elapsed_ms = elapsed.as_millis() as u64,
        ?throttle,
        "new replica caught up"
    );
    Ok(CatchUp {
        bytes,
        elapsed,
        steady_bytes_per_s,
    })
}

fn reassignment(
    cluster: &TestCluster,
    prefix: &str,
    spec: &ReassignmentSpec,
) -> Result<ReassignmentResult, BenchError> {
    let free = catch_up(cluster, &format!("{prefix}-cluster-moved"), spec, None)?;
    let throttled = catch_up(
        cluster,
        &format!("{prefix}-cluster-moved-throttled"),
        spec,
        Some(spec.throttle_bytes_per_s),
    )?;
    Ok(ReassignmentResult {
        free,
        throttled,
        throttle_bytes_per_s: spec.throttle_bytes_per_s,
    })
}

fn idle_cpu(
    cluster: &TestCluster,
    prefix: &str,
    spec: &IdleCpuSpec,
) -> Result<IdleCpuResult, BenchError> {
    let started = Instant::now();
    for index in 0..spec.topics {
        cluster.create_replicated_topic(
            &format!("{prefix}-cluster-idle-{index:04}"),
            spec.partitions_per_topic,
            spec.replication_factor,
            TOPIC_IN_SYNC_TIMEOUT,
        );
    }
    let create_elapsed = started.elapsed();
    tracing::info!(
        partitions = spec.partitions_total(),
        create_ms = create_elapsed.as_millis() as u64,
        "partitions in sync; letting the cluster idle"
    );
    // The measurement is "CPU while idle": the settle period and the window are the point.
    std::thread::sleep(spec.settle);
    let pids: Vec<(i32, u32)> = cluster
        .node_ids()
        .into_iter()
        .map(|id| {
            cluster
                .node(id)
                .pid()
                .map(|pid| (id, pid))
                .ok_or_else(|| BenchError::Refused {
                    what: format!("node {id}'s CPU time"),
                    reason: "the node is not running".to_string(),
                })
        })
        .collect::<Result<_, _>>()?;
    let before: Vec<f64> = pids
        .iter()
        .map(|&(_, pid)| proc_stats::cpu_seconds(pid))
        .collect::<Result<_, _>>()?;
    let window_started = Instant::now();
    std::thread::sleep(spec.window);
    let window = window_started.elapsed();
    let mut cpu_percent_by_node = Vec::with_capacity(pids.len());
    for (&(id, pid), start) in pids.iter().zip(before) {
        let end = proc_stats::cpu_seconds(pid)?;
        let percent = cpu_percent(start, end, window).ok_or_else(|| BenchError::Proc {
            pid,
            file: "stat",
            reason: format!("CPU time went from {start} s to {end} s"),
        })?;
        cpu_percent_by_node.push((id, percent));
    }
    Ok(IdleCpuResult {
        create_elapsed,
        window,
        cpu_percent_by_node,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn cpu_percent_is_cpu_seconds_over_wall_seconds() {
        let percent = cpu_percent(12.0, 12.3, Duration::from_secs(30)).unwrap();
        assert!(
            (percent - 1.0).abs() < 1e-9,
            "0.3 CPU s in 30 s is 1 % of a core, got {percent}"
        );
        assert_eq!(cpu_percent(1.0, 1.0, Duration::from_secs(10)), Some(0.0));
        assert_eq!(
            cpu_percent(1.0, 2.0, Duration::ZERO),
            None,
            "an empty window has no rate"
        );
        assert_eq!(
            cpu_percent(2.0, 1.0, Duration::from_secs(1)),
            None,
            "a CPU counter that went backwards is not a measurement"
        );
    }

    #[test]
    fn cpu_percent_from_proc_stat_samples() {
        let sample = |utime: u64, stime: u64| {
            format!("77 (ironlog) S 1 77 77 0 -1 0 0 0 0 0 {utime} {stime} 0 0 20 0 30 0 5 0 0")
        };
        let start = proc_stats::parse_stat_cpu_seconds(&sample(1_000, 200)).unwrap();
        let end = proc_stats::parse_stat_cpu_seconds(&sample(1_045, 215)).unwrap();
        let percent = cpu_percent(start, end, Duration::from_secs(30)).unwrap();
        assert!(
            (percent - 2.0).abs() < 1e-9,
            "60 ticks (0.6 s) in 30 s is 2 % of a core, got {percent}"
        );
    }

    #[test]
    fn catch_up_rate_is_bytes_over_elapsed() {
        let catch_up = CatchUp {
            bytes: 50_000_000,
            elapsed: Duration::from_secs(5),
            steady_bytes_per_s: None,
        };
        assert_eq!(catch_up.bytes_per_s(), Some(10_000_000.0));
        assert_eq!(rate_per_s(1, Duration::ZERO), None);
    }

    #[test]
    fn steady_rate_skips_the_burst_a_fresh_throttle_allows() {
        // 20 MB at once, then 2 MB a second for 10 s.
        let mut samples = vec![(ms(0), 0), (ms(500), 20_000_000)];
        samples.extend((1..=10).map(|s| (ms(500 + s * 1_000), 20_000_000 + s * 2_000_000)));
        assert_eq!(throttle_burst_bytes(2_000_000), 20_000_000);
        assert_eq!(
            steady_rate(&samples, throttle_burst_bytes(2_000_000)),
            Some(2_000_000.0)
        );
        assert_eq!(
            steady_rate(&samples[..2], 20_000_000),
            None,
            "a copy that ended within the burst has no steady rate"
        );
        assert_eq!(steady_rate(&samples, 100_000_000), None);
        assert_eq!(steady_rate(&[], 0), None);
    }

    #[test]
    fn throttle_holds_up_to_ten_percent_above_the_rate() {
        assert!(throttle_held(5_000_000.0, 5_000_000));
        assert!(throttle_held(5_499_999.0, 5_000_000));
        assert!(
            throttle_held(1_000.0, 5_000_000),
            "slower than the rate holds"
        );
        assert!(!throttle_held(5_600_000.0, 5_000_000));
    }

    #[test]
    fn outage_is_the_longest_gap_between_acknowledgements_after_the_signal() {
        // Acks every 10 ms, the signal at 100 ms, nothing until 1,100 ms, then every 10 ms.
        let mut acks: Vec<Duration> = (1..=10).map(|i| ms(i * 10)).collect();
        acks.extend((0..5).map(|i| ms(1_100 + i * 10)));
        assert_eq!(produce_outage(ms(100), &acks), Some(ms(1_000)));
        assert_eq!(
            produce_outage(ms(105), &acks),
            Some(ms(995)),
            "the outage starts at the signal, not at the ack before it"
        );
    }

    #[test]
    fn outage_sees_a_stall_after_acks_that_followed_the_signal() {
        // SIGTERM: the old leader still acknowledges during its controlled shutdown, then
        // produce stalls while leadership moves.
        let acks = [ms(0), ms(10), ms(20), ms(30), ms(330), ms(340)];
        assert_eq!(produce_outage(ms(5), &acks), Some(ms(300)));
        assert_eq!(
            produce_outage(ms(400), &acks),
            None,
            "no acknowledgement after the signal"
        );
    }
}
