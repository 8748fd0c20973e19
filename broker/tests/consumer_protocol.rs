//! KIP-848 consumer groups (`group.protocol=consumer`) as users see them: librdkafka
//! consumers sharing a topic through ConsumerGroupHeartbeat, partitions moving when a member
//! leaves or dies, a group resuming from its committed offsets after a broker restart, a
//! classic and a consumer group on one broker, and the protocol's errors and
//! ConsumerGroupDescribe over the raw protocol.
mod common;

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use common::*;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{
    ApiKey, ConsumerGroupDescribeRequest, ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse, DeleteGroupsRequest, DescribeGroupsRequest,
    FindCoordinatorRequest, GroupId, JoinGroupRequest, ListGroupsRequest, OffsetCommitRequest,
    OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

/// Generous bound for a group to settle (heartbeats + reconciliation).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Broker settings: fast heartbeats and a short session for consumer-protocol groups.
const CONSUMER_GROUP_BROKER: &[(&str, &str)] = &[
    ("group.initial.rebalance.delay.ms", "0"),
    ("offsets.topic.num.partitions", "5"),
    ("group.consumer.heartbeat.interval.ms", "300"),
    ("group.consumer.min.heartbeat.interval.ms", "100"),
    ("group.consumer.session.timeout.ms", "6000"),
    ("group.consumer.min.session.timeout.ms", "1000"),
];

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// A librdkafka consumer speaking the KIP-848 protocol (no client-side session settings:
/// the broker owns them).
fn consumer_848(
    broker: &TestBroker,
    group: &str,
    extra: &[(&str, &str)],
) -> BaseConsumer<RecordingContext> {
    let mut config = broker.client_config();
    config
        .set("group.id", group)
        .set("group.protocol", "consumer")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    config
        .create_with_context(RecordingContext::default())
        .expect("create rdkafka consumer-protocol consumer")
}

fn count_of(assignments: &[Vec<(String, i32)>]) -> usize {
    assignments.iter().flatten().collect::<HashSet<_>>().len()
}

fn disjoint(assignments: &[Vec<(String, i32)>]) -> bool {
    assignments.iter().map(Vec::len).sum::<usize>() == count_of(assignments)
}

/// Polls until every value of `want` arrived (each at most once overall), within the timeout.
fn consume_exactly(
    consumers: &[&BaseConsumer<RecordingContext>],
    want: &[String],
    what: &str,
) -> Vec<Vec<ConsumedRecord>> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let mut received: Vec<Vec<ConsumedRecord>> = vec![Vec::new(); consumers.len()];
    loop {
        for (i, got) in poll_round(consumers).into_iter().enumerate() {
            received[i].extend(got);
        }
        let total: usize = received.iter().map(Vec::len).sum();
        if total >= want.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: received {total} of {} records within {SETTLE_TIMEOUT:?}",
            want.len()
        );
    }
    let all: Vec<String> = received.iter().flatten().map(|r| r.value_str()).collect();
    let unique: BTreeSet<&String> = all.iter().collect();
    assert_eq!(
        unique.len(),
        all.len(),
        "{what}: some records were delivered twice"
    );
    let wanted: BTreeSet<&String> = want.iter().collect();
    assert_eq!(
        unique, wanted,
        "{what}: delivered records differ from produced"
    );
    received
}

fn find_coordinator(raw: &mut RawClient, group: &str) {
    let mut req = FindCoordinatorRequest::default();
    req.key = sb(group);
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let r = raw.call(3, &req).expect("FindCoordinator");
        if r.error_code == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no coordinator for {group}: error {}",
            r.error_code
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// ConsumerGroupDescribe of one group, retrying (bounded) while its coordinator loads.
fn describe_848_group(
    broker: &TestBroker,
    group: &str,
) -> kafka_protocol::messages::consumer_group_describe_response::DescribedGroup {
    let mut raw = broker.raw();
    let mut request = ConsumerGroupDescribeRequest::default();
    request.group_ids = vec![GroupId(sb(group))];
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let response = raw.call(1, &request).expect("ConsumerGroupDescribe");
        let g = response.groups.into_iter().next().expect("one group");
        if g.error_code == 0 || Instant::now() >= deadline {
            return g;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends a heartbeat, retrying while the coordinator loads.
fn heartbeat(
    raw: &mut RawClient,
    req: &ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let r = raw.call(1, req).expect("ConsumerGroupHeartbeat");
        let retriable = r.error_code == ResponseError::CoordinatorLoadInProgress.code()
            || r.error_code == ResponseError::CoordinatorNotAvailable.code();
        if !retriable || Instant::now() >= deadline {
            return r;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn join_request(group: &str, member: &str, topics: &[&str]) -> ConsumerGroupHeartbeatRequest {
    let mut req = ConsumerGroupHeartbeatRequest::default();
    req.group_id = GroupId(sb(group));
    req.member_id = sb(member);
    req.member_epoch = 0;
    req.rebalance_timeout_ms = 30_000;
    req.subscribed_topic_names = Some(topics.iter().map(|t| TopicName(sb(t))).collect());
    req.topic_partitions = Some(Vec::new());
    req
}

// ------------------------------------------------------------------ librdkafka consumers

#[test]
fn three_consumers_share_twelve_partitions_exactly_once_and_move_partitions_on_close() {
    let broker = TestBroker::start_with(CONSUMER_GROUP_BROKER);
    let topic = broker.new_topic("cg-share", 12);
    let group = topic_name("g848-share");
    let consumers: Vec<_> = (0..3).map(|_| consumer_848(&broker, &group, &[])).collect();
    for c in &consumers {
        c.subscribe(&[&topic]).expect("subscribe");
    }
    let refs: Vec<&_> = consumers.iter().collect();
    poll_until_assigned(
        &refs,
        SETTLE_TIMEOUT,
        "3 members with 4 partitions each",
        |a| a.iter().all(|x| x.len() == 4) && count_of(a) == 12,
    );
    // They really are KIP-848 members: the broker describes them as such.
    let mut raw = broker.raw();
    let mut cgd = ConsumerGroupDescribeRequest::default();
    cgd.group_ids = vec![GroupId(sb(&group))];
    wait_until(
        SETTLE_TIMEOUT,
        "ConsumerGroupDescribe showing 3 stable members",
        || {
            poll_round(&refs);
            let d = raw.call(1, &cgd).expect("ConsumerGroupDescribe");
            let g = &d.groups[0];
            g.error_code == 0 && g.members.len() == 3 && g.group_state.as_str() == "Stable"
        },
    );
    let sent = values("share", 240);
    produce_values(&broker, &topic, &sent);
    let received = consume_exactly(&refs, &sent, "3 members");
    assert!(
        received.iter().all(|r| !r.is_empty()),
        "every member consumed something: {:?}",
        received.iter().map(Vec::len).collect::<Vec<_>>()
    );
    for c in &consumers {
        c.commit_consumer_state(CommitMode::Sync)
            .expect("commit with the member epoch");
    }

    // One member leaves (close sends the leave heartbeat): its partitions move.
    let mut consumers = consumers;
    let closed = consumers.pop().expect("three consumers");
    close_within(closed, "the third member");
    let refs: Vec<&_> = consumers.iter().collect();
    poll_until_assigned(
        &refs,
        SETTLE_TIMEOUT,
        "2 members with 6 partitions each",
        |a| a.iter().all(|x| x.len() == 6) && count_of(a) == 12 && disjoint(a),
    );
    let more = values("after-leave", 120);
    produce_values(&broker, &topic, &more);
    consume_exactly(&refs, &more, "2 members after a leave");
    leave_and_close(consumers, "the 2 members");
}

#[test]
fn killed_member_expires_after_the_session_timeout() {
    let broker = TestBroker::start_with(CONSUMER_GROUP_BROKER);
    let topic = broker.new_topic("cg-expire", 6);
    let group = topic_name("g848-expire");
    let survivor = consumer_848(&broker, &group, &[]);
    survivor.subscribe(&[&topic]).expect("subscribe survivor");
    poll_until_assigned(&[&survivor], SETTLE_TIMEOUT, "survivor owning 6", |a| {
        a[0].len() == 6
    });

    // A raw member that joins, acknowledges its share, and then goes silent (as if killed).
    let mut raw = broker.raw();
    find_coordinator(&mut raw, &group);
    let member = "silent-member-0000000001";
    let r = heartbeat(&mut raw, &join_request(&group, member, &[&topic]));
    assert_eq!(r.error_code, 0, "join: {:?}", r.error_message);
    let epoch = r.member_epoch;
    // Keep heartbeating until the survivor released partitions for us.
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let mut owned = 0;
    let mut epoch_now = epoch;
    while owned < 3 {
        poll_round(&[&survivor]);
        let mut hb = ConsumerGroupHeartbeatRequest::default();
        hb.group_id = GroupId(sb(&group));
        hb.member_id = sb(member);
        hb.member_epoch = epoch_now;
        hb.rebalance_timeout_ms = -1;
        let r = heartbeat(&mut raw, &hb);
        assert_eq!(r.error_code, 0, "heartbeat: {:?}", r.error_message);
        epoch_now = r.member_epoch;
        if let Some(a) = &r.assignment {
            owned = a.topic_partitions.iter().map(|t| t.partitions.len()).sum();
        }
        assert!(
            Instant::now() < deadline,
            "silent member never got 3 partitions"
        );
    }
    poll_until_assigned(&[&survivor], SETTLE_TIMEOUT, "survivor down to 3", |a| {
        a[0].len() == 3
    });
    let silenced_at = Instant::now();
    // No more heartbeats: after the 6 s session timeout the survivor gets everything back.
    poll_until_assigned(
        &[&survivor],
        SETTLE_TIMEOUT,
        "survivor owning 6 again",
        |a| a[0].len() == 6,
    );
    let waited = silenced_at.elapsed();
    assert!(
        waited >= Duration::from_secs(4),
        "partitions moved after {waited:?}, before the 6 s session timeout"
    );
}

#[test]
fn group_resumes_from_committed_offsets_after_a_broker_restart() {
    let mut broker = TestBroker::start_with(CONSUMER_GROUP_BROKER);
    let topic = broker.new_topic("cg-restart", 3);
    let group = topic_name("g848-restart");
    let first = values("first", 30);
    produce_values(&broker, &topic, &first);
    {
        let c = consumer_848(&broker, &group, &[]);
        c.subscribe(&[&topic]).expect("subscribe");
        consume_exactly(&[&c], &first, "before restart");
        c.commit_consumer_state(CommitMode::Sync)
            .expect("commit consumed offsets");
    }
    broker.kill9_and_restart();
    let second = values("second", 30);
    produce_values(&broker, &topic, &second);
    let c = consumer_848(&broker, &group, &[]);
    c.subscribe(&[&topic]).expect("subscribe after restart");
    consume_exactly(&[&c], &second, "after restart (only new records)");

    // The group is still a consumer group after the restart.
    let mut raw = broker.raw();
    let mut req = ListGroupsRequest::default();
    req.types_filter = vec![sb("consumer")];
    let listed = raw.call(5, &req).expect("ListGroups");
    assert!(
        listed
            .groups
            .iter()
            .any(|g| g.group_id.0.as_str() == group && g.group_type.as_str() == "consumer"),
        "ListGroups(consumer) shows {group}: {:?}",
        listed.groups
    );
}

#[test]
fn classic_and_consumer_groups_coexist() {
    let broker = TestBroker::start_with(CONSUMER_GROUP_BROKER);
    let topic = broker.new_topic("cg-mixed", 4);
    let new_group = topic_name("g848-new");
    let old_group = topic_name("g-classic");
    let modern = consumer_848(&broker, &new_group, &[]);
    let classic = group_consumer_for(broker.bootstrap(), &old_group, &[]);
    modern
        .subscribe(&[&topic])
        .expect("subscribe consumer-protocol");
    classic.subscribe(&[&topic]).expect("subscribe classic");
    let sent = values("mixed", 40);
    produce_values(&broker, &topic, &sent);
    consume_exactly(&[&modern], &sent, "consumer-protocol group");
    let mut classic_got = Vec::new();
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while classic_got.len() < sent.len() {
        assert!(
            Instant::now() < deadline,
            "classic group got {} of 40",
            classic_got.len()
        );
        classic_got.extend(poll_round(&[&classic]).remove(0));
    }

    let mut raw = broker.raw();
    let listed = raw
        .call(5, &ListGroupsRequest::default())
        .expect("ListGroups");
    let type_of = |g: &str| {
        listed
            .groups
            .iter()
            .find(|l| l.group_id.0.as_str() == g)
            .map(|l| (l.group_type.to_string(), l.group_state.to_string()))
    };
    assert_eq!(
        type_of(&new_group).map(|t| t.0),
        Some("consumer".to_string())
    );
    assert_eq!(
        type_of(&old_group).map(|t| t.0),
        Some("classic".to_string())
    );
    assert_eq!(type_of(&new_group).map(|t| t.1), Some("Stable".to_string()));

    // A classic JoinGroup into the consumer group is served by it (KIP-848 migration):
    // first a member id, then the subscription must be a readable consumer protocol one, of
    // protocol type "consumer".
    let mut join = JoinGroupRequest::default();
    join.group_id = GroupId(sb(&new_group));
    join.session_timeout_ms = 10_000;
    join.rebalance_timeout_ms = 10_000;
    join.protocol_type = sb("consumer");
    let mut p = JoinGroupRequestProtocol::default();
    p.name = sb("range");
    join.protocols = vec![p];
    let r = raw.call(9, &join).expect("JoinGroup");
    assert_eq!(
        r.error_code,
        ResponseError::MemberIdRequired.code(),
        "JoinGroup into a consumer group"
    );
    join.member_id = r.member_id.clone();
    let r = raw.call(9, &join).expect("JoinGroup");
    assert_eq!(
        r.error_code,
        ResponseError::InconsistentGroupProtocol.code(),
        "JoinGroup with an unreadable subscription into a consumer group"
    );
    join.protocol_type = sb("connect");
    let r = raw.call(9, &join).expect("JoinGroup");
    assert_eq!(
        r.error_code,
        ResponseError::InconsistentGroupProtocol.code(),
        "JoinGroup of another protocol type into a consumer group"
    );
    // DescribeGroups describes only the classic one; ConsumerGroupDescribe the other.
    let mut dg = DescribeGroupsRequest::default();
    dg.groups = vec![GroupId(sb(&new_group)), GroupId(sb(&old_group))];
    // (GROUP_ID_NOT_FOUND arrived with v6, which Kafka 4.0 does not serve: before it, a
    // group that is not classic is just Dead.)
    let d = raw.call(5, &dg).expect("DescribeGroups v5");
    assert_eq!(
        (d.groups[0].error_code, d.groups[0].group_state.as_str()),
        (0, "Dead")
    );
    assert!(d.groups[0].members.is_empty());
    assert_eq!(d.groups[1].error_code, 0);
    assert_eq!(d.groups[1].protocol_type.as_str(), "consumer");
    let mut cgd = ConsumerGroupDescribeRequest::default();
    cgd.group_ids = vec![GroupId(sb(&new_group)), GroupId(sb(&old_group))];
    let d = raw.call(1, &cgd).expect("ConsumerGroupDescribe");
    assert_eq!(d.groups[0].error_code, 0);
    assert_eq!(d.groups[0].group_state.as_str(), "Stable");
    assert_eq!(d.groups[0].assignor_name.as_str(), "uniform");
    assert_eq!(d.groups[0].members.len(), 1);
    let m = &d.groups[0].members[0];
    assert_eq!(m.member_epoch, d.groups[0].group_epoch);
    let owned: usize = m
        .assignment
        .topic_partitions
        .iter()
        .map(|t| t.partitions.len())
        .sum();
    assert_eq!(owned, 4, "the member owns all 4 partitions: {m:?}");
    assert_eq!(m.member_type, 1);
    assert_eq!(
        d.groups[1].error_code,
        ResponseError::GroupIdNotFound.code()
    );
    assert_eq!(
        d.groups[1].error_message.as_deref().map(|m| m.to_string()),
        Some(format!("Group {old_group} is not a consumer group."))
    );
    // Kafka 4.1's DescribeGroups v6 (KIP-1043) and ConsumerGroupDescribe name a group that
    // is not there: "Group G not found." (the Java admin client shows the user this message).
    let missing = topic_name("g-missing");
    dg.groups = vec![
        GroupId(sb(&new_group)),
        GroupId(sb(&old_group)),
        GroupId(sb(&missing)),
    ];
    let d = raw.call(6, &dg).expect("DescribeGroups v6");
    let answer = |g: &kafka_protocol::messages::describe_groups_response::DescribedGroup| {
        let message = g.error_message.as_deref().map(|m| m.to_string());
        (g.error_code, message)
    };
    let not_found = ResponseError::GroupIdNotFound.code();
    assert_eq!(
        answer(&d.groups[0]),
        (
            not_found,
            Some(format!("Group {new_group} is not a classic group."))
        )
    );
    assert_eq!(answer(&d.groups[1]), (0, None));
    assert_eq!(
        answer(&d.groups[2]),
        (not_found, Some(format!("Group {missing} not found.")))
    );
    cgd.group_ids = vec![GroupId(sb(&missing))];
    let d = raw.call(1, &cgd).expect("ConsumerGroupDescribe");
    assert_eq!(
        (
            d.groups[0].error_code,
            d.groups[0].error_message.as_deref().map(|m| m.to_string())
        ),
        (not_found, Some(format!("Group {missing} not found.")))
    );
    let advertised = raw
        .connection()
        .api_versions()
        .peer_range(ApiKey::DescribeGroups as i16);
    assert_eq!(
        advertised.map(|v| v.max),
        Some(6),
        "DescribeGroups v6 advertised, as Kafka 4.1"
    );
}

/// A `group.protocol=consumer` consumer that only uses assign() never heartbeats into the
/// group; librdkafka still sends its own member id (epoch -1) with each commit. The group
/// has no members, so the commits are accepted (created as a simple group first) and a
/// later subscriber of the group starts from them.
#[test]
fn assign_only_consumer_commits_and_a_later_subscriber_resumes_from_them() {
    let broker = TestBroker::start_with(CONSUMER_GROUP_BROKER);
    let topic = topic_name("cg-assign");
    broker.create_topic(&topic, 2, &[]);
    let group = topic_name("g848-assign");
    let first = values("assigned", 20);
    produce_values(&broker, &topic, &first);
    {
        let c = consumer_848(&broker, &group, &[]);
        let mut tpl = TopicPartitionList::new();
        for p in 0..2 {
            tpl.add_partition_offset(&topic, p, Offset::Beginning)
                .expect("partition list");
        }
        c.assign(&tpl).expect("assign both partitions");
        consume_exactly(&[&c], &first, "assign()-only consumer");
        // Two commits: the first creates the group, the second finds it (Empty).
        let mut early = TopicPartitionList::new();
        early
            .add_partition_offset(&topic, 0, Offset::Offset(1))
            .expect("partition list");
        c.commit(&early, CommitMode::Sync)
            .expect("first commit of an assign()-only consumer");
        c.commit_consumer_state(CommitMode::Sync)
            .expect("second commit of an assign()-only consumer");
        let committed = c
            .committed(Duration::from_secs(10))
            .expect("committed offsets");
        let at: Vec<i64> = committed
            .elements()
            .iter()
            .map(|e| e.offset().to_raw().unwrap_or(-1))
            .collect();
        let ends: Vec<i64> = (0..2).map(|p| broker.watermarks(&topic, p).1).collect();
        assert_eq!(at, ends, "committed offsets are the end of each partition");
    }
    let second = values("subscribed", 20);
    produce_values(&broker, &topic, &second);
    let c = consumer_848(&broker, &group, &[]);
    c.subscribe(&[&topic]).expect("subscribe");
    consume_exactly(
        &[&c],
        &second,
        "subscriber after the assign()-only consumer",
    );
}

fn commit_v(
    raw: &mut RawClient,
    version: i16,
    group: &str,
    member: &str,
    epoch: i32,
    topic: &str,
) -> i16 {
    let mut p = OffsetCommitRequestPartition::default();
    p.partition_index = 0;
    p.committed_offset = 1;
    let mut t = OffsetCommitRequestTopic::default();
    t.name = TopicName(sb(topic));
    t.partitions = vec![p];
    let mut req = OffsetCommitRequest::default();
    req.group_id = GroupId(sb(group));
    req.member_id = sb(member);
    req.generation_id_or_member_epoch = epoch;
    req.topics = vec![t];
    // A coordinator still loading answers COORDINATOR_LOAD_IN_PROGRESS, which clients retry.
    retry_while(&[ResponseError::CoordinatorLoadInProgress.code()], || {
        let r = raw.call(version, &req).expect("OffsetCommit");
        (r.topics[0].partitions[0].error_code, ())
    })
    .0
}

/// OffsetCommit's member checks on consumer, classic and unknown groups, as Kafka's
/// `validateOffsetCommit` makes them.
#[test]
fn offset_commit_member_checks_follow_kafka() {
    let broker = TestBroker::start_with(CONSUMER_GROUP_BROKER);
    let topic = topic_name("cg-commit");
    broker.create_topic(&topic, 2, &[]);
    let mut raw = broker.raw();
    let code = |c: i16| ResponseError::try_from_code(c);

    // Unknown group: epoch -1 creates a simple group, whatever member id comes along; then
    // the (Empty) group keeps taking such commits.
    let simple = topic_name("g-simple");
    find_coordinator(&mut raw, &simple);
    assert_eq!(
        commit_v(&mut raw, 9, &simple, "self-made-id", -1, &topic),
        0
    );
    assert_eq!(
        commit_v(&mut raw, 9, &simple, "self-made-id", -1, &topic),
        0
    );
    assert_eq!(commit_v(&mut raw, 9, &simple, "", -1, &topic), 0);
    assert_eq!(commit_v(&mut raw, 8, &simple, "other-id", -1, &topic), 0);
    // ... but a generation names a member that is not there.
    assert_eq!(
        code(commit_v(&mut raw, 9, &simple, "self-made-id", 3, &topic)),
        Some(ResponseError::UnknownMemberId)
    );
    let unknown = topic_name("g-unknown");
    find_coordinator(&mut raw, &unknown);
    assert_eq!(
        code(commit_v(&mut raw, 9, &unknown, "m", 3, &topic)),
        Some(ResponseError::GroupIdNotFound),
        "v9 commit with an epoch into a group that does not exist"
    );
    assert_eq!(
        code(commit_v(&mut raw, 8, &unknown, "m", 3, &topic)),
        Some(ResponseError::IllegalGeneration),
        "v8 commit with a generation into a group that does not exist"
    );

    // A consumer group with one member.
    let group = topic_name("g848-commit");
    find_coordinator(&mut raw, &group);
    let member = "member-commit-00000001";
    let r = heartbeat(&mut raw, &join_request(&group, member, &[&topic]));
    assert_eq!(r.error_code, 0, "join: {:?}", r.error_message);
    let epoch = r.member_epoch;
    assert_eq!(commit_v(&mut raw, 9, &group, member, epoch, &topic), 0);
    assert_eq!(
        code(commit_v(&mut raw, 9, &group, member, epoch + 1, &topic)),
        Some(ResponseError::StaleMemberEpoch)
    );
    assert_eq!(
        code(commit_v(&mut raw, 8, &group, member, epoch, &topic)),
        Some(ResponseError::UnsupportedVersion),
        "a consumer-protocol member commits with OffsetCommit v9+"
    );
    for (who, e) in [("", -1), ("self-made-id", -1), ("nobody", epoch)] {
        assert_eq!(
            code(commit_v(&mut raw, 9, &group, who, e, &topic)),
            Some(ResponseError::UnknownMemberId),
            "member {who:?} epoch {e} into a consumer group with members"
        );
    }
    // Once the member left, the group is empty and takes commits without a member.
    let mut leave = ConsumerGroupHeartbeatRequest::default();
    leave.group_id = GroupId(sb(&group));
    leave.member_id = sb(member);
    leave.member_epoch = -1;
    leave.rebalance_timeout_ms = -1;
    assert_eq!(heartbeat(&mut raw, &leave).error_code, 0);
    assert_eq!(commit_v(&mut raw, 9, &group, "self-made-id", -1, &topic), 0);
    assert_eq!(commit_v(&mut raw, 9, &group, "", -1, &topic), 0);
}

// ------------------------------------------------------------------ raw protocol

#[test]
fn heartbeat_errors_follow_kafka() {
    let broker = TestBroker::start_with(&[
        ("group.initial.rebalance.delay.ms", "0"),
        ("offsets.topic.num.partitions", "5"),
        ("group.consumer.max.size", "2"),
        ("group.consumer.assignors", "range"),
    ]);
    let topic = broker.new_topic("cg-errors", 4);
    let group = topic_name("g848-errors");
    let mut raw = broker.raw();
    find_coordinator(&mut raw, &group);

    let a = heartbeat(
        &mut raw,
        &join_request(&group, "member-a-000000000000", &[&topic]),
    );
    assert_eq!(a.error_code, 0, "{:?}", a.error_message);
    assert_eq!(a.member_epoch, 1);
    assert_eq!(
        a.heartbeat_interval_ms, 5_000,
        "group.consumer.heartbeat.interval.ms default"
    );
    let owned: usize = a
        .assignment
        .as_ref()
        .map(|x| x.topic_partitions.iter().map(|t| t.partitions.len()).sum())
        .unwrap_or(0);
    assert_eq!(owned, 4);

    let code = |r: &ConsumerGroupHeartbeatResponse| ResponseError::try_from_code(r.error_code);
    // Fenced epoch, unknown member, unsupported assignor, invalid regex, missing fields.
    let mut hb = join_request(&group, "member-a-000000000000", &[&topic]);
    hb.member_epoch = 5;
    assert_eq!(
        code(&heartbeat(&mut raw, &hb)),
        Some(ResponseError::FencedMemberEpoch)
    );
    hb.member_id = sb("nobody");
    hb.member_epoch = 1;
    assert_eq!(
        code(&heartbeat(&mut raw, &hb)),
        Some(ResponseError::UnknownMemberId)
    );
    let mut bad = join_request(&group, "member-b-000000000000", &[&topic]);
    bad.server_assignor = Some(sb("uniform"));
    assert_eq!(
        code(&heartbeat(&mut raw, &bad)),
        Some(ResponseError::UnsupportedAssignor)
    );
    let mut bad = join_request(&group, "member-b-000000000000", &[]);
    bad.subscribed_topic_names = None;
    bad.subscribed_topic_regex = Some(sb("cg-(errors"));
    assert_eq!(
        code(&heartbeat(&mut raw, &bad)),
        Some(ResponseError::InvalidRegularExpression)
    );
    let mut bad = join_request(&group, "member-b-000000000000", &[&topic]);
    bad.rebalance_timeout_ms = -1;
    assert_eq!(
        code(&heartbeat(&mut raw, &bad)),
        Some(ResponseError::InvalidRequest)
    );
    let bad = join_request(&group, "", &[&topic]);
    assert_eq!(
        code(&heartbeat(&mut raw, &bad)),
        Some(ResponseError::InvalidRequest)
    );

    // Static membership: a second instance with the same id is refused while the first is
    // active; the group's size limit applies.
    let mut s1 = join_request(&group, "member-s-000000000001", &[]);
    s1.subscribed_topic_names = None;
    s1.subscribed_topic_regex = Some(sb("cg-errors.*"));
    s1.instance_id = Some(sb("instance-1"));
    let r = heartbeat(&mut raw, &s1);
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    let mut s2 = s1.clone();
    s2.member_id = sb("member-s-000000000002");
    assert_eq!(
        code(&heartbeat(&mut raw, &s2)),
        Some(ResponseError::UnreleasedInstanceId)
    );
    let c = join_request(&group, "member-c-000000000000", &[&topic]);
    assert_eq!(
        code(&heartbeat(&mut raw, &c)),
        Some(ResponseError::GroupMaxSizeReached)
    );

    // The range assignor splits 4 partitions 2/2 once member a revoked.
    let mut cgd = ConsumerGroupDescribeRequest::default();
    cgd.group_ids = vec![GroupId(sb(&group))];
    let d = raw.call(0, &cgd).expect("ConsumerGroupDescribe");
    let g = &d.groups[0];
    assert_eq!(g.assignor_name.as_str(), "range");
    let targets: Vec<usize> = g
        .members
        .iter()
        .map(|m| {
            m.target_assignment
                .topic_partitions
                .iter()
                .map(|t| t.partitions.len())
                .sum()
        })
        .collect();
    assert_eq!(targets, vec![2, 2], "range target assignment");
    let regex_member = g
        .members
        .iter()
        .find(|m| m.instance_id.as_ref().map(|s| s.as_str()) == Some("instance-1"))
        .expect("static member described");
    assert_eq!(
        regex_member
            .subscribed_topic_regex
            .as_ref()
            .map(|s| s.as_str()),
        Some("cg-errors.*")
    );
    assert_eq!(g.group_state.as_str(), "Reconciling");

    // OffsetFetch v9 checks the member of a consumer group.
    let fetch = |raw: &mut RawClient, member: Option<&str>, epoch: i32| {
        let mut g = OffsetFetchRequestGroup::default();
        g.group_id = GroupId(sb(&group));
        g.member_id = member.map(sb);
        g.member_epoch = epoch;
        g.topics = None;
        let mut req = OffsetFetchRequest::default();
        req.groups = vec![g];
        raw.call(9, &req).expect("OffsetFetch v9").groups[0].error_code
    };
    assert_eq!(fetch(&mut raw, Some("member-a-000000000000"), 1), 0);
    assert_eq!(fetch(&mut raw, None, -1), 0, "admin fetch without member");
    assert_eq!(
        fetch(&mut raw, Some("member-a-000000000000"), 9),
        ResponseError::StaleMemberEpoch.code()
    );
    assert_eq!(
        fetch(&mut raw, Some("nobody"), 1),
        ResponseError::UnknownMemberId.code()
    );

    // Member a leaves: epoch -1 echoed.
    let mut leave = ConsumerGroupHeartbeatRequest::default();
    leave.group_id = GroupId(sb(&group));
    leave.member_id = sb("member-a-000000000000");
    leave.member_epoch = -1;
    leave.rebalance_timeout_ms = -1;
    let r = heartbeat(&mut raw, &leave);
    assert_eq!((r.error_code, r.member_epoch), (0, -1));

    // The group still has the static member: not deletable; ListGroups filters its state.
    let mut del = DeleteGroupsRequest::default();
    del.groups_names = vec![GroupId(sb(&group))];
    let r = raw.call(2, &del).expect("DeleteGroups");
    assert_eq!(r.results[0].error_code, ResponseError::NonEmptyGroup.code());
    let mut lg = ListGroupsRequest::default();
    lg.states_filter = vec![sb("stable"), sb("reconciling"), sb("assigning")];
    lg.types_filter = vec![sb("consumer")];
    let listed = raw.call(5, &lg).expect("ListGroups");
    assert!(
        listed.groups.iter().any(|g| g.group_id.0.as_str() == group),
        "{group} listed with a consumer-group state: {:?}",
        listed.groups
    );
    lg.types_filter = vec![sb("classic")];
    let listed = raw.call(5, &lg).expect("ListGroups");
    assert!(
        listed.groups.iter().all(|g| g.group_id.0.as_str() != group),
        "a consumer group is not listed as classic"
    );

    // v0: the coordinator generates the member id of a joining member.
    let other = topic_name("g848-v0");
    find_coordinator(&mut raw, &other);
    let mut v0 = join_request(&other, "", &[&topic]);
    v0.member_epoch = 0;
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let r = loop {
        let r = raw.call(0, &v0).expect("ConsumerGroupHeartbeat v0");
        if r.error_code != ResponseError::CoordinatorLoadInProgress.code()
            || Instant::now() >= deadline
        {
            break r;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    let id = r.member_id.map(|s| s.to_string()).unwrap_or_default();
    assert_eq!(id.len(), 22, "a base64 UUID member id: {id:?}");
}

#[test]
fn regex_subscription_picks_up_matching_topics_including_new_ones() {
    let broker = TestBroker::start_with(CONSUMER_GROUP_BROKER);
    let prefix = topic_name("cgre");
    let (t1, t2, other) = (
        format!("{prefix}-a"),
        format!("{prefix}-b"),
        topic_name("cg-unrelated"),
    );
    broker.create_topic(&t1, 2, &[]);
    broker.create_topic(&other, 2, &[]);
    let group = topic_name("g848-regex");
    let c = consumer_848(&broker, &group, &[]);
    c.subscribe(&[&format!("^{prefix}-.*")])
        .expect("subscribe by regex");
    poll_until_assigned(
        &[&c],
        SETTLE_TIMEOUT,
        "the 2 partitions of the first match",
        |a| a[0].len() == 2,
    );
    broker.create_topic(&t2, 3, &[]);
    poll_until_assigned(
        &[&c],
        SETTLE_TIMEOUT,
        "5 partitions once a second topic matches",
        |a| a[0].len() == 5 && a[0].iter().all(|(t, _)| t.starts_with(&prefix)),
    );
}

#[test]
fn static_member_leaving_and_rejoining_keeps_its_partitions() {
    let broker = TestBroker::start_with(CONSUMER_GROUP_BROKER);
    let topic = broker.new_topic("cg-static", 6);
    let group = topic_name("g848-static");
    let a = consumer_848(&broker, &group, &[("group.instance.id", "instance-a")]);
    let b = consumer_848(&broker, &group, &[("group.instance.id", "instance-b")]);
    a.subscribe(&[&topic]).expect("subscribe a");
    b.subscribe(&[&topic]).expect("subscribe b");
    poll_until_assigned(&[&a, &b], SETTLE_TIMEOUT, "a and b with 3 each", |x| {
        x[0].len() == 3 && x[1].len() == 3 && count_of(x) == 6
    });
    let b_had = assignment_of(&b);
    let a_events_before = a.context().events().len();
    let before = describe_848_group(&broker, &group);
    close_within(b, "instance-b");
    // A static member leaves temporarily (epoch -2): a does not take over its partitions.
    // The coordinator decides that when it handles the leave, so once the leave shows
    // (instance-b at epoch -2) a rebalance would already show as a new group epoch or a
    // new target assignment for a.
    wait_until(
        SETTLE_TIMEOUT,
        "instance-b's static leave (member epoch -2)",
        || {
            describe_848_group(&broker, &group).members.iter().any(|m| {
                m.instance_id.as_ref().map(|i| i.as_str()) == Some("instance-b")
                    && m.member_epoch == -2
            })
        },
    );
    let left = describe_848_group(&broker, &group);
    assert_eq!(
        left.group_epoch, before.group_epoch,
        "a static member's temporary leave must not start a rebalance"
    );
    let target_of_a =
        |g: &kafka_protocol::messages::consumer_group_describe_response::DescribedGroup| {
            g.members
                .iter()
                .find(|m| m.instance_id.as_ref().map(|i| i.as_str()) == Some("instance-a"))
                .map(|m| format!("{:?}", m.target_assignment))
                .expect("instance-a in the group")
        };
    assert_eq!(
        target_of_a(&left),
        target_of_a(&before),
        "a's target assignment changed while b's instance was away"
    );
    let b2 = consumer_848(&broker, &group, &[("group.instance.id", "instance-b")]);
    b2.subscribe(&[&topic]).expect("subscribe b again");
    poll_until_assigned(
        &[&a, &b2],
        SETTLE_TIMEOUT,
        "b's instance back with its 3",
        |x| x[1] == b_had && x[0].len() == 3,
    );
    let a_gained: BTreeSet<(String, i32)> = a
        .context()
        .events()
        .into_iter()
        .skip(a_events_before)
        .filter_map(|e| match e {
            RebalanceEvent::Assign(ps) => Some(ps),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(
        a_gained.is_empty(),
        "a received {a_gained:?} while b's instance was away"
    );
    leave_and_close(vec![a, b2], "instance-a and instance-b");
}

/// A member stays in the group across a kill -9 of the broker (same port): the reloaded
/// coordinator knows its member id, epoch and partitions, so it keeps consuming without a
/// rebalance.
#[test]
fn members_survive_a_broker_kill9_without_rebalancing() {
    let mut overrides: Vec<(&str, &str)> = CONSUMER_GROUP_BROKER.to_vec();
    // Long enough that the member's session outlives the restart.
    overrides.retain(|(k, _)| *k != "group.consumer.session.timeout.ms");
    overrides.push(("group.consumer.session.timeout.ms", "30000"));
    let mut broker = TestBroker::start_with(&overrides);
    let topic = broker.new_topic("cg-survive", 3);
    let group = topic_name("g848-survive");
    let c = consumer_848(&broker, &group, &[]);
    c.subscribe(&[&topic]).expect("subscribe");
    poll_until_assigned(&[&c], SETTLE_TIMEOUT, "the member owning 3", |a| {
        a[0].len() == 3
    });
    let first = values("before", 30);
    produce_values(&broker, &topic, &first);
    consume_exactly(&[&c], &first, "before the crash");
    let describe = |broker: &TestBroker| {
        let mut raw = broker.raw();
        let mut cgd = ConsumerGroupDescribeRequest::default();
        cgd.group_ids = vec![GroupId(sb(&group))];
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            let d = raw.call(1, &cgd).expect("ConsumerGroupDescribe");
            let g = d.groups.into_iter().next().expect("one group");
            if g.error_code == 0 || Instant::now() >= deadline {
                return g;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let before = describe(&broker);
    assert_eq!(before.members.len(), 1);
    let events_before = c.context().events().len();

    broker.kill9();
    broker.restart_on_same_port();
    let after = describe(&broker);
    assert_eq!(
        after.error_code, 0,
        "group reloaded: {:?}",
        after.error_message
    );
    assert_eq!(after.members.len(), 1, "the member was reloaded");
    assert_eq!(after.members[0].member_id, before.members[0].member_id);
    assert_eq!(
        after.members[0].member_epoch,
        before.members[0].member_epoch
    );
    assert_eq!(after.group_epoch, before.group_epoch);

    let second = values("after", 30);
    produce_values(&broker, &topic, &second);
    consume_exactly(&[&c], &second, "after the crash, same member");

    // Fetching needs no heartbeat, so the consumption above does not show that the restarted
    // coordinator accepted c's heartbeats. A second member does: it gets partitions only
    // after c revoked them on a heartbeat. Had the restarted coordinator fenced c, c would
    // have lost all its partitions and rejoined under a new member id.
    let d = consumer_848(&broker, &group, &[]);
    d.subscribe(&[&topic]).expect("subscribe d");
    poll_until_assigned(&[&c, &d], SETTLE_TIMEOUT, "c and d sharing the 3", |x| {
        count_of(x) == 3 && disjoint(x) && !x[0].is_empty() && !x[1].is_empty()
    });
    let d_got: BTreeSet<(String, i32)> = assignment_of(&d).into_iter().collect();
    let later: Vec<RebalanceEvent> = c
        .context()
        .events()
        .into_iter()
        .skip(events_before)
        .collect();
    let unexpected: Vec<&RebalanceEvent> = later
        .iter()
        .filter(|e| match e {
            RebalanceEvent::Revoke(ps) => !ps.iter().all(|p| d_got.contains(p)),
            RebalanceEvent::Assign(ps) => !ps.is_empty(),
            RebalanceEvent::Error(_) => true,
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "across the restart c may only hand d its partitions ({d_got:?}); it saw {later:?}"
    );
    let joined = describe(&broker);
    let c_now = joined
        .members
        .iter()
        .find(|m| m.member_id == before.members[0].member_id)
        .unwrap_or_else(|| {
            panic!(
                "c's member id from before the crash is gone (fenced and rejoined?): {:?}",
                joined.members
            )
        });
    assert!(
        c_now.member_epoch > before.members[0].member_epoch,
        "c moved on with the group's epoch ({} before, {} now)",
        before.members[0].member_epoch,
        c_now.member_epoch
    );
    leave_and_close(vec![c, d], "c and d");
}
