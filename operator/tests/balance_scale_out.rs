//! The balancer in the operator against the real control plane (API server, controller
//! manager, scheduler) with the test kit's node agent running each pod as a real `ironlog`
//! process, and the real operator binary in the cluster's network: a three-broker
//! KafkaCluster (and one controller) with a topic holding acknowledged records is scaled
//! to four brokers; the
//! operator, with the default `spec.balancing` (on scale-out), moves replicas to the new
//! broker until the replica counts meet the `Balance` criterion, reports it in
//! `status.balance` (idle at the end, moves counted) and in Events, and every record reads
//! back.

mod common;

use std::time::Duration;

use ironlog_operator::balance::model::within_bounds;
use ironlog_operator::crd::kafka_cluster::BalanceState;
use ironlog_operator::crd::KafkaCluster;
use ironlog_testkit::control_plane::ControlPlaneSpec;
use kube::api::Api;

use common::cluster::OperatorEnv;
use common::scaled::{Scaled, PARTITIONS, ZONES};
use common::wait_until_saying;

const SPEC: ControlPlaneSpec = ControlPlaneSpec {
    controller_manager: true,
    scheduler: true,
};
const CLUSTER: &str = "balancer";
const TOPIC: &str = "balance-events";
const SCALED: Scaled = Scaled {
    cluster: CLUSTER,
    topic: TOPIC,
};
/// The broker the scale-out adds (the brokers' pool starts at node id 1).
const NEW_BROKER: i32 = 4;
/// From the scale-out to a balanced cluster.
const BALANCE_TIMEOUT: Duration = Duration::from_secs(600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scale_out_is_balanced_by_the_operator_and_loses_nothing() {
    let env = OperatorEnv::start(SPEC, "balance", &ZONES).await;
    let (client, ns, agent) = (&env.client, &env.ns, &env.agent);
    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), ns);
    let bootstrap = SCALED.bootstrap(ns);

    let produced = SCALED.start_and_produce(client, ns, agent, 3).await;
    let before = {
        let bootstrap = bootstrap.clone();
        tokio::task::block_in_place(|| {
            agent.on_cluster_thread("client", move || SCALED.replica_counts(&bootstrap))
        })
    }
    .expect("the topic's replicas are listed");
    assert_eq!(
        before.values().sum::<usize>(),
        3 * PARTITIONS as usize,
        "RF 3 on three brokers: {before:?}"
    );

    common::apply(client, ns, &SCALED.cluster_manifest(4))
        .await
        .expect("the scale-out is accepted");
    SCALED
        .ready(&clusters, "the four-broker cluster is Ready")
        .await;
    let last_seen = std::sync::Mutex::new(None);
    let balance = wait_until_saying(
        BALANCE_TIMEOUT,
        || {
            format!(
                "status.balance says the balance is done (last seen: {:?})",
                last_seen.lock().ok().and_then(|seen| seen.clone())
            )
        },
        || async {
            let cluster = clusters.get(CLUSTER).await.ok()?;
            let balance = cluster.status?.balance?;
            if let Ok(mut seen) = last_seen.lock() {
                *seen = Some(balance.clone());
            }
            (balance.state == BalanceState::Idle && balance.moves_done > 0).then_some(balance)
        },
    )
    .await;
    assert_eq!(
        balance.moves_remaining, 0,
        "a finished balance has nothing left: {balance:?}"
    );
    assert!(
        balance.throttled_brokers.is_empty() && balance.throttled_topics.is_empty(),
        "the throttles are cleared at the end: {balance:?}"
    );
    let after = {
        let bootstrap = bootstrap.clone();
        tokio::task::block_in_place(|| {
            agent.on_cluster_thread("client", move || SCALED.replica_counts(&bootstrap))
        })
    }
    .expect("the topic's replicas are listed");
    let total: usize = after.values().sum();
    assert_eq!(total, 3 * PARTITIONS as usize, "RF is kept: {after:?}");
    assert_eq!(after.len(), 4, "four brokers are listed: {after:?}");
    let (low, high) = within_bounds(&after, total);
    assert!(
        after.values().all(|&n| n >= low && n <= high),
        "replica counts {after:?} are not within {low}..={high} (10% of even)"
    );
    assert!(
        after.get(&NEW_BROKER).copied().unwrap_or(0) >= low.max(1),
        "the new broker {NEW_BROKER} did not get its share: {after:?}"
    );
    let note = common::event(client, ns, CLUSTER, "BalanceComplete").await;
    assert!(
        note.contains("moved"),
        "the BalanceComplete Event says what moved: {note}"
    );

    let read = {
        let bootstrap = bootstrap.clone();
        tokio::task::block_in_place(|| {
            agent.on_cluster_thread("client", move || SCALED.records_in(&bootstrap))
        })
    };
    let missing: Vec<&String> = produced.iter().filter(|v| !read.contains(*v)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged record(s) lost in the balance, e.g. {:?}",
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>()
    );
}
