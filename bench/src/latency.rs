//! Produce latency at a fixed rate: each record is timed from `send` to its delivery report.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

use crate::clients;
use crate::error::BenchError;
use crate::scenario::LatencySpec;

/// How long `flush` may wait for outstanding deliveries after the last send.
const FLUSH_TIMEOUT_MS: u64 = 30_000;
/// Back-off when librdkafka's local queue is full (should not happen at a moderate rate).
const QUEUE_FULL_BACKOFF_US: u64 = 100;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LatencyResult {
    /// Records sent in the measured window (after warm-up).
    pub(crate) sent: u64,
    pub(crate) failed: u64,
    /// Measured window length; `sent / window` is the achieved rate.
    pub(crate) window: Duration,
    pub(crate) summary: Option<LatencySummary>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LatencySummary {
    pub(crate) samples: usize,
    pub(crate) p50_us: u64,
    pub(crate) p99_us: u64,
    pub(crate) max_us: u64,
}

/// Nearest-rank percentile of an ascending slice; `None` when empty.
pub(crate) fn percentile(sorted: &[u64], percent: f64) -> Option<u64> {
    debug_assert!(
        sorted.windows(2).all(|w| w[0] <= w[1]),
        "input must be sorted"
    );
    if sorted.is_empty() {
        return None;
    }
    let rank = ((percent / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

pub(crate) fn summarize(mut latencies_us: Vec<u64>) -> Option<LatencySummary> {
    latencies_us.sort_unstable();
    Some(LatencySummary {
        samples: latencies_us.len(),
        p50_us: percentile(&latencies_us, 50.0)?,
        p99_us: percentile(&latencies_us, 99.0)?,
        max_us: *latencies_us.last()?,
    })
}

/// Opaque passed with each record: when it was sent, and whether it is in the measured window.
struct SentAt {
    at: Instant,
    measured: bool,
}

struct LatencyRecorder {
    latencies_us: Mutex<Vec<u64>>,
    failed: AtomicU64,
}

impl ClientContext for LatencyRecorder {}

impl ProducerContext for LatencyRecorder {
    type DeliveryOpaque = Box<SentAt>;

    fn delivery(&self, delivery_result: &DeliveryResult<'_>, sent: Box<SentAt>) {
        if !sent.measured {
            return;
        }
        match delivery_result {
            Ok(_) => {
                let micros = u64::try_from(sent.at.elapsed().as_micros()).unwrap_or(u64::MAX);
                if let Ok(mut latencies) = self.latencies_us.lock() {
                    latencies.push(micros);
                }
            }
            Err(_) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

pub(crate) fn run(
    bootstrap: &str,
    topic: &str,
    spec: &LatencySpec,
    replication_factor: i32,
) -> Result<LatencyResult, BenchError> {
    clients::create_topics(bootstrap, &[topic.to_string()], 1, replication_factor)?;
    let mut config = clients::base_config(bootstrap);
    config
        .set("acks", spec.acks.config_value())
        .set("linger.ms", "0")
        .set("compression.type", "none")
        .set("enable.idempotence", "false");
    let expected = spec
        .rate_per_s
        .saturating_mul(spec.measure.as_secs().max(1)) as usize;
    let recorder = LatencyRecorder {
        latencies_us: Mutex::new(Vec::with_capacity(expected)),
        failed: AtomicU64::new(0),
    };
    // ThreadedProducer: a background thread serves delivery reports as they arrive, so the
    // send loop's pacing does not delay the timestamps.
    let producer: ThreadedProducer<LatencyRecorder> = config.create_with_context(recorder)?;
    let payload = clients::payload(spec.record_bytes);
    let interval_ns = 1_000_000_000 / spec.rate_per_s.max(1);

    let started = Instant::now();
    let measure_from = started + spec.warmup;
    let end = measure_from + spec.measure;
    let sends_max = spec
        .rate_per_s
        .saturating_mul((spec.warmup + spec.measure).as_secs() + 1);
    let mut sent_measured: u64 = 0;
    for index in 0..sends_max {
        // Schedule-based pacing: a late send does not push back the following ones.
        let due = started + Duration::from_nanos(index.saturating_mul(interval_ns));
        if due >= end {
            break;
        }
        wait_until(due);
        let now = Instant::now();
        let measured = now >= measure_from;
        let mut record = BaseRecord::with_opaque_to(topic, Box::new(SentAt { at: now, measured }))
            .payload(&payload[..])
            .partition(0);
        loop {
            if Instant::now() >= end {
                break;
            }
            match producer.send::<(), [u8]>(record) {
                Ok(()) => {
                    sent_measured += u64::from(measured);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    std::thread::sleep(Duration::from_micros(QUEUE_FULL_BACKOFF_US));
                }
                Err((error, _)) => return Err(error.into()),
            }
        }
    }
    let window = Instant::now().saturating_duration_since(measure_from);
    if let Err(e) = producer.flush(Duration::from_millis(FLUSH_TIMEOUT_MS)) {
        tracing::warn!(topic, error = %e, "latency flush did not complete; undelivered records are not in the percentiles");
    }
    let context = producer.context();
    let latencies = context
        .latencies_us
        .lock()
        .map(|mut latencies| std::mem::take(&mut *latencies))
        .unwrap_or_default();
    Ok(LatencyResult {
        sent: sent_measured,
        failed: context.failed.load(Ordering::Relaxed),
        window,
        summary: summarize(latencies),
    })
}

/// Sleeps until `due`. No spinning: on a small machine a spinning client would take a core
/// from the broker under test. Sleep overshoot (tens of µs) only makes a few sends leave in
/// small bursts; each is still timed from its actual send.
fn wait_until(due: Instant) {
    let slack = due.saturating_duration_since(Instant::now());
    if !slack.is_zero() {
        std::thread::sleep(slack);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&values, 50.0), Some(50));
        assert_eq!(percentile(&values, 99.0), Some(99));
        assert_eq!(percentile(&values, 100.0), Some(100));
        assert_eq!(percentile(&values, 0.0), Some(1), "p0 is the minimum");
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7], 99.0), Some(7));
    }

    #[test]
    fn summary_sorts_its_input() {
        let summary = summarize(vec![900, 100, 300, 200, 5_000]).unwrap();
        assert_eq!(
            summary,
            LatencySummary {
                samples: 5,
                p50_us: 300,
                p99_us: 5_000,
                max_us: 5_000
            }
        );
        assert_eq!(summarize(Vec::new()), None, "no samples, no summary");
    }
}
