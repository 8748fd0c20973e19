//! Broker and topic configuration under Kafka's own names, for the broker and for tools
//! that check a broker's configuration the way the broker will (the Kubernetes operator).
//!
//! - [`parse_properties`] reads Java `.properties` text (`server.properties`).
//! - [`BrokerConfig::load`] applies a config file (or the embedded single-node default)
//!   plus `--override key=value` arguments, rejects unknown keys and invalid values naming
//!   the setting, and produces typed fields.
//! - [`overrides_from_env`] reads `IRONLOG_*` variables as settings, named as Kafka's
//!   container image names `KAFKA_*` ones (`env`); the binary puts them between the file
//!   and the command line's overrides.
//! - [`defs`] is the one table of every broker key and topic config (type, default,
//!   validator, documentation, dynamic update mode, broker synonyms). Validation,
//!   `DescribeConfigs` and topic defaults all read it.
//! - [`effective_topic_config`] and [`effective_broker_value`] resolve the layers: topic
//!   override > dynamic per-broker > dynamic cluster default > static > Kafka default
//!   (`layers`).
//! - [`metadata_version`]: Kafka's metadata versions (level, release name, format
//!   change), for the broker's feature checks and the operator's `spec.metadataVersion`.
//! - `endpoints`: listeners, security protocols, quorum voters, `host:port` values.
//! - `describe_*` build DescribeConfigs output as Kafka does: sources, synonyms, read-only
//!   and sensitivity flags (`describe`).
//! - [`check_broker_config_change`] refuses dynamic broker changes as Kafka does
//!   (read-only keys, per-broker keys at the cluster default, ...) (`dynamic`).
//!
//! This crate knows no broker state and depends on nothing of the broker: it never does
//! network I/O and never mutates shared state; dynamic configs arrive as plain maps (from
//! the broker's metadata image, or a custom resource) and are resolved on demand. What a
//! config means to a broker component (e.g. a partition's storage settings) is that
//! component's business.

mod broker;
pub mod defs;
mod describe;
mod dynamic;
mod endpoints;
mod env;
mod layers;
pub mod metadata_version;
mod properties;

pub use broker::{BrokerConfig, EMBEDDED_SERVER_PROPERTIES, SINGLE_NODE_ONLY_KEYS};
pub use defs::{
    default_value, is_list_config, ConfigDef, ConfigType, ConfigValue, TopicConfigDef, UpdateMode,
    BROKER_CONFIGS, TOPIC_CONFIGS,
};
pub use describe::{
    describe_broker_configs, describe_broker_default_configs, describe_topic_configs, ConfigSource,
    ConfigSynonym, DescribedConfig,
};
pub use dynamic::{
    check_broker_config_change, validate_broker_dynamic_config, BrokerConfigChangeError,
    BrokerConfigOp,
};
pub use endpoints::{Listener, QuorumVoter, SecurityProtocol};
pub use env::{
    config_key_for_variable, overrides_from_env, variable_for_config_key, EnvOverride, ENV_PREFIX,
    NON_CONFIG_PREFIXES, NON_CONFIG_VARIABLES,
};
pub use layers::{
    effective_broker_value, effective_min_insync_replicas, effective_topic_config,
    effective_topic_i64, invalid_config_value, validate_topic_config, ConfigLayers,
};
pub use properties::parse_properties;

use std::path::PathBuf;

/// Why a configuration could not be loaded. Every variant names the setting (or file).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file line {line}: {message}")]
    Properties { line: usize, message: String },
    #[error("override '{entry}' is not of the form key=value")]
    Override { entry: String },
    /// An `IRONLOG_*` variable that is no valid setting (see `overrides_from_env`).
    #[error("environment variable {variable}: {message}")]
    Environment { variable: String, message: String },
    #[error("Unknown configuration '{name}'")]
    UnknownConfig { name: String },
    /// `message` is Kafka's full text: "Invalid value V for configuration NAME: reason".
    #[error("{message}")]
    InvalidValue { name: String, message: String },
    #[error("Missing required configuration '{name}' which has no default value")]
    MissingRequired { name: String },
    #[error("Invalid configuration {name}: {message}")]
    Invalid { name: String, message: String },
    #[error("Unsupported configuration {name}: {message}")]
    Unsupported { name: String, message: String },
}

impl ConfigError {
    /// The setting this error is about (`None` for file-level errors).
    pub fn config_name(&self) -> Option<&str> {
        match self {
            ConfigError::UnknownConfig { name }
            | ConfigError::InvalidValue { name, .. }
            | ConfigError::MissingRequired { name }
            | ConfigError::Invalid { name, .. }
            | ConfigError::Unsupported { name, .. } => Some(name),
            ConfigError::Io { .. }
            | ConfigError::Properties { .. }
            | ConfigError::Override { .. }
            | ConfigError::Environment { .. } => None,
        }
    }
}
