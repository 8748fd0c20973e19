//! `LogCleaner`: log compaction (`cleanup.policy=compact`), Kafka's `LogCleaner`.
//!
//! Dedicated threads (`log.cleaner.threads`) repeatedly pick the compacted log most in need
//! of cleaning and clean it in one pass:
//!
//! 1. **Plan** ([`plan_cleaning`]): the dirty section runs from the cleaner checkpoint
//!    (`cleaner-offset-checkpoint`, per log dir) to the first uncleanable offset — the active
//!    segment's base, or earlier where a segment holds records younger than
//!    `min.compaction.lag.ms`. The log is cleanable when the dirty share of the bytes reaches
//!    `min.cleanable.dirty.ratio`, when its first dirty batch is older than
//!    `max.compaction.lag.ms`, or when a kept tombstone's `delete.retention.ms` has passed.
//! 2. **Offset map**: key → latest offset over the dirty section, bounded by the dedupe
//!    buffer (`log.cleaner.dedupe.buffer.size` / threads); when it fills, the pass stops at
//!    the last whole batch that fitted and the next pass continues from there.
//! 3. **Clean**: every non-active segment below the map's end is rewritten, in groups whose
//!    total size fits `segment.bytes`, into `<base>.log.cleaned`: a record survives if its
//!    key has no later offset in the map and it is not a tombstone whose segment is older
//!    than `delete.retention.ms` (measured by the segment's largest timestamp). Batches with
//!    every record kept are copied byte for byte; partly kept ones are re-encoded keeping
//!    their batch-level fields ([`batch::encode_retained`]); control batches are kept.
//!    Offsets keep their gaps. Reads use `log.cleaner.io.buffer.size` / threads bytes.
//! 4. **Swap** ([`Log::replace_segments`]): `.cleaned` → `.swap` → final names; recovery
//!    completes or discards an interrupted swap.
//!
//! Appends and reads continue while a log is cleaned: the cleaner reads closed segments
//! through shared file handles and takes the log's locks only for the final swap.
//!
//! Transactions are not supported by the cleaner yet: a log holding transactional batches
//! (seen on append, replay, or by a header scan of the segments about to be cleaned) is
//! skipped, so aborted data and markers stay until retention removes them.
//!
//! Deliberate differences from Kafka: tombstone expiry uses the segment's largest record
//! timestamp rather than a delete horizon stamped into the batch (KIP-534); records decoded
//! and re-encoded by the cleaner lose duplicate header keys (the codec keeps headers in a
//! map); a batch left empty by cleaning is dropped (Kafka keeps the last batch of each
//! producer id).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::batch::{self, BatchHeader, BATCH_HEADER_BYTES};
use super::log::{remove_cleaned_files, CleaningView, SegmentSnapshot};
use super::segment::{LogSegment, CLEANED_SUFFIX};
use super::{Log, LogError, LogManager};
use crate::types::{now_ms, TopicPartition};

/// Approximate memory per offset-map entry besides the key bytes (boxed key pointer and
/// length, offset, hash table slot).
const OFFSET_MAP_ENTRY_OVERHEAD_BYTES: u64 = 48;
/// Smallest I/O buffer per thread, whatever the configuration says.
const IO_BUFFER_BYTES_MIN: usize = 4096;

/// Cleaner settings (Kafka's `log.cleaner.*`).
#[derive(Debug, Clone)]
pub struct CleanerConfig {
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
pub struct CleanStats {
    /// Groups of segments replaced by one cleaned segment each.
    pub segment_groups_replaced: usize,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub records_removed: u64,
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
    /// Cleaning is due regardless of the ratio (max lag passed or tombstones expired).
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

/// Decides whether (and what of) a log should be cleaned now. Pure.
pub(crate) fn plan_cleaning(
    view: &CleaningView,
    cleaner_checkpoint: i64,
    tombstone_horizon_ms: i64,
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
    // First uncleanable: the active segment, or the first segment holding records younger
    // than min.compaction.lag.ms.
    let mut first_uncleanable_offset = view.active_base_offset;
    if config.min_compaction_lag_ms > 0 {
        if let Some(young) = view.segments.iter().find(|s| {
            s.next_offset > first_dirty_offset
                && s.largest_timestamp > now_ms.saturating_sub(config.min_compaction_lag_ms)
        }) {
            first_uncleanable_offset = first_uncleanable_offset.min(young.base_offset);
        }
    }
    first_dirty_offset = first_dirty_offset.min(first_uncleanable_offset);
    let mut clean_bytes = 0u64;
    let mut dirty_bytes = 0u64;
    let mut first_dirty_batch_ms = None;
    for segment in &view.segments {
        if segment.base_offset >= first_uncleanable_offset {
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
    let tombstones_due = tombstone_horizon_ms <= now_ms && total > 0;
    let ratio_reached = dirty_bytes > 0 && dirty_ratio >= config.min_cleanable_dirty_ratio;
    if !(ratio_reached || max_lag_passed || tombstones_due) {
        return None;
    }
    Some(CleaningPlan {
        first_dirty_offset,
        first_uncleanable_offset,
        dirty_ratio,
        forced: max_lag_passed || tombstones_due,
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
    file: &'a File,
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
    fn new(segment: &'a SegmentSnapshot, io_buffer_bytes: usize) -> Self {
        Self {
            file: &segment.file,
            path: &segment.path,
            size_bytes: segment.size_bytes,
            position: 0,
            buf: Vec::new(),
            buf_start: 0,
            buf_len: 0,
            io_buffer_bytes,
            current: 0..0,
        }
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

/// Builds the offset map over `[first_dirty, first_uncleanable)`. Returns the map and the
/// offset it covers up to (exclusive).
fn build_offset_map(
    view: &CleaningView,
    plan: &CleaningPlan,
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
    let mut end_offset = plan.first_dirty_offset;
    for segment in &view.segments {
        if segment.next_offset <= plan.first_dirty_offset {
            continue;
        }
        if segment.base_offset >= plan.first_uncleanable_offset {
            break;
        }
        let mut reader = BatchReader::new(segment, io_buffer_bytes);
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
            if !header.is_control() {
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

/// Whether any batch of `segments` is transactional (markers included): a scan of the 61-byte
/// headers only, one `pread` per batch.
fn segments_hold_txn_batches(segments: &[SegmentSnapshot]) -> Result<bool, LogError> {
    let mut header = [0u8; batch::BATCH_HEADER_BYTES];
    for segment in segments {
        let mut position = 0u64;
        // Bounded: each iteration advances by one whole batch within the segment's size.
        while position + batch::BATCH_HEADER_BYTES as u64 <= segment.size_bytes {
            segment
                .file
                .read_exact_at(&mut header, position)
                .map_err(|e| LogError::io(&segment.path, e))?;
            let parsed = BatchHeader::parse(&header)?;
            if parsed.is_transactional() {
                return Ok(true);
            }
            if parsed.batch_length < batch::BATCH_LENGTH_MIN {
                break;
            }
            position += parsed.total_size() as u64;
        }
    }
    Ok(false)
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

/// Writes the cleaned version of `group` as `<base>.*.cleaned`. Returns the earliest time
/// a kept tombstone may be removed (`i64::MAX` if none).
#[allow(clippy::too_many_arguments)]
fn write_cleaned_group(
    log: &Log,
    view: &CleaningView,
    group: &[SegmentSnapshot],
    map: &OffsetMap,
    now_ms: i64,
    io_buffer_bytes: usize,
    stop: &AtomicBool,
    stats: &mut CleanStats,
) -> Result<i64, LogError> {
    let config = &view.config;
    let base_offset = group.first().map(|s| s.base_offset).unwrap_or(0);
    let mut cleaned =
        LogSegment::create_with_suffix(log.dir(), base_offset, config, now_ms, CLEANED_SUFFIX)?;
    let mut out: Vec<u8> = Vec::with_capacity(io_buffer_bytes);
    let mut out_headers: Vec<BatchHeader> = Vec::new();
    let mut horizon_ms = i64::MAX;
    for segment in group {
        let tombstones_expired = segment
            .largest_timestamp
            .saturating_add(config.delete_retention_ms)
            < now_ms;
        let mut reader = BatchReader::new(segment, io_buffer_bytes);
        // Bounded: each call consumes one batch of the segment.
        while let Some(header) = reader.next_batch()? {
            if stop.load(Ordering::Acquire) {
                return Err(stopping_error());
            }
            stats.bytes_read += header.total_size() as u64;
            let kept: Option<Vec<u8>> = if header.is_control() {
                Some(reader.current().to_vec())
            } else {
                match batch::decode_records(reader.current()) {
                    Err(e) => {
                        tracing::warn!(segment = %segment.path.display(), base_offset = header.base_offset, error = %e, "cannot decode batch; keeping it as is");
                        Some(reader.current().to_vec())
                    }
                    Ok(records) => {
                        let total = records.len();
                        let retained: Vec<_> = records
                            .into_iter()
                            .filter(|r| {
                                let Some(key) = &r.key else {
                                    return false;
                                };
                                let latest = map.get(key).is_none_or(|o| r.offset >= o);
                                latest && !(r.value.is_none() && tombstones_expired)
                            })
                            .collect();
                        if retained.iter().any(|r| r.value.is_none()) {
                            horizon_ms = horizon_ms.min(
                                segment
                                    .largest_timestamp
                                    .saturating_add(config.delete_retention_ms)
                                    .saturating_add(1),
                            );
                        }
                        stats.records_removed += (total - retained.len()) as u64;
                        if retained.len() == total {
                            Some(reader.current().to_vec())
                        } else if retained.is_empty() {
                            None
                        } else {
                            Some(batch::encode_retained(&header, &retained)?)
                        }
                    }
                }
            };
            if let Some(bytes) = kept {
                out_headers.push(BatchHeader::parse(&bytes)?);
                out.extend_from_slice(&bytes);
                if out.len() >= io_buffer_bytes {
                    cleaned.append(&out, &out_headers)?;
                    stats.bytes_written += out.len() as u64;
                    out.clear();
                    out_headers.clear();
                }
            }
        }
    }
    if !out.is_empty() {
        cleaned.append(&out, &out_headers)?;
        stats.bytes_written += out.len() as u64;
    }
    cleaned.flush()?;
    Ok(horizon_ms)
}

/// One cleaning pass over `log` if it needs one. `Ok(None)` when nothing is due.
pub fn clean_log(
    log: &Log,
    now_ms: i64,
    dedupe_buffer_bytes: u64,
    io_buffer_bytes: usize,
    stop: &AtomicBool,
) -> Result<Option<CleanStats>, LogError> {
    if log.has_txn_data() {
        return Ok(None);
    }
    let Some(view) = log.cleaning_view() else {
        return Ok(None);
    };
    if segments_hold_txn_batches(&view.segments)? {
        tracing::info!(dir = %log.dir().display(), "log holds transactional batches; the cleaner skips it");
        log.set_has_txn_data();
        return Ok(None);
    }
    let Some(plan) = plan_cleaning(
        &view,
        log.cleaner_checkpoint(),
        log.tombstone_horizon_ms(),
        now_ms,
    ) else {
        return Ok(None);
    };
    let io_buffer_bytes = io_buffer_bytes.max(IO_BUFFER_BYTES_MIN);
    let mut stats = CleanStats::default();
    let (map, end_offset) = build_offset_map(
        &view,
        &plan,
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
    let mut horizon_ms = i64::MAX;
    for group in group_segments(&to_clean, view.config.segment_bytes) {
        let base_offset = group.first().map(|s| s.base_offset).unwrap_or(0);
        remove_cleaned_files(log.dir(), base_offset);
        let written = write_cleaned_group(
            log,
            &view,
            &group,
            &map,
            now_ms,
            io_buffer_bytes,
            stop,
            &mut stats,
        );
        let group_horizon = match written {
            Ok(h) => h,
            Err(e) => {
                remove_cleaned_files(log.dir(), base_offset);
                return Err(e);
            }
        };
        if !log.replace_segments(&group, view.truncations)? {
            return Ok(Some(stats));
        }
        horizon_ms = horizon_ms.min(group_horizon);
        stats.segment_groups_replaced += 1;
    }
    stats.end_offset = end_offset;
    log.set_cleaner_checkpoint(end_offset);
    log.set_tombstone_horizon_ms(horizon_ms);
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
pub struct LogCleaner {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl LogCleaner {
    /// Starts `config.threads` cleaner threads (at least one).
    pub fn start(manager: Arc<LogManager>, config: CleanerConfig) -> Result<LogCleaner, LogError> {
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
    pub fn shutdown(self) {
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
        if in_progress.contains(&tp)
            || retry_at.get(&tp).is_some_and(|t| *t > now_ms)
            || log.has_txn_data()
        {
            continue;
        }
        let Some(view) = log.cleaning_view() else {
            continue;
        };
        let Some(plan) = plan_cleaning(
            &view,
            log.cleaner_checkpoint(),
            log.tombstone_horizon_ms(),
            now_ms,
        ) else {
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
    use super::super::LogConfig;
    use super::*;
    use std::collections::BTreeMap;

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

    /// Every record readable from the log: offset → (key, value).
    fn read_all(log: &Log) -> BTreeMap<i64, (String, Option<String>)> {
        let mut out = BTreeMap::new();
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
                for r in batch::decode_records(&data[position..position + h.total_size()]).unwrap()
                {
                    let key = String::from_utf8(r.key.unwrap().to_vec()).unwrap();
                    let value = r.value.map(|v| String::from_utf8(v.to_vec()).unwrap());
                    out.insert(r.offset, (key, value));
                }
                position += h.total_size();
            }
            offset = headers.last().unwrap().next_offset();
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
    fn logs_with_transactional_batches_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t-0");
        let log = Log::open(path.clone(), compact_config(600), 0, 0, true).unwrap();
        let now = crate::types::now_ms();
        log.append_as_leader(
            &super::super::batch::test_support::txn_batch(2, now, (4, 0, 0)),
            0,
            now,
        )
        .unwrap();
        log.append_txn_marker(4, 0, 0, true, 0, now).unwrap();
        for round in 0..10 {
            let v = format!("v{round}");
            produce(&log, &[(Some("k0"), Some(v.as_str()))], now);
        }
        assert!(log.has_txn_data(), "set by the append");
        // After a clean restart from a snapshot nothing is replayed: the header scan of the
        // segments to clean finds the transactional batches.
        log.close().unwrap();
        drop(log);
        let log = Log::open(path, compact_config(600), 0, 0, true).unwrap();
        assert!(!log.has_txn_data());
        let before = read_all(&log);
        assert!(clean_log(&log, now, 1 << 20, 4096, &never_stop())
            .unwrap()
            .is_none());
        assert!(log.has_txn_data(), "found by the header scan");
        assert_eq!(read_all(&log), before, "nothing cleaned");
    }

    #[test]
    fn cleaning_keeps_exactly_the_latest_record_per_key_with_offset_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path().join("t-0"), compact_config(600), 0, 0, true).unwrap();
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
        let log = Log::open(dir.path().join("t-0"), compact_config(600), 0, 0, false).unwrap();
        assert_eq!(
            read_all(&log),
            reread,
            "cleaned segments survive an unclean reopen"
        );
    }

    #[test]
    fn tombstones_are_kept_until_delete_retention_then_removed() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path().join("t-0"), compact_config(300), 0, 0, true).unwrap();
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
            log.tombstone_horizon_ms() < i64::MAX,
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
        let log = Log::open(dir.path().join("t-0"), config.clone(), 0, 0, true).unwrap();
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
        let log = Log::open(dir.path().join("t-0"), compact_config(400), 0, 0, true).unwrap();
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
        let log = Log::open(dir.path().join("t-0"), compact_config(300), 0, 0, true).unwrap();
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
        let log = Log::open(path.clone(), config.clone(), 0, 0, true).unwrap();
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
        let (map, _) =
            build_offset_map(&view, &plan, 1 << 20, 4096, &never_stop(), &mut stats).unwrap();
        let group = group_segments(&view.segments, u64::MAX).remove(0);
        write_cleaned_group(
            &log,
            &view,
            &group,
            &map,
            2_000,
            4096,
            &never_stop(),
            &mut stats,
        )
        .unwrap();
        drop(log);
        let base = group[0].base_offset;
        let name = |suffix: &str, extra: &str| path.join(format!("{base:020}{suffix}{extra}"));
        for suffix in [".log", ".index", ".timeindex"] {
            std::fs::rename(name(suffix, ".cleaned"), name(suffix, ".swap")).unwrap();
        }
        // A second, half-written cleaned file must simply disappear.
        std::fs::write(path.join("00000000000000000003.log.cleaned"), b"partial").unwrap();
        let log = Log::open(path.clone(), config.clone(), 0, 0, false).unwrap();
        assert_eq!(
            latest_per_key(&read_all(&log)),
            expected,
            "the swapped-in log is complete"
        );
        let names: Vec<String> = std::fs::read_dir(&path)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(
            !names
                .iter()
                .any(|n| n.ends_with(".swap") || n.ends_with(".cleaned")),
            "no leftovers: {names:?}"
        );
        assert_eq!(
            log.segment_count(),
            view.segments.len() - group.len() + 2,
            "the group became one segment (plus the active one)"
        );
    }
}
