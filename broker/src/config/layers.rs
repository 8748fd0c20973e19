//! Config layering and `DescribeConfigs`: topic override > dynamic per-broker > dynamic
//! cluster default > static (server.properties + overrides) > Kafka default, with topic
//! configs resolved through their broker synonyms (`retention.ms` ← `log.retention.ms`,
//! `log.retention.minutes`, `log.retention.hours`).

use std::collections::BTreeMap;

use super::defs::{
    broker_config_def, broker_synonyms, invalid_value_message, topic_config_def, ConfigType,
    ConfigValue, TopicConfigDef, UpdateMode, BROKER_CONFIGS, TOPIC_CONFIGS,
};
use super::BrokerConfig;
use crate::log::{LogConfig, TimestampType};

/// The config sources of one resource, highest priority last in this struct's order of
/// application: `topic` > `dynamic_broker` > `dynamic_cluster` > `static_config`.
#[derive(Debug, Clone, Copy)]
pub struct ConfigLayers<'a> {
    pub static_config: &'a BrokerConfig,
    /// Dynamic cluster-wide broker defaults (`--entity-type brokers --entity-default`).
    pub dynamic_cluster: &'a BTreeMap<String, String>,
    /// Dynamic configs of this broker (`--entity-type brokers --entity-name <id>`).
    pub dynamic_broker: &'a BTreeMap<String, String>,
    /// Topic overrides (ignored for broker resources).
    pub topic: &'a BTreeMap<String, String>,
}

/// Kafka's `DescribeConfigsResponse` config source, with its wire ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigSource {
    Unknown = 0,
    DynamicTopic = 1,
    DynamicBroker = 2,
    DynamicDefaultBroker = 3,
    StaticBroker = 4,
    Default = 5,
    DynamicBrokerLogger = 6,
    ClientMetrics = 7,
    Group = 8,
}

impl ConfigSource {
    pub fn id(&self) -> i8 {
        *self as i8
    }
}

/// One synonym entry of a described config.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigSynonym {
    pub name: String,
    /// `None` for sensitive configs.
    pub value: Option<String>,
    pub source: ConfigSource,
}

/// One config of a `DescribeConfigs` result.
#[derive(Debug, Clone, PartialEq)]
pub struct DescribedConfig {
    pub name: String,
    /// `None` for sensitive configs and for configs without a value (no default, unset).
    pub value: Option<String>,
    pub source: ConfigSource,
    pub read_only: bool,
    pub is_default: bool,
    pub is_sensitive: bool,
    /// Empty unless synonyms were asked for.
    pub synonyms: Vec<ConfigSynonym>,
    pub config_type: ConfigType,
    /// `None` unless documentation was asked for.
    pub documentation: Option<String>,
}

/// Checks one topic config (CreateTopics / AlterConfigs / IncrementalAlterConfigs).
pub fn validate_topic_config(name: &str, value: &str) -> Result<(), String> {
    let def = topic_config_def(name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
    def.def.parse(value).map(|_| ())
}

/// Checks one dynamic broker config change; `per_broker` = for one broker id rather than
/// the cluster-wide default. Errors read like Kafka's.
pub fn validate_broker_dynamic_config(
    name: &str,
    value: &str,
    per_broker: bool,
) -> Result<(), String> {
    let def =
        broker_config_def(name).ok_or_else(|| format!("Unknown broker config name: {name}"))?;
    match def.update_mode {
        UpdateMode::ReadOnly => return Err(format!("Cannot update these configs dynamically: [{name}]")),
        UpdateMode::PerBroker if !per_broker => {
            return Err(format!("Cannot update these configs at default cluster level, broker id must be specified: [{name}]"))
        }
        _ => {}
    }
    def.parse(value).map(|_| ())
}

/// Source layers of broker keys, highest priority first.
fn broker_layers<'a>(
    layers: &ConfigLayers<'a>,
) -> [(&'a BTreeMap<String, String>, ConfigSource); 3] {
    [
        (layers.dynamic_broker, ConfigSource::DynamicBroker),
        (layers.dynamic_cluster, ConfigSource::DynamicDefaultBroker),
        (
            &layers.static_config.static_broker_configs,
            ConfigSource::StaticBroker,
        ),
    ]
}

/// The effective value of a broker key: dynamic per-broker > dynamic cluster default >
/// static > Kafka's default (for settings the broker reads at use, so that
/// `kafka-configs.sh --alter` takes effect without a restart).
pub fn effective_broker_value(layers: &ConfigLayers, name: &str) -> Option<ConfigValue> {
    broker_layers(layers)
        .into_iter()
        .find_map(|(map, _)| layer_value(map, name))
        .or_else(|| broker_config_def(name)?.default_value())
}

/// A broker key's value in a layer if it is there and valid. Stored dynamic values were
/// validated when written; an invalid one (e.g. written by a newer version) is skipped.
fn layer_value(map: &BTreeMap<String, String>, name: &str) -> Option<ConfigValue> {
    let raw = map.get(name)?;
    let def = broker_config_def(name)?;
    match def.parse(raw) {
        Ok(v) => Some(v),
        Err(reason) => {
            tracing::warn!(config = name, %reason, "ignoring invalid stored broker config value");
            None
        }
    }
}

/// The effective value of a topic config plus the source it came from.
fn effective_topic_value(
    layers: &ConfigLayers,
    topic: &TopicConfigDef,
) -> (Option<ConfigValue>, ConfigSource) {
    let name = topic.def.name;
    if let Some(raw) = layers.topic.get(name) {
        match topic.def.parse(raw) {
            Ok(v) => return (Some(v), ConfigSource::DynamicTopic),
            Err(reason) => {
                tracing::warn!(config = name, %reason, "ignoring invalid stored topic config value")
            }
        }
    }
    for (map, source) in broker_layers(layers) {
        for (synonym, unit) in topic.synonyms {
            if let Some(v) = layer_value(map, synonym) {
                return (Some(unit.convert(v)), source);
            }
        }
    }
    // Kafka defaults of the synonyms (e.g. log.retention.hours=168) equal the topic
    // config's own default, so the topic default stands for them.
    (topic.def.default_value(), ConfigSource::Default)
}

fn effective(layers: &ConfigLayers, name: &str) -> Option<ConfigValue> {
    let topic = topic_config_def(name)?;
    effective_topic_value(layers, topic).0
}

fn effective_i64(layers: &ConfigLayers, name: &str, fallback: i64) -> i64 {
    effective(layers, name)
        .and_then(|v| v.as_i64())
        .unwrap_or(fallback)
}

/// The storage config of a topic (or the broker default when `layers.topic` is empty).
pub fn effective_log_config(layers: &ConfigLayers) -> LogConfig {
    let d = LogConfig::default();
    let non_negative = |v: i64, fallback: u64| u64::try_from(v).unwrap_or(fallback);
    let cleanup = match effective(layers, "cleanup.policy") {
        Some(ConfigValue::List(items)) => items,
        _ => vec!["delete".to_string()],
    };
    let timestamp_type = match effective(layers, "message.timestamp.type") {
        Some(ConfigValue::String(s)) if s == "LogAppendTime" => TimestampType::LogAppendTime,
        _ => TimestampType::CreateTime,
    };
    // Kafka: a negative retention (e.g. log.retention.hours=-1) means unlimited.
    let retention_ms = effective_i64(layers, "retention.ms", d.retention_ms);
    LogConfig {
        segment_bytes: non_negative(effective_i64(layers, "segment.bytes", 0), d.segment_bytes),
        segment_ms: effective_i64(layers, "segment.ms", d.segment_ms),
        segment_index_bytes: non_negative(
            effective_i64(layers, "segment.index.bytes", 0),
            d.segment_index_bytes,
        ),
        index_interval_bytes: non_negative(
            effective_i64(layers, "index.interval.bytes", 0),
            d.index_interval_bytes,
        ),
        retention_ms: if retention_ms < 0 { -1 } else { retention_ms },
        retention_bytes: effective_i64(layers, "retention.bytes", d.retention_bytes),
        max_message_bytes: u32::try_from(effective_i64(layers, "max.message.bytes", 0))
            .unwrap_or(d.max_message_bytes),
        timestamp_type,
        timestamp_before_max_ms: effective_i64(
            layers,
            "message.timestamp.before.max.ms",
            d.timestamp_before_max_ms,
        ),
        timestamp_after_max_ms: effective_i64(
            layers,
            "message.timestamp.after.max.ms",
            d.timestamp_after_max_ms,
        ),
        flush_messages: effective_i64(layers, "flush.messages", d.flush_messages),
        flush_ms: effective_i64(layers, "flush.ms", d.flush_ms),
        file_delete_delay_ms: effective_i64(layers, "file.delete.delay.ms", d.file_delete_delay_ms),
        cleanup_delete: cleanup.iter().any(|p| p == "delete"),
        cleanup_compact: cleanup.iter().any(|p| p == "compact"),
        delete_retention_ms: effective_i64(layers, "delete.retention.ms", d.delete_retention_ms),
        min_cleanable_dirty_ratio: match effective(layers, "min.cleanable.dirty.ratio") {
            Some(ConfigValue::Double(ratio)) => ratio,
            _ => d.min_cleanable_dirty_ratio,
        },
        min_compaction_lag_ms: effective_i64(
            layers,
            "min.compaction.lag.ms",
            d.min_compaction_lag_ms,
        ),
        max_compaction_lag_ms: effective_i64(
            layers,
            "max.compaction.lag.ms",
            d.max_compaction_lag_ms,
        ),
    }
}

/// The effective `min.insync.replicas` of a topic (not a storage setting, so not in
/// [`LogConfig`]).
pub fn effective_min_insync_replicas(layers: &ConfigLayers) -> i32 {
    i32::try_from(effective_i64(layers, "min.insync.replicas", 1))
        .unwrap_or(1)
        .max(1)
}

/// Every topic config with its effective value and source, as Kafka's DescribeConfigs
/// returns for a TOPIC resource. Sorted by name.
///
/// Deliberate difference from Kafka: a value derived from `log.retention.hours` /
/// `log.retention.minutes` / `log.roll.hours` / `log.roll.jitter.hours` reports that
/// synonym's source (Kafka reports DEFAULT_CONFIG because its synonym list is cut at the
/// first `*.ms` name).
pub fn describe_topic_configs(
    layers: &ConfigLayers,
    include_synonyms: bool,
    include_docs: bool,
) -> Vec<DescribedConfig> {
    let mut out: Vec<DescribedConfig> = TOPIC_CONFIGS
        .iter()
        .map(|topic| {
            let def = &topic.def;
            let sensitive = def.is_sensitive();
            let (value, _) = effective_topic_value(layers, topic);
            let value_string = value.map(|v| v.to_string());
            let mut synonyms = Vec::new();
            if let Some(raw) = layers.topic.get(def.name) {
                if def.parse(raw).is_ok() {
                    synonyms.push(ConfigSynonym {
                        name: def.name.to_string(),
                        value: value_string.clone(),
                        source: ConfigSource::DynamicTopic,
                    });
                }
            }
            let names: Vec<&str> = topic.synonyms.iter().map(|(n, _)| *n).collect();
            synonyms.extend(broker_synonym_entries(layers, &names, true));
            let source = synonyms
                .first()
                .map(|s| s.source)
                .unwrap_or(ConfigSource::Default);
            DescribedConfig {
                name: def.name.to_string(),
                value: if sensitive { None } else { value_string },
                source,
                read_only: false,
                is_default: source == ConfigSource::Default,
                is_sensitive: sensitive,
                synonyms: if include_synonyms {
                    synonyms
                } else {
                    Vec::new()
                },
                config_type: def.config_type,
                documentation: include_docs.then(|| def.documentation.to_string()),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Synonym entries of broker keys `names`, layer by layer (dynamic broker, dynamic
/// default, static, default), each layer in `names` order, as Kafka's `configSynonyms`.
fn broker_synonym_entries(
    layers: &ConfigLayers,
    names: &[&str],
    per_broker: bool,
) -> Vec<ConfigSynonym> {
    let mut out = Vec::new();
    for (map, source) in broker_layers(layers) {
        if !per_broker && source != ConfigSource::DynamicDefaultBroker {
            continue;
        }
        for name in names {
            if let Some(v) = layer_value(map, name) {
                let sensitive = broker_config_def(name).is_some_and(|d| d.is_sensitive());
                out.push(ConfigSynonym {
                    name: name.to_string(),
                    value: (!sensitive).then(|| v.to_string()),
                    source,
                });
            }
        }
    }
    if per_broker {
        for name in names {
            if let Some(def) = broker_config_def(name) {
                if let Some(v) = def.default_value() {
                    out.push(ConfigSynonym {
                        name: name.to_string(),
                        value: (!def.is_sensitive()).then(|| v.to_string()),
                        source: ConfigSource::Default,
                    });
                }
            }
        }
    }
    out
}

/// Every broker config of this broker (DescribeConfigs BROKER resource named by its id):
/// value from the highest layer holding exactly that key, else Kafka's default. Sorted.
pub fn describe_broker_configs(
    layers: &ConfigLayers,
    include_synonyms: bool,
    include_docs: bool,
) -> Vec<DescribedConfig> {
    let mut out: Vec<DescribedConfig> = BROKER_CONFIGS
        .iter()
        .map(|def| describe_broker_config(layers, def.name, true, include_synonyms, include_docs))
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The cluster-wide dynamic defaults (DescribeConfigs BROKER resource with an empty name):
/// only the keys set in `layers.dynamic_cluster`, as Kafka returns. Sorted.
pub fn describe_broker_default_configs(
    layers: &ConfigLayers,
    include_synonyms: bool,
    include_docs: bool,
) -> Vec<DescribedConfig> {
    layers
        .dynamic_cluster
        .keys()
        .filter(|name| broker_config_def(name).is_some())
        .map(|name| describe_broker_config(layers, name, false, include_synonyms, include_docs))
        .collect()
}

fn describe_broker_config(
    layers: &ConfigLayers,
    name: &str,
    per_broker: bool,
    include_synonyms: bool,
    include_docs: bool,
) -> DescribedConfig {
    let def = broker_config_def(name);
    let sensitive = def.is_none_or(|d| d.is_sensitive());
    let mut synonyms = broker_synonym_entries(layers, broker_synonyms(name), per_broker);
    // Drop higher-priority synonyms listed before this key (Kafka's `dropWhile`).
    let first_own = synonyms
        .iter()
        .position(|s| s.name == name)
        .unwrap_or(synonyms.len());
    synonyms.drain(..first_own);
    let source = synonyms
        .first()
        .map(|s| s.source)
        .unwrap_or(ConfigSource::Default);
    let value = if per_broker {
        broker_layers(layers)
            .iter()
            .find_map(|(map, _)| layer_value(map, name))
            .or_else(|| def.and_then(|d| d.default_value()))
    } else {
        layer_value(layers.dynamic_cluster, name)
    };
    DescribedConfig {
        name: name.to_string(),
        value: if sensitive {
            None
        } else {
            value.map(|v| v.to_string())
        },
        source,
        read_only: def.is_none_or(|d| d.update_mode == UpdateMode::ReadOnly),
        is_default: source == ConfigSource::Default,
        is_sensitive: sensitive,
        synonyms: if include_synonyms {
            synonyms
        } else {
            Vec::new()
        },
        config_type: def.map(|d| d.config_type).unwrap_or(ConfigType::String),
        documentation: if include_docs {
            def.map(|d| d.documentation.to_string())
        } else {
            None
        },
    }
}

/// Error text for a value that fails validation, in Kafka's words (for callers that
/// validate pieces themselves).
pub fn invalid_config_value(name: &str, value: &str, reason: &str) -> String {
    invalid_value_message(name, value, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn config(overrides: &[&str]) -> BrokerConfig {
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        BrokerConfig::load(None, &overrides).unwrap()
    }

    fn find<'a>(described: &'a [DescribedConfig], name: &str) -> &'a DescribedConfig {
        described
            .iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("{name} missing from describe output"))
    }

    #[test]
    fn validate_topic_config_like_kafka() {
        assert_eq!(validate_topic_config("retention.ms", "1000"), Ok(()));
        assert_eq!(validate_topic_config("retention.ms", "-1"), Ok(()));
        assert_eq!(
            validate_topic_config("retention.mz", "1"),
            Err("Unknown topic config name: retention.mz".to_string())
        );
        assert_eq!(
            validate_topic_config("retention.ms", "-2"),
            Err(
                "Invalid value -2 for configuration retention.ms: Value must be at least -1"
                    .to_string()
            )
        );
        assert!(validate_topic_config("cleanup.policy", "compact,delete").is_ok());
        assert!(validate_topic_config("compression.type", "snappy").is_ok());
        assert!(validate_topic_config("segment.bytes", "1000").is_err());
        assert!(validate_topic_config("remote.storage.enable", "true").is_err());
        assert!(validate_topic_config("message.downconversion.enable", "false").is_ok());
        assert!(validate_topic_config("min.cleanable.dirty.ratio", "2").is_err());
        assert!(
            validate_topic_config("message.format.version", "3.0").is_err(),
            "removed in Kafka 4"
        );
    }

    #[test]
    fn validate_broker_dynamic_config_like_kafka() {
        assert_eq!(
            validate_broker_dynamic_config("log.retention.ms", "1000", false),
            Ok(())
        );
        assert_eq!(
            validate_broker_dynamic_config("message.max.bytes", "2000000", true),
            Ok(())
        );
        assert_eq!(
            validate_broker_dynamic_config("log.retention.hours", "1", false),
            Err("Cannot update these configs dynamically: [log.retention.hours]".to_string())
        );
        assert_eq!(
            validate_broker_dynamic_config("num.partitions", "3", true),
            Err("Cannot update these configs dynamically: [num.partitions]".to_string())
        );
        assert!(
            validate_broker_dynamic_config("advertised.listeners", "PLAINTEXT://h:1", false)
                .unwrap_err()
                .contains("broker id must be specified")
        );
        assert!(
            validate_broker_dynamic_config("advertised.listeners", "PLAINTEXT://h:1", true).is_ok()
        );
        assert_eq!(
            validate_broker_dynamic_config("bogus", "1", true),
            Err("Unknown broker config name: bogus".to_string())
        );
        assert!(
            validate_broker_dynamic_config("log.retention.ms", "-5", false)
                .unwrap_err()
                .contains("at least -1")
        );
    }

    #[test]
    fn static_log_config_from_defaults_and_synonyms() {
        let defaults = config(&[]).log_config();
        assert_eq!(
            defaults,
            LogConfig::default(),
            "Kafka defaults must equal LogConfig::default()"
        );
        let c = config(&[
            "log.retention.hours=24",
            "log.roll.hours=1",
            "log.segment.bytes=2097152",
            "log.cleanup.policy=compact",
            "message.max.bytes=5000",
            "log.message.timestamp.type=LogAppendTime",
            "log.flush.scheduler.interval.ms=1000",
        ]);
        let log = c.log_config();
        assert_eq!(log.retention_ms, 86_400_000);
        assert_eq!(log.segment_ms, 3_600_000);
        assert_eq!(log.segment_bytes, 2_097_152);
        assert!(log.cleanup_compact && !log.cleanup_delete);
        assert_eq!(log.max_message_bytes, 5000);
        assert_eq!(log.timestamp_type, TimestampType::LogAppendTime);
        assert_eq!(
            log.flush_ms, 1000,
            "flush.ms falls back to log.flush.scheduler.interval.ms"
        );
    }

    #[test]
    fn synonym_priority_within_static_layer() {
        let c = config(&[
            "log.retention.hours=24",
            "log.retention.minutes=30",
            "log.retention.ms=1234",
        ]);
        assert_eq!(
            c.log_config().retention_ms,
            1234,
            "ms beats minutes beats hours"
        );
        let c = config(&["log.retention.hours=24", "log.retention.minutes=30"]);
        assert_eq!(c.log_config().retention_ms, 1_800_000);
        let c = config(&["log.retention.hours=-1"]);
        assert_eq!(
            c.log_config().retention_ms,
            -1,
            "negative retention means forever"
        );
    }

    #[test]
    fn layer_precedence_topic_over_dynamic_broker_over_cluster_over_static() {
        let c = config(&["log.retention.hours=24"]);
        let empty = map(&[]);
        let cluster = map(&[("log.retention.ms", "3000")]);
        let broker = map(&[("log.retention.ms", "2000")]);
        let topic = map(&[("retention.ms", "1000")]);
        let layers = |dc, db, t| ConfigLayers {
            static_config: &c,
            dynamic_cluster: dc,
            dynamic_broker: db,
            topic: t,
        };
        assert_eq!(
            effective_log_config(&layers(&empty, &empty, &empty)).retention_ms,
            86_400_000
        );
        assert_eq!(
            effective_log_config(&layers(&cluster, &empty, &empty)).retention_ms,
            3000
        );
        assert_eq!(
            effective_log_config(&layers(&cluster, &broker, &empty)).retention_ms,
            2000
        );
        assert_eq!(
            effective_log_config(&layers(&cluster, &broker, &topic)).retention_ms,
            1000
        );
    }

    #[test]
    fn invalid_stored_values_are_skipped_not_fatal() {
        let c = config(&[]);
        let bad = map(&[("log.retention.ms", "soon")]);
        let topic = map(&[("segment.ms", "never")]);
        let layers = ConfigLayers {
            static_config: &c,
            dynamic_cluster: &bad,
            dynamic_broker: &bad,
            topic: &topic,
        };
        let log = effective_log_config(&layers);
        assert_eq!(log.retention_ms, LogConfig::default().retention_ms);
        assert_eq!(log.segment_ms, LogConfig::default().segment_ms);
    }

    #[test]
    fn describe_topic_reports_every_config_with_source_per_layer() {
        let c = config(&["log.segment.bytes=2097152", "log.retention.hours=24"]);
        let cluster = map(&[("log.cleanup.policy", "compact")]);
        let broker = map(&[("message.max.bytes", "2000")]);
        let topic = map(&[("min.insync.replicas", "2")]);
        let layers = ConfigLayers {
            static_config: &c,
            dynamic_cluster: &cluster,
            dynamic_broker: &broker,
            topic: &topic,
        };
        let described = describe_topic_configs(&layers, true, true);
        assert_eq!(
            described.len(),
            TOPIC_CONFIGS.len(),
            "every topic config is described"
        );

        let min_isr = find(&described, "min.insync.replicas");
        assert_eq!(
            (min_isr.value.as_deref(), min_isr.source, min_isr.is_default),
            (Some("2"), ConfigSource::DynamicTopic, false)
        );
        assert_eq!(min_isr.synonyms[0].source, ConfigSource::DynamicTopic);
        assert_eq!(
            min_isr.synonyms.last().map(|s| s.source),
            Some(ConfigSource::Default)
        );

        let max_message = find(&described, "max.message.bytes");
        assert_eq!(
            (max_message.value.as_deref(), max_message.source),
            (Some("2000"), ConfigSource::DynamicBroker)
        );

        let cleanup = find(&described, "cleanup.policy");
        assert_eq!(
            (cleanup.value.as_deref(), cleanup.source),
            (Some("compact"), ConfigSource::DynamicDefaultBroker)
        );

        let segment = find(&described, "segment.bytes");
        assert_eq!(
            (segment.value.as_deref(), segment.source),
            (Some("2097152"), ConfigSource::StaticBroker)
        );
        assert_eq!(
            segment
                .synonyms
                .iter()
                .map(|s| (s.name.as_str(), s.source))
                .collect::<Vec<_>>(),
            vec![
                ("log.segment.bytes", ConfigSource::StaticBroker),
                ("log.segment.bytes", ConfigSource::Default)
            ]
        );

        let retention = find(&described, "retention.ms");
        assert_eq!(
            retention.value.as_deref(),
            Some("86400000"),
            "derived from log.retention.hours"
        );
        assert_eq!(retention.source, ConfigSource::StaticBroker);

        let compression = find(&described, "compression.type");
        assert_eq!(
            (
                compression.value.as_deref(),
                compression.source,
                compression.is_default
            ),
            (Some("producer"), ConfigSource::Default, true)
        );
        assert!(!compression.read_only);
        assert!(compression.documentation.is_some());

        let throttled = find(&described, "leader.replication.throttled.replicas");
        assert_eq!(
            (
                throttled.value.as_deref(),
                throttled.source,
                throttled.synonyms.len()
            ),
            (Some(""), ConfigSource::Default, 0)
        );

        let ratio = find(&described, "min.cleanable.dirty.ratio");
        assert_eq!(
            (ratio.value.as_deref(), ratio.config_type),
            (Some("0.5"), ConfigType::Double)
        );
    }

    #[test]
    fn describe_without_synonyms_or_docs() {
        let c = config(&[]);
        let empty = map(&[]);
        let layers = ConfigLayers {
            static_config: &c,
            dynamic_cluster: &empty,
            dynamic_broker: &empty,
            topic: &empty,
        };
        for d in describe_topic_configs(&layers, false, false)
            .iter()
            .chain(describe_broker_configs(&layers, false, false).iter())
        {
            assert!(
                d.synonyms.is_empty() && d.documentation.is_none(),
                "{} carries synonyms or docs unasked",
                d.name
            );
        }
    }

    #[test]
    fn describe_broker_reports_source_read_only_and_sensitivity() {
        let c = config(&["ssl.keystore.password=secret", "log.retention.hours=24"]);
        let cluster = map(&[("log.retention.ms", "5000"), ("num.io.threads", "4")]);
        let broker = map(&[("num.io.threads", "16")]);
        let empty = map(&[]);
        let layers = ConfigLayers {
            static_config: &c,
            dynamic_cluster: &cluster,
            dynamic_broker: &broker,
            topic: &empty,
        };
        let described = describe_broker_configs(&layers, true, false);
        assert_eq!(described.len(), BROKER_CONFIGS.len());

        let node_id = find(&described, "node.id");
        assert_eq!(
            (node_id.value.as_deref(), node_id.source, node_id.read_only),
            (Some("1"), ConfigSource::StaticBroker, true)
        );

        let io = find(&described, "num.io.threads");
        assert_eq!(
            (io.value.as_deref(), io.source, io.read_only, io.is_default),
            (Some("16"), ConfigSource::DynamicBroker, false, false)
        );
        assert_eq!(
            io.synonyms.iter().map(|s| s.source).collect::<Vec<_>>(),
            vec![
                ConfigSource::DynamicBroker,
                ConfigSource::DynamicDefaultBroker,
                ConfigSource::Default
            ]
        );

        let hours = find(&described, "log.retention.hours");
        assert_eq!(
            (hours.value.as_deref(), hours.source),
            (Some("24"), ConfigSource::StaticBroker)
        );
        assert!(
            hours
                .synonyms
                .iter()
                .all(|s| s.name == "log.retention.hours"),
            "higher-priority synonyms are dropped"
        );

        let ms = find(&described, "log.retention.ms");
        assert_eq!(
            (ms.value.as_deref(), ms.source),
            (Some("5000"), ConfigSource::DynamicDefaultBroker)
        );

        let minutes = find(&described, "log.retention.minutes");
        assert_eq!(
            (minutes.value.as_deref(), minutes.source, minutes.is_default),
            (None, ConfigSource::Default, true)
        );

        let password = find(&described, "ssl.keystore.password");
        assert!(
            password.is_sensitive && password.value.is_none(),
            "passwords are never returned"
        );
        assert_eq!(password.source, ConfigSource::StaticBroker);
        assert!(password.synonyms.iter().all(|s| s.value.is_none()));

        let partitions = find(&described, "num.partitions");
        assert_eq!(
            (partitions.value.as_deref(), partitions.source),
            (Some("1"), ConfigSource::StaticBroker),
            "set by the embedded default file"
        );
        let threads = find(&described, "background.threads");
        assert_eq!(
            (threads.value.as_deref(), threads.source, threads.is_default),
            (Some("10"), ConfigSource::Default, true)
        );
    }

    #[test]
    fn describe_broker_default_lists_only_dynamic_defaults() {
        let c = config(&[]);
        let cluster = map(&[("log.retention.ms", "5000")]);
        let broker = map(&[("num.io.threads", "16")]);
        let empty = map(&[]);
        let layers = ConfigLayers {
            static_config: &c,
            dynamic_cluster: &cluster,
            dynamic_broker: &broker,
            topic: &empty,
        };
        let described = describe_broker_default_configs(&layers, true, false);
        assert_eq!(described.len(), 1);
        assert_eq!(described[0].value.as_deref(), Some("5000"));
        assert_eq!(described[0].source, ConfigSource::DynamicDefaultBroker);
        assert_eq!(described[0].synonyms.len(), 1);
    }

    #[test]
    fn ids_match_kafka_wire_values() {
        assert_eq!(ConfigSource::DynamicTopic.id(), 1);
        assert_eq!(ConfigSource::Default.id(), 5);
        assert_eq!(ConfigType::Boolean.id(), 1);
        assert_eq!(ConfigType::Password.id(), 9);
    }
}
