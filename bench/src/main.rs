//! `ironlog-bench`: measures a Kafka-compatible broker (normally Ironlog) with librdkafka
//! clients and prints a markdown report. See docs/benchmarks.md for the method.
//!
//! Data flow: parse args → start or locate the broker → expand scenarios (`scenario::plan`)
//! → run each, bounded by counts and deadlines, collecting `report::ScenarioReport`s
//! (a failed scenario is a row, not an abort) → print `report::render` to stdout.
//! Progress goes to stderr via `tracing`.

mod args;
mod broker_process;
mod clients;
mod compaction;
mod error;
mod group_rebalance;
mod idempotence;
mod idle_partitions;
mod latency;
mod metrics_scrape;
mod offset_commit;
mod partition_scale;
mod proc_stats;
mod report;
mod scenario;
mod throughput;
mod transactions;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;

use crate::args::{Args, BrokerTarget};
use crate::broker_process::BrokerProcess;
use crate::report::{Outcome, RunInfo, ScenarioReport};
use crate::scenario::Scenario;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ironlog-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let target = args.broker_target()?;

    // Keep the spawned broker alive until the report is printed; dropping it kills it.
    let mut broker_binary: Option<PathBuf> = None;
    let (spawned, bootstrap, broker_pid, broker_description) = match target {
        BrokerTarget::Spawn { broker_bin } => {
            let binary = broker_bin.unwrap_or_else(broker_process::default_broker_binary);
            broker_binary = Some(binary.clone());
            let broker = BrokerProcess::spawn(&binary, &args.broker_override)?;
            let overrides: Vec<String> =
                args.broker_override.iter().map(|o| o.argument()).collect();
            let description = format!(
                "spawned `{}` (pid {}) on {}, data in a temp dir{}",
                broker.binary.display(),
                broker.pid(),
                broker.bootstrap,
                if overrides.is_empty() {
                    String::new()
                } else {
                    format!(", broker overrides: {}", overrides.join(" "))
                }
            );
            let (bootstrap, pid) = (broker.bootstrap.clone(), Some(broker.pid()));
            (Some(broker), bootstrap, pid, description)
        }
        BrokerTarget::External {
            bootstrap,
            broker_pid,
        } => {
            let description = match broker_pid {
                Some(pid) => format!("running at {bootstrap} (pid {pid})"),
                None => format!("running at {bootstrap} (pid unknown: no CPU or RSS figures)"),
            };
            (None, bootstrap, broker_pid, description)
        }
    };

    let run_id = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let topic_prefix = format!("ironlog-bench-{run_id}");
    let scenarios = scenario::plan(&args);
    let mut created_topics: Vec<String> = Vec::new();
    let mut reports = Vec::with_capacity(scenarios.len());
    let target = Target {
        bootstrap: &bootstrap,
        broker_pid,
        log_dirs: spawned.as_ref().map(|b| b.log_dirs.as_path()),
        admin: spawned.as_ref().and_then(|b| b.admin.as_deref()),
        replication_factor: args.replication_factor,
        broker_binary: broker_binary.as_deref(),
        broker_overrides: &args.broker_override,
    };
    for (index, scenario) in scenarios.into_iter().enumerate() {
        tracing::info!(scenario = %scenario.label(), "running");
        let outcome = run_scenario(
            &scenario,
            index,
            &target,
            &topic_prefix,
            &mut created_topics,
        );
        if let Err(error) = &outcome {
            tracing::warn!(scenario = %scenario.label(), %error, "scenario failed");
        }
        reports.push(ScenarioReport { scenario, outcome });
    }

    let peak_rss_bytes = broker_pid.and_then(|pid| match proc_stats::status_bytes(pid, "VmHWM") {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            tracing::warn!(error = %e, "could not read broker peak RSS");
            None
        }
    });
    let info = RunInfo {
        command_line: report::command_line(&std::env::args().skip(1).collect::<Vec<_>>()),
        broker: broker_description,
        machine: machine_description(),
        quick: args.quick,
    };
    println!("{}", report::render(&info, &reports, peak_rss_bytes));

    if spawned.is_none() && !created_topics.is_empty() {
        // Someone else's broker: do not leave 1,000+ bench partitions behind.
        tracing::info!(topics = created_topics.len(), "deleting bench topics");
        clients::delete_topics(&bootstrap, &created_topics);
    }
    drop(spawned);
    Ok(())
}

/// The broker under test, as the scenarios see it.
struct Target<'a> {
    bootstrap: &'a str,
    broker_pid: Option<u32>,
    /// The spawned broker's `log.dirs`; `None` for an external broker.
    log_dirs: Option<&'a Path>,
    /// The spawned broker's admin listener (`HOST:PORT`); `None` for an external broker.
    admin: Option<&'a str>,
    replication_factor: i32,
    /// The broker binary of `--spawn`, for scenarios that start brokers of their own.
    broker_binary: Option<&'a Path>,
    broker_overrides: &'a [args::BrokerOverride],
}

fn run_scenario(
    scenario: &Scenario,
    index: usize,
    target: &Target<'_>,
    topic_prefix: &str,
    created_topics: &mut Vec<String>,
) -> Result<Outcome, String> {
    let Target {
        bootstrap,
        broker_pid,
        log_dirs,
        admin,
        replication_factor,
        broker_binary,
        broker_overrides,
    } = *target;
    // Names a topic of this scenario and records it for clean-up.
    let topic = |created_topics: &mut Vec<String>, suffix: &str| {
        let name = format!("{topic_prefix}-{index:02}-{suffix}");
        created_topics.push(name.clone());
        name
    };
    match scenario {
        Scenario::Throughput(spec) => {
            let topic = topic(
                created_topics,
                &format!(
                    "{}b-{}p-acks{}",
                    spec.record_bytes,
                    spec.partitions,
                    spec.acks.config_value()
                ),
            );
            throughput::run(bootstrap, &topic, spec, replication_factor, broker_pid)
                .map(Outcome::Throughput)
        }
        Scenario::Latency(spec) => {
            let topic = topic(created_topics, "latency");
            latency::run(bootstrap, &topic, spec, replication_factor).map(Outcome::Latency)
        }
        Scenario::IdlePartitions(spec) => {
            let topics = idle_partitions::topic_names(topic_prefix, spec);
            created_topics.extend(topics.iter().cloned());
            idle_partitions::run(bootstrap, &topics, spec, replication_factor, broker_pid)
                .map(Outcome::IdlePartitions)
        }
        Scenario::PartitionScale(spec) => {
            // Topics of the scenario's own brokers, which it removes with their data dirs.
            let topics = partition_scale::topic_names(topic_prefix, spec);
            partition_scale::run(broker_binary, broker_overrides, &topics, spec)
                .map(Outcome::PartitionScale)
        }
        Scenario::GroupRebalance(spec) => group_rebalance::run(
            bootstrap,
            &topic(created_topics, "rebalance"),
            spec,
            replication_factor,
        )
        .map(Outcome::GroupRebalance),
        Scenario::OffsetCommit(spec) => offset_commit::run(
            bootstrap,
            &topic(created_topics, "commits"),
            spec,
            replication_factor,
        )
        .map(Outcome::OffsetCommit),
        Scenario::Compaction(spec) => compaction::run(
            bootstrap,
            &topic(created_topics, "compacted"),
            spec,
            replication_factor,
            log_dirs,
        )
        .map(Outcome::Compaction),
        Scenario::Idempotence(spec) => {
            let plain = topic(created_topics, "plain");
            let idempotent = topic(created_topics, "idempotent");
            idempotence::run(
                bootstrap,
                (&plain, &idempotent),
                spec,
                replication_factor,
                broker_pid,
            )
            .map(Outcome::Idempotence)
        }
        Scenario::MetricsScrape(spec) => {
            let quiet = topic(created_topics, "unscraped");
            let scraped = topic(created_topics, "scraped");
            metrics_scrape::run(
                bootstrap,
                admin,
                (&quiet, &scraped),
                spec,
                replication_factor,
                broker_pid,
            )
            .map(Outcome::MetricsScrape)
        }
        Scenario::Transactions(spec) => transactions::run(
            bootstrap,
            &topic(created_topics, "transactions"),
            spec,
            replication_factor,
        )
        .map(Outcome::Transactions),
    }
    .map_err(|e| e.to_string())
}

/// CPU count, kernel and librdkafka version, for the report header.
fn machine_description() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get().to_string())
        .unwrap_or_else(|_| "?".to_string());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string());
    let (_, librdkafka) = rdkafka::util::get_rdkafka_version();
    format!("{cores} cores, Linux {kernel}, librdkafka {librdkafka}")
}
