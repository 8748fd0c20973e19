//! `ClusterRef`: how a Topic, User or Connector names the KafkaCluster it belongs to.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The KafkaCluster a resource belongs to, in the resource's own namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRef {
    /// The KafkaCluster's name.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub name: String,
}
