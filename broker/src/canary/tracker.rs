//! `canary::tracker`: what one canary partition's records became — pure bookkeeping, no
//! I/O, no clock of its own (callers pass `now`).
//!
//! The producer reports each acknowledged record (its sequence and offset); the consumer
//! reports each record of this run it reads and how far it read. A record is:
//! - **consumed** when the consumer reads its sequence (a record whose acknowledgement was
//!   lost, or arrives after it was read, is fine: it was not acknowledged-and-missing);
//! - **duplicated** when its sequence is read again (within the last [`CONSUMED_WINDOW`]
//!   sequences read);
//! - **out of order** when it is read after a higher sequence of this run was;
//! - **lost** when it was acknowledged and the consumer's position passed its offset
//!   without reading it (`Lost::Skipped`: deleted, truncated, or another record at its
//!   offset), or a fetch sent more than the lost timeout after its acknowledgement
//!   succeeded without it (`Lost::Timeout`: the consumer could read the partition and the
//!   record was not there — a partition nobody can fetch from is unavailable, not lost). A
//!   record read after being declared lost by the timeout counts as consumed too; the loss
//!   stays counted (the consumer did not see it within the bound).
//!
//! Bounded: at most [`PENDING_MAX`] acknowledged records wait to be read (past that the
//! oldest is lost by timeout) and [`CONSUMED_WINDOW`] sequences are remembered.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Acknowledged records waiting to be read, at most (then the oldest is declared lost).
pub(crate) const PENDING_MAX: usize = 100_000;
/// Sequences read that are remembered for duplicate detection.
pub(crate) const CONSUMED_WINDOW: usize = 10_000;

/// An acknowledged record not read yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    offset: i64,
    acked_at: Instant,
    /// The leader that acknowledged it.
    broker: i32,
}

impl Pending {
    fn lost(&self, sequence: i64, reason: LostReason) -> LostRecord {
        LostRecord {
            sequence,
            offset: self.offset,
            broker: self.broker,
            reason,
        }
    }
}

/// How a record read by the consumer compares to what was read before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadOutcome {
    InOrder,
    Duplicate,
    OutOfOrder,
}

/// Why an acknowledged record counts as lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LostReason {
    /// The consumer's position passed its offset without reading it.
    Skipped,
    /// Not read within the lost timeout.
    Timeout,
}

impl LostReason {
    pub(crate) fn label(self) -> &'static str {
        match self {
            LostReason::Skipped => "skipped",
            LostReason::Timeout => "timeout",
        }
    }
}

/// A lost record: its sequence, offset, the broker that acknowledged it, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LostRecord {
    pub(crate) sequence: i64,
    pub(crate) offset: i64,
    pub(crate) broker: i32,
    pub(crate) reason: LostReason,
}

/// One partition's records of this run.
#[derive(Debug, Default)]
pub(crate) struct PartitionTracker {
    /// Acknowledged, not read yet, by sequence.
    pending: BTreeMap<i64, Pending>,
    /// Sequences read recently (the newest [`CONSUMED_WINDOW`]).
    consumed: BTreeSet<i64>,
    max_consumed: Option<i64>,
    /// The consumer's next offset (`None` until it has one).
    position: Option<i64>,
    /// When the last fetch of the partition that succeeded was sent.
    last_fetch_sent: Option<Instant>,
}

impl PartitionTracker {
    /// The producer's record `sequence` was acknowledged at `offset` by `broker`. Returns
    /// the record if the consumer already passed that offset without reading it.
    pub(crate) fn acked(
        &mut self,
        sequence: i64,
        offset: i64,
        broker: i32,
        now: Instant,
    ) -> Vec<LostRecord> {
        if self.consumed.contains(&sequence) {
            return Vec::new(); // read before its acknowledgement arrived
        }
        if self.position.is_some_and(|p| offset < p) {
            return vec![LostRecord {
                sequence,
                offset,
                broker,
                reason: LostReason::Skipped,
            }];
        }
        self.pending.insert(
            sequence,
            Pending {
                offset,
                acked_at: now,
                broker,
            },
        );
        let mut lost = Vec::new();
        while self.pending.len() > PENDING_MAX {
            if let Some((sequence, p)) = self.pending.pop_first() {
                lost.push(p.lost(sequence, LostReason::Timeout));
            }
        }
        lost
    }

    /// The consumer read record `sequence` of this run.
    pub(crate) fn read(&mut self, sequence: i64) -> ReadOutcome {
        self.pending.remove(&sequence);
        if !self.consumed.insert(sequence) {
            return ReadOutcome::Duplicate;
        }
        while self.consumed.len() > CONSUMED_WINDOW {
            self.consumed.pop_first();
        }
        match self.max_consumed {
            Some(max) if sequence < max => ReadOutcome::OutOfOrder,
            _ => {
                self.max_consumed = Some(sequence);
                ReadOutcome::InOrder
            }
        }
    }

    /// The consumer's next offset is `position` (it read everything below it, or was
    /// reset there). Returns the acknowledged records below it that it did not read.
    pub(crate) fn advance(&mut self, position: i64) -> Vec<LostRecord> {
        self.position = Some(self.position.map_or(position, |p| p.max(position)));
        self.take_pending(LostReason::Skipped, |p| p.offset < position)
    }

    /// The consumer restarts at `position` (its own position became invalid: the log was
    /// truncated below it, or the partition was created again). Unlike [`advance`], the
    /// position may go back.
    ///
    /// [`advance`]: PartitionTracker::advance
    pub(crate) fn reset(&mut self, position: i64) -> Vec<LostRecord> {
        self.position = None;
        self.advance(position)
    }

    /// A fetch of the partition sent at `sent_at` succeeded (whatever it returned).
    pub(crate) fn fetched(&mut self, sent_at: Instant) {
        self.last_fetch_sent = Some(self.last_fetch_sent.map_or(sent_at, |t| t.max(sent_at)));
    }

    /// The acknowledged records that a successful fetch sent `timeout` or more after their
    /// acknowledgement did not return.
    pub(crate) fn expire(&mut self, timeout: Duration) -> Vec<LostRecord> {
        let Some(fetched) = self.last_fetch_sent else {
            return Vec::new();
        };
        self.take_pending(LostReason::Timeout, |p| {
            fetched.saturating_duration_since(p.acked_at) >= timeout
        })
    }

    /// Removes the pending records `lost_if` picks and returns them as lost for `reason`.
    fn take_pending(
        &mut self,
        reason: LostReason,
        mut lost_if: impl FnMut(&Pending) -> bool,
    ) -> Vec<LostRecord> {
        let mut lost = Vec::new();
        self.pending.retain(|&sequence, p| {
            if !lost_if(p) {
                return true;
            }
            lost.push(p.lost(sequence, reason));
            false
        });
        lost
    }

    /// Acknowledged records not read yet.
    pub(crate) fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The consumer's next offset, once it has one.
    pub(crate) fn position(&self) -> Option<i64> {
        self.position
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_in_order_are_neither_lost_nor_duplicated() {
        let now = Instant::now();
        let mut t = PartitionTracker::default();
        t.reset(10);
        for (seq, offset) in [(1, 10), (2, 11), (3, 12)] {
            assert!(t.acked(seq, offset, 1, now).is_empty());
        }
        assert_eq!(t.pending(), 3);
        for seq in 1..=3 {
            assert_eq!(t.read(seq), ReadOutcome::InOrder);
        }
        assert!(t.advance(13).is_empty());
        assert_eq!(t.pending(), 0);
        t.fetched(now + Duration::from_secs(3600));
        assert!(t.expire(Duration::from_secs(1)).is_empty());
    }

    #[test]
    fn a_record_read_before_its_acknowledgement_is_not_pending() {
        let now = Instant::now();
        let mut t = PartitionTracker::default();
        t.reset(0);
        assert_eq!(t.read(1), ReadOutcome::InOrder);
        assert!(t.advance(1).is_empty());
        assert!(t.acked(1, 0, 2, now).is_empty(), "read already: not lost");
        assert_eq!(t.pending(), 0);
    }

    #[test]
    fn a_passed_offset_is_a_lost_record_of_the_broker_that_acknowledged_it() {
        let now = Instant::now();
        let mut t = PartitionTracker::default();
        t.reset(0);
        t.acked(1, 0, 1, now);
        t.acked(2, 1, 2, now);
        t.acked(3, 2, 2, now);
        // records 0 and 1 were deleted: the consumer restarts at the log start, 2
        let lost = t.reset(2);
        assert_eq!(
            lost,
            [
                LostRecord {
                    sequence: 1,
                    offset: 0,
                    broker: 1,
                    reason: LostReason::Skipped
                },
                LostRecord {
                    sequence: 2,
                    offset: 1,
                    broker: 2,
                    reason: LostReason::Skipped
                },
            ]
        );
        assert_eq!(t.read(3), ReadOutcome::InOrder);
        // an acknowledgement of an offset the consumer is past already
        let late = t.acked(4, 1, 2, now);
        assert_eq!(
            late.len(),
            1,
            "acked below the position and never read: lost"
        );
        assert_eq!(late[0].reason, LostReason::Skipped);
    }

    #[test]
    fn duplicates_and_out_of_order_records_are_told_apart() {
        let mut t = PartitionTracker::default();
        assert_eq!(t.read(1), ReadOutcome::InOrder);
        assert_eq!(t.read(3), ReadOutcome::InOrder);
        assert_eq!(t.read(3), ReadOutcome::Duplicate);
        assert_eq!(t.read(2), ReadOutcome::OutOfOrder);
        assert_eq!(t.read(2), ReadOutcome::Duplicate);
        assert_eq!(t.read(4), ReadOutcome::InOrder);
    }

    #[test]
    fn records_a_fetch_past_the_timeout_did_not_return_are_lost_once() {
        let now = Instant::now();
        let mut t = PartitionTracker::default();
        t.reset(0);
        t.acked(1, 0, 1, now);
        t.acked(2, 1, 1, now + Duration::from_secs(5));
        assert!(
            t.expire(Duration::from_secs(3)).is_empty(),
            "no fetch succeeded: the partition is unavailable, nothing is lost yet"
        );
        t.fetched(now + Duration::from_secs(2));
        assert!(
            t.expire(Duration::from_secs(3)).is_empty(),
            "fetched before the bound"
        );
        t.fetched(now + Duration::from_secs(6));
        let lost = t.expire(Duration::from_secs(3));
        assert_eq!(lost.len(), 1);
        assert_eq!((lost[0].sequence, lost[0].reason), (1, LostReason::Timeout));
        assert!(t.expire(Duration::from_secs(3)).is_empty());
        // read late: consumed, not lost again
        assert_eq!(t.read(1), ReadOutcome::InOrder);
        assert!(t.advance(1).is_empty());
        assert_eq!(t.pending(), 1);
    }

    #[test]
    fn the_pending_records_and_the_window_are_bounded() {
        let now = Instant::now();
        let mut t = PartitionTracker::default();
        t.reset(0);
        let mut lost = 0;
        for seq in 0..(PENDING_MAX as i64 + 3) {
            lost += t.acked(seq, seq, 1, now).len();
        }
        assert_eq!((lost, t.pending()), (3, PENDING_MAX));
        for seq in 0..(CONSUMED_WINDOW as i64 + 10) {
            t.read(seq);
        }
        assert_eq!(t.consumed.len(), CONSUMED_WINDOW);
    }
}
