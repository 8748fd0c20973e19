//! AlterPartitionReassignments and ListPartitionReassignments: the controller's (forwarded
//! there from any broker); the handler shapes its domain answers into the responses and, after
//! a change, waits until local partition state caught up.

use std::sync::Arc;

use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};

use super::{str_bytes, Broker, RequestContext};
use crate::error::ResponseError;
use crate::metadata::ReassignmentSpec;
use crate::security::acl::AclOperation;

fn broker_ids(ids: &[i32]) -> Vec<BrokerId> {
    ids.iter().copied().map(BrokerId).collect()
}

pub(super) async fn handle_alter(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    // As Kafka's controller: ALTER on the cluster, else the error on the request and on
    // every partition it named.
    if !broker.authz(ctx).allows_cluster(AclOperation::Alter) {
        let code = ResponseError::ClusterAuthorizationFailed.code();
        let responses = request
            .topics
            .iter()
            .map(|t| {
                let partitions = t.partitions.iter().map(|p| {
                    ReassignablePartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                });
                ReassignableTopicResponse::default()
                    .with_name(t.name.clone())
                    .with_partitions(partitions.collect())
            })
            .collect();
        return AlterPartitionReassignmentsResponse::default()
            .with_error_code(code)
            .with_responses(responses);
    }
    let specs: Vec<ReassignmentSpec> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| ReassignmentSpec {
                topic: t.name.0.to_string(),
                partition: p.partition_index,
                replicas: p.replicas.as_ref().map(|r| r.iter().map(|b| b.0).collect()),
            })
        })
        .collect();
    let results = broker
        .controller
        .alter_partition_reassignments(specs, request.allow_replication_factor_change)
        .await;
    broker.await_applied(broker.image().offset).await;
    let mut results = results.into_iter();
    let mut response = AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(request.allow_replication_factor_change);
    for topic in &request.topics {
        let mut t = ReassignableTopicResponse::default().with_name(topic.name.clone());
        for partition in &topic.partitions {
            let mut p = ReassignablePartitionResponse::default()
                .with_partition_index(partition.partition_index);
            if let Some(Err(e)) = results.next() {
                p.error_code = e.error_code();
                p.error_message = e.error_message();
            }
            t.partitions.push(p);
        }
        response.responses.push(t);
    }
    response
}

pub(super) fn handle_list(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    // As Kafka's controller: DESCRIBE on the cluster.
    if !broker.authz(ctx).allows_cluster(AclOperation::Describe) {
        return ListPartitionReassignmentsResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    let topics = request.topics.map(|topics| {
        topics
            .into_iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes))
            .collect()
    });
    let mut response = ListPartitionReassignmentsResponse::default();
    match broker.controller.list_partition_reassignments(topics) {
        Ok(by_topic) => {
            for (name, partitions) in by_topic {
                let mut t =
                    OngoingTopicReassignment::default().with_name(TopicName(str_bytes(&name)));
                for p in partitions {
                    t.partitions.push(
                        OngoingPartitionReassignment::default()
                            .with_partition_index(p.partition)
                            .with_replicas(broker_ids(&p.replicas))
                            .with_adding_replicas(broker_ids(&p.adding_replicas))
                            .with_removing_replicas(broker_ids(&p.removing_replicas)),
                    );
                }
                response.topics.push(t);
            }
        }
        Err(e) => {
            response.error_code = e.error_code();
            response.error_message = e.error_message();
        }
    }
    response
}
