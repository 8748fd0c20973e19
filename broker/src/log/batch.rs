//! Record batch (magic v2) header parsing and validation, without decoding records.
//!
//! Layout (61-byte header): baseOffset i64 | batchLength i32 | partitionLeaderEpoch i32 |
//! magic i8 | crc u32 (CRC32C over attributes..end) | attributes i16 | lastOffsetDelta i32 |
//! baseTimestamp i64 | maxTimestamp i64 | producerId i64 | producerEpoch i16 |
//! baseSequence i32 | recordCount i32 | records...
//!
//! Invariant: this module never decodes records on the fetch path, and on the produce path
//! only where Kafka's per-record checks need the records ([`validate_records`]: keys on
//! compacted topics, timestamps the header cannot vouch for). Timestamp lookups
//! (ListOffsets) decode through [`record_timestamps`]; control batches (transaction
//! markers) are decoded by [`parse_control_record`] when the log replays them; the cleaner
//! decodes what it compacts.

use kafka_protocol::records::Record;

use super::{LogConfig, LogError, RecordValidationKind, TimestampType};
use crate::error::RecordError;

/// Size of the v2 batch header up to and including the record count.
pub(crate) const BATCH_HEADER_BYTES: usize = 61;
/// Offset of the first byte covered by the CRC (attributes).
pub(crate) const CRC_START: usize = 21;
/// Bytes before `batchLength` counts: baseOffset (8) + batchLength (4).
pub(crate) const LOG_OVERHEAD_BYTES: usize = 12;
/// Smallest legal `batchLength`: the header after the length field.
pub(crate) const BATCH_LENGTH_MIN: i32 = (BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES) as i32;

const BASE_OFFSET_AT: usize = 0;
const BATCH_LENGTH_AT: usize = 8;
const PARTITION_LEADER_EPOCH_AT: usize = 12;
const MAGIC_AT: usize = 16;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const BASE_TIMESTAMP_AT: usize = 27;
const MAX_TIMESTAMP_AT: usize = 35;
const PRODUCER_ID_AT: usize = 43;
const PRODUCER_EPOCH_AT: usize = 51;
const BASE_SEQUENCE_AT: usize = 53;
const RECORD_COUNT_AT: usize = 57;

const ATTR_COMPRESSION_MASK: i16 = 0x07;
const ATTR_TIMESTAMP_TYPE: i16 = 1 << 3;
const ATTR_TRANSACTIONAL: i16 = 1 << 4;
const ATTR_CONTROL: i16 = 1 << 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CompressionType {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl CompressionType {
    /// The codec of attribute bits 0-2; ids outside 0..=4 are `UnsupportedCompression`.
    pub(crate) fn from_id(id: u8) -> Result<Self, LogError> {
        match id {
            0 => Ok(Self::None),
            1 => Ok(Self::Gzip),
            2 => Ok(Self::Snappy),
            3 => Ok(Self::Lz4),
            4 => Ok(Self::Zstd),
            other => Err(LogError::UnsupportedCompression(other)),
        }
    }
}

/// Parsed header fields of one v2 record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchHeader {
    pub base_offset: i64,
    /// `batchLength`: bytes after the length field; the batch spans `12 + batch_length`.
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}
fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

impl BatchHeader {
    /// Parses the 61 header bytes at the start of `bytes` (big-endian). Checks only that
    /// enough bytes are present; see [`validate_batches`] for the full checks.
    pub(crate) fn parse(bytes: &[u8]) -> Result<BatchHeader, LogError> {
        if bytes.len() < BATCH_HEADER_BYTES {
            return Err(LogError::CorruptRecord(format!(
                "{} bytes cannot hold a {BATCH_HEADER_BYTES}-byte record batch header",
                bytes.len()
            )));
        }
        Ok(BatchHeader {
            base_offset: be_i64(bytes, BASE_OFFSET_AT),
            batch_length: be_i32(bytes, BATCH_LENGTH_AT),
            partition_leader_epoch: be_i32(bytes, PARTITION_LEADER_EPOCH_AT),
            magic: bytes[MAGIC_AT] as i8,
            crc: be_i32(bytes, CRC_AT) as u32,
            attributes: be_i16(bytes, ATTRIBUTES_AT),
            last_offset_delta: be_i32(bytes, LAST_OFFSET_DELTA_AT),
            base_timestamp: be_i64(bytes, BASE_TIMESTAMP_AT),
            max_timestamp: be_i64(bytes, MAX_TIMESTAMP_AT),
            producer_id: be_i64(bytes, PRODUCER_ID_AT),
            producer_epoch: be_i16(bytes, PRODUCER_EPOCH_AT),
            base_sequence: be_i32(bytes, BASE_SEQUENCE_AT),
            record_count: be_i32(bytes, RECORD_COUNT_AT),
        })
    }

    /// Codec from attribute bits 0-2.
    pub(crate) fn compression_type(&self) -> Result<CompressionType, LogError> {
        CompressionType::from_id((self.attributes & ATTR_COMPRESSION_MASK) as u8)
    }

    /// Attribute bit 4.
    pub(crate) fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }

    /// Attribute bit 5.
    pub(crate) fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }

    /// Attribute bit 3.
    pub(crate) fn timestamp_type(&self) -> TimestampType {
        if self.attributes & ATTR_TIMESTAMP_TYPE != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Offset of the last record (`baseOffset + lastOffsetDelta`).
    pub(crate) fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// The offset after this batch.
    pub(crate) fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }

    /// Bytes the whole batch occupies (`12 + batchLength`).
    pub(crate) fn total_size(&self) -> usize {
        LOG_OVERHEAD_BYTES + self.batch_length.max(0) as usize
    }

    /// Checks every rule that can be checked without the record bytes being in memory:
    /// magic, length, counts and codec (not the CRC). Stored batches may be sparse (the
    /// cleaner keeps a batch's last offset while removing records), so only
    /// `lastOffsetDelta >= recordCount - 1` is required here; client batches must also be
    /// dense (see [`Self::check_dense`]).
    pub(crate) fn check_shape(&self) -> Result<(), LogError> {
        if self.magic != 2 {
            return Err(LogError::UnsupportedMagic(self.magic));
        }
        if self.batch_length < BATCH_LENGTH_MIN {
            return Err(LogError::CorruptRecord(format!(
                "batchLength {} is below the minimum {BATCH_LENGTH_MIN}",
                self.batch_length
            )));
        }
        if self.record_count < 0 {
            return Err(LogError::InvalidRecord(format!(
                "negative record count {}",
                self.record_count
            )));
        }
        if i64::from(self.last_offset_delta) < i64::from(self.record_count) - 1 {
            return Err(LogError::InvalidRecord(format!(
                "lastOffsetDelta {} is too small for record count {}",
                self.last_offset_delta, self.record_count
            )));
        }
        if self.last_offset_delta < 0 {
            return Err(LogError::InvalidRecord(format!(
                "negative lastOffsetDelta {}",
                self.last_offset_delta
            )));
        }
        self.compression_type()?;
        Ok(())
    }

    /// Client (produce) batches carry consecutive offsets: `lastOffsetDelta == count - 1`.
    pub(crate) fn check_dense(&self) -> Result<(), LogError> {
        if self.record_count > 0
            && i64::from(self.last_offset_delta) != i64::from(self.record_count) - 1
        {
            return Err(LogError::InvalidRecord(format!(
                "lastOffsetDelta {} does not match record count {}",
                self.last_offset_delta, self.record_count
            )));
        }
        Ok(())
    }
}

/// Validates one complete batch held in `batch` (exactly `total_size` bytes): shape + CRC32C.
pub(crate) fn validate_batch(batch: &[u8]) -> Result<BatchHeader, LogError> {
    let header = BatchHeader::parse(batch)?;
    header.check_shape()?;
    if batch.len() != header.total_size() {
        return Err(LogError::CorruptRecord(format!(
            "batch spans {} bytes but batchLength says {}",
            batch.len(),
            header.total_size()
        )));
    }
    let crc_actual = crc32c::crc32c(&batch[CRC_START..]);
    if crc_actual != header.crc {
        return Err(LogError::CorruptRecord(format!(
            "CRC32C mismatch in batch at base offset {}: stored {:#010x}, computed {crc_actual:#010x}",
            header.base_offset, header.crc
        )));
    }
    Ok(header)
}

/// Splits client-produced `records` into v2 batches and validates each one (length, magic,
/// CRC32C, dense counts, codec, `max_message_bytes`). Records are never decoded. Trailing
/// partial bytes are `CorruptRecord`.
pub(crate) fn validate_batches(
    records: &[u8],
    max_message_bytes: u32,
) -> Result<Vec<BatchHeader>, LogError> {
    let headers = validate_stored_batches(records, max_message_bytes)?;
    for header in &headers {
        header.check_dense()?;
    }
    Ok(headers)
}

/// As [`validate_batches`] but for batches that already went through a log (replication,
/// recovery): compacted batches may have offset gaps inside.
pub(crate) fn validate_stored_batches(
    records: &[u8],
    max_message_bytes: u32,
) -> Result<Vec<BatchHeader>, LogError> {
    let mut headers = Vec::new();
    let mut position = 0usize;
    // Bounded: each iteration consumes at least BATCH_HEADER_BYTES.
    while position < records.len() {
        let rest = &records[position..];
        if rest.len() < BATCH_HEADER_BYTES {
            return Err(LogError::CorruptRecord(format!(
                "{} trailing bytes at position {position} are not a whole record batch",
                rest.len()
            )));
        }
        let header = BatchHeader::parse(rest)?;
        if header.magic != 2 {
            return Err(LogError::UnsupportedMagic(header.magic));
        }
        if header.batch_length < BATCH_LENGTH_MIN || header.total_size() > rest.len() {
            return Err(LogError::CorruptRecord(format!(
                "batchLength {} at position {position} does not fit the {} bytes left",
                header.batch_length,
                rest.len()
            )));
        }
        let size = header.total_size();
        if size > max_message_bytes as usize {
            return Err(LogError::RecordTooLarge {
                size,
                max: max_message_bytes,
            });
        }
        validate_batch(&rest[..size])?;
        headers.push(header);
        position += size;
    }
    Ok(headers)
}

/// Rewrites one batch in place for appending: base offset and partition leader epoch (both
/// outside the CRC), and for LogAppendTime (`log_append_time_ms = Some(now)`) the
/// timestamp-type attribute bit and maxTimestamp, followed by a CRC32C recomputation; for
/// CreateTime a LogAppendTime bit a producer set is cleared (CRC recomputed too).
pub(crate) fn rewrite_for_append(
    batch: &mut [u8],
    base_offset: i64,
    partition_leader_epoch: i32,
    log_append_time_ms: Option<i64>,
) {
    debug_assert!(
        batch.len() >= BATCH_HEADER_BYTES,
        "rewrite of a batch shorter than its header"
    );
    batch[BASE_OFFSET_AT..BASE_OFFSET_AT + 8].copy_from_slice(&base_offset.to_be_bytes());
    batch[PARTITION_LEADER_EPOCH_AT..PARTITION_LEADER_EPOCH_AT + 4]
        .copy_from_slice(&partition_leader_epoch.to_be_bytes());
    let attributes = be_i16(batch, ATTRIBUTES_AT);
    if let Some(now_ms) = log_append_time_ms {
        let attributes = attributes | ATTR_TIMESTAMP_TYPE;
        batch[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
        batch[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&now_ms.to_be_bytes());
    } else if attributes & ATTR_TIMESTAMP_TYPE != 0 {
        // A producer's LogAppendTime batch that passed `validate_records` on a CreateTime
        // topic is stored as CreateTime, as Kafka does.
        let attributes = attributes & !ATTR_TIMESTAMP_TYPE;
        batch[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
    } else {
        return;
    }
    let crc = crc32c::crc32c(&batch[CRC_START..]);
    batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}

/// `(offset, timestamp)` of every record in one batch. The ONE place records are decoded
/// (with decompression); used only by timestamp lookups, never on produce/fetch paths.
/// For LogAppendTime batches every record carries the batch's maxTimestamp, as in Kafka.
pub(crate) fn record_timestamps(batch: &[u8]) -> Result<Vec<(i64, i64)>, LogError> {
    let (header, records) = decode(batch)?;
    let log_append_time = header.timestamp_type() == TimestampType::LogAppendTime;
    Ok(records
        .iter()
        .map(|r| {
            (
                r.offset,
                if log_append_time {
                    header.max_timestamp
                } else {
                    r.timestamp
                },
            )
        })
        .collect())
}

/// Every record of one stored batch, decompressed. Used by the log cleaner and by
/// [`validate_records`]; never on the fetch path.
pub(crate) fn decode_records(batch: &[u8]) -> Result<Vec<Record>, LogError> {
    decode(batch).map(|(_, records)| records)
}

/// The header and the decompressed records of one stored batch.
fn decode(batch: &[u8]) -> Result<(BatchHeader, Vec<Record>), LogError> {
    let header = BatchHeader::parse(batch)?;
    let mut buf = bytes::Bytes::copy_from_slice(batch);
    let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut buf).map_err(|e| {
        LogError::CorruptRecord(format!(
            "cannot decode records of batch at {}: {e}",
            header.base_offset
        ))
    })?;
    Ok((header, set.records))
}

/// Kafka's "no timestamp" value of a record or batch.
const NO_TIMESTAMP: i64 = -1;
/// Refused records quoted in a [`LogError::RecordValidation`]'s summary message.
const RECORD_ERRORS_QUOTED: usize = 3;

/// Kafka's per-record checks of one produced (non-control) batch (`LogValidator`, KIP-467):
/// a compacted topic needs every record's key (INVALID_RECORD); on a CreateTime topic a
/// record's timestamp must lie within `[now - message.timestamp.before.max.ms, now +
/// message.timestamp.after.max.ms]` (INVALID_TIMESTAMP); producers may not send
/// LogAppendTime batches (INVALID_TIMESTAMP, unless a CreateTime topic gets one with a
/// timestamp, which is range-checked). A record gets at most one error, the key's first.
/// Every refused record is named by its batch index in the error.
///
/// Decodes the records (with decompression) only when the header cannot answer: compacted
/// topics, a finite `message.timestamp.before.max.ms` (the header holds no minimum
/// timestamp), or a header maxTimestamp beyond the upper bound (to find the records that
/// are). Otherwise the header's maxTimestamp bounds every record's timestamp, as it does
/// for the time index; a client that understates it is not caught (Kafka recomputes it).
pub(crate) fn validate_records(
    batch: &[u8],
    header: &BatchHeader,
    config: &LogConfig,
    now_ms: i64,
) -> Result<(), LogError> {
    if header.is_control() {
        // Clients' control batches are refused as a whole by the caller.
        return Ok(());
    }
    let rules = RecordRules::new(header, config, now_ms);
    let upper_exceeded = rules.check_range
        && header.max_timestamp != NO_TIMESTAMP
        && rules.out_of_range(header.max_timestamp);
    let decode = config.cleanup_compact
        || (rules.check_range && config.timestamp_before_max_ms < i64::MAX)
        || (upper_exceeded && !rules.producer_log_append_time);
    let mut errors: Vec<(RecordError, bool)> = Vec::new();
    if decode {
        for (index, record) in decode_records(batch)?.iter().enumerate() {
            let timestamp = if rules.producer_log_append_time {
                header.max_timestamp
            } else {
                record.timestamp
            };
            errors.extend(rules.check(index, record.key.is_some(), timestamp));
        }
    } else if rules.producer_log_append_time || upper_exceeded {
        // Every record of a LogAppendTime batch reads as the header's maxTimestamp.
        for index in 0..usize::try_from(header.record_count).unwrap_or(0) {
            errors.extend(rules.check(index, true, header.max_timestamp));
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    let kind = if errors.iter().any(|(_, timestamp)| *timestamp) {
        RecordValidationKind::InvalidTimestamp
    } else {
        RecordValidationKind::InvalidRecord
    };
    let record_errors: Vec<RecordError> = errors.into_iter().map(|(e, _)| e).collect();
    let message = match kind {
        RecordValidationKind::InvalidTimestamp => format!(
            "{} of {} records rejected, at least one for its timestamp",
            record_errors.len(),
            header.record_count
        ),
        RecordValidationKind::InvalidRecord => format!(
            "{} of {} records rejected; the first: {}",
            record_errors.len(),
            header.record_count,
            record_errors
                .iter()
                .take(RECORD_ERRORS_QUOTED)
                .map(|e| format!("record {}: {}", e.batch_index, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    };
    Err(LogError::RecordValidation {
        kind,
        message,
        record_errors,
    })
}

/// The per-record rules of one batch, resolved against the topic config and the clock.
struct RecordRules {
    require_key: bool,
    /// CreateTime topic: record timestamps are range-checked.
    check_range: bool,
    /// The producer set the LogAppendTime attribute (only the broker may).
    producer_log_append_time: bool,
    /// The topic itself is LogAppendTime.
    topic_log_append_time: bool,
    now_ms: i64,
    before_max_ms: i64,
    after_max_ms: i64,
}

impl RecordRules {
    fn new(header: &BatchHeader, config: &LogConfig, now_ms: i64) -> Self {
        Self {
            require_key: config.cleanup_compact,
            check_range: config.timestamp_type == TimestampType::CreateTime,
            producer_log_append_time: header.timestamp_type() == TimestampType::LogAppendTime,
            topic_log_append_time: config.timestamp_type == TimestampType::LogAppendTime,
            now_ms,
            before_max_ms: config.timestamp_before_max_ms,
            after_max_ms: config.timestamp_after_max_ms,
        }
    }

    fn out_of_range(&self, timestamp_ms: i64) -> bool {
        i128::from(self.now_ms) - i128::from(timestamp_ms) > i128::from(self.before_max_ms)
            || i128::from(timestamp_ms) - i128::from(self.now_ms) > i128::from(self.after_max_ms)
    }

    /// The record's error, if any, and whether it is a timestamp error.
    fn check(&self, index: usize, has_key: bool, timestamp_ms: i64) -> Option<(RecordError, bool)> {
        let batch_index = i32::try_from(index).unwrap_or(i32::MAX);
        let error = |message: String, timestamp: bool| {
            Some((
                RecordError {
                    batch_index,
                    message,
                },
                timestamp,
            ))
        };
        if self.require_key && !has_key {
            return error(
                "a compacted topic cannot accept a record without a key".to_string(),
                false,
            );
        }
        if self.check_range && timestamp_ms != NO_TIMESTAMP {
            if self.out_of_range(timestamp_ms) {
                return error(
                    format!(
                        "timestamp {timestamp_ms} is out of range [{}, {}] (message.timestamp.before.max.ms / message.timestamp.after.max.ms)",
                        self.now_ms.saturating_sub(self.before_max_ms),
                        self.now_ms.saturating_add(self.after_max_ms)
                    ),
                    true,
                );
            }
        } else if self.producer_log_append_time {
            let topic = if self.topic_log_append_time {
                "the broker sets LogAppendTime"
            } else {
                "a LogAppendTime batch needs a timestamp"
            };
            return error(
                format!("producers cannot send LogAppendTime batches ({topic})"),
                true,
            );
        }
        None
    }
}

/// Re-encodes `retained` (a non-empty, offset-ordered subset of the records of the batch
/// described by `original`) as one batch keeping the batch-level fields: codec, producer
/// id/epoch, sequence numbering, transactional/control flags, partition leader epoch,
/// timestamp type (LogAppendTime keeps the batch's maxTimestamp) and the last offset (so
/// producer state and offsets after the batch are unaffected). The base offset becomes the
/// first retained record's offset.
pub(crate) fn encode_retained(
    original: &BatchHeader,
    retained: &[Record],
) -> Result<Vec<u8>, LogError> {
    use kafka_protocol::records::Compression;
    let compression = match original.compression_type()? {
        CompressionType::None => Compression::None,
        CompressionType::Gzip => Compression::Gzip,
        CompressionType::Snappy => Compression::Snappy,
        CompressionType::Lz4 => Compression::Lz4,
        CompressionType::Zstd => Compression::Zstd,
    };
    let encode_error = |why: String| {
        LogError::InvalidRecord(format!(
            "cannot re-encode the retained records of batch at {}: {why}",
            original.base_offset
        ))
    };
    let mut bytes = encode_v2(retained, compression)
        .map_err(encode_error)?
        .to_vec();
    let header = BatchHeader::parse(&bytes)?;
    if header.total_size() != bytes.len() {
        return Err(encode_error(
            "the encoder produced more than one batch".to_string(),
        ));
    }
    if header.last_offset() > original.last_offset() || header.base_offset < original.base_offset {
        return Err(encode_error(
            "retained records lie outside the original batch".to_string(),
        ));
    }
    let last_offset_delta = i32::try_from(original.last_offset() - header.base_offset)
        .map_err(|_| encode_error("offset range too large".to_string()))?;
    bytes[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4]
        .copy_from_slice(&last_offset_delta.to_be_bytes());
    if original.base_sequence < 0 {
        bytes[BASE_SEQUENCE_AT..BASE_SEQUENCE_AT + 4]
            .copy_from_slice(&original.base_sequence.to_be_bytes());
    }
    bytes[PARTITION_LEADER_EPOCH_AT..PARTITION_LEADER_EPOCH_AT + 4]
        .copy_from_slice(&original.partition_leader_epoch.to_be_bytes());
    if original.timestamp_type() == TimestampType::LogAppendTime {
        let attributes = be_i16(&bytes, ATTRIBUTES_AT) | ATTR_TIMESTAMP_TYPE;
        bytes[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
        bytes[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8]
            .copy_from_slice(&original.max_timestamp.to_be_bytes());
    }
    let crc = crc32c::crc32c(&bytes[CRC_START..]);
    bytes[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(bytes)
}

/// A batch without records standing in for `original` (Kafka's `writeEmptyHeader`): the
/// cleaner keeps the last batch of an active producer this way when it removes all of its
/// records, so that replaying the log still finds the producer's epoch, last sequence and
/// offsets. Keeps base and last offset, producer id/epoch, base sequence, partition leader
/// epoch, timestamp type and the transactional/control flags; no records, no compression;
/// both timestamps are the original's max timestamp. 61 bytes.
pub(crate) fn encode_empty(original: &BatchHeader) -> Vec<u8> {
    let mut bytes = vec![0u8; BATCH_HEADER_BYTES];
    let attributes =
        original.attributes & (ATTR_TIMESTAMP_TYPE | ATTR_TRANSACTIONAL | ATTR_CONTROL);
    bytes[BASE_OFFSET_AT..BASE_OFFSET_AT + 8].copy_from_slice(&original.base_offset.to_be_bytes());
    bytes[BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4].copy_from_slice(&BATCH_LENGTH_MIN.to_be_bytes());
    bytes[PARTITION_LEADER_EPOCH_AT..PARTITION_LEADER_EPOCH_AT + 4]
        .copy_from_slice(&original.partition_leader_epoch.to_be_bytes());
    bytes[MAGIC_AT] = 2;
    bytes[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
    bytes[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4]
        .copy_from_slice(&original.last_offset_delta.to_be_bytes());
    for at in [BASE_TIMESTAMP_AT, MAX_TIMESTAMP_AT] {
        bytes[at..at + 8].copy_from_slice(&original.max_timestamp.to_be_bytes());
    }
    bytes[PRODUCER_ID_AT..PRODUCER_ID_AT + 8].copy_from_slice(&original.producer_id.to_be_bytes());
    bytes[PRODUCER_EPOCH_AT..PRODUCER_EPOCH_AT + 2]
        .copy_from_slice(&original.producer_epoch.to_be_bytes());
    bytes[BASE_SEQUENCE_AT..BASE_SEQUENCE_AT + 4]
        .copy_from_slice(&original.base_sequence.to_be_bytes());
    bytes[RECORD_COUNT_AT..RECORD_COUNT_AT + 4].copy_from_slice(&0i32.to_be_bytes());
    let crc = crc32c::crc32c(&bytes[CRC_START..]);
    bytes[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    bytes
}

/// The type of a control record (Kafka's `ControlRecordType`): the key is version i16 (0)
/// and type i16; transaction markers are ABORT (0) and COMMIT (1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ControlRecordType {
    Abort,
    Commit,
    /// Any other control type (e.g. raft's leader change); ends no transaction.
    Other(i16),
}

/// A transaction marker read from a control batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ControlRecord {
    pub record_type: ControlRecordType,
    /// From the marker's value (version i16 + coordinator epoch i32); -1 when absent.
    pub coordinator_epoch: i32,
}

/// Decodes the single control record of a control batch (the one record decoding on the
/// marker path: control batches are tiny and uncompressed).
pub(crate) fn parse_control_record(batch: &[u8]) -> Result<ControlRecord, LogError> {
    let header = BatchHeader::parse(batch)?;
    if !header.is_control() {
        return Err(LogError::InvalidRecord(format!(
            "batch at {} is not a control batch",
            header.base_offset
        )));
    }
    let records = decode_records(batch)?;
    let record = records.first().ok_or_else(|| {
        LogError::InvalidRecord(format!(
            "control batch at {} has no record",
            header.base_offset
        ))
    })?;
    let key = record.key.as_deref().unwrap_or_default();
    if key.len() < 4 {
        return Err(LogError::InvalidRecord(format!(
            "control record at {} has a {}-byte key (need version and type)",
            header.base_offset,
            key.len()
        )));
    }
    let record_type = match be_i16(key, 2) {
        0 => ControlRecordType::Abort,
        1 => ControlRecordType::Commit,
        other => ControlRecordType::Other(other),
    };
    let coordinator_epoch = match record.value.as_deref() {
        Some(value) if value.len() >= 6 => be_i32(value, 2),
        _ => -1,
    };
    Ok(ControlRecord {
        record_type,
        coordinator_epoch,
    })
}

/// Encodes internal-topic records (`__consumer_offsets`, `__transaction_state`): one v2
/// batch holding the (key, value) pairs in order; `None` values are tombstones. Offsets are
/// assigned on append. Without `transactional_producer` the batch has no producer id; with
/// `Some((producer_id, producer_epoch))` it is a transactional batch of that producer
/// (TxnOffsetCommit's records, base sequence 0: coordinator appends skip sequence checks).
pub(crate) fn encode_keyed_batch(
    records: impl Iterator<Item = (bytes::Bytes, Option<bytes::Bytes>)>,
    compression: kafka_protocol::records::Compression,
    timestamp_ms: i64,
    transactional_producer: Option<(i64, i16)>,
) -> Result<bytes::Bytes, String> {
    use kafka_protocol::records::TimestampType as KTs;
    let encoded: Vec<Record> = records
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: transactional_producer.is_some(),
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: transactional_producer.map_or(-1, |(id, _)| id),
            producer_epoch: transactional_producer.map_or(-1, |(_, epoch)| epoch),
            timestamp_type: KTs::Creation,
            offset: i as i64,
            // The sequence advances with the offset so that the encoder keeps every record
            // in one batch (no producer id: base sequence -1).
            sequence: if transactional_producer.is_some() {
                i as i32
            } else {
                i as i32 - 1
            },
            timestamp: timestamp_ms,
            key: Some(key),
            value,
            headers: Default::default(),
        })
        .collect();
    Ok(encode_v2(&encoded, compression)?.freeze())
}

/// Builds a transaction marker: one control batch (transactional + control attributes,
/// base sequence -1) holding one control record, base offset 0 (assigned on append).
pub(crate) fn build_txn_marker_batch(
    producer_id: i64,
    producer_epoch: i16,
    coordinator_epoch: i32,
    commit: bool,
    timestamp_ms: i64,
) -> Result<Vec<u8>, LogError> {
    use kafka_protocol::records::TimestampType as KTs;
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&i16::from(commit).to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&coordinator_epoch.to_be_bytes());
    let record = Record {
        transactional: true,
        control: true,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id,
        producer_epoch,
        timestamp_type: KTs::Creation,
        offset: 0,
        sequence: -1,
        timestamp: timestamp_ms,
        key: Some(bytes::Bytes::from(key)),
        value: Some(bytes::Bytes::from(value)),
        headers: Default::default(),
    };
    let batch = encode_one(&record)
        .map_err(|e| LogError::InvalidRecord(format!("cannot encode transaction marker: {e}")))?;
    Ok(batch.to_vec())
}

/// `record` alone in an uncompressed v2 batch.
pub(crate) fn encode_one(record: &Record) -> Result<bytes::Bytes, String> {
    Ok(encode_v2([record], kafka_protocol::records::Compression::None)?.freeze())
}

/// `records` in one v2 batch compressed with `compression` (kafka_protocol's encoder: it
/// starts a new batch where a record's offset - sequence delta changes, which callers
/// avoid).
pub(crate) fn encode_v2<'a, I>(
    records: I,
    compression: kafka_protocol::records::Compression,
) -> Result<bytes::BytesMut, String>
where
    I: IntoIterator<Item = &'a Record>,
    I::IntoIter: Clone,
{
    use kafka_protocol::records::{RecordBatchEncoder, RecordEncodeOptions};
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(buf)
}

/// The offset after the last whole batch in `records` (header reads only); `None` when empty.
pub(crate) fn next_offset_after(records: &[u8]) -> Option<i64> {
    let mut position = 0usize;
    let mut next = None;
    // Bounded: each iteration advances by one whole batch within `records`.
    while position < records.len() {
        let header = BatchHeader::parse(&records[position..]).ok()?;
        let size = header.total_size();
        if size == 0 || position + size > records.len() {
            break;
        }
        next = Some(header.next_offset());
        position += size;
    }
    next
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Builds real batches with kafka_protocol's encoder.
    use bytes::Bytes;
    use kafka_protocol::records::{Compression, Record, TimestampType as KTs};

    /// Every compression codec Kafka has.
    pub(crate) const COMPRESSIONS: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// One batch with `timestamps.len()` records, base offset 0, values of `value_bytes`.
    pub(crate) fn batch_with(
        timestamps: &[i64],
        compression: Compression,
        value_bytes: usize,
    ) -> Vec<u8> {
        let records: Vec<Record> = timestamps
            .iter()
            .enumerate()
            .map(|(i, ts)| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: KTs::Creation,
                offset: i as i64,
                sequence: i as i32, // the encoder splits batches unless offset - sequence is constant
                timestamp: *ts,
                key: Some(Bytes::from(format!("key-{i}"))),
                value: Some(Bytes::from(vec![b'v'; value_bytes])),
                headers: Default::default(),
            })
            .collect();
        super::encode_v2(&records, compression)
            .expect("the records encode")
            .to_vec()
    }

    /// An uncompressed batch of `n` records, all with timestamp `ts`.
    pub(crate) fn batch(n: usize, ts: i64) -> Vec<u8> {
        batch_with(&vec![ts; n], Compression::None, 10)
    }

    /// One batch of keyed records (`None` value = tombstone; `None` key = keyless) with
    /// timestamp `ts`, producer id/epoch/base sequence as given, base offset 0.
    pub(crate) fn keyed_batch_with(
        entries: &[(Option<&str>, Option<&str>)],
        ts: i64,
        compression: Compression,
        producer: (i64, i16, i32),
    ) -> Vec<u8> {
        let (producer_id, producer_epoch, base_sequence) = producer;
        let records: Vec<Record> = entries
            .iter()
            .enumerate()
            .map(|(i, (key, value))| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id,
                producer_epoch,
                timestamp_type: KTs::Creation,
                offset: i as i64,
                sequence: base_sequence.wrapping_add(i as i32),
                timestamp: ts,
                key: key.map(|k| Bytes::from(k.to_string())),
                value: value.map(|v| Bytes::from(v.to_string())),
                headers: Default::default(),
            })
            .collect();
        super::encode_v2(&records, compression)
            .expect("the records encode")
            .to_vec()
    }

    /// An uncompressed transactional batch of `n` keyed records of `producer` (id, epoch,
    /// base sequence).
    pub(crate) fn txn_batch(n: usize, ts: i64, producer: (i64, i16, i32)) -> Vec<u8> {
        txn_keyed_batch(&vec![(Some("k"), Some("v")); n], ts, producer)
    }

    /// An uncompressed transactional batch of keyed records (`None` value = tombstone) of
    /// `producer` (id, epoch, base sequence).
    pub(crate) fn txn_keyed_batch(
        entries: &[(Option<&str>, Option<&str>)],
        ts: i64,
        producer: (i64, i16, i32),
    ) -> Vec<u8> {
        let mut bytes = keyed_batch_with(entries, ts, Compression::None, producer);
        // Attribute bit 4 (transactional); the CRC covers the attributes.
        let attributes =
            i16::from_be_bytes([bytes[super::ATTRIBUTES_AT], bytes[super::ATTRIBUTES_AT + 1]])
                | super::ATTR_TRANSACTIONAL;
        bytes[super::ATTRIBUTES_AT..super::ATTRIBUTES_AT + 2]
            .copy_from_slice(&attributes.to_be_bytes());
        let crc = crc32c::crc32c(&bytes[super::CRC_START..]);
        bytes[super::CRC_AT..super::CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    /// Uncompressed, non-idempotent keyed batch.
    pub(crate) fn keyed_batch(entries: &[(Option<&str>, Option<&str>)], ts: i64) -> Vec<u8> {
        keyed_batch_with(entries, ts, Compression::None, (-1, -1, -1))
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use kafka_protocol::records::Compression;

    #[test]
    fn parses_and_validates_encoder_output() {
        let mut bytes = batch(3, 1_000);
        bytes.extend(batch(2, 2_000));
        let headers = validate_batches(&bytes, 1 << 20).unwrap();
        assert_eq!(headers.len(), 2, "two concatenated batches must be found");
        assert_eq!(headers[0].record_count, 3);
        assert_eq!(headers[0].last_offset(), 2);
        assert_eq!(headers[0].magic, 2);
        assert_eq!(headers[1].max_timestamp, 2_000);
        assert_eq!(
            headers[0].compression_type().unwrap(),
            CompressionType::None
        );
        assert!(!headers[0].is_transactional() && !headers[0].is_control());
        assert_eq!(headers[0].timestamp_type(), TimestampType::CreateTime);
        assert_eq!(
            headers[0].total_size() + headers[1].total_size(),
            bytes.len()
        );
    }

    #[test]
    fn rejects_flipped_crc_byte_as_corrupt() {
        let mut bytes = batch(3, 1_000);
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let err = validate_batches(&bytes, 1 << 20).unwrap_err();
        assert!(
            matches!(err, LogError::CorruptRecord(_)),
            "flipped byte must fail the CRC, got {err}"
        );
    }

    #[test]
    fn rejects_wrong_magic_trailing_bytes_and_too_large() {
        let mut bytes = batch(1, 0);
        bytes[MAGIC_AT] = 1;
        assert!(matches!(
            validate_batches(&bytes, 1 << 20),
            Err(LogError::UnsupportedMagic(1))
        ));

        let mut bytes = batch(1, 0);
        bytes.extend_from_slice(&[0u8; 10]);
        assert!(matches!(
            validate_batches(&bytes, 1 << 20),
            Err(LogError::CorruptRecord(_))
        ));

        let bytes = batch(1, 0);
        let cut = &bytes[..bytes.len() - 1];
        assert!(matches!(
            validate_batches(cut, 1 << 20),
            Err(LogError::CorruptRecord(_))
        ));

        let bytes = batch(5, 0);
        assert!(matches!(
            validate_batches(&bytes, 50),
            Err(LogError::RecordTooLarge { max: 50, .. })
        ));
    }

    #[test]
    fn rejects_bad_codec_and_count_mismatch_with_valid_crc() {
        let mut bytes = batch(2, 0);
        bytes[ATTRIBUTES_AT + 1] |= 0x07;
        let crc = crc32c::crc32c(&bytes[CRC_START..]);
        bytes[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(
            validate_batches(&bytes, 1 << 20),
            Err(LogError::UnsupportedCompression(7))
        ));

        let mut bytes = batch(2, 0);
        bytes[23..27].copy_from_slice(&5i32.to_be_bytes());
        let crc = crc32c::crc32c(&bytes[CRC_START..]);
        bytes[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(
            validate_batches(&bytes, 1 << 20),
            Err(LogError::InvalidRecord(_))
        ));
    }

    #[test]
    fn rewrite_sets_offsets_epoch_and_log_append_time_keeping_crc_valid() {
        let mut bytes = batch(3, 1_000);
        rewrite_for_append(&mut bytes, 42, 7, None);
        let h = validate_batches(&bytes, 1 << 20).unwrap()[0];
        assert_eq!(
            (h.base_offset, h.partition_leader_epoch, h.max_timestamp),
            (42, 7, 1_000)
        );

        rewrite_for_append(&mut bytes, 100, 8, Some(99_999));
        let h = validate_batches(&bytes, 1 << 20).unwrap()[0];
        assert_eq!(h.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(h.max_timestamp, 99_999);
        let ts = record_timestamps(&bytes).unwrap();
        assert_eq!(ts, vec![(100, 99_999), (101, 99_999), (102, 99_999)]);
    }

    #[test]
    fn encode_retained_keeps_batch_fields_and_last_offset() {
        for compression in [Compression::None, Compression::Zstd, Compression::Lz4] {
            let entries = [
                (Some("a"), Some("1")),
                (Some("b"), Some("2")),
                (Some("c"), None),
                (Some("d"), Some("4")),
            ];
            let mut bytes = keyed_batch_with(&entries, 5_000, compression, (77, 3, 10));
            rewrite_for_append(&mut bytes, 100, 9, Some(6_000));
            let original = validate_batches(&bytes, 1 << 20).unwrap()[0];
            let records = decode_records(&bytes).unwrap();
            let retained: Vec<Record> = records
                .into_iter()
                .filter(|r| r.offset == 101 || r.offset == 102)
                .collect();
            let cleaned = encode_retained(&original, &retained).unwrap();
            let header = validate_stored_batches(&cleaned, 1 << 20)
                .expect("a cleaned batch must be a valid stored batch")[0];
            assert_eq!(
                header.base_offset, 101,
                "{compression:?}: first kept offset"
            );
            assert_eq!(
                header.last_offset(),
                103,
                "{compression:?}: last offset kept"
            );
            assert_eq!(header.record_count, 2);
            assert_eq!(
                (
                    header.producer_id,
                    header.producer_epoch,
                    header.base_sequence
                ),
                (77, 3, 11),
                "{compression:?}: producer fields and sequence numbering kept"
            );
            assert_eq!(header.partition_leader_epoch, 9);
            assert_eq!(
                header.compression_type().unwrap(),
                original.compression_type().unwrap()
            );
            assert_eq!(header.timestamp_type(), TimestampType::LogAppendTime);
            assert_eq!(header.max_timestamp, 6_000);
            assert!(
                validate_batches(&cleaned, 1 << 20).is_err(),
                "a sparse batch is not acceptable from a producer"
            );
            let decoded = decode_records(&cleaned).unwrap();
            let kv: Vec<(i64, Option<bytes::Bytes>)> = decoded
                .iter()
                .map(|r| (r.offset, r.value.clone()))
                .collect();
            assert_eq!(
                kv,
                vec![(101, Some(bytes::Bytes::from("2"))), (102, None)],
                "{compression:?}"
            );
        }
    }

    #[test]
    fn encode_empty_keeps_offsets_producer_fields_and_flags() {
        for compression in [Compression::None, Compression::Zstd] {
            let mut bytes = test_support::keyed_batch_with(
                &[
                    (Some("a"), Some("1")),
                    (Some("b"), Some("2")),
                    (Some("c"), None),
                ],
                5_000,
                compression,
                (77, 3, 10),
            );
            rewrite_for_append(&mut bytes, 100, 9, None);
            let attributes = be_i16(&bytes, ATTRIBUTES_AT) | ATTR_TRANSACTIONAL;
            bytes[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
            let crc = crc32c::crc32c(&bytes[CRC_START..]);
            bytes[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
            let original = validate_stored_batches(&bytes, 1 << 20).unwrap()[0];

            let empty = encode_empty(&original);
            assert_eq!(
                empty.len(),
                BATCH_HEADER_BYTES,
                "{compression:?}: header only"
            );
            let header = validate_stored_batches(&empty, 1 << 20)
                .expect("an empty batch must be a valid stored batch")[0];
            assert_eq!(
                (
                    header.base_offset,
                    header.last_offset(),
                    header.record_count
                ),
                (100, 102, 0),
                "{compression:?}: same offsets, no records"
            );
            assert_eq!(
                (
                    header.producer_id,
                    header.producer_epoch,
                    header.base_sequence,
                    header.partition_leader_epoch
                ),
                (77, 3, 10, 9),
                "{compression:?}: producer fields kept"
            );
            assert!(header.is_transactional() && !header.is_control());
            assert_eq!(header.compression_type().unwrap(), CompressionType::None);
            assert_eq!(header.max_timestamp, original.max_timestamp);
            assert!(decode_records(&empty).unwrap().is_empty());
        }
    }

    const NOW_MS: i64 = 1_800_000_000_000;
    const HOUR_MS: i64 = 60 * 60 * 1000;

    fn record_errors(
        batch: &[u8],
        config: &LogConfig,
    ) -> Result<(RecordValidationKind, Vec<i32>, String), LogError> {
        let header = BatchHeader::parse(batch).unwrap();
        match validate_records(batch, &header, config, NOW_MS) {
            Ok(()) => Ok((
                RecordValidationKind::InvalidRecord,
                Vec::new(),
                String::new(),
            )),
            Err(LogError::RecordValidation {
                kind,
                message,
                record_errors,
            }) => Ok((
                kind,
                record_errors.iter().map(|e| e.batch_index).collect(),
                message,
            )),
            Err(other) => Err(other),
        }
    }

    fn compacted() -> LogConfig {
        LogConfig {
            cleanup_compact: true,
            ..LogConfig::default()
        }
    }

    fn set_log_append_time(bytes: &mut [u8]) {
        let attributes = be_i16(bytes, ATTRIBUTES_AT) | ATTR_TIMESTAMP_TYPE;
        bytes[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
        let crc = crc32c::crc32c(&bytes[CRC_START..]);
        bytes[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    }

    #[test]
    fn keyless_records_on_compacted_topics_are_named_by_batch_index() {
        let entries = [
            (Some("a"), Some("1")),
            (None, Some("2")),
            (Some("c"), Some("3")),
            (None, None),
        ];
        for compression in [Compression::None, Compression::Zstd] {
            let bytes = keyed_batch_with(&entries, NOW_MS, compression, (-1, -1, -1));
            let (kind, indexes, message) = record_errors(&bytes, &compacted()).unwrap();
            assert_eq!(kind, RecordValidationKind::InvalidRecord, "{compression:?}");
            assert_eq!(indexes, vec![1, 3], "{compression:?}: the keyless records");
            assert!(
                message.starts_with("2 of 4 records rejected") && message.contains("record 1: "),
                "{compression:?}: summary names the count and the first records: {message}"
            );
            assert_eq!(
                record_errors(&bytes, &LogConfig::default()).unwrap().1,
                Vec::<i32>::new(),
                "{compression:?}: keys are optional on delete-policy topics"
            );
        }
    }

    #[test]
    fn create_time_out_of_range_records_are_invalid_timestamps() {
        let future = batch_with(
            &[NOW_MS, NOW_MS + 2 * HOUR_MS, NOW_MS + HOUR_MS, -1],
            Compression::Lz4,
            4,
        );
        let (kind, indexes, _) = record_errors(&future, &LogConfig::default()).unwrap();
        assert_eq!(kind, RecordValidationKind::InvalidTimestamp);
        assert_eq!(
            indexes,
            vec![1],
            "only the record more than message.timestamp.after.max.ms ahead (one hour exactly and no timestamp are fine)"
        );

        let old = batch_with(&[NOW_MS - 3 * HOUR_MS, 0, NOW_MS], Compression::None, 4);
        assert_eq!(
            record_errors(&old, &LogConfig::default()).unwrap().1,
            Vec::<i32>::new(),
            "message.timestamp.before.max.ms defaults to no limit"
        );
        let bounded = LogConfig {
            timestamp_before_max_ms: HOUR_MS,
            ..LogConfig::default()
        };
        let (kind, indexes, _) = record_errors(&old, &bounded).unwrap();
        assert_eq!(kind, RecordValidationKind::InvalidTimestamp);
        assert_eq!(indexes, vec![0, 1], "records older than the bound");

        let log_append_time = LogConfig {
            timestamp_type: TimestampType::LogAppendTime,
            ..LogConfig::default()
        };
        assert_eq!(
            record_errors(&future, &log_append_time).unwrap().1,
            Vec::<i32>::new(),
            "LogAppendTime topics take any producer timestamp"
        );
    }

    #[test]
    fn a_record_gets_its_key_error_first_and_any_timestamp_error_decides_the_code() {
        let mut bytes = keyed_batch_with(
            &[(None, Some("1")), (Some("b"), Some("2"))],
            NOW_MS + 2 * HOUR_MS,
            Compression::None,
            (-1, -1, -1),
        );
        let (kind, indexes, _) = record_errors(&bytes, &compacted()).unwrap();
        assert_eq!(kind, RecordValidationKind::InvalidTimestamp);
        assert_eq!(indexes, vec![0, 1]);
        let header = BatchHeader::parse(&bytes).unwrap();
        let Err(LogError::RecordValidation {
            record_errors: refused,
            ..
        }) = validate_records(&bytes, &header, &compacted(), NOW_MS)
        else {
            panic!("expected record errors");
        };
        assert!(refused[0].message.contains("without a key"));
        assert!(refused[1].message.contains("out of range"));

        // Within range again: only the key error, so INVALID_RECORD.
        bytes = keyed_batch_with(
            &[(None, Some("1")), (Some("b"), Some("2"))],
            NOW_MS,
            Compression::None,
            (-1, -1, -1),
        );
        let (kind, indexes, _) = record_errors(&bytes, &compacted()).unwrap();
        assert_eq!(
            (kind, indexes),
            (RecordValidationKind::InvalidRecord, vec![0])
        );
    }

    #[test]
    fn producer_log_append_time_batches_are_refused_except_timestamped_on_create_time_topics() {
        let mut bytes = batch(3, NOW_MS);
        set_log_append_time(&mut bytes);
        let log_append_time = LogConfig {
            timestamp_type: TimestampType::LogAppendTime,
            ..LogConfig::default()
        };
        let (kind, indexes, _) = record_errors(&bytes, &log_append_time).unwrap();
        assert_eq!(kind, RecordValidationKind::InvalidTimestamp);
        assert_eq!(indexes, vec![0, 1, 2], "every record of the batch");

        // CreateTime topic: the header's maxTimestamp is every record's timestamp.
        assert_eq!(
            record_errors(&bytes, &LogConfig::default()).unwrap().1,
            Vec::<i32>::new()
        );
        let mut stored = bytes.clone();
        rewrite_for_append(&mut stored, 10, 1, None);
        let header = validate_batches(&stored, 1 << 20).expect("CRC rewritten");
        assert_eq!(
            header[0].timestamp_type(),
            TimestampType::CreateTime,
            "stored as CreateTime, as Kafka does"
        );
        let mut future = batch(2, NOW_MS + 2 * HOUR_MS);
        set_log_append_time(&mut future);
        assert_eq!(
            record_errors(&future, &LogConfig::default()).unwrap().1,
            vec![0, 1]
        );
        let mut untimed = batch(2, -1);
        set_log_append_time(&mut untimed);
        assert_eq!(
            record_errors(&untimed, &LogConfig::default()).unwrap().1,
            vec![0, 1],
            "a LogAppendTime batch without a timestamp"
        );
    }

    #[test]
    fn record_timestamps_decodes_compressed_batches() {
        for compression in COMPRESSIONS {
            let bytes = batch_with(&[5, 3, 9], compression, 100);
            let h = validate_batches(&bytes, 1 << 20).unwrap()[0];
            assert_eq!(h.max_timestamp, 9, "{compression:?}: header max timestamp");
            assert_eq!(
                record_timestamps(&bytes).unwrap(),
                vec![(0, 5), (1, 3), (2, 9)],
                "{compression:?}"
            );
        }
    }
}
