//! `bytes_in`: produce traffic per partition, observed as the growth of its size between
//! two looks at the cluster (DescribeLogDirs' partition sizes, the largest replica's, as
//! `ClusterModel` holds them). The planner weighs it as a tie-break: busy partitions'
//! leaderships and replicas spread over the brokers, not only their counts.
//!
//! A partition that shrank since the last look (retention, compaction) counts as no
//! traffic; one the last look did not see, or a last look older than
//! [`OBSERVATION_AGE_MAX`], as unknown (`None`). A look sooner than
//! [`OBSERVATION_INTERVAL_MIN`] after the last one reuses its rates instead of dividing by a
//! moment. One observation per cluster is kept, in memory (an operator restart starts
//! over), for at most [`CLUSTERS_MAX`] clusters.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::model::{ClusterModel, TopicPartition};

/// A last look older than this says nothing of the traffic now.
pub const OBSERVATION_AGE_MAX: Duration = Duration::from_secs(15 * 60);
/// Two looks closer than this give no rate of their own.
pub const OBSERVATION_INTERVAL_MIN: Duration = Duration::from_secs(1);
/// The most clusters whose last look is remembered.
pub const CLUSTERS_MAX: usize = 10_000;

/// One look at a cluster's partition sizes, and the rates it gave.
#[derive(Debug, Clone)]
struct Observation {
    at: Instant,
    sizes: BTreeMap<TopicPartition, u64>,
    rates: BTreeMap<TopicPartition, u64>,
}

/// Bytes per second into each partition of `now` that `previous` saw too, over `elapsed`
/// (a partition that shrank: 0). Pure.
pub fn rates(
    previous: &BTreeMap<TopicPartition, u64>,
    now: &BTreeMap<TopicPartition, u64>,
    elapsed: Duration,
) -> BTreeMap<TopicPartition, u64> {
    let elapsed_ms = elapsed.as_millis();
    if elapsed_ms == 0 {
        return BTreeMap::new();
    }
    now.iter()
        .filter_map(|(partition, &size)| {
            let before = *previous.get(partition)?;
            let grown = u128::from(size.saturating_sub(before));
            let per_sec = grown.saturating_mul(1000) / elapsed_ms;
            Some((
                partition.clone(),
                u64::try_from(per_sec).unwrap_or(u64::MAX),
            ))
        })
        .collect()
}

/// The last look at each cluster; shared by the KafkaCluster reconciles.
#[derive(Debug, Default)]
pub struct BytesInObserver {
    last: Mutex<BTreeMap<String, Observation>>,
}

impl BytesInObserver {
    /// Sets the `bytes_in_per_sec` of `model`'s partitions from their growth since the last
    /// look at `cluster` (`namespace/name`), and remembers this look, taken `at`.
    pub fn observe(&self, cluster: &str, model: &mut ClusterModel, at: Instant) {
        let sizes: BTreeMap<TopicPartition, u64> = model
            .partitions
            .iter()
            .map(|p| (p.partition.clone(), p.size_bytes))
            .collect();
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let previous = last.get(cluster);
        let elapsed = previous.and_then(|o| at.checked_duration_since(o.at));
        let (rates, keep_previous) = match (previous, elapsed) {
            (Some(o), Some(e)) if e < OBSERVATION_INTERVAL_MIN => (o.rates.clone(), true),
            (Some(o), Some(e)) if e <= OBSERVATION_AGE_MAX => (rates(&o.sizes, &sizes, e), false),
            _ => (BTreeMap::new(), false),
        };
        for p in &mut model.partitions {
            p.bytes_in_per_sec = rates.get(&p.partition).copied();
        }
        if keep_previous {
            return;
        }
        if last.len() >= CLUSTERS_MAX && !last.contains_key(cluster) {
            // the oldest look goes: its cluster starts over at its next look
            if let Some(oldest) = last
                .iter()
                .min_by_key(|(_, o)| o.at)
                .map(|(key, _)| key.clone())
            {
                last.remove(&oldest);
            }
        }
        last.insert(cluster.to_string(), Observation { at, sizes, rates });
    }

    /// A deleted cluster's last look goes with it.
    pub fn forget(&self, cluster: &str) {
        self.last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(cluster);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::model::PartitionModel;

    fn tp(partition: i32) -> TopicPartition {
        TopicPartition {
            topic: "t".to_string(),
            partition,
        }
    }

    fn model(sizes: &[u64]) -> ClusterModel {
        ClusterModel {
            partitions: sizes
                .iter()
                .enumerate()
                .map(|(i, &size_bytes)| PartitionModel {
                    partition: tp(i32::try_from(i).unwrap_or_default()),
                    replicas: vec![0],
                    leader: Some(0),
                    isr: vec![0],
                    min_isr: 1,
                    size_bytes,
                    bytes_in_per_sec: None,
                })
                .collect(),
            ..ClusterModel::default()
        }
    }

    fn bytes_in(model: &ClusterModel) -> Vec<Option<u64>> {
        model
            .partitions
            .iter()
            .map(|p| p.bytes_in_per_sec)
            .collect()
    }

    #[test]
    fn growth_over_time_is_the_rate_and_shrinking_is_none() {
        let before = [(tp(0), 1000), (tp(1), 5000)].into_iter().collect();
        let now = [(tp(0), 3000), (tp(1), 4000), (tp(2), 100)]
            .into_iter()
            .collect();
        let rates = rates(&before, &now, Duration::from_secs(10));
        assert_eq!(
            rates,
            [(tp(0), 200), (tp(1), 0)].into_iter().collect(),
            "t-0 grew 2000 bytes in 10 s; t-1 shrank (retention); t-2 is new: unknown"
        );
        assert!(super::rates(&before, &now, Duration::ZERO).is_empty());
    }

    #[test]
    fn the_second_look_gives_rates_and_a_look_too_soon_reuses_them() {
        let observer = BytesInObserver::default();
        let start = Instant::now();
        let mut first = model(&[1000, 0]);
        observer.observe("ns/a", &mut first, start);
        assert_eq!(bytes_in(&first), vec![None, None], "one look: no rate yet");

        let mut second = model(&[4000, 600]);
        observer.observe("ns/a", &mut second, start + Duration::from_secs(60));
        assert_eq!(bytes_in(&second), vec![Some(50), Some(10)]);

        // a moment later: the same rates, and the 60 s look stays the reference
        let mut soon = model(&[4001, 600]);
        observer.observe("ns/a", &mut soon, start + Duration::from_millis(60_100));
        assert_eq!(bytes_in(&soon), vec![Some(50), Some(10)]);
        let mut third = model(&[10_000, 600]);
        observer.observe("ns/a", &mut third, start + Duration::from_secs(120));
        assert_eq!(bytes_in(&third), vec![Some(100), Some(0)]);

        // another cluster has its own looks
        let mut other = model(&[1000, 0]);
        observer.observe("ns/b", &mut other, start + Duration::from_secs(120));
        assert_eq!(bytes_in(&other), vec![None, None]);
    }

    #[test]
    fn an_old_or_forgotten_look_says_nothing() {
        let observer = BytesInObserver::default();
        let start = Instant::now();
        observer.observe("ns/a", &mut model(&[0]), start);
        let mut late = model(&[1_000_000]);
        let later = start + OBSERVATION_AGE_MAX + Duration::from_secs(1);
        observer.observe("ns/a", &mut late, later);
        assert_eq!(bytes_in(&late), vec![None], "a look 15 min old is stale");
        observer.forget("ns/a");
        let mut after = model(&[2_000_000]);
        observer.observe("ns/a", &mut after, later + Duration::from_secs(10));
        assert_eq!(bytes_in(&after), vec![None], "forgotten: starts over");
    }
}
