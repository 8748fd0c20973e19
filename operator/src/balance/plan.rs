//! `plan`: the balancer — a cluster model in, a plan out (pure, deterministic).
//!
//! A plan is a list of **moves** (a partition's replica set changes: AlterPartitionReassignments
//! with the new replicas, the preferred leader first) and **leader changes** (only the order
//! of the replicas changes, so the preferred leader does; a reassignment that copies nothing,
//! then a preferred leader election). Each partition appears at most once in a plan.
//!
//! The planner works in three passes over the partitions in `(topic, partition)` order:
//!
//! 1. **must-moves**: every replica on a broker that is not eligible (being drained, or not
//!    registered) and every replica that shares a rack with an earlier replica of its
//!    partition while another rack is free goes to the eligible broker with the fewest
//!    replicas (then the least disk use, then the least bytes-in, then the lowest id) that
//!    keeps the rules below;
//! 2. **replica counts**: while some broker holds two or more replicas more than another, one
//!    replica moves from the busiest broker to the emptiest one that can take it; of the
//!    candidates, one the busiest broker leads if it leads two or more than the target (a
//!    follower's replica otherwise, so leader counts are not unsettled), then one of a topic
//!    the busiest broker holds two or more replicas more of than the target (the most such
//!    first: each topic spreads over the brokers, not only the totals — a new broker gets
//!    its share of a busy topic, not only of `__consumer_offsets`), and then the one whose
//!    size is closest to half the two brokers' disk-use gap (so disk use evens out with the
//!    counts; the smallest when the target already holds more), and then the one whose
//!    bytes-in is closest to half the two brokers' bytes-in gap (every replica takes its
//!    partition's produce traffic, the leader's from clients and the followers' by fetching);
//! 3. **preferred leaders**, once the replica moves fit under the cap: while some broker leads two or more partitions more than
//!    another, a partition led by the busiest broker gets a replica on the other broker as
//!    its preferred leader (an in-sync one, unless the partition moves anyway); of the
//!    candidates the one whose bytes-in is closest to half the two brokers' bytes-in gap.
//!    Failing a direct hand-over, a chain of them (broker a hands one to b, b one to c); failing
//!    that, the leader's replica itself moves to a broker holding fewer replicas (or as many,
//!    and a follower's replica comes back).
//!
//! The rules every move keeps:
//! - the replication factor: as many replicas after as before, all distinct;
//! - racks (when every eligible broker has `broker.rack`): a move never lowers the number of
//!   distinct racks a partition's replicas span;
//! - `min.insync.replicas` while the move runs: a reassignment first adds the new replicas
//!   (the ISR stays as it is), then, once they are in sync, drops the old ones; so a
//!   partition may move only when it has a leader and at least `min.isr` in-sync replicas
//!   now, and its target has at least `min.isr` replicas. A partition that fails this is
//!   listed in [`Plan::blocked`] with the reason, never moved;
//! - at most [`PlanOptions::moves_max`] moves and [`PlanOptions::leader_changes_max`]
//!   leader changes per plan: the executor runs a plan, then plans again from what the
//!   cluster then looks like, until a plan is empty.
//!
//! Each pass strictly lowers the sum of squared counts with every step, so it ends; with the
//! caps, a plan is a bounded amount of work.

use std::collections::{BTreeMap, BTreeSet};

use super::model::{BrokerId, ClusterModel, PartitionModel, TopicPartition};

/// Limits of one plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanOptions {
    /// The most partitions whose replicas move.
    pub moves_max: usize,
    /// The most partitions whose preferred leader alone changes.
    pub leader_changes_max: usize,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            moves_max: 100,
            leader_changes_max: 1000,
        }
    }
}

/// A partition's replicas change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMove {
    pub partition: TopicPartition,
    pub replicas_from: Vec<BrokerId>,
    /// The new replicas, the preferred leader first.
    pub replicas_to: Vec<BrokerId>,
    /// The bytes copied: the partition's size for every replica added.
    pub bytes: u64,
}

impl PartitionMove {
    /// The brokers that gain a replica.
    pub fn added(&self) -> Vec<BrokerId> {
        self.replicas_to
            .iter()
            .copied()
            .filter(|b| !self.replicas_from.contains(b))
            .collect()
    }

    /// The brokers that lose a replica.
    pub fn removed(&self) -> Vec<BrokerId> {
        self.replicas_from
            .iter()
            .copied()
            .filter(|b| !self.replicas_to.contains(b))
            .collect()
    }
}

/// A partition's preferred leader changes; the replica set stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderChange {
    pub partition: TopicPartition,
    pub replicas_from: Vec<BrokerId>,
    /// The same replicas, the new preferred leader first.
    pub replicas_to: Vec<BrokerId>,
}

/// Why a partition that should move does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockReason {
    /// No leader: nothing to copy from.
    Offline,
    /// Fewer in-sync replicas than `min.insync.replicas` (or a target smaller than it).
    UnderMinIsr { in_sync: usize, min_isr: usize },
    /// No eligible broker can take a replica without breaking the rack or replica rules.
    NoTarget { broker: BrokerId },
}

impl std::fmt::Display for BlockReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlockReason::Offline => write!(f, "it has no leader"),
            BlockReason::UnderMinIsr { in_sync, min_isr } => write!(
                f,
                "{in_sync} in-sync replica(s), min.insync.replicas is {min_isr}"
            ),
            BlockReason::NoTarget { broker } => write!(
                f,
                "no eligible broker can take its replica on broker {broker} (racks, replicas)"
            ),
        }
    }
}

/// A partition that must move (its replicas are on a broker being drained, or break racks)
/// but cannot now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub partition: TopicPartition,
    pub reason: BlockReason,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub moves: Vec<PartitionMove>,
    pub leader_changes: Vec<LeaderChange>,
    pub blocked: Vec<Blocked>,
    /// Partitions that must move but did not fit under `moves_max` (the next plan takes them).
    pub must_moves_deferred: usize,
}

impl Plan {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.moves.is_empty() && self.leader_changes.is_empty()
    }

    /// The bytes the moves copy.
    pub fn bytes(&self) -> u64 {
        self.moves.iter().map(|m| m.bytes).sum()
    }
}

/// Plans the next step for `model`.
pub fn plan(model: &ClusterModel, options: PlanOptions) -> Plan {
    let mut planner = Planner::new(model);
    let mut plan = Plan::default();
    planner.must_moves(options.moves_max, &mut plan);
    planner.even_replicas(options.moves_max);
    // leaders once the replicas are settled: while the cap cuts replica moves short, the
    // next plan moves more and leaders evened now would be evened again
    if planner.moves < options.moves_max {
        planner.even_leaders(options.leader_changes_max, options.moves_max);
    }
    planner.finish(plan)
}

/// `model` as it will be once `plan` has run: the moved replicas caught up and in sync, the
/// preferred leaders elected, disk use counted from the partitions' sizes. What the tests
/// and the benchmark plan from next.
pub fn assume_done(model: &mut ClusterModel, plan: &Plan) {
    let targets: BTreeMap<&TopicPartition, &Vec<BrokerId>> = plan
        .moves
        .iter()
        .map(|m| (&m.partition, &m.replicas_to))
        .chain(
            plan.leader_changes
                .iter()
                .map(|c| (&c.partition, &c.replicas_to)),
        )
        .collect();
    for p in &mut model.partitions {
        if let Some(to) = targets.get(&p.partition) {
            p.replicas = (*to).clone();
            p.isr = (*to).clone();
            p.leader = to.first().copied();
        }
    }
    let mut disk: BTreeMap<BrokerId, u64> = BTreeMap::new();
    for p in &model.partitions {
        for b in &p.replicas {
            *disk.entry(*b).or_default() += p.size_bytes;
        }
    }
    for b in &mut model.brokers {
        b.disk_bytes = disk.get(&b.id).copied().unwrap_or(0);
    }
}

/// Whether `p` may move to `target` without dropping below `min.insync.replicas` while the
/// move runs (see the module doc).
pub fn move_keeps_min_isr(p: &PartitionModel, target_len: usize) -> Result<(), BlockReason> {
    if !p.leader.is_some_and(|l| p.isr.contains(&l)) {
        return Err(BlockReason::Offline);
    }
    let in_sync = p.in_sync_replicas();
    if in_sync < p.min_isr || target_len < p.min_isr {
        return Err(BlockReason::UnderMinIsr {
            in_sync,
            min_isr: p.min_isr,
        });
    }
    Ok(())
}

/// What a partition's entry in the plan has become so far.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Touched {
    No,
    /// Its replica set changes.
    Moved,
    /// Only its order changes.
    Reordered,
}

struct Planner<'a> {
    /// The partitions in `(topic, partition)` order.
    partitions: Vec<&'a PartitionModel>,
    eligible: BTreeSet<BrokerId>,
    /// Each broker's rack, numbered (only brokers that have one).
    rack_of: BTreeMap<BrokerId, usize>,
    /// How many racks the eligible brokers span.
    eligible_racks: usize,
    /// Every eligible broker has a rack: rack rules apply.
    racks_known: bool,
    /// The replicas as planned so far, per partition.
    target: Vec<Vec<BrokerId>>,
    /// Each partition's topic, numbered.
    topic_of: Vec<usize>,
    /// Per broker and topic number, the replicas as planned so far.
    topic_replicas: BTreeMap<(BrokerId, usize), usize>,
    touched: Vec<Touched>,
    /// Eligible brokers' replica counts, disk bytes, preferred leaderships and leaders'
    /// bytes-in, as planned so far.
    replicas: BTreeMap<BrokerId, usize>,
    disk: BTreeMap<BrokerId, u64>,
    leaders: BTreeMap<BrokerId, usize>,
    leader_bytes_in: BTreeMap<BrokerId, u64>,
    /// Eligible brokers' bytes-in over all the replicas they hold, as planned so far.
    replica_bytes_in: BTreeMap<BrokerId, u64>,
    /// Per eligible broker, the partitions (indexes) it holds as planned.
    hosted: BTreeMap<BrokerId, BTreeSet<usize>>,
    /// Per eligible broker, the partitions (indexes) it is the preferred leader of.
    led: BTreeMap<BrokerId, BTreeSet<usize>>,
    /// Per pair of brokers, the partitions pass 2 may move between them, computed once: the
    /// candidates are untouched partitions, whose replicas do not change, so the list only
    /// loses the partitions that get touched.
    pair_candidates: BTreeMap<(BrokerId, BrokerId), Vec<usize>>,
    moves: usize,
}

impl<'a> Planner<'a> {
    fn new(model: &'a ClusterModel) -> Self {
        let mut partitions: Vec<&PartitionModel> = model.partitions.iter().collect();
        partitions.sort_by(|a, b| a.partition.cmp(&b.partition));
        let eligible = model.eligible_brokers();
        let rack_names: BTreeSet<&str> = model
            .brokers
            .iter()
            .filter_map(|b| b.rack.as_deref())
            .collect();
        let rack_number: BTreeMap<&str, usize> = rack_names
            .into_iter()
            .enumerate()
            .map(|(n, r)| (r, n))
            .collect();
        let rack_of: BTreeMap<BrokerId, usize> = model
            .brokers
            .iter()
            .filter_map(|b| Some((b.id, rack_number[b.rack.as_deref()?])))
            .collect();
        let eligible_racks = eligible
            .iter()
            .filter_map(|b| rack_of.get(b))
            .collect::<BTreeSet<_>>()
            .len();
        let racks_known = !eligible.is_empty() && eligible.iter().all(|b| rack_of.contains_key(b));
        let mut replicas: BTreeMap<BrokerId, usize> = eligible.iter().map(|&b| (b, 0)).collect();
        let mut leaders = replicas.clone();
        let mut leader_bytes_in: BTreeMap<BrokerId, u64> =
            eligible.iter().map(|&b| (b, 0)).collect();
        let mut replica_bytes_in = leader_bytes_in.clone();
        let mut hosted: BTreeMap<BrokerId, BTreeSet<usize>> =
            eligible.iter().map(|&b| (b, BTreeSet::new())).collect();
        let mut led = hosted.clone();
        // disk use: what DescribeLogDirs says, for the brokers that said
        let mut disk: BTreeMap<BrokerId, u64> = eligible.iter().map(|&b| (b, 0)).collect();
        for b in &model.brokers {
            if let Some(d) = disk.get_mut(&b.id) {
                *d = b.disk_bytes;
            }
        }
        // sorted by (topic, partition): one topic's partitions are consecutive
        let mut topic_of = Vec::with_capacity(partitions.len());
        for (i, p) in partitions.iter().enumerate() {
            let number = match topic_of.last() {
                Some(&last) if partitions[i - 1].partition.topic == p.partition.topic => last,
                Some(&last) => last + 1,
                None => 0,
            };
            topic_of.push(number);
        }
        let mut topic_replicas: BTreeMap<(BrokerId, usize), usize> = BTreeMap::new();
        for (i, p) in partitions.iter().enumerate() {
            for b in &p.replicas {
                *topic_replicas.entry((*b, topic_of[i])).or_default() += 1;
                if let Some(n) = replicas.get_mut(b) {
                    *n += 1;
                    hosted.entry(*b).or_default().insert(i);
                }
                if let Some(n) = replica_bytes_in.get_mut(b) {
                    *n = n.saturating_add(p.bytes_in_per_sec.unwrap_or(0));
                }
            }
            if let Some(first) = p.replicas.first() {
                if let Some(n) = leaders.get_mut(first) {
                    *n += 1;
                }
                if let Some(l) = led.get_mut(first) {
                    l.insert(i);
                }
                if let Some(n) = leader_bytes_in.get_mut(first) {
                    *n += p.bytes_in_per_sec.unwrap_or(0);
                }
            }
        }
        Planner {
            target: partitions.iter().map(|p| p.replicas.clone()).collect(),
            topic_of,
            topic_replicas,
            touched: vec![Touched::No; partitions.len()],
            partitions,
            eligible,
            rack_of,
            eligible_racks,
            racks_known,
            replicas,
            disk,
            leaders,
            leader_bytes_in,
            replica_bytes_in,
            hosted,
            led,
            pair_candidates: BTreeMap::new(),
            moves: 0,
        }
    }

    /// How many racks `replicas` span (a handful of replicas: no allocation).
    fn distinct_racks(&self, replicas: &[BrokerId]) -> usize {
        let racks = || replicas.iter().filter_map(|b| self.rack_of.get(b));
        racks()
            .enumerate()
            .filter(|&(n, rack)| racks().take(n).all(|r| r != rack))
            .count()
    }

    /// Whether some replica of `replicas` other than `except` is in `rack`.
    fn rack_used_by_others(&self, replicas: &[BrokerId], except: BrokerId, rack: usize) -> bool {
        replicas
            .iter()
            .filter(|&&b| b != except)
            .any(|b| self.rack_of.get(b) == Some(&rack))
    }

    /// Whether partition `i` may have its replica on `from` replaced by one on `to`:
    /// `to` is eligible and not a replica yet, and racks stay at least as spread.
    fn may_replace(&self, i: usize, from: BrokerId, to: BrokerId) -> bool {
        let current = &self.target[i];
        if !self.eligible.contains(&to) || current.contains(&to) {
            return false;
        }
        if !self.racks_known {
            return true;
        }
        // the spread drops only when `from`'s rack goes and `to`'s is already there
        let from_rack_stays = self
            .rack_of
            .get(&from)
            .is_none_or(|&r| self.rack_used_by_others(current, from, r));
        let to_rack_new = self
            .rack_of
            .get(&to)
            .is_some_and(|&r| !self.rack_used_by_others(current, from, r));
        from_rack_stays || to_rack_new
    }

    /// Replaces `from` by `to` in partition `i`'s planned replicas, keeping the position.
    fn replace(&mut self, i: usize, from: BrokerId, to: BrokerId) {
        let size = self.partitions[i].size_bytes;
        let bytes_in = self.partitions[i].bytes_in_per_sec.unwrap_or(0);
        let Some(position) = self.target[i].iter().position(|&b| b == from) else {
            return;
        };
        self.target[i][position] = to;
        let topic = self.topic_of[i];
        if let Some(n) = self.topic_replicas.get_mut(&(from, topic)) {
            *n = n.saturating_sub(1);
        }
        *self.topic_replicas.entry((to, topic)).or_default() += 1;
        if let Some(n) = self.replicas.get_mut(&from) {
            *n -= 1;
        }
        if let Some(d) = self.disk.get_mut(&from) {
            *d = d.saturating_sub(size);
        }
        if let Some(h) = self.hosted.get_mut(&from) {
            h.remove(&i);
        }
        *self.replicas.entry(to).or_default() += 1;
        *self.disk.entry(to).or_default() += size;
        if let Some(n) = self.replica_bytes_in.get_mut(&from) {
            *n = n.saturating_sub(bytes_in);
        }
        let to_bytes_in = self.replica_bytes_in.entry(to).or_default();
        *to_bytes_in = to_bytes_in.saturating_add(bytes_in);
        self.hosted.entry(to).or_default().insert(i);
        if position == 0 {
            self.hand_over_leadership(i, from, to);
            if let Some(n) = self.leaders.get_mut(&from) {
                *n -= 1;
            }
            if let Some(n) = self.leader_bytes_in.get_mut(&from) {
                *n = n.saturating_sub(bytes_in);
            }
            *self.leaders.entry(to).or_default() += 1;
            *self.leader_bytes_in.entry(to).or_default() += bytes_in;
        }
        if self.touched[i] != Touched::Moved {
            self.touched[i] = Touched::Moved;
            self.moves += 1;
        }
    }

    /// The eligible brokers by (replicas, disk, bytes-in, id), emptiest first.
    fn by_load(&self) -> Vec<BrokerId> {
        let mut brokers: Vec<BrokerId> = self.eligible.iter().copied().collect();
        brokers.sort_by_key(|b| (self.replicas[b], self.disk[b], self.replica_bytes_in[b], *b));
        brokers
    }

    /// Pass 1: replicas on brokers that are not eligible, and replicas doubling up a rack.
    fn must_moves(&mut self, moves_max: usize, plan: &mut Plan) {
        for i in 0..self.partitions.len() {
            let p = self.partitions[i];
            let misplaced = self.misplaced(i);
            if misplaced.is_empty() {
                continue;
            }
            let draining = misplaced.iter().any(|b| !self.eligible.contains(b));
            if let Err(reason) = move_keeps_min_isr(p, p.replicas.len()) {
                if draining {
                    plan.blocked.push(Blocked {
                        partition: p.partition.clone(),
                        reason,
                    });
                }
                continue;
            }
            if self.moves >= moves_max {
                plan.must_moves_deferred += 1;
                continue;
            }
            for from in misplaced {
                let to = self
                    .by_load()
                    .into_iter()
                    .find(|&to| self.may_replace_misplaced(i, from, to));
                match to {
                    Some(to) => self.replace(i, from, to),
                    None if !self.eligible.contains(&from) => plan.blocked.push(Blocked {
                        partition: p.partition.clone(),
                        reason: BlockReason::NoTarget { broker: from },
                    }),
                    // a rack that cannot be fixed stays as it is
                    None => {}
                }
            }
        }
    }

    /// The replicas of partition `i` that must go: on brokers that are not eligible, or in
    /// a rack an earlier replica has while an eligible broker's rack is unused.
    fn misplaced(&self, i: usize) -> Vec<BrokerId> {
        let current = &self.target[i];
        let mut misplaced: Vec<BrokerId> = current
            .iter()
            .copied()
            .filter(|b| !self.eligible.contains(b))
            .collect();
        if self.racks_known {
            let racks_free = self.eligible_racks > self.distinct_racks(current);
            if racks_free {
                let mut seen = BTreeSet::new();
                for b in current {
                    if let Some(rack) = self.rack_of.get(b) {
                        if !seen.insert(*rack) && !misplaced.contains(b) {
                            misplaced.push(*b);
                        }
                    }
                }
            }
        }
        misplaced
    }

    /// Like [`Self::may_replace`], and a replica that doubles up a rack must land in a rack
    /// the partition does not use.
    fn may_replace_misplaced(&self, i: usize, from: BrokerId, to: BrokerId) -> bool {
        if !self.may_replace(i, from, to) {
            return false;
        }
        if !self.racks_known || !self.eligible.contains(&from) {
            return true;
        }
        self.rack_of
            .get(&to)
            .is_some_and(|&r| !self.rack_used_by_others(&self.target[i], from, r))
    }

    /// Pass 2: even out replica counts.
    fn even_replicas(&mut self, moves_max: usize) {
        // A pair of brokers with nothing to move stays so for the rest of the plan: the
        // candidates are untouched partitions, whose replicas do not change.
        let mut exhausted: BTreeSet<(BrokerId, BrokerId)> = BTreeSet::new();
        while self.moves < moves_max {
            let order = self.by_load();
            let mut done = false;
            'search: for &from in order.iter().rev() {
                for &to in &order {
                    if self.replicas[&to] + 1 >= self.replicas[&from] {
                        break;
                    }
                    if exhausted.contains(&(from, to)) {
                        continue;
                    }
                    match self.replica_to_move(from, to) {
                        Some(i) => {
                            self.replace(i, from, to);
                            done = true;
                            break 'search;
                        }
                        None => {
                            exhausted.insert((from, to));
                        }
                    }
                }
            }
            if !done {
                break;
            }
        }
    }

    /// Of the partitions on `from` that may move to `to`: a leader's or a follower's as the
    /// leader counts ask, then one of the topic `from` holds the most replicas more of than
    /// `to` (two or more), then the one whose size is closest to half the brokers' disk-use
    /// gap, then the one whose bytes-in is closest to half their bytes-in gap.
    fn replica_to_move(&mut self, from: BrokerId, to: BrokerId) -> Option<usize> {
        let gap_half = self.disk[&from].saturating_sub(self.disk[&to]) / 2;
        let bytes_in_gap_half =
            self.replica_bytes_in[&from].saturating_sub(self.replica_bytes_in[&to]) / 2;
        // a leader's replica when `from` leads more than `to`, a follower's otherwise, so the
        // move does not unsettle the leader counts
        let move_leader = self.leaders[&from] > self.leaders[&to] + 1;
        let mut candidates = match self.pair_candidates.remove(&(from, to)) {
            Some(candidates) => candidates,
            None => self.hosted[&from]
                .iter()
                .copied()
                .filter(|&i| self.touched[i] == Touched::No)
                .filter(|&i| self.may_replace(i, from, to))
                .filter(|&i| {
                    let p = self.partitions[i];
                    move_keeps_min_isr(p, p.replicas.len()).is_ok()
                })
                .collect(),
        };
        candidates.retain(|&i| self.touched[i] == Touched::No);
        let topic_count = |b: BrokerId, i: usize| {
            self.topic_replicas
                .get(&(b, self.topic_of[i]))
                .copied()
                .unwrap_or(0)
        };
        let best = candidates.iter().copied().min_by_key(|&i| {
            let leads = self.target[i].first() == Some(&from);
            let topic_gap = topic_count(from, i).saturating_sub(topic_count(to, i));
            (
                leads != move_leader,
                std::cmp::Reverse(if topic_gap >= 2 { topic_gap } else { 0 }),
                self.partitions[i].size_bytes.abs_diff(gap_half),
                self.partitions[i]
                    .bytes_in_per_sec
                    .unwrap_or(0)
                    .abs_diff(bytes_in_gap_half),
                i,
            )
        });
        self.pair_candidates.insert((from, to), candidates);
        best
    }

    /// Pass 3: even out preferred leaders.
    fn even_leaders(&mut self, leader_changes_max: usize, moves_max: usize) {
        let mut changes = 0;
        while changes < leader_changes_max {
            let mut order: Vec<BrokerId> = self.eligible.iter().copied().collect();
            order.sort_by_key(|b| (self.leaders[b], self.leader_bytes_in[b], *b));
            let mut done = false;
            'search: for &from in order.iter().rev() {
                for &to in &order {
                    if self.leaders[&to] + 1 >= self.leaders[&from] {
                        break;
                    }
                    if let Some(i) = self.leadership_to_move(from, to) {
                        if self.touched[i] == Touched::No {
                            self.touched[i] = Touched::Reordered;
                            changes += 1;
                        }
                        self.make_preferred(i, to);
                        done = true;
                        break 'search;
                    }
                }
            }
            if !done {
                // no direct hand-over: along a chain of brokers, each taking one
                // leadership from the one before
                let Some(path) = self
                    .leadership_path()
                    .filter(|path| changes + path.len() <= leader_changes_max)
                else {
                    // nor along a chain: the leadership moves with its replica
                    if self.moves < moves_max && self.move_a_leadership(moves_max) {
                        continue;
                    }
                    break;
                };
                for (i, to) in path {
                    if self.touched[i] == Touched::No {
                        self.touched[i] = Touched::Reordered;
                        changes += 1;
                    }
                    self.make_preferred(i, to);
                }
            }
        }
    }

    /// Moves a replica a busiest leader leads to a broker leading at least two fewer that
    /// holds fewer replicas than it, or as many while a follower's replica moves back (so
    /// the replica counts end no less even).
    fn move_a_leadership(&mut self, moves_max: usize) -> bool {
        let mut order: Vec<BrokerId> = self.eligible.iter().copied().collect();
        order.sort_by_key(|b| (self.leaders[b], self.replicas[b], *b));
        for &from in order.iter().rev() {
            for &to in &order {
                if self.leaders[&to] + 2 > self.leaders[&from] {
                    break;
                }
                // the replica counts end no less even: `to` holds fewer, or as many and a
                // follower's replica goes back the other way
                let swap = match self.replicas[&to].cmp(&self.replicas[&from]) {
                    std::cmp::Ordering::Less => None,
                    std::cmp::Ordering::Equal if self.moves + 2 <= moves_max => {
                        match self.follower_to_move(to, from) {
                            Some(j) => Some(j),
                            None => continue,
                        }
                    }
                    _ => continue,
                };
                let candidate = self.hosted[&from]
                    .iter()
                    .copied()
                    .filter(|&i| self.touched[i] == Touched::No)
                    .filter(|&i| self.target[i].first() == Some(&from))
                    .filter(|&i| self.may_replace(i, from, to))
                    .find(|&i| {
                        let p = self.partitions[i];
                        move_keeps_min_isr(p, p.replicas.len()).is_ok()
                    });
                let Some(i) = candidate else {
                    continue;
                };
                if let Some(j) = swap.filter(|&j| j != i) {
                    self.replace(j, to, from);
                } else if swap.is_some() {
                    continue;
                }
                self.replace(i, from, to);
                return true;
            }
        }
        false
    }

    /// A partition whose follower replica on `from` may move to `to`.
    fn follower_to_move(&self, from: BrokerId, to: BrokerId) -> Option<usize> {
        self.hosted[&from]
            .iter()
            .copied()
            .filter(|&i| self.touched[i] == Touched::No)
            .filter(|&i| self.target[i].first() != Some(&from))
            .filter(|&i| self.may_replace(i, from, to))
            .find(|&i| {
                let p = self.partitions[i];
                move_keeps_min_isr(p, p.replicas.len()).is_ok()
            })
    }

    /// Whether partition `i`, as planned, may take `to` as its preferred leader.
    fn may_lead(&self, i: usize, to: BrokerId) -> bool {
        let p = self.partitions[i];
        if !self.eligible.contains(&to) || !self.target[i].contains(&to) {
            return false;
        }
        match self.touched[i] {
            // the move's completion elects among the new replicas anyway
            Touched::Moved => true,
            // an election needs an in-sync replica
            Touched::No | Touched::Reordered => {
                p.isr.contains(&to) && move_keeps_min_isr(p, p.replicas.len()).is_ok()
            }
        }
    }

    /// The shortest chain of leadership hand-overs from a busiest broker to one leading at
    /// least two fewer (breadth first over "a partition `a` leads may prefer `b`"): each step
    /// a partition and its new preferred leader. The brokers between keep their counts.
    fn leadership_path(&self) -> Option<Vec<(usize, BrokerId)>> {
        let mut edges: BTreeMap<BrokerId, BTreeMap<BrokerId, usize>> = BTreeMap::new();
        for (i, replicas) in self.target.iter().enumerate() {
            let Some(&from) = replicas.first() else {
                continue;
            };
            if !self.eligible.contains(&from) {
                continue;
            }
            for &to in &replicas[1..] {
                if self.may_lead(i, to) {
                    edges.entry(from).or_default().entry(to).or_insert(i);
                }
            }
        }
        let mut sources: Vec<BrokerId> = self.eligible.iter().copied().collect();
        sources.sort_by_key(|b| (std::cmp::Reverse(self.leaders[b]), *b));
        for source in sources {
            let mut parent: BTreeMap<BrokerId, (BrokerId, usize)> = BTreeMap::new();
            let mut queue = std::collections::VecDeque::from([source]);
            let mut visited = BTreeSet::from([source]);
            while let Some(at) = queue.pop_front() {
                if at != source && self.leaders[&at] + 2 <= self.leaders[&source] {
                    let mut path = Vec::new();
                    let mut node = at;
                    while node != source {
                        let (previous, i) = parent[&node];
                        path.push((i, node));
                        node = previous;
                    }
                    return Some(path);
                }
                for (&next, &i) in edges.get(&at).into_iter().flatten() {
                    if visited.insert(next) {
                        parent.insert(next, (at, i));
                        queue.push_back(next);
                    }
                }
            }
        }
        None
    }

    /// Of the partitions `from` leads that may take `to` as their preferred leader, the one
    /// whose bytes-in is closest to half the brokers' bytes-in gap.
    fn leadership_to_move(&self, from: BrokerId, to: BrokerId) -> Option<usize> {
        let gap_half = self.leader_bytes_in[&from].saturating_sub(self.leader_bytes_in[&to]) / 2;
        self.led[&from]
            .iter()
            .copied()
            .filter(|&i| self.may_lead(i, to))
            .min_by_key(|&i| {
                (
                    self.partitions[i]
                        .bytes_in_per_sec
                        .unwrap_or(0)
                        .abs_diff(gap_half),
                    i,
                )
            })
    }

    fn make_preferred(&mut self, i: usize, to: BrokerId) {
        let Some(position) = self.target[i].iter().position(|&b| b == to) else {
            return;
        };
        let from = self.target[i][0];
        self.target[i].swap(0, position);
        self.hand_over_leadership(i, from, to);
        let bytes_in = self.partitions[i].bytes_in_per_sec.unwrap_or(0);
        if let Some(n) = self.leaders.get_mut(&from) {
            *n -= 1;
        }
        if let Some(n) = self.leader_bytes_in.get_mut(&from) {
            *n = n.saturating_sub(bytes_in);
        }
        *self.leaders.entry(to).or_default() += 1;
        *self.leader_bytes_in.entry(to).or_default() += bytes_in;
    }

    fn hand_over_leadership(&mut self, i: usize, from: BrokerId, to: BrokerId) {
        if let Some(l) = self.led.get_mut(&from) {
            l.remove(&i);
        }
        if let Some(l) = self.led.get_mut(&to) {
            l.insert(i);
        }
    }

    fn finish(self, mut plan: Plan) -> Plan {
        for (i, p) in self.partitions.iter().enumerate() {
            let to = &self.target[i];
            if *to == p.replicas {
                continue;
            }
            let same_set = to.iter().collect::<BTreeSet<_>>() == p.replicas.iter().collect();
            if same_set {
                plan.leader_changes.push(LeaderChange {
                    partition: p.partition.clone(),
                    replicas_from: p.replicas.clone(),
                    replicas_to: to.clone(),
                });
            } else {
                let added = to.iter().filter(|b| !p.replicas.contains(b)).count() as u64;
                plan.moves.push(PartitionMove {
                    partition: p.partition.clone(),
                    replicas_from: p.replicas.clone(),
                    replicas_to: to.clone(),
                    bytes: added * p.size_bytes,
                });
            }
        }
        plan
    }
}

#[cfg(test)]
#[path = "plan_properties.rs"]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::model::BrokerModel;

    fn broker(id: BrokerId, rack: &str) -> BrokerModel {
        BrokerModel {
            id,
            rack: (!rack.is_empty()).then(|| rack.to_string()),
            disk_bytes: 0,
        }
    }

    fn partition(n: i32, replicas: &[BrokerId], min_isr: usize) -> PartitionModel {
        PartitionModel {
            partition: TopicPartition {
                topic: "orders".to_string(),
                partition: n,
            },
            replicas: replicas.to_vec(),
            leader: replicas.first().copied(),
            isr: replicas.to_vec(),
            min_isr,
            size_bytes: 1000,
            bytes_in_per_sec: None,
        }
    }

    #[test]
    fn a_new_broker_gets_its_share_of_replicas_and_leaders() {
        let model = ClusterModel {
            brokers: (0..4).map(|b| broker(b, "")).collect(),
            partitions: (0..12)
                .map(|n| {
                    let r = |k: i32| (n + k) % 3;
                    partition(n, &[r(0), r(1), r(2)], 2)
                })
                .collect(),
            drain: BTreeSet::new(),
        };
        let plan = plan(&model, PlanOptions::default());
        // 36 replicas over 4 brokers: 9 each, so 9 move to broker 3; 3 leaders each
        assert_eq!(plan.moves.len(), 9, "{plan:?}");
        assert!(plan.moves.iter().all(|m| m.added() == vec![3]));
        let mut after = model.clone();
        assume_done(&mut after, &plan);
        let balance = after.balance();
        assert!(balance.replicas.values().all(|&n| n == 9), "{balance:?}");
        assert!(balance.leaders.values().all(|&n| n == 3), "{balance:?}");
    }

    #[test]
    fn a_new_broker_gets_its_share_of_each_topic_not_only_of_the_first() {
        // 50 empty __consumer_offsets partitions sort before the 8 of "events", which hold
        // data: the new broker must get events' replicas too, not 43 offsets replicas
        let topic = |name: &str, n: i32, size_bytes: u64| {
            let r = |k: i32| (n + k) % 3;
            PartitionModel {
                partition: TopicPartition {
                    topic: name.to_string(),
                    partition: n,
                },
                size_bytes,
                ..partition(n, &[r(0), r(1), r(2)], 2)
            }
        };
        let model = ClusterModel {
            brokers: (0..4).map(|b| broker(b, "")).collect(),
            partitions: (0..50)
                .map(|n| topic("__consumer_offsets", n, 0))
                .chain((0..8).map(|n| topic("events", n, 5000)))
                .collect(),
            drain: BTreeSet::new(),
        };
        let plan = plan(&model, PlanOptions::default());
        let mut after = model.clone();
        assume_done(&mut after, &plan);
        let on_new = |name: &str| {
            after
                .partitions
                .iter()
                .filter(|p| p.partition.topic == name && p.replicas.contains(&3))
                .count()
        };
        // 24 replicas of events over 4 brokers: 6 each; within one of even
        assert!(
            (5..=7).contains(&on_new("events")),
            "the new broker holds {} of events' 24 replicas: {plan:?}",
            on_new("events")
        );
        assert!(
            (36..=39).contains(&on_new("__consumer_offsets")),
            "the new broker holds {} of __consumer_offsets' 150 replicas",
            on_new("__consumer_offsets")
        );
    }

    #[test]
    fn between_equal_partitions_the_busy_ones_spread() {
        // four partitions of the same size on broker 0, two of them busy: broker 1 gets
        // two, one busy and one quiet, not the first two
        let busy = |n: i32, bytes_in: u64| PartitionModel {
            bytes_in_per_sec: Some(bytes_in),
            ..partition(n, &[0], 1)
        };
        let model = ClusterModel {
            brokers: (0..2).map(|b| broker(b, "")).collect(),
            partitions: vec![busy(0, 1000), busy(1, 1000), busy(2, 0), busy(3, 0)],
            drain: BTreeSet::new(),
        };
        let plan = plan(&model, PlanOptions::default());
        let mut moved: Vec<i32> = plan.moves.iter().map(|m| m.partition.partition).collect();
        moved.sort_unstable();
        assert_eq!(moved, vec![0, 2], "{plan:?}");
    }

    #[test]
    fn draining_moves_every_replica_off_and_keeps_racks() {
        let model = ClusterModel {
            brokers: vec![
                broker(0, "a"),
                broker(1, "b"),
                broker(2, "c"),
                broker(3, "a"),
            ],
            partitions: (0..8)
                .map(|n| {
                    if n % 2 == 0 {
                        partition(n, &[3, 1, 2], 2)
                    } else {
                        partition(n, &[0, 1, 2], 2)
                    }
                })
                .collect(),
            drain: [3].into_iter().collect(),
        };
        let plan = plan(&model, PlanOptions::default());
        assert_eq!(plan.moves.len(), 4);
        // rack a has only broker 0 left
        assert!(plan
            .moves
            .iter()
            .all(|m| m.removed() == vec![3] && m.added() == vec![0]));
        assert!(plan.blocked.is_empty());
    }

    #[test]
    fn a_partition_short_of_min_isr_is_blocked_not_moved() {
        let mut short = partition(0, &[3, 1, 2], 2);
        short.isr = vec![3];
        let mut offline = partition(1, &[3, 1, 2], 2);
        offline.leader = None;
        let model = ClusterModel {
            brokers: (0..4).map(|b| broker(b, "")).collect(),
            partitions: vec![short, offline],
            drain: [3].into_iter().collect(),
        };
        let plan = plan(&model, PlanOptions::default());
        assert!(plan.moves.is_empty(), "{plan:?}");
        assert_eq!(
            plan.blocked
                .iter()
                .map(|b| b.reason.clone())
                .collect::<Vec<_>>(),
            vec![
                BlockReason::UnderMinIsr {
                    in_sync: 1,
                    min_isr: 2
                },
                BlockReason::Offline
            ]
        );
    }

    #[test]
    fn the_moves_cap_defers_the_rest() {
        let model = ClusterModel {
            brokers: (0..4).map(|b| broker(b, "")).collect(),
            partitions: (0..10).map(|n| partition(n, &[3, 1], 1)).collect(),
            drain: [3].into_iter().collect(),
        };
        let plan = plan(
            &model,
            PlanOptions {
                moves_max: 4,
                leader_changes_max: 10,
            },
        );
        assert_eq!(plan.moves.len(), 4);
        assert_eq!(plan.must_moves_deferred, 6);
    }
}
