//! `metrics`: the operator's own Prometheus metrics and its HTTP endpoint (`/metrics`,
//! `/health`). Per controller (`kafkacluster`, `topic`): reconciliations by result,
//! failures by reason, reconcile duration.
//!
//! | metric | labels |
//! |---|---|
//! | `ironlog_operator_reconciliations_total` | `controller`, `result` (`ok`, `error`) |
//! | `ironlog_operator_reconcile_failures_total` | `controller`, `reason` (the error's kind) |
//! | `ironlog_operator_reconcile_duration_seconds` | `controller` |

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::routing::get;
use axum::Router;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

/// The operator's metrics; cheap to share (`Arc`).
pub struct Metrics {
    registry: Registry,
    reconciliations: IntCounterVec,
    failures: IntCounterVec,
    duration: HistogramVec,
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
        registry.register(Box::new(reconciliations.clone()))?;
        registry.register(Box::new(failures.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        Ok(Arc::new(Metrics {
            registry,
            reconciliations,
            failures,
            duration,
        }))
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
}
