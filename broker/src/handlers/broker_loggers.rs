//! The BROKER_LOGGER config resource (KIP-412): this broker's log levels as configs, for
//! `kafka-configs --entity-type broker-loggers --entity-name ID --describe | --alter
//! --add-config LOGGER=LEVEL | --delete-config LOGGER`. DescribeConfigs lists every logger
//! with a level of its own (`root` first) as DYNAMIC_BROKER_LOGGER_CONFIG entries;
//! IncrementalAlterConfigs SETs or DELETEs levels, checked as Kafka's
//! `RuntimeLoggerManager` checks them. Levels live in `crate::logging`, not in the
//! metadata log: like Kafka's, they are this process's and reset at restart.

use kafka_protocol::messages::describe_configs_response::DescribeConfigsResourceResult;
use kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource;

use super::{str_bytes, Broker};
use crate::error::{ApiError, ResponseError};
use crate::logging::{log_levels, LevelChange, LogLevelError, LogLevels};

/// Kafka's `ConfigSource.DYNAMIC_BROKER_LOGGER_CONFIG`.
const DYNAMIC_BROKER_LOGGER_CONFIG: i8 = 6;

fn api_error(e: LogLevelError) -> ApiError {
    match e {
        LogLevelError::InvalidConfig(m) => ApiError::new(ResponseError::InvalidConfig, m),
        LogLevelError::InvalidRequest(m) => ApiError::new(ResponseError::InvalidRequest, m),
        LogLevelError::Unavailable(m) => ApiError::new(ResponseError::UnknownServerError, m),
    }
}

/// The resource name must be this broker's id (Kafka's wording for each request).
fn check_node_id(broker: &Broker, name: &str, describe: bool) -> Result<(), ApiError> {
    let invalid = |m: String| ApiError::new(ResponseError::InvalidRequest, m);
    let node_id = broker.node_id;
    if describe && name.is_empty() {
        return Err(invalid("Broker id must not be empty".to_string()));
    }
    match name.parse::<i32>() {
        Ok(id) if id == node_id => Ok(()),
        Ok(id) if describe => Err(invalid(format!(
            "Unexpected broker id, expected {node_id} but received {id}"
        ))),
        Ok(id) => Err(invalid(format!(
            "Unexpected node id. Expected {node_id}, but received {id}"
        ))),
        Err(_) if describe => Err(invalid(format!(
            "Broker id must be an integer, but it is: {name}"
        ))),
        Err(_) => Err(invalid(format!(
            "Node id must be an integer, but it is: {name}"
        ))),
    }
}

/// DescribeConfigs of BROKER_LOGGER `name`: the loggers named in `keys` (all if none).
pub(super) fn describe(
    broker: &Broker,
    name: &str,
    keys: Option<&[String]>,
) -> Result<Vec<DescribeConfigsResourceResult>, ApiError> {
    check_node_id(broker, name, true)?;
    let levels = log_levels().map_err(api_error)?;
    Ok(levels
        .describe()
        .into_iter()
        .filter(|(logger, _)| keys.is_none_or(|k| k.contains(logger)))
        .map(|(logger, level)| {
            let mut r = DescribeConfigsResourceResult::default();
            r.name = str_bytes(&logger);
            r.value = Some(str_bytes(level));
            r.config_source = DYNAMIC_BROKER_LOGGER_CONFIG;
            r.read_only = false;
            r.is_sensitive = false;
            r
        })
        .collect())
}

/// IncrementalAlterConfigs of one BROKER_LOGGER resource: all changes or none.
pub(super) fn alter(
    broker: &Broker,
    res: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), ApiError> {
    check_node_id(broker, &res.resource_name, false)?;
    let mut changes = Vec::with_capacity(res.configs.len());
    for c in &res.configs {
        let change = match c.config_operation {
            0 => LevelChange::Set(c.value.as_deref().unwrap_or_default().to_string()),
            1 => LevelChange::Unset,
            2 => {
                return Err(ApiError::new(
                    ResponseError::InvalidRequest,
                    "APPEND operation is not allowed for the BROKER_LOGGER resource",
                ))
            }
            3 => {
                return Err(ApiError::new(
                    ResponseError::InvalidRequest,
                    "SUBTRACT operation is not allowed for the BROKER_LOGGER resource",
                ))
            }
            op => {
                return Err(ApiError::new(
                    ResponseError::InvalidRequest,
                    format!(
                        "Unknown operation type {op} is not allowed for the BROKER_LOGGER resource"
                    ),
                ))
            }
        };
        changes.push((c.name.to_string(), change));
    }
    if validate_only {
        return LogLevels::validate(&changes).map_err(api_error);
    }
    log_levels()
        .map_err(api_error)?
        .apply(&changes)
        .map_err(api_error)
}
