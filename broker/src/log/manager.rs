//! `LogManager`: every partition log in the configured log dirs.
//!
//! Per log dir: an exclusive `.lock` (flock) so two brokers cannot share it,
//! `recovery-point-offset-checkpoint`, `log-start-offset-checkpoint` and
//! `replication-offset-checkpoint` (high watermarks; Kafka's text
//! format: `0`, count, `topic partition offset` lines), and a `.kafka_cleanshutdown` marker
//! that exists only between a clean shutdown and the next startup. Each partition lives in
//! `<log dir>/<topic>-<partition>/` with a `partition.metadata` file naming its topic id.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use uuid::Uuid;

use super::checkpoint::{read_checkpoint, sync_dir, write_atomically, write_checkpoint};
use super::file_cache::FileCache;
use super::{Log, LogConfig, LogError};
use crate::types::{kafka_uuid_string, parse_kafka_uuid, TopicPartition};

pub(crate) const LOCK_FILE: &str = ".lock";
pub(crate) const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
pub(crate) const RECOVERY_POINT_CHECKPOINT: &str = "recovery-point-offset-checkpoint";
pub(crate) const LOG_START_OFFSET_CHECKPOINT: &str = "log-start-offset-checkpoint";
pub(crate) const CLEANER_OFFSET_CHECKPOINT: &str = "cleaner-offset-checkpoint";
/// Kafka's high-watermark checkpoint (`topic partition high_watermark` lines).
pub(crate) const REPLICATION_OFFSET_CHECKPOINT: &str = "replication-offset-checkpoint";
pub(crate) const PARTITION_METADATA_FILE: &str = "partition.metadata";
/// The metadata quorum's own log directory; never opened as a partition log.
pub(crate) const CLUSTER_METADATA_DIR: &str = "__cluster_metadata-0";

#[derive(Debug)]
struct ManagedLog {
    log: Arc<Log>,
    dir_index: usize,
    topic_id: Option<Uuid>,
}

/// All partition logs of this broker.
#[derive(Debug)]
pub(crate) struct LogManager {
    log_dirs: Vec<PathBuf>,
    /// Held (flocked) for the manager's lifetime.
    _dir_locks: Vec<File>,
    logs: RwLock<HashMap<TopicPartition, ManagedLog>>,
    /// Serializes creation and deletion of logs.
    create_lock: Mutex<()>,
    /// Serializes writers of `cleaner-offset-checkpoint` (cleaner threads, shutdown).
    cleaner_checkpoint_lock: Mutex<()>,
    /// The entries of `replication-offset-checkpoint` last written per log dir (a
    /// checkpoint that would write the same is skipped); serializes its writers.
    high_watermarks_written: Mutex<Vec<Vec<String>>>,
    /// The one cache of open segment and index files every log uses.
    files: Arc<FileCache>,
}

impl LogManager {
    /// Locks and loads every log dir: reads the checkpoints and the clean-shutdown marker
    /// (then removes the marker), and opens every `<topic>-<partition>` directory with
    /// `topic_config(topic)`. Anything else in a log dir, `__cluster_metadata-0` included,
    /// is left alone. Every log opens its files through `files`; loading keeps none open
    /// that it does not need, so start-up needs no more descriptors than the cache holds.
    pub(crate) fn startup(
        log_dirs: Vec<PathBuf>,
        default_config: LogConfig,
        topic_config: impl Fn(&str) -> LogConfig,
        files: Arc<FileCache>,
    ) -> Result<LogManager, LogError> {
        let _ = default_config; // per-topic configs come from `topic_config`
        let mut dir_locks = Vec::with_capacity(log_dirs.len());
        let mut logs = HashMap::new();
        for (dir_index, dir) in log_dirs.iter().enumerate() {
            std::fs::create_dir_all(dir).map_err(|e| LogError::io(dir, e))?;
            dir_locks.push(lock_dir(dir)?);
            let recovery_points = read_offsets_checkpoint(&dir.join(RECOVERY_POINT_CHECKPOINT));
            let log_start_offsets = read_offsets_checkpoint(&dir.join(LOG_START_OFFSET_CHECKPOINT));
            let cleaner_offsets = read_offsets_checkpoint(&dir.join(CLEANER_OFFSET_CHECKPOINT));
            let high_watermarks = read_offsets_checkpoint(&dir.join(REPLICATION_OFFSET_CHECKPOINT));
            let marker = dir.join(CLEAN_SHUTDOWN_FILE);
            let clean_shutdown = marker.exists();
            if clean_shutdown {
                std::fs::remove_file(&marker).map_err(|e| LogError::io(&marker, e))?;
                sync_dir(dir)?;
            }
            tracing::info!(log_dir = %dir.display(), clean_shutdown, "loading log dir");
            let entries = std::fs::read_dir(dir).map_err(|e| LogError::io(dir, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| LogError::io(dir, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
                if !is_dir || name == CLUSTER_METADATA_DIR {
                    continue;
                }
                let Some(tp) = TopicPartition::from_dir_name(&name) else {
                    continue;
                };
                let path = entry.path();
                let log = Log::open(
                    path.clone(),
                    topic_config(&tp.topic),
                    recovery_points.get(&tp).copied().unwrap_or(0),
                    log_start_offsets.get(&tp).copied().unwrap_or(0),
                    clean_shutdown,
                    Arc::clone(&files),
                )?;
                if let Some(offset) = cleaner_offsets.get(&tp) {
                    log.set_cleaner_checkpoint(*offset);
                }
                log.restore_high_watermark(high_watermarks.get(&tp).copied().unwrap_or(0));
                let topic_id = read_partition_metadata(&path);
                logs.insert(
                    tp,
                    ManagedLog {
                        log: Arc::new(log),
                        dir_index,
                        topic_id,
                    },
                );
            }
        }
        let stats = files.stats();
        tracing::info!(
            partitions = logs.len(),
            log_dirs = log_dirs.len(),
            open_files = stats.open,
            open_files_max = stats.capacity,
            "log manager started"
        );
        Ok(LogManager {
            log_dirs,
            _dir_locks: dir_locks,
            logs: RwLock::new(logs),
            create_lock: Mutex::new(()),
            cleaner_checkpoint_lock: Mutex::new(()),
            high_watermarks_written: Mutex::new(Vec::new()),
            files,
        })
    }

    fn read_logs(&self) -> RwLockReadGuard<'_, HashMap<TopicPartition, ManagedLog>> {
        self.logs
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_logs(&self) -> RwLockWriteGuard<'_, HashMap<TopicPartition, ManagedLog>> {
        self.logs
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn get(&self, tp: &TopicPartition) -> Option<Arc<Log>> {
        self.read_logs().get(tp).map(|m| Arc::clone(&m.log))
    }

    /// The log of `tp`, created in the log dir holding the fewest partitions if missing
    /// (writing `partition.metadata` with `topic_id`).
    pub(crate) fn get_or_create(
        &self,
        tp: &TopicPartition,
        config: LogConfig,
        topic_id: Uuid,
    ) -> Result<Arc<Log>, LogError> {
        if let Some(log) = self.get(tp) {
            return Ok(log);
        }
        let _create = self
            .create_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(log) = self.get(tp) {
            return Ok(log);
        }
        let dir_index = {
            let logs = self.read_logs();
            let mut counts = vec![0usize; self.log_dirs.len()];
            for managed in logs.values() {
                counts[managed.dir_index] += 1;
            }
            counts
                .iter()
                .enumerate()
                .min_by_key(|(_, c)| **c)
                .map(|(i, _)| i)
                .unwrap_or(0)
        };
        let log_dir = self.log_dirs.get(dir_index).ok_or_else(|| {
            LogError::io(
                "<log.dirs>",
                std::io::Error::new(std::io::ErrorKind::NotFound, "no log dirs configured"),
            )
        })?;
        let path = log_dir.join(tp.dir_name());
        let log = Log::open(path.clone(), config, 0, 0, true, Arc::clone(&self.files))?;
        write_partition_metadata(&path, topic_id)?;
        sync_dir(log_dir)?;
        tracing::info!(partition = %tp, log_dir = %log_dir.display(), %topic_id, "created log");
        let log = Arc::new(log);
        self.write_logs().insert(
            tp.clone(),
            ManagedLog {
                log: Arc::clone(&log),
                dir_index,
                topic_id: Some(topic_id),
            },
        );
        Ok(log)
    }

    /// Topic id from the partition's `partition.metadata`.
    pub(crate) fn topic_id_of(&self, tp: &TopicPartition) -> Option<Uuid> {
        self.read_logs().get(tp).and_then(|m| m.topic_id)
    }

    /// Forgets the log and removes its directory.
    pub(crate) fn delete(&self, tp: &TopicPartition) -> Result<(), LogError> {
        let _create = self
            .create_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let removed = self.write_logs().remove(tp);
        if let Some(managed) = removed {
            managed.log.delete_dir()?;
            if let Some(dir) = self.log_dirs.get(managed.dir_index) {
                sync_dir(dir)?;
            }
            tracing::info!(partition = %tp, "deleted log");
        }
        Ok(())
    }

    pub(crate) fn all(&self) -> Vec<(TopicPartition, Arc<Log>)> {
        let mut all: Vec<_> = self
            .read_logs()
            .iter()
            .map(|(tp, m)| (tp.clone(), Arc::clone(&m.log)))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    pub(crate) fn log_dir_of(&self, tp: &TopicPartition) -> Option<PathBuf> {
        let logs = self.read_logs();
        logs.get(tp)
            .and_then(|m| self.log_dirs.get(m.dir_index).cloned())
    }

    pub(crate) fn log_dirs(&self) -> Vec<PathBuf> {
        self.log_dirs.clone()
    }

    /// Writes `replication-offset-checkpoint` of every log dir (every log's high
    /// watermark) when any changed since the last write (Kafka's
    /// `replica.high.watermark.checkpoint.interval.ms` task and shutdown).
    pub(crate) fn checkpoint_high_watermarks(&self) -> Result<(), LogError> {
        let mut per_dir: Vec<Vec<String>> = vec![Vec::new(); self.log_dirs.len()];
        {
            let logs = self.read_logs();
            let mut sorted: Vec<_> = logs.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            for (tp, managed) in sorted {
                per_dir[managed.dir_index].push(format!(
                    "{} {} {}",
                    tp.topic,
                    tp.partition,
                    managed.log.high_watermark()
                ));
            }
        }
        let mut written = self
            .high_watermarks_written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if *written == per_dir {
            return Ok(());
        }
        for (dir, entries) in self.log_dirs.iter().zip(&per_dir) {
            write_checkpoint(&dir.join(REPLICATION_OFFSET_CHECKPOINT), entries)?;
        }
        *written = per_dir;
        Ok(())
    }

    /// Writes the checkpoint files of every log dir atomically (tmp + fsync + rename).
    pub(crate) fn checkpoint(&self) -> Result<(), LogError> {
        let mut per_dir: Vec<(Vec<String>, Vec<String>)> =
            vec![(Vec::new(), Vec::new()); self.log_dirs.len()];
        {
            let logs = self.read_logs();
            let mut sorted: Vec<_> = logs.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            for (tp, managed) in sorted {
                let (recovery, start) = &mut per_dir[managed.dir_index];
                recovery.push(format!(
                    "{} {} {}",
                    tp.topic,
                    tp.partition,
                    managed.log.recovery_point()
                ));
                start.push(format!(
                    "{} {} {}",
                    tp.topic,
                    tp.partition,
                    managed.log.log_start_offset()
                ));
            }
        }
        for (dir, (recovery, start)) in self.log_dirs.iter().zip(per_dir) {
            write_checkpoint(&dir.join(RECOVERY_POINT_CHECKPOINT), &recovery)?;
            write_checkpoint(&dir.join(LOG_START_OFFSET_CHECKPOINT), &start)?;
        }
        self.checkpoint_high_watermarks()?;
        self.write_cleaner_checkpoints()
    }

    /// Writes `cleaner-offset-checkpoint` of every log dir (logs the cleaner has seen).
    pub(crate) fn write_cleaner_checkpoints(&self) -> Result<(), LogError> {
        let mut per_dir: Vec<Vec<String>> = vec![Vec::new(); self.log_dirs.len()];
        {
            let logs = self.read_logs();
            let mut sorted: Vec<_> = logs.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            for (tp, managed) in sorted {
                let offset = managed.log.cleaner_checkpoint();
                if offset >= 0 {
                    per_dir[managed.dir_index]
                        .push(format!("{} {} {offset}", tp.topic, tp.partition));
                }
            }
        }
        let _write = self
            .cleaner_checkpoint_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for (dir, entries) in self.log_dirs.iter().zip(per_dir) {
            write_checkpoint(&dir.join(CLEANER_OFFSET_CHECKPOINT), &entries)?;
        }
        Ok(())
    }

    /// Retention on every log; failures are logged per log. Returns segments deleted.
    pub(crate) fn enforce_retention(&self, now_ms: i64) -> usize {
        let mut deleted = 0;
        for (tp, log) in self.all() {
            match log.enforce_retention(now_ms) {
                Ok(n) => deleted += n,
                Err(e) => tracing::error!(partition = %tp, error = %e, "retention failed"),
            }
        }
        deleted
    }

    /// Drops idle idempotent producers of every log (`producer.id.expiration.ms`).
    pub(crate) fn remove_expired_producers(&self, now_ms: i64, expiration_ms: i64) -> usize {
        self.all()
            .iter()
            .map(|(_, log)| log.remove_expired_producers(now_ms, expiration_ms))
            .sum()
    }

    /// `flush.ms`-driven flushes of every log; failures are logged per log.
    pub(crate) fn flush_due(&self, now_ms: i64) {
        for (tp, log) in self.all() {
            // A backstop: rolled segments are normally flushed right after their append.
            if let Err(e) = log.flush_rolled() {
                tracing::error!(partition = %tp, error = %e, "flushing rolled segments failed");
            }
            if let Err(e) = log.flush_if_due(now_ms) {
                tracing::error!(partition = %tp, error = %e, "flush failed");
            }
        }
    }

    /// Flushes every log, writes the checkpoints and the clean-shutdown marker. The marker
    /// is written only if everything before it succeeded.
    pub(crate) fn shutdown(&self) -> Result<(), LogError> {
        let mut first_error = None;
        for (tp, log) in self.all() {
            if let Err(e) = log.close() {
                tracing::error!(partition = %tp, error = %e, "flush at shutdown failed");
                first_error.get_or_insert(e);
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        self.checkpoint()?;
        for dir in &self.log_dirs {
            write_atomically(&dir.join(CLEAN_SHUTDOWN_FILE), b"")?;
        }
        tracing::info!(
            log_dirs = self.log_dirs.len(),
            "log manager shut down cleanly"
        );
        Ok(())
    }
}

/// Takes the exclusive flock on `<dir>/.lock`.
// `File::try_lock` is stable since Rust 1.89; the workspace MSRV says 1.85.
#[allow(clippy::incompatible_msrv)]
fn lock_dir(dir: &Path) -> Result<File, LogError> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| LogError::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(LogError::io(
            &path,
            std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                format!(
                    "log dir {} is locked by another process (another broker using it?)",
                    dir.display()
                ),
            ),
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(LogError::io(&path, e)),
    }
}

/// `topic partition offset` checkpoint; unreadable or malformed files are treated as empty
/// (as Kafka does), which at worst means more recovery work.
fn read_offsets_checkpoint(path: &Path) -> HashMap<TopicPartition, i64> {
    let lines = match read_checkpoint(path) {
        Ok(lines) => lines.unwrap_or_default(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "ignoring unreadable checkpoint");
            return HashMap::new();
        }
    };
    let mut offsets = HashMap::new();
    for line in lines {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let parsed = match parts.as_slice() {
            [topic, partition, offset] => partition
                .parse::<i32>()
                .ok()
                .zip(offset.parse::<i64>().ok())
                .map(|(p, o)| (TopicPartition::new(*topic, p), o)),
            _ => None,
        };
        match parsed {
            Some((tp, offset)) => {
                offsets.insert(tp, offset);
            }
            None => {
                tracing::warn!(path = %path.display(), line, "ignoring malformed checkpoint entry")
            }
        }
    }
    offsets
}

fn write_partition_metadata(partition_dir: &Path, topic_id: Uuid) -> Result<(), LogError> {
    let text = format!("version: 0\ntopic_id: {}\n", kafka_uuid_string(topic_id));
    write_atomically(
        &partition_dir.join(PARTITION_METADATA_FILE),
        text.as_bytes(),
    )
}

fn read_partition_metadata(partition_dir: &Path) -> Option<Uuid> {
    let path = partition_dir.join(PARTITION_METADATA_FILE);
    let text = std::fs::read_to_string(&path).ok()?;
    let topic_id = text
        .lines()
        .find_map(|l| l.strip_prefix("topic_id:"))
        .and_then(|v| parse_kafka_uuid(v.trim()));
    if topic_id.is_none() {
        tracing::warn!(path = %path.display(), "partition.metadata has no readable topic_id");
    }
    topic_id
}

#[cfg(test)]
mod tests {
    use super::super::batch::test_support::batch;
    use super::*;

    fn startup(dirs: &[PathBuf]) -> Result<LogManager, LogError> {
        LogManager::startup(
            dirs.to_vec(),
            LogConfig::default(),
            |_| LogConfig::default(),
            FileCache::new(64),
        )
    }

    #[test]
    fn high_watermarks_are_checkpointed_in_kafkas_format_and_restored_within_the_log() {
        let root = tempfile::tempdir().unwrap();
        let dirs = vec![root.path().to_path_buf()];
        let tp = TopicPartition::new("t", 0);
        {
            let manager = startup(&dirs).unwrap();
            let log = manager
                .get_or_create(&tp, LogConfig::default(), Uuid::new_v4())
                .unwrap();
            log.append_as_leader_from(
                &batch(2, 1_000),
                0,
                0,
                super::super::AppendOrigin::Client,
                super::super::TxnVerification::Off,
            )
            .unwrap();
            log.append_as_leader_from(
                &batch(2, 1_000),
                0,
                0,
                super::super::AppendOrigin::Client,
                super::super::TxnVerification::Off,
            )
            .unwrap();
            log.maybe_increment_high_watermark(2);
            manager.checkpoint_high_watermarks().unwrap();
            assert_eq!(
                std::fs::read_to_string(root.path().join(REPLICATION_OFFSET_CHECKPOINT)).unwrap(),
                "0\n1\nt 0 2\n"
            );
            // A kill -9 now: no clean shutdown, the checkpoint above is what survives.
        }
        let manager = startup(&dirs).unwrap();
        let log = manager.get(&tp).unwrap();
        assert_eq!(
            (log.high_watermark(), log.log_end_offset()),
            (2, 4),
            "the checkpointed high watermark is restored, not the log end"
        );
        // A checkpoint beyond the log (it was cut by recovery) is clamped to its end.
        std::fs::write(
            root.path().join(REPLICATION_OFFSET_CHECKPOINT),
            "0\n1\nt 0 99\n",
        )
        .unwrap();
        drop(log);
        drop(manager);
        let manager = startup(&dirs).unwrap();
        assert_eq!(manager.get(&tp).unwrap().high_watermark(), 4);
    }

    #[test]
    fn creates_logs_balanced_over_dirs_and_reloads_them() {
        let root = tempfile::tempdir().unwrap();
        let dirs = vec![root.path().join("a"), root.path().join("b")];
        let manager = startup(&dirs).unwrap();
        let id = Uuid::new_v4();
        for p in 0..4 {
            let log = manager
                .get_or_create(&TopicPartition::new("orders", p), LogConfig::default(), id)
                .unwrap();
            log.append_as_leader(&batch(2, 1_000), 0, 0).unwrap();
        }
        let counts: Vec<usize> = dirs
            .iter()
            .map(|d| {
                std::fs::read_dir(d)
                    .unwrap()
                    .filter(|e| e.as_ref().unwrap().path().is_dir())
                    .count()
            })
            .collect();
        assert_eq!(counts, vec![2, 2], "new logs go to the emptiest dir");
        let tp = TopicPartition::new("orders", 1);
        let text = std::fs::read_to_string(
            manager
                .log_dir_of(&tp)
                .unwrap()
                .join("orders-1")
                .join(PARTITION_METADATA_FILE),
        )
        .unwrap();
        assert_eq!(
            text,
            format!("version: 0\ntopic_id: {}\n", kafka_uuid_string(id))
        );
        std::fs::create_dir_all(dirs[0].join(CLUSTER_METADATA_DIR)).unwrap();
        std::fs::create_dir_all(dirs[0].join("not a partition")).unwrap();
        manager.shutdown().unwrap();
        assert!(
            dirs.iter().all(|d| d.join(CLEAN_SHUTDOWN_FILE).exists()),
            "clean shutdown leaves the marker"
        );
        assert_eq!(
            std::fs::read_to_string(dirs[0].join(RECOVERY_POINT_CHECKPOINT))
                .unwrap()
                .lines()
                .next(),
            Some("0")
        );
        drop(manager);

        let manager = startup(&dirs).unwrap();
        assert!(
            dirs.iter().all(|d| !d.join(CLEAN_SHUTDOWN_FILE).exists()),
            "startup removes the marker"
        );
        assert_eq!(
            manager.all().len(),
            4,
            "metadata and junk dirs are not partitions"
        );
        let log = manager.get(&tp).unwrap();
        assert_eq!((log.log_end_offset(), log.recovery_point()), (2, 2));
        assert_eq!(manager.topic_id_of(&tp), Some(id));
        manager.delete(&tp).unwrap();
        assert!(manager.get(&tp).is_none());
        assert!(
            !dirs.iter().any(|d| d.join("orders-1").exists()),
            "deleted partition dir is gone"
        );
    }

    #[test]
    fn second_manager_on_the_same_dir_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let dirs = vec![root.path().to_path_buf()];
        let _first = startup(&dirs).unwrap();
        let err = startup(&dirs).unwrap_err();
        assert!(
            err.to_string().contains("locked by another process"),
            "unexpected error: {err}"
        );
    }

    #[test]
    fn log_start_offsets_survive_restart_via_checkpoint() {
        let root = tempfile::tempdir().unwrap();
        let dirs = vec![root.path().to_path_buf()];
        let manager = startup(&dirs).unwrap();
        let tp = TopicPartition::new("t", 0);
        let log = manager
            .get_or_create(&tp, LogConfig::default(), Uuid::new_v4())
            .unwrap();
        for _ in 0..3 {
            log.append_as_leader(&batch(2, 1_000), 0, 0).unwrap();
        }
        log.delete_records_before(3).unwrap();
        manager.checkpoint().unwrap();
        drop(log);
        drop(manager); // unclean: no marker
        let manager = startup(&dirs).unwrap();
        let log = manager.get(&tp).unwrap();
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (3, 6));
    }
}
