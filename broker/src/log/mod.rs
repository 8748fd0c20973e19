//! Storage: Kafka's on-disk log layout.
//!
//! A partition's [`Log`] is a directory of [`LogSegment`]s (`<base offset>.log` with a sparse
//! `.index` and `.timeindex`, plus a `.txnindex` of aborted transactions once one ends
//! there), a `leader-epoch-checkpoint` and producer-state snapshots. The storage layer validates record-batch *headers* (magic, CRC32C, lengths,
//! counts, codec): produced bytes are stored as received with only base offset and
//! partition leader epoch rewritten, and reads return stored bytes. Records are decoded
//! only by the [`LogCleaner`] (compaction, which also re-encodes partly kept batches), by
//! timestamp lookups and by produce where Kafka's per-record checks need the records
//! ([`batch::validate_records`]: keys on compacted topics, timestamps the header cannot
//! vouch for).
//!
//! All functions here do blocking file I/O: callers on the async runtime use
//! `spawn_blocking`.

pub mod batch;
mod checkpoint;
mod cleaner;
mod epoch;
mod file_cache;
mod index;
#[allow(clippy::module_inception)]
mod log;
mod manager;
mod producer_state;
mod segment;
mod txn_index;

pub use batch::{BatchHeader, CompressionType, ControlRecord, ControlRecordType};
pub use cleaner::{clean_log, CleanStats, CleanerConfig, LogCleaner};
pub use file_cache::{capacity_for_limit, open_files_limit, FileCache, FileCacheStats};
pub use log::{AppendInfo, AppendOrigin, FetchData, Log, OffsetAndTimestamp, TxnVerification};
pub use manager::LogManager;
pub use producer_state::{
    BatchMetadata, ProducerEntry, ProducerStateManager, SequenceCheck, PRODUCER_BATCHES_RETAINED,
};
pub use segment::LogSegment;
pub use txn_index::AbortedTxn;

use std::path::PathBuf;

use crate::error::RecordError;

/// Per-log configuration (the storage subset of a topic's effective config).
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll a new segment when the active one would exceed this.
    pub segment_bytes: u64,
    /// `segment.ms`: roll when the active segment's first batch is older than this.
    pub segment_ms: i64,
    /// `segment.index.bytes`: maximum size of an offset or time index file.
    pub segment_index_bytes: u64,
    /// `index.interval.bytes`: bytes between two sparse index entries.
    pub index_interval_bytes: u64,
    /// `retention.ms`: delete segments whose newest timestamp is older; -1 = forever.
    pub retention_ms: i64,
    /// `retention.bytes`: delete oldest segments while the log is larger; -1 = no limit.
    pub retention_bytes: i64,
    /// `max.message.bytes`: largest record batch accepted (after compression).
    pub max_message_bytes: u32,
    /// `message.timestamp.type`: CreateTime or LogAppendTime.
    pub timestamp_type: TimestampType,
    /// `message.timestamp.before.max.ms`: how far a CreateTime record may lie behind the
    /// broker clock (`i64::MAX` = no limit, Kafka's default).
    pub timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: how far a CreateTime record may lie ahead of the
    /// broker clock (Kafka 4's default: one hour).
    pub timestamp_after_max_ms: i64,
    /// `flush.messages`: fsync after this many messages; `i64::MAX` = leave it to the OS.
    pub flush_messages: i64,
    /// `flush.ms`: fsync when the last flush is older than this; `i64::MAX` = never.
    pub flush_ms: i64,
    /// `file.delete.delay.ms`: how long a deleted segment lingers as `.deleted`.
    pub file_delete_delay_ms: i64,
    /// `cleanup.policy` contains `delete` (retention applies).
    pub cleanup_delete: bool,
    /// `cleanup.policy` contains `compact`.
    pub cleanup_compact: bool,
    /// `delete.retention.ms`: how long tombstones stay readable in compacted logs.
    pub delete_retention_ms: i64,
    /// `min.cleanable.dirty.ratio`: dirty share of a compacted log that triggers cleaning.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: records younger than this are never compacted.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: records older than this are compacted whatever the ratio.
    pub max_compaction_lag_ms: i64,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            segment_index_bytes: 10 * 1024 * 1024,
            index_interval_bytes: 4096,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            max_message_bytes: 1024 * 1024 + 12,
            timestamp_type: TimestampType::CreateTime,
            timestamp_before_max_ms: i64::MAX,
            timestamp_after_max_ms: 60 * 60 * 1000,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            file_delete_delay_ms: 60_000,
            cleanup_delete: true,
            cleanup_compact: false,
            delete_retention_ms: 24 * 60 * 60 * 1000,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// Storage failures. Each maps to one Kafka error code (see [`LogError::response_error`]).
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// CRC mismatch or a batch whose lengths do not add up (CORRUPT_MESSAGE).
    #[error("corrupt record batch: {0}")]
    CorruptRecord(String),
    /// A well-formed batch that breaks a rule (INVALID_RECORD), e.g. bad record count.
    #[error("invalid record batch: {0}")]
    InvalidRecord(String),
    /// Records of a produced batch broke per-record rules (KIP-467; Kafka's
    /// `RecordValidationException`): `record_errors` names every refused record, in batch
    /// order. Nothing of the batch is written.
    #[error("{message}")]
    RecordValidation {
        kind: RecordValidationKind,
        message: String,
        record_errors: Vec<RecordError>,
    },
    /// Magic other than 2 (UNSUPPORTED_FOR_MESSAGE_FORMAT).
    #[error("unsupported record batch magic {0}; only v2 batches are accepted")]
    UnsupportedMagic(i8),
    /// Compression codec id outside 0..=4 (UNSUPPORTED_COMPRESSION_TYPE).
    #[error("unsupported compression codec id {0}")]
    UnsupportedCompression(u8),
    /// Batch larger than `max.message.bytes` (MESSAGE_TOO_LARGE).
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    RecordTooLarge { size: usize, max: u32 },
    /// Fetch or DeleteRecords offset outside `[log_start_offset, log_end_offset]`.
    #[error("offset {offset} out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    /// An idempotent producer's sequence does not follow its last one
    /// (OUT_OF_ORDER_SEQUENCE_NUMBER).
    #[error("out of order sequence number: {0}")]
    OutOfOrderSequence(String),
    /// An idempotent producer writes with an epoch older than the partition has seen
    /// (INVALID_PRODUCER_EPOCH).
    #[error("invalid producer epoch: {0}")]
    InvalidProducerEpoch(String),
    /// A producer with an ongoing transaction wrote a non-transactional batch
    /// (INVALID_TXN_STATE).
    #[error("invalid transaction state: {0}")]
    InvalidTxnState(String),
    /// A transaction marker from an older coordinator epoch
    /// (TRANSACTION_COORDINATOR_FENCED).
    #[error("transaction coordinator fenced: {0}")]
    TransactionCoordinatorFenced(String),
    /// Disk failure (KAFKA_STORAGE_ERROR).
    #[error("storage I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl LogError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// The Kafka error code a client sees for this failure.
    pub fn response_error(&self) -> kafka_protocol::error::ResponseError {
        use kafka_protocol::error::ResponseError as E;
        match self {
            LogError::CorruptRecord(_) => E::CorruptMessage,
            LogError::InvalidRecord(_) => E::InvalidRecord,
            LogError::RecordValidation { kind, .. } => match kind {
                RecordValidationKind::InvalidRecord => E::InvalidRecord,
                RecordValidationKind::InvalidTimestamp => E::InvalidTimestamp,
            },
            LogError::UnsupportedMagic(_) => E::UnsupportedForMessageFormat,
            LogError::UnsupportedCompression(_) => E::UnsupportedCompressionType,
            LogError::RecordTooLarge { .. } => E::MessageTooLarge,
            LogError::OffsetOutOfRange { .. } => E::OffsetOutOfRange,
            LogError::OutOfOrderSequence(_) => E::OutOfOrderSequenceNumber,
            LogError::InvalidProducerEpoch(_) => E::InvalidProducerEpoch,
            LogError::InvalidTxnState(_) => E::InvalidTxnState,
            LogError::TransactionCoordinatorFenced(_) => E::TransactionCoordinatorFenced,
            LogError::Io { .. } => E::KafkaStorageError,
        }
    }
}

/// The code of a [`LogError::RecordValidation`]: INVALID_TIMESTAMP when any refused record
/// was refused for its timestamp, else INVALID_RECORD (as Kafka decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordValidationKind {
    InvalidRecord,
    InvalidTimestamp,
}

impl From<LogError> for crate::error::ApiError {
    fn from(e: LogError) -> Self {
        let code = e.response_error();
        match e {
            LogError::RecordValidation {
                message,
                record_errors,
                ..
            } => crate::error::ApiError::new(code, message).with_record_errors(record_errors),
            other => crate::error::ApiError::new(code, other.to_string()),
        }
    }
}
