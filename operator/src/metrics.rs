//! `metrics`: the operator's own Prometheus metrics and its HTTP endpoint (`/metrics`,
//! `/health`). Per controller (`kafkacluster`, `topic`): reconciliations by result,
//! failures by reason, reconcile duration; per resource, its conditions, and per
//! KafkaCluster its brokers. The resource gauges are read from the controllers' caches at
//! scrape time, so a deleted resource's series disappear with it; what a cluster's brokers
//! report (`cluster::health`) is set at its reconciles and removed with the cluster.
//!
//! | metric | labels |
//! |---|---|
//! | `ironlog_operator_reconciliations_total` | `controller`, `result` (`ok`, `error`) |
//! | `ironlog_operator_reconcile_failures_total` | `controller`, `reason` (the error's kind) |
//! | `ironlog_operator_reconcile_duration_seconds` | `controller` |
//! | `ironlog_operator_resource_condition` | `controller`, `namespace`, `name`, `type`: 1 while the condition is `True` |
//! | `ironlog_operator_cluster_brokers` | `namespace`, `cluster`: the brokers the spec asks for |
//! | `ironlog_operator_cluster_brokers_ready` | `namespace`, `cluster`: the ready ones (status) |
//! | `ironlog_operator_cluster_brokers_registered` | `namespace`, `cluster`: the brokers the cluster lists as serving |
//! | `ironlog_operator_cluster_under_replicated_partitions` | `namespace`, `cluster` |
//! | `ironlog_operator_cluster_offline_partitions` | `namespace`, `cluster` |
//! | `ironlog_operator_cluster_balance_moves_remaining` | `namespace`, `cluster`: `status.balance.movesRemaining` |
//! | `ironlog_operator_cluster_balance_bytes_remaining` | `namespace`, `cluster`: `status.balance.bytesRemaining` |
//!
//! The charts' operator dashboard and alert rules (`charts/ironlog-operator`) use these names;
//! `operator/tests/observability.rs` checks each one they name is here.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::routing::get;
use axum::Router;
use kube::runtime::reflector::Store;
use kube::ResourceExt;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::cluster::health::ClusterHealth;
use crate::crd::kafka_cluster::KafkaCluster;
use crate::crd::topic::Topic;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// Fills the resource gauges from one controller's cache, at scrape time.
type Observer = Box<dyn Fn(&Metrics) + Send + Sync>;

/// The operator's metrics; cheap to share (`Arc`).
pub struct Metrics {
    registry: Registry,
    reconciliations: IntCounterVec,
    failures: IntCounterVec,
    duration: HistogramVec,
    conditions: IntGaugeVec,
    brokers: IntGaugeVec,
    brokers_ready: IntGaugeVec,
    brokers_registered: IntGaugeVec,
    under_replicated: IntGaugeVec,
    offline: IntGaugeVec,
    balance_moves_remaining: IntGaugeVec,
    balance_bytes_remaining: IntGaugeVec,
    observers: std::sync::Mutex<Vec<Observer>>,
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
        let conditions = IntGaugeVec::new(
            Opts::new(
                "ironlog_operator_resource_condition",
                "1 while the resource's condition of this type is True, else 0.",
            ),
            &["controller", "namespace", "name", "type"],
        )?;
        let brokers = IntGaugeVec::new(
            Opts::new(
                "ironlog_operator_cluster_brokers",
                "Brokers a KafkaCluster's status counts (its spec's).",
            ),
            &["namespace", "cluster"],
        )?;
        let cluster_gauge = |name: &str, help: &str| {
            IntGaugeVec::new(Opts::new(name, help), &["namespace", "cluster"])
        };
        let brokers_ready = cluster_gauge(
            "ironlog_operator_cluster_brokers_ready",
            "Ready brokers of a KafkaCluster, as its status reports them.",
        )?;
        let brokers_registered = cluster_gauge(
            "ironlog_operator_cluster_brokers_registered",
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
        registry.register(Box::new(conditions.clone()))?;
        registry.register(Box::new(brokers.clone()))?;
        registry.register(Box::new(brokers_ready.clone()))?;
        registry.register(Box::new(brokers_registered.clone()))?;
        registry.register(Box::new(under_replicated.clone()))?;
        let balance_moves_remaining = cluster_gauge(
            "ironlog_operator_cluster_balance_moves_remaining",
            "Partition moves the balancer has in flight or next, as its status reports them.",
        )?;
        let balance_bytes_remaining = cluster_gauge(
            "ironlog_operator_cluster_balance_bytes_remaining",
            "Bytes the balancer's moves in flight and next still copy, as its status reports them.",
        )?;
        registry.register(Box::new(offline.clone()))?;
        registry.register(Box::new(balance_moves_remaining.clone()))?;
        registry.register(Box::new(balance_bytes_remaining.clone()))?;
        Ok(Arc::new(Metrics {
            registry,
            reconciliations,
            failures,
            duration,
            conditions,
            brokers,
            brokers_ready,
            brokers_registered,
            under_replicated,
            offline,
            balance_moves_remaining,
            balance_bytes_remaining,
            observers: std::sync::Mutex::new(Vec::new()),
        }))
    }

    /// What cluster `namespace/cluster`'s brokers reported at its last reconcile.
    pub fn set_cluster_health(&self, namespace: &str, cluster: &str, health: ClusterHealth) {
        let labels = [namespace, cluster];
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.brokers_registered
            .with_label_values(&labels)
            .set(count(health.brokers));
        self.under_replicated
            .with_label_values(&labels)
            .set(count(health.under_replicated_partitions));
        self.offline
            .with_label_values(&labels)
            .set(count(health.offline_partitions));
    }

    /// A deleted cluster's broker-reported gauges go with it.
    pub fn forget_cluster(&self, namespace: &str, cluster: &str) {
        for gauge in [
            &self.brokers_registered,
            &self.under_replicated,
            &self.offline,
        ] {
            let _ = gauge.remove_label_values(&[namespace, cluster]);
        }
    }

    /// Reports the KafkaClusters of `store` (the controller's cache) at every scrape: their
    /// conditions, the brokers their spec asks for and the ready ones.
    pub fn observe_clusters(&self, store: Store<KafkaCluster>) {
        self.observe(Box::new(move |metrics: &Metrics| {
            for cluster in store.state() {
                let namespace = cluster.namespace().unwrap_or_default();
                let name = cluster.name_any();
                let Some(status) = &cluster.status else {
                    continue;
                };
                metrics.record_conditions("kafkacluster", &namespace, &name, &status.conditions);
                // `ready/total`, as the status and `kubectl get` show it
                if let Some((ready, total)) =
                    status.brokers.as_deref().and_then(|b| b.split_once('/'))
                {
                    if let (Ok(ready), Ok(total)) = (ready.parse(), total.parse()) {
                        let labels = [namespace.as_str(), name.as_str()];
                        metrics.brokers_ready.with_label_values(&labels).set(ready);
                        metrics.brokers.with_label_values(&labels).set(total);
                    }
                }
                let labels = [namespace.as_str(), name.as_str()];
                let balance = status.balance.as_ref();
                metrics
                    .balance_moves_remaining
                    .with_label_values(&labels)
                    .set(balance.map_or(0, |b| b.moves_remaining));
                metrics
                    .balance_bytes_remaining
                    .with_label_values(&labels)
                    .set(balance.and_then(|b| b.bytes_remaining).unwrap_or(0));
            }
        }));
    }

    /// Reports the conditions of the Topics of `store` (the controller's cache) at every
    /// scrape.
    pub fn observe_topics(&self, store: Store<Topic>) {
        self.observe(Box::new(move |metrics: &Metrics| {
            for topic in store.state() {
                if let Some(status) = &topic.status {
                    let namespace = topic.namespace().unwrap_or_default();
                    metrics.record_conditions(
                        "topic",
                        &namespace,
                        &topic.name_any(),
                        &status.conditions,
                    );
                }
            }
        }));
    }

    fn observe(&self, observer: Observer) {
        self.observers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(observer);
    }

    fn record_conditions(
        &self,
        controller: &str,
        namespace: &str,
        name: &str,
        conditions: &[Condition],
    ) {
        for condition in conditions {
            let value = i64::from(condition.status == "True");
            self.conditions
                .with_label_values(&[controller, namespace, name, condition.type_.as_str()])
                .set(value);
        }
    }

    /// The resource gauges anew from the controllers' caches.
    fn refresh(&self) {
        let observers = self
            .observers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.conditions.reset();
        self.brokers.reset();
        self.brokers_ready.reset();
        self.balance_moves_remaining.reset();
        self.balance_bytes_remaining.reset();
        for observer in observers.iter() {
            observer(self);
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
        self.refresh();
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
    use kube::runtime::reflector::store::Writer;
    use kube::runtime::watcher;

    fn cluster(name: &str, brokers: &str, degraded: bool) -> KafkaCluster {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "ironlog.dev/v1alpha1",
            "kind": "KafkaCluster",
            "metadata": {"name": name, "namespace": "kafka"},
            "spec": {"nodePools": [{"name": "a", "replicas": 3, "roles": ["broker", "controller"],
                                     "storage": {"size": "1Gi"}}],
                     "listeners": [{"name": "PLAINTEXT", "port": 9092, "type": "internal"}]},
            "status": {"brokers": brokers, "conditions": [
                {"type": "Ready", "status": if degraded { "False" } else { "True" }, "reason": "R",
                 "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "Degraded", "status": if degraded { "True" } else { "False" }, "reason": "R",
                 "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
        }))
        .expect("a KafkaCluster")
    }

    #[test]
    fn cluster_gauges_follow_the_cache_and_vanish_with_the_cluster() {
        let metrics = Metrics::new().expect("metrics register");
        let mut writer: Writer<KafkaCluster> = Writer::default();
        metrics.observe_clusters(writer.as_reader());
        let a = cluster("a", "3/3", false);
        let b = cluster("b", "1/3", true);
        writer.apply_watcher_event(&watcher::Event::Apply(a));
        writer.apply_watcher_event(&watcher::Event::Apply(b.clone()));
        let text = metrics.render();
        for line in [
            r#"ironlog_operator_cluster_brokers_ready{cluster="a",namespace="kafka"} 3"#,
            r#"ironlog_operator_cluster_brokers{cluster="b",namespace="kafka"} 3"#,
            r#"ironlog_operator_cluster_brokers_ready{cluster="b",namespace="kafka"} 1"#,
            r#"ironlog_operator_resource_condition{controller="kafkacluster",name="b",namespace="kafka",type="Degraded"} 1"#,
            r#"ironlog_operator_resource_condition{controller="kafkacluster",name="a",namespace="kafka",type="Ready"} 1"#,
        ] {
            assert!(text.contains(line), "no line {line} in:\n{text}");
        }
        writer.apply_watcher_event(&watcher::Event::Delete(b));
        let text = metrics.render();
        assert!(
            !text.contains(r#"name="b""#) && !text.contains(r#"cluster="b""#),
            "a deleted cluster's series stay:\n{text}"
        );
        assert!(
            text.contains(r#"ironlog_operator_cluster_brokers{cluster="a",namespace="kafka"} 3"#)
        );
        assert!(
            text.contains(
                r#"ironlog_operator_cluster_balance_moves_remaining{cluster="a",namespace="kafka"} 0"#
            ),
            "no balance gauge for a cluster that is not balancing:\n{text}"
        );
        let mut moving = cluster("a", "3/3", false);
        if let Some(status) = moving.status.as_mut() {
            status.balance = Some(crate::crd::kafka_cluster::BalanceStatus {
                state: crate::crd::kafka_cluster::BalanceState::Moving,
                moves_remaining: 7,
                bytes_remaining: Some(123_456),
                ..Default::default()
            });
        }
        writer.apply_watcher_event(&watcher::Event::Apply(moving));
        let text = metrics.render();
        for line in [
            r#"ironlog_operator_cluster_balance_moves_remaining{cluster="a",namespace="kafka"} 7"#,
            r#"ironlog_operator_cluster_balance_bytes_remaining{cluster="a",namespace="kafka"} 123456"#,
        ] {
            assert!(text.contains(line), "no line {line} in:\n{text}");
        }
    }

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
            r#"ironlog_operator_cluster_brokers_registered{cluster="demo",namespace="kafka"} 3"#,
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
