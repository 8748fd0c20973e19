//! The Connector controller: `plan` (pure: the config Connect should hold, the state
//! transition and restarts to request, readiness from what Connect reports) and `reconcile`
//! (finalizer, the Connect REST calls, status).

pub mod plan;
pub mod reconcile;
