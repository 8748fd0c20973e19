//! `User` (`ironlog.dev/v1alpha1`): a Kafka principal of a KafkaCluster — SCRAM-SHA-512
//! credentials (a generated or referenced password) or a TLS client certificate, its ACLs
//! and quotas. The ACL enums' discriminants are Kafka's codes in the ACL APIs
//! (`AclOperation::Read as i8` is READ's 3).

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ClusterRef;

/// The most ACL rules one User may have.
pub const ACLS_MAX: usize = 256;

/// A Kafka user.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "ironlog.dev",
    doc = "A Kafka user of a KafkaCluster: credentials, ACLs, quotas.",
    version = "v1alpha1",
    kind = "User",
    plural = "users",
    shortname = "ku",
    namespaced,
    status = "UserStatus",
    printcolumn = r#"{"name":"Cluster","type":"string","jsonPath":".spec.clusterRef.name"}"#,
    printcolumn = r#"{"name":"Authentication","type":"string","jsonPath":".spec.authentication.type"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new("self.spec.clusterRef == oldSelf.spec.clusterRef").message("clusterRef is immutable")
)]
#[serde(rename_all = "camelCase")]
pub struct UserSpec {
    /// The KafkaCluster the user belongs to.
    pub cluster_ref: ClusterRef,
    /// How the user authenticates.
    pub authentication: UserAuthentication,
    /// What the user may do (ACLs, converged to this list: missing ones are created,
    /// others deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<UserAuthorization>,
    /// Client quotas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quotas: Option<UserQuotas>,
}

/// A user's credentials.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.type == 'scram-sha-512' || !has(self.password)", "message": "password applies to scram-sha-512 only"},
]))]
pub struct UserAuthentication {
    #[serde(rename = "type")]
    pub type_: UserAuthenticationType,
    /// The password, from a Secret; generated (and stored in the user's Secret) when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<PasswordSource>,
}

/// A user's authentication mechanism.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum UserAuthenticationType {
    #[serde(rename = "scram-sha-512")]
    ScramSha512,
    #[serde(rename = "tls")]
    Tls,
}

/// Where a password comes from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordSource {
    pub secret_key_ref: SecretKeyRef,
}

/// A key of a Secret in the resource's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// The user's ACLs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserAuthorization {
    #[serde(default)]
    #[schemars(length(max = ACLS_MAX))]
    pub acls: Vec<AclRule>,
}

/// One ACL rule: the user may (or may not) do these operations on this resource.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AclRule {
    pub resource: AclResource,
    #[schemars(length(min = 1, max = 16))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub operations: Vec<AclOperation>,
    /// The client host the rule applies to; `*` is any.
    #[serde(default = "any_host")]
    #[schemars(length(min = 1, max = 255))]
    pub host: String,
    #[serde(rename = "type", default)]
    pub type_: AclPermissionType,
}

fn any_host() -> String {
    "*".to_string()
}

/// The resource an ACL rule is about.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.type == 'cluster' ? (!has(self.name) || self.name == 'kafka-cluster') : has(self.name)", "message": "topic, group and transactionalId rules need a name; a cluster rule's name is kafka-cluster"},
]))]
pub struct AclResource {
    #[serde(rename = "type")]
    pub type_: AclResourceType,
    /// The resource's name (a prefix with `patternType: prefixed`; `*` is every one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub name: Option<String>,
    #[serde(default)]
    pub pattern_type: AclPatternType,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[repr(i8)]
pub enum AclResourceType {
    Topic = 2,
    Group = 3,
    Cluster = 4,
    TransactionalId = 5,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
#[repr(i8)]
pub enum AclPatternType {
    #[default]
    Literal = 3,
    Prefixed = 4,
}

/// Kafka's ACL operations.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[repr(i8)]
pub enum AclOperation {
    All = 2,
    Read = 3,
    Write = 4,
    Create = 5,
    Delete = 6,
    Alter = 7,
    Describe = 8,
    ClusterAction = 9,
    DescribeConfigs = 10,
    AlterConfigs = 11,
    IdempotentWrite = 12,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
#[repr(i8)]
pub enum AclPermissionType {
    #[default]
    Allow = 3,
    Deny = 2,
}

/// Kafka's client quotas for the user.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct UserQuotas {
    /// `producer_byte_rate`: bytes per second the user may produce, per broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub producer_byte_rate: Option<i64>,
    /// `consumer_byte_rate`: bytes per second the user may fetch, per broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub consumer_byte_rate: Option<i64>,
    /// `request_percentage`: share of the brokers' request threads, in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub request_percentage: Option<i32>,
    /// `controller_mutation_rate`: partition mutations per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub controller_mutation_rate: Option<i32>,
}

super::status::resource_status! {
    /// What the operator observed and did.
    pub struct UserStatus {
        /// The Kafka principal (`User:<name>`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub principal: Option<String>,
        /// The Secret with the user's credentials.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub secret: Option<String>,
    }
}
