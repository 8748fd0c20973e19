//! `canary`: [`TestCanary`], one `ironlog canary` process for a test — its command line
//! (`ironlog canary --bootstrap-server B --override K=V ...`), its stdout contract (the
//! broker's: `ironlog: listener CANARY bound to ADDR`, `ironlog: started`), its log kept
//! when the test fails — and its `/metrics` read back as [`Samples`].

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::dirs::TestDir;
use crate::process::{append_note, parse_listener_line};

/// How long a canary may take to print `ironlog: started` (it binds its listener and
/// starts; the cluster need not answer).
pub const CANARY_START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a canary may take to exit after SIGTERM.
pub const CANARY_STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// The name the canary prints for its HTTP listener.
pub const CANARY_LISTENER: &str = "CANARY";
/// Lines of canary log printed when a test fails.
const LOG_TAIL_LINES: usize = 100;
/// Bound of one HTTP exchange with the canary.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// A canary's command line: the binary, `--bootstrap-server`, `--override`s in order.
#[derive(Debug, Clone)]
pub struct CanarySpec {
    binary: PathBuf,
    bootstrap: String,
    overrides: Vec<(String, String)>,
}

impl CanarySpec {
    /// A canary of `binary` against `bootstrap`, with a port-0 listener on 127.0.0.1.
    pub fn new(binary: impl Into<PathBuf>, bootstrap: &str) -> Self {
        CanarySpec {
            binary: binary.into(),
            bootstrap: bootstrap.to_string(),
            overrides: vec![("canary.listener".into(), "http://127.0.0.1:0".into())],
        }
    }

    /// Sets (or replaces) one `--override key=value`.
    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.overrides.retain(|(k, _)| k != key);
        self.overrides.push((key.to_string(), value.to_string()));
        self
    }

    /// The arguments after the binary.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            "canary".to_string(),
            "--bootstrap-server".to_string(),
            self.bootstrap.clone(),
        ];
        for (k, v) in &self.overrides {
            args.push("--override".to_string());
            args.push(format!("{k}={v}"));
        }
        args
    }

    /// Starts the canary and waits for its listener line and `ironlog: started`.
    pub fn start(self) -> TestCanary {
        let dir = TestDir::new("ironlog-canary-")
            .unwrap_or_else(|e| panic!("cannot create a temp dir for the canary: {e}"));
        let log_path = dir.path().join("canary.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log_path.display()));
        let mut child = Command::new(&self.binary)
            .args(self.args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let (lines_tx, lines) = mpsc::channel();
        let out_log = log_path.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                append_note(&out_log, &format!("[out] {line}"));
                let _ = lines_tx.send(line);
            }
        });
        let mut canary = TestCanary {
            dir,
            child: Some(child),
            listener: String::new(),
        };
        let deadline = Instant::now() + CANARY_START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line == "ironlog: started" => break,
                Ok(line) => {
                    if let Ok(Some(l)) = parse_listener_line(&line) {
                        if l.name == CANARY_LISTENER {
                            canary.listener = l.address.to_string();
                        }
                    }
                }
                Err(_) => panic!(
                    "the canary did not print `ironlog: started` within {} s\n{}",
                    CANARY_START_TIMEOUT.as_secs(),
                    canary.log_tail()
                ),
            }
        }
        assert!(
            !canary.listener.is_empty(),
            "the canary printed no `ironlog: listener CANARY bound to ADDR` line\n{}",
            canary.log_tail()
        );
        canary
    }

    /// Runs the canary expecting it to refuse to start: its exit status and everything it
    /// printed (stdout and stderr), within `timeout` (then it is killed and this panics).
    pub fn run_to_exit(&self, timeout: Duration) -> (ExitStatus, String) {
        let mut child = Command::new(&self.binary)
            .args(self.args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for the canary") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the canary ran for {} s instead of refusing to start",
                    timeout.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut output = String::new();
        if let Some(mut out) = child.stdout.take() {
            let _ = out.read_to_string(&mut output);
        }
        if let Some(mut err) = child.stderr.take() {
            let _ = err.read_to_string(&mut output);
        }
        (status, output)
    }
}

/// A running canary process; killed when dropped (its log printed if the test failed).
pub struct TestCanary {
    dir: TestDir,
    child: Option<Child>,
    listener: String,
}

impl TestCanary {
    /// `host:port` of its HTTP listener.
    pub fn listener(&self) -> &str {
        &self.listener
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("canary.log")).unwrap_or_default()
    }

    pub fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(LOG_TAIL_LINES);
        format!(
            "----- canary log (last {} lines) -----\n{}\n----- end of canary log -----",
            lines.len() - from,
            lines[from..].join("\n")
        )
    }

    /// Appends a `=====` note to the canary's log (what the test did).
    pub fn note(&self, line: &str) {
        append_note(&self.dir.path().join("canary.log"), line);
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// `GET path` on the canary's listener: (status, body).
    pub fn get(&self, path: &str) -> Result<(u16, String), String> {
        http_get(&self.listener, path)
    }

    /// Its `/metrics`, parsed.
    pub fn metrics(&self) -> Result<Samples, String> {
        let (status, body) = self.get("/metrics")?;
        if status != 200 {
            return Err(format!("/metrics answered {status}: {body}"));
        }
        Ok(Samples::parse(&body))
    }

    /// Polls `/metrics` until `condition` holds, for up to `timeout`; panics naming `what`
    /// with the last scrape's canary series and the log tail.
    pub fn wait_for_metrics(
        &self,
        timeout: Duration,
        what: &str,
        mut condition: impl FnMut(&Samples) -> bool,
    ) -> Samples {
        let deadline = Instant::now() + timeout;
        let mut last = Err("never scraped".to_string());
        while Instant::now() < deadline {
            last = self.metrics();
            if let Ok(samples) = &last {
                if condition(samples) {
                    return samples.clone();
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let shown = match &last {
            Ok(s) => s.show("ironlog_canary_"),
            Err(e) => e.clone(),
        };
        panic!(
            "the canary's metrics did not show that {what} within {} s; last scrape:\n{shown}\n{}",
            timeout.as_secs(),
            self.log_tail()
        )
    }

    /// SIGTERM and a bounded wait for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the canary runs");
        // SAFETY: kill(2) on our own unreaped child.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + CANARY_STOP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the canary did not exit within {} s of SIGTERM\n{}",
                    CANARY_STOP_TIMEOUT.as_secs(),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TestCanary {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let tail = self.log_tail();
            let kept = self.dir.keep().display().to_string();
            eprintln!("{tail}\n===== the test failed: the canary's log stays in {kept} =====");
        }
    }
}

/// One HTTP/1.0 GET: (status, body). No client crate for the few plain GETs the tests and
/// the bench make to admin listeners (`/metrics`, health).
pub fn http_get(address: &str, path: &str) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect(address).map_err(|e| format!("connect {address}: {e}"))?;
    stream
        .set_read_timeout(Some(HTTP_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(HTTP_TIMEOUT)))
        .map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| format!("read from {address}: {e}"))?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no HTTP response: {response:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status in {head:?}"))?;
    Ok((status, body.to_string()))
}

/// Prometheus text-format samples: name, labels, value.
#[derive(Debug, Clone, Default)]
pub struct Samples(pub Vec<(String, BTreeMap<String, String>, f64)>);

impl Samples {
    /// Parses exposition format 0.0.4 (comments skipped; label values without escapes,
    /// as the canary writes them).
    pub fn parse(text: &str) -> Samples {
        let mut out = Vec::new();
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let labels = rest
                        .trim_end_matches('}')
                        .split(',')
                        .filter_map(|pair| {
                            let (k, v) = pair.split_once('=')?;
                            Some((k.to_string(), v.trim_matches('"').to_string()))
                        })
                        .collect();
                    (name.to_string(), labels)
                }
                None => (series.to_string(), BTreeMap::new()),
            };
            out.push((name, labels, value));
        }
        Samples(out)
    }

    /// The sum of `name`'s samples whose labels include every pair of `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|(_, _, v)| v).sum()
    }

    /// `name`'s samples whose labels include every pair of `labels`.
    pub fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a (String, BTreeMap<String, String>, f64)> + 'a {
        self.0.iter().filter(move |(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).is_some_and(|x| x == v))
        })
    }

    /// The distinct values of `label` among `name`'s samples.
    pub fn label_values(&self, name: &str, label: &str) -> Vec<String> {
        let mut values: Vec<String> = self
            .matching(name, &[])
            .filter_map(|(_, l, _)| l.get(label).cloned())
            .collect();
        values.sort();
        values.dedup();
        values
    }

    /// The samples whose names start with `prefix`, one per line, for failure messages
    /// (histogram buckets left out).
    pub fn show(&self, prefix: &str) -> String {
        self.0
            .iter()
            .filter(|(n, _, _)| n.starts_with(prefix) && !n.ends_with("_bucket"))
            .map(|(n, l, v)| format!("{n}{l:?} {v}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_parse_and_sum_by_label() {
        let s = Samples::parse(
            "# HELP x y\n# TYPE a counter\na{partition=\"0\",broker=\"1\"} 3\na{partition=\"1\",broker=\"2\"} 4\nb 1.5\n",
        );
        assert_eq!(s.sum("a", &[]), 7.0);
        assert_eq!(s.sum("a", &[("broker", "2")]), 4.0);
        assert_eq!(s.sum("b", &[]), 1.5);
        assert_eq!(s.label_values("a", "partition"), ["0", "1"]);
        assert_eq!(s.sum("missing", &[]), 0.0);
    }

    #[test]
    fn the_command_line_names_the_subcommand_and_every_override() {
        let spec = CanarySpec::new("/bin/ironlog", "h:1").set("canary.interval.ms", "100");
        assert_eq!(
            spec.args(),
            [
                "canary",
                "--bootstrap-server",
                "h:1",
                "--override",
                "canary.listener=http://127.0.0.1:0",
                "--override",
                "canary.interval.ms=100"
            ]
        );
    }
}
