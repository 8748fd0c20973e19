//! Settings by environment variable, as the container image passes them: `IRONLOG_*`
//! variables reach the broker as settings, the command line's `--override` wins over them,
//! and a variable that is no valid setting stops the broker with a message naming it.
mod common;

use std::process::{Command, Stdio};

use common::*;
use rdkafka::consumer::Consumer;

#[test]
fn settings_come_from_ironlog_variables_and_overrides_win() {
    // The harness passes node.id=1, log.dirs and the listeners as --override: the
    // environment's node.id loses to it; the other variables are the only source.
    let broker = broker_spec()
        .set("log.retention.ms", "222000")
        .env("IRONLOG_NODE_ID", "7")
        .env("IRONLOG_NUM_PARTITIONS", "5")
        .env("IRONLOG_LOG_RETENTION_MS", "111000")
        .env("IRONLOG_MESSAGE_MAX_BYTES", "2000000")
        .start();
    let metadata = broker
        .consumer()
        .fetch_metadata(None, CLIENT_TIMEOUT)
        .expect("fetch metadata");
    let ids: Vec<i32> = metadata.brokers().iter().map(|b| b.id()).collect();
    assert_eq!(
        ids,
        vec![1],
        "--override node.id=1 must win over IRONLOG_NODE_ID=7"
    );

    let configs = broker.broker_configs(1);
    let value = |name: &str| {
        configs
            .get(name)
            .unwrap_or_else(|| panic!("broker 1 describes no {name}"))
            .clone()
    };
    assert_eq!(
        value("num.partitions").as_deref(),
        Some("5"),
        "IRONLOG_NUM_PARTITIONS=5"
    );
    assert_eq!(
        value("message.max.bytes").as_deref(),
        Some("2000000"),
        "IRONLOG_MESSAGE_MAX_BYTES=2000000"
    );
    assert_eq!(
        value("log.retention.ms").as_deref(),
        Some("222000"),
        "--override log.retention.ms=222000 must win over IRONLOG_LOG_RETENTION_MS=111000"
    );

    // A setting from the environment acts, not only describes: an auto-created topic gets
    // num.partitions partitions.
    let topic = topic_name("from-env");
    produce_values(&broker, &topic, &["v".to_string()]);
    broker.wait_for_topic(&topic, 5);
}

/// Seconds a broker that should refuse to start is given before it is stopped (coreutils
/// `timeout` sends SIGTERM, a clean shutdown).
const REFUSAL_TIMEOUT_SECS: &str = "30";

/// Runs `ironlog broker` with `env` (and a port-0 listener in a temp dir) and expects it
/// to refuse to start: returns its stderr.
fn refused_start(env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new("timeout")
        .arg(REFUSAL_TIMEOUT_SECS)
        .arg(env!("CARGO_BIN_EXE_ironlog"))
        .arg("broker")
        .arg("--override")
        .arg(format!("log.dirs={}", dir.path().display()))
        .args(["--override", "listeners=PLAINTEXT://127.0.0.1:0"])
        .args(["--override", "advertised.listeners=PLAINTEXT://127.0.0.1:0"])
        .args(["--override", "admin.listener="])
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run the ironlog binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success() && !stdout.contains("ironlog: started"),
        "the broker started with {env:?}; stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stderr
}

#[test]
fn a_variable_that_is_no_setting_stops_the_broker_naming_it() {
    let stderr = refused_start(&[("IRONLOG_LOG_DIRZ", "/tmp/x")]);
    assert!(
        stderr.contains("environment variable IRONLOG_LOG_DIRZ") && stderr.contains("'log.dirz'"),
        "the error must name the variable and the key it maps to; stderr:\n{stderr}"
    );

    let stderr = refused_start(&[("IRONLOG_NUM_PARTITIONS", "many")]);
    assert!(
        stderr.contains("environment variable IRONLOG_NUM_PARTITIONS")
            && stderr.contains("Invalid value many for configuration num.partitions"),
        "the error must name the variable and give Kafka's message; stderr:\n{stderr}"
    );
}
