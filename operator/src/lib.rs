//! The Ironlog Kubernetes operator: kube-rs controllers that turn `KafkaCluster`, `Topic`,
//! `User` and `Connector` custom resources into a running cluster.
//!
//! - [`crd`]: the custom resource types and the CRD manifests generated from them.
//! - [`cluster`]: the KafkaCluster controller (validate → build → apply → status).

pub mod cluster;
pub mod crd;
