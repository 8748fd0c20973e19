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

pub(crate) mod batch;
mod checkpoint;
mod cleaner;
mod config;
mod epoch;
mod file_cache;
mod index;
#[allow(clippy::module_inception)]
mod log;
mod manager;
mod producer_state;
mod segment;
mod txn_index;

pub(crate) use batch::{BatchHeader, ControlRecordType};
pub(crate) use cleaner::{CleanerConfig, LogCleaner};
pub(crate) use config::{LogConfig, TimestampType};
pub(crate) use file_cache::{capacity_for_limit, open_files_limit, FileCache};
pub(crate) use log::{AppendInfo, AppendOrigin, Log, Records, RecordsRead, TxnVerification};
pub(crate) use manager::LogManager;
pub(crate) use segment::FileSlice;
pub(crate) use txn_index::AbortedTxn;

use std::path::PathBuf;

use crate::error::RecordError;

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
