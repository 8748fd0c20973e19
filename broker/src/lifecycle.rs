//! `BrokerLifecycle`: this broker's side of Kafka's broker lifecycle (Kafka's
//! `BrokerLifecycleManager`), through the [`ControllerClient`]:
//!
//! - registration with a fresh incarnation id (the broker epoch it returns is the
//!   registration record's offset). DUPLICATE_BROKER_REGISTRATION is retried while an
//!   earlier incarnation's session may still be expiring (`broker.session.timeout.ms` and
//!   two heartbeats); after that another live process has this `node.id`, and this one
//!   stops, saying so.
//! - heartbeats every `broker.heartbeat.interval.ms` (every 100 ms while fenced, so a
//!   caught-up broker is unfenced at once) with the image offset it applied;
//!   STALE_BROKER_EPOCH (another incarnation replaced the registration) registers again.
//! - controlled shutdown: heartbeats with `want_shut_down` until the controller, having
//!   moved this broker's leaderships away, answers `should_shut_down` (bounded).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::{ApiError, ResponseError};
use crate::metadata::{
    BrokerHeartbeat, BrokerRegistrationRequest, ControllerClient, MetadataQuorum,
};

/// Heartbeat interval while fenced.
const FENCED_HEARTBEAT_INTERVAL_MS: u64 = 100;

#[derive(Debug, thiserror::Error)]
pub(crate) enum LifecycleError {
    #[error(
        "node.id {node_id} is already registered by another live broker process \
         (DUPLICATE_BROKER_REGISTRATION): {message}"
    )]
    Duplicate { node_id: i32, message: String },
    #[error("registering with the controller failed: {0}")]
    Registration(ApiError),
    #[error("not unfenced by the controller within {timeout_ms} ms")]
    NotUnfenced { timeout_ms: u64 },
}

pub(crate) struct BrokerLifecycle {
    client: Arc<ControllerClient>,
    quorum: Arc<MetadataQuorum>,
    registration: BrokerRegistrationRequest,
    heartbeat_interval: Duration,
    session_timeout: Duration,
    registration_timeout: Duration,
    epoch: std::sync::atomic::AtomicI64,
    fenced: watch::Sender<bool>,
    /// When the controller last answered a heartbeat (`None` before the first answer).
    last_answer: std::sync::Mutex<Option<Instant>>,
    want_shut_down: AtomicBool,
    should_shut_down: watch::Sender<bool>,
    wake: tokio::sync::Notify,
    /// Set with the reason when this process must stop (a duplicate node id).
    fatal: watch::Sender<Option<String>>,
}

impl BrokerLifecycle {
    pub(crate) fn new(
        client: Arc<ControllerClient>,
        quorum: Arc<MetadataQuorum>,
        registration: BrokerRegistrationRequest,
        heartbeat_interval_ms: u64,
        session_timeout_ms: u64,
        registration_timeout_ms: u64,
        fatal: watch::Sender<Option<String>>,
    ) -> Self {
        Self {
            client,
            quorum,
            registration,
            heartbeat_interval: Duration::from_millis(heartbeat_interval_ms.max(10)),
            session_timeout: Duration::from_millis(session_timeout_ms),
            registration_timeout: Duration::from_millis(registration_timeout_ms),
            epoch: std::sync::atomic::AtomicI64::new(-1),
            fenced: watch::Sender::new(true),
            last_answer: std::sync::Mutex::new(None),
            want_shut_down: AtomicBool::new(false),
            should_shut_down: watch::Sender::new(false),
            wake: tokio::sync::Notify::new(),
            fatal,
        }
    }

    /// Registers this broker (see the module header for the retries).
    pub(crate) async fn register(&self) -> Result<i64, LifecycleError> {
        let started = Instant::now();
        let duplicate_window = self.session_timeout + self.heartbeat_interval * 2;
        let deadline = started + self.registration_timeout.max(duplicate_window);
        loop {
            let cluster_id = self.quorum.cluster_id().unwrap_or_default();
            match self
                .client
                .register_broker(&self.registration, &cluster_id)
                .await
            {
                Ok(epoch) => {
                    self.epoch.store(epoch, Ordering::Release);
                    tracing::info!(
                        broker_id = self.registration.broker_id,
                        broker_epoch = epoch,
                        incarnation_id = %self.registration.incarnation_id,
                        "registered with the controller"
                    );
                    return Ok(epoch);
                }
                Err(e) if e.code == ResponseError::DuplicateBrokerRegistration => {
                    if started.elapsed() >= duplicate_window {
                        return Err(LifecycleError::Duplicate {
                            node_id: self.registration.broker_id,
                            message: e.message.unwrap_or_default(),
                        });
                    }
                    tracing::info!(
                        broker_id = self.registration.broker_id,
                        "an earlier incarnation's session is still alive; registering again shortly"
                    );
                }
                Err(e) if Instant::now() >= deadline => {
                    return Err(LifecycleError::Registration(e));
                }
                Err(e) => tracing::warn!(error = %e, "registration failed; retrying"),
            }
            tokio::time::sleep(self.heartbeat_interval.min(Duration::from_millis(500))).await;
        }
    }

    /// Heartbeats until `shutdown` (see the module header).
    pub(crate) fn spawn_heartbeats(
        self: &Arc<Self>,
        mut shutdown: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                let interval = if *this.fenced.borrow() {
                    this.heartbeat_interval
                        .min(Duration::from_millis(FENCED_HEARTBEAT_INTERVAL_MS))
                } else {
                    this.heartbeat_interval
                };
                tokio::select! {
                    _ = shutdown.changed() => return,
                    _ = tokio::time::sleep(interval) => {}
                    _ = this.wake.notified() => {}
                }
                this.heartbeat_once().await;
            }
        })
    }

    async fn heartbeat_once(&self) {
        let heartbeat = BrokerHeartbeat {
            broker_id: self.registration.broker_id,
            broker_epoch: self.epoch.load(Ordering::Acquire),
            current_metadata_offset: i64::try_from(self.quorum.image().offset).unwrap_or(i64::MAX),
            want_fence: false,
            want_shut_down: self.want_shut_down.load(Ordering::Acquire),
        };
        match self.client.heartbeat(&heartbeat).await {
            Ok(outcome) => {
                if let Ok(mut last) = self.last_answer.lock() {
                    *last = Some(Instant::now());
                }
                self.fenced.send_if_modified(|fenced| {
                    let changed = *fenced != outcome.is_fenced;
                    *fenced = outcome.is_fenced;
                    changed
                });
                if outcome.should_shut_down {
                    self.should_shut_down.send_replace(true);
                }
            }
            Err(e) if e.code == ResponseError::StaleBrokerEpoch && !heartbeat.want_shut_down => {
                tracing::warn!(error = %e, "the controller no longer knows this registration; registering again");
                match self.register().await {
                    Ok(_) => {}
                    Err(e @ LifecycleError::Duplicate { .. }) => {
                        self.fatal.send_replace(Some(e.to_string()));
                    }
                    Err(e) => tracing::warn!(error = %e, "registering again failed"),
                }
            }
            Err(e) => tracing::debug!(error = %e, "heartbeat failed"),
        }
    }

    /// Whether this broker counts as unfenced now: the controller's last heartbeat answer
    /// said so, and came within `broker.session.timeout.ms` (after that long without an
    /// answer the controller has fenced this broker, or there is no controller to ask).
    pub(crate) fn is_unfenced(&self) -> bool {
        let answered_recently = self
            .last_answer
            .lock()
            .ok()
            .and_then(|last| *last)
            .is_some_and(|at| at.elapsed() < self.session_timeout);
        answered_recently && !*self.fenced.borrow()
    }

    /// Waits (at most `timeout_ms`) until the controller unfenced this broker.
    pub(crate) async fn wait_unfenced(&self, timeout_ms: u64) -> Result<(), LifecycleError> {
        self.wake.notify_one();
        let mut fenced = self.fenced.subscribe();
        tokio::time::timeout(Duration::from_millis(timeout_ms), fenced.wait_for(|f| !*f))
            .await
            .map(|_| ())
            .map_err(|_| LifecycleError::NotUnfenced { timeout_ms })
    }

    /// Kafka's controlled shutdown, bounded by `timeout`: true once the controller said
    /// this broker may stop.
    pub(crate) async fn controlled_shutdown(&self, timeout: Duration) -> bool {
        self.want_shut_down.store(true, Ordering::Release);
        let mut should = self.should_shut_down.subscribe();
        let deadline = Instant::now() + timeout;
        tracing::info!(
            broker_id = self.registration.broker_id,
            "controlled shutdown: asking the controller to move this broker's leaderships"
        );
        loop {
            // a heartbeat waits for a controller to be known: bounded by what is left
            let _ = tokio::time::timeout_at(deadline, self.heartbeat_once()).await;
            if *should.borrow_and_update() {
                tracing::info!(
                    broker_id = self.registration.broker_id,
                    "controlled shutdown complete: leaderships moved to other ISR members"
                );
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            let _ = tokio::time::timeout_at(
                deadline.min(Instant::now() + Duration::from_millis(200)),
                should.changed(),
            )
            .await;
        }
    }
}
