//! A scale-in against the real control plane (API server, controller manager, scheduler)
//! with the test kit's node agent running each pod as a real `ironlog` process, and the real
//! operator binary in the cluster's network: a four-broker KafkaCluster (and one
//! controller) with a topic of acknowledged records is scaled to three brokers. The
//! operator drains broker 4 first (its replicas move to brokers 1..3, the StatefulSet keeps
//! four pods meanwhile), then the pool shrinks and the pod goes, and the operator
//! unregisters broker 4: DescribeCluster (fenced brokers included) lists brokers 1..3 only
//! and the `ScaleIn` condition ends `Done`; every record reads back and every partition
//! keeps three replicas. Broker 4's volume claim is kept (`storage.deleteClaim` defaults to
//! false: the StatefulSet's claim retention policy is `Retain`); scaled up again with
//! `deleteClaim: true` and down once more, the claim goes with the pod (`Delete`, which
//! the controller manager's StatefulSet controller carries out). Before that, a scale-in
//! whose record of the broker that left is lost (broker 4 back on its kept claim, empty with
//! balancing disabled; the cluster paused while its pool and StatefulSet go to three by
//! hand, so no `status.unregisteringBrokers` is written) still ends with broker 4
//! unregistered (`StaleBrokerUnregistered`): registered, in no pool, without a pod, holding
//! nothing.
//! Scaling on to two brokers, fewer than the topic's
//! replication factor, is refused: the `ScaleIn` condition says why and nothing shrinks.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use ironlog_operator::crd::KafkaCluster;
use ironlog_operator::kafka_admin::KafkaAdmin;
use ironlog_testkit::control_plane::ControlPlaneSpec;
use ironlog_testkit::node_agent::NodeAgent;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, Patch, PatchParams};

use common::cluster::OperatorEnv;
use common::scaled::{Scaled, READY_TIMEOUT, ZONES};
use common::wait_until;

const SPEC: ControlPlaneSpec = ControlPlaneSpec {
    controller_manager: true,
    scheduler: true,
};
const CLUSTER: &str = "shrinking";
const TOPIC: &str = "scale-in-events";
const SCALED: Scaled = Scaled {
    cluster: CLUSTER,
    topic: TOPIC,
};
/// The broker the scale-in removes (the brokers' pool starts at node id 1).
const LEAVING_BROKER: i32 = 4;
/// From the scale-in to the pool shrunk.
const SCALE_IN_TIMEOUT: Duration = Duration::from_secs(600);

/// The brokers' StatefulSet's replica count.
async fn stateful_set_replicas(client: &kube::Client, ns: &str) -> Option<i32> {
    let api: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
    api.get(&format!("{CLUSTER}-brokers"))
        .await
        .ok()?
        .spec?
        .replicas
}

/// The brokers' StatefulSet's claim retention policy: (whenScaled, whenDeleted).
async fn claim_retention(client: &kube::Client, ns: &str) -> Option<(String, String)> {
    let api: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
    let policy = api
        .get(&format!("{CLUSTER}-brokers"))
        .await
        .ok()?
        .spec?
        .persistent_volume_claim_retention_policy?;
    Some((policy.when_scaled?, policy.when_deleted?))
}

/// The cluster manifest with `brokers` brokers whose pool's `storage.deleteClaim` is
/// `delete_claim`.
fn manifest(brokers: i32, delete_claim: bool) -> serde_json::Value {
    let mut manifest = SCALED.cluster_manifest(brokers);
    manifest["spec"]["nodePools"][1]["storage"]["deleteClaim"] = serde_json::json!(delete_claim);
    manifest
}

/// [`manifest`] with the claims kept and balancing disabled, paused (the
/// `ironlog.dev/paused` annotation) or not.
fn manifest_unbalanced(brokers: i32, paused: bool) -> serde_json::Value {
    let mut manifest = manifest(brokers, false);
    manifest["spec"]["balancing"] = serde_json::json!({"mode": "disabled"});
    if paused {
        manifest["metadata"]["annotations"] = serde_json::json!({"ironlog.dev/paused": "true"});
    }
    manifest
}

/// The `ScaleIn` condition's reason and message.
fn scale_in_condition(cluster: &KafkaCluster) -> Option<(String, String, String)> {
    common::cluster::condition(cluster, "ScaleIn")
        .map(|(status, reason, message, _)| (status, reason, message))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scale_in_drains_the_leaving_broker_first_and_loses_nothing() {
    let env = OperatorEnv::start(SPEC, "scalein", &ZONES).await;
    let (client, ns, agent) = (&env.client, &env.ns, &env.agent);
    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    let bootstrap = SCALED.bootstrap(ns);

    let produced = SCALED.start_and_produce(client, ns, agent, 4).await;
    let before = {
        let bootstrap = bootstrap.clone();
        tokio::task::block_in_place(|| {
            agent.on_cluster_thread("client", move || SCALED.replica_counts(&bootstrap))
        })
    }
    .expect("the topic's replicas are listed");
    assert!(
        before.get(&LEAVING_BROKER).copied().unwrap_or(0) > 0,
        "broker {LEAVING_BROKER} holds none of the topic's replicas to begin with, so the \
         drain would prove nothing: {before:?}"
    );

    common::apply(client, ns, &SCALED.cluster_manifest(3))
        .await
        .expect("the scale-in is accepted");
    let draining = common::event(client, ns, CLUSTER, "ScaleInDraining").await;
    assert!(
        draining.contains(&format!("draining brokers {LEAVING_BROKER}")),
        "the ScaleInDraining Event names the broker: {draining}"
    );
    // the pod that goes is still there while broker 4 holds replicas
    let leaving_pod = format!("{CLUSTER}-brokers-3");
    wait_until(
        SCALE_IN_TIMEOUT,
        "the brokers' StatefulSet shrinks to three pods",
        || async {
            let replicas = stateful_set_replicas(client, ns).await?;
            if replicas == 4 {
                return None;
            }
            assert_eq!(
                replicas, 3,
                "the StatefulSet shrank to a size nobody asked for"
            );
            Some(())
        },
    )
    .await;
    let drained = common::event(client, ns, CLUSTER, "ScaleInDrained").await;
    assert!(
        drained.contains("hold no replicas"),
        "the ScaleInDrained Event says the brokers are empty: {drained}"
    );
    wait_until(
        SCALE_IN_TIMEOUT,
        "the leaving broker's pod is gone",
        || async {
            pods.get_opt(&leaving_pod)
                .await
                .ok()?
                .is_none()
                .then_some(())
        },
    )
    .await;

    // the pod is gone: the operator unregisters broker 4
    let unregistered = common::event(client, ns, CLUSTER, "ScaleInUnregistered").await;
    assert!(
        unregistered.contains(&format!("brokers {LEAVING_BROKER} unregistered")),
        "the ScaleInUnregistered Event names the broker: {unregistered}"
    );
    let registered = registered_brokers(agent, &bootstrap);
    assert_eq!(
        registered,
        BTreeSet::from([1, 2, 3]),
        "DescribeCluster (fenced brokers included) lists only the brokers that stay"
    );
    // deleteClaim defaults to false: broker 4's claim stays, owned by nobody
    assert_eq!(
        claim_retention(client, ns).await,
        Some(("Retain".to_string(), "Retain".to_string())),
        "the StatefulSet keeps its claims by default"
    );
    let leaving_claim = format!("data-{leaving_pod}");
    let kept = claims
        .get_opt(&leaving_claim)
        .await
        .expect("reading the claims")
        .unwrap_or_else(|| panic!("claim {leaving_claim} was deleted with deleteClaim false"));
    assert!(
        kept.metadata
            .owner_references
            .unwrap_or_default()
            .is_empty(),
        "claim {leaving_claim} is set to go with its pod although deleteClaim is false"
    );
    let (status, reason, message) = wait_until(
        READY_TIMEOUT,
        "the ScaleIn condition says the scale-in is done",
        || async {
            let cluster = clusters.get(CLUSTER).await.ok()?;
            let pending = cluster.status.as_ref()?.unregistering_brokers.len();
            scale_in_condition(&cluster).filter(|(_, reason, _)| reason == "Done" && pending == 0)
        },
    )
    .await;
    assert_eq!(status, "False", "a finished scale-in: {reason}: {message}");
    assert!(
        message.contains("unregistered"),
        "the Done condition says the brokers that left are unregistered: {message}"
    );

    let after = {
        let bootstrap = bootstrap.clone();
        tokio::task::block_in_place(|| {
            agent.on_cluster_thread("client", move || SCALED.replicas_of(&bootstrap))
        })
    }
    .expect("the topic's replicas are listed");
    for (partition, replicas) in &after {
        let distinct: BTreeSet<i32> = replicas.iter().copied().collect();
        assert!(
            replicas.len() == 3 && distinct.len() == 3,
            "{TOPIC}-{partition} lost its replication factor of 3: {replicas:?}"
        );
        assert!(
            !replicas.contains(&LEAVING_BROKER),
            "{TOPIC}-{partition} still names the removed broker {LEAVING_BROKER}: {replicas:?}"
        );
    }
    let read = {
        let bootstrap = bootstrap.clone();
        tokio::task::block_in_place(|| {
            agent.on_cluster_thread("client", move || SCALED.records_in(&bootstrap))
        })
    };
    let missing: Vec<&String> = produced.iter().filter(|v| !read.contains(*v)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged record(s) lost in the scale-in, e.g. {:?}",
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>()
    );

    // a scale-in whose record of the leaving broker is lost: broker 4 comes back (empty,
    // nothing balances onto it), then goes while the operator looks away
    common::apply(client, ns, &manifest_unbalanced(4, false))
        .await
        .expect("the scale-out without balancing is accepted");
    SCALED
        .ready(
            &clusters,
            "the cluster is Ready with four brokers, unbalanced",
        )
        .await;
    common::apply(client, ns, &manifest_unbalanced(4, true))
        .await
        .expect("the pause is accepted");
    wait_until(READY_TIMEOUT, "the cluster's reconciles pause", || async {
        let cluster = clusters.get(CLUSTER).await.ok()?;
        let (paused, _) = common::scaled::condition(&cluster, "Paused")?;
        (paused == "True").then_some(())
    })
    .await;
    common::apply(client, ns, &manifest_unbalanced(3, true))
        .await
        .expect("the paused scale-in is accepted");
    let stateful_sets: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
    stateful_sets
        .patch(
            &format!("{CLUSTER}-brokers"),
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 3}})),
        )
        .await
        .expect("the StatefulSet is scaled by hand");
    wait_until(SCALE_IN_TIMEOUT, "broker 4's pod is gone", || async {
        pods.get_opt(&leaving_pod)
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    let pending = clusters
        .get(CLUSTER)
        .await
        .expect("the cluster")
        .status
        .map(|s| s.unregistering_brokers)
        .unwrap_or_default();
    assert!(
        pending.is_empty(),
        "nothing recorded broker 4 as leaving, by design of this step: {pending:?}"
    );
    common::apply(client, ns, &manifest_unbalanced(3, false))
        .await
        .expect("the end of the pause is accepted");
    let registered = registered_brokers(agent, &bootstrap);
    assert_eq!(
        registered,
        BTreeSet::from([1, 2, 3]),
        "broker 4, in no pool, without a pod and empty, is unregistered though nothing \
         recorded it"
    );
    let stale = common::event(client, ns, CLUSTER, "StaleBrokerUnregistered").await;
    assert!(
        stale.contains(&format!("brokers {LEAVING_BROKER} unregistered")),
        "the StaleBrokerUnregistered Event names the broker: {stale}"
    );

    // deleteClaim true: the pool grows back (broker 4 on its kept claim), then shrinks
    // again and the claim goes with the pod
    common::apply(client, ns, &manifest(4, true))
        .await
        .expect("the scale-out with deleteClaim is accepted");
    SCALED
        .ready(&clusters, "the cluster is Ready with four brokers again")
        .await;
    assert_eq!(
        claim_retention(client, ns).await,
        Some(("Delete".to_string(), "Delete".to_string())),
        "deleteClaim true sets the StatefulSet's claim retention policy"
    );
    common::apply(client, ns, &manifest(3, true))
        .await
        .expect("the second scale-in is accepted");
    wait_until(
        SCALE_IN_TIMEOUT,
        "broker 4's pod and, with deleteClaim true, its claim are gone",
        || async {
            let pod_gone = pods.get_opt(&leaving_pod).await.ok()?.is_none();
            let claim_gone = claims.get_opt(&leaving_claim).await.ok()?.is_none();
            (pod_gone && claim_gone).then_some(())
        },
    )
    .await;
    let registered = registered_brokers(agent, &bootstrap);
    assert_eq!(
        registered,
        BTreeSet::from([1, 2, 3]),
        "broker 4 is unregistered after the second scale-in too"
    );

    // two brokers cannot hold a topic of replication factor 3: refused, nothing shrinks
    common::apply(client, ns, &SCALED.cluster_manifest(2))
        .await
        .expect("the spec itself is valid");
    let (_, _, message) = wait_until(
        READY_TIMEOUT,
        "the ScaleIn condition says the scale-in to two brokers is refused",
        || async {
            let cluster = clusters.get(CLUSTER).await.ok()?;
            // this refusal's own words: an earlier condition may still be on the status
            scale_in_condition(&cluster).filter(|(status, reason, message)| {
                status == "True"
                    && reason == "Refused"
                    && message.contains("only 2 broker(s) would stay")
            })
        },
    )
    .await;
    assert!(
        message.contains("replication factor 3"),
        "the refusal names the replication factor that blocks it: {message}"
    );
    assert_eq!(
        stateful_set_replicas(client, ns).await,
        Some(3),
        "a refused scale-in shrinks nothing"
    );
    let refused = common::event(client, ns, CLUSTER, "ScaleInRefused").await;
    assert!(refused.contains("refused"), "{refused}");
}

/// The brokers DescribeCluster lists (fenced ones included), asked from the cluster's
/// network until broker {LEAVING_BROKER} is gone from them or [`READY_TIMEOUT`] passed.
fn registered_brokers(agent: &NodeAgent, bootstrap: &str) -> BTreeSet<i32> {
    let bootstrap = bootstrap.to_string();
    tokio::task::block_in_place(|| {
        agent.on_cluster_thread("client", move || {
            ironlog_testkit::block_on(async {
                let admin = KafkaAdmin::new(bootstrap.as_str()).expect("an admin client");
                let deadline = std::time::Instant::now() + READY_TIMEOUT;
                loop {
                    let brokers = admin.registered_brokers().await;
                    if brokers.as_ref().is_ok_and(|b| !b.contains(&LEAVING_BROKER))
                        || std::time::Instant::now() > deadline
                    {
                        return brokers;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            })
        })
    })
    .expect("DescribeCluster answers")
}
