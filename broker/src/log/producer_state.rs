//! `ProducerStateManager`: idempotent-producer state of one partition (Kafka's
//! `ProducerStateManager` / `ProducerAppendInfo`).
//!
//! Per producer id: the epoch, and the sequence ranges and offsets of its last
//! [`PRODUCER_BATCHES_RETAINED`] batches. A leader append is checked against it
//! ([`ProducerStateManager::check`]): a retry of one of those batches is a duplicate and is
//! answered with the original offsets without being written again; a sequence gap is
//! OUT_OF_ORDER_SEQUENCE_NUMBER; an older epoch is INVALID_PRODUCER_EPOCH. As Kafka 4, a
//! producer the partition has no state for is accepted at any sequence (its records may have
//! been removed by retention), and a new epoch must start at sequence 0.
//!
//! State is rebuilt from batch *headers* (producer id, epoch, base sequence, offsets, max
//! timestamp) — records are never decoded. It is persisted as `<offset>.snapshot` files beside
//! the segments (at every roll and at clean shutdown); on open the latest readable snapshot
//! at or below the log end offset is loaded and the log after it replayed.
//!
//! Transactions: a transactional batch opens the producer's transaction at its base offset
//! ([`ProducerEntry::current_txn_first_offset`]) unless one is ongoing; a transaction marker
//! (control batch, written only by `Log::append_txn_marker` or replayed from the log) ends it
//! ([`ProducerStateManager::complete_txn`]). The earliest ongoing transaction's first offset
//! ([`ProducerStateManager::first_unstable_offset`]) bounds the last stable offset.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::batch::BatchHeader;
use super::checkpoint::write_atomically;
use super::LogError;

/// Batches remembered per producer for duplicate detection (Kafka's
/// `NUM_BATCHES_TO_RETAIN`, matching `max.in.flight.requests.per.connection` ≤ 5).
pub(crate) const PRODUCER_BATCHES_RETAINED: usize = 5;
pub(crate) const SNAPSHOT_SUFFIX: &str = ".snapshot";
/// Snapshot files kept per partition (older ones are deleted when a new one is written).
const SNAPSHOTS_RETAINED: usize = 2;
const SNAPSHOT_VERSION: u16 = 1;

/// One appended batch of a producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BatchMetadata {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    /// The batch's max timestamp.
    pub timestamp_ms: i64,
}

/// What the partition knows about one producer id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProducerEntry {
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// Oldest first, at most [`PRODUCER_BATCHES_RETAINED`].
    pub batches: VecDeque<BatchMetadata>,
    /// Max timestamp of the last batch (producer expiry is measured from it, as in Kafka).
    pub last_timestamp_ms: i64,
    /// Epoch of the transaction coordinator that last wrote a marker (-1: none yet).
    #[serde(default = "no_coordinator_epoch")]
    pub coordinator_epoch: i32,
    /// First offset of the producer's ongoing transaction; an entry with an ongoing
    /// transaction never expires.
    #[serde(default)]
    pub current_txn_first_offset: Option<i64>,
}

fn no_coordinator_epoch() -> i32 {
    -1
}

impl ProducerEntry {
    /// The sequence of the producer's last record here (None before its first batch, e.g.
    /// a producer known only from a marker).
    pub(crate) fn last_seq(&self) -> Option<i32> {
        self.batches.back().map(|b| b.last_seq)
    }
}

/// The last thing a producer wrote, as the cleaner needs it (Kafka's `LastRecord`): the last
/// offset of its last data batch, or `None` when its latest entry is a transaction marker
/// (after an epoch bump, or a marker for a producer without batches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LastRecord {
    pub last_data_offset: Option<i64>,
    pub producer_epoch: i16,
}

/// Outcome of checking a produced batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SequenceCheck {
    /// Write it.
    Append,
    /// A retry of a batch already in the log: answer with these offsets, write nothing.
    Duplicate(BatchMetadata),
}

#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    version: u16,
    offset: i64,
    producers: Vec<ProducerEntry>,
}

/// Producer state of one partition. Not synchronized: the log holds it under its append lock.
#[derive(Debug, Default, Clone)]
pub(crate) struct ProducerStateManager {
    producers: HashMap<i64, ProducerEntry>,
    /// KIP-890 verification guards (memory only, as Kafka's): producer id → (the guard
    /// handed out when a transactional produce started verifying with the transaction
    /// coordinator, when). A marker or the transaction's first batch clears it; an unused
    /// one expires with `producer.id.expiration.ms`, so failed verifications leave nothing.
    verification_guards: HashMap<i64, (u64, i64)>,
}

/// Source of unique verification guards.
static NEXT_VERIFICATION_GUARD: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn in_sequence(last_seq: i32, next_seq: i32) -> bool {
    i64::from(next_seq) == i64::from(last_seq) + 1 || (next_seq == 0 && last_seq == i32::MAX)
}

/// The sequence of the last record of a batch (sequences wrap at `i32::MAX`).
fn last_seq_of(header: &BatchHeader) -> i32 {
    let last = i64::from(header.base_sequence) + i64::from(header.last_offset_delta);
    if last > i64::from(i32::MAX) {
        (last - i64::from(i32::MAX) - 1) as i32
    } else {
        last as i32
    }
}

impl ProducerStateManager {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    #[cfg(test)]
    pub(crate) fn producer(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    pub(crate) fn producer_count(&self) -> usize {
        self.producers.len()
    }

    /// Every producer the partition tracks, by producer id.
    pub(crate) fn producers(&self) -> Vec<ProducerEntry> {
        let mut all: Vec<ProducerEntry> = self.producers.values().cloned().collect();
        all.sort_by_key(|e| e.producer_id);
        all
    }

    /// Checks a produced batch against the state (`staged` holds entries updated by earlier
    /// batches of the same append, consulted first).
    /// Without `verify_sequence` (a coordinator's own batches) only the epoch and the
    /// transaction state are checked.
    pub(crate) fn check(
        &self,
        staged: &HashMap<i64, ProducerEntry>,
        header: &BatchHeader,
        verify_sequence: bool,
    ) -> Result<SequenceCheck, LogError> {
        let producer_id = header.producer_id;
        let Some(entry) = staged
            .get(&producer_id)
            .or_else(|| self.producers.get(&producer_id))
        else {
            // Kafka 4: no state (never seen, expired, or removed with its records): accept.
            return Ok(SequenceCheck::Append);
        };
        let epoch = header.producer_epoch;
        if epoch < entry.producer_epoch {
            return Err(LogError::InvalidProducerEpoch(format!(
                "producer {producer_id} epoch {epoch} is older than the current epoch {}",
                entry.producer_epoch
            )));
        }
        if entry.current_txn_first_offset.is_some() && !header.is_transactional() {
            return Err(LogError::InvalidTxnState(format!(
                "producer {producer_id} has an ongoing transaction but wrote a non-transactional batch"
            )));
        }
        if !verify_sequence {
            return Ok(SequenceCheck::Append);
        }
        let first_seq = header.base_sequence;
        let last_seq = last_seq_of(header);
        if epoch == entry.producer_epoch {
            if let Some(original) = entry
                .batches
                .iter()
                .find(|b| b.first_seq == first_seq && b.last_seq == last_seq)
            {
                return Ok(SequenceCheck::Duplicate(*original));
            }
            if let Some(current_last) = entry.last_seq() {
                if !in_sequence(current_last, first_seq) {
                    return Err(LogError::OutOfOrderSequence(format!(
                        "producer {producer_id} epoch {epoch}: sequence {first_seq} does not follow {current_last}"
                    )));
                }
            }
        } else if first_seq != 0 {
            return Err(LogError::OutOfOrderSequence(format!(
                "producer {producer_id}: new epoch {epoch} must start at sequence 0, got {first_seq}"
            )));
        }
        Ok(SequenceCheck::Append)
    }

    /// The entry after appending `header` (with its final offsets), from `staged` or state.
    pub(crate) fn updated_entry(
        &self,
        staged: &HashMap<i64, ProducerEntry>,
        header: &BatchHeader,
    ) -> ProducerEntry {
        let mut entry = staged
            .get(&header.producer_id)
            .or_else(|| self.producers.get(&header.producer_id))
            .cloned()
            .unwrap_or(ProducerEntry {
                producer_id: header.producer_id,
                producer_epoch: header.producer_epoch,
                batches: VecDeque::new(),
                last_timestamp_ms: -1,
                coordinator_epoch: -1,
                current_txn_first_offset: None,
            });
        if header.producer_epoch != entry.producer_epoch {
            entry.producer_epoch = header.producer_epoch;
            entry.batches.clear();
        }
        if entry.batches.len() >= PRODUCER_BATCHES_RETAINED {
            entry.batches.pop_front();
        }
        entry.batches.push_back(BatchMetadata {
            first_seq: header.base_sequence,
            last_seq: last_seq_of(header),
            first_offset: header.base_offset,
            last_offset: header.last_offset(),
            timestamp_ms: header.max_timestamp,
        });
        entry.last_timestamp_ms = header.max_timestamp;
        if header.is_transactional() && entry.current_txn_first_offset.is_none() {
            entry.current_txn_first_offset = Some(header.base_offset);
        }
        entry
    }

    /// Checks a transaction marker of `producer_id`: an epoch older than the partition's is
    /// INVALID_PRODUCER_EPOCH (Kafka's PRODUCER_FENCED), a coordinator epoch older than the
    /// last marker's is TRANSACTION_COORDINATOR_FENCED. A producer without state is accepted.
    pub(crate) fn check_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
    ) -> Result<(), LogError> {
        let Some(entry) = self.producers.get(&producer_id) else {
            return Ok(());
        };
        if producer_epoch < entry.producer_epoch {
            return Err(LogError::InvalidProducerEpoch(format!(
                "transaction marker for producer {producer_id} has epoch {producer_epoch}, older than the current epoch {}",
                entry.producer_epoch
            )));
        }
        if coordinator_epoch < entry.coordinator_epoch {
            return Err(LogError::TransactionCoordinatorFenced(format!(
                "transaction marker for producer {producer_id} has coordinator epoch {coordinator_epoch}, older than {}",
                entry.coordinator_epoch
            )));
        }
        Ok(())
    }

    /// Ends `producer_id`'s ongoing transaction with a marker at `marker_offset` (leader
    /// append or replay). Returns the completed transaction's first offset (`None` when the
    /// producer had no ongoing transaction: Kafka writes such markers too).
    pub(crate) fn complete_txn(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        timestamp_ms: i64,
    ) -> Option<i64> {
        let entry = self
            .producers
            .entry(producer_id)
            .or_insert_with(|| ProducerEntry {
                producer_id,
                producer_epoch,
                batches: VecDeque::new(),
                last_timestamp_ms: timestamp_ms,
                coordinator_epoch,
                current_txn_first_offset: None,
            });
        if producer_epoch != entry.producer_epoch {
            entry.producer_epoch = producer_epoch;
            entry.batches.clear();
        }
        entry.coordinator_epoch = coordinator_epoch;
        entry.last_timestamp_ms = timestamp_ms;
        // A verification that started before the marker is void: its transaction ended.
        self.verification_guards.remove(&producer_id);
        entry.current_txn_first_offset.take()
    }

    /// First offset of the earliest ongoing transaction (Kafka's first unstable offset).
    pub(crate) fn first_unstable_offset(&self) -> Option<i64> {
        self.producers
            .values()
            .filter_map(|e| e.current_txn_first_offset)
            .min()
    }

    /// Per producer id, its last data offset and epoch (Kafka's `lastRecordsOfActiveProducers`).
    pub(crate) fn last_records(&self) -> HashMap<i64, LastRecord> {
        self.producers
            .values()
            .map(|e| {
                (
                    e.producer_id,
                    LastRecord {
                        last_data_offset: e.batches.back().map(|b| b.last_offset),
                        producer_epoch: e.producer_epoch,
                    },
                )
            })
            .collect()
    }

    /// Producers with an ongoing transaction: `(producer_id, first_offset)`, by first offset.
    pub(crate) fn ongoing_txns(&self) -> Vec<(i64, i64)> {
        let mut txns: Vec<(i64, i64)> = self
            .producers
            .values()
            .filter_map(|e| e.current_txn_first_offset.map(|f| (e.producer_id, f)))
            .collect();
        txns.sort_by_key(|(_, first)| *first);
        txns
    }

    /// Records an appended batch (leader after writing, follower, or replay from the log).
    /// Batches without a producer id and control batches change nothing.
    pub(crate) fn update(&mut self, header: &BatchHeader) {
        if header.producer_id < 0 || header.is_control() {
            return;
        }
        let entry = self.updated_entry(&HashMap::new(), header);
        self.producers.insert(header.producer_id, entry);
    }

    /// Installs entries staged during a checked append.
    pub(crate) fn commit(&mut self, staged: HashMap<i64, ProducerEntry>) {
        for (producer_id, entry) in &staged {
            if entry.current_txn_first_offset.is_some() {
                self.verification_guards.remove(producer_id);
            }
        }
        self.producers.extend(staged);
    }

    /// Whether `producer_id` (as `staged` or the state knows it) has an ongoing transaction.
    pub(crate) fn has_ongoing_txn(
        &self,
        staged: &HashMap<i64, ProducerEntry>,
        producer_id: i64,
    ) -> bool {
        staged
            .get(&producer_id)
            .or_else(|| self.producers.get(&producer_id))
            .is_some_and(|e| e.current_txn_first_offset.is_some())
    }

    /// KIP-890: a transactional produce of `producer_id` needs verifying with the
    /// transaction coordinator unless the producer already has a transaction here. Returns
    /// the guard to append with (the same one while a verification is outstanding), or
    /// `None` when no verification is needed.
    pub(crate) fn start_verification(&mut self, producer_id: i64, now_ms: i64) -> Option<u64> {
        if self.has_ongoing_txn(&HashMap::new(), producer_id) {
            return None;
        }
        let (guard, _) = self
            .verification_guards
            .entry(producer_id)
            .or_insert_with(|| {
                (
                    NEXT_VERIFICATION_GUARD.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                    now_ms,
                )
            });
        Some(*guard)
    }

    /// The producer's outstanding verification guard.
    pub(crate) fn verification_guard(&self, producer_id: i64) -> Option<u64> {
        self.verification_guards
            .get(&producer_id)
            .map(|(guard, _)| *guard)
    }

    /// Drops producers idle for `expiration_ms` (none with an ongoing transaction), and
    /// verification guards older than that.
    pub(crate) fn remove_expired(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        self.verification_guards
            .retain(|_, (_, since_ms)| now_ms.saturating_sub(*since_ms) < expiration_ms);
        let before = self.producers.len();
        self.producers.retain(|_, e| {
            e.current_txn_first_offset.is_some()
                || now_ms.saturating_sub(e.last_timestamp_ms) < expiration_ms
        });
        before - self.producers.len()
    }

    /// Writes `<offset>.snapshot` atomically and deletes all but the newest snapshots.
    pub(crate) fn write_snapshot(&self, dir: &Path, offset: i64) -> Result<(), LogError> {
        let mut producers: Vec<ProducerEntry> = self.producers.values().cloned().collect();
        producers.sort_by_key(|e| e.producer_id);
        let snapshot = Snapshot {
            version: SNAPSHOT_VERSION,
            offset,
            producers,
        };
        let bytes = serde_json::to_vec(&snapshot).map_err(|e| {
            LogError::io(
                snapshot_file(dir, offset),
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })?;
        write_atomically(&snapshot_file(dir, offset), &bytes)?;
        let offsets = list_snapshots(dir)?;
        if offsets.len() > SNAPSHOTS_RETAINED {
            for old in &offsets[..offsets.len() - SNAPSHOTS_RETAINED] {
                remove_snapshot(dir, *old);
            }
        }
        Ok(())
    }

    /// Deletes every snapshot in `dir` (the log they described was emptied).
    pub(crate) fn remove_snapshots(dir: &Path) -> Result<(), LogError> {
        for offset in list_snapshots(dir)? {
            remove_snapshot(dir, offset);
        }
        Ok(())
    }

    /// Loads the newest readable snapshot at or below `max_offset` (deleting snapshots above
    /// it and unreadable ones). Returns the state and the snapshot's offset.
    pub(crate) fn load_latest(
        dir: &Path,
        max_offset: i64,
    ) -> Result<Option<(Self, i64)>, LogError> {
        let offsets = list_snapshots(dir)?;
        for offset in offsets.iter().rev() {
            if *offset > max_offset {
                remove_snapshot(dir, *offset);
                continue;
            }
            let path = snapshot_file(dir, *offset);
            let parsed = std::fs::read(&path)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Snapshot>(&bytes).ok())
                .filter(|s| s.version == SNAPSHOT_VERSION && s.offset == *offset);
            match parsed {
                Some(snapshot) => {
                    let producers = snapshot
                        .producers
                        .into_iter()
                        .map(|e| (e.producer_id, e))
                        .collect();
                    return Ok(Some((
                        Self {
                            producers,
                            verification_guards: HashMap::new(),
                        },
                        *offset,
                    )));
                }
                None => {
                    tracing::warn!(file = %path.display(), "ignoring unreadable producer snapshot");
                    remove_snapshot(dir, *offset);
                }
            }
        }
        Ok(None)
    }
}

pub(crate) fn snapshot_file(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}{SNAPSHOT_SUFFIX}"))
}

fn remove_snapshot(dir: &Path, offset: i64) {
    let path = snapshot_file(dir, offset);
    if let Err(e) = std::fs::remove_file(&path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(file = %path.display(), error = %e, "cannot remove producer snapshot");
        }
    }
}

/// Offsets of `<offset>.snapshot` files, ascending.
fn list_snapshots(dir: &Path) -> Result<Vec<i64>, LogError> {
    let mut offsets = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(offsets),
        Err(e) => return Err(LogError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| LogError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(offset) = name
            .strip_suffix(SNAPSHOT_SUFFIX)
            .filter(|s| s.len() == 20)
            .and_then(|s| s.parse::<i64>().ok())
        {
            offsets.push(offset);
        }
    }
    offsets.sort_unstable();
    Ok(offsets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(
        producer_id: i64,
        epoch: i16,
        base_seq: i32,
        count: i32,
        base_offset: i64,
    ) -> BatchHeader {
        BatchHeader {
            base_offset,
            batch_length: 100,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 1_000,
            max_timestamp: 1_000,
            producer_id,
            producer_epoch: epoch,
            base_sequence: base_seq,
            record_count: count,
        }
    }

    fn check(state: &ProducerStateManager, h: &BatchHeader) -> Result<SequenceCheck, LogError> {
        state.check(&HashMap::new(), h, true)
    }

    #[test]
    fn unused_verification_guards_expire_with_the_producer_expiration() {
        let mut state = ProducerStateManager::new();
        // A verification that failed at the coordinator leaves its guard behind.
        let guard = state
            .start_verification(42, 1_000)
            .expect("no transaction: verify");
        assert_eq!(
            state.start_verification(42, 1_500),
            Some(guard),
            "reused meanwhile"
        );
        state.remove_expired(1_999, 1_000);
        assert_eq!(state.verification_guard(42), Some(guard), "not yet expired");
        state.remove_expired(2_000, 1_000);
        assert_eq!(
            state.verification_guard(42),
            None,
            "expired: nothing left behind"
        );
        assert_ne!(
            state.start_verification(42, 2_000),
            Some(guard),
            "a new guard"
        );
    }

    #[test]
    fn sequences_duplicates_gaps_and_epochs() {
        let mut state = ProducerStateManager::new();
        assert_eq!(
            check(&state, &header(7, 0, 42, 1, 0)).unwrap(),
            SequenceCheck::Append,
            "an unknown producer is accepted at any sequence (Kafka 4)"
        );
        for i in 0..7 {
            let h = header(7, 0, i * 3, 3, 100 + i64::from(i) * 3);
            assert_eq!(check(&state, &h).unwrap(), SequenceCheck::Append);
            state.update(&h);
        }
        // The last 5 batches (sequences 6..=20) are duplicates with their original offsets.
        for i in 2..7 {
            let retry = header(7, 0, i * 3, 3, 999);
            match check(&state, &retry).unwrap() {
                SequenceCheck::Duplicate(b) => assert_eq!(b.first_offset, 100 + i64::from(i) * 3),
                other => panic!("retry of batch {i} must be a duplicate, got {other:?}"),
            }
        }
        assert!(
            matches!(
                check(&state, &header(7, 0, 0, 3, 0)),
                Err(LogError::OutOfOrderSequence(_))
            ),
            "a batch older than the retained 5 is out of order"
        );
        assert!(matches!(
            check(&state, &header(7, 0, 22, 1, 0)),
            Err(LogError::OutOfOrderSequence(_))
        ));
        assert_eq!(
            check(&state, &header(7, 0, 21, 1, 0)).unwrap(),
            SequenceCheck::Append
        );
        assert!(
            matches!(
                check(&state, &header(7, 1, 5, 1, 0)),
                Err(LogError::OutOfOrderSequence(_))
            ),
            "a new epoch starts at 0"
        );
        let bump = header(7, 1, 0, 1, 200);
        assert_eq!(check(&state, &bump).unwrap(), SequenceCheck::Append);
        state.update(&bump);
        assert!(matches!(
            check(&state, &header(7, 0, 21, 1, 0)),
            Err(LogError::InvalidProducerEpoch(_))
        ));
        assert_eq!(
            state.producer(7).unwrap().batches.len(),
            1,
            "a new epoch forgets old batches"
        );
    }

    #[test]
    fn snapshots_round_trip_and_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = ProducerStateManager::new();
        state.update(&header(1, 0, 0, 2, 0));
        state.update(&header(2, 3, 0, 1, 2));
        for offset in [3, 10, 20] {
            state.write_snapshot(dir.path(), offset).unwrap();
        }
        assert_eq!(
            list_snapshots(dir.path()).unwrap(),
            vec![10, 20],
            "only the newest are kept"
        );
        let (loaded, at) = ProducerStateManager::load_latest(dir.path(), 15)
            .unwrap()
            .unwrap();
        assert_eq!(at, 10, "snapshots beyond the log end are ignored");
        assert_eq!(loaded.producers, state.producers);
        assert_eq!(list_snapshots(dir.path()).unwrap(), vec![10]);
        std::fs::write(snapshot_file(dir.path(), 10), b"{garbage").unwrap();
        assert!(ProducerStateManager::load_latest(dir.path(), 15)
            .unwrap()
            .is_none());

        assert_eq!(state.remove_expired(1_000 + 500, 1_000), 0);
        assert_eq!(state.remove_expired(1_000 + 1_000, 1_000), 2);
    }
}
