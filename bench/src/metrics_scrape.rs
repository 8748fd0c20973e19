//! What scraping `/metrics` costs: the same batched produce run without and then with a
//! scraper fetching the broker's `/metrics` at Prometheus's pace, each on a fresh topic,
//! in one bench run; plus the time and size of one scrape ([`scrape_once`], also used by
//! the partition-scale scenario on 10,000+ partitions).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::clients;
use crate::error::BenchError;
use crate::idempotence::{self, ProduceRun};
use crate::scenario::MetricsScrapeSpec;

/// One `GET /metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scrape {
    pub(crate) elapsed: Duration,
    pub(crate) bytes: u64,
}

/// The scraper's tally during the scraped run.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ScrapeStats {
    pub(crate) scrapes: u64,
    pub(crate) failures: u64,
    pub(crate) total: Duration,
    pub(crate) max: Duration,
    pub(crate) max_bytes: u64,
    pub(crate) first_error: Option<String>,
}

impl ScrapeStats {
    fn record(&mut self, scrape: Result<Scrape, BenchError>) {
        match scrape {
            Ok(s) => {
                self.scrapes += 1;
                self.total += s.elapsed;
                self.max = self.max.max(s.elapsed);
                self.max_bytes = self.max_bytes.max(s.bytes);
            }
            Err(e) => {
                self.failures += 1;
                self.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }

    pub(crate) fn mean(&self) -> Option<Duration> {
        (self.scrapes > 0).then(|| self.total / self.scrapes as u32)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MetricsScrapeResult {
    pub(crate) quiet: ProduceRun,
    pub(crate) scraped: ProduceRun,
    pub(crate) scrape: ScrapeStats,
}

impl MetricsScrapeResult {
    /// Scraped records/s over unscraped records/s (1.0 = scraping costs nothing).
    pub(crate) fn ratio(&self) -> Option<f64> {
        let quiet = self.quiet.records_per_s()?;
        let scraped = self.scraped.records_per_s()?;
        (quiet > 0.0).then(|| scraped / quiet)
    }
}

/// `GET /metrics` on the admin listener `admin` (`HOST:PORT`), timed.
pub(crate) fn scrape_once(admin: &str) -> Result<Scrape, BenchError> {
    let started = Instant::now();
    let refused = |reason: String| BenchError::Refused {
        what: format!("GET http://{admin}/metrics"),
        reason,
    };
    let (status, body) = ironlog_testkit::http_get(admin, "/metrics").map_err(refused)?;
    if status != 200 {
        return Err(refused(format!("status {status}")));
    }
    Ok(Scrape {
        elapsed: started.elapsed(),
        bytes: body.len() as u64,
    })
}

/// `topics` = (unscraped topic, scraped topic); `admin` = the broker's admin listener.
pub(crate) fn run(
    bootstrap: &str,
    admin: Option<&str>,
    topics: (&str, &str),
    spec: &MetricsScrapeSpec,
    replication_factor: i32,
    broker_pid: Option<u32>,
) -> Result<MetricsScrapeResult, BenchError> {
    let admin = admin.ok_or_else(|| BenchError::Refused {
        what: "the metrics-scrape scenario".to_string(),
        reason: "it needs the broker's admin listener: run with --spawn".to_string(),
    })?;
    // Fail before the runs when the broker serves no metrics at all.
    scrape_once(admin)?;
    let (quiet_topic, scraped_topic) = topics;
    clients::create_topics(
        bootstrap,
        &[quiet_topic.to_string(), scraped_topic.to_string()],
        spec.produce.partitions,
        replication_factor,
    )?;
    let quiet =
        idempotence::measured_produce(bootstrap, quiet_topic, &spec.produce, &[], broker_pid)?;
    let done = AtomicBool::new(false);
    let (scraped, scrape) = std::thread::scope(|scope| {
        let scraper = scope.spawn(|| {
            let mut stats = ScrapeStats::default();
            while !done.load(Ordering::Relaxed) {
                let started = Instant::now();
                stats.record(scrape_once(admin));
                // Scrapes at a fixed pace, as Prometheus does; not a wait for a condition.
                std::thread::sleep(spec.scrape_interval.saturating_sub(started.elapsed()));
            }
            stats
        });
        let scraped =
            idempotence::measured_produce(bootstrap, scraped_topic, &spec.produce, &[], broker_pid);
        done.store(true, Ordering::Relaxed);
        let stats = scraper.join().unwrap_or_else(|_| ScrapeStats {
            first_error: Some("the scraper thread panicked".to_string()),
            ..ScrapeStats::default()
        });
        (scraped, stats)
    });
    Ok(MetricsScrapeResult {
        quiet,
        scraped: scraped?,
        scrape,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_count_scrapes_and_failures_apart() {
        let mut stats = ScrapeStats::default();
        for millis in [10, 30] {
            stats.record(Ok(Scrape {
                elapsed: Duration::from_millis(millis),
                bytes: millis * 100,
            }));
        }
        stats.record(Err(BenchError::Refused {
            what: "GET".to_string(),
            reason: "status 500".to_string(),
        }));
        assert_eq!((stats.scrapes, stats.failures), (2, 1));
        assert_eq!(stats.mean(), Some(Duration::from_millis(20)));
        assert_eq!(stats.max, Duration::from_millis(30));
        assert_eq!(stats.max_bytes, 3_000);
        assert!(stats.first_error.is_some_and(|e| e.contains("status 500")));
        assert_eq!(ScrapeStats::default().mean(), None, "no scrape, no mean");
    }
}
