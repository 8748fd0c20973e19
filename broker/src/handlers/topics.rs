//! CreateTopics, DeleteTopics, CreatePartitions: validated and committed by the
//! `Controller`; the handler then waits until local partition state caught up so the
//! client's next request sees the change.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, TopicName,
};
use uuid::Uuid;

use super::mutation_quota::MutationQuota;
use super::{str_bytes, Broker, RequestContext};
use crate::error::{ApiError, ResponseError};
use crate::metadata::{CreatePartitionsSpec, CreateTopicSpec, TopicRef};
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};
use ironlog_config as config;

pub(super) async fn handle_create_topics(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let specs: Vec<CreateTopicSpec> = request
        .topics
        .iter()
        .map(|t| CreateTopicSpec {
            name: t.name.0.to_string(),
            num_partitions: t.num_partitions,
            replication_factor: t.replication_factor,
            assignments: t
                .assignments
                .iter()
                .map(|a| {
                    (
                        a.partition_index,
                        a.broker_ids.iter().map(|b| b.0).collect(),
                    )
                })
                .collect(),
            configs: t
                .configs
                .iter()
                .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
                .collect(),
        })
        .collect();
    // As Kafka: CREATE on the cluster, else on each topic; the configs of a created topic
    // are answered only with DESCRIBE_CONFIGS on it.
    let authz = broker.authz(ctx);
    let cluster_create =
        authz.allows_quietly(AclOperation::Create, ResourceType::Cluster, CLUSTER_NAME);
    // Then the controller mutation quota (strict from v6) of each permitted topic.
    let mut quota = MutationQuota::new(broker, ctx, 6);
    let admitted: Vec<Result<(), ApiError>> = specs
        .iter()
        .map(|spec| {
            if !(cluster_create || authz.allows_topic(AclOperation::Create, &spec.name)) {
                return Err(authorization_failed());
            }
            let partitions = if spec.num_partitions != -1 {
                spec.num_partitions
            } else if !spec.assignments.is_empty() {
                spec.assignments.len() as i32
            } else {
                broker.config.num_partitions
            };
            quota.admit(partitions)
        })
        .collect();
    let results = send_admitted(&specs, admitted, |permitted| {
        broker
            .controller
            .create_topics(permitted, request.validate_only)
    })
    .await;
    if !request.validate_only {
        broker.await_applied(broker.image().offset).await;
    }
    let image = broker.image();
    let mut response = CreateTopicsResponse::default();
    response.throttle_time_ms = quota.throttle_time_ms_i32();
    for (spec, result) in specs.iter().zip(results) {
        let mut r = CreatableTopicResult::default();
        r.name = TopicName(str_bytes(&spec.name));
        match result {
            Ok(created) => {
                r.topic_id = if request.validate_only {
                    Uuid::nil()
                } else {
                    created.topic_id
                };
                r.num_partitions = created.num_partitions;
                r.replication_factor = created.replication_factor;
                if ctx.version >= 5 {
                    if authz.allows_topic(AclOperation::DescribeConfigs, &spec.name) {
                        r.configs = Some(created_topic_configs(broker, &image, &spec.configs));
                    } else {
                        r.configs = Some(Vec::new());
                        r.topic_config_error_code = ResponseError::TopicAuthorizationFailed.code();
                    }
                }
            }
            Err(e) => {
                r.error_code = e.error_code();
                r.error_message = e.error_message();
                r.num_partitions = -1;
                r.replication_factor = -1;
            }
        }
        response.topics.push(r);
    }
    response
}

/// The configs a new topic ends up with (CreateTopics v5+ reports them).
fn created_topic_configs(
    broker: &Broker,
    image: &crate::metadata::MetadataImage,
    overrides: &BTreeMap<String, String>,
) -> Vec<CreatableTopicConfigs> {
    let empty = BTreeMap::new();
    let layers = broker.config_layers(image, overrides, &empty);
    config::describe_topic_configs(&layers, false, false)
        .into_iter()
        .map(|c| {
            let mut out = CreatableTopicConfigs::default();
            out.name = str_bytes(&c.name);
            out.value = c.value.as_deref().map(str_bytes);
            out.read_only = c.read_only;
            out.config_source = c.source.id();
            out.is_sensitive = c.is_sensitive;
            out
        })
        .collect()
}

pub(super) async fn handle_delete_topics(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    // v6+ names topics in `topics` (by name or id); older versions in `topic_names`.
    let refs: Vec<TopicRef> = if ctx.version >= 6 {
        request
            .topics
            .iter()
            .map(|t| match &t.name {
                Some(n) => TopicRef::Name(n.0.to_string()),
                None => TopicRef::Id(t.topic_id),
            })
            .collect()
    } else {
        request
            .topic_names
            .iter()
            .map(|n| TopicRef::Name(n.0.to_string()))
            .collect()
    };
    // DELETE on each topic (by id: a known id's topic); the refused ones never reach the
    // controller.
    let authz = broker.authz(ctx);
    let image = broker.image();
    let allowed: Vec<bool> = refs
        .iter()
        .map(|r| match r {
            TopicRef::Name(name) => authz.allows_topic(AclOperation::Delete, name),
            TopicRef::Id(id) => image
                .topic_names_by_id
                .get(id)
                .is_none_or(|name| authz.allows_topic(AclOperation::Delete, name)),
        })
        .collect();
    // The controller mutation quota (strict from v5): the partitions of each topic.
    let mut quota = MutationQuota::new(broker, ctx, 5);
    let results = if broker.config.delete_topic_enable {
        let admitted: Vec<Result<(), ApiError>> = refs
            .iter()
            .zip(&allowed)
            .map(|(r, allowed)| {
                if !allowed {
                    return Err(authorization_failed());
                }
                let name = match r {
                    TopicRef::Name(name) => Some(name),
                    TopicRef::Id(id) => image.topic_names_by_id.get(id),
                };
                let partitions = name
                    .and_then(|n| image.topics.get(n))
                    .map_or(0, |t| t.partitions.len() as i32);
                quota.admit(partitions)
            })
            .collect();
        send_admitted(&refs, admitted, |permitted| {
            broker.controller.delete_topics(permitted)
        })
        .await
    } else {
        refs.iter()
            .map(|_| {
                Err(ApiError::new(
                    ResponseError::TopicDeletionDisabled,
                    "delete.topic.enable is false",
                ))
            })
            .collect()
    };
    broker.await_applied(broker.image().offset).await;
    let mut response = DeleteTopicsResponse::default();
    response.throttle_time_ms = quota.throttle_time_ms_i32();
    for (r, result) in refs.iter().zip(results) {
        let mut out = DeletableTopicResult::default();
        match r {
            TopicRef::Name(n) => out.name = Some(TopicName(str_bytes(n))),
            TopicRef::Id(id) => out.topic_id = *id,
        }
        match result {
            Ok((name, id)) => {
                out.name = Some(TopicName(str_bytes(&name)));
                out.topic_id = id;
            }
            Err(e) => {
                out.error_code = e.error_code();
                out.error_message = e.error_message();
            }
        }
        response.responses.push(out);
    }
    response
}

pub(super) async fn handle_create_partitions(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let specs: Vec<CreatePartitionsSpec> = request
        .topics
        .iter()
        .map(|t| CreatePartitionsSpec {
            name: t.name.0.to_string(),
            count: t.count,
            assignments: t.assignments.as_ref().map(|a| {
                a.iter()
                    .map(|x| x.broker_ids.iter().map(|b| b.0).collect())
                    .collect()
            }),
        })
        .collect();
    // ALTER on each topic; the refused ones never reach the controller.
    let authz = broker.authz(ctx);
    // Then the controller mutation quota (strict from v3) of the partitions each adds.
    let image = broker.image();
    let mut quota = MutationQuota::new(broker, ctx, 3);
    let admitted: Vec<Result<(), ApiError>> = specs
        .iter()
        .map(|spec| {
            if !authz.allows_topic(AclOperation::Alter, &spec.name) {
                return Err(authorization_failed());
            }
            let current = image
                .topics
                .get(&spec.name)
                .map_or(spec.count, |t| t.partitions.len() as i32);
            quota.admit(spec.count.saturating_sub(current))
        })
        .collect();
    let results = send_admitted(&specs, admitted, |permitted| {
        broker
            .controller
            .create_partitions(permitted, request.validate_only)
    })
    .await;
    if !request.validate_only {
        broker.await_applied(broker.image().offset).await;
    }
    let mut response = CreatePartitionsResponse::default();
    response.throttle_time_ms = quota.throttle_time_ms_i32();
    for (spec, result) in specs.iter().zip(results) {
        let mut r = CreatePartitionsTopicResult::default();
        r.name = TopicName(str_bytes(&spec.name));
        if let Err(e) = result {
            r.error_code = e.error_code();
            r.error_message = e.error_message();
        }
        response.results.push(r);
    }
    response
}

/// Kafka's refusal of a topic the principal may not create, delete or alter.
fn authorization_failed() -> ApiError {
    ApiError::new(
        ResponseError::TopicAuthorizationFailed,
        "Authorization failed.",
    )
}

/// Sends the topics that passed their checks (`admitted`, one entry per item of `items`)
/// to the controller in one call, and answers every item in request order: the
/// controller's result for an admitted one, its refusal for the others.
async fn send_admitted<I: Clone, T, Fut>(
    items: &[I],
    admitted: Vec<Result<(), ApiError>>,
    send: impl FnOnce(Vec<I>) -> Fut,
) -> Vec<Result<T, ApiError>>
where
    Fut: Future<Output = Vec<Result<T, ApiError>>>,
{
    let permitted = items
        .iter()
        .zip(&admitted)
        .filter(|(_, admitted)| admitted.is_ok())
        .map(|(item, _)| item.clone())
        .collect();
    let mut answered = send(permitted).await.into_iter();
    admitted
        .into_iter()
        .map(|admitted| match admitted {
            Ok(()) => answered
                .next()
                .unwrap_or_else(|| Err(ApiError::code_only(ResponseError::UnknownServerError))),
            Err(e) => Err(e),
        })
        .collect()
}
