//! Rack-aware replica placement, as Kafka's `StripedReplicaPlacer` places the replicas of
//! new topics and partitions.
//!
//! Racks are sorted by name (brokers without `broker.rack` form one rack of their own, first)
//! and brokers by id inside each rack; both lists start at random offsets. Partition `p`'s
//! leader comes from the rack after partition `p - 1`'s, its other replicas from the racks
//! after that one in turn, one broker per rack per round, so a partition spans
//! `min(replication factor, racks)` racks and leaders rotate over racks. Inside a rack the
//! broker offset moves on with every partition. Once as many partitions were placed as
//! there are brokers, racks and brokers are shuffled, so the same assignments do not repeat
//! in lock step.
//!
//! One deliberate difference: Kafka restarts its round counter at each shuffle, so a rack
//! whose broker list last served the round number that comes up again looks exhausted and
//! is skipped as leader (with two single-broker racks one of them led a fifth of the
//! partitions); here rounds only count up, and leaders alternate between racks.
//!
//! Only unfenced brokers are placed on (Ironlog's controller never assigns a new replica to
//! a fenced broker: the replica could not join the ISR it starts with).

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::Rng;

/// A broker new replicas may go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UsableBroker {
    pub id: i32,
    pub rack: Option<String>,
}

/// One rack's brokers in placement order (Kafka's `BrokerList`).
#[derive(Debug)]
struct BrokerList {
    brokers: Vec<i32>,
    /// How many brokers this rack handed out in the current placement round.
    index: usize,
    offset: usize,
    /// The placement round `index` counts for.
    round: usize,
}

impl BrokerList {
    /// The rack's next broker in `round`, `None` once every broker of it was handed out.
    fn next(&mut self, round: usize) -> Option<i32> {
        if self.brokers.is_empty() {
            return None;
        }
        if self.round != round {
            self.round = round;
            self.index = 0;
            self.offset = (self.offset + 1) % self.brokers.len();
        }
        if self.index >= self.brokers.len() {
            return None;
        }
        let broker = self.brokers[(self.index + self.offset) % self.brokers.len()];
        self.index += 1;
        Some(broker)
    }
}

/// The racks in placement order (Kafka's `RackList`).
#[derive(Debug)]
struct RackList {
    racks: BTreeMap<Option<String>, BrokerList>,
    rack_names: Vec<Option<String>>,
    brokers: usize,
    /// Placement rounds so far (one per partition). Never reset: a rack's broker list
    /// starts over whenever the round differs from the one it last served.
    round: usize,
    /// Rounds since the last shuffle.
    since_shuffle: usize,
    offset: usize,
}

impl RackList {
    fn new(rng: &mut impl Rng, usable: &[UsableBroker]) -> Self {
        let mut racks: BTreeMap<Option<String>, BrokerList> = BTreeMap::new();
        for broker in usable {
            racks
                .entry(broker.rack.clone())
                .or_insert_with(|| BrokerList {
                    brokers: Vec::new(),
                    index: 0,
                    offset: 0,
                    round: usize::MAX,
                })
                .brokers
                .push(broker.id);
        }
        for list in racks.values_mut() {
            list.brokers.sort_unstable();
            list.brokers.dedup();
            list.offset = rng.gen_range(0..list.brokers.len());
        }
        let rack_names: Vec<Option<String>> = racks.keys().cloned().collect();
        let offset = if rack_names.is_empty() {
            0
        } else {
            rng.gen_range(0..rack_names.len())
        };
        Self {
            brokers: racks.values().map(|l| l.brokers.len()).sum(),
            racks,
            rack_names,
            round: 0,
            since_shuffle: 0,
            offset,
        }
    }

    fn rack(&mut self, index: usize) -> &mut BrokerList {
        let name = &self.rack_names[index];
        self.racks
            .get_mut(name)
            .expect("every rack name has its broker list")
    }

    /// The replicas of the next partition, leader first. Needs `1 <= rf <= brokers`.
    fn place(&mut self, rng: &mut impl Rng, rf: usize) -> Vec<i32> {
        if self.since_shuffle == self.brokers && self.brokers > 1 {
            self.rack_names.shuffle(rng);
            for list in self.racks.values_mut() {
                list.brokers.shuffle(rng);
            }
            self.since_shuffle = 0;
        }
        if self.offset == self.rack_names.len() {
            self.offset = 0;
        }
        let racks = self.rack_names.len();
        let round = self.round;
        let mut replicas = Vec::with_capacity(rf);
        let mut first_rack = self.offset;
        // Every rack has a broker left at the start of a round: this finds the leader in
        // the first rack tried.
        for _ in 0..racks {
            if let Some(broker) = self.rack(first_rack).next(round) {
                replicas.push(broker);
                break;
            }
            first_rack = (first_rack + 1) % racks;
        }
        let mut skip_rack = Some(first_rack);
        let mut rack_index = self.offset;
        // Each pass over the racks hands out at least one broker while brokers are left
        // in this round, and rf <= brokers: the bound is never reached.
        let mut attempts = racks * (rf + 1);
        while replicas.len() < rf && attempts > 0 {
            attempts -= 1;
            let candidate = if skip_rack == Some(rack_index) {
                skip_rack = None;
                None
            } else {
                self.rack(rack_index).next(round)
            };
            rack_index = (rack_index + 1) % racks;
            if let Some(broker) = candidate {
                replicas.push(broker);
            }
        }
        self.round += 1;
        self.since_shuffle += 1;
        self.offset += 1;
        replicas
    }
}

/// The replicas of `count` new partitions with `rf` replicas each over `usable` brokers,
/// leader first. Needs `1 <= rf <= usable.len()` (the caller's checks answer the errors).
pub(crate) fn place_replicas(
    rng: &mut impl Rng,
    usable: &[UsableBroker],
    count: i32,
    rf: usize,
) -> Vec<Vec<i32>> {
    debug_assert!(
        rf > 0 && rf <= usable.len(),
        "placement needs enough brokers"
    );
    let mut racks = RackList::new(rng, usable);
    (0..count.max(0)).map(|_| racks.place(rng, rf)).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    fn brokers(racks: &[(Option<&str>, usize)]) -> Vec<UsableBroker> {
        let mut id = 0;
        let mut out = Vec::new();
        for (rack, n) in racks {
            for _ in 0..*n {
                id += 1;
                out.push(UsableBroker {
                    id,
                    rack: rack.map(String::from),
                });
            }
        }
        out
    }

    /// Random clusters (1–4 racks of 1–4 brokers, some without a rack), random replication
    /// factors and partition counts: every partition has distinct replicas on as many racks
    /// as it can, and leaders rotate over the racks.
    #[test]
    fn replicas_are_distinct_span_racks_and_leaders_rotate_over_racks() {
        let mut rng = StdRng::seed_from_u64(0x1f0_10c);
        for case in 0..500 {
            let rack_count = rng.gen_range(1..=4usize);
            let layout: Vec<(Option<String>, usize)> = (0..rack_count)
                .map(|r| {
                    let name = (r > 0 || rng.gen_bool(0.5)).then(|| format!("rack-{r}"));
                    (name, rng.gen_range(1..=4usize))
                })
                .collect();
            let layout_ref: Vec<(Option<&str>, usize)> =
                layout.iter().map(|(r, n)| (r.as_deref(), *n)).collect();
            let usable = brokers(&layout_ref);
            let rf = rng.gen_range(1..=usable.len().min(4));
            let count = rng.gen_range(1..=60);
            let rack_of: HashMap<i32, Option<String>> =
                usable.iter().map(|b| (b.id, b.rack.clone())).collect();
            let lists = place_replicas(&mut rng, &usable, count, rf);
            assert_eq!(
                lists.len(),
                count as usize,
                "case {case}: one list per partition"
            );
            let mut leaders_per_rack: BTreeMap<Option<String>, usize> = BTreeMap::new();
            for (p, replicas) in lists.iter().enumerate() {
                let distinct: BTreeSet<i32> = replicas.iter().copied().collect();
                assert_eq!(
                    (replicas.len(), distinct.len()),
                    (rf, rf),
                    "case {case} ({layout:?}, rf {rf}): partition {p} has replicas {replicas:?}, \
                     not {rf} distinct brokers"
                );
                let racks: BTreeSet<&Option<String>> =
                    replicas.iter().map(|id| &rack_of[id]).collect();
                assert_eq!(
                    racks.len(),
                    rf.min(rack_count),
                    "case {case} ({layout:?}, rf {rf}): partition {p}'s replicas {replicas:?} \
                     span {} racks, not as many as they could",
                    racks.len()
                );
                *leaders_per_rack
                    .entry(rack_of[&replicas[0]].clone())
                    .or_default() += 1;
            }
            let most = leaders_per_rack.values().max().copied().unwrap_or(0);
            let least = if leaders_per_rack.len() < rack_count {
                0
            } else {
                leaders_per_rack.values().min().copied().unwrap_or(0)
            };
            // Leaders rotate over racks; a reshuffle after each round of `brokers`
            // partitions may repeat a rack at the seam.
            let rounds = (count as usize).div_ceil(usable.len());
            assert!(
                most - least <= 1 + rounds,
                "case {case} ({layout:?}, {count} partitions): leaders per rack {leaders_per_rack:?} \
                 are not spread over the racks"
            );
        }
    }

    #[test]
    fn six_brokers_in_three_racks_put_each_partition_in_three_racks_and_every_broker_leads() {
        let usable = brokers(&[(Some("a"), 2), (Some("b"), 2), (Some("c"), 2)]);
        for seed in 0..50 {
            let mut rng = StdRng::seed_from_u64(seed);
            let lists = place_replicas(&mut rng, &usable, 12, 3);
            let mut leaders: BTreeMap<i32, usize> = BTreeMap::new();
            for replicas in &lists {
                let racks: BTreeSet<i32> = replicas.iter().map(|id| (id - 1) / 2).collect();
                assert_eq!(
                    racks.len(),
                    3,
                    "seed {seed}: {replicas:?} is not in 3 racks"
                );
                *leaders.entry(replicas[0]).or_default() += 1;
            }
            assert_eq!(
                leaders.len(),
                6,
                "seed {seed}: 12 partitions over 6 brokers left a broker leading nothing: {leaders:?}"
            );
            assert!(
                leaders.values().all(|n| *n <= 4),
                "seed {seed}: leadership concentrated: {leaders:?}"
            );
        }
    }

    #[test]
    fn without_racks_every_broker_leads_and_replicas_are_distinct() {
        let usable = brokers(&[(None, 3)]);
        let mut rng = StdRng::seed_from_u64(7);
        let lists = place_replicas(&mut rng, &usable, 6, 3);
        let leaders: BTreeSet<i32> = lists.iter().map(|r| r[0]).collect();
        assert_eq!(
            leaders,
            BTreeSet::from([1, 2, 3]),
            "6 partitions over 3 brokers: every broker leads some: {lists:?}"
        );
        for replicas in &lists {
            assert_eq!(replicas.iter().collect::<BTreeSet<_>>().len(), 3);
        }
    }
}
