//! Many partitions on one broker under a fixed open-files limit: time to create them,
//! descriptors and RSS while idle, clean shutdown and restart times, descriptors after the
//! restart, and a produce to a sample of the partitions.
//!
//! Each run starts its own broker (fresh data dir, `RLIMIT_NOFILE` soft = hard = the spec's
//! limit) and restarts it on the same data dir, so it needs the broker binary (`--spawn`).

use std::path::Path;
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

use crate::args::BrokerOverride;
use crate::broker_process::{BrokerProcess, SpawnOptions};
use crate::clients;
use crate::error::BenchError;
use crate::metrics_scrape::{scrape_once, Scrape};
use crate::proc_stats;
use crate::scenario::PartitionScaleSpec;

/// Bound on the wait for every created partition's log to exist on disk.
const LOGS_CREATED_TIMEOUT_MS: u64 = 600_000;
/// The wait gives up early when the count has not moved for this long (a broker that
/// cannot create more logs, e.g. out of descriptors).
const LOGS_STALL_TIMEOUT_MS: u64 = 30_000;
/// Pause between two counts of the partition directories.
const LOGS_POLL_INTERVAL_MS: u64 = 200;
/// Bound on producing to the sample partitions.
const SAMPLE_PRODUCE_TIMEOUT_MS: u64 = 120_000;
/// The file every partition directory gets once its log is created.
const PARTITION_METADATA_FILE: &str = "partition.metadata";

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PartitionScaleResult {
    /// The limit the broker ran under (the spec's, or lower if the hard limit of this
    /// process did not allow it).
    pub(crate) open_files_limit: u64,
    /// CreateTopics until every partition had a leader and its log on disk.
    pub(crate) create_elapsed: Duration,
    pub(crate) fds_idle: u64,
    pub(crate) rss_idle_bytes: u64,
    /// One `GET /metrics` while idle: its time and size with every partition's series.
    pub(crate) metrics_scrape: Scrape,
    /// SIGTERM until the process exited.
    pub(crate) shutdown_elapsed: Duration,
    /// Exec of the second broker until it printed `ironlog: started` (logs loaded).
    pub(crate) restart_elapsed: Duration,
    /// Until metadata showed every partition led again.
    pub(crate) restart_ready_elapsed: Duration,
    pub(crate) fds_after_restart: u64,
    pub(crate) rss_after_restart_bytes: u64,
    pub(crate) sample_partitions: u64,
    pub(crate) sample_produce_elapsed: Duration,
    pub(crate) fds_after_sample: u64,
}

pub(crate) fn topic_names(prefix: &str, spec: &PartitionScaleSpec) -> Vec<String> {
    (0..spec.topics)
        .map(|index| format!("{prefix}-scale{}-{index:04}", spec.partitions_total()))
        .collect()
}

/// The open-files limit this process can give a child: `wanted`, or the hard limit if that
/// is lower (raising a hard limit needs privileges).
fn grantable_open_files_limit(wanted: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid out-pointer for getrlimit.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    let hard = if rc == 0 && limit.rlim_max != libc::RLIM_INFINITY {
        limit.rlim_max
    } else {
        u64::MAX
    };
    // SAFETY: geteuid has no preconditions.
    let privileged = unsafe { libc::geteuid() } == 0;
    if privileged {
        wanted
    } else {
        wanted.min(hard)
    }
}

pub(crate) fn run(
    binary: Option<&Path>,
    overrides: &[BrokerOverride],
    topics: &[String],
    spec: &PartitionScaleSpec,
) -> Result<PartitionScaleResult, BenchError> {
    let binary = binary.ok_or_else(|| BenchError::Refused {
        what: "the partitions scenario".to_string(),
        reason: "it starts and restarts its own broker: run with --spawn".to_string(),
    })?;
    let root = tempfile::Builder::new()
        .prefix("ironlog-bench-scale-")
        .tempdir()
        .map_err(|e| BenchError::io("creating the broker data dir", e))?;
    let open_files_limit = grantable_open_files_limit(spec.open_files_limit);
    let options = SpawnOptions {
        data_root: Some(root.path().to_path_buf()),
        open_files_limit: Some(open_files_limit),
        ..SpawnOptions::default()
    };
    let mut broker = BrokerProcess::spawn_with(binary, overrides, &options)?;
    let started = Instant::now();
    clients::create_topics(&broker.bootstrap, topics, spec.partitions_per_topic, 1)?;
    wait_for_logs(&broker.log_dirs, spec.partitions_total())?;
    let create_elapsed = started.elapsed();
    tracing::info!(
        partitions = spec.partitions_total(),
        create_ms = create_elapsed.as_millis() as u64,
        "partitions created; letting the broker idle"
    );
    // The measurement is "resources after being idle for `settle`": the wait is the point.
    std::thread::sleep(spec.settle);
    let pid = broker.pid();
    let fds_idle = proc_stats::open_fds(pid)?;
    let rss_idle_bytes = proc_stats::status_bytes(pid, "VmRSS")?;
    let admin = broker.admin.as_deref().ok_or_else(|| BenchError::Refused {
        what: "the partitions scenario's /metrics scrape".to_string(),
        reason: "the broker printed no admin listener".to_string(),
    })?;
    let metrics_scrape = scrape_once(admin)?;

    let shutdown_elapsed = broker.terminate()?;
    drop(broker);
    let restarted_at = Instant::now();
    let broker = BrokerProcess::spawn_with(binary, overrides, &options)?;
    let restart_elapsed = restarted_at.elapsed();
    clients::wait_for_topics_ready(&broker.bootstrap, topics, spec.partitions_per_topic)?;
    let restart_ready_elapsed = restarted_at.elapsed();
    let pid = broker.pid();
    let fds_after_restart = proc_stats::open_fds(pid)?;
    let rss_after_restart_bytes = proc_stats::status_bytes(pid, "VmRSS")?;

    let sample: Vec<(&str, i32)> = sample_partitions(topics, spec);
    let produce_started = Instant::now();
    produce_one_each(&broker.bootstrap, &sample)?;
    let sample_produce_elapsed = produce_started.elapsed();
    let fds_after_sample = proc_stats::open_fds(pid)?;
    Ok(PartitionScaleResult {
        open_files_limit,
        create_elapsed,
        fds_idle,
        rss_idle_bytes,
        metrics_scrape,
        shutdown_elapsed,
        restart_elapsed,
        restart_ready_elapsed,
        fds_after_restart,
        rss_after_restart_bytes,
        sample_partitions: sample.len() as u64,
        sample_produce_elapsed,
        fds_after_sample,
    })
}

/// Polls until `expected` partition directories under `log_dirs` hold their
/// `partition.metadata` (written once the log exists).
fn wait_for_logs(log_dirs: &Path, expected: u64) -> Result<(), BenchError> {
    let started = Instant::now();
    let deadline = started + Duration::from_millis(LOGS_CREATED_TIMEOUT_MS);
    let stall = Duration::from_millis(LOGS_STALL_TIMEOUT_MS);
    let attempts_max = LOGS_CREATED_TIMEOUT_MS / LOGS_POLL_INTERVAL_MS + 1;
    let (mut found, mut last_change) = (0, Instant::now());
    for _ in 0..attempts_max {
        let now_found = std::fs::read_dir(log_dirs)
            .map_err(|e| BenchError::io(format!("listing {}", log_dirs.display()), e))?
            .filter_map(Result::ok)
            .filter(|entry| entry.path().join(PARTITION_METADATA_FILE).is_file())
            .count() as u64;
        if now_found != found {
            (found, last_change) = (now_found, Instant::now());
        }
        if found >= expected || Instant::now() >= deadline || last_change.elapsed() >= stall {
            break;
        }
        std::thread::sleep(Duration::from_millis(LOGS_POLL_INTERVAL_MS));
    }
    if found < expected {
        return Err(BenchError::Timeout {
            what: format!(
                "{expected} partition logs on disk (creation stopped at {found}; see the broker log)"
            ),
            waited_ms: started.elapsed().as_millis(),
        });
    }
    Ok(())
}

/// Every `stride`-th partition over all topics, `spec.sample_partitions` in total.
pub(crate) fn sample_partitions<'a>(
    topics: &'a [String],
    spec: &PartitionScaleSpec,
) -> Vec<(&'a str, i32)> {
    let total = spec.partitions_total();
    let wanted = spec.sample_partitions.min(total).max(1);
    let stride = (total / wanted).max(1);
    let per_topic = spec.partitions_per_topic.max(1) as u64;
    (0..wanted)
        .map(|i| i * stride)
        .filter_map(|n| {
            let topic = topics.get((n / per_topic) as usize)?;
            Some((topic.as_str(), (n % per_topic) as i32))
        })
        .collect()
}

/// Counts delivery reports (errors separately).
#[derive(Default)]
struct Deliveries {
    acked: std::sync::atomic::AtomicU64,
    failed: std::sync::atomic::AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        use std::sync::atomic::Ordering;
        match result {
            Ok(_) => self.acked.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// One record (acks=all) to each partition; fails unless every one is acknowledged.
fn produce_one_each(bootstrap: &str, partitions: &[(&str, i32)]) -> Result<(), BenchError> {
    use std::sync::atomic::Ordering;
    let producer: BaseProducer<Deliveries> = clients::base_config(bootstrap)
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", SAMPLE_PRODUCE_TIMEOUT_MS.to_string())
        .create_with_context(Deliveries::default())?;
    for (topic, partition) in partitions {
        let record = BaseRecord::<[u8], [u8]>::to(topic)
            .partition(*partition)
            .payload(b"partition-scale");
        if let Err((e, _)) = producer.send(record) {
            return Err(BenchError::Refused {
                what: format!("produce to {topic}/{partition}"),
                reason: e.to_string(),
            });
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_millis(SAMPLE_PRODUCE_TIMEOUT_MS))?;
    let context = producer.context();
    let (acked, failed) = (
        context.acked.load(Ordering::Relaxed),
        context.failed.load(Ordering::Relaxed),
    );
    if acked != partitions.len() as u64 {
        return Err(BenchError::Refused {
            what: format!("produce to {} sample partitions", partitions.len()),
            reason: format!("{acked} acknowledged, {failed} failed"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(topics: u32, per_topic: i32, sample: u64) -> PartitionScaleSpec {
        PartitionScaleSpec {
            topics,
            partitions_per_topic: per_topic,
            open_files_limit: 20_000,
            settle: Duration::ZERO,
            sample_partitions: sample,
        }
    }

    #[test]
    fn samples_spread_over_every_topic_without_repeats() {
        let spec = spec(100, 100, 1_000);
        let topics = topic_names("bench", &spec);
        let sample = sample_partitions(&topics, &spec);
        assert_eq!(sample.len(), 1_000);
        let unique: std::collections::HashSet<_> = sample.iter().collect();
        assert_eq!(unique.len(), 1_000, "no partition is sampled twice");
        let topics_hit: std::collections::HashSet<_> = sample.iter().map(|s| s.0).collect();
        assert_eq!(topics_hit.len(), 100, "every topic is sampled");
        assert!(sample.iter().all(|(_, p)| (0..100).contains(p)));
    }

    #[test]
    fn a_sample_larger_than_the_partitions_takes_each_once() {
        let spec = spec(2, 3, 1_000);
        let topics = topic_names("bench", &spec);
        assert_eq!(sample_partitions(&topics, &spec).len(), 6);
    }

    #[test]
    fn topic_names_name_the_scale() {
        let spec = spec(500, 100, 10);
        let topics = topic_names("bench-1", &spec);
        assert_eq!(topics.len(), 500);
        assert_eq!(topics[7], "bench-1-scale50000-0007");
    }
}
