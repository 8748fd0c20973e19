//! `admin`: the admin HTTP listener (`admin.listener=http://HOST:PORT`, axum): Prometheus
//! metrics, health probes and runtime log levels.
//!
//! - `GET /metrics` — Prometheus text format (`crate::metrics`), rendered on the blocking
//!   pool; 503 until the broker has started.
//! - `GET /health/live` — 200 while the process serves HTTP (from before log recovery on,
//!   so a long recovery is not mistaken for a hung process).
//! - `GET /health/ready` — 200 when this broker is registered and not fenced (its image
//!   says so, and so did the controller's answer to a heartbeat within
//!   `broker.session.timeout.ms`: a broker cut off from the controller for that long has
//!   been fenced by it, or there is no controller), its partitions have applied the newest
//!   metadata image, its client listeners accept connections and every log dir is
//!   readable; else 503. The body names each check. Until start-up finished (logs
//!   recovered, the quorum joined, this broker registered and first unfenced) it is 503
//!   with `started: false`.
//! - `GET /loggers`, `GET|PUT|DELETE /loggers/{name}` — log levels (`crate::logging`), the
//!   same loggers and levels as the BROKER_LOGGER config resource: PUT takes a Kafka level
//!   name (`DEBUG`) as its body, DELETE makes a logger follow its parent again.
//!
//! The listener is bound first at start-up and lives until the process ends: shutdown
//! turns readiness off before the client listeners close.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::handlers::Broker;
use crate::lifecycle::BrokerLifecycle;
use crate::logging::{log_levels, LevelChange, LogLevelError};

/// Largest request body accepted (a log level name).
const BODY_LIMIT_BYTES: usize = 1024;

/// What the handlers read: the broker and its lifecycle once they exist, and whether it
/// serves clients.
#[derive(Default)]
pub(crate) struct AdminState {
    /// The broker and its lifecycle (`None` on a controller alone, which never registers).
    broker: OnceLock<(Arc<Broker>, Option<Arc<BrokerLifecycle>>)>,
    serving: AtomicBool,
}

impl AdminState {
    /// The broker is complete and its client listeners accept connections.
    pub(crate) fn set_serving(
        &self,
        broker: &Arc<Broker>,
        lifecycle: Option<Arc<BrokerLifecycle>>,
    ) {
        let _ = self.broker.set((Arc::clone(broker), lifecycle));
        self.serving.store(true, Ordering::Release);
    }

    /// Shutdown began: not ready any more.
    pub(crate) fn set_stopping(&self) {
        self.serving.store(false, Ordering::Release);
    }
}

/// A bound admin listener and its server task.
pub(crate) struct AdminListener {
    pub(crate) local: SocketAddr,
    pub(crate) state: Arc<AdminState>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl AdminListener {
    /// Binds `host:port` (an empty host: every interface) and starts serving.
    pub(crate) async fn start(host: &str, port: u16) -> std::io::Result<AdminListener> {
        let host = if host.is_empty() { "0.0.0.0" } else { host };
        let listener = TcpListener::bind((host, port)).await?;
        let local = listener.local_addr()?;
        let state = Arc::new(AdminState::default());
        let (shutdown, task) = serve(listener, router(Arc::clone(&state)), "admin listener");
        Ok(AdminListener {
            local,
            state,
            shutdown,
            task,
        })
    }

    /// Stops serving (the last thing a clean shutdown does).
    pub(crate) async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.task).await;
    }
}

/// Serves `app` on `listener` until the returned sender says stop (also the canary's
/// listener); `what` names it in the log if serving fails.
pub(crate) fn serve(
    listener: TcpListener,
    app: Router,
    what: &'static str,
) -> (watch::Sender<bool>, JoinHandle<()>) {
    let (shutdown, mut shutdown_rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = shutdown_rx.wait_for(|stop| *stop).await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, listener = what, "HTTP listener failed");
        }
    });
    (shutdown, task)
}

fn router(state: Arc<AdminState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/loggers", get(list_loggers))
        .route(
            "/loggers/{name}",
            get(get_logger).put(set_logger).delete(unset_logger),
        )
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .with_state(state)
}

/// A plain-text response (also the canary's listener's).
pub(crate) fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.into(),
    )
        .into_response()
}

async fn not_found() -> Response {
    text(
        StatusCode::NOT_FOUND,
        "not found; try /metrics, /health/live, /health/ready or /loggers\n",
    )
}

async fn metrics(State(state): State<Arc<AdminState>>) -> Response {
    let Some(broker) = state.broker.get().map(|(broker, _)| Arc::clone(broker)) else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "the broker is starting\n");
    };
    let rendered = tokio::task::spawn_blocking(move || broker.metrics.render(&broker)).await;
    match rendered {
        Ok(Ok(body)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
            body,
        )
            .into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "rendering metrics failed");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("rendering metrics failed: {e}\n"),
            )
        }
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("rendering metrics failed: {e}\n"),
        ),
    }
}

/// 200 while the process serves HTTP (also the canary's liveness).
pub(crate) async fn live() -> Response {
    text(StatusCode::OK, "live\n")
}

async fn ready(State(state): State<Arc<AdminState>>) -> Response {
    let serving = state.serving.load(Ordering::Acquire);
    let checks = match state.broker.get() {
        None => json!({ "started": false }),
        Some((broker, None)) => {
            // A controller alone: ready while it follows a quorum with a leader.
            json!({
                "quorum_leader_known": broker.quorum.leader_id().is_some(),
                "listeners_serving": serving,
            })
        }
        Some((broker, Some(lifecycle))) => {
            let image = broker.image();
            let registered = image
                .brokers
                .get(&broker.node_id)
                .is_some_and(|b| !b.fenced)
                && lifecycle.is_unfenced();
            let caught_up = broker.replicas.applied_offset() >= image.offset;
            let dirs_online = broker
                .replicas
                .log_manager()
                .log_dirs()
                .iter()
                .all(|d| crate::metrics::state::log_dir_online(d));
            json!({
                "registered": registered,
                "metadata_caught_up": caught_up,
                "listeners_serving": serving,
                "log_dirs_online": dirs_online,
            })
        }
    };
    let ready = checks
        .as_object()
        .is_some_and(|c| c.values().all(|v| v.as_bool() == Some(true)));
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(json!({ "ready": ready, "checks": checks }))).into_response()
}

fn level_error(e: LogLevelError) -> Response {
    let status = match e {
        LogLevelError::InvalidConfig(_) | LogLevelError::InvalidRequest(_) => {
            StatusCode::BAD_REQUEST
        }
        LogLevelError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    text(status, format!("{e}\n"))
}

async fn list_loggers() -> Response {
    match log_levels() {
        Ok(levels) => {
            let loggers: serde_json::Map<String, serde_json::Value> = levels
                .describe()
                .into_iter()
                .map(|(name, level)| (name, json!(level)))
                .collect();
            Json(serde_json::Value::Object(loggers)).into_response()
        }
        Err(e) => level_error(e),
    }
}

async fn get_logger(Path(name): Path<String>) -> Response {
    match log_levels() {
        Ok(levels) => {
            Json(json!({ "logger": name, "level": levels.effective(&name) })).into_response()
        }
        Err(e) => level_error(e),
    }
}

async fn set_logger(Path(name): Path<String>, body: String) -> Response {
    let level = body.trim().to_ascii_uppercase();
    if level.is_empty() {
        return text(
            StatusCode::BAD_REQUEST,
            "the body must be a log level: TRACE, DEBUG, INFO, WARN, ERROR or FATAL\n",
        );
    }
    change(name, LevelChange::Set(level))
}

async fn unset_logger(Path(name): Path<String>) -> Response {
    change(name, LevelChange::Unset)
}

fn change(name: String, change: LevelChange) -> Response {
    let levels = match log_levels() {
        Ok(levels) => levels,
        Err(e) => return level_error(e),
    };
    match levels.apply(&[(name.clone(), change)]) {
        Ok(()) => Json(json!({ "logger": name, "level": levels.effective(&name) })).into_response(),
        Err(e) => level_error(e),
    }
}
