//! Errors of the benchmark tool.

use std::path::PathBuf;

use rdkafka::error::KafkaError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum BenchError {
    #[error("address {address:?} refused: {reason}")]
    Address { address: String, reason: String },
    #[error("kafka client: {0}")]
    Kafka(#[from] KafkaError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("broker binary {path} not found (build it with `cargo build --release -p ironlog`, or pass --broker-bin)")]
    BrokerBinaryMissing { path: PathBuf },
    #[error("spawned broker did not start: {reason}; last broker log lines:\n{log_tail}")]
    BrokerStart { reason: String, log_tail: String },
    #[error("/proc/{pid}/{file}: {reason}")]
    Proc {
        pid: u32,
        file: &'static str,
        reason: String,
    },
    #[error("timed out after {waited_ms} ms: {what}")]
    Timeout { what: String, waited_ms: u128 },
    #[error("{what} refused or unanswered: {reason}")]
    Refused { what: String, reason: String },
    #[error("{tool}: {reason}")]
    JavaTool { tool: &'static str, reason: String },
    #[error("topic {topic}: {reason}")]
    Topic { topic: String, reason: String },
}

impl BenchError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        BenchError::Io {
            context: context.into(),
            source,
        }
    }
}
