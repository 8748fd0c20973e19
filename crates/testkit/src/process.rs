//! `process`: one `ironlog broker` process — its command line, its start-up contract, its
//! log file, and stopping it.
//!
//! The contract with the binary: it is started as `BINARY broker --override KEY=VALUE ...`,
//! prints `ironlog: listener NAME bound to HOST:PORT` on stdout for every listener it bound,
//! then `ironlog: started`; SIGTERM is a clean shutdown (exit code 0). Nothing here knows
//! more about the broker than that: no config defaults, no internals.
//!
//! Everything the process prints goes to one log file, a line at a time, each line tagged
//! with its stream (`[out]`, `[err]`); the owner adds its own `=====` notes (start, stop,
//! kill) to the same file, so one file tells the story of every start of a broker.
//!
//! Every wait is bounded: the start (the caller's timeout), a stop (SIGTERM, then SIGKILL
//! when the timeout passes), an exit the caller waits for.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// The stdout line that ends a successful start.
pub const LINE_STARTED: &str = "ironlog: started";
/// The stdout line naming one bound listener: `ironlog: listener NAME bound to HOST:PORT`.
pub const LINE_LISTENER_PREFIX: &str = "ironlog: listener ";
const LINE_LISTENER_BOUND: &str = " bound to ";
/// What the broker's error says when a listener's address is taken (`EADDRINUSE`).
const ADDRESS_IN_USE: &str = "Address already in use";
/// How long, after stdout closed, the stderr reader may take to see the process's last
/// words (they decide whether a failed start was a taken port).
const STDERR_DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a start that may be aborted looks at its abort flag.
const ABORT_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How often a bounded wait for an exit looks again.
const EXIT_POLL_INTERVAL: Duration = Duration::from_millis(20);

/// `key=value` pairs in order, each key once: setting a key again replaces its value and
/// moves it to the end (the last word wins, as with repeated `--override`s).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings(Vec<(String, String)>);

impl Settings {
    /// Settings of `pairs` in order ([`Settings::set`] for each).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut settings = Settings::default();
        settings.set_all(&pairs);
        settings
    }

    pub fn set(&mut self, key: &str, value: &str) -> &mut Self {
        self.0.retain(|(k, _)| k != key);
        self.0.push((key.to_string(), value.to_string()));
        self
    }

    /// [`Settings::set`] for each pair, in order.
    pub fn set_all<K: AsRef<str>, V: AsRef<str>>(&mut self, pairs: &[(K, V)]) -> &mut Self {
        for (k, v) in pairs {
            self.set(k.as_ref(), v.as_ref());
        }
        self
    }

    /// The value of `key`, if it is set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }
}

/// How to start one broker process: the binary, the `--override` settings in order, the
/// environment and limits. Every key appears once on the command line ([`Settings`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerCommand {
    pub binary: PathBuf,
    /// Programs the binary is started through, e.g. `ip netns exec ns1` to put a node in
    /// its own network namespace; empty: the binary is executed directly.
    pub wrapper: Vec<OsString>,
    /// `--override KEY=VALUE`, in command-line order.
    pub overrides: Settings,
    /// Environment variables set for the process (on top of this process's environment).
    pub env: Settings,
    /// `RLIMIT_NOFILE` (soft = hard) set in the child before exec; `None` inherits ours.
    pub open_files_limit: Option<u64>,
}

impl BrokerCommand {
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        BrokerCommand {
            binary: binary.into(),
            wrapper: Vec::new(),
            overrides: Settings::default(),
            env: Settings::default(),
            open_files_limit: None,
        }
    }

    /// Sets one `--override key=value` ([`Settings::set`]).
    pub fn set(&mut self, key: &str, value: &str) -> &mut Self {
        self.overrides.set(key, value);
        self
    }

    /// [`BrokerCommand::set`] for each pair, in order.
    pub fn set_all<K: AsRef<str>, V: AsRef<str>>(&mut self, settings: &[(K, V)]) -> &mut Self {
        self.overrides.set_all(settings);
        self
    }

    /// The value `key` is set to, if it is.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.overrides.get(key)
    }

    /// Sets (or replaces) one environment variable of the process.
    pub fn set_env(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.set(key, value);
        self
    }

    /// The arguments after the binary: `broker --override K=V ...`.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec!["broker".to_string()];
        for (k, v) in self.overrides.iter() {
            args.push("--override".to_string());
            args.push(format!("{k}={v}"));
        }
        args
    }

    fn command(&self) -> Command {
        let mut command = match self.wrapper.split_first() {
            Some((program, rest)) => {
                let mut command = Command::new(program);
                command.args(rest).arg(&self.binary);
                command
            }
            None => Command::new(&self.binary),
        };
        command.args(self.args());
        command.envs(self.env.iter());
        if let Some(limit) = self.open_files_limit {
            set_open_files_limit(&mut command, limit);
        }
        command
    }
}

fn set_open_files_limit(command: &mut Command, limit: u64) {
    use std::os::unix::process::CommandExt;
    let rlimit = libc::rlimit {
        rlim_cur: limit as libc::rlim_t,
        rlim_max: limit as libc::rlim_t,
    };
    // SAFETY: runs in the forked child before exec; setrlimit(2) is async-signal-safe and
    // `rlimit` is a plain value copied into the closure.
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

/// Why a broker did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("no broker binary at {}", path.display())]
    BinaryMissing { path: PathBuf },
    #[error("cannot start {}: {source}", binary.display())]
    Spawn {
        binary: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the broker log {}: {source}", path.display())]
    Log {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("a listener address was already in use; the broker exited ({status})")]
    AddressInUse { status: String },
    #[error("the broker closed stdout ({status}) before printing `{LINE_STARTED}`")]
    Exited { status: String },
    #[error("the broker did not print `{LINE_STARTED}` within {timeout_ms} ms")]
    Timeout { timeout_ms: u128 },
    #[error("the broker printed `{LINE_STARTED}` without any `{LINE_LISTENER_PREFIX}NAME bound to HOST:PORT` line")]
    NoListener,
    #[error("unusable listener line {line:?}: {reason}")]
    BadListenerLine { line: String, reason: String },
    #[error("the start was given up: another node of the cluster failed to start")]
    Aborted,
}

/// Why a stop or an awaited exit did not end as asked.
#[derive(Debug, thiserror::Error)]
pub enum StopError {
    #[error("the broker did not exit within {timeout_ms} ms ({what}); it was killed")]
    Timeout {
        what: &'static str,
        timeout_ms: u128,
    },
    #[error("signalling or waiting for broker pid {pid} failed: {source}")]
    Os { pid: u32, source: std::io::Error },
}

/// A bound listener as the broker printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundListener {
    pub name: String,
    pub address: SocketAddr,
}

/// A started broker process. Dropping it kills the process (SIGKILL) and reaps it.
#[derive(Debug)]
pub struct BrokerProcess {
    child: Child,
    listeners: Vec<BoundListener>,
}

/// A broker process spawned and not yet known to have started (see
/// [`StartingBroker::wait_started`]). Dropped before that, it is killed.
#[derive(Debug)]
pub struct StartingBroker {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    address_in_use: Arc<AtomicBool>,
    stderr_done: mpsc::Receiver<()>,
}

impl StartingBroker {
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Waits up to `timeout` for the listener lines and `ironlog: started`.
    pub fn wait_started(self, timeout: Duration) -> Result<BrokerProcess, StartError> {
        self.wait_started_unless(timeout, &AtomicBool::new(false))
    }

    /// [`StartingBroker::wait_started`] that gives up ([`StartError::Aborted`], the
    /// process killed) as soon as `abort` is set — by whoever started other nodes of the
    /// same cluster and saw one of them fail.
    pub fn wait_started_unless(
        mut self,
        timeout: Duration,
        abort: &AtomicBool,
    ) -> Result<BrokerProcess, StartError> {
        let Some(child) = self.child.take() else {
            return Err(StartError::Exited {
                status: "not running".to_string(),
            });
        };
        let mut process = BrokerProcess {
            child,
            listeners: Vec::new(),
        };
        match wait_for_start(&self.lines, timeout, abort) {
            Ok(listeners) => {
                process.listeners = listeners;
                Ok(process)
            }
            Err(StartWait::Failed(e)) => Err(e),
            Err(StartWait::StdoutClosed) => {
                let status = process
                    .child
                    .wait()
                    .map(|s| s.to_string())
                    .unwrap_or_else(|e| format!("status unknown: {e}"));
                // the last stderr lines decide whether the port was taken
                let _ = self.stderr_done.recv_timeout(STDERR_DRAIN_TIMEOUT);
                if self.address_in_use.load(Ordering::SeqCst) {
                    Err(StartError::AddressInUse { status })
                } else {
                    Err(StartError::Exited { status })
                }
            }
        }
    }
}

impl Drop for StartingBroker {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            kill_and_reap(child);
        }
    }
}

impl BrokerProcess {
    /// Starts `command`, appending its output to `log_path`, and waits up to
    /// `start_timeout` for the listener lines and `ironlog: started`.
    pub fn start(
        command: &BrokerCommand,
        log_path: &Path,
        start_timeout: Duration,
    ) -> Result<BrokerProcess, StartError> {
        Self::spawn(command, log_path)?.wait_started(start_timeout)
    }

    /// Spawns `command`, appending its output to `log_path`, without waiting for it to
    /// start (nodes of a cluster may wait for each other before they print `started`).
    pub fn spawn(command: &BrokerCommand, log_path: &Path) -> Result<StartingBroker, StartError> {
        if command.wrapper.is_empty() && !command.binary.is_file() {
            return Err(StartError::BinaryMissing {
                path: command.binary.clone(),
            });
        }
        let log = Arc::new(LogFile::open(log_path)?);
        let mut child = command
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| StartError::Spawn {
                binary: command.binary.clone(),
                source,
            })?;
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            kill_and_reap(&mut child);
            return Err(StartError::Spawn {
                binary: command.binary.clone(),
                source: std::io::Error::other("stdout or stderr was not captured"),
            });
        };
        let (line_tx, lines) = mpsc::channel();
        let address_in_use = Arc::new(AtomicBool::new(false));
        let (stderr_done_tx, stderr_done) = mpsc::channel();
        drain(stdout, Arc::clone(&log), "out", Some(line_tx), None, None);
        drain(
            stderr,
            log,
            "err",
            None,
            Some(Arc::clone(&address_in_use)),
            Some(stderr_done_tx),
        );
        Ok(StartingBroker {
            child: Some(child),
            lines,
            address_in_use,
            stderr_done,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every listener the broker printed, in its order.
    pub fn listeners(&self) -> &[BoundListener] {
        &self.listeners
    }

    /// The bound address of listener `name` (e.g. `PLAINTEXT`).
    pub fn listener(&self, name: &str) -> Option<SocketAddr> {
        self.listeners
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.address)
    }

    /// Whether the process still runs (not exited, or exited and not yet reaped by us).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Clean shutdown: SIGTERM, then waits up to `timeout`; past it, SIGKILL and
    /// [`StopError::Timeout`].
    pub fn terminate(mut self, timeout: Duration) -> Result<ExitStatus, StopError> {
        let pid = self.child.id();
        // SAFETY: kill(2) on the pid of our own child, which has not been reaped yet (we
        // own `child` and only `wait` reaps it), so the pid cannot have been reused.
        let rc = unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        if rc != 0 {
            return Err(StopError::Os {
                pid,
                source: std::io::Error::last_os_error(),
            });
        }
        self.wait_for_exit(timeout, "after SIGTERM")
    }

    /// Crash: SIGKILL and reap.
    pub fn kill(mut self) -> ExitStatus {
        kill_and_reap(&mut self.child)
    }

    /// Waits up to `timeout` for the process to exit on its own (e.g. at an armed crash
    /// point); past it, SIGKILL and [`StopError::Timeout`].
    pub fn wait_for_exit(
        &mut self,
        timeout: Duration,
        what: &'static str,
    ) -> Result<ExitStatus, StopError> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(EXIT_POLL_INTERVAL),
                Ok(None) => {
                    kill_and_reap(&mut self.child);
                    return Err(StopError::Timeout {
                        what,
                        timeout_ms: timeout.as_millis(),
                    });
                }
                Err(source) => {
                    return Err(StopError::Os {
                        pid: self.child.id(),
                        source,
                    })
                }
            }
        }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            kill_and_reap(&mut self.child);
        }
    }
}

fn kill_and_reap(child: &mut Child) -> ExitStatus {
    let _ = child.kill();
    match child.wait() {
        Ok(status) => status,
        // only if it was reaped already; report it as a plain kill
        Err(_) => std::os::unix::process::ExitStatusExt::from_raw(libc::SIGKILL),
    }
}

/// The broker's log file: appended to by the stream readers and the owner's notes.
#[derive(Debug)]
struct LogFile {
    file: std::sync::Mutex<File>,
}

impl LogFile {
    fn open(path: &Path) -> Result<LogFile, StartError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| StartError::Log {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(LogFile {
            file: std::sync::Mutex::new(file),
        })
    }

    fn line(&self, tag: &str, line: &str) {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(file, "[{tag}] {line}");
    }
}

/// Appends `line` to the log at `path` (the owner's notes: starts, stops, kills).
pub fn append_note(path: &Path, line: &str) {
    if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(f, "{line}");
    }
}

/// Copies `stream` line by line into the log until it closes, forwarding lines while
/// someone listens, noting a taken address, and saying when it is done. It keeps reading
/// after nobody listens any more, so the broker never blocks on a full pipe.
fn drain(
    stream: impl Read + Send + 'static,
    log: Arc<LogFile>,
    tag: &'static str,
    forward: Option<mpsc::Sender<String>>,
    address_in_use: Option<Arc<AtomicBool>>,
    done: Option<mpsc::Sender<()>>,
) {
    std::thread::spawn(move || {
        let mut forward = forward;
        for line in BufReader::new(stream).split(b'\n') {
            let Ok(line) = line else { break };
            let line = String::from_utf8_lossy(&line).into_owned();
            log.line(tag, &line);
            if let Some(flag) = &address_in_use {
                if line.contains(ADDRESS_IN_USE) {
                    flag.store(true, Ordering::SeqCst);
                }
            }
            if let Some(tx) = &forward {
                if tx.send(line).is_err() {
                    forward = None;
                }
            }
        }
        if let Some(done) = done {
            let _ = done.send(());
        }
    });
}

enum StartWait {
    Failed(StartError),
    StdoutClosed,
}

/// Collects listener lines until `ironlog: started`; the listeners, or why not.
fn wait_for_start(
    lines: &mpsc::Receiver<String>,
    timeout: Duration,
    abort: &AtomicBool,
) -> Result<Vec<BoundListener>, StartWait> {
    let deadline = Instant::now() + timeout;
    let mut listeners = Vec::new();
    loop {
        if abort.load(Ordering::SeqCst) {
            return Err(StartWait::Failed(StartError::Aborted));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match lines.recv_timeout(left.min(ABORT_POLL_INTERVAL)) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Timeout) if !left.is_zero() => continue,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(StartWait::Failed(StartError::Timeout {
                    timeout_ms: timeout.as_millis(),
                }))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err(StartWait::StdoutClosed),
        };
        let line = line.trim();
        if line == LINE_STARTED {
            if listeners.is_empty() {
                return Err(StartWait::Failed(StartError::NoListener));
            }
            return Ok(listeners);
        }
        if let Some(listener) = parse_listener_line(line).map_err(StartWait::Failed)? {
            listeners.push(listener);
        }
    }
}

/// `Ok(Some(..))` for a listener line, `Ok(None)` for any other line, an error for a
/// listener line whose address is unusable.
pub fn parse_listener_line(line: &str) -> Result<Option<BoundListener>, StartError> {
    let Some(rest) = line.trim().strip_prefix(LINE_LISTENER_PREFIX) else {
        return Ok(None);
    };
    let bad = |reason: &str| StartError::BadListenerLine {
        line: line.to_string(),
        reason: reason.to_string(),
    };
    let (name, address) = rest
        .split_once(LINE_LISTENER_BOUND)
        .ok_or_else(|| bad("no ` bound to `"))?;
    let address: SocketAddr = address
        .trim()
        .parse()
        .map_err(|_| bad("the address is not HOST:PORT"))?;
    if address.port() == 0 {
        return Err(bad("port 0 is not a bound port"));
    }
    if address.ip().is_unspecified() {
        return Err(bad("an unspecified address cannot be connected to"));
    }
    Ok(Some(BoundListener {
        name: name.trim().to_string(),
        address,
    }))
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

    #[test]
    fn listener_lines_parse_name_and_address() {
        let l = parse_listener_line("ironlog: listener PLAINTEXT bound to 127.0.0.1:40123")
            .unwrap()
            .unwrap();
        assert_eq!(l.name, "PLAINTEXT");
        assert_eq!(l.address, "127.0.0.1:40123".parse().unwrap());
        let l = parse_listener_line("ironlog: listener CONTROLLER bound to 10.0.0.2:9093")
            .unwrap()
            .unwrap();
        assert_eq!((l.name.as_str(), l.address.port()), ("CONTROLLER", 9093));
        assert!(parse_listener_line("some other log line")
            .unwrap()
            .is_none());
        for bad in [
            "ironlog: listener PLAINTEXT bound to 127.0.0.1:0",
            "ironlog: listener PLAINTEXT bound to nowhere",
            "ironlog: listener PLAINTEXT bound to 0.0.0.0:9092",
            "ironlog: listener PLAINTEXT at 127.0.0.1:9092",
        ] {
            assert!(parse_listener_line(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn start_needs_a_listener_then_started() {
        let lines = channel_with(&[
            "hello",
            "ironlog: listener PLAINTEXT bound to 127.0.0.1:5555",
            "ironlog: listener CONTROLLER bound to 127.0.0.1:5556",
            "ironlog: started",
        ]);
        let listeners = wait_for_start(&lines, Duration::from_secs(1), &AtomicBool::new(false))
            .ok()
            .unwrap();
        let names: Vec<&str> = listeners.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["PLAINTEXT", "CONTROLLER"]);
        let lines = channel_with(&["ironlog: started"]);
        assert!(matches!(
            wait_for_start(&lines, Duration::from_secs(1), &AtomicBool::new(false)),
            Err(StartWait::Failed(StartError::NoListener))
        ));
    }

    #[test]
    fn start_wait_sees_a_closed_stdout_and_a_silent_broker() {
        // all senders dropped after the buffered lines: the broker closed stdout
        let lines = channel_with(&["ironlog: listener PLAINTEXT bound to 127.0.0.1:5555"]);
        assert!(matches!(
            wait_for_start(&lines, Duration::from_secs(5), &AtomicBool::new(false)),
            Err(StartWait::StdoutClosed)
        ));
        let (_sender, lines) = mpsc::channel::<String>();
        assert!(matches!(
            wait_for_start(&lines, Duration::from_millis(10), &AtomicBool::new(false)),
            Err(StartWait::Failed(StartError::Timeout { .. }))
        ));
    }

    #[test]
    fn later_settings_replace_earlier_ones_and_keep_one_argument_per_key() {
        let mut command = BrokerCommand::new("/bin/ironlog");
        command
            .set("node.id", "1")
            .set("log.dirs", "/d")
            .set("node.id", "2");
        assert_eq!(
            command.args(),
            [
                "broker",
                "--override",
                "log.dirs=/d",
                "--override",
                "node.id=2"
            ]
        );
        assert_eq!(command.get("node.id"), Some("2"));
        assert_eq!(command.get("listeners"), None);
    }
}
