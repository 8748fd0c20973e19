//! `dirs`: the temp dirs brokers live in, removed when a test passes and kept when it fails.

use std::path::{Path, PathBuf};

/// A temp dir (data dir and log of one broker) that is removed when dropped — unless the
/// thread is panicking, i.e. the test owning it failed: then it stays, and its path is
/// printed, so the data and the log can be read after the run.
#[derive(Debug)]
pub struct TestDir {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl TestDir {
    /// A fresh dir named `PREFIX…` under the system temp dir.
    pub fn new(prefix: &str) -> std::io::Result<TestDir> {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir()?;
        let path = dir.path().to_path_buf();
        Ok(TestDir {
            dir: Some(dir),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the dir on disk after drop, whatever happens; returns its path.
    pub fn keep(&mut self) -> &Path {
        if let Some(dir) = self.dir.take() {
            let _ = dir.keep();
        }
        &self.path
    }

    /// Whether the dir will stay after drop (kept, or the thread is panicking).
    pub fn will_be_kept(&self) -> bool {
        self.dir.is_none() || std::thread::panicking()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.keep();
        }
    }
}

/// Path of a file in `dir` whose name ends with `suffix` (e.g. segment files), sorted.
pub fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(suffix))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passing_owner_removes_the_dir_and_a_failing_one_keeps_it() {
        let passed = TestDir::new("ironlog-testkit-dirs-").unwrap();
        let passed_path = passed.path().to_path_buf();
        std::fs::write(passed_path.join("broker.log"), "log").unwrap();
        drop(passed);
        assert!(
            !passed_path.exists(),
            "a passing owner's dir must be removed"
        );

        let failing = TestDir::new("ironlog-testkit-dirs-").unwrap();
        let failing_path = failing.path().to_path_buf();
        std::fs::write(failing_path.join("broker.log"), "log").unwrap();
        let outcome = std::thread::spawn(move || {
            let _owned = failing;
            panic!("the owning test fails");
        })
        .join();
        assert!(outcome.is_err(), "the owner thread panicked");
        assert!(
            failing_path.join("broker.log").is_file(),
            "a failing owner's dir and log must stay"
        );
        std::fs::remove_dir_all(&failing_path).unwrap();
    }
}
