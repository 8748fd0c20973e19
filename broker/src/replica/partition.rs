//! `Partition`: one partition this broker hosts — its log and the leadership state the
//! latest applied metadata image gave it.

use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};
use std::sync::Arc;

use uuid::Uuid;

use crate::error::{ApiError, ResponseError};
use crate::log::Log;
use crate::types::TopicPartition;

/// One hosted partition.
pub(crate) struct Partition {
    pub tp: TopicPartition,
    pub topic_id: Uuid,
    pub log: Arc<Log>,
    pub(super) leader_id: AtomicI32,
    pub(super) leader_epoch: AtomicI32,
    pub(super) high_watermark: AtomicI64,
    pub(super) isr_len: AtomicI32,
    pub(super) min_insync_replicas: AtomicI32,
}

impl Partition {
    pub(crate) fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    pub(crate) fn leader_id(&self) -> i32 {
        self.leader_id.load(Ordering::Acquire)
    }

    pub(crate) fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    /// Last stable offset: the high watermark, or the first offset of the earliest ongoing
    /// transaction when lower (never below the log start offset, as in Kafka).
    pub(crate) fn last_stable_offset(&self) -> i64 {
        let hw = self.high_watermark();
        match self.log.first_unstable_offset() {
            Some(first) => first.max(self.log.log_start_offset()).min(hw),
            None => hw,
        }
    }

    pub(crate) fn isr_len(&self) -> i32 {
        self.isr_len.load(Ordering::Acquire)
    }

    /// Raises the high watermark to the log end offset (single replica in the ISR: every
    /// appended batch is committed as soon as it is written).
    pub(super) fn advance_high_watermark(&self) {
        let leo = self.log.log_end_offset();
        let previous = self.high_watermark.fetch_max(leo, Ordering::AcqRel);
        debug_assert!(
            previous <= leo,
            "high watermark {previous} above log end offset {leo}"
        );
    }

    /// Checks a client-supplied leader epoch against ours (-1 = no check).
    pub(crate) fn check_leader_epoch(&self, requested: i32) -> Result<(), ApiError> {
        let ours = self.leader_epoch();
        match requested {
            -1 => Ok(()),
            e if e > ours => Err(ResponseError::UnknownLeaderEpoch.into()),
            e if e < ours => Err(ResponseError::FencedLeaderEpoch.into()),
            _ => Ok(()),
        }
    }
}
