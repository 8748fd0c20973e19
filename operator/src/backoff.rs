//! `backoff`: how long a controller waits before retrying an object whose reconcile failed —
//! exponential per object (`RETRY_INITIAL` doubling up to `RETRY_MAX`), reset by a success.
//! Bounded in memory: at most `TRACKED_MAX` objects are remembered (the rest start over at
//! the initial delay).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// The first retry's delay.
pub const RETRY_INITIAL: Duration = Duration::from_secs(1);
/// The longest delay between retries.
pub const RETRY_MAX: Duration = Duration::from_secs(300);
/// How many failing objects are remembered at once.
pub const TRACKED_MAX: usize = 10_000;

/// Failures in a row per object (by `namespace/name`).
#[derive(Default)]
pub struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    /// Records a failure of `key` and returns how long to wait before retrying it.
    pub fn failed(&self, key: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= TRACKED_MAX && !failures.contains_key(key) {
            failures.clear();
        }
        let count = failures.entry(key.to_string()).or_insert(0);
        *count = count.saturating_add(1);
        delay(*count)
    }

    /// `key` reconciled: its next failure starts over.
    pub fn succeeded(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

/// The delay after `failures` failures in a row (1 → `RETRY_INITIAL`).
pub fn delay(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    RETRY_INITIAL
        .saturating_mul(1u32 << doublings)
        .min(RETRY_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_maximum_and_a_success_starts_over() {
        let backoff = Backoff::default();
        let delays: Vec<u64> = (0..11).map(|_| backoff.failed("ns/a").as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(
            backoff.failed("ns/b"),
            RETRY_INITIAL,
            "objects back off on their own"
        );
        backoff.succeeded("ns/a");
        assert_eq!(backoff.failed("ns/a"), RETRY_INITIAL);
        assert_eq!(
            delay(u32::MAX),
            RETRY_MAX,
            "no overflow however long it fails"
        );
    }
}
