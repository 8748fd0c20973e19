//! The Topic controller: `plan` (pure: what to do to a Kafka topic so it matches its spec)
//! and `reconcile` (ownership, finalizer, the Kafka admin calls, status).

pub mod plan;
pub mod reconcile;
