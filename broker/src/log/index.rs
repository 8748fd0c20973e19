//! `OffsetIndex` and `TimeIndex`: sparse indexes beside each segment.
//!
//! File formats are Kafka's: `.index` holds 8-byte entries (relative offset u32, file
//! position u32), `.timeindex` 12-byte entries (timestamp i64, relative offset u32), all
//! big-endian. Unlike Kafka the files are not preallocated or memory-mapped: entries live
//! in a `Vec` and each new entry is appended to the file with one `pwrite` (one entry per
//! `index.interval.bytes` of log, so ~1 syscall per 4 KiB appended by default). The files
//! are opened through the [`FileCache`] only to be written or fsynced, so an idle index
//! holds no descriptor; loading reads a file once (an empty one is only `stat`ed).
//!
//! An index is only a hint: whenever it looks wrong the segment rebuilds it from the log.

use std::fs::OpenOptions;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use super::file_cache::{CachedFile, FileCache};
use super::LogError;

pub(crate) const OFFSET_ENTRY_BYTES: usize = 8;
pub(crate) const TIME_ENTRY_BYTES: usize = 12;

/// Shared file handling of both index kinds. The file is opened through the [`FileCache`]
/// only to append, truncate or fsync; loading reads it once through a short-lived
/// descriptor (and an empty or missing index not even that).
#[derive(Debug)]
struct IndexFile {
    file: CachedFile,
    entry_bytes: usize,
    entries_max: usize,
}

impl IndexFile {
    /// Loads an existing index (creating an empty file if missing): the handle, the raw
    /// contents and whether it existed.
    fn open(
        files: &Arc<FileCache>,
        path: &Path,
        entry_bytes: usize,
        index_bytes_max: u64,
    ) -> Result<(Self, Vec<u8>, bool), LogError> {
        let (raw, existed) = match std::fs::metadata(path) {
            Ok(metadata) if metadata.len() == 0 => (Vec::new(), true),
            Ok(_) => {
                let mut raw = Vec::new();
                files
                    .open_uncached(path, OpenOptions::new().read(true))?
                    .read_to_end(&mut raw)
                    .map_err(|e| LogError::io(path, e))?;
                (raw, true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                files.open_uncached(path, OpenOptions::new().write(true).create(true))?;
                (Vec::new(), false)
            }
            Err(e) => return Err(LogError::io(path, e)),
        };
        Ok((
            Self::handle(files, path, entry_bytes, index_bytes_max),
            raw,
            existed,
        ))
    }

    /// Creates an empty index file (truncating a stale one of the same name).
    fn create(
        files: &Arc<FileCache>,
        path: &Path,
        entry_bytes: usize,
        index_bytes_max: u64,
    ) -> Result<Self, LogError> {
        files.open_uncached(
            path,
            OpenOptions::new().write(true).create(true).truncate(true),
        )?;
        Ok(Self::handle(files, path, entry_bytes, index_bytes_max))
    }

    fn handle(
        files: &Arc<FileCache>,
        path: &Path,
        entry_bytes: usize,
        index_bytes_max: u64,
    ) -> Self {
        Self {
            file: files.handle(path.to_path_buf()),
            entry_bytes,
            entries_max: ((index_bytes_max as usize) / entry_bytes).max(1),
        }
    }

    /// Appends one entry at slot `slot`; on failure the file is cut back to `slot` entries.
    fn write_entry(&self, slot: usize, entry: &[u8]) -> Result<(), LogError> {
        debug_assert_eq!(entry.len(), self.entry_bytes);
        let position = (slot * self.entry_bytes) as u64;
        if let Err(e) = self.file.write_all_at(entry, position) {
            let _ = self.file.set_len(position);
            return Err(e);
        }
        Ok(())
    }

    fn set_entries(&self, count: usize) -> Result<(), LogError> {
        self.file.set_len((count * self.entry_bytes) as u64)
    }

    fn flush(&self) -> Result<(), LogError> {
        self.file.sync_data()
    }

    fn mark_dirty(&self) {
        self.file.mark_dirty();
    }
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Offset → file position, sparse. Each entry is (last offset of a batch, position of that
/// batch), as Kafka writes it; lookups return the largest entry `<=` the target.
#[derive(Debug)]
pub(crate) struct OffsetIndex {
    base_offset: i64,
    file: IndexFile,
    entries: Vec<(u32, u32)>,
}

impl OffsetIndex {
    /// Loads `path` (created if missing). The second value is `Some(reason)` when the file
    /// was missing or malformed; the index is then empty and must be rebuilt from the log.
    pub(crate) fn open(
        files: &Arc<FileCache>,
        path: &Path,
        base_offset: i64,
        index_bytes_max: u64,
        log_size: u64,
    ) -> Result<(Self, Option<String>), LogError> {
        let (file, raw, existed) =
            IndexFile::open(files, path, OFFSET_ENTRY_BYTES, index_bytes_max)?;
        let mut index = Self {
            base_offset,
            file,
            entries: Vec::new(),
        };
        let problem = if !existed {
            Some("offset index missing".to_string())
        } else if raw.len() % OFFSET_ENTRY_BYTES != 0 {
            Some(format!(
                "offset index length {} is not a multiple of {OFFSET_ENTRY_BYTES}",
                raw.len()
            ))
        } else {
            let entries: Vec<(u32, u32)> = raw
                .chunks_exact(OFFSET_ENTRY_BYTES)
                .map(|c| (be_u32(&c[0..4]), be_u32(&c[4..8])))
                .collect();
            let monotonic = entries
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1);
            let inside_log = entries.last().is_none_or(|e| u64::from(e.1) < log_size);
            if !monotonic {
                Some("offset index entries are not increasing".to_string())
            } else if !inside_log {
                Some(format!(
                    "offset index points past the end of the log ({log_size} bytes)"
                ))
            } else {
                index.entries = entries;
                None
            }
        };
        if problem.is_some() && !raw.is_empty() {
            index.reset()?;
        }
        Ok((index, problem))
    }

    /// A new, empty index at `path` (a stale file of that name is truncated).
    pub(crate) fn create(
        files: &Arc<FileCache>,
        path: &Path,
        base_offset: i64,
        index_bytes_max: u64,
    ) -> Result<Self, LogError> {
        Ok(Self {
            base_offset,
            file: IndexFile::create(files, path, OFFSET_ENTRY_BYTES, index_bytes_max)?,
            entries: Vec::new(),
        })
    }

    /// Appends `(offset, position)`; skipped when full or not beyond the last entry.
    pub(crate) fn append(&mut self, offset: i64, position: u64) -> Result<(), LogError> {
        let relative = offset - self.base_offset;
        debug_assert!(
            relative >= 0 && relative <= i64::from(u32::MAX),
            "offset outside the segment's range"
        );
        let (relative, position) = (relative as u32, position as u32);
        if self.is_full()
            || self
                .entries
                .last()
                .is_some_and(|e| e.0 >= relative || e.1 >= position)
        {
            return Ok(());
        }
        let mut entry = [0u8; OFFSET_ENTRY_BYTES];
        entry[0..4].copy_from_slice(&relative.to_be_bytes());
        entry[4..8].copy_from_slice(&position.to_be_bytes());
        self.file.write_entry(self.entries.len(), &entry)?;
        self.entries.push((relative, position));
        Ok(())
    }

    /// Largest entry with offset `<= target` as `(offset, position)`; `(base, 0)` if none.
    pub(crate) fn lookup(&self, target_offset: i64) -> (i64, u64) {
        let slot = self
            .entries
            .partition_point(|e| self.base_offset + i64::from(e.0) <= target_offset);
        match slot.checked_sub(1).map(|s| self.entries[s]) {
            Some((relative, position)) => {
                (self.base_offset + i64::from(relative), u64::from(position))
            }
            None => (self.base_offset, 0),
        }
    }

    pub(crate) fn last_entry(&self) -> Option<(i64, u64)> {
        self.entries
            .last()
            .map(|e| (self.base_offset + i64::from(e.0), u64::from(e.1)))
    }

    /// Drops every entry whose position is `>= position` (the log is cut there).
    pub(crate) fn truncate_to_position(&mut self, position: u64) -> Result<(), LogError> {
        let keep = self.entries.partition_point(|e| u64::from(e.1) < position);
        self.file.set_entries(keep)?;
        self.entries.truncate(keep);
        Ok(())
    }

    pub(crate) fn reset(&mut self) -> Result<(), LogError> {
        self.file.set_entries(0)?;
        self.entries.clear();
        Ok(())
    }

    pub(crate) fn is_full(&self) -> bool {
        self.entries.len() >= self.file.entries_max
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn flush(&self) -> Result<(), LogError> {
        self.file.flush()
    }

    /// The next flush must fsync the file (it was written by an earlier process).
    pub(crate) fn mark_dirty(&self) {
        self.file.mark_dirty();
    }

    /// The file's handle (fsync outside the log's locks).
    pub(crate) fn file_handle(&self) -> CachedFile {
        self.file.file.clone()
    }
}

/// Timestamp → offset, sparse. Each entry is (max timestamp so far, last offset of the
/// batch that reached it); timestamps and offsets strictly increase.
#[derive(Debug)]
pub(crate) struct TimeIndex {
    base_offset: i64,
    file: IndexFile,
    entries: Vec<(i64, u32)>,
}

impl TimeIndex {
    /// Loads `path` (created if missing); `Some(reason)` means empty, rebuild from the log.
    pub(crate) fn open(
        files: &Arc<FileCache>,
        path: &Path,
        base_offset: i64,
        index_bytes_max: u64,
    ) -> Result<(Self, Option<String>), LogError> {
        let (file, raw, existed) = IndexFile::open(files, path, TIME_ENTRY_BYTES, index_bytes_max)?;
        let mut index = Self {
            base_offset,
            file,
            entries: Vec::new(),
        };
        let problem = if !existed {
            Some("time index missing".to_string())
        } else if raw.len() % TIME_ENTRY_BYTES != 0 {
            Some(format!(
                "time index length {} is not a multiple of {TIME_ENTRY_BYTES}",
                raw.len()
            ))
        } else {
            let entries: Vec<(i64, u32)> = raw
                .chunks_exact(TIME_ENTRY_BYTES)
                .map(|c| {
                    let mut ts = [0u8; 8];
                    ts.copy_from_slice(&c[0..8]);
                    (i64::from_be_bytes(ts), be_u32(&c[8..12]))
                })
                .collect();
            if entries
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1)
            {
                index.entries = entries;
                None
            } else {
                Some("time index entries are not increasing".to_string())
            }
        };
        if problem.is_some() && !raw.is_empty() {
            index.reset()?;
        }
        Ok((index, problem))
    }

    /// A new, empty index at `path` (a stale file of that name is truncated).
    pub(crate) fn create(
        files: &Arc<FileCache>,
        path: &Path,
        base_offset: i64,
        index_bytes_max: u64,
    ) -> Result<Self, LogError> {
        Ok(Self {
            base_offset,
            file: IndexFile::create(files, path, TIME_ENTRY_BYTES, index_bytes_max)?,
            entries: Vec::new(),
        })
    }

    /// Appends `(timestamp, offset)` if the timestamp is larger than the last entry's.
    pub(crate) fn maybe_append(&mut self, timestamp: i64, offset: i64) -> Result<(), LogError> {
        let relative = offset - self.base_offset;
        debug_assert!(
            relative >= 0 && relative <= i64::from(u32::MAX),
            "offset outside the segment's range"
        );
        let relative = relative as u32;
        if self.is_full()
            || self
                .entries
                .last()
                .is_some_and(|e| e.0 >= timestamp || e.1 >= relative)
        {
            return Ok(());
        }
        let mut entry = [0u8; TIME_ENTRY_BYTES];
        entry[0..8].copy_from_slice(&timestamp.to_be_bytes());
        entry[8..12].copy_from_slice(&relative.to_be_bytes());
        self.file.write_entry(self.entries.len(), &entry)?;
        self.entries.push((timestamp, relative));
        Ok(())
    }

    /// Offset of the largest entry with timestamp strictly `< target`, else the base
    /// offset: every record up to that offset is older than `target`.
    pub(crate) fn lookup_before(&self, target_ms: i64) -> i64 {
        let slot = self.entries.partition_point(|e| e.0 < target_ms);
        match slot.checked_sub(1) {
            Some(s) => self.base_offset + i64::from(self.entries[s].1),
            None => self.base_offset,
        }
    }

    /// `(timestamp, offset)` of the last entry.
    pub(crate) fn last_entry(&self) -> Option<(i64, i64)> {
        self.entries
            .last()
            .map(|e| (e.0, self.base_offset + i64::from(e.1)))
    }

    /// Drops every entry with offset `>= offset`.
    pub(crate) fn truncate_to_offset(&mut self, offset: i64) -> Result<(), LogError> {
        let keep = self
            .entries
            .partition_point(|e| self.base_offset + i64::from(e.1) < offset);
        self.file.set_entries(keep)?;
        self.entries.truncate(keep);
        Ok(())
    }

    pub(crate) fn reset(&mut self) -> Result<(), LogError> {
        self.file.set_entries(0)?;
        self.entries.clear();
        Ok(())
    }

    pub(crate) fn is_full(&self) -> bool {
        self.entries.len() >= self.file.entries_max
    }

    pub(crate) fn flush(&self) -> Result<(), LogError> {
        self.file.flush()
    }

    /// The next flush must fsync the file (it was written by an earlier process).
    pub(crate) fn mark_dirty(&self) {
        self.file.mark_dirty();
    }

    /// The file's handle (fsync outside the log's locks).
    pub(crate) fn file_handle(&self) -> CachedFile {
        self.file.file.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_index_round_trips_and_looks_up_floor_entries() {
        let dir = tempfile::tempdir().unwrap();
        let files = FileCache::new(16);
        let path = dir.path().join("00000000000000000100.index");
        let (mut index, problem) = OffsetIndex::open(&files, &path, 100, 1024, 0).unwrap();
        assert_eq!(problem.as_deref(), Some("offset index missing"));
        index.append(109, 0).unwrap();
        index.append(119, 4096).unwrap();
        index.append(115, 5000).unwrap(); // not increasing: ignored
        assert_eq!(
            index.lookup(99),
            (100, 0),
            "below the first entry means the segment start"
        );
        assert_eq!(index.lookup(109), (109, 0));
        assert_eq!(index.lookup(118), (109, 0));
        assert_eq!(index.lookup(500), (119, 4096));
        drop(index);

        let (index, problem) = OffsetIndex::open(&files, &path, 100, 1024, 8192).unwrap();
        assert!(
            problem.is_none(),
            "a well-formed index must load: {problem:?}"
        );
        assert_eq!(index.last_entry(), Some((119, 4096)));

        let (index, problem) = OffsetIndex::open(&files, &path, 100, 1024, 4096).unwrap();
        assert!(
            problem.is_some(),
            "an entry pointing at the log end must be rejected"
        );
        assert_eq!(index.len(), 0);
    }

    #[test]
    fn garbage_index_files_are_reported_and_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let files = FileCache::new(16);
        let path = dir.path().join("x.index");
        std::fs::write(&path, b"garbage!!").unwrap();
        let (index, problem) = OffsetIndex::open(&files, &path, 0, 1024, 1 << 20).unwrap();
        assert!(problem.unwrap().contains("multiple"));
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            0,
            "a corrupt index file must be emptied"
        );
        assert_eq!(index.len(), 0);

        std::fs::write(&path, [0, 0, 0, 5, 0, 0, 0, 9, 0, 0, 0, 4, 0, 0, 0, 10]).unwrap();
        let (_, problem) = OffsetIndex::open(&files, &path, 0, 1024, 1 << 20).unwrap();
        assert!(problem.unwrap().contains("not increasing"));
    }

    #[test]
    fn time_index_keeps_increasing_timestamps_and_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let files = FileCache::new(16);
        let path = dir.path().join("0.timeindex");
        let (mut index, _) = TimeIndex::open(&files, &path, 0, 36).unwrap();
        index.maybe_append(1_000, 4).unwrap();
        index.maybe_append(900, 9).unwrap(); // older: skipped
        index.maybe_append(2_000, 9).unwrap();
        index.maybe_append(3_000, 14).unwrap();
        assert!(index.is_full(), "36 bytes hold three entries");
        assert_eq!(index.lookup_before(1_000), 0);
        assert_eq!(index.lookup_before(1_001), 4);
        assert_eq!(index.lookup_before(10_000), 14);
        index.truncate_to_offset(9).unwrap();
        assert_eq!(index.last_entry(), Some((1_000, 4)));
        drop(index);
        let (index, problem) = TimeIndex::open(&files, &path, 0, 36).unwrap();
        assert!(problem.is_none());
        assert_eq!(index.last_entry(), Some((1_000, 4)));
    }
}
