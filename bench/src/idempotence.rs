//! Idempotent produce overhead: the same batched produce run with `enable.idempotence`
//! false and then true, each on a fresh topic, in one bench run, each measured after a
//! warm-up (connections, metadata and the producer id in place). [`measured_produce`] is
//! that measured run, shared with the other side-by-side comparisons.

use std::time::Duration;

use crate::clients;
use crate::error::BenchError;
use crate::scenario::{IdempotenceSpec, ThroughputSpec};
use crate::throughput;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProduceRun {
    pub(crate) delivered: u64,
    pub(crate) failed: u64,
    pub(crate) elapsed: Duration,
    pub(crate) broker_cpu_s: Option<f64>,
    pub(crate) first_error: Option<String>,
}

impl ProduceRun {
    pub(crate) fn records_per_s(&self) -> Option<f64> {
        let seconds = self.elapsed.as_secs_f64();
        (seconds > 0.0).then(|| self.delivered as f64 / seconds)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IdempotenceResult {
    pub(crate) plain: ProduceRun,
    pub(crate) idempotent: ProduceRun,
}

impl IdempotenceResult {
    /// Idempotent records/s over plain records/s (1.0 = no overhead).
    pub(crate) fn ratio(&self) -> Option<f64> {
        let plain = self.plain.records_per_s()?;
        let idempotent = self.idempotent.records_per_s()?;
        (plain > 0.0).then(|| idempotent / plain)
    }
}

/// `topics` = (plain topic, idempotent topic).
pub(crate) fn run(
    bootstrap: &str,
    topics: (&str, &str),
    spec: &IdempotenceSpec,
    replication_factor: i32,
    broker_pid: Option<u32>,
) -> Result<IdempotenceResult, BenchError> {
    let (plain_topic, idempotent_topic) = topics;
    clients::create_topics(
        bootstrap,
        &[plain_topic.to_string(), idempotent_topic.to_string()],
        spec.produce.partitions,
        replication_factor,
    )?;
    let run_one = |topic: &str, idempotence: &str| {
        measured_produce(
            bootstrap,
            topic,
            &spec.produce,
            &[("enable.idempotence", idempotence)],
            broker_pid,
        )
    };
    let plain = run_one(plain_topic, "false")?;
    let idempotent = run_one(idempotent_topic, "true")?;
    Ok(IdempotenceResult { plain, idempotent })
}

/// One measured produce run of `spec` to `topic` with the throughput runs' producer plus
/// `settings`, after `sync` and a warm-up: runs compared side by side differ only in what
/// the caller changes.
pub(crate) fn measured_produce(
    bootstrap: &str,
    topic: &str,
    spec: &ThroughputSpec,
    settings: &[(&str, &str)],
    broker_pid: Option<u32>,
) -> Result<ProduceRun, BenchError> {
    settle_page_cache();
    let mut config = throughput::producer_config(bootstrap, spec);
    for (key, value) in settings {
        config.set(*key, *value);
    }
    // Warmed up: librdkafka's idempotent producer waits for its producer id (a retry timer
    // of ~0.5 s when no connection is up yet), a fixed start-up cost that would otherwise
    // dominate a sub-second run.
    let produced = throughput::produce_warmed_up(config, topic, spec, broker_pid)?;
    tracing::info!(
        topic,
        ?settings,
        delivered = produced.ok,
        elapsed_ms = produced.elapsed.as_millis() as u64,
        "produce run done"
    );
    Ok(ProduceRun {
        delivered: produced.ok,
        failed: produced.failed,
        elapsed: produced.elapsed,
        broker_cpu_s: produced.broker_cpu_s,
        first_error: produced.first_error,
    })
}

/// Writes back dirty pages (`sync`) before a measured run, so that one run's writeback
/// (a GB of page cache) is not charged to the next: without it, whichever run came second
/// was slower by up to 2x on the reference VM.
fn settle_page_cache() {
    match std::process::Command::new("sync").status() {
        Ok(status) if status.success() => {}
        Ok(status) => tracing::warn!(%status, "sync failed; runs may disturb each other"),
        Err(e) => tracing::warn!(error = %e, "cannot run sync; runs may disturb each other"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_of(delivered: u64, millis: u64) -> ProduceRun {
        ProduceRun {
            delivered,
            failed: 0,
            elapsed: Duration::from_millis(millis),
            broker_cpu_s: None,
            first_error: None,
        }
    }

    #[test]
    fn ratio_is_idempotent_rate_over_plain_rate() {
        let result = IdempotenceResult {
            plain: run_of(1_000, 1_000),
            idempotent: run_of(1_000, 1_250),
        };
        let ratio = result.ratio().unwrap();
        assert!((ratio - 0.8).abs() < 1e-9, "expected 0.8, got {ratio}");
        let empty = IdempotenceResult {
            plain: run_of(0, 0),
            idempotent: run_of(1_000, 1_000),
        };
        assert_eq!(empty.ratio(), None, "no plain rate, no ratio");
    }
}
