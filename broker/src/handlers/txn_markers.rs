//! WriteTxnMarkers (API key 27, v1 as Kafka 4): the transaction coordinator's request to
//! partition leaders to end a transaction with COMMIT or ABORT control batches. Served by
//! [`GroupCoordinator::write_txn_markers`](crate::group::GroupCoordinator::write_txn_markers)
//! (markers, then the completion of transactional offsets on `__consumer_offsets`), the
//! same method the in-process coordinator calls, so tests can drive markers over the wire
//! as Kafka's coordinator does.

use std::sync::Arc;

use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};

use super::Broker;
use crate::replica::TxnMarker;
use crate::types::TopicPartition;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    ctx: &super::RequestContext,
    request: WriteTxnMarkersRequest,
) -> WriteTxnMarkersResponse {
    // As Kafka: only brokers (CLUSTER_ACTION) write markers.
    if !broker
        .authz(ctx)
        .allows_cluster(crate::security::acl::AclOperation::ClusterAction)
    {
        let refused = crate::error::ResponseError::ClusterAuthorizationFailed.code();
        return response(&request, || refused);
    }
    let markers: Vec<TxnMarker> = request
        .markers
        .iter()
        .map(|m| TxnMarker {
            producer_id: m.producer_id.0,
            producer_epoch: m.producer_epoch,
            coordinator_epoch: m.coordinator_epoch,
            commit: m.transaction_result,
            partitions: m
                .topics
                .iter()
                .flat_map(|t| {
                    t.partition_indexes
                        .iter()
                        .map(|p| TopicPartition::new(t.name.0.to_string(), *p))
                })
                .collect(),
        })
        .collect();
    tracing::debug!(markers = markers.len(), "WriteTxnMarkers");
    // Results come back flattened in request order: marker by marker, topic by topic.
    let mut results = broker.groups.write_txn_markers(markers).await.into_iter();
    response(&request, || match results.next() {
        Some((_, _, Ok(()))) => 0,
        Some((_, _, Err(e))) => e.error_code(),
        None => crate::error::ResponseError::UnknownServerError.code(),
    })
}

/// The response to `request`: every partition it names, in request order, with the code
/// `next_code()` gives it.
fn response(
    request: &WriteTxnMarkersRequest,
    mut next_code: impl FnMut() -> i16,
) -> WriteTxnMarkersResponse {
    let mut response = WriteTxnMarkersResponse::default();
    for marker in &request.markers {
        let mut result = WritableTxnMarkerResult::default();
        result.producer_id = marker.producer_id;
        for topic in &marker.topics {
            let mut topic_result = WritableTxnMarkerTopicResult::default();
            topic_result.name = topic.name.clone();
            for partition in &topic.partition_indexes {
                let mut p = WritableTxnMarkerPartitionResult::default();
                p.partition_index = *partition;
                p.error_code = next_code();
                topic_result.partitions.push(p);
            }
            result.topics.push(topic_result);
        }
        response.markers.push(result);
    }
    response
}
