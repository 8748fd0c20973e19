//! Replication throttles (Kafka's `ReplicationQuotaManager`, one for the leader side and one
//! for the follower side of this broker):
//!
//! - the limit is this broker's dynamic `leader.replication.throttled.rate` /
//!   `follower.replication.throttled.rate` (bytes per second; its per-broker value, else the
//!   cluster default, else unlimited);
//! - the throttled partitions are those whose topic's `leader.replication.throttled.replicas`
//!   / `follower.replication.throttled.replicas` names `partition:this broker`, or `*`;
//! - a leader leaves the data of a throttled partition out of a fetch by a follower that is
//!   not in the ISR while the leader quota is exceeded, and a follower leaves throttled
//!   partitions it is not in the ISR of out of its fetches while the follower quota is
//!   exceeded; every byte of throttled partitions that does go out (or come in) is
//!   recorded. In-sync replicas are never throttled.
//!
//! Rates are measured as Kafka's: 11 windows of one second (`replication.quota.window.num`,
//! `replication.quota.window.size.seconds`), [`crate::quota::SampledRate`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use crate::metadata::{ConfigResource, MetadataImage};
use crate::quota::SampledRate;

/// Kafka's `replication.quota.window.num` default.
const QUOTA_WINDOWS: usize = 11;
/// Kafka's `replication.quota.window.size.seconds` default, in ms.
const QUOTA_WINDOW_MS: i64 = 1000;

/// Which side of replication a quota throttles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplicationSide {
    Leader,
    Follower,
}

impl ReplicationSide {
    fn rate_config(self) -> &'static str {
        match self {
            ReplicationSide::Leader => "leader.replication.throttled.rate",
            ReplicationSide::Follower => "follower.replication.throttled.rate",
        }
    }

    fn replicas_config(self) -> &'static str {
        match self {
            ReplicationSide::Leader => "leader.replication.throttled.replicas",
            ReplicationSide::Follower => "follower.replication.throttled.replicas",
        }
    }
}

/// The throttled partitions of one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Throttled {
    All,
    Partitions(BTreeSet<i32>),
}

/// One side's quota.
#[derive(Debug)]
pub(crate) struct ReplicationQuota {
    side: ReplicationSide,
    node_id: i32,
    /// Bytes per second; `u64::MAX` = unlimited.
    limit: AtomicU64,
    throttled: RwLock<BTreeMap<String, Throttled>>,
    rate: SampledRate,
}

impl ReplicationQuota {
    pub(crate) fn new(side: ReplicationSide, node_id: i32) -> Self {
        Self {
            side,
            node_id,
            limit: AtomicU64::new(u64::MAX),
            throttled: RwLock::new(BTreeMap::new()),
            rate: SampledRate::new(QUOTA_WINDOWS, QUOTA_WINDOW_MS),
        }
    }

    /// Takes the limit and the throttled partitions from `image`.
    pub(crate) fn update(&self, image: &MetadataImage) {
        let rate_config = self.side.rate_config();
        let limit = [
            ConfigResource::Broker(Some(self.node_id)),
            ConfigResource::Broker(None),
        ]
        .iter()
        .find_map(|r| image.configs.get(r)?.get(rate_config))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(u64::MAX);
        self.limit.store(limit, Ordering::Release);
        let mut throttled = BTreeMap::new();
        for (resource, configs) in &image.configs {
            let ConfigResource::Topic(topic) = resource else {
                continue;
            };
            if let Some(list) = configs.get(self.side.replicas_config()) {
                if let Some(t) = parse_throttled(list, self.node_id) {
                    throttled.insert(topic.clone(), t);
                }
            }
        }
        if let Ok(mut current) = self.throttled.write() {
            *current = throttled;
        }
    }

    /// Whether `topic`/`partition` is throttled on this side of this broker.
    pub(crate) fn is_throttled(&self, topic: &str, partition: i32) -> bool {
        self.throttled
            .read()
            .map(|t| match t.get(topic) {
                Some(Throttled::All) => true,
                Some(Throttled::Partitions(p)) => p.contains(&partition),
                None => false,
            })
            .unwrap_or(false)
    }

    /// Whether the bytes recorded lately exceed the limit.
    pub(crate) fn is_exceeded(&self, now_ms: i64) -> bool {
        let limit = self.limit.load(Ordering::Acquire);
        limit != u64::MAX && self.rate.rate_per_second(now_ms) > limit as f64
    }

    /// Records `bytes` of throttled partitions sent (leader) or received (follower).
    pub(crate) fn record(&self, bytes: usize, now_ms: i64) {
        if bytes > 0 {
            self.rate.record(bytes as f64, now_ms);
        }
    }
}

/// The partitions a throttled-replicas list names for `node_id`: `*` is every partition,
/// else the `partition:broker` entries of that broker (entries that do not parse name
/// nothing; the topic config's validator refuses them before they are stored).
fn parse_throttled(list: &str, node_id: i32) -> Option<Throttled> {
    let entries: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    if entries.contains(&"*") {
        return Some(Throttled::All);
    }
    let partitions: BTreeSet<i32> = entries
        .iter()
        .filter_map(|e| {
            let (partition, broker) = e.split_once(':')?;
            let broker: i32 = broker.trim().parse().ok()?;
            (broker == node_id)
                .then(|| partition.trim().parse().ok())
                .flatten()
        })
        .collect();
    (!partitions.is_empty()).then_some(Throttled::Partitions(partitions))
}

/// Both sides' quotas of this broker.
#[derive(Debug)]
pub(crate) struct ReplicationQuotas {
    pub leader: ReplicationQuota,
    pub follower: ReplicationQuota,
}

impl ReplicationQuotas {
    pub(crate) fn new(node_id: i32) -> Self {
        Self {
            leader: ReplicationQuota::new(ReplicationSide::Leader, node_id),
            follower: ReplicationQuota::new(ReplicationSide::Follower, node_id),
        }
    }

    pub(crate) fn update(&self, image: &MetadataImage) {
        self.leader.update(image);
        self.follower.update(image);
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::metadata::records::MetadataRecord;

    fn config(resource: ConfigResource, name: &str, value: &str) -> MetadataRecord {
        MetadataRecord::Config {
            resource,
            name: name.into(),
            value: Some(value.into()),
        }
    }

    #[test]
    fn throttled_replicas_name_partitions_of_this_broker_or_every_partition() {
        assert_eq!(parse_throttled("*", 1), Some(Throttled::All));
        assert_eq!(
            parse_throttled("0:1, 1:2,2:1", 1),
            Some(Throttled::Partitions(BTreeSet::from([0, 2])))
        );
        assert_eq!(parse_throttled("0:2,1:3", 1), None, "other brokers only");
        assert_eq!(parse_throttled("", 1), None);
    }

    #[test]
    fn the_limit_and_throttled_partitions_come_from_the_image() {
        let image = MetadataImage::empty().apply(&[
            MetadataRecord::Topic {
                name: "t".into(),
                topic_id: Uuid::from_u128(1),
            },
            config(
                ConfigResource::Topic("t".into()),
                "leader.replication.throttled.replicas",
                "0:1,1:2",
            ),
            config(
                ConfigResource::Broker(None),
                "leader.replication.throttled.rate",
                "100",
            ),
            config(
                ConfigResource::Broker(Some(1)),
                "leader.replication.throttled.rate",
                "1000",
            ),
        ]);
        let quotas = ReplicationQuotas::new(1);
        quotas.update(&image);
        assert!(quotas.leader.is_throttled("t", 0));
        assert!(!quotas.leader.is_throttled("t", 1), "1:2 is broker 2's");
        assert!(
            !quotas.follower.is_throttled("t", 0),
            "no follower throttle"
        );
        // The per-broker 1000 B/s wins over the cluster default: 10 000 bytes measured over
        // the 10 s minimum span are 1000 B/s, not above it; one more byte is.
        quotas.leader.record(10_000, 0);
        assert!(!quotas.leader.is_exceeded(0));
        quotas.leader.record(1, 0);
        assert!(quotas.leader.is_exceeded(0));
        assert!(
            !quotas.follower.is_exceeded(0),
            "no follower rate set: unlimited"
        );
    }
}
