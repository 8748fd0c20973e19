//! `canary::topic`: the canary topic kept in the shape Strimzi's canary gives it — a
//! partition per broker whose preferred leader (first replica) is that broker, replication
//! factor min(3, brokers) — created when missing, and given a partition for every broker
//! that joins (one whose id leads no partition's replica list). Existing partitions are
//! not moved: reassignment is left to the cluster's tools.
//!
//! Admin requests go through the canary's admin `Client`: Metadata to any broker,
//! CreateTopics and CreatePartitions to the controller as Metadata names it (a broker,
//! which forwards them).

use std::collections::BTreeMap;
use std::time::Duration;

use ironlog_protocol::kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use ironlog_protocol::kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic,
};
use ironlog_protocol::kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use ironlog_protocol::kafka_protocol::messages::{
    BrokerId, CreatePartitionsRequest, CreateTopicsRequest, MetadataRequest, TopicName,
};
use ironlog_protocol::kafka_protocol::protocol::StrBytes;
use ironlog_protocol::kafka_protocol::ResponseError;
use ironlog_protocol::{creatable_topic_configs, Client, Error, SendOptions, Target};

/// Replication factor of the canary topic when the cluster has this many brokers or more.
const REPLICATION_FACTOR_MAX: usize = 3;

/// One partition as Metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartitionState {
    /// `None`: no leader (Metadata's -1, or an error code for the partition).
    pub(crate) leader: Option<i32>,
    pub(crate) replicas: Vec<i32>,
}

/// The cluster's brokers and the canary topic, as one Metadata answer gave them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct TopicState {
    /// Broker ids, ascending.
    pub(crate) brokers: Vec<i32>,
    /// `None` when the topic does not exist.
    pub(crate) partitions: Option<BTreeMap<i32, PartitionState>>,
}

/// Why a reconcile step failed (each counts under its own `ironlog_canary_errors_total`
/// kind).
#[derive(Debug, thiserror::Error)]
pub(crate) enum TopicError {
    #[error("metadata: {0}")]
    Metadata(Error),
    #[error("creating topic {topic}: {source}")]
    Create { topic: String, source: Error },
    #[error("adding partitions to {topic}: {source}")]
    AddPartitions { topic: String, source: Error },
    #[error("the cluster metadata lists no brokers")]
    NoBrokers,
}

/// Replica lists for partitions led by `leaders` in turn: each leader first, then the
/// brokers after it in `brokers` (ascending, wrapping), `min(3, brokers)` in all.
pub(crate) fn assignments(brokers: &[i32], leaders: &[i32]) -> Vec<Vec<i32>> {
    let factor = brokers.len().min(REPLICATION_FACTOR_MAX);
    leaders
        .iter()
        .map(|leader| {
            let start = brokers.iter().position(|b| b == leader).unwrap_or(0);
            (0..factor)
                .map(|i| brokers[(start + i) % brokers.len()])
                .collect()
        })
        .collect()
}

/// Brokers no partition prefers as leader (the first of its replicas), ascending.
pub(crate) fn brokers_without_partition(
    brokers: &[i32],
    partitions: &BTreeMap<i32, PartitionState>,
) -> Vec<i32> {
    brokers
        .iter()
        .copied()
        .filter(|b| !partitions.values().any(|p| p.replicas.first() == Some(b)))
        .collect()
}

/// The brokers and the topic now.
pub(crate) async fn describe(
    client: &Client,
    topic: &str,
    timeout: Duration,
) -> Result<TopicState, TopicError> {
    let request = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(
            TopicName(StrBytes::from_string(topic.to_string())),
        ))]))
        .with_allow_auto_topic_creation(false);
    let response = client
        .send_with(
            Target::AnyBroker,
            &request,
            SendOptions::default().timeout(timeout),
            Ok,
        )
        .await
        .map_err(TopicError::Metadata)?;
    let mut brokers: Vec<i32> = response.brokers.iter().map(|b| b.node_id.0).collect();
    brokers.sort_unstable();
    let Some(t) = response
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic))
    else {
        return Ok(TopicState {
            brokers,
            partitions: None,
        });
    };
    if t.error_code == ResponseError::UnknownTopicOrPartition.code() {
        return Ok(TopicState {
            brokers,
            partitions: None,
        });
    }
    Error::check(t.error_code, None).map_err(TopicError::Metadata)?;
    let partitions = t
        .partitions
        .iter()
        .map(|p| {
            let leader = (p.error_code != ResponseError::LeaderNotAvailable.code()
                && p.leader_id.0 >= 0)
                .then_some(p.leader_id.0);
            (
                p.partition_index,
                PartitionState {
                    leader,
                    replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                },
            )
        })
        .collect();
    Ok(TopicState {
        brokers,
        partitions: Some(partitions),
    })
}

/// Brings the topic to its shape (created, a partition per broker) and returns it as
/// Metadata then describes it.
pub(crate) async fn reconcile(
    client: &Client,
    topic: &str,
    configs: &[(String, String)],
    timeout: Duration,
) -> Result<TopicState, TopicError> {
    let state = describe(client, topic, timeout).await?;
    if state.brokers.is_empty() {
        return Err(TopicError::NoBrokers);
    }
    let changed = match &state.partitions {
        None => {
            create(client, topic, configs, &state.brokers, timeout).await?;
            true
        }
        Some(partitions) => {
            let joined = brokers_without_partition(&state.brokers, partitions);
            if joined.is_empty() {
                false
            } else {
                add_partitions(
                    client,
                    topic,
                    &state.brokers,
                    partitions.len(),
                    &joined,
                    timeout,
                )
                .await?;
                true
            }
        }
    };
    if changed {
        describe(client, topic, timeout).await
    } else {
        Ok(state)
    }
}

async fn create(
    client: &Client,
    topic: &str,
    configs: &[(String, String)],
    brokers: &[i32],
    timeout: Duration,
) -> Result<(), TopicError> {
    let assignments = assignments(brokers, brokers)
        .into_iter()
        .enumerate()
        .map(|(i, replicas)| {
            CreatableReplicaAssignment::default()
                .with_partition_index(i as i32)
                .with_broker_ids(replicas.into_iter().map(BrokerId).collect())
        })
        .collect();
    let request = CreateTopicsRequest::default()
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_assignments(assignments)
            .with_configs(creatable_topic_configs(
                configs.iter().map(|(k, v)| (k, v)),
            ))])
        .with_timeout_ms(millis_i32(timeout));
    let created = client
        .send_with(
            Target::Controller,
            &request,
            SendOptions::default().timeout(timeout),
            |response| {
                for t in &response.topics {
                    // a retried request may find the topic its first attempt created
                    if t.error_code != ResponseError::TopicAlreadyExists.code() {
                        Error::check(t.error_code, t.error_message.as_ref())?;
                    }
                }
                Ok(())
            },
        )
        .await;
    created.map_err(|source| TopicError::Create {
        topic: topic.to_string(),
        source,
    })?;
    tracing::info!(topic, brokers = ?brokers, "created the canary topic");
    Ok(())
}

async fn add_partitions(
    client: &Client,
    topic: &str,
    brokers: &[i32],
    existing: usize,
    joined: &[i32],
    timeout: Duration,
) -> Result<(), TopicError> {
    let assignments = assignments(brokers, joined)
        .into_iter()
        .map(|replicas| {
            CreatePartitionsAssignment::default()
                .with_broker_ids(replicas.into_iter().map(BrokerId).collect())
        })
        .collect();
    let request = CreatePartitionsRequest::default()
        .with_topics(vec![CreatePartitionsTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_count((existing + joined.len()) as i32)
            .with_assignments(Some(assignments))])
        .with_timeout_ms(millis_i32(timeout));
    let added = client
        .send_with(
            Target::Controller,
            &request,
            SendOptions::default().timeout(timeout),
            |response| {
                for r in &response.results {
                    // a repeat of a request that already added them
                    if r.error_code != ResponseError::InvalidPartitions.code() {
                        Error::check(r.error_code, r.error_message.as_ref())?;
                    }
                }
                Ok(())
            },
        )
        .await;
    added.map_err(|source| TopicError::AddPartitions {
        topic: topic.to_string(),
        source,
    })?;
    tracing::info!(topic, joined = ?joined, "added canary partitions for brokers that joined");
    Ok(())
}

fn millis_i32(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_broker_leads_one_partition_with_up_to_three_replicas() {
        assert_eq!(assignments(&[1], &[1]), [vec![1]]);
        assert_eq!(assignments(&[1, 2], &[1, 2]), [vec![1, 2], vec![2, 1]]);
        assert_eq!(
            assignments(&[1, 2, 3, 5], &[1, 2, 3, 5]),
            [vec![1, 2, 3], vec![2, 3, 5], vec![3, 5, 1], vec![5, 1, 2]]
        );
    }

    #[test]
    fn a_joined_broker_is_one_no_partition_prefers() {
        let partitions: BTreeMap<i32, PartitionState> = [
            (
                0,
                PartitionState {
                    leader: Some(2),
                    replicas: vec![1, 2],
                },
            ),
            (
                1,
                PartitionState {
                    leader: None,
                    replicas: vec![2, 1],
                },
            ),
        ]
        .into();
        assert_eq!(
            brokers_without_partition(&[1, 2, 3, 4], &partitions),
            [3, 4]
        );
        assert!(brokers_without_partition(&[1, 2], &partitions).is_empty());
        assert_eq!(
            assignments(&[1, 2, 3, 4], &[3, 4]),
            [vec![3, 4, 1], vec![4, 1, 2]]
        );
    }
}
