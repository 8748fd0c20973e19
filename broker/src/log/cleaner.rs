//! `LogCleaner`: log compaction (`cleanup.policy=compact`), Kafka's `LogCleaner`.
//!
//! Dedicated threads (`log.cleaner.threads`) repeatedly pick the compacted log most in need
//! of cleaning and clean it in one pass:
//!
//! 1. **Plan** ([`plan_cleaning`]): the dirty section runs from the cleaner checkpoint
//!    (`cleaner-offset-checkpoint`, per log dir) to the first uncleanable offset — the active
//!    segment's base, the first offset of the earliest ongoing transaction (the log's first
//!    unstable offset: open transactions are never cleaned), or earlier where a segment holds
//!    records younger than `min.compaction.lag.ms`. The log is cleanable when the dirty share
//!    of the bytes below the segment holding that offset reaches `min.cleanable.dirty.ratio`,
//!    when its first dirty batch is older than `max.compaction.lag.ms`, or when a kept
//!    tombstone's or marker's delete horizon has passed.
//! 2. **Offset map**: key → latest offset over the dirty section, bounded by the dedupe
//!    buffer (`log.cleaner.dedupe.buffer.size` / threads); when it fills, the pass stops at
//!    the last whole batch that fitted and the next pass continues from there. Batches of
//!    aborted transactions never enter the map.
//! 3. **Clean**: every non-active segment below the map's end is rewritten, in groups whose
//!    total size fits `segment.bytes`, into `<base>.log.cleaned`. Batches at or after the
//!    map's end (e.g. past an open transaction) are copied untouched. Below it, in offset
//!    order ([`TxnTracker`], Kafka's `CleanedTransactionMetadata`, fed with the aborted
//!    transactions of the `.txnindex` files):
//!    - a batch of an aborted transaction is removed;
//!    - a record survives if its key has no later offset in the map and it is not a
//!      tombstone past its delete horizon (committed transactional records are compacted
//!      like any other);
//!    - a transaction marker stays while batches of its transaction stay, and an ABORT
//!      marker also for the pass that removed its transaction's batches (Kafka's rule); any
//!      other marker is removed once past its delete horizon;
//!    - the last batch of each producer the log still tracks stays, with no records if all
//!      were removed ([`batch::encode_empty`], Kafka's `RETAIN_EMPTY`), as does a marker
//!      that is a producer's last entry, so that rebuilding producer state by replaying the
//!      log still finds every producer's epoch and last sequence; other emptied batches go.
//!
//!    Batches with every record kept are copied byte for byte; partly kept ones are
//!    re-encoded keeping their batch-level fields ([`batch::encode_retained`]). Offsets keep
//!    their gaps. The group's `.txnindex.cleaned` keeps the entries whose ABORT marker
//!    survived. Reads use `log.cleaner.io.buffer.size` / threads bytes.
//! 4. **Swap** ([`Log::replace_segments`]): `.cleaned` → `.swap` → final names for the
//!    `.index`, `.timeindex`, `.txnindex` and `.log` (the `.log` last); recovery completes
//!    or discards an interrupted swap.
//!
//! Appends and reads continue while a log is cleaned: the cleaner reads closed segments
//! through shared file handles and takes the log's locks only for the final swap.
//!
//! Deliberate differences from Kafka: the delete horizon of tombstones and markers is the
//! largest record timestamp of their segment + `delete.retention.ms`, not a horizon stamped
//! into the batch (KIP-534); a COMMIT marker goes in the pass that removes the last batch
//! of its transaction (Kafka waits one more pass; the batches come first in offset order,
//! so a crash or an abandoned group cannot leave batches without their marker); batches of
//! aborted transactions past the map's end are left for a later pass; records decoded and
//! re-encoded by the cleaner lose duplicate header keys (the codec keeps headers in a map).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use kafka_protocol::records::Record;

use super::batch::{self, BatchHeader, ControlRecordType, BATCH_HEADER_BYTES};
use super::log::{remove_cleaned_files, CleaningView, SegmentSnapshot};
use super::producer_state::LastRecord;
use super::segment::{LogSegment, CLEANED_SUFFIX};
use super::txn_index::{txn_index_file, write_cleaned_index, AbortedTxn};
use super::{Log, LogError, LogManager};
use crate::types::{now_ms, TopicPartition};

/// Approximate memory per offset-map entry besides the key bytes (boxed key pointer and
/// length, offset, hash table slot).
const OFFSET_MAP_ENTRY_OVERHEAD_BYTES: u64 = 48;
/// Smallest I/O buffer per thread, whatever the configuration says.
const IO_BUFFER_BYTES_MIN: usize = 4096;

/// Cleaner settings (Kafka's `log.cleaner.*`).
#[derive(Debug, Clone)]
pub(crate) struct CleanerConfig {
    /// `log.cleaner.threads`.
    pub threads: usize,
    /// `log.cleaner.dedupe.buffer.size`: offset-map memory across all threads.
    pub dedupe_buffer_bytes: u64,
    /// `log.cleaner.io.buffer.size`: read/write buffer memory across all threads.
    pub io_buffer_bytes: u64,
    /// `log.cleaner.backoff.ms`: sleep when nothing is cleanable (and after a failure).
    pub backoff_ms: u64,
}

/// What one cleaning pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CleanStats {
    /// Groups of segments replaced by one cleaned segment each.
    pub segment_groups_replaced: usize,
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// Records removed: overwritten, expired tombstones, and aborted transactions' records.
    pub records_removed: u64,
    /// Transaction markers removed.
    pub markers_removed: u64,
    /// The new cleaner checkpoint (first dirty offset of the next pass).
    pub end_offset: i64,
}

/// The cleanable section of a log, as decided by [`plan_cleaning`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CleaningPlan {
    pub first_dirty_offset: i64,
    pub first_uncleanable_offset: i64,
    /// Dirty bytes / all bytes below the first uncleanable offset.
    pub dirty_ratio: f64,
    /// Cleaning is due regardless of the ratio (max lag passed or a delete horizon reached).
    pub forced: bool,
}

impl CleaningPlan {
    fn priority(&self) -> f64 {
        if self.forced {
            f64::INFINITY
        } else {
            self.dirty_ratio
        }
    }
}

/// The log's cleaning view and [`plan_cleaning`]'s decision for it at `now_ms` (its
/// checkpoint and delete horizon as they are now); `None` when there is nothing to clean.
fn plan_cleaning_now(log: &Log, now_ms: i64) -> Option<(CleaningView, CleaningPlan)> {
    let view = log.cleaning_view()?;
    let plan = plan_cleaning(
        &view,
        log.cleaner_checkpoint(),
        log.delete_horizon_ms(),
        now_ms,
    )?;
    Some((view, plan))
}

/// Decides whether (and what of) a log should be cleaned now. Pure.
pub(crate) fn plan_cleaning(
    view: &CleaningView,
    cleaner_checkpoint: i64,
    delete_horizon_ms: i64,
    now_ms: i64,
) -> Option<CleaningPlan> {
    let config = &view.config;
    if !config.cleanup_compact || view.segments.is_empty() {
        return None;
    }
    let mut first_dirty_offset = cleaner_checkpoint.max(view.log_start_offset);
    if cleaner_checkpoint < 0 || cleaner_checkpoint > view.log_end_offset {
        // No checkpoint, or one beyond the log (truncated): everything is dirty.
        first_dirty_offset = view.log_start_offset;
    }
    // First uncleanable: the active segment, the high watermark (uncommitted records may
    // still be truncated), the first unstable offset (open transactions stay as they are),
    // or the first segment holding records younger than min.compaction.lag.ms.
    let mut first_uncleanable_offset = view
        .active_base_offset
        .min(view.high_watermark)
        .min(view.first_unstable_offset.unwrap_or(i64::MAX));
    if config.min_compaction_lag_ms > 0 {
        if let Some(young) = view.segments.iter().find(|s| {
            s.next_offset > first_dirty_offset
                && s.largest_timestamp > now_ms.saturating_sub(config.min_compaction_lag_ms)
        }) {
            first_uncleanable_offset = first_uncleanable_offset.min(young.base_offset);
        }
    }
    first_dirty_offset = first_dirty_offset.min(first_uncleanable_offset);
    // As Kafka, the ratio counts whole segments below the one holding the first uncleanable
    // offset: a pass that stopped inside a segment (at an open transaction) leaves nothing
    // there to count as dirty until that offset moves on.
    let counted_end_offset = view
        .segments
        .iter()
        .find(|s| s.next_offset > first_uncleanable_offset)
        .map_or(first_uncleanable_offset, |s| {
            s.base_offset.min(first_uncleanable_offset)
        });
    let mut clean_bytes = 0u64;
    let mut dirty_bytes = 0u64;
    let mut first_dirty_batch_ms = None;
    for segment in &view.segments {
        if segment.base_offset >= counted_end_offset {
            break;
        }
        if segment.next_offset <= first_dirty_offset {
            clean_bytes += segment.size_bytes;
        } else {
            dirty_bytes += segment.size_bytes;
            if first_dirty_batch_ms.is_none() && segment.size_bytes > 0 {
                first_dirty_batch_ms = segment.first_batch_timestamp;
            }
        }
    }
    let total = clean_bytes + dirty_bytes;
    let dirty_ratio = if total == 0 {
        0.0
    } else {
        dirty_bytes as f64 / total as f64
    };
    let max_lag_passed = dirty_bytes > 0
        && config.max_compaction_lag_ms < i64::MAX
        && first_dirty_batch_ms
            .is_some_and(|t| t < now_ms.saturating_sub(config.max_compaction_lag_ms));
    let deletes_due = delete_horizon_ms <= now_ms && total > 0;
    let ratio_reached = dirty_bytes > 0 && dirty_ratio >= config.min_cleanable_dirty_ratio;
    if !(ratio_reached || max_lag_passed || deletes_due) {
        return None;
    }
    Some(CleaningPlan {
        first_dirty_offset,
        first_uncleanable_offset,
        dirty_ratio,
        forced: max_lag_passed || deletes_due,
    })
}

/// Key → latest offset over the dirty section, with a memory bound.
struct OffsetMap {
    latest: HashMap<Box<[u8]>, i64>,
    bytes_used: u64,
    bytes_max: u64,
}

impl OffsetMap {
    fn get(&self, key: &[u8]) -> Option<i64> {
        self.latest.get(key).copied()
    }
}

/// Reads whole batches of one closed segment through a bounded buffer (`pread`; the buffer
/// grows only to hold a single batch larger than it).
struct BatchReader<'a> {
    /// Held for the whole scan of the segment (one descriptor per cleaner thread).
    file: Arc<File>,
    path: &'a Path,
    size_bytes: u64,
    /// File position of the next batch.
    position: u64,
    buf: Vec<u8>,
    /// File position of `buf[0]`, and how many bytes of `buf` are valid.
    buf_start: u64,
    buf_len: usize,
    io_buffer_bytes: usize,
    /// Range of the current batch inside `buf`.
    current: std::ops::Range<usize>,
}

impl<'a> BatchReader<'a> {
    fn new(segment: &'a SegmentSnapshot, io_buffer_bytes: usize) -> Result<Self, LogError> {
        Ok(Self {
            file: segment.file.get()?,
            path: &segment.path,
            size_bytes: segment.size_bytes,
            position: 0,
            buf: Vec::new(),
            buf_start: 0,
            buf_len: 0,
            io_buffer_bytes,
            current: 0..0,
        })
    }

    /// Makes `[position, position + len)` available in the buffer.
    fn fill(&mut self, len: usize) -> Result<(), LogError> {
        let have_from = self.position.saturating_sub(self.buf_start) as usize;
        if self.position >= self.buf_start && have_from + len <= self.buf_len {
            return Ok(());
        }
        let want = len
            .max(self.io_buffer_bytes)
            .min((self.size_bytes - self.position) as usize)
            .max(len);
        self.buf.resize(want, 0);
        self.file
            .read_exact_at(&mut self.buf[..want], self.position)
            .map_err(|e| LogError::io(self.path, e))?;
        self.buf_start = self.position;
        self.buf_len = want;
        Ok(())
    }

    /// The next batch (validated: shape and CRC), or `None` at the end of the segment.
    fn next_batch(&mut self) -> Result<Option<BatchHeader>, LogError> {
        if self.position + BATCH_HEADER_BYTES as u64 > self.size_bytes {
            return Ok(None);
        }
        self.fill(BATCH_HEADER_BYTES)?;
        let at = (self.position - self.buf_start) as usize;
        let header = BatchHeader::parse(&self.buf[at..self.buf_len])?;
        let size = header.total_size();
        if header.batch_length < batch::BATCH_LENGTH_MIN
            || self.position + size as u64 > self.size_bytes
        {
            return Err(LogError::CorruptRecord(format!(
                "batch at position {} of {} does not fit the segment",
                self.position,
                self.path.display()
            )));
        }
        self.fill(size)?;
        let at = (self.position - self.buf_start) as usize;
        self.current = at..at + size;
        batch::validate_batch(&self.buf[self.current.clone()])?;
        self.position += size as u64;
        Ok(Some(header))
    }

    fn current(&self) -> &[u8] {
        &self.buf[self.current.clone()]
    }
}

fn stopping_error() -> LogError {
    LogError::io(
        "<log cleaner>",
        std::io::Error::new(std::io::ErrorKind::Interrupted, "log cleaner is stopping"),
    )
}

/// What a control batch is, for the cleaner.
enum ControlKind {
    /// A transaction marker (COMMIT or ABORT): ends its producer's transaction.
    TxnMarker,
    /// A control record that cannot be read: kept as is, and it ends its producer's
    /// transaction so that the producer's next transaction is not taken for this one.
    Unreadable,
    /// Another control type (e.g. raft's leader change): kept as is, ends nothing.
    Other,
}

fn control_kind(segment: &SegmentSnapshot, header: &BatchHeader, bytes: &[u8]) -> ControlKind {
    match batch::parse_control_record(bytes) {
        Ok(control) => match control.record_type {
            ControlRecordType::Commit | ControlRecordType::Abort => ControlKind::TxnMarker,
            ControlRecordType::Other(_) => ControlKind::Other,
        },
        Err(e) => {
            tracing::warn!(segment = %segment.path.display(), base_offset = header.base_offset, error = %e, "cannot read control batch; keeping it as is");
            ControlKind::Unreadable
        }
    }
}

/// What batches of one producer's current transaction a pass met.
#[derive(Debug, Default, Clone, Copy)]
struct TxnBatchesMet {
    /// A batch of it was read.
    seen: bool,
    /// A batch of it stays in the cleaned log (possibly without records).
    retained: bool,
}

/// Why a transaction marker must stay (see [`TxnTracker::on_marker`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MarkerNeed {
    /// Batches of its transaction stay: replaying the log must still see the transaction end.
    BatchesRetained,
    /// Its transaction was aborted and this pass removed its batches: kept for one more pass
    /// (Kafka's rule), after which nothing of the transaction is seen any more.
    AbortedBatchesRemoved,
    /// Nothing of its transaction was met: it may go once past its delete horizon.
    Nothing,
}

/// Transactions as a cleaning pass meets them in offset order (Kafka's
/// `CleanedTransactionMetadata`). Fed with the aborted transactions of the range (from the
/// `.txnindex` files); a producer has at most one transaction at a time, so each of its
/// transactional batches belongs to the aborted transaction of that producer that began at
/// or before it and has not met its marker yet, or else to a committed (or still open) one.
#[derive(Debug, Default)]
struct TxnTracker {
    /// Aborted transactions not reached yet, the lowest first offset last (popped first).
    upcoming_aborted: Vec<AbortedTxn>,
    /// Producer id → what was met of its aborted transaction being read.
    ongoing_aborted: HashMap<i64, TxnBatchesMet>,
    /// Producer id → what was met of its other (committed or open) transaction being read.
    ongoing_other: HashMap<i64, TxnBatchesMet>,
}

impl TxnTracker {
    fn new(mut aborted: Vec<AbortedTxn>) -> Self {
        aborted.sort_by_key(|txn| std::cmp::Reverse(txn.first_offset));
        Self {
            upcoming_aborted: aborted,
            ..Self::default()
        }
    }

    /// Starts tracking the aborted transactions that began at or before `offset`.
    fn reach(&mut self, offset: i64) {
        // Bounded by the number of aborted transactions.
        while let Some(txn) = self
            .upcoming_aborted
            .pop_if(|txn| txn.first_offset <= offset)
        {
            self.ongoing_aborted.entry(txn.producer_id).or_default();
        }
    }

    /// A data batch, read in offset order: `true` when it belongs to an aborted transaction.
    fn on_data_batch(&mut self, header: &BatchHeader) -> bool {
        self.reach(header.last_offset());
        if !header.is_transactional() {
            return false;
        }
        if let Some(met) = self.ongoing_aborted.get_mut(&header.producer_id) {
            met.seen = true;
            return true;
        }
        self.ongoing_other
            .entry(header.producer_id)
            .or_default()
            .seen = true;
        false
    }

    /// The data batch just passed to [`Self::on_data_batch`] stays in the cleaned log.
    fn on_batch_retained(&mut self, header: &BatchHeader) {
        if !header.is_transactional() {
            return;
        }
        let met = match self.ongoing_aborted.get_mut(&header.producer_id) {
            Some(met) => met,
            None => self.ongoing_other.entry(header.producer_id).or_default(),
        };
        met.retained = true;
    }

    /// A transaction marker, read in offset order: ends its producer's transaction and says
    /// whether the marker is still needed. Whatever its type (COMMIT or ABORT), a marker
    /// stays while any batch of the transaction it ends stays.
    fn on_marker(&mut self, header: &BatchHeader) -> MarkerNeed {
        self.reach(header.last_offset());
        let aborted = self
            .ongoing_aborted
            .remove(&header.producer_id)
            .unwrap_or_default();
        let other = self
            .ongoing_other
            .remove(&header.producer_id)
            .unwrap_or_default();
        if aborted.retained || other.retained {
            MarkerNeed::BatchesRetained
        } else if aborted.seen {
            MarkerNeed::AbortedBatchesRemoved
        } else {
            MarkerNeed::Nothing
        }
    }
}

/// Builds the offset map over `[first_dirty, first_uncleanable)`, leaving out batches of the
/// aborted transactions `aborted`. Returns the map and the offset it covers up to
/// (exclusive).
fn build_offset_map(
    view: &CleaningView,
    plan: &CleaningPlan,
    aborted: Vec<AbortedTxn>,
    dedupe_buffer_bytes: u64,
    io_buffer_bytes: usize,
    stop: &AtomicBool,
    stats: &mut CleanStats,
) -> Result<(OffsetMap, i64), LogError> {
    let mut map = OffsetMap {
        latest: HashMap::new(),
        bytes_used: 0,
        bytes_max: dedupe_buffer_bytes,
    };
    let mut txns = TxnTracker::new(aborted);
    let mut end_offset = plan.first_dirty_offset;
    for segment in &view.segments {
        if segment.next_offset <= plan.first_dirty_offset {
            continue;
        }
        if segment.base_offset >= plan.first_uncleanable_offset {
            break;
        }
        let mut reader = BatchReader::new(segment, io_buffer_bytes)?;
        // Bounded: each call consumes one batch of the segment.
        while let Some(header) = reader.next_batch()? {
            if stop.load(Ordering::Acquire) {
                return Err(stopping_error());
            }
            stats.bytes_read += header.total_size() as u64;
            if header.last_offset() < plan.first_dirty_offset {
                continue;
            }
            if header.base_offset >= plan.first_uncleanable_offset {
                break;
            }
            if header.is_control() {
                match control_kind(segment, &header, reader.current()) {
                    ControlKind::TxnMarker | ControlKind::Unreadable => {
                        txns.on_marker(&header);
                    }
                    ControlKind::Other => {}
                }
            } else if !txns.on_data_batch(&header) {
                let records = match batch::decode_records(reader.current()) {
                    Ok(records) => records,
                    Err(e) => {
                        tracing::warn!(segment = %segment.path.display(), base_offset = header.base_offset, error = %e, "cannot decode batch; its keys are not deduplicated");
                        Vec::new()
                    }
                };
                let new_bytes: u64 = records
                    .iter()
                    .filter_map(|r| r.key.as_ref())
                    .filter(|k| !map.latest.contains_key(k.as_ref()))
                    .map(|k| k.len() as u64 + OFFSET_MAP_ENTRY_OVERHEAD_BYTES)
                    .sum();
                if map.bytes_used + new_bytes > map.bytes_max {
                    if map.latest.is_empty() {
                        return Err(LogError::InvalidRecord(format!(
                            "log.cleaner.dedupe.buffer.size ({} bytes per thread) cannot hold the keys of one batch",
                            map.bytes_max
                        )));
                    }
                    tracing::info!(segment = %segment.path.display(), end_offset, keys = map.latest.len(), "offset map full; cleaning up to here this pass");
                    return Ok((map, end_offset));
                }
                for record in &records {
                    if let Some(key) = &record.key {
                        let slot = map.latest.entry(key.to_vec().into_boxed_slice());
                        let offset = slot.or_insert(record.offset);
                        *offset = (*offset).max(record.offset);
                    }
                }
                map.bytes_used += new_bytes;
            }
            end_offset = header.next_offset();
        }
    }
    Ok((map, end_offset.max(plan.first_uncleanable_offset)))
}

/// Segments from the start, split into groups whose total size fits `segment.bytes` and
/// whose offsets fit one segment's 32-bit relative offsets.
fn group_segments(segments: &[SegmentSnapshot], segment_bytes: u64) -> Vec<Vec<SegmentSnapshot>> {
    let mut groups: Vec<Vec<SegmentSnapshot>> = Vec::new();
    let mut current: Vec<SegmentSnapshot> = Vec::new();
    let mut current_bytes = 0u64;
    for segment in segments {
        let fits = current.first().is_none_or(|first| {
            current_bytes + segment.size_bytes <= segment_bytes
                && segment.next_offset - first.base_offset < i64::from(u32::MAX)
        });
        if !fits {
            groups.push(std::mem::take(&mut current));
            current_bytes = 0;
        }
        current_bytes += segment.size_bytes;
        current.push(segment.clone());
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

/// What becomes of one batch in the cleaned segment.
enum BatchFate {
    /// Copied byte for byte.
    Whole,
    /// Re-encoded with these records ([`batch::encode_retained`]).
    Records(Vec<Record>),
    /// Kept without records ([`batch::encode_empty`]): a producer's last batch.
    Empty,
    Dropped,
}

/// One cleaning pass after its offset map is built: rewrites the segment groups in offset
/// order, carrying transaction state from one group to the next (Kafka's `Cleaner` state
/// across `cleanSegments` calls).
struct CleaningPass<'a> {
    log: &'a Log,
    view: &'a CleaningView,
    map: &'a OffsetMap,
    /// Batches from here on (the map's end) are copied untouched.
    end_offset: i64,
    now_ms: i64,
    io_buffer_bytes: usize,
    stop: &'a AtomicBool,
    /// What each producer the log tracks wrote last (those batches stay).
    last_records: HashMap<i64, LastRecord>,
    txns: TxnTracker,
    stats: CleanStats,
    /// Earliest time a tombstone or marker kept by this pass may go (`i64::MAX`: none).
    delete_horizon_ms: i64,
}

impl<'a> CleaningPass<'a> {
    /// A pass over `view` with `map` covering up to `end_offset`: tracks the aborted
    /// transactions from the first segment to `end_offset` and the log's producers as they
    /// are now.
    fn new(
        log: &'a Log,
        view: &'a CleaningView,
        map: &'a OffsetMap,
        end_offset: i64,
        now_ms: i64,
        io_buffer_bytes: usize,
        stop: &'a AtomicBool,
    ) -> Self {
        let start_offset = view.segments.first().map_or(end_offset, |s| s.base_offset);
        Self {
            log,
            view,
            map,
            end_offset,
            now_ms,
            io_buffer_bytes,
            stop,
            last_records: log.last_records_of_producers(),
            txns: TxnTracker::new(log.collect_aborted_transactions(start_offset, end_offset)),
            stats: CleanStats::default(),
            delete_horizon_ms: i64::MAX,
        }
    }

    /// Writes the cleaned version of `group` as `<base>.*.cleaned` (log, indexes and
    /// `.txnindex`). Returns the aborted-transaction entries of the cleaned segment.
    fn write_cleaned_group(
        &mut self,
        group: &[SegmentSnapshot],
    ) -> Result<Vec<AbortedTxn>, LogError> {
        let config = &self.view.config;
        let base_offset = group.first().map(|s| s.base_offset).unwrap_or(0);
        let mut cleaned = LogSegment::create_with_suffix(
            self.log.file_cache(),
            self.log.dir(),
            base_offset,
            config,
            self.now_ms,
            CLEANED_SUFFIX,
        )?;
        let mut out: Vec<u8> = Vec::with_capacity(self.io_buffer_bytes);
        let mut out_headers: Vec<BatchHeader> = Vec::new();
        let mut kept_markers: HashSet<i64> = HashSet::new();
        for segment in group {
            // Tombstones and markers of this segment may go once this has passed.
            let segment_horizon_ms = segment
                .largest_timestamp
                .saturating_add(config.delete_retention_ms);
            let mut reader = BatchReader::new(segment, self.io_buffer_bytes)?;
            // Bounded: each call consumes one batch of the segment.
            while let Some(header) = reader.next_batch()? {
                if self.stop.load(Ordering::Acquire) {
                    return Err(stopping_error());
                }
                self.stats.bytes_read += header.total_size() as u64;
                let fate = if header.base_offset >= self.end_offset {
                    BatchFate::Whole
                } else if header.is_control() {
                    self.control_batch_fate(segment, &header, reader.current(), segment_horizon_ms)
                } else {
                    self.data_batch_fate(segment, &header, reader.current(), segment_horizon_ms)?
                };
                let bytes = match fate {
                    BatchFate::Whole => reader.current().to_vec(),
                    BatchFate::Records(records) => batch::encode_retained(&header, &records)?,
                    BatchFate::Empty => batch::encode_empty(&header),
                    BatchFate::Dropped => continue,
                };
                if header.is_control() {
                    kept_markers.insert(header.base_offset);
                }
                out_headers.push(BatchHeader::parse(&bytes)?);
                out.extend_from_slice(&bytes);
                if out.len() >= self.io_buffer_bytes {
                    cleaned.append(&out, &out_headers)?;
                    self.stats.bytes_written += out.len() as u64;
                    out.clear();
                    out_headers.clear();
                }
            }
        }
        if !out.is_empty() {
            cleaned.append(&out, &out_headers)?;
            self.stats.bytes_written += out.len() as u64;
        }
        cleaned.flush()?;
        let bases: Vec<i64> = group.iter().map(|s| s.base_offset).collect();
        let aborted: Vec<AbortedTxn> = self
            .log
            .aborted_txns_of_segments(&bases)
            .into_iter()
            .filter(|txn| kept_markers.contains(&txn.last_offset))
            .collect();
        let index_path = PathBuf::from(format!(
            "{}{CLEANED_SUFFIX}",
            txn_index_file(self.log.dir(), base_offset).display()
        ));
        write_cleaned_index(&index_path, &aborted)?;
        Ok(aborted)
    }

    fn note_delete_horizon(&mut self, segment_horizon_ms: i64) {
        self.delete_horizon_ms = self
            .delete_horizon_ms
            .min(segment_horizon_ms.saturating_add(1));
    }

    fn control_batch_fate(
        &mut self,
        segment: &SegmentSnapshot,
        header: &BatchHeader,
        bytes: &[u8],
        segment_horizon_ms: i64,
    ) -> BatchFate {
        match control_kind(segment, header, bytes) {
            ControlKind::TxnMarker => {}
            ControlKind::Unreadable => {
                self.txns.on_marker(header);
                return BatchFate::Whole;
            }
            ControlKind::Other => return BatchFate::Whole,
        }
        let need = self.txns.on_marker(header);
        // Kafka keeps a marker that is its producer's last entry: it carries the epoch.
        let last_of_producer = self.last_records.get(&header.producer_id).is_some_and(|l| {
            l.last_data_offset.is_none() && l.producer_epoch == header.producer_epoch
        });
        match need {
            MarkerNeed::BatchesRetained => BatchFate::Whole,
            _ if last_of_producer => BatchFate::Whole,
            MarkerNeed::AbortedBatchesRemoved => {
                // The next pass finds nothing of the transaction: let it come when due.
                self.note_delete_horizon(segment_horizon_ms);
                BatchFate::Whole
            }
            MarkerNeed::Nothing if segment_horizon_ms < self.now_ms => {
                self.stats.markers_removed += 1;
                BatchFate::Dropped
            }
            MarkerNeed::Nothing => {
                self.note_delete_horizon(segment_horizon_ms);
                BatchFate::Whole
            }
        }
    }

    fn data_batch_fate(
        &mut self,
        segment: &SegmentSnapshot,
        header: &BatchHeader,
        bytes: &[u8],
        segment_horizon_ms: i64,
    ) -> Result<BatchFate, LogError> {
        let fate = if self.txns.on_data_batch(header) {
            self.stats.records_removed += u64::try_from(header.record_count).unwrap_or(0);
            BatchFate::Dropped
        } else {
            match batch::decode_records(bytes) {
                Err(e) => {
                    tracing::warn!(segment = %segment.path.display(), base_offset = header.base_offset, error = %e, "cannot decode batch; keeping it as is");
                    BatchFate::Whole
                }
                Ok(records) => self.retain_records(records, segment_horizon_ms),
            }
        };
        let last_of_producer = header.producer_id >= 0
            && self
                .last_records
                .get(&header.producer_id)
                .is_some_and(|l| l.last_data_offset == Some(header.last_offset()));
        let fate = match fate {
            BatchFate::Dropped if last_of_producer => BatchFate::Empty,
            fate => fate,
        };
        if !matches!(fate, BatchFate::Dropped) {
            self.txns.on_batch_retained(header);
        }
        Ok(fate)
    }

    /// The records of a (not aborted) data batch that survive: the latest of their key, and
    /// not a tombstone past its delete horizon.
    fn retain_records(&mut self, records: Vec<Record>, segment_horizon_ms: i64) -> BatchFate {
        let deletes_expired = segment_horizon_ms < self.now_ms;
        let total = records.len();
        let retained: Vec<Record> = records
            .into_iter()
            .filter(|r| {
                let Some(key) = &r.key else {
                    return false;
                };
                let latest = self.map.get(key).is_none_or(|o| r.offset >= o);
                latest && !(r.value.is_none() && deletes_expired)
            })
            .collect();
        if retained.iter().any(|r| r.value.is_none()) {
            self.note_delete_horizon(segment_horizon_ms);
        }
        self.stats.records_removed += (total - retained.len()) as u64;
        if retained.is_empty() {
            BatchFate::Dropped
        } else if retained.len() == total {
            BatchFate::Whole
        } else {
            BatchFate::Records(retained)
        }
    }
}

/// One cleaning pass over `log` if it needs one. `Ok(None)` when nothing is due.
pub(crate) fn clean_log(
    log: &Log,
    now_ms: i64,
    dedupe_buffer_bytes: u64,
    io_buffer_bytes: usize,
    stop: &AtomicBool,
) -> Result<Option<CleanStats>, LogError> {
    let Some((view, plan)) = plan_cleaning_now(log, now_ms) else {
        return Ok(None);
    };
    let io_buffer_bytes = io_buffer_bytes.max(IO_BUFFER_BYTES_MIN);
    let mut stats = CleanStats::default();
    let (map, end_offset) = build_offset_map(
        &view,
        &plan,
        log.collect_aborted_transactions(plan.first_dirty_offset, plan.first_uncleanable_offset),
        dedupe_buffer_bytes,
        io_buffer_bytes,
        stop,
        &mut stats,
    )?;
    let end_offset = end_offset.min(plan.first_uncleanable_offset);
    let to_clean: Vec<SegmentSnapshot> = view
        .segments
        .iter()
        .filter(|s| s.base_offset < end_offset.max(plan.first_dirty_offset))
        .cloned()
        .collect();
    let mut pass = CleaningPass::new(log, &view, &map, end_offset, now_ms, io_buffer_bytes, stop);
    pass.stats = stats;
    for group in group_segments(&to_clean, view.config.segment_bytes) {
        let base_offset = group.first().map(|s| s.base_offset).unwrap_or(0);
        remove_cleaned_files(log.dir(), base_offset);
        let aborted = match pass.write_cleaned_group(&group) {
            Ok(aborted) => aborted,
            Err(e) => {
                remove_cleaned_files(log.dir(), base_offset);
                return Err(e);
            }
        };
        if !log.replace_segments(&group, view.truncations, aborted)? {
            return Ok(Some(pass.stats));
        }
        pass.stats.segment_groups_replaced += 1;
    }
    let mut stats = pass.stats;
    stats.end_offset = end_offset;
    log.set_cleaner_checkpoint(end_offset);
    log.set_delete_horizon_ms(pass.delete_horizon_ms);
    tracing::info!(
        dir = %log.dir().display(),
        first_dirty_offset = plan.first_dirty_offset,
        end_offset,
        dirty_ratio = plan.dirty_ratio,
        keys = map.latest.len(),
        segment_groups = stats.segment_groups_replaced,
        bytes_read = stats.bytes_read,
        bytes_written = stats.bytes_written,
        records_removed = stats.records_removed,
        markers_removed = stats.markers_removed,
        "log cleaned"
    );
    Ok(Some(stats))
}

struct Shared {
    manager: Arc<LogManager>,
    config: CleanerConfig,
    stopping: AtomicBool,
    /// Paired with `wake` for bounded back-off sleeps that shutdown interrupts.
    sleep_lock: Mutex<()>,
    wake: Condvar,
    in_progress: Mutex<HashSet<TopicPartition>>,
    /// Logs whose last cleaning failed are retried after `backoff_ms`.
    retry_at_ms: Mutex<HashMap<TopicPartition, i64>>,
}

/// The background cleaner threads.
pub(crate) struct LogCleaner {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl LogCleaner {
    /// Starts `config.threads` cleaner threads (at least one).
    pub(crate) fn start(
        manager: Arc<LogManager>,
        config: CleanerConfig,
    ) -> Result<LogCleaner, LogError> {
        let thread_count = config.threads.max(1);
        let shared = Arc::new(Shared {
            manager,
            config,
            stopping: AtomicBool::new(false),
            sleep_lock: Mutex::new(()),
            wake: Condvar::new(),
            in_progress: Mutex::new(HashSet::new()),
            retry_at_ms: Mutex::new(HashMap::new()),
        });
        let mut threads = Vec::with_capacity(thread_count);
        for index in 0..thread_count {
            let shared = Arc::clone(&shared);
            let handle = std::thread::Builder::new()
                .name(format!("log-cleaner-{index}"))
                .spawn(move || run_cleaner_thread(&shared, thread_count))
                .map_err(|e| LogError::io("<log cleaner thread>", e))?;
            threads.push(handle);
        }
        tracing::info!(threads = thread_count, "log cleaner started");
        Ok(LogCleaner { shared, threads })
    }

    /// Stops the threads (an in-flight cleaning is abandoned at the next batch and its
    /// `.cleaned` files removed) and waits for them. Blocking.
    pub(crate) fn shutdown(self) {
        self.shared.stopping.store(true, Ordering::Release);
        {
            let _guard = lock(&self.shared.sleep_lock);
            self.shared.wake.notify_all();
        }
        for handle in self.threads {
            if handle.join().is_err() {
                tracing::error!("log cleaner thread panicked");
            }
        }
        tracing::info!("log cleaner stopped");
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The compacted log with the highest cleaning priority that no other thread is cleaning.
fn pick_log(shared: &Shared, now_ms: i64) -> Option<(TopicPartition, Arc<Log>)> {
    let mut in_progress = lock(&shared.in_progress);
    let retry_at = lock(&shared.retry_at_ms);
    let mut best: Option<(f64, TopicPartition, Arc<Log>)> = None;
    for (tp, log) in shared.manager.all() {
        if in_progress.contains(&tp) || retry_at.get(&tp).is_some_and(|t| *t > now_ms) {
            continue;
        }
        let Some((_, plan)) = plan_cleaning_now(&log, now_ms) else {
            continue;
        };
        if best.as_ref().is_none_or(|b| plan.priority() > b.0) {
            best = Some((plan.priority(), tp, log));
        }
    }
    let (_, tp, log) = best?;
    in_progress.insert(tp.clone());
    Some((tp, log))
}

fn run_cleaner_thread(shared: &Shared, thread_count: usize) {
    let per_thread = |total: u64| total / thread_count as u64;
    let dedupe_buffer_bytes = per_thread(shared.config.dedupe_buffer_bytes);
    let io_buffer_bytes = usize::try_from(per_thread(shared.config.io_buffer_bytes) / 2)
        .unwrap_or(usize::MAX)
        .max(IO_BUFFER_BYTES_MIN);
    let backoff = Duration::from_millis(shared.config.backoff_ms.max(1));
    // Bounded: exits when `stopping` is set; each iteration cleans one log or sleeps.
    while !shared.stopping.load(Ordering::Acquire) {
        let now = now_ms();
        let Some((tp, log)) = pick_log(shared, now) else {
            let guard = lock(&shared.sleep_lock);
            if !shared.stopping.load(Ordering::Acquire) {
                let _ = shared.wake.wait_timeout(guard, backoff);
            }
            continue;
        };
        let result = clean_log(
            &log,
            now,
            dedupe_buffer_bytes,
            io_buffer_bytes,
            &shared.stopping,
        );
        match result {
            Ok(Some(_)) => {
                lock(&shared.retry_at_ms).remove(&tp);
                if let Err(e) = shared.manager.write_cleaner_checkpoints() {
                    tracing::warn!(error = %e, "writing cleaner-offset-checkpoint failed");
                }
            }
            Ok(None) => {}
            Err(e) if shared.stopping.load(Ordering::Acquire) => {
                tracing::info!(partition = %tp, reason = %e, "cleaning abandoned at shutdown");
            }
            Err(e) => {
                tracing::warn!(partition = %tp, error = %e, "cleaning failed; retrying after log.cleaner.backoff.ms");
                lock(&shared.retry_at_ms).insert(tp.clone(), now + backoff.as_millis() as i64);
            }
        }
        lock(&shared.in_progress).remove(&tp);
    }
}

#[cfg(test)]
mod tests {
    use super::super::batch::test_support::keyed_batch;
    use super::super::file_cache::FileCache;
    use super::super::LogConfig;
    use super::*;
    use std::collections::BTreeMap;

    /// The files of a log dir, asserting that no `.swap`/`.cleaned` file is left.
    fn file_names_without_swap_leftovers(path: &Path) -> Vec<String> {
        let names: Vec<String> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(
            !names
                .iter()
                .any(|n| n.ends_with(".swap") || n.ends_with(".cleaned")),
            "no leftovers: {names:?}"
        );
        names
    }

    fn compact_config(segment_bytes: u64) -> LogConfig {
        LogConfig {
            segment_bytes,
            index_interval_bytes: 128,
            cleanup_compact: true,
            cleanup_delete: false,
            min_cleanable_dirty_ratio: 0.01,
            delete_retention_ms: 1_000,
            ..LogConfig::default()
        }
    }

    /// Every batch of the log (control batches too): header and stored bytes.
    fn read_batches(log: &Log) -> Vec<(BatchHeader, Vec<u8>)> {
        let mut out = Vec::new();
        let mut offset = log.log_start_offset();
        // Bounded by the LEO: every read returns at least one batch or we stop.
        while offset < log.log_end_offset() {
            let data = log.read(offset, 1 << 20, i64::MAX, true).unwrap().records;
            if data.is_empty() {
                break;
            }
            let headers = batch::validate_stored_batches(&data, u32::MAX).unwrap();
            let mut position = 0;
            for h in &headers {
                out.push((*h, data[position..position + h.total_size()].to_vec()));
                position += h.total_size();
            }
            offset = headers.last().unwrap().next_offset();
        }
        out
    }

    /// Every data record readable from the log: offset → (key, value).
    fn read_all(log: &Log) -> BTreeMap<i64, (String, Option<String>)> {
        let mut out = BTreeMap::new();
        for (header, bytes) in read_batches(log) {
            if header.is_control() {
                continue;
            }
            for r in batch::decode_records(&bytes).unwrap() {
                let key = String::from_utf8(r.key.unwrap().to_vec()).unwrap();
                let value = r.value.map(|v| String::from_utf8(v.to_vec()).unwrap());
                out.insert(r.offset, (key, value));
            }
        }
        out
    }

    fn latest_per_key(
        all: &BTreeMap<i64, (String, Option<String>)>,
    ) -> BTreeMap<String, (i64, Option<String>)> {
        let mut latest = BTreeMap::new();
        for (offset, (key, value)) in all {
            latest.insert(key.clone(), (*offset, value.clone()));
        }
        latest
    }

    fn produce(log: &Log, entries: &[(Option<&str>, Option<&str>)], ts: i64) {
        log.append_as_leader(&keyed_batch(entries, ts), 0, ts)
            .unwrap();
    }

    fn never_stop() -> AtomicBool {
        AtomicBool::new(false)
    }

    #[test]
    fn cleaning_keeps_exactly_the_latest_record_per_key_with_offset_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(
            dir.path().join("t-0"),
            compact_config(600),
            0,
            0,
            true,
            FileCache::new(64),
        )
        .unwrap();
        let now = crate::types::now_ms();
        for round in 0..20 {
            let values: Vec<String> = (0..5).map(|k| format!("v{round}-{k}")).collect();
            let keys = ["k0", "k1", "k2", "k3", "k4"];
            let entries: Vec<(Option<&str>, Option<&str>)> = keys
                .iter()
                .zip(&values)
                .map(|(k, v)| (Some(*k), Some(v.as_str())))
                .collect();
            produce(&log, &entries[..(round % 5) + 1], now);
        }
        let before = read_all(&log);
        let size_before = log.size_bytes();
        let expected = latest_per_key(&before);
        let segments_before = log.segment_count();
        assert!(segments_before > 3, "small segments must roll");

        let stats = clean_log(&log, now, 1 << 20, 4096, &never_stop())
            .unwrap()
            .expect("a dirty log is cleaned");
        assert!(
            stats.records_removed > 0 && stats.segment_groups_replaced > 0,
            "{stats:?}"
        );
        assert_eq!(log.cleaner_checkpoint(), stats.end_offset);
        let after = read_all(&log);
        // Everything in the active segment stays; below it only the latest per key (of the
        // records below it: the active segment is never part of the offset map).
        let active_base = log.cleaning_view().unwrap().active_base_offset;
        let cleanable: BTreeMap<_, _> = before
            .iter()
            .filter(|(o, _)| **o < active_base)
            .map(|(o, kv)| (*o, kv.clone()))
            .collect();
        let expected_cleanable = latest_per_key(&cleanable);
        for (offset, (key, _)) in &after {
            if *offset < active_base {
                assert_eq!(
                    expected_cleanable[key].0, *offset,
                    "offset {offset} of key {key} is not the latest but survived"
                );
            }
        }
        assert_eq!(
            after.keys().filter(|o| **o < active_base).count(),
            expected_cleanable.len(),
            "one record per key below the active segment"
        );
        assert_eq!(
            latest_per_key(&after),
            expected,
            "a full read returns the latest value per key"
        );
        assert!(log.size_bytes() < size_before, "the log shrinks");
        assert!(
            after.keys().all(|o| before.contains_key(o)),
            "offsets are never renumbered"
        );
        assert!(
            clean_log(&log, now, 1 << 20, 4096, &never_stop())
                .unwrap()
                .is_none(),
            "nothing is dirty right after a cleaning"
        );
        // Appends continue at the same LEO, and reopening finds the same data.
        let leo = log.log_end_offset();
        produce(&log, &[(Some("k9"), Some("new"))], now);
        assert_eq!(log.log_end_offset(), leo + 1);
        let reread = read_all(&log);
        drop(log);
        let log = Log::open(
            dir.path().join("t-0"),
            compact_config(600),
            0,
            0,
            false,
            FileCache::new(64),
        )
        .unwrap();
        assert_eq!(
            read_all(&log),
            reread,
            "cleaned segments survive an unclean reopen"
        );
    }

    #[test]
    fn tombstones_are_kept_until_delete_retention_then_removed() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(
            dir.path().join("t-0"),
            compact_config(300),
            0,
            0,
            true,
            FileCache::new(64),
        )
        .unwrap();
        let t0 = 1_000_000;
        produce(&log, &[(Some("a"), Some("1")), (Some("b"), Some("1"))], t0);
        produce(&log, &[(Some("a"), None)], t0);
        for i in 0..6 {
            produce(&log, &[(Some("c"), Some(&*format!("{i}")))], t0);
        }
        clean_log(&log, t0 + 10, 1 << 20, 4096, &never_stop())
            .unwrap()
            .expect("dirty");
        let latest = latest_per_key(&read_all(&log));
        assert_eq!(
            latest["a"].1, None,
            "the tombstone is readable before delete.retention.ms"
        );
        assert!(
            log.delete_horizon_ms() < i64::MAX,
            "a kept tombstone sets a horizon"
        );
        assert!(
            clean_log(&log, t0 + 10, 1 << 20, 4096, &never_stop())
                .unwrap()
                .is_none(),
            "not due before the horizon"
        );
        let later = t0 + 5_000;
        clean_log(&log, later, 1 << 20, 4096, &never_stop())
            .unwrap()
            .expect("the horizon makes the log cleanable");
        let latest = latest_per_key(&read_all(&log));
        assert!(
            !latest.contains_key("a"),
            "tombstoned key is gone after delete.retention.ms: {latest:?}"
        );
        assert_eq!(latest["b"].1.as_deref(), Some("1"));
    }

    #[test]
    fn dirty_ratio_and_compaction_lags_gate_cleaning() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            min_cleanable_dirty_ratio: 0.99,
            ..compact_config(300)
        };
        let log = Log::open(
            dir.path().join("t-0"),
            config.clone(),
            0,
            0,
            true,
            FileCache::new(64),
        )
        .unwrap();
        let t0 = 1_000_000;
        for i in 0..8 {
            produce(&log, &[(Some("k"), Some(&*format!("{i}")))], t0);
        }
        clean_log(&log, t0, 1 << 20, 4096, &never_stop())
            .unwrap()
            .expect("all dirty: ratio 1.0");
        produce(&log, &[(Some("k"), Some("x"))], t0);
        for i in 0..3 {
            produce(&log, &[(Some("j"), Some(&*format!("{i}")))], t0);
        }
        assert!(
            clean_log(&log, t0, 1 << 20, 4096, &never_stop())
                .unwrap()
                .is_none(),
            "below min.cleanable.dirty.ratio"
        );
        log.update_config(LogConfig {
            max_compaction_lag_ms: 100,
            ..config.clone()
        });
        assert!(
            clean_log(&log, t0 + 1_000, 1 << 20, 4096, &never_stop())
                .unwrap()
                .is_some(),
            "max.compaction.lag.ms forces cleaning"
        );
        produce(&log, &[(Some("k"), Some("y"))], t0 + 2_000);
        for i in 0..3 {
            produce(&log, &[(Some("j"), Some(&*format!("{i}")))], t0 + 2_000);
        }
        log.update_config(LogConfig {
            min_cleanable_dirty_ratio: 0.0,
            min_compaction_lag_ms: 10_000,
            ..config
        });
        assert!(
            clean_log(&log, t0 + 3_000, 1 << 20, 4096, &never_stop())
                .unwrap()
                .is_none(),
            "records younger than min.compaction.lag.ms are not cleanable"
        );
    }

    #[test]
    fn full_offset_map_cleans_in_several_passes() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(
            dir.path().join("t-0"),
            compact_config(400),
            0,
            0,
            true,
            FileCache::new(64),
        )
        .unwrap();
        let now = 1_000_000;
        for i in 0..40 {
            produce(&log, &[(Some(&*format!("key-{}", i % 20)), Some("v"))], now);
        }
        let expected = latest_per_key(&read_all(&log));
        // Room for about 5 keys per pass.
        let mut passes = 0;
        while clean_log(&log, now, 5 * 60, 4096, &never_stop())
            .unwrap()
            .is_some()
        {
            passes += 1;
            assert!(passes < 50, "cleaning must converge");
        }
        assert!(
            passes > 1,
            "a small dedupe buffer needs several passes, got {passes}"
        );
        assert_eq!(latest_per_key(&read_all(&log)), expected);
    }

    #[test]
    fn stopping_mid_clean_leaves_the_log_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(
            dir.path().join("t-0"),
            compact_config(300),
            0,
            0,
            true,
            FileCache::new(64),
        )
        .unwrap();
        for i in 0..10 {
            produce(&log, &[(Some("k"), Some(&*format!("{i}")))], 1_000);
        }
        let before = read_all(&log);
        let stop = AtomicBool::new(true);
        assert!(clean_log(&log, 2_000, 1 << 20, 4096, &stop).is_err());
        assert_eq!(read_all(&log), before);
        let leftovers: Vec<_> = std::fs::read_dir(log.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".cleaned"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "aborted cleaning removes its files: {leftovers:?}"
        );
    }

    /// A crash after `.cleaned` → `.swap` but before the old segments are gone: reopening
    /// completes the swap. A crash while writing `.cleaned`: reopening discards it.
    #[test]
    fn recovery_completes_a_swap_and_discards_cleaned_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t-0");
        let config = compact_config(300);
        let log = Log::open(path.clone(), config.clone(), 0, 0, true, FileCache::new(64)).unwrap();
        for i in 0..10 {
            produce(
                &log,
                &[
                    (Some("k"), Some(&*format!("{i}"))),
                    (Some("j"), Some("same")),
                ],
                1_000,
            );
        }
        let expected = latest_per_key(&read_all(&log));
        // Make the cleaned files exactly as the cleaner would, then stop before the swap.
        let view = log.cleaning_view().unwrap();
        let plan = plan_cleaning(&view, -1, i64::MAX, 2_000).unwrap();
        let mut stats = CleanStats::default();
        let stop = never_stop();
        let (map, end_offset) =
            build_offset_map(&view, &plan, Vec::new(), 1 << 20, 4096, &stop, &mut stats).unwrap();
        let group = group_segments(&view.segments, u64::MAX).remove(0);
        CleaningPass::new(&log, &view, &map, end_offset, 2_000, 4096, &stop)
            .write_cleaned_group(&group)
            .unwrap();
        // What a completed swap leaves: below the active segment only the latest record per
        // key; which differs from the uncleaned log, so a discarded swap cannot pass.
        let before = read_all(&log);
        let cleaned: BTreeMap<i64, (String, Option<String>)> = before
            .iter()
            .filter(|(o, (key, _))| {
                **o >= view.active_base_offset || map.get(key.as_bytes()) == Some(**o)
            })
            .map(|(o, r)| (*o, r.clone()))
            .collect();
        assert!(
            cleaned.len() < before.len(),
            "the cleaning must remove records for this test to tell a completed swap from a \
             discarded one"
        );
        drop(log);
        let base = group[0].base_offset;
        let name = |suffix: &str, extra: &str| path.join(format!("{base:020}{suffix}{extra}"));
        for suffix in [".index", ".timeindex", ".txnindex", ".log"] {
            std::fs::rename(name(suffix, ".cleaned"), name(suffix, ".swap")).unwrap();
        }
        // A second, half-written cleaned file must simply disappear.
        std::fs::write(path.join("00000000000000000003.log.cleaned"), b"partial").unwrap();
        let log = Log::open(
            path.clone(),
            config.clone(),
            0,
            0,
            false,
            FileCache::new(64),
        )
        .unwrap();
        let after = read_all(&log);
        assert_eq!(
            after, cleaned,
            "recovery must complete the swap: exactly the cleaned records (not the uncleaned \
             ones) below the active segment"
        );
        assert_eq!(
            latest_per_key(&after),
            expected,
            "the swapped-in log is complete"
        );
        file_names_without_swap_leftovers(&path);
        assert_eq!(
            log.segment_count(),
            view.segments.len() - group.len() + 2,
            "the group became one segment (plus the active one)"
        );
    }

    // ---------------------------------------------------------------- transactions

    use super::super::batch::test_support::{keyed_batch_with, txn_keyed_batch};
    use kafka_protocol::records::Compression;

    const T0: i64 = 1_000_000;

    fn txn_produce(
        log: &Log,
        producer: (i64, i16, i32),
        entries: &[(Option<&str>, Option<&str>)],
    ) -> i64 {
        log.append_as_leader(&txn_keyed_batch(entries, T0, producer), 0, T0)
            .unwrap()
            .base_offset
    }

    fn end_txn(log: &Log, producer_id: i64, producer_epoch: i16, commit: bool) -> i64 {
        let offset = log
            .append_txn_marker(producer_id, producer_epoch, 0, commit, 0, T0)
            .unwrap()
            .base_offset;
        log.maybe_increment_high_watermark(log.log_end_offset());
        offset
    }

    /// Markers in the log: offset → (producer id, COMMIT?).
    fn markers(log: &Log) -> BTreeMap<i64, (i64, bool)> {
        read_batches(log)
            .into_iter()
            .filter(|(h, _)| h.is_control())
            .map(|(h, bytes)| {
                let control = batch::parse_control_record(&bytes).unwrap();
                (
                    h.base_offset,
                    (
                        h.producer_id,
                        control.record_type == ControlRecordType::Commit,
                    ),
                )
            })
            .collect()
    }

    /// Offsets of the batches stored without records.
    fn empty_batches(log: &Log) -> Vec<i64> {
        read_batches(log)
            .into_iter()
            .filter(|(h, _)| h.record_count == 0)
            .map(|(h, _)| h.base_offset)
            .collect()
    }

    /// (epoch, last sequence and last offset of the last batch, ongoing txn, coordinator
    /// epoch) of each producer: what fencing and duplicate detection rely on.
    type ProducerSummary = (i16, Option<(i32, i64)>, Option<i64>, i32);

    fn producers(log: &Log, ids: &[i64]) -> BTreeMap<i64, Option<ProducerSummary>> {
        ids.iter()
            .map(|id| {
                let summary = log.producer_entry(*id).map(|e| {
                    (
                        e.producer_epoch,
                        e.batches.back().map(|b| (b.last_seq, b.last_offset)),
                        e.current_txn_first_offset,
                        e.coordinator_epoch,
                    )
                });
                (*id, summary)
            })
            .collect()
    }

    fn aborted_txn(producer_id: i64, first_offset: i64, last_offset: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id,
            first_offset,
            last_offset,
            last_stable_offset: last_offset + 1,
        }
    }

    /// Committed and aborted transactions of several producers interleaved with plain
    /// records, keys overwritten across all of them, and an open transaction: cleaning
    /// follows Kafka's rules before and after the delete horizon, and the result survives a
    /// clean reopen and a reopen that rebuilds producer state by replaying the whole log.
    #[test]
    fn transactions_are_cleaned_by_kafkas_rules_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t-0");
        let config = compact_config(300);
        let log = Log::open(path.clone(), config.clone(), 0, 0, true, FileCache::new(64)).unwrap();
        let (p1, p2, p3, p4, p5, p6, p7) = (1, 2, 3, 4, 5, 6, 7);
        assert_eq!(
            txn_produce(
                &log,
                (p1, 0, 0),
                &[(Some("a"), Some("A1")), (Some("b"), Some("B1"))]
            ),
            0
        );
        assert_eq!(end_txn(&log, p1, 0, true), 2);
        produce(&log, &[(Some("a"), Some("n1"))], T0); // 3
        assert_eq!(
            txn_produce(
                &log,
                (p2, 0, 0),
                &[(Some("a"), Some("X")), (Some("c"), Some("X"))]
            ),
            4
        );
        assert_eq!(end_txn(&log, p2, 0, false), 6);
        assert_eq!(txn_produce(&log, (p1, 0, 2), &[(Some("c"), Some("C1"))]), 7);
        assert_eq!(end_txn(&log, p1, 0, true), 8);
        assert_eq!(txn_produce(&log, (p3, 0, 0), &[(Some("d"), Some("D1"))]), 9);
        assert_eq!(end_txn(&log, p3, 0, true), 10);
        produce(&log, &[(Some("d"), Some("n2"))], T0); // 11: D's only record is overwritten
        assert_eq!(
            txn_produce(&log, (p3, 0, 1), &[(Some("e"), Some("E1"))]),
            12
        );
        assert_eq!(end_txn(&log, p3, 0, true), 13);
        assert_eq!(
            txn_produce(&log, (p2, 0, 2), &[(Some("f"), Some("F1"))]),
            14
        );
        assert_eq!(end_txn(&log, p2, 0, true), 15);
        // P4's aborted batch is its last batch; P7's (idempotent) last batch is overwritten.
        assert_eq!(txn_produce(&log, (p4, 0, 0), &[(Some("g"), Some("X"))]), 16);
        assert_eq!(end_txn(&log, p4, 0, false), 17);
        log.append_as_leader(
            &keyed_batch_with(
                &[(Some("k"), Some("p7"))],
                T0,
                Compression::None,
                (p7, 0, 0),
            ),
            0,
            T0,
        )
        .unwrap(); // 18
        produce(&log, &[(Some("k"), Some("later"))], T0); // 19
                                                          // P6's only entry is a marker (e.g. written after an epoch bump).
        assert_eq!(end_txn(&log, p6, 1, false), 20);
        // P5's transaction stays open; records after it are not cleanable yet.
        assert_eq!(
            txn_produce(&log, (p5, 0, 0), &[(Some("h"), Some("open"))]),
            21
        );
        produce(&log, &[(Some("a"), Some("n3"))], T0); // 22
        for i in 0..12 {
            produce(&log, &[(Some(&*format!("z{i}")), Some("filler"))], T0);
        }
        assert!(
            log.cleaning_view().unwrap().active_base_offset > 22,
            "the open transaction's segment must be closed"
        );
        assert_eq!(log.first_unstable_offset(), Some(21));
        let ids = [p1, p2, p3, p4, p5, p6, p7];
        let open_batch = read_batches(&log)
            .into_iter()
            .find(|(h, _)| h.base_offset == 21)
            .unwrap();

        // Pass 1, before the delete horizon.
        let stats = clean_log(&log, T0 + 10, 1 << 20, 4096, &never_stop())
            .unwrap()
            .expect("a dirty log with transactions is cleaned");
        assert_eq!(
            stats.end_offset, 21,
            "cleaning stops at the first unstable offset"
        );
        let data = read_all(&log);
        for aborted in [4, 5, 16] {
            assert!(
                !data.contains_key(&aborted),
                "aborted record at {aborted} survived: {data:?}"
            );
        }
        for overwritten in [0, 9, 18] {
            assert!(
                !data.contains_key(&overwritten),
                "overwritten record at {overwritten} survived"
            );
        }
        for kept in [1, 3, 7, 11, 12, 14, 19, 21, 22] {
            assert!(
                data.contains_key(&kept),
                "record at {kept} must stay: {data:?}"
            );
        }
        assert_eq!(
            data[&3].1.as_deref(),
            Some("n1"),
            "`a` written after the first unstable offset does not count yet"
        );
        assert_eq!(
            markers(&log).keys().copied().collect::<Vec<_>>(),
            vec![2, 6, 8, 10, 13, 15, 17, 20],
            "before the delete horizon every marker stays"
        );
        assert_eq!(
            empty_batches(&log),
            vec![16, 18],
            "the last batches of P4 (aborted) and P7 (overwritten) stay without records"
        );
        assert_eq!(
            log.collect_aborted_transactions(0, log.log_end_offset()),
            vec![aborted_txn(p2, 4, 6), aborted_txn(p4, 16, 17)],
            "both ABORT markers stay, so do their index entries"
        );
        assert_eq!(
            read_batches(&log)
                .into_iter()
                .find(|(h, _)| h.base_offset == 21)
                .unwrap(),
            open_batch,
            "the open transaction's batch is untouched"
        );
        assert_eq!(log.first_unstable_offset(), Some(21));
        assert!(
            clean_log(&log, T0 + 10, 1 << 20, 4096, &never_stop())
                .unwrap()
                .is_none(),
            "nothing is due until the delete horizon (no busy loop at the open transaction)"
        );

        // Pass 2, after the delete horizon: markers of transactions with nothing left go.
        let stats = clean_log(&log, T0 + 5_000, 1 << 20, 4096, &never_stop())
            .unwrap()
            .expect("the delete horizon makes the log cleanable");
        assert_eq!(stats.markers_removed, 2, "{stats:?}");
        assert_eq!(
            markers(&log).keys().copied().collect::<Vec<_>>(),
            vec![2, 8, 13, 15, 17, 20],
            "P2's ABORT (6) and D's COMMIT (10) go; markers of kept batches and P6's last entry stay"
        );
        assert_eq!(
            log.collect_aborted_transactions(0, log.log_end_offset()),
            vec![aborted_txn(p4, 16, 17)],
            "the removed ABORT marker's index entry goes with it"
        );
        assert_eq!(read_all(&log), data, "no record changes");
        assert_eq!(empty_batches(&log), vec![16, 18]);
        let index_files: Vec<String> = std::fs::read_dir(&path)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.contains(".txnindex"))
            .collect();
        assert_eq!(
            index_files.len(),
            1,
            "one .txnindex, no leftovers: {index_files:?}"
        );
        assert!(
            clean_log(&log, T0 + 5_000, 1 << 20, 4096, &never_stop())
                .unwrap()
                .is_none(),
            "nothing is due after the markers went"
        );

        // P5 commits: the next pass compacts past its transaction, keeping its record.
        end_txn(&log, p5, 0, true);
        assert_eq!(log.first_unstable_offset(), None);
        clean_log(&log, T0 + 5_000, 1 << 20, 4096, &never_stop())
            .unwrap()
            .expect("the committed transaction made the rest cleanable");
        let data = read_all(&log);
        assert!(
            !data.contains_key(&3),
            "`a` from before P5's transaction is overwritten now"
        );
        let latest = latest_per_key(&data);
        let value = |k: &str| latest.get(k).and_then(|(_, v)| v.clone());
        assert_eq!(value("a").as_deref(), Some("n3"));
        assert_eq!(value("h").as_deref(), Some("open"), "committed record kept");
        assert_eq!(
            value("c").as_deref(),
            Some("C1"),
            "committed, not the aborted X"
        );
        assert_eq!(value("g"), None, "aborted only");
        assert_eq!(
            latest.len(),
            8 + 12,
            "a b c d e f h k + 12 fillers: {latest:?}"
        );

        // Reopening gives the same log, transactions and producer state: from the snapshot
        // of a clean shutdown, and by replaying the whole log without any snapshot.
        let batches = read_batches(&log);
        let aborted = log.collect_aborted_transactions(0, log.log_end_offset());
        let producer_state = producers(&log, &ids);
        assert!(
            producer_state.values().all(Option::is_some),
            "{producer_state:?}"
        );
        log.close().unwrap();
        drop(log);
        let log = Log::open(path.clone(), config.clone(), 0, 0, true, FileCache::new(64)).unwrap();
        assert_eq!(read_batches(&log), batches, "clean reopen: same batches");
        assert_eq!(
            log.collect_aborted_transactions(0, log.log_end_offset()),
            aborted
        );
        assert_eq!(producers(&log, &ids), producer_state);
        drop(log);
        for entry in std::fs::read_dir(&path).unwrap() {
            let entry = entry.unwrap().path();
            if entry.extension().is_some_and(|e| e == "snapshot") {
                std::fs::remove_file(entry).unwrap();
            }
        }
        let log = Log::open(path, config, 0, 0, false, FileCache::new(64)).unwrap();
        assert_eq!(read_batches(&log), batches, "recovery: same batches");
        assert_eq!(
            log.first_unstable_offset(),
            None,
            "no transaction looks open"
        );
        assert_eq!(
            log.collect_aborted_transactions(0, log.log_end_offset()),
            aborted,
            "the replay rebuilds the same aborted index"
        );
        assert_eq!(
            producers(&log, &ids),
            producer_state,
            "replaying the cleaned log rebuilds every producer's epoch and last sequence"
        );
    }

    /// A log whose first non-active segments hold two aborted transactions whose markers
    /// outlive cleaning (each is its producer's last batch), in different segments.
    fn log_with_aborted_markers_in_two_segments(path: &Path) -> Log {
        let log = Log::open(
            path.to_path_buf(),
            compact_config(300),
            0,
            0,
            true,
            FileCache::new(64),
        )
        .unwrap();
        txn_produce(&log, (1, 0, 0), &[(Some("a"), Some("X"))]);
        end_txn(&log, 1, 0, false);
        for i in 0..4 {
            produce(&log, &[(Some("b"), Some(&*format!("{i}")))], T0);
        }
        txn_produce(&log, (2, 0, 0), &[(Some("c"), Some("X"))]);
        end_txn(&log, 2, 0, false);
        for i in 0..8 {
            produce(&log, &[(Some("d"), Some(&*format!("{i}")))], T0);
        }
        log
    }

    /// The cleaned `.txnindex` moves with the segment through `.cleaned` → `.swap` → final:
    /// a crash after the swap files are complete, or after the `.txnindex` (but not yet the
    /// `.log`) reached its final name, reopens with the cleaned index.
    #[test]
    fn the_cleaned_txn_index_survives_a_crash_during_the_swap() {
        for renamed_before_crash in [&[][..], &[".index", ".txnindex"][..]] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("t-0");
            let log = log_with_aborted_markers_in_two_segments(&path);
            let expected = log.collect_aborted_transactions(0, log.log_end_offset());
            assert_eq!(expected.len(), 2);
            let view = log.cleaning_view().unwrap();
            let plan = plan_cleaning(&view, -1, i64::MAX, T0 + 10).unwrap();
            let mut stats = CleanStats::default();
            let stop = never_stop();
            let (map, end_offset) = build_offset_map(
                &view,
                &plan,
                log.collect_aborted_transactions(0, plan.first_uncleanable_offset),
                1 << 20,
                4096,
                &stop,
                &mut stats,
            )
            .unwrap();
            let group = group_segments(&view.segments, u64::MAX).remove(0);
            let index_bases: Vec<i64> = group
                .iter()
                .map(|s| s.base_offset)
                .filter(|b| super::super::txn_index::txn_index_file(&path, *b).exists())
                .collect();
            assert_eq!(
                index_bases.len(),
                2,
                "the markers are in two segments of the group"
            );
            let cleaned = CleaningPass::new(&log, &view, &map, end_offset, T0 + 10, 4096, &stop)
                .write_cleaned_group(&group)
                .unwrap();
            assert_eq!(cleaned, expected, "both markers stay");
            // Below the active segment only the latest record per key stays (aborted ones
            // never entered the map); the active segment is untouched.
            let expected_data: BTreeMap<i64, (String, Option<String>)> = read_all(&log)
                .into_iter()
                .filter(|(o, (key, _))| {
                    *o >= view.active_base_offset || map.get(key.as_bytes()) == Some(*o)
                })
                .collect();
            drop(log);
            let name = |suffix: &str, extra: &str| path.join(format!("{:020}{suffix}{extra}", 0));
            for suffix in [".index", ".timeindex", ".txnindex", ".log"] {
                std::fs::rename(name(suffix, ".cleaned"), name(suffix, ".swap")).unwrap();
            }
            for suffix in renamed_before_crash {
                std::fs::rename(name(suffix, ".swap"), name(suffix, "")).unwrap();
            }
            let log = Log::open(
                path.clone(),
                compact_config(300),
                0,
                0,
                false,
                FileCache::new(64),
            )
            .unwrap();
            assert_eq!(
                log.collect_aborted_transactions(0, log.log_end_offset()),
                expected,
                "renamed before the crash: {renamed_before_crash:?}"
            );
            assert_eq!(read_all(&log), expected_data);
            let names = file_names_without_swap_leftovers(&path);
            assert_eq!(
                names.iter().filter(|n| n.ends_with(".txnindex")).count(),
                1,
                "only the cleaned segment's index: {names:?}"
            );
        }
    }
}
