//! Broker memory when idle with many partitions.

use std::time::{Duration, Instant};

use crate::clients;
use crate::error::BenchError;
use crate::proc_stats;
use crate::scenario::IdlePartitionsSpec;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IdlePartitionsResult {
    /// Time from the first CreateTopics request until every partition had a leader.
    pub(crate) create_elapsed: Duration,
    /// Broker RSS before creating anything (None without a broker pid).
    pub(crate) rss_before_bytes: Option<u64>,
    /// Broker RSS after the settle period.
    pub(crate) rss_idle_bytes: Option<u64>,
}

pub(crate) fn topic_names(prefix: &str, spec: &IdlePartitionsSpec) -> Vec<String> {
    (0..spec.topics)
        .map(|index| format!("{prefix}-idle-{index:04}"))
        .collect()
}

pub(crate) fn run(
    bootstrap: &str,
    topics: &[String],
    spec: &IdlePartitionsSpec,
    replication_factor: i32,
    broker_pid: Option<u32>,
) -> Result<IdlePartitionsResult, BenchError> {
    let rss = |pid: u32| proc_stats::status_bytes(pid, "VmRSS");
    let rss_before_bytes = broker_pid.map(rss).transpose()?;
    let started = Instant::now();
    clients::create_topics(
        bootstrap,
        topics,
        spec.partitions_per_topic,
        replication_factor,
    )?;
    let create_elapsed = started.elapsed();
    tracing::info!(
        partitions = spec.partitions_total(),
        create_ms = create_elapsed.as_millis() as u64,
        settle_s = spec.settle.as_secs(),
        "partitions created; letting the broker idle"
    );
    // The measurement is "RSS after being idle for `settle`": the wait is the condition.
    std::thread::sleep(spec.settle);
    let rss_idle_bytes = broker_pid.map(rss).transpose()?;
    Ok(IdlePartitionsResult {
        create_elapsed,
        rss_before_bytes,
        rss_idle_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_are_unique_and_prefixed() {
        let spec = IdlePartitionsSpec {
            topics: 100,
            partitions_per_topic: 10,
            settle: Duration::ZERO,
        };
        let names = topic_names("bench-1", &spec);
        assert_eq!(names.len(), 100);
        let unique: std::collections::HashSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), 100, "topic names must not repeat");
        assert_eq!(names[7], "bench-1-idle-0007");
    }
}
