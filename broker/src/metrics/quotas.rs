//! Client quota metrics, updated by the connection loop when a response is throttled:
//! Kafka's `kafka.server:type={Produce,Fetch}` throttle-time sensors as the counters a
//! rate or an average is taken of (total throttle time and throttled responses per quota
//! type). Kafka's per-user and per-client-id tags are left out so the label set stays
//! bounded whatever the clients call themselves.

use prometheus::{IntCounterVec, Opts, Registry};

use crate::client_quota::QuotaType;

pub(crate) struct QuotaMetrics {
    throttle_time_ms: IntCounterVec,
    throttled: IntCounterVec,
}

impl QuotaMetrics {
    pub(crate) fn register(registry: &Registry) -> prometheus::Result<Self> {
        let throttle_time_ms = IntCounterVec::new(
            Opts::new(
                "kafka_server_quota_throttle_time_ms_total",
                "Time clients were throttled for exceeding their quotas, per quota type (throttle-time).",
            ),
            &["quota_type"],
        )?;
        registry.register(Box::new(throttle_time_ms.clone()))?;
        let throttled = IntCounterVec::new(
            Opts::new(
                "kafka_server_quota_throttled_responses_total",
                "Responses that carried a throttle time for exceeding a quota, per quota type.",
            ),
            &["quota_type"],
        )?;
        registry.register(Box::new(throttled.clone()))?;
        Ok(Self {
            throttle_time_ms,
            throttled,
        })
    }

    pub(crate) fn throttled(&self, quota_type: QuotaType, throttle_time_ms: u64) {
        self.throttle_time_ms
            .with_label_values(&[quota_type.name()])
            .inc_by(throttle_time_ms);
        self.throttled.with_label_values(&[quota_type.name()]).inc();
    }
}
