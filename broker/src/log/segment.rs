//! `LogSegment`: one `<base offset>.log` file with its offset and time indexes.
//!
//! The log file is written with `pwrite` at the segment's size and read with `pread` through
//! a shared `Arc<File>`, so a reader can copy bytes out without holding the log's lock:
//! bytes below a published size never change (only `truncate_to`, used by replication,
//! shrinks a segment).
//!
//! All three files are opened through the process's [`FileCache`] when used and closed when
//! it evicts them: a segment nobody reads or writes holds no descriptor. Opening a segment
//! at load `stat`s its log and reads its indexes through short-lived descriptors.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::batch::{self, BatchHeader, BATCH_HEADER_BYTES};
use super::file_cache::{CachedFile, FileCache};
use super::index::{OffsetIndex, TimeIndex};
use super::{LogConfig, LogError};

pub(crate) const LOG_SUFFIX: &str = ".log";
pub(crate) const INDEX_SUFFIX: &str = ".index";
pub(crate) const TIME_INDEX_SUFFIX: &str = ".timeindex";
pub(crate) const DELETED_SUFFIX: &str = ".deleted";
/// A segment being written by the cleaner (removed on recovery).
pub(crate) const CLEANED_SUFFIX: &str = ".cleaned";
/// A cleaned segment ready to replace the originals (recovery completes the swap).
pub(crate) const SWAP_SUFFIX: &str = ".swap";

/// `<dir>/<20-digit zero-padded base offset><suffix>`, Kafka's segment file name.
pub(crate) fn segment_file(dir: &Path, base_offset: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}{suffix}"))
}

/// One segment of a partition log.
#[derive(Debug)]
pub(crate) struct LogSegment {
    base_offset: i64,
    dir: PathBuf,
    log_file: CachedFile,
    size_bytes: u64,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    /// Offset after the last batch (`base_offset` when empty).
    next_offset: i64,
    /// Largest batch maxTimestamp, -1 when none.
    max_timestamp: i64,
    /// An offset inside the (first) batch holding `max_timestamp` (its last offset).
    offset_of_max_timestamp: i64,
    bytes_since_last_index_entry: u64,
    index_interval_bytes: u64,
    /// Time the roll-by-time clock starts: first append (or first batch's maxTimestamp
    /// when loaded from disk, as Kafka does).
    roll_base_ms: Option<i64>,
    /// Creation time (file mtime when loaded); stands in for the largest timestamp of a
    /// segment whose batches carry no timestamps.
    created_ms: i64,
}

/// Whole batches of a segment file left in the file: sent with `sendfile` on plaintext
/// connections (page cache to socket, no copy through the broker's memory), read into
/// memory (`read`) where the bytes must pass through the broker (TLS).
#[derive(Debug, Clone)]
pub(crate) struct FileSlice {
    file: Arc<File>,
    path: Arc<Path>,
    position: u64,
    len: usize,
}

impl FileSlice {
    /// `len` bytes of `file` (at `path`) from `position`.
    pub(crate) fn new(file: Arc<File>, path: &Path, position: u64, len: usize) -> Self {
        Self {
            file,
            path: Arc::from(path),
            position,
            len,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// Where the slice starts in its file.
    pub(crate) fn position(&self) -> u64 {
        self.position
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The slice's bytes, copied out of the file (blocking: run it on the blocking pool).
    /// A file shorter than the slice (truncated since it was planned) is an error.
    pub(crate) fn read(&self) -> Result<Bytes, LogError> {
        let mut buf = vec![0u8; self.len];
        let got = read_fully_at(&self.file, &mut buf, self.position)
            .map_err(|e| LogError::io(self.path.as_ref(), e))?;
        if got != self.len {
            return Err(LogError::CorruptRecord(format!(
                "{} bytes at position {} of {} were truncated away",
                self.len,
                self.position,
                self.path.display()
            )));
        }
        Ok(Bytes::from(buf))
    }
}

/// Batch headers [`ReadPlan::locate`] reads at most before it gives up and lets the caller
/// copy the range instead: small batches are cheaper to read in one `pread` than to walk.
const LOCATE_HEADERS_MAX: usize = 256;

/// A read decided under the log's lock and executed without it.
#[derive(Debug, Clone)]
pub(crate) struct ReadPlan {
    file: Arc<File>,
    path: PathBuf,
    position: u64,
    end_position: u64,
    first_batch_bytes: u64,
}

impl ReadPlan {
    /// Copies whole batches starting at the planned position: only batches with base offset
    /// `< max_offset_exclusive`, at most `max_bytes` in total except that with
    /// `min_one_batch` the first batch is returned whole however large it is.
    pub(crate) fn execute(
        &self,
        max_bytes: usize,
        max_offset_exclusive: i64,
        min_one_batch: bool,
    ) -> Result<Bytes, LogError> {
        let mut want = max_bytes as u64;
        if min_one_batch {
            want = want.max(self.first_batch_bytes);
        }
        let want = want.min(self.end_position.saturating_sub(self.position)) as usize;
        if want == 0 {
            return Ok(Bytes::new());
        }
        let mut buf = vec![0u8; want];
        let got = read_fully_at(&self.file, &mut buf, self.position)
            .map_err(|e| LogError::io(&self.path, e))?;
        buf.truncate(got);
        // Keep whole batches below the offset bound; bounded by the buffer length.
        let mut end = 0usize;
        while buf.len() - end >= BATCH_HEADER_BYTES {
            let header = BatchHeader::parse(&buf[end..])?;
            if header.base_offset >= max_offset_exclusive || end + header.total_size() > buf.len() {
                break;
            }
            end += header.total_size();
        }
        buf.truncate(end);
        Ok(Bytes::from(buf))
    }

    /// The same whole batches as [`ReadPlan::execute`] would copy, located by their headers
    /// only (one 61-byte `pread` per batch), left in the file. `None` when that takes more
    /// than [`LOCATE_HEADERS_MAX`] headers (many small batches: copying them is cheaper).
    /// An empty slice when nothing qualifies. With the slice: the offset after its last
    /// batch (`None` when empty).
    pub(crate) fn locate(
        &self,
        max_bytes: usize,
        max_offset_exclusive: i64,
        min_one_batch: bool,
    ) -> Result<Option<(FileSlice, Option<i64>)>, LogError> {
        let mut want = max_bytes as u64;
        if min_one_batch {
            want = want.max(self.first_batch_bytes);
        }
        let want = want.min(self.end_position.saturating_sub(self.position));
        let mut len = 0u64;
        let mut next_offset = None;
        let mut headers = 0usize;
        // Bounded by LOCATE_HEADERS_MAX and by `want`: each step advances one whole batch.
        while want - len >= BATCH_HEADER_BYTES as u64 {
            if headers == LOCATE_HEADERS_MAX {
                return Ok(None);
            }
            headers += 1;
            let mut buf = [0u8; BATCH_HEADER_BYTES];
            let got = read_fully_at(&self.file, &mut buf, self.position + len)
                .map_err(|e| LogError::io(&self.path, e))?;
            let header = BatchHeader::parse(&buf[..got])?;
            let size = header.total_size() as u64;
            if header.base_offset >= max_offset_exclusive || size == 0 || len + size > want {
                break;
            }
            len += size;
            next_offset = Some(header.next_offset());
        }
        if len > 0 {
            // Here, on the blocking pool, the slice's pages are read into the page cache
            // (readahead(2) returns once they are), so the `sendfile` on the connection's
            // task later copies from memory instead of waiting on the disk. Advisory: on
            // failure `sendfile` reads the disk itself.
            use std::os::fd::AsRawFd;
            // SAFETY: readahead on an open file descriptor this slice keeps alive.
            unsafe {
                libc::readahead(
                    self.file.as_raw_fd(),
                    self.position as libc::off64_t,
                    len as usize,
                );
            }
        }
        let slice = FileSlice::new(
            Arc::clone(&self.file),
            &self.path,
            self.position,
            len as usize,
        );
        Ok(Some((slice, next_offset)))
    }
}

/// `pread` until `buf` is full or end of file; returns bytes read. Bounded by `buf.len()`.
fn read_fully_at(file: &File, buf: &mut [u8], position: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], position + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Outcome of scanning batch headers from a position to the end of the log file.
struct TailScan {
    next_offset: Option<i64>,
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    /// `Some(reason)` when a header did not make sense (torn or corrupt tail).
    problem: Option<String>,
}

impl LogSegment {
    /// Creates an empty segment (truncating stale files of the same name).
    pub(crate) fn create(
        files: &Arc<FileCache>,
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
    ) -> Result<Self, LogError> {
        Self::create_with_suffix(files, dir, base_offset, config, now_ms, "")
    }

    /// Creates an empty segment whose three files carry `file_suffix` after their usual
    /// names (the cleaner writes `<base>.log.cleaned` etc.). The files are created and
    /// closed again: nothing stays open until the segment is used.
    pub(crate) fn create_with_suffix(
        files: &Arc<FileCache>,
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
        file_suffix: &str,
    ) -> Result<Self, LogError> {
        let file = |suffix: &str| {
            PathBuf::from(format!(
                "{}{file_suffix}",
                segment_file(dir, base_offset, suffix).display()
            ))
        };
        let log_path = file(LOG_SUFFIX);
        files.open_uncached(
            &log_path,
            OpenOptions::new().write(true).create(true).truncate(true),
        )?;
        let offset_index = OffsetIndex::create(
            files,
            &file(INDEX_SUFFIX),
            base_offset,
            config.segment_index_bytes,
        )?;
        let time_index = TimeIndex::create(
            files,
            &file(TIME_INDEX_SUFFIX),
            base_offset,
            config.segment_index_bytes,
        )?;
        Ok(Self::with_files(
            dir,
            base_offset,
            files.handle(log_path),
            0,
            (offset_index, time_index),
            config,
            now_ms,
        ))
    }

    /// A segment over its files whose batches are not read yet: no batch state (next
    /// offset, max timestamp, roll clock) until [`LogSegment::load_tail_state`] or appends.
    fn with_files(
        dir: &Path,
        base_offset: i64,
        log_file: CachedFile,
        size_bytes: u64,
        (offset_index, time_index): (OffsetIndex, TimeIndex),
        config: &LogConfig,
        created_ms: i64,
    ) -> Self {
        Self {
            base_offset,
            dir: dir.to_path_buf(),
            log_file,
            size_bytes,
            offset_index,
            time_index,
            next_offset: base_offset,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            bytes_since_last_index_entry: 0,
            index_interval_bytes: config.index_interval_bytes,
            roll_base_ms: None,
            created_ms,
        }
    }

    /// Opens an existing segment. Indexes are checked; the returned flag is `Some(reason)`
    /// when an index was missing/corrupt or the log tail does not parse, in which case the
    /// caller must run [`LogSegment::recover`] before using the segment.
    pub(crate) fn open(
        files: &Arc<FileCache>,
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
    ) -> Result<(Self, Option<String>), LogError> {
        let log_path = segment_file(dir, base_offset, LOG_SUFFIX);
        let metadata = std::fs::metadata(&log_path).map_err(|e| LogError::io(&log_path, e))?;
        let size_bytes = metadata.len();
        let created_ms = metadata
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let (offset_index, offset_problem) = OffsetIndex::open(
            files,
            &segment_file(dir, base_offset, INDEX_SUFFIX),
            base_offset,
            config.segment_index_bytes,
            size_bytes,
        )?;
        let (time_index, time_problem) = TimeIndex::open(
            files,
            &segment_file(dir, base_offset, TIME_INDEX_SUFFIX),
            base_offset,
            config.segment_index_bytes,
        )?;
        let mut segment = Self::with_files(
            dir,
            base_offset,
            files.handle(log_path),
            size_bytes,
            (offset_index, time_index),
            config,
            created_ms,
        );
        // An empty log with empty (even missing) indexes needs nothing.
        if let Some(problem) = offset_problem.or(time_problem).filter(|_| size_bytes > 0) {
            return Ok((segment, Some(problem)));
        }
        let problem = segment.load_tail_state()?;
        Ok((segment, problem))
    }

    /// Recomputes next offset, max timestamp and friends from the indexes' last entries
    /// plus a header scan of the tail. `Some(reason)` if the tail does not parse or the
    /// indexes point beyond it.
    fn load_tail_state(&mut self) -> Result<Option<String>, LogError> {
        let (start_offset, max_ts, offset_of_max_ts) = match self.time_index.last_entry() {
            Some((ts, offset)) => (offset, ts, offset),
            None => (self.base_offset, -1, -1),
        };
        let (_, start_position) = self.offset_index.lookup(start_offset);
        let scan = self.scan_tail(start_position, max_ts, offset_of_max_ts)?;
        if let Some(problem) = scan.problem {
            return Ok(Some(problem));
        }
        let next_offset = scan.next_offset.unwrap_or(self.base_offset);
        if let Some((offset, _)) = self.offset_index.last_entry() {
            if offset >= next_offset {
                return Ok(Some(format!(
                    "offset index entry {offset} is beyond the log end {next_offset}"
                )));
            }
        }
        if offset_of_max_ts >= next_offset {
            return Ok(Some(format!(
                "time index entry {offset_of_max_ts} is beyond the log end {next_offset}"
            )));
        }
        self.next_offset = next_offset;
        self.max_timestamp = scan.max_timestamp;
        self.offset_of_max_timestamp = scan.offset_of_max_timestamp;
        let last_entry_position = self.offset_index.last_entry().map(|e| e.1).unwrap_or(0);
        self.bytes_since_last_index_entry = self.size_bytes - last_entry_position;
        self.roll_base_ms = if self.size_bytes == 0 {
            None
        } else {
            let first = self.read_header_at(0)?;
            Some(if first.max_timestamp >= 0 {
                first.max_timestamp
            } else {
                self.created_ms
            })
        };
        Ok(None)
    }

    fn scan_tail(
        &self,
        start_position: u64,
        mut max_ts: i64,
        mut offset_of_max_ts: i64,
    ) -> Result<TailScan, LogError> {
        let mut position = start_position;
        let mut next_offset = None;
        let mut expected_min_base = self.base_offset;
        let mut problem = None;
        // An empty tail needs no descriptor.
        let file = match position < self.size_bytes {
            true => Some(self.log_file.get()?),
            false => None,
        };
        // Bounded: each iteration advances by at least one header.
        while let (Some(file), true) = (file.as_deref(), position < self.size_bytes) {
            if self.size_bytes - position < BATCH_HEADER_BYTES as u64 {
                problem = Some(format!(
                    "{} torn bytes at position {position}",
                    self.size_bytes - position
                ));
                break;
            }
            let header = self.read_header_in(file, position)?;
            if let Err(e) = header.check_shape() {
                problem = Some(format!("bad batch header at position {position}: {e}"));
                break;
            }
            if header.base_offset < expected_min_base
                || position + header.total_size() as u64 > self.size_bytes
            {
                problem = Some(format!(
                    "batch at position {position} is out of order or torn"
                ));
                break;
            }
            if header.max_timestamp > max_ts {
                max_ts = header.max_timestamp;
                offset_of_max_ts = header.last_offset();
            }
            expected_min_base = header.next_offset();
            next_offset = Some(header.next_offset());
            position += header.total_size() as u64;
        }
        Ok(TailScan {
            next_offset,
            max_timestamp: max_ts,
            offset_of_max_timestamp: offset_of_max_ts,
            problem,
        })
    }

    fn log_path(&self) -> &Path {
        self.log_file.path()
    }

    fn read_header_at(&self, position: u64) -> Result<BatchHeader, LogError> {
        self.read_header_in(&*self.log_file.get()?, position)
    }

    /// A batch header read through `file`, this segment's log opened by the caller for a
    /// whole scan.
    fn read_header_in(&self, file: &File, position: u64) -> Result<BatchHeader, LogError> {
        let mut buf = [0u8; BATCH_HEADER_BYTES];
        let got = read_fully_at(file, &mut buf, position)
            .map_err(|e| LogError::io(self.log_path(), e))?;
        BatchHeader::parse(&buf[..got])
    }

    /// Scans every batch from the start, validating each (shape, CRC32C, offsets in order),
    /// rebuilds both indexes and truncates the file at the first invalid or torn batch.
    /// Returns the number of bytes truncated.
    pub(crate) fn recover(&mut self) -> Result<u64, LogError> {
        // What the previous process wrote may not have reached the disk: the flush at the
        // end must fsync the log even when recovery writes nothing to it.
        self.log_file.mark_dirty();
        self.offset_index.mark_dirty();
        self.time_index.mark_dirty();
        self.offset_index.reset()?;
        self.time_index.reset()?;
        let file = self.log_file.get()?;
        self.next_offset = self.base_offset;
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = -1;
        self.bytes_since_last_index_entry = 0;
        self.roll_base_ms = None;
        let mut position = 0u64;
        let mut batch_buf = Vec::new();
        let mut reason = None;
        // Bounded: each iteration advances by one whole batch.
        while position < self.size_bytes {
            let remaining = self.size_bytes - position;
            if remaining < BATCH_HEADER_BYTES as u64 {
                reason = Some(format!("{remaining} torn bytes"));
                break;
            }
            let header = self.read_header_in(&file, position)?;
            if let Err(e) = header.check_shape() {
                reason = Some(e.to_string());
                break;
            }
            let size = header.total_size();
            if size as u64 > remaining {
                reason = Some(format!("batch of {size} bytes torn after {remaining}"));
                break;
            }
            if header.base_offset < self.next_offset
                || header.last_offset() - self.base_offset > i64::from(u32::MAX)
            {
                reason = Some(format!(
                    "batch base offset {} out of order",
                    header.base_offset
                ));
                break;
            }
            batch_buf.resize(size, 0);
            let got = read_fully_at(&file, &mut batch_buf, position)
                .map_err(|e| LogError::io(self.log_path(), e))?;
            if got != size {
                reason = Some("short read".to_string());
                break;
            }
            if let Err(e) = batch::validate_batch(&batch_buf) {
                reason = Some(e.to_string());
                break;
            }
            self.index_batch(&header, position)?;
            position += size as u64;
        }
        drop(file);
        let truncated = self.size_bytes - position;
        if truncated > 0 {
            tracing::warn!(
                segment = %self.log_path().display(),
                position,
                truncated_bytes = truncated,
                reason = reason.as_deref().unwrap_or(""),
                "truncating invalid tail of log segment"
            );
            self.log_file.set_len(position)?;
            self.size_bytes = position;
        }
        if self.size_bytes > 0 {
            let first = self.read_header_at(0)?;
            self.roll_base_ms = Some(if first.max_timestamp >= 0 {
                first.max_timestamp
            } else {
                self.created_ms
            });
        }
        self.flush()?;
        Ok(truncated)
    }

    /// Index bookkeeping for one batch stored at `position` (which must be `size_bytes`
    /// before the batch was counted).
    fn index_batch(&mut self, header: &BatchHeader, position: u64) -> Result<(), LogError> {
        debug_assert!(
            header.base_offset >= self.next_offset,
            "offsets only grow within a segment"
        );
        if header.max_timestamp > self.max_timestamp {
            self.max_timestamp = header.max_timestamp;
            self.offset_of_max_timestamp = header.last_offset();
        }
        if self.bytes_since_last_index_entry > self.index_interval_bytes {
            self.offset_index.append(header.last_offset(), position)?;
            self.time_index
                .maybe_append(self.max_timestamp, self.offset_of_max_timestamp)?;
            self.bytes_since_last_index_entry = 0;
        }
        self.bytes_since_last_index_entry += header.total_size() as u64;
        self.next_offset = header.next_offset();
        Ok(())
    }

    /// Appends already-validated, already-rewritten batches (`records`, described by
    /// `headers`) at the end of the segment: one `pwrite`, then index bookkeeping.
    pub(crate) fn append(
        &mut self,
        records: &[u8],
        headers: &[BatchHeader],
    ) -> Result<(), LogError> {
        let position = self.size_bytes;
        self.write_at_end(records)?;
        self.on_appended(position, records.len() as u64, headers)
    }

    /// Writes `records` at the current end without publishing them (readers bound by
    /// `size_bytes` do not see them). On failure the file is cut back to its old size.
    pub(crate) fn write_at_end(&self, records: &[u8]) -> Result<(), LogError> {
        let position = self.size_bytes;
        if let Err(e) = self.log_file.write_all_at(records, position) {
            let _ = self.log_file.set_len(position);
            return Err(e);
        }
        Ok(())
    }

    /// Publishes batches written at `position` by [`Self::write_at_end`]: updates size,
    /// indexes, next offset and max timestamp. On an index write failure the log file is cut
    /// back to `position` and nothing is published.
    pub(crate) fn on_appended(
        &mut self,
        position: u64,
        bytes: u64,
        headers: &[BatchHeader],
    ) -> Result<(), LogError> {
        debug_assert_eq!(
            position, self.size_bytes,
            "appends go to the end of the segment"
        );
        let saved = (
            self.next_offset,
            self.max_timestamp,
            self.offset_of_max_timestamp,
            self.bytes_since_last_index_entry,
        );
        let mut batch_position = position;
        for header in headers {
            if let Err(e) = self.index_batch(header, batch_position) {
                (
                    self.next_offset,
                    self.max_timestamp,
                    self.offset_of_max_timestamp,
                    self.bytes_since_last_index_entry,
                ) = saved;
                let _ = self.offset_index.truncate_to_position(position);
                let _ = self.time_index.truncate_to_offset(saved.0);
                let _ = self.log_file.set_len(position);
                return Err(e);
            }
            batch_position += header.total_size() as u64;
        }
        debug_assert_eq!(
            batch_position,
            position + bytes,
            "headers must describe exactly the bytes written"
        );
        self.size_bytes = position + bytes;
        if self.roll_base_ms.is_none() && bytes > 0 {
            // Kafka's rollingBasedTimestamp: the first batch's max timestamp, else the
            // segment's creation time.
            self.roll_base_ms = Some(match headers.first() {
                Some(first) if first.max_timestamp >= 0 => first.max_timestamp,
                _ => self.created_ms,
            });
        }
        Ok(())
    }

    /// Cuts the segment before the first batch whose last offset is `>= offset` (a batch
    /// holding `offset` goes whole, as Kafka's `LogSegment.truncateTo`), with the index
    /// entries pointing at what was cut. Returns the segment's new next offset.
    pub(crate) fn truncate_to(&mut self, offset: i64) -> Result<i64, LogError> {
        let Some((position, header)) = self.translate_offset(offset)? else {
            return Ok(self.next_offset);
        };
        self.log_file.set_len(position)?;
        self.size_bytes = position;
        self.offset_index.truncate_to_position(position)?;
        self.time_index.truncate_to_offset(header.base_offset)?;
        self.next_offset = self.base_offset;
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = -1;
        self.roll_base_ms = None;
        if let Some(problem) = self.load_tail_state()? {
            tracing::warn!(segment = %self.log_path().display(), problem, "rebuilding indexes after truncation");
            self.recover()?;
        }
        Ok(self.next_offset)
    }

    /// Position and header of the first batch whose last offset is `>= offset`, if any.
    /// Index lookup, then a header scan forward (bounded by the segment size).
    pub(crate) fn translate_offset(
        &self,
        offset: i64,
    ) -> Result<Option<(u64, BatchHeader)>, LogError> {
        let (_, mut position) = self.offset_index.lookup(offset);
        if position + BATCH_HEADER_BYTES as u64 > self.size_bytes {
            return Ok(None);
        }
        let file = self.log_file.get()?;
        while position + BATCH_HEADER_BYTES as u64 <= self.size_bytes {
            let header = self.read_header_in(&file, position)?;
            if header.last_offset() >= offset {
                return Ok(Some((position, header)));
            }
            if header.batch_length < batch::BATCH_LENGTH_MIN {
                return Err(LogError::CorruptRecord(format!(
                    "bad batch length at position {position} of {}",
                    self.log_path().display()
                )));
            }
            position += header.total_size() as u64;
        }
        Ok(None)
    }

    /// Calls `f` with the header of every batch whose last offset is `>= offset`, in order
    /// (header reads only, bounded by the segment size); control batches (transaction
    /// markers, tiny and uncompressed) also come with their decoded control record.
    pub(crate) fn for_each_batch_with_markers_from(
        &self,
        offset: i64,
        mut f: impl FnMut(&BatchHeader, Option<batch::ControlRecord>),
    ) -> Result<(), LogError> {
        let Some((mut position, _)) = self.translate_offset(offset)? else {
            return Ok(());
        };
        let file = self.log_file.get()?;
        while position + BATCH_HEADER_BYTES as u64 <= self.size_bytes {
            let header = self.read_header_in(&file, position)?;
            if header.batch_length < batch::BATCH_LENGTH_MIN {
                return Err(LogError::CorruptRecord(format!(
                    "bad batch length at position {position} of {}",
                    self.log_path().display()
                )));
            }
            let control = if header.is_control() {
                let bytes = self.read_batch_in(&file, position, &header)?;
                Some(batch::parse_control_record(&bytes)?)
            } else {
                None
            };
            f(&header, control);
            position += header.total_size() as u64;
        }
        Ok(())
    }

    /// Plans a read of whole batches starting with the one containing `start_offset`.
    /// `None` when the segment has no batch at or after `start_offset`.
    pub(crate) fn read_plan(&self, start_offset: i64) -> Result<Option<ReadPlan>, LogError> {
        let Some((position, header)) = self.translate_offset(start_offset)? else {
            return Ok(None);
        };
        Ok(Some(ReadPlan {
            file: self.log_file.get()?,
            path: self.log_path().to_path_buf(),
            position,
            end_position: self.size_bytes,
            first_batch_bytes: header.total_size() as u64,
        }))
    }

    #[cfg(test)]
    /// Whole batches from the one containing `start_offset`; see [`ReadPlan::execute`].
    pub(super) fn read(
        &self,
        start_offset: i64,
        max_bytes: usize,
        max_offset_exclusive: i64,
        min_one_batch: bool,
    ) -> Result<Option<Bytes>, LogError> {
        match self.read_plan(start_offset)? {
            Some(plan) => plan
                .execute(max_bytes, max_offset_exclusive, min_one_batch)
                .map(Some),
            None => Ok(None),
        }
    }

    /// First record with timestamp `>= target_ms` and offset `>= start_offset`:
    /// `(offset, timestamp, partition leader epoch of its batch)`.
    pub(crate) fn find_offset_by_timestamp(
        &self,
        target_ms: i64,
        start_offset: i64,
    ) -> Result<Option<(i64, i64, i32)>, LogError> {
        if self.max_timestamp < target_ms {
            return Ok(None);
        }
        let from_offset = self.time_index.lookup_before(target_ms).max(start_offset);
        let (_, mut position) = self.offset_index.lookup(from_offset);
        if position + BATCH_HEADER_BYTES as u64 > self.size_bytes {
            return Ok(None);
        }
        let file = self.log_file.get()?;
        while position + BATCH_HEADER_BYTES as u64 <= self.size_bytes {
            let header = self.read_header_in(&file, position)?;
            if header.max_timestamp >= target_ms && header.last_offset() >= start_offset {
                let batch = self.read_batch_in(&file, position, &header)?;
                for (offset, timestamp) in batch::record_timestamps(&batch)? {
                    if timestamp >= target_ms && offset >= start_offset {
                        return Ok(Some((offset, timestamp, header.partition_leader_epoch)));
                    }
                }
            }
            if header.batch_length < batch::BATCH_LENGTH_MIN {
                return Err(LogError::CorruptRecord(format!(
                    "bad batch length at position {position} of {}",
                    self.log_path().display()
                )));
            }
            position += header.total_size() as u64;
        }
        Ok(None)
    }

    /// The first record carrying the segment's largest timestamp:
    /// `(offset, timestamp, partition leader epoch)`.
    pub(crate) fn max_timestamp_record(&self) -> Result<Option<(i64, i64, i32)>, LogError> {
        if self.offset_of_max_timestamp < 0 {
            return Ok(None);
        }
        let Some((position, header)) = self.translate_offset(self.offset_of_max_timestamp)? else {
            return Ok(None);
        };
        let batch = self.read_batch_in(&*self.log_file.get()?, position, &header)?;
        let found = batch::record_timestamps(&batch)?
            .into_iter()
            .find(|(_, ts)| *ts == self.max_timestamp)
            .map(|(offset, ts)| (offset, ts, header.partition_leader_epoch));
        Ok(found)
    }

    fn read_batch_in(
        &self,
        file: &File,
        position: u64,
        header: &BatchHeader,
    ) -> Result<Vec<u8>, LogError> {
        let mut buf = vec![0u8; header.total_size()];
        let got = read_fully_at(file, &mut buf, position)
            .map_err(|e| LogError::io(self.log_path(), e))?;
        if got != buf.len() {
            return Err(LogError::CorruptRecord(format!(
                "batch at position {position} of {} is torn",
                self.log_path().display()
            )));
        }
        Ok(buf)
    }

    /// fsync of the log file and both indexes — of those written since their last fsync:
    /// a clean file is not even opened.
    pub(crate) fn flush(&self) -> Result<(), LogError> {
        self.log_file.sync_data()?;
        self.offset_index.flush()?;
        self.time_index.flush()
    }

    /// Renames the three files to `*.deleted`, then removes them. (`file.delete.delay.ms`
    /// is not honoured yet: files are removed right away; open readers keep their inode.)
    pub(crate) fn delete(self) -> Result<(), LogError> {
        for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
            let path = segment_file(&self.dir, self.base_offset, suffix);
            let deleted = PathBuf::from(format!("{}{DELETED_SUFFIX}", path.display()));
            match std::fs::rename(&path, &deleted) {
                Ok(()) => std::fs::remove_file(&deleted).map_err(|e| LogError::io(&deleted, e))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io(&path, e)),
            }
        }
        Ok(())
    }

    /// The log file and the published size: enough to read the segment's batches without
    /// holding the log's lock (bytes below the size never change). The handle reopens the
    /// file by its path when the cache evicted it, so the reader must give up if the log
    /// changed meanwhile (the cleaner checks before it swaps).
    pub(crate) fn file_view(&self) -> (CachedFile, u64) {
        (self.log_file.clone(), self.size_bytes)
    }

    /// Handles of the log and both indexes, to fsync them without the log's lock
    /// ([`CachedFile::sync_data`] skips clean files).
    pub(crate) fn file_handles(&self) -> [CachedFile; 3] {
        [
            self.log_file.clone(),
            self.offset_index.file_handle(),
            self.time_index.file_handle(),
        ]
    }

    /// Sets the log file's modification time (cleaned segments keep their sources' age,
    /// which stands in for the largest timestamp of timestamp-less batches).
    pub(crate) fn set_created_ms(&mut self, created_ms: i64) {
        let time =
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(created_ms.max(0) as u64);
        if let Err(e) = self.log_file.get().and_then(|f| {
            f.set_modified(time)
                .map_err(|e| LogError::io(self.log_path(), e))
        }) {
            tracing::debug!(segment = %self.log_path().display(), error = %e, "cannot set segment mtime");
        }
        self.created_ms = created_ms;
    }

    pub(crate) fn created_ms(&self) -> i64 {
        self.created_ms
    }

    pub(crate) fn base_offset(&self) -> i64 {
        self.base_offset
    }
    pub(crate) fn size_bytes(&self) -> u64 {
        self.size_bytes
    }
    pub(crate) fn next_offset(&self) -> i64 {
        self.next_offset
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.size_bytes == 0
    }
    /// Largest timestamp for retention: max batch timestamp, or creation time if none.
    pub(crate) fn largest_timestamp(&self) -> i64 {
        if self.max_timestamp >= 0 {
            self.max_timestamp
        } else {
            self.created_ms
        }
    }
    pub(crate) fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }
    pub(crate) fn roll_base_ms(&self) -> Option<i64> {
        self.roll_base_ms
    }
    pub(crate) fn indexes_full(&self) -> bool {
        self.offset_index.is_full() || self.time_index.is_full()
    }
    /// Whether `offset` still fits the 32-bit relative offsets of the indexes.
    pub(crate) fn can_hold_offset(&self, offset: i64) -> bool {
        offset >= self.base_offset && offset - self.base_offset < i64::from(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::super::batch::test_support::batch;
    use super::*;

    fn config_small_index_interval() -> LogConfig {
        LogConfig {
            index_interval_bytes: 100,
            ..LogConfig::default()
        }
    }

    /// Appends `count` single-batch appends of 3 records each with timestamps 1000+i.
    fn fill(segment: &mut LogSegment, count: i64) -> Vec<Vec<u8>> {
        let mut written = Vec::new();
        for i in 0..count {
            let mut bytes = batch(3, 1_000 + i);
            let base = segment.next_offset();
            batch::rewrite_for_append(&mut bytes, base, 0, None);
            let headers = batch::validate_batches(&bytes, 1 << 20).unwrap();
            segment.append(&bytes, &headers).unwrap();
            written.push(bytes);
        }
        written
    }

    #[test]
    fn append_translate_read_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let files = FileCache::new(16);
        let config = config_small_index_interval();
        let mut segment = LogSegment::create(&files, dir.path(), 10, &config, 0).unwrap();
        let written = fill(&mut segment, 20);
        assert_eq!(segment.next_offset(), 70);
        assert!(
            segment.offset_index.len() > 3,
            "a small index interval must produce several entries"
        );

        let (position, header) = segment.translate_offset(41).unwrap().unwrap();
        assert_eq!(
            header.base_offset, 40,
            "offset 41 lives in the batch starting at 40"
        );
        assert_eq!(
            position,
            written[..10].iter().map(|b| b.len() as u64).sum::<u64>()
        );
        assert!(segment.translate_offset(70).unwrap().is_none());

        let read = segment
            .read(41, 2 * written[0].len(), i64::MAX, false)
            .unwrap()
            .unwrap();
        assert_eq!(
            read.as_ref(),
            [written[10].clone(), written[11].clone()].concat(),
            "two whole batches"
        );
        let read = segment.read(41, 10, i64::MAX, false).unwrap().unwrap();
        assert!(
            read.is_empty(),
            "a batch larger than max_bytes is not returned without min_one_batch"
        );
        let read = segment.read(41, 10, i64::MAX, true).unwrap().unwrap();
        assert_eq!(
            read.as_ref(),
            written[10].as_slice(),
            "min_one_batch returns the first batch whole"
        );
        let read = segment.read(41, 1 << 20, 46, false).unwrap().unwrap();
        assert_eq!(
            read.len(),
            written[10].len() + written[11].len(),
            "batches at or past the bound are cut"
        );

        let size = segment.size_bytes();
        drop(segment);
        let (segment, problem) = LogSegment::open(&files, dir.path(), 10, &config).unwrap();
        assert!(
            problem.is_none(),
            "a cleanly written segment must open without recovery: {problem:?}"
        );
        assert_eq!((segment.next_offset(), segment.size_bytes()), (70, size));
        assert_eq!(segment.max_timestamp(), 1_019);
        assert_eq!(
            segment.roll_base_ms(),
            Some(1_000),
            "loaded segments roll by their first batch's timestamp"
        );
    }

    #[test]
    fn recover_truncates_torn_tail_and_rebuilds_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let files = FileCache::new(16);
        let config = config_small_index_interval();
        let mut segment = LogSegment::create(&files, dir.path(), 0, &config, 0).unwrap();
        let written = fill(&mut segment, 10);
        let good_size = segment.size_bytes();
        drop(segment);
        let log_path = segment_file(dir.path(), 0, LOG_SUFFIX);
        let mut data = std::fs::read(&log_path).unwrap();
        data.extend_from_slice(&written[0][..30]);
        std::fs::write(&log_path, &data).unwrap();
        std::fs::write(segment_file(dir.path(), 0, INDEX_SUFFIX), b"junk").unwrap();

        let (mut segment, problem) = LogSegment::open(&files, dir.path(), 0, &config).unwrap();
        assert!(
            problem.is_some(),
            "torn tail plus junk index must ask for recovery"
        );
        let truncated = segment.recover().unwrap();
        assert_eq!(truncated, 30, "exactly the torn bytes are cut");
        assert_eq!(
            (segment.size_bytes(), segment.next_offset()),
            (good_size, 30)
        );
        assert_eq!(std::fs::metadata(&log_path).unwrap().len(), good_size);
        let (_, header) = segment.translate_offset(25).unwrap().unwrap();
        assert_eq!(header.base_offset, 24);
    }

    #[test]
    fn finds_offsets_by_timestamp() {
        let dir = tempfile::tempdir().unwrap();
        let files = FileCache::new(16);
        let config = config_small_index_interval();
        let mut segment = LogSegment::create(&files, dir.path(), 0, &config, 0).unwrap();
        fill(&mut segment, 10);
        assert_eq!(
            segment
                .find_offset_by_timestamp(1_004, 0)
                .unwrap()
                .map(|f| f.0),
            Some(12)
        );
        assert_eq!(
            segment.find_offset_by_timestamp(0, 0).unwrap().map(|f| f.0),
            Some(0)
        );
        assert_eq!(
            segment.find_offset_by_timestamp(0, 7).unwrap().map(|f| f.0),
            Some(7)
        );
        assert_eq!(segment.find_offset_by_timestamp(2_000, 0).unwrap(), None);
        assert_eq!(
            segment.max_timestamp_record().unwrap().map(|f| (f.0, f.1)),
            Some((27, 1_009))
        );
    }
}
