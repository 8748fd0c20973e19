//! Rate accounting for quotas (Kafka's `metrics.stats.Rate` over a `SampledStat`): bytes
//! recorded into a ring of time windows, the rate measured over the live windows. The
//! replication throttles use it (`replica::quota`), and so do client quotas
//! (`client_quota::manager`).
//!
//! As Kafka's `Rate`: `samples` windows of `window_ms` each; a sample older than
//! `samples × window_ms` no longer counts; the elapsed time a rate is measured over is at
//! least `(samples - 1) × window_ms`, so a burst right after a quiet period is measured
//! against the whole window span rather than against a few milliseconds.

use std::sync::Mutex;

/// One window of the ring.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    start_ms: i64,
    value: f64,
}

#[derive(Debug)]
struct Samples {
    ring: Vec<Sample>,
    /// Index of the newest sample.
    current: usize,
}

/// A rate of something (bytes) per second over a ring of sampled windows.
#[derive(Debug)]
pub(crate) struct SampledRate {
    window_ms: i64,
    samples: Mutex<Samples>,
}

impl SampledRate {
    /// `samples` windows of `window_ms` each (at least 2 and 1 ms).
    pub(crate) fn new(samples: usize, window_ms: i64) -> Self {
        let samples = samples.max(2);
        Self {
            window_ms: window_ms.max(1),
            samples: Mutex::new(Samples {
                ring: vec![
                    Sample {
                        start_ms: i64::MIN,
                        value: 0.0,
                    };
                    samples
                ],
                current: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Samples> {
        self.samples.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records `value` at `now_ms`.
    pub(crate) fn record(&self, value: f64, now_ms: i64) {
        let mut s = self.lock();
        let current = s.current;
        let window_ms = self.window_ms;
        let live = s.ring[current].start_ms != i64::MIN
            && now_ms.saturating_sub(s.ring[current].start_ms) < window_ms;
        if !live {
            let next = (current + 1) % s.ring.len();
            s.ring[next] = Sample {
                start_ms: now_ms,
                value: 0.0,
            };
            s.current = next;
        }
        let current = s.current;
        s.ring[current].value += value;
    }

    /// The rate per second at `now_ms` (Kafka's `Rate.measure`).
    pub(crate) fn rate_per_second(&self, now_ms: i64) -> f64 {
        self.measure(now_ms).0
    }

    /// The rate per second at `now_ms` and the elapsed time it was measured over (Kafka's
    /// `Rate.windowSize`), which throttle times are computed against.
    pub(crate) fn measure(&self, now_ms: i64) -> (f64, i64) {
        let s = self.lock();
        let span_ms = self.window_ms.saturating_mul(s.ring.len() as i64);
        let live: Vec<&Sample> = s
            .ring
            .iter()
            .filter(|x| x.start_ms != i64::MIN && now_ms.saturating_sub(x.start_ms) < span_ms)
            .collect();
        let min_elapsed_ms = self.window_ms.saturating_mul(s.ring.len() as i64 - 1);
        let Some(oldest) = live.iter().map(|x| x.start_ms).min() else {
            return (0.0, min_elapsed_ms.max(1));
        };
        let total: f64 = live.iter().map(|x| x.value).sum();
        let elapsed_ms = now_ms.saturating_sub(oldest).max(min_elapsed_ms).max(1);
        (total * 1000.0 / elapsed_ms as f64, elapsed_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_measured_over_at_least_the_window_span() {
        let rate = SampledRate::new(11, 1000);
        assert_eq!(rate.rate_per_second(0), 0.0, "nothing recorded: no rate");
        rate.record(10_000.0, 0);
        let r = rate.rate_per_second(100);
        assert!(
            (r - 1000.0).abs() < 1e-6,
            "10 000 bytes at once count over the 10 s minimum span: 1000 B/s, got {r}"
        );
    }

    #[test]
    fn old_samples_stop_counting() {
        let rate = SampledRate::new(3, 1000);
        rate.record(3000.0, 0);
        rate.record(3000.0, 1500);
        let both = rate.rate_per_second(2000);
        assert!(
            (both - 3000.0).abs() < 1e-6,
            "6000 bytes over 2 s: 3000 B/s, got {both}"
        );
        let later = rate.rate_per_second(3500);
        assert!(
            (later - 1500.0).abs() < 1e-6,
            "the first sample expired: 3000 bytes over the 2 s minimum span, got {later}"
        );
        assert_eq!(rate.rate_per_second(10_000), 0.0, "everything expired");
    }

    #[test]
    fn a_steady_stream_measures_its_own_rate() {
        let rate = SampledRate::new(11, 1000);
        // 500 bytes every 100 ms for 30 s: 5000 B/s.
        for step in 0..300 {
            rate.record(500.0, step * 100);
        }
        let r = rate.rate_per_second(30_000);
        assert!((r - 5000.0).abs() < 300.0, "a 5000 B/s stream measured {r}");
    }
}
