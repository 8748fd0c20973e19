//! `LeaderEpochCache`: leader epoch → start offset, persisted in `leader-epoch-checkpoint`
//! (Kafka's text format: `0`, count, `epoch start_offset` lines).

use std::path::{Path, PathBuf};

use super::checkpoint::{read_checkpoint, write_checkpoint};
use super::LogError;

pub(crate) const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";

/// Kafka's UNDEFINED_EPOCH / UNDEFINED_EPOCH_OFFSET.
pub(crate) const UNDEFINED_EPOCH: i32 = -1;
pub(crate) const UNDEFINED_EPOCH_OFFSET: i64 = -1;

#[derive(Debug)]
pub(crate) struct LeaderEpochCache {
    path: PathBuf,
    /// `(epoch, start_offset)`, both strictly increasing.
    entries: Vec<(i32, i64)>,
}

impl LeaderEpochCache {
    pub(crate) fn load(dir: &Path) -> Result<Self, LogError> {
        let path = dir.join(LEADER_EPOCH_CHECKPOINT);
        let mut entries = Vec::new();
        for line in read_checkpoint(&path)?.unwrap_or_default() {
            let mut parts = line.split_whitespace();
            let parsed = (
                parts.next().and_then(|e| e.parse().ok()),
                parts.next().and_then(|o| o.parse().ok()),
            );
            match parsed {
                (Some(epoch), Some(offset)) => entries.push((epoch, offset)),
                _ => {
                    return Err(LogError::io(
                        &path,
                        std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!("bad leader epoch entry {line:?}"),
                        ),
                    ))
                }
            }
        }
        let monotonic = entries
            .windows(2)
            .all(|w: &[(i32, i64)]| w[0].0 < w[1].0 && w[0].1 <= w[1].1);
        if !monotonic {
            tracing::warn!(path = %path.display(), "leader epoch checkpoint is not monotonic; keeping its increasing prefix");
            let mut kept: Vec<(i32, i64)> = Vec::new();
            for e in entries {
                if kept.last().is_none_or(|l| l.0 < e.0 && l.1 <= e.1) {
                    kept.push(e);
                }
            }
            entries = kept;
        }
        Ok(Self { path, entries })
    }

    fn persist(&self) -> Result<(), LogError> {
        let lines: Vec<String> = self
            .entries
            .iter()
            .map(|(e, o)| format!("{e} {o}"))
            .collect();
        write_checkpoint(&self.path, &lines)
    }

    pub(crate) fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.0)
    }

    /// Records that `epoch` starts at `start_offset` (Kafka's `assign`): no-op for the
    /// current latest epoch or a negative epoch; otherwise conflicting entries (epoch or
    /// start offset not below the new one) are dropped, the entry added and persisted.
    pub(crate) fn assign(&mut self, epoch: i32, start_offset: i64) -> Result<(), LogError> {
        if epoch < 0 || self.latest_epoch() == Some(epoch) {
            return Ok(());
        }
        if self.latest_epoch().is_some_and(|latest| epoch < latest) {
            tracing::warn!(epoch, start_offset, latest = ?self.latest_epoch(), "leader epoch goes backwards; dropping newer entries");
        }
        self.entries
            .retain(|(e, o)| *e < epoch && *o < start_offset);
        self.entries.push((epoch, start_offset));
        self.persist()
    }

    /// Drops entries starting at or after `end_offset` (the log was truncated there).
    pub(crate) fn truncate_from_end(&mut self, end_offset: i64) -> Result<(), LogError> {
        let before = self.entries.len();
        self.entries.retain(|(_, o)| *o < end_offset);
        if self.entries.len() != before {
            self.persist()?;
        }
        Ok(())
    }

    /// The log now starts at `start_offset`: entries wholly below it go, the one covering
    /// it is moved up to start there.
    pub(crate) fn truncate_from_start(&mut self, start_offset: i64) -> Result<(), LogError> {
        let covering = self.entries.partition_point(|(_, o)| *o <= start_offset);
        if covering == 0 {
            return Ok(());
        }
        let changed = covering > 1 || self.entries[covering - 1].1 != start_offset;
        if changed {
            self.entries.drain(..covering - 1);
            self.entries[0].1 = start_offset;
            self.persist()?;
        }
        Ok(())
    }

    /// OffsetForLeaderEpoch: `(epoch, end offset)` for `requested_epoch`, Kafka's
    /// `endOffsetFor`: the latest epoch ends at the LEO; an older epoch ends where the next
    /// higher epoch starts (reported with the largest known epoch `<=` the requested one);
    /// an unknown larger epoch, or an empty cache, gives `(-1, -1)`.
    pub(crate) fn end_offset_for(&self, requested_epoch: i32, log_end_offset: i64) -> (i32, i64) {
        if requested_epoch == UNDEFINED_EPOCH {
            return (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        }
        if self.latest_epoch() == Some(requested_epoch) {
            return (requested_epoch, log_end_offset);
        }
        let higher = self.entries.iter().find(|(e, _)| *e > requested_epoch);
        let floor = self
            .entries
            .iter()
            .rev()
            .find(|(e, _)| *e <= requested_epoch);
        match (higher, floor) {
            (None, _) => (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET),
            (Some(&(_, higher_start)), None) => (requested_epoch, higher_start),
            (Some(&(_, higher_start)), Some(&(floor_epoch, _))) => (floor_epoch, higher_start),
        }
    }

    #[cfg(test)]
    pub(crate) fn entries(&self) -> &[(i32, i64)] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assigns_persists_and_answers_offset_for_leader_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = LeaderEpochCache::load(dir.path()).unwrap();
        assert_eq!(
            cache.end_offset_for(0, 10),
            (-1, -1),
            "empty cache knows no epoch"
        );
        cache.assign(1, 0).unwrap();
        cache.assign(1, 5).unwrap();
        cache.assign(3, 10).unwrap();
        cache.assign(4, 20).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(LEADER_EPOCH_CHECKPOINT)).unwrap(),
            "0\n3\n1 0\n3 10\n4 20\n"
        );
        assert_eq!(
            cache.end_offset_for(4, 25),
            (4, 25),
            "latest epoch ends at the LEO"
        );
        assert_eq!(cache.end_offset_for(3, 25), (3, 20));
        assert_eq!(
            cache.end_offset_for(2, 25),
            (1, 10),
            "unknown middle epoch reports the floor epoch"
        );
        assert_eq!(
            cache.end_offset_for(0, 25),
            (0, 0),
            "epoch below all ends where the first starts"
        );
        assert_eq!(cache.end_offset_for(9, 25), (-1, -1));

        let mut cache = LeaderEpochCache::load(dir.path()).unwrap();
        assert_eq!(cache.entries(), &[(1, 0), (3, 10), (4, 20)]);
        cache.truncate_from_end(15).unwrap();
        assert_eq!(cache.entries(), &[(1, 0), (3, 10)]);
        cache.truncate_from_start(12).unwrap();
        assert_eq!(cache.entries(), &[(3, 12)]);
    }
}
