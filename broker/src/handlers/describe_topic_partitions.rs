//! DescribeTopicPartitions (API 75, KIP-966): topics and their partitions, paged, as newer
//! Java AdminClients describe topics. Answered from the current metadata image, as Kafka's
//! metadata cache does:
//! - the request names topics, or none for every topic; topics are served in name order,
//!   each from partition 0 except the cursor's topic, which starts at the cursor's partition;
//! - at most `min(max.request.partition.size.limit, response_partition_limit)` partitions
//!   (at least 1) per response; where it stops, `next_cursor` names the first partition left
//!   out (a topic and partition 0 when the limit fell exactly on a topic's end);
//! - a named topic that does not exist is UNKNOWN_TOPIC_OR_PARTITION (INVALID_TOPIC_EXCEPTION
//!   for an illegal name); listing every topic only lists existing ones;
//! - a cursor whose topic is not among the named topics, or with a negative partition, is
//!   INVALID_REQUEST for every named topic.
//!
//! Partitions are shaped by `metadata::PartitionView`, shared with Metadata.

use std::collections::BTreeSet;
use std::sync::Arc;

use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{
    DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName,
};
use uuid::Uuid;

use super::metadata::{broker_ids, PartitionView};
use super::{str_bytes, Broker, RequestContext};
use crate::error::ResponseError;
use crate::metadata::{validate_topic_name, MetadataImage, TopicImage};
use crate::security::acl::{AclOperation, ResourceType};
use crate::types::is_internal_topic;

pub(super) fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let image = broker.image();
    let requested: Vec<String> = request
        .topics
        .iter()
        .map(|t| t.name.0.to_string())
        .collect();
    let cursor = request
        .cursor
        .as_ref()
        .map(|c| (c.topic_name.0.to_string(), c.partition_index));
    let partition_limit = request
        .response_partition_limit
        .min(broker.config.max_request_partition_size_limit)
        .max(1);
    // DESCRIBE on each topic: a named one refused is TOPIC_AUTHORIZATION_FAILED (audited),
    // "every topic" lists only the describable ones.
    let authz = broker.authz(ctx);
    let all_topics = requested.is_empty();
    let access = TopicAccess {
        describable: &|name: &str| {
            if all_topics {
                authz.allows_quietly(AclOperation::Describe, ResourceType::Topic, name)
            } else {
                authz.allows_topic(AclOperation::Describe, name)
            }
        },
        operations: &|name: &str| authz.operations(ResourceType::Topic, name),
    };
    match describe(
        &image,
        &requested,
        cursor,
        partition_limit,
        &ctx.listener_name,
        &access,
    ) {
        Ok(response) => response,
        Err(reason) => {
            tracing::debug!(client = ?ctx.client_id, reason, "invalid DescribeTopicPartitions request");
            invalid_request(&requested)
        }
    }
}

/// What the principal may see of a topic.
struct TopicAccess<'a> {
    describable: &'a dyn Fn(&str) -> bool,
    /// The topic's authorized-operations bits.
    operations: &'a dyn Fn(&str) -> i32,
}

/// One page of the description, or why the request is invalid.
fn describe(
    image: &MetadataImage,
    requested: &[String],
    cursor: Option<(String, i32)>,
    partition_limit: i32,
    listener_name: &str,
    access: &TopicAccess<'_>,
) -> Result<DescribeTopicPartitionsResponse, &'static str> {
    let all_topics = requested.is_empty();
    let cursor_topic = cursor.as_ref().map_or("", |(topic, _)| topic.as_str());
    let candidates: Vec<&str> = if all_topics {
        image.topics.keys().map(String::as_str).collect()
    } else {
        requested.iter().map(String::as_str).collect()
    };
    let names: BTreeSet<&str> = candidates
        .into_iter()
        .filter(|name| *name >= cursor_topic)
        .collect();
    if let Some((topic, partition)) = &cursor {
        if !all_topics && !names.contains(topic.as_str()) {
            return Err("the cursor's topic is not among the requested topics");
        }
        if *partition < 0 {
            return Err("the cursor's partition is negative");
        }
    }

    let mut response = DescribeTopicPartitionsResponse::default();
    let mut remaining = partition_limit;
    for name in names {
        if remaining == 0 {
            // The limit fell exactly on the end of the previous topic.
            response.next_cursor = Some(cursor_at(name, 0));
            break;
        }
        if !(access.describable)(name) {
            if !all_topics {
                let mut t = DescribeTopicPartitionsResponseTopic::default();
                t.error_code = ResponseError::TopicAuthorizationFailed.code();
                t.name = Some(TopicName(str_bytes(name)));
                t.topic_id = Uuid::nil();
                response.topics.push(t);
            }
            continue;
        }
        let Some(topic) = image.topics.get(name) else {
            if !all_topics {
                response
                    .topics
                    .push(unknown_topic(name, (access.operations)(name)));
            }
            continue;
        };
        let start = match &cursor {
            Some((cursor_topic, partition)) if cursor_topic == name => *partition,
            _ => 0,
        };
        let (mut described, next_partition) =
            partitions_page(image, topic, start, remaining, listener_name);
        described.topic_authorized_operations = (access.operations)(name);
        remaining -= i32::try_from(described.partitions.len()).unwrap_or(i32::MAX);
        response.topics.push(described);
        if let Some(next) = next_partition {
            response.next_cursor = Some(cursor_at(name, next));
            break;
        }
    }
    Ok(response)
}

/// `topic` from partition `start` on, at most `limit` partitions; the first partition left
/// out, if any.
fn partitions_page(
    image: &MetadataImage,
    topic: &TopicImage,
    start: i32,
    limit: i32,
    listener_name: &str,
) -> (DescribeTopicPartitionsResponseTopic, Option<i32>) {
    let count = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
    let end = count.min(start.saturating_add(limit));
    let mut t = DescribeTopicPartitionsResponseTopic::default();
    t.name = Some(TopicName(str_bytes(&topic.name)));
    t.topic_id = topic.topic_id;
    t.is_internal = is_internal_topic(&topic.name);
    for (&index, reg) in topic.partitions.range(start..end.max(start)) {
        let view = PartitionView::of(image, index, reg, listener_name);
        let mut p = DescribeTopicPartitionsResponsePartition::default();
        p.partition_index = view.partition_index;
        p.leader_id = kafka_protocol::messages::BrokerId(view.leader_id);
        p.leader_epoch = view.leader_epoch;
        p.replica_nodes = broker_ids(view.replicas);
        p.isr_nodes = broker_ids(view.isr);
        p.offline_replicas = broker_ids(&view.offline_replicas);
        p.eligible_leader_replicas = Some(broker_ids(view.eligible_leader_replicas));
        p.last_known_elr = Some(broker_ids(view.last_known_elr));
        t.partitions.push(p);
    }
    (t, (end < count).then_some(end))
}

fn unknown_topic(name: &str, operations: i32) -> DescribeTopicPartitionsResponseTopic {
    let mut t = DescribeTopicPartitionsResponseTopic::default();
    t.error_code = if validate_topic_name(name).is_err() {
        ResponseError::InvalidTopicException.code()
    } else {
        ResponseError::UnknownTopicOrPartition.code()
    };
    t.name = Some(TopicName(str_bytes(name)));
    t.topic_id = Uuid::nil();
    t.is_internal = is_internal_topic(name);
    t.topic_authorized_operations = operations;
    t
}

fn cursor_at(topic: &str, partition_index: i32) -> Cursor {
    Cursor::default()
        .with_topic_name(TopicName(str_bytes(topic)))
        .with_partition_index(partition_index)
}

/// Kafka's error response: INVALID_REQUEST for every named topic, nothing else.
fn invalid_request(requested: &[String]) -> DescribeTopicPartitionsResponse {
    let mut response = DescribeTopicPartitionsResponse::default();
    for name in requested {
        let mut t = DescribeTopicPartitionsResponseTopic::default();
        t.error_code = ResponseError::InvalidRequest.code();
        t.name = Some(TopicName(str_bytes(name)));
        response.topics.push(t);
    }
    response
}
