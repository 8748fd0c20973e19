//! A user's session with `kcat` (Debian's package, librdkafka 2.0.2): list metadata,
//! produce and consume with keys and headers, read to the end, look up offsets by time.
//! Without kcat these tests fail, saying how to install it (`./test.sh` does).
mod common;

use std::process::Output;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use rdkafka::producer::FutureRecord;

/// Seconds one kcat invocation may take (enforced with coreutils `timeout`).
const KCAT_TIMEOUT_SECS: u32 = 60;

fn kcat(broker: &TestBroker, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let args = [&["-m", "15"], args].concat();
    let output = kcat_output(broker.bootstrap(), &[], &args, stdin, KCAT_TIMEOUT_SECS);
    assert!(
        output.status.success(),
        "kcat {args:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn kcat_lists_brokers_and_topics() {
    require_kcat();
    let broker = TestBroker::start();
    let topic = broker.new_topic("kcat-meta", 3);
    let out = kcat(&broker, &["-L", "-J"], None);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("kcat -L -J printed no JSON ({e}): {}", stdout(&out)));
    let brokers = json["brokers"].as_array().expect("brokers array");
    assert_eq!(brokers.len(), 1, "one broker in {json}");
    assert_eq!(brokers[0]["id"], 1, "broker id");
    assert_eq!(
        brokers[0]["name"].as_str(),
        Some(broker.bootstrap()),
        "broker address"
    );
    let t = json["topics"]
        .as_array()
        .expect("topics array")
        .iter()
        .find(|t| t["topic"] == topic.as_str())
        .unwrap_or_else(|| panic!("topic {topic} not in kcat -L: {json}"));
    let partitions = t["partitions"].as_array().expect("partitions");
    assert_eq!(partitions.len(), 3, "3 partitions");
    assert!(
        partitions.iter().all(|p| p["leader"] == 1),
        "every partition led by broker 1: {t}"
    );
}

#[test]
fn kcat_produces_and_consumes_keys_and_headers_to_the_end() {
    require_kcat();
    let broker = TestBroker::start();
    let topic = broker.new_topic("kcat-kh", 1);
    let input: String = (0..25)
        .map(|i| format!("key-{i}:value {i} with spaces\n"))
        .collect();
    kcat(
        &broker,
        &[
            "-P",
            "-t",
            &topic,
            "-K:",
            "-H",
            "h1=v1",
            "-H",
            "trace-id=abc-123",
        ],
        Some(input.as_bytes()),
    );
    let out = kcat(
        &broker,
        &[
            "-C",
            "-t",
            &topic,
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            "%o|%k|%s|%h\n",
        ],
        None,
    );
    let want: String = (0..25)
        .map(|i| format!("{i}|key-{i}|value {i} with spaces|h1=v1,trace-id=abc-123\n"))
        .collect();
    assert_eq!(
        stdout(&out),
        want,
        "kcat consume output (offset|key|value|headers)"
    );
}

#[test]
fn kcat_queries_offsets_by_time() {
    require_kcat();
    let broker = TestBroker::start();
    let topic = broker.new_topic("kcat-ts", 1);
    let producer = broker.producer();
    let t0 = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
        - 100_000;
    for i in 0..20i64 {
        let v = format!("v{i}");
        let record = FutureRecord::<(), _>::to(&topic)
            .partition(0)
            .payload(&v)
            .timestamp(t0 + i * 1000);
        block_on(producer.send(record, Duration::from_secs(30)))
            .unwrap_or_else(|(e, _)| panic!("record {i} not acknowledged: {e}"));
    }
    let query = format!("{topic}:0:{}", t0 + 12_500);
    let out = kcat(&broker, &["-Q", "-t", &query], None);
    let text = stdout(&out);
    assert!(
        text.lines().any(|l| l.trim_end().ends_with(" offset 13")),
        "kcat -Q for a time between offsets 12 and 13 should print offset 13, got: {text}"
    );
    let from = format!("s@{}", t0 + 12_500);
    let out = kcat(
        &broker,
        &[
            "-C", "-q", "-t", &topic, "-p", "0", "-o", &from, "-e", "-f", "%o %s\n",
        ],
        None,
    );
    let want: String = (13..20).map(|i| format!("{i} v{i}\n")).collect();
    assert_eq!(stdout(&out), want, "consume from s@timestamp");
}
