//! Command line of `ironlog-bench`, and its validation (loopback only).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::error::BenchError;

/// Bootstrap address used when neither `--bootstrap` nor `--spawn` is given.
pub(crate) const BOOTSTRAP_DEFAULT: &str = "127.0.0.1:9092";

/// Measure an Ironlog (or any Kafka-compatible) broker with librdkafka clients and print a
/// markdown table for docs/benchmarks.md.
#[derive(Debug, Clone, Parser)]
#[command(name = "ironlog-bench", version)]
pub(crate) struct Args {
    /// Broker to measure (loopback only), e.g. 127.0.0.1:9092. Default 127.0.0.1:9092.
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "spawn")]
    pub(crate) bootstrap: Option<String>,

    /// Start the broker binary ourselves on a port-0 loopback listener in a temp dir.
    #[arg(long)]
    pub(crate) spawn: bool,

    /// Broker binary for --spawn. Default: `ironlog` next to this binary, else
    /// target/release/ironlog.
    #[arg(long, value_name = "PATH", requires = "spawn")]
    pub(crate) broker_bin: Option<PathBuf>,

    /// Process id of the broker behind --bootstrap, to read its CPU time and RSS from /proc.
    #[arg(long, value_name = "PID", conflicts_with = "spawn")]
    pub(crate) broker_pid: Option<u32>,

    /// Small record counts and short runs (a smoke run, not figures to publish).
    #[arg(long)]
    pub(crate) quick: bool,

    /// Scenarios to run, comma separated. Default: all.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "SCENARIO")]
    pub(crate) only: Vec<ScenarioKind>,

    /// Records per throughput run (overrides the per-size default).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub(crate) records: Option<u64>,

    /// Upper bound on the sending phase of each run, in seconds.
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub(crate) run_seconds_max: Option<u64>,

    /// Replication factor of the topics the benchmark creates.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=16))]
    pub(crate) replication_factor: i32,

    /// Broker config for the spawned broker, passed as `--override KEY=VALUE` (repeatable),
    /// e.g. `log.cleaner.backoff.ms=100` for the compaction scenario.
    #[arg(long, value_name = "KEY=VALUE", requires = "spawn", value_parser = parse_broker_override)]
    pub(crate) broker_override: Vec<BrokerOverride>,

    /// Also run the scenarios against Apache Kafka 4.1 (one combined KRaft node from its
    /// Maven jars, 1 GB heap, as Kafka's scripts start it) after the Ironlog runs, and
    /// report both side by side. Scenarios that need an Ironlog process of their own
    /// (partitions, compaction, metrics-scrape, cluster) run on Ironlog only, but for the
    /// cluster's produce row, which runs on three Apache Kafka nodes too.
    #[arg(long, requires = "spawn")]
    pub(crate) kafka_peer: bool,

    /// A file holding Apache Kafka's Java classpath for --kafka-peer and the java-perf
    /// scenario. Default: resolved with Maven from broker/tests/clients/java (kafka_2.13
    /// and kafka-tools 4.1.1).
    #[arg(long, value_name = "FILE")]
    pub(crate) kafka_classpath: Option<PathBuf>,
}

/// One `KEY=VALUE` broker config given to a spawned broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BrokerOverride {
    pub(crate) key: String,
    pub(crate) value: String,
}

impl BrokerOverride {
    /// The `KEY=VALUE` text handed to `ironlog broker --override`.
    pub(crate) fn argument(&self) -> String {
        format!("{}={}", self.key, self.value)
    }
}

/// Keys the bench sets itself on a spawned broker; overriding them would break `--spawn`.
const RESERVED_OVERRIDE_KEYS: [&str; 4] =
    ["node.id", "log.dirs", "listeners", "advertised.listeners"];

fn parse_broker_override(text: &str) -> Result<BrokerOverride, String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got {text:?}"))?;
    let key = key.trim();
    let key_ok = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-');
    if !key_ok {
        return Err(format!("config key {key:?} is not a broker config name"));
    }
    if RESERVED_OVERRIDE_KEYS.contains(&key) {
        return Err(format!(
            "{key} is set by --spawn itself and cannot be overridden"
        ));
    }
    Ok(BrokerOverride {
        key: key.to_string(),
        value: value.to_string(),
    })
}

/// Families of measurements; each expands into one or more `Scenario`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub(crate) enum ScenarioKind {
    /// Produce then consume MB/s and msgs/s, plus broker CPU seconds per GB.
    Throughput,
    /// Produce latency p50/p99/max at a fixed rate.
    Latency,
    /// Broker RSS when idle after creating 1,000 partitions.
    IdlePartitions,
    /// 10,000 and 50,000 partitions under a 20,000 open-files limit: create time,
    /// descriptors, idle RSS, clean shutdown and restart (needs --spawn).
    Partitions,
    /// Time for 10 classic-protocol consumers to take over 100 partitions, and to settle
    /// after one leaves.
    GroupRebalance,
    /// Offset commits per second by one consumer, synchronous and asynchronous.
    OffsetCommit,
    /// MB/s removed by the log cleaner from a compacted topic (needs --spawn).
    Compaction,
    /// Produce throughput with enable.idempotence=true vs false.
    Idempotence,
    /// Transactional produce, 100 records per transaction.
    Transactions,
    /// Kafka's own ProducerPerformance and ConsumerPerformance (kafka-tools 4.1.1, run with
    /// java from the Kafka classpath) as clients: 100 B and 1 KiB records, 1 and 8
    /// partitions, acks=1 and all.
    JavaPerf,
    /// Produce throughput with the broker's /metrics scraped every second vs not scraped,
    /// and the scrape's time and size (needs --spawn).
    MetricsScrape,
    /// Three combined KRaft nodes (needs --spawn): acks=all produce at replication factor
    /// 1 and 3, failover after SIGKILL and SIGTERM, reassignment catch-up free and
    /// throttled, idle CPU with 1,000 partitions at replication factor 3.
    Cluster,
    /// One broker with PLAINTEXT, SSL and SASL_SSL (SCRAM-SHA-512) listeners (needs
    /// --spawn; only with --only): acks=all throughput and broker CPU per GB over each,
    /// and connection set-ups per second. Not in the default set.
    Security,
}

impl ScenarioKind {
    pub(crate) const ALL: [ScenarioKind; 12] = [
        ScenarioKind::IdlePartitions,
        ScenarioKind::Throughput,
        ScenarioKind::Latency,
        ScenarioKind::GroupRebalance,
        ScenarioKind::OffsetCommit,
        ScenarioKind::Compaction,
        ScenarioKind::Idempotence,
        ScenarioKind::Transactions,
        ScenarioKind::JavaPerf,
        ScenarioKind::MetricsScrape,
        ScenarioKind::Partitions,
        ScenarioKind::Cluster,
    ];
    /// Run only when `--only` names them.
    pub(crate) const OPT_IN: [ScenarioKind; 1] = [ScenarioKind::Security];
}

/// Where the broker under test comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BrokerTarget {
    /// Already running; we only connect.
    External {
        bootstrap: String,
        broker_pid: Option<u32>,
    },
    /// We start it and own its lifetime.
    Spawn { broker_bin: Option<PathBuf> },
}

impl Args {
    /// Checks what clap cannot: the bootstrap address must be a loopback `HOST:PORT`.
    pub(crate) fn broker_target(&self) -> Result<BrokerTarget, BenchError> {
        if self.spawn {
            return Ok(BrokerTarget::Spawn {
                broker_bin: self.broker_bin.clone(),
            });
        }
        let bootstrap = self.bootstrap.as_deref().unwrap_or(BOOTSTRAP_DEFAULT);
        validate_loopback(bootstrap)?;
        Ok(BrokerTarget::External {
            bootstrap: bootstrap.to_string(),
            broker_pid: self.broker_pid,
        })
    }

    /// Scenario families to run, in a fixed order (idle RSS first, on a fresh broker).
    /// `--only` may also name the opt-in families, which run after the others.
    pub(crate) fn scenario_kinds(&self) -> Vec<ScenarioKind> {
        if self.only.is_empty() {
            return ScenarioKind::ALL.to_vec();
        }
        ScenarioKind::ALL
            .into_iter()
            .chain(ScenarioKind::OPT_IN)
            .filter(|kind| self.only.contains(kind))
            .collect()
    }
}

/// Accepts `127.x.y.z:PORT`, `[::1]:PORT` and `localhost:PORT`; the port must not be 0.
pub(crate) fn validate_loopback(address: &str) -> Result<(), BenchError> {
    let not_loopback = |reason: &str| BenchError::Address {
        address: address.to_string(),
        reason: reason.to_string(),
    };
    let (host_is_loopback, port) = match address.parse::<SocketAddr>() {
        Ok(socket_addr) => (socket_addr.ip().is_loopback(), socket_addr.port()),
        Err(_) => {
            let (host, port) = address
                .rsplit_once(':')
                .ok_or_else(|| not_loopback("expected HOST:PORT"))?;
            let port: u16 = port
                .parse()
                .map_err(|_| not_loopback("port is not a number in 1..=65535"))?;
            let host_is_loopback = host.eq_ignore_ascii_case("localhost")
                || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
            (host_is_loopback, port)
        }
    };
    if !host_is_loopback {
        return Err(not_loopback("only loopback hosts are allowed"));
    }
    if port == 0 {
        return Err(not_loopback("port 0 is not connectable"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("ironlog-bench").chain(args.iter().copied()))
    }

    #[test]
    fn no_arguments_means_default_loopback_bootstrap_and_all_scenarios() {
        let args = parse(&[]).unwrap();
        assert_eq!(
            args.broker_target().unwrap(),
            BrokerTarget::External {
                bootstrap: BOOTSTRAP_DEFAULT.to_string(),
                broker_pid: None
            },
            "without flags the bench must target the default loopback broker"
        );
        assert_eq!(args.scenario_kinds(), ScenarioKind::ALL.to_vec());
        assert!(!args.quick);
        assert_eq!(args.replication_factor, 1);
    }

    #[test]
    fn bootstrap_with_pid_and_quick() {
        let args = parse(&[
            "--bootstrap",
            "localhost:19092",
            "--broker-pid",
            "42",
            "--quick",
        ])
        .unwrap();
        assert!(args.quick);
        assert_eq!(
            args.broker_target().unwrap(),
            BrokerTarget::External {
                bootstrap: "localhost:19092".to_string(),
                broker_pid: Some(42)
            }
        );
    }

    #[test]
    fn security_runs_only_when_named() {
        assert!(!parse(&[])
            .unwrap()
            .scenario_kinds()
            .contains(&ScenarioKind::Security));
        assert_eq!(
            parse(&["--spawn", "--only", "security"])
                .unwrap()
                .scenario_kinds(),
            vec![ScenarioKind::Security]
        );
        assert_eq!(
            parse(&["--only", "security,throughput"])
                .unwrap()
                .scenario_kinds(),
            vec![ScenarioKind::Throughput, ScenarioKind::Security],
            "opt-in families run after the others"
        );
    }

    #[test]
    fn spawn_with_broker_bin() {
        let args = parse(&["--spawn", "--broker-bin", "/tmp/ironlog", "--quick"]).unwrap();
        assert_eq!(
            args.broker_target().unwrap(),
            BrokerTarget::Spawn {
                broker_bin: Some(PathBuf::from("/tmp/ironlog"))
            }
        );
    }

    #[test]
    fn spawn_conflicts_with_bootstrap_and_pid() {
        assert!(
            parse(&["--spawn", "--bootstrap", "127.0.0.1:9092"]).is_err(),
            "--spawn and --bootstrap together must be rejected"
        );
        assert!(
            parse(&["--spawn", "--broker-pid", "1"]).is_err(),
            "--spawn and --broker-pid together must be rejected"
        );
        assert!(
            parse(&["--broker-bin", "/tmp/ironlog"]).is_err(),
            "--broker-bin without --spawn must be rejected"
        );
    }

    #[test]
    fn only_selects_scenarios_in_fixed_order() {
        let args = parse(&["--only", "latency,throughput"]).unwrap();
        assert_eq!(
            args.scenario_kinds(),
            vec![ScenarioKind::Throughput, ScenarioKind::Latency],
            "scenarios run in the fixed order whatever order --only lists them"
        );
        assert!(parse(&["--only", "cleaning"]).is_err());
        let args = parse(&["--only", "transactions,group-rebalance,compaction"]).unwrap();
        assert_eq!(
            args.scenario_kinds(),
            vec![
                ScenarioKind::GroupRebalance,
                ScenarioKind::Compaction,
                ScenarioKind::Transactions
            ]
        );
    }

    #[test]
    fn broker_overrides_need_spawn_and_key_value() {
        let args = parse(&[
            "--spawn",
            "--broker-override",
            "log.cleaner.backoff.ms=100",
            "--broker-override",
            "group.initial.rebalance.delay.ms=0",
        ])
        .unwrap();
        assert_eq!(
            args.broker_override
                .iter()
                .map(BrokerOverride::argument)
                .collect::<Vec<_>>(),
            vec![
                "log.cleaner.backoff.ms=100",
                "group.initial.rebalance.delay.ms=0"
            ]
        );
        assert!(
            parse(&["--broker-override", "a=1"]).is_err(),
            "--broker-override without --spawn must be rejected"
        );
        for bad in ["novalue", "=1", "bad key=1", "log.dirs=/tmp/x", "node.id=2"] {
            assert!(
                parse(&["--spawn", "--broker-override", bad]).is_err(),
                "override {bad:?} must be rejected"
            );
        }
        assert_eq!(
            parse(&["--spawn", "--broker-override", "k=a=b"])
                .unwrap()
                .broker_override[0]
                .value,
            "a=b",
            "only the first = separates key and value"
        );
    }

    #[test]
    fn numeric_bounds_are_enforced() {
        assert!(
            parse(&["--records", "0"]).is_err(),
            "zero records is refused"
        );
        assert_eq!(parse(&["--records", "1000"]).unwrap().records, Some(1000));
        assert!(parse(&["--run-seconds-max", "0"]).is_err());
        assert!(parse(&["--replication-factor", "0"]).is_err());
    }

    #[test]
    fn only_loopback_bootstrap_is_accepted() {
        for ok in [
            "127.0.0.1:9092",
            "127.1.2.3:1",
            "[::1]:9092",
            "localhost:9092",
            "LOCALHOST:1",
        ] {
            assert!(
                validate_loopback(ok).is_ok(),
                "{ok} is loopback and must be accepted"
            );
        }
        for bad in [
            "10.0.0.1:9092",
            "example.com:9092",
            "127.0.0.1",
            "127.0.0.1:0",
            "localhost:99999",
            "[::2]:9092",
        ] {
            assert!(validate_loopback(bad).is_err(), "{bad} must be rejected");
        }
        let args = parse(&["--bootstrap", "192.168.1.5:9092"]).unwrap();
        assert!(
            args.broker_target().is_err(),
            "a non-loopback --bootstrap must be refused before any connection"
        );
    }
}
