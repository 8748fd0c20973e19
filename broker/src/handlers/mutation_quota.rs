//! KIP-599's controller mutation quota for one CreateTopics, CreatePartitions or
//! DeleteTopics request (Kafka's `ControllerMutationQuota`): each topic's partitions —
//! created, added or deleted — are recorded against the client's
//! `controller_mutation_rate`. The versions that know THROTTLING_QUOTA_EXCEEDED
//! (CreateTopics v6+, DeleteTopics v5+, CreatePartitions v3+) are strict: a topic asked for
//! while the rate is over the quota is refused with it. Older versions are permissive: all
//! is done, and the response carries the throttle time the rate calls for.

use super::{Broker, RequestContext};
use crate::client_quota::manager::monotonic_ms;
use crate::error::{ApiError, ResponseError};

pub(super) struct MutationQuota<'a> {
    broker: &'a Broker,
    ctx: &'a RequestContext,
    strict: bool,
    /// The largest throttle time so far (the response's `throttle_time_ms`).
    pub(super) throttle_time_ms: u64,
}

impl<'a> MutationQuota<'a> {
    /// The quota of this request; strict from `strict_since_version` on.
    pub(super) fn new(
        broker: &'a Broker,
        ctx: &'a RequestContext,
        strict_since_version: i16,
    ) -> Self {
        Self {
            broker,
            ctx,
            strict: ctx.version >= strict_since_version,
            throttle_time_ms: 0,
        }
    }

    /// Records `partitions` mutations of one topic; `Err` (THROTTLING_QUOTA_EXCEEDED) when
    /// a strict request may not make them now.
    pub(super) fn admit(&mut self, partitions: i32) -> Result<(), ApiError> {
        if partitions <= 0 {
            return Ok(());
        }
        let image = self.broker.image();
        if image.client_quotas.is_empty() {
            return Ok(());
        }
        let outcome = self.broker.client_quotas.record_mutations(
            &image,
            &self.ctx.principal.name,
            self.ctx.client_id.as_deref().unwrap_or(""),
            f64::from(partitions),
            self.strict,
            monotonic_ms(),
        );
        match outcome {
            Ok(throttle) => {
                self.throttle_time_ms = self.throttle_time_ms.max(throttle);
                Ok(())
            }
            Err(throttle) => {
                self.throttle_time_ms = self.throttle_time_ms.max(throttle);
                tracing::debug!(principal = %self.ctx.principal, partitions, throttle_ms = throttle, "controller mutation quota exceeded");
                Err(ApiError::new(
                    ResponseError::ThrottlingQuotaExceeded,
                    "The throttling quota has been exceeded.",
                ))
            }
        }
    }

    /// The response's `throttle_time_ms`.
    pub(super) fn throttle_time_ms_i32(&self) -> i32 {
        if self.throttle_time_ms > 0 {
            self.broker.metrics.quotas.throttled(
                crate::client_quota::QuotaType::ControllerMutation,
                self.throttle_time_ms,
            );
        }
        i32::try_from(self.throttle_time_ms).unwrap_or(i32::MAX)
    }
}
