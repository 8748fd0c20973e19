//! The configuration definitions table: every broker key and every topic config Ironlog
//! accepts, with Kafka's name, type, default, validator, documentation and dynamic update
//! mode. Validation, `DescribeConfigs` and topic defaults all read this one table.

use std::fmt;

/// Kafka's `ConfigDef.Type`, with the ids `DescribeConfigsResponse.config_type` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Short = 4,
    Long = 5,
    Double = 6,
    List = 7,
    Class = 8,
    Password = 9,
}

impl ConfigType {
    /// The id Kafka puts in `DescribeConfigsResponse` (`config_type`).
    pub fn id(&self) -> i8 {
        *self as i8
    }
}

/// Who may change a broker config at runtime (Kafka's "Dynamic update mode").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateMode {
    /// Static: needs a restart (`read_only` in DescribeConfigs).
    ReadOnly,
    /// Dynamic, only for one broker (`--entity-name <id>`).
    PerBroker,
    /// Kafka's per-broker SSL keystore/truststore configs, dynamic only under a listener
    /// prefix (`listener.name.<listener>.<name>`); the plain name is refused dynamically.
    PerListener,
    /// Dynamic, per broker or as the cluster-wide default.
    ClusterWide,
}

/// How Apache Kafka 4.1 defines a broker key, which decides how DescribeConfigs shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaDefinition {
    /// A public `KafkaConfig` definition: always described, with its type.
    Public,
    /// An internal definition (`defineInternal`): described, typed, only when set.
    Internal,
    /// No definition (e.g. an authorizer's own key, or an Ironlog key): described only when
    /// set, as Kafka describes keys it does not know: type UNKNOWN, sensitive, read-only.
    None,
}

/// A parsed config value.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigValue {
    Boolean(bool),
    String(String),
    Int(i32),
    Short(i16),
    Long(i64),
    Double(f64),
    List(Vec<String>),
    Class(String),
    Password(String),
}

impl ConfigValue {
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            ConfigValue::Int(v) => Some(i64::from(*v)),
            ConfigValue::Short(v) => Some(i64::from(*v)),
            ConfigValue::Long(v) => Some(*v),
            _ => None,
        }
    }
}

impl fmt::Display for ConfigValue {
    /// Kafka's `ConfigDef.convertToString` form (lists comma-joined, doubles Java-style).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigValue::Boolean(v) => write!(f, "{v}"),
            ConfigValue::String(v) | ConfigValue::Class(v) | ConfigValue::Password(v) => {
                f.write_str(v)
            }
            ConfigValue::Int(v) => write!(f, "{v}"),
            ConfigValue::Short(v) => write!(f, "{v}"),
            ConfigValue::Long(v) => write!(f, "{v}"),
            ConfigValue::Double(v) => f.write_str(&java_double_string(*v)),
            ConfigValue::List(v) => f.write_str(&v.join(",")),
        }
    }
}

/// `Double.toString` as Java prints it for the values configs use (0.5, 1.0, 1.7976931348623157E308).
fn java_double_string(v: f64) -> String {
    let abs = v.abs();
    if v.is_finite() && (abs == 0.0 || (1e-3..1e7).contains(&abs)) {
        let s = format!("{v}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else if v.is_finite() {
        let s = format!("{v:e}");
        let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_string()
        } else {
            format!("{mantissa}.0")
        };
        format!("{mantissa}E{exponent}")
    } else if v.is_nan() {
        "NaN".to_string()
    } else if v > 0.0 {
        "Infinity".to_string()
    } else {
        "-Infinity".to_string()
    }
}

/// Value constraints, as Kafka's validators express them.
#[derive(Debug, Clone, Copy)]
pub enum Validator {
    Any,
    /// Integer at least this (`Range.atLeast`).
    AtLeast(i64),
    /// Integer within `[min, max]` (`Range.between`).
    Between(i64, i64),
    /// Integer within `[min, max]` or exactly `or` (gzip level: `[1,...,9] or -1`).
    BetweenOr(i64, i64, i64),
    /// Double within `[min, max]`.
    DoubleBetween(f64, f64),
    /// String equal to one of these (`ValidString.in`, case-sensitive).
    OneOf(&'static [&'static str]),
    /// String equal to one of these ignoring case (`CaseInsensitiveValidString`).
    OneOfIgnoreCase(&'static [&'static str]),
    /// Every list element one of these (`ValidList.in`).
    ListOf(&'static [&'static str]),
    /// Anything else, checked by a function returning the reason on failure.
    Custom(fn(&ConfigValue) -> Result<(), String>),
}

impl Validator {
    fn check(&self, value: &ConfigValue) -> Result<(), String> {
        match *self {
            Validator::Any => Ok(()),
            Validator::AtLeast(min) => match value.as_i64() {
                Some(v) if v < min => Err(format!("Value must be at least {min}")),
                _ => Ok(()),
            },
            Validator::Between(min, max) => match value.as_i64() {
                Some(v) if v < min => Err(format!("Value must be at least {min}")),
                Some(v) if v > max => Err(format!("Value must be no more than {max}")),
                _ => Ok(()),
            },
            Validator::BetweenOr(min, max, or) => match value.as_i64() {
                Some(v) if v != or && !(min..=max).contains(&v) => {
                    Err(format!("Value must be in [{min},...,{max}] or {or}"))
                }
                _ => Ok(()),
            },
            Validator::DoubleBetween(min, max) => match value {
                ConfigValue::Double(v) if *v < min => Err(format!(
                    "Value must be at least {}",
                    java_double_string(min)
                )),
                ConfigValue::Double(v) if *v > max => Err(format!(
                    "Value must be no more than {}",
                    java_double_string(max)
                )),
                _ => Ok(()),
            },
            Validator::OneOf(allowed) => match value {
                ConfigValue::String(s) if !allowed.contains(&s.as_str()) => {
                    Err(format!("String must be one of: {}", allowed.join(", ")))
                }
                _ => Ok(()),
            },
            Validator::OneOfIgnoreCase(allowed) => match value {
                ConfigValue::String(s) if !allowed.iter().any(|a| a.eq_ignore_ascii_case(s)) => {
                    Err(format!(
                        "String must be one of (case insensitive): {}",
                        allowed.join(", ")
                    ))
                }
                _ => Ok(()),
            },
            Validator::ListOf(allowed) => match value {
                ConfigValue::List(items) => {
                    match items.iter().find(|i| !allowed.contains(&i.as_str())) {
                        Some(_) => Err(format!("String must be one of: {}", allowed.join(", "))),
                        None => Ok(()),
                    }
                }
                _ => Ok(()),
            },
            Validator::Custom(check) => check(value),
        }
    }
}

/// One config key: the single source of truth for its type, default, checks and docs.
#[derive(Debug, Clone, Copy)]
pub struct ConfigDef {
    pub name: &'static str,
    pub config_type: ConfigType,
    /// Kafka's default in string form; `None` = no default (`null`).
    pub default: Option<&'static str>,
    pub validator: Validator,
    /// Broker configs only; topic configs are always dynamic.
    pub update_mode: UpdateMode,
    /// Broker configs only: how Kafka defines the key.
    pub kafka_definition: KafkaDefinition,
    pub documentation: &'static str,
}

impl ConfigDef {
    /// Parses and validates `raw`; the error reads like Kafka's `ConfigException`.
    pub fn parse(&self, raw: &str) -> Result<ConfigValue, String> {
        let value = parse_typed(self.config_type, raw)
            .map_err(|reason| invalid_value_message(self.name, raw, &reason))?;
        self.validator
            .check(&value)
            .map_err(|reason| invalid_value_message(self.name, raw, &reason))?;
        Ok(value)
    }

    /// The parsed default, `None` if the key has no default.
    pub fn default_value(&self) -> Option<ConfigValue> {
        self.default
            .and_then(|d| parse_typed(self.config_type, d).ok())
    }

    /// Hidden in DescribeConfigs: passwords, and keys Kafka has no type for.
    pub fn is_sensitive(&self) -> bool {
        self.config_type == ConfigType::Password || self.kafka_definition == KafkaDefinition::None
    }

    /// The type DescribeConfigs reports: `None` (UNKNOWN) for keys Kafka does not define.
    pub fn described_type(&self) -> Option<ConfigType> {
        (self.kafka_definition != KafkaDefinition::None).then_some(self.config_type)
    }

    /// Whether DescribeConfigs lists the key even when it is not set.
    pub fn always_described(&self) -> bool {
        self.kafka_definition == KafkaDefinition::Public
    }

    /// Whether the key may be changed at runtime at all (`read_only` is the negation).
    pub fn is_dynamic(&self) -> bool {
        self.update_mode != UpdateMode::ReadOnly
    }

    /// Marks a key Kafka defines as internal (see [`KafkaDefinition::Internal`]).
    const fn kafka_internal(mut self) -> Self {
        self.kafka_definition = KafkaDefinition::Internal;
        self
    }

    /// Marks a key Kafka 4.1 has no definition for (see [`KafkaDefinition::None`]).
    const fn not_in_kafka(mut self) -> Self {
        self.kafka_definition = KafkaDefinition::None;
        self
    }
}

/// Kafka's `ConfigException(name, value, message)` text.
pub(crate) fn invalid_value_message(name: &str, raw: &str, reason: &str) -> String {
    format!(
        "Invalid value {} for configuration {name}: {reason}",
        raw.trim()
    )
}

fn parse_typed(config_type: ConfigType, raw: &str) -> Result<ConfigValue, String> {
    let trimmed = raw.trim();
    Ok(match config_type {
        ConfigType::Boolean => {
            if trimmed.eq_ignore_ascii_case("true") {
                ConfigValue::Boolean(true)
            } else if trimmed.eq_ignore_ascii_case("false") {
                ConfigValue::Boolean(false)
            } else {
                return Err("Expected value to be either true or false".to_string());
            }
        }
        ConfigType::String => ConfigValue::String(trimmed.to_string()),
        ConfigType::Class => ConfigValue::Class(trimmed.to_string()),
        ConfigType::Password => ConfigValue::Password(raw.to_string()),
        ConfigType::Int => ConfigValue::Int(
            trimmed
                .parse()
                .map_err(|_| "Not a number of type INT".to_string())?,
        ),
        ConfigType::Short => ConfigValue::Short(
            trimmed
                .parse()
                .map_err(|_| "Not a number of type SHORT".to_string())?,
        ),
        ConfigType::Long => ConfigValue::Long(
            trimmed
                .parse()
                .map_err(|_| "Not a number of type LONG".to_string())?,
        ),
        ConfigType::Double => {
            let v: f64 = trimmed
                .parse()
                .map_err(|_| "Not a number of type DOUBLE".to_string())?;
            if v.is_nan() {
                return Err("Not a number of type DOUBLE".to_string());
            }
            ConfigValue::Double(v)
        }
        ConfigType::List => ConfigValue::List(if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split(',').map(|s| s.trim().to_string()).collect()
        }),
    })
}

/// How a broker synonym's value converts into the topic config's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynonymUnit {
    Same,
    MinutesToMs,
    HoursToMs,
}

impl SynonymUnit {
    /// Converts a synonym value (already validated) to the topic config's unit.
    pub(crate) fn convert(&self, value: ConfigValue) -> ConfigValue {
        let factor = match self {
            SynonymUnit::Same => return value,
            SynonymUnit::MinutesToMs => 60_000i64,
            SynonymUnit::HoursToMs => 3_600_000i64,
        };
        match value.as_i64() {
            Some(v) => ConfigValue::Long(v.saturating_mul(factor)),
            None => value,
        }
    }
}

/// A topic config with its broker-side synonyms, highest priority first (Kafka's
/// `ServerTopicConfigSynonyms`): the first synonym is the dynamic broker default.
#[derive(Debug, Clone, Copy)]
pub struct TopicConfigDef {
    pub def: ConfigDef,
    pub synonyms: &'static [(&'static str, SynonymUnit)],
}

use ConfigType as T;
use SynonymUnit as U;
use UpdateMode::{ClusterWide as C, PerBroker as P, PerListener as L, ReadOnly as R};
use Validator as V;

const fn b(
    name: &'static str,
    config_type: ConfigType,
    default: Option<&'static str>,
    validator: Validator,
    update_mode: UpdateMode,
    documentation: &'static str,
) -> ConfigDef {
    ConfigDef {
        name,
        config_type,
        default,
        validator,
        update_mode,
        kafka_definition: KafkaDefinition::Public,
        documentation,
    }
}

const fn t(
    name: &'static str,
    config_type: ConfigType,
    default: Option<&'static str>,
    validator: Validator,
    synonyms: &'static [(&'static str, SynonymUnit)],
    documentation: &'static str,
) -> TopicConfigDef {
    TopicConfigDef {
        def: ConfigDef {
            name,
            config_type,
            default,
            validator,
            update_mode: C,
            kafka_definition: KafkaDefinition::Public,
            documentation,
        },
        synonyms,
    }
}

const I32_MAX: &str = "2147483647";
const I64_MAX: &str = "9223372036854775807";
const COMPRESSION_TYPES: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
const CLEANUP_POLICIES: &[&str] = &["compact", "delete"];
const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];
const SECURITY_PROTOCOLS: &[&str] = &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];
/// Kafka 4 `segment.bytes` / `log.segment.bytes` minimum (KIP-1030): 1 MiB.
pub const SEGMENT_BYTES_MIN: i64 = 1024 * 1024;
const ZSTD_LEVEL_MIN: i64 = -131072;
const ZSTD_LEVEL_MAX: i64 = 22;
/// The only authorizer class name accepted: Kafka's KRaft ACL authorizer, which Ironlog
/// implements natively.
pub const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";
/// The only `replica.selector.class` accepted (unset: consumers read from the leader):
/// Kafka's rack-aware selector (KIP-392), which Ironlog implements natively.
pub const RACK_AWARE_REPLICA_SELECTOR: &str =
    "org.apache.kafka.common.replica.RackAwareReplicaSelector";

fn replica_selector_class(value: &ConfigValue) -> Result<(), String> {
    match value {
        ConfigValue::String(s) if !s.is_empty() && s != RACK_AWARE_REPLICA_SELECTOR => {
            Err(format!(
                "only {RACK_AWARE_REPLICA_SELECTOR} is supported (unset: consumers fetch from the \
             leader); selector plugins are not loaded"
            ))
        }
        _ => Ok(()),
    }
}

fn no_plugin_class(value: &ConfigValue) -> Result<(), String> {
    match value {
        ConfigValue::Class(s) | ConfigValue::String(s) if !s.is_empty() => {
            Err("plugin classes are not supported by Ironlog".to_string())
        }
        _ => Ok(()),
    }
}

/// The ZooKeeper-era authorizer of Kafka 3.x and before, gone in Kafka 4.0 (which refuses
/// to start with it). Refused here too, naming its KRaft successor: ACLs now live in the
/// metadata log, which a silent alias would hide from an operator migrating old files.
const ACL_AUTHORIZER: &str = "kafka.security.authorizer.AclAuthorizer";

fn authorizer_class(value: &ConfigValue) -> Result<(), String> {
    match value {
        ConfigValue::String(s) if s == ACL_AUTHORIZER => Err(format!(
            "{ACL_AUTHORIZER} (ZooKeeper) was removed in Kafka 4.0; use {STANDARD_AUTHORIZER}, \
             whose ACLs live in the metadata log"
        )),
        ConfigValue::String(s) if !s.is_empty() && s != STANDARD_AUTHORIZER => Err(format!(
            "only {STANDARD_AUTHORIZER} (or empty) is supported"
        )),
        _ => Ok(()),
    }
}

fn only_false(value: &ConfigValue) -> Result<(), String> {
    match value {
        ConfigValue::Boolean(true) => Err("tiered storage is not supported by Ironlog".to_string()),
        _ => Ok(()),
    }
}

fn process_roles(value: &ConfigValue) -> Result<(), String> {
    let ConfigValue::List(roles) = value else {
        return Ok(());
    };
    if let Some(bad) = roles.iter().find(|r| *r != "broker" && *r != "controller") {
        return Err(format!(
            "Unknown process role '{bad}' (only 'broker' and 'controller' are allowed roles)"
        ));
    }
    let mut sorted = roles.clone();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != roles.len() {
        return Err(format!(
            "Duplicate role names found in `process.roles`: [{}]",
            roles.join(", ")
        ));
    }
    Ok(())
}

fn quorum_voters(value: &ConfigValue) -> Result<(), String> {
    let ConfigValue::List(voters) = value else {
        return Ok(());
    };
    for voter in voters {
        crate::endpoints::parse_quorum_voter(voter)?;
    }
    Ok(())
}

fn host_ports(value: &ConfigValue) -> Result<(), String> {
    let ConfigValue::List(servers) = value else {
        return Ok(());
    };
    for server in servers {
        crate::endpoints::parse_host_port(server)?;
    }
    Ok(())
}

fn throttled_replicas(value: &ConfigValue) -> Result<(), String> {
    let ConfigValue::List(items) = value else {
        return Ok(());
    };
    if items.len() == 1 && items[0] == "*" {
        return Ok(());
    }
    let well_formed = items.iter().all(|item| {
        item.split_once(':').is_some_and(|(p, r)| {
            p.trim().parse::<u32>().is_ok() && r.trim().parse::<u32>().is_ok()
        })
    });
    if well_formed {
        Ok(())
    } else {
        Err("must be the literal '*' or a list of replicas in the form [PartitionId]:[BrokerId],[PartitionId]:[BrokerId],...".to_string())
    }
}

fn non_empty_list(value: &ConfigValue) -> Result<(), String> {
    match value {
        ConfigValue::List(items) if items.is_empty() || items.iter().any(|i| i.is_empty()) => {
            Err("Empty list or empty element".to_string())
        }
        _ => Ok(()),
    }
}

fn admin_listener(value: &ConfigValue) -> Result<(), String> {
    match value {
        ConfigValue::String(s) => crate::endpoints::parse_admin_listener(s).map(|_| ()),
        _ => Ok(()),
    }
}

fn release_version(value: &ConfigValue) -> Result<(), String> {
    match value {
        ConfigValue::String(s)
            if !s.is_empty()
                && crate::metadata_version::metadata_version_from_release(s).is_none() =>
        {
            Err(format!(
                "unknown release version; known: {}",
                crate::metadata_version::known_release_versions()
            ))
        }
        _ => Ok(()),
    }
}

fn cluster_id(value: &ConfigValue) -> Result<(), String> {
    match value {
        ConfigValue::String(s)
            if s.is_empty()
                || s.chars()
                    .any(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')) =>
        {
            Err("cluster id must be non-empty and use only [A-Za-z0-9_-]".to_string())
        }
        _ => Ok(()),
    }
}

/// Every broker config key Ironlog accepts (Kafka 4 names). Kafka accepts more; an
/// unknown key stops start-up so that typos never go unnoticed.
#[rustfmt::skip]
pub static BROKER_CONFIGS: &[ConfigDef] = &[
    // --- node identity and KRaft (accepted; the quorum is Ironlog's own) ---
    b("node.id", T::Int, None, V::AtLeast(0), R, "Unique id of this node in the cluster; required."),
    b("broker.id", T::Int, Some("-1"), V::AtLeast(-1), R, "Legacy name of node.id; if set it must equal node.id."),
    b("process.roles", T::List, None, V::Custom(process_roles), R, "Roles of this node: broker, optionally with controller (Raft voter); required."),
    b("cluster.id", T::String, None, V::Custom(cluster_id), R, "Ironlog: cluster id to format new storage with; generated on first start when unset.").not_in_kafka(),
    b("controller.quorum.voters", T::List, Some(""), V::Custom(quorum_voters), R, "Static metadata quorum voters as id@host:port."),
    b("controller.quorum.bootstrap.servers", T::List, Some(""), V::Custom(host_ports), R, "host:port endpoints used to discover the metadata quorum."),
    b("controller.quorum.election.timeout.ms", T::Int, Some("1000"), V::AtLeast(0), R, "Time without a leader before a voter starts an election."),
    b("controller.quorum.fetch.timeout.ms", T::Int, Some("2000"), V::AtLeast(0), R, "Time without a successful fetch before a follower becomes a candidate."),
    b("controller.quorum.election.backoff.max.ms", T::Int, Some("1000"), V::AtLeast(0), R, "Upper bound of the randomized backoff between elections."),
    b("controller.quorum.request.timeout.ms", T::Int, Some("2000"), V::AtLeast(0), R, "Timeout of a metadata quorum request."),
    b("controller.quorum.retry.backoff.ms", T::Int, Some("20"), V::AtLeast(0), R, "Wait before retrying a failed metadata quorum request."),
    b("controller.quorum.append.linger.ms", T::Int, Some("25"), V::AtLeast(0), R, "How long the quorum leader batches metadata writes before flushing."),
    b("controller.listener.names", T::String, None, V::Any, R, "Listener names used by the controller; they are not served to clients."),
    b("metadata.log.dir", T::String, None, V::Any, R, "Directory of the metadata log; defaults to the first log dir."),
    b("metadata.log.segment.bytes", T::Int, Some("1073741824"), V::AtLeast(12), R, "Segment size of the metadata log."),
    b("metadata.log.segment.ms", T::Long, Some("604800000"), V::Any, R, "Age at which the metadata log rolls a segment."),
    b("metadata.max.retention.bytes", T::Long, Some("104857600"), V::Any, R, "Metadata log size kept after a snapshot covers it."),
    b("metadata.max.retention.ms", T::Long, Some("604800000"), V::Any, R, "How long covered metadata log segments are kept."),
    b("metadata.log.max.record.bytes.between.snapshots", T::Long, Some("20971520"), V::AtLeast(1), R, "Bytes of metadata records after which a new snapshot is taken."),
    b("metadata.log.max.snapshot.interval.ms", T::Long, Some("3600000"), V::AtLeast(0), R, "Longest time between two metadata snapshots; 0 disables the time trigger."),
    b("metadata.max.idle.interval.ms", T::Int, Some("500"), V::AtLeast(0), R, "Interval at which the active controller writes a no-op record."),
    b("broker.heartbeat.interval.ms", T::Int, Some("2000"), V::Any, R, "Interval between broker heartbeats to the controller."),
    b("broker.session.timeout.ms", T::Int, Some("9000"), V::Any, R, "Broker lease length: a broker silent for this long is fenced."),
    b("initial.broker.registration.timeout.ms", T::Int, Some("60000"), V::Any, R, "How long a starting broker waits to register with the controller."),
    b("eligible.leader.replicas.enable", T::Boolean, Some("false"), V::Any, R, "Accepted for compatibility; eligible leader replicas are not implemented.").not_in_kafka(),
    // --- listeners and network ---
    b("listeners", T::String, Some("PLAINTEXT://:9092"), V::Any, P, "Comma-separated NAME://host:port endpoints to bind; empty host binds all interfaces."),
    b("advertised.listeners", T::String, None, V::Any, R, "Endpoints published to clients in metadata; defaults to listeners."),
    b("listener.security.protocol.map", T::String, Some("SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT"), V::Any, P, "Maps listener names to security protocols as NAME:PROTOCOL pairs."),
    b("inter.broker.listener.name", T::String, None, V::Any, R, "Listener used for replication between brokers."),
    b("security.inter.broker.protocol", T::String, Some("PLAINTEXT"), V::OneOf(SECURITY_PROTOCOLS), R, "Security protocol between brokers when inter.broker.listener.name is unset."),
    b("num.network.threads", T::Int, Some("3"), V::AtLeast(1), C, "Accepted for compatibility; Ironlog's async runtime sizes itself."),
    b("num.io.threads", T::Int, Some("8"), V::AtLeast(1), C, "Accepted for compatibility; Ironlog's async runtime sizes itself."),
    b("background.threads", T::Int, Some("10"), V::AtLeast(1), C, "Accepted for compatibility; background work runs on the async runtime."),
    b("socket.send.buffer.bytes", T::Int, Some("102400"), V::Any, R, "SO_SNDBUF of client sockets; -1 uses the OS default."),
    b("socket.receive.buffer.bytes", T::Int, Some("102400"), V::Any, R, "SO_RCVBUF of client sockets; -1 uses the OS default."),
    b("socket.request.max.bytes", T::Int, Some("104857600"), V::AtLeast(1), R, "Largest request frame accepted; larger frames close the connection."),
    b("socket.listen.backlog.size", T::Int, Some("50"), V::AtLeast(1), R, "Accept backlog of listening sockets."),
    b("max.connections", T::Int, Some(I32_MAX), V::AtLeast(0), C, "Most client connections the broker keeps open at once."),
    b("max.connections.per.ip", T::Int, Some(I32_MAX), V::AtLeast(0), C, "Most connections accepted from one IP address."),
    b("max.connections.per.ip.overrides", T::String, Some(""), V::Any, C, "Per-IP or per-host connection limits as host:count pairs."),
    b("max.connection.creation.rate", T::Int, Some(I32_MAX), V::AtLeast(0), C, "Most new connections accepted per second on every listener but the inter-broker one (listener.name.<listener>.max.connection.creation.rate: on that listener); faster ones wait to be accepted."),
    b("connections.max.idle.ms", T::Long, Some("600000"), V::Any, R, "Idle connections are closed after this long."),
    b("connection.failed.authentication.delay.ms", T::Int, Some("100"), V::AtLeast(0), R, "Delay before closing a connection that failed authentication."),
    b("queued.max.requests", T::Int, Some("500"), V::AtLeast(1), R, "Most requests queued before the network stops reading."),
    b("queued.max.request.bytes", T::Long, Some("-1"), V::Any, R, "Most queued request bytes before the network stops reading; -1 = no limit."),
    b("request.timeout.ms", T::Int, Some("30000"), V::AtLeast(0), R, "Timeout the broker uses for requests it sends itself."),
    // --- server basics ---
    b("message.max.bytes", T::Int, Some("1048588"), V::AtLeast(0), C, "Largest record batch accepted; default for topic max.message.bytes."),
    b("broker.rack", T::String, None, V::Any, R, "Rack (or zone) of this broker for rack-aware replica placement."),
    b("delete.topic.enable", T::Boolean, Some("true"), V::Any, R, "Whether DeleteTopics is allowed."),
    b("auto.create.topics.enable", T::Boolean, Some("true"), V::Any, R, "Create unknown topics on metadata requests that ask for them."),
    b("num.partitions", T::Int, Some("1"), V::AtLeast(1), R, "Default partition count of new topics."),
    b("default.replication.factor", T::Int, Some("1"), V::AtLeast(1), R, "Default replication factor of new topics."),
    b("min.insync.replicas", T::Int, Some("1"), V::AtLeast(1), C, "Default min.insync.replicas of topics."),
    b("unclean.leader.election.enable", T::Boolean, Some("false"), V::Any, C, "Default: allow out-of-sync replicas to become leader (data loss)."),
    b("compression.type", T::String, Some("producer"), V::OneOf(COMPRESSION_TYPES), C, "Default final compression codec of topics."),
    b("compression.gzip.level", T::Int, Some("-1"), V::BetweenOr(1, 9, -1), C, "Default gzip level when the broker recompresses."),
    b("compression.lz4.level", T::Int, Some("9"), V::Between(1, 17), C, "Default lz4 level when the broker recompresses."),
    b("compression.zstd.level", T::Int, Some("3"), V::Between(ZSTD_LEVEL_MIN, ZSTD_LEVEL_MAX), C, "Default zstd level when the broker recompresses."),
    b("fetch.max.bytes", T::Int, Some("57671680"), V::AtLeast(1024), R, "Most bytes returned by one Fetch response."),
    b("max.incremental.fetch.session.cache.slots", T::Int, Some("1000"), V::AtLeast(0), R, "Most incremental fetch sessions kept."),
    b("max.request.partition.size.limit", T::Int, Some("2000"), V::AtLeast(1), R, "Most partitions one request may name."),
    b("auto.leader.rebalance.enable", T::Boolean, Some("true"), V::Any, R, "Move leadership back to preferred replicas periodically."),
    b("leader.imbalance.per.broker.percentage", T::Int, Some("10"), V::AtLeast(0), R, "Leader imbalance tolerated per broker before rebalancing, in percent.").not_in_kafka(),
    b("leader.imbalance.check.interval.seconds", T::Long, Some("300"), V::AtLeast(1), R, "Interval of the preferred-leader check."),
    b("controlled.shutdown.enable", T::Boolean, Some("true"), V::Any, R, "Move leadership away before shutting down."),
    b("early.start.listeners", T::String, None, V::Any, R, "Listeners started before authorizer initialization completes."),
    b("authorizer.class.name", T::String, Some(""), V::Custom(authorizer_class), R, "ACL authorizer; empty = none, or StandardAuthorizer."),
    b("super.users", T::String, Some(""), V::Any, R, "Principals allowed everything, separated by ';' (User:admin;User:ops).").not_in_kafka(),
    b("allow.everyone.if.no.acl.found", T::Boolean, Some("false"), V::Any, R, "Allow access to resources that have no ACL.").not_in_kafka(),
    b("create.topic.policy.class.name", T::Class, None, V::Custom(no_plugin_class), R, "Not supported: create-topic policy plugin."),
    b("alter.config.policy.class.name", T::Class, None, V::Custom(no_plugin_class), R, "Not supported: alter-config policy plugin."),
    b("admin.listener", T::String, Some("http://0.0.0.0:9644"), V::Custom(admin_listener), R, "Ironlog: the admin HTTP listener (/metrics, /health/live, /health/ready, /loggers) as http://HOST:PORT; empty = none.").not_in_kafka(),
    b("logger.format", T::String, Some("text"), V::OneOfIgnoreCase(&["text", "json"]), R, "Ironlog: log lines on stderr as text or as one JSON object per line.").not_in_kafka(),
    b("logger.audit.file", T::String, Some(""), V::Any, R, "Ironlog: a file the authorization audit log (target ironlog::audit) goes to as JSON lines, instead of stderr; empty = stderr.").not_in_kafka(),
    b("bootstrap.release.version", T::String, Some(""), V::Custom(release_version), R, "Ironlog: the release (3.9, 3.9-IV0) a node that formats itself on its first start bootstraps a new cluster's metadata log at: its metadata.version and default feature levels, as ironlog format --release-version; empty = the latest. Read only by the node whose metadata log is new (Kafka 3.x's KRaft took inter.broker.protocol.version for this).").not_in_kafka(),
    b("metric.reporters", T::List, Some(""), V::Custom(no_plugin_class_list), C, "Not supported: metric reporter plugins (metrics are on the admin HTTP listener)."),
    b("metrics.num.samples", T::Int, Some("2"), V::AtLeast(1), R, "Samples kept per rate metric."),
    b("metrics.sample.window.ms", T::Long, Some("30000"), V::AtLeast(1), R, "Length of one metric sample window."),
    b("metrics.recording.level", T::String, Some("INFO"), V::OneOf(&["INFO", "DEBUG", "TRACE"]), R, "Most detailed metrics level recorded."),
    b("quota.window.num", T::Int, Some("11"), V::AtLeast(1), R, "Samples kept for client quota rates."),
    b("quota.window.size.seconds", T::Int, Some("1"), V::AtLeast(1), R, "Length of one client quota sample."),
    // --- security: listener protocols, TLS, SASL (each may carry a listener prefix, see listener_prefixed_def) ---
    b("sasl.enabled.mechanisms", T::List, Some("GSSAPI"), V::Any, P, "SASL mechanisms enabled on SASL listeners (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER are implemented)."),
    b("sasl.jaas.config", T::Password, None, V::Any, L, "JAAS login module configuration, given as listener.name.<listener>.<mechanism>.sasl.jaas.config."),
    b("sasl.server.callback.handler.class", T::Class, None, V::Any, R, "SASL server callback handler, given as listener.name.<listener>.<mechanism>.sasl.server.callback.handler.class; for OAUTHBEARER only org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler (JWT validation) is implemented."),
    b("sasl.oauthbearer.jwks.endpoint.url", T::String, None, V::Any, R, "Where OAUTHBEARER's JSON Web Key Set comes from: a file:// URL, or an https:// (or http://) endpoint fetched at start and in the background; TLS to it from the OAUTHBEARER JAAS options ssl.truststore.location / ssl.truststore.certificates (PEM), else the system's CAs."),
    b("sasl.oauthbearer.jwks.endpoint.refresh.ms", T::Long, Some("3600000"), V::AtLeast(1), R, "How often the JSON Web Key Set is read or fetched again."),
    b("sasl.oauthbearer.jwks.endpoint.retry.backoff.ms", T::Long, Some("100"), V::AtLeast(0), R, "The wait before a failed JSON Web Key Set fetch is tried again; doubled after each failure."),
    b("sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms", T::Long, Some("10000"), V::AtLeast(0), R, "How long a JSON Web Key Set refresh keeps retrying before it gives up until the next one (the keys fetched before stay in use)."),
    b("sasl.oauthbearer.expected.issuer", T::String, None, V::Any, R, "The iss claim an OAUTHBEARER token must carry; unset = not checked."),
    b("sasl.oauthbearer.expected.audience", T::List, None, V::Any, R, "Audiences of which an OAUTHBEARER token's aud claim must name one; unset = not checked."),
    b("sasl.oauthbearer.sub.claim.name", T::String, Some("sub"), V::Any, R, "The JWT claim that names the principal."),
    b("sasl.oauthbearer.scope.claim.name", T::String, Some("scope"), V::Any, R, "The JWT claim that holds the token's scopes."),
    b("sasl.oauthbearer.clock.skew.seconds", T::Int, Some("30"), V::AtLeast(0), R, "Clock difference tolerated when checking a token's exp, nbf and iat."),
    b("sasl.server.max.receive.size", T::Int, Some("524288"), V::AtLeast(1), R, "Largest request accepted before a SASL client is authenticated."),
    b("connections.max.reauth.ms", T::Long, Some("0"), V::AtLeast(0), R, "Longest a SASL session lasts before the client must re-authenticate (KIP-368); 0 = no limit besides the credential's own expiry."),
    b("authentication.timeout.ms", T::Int, Some("30000"), V::AtLeast(1), R, "Ironlog: longest time a connection may take for its TLS handshake and SASL exchange before it is closed.").not_in_kafka(),
    b("ssl.principal.mapping.rules", T::String, Some("DEFAULT"), V::Any, R, "Rules mapping a client certificate's distinguished name to a principal name."),
    b("ssl.enabled.protocols", T::List, Some("TLSv1.2,TLSv1.3"), V::ListOf(&["TLSv1.2", "TLSv1.3"]), L, "TLS versions SSL listeners accept."),
    b("ssl.protocol", T::String, Some("TLSv1.3"), V::OneOf(&["TLSv1.2", "TLSv1.3", "TLS"]), L, "Accepted for compatibility; ssl.enabled.protocols decides."),
    b("sasl.mechanism.inter.broker.protocol", T::String, Some("GSSAPI"), V::Any, P, "SASL mechanism brokers use with each other."),
    b("sasl.mechanism.controller.protocol", T::String, Some("GSSAPI"), V::Any, R, "SASL mechanism used to reach controllers."),
    b("ssl.keystore.type", T::String, Some("JKS"), V::OneOf(&["PEM", "JKS", "PKCS12"]), L, "Keystore file format; only PEM is read."),
    b("ssl.keystore.location", T::String, None, V::Any, L, "Keystore path."),
    b("ssl.keystore.password", T::Password, None, V::Any, L, "Keystore password."),
    b("ssl.key.password", T::Password, None, V::Any, L, "Private key password."),
    b("ssl.truststore.type", T::String, Some("JKS"), V::OneOf(&["PEM", "JKS", "PKCS12"]), L, "Truststore file format; only PEM is read."),
    b("ssl.truststore.location", T::String, None, V::Any, L, "Truststore path."),
    b("ssl.truststore.password", T::Password, None, V::Any, L, "Truststore password."),
    b("ssl.client.auth", T::String, Some("none"), V::OneOf(&["required", "requested", "none"]), P, "Whether SSL listeners ask for client certificates."),
    b("ssl.endpoint.identification.algorithm", T::String, Some("https"), V::Any, P, "Hostname verification algorithm; empty disables it."),
    b("ssl.file.reload.interval.ms", T::Long, Some("5000"), V::AtLeast(0), R, "Ironlog: how often the keystore and truststore files are checked for a change (when a connection is accepted or dialled) and reloaded; 0 = never.").not_in_kafka(),
    // --- replication ---
    b("replica.lag.time.max.ms", T::Long, Some("30000"), V::Any, R, "A follower that has not caught up for this long leaves the ISR."),
    b("replica.fetch.max.bytes", T::Int, Some("1048576"), V::AtLeast(0), R, "Bytes a follower asks for per partition."),
    b("replica.fetch.wait.max.ms", T::Int, Some("500"), V::Any, R, "Longest a follower fetch waits on the leader."),
    b("replica.fetch.min.bytes", T::Int, Some("1"), V::Any, R, "Bytes a follower fetch waits for before returning."),
    b("replica.fetch.backoff.ms", T::Int, Some("1000"), V::AtLeast(0), R, "Pause after a failed follower fetch."),
    b("replica.fetch.response.max.bytes", T::Int, Some("10485760"), V::AtLeast(0), R, "Most bytes of one follower fetch response."),
    b("replica.socket.timeout.ms", T::Int, Some("30000"), V::Any, R, "Socket timeout of follower fetches."),
    b("replica.socket.receive.buffer.bytes", T::Int, Some("65536"), V::Any, R, "SO_RCVBUF of follower fetch sockets."),
    b("num.replica.fetchers", T::Int, Some("1"), V::AtLeast(1), C, "Fetcher tasks per source broker."),
    b("replica.high.watermark.checkpoint.interval.ms", T::Long, Some("5000"), V::AtLeast(1), R, "Interval of the high-watermark checkpoint."),
    b("replica.selector.class", T::String, None, V::Custom(replica_selector_class), R, "How the leader picks the replica a consumer fetches from: unset = the leader; org.apache.kafka.common.replica.RackAwareReplicaSelector = an in-sync replica in the consumer's client.rack (KIP-392)."),
    b("fetch.purgatory.purge.interval.requests", T::Int, Some("1000"), V::Any, R, "Accepted for compatibility."),
    b("producer.purgatory.purge.interval.requests", T::Int, Some("1000"), V::Any, R, "Accepted for compatibility."),
    b("num.replica.alter.log.dirs.threads", T::Int, None, V::Any, R, "Accepted for compatibility."),
    // --- log ---
    b("log.dir", T::String, Some("/tmp/kafka-logs"), V::Any, R, "Data directory, used when log.dirs is unset."),
    b("log.dirs", T::String, None, V::Any, R, "Comma-separated data directories; overrides log.dir."),
    b("log.segment.bytes", T::Int, Some("1073741824"), V::AtLeast(SEGMENT_BYTES_MIN), C, "Default segment.bytes of topics."),
    b("log.roll.ms", T::Long, None, V::AtLeast(1), C, "Default segment.ms of topics; overrides log.roll.hours."),
    b("log.roll.hours", T::Int, Some("168"), V::AtLeast(1), R, "Default segment.ms of topics, in hours."),
    b("log.roll.jitter.ms", T::Long, None, V::AtLeast(0), C, "Default segment.jitter.ms of topics; overrides log.roll.jitter.hours."),
    b("log.roll.jitter.hours", T::Int, Some("0"), V::AtLeast(0), R, "Default segment.jitter.ms of topics, in hours."),
    b("log.retention.ms", T::Long, None, V::AtLeast(-1), C, "Default retention.ms of topics; overrides the minutes and hours forms."),
    b("log.retention.minutes", T::Int, None, V::Any, R, "Default retention.ms of topics, in minutes; overrides the hours form."),
    b("log.retention.hours", T::Int, Some("168"), V::Any, R, "Default retention.ms of topics, in hours."),
    b("log.retention.bytes", T::Long, Some("-1"), V::Any, C, "Default retention.bytes of topics."),
    b("log.retention.check.interval.ms", T::Long, Some("300000"), V::AtLeast(1), R, "Interval at which retention is enforced."),
    b("log.cleanup.policy", T::List, Some("delete"), V::ListOf(CLEANUP_POLICIES), C, "Default cleanup.policy of topics."),
    b("log.index.size.max.bytes", T::Int, Some("10485760"), V::AtLeast(4), C, "Default segment.index.bytes of topics."),
    b("log.index.interval.bytes", T::Int, Some("4096"), V::AtLeast(0), C, "Default index.interval.bytes of topics."),
    b("log.flush.interval.messages", T::Long, Some(I64_MAX), V::AtLeast(1), C, "Default flush.messages of topics."),
    b("log.flush.interval.ms", T::Long, None, V::Any, C, "Default flush.ms of topics; overrides log.flush.scheduler.interval.ms."),
    b("log.flush.scheduler.interval.ms", T::Long, Some(I64_MAX), V::Any, R, "Interval of the flush check, and default flush.ms."),
    b("log.flush.offset.checkpoint.interval.ms", T::Int, Some("60000"), V::AtLeast(0), R, "Interval of the recovery-point checkpoint."),
    b("log.flush.start.offset.checkpoint.interval.ms", T::Int, Some("60000"), V::AtLeast(0), R, "Interval of the log-start-offset checkpoint."),
    b("log.segment.delete.delay.ms", T::Long, Some("60000"), V::AtLeast(0), C, "Default file.delete.delay.ms of topics."),
    b("log.preallocate", T::Boolean, Some("false"), V::Any, C, "Default preallocate of topics."),
    b("log.message.timestamp.type", T::String, Some("CreateTime"), V::OneOf(TIMESTAMP_TYPES), C, "Default message.timestamp.type of topics."),
    b("log.message.timestamp.before.max.ms", T::Long, Some(I64_MAX), V::AtLeast(0), C, "Default message.timestamp.before.max.ms of topics."),
    b("log.message.timestamp.after.max.ms", T::Long, Some("3600000"), V::AtLeast(0), C, "Default message.timestamp.after.max.ms of topics."),
    b("log.local.retention.ms", T::Long, Some("-2"), V::AtLeast(-2), C, "Default local.retention.ms of topics."),
    b("log.local.retention.bytes", T::Long, Some("-2"), V::AtLeast(-2), C, "Default local.retention.bytes of topics."),
    b("log.dir.failure.timeout.ms", T::Long, Some("30000"), V::AtLeast(1), R, "Time before a broker with a failed log dir shuts down."),
    b("num.recovery.threads.per.data.dir", T::Int, Some("2"), V::AtLeast(1), C, "Threads per data dir for recovery at start-up and flush at shutdown."),
    b("log.open.files.max", T::Int, Some("0"), V::AtLeast(0), R, "Ironlog: most segment and index files kept open at once (the least recently used are closed); 0 = the open-files limit minus a reserve for sockets.").not_in_kafka(),
    b("remote.log.storage.system.enable", T::Boolean, Some("false"), V::Custom(only_false), R, "Tiered storage; only false is supported."),
    // --- log cleaner ---
    b("log.cleaner.enable", T::Boolean, Some("true"), V::Any, R, "Run the log cleaner (needed for compacted topics)."),
    b("log.cleaner.threads", T::Int, Some("1"), V::AtLeast(0), C, "Log cleaner threads."),
    b("log.cleaner.dedupe.buffer.size", T::Long, Some("134217728"), V::Any, C, "Memory for the cleaner's key map, across all threads."),
    b("log.cleaner.io.buffer.size", T::Int, Some("524288"), V::AtLeast(0), C, "I/O buffer memory of the cleaner, across all threads."),
    b("log.cleaner.io.buffer.load.factor", T::Double, Some("0.9"), V::Any, C, "Fill ratio of the cleaner's key map."),
    b("log.cleaner.io.max.bytes.per.second", T::Double, Some("1.7976931348623157E308"), V::Any, C, "Cleaner I/O throttle."),
    b("log.cleaner.backoff.ms", T::Long, Some("15000"), V::AtLeast(0), C, "Pause of the cleaner when nothing is cleanable."),
    b("log.cleaner.min.cleanable.ratio", T::Double, Some("0.5"), V::DoubleBetween(0.0, 1.0), C, "Default min.cleanable.dirty.ratio of topics."),
    b("log.cleaner.delete.retention.ms", T::Long, Some("86400000"), V::AtLeast(0), C, "Default delete.retention.ms of topics."),
    b("log.cleaner.min.compaction.lag.ms", T::Long, Some("0"), V::AtLeast(0), C, "Default min.compaction.lag.ms of topics."),
    b("log.cleaner.max.compaction.lag.ms", T::Long, Some(I64_MAX), V::AtLeast(1), C, "Default max.compaction.lag.ms of topics."),
    // --- group coordinator ---
    b("group.initial.rebalance.delay.ms", T::Int, Some("3000"), V::Any, R, "Wait for more members before the first rebalance of a classic group."),
    b("group.min.session.timeout.ms", T::Int, Some("6000"), V::Any, R, "Smallest session timeout a classic group member may ask for."),
    b("group.max.session.timeout.ms", T::Int, Some("1800000"), V::Any, R, "Largest session timeout a classic group member may ask for."),
    b("group.max.size", T::Int, Some(I32_MAX), V::AtLeast(1), R, "Most members of a classic group."),
    b("group.coordinator.rebalance.protocols", T::List, Some("classic,consumer"), V::ListOf(&["classic", "consumer", "share", "streams"]), R, "Group protocols enabled."),
    b("group.coordinator.threads", T::Int, Some("4"), V::AtLeast(1), R, "Accepted for compatibility."),
    b("group.coordinator.append.linger.ms", T::Int, Some("5"), V::AtLeast(0), R, "Accepted for compatibility; coordinator writes are not batched."),
    b("group.consumer.session.timeout.ms", T::Int, Some("45000"), V::AtLeast(1), R, "Session timeout of consumer-protocol group members."),
    b("group.consumer.min.session.timeout.ms", T::Int, Some("45000"), V::AtLeast(1), R, "Smallest consumer-protocol session timeout."),
    b("group.consumer.max.session.timeout.ms", T::Int, Some("60000"), V::AtLeast(1), R, "Largest consumer-protocol session timeout."),
    b("group.consumer.heartbeat.interval.ms", T::Int, Some("5000"), V::AtLeast(1), R, "Heartbeat interval of consumer-protocol group members."),
    b("group.consumer.min.heartbeat.interval.ms", T::Int, Some("5000"), V::AtLeast(1), R, "Smallest consumer-protocol heartbeat interval."),
    b("group.consumer.max.heartbeat.interval.ms", T::Int, Some("15000"), V::AtLeast(1), R, "Largest consumer-protocol heartbeat interval."),
    b("group.consumer.max.size", T::Int, Some(I32_MAX), V::AtLeast(1), R, "Most members of a consumer-protocol group."),
    b("group.consumer.assignors", T::List, Some("uniform,range"), V::Custom(non_empty_list), R, "Server-side assignors, first is the default (uniform, range)."),
    b("group.consumer.migration.policy", T::String, Some("bidirectional"), V::OneOfIgnoreCase(&["disabled", "downgrade", "upgrade", "bidirectional"]), R, "Whether groups may convert between the classic and consumer protocols."),
    b("offset.metadata.max.bytes", T::Int, Some("4096"), V::Any, R, "Largest metadata string of a committed offset."),
    b("offsets.topic.num.partitions", T::Int, Some("50"), V::AtLeast(1), R, "Partitions of __consumer_offsets (fixed once created)."),
    b("offsets.topic.replication.factor", T::Short, Some("3"), V::AtLeast(1), R, "Replication factor of __consumer_offsets."),
    // At least the topic config's minimum (segment.bytes ≥ 1 MiB since Kafka 4.0): a smaller
    // value would only fail later, when the coordinator creates its internal topic.
    b("offsets.topic.segment.bytes", T::Int, Some("104857600"), V::AtLeast(1_048_576), R, "Segment size of __consumer_offsets."),
    b("offsets.topic.compression.codec", T::Int, Some("0"), V::Between(0, 4), R, "Codec id for offset commit batches."),
    b("offsets.load.buffer.size", T::Int, Some("5242880"), V::AtLeast(1), R, "Read size when loading __consumer_offsets."),
    b("offsets.retention.minutes", T::Int, Some("10080"), V::AtLeast(1), R, "How long offsets of an empty group are kept."),
    b("offsets.retention.check.interval.ms", T::Long, Some("600000"), V::AtLeast(1), R, "Interval of the expired-offsets check."),
    b("offsets.commit.timeout.ms", T::Int, Some("5000"), V::AtLeast(1), R, "Longest an offset commit waits for replication."),
    b("share.coordinator.state.topic.num.partitions", T::Int, Some("50"), V::AtLeast(1), R, "Accepted for compatibility; share groups are not implemented."),
    b("share.coordinator.state.topic.replication.factor", T::Short, Some("3"), V::AtLeast(1), R, "Accepted for compatibility; share groups are not implemented."),
    b("share.coordinator.state.topic.min.isr", T::Short, Some("2"), V::AtLeast(1), R, "Accepted for compatibility; share groups are not implemented."),
    b("share.coordinator.state.topic.segment.bytes", T::Int, Some("104857600"), V::AtLeast(1), R, "Accepted for compatibility; share groups are not implemented."),
    // --- transactions and idempotence ---
    b("transaction.state.log.num.partitions", T::Int, Some("50"), V::AtLeast(1), R, "Partitions of __transaction_state (fixed once created)."),
    b("transaction.state.log.replication.factor", T::Short, Some("3"), V::AtLeast(1), R, "Replication factor of __transaction_state."),
    b("transaction.state.log.min.isr", T::Int, Some("2"), V::AtLeast(1), R, "min.insync.replicas of __transaction_state."),
    b("transaction.state.log.segment.bytes", T::Int, Some("104857600"), V::AtLeast(1_048_576), R, "Segment size of __transaction_state (≥ segment.bytes' minimum)."),
    b("transaction.state.log.load.buffer.size", T::Int, Some("5242880"), V::AtLeast(1), R, "Read size when loading __transaction_state."),
    b("transaction.max.timeout.ms", T::Int, Some("900000"), V::AtLeast(1), R, "Largest transaction timeout a producer may ask for."),
    b("transactional.id.expiration.ms", T::Int, Some("604800000"), V::AtLeast(1), R, "Idle time after which a transactional id is forgotten."),
    b("transaction.abort.timed.out.transaction.cleanup.interval.ms", T::Int, Some("10000"), V::AtLeast(1), R, "Interval of the timed-out transaction check."),
    b("transaction.remove.expired.transaction.cleanup.interval.ms", T::Int, Some("3600000"), V::AtLeast(1), R, "Interval of the expired transactional id cleanup."),
    b("transaction.partition.verification.enable", T::Boolean, Some("true"), V::Any, C, "Verify a partition is in the transaction before a transactional write."),
    b("producer.id.expiration.ms", T::Int, Some("86400000"), V::AtLeast(1), C, "Idle time after which a producer id's state is dropped."),
    b("producer.id.expiration.check.interval.ms", T::Int, Some("600000"), V::AtLeast(1), R, "Interval of the producer id expiration check.").kafka_internal(),
];

fn no_plugin_class_list(value: &ConfigValue) -> Result<(), String> {
    match value {
        ConfigValue::List(items) if !items.is_empty() => {
            Err("plugin classes are not supported by Ironlog".to_string())
        }
        _ => Ok(()),
    }
}

/// Every Kafka 4 topic config (`TopicConfig` / `LogConfig`), with its broker synonyms.
#[rustfmt::skip]
pub static TOPIC_CONFIGS: &[TopicConfigDef] = &[
    t("cleanup.policy", T::List, Some("delete"), V::ListOf(CLEANUP_POLICIES), &[("log.cleanup.policy", U::Same)], "delete: drop old segments by time/size; compact: keep the latest record per key; or both."),
    t("compression.gzip.level", T::Int, Some("-1"), V::BetweenOr(1, 9, -1), &[("compression.gzip.level", U::Same)], "gzip level used when compression.type is gzip."),
    t("compression.lz4.level", T::Int, Some("9"), V::Between(1, 17), &[("compression.lz4.level", U::Same)], "lz4 level used when compression.type is lz4."),
    t("compression.type", T::String, Some("producer"), V::OneOf(COMPRESSION_TYPES), &[("compression.type", U::Same)], "Final codec of stored batches; producer keeps the producer's codec."),
    t("compression.zstd.level", T::Int, Some("3"), V::Between(ZSTD_LEVEL_MIN, ZSTD_LEVEL_MAX), &[("compression.zstd.level", U::Same)], "zstd level used when compression.type is zstd."),
    t("delete.retention.ms", T::Long, Some("86400000"), V::AtLeast(0), &[("log.cleaner.delete.retention.ms", U::Same)], "How long tombstones stay readable in compacted topics."),
    t("file.delete.delay.ms", T::Long, Some("60000"), V::AtLeast(0), &[("log.segment.delete.delay.ms", U::Same)], "How long a deleted segment file lingers before removal."),
    t("flush.messages", T::Long, Some(I64_MAX), V::AtLeast(1), &[("log.flush.interval.messages", U::Same)], "fsync after this many messages."),
    t("flush.ms", T::Long, Some(I64_MAX), V::AtLeast(0), &[("log.flush.interval.ms", U::Same), ("log.flush.scheduler.interval.ms", U::Same)], "fsync when the last flush is older than this."),
    t("follower.replication.throttled.replicas", T::List, Some(""), V::Custom(throttled_replicas), &[], "Replicas throttled on the follower side: partition:broker pairs or *."),
    t("index.interval.bytes", T::Int, Some("4096"), V::AtLeast(0), &[("log.index.interval.bytes", U::Same)], "Bytes between two offset index entries."),
    t("leader.replication.throttled.replicas", T::List, Some(""), V::Custom(throttled_replicas), &[], "Replicas throttled on the leader side: partition:broker pairs or *."),
    t("local.retention.bytes", T::Long, Some("-2"), V::AtLeast(-2), &[("log.local.retention.bytes", U::Same)], "Tiered storage local size limit; -2 follows retention.bytes."),
    t("local.retention.ms", T::Long, Some("-2"), V::AtLeast(-2), &[("log.local.retention.ms", U::Same)], "Tiered storage local time limit; -2 follows retention.ms."),
    t("max.compaction.lag.ms", T::Long, Some(I64_MAX), V::AtLeast(1), &[("log.cleaner.max.compaction.lag.ms", U::Same)], "Longest a record stays uncompacted."),
    t("max.message.bytes", T::Int, Some("1048588"), V::AtLeast(0), &[("message.max.bytes", U::Same)], "Largest record batch accepted, after compression."),
    t("message.timestamp.after.max.ms", T::Long, Some("3600000"), V::AtLeast(0), &[("log.message.timestamp.after.max.ms", U::Same)], "Largest allowed amount a CreateTime may be ahead of the broker clock."),
    t("message.timestamp.before.max.ms", T::Long, Some(I64_MAX), V::AtLeast(0), &[("log.message.timestamp.before.max.ms", U::Same)], "Largest allowed amount a CreateTime may be behind the broker clock."),
    t("message.timestamp.type", T::String, Some("CreateTime"), V::OneOf(TIMESTAMP_TYPES), &[("log.message.timestamp.type", U::Same)], "Whose timestamp is stored: CreateTime (producer) or LogAppendTime (broker)."),
    t("min.cleanable.dirty.ratio", T::Double, Some("0.5"), V::DoubleBetween(0.0, 1.0), &[("log.cleaner.min.cleanable.ratio", U::Same)], "Dirty share of a log at which compaction starts."),
    t("min.compaction.lag.ms", T::Long, Some("0"), V::AtLeast(0), &[("log.cleaner.min.compaction.lag.ms", U::Same)], "Shortest time a record stays uncompacted."),
    t("min.insync.replicas", T::Int, Some("1"), V::AtLeast(1), &[("min.insync.replicas", U::Same)], "Replicas that must be in sync for an acks=all write to succeed."),
    t("preallocate", T::Boolean, Some("false"), V::Any, &[("log.preallocate", U::Same)], "Preallocate the file of a new segment."),
    t("remote.log.copy.disable", T::Boolean, Some("false"), V::Any, &[], "Tiered storage: stop copying segments to remote storage."),
    t("remote.log.delete.on.disable", T::Boolean, Some("false"), V::Any, &[], "Tiered storage: delete remote data when it is disabled."),
    t("remote.storage.enable", T::Boolean, Some("false"), V::Custom(only_false), &[], "Tiered storage for this topic; only false is supported."),
    t("retention.bytes", T::Long, Some("-1"), V::Any, &[("log.retention.bytes", U::Same)], "Per-partition size above which old segments are deleted; -1 = no limit."),
    t("retention.ms", T::Long, Some("604800000"), V::AtLeast(-1), &[("log.retention.ms", U::Same), ("log.retention.minutes", U::MinutesToMs), ("log.retention.hours", U::HoursToMs)], "Age after which old segments are deleted; -1 = forever."),
    t("segment.bytes", T::Int, Some("1073741824"), V::AtLeast(SEGMENT_BYTES_MIN), &[("log.segment.bytes", U::Same)], "Size at which a segment rolls."),
    t("segment.index.bytes", T::Int, Some("10485760"), V::AtLeast(4), &[("log.index.size.max.bytes", U::Same)], "Largest size of an offset or time index file."),
    t("segment.jitter.ms", T::Long, Some("0"), V::AtLeast(0), &[("log.roll.jitter.ms", U::Same), ("log.roll.jitter.hours", U::HoursToMs)], "Random jitter subtracted from segment.ms."),
    t("segment.ms", T::Long, Some("604800000"), V::AtLeast(1), &[("log.roll.ms", U::Same), ("log.roll.hours", U::HoursToMs)], "Age at which a segment rolls even if not full."),
    t("unclean.leader.election.enable", T::Boolean, Some("false"), V::Any, &[("unclean.leader.election.enable", U::Same)], "Allow an out-of-sync replica to become leader (data loss)."),
];

/// The broker config named `name`.
pub fn broker_config_def(name: &str) -> Option<&'static ConfigDef> {
    BROKER_CONFIGS.iter().find(|d| d.name == name)
}

/// The definition behind a listener-prefixed key, as Kafka reads them:
/// `listener.name.<listener>.<key>` for the TLS and SASL keys, and
/// `listener.name.<listener>.<mechanism>.sasl.jaas.config` and
/// `...<mechanism>.sasl.server.callback.handler.class` (the mechanism in lower case) for a
/// listener's per-mechanism SASL keys. Returns the listener (upper-cased), the mechanism
/// (upper-cased, for JAAS keys) and the definition.
pub fn listener_prefixed_def(name: &str) -> Option<(String, Option<String>, &'static ConfigDef)> {
    let rest = name.strip_prefix("listener.name.")?;
    let (listener, key) = rest.split_once('.')?;
    if listener.is_empty() {
        return None;
    }
    let per_listener = |key: &str| {
        broker_config_def(key).filter(|d| {
            d.update_mode == UpdateMode::PerListener
                || d.name.starts_with("ssl.")
                || d.name == "sasl.enabled.mechanisms"
                || d.name == "connections.max.reauth.ms"
                || d.name == "max.connection.creation.rate"
        })
    };
    if let Some(def) = per_listener(key)
        .filter(|d| d.name != "sasl.jaas.config" && d.name != "sasl.server.callback.handler.class")
    {
        return Some((listener.to_ascii_uppercase(), None, def));
    }
    let (mechanism, key) = key.split_once('.')?;
    let def = broker_config_def(key).filter(|d| {
        d.name == "sasl.jaas.config"
            || d.name == "sasl.server.callback.handler.class"
            || d.name == "connections.max.reauth.ms"
    })?;
    Some((
        listener.to_ascii_uppercase(),
        Some(mechanism.to_ascii_uppercase()),
        def,
    ))
}

/// The topic config named `name`.
pub fn topic_config_def(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.def.name == name)
}

/// Broker keys that are synonyms of one another, highest priority first (Kafka's
/// `DynamicBrokerConfig.brokerConfigSynonyms`).
pub fn broker_synonyms(name: &str) -> &'static [&'static str] {
    const ROLL: &[&str] = &["log.roll.ms", "log.roll.hours"];
    const JITTER: &[&str] = &["log.roll.jitter.ms", "log.roll.jitter.hours"];
    const RETENTION: &[&str] = &[
        "log.retention.ms",
        "log.retention.minutes",
        "log.retention.hours",
    ];
    const FLUSH: &[&str] = &["log.flush.interval.ms", "log.flush.scheduler.interval.ms"];
    match name {
        "log.roll.ms" | "log.roll.hours" => ROLL,
        "log.roll.jitter.ms" | "log.roll.jitter.hours" => JITTER,
        "log.retention.ms" | "log.retention.minutes" | "log.retention.hours" => RETENTION,
        "log.flush.interval.ms" => FLUSH,
        _ => match BROKER_CONFIGS.iter().find(|d| d.name == name) {
            Some(def) => std::slice::from_ref(&def.name),
            None => &[],
        },
    }
}

/// Kafka's default value of a topic config (`topic = true`) or broker config.
pub fn default_value(topic: bool, name: &str) -> Option<&'static str> {
    if topic {
        topic_config_def(name)?.def.default
    } else {
        broker_config_def(name)?.default
    }
}

/// Whether `name` (a topic or broker config) is a LIST config, the only kind
/// IncrementalAlterConfigs may APPEND to or SUBTRACT from.
pub fn is_list_config(name: &str) -> bool {
    let def = topic_config_def(name)
        .map(|t| &t.def)
        .or_else(|| broker_config_def(name));
    def.is_some_and(|d| d.config_type == ConfigType::List)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(name: &str, raw: &str) -> Result<ConfigValue, String> {
        broker_config_def(name).expect(name).parse(raw)
    }

    #[test]
    fn every_default_parses_and_passes_its_validator() {
        for def in BROKER_CONFIGS
            .iter()
            .chain(TOPIC_CONFIGS.iter().map(|t| &t.def))
        {
            if let Some(d) = def.default {
                // broker.id's default -1 is the "unset" marker, allowed by AtLeast(-1).
                def.parse(d)
                    .unwrap_or_else(|e| panic!("default of {} does not validate: {e}", def.name));
            }
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = BROKER_CONFIGS.iter().map(|d| d.name).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "a broker config is defined twice");
        let mut topic: Vec<_> = TOPIC_CONFIGS.iter().map(|d| d.def.name).collect();
        topic.sort();
        let before = topic.len();
        topic.dedup();
        assert_eq!(before, topic.len(), "a topic config is defined twice");
    }

    #[test]
    fn every_topic_synonym_is_a_broker_config_and_first_synonym_is_dynamic() {
        for topic in TOPIC_CONFIGS {
            for (i, (synonym, _)) in topic.synonyms.iter().enumerate() {
                let def = broker_config_def(synonym).unwrap_or_else(|| {
                    panic!(
                        "synonym {synonym} of {} is not a broker config",
                        topic.def.name
                    )
                });
                if i == 0 {
                    assert_eq!(
                        def.update_mode,
                        UpdateMode::ClusterWide,
                        "{synonym} must be cluster-wide dynamic as in Kafka"
                    );
                }
            }
        }
    }

    #[test]
    fn boolean_parsing_is_case_insensitive_and_strict() {
        assert_eq!(
            parse("delete.topic.enable", " TRUE "),
            Ok(ConfigValue::Boolean(true))
        );
        assert_eq!(
            parse("delete.topic.enable", "False"),
            Ok(ConfigValue::Boolean(false))
        );
        let err = parse("delete.topic.enable", "yes").unwrap_err();
        assert_eq!(err, "Invalid value yes for configuration delete.topic.enable: Expected value to be either true or false");
    }

    #[test]
    fn numbers_reject_garbage_and_overflow() {
        assert_eq!(parse("num.partitions", " 3 "), Ok(ConfigValue::Int(3)));
        assert!(parse("num.partitions", "3x")
            .unwrap_err()
            .contains("Not a number of type INT"));
        assert!(
            parse("num.partitions", "2147483648").is_err(),
            "INT overflow must be rejected"
        );
        assert!(parse("offsets.topic.replication.factor", "40000")
            .unwrap_err()
            .contains("SHORT"));
        assert_eq!(
            parse("log.retention.bytes", "-1"),
            Ok(ConfigValue::Long(-1))
        );
        assert!(parse("log.cleaner.io.buffer.load.factor", "abc")
            .unwrap_err()
            .contains("DOUBLE"));
    }

    #[test]
    fn at_least_validator() {
        assert_eq!(
            parse("num.partitions", "0").unwrap_err(),
            "Invalid value 0 for configuration num.partitions: Value must be at least 1"
        );
        assert!(
            parse("log.segment.bytes", "1048575").is_err(),
            "Kafka 4 rejects segments under 1 MiB"
        );
        assert!(parse("log.segment.bytes", "1048576").is_ok());
    }

    #[test]
    fn between_and_between_or_validators() {
        assert!(parse("compression.lz4.level", "0")
            .unwrap_err()
            .contains("at least 1"));
        assert!(parse("compression.lz4.level", "18")
            .unwrap_err()
            .contains("no more than 17"));
        assert!(parse("compression.gzip.level", "-1").is_ok());
        assert!(parse("compression.gzip.level", "9").is_ok());
        assert!(parse("compression.gzip.level", "0")
            .unwrap_err()
            .contains("[1,...,9] or -1"));
        assert!(parse("compression.zstd.level", "-131072").is_ok());
        assert!(parse("compression.zstd.level", "23").is_err());
    }

    #[test]
    fn double_between_validator() {
        assert_eq!(
            parse("log.cleaner.min.cleanable.ratio", "0.25"),
            Ok(ConfigValue::Double(0.25))
        );
        assert!(parse("log.cleaner.min.cleanable.ratio", "1.5")
            .unwrap_err()
            .contains("no more than 1.0"));
        assert!(parse("log.cleaner.min.cleanable.ratio", "-0.1")
            .unwrap_err()
            .contains("at least 0.0"));
        assert!(parse("log.cleaner.min.cleanable.ratio", "NaN").is_err());
        // Internal topics' segment sizes are topic segment.bytes values: ≥ 1 MiB.
        assert!(parse("offsets.topic.segment.bytes", "4096").is_err());
        assert!(parse("transaction.state.log.segment.bytes", "1048575").is_err());
        assert!(parse("offsets.topic.segment.bytes", "1048576").is_ok());
    }

    #[test]
    fn one_of_validators() {
        assert!(parse("compression.type", "zstd").is_ok());
        assert!(parse("compression.type", "none")
            .unwrap_err()
            .contains("String must be one of"));
        assert!(
            parse("log.message.timestamp.type", "createtime").is_err(),
            "timestamp type is case-sensitive in Kafka"
        );
        assert!(parse("group.consumer.migration.policy", "UPGRADE").is_ok());
        assert!(parse("group.consumer.migration.policy", "sideways").is_err());
    }

    #[test]
    fn list_validators() {
        assert_eq!(
            parse("log.cleanup.policy", "compact, delete"),
            Ok(ConfigValue::List(vec!["compact".into(), "delete".into()]))
        );
        assert!(parse("log.cleanup.policy", "compact,archive").is_err());
        assert!(parse("group.consumer.assignors", "").is_err());
    }

    #[test]
    fn custom_validators() {
        assert!(parse("process.roles", "broker,controller").is_ok());
        assert!(parse("process.roles", "controller").is_ok());
        assert!(parse("process.roles", "broker,broker")
            .unwrap_err()
            .contains("Duplicate"));
        assert!(parse("process.roles", "observer")
            .unwrap_err()
            .contains("Unknown process role"));
        assert!(parse("controller.quorum.voters", "1@localhost:9093,2@[::1]:9093").is_ok());
        assert!(parse("controller.quorum.voters", "1localhost:9093").is_err());
        assert!(parse("controller.quorum.bootstrap.servers", "localhost:9093").is_ok());
        assert!(parse("controller.quorum.bootstrap.servers", "localhost").is_err());
        assert!(parse("authorizer.class.name", STANDARD_AUTHORIZER).is_ok());
        assert!(parse("authorizer.class.name", "com.example.MyAuthorizer").is_err());
        assert!(parse(
            "authorizer.class.name",
            "kafka.security.authorizer.AclAuthorizer"
        )
        .is_err_and(|e| e.contains(STANDARD_AUTHORIZER)));
        assert!(parse("create.topic.policy.class.name", "com.example.Policy").is_err());
        assert!(parse("metric.reporters", "").is_ok());
        assert!(parse("remote.log.storage.system.enable", "true").is_err());
        assert!(parse("cluster.id", "MkU3OEVBNTcwNTJENDM2Qk").is_ok());
        assert!(parse("cluster.id", "has space").is_err());
        let throttled = topic_config_def("leader.replication.throttled.replicas").unwrap();
        assert!(throttled.def.parse("*").is_ok());
        assert!(throttled.def.parse("0:1, 1:2").is_ok());
        assert!(throttled.def.parse("0-1").is_err());
        let remote = topic_config_def("remote.storage.enable").unwrap();
        assert!(remote.def.parse("false").is_ok());
        assert!(remote.def.parse("true").is_err());
    }

    #[test]
    fn values_print_in_kafka_form() {
        assert_eq!(ConfigValue::Double(0.5).to_string(), "0.5");
        assert_eq!(ConfigValue::Double(1.0).to_string(), "1.0");
        assert_eq!(
            ConfigValue::Double(f64::MAX).to_string(),
            "1.7976931348623157E308"
        );
        assert_eq!(
            ConfigValue::List(vec!["a".into(), "b".into()]).to_string(),
            "a,b"
        );
    }

    #[test]
    fn synonyms_unit_conversion() {
        assert_eq!(
            SynonymUnit::HoursToMs.convert(ConfigValue::Int(168)),
            ConfigValue::Long(604_800_000)
        );
        assert_eq!(
            SynonymUnit::MinutesToMs.convert(ConfigValue::Int(2)),
            ConfigValue::Long(120_000)
        );
        assert_eq!(
            broker_synonyms("log.retention.hours"),
            &[
                "log.retention.ms",
                "log.retention.minutes",
                "log.retention.hours"
            ]
        );
        assert_eq!(broker_synonyms("num.partitions"), &["num.partitions"]);
        assert!(broker_synonyms("nope").is_empty());
    }
}
