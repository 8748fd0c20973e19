//! `executor`: one step of the balancer, as part of a KafkaCluster's reconcile (after the
//! roll, never while one is under way). A step is one of:
//!
//! - **follow**: reassignments are in flight (ListPartitionReassignments): report them and
//!   look again soon. Reassignments the operator did not submit are waited for too — it
//!   never moves partitions alongside someone else's moves;
//! - **finish**: the step's reassignments are done: clear the replication throttles it
//!   set (the brokers and topics are recorded in `status.balance`, so an operator restart
//!   still clears them), then elect the preferred leaders that are not leading;
//! - **plan**: if a balance should start or go on ([`trigger`]), plan from the cluster as
//!   it is now, capped at `spec.balancing.maxMovesPerStep`, set the throttles, submit the
//!   moves (AlterPartitionReassignments) and requeue soon. An empty plan ends the balance.
//!
//! The outcome goes into `status.balance`, the `Balancing` condition and an Event per step;
//! errors from the brokers are reported there and retried at the next reconcile, never
//! failing the rest of the reconcile. Progress: the moves and bytes remaining (the step in
//! flight and the next one, from the partitions' sizes), the bytes the finished steps
//! copied, and an ETA at the rate observed since the balance began, the step in flight's
//! bytes included: what its new replicas hold so far ([`eta_seconds`]).

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::{Resource, ResourceExt};

use crate::crd::conditions;
use crate::crd::kafka_cluster::{
    BalanceState, BalanceStatus, BalancingMode, BalancingSpec, KafkaClusterStatus,
};
use crate::crd::KafkaCluster;
use crate::kafka_admin::{AdminEndpoint, KafkaAdmin};

use super::model::{BrokerId, ClusterModel};
use super::plan::{assume_done, plan, Plan, PlanOptions};
use super::throttle::{throttled_brokers, throttled_replicas};

/// The condition the balancer reports in.
pub const BALANCING: &str = "Balancing";
/// How soon moves in flight are looked at again.
pub const REQUEUE_MOVING: Duration = Duration::from_secs(5);
/// How soon a blocked balance, or one waiting for others' reassignments, is looked at again.
pub const REQUEUE_BLOCKED: Duration = Duration::from_secs(30);
/// The most blocked partitions the status message names.
const BLOCKED_NAMED_MAX: usize = 5;

/// Why a balance starts or goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// A balance is under way: it goes on until a plan is empty.
    Continuing,
    /// A registered broker holds no replicas while others hold more than their share (a
    /// pool grew).
    EmptyBroker(BrokerId),
    /// The replica skew passed `skewThresholdPercent` (continuous mode).
    Skew { percent: u32, threshold: u32 },
    /// A scale-in's leaving brokers still hold replicas.
    Drain(BTreeSet<BrokerId>),
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trigger::Continuing => write!(f, "the balance under way goes on"),
            Trigger::EmptyBroker(b) => write!(f, "broker {b} holds no replicas"),
            Trigger::Drain(brokers) => write!(
                f,
                "brokers {} leave the cluster once they hold no replicas",
                super::scale_in::describe(brokers)
            ),
            Trigger::Skew { percent, threshold } => write!(
                f,
                "the busiest broker holds {percent}% more replicas than the mean (threshold {threshold}%)"
            ),
        }
    }
}

/// Whether a balance should start (or go on) for `model`; `running` when one is under way.
/// A scale-in's brokers (`model.drain`) are drained whatever the mode; otherwise never when
/// `disabled`, and never when the replica counts already meet the `Balance` criterion (a
/// broker may stay empty when there are fewer replicas than brokers).
pub fn trigger(spec: &BalancingSpec, running: bool, model: &ClusterModel) -> Option<Trigger> {
    let draining = model
        .partitions
        .iter()
        .any(|p| p.replicas.iter().any(|b| model.drain.contains(b)));
    if draining {
        return Some(Trigger::Drain(model.drain.clone()));
    }
    if spec.mode == BalancingMode::Disabled {
        return None;
    }
    if running {
        return Some(Trigger::Continuing);
    }
    let balance = model.balance();
    if balance.replicas_balanced() {
        return None;
    }
    if let Some((&empty, _)) = balance.replicas.iter().find(|(_, &n)| n == 0) {
        return Some(Trigger::EmptyBroker(empty));
    }
    if spec.mode == BalancingMode::Continuous {
        let percent = balance.replica_skew_percent();
        if percent > spec.skew_threshold_percent {
            return Some(Trigger::Skew {
                percent,
                threshold: spec.skew_threshold_percent,
            });
        }
    }
    None
}

/// The state a plan leaves the balancer in, and what the status says.
pub fn state_after_plan(plan: &Plan) -> (BalanceState, String) {
    if !plan.is_empty() {
        let bytes = plan.bytes();
        return (
            BalanceState::Moving,
            format!(
                "moving {} partition(s) ({bytes} bytes to copy), {} preferred leader change(s)",
                plan.moves.len(),
                plan.leader_changes.len()
            ),
        );
    }
    if plan.blocked.is_empty() {
        return (
            BalanceState::Idle,
            "balanced: replica and leader counts are within 10% of even".to_string(),
        );
    }
    let named: Vec<String> = plan
        .blocked
        .iter()
        .take(BLOCKED_NAMED_MAX)
        .map(|b| format!("{}: {}", b.partition, b.reason))
        .collect();
    let more = plan.blocked.len().saturating_sub(BLOCKED_NAMED_MAX);
    let mut message = format!(
        "{} partition(s) cannot move now: {}",
        plan.blocked.len(),
        named.join("; ")
    );
    if more > 0 {
        message.push_str(&format!(" (and {more} more)"));
    }
    (BalanceState::Blocked, message)
}

/// Seconds until `bytes_remaining` are copied at the rate `bytes_done` over `elapsed`
/// shows (the balance's average so far); `None` before any byte was copied, as no rate is
/// known yet. Nothing left: 0.
pub fn eta_seconds(bytes_done: i64, bytes_remaining: i64, elapsed: Duration) -> Option<i64> {
    if bytes_remaining <= 0 {
        return Some(0);
    }
    let done = u128::try_from(bytes_done).ok().filter(|&d| d > 0)?;
    let elapsed_ms = elapsed.as_millis();
    if elapsed_ms == 0 {
        return None;
    }
    let remaining = u128::try_from(bytes_remaining).ok()?;
    // remaining / (done / elapsed), rounded up to whole seconds
    let eta_ms = remaining.saturating_mul(elapsed_ms).div_ceil(done);
    Some(i64::try_from(eta_ms.div_ceil(1000)).unwrap_or(i64::MAX))
}

/// `balance`'s ETA as of `now`, the step in flight having copied `copying` bytes so far:
/// only while moving, with a start and bytes remaining. The step in flight counts, so the
/// first step has an ETA once its new replicas hold bytes.
fn eta_now(balance: &BalanceStatus, copying: i64, now: Timestamp) -> Option<i64> {
    if balance.state != BalanceState::Moving {
        return None;
    }
    let started = balance.started_at.as_ref()?;
    let remaining = balance.bytes_remaining?;
    // a new replica can hold more than was planned (the partition grew): not past the step
    let copying = copying.clamp(0, balance.bytes_to_move.unwrap_or(0).max(0));
    let elapsed = Duration::try_from(now.duration_since(started.0)).unwrap_or_default();
    eta_seconds(
        balance.bytes_done.saturating_add(copying),
        remaining.saturating_sub(copying),
        elapsed,
    )
}

/// The plan limits of `spec`.
pub fn plan_options(spec: &BalancingSpec) -> PlanOptions {
    PlanOptions {
        moves_max: usize::try_from(spec.max_moves_per_step.max(1)).unwrap_or(1),
        ..PlanOptions::default()
    }
}

/// Whether moves the balancer submitted may still be in flight (no roll may start).
pub fn moves_in_flight(status: &KafkaClusterStatus) -> bool {
    status
        .balance
        .as_ref()
        .is_some_and(|b| b.state == BalanceState::Moving && b.moves_in_flight > 0)
}

/// One step of the balancer for `cluster`, its brokers reached at `endpoint`, `drain` the
/// brokers a scale-in empties; starts nothing new unless `nodes_ready`. The requeue it
/// wants, if sooner than the default.
pub async fn step(
    context: &crate::controller::ControllerContext,
    cluster: &KafkaCluster,
    endpoint: &AdminEndpoint,
    nodes_ready: bool,
    drain: &BTreeSet<BrokerId>,
    status: &mut KafkaClusterStatus,
) -> Option<Duration> {
    let generation = cluster.meta().generation;
    let mut balance = status.balance.clone().unwrap_or_default();
    let mut copying = 0;
    let outcome = run_step(
        context,
        cluster,
        endpoint,
        nodes_ready,
        drain,
        &mut balance,
        &mut copying,
    )
    .await;
    let mut requeue = match outcome {
        Ok(requeue) => requeue,
        Err(message) => {
            tracing::info!(cluster = %cluster.name_any(), %message, "balancing step failed");
            balance.message = Some(message.clone());
            publish(context, cluster, true, "BalanceFailed", message).await;
            Some(REQUEUE_BLOCKED)
        }
    };
    balance.eta_seconds = eta_now(&balance, copying, Timestamp::now());
    balance.draining_brokers = drain.iter().copied().collect();
    if !drain.is_empty() {
        // the pool shrinks at the next reconcile that finds them empty: look again soon
        requeue = Some(requeue.map_or(REQUEUE_MOVING, |r| r.min(REQUEUE_MOVING)));
        let prefix = format!("draining brokers {}: ", super::scale_in::describe(drain));
        let said = balance.message.take().unwrap_or_default();
        let said = said.strip_prefix(&prefix).unwrap_or(&said).to_string();
        balance.message = Some(format!("{prefix}{said}"));
    }
    let (value, reason) = match balance.state {
        BalanceState::Idle => (false, "Balanced"),
        BalanceState::Moving => (true, "Moving"),
        BalanceState::Blocked => (true, "Blocked"),
    };
    conditions::set_condition(
        &mut status.conditions,
        conditions::condition(
            BALANCING,
            value,
            reason,
            balance.message.clone().unwrap_or_default(),
            generation,
        ),
    );
    // a cluster that never needed balancing gets no status.balance
    if balance != BalanceStatus::default() || status.balance.is_some() {
        status.balance = Some(balance);
    }
    requeue
}

async fn run_step(
    context: &crate::controller::ControllerContext,
    cluster: &KafkaCluster,
    endpoint: &AdminEndpoint,
    nodes_ready: bool,
    drain: &BTreeSet<BrokerId>,
    balance: &mut BalanceStatus,
    copying: &mut i64,
) -> Result<Option<Duration>, String> {
    let spec = &cluster.spec.balancing.clone().unwrap_or_default();
    let admin = KafkaAdmin::new(endpoint).map_err(|e| e.to_string())?;
    let ongoing = admin
        .list_partition_reassignments()
        .await
        .map_err(|e| format!("following the reassignments: {e}"))?;
    if !ongoing.is_empty() {
        if balance.state == BalanceState::Moving {
            // progress for the ETA, best effort: a broker that does not answer now is asked
            // again at the next look
            match admin.bytes_copied(&ongoing).await {
                Ok(bytes) => *copying = i64::try_from(bytes).unwrap_or(i64::MAX),
                Err(e) => {
                    tracing::debug!(cluster = %cluster.name_any(), error = %e, "reading the moves' progress")
                }
            }
            balance.message = Some(format!(
                "{} reassignment(s) in flight ({} moved so far)",
                ongoing.len(),
                balance.moves_done
            ));
            return Ok(Some(REQUEUE_MOVING));
        }
        if spec.mode != BalancingMode::Disabled {
            balance.message = Some(format!(
                "waiting for {} reassignment(s) the operator did not submit",
                ongoing.len()
            ));
        }
        return Ok(Some(REQUEUE_BLOCKED));
    }
    let running = balance.state == BalanceState::Moving;
    if running && (balance.moves_in_flight > 0 || !balance.throttled_brokers.is_empty()) {
        finish_step(&admin, balance).await?;
        publish(
            context,
            cluster,
            false,
            "BalanceStepDone",
            format!(
                "the step's reassignments are done and its throttles cleared ({} partition(s) moved so far)",
                balance.moves_done
            ),
        )
        .await;
    }
    // no new step while a node is down or starting: its replicas may be the ones to move
    if !nodes_ready {
        return Ok(None);
    }
    let mut model = admin
        .cluster_model(drain)
        .await
        .map_err(|e| format!("reading the cluster model: {e}"))?;
    context.bytes_in.observe(
        &crate::controller::key(cluster),
        &mut model,
        std::time::Instant::now(),
    );
    let Some(why) = trigger(spec, running, &model) else {
        if balance.state != BalanceState::Idle {
            balance.state = BalanceState::Idle;
            balance.moves_remaining = 0;
            balance.bytes_to_move = None;
            balance.bytes_remaining = None;
            balance.message = Some(if spec.mode == BalancingMode::Disabled {
                "balancing is disabled".to_string()
            } else {
                "balanced: replica counts are within 10% of even".to_string()
            });
        }
        return Ok(None);
    };
    let options = plan_options(spec);
    let step = plan(&model, options);
    let (state, message) = state_after_plan(&step);
    match state {
        BalanceState::Idle | BalanceState::Blocked => {
            let was = balance.state;
            balance.state = state;
            balance.moves_remaining = 0;
            balance.bytes_to_move = None;
            balance.bytes_remaining = None;
            balance.message = Some(message.clone());
            if state == BalanceState::Idle {
                if was == BalanceState::Moving {
                    publish(
                        context,
                        cluster,
                        false,
                        "BalanceComplete",
                        format!("{message} ({} partition(s) moved)", balance.moves_done),
                    )
                    .await;
                }
                return Ok(None);
            }
            if was != BalanceState::Blocked {
                publish(context, cluster, true, "BalanceBlocked", message).await;
            }
            return Ok(Some(REQUEUE_BLOCKED));
        }
        BalanceState::Moving => {}
    }
    if !running {
        balance.moves_done = 0;
        balance.bytes_done = 0;
        balance.started_at = Some(Time(Timestamp::now()));
    }
    let brokers = throttled_brokers(&step.moves);
    let topics = throttled_replicas(&step.moves);
    // recorded before they are set: a failure half-way is still cleared by the next step
    balance.state = BalanceState::Moving;
    balance.moves_in_flight = 0;
    balance.throttled_brokers = brokers.iter().copied().collect();
    balance.throttled_topics = topics.keys().cloned().collect();
    let rate = u64::try_from(spec.throttle_bytes_per_second).unwrap_or(1);
    for &b in &brokers {
        admin
            .set_replication_throttle_rate(b, Some(rate))
            .await
            .map_err(|e| format!("throttling broker {b}'s replication: {e}"))?;
    }
    for (topic, throttle) in &topics {
        admin
            .set_throttled_replicas(
                topic,
                Some((throttle.leader_config(), throttle.follower_config())),
            )
            .await
            .map_err(|e| format!("throttling {topic}'s moving replicas: {e}"))?;
    }
    let targets: Vec<_> = step
        .moves
        .iter()
        .map(|m| (m.partition.clone(), m.replicas_to.clone()))
        .chain(
            step.leader_changes
                .iter()
                .map(|c| (c.partition.clone(), c.replicas_to.clone())),
        )
        .collect();
    let refused = admin
        .alter_partition_reassignments(&targets)
        .await
        .map_err(|e| format!("submitting the reassignments: {e}"))?;
    let submitted = targets.len() - refused.len().min(targets.len());
    balance.moves_in_flight = i64::try_from(submitted).unwrap_or(i64::MAX);
    let mut after = model.clone();
    assume_done(&mut after, &step);
    let next = plan(&after, options);
    balance.moves_remaining = balance.moves_in_flight
        + i64::try_from(next.moves.len() + next.leader_changes.len()).unwrap_or(i64::MAX);
    balance.bytes_to_move = i64::try_from(step.bytes()).ok();
    balance.bytes_remaining = i64::try_from(step.bytes().saturating_add(next.bytes())).ok();
    let mut note = format!(
        "{message}, replication throttled at {rate} bytes/s on broker(s) {}: {why}",
        brokers
            .iter()
            .map(|b| b.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !refused.is_empty() {
        let named: Vec<String> = refused
            .iter()
            .take(BLOCKED_NAMED_MAX)
            .map(|(p, e)| format!("{p}: {e}"))
            .collect();
        note.push_str(&format!(
            "; the controller refused {} of them ({})",
            refused.len(),
            named.join("; ")
        ));
    }
    balance.message = Some(note.clone());
    publish(context, cluster, !refused.is_empty(), "BalanceStep", note).await;
    Ok(Some(REQUEUE_MOVING))
}

/// Clears the throttles the finished step set and elects the preferred leaders that do not
/// lead; counts the step's moves as done.
async fn finish_step(admin: &KafkaAdmin, balance: &mut BalanceStatus) -> Result<(), String> {
    for &b in &balance.throttled_brokers {
        admin
            .set_replication_throttle_rate(b, None)
            .await
            .map_err(|e| format!("clearing broker {b}'s replication throttle: {e}"))?;
    }
    for topic in &balance.throttled_topics {
        admin
            .set_throttled_replicas(topic, None)
            .await
            .map_err(|e| format!("clearing {topic}'s throttled replicas: {e}"))?;
    }
    balance.throttled_brokers.clear();
    balance.throttled_topics.clear();
    let model = admin
        .cluster_model(&BTreeSet::new())
        .await
        .map_err(|e| format!("reading the cluster model: {e}"))?;
    let preferred: Vec<_> = model
        .partitions
        .iter()
        .filter(|p| {
            p.replicas
                .first()
                .is_some_and(|&first| p.leader != Some(first) && p.isr.contains(&first))
        })
        .map(|p| p.partition.clone())
        .collect();
    if !preferred.is_empty() {
        let failed = admin
            .elect_preferred_leaders(&preferred)
            .await
            .map_err(|e| format!("electing the preferred leaders: {e}"))?;
        for (partition, error) in failed {
            // the next step's plan sees who leads; nothing is lost
            tracing::info!(%partition, %error, "preferred leader not elected");
        }
    }
    balance.moves_done += balance.moves_in_flight;
    balance.moves_in_flight = 0;
    let copied = balance.bytes_to_move.take().unwrap_or(0);
    balance.bytes_done = balance.bytes_done.saturating_add(copied);
    balance.bytes_remaining = balance
        .bytes_remaining
        .map(|r| r.saturating_sub(copied).max(0));
    Ok(())
}

async fn publish(
    context: &crate::controller::ControllerContext,
    cluster: &KafkaCluster,
    warning: bool,
    reason: &str,
    note: String,
) {
    // every step's note is news of its own: not folded into a series
    crate::events::publish_distinct(
        &context.client,
        &cluster.object_ref(&()),
        warning,
        reason,
        "Balance",
        note,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brokers 0..`brokers`, one partition of topic `t` per entry of `replicas`.
    fn model(brokers: usize, replicas: &[&[BrokerId]]) -> ClusterModel {
        let ids: Vec<BrokerId> = (0..brokers)
            .map(|id| BrokerId::try_from(id).unwrap_or_default())
            .collect();
        let partitions: Vec<(&str, &[BrokerId])> = replicas.iter().map(|r| ("t", *r)).collect();
        crate::balance::model::test_cluster(&ids, &partitions)
    }

    fn spec(mode: BalancingMode) -> BalancingSpec {
        BalancingSpec {
            mode,
            ..BalancingSpec::default()
        }
    }

    /// Three brokers holding 8 partitions of RF 3, broker 3 new and empty.
    fn scaled_out() -> ClusterModel {
        model(4, &[&[0, 1, 2][..]; 8])
    }

    #[test]
    fn a_new_empty_broker_starts_a_balance_by_default() {
        assert_eq!(
            trigger(&BalancingSpec::default(), false, &scaled_out()),
            Some(Trigger::EmptyBroker(3))
        );
    }

    #[test]
    fn disabled_never_starts_nor_goes_on() {
        assert_eq!(
            trigger(&spec(BalancingMode::Disabled), false, &scaled_out()),
            None
        );
        assert_eq!(
            trigger(&spec(BalancingMode::Disabled), true, &scaled_out()),
            None
        );
    }

    #[test]
    fn a_scale_in_drains_its_brokers_whatever_the_mode_and_then_stops() {
        let mut leaving = model(4, &[&[0, 1, 3][..], &[3, 2, 1][..], &[0, 1, 2][..]]);
        leaving.drain = [3].into_iter().collect();
        for mode in [BalancingMode::OnScaleOut, BalancingMode::Disabled] {
            assert_eq!(
                trigger(&spec(mode), false, &leaving),
                Some(Trigger::Drain([3].into_iter().collect())),
                "{mode:?}"
            );
        }
        let step = plan(&leaving, plan_options(&BalancingSpec::default()));
        assert!(
            step.moves.iter().all(|m| !m.replicas_to.contains(&3)) && step.moves.len() == 2,
            "both partitions on broker 3 move off it: {step:?}"
        );
        let mut drained = leaving.clone();
        assume_done(&mut drained, &step);
        assert_eq!(
            trigger(&spec(BalancingMode::Disabled), false, &drained),
            None,
            "nothing left on broker 3"
        );
    }

    #[test]
    fn a_balance_under_way_goes_on_until_a_plan_is_empty() {
        let even = model(3, &[&[0, 1, 2][..]; 4]);
        assert_eq!(
            trigger(&BalancingSpec::default(), true, &even),
            Some(Trigger::Continuing)
        );
    }

    #[test]
    fn an_empty_broker_is_left_when_there_are_fewer_replicas_than_brokers() {
        // one partition of RF 3 on four brokers: balanced as it is
        assert_eq!(
            trigger(&BalancingSpec::default(), false, &model(4, &[&[0, 1, 2]])),
            None
        );
    }

    #[test]
    fn skew_starts_a_balance_only_in_continuous_mode_and_past_the_threshold() {
        // broker 0 holds 6 replicas, 1 and 2 three each: 50% over the mean of 4
        let skewed = model(3, &[&[0, 1], &[0, 2], &[0, 1], &[0, 2], &[0, 1], &[0, 2]]);
        assert_eq!(
            trigger(&spec(BalancingMode::OnScaleOut), false, &skewed),
            None
        );
        assert_eq!(
            trigger(&spec(BalancingMode::Continuous), false, &skewed),
            Some(Trigger::Skew {
                percent: 50,
                threshold: 20
            })
        );
        let tolerant = BalancingSpec {
            mode: BalancingMode::Continuous,
            skew_threshold_percent: 60,
            ..BalancingSpec::default()
        };
        assert_eq!(trigger(&tolerant, false, &skewed), None);
    }

    #[test]
    fn a_plan_sets_the_state_moving_empty_idle_and_only_blocked_blocked() {
        let scaled = scaled_out();
        let moving = plan(&scaled, plan_options(&BalancingSpec::default()));
        assert_eq!(state_after_plan(&moving).0, BalanceState::Moving);
        assert!(moving.moves.len() <= 10, "the default cap of 10 moves");
        assert_eq!(state_after_plan(&Plan::default()).0, BalanceState::Idle);
        // every replica of the only partition is out of sync: it cannot move
        let mut stuck = model(4, &[&[0, 1, 2]]);
        stuck.drain = [0].into_iter().collect();
        stuck.partitions[0].isr = vec![0];
        stuck.partitions[0].min_isr = 2;
        let blocked = plan(&stuck, PlanOptions::default());
        let (state, message) = state_after_plan(&blocked);
        assert_eq!(state, BalanceState::Blocked, "{blocked:?}");
        assert!(
            message.contains("t-0"),
            "the message names the partition: {message}"
        );
    }

    #[test]
    fn moves_are_in_flight_only_while_a_step_runs() {
        let mut status = KafkaClusterStatus::default();
        assert!(!moves_in_flight(&status));
        status.balance = Some(BalanceStatus {
            state: BalanceState::Moving,
            moves_in_flight: 3,
            ..BalanceStatus::default()
        });
        assert!(moves_in_flight(&status));
        // between two steps of a balance: nothing submitted
        status.balance = Some(BalanceStatus {
            state: BalanceState::Moving,
            ..BalanceStatus::default()
        });
        assert!(!moves_in_flight(&status));
        status.balance = Some(BalanceStatus::default());
        assert!(!moves_in_flight(&status));
    }

    #[test]
    fn the_eta_is_the_bytes_remaining_at_the_rate_observed_so_far() {
        // 1000 bytes in 10 s: 100 bytes/s, 2500 bytes left take 25 s
        assert_eq!(eta_seconds(1000, 2500, Duration::from_secs(10)), Some(25));
        // rounded up: 1 byte left at 100 bytes/s is a second, not none
        assert_eq!(eta_seconds(1000, 1, Duration::from_secs(10)), Some(1));
        assert_eq!(
            eta_seconds(0, 2500, Duration::from_secs(10)),
            None,
            "no rate before anything was copied"
        );
        assert_eq!(eta_seconds(1000, 2500, Duration::ZERO), None);
        assert_eq!(eta_seconds(0, 0, Duration::ZERO), Some(0), "nothing left");
        assert_eq!(
            eta_seconds(1, i64::MAX, Duration::from_secs(u64::MAX / 1000)),
            Some(i64::MAX),
            "a huge estimate saturates instead of wrapping"
        );
    }

    #[test]
    fn the_eta_is_told_only_while_moving() {
        let start = Timestamp::from_second(1_000_000).expect("a timestamp");
        let later = Timestamp::from_second(1_000_010).expect("a timestamp");
        let mut balance = BalanceStatus {
            state: BalanceState::Moving,
            bytes_done: 1000,
            bytes_remaining: Some(500),
            started_at: Some(Time(start)),
            ..BalanceStatus::default()
        };
        assert_eq!(eta_now(&balance, 0, later), Some(5));
        // a clock that went back gives no rate rather than a wrong one
        assert_eq!(eta_now(&balance, 0, start), None);
        balance.state = BalanceState::Blocked;
        assert_eq!(eta_now(&balance, 0, later), None);
        balance.state = BalanceState::Moving;
        balance.started_at = None;
        assert_eq!(eta_now(&balance, 0, later), None);
    }

    #[test]
    fn the_first_step_has_an_eta_from_what_its_new_replicas_hold() {
        let start = Timestamp::from_second(1_000_000).expect("a timestamp");
        let later = Timestamp::from_second(1_000_010).expect("a timestamp");
        // the first step: nothing finished yet, 1000 of its 3000 bytes copied in 10 s
        let first = BalanceStatus {
            state: BalanceState::Moving,
            bytes_done: 0,
            bytes_to_move: Some(3000),
            bytes_remaining: Some(5000),
            started_at: Some(Time(start)),
            ..BalanceStatus::default()
        };
        assert_eq!(
            eta_now(&first, 0, later),
            None,
            "no rate before a byte is copied"
        );
        // 100 bytes/s, 4000 bytes left
        assert_eq!(eta_now(&first, 1000, later), Some(40));
        // new replicas holding more than the step planned (the partitions grew) count as
        // the step's bytes, never more
        assert_eq!(eta_now(&first, 9000, later), Some(7));
        // a later step: the finished steps' bytes and the step in flight together
        let later_step = BalanceStatus {
            bytes_done: 2000,
            bytes_to_move: Some(1000),
            bytes_remaining: Some(1500),
            ..first
        };
        // 2500 bytes in 10 s, 1000 left
        assert_eq!(eta_now(&later_step, 500, later), Some(4));
    }
}
