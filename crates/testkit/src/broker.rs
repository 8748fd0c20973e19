//! `broker`: [`TestBroker`], one broker process for a test — started, stopped, killed and
//! restarted on the same data dir — with its log kept when the test fails.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crate::clients::KafkaClients;
use crate::dirs::TestDir;
use crate::process::{
    append_note, BoundListener, BrokerCommand, BrokerProcess, Settings, StartError, StartingBroker,
};

/// How long a broker may take from spawn to printing `ironlog: started`.
pub const BROKER_START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a broker may take to exit after SIGTERM: above the broker's own bounds on a
/// clean shutdown (controlled shutdown up to `broker.session.timeout.ms`, 9 s by default,
/// then background tasks up to 10 s and in-flight requests up to 15 s, then the logs).
pub const BROKER_STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long [`TestBroker::restart_on_same_port`] waits for a port taken meanwhile.
pub const PORT_RETAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a restart on fixed ports waits between attempts while a port is taken.
const PORT_RETAKE_INTERVAL: Duration = Duration::from_millis(200);
/// Lines of broker log printed when a test fails.
const LOG_TAIL_LINES: usize = 150;
/// The client listener every test broker has.
pub const CLIENT_LISTENER: &str = "PLAINTEXT";
/// The name the broker prints for its admin HTTP listener (metrics, health, log levels).
pub const ADMIN_LISTENER: &str = "ADMIN";

/// Everything a [`TestBroker`] is started with. The defaults make a single-node broker
/// (node 1, combined roles as the binary's embedded configuration has them) with a port-0
/// PLAINTEXT listener on 127.0.0.1 and its data in a fresh temp dir; overrides replace
/// any of them.
#[derive(Debug, Clone)]
pub struct BrokerSpec {
    binary: PathBuf,
    host: IpAddr,
    overrides: Settings,
    env: Settings,
    open_files_limit: Option<u64>,
    crash_point: Option<String>,
    dir_prefix: String,
    name: String,
}

impl BrokerSpec {
    /// A broker of `binary` (tests of the broker crate pass `env!("CARGO_BIN_EXE_ironlog")`).
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        BrokerSpec {
            binary: binary.into(),
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            overrides: Settings::default(),
            env: Settings::default(),
            open_files_limit: None,
            crash_point: None,
            dir_prefix: "ironlog-test-".to_string(),
            name: "broker".to_string(),
        }
    }

    /// One `--override key=value` (replacing a default or an earlier override of the key).
    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.overrides.set(key, value);
        self
    }

    /// [`BrokerSpec::set`] for each pair, in order.
    pub fn overrides(mut self, overrides: &[(&str, &str)]) -> Self {
        self.overrides.set_all(overrides);
        self
    }

    /// One environment variable of the broker process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.set(key, value);
        self
    }

    /// The process's open-files limit (soft and hard, set before exec), for every start.
    pub fn open_files_limit(mut self, limit: u64) -> Self {
        self.open_files_limit = Some(limit);
        self
    }

    /// The address the default listener binds and advertises (127.0.0.1 unless a test
    /// gives the broker an address of its own, e.g. in a network namespace).
    pub fn host(mut self, host: IpAddr) -> Self {
        self.host = host;
        self
    }

    /// Arms a named crash point (`IRONLOG_CRASH_AT`) for the first start.
    pub fn crash_point(mut self, name: &str) -> Self {
        self.crash_point = Some(name.to_string());
        self
    }

    /// The temp dir's name prefix and the broker's name in messages (e.g. `node 2`).
    pub fn named(mut self, name: &str, dir_prefix: &str) -> Self {
        self.name = name.to_string();
        self.dir_prefix = dir_prefix.to_string();
        self
    }

    /// The command line of this broker with its data in `data_dir`: node 1 on a port-0
    /// PLAINTEXT listener, then the overrides, the environment and the limits. For users
    /// that run the process themselves ([`BrokerProcess`]) and report errors instead of
    /// panicking.
    pub fn command_in(&self, data_dir: &Path) -> BrokerCommand {
        let listener = format!("{CLIENT_LISTENER}://{}:0", host_in_url(self.host));
        let mut command = BrokerCommand::new(&self.binary);
        command
            .set("node.id", "1")
            .set("log.dirs", &data_dir.display().to_string())
            .set("listeners", &listener)
            .set("advertised.listeners", &listener)
            .set("admin.listener", &admin_listener_url(self.host))
            .set_all(self.overrides.pairs());
        command.env = self.env.clone();
        command.open_files_limit = self.open_files_limit;
        command
    }

    /// Starts the broker; panics, saying why, if it does not start.
    pub fn start(self) -> TestBroker {
        let mut broker = self.prepare();
        broker.spawn();
        broker
    }

    /// Starts the broker expecting it not to start (see
    /// [`TestBroker::start_expecting_failure`]); returns why, followed by its log.
    pub fn start_expecting_failure(self) -> String {
        let mut broker = self.prepare();
        let why = broker.start_expecting_failure();
        format!("{why}\n{}", broker.log_text())
    }

    /// The broker with its temp dir created but not started yet.
    pub(crate) fn prepare(self) -> TestBroker {
        let dir = TestDir::new(&self.dir_prefix)
            .unwrap_or_else(|e| panic!("cannot create a temp dir for the {}: {e}", self.name));
        let command = self.command_in(&dir.path().join("data"));
        TestBroker {
            dir,
            name: self.name,
            command,
            crash_point: self.crash_point,
            process: None,
            listeners: Vec::new(),
            bootstrap: String::new(),
            start_count: 0,
            client_listener_required: true,
            client_settings: Vec::new(),
        }
    }
}

/// `127.0.0.1`, or `[::1]` for IPv6, as the host part of a listener URL.
/// A port-0 admin listener on `host`: test brokers never take the default port 9644, so
/// that any number of them run at once.
pub(crate) fn admin_listener_url(host: IpAddr) -> String {
    format!("http://{}:0", host_in_url(host))
}

pub(crate) fn host_in_url(host: IpAddr) -> String {
    match host {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// A start failed because a listener's address was in use.
#[derive(Debug)]
pub(crate) struct PortTaken;

/// Why a start (that is not to panic) failed.
#[derive(Debug)]
pub(crate) enum StartFailure {
    PortTaken,
    /// Given up because another node of the cluster failed.
    Aborted,
    /// What went wrong, as a sentence.
    Other(String),
}

/// One `ironlog` broker process with its own data dir; killed when dropped. The data dir
/// and the log are removed with it, unless the test is failing: then they stay and their
/// path is printed with the log's last lines.
pub struct TestBroker {
    dir: TestDir,
    name: String,
    command: BrokerCommand,
    /// `IRONLOG_CRASH_AT` for the next start (see the broker's `crash` module).
    crash_point: Option<String>,
    process: Option<BrokerProcess>,
    listeners: Vec<BoundListener>,
    bootstrap: String,
    start_count: u32,
    /// Whether a start without a `PLAINTEXT` listener is a failure (it is, unless the
    /// broker is a controller-only node of a cluster).
    pub(crate) client_listener_required: bool,
    /// rdkafka settings every client of this broker gets on top of the test defaults (a
    /// secured client listener's `security.protocol`, `ssl.*`, `sasl.*`).
    pub client_settings: Vec<(String, String)>,
}

impl TestBroker {
    /// A single-node broker of `binary` with extra `--override key=value` settings.
    pub fn start_binary(binary: impl Into<PathBuf>, overrides: &[(&str, &str)]) -> Self {
        BrokerSpec::new(binary).overrides(overrides).start()
    }

    /// `host:port` of the PLAINTEXT listener of the current process.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The bound address of listener `name` of the current process (as it printed it).
    pub fn listener(&self, name: &str) -> Option<String> {
        self.listeners
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.address.to_string())
    }

    /// `http://host:port` of the admin HTTP listener of the current process, if it has one.
    pub fn admin_url(&self) -> Option<String> {
        self.listener(ADMIN_LISTENER).map(|a| format!("http://{a}"))
    }

    /// The broker's `log.dirs`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The temp dir holding the data dir and the log.
    pub fn root_dir(&self) -> &Path {
        self.dir.path()
    }

    /// File with everything the broker printed (all restarts), prefixed by stream.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("broker.log")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The command line of the next start (what the last start ran, unless changed since).
    pub fn command(&self) -> &BrokerCommand {
        &self.command
    }

    /// Replaces the whole command line of the next start.
    pub(crate) fn replace_command(&mut self, command: BrokerCommand) {
        self.command = command;
    }

    /// The pid of the running process.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(BrokerProcess::pid)
    }

    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_some_and(BrokerProcess::is_running)
    }

    /// Descriptors the broker process has open now (entries of `/proc/<pid>/fd`).
    pub fn open_file_descriptors(&self) -> usize {
        let pid = self
            .pid()
            .unwrap_or_else(|| panic!("open_file_descriptors: the {} is not running", self.name));
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap_or_else(|e| panic!("cannot list /proc/{pid}/fd: {e}"))
            .count()
    }

    /// Sets (or replaces) one `--override key=value` for the next start (see
    /// [`TestBroker::restart`]); the running process keeps its settings.
    pub fn set_override(&mut self, key: &str, value: &str) {
        self.command.set(key, value);
    }

    /// Sets (or replaces) one environment variable for the next start.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.command.set_env(key, value);
    }

    /// Arms (or with `None` disarms) a named crash point for the next start: the broker
    /// aborts when it reaches it (`IRONLOG_CRASH_AT`).
    pub fn set_crash_point(&mut self, name: Option<&str>) {
        self.crash_point = name.map(str::to_owned);
    }

    /// Starts the broker with its next command and expects it not to start: it must exit
    /// (or fail) before printing `ironlog: started`. Returns why it did not start; its
    /// log is [`TestBroker::log_text`]. Panics, saying so, if it started.
    pub fn start_expecting_failure(&mut self) -> String {
        let command = self.command.clone();
        let starting = self.begin_start(&command);
        match self.finish_start_unless(starting, &AtomicBool::new(false)) {
            Ok(()) => panic!(
                "the {} started, but it was expected not to (log below)",
                self.name
            ),
            Err(StartFailure::Other(message)) => message,
            Err(StartFailure::PortTaken) => panic!(
                "the {} could not bind a listener: an address was in use (log below)",
                self.name
            ),
            Err(StartFailure::Aborted) => panic!("the {}'s start was given up", self.name),
        }
    }

    /// Waits (bounded) for the process to exit on its own — e.g. at an armed crash point —
    /// and reaps it; returns its exit status. The data dir stays for a restart.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> ExitStatus {
        let mut process = self
            .process
            .take()
            .unwrap_or_else(|| panic!("wait_for_exit: the {} is not running", self.name));
        match process.wait_for_exit(timeout, "waiting for it to exit by itself") {
            Ok(status) => {
                self.note(&format!("===== exited by itself: {status} ====="));
                status
            }
            Err(e) => panic!("{} (the {}'s log below)", e, self.name),
        }
    }

    /// Crash: SIGKILL and reap. The data dir stays for [`TestBroker::restart`].
    pub fn kill9(&mut self) {
        if let Some(process) = self.process.take() {
            process.kill();
        }
        self.note("===== killed with SIGKILL by the test =====");
    }

    /// Crash and come back: [`TestBroker::kill9`], then [`TestBroker::restart`] on the
    /// same data dir (a new port: build new clients afterwards).
    pub fn kill9_and_restart(&mut self) {
        self.kill9();
        self.restart();
    }

    /// Clean shutdown: SIGTERM, then wait (bounded) and assert exit code 0.
    pub fn stop(&mut self) {
        let status = self.terminate();
        assert!(
            status.success(),
            "the {} exited with {status} after SIGTERM, expected exit code 0 (log below)",
            self.name
        );
    }

    /// SIGTERM and wait; returns the exit status (panics if it does not exit in time, after
    /// killing it).
    pub fn terminate(&mut self) -> ExitStatus {
        let process = self
            .process
            .take()
            .unwrap_or_else(|| panic!("terminate: the {} is not running", self.name));
        match process.terminate(BROKER_STOP_TIMEOUT) {
            Ok(status) => {
                self.note(&format!("===== exited after SIGTERM: {status} ====="));
                status
            }
            Err(e) => panic!("{} (the {}'s log below)", e, self.name),
        }
    }

    /// Start again on the same data dir (after `kill9` or `stop`; stops cleanly first if
    /// still running). A port-0 listener is port 0 again, so `bootstrap()` changes: build
    /// new clients afterwards.
    pub fn restart(&mut self) {
        if self.process.is_some() {
            self.stop();
        }
        self.spawn();
    }

    /// Start again on the same data dir *and the same listener port* (after `kill9` or
    /// `stop`; stops cleanly first if still running), so long-lived clients reconnect to the
    /// address they know. The first start bound port 0, so no other test could have picked
    /// the port before; if something took it while the broker was down, the start is retried
    /// until the port is free again, for at most [`PORT_RETAKE_TIMEOUT`].
    pub fn restart_on_same_port(&mut self) {
        if self.process.is_some() {
            self.stop();
        }
        let port = self
            .bootstrap
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or_else(|| panic!("no port in the bootstrap address {}", self.bootstrap));
        let host = self
            .bootstrap
            .rsplit_once(':')
            .map(|(host, _)| host.to_string())
            .unwrap_or_default();
        let listener = format!("{CLIENT_LISTENER}://{host}:{port}");
        let mut command = self.command.clone();
        command
            .set("listeners", &listener)
            .set("advertised.listeners", &listener);
        self.start_retrying_taken_ports(&command, &format!("port {port}"));
    }

    /// Starts `command` and, while a listener's port is taken, tries again (bounded by
    /// [`PORT_RETAKE_TIMEOUT`]): for restarts on ports others know.
    pub(crate) fn start_retrying_taken_ports(&mut self, command: &BrokerCommand, what: &str) {
        let deadline = Instant::now() + PORT_RETAKE_TIMEOUT;
        while let Err(PortTaken) = self.try_spawn(command) {
            assert!(
                Instant::now() < deadline,
                "{what} stayed taken by another process for {PORT_RETAKE_TIMEOUT:?}: the {} \
                 cannot restart on it (log below)",
                self.name
            );
            self.note(&format!("===== {what} taken meanwhile: retrying ====="));
            std::thread::sleep(PORT_RETAKE_INTERVAL);
        }
    }

    /// Last lines of the broker log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(LOG_TAIL_LINES);
        format!(
            "----- {} log ({}, last {} lines) -----\n{}\n----- end of {} log -----",
            self.name,
            self.log_path().display(),
            lines.len() - from,
            lines[from..].join("\n"),
            self.name
        )
    }

    /// Appends a `=====` note to the log (what the test did, for whoever reads it).
    pub fn note(&self, line: &str) {
        append_note(&self.log_path(), line);
    }

    pub(crate) fn spawn(&mut self) {
        let command = self.command.clone();
        if self.try_spawn(&command).is_err() {
            panic!(
                "the {} could not bind its listeners: an address was in use (log below)",
                self.name
            );
        }
    }

    /// Spawns `command` (this broker's, or one with other listeners) and waits for
    /// `ironlog: started`. `Err(PortTaken)` when the process exited because a listener's
    /// address was in use; any other failure panics.
    pub(crate) fn try_spawn(&mut self, command: &BrokerCommand) -> Result<(), PortTaken> {
        let starting = self.begin_start(command);
        self.finish_start(starting)
    }

    /// Spawns `command` without waiting for it to start ([`TestBroker::finish_start`]).
    pub(crate) fn begin_start(&mut self, command: &BrokerCommand) -> StartingBroker {
        self.start_count += 1;
        let data_dir = self.data_dir();
        std::fs::create_dir_all(&data_dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", data_dir.display()));
        let mut command = command.clone();
        command
            .set_env(
                "RUST_LOG",
                &std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .set_env(
                "IRONLOG_CRASH_AT",
                self.crash_point.as_deref().unwrap_or_default(),
            );
        self.note(&format!(
            "===== start #{}: {} {} (env {:?}, open files limit {:?}) =====",
            self.start_count,
            command.binary.display(),
            command.args().join(" "),
            command.env.pairs(),
            command.open_files_limit
        ));
        BrokerProcess::spawn(&command, &self.log_path())
            .unwrap_or_else(|e| panic!("the {} did not start: {e} (log below)", self.name))
    }

    /// Waits for a process [`TestBroker::begin_start`] spawned to print `ironlog: started`.
    /// `Err(PortTaken)` when a listener's address was in use; any other failure panics.
    pub(crate) fn finish_start(&mut self, starting: StartingBroker) -> Result<(), PortTaken> {
        match self.finish_start_unless(starting, &AtomicBool::new(false)) {
            Ok(()) => Ok(()),
            Err(StartFailure::PortTaken) => Err(PortTaken),
            Err(StartFailure::Aborted) => panic!("the {}'s start was given up", self.name),
            Err(StartFailure::Other(message)) => panic!("{message}"),
        }
    }

    /// [`TestBroker::finish_start`] that gives up when `abort` is set, and reports every
    /// failure instead of panicking (cluster nodes start side by side).
    pub(crate) fn finish_start_unless(
        &mut self,
        starting: StartingBroker,
        abort: &AtomicBool,
    ) -> Result<(), StartFailure> {
        match starting.wait_started_unless(BROKER_START_TIMEOUT, abort) {
            Ok(process) => {
                self.listeners = process.listeners().to_vec();
                match process.listener(CLIENT_LISTENER) {
                    Some(address) => self.bootstrap = address.to_string(),
                    None if !self.client_listener_required => self.bootstrap.clear(),
                    None => {
                        return Err(StartFailure::Other(format!(
                            "the {} printed no `{CLIENT_LISTENER}` listener line (log below)",
                            self.name
                        )))
                    }
                }
                self.process = Some(process);
                Ok(())
            }
            Err(StartError::AddressInUse { status }) => {
                self.note(&format!(
                    "===== start #{} failed: address in use ({status}) =====",
                    self.start_count
                ));
                Err(StartFailure::PortTaken)
            }
            Err(StartError::Aborted) => Err(StartFailure::Aborted),
            Err(e) => {
                self.note(&format!(
                    "===== start #{} failed: {e} =====",
                    self.start_count
                ));
                Err(StartFailure::Other(format!(
                    "the {} did not start: {e} (log below)",
                    self.name
                )))
            }
        }
    }

    /// The `.log` segment files of `topic`-`partition` on disk, in offset order, as one byte
    /// string (empty when the partition has no dir here).
    pub fn partition_log(&self, topic: &str, partition: i32) -> Vec<u8> {
        let dir = self.data_dir().join(format!("{topic}-{partition}"));
        let mut segments: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "log"))
                    .collect()
            })
            .unwrap_or_default();
        segments.sort();
        segments
            .iter()
            .filter_map(|segment| std::fs::read(segment).ok())
            .flatten()
            .collect()
    }

    /// Total size of the `.log` segment files of `topic`-`partition` on disk.
    pub fn partition_log_bytes(&self, topic: &str, partition: i32) -> u64 {
        let dir = self.data_dir().join(format!("{topic}-{partition}"));
        std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }
}

impl KafkaClients for TestBroker {
    fn bootstrap_servers(&self) -> String {
        self.bootstrap.clone()
    }

    fn client_config(&self) -> rdkafka::ClientConfig {
        let mut config = crate::clients::client_config(&self.bootstrap);
        for (k, v) in &self.client_settings {
            config.set(k, v);
        }
        config
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(process) = self.process.take() {
            process.kill();
        }
        if std::thread::panicking() {
            let tail = self.log_tail();
            let kept = self.dir.keep().display().to_string();
            eprintln!(
                "{tail}\n===== the test failed: the {}'s data dir and log stay in {kept} =====",
                self.name
            );
        }
    }
}
