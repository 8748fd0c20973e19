//! DescribeProducers (API key 61, v0 as Kafka 4): the idempotent and transactional
//! producers a partition leader tracks — epoch, last sequence and timestamp, the
//! coordinator epoch of their last marker, and the start of an open transaction. Kafka's
//! `kafka-transactions.sh describe-producers` / `find-hanging` / `abort` read it.

use std::sync::Arc;

use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};

use super::Broker;
use crate::types::TopicPartition;

pub(super) fn handle_describe_producers(
    broker: &Arc<Broker>,
    ctx: &super::RequestContext,
    request: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let mut response = DescribeProducersResponse::default();
    // As Kafka: READ on each topic.
    let authz = broker.authz(ctx);
    for topic in &request.topics {
        let mut t = TopicResponse::default();
        t.name = topic.name.clone();
        let readable = authz.allows_topic(crate::security::acl::AclOperation::Read, &topic.name.0);
        for &index in &topic.partition_indexes {
            let mut p = PartitionResponse::default();
            p.partition_index = index;
            let tp = TopicPartition::new(topic.name.0.to_string(), index);
            let leader = if readable {
                broker.replicas.leader_partition(&tp)
            } else {
                Err(crate::error::ApiError::code_only(
                    crate::error::ResponseError::TopicAuthorizationFailed,
                ))
            };
            match leader {
                Err(e) => {
                    p.error_code = e.error_code();
                    p.error_message = e.error_message();
                }
                Ok(partition) => {
                    p.active_producers = partition
                        .log
                        .producer_entries()
                        .into_iter()
                        .map(|e| {
                            let mut s = ProducerState::default();
                            s.producer_id = ProducerId(e.producer_id);
                            s.producer_epoch = i32::from(e.producer_epoch);
                            s.last_sequence = e.last_seq().unwrap_or(-1);
                            s.last_timestamp = e.last_timestamp_ms;
                            s.coordinator_epoch = e.coordinator_epoch;
                            s.current_txn_start_offset = e.current_txn_first_offset.unwrap_or(-1);
                            s
                        })
                        .collect();
                }
            }
            t.partitions.push(p);
        }
        response.topics.push(t);
    }
    response
}
