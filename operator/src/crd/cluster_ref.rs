//! `ClusterRef`: how a Topic, User or Connector names the KafkaCluster it belongs to.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An RFC 1123 label: what Kubernetes allows as a name that is part of other names (a
/// KafkaCluster's, a node pool's).
pub const DNS_LABEL_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// The KafkaCluster a resource belongs to, in the resource's own namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRef {
    /// The KafkaCluster's name.
    #[schemars(length(min = 1, max = 63), regex(pattern = DNS_LABEL_PATTERN))]
    pub name: String,
}
