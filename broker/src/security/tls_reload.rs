//! `ReloadingTls`: a TLS acceptor or connector rebuilt when its PEM files change on disk, so
//! that a certificate rotated by its issuer (cert-manager renewing a Kubernetes Secret, an
//! operator replacing the files) serves new connections without a restart.
//!
//! The files are read by path at most once per `ssl.file.reload.interval.ms`, when a
//! connection is accepted or dialled (nothing runs between connections, no watcher thread):
//! a change of content, an atomic rename over the file and a Secret volume's `..data`
//! symlink swap look alike, since the path is opened anew each time. Changed contents are
//! built into a new acceptor or connector; connections already open keep the TLS session
//! they have. New contents that do not build (bad PEM, a key that does not match its
//! certificate, an empty truststore) are refused with one logged error per distinct
//! content, and the previous certificate keeps serving. A file that cannot be read (missing
//! for a moment during a swap) is retried at the next interval.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::SecurityError;

/// Builds the TLS value from the files, reading them itself.
type Build<T> = Box<dyn Fn() -> Result<T, SecurityError> + Send + Sync>;

/// A TLS value (`TlsAcceptor`, `TlsConnector`) and the files it was built from.
pub(crate) struct ReloadingTls<T> {
    /// `listener <name> (<role>)`, for the log lines.
    what: String,
    files: Vec<PathBuf>,
    /// `None`: never reloaded (`ssl.file.reload.interval.ms=0`).
    interval: Option<Duration>,
    build: Build<T>,
    state: Mutex<State<T>>,
}

struct State<T> {
    current: T,
    /// The files' contents `current` was built from.
    loaded: Vec<Vec<u8>>,
    /// Contents that did not build, so that they are logged once, not at every interval.
    refused: Option<Vec<Vec<u8>>>,
    /// Whether the last check could not read a file (logged once until it can again).
    unreadable: bool,
    next_check: Instant,
}

impl<T: Clone> ReloadingTls<T> {
    /// Builds the first value (an error here is a start-up error) and remembers `files`.
    pub(crate) fn new(
        what: String,
        files: Vec<PathBuf>,
        interval: Option<Duration>,
        build: Build<T>,
    ) -> Result<Self, SecurityError> {
        // Read before building: a change in between is seen as a change at the next check.
        let loaded = read_all(&files).unwrap_or_default();
        let current = build()?;
        Ok(Self {
            what,
            state: Mutex::new(State {
                current,
                loaded,
                refused: None,
                unreadable: false,
                next_check: Instant::now() + interval.unwrap_or_default(),
            }),
            files,
            interval,
            build,
        })
    }

    /// The value new connections use: rebuilt first when the interval has passed since the
    /// last check and the files' contents changed since it was built.
    pub(crate) fn current(&self) -> T {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(interval) = self.interval {
            let now = Instant::now();
            if now >= state.next_check {
                state.next_check = now + interval;
                self.check(&mut state);
            }
        }
        state.current.clone()
    }

    fn check(&self, state: &mut State<T>) {
        let contents = match read_all(&self.files) {
            Ok(contents) => {
                state.unreadable = false;
                contents
            }
            Err(e) => {
                if !state.unreadable {
                    tracing::warn!(what = %self.what, error = %e, "cannot read the TLS files to check them for a change; keeping the loaded certificate");
                    state.unreadable = true;
                }
                return;
            }
        };
        if contents == state.loaded || state.refused.as_ref() == Some(&contents) {
            return;
        }
        match (self.build)() {
            Ok(value) => {
                tracing::info!(what = %self.what, files = ?self.files, "TLS files changed: new connections use the new certificate and trust store");
                state.current = value;
                state.loaded = contents;
                state.refused = None;
            }
            Err(e) => {
                tracing::error!(what = %self.what, error = %e, "TLS files changed but cannot be used; the previous certificate and trust store keep serving");
                state.refused = Some(contents);
            }
        }
    }
}

fn read_all(files: &[PathBuf]) -> std::io::Result<Vec<Vec<u8>>> {
    files
        .iter()
        .map(|path| {
            std::fs::read(path)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A "TLS value" that is the file's text, refused when it says `broken`.
    fn reloading(
        path: &std::path::Path,
        interval: Option<Duration>,
        builds: Arc<AtomicUsize>,
    ) -> ReloadingTls<String> {
        let file = path.to_path_buf();
        ReloadingTls::new(
            "test".to_string(),
            vec![path.to_path_buf()],
            interval,
            Box::new(move || {
                builds.fetch_add(1, Ordering::SeqCst);
                let text = std::fs::read_to_string(&file).map_err(|e| SecurityError::Config {
                    listener: "test".into(),
                    name: "file".into(),
                    message: e.to_string(),
                })?;
                if text.contains("broken") {
                    return Err(SecurityError::Config {
                        listener: "test".into(),
                        name: "file".into(),
                        message: "broken".into(),
                    });
                }
                Ok(text)
            }),
        )
        .expect("the first build works")
    }

    #[test]
    fn changed_files_are_rebuilt_and_broken_ones_refused_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("keystore.pem");
        std::fs::write(&path, "A").expect("write");
        let builds = Arc::new(AtomicUsize::new(0));
        let tls = reloading(&path, Some(Duration::ZERO), builds.clone());
        assert_eq!(tls.current(), "A");
        assert_eq!(
            builds.load(Ordering::SeqCst),
            1,
            "unchanged files are not rebuilt"
        );

        // An atomic rename over the file.
        let next = dir.path().join("keystore.pem.new");
        std::fs::write(&next, "B").expect("write");
        std::fs::rename(&next, &path).expect("rename");
        assert_eq!(tls.current(), "B", "a renamed-over file is loaded");

        std::fs::write(&path, "broken").expect("write");
        assert_eq!(
            tls.current(),
            "B",
            "a broken file leaves the old value serving"
        );
        assert_eq!(tls.current(), "B");
        assert_eq!(
            builds.load(Ordering::SeqCst),
            3,
            "a refused content is tried once, not at every check"
        );

        std::fs::remove_file(&path).expect("remove");
        assert_eq!(tls.current(), "B", "a missing file leaves the old value");

        std::fs::write(&path, "C").expect("write");
        assert_eq!(tls.current(), "C", "a fixed file is loaded");
    }

    #[test]
    fn nothing_is_reread_before_the_interval_or_when_reload_is_off() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("keystore.pem");
        std::fs::write(&path, "A").expect("write");
        let builds = Arc::new(AtomicUsize::new(0));
        let hourly = reloading(&path, Some(Duration::from_secs(3600)), builds.clone());
        let never = reloading(&path, None, builds.clone());
        std::fs::write(&path, "B").expect("write");
        assert_eq!(
            hourly.current(),
            "A",
            "checked again only after the interval"
        );
        assert_eq!(
            never.current(),
            "A",
            "never reloaded when the interval is 0"
        );
        assert_eq!(builds.load(Ordering::SeqCst), 2);
    }
}
