//! What gets measured: the list of scenarios for one bench run, with their sizes.
//!
//! Adding a measurement = a new `Scenario` variant with its spec struct, a `run` function
//! in its own module returning a new `Outcome` variant, and a section in `report`.

use std::time::Duration;

use crate::args::{Args, ScenarioKind};

/// Record sizes of the throughput matrix, in bytes of record value.
pub(crate) const THROUGHPUT_RECORD_BYTES: [usize; 2] = [100, 1024];
/// `RLIMIT_NOFILE` of the partition-scale brokers: the limit of the session in issue 16.
pub(crate) const PARTITION_SCALE_OPEN_FILES_LIMIT: u64 = 20_000;
/// Send rate of the cluster latency rows (acks=all on three nodes sharing the machine).
pub(crate) const CLUSTER_LATENCY_RATE_PER_S: u64 = 1_000;
/// Partition counts of the throughput matrix.
pub(crate) const THROUGHPUT_PARTITIONS: [i32; 2] = [1, 8];

/// Producer `acks` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Acks {
    One,
    All,
}

impl Acks {
    pub(crate) fn config_value(self) -> &'static str {
        match self {
            Acks::One => "1",
            Acks::All => "all",
        }
    }
}

/// Produce a fixed number of records (bounded by a send deadline) with batching, then read
/// them all back from the beginning with one consumer assigned to every partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ThroughputSpec {
    pub(crate) record_bytes: usize,
    pub(crate) partitions: i32,
    pub(crate) acks: Acks,
    pub(crate) record_count: u64,
    pub(crate) send_duration_max: Duration,
}

/// Send records at a fixed rate with `linger.ms=0` and time each from send to delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LatencySpec {
    pub(crate) record_bytes: usize,
    pub(crate) rate_per_s: u64,
    pub(crate) acks: Acks,
    /// Sent but not counted, so connection setup and metadata fetch do not show in p99.
    pub(crate) warmup: Duration,
    pub(crate) measure: Duration,
}

/// Create many partitions, let the broker go idle, read its resident memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdlePartitionsSpec {
    pub(crate) topics: u32,
    pub(crate) partitions_per_topic: i32,
    /// Idle time between the last partition showing up in metadata and reading RSS.
    pub(crate) settle: Duration,
}

impl IdlePartitionsSpec {
    pub(crate) fn partitions_total(&self) -> u64 {
        u64::from(self.topics) * self.partitions_per_topic.unsigned_abs() as u64
    }
}

/// Many partitions on a broker of its own under an open-files limit, then a clean restart
/// (`partition_scale`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartitionScaleSpec {
    pub(crate) topics: u32,
    pub(crate) partitions_per_topic: i32,
    /// `RLIMIT_NOFILE` (soft = hard) of the broker.
    pub(crate) open_files_limit: u64,
    /// Idle time between the last log being created and reading descriptors and RSS.
    pub(crate) settle: Duration,
    /// Partitions produced to (one record each) after the restart.
    pub(crate) sample_partitions: u64,
}

impl PartitionScaleSpec {
    pub(crate) fn partitions_total(&self) -> u64 {
        u64::from(self.topics) * self.partitions_per_topic.unsigned_abs() as u64
    }
}

/// Consumers of one classic-protocol group (range assignor) subscribe to one topic; time
/// until every partition is assigned and every consumer has received a record, then the
/// time for the rest to take over after one consumer leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupRebalanceSpec {
    pub(crate) consumers: usize,
    pub(crate) partitions: i32,
    /// Bound on each phase (join, settle after the leave).
    pub(crate) phase_timeout: Duration,
}

/// One group member commits offsets for `partitions` partitions, each commit a new offset,
/// first synchronously then asynchronously (with a synchronous barrier every
/// `async_in_flight_max` commits), for `duration` each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OffsetCommitSpec {
    pub(crate) partitions: i32,
    pub(crate) duration: Duration,
    /// Bound on commits per mode, whatever the duration.
    pub(crate) commits_max: u64,
    /// Asynchronous commits issued back to back before one synchronous commit waits for
    /// all of them.
    pub(crate) async_in_flight_max: u64,
}

/// Keyed overwrites to a compacted single-partition topic, then the time the log cleaner
/// takes to shrink the partition's segments until they stop shrinking.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CompactionSpec {
    pub(crate) produce_bytes: u64,
    pub(crate) record_bytes: usize,
    pub(crate) distinct_keys: u64,
    pub(crate) segment_bytes: u64,
    pub(crate) min_cleanable_dirty_ratio: f64,
    /// The size counts as settled after it has not changed for this long.
    pub(crate) settle_quiet: Duration,
    /// Bound on the produce phase and, separately, on the wait for the size to settle.
    pub(crate) phase_timeout: Duration,
}

/// The same produce run without and with `enable.idempotence`, on fresh topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdempotenceSpec {
    /// acks=all for both runs (idempotence requires it).
    pub(crate) produce: ThroughputSpec,
}

/// The same produce run without and then with `/metrics` scraped every `scrape_interval`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MetricsScrapeSpec {
    pub(crate) produce: ThroughputSpec,
    pub(crate) scrape_interval: Duration,
}

/// begin / send `records_per_transaction` / commit, repeated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TransactionsSpec {
    pub(crate) record_bytes: usize,
    pub(crate) partitions: i32,
    pub(crate) records_per_transaction: u64,
    pub(crate) transactions: u64,
    pub(crate) duration_max: Duration,
}

/// One cell measured with Kafka's own perf tools (`java_perf`): ProducerPerformance sends
/// `record_count` records unthrottled, then ConsumerPerformance reads them back in a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JavaPerfSpec {
    pub(crate) record_bytes: usize,
    pub(crate) partitions: i32,
    pub(crate) acks: Acks,
    pub(crate) record_count: u64,
    /// Bound on each tool's process, JVM start included.
    pub(crate) tool_timeout: Duration,
}

/// The rows measured on a cluster of three combined KRaft nodes (`cluster`), each on a
/// cluster of its own, started by the test kit with the command line a user types.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ClusterSpec {
    /// The same acks=all produce run and latency run at each replication factor.
    Produce(ClusterProduceSpec),
    /// A partition leader killed with SIGKILL, then one stopped with SIGTERM, under a
    /// one-record-at-a-time acks=all producer.
    Failover(FailoverSpec),
    /// A replica added to a partition, without and then with a replication throttle.
    Reassignment(ReassignmentSpec),
    /// Every node's CPU while the cluster idles with many replicated partitions.
    IdleCpu(IdleCpuSpec),
}

/// Produce throughput and latency at acks=all on topics of each replication factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClusterProduceSpec {
    pub(crate) replication_factors: Vec<i32>,
    /// Its `acks` is `All`.
    pub(crate) throughput: ThroughputSpec,
    /// Its `acks` is `All`.
    pub(crate) latency: LatencySpec,
}

/// Time without an acknowledged produce after a partition leader goes away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FailoverSpec {
    pub(crate) record_bytes: usize,
    /// Records acknowledged before the leader is stopped (the producer is warm).
    pub(crate) acks_before: u64,
    /// Bound on each wait: the producer warming up, a record acknowledged after the event,
    /// the stopped node's return.
    pub(crate) phase_timeout: Duration,
}

/// A single-partition topic on nodes 1 and 2 gets node 3 as a new replica; the time node 3
/// takes to hold every byte of the leader's log, once freely and once with
/// `throttle_bytes_per_s` set as `kafka-reassign-partitions --throttle` sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReassignmentSpec {
    /// Record value bytes produced into each topic before it is reassigned.
    pub(crate) data_bytes: u64,
    pub(crate) record_bytes: usize,
    pub(crate) throttle_bytes_per_s: u64,
    /// Bound on producing and on each catch-up.
    pub(crate) phase_timeout: Duration,
}

/// Topics created at a replication factor, a settle period, then every node's CPU time
/// over `window`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdleCpuSpec {
    pub(crate) topics: u32,
    pub(crate) partitions_per_topic: i32,
    pub(crate) replication_factor: i32,
    pub(crate) settle: Duration,
    pub(crate) window: Duration,
}

impl IdleCpuSpec {
    pub(crate) fn partitions_total(&self) -> u64 {
        u64::from(self.topics) * self.partitions_per_topic.unsigned_abs() as u64
    }
}

/// One broker with PLAINTEXT, SSL and SASL_SSL (SCRAM-SHA-512) listeners (`security`):
/// the throughput cells over each listener, then connection set-up windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SecuritySpec {
    /// Each runs over the three listeners in turn.
    pub(crate) throughput: Vec<ThroughputSpec>,
    /// Length of each connection set-up window.
    pub(crate) connect_duration: Duration,
    /// Workers opening connections at once, one window per count and listener.
    pub(crate) connect_workers: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scenario {
    Throughput(ThroughputSpec),
    Latency(LatencySpec),
    IdlePartitions(IdlePartitionsSpec),
    PartitionScale(PartitionScaleSpec),
    GroupRebalance(GroupRebalanceSpec),
    OffsetCommit(OffsetCommitSpec),
    Compaction(CompactionSpec),
    Idempotence(IdempotenceSpec),
    MetricsScrape(MetricsScrapeSpec),
    Transactions(TransactionsSpec),
    JavaPerf(JavaPerfSpec),
    Cluster(ClusterSpec),
    Security(SecuritySpec),
}

impl Scenario {
    /// Needs an Ironlog process of the bench's own (its binary, log dirs or admin
    /// listener), so it does not run against a peer broker.
    pub(crate) fn needs_ironlog_process(&self) -> bool {
        matches!(
            self,
            Scenario::PartitionScale(_)
                | Scenario::Compaction(_)
                | Scenario::MetricsScrape(_)
                | Scenario::Cluster(_)
                | Scenario::Security(_)
        )
    }

    /// Runs Kafka's Java tools, so the run needs Kafka's classpath.
    pub(crate) fn needs_java(&self) -> bool {
        matches!(self, Scenario::JavaPerf(_))
    }

    /// Short label for progress logs.
    pub(crate) fn label(&self) -> String {
        match self {
            Scenario::Throughput(s) => format!(
                "throughput {} B x {} partitions acks={} ({} records)",
                s.record_bytes,
                s.partitions,
                s.acks.config_value(),
                s.record_count
            ),
            Scenario::Latency(s) => format!(
                "latency {} B at {} msgs/s acks={}",
                s.record_bytes,
                s.rate_per_s,
                s.acks.config_value()
            ),
            Scenario::IdlePartitions(s) => format!(
                "idle RSS with {} partitions ({} topics x {})",
                s.partitions_total(),
                s.topics,
                s.partitions_per_topic
            ),
            Scenario::PartitionScale(s) => format!(
                "{} partitions ({} topics x {}) under an open-files limit of {}, restarted",
                s.partitions_total(),
                s.topics,
                s.partitions_per_topic,
                s.open_files_limit
            ),
            Scenario::GroupRebalance(s) => format!(
                "group rebalance: {} consumers over {} partitions",
                s.consumers, s.partitions
            ),
            Scenario::OffsetCommit(s) => format!(
                "offset commits on {} partitions, {} s per mode",
                s.partitions,
                s.duration.as_secs()
            ),
            Scenario::Compaction(s) => format!(
                "compaction of {} MB of overwrites to {} keys",
                s.produce_bytes / 1_000_000,
                s.distinct_keys
            ),
            Scenario::Idempotence(s) => format!(
                "idempotent vs plain produce, {} x {} B",
                s.produce.record_count, s.produce.record_bytes
            ),
            Scenario::MetricsScrape(s) => format!(
                "produce with /metrics scraped every {} ms vs unscraped, {} x {} B",
                s.scrape_interval.as_millis(),
                s.produce.record_count,
                s.produce.record_bytes
            ),
            Scenario::Transactions(s) => format!(
                "transactions of {} records, {} transactions",
                s.records_per_transaction, s.transactions
            ),
            Scenario::JavaPerf(s) => format!(
                "ProducerPerformance / ConsumerPerformance {} B x {} partitions acks={} ({} records)",
                s.record_bytes,
                s.partitions,
                s.acks.config_value(),
                s.record_count
            ),
            Scenario::Cluster(ClusterSpec::Produce(s)) => format!(
                "3-node cluster: acks=all produce and latency at replication factors {:?}",
                s.replication_factors
            ),
            Scenario::Cluster(ClusterSpec::Failover(_)) => {
                "3-node cluster: leader failover after SIGKILL and after SIGTERM".to_string()
            }
            Scenario::Cluster(ClusterSpec::Reassignment(s)) => format!(
                "3-node cluster: reassignment catch-up of {} MB, free and throttled to {} MB/s",
                s.data_bytes / 1_000_000,
                s.throttle_bytes_per_s as f64 / 1e6
            ),
            Scenario::Cluster(ClusterSpec::IdleCpu(s)) => format!(
                "3-node cluster: idle CPU with {} partitions at replication factor {}",
                s.partitions_total(),
                s.replication_factor
            ),
            Scenario::Security(s) => format!(
                "PLAINTEXT, SSL and SASL_SSL: {} throughput cells each, {} s connection set-up \
                 windows with {:?} workers",
                s.throughput.len(),
                s.connect_duration.as_secs(),
                s.connect_workers
            ),
        }
    }
}

/// `log.cleaner.backoff.ms` of Ironlog (and Kafka) when not overridden.
const LOG_CLEANER_BACKOFF_MS_DEFAULT: u64 = 15_000;
/// Margin on top of the cleaner backoff before a segment size counts as settled.
const COMPACTION_SETTLE_MARGIN_MS: u64 = 2_000;

/// How long the compacted partition must keep one size to count as settled: longer than
/// one cleaner back-off, taken from `--broker-override log.cleaner.backoff.ms=…` if given.
fn compaction_settle_quiet(args: &Args) -> Duration {
    let backoff_ms = args
        .broker_override
        .iter()
        .rev()
        .find(|o| o.key == "log.cleaner.backoff.ms")
        .and_then(|o| o.value.trim().parse::<u64>().ok())
        .unwrap_or(LOG_CLEANER_BACKOFF_MS_DEFAULT);
    Duration::from_millis(backoff_ms.saturating_add(COMPACTION_SETTLE_MARGIN_MS))
}

/// Default records per throughput run: ~100 MB of 100 B records, ~300 MB of 1 KiB records
/// (a tenth of that with --quick).
fn record_count_default(record_bytes: usize, quick: bool) -> u64 {
    let full = if record_bytes <= 100 {
        1_000_000
    } else {
        300_000
    };
    if quick {
        full / 10
    } else {
        full
    }
}

/// Default records per perf-tool cell: ~50 MB of 100 B records, ~100 MB of 1 KiB records
/// (a tenth of that with --quick), so that eight cells take a few minutes per broker.
fn java_perf_record_count_default(record_bytes: usize, quick: bool) -> u64 {
    let full = if record_bytes <= 100 {
        500_000
    } else {
        100_000
    };
    if quick {
        full / 10
    } else {
        full
    }
}

/// Margin on each perf tool's deadline beyond the send bound: JVM start, metadata, and
/// ConsumerPerformance's group join.
const JAVA_PERF_TOOL_MARGIN: Duration = Duration::from_secs(60);

/// Expands the scenario families chosen on the command line into concrete scenarios.
pub(crate) fn plan(args: &Args) -> Vec<Scenario> {
    let send_duration_max =
        Duration::from_secs(
            args.run_seconds_max
                .unwrap_or(if args.quick { 15 } else { 60 }),
        );
    let mut scenarios = Vec::new();
    for kind in args.scenario_kinds() {
        match kind {
            ScenarioKind::IdlePartitions => {
                scenarios.push(Scenario::IdlePartitions(IdlePartitionsSpec {
                    topics: 100,
                    partitions_per_topic: 10,
                    settle: Duration::from_secs(if args.quick { 2 } else { 10 }),
                }))
            }
            ScenarioKind::Partitions => {
                // 100 partitions per topic, as the 10,000-partition session of issue 16.
                for topics in [100, 500] {
                    scenarios.push(Scenario::PartitionScale(PartitionScaleSpec {
                        topics: if args.quick { topics / 10 } else { topics },
                        partitions_per_topic: 100,
                        open_files_limit: PARTITION_SCALE_OPEN_FILES_LIMIT,
                        settle: Duration::from_secs(if args.quick { 1 } else { 5 }),
                        sample_partitions: 1_000,
                    }))
                }
            }
            ScenarioKind::Throughput => {
                for record_bytes in THROUGHPUT_RECORD_BYTES {
                    for partitions in THROUGHPUT_PARTITIONS {
                        for acks in [Acks::One, Acks::All] {
                            scenarios.push(Scenario::Throughput(ThroughputSpec {
                                record_bytes,
                                partitions,
                                acks,
                                record_count: args.records.unwrap_or_else(|| {
                                    record_count_default(record_bytes, args.quick)
                                }),
                                send_duration_max,
                            }));
                        }
                    }
                }
            }
            ScenarioKind::Latency => scenarios.push(Scenario::Latency(LatencySpec {
                record_bytes: 1024,
                rate_per_s: 10_000,
                acks: Acks::One,
                warmup: Duration::from_secs(if args.quick { 1 } else { 3 }),
                measure: send_duration_max.min(Duration::from_secs(if args.quick {
                    5
                } else {
                    30
                })),
            })),
            ScenarioKind::GroupRebalance => {
                scenarios.push(Scenario::GroupRebalance(GroupRebalanceSpec {
                    consumers: 10,
                    partitions: 100,
                    phase_timeout: Duration::from_secs(60),
                }))
            }
            ScenarioKind::OffsetCommit => {
                scenarios.push(Scenario::OffsetCommit(OffsetCommitSpec {
                    partitions: 10,
                    duration: send_duration_max.min(Duration::from_secs(if args.quick {
                        3
                    } else {
                        10
                    })),
                    commits_max: 1_000_000,
                    async_in_flight_max: 100,
                }))
            }
            ScenarioKind::Compaction => scenarios.push(Scenario::Compaction(CompactionSpec {
                produce_bytes: if args.quick { 10_000_000 } else { 100_000_000 },
                record_bytes: 1024,
                distinct_keys: 1_000,
                segment_bytes: 1_048_576,
                min_cleanable_dirty_ratio: 0.01,
                settle_quiet: compaction_settle_quiet(args),
                phase_timeout: send_duration_max.max(Duration::from_secs(60)),
            })),
            ScenarioKind::Idempotence => scenarios.push(Scenario::Idempotence(IdempotenceSpec {
                produce: ThroughputSpec {
                    record_bytes: 1024,
                    partitions: 1,
                    acks: Acks::All,
                    // 1 GB per run: shorter runs are dominated by noise.
                    record_count: args.records.unwrap_or(if args.quick {
                        30_000
                    } else {
                        1_000_000
                    }),
                    send_duration_max,
                },
            })),
            ScenarioKind::MetricsScrape => {
                scenarios.push(Scenario::MetricsScrape(MetricsScrapeSpec {
                    produce: ThroughputSpec {
                        record_bytes: 1024,
                        partitions: 8,
                        acks: Acks::One,
                        record_count: args.records.unwrap_or(if args.quick {
                            30_000
                        } else {
                            1_000_000
                        }),
                        send_duration_max,
                    },
                    // Prometheus's most aggressive common setting.
                    scrape_interval: Duration::from_secs(1),
                }))
            }
            ScenarioKind::Transactions => {
                scenarios.push(Scenario::Transactions(TransactionsSpec {
                    record_bytes: 1024,
                    partitions: 1,
                    records_per_transaction: 100,
                    transactions: if args.quick { 100 } else { 1_000 },
                    duration_max: send_duration_max,
                }))
            }
            ScenarioKind::JavaPerf => {
                for record_bytes in THROUGHPUT_RECORD_BYTES {
                    for partitions in THROUGHPUT_PARTITIONS {
                        for acks in [Acks::One, Acks::All] {
                            scenarios.push(Scenario::JavaPerf(JavaPerfSpec {
                                record_bytes,
                                partitions,
                                acks,
                                record_count: args.records.unwrap_or_else(|| {
                                    java_perf_record_count_default(record_bytes, args.quick)
                                }),
                                tool_timeout: send_duration_max + JAVA_PERF_TOOL_MARGIN,
                            }));
                        }
                    }
                }
            }
            ScenarioKind::Cluster => scenarios.extend(cluster_plan(args, send_duration_max)),
            ScenarioKind::Security => {
                scenarios.push(Scenario::Security(security_plan(args, send_duration_max)))
            }
        }
    }
    scenarios
}

/// Workers of the connection set-up windows: one after another, and a few at once.
pub(crate) const SECURITY_CONNECT_WORKERS: [usize; 2] = [1, 4];

/// The security rows: acks=all throughput at 1 KiB x 1 partition and 100 B x 8
/// partitions, and 10 s connection windows (3 s with --quick).
fn security_plan(args: &Args, send_duration_max: Duration) -> SecuritySpec {
    let cell = |record_bytes: usize, partitions: i32| ThroughputSpec {
        record_bytes,
        partitions,
        acks: Acks::All,
        record_count: args
            .records
            .unwrap_or_else(|| record_count_default(record_bytes, args.quick)),
        send_duration_max,
    };
    SecuritySpec {
        throughput: vec![cell(1024, 1), cell(100, 8)],
        connect_duration: Duration::from_secs(if args.quick { 3 } else { 10 }),
        connect_workers: SECURITY_CONNECT_WORKERS.to_vec(),
    }
}

/// The cluster rows: produce at RF 1 and 3, failover, reassignment, idle CPU.
fn cluster_plan(args: &Args, send_duration_max: Duration) -> Vec<Scenario> {
    let quick = args.quick;
    let throughput = ThroughputSpec {
        record_bytes: 1024,
        partitions: 8,
        acks: Acks::All,
        record_count: args
            .records
            .unwrap_or_else(|| record_count_default(1024, quick)),
        send_duration_max,
    };
    let latency = LatencySpec {
        record_bytes: 1024,
        rate_per_s: CLUSTER_LATENCY_RATE_PER_S,
        acks: Acks::All,
        warmup: Duration::from_secs(if quick { 1 } else { 3 }),
        measure: send_duration_max.min(Duration::from_secs(if quick { 5 } else { 20 })),
    };
    let phase_timeout = Duration::from_secs(120);
    vec![
        Scenario::Cluster(ClusterSpec::Produce(ClusterProduceSpec {
            replication_factors: vec![1, 3],
            throughput,
            latency,
        })),
        Scenario::Cluster(ClusterSpec::Failover(FailoverSpec {
            record_bytes: 1024,
            acks_before: 20,
            phase_timeout,
        })),
        Scenario::Cluster(ClusterSpec::Reassignment(ReassignmentSpec {
            // The throttle's burst (10 s of its rate), then about 10 s at the rate.
            data_bytes: if quick { 40_000_000 } else { 100_000_000 },
            record_bytes: 1024,
            throttle_bytes_per_s: if quick { 2_000_000 } else { 5_000_000 },
            phase_timeout,
        })),
        Scenario::Cluster(ClusterSpec::IdleCpu(IdleCpuSpec {
            topics: 10,
            partitions_per_topic: 100,
            replication_factor: 3,
            settle: Duration::from_secs(if quick { 2 } else { 10 }),
            window: Duration::from_secs(if quick { 10 } else { 30 }),
        })),
    ]
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn plan_for(args: &[&str]) -> Vec<Scenario> {
        let args =
            Args::try_parse_from(std::iter::once("ironlog-bench").chain(args.iter().copied()))
                .unwrap();
        plan(&args)
    }

    #[test]
    fn full_plan_covers_the_matrix_idle_first() {
        let scenarios = plan_for(&[]);
        assert_eq!(
            scenarios.len(),
            1 + 8 + 1 + 6 + 8 + 2 + 4,
            "idle + 2x2x2 throughput + latency + one of each newer scenario + 2x2x2 Java \
             perf-tool cells + two partition scales + four cluster rows"
        );
        assert!(
            matches!(scenarios[0], Scenario::IdlePartitions(ref s) if s.partitions_total() == 1_000),
            "idle RSS runs first, on a fresh broker, with 1,000 partitions"
        );
        let throughput: Vec<&ThroughputSpec> = scenarios
            .iter()
            .filter_map(|s| match s {
                Scenario::Throughput(t) => Some(t),
                _ => None,
            })
            .collect();
        for record_bytes in THROUGHPUT_RECORD_BYTES {
            for partitions in THROUGHPUT_PARTITIONS {
                for acks in [Acks::One, Acks::All] {
                    assert!(
                        throughput.iter().any(|t| t.record_bytes == record_bytes
                            && t.partitions == partitions
                            && t.acks == acks),
                        "matrix cell {record_bytes} B x {partitions} x {acks:?} is missing"
                    );
                }
            }
        }
        match scenarios.get(9) {
            Some(Scenario::Latency(l)) => {
                assert_eq!(
                    (l.record_bytes, l.rate_per_s, l.acks),
                    (1024, 10_000, Acks::One)
                );
            }
            other => panic!("latency must run after throughput, found {other:?}"),
        }
    }

    #[test]
    fn quick_is_ten_times_smaller_and_records_overrides() {
        let full = plan_for(&["--only", "throughput"]);
        let quick = plan_for(&["--only", "throughput", "--quick"]);
        for (f, q) in full.iter().zip(&quick) {
            let (Scenario::Throughput(f), Scenario::Throughput(q)) = (f, q) else {
                panic!("only throughput scenarios were asked for");
            };
            assert_eq!(f.record_count, q.record_count * 10);
            assert!(q.send_duration_max < f.send_duration_max);
        }
        let fixed = plan_for(&[
            "--only",
            "throughput",
            "--records",
            "777",
            "--run-seconds-max",
            "3",
        ]);
        assert!(fixed.iter().all(|s| matches!(s,
            Scenario::Throughput(t) if t.record_count == 777 && t.send_duration_max == Duration::from_secs(3))));
    }

    #[test]
    fn new_scenarios_have_the_briefed_sizes() {
        let scenarios = plan_for(&[
            "--spawn",
            "--only",
            "group-rebalance,offset-commit,compaction,idempotence,transactions",
            "--broker-override",
            "log.cleaner.backoff.ms=100",
        ]);
        let [Scenario::GroupRebalance(g), Scenario::OffsetCommit(o), Scenario::Compaction(c), Scenario::Idempotence(i), Scenario::Transactions(t)] =
            scenarios.as_slice()
        else {
            panic!("expected the five new scenarios in order, got {scenarios:?}");
        };
        assert_eq!((g.consumers, g.partitions), (10, 100));
        assert_eq!(o.partitions, 10);
        assert_eq!(c.segment_bytes, 1_048_576);
        assert_eq!(
            c.settle_quiet,
            Duration::from_millis(2_100),
            "settle window follows the overridden cleaner backoff"
        );
        assert_eq!(i.produce.acks, Acks::All, "idempotence needs acks=all");
        assert_eq!(t.records_per_transaction, 100);
    }

    #[test]
    fn partition_scales_are_ten_and_fifty_thousand_under_twenty_thousand_descriptors() {
        let sizes = |args: &[&str]| -> Vec<(u64, u64)> {
            plan_for(args)
                .iter()
                .filter_map(|s| match s {
                    Scenario::PartitionScale(p) => Some((p.partitions_total(), p.open_files_limit)),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(
            sizes(&["--spawn", "--only", "partitions"]),
            vec![(10_000, 20_000), (50_000, 20_000)]
        );
        assert_eq!(
            sizes(&["--spawn", "--only", "partitions", "--quick"]),
            vec![(1_000, 20_000), (5_000, 20_000)],
            "--quick is ten times smaller"
        );
    }

    #[test]
    fn cluster_rows_are_rf_1_and_3_failover_reassignment_and_1000_idle_partitions() {
        let scenarios = plan_for(&["--spawn", "--only", "cluster"]);
        let [Scenario::Cluster(ClusterSpec::Produce(p)), Scenario::Cluster(ClusterSpec::Failover(_)), Scenario::Cluster(ClusterSpec::Reassignment(r)), Scenario::Cluster(ClusterSpec::IdleCpu(i))] =
            scenarios.as_slice()
        else {
            panic!("expected produce, failover, reassignment, idle CPU; got {scenarios:?}");
        };
        assert_eq!(p.replication_factors, vec![1, 3]);
        assert_eq!(
            (p.throughput.acks, p.latency.acks),
            (Acks::All, Acks::All),
            "the cluster produce rows are acks=all"
        );
        assert!(
            r.data_bytes
                >= crate::cluster::throttle_burst_bytes(r.throttle_bytes_per_s)
                    + 5 * r.throttle_bytes_per_s,
            "the throttled copy must outlast the burst a fresh quota allows by seconds"
        );
        assert_eq!((i.partitions_total(), i.replication_factor), (1_000, 3));
        assert!(
            scenarios.iter().all(Scenario::needs_ironlog_process),
            "cluster rows start Ironlog nodes of their own: not run against a peer"
        );
        let quick = plan_for(&["--spawn", "--only", "cluster", "--quick"]);
        let Some(Scenario::Cluster(ClusterSpec::IdleCpu(q))) = quick.last() else {
            panic!("the idle CPU row comes last, got {quick:?}");
        };
        assert!(q.window < i.window, "--quick shortens the idle window");
    }

    #[test]
    fn java_perf_cells_are_the_throughput_matrix_with_modest_counts() {
        let cells = |args: &[&str]| -> Vec<JavaPerfSpec> {
            plan_for(args)
                .into_iter()
                .map(|s| match s {
                    Scenario::JavaPerf(j) => j,
                    other => panic!("only java-perf was asked for, got {other:?}"),
                })
                .collect()
        };
        let full = cells(&["--only", "java-perf"]);
        assert_eq!(full.len(), 8, "2 sizes x 2 partition counts x 2 acks");
        for record_bytes in THROUGHPUT_RECORD_BYTES {
            for partitions in THROUGHPUT_PARTITIONS {
                for acks in [Acks::One, Acks::All] {
                    assert!(
                        full.iter().any(|j| (j.record_bytes, j.partitions, j.acks)
                            == (record_bytes, partitions, acks)),
                        "cell {record_bytes} B x {partitions} x {acks:?} is missing"
                    );
                }
            }
        }
        for cell in &full {
            let bytes = cell.record_count * cell.record_bytes as u64;
            assert!(
                (10_000_000..=200_000_000).contains(&bytes),
                "a cell should move tens of MB, not {bytes} B: {cell:?}"
            );
            assert!(cell.tool_timeout > Duration::from_secs(60));
        }
        let quick = cells(&["--only", "java-perf", "--quick"]);
        for (f, q) in full.iter().zip(&quick) {
            assert_eq!(
                f.record_count,
                q.record_count * 10,
                "--quick divides by ten"
            );
        }
        assert!(cells(&["--only", "java-perf", "--records", "500"])
            .iter()
            .all(|j| j.record_count == 500));
        assert!(
            full.iter()
                .all(|j| !Scenario::JavaPerf(j.clone()).needs_ironlog_process()
                    && Scenario::JavaPerf(j.clone()).needs_java()),
            "the perf-tool cells run against the Kafka peer too, and need Java"
        );
    }

    #[test]
    fn security_is_asked_for_by_name_with_two_acks_all_cells() {
        assert!(
            !plan_for(&["--spawn"])
                .iter()
                .any(|s| matches!(s, Scenario::Security(_))),
            "the security rows start a broker of their own: not in the default set"
        );
        let scenarios = plan_for(&["--spawn", "--only", "security"]);
        let [Scenario::Security(s)] = scenarios.as_slice() else {
            panic!("expected one security scenario, got {scenarios:?}");
        };
        let cells: Vec<(usize, i32, Acks)> = s
            .throughput
            .iter()
            .map(|t| (t.record_bytes, t.partitions, t.acks))
            .collect();
        assert_eq!(cells, vec![(1024, 1, Acks::All), (100, 8, Acks::All)]);
        assert_eq!(s.connect_duration, Duration::from_secs(10));
        assert_eq!(s.connect_workers, vec![1, 4]);
        assert!(Scenario::Security(s.clone()).needs_ironlog_process());
        let quick = plan_for(&["--spawn", "--only", "security", "--quick"]);
        let [Scenario::Security(q)] = quick.as_slice() else {
            panic!("expected one security scenario, got {quick:?}");
        };
        assert!(q.connect_duration < s.connect_duration);
        assert_eq!(
            q.throughput[0].record_count * 10,
            s.throughput[0].record_count,
            "--quick divides the counts by ten"
        );
    }

    #[test]
    fn compaction_settle_window_defaults_to_kafka_backoff() {
        let scenarios = plan_for(&["--only", "compaction"]);
        let [Scenario::Compaction(c)] = scenarios.as_slice() else {
            panic!("expected one compaction scenario, got {scenarios:?}");
        };
        assert_eq!(c.settle_quiet, Duration::from_millis(17_000));
    }

    #[test]
    fn latency_measure_window_is_bounded_by_run_seconds_max() {
        let scenarios = plan_for(&["--only", "latency", "--run-seconds-max", "2"]);
        let [Scenario::Latency(l)] = scenarios.as_slice() else {
            panic!("expected exactly one latency scenario, got {scenarios:?}");
        };
        assert_eq!(l.measure, Duration::from_secs(2));
    }
}
