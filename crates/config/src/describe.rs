//! DescribeConfigs output, as Kafka's `ConfigHelper` builds it:
//!
//! - A config's synonyms are the layers holding it or one of its broker synonyms — dynamic
//!   per-broker, dynamic cluster default, static, Kafka's default — each layer in synonym
//!   order, with the values as stored; the list starts at the described key (Kafka's
//!   `dropWhile`), so a key shows none of its higher-priority synonyms. The source is the
//!   first synonym's, DEFAULT_CONFIG when there is none.
//! - A topic config's synonyms are its override, then the chain of its broker synonym
//!   (`retention.ms` → `log.retention.ms`, `log.retention.minutes`, `log.retention.hours`),
//!   starting at that synonym: with only `log.retention.hours` set, `retention.ms` has the
//!   value derived from it but no synonyms and source DEFAULT_CONFIG, as in Kafka.
//! - `read_only` = not dynamically updatable; passwords, and keys Kafka has no definition
//!   for (type UNKNOWN), are sensitive: no value, in the config or its synonyms.
//! - A BROKER resource named by this broker's id lists every config Kafka always lists plus
//!   the others that are set; the cluster-default resource (empty name) lists the dynamic
//!   cluster defaults with their stored values and only DYNAMIC_DEFAULT synonyms.

use crate::defs::{
    broker_config_def, broker_synonyms, ConfigDef, ConfigType, KafkaDefinition, BROKER_CONFIGS,
    TOPIC_CONFIGS,
};
use crate::layers::{
    broker_layers, effective_topic_value, layer_entry, topic_override, BrokerLayer, ConfigLayers,
};

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

impl From<BrokerLayer> for ConfigSource {
    fn from(layer: BrokerLayer) -> Self {
        match layer {
            BrokerLayer::DynamicBroker => ConfigSource::DynamicBroker,
            BrokerLayer::DynamicDefault => ConfigSource::DynamicDefaultBroker,
            BrokerLayer::Static => ConfigSource::StaticBroker,
        }
    }
}

/// One synonym entry of a described config.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigSynonym {
    pub name: String,
    /// As stored (`compact, delete`, `TRUE`); `None` for sensitive configs.
    pub value: Option<String>,
    pub source: ConfigSource,
}

/// One config of a `DescribeConfigs` result.
#[derive(Debug, Clone, PartialEq)]
pub struct DescribedConfig {
    pub name: String,
    /// In Kafka's normalized form (`compact,delete`, `true`); `None` for sensitive configs
    /// and for configs without a value (no default, unset).
    pub value: Option<String>,
    pub source: ConfigSource,
    pub read_only: bool,
    pub is_sensitive: bool,
    /// Empty unless synonyms were asked for.
    pub synonyms: Vec<ConfigSynonym>,
    /// `None` = UNKNOWN (a key Kafka has no definition for).
    pub config_type: Option<ConfigType>,
    /// `None` unless documentation was asked for.
    pub documentation: Option<String>,
}

impl DescribedConfig {
    /// The id `DescribeConfigsResponse.config_type` carries (0 = UNKNOWN).
    pub fn config_type_id(&self) -> i8 {
        self.config_type.map_or(0, |t| t.id())
    }
}

/// What a described config shows, before the request's options are applied.
struct Described<'a> {
    def: &'a ConfigDef,
    value: Option<String>,
    synonyms: Vec<ConfigSynonym>,
    sensitive: bool,
    read_only: bool,
    config_type: Option<ConfigType>,
}

impl Described<'_> {
    fn finish(self, include_synonyms: bool, include_docs: bool) -> DescribedConfig {
        DescribedConfig {
            name: self.def.name.to_string(),
            value: if self.sensitive { None } else { self.value },
            source: self
                .synonyms
                .first()
                .map_or(ConfigSource::Default, |s| s.source),
            read_only: self.read_only,
            is_sensitive: self.sensitive,
            synonyms: if include_synonyms {
                self.synonyms
            } else {
                Vec::new()
            },
            config_type: self.config_type,
            documentation: include_docs.then(|| self.def.documentation.to_string()),
        }
    }
}

/// The synonym entries of broker keys `names` (highest priority first): every layer that
/// holds one, in layer order and within a layer in `names` order, then Kafka's defaults;
/// starting at `start` (Kafka's `dropWhile`). Values are left out when `sensitive`.
fn synonym_chain(
    layers: &ConfigLayers,
    names: &[&str],
    start: &str,
    sensitive: bool,
) -> Vec<ConfigSynonym> {
    let entry = |name: &str, value: &str, source| ConfigSynonym {
        name: name.to_string(),
        value: (!sensitive).then(|| value.to_string()),
        source,
    };
    let mut chain = Vec::new();
    for (map, layer) in broker_layers(layers) {
        for name in names {
            if let Some((raw, _)) = layer_entry(map, layer, name) {
                chain.push(entry(name, raw, layer.into()));
            }
        }
    }
    for name in names {
        // Kafka's defaults are those of its own definitions only.
        let default = broker_config_def(name)
            .filter(|d| d.kafka_definition != KafkaDefinition::None)
            .and_then(|d| d.default);
        if let Some(default) = default {
            chain.push(entry(name, default, ConfigSource::Default));
        }
    }
    let first = chain
        .iter()
        .position(|s| s.name == start)
        .unwrap_or(chain.len());
    chain.drain(..first);
    chain
}

/// Every topic config with its effective value and source, as Kafka's DescribeConfigs
/// returns for a TOPIC resource. Sorted by name.
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
            let value = effective_topic_value(layers, topic).map(|v| v.to_string());
            let mut synonyms = Vec::new();
            if topic_override(layers, topic).is_some() {
                synonyms.push(ConfigSynonym {
                    name: def.name.to_string(),
                    value: if sensitive { None } else { value.clone() },
                    source: ConfigSource::DynamicTopic,
                });
            }
            if let Some((broker_name, _)) = topic.synonyms.first() {
                let chain = broker_synonyms(broker_name);
                synonyms.extend(synonym_chain(layers, chain, broker_name, sensitive));
            }
            Described {
                def,
                value,
                synonyms,
                sensitive,
                read_only: false,
                config_type: Some(def.config_type),
            }
            .finish(include_synonyms, include_docs)
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The configs of this broker (DescribeConfigs BROKER resource named by its id): every
/// config Kafka always describes, and the others that are set. Sorted by name.
pub fn describe_broker_configs(
    layers: &ConfigLayers,
    include_synonyms: bool,
    include_docs: bool,
) -> Vec<DescribedConfig> {
    let is_set = |def: &ConfigDef| {
        broker_layers(layers)
            .iter()
            .any(|(map, layer)| layer_entry(map, *layer, def.name).is_some())
    };
    let mut out: Vec<DescribedConfig> = BROKER_CONFIGS
        .iter()
        .filter(|def| def.always_described() || is_set(def))
        .map(|def| {
            let sensitive = def.is_sensitive();
            let chain = synonym_chain(layers, broker_synonyms(def.name), def.name, sensitive);
            Described {
                def,
                value: broker_value(layers, def),
                synonyms: chain,
                sensitive,
                read_only: !def.is_dynamic(),
                config_type: def.described_type(),
            }
            .finish(include_synonyms, include_docs)
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The cluster-wide dynamic defaults (DescribeConfigs BROKER resource with an empty name):
/// only the keys set there, with their stored values, as Kafka returns. Sorted by name.
pub fn describe_broker_default_configs(
    layers: &ConfigLayers,
    include_synonyms: bool,
    include_docs: bool,
) -> Vec<DescribedConfig> {
    layers
        .dynamic_cluster
        .keys()
        .filter_map(|name| {
            let def = broker_config_def(name)?;
            let (raw, _) = layer_entry(layers.dynamic_cluster, BrokerLayer::DynamicDefault, name)?;
            let sensitive = def.is_sensitive();
            let mut synonyms =
                synonym_chain(layers, broker_synonyms(def.name), def.name, sensitive);
            synonyms.retain(|s| s.source == ConfigSource::DynamicDefaultBroker);
            Some(
                Described {
                    def,
                    value: Some(raw.to_string()),
                    synonyms,
                    sensitive,
                    read_only: !def.is_dynamic(),
                    config_type: def.described_type(),
                }
                .finish(include_synonyms, include_docs),
            )
        })
        .collect()
}

/// The value of a broker key as this broker uses it, in Kafka's normalized form. Kafka
/// merges the layers by letting a dynamic key replace its synonyms: with `log.retention.ms`
/// set dynamically, a static `log.retention.hours` no longer applies and shows its default.
fn broker_value(layers: &ConfigLayers, def: &ConfigDef) -> Option<String> {
    let dynamic = [
        (layers.dynamic_broker, BrokerLayer::DynamicBroker),
        (layers.dynamic_cluster, BrokerLayer::DynamicDefault),
    ];
    let mut value = None;
    for (map, layer) in dynamic {
        if let Some((_, v)) = layer_entry(map, layer, def.name) {
            value = Some(v);
            break;
        }
        let replaced = map.keys().any(|other| {
            other != def.name
                && broker_synonyms(other).contains(&def.name)
                && layer_entry(map, layer, other).is_some()
        });
        if replaced {
            return def.default_value().map(|v| v.to_string());
        }
    }
    value
        .or_else(|| {
            layer_entry(
                &layers.static_config.static_broker_configs,
                BrokerLayer::Static,
                def.name,
            )
            .map(|(_, v)| v)
        })
        .or_else(|| def.default_value())
        .map(|v| v.to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::defs::UpdateMode;
    use crate::BrokerConfig;

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

    fn layers<'a>(
        static_config: &'a BrokerConfig,
        dynamic_cluster: &'a BTreeMap<String, String>,
        dynamic_broker: &'a BTreeMap<String, String>,
        topic: &'a BTreeMap<String, String>,
    ) -> ConfigLayers<'a> {
        ConfigLayers {
            static_config,
            dynamic_cluster,
            dynamic_broker,
            topic,
        }
    }

    fn find<'a>(described: &'a [DescribedConfig], name: &str) -> &'a DescribedConfig {
        described
            .iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("{name} missing from describe output"))
    }

    fn synonyms(c: &DescribedConfig) -> Vec<(&str, Option<&str>, ConfigSource)> {
        c.synonyms
            .iter()
            .map(|s| (s.name.as_str(), s.value.as_deref(), s.source))
            .collect()
    }

    use ConfigSource::{
        Default as D, DynamicBroker as DB, DynamicDefaultBroker as DD, DynamicTopic as DT,
        StaticBroker as S,
    };

    /// What a real Kafka 4.1.1 node reported for every broker and topic config
    /// (`testdata/kafka-4.1.1-configs.json`, made by `testdata/generate_kafka_configs.py`).
    #[derive(Debug, serde::Deserialize)]
    struct KafkaConfigRow {
        scope: String,
        name: String,
        #[serde(rename = "type")]
        config_type: String,
        default: Option<String>,
        sensitive: bool,
        read_only: bool,
        #[serde(default)]
        mode: Option<String>,
        #[serde(default)]
        definition: Option<String>,
        #[serde(default)]
        synonyms: Vec<String>,
    }

    fn kafka_reference(scope: &str) -> BTreeMap<String, KafkaConfigRow> {
        let rows: Vec<KafkaConfigRow> =
            serde_json::from_str(include_str!("../testdata/kafka-4.1.1-configs.json"))
                .expect("the Kafka reference data parses");
        rows.into_iter()
            .filter(|r| r.scope == scope)
            .map(|r| (r.name.clone(), r))
            .collect()
    }

    fn type_name(t: Option<ConfigType>) -> &'static str {
        match t {
            None => "UNKNOWN",
            Some(ConfigType::Boolean) => "BOOLEAN",
            Some(ConfigType::String) => "STRING",
            Some(ConfigType::Int) => "INT",
            Some(ConfigType::Short) => "SHORT",
            Some(ConfigType::Long) => "LONG",
            Some(ConfigType::Double) => "DOUBLE",
            Some(ConfigType::List) => "LIST",
            Some(ConfigType::Class) => "CLASS",
            Some(ConfigType::Password) => "PASSWORD",
        }
    }

    /// Where Ironlog deliberately differs from Kafka 4.1: (config, field, why). Each entry
    /// must still be a difference, so the list cannot go stale.
    const DELIBERATE_DIFFERENCES: &[(&str, &str, &str)] = &[
        (
            "metric.reporters",
            "default",
            "no JMX; metrics are served on the admin HTTP listener and no reporter plugin runs",
        ),
        (
            "group.coordinator.rebalance.protocols",
            "default",
            "streams groups (KIP-1071) are not implemented, so they are not enabled by default",
        ),
    ];

    fn differs_deliberately(name: &str, field: &str) -> bool {
        DELIBERATE_DIFFERENCES
            .iter()
            .any(|(n, f, _)| *n == name && *f == field)
    }

    /// Every broker key, described as this broker describes it (with every key that Kafka
    /// lists only when set, set), against what Kafka 4.1.1 reports: type, default, read-only
    /// flag, dynamic update mode, sensitivity and whether it is listed at all.
    #[test]
    fn every_broker_config_is_described_as_kafka_4_1_describes_it() {
        let reference = kafka_reference("broker");
        // Set the keys Kafka lists only when set, as the reference broker had them set.
        let overrides: Vec<String> = BROKER_CONFIGS
            .iter()
            .filter(|d| !d.always_described())
            .map(|d| match d.default {
                Some(v) => format!("{}={v}", d.name),
                None => format!("{}=MkU3OEVBNTcwNTJENDM2Qg", d.name),
            })
            .collect();
        let overrides: Vec<&str> = overrides.iter().map(String::as_str).collect();
        let c = config(&overrides);
        let empty = map(&[]);
        let described = describe_broker_configs(&layers(&c, &empty, &empty, &empty), true, false);
        assert_eq!(
            described.len(),
            BROKER_CONFIGS.len(),
            "every key is described"
        );

        let mut mismatches = Vec::new();
        let mut deliberate_seen = Vec::new();
        // Kafka describes every key it has no definition for alike (observed for cluster.id
        // and the others the reference broker had set); Ironlog's own keys must look the same.
        let undefined_in_kafka = reference
            .values()
            .find(|r| r.definition.as_deref() == Some("none"))
            .expect("the reference holds keys Kafka does not define");
        for d in &described {
            let def = broker_config_def(&d.name).expect("described keys are defined");
            let kafka = match reference.get(&d.name) {
                Some(kafka) => kafka,
                None if def.kafka_definition == KafkaDefinition::None => undefined_in_kafka,
                None => {
                    mismatches.push(format!("{}: Kafka 4.1.1 does not describe it", d.name));
                    continue;
                }
            };
            let default = d
                .synonyms
                .iter()
                .find(|s| s.name == d.name && s.source == ConfigSource::Default)
                .and_then(|s| s.value.clone());
            let mode = match (def.kafka_definition, def.update_mode) {
                (KafkaDefinition::Public, UpdateMode::ReadOnly) => Some("read-only"),
                (KafkaDefinition::Public, UpdateMode::PerBroker | UpdateMode::PerListener) => {
                    Some("per-broker")
                }
                (KafkaDefinition::Public, UpdateMode::ClusterWide) => Some("cluster-wide"),
                (_, _) => None,
            };
            let definition = match def.kafka_definition {
                KafkaDefinition::Public => "public",
                KafkaDefinition::Internal => "internal",
                KafkaDefinition::None => "none",
            };
            let fields: [(&str, String, String); 6] = [
                (
                    "type",
                    type_name(d.config_type).into(),
                    kafka.config_type.clone(),
                ),
                (
                    "default",
                    format!("{default:?}"),
                    format!("{:?}", kafka.default),
                ),
                (
                    "sensitive",
                    d.is_sensitive.to_string(),
                    kafka.sensitive.to_string(),
                ),
                (
                    "read_only",
                    d.read_only.to_string(),
                    kafka.read_only.to_string(),
                ),
                (
                    "mode",
                    format!("{mode:?}"),
                    format!("{:?}", kafka.mode.as_deref()),
                ),
                (
                    "definition",
                    definition.into(),
                    kafka.definition.as_deref().unwrap_or("?").to_string(),
                ),
            ];
            for (field, ours, theirs) in fields {
                if ours == theirs {
                    continue;
                }
                if differs_deliberately(&d.name, field) {
                    deliberate_seen.push((d.name.clone(), field));
                } else {
                    mismatches.push(format!(
                        "{}: {field} is {ours}, Kafka 4.1.1 says {theirs}",
                        d.name
                    ));
                }
            }
        }
        assert!(
            mismatches.is_empty(),
            "broker configs described unlike Kafka 4.1.1:\n  {}",
            mismatches.join("\n  ")
        );
        for (name, field, why) in DELIBERATE_DIFFERENCES {
            assert!(
                deliberate_seen.iter().any(|(n, f)| n == name && f == field),
                "{name} {field} is listed as a deliberate difference ({why}) but matches Kafka now"
            );
        }
    }

    /// Every topic config against Kafka 4.1.1: the same set of configs, type, default,
    /// sensitivity, read-only flag and broker synonyms in priority order (the reference
    /// broker had every synonym without a default set, so the chains are complete).
    #[test]
    fn every_topic_config_is_described_as_kafka_4_1_describes_it() {
        let reference = kafka_reference("topic");
        let empty = map(&[]);
        let plain = config(&[]);
        let full = config(&[
            "log.retention.ms=604800000",
            "log.retention.minutes=10080",
            "log.roll.ms=604800000",
            "log.roll.jitter.ms=0",
            "log.flush.interval.ms=9223372036854775807",
        ]);
        let defaults = describe_topic_configs(&layers(&plain, &empty, &empty, &empty), true, false);
        let chains = describe_topic_configs(&layers(&full, &empty, &empty, &empty), true, false);
        let ours: Vec<&str> = defaults.iter().map(|d| d.name.as_str()).collect();
        let theirs: Vec<&str> = reference.keys().map(String::as_str).collect();
        assert_eq!(ours, theirs, "the topic configs differ from Kafka 4.1.1's");

        let mut mismatches = Vec::new();
        for (d, chained) in defaults.iter().zip(&chains) {
            let kafka = &reference[&d.name];
            let mut names: Vec<&str> = Vec::new();
            for s in &chained.synonyms {
                if !names.contains(&s.name.as_str()) {
                    names.push(&s.name);
                }
            }
            let fields: [(&str, String, String); 5] = [
                (
                    "type",
                    type_name(d.config_type).into(),
                    kafka.config_type.clone(),
                ),
                (
                    "default",
                    format!("{:?}", d.value),
                    format!("{:?}", kafka.default),
                ),
                (
                    "sensitive",
                    d.is_sensitive.to_string(),
                    kafka.sensitive.to_string(),
                ),
                (
                    "read_only",
                    d.read_only.to_string(),
                    kafka.read_only.to_string(),
                ),
                (
                    "synonyms",
                    format!("{names:?}"),
                    format!("{:?}", kafka.synonyms),
                ),
            ];
            for (field, ours, theirs) in fields {
                if ours != theirs {
                    mismatches.push(format!(
                        "{}: {field} is {ours}, Kafka 4.1.1 says {theirs}",
                        d.name
                    ));
                }
            }
        }
        assert!(
            mismatches.is_empty(),
            "topic configs described unlike Kafka 4.1.1:\n  {}",
            mismatches.join("\n  ")
        );
    }

    /// The cases below are what a Kafka 4.1.1 broker answered in the same situation.
    #[test]
    fn topic_synonyms_start_at_the_broker_synonym_as_in_kafka() {
        let empty = map(&[]);
        let plain = config(&[]);
        let described =
            describe_topic_configs(&layers(&plain, &empty, &empty, &empty), true, false);
        let retention = find(&described, "retention.ms");
        assert_eq!(
            (
                retention.value.as_deref(),
                retention.source,
                synonyms(retention)
            ),
            (Some("604800000"), D, vec![]),
            "log.retention.ms has no default, so log.retention.hours' default is cut off"
        );
        let bytes = find(&described, "retention.bytes");
        assert_eq!(
            (bytes.source, synonyms(bytes)),
            (D, vec![("log.retention.bytes", Some("-1"), D)])
        );
        let throttled = find(&described, "leader.replication.throttled.replicas");
        assert_eq!(
            (throttled.value.as_deref(), synonyms(throttled)),
            (Some(""), vec![])
        );

        // Only log.retention.hours set: the value follows it, the source stays DEFAULT.
        let hours = config(&["log.retention.hours=24"]);
        let described =
            describe_topic_configs(&layers(&hours, &empty, &empty, &empty), true, false);
        let retention = find(&described, "retention.ms");
        assert_eq!(
            (
                retention.value.as_deref(),
                retention.source,
                synonyms(retention)
            ),
            (Some("86400000"), D, vec![])
        );

        // log.retention.ms set dynamically for this broker and as the cluster default.
        let topic = map(&[("retention.bytes", "1000")]);
        let cluster = map(&[("log.retention.ms", "7000")]);
        let broker = map(&[("log.retention.ms", "5000")]);
        let described =
            describe_topic_configs(&layers(&hours, &cluster, &broker, &topic), true, false);
        let retention = find(&described, "retention.ms");
        assert_eq!(
            (
                retention.value.as_deref(),
                retention.source,
                synonyms(retention)
            ),
            (
                Some("5000"),
                DB,
                vec![
                    ("log.retention.ms", Some("5000"), DB),
                    ("log.retention.ms", Some("7000"), DD),
                    ("log.retention.hours", Some("24"), S),
                    ("log.retention.hours", Some("168"), D),
                ]
            )
        );
        let bytes = find(&described, "retention.bytes");
        assert_eq!(
            (bytes.value.as_deref(), bytes.source, synonyms(bytes)),
            (
                Some("1000"),
                DT,
                vec![
                    ("retention.bytes", Some("1000"), DT),
                    ("log.retention.bytes", Some("-1"), D)
                ]
            )
        );
        assert!(!bytes.read_only && bytes.documentation.is_none());
    }

    #[test]
    fn broker_configs_show_stored_synonym_values_and_normalized_values() {
        let c = config(&[
            "log.cleanup.policy=compact, delete",
            "auto.create.topics.enable=TRUE",
            "ssl.keystore.password=secret",
            "super.users=User:admin",
            "producer.id.expiration.check.interval.ms=600000",
        ]);
        let empty = map(&[]);
        let described = describe_broker_configs(&layers(&c, &empty, &empty, &empty), true, false);
        let cleanup = find(&described, "log.cleanup.policy");
        assert_eq!(
            (cleanup.value.as_deref(), synonyms(cleanup)),
            (
                Some("compact,delete"),
                vec![
                    ("log.cleanup.policy", Some("compact, delete"), S),
                    ("log.cleanup.policy", Some("delete"), D)
                ]
            )
        );
        let create = find(&described, "auto.create.topics.enable");
        assert_eq!(
            (create.value.as_deref(), create.read_only, synonyms(create)),
            (
                Some("true"),
                true,
                vec![
                    ("auto.create.topics.enable", Some("TRUE"), S),
                    ("auto.create.topics.enable", Some("true"), D)
                ]
            )
        );
        let password = find(&described, "ssl.keystore.password");
        assert_eq!(
            (
                password.value.as_deref(),
                password.source,
                password.is_sensitive,
                password.read_only
            ),
            (None, S, true, false)
        );
        assert_eq!(synonyms(password), vec![("ssl.keystore.password", None, S)]);
        assert_eq!(password.config_type, Some(ConfigType::Password));

        // A key Kafka has no definition for: type UNKNOWN, so sensitive and read-only.
        let super_users = find(&described, "super.users");
        assert_eq!(
            (
                super_users.value.as_deref(),
                super_users.config_type_id(),
                super_users.is_sensitive,
                super_users.read_only,
                synonyms(super_users)
            ),
            (None, 0, true, true, vec![("super.users", None, S)])
        );
        // Kafka's internal key: typed, listed because it is set.
        let check = find(&described, "producer.id.expiration.check.interval.ms");
        assert_eq!(
            (check.value.as_deref(), check.config_type, synonyms(check)),
            (
                Some("600000"),
                Some(ConfigType::Int),
                vec![
                    (
                        "producer.id.expiration.check.interval.ms",
                        Some("600000"),
                        S
                    ),
                    (
                        "producer.id.expiration.check.interval.ms",
                        Some("600000"),
                        D
                    )
                ]
            )
        );
        assert!(
            described.iter().all(|d| d.name != "cluster.id"),
            "keys Kafka does not define are listed only when set"
        );

        let advertised = find(&described, "advertised.listeners");
        assert_eq!(
            (
                advertised.value.as_deref(),
                advertised.source,
                advertised.read_only,
                advertised.config_type,
                advertised.is_sensitive
            ),
            (
                Some("PLAINTEXT://localhost:9092"),
                S,
                true,
                Some(ConfigType::String),
                false
            )
        );
        let listeners = find(&described, "listeners");
        assert!(
            !listeners.read_only,
            "listeners is per-broker dynamic in Kafka"
        );
    }

    #[test]
    fn broker_configs_per_layer_as_kafka_reports_them() {
        let c = config(&["log.retention.hours=24"]);
        let cluster = map(&[("log.retention.ms", "7000"), ("num.io.threads", "4")]);
        let broker = map(&[("log.retention.ms", "5000"), ("num.io.threads", "16")]);
        let empty = map(&[]);
        let l = layers(&c, &cluster, &broker, &empty);
        let described = describe_broker_configs(&l, true, false);

        let ms = find(&described, "log.retention.ms");
        assert_eq!(
            (ms.value.as_deref(), ms.source, ms.read_only, synonyms(ms)),
            (
                Some("5000"),
                DB,
                false,
                vec![
                    ("log.retention.ms", Some("5000"), DB),
                    ("log.retention.ms", Some("7000"), DD),
                    ("log.retention.hours", Some("24"), S),
                    ("log.retention.hours", Some("168"), D),
                ]
            )
        );
        // Kafka lets the dynamic log.retention.ms replace log.retention.hours, which then
        // shows its default although its source is still the static file.
        let hours = find(&described, "log.retention.hours");
        assert_eq!(
            (
                hours.value.as_deref(),
                hours.source,
                hours.read_only,
                synonyms(hours)
            ),
            (
                Some("168"),
                S,
                true,
                vec![
                    ("log.retention.hours", Some("24"), S),
                    ("log.retention.hours", Some("168"), D)
                ]
            )
        );
        let io = find(&described, "num.io.threads");
        assert_eq!(
            (io.value.as_deref(), io.source, synonyms(io)),
            (
                Some("16"),
                DB,
                vec![
                    ("num.io.threads", Some("16"), DB),
                    ("num.io.threads", Some("4"), DD),
                    ("num.io.threads", Some("8"), D)
                ]
            )
        );
        // Unset and without default: no value, no synonyms (log.retention.hours' default
        // is cut off), DEFAULT_CONFIG.
        let plain = config(&[]);
        let described =
            describe_broker_configs(&layers(&plain, &empty, &empty, &empty), true, false);
        let ms = find(&described, "log.retention.ms");
        assert_eq!(
            (ms.value.as_deref(), ms.source, synonyms(ms)),
            (None, D, vec![])
        );

        // The cluster-default resource: the stored values, only DYNAMIC_DEFAULT synonyms.
        let defaults = describe_broker_default_configs(&l, true, false);
        let names: Vec<_> = defaults.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["log.retention.ms", "num.io.threads"]);
        assert_eq!(
            (
                defaults[0].value.as_deref(),
                defaults[0].source,
                synonyms(&defaults[0])
            ),
            (
                Some("7000"),
                DD,
                vec![("log.retention.ms", Some("7000"), DD)]
            )
        );
    }

    #[test]
    fn stored_values_that_cannot_be_set_dynamically_are_not_shown() {
        let c = config(&[]);
        let empty = map(&[]);
        let cluster = map(&[
            ("listeners", "PLAINTEXT://:1"),
            ("log.retention.ms", "soon"),
        ]);
        let broker = map(&[("advertised.listeners", "PLAINTEXT://x:1")]);
        let l = layers(&c, &cluster, &broker, &empty);
        let described = describe_broker_configs(&l, true, false);
        let advertised = find(&described, "advertised.listeners");
        assert_eq!(
            (advertised.value.as_deref(), advertised.source),
            (Some("PLAINTEXT://localhost:9092"), S)
        );
        let listeners = find(&described, "listeners");
        assert_eq!(listeners.source, S);
        assert!(describe_broker_default_configs(&l, true, false).is_empty());
    }

    #[test]
    fn describe_without_synonyms_or_docs() {
        let c = config(&[]);
        let empty = map(&[]);
        let l = layers(&c, &empty, &empty, &empty);
        for d in describe_topic_configs(&l, false, false)
            .iter()
            .chain(describe_broker_configs(&l, false, false).iter())
        {
            assert!(
                d.synonyms.is_empty() && d.documentation.is_none(),
                "{} carries synonyms or docs unasked",
                d.name
            );
        }
        let with_docs = describe_broker_configs(&l, false, true);
        assert!(with_docs.iter().all(|d| d.documentation.is_some()));
    }

    #[test]
    fn topic_synonym_chains_are_the_broker_synonym_chains() {
        for topic in TOPIC_CONFIGS {
            let Some((first, _)) = topic.synonyms.first() else {
                continue;
            };
            let names: Vec<&str> = topic.synonyms.iter().map(|(n, _)| *n).collect();
            assert_eq!(
                names,
                broker_synonyms(first),
                "{}: the unit-converted synonyms must be {first}'s chain",
                topic.def.name
            );
        }
    }

    #[test]
    fn ids_match_kafka_wire_values() {
        assert_eq!(ConfigSource::DynamicTopic.id(), 1);
        assert_eq!(ConfigSource::Default.id(), 5);
        assert_eq!(ConfigType::Boolean.id(), 1);
        assert_eq!(ConfigType::Password.id(), 9);
    }
}
