//! `topics`: one topic's admin operations — describe it (Metadata) and its own configs
//! (DescribeConfigs), create it, grow it, change its configs, delete it.

use std::collections::BTreeMap;

use ironlog_protocol::kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use ironlog_protocol::kafka_protocol::messages::create_topics_request::CreatableTopic;
use ironlog_protocol::kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use ironlog_protocol::kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use ironlog_protocol::kafka_protocol::messages::{
    CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, MetadataRequest, TopicName,
};
use ironlog_protocol::kafka_protocol::ResponseError;
use ironlog_protocol::{creatable_topic_configs, Error, SendOptions, Target, VersionChoice};

use super::{only, sb, AdminError, KafkaAdmin, ADMIN_TIMEOUT_MS, RESOURCE_TOPIC};

/// DescribeConfigs' source of a config set on the topic itself.
const SOURCE_DYNAMIC_TOPIC_CONFIG: i8 = 1;

/// A topic as the cluster describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    pub name: String,
    pub topic_id: String,
    pub partitions: i32,
    /// The replicas of partition 0 (every partition has as many).
    pub replication_factor: i32,
}

fn subject(name: &str) -> impl FnOnce() -> String + '_ {
    move || format!("topic {name}")
}

impl KafkaAdmin {
    /// The topic named `name`, or `None` when the cluster has none.
    pub async fn describe_topic(&self, name: &str) -> Result<Option<TopicDescription>, AdminError> {
        let request = MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(TopicName(sb(name))))
            ]))
            .with_allow_auto_topic_creation(false);
        let check = |response: ironlog_protocol::kafka_protocol::messages::MetadataResponse| {
            let topic = response
                .topics
                .into_iter()
                .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == name))
                .ok_or_else(|| Error::Config("Metadata answered no result".to_string()))?;
            if topic.error_code == ResponseError::UnknownTopicOrPartition.code() {
                return Ok(None);
            }
            Error::check(topic.error_code, None)?;
            let replication_factor = topic
                .partitions
                .iter()
                .find(|p| p.partition_index == 0)
                .map(|p| p.replica_nodes.len() as i32)
                .unwrap_or(0);
            Ok(Some(TopicDescription {
                name: name.to_string(),
                topic_id: topic.topic_id.to_string(),
                partitions: topic.partitions.len() as i32,
                replication_factor,
            }))
        };
        self.request(
            Target::AnyBroker,
            &request,
            SendOptions::default(),
            "Metadata",
            subject(name),
            check,
        )
        .await
    }

    /// The configs set on the topic itself (not defaults, not broker-level values).
    pub async fn topic_configs(&self, name: &str) -> Result<BTreeMap<String, String>, AdminError> {
        let configs = self
            .describe_resource_configs(RESOURCE_TOPIC, name, subject(name))
            .await?;
        Ok(configs
            .into_iter()
            .filter(|c| c.config_source == SOURCE_DYNAMIC_TOPIC_CONFIG)
            .filter_map(|c| Some((c.name.to_string(), c.value?.to_string())))
            .collect())
    }

    /// Creates the topic (`replication_factor` `None`: the cluster's default).
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: Option<i32>,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), AdminError> {
        let replication_factor = replication_factor.map(|rf| rf as i16).unwrap_or(-1);
        let topic = CreatableTopic::default()
            .with_name(TopicName(sb(name)))
            .with_num_partitions(partitions)
            .with_replication_factor(replication_factor)
            .with_configs(creatable_topic_configs(configs));
        let request = CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(ADMIN_TIMEOUT_MS);
        self.request(
            Target::Controller,
            &request,
            SendOptions::default(),
            "CreateTopics",
            subject(name),
            |response| {
                let result = only(response.topics, "CreateTopics")?;
                // created by an earlier attempt whose answer was lost: done
                if result.error_code == ResponseError::TopicAlreadyExists.code() {
                    return Ok(());
                }
                Error::check(result.error_code, result.error_message.as_ref())
            },
        )
        .await
    }

    /// Grows the topic to `count` partitions.
    pub async fn create_partitions(&self, name: &str, count: i32) -> Result<(), AdminError> {
        let request = CreatePartitionsRequest::default()
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(TopicName(sb(name)))
                .with_count(count)
                .with_assignments(None)])
            .with_timeout_ms(ADMIN_TIMEOUT_MS);
        self.request(
            Target::Controller,
            &request,
            SendOptions::default(),
            "CreatePartitions",
            subject(name),
            |response| {
                let result = only(response.results, "CreatePartitions")?;
                Error::check(result.error_code, result.error_message.as_ref())
            },
        )
        .await
    }

    /// Sets `set` and removes `delete` among the topic's own configs, in one request.
    pub async fn alter_topic_configs(
        &self,
        name: &str,
        set: &BTreeMap<String, String>,
        delete: &[String],
    ) -> Result<(), AdminError> {
        let configs = super::alterations(set, delete);
        self.alter_resource_configs(
            Target::Controller,
            RESOURCE_TOPIC,
            name,
            configs,
            subject(name),
        )
        .await
    }

    /// Deletes the topic; a topic that is already gone is no error.
    pub async fn delete_topic(&self, name: &str) -> Result<(), AdminError> {
        // v6 names topics in `topics` (older versions in `topic_names`)
        let request = DeleteTopicsRequest::default()
            .with_topics(vec![
                DeleteTopicState::default().with_name(Some(TopicName(sb(name))))
            ])
            .with_timeout_ms(ADMIN_TIMEOUT_MS);
        self.request(
            Target::Controller,
            &request,
            SendOptions::default().version(VersionChoice::Exactly(6)),
            "DeleteTopics",
            subject(name),
            |response| {
                let result = only(response.responses, "DeleteTopics")?;
                if result.error_code == ResponseError::UnknownTopicOrPartition.code() {
                    return Ok(());
                }
                Error::check(result.error_code, result.error_message.as_ref())
            },
        )
        .await
    }
}
