//! `canary::record`: what a canary record carries — the run that wrote it, its sequence
//! within its partition and when it was sent — as a small JSON value, so a person reading
//! the topic (kcat) sees what it is.

use bytes::Bytes;
use ironlog_protocol::kafka_protocol::records::{
    Record, TimestampType, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID,
};
use serde::{Deserialize, Serialize};

/// A canary record's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CanaryRecord {
    pub(crate) run_id: String,
    /// 1, 2, ... per partition within a run.
    pub(crate) sequence: i64,
    /// Wall-clock time of sending, ms since the epoch.
    pub(crate) timestamp_ms: i64,
}

impl CanaryRecord {
    /// This record as a v2 batch of one record without a producer id.
    pub(crate) fn encode_batch(&self) -> Result<Bytes, String> {
        let value = serde_json::to_vec(self).map_err(|e| e.to_string())?;
        let record = Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: -1,
            timestamp: self.timestamp_ms,
            key: None,
            value: Some(Bytes::from(value)),
            headers: Default::default(),
        };
        crate::log::batch::encode_one(&record)
    }

    /// The canary record a value holds, if it is one.
    pub(crate) fn decode(value: &[u8]) -> Option<CanaryRecord> {
        serde_json::from_slice(value).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironlog_protocol::kafka_protocol::records::RecordBatchDecoder;

    #[test]
    fn a_record_survives_its_batch() {
        let record = CanaryRecord {
            run_id: "r1".to_string(),
            sequence: 7,
            timestamp_ms: 1_700_000_000_000,
        };
        let mut batch = record.encode_batch().expect("encode");
        let set = RecordBatchDecoder::decode(&mut batch).expect("decode");
        assert_eq!(set.records.len(), 1);
        let value = set.records[0].value.as_deref().expect("a value");
        assert_eq!(CanaryRecord::decode(value), Some(record));
        assert_eq!(set.records[0].timestamp, 1_700_000_000_000);
        assert_eq!(CanaryRecord::decode(b"not json"), None);
    }
}
