//! Fetch from the closest replica (KIP-392), leader side: which replica a consumer should
//! read a partition from (Kafka's `ReplicaManager.findPreferredReadReplica` with its
//! `RackAwareReplicaSelector`).
//!
//! Candidates are the leader and every follower that is in the ISR, whose broker is
//! registered, not fenced and reachable on the consumer's listener, and whose log holds the
//! fetch offset (as its last fetch said: log start ≤ offset ≤ log end). The rack-aware rule:
//! a consumer without a rack, or whose rack holds no candidate or holds the leader, reads
//! from the leader; otherwise from the candidate of its rack that is most caught up
//! (highest log end offset, then most recently caught up, then highest broker id).
//! Choosing the leader is answered as "no preferred replica" (-1 on the wire).

use crate::metadata::MetadataImage;
use crate::replica::Partition;

/// One replica a consumer could read from, as the leader sees it (Kafka's `ReplicaView`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReplicaView<'a> {
    pub broker_id: i32,
    pub rack: Option<&'a str>,
    pub log_end_offset: i64,
    pub time_since_last_caught_up_ms: i64,
}

/// The rack-aware rule: the broker a consumer in `client_rack` reads from, among the
/// `leader` and the eligible `followers`.
pub(crate) fn select_rack_aware(
    client_rack: &str,
    leader: &ReplicaView<'_>,
    followers: &[ReplicaView<'_>],
) -> i32 {
    if client_rack.is_empty() || leader.rack == Some(client_rack) {
        return leader.broker_id;
    }
    followers
        .iter()
        .filter(|f| f.rack == Some(client_rack))
        .max_by(|a, b| {
            a.log_end_offset
                .cmp(&b.log_end_offset)
                .then(
                    b.time_since_last_caught_up_ms
                        .cmp(&a.time_since_last_caught_up_ms),
                )
                .then(a.broker_id.cmp(&b.broker_id))
        })
        .map_or(leader.broker_id, |f| f.broker_id)
}

/// The follower a consumer in `client_rack`, connected on `listener`, should read `p`
/// from at `fetch_offset`, when this broker leads `p`; `None` to read from the leader.
pub(crate) fn preferred_read_replica(
    p: &Partition,
    image: &MetadataImage,
    listener: &str,
    client_rack: &str,
    fetch_offset: i64,
    now_ms: i64,
) -> Option<i32> {
    if client_rack.is_empty() || !p.is_leader() {
        return None;
    }
    let reachable = |broker_id: i32| {
        image
            .brokers
            .get(&broker_id)
            .filter(|b| !b.fenced && b.listeners.iter().any(|l| l.name == listener))
    };
    let state = p.replica_set();
    let leader = ReplicaView {
        broker_id: state.leader,
        rack: reachable(state.leader).and_then(|b| b.rack.as_deref()),
        log_end_offset: p.log.log_end_offset(),
        time_since_last_caught_up_ms: 0,
    };
    let followers: Vec<ReplicaView<'_>> = state
        .followers
        .iter()
        .filter(|(id, f)| {
            state.isr.contains(id)
                && f.log_start_offset <= fetch_offset
                && fetch_offset <= f.log_end_offset
        })
        .filter_map(|(&id, f)| {
            let broker = reachable(id)?;
            Some(ReplicaView {
                broker_id: id,
                rack: broker.rack.as_deref(),
                log_end_offset: f.log_end_offset,
                time_since_last_caught_up_ms: now_ms.saturating_sub(f.last_caught_up_ms),
            })
        })
        .collect();
    let chosen = select_rack_aware(client_rack, &leader, &followers);
    (chosen != leader.broker_id).then_some(chosen)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::metadata::image::BrokerRegistration;
    use crate::metadata::records::BrokerEndpoint;
    use crate::metadata::PartitionRegistration;
    use crate::replica::test_support;
    use crate::types::now_ms;

    fn view(
        broker_id: i32,
        rack: Option<&str>,
        log_end_offset: i64,
        lag_ms: i64,
    ) -> ReplicaView<'_> {
        ReplicaView {
            broker_id,
            rack,
            log_end_offset,
            time_since_last_caught_up_ms: lag_ms,
        }
    }

    #[test]
    fn rack_aware_rule_prefers_the_leader_unless_only_followers_share_the_rack() {
        let leader = view(1, Some("a"), 10, 0);
        let followers = [view(2, Some("b"), 10, 0), view(3, Some("c"), 10, 0)];
        assert_eq!(select_rack_aware("b", &leader, &followers), 2, "rack b");
        assert_eq!(select_rack_aware("c", &leader, &followers), 3, "rack c");
        assert_eq!(
            select_rack_aware("a", &leader, &followers),
            1,
            "the leader's rack"
        );
        assert_eq!(
            select_rack_aware("", &leader, &followers),
            1,
            "no client rack"
        );
        assert_eq!(
            select_rack_aware("z", &leader, &followers),
            1,
            "a rack without replicas"
        );
        // The leader in the consumer's rack wins over a follower there.
        let leader_in_b = view(1, Some("b"), 10, 0);
        assert_eq!(select_rack_aware("b", &leader_in_b, &followers), 1);
        // A leader without a rack never matches.
        assert_eq!(select_rack_aware("b", &view(1, None, 10, 0), &followers), 2);
    }

    #[test]
    fn rack_aware_rule_takes_the_most_caught_up_follower_of_the_rack() {
        let leader = view(1, Some("a"), 20, 0);
        let followers = [
            view(2, Some("b"), 18, 0),
            view(3, Some("b"), 20, 500),
            view(4, Some("b"), 20, 100),
            view(5, Some("c"), 20, 0),
        ];
        assert_eq!(
            select_rack_aware("b", &leader, &followers),
            4,
            "highest log end, then most recently caught up"
        );
        let tied = [view(2, Some("b"), 20, 0), view(3, Some("b"), 20, 0)];
        assert_eq!(
            select_rack_aware("b", &leader, &tied),
            3,
            "a full tie goes to the highest broker id"
        );
    }

    fn broker(id: i32, rack: &str, fenced: bool) -> BrokerRegistration {
        BrokerRegistration {
            broker_id: id,
            incarnation_id: uuid::Uuid::new_v4(),
            listeners: vec![BrokerEndpoint {
                name: "PLAINTEXT".into(),
                host: "127.0.0.1".into(),
                port: 9092,
                security_protocol: "PLAINTEXT".into(),
            }],
            rack: Some(rack.into()),
            fenced,
            epoch: 1,
            features: None,
        }
    }

    fn image(fenced: &[i32]) -> MetadataImage {
        let mut image = MetadataImage::empty();
        for (id, rack) in [(1, "a"), (2, "b"), (3, "c")] {
            image
                .brokers
                .insert(id, broker(id, rack, fenced.contains(&id)));
        }
        image
    }

    /// t-0 led by node 1 (replicas 1, 2, 3 with the given ISR), 10 records written.
    fn led_partition(dir: &std::path::Path, isr: &[i32]) -> Arc<Partition> {
        let p = test_support::led_partition(dir, isr, 1);
        test_support::append_as_leader(&p, 10);
        p
    }

    #[test]
    fn a_follower_is_preferred_only_in_sync_registered_unfenced_and_holding_the_offset() {
        let dir = tempfile::tempdir().expect("dir");
        let p = led_partition(dir.path(), &[1, 2, 3]);
        let now = now_ms();
        let prefer = |image: &MetadataImage, listener: &str, rack: &str, offset: i64| {
            preferred_read_replica(&p, image, listener, rack, offset, now)
        };
        // Follower 2 has fetched nothing yet in this epoch: its log end is unknown.
        assert_eq!(prefer(&image(&[]), "PLAINTEXT", "b", 0), None);
        p.update_follower_fetch(2, 1, 10, 4, 10, now)
            .expect("fetch of 2");
        p.update_follower_fetch(3, 1, 6, 0, 10, now)
            .expect("fetch of 3");
        assert_eq!(prefer(&image(&[]), "PLAINTEXT", "b", 5), Some(2));
        assert_eq!(prefer(&image(&[]), "PLAINTEXT", "b", 10), Some(2));
        assert_eq!(prefer(&image(&[]), "PLAINTEXT", "", 5), None, "no rack");
        assert_eq!(
            prefer(&image(&[]), "PLAINTEXT", "a", 5),
            None,
            "leader's rack"
        );
        assert_eq!(
            prefer(&image(&[]), "PLAINTEXT", "b", 3),
            None,
            "below follower 2's log start"
        );
        assert_eq!(
            prefer(&image(&[]), "PLAINTEXT", "c", 8),
            None,
            "past follower 3's log end"
        );
        assert_eq!(prefer(&image(&[]), "PLAINTEXT", "c", 6), Some(3));
        assert_eq!(prefer(&image(&[2]), "PLAINTEXT", "b", 5), None, "fenced");
        assert_eq!(
            prefer(&image(&[]), "INTERNAL", "b", 5),
            None,
            "no endpoint on the consumer's listener"
        );
        let mut unregistered = image(&[]);
        unregistered.brokers.remove(&2);
        assert_eq!(prefer(&unregistered, "PLAINTEXT", "b", 5), None);
    }

    #[test]
    fn a_follower_outside_the_isr_or_a_partition_not_led_here_has_no_preferred_replica() {
        let dir = tempfile::tempdir().expect("dir");
        let p = led_partition(dir.path(), &[1, 3]);
        let now = now_ms();
        p.update_follower_fetch(2, 1, 10, 0, 10, now)
            .expect("fetch of 2");
        assert_eq!(
            preferred_read_replica(&p, &image(&[]), "PLAINTEXT", "b", 5, now),
            None,
            "follower 2 is out of sync"
        );
        let dir = tempfile::tempdir().expect("dir");
        let followed = led_partition(dir.path(), &[1, 2, 3]);
        followed.apply_registration(
            &PartitionRegistration {
                replicas: vec![1, 2, 3],
                isr: vec![1, 2, 3],
                leader: 2,
                leader_epoch: 1,
                partition_epoch: 1,
                adding_replicas: vec![],
                removing_replicas: vec![],
                elr: vec![],
                last_known_elr: vec![],
            },
            now,
        );
        assert_eq!(
            preferred_read_replica(&followed, &image(&[]), "PLAINTEXT", "c", 5, now),
            None,
            "only a leader names a preferred replica"
        );
    }
}
