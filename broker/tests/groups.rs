//! Consumer groups as users see them: rdkafka consumers sharing a topic, rebalancing when a
//! member dies or joins (eager and cooperative), static members coming back, committed
//! offsets surviving a broker crash, `kcat -G`, the group admin APIs, and bad requests
//! answered with Kafka's error codes without disturbing other groups.
mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    DeleteGroupsRequest, DescribeGroupsRequest, FindCoordinatorRequest, GroupId, HeartbeatRequest,
    JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, ListGroupsRequest, OffsetCommitRequest,
    OffsetDeleteRequest, OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

/// Generous bound for a group to settle (join + sync, rdkafka's own backoffs included).
const GROUP_SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

fn value_set(records: &[ConsumedRecord]) -> Vec<String> {
    records.iter().map(|r| r.value_str()).collect()
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// kcat's arguments as a balanced-consumer member of `group` reading `topic` from the
/// earliest offset (session 6 s, auto-commit every `commit_interval_ms`), one value a
/// line; `mode` `-u` runs until killed, `-e` exits at the end of the partitions.
fn kcat_member_args(
    broker: &TestBroker,
    group: &str,
    topic: &str,
    commit_interval_ms: u32,
    mode: &str,
) -> Vec<String> {
    let commit_interval = format!("auto.commit.interval.ms={commit_interval_ms}");
    [
        "-b",
        broker.bootstrap(),
        "-G",
        group,
        "-X",
        "session.timeout.ms=6000",
        "-X",
        "heartbeat.interval.ms=500",
        "-X",
        "auto.offset.reset=earliest",
        "-X",
        "enable.auto.commit=true",
        "-X",
        &commit_interval,
        mode,
        "-q",
        "-f",
        "%s\\n",
        topic,
    ]
    .map(str::to_owned)
    .to_vec()
}

fn count_of(assignments: &[Vec<(String, i32)>]) -> usize {
    assignments.iter().flatten().collect::<HashSet<_>>().len()
}

// ------------------------------------------------------------------ consuming together

#[test]
fn three_consumers_consume_every_record_exactly_once() {
    let broker = TestBroker::start_with(FAST_GROUP_BROKER);
    let topic = broker.new_topic("grp-share", 12);
    let group = topic_name("g-share");
    let consumers: Vec<_> = (0..3)
        .map(|_| group_consumer_for(broker.bootstrap(), &group, &[]))
        .collect();
    for c in &consumers {
        c.subscribe(&[&topic]).expect("subscribe");
    }
    let refs: Vec<&_> = consumers.iter().collect();
    poll_until_assigned(
        &refs,
        GROUP_SETTLE_TIMEOUT,
        "3 consumers with 4 partitions each",
        |a| a.iter().all(|x| x.len() == 4) && count_of(a) == 12,
    );
    let assignments: Vec<Vec<(String, i32)>> = refs.iter().map(|c| assignment_of(c)).collect();

    let sent = values("share", 240);
    produce_values(&broker, &topic, &sent);
    let mut received = poll_until_received(&refs, sent.len(), GROUP_SETTLE_TIMEOUT, "the group");
    // A moment more: nothing may arrive twice.
    for _ in 0..10 {
        for (i, got) in poll_round(&refs).into_iter().enumerate() {
            received[i].extend(got);
        }
    }
    let mut all: Vec<String> = received.iter().flat_map(|r| value_set(r)).collect();
    all.sort();
    let mut expected = sent.clone();
    expected.sort();
    assert_eq!(all, expected, "every record exactly once across the group");
    for (i, records) in received.iter().enumerate() {
        assert!(!records.is_empty(), "consumer {i} received nothing");
        for r in records {
            assert!(
                assignments[i].contains(&(topic.clone(), r.partition)),
                "consumer {i} got a record of partition {} outside its assignment {:?}",
                r.partition,
                assignments[i]
            );
        }
    }
    leave_and_close(consumers, "the 3 consumers");
}

#[test]
fn a_killed_member_loses_its_partitions_within_the_session_timeout_and_nothing_is_skipped() {
    let kcat = require_kcat();
    let broker = TestBroker::start_with(FAST_GROUP_BROKER);
    let topic = broker.new_topic("grp-kill", 12);
    let group = topic_name("g-kill");
    let out_path = broker.data_dir().with_file_name("kcat-member.out");
    let out = std::fs::File::create(&out_path).expect("create kcat output file");
    let mut member = Command::new(&kcat)
        .args(kcat_member_args(&broker, &group, &topic, 100, "-u"))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .expect("start kcat group member");
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            group_consumer_for(
                broker.bootstrap(),
                &group,
                &[
                    ("enable.auto.commit", "true"),
                    ("auto.commit.interval.ms", "100"),
                ],
            )
        })
        .collect();
    for c in &consumers {
        c.subscribe(&[&topic]).expect("subscribe");
    }
    let refs: Vec<&_> = consumers.iter().collect();
    let mut received = poll_until_assigned(
        &refs,
        GROUP_SETTLE_TIMEOUT,
        "two rdkafka members and kcat sharing 12 partitions (4 each)",
        |a| a.iter().all(|x| x.len() == 4) && count_of(a) == 8,
    );
    let batch_a = values("before-kill", 120);
    produce_values(&broker, &topic, &batch_a);
    let kcat_lines = || -> Vec<String> {
        std::fs::read_to_string(&out_path)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    };
    let deadline = Instant::now() + GROUP_SETTLE_TIMEOUT;
    loop {
        for (i, got) in poll_round(&refs).into_iter().enumerate() {
            received[i].extend(got);
        }
        let seen: HashSet<String> = received
            .iter()
            .flat_map(|r| value_set(r))
            .chain(kcat_lines())
            .collect();
        if batch_a.iter().all(|v| seen.contains(v)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "batch A not consumed by the three members ({} of {})",
            seen.len(),
            batch_a.len()
        );
    }
    assert!(!kcat_lines().is_empty(), "kcat consumed nothing of batch A");

    member.kill().expect("kill kcat");
    let _ = member.wait();
    let killed_at = Instant::now();
    let batch_b = values("after-kill", 120);
    produce_values(&broker, &topic, &batch_b);
    poll_until_assigned(
        &refs,
        GROUP_SETTLE_TIMEOUT,
        "the killed member's partitions to move to the survivors",
        |a| count_of(a) == 12,
    )
    .into_iter()
    .enumerate()
    .for_each(|(i, got)| received[i].extend(got));
    let moved_after = killed_at.elapsed();
    assert!(
        // Session timeout (6 s) plus the survivors' rejoin on a busy 2-core CI machine.
        moved_after < Duration::from_secs(6 + 30),
        "partitions moved {moved_after:?} after the kill; session timeout is 6 s"
    );
    let deadline = Instant::now() + GROUP_SETTLE_TIMEOUT;
    loop {
        for (i, got) in poll_round(&refs).into_iter().enumerate() {
            received[i].extend(got);
        }
        let seen: HashSet<String> = received
            .iter()
            .flat_map(|r| value_set(r))
            .chain(kcat_lines())
            .collect();
        let missing: Vec<&String> = batch_a
            .iter()
            .chain(&batch_b)
            .filter(|v| !seen.contains(*v))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "records skipped after the member was killed: {} missing, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
    }
    leave_and_close(consumers, "the 2 surviving consumers");
}

// ------------------------------------------------------------------ durability

#[test]
fn consumers_resume_from_committed_offsets_after_a_broker_crash() {
    let mut broker = TestBroker::start_with(FAST_GROUP_BROKER);
    let topic = broker.new_topic("grp-resume", 3);
    let group = topic_name("g-resume");
    let first = values("first", 30);
    produce_values(&broker, &topic, &first);
    {
        let c = group_consumer_for(broker.bootstrap(), &group, &[]);
        c.subscribe(&[&topic]).expect("subscribe");
        poll_until_received(
            &[&c],
            first.len(),
            GROUP_SETTLE_TIMEOUT,
            "the first consumer",
        );
        c.commit_consumer_state(CommitMode::Sync)
            .expect("commit consumed offsets");
        let committed = c
            .committed(CLIENT_TIMEOUT)
            .expect("fetch committed offsets");
        let total: i64 = committed
            .elements()
            .iter()
            .map(|e| match e.offset() {
                Offset::Offset(o) => o,
                other => panic!("partition {} committed {other:?}", e.partition()),
            })
            .sum();
        assert_eq!(total, 30, "committed offsets add up to the 30 records read");
        c.unsubscribe();
    }
    broker.kill9_and_restart();

    let second = values("second", 15);
    produce_values(&broker, &topic, &second);
    let c = group_consumer_for(broker.bootstrap(), &group, &[]);
    c.subscribe(&[&topic]).expect("subscribe after restart");
    let mut got = poll_until_received(
        &[&c],
        second.len(),
        GROUP_SETTLE_TIMEOUT,
        "after restart the consumer",
    )
    .remove(0);
    for _ in 0..10 {
        got.extend(poll_round(&[&c]).remove(0));
    }
    let mut seen = value_set(&got);
    seen.sort();
    let mut expected = second.clone();
    expected.sort();
    assert_eq!(
        seen, expected,
        "after the crash the group resumes at its committed offsets (no record of the first run again)"
    );
}

// ------------------------------------------------------------------ rebalance protocols

#[test]
fn cooperative_sticky_rebalance_keeps_unaffected_partitions() {
    let broker = TestBroker::start_with(FAST_GROUP_BROKER);
    let topic = broker.new_topic("grp-coop", 12);
    let group = topic_name("g-coop");
    let coop = [("partition.assignment.strategy", "cooperative-sticky")];
    let a = group_consumer_for(broker.bootstrap(), &group, &coop);
    a.subscribe(&[&topic]).expect("subscribe a");
    poll_until_assigned(&[&a], GROUP_SETTLE_TIMEOUT, "a owning all 12", |x| {
        x[0].len() == 12
    });
    let before: BTreeSet<(String, i32)> = assignment_of(&a).into_iter().collect();
    let events_before = a.context().events().len();

    let b = group_consumer_for(broker.bootstrap(), &group, &coop);
    b.subscribe(&[&topic]).expect("subscribe b");
    poll_until_assigned(
        &[&a, &b],
        GROUP_SETTLE_TIMEOUT,
        "a and b with 6 each",
        |x| x[0].len() == 6 && x[1].len() == 6 && count_of(x) == 12,
    );
    let kept: BTreeSet<(String, i32)> = assignment_of(&a).into_iter().collect();
    assert!(kept.is_subset(&before), "a kept only partitions it had");
    let revoked: BTreeSet<(String, i32)> = a.context().events()[events_before..]
        .iter()
        .filter_map(|e| match e {
            RebalanceEvent::Revoke(tps) => Some(tps.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(
        revoked.len(),
        6,
        "a gave up exactly 6 partitions, incrementally"
    );
    assert!(
        revoked.is_disjoint(&kept),
        "partitions a kept were never revoked: revoked {revoked:?}, kept {kept:?}"
    );
    leave_and_close(vec![a, b], "a and b");
}

/// Two static members (`member-a`, `member-b`, session 30 s) share a 4-partition topic;
/// `a_leads` decides who joins first and so leads. A closes (a static member sends no
/// LeaveGroup) and a new client with A's instance id joins: as in Kafka (KIP-345) it gets
/// A's partitions back under a new member id, the generation stays, B is never revoked,
/// and A's old member id is fenced.
fn restarted_static_member_keeps_the_group_stable(a_leads: bool, assignor: Option<&str>) {
    let mut broker = TestBroker::start_with(FAST_GROUP_BROKER);
    let topic = broker.new_topic("grp-static", 4);
    let group = topic_name("g-static");
    let static_member = |instance: &str| {
        let mut extra = vec![
            ("group.instance.id", instance),
            ("session.timeout.ms", "30000"),
        ];
        if let Some(a) = assignor {
            extra.push(("partition.assignment.strategy", a));
        }
        let c = group_consumer_for(broker.bootstrap(), &group, &extra);
        c.subscribe(&[&topic]).expect("subscribe");
        c
    };
    let (a, b) = if a_leads {
        let a = static_member("member-a");
        poll_until_assigned(&[&a], GROUP_SETTLE_TIMEOUT, "a owning all 4", |x| {
            x[0].len() == 4
        });
        (a, static_member("member-b"))
    } else {
        let b = static_member("member-b");
        poll_until_assigned(&[&b], GROUP_SETTLE_TIMEOUT, "b owning all 4", |x| {
            x[0].len() == 4
        });
        (static_member("member-a"), b)
    };
    poll_until_assigned(
        &[&a, &b],
        GROUP_SETTLE_TIMEOUT,
        "a and b with 2 each",
        |x| x[0].len() == 2 && x[1].len() == 2 && count_of(x) == 4,
    );
    let a_assignment = assignment_of(&a);
    let b_assignment = assignment_of(&b);
    let mut raw = broker.raw();
    find_coordinator(&mut raw, &group);
    let members = static_members_of(&mut raw, &group);
    let old_a = members["member-a"].clone();
    let b_id = members["member-b"].clone();
    let generation = generation_of(&mut raw, &group, &b_id, "member-b");
    let b_events = b.context().events().len();

    close_within(a, "member-a");
    let a2 = static_member("member-a");
    // Wait until the new A has its partitions (a bounded poll). Had the broker rebalanced,
    // B would have rejoined before A could get an assignment (and, eager, revoked first).
    poll_until_assigned(
        &[&a2, &b],
        GROUP_SETTLE_TIMEOUT,
        "the new a owning a's old partitions",
        |x| x[0] == a_assignment,
    );
    assert_eq!(
        generation_of(&mut raw, &group, &b_id, "member-b"),
        generation,
        "the group rebalanced when static member-a came back (leader: {a_leads}, assignor: {assignor:?})"
    );
    let new_events = b.context().events()[b_events..].to_vec();
    assert!(
        new_events.is_empty(),
        "member-b saw a rebalance when member-a came back: {new_events:?}"
    );
    assert_eq!(assignment_of(&b), b_assignment, "b kept its partitions");
    let new_a = static_members_of(&mut raw, &group)["member-a"].clone();
    assert_ne!(new_a, old_a, "the new a has a new member id");

    // The old member id of member-a is fenced everywhere.
    let fenced = ResponseError::FencedInstanceId.code();
    assert_eq!(
        heartbeat(&mut raw, &group, &old_a, generation, Some("member-a")),
        fenced,
        "Heartbeat with a's old member id"
    );
    let sync = raw
        .call(
            3,
            &SyncGroupRequest::default()
                .with_group_id(GroupId(sb(&group)))
                .with_generation_id(generation)
                .with_member_id(sb(&old_a))
                .with_group_instance_id(Some(sb("member-a"))),
        )
        .expect("SyncGroup");
    assert_eq!(sync.error_code, fenced, "SyncGroup with a's old member id");
    let commit = raw
        .call(
            7,
            &OffsetCommitRequest::default()
                .with_group_id(GroupId(sb(&group)))
                .with_generation_id_or_member_epoch(generation)
                .with_member_id(sb(&old_a))
                .with_group_instance_id(Some(sb("member-a")))
                .with_topics(vec![OffsetCommitRequestTopic::default()
                    .with_name(topic_name_of(&topic))
                    .with_partitions(vec![OffsetCommitRequestPartition::default()
                        .with_partition_index(a_assignment[0].1)
                        .with_committed_offset(1)])]),
        )
        .expect("OffsetCommit");
    assert_eq!(
        commit.topics[0].partitions[0].error_code, fenced,
        "OffsetCommit with a's old member id"
    );
    let join = join(
        &mut raw,
        &group,
        &old_a,
        Some("member-a"),
        30_000,
        "consumer",
        assignor.unwrap_or("range"),
    );
    assert_eq!(join.error_code, fenced, "JoinGroup with a's old member id");
    let leave = raw
        .call(
            3,
            &LeaveGroupRequest::default()
                .with_group_id(GroupId(sb(&group)))
                .with_members(vec![MemberIdentity::default()
                    .with_member_id(sb(&old_a))
                    .with_group_instance_id(Some(sb("member-a")))]),
        )
        .expect("LeaveGroup");
    assert_eq!(
        leave.members[0].error_code, fenced,
        "LeaveGroup with a's old member id"
    );
    assert_eq!(
        static_members_of(&mut raw, &group)["member-a"],
        new_a,
        "the fenced requests left the new a in place"
    );
    assert_eq!(
        generation_of(&mut raw, &group, &b_id, "member-b"),
        generation,
        "the fenced requests did not rebalance the group"
    );

    // The replacement was stored: a restarted coordinator knows the new a.
    close_within(a2, "the new member-a");
    close_within(b, "member-b");
    broker.restart();
    let mut raw = broker.raw();
    let mut members = BTreeMap::new();
    wait_until(
        GROUP_SETTLE_TIMEOUT,
        "the group coordinator to load",
        || {
            members = static_members_of(&mut raw, &group);
            !members.is_empty()
        },
    );
    assert_eq!(
        members.get("member-a"),
        Some(&new_a),
        "after a restart member-a is the new member id"
    );
}

#[test]
fn a_restarted_static_leader_gets_its_partitions_back_without_a_rebalance() {
    restarted_static_member_keeps_the_group_stable(true, None);
}

#[test]
fn a_restarted_static_follower_gets_its_partitions_back_without_a_rebalance() {
    restarted_static_member_keeps_the_group_stable(false, None);
}

#[test]
fn a_restarted_cooperative_static_leader_gets_its_partitions_back_without_a_rebalance() {
    restarted_static_member_keeps_the_group_stable(true, Some("cooperative-sticky"));
}

/// A static leader that rejoins under a new member id is answered as Kafka answers each
/// JoinGroup version: below v9 with the leader it replaced (its old id) and no members, so
/// it syncs as a follower; from v9 as the leader with the members and skip_assignment.
/// Either way the generation stays and SyncGroup hands it its old assignment.
#[test]
fn a_rejoining_static_leader_is_answered_per_join_group_version() {
    let broker = TestBroker::start_with(FAST_GROUP_BROKER);
    let mut raw = broker.raw();
    let assignment = bytes::Bytes::from_static(b"x's partitions");
    for version in [5, 9] {
        let group = topic_name("g-static-raw");
        find_loaded_coordinator(&mut raw, &group);
        let join_as = |raw: &mut RawClient| -> JoinGroupResponse {
            let request = JoinGroupRequest::default()
                .with_group_id(GroupId(sb(&group)))
                .with_session_timeout_ms(30_000)
                .with_rebalance_timeout_ms(10_000)
                .with_group_instance_id(Some(sb("x")))
                .with_protocol_type(sb("consumer"))
                .with_protocols(vec![JoinGroupRequestProtocol::default()
                    .with_name(sb("range"))
                    .with_metadata(bytes::Bytes::from_static(b"\x00\x00"))]);
            raw.call(version, &request).expect("JoinGroup")
        };
        let sync = |raw: &mut RawClient, member: &str, generation: i32, own: bool| {
            let assignments = if own {
                vec![SyncGroupRequestAssignment::default()
                    .with_member_id(sb(member))
                    .with_assignment(assignment.clone())]
            } else {
                Vec::new()
            };
            raw.call(
                3,
                &SyncGroupRequest::default()
                    .with_group_id(GroupId(sb(&group)))
                    .with_generation_id(generation)
                    .with_member_id(sb(member))
                    .with_group_instance_id(Some(sb("x")))
                    .with_assignments(assignments),
            )
            .expect("SyncGroup")
        };
        let first = join_as(&mut raw);
        assert_eq!(
            first.error_code, 0,
            "v{version}: a static member's first join"
        );
        assert_eq!(
            first.leader, first.member_id,
            "v{version}: the sole member leads"
        );
        let synced = sync(&mut raw, &first.member_id, first.generation_id, true);
        assert_eq!((synced.error_code, &synced.assignment), (0, &assignment));

        let again = join_as(&mut raw);
        assert_eq!(
            again.error_code, 0,
            "v{version}: the restarted leader's join"
        );
        assert_ne!(
            again.member_id, first.member_id,
            "v{version}: a new member id"
        );
        assert_eq!(
            again.generation_id, first.generation_id,
            "v{version}: no new generation"
        );
        if version >= 9 {
            assert_eq!(again.leader, again.member_id, "v9: it leads");
            assert!(again.skip_assignment, "v9: the leader skips the assignment");
            let members: Vec<_> = again.members.iter().map(|m| m.member_id.clone()).collect();
            assert_eq!(members, vec![again.member_id.clone()], "v9: the members");
        } else {
            assert_eq!(
                again.leader, first.member_id,
                "v{version}: the leader it replaced, so it follows"
            );
            assert!(
                again.members.is_empty(),
                "v{version}: no members for a follower"
            );
        }
        let synced = sync(&mut raw, &again.member_id, again.generation_id, false);
        assert_eq!(
            (synced.error_code, &synced.assignment),
            (0, &assignment),
            "v{version}: SyncGroup hands the new id the old assignment"
        );
        assert_eq!(
            heartbeat(
                &mut raw,
                &group,
                &first.member_id,
                first.generation_id,
                Some("x")
            ),
            ResponseError::FencedInstanceId.code(),
            "v{version}: the old member id is fenced"
        );
    }
}

// ------------------------------------------------------------------ kcat

#[test]
fn kcat_balanced_consumer_reads_all_and_resumes_at_committed_offsets() {
    let kcat = require_kcat();
    let broker = TestBroker::start();
    let topic = broker.new_topic("grp-kcat", 3);
    let group = topic_name("g-kcat");
    let run = |expected: &[String]| {
        let output = Command::new("timeout")
            .args(["60", &kcat])
            .args(kcat_member_args(&broker, &group, &topic, 200, "-e"))
            .stdin(Stdio::null())
            .output()
            .expect("run kcat -G");
        assert!(
            output.status.success(),
            "kcat -G failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let mut got: Vec<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        got.sort();
        let mut want = expected.to_vec();
        want.sort();
        assert_eq!(
            got, want,
            "kcat -G read exactly the records after the committed offsets"
        );
    };
    let first = values("x", 60);
    produce_values(&broker, &topic, &first);
    run(&first);
    let second = values("y", 30);
    produce_values(&broker, &topic, &second);
    run(&second);
}

// ------------------------------------------------------------------ raw protocol helpers

fn find_coordinator(raw: &mut RawClient, group: &str) {
    let response = raw
        .call(3, &FindCoordinatorRequest::default().with_key(sb(group)))
        .expect("FindCoordinator v3");
    assert_eq!(response.error_code, 0, "FindCoordinator for {group}");
}

/// FindCoordinator for `group`, then waits until the coordinator has loaded the group's
/// shard (OffsetFetch stops answering COORDINATOR_LOAD_IN_PROGRESS), as after a restart or
/// the creation of `__consumer_offsets`.
fn find_loaded_coordinator(raw: &mut RawClient, group: &str) {
    find_coordinator(raw, group);
    wait_until(
        GROUP_SETTLE_TIMEOUT,
        "the group coordinator to load",
        || fetch_many(raw, group, Some(&[])).0 != ResponseError::CoordinatorLoadInProgress.code(),
    );
}

/// JoinGroup v5 (the version librdkafka uses).
fn join(
    raw: &mut RawClient,
    group: &str,
    member_id: &str,
    instance: Option<&str>,
    session_timeout_ms: i32,
    protocol_type: &str,
    protocol: &str,
) -> JoinGroupResponse {
    let request = JoinGroupRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_session_timeout_ms(session_timeout_ms)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(sb(member_id))
        .with_group_instance_id(instance.map(sb))
        .with_protocol_type(sb(protocol_type))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(sb(protocol))
            .with_metadata(bytes::Bytes::from_static(b"\x00\x00"))]);
    raw.call(5, &request).expect("JoinGroup v5")
}

/// Joins `group` as a new dynamic member (handling MEMBER_ID_REQUIRED) and syncs as
/// leader; returns (member id, generation).
fn join_and_sync(raw: &mut RawClient, group: &str) -> (String, i32) {
    let first = join(raw, group, "", None, 10_000, "consumer", "range");
    assert_eq!(
        first.error_code,
        ResponseError::MemberIdRequired.code(),
        "JoinGroup v5 without member id"
    );
    assert!(
        !first.member_id.is_empty(),
        "MEMBER_ID_REQUIRED carries the id"
    );
    let member_id = first.member_id.to_string();
    let joined = join(raw, group, &member_id, None, 10_000, "consumer", "range");
    assert_eq!(joined.error_code, 0, "JoinGroup with the given member id");
    assert_eq!(joined.leader, joined.member_id, "sole member leads");
    let sync = raw
        .call(
            3,
            &SyncGroupRequest::default()
                .with_group_id(GroupId(sb(group)))
                .with_generation_id(joined.generation_id)
                .with_member_id(sb(&member_id)),
        )
        .expect("SyncGroup");
    assert_eq!(sync.error_code, 0, "SyncGroup as leader");
    (member_id, joined.generation_id)
}

/// DescribeGroups: `group.instance.id` → member id of the group's static members.
fn static_members_of(raw: &mut RawClient, group: &str) -> BTreeMap<String, String> {
    let described = raw
        .call(
            5,
            &DescribeGroupsRequest::default().with_groups(vec![GroupId(sb(group))]),
        )
        .expect("DescribeGroups");
    // Empty while the coordinator loads (COORDINATOR_LOAD_IN_PROGRESS).
    described.groups[0]
        .members
        .iter()
        .filter_map(|m| {
            let instance = m.group_instance_id.as_ref()?;
            Some((instance.to_string(), m.member_id.to_string()))
        })
        .collect()
}

/// The group's current generation, found as the one a Heartbeat of `member` accepts
/// (DescribeGroups does not show it). Panics if the member is not in the group.
fn generation_of(raw: &mut RawClient, group: &str, member: &str, instance: &str) -> i32 {
    (0..=100)
        .find(|g| {
            let code = heartbeat(raw, group, member, *g, Some(instance));
            code == 0 || code == ResponseError::RebalanceInProgress.code()
        })
        .unwrap_or_else(|| panic!("no generation of {group} accepts a heartbeat of {member}"))
}

fn heartbeat(
    raw: &mut RawClient,
    group: &str,
    member: &str,
    generation: i32,
    instance: Option<&str>,
) -> i16 {
    raw.call(
        4,
        &HeartbeatRequest::default()
            .with_group_id(GroupId(sb(group)))
            .with_member_id(sb(member))
            .with_generation_id(generation)
            .with_group_instance_id(instance.map(sb)),
    )
    .expect("Heartbeat")
    .error_code
}

fn commit(
    raw: &mut RawClient,
    group: &str,
    member: &str,
    generation: i32,
    topic: &str,
    offsets: &[(i32, i64)],
    metadata: &str,
) -> Vec<i16> {
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(sb(member))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(topic_name_of(topic))
            .with_partitions(
                offsets
                    .iter()
                    .map(|(p, o)| {
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(*p)
                            .with_committed_offset(*o)
                            .with_committed_metadata(Some(sb(metadata)))
                    })
                    .collect(),
            )]);
    let response = raw.call(8, &request).expect("OffsetCommit v8");
    response.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect()
}

/// OffsetFetch v8 for several groups at once: group → (error, partition → offset).
fn fetch(
    raw: &mut RawClient,
    groups: &[&str],
    topic: &str,
    partitions: &[i32],
) -> BTreeMap<String, (i16, BTreeMap<i32, i64>)> {
    let request = OffsetFetchRequest::default().with_groups(
        groups
            .iter()
            .map(|g| {
                OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(sb(g)))
                    .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                        .with_name(topic_name_of(topic))
                        .with_partition_indexes(partitions.to_vec())]))
            })
            .collect(),
    );
    let response: OffsetFetchResponse = raw.call(8, &request).expect("OffsetFetch v8");
    response
        .groups
        .iter()
        .map(|g| {
            let offsets = g
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter())
                .map(|p| (p.partition_index, p.committed_offset))
                .collect();
            (g.group_id.0.to_string(), (g.error_code, offsets))
        })
        .collect()
}

// ------------------------------------------------------------------ bad input

#[test]
fn bad_group_requests_get_kafka_errors_and_leave_other_groups_alone() {
    let mut overrides = FAST_GROUP_BROKER.to_vec();
    overrides.push(("offset.metadata.max.bytes", "16"));
    overrides.push(("group.max.size", "2"));
    let broker = TestBroker::start_with(&overrides);
    let topic = broker.new_topic("grp-bad", 2);

    // A healthy group consuming throughout.
    let good_group = topic_name("g-good");
    let good = group_consumer_for(broker.bootstrap(), &good_group, &[]);
    good.subscribe(&[&topic]).expect("subscribe");
    poll_until_assigned(
        &[&good],
        GROUP_SETTLE_TIMEOUT,
        "the good consumer owning both partitions",
        |a| a[0].len() == 2,
    );
    produce_values(&broker, &topic, &values("good", 4));
    poll_until_received(&[&good], 4, GROUP_SETTLE_TIMEOUT, "the good consumer");
    good.commit_consumer_state(CommitMode::Sync)
        .expect("good commit");

    let mut raw = broker.raw();
    let bad = topic_name("g-bad");
    find_coordinator(&mut raw, &bad);

    let r = join(&mut raw, "", "", None, 10_000, "consumer", "range");
    assert_eq!(
        r.error_code,
        ResponseError::InvalidGroupId.code(),
        "empty group id"
    );
    let r = join(&mut raw, &bad, "", None, 1, "consumer", "range");
    assert_eq!(
        r.error_code,
        ResponseError::InvalidSessionTimeout.code(),
        "session timeout 1 ms"
    );
    let r = join(&mut raw, &bad, "", None, 10_000, "", "range");
    assert_eq!(
        r.error_code,
        ResponseError::InconsistentGroupProtocol.code(),
        "empty protocol type"
    );
    let r = join(
        &mut raw,
        &good_group,
        "",
        None,
        10_000,
        "consumer",
        "no-such-assignor",
    );
    assert_eq!(
        r.error_code,
        ResponseError::InconsistentGroupProtocol.code(),
        "a protocol the good group's members do not support"
    );
    let r = join(&mut raw, &bad, "someone", None, 10_000, "consumer", "range");
    assert_eq!(
        r.error_code,
        ResponseError::UnknownMemberId.code(),
        "unknown member id"
    );

    let (member, generation) = join_and_sync(&mut raw, &bad);
    assert_eq!(
        heartbeat(&mut raw, &bad, &member, generation, None),
        0,
        "heartbeat"
    );
    assert_eq!(
        heartbeat(&mut raw, &bad, "stranger", generation, None),
        ResponseError::UnknownMemberId.code(),
        "heartbeat from an unknown member"
    );
    assert_eq!(
        heartbeat(&mut raw, &bad, &member, generation + 7, None),
        ResponseError::IllegalGeneration.code(),
        "heartbeat with a wrong generation"
    );
    let sync = raw
        .call(
            3,
            &SyncGroupRequest::default()
                .with_group_id(GroupId(sb(&bad)))
                .with_generation_id(generation - 1)
                .with_member_id(sb(&member)),
        )
        .expect("SyncGroup");
    assert_eq!(
        sync.error_code,
        ResponseError::IllegalGeneration.code(),
        "stale sync"
    );

    assert_eq!(
        commit(
            &mut raw,
            &bad,
            "stranger",
            generation,
            &topic,
            &[(0, 1)],
            ""
        ),
        vec![ResponseError::UnknownMemberId.code()],
        "commit from an unknown member"
    );
    assert_eq!(
        commit(
            &mut raw,
            &bad,
            &member,
            generation + 1,
            &topic,
            &[(0, 1)],
            ""
        ),
        vec![ResponseError::IllegalGeneration.code()],
        "commit with a wrong generation"
    );
    assert_eq!(
        commit(
            &mut raw,
            &bad,
            &member,
            generation,
            &topic,
            &[(0, 3), (1, 4)],
            &"m".repeat(17)
        ),
        vec![ResponseError::OffsetMetadataTooLarge.code(); 2],
        "metadata over offset.metadata.max.bytes"
    );
    assert_eq!(
        commit(
            &mut raw,
            &bad,
            &member,
            generation,
            &topic,
            &[(0, 3), (1, 4)],
            "ok"
        ),
        vec![0, 0],
        "a valid commit"
    );
    let fetched = fetch(&mut raw, &[&bad], &topic, &[0, 1]);
    assert_eq!(
        fetched[&bad],
        (0, BTreeMap::from([(0, 3), (1, 4)])),
        "committed offsets"
    );

    // group.max.size = 2: a second member fits (it triggers a rebalance), a third does not.
    let mut raw2 = broker.raw();
    let second = join(&mut raw2, &bad, "", None, 10_000, "consumer", "range");
    assert_eq!(second.error_code, ResponseError::MemberIdRequired.code());
    let mut raw3 = broker.raw();
    let third = join(&mut raw3, &bad, "", None, 10_000, "consumer", "range");
    assert_eq!(
        third.error_code,
        ResponseError::GroupMaxSizeReached.code(),
        "third member"
    );

    // Static membership fencing.
    let static_group = topic_name("g-static-raw");
    let s = join(
        &mut raw3,
        &static_group,
        "",
        Some("inst-1"),
        10_000,
        "consumer",
        "range",
    );
    assert_eq!(
        s.error_code, 0,
        "static member joins without MEMBER_ID_REQUIRED"
    );
    let r = join(
        &mut raw3,
        &static_group,
        "not-the-member",
        Some("inst-1"),
        10_000,
        "consumer",
        "range",
    );
    assert_eq!(
        r.error_code,
        ResponseError::FencedInstanceId.code(),
        "old member id of an instance"
    );
    assert_eq!(
        heartbeat(
            &mut raw3,
            &static_group,
            "not-the-member",
            s.generation_id,
            Some("inst-1")
        ),
        ResponseError::FencedInstanceId.code(),
        "heartbeat with a fenced instance"
    );

    // The good group did not notice any of it.
    let described = raw
        .call(
            5,
            &DescribeGroupsRequest::default().with_groups(vec![GroupId(sb(&good_group))]),
        )
        .expect("DescribeGroups");
    let g = &described.groups[0];
    assert_eq!(g.error_code, 0);
    assert_eq!(g.group_state.as_str(), "Stable", "good group state");
    assert_eq!(g.members.len(), 1, "good group members");
    let committed = good.committed(CLIENT_TIMEOUT).expect("committed");
    let total: i64 = committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        })
        .sum();
    assert_eq!(total, 4, "the good group's committed offsets are intact");
    produce_values(&broker, &topic, &values("still-good", 1));
    let deadline = Instant::now() + GROUP_SETTLE_TIMEOUT;
    loop {
        let got = poll_round(&[&good]).remove(0);
        if value_set(&got).contains(&"still-good-0".to_string()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the good consumer stopped consuming"
        );
    }
}

// ------------------------------------------------------------------ admin APIs

#[test]
fn group_admin_apis_list_describe_delete_and_survive_a_restart() {
    let mut broker = TestBroker::start_with(FAST_GROUP_BROKER);
    let topic = broker.new_topic("grp-admin", 2);
    let mut raw = broker.raw();

    // FindCoordinator v4: batched keys; transactions are not coordinated yet.
    let found = raw
        .call(
            4,
            &FindCoordinatorRequest::default()
                .with_key_type(0)
                .with_coordinator_keys(vec![sb("a"), sb("b")]),
        )
        .expect("FindCoordinator v4");
    assert_eq!(found.coordinators.len(), 2);
    for c in &found.coordinators {
        assert_eq!(
            (c.error_code, c.node_id.0),
            (0, 1),
            "coordinator for {}",
            c.key
        );
        assert_eq!(format!("{}:{}", c.host, c.port), broker.bootstrap());
    }
    let txn = raw
        .call(
            4,
            &FindCoordinatorRequest::default()
                .with_key_type(1)
                .with_coordinator_keys(vec![sb("tx")]),
        )
        .expect("FindCoordinator v4 for a transactional id");
    assert_eq!(
        (
            txn.coordinators[0].error_code,
            txn.coordinators[0].node_id.0
        ),
        (0, 1),
        "this broker coordinates transactional ids too"
    );

    // Simple (generation -1) commits create Empty groups.
    let kept = topic_name("g-kept");
    let doomed = topic_name("g-doomed");
    for g in [&kept, &doomed] {
        assert_eq!(
            commit(&mut raw, g, "", -1, &topic, &[(0, 5), (1, 6)], "meta"),
            vec![0, 0]
        );
    }
    // An active group.
    let active = topic_name("g-active");
    let consumer = group_consumer_for(broker.bootstrap(), &active, &[]);
    consumer.subscribe(&[&topic]).expect("subscribe");
    poll_until_assigned(
        &[&consumer],
        GROUP_SETTLE_TIMEOUT,
        "active group consumer assigned",
        |a| a[0].len() == 2,
    );
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(1))
        .expect("tpl");
    consumer
        .commit(&tpl, CommitMode::Sync)
        .expect("active commit");

    let listed = |raw: &mut RawClient, states: &[&str]| -> BTreeMap<String, String> {
        let response = raw
            .call(
                4,
                &ListGroupsRequest::default()
                    .with_states_filter(states.iter().map(|s| sb(s)).collect()),
            )
            .expect("ListGroups v4");
        assert_eq!(response.error_code, 0);
        response
            .groups
            .iter()
            .map(|g| (g.group_id.0.to_string(), g.group_state.to_string()))
            .collect()
    };
    let all = listed(&mut raw, &[]);
    assert_eq!(all.get(&kept).map(String::as_str), Some("Empty"));
    assert_eq!(all.get(&active).map(String::as_str), Some("Stable"));
    let empty_only = listed(&mut raw, &["empty"]);
    assert!(
        empty_only.contains_key(&kept) && !empty_only.contains_key(&active),
        "state filter: {empty_only:?}"
    );

    let described = raw
        .call(
            5,
            &DescribeGroupsRequest::default().with_groups(vec![
                GroupId(sb(&active)),
                GroupId(sb(&kept)),
                GroupId(sb("never-existed")),
            ]),
        )
        .expect("DescribeGroups");
    let d: Vec<(String, String, usize)> = described
        .groups
        .iter()
        .map(|g| {
            (
                g.group_state.to_string(),
                g.protocol_data.to_string(),
                g.members.len(),
            )
        })
        .collect();
    assert_eq!(d[0], ("Stable".into(), "range".into(), 1), "active group");
    assert_eq!(d[1].0, "Empty", "simple-commit group");
    assert_eq!(d[2].0, "Dead", "unknown group");
    assert!(
        !described.groups[0].members[0].member_assignment.is_empty(),
        "assignment shown"
    );

    // OffsetDelete: refused for a subscribed topic, allowed for an Empty group.
    let delete_offsets = |raw: &mut RawClient, group: &str| {
        raw.call(
            0,
            &OffsetDeleteRequest::default()
                .with_group_id(GroupId(sb(group)))
                .with_topics(vec![OffsetDeleteRequestTopic::default()
                    .with_name(topic_name_of(&topic))
                    .with_partitions(vec![
                        OffsetDeleteRequestPartition::default().with_partition_index(0)
                    ])]),
        )
        .expect("OffsetDelete")
    };
    let r = delete_offsets(&mut raw, &active);
    assert_eq!(r.error_code, 0);
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ResponseError::GroupSubscribedToTopic.code(),
        "offsets of a consumed topic"
    );
    let r = delete_offsets(&mut raw, &kept);
    assert_eq!((r.error_code, r.topics[0].partitions[0].error_code), (0, 0));

    let deleted = raw
        .call(
            2,
            &DeleteGroupsRequest::default().with_groups_names(vec![
                GroupId(sb(&doomed)),
                GroupId(sb(&active)),
                GroupId(sb("never-existed")),
            ]),
        )
        .expect("DeleteGroups");
    let codes: Vec<i16> = deleted.results.iter().map(|r| r.error_code).collect();
    assert_eq!(
        codes,
        vec![
            0,
            ResponseError::NonEmptyGroup.code(),
            ResponseError::GroupIdNotFound.code()
        ],
        "delete Empty / active / unknown group"
    );

    let check = |raw: &mut RawClient, when: &str| {
        let f = fetch(raw, &[&kept, &doomed], &topic, &[0, 1]);
        assert_eq!(
            f[&kept],
            (0, BTreeMap::from([(0, -1), (1, 6)])),
            "{when}: kept group after OffsetDelete"
        );
        assert_eq!(
            f[&doomed],
            (0, BTreeMap::from([(0, -1), (1, -1)])),
            "{when}: deleted group"
        );
    };
    check(&mut raw, "before restart");

    // The active member leaves (LeaveGroup through rdkafka's close).
    close_within(consumer, "the active group's consumer");
    let mut raw = broker.raw();
    wait_until(
        GROUP_SETTLE_TIMEOUT,
        "the active group to become Empty",
        || listed(&mut raw, &["Empty"]).contains_key(&active),
    );

    broker.kill9_and_restart();
    let mut raw = broker.raw();
    let deadline = Instant::now() + GROUP_SETTLE_TIMEOUT;
    // The two groups may live in different shards, each loading on its own.
    loop {
        let f = fetch(&mut raw, &[&kept, &doomed], &topic, &[0]);
        if f[&kept].0 == 0 && f[&doomed].0 == 0 {
            break;
        }
        for g in [&kept, &doomed] {
            assert!(
                [0, ResponseError::CoordinatorLoadInProgress.code()].contains(&f[g].0),
                "while loading: {g} answered {}",
                f[g].0
            );
        }
        assert!(
            Instant::now() < deadline,
            "group coordinator did not load after restart"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    check(&mut raw, "after restart");
    let all = listed(&mut raw, &[]);
    assert_eq!(
        all.get(&active).map(String::as_str),
        Some("Empty"),
        "active group reloaded Empty: {all:?}"
    );
    assert!(
        !all.contains_key(&doomed),
        "deleted group stays deleted: {all:?}"
    );
    let f = fetch(&mut raw, &[&active], &topic, &[0]);
    assert_eq!(
        f[&active].1[&0], 1,
        "active group's commit survived the crash"
    );

    // LeaveGroup v3+ with batched identities: unknown members get UNKNOWN_MEMBER_ID.
    let left = raw
        .call(
            3,
            &LeaveGroupRequest::default()
                .with_group_id(GroupId(sb(&kept)))
                .with_members(vec![MemberIdentity::default().with_member_id(sb("nobody"))]),
        )
        .expect("LeaveGroup v3");
    assert_eq!(
        left.members[0].error_code,
        ResponseError::UnknownMemberId.code()
    );
}

// ------------------------------------------------------------------ offsets of missing topics

/// Offsets to commit: per topic, (partition, offset) pairs.
type TopicOffsets<'a> = &'a [(&'a str, &'a [(i32, i64)])];
/// Per topic in request order, each partition's error code.
type TopicCodes = Vec<(String, Vec<(i32, i16)>)>;
/// Topic → partition → (committed offset, error code).
type FetchedByTopic = BTreeMap<String, BTreeMap<i32, (i64, i16)>>;

/// OffsetCommit v8 of `offsets`; per topic (in request order) the partitions' error codes.
fn commit_many(
    raw: &mut RawClient,
    group: &str,
    member: &str,
    generation: i32,
    offsets: TopicOffsets<'_>,
) -> TopicCodes {
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(sb(member))
        .with_topics(
            offsets
                .iter()
                .map(|(topic, partitions)| {
                    OffsetCommitRequestTopic::default()
                        .with_name(topic_name_of(topic))
                        .with_partitions(
                            partitions
                                .iter()
                                .map(|(p, o)| {
                                    OffsetCommitRequestPartition::default()
                                        .with_partition_index(*p)
                                        .with_committed_offset(*o)
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
    let response = raw.call(8, &request).expect("OffsetCommit v8");
    partition_codes!(response.topics)
}

/// OffsetFetch v8 of one group: (group error, topic → partition → (offset, error)); all
/// committed offsets when `topics` is `None`.
fn fetch_many(
    raw: &mut RawClient,
    group: &str,
    topics: Option<&[(&str, &[i32])]>,
) -> (i16, FetchedByTopic) {
    let request =
        OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(sb(group)))
            .with_topics(topics.map(|ts| {
                ts.iter()
                    .map(|(t, ps)| {
                        OffsetFetchRequestTopics::default()
                            .with_name(topic_name_of(t))
                            .with_partition_indexes(ps.to_vec())
                    })
                    .collect()
            }))]);
    let response: OffsetFetchResponse = raw.call(8, &request).expect("OffsetFetch v8");
    let g = &response.groups[0];
    let topics = g
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| (p.partition_index, (p.committed_offset, p.error_code)))
                .collect();
            (t.name.0.to_string(), partitions)
        })
        .collect();
    (g.error_code, topics)
}

/// OffsetDelete v0: (group error, per topic in request order the partitions' codes).
fn delete_many(
    raw: &mut RawClient,
    group: &str,
    partitions: &[(&str, &[i32])],
) -> (i16, TopicCodes) {
    let request = OffsetDeleteRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_topics(
            partitions
                .iter()
                .map(|(t, ps)| {
                    OffsetDeleteRequestTopic::default()
                        .with_name(topic_name_of(t))
                        .with_partitions(
                            ps.iter()
                                .map(|p| {
                                    OffsetDeleteRequestPartition::default().with_partition_index(*p)
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
    let r = raw.call(0, &request).expect("OffsetDelete v0");
    let topics = partition_codes!(r.topics);
    (r.error_code, topics)
}

/// OffsetCommit and OffsetDelete answer UNKNOWN_TOPIC_OR_PARTITION for every partition of a
/// topic that does not exist and for partition indexes beyond a topic's partitions, and
/// store nothing for them; the rest of the same request is served. OffsetFetch answers such
/// partitions with offset -1 and no error (as Kafka). Nothing of them survives a restart.
#[test]
fn offsets_of_missing_topics_and_partitions_are_refused_and_never_stored() {
    let mut broker = TestBroker::start_with(FAST_GROUP_BROKER);
    let topic = broker.new_topic("grp-known", 2);
    let missing = topic_name("grp-missing");
    let group = topic_name("g-missing");
    let mut raw = broker.raw();
    find_loaded_coordinator(&mut raw, &group);
    let unknown = ResponseError::UnknownTopicOrPartition.code();

    let answered = commit_many(
        &mut raw,
        &group,
        "",
        -1,
        &[
            (&topic, &[(0, 5), (1, 6), (7, 9)]),
            (&missing, &[(0, 3), (1, 4)]),
        ],
    );
    assert_eq!(
        answered,
        vec![
            (topic.clone(), vec![(0, 0), (1, 0), (7, unknown)]),
            (missing.clone(), vec![(0, unknown), (1, unknown)]),
        ],
        "one OffsetCommit with an existing topic (partitions 0, 1 and 7 of 2) and a missing topic"
    );

    let named: &[(&str, &[i32])] = &[(&topic, &[0, 1, 7]), (&missing, &[0, 1])];
    let expected_named = BTreeMap::from([
        (
            topic.clone(),
            BTreeMap::from([(0, (5, 0)), (1, (6, 0)), (7, (-1, 0))]),
        ),
        (
            missing.clone(),
            BTreeMap::from([(0, (-1, 0)), (1, (-1, 0))]),
        ),
    ]);
    assert_eq!(
        fetch_many(&mut raw, &group, Some(named)),
        (0, expected_named.clone()),
        "OffsetFetch of the named partitions: only the existing ones have offsets"
    );
    let only_existing =
        BTreeMap::from([(topic.clone(), BTreeMap::from([(0, (5, 0)), (1, (6, 0))]))]);
    assert_eq!(
        fetch_many(&mut raw, &group, None),
        (0, only_existing),
        "OffsetFetch of all committed offsets: nothing under the missing topic or partition"
    );

    // A commit naming only missing partitions never reaches the group coordinator: no
    // group error for a group that does not exist, and no group is created.
    let ghost = topic_name("g-ghost");
    assert_eq!(
        commit_many(&mut raw, &ghost, "someone", 42, &[(&missing, &[(0, 1)])]),
        vec![(missing.clone(), vec![(0, unknown)])],
        "OffsetCommit of a missing topic only, to a group that does not exist"
    );
    let listed = raw
        .call(4, &ListGroupsRequest::default())
        .expect("ListGroups");
    assert!(
        !listed.groups.iter().any(|g| g.group_id.0.as_str() == ghost),
        "a commit of only missing topics created group {ghost}"
    );

    // OffsetDelete: the same per-partition answers; the group is still checked.
    assert_eq!(
        delete_many(&mut raw, &group, &[(&topic, &[0, 9]), (&missing, &[0])]),
        (
            0,
            vec![
                (topic.clone(), vec![(0, 0), (9, unknown)]),
                (missing.clone(), vec![(0, unknown)]),
            ]
        ),
        "OffsetDelete of an existing, a missing partition and a missing topic"
    );
    assert_eq!(
        delete_many(&mut raw, &ghost, &[(&missing, &[0])]).0,
        ResponseError::GroupIdNotFound.code(),
        "OffsetDelete of a missing topic for a group that does not exist"
    );

    broker.restart();
    let mut raw = broker.raw();
    find_loaded_coordinator(&mut raw, &group);
    assert_eq!(
        fetch_many(&mut raw, &group, None),
        (
            0,
            BTreeMap::from([(topic.clone(), BTreeMap::from([(1, (6, 0))]))])
        ),
        "after a restart only the existing topic's remaining offset is committed"
    );
}

/// librdkafka's commit of a TopicPartitionList that names a topic that does not exist fails
/// with UnknownTopicOrPartition; the existing partition in the same commit is committed.
#[test]
fn an_rdkafka_commit_naming_a_missing_topic_fails_with_unknown_topic_or_partition() {
    let broker = TestBroker::start_with(FAST_GROUP_BROKER);
    let topic = broker.new_topic("grp-known", 1);
    let missing = topic_name("grp-missing");
    let group = topic_name("g-rdkafka-missing");
    let consumer = broker.consumer_with(&[("group.id", &group)]);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(3))
        .expect("tpl");
    tpl.add_partition_offset(&missing, 0, Offset::Offset(4))
        .expect("tpl");
    let result = consumer.commit(&tpl, CommitMode::Sync);
    match &result {
        Err(e) if is_code(e, RDKafkaErrorCode::UnknownTopicOrPartition) => {}
        other => panic!("commit naming missing topic {missing}: expected UnknownTopicOrPartition, got {other:?}"),
    }
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition(&topic, 0);
    wanted.add_partition(&missing, 0);
    let committed = consumer
        .committed_offsets(wanted, CLIENT_TIMEOUT)
        .expect("committed offsets");
    let offset_of = |t: &str| {
        committed
            .find_partition(t, 0)
            .map(|e| e.offset())
            .unwrap_or_else(|| panic!("{t}-0 missing from the OffsetFetch answer"))
    };
    assert_eq!(
        offset_of(&topic),
        Offset::Offset(3),
        "the existing partition was committed"
    );
    assert_eq!(
        offset_of(&missing),
        Offset::Invalid,
        "nothing was committed for the missing topic"
    );
}

/// Deleting a topic deletes the groups' committed offsets of it (as Kafka): OffsetFetch no
/// longer answers them, a restart does not bring them back, and a consumer of a re-created
/// topic of the same name finds no committed offset; other topics' offsets stay.
#[test]
fn deleting_a_topic_deletes_its_committed_offsets() {
    let mut broker = TestBroker::start_with(FAST_GROUP_BROKER);
    let doomed = topic_name("grp-doomed");
    let kept = topic_name("grp-kept");
    broker.create_topic(&doomed, 2, &[]);
    broker.create_topic(&kept, 1, &[]);
    let group = topic_name("g-deleted-topic");
    let mut raw = broker.raw();
    find_loaded_coordinator(&mut raw, &group);
    assert_eq!(
        commit_many(
            &mut raw,
            &group,
            "",
            -1,
            &[(&doomed, &[(0, 5), (1, 6)]), (&kept, &[(0, 7)])]
        ),
        vec![
            (doomed.clone(), vec![(0, 0), (1, 0)]),
            (kept.clone(), vec![(0, 0)]),
        ]
    );
    let results =
        block_on(broker.admin().delete_topics(&[&doomed], &admin_options())).expect("DeleteTopics");
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    let only_kept = (
        0,
        BTreeMap::from([(kept.clone(), BTreeMap::from([(0, (7, 0))]))]),
    );
    let mut fetched = Default::default();
    wait_until(
        GROUP_SETTLE_TIMEOUT,
        "the deleted topic's offsets to go",
        || {
            fetched = fetch_many(&mut raw, &group, None);
            !fetched.1.contains_key(&doomed)
        },
    );
    assert_eq!(fetched, only_kept, "offsets after deleting {doomed}");

    broker.restart();
    let mut raw = broker.raw();
    find_loaded_coordinator(&mut raw, &group);
    assert_eq!(
        fetch_many(&mut raw, &group, None),
        only_kept,
        "offsets after a restart"
    );

    broker.create_topic(&doomed, 2, &[]);
    let consumer = broker.consumer_with(&[("group.id", &group)]);
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition(&doomed, 0);
    wanted.add_partition(&kept, 0);
    let committed = consumer
        .committed_offsets(wanted, CLIENT_TIMEOUT)
        .expect("committed offsets");
    let offset_of = |t: &str| committed.find_partition(t, 0).map(|e| e.offset());
    assert_eq!(
        offset_of(&doomed),
        Some(Offset::Invalid),
        "the re-created topic has no committed offset"
    );
    assert_eq!(
        offset_of(&kept),
        Some(Offset::Offset(7)),
        "the other topic's offset"
    );
}
