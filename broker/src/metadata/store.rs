//! openraft storage for the metadata quorum, on real files in the metadata dir
//! (`<log dir>/__cluster_metadata-0`):
//!
//! - `raft-log.dat`: raft log entries, one frame each: `[payload length u32 BE][CRC32C of
//!   payload u32 BE][payload JSON]`. An append is fsynced before openraft hears it is done.
//!   Purging rewrites the file (tmp + fsync + rename) starting with a `purged` frame that
//!   remembers the last purged log id. At open, a torn or corrupt tail (short frame, bad CRC)
//!   is truncated: such bytes were never acknowledged.
//! - `vote.json`: the raft vote, written atomically (tmp + fsync + rename + dir fsync).
//! - `snapshot.json`: the latest snapshot (meta + serialized image), written atomically.
//!
//! The whole unpurged log is also kept in memory (the metadata log is small and purged after
//! every snapshot), so reads never touch the disk.
//!
//! Napkin math: one proposal = one frame write + one `fdatasync` (~1 ms on SSD); a purge
//! rewrites at most `logs_kept_after_snapshot` entries once per snapshot interval.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{
    LogFlushed, LogState, RaftLogStorage, RaftStateMachine, Snapshot, SnapshotMeta,
};
use openraft::{
    Entry, EntryPayload, LogId, RaftLogReader, RaftSnapshotBuilder, StorageError, StorageIOError,
    StoredMembership, Vote,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::image::{ImageSnapshot, MetadataImage};
use super::records::{MetadataBatch, METADATA_BATCH_VERSION};

/// Raft node id = Kafka `node.id` (non-negative, so it fits).
pub(crate) type RaftNodeId = u64;

/// A member of the metadata quorum as the membership (in the raft log) records it. The JSON
/// form of an entry without `controller` is openraft's `BasicNode` (`{"addr":..}`), which
/// logs written before dynamic membership hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MetadataNode {
    /// `host:port` the leader reaches the node at: a controller's controller listener, a
    /// broker-only node's inter-broker listener; empty for a static voter (whose address is
    /// `controller.quorum.voters`').
    pub addr: String,
    /// Set for a controller of a dynamic quorum (KIP-853), voter or observer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<ControllerNode>,
}

/// What a dynamic quorum knows of a controller besides its address (Kafka's voter key and
/// endpoint).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ControllerNode {
    /// The listener `addr` is on (the controller's first `controller.listener.names`).
    pub listener: String,
    /// Kafka's directory id of the controller's metadata log dir (`meta.properties`).
    pub directory_id: uuid::Uuid,
}

impl MetadataNode {
    /// A static voter's or a broker-only node's entry: an address only.
    pub(crate) fn new(addr: impl Into<String>) -> Self {
        Self {
            addr: addr.into(),
            controller: None,
        }
    }
}

impl std::fmt::Display for MetadataNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.controller {
            Some(c) => write!(f, "{}://{} ({})", c.listener, self.addr, c.directory_id),
            None => write!(f, "{}", self.addr),
        }
    }
}

/// What applying one raft entry returns to the proposer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MetadataApplied {
    /// Raft index of the applied entry (= the image offset it produced).
    pub(crate) offset: u64,
}

openraft::declare_raft_types!(
    /// openraft type configuration of the cluster metadata log.
    pub(crate) MetadataRaftConfig:
        D = MetadataBatch,
        R = MetadataApplied,
        NodeId = RaftNodeId,
        Node = MetadataNode,
        Entry = openraft::Entry<MetadataRaftConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

type MetaEntry = Entry<MetadataRaftConfig>;
type MetaLogId = LogId<RaftNodeId>;
type MetaStorageError = StorageError<RaftNodeId>;

pub(crate) const LOG_FILE_NAME: &str = "raft-log.dat";
pub(crate) const VOTE_FILE_NAME: &str = "vote.json";
pub(crate) const SNAPSHOT_FILE_NAME: &str = "snapshot.json";

const FRAME_HEADER_BYTES: usize = 8;
/// A frame larger than this is treated as corruption (one metadata batch is far smaller).
const FRAME_PAYLOAD_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Errors opening the stores (the trait methods report openraft's `StorageError`).
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreOpenError {
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    #[error("corrupt metadata store: {0}")]
    Corrupt(String),
}

fn io_context(context: impl Into<String>) -> impl FnOnce(io::Error) -> StoreOpenError {
    let context = context.into();
    move |source| StoreOpenError::Io { context, source }
}

/// Externally tagged on purpose: internally tagged enums buffer their content, which loses
/// the integer keys of openraft's membership maps.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum LogFrame {
    Entry { entry: MetaEntry },
    Purged { log_id: MetaLogId },
}

fn encode_frame(frame: &LogFrame, out: &mut Vec<u8>) -> io::Result<()> {
    let payload = serde_json::to_vec(frame).map_err(io::Error::other)?;
    if payload.len() > FRAME_PAYLOAD_BYTES_MAX {
        return Err(io::Error::other(format!(
            "metadata log frame of {} bytes exceeds the {FRAME_PAYLOAD_BYTES_MAX} byte limit",
            payload.len()
        )));
    }
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(&payload).to_be_bytes());
    out.extend_from_slice(&payload);
    Ok(())
}

/// Writes `bytes` to `dir/name` atomically: tmp file, fsync, rename, fsync of the dir.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means another thread panicked mid-update of plain data; the data
    // itself is still the last consistent state we wrote.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Entries readable by openraft (shared between the store and its readers).
#[derive(Debug, Default)]
struct LogCache {
    entries: BTreeMap<u64, MetaEntry>,
    last_purged: Option<MetaLogId>,
}

/// The file side of the log, touched only by the store (inside `spawn_blocking`).
#[derive(Debug)]
struct LogWriter {
    dir: PathBuf,
    file: File,
    len_bytes: u64,
    /// File position of each entry's frame, by raft index.
    positions: BTreeMap<u64, u64>,
}

/// What an open of the log file found.
#[derive(Debug)]
struct ScannedLog {
    cache: LogCache,
    positions: BTreeMap<u64, u64>,
    valid_len_bytes: u64,
    torn_bytes: u64,
}

fn scan_log(bytes: &[u8]) -> Result<ScannedLog, StoreOpenError> {
    let mut cache = LogCache::default();
    let mut positions = BTreeMap::new();
    let mut pos = 0usize;
    // Bounded: every iteration consumes at least FRAME_HEADER_BYTES.
    while pos < bytes.len() {
        let Some(header) = bytes.get(pos..pos + FRAME_HEADER_BYTES) else {
            break;
        };
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        if len > FRAME_PAYLOAD_BYTES_MAX {
            break;
        }
        let start = pos + FRAME_HEADER_BYTES;
        let Some(payload) = bytes.get(start..start + len) else {
            break;
        };
        if crc32c::crc32c(payload) != crc {
            break;
        }
        let frame: LogFrame = serde_json::from_slice(payload).map_err(|e| {
            StoreOpenError::Corrupt(format!(
                "metadata log frame at byte {pos} has a valid CRC but cannot be decoded: {e}"
            ))
        })?;
        match frame {
            LogFrame::Purged { log_id } => {
                cache.entries.retain(|index, _| *index > log_id.index);
                positions.retain(|index, _| *index > log_id.index);
                cache.last_purged = Some(log_id);
            }
            LogFrame::Entry { entry } => {
                let index = entry.log_id.index;
                let expected = match (cache.entries.last_key_value(), cache.last_purged) {
                    (Some((last, _)), _) => Some(last + 1),
                    (None, Some(purged)) => Some(purged.index + 1),
                    (None, None) => None,
                };
                if expected.is_some_and(|expected| expected != index) {
                    return Err(StoreOpenError::Corrupt(format!(
                        "metadata log entry at byte {pos} has index {index}, expected {expected:?}"
                    )));
                }
                cache.entries.insert(index, entry);
                positions.insert(index, pos as u64);
            }
        }
        pos = start + len;
    }
    Ok(ScannedLog {
        cache,
        positions,
        valid_len_bytes: pos as u64,
        torn_bytes: (bytes.len() - pos) as u64,
    })
}

impl LogWriter {
    fn append(&mut self, entries: &[MetaEntry]) -> io::Result<()> {
        let mut buf = Vec::new();
        let mut new_positions = Vec::with_capacity(entries.len());
        for entry in entries {
            new_positions.push((entry.log_id.index, self.len_bytes + buf.len() as u64));
            encode_frame(
                &LogFrame::Entry {
                    entry: entry.clone(),
                },
                &mut buf,
            )?;
        }
        let written = self
            .file
            .seek(SeekFrom::Start(self.len_bytes))
            .and_then(|_| {
                self.file.write_all(&buf)?;
                self.file.sync_data()
            });
        if let Err(e) = written {
            // Leave no half-written frame behind a later successful append.
            let _ = self.file.set_len(self.len_bytes);
            return Err(e);
        }
        self.len_bytes += buf.len() as u64;
        self.positions.extend(new_positions);
        Ok(())
    }

    /// Drops the entries from `index` on.
    fn truncate(&mut self, index: u64) -> io::Result<()> {
        let Some(&pos) = self.positions.get(&index) else {
            return Ok(());
        };
        self.file.set_len(pos)?;
        self.file.sync_data()?;
        self.len_bytes = pos;
        self.positions.retain(|i, _| *i < index);
        Ok(())
    }

    /// Rewrites the file as `purged(upto)` + `remaining` entries.
    fn purge(&mut self, upto: MetaLogId, remaining: &[MetaEntry]) -> io::Result<()> {
        let mut buf = Vec::new();
        encode_frame(&LogFrame::Purged { log_id: upto }, &mut buf)?;
        let mut positions = BTreeMap::new();
        for entry in remaining {
            positions.insert(entry.log_id.index, buf.len() as u64);
            encode_frame(
                &LogFrame::Entry {
                    entry: entry.clone(),
                },
                &mut buf,
            )?;
        }
        write_atomic(&self.dir, LOG_FILE_NAME, &buf)?;
        self.file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.dir.join(LOG_FILE_NAME))?;
        self.len_bytes = buf.len() as u64;
        self.positions = positions;
        Ok(())
    }
}

/// The raft log + vote store (openraft's `RaftLogStorage`); cloned as its own reader.
#[derive(Debug, Clone)]
pub(crate) struct LogStore {
    cache: Arc<Mutex<LogCache>>,
    writer: Arc<Mutex<LogWriter>>,
    vote: Option<Vote<RaftNodeId>>,
    dir: PathBuf,
}

impl LogStore {
    /// Opens (or creates) the log and vote files in `dir`, truncating a torn log tail.
    pub(crate) fn open(dir: &Path) -> Result<LogStore, StoreOpenError> {
        let path = dir.join(LOG_FILE_NAME);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_context(format!("opening {}", path.display())))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(io_context(format!("reading {}", path.display())))?;
        let scanned = scan_log(&bytes)?;
        if scanned.torn_bytes > 0 {
            tracing::warn!(
                path = %path.display(),
                valid_len_bytes = scanned.valid_len_bytes,
                torn_bytes = scanned.torn_bytes,
                "truncating torn tail of the metadata log"
            );
            file.set_len(scanned.valid_len_bytes)
                .and_then(|_| file.sync_all())
                .map_err(io_context(format!("truncating {}", path.display())))?;
        }
        let vote = match read_optional(&dir.join(VOTE_FILE_NAME))
            .map_err(io_context("reading the raft vote"))?
        {
            Some(bytes) => Some(serde_json::from_slice(&bytes).map_err(|e| {
                StoreOpenError::Corrupt(format!("{VOTE_FILE_NAME} cannot be decoded: {e}"))
            })?),
            None => None,
        };
        tracing::info!(
            dir = %dir.display(),
            entries = scanned.cache.entries.len(),
            last_purged = ?scanned.cache.last_purged,
            "opened metadata log"
        );
        Ok(LogStore {
            cache: Arc::new(Mutex::new(scanned.cache)),
            writer: Arc::new(Mutex::new(LogWriter {
                dir: dir.to_path_buf(),
                file,
                len_bytes: scanned.valid_len_bytes,
                positions: scanned.positions,
            })),
            vote,
            dir: dir.to_path_buf(),
        })
    }

    async fn with_writer<T: Send + 'static>(
        &self,
        op: impl FnOnce(&mut LogWriter) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || op(&mut lock(&writer)))
            .await
            .map_err(io::Error::other)?
    }
}

impl RaftLogReader<MetadataRaftConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<MetaEntry>, MetaStorageError> {
        Ok(lock(&self.cache)
            .entries
            .range(range)
            .map(|(_, e)| e.clone())
            .collect())
    }
}

impl RaftLogStorage<MetadataRaftConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<MetadataRaftConfig>, MetaStorageError> {
        let cache = lock(&self.cache);
        let last_log_id = cache
            .entries
            .last_key_value()
            .map(|(_, e)| e.log_id)
            .or(cache.last_purged);
        Ok(LogState {
            last_purged_log_id: cache.last_purged,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<RaftNodeId>) -> Result<(), MetaStorageError> {
        let bytes = serde_json::to_vec(vote).map_err(|e| StorageIOError::write_vote(&e))?;
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || write_atomic(&dir, VOTE_FILE_NAME, &bytes))
            .await
            .map_err(io::Error::other)
            .and_then(|r| r)
            .map_err(|e| StorageIOError::write_vote(&e))?;
        self.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<RaftNodeId>>, MetaStorageError> {
        Ok(self.vote)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<MetadataRaftConfig>,
    ) -> Result<(), MetaStorageError>
    where
        I: IntoIterator<Item = MetaEntry> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<MetaEntry> = entries.into_iter().collect();
        if let (Some(first), Some(last)) =
            (entries.first(), lock(&self.cache).entries.last_key_value())
        {
            debug_assert_eq!(
                first.log_id.index,
                last.0 + 1,
                "metadata log indexes only grow by one"
            );
        }
        let to_write = entries.clone();
        let written = self.with_writer(move |w| w.append(&to_write)).await;
        match written {
            Ok(()) => {
                let mut cache = lock(&self.cache);
                for entry in entries {
                    cache.entries.insert(entry.log_id.index, entry);
                }
                drop(cache);
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "metadata log append failed");
                let storage_error = StorageIOError::write_logs(&e);
                callback.log_io_completed(Err(e));
                Err(storage_error.into())
            }
        }
    }

    async fn truncate(&mut self, log_id: MetaLogId) -> Result<(), MetaStorageError> {
        let index = log_id.index;
        self.with_writer(move |w| w.truncate(index))
            .await
            .map_err(|e| StorageIOError::write_logs(&e))?;
        lock(&self.cache).entries.retain(|i, _| *i < index);
        Ok(())
    }

    async fn purge(&mut self, log_id: MetaLogId) -> Result<(), MetaStorageError> {
        let remaining: Vec<MetaEntry> = {
            let cache = lock(&self.cache);
            debug_assert!(
                cache.last_purged <= Some(log_id),
                "purge point never goes back"
            );
            cache
                .entries
                .range(log_id.index + 1..)
                .map(|(_, e)| e.clone())
                .collect()
        };
        self.with_writer(move |w| w.purge(log_id, &remaining))
            .await
            .map_err(|e| StorageIOError::write_logs(&e))?;
        let mut cache = lock(&self.cache);
        cache.entries.retain(|i, _| *i > log_id.index);
        cache.last_purged = Some(log_id);
        Ok(())
    }
}

/// The serialized snapshot (file content and snapshot data sent to peers).
#[derive(Debug, Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta<RaftNodeId, MetadataNode>,
    image: ImageSnapshot,
}

#[derive(Debug, Clone)]
struct StoredSnapshot {
    meta: SnapshotMeta<RaftNodeId, MetadataNode>,
    data: Vec<u8>,
}

fn decode_snapshot(
    data: &[u8],
) -> Result<(SnapshotMeta<RaftNodeId, MetadataNode>, MetadataImage), serde_json::Error> {
    let file: SnapshotFile = serde_json::from_slice(data)?;
    let mut image = MetadataImage::from(file.image);
    image.offset = file.meta.last_log_id.map(|l| l.index).unwrap_or(0);
    Ok((file.meta, image))
}

/// The metadata state machine: applies committed batches to the image and publishes it.
pub(crate) struct StateMachineStore {
    dir: PathBuf,
    image: Arc<MetadataImage>,
    last_applied: Option<MetaLogId>,
    last_membership: StoredMembership<RaftNodeId, MetadataNode>,
    snapshot: Arc<Mutex<Option<StoredSnapshot>>>,
    publisher: watch::Sender<Arc<MetadataImage>>,
}

impl StateMachineStore {
    /// Opens the state machine from the latest snapshot in `dir` (if any) and publishes it.
    pub(crate) fn open(
        dir: &Path,
        publisher: watch::Sender<Arc<MetadataImage>>,
    ) -> Result<Self, StoreOpenError> {
        let path = dir.join(SNAPSHOT_FILE_NAME);
        let mut store = StateMachineStore {
            dir: dir.to_path_buf(),
            image: Arc::new(MetadataImage::empty()),
            last_applied: None,
            last_membership: StoredMembership::default(),
            snapshot: Arc::new(Mutex::new(None)),
            publisher,
        };
        if let Some(data) =
            read_optional(&path).map_err(io_context(format!("reading {}", path.display())))?
        {
            let (meta, image) = decode_snapshot(&data).map_err(|e| {
                StoreOpenError::Corrupt(format!("{} cannot be decoded: {e}", path.display()))
            })?;
            tracing::info!(snapshot_id = %meta.snapshot_id, offset = image.offset, "loaded metadata snapshot");
            store.last_applied = meta.last_log_id;
            store.last_membership = meta.last_membership.clone();
            store.image = Arc::new(image);
            *lock(&store.snapshot) = Some(StoredSnapshot { meta, data });
        }
        store.publisher.send_replace(store.image.clone());
        Ok(store)
    }
}

impl RaftStateMachine<MetadataRaftConfig> for StateMachineStore {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<
        (
            Option<MetaLogId>,
            StoredMembership<RaftNodeId, MetadataNode>,
        ),
        MetaStorageError,
    > {
        Ok((self.last_applied, self.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<MetadataApplied>, MetaStorageError>
    where
        I: IntoIterator<Item = MetaEntry> + Send,
        I::IntoIter: Send,
    {
        let mut next: Option<MetadataImage> = None;
        let mut responses = Vec::new();
        for entry in entries {
            debug_assert!(
                Some(entry.log_id) > self.last_applied,
                "applied log ids only grow"
            );
            self.last_applied = Some(entry.log_id);
            let image = next.get_or_insert_with(|| MetadataImage::clone(&self.image));
            image.offset = entry.log_id.index;
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(batch) => {
                    if batch.version > METADATA_BATCH_VERSION {
                        tracing::warn!(
                            version = batch.version,
                            supported = METADATA_BATCH_VERSION,
                            "applying a metadata batch written by a newer version"
                        );
                    }
                    image.apply_in_place(&batch.records);
                }
                EntryPayload::Membership(membership) => {
                    self.last_membership = StoredMembership::new(Some(entry.log_id), membership);
                }
            }
            responses.push(MetadataApplied {
                offset: entry.log_id.index,
            });
        }
        if let Some(image) = next {
            debug_assert!(image.offset >= self.image.offset, "image offsets only grow");
            self.image = Arc::new(image);
            self.publisher.send_replace(self.image.clone());
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            dir: self.dir.clone(),
            image: self.image.clone(),
            last_applied: self.last_applied,
            last_membership: self.last_membership.clone(),
            snapshot: self.snapshot.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, MetaStorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<RaftNodeId, MetadataNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), MetaStorageError> {
        let received = snapshot.into_inner();
        let (_, mut image) = decode_snapshot(&received)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        image.offset = meta.last_log_id.map(|l| l.index).unwrap_or(0);
        // Store it under the meta openraft gives us, which is authoritative.
        let data = serde_json::to_vec(&SnapshotFile {
            meta: meta.clone(),
            image: ImageSnapshot::from(&image),
        })
        .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        let dir = self.dir.clone();
        let to_write = data.clone();
        tokio::task::spawn_blocking(move || write_atomic(&dir, SNAPSHOT_FILE_NAME, &to_write))
            .await
            .map_err(io::Error::other)
            .and_then(|r| r)
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        tracing::info!(snapshot_id = %meta.snapshot_id, offset = image.offset, "installed metadata snapshot");
        self.last_applied = meta.last_log_id;
        self.last_membership = meta.last_membership.clone();
        self.image = Arc::new(image);
        *lock(&self.snapshot) = Some(StoredSnapshot {
            meta: meta.clone(),
            data,
        });
        self.publisher.send_replace(self.image.clone());
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<MetadataRaftConfig>>, MetaStorageError> {
        Ok(lock(&self.snapshot).as_ref().map(|s| Snapshot {
            meta: s.meta.clone(),
            snapshot: Box::new(Cursor::new(s.data.clone())),
        }))
    }
}

/// Builds a snapshot of the image as of the moment the builder was taken.
pub(crate) struct SnapshotBuilder {
    dir: PathBuf,
    image: Arc<MetadataImage>,
    last_applied: Option<MetaLogId>,
    last_membership: StoredMembership<RaftNodeId, MetadataNode>,
    snapshot: Arc<Mutex<Option<StoredSnapshot>>>,
}

impl RaftSnapshotBuilder<MetadataRaftConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<MetadataRaftConfig>, MetaStorageError> {
        let snapshot_id = match self.last_applied {
            Some(log_id) => format!(
                "{}-{}-{}",
                log_id.leader_id.term,
                log_id.index,
                crate::types::now_ms()
            ),
            None => format!("none-{}", crate::types::now_ms()),
        };
        let meta = SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.last_membership.clone(),
            snapshot_id,
        };
        let image = self.image.clone();
        let dir = self.dir.clone();
        let file_meta = meta.clone();
        let data = tokio::task::spawn_blocking(move || -> io::Result<Vec<u8>> {
            let data = serde_json::to_vec(&SnapshotFile {
                meta: file_meta,
                image: ImageSnapshot::from(&*image),
            })
            .map_err(io::Error::other)?;
            write_atomic(&dir, SNAPSHOT_FILE_NAME, &data)?;
            Ok(data)
        })
        .await
        .map_err(io::Error::other)
        .and_then(|r| r)
        .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        tracing::info!(snapshot_id = %meta.snapshot_id, size_bytes = data.len(), "built metadata snapshot");
        *lock(&self.snapshot) = Some(StoredSnapshot {
            meta: meta.clone(),
            data: data.clone(),
        });
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

#[cfg(test)]
mod tests {
    use openraft::storage::RaftLogStorageExt;
    use openraft::CommittedLeaderId;

    use super::*;
    use crate::metadata::records::MetadataRecord;

    fn entry(index: u64) -> MetaEntry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 0), index),
            payload: EntryPayload::Normal(MetadataBatch::new(vec![MetadataRecord::ClusterId {
                cluster_id: format!("c{index}"),
            }])),
        }
    }

    async fn append(store: &mut LogStore, entries: Vec<MetaEntry>) {
        store.blocking_append(entries).await.unwrap();
    }

    async fn indexes(store: &mut LogStore) -> Vec<u64> {
        store
            .try_get_log_entries(..)
            .await
            .unwrap()
            .iter()
            .map(|e| e.log_id.index)
            .collect()
    }

    #[tokio::test]
    async fn log_survives_reopen_and_truncates_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LogStore::open(dir.path()).unwrap();
        append(&mut store, (0..5).map(entry).collect()).await;
        drop(store);

        // A crash in the middle of writing entry 5: only part of its frame reached the disk.
        let mut frame = Vec::new();
        encode_frame(&LogFrame::Entry { entry: entry(5) }, &mut frame).unwrap();
        let path = dir.path().join(LOG_FILE_NAME);
        let len_before = std::fs::metadata(&path).unwrap().len();
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&frame[..frame.len() / 2]).unwrap();
        drop(file);

        let mut store = LogStore::open(dir.path()).unwrap();
        assert_eq!(
            indexes(&mut store).await,
            vec![0, 1, 2, 3, 4],
            "acknowledged entries survive, torn one is gone"
        );
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            len_before,
            "the torn tail is truncated on disk"
        );
        append(&mut store, vec![entry(5)]).await;
        drop(store);
        let mut store = LogStore::open(dir.path()).unwrap();
        assert_eq!(
            indexes(&mut store).await,
            vec![0, 1, 2, 3, 4, 5],
            "appends after recovery are readable"
        );
    }

    #[tokio::test]
    async fn a_bad_crc_ends_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LogStore::open(dir.path()).unwrap();
        append(&mut store, (0..3).map(entry).collect()).await;
        drop(store);
        let path = dir.path().join(LOG_FILE_NAME);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 2;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let mut store = LogStore::open(dir.path()).unwrap();
        assert_eq!(
            indexes(&mut store).await,
            vec![0, 1],
            "the entry with a bad CRC is dropped"
        );
    }

    #[tokio::test]
    async fn truncate_purge_and_vote_persist() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LogStore::open(dir.path()).unwrap();
        append(&mut store, (0..10).map(entry).collect()).await;
        store.truncate(entry(7).log_id).await.unwrap();
        store.purge(entry(3).log_id).await.unwrap();
        let vote = Vote::new(3, 1);
        store.save_vote(&vote).await.unwrap();
        drop(store);

        let mut store = LogStore::open(dir.path()).unwrap();
        assert_eq!(
            indexes(&mut store).await,
            vec![4, 5, 6],
            "truncated and purged entries stay gone"
        );
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(entry(3).log_id));
        assert_eq!(state.last_log_id, Some(entry(6).log_id));
        assert_eq!(
            store.read_vote().await.unwrap(),
            Some(vote),
            "the vote survives reopen"
        );

        store.purge(entry(6).log_id).await.unwrap();
        drop(store);
        let mut store = LogStore::open(dir.path()).unwrap();
        let state = store.get_log_state().await.unwrap();
        assert_eq!(
            state.last_log_id,
            Some(entry(6).log_id),
            "a fully purged log still knows its last id"
        );
        assert!(indexes(&mut store).await.is_empty());
        append(&mut store, vec![entry(7)]).await;
        assert_eq!(indexes(&mut store).await, vec![7]);
    }

    #[test]
    fn every_record_kind_survives_the_log_frame() {
        use crate::metadata::records::{BrokerEndpoint, ConfigResource};
        let topic_id = uuid::Uuid::new_v4();
        let records = vec![
            MetadataRecord::RegisterBroker {
                broker_id: 1,
                incarnation_id: uuid::Uuid::new_v4(),
                listeners: vec![BrokerEndpoint {
                    name: "PLAINTEXT".into(),
                    host: "h".into(),
                    port: 9092,
                    security_protocol: "PLAINTEXT".into(),
                }],
                rack: None,
                fenced: true,
                features: Some(crate::metadata::features::supported()),
            },
            MetadataRecord::FeatureLevel {
                name: "metadata.version".into(),
                level: 21,
            },
            MetadataRecord::UnregisterBroker {
                broker_id: 1,
                broker_epoch: 4,
            },
            MetadataRecord::Topic {
                name: "t".into(),
                topic_id,
            },
            MetadataRecord::new_partition(topic_id, 0, vec![1], vec![1]),
            MetadataRecord::isr_change(topic_id, 0, vec![1]),
            MetadataRecord::Config {
                resource: ConfigResource::Broker(Some(1)),
                name: "k".into(),
                value: Some("v".into()),
            },
            MetadataRecord::Config {
                resource: ConfigResource::Broker(None),
                name: "k".into(),
                value: None,
            },
            MetadataRecord::Config {
                resource: ConfigResource::Topic("t".into()),
                name: "k".into(),
                value: None,
            },
        ];
        let batch = MetadataBatch::new(records);
        let entry = Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 0), 0),
            payload: EntryPayload::<MetadataRaftConfig>::Normal(batch.clone()),
        };
        let membership = Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 0), 1),
            payload: EntryPayload::<MetadataRaftConfig>::Membership(openraft::Membership::new(
                vec![std::collections::BTreeSet::from([1])],
                None,
            )),
        };
        let mut bytes = Vec::new();
        encode_frame(&LogFrame::Entry { entry }, &mut bytes).unwrap();
        encode_frame(&LogFrame::Entry { entry: membership }, &mut bytes).unwrap();
        let scanned = scan_log(&bytes).unwrap();
        match &scanned.cache.entries[&0].payload {
            EntryPayload::Normal(back) => assert_eq!(
                back, &batch,
                "records must come back from the log unchanged"
            ),
            other => panic!("expected a normal entry, got {other:?}"),
        }
        assert!(matches!(
            scanned.cache.entries[&1].payload,
            EntryPayload::Membership(_)
        ));
    }

    #[tokio::test]
    async fn a_frame_with_a_valid_crc_but_a_gap_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Vec::new();
        encode_frame(&LogFrame::Entry { entry: entry(0) }, &mut bytes).unwrap();
        encode_frame(&LogFrame::Entry { entry: entry(2) }, &mut bytes).unwrap();
        std::fs::write(dir.path().join(LOG_FILE_NAME), &bytes).unwrap();
        let err = LogStore::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, StoreOpenError::Corrupt(_)),
            "a gap in indexes must be reported, got {err}"
        );
    }
}
