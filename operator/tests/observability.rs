//! The operator's alert rules and Grafana dashboard (`charts/ironlog-operator`): the rules
//! pass `promtool check rules` and their `promtool test rules` unit tests, and every metric a
//! panel or an alert queries is one `ironlog_operator::metrics` serves. (The running
//! operator's own `/metrics` is checked the same way in `manifests.rs`.) A missing promtool
//! fails the test (test.sh installs Debian's prometheus package); nothing is skipped.

mod common;

use std::process::{Command, Stdio};

use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher;

fn promtool(args: &[&str]) -> (bool, String) {
    let dir = common::repo_root().join("charts/ironlog-operator/files");
    let output = Command::new("promtool")
        .args(args)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run promtool (test.sh installs Debian's prometheus package): {e}")
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
fn operator_alert_rules_pass_promtool_and_their_unit_tests() {
    let (ok, out) = promtool(&["check", "rules", "ironlog-operator-rules.yml"]);
    assert!(ok, "promtool check rules failed:\n{out}");
    let (ok, out) = promtool(&["test", "rules", "ironlog-operator-rules.test.yml"]);
    assert!(ok, "promtool test rules failed:\n{out}");
}

#[test]
fn every_metric_the_dashboard_and_rules_query_is_served() {
    let metrics = ironlog_operator::metrics::Metrics::new().expect("metrics register");
    // every series once: a reconcile of each controller, one failed, one cluster with a status
    metrics.start("kafkacluster").done(None);
    metrics.start("topic").done(Some("Kafka"));
    let mut clusters: Writer<ironlog_operator::crd::KafkaCluster> = Writer::default();
    metrics.observe_clusters(clusters.as_reader());
    let cluster = serde_json::from_value(serde_json::json!({
        "apiVersion": "ironlog.dev/v1alpha1", "kind": "KafkaCluster",
        "metadata": {"name": "c", "namespace": "kafka"},
        "spec": {"nodePools": [{"name": "a", "replicas": 1, "roles": ["broker", "controller"],
                                "storage": {"size": "1Gi"}}],
                  "listeners": [{"name": "PLAINTEXT", "port": 9092, "type": "internal"}]},
        "status": {"brokers": "1/1", "conditions": [{"type": "Ready", "status": "True",
            "reason": "R", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
    }))
    .expect("a KafkaCluster");
    clusters.apply_watcher_event(&watcher::Event::Apply(cluster));
    let exposition = metrics.render();
    let missing = common::metric_names::missing_from(&exposition);
    assert!(
        missing.is_empty(),
        "the dashboard or the alert rules query metrics operator/src/metrics.rs does not serve: \
         {missing:?}\n{exposition}"
    );
}
