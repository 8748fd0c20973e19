//! Metadata and DescribeCluster: answered from the current metadata image. Metadata may
//! auto-create topics (`auto.create.topics.enable` and the client's allow flag).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse, MetadataRequest, MetadataResponse,
    TopicName,
};
use uuid::Uuid;

use super::{str_bytes, Broker, RequestContext, AUTHORIZED_OPERATIONS_OMITTED};
use crate::error::{ApiError, ResponseError};
use crate::metadata::{CreateTopicSpec, MetadataImage, PartitionRegistration, TopicImage};
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::types::is_internal_topic;

pub(super) async fn handle_metadata(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: MetadataRequest,
) -> MetadataResponse {
    let mut image = broker.image();
    let authz = broker.authz(ctx);
    // As Kafka: a request naming any topic id asks by id, and then only the topics with an
    // id count (the Java client sends an empty name beside each id).
    let by_id = request
        .topics
        .as_ref()
        .is_some_and(|topics| topics.iter().any(|t| !t.topic_id.is_nil()));
    // Named topics the principal may not DESCRIBE are refused without saying whether they
    // exist (Kafka's rule); the denial is audited, unlike the quiet filtering of "all".
    let mut describable: HashMap<String, bool> = HashMap::new();
    if let Some(topics) = &request.topics {
        for requested in topics.iter().filter(|t| !by_id || !t.topic_id.is_nil()) {
            let name = if by_id {
                image.topic_names_by_id.get(&requested.topic_id).cloned()
            } else {
                requested.name.as_ref().map(|n| n.0.to_string())
            };
            if let Some(name) = name {
                if let std::collections::hash_map::Entry::Vacant(entry) = describable.entry(name) {
                    let allowed = authz.allows_topic(AclOperation::Describe, entry.key());
                    entry.insert(allowed);
                }
            }
        }
    }

    // Auto-create named topics that do not exist yet: CREATE on the cluster, else on each
    // topic (refused ones are TOPIC_AUTHORIZATION_FAILED).
    let allow_create = request.allow_auto_topic_creation && broker.config.auto_create_topics_enable;
    let mut create_denied: HashSet<String> = HashSet::new();
    if allow_create && !by_id {
        let missing: Vec<&String> = describable
            .iter()
            .filter(|(name, allowed)| **allowed && !image.topics.contains_key(*name))
            .map(|(name, _)| name)
            .collect();
        if !missing.is_empty()
            && !authz.allows_quietly(AclOperation::Create, ResourceType::Cluster, CLUSTER_NAME)
        {
            for name in &missing {
                if !authz.allows_topic(AclOperation::Create, name) {
                    create_denied.insert((*name).clone());
                }
            }
        }
        let specs: Vec<CreateTopicSpec> = missing
            .into_iter()
            .filter(|name| !create_denied.contains(*name))
            .map(|name| CreateTopicSpec {
                name: name.clone(),
                num_partitions: -1,
                replication_factor: -1,
                assignments: Default::default(),
                configs: Default::default(),
            })
            .collect();
        if !specs.is_empty() {
            let results = broker.controller_client.create_topics(specs, false).await;
            for r in &results {
                if let Err(e) = r {
                    tracing::debug!(error = %e, client = ?ctx.client_id, "auto-create skipped");
                }
            }
            let offset = broker.image().offset;
            broker.await_applied(offset).await;
            image = broker.image();
        }
    }

    let mut response = MetadataResponse::default();
    response.brokers = brokers_for_listener(&image, &ctx.listener_name);
    response.cluster_id = Some(str_bytes(&image.cluster_id));
    response.controller_id = BrokerId(controller_id_for_clients(&image, &ctx.listener_name));
    response.cluster_authorized_operations = if request.include_cluster_authorized_operations {
        if authz.allows_cluster(AclOperation::Describe) {
            authz.operations(ResourceType::Cluster, CLUSTER_NAME)
        } else {
            0
        }
    } else {
        AUTHORIZED_OPERATIONS_OMITTED
    };
    let ops = |name: &str| {
        if request.include_topic_authorized_operations {
            authz.operations(ResourceType::Topic, name)
        } else {
            AUTHORIZED_OPERATIONS_OMITTED
        }
    };
    let refused = |name: Option<&str>, topic_id: Uuid| {
        let mut t = MetadataResponseTopic::default();
        t.error_code = ResponseError::TopicAuthorizationFailed.code();
        t.name = name.map(|n| TopicName(str_bytes(n)));
        t.topic_id = topic_id;
        t
    };

    match &request.topics {
        None => {
            for topic in image.topics.values() {
                if authz.allows_quietly(AclOperation::Describe, ResourceType::Topic, &topic.name) {
                    response.topics.push(topic_metadata(
                        &image,
                        topic,
                        ops(&topic.name),
                        &ctx.listener_name,
                    ));
                }
            }
        }
        Some(topics) => {
            for requested in topics.iter().filter(|t| !by_id || !t.topic_id.is_nil()) {
                let name = if by_id { None } else { requested.name.as_ref() };
                if by_id {
                    if let Some(name) = image.topic_names_by_id.get(&requested.topic_id) {
                        if describable.get(name) == Some(&false) {
                            // Topic ids are not secret: the id is answered, not the name.
                            response.topics.push(refused(None, requested.topic_id));
                            continue;
                        }
                    }
                } else if let Some(name) = name.map(|n| n.0.as_str()) {
                    if describable.get(name) == Some(&false) || create_denied.contains(name) {
                        response.topics.push(refused(Some(name), Uuid::nil()));
                        continue;
                    }
                }
                let found: Result<&Arc<TopicImage>, (ApiError, Option<String>)> = match name {
                    Some(name) => {
                        let name = name.0.to_string();
                        match image.topics.get(&name) {
                            Some(t) => Ok(t),
                            None if crate::metadata::validate_topic_name(&name).is_err() => {
                                Err((ResponseError::InvalidTopicException.into(), Some(name)))
                            }
                            None => {
                                Err((ResponseError::UnknownTopicOrPartition.into(), Some(name)))
                            }
                        }
                    }
                    None => image
                        .topic_names_by_id
                        .get(&requested.topic_id)
                        .and_then(|n| image.topics.get(n))
                        .ok_or((ResponseError::UnknownTopicId.into(), None)),
                };
                match found {
                    Ok(t) => response.topics.push(topic_metadata(
                        &image,
                        t,
                        ops(&t.name),
                        &ctx.listener_name,
                    )),
                    Err((e, name)) => {
                        let mut t = MetadataResponseTopic::default();
                        t.error_code = e.error_code();
                        t.name = name.as_deref().map(|n| TopicName(str_bytes(n)));
                        t.topic_id = if name.is_none() {
                            requested.topic_id
                        } else {
                            Uuid::nil()
                        };
                        t.topic_authorized_operations = match &name {
                            Some(name) => ops(name),
                            None => AUTHORIZED_OPERATIONS_OMITTED,
                        };
                        response.topics.push(t);
                    }
                }
            }
        }
    }
    response
}

/// The "controller" Kafka names to clients: a random live broker (clients cannot reach the
/// controllers; any broker forwards their admin requests), -1 when none is live.
fn controller_id_for_clients(image: &MetadataImage, listener_name: &str) -> i32 {
    let live: Vec<i32> = image
        .brokers
        .values()
        .filter(|b| !b.fenced && b.listeners.iter().any(|l| l.name == listener_name))
        .map(|b| b.broker_id)
        .collect();
    if live.is_empty() {
        return -1;
    }
    live[(Uuid::new_v4().as_u128() % live.len() as u128) as usize]
}

fn brokers_for_listener(image: &MetadataImage, listener_name: &str) -> Vec<MetadataResponseBroker> {
    image
        .brokers
        .values()
        .filter(|b| !b.fenced)
        .filter_map(|b| {
            let ep = b.listeners.iter().find(|l| l.name == listener_name)?;
            let mut mb = MetadataResponseBroker::default();
            mb.node_id = BrokerId(b.broker_id);
            mb.host = str_bytes(&ep.host);
            mb.port = ep.port as i32;
            mb.rack = b.rack.as_deref().map(str_bytes);
            Some(mb)
        })
        .collect()
}

fn topic_metadata(
    image: &MetadataImage,
    topic: &TopicImage,
    ops: i32,
    listener_name: &str,
) -> MetadataResponseTopic {
    let mut t = MetadataResponseTopic::default();
    t.name = Some(TopicName(str_bytes(&topic.name)));
    t.topic_id = topic.topic_id;
    t.is_internal = is_internal_topic(&topic.name);
    t.topic_authorized_operations = ops;
    for (&index, reg) in &topic.partitions {
        let view = PartitionView::of(image, index, reg, listener_name);
        let mut p = MetadataResponsePartition::default();
        p.partition_index = view.partition_index;
        p.leader_id = BrokerId(view.leader_id);
        p.leader_epoch = view.leader_epoch;
        p.replica_nodes = broker_ids(view.replicas);
        p.isr_nodes = broker_ids(view.isr);
        p.offline_replicas = broker_ids(&view.offline_replicas);
        if view.leader_id < 0 {
            p.error_code = ResponseError::LeaderNotAvailable.code();
        }
        t.partitions.push(p);
    }
    t
}

pub(super) fn broker_ids(ids: &[i32]) -> Vec<BrokerId> {
    ids.iter().map(|&id| BrokerId(id)).collect()
}

/// A partition as the describe APIs (Metadata, DescribeTopicPartitions) show it to a client
/// of one listener, as Kafka's metadata cache does: the leader only if it is registered
/// with an endpoint on that listener and not fenced; offline = replicas that are not registered, fenced,
/// or without that listener (offline log dirs are not tracked yet).
pub(super) struct PartitionView<'a> {
    pub partition_index: i32,
    /// -1 when the leader is unknown or unreachable on this listener.
    pub leader_id: i32,
    pub leader_epoch: i32,
    pub replicas: &'a [i32],
    pub isr: &'a [i32],
    pub offline_replicas: Vec<i32>,
    /// KIP-966 eligible leader replicas and last known ELR, as the image holds them.
    pub eligible_leader_replicas: &'a [i32],
    pub last_known_elr: &'a [i32],
}

impl<'a> PartitionView<'a> {
    pub(super) fn of(
        image: &MetadataImage,
        partition_index: i32,
        reg: &'a PartitionRegistration,
        listener_name: &str,
    ) -> Self {
        let on_listener = |broker_id: i32| {
            image
                .brokers
                .get(&broker_id)
                .filter(|b| b.listeners.iter().any(|l| l.name == listener_name))
        };
        let offline_replicas = reg
            .replicas
            .iter()
            .copied()
            .filter(|&r| on_listener(r).is_none_or(|b| b.fenced))
            .collect();
        Self {
            partition_index,
            // As Kafka's metadata cache: a fenced leader is no leader to clients.
            leader_id: on_listener(reg.leader)
                .filter(|b| !b.fenced)
                .map_or(-1, |_| reg.leader),
            leader_epoch: reg.leader_epoch,
            replicas: &reg.replicas,
            isr: &reg.isr,
            offline_replicas,
            eligible_leader_replicas: &reg.elr,
            last_known_elr: &reg.last_known_elr,
        }
    }
}

pub(super) fn handle_describe_cluster(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let image = broker.image();
    let mut response = DescribeClusterResponse::default();
    let authz = broker.authz(ctx);
    response.endpoint_type = request.endpoint_type;
    response.cluster_id = str_bytes(&image.cluster_id);
    response.controller_id = BrokerId(controller_id_for_clients(&image, &ctx.listener_name));
    // As Kafka: anyone may describe the cluster; its operations only with DESCRIBE on it
    // (else none).
    response.cluster_authorized_operations = if !request.include_cluster_authorized_operations {
        AUTHORIZED_OPERATIONS_OMITTED
    } else if authz.allows_cluster(AclOperation::Describe) {
        authz.operations(ResourceType::Cluster, CLUSTER_NAME)
    } else {
        0
    };
    // endpoint_type 1 = brokers; 2 = controllers, which a broker does not serve (Kafka
    // answers UNSUPPORTED_ENDPOINT_TYPE).
    if request.endpoint_type != 1 {
        response.error_code = ResponseError::UnsupportedEndpointType.code();
        response.error_message = Some(str_bytes("brokers only describe broker endpoints"));
        return response;
    }
    for b in image.brokers.values() {
        if b.fenced && !request.include_fenced_brokers {
            continue;
        }
        let Some(ep) = b.listeners.iter().find(|l| l.name == *ctx.listener_name) else {
            continue;
        };
        let mut db = DescribeClusterBroker::default();
        db.broker_id = BrokerId(b.broker_id);
        db.host = str_bytes(&ep.host);
        db.port = ep.port as i32;
        db.rack = b.rack.as_deref().map(str_bytes);
        db.is_fenced = b.fenced;
        response.brokers.push(db);
    }
    response
}
