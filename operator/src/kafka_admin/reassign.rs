//! `reassign`: what the balancer asks the cluster — its model (Metadata for brokers, racks,
//! replicas, leaders and ISRs; DescribeConfigs for each topic's `min.insync.replicas`;
//! DescribeLogDirs of every broker for sizes and disk use) — and how it moves partitions
//! (AlterPartitionReassignments, followed with ListPartitionReassignments; ElectLeaders for
//! the preferred leaders it picks) under replication
//! throttles (IncrementalAlterConfigs of the brokers' rates and the topics' throttled
//! replicas).

use std::collections::{BTreeMap, BTreeSet};

use ironlog_protocol::kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use ironlog_protocol::kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use ironlog_protocol::kafka_protocol::messages::elect_leaders_request::TopicPartitions as ElectTopicPartitions;
use ironlog_protocol::kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig;
use ironlog_protocol::kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, BrokerId as WireBrokerId, DescribeLogDirsRequest,
    ElectLeadersRequest, ListPartitionReassignmentsRequest, MetadataRequest, MetadataResponse,
    TopicName,
};
use ironlog_protocol::kafka_protocol::protocol::StrBytes;
use ironlog_protocol::{Error, SendOptions, Target};

use super::{
    alterable, sb, AdminError, KafkaAdmin, ADMIN_TIMEOUT_MS, RESOURCE_BROKER, RESOURCE_TOPIC,
};
use crate::balance::{BrokerId, BrokerModel, ClusterModel, PartitionModel, TopicPartition};

/// A reassignment in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OngoingReassignment {
    pub replicas: Vec<BrokerId>,
    pub adding: Vec<BrokerId>,
    pub removing: Vec<BrokerId>,
}

fn cluster_subject() -> String {
    "the cluster".to_string()
}

impl KafkaAdmin {
    /// The cluster as the balancer sees it, with `drain` as the brokers to empty.
    pub async fn cluster_model(
        &self,
        drain: &BTreeSet<BrokerId>,
    ) -> Result<ClusterModel, AdminError> {
        let request = MetadataRequest::default()
            .with_topics(None)
            .with_allow_auto_topic_creation(false);
        let metadata: MetadataResponse = self
            .request(
                Target::AnyBroker,
                &request,
                SendOptions::default(),
                "Metadata",
                cluster_subject,
                Ok,
            )
            .await?;
        let topics: BTreeSet<String> = metadata
            .topics
            .iter()
            .filter(|t| (!t.is_internal || !drain.is_empty()) && t.error_code == 0)
            .filter_map(|t| Some(t.name.as_ref()?.0.to_string()))
            .collect();
        let min_isr = self.min_insync_replicas(&topics).await?;
        let mut brokers: Vec<BrokerModel> = metadata
            .brokers
            .iter()
            .map(|b| BrokerModel {
                id: b.node_id.0,
                rack: b.rack.as_ref().map(|r| r.to_string()),
                disk_bytes: 0,
            })
            .collect();
        brokers.sort_by_key(|b| b.id);
        let mut sizes: BTreeMap<TopicPartition, u64> = BTreeMap::new();
        for broker in &mut brokers {
            let dirs = self.log_dir_sizes(broker.id, None).await?;
            broker.disk_bytes = dirs.values().sum();
            for (partition, size) in dirs {
                let largest = sizes.entry(partition).or_default();
                *largest = (*largest).max(size);
            }
        }
        let mut partitions = Vec::new();
        // internal topics only while draining: a broker that leaves takes nothing along
        for topic in metadata
            .topics
            .iter()
            .filter(|t| !t.is_internal || !drain.is_empty())
        {
            let Some(name) = topic.name.as_ref().map(|n| n.0.to_string()) else {
                continue;
            };
            // min.insync.replicas unknown (a topic deleted since Metadata): the broker default
            let topic_min_isr = min_isr
                .get(&name)
                .and_then(|&v| usize::try_from(v).ok())
                .unwrap_or(1);
            for p in &topic.partitions {
                let partition = TopicPartition {
                    topic: name.clone(),
                    partition: p.partition_index,
                };
                partitions.push(PartitionModel {
                    size_bytes: sizes.get(&partition).copied().unwrap_or(0),
                    partition,
                    replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                    leader: (p.leader_id.0 >= 0).then_some(p.leader_id.0),
                    isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                    min_isr: topic_min_isr,
                    // one look cannot tell: `balance::bytes_in` compares two
                    bytes_in_per_sec: None,
                });
            }
        }
        Ok(ClusterModel {
            brokers,
            partitions,
            drain: drain.clone(),
        })
    }

    /// The bytes each partition holds on `broker` (its log dirs, future replicas left out):
    /// every partition, or only those of `only`.
    async fn log_dir_sizes(
        &self,
        broker: BrokerId,
        only: Option<&BTreeSet<&TopicPartition>>,
    ) -> Result<BTreeMap<TopicPartition, u64>, AdminError> {
        let topics = only.map(|partitions| {
            let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
            for tp in partitions {
                by_topic.entry(&tp.topic).or_default().push(tp.partition);
            }
            by_topic
                .into_iter()
                .map(|(topic, partitions)| {
                    DescribableLogDirTopic::default()
                        .with_topic(TopicName(sb(topic)))
                        .with_partitions(partitions)
                })
                .collect()
        });
        let request = DescribeLogDirsRequest::default().with_topics(topics);
        self.request(
            Target::Node(broker),
            &request,
            SendOptions::default(),
            "DescribeLogDirs",
            || format!("broker {broker}"),
            |response| {
                Error::check(response.error_code, None)?;
                let mut sizes = BTreeMap::new();
                for dir in response.results.into_iter().filter(|d| d.error_code == 0) {
                    for topic in dir.topics {
                        for p in topic.partitions.into_iter().filter(|p| !p.is_future_key) {
                            sizes.insert(
                                TopicPartition {
                                    topic: topic.name.0.to_string(),
                                    partition: p.partition_index,
                                },
                                u64::try_from(p.partition_size).unwrap_or(0),
                            );
                        }
                    }
                }
                Ok(sizes)
            },
        )
        .await
    }

    /// Submits one reassignment per entry (the new replicas, the preferred leader first).
    /// Returns the partitions the controller refused, each with its error.
    pub async fn alter_partition_reassignments(
        &self,
        targets: &[(TopicPartition, Vec<BrokerId>)],
    ) -> Result<Vec<(TopicPartition, String)>, AdminError> {
        let partitions = targets.iter().map(|(partition, replicas)| {
            let wire = ReassignablePartition::default()
                .with_partition_index(partition.partition)
                .with_replicas(Some(replicas.iter().map(|&b| WireBrokerId(b)).collect()));
            (partition.topic.as_str(), wire)
        });
        let request = AlterPartitionReassignmentsRequest::default()
            .with_timeout_ms(ADMIN_TIMEOUT_MS)
            .with_topics(per_topic(partitions, |name, partitions| {
                ReassignableTopic::default()
                    .with_name(name)
                    .with_partitions(partitions)
            }));
        self.request(
            Target::Controller,
            &request,
            SendOptions::default(),
            "AlterPartitionReassignments",
            || format!("{} partition(s)", targets.len()),
            |response| {
                Error::check(response.error_code, response.error_message.as_ref())?;
                let mut refused = Vec::new();
                for topic in response.responses {
                    for p in topic.partitions.into_iter().filter(|p| p.error_code != 0) {
                        refused.push(partition_failure(
                            &topic.name,
                            p.partition_index,
                            p.error_code,
                            p.error_message,
                        ));
                    }
                }
                Ok(refused)
            },
        )
        .await
    }

    /// The bytes the adding replicas of `ongoing` hold so far on their new brokers (what
    /// the reassignments in flight have copied), each broker asked with DescribeLogDirs.
    pub async fn bytes_copied(
        &self,
        ongoing: &BTreeMap<TopicPartition, OngoingReassignment>,
    ) -> Result<u64, AdminError> {
        // each adding broker is asked about the partitions moving to it only
        let mut moving_to: BTreeMap<BrokerId, BTreeSet<&TopicPartition>> = BTreeMap::new();
        for (partition, r) in ongoing {
            for &broker in &r.adding {
                moving_to.entry(broker).or_default().insert(partition);
            }
        }
        let mut sizes = BTreeMap::new();
        for (broker, partitions) in &moving_to {
            sizes.insert(
                *broker,
                self.log_dir_sizes(*broker, Some(partitions)).await?,
            );
        }
        Ok(copied_so_far(ongoing, &sizes))
    }

    /// Every reassignment in progress.
    pub async fn list_partition_reassignments(
        &self,
    ) -> Result<BTreeMap<TopicPartition, OngoingReassignment>, AdminError> {
        let request = ListPartitionReassignmentsRequest::default()
            .with_timeout_ms(ADMIN_TIMEOUT_MS)
            .with_topics(None);
        self.request(
            Target::Controller,
            &request,
            SendOptions::default(),
            "ListPartitionReassignments",
            cluster_subject,
            |response| {
                Error::check(response.error_code, response.error_message.as_ref())?;
                let ids = |v: Vec<WireBrokerId>| v.into_iter().map(|b| b.0).collect();
                let mut ongoing = BTreeMap::new();
                for topic in response.topics {
                    for p in topic.partitions {
                        ongoing.insert(
                            TopicPartition {
                                topic: topic.name.0.to_string(),
                                partition: p.partition_index,
                            },
                            OngoingReassignment {
                                replicas: ids(p.replicas),
                                adding: ids(p.adding_replicas),
                                removing: ids(p.removing_replicas),
                            },
                        );
                    }
                }
                Ok(ongoing)
            },
        )
        .await
    }
}

/// What the adding replicas of `ongoing` hold, by the partition sizes `sizes` lists per broker.
fn copied_so_far(
    ongoing: &BTreeMap<TopicPartition, OngoingReassignment>,
    sizes: &BTreeMap<BrokerId, BTreeMap<TopicPartition, u64>>,
) -> u64 {
    ongoing
        .iter()
        .flat_map(|(partition, r)| {
            r.adding.iter().map(move |broker| {
                sizes
                    .get(broker)
                    .and_then(|held| held.get(partition))
                    .copied()
                    .unwrap_or(0)
            })
        })
        .fold(0u64, u64::saturating_add)
}

/// The replication throttles: the rates (broker configs) and the replicas (topic configs).
const THROTTLE_RATES: [&str; 2] = [
    "leader.replication.throttled.rate",
    "follower.replication.throttled.rate",
];
const THROTTLED_REPLICAS: [&str; 2] = [
    "leader.replication.throttled.replicas",
    "follower.replication.throttled.replicas",
];

impl KafkaAdmin {
    /// Sets (`Some`) or removes (`None`) `broker`'s replication throttle rates.
    pub async fn set_replication_throttle_rate(
        &self,
        broker: BrokerId,
        bytes_per_sec: Option<u64>,
    ) -> Result<(), AdminError> {
        let configs = THROTTLE_RATES
            .iter()
            .map(|name| alterable(name, bytes_per_sec.map(|r| r.to_string())))
            .collect();
        self.alter_configs(RESOURCE_BROKER, &broker.to_string(), configs)
            .await
    }

    /// Sets `topic`'s throttled replicas (`Some((leader, follower))`) or removes them.
    pub async fn set_throttled_replicas(
        &self,
        topic: &str,
        replicas: Option<(String, String)>,
    ) -> Result<(), AdminError> {
        let values = match replicas {
            Some((leader, follower)) => [Some(leader), Some(follower)],
            None => [None, None],
        };
        let configs = THROTTLED_REPLICAS
            .iter()
            .zip(values)
            .map(|(name, value)| alterable(name, value))
            .collect();
        self.alter_configs(RESOURCE_TOPIC, topic, configs).await
    }

    async fn alter_configs(
        &self,
        resource_type: i8,
        name: &str,
        configs: Vec<AlterableConfig>,
    ) -> Result<(), AdminError> {
        let target = if resource_type == RESOURCE_BROKER {
            name.parse().map(Target::Node).unwrap_or(Target::Controller)
        } else {
            Target::Controller
        };
        let subject = || {
            if resource_type == RESOURCE_BROKER {
                format!("broker {name}")
            } else {
                format!("topic {name}")
            }
        };
        self.alter_resource_configs(target, resource_type, name, configs, subject)
            .await
    }
}

/// A partition a request failed for, with the response's message (else its error code).
fn partition_failure(
    topic: &TopicName,
    partition: i32,
    error_code: i16,
    error_message: Option<StrBytes>,
) -> (TopicPartition, String) {
    (
        TopicPartition {
            topic: topic.0.to_string(),
            partition,
        },
        error_message
            .map(|m| m.to_string())
            .unwrap_or_else(|| format!("error code {error_code}")),
    )
}

/// `partitions` (each a topic's name and what a request says of one of its partitions) as
/// Kafka's requests carry them: one entry per topic, made by `topic`, in name order.
fn per_topic<'a, P, T>(
    partitions: impl IntoIterator<Item = (&'a str, P)>,
    topic: impl Fn(TopicName, Vec<P>) -> T,
) -> Vec<T> {
    let mut by_topic: BTreeMap<&str, Vec<P>> = BTreeMap::new();
    for (name, partition) in partitions {
        by_topic.entry(name).or_default().push(partition);
    }
    by_topic
        .into_iter()
        .map(|(name, partitions)| topic(TopicName(sb(name)), partitions))
        .collect()
}

/// ElectLeaders' preferred election, and the per-partition code for "already led by its
/// preferred replica".
const ELECTION_PREFERRED: i8 = 0;
const ELECTION_NOT_NEEDED: i16 = 84;

impl KafkaAdmin {
    /// Elects each partition's preferred (first) replica its leader. Returns the partitions
    /// whose election failed, each with its error (one already led by it is no failure).
    pub async fn elect_preferred_leaders(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<Vec<(TopicPartition, String)>, AdminError> {
        let indexes = partitions.iter().map(|p| (p.topic.as_str(), p.partition));
        let request = ElectLeadersRequest::default()
            .with_election_type(ELECTION_PREFERRED)
            .with_timeout_ms(ADMIN_TIMEOUT_MS)
            .with_topic_partitions(Some(per_topic(indexes, |name, partitions| {
                ElectTopicPartitions::default()
                    .with_topic(name)
                    .with_partitions(partitions)
            })));
        self.request(
            Target::Controller,
            &request,
            SendOptions::default(),
            "ElectLeaders",
            || format!("{} partition(s)", partitions.len()),
            |response| {
                Error::check(response.error_code, None)?;
                let mut failed = Vec::new();
                for topic in response.replica_election_results {
                    for p in topic.partition_result {
                        if p.error_code == 0 || p.error_code == ELECTION_NOT_NEEDED {
                            continue;
                        }
                        failed.push(partition_failure(
                            &topic.topic,
                            p.partition_id,
                            p.error_code,
                            p.error_message,
                        ));
                    }
                }
                Ok(failed)
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.to_string(),
            partition,
        }
    }

    #[test]
    fn what_a_reassignment_copied_is_what_its_adding_replicas_hold() {
        let ongoing = BTreeMap::from([
            (
                tp("a", 0),
                OngoingReassignment {
                    replicas: vec![4, 1, 2],
                    adding: vec![4],
                    removing: vec![3],
                },
            ),
            (
                tp("a", 1),
                OngoingReassignment {
                    replicas: vec![4, 5, 1],
                    adding: vec![4, 5],
                    removing: vec![2, 3],
                },
            ),
        ]);
        let sizes = BTreeMap::from([
            // broker 4 also holds a partition that is not moving: not counted
            (
                4,
                BTreeMap::from([(tp("a", 0), 100), (tp("a", 1), 30), (tp("b", 0), 7)]),
            ),
            // broker 5 has not created a-1 yet: nothing copied there
            (5, BTreeMap::new()),
            // a removing replica's size is not progress
            (3, BTreeMap::from([(tp("a", 0), 1000)])),
        ]);
        assert_eq!(copied_so_far(&ongoing, &sizes), 130);
        assert_eq!(copied_so_far(&BTreeMap::new(), &sizes), 0);
    }
}
