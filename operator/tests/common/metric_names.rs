//! The metric names the operator's Grafana dashboard and alert rules query
//! (`charts/ironlog-operator/dashboards/`, `charts/ironlog-operator/files/`), and the check
//! that an exposition (`/metrics`) has each: no panel or alert may name a metric the
//! operator does not serve.

use std::collections::BTreeSet;

use super::repo_root;

/// Metrics the queries use that Prometheus makes, not the operator.
const PROMETHEUS_OWN: &[&str] = &["up"];

/// Every `ironlog_operator_*` (and Prometheus' own) name in the dashboard's and the rules'
/// expressions, histogram series (`_bucket`, `_sum`, `_count`) named by their histogram.
pub fn queried() -> BTreeSet<String> {
    let chart = repo_root().join("charts/ironlog-operator");
    let mut text = String::new();
    for file in [
        "dashboards/ironlog-operator.json",
        "files/ironlog-operator-rules.yml",
    ] {
        let path = chart.join(file);
        text.push_str(
            &std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display())),
        );
    }
    let mut names = BTreeSet::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("ironlog_operator_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(&name)
            .to_string();
        names.insert(base);
    }
    assert!(
        names.len() >= 5,
        "the dashboard and the rules query the operator's metrics: {names:?}"
    );
    names
}

/// The queried names `exposition` (Prometheus' text format) has no `# TYPE` line for.
pub fn missing_from(exposition: &str) -> Vec<String> {
    let served: BTreeSet<&str> = exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .chain(PROMETHEUS_OWN.iter().copied())
        .collect();
    queried()
        .into_iter()
        .filter(|name| !served.contains(name.as_str()))
        .collect()
}
