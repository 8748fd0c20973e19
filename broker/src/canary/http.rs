//! `canary::http`: the canary's HTTP listener (`canary.listener`, axum), as the broker's
//! admin listener but over the canary's own state:
//! - `GET /metrics` — Prometheus text format (the canary's registry only);
//! - `GET /health/live` — 200 while the process serves HTTP (whatever the cluster does:
//!   an unreachable cluster is what the metrics report, not a reason to restart);
//! - `GET /health/ready` — 200 when the canary topic was reconciled within three reconcile
//!   intervals and has partitions, else 503; a JSON body says which.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Canary, CanaryError};
use crate::admin::{live, serve, text};

/// The bound listener and its server task.
pub(crate) struct CanaryListener {
    pub(crate) local: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl CanaryListener {
    pub(crate) async fn start(canary: Arc<Canary>) -> Result<CanaryListener, CanaryError> {
        let host = match canary.config.listener_host.as_str() {
            "" => "0.0.0.0".to_string(),
            h => h.to_string(),
        };
        let port = canary.config.listener_port;
        let address = format!("{host}:{port}");
        let bind = |source| CanaryError::Bind {
            address: address.clone(),
            source,
        };
        let listener = TcpListener::bind((host.as_str(), port))
            .await
            .map_err(bind)?;
        let local = listener.local_addr().map_err(bind)?;
        let app = Router::new()
            .route("/metrics", get(metrics))
            .route("/health/live", get(live))
            .route("/health/ready", get(ready))
            .fallback(not_found)
            .with_state(canary);
        let (shutdown, task) = serve(listener, app, "canary listener");
        Ok(CanaryListener {
            local,
            shutdown,
            task,
        })
    }

    pub(crate) async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

async fn not_found() -> Response {
    text(
        StatusCode::NOT_FOUND,
        "not found; try /metrics, /health/live or /health/ready\n",
    )
}

async fn metrics(State(canary): State<Arc<Canary>>) -> Response {
    match canary.metrics.render() {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
            body,
        )
            .into_response(),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("rendering metrics failed: {e}\n"),
        ),
    }
}

async fn ready(State(canary): State<Arc<Canary>>) -> Response {
    let ready = canary.is_ready();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({ "ready": ready, "checks": { "topic_reconciled": ready } })),
    )
        .into_response()
}
