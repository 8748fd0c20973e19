//! The Grafana dashboards and Prometheus alert rules under `charts/` against the real
//! thing: the rules pass `promtool check rules` and their `promtool test rules` unit tests,
//! the PrometheusRule manifest carries the same rules, and a real Prometheus server
//! (Debian's `prometheus` package; test.sh installs it) scrapes a running 3-broker cluster
//! that real clients used (replicated topics, so follower and ISR metrics have values) and
//! an `ironlog canary` against it, evaluates the rules without error, and answers every
//! PromQL expression of every dashboard panel and alert with data — no panel refers to a
//! metric that does not exist — with every broker's series present. Missing tools fail these tests; nothing is
//! skipped.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::producer::FutureRecord;
use rdkafka::{Message, Offset, TopicPartitionList};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

fn charts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts")
}

fn rules_file() -> PathBuf {
    charts().join("alerts/ironlog-rules.yml")
}

fn run(program: &str, args: &[&str], dir: &Path) -> (bool, String) {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} (test.sh installs Debian's prometheus package): {e}")
        });
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

#[test]
fn alert_rules_pass_promtool_and_their_unit_tests() {
    let dir = charts().join("alerts");
    let (ok, out) = run("promtool", &["check", "rules", "ironlog-rules.yml"], &dir);
    assert!(ok, "promtool check rules failed:\n{out}");
    let (ok, out) = run(
        "promtool",
        &["test", "rules", "ironlog-rules.test.yml"],
        &dir,
    );
    assert!(ok, "promtool test rules failed:\n{out}");

    // The PrometheusRule manifest's spec.groups is the rules file's groups, indented.
    let rules = std::fs::read_to_string(rules_file()).expect("read the rules file");
    let groups = &rules[rules.find("groups:").expect("the rules file has groups")..];
    let indented: String = groups.lines().map(|l| format!("  {l}\n")).collect();
    let manifest = std::fs::read_to_string(dir.join("ironlog-prometheusrule.yaml"))
        .expect("read the PrometheusRule manifest");
    assert!(manifest.contains("kind: PrometheusRule"));
    let spec = &manifest[manifest.find("spec:\n").expect("the manifest has a spec") + 6..];
    assert_eq!(
        spec, indented,
        "ironlog-prometheusrule.yaml must carry exactly the groups of ironlog-rules.yml"
    );
}

/// Every alert's expression (one line each, see the rules file's header).
fn alert_exprs() -> Vec<(String, String)> {
    let rules = std::fs::read_to_string(rules_file()).expect("read the rules file");
    let mut out = Vec::new();
    let mut alert = String::new();
    for line in rules.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("- alert: ") {
            alert = name.to_string();
        } else if let Some(expr) = line.strip_prefix("expr: ") {
            out.push((alert.clone(), expr.to_string()));
        }
    }
    assert!(out.len() >= 10, "the rules file has alerts: {out:?}");
    out
}

/// An alert's value: its expression without the final threshold comparison (which is
/// empty while the cluster is healthy).
fn alert_value(expr: &str) -> String {
    for op in [" == ", " != ", " >= ", " <= ", " > ", " < "] {
        if let Some((value, threshold)) = expr.rsplit_once(op) {
            if threshold.trim().parse::<f64>().is_ok() {
                return value.to_string();
            }
        }
    }
    panic!("alert expression {expr:?} does not end in a comparison with a number")
}

/// Every panel query of every dashboard, and what each template variable queries, with
/// Grafana's variables replaced as a dashboard showing everything would.
fn dashboard_exprs() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let dir = charts().join("dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("charts/dashboards")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "cluster, brokers, topics, consumer-lag and canary dashboards: {files:?}"
    );
    let mut uids = Vec::new();
    for file in files {
        let name = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let dashboard: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("read a dashboard"))
                .unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
        uids.push(dashboard["uid"].as_str().unwrap_or_default().to_string());
        for var in dashboard["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(query) = var["query"]
                .as_str()
                .and_then(|q| q.strip_prefix("label_values("))
            {
                let metric = query.split(',').next().unwrap_or_default().trim();
                out.push((
                    format!("{name} variable {}", var["name"]),
                    metric.to_string(),
                ));
            }
        }
        let panels = dashboard["panels"].as_array().expect("panels");
        assert!(!panels.is_empty(), "{name} has panels");
        for panel in panels {
            let targets = panel["targets"].as_array().expect("a panel has targets");
            assert!(
                !targets.is_empty(),
                "{name}: panel {} has no query",
                panel["title"]
            );
            for target in targets {
                let expr = target["expr"].as_str().expect("a target has an expr");
                let expr = expr
                    .replace("$__rate_interval", "1m")
                    .replace("$instance", ".*")
                    .replace("$topic", ".*")
                    .replace("$consumergroup", ".*")
                    .replace("$broker", ".*");
                out.push((format!("{name}: {}", panel["title"]), expr));
            }
        }
    }
    let mut unique = uids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        uids.len(),
        "dashboard uids must differ: {uids:?}"
    );
    out
}

/// A Prometheus server of this test; killed when dropped.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Scrapes each `(job, targets)` every second, with the alert rules loaded.
    fn start(jobs: &[(&str, Vec<String>)]) -> Prometheus {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("prometheus.yml");
        let rules = rules_file().canonicalize().expect("the rules file exists");
        let scrapes: String = jobs
            .iter()
            .map(|(job, targets)| {
                let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
                format!(
                    "  - job_name: {job}\n    static_configs:\n      - targets: [{}]\n",
                    targets.join(", ")
                )
            })
            .collect();
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n{scrapes}",
                rules.display()
            ),
        )
        .expect("write prometheus.yml");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run prometheus (test.sh installs Debian's prometheus package): {e}")
            });
        let prometheus = Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        wait_until(WAIT, "Prometheus is ready", || {
            curl(&[&format!("{}/-/ready", prometheus.url)]).is_some_and(|b| b.contains("Ready"))
        });
        prometheus
    }

    /// The result vector of an instant query (None when the query failed).
    fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let body = curl(&[
            "-G",
            &format!("{}/api/v1/query", self.url),
            "--data-urlencode",
            &format!("query={expr}"),
        ])
        .ok_or("no answer from Prometheus")?;
        let answer: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        if answer["status"] != "success" {
            return Err(format!("query failed: {body}"));
        }
        Ok(answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }
}

fn curl(args: &[&str]) -> Option<String> {
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// What the dashboards show: produce to a replicated topic, a refused produce, a group
/// that consumed and committed part of a topic.
fn make_traffic(broker: &TestCluster) {
    let topic = topic_name("charted");
    broker.create_replicated_topic(&topic, 3, 3, WAIT);
    let values: Vec<String> = (0..20).map(|i| format!("v{i}")).collect();
    send_all(&broker.producer(), &topic, &values);
    let small = topic_name("charted-small");
    // One replica, so the refusal is the record's size and not the ISR.
    broker.create_topic(
        &small,
        1,
        &[("max.message.bytes", "200"), ("min.insync.replicas", "1")],
    );
    let refused = block_on(
        broker.producer().send(
            FutureRecord::<(), String>::to(&small)
                .partition(0)
                .payload(&"x".repeat(2_000)),
            Duration::from_secs(10),
        ),
    );
    assert!(refused.is_err(), "the oversized record must be refused");
    let consumer = broker.consumer_with(&[("group.id", "charted-group")]);
    consumer.subscribe(&[&topic]).expect("subscribe");
    let mut last = None;
    wait_until(WAIT, "the group consumed a record", || {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            if m.payload().is_some() {
                last = Some((m.partition(), m.offset()));
            }
        }
        last.is_some()
    });
    let (partition, offset) = last.unwrap_or((0, 0));
    let mut commit = TopicPartitionList::new();
    commit
        .add_partition_offset(&topic, partition, Offset::Offset(offset + 1))
        .expect("offset");
    consumer.commit(&commit, CommitMode::Sync).expect("commit");
}

#[test]
fn prometheus_scrapes_a_three_broker_cluster_and_a_canary_and_every_panel_and_alert_query_returns_data(
) {
    let cluster = replicated_cluster_spec().start();
    cluster.wait_ready(WAIT);
    make_traffic(&cluster);
    let canary = CanarySpec::new(IRONLOG_BINARY, &cluster.bootstrap())
        .set("canary.interval.ms", "200")
        .start();
    canary.wait_for_metrics(WAIT, "records read back", |s| {
        s.sum("ironlog_canary_records_consumed_total", &[]) >= 3.0
    });
    let brokers: Vec<String> = cluster
        .node_ids()
        .into_iter()
        .map(|id| {
            cluster
                .node(id)
                .listener(ADMIN_LISTENER)
                .unwrap_or_else(|| panic!("broker {id} printed its admin listener"))
        })
        .collect();
    let prometheus = Prometheus::start(&[
        ("ironlog", brokers.clone()),
        ("ironlog-canary", vec![canary.listener().to_string()]),
    ]);
    // Rates and derivatives need two scrapes of every series.
    wait_until(
        WAIT,
        "Prometheus scraped the broker and the canary twice",
        || {
            prometheus
            .query("count(deriv(kafka_consumergroup_lag[10m])) and count(rate(kafka_server_brokertopicmetrics_bytesin_total[1m])) and count(rate(ironlog_canary_records_end_to_end_latency_seconds_bucket[1m]) > 0)")
            .is_ok_and(|r| !r.is_empty())
        },
    );
    for (job, targets) in [("ironlog", brokers.len()), ("ironlog-canary", 1)] {
        assert_eq!(
            prometheus
                .query(&format!("up{{job=\"{job}\"}} == 1"))
                .map(|r| r.len()),
            Ok(targets),
            "every {job} target is up"
        );
    }
    // Every broker reports its own replication view: leaders and replicas on all three.
    wait_until(WAIT, "every broker's partition gauges were scraped", || {
        prometheus
            .query("count(count by (instance) (kafka_server_replicamanager_partitioncount > 0))")
            .is_ok_and(|r| {
                r.first().and_then(|v| v["value"][1].as_str()) == Some(&brokers.len().to_string())
            })
    });

    let mut empty = Vec::new();
    let queries: Vec<(String, String)> = dashboard_exprs()
        .into_iter()
        .chain(
            alert_exprs()
                .into_iter()
                .map(|(alert, expr)| (format!("alert {alert}"), alert_value(&expr))),
        )
        .collect();
    for (what, expr) in &queries {
        match prometheus.query(expr) {
            Ok(result) if !result.is_empty() => {}
            Ok(_) => empty.push(format!("{what}: `{expr}` returned no data")),
            Err(e) => empty.push(format!("{what}: `{expr}` failed: {e}")),
        }
    }
    assert!(
        empty.is_empty(),
        "{} of {} queries returned nothing:\n{}",
        empty.len(),
        queries.len(),
        empty.join("\n")
    );

    // Prometheus evaluates every rule without error.
    wait_until(WAIT, "every alert rule was evaluated", || {
        let Some(body) = curl(&[&format!("{}/api/v1/rules", prometheus.url)]) else {
            return false;
        };
        let rules: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let all: Vec<&Value> = rules["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().into_iter().flatten())
            .collect();
        if let Some(bad) = all.iter().find(|r| r["health"] == "err") {
            panic!("Prometheus could not evaluate a rule: {bad}");
        }
        all.len() == alert_exprs().len() && all.iter().all(|r| r["health"] == "ok")
    });
}
