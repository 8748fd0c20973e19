//! ElectLeaders (API 43): the controller's (forwarded there from any broker). v0 knows only
//! preferred elections; v1 adds the election type and a request-level error code. An unknown
//! election type is INVALID_REQUEST for the request and each partition, as Kafka answers it.

use std::sync::Arc;

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};

use super::{str_bytes, Broker, RequestContext};
use crate::error::{ApiError, ResponseError};
use crate::metadata::ElectionType;
use crate::security::acl::AclOperation;

pub(super) async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: ElectLeadersRequest,
) -> ElectLeadersResponse {
    let election_type = if ctx.version == 0 {
        Some(ElectionType::Preferred)
    } else {
        ElectionType::from_wire(request.election_type)
    };
    let targets: Option<Vec<(String, Vec<i32>)>> = request.topic_partitions.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.topic.0.to_string(), t.partitions.clone()))
            .collect()
    });
    let mut response = ElectLeadersResponse::default();
    // As Kafka's controller: ALTER on the cluster, else the whole request is refused.
    if !broker.authz(ctx).allows_cluster(AclOperation::Alter) {
        let error = ApiError::from(ResponseError::ClusterAuthorizationFailed);
        return failed(response, targets, &error, ctx.version);
    }
    let Some(election_type) = election_type else {
        let error = ApiError::new(
            ResponseError::InvalidRequest,
            format!("Unknown election type {}", request.election_type),
        );
        return failed(response, targets, &error, ctx.version);
    };
    let results = match broker
        .controller
        .elect_leaders(election_type, targets.clone())
        .await
    {
        Ok(results) => results,
        Err(e) => return failed(response, targets, &e, ctx.version),
    };
    broker.await_applied(broker.image().offset).await;
    for (topic, partitions) in results {
        let mut t = ReplicaElectionResult::default().with_topic(str_bytes(&topic).into());
        for (partition, outcome) in partitions {
            let mut p = PartitionResult::default().with_partition_id(partition);
            if let Err(e) = outcome {
                p.error_code = e.error_code();
                p.error_message = e.error_message();
            }
            t.partition_result.push(p);
        }
        response.replica_election_results.push(t);
    }
    response
}

/// The whole request failed: the error on the request (v1+, which has the field) and on
/// every partition it named.
fn failed(
    mut response: ElectLeadersResponse,
    targets: Option<Vec<(String, Vec<i32>)>>,
    error: &ApiError,
    version: i16,
) -> ElectLeadersResponse {
    if version >= 1 {
        response.error_code = error.error_code();
    }
    for (topic, partitions) in targets.unwrap_or_default() {
        let mut t = ReplicaElectionResult::default().with_topic(str_bytes(&topic).into());
        for partition in partitions {
            t.partition_result.push(
                PartitionResult::default()
                    .with_partition_id(partition)
                    .with_error_code(error.error_code())
                    .with_error_message(error.error_message()),
            );
        }
        response.replica_election_results.push(t);
    }
    response
}
