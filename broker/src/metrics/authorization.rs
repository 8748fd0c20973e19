//! Authorization metrics, updated by `handlers::authorization` once per audited check:
//! Kafka's `kafka.server:type=authorizer-metrics` (authorization-allowed/denied rates) as
//! the counters a rate is taken of, the denials per API, operation and resource type so
//! an alert can name what is refused. The ACL count is a scrape-time gauge (`state`).

use kafka_protocol::messages::ApiKey;
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

use super::registered;
use super::requests::api_name;
use crate::security::acl::{AclOperation, ResourceType};

pub(crate) struct AuthorizationMetrics {
    allowed: IntCounter,
    denied: IntCounterVec,
}

impl AuthorizationMetrics {
    pub(crate) fn register(registry: &Registry) -> prometheus::Result<Self> {
        let allowed = registered(registry, IntCounter::with_opts(Opts::new(
            "kafka_server_authorizer_metrics_authorization_allowed_total",
            "Authorization checks of requests that were allowed (authorization-allowed-rate-per-minute).",
        ))?)?;
        let denied = registered(registry, IntCounterVec::new(
            Opts::new(
                "kafka_server_authorizer_metrics_authorization_denied_total",
                "Authorization checks of requests that were denied, per API, operation and resource type (authorization-denied-rate-per-minute).",
            ),
            &["request", "operation", "resource_type"],
        )?)?;
        Ok(Self { allowed, denied })
    }

    pub(crate) fn allowed(&self) {
        self.allowed.inc();
    }

    pub(crate) fn denied(&self, api: ApiKey, operation: AclOperation, resource_type: ResourceType) {
        self.denied
            .with_label_values(&[api_name(api), operation.name(), resource_type.name()])
            .inc();
    }
}
