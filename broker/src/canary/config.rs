//! `canary::config`: the canary's settings — a `.properties` file, then `IRONLOG_CANARY_*`
//! environment variables (the broker's name mapping after the prefix:
//! `IRONLOG_CANARY_INTERVAL_MS` is `canary.interval.ms`, `IRONLOG_CANARY_BOOTSTRAP_SERVERS`
//! is `bootstrap.servers`; the broker ignores this prefix, and the canary every other
//! `IRONLOG_*` variable), then `--override key=value`s (later wins), then
//! `--bootstrap-server` — checked before anything starts.
//! Every key is named here with its default; an unknown key or a bad value is refused
//! naming the setting.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

/// Why the canary's settings were refused.
#[derive(Debug, thiserror::Error)]
pub enum CanaryConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Properties {
        path: String,
        source: ironlog_config::ConfigError,
    },
    #[error("environment variable {variable} is not a canary setting ({key:?} is unknown)")]
    UnknownVariable { variable: String, key: String },
    #[error("environment variable {0}: the value is not valid UTF-8")]
    VariableNotUtf8(String),
    #[error("--override {0:?} is not KEY=VALUE")]
    NotKeyValue(String),
    #[error("unknown canary setting {key:?} (known: {known})")]
    UnknownKey { key: String, known: String },
    #[error("invalid value {value:?} for {key}: {reason}")]
    Invalid {
        key: &'static str,
        value: String,
        reason: String,
    },
    #[error("no bootstrap servers: give --bootstrap-server HOST:PORT[,HOST:PORT...] (or bootstrap.servers)")]
    NoBootstrap,
}

/// Which records the canary's consumer reads (Kafka's `isolation.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsolationLevel {
    ReadUncommitted,
    ReadCommitted,
}

impl IsolationLevel {
    /// The Fetch request's `isolation_level` field.
    pub(crate) fn wire(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        }
    }
}

/// The canary's settings (see [`KEYS`] for names and defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanaryConfig {
    /// `bootstrap.servers`: `host:port` of brokers to ask for metadata first.
    pub bootstrap_servers: Vec<String>,
    /// `canary.topic`.
    pub topic: String,
    /// `canary.interval.ms`: one record per partition this often.
    pub interval: Duration,
    /// `canary.listener`: `http://HOST:PORT` of `/metrics` and the health probes.
    pub listener_host: String,
    pub listener_port: u16,
    /// `canary.topic.reconcile.interval.ms`: how often the topic is checked against the
    /// brokers (partitions added when brokers joined) and leaders are looked up.
    pub reconcile_interval: Duration,
    /// `canary.topic.config`: topic configs at creation, `k=v` separated by commas.
    pub topic_configs: Vec<(String, String)>,
    /// `canary.request.timeout.ms`: a produce (acks=all) or metadata request's bound.
    pub request_timeout: Duration,
    /// `canary.lost.timeout.ms`: an acknowledged record that a successful fetch sent this
    /// long after its acknowledgement did not return is lost.
    pub lost_timeout: Duration,
    /// `canary.consumer.isolation.level`: `read_uncommitted` or `read_committed`.
    pub isolation_level: IsolationLevel,
    /// `canary.client.id`: the Kafka client id of the canary's requests.
    pub client_id: String,
}

/// Every setting: key, default (empty: none), what it is.
pub const KEYS: &[(&str, &str, &str)] = &[
    (
        "bootstrap.servers",
        "",
        "brokers to ask for metadata first, HOST:PORT[,HOST:PORT...] (also --bootstrap-server)",
    ),
    ("canary.topic", "__ironlog_canary", "the canary topic"),
    (
        "canary.interval.ms",
        "1000",
        "one record per partition this often",
    ),
    (
        "canary.listener",
        "http://0.0.0.0:8080",
        "HTTP listener of /metrics, /health/live and /health/ready",
    ),
    (
        "canary.topic.reconcile.interval.ms",
        "30000",
        "how often the topic is checked against the brokers",
    ),
    (
        "canary.topic.config",
        "retention.ms=600000",
        "topic configs at creation, k=v[,k=v...]",
    ),
    (
        "canary.request.timeout.ms",
        "10000",
        "bound of a produce (acks=all) or metadata request",
    ),
    (
        "canary.lost.timeout.ms",
        "60000",
        "an acknowledged record that a successful fetch sent this long after its acknowledgement did not return is lost",
    ),
    (
        "canary.consumer.isolation.level",
        "read_uncommitted",
        "read_uncommitted or read_committed",
    ),
    (
        "canary.client.id",
        "ironlog-canary",
        "client id of the canary's requests",
    ),
];

/// Shortest `canary.interval.ms` (a tighter loop would measure the canary, not the cluster).
const INTERVAL_MS_MIN: u64 = 10;
/// Longest duration setting: a day.
const DURATION_MS_MAX: u64 = 24 * 60 * 60 * 1000;

impl CanaryConfig {
    /// Settings from `file` (if any), then the canary's variables of `env`, then
    /// `overrides` (`key=value`), then `bootstrap_server` (if given), over the defaults.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (OsString, OsString)>,
        overrides: &[String],
        bootstrap_server: Option<&str>,
    ) -> Result<CanaryConfig, CanaryConfigError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        if let Some(path) = file {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| CanaryConfigError::Read {
                path: shown.clone(),
                source,
            })?;
            pairs.extend(ironlog_config::parse_properties(&text).map_err(|source| {
                CanaryConfigError::Properties {
                    path: shown,
                    source,
                }
            })?);
        }
        pairs.extend(settings_from_env(env)?);
        for o in overrides {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| CanaryConfigError::NotKeyValue(o.clone()))?;
            pairs.push((k.trim().to_string(), v.trim().to_string()));
        }
        if let Some(b) = bootstrap_server {
            pairs.push(("bootstrap.servers".to_string(), b.to_string()));
        }
        Self::from_pairs(&pairs)
    }

    /// Settings from `pairs` (later wins) over the defaults.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<CanaryConfig, CanaryConfigError> {
        for (k, _) in pairs {
            if !KEYS.iter().any(|(key, _, _)| key == k) {
                return Err(CanaryConfigError::UnknownKey {
                    key: k.clone(),
                    known: KEYS
                        .iter()
                        .map(|(k, _, _)| *k)
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        let value = |key: &'static str| -> String {
            pairs
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .or_else(|| {
                    KEYS.iter()
                        .find(|(k, _, _)| *k == key)
                        .map(|(_, d, _)| d.to_string())
                })
                .unwrap_or_default()
        };
        let bootstrap_servers = parse_bootstrap(&value("bootstrap.servers"))?;
        let topic = parse_topic(&value("canary.topic"))?;
        let (listener_host, listener_port) = parse_listener(&value("canary.listener"))?;
        let interval = parse_ms(
            "canary.interval.ms",
            &value("canary.interval.ms"),
            INTERVAL_MS_MIN,
        )?;
        let reconcile_interval = parse_ms(
            "canary.topic.reconcile.interval.ms",
            &value("canary.topic.reconcile.interval.ms"),
            100,
        )?;
        let request_timeout = parse_ms(
            "canary.request.timeout.ms",
            &value("canary.request.timeout.ms"),
            100,
        )?;
        let lost_timeout = parse_ms(
            "canary.lost.timeout.ms",
            &value("canary.lost.timeout.ms"),
            100,
        )?;
        let topic_configs = parse_topic_configs(&value("canary.topic.config"))?;
        let isolation_level = match value("canary.consumer.isolation.level").as_str() {
            "read_uncommitted" => IsolationLevel::ReadUncommitted,
            "read_committed" => IsolationLevel::ReadCommitted,
            other => {
                return Err(CanaryConfigError::Invalid {
                    key: "canary.consumer.isolation.level",
                    value: other.to_string(),
                    reason: "must be read_uncommitted or read_committed".to_string(),
                })
            }
        };
        let client_id = value("canary.client.id");
        if client_id.is_empty() || client_id.len() > 255 {
            return Err(CanaryConfigError::Invalid {
                key: "canary.client.id",
                value: client_id,
                reason: "must be 1 to 255 characters".to_string(),
            });
        }
        if lost_timeout <= request_timeout {
            return Err(CanaryConfigError::Invalid {
                key: "canary.lost.timeout.ms",
                value: value("canary.lost.timeout.ms"),
                reason: "must be longer than canary.request.timeout.ms (a record is acknowledged within that)".to_string(),
            });
        }
        Ok(CanaryConfig {
            bootstrap_servers,
            topic,
            interval,
            listener_host,
            listener_port,
            reconcile_interval,
            topic_configs,
            request_timeout,
            lost_timeout,
            isolation_level,
            client_id,
        })
    }
}

/// The canary's settings among `env` (`IRONLOG_CANARY_*`), in variable name order (a
/// stable order, whatever the environment's).
fn settings_from_env(
    env: impl IntoIterator<Item = (OsString, OsString)>,
) -> Result<Vec<(String, String)>, CanaryConfigError> {
    let mut pairs = Vec::new();
    for (name, value) in env {
        let Some(variable) = name.to_str() else {
            continue; // not ours: ours are ASCII names
        };
        let Some(rest) = variable.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        // the broker's mapping of what follows the prefix
        let Some(mapped) = ironlog_config::config_key_for_variable(&format!(
            "{}{rest}",
            ironlog_config::ENV_PREFIX
        )) else {
            continue;
        };
        let key = if mapped == "bootstrap.servers" {
            mapped
        } else {
            format!("canary.{mapped}")
        };
        if !KEYS.iter().any(|(k, _, _)| *k == key) {
            return Err(CanaryConfigError::UnknownVariable {
                variable: variable.to_string(),
                key,
            });
        }
        let value = value
            .into_string()
            .map_err(|_| CanaryConfigError::VariableNotUtf8(variable.to_string()))?;
        pairs.push((variable.to_string(), key, value));
    }
    pairs.sort();
    Ok(pairs.into_iter().map(|(_, k, v)| (k, v)).collect())
}

/// The prefix of the canary's environment variables.
const ENV_PREFIX: &str = "IRONLOG_CANARY_";

fn invalid(key: &'static str, value: &str, reason: impl Into<String>) -> CanaryConfigError {
    CanaryConfigError::Invalid {
        key,
        value: value.to_string(),
        reason: reason.into(),
    }
}

fn parse_bootstrap(value: &str) -> Result<Vec<String>, CanaryConfigError> {
    let servers: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if servers.is_empty() {
        return Err(CanaryConfigError::NoBootstrap);
    }
    for s in &servers {
        let port = s
            .rsplit_once(':')
            .map(|(host, port)| (host, port.parse::<u16>()));
        match port {
            Some((host, Ok(p))) if !host.is_empty() && p > 0 => {}
            _ => {
                return Err(invalid(
                    "bootstrap.servers",
                    s,
                    "each server must be HOST:PORT with a port from 1 to 65535",
                ))
            }
        }
    }
    Ok(servers)
}

/// Kafka's topic name rule: 1..=249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
fn parse_topic(value: &str) -> Result<String, CanaryConfigError> {
    let legal = !value.is_empty()
        && value.len() <= 249
        && value != "."
        && value != ".."
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !legal {
        return Err(invalid(
            "canary.topic",
            value,
            "a topic name is 1 to 249 characters of [a-zA-Z0-9._-], not '.' or '..'",
        ));
    }
    Ok(value.to_string())
}

fn parse_listener(value: &str) -> Result<(String, u16), CanaryConfigError> {
    let bad = || invalid("canary.listener", value, "must be http://HOST:PORT");
    let rest = value.strip_prefix("http://").ok_or_else(bad)?;
    let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((host.to_string(), port))
}

fn parse_ms(key: &'static str, value: &str, min_ms: u64) -> Result<Duration, CanaryConfigError> {
    let ms: u64 = value
        .parse()
        .map_err(|_| invalid(key, value, "must be a whole number of milliseconds"))?;
    if !(min_ms..=DURATION_MS_MAX).contains(&ms) {
        return Err(invalid(
            key,
            value,
            format!("must be from {min_ms} to {DURATION_MS_MAX} ms"),
        ));
    }
    Ok(Duration::from_millis(ms))
}

fn parse_topic_configs(value: &str) -> Result<Vec<(String, String)>, CanaryConfigError> {
    let mut out = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| invalid("canary.topic.config", value, format!("{item:?} is not k=v")))?;
        out.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_with_a_bootstrap_server() {
        let config = CanaryConfig::from_pairs(&pairs(&[("bootstrap.servers", "b1:9092, b2:9092")]))
            .expect("valid");
        assert_eq!(config.bootstrap_servers, ["b1:9092", "b2:9092"]);
        assert_eq!(config.topic, "__ironlog_canary");
        assert_eq!(config.interval, Duration::from_secs(1));
        assert_eq!(
            (config.listener_host.as_str(), config.listener_port),
            ("0.0.0.0", 8080)
        );
        assert_eq!(
            config.topic_configs,
            [("retention.ms".to_string(), "600000".to_string())]
        );
        assert_eq!(config.isolation_level, IsolationLevel::ReadUncommitted);
    }

    #[test]
    fn bad_values_are_refused_naming_the_setting() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "no bootstrap servers"),
            (&[("bootstrap.servers", "nohost")], "bootstrap.servers"),
            (&[("bootstrap.servers", "h:0")], "bootstrap.servers"),
            (
                &[("bootstrap.servers", "h:1"), ("canary.interval.ms", "fast")],
                "canary.interval.ms",
            ),
            (
                &[("bootstrap.servers", "h:1"), ("canary.interval.ms", "1")],
                "canary.interval.ms",
            ),
            (
                &[("bootstrap.servers", "h:1"), ("canary.topic", "a b")],
                "canary.topic",
            ),
            (
                &[
                    ("bootstrap.servers", "h:1"),
                    ("canary.listener", "0.0.0.0:80"),
                ],
                "canary.listener",
            ),
            (
                &[
                    ("bootstrap.servers", "h:1"),
                    ("canary.consumer.isolation.level", "x"),
                ],
                "canary.consumer.isolation.level",
            ),
            (
                &[
                    ("bootstrap.servers", "h:1"),
                    ("canary.topic.config", "retention.ms"),
                ],
                "canary.topic.config",
            ),
            (
                &[
                    ("bootstrap.servers", "h:1"),
                    ("canary.lost.timeout.ms", "5000"),
                ],
                "canary.lost.timeout.ms",
            ),
            (
                &[("bootstrap.servers", "h:1"), ("canary.intervall.ms", "5")],
                "unknown canary setting \"canary.intervall.ms\"",
            ),
        ];
        for (items, expected) in cases {
            let error = CanaryConfig::from_pairs(&pairs(items))
                .expect_err("refused")
                .to_string();
            assert!(
                error.contains(expected),
                "{items:?}: {error:?} should name {expected:?}"
            );
        }
    }

    #[test]
    fn overrides_win_over_the_file_and_the_flag_over_both() {
        let dir = std::env::temp_dir().join(format!("canary-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("canary.properties");
        std::fs::write(
            &file,
            "bootstrap.servers=file:1\ncanary.interval.ms=500\ncanary.topic=t1\n",
        )
        .expect("write");
        let env = |pairs: &[(&str, &str)]| -> Vec<(OsString, OsString)> {
            pairs
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v)))
                .collect()
        };
        let config = CanaryConfig::load(
            Some(&file),
            env(&[
                ("IRONLOG_CANARY_INTERVAL_MS", "700"),
                ("IRONLOG_CANARY_TOPIC", "t-env"),
                ("IRONLOG_LISTENERS", "PLAINTEXT://:9092"), // the broker's: ignored
                ("IRONLOG_BOOTSTRAP_SERVERS", "ignored:1"),
            ]),
            &["canary.topic=t2".to_string()],
            Some("flag:2"),
        )
        .expect("valid");
        assert_eq!(config.bootstrap_servers, ["flag:2"]);
        assert_eq!(config.topic, "t2");
        assert_eq!(config.interval, Duration::from_millis(700));
        let from_env = CanaryConfig::load(
            None,
            env(&[("IRONLOG_CANARY_BOOTSTRAP_SERVERS", "env:3")]),
            &[],
            None,
        )
        .expect("valid");
        assert_eq!(from_env.bootstrap_servers, ["env:3"]);
        let unknown = CanaryConfig::load(
            None,
            env(&[("IRONLOG_CANARY_INTERVAL", "5")]),
            &[],
            Some("h:1"),
        )
        .expect_err("unknown variable")
        .to_string();
        assert!(unknown.contains("IRONLOG_CANARY_INTERVAL"), "{unknown}");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(matches!(
            CanaryConfig::load(None, Vec::new(), &["canary.topic".to_string()], Some("h:1")),
            Err(CanaryConfigError::NotKeyValue(_))
        ));
    }
}
