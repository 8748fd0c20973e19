//! `kafka_admin`: the Kafka admin operations the controllers need, over the workspace's
//! protocol client (`ironlog-protocol`; the `kafka-protocol` codec). Domain values in and
//! out — a controller never sees a wire type. Retriable errors (a controller moving, a
//! broker restarting) are retried within the client's bounded policy; what is left is an
//! [`AdminError`] naming the operation and what it was about.
//!
//! - this file: [`KafkaAdmin`], [`AdminError`], [`AdminEndpoint`] (where the brokers are
//!   and how the operator connects: plain TCP, or TLS with its own certificate on a cluster
//!   with authorization), the one request path every operation takes
//!   ([`KafkaAdmin::request`]), and one resource's DescribeConfigs and
//!   IncrementalAlterConfigs (a topic's, a broker's, the cluster-wide defaults);
//! - `topics`: Metadata, DescribeConfigs, CreateTopics, CreatePartitions,
//!   IncrementalAlterConfigs and DeleteTopics of one topic (the Topic controller);
//! - `cluster_state`: every partition's replicas, ISR and min.insync.replicas, the live
//!   brokers, the metadata quorum, and the cluster-wide default broker configs (the
//!   roller and the dynamic configs of the KafkaCluster controller);
//! - `reassign`: the balancer's cluster model (Metadata, DescribeConfigs, DescribeLogDirs)
//!   and partition moves (AlterPartitionReassignments, ListPartitionReassignments);
//! - `brokers`: the registered brokers (DescribeCluster), and UnregisterBroker (a scale-in's last
//!   step);
//! - `features`: what each broker supports and the finalized levels (ApiVersions), and
//!   UpdateFeatures raising one (the metadata version's finalization);
//! - `users`: a user's SCRAM credential, its principal's ACLs and its client quotas (the
//!   User controller).

mod brokers;
mod cluster_state;
mod features;
mod reassign;
mod topics;
mod users;

use std::collections::BTreeMap;
use std::time::Duration;

use ironlog_protocol::kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use ironlog_protocol::kafka_protocol::messages::describe_configs_response::DescribeConfigsResourceResult;
use ironlog_protocol::kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use ironlog_protocol::kafka_protocol::messages::{
    DescribeConfigsRequest, IncrementalAlterConfigsRequest,
};
use ironlog_protocol::kafka_protocol::protocol::{Request, StrBytes};
use ironlog_protocol::kafka_protocol::ResponseError;
use ironlog_protocol::tls::{TlsClient, TlsConnector};
use ironlog_protocol::{Client, ClientConfig, Error, SendOptions, Target};

pub use brokers::Unregistered;
pub use cluster_state::{PartitionReplicas, QuorumDescription, QuorumVoter, ReplicaState};
pub use features::{FeatureView, SupportedRange, METADATA_VERSION_FEATURE};
pub use reassign::OngoingReassignment;
pub use topics::TopicDescription;
pub use users::{salted_password, AclBinding, SCRAM_ITERATIONS};

/// How long the controller may take for a change (the request's `timeout_ms`).
pub const ADMIN_TIMEOUT_MS: i32 = 30_000;

/// Why an admin operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no Kafka client for {bootstrap}: {source}")]
    Client { bootstrap: String, source: Error },
    /// `subject` says what the request was about (`topic orders`, `user alice`).
    #[error("{operation} of {subject}: {source}")]
    Request {
        operation: &'static str,
        subject: String,
        source: Error,
    },
}

impl AdminError {
    /// The Kafka error the broker answered, if that is what failed.
    pub fn kafka_error(&self) -> Option<ResponseError> {
        match self {
            AdminError::Request { source, .. } => source.kafka_error(),
            AdminError::Client { .. } => None,
        }
    }

    /// The reason a resource's condition gives for this failure: the Kafka error's name
    /// (`TopicAlreadyExists`), or `KafkaUnreachable` when no broker answered one.
    pub fn condition_reason(&self) -> String {
        self.kafka_error()
            .map(|e| format!("{e:?}"))
            .unwrap_or_else(|| "KafkaUnreachable".to_string())
    }
}

/// Where a cluster's brokers are for the operator's admin calls, and how it connects.
#[derive(Debug, Clone)]
pub struct AdminEndpoint {
    /// `host:port,...`
    pub bootstrap: String,
    /// TLS with the operator's certificate (the brokers' REPLICATION listener of a cluster
    /// with authorization); plain TCP when `None`.
    pub tls: Option<TlsClient>,
}

impl AdminEndpoint {
    /// Plain TCP to `bootstrap`.
    pub fn plaintext(bootstrap: impl Into<String>) -> AdminEndpoint {
        AdminEndpoint {
            bootstrap: bootstrap.into(),
            tls: None,
        }
    }

    /// A client config for these brokers: the bootstrap servers and the connector.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new(bootstrap_servers(&self.bootstrap));
        if let Some(tls) = &self.tls {
            config.connection.connector = TlsConnector::shared(tls.clone());
        }
        config
    }
}

impl From<&AdminEndpoint> for AdminEndpoint {
    fn from(endpoint: &AdminEndpoint) -> AdminEndpoint {
        endpoint.clone()
    }
}

/// Plain TCP to `host:port,...` (a cluster without authorization, a bootstrap override).
impl From<&str> for AdminEndpoint {
    fn from(bootstrap: &str) -> AdminEndpoint {
        AdminEndpoint::plaintext(bootstrap)
    }
}

impl From<&String> for AdminEndpoint {
    fn from(bootstrap: &String) -> AdminEndpoint {
        AdminEndpoint::plaintext(bootstrap.as_str())
    }
}

impl std::fmt::Display for AdminEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let security = if self.tls.is_some() { "TLS" } else { "TCP" };
        write!(f, "{} ({security})", self.bootstrap)
    }
}

/// An admin client for one cluster.
#[derive(Clone)]
pub struct KafkaAdmin {
    client: Client,
}

/// DescribeConfigs' and IncrementalAlterConfigs' resource types.
pub(crate) const RESOURCE_TOPIC: i8 = 2;
pub(crate) const RESOURCE_BROKER: i8 = 4;

/// IncrementalAlterConfigs' SET and DELETE operations.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;

/// A config set to `value`, or deleted when `None`.
pub(crate) fn alterable(name: &str, value: Option<String>) -> AlterableConfig {
    match value {
        Some(v) => AlterableConfig::default()
            .with_name(sb(name))
            .with_config_operation(OP_SET)
            .with_value(Some(sb(&v))),
        None => AlterableConfig::default()
            .with_name(sb(name))
            .with_config_operation(OP_DELETE)
            .with_value(None),
    }
}

/// `set` set and `delete` deleted, as one resource's IncrementalAlterConfigs entries.
pub(crate) fn alterations(
    set: &BTreeMap<String, String>,
    delete: &[String],
) -> Vec<AlterableConfig> {
    set.iter()
        .map(|(k, v)| alterable(k, Some(v.clone())))
        .chain(delete.iter().map(|k| alterable(k, None)))
        .collect()
}

/// The servers of a bootstrap list (`host:port,...`, as a status or a CR names it).
pub(crate) fn bootstrap_servers(bootstrap: &str) -> Vec<String> {
    bootstrap
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

pub(crate) fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// The one result a single-entry request's response holds.
pub(crate) fn only<T>(results: Vec<T>, operation: &str) -> Result<T, Error> {
    results
        .into_iter()
        .next()
        .ok_or_else(|| Error::Config(format!("{operation} answered no result")))
}

impl KafkaAdmin {
    /// A client bootstrapping from `endpoint` (an [`AdminEndpoint`], or a `host:port,...`
    /// reached over plain TCP); connects on first use.
    pub fn new(endpoint: impl Into<AdminEndpoint>) -> Result<KafkaAdmin, AdminError> {
        let endpoint: AdminEndpoint = endpoint.into();
        let mut config = endpoint.client_config();
        // a reconcile should fail over in seconds, not minutes: the controller retries it
        config.retry.total_timeout = Duration::from_secs(20);
        let client = Client::new(config).map_err(|source| AdminError::Client {
            bootstrap: endpoint.to_string(),
            source,
        })?;
        Ok(KafkaAdmin { client })
    }

    /// Sends `request` to `target`; `check` turns the response into the value (or the
    /// Kafka error its entries carry). A failure is named by `operation` and `subject`.
    pub(crate) async fn request<R, T>(
        &self,
        target: Target,
        request: &R,
        options: SendOptions,
        operation: &'static str,
        subject: impl FnOnce() -> String,
        check: impl FnMut(R::Response) -> Result<T, Error>,
    ) -> Result<T, AdminError>
    where
        R: Request + 'static,
    {
        self.client
            .send_with(target, request, options, check)
            .await
            .map_err(|source| AdminError::Request {
                operation,
                subject: subject(),
                source,
            })
    }

    /// Every config DescribeConfigs reports for one resource (`resource_type`, `name`;
    /// `subject` names it in an error).
    pub(crate) async fn describe_resource_configs(
        &self,
        resource_type: i8,
        name: &str,
        subject: impl FnOnce() -> String,
    ) -> Result<Vec<DescribeConfigsResourceResult>, AdminError> {
        let request = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(sb(name))
                .with_configuration_keys(None),
        ]);
        self.request(
            Target::AnyBroker,
            &request,
            SendOptions::default(),
            "DescribeConfigs",
            subject,
            |response| {
                let result = only(response.results, "DescribeConfigs")?;
                Error::check(result.error_code, result.error_message.as_ref())?;
                Ok(result.configs)
            },
        )
        .await
    }

    /// One resource's IncrementalAlterConfigs (`resource_type`, `name`), sent to `target`
    /// (`subject` names the resource in an error).
    pub(crate) async fn alter_resource_configs(
        &self,
        target: Target,
        resource_type: i8,
        name: &str,
        configs: Vec<AlterableConfig>,
        subject: impl FnOnce() -> String,
    ) -> Result<(), AdminError> {
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(sb(name))
                .with_configs(configs),
        ]);
        self.request(
            target,
            &request,
            SendOptions::default(),
            "IncrementalAlterConfigs",
            subject,
            |response| {
                let result = only(response.responses, "IncrementalAlterConfigs")?;
                Error::check(result.error_code, result.error_message.as_ref())
            },
        )
        .await
    }
}
