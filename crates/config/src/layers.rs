//! Config layering: topic override > dynamic per-broker > dynamic cluster default > static
//! (server.properties + overrides) > Kafka default, with topic configs resolved through
//! their broker synonyms (`retention.ms` ← `log.retention.ms`, `log.retention.minutes`,
//! `log.retention.hours`). Stored dynamic values count only where they could be set
//! (`dynamic::counts_as_dynamic`).

use std::collections::BTreeMap;

use crate::defs::{
    broker_config_def, invalid_value_message, topic_config_def, ConfigValue, TopicConfigDef,
};
use crate::dynamic::counts_as_dynamic;
use crate::BrokerConfig;

/// No configs: the dynamic or topic layer of a resource that has none.
static NO_CONFIGS: BTreeMap<String, String> = BTreeMap::new();

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

impl<'a> ConfigLayers<'a> {
    /// The static configuration alone: no dynamic configs, no topic overrides (what a
    /// broker's topics default to at start-up).
    pub fn static_only(static_config: &'a BrokerConfig) -> Self {
        Self {
            static_config,
            dynamic_cluster: &NO_CONFIGS,
            dynamic_broker: &NO_CONFIGS,
            topic: &NO_CONFIGS,
        }
    }
}

/// Checks one topic config (CreateTopics / AlterConfigs / IncrementalAlterConfigs).
pub fn validate_topic_config(name: &str, value: &str) -> Result<(), String> {
    let def = topic_config_def(name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
    def.def.parse(value).map(|_| ())
}

/// Where a broker key's value can come from, highest priority first (Kafka's default,
/// the lowest layer, is the key's definition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BrokerLayer {
    /// Dynamic configs of this broker (`--entity-type brokers --entity-name <id>`).
    DynamicBroker,
    /// Dynamic cluster-wide defaults (`--entity-type brokers --entity-default`).
    DynamicDefault,
    /// server.properties and `--override`s.
    Static,
}

/// The layers above Kafka's default with their maps, highest priority first.
pub(crate) fn broker_layers<'a>(
    layers: &ConfigLayers<'a>,
) -> [(&'a BTreeMap<String, String>, BrokerLayer); 3] {
    [
        (layers.dynamic_broker, BrokerLayer::DynamicBroker),
        (layers.dynamic_cluster, BrokerLayer::DynamicDefault),
        (
            &layers.static_config.static_broker_configs,
            BrokerLayer::Static,
        ),
    ]
}

/// The effective value of a broker key: dynamic per-broker > dynamic cluster default >
/// static > Kafka's default (for settings the broker reads at use, so that
/// `kafka-configs.sh --alter` takes effect without a restart).
pub fn effective_broker_value(layers: &ConfigLayers, name: &str) -> Option<ConfigValue> {
    broker_layers(layers)
        .into_iter()
        .find_map(|(map, layer)| layer_value(map, layer, name))
        .or_else(|| broker_config_def(name)?.default_value())
}

/// A broker key's value in a layer, with the text as stored, if it counts there: valid,
/// and in a dynamic layer a key that may be set at that level. Stored dynamic values were
/// validated when written; an invalid one (e.g. written by a newer version) is skipped.
pub(crate) fn layer_entry<'m>(
    map: &'m BTreeMap<String, String>,
    layer: BrokerLayer,
    name: &str,
) -> Option<(&'m str, ConfigValue)> {
    let raw = map.get(name)?;
    let def = broker_config_def(name)?;
    let counts = match layer {
        BrokerLayer::Static => true,
        BrokerLayer::DynamicBroker => counts_as_dynamic(def, true),
        BrokerLayer::DynamicDefault => counts_as_dynamic(def, false),
    };
    if !counts {
        tracing::debug!(
            config = name,
            ?layer,
            "ignoring a stored dynamic value that cannot be set at this level"
        );
        return None;
    }
    match def.parse(raw) {
        Ok(v) => Some((raw.as_str(), v)),
        Err(reason) => {
            tracing::warn!(config = name, %reason, "ignoring invalid stored broker config value");
            None
        }
    }
}

fn layer_value(
    map: &BTreeMap<String, String>,
    layer: BrokerLayer,
    name: &str,
) -> Option<ConfigValue> {
    layer_entry(map, layer, name).map(|(_, value)| value)
}

/// The effective value of a topic config: the topic's override, else the first broker
/// synonym set in the highest layer (converted to the topic config's unit), else Kafka's
/// default.
pub(crate) fn effective_topic_value(
    layers: &ConfigLayers,
    topic: &TopicConfigDef,
) -> Option<ConfigValue> {
    if let Some(v) = topic_override(layers, topic) {
        return Some(v);
    }
    for (map, layer) in broker_layers(layers) {
        for (synonym, unit) in topic.synonyms {
            if let Some(v) = layer_value(map, layer, synonym) {
                return Some(unit.convert(v));
            }
        }
    }
    // Kafka defaults of the synonyms (e.g. log.retention.hours=168) equal the topic
    // config's own default, so the topic default stands for them.
    topic.def.default_value()
}

/// The topic's own override of `topic`, if set and valid.
pub(crate) fn topic_override(layers: &ConfigLayers, topic: &TopicConfigDef) -> Option<ConfigValue> {
    let name = topic.def.name;
    let raw = layers.topic.get(name)?;
    match topic.def.parse(raw) {
        Ok(v) => Some(v),
        Err(reason) => {
            tracing::warn!(config = name, %reason, "ignoring invalid stored topic config value");
            None
        }
    }
}

/// The effective value of a topic config (`retention.ms`, `cleanup.policy`, ...): the
/// topic's override, else its broker synonyms layer by layer, else Kafka's default. `None`
/// for names that are not topic configs.
pub fn effective_topic_config(layers: &ConfigLayers, name: &str) -> Option<ConfigValue> {
    let topic = topic_config_def(name)?;
    effective_topic_value(layers, topic)
}

/// [`effective_topic_config`] of an integer config, `fallback` if it has no integer value.
pub fn effective_topic_i64(layers: &ConfigLayers, name: &str, fallback: i64) -> i64 {
    effective_topic_config(layers, name)
        .and_then(|v| v.as_i64())
        .unwrap_or(fallback)
}

/// The effective `min.insync.replicas` of a topic.
pub fn effective_min_insync_replicas(layers: &ConfigLayers) -> i32 {
    i32::try_from(effective_topic_i64(layers, "min.insync.replicas", 1))
        .unwrap_or(1)
        .max(1)
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
        assert_eq!(
            validate_topic_config("message.downconversion.enable", "false"),
            Err("Unknown topic config name: message.downconversion.enable".to_string()),
            "removed in Kafka 4"
        );
        assert!(validate_topic_config("min.cleanable.dirty.ratio", "2").is_err());
        assert!(
            validate_topic_config("message.format.version", "3.0").is_err(),
            "removed in Kafka 4"
        );
    }

    fn retention_ms(layers: &ConfigLayers) -> Option<ConfigValue> {
        effective_topic_config(layers, "retention.ms")
    }

    #[test]
    fn static_topic_defaults_from_kafka_defaults_and_synonyms() {
        let defaults = config(&[]);
        let defaults = ConfigLayers::static_only(&defaults);
        assert_eq!(
            retention_ms(&defaults),
            Some(ConfigValue::Long(7 * 24 * 3_600_000))
        );
        assert_eq!(
            effective_topic_config(&defaults, "cleanup.policy"),
            Some(ConfigValue::List(vec!["delete".into()]))
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
        let layers = ConfigLayers::static_only(&c);
        assert_eq!(effective_topic_i64(&layers, "retention.ms", 0), 86_400_000);
        assert_eq!(effective_topic_i64(&layers, "segment.ms", 0), 3_600_000);
        assert_eq!(effective_topic_i64(&layers, "segment.bytes", 0), 2_097_152);
        assert_eq!(
            effective_topic_config(&layers, "cleanup.policy"),
            Some(ConfigValue::List(vec!["compact".into()]))
        );
        assert_eq!(effective_topic_i64(&layers, "max.message.bytes", 0), 5000);
        assert_eq!(
            effective_topic_config(&layers, "message.timestamp.type"),
            Some(ConfigValue::String("LogAppendTime".into()))
        );
        assert_eq!(
            effective_topic_i64(&layers, "flush.ms", 0),
            1000,
            "flush.ms falls back to log.flush.scheduler.interval.ms"
        );
        assert_eq!(effective_topic_config(&layers, "no.such.config"), None);
    }

    #[test]
    fn synonym_priority_within_static_layer() {
        let c = config(&[
            "log.retention.hours=24",
            "log.retention.minutes=30",
            "log.retention.ms=1234",
        ]);
        assert_eq!(
            retention_ms(&ConfigLayers::static_only(&c)),
            Some(ConfigValue::Long(1234)),
            "ms beats minutes beats hours"
        );
        let c = config(&["log.retention.hours=24", "log.retention.minutes=30"]);
        assert_eq!(
            retention_ms(&ConfigLayers::static_only(&c)),
            Some(ConfigValue::Long(1_800_000))
        );
        let c = config(&["log.retention.hours=-1"]);
        assert_eq!(
            retention_ms(&ConfigLayers::static_only(&c)),
            Some(ConfigValue::Long(-3_600_000)),
            "a negative retention converts like any other (the log layer reads it as forever)"
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
            retention_ms(&layers(&empty, &empty, &empty)),
            Some(ConfigValue::Long(86_400_000))
        );
        assert_eq!(
            retention_ms(&layers(&cluster, &empty, &empty)),
            Some(ConfigValue::Long(3000))
        );
        assert_eq!(
            retention_ms(&layers(&cluster, &broker, &empty)),
            Some(ConfigValue::Long(2000))
        );
        assert_eq!(
            retention_ms(&layers(&cluster, &broker, &topic)),
            Some(ConfigValue::Long(1000))
        );
    }

    #[test]
    fn stored_dynamic_values_count_only_where_they_could_be_set() {
        let c = config(&[]);
        let empty = map(&[]);
        // Written by an older version: a read-only key, and a per-broker key stored as the
        // cluster-wide default.
        let cluster = map(&[("num.io.threads", "4"), ("listeners", "PLAINTEXT://:1")]);
        let broker = map(&[("advertised.listeners", "PLAINTEXT://x:1")]);
        let layers = ConfigLayers {
            static_config: &c,
            dynamic_cluster: &cluster,
            dynamic_broker: &broker,
            topic: &empty,
        };
        assert_eq!(
            effective_broker_value(&layers, "advertised.listeners"),
            Some(ConfigValue::String("PLAINTEXT://localhost:9092".into())),
            "a stored read-only key is ignored"
        );
        assert_eq!(
            effective_broker_value(&layers, "listeners"),
            Some(ConfigValue::String("PLAINTEXT://localhost:9092".into())),
            "a per-broker key in the cluster default is ignored"
        );
        assert_eq!(
            effective_broker_value(&layers, "num.io.threads"),
            Some(ConfigValue::Int(4))
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
        let defaults = ConfigLayers::static_only(&c);
        assert_eq!(retention_ms(&layers), retention_ms(&defaults));
        assert_eq!(
            effective_topic_config(&layers, "segment.ms"),
            effective_topic_config(&defaults, "segment.ms")
        );
    }
}
