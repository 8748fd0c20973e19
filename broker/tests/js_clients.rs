//! KafkaJS: a widely used pure-JavaScript client with its own protocol code and its own
//! request version choices. Each test runs `tests/clients/js/kafkajs_session.js` with `node`
//! against a fresh broker; the script checks every result itself and exits non-zero with a
//! sentence naming the mismatch, which the test prints.
//!
//! Without node or the npm packages (`npm ci` in `tests/clients/js`, done by test.sh) these
//! tests fail, saying what to install.
mod common;

use std::path::PathBuf;

use common::*;

/// The groups in the session form as fast as their members join: no 3 s wait for more
/// members before each group's first rebalance (Kafka's default, kept by other tests).
const BROKER_OVERRIDES: &[(&str, &str)] = &[("group.initial.rebalance.delay.ms", "0")];

/// Seconds one session script may take (enforced with coreutils `timeout`).
const SCRIPT_TIMEOUT_SECS: u32 = 180;

/// The folder holding package.json, the lock file, node_modules and the session script.
fn js_dir() -> PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "tests", "clients", "js"]
        .iter()
        .collect()
}

/// Fails the test, naming the missing piece and how to install it, unless node runs and
/// `kafkajs` resolves from the js folder.
fn require_kafkajs() {
    let install = format!(
        "(cd {} && npm ci) (./test.sh does; Debian: apt-get install nodejs npm)",
        js_dir().display()
    );
    require_node_module(&js_dir(), "kafkajs", &install);
}

/// Runs `node tests/clients/js/kafkajs_session.js BOOTSTRAP ARGS...` and fails with its
/// output (and the broker log) unless it exits 0.
fn run_session(broker: &TestBroker, args: &[&str]) {
    ClientSession {
        program: node(),
        script: js_dir().join("kafkajs_session.js"),
        bootstrap: broker.bootstrap().to_string(),
        args: args.iter().map(|a| a.to_string()).collect(),
        dir: Some(js_dir()),
        env: vec![("KAFKAJS_NO_PARTITIONER_WARNING".into(), "1".into())],
        timeout_secs: SCRIPT_TIMEOUT_SECS,
    }
    .run(&broker.log_tail());
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
