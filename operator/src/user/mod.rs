//! The User controller: `plan` (pure: the user's principal, ACLs, quotas and Secret, and
//! what to change so the cluster matches them) and `reconcile` (finalizer, the Secret, the
//! Kafka admin calls, status).

pub mod certificate;
pub mod plan;
pub mod reconcile;
