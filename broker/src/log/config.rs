//! `LogConfig`: the storage settings of one partition's log, resolved from the config
//! layers (topic override > dynamic per-broker > dynamic cluster default > static >
//! Kafka's default, through each topic config's broker synonyms) as Kafka's `LogConfig`
//! is built from a topic's effective properties.

use ironlog_config::{
    effective_topic_config, effective_topic_i64, BrokerConfig, ConfigLayers, ConfigValue,
};

/// Per-log configuration (the storage subset of a topic's effective config).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LogConfig {
    /// `segment.bytes`: roll a new segment when the active one would exceed this.
    pub segment_bytes: u64,
    /// `segment.ms`: roll when the active segment's first batch is older than this.
    pub segment_ms: i64,
    /// `segment.index.bytes`: maximum size of an offset or time index file.
    pub segment_index_bytes: u64,
    /// `index.interval.bytes`: bytes between two sparse index entries.
    pub index_interval_bytes: u64,
    /// `retention.ms`: delete segments whose newest timestamp is older; -1 = forever.
    pub retention_ms: i64,
    /// `retention.bytes`: delete oldest segments while the log is larger; -1 = no limit.
    pub retention_bytes: i64,
    /// `max.message.bytes`: largest record batch accepted (after compression).
    pub max_message_bytes: u32,
    /// `message.timestamp.type`: CreateTime or LogAppendTime.
    pub timestamp_type: TimestampType,
    /// `message.timestamp.before.max.ms`: how far a CreateTime record may lie behind the
    /// broker clock (`i64::MAX` = no limit, Kafka's default).
    pub timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: how far a CreateTime record may lie ahead of the
    /// broker clock (Kafka 4's default: one hour).
    pub timestamp_after_max_ms: i64,
    /// `flush.messages`: fsync after this many messages; `i64::MAX` = leave it to the OS.
    pub flush_messages: i64,
    /// `flush.ms`: fsync when the last flush is older than this; `i64::MAX` = never.
    pub flush_ms: i64,
    /// `file.delete.delay.ms`: how long a deleted segment lingers as `.deleted`.
    pub file_delete_delay_ms: i64,
    /// `cleanup.policy` contains `delete` (retention applies).
    pub cleanup_delete: bool,
    /// `cleanup.policy` contains `compact`.
    pub cleanup_compact: bool,
    /// `delete.retention.ms`: how long tombstones stay readable in compacted logs.
    pub delete_retention_ms: i64,
    /// `min.cleanable.dirty.ratio`: dirty share of a compacted log that triggers cleaning.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: records younger than this are never compacted.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: records older than this are compacted whatever the ratio.
    pub max_compaction_lag_ms: i64,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            segment_index_bytes: 10 * 1024 * 1024,
            index_interval_bytes: 4096,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            max_message_bytes: 1024 * 1024 + 12,
            timestamp_type: TimestampType::CreateTime,
            timestamp_before_max_ms: i64::MAX,
            timestamp_after_max_ms: 60 * 60 * 1000,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            file_delete_delay_ms: 60_000,
            cleanup_delete: true,
            cleanup_compact: false,
            delete_retention_ms: 24 * 60 * 60 * 1000,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimestampType {
    CreateTime,
    LogAppendTime,
}

impl LogConfig {
    /// The storage config of a topic (or the broker default when `layers.topic` is empty).
    pub(crate) fn from_layers(layers: &ConfigLayers) -> Self {
        let d = LogConfig::default();
        let int = |name: &str, fallback: i64| effective_topic_i64(layers, name, fallback);
        let non_negative = |v: i64, fallback: u64| u64::try_from(v).unwrap_or(fallback);
        let cleanup = match effective_topic_config(layers, "cleanup.policy") {
            Some(ConfigValue::List(items)) => items,
            _ => vec!["delete".to_string()],
        };
        let timestamp_type = match effective_topic_config(layers, "message.timestamp.type") {
            Some(ConfigValue::String(s)) if s == "LogAppendTime" => TimestampType::LogAppendTime,
            _ => TimestampType::CreateTime,
        };
        // Kafka: a negative retention (e.g. log.retention.hours=-1) means unlimited.
        let retention_ms = int("retention.ms", d.retention_ms);
        LogConfig {
            segment_bytes: non_negative(int("segment.bytes", 0), d.segment_bytes),
            segment_ms: int("segment.ms", d.segment_ms),
            segment_index_bytes: non_negative(int("segment.index.bytes", 0), d.segment_index_bytes),
            index_interval_bytes: non_negative(
                int("index.interval.bytes", 0),
                d.index_interval_bytes,
            ),
            retention_ms: if retention_ms < 0 { -1 } else { retention_ms },
            retention_bytes: int("retention.bytes", d.retention_bytes),
            max_message_bytes: u32::try_from(int("max.message.bytes", 0))
                .unwrap_or(d.max_message_bytes),
            timestamp_type,
            timestamp_before_max_ms: int(
                "message.timestamp.before.max.ms",
                d.timestamp_before_max_ms,
            ),
            timestamp_after_max_ms: int("message.timestamp.after.max.ms", d.timestamp_after_max_ms),
            flush_messages: int("flush.messages", d.flush_messages),
            flush_ms: int("flush.ms", d.flush_ms),
            file_delete_delay_ms: int("file.delete.delay.ms", d.file_delete_delay_ms),
            cleanup_delete: cleanup.iter().any(|p| p == "delete"),
            cleanup_compact: cleanup.iter().any(|p| p == "compact"),
            delete_retention_ms: int("delete.retention.ms", d.delete_retention_ms),
            min_cleanable_dirty_ratio: match effective_topic_config(
                layers,
                "min.cleanable.dirty.ratio",
            ) {
                Some(ConfigValue::Double(ratio)) => ratio,
                _ => d.min_cleanable_dirty_ratio,
            },
            min_compaction_lag_ms: int("min.compaction.lag.ms", d.min_compaction_lag_ms),
            max_compaction_lag_ms: int("max.compaction.lag.ms", d.max_compaction_lag_ms),
        }
    }

    /// The static broker default (no dynamic configs, no topic overrides).
    pub(crate) fn broker_default(config: &BrokerConfig) -> Self {
        Self::from_layers(&ConfigLayers::static_only(config))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use ironlog_config::{parse_properties, EMBEDDED_SERVER_PROPERTIES};

    use super::*;

    #[test]
    fn kafka_defaults_are_log_config_default() {
        assert_eq!(
            LogConfig::broker_default(&BrokerConfig::embedded_default()),
            LogConfig::default(),
            "Kafka defaults must equal LogConfig::default()"
        );
    }

    #[test]
    fn broker_synonyms_and_topic_overrides_become_storage_settings() {
        let properties = format!(
            "{EMBEDDED_SERVER_PROPERTIES}
log.retention.hours=-1
log.roll.hours=1
log.segment.bytes=2097152
log.cleanup.policy=compact
message.max.bytes=5000
log.message.timestamp.type=LogAppendTime
log.flush.scheduler.interval.ms=1000
"
        );
        let pairs = parse_properties(&properties).expect("properties parse");
        let c = BrokerConfig::from_pairs(pairs).expect("a valid config");
        let log = LogConfig::broker_default(&c);
        assert_eq!(log.retention_ms, -1, "negative retention means forever");
        assert_eq!(log.segment_ms, 3_600_000);
        assert_eq!(log.segment_bytes, 2_097_152);
        assert!(log.cleanup_compact && !log.cleanup_delete);
        assert_eq!(log.max_message_bytes, 5000);
        assert_eq!(log.timestamp_type, TimestampType::LogAppendTime);
        assert_eq!(
            log.flush_ms, 1000,
            "flush.ms falls back to log.flush.scheduler.interval.ms"
        );

        let topic = BTreeMap::from([
            ("retention.ms".to_string(), "1000".to_string()),
            ("cleanup.policy".to_string(), "compact,delete".to_string()),
            ("segment.ms".to_string(), "never".to_string()),
        ]);
        let layers = ConfigLayers {
            topic: &topic,
            ..ConfigLayers::static_only(&c)
        };
        let log = LogConfig::from_layers(&layers);
        assert_eq!(log.retention_ms, 1000, "the topic's override wins");
        assert!(log.cleanup_compact && log.cleanup_delete);
        assert_eq!(
            log.segment_ms, 3_600_000,
            "an invalid stored override is skipped, not fatal"
        );
    }
}
