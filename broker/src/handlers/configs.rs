//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for TOPIC and BROKER
//! resources (BROKER_LOGGER in `broker_loggers`), and ListConfigResources. Values are layered (topic override > dynamic broker >
//! dynamic cluster default > static > default) by the `config` module; changes to a BROKER
//! resource are checked here as Kafka's broker checks them, then committed through the
//! controller, and take effect when the next metadata image is applied.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{
    alter_configs_response, incremental_alter_configs_request, incremental_alter_configs_response,
    list_config_resources_response, AlterConfigsRequest, AlterConfigsResponse,
    DescribeConfigsRequest, DescribeConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse, ListConfigResourcesRequest, ListConfigResourcesResponse,
};

use kafka_protocol::protocol::StrBytes;

use super::authorization::Authz;
use super::{str_bytes, Broker, RequestContext};
use crate::error::{ApiError, ResponseError};
use crate::metadata::{AlterOp, ConfigChangeSpec, ConfigResource};
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};
use ironlog_config::{self as config, DescribedConfig};

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
const RESOURCE_BROKER_LOGGER: i8 = 8;
const RESOURCE_CLIENT_METRICS: i8 = 16;
const RESOURCE_GROUP: i8 = 32;

/// Kafka's authorization of a config resource: a topic's configs on the topic
/// (TOPIC_AUTHORIZATION_FAILED), a group's on the group, the others (brokers, broker
/// loggers, client metrics) on the cluster (CLUSTER_AUTHORIZATION_FAILED).
fn authorize_resource(
    authz: &Authz<'_>,
    resource_type: i8,
    name: &str,
    operation: AclOperation,
) -> Result<(), ApiError> {
    let (resource_type, name) = match resource_type {
        RESOURCE_TOPIC => (ResourceType::Topic, name),
        RESOURCE_GROUP => (ResourceType::Group, name),
        _ => (ResourceType::Cluster, CLUSTER_NAME),
    };
    authz
        .check(operation, resource_type, name)
        .map_err(ApiError::code_only)
}

/// Which request names a resource: Kafka words its broker-id errors differently in
/// DescribeConfigs and in the alter requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Describe,
    Alter,
    /// An alter request another broker forwarded: it checked that a BROKER resource names
    /// itself; the controller takes any registered broker (Kafka's `ControllerApis`).
    ForwardedAlter,
}

impl Purpose {
    fn alter(ctx: &RequestContext) -> Self {
        if ctx.forwarded {
            Purpose::ForwardedAlter
        } else {
            Purpose::Alter
        }
    }
}

/// Maps a (type, name) pair from a request onto a metadata config resource.
fn resource_of(
    broker: &Broker,
    resource_type: i8,
    name: &str,
    purpose: Purpose,
) -> Result<ConfigResource, ApiError> {
    let invalid = |message: String| ApiError::new(ResponseError::InvalidRequest, message);
    match resource_type {
        RESOURCE_TOPIC => {
            crate::metadata::validate_topic_name(name)
                .map_err(|e| ApiError::new(ResponseError::InvalidTopicException, e.to_string()))?;
            Ok(ConfigResource::Topic(name.to_owned()))
        }
        RESOURCE_BROKER if name.is_empty() => Ok(ConfigResource::Broker(None)),
        RESOURCE_BROKER => {
            let node_id = broker.node_id;
            match (name.parse::<i32>(), purpose) {
                (Ok(id), _) if id == node_id => Ok(ConfigResource::Broker(Some(id))),
                (Ok(id), Purpose::ForwardedAlter) => Ok(ConfigResource::Broker(Some(id))),
                (Ok(_), Purpose::Describe) => Err(invalid(format!(
                    "Unexpected broker id, expected {node_id} or empty string, but received {name}"
                ))),
                (Ok(_), Purpose::Alter) => Err(invalid(format!(
                    "Unexpected broker id, expected {node_id}, but received {name}"
                ))),
                (Err(_), Purpose::Describe) => Err(invalid(format!(
                    "Broker id must be an integer, but it is: {name}"
                ))),
                (Err(_), Purpose::Alter | Purpose::ForwardedAlter) => Err(invalid(format!(
                    "Node id must be an integer, but it is: {name}"
                ))),
            }
        }
        // BROKER_LOGGER is answered by `broker_loggers` before this; legacy AlterConfigs
        // does not support it (Kafka: unknown resource type).
        RESOURCE_CLIENT_METRICS | RESOURCE_GROUP => Err(invalid(format!(
            "config resource type {resource_type} is not supported by this broker"
        ))),
        other => Err(invalid(format!("Unknown resource type {other}"))),
    }
}

/// Kafka's broker-side checks of a change to a BROKER resource (read-only keys, per-broker
/// keys at the cluster default, values, APPEND/SUBTRACT on lists), before the controller.
fn check_broker_change(
    resource: &ConfigResource,
    ops: &[(&str, config::BrokerConfigOp<'_>)],
) -> Result<(), ApiError> {
    let ConfigResource::Broker(id) = resource else {
        return Ok(());
    };
    config::check_broker_config_change(ops, id.is_some()).map_err(|e| match e {
        config::BrokerConfigChangeError::InvalidRequest(m) => {
            ApiError::new(ResponseError::InvalidRequest, m)
        }
        config::BrokerConfigChangeError::InvalidConfig(m) => {
            ApiError::new(ResponseError::InvalidConfig, m)
        }
    })
}

pub(super) fn handle_describe(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let image = broker.image();
    let empty = BTreeMap::new();
    let synonyms = request.include_synonyms;
    let docs = request.include_documentation && ctx.version >= 3;
    let mut response = DescribeConfigsResponse::default();
    let authz = broker.authz(ctx);
    for res in request.resources {
        let mut out = DescribeConfigsResult::default();
        out.resource_type = res.resource_type;
        out.resource_name = res.resource_name.clone();
        if let Err(e) = authorize_resource(
            &authz,
            res.resource_type,
            &res.resource_name,
            AclOperation::DescribeConfigs,
        ) {
            out.error_code = e.error_code();
            response.results.push(out);
            continue;
        }
        // As Kafka: no keys, or an empty list, means every config.
        let keys: Option<Vec<String>> = res
            .configuration_keys
            .as_ref()
            .filter(|k| !k.is_empty())
            .map(|k| k.iter().map(|s| s.to_string()).collect());
        if res.resource_type == RESOURCE_BROKER_LOGGER {
            match super::broker_loggers::describe(broker, &res.resource_name, keys.as_deref()) {
                Ok(configs) => out.configs = configs,
                Err(e) => {
                    out.error_code = e.error_code();
                    out.error_message = e.error_message();
                }
            }
            response.results.push(out);
            continue;
        }
        let described: Result<Vec<DescribedConfig>, ApiError> = resource_of(
            broker,
            res.resource_type,
            &res.resource_name,
            Purpose::Describe,
        )
        .and_then(|resource| {
            match &resource {
                ConfigResource::Topic(name) => {
                    if !image.topics.contains_key(name) {
                        return Err(ResponseError::UnknownTopicOrPartition.into());
                    }
                    let topic = image.configs.get(&resource).unwrap_or(&empty);
                    Ok(config::describe_topic_configs(
                        &broker.config_layers(&image, topic, &empty),
                        synonyms,
                        docs,
                    ))
                }
                ConfigResource::Broker(Some(_)) => Ok(config::describe_broker_configs(
                    &broker.config_layers(&image, &empty, &empty),
                    synonyms,
                    docs,
                )),
                // The cluster-wide default resource lists only what was set dynamically.
                ConfigResource::Broker(None) => Ok(config::describe_broker_default_configs(
                    &broker.config_layers(&image, &empty, &empty),
                    synonyms,
                    docs,
                )),
            }
        });
        match described {
            Ok(configs) => {
                for c in configs {
                    if keys.as_ref().is_some_and(|k| !k.contains(&c.name)) {
                        continue;
                    }
                    out.configs.push(to_wire(c, ctx.version));
                }
            }
            Err(e) => {
                out.error_code = e.error_code();
                out.error_message = e.error_message();
            }
        }
        response.results.push(out);
    }
    response
}

fn to_wire(c: DescribedConfig, version: i16) -> DescribeConfigsResourceResult {
    let mut r = DescribeConfigsResourceResult::default();
    r.name = str_bytes(&c.name);
    r.value = if c.is_sensitive {
        None
    } else {
        c.value.as_deref().map(str_bytes)
    };
    r.read_only = c.read_only;
    r.config_source = c.source.id();
    r.is_sensitive = c.is_sensitive;
    if version >= 3 {
        r.config_type = c.config_type_id();
        r.documentation = c.documentation.as_deref().map(str_bytes);
    }
    r.synonyms = c
        .synonyms
        .into_iter()
        .map(|s| {
            let mut out = DescribeConfigsSynonym::default();
            out.name = str_bytes(&s.name);
            out.value = if c.is_sensitive {
                None
            } else {
                s.value.as_deref().map(str_bytes)
            };
            out.source = s.source.id();
            out
        })
        .collect();
    r
}

/// Commits the parsed changes (one `Result` per resource: a change, or why it was rejected
/// before reaching the controller) and returns one result per resource, in order.
async fn commit_changes(
    broker: &Broker,
    parsed: Vec<Result<ConfigChangeSpec, ApiError>>,
    validate_only: bool,
) -> Vec<Result<(), ApiError>> {
    let mut specs = Vec::new();
    let mut early = Vec::with_capacity(parsed.len());
    for p in parsed {
        match p {
            Ok(spec) => {
                specs.push(spec);
                early.push(None);
            }
            Err(e) => early.push(Some(e)),
        }
    }
    let mut committed = broker
        .controller
        .alter_configs(specs, validate_only)
        .await
        .into_iter();
    if !validate_only {
        broker.await_applied(broker.image().offset).await;
    }
    early
        .into_iter()
        .map(|e| match e {
            Some(e) => Err(e),
            None => committed
                .next()
                .unwrap_or_else(|| Err(ResponseError::UnknownServerError.into())),
        })
        .collect()
}

/// (error code, message) of a result, as the alter responses carry them.
fn error_fields(result: Result<(), ApiError>) -> (i16, Option<StrBytes>) {
    match result {
        Ok(()) => (0, None),
        Err(e) => (e.error_code(), e.error_message()),
    }
}

/// The alter responses' entries (`$entry`, one type per API): each of the request's
/// `$resources` with its result from `$results`, in the request's order.
macro_rules! resource_responses {
    ($entry:ty, $resources:expr, $results:expr) => {
        $resources
            .iter()
            .zip($results)
            .map(|(res, result)| {
                let mut r = <$entry>::default();
                r.resource_type = res.resource_type;
                r.resource_name = res.resource_name.clone();
                (r.error_code, r.error_message) = error_fields(result);
                r
            })
            .collect()
    };
}

/// Legacy AlterConfigs: the given set replaces every dynamic value of the resource.
pub(super) async fn handle_alter(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let image = broker.image();
    let authz = broker.authz(ctx);
    let parsed = request
        .resources
        .iter()
        .map(|res| {
            authorize_resource(
                &authz,
                res.resource_type,
                &res.resource_name,
                AclOperation::AlterConfigs,
            )?;
            check_keys(
                res.configs
                    .iter()
                    .map(|c| (c.name.as_str(), c.value.is_some())),
            )?;
            let resource = resource_of(
                broker,
                res.resource_type,
                &res.resource_name,
                Purpose::alter(ctx),
            )?;
            let ops: Vec<(&str, config::BrokerConfigOp)> = res
                .configs
                .iter()
                .filter_map(|c| {
                    Some((
                        c.name.as_str(),
                        config::BrokerConfigOp::Set(c.value.as_deref()?),
                    ))
                })
                .collect();
            check_broker_change(&resource, &ops)?;
            let wanted: BTreeMap<String, String> = res
                .configs
                .iter()
                .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
                .collect();
            let ops = crate::metadata::legacy_replace_ops(&image, &resource, wanted);
            Ok(ConfigChangeSpec { resource, ops })
        })
        .collect();
    let results = commit_changes(broker, parsed, request.validate_only).await;
    AlterConfigsResponse::default().with_responses(resource_responses!(
        alter_configs_response::AlterConfigsResourceResponse,
        request.resources,
        results
    ))
}

/// Kafka's first checks of a resource's config entries (name, value present), in its
/// order: each key at most once, then no null value (the flag says whether a value is
/// present or not needed, as for DELETE).
fn check_keys<'a>(entries: impl Iterator<Item = (&'a str, bool)> + Clone) -> Result<(), ApiError> {
    let invalid = |message: String| ApiError::new(ResponseError::InvalidRequest, message);
    let mut seen = std::collections::BTreeSet::new();
    if entries.clone().any(|(name, _)| !seen.insert(name)) {
        return Err(invalid("Error due to duplicate config keys".to_string()));
    }
    let nulls: Vec<&str> = entries
        .filter(|(_, ok)| !ok)
        .map(|(name, _)| name)
        .collect();
    if !nulls.is_empty() {
        return Err(invalid(format!(
            "Null value not supported for : {}",
            nulls.join(", ")
        )));
    }
    Ok(())
}

/// Parses one IncrementalAlterConfigs resource into a change (operations 0 SET, 1 DELETE,
/// 2 APPEND, 3 SUBTRACT; a key at most once), checked as Kafka's broker checks it.
fn parse_incremental(
    broker: &Broker,
    res: &incremental_alter_configs_request::AlterConfigsResource,
    purpose: Purpose,
) -> Result<ConfigChangeSpec, ApiError> {
    const DELETE: i8 = 1;
    check_keys(res.configs.iter().map(|c| {
        (
            c.name.as_str(),
            c.value.is_some() || c.config_operation == DELETE,
        )
    }))?;
    let resource = resource_of(broker, res.resource_type, &res.resource_name, purpose)?;
    let mut ops: Vec<(String, AlterOp)> = Vec::new();
    for c in &res.configs {
        let value = c.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
        let op = match c.config_operation {
            0 => AlterOp::Set(value),
            DELETE => AlterOp::Delete,
            2 => AlterOp::Append(value),
            3 => AlterOp::Subtract(value),
            op => {
                return Err(ApiError::new(
                    ResponseError::InvalidRequest,
                    format!("Unknown operations type {op}"),
                ))
            }
        };
        ops.push((c.name.to_string(), op));
    }
    let broker_ops: Vec<(&str, config::BrokerConfigOp)> = ops
        .iter()
        .map(|(name, op)| {
            let op = match op {
                AlterOp::Set(v) => config::BrokerConfigOp::Set(v),
                AlterOp::Delete => config::BrokerConfigOp::Delete,
                AlterOp::Append(v) => config::BrokerConfigOp::Append(v),
                AlterOp::Subtract(v) => config::BrokerConfigOp::Subtract(v),
            };
            (name.as_str(), op)
        })
        .collect();
    check_broker_change(&resource, &broker_ops)?;
    Ok(ConfigChangeSpec { resource, ops })
}

pub(super) async fn handle_incremental_alter(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let authz = broker.authz(ctx);
    let refusals: Vec<Result<(), ApiError>> = request
        .resources
        .iter()
        .map(|res| {
            authorize_resource(
                &authz,
                res.resource_type,
                &res.resource_name,
                AclOperation::AlterConfigs,
            )
        })
        .collect();
    let mut refused = refusals.iter();
    // BROKER_LOGGER resources change this process's log levels, not metadata.
    let is_logger = |res: &incremental_alter_configs_request::AlterConfigsResource| {
        res.resource_type == RESOURCE_BROKER_LOGGER
    };
    let parsed = request
        .resources
        .iter()
        .zip(&refusals)
        .filter(|(res, _)| !is_logger(res))
        .map(|(res, refusal)| match refusal {
            Err(e) => Err(e.clone()),
            Ok(()) => parse_incremental(broker, res, Purpose::alter(ctx)),
        })
        .collect();
    let mut committed = commit_changes(broker, parsed, request.validate_only)
        .await
        .into_iter();
    let results: Vec<Result<(), ApiError>> = request
        .resources
        .iter()
        .map(|res| {
            let refusal = refused.next().cloned().unwrap_or(Ok(()));
            if is_logger(res) {
                refusal?;
                super::broker_loggers::alter(broker, res, request.validate_only)
            } else {
                committed
                    .next()
                    .unwrap_or_else(|| Err(ResponseError::UnknownServerError.into()))
            }
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(resource_responses!(
        incremental_alter_configs_response::AlterConfigsResourceResponse,
        request.resources,
        results
    ))
}

/// ListConfigResources (KIP-1142; v0 is its predecessor ListClientMetricsResources): the
/// config resources that exist, of the requested types — every type the version knows when
/// none is named (v0 knows only CLIENT_METRICS); an unknown type fails the request with
/// UNSUPPORTED_VERSION, as in Kafka. Kafka's order: groups, client metrics, broker loggers,
/// brokers, topics. This broker has no group configs or client-metrics subscriptions, so it
/// lists its broker-logger resource, brokers and topics.
pub(super) fn handle_list_config_resources(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: ListConfigResourcesRequest,
) -> ListConfigResourcesResponse {
    const V0_TYPES: &[i8] = &[RESOURCE_CLIENT_METRICS];
    const V1_TYPES: &[i8] = &[
        RESOURCE_TOPIC,
        RESOURCE_BROKER,
        RESOURCE_BROKER_LOGGER,
        RESOURCE_CLIENT_METRICS,
        RESOURCE_GROUP,
    ];
    let supported = if ctx.version == 0 { V0_TYPES } else { V1_TYPES };
    let wanted: &[i8] = if request.resource_types.is_empty() {
        supported
    } else {
        &request.resource_types
    };
    let mut response = ListConfigResourcesResponse::default();
    // As Kafka: DESCRIBE_CONFIGS on the cluster.
    if !broker
        .authz(ctx)
        .allows_cluster(AclOperation::DescribeConfigs)
    {
        response.error_code = ResponseError::ClusterAuthorizationFailed.code();
        return response;
    }
    if wanted.iter().any(|t| !supported.contains(t)) {
        response.error_code = ResponseError::UnsupportedVersion.code();
        return response;
    }
    let resource = |resource_type: i8, name: &str| {
        let mut r = list_config_resources_response::ConfigResource::default();
        r.resource_name = str_bytes(name);
        r.resource_type = resource_type;
        r
    };
    let image = broker.image();
    let brokers = || {
        image
            .brokers
            .values()
            .filter(|b| !b.fenced && b.listeners.iter().any(|l| l.name == *ctx.listener_name))
    };
    // Every broker's loggers, as Kafka lists them (each broker describes its own).
    for resource_type in [RESOURCE_BROKER_LOGGER, RESOURCE_BROKER] {
        if wanted.contains(&resource_type) {
            response
                .config_resources
                .extend(brokers().map(|b| resource(resource_type, &b.broker_id.to_string())));
        }
    }
    if wanted.contains(&RESOURCE_TOPIC) {
        response.config_resources.extend(
            image
                .topics
                .keys()
                .map(|name| resource(RESOURCE_TOPIC, name)),
        );
    }
    response
}
