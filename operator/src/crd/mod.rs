//! The custom resources (group `ironlog.dev`, version `v1alpha1`) and their CRDs.
//!
//! - [`KafkaCluster`] (`kafka_cluster`), [`Topic`] (`topic`), [`User`] (`user`),
//!   [`Connector`] (`connector`); [`ClusterRef`] names a resource's cluster.
//! - `status`: the status fields every kind has (`observedGeneration`, `conditions`).
//! - `conditions`: the standard `Condition` type, the condition types every status uses and
//!   the `Paused` annotation.
//! - [`crds`] / [`crds_yaml`]: the CRD manifests generated from the types, which `crds/`
//!   holds (`ironlog-operator crds --dir crds` writes them; a test fails when stale).

mod cluster_ref;
pub mod conditions;
pub mod connector;
pub mod kafka_cluster;
pub mod status;
pub mod topic;
pub mod user;

pub use cluster_ref::ClusterRef;
pub use connector::{Connector, ConnectorSpec, ConnectorStatus};
pub use kafka_cluster::{KafkaCluster, KafkaClusterSpec, KafkaClusterStatus};
pub use topic::{Topic, TopicSpec, TopicStatus};
pub use user::{User, UserSpec, UserStatus};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// Every CRD with the file name `crds/` keeps it under.
pub fn crds() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![
        ("kafkaclusters.ironlog.dev.yaml", KafkaCluster::crd()),
        ("topics.ironlog.dev.yaml", Topic::crd()),
        ("users.ironlog.dev.yaml", User::crd()),
        ("connectors.ironlog.dev.yaml", Connector::crd()),
    ]
}

/// The YAML of one CRD as `crds/` keeps it: a header saying how it is made, then the manifest.
pub fn crd_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_yaml_ng::Error> {
    let body = serde_yaml_ng::to_string(crd)?;
    Ok(format!(
        "# Generated from the Rust types in operator/src/crd by `cargo run -p ironlog-operator -- crds --dir crds`.\n# Do not edit: change the types and generate again (a test fails when this file is stale).\n{body}"
    ))
}

/// Every CRD's file name and YAML.
pub fn crds_yaml() -> Result<Vec<(&'static str, String)>, serde_yaml_ng::Error> {
    crds()
        .into_iter()
        .map(|(file, crd)| Ok((file, crd_yaml(&crd)?)))
        .collect()
}
