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

mod classic;
pub(crate) mod consumer;
mod consumer_classic;
mod consumer_coordinator;
mod coordinator;
mod migration;
pub(crate) mod records;

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

/// Java's `String.hashCode()`: `s[0]*31^(n-1) + … + s[n-1]` over UTF-16 code units, with
/// 32-bit wrap-around.
pub(crate) fn java_string_hash_code(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// The `__consumer_offsets` partition of `group_id`: Kafka's
/// `Utils.abs(groupId.hashCode) % partitions` (where `abs(Integer.MIN_VALUE)` is 0).
pub(crate) fn partition_for(group_id: &str, partitions: i32) -> i32 {
    let h = java_string_hash_code(group_id);
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_code_matches_java() {
        // Values computed by java.lang.String#hashCode.
        assert_eq!(java_string_hash_code(""), 0);
        assert_eq!(java_string_hash_code("a"), 97);
        assert_eq!(java_string_hash_code("hello"), 99_162_322);
        assert_eq!(java_string_hash_code("my-group"), -1_906_497_762);
        assert_eq!(partition_for("my-group", 50), 1_906_497_762 % 50);
        // Overflowing and non-ASCII (UTF-16 code units, including a surrogate pair).
        assert_eq!(
            java_string_hash_code("consumer-group-with-a-long-name"),
            "consumer-group-with-a-long-name"
                .encode_utf16()
                .fold(0i64, |h, u| ((h * 31 + u as i64) as i32) as i64) as i32
        );
        assert_eq!(java_string_hash_code("é"), 233);
        assert_eq!(java_string_hash_code("😀"), 1_772_899);
    }

    #[test]
    fn partition_for_is_abs_hash_mod_partitions() {
        assert_eq!(partition_for("a", 50), 97 % 50);
        // "polygenelubricants" hashes to Integer.MIN_VALUE in Java.
        assert_eq!(java_string_hash_code("polygenelubricants"), i32::MIN);
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        for g in ["x", "group-1", "ÄÖÜ", "g".repeat(100).as_str()] {
            let p = partition_for(g, 7);
            assert!((0..7).contains(&p), "{g} → {p}");
        }
    }
}
