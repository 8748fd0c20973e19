//! `batches`: record batches as a client (or a broker) writes them, built with the
//! `kafka-protocol` codec's `RecordBatchEncoder` — plain, compressed, idempotent,
//! transactional, control batches — plus the legacy magic 1 format the codec does not
//! write, and decoding of fetched records for byte-exact comparisons.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record as ProtocolRecord, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType as ProtocolTimestampType,
};

/// Who writes a batch: a plain producer (no producer id), or an idempotent or
/// transactional one with its id, epoch and the batch's first sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchProducer {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub transactional: bool,
}

impl BatchProducer {
    /// No producer id: what a client without idempotence writes.
    pub const PLAIN: BatchProducer = BatchProducer {
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        transactional: false,
    };

    pub fn idempotent(producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Self {
        BatchProducer {
            producer_id,
            producer_epoch,
            base_sequence,
            transactional: false,
        }
    }

    /// Attribute bit 4 set: the batch belongs to the producer's ongoing transaction.
    pub fn transactional(producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Self {
        BatchProducer {
            transactional: true,
            ..BatchProducer::idempotent(producer_id, producer_epoch, base_sequence)
        }
    }

    /// The sequence number of the record at relative offset `i`. Without a producer id
    /// the base sequence is -1, and the encoder keeps records in one batch only while
    /// offset - sequence is constant, so the sequence advances with the offset.
    fn sequence(&self, i: usize) -> i32 {
        self.base_sequence + i as i32
    }
}

/// One data record of a batch to encode; either key or value may be null.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchRecord<'a> {
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub timestamp_ms: i64,
}

/// One v2 batch of `records` written by `producer`, compressed with `compression`; offsets
/// are relative from 0.
pub fn encode_v2_batch(
    records: &[BatchRecord<'_>],
    producer: BatchProducer,
    compression: Compression,
) -> Bytes {
    encode_data_batch(records, producer, 2, compression)
}

/// [`encode_v2_batch`] at message format `magic`.
fn encode_data_batch(
    records: &[BatchRecord<'_>],
    producer: BatchProducer,
    magic: i8,
    compression: Compression,
) -> Bytes {
    let records: Vec<ProtocolRecord> = records
        .iter()
        .enumerate()
        .map(|(i, r)| ProtocolRecord {
            transactional: producer.transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: producer.producer_id,
            producer_epoch: producer.producer_epoch,
            timestamp_type: ProtocolTimestampType::Creation,
            offset: i as i64,
            sequence: producer.sequence(i),
            timestamp: r.timestamp_ms,
            key: r.key.map(Bytes::copy_from_slice),
            value: r.value.map(Bytes::copy_from_slice),
            headers: Default::default(),
        })
        .collect();
    encode_records(&records, magic, compression, "encode record batch")
}

/// Encodes `records` as one batch of message format `magic` (the test encoders' one
/// `RecordBatchEncoder` call); `what` names the batch in the panic message.
fn encode_records(
    records: &[ProtocolRecord],
    magic: i8,
    compression: Compression,
    what: &str,
) -> Bytes {
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions {
            version: magic,
            compression,
        },
    )
    .unwrap_or_else(|e| panic!("{what}: {e}"));
    buf.freeze()
}

/// Milliseconds since the epoch now (producer expiry is measured from record timestamps,
/// as in Kafka, so batches of live producers carry the time they were written).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `values` as records with keys `k0, k1, ...`, timestamped now, in one uncompressed batch.
fn keyed_values_batch(values: &[&[u8]], producer: BatchProducer) -> Bytes {
    let keys: Vec<String> = (0..values.len()).map(|i| format!("k{i}")).collect();
    let timestamp_ms = now_ms();
    let records: Vec<BatchRecord<'_>> = keys
        .iter()
        .zip(values)
        .map(|(key, value)| BatchRecord {
            key: Some(key.as_bytes()),
            value: Some(value),
            timestamp_ms,
        })
        .collect();
    encode_v2_batch(&records, producer, Compression::None)
}

/// One uncompressed transactional v2 batch (attribute bit 4) of a producer: `values` as
/// records with keys `k0, k1, ...`, sequences from `sequence`, timestamped now.
pub fn encode_transactional_batch(values: &[&[u8]], pid: i64, epoch: i16, sequence: i32) -> Bytes {
    keyed_values_batch(values, BatchProducer::transactional(pid, epoch, sequence))
}

/// One uncompressed v2 batch of an idempotent producer: `values` as records with keys
/// `k0, k1, ...`, sequences from `sequence`, timestamped now (producer expiry is
/// measured from record timestamps, as in Kafka).
pub fn encode_idempotent_batch(values: &[&[u8]], pid: i64, epoch: i16, sequence: i32) -> Bytes {
    keyed_values_batch(values, BatchProducer::idempotent(pid, epoch, sequence))
}

/// A control batch as only the broker may write it: one transaction marker record (key =
/// version 0 + type 0 ABORT / 1 COMMIT, value = version 0 + coordinator epoch).
pub fn encode_control_batch(
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
) -> Bytes {
    let mut key = BytesMut::new();
    key.put_i16(0);
    key.put_i16(i16::from(commit));
    let mut value = BytesMut::new();
    value.put_i16(0);
    value.put_i32(coordinator_epoch);
    let record = ProtocolRecord {
        transactional: true,
        control: true,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id,
        producer_epoch,
        timestamp_type: ProtocolTimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 0,
        key: Some(key.freeze()),
        value: Some(value.freeze()),
        headers: Default::default(),
    };
    encode_records(&[record], 2, Compression::None, "encode control batch")
}

pub fn topic_name_of(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// Encode `records` (key, value) as one v2 batch (`magic` must be 2; see
/// [`encode_legacy_magic1`] for the old format) with the given codec. Offsets are relative
/// from 0, timestamps = `timestamp_ms`.
pub fn encode_batch(
    records: &[(&[u8], &[u8])],
    magic: i8,
    compression: Compression,
    timestamp_ms: i64,
) -> Bytes {
    let records: Vec<BatchRecord<'_>> = records
        .iter()
        .map(|(key, value)| BatchRecord {
            key: Some(key),
            value: Some(value),
            timestamp_ms,
        })
        .collect();
    encode_data_batch(&records, BatchProducer::PLAIN, magic, compression)
}

/// A record's key and value, either of which may be null.
pub type NullableRecord<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// One uncompressed v2 batch of `(key, value)` records where either may be null.
pub fn encode_nullable_batch(records: &[NullableRecord<'_>], timestamp_ms: i64) -> Bytes {
    let records: Vec<BatchRecord<'_>> = records
        .iter()
        .map(|(key, value)| BatchRecord {
            key: *key,
            value: *value,
            timestamp_ms,
        })
        .collect();
    encode_v2_batch(&records, BatchProducer::PLAIN, Compression::None)
}

/// One legacy (magic 1) message set entry, as pre-0.11 clients sent it. `kafka-protocol`
/// does not encode message sets v0/v1, so the few fields are written here by hand.
pub fn encode_legacy_magic1(key: &[u8], value: &[u8], timestamp_ms: i64) -> Bytes {
    let mut message = BytesMut::new();
    message.put_i8(1); // magic
    message.put_i8(0); // attributes: no compression, CreateTime
    message.put_i64(timestamp_ms);
    message.put_i32(key.len() as i32);
    message.put_slice(key);
    message.put_i32(value.len() as i32);
    message.put_slice(value);
    let crc = kafka_protocol::records::IEEE.checksum(&message);
    let mut entry = BytesMut::new();
    entry.put_i64(0); // offset
    entry.put_i32(4 + message.len() as i32); // message size: crc + rest
    entry.put_u32(crc);
    entry.put_slice(&message);
    entry.freeze()
}

/// Byte position of the CRC32C field in a v2 batch header (after baseOffset, batchLength,
/// partitionLeaderEpoch, magic).
pub const BATCH_V2_CRC_OFFSET: usize = 8 + 4 + 4 + 1;

/// Decode every record in a fetched records blob (for byte-exact comparisons).
pub fn decode_records(mut blob: Bytes) -> Vec<ProtocolRecord> {
    let mut out = Vec::new();
    let sets = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut blob)
        .expect("decode fetched record batches");
    for set in sets {
        out.extend(set.records);
    }
    out
}
