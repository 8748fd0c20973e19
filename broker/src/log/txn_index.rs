//! Aborted-transaction index: Kafka's `<base offset>.txnindex`, one per segment.
//!
//! Each entry (34 bytes, big-endian) is version i16 (0) | producer_id i64 | first_offset i64 |
//! last_offset i64 | last_stable_offset i64: an aborted transaction of `producer_id` spanning
//! `[first_offset, last_offset]` (the last offset is the ABORT marker's), and the partition's
//! last stable offset once it completed. An entry lives in the index of the segment holding
//! its marker. read_committed fetches return the entries overlapping the fetched range
//! ([`TxnIndexes::collect_aborted`], Kafka's `collectAbortedTransactions`) so clients can drop
//! aborted records.
//!
//! Entries are kept in memory per segment and appended to the segment's file when an ABORT
//! marker is written (files are created on the first entry). Crash safety: on open the log
//! rebuilds every entry whose marker lies after its producer-state snapshot by replaying the
//! log ([`TxnIndexes::replace_from`]); entries before it were written before the snapshot. A
//! torn last entry is dropped when loading.
//!
//! The log cleaner rewrites the index of a cleaned segment group: it keeps the entries whose
//! ABORT marker survives the cleaning and writes them as `<base>.txnindex.cleaned` (also when
//! empty), which moves through `.swap` to its final name with the segment's other files
//! ([`write_cleaned_index`], [`TxnIndexes::replace_segments`]).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::checkpoint::write_atomically;
use super::LogError;

pub(crate) const TXN_INDEX_SUFFIX: &str = ".txnindex";
const ENTRY_BYTES: usize = 34;
const ENTRY_VERSION: i16 = 0;

/// One aborted transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    fn encode(&self) -> [u8; ENTRY_BYTES] {
        let mut b = [0u8; ENTRY_BYTES];
        b[0..2].copy_from_slice(&ENTRY_VERSION.to_be_bytes());
        b[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        b[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        b[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        b[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<Self> {
        let i64_at = |at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[at..at + 8]);
            i64::from_be_bytes(a)
        };
        if b.len() < ENTRY_BYTES || i16::from_be_bytes([b[0], b[1]]) != ENTRY_VERSION {
            return None;
        }
        Some(Self {
            producer_id: i64_at(2),
            first_offset: i64_at(10),
            last_offset: i64_at(18),
            last_stable_offset: i64_at(26),
        })
    }
}

pub(crate) fn txn_index_file(dir: &Path, base_offset: i64) -> PathBuf {
    dir.join(format!("{base_offset:020}{TXN_INDEX_SUFFIX}"))
}

/// The aborted-transaction indexes of one log, by segment base offset. Not synchronized:
/// the log holds it under a mutex and mutates it only under its append lock.
#[derive(Debug, Default)]
pub(crate) struct TxnIndexes {
    dir: PathBuf,
    by_segment: BTreeMap<i64, Vec<AbortedTxn>>,
}

impl TxnIndexes {
    /// Loads the `.txnindex` files of `segment_bases`; files of other segments are removed.
    pub(crate) fn load(dir: &Path, segment_bases: &[i64]) -> Result<Self, LogError> {
        let mut by_segment = BTreeMap::new();
        let entries = std::fs::read_dir(dir).map_err(|e| LogError::io(dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| LogError::io(dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(base) = name
                .strip_suffix(TXN_INDEX_SUFFIX)
                .filter(|s| s.len() == 20)
                .and_then(|s| s.parse::<i64>().ok())
            else {
                continue;
            };
            let path = entry.path();
            if !segment_bases.contains(&base) {
                tracing::info!(file = %path.display(), "removing transaction index without a log file");
                remove_file(&path);
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|e| LogError::io(&path, e))?;
            let mut list = Vec::with_capacity(bytes.len() / ENTRY_BYTES);
            for chunk in bytes.chunks_exact(ENTRY_BYTES) {
                match AbortedTxn::decode(chunk) {
                    Some(entry) => list.push(entry),
                    None => break,
                }
            }
            if list.len() * ENTRY_BYTES != bytes.len() {
                tracing::warn!(file = %path.display(), entries = list.len(), bytes = bytes.len(), "transaction index has a torn or unreadable tail; keeping the whole entries");
                write_entries(&path, &list)?;
            }
            if !list.is_empty() {
                by_segment.insert(base, list);
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            by_segment,
        })
    }

    /// Appends an entry to the index of the segment at `segment_base`: in memory always
    /// (readers must see it), then to the file (an error there is repaired by the replay at
    /// the next open, the marker being in the log).
    pub(crate) fn append(&mut self, segment_base: i64, entry: AbortedTxn) -> Result<(), LogError> {
        self.by_segment.entry(segment_base).or_default().push(entry);
        let path = txn_index_file(&self.dir, segment_base);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| LogError::io(&path, e))?;
        file.write_all(&entry.encode())
            .map_err(|e| LogError::io(&path, e))
    }

    /// Replaces every entry whose marker is at or after `from_offset` by `rebuilt` (entries
    /// found by replaying the log from there, each with the base of its marker's segment).
    /// Files are rewritten only where the content changes.
    pub(crate) fn replace_from(
        &mut self,
        from_offset: i64,
        rebuilt: Vec<(i64, AbortedTxn)>,
    ) -> Result<(), LogError> {
        let mut wanted: BTreeMap<i64, Vec<AbortedTxn>> = BTreeMap::new();
        for (base, list) in &self.by_segment {
            let kept: Vec<AbortedTxn> = list
                .iter()
                .filter(|e| e.last_offset < from_offset)
                .copied()
                .collect();
            wanted.insert(*base, kept);
        }
        for (base, entry) in rebuilt {
            wanted.entry(base).or_default().push(entry);
        }
        for (base, list) in wanted {
            let current = self.by_segment.get(&base).map(Vec::as_slice).unwrap_or(&[]);
            if current == list.as_slice() {
                continue;
            }
            let path = txn_index_file(&self.dir, base);
            if list.is_empty() {
                remove_file(&path);
                self.by_segment.remove(&base);
            } else {
                write_entries(&path, &list)?;
                self.by_segment.insert(base, list);
            }
        }
        Ok(())
    }

    /// The entries of the segments `segment_bases`, in marker order.
    pub(crate) fn entries_of_segments(&self, segment_bases: &[i64]) -> Vec<AbortedTxn> {
        self.by_segment
            .iter()
            .filter(|(base, _)| segment_bases.contains(base))
            .flat_map(|(_, list)| list.iter().copied())
            .collect()
    }

    /// After the cleaner replaced the segments `old_bases` by one segment at `new_base` (whose
    /// `.txnindex` the log renamed into place): `entries` become that segment's, and the
    /// entries and files of the other replaced segments go.
    pub(crate) fn replace_segments(
        &mut self,
        old_bases: &[i64],
        new_base: i64,
        entries: Vec<AbortedTxn>,
    ) {
        for base in old_bases {
            self.by_segment.remove(base);
            if *base != new_base {
                remove_file(&txn_index_file(&self.dir, *base));
            }
        }
        if !entries.is_empty() {
            self.by_segment.insert(new_base, entries);
        }
    }

    /// Forgets (and deletes the files of) segments not in `segment_bases`.
    pub(crate) fn retain_segments(&mut self, segment_bases: &[i64]) {
        let gone: Vec<i64> = self
            .by_segment
            .keys()
            .filter(|b| !segment_bases.contains(b))
            .copied()
            .collect();
        for base in gone {
            self.by_segment.remove(&base);
            remove_file(&txn_index_file(&self.dir, base));
        }
    }

    /// Aborted transactions overlapping `[start_offset, upper_bound_offset)`, in marker
    /// order: entries with `last_offset >= start_offset` and `first_offset <
    /// upper_bound_offset`, from the segment holding `start_offset` on. Stops at the first
    /// entry whose last stable offset reaches the upper bound: no transaction aborted later
    /// can have started below it (it would have held the LSO down).
    pub(crate) fn collect_aborted(
        &self,
        start_offset: i64,
        upper_bound_offset: i64,
    ) -> Vec<AbortedTxn> {
        let from = self
            .by_segment
            .range(..=start_offset)
            .next_back()
            .map(|(b, _)| *b)
            .unwrap_or(i64::MIN);
        let mut found = Vec::new();
        for list in self.by_segment.range(from..).map(|(_, l)| l) {
            for entry in list {
                if entry.last_offset >= start_offset && entry.first_offset < upper_bound_offset {
                    found.push(*entry);
                }
                if entry.last_stable_offset >= upper_bound_offset {
                    return found;
                }
            }
        }
        found
    }
}

/// Writes (and fsyncs) a cleaned segment's index at `path` (a `.cleaned` name: the file only
/// counts once renamed, so it is written in place, not via a temporary file).
pub(crate) fn write_cleaned_index(path: &Path, entries: &[AbortedTxn]) -> Result<(), LogError> {
    let mut bytes = Vec::with_capacity(entries.len() * ENTRY_BYTES);
    for entry in entries {
        bytes.extend_from_slice(&entry.encode());
    }
    let mut file = std::fs::File::create(path).map_err(|e| LogError::io(path, e))?;
    file.write_all(&bytes).map_err(|e| LogError::io(path, e))?;
    file.sync_all().map_err(|e| LogError::io(path, e))
}

fn write_entries(path: &Path, entries: &[AbortedTxn]) -> Result<(), LogError> {
    let mut bytes = Vec::with_capacity(entries.len() * ENTRY_BYTES);
    for entry in entries {
        bytes.extend_from_slice(&entry.encode());
    }
    write_atomically(path, &bytes)
}

fn remove_file(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(file = %path.display(), error = %e, "cannot remove transaction index");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(producer_id: i64, first: i64, last: i64, lso: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id,
            first_offset: first,
            last_offset: last,
            last_stable_offset: lso,
        }
    }

    #[test]
    fn entries_persist_in_kafka_format_and_torn_tails_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = TxnIndexes::load(dir.path(), &[0, 100]).unwrap();
        index.append(0, txn(7, 3, 9, 10)).unwrap();
        index.append(100, txn(8, 90, 120, 121)).unwrap();
        let bytes = std::fs::read(txn_index_file(dir.path(), 0)).unwrap();
        assert_eq!(bytes.len(), 34, "one entry is 34 bytes");
        assert_eq!(&bytes[0..2], &[0, 0], "version 0");
        assert_eq!(&bytes[2..10], &7i64.to_be_bytes(), "producer id");
        // A torn second entry in segment 0's file is dropped on load.
        let mut torn = bytes.clone();
        torn.extend_from_slice(&[0u8; 10]);
        std::fs::write(txn_index_file(dir.path(), 0), &torn).unwrap();
        let loaded = TxnIndexes::load(dir.path(), &[0, 100]).unwrap();
        assert_eq!(loaded.by_segment, index.by_segment);
        assert_eq!(
            std::fs::read(txn_index_file(dir.path(), 0)).unwrap().len(),
            34
        );
        // A file without a segment is removed.
        let orphan = TxnIndexes::load(dir.path(), &[100]).unwrap();
        assert!(!txn_index_file(dir.path(), 0).exists());
        assert_eq!(orphan.by_segment.len(), 1);
    }

    #[test]
    fn collect_replace_and_retain() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = TxnIndexes::load(dir.path(), &[]).unwrap();
        index.append(0, txn(1, 0, 5, 6)).unwrap();
        index.append(0, txn(2, 4, 20, 21)).unwrap();
        index.append(50, txn(3, 55, 60, 61)).unwrap();
        let pids = |v: Vec<AbortedTxn>| v.iter().map(|e| e.producer_id).collect::<Vec<_>>();
        assert_eq!(pids(index.collect_aborted(0, 3)), vec![1]);
        assert_eq!(pids(index.collect_aborted(6, 30)), vec![2]);
        assert_eq!(pids(index.collect_aborted(0, 100)), vec![1, 2, 3]);
        assert_eq!(pids(index.collect_aborted(56, 100)), vec![3]);
        assert!(index.collect_aborted(61, 100).is_empty());

        index
            .replace_from(10, vec![(50, txn(9, 12, 58, 59))])
            .unwrap();
        assert_eq!(pids(index.collect_aborted(0, 100)), vec![1, 9]);
        let reloaded = TxnIndexes::load(dir.path(), &[0, 50]).unwrap();
        assert_eq!(reloaded.by_segment, index.by_segment);

        index.retain_segments(&[50]);
        assert!(!txn_index_file(dir.path(), 0).exists());
        assert_eq!(pids(index.collect_aborted(0, 100)), vec![9]);
    }
}
