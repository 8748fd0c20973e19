//! `BrokerConfig`: the typed static configuration of one broker, loaded from a Kafka-style
//! `server.properties` plus `--override key=value` arguments.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::defs::{broker_config_def, listener_prefixed_def, ConfigValue};
use crate::endpoints::{
    check_unique_names, parse_host_port, parse_listener_list, parse_protocol_map,
    parse_quorum_voter, Listener, QuorumVoter, SecurityProtocol,
};
use crate::ConfigError;

/// The configuration `ironlog broker` runs with when given no `--config`: a single node
/// that is broker and (one-voter) controller, data in `./ironlog-data`, clients on
/// `localhost:9092`. Internal topics use replication factor 1 so that one node works; those
/// lines ([`SINGLE_NODE_ONLY_KEYS`]) are left out when the overrides name more than one
/// quorum voter, so a cluster started from the command line alone gets Kafka's defaults
/// (replication factor 3, `transaction.state.log.min.isr` 2), as it would from Kafka's
/// configuration without them.
pub const EMBEDDED_SERVER_PROPERTIES: &str = "\
# Ironlog embedded default: a single-node cluster for development.
node.id=1
process.roles=broker,controller
log.dirs=./ironlog-data
listeners=PLAINTEXT://localhost:9092
advertised.listeners=PLAINTEXT://localhost:9092
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
";

/// The lines of [`EMBEDDED_SERVER_PROPERTIES`] that only suit a single node: internal
/// topics at replication factor 1. They do not apply to a node configured with more than
/// one `controller.quorum.voters` entry.
pub const SINGLE_NODE_ONLY_KEYS: &[&str] = &[
    "offsets.topic.replication.factor",
    "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr",
    "share.coordinator.state.topic.replication.factor",
    "share.coordinator.state.topic.min.isr",
];

/// The typed static configuration of a broker. Every field is a Kafka config under its
/// Kafka name (units in the field name); `static_broker_configs` keeps the explicitly set
/// raw values for `DescribeConfigs` and for computing effective topic configs.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConfig {
    /// `node.id` (== `broker.id`).
    pub node_id: i32,
    /// `process.roles` contains `broker`: this node serves clients.
    pub process_role_broker: bool,
    /// `process.roles` contains `controller`: this node is a metadata quorum voter.
    pub process_role_controller: bool,
    /// `log.dirs` (or `log.dir`).
    pub log_dirs: Vec<PathBuf>,
    /// `metadata.log.dir`; `None` = the first log dir.
    pub metadata_log_dir: Option<PathBuf>,
    /// `cluster.id` (Ironlog): cluster id to format new storage with.
    pub cluster_id: Option<String>,
    /// Client-facing listeners to bind (controller listeners excluded).
    pub listeners: Vec<Listener>,
    /// What clients are told, one per entry of `listeners` that is advertised.
    pub advertised_listeners: Vec<Listener>,
    /// Listeners named in `controller.listener.names` (accepted, not served to clients).
    pub controller_listeners: Vec<Listener>,
    /// `inter.broker.listener.name` (or the listener for `security.inter.broker.protocol`).
    pub inter_broker_listener_name: String,
    /// The security protocol of the first of `controller.listener.names` (from
    /// `listener.security.protocol.map`), which this node's clients of the controllers
    /// speak — a broker-only node too, which does not bind that listener.
    pub controller_security_protocol: Option<SecurityProtocol>,
    /// The inter-broker listener's name and security protocol as this node's clients of
    /// other brokers speak it: `inter.broker.listener.name` (else the listener of
    /// `security.inter.broker.protocol`) looked up in `listener.security.protocol.map`. A
    /// controller-only node has it too: the metadata quorum's leader replicates to
    /// broker-only learners on that listener.
    pub inter_broker_security: Option<(String, SecurityProtocol)>,
    /// `controller.quorum.voters`.
    pub controller_quorum_voters: Vec<QuorumVoter>,
    /// `controller.quorum.bootstrap.servers` as `(host, port)`.
    pub controller_quorum_bootstrap_servers: Vec<(String, u16)>,
    /// `broker.rack`.
    pub rack: Option<String>,
    /// `admin.listener` (Ironlog) as `(host, port)`: metrics, health and log levels over
    /// HTTP; `None` when set empty.
    pub admin_listener: Option<(String, u16)>,
    /// `logger.format` (Ironlog): `json` for one JSON object per log line, else text.
    pub logger_format_json: bool,
    /// `logger.audit.file` (Ironlog): where the audit log goes (JSON lines), else stderr.
    pub logger_audit_file: Option<std::path::PathBuf>,
    /// `bootstrap.release.version` (Ironlog) as its metadata.version level: what a node
    /// that formats itself on its first start bootstraps a new metadata log at; `None`:
    /// the latest.
    pub bootstrap_metadata_version: Option<i16>,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub min_insync_replicas: i32,
    pub auto_create_topics_enable: bool,
    pub delete_topic_enable: bool,
    pub unclean_leader_election_enable: bool,
    pub message_max_bytes: u32,
    pub socket_request_max_bytes: u32,
    pub socket_send_buffer_bytes: i32,
    pub socket_receive_buffer_bytes: i32,
    pub max_connections: u32,
    pub max_connections_per_ip: u32,
    pub connections_max_idle_ms: i64,
    pub queued_max_requests: u32,
    pub request_timeout_ms: i32,
    pub fetch_max_bytes: i32,
    pub max_incremental_fetch_session_cache_slots: u32,
    /// `max.request.partition.size.limit`: most partitions one DescribeTopicPartitions
    /// response holds.
    pub max_request_partition_size_limit: i32,
    pub num_recovery_threads_per_data_dir: u32,
    /// `log.open.files.max`: capacity of the open segment/index file cache; 0 = derived
    /// from the open-files limit.
    pub log_open_files_max: u32,
    pub log_retention_check_interval_ms: i64,
    pub log_flush_scheduler_interval_ms: i64,
    pub log_flush_offset_checkpoint_interval_ms: i64,
    pub log_flush_start_offset_checkpoint_interval_ms: i64,
    pub log_cleaner_enable: bool,
    pub log_cleaner_threads: u32,
    pub log_cleaner_backoff_ms: i64,
    pub log_cleaner_dedupe_buffer_size: i64,
    pub log_cleaner_io_buffer_size: i64,
    pub replica_lag_time_max_ms: i64,
    pub replica_fetch_max_bytes: i32,
    pub replica_fetch_wait_max_ms: i32,
    pub replica_fetch_min_bytes: i32,
    pub replica_fetch_backoff_ms: i32,
    pub replica_fetch_response_max_bytes: i32,
    pub num_replica_fetchers: u32,
    /// `replica.selector.class` is Kafka's `RackAwareReplicaSelector`: a leader sends a
    /// consumer with a `client.rack` to an in-sync replica in that rack (KIP-392). Unset:
    /// consumers fetch from the leader.
    pub replica_selector_rack_aware: bool,
    pub replica_high_watermark_checkpoint_interval_ms: i64,
    pub auto_leader_rebalance_enable: bool,
    pub leader_imbalance_check_interval_seconds: i64,
    /// `leader.imbalance.per.broker.percentage`.
    pub leader_imbalance_per_broker_percentage: i32,
    pub broker_heartbeat_interval_ms: i32,
    pub broker_session_timeout_ms: i32,
    /// `initial.broker.registration.timeout.ms`: how long a starting node waits for the
    /// metadata quorum and its registration before it gives up.
    pub initial_broker_registration_timeout_ms: i32,
    pub controller_quorum_election_timeout_ms: i32,
    pub controller_quorum_fetch_timeout_ms: i32,
    pub controller_quorum_request_timeout_ms: i32,
    pub group_initial_rebalance_delay_ms: i32,
    pub group_min_session_timeout_ms: i32,
    pub group_max_session_timeout_ms: i32,
    pub group_max_size: i32,
    pub group_coordinator_rebalance_protocols: Vec<String>,
    pub group_consumer_session_timeout_ms: i32,
    pub group_consumer_min_session_timeout_ms: i32,
    pub group_consumer_max_session_timeout_ms: i32,
    pub group_consumer_heartbeat_interval_ms: i32,
    pub group_consumer_min_heartbeat_interval_ms: i32,
    pub group_consumer_max_heartbeat_interval_ms: i32,
    pub group_consumer_max_size: i32,
    pub group_consumer_assignors: Vec<String>,
    pub offset_metadata_max_bytes: i32,
    pub offsets_topic_num_partitions: i32,
    pub offsets_topic_replication_factor: i16,
    pub offsets_topic_segment_bytes: i32,
    pub offsets_retention_minutes: i32,
    pub offsets_retention_check_interval_ms: i64,
    pub offsets_commit_timeout_ms: i32,
    pub transaction_state_log_num_partitions: i32,
    pub transaction_state_log_replication_factor: i16,
    pub transaction_state_log_min_isr: i32,
    pub transaction_state_log_segment_bytes: i32,
    pub transaction_max_timeout_ms: i32,
    pub transactional_id_expiration_ms: i32,
    pub transaction_abort_timed_out_transaction_cleanup_interval_ms: i32,
    pub transaction_remove_expired_transaction_cleanup_interval_ms: i32,
    pub producer_id_expiration_ms: i32,
    pub producer_id_expiration_check_interval_ms: i32,
    /// `authorizer.class.name` is Kafka's StandardAuthorizer (ACLs enforced).
    pub authorizer_enabled: bool,
    /// `super.users`, split on `;`.
    pub super_users: Vec<String>,
    pub allow_everyone_if_no_acl_found: bool,
    /// Every explicitly set static value (file, then overrides), by Kafka name, as given.
    pub static_broker_configs: BTreeMap<String, String>,
}

/// Whether the last `controller.quorum.voters` override names more than one voter.
fn names_several_voters(overrides: &[String]) -> bool {
    overrides
        .iter()
        .rev()
        .filter_map(|entry| entry.split_once('='))
        .find(|(key, _)| key.trim() == "controller.quorum.voters")
        .is_some_and(|(_, value)| value.split(',').filter(|v| !v.trim().is_empty()).count() > 1)
}

impl BrokerConfig {
    /// Reads `config_file` (or [`EMBEDDED_SERVER_PROPERTIES`] when `None`), applies the
    /// `key=value` overrides on top (later wins), validates every key and value, and builds
    /// the typed config. Any unknown or invalid setting is an error naming it.
    pub fn load(
        config_file: Option<&Path>,
        overrides: &[String],
    ) -> Result<BrokerConfig, ConfigError> {
        let text = match config_file {
            Some(path) => std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
                path: path.to_path_buf(),
                source,
            })?,
            None => EMBEDDED_SERVER_PROPERTIES.to_string(),
        };
        let mut pairs = crate::parse_properties(&text)?;
        if config_file.is_none() && names_several_voters(overrides) {
            pairs.retain(|(key, _)| !SINGLE_NODE_ONLY_KEYS.contains(&key.as_str()));
        }
        for entry in overrides {
            let (key, value) = entry.split_once('=').ok_or_else(|| ConfigError::Override {
                entry: entry.clone(),
            })?;
            let key = key.trim();
            if key.is_empty() {
                return Err(ConfigError::Override {
                    entry: entry.clone(),
                });
            }
            pairs.push((key.to_string(), value.to_string()));
        }
        let config = Self::from_pairs(pairs)?;
        tracing::info!(
            node_id = config.node_id,
            config_file = ?config_file,
            overrides = overrides.len(),
            listeners = %config.listeners.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(","),
            "broker configuration loaded"
        );
        Ok(config)
    }

    /// The embedded single-node default; `== load(None, &[])`.
    pub fn embedded_default() -> BrokerConfig {
        match Self::load(None, &[]) {
            Ok(config) => config,
            // The embedded text is a constant checked by a unit test; failing here is a bug.
            Err(e) => panic!("embedded default configuration is invalid: {e}"),
        }
    }

    /// Builds a config from `(key, value)` pairs applied in order (later wins).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<BrokerConfig, ConfigError> {
        let mut raw: BTreeMap<String, String> = BTreeMap::new();
        let mut parsed: BTreeMap<&'static str, ConfigValue> = BTreeMap::new();
        for (key, value) in pairs {
            // A listener-prefixed key is validated by its definition and kept raw only: the
            // typed config holds the unprefixed values, `listener_value` reads both.
            let (def, prefixed) = match broker_config_def(&key) {
                Some(def) => (def, false),
                None => match listener_prefixed_def(&key) {
                    Some((_, _, def)) => (def, true),
                    None => return Err(ConfigError::UnknownConfig { name: key.clone() }),
                },
            };
            let typed = def
                .parse(&value)
                .map_err(|message| ConfigError::InvalidValue {
                    name: key.clone(),
                    message,
                })?;
            if !prefixed {
                parsed.insert(def.name, typed);
            }
            raw.insert(key, value);
        }
        Builder { parsed }.build(raw)
    }

    /// The static value of a broker config: explicitly set, else its default. `None` for
    /// unknown names and for keys without default that are unset.
    pub fn value(&self, name: &str) -> Option<ConfigValue> {
        let def = broker_config_def(name)?;
        match self.static_broker_configs.get(name) {
            Some(raw) => def.parse(raw).ok(),
            None => def.default_value(),
        }
    }

    /// A listener's value of a TLS or SASL key, as Kafka resolves it for the listener's
    /// channel: `listener.name.<listener>.<name>` (the listener in any case), else the
    /// unprefixed key, else its default. `None` for unknown names and unset keys without
    /// default.
    pub fn listener_value(&self, listener: &str, name: &str) -> Option<ConfigValue> {
        self.listener_override(listener, name)
            .or_else(|| self.value(name))
    }

    /// `listener.name.<listener>.<name>` only (the listener in any case): what the
    /// listener sets for itself, without falling back to the broker-wide key.
    pub fn listener_override(&self, listener: &str, name: &str) -> Option<ConfigValue> {
        let def = broker_config_def(name)?;
        self.static_broker_configs
            .iter()
            .find(|(key, _)| {
                listener_prefixed_def(key).is_some_and(|(l, mechanism, d)| {
                    mechanism.is_none() && d.name == name && l.eq_ignore_ascii_case(listener)
                })
            })
            .and_then(|(_, raw)| def.parse(raw).ok())
    }

    /// `listener.name.<listener>.<mechanism>.sasl.jaas.config`: the JAAS configuration
    /// of one SASL mechanism on one listener, as written.
    pub fn listener_jaas_config(&self, listener: &str, mechanism: &str) -> Option<&str> {
        self.listener_mechanism_value(listener, mechanism, "sasl.jaas.config")
    }

    /// `listener.name.<listener>.<mechanism>.<name>` (`sasl.jaas.config`,
    /// `sasl.server.callback.handler.class`) as written.
    pub fn listener_mechanism_value(
        &self,
        listener: &str,
        mechanism: &str,
        name: &str,
    ) -> Option<&str> {
        self.static_broker_configs
            .iter()
            .find(|(key, _)| {
                listener_prefixed_def(key).is_some_and(|(l, m, d)| {
                    d.name == name
                        && l.eq_ignore_ascii_case(listener)
                        && m.is_some_and(|m| m.eq_ignore_ascii_case(mechanism))
                })
            })
            .map(|(_, raw)| raw.as_str())
    }

    /// Records the port the OS picked for a listener bound with port 0: updates that
    /// listener and any advertised listener of the same name still on port 0.
    pub fn set_bound_port(&mut self, listener_name: &str, port: u16) {
        for l in self
            .listeners
            .iter_mut()
            .filter(|l| l.name == listener_name && l.port == 0)
        {
            l.port = port;
        }
        for l in self
            .advertised_listeners
            .iter_mut()
            .filter(|l| l.name == listener_name && l.port == 0)
        {
            l.port = port;
        }
    }

    /// The name of the controller listener (the first of `controller.listener.names`), or
    /// Kafka's conventional `CONTROLLER` where none is configured.
    pub fn controller_listener_name(&self) -> String {
        self.controller_listeners
            .first()
            .map_or_else(|| "CONTROLLER".to_string(), |l| l.name.clone())
    }

    /// The advertised listener used for replication between brokers.
    pub fn inter_broker_listener(&self) -> Option<&Listener> {
        self.advertised_listeners
            .iter()
            .find(|l| l.name == self.inter_broker_listener_name)
    }
}

/// Reads typed values out of the validated map, falling back to defaults.
struct Builder {
    parsed: BTreeMap<&'static str, ConfigValue>,
}

impl Builder {
    fn get(&self, name: &str) -> Option<ConfigValue> {
        match self.parsed.get(name) {
            Some(v) => Some(v.clone()),
            None => broker_config_def(name).and_then(|d| d.default_value()),
        }
    }

    fn is_set(&self, name: &str) -> bool {
        self.parsed.contains_key(name)
    }

    fn i64(&self, name: &str) -> i64 {
        debug_assert!(
            broker_config_def(name).is_some(),
            "{name} is not in the table"
        );
        self.get(name).and_then(|v| v.as_i64()).unwrap_or_default()
    }

    fn i32(&self, name: &str) -> i32 {
        i32::try_from(self.i64(name)).unwrap_or(i32::MAX)
    }

    fn i16(&self, name: &str) -> Result<i16, ConfigError> {
        let v = self.i64(name);
        i16::try_from(v).map_err(|_| ConfigError::InvalidValue {
            name: name.to_string(),
            message: format!(
                "Invalid value {v} for configuration {name}: Value must be no more than {}",
                i16::MAX
            ),
        })
    }

    /// A non-negative count or size; validators already reject negatives where Kafka does.
    fn u32(&self, name: &str) -> u32 {
        u32::try_from(self.i64(name).max(0)).unwrap_or(u32::MAX)
    }

    fn bool(&self, name: &str) -> bool {
        matches!(self.get(name), Some(ConfigValue::Boolean(true)))
    }

    fn string(&self, name: &str) -> Option<String> {
        match self.get(name)? {
            ConfigValue::String(s) | ConfigValue::Class(s) => Some(s),
            _ => None,
        }
    }

    fn list(&self, name: &str) -> Vec<String> {
        match self.get(name) {
            Some(ConfigValue::List(items)) => items,
            _ => Vec::new(),
        }
    }

    /// A list setting's items, each parsed; the first refusal names the setting.
    fn parsed_list<T>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, ConfigError> {
        self.list(name)
            .iter()
            .map(|item| parse(item))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|message| ConfigError::Invalid {
                name: name.to_string(),
                message,
            })
    }

    fn build(
        self,
        static_broker_configs: BTreeMap<String, String>,
    ) -> Result<BrokerConfig, ConfigError> {
        // --- identity ---
        let broker_id = self.i32("broker.id");
        // Kafka treats broker.id as a synonym: it fills node.id when only it is set.
        let node_id = if self.is_set("node.id") {
            self.i32("node.id")
        } else {
            broker_id
        };
        if node_id < 0 {
            return Err(ConfigError::MissingRequired {
                name: "node.id".to_string(),
            });
        }
        if self.is_set("broker.id") && broker_id != node_id {
            return Err(ConfigError::Invalid {
                name: "broker.id".to_string(),
                message: format!(
                    "broker.id {broker_id} must equal node.id {node_id} when both are set"
                ),
            });
        }
        let roles = self.list("process.roles");
        if roles.is_empty() {
            return Err(ConfigError::MissingRequired {
                name: "process.roles".to_string(),
            });
        }
        let process_role_controller = roles.iter().any(|r| r == "controller");

        // --- storage ---
        let log_dirs_raw = self
            .string("log.dirs")
            .or_else(|| self.string("log.dir"))
            .unwrap_or_default();
        let log_dirs: Vec<PathBuf> = log_dirs_raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .collect();
        if log_dirs.is_empty() {
            let name = if self.is_set("log.dirs") {
                "log.dirs"
            } else {
                "log.dir"
            };
            return Err(ConfigError::Invalid {
                name: name.to_string(),
                message: "at least one log directory is required".to_string(),
            });
        }
        let mut seen = BTreeSet::new();
        if let Some(dup) = log_dirs.iter().find(|d| !seen.insert(d.as_path())) {
            return Err(ConfigError::Invalid {
                name: "log.dirs".to_string(),
                message: format!("log directory {} is listed twice", dup.display()),
            });
        }
        let metadata_log_dir = self
            .string("metadata.log.dir")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from);

        // --- quorum ---
        let controller_quorum_voters =
            self.parsed_list("controller.quorum.voters", parse_quorum_voter)?;
        let controller_quorum_bootstrap_servers =
            self.parsed_list("controller.quorum.bootstrap.servers", parse_host_port)?;
        let process_role_broker = roles.iter().any(|r| r == "broker");
        check_voters_for_roles(node_id, process_role_controller, &controller_quorum_voters)?;

        if !controller_quorum_voters.is_empty() && !controller_quorum_bootstrap_servers.is_empty() {
            // one source of truth for the voters: the configuration (static) or the
            // metadata log (dynamic, KIP-853)
            return Err(ConfigError::Invalid {
                name: "controller.quorum.bootstrap.servers".to_string(),
                message: "controller.quorum.voters and controller.quorum.bootstrap.servers are \
                          mutually exclusive: set the voters for a static quorum, or the \
                          bootstrap servers for a dynamic one"
                    .to_string(),
            });
        }

        // --- listeners ---
        let listeners_layout = self.listeners()?;
        if !controller_quorum_voters.is_empty() || !controller_quorum_bootstrap_servers.is_empty() {
            self.check_controller_listeners_for_roles(
                process_role_broker,
                process_role_controller,
            )?;
        } else if !process_role_broker {
            // A controller alone (no voters: its own quorum) would have no broker to serve.
            return Err(ConfigError::Invalid {
                name: "controller.quorum.voters".to_string(),
                message: "If using process.roles, either controller.quorum.bootstrap.servers must contain the set of bootstrap controllers or controller.quorum.voters must contain a parseable set of controllers.".to_string(),
            });
        }

        // --- security ---
        let authorizer_enabled = self
            .string("authorizer.class.name")
            .is_some_and(|s| !s.is_empty());
        let super_users = self
            .string("super.users")
            .unwrap_or_default()
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();

        if self.i64("group.min.session.timeout.ms") > self.i64("group.max.session.timeout.ms") {
            return Err(ConfigError::Invalid {
                name: "group.min.session.timeout.ms".to_string(),
                message: "must not be greater than group.max.session.timeout.ms".to_string(),
            });
        }
        if self.i64("replica.fetch.wait.max.ms") > self.i64("replica.lag.time.max.ms") {
            return Err(ConfigError::Invalid {
                name: "replica.fetch.wait.max.ms".to_string(),
                message: "should always be less than or equal to replica.lag.time.max.ms to prevent frequent changes in ISR".to_string(),
            });
        }

        Ok(BrokerConfig {
            node_id,
            process_role_broker,
            process_role_controller,
            log_dirs,
            metadata_log_dir,
            cluster_id: self.string("cluster.id"),
            listeners: listeners_layout.listeners,
            advertised_listeners: listeners_layout.advertised,
            controller_listeners: listeners_layout.controller,
            inter_broker_listener_name: listeners_layout.inter_broker_listener_name,
            controller_security_protocol: listeners_layout.controller_security_protocol,
            inter_broker_security: listeners_layout.inter_broker_security,
            controller_quorum_voters,
            controller_quorum_bootstrap_servers,
            rack: self.string("broker.rack").filter(|s| !s.is_empty()),
            admin_listener: crate::endpoints::parse_admin_listener(
                &self.string("admin.listener").unwrap_or_default(),
            )
            .map_err(|message| ConfigError::Invalid {
                name: "admin.listener".to_string(),
                message,
            })?,
            logger_format_json: self
                .string("logger.format")
                .is_some_and(|f| f.eq_ignore_ascii_case("json")),
            logger_audit_file: self
                .string("logger.audit.file")
                .filter(|f| !f.is_empty())
                .map(std::path::PathBuf::from),
            bootstrap_metadata_version: self
                .string("bootstrap.release.version")
                .filter(|v| !v.is_empty())
                .and_then(|v| crate::metadata_version::metadata_version_from_release(&v)),
            num_partitions: self.i32("num.partitions"),
            default_replication_factor: self.i16("default.replication.factor")?,
            min_insync_replicas: self.i32("min.insync.replicas"),
            auto_create_topics_enable: self.bool("auto.create.topics.enable"),
            delete_topic_enable: self.bool("delete.topic.enable"),
            unclean_leader_election_enable: self.bool("unclean.leader.election.enable"),
            message_max_bytes: self.u32("message.max.bytes"),
            socket_request_max_bytes: self.u32("socket.request.max.bytes"),
            socket_send_buffer_bytes: self.i32("socket.send.buffer.bytes"),
            socket_receive_buffer_bytes: self.i32("socket.receive.buffer.bytes"),
            max_connections: self.u32("max.connections"),
            max_connections_per_ip: self.u32("max.connections.per.ip"),
            connections_max_idle_ms: self.i64("connections.max.idle.ms"),
            queued_max_requests: self.u32("queued.max.requests"),
            request_timeout_ms: self.i32("request.timeout.ms"),
            fetch_max_bytes: self.i32("fetch.max.bytes"),
            max_incremental_fetch_session_cache_slots: self
                .u32("max.incremental.fetch.session.cache.slots"),
            max_request_partition_size_limit: self.i32("max.request.partition.size.limit"),
            num_recovery_threads_per_data_dir: self.u32("num.recovery.threads.per.data.dir"),
            log_open_files_max: self.u32("log.open.files.max"),
            log_retention_check_interval_ms: self.i64("log.retention.check.interval.ms"),
            log_flush_scheduler_interval_ms: self.i64("log.flush.scheduler.interval.ms"),
            log_flush_offset_checkpoint_interval_ms: self
                .i64("log.flush.offset.checkpoint.interval.ms"),
            log_flush_start_offset_checkpoint_interval_ms: self
                .i64("log.flush.start.offset.checkpoint.interval.ms"),
            log_cleaner_enable: self.bool("log.cleaner.enable"),
            log_cleaner_threads: self.u32("log.cleaner.threads"),
            log_cleaner_backoff_ms: self.i64("log.cleaner.backoff.ms"),
            log_cleaner_dedupe_buffer_size: self.i64("log.cleaner.dedupe.buffer.size"),
            log_cleaner_io_buffer_size: self.i64("log.cleaner.io.buffer.size"),
            replica_lag_time_max_ms: self.i64("replica.lag.time.max.ms"),
            replica_fetch_max_bytes: self.i32("replica.fetch.max.bytes"),
            replica_selector_rack_aware: self
                .string("replica.selector.class")
                .is_some_and(|class| class == crate::defs::RACK_AWARE_REPLICA_SELECTOR),
            replica_fetch_wait_max_ms: self.i32("replica.fetch.wait.max.ms"),
            replica_fetch_min_bytes: self.i32("replica.fetch.min.bytes"),
            replica_fetch_backoff_ms: self.i32("replica.fetch.backoff.ms"),
            replica_fetch_response_max_bytes: self.i32("replica.fetch.response.max.bytes"),
            num_replica_fetchers: self.u32("num.replica.fetchers"),
            replica_high_watermark_checkpoint_interval_ms: self
                .i64("replica.high.watermark.checkpoint.interval.ms"),
            auto_leader_rebalance_enable: self.bool("auto.leader.rebalance.enable"),
            leader_imbalance_check_interval_seconds: self
                .i64("leader.imbalance.check.interval.seconds"),
            leader_imbalance_per_broker_percentage: self
                .i32("leader.imbalance.per.broker.percentage"),
            broker_heartbeat_interval_ms: self.i32("broker.heartbeat.interval.ms"),
            broker_session_timeout_ms: self.i32("broker.session.timeout.ms"),
            initial_broker_registration_timeout_ms: self
                .i32("initial.broker.registration.timeout.ms"),
            controller_quorum_election_timeout_ms: self
                .i32("controller.quorum.election.timeout.ms"),
            controller_quorum_fetch_timeout_ms: self.i32("controller.quorum.fetch.timeout.ms"),
            controller_quorum_request_timeout_ms: self.i32("controller.quorum.request.timeout.ms"),
            group_initial_rebalance_delay_ms: self.i32("group.initial.rebalance.delay.ms"),
            group_min_session_timeout_ms: self.i32("group.min.session.timeout.ms"),
            group_max_session_timeout_ms: self.i32("group.max.session.timeout.ms"),
            group_max_size: self.i32("group.max.size"),
            group_coordinator_rebalance_protocols: self
                .list("group.coordinator.rebalance.protocols"),
            group_consumer_session_timeout_ms: self.i32("group.consumer.session.timeout.ms"),
            group_consumer_min_session_timeout_ms: self
                .i32("group.consumer.min.session.timeout.ms"),
            group_consumer_max_session_timeout_ms: self
                .i32("group.consumer.max.session.timeout.ms"),
            group_consumer_heartbeat_interval_ms: self.i32("group.consumer.heartbeat.interval.ms"),
            group_consumer_min_heartbeat_interval_ms: self
                .i32("group.consumer.min.heartbeat.interval.ms"),
            group_consumer_max_heartbeat_interval_ms: self
                .i32("group.consumer.max.heartbeat.interval.ms"),
            group_consumer_max_size: self.i32("group.consumer.max.size"),
            group_consumer_assignors: self.list("group.consumer.assignors"),
            offset_metadata_max_bytes: self.i32("offset.metadata.max.bytes"),
            offsets_topic_num_partitions: self.i32("offsets.topic.num.partitions"),
            offsets_topic_replication_factor: self.i16("offsets.topic.replication.factor")?,
            offsets_topic_segment_bytes: self.i32("offsets.topic.segment.bytes"),
            offsets_retention_minutes: self.i32("offsets.retention.minutes"),
            offsets_retention_check_interval_ms: self.i64("offsets.retention.check.interval.ms"),
            offsets_commit_timeout_ms: self.i32("offsets.commit.timeout.ms"),
            transaction_state_log_num_partitions: self.i32("transaction.state.log.num.partitions"),
            transaction_state_log_replication_factor: self
                .i16("transaction.state.log.replication.factor")?,
            transaction_state_log_min_isr: self.i32("transaction.state.log.min.isr"),
            transaction_state_log_segment_bytes: self.i32("transaction.state.log.segment.bytes"),
            transaction_max_timeout_ms: self.i32("transaction.max.timeout.ms"),
            transactional_id_expiration_ms: self.i32("transactional.id.expiration.ms"),
            transaction_abort_timed_out_transaction_cleanup_interval_ms: self
                .i32("transaction.abort.timed.out.transaction.cleanup.interval.ms"),
            transaction_remove_expired_transaction_cleanup_interval_ms: self
                .i32("transaction.remove.expired.transaction.cleanup.interval.ms"),
            producer_id_expiration_ms: self.i32("producer.id.expiration.ms"),
            producer_id_expiration_check_interval_ms: self
                .i32("producer.id.expiration.check.interval.ms"),
            authorizer_enabled,
            super_users,
            allow_everyone_if_no_acl_found: self.bool("allow.everyone.if.no.acl.found"),
            static_broker_configs,
        })
    }

    /// `controller.listener.names`, upper-cased (a comma-separated STRING in Kafka, not a
    /// LIST config).
    fn controller_listener_names(&self) -> Vec<String> {
        self.string("controller.listener.names")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| n.to_ascii_uppercase())
            .collect()
    }

    /// Kafka's `KafkaConfig.validateValues` checks of `controller.listener.names` against
    /// the roles, in Kafka's words, for a node with `controller.quorum.voters`.
    fn check_controller_listeners_for_roles(
        &self,
        broker: bool,
        controller: bool,
    ) -> Result<(), ConfigError> {
        let names = self.controller_listener_names();
        let listener_names: Vec<String> = self
            .string("listeners")
            .unwrap_or_default()
            .split(',')
            .filter_map(|l| l.split_once("://"))
            .map(|(name, _)| name.trim().to_ascii_uppercase())
            .collect();
        let invalid = |message: &str| ConfigError::Invalid {
            name: "controller.listener.names".to_string(),
            message: message.to_string(),
        };
        if controller {
            if !names.iter().any(|n| listener_names.contains(n)) {
                return Err(invalid("controller.listener.names must contain at least one value appearing in the 'listeners' configuration when running the KRaft controller role"));
            }
            if !names.iter().all(|n| listener_names.contains(n)) {
                return Err(invalid("controller.listener.names must only contain values appearing in the 'listeners' configuration when running the KRaft controller role"));
            }
        } else if broker {
            if names.is_empty() {
                return Err(invalid("controller.listener.names must contain at least one value when running KRaft with just the broker role"));
            }
            if names.iter().any(|n| listener_names.contains(n)) {
                return Err(invalid("controller.listener.names must not contain a value appearing in the 'listeners' configuration when running KRaft with just the broker role"));
            }
        }
        Ok(())
    }

    /// Parses and cross-checks `listeners`, `advertised.listeners`,
    /// `listener.security.protocol.map`, `controller.listener.names` and the inter-broker
    /// listener the way Kafka's `KafkaConfig.validateValues` does.
    fn listeners(&self) -> Result<ListenerLayout, ConfigError> {
        let invalid = |name: &str, message: String| ConfigError::Invalid {
            name: name.to_string(),
            message,
        };
        let controller_names = self.controller_listener_names();

        // Security protocol map; controller listeners default to PLAINTEXT when the map is not set.
        let map_raw = self
            .string("listener.security.protocol.map")
            .unwrap_or_default();
        let mut protocol_map = parse_protocol_map(&map_raw)
            .map_err(|m| invalid("listener.security.protocol.map", m))?;
        if !self.is_set("listener.security.protocol.map") {
            for name in &controller_names {
                protocol_map
                    .entry(name.clone())
                    .or_insert(SecurityProtocol::Plaintext);
            }
        }

        let bind =
            parse_listener_list(&self.string("listeners").unwrap_or_default(), &protocol_map)
                .map_err(|m| invalid("listeners", m))?;
        check_unique_names(&bind).map_err(|m| invalid("listeners", m))?;
        let mut ports = BTreeSet::new();
        if let Some(dup) = bind
            .iter()
            .filter(|l| l.port != 0)
            .find(|l| !ports.insert(l.port))
        {
            return Err(invalid(
                "listeners",
                format!(
                    "Each listener must have a different port, port {} is used twice",
                    dup.port
                ),
            ));
        }
        if !bind.iter().any(|l| controller_names.contains(&l.name))
            && !controller_names.is_empty()
            && self.list("process.roles").iter().any(|r| r == "controller")
        {
            return Err(invalid(
                "controller.listener.names",
                "controller.listener.names must contain at least one value appearing in the 'listeners' configuration when running the KRaft controller role".to_string(),
            ));
        }
        let roles = self.list("process.roles");
        let broker_role = roles.iter().any(|r| r == "broker");
        let (controller, broker_bind): (Vec<Listener>, Vec<Listener>) = bind
            .into_iter()
            .partition(|l| controller_names.contains(&l.name));
        if broker_role && broker_bind.is_empty() {
            return Err(invalid(
                "listeners",
                "There must be at least one broker advertised listener. Perhaps all listeners appear in controller.listener.names?"
                    .to_string(),
            ));
        }
        if !broker_role && !broker_bind.is_empty() {
            return Err(invalid(
                "listeners",
                "The listeners config must only contain KRaft controller listeners from controller.listener.names when process.roles=controller".to_string(),
            ));
        }
        if broker_role && !roles.iter().any(|r| r == "controller") {
            // A broker alone reaches the controllers on the first controller listener name:
            // its security protocol must be known.
            if let Some(name) = controller_names
                .iter()
                .find(|n| !protocol_map.contains_key(n.as_str()))
            {
                return Err(invalid(
                    "controller.listener.names",
                    format!("Controller listener with name {name} defined in controller.listener.names not found in listener.security.protocol.map  (an explicit security mapping for each controller listener is required if listener.security.protocol.map is non-empty, or if there are security protocols other than PLAINTEXT in use)"),
                ));
            }
        }
        let controller_security_protocol = controller_names
            .first()
            .and_then(|name| protocol_map.get(name).copied());
        let inter_broker_security = self
            .string("inter.broker.listener.name")
            .or_else(|| self.string("security.inter.broker.protocol"))
            .map(|name| name.to_ascii_uppercase())
            .or_else(|| Some("PLAINTEXT".to_string()))
            .and_then(|name| protocol_map.get(&name).map(|p| (name, *p)));

        // A controller alone advertises nothing to clients and has no inter-broker listener
        // (only an explicit name is checked, as Kafka does).
        if !broker_role {
            if let Some(name) = self.string("inter.broker.listener.name") {
                if controller_names.contains(&name.to_ascii_uppercase()) {
                    return Err(invalid(
                        "inter.broker.listener.name",
                        "controller.listener.names must not contain an explicitly set inter.broker.listener.name configuration value when process.roles=controller'".to_string(),
                    ));
                }
            }
            return Ok(ListenerLayout {
                listeners: Vec::new(),
                advertised: Vec::new(),
                controller: controller
                    .into_iter()
                    .map(|mut l| {
                        if l.host.is_empty() {
                            l.host = "0.0.0.0".to_string();
                        }
                        l
                    })
                    .collect(),
                inter_broker_listener_name: String::new(),
                controller_security_protocol,
                inter_broker_security,
            });
        }
        // Advertised: explicit, else the bind listeners.
        let advertised_raw = self.string("advertised.listeners");
        let advertised_parsed = match &advertised_raw {
            Some(raw) => {
                let parsed = parse_listener_list(raw, &protocol_map)
                    .map_err(|m| invalid("advertised.listeners", m))?;
                check_unique_names(&parsed).map_err(|m| invalid("advertised.listeners", m))?;
                parsed
            }
            None => broker_bind.clone(),
        };
        let advertised_name = if advertised_raw.is_some() {
            "advertised.listeners"
        } else {
            "listeners"
        };
        let mut advertised = Vec::new();
        for mut l in advertised_parsed {
            if controller_names.contains(&l.name) {
                continue; // Kafka 3.9+ allows advertising controller endpoints; clients never see them.
            }
            if !broker_bind.iter().any(|b| b.name == l.name) {
                return Err(invalid(
                    "advertised.listeners",
                    format!("listener {} is not defined in listeners; advertised listener names must be a subset of them", l.name),
                ));
            }
            if l.host == "0.0.0.0" || l.host == "::" {
                return Err(invalid(
                    advertised_name,
                    format!("{advertised_name} cannot use the nonroutable meta-address {}. Use a routable IP address.", l.host),
                ));
            }
            if l.host.is_empty() {
                l.host = local_hostname().map_err(|m| invalid(advertised_name, m))?;
            }
            advertised.push(l);
        }

        // Bind side: empty host = all interfaces.
        let normalise = |mut l: Listener| {
            if l.host.is_empty() {
                l.host = "0.0.0.0".to_string();
            }
            l
        };
        let listeners: Vec<Listener> = broker_bind.into_iter().map(normalise).collect();
        let controller: Vec<Listener> = controller.into_iter().map(normalise).collect();

        let inter_broker_listener_name = match (self.string("inter.broker.listener.name"), self.is_set("security.inter.broker.protocol")) {
            (Some(_), true) => {
                return Err(invalid(
                    "inter.broker.listener.name",
                    "only one of inter.broker.listener.name and security.inter.broker.protocol should be set".to_string(),
                ))
            }
            (Some(name), false) => name.to_ascii_uppercase(),
            (None, _) => self.string("security.inter.broker.protocol").unwrap_or_else(|| "PLAINTEXT".to_string()),
        };
        if controller_names.contains(&inter_broker_listener_name) {
            return Err(invalid(
                "inter.broker.listener.name",
                "must not be a controller listener".to_string(),
            ));
        }
        if !advertised
            .iter()
            .any(|l| l.name == inter_broker_listener_name)
        {
            return Err(invalid(
                "inter.broker.listener.name",
                format!("inter-broker listener {inter_broker_listener_name} must be a listener name defined in advertised.listeners"),
            ));
        }
        Ok(ListenerLayout {
            listeners,
            advertised,
            controller,
            inter_broker_listener_name,
            controller_security_protocol,
            inter_broker_security,
        })
    }
}

/// Kafka's checks of `node.id` against `controller.quorum.voters` for the node's roles, in
/// Kafka's words. No voters: a single node that is its own quorum whatever its roles
/// (Ironlog's single-node default, where Kafka would ask for voters).
fn check_voters_for_roles(
    node_id: i32,
    controller: bool,
    voters: &[QuorumVoter],
) -> Result<(), ConfigError> {
    let is_voter = voters.iter().any(|v| v.node_id == node_id);
    let voter_set = || {
        let ids: Vec<String> = voters.iter().map(|v| v.node_id.to_string()).collect();
        format!("controller.quorum.voters=Set({})", ids.join(", "))
    };
    let invalid = |message: String| ConfigError::Invalid {
        name: "controller.quorum.voters".to_string(),
        message,
    };
    if voters.is_empty() {
        return Ok(());
    }
    if controller && !is_voter {
        return Err(invalid(format!(
            "If process.roles contains the 'controller' role, the node id {node_id} must be included in the set of voters {}",
            voter_set()
        )));
    }
    if !controller && is_voter {
        return Err(invalid(format!(
            "If process.roles contains just the 'broker' role, the node id {node_id} must not be included in the set of voters {}",
            voter_set()
        )));
    }
    let mut ids = BTreeSet::new();
    if let Some(dup) = voters.iter().find(|v| !ids.insert(v.node_id)) {
        return Err(invalid(format!(
            "voter id {} appears more than once",
            dup.node_id
        )));
    }
    Ok(())
}

struct ListenerLayout {
    listeners: Vec<Listener>,
    advertised: Vec<Listener>,
    controller: Vec<Listener>,
    inter_broker_listener_name: String,
    controller_security_protocol: Option<SecurityProtocol>,
    inter_broker_security: Option<(String, SecurityProtocol)>,
}

/// This machine's host name, which Kafka advertises for listeners with an empty host.
fn local_hostname() -> Result<String, String> {
    for path in ["/proc/sys/kernel/hostname", "/etc/hostname"] {
        if let Ok(name) = std::fs::read_to_string(path) {
            let name = name.trim();
            if !name.is_empty() {
                return Ok(name.to_string());
            }
        }
    }
    Err("listener has an empty host and the host name could not be determined; set advertised.listeners".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(overrides: &[&str]) -> Result<BrokerConfig, ConfigError> {
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        BrokerConfig::load(None, &overrides)
    }

    #[test]
    fn connection_creation_rate_is_set_per_listener_too() {
        let config = load(&[
            "max.connection.creation.rate=50",
            "listener.name.plaintext.max.connection.creation.rate=5",
        ])
        .expect("a listener's connection creation rate loads");
        assert_eq!(
            config.listener_override("PLAINTEXT", "max.connection.creation.rate"),
            Some(ConfigValue::Int(5))
        );
        assert_eq!(
            config.listener_override("CONTROLLER", "max.connection.creation.rate"),
            None,
            "no fallback to the broker-wide key"
        );
        assert_eq!(
            config.listener_value("CONTROLLER", "max.connection.creation.rate"),
            Some(ConfigValue::Int(50))
        );
        assert!(load(&["listener.name.plaintext.max.connection.creation.rate=-1"]).is_err());
    }

    #[test]
    fn bootstrap_release_version_is_a_known_release_or_empty() {
        let config = load(&[]).expect("defaults load");
        assert_eq!(config.bootstrap_metadata_version, None);
        let config = load(&["bootstrap.release.version=3.9"]).expect("3.9 loads");
        assert_eq!(config.bootstrap_metadata_version, Some(21));
        let config = load(&["bootstrap.release.version=4.1-IV1"]).expect("4.1-IV1 loads");
        assert_eq!(config.bootstrap_metadata_version, Some(27));
        let err = load(&["bootstrap.release.version=2.8-IV1"])
            .expect_err("an unknown release is refused")
            .to_string();
        assert!(
            err.contains("bootstrap.release.version") && err.contains("3.9-IV0"),
            "{err}"
        );
    }

    #[test]
    fn admin_listener_is_an_http_url_or_empty() {
        let config = load(&[]).expect("defaults load");
        assert_eq!(config.admin_listener, Some(("0.0.0.0".to_string(), 9644)));
        assert!(!config.logger_format_json);
        let config = load(&["admin.listener=http://127.0.0.1:0", "logger.format=JSON"])
            .expect("port 0 and json load");
        assert_eq!(config.admin_listener, Some(("127.0.0.1".to_string(), 0)));
        assert!(config.logger_format_json);
        assert_eq!(
            load(&["admin.listener="])
                .expect("empty loads")
                .admin_listener,
            None
        );
        for bad in [
            "admin.listener=127.0.0.1:9644",
            "admin.listener=https://h:1",
            "admin.listener=http://h:x",
        ] {
            let err = load(&[bad]).expect_err(bad).to_string();
            assert!(err.contains("admin.listener"), "{bad}: {err}");
        }
        assert!(load(&["logger.format=xml"]).is_err());
    }

    /// Loads `text` as if it were a config file, plus overrides.
    fn load_text(text: &str, overrides: &[&str]) -> Result<BrokerConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.properties");
        std::fs::write(&path, text).unwrap();
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        BrokerConfig::load(Some(&path), &overrides)
    }

    /// The keys and values of Kafka 4's shipped `config/server.properties` (combined
    /// broker+controller node), written out here without its comments.
    const KAFKA4_SERVER_PROPERTIES: &str = "\
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=localhost:9093
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
inter.broker.listener.name=PLAINTEXT
advertised.listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
num.network.threads=3
num.io.threads=8
socket.send.buffer.bytes=102400
socket.receive.buffer.bytes=102400
socket.request.max.bytes=104857600
log.dirs=/tmp/kraft-combined-logs
num.partitions=1
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
log.retention.hours=168
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000
";

    #[test]
    fn embedded_default_is_a_single_node_on_localhost_9092() {
        let config = BrokerConfig::embedded_default();
        assert_eq!(config.node_id, 1);
        assert!(config.process_role_controller);
        assert_eq!(config.log_dirs, vec![PathBuf::from("./ironlog-data")]);
        assert_eq!(config.listeners.len(), 1);
        assert_eq!(
            config.listeners[0].to_string(),
            "PLAINTEXT://localhost:9092"
        );
        assert_eq!(
            config.advertised_listeners[0].to_string(),
            "PLAINTEXT://localhost:9092"
        );
        assert_eq!(config.inter_broker_listener_name, "PLAINTEXT");
        assert_eq!(config.offsets_topic_replication_factor, 1);
        assert_eq!(config.num_partitions, 1);
        assert_eq!(config.message_max_bytes, 1_048_588);
        assert_eq!(config.socket_request_max_bytes, 104_857_600);
        assert_eq!(
            config.num_recovery_threads_per_data_dir, 2,
            "Kafka 4 default"
        );
        assert_eq!(
            config,
            load(&[]).unwrap(),
            "embedded_default must equal load(None, &[])"
        );
    }

    /// The cluster issue's command line (no file, three voters) gets Kafka's internal-topic
    /// defaults, not the embedded single-node lines; one voter keeps them; explicit
    /// overrides still win.
    #[test]
    fn embedded_single_node_lines_do_not_apply_to_a_cluster() {
        let cluster = [
            "node.id=2",
            "process.roles=broker,controller",
            "controller.quorum.voters=1@127.0.0.1:19001,2@127.0.0.1:19002,3@127.0.0.1:19003",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "listeners=PLAINTEXT://127.0.0.1:19102,CONTROLLER://127.0.0.1:19002",
            "advertised.listeners=PLAINTEXT://127.0.0.1:19102",
        ];
        let config = load(&cluster).unwrap();
        assert_eq!(config.offsets_topic_replication_factor, 3);
        assert_eq!(config.transaction_state_log_replication_factor, 3);
        assert_eq!(config.transaction_state_log_min_isr, 2);
        for key in SINGLE_NODE_ONLY_KEYS {
            assert!(
                !config.static_broker_configs.contains_key(*key),
                "{key} must be Kafka's default (not a static setting) in a cluster"
            );
        }

        let mut explicit = cluster.to_vec();
        explicit.push("offsets.topic.replication.factor=2");
        assert_eq!(load(&explicit).unwrap().offsets_topic_replication_factor, 2);

        let single = load(&[
            "process.roles=broker,controller",
            "controller.quorum.voters=1@127.0.0.1:19001",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "listeners=PLAINTEXT://127.0.0.1:19101,CONTROLLER://127.0.0.1:19001",
            "advertised.listeners=PLAINTEXT://127.0.0.1:19101",
        ])
        .unwrap();
        assert_eq!(single.offsets_topic_replication_factor, 1);
        assert_eq!(single.transaction_state_log_min_isr, 1);
    }

    #[test]
    fn four_overrides_make_a_complete_config_with_port_zero() {
        let config = load(&[
            "node.id=1",
            "log.dirs=/data/x",
            "listeners=PLAINTEXT://127.0.0.1:0",
            "advertised.listeners=PLAINTEXT://127.0.0.1:0",
        ])
        .unwrap();
        assert_eq!(config.log_dirs, vec![PathBuf::from("/data/x")]);
        assert_eq!(config.listeners[0].port, 0);
        let mut config = config;
        config.set_bound_port("PLAINTEXT", 40123);
        assert_eq!(
            config.listeners[0].to_string(),
            "PLAINTEXT://127.0.0.1:40123"
        );
        assert_eq!(
            config.advertised_listeners[0].to_string(),
            "PLAINTEXT://127.0.0.1:40123"
        );
        assert_eq!(config.inter_broker_listener().map(|l| l.port), Some(40123));
    }

    #[test]
    fn kafka4_sample_server_properties_loads() {
        let config = load_text(KAFKA4_SERVER_PROPERTIES, &[]).unwrap();
        assert_eq!(config.node_id, 1);
        assert_eq!(
            config.listeners.len(),
            1,
            "the CONTROLLER listener is not a client listener"
        );
        assert_eq!(config.listeners[0].to_string(), "PLAINTEXT://0.0.0.0:9092");
        assert_eq!(config.advertised_listeners.len(), 1);
        assert_eq!(
            config.advertised_listeners[0].to_string(),
            "PLAINTEXT://localhost:9092"
        );
        assert_eq!(
            config.controller_listeners[0].to_string(),
            "CONTROLLER://0.0.0.0:9093"
        );
        assert_eq!(
            config.controller_quorum_bootstrap_servers,
            vec![("localhost".to_string(), 9093)]
        );
        assert_eq!(
            config.log_dirs,
            vec![PathBuf::from("/tmp/kraft-combined-logs")]
        );
        assert_eq!(
            crate::effective_topic_config(
                &crate::ConfigLayers::static_only(&config),
                "retention.ms"
            ),
            Some(ConfigValue::Long(168 * 3_600_000))
        );
        assert_eq!(
            config
                .static_broker_configs
                .get("log.retention.hours")
                .map(String::as_str),
            Some("168")
        );
    }

    #[test]
    fn kafka_static_voters_form_loads() {
        let text = KAFKA4_SERVER_PROPERTIES.replace(
            "controller.quorum.bootstrap.servers=localhost:9093",
            "controller.quorum.voters=1@localhost:9093",
        );
        let config = load_text(&text, &[]).unwrap();
        assert_eq!(
            config.controller_quorum_voters,
            vec![QuorumVoter {
                node_id: 1,
                host: "localhost".into(),
                port: 9093
            }]
        );
        let err = load_text(&text, &["node.id=2"]).unwrap_err();
        assert!(
            err.to_string().contains("controller.quorum.voters"),
            "{err}"
        );
    }

    #[test]
    fn voters_and_bootstrap_servers_are_mutually_exclusive() {
        let err = load_text(
            KAFKA4_SERVER_PROPERTIES,
            &["controller.quorum.voters=1@localhost:9093"],
        )
        .unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { name, message }
                if name == "controller.quorum.bootstrap.servers" && message.contains("mutually exclusive")),
            "{err}"
        );
        // a dynamic quorum's controller needs its controller listener, as a static one's
        let err = load_text(
            KAFKA4_SERVER_PROPERTIES,
            &[
                "listeners=PLAINTEXT://:9092",
                "advertised.listeners=PLAINTEXT://localhost:9092",
            ],
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("controller.listener.names"),
            "{err}"
        );
    }

    #[test]
    fn unknown_key_is_rejected_naming_it() {
        let err = load(&["log.retention.hourz=5"]).unwrap_err();
        assert!(
            matches!(&err, ConfigError::UnknownConfig { name } if name == "log.retention.hourz"),
            "{err}"
        );
        assert!(err.to_string().contains("log.retention.hourz"));
        let err = load_text(
            "node.id=1\nprocess.roles=broker\nzookeeper.connect=localhost:2181\n",
            &[],
        )
        .unwrap_err();
        assert!(err.to_string().contains("zookeeper.connect"), "{err}");
    }

    #[test]
    fn invalid_value_is_rejected_naming_it() {
        let err = load(&["num.partitions=0"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid value 0 for configuration num.partitions: Value must be at least 1"
        );
        let err = load(&["auto.create.topics.enable=maybe"]).unwrap_err();
        assert!(
            err.to_string().contains("auto.create.topics.enable"),
            "{err}"
        );
    }

    #[test]
    fn malformed_override_is_rejected() {
        let err = load(&["node.id"]).unwrap_err();
        assert!(matches!(err, ConfigError::Override { .. }), "{err}");
        assert!(load(&["=5"]).is_err());
    }

    #[test]
    fn overrides_win_over_the_file() {
        let config = load_text(
            KAFKA4_SERVER_PROPERTIES,
            &["num.partitions=6", "log.dirs=/a,/b"],
        )
        .unwrap();
        assert_eq!(config.num_partitions, 6);
        assert_eq!(
            config.log_dirs,
            vec![PathBuf::from("/a"), PathBuf::from("/b")]
        );
        assert_eq!(
            config
                .static_broker_configs
                .get("num.partitions")
                .map(String::as_str),
            Some("6")
        );
    }

    #[test]
    fn missing_file_is_an_io_error_naming_the_path() {
        let err = BrokerConfig::load(
            Some(Path::new("/nonexistent/ironlog/server.properties")),
            &[],
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("/nonexistent/ironlog/server.properties"),
            "{err}"
        );
    }

    #[test]
    fn required_settings() {
        let err = load_text("process.roles=broker\n", &[]).unwrap_err();
        assert!(
            matches!(&err, ConfigError::MissingRequired { name } if name == "node.id"),
            "{err}"
        );
        let err = load_text("node.id=3\n", &[]).unwrap_err();
        assert!(
            matches!(&err, ConfigError::MissingRequired { name } if name == "process.roles"),
            "{err}"
        );
        let config = load_text(
            "broker.id=7\nprocess.roles=broker\nlisteners=PLAINTEXT://localhost:9092\n",
            &[],
        )
        .unwrap();
        assert_eq!(config.node_id, 7, "broker.id alone fills node.id");
        let err = load(&["broker.id=2"]).unwrap_err();
        assert!(err.to_string().contains("broker.id"), "{err}");
        assert!(load(&["broker.id=1"]).is_ok());
        let err = load(&["log.dirs= , "]).unwrap_err();
        assert!(err.to_string().contains("log.dirs"), "{err}");
        let err = load(&["log.dirs=/a,/a"]).unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
    }

    #[test]
    fn file_without_log_dirs_uses_kafka_log_dir_default() {
        let config = load_text(
            "node.id=1\nprocess.roles=broker\nlisteners=PLAINTEXT://localhost:9092\n",
            &[],
        )
        .unwrap();
        assert_eq!(config.log_dirs, vec![PathBuf::from("/tmp/kafka-logs")]);
        assert!(!config.process_role_controller);
    }

    #[test]
    fn secured_listeners_and_their_prefixed_settings_load() {
        let config = load(&[
            "listeners=SASL_PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
            "advertised.listeners=SASL_PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
            "inter.broker.listener.name=SSL",
            "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
            r#"listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret";"#,
            "ssl.keystore.type=PEM",
            "ssl.client.auth=requested",
            "listener.name.ssl.ssl.client.auth=required",
        ])
        .unwrap();
        let protocols: Vec<_> = config
            .listeners
            .iter()
            .map(|l| l.security_protocol)
            .collect();
        assert_eq!(
            protocols,
            [SecurityProtocol::SaslPlaintext, SecurityProtocol::Ssl]
        );
        assert_eq!(
            config.listener_value("SSL", "ssl.client.auth"),
            Some(ConfigValue::String("required".into())),
            "the listener prefix wins"
        );
        assert_eq!(
            config.listener_value("SASL_PLAINTEXT", "ssl.client.auth"),
            Some(ConfigValue::String("requested".into())),
            "other listeners get the unprefixed value"
        );
        assert!(config
            .listener_jaas_config("SASL_PLAINTEXT", "PLAIN")
            .is_some_and(|j| j.contains("user_admin")));
        assert_eq!(
            config.listener_jaas_config("SASL_PLAINTEXT", "SCRAM-SHA-256"),
            None
        );
        let err = load(&["listener.name.ssl.no.such.key=1"]).unwrap_err();
        assert!(matches!(err, ConfigError::UnknownConfig { .. }), "{err}");
        // The server callback handler is per listener and mechanism, never per listener only.
        let handler =
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler";
        let config = load(&[&format!(
            "listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class={handler}"
        )])
        .unwrap();
        assert_eq!(
            config.listener_mechanism_value(
                "SASL_PLAINTEXT",
                "OAUTHBEARER",
                "sasl.server.callback.handler.class"
            ),
            Some(handler)
        );
        let err = load(&[&format!(
            "listener.name.sasl_plaintext.sasl.server.callback.handler.class={handler}"
        )])
        .unwrap_err();
        assert!(matches!(err, ConfigError::UnknownConfig { .. }), "{err}");
        let err = load(&["listener.name.ssl.ssl.client.auth=sometimes"]).unwrap_err();
        assert!(matches!(err, ConfigError::InvalidValue { .. }), "{err}");
    }

    #[test]
    fn the_controller_and_inter_broker_listeners_may_be_secured() {
        let config = load(&[
            "process.roles=broker,controller",
            "node.id=1",
            "listeners=INTERNAL://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
            "advertised.listeners=INTERNAL://127.0.0.1:9092",
            "inter.broker.listener.name=INTERNAL",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=INTERNAL:SASL_SSL,CONTROLLER:SSL",
            "controller.quorum.voters=1@127.0.0.1:9093,2@127.0.0.1:9094,3@127.0.0.1:9095",
        ])
        .unwrap();
        assert_eq!(
            config.controller_security_protocol,
            Some(SecurityProtocol::Ssl)
        );
        assert_eq!(
            config.inter_broker_listener().map(|l| l.security_protocol),
            Some(SecurityProtocol::SaslSsl)
        );
        assert_eq!(
            config.inter_broker_security,
            Some(("INTERNAL".to_string(), SecurityProtocol::SaslSsl))
        );
        // A broker alone knows the controllers' protocol from the map only.
        let config = load(&[
            "process.roles=broker",
            "node.id=4",
            "listeners=INTERNAL://127.0.0.1:9096",
            "advertised.listeners=INTERNAL://127.0.0.1:9096",
            "inter.broker.listener.name=INTERNAL",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=INTERNAL:SSL,CONTROLLER:SASL_SSL",
            "controller.quorum.voters=1@127.0.0.1:9093",
        ])
        .unwrap();
        assert_eq!(
            config.controller_security_protocol,
            Some(SecurityProtocol::SaslSsl)
        );
    }

    #[test]
    fn listener_validation_like_kafka() {
        let err =
            load(&["listeners=PLAINTEXT://localhost:9092,PLAINTEXT://localhost:9093"]).unwrap_err();
        assert!(err.to_string().contains("different name"), "{err}");
        let err = load(&[
            "listeners=PLAINTEXT://a:9092,INTERNAL://b:9092",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
            "advertised.listeners=PLAINTEXT://a:9092",
        ])
        .unwrap_err();
        assert!(err.to_string().contains("different port"), "{err}");
        let err = load(&[
            "listeners=INTERNAL://localhost:9092",
            "advertised.listeners=INTERNAL://localhost:9092",
        ])
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("No security protocol defined for listener INTERNAL"),
            "{err}"
        );
        let err = load(&[
            "advertised.listeners=OTHER://localhost:9092",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT",
        ])
        .unwrap_err();
        assert!(err.to_string().contains("subset"), "{err}");
        let err = load(&[
            "listeners=PLAINTEXT://0.0.0.0:9092",
            "advertised.listeners=PLAINTEXT://0.0.0.0:9092",
        ])
        .unwrap_err();
        assert!(err.to_string().contains("nonroutable"), "{err}");
        let err = load_text(
            "node.id=1\nprocess.roles=broker\nlisteners=PLAINTEXT://0.0.0.0:9092\n",
            &[],
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("nonroutable"),
            "advertising 0.0.0.0 derived from listeners must fail: {err}"
        );
        let err = load(&["listeners=PLAINTEXT://localhost:99999"]).unwrap_err();
        assert!(err.to_string().contains("invalid port"), "{err}");
        let err = load(&["listeners=localhost:9092"]).unwrap_err();
        assert!(err.to_string().contains("NAME://host:port"), "{err}");
    }

    #[test]
    fn named_listeners_and_inter_broker_listener() {
        let config = load(&[
            "listeners=CLIENT://:9092,REPLICATION://127.0.0.1:9094",
            "advertised.listeners=CLIENT://broker-1.example.com:9092,REPLICATION://127.0.0.1:9094",
            "listener.security.protocol.map=CLIENT:PLAINTEXT,REPLICATION:PLAINTEXT",
            "inter.broker.listener.name=REPLICATION",
        ])
        .unwrap();
        assert_eq!(
            config.listeners[0].host, "0.0.0.0",
            "empty host binds all interfaces"
        );
        assert_eq!(config.advertised_listeners[0].host, "broker-1.example.com");
        assert_eq!(config.inter_broker_listener().map(|l| l.port), Some(9094));
        let err = load(&["inter.broker.listener.name=NOPE"]).unwrap_err();
        assert!(err.to_string().contains("advertised.listeners"), "{err}");
        let err = load(&[
            "inter.broker.listener.name=PLAINTEXT",
            "security.inter.broker.protocol=PLAINTEXT",
        ])
        .unwrap_err();
        assert!(err.to_string().contains("only one of"), "{err}");
    }

    #[test]
    fn ipv6_listener() {
        let config = load(&[
            "listeners=PLAINTEXT://[::1]:9092",
            "advertised.listeners=PLAINTEXT://[::1]:9092",
        ])
        .unwrap();
        assert_eq!(config.listeners[0].host, "::1");
        assert_eq!(config.listeners[0].host_port(), "[::1]:9092");
    }

    #[test]
    fn empty_advertised_host_uses_the_machine_host_name() {
        let config = load(&[
            "listeners=PLAINTEXT://:9092",
            "advertised.listeners=PLAINTEXT://:9092",
        ])
        .unwrap();
        assert!(!config.advertised_listeners[0].host.is_empty());
        assert_ne!(config.advertised_listeners[0].host, "0.0.0.0");
    }

    #[test]
    fn controller_listener_must_be_bound_when_controller_role() {
        let err = load(&["controller.listener.names=CONTROLLER"]).unwrap_err();
        assert!(
            err.to_string().contains("controller.listener.names"),
            "{err}"
        );
    }

    /// The issue's 3-node command line for node `n`, plus `extra`.
    fn cluster_node(n: u16, extra: &[&str]) -> Result<BrokerConfig, ConfigError> {
        let mut overrides = vec![
            format!("node.id={n}"),
            "process.roles=broker,controller".to_string(),
            "controller.quorum.voters=1@127.0.0.1:9101,2@127.0.0.1:9102,3@127.0.0.1:9103"
                .to_string(),
            "controller.listener.names=CONTROLLER".to_string(),
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".to_string(),
            format!(
                "listeners=PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}",
                9090 + n,
                9100 + n
            ),
            format!("advertised.listeners=PLAINTEXT://127.0.0.1:{}", 9090 + n),
            format!("log.dirs=/tmp/d{n}"),
        ];
        overrides.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = overrides.iter().map(String::as_str).collect();
        load(&refs)
    }

    #[test]
    fn the_cluster_command_line_loads_with_its_controller_listener_apart() {
        let config = cluster_node(2, &[]).unwrap();
        assert!(config.process_role_broker && config.process_role_controller);
        assert_eq!(config.controller_quorum_voters.len(), 3);
        assert_eq!(
            config.controller_listeners[0].to_string(),
            "CONTROLLER://127.0.0.1:9102"
        );
        assert_eq!(
            config
                .listeners
                .iter()
                .map(|l| l.name.as_str())
                .collect::<Vec<_>>(),
            ["PLAINTEXT"],
            "the controller listener is not a client listener"
        );
        assert_eq!(
            config
                .advertised_listeners
                .iter()
                .map(|l| l.to_string())
                .collect::<Vec<_>>(),
            ["PLAINTEXT://127.0.0.1:9092"]
        );
    }

    #[test]
    fn roles_voters_and_controller_listeners_are_checked_in_kafkas_words() {
        let cases: [(&[&str], &str); 6] = [
            (
                &["node.id=4"],
                "If process.roles contains the 'controller' role, the node id 4 must be included in the set of voters controller.quorum.voters=Set(1, 2, 3)",
            ),
            (
                &["controller.listener.names=OTHER"],
                "controller.listener.names must contain at least one value appearing in the 'listeners' configuration when running the KRaft controller role",
            ),
            (
                &["controller.listener.names=CONTROLLER,OTHER", "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,OTHER:PLAINTEXT"],
                "controller.listener.names must only contain values appearing in the 'listeners' configuration when running the KRaft controller role",
            ),
            (
                &["process.roles=broker"],
                "If process.roles contains just the 'broker' role, the node id 2 must not be included in the set of voters controller.quorum.voters=Set(1, 2, 3)",
            ),
            (
                &["process.roles=broker", "node.id=5"],
                "controller.listener.names must not contain a value appearing in the 'listeners' configuration when running KRaft with just the broker role",
            ),
            (
                &["process.roles=broker,observer"],
                "Unknown process role 'observer' (only 'broker' and 'controller' are allowed roles)",
            ),
        ];
        for (extra, expected) in cases {
            let err = cluster_node(2, extra).unwrap_err();
            assert!(
                err.to_string().contains(expected),
                "with {extra:?}: expected Kafka's message '{expected}', got '{err}'"
            );
        }
    }

    /// A broker-only node of the cluster: no controller listener, not a voter.
    fn broker_node(n: u16, extra: &[&str]) -> Result<BrokerConfig, ConfigError> {
        let listeners = format!("listeners=PLAINTEXT://127.0.0.1:{}", 9090 + n);
        let advertised = format!("advertised.listeners=PLAINTEXT://127.0.0.1:{}", 9090 + n);
        let mut all = vec![
            "process.roles=broker",
            listeners.as_str(),
            advertised.as_str(),
        ];
        all.extend_from_slice(extra);
        cluster_node(n, &all)
    }

    /// A controller-only node of the cluster: the controller listener alone.
    fn controller_node(n: u16, extra: &[&str]) -> Result<BrokerConfig, ConfigError> {
        let listeners = format!("listeners=CONTROLLER://127.0.0.1:{}", 9100 + n);
        let mut all = vec!["process.roles=controller", listeners.as_str()];
        all.extend_from_slice(extra);
        cluster_node(n, &all)
    }

    #[test]
    fn broker_only_and_controller_only_nodes_load() {
        let broker = broker_node(5, &[]).unwrap();
        assert!(broker.process_role_broker && !broker.process_role_controller);
        assert!(
            broker.controller_listeners.is_empty(),
            "a broker alone binds no controller listener"
        );
        assert_eq!(broker.listeners.len(), 1);
        assert_eq!(broker.inter_broker_listener_name, "PLAINTEXT");

        let controller = controller_node(1, &[]).unwrap();
        assert!(!controller.process_role_broker && controller.process_role_controller);
        assert!(
            controller.listeners.is_empty() && controller.advertised_listeners.is_empty(),
            "a controller alone has no client listener: {:?}",
            controller.listeners
        );
        assert_eq!(
            controller.controller_listeners[0].to_string(),
            "CONTROLLER://127.0.0.1:9101"
        );
    }

    #[test]
    fn wrong_role_combinations_are_refused_in_kafkas_words() {
        let broker_cases: [(&[&str], &str); 3] = [
            (
                &["listeners=PLAINTEXT://127.0.0.1:9095,CONTROLLER://127.0.0.1:9105"],
                "controller.listener.names must not contain a value appearing in the 'listeners' configuration when running KRaft with just the broker role",
            ),
            (
                &["controller.listener.names="],
                "controller.listener.names must contain at least one value when running KRaft with just the broker role",
            ),
            (
                &["listener.security.protocol.map=PLAINTEXT:PLAINTEXT"],
                "Controller listener with name CONTROLLER defined in controller.listener.names not found in listener.security.protocol.map",
            ),
        ];
        for (extra, expected) in broker_cases {
            let err = broker_node(5, extra).unwrap_err();
            assert!(
                err.to_string().contains(expected),
                "broker-only with {extra:?}: expected Kafka's message '{expected}', got '{err}'"
            );
        }
        let controller_cases: [(u16, &[&str], &str); 4] = [
            (
                1,
                &["listeners=CONTROLLER://127.0.0.1:9101,PLAINTEXT://127.0.0.1:9091"],
                "The listeners config must only contain KRaft controller listeners from controller.listener.names when process.roles=controller",
            ),
            (
                4,
                &[],
                "If process.roles contains the 'controller' role, the node id 4 must be included in the set of voters controller.quorum.voters=Set(1, 2, 3)",
            ),
            (
                1,
                &["listeners=PLAINTEXT://127.0.0.1:9091"],
                "controller.listener.names must contain at least one value appearing in the 'listeners' configuration when running the KRaft controller role",
            ),
            (
                1,
                &["inter.broker.listener.name=CONTROLLER"],
                "controller.listener.names must not contain an explicitly set inter.broker.listener.name configuration value when process.roles=controller",
            ),
        ];
        for (n, extra, expected) in controller_cases {
            let err = controller_node(n, extra).unwrap_err();
            assert!(
                err.to_string().contains(expected),
                "controller-only node {n} with {extra:?}: expected Kafka's message '{expected}', got '{err}'"
            );
        }
        // A controller alone with no voters would be a quorum without a broker.
        let err = load(&[
            "process.roles=controller",
            "controller.listener.names=CONTROLLER",
            "listeners=CONTROLLER://127.0.0.1:9101",
        ])
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("controller.quorum.voters must contain a parseable set of controllers"),
            "{err}"
        );
    }

    #[test]
    fn typed_fields_and_value_lookup() {
        let config = load(&[
            "broker.rack=zone-a",
            "super.users=User:admin; User:ops",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "metadata.log.dir=/meta",
            "cluster.id=abc_DEF-123",
        ])
        .unwrap();
        assert_eq!(config.rack.as_deref(), Some("zone-a"));
        assert_eq!(
            config.super_users,
            vec!["User:admin".to_string(), "User:ops".to_string()]
        );
        assert!(config.authorizer_enabled);
        assert_eq!(config.metadata_log_dir, Some(PathBuf::from("/meta")));
        assert_eq!(config.cluster_id.as_deref(), Some("abc_DEF-123"));
        assert_eq!(config.value("num.io.threads"), Some(ConfigValue::Int(8)));
        assert_eq!(config.value("log.retention.ms"), None);
        assert_eq!(config.value("no.such.key"), None);
    }

    #[test]
    fn replica_selector_is_rack_aware_only_with_kafkas_class() {
        assert!(!load(&[]).unwrap().replica_selector_rack_aware);
        let config = load(&[
            "replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector",
        ])
        .unwrap();
        assert!(config.replica_selector_rack_aware);
        for class in [
            "com.example.NearestSelector",
            // Kafka ships no class of this name (no selector = the leader).
            "org.apache.kafka.common.replica.LeaderSelector",
        ] {
            let err = load(&[&format!("replica.selector.class={class}")]).unwrap_err();
            assert!(
                err.to_string().contains("replica.selector.class")
                    && err
                        .to_string()
                        .contains("RackAwareReplicaSelector is supported"),
                "{class}: {err}"
            );
        }
    }

    #[test]
    fn cross_field_checks() {
        let err = load(&[
            "group.min.session.timeout.ms=100000",
            "group.max.session.timeout.ms=1000",
        ])
        .unwrap_err();
        assert!(
            err.to_string().contains("group.min.session.timeout.ms"),
            "{err}"
        );
        let err = load(&["replica.fetch.wait.max.ms=60000"]).unwrap_err();
        assert!(
            err.to_string().contains("replica.fetch.wait.max.ms"),
            "{err}"
        );
    }
}
