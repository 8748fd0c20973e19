//! Starting the `ironlog` broker binary for `--spawn`, and stopping it again, through the
//! test kit (`ironlog_testkit`): the same command line, start-up contract and log file as
//! the broker's tests.
//!
//! The broker is started as `ironlog broker --override node.id=1 --override log.dirs=DIR
//! --override listeners=PLAINTEXT://127.0.0.1:0 --override
//! advertised.listeners=PLAINTEXT://127.0.0.1:0 --override
//! group.initial.rebalance.delay.ms=0` (what the Kafka peer and Kafka's shipped
//! `server.properties` run with, so that group figures compare) plus one `--override
//! KEY=VALUE` per `--broker-override` (which may replace any of these), and must print `ironlog: listener PLAINTEXT bound to
//! 127.0.0.1:PORT` then `ironlog: started` on stdout.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ironlog_testkit::process::{BrokerCommand, BrokerProcess as Process, StartError, StopError};
use ironlog_testkit::{BrokerSpec, ADMIN_LISTENER, CLIENT_LISTENER};
use tempfile::TempDir;

use crate::args::BrokerOverride;
use crate::error::BenchError;

/// How long the broker may take from exec to `ironlog: started` (loading 50,000 partitions
/// included).
const STARTUP_TIMEOUT_MS: u64 = 300_000;
/// How long a broker may take to exit after SIGTERM.
const SHUTDOWN_TIMEOUT_MS: u64 = 300_000;
/// Set to 0 for every spawned broker, as the Kafka peer has it (a `--broker-override` may
/// set it back).
const GROUP_INITIAL_REBALANCE_DELAY: &str = "group.initial.rebalance.delay.ms";
/// Bytes of the broker's log shown when startup fails.
const LOG_TAIL_BYTES_MAX: u64 = 4_096;

/// A broker we started; killed on drop, and its data dir removed unless the caller owns it.
pub(crate) struct BrokerProcess {
    /// `None` once [`BrokerProcess::terminate`] reaped it.
    process: Option<Process>,
    pid: u32,
    pub(crate) bootstrap: String,
    /// `HOST:PORT` of its admin listener (`/metrics`, health), when it printed one.
    pub(crate) admin: Option<String>,
    pub(crate) binary: PathBuf,
    log_path: PathBuf,
    /// The broker's `log.dirs` (one dir); partition `T-P` lives in `log_dirs/T-P`.
    pub(crate) log_dirs: PathBuf,
    // Declared last: removed after the process is gone (`None`: the caller's directory).
    _data_dir: Option<TempDir>,
}

/// Where and how [`BrokerProcess::spawn_with`] starts the broker.
#[derive(Debug, Clone, Default)]
pub(crate) struct SpawnOptions {
    /// Data root to use (and keep) instead of a fresh temp dir: `log.dirs` is `ROOT/data`,
    /// so a second broker started on the same root finds the first one's partitions.
    pub(crate) data_root: Option<PathBuf>,
    /// `RLIMIT_NOFILE` (soft = hard) of the broker process, set before exec.
    pub(crate) open_files_limit: Option<u64>,
    /// `ironlog format` is run first with the broker's settings and these arguments
    /// (e.g. `--cluster-id ID --add-scram ...`); a non-zero exit fails the spawn.
    pub(crate) format_args: Option<Vec<String>>,
}

impl BrokerProcess {
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// `HOST:PORT` of the listener `name` the broker printed, if it printed one.
    pub(crate) fn listener(&self, name: &str) -> Option<String> {
        self.process
            .as_ref()?
            .listener(name)
            .map(|address| address.to_string())
    }

    /// Starts `binary` on a port-0 loopback listener and waits for it to report readiness.
    pub(crate) fn spawn(
        binary: &Path,
        overrides: &[BrokerOverride],
    ) -> Result<BrokerProcess, BenchError> {
        Self::spawn_with(binary, overrides, &SpawnOptions::default())
    }

    /// [`BrokerProcess::spawn`] with a given data root and open-files limit.
    pub(crate) fn spawn_with(
        binary: &Path,
        overrides: &[BrokerOverride],
        options: &SpawnOptions,
    ) -> Result<BrokerProcess, BenchError> {
        let (owned_dir, root) = match &options.data_root {
            Some(root) => {
                std::fs::create_dir_all(root).map_err(|e| {
                    BenchError::io(format!("creating the broker dir {}", root.display()), e)
                })?;
                (None, root.clone())
            }
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("ironlog-bench-")
                    .tempdir()
                    .map_err(|e| BenchError::io("creating the broker data dir", e))?;
                let root = dir.path().to_path_buf();
                (Some(dir), root)
            }
        };
        let log_dirs = root.join("data");
        let log_path = root.join("broker.log");
        let overrides: Vec<(&str, &str)> = overrides
            .iter()
            .map(|o| (o.key.as_str(), o.value.as_str()))
            .collect();
        let mut spec = BrokerSpec::new(binary)
            .overrides(&[(GROUP_INITIAL_REBALANCE_DELAY, "0")])
            .overrides(&overrides);
        if let Some(limit) = options.open_files_limit {
            spec = spec.open_files_limit(limit);
        }
        let command = spec.command_in(&log_dirs);
        if let Some(format_args) = &options.format_args {
            format(&command, format_args)?;
        }
        let timeout = Duration::from_millis(STARTUP_TIMEOUT_MS);
        let process = match Process::start(&command, &log_path, timeout) {
            Ok(process) => process,
            Err(StartError::BinaryMissing { path }) => {
                return Err(BenchError::BrokerBinaryMissing { path })
            }
            Err(e) => {
                return Err(BenchError::BrokerStart {
                    reason: e.to_string(),
                    log_tail: log_tail(&log_path),
                })
            }
        };
        tracing::info!(binary = %binary.display(), pid = process.pid(), data_dir = %root.display(), open_files_limit = ?options.open_files_limit, "spawned broker");
        let Some(listener) = process.listener(CLIENT_LISTENER) else {
            return Err(BenchError::BrokerStart {
                reason: format!("no `{CLIENT_LISTENER}` listener line"),
                log_tail: log_tail(&log_path),
            });
        };
        let bootstrap = listener.to_string();
        let admin = process.listener(ADMIN_LISTENER).map(|a| a.to_string());
        tracing::info!(%bootstrap, ?admin, "broker started");
        Ok(BrokerProcess {
            pid: process.pid(),
            process: Some(process),
            bootstrap,
            admin,
            binary: binary.to_path_buf(),
            log_path,
            log_dirs,
            _data_dir: owned_dir,
        })
    }

    /// Clean shutdown: SIGTERM, then waits (bounded) for exit code 0. Returns the time the
    /// broker took to exit.
    pub(crate) fn terminate(&mut self) -> Result<Duration, BenchError> {
        let Some(process) = self.process.take() else {
            return Err(BenchError::BrokerStart {
                reason: "the broker was already terminated".to_string(),
                log_tail: String::new(),
            });
        };
        let pid = process.pid();
        let started = Instant::now();
        match process.terminate(Duration::from_millis(SHUTDOWN_TIMEOUT_MS)) {
            Ok(status) if status.success() => Ok(started.elapsed()),
            Ok(status) => Err(BenchError::BrokerStart {
                reason: format!("broker exited with {status} after SIGTERM"),
                log_tail: log_tail(&self.log_path),
            }),
            Err(StopError::Timeout { what, .. }) => Err(BenchError::Timeout {
                what: format!("broker {pid} to exit {what}"),
                waited_ms: started.elapsed().as_millis(),
            }),
            Err(StopError::Os { pid, source }) => Err(BenchError::io(
                format!("sending SIGTERM to broker {pid}"),
                source,
            )),
        }
    }
}

/// `ironlog format` with the settings of `command` (the same `--override`s) and `args`.
fn format(command: &BrokerCommand, args: &[String]) -> Result<(), BenchError> {
    let mut line = command.args();
    if let Some(subcommand) = line.first_mut() {
        *subcommand = "format".to_string();
    }
    let output = std::process::Command::new(&command.binary)
        .args(&line)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => BenchError::BrokerBinaryMissing {
                path: command.binary.clone(),
            },
            _ => BenchError::io(format!("running {} format", command.binary.display()), e),
        })?;
    if output.status.success() {
        return Ok(());
    }
    Err(BenchError::BrokerStart {
        reason: format!("`ironlog format` exited with {}", output.status),
        log_tail: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    })
}

/// The last [`LOG_TAIL_BYTES_MAX`] bytes of the broker's log.
fn log_tail(log_path: &Path) -> String {
    let read = || -> std::io::Result<String> {
        let mut file = File::open(log_path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES_MAX)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    read().unwrap_or_else(|e| format!("(broker log unreadable: {e})"))
}

/// Default broker binary: `ironlog` next to this executable (same target dir and profile),
/// else `target/release/ironlog` relative to the working directory.
pub(crate) fn default_broker_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("ironlog")))
        .filter(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from("target/release/ironlog"))
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// The fake broker's log line containing `needle`, polled for up to 5 s.
    fn wait_for_log_line(path: &Path, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.contains(needle)) {
                return line.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "fake broker never wrote a line containing {needle:?}; log: {text:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn fake_broker(dir: &Path, script: &str) -> PathBuf {
        let path = dir.join("fake-ironlog");
        std::fs::write(&path, script).unwrap();
        let mut perms = std::fs::metadata(&path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&path, perms).unwrap();
        path
    }

    #[test]
    fn missing_binary_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("ironlog");
        assert!(matches!(
            BrokerProcess::spawn(&missing, &[]),
            Err(BenchError::BrokerBinaryMissing { .. })
        ));
    }

    #[test]
    fn a_broker_that_exits_early_is_reported_with_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let script = fake_broker(
            dir.path(),
            "#!/bin/sh\necho 'invalid configuration: nonsense' >&2\nexit 1\n",
        );
        match BrokerProcess::spawn(&script, &[]) {
            Err(BenchError::BrokerStart { reason, log_tail }) => {
                assert!(reason.contains("closed stdout"), "reason: {reason}");
                assert!(
                    log_tail.contains("invalid configuration"),
                    "log: {log_tail}"
                );
            }
            Err(other) => panic!("expected BrokerStart, got {other}"),
            Ok(_) => panic!("a broker that exited must not count as started"),
        }
    }

    #[test]
    fn format_runs_first_with_the_broker_settings_and_its_failure_stops_the_spawn() {
        let dir = tempfile::tempdir().unwrap();
        let seen = dir.path().join("format-args");
        let script = fake_broker(
            dir.path(),
            &format!(
                "#!/bin/sh\nif [ \"$1\" = format ]; then echo \"$*\" > {}; exit 0; fi\n\
                 echo 'ironlog: listener PLAINTEXT bound to 127.0.0.1:47002'\n\
                 echo 'ironlog: started'\nexec sleep 30\n",
                seen.display()
            ),
        );
        let options = SpawnOptions {
            data_root: Some(dir.path().join("root")),
            format_args: Some(vec!["--cluster-id".to_string(), "abc".to_string()]),
            ..SpawnOptions::default()
        };
        let broker = BrokerProcess::spawn_with(&script, &[], &options).unwrap();
        let line = std::fs::read_to_string(&seen).unwrap();
        assert!(line.starts_with("format --override "), "format saw: {line}");
        assert!(
            line.contains(&format!("log.dirs={}", broker.log_dirs.display()))
                && line.trim_end().ends_with("--cluster-id abc"),
            "format must get the broker's settings, then its own arguments; saw: {line}"
        );
        drop(broker);

        let failing = fake_broker(
            dir.path(),
            "#!/bin/sh\nif [ \"$1\" = format ]; then echo 'Invalid cluster.id' >&2; exit 1; fi\n\
             echo 'ironlog: started'\nexec sleep 30\n",
        );
        match BrokerProcess::spawn_with(&failing, &[], &options) {
            Err(BenchError::BrokerStart { reason, log_tail }) => {
                assert!(reason.contains("format"), "reason: {reason}");
                assert!(
                    log_tail.contains("Invalid cluster.id"),
                    "output: {log_tail}"
                );
            }
            Err(other) => panic!("expected BrokerStart, got {other}"),
            Ok(_) => panic!("a failed format must not start the broker"),
        }
    }

    #[test]
    fn spawn_reads_contract_lines_from_a_fake_broker() {
        let dir = tempfile::tempdir().unwrap();
        let script = fake_broker(
            dir.path(),
            "#!/bin/sh\necho \"args: $*\" >&2\necho 'ironlog: listener PLAINTEXT bound to 127.0.0.1:47001'\necho 'ironlog: started'\nexec sleep 30\n",
        );
        let overrides = [BrokerOverride {
            key: "log.cleaner.backoff.ms".to_string(),
            value: "100".to_string(),
        }];
        let broker = BrokerProcess::spawn(&script, &overrides).unwrap();
        assert_eq!(broker.bootstrap, "127.0.0.1:47001");
        assert!(broker.log_dirs.ends_with("data"));
        let log_path = broker.log_dirs.with_file_name("broker.log");
        let args_line = wait_for_log_line(&log_path, "args: ");
        assert!(
            args_line.contains("--override log.cleaner.backoff.ms=100"),
            "broker override was not passed on; broker saw: {args_line}"
        );
        assert!(
            args_line.contains(&format!("log.dirs={}", broker.log_dirs.display())),
            "log.dirs passed to the broker must be the dir the bench reads; broker saw: {args_line}"
        );
        assert!(broker.pid() > 0);
        drop(broker); // kills the fake broker; must not hang
    }
}
