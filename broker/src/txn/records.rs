//! `__transaction_state` records in Kafka's layout: `TransactionLogKey` (version i16 0 +
//! transactional id) and `TransactionLogValue` version 0 (producer id, epoch, timeout,
//! status byte, partitions, last update and start timestamps). Tombstones (null value)
//! remove an expired transactional id.

use std::collections::BTreeSet;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::records::{Compression, RecordBatchDecoder};

use crate::log::BatchHeader;
use crate::types::TopicPartition;

const KEY_VERSION: i16 = 0;
const VALUE_VERSION: i16 = 0;

#[derive(Debug, thiserror::Error)]
pub(crate) enum TxnRecordError {
    #[error("transaction log record truncated")]
    Truncated,
    #[error("unknown transaction log {what} version {version}")]
    UnknownVersion { what: &'static str, version: i16 },
    #[error("unknown transaction status {0}")]
    UnknownStatus(i8),
    #[error("invalid string in transaction log record")]
    BadString,
    #[error("record batch: {0}")]
    Batch(String),
}

/// Kafka's `TransactionState` with its status byte in `TransactionLogValue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    Dead,
    PrepareEpochFence,
}

impl TxnState {
    pub(crate) fn id(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }

    pub(crate) fn from_id(id: i8) -> Result<Self, TxnRecordError> {
        Ok(match id {
            0 => TxnState::Empty,
            1 => TxnState::Ongoing,
            2 => TxnState::PrepareCommit,
            3 => TxnState::PrepareAbort,
            4 => TxnState::CompleteCommit,
            5 => TxnState::CompleteAbort,
            6 => TxnState::Dead,
            7 => TxnState::PrepareEpochFence,
            other => return Err(TxnRecordError::UnknownStatus(other)),
        })
    }

    /// The name DescribeTransactions/ListTransactions use (Kafka's `TransactionState.stateName`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        (0..=7)
            .filter_map(|i| Self::from_id(i).ok())
            .find(|s| s.name() == name)
    }
}

/// `TransactionLogValue` v0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TxnLogValue {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<TopicPartition>,
    pub last_update_ms: i64,
    pub start_ms: i64,
}

/// One `__transaction_state` record: `value == None` is a tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TxnLogRecord {
    pub transactional_id: String,
    pub value: Option<TxnLogValue>,
}

fn put_string(buf: &mut BytesMut, s: &str) {
    buf.put_i16(s.len().min(i16::MAX as usize) as i16);
    buf.put_slice(&s.as_bytes()[..s.len().min(i16::MAX as usize)]);
}

impl TxnLogRecord {
    pub(crate) fn encode(&self) -> (Bytes, Option<Bytes>) {
        let mut key = BytesMut::new();
        key.put_i16(KEY_VERSION);
        put_string(&mut key, &self.transactional_id);
        let value = self.value.as_ref().map(|v| {
            let mut b = BytesMut::new();
            b.put_i16(VALUE_VERSION);
            b.put_i64(v.producer_id);
            b.put_i16(v.producer_epoch);
            b.put_i32(v.timeout_ms);
            b.put_i8(v.state.id());
            // Partitions grouped by topic (null array when empty, as Kafka writes for Empty).
            let mut topics: Vec<(&str, Vec<i32>)> = Vec::new();
            for tp in &v.partitions {
                match topics.last_mut() {
                    Some((t, ps)) if *t == tp.topic => ps.push(tp.partition),
                    _ => topics.push((&tp.topic, vec![tp.partition])),
                }
            }
            if topics.is_empty() {
                b.put_i32(-1);
            } else {
                b.put_i32(topics.len() as i32);
                for (topic, partitions) in topics {
                    put_string(&mut b, topic);
                    b.put_i32(partitions.len() as i32);
                    for p in partitions {
                        b.put_i32(p);
                    }
                }
            }
            b.put_i64(v.last_update_ms);
            b.put_i64(v.start_ms);
            b.freeze()
        });
        (key.freeze(), value)
    }

    pub(crate) fn decode(key: &[u8], value: Option<&[u8]>) -> Result<Self, TxnRecordError> {
        let mut k = Reader(key);
        let version = k.i16()?;
        if version != KEY_VERSION {
            return Err(TxnRecordError::UnknownVersion {
                what: "key",
                version,
            });
        }
        let transactional_id = k.string()?;
        let value = match value {
            None => None,
            Some(v) => Some(decode_value(v)?),
        };
        Ok(Self {
            transactional_id,
            value,
        })
    }
}

fn decode_value(bytes: &[u8]) -> Result<TxnLogValue, TxnRecordError> {
    let mut r = Reader(bytes);
    let version = r.i16()?;
    if !(0..=1).contains(&version) {
        return Err(TxnRecordError::UnknownVersion {
            what: "value",
            version,
        });
    }
    let flexible = version >= 1;
    let producer_id = r.i64()?;
    let producer_epoch = r.i16()?;
    let timeout_ms = r.i32()?;
    let state = TxnState::from_id(r.i8()?)?;
    let mut partitions = BTreeSet::new();
    let topics = if flexible {
        r.uvarint()? as i64 - 1
    } else {
        i64::from(r.i32()?)
    };
    for _ in 0..topics.max(0) {
        let topic = if flexible {
            r.compact_string()?
        } else {
            r.string()?
        };
        let count = if flexible {
            r.uvarint()? as i64 - 1
        } else {
            i64::from(r.i32()?)
        };
        for _ in 0..count.max(0) {
            partitions.insert(TopicPartition::new(topic.clone(), r.i32()?));
        }
        if flexible {
            r.skip_tagged_fields()?;
        }
    }
    let last_update_ms = r.i64()?;
    let start_ms = r.i64()?;
    Ok(TxnLogValue {
        producer_id,
        producer_epoch,
        timeout_ms,
        state,
        partitions,
        last_update_ms,
        start_ms,
    })
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], TxnRecordError> {
        if self.0.len() < n {
            return Err(TxnRecordError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn i8(&mut self) -> Result<i8, TxnRecordError> {
        Ok(self.take(1)?[0] as i8)
    }
    fn i16(&mut self) -> Result<i16, TxnRecordError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Result<i32, TxnRecordError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i64(&mut self) -> Result<i64, TxnRecordError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }
    fn uvarint(&mut self) -> Result<u64, TxnRecordError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1)?[0];
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(TxnRecordError::Truncated)
    }
    fn string(&mut self) -> Result<String, TxnRecordError> {
        let len = self.i16()?;
        let bytes = self.take(len.max(0) as usize)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| TxnRecordError::BadString)
    }
    fn compact_string(&mut self) -> Result<String, TxnRecordError> {
        let len = self.uvarint()?.saturating_sub(1);
        let bytes = self.take(len as usize)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| TxnRecordError::BadString)
    }
    fn skip_tagged_fields(&mut self) -> Result<(), TxnRecordError> {
        let count = self.uvarint()?;
        for _ in 0..count.min(1 << 16) {
            self.uvarint()?;
            let size = self.uvarint()?;
            self.take(size as usize)?;
        }
        Ok(())
    }
}

/// One batch (magic 2, no producer id) holding `records`.
pub(crate) fn encode_batch(
    records: &[TxnLogRecord],
    timestamp_ms: i64,
) -> Result<Bytes, TxnRecordError> {
    crate::log::batch::encode_keyed_batch(
        records.iter().map(|r| r.encode()),
        Compression::None,
        timestamp_ms,
        None,
    )
    .map_err(TxnRecordError::Batch)
}

/// Decodes every record of whole stored batches; returns them and the offset after the
/// last batch. Control batches and keyless records are skipped.
pub(crate) fn decode_batches(
    blob: &Bytes,
) -> Result<(Vec<TxnLogRecord>, Option<i64>), TxnRecordError> {
    let mut out = Vec::new();
    let mut next_offset = None;
    let mut position = 0usize;
    while position < blob.len() {
        let header = BatchHeader::parse(&blob[position..])
            .map_err(|e| TxnRecordError::Batch(e.to_string()))?;
        let size = header.total_size();
        if size == 0 || position + size > blob.len() {
            break;
        }
        next_offset = Some(header.next_offset());
        if !header.is_control() {
            let mut slice = blob.slice(position..position + size);
            let set = RecordBatchDecoder::decode(&mut slice)
                .map_err(|e| TxnRecordError::Batch(e.to_string()))?;
            for record in set.records {
                let Some(key) = record.key.as_deref() else {
                    continue;
                };
                out.push(TxnLogRecord::decode(key, record.value.as_deref())?);
            }
        }
        position += size;
    }
    Ok((out, next_offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_in_kafka_layout() {
        let record = TxnLogRecord {
            transactional_id: "tx".into(),
            value: Some(TxnLogValue {
                producer_id: 7,
                producer_epoch: 3,
                timeout_ms: 60_000,
                state: TxnState::Ongoing,
                partitions: [TopicPartition::new("a", 1), TopicPartition::new("a", 0)]
                    .into_iter()
                    .collect(),
                last_update_ms: 11,
                start_ms: 10,
            }),
        };
        let (key, value) = record.encode();
        assert_eq!(
            &key[..],
            &[0, 0, 0, 2, b't', b'x'],
            "key: version 0 + string"
        );
        let value = value.expect("value");
        // version, pid, epoch, timeout, status
        assert_eq!(&value[..2], &[0, 0]);
        assert_eq!(value[2 + 8 + 2 + 4], 1, "status byte of Ongoing");
        let decoded = TxnLogRecord::decode(&key, Some(&value)).expect("decodes");
        assert_eq!(decoded, record);
        let tomb = TxnLogRecord {
            transactional_id: "tx".into(),
            value: None,
        };
        let (k, v) = tomb.encode();
        assert_eq!(
            TxnLogRecord::decode(&k, v.as_deref()).expect("tombstone"),
            tomb
        );
        let batch = encode_batch(&[record.clone(), tomb.clone()], 5).expect("batch");
        let (records, next) = decode_batches(&batch).expect("decode batch");
        assert_eq!(records, vec![record, tomb]);
        assert_eq!(next, Some(2));
    }

    #[test]
    fn state_names_round_trip() {
        for id in 0..=7 {
            let s = TxnState::from_id(id).expect("known");
            assert_eq!(TxnState::from_name(s.name()), Some(s));
        }
        assert!(TxnState::from_id(8).is_err());
    }
}
