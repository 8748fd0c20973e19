//! Shared setup for Ironlog's integration tests.
//!
//! Every test starts its own `ironlog` process ([`TestBroker`]) in a temp dir with a port-0
//! listener, talks to it with real clients (rdkafka = librdkafka, the most common Kafka
//! client library) and, for APIs rdkafka lacks or for deliberately bad input, with
//! [`RawClient`], which frames `kafka-protocol` messages by hand over a plain TCP socket.
//!
//! Everything here waits with a deadline and fails with a sentence that says what did not
//! happen; a failing test prints the tail of the broker's log (stdout + stderr).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, BrokerId, RequestHeader, ResponseHeader, TopicName};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use kafka_protocol::records::{
    Compression, Record as ProtocolRecord, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType as ProtocolTimestampType,
};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message, Timestamp};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

/// How long a broker may take from spawn to printing `ironlog: started`.
pub const BROKER_START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a broker may take to exit after SIGTERM.
pub const BROKER_STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Default deadline for one client operation (produce ack, admin call, metadata).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long [`TestBroker::restart_on_same_port`] waits for a port taken meanwhile.
pub const PORT_RETAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Lines of broker log printed when a test fails.
const LOG_TAIL_LINES: usize = 150;

const LINE_STARTED: &str = "ironlog: started";
const LINE_LISTENER_PREFIX: &str = "ironlog: listener PLAINTEXT bound to ";

// ------------------------------------------------------------------------------ broker

/// A broker start failed because its listener's address was in use.
#[derive(Debug)]
struct PortTaken;

/// One `ironlog` broker process with its own data dir; killed when dropped.
pub struct TestBroker {
    root: tempfile::TempDir,
    overrides: Vec<(String, String)>,
    /// `IRONLOG_CRASH_AT` for the next start (see `ironlog::crash`).
    crash_point: Option<String>,
    child: Option<Child>,
    bootstrap: String,
    start_count: u32,
    /// `RLIMIT_NOFILE` (soft = hard) of every broker process this starts; `None` inherits.
    open_files_limit: Option<u64>,
}

impl TestBroker {
    /// A single-node broker with default settings.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A single-node broker with extra `--override key=value` settings.
    pub fn start_with(overrides: &[(&str, &str)]) -> Self {
        Self::start_limited(overrides, None)
    }

    /// Like [`TestBroker::start_with`], with the process's open-files limit (soft and hard,
    /// set in the child before exec) at `open_files_limit` — for this and every restart.
    pub fn start_with_open_files_limit(overrides: &[(&str, &str)], open_files_limit: u64) -> Self {
        Self::start_limited(overrides, Some(open_files_limit))
    }

    fn start_limited(overrides: &[(&str, &str)], open_files_limit: Option<u64>) -> Self {
        let root = tempfile::Builder::new()
            .prefix("ironlog-test-")
            .tempdir()
            .expect("create temp dir for the broker");
        let mut broker = TestBroker {
            root,
            overrides: overrides
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            crash_point: None,
            child: None,
            bootstrap: String::new(),
            start_count: 0,
            open_files_limit,
        };
        broker.spawn();
        broker
    }

    /// `host:port` of the PLAINTEXT listener of the current process.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The broker's `log.dirs`.
    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// File with everything the broker printed (all restarts), prefixed by stream.
    pub fn log_path(&self) -> PathBuf {
        self.root.path().join("broker.log")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Descriptors the broker process has open now (entries of `/proc/<pid>/fd`).
    pub fn open_file_descriptors(&self) -> usize {
        let pid = self
            .child
            .as_ref()
            .map(|c| c.id())
            .unwrap_or_else(|| panic!("open_file_descriptors: broker is not running"));
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap_or_else(|e| panic!("cannot list /proc/{pid}/fd: {e}"))
            .count()
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Sets (or replaces) one `--override key=value` for the next start (see
    /// [`TestBroker::restart`]); the running process keeps its settings.
    pub fn set_override(&mut self, key: &str, value: &str) {
        self.overrides.retain(|(k, _)| k != key);
        self.overrides.push((key.to_string(), value.to_string()));
    }

    /// Arms (or with `None` disarms) a named crash point for the next start: the broker
    /// aborts when it reaches it (`ironlog::crash::point`).
    pub fn set_crash_point(&mut self, name: Option<&str>) {
        self.crash_point = name.map(str::to_owned);
    }

    /// Waits (bounded) for the process to exit on its own — e.g. at an armed crash point —
    /// and reaps it; returns its exit status. The data dir stays for a restart.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> ExitStatus {
        let child = self
            .child
            .take()
            .unwrap_or_else(|| panic!("wait_for_exit: broker is not running"));
        self.reap(child, timeout, "exited by itself")
    }

    /// Waits up to `timeout` for `child` to exit and notes how; kills it and panics if it
    /// does not.
    fn reap(&self, mut child: Child, timeout: Duration, how: &str) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.note(&format!("===== {how}: {status} ====="));
                    return status;
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("broker did not exit within {timeout:?} ({how}; broker log below)");
                }
                Err(e) => panic!("waiting for broker exit failed: {e}"),
            }
        }
    }

    /// Crash: SIGKILL and reap. The data dir stays for [`TestBroker::restart`].
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.note("===== killed with SIGKILL by the test =====");
    }

    /// Clean shutdown: SIGTERM, then wait (bounded) and assert exit code 0.
    pub fn stop(&mut self) {
        let status = self.terminate();
        assert!(
            status.success(),
            "broker exited with {status} after SIGTERM, expected exit code 0 (broker log below)"
        );
    }

    /// SIGTERM and wait; returns the exit status (panics if it does not exit in time).
    pub fn terminate(&mut self) -> ExitStatus {
        let child = self
            .child
            .take()
            .unwrap_or_else(|| panic!("terminate: broker is not running"));
        let pid = child.id() as libc::pid_t;
        // SAFETY: plain kill(2) on the pid of our own child, which has not been reaped yet.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "sending SIGTERM to broker pid {pid} failed");
        self.reap(child, BROKER_STOP_TIMEOUT, "exited after SIGTERM")
    }

    /// Start again on the same data dir (after `kill9` or `stop`; stops cleanly first if
    /// still running). The listener is port 0 again, so `bootstrap()` changes: build new
    /// clients afterwards.
    pub fn restart(&mut self) {
        if self.child.is_some() {
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
        if self.child.is_some() {
            self.stop();
        }
        let port = self
            .bootstrap
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or_else(|| panic!("no port in the bootstrap address {}", self.bootstrap));
        let listener = format!("PLAINTEXT://127.0.0.1:{port}");
        let deadline = Instant::now() + PORT_RETAKE_TIMEOUT;
        while let Err(PortTaken) = self.try_spawn(Some(&listener)) {
            assert!(
                Instant::now() < deadline,
                "port {port} stayed taken by another process for {PORT_RETAKE_TIMEOUT:?}: \
                 the broker cannot restart on it (broker log below)"
            );
            self.note(&format!(
                "===== port {port} taken meanwhile: retrying ====="
            ));
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Last lines of the broker log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(LOG_TAIL_LINES);
        format!(
            "----- broker log ({}, last {} lines) -----\n{}\n----- end of broker log -----",
            self.log_path().display(),
            lines.len() - from,
            lines[from..].join("\n")
        )
    }

    fn note(&self, line: &str) {
        if let Ok(mut f) = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
        {
            let _ = writeln!(f, "{line}");
        }
    }

    fn spawn(&mut self) {
        if self.try_spawn(None).is_err() {
            panic!("broker could not bind its port-0 listener (broker log below)");
        }
    }

    /// Spawns the broker and waits for `ironlog: started`; with `listener`, that listener
    /// (also advertised) instead of the configured one. `Err(PortTaken)` when the process
    /// exited because the listener's address was in use; any other failure panics.
    fn try_spawn(&mut self, listener: Option<&str>) -> Result<(), PortTaken> {
        self.start_count += 1;
        let data_dir = self.data_dir();
        std::fs::create_dir_all(&data_dir).expect("create broker data dir");
        let mut settings: Vec<(String, String)> = vec![
            ("node.id".into(), "1".into()),
            ("log.dirs".into(), data_dir.display().to_string()),
            ("listeners".into(), "PLAINTEXT://127.0.0.1:0".into()),
            (
                "advertised.listeners".into(),
                "PLAINTEXT://127.0.0.1:0".into(),
            ),
        ];
        for (k, v) in &self.overrides {
            settings.retain(|(existing, _)| existing != k);
            settings.push((k.clone(), v.clone()));
        }
        if let Some(listener) = listener {
            settings.retain(|(k, _)| k != "listeners" && k != "advertised.listeners");
            settings.push(("listeners".into(), listener.into()));
            settings.push(("advertised.listeners".into(), listener.into()));
        }
        let mut command = Command::new(env!("CARGO_BIN_EXE_ironlog"));
        command.arg("broker");
        for (k, v) in &settings {
            command.arg("--override").arg(format!("{k}={v}"));
        }
        command
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env(
                "IRONLOG_CRASH_AT",
                self.crash_point.clone().unwrap_or_default(),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(limit) = self.open_files_limit {
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
        self.note(&format!(
            "===== start #{}: {:?} (open files limit {:?}) =====",
            self.start_count, command, self.open_files_limit
        ));
        let log_before = self.log_text().len();
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn the ironlog binary: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        self.child = Some(child);

        let (line_tx, line_rx) = mpsc::channel::<String>();
        drain_to_log(stdout, self.log_path(), "out", Some(line_tx));
        drain_to_log(stderr, self.log_path(), "err", None);

        let deadline = Instant::now() + BROKER_START_TIMEOUT;
        let mut bootstrap = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match line_rx.recv_timeout(left) {
                Ok(line) => {
                    let line = line.trim();
                    if let Some(addr) = line.strip_prefix(LINE_LISTENER_PREFIX) {
                        bootstrap = Some(addr.trim().to_string());
                    } else if line == LINE_STARTED {
                        break;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                    "broker did not print `{LINE_STARTED}` within {BROKER_START_TIMEOUT:?} (broker log below)"),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self
                        .child
                        .as_mut()
                        .and_then(|c| c.wait().ok())
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "unknown status".into());
                    self.child = None;
                    // stderr is drained by its own thread: give it a moment to reach the log
                    let port_taken = || {
                        self.log_text()
                            .get(log_before..)
                            .is_some_and(|text| text.contains("Address already in use"))
                    };
                    let deadline = Instant::now() + Duration::from_secs(2);
                    while !port_taken() && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    if listener.is_some() && port_taken() {
                        return Err(PortTaken);
                    }
                    panic!(
                        "broker closed stdout ({status}) before printing `{LINE_STARTED}` (broker log below)");
                }
            }
        }
        self.bootstrap = bootstrap.unwrap_or_else(|| {
            panic!(
                "broker printed `{LINE_STARTED}` without a `{LINE_LISTENER_PREFIX}HOST:PORT` line (broker log below)")
        });
        Ok(())
    }

    // -------------------------------------------------------------- rdkafka clients

    /// Client settings shared by every rdkafka client of this broker.
    pub fn client_config(&self) -> ClientConfig {
        client_config(&self.bootstrap)
    }

    pub fn producer(&self) -> FutureProducer {
        self.producer_with(&[])
    }

    /// Producer with `acks=all` unless overridden, bounded delivery time.
    pub fn producer_with(&self, extra: &[(&str, &str)]) -> FutureProducer {
        producer_for(&self.bootstrap, extra)
    }

    /// Assign-only consumer: reads from explicit offsets, reports partition EOF.
    pub fn consumer(&self) -> BaseConsumer {
        self.consumer_with(&[])
    }

    pub fn consumer_with(&self, extra: &[(&str, &str)]) -> BaseConsumer {
        consumer_for(&self.bootstrap, extra)
    }

    pub fn admin(&self) -> AdminClient<DefaultClientContext> {
        self.client_config()
            .create()
            .expect("create rdkafka admin client")
    }

    /// Create a topic (replication factor 1) and wait until metadata shows a leader for
    /// every partition.
    pub fn create_topic(&self, name: &str, partitions: i32, configs: &[(&str, &str)]) {
        let admin = self.admin();
        let mut new_topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        for (k, v) in configs {
            new_topic = new_topic.set(k, v);
        }
        let results = block_on(admin.create_topics([&new_topic], &admin_options()))
            .unwrap_or_else(|e| panic!("CreateTopics {name} failed as a request: {e}"));
        for result in results {
            if let Err((topic, code)) = result {
                panic!("CreateTopics {topic} failed: {code:?}");
            }
        }
        self.wait_for_topic(name, partitions);
    }

    /// Wait until metadata lists `topic` with `partitions` partitions, each with a leader.
    pub fn wait_for_topic(&self, topic: &str, partitions: i32) {
        let consumer = self.consumer();
        wait_until(
            CLIENT_TIMEOUT,
            &format!("topic {topic} with {partitions} led partitions in metadata"),
            || {
                let Ok(md) = consumer.fetch_metadata(Some(topic), Duration::from_secs(5)) else {
                    return false;
                };
                md.topics().iter().any(|t| {
                    t.name() == topic
                        && t.error().is_none()
                        && t.partitions().len() == partitions as usize
                        && t.partitions().iter().all(|p| p.leader() >= 0)
                })
            },
        );
        // Metadata can name a leader before the leader hosts the partition (as in Kafka,
        // the metadata cache is updated first): wait until each partition answers
        // ListOffsets, so the test's next request finds it.
        wait_until(
            CLIENT_TIMEOUT,
            &format!("every partition of {topic} hosted by its leader"),
            || {
                (0..partitions).all(|p| {
                    consumer
                        .fetch_watermarks(topic, p, Duration::from_secs(5))
                        .is_ok()
                })
            },
        );
    }

    /// Produce one record and wait for its ack; returns (partition, offset).
    pub fn produce_one(
        &self,
        producer: &FutureProducer,
        topic: &str,
        partition: i32,
        key: &[u8],
        value: &[u8],
    ) -> (i32, i64) {
        let record = FutureRecord::to(topic)
            .partition(partition)
            .key(key)
            .payload(value);
        match block_on(producer.send(record, CLIENT_TIMEOUT)) {
            Ok(delivery) => (delivery.partition, delivery.offset),
            Err((e, _)) => panic!("produce to {topic}/{partition} was not acknowledged: {e}"),
        }
    }

    /// Sends every `(key, value)` (`None` value = tombstone) to `topic`/`partition` without
    /// waiting in between, then waits for every ack; returns the acked offsets in order.
    pub fn produce_all(
        &self,
        producer: &FutureProducer,
        topic: &str,
        partition: i32,
        records: &[(Vec<u8>, Option<Vec<u8>>)],
    ) -> Vec<i64> {
        let mut pending = Vec::with_capacity(records.len());
        for (key, value) in records {
            let mut record = FutureRecord::<[u8], [u8]>::to(topic)
                .partition(partition)
                .key(key.as_slice());
            if let Some(value) = value {
                record = record.payload(value.as_slice());
            }
            match producer.send_result(record) {
                Ok(delivery) => pending.push(delivery),
                Err((e, _)) => panic!("producer refused a record for {topic}/{partition}: {e}"),
            }
        }
        pending
            .into_iter()
            .map(|delivery| match block_on(delivery) {
                Ok(Ok(d)) => d.offset,
                Ok(Err((e, _))) => {
                    panic!("produce to {topic}/{partition} was not acknowledged: {e}")
                }
                Err(_) => panic!("produce to {topic}/{partition}: delivery future cancelled"),
            })
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

    /// Every record of `topic`/`partition` from offset `from` up to the high watermark.
    pub fn consume_all(&self, topic: &str, partition: i32, from: i64) -> Vec<ConsumedRecord> {
        self.consume_all_with(&[], topic, partition, from)
    }

    pub fn consume_all_with(
        &self,
        extra: &[(&str, &str)],
        topic: &str,
        partition: i32,
        from: i64,
    ) -> Vec<ConsumedRecord> {
        let consumer = self.consumer_with(extra);
        assign(&consumer, topic, partition, Offset::Offset(from));
        let mut records = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(
                Instant::now() < deadline,
                "consume_all {topic}/{partition} from {from}: no end of partition within 60 s \
                 (got {} records so far)",
                records.len()
            );
            match consumer.poll(Duration::from_millis(200)) {
                None => {}
                Some(Ok(message)) => records.push(ConsumedRecord::from_message(&message)),
                Some(Err(KafkaError::PartitionEOF(_))) => return records,
                Some(Err(e)) => panic!("consume_all {topic}/{partition} from {from}: {e}"),
            }
        }
    }

    /// Exactly `count` records starting at `from`, waiting up to `timeout` for them.
    pub fn consume_n(
        &self,
        topic: &str,
        partition: i32,
        from: i64,
        count: usize,
        timeout: Duration,
    ) -> Vec<ConsumedRecord> {
        let consumer = self.consumer();
        assign(&consumer, topic, partition, Offset::Offset(from));
        let mut records = Vec::new();
        let deadline = Instant::now() + timeout;
        while records.len() < count {
            assert!(
                Instant::now() < deadline,
                "consume_n {topic}/{partition} from {from}: got {} of {count} records within {timeout:?}",
                records.len()
            );
            match consumer.poll(Duration::from_millis(200)) {
                None | Some(Err(KafkaError::PartitionEOF(_))) => {}
                Some(Ok(message)) => records.push(ConsumedRecord::from_message(&message)),
                Some(Err(e)) => panic!("consume_n {topic}/{partition} from {from}: {e}"),
            }
        }
        records
    }

    /// (low, high) watermarks as a client sees them.
    pub fn watermarks(&self, topic: &str, partition: i32) -> (i64, i64) {
        self.consumer()
            .fetch_watermarks(topic, partition, CLIENT_TIMEOUT)
            .unwrap_or_else(|e| panic!("ListOffsets (watermarks) for {topic}/{partition}: {e}"))
    }

    /// A raw protocol connection to this broker.
    pub fn raw(&self) -> RawClient {
        RawClient::connect(&self.bootstrap)
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
    }
}

/// Copy a child's output stream line by line into the log file; optionally forward lines.
fn drain_to_log(
    stream: impl Read + Send + 'static,
    log_path: PathBuf,
    tag: &'static str,
    forward: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        let mut log: Option<File> = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .ok();
        let reader = BufReader::new(stream);
        for line in reader.split(b'\n') {
            let Ok(line) = line else { break };
            let line = String::from_utf8_lossy(&line).into_owned();
            if let Some(f) = log.as_mut() {
                let _ = writeln!(f, "[{tag}] {line}");
            }
            if let Some(tx) = forward.as_ref() {
                let _ = tx.send(line);
            }
        }
    });
}

// ------------------------------------------------------------------------------ helpers

/// rdkafka settings shared by every test client: short timeouts and backoffs.
pub fn client_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("socket.timeout.ms", "20000")
        .set("request.timeout.ms", "20000")
        .set("metadata.max.age.ms", "5000")
        .set("topic.metadata.refresh.interval.ms", "1000")
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "500")
        .set("log_level", "4");
    config
}

pub fn producer_for(bootstrap: &str, extra: &[(&str, &str)]) -> FutureProducer {
    let mut config = client_config(bootstrap);
    config
        .set("acks", "all")
        .set("message.timeout.ms", "30000")
        .set("linger.ms", "5")
        .set("enable.idempotence", "false");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    config.create().expect("create rdkafka producer")
}

/// A consumer for `assign()` at explicit offsets. librdkafka only allows `assign()` with a
/// `group.id`; nothing here subscribes or commits, so the group coordinator is not needed.
pub fn consumer_for(bootstrap: &str, extra: &[(&str, &str)]) -> BaseConsumer {
    let mut config = client_config(bootstrap);
    config
        .set("group.id", "ironlog-test-assign-only")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "200")
        .set("fetch.message.max.bytes", "4194304")
        .set("fetch.max.bytes", "8388608");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    config.create().expect("create rdkafka consumer")
}

/// Run a future to completion on a fresh current-thread tokio runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build tokio runtime")
        .block_on(future)
}

/// Poll `condition` every 50 ms until it holds; panic naming `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn admin_options() -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(CLIENT_TIMEOUT))
        .operation_timeout(Some(CLIENT_TIMEOUT))
}

pub fn assign(consumer: &BaseConsumer, topic: &str, partition: i32, offset: Offset) {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, offset)
        .expect("build partition list");
    consumer.assign(&tpl).expect("assign partition");
}

/// A unique topic name per test (tests share nothing, but names help reading logs).
pub fn topic_name(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// A record as a consumer saw it, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp: Timestamp,
}

impl ConsumedRecord {
    pub fn from_message(message: &BorrowedMessage<'_>) -> Self {
        let headers = message
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| (h.key.to_string(), h.value.map(|v| v.to_vec())))
                    .collect()
            })
            .unwrap_or_default();
        ConsumedRecord {
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(|k| k.to_vec()),
            value: message.payload().map(|v| v.to_vec()),
            headers,
            timestamp: message.timestamp(),
        }
    }

    pub fn value_str(&self) -> String {
        String::from_utf8_lossy(self.value.as_deref().unwrap_or_default()).into_owned()
    }

    pub fn key_str(&self) -> String {
        String::from_utf8_lossy(self.key.as_deref().unwrap_or_default()).into_owned()
    }
}

/// Shared, thread-safe list of acknowledged deliveries: (key, partition, offset, value).
pub type AckLog = Arc<Mutex<Vec<(Vec<u8>, i32, i64, Vec<u8>)>>>;

/// Is this rdkafka error the given broker error code?
pub fn is_code(error: &KafkaError, code: RDKafkaErrorCode) -> bool {
    error.rdkafka_error_code() == Some(code)
}

// ------------------------------------------------------------------------------ raw client

/// Request versions the raw client uses (all within Kafka 4.0's accepted ranges).
pub mod versions {
    pub const API_VERSIONS: i16 = 3;
    pub const PRODUCE: i16 = 9;
    pub const FETCH: i16 = 12;
    pub const LIST_OFFSETS: i16 = 8;
    pub const METADATA: i16 = 12;
    pub const CREATE_TOPICS: i16 = 7;
    pub const DESCRIBE_CONFIGS: i16 = 4;
    pub const INCREMENTAL_ALTER_CONFIGS: i16 = 1;
    pub const DELETE_RECORDS: i16 = 2;
    pub const DESCRIBE_LOG_DIRS: i16 = 4;
    pub const DESCRIBE_CLUSTER: i16 = 1;
    pub const INIT_PRODUCER_ID: i16 = 5;
    pub const WRITE_TXN_MARKERS: i16 = 1;
}

/// Kafka error codes the tests assert on (numeric, as they appear on the wire).
pub mod codes {
    pub const NONE: i16 = 0;
    pub const OFFSET_OUT_OF_RANGE: i16 = 1;
    pub const CORRUPT_MESSAGE: i16 = 2;
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    pub const MESSAGE_TOO_LARGE: i16 = 10;
    pub const INVALID_TOPIC_EXCEPTION: i16 = 17;
    pub const UNSUPPORTED_VERSION: i16 = 35;
    pub const TOPIC_ALREADY_EXISTS: i16 = 36;
    pub const INVALID_PARTITIONS: i16 = 37;
    pub const INVALID_REPLICATION_FACTOR: i16 = 38;
    pub const INVALID_CONFIG: i16 = 40;
    pub const UNSUPPORTED_FOR_MESSAGE_FORMAT: i16 = 43;
    pub const INVALID_RECORD: i16 = 87;
    pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
    pub const INVALID_PRODUCER_EPOCH: i16 = 47;
    pub const INVALID_TXN_STATE: i16 = 48;
    pub const TRANSACTION_COORDINATOR_FENCED: i16 = 52;
    pub const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
    pub const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;
    pub const INVALID_FETCH_SESSION_EPOCH: i16 = 71;
}

/// A blocking Kafka protocol connection: length-prefixed frames, `kafka-protocol` codecs.
pub struct RawClient {
    stream: TcpStream,
    correlation_id: i32,
}

impl RawClient {
    pub fn connect(addr: &str) -> Self {
        let stream = TcpStream::connect(addr)
            .unwrap_or_else(|e| panic!("raw client cannot connect to {addr}: {e}"));
        stream
            .set_read_timeout(Some(CLIENT_TIMEOUT))
            .expect("set read timeout");
        stream
            .set_write_timeout(Some(CLIENT_TIMEOUT))
            .expect("set write timeout");
        stream.set_nodelay(true).expect("set nodelay");
        RawClient {
            stream,
            correlation_id: 0,
        }
    }

    /// Send `request` as `version` and decode the matching response.
    pub fn call<R: Request>(&mut self, version: i16, request: &R) -> anyhow::Result<R::Response> {
        let api_key =
            ApiKey::try_from(R::KEY).map_err(|_| anyhow::anyhow!("unknown api key {}", R::KEY))?;
        let correlation_id = self.next_correlation_id();
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("ironlog-raw-test")));
        let mut body = BytesMut::new();
        header.encode(&mut body, api_key.request_header_version(version))?;
        request.encode(&mut body, version)?;
        self.send_frame(&body)?;
        let mut response = Bytes::from(self.read_frame()?);
        let response_header =
            ResponseHeader::decode(&mut response, api_key.response_header_version(version))?;
        anyhow::ensure!(
            response_header.correlation_id == correlation_id,
            "response correlation id {} does not match request {}",
            response_header.correlation_id,
            correlation_id
        );
        let decoded = R::Response::decode(&mut response, version)?;
        anyhow::ensure!(
            !response.has_remaining(),
            "{} bytes left over after decoding {api_key:?} v{version} response",
            response.remaining()
        );
        Ok(decoded)
    }

    /// Send a request whose header is written by hand (any api key / version, even ones
    /// `kafka-protocol` does not know), body as given. Returns the correlation id.
    pub fn send_raw_request(&mut self, api_key: i16, version: i16, body: &[u8]) -> i32 {
        let correlation_id = self.next_correlation_id();
        let mut frame = BytesMut::new();
        frame.put_i16(api_key);
        frame.put_i16(version);
        frame.put_i32(correlation_id);
        frame.put_i16(-1); // null client id (request header v1)
        frame.put_slice(body);
        self.send_frame(&frame).expect("write raw request");
        correlation_id
    }

    /// Write a 4-byte big-endian length then `payload`.
    pub fn send_frame(&mut self, payload: &[u8]) -> std::io::Result<()> {
        let mut frame = Vec::with_capacity(payload.len() + 4);
        frame.extend_from_slice(&(payload.len() as i32).to_be_bytes());
        frame.extend_from_slice(payload);
        self.stream.write_all(&frame)
    }

    /// Write bytes exactly as given (no framing).
    pub fn send_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Read one length-prefixed response frame (without the length).
    pub fn read_frame(&mut self) -> std::io::Result<Vec<u8>> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        let len = i32::from_be_bytes(len);
        if !(0..=256 * 1024 * 1024).contains(&len) {
            return Err(std::io::Error::new(
                ErrorKind::InvalidData,
                format!("response frame length {len} out of range"),
            ));
        }
        let mut payload = vec![0u8; len as usize];
        self.stream.read_exact(&mut payload)?;
        Ok(payload)
    }

    /// True when the broker closes this connection within `timeout` (EOF or reset);
    /// false if it stays open that long. Panics if the broker sends data instead.
    pub fn closed_by_broker_within(&mut self, timeout: Duration) -> bool {
        self.stream
            .set_read_timeout(Some(timeout))
            .expect("set read timeout");
        let mut buf = [0u8; 1024];
        let result = self.stream.read(&mut buf);
        self.stream
            .set_read_timeout(Some(CLIENT_TIMEOUT))
            .expect("set read timeout");
        match result {
            Ok(0) => true,
            Ok(n) => panic!(
                "expected the broker to close the connection, it answered {n} bytes: {:?}",
                &buf[..n.min(64)]
            ),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
            Err(_) => true,
        }
    }

    fn next_correlation_id(&mut self) -> i32 {
        self.correlation_id += 1;
        self.correlation_id
    }

    // ------------------------------------------------------------ typed conveniences

    /// Produce one encoded batch to topic/partition; returns the partition response.
    pub fn produce(
        &mut self,
        topic: &str,
        partition: i32,
        batch: Bytes,
        acks: i16,
    ) -> kafka_protocol::messages::produce_response::PartitionProduceResponse {
        self.produce_as(None, topic, partition, batch, acks)
    }

    /// [`RawClient::produce`] with the request's transactional id (as transactional
    /// producers send it).
    pub fn produce_as(
        &mut self,
        transactional_id: Option<&str>,
        topic: &str,
        partition: i32,
        batch: Bytes,
        acks: i16,
    ) -> kafka_protocol::messages::produce_response::PartitionProduceResponse {
        use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
        use kafka_protocol::messages::{ProduceRequest, TransactionalId};
        let request = ProduceRequest::default()
            .with_transactional_id(transactional_id.map(|id| {
                TransactionalId(kafka_protocol::protocol::StrBytes::from_string(
                    id.to_owned(),
                ))
            }))
            .with_acks(acks)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(topic_name_of(topic))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(batch))])]);
        let response = self
            .call(versions::PRODUCE, &request)
            .unwrap_or_else(|e| panic!("raw Produce to {topic}/{partition} failed: {e:#}"));
        response
            .responses
            .into_iter()
            .flat_map(|t| t.partition_responses)
            .find(|p| p.index == partition)
            .unwrap_or_else(|| panic!("Produce response has no entry for partition {partition}"))
    }

    /// ListOffsets for one partition at `timestamp` (-1 latest, -2 earliest, -3 max
    /// timestamp, or a time in ms); returns (error code, offset, timestamp).
    pub fn list_offset(&mut self, topic: &str, partition: i32, timestamp: i64) -> (i16, i64, i64) {
        self.list_offset_isolated(topic, partition, timestamp, 0)
    }

    /// [`RawClient::list_offset`] with an isolation level (0 read_uncommitted, 1
    /// read_committed: "latest" is then the last stable offset).
    pub fn list_offset_isolated(
        &mut self,
        topic: &str,
        partition: i32,
        timestamp: i64,
        isolation_level: i8,
    ) -> (i16, i64, i64) {
        use kafka_protocol::messages::list_offsets_request::{
            ListOffsetsPartition, ListOffsetsTopic,
        };
        use kafka_protocol::messages::ListOffsetsRequest;
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_isolation_level(isolation_level)
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(topic_name_of(topic))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_current_leader_epoch(-1)
                    .with_timestamp(timestamp)])]);
        let response = self
            .call(versions::LIST_OFFSETS, &request)
            .unwrap_or_else(|e| panic!("raw ListOffsets {topic}/{partition} failed: {e:#}"));
        let p = response
            .topics
            .into_iter()
            .flat_map(|t| t.partitions)
            .find(|p| p.partition_index == partition)
            .unwrap_or_else(|| panic!("ListOffsets response has no partition {partition}"));
        (p.error_code, p.offset, p.timestamp)
    }

    /// Fetch v12 of one partition (sessionless unless `session_id`/`epoch` say otherwise).
    pub fn fetch(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        session_id: i32,
        session_epoch: i32,
        max_wait_ms: i32,
    ) -> kafka_protocol::messages::FetchResponse {
        self.fetch_isolated(
            topic,
            partition,
            offset,
            session_id,
            session_epoch,
            max_wait_ms,
            0,
        )
    }

    /// [`RawClient::fetch`] with an isolation level (0 read_uncommitted, 1 read_committed).
    #[allow(clippy::too_many_arguments)]
    pub fn fetch_isolated(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        session_id: i32,
        session_epoch: i32,
        max_wait_ms: i32,
        isolation_level: i8,
    ) -> kafka_protocol::messages::FetchResponse {
        use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
        use kafka_protocol::messages::FetchRequest;
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(max_wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(8 * 1024 * 1024)
            .with_isolation_level(isolation_level)
            .with_session_id(session_id)
            .with_session_epoch(session_epoch)
            .with_topics(vec![FetchTopic::default()
                .with_topic(topic_name_of(topic))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_current_leader_epoch(-1)
                    .with_fetch_offset(offset)
                    .with_last_fetched_epoch(-1)
                    .with_log_start_offset(-1)
                    .with_partition_max_bytes(4 * 1024 * 1024)])]);
        self.call(versions::FETCH, &request)
            .unwrap_or_else(|e| panic!("raw Fetch {topic}/{partition} failed: {e:#}"))
    }
}

impl RawClient {
    /// WriteTxnMarkers v1 for one producer's transaction on `partitions` of `topic`, as the
    /// transaction coordinator sends it; returns the error code per partition.
    pub fn write_txn_marker(
        &mut self,
        topic: &str,
        partitions: &[i32],
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        commit: bool,
    ) -> Vec<(i32, i16)> {
        use kafka_protocol::messages::write_txn_markers_request::{
            WritableTxnMarker, WritableTxnMarkerTopic,
        };
        use kafka_protocol::messages::{ProducerId, WriteTxnMarkersRequest};
        let request =
            WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
                .with_producer_id(ProducerId(producer_id))
                .with_producer_epoch(producer_epoch)
                .with_transaction_result(commit)
                .with_coordinator_epoch(coordinator_epoch)
                .with_topics(vec![WritableTxnMarkerTopic::default()
                    .with_name(topic_name_of(topic))
                    .with_partition_indexes(partitions.to_vec())])]);
        let response = self
            .call(versions::WRITE_TXN_MARKERS, &request)
            .unwrap_or_else(|e| panic!("raw WriteTxnMarkers for {topic} failed: {e:#}"));
        response
            .markers
            .into_iter()
            .flat_map(|m| m.topics)
            .flat_map(|t| t.partitions)
            .map(|p| (p.partition_index, p.error_code))
            .collect()
    }
}

/// Encodes `records` as one batch of message format `magic` (the test encoders' one
/// `RecordBatchEncoder` call); `what` names the batch in the panic message.
fn encode_records(
    records: &[ProtocolRecord],
    magic: i8,
    compression: Compression,
    what: &str,
) -> Bytes {
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions {
            version: magic,
            compression,
        },
    )
    .unwrap_or_else(|e| panic!("{what}: {e}"));
    buf.freeze()
}

/// One uncompressed transactional v2 batch (attribute bit 4) of a producer: `values` as
/// records with keys `k0, k1, ...`, sequences from `base_sequence`, timestamped now.
pub fn encode_transactional_batch(
    values: &[&[u8]],
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
) -> Bytes {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let records: Vec<ProtocolRecord> = values
        .iter()
        .enumerate()
        .map(|(i, value)| ProtocolRecord {
            transactional: true,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch,
            timestamp_type: ProtocolTimestampType::Creation,
            offset: i as i64,
            sequence: base_sequence + i as i32,
            timestamp: now_ms,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::copy_from_slice(value)),
            headers: Default::default(),
        })
        .collect();
    encode_records(&records, 2, Compression::None, "encode transactional batch")
}

/// A control batch as only the broker may write it: one transaction marker record (key =
/// version 0 + type 0 ABORT / 1 COMMIT, value = version 0 + coordinator epoch).
pub fn encode_control_batch(
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
) -> Bytes {
    let mut key = BytesMut::new();
    key.put_i16(0);
    key.put_i16(i16::from(commit));
    let mut value = BytesMut::new();
    value.put_i16(0);
    value.put_i32(coordinator_epoch);
    let record = ProtocolRecord {
        transactional: true,
        control: true,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id,
        producer_epoch,
        timestamp_type: ProtocolTimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 0,
        key: Some(key.freeze()),
        value: Some(value.freeze()),
        headers: Default::default(),
    };
    encode_records(&[record], 2, Compression::None, "encode control batch")
}

pub fn topic_name_of(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// Encode `records` (key, value) as one v2 batch (`magic` must be 2; see
/// [`encode_legacy_magic1`] for the old format) with the given codec. Offsets are relative from 0, timestamps = `timestamp_ms`.
pub fn encode_batch(
    records: &[(&[u8], &[u8])],
    magic: i8,
    compression: Compression,
    timestamp_ms: i64,
) -> Bytes {
    let records: Vec<ProtocolRecord> = records
        .iter()
        .enumerate()
        .map(|(i, (key, value))| ProtocolRecord {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: ProtocolTimestampType::Creation,
            offset: i as i64,
            // Not idempotent: base sequence -1. The encoder keeps records in one batch only
            // while offset - sequence is constant, so the sequence advances with the offset.
            sequence: i as i32 - 1,
            timestamp: timestamp_ms,
            key: Some(Bytes::copy_from_slice(key)),
            value: Some(Bytes::copy_from_slice(value)),
            headers: Default::default(),
        })
        .collect();
    encode_records(&records, magic, compression, "encode record batch")
}

/// A record's key and value, either of which may be null.
pub type NullableRecord<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// One uncompressed v2 batch of `(key, value)` records where either may be null.
pub fn encode_nullable_batch(records: &[NullableRecord<'_>], timestamp_ms: i64) -> Bytes {
    let records: Vec<ProtocolRecord> = records
        .iter()
        .enumerate()
        .map(|(i, (key, value))| ProtocolRecord {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: ProtocolTimestampType::Creation,
            offset: i as i64,
            sequence: i as i32 - 1,
            timestamp: timestamp_ms,
            key: key.map(Bytes::copy_from_slice),
            value: value.map(Bytes::copy_from_slice),
            headers: Default::default(),
        })
        .collect();
    encode_records(&records, 2, Compression::None, "encode record batch")
}

/// One uncompressed v2 batch of an idempotent producer: `values` as records with keys
/// `k0, k1, ...`, sequences from `base_sequence`, timestamped now (producer expiry is
/// measured from record timestamps, as in Kafka).
pub fn encode_idempotent_batch(
    values: &[&[u8]],
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
) -> Bytes {
    let records: Vec<ProtocolRecord> = values
        .iter()
        .enumerate()
        .map(|(i, value)| ProtocolRecord {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch,
            timestamp_type: ProtocolTimestampType::Creation,
            offset: i as i64,
            sequence: base_sequence + i as i32,
            timestamp: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::copy_from_slice(value)),
            headers: Default::default(),
        })
        .collect();
    encode_records(&records, 2, Compression::None, "encode record batch")
}

/// A TCP port that was free a moment ago. Another test may take it before it is bound:
/// for a broker that keeps its port across restarts use
/// [`TestBroker::restart_on_same_port`] instead.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// One legacy (magic 1) message set entry, as pre-0.11 clients sent it. `kafka-protocol`
/// does not encode message sets v0/v1, so the few fields are written here by hand.
pub fn encode_legacy_magic1(key: &[u8], value: &[u8], timestamp_ms: i64) -> Bytes {
    let mut message = BytesMut::new();
    message.put_i8(1); // magic
    message.put_i8(0); // attributes: no compression, CreateTime
    message.put_i64(timestamp_ms);
    message.put_i32(key.len() as i32);
    message.put_slice(key);
    message.put_i32(value.len() as i32);
    message.put_slice(value);
    let crc = kafka_protocol::records::IEEE.checksum(&message);
    let mut entry = BytesMut::new();
    entry.put_i64(0); // offset
    entry.put_i32(4 + message.len() as i32); // message size: crc + rest
    entry.put_u32(crc);
    entry.put_slice(&message);
    entry.freeze()
}

/// Byte position of the CRC32C field in a v2 batch header (after baseOffset, batchLength,
/// partitionLeaderEpoch, magic).
pub const BATCH_V2_CRC_OFFSET: usize = 8 + 4 + 4 + 1;

/// Decode every record in a fetched records blob (for byte-exact comparisons).
pub fn decode_records(mut blob: Bytes) -> Vec<ProtocolRecord> {
    let mut out = Vec::new();
    let sets = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut blob)
        .expect("decode fetched record batches");
    for set in sets {
        out.extend(set.records);
    }
    out
}

/// `BTreeMap` of config name → value from a DescribeConfigs-like list, for readable asserts.
pub fn config_map<'a>(
    entries: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> BTreeMap<String, Option<String>> {
    entries
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.map(|s| s.to_string())))
        .collect()
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

// ------------------------------------------------------------------------------ groups

/// Broker settings for group tests: no initial rebalance delay, a small `__consumer_offsets`.
pub const FAST_GROUP_BROKER: &[(&str, &str)] = &[
    ("group.initial.rebalance.delay.ms", "0"),
    ("offsets.topic.num.partitions", "5"),
];

/// A rebalance callback as a group consumer saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebalanceEvent {
    Assign(Vec<(String, i32)>),
    Revoke(Vec<(String, i32)>),
    Error(String),
}

/// Consumer context that records every rebalance callback.
#[derive(Default, Clone)]
pub struct RecordingContext {
    pub events: Arc<Mutex<Vec<RebalanceEvent>>>,
}

impl RecordingContext {
    pub fn events(&self) -> Vec<RebalanceEvent> {
        self.events.lock().expect("events lock").clone()
    }
}

fn tpl_pairs(tpl: &TopicPartitionList) -> Vec<(String, i32)> {
    let mut v: Vec<(String, i32)> = tpl
        .elements()
        .iter()
        .map(|e| (e.topic().to_string(), e.partition()))
        .collect();
    v.sort();
    v
}

impl rdkafka::client::ClientContext for RecordingContext {}

impl rdkafka::consumer::ConsumerContext for RecordingContext {
    fn pre_rebalance(
        &self,
        _consumer: &BaseConsumer<Self>,
        rebalance: &rdkafka::consumer::Rebalance<'_>,
    ) {
        let event = match rebalance {
            rdkafka::consumer::Rebalance::Assign(tpl) => RebalanceEvent::Assign(tpl_pairs(tpl)),
            rdkafka::consumer::Rebalance::Revoke(tpl) => RebalanceEvent::Revoke(tpl_pairs(tpl)),
            rdkafka::consumer::Rebalance::Error(e) => RebalanceEvent::Error(e.to_string()),
        };
        self.events.lock().expect("events lock").push(event);
    }
}

/// A consumer that joins `group` (subscribe), commits only when told, short session.
pub fn group_consumer_for(
    bootstrap: &str,
    group: &str,
    extra: &[(&str, &str)],
) -> BaseConsumer<RecordingContext> {
    let mut config = client_config(bootstrap);
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("fetch.wait.max.ms", "100");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    config
        .create_with_context(RecordingContext::default())
        .expect("create rdkafka group consumer")
}

/// The partitions currently assigned to `consumer`, sorted.
pub fn assignment_of<C: rdkafka::consumer::ConsumerContext>(
    consumer: &BaseConsumer<C>,
) -> Vec<(String, i32)> {
    consumer
        .assignment()
        .map(|tpl| tpl_pairs(&tpl))
        .unwrap_or_default()
}

/// Polls every consumer (briefly) once; returns what each received.
pub fn poll_round<C: rdkafka::consumer::ConsumerContext>(
    consumers: &[&BaseConsumer<C>],
) -> Vec<Vec<ConsumedRecord>> {
    consumers
        .iter()
        .map(|c| {
            let mut got = Vec::new();
            // Bounded: at most 1000 messages per consumer per round.
            for _ in 0..1000 {
                match c.poll(Duration::from_millis(20)) {
                    Some(Ok(m)) => got.push(ConsumedRecord::from_message(&m)),
                    Some(Err(_)) => {}
                    None => break,
                }
            }
            got
        })
        .collect()
}

/// Polls all consumers until `done` holds for their assignments, within `timeout`.
pub fn poll_until_assigned<C: rdkafka::consumer::ConsumerContext>(
    consumers: &[&BaseConsumer<C>],
    timeout: Duration,
    what: &str,
    mut done: impl FnMut(&[Vec<(String, i32)>]) -> bool,
) -> Vec<Vec<ConsumedRecord>> {
    let deadline = Instant::now() + timeout;
    let mut received: Vec<Vec<ConsumedRecord>> = vec![Vec::new(); consumers.len()];
    loop {
        for (i, got) in poll_round(consumers).into_iter().enumerate() {
            received[i].extend(got);
        }
        let assignments: Vec<Vec<(String, i32)>> =
            consumers.iter().map(|c| assignment_of(c)).collect();
        if done(&assignments) {
            return received;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}; assignments: {assignments:?}"
        );
    }
}

/// Produces `values` to `topic` spread over its partitions by key; waits for every ack.
pub fn produce_values(broker: &TestBroker, topic: &str, values: &[String]) {
    let producer = broker.producer();
    let keys: Vec<String> = (0..values.len()).map(|i| format!("k{i}")).collect();
    let deliveries: Vec<_> = values
        .iter()
        .zip(&keys)
        .map(|(v, key)| {
            producer
                .send_result(FutureRecord::to(topic).key(key).payload(v))
                .unwrap_or_else(|(e, _)| panic!("enqueueing {v} for {topic} failed: {e}"))
        })
        .collect();
    block_on(async {
        for (v, delivery) in values.iter().zip(deliveries) {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => panic!("producing {v} to {topic} failed: {e}"),
                Err(_) => panic!("producer dropped the delivery of {v}"),
            }
        }
    });
}

// ------------------------------------------------------------------------------ kcat

/// The kcat binary (`$KCAT`, else `kcat`). A missing kcat fails the test with how to
/// install it: the test command installs it, so its absence is a broken set-up, never a
/// reason to pass.
pub fn require_kcat() -> String {
    let bin = std::env::var("KCAT").unwrap_or_else(|_| "kcat".to_string());
    let found = Command::new(&bin)
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "kcat ({bin}) is not installed: install it with `apt-get install kcat` (./test.sh does)"
    );
    bin
}

/// [`require_kcat`] as an `Option` for older callers; never `None` (a missing kcat fails).
pub fn kcat_binary() -> Option<String> {
    Some(require_kcat())
}
