//! Dynamic broker configs, as Kafka's `DynamicBrokerConfig` rules them: which keys may be
//! changed at runtime and at which level (one broker or the cluster-wide default), the
//! checks a change must pass — in Kafka's order, with Kafka's error codes and messages —
//! and which stored dynamic values count when configs are resolved.

use crate::defs::{broker_config_def, ConfigDef, ConfigType, UpdateMode};

/// One requested change of a broker key (IncrementalAlterConfigs' operations; legacy
/// AlterConfigs sends only `Set`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerConfigOp<'a> {
    Set(&'a str),
    Delete,
    Append(&'a str),
    Subtract(&'a str),
}

/// Why a change to a BROKER resource is refused; each maps to Kafka's error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerConfigChangeError {
    /// INVALID_REQUEST: Kafka reports every failed broker config check this way (even an
    /// invalid value; see KAFKA-13609).
    #[error("{0}")]
    InvalidRequest(String),
    /// INVALID_CONFIG: APPEND/SUBTRACT on a key that is not a LIST; an unknown key.
    #[error("{0}")]
    InvalidConfig(String),
}

/// The replication throttle rates (bytes per second), Kafka's `QuotaConfig` broker configs:
/// dynamic only (set for one broker or as the cluster default, never in a properties file),
/// not among the broker configs DescribeConfigs lists, and LONG values of at least 0.
pub(crate) const REPLICATION_THROTTLE_RATE_CONFIGS: [&str; 2] = [
    "leader.replication.throttled.rate",
    "follower.replication.throttled.rate",
];

fn is_throttle_rate(name: &str) -> bool {
    REPLICATION_THROTTLE_RATE_CONFIGS.contains(&name)
}

/// Kafka's check of a throttle rate (`ConfigDef.Type.LONG`, `atLeast(0)`).
fn check_throttle_rate(name: &str, value: &str) -> Result<(), String> {
    match value.trim().parse::<i64>() {
        Ok(v) if v >= 0 => Ok(()),
        Ok(_) => Err(crate::defs::invalid_value_message(
            name,
            value,
            "Value must be at least 0",
        )),
        Err(_) => Err(crate::defs::invalid_value_message(
            name,
            value,
            "Not a number of type LONG",
        )),
    }
}

/// Checks a change to a broker resource before it goes to the controller, as Kafka's
/// broker does (`ConfigAdminManager.preprocess` → `DynamicBrokerConfig.validateConfigs`):
/// APPEND/SUBTRACT only on LIST keys; no read-only key; SSL store keys only under a
/// listener prefix; every value valid; per-broker keys only for a broker id
/// (`per_broker`). DELETE of any key passes (deleting what cannot be set is a no-op).
pub fn check_broker_config_change(
    ops: &[(&str, BrokerConfigOp<'_>)],
    per_broker: bool,
) -> Result<(), BrokerConfigChangeError> {
    use BrokerConfigChangeError::{InvalidConfig, InvalidRequest};
    for (name, op) in ops {
        let verb = match op {
            BrokerConfigOp::Append(_) => "append",
            BrokerConfigOp::Subtract(_) => "subtract",
            BrokerConfigOp::Set(_) | BrokerConfigOp::Delete => continue,
        };
        match broker_config_def(name) {
            None if is_throttle_rate(name) => {
                return Err(InvalidConfig(format!(
                    "Config value {verb} is not allowed for config key: {name}"
                )))
            }
            None => return Err(InvalidConfig(format!("Unknown config name: {name}"))),
            Some(def) if def.config_type != ConfigType::List => {
                return Err(InvalidConfig(format!(
                    "Config value {verb} is not allowed for config key: {name}"
                )))
            }
            Some(_) => {}
        }
    }
    // The keys the change sets (DELETE removes its key from what is validated).
    let set: Vec<(&str, Option<&ConfigDef>)> = ops
        .iter()
        .filter(|(name, op)| *op != BrokerConfigOp::Delete && !is_throttle_rate(name))
        .map(|(name, _)| (*name, broker_config_def(name)))
        .collect();
    let with_mode = |wanted: &[UpdateMode]| -> Vec<&str> {
        set.iter()
            .filter(|(_, def)| def.is_some_and(|d| wanted.contains(&d.update_mode)))
            .map(|(name, _)| *name)
            .collect()
    };
    let read_only = with_mode(&[UpdateMode::ReadOnly]);
    if !read_only.is_empty() {
        return Err(InvalidRequest(format!(
            "Cannot update these configs dynamically: {}",
            scala_set(&read_only)
        )));
    }
    let listener_only = with_mode(&[UpdateMode::PerListener]);
    if !listener_only.is_empty() {
        return Err(InvalidRequest(format!(
            "These security configs can be dynamically updated only per-listener using the listener prefix: HashSet({})",
            listener_only.join(", ")
        )));
    }
    // Kafka accepts keys it does not know here; Ironlog refuses them (INVALID_CONFIG, as
    // an unknown topic config), so that a typo is never stored silently.
    if let Some((name, _)) = set.iter().find(|(_, def)| def.is_none()) {
        return Err(InvalidConfig(format!("Unknown broker config name: {name}")));
    }
    for (name, op) in ops {
        if let (BrokerConfigOp::Set(value), Some(def)) = (op, broker_config_def(name)) {
            def.parse(value).map_err(InvalidRequest)?;
        }
        if let (BrokerConfigOp::Set(value), true) = (op, is_throttle_rate(name)) {
            check_throttle_rate(name, value).map_err(InvalidRequest)?;
        }
    }
    if !per_broker {
        let broker_only = with_mode(&[UpdateMode::PerBroker]);
        if !broker_only.is_empty() {
            return Err(InvalidRequest(format!(
                "Cannot update these configs at default cluster level, broker id must be specified: {}",
                scala_set(&broker_only)
            )));
        }
    }
    Ok(())
}

/// Checks one broker key's new value on its own (the controller's last check of a change
/// already checked by [`check_broker_config_change`], and of APPEND/SUBTRACT results);
/// `per_broker` = for one broker id rather than the cluster-wide default.
pub fn validate_broker_dynamic_config(
    name: &str,
    value: &str,
    per_broker: bool,
) -> Result<(), String> {
    check_broker_config_change(&[(name, BrokerConfigOp::Set(value))], per_broker)
        .map_err(|e| e.to_string())
}

/// Whether a stored dynamic value of `def` counts: Kafka ignores stored keys that cannot
/// be set at that level (read-only ones, SSL store keys without a listener prefix, and
/// per-broker keys in the cluster-wide default), e.g. values written by an older version.
pub(crate) fn counts_as_dynamic(def: &ConfigDef, per_broker_layer: bool) -> bool {
    match def.update_mode {
        UpdateMode::ReadOnly | UpdateMode::PerListener => false,
        UpdateMode::PerBroker => per_broker_layer,
        UpdateMode::ClusterWide => true,
    }
}

/// A set of names as Scala prints one in Kafka's messages (`Set(a, b)`; more than four
/// elements print as `HashSet(...)`), in request order.
fn scala_set(names: &[&str]) -> String {
    let kind = if names.len() <= 4 { "Set" } else { "HashSet" };
    format!("{kind}({})", names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use BrokerConfigChangeError::{InvalidConfig, InvalidRequest};
    use BrokerConfigOp::{Append, Delete, Set, Subtract};

    fn check(
        ops: &[(&str, BrokerConfigOp)],
        per_broker: bool,
    ) -> Result<(), BrokerConfigChangeError> {
        check_broker_config_change(ops, per_broker)
    }

    #[test]
    fn replication_throttle_rates_are_dynamic_longs_of_at_least_zero_at_either_level() {
        for rate in REPLICATION_THROTTLE_RATE_CONFIGS {
            for per_broker in [true, false] {
                assert_eq!(check(&[(rate, Set("10485760"))], per_broker), Ok(()));
                assert_eq!(check(&[(rate, Delete)], per_broker), Ok(()));
            }
            assert_eq!(
                check(&[(rate, Set("-1"))], true),
                Err(InvalidRequest(format!(
                    "Invalid value -1 for configuration {rate}: Value must be at least 0"
                )))
            );
            assert_eq!(
                check(&[(rate, Set("fast"))], true),
                Err(InvalidRequest(format!(
                    "Invalid value fast for configuration {rate}: Not a number of type LONG"
                )))
            );
            assert_eq!(
                check(&[(rate, Append("1"))], true),
                Err(InvalidConfig(format!(
                    "Config value append is not allowed for config key: {rate}"
                )))
            );
        }
    }

    /// The messages a Kafka 4.1.1 broker answered to the same requests.
    #[test]
    fn read_only_keys_are_refused_as_kafka_refuses_them() {
        assert_eq!(
            check(&[("advertised.listeners", Set("PLAINTEXT://h:1"))], true),
            Err(InvalidRequest(
                "Cannot update these configs dynamically: Set(advertised.listeners)".into()
            ))
        );
        assert_eq!(
            check(&[("advertised.listeners", Set("PLAINTEXT://h:1"))], false),
            Err(InvalidRequest(
                "Cannot update these configs dynamically: Set(advertised.listeners)".into()
            )),
            "read-only is checked before the level"
        );
        assert_eq!(
            check(
                &[("num.partitions", Set("3")), ("advertised.listeners", Set("x"))],
                true
            ),
            Err(InvalidRequest(
                "Cannot update these configs dynamically: Set(num.partitions, advertised.listeners)"
                    .into()
            ))
        );
        assert_eq!(
            check(
                &[
                    ("num.partitions", Set("3")),
                    ("log.dirs", Set("/x")),
                    ("advertised.listeners", Set("x")),
                    ("node.id", Set("2")),
                    ("broker.rack", Set("r")),
                ],
                true
            ),
            Err(InvalidRequest(
                "Cannot update these configs dynamically: HashSet(num.partitions, log.dirs, advertised.listeners, node.id, broker.rack)"
                    .into()
            ))
        );
        assert_eq!(
            check(
                &[
                    ("num.partitions", Set("3")),
                    ("listeners", Set("PLAINTEXT://:1"))
                ],
                false
            ),
            Err(InvalidRequest(
                "Cannot update these configs dynamically: Set(num.partitions)".into()
            ))
        );
        assert_eq!(
            check(&[("producer.id.expiration.check.interval.ms", Set("1000"))], true),
            Err(InvalidRequest(
                "Cannot update these configs dynamically: Set(producer.id.expiration.check.interval.ms)"
                    .into()
            ))
        );
        assert_eq!(
            check(&[("num.partitions", Delete)], true),
            Ok(()),
            "deleting a read-only key is a no-op, as in Kafka"
        );
    }

    #[test]
    fn per_broker_keys_need_a_broker_id() {
        assert_eq!(
            check(&[("listeners", Set("PLAINTEXT://:9092"))], false),
            Err(InvalidRequest(
                "Cannot update these configs at default cluster level, broker id must be specified: Set(listeners)"
                    .into()
            ))
        );
        assert_eq!(
            check(&[("listeners", Set("PLAINTEXT://:9092"))], true),
            Ok(())
        );
        assert_eq!(
            check(&[("sasl.mechanism.inter.broker.protocol", Set("PLAIN"))], false),
            Err(InvalidRequest(
                "Cannot update these configs at default cluster level, broker id must be specified: Set(sasl.mechanism.inter.broker.protocol)"
                    .into()
            ))
        );
        assert_eq!(check(&[("log.retention.ms", Set("1000"))], false), Ok(()));
        assert_eq!(check(&[("num.io.threads", Set("4"))], false), Ok(()));
    }

    #[test]
    fn ssl_store_keys_need_a_listener_prefix() {
        for per_broker in [true, false] {
            assert_eq!(
                check(&[("ssl.keystore.location", Set("/k.jks"))], per_broker),
                Err(InvalidRequest(
                    "These security configs can be dynamically updated only per-listener using the listener prefix: HashSet(ssl.keystore.location)"
                        .into()
                ))
            );
        }
    }

    #[test]
    fn values_are_checked_before_the_level_and_fail_as_invalid_request() {
        assert_eq!(
            check(&[("log.retention.ms", Set("soon"))], true),
            Err(InvalidRequest(
                "Invalid value soon for configuration log.retention.ms: Not a number of type LONG"
                    .into()
            ))
        );
        assert_eq!(
            check(
                &[
                    ("listeners", Set("PLAINTEXT://:1")),
                    ("log.segment.bytes", Set("x"))
                ],
                false
            ),
            Err(InvalidRequest(
                "Invalid value x for configuration log.segment.bytes: Not a number of type INT"
                    .into()
            ))
        );
    }

    #[test]
    fn append_and_subtract_only_on_list_keys() {
        assert_eq!(
            check(&[("log.retention.ms", Append("1"))], true),
            Err(InvalidConfig(
                "Config value append is not allowed for config key: log.retention.ms".into()
            ))
        );
        assert_eq!(
            check(&[("num.partitions", Subtract("1"))], true),
            Err(InvalidConfig(
                "Config value subtract is not allowed for config key: num.partitions".into()
            )),
            "the type check comes before the read-only check"
        );
        assert_eq!(
            check(&[("log.cleanup.policy", Append("compact"))], false),
            Ok(())
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert_eq!(
            check(&[("bogus", Set("1"))], true),
            Err(InvalidConfig("Unknown broker config name: bogus".into()))
        );
        assert_eq!(
            validate_broker_dynamic_config("bogus", "1", true),
            Err("Unknown broker config name: bogus".to_string())
        );
    }

    #[test]
    fn stored_dynamic_values_count_only_where_they_could_be_set() {
        let def = |name| broker_config_def(name).unwrap();
        assert!(!counts_as_dynamic(def("advertised.listeners"), true));
        assert!(!counts_as_dynamic(def("ssl.keystore.location"), true));
        assert!(counts_as_dynamic(def("listeners"), true));
        assert!(!counts_as_dynamic(def("listeners"), false));
        assert!(counts_as_dynamic(def("log.retention.ms"), false));
    }
}
