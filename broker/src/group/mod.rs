//! Consumer groups: the `GroupCoordinator` (Kafka's classic group protocol — JoinGroup,
//! SyncGroup, Heartbeat, LeaveGroup — plus committed offsets and the group admin APIs), and
//! KIP-848 consumer groups (`consumer`, `consumer_coordinator`), which classic members can
//! join during an online migration between the two (`consumer_classic`, `migration`).
//!
//! Group state lives in memory in one shard per `__consumer_offsets` partition this broker
//! leads and is made durable as Kafka-format records (`records`) appended to that partition;
//! a shard is rebuilt from its partition when this broker becomes its leader (after a
//! restart: `COORDINATOR_LOAD_IN_PROGRESS` until loaded).
//!
//! Invariants: a group's shard is the partition `abs(javaHashCode(group_id)) % partitions`;
//! an OffsetCommit is acknowledged only after its record was appended; the shard mutex is
//! never held across an `.await` (appends are serialized per shard by a separate async
//! lock that is taken *before* the shard mutex).

mod api;
mod classic;
pub(crate) mod consumer;
mod consumer_classic;
mod consumer_coordinator;
mod coordinator;
mod migration;
pub(crate) mod records;

pub(crate) use api::{
    ClassicGroupDescription, CommittedOffset, ConsumerGroupDescription, DescribedTopicPartitions,
    GroupListing, JoinArgs, JoinOutcome, LeavingMember, MemberHeartbeat, OffsetCommitArgs,
    PartitionResults, SyncArgs, SyncOutcome,
};
pub(crate) use classic::GroupState;
pub(crate) use coordinator::{FetchedOffsets, GroupCoordinator, OffsetFetchTopics};

use kafka_protocol::records::Compression;

use ironlog_config::{BrokerConfig, ConfigValue};

/// Kafka's internal topic of group metadata and committed offsets.
pub(crate) const GROUP_METADATA_TOPIC_NAME: &str = "__consumer_offsets";

/// The group settings the coordinator uses (Kafka's `group.*` and `offsets.*` configs).
#[derive(Debug, Clone)]
pub(crate) struct GroupConfig {
    pub initial_rebalance_delay_ms: i64,
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub max_size: usize,
    pub offset_metadata_max_bytes: usize,
    pub offsets_topic_num_partitions: i32,
    pub offsets_topic_replication_factor: i16,
    pub offsets_topic_segment_bytes: i32,
    pub offsets_topic_compression: Compression,
    pub offsets_retention_ms: i64,
    pub offsets_retention_check_interval_ms: i64,
    /// `offsets.commit.timeout.ms`: how long an append to `__consumer_offsets` waits for
    /// its ISR (acks=all).
    pub offsets_commit_timeout_ms: i32,
    /// KIP-848 consumer groups (`group.consumer.*`).
    pub consumer: consumer::ConsumerSettings,
    /// `group.consumer.migration.policy`: which online conversions between the classic and
    /// the consumer protocol are allowed.
    pub migration_policy: migration::MigrationPolicy,
}

impl GroupConfig {
    pub(crate) fn from_broker_config(c: &BrokerConfig) -> Self {
        let codec = match c.value("offsets.topic.compression.codec") {
            Some(ConfigValue::Int(id)) => id,
            _ => 0,
        };
        let int = |name: &str, default: i32| match c.value(name) {
            Some(ConfigValue::Int(v)) => v,
            _ => default,
        };
        // Only assignors we implement; an unknown name in the list is ignored (logged).
        let assignors: Vec<String> = match c.value("group.consumer.assignors") {
            Some(ConfigValue::List(items)) => items
                .iter()
                .map(|a| a.trim().to_ascii_lowercase())
                .filter(|a| {
                    let known = consumer::KNOWN_ASSIGNORS.contains(&a.as_str());
                    if !known {
                        tracing::warn!(assignor = %a, "group.consumer.assignors: unknown assignor ignored");
                    }
                    known
                })
                .collect(),
            _ => Vec::new(),
        };
        let assignors = if assignors.is_empty() {
            consumer::KNOWN_ASSIGNORS
                .iter()
                .map(|a| a.to_string())
                .collect()
        } else {
            assignors
        };
        let consumer = consumer::ConsumerSettings {
            session_timeout_ms: int("group.consumer.session.timeout.ms", 45_000),
            heartbeat_interval_ms: int("group.consumer.heartbeat.interval.ms", 5_000),
            max_size: int("group.consumer.max.size", i32::MAX).max(1) as usize,
            assignors,
        };
        let migration_policy = match c.value("group.consumer.migration.policy") {
            Some(ConfigValue::String(p)) => migration::MigrationPolicy::parse(&p),
            _ => migration::MigrationPolicy::Bidirectional,
        };
        Self {
            consumer,
            migration_policy,
            initial_rebalance_delay_ms: i64::from(c.group_initial_rebalance_delay_ms.max(0)),
            min_session_timeout_ms: c.group_min_session_timeout_ms,
            max_session_timeout_ms: c.group_max_session_timeout_ms,
            max_size: c.group_max_size.max(1) as usize,
            offset_metadata_max_bytes: c.offset_metadata_max_bytes.max(0) as usize,
            offsets_topic_num_partitions: c.offsets_topic_num_partitions.max(1),
            offsets_topic_replication_factor: c.offsets_topic_replication_factor.max(1),
            offsets_topic_segment_bytes: c.offsets_topic_segment_bytes,
            offsets_topic_compression: compression_of_codec(codec),
            offsets_retention_ms: i64::from(c.offsets_retention_minutes.max(1)) * 60_000,
            offsets_retention_check_interval_ms: c.offsets_retention_check_interval_ms.max(10),
            offsets_commit_timeout_ms: c.offsets_commit_timeout_ms.max(1),
        }
    }
}

/// `offsets.topic.compression.codec` id → codec (Kafka's `CompressionType` ids).
fn compression_of_codec(id: i32) -> Compression {
    match id {
        1 => Compression::Gzip,
        2 => Compression::Snappy,
        3 => Compression::Lz4,
        4 => Compression::Zstd,
        _ => Compression::None,
    }
}
