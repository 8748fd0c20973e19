//! `model`: what the balancer knows about a cluster — its brokers (rack, disk use, bytes-in)
//! and its partitions (replicas in preferred-leader order, leader, ISR, `min.insync.replicas`,
//! size) — and how even it is ([`Balance`]). Plain values: the executor fills them from
//! Metadata, DescribeConfigs and DescribeLogDirs; the planner and its tests never touch the
//! network.

use std::collections::{BTreeMap, BTreeSet};

/// A broker's `node.id`.
pub type BrokerId = i32;

/// A broker as the balancer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerModel {
    pub id: BrokerId,
    /// `broker.rack`, when the broker has one.
    pub rack: Option<String>,
    /// The bytes its log dirs hold (DescribeLogDirs).
    pub disk_bytes: u64,
}

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// A partition as the balancer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionModel {
    pub partition: TopicPartition,
    /// The replicas, the preferred leader first.
    pub replicas: Vec<BrokerId>,
    /// The current leader; `None` when the partition is offline.
    pub leader: Option<BrokerId>,
    /// The in-sync replicas.
    pub isr: Vec<BrokerId>,
    /// The topic's `min.insync.replicas`.
    pub min_isr: usize,
    /// The bytes one replica holds (the largest replica DescribeLogDirs reports).
    pub size_bytes: u64,
    /// Produce traffic into the partition, bytes per second, when observed.
    pub bytes_in_per_sec: Option<u64>,
}

impl PartitionModel {
    /// The in-sync replicas that are also replicas (an ISR never names others, but a model
    /// built from two requests might).
    pub fn in_sync_replicas(&self) -> usize {
        self.isr
            .iter()
            .filter(|b| self.replicas.contains(b))
            .count()
    }
}

/// A cluster as the balancer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterModel {
    pub brokers: Vec<BrokerModel>,
    pub partitions: Vec<PartitionModel>,
    /// Brokers to empty (scale-in): every replica they hold moves to another broker.
    pub drain: BTreeSet<BrokerId>,
}

impl ClusterModel {
    /// The brokers that may hold replicas: registered and not being drained, by id.
    pub fn eligible_brokers(&self) -> BTreeSet<BrokerId> {
        self.brokers
            .iter()
            .map(|b| b.id)
            .filter(|id| !self.drain.contains(id))
            .collect()
    }

    /// How even the cluster is over its eligible brokers.
    pub fn balance(&self) -> Balance {
        let eligible = self.eligible_brokers();
        let mut replicas: BTreeMap<BrokerId, usize> = eligible.iter().map(|&b| (b, 0)).collect();
        let mut leaders = replicas.clone();
        let mut replicas_elsewhere = 0;
        for p in &self.partitions {
            for b in &p.replicas {
                match replicas.get_mut(b) {
                    Some(n) => *n += 1,
                    None => replicas_elsewhere += 1,
                }
            }
            if let Some(n) = p.replicas.first().and_then(|b| leaders.get_mut(b)) {
                *n += 1;
            }
        }
        Balance {
            replicas,
            leaders,
            replicas_elsewhere,
        }
    }
}

/// Replica and preferred-leader counts per eligible broker.
///
/// **Balanced** means, with `mean` the count per eligible broker if they were spread
/// perfectly (the total over the number of eligible brokers):
/// - replicas: every broker holds at most `ceil(mean × 1.1)` and at least
///   `floor(mean × 0.9)` — within 10% of perfect balance — and no replica is left on a broker
///   that is not eligible (drained or unknown);
/// - preferred leaders: the same bounds, widened to one leadership beyond a perfect spread
///   (`floor(mean) - 1 ..= ceil(mean) + 1`) where 10% of the mean is less than that. Where
///   racks pin a partition's replicas, evening out the last leadership can take a chain of
///   replica moves that a plan does not search for; one leadership is what it may leave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub replicas: BTreeMap<BrokerId, usize>,
    pub leaders: BTreeMap<BrokerId, usize>,
    /// Replicas on brokers that are not eligible.
    pub replicas_elsewhere: usize,
}

/// The bounds of "within 10%" for `counts`: `(floor(mean × 0.9), ceil(mean × 1.1))`.
pub fn within_bounds(counts: &BTreeMap<BrokerId, usize>, total: usize) -> (usize, usize) {
    if counts.is_empty() {
        return (0, 0);
    }
    // integer arithmetic: mean × 1.1 = total × 11 / (10 × brokers)
    let denominator = 10 * counts.len();
    let high = (total * 11).div_ceil(denominator);
    let low = (total * 9) / denominator;
    (low, high)
}

impl Balance {
    fn replicas_within(counts: &BTreeMap<BrokerId, usize>, total: usize) -> bool {
        let (low, high) = within_bounds(counts, total);
        counts.values().all(|&n| n >= low && n <= high)
    }

    /// Replica counts within 10% of perfect and nothing on brokers that are not eligible.
    pub fn replicas_balanced(&self) -> bool {
        self.replicas_elsewhere == 0
            && Self::replicas_within(&self.replicas, self.replicas.values().sum())
    }

    /// Preferred-leader counts within 10% of perfect, or one leadership.
    pub fn leaders_balanced(&self) -> bool {
        let total: usize = self.leaders.values().sum();
        let (low, high) = within_bounds(&self.leaders, total);
        let n = self.leaders.len().max(1);
        let low = low.min((total / n).saturating_sub(1));
        let high = high.max(total.div_ceil(n) + 1);
        self.leaders.values().all(|&c| c >= low && c <= high)
    }

    /// Both (see the type's doc).
    pub fn is_balanced(&self) -> bool {
        self.replicas_balanced() && self.leaders_balanced()
    }

    /// How far the most loaded broker is above the mean replica count, in percent (0 for an
    /// empty cluster): what `skewThresholdPercent` is compared with.
    pub fn replica_skew_percent(&self) -> u32 {
        let total: usize = self.replicas.values().sum();
        let Some(&max) = self.replicas.values().max() else {
            return 0;
        };
        if total == 0 {
            return 0;
        }
        // (max - mean) / mean × 100 with mean = total / n
        let n = self.replicas.len();
        let over = (max * n).saturating_sub(total);
        u32::try_from(over * 100 / total).unwrap_or(u32::MAX)
    }
}

/// A cluster of `brokers` (no racks, empty disks) holding one partition per entry of
/// `partitions` (its topic and its replicas, the leader first, all in sync; numbered by
/// position), for the balance modules' unit tests.
#[cfg(test)]
pub(crate) fn test_cluster(
    brokers: &[BrokerId],
    partitions: &[(&str, &[BrokerId])],
) -> ClusterModel {
    ClusterModel {
        brokers: brokers
            .iter()
            .map(|&id| BrokerModel {
                id,
                rack: None,
                disk_bytes: 0,
            })
            .collect(),
        partitions: partitions
            .iter()
            .enumerate()
            .map(|(i, (topic, r))| PartitionModel {
                partition: TopicPartition {
                    topic: topic.to_string(),
                    partition: i32::try_from(i).unwrap_or_default(),
                },
                replicas: r.to_vec(),
                leader: r.first().copied(),
                isr: r.to_vec(),
                min_isr: 1,
                size_bytes: 100,
                bytes_in_per_sec: None,
            })
            .collect(),
        drain: BTreeSet::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_ten_percent_around_the_mean_rounded_outwards() {
        let counts: BTreeMap<BrokerId, usize> = (0..4).map(|b| (b, 0)).collect();
        // mean 25: 22..=28 (27.5 rounds up)
        assert_eq!(within_bounds(&counts, 100), (22, 28));
        // mean 2.5: 2..=3
        assert_eq!(within_bounds(&counts, 10), (2, 3));
        assert_eq!(within_bounds(&BTreeMap::new(), 10), (0, 0));
    }

    #[test]
    fn skew_is_the_busiest_broker_above_the_mean() {
        let balance = Balance {
            replicas: [(0, 15), (1, 5), (2, 10)].into_iter().collect(),
            leaders: BTreeMap::new(),
            replicas_elsewhere: 0,
        };
        assert_eq!(balance.replica_skew_percent(), 50);
        assert!(!balance.replicas_balanced());
    }
}
