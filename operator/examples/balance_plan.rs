//! How long the balancer takes to plan, and how even the cluster ends: 10,000 partitions
//! (replication factor 3, rack-aware over 3 racks) on 12 brokers.
//!
//! - scale-out: the partitions on brokers 0..11, broker 11 new and empty;
//! - scale-in 12 → 9: the partitions spread over all 12 brokers, brokers 9, 10 and 11 (one
//!   per rack, so the racks stay even) drained.
//!
//! Each scenario plans once with no cap (the whole rebalance in one plan), then again step
//! by step under the default caps (plan, assume it ran, plan again until nothing is left).
//!
//! `CARGO_PROFILE_DEV_PACKAGE_IRONLOG_OPERATOR_OPT_LEVEL=3 cargo run -p ironlog-operator --example balance_plan`
//! (the planner optimized, without a release build of every dependency).

use std::collections::BTreeSet;
use std::time::Instant;

use ironlog_operator::balance::{
    assume_done, plan, BrokerModel, ClusterModel, PartitionModel, PlanOptions, TopicPartition,
};

const BROKERS: i32 = 12;
const PARTITIONS: i32 = 10_000;
const TOPICS: i32 = 50;
const RACKS: i32 = 3;

/// A deterministic xorshift, so every run plans the same cluster.
struct Sizes(u64);

impl Sizes {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Kafka's rack-aware round-robin assignment over `brokers`.
fn cluster(brokers: i32, drain: BTreeSet<i32>) -> ClusterModel {
    let mut sizes = Sizes(0x9E37_79B9_7F4A_7C15);
    let per_topic = PARTITIONS / TOPICS;
    // brokers in rack order: r0's, r1's, r2's interleaved as 0, 1, 2, 3, ...
    let partitions = (0..PARTITIONS)
        .map(|n| {
            let start = n + n / brokers;
            let replicas: Vec<i32> = (0..3).map(|k| (start + k) % brokers).collect();
            PartitionModel {
                partition: TopicPartition {
                    topic: format!("topic-{}", n / per_topic),
                    partition: n % per_topic,
                },
                leader: Some(replicas[0]),
                isr: replicas.clone(),
                replicas,
                min_isr: 2,
                // up to 1 GiB, skewed: most small, a few large
                size_bytes: (sizes.next() % 1024).pow(2) * 1024,
                bytes_in_per_sec: Some(sizes.next() % 1_000_000),
            }
        })
        .collect();
    let mut model = ClusterModel {
        brokers: (0..BROKERS)
            .map(|id| BrokerModel {
                id,
                rack: Some(format!("rack-{}", id % RACKS)),
                disk_bytes: 0,
            })
            .collect(),
        partitions,
        drain,
    };
    assume_done(&mut model, &Default::default());
    model
}

fn report(name: &str, model: &ClusterModel) {
    let balance = model.balance();
    let replicas = balance.replicas.values();
    let leaders = balance.leaders.values();
    let disk: Vec<u64> = model
        .brokers
        .iter()
        .filter(|b| !model.drain.contains(&b.id))
        .map(|b| b.disk_bytes)
        .collect();
    let disk_mean = disk.iter().sum::<u64>() as f64 / disk.len() as f64;
    let disk_max = disk.iter().copied().max().unwrap_or(0) as f64;
    println!(
        "  {name}: replicas per broker {}..{}, leaders {}..{}, disk max {:.1}% over the mean, \
         replicas on drained brokers {}, within 10%: {}",
        replicas.clone().min().unwrap_or(&0),
        replicas.max().unwrap_or(&0),
        leaders.clone().min().unwrap_or(&0),
        leaders.max().unwrap_or(&0),
        (disk_max / disk_mean - 1.0) * 100.0,
        balance.replicas_elsewhere,
        balance.is_balanced(),
    );
}

fn scenario(name: &str, before: ClusterModel) {
    println!("{name}: {PARTITIONS} partitions × 3 replicas, {BROKERS} brokers in {RACKS} racks");
    report("before", &before);

    let unbounded = PlanOptions {
        moves_max: usize::MAX,
        leader_changes_max: usize::MAX,
    };
    let started = Instant::now();
    let whole = plan(&before, unbounded);
    let elapsed = started.elapsed();
    println!(
        "  one plan, no cap: {:.0} ms, {} moves ({:.1} GiB to copy), {} leader changes",
        elapsed.as_secs_f64() * 1000.0,
        whole.moves.len(),
        whole.bytes() as f64 / (1u64 << 30) as f64,
        whole.leader_changes.len()
    );
    let mut after = before.clone();
    assume_done(&mut after, &whole);
    report("after it", &after);

    let mut stepped = before;
    let mut rounds = 0;
    let mut moves = 0;
    let started = Instant::now();
    loop {
        let step = plan(&stepped, PlanOptions::default());
        if step.is_empty() || rounds == 1000 {
            break;
        }
        moves += step.moves.len();
        assume_done(&mut stepped, &step);
        rounds += 1;
    }
    let elapsed = started.elapsed();
    println!(
        "  default caps: {rounds} plans, {moves} moves, {:.0} ms in all ({:.1} ms a plan)",
        elapsed.as_secs_f64() * 1000.0,
        elapsed.as_secs_f64() * 1000.0 / rounds.max(1) as f64
    );
    report("after them", &stepped);
}

fn main() {
    scenario("scale-out 11 → 12", cluster(BROKERS - 1, BTreeSet::new()));
    scenario(
        "scale-in 12 → 9 (drain brokers 9, 10, 11)",
        cluster(BROKERS, BTreeSet::from([9, 10, 11])),
    );
}
