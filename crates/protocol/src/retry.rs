//! `retry`: how often and how long a [`Client`](crate::Client) tries a request again.
//!
//! Every retry loop is bounded twice: by a number of attempts and by total time. The wait
//! between attempts grows exponentially from `backoff_initial` to `backoff_max` with ±20%
//! jitter (Kafka's `retry.backoff.ms` / `retry.backoff.max.ms`), so brokers that lost the
//! same peer do not all come back at the same instant.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::Error;

/// Limits for retrying one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included (at least 1).
    pub max_attempts: u32,
    /// Time from the first attempt after which no new attempt starts and the running one is
    /// cut short (Kafka's `default.api.timeout.ms`).
    pub total_timeout: Duration,
    /// Wait before the second attempt.
    pub backoff_initial: Duration,
    /// Longest wait between attempts.
    pub backoff_max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 10,
            total_timeout: Duration::from_secs(60),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retries.
    pub fn no_retries() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The wait after failed attempt number `attempt` (1-based), before jitter.
    fn backoff_base(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(20);
        self.backoff_initial
            .saturating_mul(1u32 << doublings)
            .min(self.backoff_max)
    }

    /// The wait after failed attempt number `attempt`, with ±20% jitter, never above
    /// `backoff_max`.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let base = self.backoff_base(attempt);
        // a fresh RandomState is randomly keyed: good enough to spread retries apart
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u32(attempt);
        let unit = (hasher.finish() % 10_001) as f64 / 10_000.0; // 0.0..=1.0
        base.mul_f64(0.8 + 0.4 * unit).min(self.backoff_max)
    }
}

/// The bookkeeping of one retried operation: attempts made, time left, the next wait.
pub(crate) struct Retry<'a> {
    policy: &'a RetryPolicy,
    started: Instant,
    deadline: Instant,
    attempts: u32,
}

impl<'a> Retry<'a> {
    pub(crate) fn new(policy: &'a RetryPolicy) -> Self {
        let started = Instant::now();
        Retry {
            policy,
            started,
            deadline: started + policy.total_timeout,
            attempts: 0,
        }
    }

    /// Starts an attempt; returns the instant by which it must be over.
    pub(crate) fn attempt(&mut self) -> Instant {
        self.attempts += 1;
        self.deadline
    }

    /// After a failed attempt: waits the backoff and returns `Ok` when another attempt may
    /// start; otherwise the error to give up with — `error` itself when it is not
    /// retriable, else [`Error::RetriesExhausted`] wrapping it.
    pub(crate) async fn failed(&mut self, error: Error, what: &str) -> Result<(), Error> {
        if !error.is_retriable() {
            return Err(error);
        }
        let delay = self.policy.backoff(self.attempts);
        let now = Instant::now();
        if self.attempts >= self.policy.max_attempts.max(1) || now + delay >= self.deadline {
            return Err(Error::RetriesExhausted {
                attempts: self.attempts,
                elapsed_ms: u64::try_from(now.duration_since(self.started).as_millis())
                    .unwrap_or(u64::MAX),
                last: Box::new(error),
            });
        }
        tracing::debug!(what, attempt = self.attempts, delay_ms = delay.as_millis() as u64,
            %error, "retrying");
        tokio::time::sleep(delay).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_maximum_and_stays_within_jitter() {
        let policy = RetryPolicy {
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_millis(1000),
            ..RetryPolicy::default()
        };
        let bases: Vec<u128> = (1..=6)
            .map(|a| policy.backoff_base(a).as_millis())
            .collect();
        assert_eq!(bases, [100, 200, 400, 800, 1000, 1000]);
        for attempt in 1..=40 {
            let base = policy.backoff_base(attempt);
            let d = policy.backoff(attempt);
            assert!(
                d >= base.mul_f64(0.8) && d <= policy.backoff_max,
                "attempt {attempt}: {d:?} outside 80% of {base:?} ..= the maximum"
            );
        }
    }
}
