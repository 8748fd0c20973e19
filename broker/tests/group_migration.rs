//! Online migration of a group between the classic protocol and the consumer protocol
//! (KIP-848), the way teams roll it out: the librdkafka consumers of a classic group
//! (roundrobin, range, cooperative-sticky) are replaced one at a time by consumers with
//! `group.protocol=consumer` and then back, while records are produced and consumed the
//! whole time. At every step the group is settled (each consumer owns partitions, none
//! twice), DescribeGroups / ConsumerGroupDescribe / ListGroups show the protocol in use,
//! and the committed offsets are at least what the consumers committed. No record is lost;
//! one is delivered again only if it had not been committed. Also: a broker kill -9 in the
//! middle of a migration, and `group.consumer.migration.policy`.
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupHeartbeatRequest, DescribeGroupsRequest,
    FindCoordinatorRequest, GroupId, JoinGroupRequest, ListGroupsRequest, OffsetFetchRequest,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};

/// Generous bound for a group to settle after one consumer came or went.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Bound for consumers to catch up with everything produced.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(90);
const PARTITIONS: i32 = 12;
const CONSUMERS: usize = 3;

/// Quick heartbeats and short sessions for both protocols.
const MIGRATION_BROKER: &[(&str, &str)] = &[
    ("group.initial.rebalance.delay.ms", "0"),
    ("offsets.topic.num.partitions", "5"),
    ("group.min.session.timeout.ms", "1000"),
    ("group.consumer.heartbeat.interval.ms", "300"),
    ("group.consumer.min.heartbeat.interval.ms", "100"),
    ("group.consumer.session.timeout.ms", "6000"),
    ("group.consumer.min.session.timeout.ms", "1000"),
];

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// The protocol one consumer speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// `group.protocol=classic` with this `partition.assignment.strategy`.
    Classic(&'static str),
    Consumer,
}

/// What all consumers of a test saw, in the order it happened.
#[derive(Default)]
struct Ledger {
    delivered: BTreeMap<i32, BTreeSet<i64>>,
    /// Partition → next offset of the last commit that succeeded.
    committed: BTreeMap<i32, i64>,
    redeliveries: usize,
    /// Committed records delivered again (must stay empty).
    violations: Vec<String>,
}

/// One consumer's context: its uncommitted progress, and the shared ledger. A revocation
/// commits what was consumed of the revoked partitions before they move.
#[derive(Clone)]
struct MemberContext {
    name: String,
    topic: String,
    ledger: Arc<Mutex<Ledger>>,
    /// Partition → next offset after what this consumer delivered, not committed yet.
    uncommitted: Arc<Mutex<BTreeMap<i32, i64>>>,
}

impl MemberContext {
    fn deliver(&self, partition: i32, offset: i64) {
        let mut ledger = self.ledger.lock().expect("ledger");
        let committed = ledger.committed.get(&partition).copied().unwrap_or(-1);
        if !ledger
            .delivered
            .entry(partition)
            .or_default()
            .insert(offset)
        {
            ledger.redeliveries += 1;
            if offset < committed {
                let v = format!(
                    "{} got {}-{partition}@{offset} again although offset {committed} was committed",
                    self.name, self.topic
                );
                ledger.violations.push(v);
            }
        }
        let mut uncommitted = self.uncommitted.lock().expect("uncommitted");
        let next = uncommitted.entry(partition).or_insert(offset + 1);
        *next = (*next).max(offset + 1);
    }

    /// Commits (synchronously) what this consumer delivered of `partitions` (all when
    /// `None`); the ledger learns what succeeded.
    fn commit(&self, consumer: &BaseConsumer<MemberContext>, partitions: Option<&BTreeSet<i32>>) {
        let chosen: Vec<(i32, i64)> = self
            .uncommitted
            .lock()
            .expect("uncommitted")
            .iter()
            .filter(|(p, _)| partitions.is_none_or(|ps| ps.contains(p)))
            .map(|(p, o)| (*p, *o))
            .collect();
        if chosen.is_empty() {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for (p, o) in &chosen {
            tpl.add_partition_offset(&self.topic, *p, Offset::Offset(*o))
                .expect("partition list");
        }
        if consumer.commit(&tpl, CommitMode::Sync).is_ok() {
            let mut ledger = self.ledger.lock().expect("ledger");
            let mut uncommitted = self.uncommitted.lock().expect("uncommitted");
            for (p, o) in chosen {
                ledger.committed.insert(p, o);
                if uncommitted.get(&p) == Some(&o) {
                    uncommitted.remove(&p);
                }
            }
        }
    }
}

impl rdkafka::client::ClientContext for MemberContext {}

impl ConsumerContext for MemberContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let revoked: BTreeSet<i32> = tpl
                .elements()
                .iter()
                .filter(|e| e.topic() == self.topic)
                .map(|e| e.partition())
                .collect();
            self.commit(consumer, Some(&revoked));
            // Whatever could not be committed is someone else's to deliver again.
            self.uncommitted
                .lock()
                .expect("uncommitted")
                .retain(|p, _| !revoked.contains(p));
        }
    }
}

struct Member {
    protocol: Protocol,
    context: MemberContext,
    consumer: BaseConsumer<MemberContext>,
}

/// Records produced in the background until stopped: (partition, offset) of every ack.
struct Production {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<(i32, i64)>>,
}

impl Production {
    fn start(bootstrap: &str, topic: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (bootstrap, topic, flag) = (bootstrap.to_owned(), topic.to_owned(), stop.clone());
        let handle = std::thread::spawn(move || {
            let producer = producer_for(&bootstrap, &[("message.timeout.ms", "120000")]);
            let mut acked = Vec::new();
            let mut n = 0u64;
            // Bounded by the stop flag the test sets (and the test's own deadlines).
            while !flag.load(Ordering::Relaxed) {
                let batch: Vec<_> = (0..10)
                    .map(|_| {
                        n += 1;
                        let (key, value) = (format!("k{n}"), format!("v{n}"));
                        producer
                            .send_result(FutureRecord::to(&topic).key(&key).payload(&value))
                            .unwrap_or_else(|(e, _)| panic!("enqueueing {value} failed: {e}"))
                    })
                    .collect();
                block_on(async {
                    for delivery in batch {
                        match delivery.await {
                            Ok(Ok(d)) => acked.push((d.partition, d.offset)),
                            Ok(Err((e, _))) => panic!("producing to {topic} failed: {e}"),
                            Err(_) => panic!("producer dropped a delivery"),
                        }
                    }
                });
                // Pacing, not a condition: a steady trickle of records.
                std::thread::sleep(Duration::from_millis(40));
            }
            acked
        });
        Self { stop, handle }
    }

    fn finish(self) -> Vec<(i32, i64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("producer thread")
    }
}

/// What the broker says about the group.
#[derive(Debug, PartialEq, Eq)]
enum Described {
    /// DescribeGroups describes it (ConsumerGroupDescribe: GROUP_ID_NOT_FOUND).
    Classic {
        state: String,
        protocol_type: String,
        protocol: String,
        members: usize,
    },
    /// ConsumerGroupDescribe describes it (DescribeGroups: Dead).
    Consumer {
        state: String,
        classic_members: usize,
        consumer_members: usize,
    },
    Other(String),
}

struct Migration {
    broker: TestBroker,
    topic: String,
    group: String,
    ledger: Arc<Mutex<Ledger>>,
    members: Vec<Member>,
    next_name: usize,
    /// `group.consumer.migration.policy` keeps a consumer group of classic members.
    downgrade_disabled: bool,
}

impl Migration {
    fn new(broker: TestBroker, prefix: &str) -> Self {
        let topic = topic_name(&format!("{prefix}-t"));
        broker.create_topic(&topic, PARTITIONS, &[]);
        Self {
            broker,
            topic,
            group: topic_name(&format!("{prefix}-g")),
            ledger: Arc::default(),
            members: Vec::new(),
            next_name: 0,
            downgrade_disabled: false,
        }
    }

    fn add(&mut self, protocol: Protocol) {
        self.add_with(protocol, None);
    }

    /// Adds a consumer, a static member with `instance` (`group.instance.id`) if given.
    fn add_with(&mut self, protocol: Protocol, instance: Option<&str>) {
        self.add_configured(protocol, instance, &[]);
    }

    /// Adds a consumer with `extra` client settings on top.
    fn add_configured(
        &mut self,
        protocol: Protocol,
        instance: Option<&str>,
        extra: &[(&str, &str)],
    ) {
        self.next_name += 1;
        let name = match protocol {
            Protocol::Classic(assignor) => format!("classic-{assignor}-{}", self.next_name),
            Protocol::Consumer => format!("consumer-{}", self.next_name),
        };
        let context = MemberContext {
            name: name.clone(),
            topic: self.topic.clone(),
            ledger: Arc::clone(&self.ledger),
            uncommitted: Arc::default(),
        };
        let mut config = client_config(self.broker.bootstrap());
        config
            .set("group.id", &self.group)
            .set("client.id", &name)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "100");
        if let Some(instance) = instance {
            config.set("group.instance.id", instance);
        }
        match protocol {
            Protocol::Classic(assignor) => {
                config
                    .set("group.protocol", "classic")
                    .set("partition.assignment.strategy", assignor)
                    .set("session.timeout.ms", "6000")
                    .set("heartbeat.interval.ms", "300");
            }
            Protocol::Consumer => {
                config.set("group.protocol", "consumer");
            }
        }
        for (k, v) in extra {
            config.set(*k, *v);
        }
        let consumer: BaseConsumer<MemberContext> = config
            .create_with_context(context.clone())
            .expect("create consumer");
        consumer.subscribe(&[&self.topic]).expect("subscribe");
        self.members.push(Member {
            protocol,
            context,
            consumer,
        });
    }

    /// Closes the oldest consumer of `protocol` (it leaves the group).
    fn remove_oldest(&mut self, protocol: Protocol) {
        self.remove_oldest_matching(|m| m.protocol == protocol);
    }

    /// Closes the oldest consumer `select` picks.
    fn remove_oldest_matching(&mut self, select: impl Fn(&Member) -> bool) {
        let i = self
            .members
            .iter()
            .position(select)
            .unwrap_or_else(|| panic!("no such consumer to remove"));
        let m = self.members.remove(i);
        m.context.commit(&m.consumer, None);
        // Closing revokes (committing) and leaves the group.
        close_within(m.consumer, "the removed member");
    }

    /// One round: every consumer polls what is there, then commits it.
    fn poll_round(&self) {
        for m in &self.members {
            // Bounded: at most 500 records per consumer per round.
            for _ in 0..500 {
                match m.consumer.poll(Duration::from_millis(10)) {
                    Some(Ok(msg)) => m.context.deliver(msg.partition(), msg.offset()),
                    Some(Err(_)) => {}
                    None => break,
                }
            }
        }
        for m in &self.members {
            let owned: BTreeSet<i32> = m
                .consumer
                .assignment()
                .map(|tpl| tpl.elements().iter().map(|e| e.partition()).collect())
                .unwrap_or_default();
            m.context.commit(&m.consumer, Some(&owned));
        }
    }

    fn assignments(&self) -> Vec<BTreeSet<i32>> {
        self.members
            .iter()
            .map(|m| {
                m.consumer
                    .assignment()
                    .map(|tpl| tpl.elements().iter().map(|e| e.partition()).collect())
                    .unwrap_or_default()
            })
            .collect()
    }

    fn describe(&self) -> Described {
        let mut raw = self.broker.raw();
        let mut dg = DescribeGroupsRequest::default();
        dg.groups = vec![GroupId(sb(&self.group))];
        let Ok(d) = raw.call(5, &dg) else {
            return Described::Other("DescribeGroups failed".into());
        };
        let g = &d.groups[0];
        let mut cgd = ConsumerGroupDescribeRequest::default();
        cgd.group_ids = vec![GroupId(sb(&self.group))];
        let Ok(c) = raw.call(1, &cgd) else {
            return Described::Other("ConsumerGroupDescribe failed".into());
        };
        let cg = &c.groups[0];
        let Ok(listed) = raw.call(5, &ListGroupsRequest::default()) else {
            return Described::Other("ListGroups failed".into());
        };
        let group_type = listed
            .groups
            .iter()
            .find(|l| l.group_id.0.as_str() == self.group)
            .map(|l| l.group_type.to_string())
            .unwrap_or_default();
        match (g.error_code, cg.error_code, group_type.as_str()) {
            (0, e, "classic")
                if e == ResponseError::GroupIdNotFound.code()
                    && g.group_state.as_str() != "Dead" =>
            {
                Described::Classic {
                    state: g.group_state.to_string(),
                    protocol_type: g.protocol_type.to_string(),
                    protocol: g.protocol_data.to_string(),
                    members: g.members.len(),
                }
            }
            (0, 0, "consumer") if g.group_state.as_str() == "Dead" && g.members.is_empty() => {
                Described::Consumer {
                    state: cg.group_state.to_string(),
                    classic_members: cg.members.iter().filter(|m| m.member_type == 0).count(),
                    consumer_members: cg.members.iter().filter(|m| m.member_type == 1).count(),
                }
            }
            other => Described::Other(format!(
                "DescribeGroups {:?} {} / ConsumerGroupDescribe {} / ListGroups {other:?}",
                g.error_code, g.group_state, cg.error_code
            )),
        }
    }

    /// What the current consumers should make the broker describe once settled.
    fn expected(&self, assignor: &str) -> Described {
        let classic = self
            .members
            .iter()
            .filter(|m| matches!(m.protocol, Protocol::Classic(_)))
            .count();
        let consumer = self.members.len() - classic;
        if consumer == 0 && !self.downgrade_disabled {
            Described::Classic {
                state: "Stable".into(),
                protocol_type: "consumer".into(),
                protocol: assignor.into(),
                members: classic,
            }
        } else {
            Described::Consumer {
                state: "Stable".into(),
                classic_members: classic,
                consumer_members: consumer,
            }
        }
    }

    /// Polls until every consumer owns partitions, each partition exactly one, and the
    /// broker describes the group as `expected`; then checks the committed offsets.
    fn settle(&self, what: &str, assignor: &str) {
        let expected = self.expected(assignor);
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        let mut seen;
        loop {
            self.poll_round();
            let a = self.assignments();
            let owned: usize = a.iter().map(BTreeSet::len).sum();
            let union: BTreeSet<i32> = a.iter().flatten().copied().collect();
            let balanced = a.iter().all(|x| !x.is_empty())
                && owned == PARTITIONS as usize
                && union.len() == PARTITIONS as usize;
            seen = self.describe();
            if balanced && seen == expected {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not settled within {SETTLE_TIMEOUT:?}: assignments {a:?}, broker describes {seen:?}, expected {expected:?}"
            );
        }
        self.check_committed(what);
        let ledger = self.ledger.lock().expect("ledger");
        assert!(
            ledger.violations.is_empty(),
            "{what}: committed records delivered again: {:?}",
            ledger.violations
        );
    }

    /// The group's committed offsets (OffsetFetch) for every partition.
    fn fetch_committed(&self) -> BTreeMap<i32, i64> {
        let mut raw = self.broker.raw();
        let mut fc = FindCoordinatorRequest::default();
        fc.key = sb(&self.group);
        raw.call(3, &fc).expect("FindCoordinator");
        let mut t = OffsetFetchRequestTopics::default();
        t.name = TopicName(sb(&self.topic));
        t.partition_indexes = (0..PARTITIONS).collect();
        let mut g = OffsetFetchRequestGroup::default();
        g.group_id = GroupId(sb(&self.group));
        g.topics = Some(vec![t]);
        let mut req = OffsetFetchRequest::default();
        req.groups = vec![g];
        let r = raw.call(8, &req).expect("OffsetFetch");
        let g = &r.groups[0];
        assert_eq!(g.error_code, 0, "OffsetFetch of {}", self.group);
        g.topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.committed_offset))
            .collect()
    }

    /// Every commit that succeeded is still there (or a later one).
    fn check_committed(&self, what: &str) {
        let at_broker = self.fetch_committed();
        let committed = self.ledger.lock().expect("ledger").committed.clone();
        for (p, o) in committed {
            let have = at_broker.get(&p).copied().unwrap_or(-1);
            assert!(
                have >= o,
                "{what}: partition {p} committed at {o}, but the group's committed offset is {have}"
            );
        }
    }

    /// Stops producing, consumes everything produced, and checks nothing was lost and
    /// the final committed offsets are the ends of the partitions.
    fn finish(mut self, production: Production) {
        let acked = production.finish();
        assert!(!acked.is_empty(), "nothing was produced");
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        loop {
            self.poll_round();
            let ledger = self.ledger.lock().expect("ledger");
            let missing = acked
                .iter()
                .filter(|(p, o)| !ledger.delivered.get(p).is_some_and(|d| d.contains(o)))
                .count();
            drop(ledger);
            if missing == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{missing} of {} produced records never delivered",
                acked.len()
            );
        }
        for m in self.members.drain(..) {
            m.context.commit(&m.consumer, None);
            close_within(m.consumer, "a member at the end");
        }
        let ledger = self.ledger.lock().expect("ledger");
        assert!(
            ledger.violations.is_empty(),
            "committed records delivered again: {:?}",
            ledger.violations
        );
        eprintln!(
            "{} records produced; {} delivered again (uncommitted when their partition moved)",
            acked.len(),
            ledger.redeliveries
        );
        drop(ledger);
        let ends: BTreeMap<i32, i64> = (0..PARTITIONS)
            .map(|p| (p, self.broker.watermarks(&self.topic, p).1))
            .collect();
        assert_eq!(
            self.fetch_committed(),
            ends,
            "the group's committed offsets are the end of every partition"
        );
    }
}

/// Three classic consumers with `assignor` are replaced one by one by consumer-protocol
/// consumers (the group converts at the first), then one by one by classic consumers again
/// (it converts back when the last consumer-protocol member leaves).
fn migrate_there_and_back(assignor: &'static str) {
    let broker = TestBroker::start_with(MIGRATION_BROKER);
    let mut m = Migration::new(broker, &format!("mig-{assignor}"));
    let classic = Protocol::Classic(assignor);
    let production = Production::start(m.broker.bootstrap(), &m.topic);
    // One at a time: the group goes through several generations (librdkafka's sticky
    // assignors then carry user data in their assignments).
    for i in 1..=CONSUMERS {
        m.add(classic);
        m.settle(&format!("{i} classic consumer(s)"), assignor);
    }
    for i in 1..=CONSUMERS {
        m.add(Protocol::Consumer);
        m.settle(
            &format!("upgrade {i}: consumer-protocol consumer added"),
            assignor,
        );
        m.remove_oldest(classic);
        m.settle(&format!("upgrade {i}: classic consumer closed"), assignor);
    }
    for i in 1..=CONSUMERS {
        m.add(classic);
        m.settle(&format!("downgrade {i}: classic consumer added"), assignor);
        m.remove_oldest(Protocol::Consumer);
        m.settle(
            &format!("downgrade {i}: consumer-protocol consumer closed"),
            assignor,
        );
    }
    m.finish(production);
}

#[test]
fn roundrobin_group_migrates_to_the_consumer_protocol_and_back() {
    migrate_there_and_back("roundrobin");
}

#[test]
fn range_group_migrates_to_the_consumer_protocol_and_back() {
    migrate_there_and_back("range");
}

#[test]
fn cooperative_sticky_group_migrates_to_the_consumer_protocol_and_back() {
    migrate_there_and_back("cooperative-sticky");
}

/// ConsumerGroupDescribe's member ids with their types, retried while the coordinator
/// loads.
fn described_members(broker: &TestBroker, group: &str) -> BTreeMap<String, i8> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let mut raw = broker.raw();
        let mut cgd = ConsumerGroupDescribeRequest::default();
        cgd.group_ids = vec![GroupId(sb(group))];
        if let Ok(d) = raw.call(1, &cgd) {
            let g = &d.groups[0];
            if g.error_code == 0 {
                return g
                    .members
                    .iter()
                    .map(|m| (m.member_id.to_string(), m.member_type))
                    .collect();
            }
            assert!(
                Instant::now() < deadline,
                "ConsumerGroupDescribe of {group}: error {} ({:?})",
                g.error_code,
                g.error_message
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The broker is killed (-9) with the group half migrated each way; the reloaded
/// coordinator knows the group as a consumer group with the same classic and
/// consumer-protocol members, the running consumers carry on, and the migration completes.
#[test]
fn migration_survives_broker_kill9_midway() {
    let overrides: Vec<(&str, &str)> = MIGRATION_BROKER.to_vec();
    let assignor = "cooperative-sticky";
    let classic = Protocol::Classic(assignor);
    let mut m = Migration::new(TestBroker::start_with(&overrides), "mig-restart");
    let production = Production::start(m.broker.bootstrap(), &m.topic);
    // One at a time: the group goes through several generations (librdkafka's sticky
    // assignors then carry user data in their assignments).
    for i in 1..=CONSUMERS {
        m.add(classic);
        m.settle(&format!("{i} classic consumer(s)"), assignor);
    }
    let restart = |m: &mut Migration, what: &str| {
        let before = described_members(&m.broker, &m.group);
        m.broker.kill9();
        m.broker.restart_on_same_port();
        assert_eq!(
            described_members(&m.broker, &m.group),
            before,
            "{what}: the reloaded group has the same members of the same protocols"
        );
        m.settle(&format!("{what}: after the restart"), assignor);
    };
    m.add(Protocol::Consumer);
    m.settle("upgrade: one consumer-protocol consumer added", assignor);
    m.remove_oldest(classic);
    m.settle("upgrade: a classic consumer closed", assignor);
    restart(&mut m, "two classic and one consumer-protocol consumer");
    for _ in 1..CONSUMERS {
        m.add(Protocol::Consumer);
        m.remove_oldest(classic);
    }
    m.settle("upgrade complete", assignor);
    m.add(classic);
    m.settle("downgrade: one classic consumer added", assignor);
    restart(&mut m, "one classic and three consumer-protocol consumers");
    m.remove_oldest(Protocol::Consumer);
    for _ in 1..CONSUMERS {
        m.add(classic);
        m.remove_oldest(Protocol::Consumer);
    }
    m.settle("downgrade complete", assignor);
    m.broker.kill9();
    m.broker.restart_on_same_port();
    m.settle("classic again, after a restart", assignor);
    m.finish(production);
}

/// A ConsumerGroupHeartbeat joining (epoch 0) as `member`.
fn join_request(group: &str, member: &str, topic: &str) -> ConsumerGroupHeartbeatRequest {
    let mut req = ConsumerGroupHeartbeatRequest::default();
    req.group_id = GroupId(sb(group));
    req.member_id = sb(member);
    req.member_epoch = 0;
    req.rebalance_timeout_ms = 30_000;
    req.subscribed_topic_names = Some(vec![TopicName(sb(topic))]);
    req.topic_partitions = Some(Vec::new());
    req
}

/// `group.consumer.migration.policy`: `downgrade` refuses to upgrade a classic group (a
/// fatal GROUP_ID_NOT_FOUND for the new consumer, the classic one unaffected); `upgrade`
/// converts it but keeps it a consumer group of classic members when the last
/// consumer-protocol member leaves.
#[test]
fn migration_policy_limits_the_conversions() {
    for policy in ["downgrade", "upgrade"] {
        let mut overrides: Vec<(&str, &str)> = MIGRATION_BROKER.to_vec();
        overrides.push(("group.consumer.migration.policy", policy));
        let mut m = Migration::new(TestBroker::start_with(&overrides), &format!("pol-{policy}"));
        let classic = Protocol::Classic("range");
        m.add(classic);
        m.settle(&format!("{policy}: one classic consumer"), "range");
        let mut raw = m.broker.raw();
        let mut fc = FindCoordinatorRequest::default();
        fc.key = sb(&m.group);
        raw.call(3, &fc).expect("FindCoordinator");
        let member = "raw-member-000000000001";
        let r = raw
            .call(1, &join_request(&m.group, member, &m.topic))
            .expect("ConsumerGroupHeartbeat");
        if policy == "downgrade" {
            assert_eq!(
                r.error_code,
                ResponseError::GroupIdNotFound.code(),
                "upgrade refused: {:?}",
                r.error_message
            );
            assert!(
                r.error_message
                    .as_ref()
                    .is_some_and(|e| e.contains("online upgrade is disabled")),
                "{:?}",
                r.error_message
            );
            m.settle(
                "downgrade: the classic consumer still owns everything",
                "range",
            );
            continue;
        }
        assert_eq!(r.error_code, 0, "upgrade: {:?}", r.error_message);
        wait_until(
            SETTLE_TIMEOUT,
            "the classic and the raw member in one consumer group",
            || {
                m.poll_round();
                matches!(
                    m.describe(),
                    Described::Consumer {
                        classic_members: 1,
                        consumer_members: 1,
                        ..
                    }
                )
            },
        );
        let mut leave = join_request(&m.group, member, &m.topic);
        leave.member_epoch = -1;
        leave.rebalance_timeout_ms = -1;
        leave.subscribed_topic_names = None;
        leave.topic_partitions = None;
        let r = raw.call(1, &leave).expect("leave");
        assert_eq!((r.error_code, r.member_epoch), (0, -1));
        m.downgrade_disabled = true;
        m.settle(
            "upgrade: still a consumer group after the last consumer-protocol member left",
            "range",
        );
    }
}

/// A static consumer-protocol member leaves temporarily (epoch -2, keeping its place) and
/// its instance comes back speaking the classic protocol while the other members are
/// classic: the group converts back to a classic group, which the returning instance
/// joins.
#[test]
fn static_member_returning_with_the_classic_protocol_downgrades_the_group() {
    let mut m = Migration::new(TestBroker::start_with(MIGRATION_BROKER), "mig-static");
    let classic = Protocol::Classic("range");
    let production = Production::start(m.broker.bootstrap(), &m.topic);
    m.add(classic);
    m.settle("one classic consumer", "range");
    m.add_with(Protocol::Consumer, Some("instance-s"));
    m.settle("a static consumer-protocol member joined", "range");
    // Closing a static member sends the temporary leave: its instance keeps its partitions.
    m.remove_oldest(Protocol::Consumer);
    m.add_with(classic, Some("instance-s"));
    m.settle("the instance came back as a classic member", "range");
    m.finish(production);
}

/// A classic consumer that was only handed a member id (MEMBER_ID_REQUIRED) has not joined:
/// the group is still empty, and a ConsumerGroupHeartbeat makes it a consumer group.
#[test]
fn group_with_only_a_member_id_handed_out_becomes_a_consumer_group() {
    let broker = TestBroker::start_with(MIGRATION_BROKER);
    let topic = topic_name("mig-pending-t");
    broker.create_topic(&topic, 2, &[]);
    let group = topic_name("mig-pending-g");
    let mut raw = broker.raw();
    let mut fc = FindCoordinatorRequest::default();
    fc.key = sb(&group);
    wait_until(SETTLE_TIMEOUT, "a coordinator for the group", || {
        raw.call(3, &fc).is_ok_and(|r| r.error_code == 0)
    });
    let mut join = JoinGroupRequest::default();
    join.group_id = GroupId(sb(&group));
    join.session_timeout_ms = 10_000;
    join.rebalance_timeout_ms = 10_000;
    join.protocol_type = sb("consumer");
    let mut p = JoinGroupRequestProtocol::default();
    p.name = sb("range");
    join.protocols = vec![p];
    // A coordinator still loading its shard answers COORDINATOR_LOAD_IN_PROGRESS, which
    // clients retry.
    let (code, _) = retry_while(&[ResponseError::CoordinatorLoadInProgress.code()], || {
        (raw.call(9, &join).expect("JoinGroup").error_code, ())
    });
    assert_eq!(code, ResponseError::MemberIdRequired.code());
    let r = raw
        .call(1, &join_request(&group, "raw-member-000000000002", &topic))
        .expect("ConsumerGroupHeartbeat");
    assert_eq!(
        (r.error_code, r.member_epoch),
        (0, 1),
        "joined the group: {:?}",
        r.error_message
    );
    assert_eq!(
        described_members(&broker, &group)
            .into_values()
            .collect::<Vec<_>>(),
        vec![1],
        "one consumer-protocol member"
    );
}

/// A static classic member restarts with `group.protocol=consumer` under the same instance
/// id. A classic static member sends no LeaveGroup when it closes, so its place is still
/// taken (for its long session timeout): the new incarnation replaces it at once, as Kafka
/// does, and the group is upgraded.
#[test]
fn static_classic_member_restarting_with_the_consumer_protocol_takes_over_its_instance() {
    let mut m = Migration::new(TestBroker::start_with(MIGRATION_BROKER), "mig-static-up");
    let classic = Protocol::Classic("roundrobin");
    let production = Production::start(m.broker.bootstrap(), &m.topic);
    m.add(classic);
    m.settle("one classic consumer", "roundrobin");
    // Longer than the settle timeout: only a replacement lets the new incarnation in.
    m.add_configured(
        classic,
        Some("instance-s"),
        &[("session.timeout.ms", "120000")],
    );
    m.settle("a static classic member joined", "roundrobin");
    m.remove_oldest_matching(|member| {
        member.protocol == classic && member.context.name.ends_with("-2")
    });
    m.add_with(Protocol::Consumer, Some("instance-s"));
    m.settle(
        "the instance came back with the consumer protocol",
        "roundrobin",
    );
    m.finish(production);
}
