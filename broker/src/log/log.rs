//! `Log`: one partition's segmented log (Kafka's `UnifiedLog`, local part).
//!
//! Locking: `append_lock` serializes every mutation (append, roll, retention, truncation,
//! flush); `state` (segments, offsets) is a `RwLock` taken for writing only to publish a
//! change. Readers take `state` for reading just long enough to locate bytes, then copy them
//! with `pread` on the segment's shared `Arc<File>` outside any lock. Lock order:
//! `append_lock` → `state` → `epoch_cache` → `producer_state` → `txn_index`.
//!
//! Transactions: transactional batches open a producer's transaction, markers
//! ([`Log::append_txn_marker`], never client batches) end it; the first offset of the earliest
//! ongoing transaction ([`Log::first_unstable_offset`]) bounds the last stable offset, and
//! aborted transactions are indexed per segment (`.txnindex`) for read_committed fetches.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;

use super::batch::{self, BatchHeader, ControlRecordType};
use super::checkpoint::sync_dir;
use super::epoch::LeaderEpochCache;
use super::file_cache::{CachedFile, FileCache};
use super::producer_state::{LastRecord, ProducerEntry, ProducerStateManager, SequenceCheck};
use super::segment::{self, FileSlice, LogSegment, ReadPlan};
use super::txn_index::{AbortedTxn, TxnIndexes, TXN_INDEX_SUFFIX};
use super::{LogConfig, LogError, TimestampType};

/// Result of an append.
/// KIP-890 transaction verification of a client's transactional batch (Kafka's
/// `VerificationGuard`): a batch that would start its producer's transaction on this
/// partition is accepted only with the guard the partition handed out before the
/// transaction coordinator confirmed the partition is in the producer's ongoing transaction
/// — so a late produce of an already-ended transaction cannot open a hanging one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxnVerification {
    /// No check (verification disabled, non-transactional requests, coordinators).
    Off,
    /// Verified with the coordinator under this guard ([`Log::start_txn_verification`]).
    Guard(u64),
    /// Verification is on but nothing was verified (the producer had an ongoing
    /// transaction when the request arrived): starting a new one is refused.
    Unverified,
}

/// Who appends a batch as leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AppendOrigin {
    /// A producer (Produce): every check, sequences included.
    Client,
    /// A coordinator writing its internal topic (offset commits, transactional offset
    /// commits, transaction state): no sequence checks.
    Coordinator,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The time stamped on the batches, -1 unless the topic uses LogAppendTime.
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
    pub record_count: i64,
    pub max_timestamp: i64,
    pub bytes: usize,
}

/// Result of a read: stored bytes (whole batches) and the log's bounds at read time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FetchData {
    pub records: Bytes,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

/// Stored batches as a read returns them: copied into memory, or left in their segment
/// file to be sent from there.
#[derive(Debug, Clone)]
pub(crate) enum Records {
    Memory(Bytes),
    File(FileSlice),
}

impl Records {
    pub(crate) fn len(&self) -> usize {
        match self {
            Records::Memory(b) => b.len(),
            Records::File(f) => f.len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for Records {
    fn default() -> Self {
        Records::Memory(Bytes::new())
    }
}

/// Result of [`Log::read_records`]: the batches, the offset after the last of them (`None`
/// when there are none) and the log's bounds at read time.
#[derive(Debug, Clone)]
pub(crate) struct RecordsRead {
    pub records: Records,
    pub next_offset: Option<i64>,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

/// A record found by a timestamp lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetAndTimestamp {
    pub offset: i64,
    pub timestamp: i64,
    pub leader_epoch: Option<i32>,
}

#[derive(Debug)]
struct LogState {
    /// Segments by base offset; never empty while the log is open (the last is active).
    segments: BTreeMap<i64, LogSegment>,
    log_start_offset: i64,
    log_end_offset: i64,
    recovery_point: i64,
    messages_unflushed: i64,
    last_flush_ms: i64,
    deleted: bool,
    /// Bumped by every truncation, so the cleaner can tell its view of the segments is stale.
    truncations: u64,
}

impl LogState {
    fn active(&self) -> Result<&LogSegment, LogError> {
        self.segments.values().next_back().ok_or_else(no_segments)
    }
    fn active_mut(&mut self) -> Result<&mut LogSegment, LogError> {
        self.segments
            .values_mut()
            .next_back()
            .ok_or_else(no_segments)
    }
}

fn no_segments() -> LogError {
    LogError::io(
        "<log>",
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "log has no segments (deleted?)",
        ),
    )
}

/// One partition's log.
#[derive(Debug)]
pub(crate) struct Log {
    dir: PathBuf,
    config: RwLock<LogConfig>,
    append_lock: Mutex<()>,
    state: RwLock<LogState>,
    epoch_cache: Mutex<LeaderEpochCache>,
    /// The cleaner's first dirty offset (Kafka's cleaner-offset-checkpoint entry); -1 = none.
    cleaner_checkpoint: AtomicI64,
    /// Highest base offset of a segment rolled since the last [`Log::flush_rolled`]: the
    /// segments below it await their fsync (-1: none). Kafka flushes a rolled segment
    /// asynchronously too, so no append waits for a segment's fsync.
    roll_flush_upto: AtomicI64,
    /// Idempotent-producer state (checked and updated under `append_lock`).
    producer_state: Mutex<ProducerStateManager>,
    /// Earliest wall time at which a tombstone or transaction marker kept by the last
    /// cleaning may be removed; `i64::MAX` when none is known. Makes the log cleanable again
    /// whatever its dirty ratio.
    delete_horizon_ms: AtomicI64,
    /// Aborted transactions per segment (mutated under `append_lock`).
    txn_index: Mutex<TxnIndexes>,
    /// The process's cache of open segment and index files.
    files: Arc<FileCache>,
    /// Entries of the directory were created or removed since its last fsync (set by every
    /// change under `append_lock`, cleared by [`Log::flush`]): a flush of a log with nothing
    /// new fsyncs nothing, so closing thousands of idle logs costs no fsync.
    dir_sync_pending: AtomicBool,
    /// Offset of the newest producer-state snapshot written or loaded (the log start when
    /// there is none: an empty state). Closing writes one only past it, as Kafka does.
    snapshot_offset: AtomicI64,
    /// The high watermark (Kafka keeps it in `UnifiedLog` too): `log_start_offset <= HW <=
    /// log_end_offset`; it only grows, except that a truncation below it lowers it to the
    /// new log end. The replica manager moves it (min LEO over the ISR as leader, the
    /// leader's as follower); `replication-offset-checkpoint` keeps it over restarts.
    high_watermark: AtomicI64,
}

/// A non-active segment as the cleaner sees it (see [`Log::cleaning_view`]).
#[derive(Debug, Clone)]
pub(crate) struct SegmentSnapshot {
    pub base_offset: i64,
    pub next_offset: i64,
    pub size_bytes: u64,
    /// Largest batch timestamp (creation time when no batch has one).
    pub largest_timestamp: i64,
    /// Timestamp of the first batch (Kafka's `getFirstBatchTimestamp`), if any.
    pub first_batch_timestamp: Option<i64>,
    pub created_ms: i64,
    /// Opened through the file cache while the cleaner reads it.
    pub file: CachedFile,
    pub path: PathBuf,
}

/// Everything the cleaner needs to plan a cleaning, taken under the log's read lock.
#[derive(Debug, Clone)]
pub(crate) struct CleaningView {
    /// Every segment but the active one, by base offset.
    pub segments: Vec<SegmentSnapshot>,
    pub active_base_offset: i64,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    /// First offset of the earliest ongoing transaction: nothing from there on is cleaned.
    pub first_unstable_offset: Option<i64>,
    /// Nothing at or above the high watermark is cleaned either.
    pub high_watermark: i64,
    pub truncations: u64,
    pub config: LogConfig,
}

/// Batches prepared for writing: rewritten bytes plus their headers.
struct PreparedAppend {
    bytes: Vec<u8>,
    headers: Vec<BatchHeader>,
    info: AppendInfo,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Log {
    /// Opens (or creates) the log in `dir`. Loads segments sorted by base offset, deletes
    /// leftover `*.deleted`/`*.cleaned`/`*.swap`/`*.tmp` files, validates indexes (rebuilding
    /// corrupt ones) and, after an unclean shutdown, recovers every segment holding offsets
    /// `>= recovery_point`: a torn or corrupt tail is truncated and all later segments are
    /// deleted.
    pub(crate) fn open(
        dir: PathBuf,
        config: LogConfig,
        recovery_point: i64,
        log_start_offset: i64,
        clean_shutdown: bool,
        files: Arc<FileCache>,
    ) -> Result<Log, LogError> {
        std::fs::create_dir_all(&dir).map_err(|e| LogError::io(&dir, e))?;
        let base_offsets = scan_dir(&dir)?;
        let mut segments = BTreeMap::new();
        let mut truncated_at: Option<i64> = None;
        // After an unclean shutdown nothing says the directory's entries reached the disk.
        let mut dir_changed = !clean_shutdown;
        let bases: Vec<i64> = base_offsets.into_iter().collect();
        for (i, &base_offset) in bases.iter().enumerate() {
            let (mut segment, problem) = LogSegment::open(&files, &dir, base_offset, &config)?;
            if truncated_at.is_some() {
                tracing::warn!(dir = %dir.display(), base_offset, "deleting segment after a truncated one");
                segment.delete()?;
                dir_changed = true;
                continue;
            }
            let upper_bound = bases.get(i + 1).copied().unwrap_or(i64::MAX);
            let needs_recovery = !clean_shutdown && upper_bound > recovery_point;
            if needs_recovery || problem.is_some() {
                if let Some(problem) = &problem {
                    tracing::warn!(dir = %dir.display(), base_offset, problem, "rebuilding segment indexes");
                }
                let truncated_bytes = segment.recover()?;
                if truncated_bytes > 0 {
                    truncated_at = Some(segment.next_offset());
                }
            }
            segments.insert(base_offset, segment);
        }
        let now_ms = crate::types::now_ms();
        let first_base = segments.keys().next().copied();
        let mut log_end_offset = segments
            .values()
            .next_back()
            .map(|s| s.next_offset())
            .unwrap_or(log_start_offset.max(0));
        let mut log_start_offset = log_start_offset.max(first_base.unwrap_or(0)).max(0);
        if log_start_offset > log_end_offset || segments.is_empty() {
            // Nothing usable below the checkpointed start: start empty there (Kafka's
            // truncateFullyAndStartAt).
            for (_, segment) in std::mem::take(&mut segments) {
                segment.delete()?;
            }
            dir_changed = true;
            log_start_offset = log_start_offset.max(log_end_offset);
            log_end_offset = log_start_offset;
            segments.insert(
                log_start_offset,
                LogSegment::create(&files, &dir, log_start_offset, &config, now_ms)?,
            );
        }
        let mut epoch_cache = LeaderEpochCache::load(&dir)?;
        epoch_cache.truncate_from_end(log_end_offset)?;
        epoch_cache.truncate_from_start(log_start_offset)?;
        let recovery_point = if clean_shutdown {
            recovery_point.clamp(log_start_offset, log_end_offset)
        } else {
            log_end_offset
        };
        let loaded = load_producer_state(&dir, &segments, log_start_offset, log_end_offset)?;
        let snapshot_offset = loaded.from_offset;
        let bases: Vec<i64> = segments.keys().copied().collect();
        let mut txn_index = TxnIndexes::load(&dir, &bases)?;
        txn_index.replace_from(loaded.from_offset, loaded.aborted)?;
        let producer_state = loaded.state;
        tracing::info!(
            dir = %dir.display(),
            segments = segments.len(),
            log_start_offset,
            log_end_offset,
            clean_shutdown,
            "log loaded"
        );
        Ok(Log {
            dir,
            config: RwLock::new(config),
            append_lock: Mutex::new(()),
            state: RwLock::new(LogState {
                segments,
                log_start_offset,
                log_end_offset,
                recovery_point,
                messages_unflushed: 0,
                last_flush_ms: now_ms,
                deleted: false,
                truncations: 0,
            }),
            epoch_cache: Mutex::new(epoch_cache),
            producer_state: Mutex::new(producer_state),
            cleaner_checkpoint: AtomicI64::new(-1),
            roll_flush_upto: AtomicI64::new(-1),
            delete_horizon_ms: AtomicI64::new(i64::MAX),
            txn_index: Mutex::new(txn_index),
            files,
            dir_sync_pending: AtomicBool::new(dir_changed),
            snapshot_offset: AtomicI64::new(snapshot_offset),
            high_watermark: AtomicI64::new(log_start_offset),
        })
    }

    fn read_state(&self) -> RwLockReadGuard<'_, LogState> {
        self.state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, LogState> {
        self.state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The partition directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// A file of this log's directory was created, renamed or removed: the next flush
    /// fsyncs the directory.
    fn note_dir_changed(&self) {
        self.dir_sync_pending.store(true, Ordering::Release);
    }

    /// The cache this log opens its segment files through.
    pub(crate) fn file_cache(&self) -> &Arc<FileCache> {
        &self.files
    }

    #[cfg(test)]
    /// Appends produced batches: validates them, assigns offsets from the LEO, stamps the
    /// leader epoch (and LogAppendTime if configured), rolls if needed, writes, indexes.
    /// Atomic per call: on failure nothing becomes visible and the file is cut back. (This
    /// test entry point also commits what it wrote — raises the high watermark to the log
    /// end — as a leader alone in its ISR does.)
    ///
    /// Napkin math per call (N batches, B bytes): validation = 1 CRC32C pass over B
    /// (hardware CRC, ~10 GB/s); 1 user-space copy of B (the input is borrowed, offsets are
    /// rewritten in the copy) plus, for LogAppendTime, 1 more CRC pass; 1 `pwrite` of B for
    /// all N batches (kernel copy into the page cache); 1 `pwrite` per index entry, i.e.
    /// ≤ 2 per `index.interval.bytes` (4 KiB default) of log; 0 fsync unless
    /// `flush.messages` is reached. Rare extras: a new leader epoch writes the epoch
    /// checkpoint (tmp + fsync + rename + dir fsync); a roll creates 3 files and writes a
    /// producer snapshot (the old segment's fsync happens later, off this path:
    /// [`Log::flush_rolled`]).
    pub(crate) fn append_as_leader(
        &self,
        records: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let info = self.append_as_leader_from(
            records,
            leader_epoch,
            now_ms,
            AppendOrigin::Client,
            TxnVerification::Off,
        )?;
        self.maybe_increment_high_watermark(self.log_end_offset());
        Ok(info)
    }

    /// [`Log::append_as_leader`] for a given origin: a coordinator's batches
    /// ([`AppendOrigin::Coordinator`]) skip the sequence checks (as Kafka's
    /// `AppendOrigin.COORDINATOR`); producer epochs and transaction states are checked alike.
    pub(crate) fn append_as_leader_from(
        &self,
        records: &[u8],
        leader_epoch: i32,
        now_ms: i64,
        origin: AppendOrigin,
        verification: TxnVerification,
    ) -> Result<AppendInfo, LogError> {
        let config = self.config();
        let headers = self.validate_for_append(records, &config, false)?;
        if let Some(control) = headers.iter().find(|h| h.is_control()) {
            return Err(LogError::InvalidRecord(format!(
                "clients cannot write control batches (batch with base offset {})",
                control.base_offset
            )));
        }
        if let Some(bad) = headers
            .iter()
            .find(|h| h.is_transactional() && h.producer_id < 0)
        {
            return Err(LogError::InvalidRecord(format!(
                "transactional batch with base offset {} has no producer id",
                bad.base_offset
            )));
        }
        if let Some(bad) = headers
            .iter()
            .find(|h| origin == AppendOrigin::Client && h.producer_id >= 0 && h.base_sequence < 0)
        {
            // As Kafka: a client's batch with a producer id needs a sequence number.
            return Err(LogError::InvalidRecord(format!(
                "batch with base offset {} of producer {} has the invalid sequence number {}",
                bad.base_offset, bad.producer_id, bad.base_sequence
            )));
        }
        if let Some(empty) = headers.iter().find(|h| h.record_count == 0) {
            return Err(LogError::InvalidRecord(format!(
                "record batch with base offset {} has no records",
                empty.base_offset
            )));
        }
        // Kafka's per-record checks (keys, timestamps) after the batch-level ones, each
        // refused record named (KIP-467). Decodes records only where the header cannot
        // answer (see `batch::validate_records`).
        let mut position = 0usize;
        for header in &headers {
            let size = header.total_size();
            batch::validate_records(&records[position..position + size], header, &config, now_ms)?;
            position += size;
        }
        let _append = lock(&self.append_lock);
        let log_end_offset = self.read_state().log_end_offset;
        let log_append_time_ms =
            (config.timestamp_type == TimestampType::LogAppendTime).then_some(now_ms);
        let mut bytes = records.to_vec();
        let mut position = 0usize;
        let mut next_offset = log_end_offset;
        let mut rewritten = Vec::with_capacity(headers.len());
        // Producer entries as they will be after this append (committed only once written).
        let mut staged: HashMap<i64, ProducerEntry> = HashMap::new();
        for header in &headers {
            let size = header.total_size();
            let slice = &mut bytes[position..position + size];
            batch::rewrite_for_append(slice, next_offset, leader_epoch, log_append_time_ms);
            let new_header = BatchHeader::parse(slice)?;
            if new_header.producer_id >= 0 && !new_header.is_control() {
                let producer_state = lock(&self.producer_state);
                if new_header.is_transactional()
                    && !producer_state.has_ongoing_txn(&staged, new_header.producer_id)
                {
                    let verified = match verification {
                        TxnVerification::Off => true,
                        TxnVerification::Guard(guard) => {
                            producer_state.verification_guard(new_header.producer_id) == Some(guard)
                        }
                        TxnVerification::Unverified => false,
                    };
                    if !verified {
                        return Err(LogError::InvalidTxnState(format!(
                            "producer {} has no verified ongoing transaction including this partition",
                            new_header.producer_id
                        )));
                    }
                }
                match producer_state.check(&staged, &new_header, origin == AppendOrigin::Client)? {
                    SequenceCheck::Duplicate(original) if headers.len() == 1 => {
                        drop(producer_state);
                        tracing::debug!(dir = %self.dir.display(), producer_id = new_header.producer_id, base_offset = original.first_offset, "duplicate batch acknowledged with its original offsets");
                        return Ok(AppendInfo {
                            base_offset: original.first_offset,
                            last_offset: original.last_offset,
                            log_append_time_ms: -1,
                            log_start_offset: self.read_state().log_start_offset,
                            record_count: 0,
                            max_timestamp: original.timestamp_ms,
                            bytes: 0,
                        });
                    }
                    SequenceCheck::Duplicate(_) => {
                        return Err(LogError::InvalidRecord(
                            "a duplicate batch inside a multi-batch append".to_string(),
                        ));
                    }
                    SequenceCheck::Append => {
                        let entry = producer_state.updated_entry(&staged, &new_header);
                        staged.insert(new_header.producer_id, entry);
                    }
                }
            }
            next_offset = new_header.next_offset();
            rewritten.push(new_header);
            position += size;
        }
        let info = append_info(&rewritten, records.len(), log_append_time_ms);
        self.epoch_cache_assign(leader_epoch, log_end_offset)?;
        let info = self.write_prepared(
            PreparedAppend {
                bytes,
                headers: rewritten,
                info,
            },
            &config,
            now_ms,
        )?;
        if !staged.is_empty() {
            lock(&self.producer_state).commit(staged);
        }
        Ok(info)
    }

    /// KIP-890: the guard a transactional produce of `producer_id` must be appended with
    /// once the transaction coordinator confirmed the partition, or `None` if the producer
    /// has an ongoing transaction here (nothing to verify).
    pub(crate) fn start_txn_verification(&self, producer_id: i64, now_ms: i64) -> Option<u64> {
        lock(&self.producer_state).start_verification(producer_id, now_ms)
    }

    /// Appends a transaction marker as leader: one control batch ending `producer_id`'s
    /// transaction (COMMIT or ABORT) with the coordinator's epoch. A marker with an older
    /// producer epoch is INVALID_PRODUCER_EPOCH, with an older coordinator epoch
    /// TRANSACTION_COORDINATOR_FENCED; a marker for a producer without an ongoing
    /// transaction is written anyway (as Kafka does). An ABORT of a non-empty transaction
    /// adds an entry to the active segment's `.txnindex`.
    pub(crate) fn append_txn_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        commit: bool,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let config = self.config();
        let records = batch::build_txn_marker_batch(
            producer_id,
            producer_epoch,
            coordinator_epoch,
            commit,
            now_ms,
        )?;
        self.validate_for_append(&records, &config, false)?;
        let _append = lock(&self.append_lock);
        lock(&self.producer_state).check_marker(producer_id, producer_epoch, coordinator_epoch)?;
        let log_end_offset = self.read_state().log_end_offset;
        let log_append_time_ms =
            (config.timestamp_type == TimestampType::LogAppendTime).then_some(now_ms);
        let mut bytes = records;
        batch::rewrite_for_append(&mut bytes, log_end_offset, leader_epoch, log_append_time_ms);
        let header = BatchHeader::parse(&bytes)?;
        let info = append_info(&[header], bytes.len(), log_append_time_ms);
        self.epoch_cache_assign(leader_epoch, log_end_offset)?;
        let info = self.write_prepared(
            PreparedAppend {
                bytes,
                headers: vec![header],
                info,
            },
            &config,
            now_ms,
        )?;
        let marker_offset = header.base_offset;
        let mut producer_state = lock(&self.producer_state);
        let first_offset = producer_state.complete_txn(
            producer_id,
            producer_epoch,
            coordinator_epoch,
            header.max_timestamp,
        );
        tracing::debug!(dir = %self.dir.display(), producer_id, producer_epoch, coordinator_epoch, commit, marker_offset, txn_first_offset = ?first_offset, "transaction marker appended");
        if let (false, Some(first_offset)) = (commit, first_offset) {
            let entry = AbortedTxn {
                producer_id,
                first_offset,
                last_offset: marker_offset,
                last_stable_offset: producer_state
                    .first_unstable_offset()
                    .unwrap_or(marker_offset + 1),
            };
            drop(producer_state);
            let segment_base = self
                .read_state()
                .segments
                .range(..=marker_offset)
                .next_back()
                .map(|(b, _)| *b)
                .unwrap_or(marker_offset);
            self.note_dir_changed();
            if let Err(e) = lock(&self.txn_index).append(segment_base, entry) {
                // The entry is in memory; the next open rebuilds it from the marker.
                tracing::error!(dir = %self.dir.display(), producer_id, marker_offset, error = %e, "cannot write the aborted transaction index");
            }
        }
        Ok(info)
    }

    /// First offset of the earliest ongoing transaction, if any (Kafka's first unstable
    /// offset; the last stable offset is the smaller of it and the high watermark).
    pub(crate) fn first_unstable_offset(&self) -> Option<i64> {
        lock(&self.producer_state).first_unstable_offset()
    }

    #[cfg(test)]
    /// Ongoing transactions: `(producer_id, first_offset)` by first offset.
    pub(crate) fn ongoing_txns(&self) -> Vec<(i64, i64)> {
        lock(&self.producer_state).ongoing_txns()
    }

    /// Aborted transactions a read_committed fetch of `[start_offset, upper_bound_offset)`
    /// must report (Kafka's `collectAbortedTransactions`).
    pub(crate) fn collect_aborted_transactions(
        &self,
        start_offset: i64,
        upper_bound_offset: i64,
    ) -> Vec<AbortedTxn> {
        lock(&self.txn_index).collect_aborted(start_offset, upper_bound_offset)
    }

    /// `stored`: batches that already went through a log (replication) may be sparse.
    fn validate_for_append(
        &self,
        records: &[u8],
        config: &LogConfig,
        stored: bool,
    ) -> Result<Vec<BatchHeader>, LogError> {
        let headers = if stored {
            batch::validate_stored_batches(records, config.max_message_bytes)?
        } else {
            batch::validate_batches(records, config.max_message_bytes)?
        };
        if headers.is_empty() {
            return Err(LogError::InvalidRecord(
                "no record batches to append".to_string(),
            ));
        }
        if records.len() as u64 > config.segment_bytes {
            return Err(LogError::RecordTooLarge {
                size: records.len(),
                max: config.segment_bytes.min(u64::from(u32::MAX)) as u32,
            });
        }
        Ok(headers)
    }

    fn epoch_cache_assign(&self, epoch: i32, start_offset: i64) -> Result<(), LogError> {
        lock(&self.epoch_cache).assign(epoch, start_offset)
    }

    /// Rolls if needed, writes outside the state write lock, publishes. Caller holds
    /// `append_lock`.
    fn write_prepared(
        &self,
        prepared: PreparedAppend,
        config: &LogConfig,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let PreparedAppend {
            bytes,
            headers,
            mut info,
        } = prepared;
        let (first_offset, last_offset) = match (headers.first(), headers.last()) {
            (Some(first), Some(last)) => (first.base_offset, last.last_offset()),
            _ => {
                return Err(LogError::InvalidRecord(
                    "no record batches to append".to_string(),
                ))
            }
        };
        let incoming_max_timestamp = headers.iter().map(|h| h.max_timestamp).max().unwrap_or(-1);
        self.maybe_roll(
            config,
            bytes.len() as u64,
            first_offset,
            last_offset,
            incoming_max_timestamp,
            now_ms,
        )?;
        let position = {
            let state = self.read_state();
            if state.deleted {
                return Err(no_segments());
            }
            let active = state.active()?;
            active.write_at_end(&bytes)?;
            active.size_bytes()
        };
        let mut state = self.write_state();
        state
            .active_mut()?
            .on_appended(position, bytes.len() as u64, &headers)?;
        debug_assert!(last_offset >= state.log_end_offset, "offsets only grow");
        state.log_end_offset = last_offset + 1;
        state.messages_unflushed += info.record_count;
        info.log_start_offset = state.log_start_offset;
        let flush_due = state.messages_unflushed >= config.flush_messages;
        drop(state);
        if flush_due {
            self.flush_locked(now_ms)?;
        }
        Ok(info)
    }

    /// Kafka's `shouldRoll`: size, age, full index or 32-bit relative offset overflow.
    fn maybe_roll(
        &self,
        config: &LogConfig,
        incoming_bytes: u64,
        first_offset: i64,
        last_offset: i64,
        incoming_max_timestamp: i64,
        now_ms: i64,
    ) -> Result<(), LogError> {
        let (roll, active_empty, active_base) = {
            let state = self.read_state();
            let active = state.active()?;
            let non_empty = !active.is_empty();
            let too_big = non_empty && active.size_bytes() + incoming_bytes > config.segment_bytes;
            // Kafka's timeWaitedForRoll: measured in record time (incoming batch max
            // timestamp minus the segment's first batch timestamp) when records carry
            // timestamps, so old or future timestamps roll as in Kafka.
            let waited_ms = active.roll_base_ms().map(|base| {
                if incoming_max_timestamp >= 0 {
                    incoming_max_timestamp - base
                } else {
                    now_ms - base
                }
            });
            // Compacted logs also roll by max.compaction.lag.ms (only closed segments are
            // cleanable), as Kafka does.
            let roll_ms = if config.cleanup_compact {
                config.segment_ms.min(config.max_compaction_lag_ms)
            } else {
                config.segment_ms
            };
            let too_old = non_empty && waited_ms.is_some_and(|w| w > roll_ms);
            let roll =
                too_big || too_old || active.indexes_full() || !active.can_hold_offset(last_offset);
            (roll, active.is_empty(), active.base_offset())
        };
        if !roll {
            return Ok(());
        }
        if active_empty && active_base == first_offset {
            return Ok(());
        }
        tracing::debug!(dir = %self.dir.display(), new_base_offset = first_offset, "rolling log segment");
        self.roll_locked(first_offset, now_ms)
    }

    /// Starts a new active segment at `new_base_offset` (caller holds `append_lock`). The
    /// old active segment is not fsynced here: [`Log::flush_rolled`] does it outside the
    /// append lock (called right after the append by the replica manager) and only then
    /// moves the recovery point, so an append never waits for a whole segment's fsync.
    fn roll_locked(&self, new_base_offset: i64, now_ms: i64) -> Result<(), LogError> {
        let config = self.config();
        let old_empty = self.read_state().active()?.is_empty();
        let segment = LogSegment::create(&self.files, &self.dir, new_base_offset, &config, now_ms)?;
        self.note_dir_changed();
        let mut state = self.write_state();
        if old_empty {
            // An empty active segment is replaced rather than kept (Kafka does the same).
            if let Some((_, old)) = state.segments.pop_last() {
                if old.base_offset() != new_base_offset {
                    old.delete()?;
                }
            }
        } else {
            self.roll_flush_upto
                .fetch_max(new_base_offset, Ordering::AcqRel);
        }
        state.segments.insert(new_base_offset, segment);
        drop(state);
        // Kafka takes a producer snapshot at every roll: recovery then replays at most the
        // active segment.
        match lock(&self.producer_state).write_snapshot(&self.dir, new_base_offset) {
            Ok(()) => self
                .snapshot_offset
                .store(new_base_offset, Ordering::Release),
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "writing producer snapshot failed")
            }
        }
        Ok(())
    }

    /// Whole batches from the one containing `fetch_offset`: only batches with base offset
    /// `< max_offset_exclusive`, at most `max_bytes` bytes, except that with `min_one_batch`
    /// the first batch is returned whole even if larger. Reads stop at a segment's end.
    pub(crate) fn read(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        max_offset_exclusive: i64,
        min_one_batch: bool,
    ) -> Result<FetchData, LogError> {
        let read = self.read_records(
            fetch_offset,
            max_bytes,
            max_offset_exclusive,
            min_one_batch,
            None,
        )?;
        let records = match read.records {
            Records::Memory(bytes) => bytes,
            Records::File(slice) => slice.read()?,
        };
        Ok(FetchData {
            records,
            log_start_offset: read.log_start_offset,
            log_end_offset: read.log_end_offset,
        })
    }

    /// The batches [`Log::read`] returns; with `file_slice_min_bytes`, left in the segment
    /// file when they are at least that long (and few enough to locate by their headers),
    /// otherwise copied into memory.
    pub(crate) fn read_records(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        max_offset_exclusive: i64,
        min_one_batch: bool,
        file_slice_min_bytes: Option<usize>,
    ) -> Result<RecordsRead, LogError> {
        let (plan, log_start_offset, log_end_offset) = {
            let state = self.read_state();
            let (log_start_offset, log_end_offset) = (state.log_start_offset, state.log_end_offset);
            if fetch_offset < log_start_offset || fetch_offset > log_end_offset {
                return Err(LogError::OffsetOutOfRange {
                    offset: fetch_offset,
                    log_start_offset,
                    log_end_offset,
                });
            }
            let mut plan: Option<ReadPlan> = None;
            if fetch_offset < log_end_offset && fetch_offset < max_offset_exclusive {
                let floor = state
                    .segments
                    .range(..=fetch_offset)
                    .next_back()
                    .map(|(b, _)| *b)
                    .unwrap_or(i64::MIN);
                for (_, segment) in state.segments.range(floor..) {
                    if let Some(found) = segment.read_plan(fetch_offset)? {
                        plan = Some(found);
                        break;
                    }
                }
            }
            (plan, log_start_offset, log_end_offset)
        };
        let Some(plan) = plan else {
            return Ok(RecordsRead {
                records: Records::default(),
                next_offset: None,
                log_start_offset,
                log_end_offset,
            });
        };
        if let Some(min_bytes) = file_slice_min_bytes {
            if let Some((slice, next_offset)) =
                plan.locate(max_bytes, max_offset_exclusive, min_one_batch)?
            {
                if slice.len() >= min_bytes {
                    return Ok(RecordsRead {
                        records: Records::File(slice),
                        next_offset,
                        log_start_offset,
                        log_end_offset,
                    });
                }
            }
        }
        let bytes = plan.execute(max_bytes, max_offset_exclusive, min_one_batch)?;
        Ok(RecordsRead {
            next_offset: batch::next_offset_after(&bytes),
            records: Records::Memory(bytes),
            log_start_offset,
            log_end_offset,
        })
    }

    pub(crate) fn log_start_offset(&self) -> i64 {
        self.read_state().log_start_offset
    }

    pub(crate) fn log_end_offset(&self) -> i64 {
        self.read_state().log_end_offset
    }

    /// Offsets below this are known to be on disk (fsynced).
    pub(crate) fn recovery_point(&self) -> i64 {
        self.read_state().recovery_point
    }

    pub(crate) fn size_bytes(&self) -> u64 {
        self.read_state()
            .segments
            .values()
            .map(|s| s.size_bytes())
            .sum()
    }

    #[cfg(test)]
    /// Number of segments (for tests and metrics).
    pub(crate) fn segment_count(&self) -> usize {
        self.read_state().segments.len()
    }

    pub(crate) fn config(&self) -> LogConfig {
        self.config
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// New config for later appends/retention (index sizes apply to new segments).
    pub(crate) fn update_config(&self, config: LogConfig) {
        *self
            .config
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = config;
    }

    /// The first record (exact offset) with timestamp `>= target_ms` at or after the log
    /// start offset; `None` if there is none.
    pub(crate) fn offset_for_timestamp(
        &self,
        target_ms: i64,
    ) -> Result<Option<OffsetAndTimestamp>, LogError> {
        let state = self.read_state();
        let log_start_offset = state.log_start_offset;
        for segment in state.segments.values() {
            if segment.next_offset() <= log_start_offset || segment.max_timestamp() < target_ms {
                continue;
            }
            if let Some((offset, timestamp, epoch)) =
                segment.find_offset_by_timestamp(target_ms, log_start_offset)?
            {
                return Ok(Some(OffsetAndTimestamp {
                    offset,
                    timestamp,
                    leader_epoch: (epoch >= 0).then_some(epoch),
                }));
            }
        }
        Ok(None)
    }

    /// The record with the largest timestamp (earliest offset on ties); `None` when no
    /// record carries a timestamp. (May return a record below the log start offset if it
    /// shares a segment with it.)
    pub(crate) fn max_timestamp_offset(&self) -> Result<Option<OffsetAndTimestamp>, LogError> {
        let state = self.read_state();
        let mut best: Option<&LogSegment> = None;
        for segment in state.segments.values() {
            if segment.max_timestamp() >= 0
                && best.is_none_or(|b| segment.max_timestamp() > b.max_timestamp())
            {
                best = Some(segment);
            }
        }
        let Some(segment) = best else {
            return Ok(None);
        };
        Ok(segment
            .max_timestamp_record()?
            .map(|(offset, timestamp, epoch)| OffsetAndTimestamp {
                offset,
                timestamp,
                leader_epoch: (epoch >= 0).then_some(epoch),
            }))
    }

    /// DeleteRecords: advances the log start offset to `offset` (never backwards; `offset`
    /// must be `<= LEO` else OffsetOutOfRange) and deletes segments wholly below it (never
    /// the active one). Returns the new log start offset.
    pub(crate) fn delete_records_before(&self, offset: i64) -> Result<i64, LogError> {
        let _append = lock(&self.append_lock);
        let mut state = self.write_state();
        if offset > state.log_end_offset || offset < 0 {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset: state.log_start_offset,
                log_end_offset: state.log_end_offset,
            });
        }
        if offset <= state.log_start_offset {
            return Ok(state.log_start_offset);
        }
        state.log_start_offset = offset;
        state.recovery_point = state.recovery_point.max(offset);
        let mut deleted = Vec::new();
        // Bounded by the number of segments.
        while state.segments.len() > 1 {
            let second_base = state.segments.keys().nth(1).copied().unwrap_or(i64::MAX);
            if second_base > offset {
                break;
            }
            if let Some((_, segment)) = state.segments.pop_first() {
                deleted.push(segment);
            }
        }
        let bases: Vec<i64> = state.segments.keys().copied().collect();
        drop(state);
        lock(&self.epoch_cache).truncate_from_start(offset)?;
        lock(&self.txn_index).retain_segments(&bases);
        let count = deleted.len();
        if count > 0 {
            self.note_dir_changed();
        }
        for segment in deleted {
            segment.delete()?;
        }
        tracing::info!(dir = %self.dir.display(), log_start_offset = offset, segments_deleted = count, "log start offset advanced");
        Ok(offset)
    }

    /// Retention (when `cleanup.policy` has `delete`): deletes the oldest segments whose
    /// largest timestamp is older than `retention.ms`, then the oldest while the log is
    /// larger than `retention.bytes`. The active segment is rolled first when it must go,
    /// and never deleted while empty. Advances the log start offset; returns the number of
    /// segments deleted. Files are renamed to `*.deleted` and removed at once
    /// (`file.delete.delay.ms` is not honoured yet).
    ///
    /// Only segments wholly below the high watermark go (Kafka's `deletableSegments`: the
    /// next segment's base, or the log end for the active one, must not pass it), so
    /// retention never removes records a follower may still need or a truncation may cut.
    pub(crate) fn enforce_retention(&self, now_ms: i64) -> Result<usize, LogError> {
        let config = self.config();
        if !config.cleanup_delete {
            return Ok(0);
        }
        let _append = lock(&self.append_lock);
        let (to_delete, includes_active, log_end_offset) = {
            let state = self.read_state();
            let segments: Vec<&LogSegment> = state.segments.values().collect();
            let high_watermark = self.high_watermark();
            let above_high_watermark = |i: usize| {
                let upper = segments
                    .get(i + 1)
                    .map_or(state.log_end_offset, |next| next.base_offset());
                upper > high_watermark
            };
            let mut count = 0usize;
            if config.retention_ms >= 0 {
                while count < segments.len() {
                    let segment = segments[count];
                    let is_active = count + 1 == segments.len();
                    if (is_active && segment.is_empty())
                        || above_high_watermark(count)
                        || now_ms - segment.largest_timestamp() <= config.retention_ms
                    {
                        break;
                    }
                    count += 1;
                }
            }
            if config.retention_bytes >= 0 {
                let total: u64 = segments[count..].iter().map(|s| s.size_bytes()).sum();
                let mut excess = total as i64 - config.retention_bytes;
                while count < segments.len() {
                    let segment = segments[count];
                    let is_active = count + 1 == segments.len();
                    if (is_active && segment.is_empty())
                        || above_high_watermark(count)
                        || excess - (segment.size_bytes() as i64) < 0
                    {
                        break;
                    }
                    excess -= segment.size_bytes() as i64;
                    count += 1;
                }
            }
            (
                count,
                count == segments.len() && count > 0,
                state.log_end_offset,
            )
        };
        if to_delete == 0 {
            return Ok(0);
        }
        if includes_active {
            self.roll_locked(log_end_offset, now_ms)?;
        }
        let mut state = self.write_state();
        let mut deleted = Vec::with_capacity(to_delete);
        for _ in 0..to_delete {
            if state.segments.len() <= 1 {
                break;
            }
            if let Some((_, segment)) = state.segments.pop_first() {
                deleted.push(segment);
            }
        }
        let first_base = state
            .segments
            .keys()
            .next()
            .copied()
            .unwrap_or(state.log_end_offset);
        let new_start = state.log_start_offset.max(first_base);
        state.log_start_offset = new_start;
        state.recovery_point = state.recovery_point.max(new_start);
        let bases: Vec<i64> = state.segments.keys().copied().collect();
        drop(state);
        lock(&self.epoch_cache).truncate_from_start(new_start)?;
        lock(&self.txn_index).retain_segments(&bases);
        let count = deleted.len();
        if count > 0 {
            self.note_dir_changed();
        }
        for segment in deleted {
            segment.delete()?;
        }
        tracing::info!(dir = %self.dir.display(), segments_deleted = count, log_start_offset = new_start, "retention deleted segments");
        Ok(count)
    }

    /// Whether a rolled segment awaits [`Log::flush_rolled`].
    pub(crate) fn roll_flush_pending(&self) -> bool {
        self.roll_flush_upto.load(Ordering::Acquire) >= 0
    }

    /// fsyncs the segments rolled since the last call (their `.log`, indexes and
    /// `.txnindex`) and the directory, without the append lock, then moves the recovery
    /// point to the newest rolled segment's base (Kafka's asynchronous flush after a roll).
    /// Appends continue meanwhile; a truncation in between leaves the recovery point alone.
    pub(crate) fn flush_rolled(&self) -> Result<(), LogError> {
        let upto = self.roll_flush_upto.swap(-1, Ordering::AcqRel);
        if upto < 0 {
            return Ok(());
        }
        let (to_sync, truncations) = {
            let state = self.read_state();
            if state.deleted {
                return Ok(());
            }
            let to_sync: Vec<(i64, [CachedFile; 3])> = state
                .segments
                .values()
                .filter(|s| s.base_offset() < upto && s.next_offset() > state.recovery_point)
                .map(|s| (s.base_offset(), s.file_handles()))
                .collect();
            (to_sync, state.truncations)
        };
        for (base, handles) in to_sync {
            // No lock needed: the handles name these segments' own files. A segment
            // deleted meanwhile (retention, cleaning) needs no flush.
            for handle in handles {
                match handle.sync_data() {
                    Ok(()) => {}
                    Err(LogError::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            let path = super::txn_index::txn_index_file(&self.dir, base);
            match File::open(&path) {
                Ok(file) => file.sync_data().map_err(|e| LogError::io(&path, e))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io(&path, e)),
            }
        }
        sync_dir(&self.dir)?;
        let mut state = self.write_state();
        if state.truncations == truncations {
            state.recovery_point = state.recovery_point.max(upto.min(state.log_end_offset));
        }
        Ok(())
    }

    #[cfg(test)]
    /// fsyncs every segment holding offsets at or above the recovery point (and the
    /// directory); the recovery point becomes the LEO.
    pub(crate) fn flush(&self) -> Result<(), LogError> {
        let _append = lock(&self.append_lock);
        self.flush_locked(crate::types::now_ms())
    }

    /// Flushes when the last flush is older than `flush.ms` and something is unflushed.
    pub(crate) fn flush_if_due(&self, now_ms: i64) -> Result<(), LogError> {
        let flush_ms = self.config().flush_ms;
        let _append = lock(&self.append_lock);
        let due = {
            let state = self.read_state();
            state.log_end_offset > state.recovery_point
                && now_ms.saturating_sub(state.last_flush_ms) >= flush_ms
        };
        if due {
            self.flush_locked(now_ms)?;
        }
        Ok(())
    }

    fn flush_locked(&self, now_ms: i64) -> Result<(), LogError> {
        let log_end_offset = {
            let state = self.read_state();
            if state.deleted {
                return Ok(());
            }
            for segment in state.segments.values() {
                if segment.next_offset() > state.recovery_point
                    || segment.base_offset() >= state.recovery_point
                {
                    segment.flush()?;
                }
            }
            state.log_end_offset
        };
        // The append lock is held: no entry can be created between the swap and the fsync.
        if self.dir_sync_pending.swap(false, Ordering::AcqRel) {
            if let Err(e) = sync_dir(&self.dir) {
                self.dir_sync_pending.store(true, Ordering::Release);
                return Err(e);
            }
        }
        let mut state = self.write_state();
        debug_assert!(
            log_end_offset >= state.recovery_point,
            "the recovery point never passes the LEO"
        );
        state.recovery_point = log_end_offset;
        state.messages_unflushed = 0;
        state.last_flush_ms = now_ms;
        Ok(())
    }

    /// The high watermark: offsets below it are committed (on every replica of the ISR).
    pub(crate) fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    /// Raises the high watermark to `offset`, capped by the log end offset (and never below
    /// the log start); `true` when it moved. Never lowers it.
    pub(crate) fn maybe_increment_high_watermark(&self, offset: i64) -> bool {
        let state = self.read_state();
        let target = offset.clamp(state.log_start_offset, state.log_end_offset);
        let previous = self.high_watermark.fetch_max(target, Ordering::AcqRel);
        previous < target
    }

    /// The high watermark read from `replication-offset-checkpoint` at start-up, clamped to
    /// the log's bounds (recovery may have cut the log below it).
    pub(crate) fn restore_high_watermark(&self, offset: i64) {
        let state = self.read_state();
        let hw = offset.clamp(state.log_start_offset, state.log_end_offset);
        self.high_watermark.store(hw, Ordering::Release);
    }

    /// The newest leader epoch of the leader-epoch cache, if any (a follower's
    /// `last_fetched_epoch`).
    pub(crate) fn latest_leader_epoch(&self) -> Option<i32> {
        lock(&self.epoch_cache).latest_epoch()
    }

    /// Appends batches fetched from the leader with the leader's offsets and leader epochs,
    /// byte for byte (Kafka's `appendAsFollower`): CRCs and shapes are checked (not sizes:
    /// the leader accepted them), the first batch must start at or after the log end, and
    /// offsets must increase. The leader-epoch cache, producer state (sequences, epochs,
    /// ongoing transactions) and the aborted-transaction index are kept as the leader's,
    /// from the batch headers and the control records of markers. Chunks larger than a
    /// segment are written segment by segment. Returns the appended range; an empty input
    /// appends nothing.
    pub(crate) fn append_as_follower(
        &self,
        records: &[u8],
        now_ms: i64,
    ) -> Result<Option<AppendInfo>, LogError> {
        if records.is_empty() {
            return Ok(None);
        }
        let config = self.config();
        let headers = batch::validate_stored_batches(records, u32::MAX)?;
        let _append = lock(&self.append_lock);
        let mut expected = self.read_state().log_end_offset;
        for header in &headers {
            if header.base_offset < expected || header.last_offset() < header.base_offset {
                return Err(LogError::InvalidRecord(format!(
                    "replicated batch at offset {} does not follow offset {}",
                    header.base_offset,
                    expected - 1
                )));
            }
            expected = header.next_offset();
        }
        let mut position = 0usize;
        let mut appended: Option<AppendInfo> = None;
        let mut chunk_start = 0usize;
        // Bounded by the number of batches: each chunk takes at least one.
        while chunk_start < headers.len() {
            let mut chunk_end = chunk_start;
            let mut chunk_bytes = 0usize;
            while chunk_end < headers.len()
                && (chunk_end == chunk_start
                    || (chunk_bytes + headers[chunk_end].total_size()) as u64
                        <= config.segment_bytes)
            {
                chunk_bytes += headers[chunk_end].total_size();
                chunk_end += 1;
            }
            let chunk = &headers[chunk_start..chunk_end];
            let bytes = records[position..position + chunk_bytes].to_vec();
            for header in chunk {
                if header.partition_leader_epoch >= 0 {
                    self.epoch_cache_assign(header.partition_leader_epoch, header.base_offset)?;
                }
            }
            let info = append_info(chunk, chunk_bytes, None);
            let info = self.write_prepared(
                PreparedAppend {
                    bytes,
                    headers: chunk.to_vec(),
                    info,
                },
                &config,
                now_ms,
            )?;
            self.apply_replicated_state(&records[position..position + chunk_bytes], chunk);
            position += chunk_bytes;
            appended = Some(match appended {
                None => info,
                Some(mut total) => {
                    total.last_offset = info.last_offset;
                    total.record_count += info.record_count;
                    total.max_timestamp = total.max_timestamp.max(info.max_timestamp);
                    total.bytes += info.bytes;
                    total.log_start_offset = info.log_start_offset;
                    total
                }
            });
            chunk_start = chunk_end;
        }
        Ok(appended)
    }

    /// Producer state and the aborted-transaction index after replicated batches were
    /// written (caller holds `append_lock`): data batches update their producer, markers end
    /// transactions (an ABORT of a non-empty one is indexed).
    fn apply_replicated_state(&self, bytes: &[u8], headers: &[BatchHeader]) {
        let mut position = 0usize;
        for header in headers {
            let size = header.total_size();
            let batch_bytes = &bytes[position..position + size];
            position += size;
            if header.producer_id < 0 {
                continue;
            }
            if !header.is_control() {
                lock(&self.producer_state).update(header);
                continue;
            }
            let control = match batch::parse_control_record(batch_bytes) {
                Ok(control) => control,
                Err(e) => {
                    tracing::warn!(dir = %self.dir.display(), offset = header.base_offset, error = %e, "replicated control batch has no readable control record");
                    continue;
                }
            };
            let aborted = apply_marker(&mut lock(&self.producer_state), header, control);
            if let Some(entry) = aborted {
                let segment_base = self
                    .read_state()
                    .segments
                    .range(..=header.base_offset)
                    .next_back()
                    .map(|(b, _)| *b)
                    .unwrap_or(header.base_offset);
                self.note_dir_changed();
                if let Err(e) = lock(&self.txn_index).append(segment_base, entry) {
                    tracing::error!(dir = %self.dir.display(), offset = header.base_offset, error = %e, "cannot write the aborted transaction index");
                }
            }
        }
    }

    /// Truncates the log to end at or before `offset` (Kafka's `truncateTo`; a follower
    /// whose tail diverged from the leader's): segments starting after it are deleted, the
    /// one holding it is cut before the batch holding `offset` (so the new log end may be
    /// below `offset`); the leader-epoch cache, producer state (reloaded from the newest
    /// snapshot below the new end and the batches after it), the aborted-transaction index,
    /// the recovery point and the high watermark follow. Below the log start, the log is
    /// emptied and starts at `offset`. Returns the new log end offset.
    pub(crate) fn truncate_to(&self, offset: i64) -> Result<i64, LogError> {
        let _append = lock(&self.append_lock);
        let (log_start_offset, log_end_offset) = {
            let state = self.read_state();
            (state.log_start_offset, state.log_end_offset)
        };
        if offset >= log_end_offset {
            return Ok(log_end_offset);
        }
        if offset < log_start_offset {
            self.truncate_fully_locked(offset)?;
            return Ok(offset);
        }
        let mut state = self.write_state();
        // `offset >= log_start_offset >= the first segment's base`: the first one stays.
        let doomed: Vec<i64> = state
            .segments
            .range(offset + 1..)
            .map(|(b, _)| *b)
            .collect();
        let mut deleted = Vec::new();
        for base in doomed {
            if let Some(segment) = state.segments.remove(&base) {
                deleted.push(segment);
            }
        }
        let new_end = state.active_mut()?.truncate_to(offset)?;
        state.log_end_offset = new_end;
        state.recovery_point = state.recovery_point.min(new_end);
        state.truncations += 1;
        let bases: Vec<i64> = state.segments.keys().copied().collect();
        self.high_watermark.fetch_min(new_end, Ordering::AcqRel);
        let loaded = load_producer_state(&self.dir, &state.segments, log_start_offset, new_end)?;
        drop(state);
        if !deleted.is_empty() {
            self.note_dir_changed();
        }
        for segment in deleted {
            segment.delete()?;
        }
        lock(&self.epoch_cache).truncate_from_end(new_end)?;
        {
            let mut txn_index = lock(&self.txn_index);
            txn_index.retain_segments(&bases);
            txn_index.replace_from(loaded.from_offset, loaded.aborted)?;
        }
        *lock(&self.producer_state) = loaded.state;
        self.snapshot_offset
            .fetch_min(loaded.from_offset.max(log_start_offset), Ordering::AcqRel);
        self.roll_flush_upto.store(-1, Ordering::Release);
        tracing::info!(dir = %self.dir.display(), requested = offset, from = log_end_offset, log_end_offset = new_end, "log truncated");
        Ok(new_end)
    }

    /// Empties the log and starts it at `offset` (Kafka's `truncateFullyAndStartAt`: a
    /// follower whose log ends below the leader's log start).
    pub(crate) fn truncate_fully_and_start_at(&self, offset: i64) -> Result<(), LogError> {
        let _append = lock(&self.append_lock);
        self.truncate_fully_locked(offset)
    }

    fn truncate_fully_locked(&self, offset: i64) -> Result<(), LogError> {
        let config = self.config();
        let now_ms = crate::types::now_ms();
        let fresh = LogSegment::create(&self.files, &self.dir, offset, &config, now_ms)?;
        let mut state = self.write_state();
        let old = std::mem::take(&mut state.segments);
        state.segments.insert(offset, fresh);
        state.log_start_offset = offset;
        state.log_end_offset = offset;
        state.recovery_point = offset;
        state.truncations += 1;
        drop(state);
        self.note_dir_changed();
        for (base, segment) in old {
            if base != offset {
                segment.delete()?;
            }
        }
        self.high_watermark.store(offset, Ordering::Release);
        // Every epoch entry and producer snapshot described the old log (Kafka clears them).
        lock(&self.epoch_cache).truncate_from_end(i64::MIN)?;
        lock(&self.txn_index).retain_segments(&[offset]);
        lock(&self.txn_index).replace_from(offset, Vec::new())?;
        ProducerStateManager::remove_snapshots(&self.dir)?;
        *lock(&self.producer_state) = ProducerStateManager::new();
        self.snapshot_offset.store(offset, Ordering::Release);
        self.roll_flush_upto.store(-1, Ordering::Release);
        tracing::info!(dir = %self.dir.display(), log_start_offset = offset, "log emptied to start at a new offset");
        Ok(())
    }

    /// OffsetForLeaderEpoch: `(epoch, end offset)`; `(-1, -1)` for an unknown epoch.
    pub(crate) fn leader_epoch_end_offset(&self, epoch: i32) -> (i32, i64) {
        let log_end_offset = self.log_end_offset();
        lock(&self.epoch_cache).end_offset_for(epoch, log_end_offset)
    }

    /// Flushes everything and writes a producer snapshot at the log end offset (the log
    /// stays usable).
    pub(crate) fn close(&self) -> Result<(), LogError> {
        let _append = lock(&self.append_lock);
        self.flush_locked(crate::types::now_ms())?;
        let (deleted, log_end_offset) = {
            let state = self.read_state();
            (state.deleted, state.log_end_offset)
        };
        if !deleted && log_end_offset > self.snapshot_offset.load(Ordering::Acquire) {
            lock(&self.producer_state).write_snapshot(&self.dir, log_end_offset)?;
            self.snapshot_offset
                .store(log_end_offset, Ordering::Release);
        }
        Ok(())
    }

    #[cfg(test)]
    /// A copy of one producer's state (tests, diagnostics).
    pub(crate) fn producer_entry(&self, producer_id: i64) -> Option<ProducerEntry> {
        lock(&self.producer_state).producer(producer_id).cloned()
    }

    /// Every producer this partition tracks (DescribeProducers).
    pub(crate) fn producer_entries(&self) -> Vec<ProducerEntry> {
        lock(&self.producer_state).producers()
    }

    /// Drops producers idle for `expiration_ms` (`producer.id.expiration.ms`); returns how
    /// many.
    pub(crate) fn remove_expired_producers(&self, now_ms: i64, expiration_ms: i64) -> usize {
        lock(&self.producer_state).remove_expired(now_ms, expiration_ms)
    }

    /// Removes the partition directory; the log is unusable afterwards.
    pub(crate) fn delete_dir(&self) -> Result<(), LogError> {
        let _append = lock(&self.append_lock);
        let mut state = self.write_state();
        state.deleted = true;
        state.segments.clear();
        drop(state);
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(LogError::io(&self.dir, e)),
        }
    }
}

/// The log cleaner's access to a log.
impl Log {
    /// The cleaner's first dirty offset; -1 when none was recorded.
    pub(crate) fn cleaner_checkpoint(&self) -> i64 {
        self.cleaner_checkpoint.load(Ordering::Acquire)
    }

    pub(crate) fn set_cleaner_checkpoint(&self, offset: i64) {
        self.cleaner_checkpoint.store(offset, Ordering::Release);
    }

    /// Earliest time a tombstone or marker kept by the last cleaning may be removed.
    pub(crate) fn delete_horizon_ms(&self) -> i64 {
        self.delete_horizon_ms.load(Ordering::Acquire)
    }

    pub(crate) fn set_delete_horizon_ms(&self, horizon_ms: i64) {
        self.delete_horizon_ms.store(horizon_ms, Ordering::Release);
    }

    /// Per producer id, its last data offset and epoch (the cleaner keeps those batches).
    pub(crate) fn last_records_of_producers(&self) -> HashMap<i64, LastRecord> {
        lock(&self.producer_state).last_records()
    }

    /// The aborted-transaction index entries of the segments `segment_bases`.
    pub(crate) fn aborted_txns_of_segments(&self, segment_bases: &[i64]) -> Vec<AbortedTxn> {
        lock(&self.txn_index).entries_of_segments(segment_bases)
    }

    /// Snapshot of the non-active segments (shared file handles; no lock is held
    /// afterwards). `None` once the log is deleted.
    pub(crate) fn cleaning_view(&self) -> Option<CleaningView> {
        let config = self.config();
        let state = self.read_state();
        if state.deleted {
            return None;
        }
        let active_base_offset = state.active().ok()?.base_offset();
        let segments = state
            .segments
            .values()
            .filter(|s| s.base_offset() < active_base_offset)
            .map(|s| {
                let (file, size_bytes) = s.file_view();
                let path = file.path().to_path_buf();
                SegmentSnapshot {
                    base_offset: s.base_offset(),
                    next_offset: s.next_offset(),
                    size_bytes,
                    largest_timestamp: s.largest_timestamp(),
                    first_batch_timestamp: s.roll_base_ms(),
                    created_ms: s.created_ms(),
                    file,
                    path,
                }
            })
            .collect();
        let first_unstable_offset = lock(&self.producer_state).first_unstable_offset();
        Some(CleaningView {
            segments,
            active_base_offset,
            log_start_offset: state.log_start_offset,
            log_end_offset: state.log_end_offset,
            first_unstable_offset,
            high_watermark: self.high_watermark(),
            truncations: state.truncations,
            config,
        })
    }

    /// Replaces the segments `old` (consecutive, non-active) by the cleaned segment written
    /// as `<old[0].base>.{index,timeindex,txnindex,log}.cleaned` (`aborted`: the entries of
    /// its `.txnindex.cleaned`, always written, possibly empty), with Kafka's crash-safe
    /// sequence: `.cleaned` → `.swap` (the `.log` last: a `.log.swap` means every other swap
    /// file is complete; fsync dir), old files → `.deleted` → removed, `.swap` → final name
    /// (the `.log` last again; fsync dir). A crash at any point leaves a complete log:
    /// [`Log::open`] discards `.cleaned` files and completes a `.swap`. Returns `false` (and
    /// removes the cleaned files) when the log changed under the cleaner (truncation,
    /// retention, deletion).
    pub(crate) fn replace_segments(
        &self,
        old: &[SegmentSnapshot],
        truncations: u64,
        aborted: Vec<AbortedTxn>,
    ) -> Result<bool, LogError> {
        let Some(first) = old.first() else {
            return Ok(false);
        };
        let base_offset = first.base_offset;
        let file = |suffix: &str, extra: &str| {
            PathBuf::from(format!(
                "{}{extra}",
                segment::segment_file(&self.dir, base_offset, suffix).display()
            ))
        };
        let _append = lock(&self.append_lock);
        let config = self.config();
        let mut state = self.write_state();
        let active_base = state.active().map(|a| a.base_offset()).unwrap_or(i64::MIN);
        let unchanged = !state.deleted
            && state.truncations == truncations
            && old.iter().all(|o| {
                o.base_offset < active_base
                    && state.segments.get(&o.base_offset).is_some_and(|s| {
                        s.size_bytes() == o.size_bytes && s.next_offset() == o.next_offset
                    })
            });
        if !unchanged {
            drop(state);
            remove_cleaned_files(&self.dir, base_offset);
            tracing::info!(dir = %self.dir.display(), base_offset, "log changed during cleaning; cleaned segment discarded");
            return Ok(false);
        }
        for suffix in SWAPPED_SUFFIXES {
            let from = file(suffix, segment::CLEANED_SUFFIX);
            let to = file(suffix, segment::SWAP_SUFFIX);
            std::fs::rename(&from, &to).map_err(|e| LogError::io(&from, e))?;
        }
        sync_dir(&self.dir)?;
        self.note_dir_changed();
        for o in old {
            if let Some(segment) = state.segments.remove(&o.base_offset) {
                segment.delete()?;
            }
        }
        let old_bases: Vec<i64> = old.iter().map(|o| o.base_offset).collect();
        let has_aborted = !aborted.is_empty();
        // Readers see the new index with the new segment (both under the state lock).
        lock(&self.txn_index).replace_segments(&old_bases, base_offset, aborted);
        for suffix in SWAPPED_SUFFIXES {
            let from = file(suffix, segment::SWAP_SUFFIX);
            let to = file(suffix, "");
            std::fs::rename(&from, &to).map_err(|e| LogError::io(&from, e))?;
        }
        if !has_aborted {
            // An empty index is the same as none (load ignores it); keep the directory tidy.
            if let Err(e) = std::fs::remove_file(file(TXN_INDEX_SUFFIX, "")) {
                tracing::debug!(dir = %self.dir.display(), base_offset, error = %e, "cannot remove empty transaction index");
            }
        }
        sync_dir(&self.dir)?;
        let (mut segment, problem) =
            LogSegment::open(&self.files, &self.dir, base_offset, &config)?;
        if let Some(problem) = problem {
            tracing::warn!(dir = %self.dir.display(), base_offset, problem, "rebuilding indexes of cleaned segment");
            segment.recover()?;
        }
        segment.set_created_ms(old.iter().map(|o| o.created_ms).max().unwrap_or(0));
        state.segments.insert(base_offset, segment);
        Ok(true)
    }
}

/// The files of a cleaned segment, in the order they are renamed `.cleaned` → `.swap` →
/// final: the `.log` last, so that a `.log.swap` (recovery's signal to complete the swap)
/// implies every other file of the swap is in place.
const SWAPPED_SUFFIXES: [&str; 4] = [
    segment::INDEX_SUFFIX,
    segment::TIME_INDEX_SUFFIX,
    TXN_INDEX_SUFFIX,
    segment::LOG_SUFFIX,
];

/// Producer state rebuilt by [`load_producer_state`].
struct LoadedProducerState {
    state: ProducerStateManager,
    /// Where the replay started (the snapshot's offset, or the log start).
    from_offset: i64,
    /// Aborted transactions whose markers were replayed, with their segments' bases.
    aborted: Vec<(i64, AbortedTxn)>,
}

/// Ends a transaction for a replicated or replayed marker; the aborted-index entry for an
/// ABORT of a non-empty transaction.
fn apply_marker(
    producer_state: &mut ProducerStateManager,
    header: &BatchHeader,
    control: batch::ControlRecord,
) -> Option<AbortedTxn> {
    let commit = match control.record_type {
        ControlRecordType::Commit => true,
        ControlRecordType::Abort => false,
        ControlRecordType::Other(_) => return None,
    };
    let first_offset = producer_state.complete_txn(
        header.producer_id,
        header.producer_epoch,
        control.coordinator_epoch,
        header.max_timestamp,
    )?;
    (!commit).then(|| AbortedTxn {
        producer_id: header.producer_id,
        first_offset,
        last_offset: header.base_offset,
        last_stable_offset: producer_state
            .first_unstable_offset()
            .unwrap_or(header.base_offset + 1),
    })
}

/// Producer state at `log_end_offset`: the newest readable snapshot at or below it, then the
/// batches after it (from the log start when there is no snapshot): headers, and the control
/// record of transaction markers, which end transactions and rebuild the aborted index.
fn load_producer_state(
    dir: &Path,
    segments: &BTreeMap<i64, LogSegment>,
    log_start_offset: i64,
    log_end_offset: i64,
) -> Result<LoadedProducerState, LogError> {
    let (mut producer_state, from_offset) =
        match ProducerStateManager::load_latest(dir, log_end_offset)? {
            Some((loaded, offset)) if offset >= log_start_offset => (loaded, offset),
            _ => (ProducerStateManager::new(), log_start_offset),
        };
    let mut replayed = 0usize;
    let mut aborted = Vec::new();
    for segment in segments.values() {
        if segment.next_offset() <= from_offset {
            continue;
        }
        let segment_base = segment.base_offset();
        segment.for_each_batch_with_markers_from(from_offset, |header, control| {
            if header.last_offset() < from_offset {
                return;
            }
            replayed += 1;
            match control {
                Some(control) => {
                    if let Some(entry) = apply_marker(&mut producer_state, header, control) {
                        aborted.push((segment_base, entry));
                    }
                }
                None => producer_state.update(header),
            }
        })?;
    }
    tracing::info!(dir = %dir.display(), from_offset, replayed_batches = replayed, producers = producer_state.producer_count(), ongoing_txns = producer_state.ongoing_txns().len(), "producer state loaded");
    Ok(LoadedProducerState {
        state: producer_state,
        from_offset,
        aborted,
    })
}

/// Best-effort removal of a cleaned segment's files (an aborted cleaning).
pub(crate) fn remove_cleaned_files(dir: &Path, base_offset: i64) {
    for suffix in SWAPPED_SUFFIXES {
        let path = PathBuf::from(format!(
            "{}{}",
            segment::segment_file(dir, base_offset, suffix).display(),
            segment::CLEANED_SUFFIX
        ));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot remove cleaned file")
            }
        }
    }
}

fn append_info(
    headers: &[BatchHeader],
    bytes: usize,
    log_append_time_ms: Option<i64>,
) -> AppendInfo {
    AppendInfo {
        base_offset: headers.first().map(|h| h.base_offset).unwrap_or(-1),
        last_offset: headers.last().map(|h| h.last_offset()).unwrap_or(-1),
        log_append_time_ms: log_append_time_ms.unwrap_or(-1),
        log_start_offset: -1,
        record_count: headers.iter().map(|h| i64::from(h.record_count)).sum(),
        max_timestamp: headers.iter().map(|h| h.max_timestamp).max().unwrap_or(-1),
        bytes,
    }
}

/// Deletes leftovers (`.deleted`, `.cleaned`, `.tmp`) and orphan index files, completes
/// interrupted segment swaps, and returns base offsets of `.log` files.
///
/// A `<B>.log.swap` is a cleaned segment that was fsynced and made ready before a crash:
/// the segments it replaces (base offsets in `[B, next offset of the swap)`) are deleted
/// and the swap files renamed to their final names, as Kafka's log loader does. The `.log`
/// is renamed last on both steps, so each other file of the swap is either still a `.swap`
/// or already final: `<B>.txnindex` is therefore kept (it is the cleaned one, or replaced by
/// its `.swap`), while `<B>.index`/`.timeindex` without a `.swap` are deleted and rebuilt.
/// Index `.swap` files without a log swap are removed (indexes are rebuilt when missing; a
/// cleaning that never reached its `.log.swap` left the old `.txnindex` untouched).
fn scan_dir(dir: &Path) -> Result<std::collections::BTreeSet<i64>, LogError> {
    let mut bases = std::collections::BTreeSet::new();
    let mut index_files = Vec::new();
    let mut swaps: Vec<(i64, PathBuf)> = Vec::new();
    let mut index_swaps: Vec<(i64, PathBuf)> = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| LogError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| LogError::io(dir, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let parse = |name: &str, suffix: &str| {
            name.strip_suffix(suffix)
                .filter(|s| s.len() == 20)
                .and_then(|s| s.parse::<i64>().ok())
        };
        if let Some(stem) = name.strip_suffix(segment::SWAP_SUFFIX) {
            if let Some(base) = parse(stem, segment::LOG_SUFFIX) {
                swaps.push((base, path));
                continue;
            }
            if let Some(base) = parse(stem, segment::INDEX_SUFFIX)
                .or_else(|| parse(stem, segment::TIME_INDEX_SUFFIX))
                .or_else(|| parse(stem, TXN_INDEX_SUFFIX))
            {
                index_swaps.push((base, path));
                continue;
            }
        }
        if [".deleted", ".cleaned", ".swap", ".tmp"]
            .iter()
            .any(|s| name.ends_with(s))
        {
            tracing::info!(file = %path.display(), "removing leftover file");
            std::fs::remove_file(&path).map_err(|e| LogError::io(&path, e))?;
            continue;
        }
        if let Some(base) = parse(&name, segment::LOG_SUFFIX) {
            bases.insert(base);
        } else if let Some(base) =
            parse(&name, segment::INDEX_SUFFIX).or_else(|| parse(&name, segment::TIME_INDEX_SUFFIX))
        {
            index_files.push((base, path));
        }
    }
    for (base, swap_path) in &swaps {
        let next_offset = next_offset_of_file(swap_path)?;
        tracing::warn!(file = %swap_path.display(), base_offset = base, next_offset, "completing interrupted segment swap");
        let replaced: Vec<i64> = bases
            .range(*base..next_offset.max(*base + 1))
            .copied()
            .collect();
        for old in replaced {
            let suffixes: &[&str] = if old == *base {
                &[
                    segment::LOG_SUFFIX,
                    segment::INDEX_SUFFIX,
                    segment::TIME_INDEX_SUFFIX,
                ]
            } else {
                &SWAPPED_SUFFIXES
            };
            for suffix in suffixes {
                let path = segment::segment_file(dir, old, suffix);
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(LogError::io(&path, e)),
                }
            }
            bases.remove(&old);
        }
        index_files.retain(|(b, _)| !(*b >= *base && *b < next_offset.max(*base + 1)));
        let final_path = segment::segment_file(dir, *base, segment::LOG_SUFFIX);
        std::fs::rename(swap_path, &final_path).map_err(|e| LogError::io(swap_path, e))?;
        bases.insert(*base);
    }
    for (base, path) in index_swaps {
        // Indexes of a completed swap are renamed; any other index swap is dropped (the
        // segment rebuilds a missing index).
        let completed = swaps.iter().any(|(b, _)| *b == base);
        let final_path = path.with_extension("");
        let final_path = PathBuf::from(
            path.to_string_lossy()
                .strip_suffix(segment::SWAP_SUFFIX)
                .map(str::to_owned)
                .unwrap_or_else(|| final_path.to_string_lossy().into_owned()),
        );
        if completed {
            std::fs::rename(&path, &final_path).map_err(|e| LogError::io(&path, e))?;
        } else {
            std::fs::remove_file(&path).map_err(|e| LogError::io(&path, e))?;
        }
    }
    if !swaps.is_empty() {
        sync_dir(dir)?;
    }
    for (base, path) in index_files {
        if !bases.contains(&base) {
            tracing::info!(file = %path.display(), "removing index without a log file");
            std::fs::remove_file(&path).map_err(|e| LogError::io(&path, e))?;
        }
    }
    Ok(bases)
}

/// Offset after the last whole batch of a log file (header scan; stops at a torn tail).
fn next_offset_of_file(path: &Path) -> Result<i64, LogError> {
    use std::os::unix::fs::FileExt;
    let file = File::open(path).map_err(|e| LogError::io(path, e))?;
    let size = file.metadata().map_err(|e| LogError::io(path, e))?.len();
    let mut position = 0u64;
    let mut next_offset = -1i64;
    let mut header = [0u8; batch::BATCH_HEADER_BYTES];
    // Bounded: each iteration advances by one whole batch within `size`.
    while position + batch::BATCH_HEADER_BYTES as u64 <= size {
        file.read_exact_at(&mut header, position)
            .map_err(|e| LogError::io(path, e))?;
        let parsed = BatchHeader::parse(&header)?;
        if parsed.check_shape().is_err() || position + parsed.total_size() as u64 > size {
            break;
        }
        next_offset = parsed.next_offset();
        position += parsed.total_size() as u64;
    }
    Ok(next_offset)
}

#[cfg(test)]
mod tests {
    use super::super::batch::test_support::{batch, batch_with};
    use super::*;
    use kafka_protocol::records::Compression;

    fn small_config() -> LogConfig {
        LogConfig {
            index_interval_bytes: 128,
            ..LogConfig::default()
        }
    }

    fn open(dir: &Path, config: LogConfig, clean: bool) -> Log {
        Log::open(dir.to_path_buf(), config, 0, 0, clean, FileCache::new(64)).unwrap()
    }

    /// Appends `n` batches of 3 records with timestamps 1000 + i; returns stored batches.
    fn fill(log: &Log, n: i64, epoch: i32) -> Vec<Bytes> {
        (0..n)
            .map(|i| {
                let info = log
                    .append_as_leader(&batch(3, 1_000 + i), epoch, 50)
                    .unwrap();
                log.read(info.base_offset, 1, i64::MAX, true)
                    .unwrap()
                    .records
            })
            .collect()
    }

    fn all_bytes(log: &Log) -> Vec<u8> {
        let mut out = Vec::new();
        let mut offset = log.log_start_offset();
        // Bounded by the LEO: every read returns at least one batch.
        while offset < log.log_end_offset() {
            let data = log.read(offset, 1 << 20, i64::MAX, true).unwrap().records;
            let headers = batch::validate_batches(&data, u32::MAX).unwrap();
            offset = headers.last().unwrap().next_offset();
            out.extend_from_slice(&data);
        }
        out
    }

    fn log_file(dir: &Path, base: i64) -> PathBuf {
        segment::segment_file(dir, base, segment::LOG_SUFFIX)
    }

    #[test]
    fn append_assigns_offsets_and_reads_back_stored_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), small_config(), true);
        let input = batch(3, 1_000);
        let info = log.append_as_leader(&input, 5, 77).unwrap();
        assert_eq!(
            (info.base_offset, info.last_offset, info.record_count),
            (0, 2, 3)
        );
        assert_eq!(
            (info.log_append_time_ms, info.max_timestamp, info.bytes),
            (-1, 1_000, input.len())
        );
        let info = log.append_as_leader(&input, 5, 77).unwrap();
        assert_eq!((info.base_offset, info.last_offset), (3, 5));
        assert_eq!(log.log_end_offset(), 6);

        let data = log.read(3, 1 << 20, i64::MAX, false).unwrap();
        assert_eq!((data.log_start_offset, data.log_end_offset), (0, 6));
        let header = BatchHeader::parse(&data.records).unwrap();
        assert_eq!((header.base_offset, header.partition_leader_epoch), (3, 5));
        assert_eq!(
            &data.records[batch::CRC_START - 4..],
            &input[batch::CRC_START - 4..],
            "CRC and body stored as received"
        );
        assert!(
            log.read(6, 1 << 20, i64::MAX, false)
                .unwrap()
                .records
                .is_empty(),
            "reading at the LEO is empty"
        );
        assert!(matches!(
            log.read(7, 100, i64::MAX, false),
            Err(LogError::OffsetOutOfRange { offset: 7, .. })
        ));
    }

    #[test]
    fn read_honours_max_bytes_min_one_batch_and_high_watermark() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), small_config(), true);
        let stored = fill(&log, 5, 0);
        let one = stored[0].len();
        assert_eq!(
            log.read(0, 2 * one + 10, i64::MAX, false)
                .unwrap()
                .records
                .len(),
            2 * one,
            "only whole batches"
        );
        assert!(log
            .read(0, one - 1, i64::MAX, false)
            .unwrap()
            .records
            .is_empty());
        assert_eq!(
            log.read(0, 1, i64::MAX, true).unwrap().records,
            stored[0],
            "first batch whole with min_one_batch"
        );
        assert_eq!(
            log.read(4, 1 << 20, 6, false).unwrap().records,
            stored[1],
            "batches at the high watermark are not served"
        );
        assert!(log.read(6, 1 << 20, 6, true).unwrap().records.is_empty());
    }

    #[test]
    fn file_slices_hold_the_same_whole_batches_as_copied_reads() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), small_config(), true);
        let stored = fill(&log, 5, 0);
        let one = stored[0].len();
        // (fetch offset, max bytes, bound, min one batch)
        let cases = [
            (0, 2 * one + 10, i64::MAX, false),
            (0, one - 1, i64::MAX, false),
            (0, 1, i64::MAX, true),
            (4, 1 << 20, 6, false),
            (3, 1 << 20, i64::MAX, false),
            (6, 1 << 20, 6, true),
        ];
        for (offset, max_bytes, bound, min_one) in cases {
            let copied = log.read(offset, max_bytes, bound, min_one).unwrap().records;
            let read = log
                .read_records(offset, max_bytes, bound, min_one, Some(1))
                .unwrap();
            let case =
                format!("offset {offset}, max {max_bytes}, bound {bound}, min one {min_one}");
            assert_eq!(
                read.next_offset,
                batch::next_offset_after(&copied),
                "{case}"
            );
            match read.records {
                Records::File(slice) => {
                    assert_eq!(slice.read().unwrap(), copied, "{case}");
                }
                Records::Memory(bytes) => {
                    assert!(
                        copied.is_empty(),
                        "a non-empty read stays in the file ({case})"
                    );
                    assert!(bytes.is_empty(), "{case}");
                }
            }
        }
        let below_min = log
            .read_records(0, 1 << 20, i64::MAX, false, Some(usize::MAX))
            .unwrap();
        assert!(
            matches!(below_min.records, Records::Memory(ref b) if b.len() == 5 * one),
            "reads shorter than the minimum are copied"
        );
    }

    #[test]
    fn a_file_slice_truncated_after_the_read_fails_instead_of_shrinking() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), small_config(), true);
        fill(&log, 4, 0);
        let read = log
            .read_records(0, 1 << 20, i64::MAX, false, Some(1))
            .unwrap();
        let Records::File(slice) = read.records else {
            panic!("expected a file slice");
        };
        log.truncate_to(3).unwrap();
        assert!(
            slice.read().is_err(),
            "a slice longer than its file is an error, never a shorter answer"
        );
    }

    #[test]
    fn log_append_time_is_stamped_on_batches() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            timestamp_type: TimestampType::LogAppendTime,
            ..small_config()
        };
        let log = open(dir.path(), config, true);
        let info = log.append_as_leader(&batch(2, 1_000), 0, 123_456).unwrap();
        assert_eq!(
            (info.log_append_time_ms, info.max_timestamp),
            (123_456, 123_456)
        );
        let data = log.read(0, 1 << 20, i64::MAX, false).unwrap().records;
        let header = batch::validate_batches(&data, u32::MAX)
            .expect("stamped batch must keep a valid CRC")[0];
        assert_eq!(header.timestamp_type(), TimestampType::LogAppendTime);
        let found = log.offset_for_timestamp(123_456).unwrap().unwrap();
        assert_eq!(
            (found.offset, found.timestamp, found.leader_epoch),
            (0, 123_456, Some(0))
        );
    }

    #[test]
    fn rejects_invalid_input_without_writing_anything() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(
            dir.path(),
            LogConfig {
                max_message_bytes: 200,
                ..small_config()
            },
            true,
        );
        let mut corrupt = batch(2, 0);
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        assert!(matches!(
            log.append_as_leader(&corrupt, 0, 0),
            Err(LogError::CorruptRecord(_))
        ));
        assert!(matches!(
            log.append_as_leader(&batch(20, 0), 0, 0),
            Err(LogError::RecordTooLarge { .. })
        ));
        assert!(matches!(
            log.append_as_leader(&[], 0, 0),
            Err(LogError::InvalidRecord(_))
        ));
        assert_eq!(
            (log.log_end_offset(), log.size_bytes()),
            (0, 0),
            "failed appends leave no trace"
        );
    }

    #[test]
    fn rolls_by_size_time_and_full_index() {
        let dir = tempfile::tempdir().unwrap();
        let one = batch(3, 0).len() as u64;
        let log = open(
            dir.path(),
            LogConfig {
                segment_bytes: 3 * one,
                ..small_config()
            },
            true,
        );
        fill(&log, 7, 0);
        assert_eq!(
            log.segment_count(),
            3,
            "7 batches at 3 per segment make 3 segments"
        );
        assert!(log_file(dir.path(), 9).exists() && log_file(dir.path(), 18).exists());
        assert_eq!(
            log.recovery_point(),
            0,
            "a roll does not fsync under the lock"
        );
        assert!(log.roll_flush_pending());
        log.flush_rolled().unwrap();
        assert!(!log.roll_flush_pending());
        assert_eq!(
            log.recovery_point(),
            18,
            "the rolled segments' flush moves the recovery point"
        );
        assert_eq!(all_bytes(&log).len() as u64, 7 * one);

        let dir = tempfile::tempdir().unwrap();
        let log = open(
            dir.path(),
            LogConfig {
                segment_ms: 1_000,
                ..small_config()
            },
            true,
        );
        // Kafka measures segment age in record time: the incoming batch's max timestamp
        // minus the first batch's timestamp (the wall clock only when there is none).
        log.append_as_leader(&batch(1, 10_000), 0, 50_000).unwrap();
        log.append_as_leader(&batch(1, 10_500), 0, 90_000).unwrap();
        assert_eq!(
            log.segment_count(),
            1,
            "record time, not wall time, decides"
        );
        log.append_as_leader(&batch(1, 11_001), 0, 90_001).unwrap();
        assert_eq!(
            log.segment_count(),
            2,
            "a segment older than segment.ms (in record time) rolls"
        );

        let dir = tempfile::tempdir().unwrap();
        let log = open(
            dir.path(),
            LogConfig {
                index_interval_bytes: 1,
                segment_index_bytes: 16,
                ..small_config()
            },
            true,
        );
        fill(&log, 8, 0);
        assert!(
            log.segment_count() >= 3,
            "a full 2-entry index forces rolls, got {}",
            log.segment_count()
        );
        assert_eq!(all_bytes(&log).len() as u64, 8 * one);
    }

    #[test]
    fn acknowledged_appends_survive_unclean_restart_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let one = batch(3, 0).len() as u64;
        let config = LogConfig {
            segment_bytes: 4 * one,
            ..small_config()
        };
        let log = open(dir.path(), config.clone(), true);
        fill(&log, 10, 3);
        let before = all_bytes(&log);
        drop(log); // no flush, no close: like kill -9 with the page cache intact
        let log = open(dir.path(), config, false);
        assert_eq!(log.log_end_offset(), 30);
        assert_eq!(
            all_bytes(&log),
            before,
            "every acknowledged byte must be back after an unclean restart"
        );
        assert_eq!(log.leader_epoch_end_offset(3), (3, 30));
        assert_eq!(
            log.append_as_leader(&batch(1, 0), 3, 0)
                .unwrap()
                .base_offset,
            30,
            "no offset reused"
        );
    }

    #[test]
    fn many_logs_through_a_small_file_cache_keep_every_byte_across_restarts() {
        let root = tempfile::tempdir().unwrap();
        let one = batch(3, 0).len() as u64;
        let config = LogConfig {
            segment_bytes: 3 * one,
            ..small_config()
        };
        // 30 logs of several segments each (3 files per segment) through 16 descriptors.
        let files = FileCache::new(16);
        let dirs: Vec<PathBuf> = (0..30)
            .map(|i| root.path().join(format!("t-{i}")))
            .collect();
        let open_all = |clean: bool, files: &Arc<FileCache>| -> Vec<Log> {
            dirs.iter()
                .map(|d| {
                    Log::open(d.clone(), config.clone(), 0, 0, clean, Arc::clone(files)).unwrap()
                })
                .collect()
        };
        let logs = open_all(true, &files);
        for round in 0..5 {
            for (i, log) in logs.iter().enumerate() {
                // Interleaved appends and reads: each log's files are evicted in between.
                log.append_as_leader(&batch(3, 1_000 + round), 0, 50)
                    .unwrap();
                let read = log
                    .read(log.log_start_offset(), 1 << 20, i64::MAX, true)
                    .unwrap();
                assert!(
                    !read.records.is_empty(),
                    "log {i} reads back after round {round}"
                );
                let stats = files.stats();
                assert!(
                    stats.open <= 16,
                    "{} files held open, over the cache capacity of 16",
                    stats.open
                );
            }
        }
        assert!(
            files.stats().evicted_total > 0,
            "the test must exercise eviction"
        );
        let expected: Vec<Vec<u8>> = logs.iter().map(all_bytes).collect();
        // Half the logs flushed (recovery point moves), then all dropped: kill -9.
        for log in logs.iter().step_by(2) {
            log.flush().unwrap();
            assert_eq!(log.recovery_point(), log.log_end_offset());
        }
        drop(logs);
        let files = FileCache::new(16);
        let logs = open_all(false, &files);
        for (i, log) in logs.iter().enumerate() {
            assert_eq!(
                all_bytes(log),
                expected[i],
                "log {i}: acknowledged bytes must survive eviction and an unclean restart"
            );
            log.append_as_leader(&batch(1, 2_000), 0, 50).unwrap();
            log.close().unwrap();
        }
        let after_close: Vec<Vec<u8>> = logs.iter().map(all_bytes).collect();
        drop(logs);
        let logs = open_all(true, &FileCache::new(16));
        for (i, log) in logs.iter().enumerate() {
            assert_eq!(
                all_bytes(log),
                after_close[i],
                "log {i} after a clean restart"
            );
        }
    }

    #[test]
    fn idle_logs_open_and_close_without_touching_their_files() {
        let root = tempfile::tempdir().unwrap();
        let dirs: Vec<PathBuf> = (0..20)
            .map(|i| root.path().join(format!("t-{i}")))
            .collect();
        let files = FileCache::new(16);
        for dir in &dirs {
            let log =
                Log::open(dir.clone(), small_config(), 0, 0, true, Arc::clone(&files)).unwrap();
            log.close().unwrap();
        }
        assert_eq!(
            files.stats().opened_total,
            0,
            "creating and closing empty logs keeps no segment file open"
        );
        let files = FileCache::new(16);
        let logs: Vec<Log> = dirs
            .iter()
            .map(|d| Log::open(d.clone(), small_config(), 0, 0, true, Arc::clone(&files)).unwrap())
            .collect();
        for log in &logs {
            log.close().unwrap();
        }
        let stats = files.stats();
        assert_eq!(
            (stats.opened_total, stats.open),
            (0, 0),
            "loading and closing cleanly shut down idle logs opens none of their files"
        );
        let snapshots = |dir: &Path| {
            std::fs::read_dir(dir)
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".snapshot"))
                })
                .count()
        };
        assert_eq!(
            snapshots(&dirs[0]),
            0,
            "an empty log needs no producer snapshot (Kafka writes none either)"
        );
        logs[0].append_as_leader(&batch(1, 0), 0, 0).unwrap();
        logs[0].close().unwrap();
        assert_eq!(
            snapshots(&dirs[0]),
            1,
            "a log with new data gets a snapshot at close"
        );
    }

    #[test]
    fn recovery_truncates_partial_last_batch() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), small_config(), true);
        let stored = fill(&log, 5, 0);
        let before = all_bytes(&log);
        drop(log);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(log_file(dir.path(), 0))
            .unwrap();
        std::io::Write::write_all(&mut file, &stored[0][..40]).unwrap();
        drop(file);
        let log = open(dir.path(), small_config(), false);
        assert_eq!(log.log_end_offset(), 15);
        assert_eq!(all_bytes(&log), before, "only the torn bytes are removed");
        assert_eq!(
            log.append_as_leader(&batch(1, 0), 0, 0)
                .unwrap()
                .base_offset,
            15
        );
    }

    #[test]
    fn recovery_truncates_batch_with_flipped_crc_byte_and_deletes_later_segments() {
        let dir = tempfile::tempdir().unwrap();
        let one = batch(3, 0).len() as u64;
        let config = LogConfig {
            segment_bytes: 3 * one,
            ..small_config()
        };
        let log = open(dir.path(), config.clone(), true);
        fill(&log, 8, 0);
        let bytes_first_five = {
            let all = all_bytes(&log);
            all[..5 * one as usize].to_vec()
        };
        drop(log);
        // Segments: [0..9) [9..18) [18..24). Corrupt the last batch of the middle one.
        let path = log_file(dir.path(), 9);
        let mut data = std::fs::read(&path).unwrap();
        let last = data.len() - 5;
        data[last] ^= 0xff;
        std::fs::write(&path, &data).unwrap();
        let log = Log::open(
            dir.path().to_path_buf(),
            config,
            9,
            0,
            false,
            FileCache::new(64),
        )
        .unwrap();
        assert_eq!(
            log.log_end_offset(),
            15,
            "the corrupt batch 15..18 and everything after it are gone"
        );
        assert!(
            !log_file(dir.path(), 18).exists(),
            "segments after a truncation are deleted"
        );
        assert_eq!(&all_bytes(&log)[..5 * one as usize], &bytes_first_five[..]);
    }

    #[test]
    fn garbage_or_missing_indexes_are_rebuilt_even_after_clean_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), small_config(), true);
        fill(&log, 20, 0);
        let before = all_bytes(&log);
        let found_before = log.offset_for_timestamp(1_010).unwrap();
        log.close().unwrap();
        drop(log);
        std::fs::write(
            segment::segment_file(dir.path(), 0, segment::INDEX_SUFFIX),
            [7u8; 13],
        )
        .unwrap();
        std::fs::remove_file(segment::segment_file(
            dir.path(),
            0,
            segment::TIME_INDEX_SUFFIX,
        ))
        .unwrap();
        let log = Log::open(
            dir.path().to_path_buf(),
            small_config(),
            60,
            0,
            true,
            FileCache::new(64),
        )
        .unwrap();
        assert_eq!(all_bytes(&log), before);
        assert_eq!(
            log.offset_for_timestamp(1_010).unwrap(),
            found_before,
            "rebuilt time index answers the same"
        );
        assert!(
            std::fs::metadata(segment::segment_file(dir.path(), 0, segment::INDEX_SUFFIX))
                .unwrap()
                .len()
                .is_multiple_of(8)
        );
        assert!(segment::segment_file(dir.path(), 0, segment::TIME_INDEX_SUFFIX).exists());
    }

    #[test]
    fn a_leftover_swap_replaces_the_segments_it_covers() {
        let dir = tempfile::tempdir().unwrap();
        let one = batch(3, 0).len() as u64;
        let config = LogConfig {
            segment_bytes: 3 * one,
            ..small_config()
        };
        let log = open(dir.path(), config.clone(), true);
        let stored = fill(&log, 8, 0); // segments [0,9) [9,18) [18,24), 3 batches each
        let before = all_bytes(&log);
        drop(log);
        // A cleaned replacement of the first two segments that kept only their last batches
        // (offsets 6..=8 and 15..=17): it differs from what it replaces, so the result shows
        // whether the swap was completed or thrown away.
        let swap = PathBuf::from(format!("{}.swap", log_file(dir.path(), 0).display()));
        std::fs::write(&swap, [&stored[2][..], &stored[5][..]].concat()).unwrap();
        assert_eq!(next_offset_of_file(&swap).unwrap(), 18);
        let log = Log::open(
            dir.path().to_path_buf(),
            config,
            0,
            0,
            false,
            FileCache::new(64),
        )
        .unwrap();
        let after = all_bytes(&log);
        let bases = |bytes: &[u8]| -> Vec<i64> {
            batch::validate_batches(bytes, u32::MAX)
                .unwrap()
                .iter()
                .map(|h| h.base_offset)
                .collect()
        };
        assert_eq!(
            bases(&after),
            vec![6, 15, 18, 21],
            "the swap must replace segments 0 and 9 (uncleaned they had batches {:?})",
            bases(&before)
        );
        assert!(
            after
                == [
                    &stored[2][..],
                    &stored[5][..],
                    &stored[6][..],
                    &stored[7][..]
                ]
                .concat(),
            "the log holds the swap's bytes, then segment 18's"
        );
        assert_eq!(log.segment_count(), 2, "the swap and segment 18");
        assert_eq!(log.log_end_offset(), 24);
        assert!(!swap.exists());
        assert!(
            !log_file(dir.path(), 9).exists(),
            "the replaced segment 9 must be deleted"
        );
    }

    #[test]
    fn idempotent_retries_are_deduplicated_and_state_survives_reopen() {
        use super::super::batch::test_support::keyed_batch_with;
        let dir = tempfile::tempdir().unwrap();
        let one = batch(3, 0).len() as u64;
        let config = LogConfig {
            segment_bytes: 4 * one,
            ..small_config()
        };
        let log = open(dir.path(), config.clone(), true);
        let idem = |seq: i32, epoch: i16| {
            keyed_batch_with(
                &[(Some("k"), Some("v")), (Some("k"), Some("w"))],
                1_000,
                Compression::None,
                (42, epoch, seq),
            )
        };
        for i in 0..6 {
            assert_eq!(
                log.append_as_leader(&idem(2 * i, 0), 0, 0)
                    .unwrap()
                    .base_offset,
                2 * i64::from(i)
            );
        }
        let leo = log.log_end_offset();
        let dup = log.append_as_leader(&idem(8, 0), 0, 0).unwrap();
        assert_eq!(
            (dup.base_offset, dup.last_offset),
            (8, 9),
            "duplicate answered with original offsets"
        );
        assert_eq!(log.log_end_offset(), leo, "duplicates are not written");
        assert!(matches!(
            log.append_as_leader(&idem(20, 0), 0, 0),
            Err(LogError::OutOfOrderSequence(_))
        ));
        drop(log); // unclean: state from the roll snapshot plus replay
        let log = open(dir.path(), config.clone(), false);
        let entry = log
            .producer_entry(42)
            .expect("producer state rebuilt after an unclean reopen");
        assert_eq!(entry.batches.back().unwrap().last_seq, 11);
        assert_eq!(
            log.append_as_leader(&idem(10, 0), 0, 0)
                .unwrap()
                .base_offset,
            10
        );
        log.close().unwrap();
        drop(log);
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.to_string_lossy().ends_with(".log") {
                continue;
            }
        }
        let log = open(dir.path(), config, true);
        assert_eq!(
            log.append_as_leader(&idem(10, 0), 0, 0)
                .unwrap()
                .base_offset,
            10,
            "state from the shutdown snapshot"
        );
        assert!(matches!(
            log.append_as_leader(&idem(14, 0), 0, 0),
            Err(LogError::OutOfOrderSequence(_))
        ));

        // Without any snapshot the state is replayed from the start of the log.
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), small_config(), true);
        log.append_as_leader(&idem(0, 0), 0, 0).unwrap();
        log.append_as_leader(&idem(0, 1), 0, 0).unwrap();
        drop(log);
        let log = open(dir.path(), small_config(), false);
        assert_eq!(
            log.append_as_leader(&idem(0, 1), 0, 0).unwrap().base_offset,
            2,
            "replayed state recognises the retry"
        );
    }

    #[test]
    fn open_removes_leftover_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "00000000000000000000.log.deleted",
            "x.cleaned",
            "x.swap",
            "00000000000000000050.index",
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let log = open(dir.path(), small_config(), false);
        assert_eq!(log.log_end_offset(), 0);
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "00000000000000000000.index",
                "00000000000000000000.log",
                "00000000000000000000.timeindex"
            ]
        );
    }

    #[test]
    fn retention_by_time_rolls_and_deletes_expired_segments() {
        let dir = tempfile::tempdir().unwrap();
        let one = batch(3, 0).len() as u64;
        let config = LogConfig {
            segment_bytes: 2 * one,
            retention_ms: 1_000,
            ..small_config()
        };
        let log = open(dir.path(), config, true);
        fill(&log, 5, 0); // timestamps 1000..1004, segments [0,6) [6,12) [12,15)
        assert_eq!(
            log.enforce_retention(2_002).unwrap(),
            1,
            "only the segment with max timestamp 1001 expired"
        );
        assert_eq!(log.log_start_offset(), 6);
        assert!(matches!(
            log.read(0, 100, i64::MAX, false),
            Err(LogError::OffsetOutOfRange { .. })
        ));
        assert_eq!(
            log.enforce_retention(10_000).unwrap(),
            2,
            "the expired active segment is rolled, then deleted"
        );
        assert_eq!(
            (
                log.log_start_offset(),
                log.log_end_offset(),
                log.size_bytes()
            ),
            (15, 15, 0)
        );
        assert_eq!(
            log.enforce_retention(100_000).unwrap(),
            0,
            "an empty active segment is never deleted"
        );
        assert_eq!(
            log.append_as_leader(&batch(1, 0), 0, 0)
                .unwrap()
                .base_offset,
            15
        );
    }

    #[test]
    fn retention_by_size_deletes_oldest_whole_segments() {
        let dir = tempfile::tempdir().unwrap();
        let one = batch(3, 0).len() as u64;
        let config = LogConfig {
            segment_bytes: 2 * one,
            retention_bytes: (3 * one) as i64,
            retention_ms: -1,
            ..small_config()
        };
        let log = open(dir.path(), config.clone(), true);
        fill(&log, 7, 0); // 4 segments: 2+2+2+1 batches
        assert_eq!(log.enforce_retention(0).unwrap(), 2);
        assert_eq!((log.size_bytes(), log.log_start_offset()), (3 * one, 12));
        log.update_config(LogConfig {
            cleanup_delete: false,
            retention_bytes: 0,
            ..config
        });
        assert_eq!(
            log.enforce_retention(0).unwrap(),
            0,
            "compact-only topics keep everything"
        );
    }

    #[test]
    fn delete_records_advances_start_and_drops_whole_segments() {
        let dir = tempfile::tempdir().unwrap();
        let one = batch(3, 0).len() as u64;
        let log = open(
            dir.path(),
            LogConfig {
                segment_bytes: 2 * one,
                ..small_config()
            },
            true,
        );
        fill(&log, 5, 0);
        assert_eq!(log.delete_records_before(7).unwrap(), 7);
        assert_eq!(
            log.segment_count(),
            2,
            "segment [0,6) is gone, [6,12) holds the new start"
        );
        assert_eq!(log.delete_records_before(3).unwrap(), 7, "never backwards");
        let data = log.read(7, 1 << 20, i64::MAX, false).unwrap();
        assert_eq!(
            BatchHeader::parse(&data.records).unwrap().base_offset,
            6,
            "the batch containing 7 is served"
        );
        assert!(matches!(
            log.delete_records_before(16),
            Err(LogError::OffsetOutOfRange { .. })
        ));
        assert_eq!(
            log.offset_for_timestamp(0).unwrap().unwrap().offset,
            7,
            "lookups start at the log start offset"
        );
        assert_eq!(log.delete_records_before(15).unwrap(), 15);
        assert_eq!(log.segment_count(), 1);
        drop(log);
        let log = Log::open(
            dir.path().to_path_buf(),
            small_config(),
            15,
            15,
            true,
            FileCache::new(64),
        )
        .unwrap();
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (15, 15));
    }

    #[test]
    fn timestamp_lookups_find_exact_records_in_compressed_multi_record_batches() {
        for compression in super::super::batch::test_support::COMPRESSIONS {
            let dir = tempfile::tempdir().unwrap();
            let log = open(
                dir.path(),
                LogConfig {
                    index_interval_bytes: 64,
                    ..small_config()
                },
                true,
            );
            for i in 0..10i64 {
                let base = 1_000 * i;
                let records = batch_with(
                    &[base + 10, base + 50, base + 30, base + 90],
                    compression,
                    200,
                );
                log.append_as_leader(&records, 2, 0).unwrap();
            }
            let at = |t| {
                log.offset_for_timestamp(t)
                    .unwrap()
                    .map(|f| (f.offset, f.timestamp))
            };
            assert_eq!(at(0), Some((0, 10)), "{compression:?}");
            assert_eq!(
                at(5_040),
                Some((21, 5_050)),
                "{compression:?}: first record at or after the target"
            );
            assert_eq!(
                at(5_060),
                Some((23, 5_090)),
                "{compression:?}: timestamps inside a batch are not sorted"
            );
            assert_eq!(at(9_091), None, "{compression:?}");
            let max = log.max_timestamp_offset().unwrap().unwrap();
            assert_eq!(
                (max.offset, max.timestamp, max.leader_epoch),
                (39, 9_090, Some(2)),
                "{compression:?}"
            );
        }
    }

    #[test]
    fn max_timestamp_prefers_the_earliest_record_on_ties() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), small_config(), true);
        log.append_as_leader(&batch_with(&[5, 7, 7], Compression::None, 1), 0, 0)
            .unwrap();
        log.append_as_leader(&batch_with(&[7], Compression::None, 1), 0, 0)
            .unwrap();
        assert_eq!(
            log.max_timestamp_offset().unwrap().map(|f| f.offset),
            Some(1)
        );
    }

    #[test]
    fn flush_policies_move_the_recovery_point() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(
            dir.path(),
            LogConfig {
                flush_messages: 5,
                ..small_config()
            },
            true,
        );
        fill(&log, 1, 0);
        assert_eq!(log.recovery_point(), 0);
        fill(&log, 1, 0);
        assert_eq!(
            log.recovery_point(),
            6,
            "6 unflushed messages >= flush.messages 5 trigger a flush"
        );

        let log2_dir = tempfile::tempdir().unwrap();
        let log2 = open(
            log2_dir.path(),
            LogConfig {
                flush_ms: 100,
                ..small_config()
            },
            true,
        );
        fill(&log2, 1, 0);
        let now = crate::types::now_ms();
        log2.flush_if_due(now - 1_000).unwrap();
        assert_eq!(log2.recovery_point(), 0, "not due yet");
        log2.flush_if_due(now + 1_000).unwrap();
        assert_eq!(log2.recovery_point(), 3);
        fill(&log2, 1, 0);
        log2.flush().unwrap();
        assert_eq!(log2.recovery_point(), 6);
    }

    #[test]
    fn log_and_manager_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Log>();
        assert_send_sync::<super::super::LogManager>();
    }

    #[test]
    fn concurrent_reads_only_ever_see_whole_valid_batches() {
        let dir = tempfile::tempdir().unwrap();
        let one = batch(3, 0).len() as u64;
        let log = std::sync::Arc::new(open(
            dir.path(),
            LogConfig {
                segment_bytes: 10 * one,
                ..small_config()
            },
            true,
        ));
        let writer = {
            let log = std::sync::Arc::clone(&log);
            std::thread::spawn(move || {
                for i in 0..200 {
                    log.append_as_leader(&batch(3, i), 0, 0).unwrap();
                }
            })
        };
        let mut reads = 0;
        // Bounded: the writer finishes after 200 appends; then one last pass.
        loop {
            let done = writer.is_finished();
            let leo = log.log_end_offset();
            let mut offset = 0;
            while offset < leo {
                let data = log
                    .read(offset, 3 * one as usize, leo, true)
                    .unwrap()
                    .records;
                let headers = batch::validate_batches(&data, u32::MAX)
                    .expect("reads must return whole, valid batches");
                assert_eq!(
                    headers[0].base_offset, offset,
                    "reads start at the requested batch"
                );
                offset = headers.last().unwrap().next_offset();
                reads += 1;
            }
            if done {
                break;
            }
        }
        writer.join().unwrap();
        assert_eq!(log.log_end_offset(), 600);
        assert!(reads >= 200, "the final pass alone reads every batch");
    }

    #[test]
    fn delete_dir_removes_everything() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t-0");
        let log = Log::open(path.clone(), small_config(), 0, 0, true, FileCache::new(64)).unwrap();
        fill(&log, 2, 0);
        log.delete_dir().unwrap();
        assert!(!path.exists());
        assert!(
            log.append_as_leader(&batch(1, 0), 0, 0).is_err(),
            "a deleted log refuses appends"
        );
    }
}

#[cfg(test)]
mod txn_tests {
    use super::super::batch::test_support::{batch, txn_batch};
    use super::*;

    fn open(dir: &Path, clean: bool) -> Log {
        Log::open(
            dir.to_path_buf(),
            LogConfig::default(),
            0,
            0,
            clean,
            FileCache::new(64),
        )
        .unwrap()
    }

    #[test]
    fn transactions_bound_the_stable_offset_and_aborts_are_indexed_and_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), false);
        log.append_as_leader(&batch(2, 1_000), 0, 50).unwrap(); // 0..=1
        let t1 = log
            .append_as_leader(&txn_batch(3, 1_000, (7, 0, 0)), 0, 50)
            .unwrap(); // 2..=4
        assert_eq!(t1.base_offset, 2);
        log.append_as_leader(&txn_batch(2, 1_000, (8, 0, 0)), 0, 50)
            .unwrap(); // 5..=6
        log.append_as_leader(&txn_batch(1, 1_000, (7, 0, 3)), 0, 50)
            .unwrap(); // 7
        assert_eq!(log.first_unstable_offset(), Some(2));
        assert_eq!(log.ongoing_txns(), vec![(7, 2), (8, 5)]);
        assert!(
            matches!(
                log.append_as_leader(&batch(1, 1_000), 0, 50)
                    .map(|_| ())
                    .and_then(|_| log.append_as_leader(
                        &super::super::batch::test_support::keyed_batch_with(
                            &[(Some("k"), Some("v"))],
                            1_000,
                            kafka_protocol::records::Compression::None,
                            (7, 0, 4)
                        ),
                        0,
                        50
                    )),
                Err(LogError::InvalidTxnState(_))
            ),
            "a non-transactional batch of a producer inside a transaction is INVALID_TXN_STATE"
        );
        // Abort producer 7's transaction (marker at 9): producer 8 still holds the LSO at 5.
        let marker = log.append_txn_marker(7, 0, 3, false, 0, 60).unwrap();
        assert_eq!(marker.base_offset, 9);
        assert_eq!(log.first_unstable_offset(), Some(5));
        let aborted = log.collect_aborted_transactions(0, 10);
        assert_eq!(
            aborted,
            vec![AbortedTxn {
                producer_id: 7,
                first_offset: 2,
                last_offset: 9,
                last_stable_offset: 5
            }]
        );
        // Commit producer 8: nothing unstable remains.
        log.append_txn_marker(8, 0, 3, true, 0, 60).unwrap(); // 10
        assert_eq!(log.first_unstable_offset(), None);
        // Fencing: older producer epoch, older coordinator epoch.
        assert!(matches!(
            log.append_txn_marker(8, 0, 2, true, 0, 60),
            Err(LogError::TransactionCoordinatorFenced(_))
        ));
        log.append_as_leader(&txn_batch(1, 1_000, (8, 1, 0)), 0, 50)
            .unwrap(); // 11, epoch 1
        assert!(matches!(
            log.append_txn_marker(8, 0, 3, false, 0, 60),
            Err(LogError::InvalidProducerEpoch(_))
        ));
        // A marker without an ongoing transaction is written (and indexes nothing).
        log.append_txn_marker(99, 0, 0, false, 0, 60).unwrap(); // 12
        assert_eq!(log.first_unstable_offset(), Some(11));
        // Clients cannot write control batches.
        let control = batch::build_txn_marker_batch(5, 0, 0, true, 1_000).unwrap();
        assert!(matches!(
            log.append_as_leader(&control, 0, 50),
            Err(LogError::InvalidRecord(_))
        ));
        let index_bytes =
            std::fs::read(super::super::txn_index::txn_index_file(dir.path(), 0)).unwrap();
        assert_eq!(index_bytes.len(), 34, "one aborted transaction on disk");

        // Unclean restart without any snapshot: replay rebuilds state and the index.
        drop(log);
        std::fs::remove_file(super::super::txn_index::txn_index_file(dir.path(), 0)).unwrap();
        let log = open(dir.path(), false);
        assert_eq!(
            log.first_unstable_offset(),
            Some(11),
            "the open transaction survives"
        );
        assert_eq!(log.collect_aborted_transactions(0, 20), aborted);
        assert_eq!(
            std::fs::read(super::super::txn_index::txn_index_file(dir.path(), 0)).unwrap(),
            index_bytes,
            "the rebuilt index is byte-identical"
        );

        // Clean restart from a snapshot keeps the same state.
        log.close().unwrap();
        drop(log);
        let log = open(dir.path(), true);
        assert_eq!(log.first_unstable_offset(), Some(11));
        assert_eq!(log.collect_aborted_transactions(0, 20), aborted);
    }

    #[test]
    fn deleting_segments_drops_their_aborted_index_and_keeps_ongoing_transactions() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            segment_bytes: 300,
            ..LogConfig::default()
        };
        let log = Log::open(
            dir.path().to_path_buf(),
            config,
            0,
            0,
            false,
            FileCache::new(64),
        )
        .unwrap();
        log.append_as_leader(&txn_batch(2, 1_000, (1, 0, 0)), 0, 50)
            .unwrap(); // 0..=1
        log.append_txn_marker(1, 0, 0, false, 0, 60).unwrap(); // 2
        let open = log
            .append_as_leader(&txn_batch(1, 1_000, (2, 0, 0)), 0, 50)
            .unwrap();
        for _ in 0..6 {
            log.append_as_leader(&batch(2, 1_000), 0, 50).unwrap();
        }
        assert!(log.segment_count() > 2, "small segments must roll");
        assert_eq!(log.collect_aborted_transactions(0, 100).len(), 1);
        let index_file = super::super::txn_index::txn_index_file(dir.path(), 0);
        assert!(index_file.exists());
        let second_base = log.cleaning_view().unwrap().segments[1].base_offset;
        log.delete_records_before(second_base).unwrap();
        assert!(
            !index_file.exists(),
            "the deleted segment's .txnindex goes with it"
        );
        assert!(log.collect_aborted_transactions(0, 100).is_empty());
        assert_eq!(
            log.first_unstable_offset(),
            Some(open.base_offset),
            "the ongoing transaction is still ongoing (the LSO is clamped to the log start by the partition)"
        );
    }

    #[test]
    fn transaction_verification_guards_the_start_of_a_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), false);
        let append = |seq: i32, verification: TxnVerification| {
            log.append_as_leader_from(
                &txn_batch(1, 1_000, (7, 0, seq)),
                0,
                50,
                AppendOrigin::Client,
                verification,
            )
        };
        let refused =
            |r: Result<AppendInfo, LogError>| matches!(r, Err(LogError::InvalidTxnState(_)));
        assert!(
            refused(append(0, TxnVerification::Unverified)),
            "nothing verified"
        );
        assert!(
            refused(append(0, TxnVerification::Guard(u64::MAX))),
            "a guard never handed out"
        );
        let guard = log
            .start_txn_verification(7, 0)
            .expect("no transaction yet: verify");
        assert_eq!(
            log.start_txn_verification(7, 0),
            Some(guard),
            "one outstanding guard"
        );
        append(0, TxnVerification::Guard(guard)).unwrap();
        assert_eq!(
            log.start_txn_verification(7, 0),
            None,
            "ongoing: nothing to verify"
        );
        append(1, TxnVerification::Unverified).expect("continuing the ongoing transaction");
        log.append_txn_marker(7, 0, 0, false, 0, 60).unwrap();

        // Verified, but a marker (e.g. a timeout abort) ended that transaction before the
        // batch arrived: the guard is void and the late batch opens nothing.
        let late = log.start_txn_verification(7, 0).expect("verify again");
        log.append_txn_marker(7, 0, 0, false, 0, 70).unwrap();
        assert!(refused(append(2, TxnVerification::Guard(late))));
        assert_eq!(log.first_unstable_offset(), None, "no hanging transaction");
        let fresh = log.start_txn_verification(7, 0).expect("verify again");
        append(2, TxnVerification::Guard(fresh)).unwrap();
        assert!(log.first_unstable_offset().is_some());
        // Verification off (coordinators, or transaction.partition.verification.enable=false).
        log.append_txn_marker(7, 0, 0, true, 0, 80).unwrap();
        append(3, TxnVerification::Off).unwrap();
    }
}

#[cfg(test)]
mod follower_tests {
    use super::super::batch::test_support::{batch, keyed_batch_with, txn_batch};
    use super::*;
    use kafka_protocol::records::Compression;

    fn open(dir: &Path, segment_bytes: u64, clean: bool) -> Log {
        let config = LogConfig {
            segment_bytes,
            index_interval_bytes: 128,
            ..LogConfig::default()
        };
        Log::open(dir.to_path_buf(), config, 0, 0, clean, FileCache::new(64)).unwrap()
    }

    /// Every stored byte from the log start to the log end.
    fn all_bytes(log: &Log) -> Vec<u8> {
        let mut out = Vec::new();
        let mut offset = log.log_start_offset();
        // Bounded by the LEO: every read returns at least one batch.
        while offset < log.log_end_offset() {
            let data = log.read(offset, 1 << 20, i64::MAX, true).unwrap().records;
            let headers = batch::validate_stored_batches(&data, u32::MAX).unwrap();
            offset = headers.last().unwrap().next_offset();
            out.extend_from_slice(&data);
        }
        out
    }

    fn idempotent(seq: i32) -> Vec<u8> {
        keyed_batch_with(
            &[(Some("k"), Some("v")), (Some("k"), Some("w"))],
            1_000,
            Compression::None,
            (42, 0, seq),
        )
    }

    /// A leader log with three leader epochs, an idempotent producer, an aborted and an
    /// ongoing transaction.
    fn leader_log(dir: &Path) -> Log {
        let log = open(dir, 1 << 20, true);
        log.append_as_leader(&batch(3, 1_000), 0, 1_000).unwrap(); // 0..=2
        log.append_as_leader(&idempotent(0), 0, 1_000).unwrap(); // 3..=4
        log.append_as_leader(&txn_batch(2, 1_000, (7, 0, 0)), 1, 1_000)
            .unwrap(); // 5..=6
        log.append_txn_marker(7, 0, 3, false, 1, 1_000).unwrap(); // 7
        log.append_as_leader(&idempotent(2), 2, 1_000).unwrap(); // 8..=9
        log.append_as_leader(&txn_batch(2, 1_000, (9, 0, 0)), 2, 1_000)
            .unwrap(); // 10..=11, ongoing
        log.append_as_leader(&batch(2, 1_000), 2, 1_000).unwrap(); // 12..=13
        log
    }

    /// What a follower must agree on with its leader, beyond the bytes.
    #[derive(Debug, PartialEq)]
    struct Summary {
        log_end_offset: i64,
        epoch_end_offsets: Vec<(i32, i64)>,
        first_unstable_offset: Option<i64>,
        aborted: Vec<AbortedTxn>,
        idempotent_last_seq: Option<i32>,
    }

    fn summary(log: &Log) -> Summary {
        Summary {
            log_end_offset: log.log_end_offset(),
            epoch_end_offsets: (0..3).map(|e| log.leader_epoch_end_offset(e)).collect(),
            first_unstable_offset: log.first_unstable_offset(),
            aborted: log.collect_aborted_transactions(0, i64::MAX),
            idempotent_last_seq: log.producer_entry(42).and_then(|e| e.last_seq()),
        }
    }

    #[test]
    fn a_follower_keeps_the_leaders_bytes_offsets_epochs_and_producer_state() {
        let dir = tempfile::tempdir().unwrap();
        let leader = leader_log(&dir.path().join("leader"));
        let bytes = all_bytes(&leader);
        // Small segments on the follower: the fetched chunk is written across rolls.
        let follower_dir = dir.path().join("follower");
        let follower = open(&follower_dir, 200, true);
        let headers = batch::validate_stored_batches(&bytes, u32::MAX).unwrap();
        let split: usize = headers[..3].iter().map(|h| h.total_size()).sum();
        follower.append_as_follower(&bytes[..split], 2_000).unwrap();
        let info = follower
            .append_as_follower(&bytes[split..], 2_000)
            .unwrap()
            .expect("appended");
        assert_eq!((info.base_offset, info.last_offset), (7, 13));
        assert_eq!(
            all_bytes(&follower),
            bytes,
            "stored byte for byte, leader's offsets"
        );
        assert!(
            follower.segment_count() > 1,
            "the chunk was written across segments"
        );
        assert_eq!(summary(&follower), summary(&leader));
        assert_eq!(follower.first_unstable_offset(), Some(10));
        assert_eq!(
            follower.collect_aborted_transactions(0, i64::MAX).len(),
            1,
            "the replicated ABORT marker is indexed"
        );
        // A batch that does not follow the log end is refused and nothing changes.
        let refused = follower.append_as_follower(&bytes[..split], 2_000);
        assert!(
            matches!(refused, Err(LogError::InvalidRecord(_))),
            "{refused:?}"
        );
        assert_eq!(all_bytes(&follower), bytes);
        // Everything survives an unclean reopen (producer state rebuilt from the log).
        drop(follower);
        let reopened = open(&follower_dir, 200, false);
        assert_eq!(summary(&reopened), summary(&leader));
        assert_eq!(all_bytes(&reopened), bytes);
    }

    #[test]
    fn truncation_cuts_whole_batches_and_rebuilds_epochs_transactions_and_producers() {
        let dir = tempfile::tempdir().unwrap();
        let source = leader_log(&dir.path().join("leader"));
        let bytes = all_bytes(&source);
        let follower_dir = dir.path().join("follower");
        let log = open(&follower_dir, 200, true);
        log.append_as_follower(&bytes, 2_000).unwrap();
        log.maybe_increment_high_watermark(13);
        // Offset 9 is inside the batch 8..=9 (epoch 2): the whole batch goes.
        assert_eq!(log.truncate_to(9).unwrap(), 8);
        assert_eq!(log.log_end_offset(), 8);
        assert_eq!(
            log.high_watermark(),
            8,
            "the high watermark follows the log end down"
        );
        assert_eq!(
            log.latest_leader_epoch(),
            Some(1),
            "epoch 2 started at 8: gone"
        );
        assert_eq!(
            log.first_unstable_offset(),
            None,
            "the ongoing transaction at 10 is gone"
        );
        assert_eq!(
            log.producer_entry(42).and_then(|e| e.last_seq()),
            Some(1),
            "the idempotent producer is back at its batch before the cut"
        );
        assert_eq!(log.collect_aborted_transactions(0, i64::MAX).len(), 1);
        assert_eq!(all_bytes(&log), all_bytes_below(&bytes, 8));
        // Fetching again continues from the new end with the leader's batches.
        let rest = &bytes[all_bytes_below(&bytes, 8).len()..];
        log.append_as_follower(rest, 2_000).unwrap();
        assert_eq!(all_bytes(&log), bytes);
        assert_eq!(summary(&log), summary(&source));
        // Truncating past the end changes nothing; the cut survives an unclean reopen.
        assert_eq!(log.truncate_to(100).unwrap(), 14);
        log.truncate_to(5).unwrap();
        drop(log);
        let reopened = open(&follower_dir, 200, false);
        assert_eq!(reopened.log_end_offset(), 5);
        assert_eq!(reopened.latest_leader_epoch(), Some(0));
        assert_eq!(
            reopened.producer_entry(7),
            None,
            "producer 7 wrote only at 5 and later"
        );
        assert_eq!(all_bytes(&reopened), all_bytes_below(&bytes, 5));
        // Below the log start (or when asked), the log restarts empty at the offset.
        reopened.truncate_fully_and_start_at(50).unwrap();
        assert_eq!(
            (
                reopened.log_start_offset(),
                reopened.log_end_offset(),
                reopened.high_watermark()
            ),
            (50, 50, 50)
        );
        assert_eq!(reopened.latest_leader_epoch(), None);
        assert_eq!(reopened.producer_entry(42), None);
        drop(reopened);
        let restarted = open(&follower_dir, 200, false);
        assert_eq!(
            (restarted.log_start_offset(), restarted.log_end_offset()),
            (50, 50)
        );
        assert_eq!(
            restarted.producer_entry(42),
            None,
            "no snapshot of the old log is reloaded"
        );
    }

    /// The prefix of `bytes` holding the batches below `offset`.
    fn all_bytes_below(bytes: &[u8], offset: i64) -> Vec<u8> {
        let headers = batch::validate_stored_batches(bytes, u32::MAX).unwrap();
        let len: usize = headers
            .iter()
            .take_while(|h| h.base_offset < offset)
            .map(|h| h.total_size())
            .sum();
        bytes[..len].to_vec()
    }

    #[test]
    fn retention_and_the_high_watermark() {
        let dir = tempfile::tempdir().unwrap();
        let one = batch(3, 0).len() as u64;
        let log = open(dir.path(), one, true);
        for _ in 0..4 {
            log.append_as_leader_from(
                &batch(3, 1_000),
                0,
                1_000,
                AppendOrigin::Client,
                TxnVerification::Off,
            )
            .unwrap();
        }
        log.update_config(LogConfig {
            retention_ms: 1,
            ..log.config()
        });
        assert_eq!(
            log.enforce_retention(10_000).unwrap(),
            0,
            "nothing is committed: nothing goes"
        );
        log.maybe_increment_high_watermark(6);
        assert_eq!(
            log.enforce_retention(10_000).unwrap(),
            2,
            "only segments below the high watermark"
        );
        assert_eq!(log.log_start_offset(), 6);
        assert!(
            !log.maybe_increment_high_watermark(5),
            "the high watermark never goes back"
        );
        assert!(log.maybe_increment_high_watermark(99));
        assert_eq!(log.high_watermark(), 12, "capped by the log end");
    }
}
