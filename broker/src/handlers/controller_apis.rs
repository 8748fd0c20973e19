//! The controller listener's own Kafka APIs (Kafka's `ControllerApis`): BrokerRegistration,
//! BrokerHeartbeat, AllocateProducerIds and AlterPartition from brokers, UpdateRaftVoter
//! from voters, DescribeQuorum, AddRaftVoter, RemoveRaftVoter and DescribeCluster (the controllers, KIP-919: what an
//! admin client with `bootstrap.controllers` asks first) from tools, and
//! ApiVersions with the controller listener's table. They need only the controller and the
//! quorum, so they are served from the moment the controller listener is bound — before
//! this node's own broker side exists. The admin APIs on this listener (and Envelopes) run
//! the broker's handlers once [`ControllerEndpoint::set_broker`] was called.

use std::sync::{Arc, OnceLock};

use kafka_protocol::messages::alter_partition_response::{
    PartitionData as AlteredPartition, TopicData as AlteredTopic,
};
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{
    AllocateProducerIdsRequest, AllocateProducerIdsResponse, AlterPartitionRequest,
    AlterPartitionResponse, BrokerHeartbeatRequest, BrokerHeartbeatResponse, BrokerId,
    BrokerRegistrationRequest, BrokerRegistrationResponse, DescribeClusterRequest,
    DescribeClusterResponse, ProducerId, RequestKind, ResponseKind,
};

use super::authorization::Authz;
use super::{
    api_versions, describe_quorum, raft_voters, str_bytes, Broker, Outcome, RequestContext,
    AUTHORIZED_OPERATIONS_OMITTED,
};
use crate::error::{ApiError, ResponseError};
use crate::metadata::features::FeatureRange;
use crate::metadata::{
    BrokerEndpoint, BrokerHeartbeat, BrokerRegistrationRequest as Registration, Controller,
    IsrChange, MetadataQuorum,
};
use crate::metrics::Metrics;
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::security::authorizer::Authorizer;
use crate::txn::PRODUCER_ID_BLOCK_SIZE;
use ironlog_config::{BrokerConfig, SecurityProtocol};

/// What the controller listener serves.
pub(crate) struct ControllerEndpoint {
    pub quorum: Arc<MetadataQuorum>,
    pub controller: Arc<Controller>,
    pub config: BrokerConfig,
    /// The process's metrics, which count this listener's requests from the start.
    pub metrics: Arc<Metrics>,
    pub authorizer: Arc<Authorizer>,
    broker: OnceLock<Arc<Broker>>,
}

impl ControllerEndpoint {
    pub(crate) fn new(
        quorum: Arc<MetadataQuorum>,
        controller: Arc<Controller>,
        config: BrokerConfig,
        metrics: Arc<Metrics>,
        authorizer: Arc<Authorizer>,
    ) -> Self {
        Self {
            quorum,
            controller,
            config,
            metrics,
            authorizer,
            broker: OnceLock::new(),
        }
    }

    /// This node's broker side, once started.
    pub(crate) fn broker(&self) -> Option<Arc<Broker>> {
        self.broker.get().cloned()
    }

    pub(crate) fn set_broker(&self, broker: Arc<Broker>) {
        if self.broker.set(broker).is_err() {
            tracing::warn!("the controller listener's broker was set twice");
        }
    }
}

/// Serves the controller's own APIs; `Err(request)` for any other (the broker's handlers).
pub(crate) async fn handle(
    endpoint: &ControllerEndpoint,
    ctx: &RequestContext,
    request: RequestKind,
) -> Result<Outcome, RequestKind> {
    // Brokers' lifecycle APIs need CLUSTER_ACTION, DescribeQuorum DESCRIBE on the cluster
    // (Kafka's `ControllerApis`); the admin APIs check their own in the broker's handlers.
    let authz = Authz::new(
        &endpoint.authorizer,
        &endpoint.metrics,
        || endpoint.quorum.image().acls.clone(),
        ctx,
    );
    let refused = ResponseError::ClusterAuthorizationFailed.code();
    let response = match request {
        RequestKind::ApiVersions(r) => ResponseKind::ApiVersions(api_versions::handle(
            ctx,
            r,
            &endpoint.quorum.image(),
            endpoint.quorum.kraft_version(),
        )),
        RequestKind::BrokerRegistration(_)
            if !authz.allows_cluster(AclOperation::ClusterAction) =>
        {
            ResponseKind::BrokerRegistration(
                BrokerRegistrationResponse::default()
                    .with_error_code(refused)
                    .with_broker_epoch(-1),
            )
        }
        RequestKind::BrokerHeartbeat(_) if !authz.allows_cluster(AclOperation::ClusterAction) => {
            ResponseKind::BrokerHeartbeat(
                BrokerHeartbeatResponse::default()
                    .with_error_code(refused)
                    .with_is_fenced(true),
            )
        }
        RequestKind::AllocateProducerIds(_)
            if !authz.allows_cluster(AclOperation::ClusterAction) =>
        {
            ResponseKind::AllocateProducerIds(
                AllocateProducerIdsResponse::default()
                    .with_error_code(refused)
                    .with_producer_id_start(ProducerId(-1)),
            )
        }
        RequestKind::AlterPartition(_) if !authz.allows_cluster(AclOperation::ClusterAction) => {
            ResponseKind::AlterPartition(AlterPartitionResponse::default().with_error_code(refused))
        }
        RequestKind::DescribeQuorum(_) if !authz.allows_cluster(AclOperation::Describe) => {
            ResponseKind::DescribeQuorum(
                kafka_protocol::messages::DescribeQuorumResponse::default()
                    .with_error_code(refused),
            )
        }
        RequestKind::BrokerRegistration(r) => {
            ResponseKind::BrokerRegistration(registration(endpoint, r).await)
        }
        RequestKind::BrokerHeartbeat(r) => {
            ResponseKind::BrokerHeartbeat(heartbeat(&endpoint.controller, r).await)
        }
        RequestKind::AllocateProducerIds(r) => {
            ResponseKind::AllocateProducerIds(allocate_producer_ids(endpoint, r).await)
        }
        RequestKind::AlterPartition(r) => {
            ResponseKind::AlterPartition(alter_partition(endpoint, ctx.version, r).await)
        }
        RequestKind::DescribeQuorum(r) => ResponseKind::DescribeQuorum(describe_quorum::handle(
            &endpoint.quorum,
            &endpoint.config.controller_listener_name(),
            r,
        )),
        RequestKind::DescribeCluster(r) => {
            ResponseKind::DescribeCluster(describe_cluster(endpoint, &authz, r))
        }
        // ALTER on the cluster, as Kafka's `ControllerApis` asks
        RequestKind::AddRaftVoter(r) => ResponseKind::AddRaftVoter(
            raft_voters::handle_add(
                &endpoint.quorum,
                authz.allows_cluster(AclOperation::Alter),
                r,
            )
            .await,
        ),
        RequestKind::RemoveRaftVoter(r) => ResponseKind::RemoveRaftVoter(
            raft_voters::handle_remove(
                &endpoint.quorum,
                authz.allows_cluster(AclOperation::Alter),
                r,
            )
            .await,
        ),
        // CLUSTER_ACTION on the cluster, as Kafka's `ControllerApis` asks of raft RPCs
        RequestKind::UpdateRaftVoter(r) => ResponseKind::UpdateRaftVoter(
            raft_voters::handle_update(
                &endpoint.quorum,
                authz.allows_cluster(AclOperation::ClusterAction),
                &endpoint.config.controller_listener_name(),
                r,
            )
            .await,
        ),
        other => return Err(other),
    };
    Ok(Outcome::Respond(Box::new(response)))
}

/// DescribeCluster of the controllers (endpoint type 2, KIP-919): every controller's
/// controller listener and the active controller; brokers (type 1) are not described here
/// (UNSUPPORTED_ENDPOINT_TYPE, as Kafka). Anyone may ask; the cluster's authorized
/// operations only with DESCRIBE on it.
fn describe_cluster(
    endpoint: &ControllerEndpoint,
    authz: &Authz<'_>,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let quorum = &endpoint.quorum;
    let mut response = DescribeClusterResponse::default()
        .with_endpoint_type(request.endpoint_type)
        .with_cluster_id(str_bytes(&quorum.cluster_id().unwrap_or_default()))
        .with_controller_id(BrokerId(quorum.leader_id().unwrap_or(-1)));
    response.cluster_authorized_operations = if !request.include_cluster_authorized_operations {
        AUTHORIZED_OPERATIONS_OMITTED
    } else if authz.allows_cluster(AclOperation::Describe) {
        authz.operations(ResourceType::Cluster, CLUSTER_NAME)
    } else {
        0
    };
    if request.endpoint_type != 2 {
        response.error_code = ResponseError::UnsupportedEndpointType.code();
        response.error_message = Some(str_bytes("controllers only describe controller endpoints"));
        return response;
    }
    for (id, addr) in quorum.controller_addresses() {
        let Some((host, port)) = addr.rsplit_once(':') else {
            continue;
        };
        let Ok(port) = port.parse::<i32>() else {
            continue;
        };
        response.brokers.push(
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(id))
                .with_host(str_bytes(
                    host.trim_start_matches('[').trim_end_matches(']'),
                ))
                .with_port(port),
        );
    }
    response
}

async fn registration(
    endpoint: &ControllerEndpoint,
    request: BrokerRegistrationRequest,
) -> BrokerRegistrationResponse {
    let mut response = BrokerRegistrationResponse::default();
    let ours = endpoint.quorum.cluster_id().unwrap_or_default();
    if request.cluster_id.as_str() != ours {
        tracing::warn!(broker_id = request.broker_id.0, theirs = %request.cluster_id, %ours, "refusing the registration of a broker of another cluster");
        response.error_code = ResponseError::InconsistentClusterId.code();
        response.broker_epoch = -1;
        return response;
    }
    let registration = Registration {
        broker_id: request.broker_id.0,
        incarnation_id: request.incarnation_id,
        listeners: request
            .listeners
            .iter()
            .map(|l| BrokerEndpoint {
                name: l.name.to_string(),
                host: l.host.to_string(),
                port: l.port,
                security_protocol: protocol_name(l.security_protocol).to_string(),
            })
            .collect(),
        rack: request.rack.as_ref().map(|r| r.to_string()),
        // A request without features comes from a build before feature records.
        features: (!request.features.is_empty()).then(|| {
            request
                .features
                .iter()
                .map(|f| {
                    (
                        f.name.to_string(),
                        FeatureRange {
                            min: f.min_supported_version,
                            max: f.max_supported_version,
                        },
                    )
                })
                .collect()
        }),
    };
    match endpoint.controller.register_broker(registration).await {
        Ok(epoch) => response.broker_epoch = epoch,
        Err(e) => {
            tracing::info!(broker_id = request.broker_id.0, error = %e, "broker registration refused");
            response.error_code = e.error_code();
            response.broker_epoch = -1;
        }
    }
    response
}

fn protocol_name(id: i16) -> &'static str {
    [
        SecurityProtocol::Plaintext,
        SecurityProtocol::Ssl,
        SecurityProtocol::SaslPlaintext,
        SecurityProtocol::SaslSsl,
    ]
    .into_iter()
    .find(|p| p.id() == id)
    .map_or("PLAINTEXT", |p| p.name())
}

async fn heartbeat(
    controller: &Controller,
    request: BrokerHeartbeatRequest,
) -> BrokerHeartbeatResponse {
    let mut response = BrokerHeartbeatResponse::default();
    let outcome = controller
        .heartbeat(BrokerHeartbeat {
            broker_id: request.broker_id.0,
            broker_epoch: request.broker_epoch,
            current_metadata_offset: request.current_metadata_offset,
            want_fence: request.want_fence,
            want_shut_down: request.want_shut_down,
        })
        .await;
    match outcome {
        Ok(outcome) => {
            response.is_caught_up = outcome.is_caught_up;
            response.is_fenced = outcome.is_fenced;
            response.should_shut_down = outcome.should_shut_down;
        }
        Err(e) => {
            response.error_code = e.error_code();
            response.is_fenced = true;
        }
    }
    response
}

async fn allocate_producer_ids(
    endpoint: &ControllerEndpoint,
    request: AllocateProducerIdsRequest,
) -> AllocateProducerIdsResponse {
    let mut response = AllocateProducerIdsResponse::default();
    let broker_id = request.broker_id.0;
    let checked = match endpoint.quorum.image().brokers.get(&broker_id) {
        None => Err(ApiError::new(
            ResponseError::StaleBrokerEpoch,
            format!("No broker registration found for broker {broker_id}"),
        )),
        Some(b) if b.epoch != request.broker_epoch => Err(ApiError::new(
            ResponseError::StaleBrokerEpoch,
            format!(
                "Expected broker epoch {}, but got broker epoch {}",
                b.epoch, request.broker_epoch
            ),
        )),
        Some(_) => Ok(()),
    };
    let allocated = match checked {
        Ok(()) => {
            endpoint
                .controller
                .allocate_producer_ids(broker_id, PRODUCER_ID_BLOCK_SIZE)
                .await
        }
        Err(e) => Err(e),
    };
    match allocated {
        Ok(start) => {
            response.producer_id_start = ProducerId(start);
            response.producer_id_len = PRODUCER_ID_BLOCK_SIZE as i32;
        }
        Err(e) => {
            response.error_code = e.error_code();
            response.producer_id_start = ProducerId(-1);
        }
    }
    response
}

/// AlterPartition (Kafka's `ControllerApis.handleAlterPartitionRequest`): request-level
/// NOT_CONTROLLER and STALE_BROKER_EPOCH, then each partition checked and committed on its
/// own (`Controller::alter_partition`), its error or its new leadership and ISR answered.
async fn alter_partition(
    endpoint: &ControllerEndpoint,
    version: i16,
    request: AlterPartitionRequest,
) -> AlterPartitionResponse {
    let controller = &endpoint.controller;
    let mut response = AlterPartitionResponse::default();
    let checked = if endpoint.quorum.is_active_controller() {
        controller.check_broker_epoch(request.broker_id.0, request.broker_epoch)
    } else {
        Err(ApiError::code_only(ResponseError::NotController))
    };
    if let Err(e) = checked {
        tracing::info!(broker_id = request.broker_id.0, error = %e, "AlterPartition refused");
        response.error_code = e.error_code();
        return response;
    }
    for topic in request.topics {
        let mut answered = AlteredTopic::default().with_topic_id(topic.topic_id);
        for p in topic.partitions {
            let (new_isr, new_isr_broker_epochs) = if version >= 3 {
                (
                    p.new_isr_with_epochs
                        .iter()
                        .map(|b| b.broker_id.0)
                        .collect(),
                    p.new_isr_with_epochs
                        .iter()
                        .map(|b| (b.broker_id.0, b.broker_epoch))
                        .collect(),
                )
            } else {
                (p.new_isr.iter().map(|b| b.0).collect(), Default::default())
            };
            let mut out = AlteredPartition::default().with_partition_index(p.partition_index);
            if p.leader_recovery_state != 0 {
                // Recovery from an unclean election (a leader alone in its ISR) is not
                // tracked; a leader that says it is recovering is not one of ours.
                out.error_code = ResponseError::InvalidRequest.code();
                answered.partitions.push(out);
                continue;
            }
            let change = IsrChange {
                broker_id: request.broker_id.0,
                broker_epoch: request.broker_epoch,
                topic_id: topic.topic_id,
                partition: p.partition_index,
                leader_epoch: p.leader_epoch,
                partition_epoch: p.partition_epoch,
                new_isr,
                new_isr_broker_epochs,
            };
            match controller.alter_partition(change).await {
                Ok(altered) => {
                    out.leader_id = BrokerId(altered.leader);
                    out.leader_epoch = altered.leader_epoch;
                    out.isr = altered.isr.into_iter().map(BrokerId).collect();
                    out.partition_epoch = altered.partition_epoch;
                }
                Err(e) => out.error_code = e.error_code(),
            }
            answered.partitions.push(out);
        }
        response.topics.push(answered);
    }
    response
}
