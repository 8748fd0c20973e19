//! The balancer against real brokers (the test kit's `TestCluster`: real `ironlog`
//! processes): the operator's admin client reads the cluster model, the planner drains a
//! broker, the moves run as AlterPartitionReassignments and are followed with
//! ListPartitionReassignments until the broker holds nothing, under replication throttles
//! set before each step and cleared after it — while every record an acks=all producer had
//! acknowledged stays readable.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ironlog_operator::balance::throttle::{
    throttled_brokers, throttled_replicas, REPLICATION_THROTTLE_BYTES_PER_SEC_DEFAULT,
};
use ironlog_operator::balance::{plan, ClusterModel, PlanOptions};
use ironlog_operator::kafka_admin::KafkaAdmin;
use ironlog_testkit::{
    assign, consumer_for, producer_for, topic_name, ClusterSpec, KafkaClients, Roles, TestCluster,
};
use rdkafka::admin::ResourceSpecifier;
use rdkafka::consumer::Consumer;
use rdkafka::producer::FutureRecord;
use rdkafka::Message;
use rdkafka::Offset;

const PARTITIONS: i32 = 8;
const RECORDS: usize = 400;
/// How long one step's reassignments may take to finish.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// The most plans a drain may take (each moves at most `moves_max` partitions).
const ROUNDS_MAX: usize = 20;

fn records_in(bootstrap: &str, topic: &str) -> BTreeSet<String> {
    records_in_n(bootstrap, topic, PARTITIONS)
}

/// Every value in partitions `0..partitions` of `topic`, each read to its end.
fn records_in_n(bootstrap: &str, topic: &str, partitions: i32) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for partition in 0..partitions {
        let consumer = consumer_for(bootstrap, &[]);
        assign(&consumer, topic, partition, Offset::Beginning);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(
                Instant::now() < deadline,
                "partition {partition} of {topic} did not reach its end within 30 s"
            );
            match consumer.poll(Duration::from_millis(500)) {
                Some(Ok(m)) => {
                    if let Some(v) = m.payload_view::<str>().and_then(Result::ok) {
                        seen.insert(v.to_string());
                    }
                }
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => break,
                Some(Err(e)) => panic!("consuming {topic}-{partition}: {e}"),
                None => {}
            }
        }
        consumer.unassign().ok();
    }
    seen
}

/// `RECORDS` records produced to `topic` with acks=all, each acknowledged; their values.
fn produce_acked(bootstrap: &str, topic: &str) -> Vec<String> {
    let producer = producer_for(
        bootstrap,
        &[("acks", "all"), ("enable.idempotence", "true")],
    );
    let values: Vec<String> = (0..RECORDS).map(|i| format!("record-{i}")).collect();
    ironlog_testkit::block_on(async {
        for (i, v) in values.iter().enumerate() {
            let key = i.to_string();
            producer
                .send(
                    FutureRecord::to(topic).key(&key).payload(v),
                    Duration::from_secs(30),
                )
                .await
                .unwrap_or_else(|(e, _)| panic!("record {i} was not acknowledged: {e}"));
        }
    });
    values
}

/// Plans, throttles, submits and follows each step (moves and leader changes as
/// reassignments, then a preferred election for every partition whose first replica
/// changed), clearing the throttles after it, until a plan is empty; the model at the end.
fn run_plans(
    cluster: &TestCluster,
    runtime: &tokio::runtime::Runtime,
    admin: &KafkaAdmin,
    topic: &str,
    before: ClusterModel,
    model_now: &dyn Fn() -> ClusterModel,
    options: PlanOptions,
) -> ClusterModel {
    let mut model = before;
    let mut rounds = 0;
    loop {
        let step = plan(&model, options);
        assert!(step.blocked.is_empty(), "blocked: {:?}", step.blocked);
        if step.is_empty() {
            break;
        }
        rounds += 1;
        assert!(
            rounds <= ROUNDS_MAX,
            "still moving after {ROUNDS_MAX} plans"
        );
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
        let brokers = throttled_brokers(&step.moves);
        let topics = throttled_replicas(&step.moves);
        runtime.block_on(async {
            for &b in &brokers {
                admin
                    .set_replication_throttle_rate(
                        b,
                        Some(REPLICATION_THROTTLE_BYTES_PER_SEC_DEFAULT),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("throttling broker {b}: {e}"));
            }
            for (t, throttle) in &topics {
                admin
                    .set_throttled_replicas(
                        t,
                        Some((throttle.leader_config(), throttle.follower_config())),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("throttling {t}'s replicas: {e}"));
            }
        });
        await_topic_config(
            cluster,
            topic,
            "follower.replication.throttled.replicas",
            topics.get(topic).map(|t| t.follower_config()),
            "the moving replicas throttled",
        );
        let refused = runtime
            .block_on(admin.alter_partition_reassignments(&targets))
            .unwrap_or_else(|e| panic!("AlterPartitionReassignments: {e}"));
        assert!(refused.is_empty(), "the controller refused {refused:?}");
        let deadline = Instant::now() + STEP_TIMEOUT;
        // the first listing that showed moves, to ask their new replicas after them
        let mut followed = None;
        loop {
            let ongoing = runtime
                .block_on(admin.list_partition_reassignments())
                .unwrap_or_else(|e| panic!("ListPartitionReassignments: {e}"));
            if ongoing.is_empty() {
                break;
            }
            if followed.is_none() && ongoing.values().any(|r| !r.adding.is_empty()) {
                followed = Some(ongoing.clone());
            }
            assert!(
                Instant::now() < deadline,
                "reassignments still running after {STEP_TIMEOUT:?}: {ongoing:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        // what the balancer's ETA counts: once moved, the new replicas hold the data
        if let Some(followed) = &followed {
            let had_data = followed.keys().any(|tp| {
                model
                    .partitions
                    .iter()
                    .any(|p| &p.partition == tp && p.size_bytes > 0)
            });
            let copied = runtime
                .block_on(admin.bytes_copied(followed))
                .unwrap_or_else(|e| panic!("DescribeLogDirs of the new replicas: {e}"));
            assert!(
                !had_data || copied > 0,
                "the moved partitions' new replicas hold nothing: {followed:?}"
            );
        }
        runtime.block_on(async {
            for &b in &brokers {
                admin
                    .set_replication_throttle_rate(b, None)
                    .await
                    .unwrap_or_else(|e| panic!("clearing broker {b}'s throttle: {e}"));
            }
            for t in topics.keys() {
                admin
                    .set_throttled_replicas(t, None)
                    .await
                    .unwrap_or_else(|e| panic!("clearing {t}'s throttled replicas: {e}"));
            }
        });
        await_topic_config(
            cluster,
            topic,
            "follower.replication.throttled.replicas",
            None,
            "the step's throttle cleared",
        );
        let preferred: Vec<_> = targets
            .iter()
            .filter(|(p, to)| {
                model
                    .partitions
                    .iter()
                    .find(|m| &m.partition == p)
                    .is_some_and(|m| m.replicas.first() != to.first())
            })
            .map(|(p, _)| p.clone())
            .collect();
        if !preferred.is_empty() {
            let failed = runtime
                .block_on(admin.elect_preferred_leaders(&preferred))
                .unwrap_or_else(|e| panic!("ElectLeaders: {e}"));
            assert!(failed.is_empty(), "preferred elections failed: {failed:?}");
        }
        model = model_now();
        for m in &step.moves {
            let now = model
                .partitions
                .iter()
                .find(|p| p.partition == m.partition)
                .unwrap_or_else(|| panic!("{} is gone", m.partition));
            assert_eq!(
                now.replicas.iter().collect::<BTreeSet<_>>(),
                m.replicas_to.iter().collect::<BTreeSet<_>>(),
                "{} did not end on its target replicas",
                m.partition
            );
        }
    }
    model
}

/// `topic`'s `name` config as the cluster describes it (`None` when unset or empty).
/// Waits until `topic`'s config `name` is `want` as DescribeConfigs answers it: the answer
/// may come from a broker other than the one that applied the change, which learns it
/// from the metadata log moments later (as in Kafka).
fn await_topic_config(
    cluster: &TestCluster,
    topic: &str,
    name: &str,
    want: Option<String>,
    what: &str,
) {
    let deadline = Instant::now() + CONFIG_SEEN_TIMEOUT;
    loop {
        let seen = topic_config(cluster, topic, name);
        if seen == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {topic}'s {name} is {seen:?}, not {want:?}, after {CONFIG_SEEN_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// How long a topic config change may take to reach every broker.
const CONFIG_SEEN_TIMEOUT: Duration = Duration::from_secs(30);

fn topic_config(cluster: &TestCluster, topic: &str, name: &str) -> Option<String> {
    let results = ironlog_testkit::block_on(cluster.admin().describe_configs(
        &[ResourceSpecifier::Topic(topic)],
        &ironlog_testkit::admin_options(),
    ))
    .unwrap_or_else(|e| panic!("DescribeConfigs of {topic}: {e}"));
    let resource = results
        .into_iter()
        .next()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("DescribeConfigs of {topic} answered nothing"));
    resource
        .get(name)
        .and_then(|entry| entry.value.clone())
        .filter(|v| !v.is_empty())
}

#[test]
fn draining_a_broker_moves_every_replica_off_it_and_loses_nothing() {
    let cluster = ClusterSpec::with_roles(
        common::broker_binary(),
        vec![
            Roles::Combined,
            Roles::Combined,
            Roles::Combined,
            Roles::Broker,
        ],
    )
    .start();
    let bootstrap = cluster.bootstrap();
    let topic = topic_name("drain");
    cluster.create_replicated_topic(&topic, PARTITIONS, 2, Duration::from_secs(60));

    let values = produce_acked(&bootstrap, &topic);

    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let admin = KafkaAdmin::new(&bootstrap).expect("an admin client");
    let drain = BTreeSet::from([4]);
    let model_now = || -> ClusterModel {
        runtime
            .block_on(admin.cluster_model(&drain))
            .unwrap_or_else(|e| panic!("reading the cluster model: {e}"))
    };
    let before = model_now();
    let on_4 = |m: &ClusterModel| {
        m.partitions
            .iter()
            .filter(|p| p.partition.topic == topic && p.replicas.contains(&4))
            .count()
    };
    assert!(
        on_4(&before) > 0,
        "broker 4 holds no replica of {topic} to begin with: {:?}",
        before.partitions
    );
    assert!(
        before.brokers.iter().any(|b| b.id == 4 && b.disk_bytes > 0),
        "DescribeLogDirs reported no bytes on broker 4: {:?}",
        before.brokers
    );

    let options = PlanOptions {
        moves_max: 3,
        leader_changes_max: 0,
    };
    let model = run_plans(
        &cluster, &runtime, &admin, &topic, before, &model_now, options,
    );
    assert_eq!(
        on_4(&model),
        0,
        "replicas left on broker 4: {:?}",
        model.partitions
    );
    let balance = model.balance();
    assert!(
        balance.replicas_balanced(),
        "the brokers left are not within 10% of an even spread: {balance:?}"
    );
    let read = records_in(&bootstrap, &topic);
    let missing: Vec<&String> = values.iter().filter(|v| !read.contains(*v)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged record(s) lost in the drain, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}

#[test]
fn a_new_broker_gets_its_share_of_replicas_and_leaderships() {
    let cluster = ClusterSpec::with_roles(
        common::broker_binary(),
        vec![
            Roles::Combined,
            Roles::Combined,
            Roles::Combined,
            Roles::Broker,
        ],
    )
    .start();
    let bootstrap = cluster.bootstrap();
    let topic = topic_name("scale-out");
    // as if broker 4 had just joined: every replica on brokers 1..=3
    let assignment: Vec<Vec<i32>> = (0..12).map(|n| vec![1 + n % 3, 1 + (n + 1) % 3]).collect();
    let assignment_refs: Vec<&[i32]> = assignment.iter().map(Vec::as_slice).collect();
    let created = ironlog_testkit::block_on(cluster.admin().create_topics(
        &[rdkafka::admin::NewTopic::new(
            &topic,
            12,
            rdkafka::admin::TopicReplication::Variable(&assignment_refs),
        )],
        &ironlog_testkit::admin_options(),
    ))
    .unwrap_or_else(|e| panic!("CreateTopics {topic}: {e}"));
    assert!(
        created.iter().all(Result::is_ok),
        "creating {topic}: {created:?}"
    );
    cluster.await_full_isr_on_running(&topic, 12, Duration::from_secs(60));
    let values = produce_acked(&bootstrap, &topic);

    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let admin = KafkaAdmin::new(&bootstrap).expect("an admin client");
    let none = BTreeSet::new();
    let model_now = || -> ClusterModel {
        runtime
            .block_on(admin.cluster_model(&none))
            .unwrap_or_else(|e| panic!("reading the cluster model: {e}"))
    };
    let before = model_now();
    assert_eq!(
        before.balance().replicas.get(&4),
        Some(&0),
        "broker 4 is not empty: {before:?}"
    );
    let options = PlanOptions {
        moves_max: 4,
        leader_changes_max: 12,
    };
    let model = run_plans(
        &cluster, &runtime, &admin, &topic, before, &model_now, options,
    );
    let balance = model.balance();
    // 24 replicas, 12 leaderships over 4 brokers
    assert!(
        balance.replicas.values().all(|&n| n == 6),
        "replicas not spread evenly: {:?}",
        balance.replicas
    );
    let mut leaders: std::collections::BTreeMap<i32, usize> = Default::default();
    for p in &model.partitions {
        *leaders.entry(p.leader.unwrap_or(-1)).or_default() += 1;
    }
    assert!(
        (1..=4).all(|b| leaders.get(&b) == Some(&3)),
        "leaderships not spread evenly (by Metadata's leaders): {leaders:?}"
    );
    let read = records_in_n(&bootstrap, &topic, 12);
    let missing = values.iter().filter(|v| !read.contains(*v)).count();
    assert_eq!(
        missing, 0,
        "{missing} acknowledged record(s) lost in the rebalance"
    );
}
