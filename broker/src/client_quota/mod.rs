//! Client quotas (Kafka's `ClientQuotaManager` family): what a quota entity is, which keys
//! it may carry and how a request's user and client id find their quota ([`entity`]), and
//! the per-client rates that turn traffic into throttle times ([`manager`]), a request's
//! handler time for `request_percentage` ([`request_quota`]).

pub(crate) mod entity;
pub(crate) mod manager;
pub(crate) mod request_quota;

pub(crate) use entity::{ClientQuotaEntity, QuotaValue};
pub(crate) use manager::{ClientQuotaManagers, QuotaType};
