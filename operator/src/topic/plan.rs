//! `plan`: what to do to a Kafka topic so it matches a Topic's spec — pure, from the spec
//! and the topic as the cluster describes it. Kafka cannot shrink a topic nor change its
//! replication factor by a topic change: those are reported (`NotSupported`), and the rest
//! still converges.

use std::collections::BTreeMap;

use crate::crd::TopicSpec;
use crate::kafka_admin::TopicDescription;

/// The steps that bring the topic to its spec.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicPlan {
    /// Create the topic (it does not exist).
    pub create: bool,
    /// Grow to this many partitions.
    pub grow_partitions_to: Option<i32>,
    /// Topic configs to set (new or changed values).
    pub set_configs: BTreeMap<String, String>,
    /// Topic configs set on the topic that the spec no longer names.
    pub delete_configs: Vec<String>,
    /// Changes the spec asks for that Kafka cannot make, in words.
    pub not_supported: Vec<String>,
}

impl TopicPlan {
    /// Whether anything is to be done on the cluster.
    pub fn changes_anything(&self) -> bool {
        self.create
            || self.grow_partitions_to.is_some()
            || !self.set_configs.is_empty()
            || !self.delete_configs.is_empty()
    }
}

/// The plan for `spec` given the topic (`None`: it does not exist) and the configs set on it.
pub fn plan(
    spec: &TopicSpec,
    observed: Option<&TopicDescription>,
    topic_configs: &BTreeMap<String, String>,
) -> TopicPlan {
    let Some(topic) = observed else {
        return TopicPlan {
            create: true,
            ..TopicPlan::default()
        };
    };
    let mut plan = TopicPlan::default();
    if spec.partitions > topic.partitions {
        plan.grow_partitions_to = Some(spec.partitions);
    } else if spec.partitions < topic.partitions {
        plan.not_supported.push(format!(
            "the topic has {} partitions and Kafka cannot decrease them to {}",
            topic.partitions, spec.partitions
        ));
    }
    if let Some(rf) = spec.replication_factor {
        if rf != topic.replication_factor {
            plan.not_supported.push(format!(
                "the topic's replication factor is {}; changing it to {rf} needs a partition \
                 reassignment, which a Topic does not do",
                topic.replication_factor
            ));
        }
    }
    for (key, value) in &spec.config {
        if topic_configs.get(key) != Some(value) {
            plan.set_configs.insert(key.clone(), value.clone());
        }
    }
    plan.delete_configs = topic_configs
        .keys()
        .filter(|k| !spec.config.contains_key(*k))
        .cloned()
        .collect();
    plan
}

/// The spec's configs that the broker would refuse (unknown names, invalid values), in
/// the broker's own words.
pub fn invalid_configs(spec: &TopicSpec) -> Vec<String> {
    spec.config
        .iter()
        .filter_map(|(k, v)| {
            ironlog_config::validate_topic_config(k, v)
                .err()
                .map(|e| format!("spec.config[{k}]: {e}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ClusterRef;

    fn spec(partitions: i32, config: &[(&str, &str)]) -> TopicSpec {
        TopicSpec {
            cluster_ref: ClusterRef {
                name: "c".to_string(),
            },
            topic_name: None,
            partitions,
            replication_factor: Some(1),
            config: config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn topic(partitions: i32) -> TopicDescription {
        TopicDescription {
            name: "t".to_string(),
            topic_id: "id".to_string(),
            partitions,
            replication_factor: 1,
        }
    }

    fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_missing_topic_is_created() {
        let plan = plan(&spec(3, &[]), None, &BTreeMap::new());
        assert!(plan.create && plan.changes_anything());
    }

    #[test]
    fn a_topic_in_sync_needs_nothing() {
        let plan = plan(
            &spec(3, &[("retention.ms", "1000")]),
            Some(&topic(3)),
            &configs(&[("retention.ms", "1000")]),
        );
        assert_eq!(plan, TopicPlan::default());
    }

    #[test]
    fn partitions_grow_and_configs_converge_both_ways() {
        let plan = plan(
            &spec(
                6,
                &[("retention.ms", "2000"), ("cleanup.policy", "compact")],
            ),
            Some(&topic(3)),
            &configs(&[("retention.ms", "1000"), ("segment.ms", "5000")]),
        );
        assert_eq!(plan.grow_partitions_to, Some(6));
        assert_eq!(
            plan.set_configs,
            configs(&[("retention.ms", "2000"), ("cleanup.policy", "compact")])
        );
        assert_eq!(plan.delete_configs, ["segment.ms"]);
        assert!(plan.not_supported.is_empty());
    }

    #[test]
    fn fewer_partitions_or_another_replication_factor_are_not_supported_and_the_rest_goes_on() {
        let mut s = spec(2, &[("retention.ms", "2000")]);
        s.replication_factor = Some(3);
        let plan = plan(&s, Some(&topic(4)), &BTreeMap::new());
        assert_eq!(plan.grow_partitions_to, None);
        assert_eq!(plan.not_supported.len(), 2, "{:?}", plan.not_supported);
        assert!(plan.not_supported[0].contains("cannot decrease them to 2"));
        assert!(plan.not_supported[1].contains("replication factor is 1"));
        assert_eq!(plan.set_configs, configs(&[("retention.ms", "2000")]));
    }

    #[test]
    fn topic_configs_are_checked_with_the_brokers_tables() {
        let errors = invalid_configs(&spec(
            1,
            &[
                ("retention.ms", "soon"),
                ("retention.fortnights", "1"),
                ("segment.ms", "60000"),
            ],
        ));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].starts_with("spec.config[retention.fortnights]: Unknown topic config name")
        );
        assert!(errors[1].starts_with("spec.config[retention.ms]: Invalid value soon"));
    }
}
