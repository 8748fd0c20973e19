//! `throttle`: which replicas a plan's moves throttle, as Kafka's topic configs name them —
//! `leader.replication.throttled.replicas` the replicas the moving partitions are copied
//! from (every current replica: any may lead), `follower.replication.throttled.replicas`
//! the replicas being added — and the brokers whose
//! `leader/follower.replication.throttled.rate` the executor sets for the moves' duration.

use std::collections::{BTreeMap, BTreeSet};

use super::model::BrokerId;
use super::plan::PartitionMove;

/// The default replication throttle, bytes per second per broker (Kafka's
/// `kafka-reassign-partitions` has none; 50 MiB/s leaves most of a 1 Gbit/s link to
/// clients).
pub const REPLICATION_THROTTLE_BYTES_PER_SEC_DEFAULT: u64 = 50 * 1024 * 1024;

/// A topic's throttled replicas while moves run, each `partition:broker`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicThrottle {
    pub leader_replicas: Vec<String>,
    pub follower_replicas: Vec<String>,
}

impl TopicThrottle {
    /// The value of `leader.replication.throttled.replicas`.
    pub fn leader_config(&self) -> String {
        self.leader_replicas.join(",")
    }

    /// The value of `follower.replication.throttled.replicas`.
    pub fn follower_config(&self) -> String {
        self.follower_replicas.join(",")
    }
}

/// Per topic, the replicas `moves` throttle.
pub fn throttled_replicas(moves: &[PartitionMove]) -> BTreeMap<String, TopicThrottle> {
    let mut topics: BTreeMap<String, TopicThrottle> = BTreeMap::new();
    for m in moves {
        let throttle = topics.entry(m.partition.topic.clone()).or_default();
        let p = m.partition.partition;
        throttle
            .leader_replicas
            .extend(m.replicas_from.iter().map(|b| format!("{p}:{b}")));
        throttle
            .follower_replicas
            .extend(m.added().iter().map(|b| format!("{p}:{b}")));
    }
    topics
}

/// The brokers a plan's moves copy from or to: the ones whose throttle rates are set.
pub fn throttled_brokers(moves: &[PartitionMove]) -> BTreeSet<BrokerId> {
    moves
        .iter()
        .flat_map(|m| m.replicas_from.iter().chain(m.replicas_to.iter()))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::model::TopicPartition;

    fn moved(topic: &str, partition: i32, from: &[i32], to: &[i32]) -> PartitionMove {
        PartitionMove {
            partition: TopicPartition {
                topic: topic.to_string(),
                partition,
            },
            replicas_from: from.to_vec(),
            replicas_to: to.to_vec(),
            bytes: 0,
        }
    }

    #[test]
    fn sources_are_leader_throttled_and_new_replicas_follower_throttled() {
        let moves = [
            moved("orders", 0, &[1, 2], &[1, 3]),
            moved("orders", 3, &[2, 4], &[4, 5]),
            moved("audit", 1, &[4], &[1]),
        ];
        let topics = throttled_replicas(&moves);
        assert_eq!(topics["orders"].leader_config(), "0:1,0:2,3:2,3:4");
        assert_eq!(topics["orders"].follower_config(), "0:3,3:5");
        assert_eq!(topics["audit"].leader_config(), "1:4");
        assert_eq!(topics["audit"].follower_config(), "1:1");
        assert_eq!(throttled_brokers(&moves), BTreeSet::from([1, 2, 3, 4, 5]));
    }
}
