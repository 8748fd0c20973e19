//! `dynamic`: the spec's broker configs that change without a restart. Keys Kafka updates
//! cluster-wide at runtime (`build::dynamic_config`) are kept equal to the spec as the
//! cluster-wide default broker configs (IncrementalAlterConfigs of broker resource `""`).
//! A key the operator set that has left the spec is set to Kafka's default rather than
//! removed: the running brokers' properties files still hold the old value until their
//! next restart, and a removed default would bring that value back. (A key without a
//! default is removed.) Keys the operator never set (a user's own
//! `kafka-configs --entity-default`) are left alone.

use std::collections::BTreeMap;

use crate::kafka_admin::{AdminEndpoint, AdminError, KafkaAdmin};

/// What the cluster-wide defaults need: keys to set (new or changed values), keys to
/// remove (the operator set them, the spec no longer has them).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DynamicChange {
    pub set: BTreeMap<String, String>,
    pub delete: Vec<String>,
}

impl DynamicChange {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.delete.is_empty()
    }
}

/// The change from `current` (the brokers' cluster-wide defaults; `None` a sensitive
/// value they do not tell) to `desired`, given the keys the operator set before and
/// Kafka's default of a key (`kafka_default`).
pub fn change(
    desired: &BTreeMap<String, String>,
    current: &BTreeMap<String, Option<String>>,
    set_before: &[String],
    kafka_default: impl Fn(&str) -> Option<String>,
) -> DynamicChange {
    let mut change = DynamicChange {
        set: desired
            .iter()
            .filter(|(k, v)| current.get(*k) != Some(&Some((*v).clone())))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        delete: Vec::new(),
    };
    for key in set_before.iter().filter(|k| !desired.contains_key(*k)) {
        match kafka_default(key) {
            Some(default) if current.get(key) != Some(&Some(default.clone())) => {
                change.set.insert(key.clone(), default);
            }
            Some(_) => {}
            None if current.contains_key(key) => change.delete.push(key.clone()),
            None => {}
        }
    }
    change
}

/// Kafka's default of broker key `key`, as `ironlog-config`'s table has it.
pub fn kafka_default(key: &str) -> Option<String> {
    ironlog_config::defs::broker_config_def(key)
        .and_then(|def| def.default)
        .map(String::from)
}

/// Brings the cluster-wide defaults at `bootstrap` to `desired`; returns what changed.
pub async fn apply(
    bootstrap: &AdminEndpoint,
    desired: &BTreeMap<String, String>,
    set_before: &[String],
) -> Result<DynamicChange, AdminError> {
    let admin = KafkaAdmin::new(bootstrap)?;
    let current = admin.cluster_default_configs().await?;
    let change = change(desired, &current, set_before, kafka_default);
    if !change.is_empty() {
        admin
            .alter_cluster_default_configs(&change.set, &change.delete)
            .await?;
    }
    Ok(change)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map<V: Clone>(pairs: &[(&str, V)]) -> BTreeMap<String, V> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn sets_what_differs_and_resets_only_what_the_operator_set() {
        let desired = map(&[
            ("log.retention.ms", "1000".to_string()),
            ("log.cleaner.threads", "2".to_string()),
        ]);
        let current = map(&[
            ("log.retention.ms", Some("1000".to_string())),
            ("log.segment.bytes", Some("1048576".to_string())),
            ("log.retention.bytes", Some("5000".to_string())),
            ("message.max.bytes", Some("2000000".to_string())),
        ]);
        let set_before = vec![
            "log.retention.ms".to_string(),
            "log.segment.bytes".to_string(),
            "log.retention.bytes".to_string(),
        ];
        let defaults = |key: &str| (key == "log.segment.bytes").then(|| "1073741824".to_string());
        assert_eq!(
            change(&desired, &current, &set_before, defaults),
            DynamicChange {
                set: map(&[
                    ("log.cleaner.threads", "2".to_string()),
                    // back to Kafka's default, not removed: the files may hold another
                    ("log.segment.bytes", "1073741824".to_string()),
                ]),
                // no default to go back to
                delete: vec!["log.retention.bytes".to_string()],
                // message.max.bytes is someone else's: kept
            }
        );
        let current = map(&[
            ("log.retention.ms", Some("1000".to_string())),
            ("log.cleaner.threads", Some("2".to_string())),
            ("log.segment.bytes", Some("1073741824".to_string())),
        ]);
        assert!(
            change(&desired, &current, &set_before, defaults).is_empty(),
            "nothing to do"
        );
    }

    #[test]
    fn kafka_defaults_come_from_the_config_table() {
        assert_eq!(
            kafka_default("log.segment.bytes").as_deref(),
            Some("1073741824")
        );
        assert_eq!(kafka_default("min.insync.replicas").as_deref(), Some("1"));
    }
}
