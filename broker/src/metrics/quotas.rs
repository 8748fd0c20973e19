//! Client quota metrics, updated by the connection loop when a response is throttled, and
//! by the accept loops when a connection creation rate delays or refuses a connection:
//! Kafka's `kafka.server:type={Produce,Fetch}` throttle-time sensors as the counters a
//! rate or an average is taken of (total throttle time and throttled responses per quota
//! type). Kafka's per-user and per-client-id tags are left out so the label set stays
//! bounded whatever the clients call themselves.

use prometheus::{IntCounterVec, Opts, Registry};

use super::registered;
use crate::client_quota::QuotaType;

pub(crate) struct QuotaMetrics {
    throttle_time_ms: IntCounterVec,
    throttled: IntCounterVec,
    accept_throttle_time_ms: IntCounterVec,
    accept_throttled: IntCounterVec,
    ip_accept_throttle_time_ms: IntCounterVec,
    ip_accept_throttled: IntCounterVec,
}

fn listener_counter(
    registry: &Registry,
    name: &str,
    help: &str,
) -> prometheus::Result<IntCounterVec> {
    registered(
        registry,
        IntCounterVec::new(Opts::new(name, help), &["listener"])?,
    )
}

impl QuotaMetrics {
    pub(crate) fn register(registry: &Registry) -> prometheus::Result<Self> {
        let throttle_time_ms = registered(registry, IntCounterVec::new(
            Opts::new(
                "kafka_server_quota_throttle_time_ms_total",
                "Time clients were throttled for exceeding their quotas, per quota type (throttle-time).",
            ),
            &["quota_type"],
        )?)?;
        let throttled = registered(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "kafka_server_quota_throttled_responses_total",
                    "Responses that carried a throttle time for exceeding a quota, per quota type.",
                ),
                &["quota_type"],
            )?,
        )?;
        Ok(Self {
            throttle_time_ms,
            throttled,
            accept_throttle_time_ms: listener_counter(
                registry,
                "kafka_server_socket_server_metrics_connection_accept_throttle_time_ms_total",
                "Time new connections waited to be accepted for the broker's or the listener's max.connection.creation.rate (connection-accept-throttle-time).",
            )?,
            accept_throttled: listener_counter(
                registry,
                "kafka_server_socket_server_metrics_connection_accept_throttled_total",
                "New connections whose accept was delayed for the broker's or the listener's max.connection.creation.rate.",
            )?,
            ip_accept_throttle_time_ms: listener_counter(
                registry,
                "kafka_server_socket_server_metrics_ip_connection_accept_throttle_time_ms_total",
                "Time connections over their IP's connection_creation_rate were held before they were closed (ip-connection-accept-throttle-time).",
            )?,
            ip_accept_throttled: listener_counter(
                registry,
                "kafka_server_socket_server_metrics_ip_connection_accept_throttled_total",
                "Connections closed unserved for their IP's connection_creation_rate quota.",
            )?,
        })
    }

    pub(crate) fn throttled(&self, quota_type: QuotaType, throttle_time_ms: u64) {
        self.throttle_time_ms
            .with_label_values(&[quota_type.name()])
            .inc_by(throttle_time_ms);
        self.throttled.with_label_values(&[quota_type.name()]).inc();
    }

    /// A new connection on `listener` waited `delay_ms` to be accepted.
    pub(crate) fn connection_accept_throttled(&self, listener: &str, delay_ms: u64) {
        self.accept_throttle_time_ms
            .with_label_values(&[listener])
            .inc_by(delay_ms);
        self.accept_throttled.with_label_values(&[listener]).inc();
    }

    /// A connection on `listener` was over its IP's rate: closed after `throttle_ms`.
    pub(crate) fn ip_connection_throttled(&self, listener: &str, throttle_ms: u64) {
        self.ip_accept_throttle_time_ms
            .with_label_values(&[listener])
            .inc_by(throttle_ms);
        self.ip_accept_throttled
            .with_label_values(&[listener])
            .inc();
    }
}
