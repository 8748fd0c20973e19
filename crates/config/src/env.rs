//! Settings from environment variables, one variable per setting, named as Kafka's container
//! image names its `KAFKA_*` variables (`KafkaDockerWrapper`): a variable `IRONLOG_<NAME>`
//! sets the broker config whose key is `<NAME>` lower-cased with every `_` turned into `.`,
//! then `...` into `-` and `..` into `_`. So `.` is written `_`, a real `_` is `__` and `-`
//! is `___`:
//!
//! | variable                                   | setting                              |
//! |--------------------------------------------|--------------------------------------|
//! | `IRONLOG_LOG_DIRS`                         | `log.dirs`                           |
//! | `IRONLOG_LISTENER_NAME_PLAINTEXT__HOST_X`  | `listener.name.plaintext_host.x`     |
//! | `IRONLOG_LISTENER_NAME_SASL_SCRAM___SHA_X` | `listener.name.sasl.scram-sha.x`     |
//!
//! Precedence: the config file (or the embedded default) < environment < `--override`.
//! Variables that are not settings (`IRONLOG_CRASH_AT`, the broker's crash points) are listed in
//! [`NON_CONFIG_VARIABLES`]; every other `IRONLOG_*` variable must name a known broker
//! config with a valid value, or the broker does not start (the error names the variable).

use std::ffi::OsString;

use crate::defs::broker_config_def;
use crate::ConfigError;

/// The prefix of every variable that is read as a setting.
pub const ENV_PREFIX: &str = "IRONLOG_";

/// `IRONLOG_*` variables with another meaning: never read as settings.
pub const NON_CONFIG_VARIABLES: &[&str] = &["IRONLOG_CRASH_AT"];

/// Prefixes of `IRONLOG_*` variables that are another program's settings, never the
/// broker's: `IRONLOG_CANARY_*` configure `ironlog canary`.
pub const NON_CONFIG_PREFIXES: &[&str] = &["IRONLOG_CANARY_"];

/// One setting taken from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvOverride {
    /// The variable, e.g. `IRONLOG_LOG_DIRS`.
    pub variable: String,
    /// The config key it maps to, e.g. `log.dirs`.
    pub key: String,
    pub value: String,
}

impl EnvOverride {
    /// As an `--override` argument: `key=value`.
    pub fn as_override(&self) -> String {
        format!("{}={}", self.key, self.value)
    }
}

/// The config key `variable` maps to, or `None` if it is not read as a setting (no
/// `IRONLOG_` prefix, or one of [`NON_CONFIG_VARIABLES`]). The key may be empty or unknown:
/// [`overrides_from_env`] refuses those.
pub fn config_key_for_variable(variable: &str) -> Option<String> {
    let name = variable.strip_prefix(ENV_PREFIX)?;
    if NON_CONFIG_VARIABLES.contains(&variable)
        || NON_CONFIG_PREFIXES.iter().any(|p| variable.starts_with(p))
    {
        return None;
    }
    // Kafka's order of replacements: a run of three underscores is `-`, of two `_`.
    Some(
        name.to_lowercase()
            .replace('_', ".")
            .replace("...", "-")
            .replace("..", "_"),
    )
}

/// The variable that sets config `key` (the inverse of [`config_key_for_variable`]):
/// `log.dirs` → `IRONLOG_LOG_DIRS`.
pub fn variable_for_config_key(key: &str) -> String {
    let name = key
        .replace('_', "__")
        .replace('-', "___")
        .replace('.', "_")
        .to_uppercase();
    format!("{ENV_PREFIX}{name}")
}

/// The settings in `vars` (pass `std::env::vars_os()`), ordered by key. Refuses, naming the
/// variable: a name or value that is not UTF-8, a variable that maps to no broker config,
/// an invalid value, and two variables for the same key.
pub fn overrides_from_env(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> Result<Vec<EnvOverride>, ConfigError> {
    let mut overrides = Vec::new();
    for (name, value) in vars {
        let variable = match name.into_string() {
            Ok(variable) => variable,
            Err(raw) => {
                if raw.as_encoded_bytes().starts_with(ENV_PREFIX.as_bytes()) {
                    return Err(ConfigError::Environment {
                        variable: raw.to_string_lossy().into_owned(),
                        message: "the variable's name is not valid UTF-8".to_string(),
                    });
                }
                continue;
            }
        };
        let Some(key) = config_key_for_variable(&variable) else {
            continue;
        };
        let Some(def) = broker_config_def(&key) else {
            let message = if key.is_empty() {
                "names no setting".to_string()
            } else {
                format!(
                    "maps to '{key}', which is not a broker configuration (write `.` as `_`, \
                     `_` as `__` and `-` as `___`)"
                )
            };
            return Err(ConfigError::Environment { variable, message });
        };
        let Ok(value) = value.into_string() else {
            return Err(ConfigError::Environment {
                variable,
                message: "the value is not valid UTF-8".to_string(),
            });
        };
        if let Err(message) = def.parse(&value) {
            return Err(ConfigError::Environment { variable, message });
        }
        overrides.push(EnvOverride {
            variable,
            key,
            value,
        });
    }
    overrides.sort_by(|a, b| a.key.cmp(&b.key).then_with(|| a.variable.cmp(&b.variable)));
    if let Some(pair) = overrides.windows(2).find(|pair| pair[0].key == pair[1].key) {
        return Err(ConfigError::Environment {
            variable: pair[1].variable.clone(),
            message: format!(
                "sets '{}', which {} sets too: remove one of them",
                pair[1].key, pair[0].variable
            ),
        });
    }
    Ok(overrides)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    fn key(variable: &str) -> Option<String> {
        config_key_for_variable(variable)
    }

    #[test]
    fn names_map_as_kafkas_image_maps_them() {
        // The three examples of Kafka's docker README, with our prefix.
        assert_eq!(key("IRONLOG_ABC_DEF").as_deref(), Some("abc.def"));
        assert_eq!(key("IRONLOG_ABC___DEF").as_deref(), Some("abc-def"));
        assert_eq!(key("IRONLOG_ABC__DEF").as_deref(), Some("abc_def"));
        assert_eq!(key("IRONLOG_LOG_DIRS").as_deref(), Some("log.dirs"));
        assert_eq!(
            key("IRONLOG_LISTENER_SECURITY_PROTOCOL_MAP").as_deref(),
            Some("listener.security.protocol.map")
        );
        assert_eq!(
            key("IRONLOG_LISTENER_NAME_PLAINTEXT__HOST_SASL_SCRAM___SHA___256_X").as_deref(),
            Some("listener.name.plaintext_host.sasl.scram-sha-256.x")
        );
        // Lower case is accepted as Kafka accepts it.
        assert_eq!(key("IRONLOG_log_dirs").as_deref(), Some("log.dirs"));
    }

    #[test]
    fn every_broker_config_has_a_variable_that_maps_back_to_it() {
        for def in super::super::BROKER_CONFIGS {
            let variable = variable_for_config_key(def.name);
            assert_eq!(
                config_key_for_variable(&variable).as_deref(),
                Some(def.name),
                "{} cannot be set through {variable}",
                def.name
            );
        }
        assert_eq!(
            variable_for_config_key("listener.name.plaintext_host.x-y"),
            "IRONLOG_LISTENER_NAME_PLAINTEXT__HOST_X___Y"
        );
    }

    #[test]
    fn other_variables_are_not_settings() {
        assert_eq!(key("KAFKA_LOG_DIRS"), None);
        assert_eq!(key("PATH"), None);
        assert_eq!(key("ironlog_log_dirs"), None, "the prefix is upper case");
        assert_eq!(key("IRONLOG_CRASH_AT"), None, "the crash-point variable");
        assert_eq!(
            key("IRONLOG_CANARY_INTERVAL_MS"),
            None,
            "the canary's settings are not the broker's"
        );
        let got = overrides_from_env(vars(&[
            ("IRONLOG_CRASH_AT", ""),
            ("HOME", "/root"),
            ("KAFKA_HEAP_OPTS", "-Xmx1g"),
        ]))
        .unwrap();
        assert_eq!(got, vec![]);
    }

    #[test]
    fn settings_are_read_in_key_order_as_overrides() {
        let got = overrides_from_env(vars(&[
            ("IRONLOG_NODE_ID", "3"),
            ("IRONLOG_LOG_DIRS", "/var/lib/ironlog"),
            (
                "IRONLOG_CONTROLLER_QUORUM_VOTERS",
                "1@broker-1:9093,2@broker-2:9093,3@broker-3:9093",
            ),
            ("PATH", "/usr/bin"),
        ]))
        .unwrap();
        let as_overrides: Vec<String> = got.iter().map(EnvOverride::as_override).collect();
        assert_eq!(
            as_overrides,
            vec![
                "controller.quorum.voters=1@broker-1:9093,2@broker-2:9093,3@broker-3:9093",
                "log.dirs=/var/lib/ironlog",
                "node.id=3",
            ]
        );
        assert_eq!(got[1].variable, "IRONLOG_LOG_DIRS");
    }

    #[test]
    fn a_value_may_hold_equals_signs_and_be_empty() {
        let got = overrides_from_env(vars(&[("IRONLOG_BROKER_RACK", "zone=a")])).unwrap();
        assert_eq!(got[0].as_override(), "broker.rack=zone=a");
        let got = overrides_from_env(vars(&[("IRONLOG_SUPER_USERS", "")])).unwrap();
        assert_eq!(got[0].as_override(), "super.users=");
    }

    fn refusal(pairs: &[(&str, &str)]) -> (String, String) {
        match overrides_from_env(vars(pairs)) {
            Err(ConfigError::Environment { variable, message }) => (variable, message),
            other => panic!("expected an environment error for {pairs:?}, got {other:?}"),
        }
    }

    #[test]
    fn an_unknown_setting_is_refused_naming_variable_and_key() {
        let (variable, message) = refusal(&[("IRONLOG_LOG_DIRZ", "/x")]);
        assert_eq!(variable, "IRONLOG_LOG_DIRZ");
        assert!(message.contains("'log.dirz'"), "{message}");
        let (variable, message) = refusal(&[("IRONLOG_", "x")]);
        assert_eq!(variable, "IRONLOG_");
        assert!(message.contains("names no setting"), "{message}");
    }

    #[test]
    fn an_invalid_value_is_refused_with_kafkas_message_and_the_variable() {
        let err = overrides_from_env(vars(&[("IRONLOG_NUM_PARTITIONS", "many")])).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("environment variable IRONLOG_NUM_PARTITIONS: Invalid value many for configuration num.partitions"),
            "{text}"
        );
    }

    #[test]
    fn two_variables_for_one_key_are_refused() {
        let (variable, message) =
            refusal(&[("IRONLOG_LOG_DIRS", "/a"), ("IRONLOG_log_dirs", "/b")]);
        assert_eq!(variable, "IRONLOG_log_dirs");
        assert!(
            message.contains("'log.dirs'") && message.contains("IRONLOG_LOG_DIRS"),
            "{message}"
        );
    }

    #[test]
    fn non_utf8_names_and_values_are_refused_only_for_our_variables() {
        use std::os::unix::ffi::OsStringExt;
        let bad = || OsString::from_vec(vec![b'x', 0xff]);
        // Someone else's variable with a non-UTF-8 name or value is none of our business.
        let mut name = b"OTHER_".to_vec();
        name.push(0xff);
        let got = overrides_from_env(vec![
            (OsString::from_vec(name), OsString::from("v")),
            (OsString::from("OTHER"), bad()),
        ])
        .unwrap();
        assert_eq!(got, vec![]);
        let err = overrides_from_env(vec![(OsString::from("IRONLOG_LOG_DIRS"), bad())])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("IRONLOG_LOG_DIRS") && err.contains("UTF-8"),
            "{err}"
        );
        let mut name = b"IRONLOG_".to_vec();
        name.push(0xff);
        let err = overrides_from_env(vec![(OsString::from_vec(name), OsString::from("v"))])
            .unwrap_err()
            .to_string();
        assert!(err.contains("name is not valid UTF-8"), "{err}");
    }
}
