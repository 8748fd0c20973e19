//! `ironlog-bench`: measures a Kafka-compatible broker (normally Ironlog) with librdkafka
//! clients (and Kafka's own Java perf tools) and prints a markdown report. See docs/benchmarks.md for the method.
//!
//! Data flow: parse args → start or locate the broker → expand scenarios (`scenario::plan`)
//! → run each, bounded by counts and deadlines, collecting `report::ScenarioReport`s
//! (a failed scenario is a row, not an abort) → print `report::render` to stdout.
//! Progress goes to stderr via `tracing`.

mod args;
mod broker_process;
mod clients;
mod cluster;
mod compaction;
mod error;
mod group_rebalance;
mod idempotence;
mod idle_partitions;
mod java_perf;
mod latency;
mod metrics_scrape;
mod offset_commit;
mod partition_scale;
mod proc_stats;
mod report;
mod scenario;
mod security;
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
    let mut ironlog_startup = None;
    let (spawned, bootstrap, broker_pid, broker_description) = match target {
        BrokerTarget::Spawn { broker_bin } => {
            let binary = broker_bin.unwrap_or_else(broker_process::default_broker_binary);
            broker_binary = Some(binary.clone());
            let started = std::time::Instant::now();
            let broker = BrokerProcess::spawn(&binary, &args.broker_override)?;
            ironlog_startup = Some(started.elapsed());
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
    // One Kafka classpath for the peer and for the Java perf tools, resolved before any run.
    let java_classpath: Result<String, String> =
        if args.kafka_peer || scenarios.iter().any(Scenario::needs_java) {
            kafka_classpath(args.kafka_classpath.as_deref()).map_err(|e| format!("{e:#}"))
        } else {
            Err("no scenario of this run needs it".to_string())
        };
    if let (true, Err(error)) = (args.kafka_peer, &java_classpath) {
        anyhow::bail!("--kafka-peer needs Apache Kafka's classpath: {error}");
    }
    let mut created_topics: Vec<String> = Vec::new();
    let target = Target {
        bootstrap: &bootstrap,
        broker_pid,
        log_dirs: spawned.as_ref().map(|b| b.log_dirs.as_path()),
        admin: spawned.as_ref().and_then(|b| b.admin.as_deref()),
        replication_factor: args.replication_factor,
        broker_binary: broker_binary.as_deref(),
        broker_overrides: &args.broker_override,
        java_classpath: java_classpath.as_deref().map_err(String::as_str),
    };
    let reports = run_scenarios(&scenarios, &target, &topic_prefix, &mut created_topics);
    let peak_rss_bytes = broker_pid.and_then(peak_rss);
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
    // Ironlog is done: the peer, if any, runs alone on the machine.
    drop(spawned);

    if args.kafka_peer {
        let ironlog = report::BrokerRun {
            reports: &reports,
            startup: ironlog_startup,
            peak_rss_bytes,
        };
        let classpath = java_classpath
            .as_deref()
            .map_err(|e| anyhow::anyhow!("Apache Kafka's classpath: {e}"))?;
        let (peer_info, peer_reports, peer) =
            run_kafka_peer(&args, classpath, &scenarios, run_id, &info)?;
        println!(
            "{}",
            report::render(&peer_info, &peer_reports, peer.peak_rss_bytes)
        );
        let peer = report::BrokerRun {
            reports: &peer_reports,
            ..peer
        };
        println!("{}", report::render_side_by_side(&ironlog, &peer));
    }
    Ok(())
}

/// Runs `scenarios` in order against `target`, each a report row whatever happens.
fn run_scenarios(
    scenarios: &[Scenario],
    target: &Target<'_>,
    topic_prefix: &str,
    created_topics: &mut Vec<String>,
) -> Vec<ScenarioReport> {
    let mut reports = Vec::with_capacity(scenarios.len());
    for (index, scenario) in scenarios.iter().enumerate() {
        tracing::info!(scenario = %scenario.label(), bootstrap = target.bootstrap, "running");
        let outcome = run_scenario(scenario, index, target, topic_prefix, created_topics);
        if let Err(error) = &outcome {
            tracing::warn!(scenario = %scenario.label(), %error, "scenario failed");
        }
        reports.push(ScenarioReport {
            scenario: scenario.clone(),
            outcome,
        });
    }
    reports
}

fn peak_rss(pid: u32) -> Option<u64> {
    match proc_stats::status_bytes(pid, "VmHWM") {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            tracing::warn!(error = %e, "could not read broker peak RSS");
            None
        }
    }
}

/// The same scenarios (those a plain Kafka node can take) against Apache Kafka 4.1 started
/// from its Maven jars: its report header, its reports, and its start-up time and peak RSS.
fn run_kafka_peer(
    args: &Args,
    classpath: &str,
    scenarios: &[Scenario],
    run_id: u64,
    ironlog_info: &RunInfo,
) -> anyhow::Result<(RunInfo, Vec<ScenarioReport>, report::BrokerRun<'static>)> {
    let started = std::time::Instant::now();
    let kafka = ironlog_testkit::ApacheKafka::try_start(classpath, &[])
        .map_err(|e| anyhow::anyhow!("Apache Kafka did not start: {e}"))?;
    let startup = started.elapsed();
    let peer_scenarios: Vec<Scenario> = scenarios
        .iter()
        .filter(|s| !s.needs_ironlog_process())
        .cloned()
        .collect();
    let target = Target {
        bootstrap: kafka.bootstrap(),
        broker_pid: Some(kafka.pid()),
        log_dirs: None,
        admin: None,
        replication_factor: args.replication_factor,
        broker_binary: None,
        broker_overrides: &[],
        java_classpath: Ok(classpath),
    };
    let mut topics = Vec::new();
    let prefix = format!("kafka-bench-{run_id}");
    let mut reports = run_scenarios(&peer_scenarios, &target, &prefix, &mut topics);
    let peak_rss_bytes = peak_rss(kafka.pid());
    let bootstrap_single = kafka.bootstrap().to_string();
    let pid_single = kafka.pid();
    // The single node is done: the three-node peer runs alone.
    drop(kafka);
    reports.extend(run_kafka_cluster_peer(classpath, scenarios, &prefix));
    let info = RunInfo {
        command_line: ironlog_info.command_line.clone(),
        broker: format!(
            "Apache Kafka 4.1 (kafka_2.13 from Maven, one combined KRaft node, {}) on {}, pid {}, \
             started after the Ironlog runs; the 3-node cluster produce rows, if run, on three \
             such nodes of a cluster of their own",
            ironlog_testkit::apache_kafka::KAFKA_HEAP,
            bootstrap_single,
            pid_single
        ),
        machine: ironlog_info.machine.clone(),
        quick: ironlog_info.quick,
    };
    Ok((
        info,
        reports,
        report::BrokerRun {
            reports: &[],
            startup: Some(startup),
            peak_rss_bytes,
        },
    ))
}

/// The cluster produce rows (acks=all at RF 1 and 3) on three combined Apache Kafka nodes
/// of a cluster of their own, as Ironlog's `cluster` rows run on three Ironlog nodes; the
/// other cluster rows need Ironlog processes and stay Ironlog's.
fn run_kafka_cluster_peer(
    classpath: &str,
    scenarios: &[Scenario],
    prefix: &str,
) -> Vec<ScenarioReport> {
    let specs = scenarios.iter().filter_map(|s| match s {
        Scenario::Cluster(scenario::ClusterSpec::Produce(spec)) => Some(spec),
        _ => None,
    });
    specs
        .map(|spec| {
            tracing::info!(
                nodes = cluster::CLUSTER_NODES,
                "starting Apache Kafka nodes"
            );
            let outcome = ironlog_testkit::ApacheKafkaCluster::try_start(
                classpath,
                cluster::CLUSTER_NODES.unsigned_abs() as usize,
                &[],
            )
            .map_err(|e| format!("Apache Kafka's three nodes did not start: {e}"))
            .map(|kafka| {
                let bootstrap = kafka.bootstrap();
                tracing::info!(%bootstrap, "running the cluster produce rows on Apache Kafka");
                Outcome::Cluster(cluster::ClusterOutcome::Produce(cluster::produce(
                    &bootstrap, prefix, spec,
                )))
            });
            ScenarioReport {
                scenario: Scenario::Cluster(scenario::ClusterSpec::Produce(spec.clone())),
                outcome,
            }
        })
        .collect()
}

/// Lines of Maven's output quoted when the classpath cannot be resolved.
const MAVEN_OUTPUT_TAIL_LINES: usize = 5;

/// Apache Kafka's classpath: the file given, else what Maven resolves for the Java client
/// sessions' project (it holds kafka_2.13, the broker, and kafka-tools, the perf tools).
fn kafka_classpath(file: Option<&Path>) -> anyhow::Result<String> {
    if let Some(file) = file {
        return std::fs::read_to_string(file)
            .map(|cp| cp.trim().to_string())
            .map_err(|e| anyhow::anyhow!("reading --kafka-classpath {}: {e}", file.display()));
    }
    let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("../broker/tests/clients/java");
    let out = tempfile::NamedTempFile::new()?;
    // Maven's output is captured: the report owns stdout.
    let maven = std::process::Command::new("mvn")
        .args(["-B", "-q", "dependency:build-classpath"])
        .arg(format!("-Dmdep.outputFile={}", out.path().display()))
        .current_dir(&project)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run mvn in {}: {e}", project.display()))?;
    if !maven.status.success() {
        let output = String::from_utf8_lossy(&maven.stdout);
        let tail: Vec<&str> = output.lines().rev().take(MAVEN_OUTPUT_TAIL_LINES).collect();
        anyhow::bail!(
            "mvn dependency:build-classpath in {} failed ({}); pass --kafka-classpath. \
             Maven said: {}",
            project.display(),
            maven.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
        );
    }
    Ok(std::fs::read_to_string(out.path())?.trim().to_string())
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
    /// Kafka's classpath for the Java perf tools, or why there is none.
    java_classpath: Result<&'a str, &'a str>,
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
        java_classpath,
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
        Scenario::JavaPerf(spec) => {
            let classpath = java_classpath
                .map_err(|e| format!("no Kafka classpath for the Java perf tools: {e}"))?;
            let topic = topic(
                created_topics,
                &format!(
                    "java-{}b-{}p-acks{}",
                    spec.record_bytes,
                    spec.partitions,
                    spec.acks.config_value()
                ),
            );
            java_perf::run(
                classpath,
                bootstrap,
                &topic,
                spec,
                replication_factor,
                broker_pid,
            )
            .map(Outcome::JavaPerf)
        }
        Scenario::Cluster(spec) => {
            // Topics of the scenario's own cluster, which goes with its data dirs.
            cluster::run(broker_binary, broker_overrides, topic_prefix, spec).map(Outcome::Cluster)
        }
        // A broker of its own with three listeners; its topics go with its data dir.
        Scenario::Security(spec) => {
            security::run(broker_binary, broker_overrides, topic_prefix, spec)
                .map(Outcome::Security)
        }
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
