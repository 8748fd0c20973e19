//! The KafkaCluster controller, one step a module: `validate` (pure: the spec judged as the
//! brokers will judge it) → `build` (pure: every desired object) → `reconcile` (apply them
//! in order with server-side apply, delete orphans by label, write status). `names` holds
//! every name, label and port they share; `health` asks the brokers how they are (the
//! cluster gauges).

pub mod build;
pub mod certs;
pub mod health;
pub mod metadata_version;
pub mod names;
pub mod reconcile;
pub mod roll;
pub mod tls;
pub mod validate;

#[cfg(test)]
pub(crate) mod test_support;
