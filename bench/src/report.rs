//! Markdown rendering of a bench run, paste-able into docs/benchmarks.md.
//!
//! Units: MB = 10^6 bytes, GB = 10^9 bytes (record value bytes, no framing), ms for latency.

use std::fmt::Write;
use std::time::Duration;

use crate::cluster::{self, ClusterOutcome, Outage};
use crate::compaction::CompactionResult;
use crate::group_rebalance::GroupRebalanceResult;
use crate::idempotence::{IdempotenceResult, ProduceRun};
use crate::idle_partitions::IdlePartitionsResult;
use crate::java_perf::{self, JavaPerfResult};
use crate::latency::LatencyResult;
use crate::metrics_scrape::MetricsScrapeResult;
use crate::offset_commit::{CommitRate, OffsetCommitResult};
use crate::partition_scale::PartitionScaleResult;
use crate::scenario::{ClusterSpec, JavaPerfSpec, Scenario, ThroughputSpec};
use crate::security::{ConnectRow, SecurityResult, ThroughputRow};
use crate::throughput::ThroughputResult;
use crate::transactions::TransactionsResult;

/// Targets from docs/benchmarks.md.
pub(crate) const TARGET_CPU_S_PER_GB_MAX: f64 = 1.0;
pub(crate) const TARGET_P99_US_MAX: u64 = 5_000;
pub(crate) const TARGET_IDLE_RSS_BYTES_MAX: u64 = 200_000_000;

const ERROR_CELL_CHARS_MAX: usize = 160;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Throughput(ThroughputResult),
    Latency(LatencyResult),
    IdlePartitions(IdlePartitionsResult),
    PartitionScale(PartitionScaleResult),
    GroupRebalance(GroupRebalanceResult),
    OffsetCommit(OffsetCommitResult),
    Compaction(CompactionResult),
    Idempotence(IdempotenceResult),
    MetricsScrape(MetricsScrapeResult),
    Transactions(TransactionsResult),
    JavaPerf(JavaPerfResult),
    Cluster(ClusterOutcome),
    Security(SecurityResult),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScenarioReport {
    pub(crate) scenario: Scenario,
    /// `Err` holds why the scenario could not run.
    pub(crate) outcome: Result<Outcome, String>,
}

/// Context printed above the tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunInfo {
    pub(crate) command_line: String,
    pub(crate) broker: String,
    pub(crate) machine: String,
    pub(crate) quick: bool,
}

/// `cargo run --release -p ironlog-bench -- ARGS`, shell-quoted.
pub(crate) fn command_line(args: &[String]) -> String {
    let mut line = String::from("cargo run --release -p ironlog-bench --");
    for arg in args {
        line.push(' ');
        let plain = !arg.is_empty()
            && arg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@[]".contains(c));
        if plain {
            line.push_str(arg);
        } else {
            line.push('\'');
            line.push_str(&arg.replace('\'', r"'\''"));
            line.push('\'');
        }
    }
    line
}

fn per_second(amount: f64, elapsed: Duration) -> Option<f64> {
    let seconds = elapsed.as_secs_f64();
    (seconds > 0.0).then(|| amount / seconds)
}

fn cell(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "n/a".to_string(), |v| format!("{v:.decimals$}"))
}

fn error_cell(error: &str) -> String {
    let flat: String = error
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .take(ERROR_CELL_CHARS_MAX)
        .collect();
    format!("failed: {}", flat.replace('|', "\\|"))
}

fn megabytes(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// Broker CPU seconds per GB of record values produced.
pub(crate) fn cpu_s_per_gb(spec: &ThroughputSpec, result: &ThroughputResult) -> Option<f64> {
    let gigabytes = (result.produced_records as f64 * spec.record_bytes as f64) / 1e9;
    let cpu = result.broker_cpu_s?;
    (gigabytes > 0.0).then(|| cpu / gigabytes)
}

fn throughput_section(out: &mut String, reports: &[ScenarioReport]) {
    let _ = writeln!(out, "### Produce and consume throughput\n");
    let _ = writeln!(
        out,
        "Batched producer: linger.ms=5, batch.size=1000000, compression none, no idempotence. \
         Consumer: one, assigned to all partitions, from the beginning.\n"
    );
    let _ = writeln!(
        out,
        "| record | partitions | acks | records produced | produce MB/s | produce msgs/s | consume MB/s | consume msgs/s | broker CPU s/GB |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for report in reports {
        let Scenario::Throughput(spec) = &report.scenario else {
            continue;
        };
        let head = format!(
            "| {} B | {} | {} |",
            spec.record_bytes,
            spec.partitions,
            spec.acks.config_value()
        );
        match &report.outcome {
            Ok(Outcome::Throughput(r)) => {
                let produced_bytes = r.produced_records as f64 * spec.record_bytes as f64;
                let mut records = format!("{} / {}", r.produced_records, spec.record_count);
                if r.produce_failed > 0 {
                    let _ = write!(records, " ({} failed)", r.produce_failed);
                }
                let consume = match &r.consume_error {
                    Some(error) => format!("{} | {}", error_cell(error), r.consumed_records),
                    None => format!(
                        "{} | {}",
                        cell(
                            per_second(megabytes(r.consumed_bytes), r.consume_elapsed),
                            1
                        ),
                        cell(per_second(r.consumed_records as f64, r.consume_elapsed), 0)
                    ),
                };
                let _ = writeln!(
                    out,
                    "{head} {records} | {} | {} | {consume} | {} |",
                    cell(per_second(produced_bytes / 1e6, r.produce_elapsed), 1),
                    cell(per_second(r.produced_records as f64, r.produce_elapsed), 0),
                    cell(cpu_s_per_gb(spec, r), 2),
                );
            }
            Ok(_) => {}
            Err(error) => {
                let _ = writeln!(out, "{head} {} | | | | | |", error_cell(error));
            }
        }
    }
    out.push('\n');
}

fn latency_section(out: &mut String, reports: &[ScenarioReport]) {
    let _ = writeln!(out, "### Produce latency\n");
    let _ = writeln!(
        out,
        "Per record from send to delivery report; linger.ms=0, one partition, after a warm-up.\n"
    );
    let _ = writeln!(
        out,
        "| record | acks | target msgs/s | achieved msgs/s | samples | p50 ms | p99 ms | max ms | failed |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for report in reports {
        let Scenario::Latency(spec) = &report.scenario else {
            continue;
        };
        let head = format!(
            "| {} B | {} | {} |",
            spec.record_bytes,
            spec.acks.config_value(),
            spec.rate_per_s
        );
        match &report.outcome {
            Ok(Outcome::Latency(r)) => {
                let ms = |us: u64| us as f64 / 1e3;
                let (samples, p50, p99, max) = match r.summary {
                    Some(s) => (
                        s.samples.to_string(),
                        format!("{:.2}", ms(s.p50_us)),
                        format!("{:.2}", ms(s.p99_us)),
                        format!("{:.2}", ms(s.max_us)),
                    ),
                    None => ("0".into(), "n/a".into(), "n/a".into(), "n/a".into()),
                };
                let _ = writeln!(
                    out,
                    "{head} {} | {samples} | {p50} | {p99} | {max} | {} |",
                    cell(per_second(r.sent as f64, r.window), 0),
                    r.failed
                );
            }
            Ok(_) => {}
            Err(error) => {
                let _ = writeln!(out, "{head} {} | | | | | |", error_cell(error));
            }
        }
    }
    out.push('\n');
}

fn memory_section(out: &mut String, reports: &[ScenarioReport], peak_rss_bytes: Option<u64>) {
    let _ = writeln!(out, "### Broker memory\n");
    let _ = writeln!(out, "| measurement | value |");
    let _ = writeln!(out, "|---|---|");
    let mb = |bytes: Option<u64>| {
        bytes.map_or_else(
            || "n/a (broker pid unknown)".to_string(),
            |b| format!("{:.1} MB", megabytes(b)),
        )
    };
    for report in reports {
        let Scenario::IdlePartitions(spec) = &report.scenario else {
            continue;
        };
        let what = format!(
            "{} partitions ({} topics x {})",
            spec.partitions_total(),
            spec.topics,
            spec.partitions_per_topic
        );
        match &report.outcome {
            Ok(Outcome::IdlePartitions(r)) => {
                let _ = writeln!(
                    out,
                    "| RSS before creating partitions | {} |",
                    mb(r.rss_before_bytes)
                );
                let _ = writeln!(
                    out,
                    "| idle RSS, {what}, {} s after creation | {} |",
                    spec.settle.as_secs(),
                    mb(r.rss_idle_bytes)
                );
                let _ = writeln!(
                    out,
                    "| time to create {what} until all have leaders | {:.2} s |",
                    r.create_elapsed.as_secs_f64()
                );
            }
            Ok(_) => {}
            Err(error) => {
                let _ = writeln!(out, "| idle RSS, {what} | {} |", error_cell(error));
            }
        }
    }
    let _ = writeln!(
        out,
        "| peak RSS (VmHWM) over the whole run | {} |",
        mb(peak_rss_bytes)
    );
    out.push('\n');
}

fn seconds(elapsed: Duration) -> String {
    format!("{:.2}", elapsed.as_secs_f64())
}

fn group_rebalance_section(out: &mut String, reports: &[ScenarioReport]) {
    let _ = writeln!(
        out,
        "### Consumer group rebalance
"
    );
    let _ = writeln!(
        out,
        "librdkafka consumers, classic protocol, range assignor, one record per partition; \
         timed from the first subscribe. Settle = one consumer closes (LeaveGroup) until the \
         others own every partition again.\n"
    );
    let _ = writeln!(
        out,
        "| consumers | partitions | all partitions assigned s | + every consumer received a record s | settle after one leaves s |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for report in reports {
        let Scenario::GroupRebalance(spec) = &report.scenario else {
            continue;
        };
        let head = format!("| {} | {} |", spec.consumers, spec.partitions);
        match &report.outcome {
            Ok(Outcome::GroupRebalance(r)) => {
                let _ = writeln!(
                    out,
                    "{head} {} | {} | {} |",
                    seconds(r.all_assigned),
                    seconds(r.all_received),
                    seconds(r.settle_after_leave)
                );
            }
            Ok(_) => {}
            Err(error) => {
                let _ = writeln!(out, "{head} {} | | |", error_cell(error));
            }
        }
    }
    out.push('\n');
}

fn commit_row(out: &mut String, head: &str, mode: &str, rate: &CommitRate) {
    let note = rate
        .first_error
        .as_deref()
        .map_or_else(String::new, error_cell);
    let _ = writeln!(
        out,
        "{head} {mode} | {} | {} | {} | {note} |",
        rate.committed,
        rate.failed,
        cell(per_second(rate.committed as f64, rate.elapsed), 0),
    );
}

fn offset_commit_section(out: &mut String, reports: &[ScenarioReport]) {
    let _ = writeln!(
        out,
        "### Offset commits
"
    );
    let _ = writeln!(
        out,
        "One group member (classic protocol) commits a new offset for each of its partitions \
         per commit with `commit_consumer_state`; sync waits for each commit; async issues \
         100 asynchronous commits, then one synchronous commit that waits for all of them. \
         The committed offsets are read back at the end.\n"
    );
    let _ = writeln!(
        out,
        "| partitions | mode | commits acknowledged | failed | commits/s | note |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for report in reports {
        let Scenario::OffsetCommit(spec) = &report.scenario else {
            continue;
        };
        let head = format!("| {} |", spec.partitions);
        match &report.outcome {
            Ok(Outcome::OffsetCommit(r)) => {
                commit_row(out, &head, "sync", &r.sync);
                commit_row(out, &head, "async", &r.async_);
            }
            Ok(_) => {}
            Err(error) => {
                let _ = writeln!(out, "{head} {} | | | | |", error_cell(error));
            }
        }
    }
    out.push('\n');
}

fn compaction_section(out: &mut String, reports: &[ScenarioReport]) {
    let _ = writeln!(
        out,
        "### Log compaction
"
    );
    let _ = writeln!(
        out,
        "One partition, cleanup.policy=compact, segment.bytes=1 MiB, \
         min.cleanable.dirty.ratio=0.01; produced with min.compaction.lag.ms=1 h, then \
         lowered to 0. Cleaning time = that config change until the partition's `.log` bytes \
         stop changing (includes config propagation and the cleaner's back-off).\n"
    );
    let _ = writeln!(
        out,
        "| produced MB (keys + values) | records | keys | segments before MB | after MB | cleaning s | MB removed/s | segment MB processed/s |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for report in reports {
        let Scenario::Compaction(spec) = &report.scenario else {
            continue;
        };
        match &report.outcome {
            Ok(Outcome::Compaction(r)) => {
                let _ = writeln!(
                    out,
                    "| {:.1} | {} | {} | {:.1} | {:.1} | {} | {} | {} |",
                    megabytes(r.produced_bytes),
                    r.produced_records,
                    spec.distinct_keys,
                    megabytes(r.log_bytes_before),
                    megabytes(r.log_bytes_after),
                    seconds(r.clean_elapsed),
                    cell(per_second(megabytes(r.removed_bytes()), r.clean_elapsed), 1),
                    cell(
                        per_second(megabytes(r.log_bytes_before), r.clean_elapsed),
                        1
                    ),
                );
            }
            Ok(_) => {}
            Err(error) => {
                let _ = writeln!(
                    out,
                    "| {} | | {} | | | | | |",
                    error_cell(error),
                    spec.distinct_keys
                );
            }
        }
    }
    out.push('\n');
}

fn produce_run_row(out: &mut String, idempotence: &str, record_bytes: usize, run: &ProduceRun) {
    let bytes = run.delivered as f64 * record_bytes as f64;
    let cpu_per_gb = run
        .broker_cpu_s
        .and_then(|cpu| (bytes > 0.0).then(|| cpu / (bytes / 1e9)));
    let note = run
        .first_error
        .as_deref()
        .map_or_else(String::new, error_cell);
    let _ = writeln!(
        out,
        "| {idempotence} | {} | {} | {} | {} | {} | {note} |",
        run.delivered,
        run.failed,
        cell(per_second(bytes / 1e6, run.elapsed), 1),
        cell(run.records_per_s(), 0),
        cell(cpu_per_gb, 2),
    );
}

fn idempotence_section(out: &mut String, reports: &[ScenarioReport]) {
    let _ = writeln!(
        out,
        "### Idempotent produce overhead
"
    );
    for report in reports {
        let Scenario::Idempotence(spec) = &report.scenario else {
            continue;
        };
        let p = &spec.produce;
        let _ = writeln!(
            out,
            "{} x {} B to {} partition(s), acks=all, batched as in the throughput runs; \
             plain first, then idempotent, each on a new topic, each after sync and a warm-up.\n",
            p.record_count, p.record_bytes, p.partitions
        );
        let _ = writeln!(
            out,
            "| enable.idempotence | records delivered | failed | produce MB/s | produce msgs/s | broker CPU s/GB | note |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|");
        match &report.outcome {
            Ok(Outcome::Idempotence(r)) => {
                produce_run_row(out, "false", p.record_bytes, &r.plain);
                produce_run_row(out, "true", p.record_bytes, &r.idempotent);
                let _ = writeln!(
                    out,
                    "\nIdempotent / plain msgs/s: **{}**\n",
                    cell(r.ratio(), 2)
                );
            }
            Ok(_) => {}
            Err(error) => {
                let _ = writeln!(out, "| {} | | | | | | |\n", error_cell(error));
            }
        }
    }
}

/// Scraped / unscraped throughput should stay at or above this (issue 12's goal).
const SCRAPE_RATIO_GOAL_MIN: f64 = 0.97;

fn metrics_scrape_section(out: &mut String, reports: &[ScenarioReport]) {
    let _ = writeln!(
        out,
        "### Cost of scraping /metrics
"
    );
    for report in reports {
        let Scenario::MetricsScrape(spec) = &report.scenario else {
            continue;
        };
        let p = &spec.produce;
        let _ = writeln!(
            out,
            "{} x {} B to {} partitions, acks={}, batched as in the throughput runs; first \
             unscraped, then with `GET /metrics` on the admin listener every {} ms, each on a \
             new topic, each after sync and a warm-up.\n",
            p.record_count,
            p.record_bytes,
            p.partitions,
            p.acks.config_value(),
            spec.scrape_interval.as_millis()
        );
        let _ = writeln!(
            out,
            "| /metrics | records delivered | failed | produce MB/s | produce msgs/s | broker CPU s/GB | note |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|");
        match &report.outcome {
            Ok(Outcome::MetricsScrape(r)) => {
                produce_run_row(out, "not scraped", p.record_bytes, &r.quiet);
                produce_run_row(out, "scraped", p.record_bytes, &r.scraped);
                let s = &r.scrape;
                let _ = writeln!(
                    out,
                    "\nScraped / unscraped msgs/s: **{}** (goal >= {SCRAPE_RATIO_GOAL_MIN}). \
                     Scrapes: {} ({} failed{}), mean {} ms, max {} ms, largest {:.1} KB.\n",
                    cell(r.ratio(), 3),
                    s.scrapes,
                    s.failures,
                    s.first_error
                        .as_deref()
                        .map_or_else(String::new, |e| format!(": {}", error_cell(e))),
                    cell(s.mean().map(|d| d.as_secs_f64() * 1e3), 1),
                    cell(Some(s.max.as_secs_f64() * 1e3), 1),
                    s.max_bytes as f64 / 1e3,
                );
            }
            Ok(_) => {}
            Err(error) => {
                let _ = writeln!(out, "| {} | | | | | | |\n", error_cell(error));
            }
        }
    }
}

fn partition_scale_section(out: &mut String, reports: &[ScenarioReport]) {
    let _ = writeln!(out, "### Many partitions under an open-files limit\n");
    let _ = writeln!(
        out,
        "A broker of its own per row, `RLIMIT_NOFILE` soft = hard = the limit shown; \
         topics of 100 partitions created through the admin API (time until every partition \
         is led and its log exists on disk), idle, SIGTERM, started again on the same data \
         dir, then one record (acks=all) to each sampled partition. Descriptors = entries of \
         `/proc/<pid>/fd`; /metrics = one `GET /metrics` on the admin listener while idle.\n"
    );
    let _ = writeln!(
        out,
        "| partitions | open-files limit | create s | descriptors idle | idle RSS | /metrics scrape ms | /metrics size | clean shutdown s | restart s (started) | restart s (all led) | descriptors after restart | RSS after restart | produce to sample s | descriptors after produce |"
    );
    let _ = writeln!(
        out,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for report in reports {
        let Scenario::PartitionScale(spec) = &report.scenario else {
            continue;
        };
        let head = format!("| {} |", spec.partitions_total());
        match &report.outcome {
            Ok(Outcome::PartitionScale(r)) => {
                let _ = writeln!(
                    out,
                    "{head} {} | {} | {} | {:.1} MB | {:.1} | {:.1} MB | {} | {} | {} | {} | {:.1} MB | {} ({} partitions) | {} |",
                    r.open_files_limit,
                    seconds(r.create_elapsed),
                    r.fds_idle,
                    megabytes(r.rss_idle_bytes),
                    r.metrics_scrape.elapsed.as_secs_f64() * 1e3,
                    megabytes(r.metrics_scrape.bytes),
                    seconds(r.shutdown_elapsed),
                    seconds(r.restart_elapsed),
                    seconds(r.restart_ready_elapsed),
                    r.fds_after_restart,
                    megabytes(r.rss_after_restart_bytes),
                    seconds(r.sample_produce_elapsed),
                    r.sample_partitions,
                    r.fds_after_sample,
                );
            }
            Ok(_) => {}
            Err(error) => {
                let _ = writeln!(
                    out,
                    "{head} {} | {} | | | | | | | | | | | |",
                    spec.open_files_limit,
                    error_cell(error)
                );
            }
        }
    }
    out.push('\n');
}

fn transactions_section(out: &mut String, reports: &[ScenarioReport]) {
    let _ = writeln!(
        out,
        "### Transactional produce
"
    );
    let _ = writeln!(
        out,
        "One transactional producer: begin, send N records, commit (synchronously), repeated.\n"
    );
    let _ = writeln!(
        out,
        "| record | records per transaction | transactions committed | records | transactions/s | msgs/s | MB/s |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for report in reports {
        let Scenario::Transactions(spec) = &report.scenario else {
            continue;
        };
        let head = format!(
            "| {} B | {} |",
            spec.record_bytes, spec.records_per_transaction
        );
        match &report.outcome {
            Ok(Outcome::Transactions(r)) => {
                let _ = writeln!(
                    out,
                    "{head} {} / {} | {} | {} | {} | {} |",
                    r.committed_transactions,
                    spec.transactions,
                    r.committed_records,
                    cell(per_second(r.committed_transactions as f64, r.elapsed), 1),
                    cell(per_second(r.committed_records as f64, r.elapsed), 0),
                    cell(
                        per_second(
                            megabytes(r.committed_records * spec.record_bytes as u64),
                            r.elapsed
                        ),
                        1
                    ),
                );
            }
            Ok(_) => {}
            Err(error) => {
                let _ = writeln!(out, "{head} {} | | | | |", error_cell(error));
            }
        }
    }
    out.push('\n');
}

/// ProducerPerformance's rate in MB (10^6 bytes) per second: its records/sec times the
/// record size (its own MB/sec is 2^20 bytes and rounded to two decimals).
fn java_produce_mb_per_s(spec: &JavaPerfSpec, result: &JavaPerfResult) -> f64 {
    result.producer.records_per_s * spec.record_bytes as f64 / 1e6
}

/// Broker CPU seconds per GB of record values ProducerPerformance had acknowledged.
fn java_cpu_s_per_gb(spec: &JavaPerfSpec, result: &JavaPerfResult) -> Option<f64> {
    let gigabytes = result.producer.records_sent as f64 * spec.record_bytes as f64 / 1e9;
    let cpu = result.broker_cpu_s?;
    (gigabytes > 0.0).then(|| cpu / gigabytes)
}

fn java_perf_section(out: &mut String, reports: &[ScenarioReport]) {
    let _ = writeln!(
        out,
        "### Kafka's perf tools as clients (ProducerPerformance / ConsumerPerformance)\n"
    );
    let _ = writeln!(
        out,
        "kafka-tools 4.1.1 by main class, {heap} heap as their scripts give them, the tools' \
         client defaults (batch.size 16384, linger.ms 5) and `--throughput -1`; then \
         ConsumerPerformance reads the records back in a group of its own. Latency is \
         ProducerPerformance's, send to acknowledgement. Whole-run consume MB/s includes the \
         group join (rebalance ms); fetch MB/s excludes it. MB = 10^6 bytes (the tools \
         print 2^20-byte MB; converted).\n",
        heap = java_perf::TOOL_HEAP
    );
    let _ = writeln!(
        out,
        "| record | partitions | acks | records sent | produce MB/s | produce msgs/s | avg ms | p50 ms | p95 ms | p99 ms | p99.9 ms | max ms | consume MB/s (whole run) | consume fetch MB/s | fetch msgs/s | rebalance ms | broker CPU s/GB |"
    );
    let _ = writeln!(
        out,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for report in reports {
        let Scenario::JavaPerf(spec) = &report.scenario else {
            continue;
        };
        let head = format!(
            "| {} B | {} | {} |",
            spec.record_bytes,
            spec.partitions,
            spec.acks.config_value()
        );
        match &report.outcome {
            Ok(Outcome::JavaPerf(r)) => {
                let p = &r.producer;
                let consume = match &r.consumer {
                    Ok(c) => format!(
                        "{:.1} | {:.1} | {:.0} | {}",
                        java_perf::mb_from_tool_mb(c.mib_per_s),
                        java_perf::mb_from_tool_mb(c.fetch_mib_per_s),
                        c.fetch_records_per_s,
                        c.rebalance_ms
                    ),
                    Err(error) => format!("{} | | |", error_cell(error)),
                };
                let _ = writeln!(
                    out,
                    "{head} {} / {} | {:.1} | {:.0} | {:.2} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {consume} | {} |",
                    p.records_sent,
                    spec.record_count,
                    java_produce_mb_per_s(spec, r),
                    p.records_per_s,
                    p.latency_avg_ms,
                    p.latency_p50_ms,
                    p.latency_p95_ms,
                    p.latency_p99_ms,
                    p.latency_p999_ms,
                    p.latency_max_ms,
                    cell(java_cpu_s_per_gb(spec, r), 2),
                );
            }
            Ok(_) => {}
            Err(error) => {
                let _ = writeln!(
                    out,
                    "{head} {} | | | | | | | | | | | | | |",
                    error_cell(error)
                );
            }
        }
    }
    out.push('\n');
}

fn cell_with_unit(value: Option<f64>, decimals: usize, unit: &str) -> String {
    value.map_or_else(|| "n/a".to_string(), |v| format!("{v:.decimals$} {unit}"))
}

fn verdict(measured: Option<f64>, limit: f64) -> &'static str {
    match measured {
        None => "not measured",
        Some(value) if value <= limit => "met",
        Some(_) => "missed",
    }
}

fn targets_section(out: &mut String, reports: &[ScenarioReport]) {
    // Worst (highest) CPU cost over the 1 KiB batched runs.
    let cpu_worst = reports
        .iter()
        .filter_map(|report| match (&report.scenario, &report.outcome) {
            (Scenario::Throughput(spec), Ok(Outcome::Throughput(r)))
                if spec.record_bytes == 1024 =>
            {
                cpu_s_per_gb(spec, r)
            }
            _ => None,
        })
        .reduce(f64::max);
    let p99_worst_ms = reports
        .iter()
        .filter_map(|report| match &report.outcome {
            Ok(Outcome::Latency(r)) => r.summary.map(|s| s.p99_us as f64 / 1e3),
            _ => None,
        })
        .reduce(f64::max);
    let idle_rss_mb = reports
        .iter()
        .filter_map(|report| match &report.outcome {
            Ok(Outcome::IdlePartitions(r)) => r.rss_idle_bytes.map(megabytes),
            _ => None,
        })
        .reduce(f64::max);
    let _ = writeln!(out, "### Targets\n");
    let _ = writeln!(out, "| target | measured (worst case) | verdict |");
    let _ = writeln!(out, "|---|---|---|");
    let _ = writeln!(
        out,
        "| broker CPU <= {TARGET_CPU_S_PER_GB_MAX} core-second per GB (1 KiB, batched) | {} | {} |",
        cell_with_unit(cpu_worst, 2, "s/GB"),
        verdict(cpu_worst, TARGET_CPU_S_PER_GB_MAX)
    );
    let _ = writeln!(
        out,
        "| produce p99 <= {} ms at 10k msgs/s | {} | {} |",
        TARGET_P99_US_MAX / 1_000,
        cell_with_unit(p99_worst_ms, 2, "ms"),
        verdict(p99_worst_ms, TARGET_P99_US_MAX as f64 / 1e3)
    );
    let _ = writeln!(
        out,
        "| idle RSS <= {} MB with 1,000 partitions | {} | {} |",
        TARGET_IDLE_RSS_BYTES_MAX / 1_000_000,
        cell_with_unit(idle_rss_mb, 1, "MB"),
        verdict(idle_rss_mb, megabytes(TARGET_IDLE_RSS_BYTES_MAX))
    );
}

/// One broker's run, for the side-by-side comparison.
#[derive(Debug, Clone)]
pub(crate) struct BrokerRun<'a> {
    pub(crate) reports: &'a [ScenarioReport],
    /// Exec until the client listener accepted connections.
    pub(crate) startup: Option<Duration>,
    pub(crate) peak_rss_bytes: Option<u64>,
}

/// One compared figure: Ironlog's, the peer's, and whether more is better.
struct Compared {
    what: String,
    unit: &'static str,
    ironlog: Option<f64>,
    peer: Option<f64>,
    higher_is_better: bool,
}

/// The figures both runs measured, row by row (matched by scenario spec).
fn compared_figures(ironlog: &BrokerRun<'_>, peer: &BrokerRun<'_>) -> Vec<Compared> {
    let mut rows = Vec::new();
    let find = |reports: &[ScenarioReport], scenario: &Scenario| -> Option<Outcome> {
        reports
            .iter()
            .find(|r| &r.scenario == scenario)
            .and_then(|r| r.outcome.as_ref().ok().cloned())
    };
    for report in ironlog.reports {
        let theirs = find(peer.reports, &report.scenario);
        match (
            &report.scenario,
            report.outcome.as_ref().ok(),
            theirs.as_ref(),
        ) {
            (Scenario::Throughput(spec), mine, theirs) => {
                let of = |o: Option<&Outcome>| match o {
                    Some(Outcome::Throughput(r)) => Some(r.clone()),
                    _ => None,
                };
                let (mine, theirs) = (of(mine), of(theirs));
                let cell = format!(
                    "{} B x {} partition(s), acks={}",
                    spec.record_bytes,
                    spec.partitions,
                    spec.acks.config_value()
                );
                let produce = |r: &ThroughputResult| {
                    per_second(
                        r.produced_records as f64 * spec.record_bytes as f64 / 1e6,
                        r.produce_elapsed,
                    )
                };
                let consume = |r: &ThroughputResult| {
                    per_second(megabytes(r.consumed_bytes), r.consume_elapsed)
                };
                rows.push(Compared {
                    what: format!("produce, {cell}"),
                    unit: "MB/s",
                    ironlog: mine.as_ref().and_then(produce),
                    peer: theirs.as_ref().and_then(produce),
                    higher_is_better: true,
                });
                rows.push(Compared {
                    what: format!("consume, {cell}"),
                    unit: "MB/s",
                    ironlog: mine.as_ref().and_then(consume),
                    peer: theirs.as_ref().and_then(consume),
                    higher_is_better: true,
                });
                rows.push(Compared {
                    what: format!("broker CPU per GB produced, {cell}"),
                    unit: "s/GB",
                    ironlog: mine.as_ref().and_then(|r| cpu_s_per_gb(spec, r)),
                    peer: theirs.as_ref().and_then(|r| cpu_s_per_gb(spec, r)),
                    higher_is_better: false,
                });
            }
            (Scenario::Latency(spec), mine, theirs) => {
                let p99 = |o: Option<&Outcome>| match o {
                    Some(Outcome::Latency(r)) => r.summary.map(|s| s.p99_us as f64 / 1e3),
                    _ => None,
                };
                rows.push(Compared {
                    what: format!(
                        "produce p99 at {} msgs/s, {} B, acks={}",
                        spec.rate_per_s,
                        spec.record_bytes,
                        spec.acks.config_value()
                    ),
                    unit: "ms",
                    ironlog: p99(mine),
                    peer: p99(theirs),
                    higher_is_better: false,
                });
            }
            (Scenario::JavaPerf(spec), mine, theirs) => {
                let of = |o: Option<&Outcome>| match o {
                    Some(Outcome::JavaPerf(r)) => Some(r.clone()),
                    _ => None,
                };
                let (mine, theirs) = (of(mine), of(theirs));
                let cell = format!(
                    "{} B x {} partition(s), acks={}",
                    spec.record_bytes,
                    spec.partitions,
                    spec.acks.config_value()
                );
                let consumer = |r: &JavaPerfResult, pick: fn(&java_perf::ConsumerStats) -> f64| {
                    r.consumer
                        .as_ref()
                        .ok()
                        .map(|c| java_perf::mb_from_tool_mb(pick(c)))
                };
                rows.push(Compared {
                    what: format!("ProducerPerformance, {cell}"),
                    unit: "MB/s",
                    ironlog: mine.as_ref().map(|r| java_produce_mb_per_s(spec, r)),
                    peer: theirs.as_ref().map(|r| java_produce_mb_per_s(spec, r)),
                    higher_is_better: true,
                });
                rows.push(Compared {
                    what: format!("ProducerPerformance p99, {cell}"),
                    unit: "ms",
                    ironlog: mine.as_ref().map(|r| r.producer.latency_p99_ms),
                    peer: theirs.as_ref().map(|r| r.producer.latency_p99_ms),
                    higher_is_better: false,
                });
                rows.push(Compared {
                    what: format!("ConsumerPerformance fetch, {cell}"),
                    unit: "MB/s",
                    ironlog: mine
                        .as_ref()
                        .and_then(|r| consumer(r, |c| c.fetch_mib_per_s)),
                    peer: theirs
                        .as_ref()
                        .and_then(|r| consumer(r, |c| c.fetch_mib_per_s)),
                    higher_is_better: true,
                });
                rows.push(Compared {
                    what: format!("ConsumerPerformance whole run (group join included), {cell}"),
                    unit: "MB/s",
                    ironlog: mine.as_ref().and_then(|r| consumer(r, |c| c.mib_per_s)),
                    peer: theirs.as_ref().and_then(|r| consumer(r, |c| c.mib_per_s)),
                    higher_is_better: true,
                });
            }
            (Scenario::Cluster(ClusterSpec::Produce(spec)), mine, theirs) => {
                let row = |o: Option<&Outcome>, rf: i32| match o {
                    Some(Outcome::Cluster(ClusterOutcome::Produce(rows))) => {
                        rows.iter().find(|r| r.replication_factor == rf).cloned()
                    }
                    _ => None,
                };
                let produce = |r: &cluster::ProduceRow| {
                    r.throughput.as_ref().ok().and_then(|t| {
                        per_second(
                            t.produced_records as f64 * spec.throughput.record_bytes as f64 / 1e6,
                            t.produce_elapsed,
                        )
                    })
                };
                let p99 = |r: &cluster::ProduceRow| {
                    r.latency
                        .as_ref()
                        .ok()
                        .and_then(|l| l.summary.map(|s| s.p99_us as f64 / 1e3))
                };
                for &rf in &spec.replication_factors {
                    let (mine, theirs) = (row(mine, rf), row(theirs, rf));
                    rows.push(Compared {
                        what: format!(
                            "3 nodes, RF {rf}: produce acks=all, {} B x {} partition(s)",
                            spec.throughput.record_bytes, spec.throughput.partitions
                        ),
                        unit: "MB/s",
                        ironlog: mine.as_ref().and_then(produce),
                        peer: theirs.as_ref().and_then(produce),
                        higher_is_better: true,
                    });
                    rows.push(Compared {
                        what: format!(
                            "3 nodes, RF {rf}: produce p99 at {} msgs/s, {} B, acks=all",
                            spec.latency.rate_per_s, spec.latency.record_bytes
                        ),
                        unit: "ms",
                        ironlog: mine.as_ref().and_then(p99),
                        peer: theirs.as_ref().and_then(p99),
                        higher_is_better: false,
                    });
                }
            }
            (Scenario::IdlePartitions(spec), mine, theirs) => {
                let rss = |o: Option<&Outcome>| match o {
                    Some(Outcome::IdlePartitions(r)) => r.rss_idle_bytes.map(megabytes),
                    _ => None,
                };
                rows.push(Compared {
                    what: format!("idle RSS with {} partitions", spec.partitions_total()),
                    unit: "MB",
                    ironlog: rss(mine),
                    peer: rss(theirs),
                    higher_is_better: false,
                });
            }
            _ => {}
        }
    }
    rows.push(Compared {
        what: "start-up (exec until the client listener accepts)".to_string(),
        unit: "s",
        ironlog: ironlog.startup.map(|d| d.as_secs_f64()),
        peer: peer.startup.map(|d| d.as_secs_f64()),
        higher_is_better: false,
    });
    rows.push(Compared {
        what: "peak RSS over the whole run".to_string(),
        unit: "MB",
        ironlog: ironlog.peak_rss_bytes.map(megabytes),
        peer: peer.peak_rss_bytes.map(megabytes),
        higher_is_better: false,
    });
    rows
}

/// Ironlog beside Apache Kafka, figure by figure, with the ratio (> 1 = Ironlog ahead).
pub(crate) fn render_side_by_side(ironlog: &BrokerRun<'_>, peer: &BrokerRun<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Ironlog beside Apache Kafka 4.1
"
    );
    let _ = writeln!(
        out,
        "Same machine, same clients (librdkafka; Kafka's ProducerPerformance and \
         ConsumerPerformance in the rows naming them), same scenarios, one after the other in \
         one run. Advantage = how many times better Ironlog's figure is (> 1: Ironlog ahead).\n"
    );
    let _ = writeln!(
        out,
        "| measurement | Ironlog | Apache Kafka | advantage | Ironlog ahead |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    let mut ahead = (0, 0);
    for row in compared_figures(ironlog, peer) {
        let advantage = match (row.ironlog, row.peer) {
            (Some(i), Some(k)) if row.higher_is_better && k > 0.0 => Some(i / k),
            (Some(i), Some(k)) if !row.higher_is_better && i > 0.0 => Some(k / i),
            _ => None,
        };
        let verdict = match advantage {
            Some(a) if a > 1.0 => {
                ahead.0 += 1;
                "yes"
            }
            Some(_) => {
                ahead.1 += 1;
                "no"
            }
            None => "not measured",
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {verdict} |",
            row.what,
            cell_with_unit(row.ironlog, 2, row.unit),
            cell_with_unit(row.peer, 2, row.unit),
            cell(advantage, 2),
        );
    }
    let _ = writeln!(
        out,
        "\nIronlog ahead on {} of {} compared figures.\n",
        ahead.0,
        ahead.0 + ahead.1
    );
    out
}

/// The whole report.
pub(crate) fn render(
    info: &RunInfo,
    reports: &[ScenarioReport],
    peak_rss_bytes: Option<u64>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Ironlog benchmark results\n");
    let _ = writeln!(out, "Command: `{}`\n", info.command_line);
    let _ = writeln!(out, "- broker: {}", info.broker);
    let _ = writeln!(out, "- machine: {}", info.machine);
    if info.quick {
        let _ = writeln!(
            out,
            "- --quick run: small counts, a smoke test rather than figures to publish"
        );
    }
    out.push('\n');
    let has = |f: fn(&Scenario) -> bool| reports.iter().any(|r| f(&r.scenario));
    if has(|s| matches!(s, Scenario::Throughput(_))) {
        throughput_section(&mut out, reports);
    }
    if has(|s| matches!(s, Scenario::Latency(_))) {
        latency_section(&mut out, reports);
    }
    if has(|s| matches!(s, Scenario::GroupRebalance(_))) {
        group_rebalance_section(&mut out, reports);
    }
    if has(|s| matches!(s, Scenario::OffsetCommit(_))) {
        offset_commit_section(&mut out, reports);
    }
    if has(|s| matches!(s, Scenario::Compaction(_))) {
        compaction_section(&mut out, reports);
    }
    if has(|s| matches!(s, Scenario::Idempotence(_))) {
        idempotence_section(&mut out, reports);
    }
    if has(|s| matches!(s, Scenario::MetricsScrape(_))) {
        metrics_scrape_section(&mut out, reports);
    }
    if has(|s| matches!(s, Scenario::Transactions(_))) {
        transactions_section(&mut out, reports);
    }
    if has(|s| matches!(s, Scenario::JavaPerf(_))) {
        java_perf_section(&mut out, reports);
    }
    if has(|s| matches!(s, Scenario::PartitionScale(_))) {
        partition_scale_section(&mut out, reports);
    }
    if has(|s| matches!(s, Scenario::Cluster(_))) {
        cluster_section(&mut out, reports);
    }
    if has(|s| matches!(s, Scenario::Security(_))) {
        security_section(&mut out, reports);
    }
    memory_section(&mut out, reports, peak_rss_bytes);
    targets_section(&mut out, reports);
    out
}

fn security_throughput_row(out: &mut String, row: &ThroughputRow) {
    let spec = &row.spec;
    let head = format!(
        "| {} B | {} | {} | {} |",
        spec.record_bytes,
        spec.partitions,
        spec.acks.config_value(),
        row.protocol.listener()
    );
    match &row.result {
        Ok(r) => {
            let produced_bytes = r.produced_records as f64 * spec.record_bytes as f64;
            let mut records = format!("{} / {}", r.produced_records, spec.record_count);
            if r.produce_failed > 0 {
                let _ = write!(records, " ({} failed)", r.produce_failed);
            }
            let consume = match &r.consume_error {
                Some(error) => error_cell(error),
                None => cell(
                    per_second(megabytes(r.consumed_bytes), r.consume_elapsed),
                    1,
                ),
            };
            let _ = writeln!(
                out,
                "{head} {records} | {} | {consume} | {} |",
                cell(per_second(produced_bytes / 1e6, r.produce_elapsed), 1),
                cell(cpu_s_per_gb(spec, r), 2),
            );
        }
        Err(error) => {
            let _ = writeln!(out, "{head} {} | | | |", error_cell(error));
        }
    }
}

fn connect_row(out: &mut String, row: &ConnectRow) {
    let mut failed = row.failed.to_string();
    if let Some(error) = &row.first_error {
        let _ = write!(failed, " ({})", error_cell(error));
    }
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {failed} | {} | {} | {} |",
        row.protocol.listener(),
        row.protocol.set_up(),
        row.workers,
        row.connections,
        cell(row.per_second(), 0),
        cell(row.broker_cpu_ms_per_connection(), 2),
        cell(row.client_cpu_ms_per_connection(), 2),
    );
}

fn security_section(out: &mut String, reports: &[ScenarioReport]) {
    let _ = writeln!(
        out,
        "### TLS and SASL_SSL beside PLAINTEXT
"
    );
    let _ = writeln!(
        out,
        "One broker of the scenario's own with PLAINTEXT, SSL and SASL_SSL (SCRAM-SHA-512) \
         listeners; the throughput cells are the batched producer and the consumer of the \
         throughput table, over each listener in turn.\n"
    );
    for report in reports {
        if !matches!(report.scenario, Scenario::Security(_)) {
            continue;
        }
        let result = match &report.outcome {
            Ok(Outcome::Security(result)) => result,
            Ok(_) => continue,
            Err(error) => {
                let _ = writeln!(out, "{}\n", error_cell(error));
                continue;
            }
        };
        let _ = writeln!(
            out,
            "| record | partitions | acks | listener | records produced | produce MB/s | consume MB/s | broker CPU s/GB |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
        for row in &result.throughput {
            security_throughput_row(out, row);
        }
        out.push('\n');
        let _ = writeln!(
            out,
            "Connection set-up: each worker opens complete connections one after another \
             (rustls client; the SCRAM proof computed by the client, {} iterations) and closes \
             them.\n",
            crate::security::SCRAM_ITERATIONS
        );
        let _ = writeln!(
            out,
            "| listener | one connection | workers | connections | failed | connections/s | broker CPU ms per connection | client CPU ms per connection |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
        for row in &result.connections {
            connect_row(out, row);
        }
        out.push('\n');
    }
}

/// The cluster rows whose spec `pick` accepts, with their outcomes.
fn cluster_rows<'a, S>(
    reports: &'a [ScenarioReport],
    pick: impl Fn(&'a ClusterSpec) -> Option<&'a S>,
) -> Vec<(&'a S, Result<&'a ClusterOutcome, &'a str>)> {
    reports
        .iter()
        .filter_map(|report| {
            let Scenario::Cluster(spec) = &report.scenario else {
                return None;
            };
            let spec = pick(spec)?;
            let outcome = match &report.outcome {
                Ok(Outcome::Cluster(outcome)) => Ok(outcome),
                Ok(_) => return None,
                Err(error) => Err(error.as_str()),
            };
            Some((spec, outcome))
        })
        .collect()
}

fn cluster_section(out: &mut String, reports: &[ScenarioReport]) {
    let _ = writeln!(out, "### Three-node cluster\n");
    let _ = writeln!(
        out,
        "Three combined KRaft nodes (process.roles=broker,controller, controller.quorum.voters \
         naming all three) on loopback, each row on a cluster of its own.\n"
    );
    cluster_produce_table(out, reports);
    cluster_failover_table(out, reports);
    cluster_reassignment_table(out, reports);
    cluster_idle_cpu_table(out, reports);
}

fn cluster_produce_table(out: &mut String, reports: &[ScenarioReport]) {
    let rows = cluster_rows(reports, |s| match s {
        ClusterSpec::Produce(p) => Some(p),
        _ => None,
    });
    let Some(&(first, _)) = rows.first() else {
        return;
    };
    let _ = writeln!(
        out,
        "| replication factor | acks | produce MB/s | produce msgs/s | consume MB/s | latency at msgs/s | p50 ms | p99 ms | max ms |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for (spec, outcome) in rows {
        let head = |rf: &str| format!("| {rf} | {} |", spec.throughput.acks.config_value());
        let produce_rows = match outcome {
            Ok(ClusterOutcome::Produce(rows)) => rows,
            Ok(_) => continue,
            Err(error) => {
                let factors: Vec<String> = spec
                    .replication_factors
                    .iter()
                    .map(i32::to_string)
                    .collect();
                let _ = writeln!(
                    out,
                    "{} {} | | | | | | |",
                    head(&factors.join(", ")),
                    error_cell(error)
                );
                continue;
            }
        };
        for row in produce_rows {
            let throughput = match &row.throughput {
                Ok(r) => {
                    let produced_mb =
                        megabytes(r.produced_records * spec.throughput.record_bytes as u64);
                    format!(
                        "{} | {} | {}",
                        cell(per_second(produced_mb, r.produce_elapsed), 1),
                        cell(per_second(r.produced_records as f64, r.produce_elapsed), 0),
                        cell(
                            per_second(megabytes(r.consumed_bytes), r.consume_elapsed),
                            1
                        )
                    )
                }
                Err(error) => format!("{} | |", error_cell(error)),
            };
            let latency = match &row.latency {
                Ok(r) => match r.summary {
                    Some(s) => format!(
                        "{:.2} | {:.2} | {:.2}",
                        s.p50_us as f64 / 1e3,
                        s.p99_us as f64 / 1e3,
                        s.max_us as f64 / 1e3
                    ),
                    None => "n/a | n/a | n/a".to_string(),
                },
                Err(error) => format!("{} | |", error_cell(error)),
            };
            let _ = writeln!(
                out,
                "{} {throughput} | {} | {latency} |",
                head(&row.replication_factor.to_string()),
                spec.latency.rate_per_s
            );
        }
    }
    let _ = writeln!(
        out,
        "\nBatched producer as in the throughput table ({} B records, {} partitions); latency: \
         one partition, linger.ms=0, after a {} s warm-up over {} s.\n",
        first.throughput.record_bytes,
        first.throughput.partitions,
        first.latency.warmup.as_secs(),
        first.latency.measure.as_secs(),
    );
}

fn outage_row(out: &mut String, event: &str, outage: &Outage) {
    let _ = writeln!(
        out,
        "| {event} | {} | {:.2} | {:.2} | {} |",
        outage.leader,
        outage.outage.as_secs_f64(),
        outage.exit_elapsed.as_secs_f64(),
        outage.failed
    );
}

fn cluster_failover_table(out: &mut String, reports: &[ScenarioReport]) {
    let rows = cluster_rows(reports, |s| match s {
        ClusterSpec::Failover(f) => Some(f),
        _ => None,
    });
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "| leader stopped by | node | no acknowledgement for (s) | signal to exit (s) | records failed |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for (_, outcome) in rows {
        match outcome {
            Ok(ClusterOutcome::Failover(r)) => {
                outage_row(out, "SIGKILL (kill -9)", &r.kill);
                outage_row(out, "SIGTERM (controlled shutdown)", &r.terminate);
            }
            Ok(_) => {}
            Err(error) => {
                let _ = writeln!(out, "| SIGKILL, SIGTERM | {} | | | |", error_cell(error));
            }
        }
    }
    let _ = writeln!(
        out,
        "\nOne acks=all producer sends one record at a time to a partition at replication \
         factor 3; the figure is the longest time without an acknowledgement from the signal \
         until the first acknowledgement after the node exited.\n"
    );
}

fn cluster_reassignment_table(out: &mut String, reports: &[ScenarioReport]) {
    let rows = cluster_rows(reports, |s| match s {
        ClusterSpec::Reassignment(r) => Some(r),
        _ => None,
    });
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "| new replica catches up | bytes copied | time (s) | MB/s | MB/s after the burst | throttle held (at most +{:.0} %) |",
        cluster::THROTTLE_TOLERANCE * 100.0
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for (_, outcome) in rows {
        match outcome {
            Ok(ClusterOutcome::Reassignment(r)) => {
                let row = |what: String, c: &cluster::CatchUp, held: &str| {
                    format!(
                        "| {what} | {:.1} MB | {:.2} | {} | {} | {held} |",
                        megabytes(c.bytes),
                        c.elapsed.as_secs_f64(),
                        cell(c.bytes_per_s().map(|b| b / 1e6), 1),
                        c.steady_bytes_per_s
                            .map_or_else(|| "-".to_string(), |b| format!("{:.1}", b / 1e6))
                    )
                };
                let _ = writeln!(out, "{}", row("no throttle".to_string(), &r.free, "-"));
                let held = match r.throttled.steady_bytes_per_s {
                    Some(rate) if cluster::throttle_held(rate, r.throttle_bytes_per_s) => {
                        format!(
                            "yes ({:.2}x the rate)",
                            rate / r.throttle_bytes_per_s as f64
                        )
                    }
                    Some(rate) => {
                        format!("no ({:.2}x the rate)", rate / r.throttle_bytes_per_s as f64)
                    }
                    None => "not measured (the copy ended within the burst)".to_string(),
                };
                let _ = writeln!(
                    out,
                    "{}",
                    row(
                        format!(
                            "throttled to {:.1} MB/s",
                            r.throttle_bytes_per_s as f64 / 1e6
                        ),
                        &r.throttled,
                        &held
                    )
                );
            }
            Ok(_) => {}
            Err(error) => {
                let _ = writeln!(out, "| free, throttled | {} | | | | |", error_cell(error));
            }
        }
    }
    let _ = writeln!(
        out,
        "\nA partition on nodes 1 and 2 gets node 3 (AlterPartitionReassignments); the time \
         runs until node 3 holds as many log bytes as the leader. Throttled: \
         leader.replication.throttled.rate and follower.replication.throttled.rate on all \
         three brokers, leader.replication.throttled.replicas 0:1,0:2 and \
         follower.replication.throttled.replicas 0:3, as kafka-reassign-partitions --throttle \
         sets them. A fresh Kafka replication quota averages over 11 one-second windows, \
         so about 10 s worth of the rate goes through at once; the throttle is judged on the \
         copy after that burst.\n"
    );
}

fn cluster_idle_cpu_table(out: &mut String, reports: &[ScenarioReport]) {
    let rows = cluster_rows(reports, |s| match s {
        ClusterSpec::IdleCpu(i) => Some(i),
        _ => None,
    });
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "| idle cluster | create until in sync (s) | window (s) | CPU % of one core, per node | goal < {} % per node |",
        cluster::IDLE_CPU_PERCENT_MAX
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for (spec, outcome) in rows {
        let head = format!(
            "| {} partitions ({} topics x {}), RF {} |",
            spec.partitions_total(),
            spec.topics,
            spec.partitions_per_topic,
            spec.replication_factor
        );
        match outcome {
            Ok(ClusterOutcome::IdleCpu(r)) => {
                let per_node: Vec<String> = r
                    .cpu_percent_by_node
                    .iter()
                    .map(|(id, percent)| format!("node {id}: {percent:.2}"))
                    .collect();
                let worst = r
                    .cpu_percent_by_node
                    .iter()
                    .map(|(_, percent)| *percent)
                    .reduce(f64::max);
                let verdict = match worst {
                    Some(w) if w < cluster::IDLE_CPU_PERCENT_MAX => "met",
                    Some(_) => "missed",
                    None => "not measured",
                };
                let _ = writeln!(
                    out,
                    "{head} {:.2} | {:.1} | {} | {verdict} |",
                    r.create_elapsed.as_secs_f64(),
                    r.window.as_secs_f64(),
                    per_node.join(", ")
                );
            }
            Ok(_) => {}
            Err(error) => {
                let _ = writeln!(out, "{head} {} | | | |", error_cell(error));
            }
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::LatencySummary;
    use crate::scenario::{Acks, IdlePartitionsSpec, LatencySpec};

    fn throughput_spec(record_bytes: usize) -> ThroughputSpec {
        ThroughputSpec {
            record_bytes,
            partitions: 8,
            acks: Acks::All,
            record_count: 1_000_000,
            send_duration_max: Duration::from_secs(60),
        }
    }

    fn info() -> RunInfo {
        RunInfo {
            command_line: command_line(&["--spawn".to_string()]),
            broker: "spawned".to_string(),
            machine: "test".to_string(),
            quick: false,
        }
    }

    #[test]
    fn command_line_quotes_only_when_needed() {
        let args = [
            "--bootstrap",
            "127.0.0.1:9092",
            "--broker-bin",
            "/a b/ironlog",
            "it's",
        ]
        .map(String::from);
        assert_eq!(
            command_line(&args),
            "cargo run --release -p ironlog-bench -- --bootstrap 127.0.0.1:9092 --broker-bin '/a b/ironlog' 'it'\\''s'"
        );
    }

    #[test]
    fn cpu_per_gb_uses_produced_bytes() {
        let result = ThroughputResult {
            produced_records: 1_000_000,
            produce_failed: 0,
            produce_elapsed: Duration::from_secs(2),
            broker_cpu_s: Some(0.5),
            consumed_records: 1_000_000,
            consumed_bytes: 1_024_000_000,
            consume_elapsed: Duration::from_secs(1),
            consume_error: None,
        };
        let cpu = cpu_s_per_gb(&throughput_spec(1024), &result).unwrap();
        assert!(
            (cpu - 0.5 / 1.024).abs() < 1e-9,
            "expected 0.488 s/GB, got {cpu}"
        );
        let unknown = ThroughputResult {
            broker_cpu_s: None,
            ..result
        };
        assert_eq!(cpu_s_per_gb(&throughput_spec(1024), &unknown), None);
    }

    #[test]
    fn render_full_report_with_rows_errors_and_targets() {
        let reports = vec![
            ScenarioReport {
                scenario: Scenario::IdlePartitions(IdlePartitionsSpec {
                    topics: 100,
                    partitions_per_topic: 10,
                    settle: Duration::from_secs(10),
                }),
                outcome: Ok(Outcome::IdlePartitions(IdlePartitionsResult {
                    create_elapsed: Duration::from_millis(1_500),
                    rss_before_bytes: Some(20_000_000),
                    rss_idle_bytes: Some(150_000_000),
                })),
            },
            ScenarioReport {
                scenario: Scenario::Throughput(throughput_spec(1024)),
                outcome: Ok(Outcome::Throughput(ThroughputResult {
                    produced_records: 1_000_000,
                    produce_failed: 0,
                    produce_elapsed: Duration::from_secs(4),
                    broker_cpu_s: Some(2.048),
                    consumed_records: 1_000_000,
                    consumed_bytes: 1_024_000_000,
                    consume_elapsed: Duration::from_secs(2),
                    consume_error: None,
                })),
            },
            ScenarioReport {
                scenario: Scenario::Throughput(throughput_spec(100)),
                outcome: Err("connection refused | twice\nagain".to_string()),
            },
            ScenarioReport {
                scenario: Scenario::Latency(LatencySpec {
                    record_bytes: 1024,
                    rate_per_s: 10_000,
                    acks: Acks::One,
                    warmup: Duration::from_secs(3),
                    measure: Duration::from_secs(30),
                }),
                outcome: Ok(Outcome::Latency(LatencyResult {
                    sent: 300_000,
                    failed: 0,
                    window: Duration::from_secs(30),
                    summary: Some(LatencySummary {
                        samples: 300_000,
                        p50_us: 800,
                        p99_us: 3_200,
                        max_us: 12_000,
                    }),
                })),
            },
        ];
        let text = render(&info(), &reports, Some(300_000_000));
        for expected in [
            "Command: `cargo run --release -p ironlog-bench -- --spawn`",
            "| 1024 B | 8 | all | 1000000 / 1000000 | 256.0 | 250000 | 512.0 | 500000 | 2.00 |",
            "| 100 B | 8 | all | failed: connection refused \\| twice again |",
            "| 1024 B | 1 | 10000 | 10000 | 300000 | 0.80 | 3.20 | 12.00 | 0 |",
            "| idle RSS, 1000 partitions (100 topics x 10), 10 s after creation | 150.0 MB |",
            "| peak RSS (VmHWM) over the whole run | 300.0 MB |",
            "per GB (1 KiB, batched) | 2.00 s/GB | missed |",
            "at 10k msgs/s | 3.20 ms | met |",
            "with 1,000 partitions | 150.0 MB | met |",
        ] {
            assert!(
                text.contains(expected),
                "report lacks {expected:?}; report was:\n{text}"
            );
        }
    }

    #[test]
    fn render_new_scenarios_with_figures_and_failures() {
        use crate::scenario::{
            CompactionSpec, GroupRebalanceSpec, IdempotenceSpec, OffsetCommitSpec, TransactionsSpec,
        };
        let produce_run = |delivered: u64, millis: u64| ProduceRun {
            delivered,
            failed: 0,
            elapsed: Duration::from_millis(millis),
            broker_cpu_s: Some(0.1),
            first_error: None,
        };
        let transactions_spec = TransactionsSpec {
            record_bytes: 1024,
            partitions: 1,
            records_per_transaction: 100,
            transactions: 1_000,
            duration_max: Duration::from_secs(60),
        };
        let reports = vec![
            ScenarioReport {
                scenario: Scenario::GroupRebalance(GroupRebalanceSpec {
                    consumers: 10,
                    partitions: 100,
                    phase_timeout: Duration::from_secs(60),
                }),
                outcome: Ok(Outcome::GroupRebalance(GroupRebalanceResult {
                    all_assigned: Duration::from_millis(3_100),
                    all_received: Duration::from_millis(3_250),
                    settle_after_leave: Duration::from_millis(2_900),
                })),
            },
            ScenarioReport {
                scenario: Scenario::OffsetCommit(OffsetCommitSpec {
                    partitions: 10,
                    duration: Duration::from_secs(10),
                    commits_max: 1_000_000,
                    async_in_flight_max: 100,
                }),
                outcome: Ok(Outcome::OffsetCommit(OffsetCommitResult {
                    sync: CommitRate {
                        committed: 20_000,
                        failed: 0,
                        elapsed: Duration::from_secs(10),
                        first_error: None,
                    },
                    async_: CommitRate {
                        committed: 50_000,
                        failed: 1,
                        elapsed: Duration::from_secs(10),
                        first_error: Some("Broker: Unknown member".to_string()),
                    },
                })),
            },
            ScenarioReport {
                scenario: Scenario::Compaction(CompactionSpec {
                    produce_bytes: 100_000_000,
                    record_bytes: 1024,
                    distinct_keys: 1_000,
                    segment_bytes: 1_048_576,
                    min_cleanable_dirty_ratio: 0.01,
                    settle_quiet: Duration::from_secs(2),
                    phase_timeout: Duration::from_secs(60),
                }),
                outcome: Ok(Outcome::Compaction(CompactionResult {
                    produced_records: 97_656,
                    produced_bytes: 101_000_000,
                    produce_elapsed: Duration::from_secs(1),
                    log_bytes_before: 104_000_000,
                    log_bytes_after: 4_000_000,
                    clean_elapsed: Duration::from_secs(4),
                })),
            },
            ScenarioReport {
                scenario: Scenario::Idempotence(IdempotenceSpec {
                    produce: throughput_spec(1024),
                }),
                outcome: Ok(Outcome::Idempotence(IdempotenceResult {
                    plain: produce_run(1_000_000, 2_000),
                    idempotent: produce_run(1_000_000, 2_500),
                })),
            },
            ScenarioReport {
                scenario: Scenario::Transactions(transactions_spec),
                outcome: Err("InitProducerId with a transactional.id refused or unanswered: Broker: Transactional Id authorization failed".to_string()),
            },
        ];
        let text = render(&info(), &reports, None);
        for expected in [
            "| 10 | 100 | 3.10 | 3.25 | 2.90 |",
            "| 10 | sync | 20000 | 0 | 2000 |  |",
            "| 10 | async | 50000 | 1 | 5000 | failed: Broker: Unknown member |",
            "| 101.0 | 97656 | 1000 | 104.0 | 4.0 | 4.00 | 25.0 | 26.0 |",
            "| false | 1000000 | 0 | 512.0 | 500000 | 0.10 |",
            "| true | 1000000 | 0 | 409.6 | 400000 | 0.10 |",
            "Idempotent / plain msgs/s: **0.80**",
            "| 1024 B | 100 | failed: InitProducerId with a transactional.id refused or unanswered: Broker: Transactional Id authorization failed |",
        ] {
            assert!(
                text.contains(expected),
                "report lacks {expected:?}; report was:\n{text}"
            );
        }
    }

    #[test]
    fn render_without_measurements_says_not_measured() {
        let text = render(&info(), &[], None);
        assert!(text.contains("n/a (broker pid unknown)"));
        assert_eq!(
            text.matches("| n/a | not measured |").count(),
            3,
            "report was:\n{text}"
        );
        assert!(
            !text.contains("### Produce latency"),
            "no latency scenario, no latency table"
        );
    }

    #[test]
    fn security_rows_show_each_listener_its_cpu_and_its_connection_rate() {
        use crate::scenario::SecuritySpec;
        use crate::security::Protocol;
        let spec = throughput_spec(1024);
        let measured = ThroughputResult {
            produced_records: 1_000_000,
            produce_failed: 0,
            produce_elapsed: Duration::from_secs(10),
            broker_cpu_s: Some(2.048),
            consumed_records: 1_000_000,
            consumed_bytes: 1_024_000_000,
            consume_elapsed: Duration::from_secs(4),
            consume_error: None,
        };
        let connect = |protocol, connections, failed, first_error: Option<&str>| ConnectRow {
            protocol,
            workers: 4,
            connections,
            failed,
            elapsed: Duration::from_secs(10),
            broker_cpu_s: Some(1.0),
            client_cpu_s: Some(4.0),
            first_error: first_error.map(str::to_string),
        };
        let reports = [ScenarioReport {
            scenario: Scenario::Security(SecuritySpec {
                throughput: vec![spec.clone()],
                connect_duration: Duration::from_secs(10),
                connect_workers: vec![4],
            }),
            outcome: Ok(Outcome::Security(SecurityResult {
                throughput: vec![
                    ThroughputRow {
                        protocol: Protocol::Plaintext,
                        spec: spec.clone(),
                        result: Ok(measured),
                    },
                    ThroughputRow {
                        protocol: Protocol::SaslSsl,
                        spec,
                        result: Err("SASL authentication failed | bad".to_string()),
                    },
                ],
                connections: vec![
                    connect(Protocol::Ssl, 2_000, 0, None),
                    connect(Protocol::SaslSsl, 0, 100, Some("SaslAuthenticate error 58")),
                ],
            })),
        }];
        let text = render(&info(), &reports, None);
        assert!(
            text.contains("### TLS and SASL_SSL beside PLAINTEXT"),
            "{text}"
        );
        assert!(
            text.contains(
                "| 1024 B | 8 | all | PLAINTEXT | 1000000 / 1000000 | 102.4 | 256.0 | 2.00 |"
            ),
            "{text}"
        );
        assert!(
            text.contains("| SASL_SSL | failed: SASL authentication failed \\| bad |"),
            "{text}"
        );
        assert!(
            text.contains("| SSL | TCP + TLS + ApiVersions | 4 | 2000 | 0 | 200 | 0.50 | 2.00 |"),
            "{text}"
        );
        assert!(
            text.contains("| 0 | 100 (failed: SaslAuthenticate error 58) | 0 | n/a | n/a |"),
            "{text}"
        );
        assert_columns(&text, "| record | partitions | acks | listener", 8);
        assert_columns(&text, "| listener | one connection", 8);
    }

    /// Every table line of `text` under `heading` (up to the next blank line after it)
    /// has `columns` cells.
    fn assert_columns(text: &str, header_start: &str, columns: usize) {
        let lines: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with(header_start))
            .take_while(|l| l.starts_with('|'))
            .collect();
        assert!(
            !lines.is_empty(),
            "no table starting {header_start:?} in:\n{text}"
        );
        for line in lines {
            let cells = line.replace("\\|", "").matches('|').count() - 1;
            assert_eq!(
                cells, columns,
                "line {line:?} of the {header_start:?} table"
            );
        }
    }

    #[test]
    fn cluster_rows_render_figures_verdicts_and_failures() {
        use crate::cluster::{
            CatchUp, FailoverResult, IdleCpuResult, ProduceRow, ReassignmentResult,
        };
        use crate::scenario::{ClusterProduceSpec, FailoverSpec, IdleCpuSpec, ReassignmentSpec};
        let throughput = ThroughputResult {
            produced_records: 100_000,
            produce_failed: 0,
            produce_elapsed: Duration::from_secs(2),
            broker_cpu_s: None,
            consumed_records: 100_000,
            consumed_bytes: 102_400_000,
            consume_elapsed: Duration::from_secs(1),
            consume_error: None,
        };
        let latency = LatencyResult {
            sent: 1_000,
            failed: 0,
            window: Duration::from_secs(5),
            summary: Some(LatencySummary {
                samples: 1_000,
                p50_us: 1_500,
                p99_us: 4_250,
                max_us: 9_000,
            }),
        };
        let produce_spec = ClusterProduceSpec {
            replication_factors: vec![1, 3],
            throughput: ThroughputSpec {
                acks: Acks::All,
                ..throughput_spec(1024)
            },
            latency: LatencySpec {
                record_bytes: 1024,
                rate_per_s: 1_000,
                acks: Acks::All,
                warmup: Duration::from_secs(1),
                measure: Duration::from_secs(5),
            },
        };
        let outage = |leader, ms| Outage {
            leader,
            outage: Duration::from_millis(ms),
            exit_elapsed: Duration::from_millis(20),
            failed: 0,
        };
        let reports = vec![
            ScenarioReport {
                scenario: Scenario::Cluster(ClusterSpec::Produce(produce_spec)),
                outcome: Ok(Outcome::Cluster(ClusterOutcome::Produce(vec![
                    ProduceRow {
                        replication_factor: 1,
                        throughput: Ok(throughput.clone()),
                        latency: Ok(latency.clone()),
                    },
                    ProduceRow {
                        replication_factor: 3,
                        throughput: Ok(throughput),
                        latency: Err("timed out | badly".to_string()),
                    },
                ]))),
            },
            ScenarioReport {
                scenario: Scenario::Cluster(ClusterSpec::Failover(FailoverSpec {
                    record_bytes: 1024,
                    acks_before: 20,
                    phase_timeout: Duration::from_secs(60),
                })),
                outcome: Ok(Outcome::Cluster(ClusterOutcome::Failover(FailoverResult {
                    kill: outage(2, 9_250),
                    terminate: outage(3, 120),
                }))),
            },
            ScenarioReport {
                scenario: Scenario::Cluster(ClusterSpec::Reassignment(ReassignmentSpec {
                    data_bytes: 20_000_000,
                    record_bytes: 1024,
                    throttle_bytes_per_s: 5_000_000,
                    phase_timeout: Duration::from_secs(60),
                })),
                outcome: Ok(Outcome::Cluster(ClusterOutcome::Reassignment(
                    ReassignmentResult {
                        free: CatchUp {
                            bytes: 20_000_000,
                            elapsed: Duration::from_millis(250),
                            steady_bytes_per_s: None,
                        },
                        throttled: CatchUp {
                            bytes: 20_000_000,
                            elapsed: Duration::from_secs(4),
                            steady_bytes_per_s: Some(5_300_000.0),
                        },
                        throttle_bytes_per_s: 5_000_000,
                    },
                ))),
            },
            ScenarioReport {
                scenario: Scenario::Cluster(ClusterSpec::IdleCpu(IdleCpuSpec {
                    topics: 10,
                    partitions_per_topic: 100,
                    replication_factor: 3,
                    settle: Duration::from_secs(1),
                    window: Duration::from_secs(10),
                })),
                outcome: Ok(Outcome::Cluster(ClusterOutcome::IdleCpu(IdleCpuResult {
                    create_elapsed: Duration::from_secs(3),
                    window: Duration::from_secs(10),
                    cpu_percent_by_node: vec![(1, 0.5), (2, 2.5), (3, 1.0)],
                }))),
            },
        ];
        let text = render(&info(), &reports, None);
        assert!(
            text.contains("### Three-node cluster"),
            "report was:\n{text}"
        );
        assert!(
            text.contains("| 1 | all | 51.2 | 50000 | 102.4 | 1000 | 1.50 | 4.25 | 9.00 |"),
            "report was:\n{text}"
        );
        assert!(
            text.contains(
                "| 3 | all | 51.2 | 50000 | 102.4 | 1000 | failed: timed out \\| badly | |"
            ),
            "report was:\n{text}"
        );
        assert!(
            text.contains("| SIGKILL (kill -9) | 2 | 9.25 | 0.02 | 0 |"),
            "report was:\n{text}"
        );
        assert!(
            text.contains("| SIGTERM (controlled shutdown) | 3 | 0.12 |"),
            "report was:\n{text}"
        );
        assert!(
            text.contains("| no throttle | 20.0 MB | 0.25 | 80.0 | - | - |"),
            "report was:\n{text}"
        );
        assert!(
            text.contains(
                "| throttled to 5.0 MB/s | 20.0 MB | 4.00 | 5.0 | 5.3 | yes (1.06x the rate) |"
            ),
            "report was:\n{text}"
        );
        assert!(
            text.contains("node 1: 0.50, node 2: 2.50, node 3: 1.00 | missed |"),
            "report was:\n{text}"
        );
        assert_columns(&text, "| replication factor |", 9);
        assert_columns(&text, "| leader stopped by |", 5);
        assert_columns(&text, "| new replica catches up |", 6);
        assert_columns(&text, "| idle cluster |", 5);

        let failed = vec![ScenarioReport {
            scenario: reports[1].scenario.clone(),
            outcome: Err("the cluster did not start".to_string()),
        }];
        let text = render(&info(), &failed, None);
        assert!(
            text.contains("| SIGKILL, SIGTERM | failed: the cluster did not start |"),
            "report was:\n{text}"
        );
        assert_columns(&text, "| leader stopped by |", 5);
        assert!(
            !text.contains("| idle cluster |"),
            "no idle row, no idle table"
        );
    }

    #[test]
    fn partition_scale_rows_have_one_cell_per_column() {
        use crate::scenario::PartitionScaleSpec;
        let spec = PartitionScaleSpec {
            topics: 100,
            partitions_per_topic: 100,
            open_files_limit: 20_000,
            settle: Duration::from_secs(5),
            sample_partitions: 1_000,
        };
        let measured = PartitionScaleResult {
            open_files_limit: 20_000,
            create_elapsed: Duration::from_millis(13_420),
            fds_idle: 14,
            rss_idle_bytes: 67_500_000,
            metrics_scrape: crate::metrics_scrape::Scrape {
                elapsed: Duration::from_millis(42),
                bytes: 3_100_000,
            },
            shutdown_elapsed: Duration::from_millis(790),
            restart_elapsed: Duration::from_millis(380),
            restart_ready_elapsed: Duration::from_millis(480),
            fds_after_restart: 14,
            rss_after_restart_bytes: 70_700_000,
            sample_partitions: 1_000,
            sample_produce_elapsed: Duration::from_millis(1_320),
            fds_after_sample: 1_014,
        };
        let reports = [
            ScenarioReport {
                scenario: Scenario::PartitionScale(spec.clone()),
                outcome: Ok(Outcome::PartitionScale(measured)),
            },
            ScenarioReport {
                scenario: Scenario::PartitionScale(spec),
                outcome: Err("creation stopped at 6661".to_string()),
            },
        ];
        let mut out = String::new();
        partition_scale_section(&mut out, &reports);
        let rows: Vec<&str> = out.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(rows.len(), 4, "header, separator and two rows:\n{out}");
        let cells = |row: &str| row.matches('|').count() - 1;
        for row in &rows {
            assert_eq!(
                cells(row),
                cells(rows[0]),
                "row {row:?} does not fit the header"
            );
        }
        assert!(rows[2].contains("| 10000 | 20000 | 13.42 | 14 | 67.5 MB | 42.0 | 3.1 MB |"));
        assert!(rows[3].contains("failed: creation stopped at 6661"));
    }

    #[test]
    fn side_by_side_rates_each_figure_in_the_direction_that_is_better() {
        use crate::idle_partitions::IdlePartitionsResult;
        let spec = throughput_spec(1024);
        let throughput = |produce_ms: u64, cpu: f64| ThroughputResult {
            produced_records: 1_000_000,
            produce_failed: 0,
            produce_elapsed: Duration::from_millis(produce_ms),
            broker_cpu_s: Some(cpu),
            consumed_records: 1_000_000,
            consumed_bytes: 1_024_000_000,
            consume_elapsed: Duration::from_secs(1),
            consume_error: None,
        };
        let idle = IdlePartitionsSpec {
            topics: 100,
            partitions_per_topic: 10,
            settle: Duration::ZERO,
        };
        let idle_rss = |bytes: u64| IdlePartitionsResult {
            create_elapsed: Duration::from_secs(1),
            rss_before_bytes: None,
            rss_idle_bytes: Some(bytes),
        };
        let mine = [
            ScenarioReport {
                scenario: Scenario::Throughput(spec.clone()),
                outcome: Ok(Outcome::Throughput(throughput(1_000, 1.0))),
            },
            ScenarioReport {
                scenario: Scenario::IdlePartitions(idle.clone()),
                outcome: Ok(Outcome::IdlePartitions(idle_rss(50_000_000))),
            },
        ];
        let theirs = [
            ScenarioReport {
                scenario: Scenario::Throughput(spec),
                outcome: Ok(Outcome::Throughput(throughput(2_000, 4.0))),
            },
            ScenarioReport {
                scenario: Scenario::IdlePartitions(idle),
                outcome: Err("refused".to_string()),
            },
        ];
        let run = |reports| BrokerRun {
            reports,
            startup: Some(Duration::from_millis(500)),
            peak_rss_bytes: None,
        };
        let out = render_side_by_side(&run(&mine), &run(&theirs));
        let row = |what: &str| -> String {
            out.lines()
                .find(|l| l.starts_with(&format!("| {what}")))
                .unwrap_or_else(|| panic!("no row {what:?} in:\n{out}"))
                .to_string()
        };
        assert!(
            row("produce, 1024 B").contains("| 2.00 | yes |"),
            "twice the rate: {out}"
        );
        assert!(
            row("broker CPU per GB").contains("| 4.00 | yes |"),
            "a quarter of the CPU: {out}"
        );
        assert!(
            row("consume, 1024 B").contains("| 1.00 | no |"),
            "a tie is not ahead: {out}"
        );
        assert!(
            row("idle RSS").contains("not measured"),
            "the peer's row failed: {out}"
        );
        assert!(row("peak RSS").contains("not measured"));
        assert!(
            out.contains("Ironlog ahead on 2 of 4 compared figures."),
            "{out}"
        );
    }

    fn java_perf_spec(record_bytes: usize, acks: Acks) -> JavaPerfSpec {
        JavaPerfSpec {
            record_bytes,
            partitions: 8,
            acks,
            record_count: 100_000,
            tool_timeout: Duration::from_secs(120),
        }
    }

    /// ProducerPerformance at `records_per_s` with p99 `p99_ms`; ConsumerPerformance
    /// fetching at `fetch_mib_per_s`.
    fn java_perf_result(records_per_s: f64, p99_ms: f64, fetch_mib_per_s: f64) -> JavaPerfResult {
        use crate::java_perf::{ConsumerStats, ProducerSummary};
        JavaPerfResult {
            producer: ProducerSummary {
                records_sent: 100_000,
                records_per_s,
                mib_per_s: records_per_s * 1024.0 / 1_048_576.0,
                latency_avg_ms: 3.5,
                latency_max_ms: 40.0,
                latency_p50_ms: 2.0,
                latency_p95_ms: 7.0,
                latency_p99_ms: p99_ms,
                latency_p999_ms: 30.0,
            },
            broker_cpu_s: Some(0.2048),
            consumer: Ok(ConsumerStats {
                mib_consumed: 97.6563,
                mib_per_s: 20.0,
                records_consumed: 100_000,
                records_per_s: 20_480.0,
                rebalance_ms: 3_010,
                fetch_ms: 900,
                fetch_mib_per_s,
                fetch_records_per_s: fetch_mib_per_s * 1024.0,
                stopped_early: false,
            }),
        }
    }

    #[test]
    fn java_perf_rows_show_both_tools_in_decimal_megabytes() {
        let short_consume = JavaPerfResult {
            consumer: Err("consumed 10 of 100000 records".to_string()),
            ..java_perf_result(50_000.0, 12.0, 100.0)
        };
        let reports = vec![
            ScenarioReport {
                scenario: Scenario::JavaPerf(java_perf_spec(1024, Acks::One)),
                outcome: Ok(Outcome::JavaPerf(java_perf_result(100_000.0, 9.0, 100.0))),
            },
            ScenarioReport {
                scenario: Scenario::JavaPerf(java_perf_spec(1024, Acks::All)),
                outcome: Ok(Outcome::JavaPerf(short_consume)),
            },
            ScenarioReport {
                scenario: Scenario::JavaPerf(java_perf_spec(100, Acks::All)),
                outcome: Err("java: not found".to_string()),
            },
        ];
        let text = render(&info(), &reports, None);
        assert_columns(&text, "| record | partitions | acks | records sent", 17);
        let row = |start: &str| -> &str {
            text.lines()
                .find(|l| l.starts_with(start))
                .unwrap_or_else(|| panic!("no row {start:?} in:\n{text}"))
        };
        // 100,000 records/s of 1024 B = 102.4 MB/s; 100 tool-MB/s fetched = 104.9 MB/s;
        // 0.2048 CPU s over 0.1024 GB = 2 s/GB.
        assert!(
            row("| 1024 B | 8 | 1 |").contains(
                "| 100000 / 100000 | 102.4 | 100000 | 3.50 | 2 | 7 | 9 | 30 | 40 | 21.0 | 104.9 | 102400 | 3010 | 2.00 |"
            ),
            "{text}"
        );
        assert!(
            row("| 1024 B | 8 | all |").contains("failed: consumed 10 of 100000 records"),
            "{text}"
        );
        assert!(row("| 100 B | 8 | all |").contains("failed: java: not found"));
    }

    #[test]
    fn side_by_side_compares_the_perf_tools_cell_by_cell() {
        let spec = java_perf_spec(1024, Acks::All);
        let mine = [ScenarioReport {
            scenario: Scenario::JavaPerf(spec.clone()),
            outcome: Ok(Outcome::JavaPerf(java_perf_result(60_000.0, 5.0, 50.0))),
        }];
        let theirs = [ScenarioReport {
            scenario: Scenario::JavaPerf(spec),
            outcome: Ok(Outcome::JavaPerf(java_perf_result(30_000.0, 20.0, 100.0))),
        }];
        let run = |reports| BrokerRun {
            reports,
            startup: None,
            peak_rss_bytes: None,
        };
        let out = render_side_by_side(&run(&mine), &run(&theirs));
        let row = |what: &str| -> String {
            out.lines()
                .find(|l| l.starts_with(&format!("| {what}")))
                .unwrap_or_else(|| panic!("no row {what:?} in:\n{out}"))
                .to_string()
        };
        let cell = "1024 B x 8 partition(s), acks=all";
        assert!(
            row(&format!("ProducerPerformance, {cell}")).contains("| 2.00 | yes |"),
            "{out}"
        );
        assert!(
            row(&format!("ProducerPerformance p99, {cell}")).contains("| 4.00 | yes |"),
            "a quarter of the p99 is four times better: {out}"
        );
        assert!(
            row(&format!("ConsumerPerformance fetch, {cell}")).contains("| 0.50 | no |"),
            "{out}"
        );
        assert!(
            row(&format!(
                "ConsumerPerformance whole run (group join included), {cell}"
            ))
            .contains("| 1.00 | no |"),
            "{out}"
        );
    }

    #[test]
    fn side_by_side_compares_the_three_node_produce_rows_per_replication_factor() {
        use crate::cluster::ProduceRow;
        use crate::scenario::ClusterProduceSpec;
        let spec = ClusterProduceSpec {
            replication_factors: vec![1, 3],
            throughput: ThroughputSpec {
                acks: Acks::All,
                ..throughput_spec(1024)
            },
            latency: LatencySpec {
                record_bytes: 1024,
                rate_per_s: 1_000,
                acks: Acks::All,
                warmup: Duration::from_secs(1),
                measure: Duration::from_secs(5),
            },
        };
        // 1,000,000 records of 1024 B in `produce_ms`; p99 `p99_us`.
        let row = |rf: i32, produce_ms: u64, p99_us: u64| ProduceRow {
            replication_factor: rf,
            throughput: Ok(ThroughputResult {
                produced_records: 1_000_000,
                produce_failed: 0,
                produce_elapsed: Duration::from_millis(produce_ms),
                broker_cpu_s: None,
                consumed_records: 1_000_000,
                consumed_bytes: 1_024_000_000,
                consume_elapsed: Duration::from_secs(1),
                consume_error: None,
            }),
            latency: Ok(LatencyResult {
                sent: 5_000,
                failed: 0,
                window: Duration::from_secs(5),
                summary: Some(LatencySummary {
                    samples: 5_000,
                    p50_us: 500,
                    p99_us,
                    max_us: 2 * p99_us,
                }),
            }),
        };
        let report = |rows| ScenarioReport {
            scenario: Scenario::Cluster(ClusterSpec::Produce(spec.clone())),
            outcome: Ok(Outcome::Cluster(ClusterOutcome::Produce(rows))),
        };
        let rf3_failed = ProduceRow {
            latency: Err("no acknowledgement".to_string()),
            ..row(3, 8_000, 0)
        };
        let mine = [report(vec![row(1, 2_000, 1_000), row(3, 4_000, 2_000)])];
        let theirs = [report(vec![row(1, 4_000, 8_000), rf3_failed])];
        let run = |reports| BrokerRun {
            reports,
            startup: None,
            peak_rss_bytes: None,
        };
        let out = render_side_by_side(&run(&mine), &run(&theirs));
        let line = |what: &str| -> String {
            out.lines()
                .find(|l| l.starts_with(&format!("| {what}")))
                .unwrap_or_else(|| panic!("no row {what:?} in:\n{out}"))
                .to_string()
        };
        assert!(
            line("3 nodes, RF 1: produce acks=all")
                .contains("| 512.00 MB/s | 256.00 MB/s | 2.00 | yes |"),
            "{out}"
        );
        assert!(
            line("3 nodes, RF 1: produce p99").contains("| 1.00 ms | 8.00 ms | 8.00 | yes |"),
            "{out}"
        );
        assert!(
            line("3 nodes, RF 3: produce acks=all").contains("| 2.00 | yes |"),
            "{out}"
        );
        assert!(
            line("3 nodes, RF 3: produce p99").contains("not measured"),
            "the peer's RF 3 latency failed: {out}"
        );
    }
}
