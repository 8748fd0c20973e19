//! Consumer group rebalance time: classic protocol, range assignor, librdkafka consumers.
//!
//! Every partition first gets one record, so "a consumer received a record" means it owns
//! partitions and fetched from them. Each consumer runs on its own thread (librdkafka serves
//! rebalances on `poll`), publishing its current assignment; the main thread watches the
//! shared state with a deadline.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;

use crate::clients;
use crate::error::BenchError;
use crate::scenario::{Acks, GroupRebalanceSpec, ThroughputSpec};
use crate::throughput;

/// Consumer poll wait; each consumer thread re-checks its stop flags at least this often.
const MEMBER_POLL_MS: u64 = 20;
/// How often the main thread re-reads the members' state.
const WATCH_INTERVAL_MS: u64 = 5;
/// Bound on seeding one record per partition.
const SEED_TIMEOUT_S: u64 = 30;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GroupRebalanceResult {
    /// First subscribe → every partition assigned to exactly one consumer.
    pub(crate) all_assigned: Duration,
    /// First subscribe → all assigned and every consumer has received a record.
    pub(crate) all_received: Duration,
    /// The leaving consumer starts closing → the others own every partition again.
    pub(crate) settle_after_leave: Duration,
}

/// What one member thread publishes.
#[derive(Debug, Clone, Default)]
struct MemberState {
    assigned: Vec<i32>,
    received_record: bool,
    /// When the member started closing (the leave), if it was asked to leave.
    leaving_at: Option<Instant>,
    last_error: Option<String>,
}

/// Shared between the watcher and the member threads.
struct Group {
    members: Mutex<Vec<MemberState>>,
    leave: Vec<AtomicBool>,
    stop: AtomicBool,
}

impl Group {
    fn snapshot(&self) -> Vec<MemberState> {
        self.members
            .lock()
            .map(|m| m.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    fn update(&self, index: usize, change: impl FnOnce(&mut MemberState)) {
        let mut members = self
            .members
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(member) = members.get_mut(index) {
            change(member);
        }
    }
}

/// True when the members still in the group (not leaving) own every partition exactly once.
fn covers_all_partitions(members: &[MemberState], partitions: i32) -> bool {
    let mut owned = BTreeSet::new();
    let mut count = 0usize;
    for member in members.iter().filter(|m| m.leaving_at.is_none()) {
        count += member.assigned.len();
        owned.extend(member.assigned.iter().copied());
    }
    let expected = partitions.unsigned_abs() as usize;
    count == expected
        && owned.len() == expected
        && owned.iter().all(|p| (0..partitions).contains(p))
}

fn consumer_config(bootstrap: &str, group_id: &str) -> rdkafka::ClientConfig {
    let mut config = clients::base_config(bootstrap);
    config
        .set("group.id", group_id)
        .set("group.protocol", "classic")
        .set("partition.assignment.strategy", "range")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    config
}

pub(crate) fn run(
    bootstrap: &str,
    topic: &str,
    spec: &GroupRebalanceSpec,
    replication_factor: i32,
) -> Result<GroupRebalanceResult, BenchError> {
    clients::create_topics(
        bootstrap,
        &[topic.to_string()],
        spec.partitions,
        replication_factor,
    )?;
    seed_one_record_per_partition(bootstrap, topic, spec.partitions)?;

    let group_id = format!("{topic}-group");
    let consumers: Vec<BaseConsumer> = (0..spec.consumers)
        .map(|_| consumer_config(bootstrap, &group_id).create())
        .collect::<Result<_, _>>()?;
    let group = Group {
        members: Mutex::new(vec![MemberState::default(); spec.consumers]),
        leave: (0..spec.consumers)
            .map(|_| AtomicBool::new(false))
            .collect(),
        stop: AtomicBool::new(false),
    };
    // Members poll until told to stop; the watcher needs at most two phases.
    let member_polls_max =
        (spec.phase_timeout * 2 + Duration::from_secs(10)).as_millis() / u128::from(MEMBER_POLL_MS);
    let leaver = spec.consumers.saturating_sub(1);

    std::thread::scope(|scope| {
        let started = Instant::now();
        for (index, consumer) in consumers.into_iter().enumerate() {
            let group = &group;
            scope.spawn(move || member(index, consumer, topic, group, member_polls_max));
        }
        let outcome = watch(&group, spec, started, leaver);
        group.stop.store(true, Ordering::Relaxed);
        outcome
    })
}

/// The watcher: phase 1 (join) then phase 2 (one member leaves).
fn watch(
    group: &Group,
    spec: &GroupRebalanceSpec,
    started: Instant,
    leaver: usize,
) -> Result<GroupRebalanceResult, BenchError> {
    let mut all_assigned = None;
    let all_received = wait_for(
        group,
        spec.phase_timeout,
        "every partition assigned and every consumer holding a record",
        |members| {
            if all_assigned.is_none() && covers_all_partitions(members, spec.partitions) {
                all_assigned = Some(started.elapsed());
            }
            covers_all_partitions(members, spec.partitions)
                && members.iter().all(|m| m.received_record)
        },
    )
    .map(|_| started.elapsed())?;
    tracing::info!(
        all_assigned_ms = all_assigned.map(|d| d.as_millis() as u64),
        all_received_ms = all_received.as_millis() as u64,
        "group joined; one consumer leaves"
    );

    if let Some(flag) = group.leave.get(leaver) {
        flag.store(true, Ordering::Relaxed);
    }
    let settled_at = wait_for(
        group,
        spec.phase_timeout,
        "the remaining consumers to own every partition after one left",
        |members| {
            members.get(leaver).is_some_and(|m| m.leaving_at.is_some())
                && covers_all_partitions(members, spec.partitions)
        },
    )?;
    let leaving_at = group
        .snapshot()
        .get(leaver)
        .and_then(|m| m.leaving_at)
        .unwrap_or(settled_at);
    Ok(GroupRebalanceResult {
        all_assigned: all_assigned.unwrap_or(all_received),
        all_received,
        settle_after_leave: settled_at.saturating_duration_since(leaving_at),
    })
}

/// Re-reads the members every `WATCH_INTERVAL_MS` until `done` holds or `timeout` passes;
/// returns when it held.
fn wait_for(
    group: &Group,
    timeout: Duration,
    what: &str,
    mut done: impl FnMut(&[MemberState]) -> bool,
) -> Result<Instant, BenchError> {
    let started = Instant::now();
    let checks_max = timeout.as_millis() / u128::from(WATCH_INTERVAL_MS) + 1;
    let mut members = group.snapshot();
    for _ in 0..checks_max {
        members = group.snapshot();
        if done(&members) {
            return Ok(Instant::now());
        }
        if started.elapsed() >= timeout {
            break;
        }
        std::thread::sleep(Duration::from_millis(WATCH_INTERVAL_MS));
    }
    let state: Vec<String> = members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            format!(
                "#{i}: {} partitions{}{}",
                m.assigned.len(),
                if m.received_record {
                    ", has a record"
                } else {
                    ""
                },
                m.last_error
                    .as_deref()
                    .map(|e| format!(", last error {e}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    Err(BenchError::Timeout {
        what: format!("{what} (members: {})", state.join("; ")),
        waited_ms: started.elapsed().as_millis(),
    })
}

/// One group member: subscribe, poll, publish the assignment; close when told to leave.
fn member(index: usize, consumer: BaseConsumer, topic: &str, group: &Group, polls_max: u128) {
    if let Err(e) = consumer.subscribe(&[topic]) {
        group.update(index, |m| m.last_error = Some(format!("subscribe: {e}")));
        return;
    }
    for _ in 0..polls_max {
        if group.stop.load(Ordering::Relaxed) {
            break;
        }
        if group
            .leave
            .get(index)
            .is_some_and(|f| f.load(Ordering::Relaxed))
        {
            group.update(index, |m| m.leaving_at = Some(Instant::now()));
            // Dropping a subscribed consumer closes it: revoke, LeaveGroup, destroy.
            drop(consumer);
            group.update(index, |m| m.assigned.clear());
            return;
        }
        let received = match consumer.poll(Duration::from_millis(MEMBER_POLL_MS)) {
            Some(Ok(_)) => Ok(true),
            Some(Err(KafkaError::PartitionEOF(_))) | None => Ok(false),
            Some(Err(e)) => Err(e.to_string()),
        };
        let assigned = consumer.assignment().map(|tpl| {
            tpl.elements_for_topic(topic)
                .iter()
                .map(|e| e.partition())
                .collect::<Vec<i32>>()
        });
        group.update(index, |m| {
            match received {
                Ok(true) => m.received_record = true,
                Ok(false) => {}
                Err(e) => m.last_error = Some(e),
            }
            match assigned {
                Ok(partitions) => m.assigned = partitions,
                Err(e) => m.last_error = Some(format!("assignment: {e}")),
            }
        });
    }
}

/// One 100-byte record to each partition, so each consumer has something to receive.
fn seed_one_record_per_partition(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
) -> Result<(), BenchError> {
    let spec = ThroughputSpec {
        record_bytes: 100,
        partitions,
        acks: Acks::All,
        record_count: u64::from(partitions.unsigned_abs()),
        send_duration_max: Duration::from_secs(SEED_TIMEOUT_S),
    };
    let produced = throughput::produce(
        throughput::producer_config(bootstrap, &spec),
        topic,
        &spec,
        None,
    )?;
    if produced.ok != spec.record_count {
        return Err(BenchError::Topic {
            topic: topic.to_string(),
            reason: format!(
                "seeding delivered {} of {} records ({})",
                produced.ok,
                spec.record_count,
                produced.first_error.unwrap_or_default()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(assigned: &[i32], leaving: bool) -> MemberState {
        MemberState {
            assigned: assigned.to_vec(),
            leaving_at: leaving.then(Instant::now),
            ..MemberState::default()
        }
    }

    #[test]
    fn coverage_needs_every_partition_exactly_once_among_staying_members() {
        assert!(covers_all_partitions(
            &[member(&[0, 1], false), member(&[2, 3], false)],
            4
        ));
        assert!(
            !covers_all_partitions(&[member(&[0, 1], false), member(&[2], false)], 4),
            "partition 3 unassigned"
        );
        assert!(
            !covers_all_partitions(&[member(&[0, 1, 2], false), member(&[2, 3], false)], 4),
            "partition 2 owned twice"
        );
        assert!(
            !covers_all_partitions(&[member(&[0, 1], false), member(&[2, 3], true)], 4),
            "a leaving member's partitions do not count"
        );
        assert!(
            !covers_all_partitions(&[member(&[0, 1, 2, 7], false)], 4),
            "partition 7 does not exist"
        );
    }
}
