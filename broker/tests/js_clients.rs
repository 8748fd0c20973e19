//! KafkaJS: a widely used pure-JavaScript client with its own protocol code and its own
//! request version choices. Each test runs `tests/clients/js/kafkajs_session.js` with `node`
//! against a fresh broker; the script checks every result itself and exits non-zero with a
//! sentence naming the mismatch, which the test prints.
//!
//! Without node or the npm packages (`npm ci` in `tests/clients/js`, done by test.sh) these
//! tests fail, saying what to install.
mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::*;

/// The groups in the session form as fast as their members join: no 3 s wait for more
/// members before each group's first rebalance (Kafka's default, kept by other tests).
const BROKER_OVERRIDES: &[(&str, &str)] = &[("group.initial.rebalance.delay.ms", "0")];

/// Seconds one session script may take (enforced with coreutils `timeout`).
const SCRIPT_TIMEOUT_SECS: &str = "180";

fn node() -> String {
    std::env::var("HARNESS_NODE").unwrap_or_else(|_| "node".to_string())
}

/// The folder holding package.json, the lock file, node_modules and the session script.
fn js_dir() -> PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "tests", "clients", "js"]
        .iter()
        .collect()
}

/// Fails the test, naming the missing piece and how to install it, unless node runs and
/// `kafkajs` resolves from the js folder.
fn require_kafkajs() {
    let node = node();
    let output = Command::new(&node)
        .args(["-e", "require('kafkajs')"])
        .current_dir(js_dir())
        .stdin(Stdio::null())
        .output();
    let problem = match output {
        Ok(out) if out.status.success() => return,
        Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
        Err(e) => format!("cannot run {node}: {e}"),
    };
    panic!(
        "KafkaJS cannot be loaded with {node}: (cd {} && npm ci) (./test.sh does; Debian: \
         apt-get install nodejs npm)\n{problem}",
        js_dir().display()
    );
}

/// Runs `node tests/clients/js/kafkajs_session.js BOOTSTRAP ARGS...` and fails with its
/// output (and the broker log) unless it exits 0.
fn run_session(broker: &TestBroker, args: &[&str]) {
    let script = js_dir().join("kafkajs_session.js");
    let output = Command::new("timeout")
        .arg(SCRIPT_TIMEOUT_SECS)
        .arg(node())
        .arg(&script)
        .arg(broker.bootstrap())
        .args(args)
        .current_dir(js_dir())
        .env("KAFKAJS_NO_PARTITIONER_WARNING", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} {}: {e}", node(), script.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "kafkajs_session.js {args:?} failed ({}; exit 124 means it ran past {SCRIPT_TIMEOUT_SECS} s):\n\
         ----- stdout -----\n{stdout}\n----- stderr -----\n{stderr}\n{}",
        output.status,
        broker.log_tail()
    );
    eprintln!("{stdout}");
}

/// Admin (topics, configs, partitions, offsets by time, DeleteRecords, groups), producers
/// (keys, headers, gzip, acks -1 and 1, idempotent), a two-member group reading a
/// 4-partition topic exactly once, and a restarted member resuming from committed offsets.
#[test]
fn kafkajs_session() {
    require_kafkajs();
    let broker = TestBroker::start_with(BROKER_OVERRIDES);
    run_session(&broker, &[]);
}

/// KafkaJS's transactional producer: commit and abort through its own protocol code.
#[test]
fn kafkajs_session_with_transactions() {
    require_kafkajs();
    let broker = TestBroker::start_with(BROKER_OVERRIDES);
    run_session(&broker, &["--transactions"]);
}
