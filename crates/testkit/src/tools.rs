//! `tools`: the other clients tests run — kcat, python (kafka-python, aiokafka,
//! confluent-kafka), node (KafkaJS) — found or failed for with how to install them, and
//! client session scripts run with a time limit.
//!
//! A missing tool fails the test: the test command installs them, so their absence is a
//! broken set-up, never a reason to pass.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};

/// The kcat binary (`$KCAT`, else `kcat`). A missing kcat fails the test with how to
/// install it.
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

/// Runs kcat ([`require_kcat`]) against `bootstrap` with librdkafka `settings` (`-X k=v`)
/// and `args`, `stdin` fed in (else none), for at most `timeout_secs` (coreutils
/// `timeout`); its output, whatever its exit status.
pub fn kcat_output(
    bootstrap: &str,
    settings: &[(&str, String)],
    args: &[&str],
    stdin: Option<&[u8]>,
    timeout_secs: u32,
) -> Output {
    let mut command = Command::new("timeout");
    command
        .arg(timeout_secs.to_string())
        .arg(require_kcat())
        .arg("-b")
        .arg(bootstrap);
    for (k, v) in settings {
        command.arg("-X").arg(format!("{k}={v}"));
    }
    command
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run kcat: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("kcat stdin");
        pipe.write_all(input).expect("write kcat stdin");
    }
    child.wait_with_output().expect("wait for kcat")
}

/// [`require_kcat`] as an `Option` for older callers; never `None` (a missing kcat fails).
pub fn kcat_binary() -> Option<String> {
    Some(require_kcat())
}

/// The python interpreter (`$HARNESS_PYTHON`, else `python3`).
pub fn python() -> String {
    std::env::var("HARNESS_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// The node binary (`$HARNESS_NODE`, else `node`).
pub fn node() -> String {
    std::env::var("HARNESS_NODE").unwrap_or_else(|_| "node".to_string())
}

/// Fails the test unless [`python`] imports every module of `modules`; the message names
/// what failed and `install` (how to install them).
pub fn require_python_modules(modules: &[&str], install: &str) {
    let python = python();
    let import = format!("import {}", modules.join(", "));
    require_program(
        &python,
        &["-c", &import],
        None,
        &format!("the python Kafka clients are not importable with {python}: {install}"),
    );
}

/// Fails the test unless [`node`] resolves `module` from `dir`; the message names what
/// failed and `install`.
pub fn require_node_module(dir: &Path, module: &str, install: &str) {
    let node = node();
    let script = format!("require('{module}')");
    require_program(
        &node,
        &["-e", &script],
        Some(dir),
        &format!("{module} cannot be loaded with {node}: {install}"),
    );
}

/// Runs `program args` (in `dir`); returns if it exits 0, else fails the test with
/// `failure` and what the program said.
fn require_program(program: &str, args: &[&str], dir: Option<&Path>, failure: &str) {
    let mut command = Command::new(program);
    command.args(args).stdin(Stdio::null());
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let problem = match command.output() {
        Ok(out) if out.status.success() => return,
        Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
        Err(e) => format!("cannot run {program}: {e}"),
    };
    panic!("{failure}\n{problem}");
}

/// A client session script: `program script bootstrap args...`, run in `dir` (default:
/// ours) with extra environment, for at most `timeout_secs` (coreutils `timeout`).
#[derive(Debug, Clone)]
pub struct ClientSession {
    pub program: String,
    pub script: PathBuf,
    pub bootstrap: String,
    pub args: Vec<String>,
    pub dir: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub timeout_secs: u32,
}

impl ClientSession {
    /// Runs the session; fails the test with its output and `context` (e.g. the broker's
    /// log tail) unless it exits 0. Returns its stdout, which it also prints.
    pub fn run(&self, context: &str) -> String {
        let output = self.command(Stdio::null()).output().unwrap_or_else(|e| {
            panic!("cannot run {} {}: {e}", self.program, self.script.display())
        });
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr);
        self.check(output.status, stdout, &stderr, context)
    }

    /// [`ClientSession::run`] for a session that asks the test to act mid-run: each line
    /// it prints goes to `answer` as it arrives, and what `answer` returns is written back
    /// to the session's stdin as one line (e.g. the session prints `@@ kill-broker 2`, the
    /// test kills and restarts that broker and answers `restarted`).
    pub fn run_answering(
        &self,
        context: &str,
        mut answer: impl FnMut(&str) -> Option<String>,
    ) -> String {
        let mut child = self
            .command(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {} {}: {e}", self.program, self.script.display())
            });
        let mut stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr_pipe = child.stderr.take().expect("piped stderr");
        // Drained on its own thread, so a chatty session never blocks on a full pipe.
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr_pipe, &mut text);
            text
        });
        let mut printed = String::new();
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            let Ok(line) = line else { break };
            eprintln!("[session] {line}");
            if let Some(reply) = answer(&line) {
                // A session that already exited cannot read it; its exit status tells.
                let _ = writeln!(stdin, "{reply}").and_then(|()| stdin.flush());
            }
            printed.push_str(&line);
            printed.push('\n');
        }
        drop(stdin);
        let status = child
            .wait()
            .unwrap_or_else(|e| panic!("waiting for the session: {e}"));
        let stderr = stderr.join().unwrap_or_default();
        self.check(status, printed, &stderr, context)
    }

    /// `timeout SECS program script bootstrap args...` in `dir` with `env`.
    fn command(&self, stdin: Stdio) -> Command {
        let mut command = Command::new("timeout");
        command
            .arg(self.timeout_secs.to_string())
            .arg(&self.program)
            .arg(&self.script)
            .arg(&self.bootstrap)
            .args(&self.args)
            .stdin(stdin);
        if let Some(dir) = &self.dir {
            command.current_dir(dir);
        }
        for (k, v) in &self.env {
            command.env(k, v);
        }
        command
    }

    /// Fails the test unless the session exited 0; returns (and prints) its stdout.
    fn check(&self, status: ExitStatus, stdout: String, stderr: &str, context: &str) -> String {
        let name = self
            .script
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        assert!(
            status.success(),
            "{name} {:?} failed ({status}; exit 124 means it ran past {} s):\n\
             ----- stdout -----\n{stdout}\n----- stderr -----\n{stderr}\n{context}",
            self.args,
            self.timeout_secs,
        );
        eprintln!("{stdout}");
        stdout
    }
}
