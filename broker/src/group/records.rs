//! The records of `__consumer_offsets`, in Kafka's formats (the coordinator's only on-disk
//! representation): keys `OffsetCommitKey` (versions 0/1) and `GroupMetadataKey` (version 2);
//! values `OffsetCommitValue` (written as v3, read v0–v4) and `GroupMetadataValue` (written as
//! v3, read v0–v4), and `ConsumerGroupMetadataKey` (version 3) with `ConsumerGroupMetadataValue`
//! v0 (the group epoch of a KIP-848 consumer group). A record without value is a tombstone
//! (deletion, kept until compaction).
//!
//! Every key and value starts with an int16 schema version; the non-flexible versions use
//! int16-length strings and int32-length bytes, the flexible ones (value v4) compact strings
//! and tagged fields.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::records::{Compression, RecordBatchDecoder};

use crate::log::{BatchHeader, ControlRecordType};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum RecordError {
    #[error("record ends early: needed {needed} more bytes at position {position}")]
    Truncated { position: usize, needed: usize },
    #[error("unknown {what} schema version {version}")]
    UnknownVersion { what: &'static str, version: i16 },
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
    #[error("record batch: {0}")]
    Batch(String),
}

/// A committed offset as stored in `OffsetCommitValue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OffsetCommitValue {
    pub offset: i64,
    /// -1 = unknown.
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
    /// Only in v1 (explicit per-commit retention, no longer written).
    pub expire_timestamp_ms: Option<i64>,
}

/// One member in `GroupMetadataValue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemberMetadata {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// A classic group's durable state as stored in `GroupMetadataValue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupMetadataValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub current_state_timestamp_ms: i64,
    pub members: Vec<MemberMetadata>,
}

/// One decoded `__consumer_offsets` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CoordinatorRecord {
    OffsetCommit {
        group_id: String,
        topic: String,
        partition: i32,
        /// `None` = tombstone.
        value: Option<OffsetCommitValue>,
    },
    GroupMetadata {
        group_id: String,
        /// `None` = tombstone.
        value: Option<GroupMetadataValue>,
    },
    /// Kafka's `ConsumerGroupMetadataKey` (key version 3) → `ConsumerGroupMetadataValue` v0
    /// (its `Epoch`): the group is a KIP-848 consumer group at this group epoch.
    ConsumerGroupMetadata {
        group_id: String,
        /// The group epoch; `None` = tombstone (group deleted).
        epoch: Option<i32>,
    },
    /// Ironlog's own record (key version 32256, outside Kafka's record-type space, skipped by
    /// any loader that does not know it): a consumer group's members, their epochs and
    /// assignments and the target assignment, as versioned JSON (value: int16 version 0, then
    /// the JSON bytes). Stands in for Kafka's ConsumerGroupMemberMetadata,
    /// TargetAssignment* and CurrentMemberAssignment records.
    ConsumerGroupSnapshot {
        group_id: String,
        /// `None` = tombstone (group deleted).
        snapshot: Option<Bytes>,
    },
}

const OFFSET_COMMIT_KEY_VERSION: i16 = 1;
const GROUP_METADATA_KEY_VERSION: i16 = 2;
const CONSUMER_GROUP_METADATA_KEY_VERSION: i16 = 3;
/// Ironlog's consumer-group snapshot record (see `CoordinatorRecord::ConsumerGroupSnapshot`).
pub(crate) const CONSUMER_GROUP_SNAPSHOT_KEY_VERSION: i16 = 32_256;
const OFFSET_COMMIT_VALUE_VERSION: i16 = 3;
const GROUP_METADATA_VALUE_VERSION: i16 = 3;

// ----------------------------------------------------------------------------- encoding

fn put_string(buf: &mut BytesMut, s: &str) {
    // Kafka strings are at most i16::MAX bytes; callers validate lengths (group ids, topic
    // names and metadata are bounded long before this).
    let bytes = &s.as_bytes()[..s.len().min(i16::MAX as usize)];
    buf.put_i16(bytes.len() as i16);
    buf.put_slice(bytes);
}

fn put_nullable_string(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_string(buf, s),
        None => buf.put_i16(-1),
    }
}

fn put_bytes(buf: &mut BytesMut, b: &[u8]) {
    buf.put_i32(b.len() as i32);
    buf.put_slice(b);
}

impl CoordinatorRecord {
    /// The record's key and value bytes (value `None` for tombstones).
    pub(crate) fn encode(&self) -> (Bytes, Option<Bytes>) {
        let mut key = BytesMut::new();
        match self {
            CoordinatorRecord::OffsetCommit {
                group_id,
                topic,
                partition,
                value,
            } => {
                key.put_i16(OFFSET_COMMIT_KEY_VERSION);
                put_string(&mut key, group_id);
                put_string(&mut key, topic);
                key.put_i32(*partition);
                let value = value.as_ref().map(|v| {
                    let mut b = BytesMut::new();
                    b.put_i16(OFFSET_COMMIT_VALUE_VERSION);
                    b.put_i64(v.offset);
                    b.put_i32(v.leader_epoch);
                    put_string(&mut b, &v.metadata);
                    b.put_i64(v.commit_timestamp_ms);
                    b.freeze()
                });
                (key.freeze(), value)
            }
            CoordinatorRecord::GroupMetadata { group_id, value } => {
                key.put_i16(GROUP_METADATA_KEY_VERSION);
                put_string(&mut key, group_id);
                let value = value.as_ref().map(|v| {
                    let mut b = BytesMut::new();
                    b.put_i16(GROUP_METADATA_VALUE_VERSION);
                    put_string(&mut b, &v.protocol_type);
                    b.put_i32(v.generation);
                    put_nullable_string(&mut b, v.protocol.as_deref());
                    put_nullable_string(&mut b, v.leader.as_deref());
                    b.put_i64(v.current_state_timestamp_ms);
                    b.put_i32(v.members.len() as i32);
                    for m in &v.members {
                        put_string(&mut b, &m.member_id);
                        put_nullable_string(&mut b, m.group_instance_id.as_deref());
                        put_string(&mut b, &m.client_id);
                        put_string(&mut b, &m.client_host);
                        b.put_i32(m.rebalance_timeout_ms);
                        b.put_i32(m.session_timeout_ms);
                        put_bytes(&mut b, &m.subscription);
                        put_bytes(&mut b, &m.assignment);
                    }
                    b.freeze()
                });
                (key.freeze(), value)
            }
            CoordinatorRecord::ConsumerGroupMetadata { group_id, epoch } => {
                key.put_i16(CONSUMER_GROUP_METADATA_KEY_VERSION);
                put_string(&mut key, group_id);
                let value = epoch.map(|epoch| {
                    let mut b = BytesMut::new();
                    b.put_i16(0);
                    b.put_i32(epoch);
                    // Flexible version: no tagged fields.
                    b.put_u8(0);
                    b.freeze()
                });
                (key.freeze(), value)
            }
            CoordinatorRecord::ConsumerGroupSnapshot { group_id, snapshot } => {
                key.put_i16(CONSUMER_GROUP_SNAPSHOT_KEY_VERSION);
                put_string(&mut key, group_id);
                let value = snapshot.as_ref().map(|json| {
                    let mut b = BytesMut::with_capacity(2 + json.len());
                    b.put_i16(0);
                    b.put_slice(json);
                    b.freeze()
                });
                (key.freeze(), value)
            }
        }
    }

    /// Decodes one record; `Ok(None)` for record kinds we do not keep (Kafka 4's other
    /// consumer-group records, key versions 4–8, and share-group records), which we skip.
    pub(crate) fn decode(key: &[u8], value: Option<&[u8]>) -> Result<Option<Self>, RecordError> {
        let mut k = Reader::new(key);
        let key_version = k.i16()?;
        match key_version {
            0 | 1 => {
                let group_id = k.string()?;
                let topic = k.string()?;
                let partition = k.i32()?;
                let value = value.map(decode_offset_commit_value).transpose()?;
                Ok(Some(CoordinatorRecord::OffsetCommit {
                    group_id,
                    topic,
                    partition,
                    value,
                }))
            }
            2 => {
                let group_id = k.string()?;
                let value = value.map(decode_group_metadata_value).transpose()?;
                Ok(Some(CoordinatorRecord::GroupMetadata { group_id, value }))
            }
            CONSUMER_GROUP_METADATA_KEY_VERSION => {
                let group_id = k.string()?;
                let epoch = value
                    .map(|v| {
                        let mut r = Reader::new(v);
                        // Every ConsumerGroupMetadataValue version starts with Epoch.
                        r.i16()?;
                        r.i32()
                    })
                    .transpose()?;
                Ok(Some(CoordinatorRecord::ConsumerGroupMetadata {
                    group_id,
                    epoch,
                }))
            }
            CONSUMER_GROUP_SNAPSHOT_KEY_VERSION => {
                let group_id = k.string()?;
                let snapshot = match value {
                    None => None,
                    Some(v) => {
                        let mut r = Reader::new(v);
                        let version = r.i16()?;
                        if version != 0 {
                            return Err(RecordError::UnknownVersion {
                                what: "ConsumerGroupSnapshot",
                                version,
                            });
                        }
                        Some(Bytes::copy_from_slice(v.get(2..).unwrap_or_default()))
                    }
                };
                Ok(Some(CoordinatorRecord::ConsumerGroupSnapshot {
                    group_id,
                    snapshot,
                }))
            }
            _ => Ok(None),
        }
    }
}

fn decode_offset_commit_value(bytes: &[u8]) -> Result<OffsetCommitValue, RecordError> {
    let mut r = Reader::new(bytes);
    let version = r.i16()?;
    let flexible = version >= 4;
    let offset = r.i64()?;
    let leader_epoch = if version >= 3 { r.i32()? } else { -1 };
    let metadata = if flexible {
        r.compact_string()?
    } else {
        r.string()?
    };
    let commit_timestamp_ms = r.i64()?;
    let expire_timestamp_ms = if version == 1 { Some(r.i64()?) } else { None };
    if version > 4 {
        return Err(RecordError::UnknownVersion {
            what: "OffsetCommitValue",
            version,
        });
    }
    if flexible {
        r.skip_tagged_fields()?;
    }
    Ok(OffsetCommitValue {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp_ms,
        expire_timestamp_ms,
    })
}

fn decode_group_metadata_value(bytes: &[u8]) -> Result<GroupMetadataValue, RecordError> {
    let mut r = Reader::new(bytes);
    let version = r.i16()?;
    if !(0..=4).contains(&version) {
        return Err(RecordError::UnknownVersion {
            what: "GroupMetadataValue",
            version,
        });
    }
    let flexible = version >= 4;
    let s = |r: &mut Reader<'_>| {
        if flexible {
            r.compact_string()
        } else {
            r.string()
        }
    };
    let ns = |r: &mut Reader<'_>| {
        if flexible {
            r.compact_nullable_string()
        } else {
            r.nullable_string()
        }
    };
    let protocol_type = s(&mut r)?;
    let generation = r.i32()?;
    let protocol = ns(&mut r)?;
    let leader = ns(&mut r)?;
    let current_state_timestamp_ms = if version >= 2 { r.i64()? } else { -1 };
    let count = if flexible {
        r.unsigned_varint()? as i64 - 1
    } else {
        i64::from(r.i32()?)
    };
    let mut members = Vec::new();
    for _ in 0..count.clamp(0, 1 << 20) {
        let member_id = s(&mut r)?;
        let group_instance_id = if version >= 3 { ns(&mut r)? } else { None };
        let client_id = s(&mut r)?;
        let client_host = s(&mut r)?;
        let session_then_rebalance = |r: &mut Reader<'_>| -> Result<(i32, i32), RecordError> {
            let rebalance = if version >= 1 { r.i32()? } else { -1 };
            let session = r.i32()?;
            Ok((rebalance, session))
        };
        let (mut rebalance_timeout_ms, session_timeout_ms) = session_then_rebalance(&mut r)?;
        if rebalance_timeout_ms < 0 {
            rebalance_timeout_ms = session_timeout_ms;
        }
        let (subscription, assignment) = if flexible {
            (r.compact_bytes()?, r.compact_bytes()?)
        } else {
            (r.bytes()?, r.bytes()?)
        };
        if flexible {
            r.skip_tagged_fields()?;
        }
        members.push(MemberMetadata {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms,
            session_timeout_ms,
            subscription,
            assignment,
        });
    }
    if flexible {
        r.skip_tagged_fields()?;
    }
    Ok(GroupMetadataValue {
        protocol_type,
        generation,
        protocol,
        leader,
        current_state_timestamp_ms,
        members,
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, position: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        let end = self
            .position
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or(RecordError::Truncated {
                position: self.position,
                needed: n,
            })?;
        let slice = &self.bytes[self.position..end];
        self.position = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], RecordError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn i16(&mut self) -> Result<i16, RecordError> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32, RecordError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, RecordError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    fn utf8(&mut self, n: usize) -> Result<String, RecordError> {
        let raw = self.take(n)?;
        String::from_utf8(raw.to_vec()).map_err(|e| RecordError::Invalid {
            what: "string",
            reason: e.to_string(),
        })
    }

    fn nullable_string(&mut self) -> Result<Option<String>, RecordError> {
        let len = self.i16()?;
        if len < 0 {
            return Ok(None);
        }
        self.utf8(len as usize).map(Some)
    }

    fn string(&mut self) -> Result<String, RecordError> {
        Ok(self.nullable_string()?.unwrap_or_default())
    }

    fn unsigned_varint(&mut self) -> Result<u32, RecordError> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let b = self.array::<1>()?[0];
            value |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(RecordError::Invalid {
            what: "varint",
            reason: "longer than 5 bytes".into(),
        })
    }

    fn compact_nullable_string(&mut self) -> Result<Option<String>, RecordError> {
        let len = self.unsigned_varint()?;
        if len == 0 {
            return Ok(None);
        }
        self.utf8(len as usize - 1).map(Some)
    }

    fn compact_string(&mut self) -> Result<String, RecordError> {
        Ok(self.compact_nullable_string()?.unwrap_or_default())
    }

    fn bytes(&mut self) -> Result<Bytes, RecordError> {
        let len = self.i32()?;
        if len < 0 {
            return Ok(Bytes::new());
        }
        Ok(Bytes::copy_from_slice(self.take(len as usize)?))
    }

    fn compact_bytes(&mut self) -> Result<Bytes, RecordError> {
        let len = self.unsigned_varint()?;
        if len == 0 {
            return Ok(Bytes::new());
        }
        Ok(Bytes::copy_from_slice(self.take(len as usize - 1)?))
    }

    fn skip_tagged_fields(&mut self) -> Result<(), RecordError> {
        let count = self.unsigned_varint()?;
        for _ in 0..count.min(1 << 16) {
            let _tag = self.unsigned_varint()?;
            let size = self.unsigned_varint()?;
            self.take(size as usize)?;
        }
        Ok(())
    }
}

// ----------------------------------------------------------------------------- batches

/// One record batch (magic 2) holding `records` in order, compressed with `compression`.
pub(crate) fn encode_batch(
    records: &[CoordinatorRecord],
    compression: Compression,
    timestamp_ms: i64,
) -> Result<Bytes, RecordError> {
    crate::log::batch::encode_keyed_batch(
        records.iter().map(|r| r.encode()),
        compression,
        timestamp_ms,
        None,
    )
    .map_err(RecordError::Batch)
}

/// [`encode_batch`] as a transactional batch of `producer_id`/`producer_epoch`: the records
/// of a TxnOffsetCommit, which the transaction's COMMIT marker makes visible (and its ABORT
/// marker discards), as in Kafka.
pub(crate) fn encode_txn_batch(
    records: &[CoordinatorRecord],
    compression: Compression,
    timestamp_ms: i64,
    producer_id: i64,
    producer_epoch: i16,
) -> Result<Bytes, RecordError> {
    crate::log::batch::encode_keyed_batch(
        records.iter().map(|r| r.encode()),
        compression,
        timestamp_ms,
        Some((producer_id, producer_epoch)),
    )
    .map_err(RecordError::Batch)
}

/// One entry of a `__consumer_offsets` partition, in log order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LogEntry {
    /// A coordinator record; `producer_id` is set for the records of a transactional batch.
    Record {
        offset: i64,
        producer_id: Option<i64>,
        record: CoordinatorRecord,
    },
    /// A transaction marker ending `producer_id`'s transaction.
    TxnMarker {
        offset: i64,
        producer_id: i64,
        commit: bool,
    },
}

/// Entries in log order, and the offset after the last batch (`None`: no batch).
pub(crate) type DecodedBatches = (Vec<LogEntry>, Option<i64>);

/// Decodes every coordinator record and transaction marker in `blob` (whole stored batches,
/// as `Log::read` returns them). Keyless records, unknown record types and control records
/// other than COMMIT/ABORT are skipped.
pub(crate) fn decode_batches(blob: &Bytes) -> Result<DecodedBatches, RecordError> {
    let mut out = Vec::new();
    let mut next_offset = None;
    let mut position = 0usize;
    // Bounded: every iteration consumes at least one batch header's worth of bytes.
    while position < blob.len() {
        let header =
            BatchHeader::parse(&blob[position..]).map_err(|e| RecordError::Batch(e.to_string()))?;
        let size = header.total_size();
        if size == 0 || position + size > blob.len() {
            break;
        }
        next_offset = Some(header.next_offset());
        let mut slice = blob.slice(position..position + size);
        if header.is_control() {
            let marker = crate::log::batch::parse_control_record(&slice)
                .map_err(|e| RecordError::Batch(e.to_string()))?;
            let commit = match marker.record_type {
                ControlRecordType::Commit => Some(true),
                ControlRecordType::Abort => Some(false),
                ControlRecordType::Other(_) => None,
            };
            if let Some(commit) = commit.filter(|_| header.producer_id >= 0) {
                out.push(LogEntry::TxnMarker {
                    offset: header.base_offset,
                    producer_id: header.producer_id,
                    commit,
                });
            }
        } else {
            let producer_id = header.is_transactional().then_some(header.producer_id);
            let set = RecordBatchDecoder::decode(&mut slice)
                .map_err(|e| RecordError::Batch(e.to_string()))?;
            for record in set.records {
                let Some(key) = record.key.as_deref() else {
                    continue;
                };
                if let Some(decoded) = CoordinatorRecord::decode(key, record.value.as_deref())? {
                    out.push(LogEntry::Record {
                        offset: record.offset,
                        producer_id,
                        record: decoded,
                    });
                }
            }
        }
        position += size;
    }
    Ok((out, next_offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset_commit(value: Option<OffsetCommitValue>) -> CoordinatorRecord {
        CoordinatorRecord::OffsetCommit {
            group_id: "g".into(),
            topic: "t".into(),
            partition: 3,
            value,
        }
    }

    #[test]
    fn offset_commit_round_trips_in_kafka_layout() {
        let record = offset_commit(Some(OffsetCommitValue {
            offset: 42,
            leader_epoch: 7,
            metadata: "meta".into(),
            commit_timestamp_ms: 1_000,
            expire_timestamp_ms: None,
        }));
        let (key, value) = record.encode();
        // OffsetCommitKey v1: version, group (int16 len), topic, partition.
        assert_eq!(&key[..], b"\x00\x01\x00\x01g\x00\x01t\x00\x00\x00\x03");
        let value = value.expect("value");
        assert_eq!(&value[..2], &[0, 3], "OffsetCommitValue written as v3");
        assert_eq!(
            CoordinatorRecord::decode(&key, Some(&value)),
            Ok(Some(record))
        );
        assert_eq!(
            CoordinatorRecord::decode(&key, None),
            Ok(Some(offset_commit(None))),
            "no value is a tombstone"
        );
    }

    #[test]
    fn offset_commit_value_v1_and_v4_decode() {
        // v1: offset, metadata, commit ts, expire ts.
        let mut v1 = BytesMut::new();
        v1.put_i16(1);
        v1.put_i64(5);
        put_string(&mut v1, "m");
        v1.put_i64(10);
        v1.put_i64(20);
        let got = decode_offset_commit_value(&v1).expect("v1");
        assert_eq!(
            (got.offset, got.leader_epoch, got.expire_timestamp_ms),
            (5, -1, Some(20))
        );
        // v4 (flexible): offset, epoch, compact metadata, commit ts, tagged fields.
        let mut v4 = BytesMut::new();
        v4.put_i16(4);
        v4.put_i64(9);
        v4.put_i32(2);
        v4.put_u8(3);
        v4.put_slice(b"ab");
        v4.put_i64(11);
        v4.put_u8(0);
        let got = decode_offset_commit_value(&v4).expect("v4");
        assert_eq!(
            (got.offset, got.leader_epoch, got.metadata.as_str()),
            (9, 2, "ab")
        );
    }

    #[test]
    fn group_metadata_round_trips_and_unknown_keys_are_skipped() {
        let record = CoordinatorRecord::GroupMetadata {
            group_id: "group".into(),
            value: Some(GroupMetadataValue {
                protocol_type: "consumer".into(),
                generation: 4,
                protocol: Some("range".into()),
                leader: Some("m-1".into()),
                current_state_timestamp_ms: 99,
                members: vec![MemberMetadata {
                    member_id: "m-1".into(),
                    group_instance_id: Some("i-1".into()),
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    rebalance_timeout_ms: 300_000,
                    session_timeout_ms: 45_000,
                    subscription: Bytes::from_static(b"sub"),
                    assignment: Bytes::from_static(b"asg"),
                }],
            }),
        };
        let (key, value) = record.encode();
        assert_eq!(&key[..], b"\x00\x02\x00\x05group");
        assert_eq!(
            CoordinatorRecord::decode(&key, value.as_deref()),
            Ok(Some(record))
        );
        // ConsumerGroupMetadataKey (version 3): a KIP-848 group and its epoch.
        let cg = CoordinatorRecord::ConsumerGroupMetadata {
            group_id: "g".into(),
            epoch: Some(7),
        };
        let (key, value) = cg.encode();
        assert_eq!(&key[..], b"\x00\x03\x00\x01g");
        assert_eq!(value.as_deref(), Some(&b"\x00\x00\x00\x00\x00\x07\x00"[..]));
        assert_eq!(
            CoordinatorRecord::decode(&key, value.as_deref()),
            Ok(Some(cg))
        );
        assert_eq!(
            CoordinatorRecord::decode(b"\x00\x03\x00\x01g", None),
            Ok(Some(CoordinatorRecord::ConsumerGroupMetadata {
                group_id: "g".into(),
                epoch: None
            }))
        );
        let snap = CoordinatorRecord::ConsumerGroupSnapshot {
            group_id: "g".into(),
            snapshot: Some(Bytes::from_static(b"{}")),
        };
        let (key, value) = snap.encode();
        assert_eq!(&key[..], b"\x7e\x00\x00\x01g");
        assert_eq!(
            CoordinatorRecord::decode(&key, value.as_deref()),
            Ok(Some(snap))
        );
        // Other consumer-group record kinds are skipped.
        assert_eq!(
            CoordinatorRecord::decode(b"\x00\x05\x00\x01g", None),
            Ok(None)
        );
        assert!(CoordinatorRecord::decode(b"\x00\x01\x00", None).is_err());
    }

    #[test]
    fn batches_round_trip_through_the_encoder_and_decoder() {
        let records = vec![
            offset_commit(None),
            CoordinatorRecord::GroupMetadata {
                group_id: "g".into(),
                value: None,
            },
        ];
        for compression in [Compression::None, Compression::Gzip, Compression::Lz4] {
            let batch = encode_batch(&records, compression, 5).expect("encode");
            let (decoded, next) = decode_batches(&batch).expect("decode");
            assert_eq!(next, Some(2));
            let expected: Vec<LogEntry> = records
                .iter()
                .enumerate()
                .map(|(i, r)| LogEntry::Record {
                    offset: i as i64,
                    producer_id: None,
                    record: r.clone(),
                })
                .collect();
            assert_eq!(decoded, expected);
        }
    }

    #[test]
    fn an_empty_batch_left_by_the_cleaner_decodes_to_nothing() {
        // The cleaner keeps a producer's last batch without records (Kafka's RETAIN_EMPTY);
        // loading a compacted __consumer_offsets partition must step over it.
        let records = vec![offset_commit(None)];
        let batch = encode_txn_batch(&records, Compression::None, 5, 42, 3).expect("encode");
        let header = BatchHeader::parse(&batch).expect("header");
        let mut blob = crate::log::batch::encode_empty(&header);
        let plain = encode_batch(&records, Compression::None, 6).expect("encode");
        let mut plain = plain.to_vec();
        plain[..8].copy_from_slice(&1i64.to_be_bytes());
        blob.extend_from_slice(&plain);
        let (decoded, next) = decode_batches(&Bytes::from(blob)).expect("decode");
        assert_eq!(next, Some(2));
        assert_eq!(
            decoded,
            vec![LogEntry::Record {
                offset: 1,
                producer_id: None,
                record: records[0].clone(),
            }]
        );
    }

    #[test]
    fn transactional_batches_and_markers_decode_with_their_producer() {
        let records = vec![offset_commit(Some(OffsetCommitValue {
            offset: 7,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: 1,
            expire_timestamp_ms: None,
        }))];
        let batch = encode_txn_batch(&records, Compression::None, 5, 42, 3).expect("encode");
        let header = BatchHeader::parse(&batch).expect("header");
        assert!(header.is_transactional() && !header.is_control());
        assert_eq!((header.producer_id, header.producer_epoch), (42, 3));
        let marker = crate::log::batch::build_txn_marker_batch(42, 3, 0, true, 6).expect("marker");
        let mut blob = batch.to_vec();
        // The marker as stored after the record: base offset 1.
        let mut marker = marker;
        marker[..8].copy_from_slice(&1i64.to_be_bytes());
        blob.extend_from_slice(&marker);
        let (decoded, next) = decode_batches(&Bytes::from(blob)).expect("decode");
        assert_eq!(next, Some(2));
        assert_eq!(
            decoded,
            vec![
                LogEntry::Record {
                    offset: 0,
                    producer_id: Some(42),
                    record: records[0].clone(),
                },
                LogEntry::TxnMarker {
                    offset: 1,
                    producer_id: 42,
                    commit: true,
                },
            ]
        );
    }
}
