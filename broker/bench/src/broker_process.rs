//! Starting the `ironlog` broker binary for `--spawn`, and stopping it again.
//!
//! Contract with the broker binary: it is started as
//! `ironlog broker --override node.id=1 --override log.dirs=DIR
//!  --override listeners=PLAINTEXT://127.0.0.1:0
//!  --override advertised.listeners=PLAINTEXT://127.0.0.1:0`
//! plus one `--override KEY=VALUE` per `--broker-override`, and prints `ironlog: listener PLAINTEXT bound to 127.0.0.1:PORT` then `ironlog: started`
//! on stdout.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::args::BrokerOverride;
use crate::error::BenchError;

const LISTENER_LINE_PREFIX: &str = "ironlog: listener PLAINTEXT bound to ";
const STARTED_LINE: &str = "ironlog: started";
/// How long the broker may take from exec to `ironlog: started` (loading 50,000 partitions
/// included).
const STARTUP_TIMEOUT_MS: u64 = 300_000;
/// Bytes of the broker's stderr log shown when startup fails.
const LOG_TAIL_BYTES_MAX: u64 = 4_096;

/// How long a broker may take to exit after SIGTERM.
const SHUTDOWN_TIMEOUT_MS: u64 = 300_000;

/// A broker we started; killed on drop, and its data dir removed unless the caller owns it.
pub(crate) struct BrokerProcess {
    child: Child,
    /// Reaped by [`BrokerProcess::terminate`]: nothing left to kill.
    exited: bool,
    pub(crate) bootstrap: String,
    pub(crate) binary: PathBuf,
    log_path: PathBuf,
    /// The broker's `log.dirs` (one dir); partition `T-P` lives in `log_dirs/T-P`.
    pub(crate) log_dirs: PathBuf,
    // Declared last: removed after the child is gone (`None`: the caller's directory).
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
}

impl BrokerProcess {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
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
        if !binary.is_file() {
            return Err(BenchError::BrokerBinaryMissing {
                path: binary.to_path_buf(),
            });
        }
        let (owned_dir, root) = match &options.data_root {
            Some(root) => (None, root.clone()),
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
        let log_file = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| BenchError::io(format!("creating {}", log_path.display()), e))?;
        let mut command = Command::new(binary);
        if let Some(limit) = options.open_files_limit {
            use std::os::unix::process::CommandExt;
            let rlimit = libc::rlimit {
                rlim_cur: limit as libc::rlim_t,
                rlim_max: limit as libc::rlim_t,
            };
            // SAFETY: runs in the forked child before exec; setrlimit(2) is
            // async-signal-safe and `rlimit` is a plain value copied into the closure.
            unsafe {
                command.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let mut child = command
            .arg("broker")
            .args(["--override", "node.id=1"])
            .arg("--override")
            .arg(format!("log.dirs={}", log_dirs.display()))
            .args(["--override", "listeners=PLAINTEXT://127.0.0.1:0"])
            .args(["--override", "advertised.listeners=PLAINTEXT://127.0.0.1:0"])
            .args(
                overrides
                    .iter()
                    .flat_map(|o| ["--override".to_string(), o.argument()]),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .map_err(|e| BenchError::io(format!("starting {}", binary.display()), e))?;
        tracing::info!(binary = %binary.display(), pid = child.id(), data_dir = %root.display(), open_files_limit = ?options.open_files_limit, "spawned broker");

        let lines = match child.stdout.take() {
            Some(stdout) => forward_lines(stdout),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(BenchError::BrokerStart {
                    reason: "stdout was not captured".to_string(),
                    log_tail: String::new(),
                });
            }
        };
        let mut broker = BrokerProcess {
            child,
            exited: false,
            bootstrap: String::new(),
            binary: binary.to_path_buf(),
            log_path,
            log_dirs,
            _data_dir: owned_dir,
        };
        match wait_for_startup(&lines, Duration::from_millis(STARTUP_TIMEOUT_MS)) {
            Ok(listener) => {
                broker.bootstrap = listener.to_string();
                tracing::info!(bootstrap = %broker.bootstrap, "broker started");
                Ok(broker)
            }
            Err(reason) => Err(BenchError::BrokerStart {
                reason,
                log_tail: broker.log_tail(),
            }),
        }
    }

    /// Clean shutdown: SIGTERM, then waits (bounded) for exit code 0. Returns the time the
    /// broker took to exit.
    pub(crate) fn terminate(&mut self) -> Result<Duration, BenchError> {
        let pid = self.child.id();
        let started = Instant::now();
        // SAFETY: kill(2) on our own child, which has not been reaped yet.
        if unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) } != 0 {
            return Err(BenchError::io(
                format!("sending SIGTERM to broker {pid}"),
                std::io::Error::last_os_error(),
            ));
        }
        let deadline = started + Duration::from_millis(SHUTDOWN_TIMEOUT_MS);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.exited = true;
                    if !status.success() {
                        return Err(BenchError::BrokerStart {
                            reason: format!("broker exited with {status} after SIGTERM"),
                            log_tail: self.log_tail(),
                        });
                    }
                    return Ok(started.elapsed());
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Ok(None) => {
                    return Err(BenchError::Timeout {
                        what: format!("broker {pid} to exit after SIGTERM"),
                        waited_ms: started.elapsed().as_millis(),
                    })
                }
                Err(e) => return Err(BenchError::io(format!("waiting for broker {pid}"), e)),
            }
        }
    }

    fn log_tail(&self) -> String {
        let read = || -> std::io::Result<String> {
            let mut file = File::open(&self.log_path)?;
            let len = file.metadata()?.len();
            file.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES_MAX)))?;
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        };
        read().unwrap_or_else(|e| format!("(broker log unreadable: {e})"))
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        if self.exited {
            return;
        }
        // SIGKILL: the data dir is thrown away, so a clean shutdown buys nothing here.
        if let Err(e) = self.child.kill() {
            tracing::warn!(pid = self.child.id(), error = %e, "could not kill spawned broker");
        }
        let _ = self.child.wait();
    }
}

/// Reads the broker's stdout on a thread, sending each line until the pipe closes (the
/// broker exited) or nobody listens any more; after that, keeps draining so the broker
/// never blocks on a full pipe.
fn forward_lines(stdout: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut listening = true;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if listening && sender.send(line).is_err() {
                listening = false;
            }
        }
    });
    receiver
}

/// Waits for the listener line and then the started line; returns the bound address.
fn wait_for_startup(
    lines: &mpsc::Receiver<String>,
    timeout: Duration,
) -> Result<SocketAddr, String> {
    let deadline = Instant::now() + timeout;
    let mut listener = None;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let line = match lines.recv_timeout(remaining) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "no `{STARTED_LINE}` within {} ms",
                    timeout.as_millis()
                ))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err("broker closed stdout (exited?) before it started".to_string())
            }
        };
        if let Some(address) = parse_listener_line(&line)? {
            listener = Some(address);
        } else if line.trim() == STARTED_LINE {
            return listener.ok_or_else(|| {
                format!("`{STARTED_LINE}` came before any `{LISTENER_LINE_PREFIX}PORT` line")
            });
        }
    }
}

/// `Ok(Some(addr))` for a listener line, `Ok(None)` for any other line, `Err` for a
/// listener line whose address is unusable.
fn parse_listener_line(line: &str) -> Result<Option<SocketAddr>, String> {
    let Some(rest) = line.trim().strip_prefix(LISTENER_LINE_PREFIX) else {
        return Ok(None);
    };
    let address: SocketAddr = rest
        .parse()
        .map_err(|_| format!("listener line has no HOST:PORT: {line:?}"))?;
    if !address.ip().is_loopback() || address.port() == 0 {
        return Err(format!(
            "listener {address} is not a connectable loopback address"
        ));
    }
    Ok(Some(address))
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
    use super::*;

    fn channel_with(lines: &[&str]) -> mpsc::Receiver<String> {
        let (sender, receiver) = mpsc::channel();
        for line in lines {
            sender.send(line.to_string()).unwrap();
        }
        receiver
    }

    /// The fake broker's stderr line starting with `prefix`, polled for up to 5 s.
    fn wait_for_log_line(path: &Path, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.starts_with(prefix)) {
                return line.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "fake broker never wrote a line starting with {prefix:?}; log: {text:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn listener_line_parses_loopback_port() {
        assert_eq!(
            parse_listener_line("ironlog: listener PLAINTEXT bound to 127.0.0.1:40123").unwrap(),
            Some("127.0.0.1:40123".parse().unwrap())
        );
        assert_eq!(parse_listener_line("some other log line").unwrap(), None);
        assert!(parse_listener_line("ironlog: listener PLAINTEXT bound to 10.0.0.1:9092").is_err());
        assert!(parse_listener_line("ironlog: listener PLAINTEXT bound to 127.0.0.1:0").is_err());
        assert!(parse_listener_line("ironlog: listener PLAINTEXT bound to nowhere").is_err());
    }

    #[test]
    fn startup_needs_listener_then_started() {
        let lines = channel_with(&[
            "hello",
            "ironlog: listener PLAINTEXT bound to 127.0.0.1:5555",
            "ironlog: started",
        ]);
        assert_eq!(
            wait_for_startup(&lines, Duration::from_secs(1)).unwrap(),
            "127.0.0.1:5555".parse().unwrap()
        );
        let lines = channel_with(&["ironlog: started"]);
        assert!(
            wait_for_startup(&lines, Duration::from_secs(1)).is_err(),
            "started without a listener line must fail"
        );
    }

    #[test]
    fn startup_fails_when_broker_exits_early() {
        // All senders dropped after the buffered lines: the broker closed stdout.
        let lines = channel_with(&["ironlog: listener PLAINTEXT bound to 127.0.0.1:5555"]);
        let err = wait_for_startup(&lines, Duration::from_secs(5)).unwrap_err();
        assert!(err.contains("closed stdout"), "unexpected reason: {err}");
    }

    #[test]
    fn startup_times_out_when_broker_is_silent() {
        let (_sender, lines) = mpsc::channel::<String>();
        let err = wait_for_startup(&lines, Duration::from_millis(10)).unwrap_err();
        assert!(
            err.contains("no `ironlog: started`"),
            "unexpected reason: {err}"
        );
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
    fn spawn_reads_contract_lines_from_a_fake_broker() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("fake-ironlog");
        std::fs::write(
            &script,
            "#!/bin/sh\necho \"args: $*\" >&2\necho 'ironlog: listener PLAINTEXT bound to 127.0.0.1:47001'\necho 'ironlog: started'\nexec sleep 30\n",
        )
        .unwrap();
        let mut perms = std::fs::metadata(&script).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&script, perms).unwrap();
        let overrides = [BrokerOverride {
            key: "log.cleaner.backoff.ms".to_string(),
            value: "100".to_string(),
        }];
        let broker = BrokerProcess::spawn(&script, &overrides).unwrap();
        assert_eq!(broker.bootstrap, "127.0.0.1:47001");
        assert!(broker.log_dirs.ends_with("data"));
        let args_line = wait_for_log_line(&broker.log_path, "args: ");
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

    #[test]
    fn terminate_waits_for_a_clean_exit_and_a_given_root_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("fake-ironlog");
        std::fs::write(
            &script,
            "#!/bin/sh\ntrap 'exit 0' TERM\necho 'ironlog: listener PLAINTEXT bound to 127.0.0.1:47002'\necho 'ironlog: started'\nsleep 30 &\nwait $!\n",
        )
        .unwrap();
        let mut perms = std::fs::metadata(&script).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&script, perms).unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        let options = SpawnOptions {
            data_root: Some(root.clone()),
            open_files_limit: Some(256),
        };
        let mut broker = BrokerProcess::spawn_with(&script, &[], &options).unwrap();
        assert_eq!(broker.log_dirs, root.join("data"));
        let took = broker.terminate().unwrap();
        assert!(
            took < Duration::from_secs(30),
            "SIGTERM must end the fake broker"
        );
        drop(broker);
        assert!(
            root.is_dir(),
            "a data root the caller owns survives the broker"
        );
    }
}
