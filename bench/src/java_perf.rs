//! Kafka's own perf tools as clients: `org.apache.kafka.tools.ProducerPerformance` (what
//! `kafka-producer-perf-test.sh` runs) sends a cell's records unthrottled, then
//! `org.apache.kafka.tools.ConsumerPerformance` (`kafka-consumer-perf-test.sh`) reads them
//! back in a consumer group of its own. Both run by main class from the Kafka classpath the
//! bench resolves for `--kafka-peer` (kafka-tools 4.1.1), with the heap their scripts give
//! them, and are read from their stdout: the producer's final summary line and the
//! consumer's CSV line (`--show-detailed-stats` off).
//!
//! The tools keep their own client defaults (batch.size 16384, linger.ms 5, idempotence on
//! for acks=all), as a user running the scripts gets them; only `acks` is set.
//!
//! Units: the tools print MB as 2^20 bytes; the parsed figures keep the tools' numbers
//! (`*_mib_*`) and the report converts them to the bench's MB (10^6 bytes).

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::clients;
use crate::error::BenchError;
use crate::proc_stats;
use crate::scenario::JavaPerfSpec;

pub(crate) const PRODUCER_PERFORMANCE_CLASS: &str = "org.apache.kafka.tools.ProducerPerformance";
pub(crate) const CONSUMER_PERFORMANCE_CLASS: &str = "org.apache.kafka.tools.ConsumerPerformance";
/// Heap of both tools: what `kafka-producer-perf-test.sh` and `kafka-consumer-perf-test.sh`
/// export as `KAFKA_HEAP_OPTS` unless the user set one.
pub(crate) const TOOL_HEAP: &str = "-Xmx512M";
/// ConsumerPerformance's `--timeout`: the longest gap between two returned batches before
/// it gives up (its default, 10 s, is close to a slow first group join on a loaded machine).
const CONSUMER_IDLE_TIMEOUT_MS: u64 = 30_000;
/// How often a running tool is checked for exit against its deadline.
const TOOL_POLL_MS: u64 = 50;
/// Characters of a tool's stderr shown when it fails.
const STDERR_TAIL_CHARS_MAX: usize = 600;
/// The tools print MB as 2^20 bytes.
const TOOL_MB_BYTES: f64 = 1_048_576.0;

/// ProducerPerformance's final line: `N records sent, R records/sec (M MB/sec), A ms avg
/// latency, X ms max latency, P ms 50th, P ms 95th, P ms 99th, P ms 99.9th.`
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProducerSummary {
    /// Acknowledged records (the tool counts a record only when its send succeeded).
    pub(crate) records_sent: u64,
    pub(crate) records_per_s: f64,
    pub(crate) mib_per_s: f64,
    pub(crate) latency_avg_ms: f64,
    pub(crate) latency_max_ms: f64,
    pub(crate) latency_p50_ms: f64,
    pub(crate) latency_p95_ms: f64,
    pub(crate) latency_p99_ms: f64,
    pub(crate) latency_p999_ms: f64,
}

/// ConsumerPerformance's CSV line (header `start.time, end.time, data.consumed.in.MB,
/// MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms,
/// fetch.MB.sec, fetch.nMsg.sec`). The whole-run rates include the group join; the fetch
/// rates exclude it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConsumerStats {
    pub(crate) mib_consumed: f64,
    pub(crate) mib_per_s: f64,
    pub(crate) records_consumed: u64,
    pub(crate) records_per_s: f64,
    pub(crate) rebalance_ms: u64,
    pub(crate) fetch_ms: u64,
    pub(crate) fetch_mib_per_s: f64,
    pub(crate) fetch_records_per_s: f64,
    /// It printed Kafka's "Exiting before consuming the expected number of messages".
    pub(crate) stopped_early: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JavaPerfResult {
    pub(crate) producer: ProducerSummary,
    /// Broker user+system CPU seconds while ProducerPerformance ran (JVM start included,
    /// when the broker idles), if its pid is known.
    pub(crate) broker_cpu_s: Option<f64>,
    /// `Err` says why the consume half has no figures (the produce half still counts).
    pub(crate) consumer: Result<ConsumerStats, String>,
}

/// MB (10^6 bytes) from the tools' 2^20-byte MB.
pub(crate) fn mb_from_tool_mb(tool_mb: f64) -> f64 {
    tool_mb * TOOL_MB_BYTES / 1e6
}

/// Creates the topic, runs ProducerPerformance for `spec.record_count` records, then
/// ConsumerPerformance for the records it acknowledged.
pub(crate) fn run(
    classpath: &str,
    bootstrap: &str,
    topic: &str,
    spec: &JavaPerfSpec,
    replication_factor: i32,
    broker_pid: Option<u32>,
) -> Result<JavaPerfResult, BenchError> {
    clients::create_topics(
        bootstrap,
        &[topic.to_string()],
        spec.partitions,
        replication_factor,
    )?;
    let work_dir = tempfile::Builder::new()
        .prefix("ironlog-bench-java-perf-")
        .tempdir()
        .map_err(|e| BenchError::io("creating the perf tools' output dir", e))?;
    let cpu_before = broker_pid.and_then(|pid| proc_stats::cpu_seconds(pid).ok());
    let producer_args = [
        "--topic".to_string(),
        topic.to_string(),
        "--num-records".to_string(),
        spec.record_count.to_string(),
        "--record-size".to_string(),
        spec.record_bytes.to_string(),
        "--throughput".to_string(),
        "-1".to_string(),
        "--producer-props".to_string(),
        format!("bootstrap.servers={bootstrap}"),
        format!("acks={}", spec.acks.config_value()),
    ];
    let stdout = run_tool(
        classpath,
        PRODUCER_PERFORMANCE_CLASS,
        &producer_args,
        spec.tool_timeout,
        work_dir.path(),
    )?;
    let cpu_after = broker_pid.and_then(|pid| proc_stats::cpu_seconds(pid).ok());
    let producer = parse_producer_summary(&stdout).map_err(|reason| BenchError::JavaTool {
        tool: PRODUCER_PERFORMANCE_CLASS,
        reason,
    })?;
    if producer.records_sent < spec.record_count {
        tracing::warn!(
            topic,
            sent = producer.records_sent,
            asked = spec.record_count,
            "ProducerPerformance had sends fail"
        );
    }
    let consumer_args = [
        "--bootstrap-server".to_string(),
        bootstrap.to_string(),
        "--topic".to_string(),
        topic.to_string(),
        "--messages".to_string(),
        producer.records_sent.to_string(),
        "--group".to_string(),
        format!("{topic}-perf"),
        "--timeout".to_string(),
        CONSUMER_IDLE_TIMEOUT_MS.to_string(),
    ];
    let consumer = run_tool(
        classpath,
        CONSUMER_PERFORMANCE_CLASS,
        &consumer_args,
        spec.tool_timeout,
        work_dir.path(),
    )
    .map_err(|e| e.to_string())
    .and_then(|stdout| parse_consumer_stats(&stdout))
    .and_then(|stats| {
        if stats.records_consumed < producer.records_sent {
            Err(format!(
                "consumed {} of {} records{}",
                stats.records_consumed,
                producer.records_sent,
                if stats.stopped_early {
                    " (ConsumerPerformance's --timeout passed)"
                } else {
                    ""
                }
            ))
        } else {
            Ok(stats)
        }
    });
    Ok(JavaPerfResult {
        producer,
        broker_cpu_s: cpu_before.zip(cpu_after).map(|(b, a)| (a - b).max(0.0)),
        consumer,
    })
}

/// Runs `java HEAP -cp CLASSPATH CLASS ARGS` to its exit (killed after `timeout`), its
/// output in files under `work_dir`; returns its stdout.
fn run_tool(
    classpath: &str,
    class: &'static str,
    args: &[String],
    timeout: Duration,
    work_dir: &Path,
) -> Result<String, BenchError> {
    let short = class.rsplit('.').next().unwrap_or(class);
    let stdout_path = work_dir.join(format!("{short}.out"));
    let stderr_path = work_dir.join(format!("{short}.err"));
    let create = |path: &Path| {
        std::fs::File::create(path)
            .map_err(|e| BenchError::io(format!("creating {}", path.display()), e))
    };
    tracing::info!(tool = short, ?args, "running");
    let mut child = Command::new("java")
        .args([TOOL_HEAP, "-cp", classpath, class])
        .args(args)
        .stdin(Stdio::null())
        .stdout(create(&stdout_path)?)
        .stderr(create(&stderr_path)?)
        .spawn()
        .map_err(|e| BenchError::io(format!("cannot run java {class}"), e))?;
    let status = wait_bounded(&mut child, timeout).map_err(|e| BenchError::io("waiting", e))?;
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .map_err(|e| BenchError::io(format!("reading {}", path.display()), e))
    };
    let stderr_tail = || {
        let text = read(&stderr_path).unwrap_or_default();
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let skip = flat.chars().count().saturating_sub(STDERR_TAIL_CHARS_MAX);
        flat.chars().skip(skip).collect::<String>()
    };
    match status {
        None => Err(BenchError::JavaTool {
            tool: class,
            reason: format!(
                "still running after {} s, killed; stderr: {}",
                timeout.as_secs(),
                stderr_tail()
            ),
        }),
        Some(status) if !status.success() => Err(BenchError::JavaTool {
            tool: class,
            reason: format!("exited with {status}; stderr: {}", stderr_tail()),
        }),
        Some(_) => read(&stdout_path),
    }
}

/// Waits for `child` to exit, up to `timeout`; kills and reaps it then (`Ok(None)`).
fn wait_bounded(child: &mut Child, timeout: Duration) -> std::io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            child.kill()?;
            child.wait()?;
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(TOOL_POLL_MS));
    }
}

/// The number before `suffix` in `field` (`"2470 ms 50th"` with suffix `"ms 50th"`).
fn number_before(field: &str, suffix: &str) -> Option<f64> {
    field
        .trim()
        .strip_suffix(suffix)?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}

/// Parses ProducerPerformance's final summary line out of its stdout (the progress lines
/// before it lack the percentiles).
pub(crate) fn parse_producer_summary(stdout: &str) -> Result<ProducerSummary, String> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.contains("records sent") && l.contains("99.9th"))
        .ok_or_else(|| {
            format!(
                "no summary line (`... 99.9th.`) in its output: {:?}",
                stdout.lines().last().unwrap_or("")
            )
        })?;
    let bad = |what: &str| format!("summary line without {what}: {line:?}");
    let fields: Vec<&str> = line.trim().trim_end_matches('.').split(", ").collect();
    let [sent, rate, avg, max, p50, p95, p99, p999] = fields.as_slice() else {
        return Err(bad("its eight fields"));
    };
    let (records, mib) = rate
        .split_once(" records/sec (")
        .ok_or_else(|| bad("records/sec (MB/sec)"))?;
    Ok(ProducerSummary {
        records_sent: sent
            .trim()
            .strip_suffix("records sent")
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| bad("records sent"))?,
        records_per_s: records.trim().parse().map_err(|_| bad("records/sec"))?,
        mib_per_s: number_before(mib, "MB/sec)").ok_or_else(|| bad("MB/sec"))?,
        latency_avg_ms: number_before(avg, "ms avg latency").ok_or_else(|| bad("avg"))?,
        latency_max_ms: number_before(max, "ms max latency").ok_or_else(|| bad("max"))?,
        latency_p50_ms: number_before(p50, "ms 50th").ok_or_else(|| bad("50th"))?,
        latency_p95_ms: number_before(p95, "ms 95th").ok_or_else(|| bad("95th"))?,
        latency_p99_ms: number_before(p99, "ms 99th").ok_or_else(|| bad("99th"))?,
        latency_p999_ms: number_before(p999, "ms 99.9th").ok_or_else(|| bad("99.9th"))?,
    })
}

/// Parses ConsumerPerformance's header and CSV line out of its stdout, by column name.
pub(crate) fn parse_consumer_stats(stdout: &str) -> Result<ConsumerStats, String> {
    let mut lines = stdout.lines().map(str::trim);
    let header: Vec<&str> = lines
        .by_ref()
        .find(|l| l.starts_with("start.time"))
        .ok_or_else(|| format!("no `start.time, ...` header in its output: {stdout:?}"))?
        .split(',')
        .map(str::trim)
        .collect();
    let mut stopped_early = false;
    let values: Vec<&str> = loop {
        let Some(line) = lines.next() else {
            return Err(format!("no CSV line after the header: {stdout:?}"));
        };
        if line.starts_with("WARNING: Exiting before consuming") {
            stopped_early = true;
        } else if line.split(',').count() == header.len() {
            break line.split(',').map(str::trim).collect();
        }
    };
    let column = |name: &str| -> Result<&str, String> {
        header
            .iter()
            .position(|h| *h == name)
            .map(|i| values[i])
            .ok_or_else(|| format!("no column {name} in header {header:?}"))
    };
    let float = |name: &str| -> Result<f64, String> {
        let text = column(name)?;
        text.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("column {name} is {text:?}, not a number"))
    };
    let integer = |name: &str| -> Result<u64, String> {
        let text = column(name)?;
        text.parse::<u64>()
            .map_err(|_| format!("column {name} is {text:?}, not a count"))
    };
    Ok(ConsumerStats {
        mib_consumed: float("data.consumed.in.MB")?,
        mib_per_s: float("MB.sec")?,
        records_consumed: integer("data.consumed.in.nMsg")?,
        records_per_s: float("nMsg.sec")?,
        rebalance_ms: integer("rebalance.time.ms")?,
        fetch_ms: integer("fetch.time.ms")?,
        fetch_mib_per_s: float("fetch.MB.sec")?,
        fetch_records_per_s: float("fetch.nMsg.sec")?,
        stopped_early,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from kafka-tools 4.1.1 against Apache Kafka 4.1.1 (one combined node) on
    // 2026-12-03: a progress line, then the final summary.
    const PRODUCER_OUTPUT: &str = "\
120038 records sent, 24007.6 records/sec (2.29 MB/sec), 1935.3 ms avg latency, 2595.0 ms max latency.
200000 records sent, 35752.6 records/sec (3.41 MB/sec), 2167.40 ms avg latency, 2610.00 ms max latency, 2470 ms 50th, 2592 ms 95th, 2607 ms 99th, 2609 ms 99.9th.
";

    const PRODUCER_OUTPUT_1KIB: &str = "\
100000 records sent, 24183.8 records/sec (23.62 MB/sec), 935.48 ms avg latency, 1485.00 ms max latency, 877 ms 50th, 1437 ms 95th, 1469 ms 99th, 1481 ms 99.9th.
";

    const CONSUMER_OUTPUT: &str = "\
start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
2026-12-03 17:10:45:359, 2026-12-03 17:10:46:846, 97.6563, 65.6733, 100000, 67249.4956, 540, 947, 103.1217, 105596.6209
";

    // `--messages 200000` on a topic holding 100,000 records, `--timeout 2000`.
    const CONSUMER_OUTPUT_TIMED_OUT: &str = "\
start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
WARNING: Exiting before consuming the expected number of messages: timeout (2000 ms) exceeded. You can use the --timeout option to increase the timeout.
2026-12-03 17:10:53:012, 2026-12-03 17:10:57:845, 97.6563, 20.2061, 100000, 20691.0821, 967, 3866, 25.2603, 25866.5287
";

    #[test]
    fn producer_summary_is_the_final_line_with_percentiles() {
        let s = parse_producer_summary(PRODUCER_OUTPUT).unwrap();
        assert_eq!(
            s,
            ProducerSummary {
                records_sent: 200_000,
                records_per_s: 35_752.6,
                mib_per_s: 3.41,
                latency_avg_ms: 2_167.40,
                latency_max_ms: 2_610.0,
                latency_p50_ms: 2_470.0,
                latency_p95_ms: 2_592.0,
                latency_p99_ms: 2_607.0,
                latency_p999_ms: 2_609.0,
            },
            "the progress line before the summary must not be taken"
        );
        let k = parse_producer_summary(PRODUCER_OUTPUT_1KIB).unwrap();
        assert_eq!((k.records_sent, k.latency_p99_ms), (100_000, 1_469.0));
        assert!((k.mib_per_s - 23.62).abs() < 1e-9);
    }

    #[test]
    fn producer_output_without_a_summary_is_an_error_naming_it() {
        let progress_only = PRODUCER_OUTPUT.lines().next().unwrap();
        let error = parse_producer_summary(progress_only).unwrap_err();
        assert!(error.contains("no summary line"), "{error}");
        assert!(parse_producer_summary("").is_err());
        let garbled = PRODUCER_OUTPUT_1KIB.replace("877 ms 50th", "x ms 50th");
        let error = parse_producer_summary(&garbled).unwrap_err();
        assert!(error.contains("50th"), "{error}");
        let short = "10 records sent, 1.0 records/sec (0.1 MB/sec), 99.9th.";
        assert!(parse_producer_summary(short)
            .unwrap_err()
            .contains("eight fields"));
    }

    #[test]
    fn consumer_stats_are_read_by_column_name() {
        let s = parse_consumer_stats(CONSUMER_OUTPUT).unwrap();
        assert_eq!(
            s,
            ConsumerStats {
                mib_consumed: 97.6563,
                mib_per_s: 65.6733,
                records_consumed: 100_000,
                records_per_s: 67_249.495_6,
                rebalance_ms: 540,
                fetch_ms: 947,
                fetch_mib_per_s: 103.1217,
                fetch_records_per_s: 105_596.620_9,
                stopped_early: false,
            }
        );
    }

    #[test]
    fn consumer_timeout_warning_is_noted_and_skipped() {
        let s = parse_consumer_stats(CONSUMER_OUTPUT_TIMED_OUT).unwrap();
        assert!(s.stopped_early, "the WARNING line must be recorded");
        assert_eq!((s.records_consumed, s.fetch_ms), (100_000, 3_866));
    }

    #[test]
    fn consumer_output_without_figures_is_an_error() {
        let header_only = CONSUMER_OUTPUT.lines().next().unwrap();
        assert!(parse_consumer_stats(header_only)
            .unwrap_err()
            .contains("no CSV line"));
        assert!(parse_consumer_stats("Exception in thread main")
            .unwrap_err()
            .contains("no `start.time"));
        let garbled = CONSUMER_OUTPUT.replace(", 540,", ", -1,");
        assert!(parse_consumer_stats(&garbled)
            .unwrap_err()
            .contains("rebalance.time.ms"));
    }

    #[test]
    fn tool_megabytes_are_converted_to_decimal_megabytes() {
        assert!((mb_from_tool_mb(1.0) - 1.048_576).abs() < 1e-12);
        // 100,000 records of 1024 B: 97.6563 of the tools' MB, 102.4 MB.
        assert!((mb_from_tool_mb(97.6563) - 102.4).abs() < 1e-3);
    }
}
