//! `FileCache`: the one process-wide, bounded cache of open segment and index files.
//!
//! A segment's `.log`, `.index` and `.timeindex` are opened when used (append, read,
//! flush) and closed when the cache evicts them, least recently used first. Descriptors
//! therefore no longer grow with partitions: an idle partition holds none, a busy one keeps
//! its active segment's files open because it keeps using them, and starting a broker
//! needs no more descriptors than running it (Kafka keeps every segment's files open and
//! maps its indexes lazily; ten thousand partitions then need tens of thousands of
//! descriptors, and a restart fails at a limit the running broker never reached).
//!
//! Rules every user of the cache follows:
//! - A [`CachedFile`] names one file *instance* (a unique key, not its path), so a handle
//!   never reaches a later file that reuses the name (a truncation recreating a segment, a
//!   cleaned segment renamed into place). Dropping its last clone closes its descriptor.
//!   The owner guarantees the path still names that file whenever it calls `get`: segments
//!   open their files only while they are part of their log (under the log's locks).
//! - The `Arc<File>` returned by [`CachedFile::get`] is held for one operation (a `pread`
//!   loop, a `pwrite`, an fsync) and then dropped. An eviction meanwhile only drops the
//!   cache's reference; the descriptor closes when the operation ends. Descriptors open are
//!   thus at most the capacity plus the operations in flight (bounded by the blocking pool).
//! - Eviction closes without fsync, as Kafka closes files. No acknowledged write is lost:
//!   it is in the page cache, which belongs to the inode, not to the descriptor, and kill -9
//!   keeps it. Durability is the recovery point's business, and the recovery point moves
//!   only after an fsync ([`CachedFile::sync_data`]); an fsync through any descriptor of the
//!   inode writes back all of its dirty pages, and a write-back error that no descriptor has
//!   seen yet is reported to the next fsync, also through a newly opened one (Linux ≥ 4.16).
//! - A per-file `dirty` flag (set after every write, cleared just before an fsync, restored
//!   if the fsync fails) lets flushes skip files with nothing to sync, so a clean shutdown
//!   of a broker with many idle partitions does not reopen all their files.
//! - `EMFILE`/`ENFILE` on open (sockets and other files took more than the reserve): the
//!   cache closes a quarter of its descriptors and tries again, a bounded number of times,
//!   so storage gives way to connections instead of failing.
//!
//! Napkin math: a hit is one uncontended mutex and an `Arc` clone (~50 ns) per operation;
//! a miss adds `open` + later `close` (~2–5 µs). One cache-resident file costs one
//! descriptor and ~100 bytes of map entry; a handle not in the cache costs no descriptor.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use lru::LruCache;

use super::LogError;

/// Descriptors kept free for sockets, checkpoints, the metadata log, directory fsyncs and
/// the like when the capacity is derived from the open-files limit: a quarter of the limit,
/// within these bounds.
pub(crate) const RESERVE_MIN: u64 = 64;
pub(crate) const RESERVE_MAX: u64 = 4096;
/// The cache never holds fewer than this many files (below it every append would reopen).
pub(crate) const CAPACITY_MIN: usize = 16;
/// Opens retried after shedding descriptors on `EMFILE`/`ENFILE`.
const OPEN_ATTEMPTS_MAX: u32 = 4;

/// Counters of the cache (logged at start-up, read by tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileCacheStats {
    pub capacity: usize,
    /// Files the cache holds open right now.
    pub open: usize,
    /// Opens since the cache was created (misses).
    pub opened_total: u64,
    /// Files closed because the cache was full or descriptors ran out.
    pub evicted_total: u64,
}

#[derive(Debug)]
struct CacheState {
    /// Unbounded map, bounded by `FileCache::capacity` on insert (the `lru` crate's bounded
    /// constructor preallocates its whole capacity).
    open: LruCache<u64, Arc<File>>,
    opened_total: u64,
    evicted_total: u64,
}

/// The bounded set of open segment and index files (see the module docs).
#[derive(Debug)]
pub(crate) struct FileCache {
    capacity: usize,
    state: Mutex<CacheState>,
    next_key: AtomicU64,
}

impl FileCache {
    /// A cache holding at most `capacity` files open (at least [`CAPACITY_MIN`]).
    pub(crate) fn new(capacity: usize) -> Arc<FileCache> {
        Arc::new(FileCache {
            capacity: capacity.max(CAPACITY_MIN),
            state: Mutex::new(CacheState {
                open: LruCache::unbounded(),
                opened_total: 0,
                evicted_total: 0,
            }),
            next_key: AtomicU64::new(0),
        })
    }

    pub(crate) fn stats(&self) -> FileCacheStats {
        let state = self.lock();
        FileCacheStats {
            capacity: self.capacity,
            open: state.open.len(),
            opened_total: state.opened_total,
            evicted_total: state.evicted_total,
        }
    }

    fn lock(&self) -> MutexGuard<'_, CacheState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A handle on `path`; nothing is opened until it is used.
    pub(crate) fn handle(self: &Arc<Self>, path: PathBuf) -> CachedFile {
        CachedFile {
            inner: Arc::new(CachedFileInner {
                cache: Arc::clone(self),
                key: self.next_key.fetch_add(1, Ordering::Relaxed),
                path,
                dirty: AtomicBool::new(false),
            }),
        }
    }

    /// Opens a file that is not kept in the cache (creating a segment's files, reading an
    /// index at load), with the same retry on descriptor exhaustion as cached opens.
    pub(crate) fn open_uncached(
        &self,
        path: &Path,
        options: &OpenOptions,
    ) -> Result<File, LogError> {
        let mut attempts = 1;
        loop {
            match options.open(path) {
                Ok(file) => return Ok(file),
                Err(e) if is_descriptor_exhaustion(&e) && attempts < OPEN_ATTEMPTS_MAX => {
                    attempts += 1;
                    let shed = self.shed();
                    tracing::warn!(file = %path.display(), error = %e, closed = shed, "out of file descriptors; closed cached files and retrying");
                    if shed == 0 {
                        return Err(LogError::io(path, e));
                    }
                }
                Err(e) => return Err(LogError::io(path, e)),
            }
        }
    }

    fn get(&self, key: u64, path: &Path) -> Result<Arc<File>, LogError> {
        if let Some(file) = self.lock().open.get(&key) {
            return Ok(Arc::clone(file));
        }
        let opened = Arc::new(self.open_uncached(path, OpenOptions::new().read(true).write(true))?);
        let evicted = {
            let mut state = self.lock();
            if let Some(file) = state.open.get(&key) {
                // Another thread opened it meanwhile: use that one; ours closes below.
                return Ok(Arc::clone(file));
            }
            state.open.put(key, Arc::clone(&opened));
            state.opened_total += 1;
            let mut evicted = Vec::new();
            // Bounded: at most one entry over capacity per insert, plus shed remainders.
            while state.open.len() > self.capacity {
                match state.open.pop_lru() {
                    Some((_, file)) => evicted.push(file),
                    None => break,
                }
            }
            state.evicted_total += evicted.len() as u64;
            evicted
        };
        // Closed outside the lock (close(2) can take a while on some file systems).
        drop(evicted);
        Ok(opened)
    }

    /// Closes the least recently used quarter of the cached files (at least one); returns
    /// how many it dropped.
    fn shed(&self) -> usize {
        let evicted: Vec<Arc<File>> = {
            let mut state = self.lock();
            let count = (state.open.len() / 4).max(1).min(state.open.len());
            let evicted: Vec<Arc<File>> = (0..count)
                .filter_map(|_| state.open.pop_lru().map(|(_, f)| f))
                .collect();
            state.evicted_total += evicted.len() as u64;
            evicted
        };
        evicted.len()
    }

    fn forget(&self, key: u64) {
        let removed = self.lock().open.pop(&key);
        drop(removed);
    }
}

fn is_descriptor_exhaustion(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

/// The soft `RLIMIT_NOFILE` of this process (`u64::MAX` when unlimited or unknown).
pub(crate) fn open_files_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid out-pointer for getrlimit.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    if rc != 0 || limit.rlim_cur == libc::RLIM_INFINITY {
        return u64::MAX;
    }
    limit.rlim_cur
}

/// The cache capacity for an open-files limit: `configured_max` when positive and it
/// leaves at least [`RESERVE_MIN`] descriptors free, else the limit minus the reserve.
/// Returns the capacity and whether `configured_max` had to be lowered.
pub(crate) fn capacity_for_limit(open_files_limit: u64, configured_max: i64) -> (usize, bool) {
    let reserve = (open_files_limit / 4).clamp(RESERVE_MIN, RESERVE_MAX);
    let derived = open_files_limit.saturating_sub(reserve);
    let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX).max(CAPACITY_MIN);
    if configured_max <= 0 {
        return (to_usize(derived), false);
    }
    let allowed = open_files_limit.saturating_sub(RESERVE_MIN);
    let configured = configured_max as u64;
    if configured > allowed {
        (to_usize(allowed), true)
    } else {
        (to_usize(configured), false)
    }
}

#[derive(Debug)]
struct CachedFileInner {
    cache: Arc<FileCache>,
    key: u64,
    path: PathBuf,
    /// Written since the last fsync (see the module docs).
    dirty: AtomicBool,
}

impl Drop for CachedFileInner {
    fn drop(&mut self) {
        self.cache.forget(self.key);
    }
}

/// One segment or index file, opened through the [`FileCache`] when used. Clones share the
/// file (the cleaner's view of a segment holds one).
#[derive(Debug, Clone)]
pub(crate) struct CachedFile {
    inner: Arc<CachedFileInner>,
}

impl CachedFile {
    pub(crate) fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The open file, opened (read + write, never created) if the cache does not hold it.
    /// Hold it for one operation only.
    pub(crate) fn get(&self) -> Result<Arc<File>, LogError> {
        self.inner.cache.get(self.inner.key, &self.inner.path)
    }

    /// `pwrite` of all of `bytes` at `position`.
    pub(crate) fn write_all_at(&self, bytes: &[u8], position: u64) -> Result<(), LogError> {
        use std::os::unix::fs::FileExt;
        let file = self.get()?;
        let result = file.write_all_at(bytes, position);
        self.mark_dirty();
        result.map_err(|e| LogError::io(self.path(), e))
    }

    pub(crate) fn set_len(&self, len: u64) -> Result<(), LogError> {
        let file = self.get()?;
        let result = file.set_len(len);
        self.mark_dirty();
        result.map_err(|e| LogError::io(self.path(), e))
    }

    /// Marks the file as holding data that the next [`CachedFile::sync_data`] must write back
    /// (writes through this handle do it themselves).
    pub(crate) fn mark_dirty(&self) {
        self.inner.dirty.store(true, Ordering::Release);
    }

    /// fsync (data) if anything was written since the last one; opens the file only then.
    pub(crate) fn sync_data(&self) -> Result<(), LogError> {
        if !self.inner.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let result = self
            .get()
            .and_then(|file| file.sync_data().map_err(|e| LogError::io(self.path(), e)));
        if result.is_err() {
            self.mark_dirty();
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileExt;

    use super::*;

    fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn read(file: &CachedFile, len: usize, position: u64) -> Vec<u8> {
        let mut buf = vec![0u8; len];
        file.get()
            .unwrap()
            .read_exact_at(&mut buf, position)
            .unwrap();
        buf
    }

    #[test]
    fn never_holds_more_than_its_capacity() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::new(CAPACITY_MIN);
        let handles: Vec<CachedFile> = (0..100)
            .map(|i| cache.handle(write_file(dir.path(), &format!("{i}.log"), b"x")))
            .collect();
        // A deterministic scramble of accesses, many more files than the capacity.
        for step in 0..2_000usize {
            let handle = &handles[(step * 37 + step / 7) % handles.len()];
            assert_eq!(read(handle, 1, 0), b"x");
            let stats = cache.stats();
            assert!(
                stats.open <= CAPACITY_MIN,
                "the cache holds {} files open, over its capacity {CAPACITY_MIN}",
                stats.open
            );
        }
        let stats = cache.stats();
        assert!(
            stats.evicted_total > 0,
            "100 files through 16 slots must evict"
        );
        assert_eq!(
            stats.opened_total - stats.evicted_total,
            stats.open as u64,
            "every open is either still cached or was evicted"
        );
        drop(handles);
        assert_eq!(
            cache.stats().open,
            0,
            "dropping the handles closes their files"
        );
    }

    #[test]
    fn the_most_recently_used_files_stay_open() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::new(CAPACITY_MIN);
        let hot = cache.handle(write_file(dir.path(), "hot.log", b"h"));
        let cold: Vec<CachedFile> = (0..50)
            .map(|i| cache.handle(write_file(dir.path(), &format!("{i}.log"), b"c")))
            .collect();
        read(&hot, 1, 0);
        let opened_before = cache.stats().opened_total;
        for handle in &cold {
            read(handle, 1, 0);
            read(&hot, 1, 0);
        }
        assert_eq!(
            cache.stats().opened_total - opened_before,
            cold.len() as u64,
            "a file used between every other open is never evicted (only the cold files were opened)"
        );
    }

    #[test]
    fn a_read_in_flight_survives_eviction_and_a_reopen_sees_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::new(CAPACITY_MIN);
        let target = cache.handle(write_file(dir.path(), "target.log", b"0123456789"));
        let in_flight = target.get().unwrap();
        let others: Vec<CachedFile> = (0..CAPACITY_MIN * 2)
            .map(|i| cache.handle(write_file(dir.path(), &format!("{i}.log"), b"o")))
            .collect();
        for handle in &others {
            read(handle, 1, 0);
        }
        let opened = cache.stats().opened_total;
        // The cache dropped its reference; the reader's descriptor still works.
        let mut buf = [0u8; 4];
        in_flight.read_exact_at(&mut buf, 3).unwrap();
        assert_eq!(
            &buf, b"3456",
            "a descriptor held by a reader outlives its eviction"
        );
        drop(in_flight);
        assert_eq!(read(&target, 10, 0), b"0123456789");
        assert_eq!(
            cache.stats().opened_total,
            opened + 1,
            "reading an evicted file reopens it"
        );
    }

    #[test]
    fn writes_after_an_eviction_land_where_they_were_aimed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::new(CAPACITY_MIN);
        let path = write_file(dir.path(), "00000000000000000000.log", b"");
        let log = cache.handle(path.clone());
        let filler: Vec<CachedFile> = (0..CAPACITY_MIN + 1)
            .map(|i| cache.handle(write_file(dir.path(), &format!("{i}.idx"), b"f")))
            .collect();
        let mut expected = Vec::new();
        for round in 0..5u8 {
            let chunk = vec![b'a' + round; 100];
            log.write_all_at(&chunk, expected.len() as u64).unwrap();
            expected.extend_from_slice(&chunk);
            for handle in &filler {
                read(handle, 1, 0);
            }
        }
        assert!(
            cache.stats().evicted_total >= 5,
            "the log file must have been evicted between the writes"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            expected,
            "appends through reopened descriptors continue the file"
        );
    }

    #[test]
    fn a_recreated_name_is_a_new_file_and_old_handles_do_not_reach_it() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::new(CAPACITY_MIN);
        let path = write_file(dir.path(), "00000000000000000000.log", b"old!");
        let old = cache.handle(path.clone());
        let old_file = old.get().unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"new!").unwrap();
        let new = cache.handle(path.clone());
        assert_eq!(read(&new, 4, 0), b"new!");
        let mut buf = [0u8; 4];
        old_file.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"old!", "the old handle keeps its own inode");
        drop(old_file);
        drop(old);
        assert_eq!(
            read(&new, 4, 0),
            b"new!",
            "dropping the old handle leaves the new one"
        );
    }

    #[test]
    fn sync_opens_only_files_written_since_the_last_sync() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::new(CAPACITY_MIN);
        let file = cache.handle(write_file(dir.path(), "a.log", b""));
        file.sync_data().unwrap();
        assert_eq!(
            cache.stats().opened_total,
            0,
            "a clean file is not opened to be synced"
        );
        file.write_all_at(b"data", 0).unwrap();
        let filler: Vec<CachedFile> = (0..CAPACITY_MIN)
            .map(|i| cache.handle(write_file(dir.path(), &format!("{i}.f"), b"f")))
            .collect();
        for handle in &filler {
            read(handle, 1, 0);
        }
        let opened = cache.stats().opened_total;
        file.sync_data().unwrap();
        assert_eq!(
            cache.stats().opened_total,
            opened + 1,
            "a file written before its eviction is reopened and synced"
        );
        file.sync_data().unwrap();
        assert_eq!(cache.stats().opened_total, opened + 1, "then it is clean");
    }

    #[test]
    fn concurrent_users_stay_within_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::new(CAPACITY_MIN);
        let handles: Arc<Vec<CachedFile>> = Arc::new(
            (0..64)
                .map(|i| cache.handle(write_file(dir.path(), &format!("{i}.log"), &[i as u8; 8])))
                .collect(),
        );
        let threads: Vec<_> = (0..4usize)
            .map(|t| {
                let handles = Arc::clone(&handles);
                let cache = Arc::clone(&cache);
                std::thread::spawn(move || {
                    for step in 0..2_000usize {
                        let i = (step * 13 + t * 7) % handles.len();
                        assert_eq!(read(&handles[i], 8, 0), vec![i as u8; 8]);
                        assert!(cache.stats().open <= CAPACITY_MIN);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("a reader thread failed");
        }
    }

    #[test]
    fn capacity_leaves_a_reserve_below_the_open_files_limit() {
        assert_eq!(
            capacity_for_limit(512, 0),
            (384, false),
            "a quarter is reserved"
        );
        assert_eq!(
            capacity_for_limit(20_000, 0),
            (15_904, false),
            "the reserve is capped"
        );
        assert_eq!(
            capacity_for_limit(100, 0),
            (36, false),
            "the reserve has a floor"
        );
        assert_eq!(capacity_for_limit(20, 0), (CAPACITY_MIN, false));
        assert_eq!(
            capacity_for_limit(20_000, 1_000),
            (1_000, false),
            "a configured maximum wins"
        );
        assert_eq!(
            capacity_for_limit(512, 10_000),
            (448, true),
            "a configured maximum above the limit is lowered"
        );
    }
}
