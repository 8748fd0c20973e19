//! Log compaction throughput, read from the spawned broker's data directory.
//!
//! 1. Create a one-partition topic with `cleanup.policy=compact`, small segments,
//!    `min.cleanable.dirty.ratio` near 0 and `min.compaction.lag.ms` of an hour, so nothing
//!    is cleanable while the bench produces.
//! 2. Produce the keyed overwrites (few distinct keys, so nearly everything is garbage).
//! 3. Read the partition's segment bytes (`*.log` in `log.dirs/<topic>-0`), then lower
//!    `min.compaction.lag.ms` to 0 (AlterConfigs) and sample the size until it has not
//!    changed for `settle_quiet`. Cleaning time = the config change → the last change seen.
//!
//! Index files are not counted (their size is an allocation policy, not data).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};

use crate::clients;
use crate::error::BenchError;
use crate::scenario::CompactionSpec;
use crate::throughput::DeliveryCounter;

/// Holds back cleaning while producing (an hour).
const COMPACTION_LAG_HOLD_MS: &str = "3600000";
/// How often the partition's size is sampled while the cleaner works.
const SIZE_SAMPLE_INTERVAL_MS: u64 = 20;
/// How long `flush` may wait for outstanding deliveries.
const FLUSH_TIMEOUT_MS: u64 = 60_000;
/// Back-off when librdkafka's local queue is full.
const QUEUE_FULL_BACKOFF_MS: u64 = 1;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CompactionResult {
    pub(crate) produced_records: u64,
    /// Key plus value bytes delivered.
    pub(crate) produced_bytes: u64,
    pub(crate) produce_elapsed: Duration,
    /// Segment bytes when cleaning was allowed to start.
    pub(crate) log_bytes_before: u64,
    /// Segment bytes once the size stopped changing.
    pub(crate) log_bytes_after: u64,
    /// Cleaning allowed → last size change seen.
    pub(crate) clean_elapsed: Duration,
}

impl CompactionResult {
    pub(crate) fn removed_bytes(&self) -> u64 {
        self.log_bytes_before.saturating_sub(self.log_bytes_after)
    }
}

/// The topic configs: cleaning held back with `lag_ms`, everything else as the brief says.
fn topic_configs<'a>(
    segment_bytes: &'a str,
    dirty_ratio: &'a str,
    lag_ms: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("cleanup.policy", "compact"),
        ("segment.bytes", segment_bytes),
        ("min.cleanable.dirty.ratio", dirty_ratio),
        ("min.compaction.lag.ms", lag_ms),
    ]
}

/// Sum of the `*.log` segment file sizes in `dir`.
pub(crate) fn segment_bytes_in(dir: &Path) -> Result<u64, BenchError> {
    let context = || format!("reading partition dir {}", dir.display());
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(|e| BenchError::io(context(), e))? {
        let entry = entry.map_err(|e| BenchError::io(context(), e))?;
        if entry.path().extension().is_some_and(|ext| ext == "log") {
            // A segment may be swapped away between listing and stat: count it as gone.
            match entry.metadata() {
                Ok(metadata) => total += metadata.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(BenchError::io(context(), e)),
            }
        }
    }
    Ok(total)
}

pub(crate) fn run(
    bootstrap: &str,
    topic: &str,
    spec: &CompactionSpec,
    replication_factor: i32,
    log_dirs: Option<&Path>,
) -> Result<CompactionResult, BenchError> {
    let log_dirs = log_dirs.ok_or_else(|| BenchError::Topic {
        topic: topic.to_string(),
        reason: "needs --spawn: the bench reads segment sizes from the broker's data dir"
            .to_string(),
    })?;
    let partition_dir: PathBuf = log_dirs.join(format!("{topic}-0"));
    let segment_bytes = spec.segment_bytes.to_string();
    let dirty_ratio = spec.min_cleanable_dirty_ratio.to_string();
    clients::create_topics_with_configs(
        bootstrap,
        &[topic.to_string()],
        1,
        replication_factor,
        &topic_configs(&segment_bytes, &dirty_ratio, COMPACTION_LAG_HOLD_MS),
    )?;

    let (produced_records, produced_bytes, produce_elapsed) =
        produce_overwrites(bootstrap, topic, spec)?;
    let log_bytes_before = segment_bytes_in(&partition_dir)?;
    tracing::info!(
        topic,
        produced_mb = produced_bytes / 1_000_000,
        log_mb = log_bytes_before / 1_000_000,
        "overwrites produced; allowing compaction"
    );

    let allowed_at = Instant::now();
    clients::alter_topic_configs(
        bootstrap,
        topic,
        &topic_configs(&segment_bytes, &dirty_ratio, "0"),
    )?;
    let (log_bytes_after, last_change_at) =
        wait_until_settled(&partition_dir, log_bytes_before, spec)?;
    Ok(CompactionResult {
        produced_records,
        produced_bytes,
        produce_elapsed,
        log_bytes_before,
        log_bytes_after,
        clean_elapsed: last_change_at.saturating_duration_since(allowed_at),
    })
}

/// Samples the segment bytes until they have shrunk and then kept one value for
/// `settle_quiet`; returns that value and when it was first seen.
fn wait_until_settled(
    partition_dir: &Path,
    log_bytes_before: u64,
    spec: &CompactionSpec,
) -> Result<(u64, Instant), BenchError> {
    let started = Instant::now();
    let deadline = started + spec.phase_timeout + spec.settle_quiet;
    let mut last_bytes = log_bytes_before;
    let mut last_change_at = started;
    let samples_max = (spec.phase_timeout + spec.settle_quiet).as_millis()
        / u128::from(SIZE_SAMPLE_INTERVAL_MS)
        + 1;
    for _ in 0..samples_max {
        std::thread::sleep(Duration::from_millis(SIZE_SAMPLE_INTERVAL_MS));
        let bytes = segment_bytes_in(partition_dir)?;
        let now = Instant::now();
        if bytes != last_bytes {
            last_bytes = bytes;
            last_change_at = now;
        }
        let shrunk = last_bytes < log_bytes_before;
        if shrunk && now.duration_since(last_change_at) >= spec.settle_quiet {
            return Ok((last_bytes, last_change_at));
        }
        if now >= deadline {
            break;
        }
    }
    let what = if last_bytes < log_bytes_before {
        format!(
            "segments of {} to stop shrinking (still changing: {} -> {} bytes)",
            partition_dir.display(),
            log_bytes_before,
            last_bytes
        )
    } else {
        format!(
            "segments of {} to shrink ({} bytes, unchanged; is log.cleaner.enable on?)",
            partition_dir.display(),
            log_bytes_before
        )
    };
    Err(BenchError::Timeout {
        what,
        waited_ms: started.elapsed().as_millis(),
    })
}

/// Sends `produce_bytes / record_bytes` records whose keys cycle over `distinct_keys`.
/// Returns (records delivered, key + value bytes delivered, first send → flushed).
fn produce_overwrites(
    bootstrap: &str,
    topic: &str,
    spec: &CompactionSpec,
) -> Result<(u64, u64, Duration), BenchError> {
    let mut config = clients::base_config(bootstrap);
    config
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("compression.type", "none")
        .set("enable.idempotence", "false");
    let producer: ThreadedProducer<DeliveryCounter> =
        config.create_with_context(DeliveryCounter::default())?;
    let payload = clients::payload(spec.record_bytes);
    let record_count = spec.produce_bytes / spec.record_bytes.max(1) as u64;
    let keys: Vec<String> = (0..spec.distinct_keys.max(1))
        .map(|k| format!("key-{k:08}"))
        .collect();
    let started = Instant::now();
    let send_deadline = started + spec.phase_timeout;
    'records: for index in 0..record_count {
        let key = &keys[(index % keys.len() as u64) as usize];
        let mut record = BaseRecord::to(topic)
            .key(key.as_bytes())
            .payload(&payload[..])
            .partition(0);
        loop {
            if Instant::now() >= send_deadline {
                tracing::warn!(
                    topic,
                    sent = index,
                    wanted = record_count,
                    "send deadline reached"
                );
                break 'records;
            }
            match producer.send::<[u8], [u8]>(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    std::thread::sleep(Duration::from_millis(QUEUE_FULL_BACKOFF_MS));
                }
                Err((error, _)) => return Err(error.into()),
            }
        }
    }
    if let Err(e) = producer.flush(Duration::from_millis(FLUSH_TIMEOUT_MS)) {
        tracing::warn!(topic, error = %e, "flush did not complete");
    }
    let elapsed = started.elapsed();
    let context = producer.context();
    let delivered = context.ok.load(Ordering::Relaxed);
    let failed = context.failed.load(Ordering::Relaxed);
    if failed > 0 {
        let error = context.first_error.lock().ok().and_then(|e| e.clone());
        return Err(BenchError::Topic {
            topic: topic.to_string(),
            reason: format!(
                "{failed} keyed records were not delivered: {}",
                error.unwrap_or_default()
            ),
        });
    }
    // Every key has the same length.
    let key_bytes = keys.first().map_or(0, |k| k.len() as u64);
    Ok((
        delivered,
        delivered * (spec.record_bytes as u64 + key_bytes),
        elapsed,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_bytes_count_only_log_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("00000000000000000000.log"), vec![0u8; 1000]).unwrap();
        std::fs::write(dir.path().join("00000000000000001000.log"), vec![0u8; 24]).unwrap();
        std::fs::write(
            dir.path().join("00000000000000000000.index"),
            vec![0u8; 4096],
        )
        .unwrap();
        std::fs::write(dir.path().join("partition.metadata"), b"x").unwrap();
        assert_eq!(
            segment_bytes_in(dir.path()).unwrap(),
            1024,
            "only .log segment bytes count"
        );
        assert!(
            segment_bytes_in(&dir.path().join("missing")).is_err(),
            "a missing partition dir is an error, not zero bytes"
        );
    }
}
