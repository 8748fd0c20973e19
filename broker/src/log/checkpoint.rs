//! Kafka's text checkpoint files: a version line (`0`), an entry count, then one entry per
//! line. Written atomically: `<file>.tmp`, fsync, rename, fsync of the directory.

use std::io::Write;
use std::path::Path;

use super::LogError;

const CHECKPOINT_VERSION: &str = "0";

fn invalid(path: &Path, why: String) -> LogError {
    LogError::io(
        path,
        std::io::Error::new(std::io::ErrorKind::InvalidData, why),
    )
}

/// Entry lines of the checkpoint at `path`; `None` when the file does not exist.
/// A malformed file (wrong version, count mismatch) is an `Io` error of kind `InvalidData`.
pub(crate) fn read_checkpoint(path: &Path) -> Result<Option<Vec<String>>, LogError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LogError::io(path, e)),
    };
    let mut lines = text.lines();
    let version = lines.next().unwrap_or_default().trim();
    if version != CHECKPOINT_VERSION {
        return Err(invalid(
            path,
            format!("unsupported checkpoint version {version:?}"),
        ));
    }
    let count: usize = lines
        .next()
        .unwrap_or_default()
        .trim()
        .parse()
        .map_err(|_| invalid(path, "checkpoint entry count is not a number".to_string()))?;
    let entries: Vec<String> = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string())
        .collect();
    if entries.len() != count {
        return Err(invalid(
            path,
            format!(
                "checkpoint says {count} entries but holds {}",
                entries.len()
            ),
        ));
    }
    Ok(Some(entries))
}

/// Writes `entries` atomically (tmp + fsync + rename + directory fsync).
pub(crate) fn write_checkpoint(path: &Path, entries: &[String]) -> Result<(), LogError> {
    let mut text = format!("{CHECKPOINT_VERSION}\n{}\n", entries.len());
    for entry in entries {
        text.push_str(entry);
        text.push('\n');
    }
    write_atomically(path, text.as_bytes())
}

/// `path.tmp` + fsync + rename over `path` + fsync of the parent directory.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), LogError> {
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).map_err(|e| LogError::io(&tmp, e))?;
    file.write_all(bytes).map_err(|e| LogError::io(&tmp, e))?;
    file.sync_all().map_err(|e| LogError::io(&tmp, e))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| LogError::io(path, e))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// fsync of a directory, making created/renamed/removed entries durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LogError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| LogError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_count_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recovery-point-offset-checkpoint");
        assert_eq!(
            read_checkpoint(&path).unwrap(),
            None,
            "a missing checkpoint is not an error"
        );
        write_checkpoint(&path, &["t 0 5".to_string(), "t 1 7".to_string()]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "0\n2\nt 0 5\nt 1 7\n"
        );
        assert_eq!(
            read_checkpoint(&path).unwrap().unwrap(),
            vec!["t 0 5", "t 1 7"]
        );
        std::fs::write(&path, "0\n3\nt 0 5\n").unwrap();
        assert!(
            read_checkpoint(&path).is_err(),
            "a count mismatch must be reported"
        );
    }
}
