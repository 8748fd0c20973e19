//! Property tests of the planner on random clusters: the rules every plan keeps, and that
//! planning, running the plan and planning again ends balanced (`model::Balance`).

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::balance::model::{BrokerModel, ClusterModel, PartitionModel, TopicPartition};

/// A random cluster: `brokers` brokers (ids 0..), in `racks` racks by `id % racks` (none
/// when 0), partitions of up to 4 topics with random replicas among all brokers, the top
/// `drained` ids drained.
#[derive(Debug, Clone)]
struct Shape {
    brokers: i32,
    racks: i32,
    drained: i32,
    healthy: bool,
}

fn shape(healthy: bool, even_racks: bool) -> impl Strategy<Value = Shape> {
    (0i32..=3, 1i32..=4, 0i32..=1).prop_flat_map(move |(racks, per_rack, drained_racks)| {
        // with racks, whole racks' worth of brokers (so a perfect spread exists) unless uneven
        let brokers_min = if racks == 0 { 3 } else { 3.max(racks) };
        let brokers = if racks == 0 {
            (brokers_min..=12).boxed()
        } else if even_racks {
            Just(racks * (per_rack + 1).max((3 + racks - 1) / racks)).boxed()
        } else {
            (brokers_min..=12).boxed()
        };
        brokers.prop_flat_map(move |brokers| {
            let step = racks.max(1);
            // drain whole racks' worth, leaving at least 3 brokers
            let drained = if even_racks {
                (0..=drained_racks)
                    .map(|k| k * step)
                    .filter(|d| brokers - d >= 3.max(racks))
                    .max()
                    .unwrap_or(0)
            } else {
                drained_racks.min((brokers - 3).max(0))
            };
            Just(Shape {
                brokers,
                racks,
                drained,
                healthy,
            })
        })
    })
}

fn cluster(shape: Shape) -> impl Strategy<Value = ClusterModel> {
    let brokers = shape.brokers;
    let partition = (
        0usize..4,
        1usize..=3,
        Just(()).prop_perturb(move |_, mut rng| {
            // a random order of all brokers: the replicas are a prefix
            let mut ids: Vec<i32> = (0..brokers).collect();
            for i in (1..ids.len()).rev() {
                let j = rng.random_range(0..=i);
                ids.swap(i, j);
            }
            ids
        }),
        0u64..1_000_000,
        proptest::option::of(0u64..10_000),
        0usize..3,
        1usize..=3,
        any::<bool>(),
    );
    proptest::collection::vec(partition, 1..120).prop_map(move |raw| {
        let eligible = (shape.brokers - shape.drained) as usize;
        let mut per_topic: BTreeMap<usize, i32> = BTreeMap::new();
        let mut partitions = Vec::new();
        for (topic, rf, order, size, bytes_in, isr_short, min_isr, offline) in raw {
            let rf = rf.min(eligible);
            let replicas: Vec<i32> = order[..rf].to_vec();
            let mut isr = replicas.clone();
            let mut leader = replicas.first().copied();
            if !shape.healthy {
                isr.truncate(rf - isr_short.min(rf - 1));
                if offline {
                    leader = None;
                }
            }
            let n = per_topic.entry(topic).or_default();
            partitions.push(PartitionModel {
                partition: TopicPartition {
                    topic: format!("t{topic}"),
                    partition: *n,
                },
                replicas,
                leader,
                isr,
                min_isr: min_isr.min(rf),
                size_bytes: size,
                bytes_in_per_sec: bytes_in,
            });
            *n += 1;
        }
        let mut model = ClusterModel {
            brokers: (0..shape.brokers)
                .map(|id| BrokerModel {
                    id,
                    rack: (shape.racks > 0).then(|| format!("r{}", id % shape.racks)),
                    disk_bytes: 0,
                })
                .collect(),
            partitions,
            drain: (shape.brokers - shape.drained..shape.brokers).collect(),
        };
        // disk use as DescribeLogDirs would report it
        assume_done(&mut model, &Plan::default());
        model
    })
}

fn any_cluster() -> impl Strategy<Value = ClusterModel> {
    (any::<bool>(), any::<bool>())
        .prop_flat_map(|(healthy, even)| shape(healthy, even))
        .prop_flat_map(cluster)
}

fn healthy_even_cluster() -> impl Strategy<Value = ClusterModel> {
    shape(true, true).prop_flat_map(cluster)
}

fn options() -> impl Strategy<Value = PlanOptions> {
    (1usize..40, 1usize..200).prop_map(|(moves_max, leader_changes_max)| PlanOptions {
        moves_max,
        leader_changes_max,
    })
}

fn racks_of(model: &ClusterModel, replicas: &[BrokerId]) -> usize {
    let rack: BTreeMap<BrokerId, &Option<String>> =
        model.brokers.iter().map(|b| (b.id, &b.rack)).collect();
    replicas
        .iter()
        .filter_map(|b| rack.get(b).and_then(|r| r.as_deref()))
        .collect::<BTreeSet<_>>()
        .len()
}

/// The in-sync replica count at each phase of a reassignment as Kafka runs it: the targets
/// are added (the ISR unchanged), they catch up and join the ISR, the old replicas leave.
fn in_sync_while_moving(p: &PartitionModel, to: &[BrokerId]) -> usize {
    let adding: BTreeSet<BrokerId> = p
        .isr
        .iter()
        .copied()
        .filter(|b| p.replicas.contains(b))
        .collect();
    let caught_up: BTreeSet<BrokerId> = adding.iter().copied().chain(to.iter().copied()).collect();
    let done: BTreeSet<BrokerId> = caught_up
        .intersection(&to.iter().copied().collect())
        .copied()
        .collect();
    let leader_ok = p.leader.is_some_and(|l| p.isr.contains(&l));
    if !leader_ok {
        return 0;
    }
    adding.len().min(caught_up.len()).min(done.len())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, max_shrink_iters: 64, ..ProptestConfig::default() })]

    #[test]
    fn plans_keep_the_replication_factor_racks_and_min_isr(model in any_cluster(), options in options()) {
        let plan = plan(&model, options);
        let by_name: BTreeMap<&TopicPartition, &PartitionModel> =
            model.partitions.iter().map(|p| (&p.partition, p)).collect();
        let eligible = model.eligible_brokers();
        prop_assert!(plan.moves.len() <= options.moves_max, "{} moves over the cap {}", plan.moves.len(), options.moves_max);
        prop_assert!(plan.leader_changes.len() <= options.leader_changes_max);
        let mut seen = BTreeSet::new();
        for (partition, from, to) in plan
            .moves
            .iter()
            .map(|m| (&m.partition, &m.replicas_from, &m.replicas_to))
            .chain(plan.leader_changes.iter().map(|c| (&c.partition, &c.replicas_from, &c.replicas_to)))
        {
            prop_assert!(seen.insert(partition), "{partition} is in the plan twice");
            let p = by_name[partition];
            prop_assert_eq!(from, &p.replicas);
            let distinct: BTreeSet<_> = to.iter().collect();
            prop_assert_eq!(to.len(), p.replicas.len(), "{} changes its replication factor: {:?} → {:?}", partition, from, to);
            prop_assert_eq!(distinct.len(), to.len(), "{} gets a broker twice: {:?}", partition, to);
            for b in to.iter().filter(|b| !from.contains(b)) {
                prop_assert!(eligible.contains(b), "{} moves to broker {} which is not eligible", partition, b);
            }
            prop_assert!(
                racks_of(&model, to) >= racks_of(&model, from),
                "{partition} spans fewer racks after the move: {from:?} → {to:?}"
            );
            prop_assert!(
                in_sync_while_moving(p, to) >= p.min_isr,
                "{partition} would run with {} in-sync replicas (min.isr {}): {from:?} → {to:?}, ISR {:?}",
                in_sync_while_moving(p, to), p.min_isr, p.isr
            );
        }
        for change in &plan.leader_changes {
            let p = by_name[&change.partition];
            prop_assert!(p.isr.contains(&change.replicas_to[0]), "{} prefers {} which is not in sync", change.partition, change.replicas_to[0]);
        }
    }

    #[test]
    fn planning_until_done_ends_balanced(model in healthy_even_cluster(), moves_max in 5usize..60) {
        let options = PlanOptions { moves_max, leader_changes_max: 1000 };
        let mut model = model;
        let mut rounds = 0;
        loop {
            let plan = plan(&model, options);
            prop_assert!(plan.blocked.is_empty(), "a healthy cluster has blocked partitions: {:?}", plan.blocked);
            if plan.is_empty() {
                break;
            }
            assume_done(&mut model, &plan);
            rounds += 1;
            // 120 partitions × 3 replicas could all need to move once or twice
            prop_assert!(rounds <= 400, "still planning after {rounds} rounds");
        }
        let balance = model.balance();
        prop_assert!(balance.replicas_elsewhere == 0, "replicas left on drained brokers: {balance:?}");
        let racks_allow = |p: &PartitionModel| {
            let racks = model.brokers.iter().filter(|b| !model.drain.contains(&b.id)).filter_map(|b| b.rack.as_deref()).collect::<BTreeSet<_>>().len();
            racks == 0 || racks >= p.replicas.len()
        };
        for p in model.partitions.iter().filter(|p| racks_allow(p)) {
            let racks = racks_of(&model, &p.replicas);
            prop_assert!(racks == 0 || racks == p.replicas.len(), "{} shares a rack: {:?}", p.partition, p.replicas);
        }
        prop_assert!(balance.replicas_balanced(), "replicas not within 10% of perfect: {:?}", balance.replicas);
        prop_assert!(balance.leaders_balanced(), "leaders not within 10% of perfect: {:?}", balance.leaders);
    }

    #[test]
    fn the_same_model_in_any_order_gives_the_same_plan(model in any_cluster(), options in options(), seed in any::<u64>()) {
        let mut shuffled = model.clone();
        // a deterministic shuffle from the seed
        let mut state = seed | 1;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for i in (1..shuffled.partitions.len()).rev() {
            let j = next(i + 1);
            shuffled.partitions.swap(i, j);
        }
        for i in (1..shuffled.brokers.len()).rev() {
            let j = next(i + 1);
            shuffled.brokers.swap(i, j);
        }
        prop_assert_eq!(plan(&model, options), plan(&shuffled, options));
    }
}
