//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for TOPIC and BROKER
//! resources. Values are layered (topic override > dynamic broker > dynamic cluster default >
//! static > default) by the `config` module; changes are committed through the controller
//! and take effect when the next metadata image is applied.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{
    alter_configs_response, incremental_alter_configs_request, incremental_alter_configs_response,
    AlterConfigsRequest, AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};

use kafka_protocol::protocol::StrBytes;

use super::{str_bytes, Broker, RequestContext};
use crate::config::{self, DescribedConfig};
use crate::error::{ApiError, ResponseError};
use crate::metadata::{AlterOp, ConfigChangeSpec, ConfigResource};

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

/// Maps a (type, name) pair from a request onto a metadata config resource.
fn resource_of(broker: &Broker, resource_type: i8, name: &str) -> Result<ConfigResource, ApiError> {
    match resource_type {
        RESOURCE_TOPIC => {
            crate::metadata::validate_topic_name(name)
                .map_err(|e| ApiError::new(ResponseError::InvalidTopicException, e.to_string()))?;
            Ok(ConfigResource::Topic(name.to_owned()))
        }
        RESOURCE_BROKER if name.is_empty() => Ok(ConfigResource::Broker(None)),
        RESOURCE_BROKER => match name.parse::<i32>() {
            Ok(id) if id == broker.node_id => Ok(ConfigResource::Broker(Some(id))),
            _ => Err(ApiError::new(
                ResponseError::InvalidRequest,
                format!(
                    "unexpected broker id {name}; this is broker {}",
                    broker.node_id
                ),
            )),
        },
        other => Err(ApiError::new(
            ResponseError::InvalidRequest,
            format!("unsupported config resource type {other}"),
        )),
    }
}

pub fn handle_describe(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let image = broker.image();
    let empty = BTreeMap::new();
    let synonyms = request.include_synonyms;
    let docs = request.include_documentation && ctx.version >= 3;
    let mut response = DescribeConfigsResponse::default();
    for res in request.resources {
        let mut out = DescribeConfigsResult::default();
        out.resource_type = res.resource_type;
        out.resource_name = res.resource_name.clone();
        let described: Result<Vec<DescribedConfig>, ApiError> =
            resource_of(broker, res.resource_type, &res.resource_name).and_then(|resource| {
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
                let keys: Option<Vec<String>> = res
                    .configuration_keys
                    .as_ref()
                    .map(|k| k.iter().map(|s| s.to_string()).collect());
                for c in configs {
                    if keys.as_ref().is_some_and(|k| !k.contains(&c.name)) {
                        continue;
                    }
                    out.configs.push(to_wire(c, ctx.version));
                }
            }
            Err(e) => {
                out.error_code = e.error_code();
                out.error_message = e.message.as_deref().map(str_bytes);
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
        r.config_type = c.config_type.id();
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
        Err(e) => (e.error_code(), e.message.as_deref().map(str_bytes)),
    }
}

/// Legacy AlterConfigs: the given set replaces every dynamic value of the resource.
pub async fn handle_alter(
    broker: &Arc<Broker>,
    request: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let image = broker.image();
    let parsed = request
        .resources
        .iter()
        .map(|res| {
            let resource = resource_of(broker, res.resource_type, &res.resource_name)?;
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
    let mut response = AlterConfigsResponse::default();
    for (res, result) in request.resources.iter().zip(results) {
        let mut r = alter_configs_response::AlterConfigsResourceResponse::default();
        r.resource_type = res.resource_type;
        r.resource_name = res.resource_name.clone();
        (r.error_code, r.error_message) = error_fields(result);
        response.responses.push(r);
    }
    response
}

/// Parses one IncrementalAlterConfigs resource into a change (operations 0 SET, 1 DELETE,
/// 2 APPEND, 3 SUBTRACT; a key at most once).
fn parse_incremental(
    broker: &Broker,
    res: &incremental_alter_configs_request::AlterConfigsResource,
) -> Result<ConfigChangeSpec, ApiError> {
    let resource = resource_of(broker, res.resource_type, &res.resource_name)?;
    let mut ops: Vec<(String, AlterOp)> = Vec::new();
    for c in &res.configs {
        let value = c.value.as_ref().map(|v| v.to_string());
        let op = match (c.config_operation, value) {
            (0, Some(v)) => AlterOp::Set(v),
            (1, _) => AlterOp::Delete,
            (2, Some(v)) => AlterOp::Append(v),
            (3, Some(v)) => AlterOp::Subtract(v),
            (0 | 2 | 3, None) => {
                return Err(ApiError::new(
                    ResponseError::InvalidRequest,
                    format!("null value for {}", c.name),
                ))
            }
            (op, _) => {
                return Err(ApiError::new(
                    ResponseError::InvalidRequest,
                    format!("unknown config operation {op}"),
                ))
            }
        };
        if ops.iter().any(|(n, _)| n.as_str() == c.name.as_str()) {
            return Err(ApiError::new(
                ResponseError::InvalidRequest,
                format!("duplicate config key {}", c.name),
            ));
        }
        ops.push((c.name.to_string(), op));
    }
    Ok(ConfigChangeSpec { resource, ops })
}

pub async fn handle_incremental_alter(
    broker: &Arc<Broker>,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let parsed = request
        .resources
        .iter()
        .map(|res| parse_incremental(broker, res))
        .collect();
    let results = commit_changes(broker, parsed, request.validate_only).await;
    let mut response = IncrementalAlterConfigsResponse::default();
    for (res, result) in request.resources.iter().zip(results) {
        let mut r = incremental_alter_configs_response::AlterConfigsResourceResponse::default();
        r.resource_type = res.resource_type;
        r.resource_name = res.resource_name.clone();
        (r.error_code, r.error_message) = error_fields(result);
        response.responses.push(r);
    }
    response
}
