//! `metrics`: the operator's own Prometheus metrics and its HTTP endpoint (`/metrics`,
//! `/health`). Per controller (`kafkacluster`, `topic`): reconciliations by result,
//! failures by reason, reconcile duration. Per KafkaCluster: what its brokers report at
//! its last reconcile (`cluster::health`), removed with the cluster.
//!
//! | metric | labels |
//! |---|---|
//! | `ironlog_operator_reconciliations_total` | `controller`, `result` (`ok`, `error`) |
//! | `ironlog_operator_reconcile_failures_total` | `controller`, `reason` (the error's kind) |
//! | `ironlog_operator_reconcile_duration_seconds` | `controller` |
//! | `ironlog_operator_cluster_brokers_ready` | `namespace`, `cluster` |
//! | `ironlog_operator_cluster_under_replicated_partitions` | `namespace`, `cluster` |
//! | `ironlog_operator_cluster_offline_partitions` | `namespace`, `cluster` |

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::routing::get;
use axum::Router;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::cluster::health::ClusterHealth;

/// The operator's metrics; cheap to share (`Arc`).
pub struct Metrics {
    registry: Registry,
    reconciliations: IntCounterVec,
    failures: IntCounterVec,
    duration: HistogramVec,
    brokers_ready: IntGaugeVec,
    under_replicated: IntGaugeVec,
    offline: IntGaugeVec,
}

impl Metrics {
    pub fn new() -> prometheus::Result<Arc<Metrics>> {
        let registry = Registry::new();
        let reconciliations = IntCounterVec::new(
            Opts::new(
                "ironlog_operator_reconciliations_total",
                "Reconciliations by controller and result.",
            ),
            &["controller", "result"],
        )?;
        let failures = IntCounterVec::new(
            Opts::new(
                "ironlog_operator_reconcile_failures_total",
                "Failed reconciliations by controller and reason.",
            ),
            &["controller", "reason"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "ironlog_operator_reconcile_duration_seconds",
                "How long a reconciliation took.",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            &["controller"],
        )?;
        let cluster_gauge = |name: &str, help: &str| {
            IntGaugeVec::new(Opts::new(name, help), &["namespace", "cluster"])
        };
        let brokers_ready = cluster_gauge(
            "ironlog_operator_cluster_brokers_ready",
            "Brokers the cluster lists as serving (registered and unfenced).",
        )?;
        let under_replicated = cluster_gauge(
            "ironlog_operator_cluster_under_replicated_partitions",
            "Partitions with fewer in-sync replicas than replicas.",
        )?;
        let offline = cluster_gauge(
            "ironlog_operator_cluster_offline_partitions",
            "Partitions without a leader.",
        )?;
        registry.register(Box::new(reconciliations.clone()))?;
        registry.register(Box::new(failures.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(brokers_ready.clone()))?;
        registry.register(Box::new(under_replicated.clone()))?;
        registry.register(Box::new(offline.clone()))?;
        Ok(Arc::new(Metrics {
            registry,
            reconciliations,
            failures,
            duration,
            brokers_ready,
            under_replicated,
            offline,
        }))
    }

    /// What cluster `namespace/cluster`'s brokers reported last.
    pub fn set_cluster_health(&self, namespace: &str, cluster: &str, health: ClusterHealth) {
        let labels = [namespace, cluster];
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.brokers_ready
            .with_label_values(&labels)
            .set(count(health.brokers));
        self.under_replicated
            .with_label_values(&labels)
            .set(count(health.under_replicated_partitions));
        self.offline
            .with_label_values(&labels)
            .set(count(health.offline_partitions));
    }

    /// A deleted cluster's gauges go with it.
    pub fn forget_cluster(&self, namespace: &str, cluster: &str) {
        for gauge in [&self.brokers_ready, &self.under_replicated, &self.offline] {
            let _ = gauge.remove_label_values(&[namespace, cluster]);
        }
    }

    /// A reconcile of `controller` begins; [`ReconcileTimer::done`] records it.
    pub fn start(self: &Arc<Self>, controller: &'static str) -> ReconcileTimer {
        ReconcileTimer {
            metrics: Arc::clone(self),
            controller,
            started: Instant::now(),
        }
    }

    /// The metrics in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::warn!(error = %e, "cannot encode the metrics");
        }
        String::from_utf8_lossy(&buffer).into_owned()
    }
}

/// One reconcile being timed.
pub struct ReconcileTimer {
    metrics: Arc<Metrics>,
    controller: &'static str,
    started: Instant,
}

impl ReconcileTimer {
    /// Records the reconcile: `failure` is the error's reason when it failed.
    pub fn done(self, failure: Option<&str>) {
        let m = &self.metrics;
        m.duration
            .with_label_values(&[self.controller])
            .observe(self.started.elapsed().as_secs_f64());
        let result = if failure.is_some() { "error" } else { "ok" };
        m.reconciliations
            .with_label_values(&[self.controller, result])
            .inc();
        if let Some(reason) = failure {
            m.failures
                .with_label_values(&[self.controller, reason])
                .inc();
        }
    }
}

/// Serves `/metrics` and `/health` on `listener` until the process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
) -> std::io::Result<()> {
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let metrics = Arc::clone(&metrics);
                async move { metrics.render() }
            }),
        )
        .route("/health", get(|| async { "ok\n" }));
    axum::serve(listener, app).await
}

/// Binds the metrics listener (`0` as the port: any free one).
pub async fn bind(address: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconciles_are_counted_by_result_and_failures_by_reason() {
        let metrics = Metrics::new().expect("metrics register");
        metrics.start("topic").done(None);
        metrics.start("topic").done(Some("Kube"));
        metrics.start("kafkacluster").done(None);
        let text = metrics.render();
        for line in [
            r#"ironlog_operator_reconciliations_total{controller="topic",result="ok"} 1"#,
            r#"ironlog_operator_reconciliations_total{controller="topic",result="error"} 1"#,
            r#"ironlog_operator_reconcile_failures_total{controller="topic",reason="Kube"} 1"#,
            r#"ironlog_operator_reconciliations_total{controller="kafkacluster",result="ok"} 1"#,
            r#"ironlog_operator_reconcile_duration_seconds_count{controller="topic"} 2"#,
        ] {
            assert!(text.contains(line), "no line {line} in:\n{text}");
        }
    }

    #[test]
    fn cluster_gauges_are_set_per_cluster_and_go_with_it() {
        let metrics = Metrics::new().expect("metrics register");
        let health = ClusterHealth {
            brokers: 3,
            under_replicated_partitions: 2,
            offline_partitions: 1,
        };
        metrics.set_cluster_health("kafka", "demo", health);
        let text = metrics.render();
        for line in [
            r#"ironlog_operator_cluster_brokers_ready{cluster="demo",namespace="kafka"} 3"#,
            r#"ironlog_operator_cluster_under_replicated_partitions{cluster="demo",namespace="kafka"} 2"#,
            r#"ironlog_operator_cluster_offline_partitions{cluster="demo",namespace="kafka"} 1"#,
        ] {
            assert!(text.contains(line), "no line {line} in:\n{text}");
        }
        metrics.forget_cluster("kafka", "demo");
        assert!(
            !metrics.render().contains("cluster=\"demo\""),
            "a deleted cluster keeps no gauges"
        );
    }
}
