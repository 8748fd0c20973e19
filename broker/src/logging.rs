//! `logging`: the process's tracing subscriber (text or JSON lines on stderr) and its log
//! levels, changeable at runtime — through the admin listener (`/loggers`) and through
//! IncrementalAlterConfigs / DescribeConfigs on the BROKER_LOGGER resource, as
//! `kafka-configs --entity-type broker-loggers` uses it (KIP-412).
//!
//! A logger is a tracing target (`ironlog::replica`, `openraft`, ...; a target names its
//! module and every module below it) or `root`, the level of everything else. The filter
//! is rebuilt from the levels on every change and swapped in through tracing-subscriber's
//! reload layer; directives of `RUST_LOG` that are not `target=level` (span or field
//! filters) are kept as they were.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use tracing_subscriber::filter::{filter_fn, EnvFilter, LevelFilter};
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, Registry};

/// Kafka's name of the root logger.
pub(crate) const ROOT_LOGGER: &str = "root";
/// The filter when `RUST_LOG` is not set. openraft reports every failed RPC to a down
/// peer; the quorum's own logs say what matters (a peer lost or back, a fatal raft error).
const DEFAULT_FILTER: &str = "info,openraft=off";

/// Why a log level change was refused (Kafka's error classes for BROKER_LOGGER changes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LogLevelError {
    /// INVALID_CONFIG in Kafka.
    #[error("{0}")]
    InvalidConfig(String),
    /// INVALID_REQUEST in Kafka.
    #[error("{0}")]
    InvalidRequest(String),
    #[error("log levels cannot be changed: {0}")]
    Unavailable(String),
}

/// The levels in force: the root level, per-target levels, and directives kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LevelState {
    root: LevelFilter,
    loggers: BTreeMap<String, LevelFilter>,
    other_directives: Vec<String>,
}

impl LevelState {
    fn parse(filter: &str) -> LevelState {
        let mut state = LevelState {
            root: LevelFilter::ERROR,
            loggers: BTreeMap::new(),
            other_directives: Vec::new(),
        };
        for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            if let Ok(level) = directive.parse::<LevelFilter>() {
                state.root = level;
                continue;
            }
            match directive.split_once('=') {
                Some((target, level)) if valid_logger_name(target) => {
                    match level.parse::<LevelFilter>() {
                        Ok(level) => {
                            state.loggers.insert(target.to_owned(), level);
                        }
                        Err(_) => state.other_directives.push(directive.to_owned()),
                    }
                }
                _ => state.other_directives.push(directive.to_owned()),
            }
        }
        state
    }

    fn directives(&self) -> String {
        let mut parts = vec![self.root.to_string().to_ascii_lowercase()];
        parts.extend(
            self.loggers
                .iter()
                .map(|(t, l)| format!("{t}={}", l.to_string().to_ascii_lowercase())),
        );
        parts.extend(self.other_directives.iter().cloned());
        parts.join(",")
    }

    /// The level a logger has now: its own, else its closest parent's, else root's.
    fn effective(&self, logger: &str) -> LevelFilter {
        let mut name = logger;
        loop {
            if let Some(level) = self.loggers.get(name) {
                return *level;
            }
            match name.rsplit_once("::") {
                Some((parent, _)) => name = parent,
                None => return self.root,
            }
        }
    }
}

/// A tracing target a user may name: module-path characters only.
fn valid_logger_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-' | '.'))
}

/// Kafka's level names (log4j's) onto tracing's.
fn parse_kafka_level(level: &str) -> Option<LevelFilter> {
    Some(match level {
        "TRACE" => LevelFilter::TRACE,
        "DEBUG" => LevelFilter::DEBUG,
        "INFO" => LevelFilter::INFO,
        "WARN" => LevelFilter::WARN,
        "ERROR" | "FATAL" => LevelFilter::ERROR,
        _ => return None,
    })
}

/// tracing's level as Kafka names it (OFF for a target that logs nothing).
fn kafka_level_name(level: LevelFilter) -> &'static str {
    match level {
        LevelFilter::TRACE => "TRACE",
        LevelFilter::DEBUG => "DEBUG",
        LevelFilter::INFO => "INFO",
        LevelFilter::WARN => "WARN",
        LevelFilter::ERROR => "ERROR",
        _ => "OFF",
    }
}

/// Kafka's sorted list of valid levels, for error messages.
const VALID_LEVELS: &str = "DEBUG, ERROR, FATAL, INFO, TRACE, WARN";

/// The process's log levels and the handle that swaps the filter.
pub(crate) struct LogLevels {
    state: Mutex<LevelState>,
    handle: reload::Handle<EnvFilter, Registry>,
}

static LOG_LEVELS: OnceLock<LogLevels> = OnceLock::new();

/// The tracing target of the authorization audit log (`handlers::authorization`): denied
/// requests at INFO, allowed ones at DEBUG.
pub(crate) const AUDIT_TARGET: &str = "ironlog::audit";

/// Installs the process's subscriber: JSON lines or text on stderr (no colour codes unless
/// stderr is a terminal), filtered by `RUST_LOG` or `info,openraft=off`; with `audit_file`
/// (`logger.audit.file`) the audit log goes there as JSON lines, appended, and not to
/// stderr. Call once; fails only when the audit file cannot be opened.
pub fn init_logging(json: bool, audit_file: Option<&Path>) -> std::io::Result<()> {
    let initial = std::env::var("RUST_LOG")
        .ok()
        .filter(|f| !f.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_FILTER.to_owned());
    let state = LevelState::parse(&initial);
    let filter = EnvFilter::try_new(state.directives())
        .or_else(|_| EnvFilter::try_new(DEFAULT_FILTER))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let audit_file = audit_file
        .map(|path| OpenOptions::new().create(true).append(true).open(path))
        .transpose()?;
    let audit_to_file = audit_file.is_some();
    let not_audit = filter_fn(move |meta| !(audit_to_file && meta.target() == AUDIT_TARGET));
    let audit_layer = audit_file.map(|file| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(Mutex::new(file))
            .with_filter(filter_fn(|meta| meta.target() == AUDIT_TARGET))
    });
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(audit_layer);
    let installed = if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr)
                    .with_filter(not_audit),
            )
            .try_init()
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(ansi)
                    .with_filter(not_audit),
            )
            .try_init()
    };
    if installed.is_ok() {
        let _ = LOG_LEVELS.set(LogLevels {
            state: Mutex::new(state),
            handle,
        });
    }
    Ok(())
}

/// The process's log levels, when [`init_logging`] installed the subscriber.
pub(crate) fn log_levels() -> Result<&'static LogLevels, LogLevelError> {
    LOG_LEVELS.get().ok_or_else(|| {
        LogLevelError::Unavailable("this process did not install the reloadable logger".into())
    })
}

/// One change of a logger's level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LevelChange {
    /// SET to a Kafka level name.
    Set(String),
    /// DELETE: the logger follows its parent (root cannot be deleted).
    Unset,
}

impl LogLevels {
    /// Every logger with a level of its own, root first, with its Kafka level name.
    pub(crate) fn describe(&self) -> Vec<(String, &'static str)> {
        let state = self.lock();
        std::iter::once((ROOT_LOGGER.to_owned(), kafka_level_name(state.root)))
            .chain(
                state
                    .loggers
                    .iter()
                    .map(|(name, level)| (name.clone(), kafka_level_name(*level))),
            )
            .collect()
    }

    /// The level `logger` logs at now (its own or inherited).
    pub(crate) fn effective(&self, logger: &str) -> &'static str {
        let state = self.lock();
        if logger == ROOT_LOGGER {
            kafka_level_name(state.root)
        } else {
            kafka_level_name(state.effective(logger))
        }
    }

    /// Checks changes as Kafka's `RuntimeLoggerManager` does, without applying them.
    pub(crate) fn validate(changes: &[(String, LevelChange)]) -> Result<(), LogLevelError> {
        for (logger, change) in changes {
            if logger != ROOT_LOGGER && !valid_logger_name(logger) {
                return Err(LogLevelError::InvalidConfig(format!(
                    "Logger {logger} does not exist!"
                )));
            }
            match change {
                LevelChange::Set(level) if parse_kafka_level(level).is_none() => {
                    return Err(LogLevelError::InvalidConfig(format!(
                        "Cannot set the log level of {logger} to {level} as it is not a supported log level. Valid log levels are {VALID_LEVELS}"
                    )))
                }
                LevelChange::Unset if logger == ROOT_LOGGER => {
                    return Err(LogLevelError::InvalidRequest(format!(
                        "Removing the log level of the {ROOT_LOGGER} logger is not allowed"
                    )))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Validates and applies `changes` together (all or none), then swaps the filter.
    pub(crate) fn apply(&self, changes: &[(String, LevelChange)]) -> Result<(), LogLevelError> {
        Self::validate(changes)?;
        let mut state = self.lock();
        let mut next = state.clone();
        for (logger, change) in changes {
            match change {
                LevelChange::Set(level) => {
                    let level = parse_kafka_level(level).unwrap_or(LevelFilter::INFO);
                    if logger == ROOT_LOGGER {
                        next.root = level;
                    } else {
                        next.loggers.insert(logger.clone(), level);
                    }
                }
                LevelChange::Unset => {
                    next.loggers.remove(logger);
                }
            }
        }
        let filter = EnvFilter::try_new(next.directives())
            .map_err(|e| LogLevelError::InvalidConfig(format!("invalid log filter: {e}")))?;
        self.handle
            .reload(filter)
            .map_err(|e| LogLevelError::Unavailable(e.to_string()))?;
        *state = next;
        drop(state);
        for (logger, change) in changes {
            match change {
                LevelChange::Set(level) => {
                    tracing::warn!(logger = %logger, level = %level, "updated the log level")
                }
                LevelChange::Unset => tracing::warn!(logger = %logger, "unset the log level"),
            }
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LevelState> {
        // The state is replaced whole after a successful reload; a poisoned lock still
        // holds a consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_into_levels_and_back() {
        let state = LevelState::parse("info,openraft=warn,ironlog::replica=debug,[span]=trace");
        assert_eq!(state.root, LevelFilter::INFO);
        assert_eq!(state.loggers.get("openraft"), Some(&LevelFilter::WARN));
        assert_eq!(state.other_directives, vec!["[span]=trace".to_string()]);
        assert_eq!(
            state.directives(),
            "info,ironlog::replica=debug,openraft=warn,[span]=trace"
        );
        assert_eq!(state.effective("ironlog::replica::x"), LevelFilter::DEBUG);
        assert_eq!(state.effective("ironlog::network"), LevelFilter::INFO);
    }

    #[test]
    fn changes_are_checked_as_kafka_checks_them() {
        let set = |l: &str, v: &str| vec![(l.to_string(), LevelChange::Set(v.to_string()))];
        assert!(LogLevels::validate(&set("ironlog::replica", "DEBUG")).is_ok());
        assert!(matches!(
            LogLevels::validate(&set("ironlog", "LOUD")),
            Err(LogLevelError::InvalidConfig(m)) if m.contains("Valid log levels are DEBUG, ERROR, FATAL, INFO, TRACE, WARN")
        ));
        assert!(matches!(
            LogLevels::validate(&[(ROOT_LOGGER.to_string(), LevelChange::Unset)]),
            Err(LogLevelError::InvalidRequest(_))
        ));
        assert!(matches!(
            LogLevels::validate(&set("a b", "INFO")),
            Err(LogLevelError::InvalidConfig(m)) if m == "Logger a b does not exist!"
        ));
    }
}
