//! A 3-node cluster of combined nodes restarted and killed under load, with real rdkafka
//! clients — an idempotent acks=all producer and a consumer group — running throughout:
//! - a rolling restart (SIGTERM, controlled shutdown, start, wait until every ISR is full
//!   again, next node): nothing acknowledged is lost and the producer sees no error it
//!   does not retry (every send is acknowledged in the end);
//! - kill -9 of the active controller under load: another takes over, writes continue;
//! - the active controller dying (a crash point: no destructors, as kill -9) while it
//!   handles a CreateTopics, before or after committing it: each topic exists with all its
//!   partitions or not at all, and creating them again completes the set.
mod common;

use std::time::Duration;

use common::*;
use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::types::RDKafkaErrorCode;

const WAIT: Duration = Duration::from_secs(90);
const PARTITIONS: usize = 3;

#[test]
fn a_rolling_restart_under_load_loses_nothing_and_every_send_is_acknowledged() {
    let mut cluster = replicated_cluster_spec().start();
    let topic = topic_name("rolling");
    cluster.create_replicated_topic(&topic, PARTITIONS as i32, 3, WAIT);
    let reader = GroupReader::start(
        cluster.bootstrap(),
        topic_name("rolling-group"),
        topic.clone(),
    );
    let load = ProduceLoad::start_idempotent(&cluster, &topic, Duration::from_secs(600));
    load.await_acks(200, WAIT, "the load to get its first acknowledgements");

    for id in cluster.node_ids() {
        cluster.stop_node(id);
        assert!(
            cluster.node(id).log_text().contains("controlled shutdown"),
            "node {id} did not go through controlled shutdown:\n{}",
            cluster.node(id).log_tail()
        );
        load.await_acks(
            100,
            WAIT,
            &format!("acknowledgements while node {id} is down"),
        );
        cluster.restart_node(id);
        cluster.wait_ready(WAIT);
        // the next node goes only once every replica is back in sync
        cluster.await_full_isr_on_running(&topic, PARTITIONS, WAIT);
        load.await_acks(
            100,
            WAIT,
            &format!("acknowledgements after node {id} restarted"),
        );
    }
    let outcome = load.stop();
    check_load_outcome(
        &cluster,
        &topic,
        PARTITIONS as i32,
        &outcome,
        "after a rolling restart",
    );
    assert_eq!(
        outcome.failed, 0,
        "a rolling restart made the producer give up on {} sends: only retriable errors may \
         reach it, and it retries those",
        outcome.failed
    );
    reader.stop_after_receiving(&outcome.acked_values(), WAIT);
}

#[test]
fn kill9_of_the_active_controller_under_load_fails_over_and_loses_nothing() {
    let mut cluster = replicated_cluster_spec().start();
    let topic = topic_name("controller-kill");
    cluster.create_replicated_topic(&topic, PARTITIONS as i32, 3, WAIT);
    let reader = GroupReader::start(
        cluster.bootstrap(),
        topic_name("controller-kill-group"),
        topic.clone(),
    );
    let load = ProduceLoad::start_idempotent(&cluster, &topic, Duration::from_secs(600));
    load.await_acks(200, WAIT, "the load to get its first acknowledgements");

    let old = cluster.active_controller(1, WAIT);
    cluster.kill9_node(old);
    let survivor = cluster
        .node_ids()
        .into_iter()
        .find(|id| *id != old)
        .expect("another node");
    let mut new = -1;
    wait_until(
        WAIT,
        &format!("an active controller other than the killed node {old}"),
        || {
            new = cluster.active_controller(survivor, WAIT);
            new != old
        },
    );
    load.await_acks(
        300,
        WAIT,
        &format!("acknowledgements after controller {old} was killed"),
    );
    cluster.restart_node(old);
    cluster.wait_ready(WAIT);
    cluster.await_full_isr_on_running(&topic, PARTITIONS, WAIT);
    load.await_acks(
        100,
        WAIT,
        &format!("acknowledgements after node {old} restarted"),
    );
    let outcome = load.stop();
    check_load_outcome(
        &cluster,
        &topic,
        PARTITIONS as i32,
        &outcome,
        "after the controller's kill -9",
    );
    reader.stop_after_receiving(&outcome.acked_values(), WAIT);
}

/// `names` as topics of `partitions` partitions, RF 3.
fn new_topics(names: &[String], partitions: i32) -> Vec<NewTopic<'_>> {
    names
        .iter()
        .map(|n| NewTopic::new(n, partitions, TopicReplication::Fixed(3)))
        .collect()
}

/// Where the active controller dies while it handles a CreateTopics.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ControllerDeath {
    /// with the topics' records built, before proposing them
    Planned,
    /// with the records committed, before answering
    Committed,
}

/// Creates `TOPICS` topics through a node that forwards to the active controller, which
/// dies at `death` (a crash point every node has, so a second controller handling a retry
/// dies there too); every node then restarts without the crash point. Afterwards each
/// topic exists with all its partitions or not at all — all of them after a commit, none
/// before —, and creating them again completes the set.
fn create_topics_while_the_controller_dies(death: ControllerDeath) {
    const TOPICS: usize = 20;
    const TOPIC_PARTITIONS: i32 = 6;
    let point = match death {
        ControllerDeath::Planned => "controller.create_topics.planned",
        ControllerDeath::Committed => "controller.create_topics.committed",
    };
    let mut cluster = replicated_cluster_spec().start();
    // armed only now: the kit's readiness checks made the nodes create `__consumer_offsets`
    // (a group client's FindCoordinator), which is a CreateTopics too
    for id in cluster.node_ids() {
        cluster.node_mut(id).set_crash_point(Some(point));
    }
    cluster.restart_all();
    let controller = cluster.active_controller(1, WAIT);
    let via = cluster
        .node_ids()
        .into_iter()
        .find(|id| *id != controller)
        .expect("a node that is not the controller");
    let prefix = topic_name("in-flight");
    let names: Vec<String> = (0..TOPICS).map(|i| format!("{prefix}-{i}")).collect();

    let bootstrap = cluster.node(via).bootstrap().to_string();
    let first = {
        let names = names.clone();
        std::thread::spawn(move || {
            let admin: rdkafka::admin::AdminClient<_> =
                client_config(&bootstrap).create().expect("admin client");
            block_on(admin.create_topics(
                &new_topics(&names, TOPIC_PARTITIONS),
                &admin_options().operation_timeout(Some(Duration::from_secs(10))),
            ))
        })
    };
    wait_until(
        WAIT,
        &format!("the active controller {controller} to die at {point}"),
        || !cluster.node_mut(controller).is_running(),
    );
    let answer = first.join().expect("the CreateTopics thread");
    eprintln!("the CreateTopics the controller died in got: {answer:?}");
    assert!(
        cluster.node(controller).log_text().contains(point),
        "node {controller} died elsewhere than at {point}:\n{}",
        cluster.node(controller).log_tail()
    );

    for id in cluster.node_ids() {
        cluster.node_mut(id).set_crash_point(None);
    }
    cluster.restart_all();
    for id in cluster.node_ids() {
        for name in &names {
            match (death, cluster.partitions_via(id, name)) {
                (ControllerDeath::Planned, None) => {}
                (ControllerDeath::Planned, Some(p)) => {
                    panic!(
                        "node {id} shows {name}, never committed, with {} partitions",
                        p.len()
                    )
                }
                (ControllerDeath::Committed, p) => {
                    let p = p.unwrap_or_else(|| {
                        panic!("node {id} lacks {name}, committed before the controller died")
                    });
                    assert_eq!(
                        p.len(),
                        TOPIC_PARTITIONS as usize,
                        "node {id}: {name} has only some of its partitions"
                    );
                    assert!(
                        p.iter().all(|p| p.replicas.len() == 3),
                        "node {id}: {name} has partitions without their 3 replicas: {p:?}"
                    );
                }
            }
        }
    }

    // creating them again completes the set: already there, or created now (a client
    // retries what a cluster that just restarted answers retriably; its own retry of a
    // request that did get through finds the topics there)
    let admin = cluster.admin();
    let mut last = Vec::new();
    wait_until(WAIT, "creating the topics again to succeed", || {
        let Ok(again) = block_on(admin.create_topics(
            &new_topics(&names, TOPIC_PARTITIONS),
            &admin_options().operation_timeout(Some(Duration::from_secs(30))),
        )) else {
            return false;
        };
        last = again
            .into_iter()
            .filter_map(|r| match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => None,
                Err((name, code)) => Some((name, code)),
            })
            .collect();
        for (name, code) in &last {
            assert!(
                matches!(
                    code,
                    RDKafkaErrorCode::RequestTimedOut
                        | RDKafkaErrorCode::NotController
                        | RDKafkaErrorCode::LeaderNotAvailable
                ),
                "creating {name} again failed with a non-retriable error: {code:?}"
            );
        }
        last.is_empty()
    });
    for id in cluster.node_ids() {
        for name in &names {
            wait_until(
                WAIT,
                &format!("node {id} to show {name} with {TOPIC_PARTITIONS} led partitions"),
                || {
                    cluster.partitions_via(id, name).is_some_and(|p| {
                        p.len() == TOPIC_PARTITIONS as usize && p.iter().all(|p| p.leader > 0)
                    })
                },
            );
        }
    }
}

#[test]
fn a_controller_dying_before_it_commits_a_create_topics_creates_none_and_the_retry_all() {
    create_topics_while_the_controller_dies(ControllerDeath::Planned);
}

#[test]
fn a_controller_dying_after_it_commits_a_create_topics_leaves_every_topic_complete() {
    create_topics_while_the_controller_dies(ControllerDeath::Committed);
}
