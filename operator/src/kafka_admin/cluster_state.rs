//! `cluster_state`: what the roller asks the brokers — every partition's replicas and ISR
//! with its topic's effective `min.insync.replicas` and the live brokers (Metadata, then one
//! DescribeConfigs for every topic), the metadata quorum (DescribeQuorum) — and the
//! cluster-wide default broker configs the operator keeps (DescribeConfigs and
//! IncrementalAlterConfigs of broker resource `""`).

use std::collections::{BTreeMap, BTreeSet};

use ironlog_protocol::kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use ironlog_protocol::kafka_protocol::messages::describe_quorum_request::{
    PartitionData, TopicData,
};
use ironlog_protocol::kafka_protocol::messages::{
    DescribeConfigsRequest, DescribeQuorumRequest, MetadataRequest, TopicName,
};
use ironlog_protocol::{Error, SendOptions, Target};

use super::{sb, AdminError, KafkaAdmin, RESOURCE_BROKER, RESOURCE_TOPIC};

/// The cluster-wide default broker configs (broker resource `""`), as an error names them.
fn cluster_defaults() -> String {
    "the cluster-wide broker defaults".to_string()
}

/// DescribeConfigs' source of a cluster-wide default broker config.
const SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
/// The metadata log, as DescribeQuorum names it.
const METADATA_TOPIC: &str = "__cluster_metadata";
/// A voter this many records or fewer behind the leader's high watermark is caught up.
pub const QUORUM_CAUGHT_UP_LAG_MAX: i64 = 1_000;
/// A voter whose last fetch is older than this (by the leader's clock) is not caught up.
pub const QUORUM_FETCH_AGE_MAX_MS: i64 = 10_000;

/// One partition's replicas and in-sync replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionReplicas {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// The topic's effective `min.insync.replicas`.
    pub min_isr: i32,
}

/// The partitions and the brokers serving them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplicaState {
    /// Registered and unfenced brokers (Metadata's broker list).
    pub live_brokers: BTreeSet<i32>,
    pub partitions: Vec<PartitionReplicas>,
}

/// One voter of the metadata quorum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuorumVoter {
    pub node_id: i32,
    pub log_end_offset: i64,
    /// Caught up: fetched recently, at most [`QUORUM_CAUGHT_UP_LAG_MAX`] behind.
    pub caught_up: bool,
}

/// The metadata quorum as its leader describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuorumDescription {
    pub leader: Option<i32>,
    pub high_watermark: i64,
    pub voters: Vec<QuorumVoter>,
}

impl KafkaAdmin {
    /// Every partition with its topic's `min.insync.replicas`, and the live brokers.
    pub async fn replica_state(&self) -> Result<ReplicaState, AdminError> {
        let request = MetadataRequest::default()
            .with_topics(None)
            .with_allow_auto_topic_creation(false);
        let mut state = self
            .request(
                Target::AnyBroker,
                &request,
                SendOptions::default(),
                "Metadata",
                || "every topic".to_string(),
                |response| {
                    let mut state = ReplicaState {
                        live_brokers: response.brokers.iter().map(|b| b.node_id.0).collect(),
                        partitions: Vec::new(),
                    };
                    for topic in response.topics {
                        Error::check(topic.error_code, None)?;
                        let Some(name) = topic.name else { continue };
                        for p in topic.partitions {
                            state.partitions.push(PartitionReplicas {
                                topic: name.0.to_string(),
                                partition: p.partition_index,
                                replicas: p.replica_nodes.iter().map(|r| r.0).collect(),
                                isr: p.isr_nodes.iter().map(|r| r.0).collect(),
                                min_isr: 1,
                            });
                        }
                    }
                    Ok(state)
                },
            )
            .await?;
        let topics: BTreeSet<String> = state.partitions.iter().map(|p| p.topic.clone()).collect();
        let min_isr = self.min_insync_replicas(&topics).await?;
        for p in &mut state.partitions {
            if let Some(&value) = min_isr.get(&p.topic) {
                p.min_isr = value;
            }
        }
        Ok(state)
    }

    /// Each topic's effective `min.insync.replicas`, in one DescribeConfigs.
    pub(super) async fn min_insync_replicas(
        &self,
        topics: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, i32>, AdminError> {
        if topics.is_empty() {
            return Ok(BTreeMap::new());
        }
        let request = DescribeConfigsRequest::default().with_resources(
            topics
                .iter()
                .map(|t| {
                    DescribeConfigsResource::default()
                        .with_resource_type(RESOURCE_TOPIC)
                        .with_resource_name(sb(t))
                        .with_configuration_keys(Some(vec![sb("min.insync.replicas")]))
                })
                .collect(),
        );
        self.request(
            Target::AnyBroker,
            &request,
            SendOptions::default(),
            "DescribeConfigs",
            || format!("min.insync.replicas of {} topic(s)", topics.len()),
            |response| {
                let mut out = BTreeMap::new();
                for result in response.results {
                    // a topic deleted meanwhile has no partitions to protect
                    if result.error_code != 0 {
                        continue;
                    }
                    let value = result
                        .configs
                        .iter()
                        .find(|c| c.name.as_str() == "min.insync.replicas")
                        .and_then(|c| c.value.as_ref())
                        .and_then(|v| v.as_str().trim().parse::<i32>().ok());
                    if let Some(value) = value {
                        out.insert(result.resource_name.to_string(), value);
                    }
                }
                Ok(out)
            },
        )
        .await
    }

    /// The metadata quorum: its leader (the active controller), its voters and whether
    /// each has caught up.
    pub async fn describe_quorum(&self) -> Result<QuorumDescription, AdminError> {
        let request = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
            .with_topic_name(TopicName(sb(METADATA_TOPIC)))
            .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
        self.request(
            Target::AnyBroker,
            &request,
            SendOptions::default(),
            "DescribeQuorum",
            || METADATA_TOPIC.to_string(),
            |response| {
                Error::check(response.error_code, response.error_message.as_ref())?;
                let topic = super::only(response.topics, "DescribeQuorum")?;
                let p = super::only(topic.partitions, "DescribeQuorum")?;
                Error::check(p.error_code, p.error_message.as_ref())?;
                let leader = (p.leader_id.0 >= 0).then_some(p.leader_id.0);
                let now_ms = p
                    .current_voters
                    .iter()
                    .find(|v| Some(v.replica_id.0) == leader)
                    .map(|v| v.last_fetch_timestamp)
                    .unwrap_or(-1);
                let voters = p
                    .current_voters
                    .iter()
                    .map(|v| QuorumVoter {
                        node_id: v.replica_id.0,
                        log_end_offset: v.log_end_offset,
                        caught_up: Some(v.replica_id.0) == leader
                            || (v.log_end_offset >= 0
                                && p.high_watermark - v.log_end_offset <= QUORUM_CAUGHT_UP_LAG_MAX
                                && v.last_fetch_timestamp >= 0
                                && now_ms - v.last_fetch_timestamp <= QUORUM_FETCH_AGE_MAX_MS),
                    })
                    .collect();
                Ok(QuorumDescription {
                    leader,
                    high_watermark: p.high_watermark,
                    voters,
                })
            },
        )
        .await
    }

    /// The cluster-wide default broker configs (broker resource `""`) that are set, with
    /// their values (a sensitive one's value is not told: `None`).
    pub async fn cluster_default_configs(
        &self,
    ) -> Result<BTreeMap<String, Option<String>>, AdminError> {
        let configs = self
            .describe_resource_configs(RESOURCE_BROKER, "", cluster_defaults)
            .await?;
        Ok(configs
            .into_iter()
            .filter(|c| c.config_source == SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG)
            .map(|c| (c.name.to_string(), c.value.map(|v| v.to_string())))
            .collect())
    }

    /// Sets `set` and removes `delete` among the cluster-wide default broker configs, in
    /// one IncrementalAlterConfigs.
    pub async fn alter_cluster_default_configs(
        &self,
        set: &BTreeMap<String, String>,
        delete: &[String],
    ) -> Result<(), AdminError> {
        let configs = super::alterations(set, delete);
        self.alter_resource_configs(
            Target::AnyBroker,
            RESOURCE_BROKER,
            "",
            configs,
            cluster_defaults,
        )
        .await
    }
}
