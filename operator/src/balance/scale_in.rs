//! `scale_in`: a broker pool made smaller loses no data. The brokers that go (the highest
//! ordinals, the pod names the StatefulSet removes) are drained first: the balancer moves
//! every replica they hold to the brokers that stay, and the StatefulSet keeps its old
//! replica count until they hold none; then it shrinks. A scale-in that the brokers staying
//! cannot hold (fewer of them than some partition's replication factor) is refused: nothing
//! moves and the StatefulSet stays as it is, the `ScaleIn` condition says why.
//!
//! When the pool shrinks, the leaving brokers go into `status.unregisteringBrokers`; once a
//! broker's pod is gone (a running broker would register again) the operator removes its
//! registration with UnregisterBroker, so DescribeCluster and Metadata list only the
//! brokers that stay. An id that is not registered any more counts as done (idempotent); a
//! failure is retried with the per-cluster backoff, the `ScaleIn` condition `Unregistering`
//! says what is left.
//!
//! [`decide`] is pure; [`observe`] reads what it needs (the StatefulSets' replica counts, the
//! brokers' partitions) and [`held`] is the spec the reconcile then builds from.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::{Client, Resource, ResourceExt};

use crate::cluster::names;
use crate::cluster::validate::{validate, ValidCluster};
use crate::crd::conditions;
use crate::crd::kafka_cluster::{KafkaClusterStatus, LeftBroker, NodeRole};
use crate::crd::KafkaCluster;
use crate::kafka_admin::{AdminEndpoint, KafkaAdmin, OngoingReassignment};

use super::model::{BrokerId, ClusterModel, TopicPartition};

/// The condition a scale-in reports in.
pub const SCALE_IN: &str = "ScaleIn";

/// A broker pool whose StatefulSet runs more pods than its spec asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shrinking {
    /// The pool's index in `spec.nodePools`.
    pub pool: usize,
    /// What the StatefulSet runs now.
    pub running_replicas: i32,
    /// What the spec asks for.
    pub spec_replicas: i32,
    /// The node ids of the pods that go, `nodeIdStart + spec_replicas ..`.
    pub leaving: BTreeSet<BrokerId>,
}

/// What a pending scale-in does this reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The leaving brokers hold no replicas: the StatefulSets shrink to the spec.
    Shrink,
    /// The leaving brokers still hold replicas (by broker), or reassignments are in
    /// flight (a replica moving off may not be in sync yet): they are drained, the
    /// StatefulSets keep their size.
    Drain {
        holding: BTreeMap<BrokerId, usize>,
        reassigning: usize,
    },
    /// The brokers staying cannot hold a partition's replicas: nothing moves, nothing
    /// shrinks.
    Refused {
        topic: String,
        replication_factor: usize,
        staying: usize,
    },
}

impl Decision {
    /// Whether the StatefulSets keep their running size (the spec is not applied yet).
    pub fn holds(&self) -> bool {
        !matches!(self, Decision::Shrink)
    }
}

/// The brokers that go, over every shrinking pool.
pub fn leaving(shrinking: &[Shrinking]) -> BTreeSet<BrokerId> {
    shrinking
        .iter()
        .flat_map(|s| s.leaving.iter().copied())
        .collect()
}

/// The scale-in's next step for `model` (every partition, internal topics too), `staying`
/// the broker ids that remain once the pools have shrunk, `reassigning` the partition
/// reassignments in flight.
///
/// A partition's replication factor is the size of its replica set once its reassignment
/// (if any) ends: while a replica moves, the partition lists both the replica being added
/// and the one being removed, one more than the topic's replication factor.
pub fn decide(
    leaving: &BTreeSet<BrokerId>,
    staying: &BTreeSet<BrokerId>,
    model: &ClusterModel,
    reassigning: &BTreeMap<TopicPartition, OngoingReassignment>,
) -> Decision {
    let mut too_big: Option<(&str, usize)> = None;
    let mut holding: BTreeMap<BrokerId, usize> = BTreeMap::new();
    for p in &model.partitions {
        let rf = match reassigning.get(&p.partition) {
            Some(moving) => p
                .replicas
                .iter()
                .filter(|b| !moving.removing.contains(b))
                .count(),
            None => p.replicas.len(),
        };
        if rf > staying.len() && too_big.is_none_or(|(_, largest)| rf > largest) {
            too_big = Some((&p.partition.topic, rf));
        }
        for b in p.replicas.iter().filter(|b| leaving.contains(b)) {
            *holding.entry(*b).or_default() += 1;
        }
    }
    if let Some((topic, replication_factor)) = too_big {
        return Decision::Refused {
            topic: topic.to_string(),
            replication_factor,
            staying: staying.len(),
        };
    }
    if holding.is_empty() && reassigning.is_empty() {
        Decision::Shrink
    } else {
        Decision::Drain {
            holding,
            reassigning: reassigning.len(),
        }
    }
}

/// `first..last` or one id, for messages.
pub fn describe(brokers: &BTreeSet<BrokerId>) -> String {
    match (brokers.first(), brokers.last()) {
        (Some(first), Some(last)) if first != last => format!("{first}..{last}"),
        (Some(only), _) => only.to_string(),
        _ => "none".to_string(),
    }
}

/// What the `ScaleIn` condition and `status.balance` say about `decision`.
pub fn message(leaving: &BTreeSet<BrokerId>, decision: &Decision) -> String {
    let brokers = describe(leaving);
    match decision {
        Decision::Shrink => format!("brokers {brokers} hold no replicas: the pool shrinks"),
        Decision::Drain {
            holding,
            reassigning,
        } => {
            let held: Vec<String> = holding
                .iter()
                .map(|(b, n)| format!("broker {b} holds {n}"))
                .collect();
            let mut text = format!(
                "draining brokers {brokers} before the pool shrinks: {} replica(s) left",
                holding.values().sum::<usize>(),
            );
            if !held.is_empty() {
                text.push_str(&format!(" ({})", held.join(", ")));
            }
            if *reassigning > 0 {
                text.push_str(&format!(", {reassigning} reassignment(s) in flight"));
            }
            text
        }
        Decision::Refused {
            topic,
            replication_factor,
            staying,
        } => format!(
            "the scale-in is refused: topic {topic} has replication factor {replication_factor} \
             and only {staying} broker(s) would stay; brokers {brokers} keep running"
        ),
    }
}

/// The broker pools of `valid` whose StatefulSet runs more pods than the spec asks for
/// (a pool not created yet is not shrinking). Controller pools never shrink (the schema
/// refuses it): only pools of brokers alone are looked at.
pub async fn observe(
    client: &Client,
    namespace: &str,
    valid: &ValidCluster,
) -> Result<Vec<Shrinking>, kube::Error> {
    let api: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
    let mut shrinking = Vec::new();
    for (index, pool) in valid.spec.node_pools.iter().enumerate() {
        if pool.roles.contains(&NodeRole::Controller) {
            continue;
        }
        let name = names::stateful_set(&valid.name, &pool.name);
        let running = api
            .get_opt(&name)
            .await?
            .and_then(|sts| sts.spec)
            .and_then(|spec| spec.replicas)
            .unwrap_or(0);
        if running > pool.replicas {
            let start = pool.node_id_start.unwrap_or(0);
            shrinking.push(Shrinking {
                pool: index,
                running_replicas: running,
                spec_replicas: pool.replicas,
                leaving: (start + pool.replicas..start + running).collect(),
            });
        }
    }
    Ok(shrinking)
}

/// The decision for `shrinking`, the brokers read at `endpoint`; an error (the brokers
/// do not answer) says why nothing may shrink yet.
pub async fn decide_at(
    endpoint: &AdminEndpoint,
    valid: &ValidCluster,
    shrinking: &[Shrinking],
) -> Result<Decision, String> {
    let leaving = leaving(shrinking);
    let staying: BTreeSet<BrokerId> = valid.broker_nodes().map(|n| n.node_id).collect();
    let admin = KafkaAdmin::new(endpoint).map_err(|e| e.to_string())?;
    // the reassignments first: one that ends between the two calls shows in the model
    let reassigning = admin
        .list_partition_reassignments()
        .await
        .map_err(|e| format!("listing the reassignments in flight: {e}"))?;
    let model = admin
        .cluster_model(&leaving)
        .await
        .map_err(|e| format!("reading the brokers' partitions: {e}"))?;
    Ok(decide(&leaving, &staying, &model, &reassigning))
}

/// `cluster` with each shrinking pool at its running size: what is built while the
/// leaving brokers are drained (or the scale-in is refused).
pub fn held(cluster: &KafkaCluster, shrinking: &[Shrinking]) -> KafkaCluster {
    let mut held = cluster.clone();
    for s in shrinking {
        if let Some(pool) = held.spec.node_pools.get_mut(s.pool) {
            pool.replicas = s.running_replicas;
        }
    }
    held
}

/// What the reconcile builds from and the brokers the balancer drains.
pub struct Sizes {
    /// The spec, or the spec with shrinking pools held at their running size.
    pub valid: ValidCluster,
    /// The brokers to empty (none unless a scale-in is draining).
    pub drain: BTreeSet<BrokerId>,
    /// When to look again: brokers that left are still to be unregistered.
    pub requeue: Option<Duration>,
    /// No pool is shrinking and no broker that left is pending: what `balance::stale`
    /// looks at.
    pub settled: bool,
}

/// How soon to look again while a leaving broker's pod is still terminating.
pub const UNREGISTER_POLL: Duration = Duration::from_secs(5);

/// The brokers whose pods `shrinking` removes, with their pod names.
pub fn left_brokers(valid: &ValidCluster, shrinking: &[Shrinking]) -> Vec<LeftBroker> {
    let mut left = Vec::new();
    for s in shrinking {
        let Some(pool) = valid.spec.node_pools.get(s.pool) else {
            continue;
        };
        let start = pool.node_id_start.unwrap_or(0);
        for ordinal in s.spec_replicas..s.running_replicas {
            left.push(LeftBroker {
                node_id: start + ordinal,
                pod: names::pod_name(&valid.name, &pool.name, ordinal),
            });
        }
    }
    left
}

/// `pending` with `more` added (one entry per node id, sorted by it).
pub fn remember_left(pending: &[LeftBroker], more: Vec<LeftBroker>) -> Vec<LeftBroker> {
    let mut by_id: BTreeMap<i32, LeftBroker> =
        pending.iter().map(|b| (b.node_id, b.clone())).collect();
    for b in more {
        by_id.insert(b.node_id, b);
    }
    by_id.into_values().collect()
}

/// Why the sizes could not be worked out (the reconcile is retried).
#[derive(Debug, thiserror::Error)]
pub enum ScaleInError {
    #[error("reading the StatefulSets' sizes: {0}")]
    Observe(#[from] kube::Error),
    #[error("the spec held at the running pool sizes is refused: {0}")]
    Held(String),
}

/// One look at a pending scale-in of `cluster` (`valid` its spec): the sizes to build and
/// the brokers to drain, the `ScaleIn` condition set in `status`. Nothing shrinks unless
/// the brokers answered that the leaving ones hold no replicas.
pub async fn sizes(
    context: &crate::controller::ControllerContext,
    cluster: &KafkaCluster,
    valid: ValidCluster,
    status: &mut KafkaClusterStatus,
) -> Result<Sizes, ScaleInError> {
    let namespace = cluster.namespace().unwrap_or_default();
    let generation = cluster.meta().generation;
    let shrinking = observe(&context.client, &namespace, &valid).await?;
    if shrinking.is_empty() && !status.unregistering_brokers.is_empty() {
        let requeue = unregister_left(context, cluster, &valid, status).await;
        return Ok(Sizes {
            valid,
            drain: BTreeSet::new(),
            requeue,
            settled: false,
        });
    }
    if shrinking.is_empty() {
        if conditions::find(&status.conditions, SCALE_IN).is_some_and(|c| c.status == "True") {
            conditions::set_condition(
                &mut status.conditions,
                conditions::condition(
                    SCALE_IN,
                    false,
                    "Done",
                    "every pool runs the replicas its spec asks for",
                    generation,
                ),
            );
        }
        return Ok(Sizes {
            valid,
            drain: BTreeSet::new(),
            requeue: None,
            settled: true,
        });
    }
    let leaving = leaving(&shrinking);
    // the operator's own way in (with its certificate on a cluster with authorization)
    let decided = match context.bootstrap(&namespace, &cluster.name_any()).await {
        Ok(Some(endpoint)) => decide_at(&endpoint, &valid, &shrinking).await,
        Ok(None) => Err("the brokers' address is not known yet".to_string()),
        Err(e) => Err(e.to_string()),
    };
    let (decision, reason, text) = match decided {
        Ok(decision) => {
            let reason = match decision {
                Decision::Shrink => "Drained",
                Decision::Drain { .. } => "Draining",
                Decision::Refused { .. } => "Refused",
            };
            let text = message(&leaving, &decision);
            (Some(decision), reason, text)
        }
        Err(e) => (
            None,
            "BrokersUnknown",
            format!(
                "brokers {} keep running until the brokers say they hold no replicas: {e}",
                describe(&leaving)
            ),
        ),
    };
    tracing::info!(cluster = %cluster.name_any(), %text, "scale-in");
    let was = conditions::find(&status.conditions, SCALE_IN).map(|c| c.reason.clone());
    if was.as_deref() != Some(reason) {
        crate::events::publish(
            &context.recorder,
            &cluster.object_ref(&()),
            reason == "Refused",
            &format!("ScaleIn{reason}"),
            "ScaleIn",
            text.clone(),
        )
        .await;
    }
    conditions::set_condition(
        &mut status.conditions,
        conditions::condition(SCALE_IN, true, reason, text, generation),
    );
    match decision {
        Some(Decision::Shrink) => {
            // the pods go with this reconcile's apply; their registrations after them
            status.unregistering_brokers = remember_left(
                &status.unregistering_brokers,
                left_brokers(&valid, &shrinking),
            );
            Ok(Sizes {
                valid,
                drain: BTreeSet::new(),
                requeue: Some(UNREGISTER_POLL),
                settled: false,
            })
        }
        Some(Decision::Drain { .. }) => Ok(Sizes {
            valid: held_valid(cluster, &shrinking)?,
            drain: leaving,
            requeue: None,
            settled: false,
        }),
        Some(Decision::Refused { .. }) | None => Ok(Sizes {
            valid: held_valid(cluster, &shrinking)?,
            drain: BTreeSet::new(),
            requeue: None,
            settled: false,
        }),
    }
}

/// What became of the brokers a scale-in removed, this reconcile.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Unregistering {
    /// Unregistered now (or found not registered).
    pub done: Vec<i32>,
    /// Their pods are still there (terminating).
    pub pods_left: Vec<String>,
    /// Why the others could not be unregistered (retried with backoff).
    pub failed: Vec<String>,
}

/// What the `ScaleIn` condition says while `pending` brokers are left to unregister.
pub fn unregistering_message(pending: &[LeftBroker], outcome: &Unregistering) -> String {
    let ids: BTreeSet<i32> = pending.iter().map(|b| b.node_id).collect();
    let mut text = format!(
        "brokers {} left their pool and are unregistered once their pods are gone",
        describe(&ids)
    );
    if !outcome.pods_left.is_empty() {
        text.push_str(&format!(
            "; waiting for pod(s) {}",
            outcome.pods_left.join(", ")
        ));
    }
    if !outcome.failed.is_empty() {
        text.push_str(&format!(
            "; unregistering failed, retried: {}",
            outcome.failed.join("; ")
        ));
    }
    text
}

/// Unregisters the brokers in `status.unregisteringBrokers` whose pods are gone, keeping
/// the others for a later reconcile; sets the `ScaleIn` condition (`Unregistering`, then
/// `Done`). Returns when to look again. A broker whose id the spec has again (the pool
/// grew back) is not unregistered: it is in the cluster again.
async fn unregister_left(
    context: &crate::controller::ControllerContext,
    cluster: &KafkaCluster,
    valid: &ValidCluster,
    status: &mut KafkaClusterStatus,
) -> Option<Duration> {
    let namespace = cluster.namespace().unwrap_or_default();
    let generation = cluster.meta().generation;
    let backoff_key = format!("{namespace}/{}#unregister", cluster.name_any());
    let in_spec: BTreeSet<i32> = valid.nodes.iter().map(|n| n.node_id).collect();
    let pods: Api<Pod> = Api::namespaced(context.client.clone(), &namespace);
    let mut outcome = Unregistering::default();
    let mut pending = Vec::new();
    let mut gone = Vec::new();
    for left in std::mem::take(&mut status.unregistering_brokers) {
        if in_spec.contains(&left.node_id) {
            continue;
        }
        match pods.get_opt(&left.pod).await {
            Ok(None) => gone.push(left),
            Ok(Some(_)) => {
                outcome.pods_left.push(left.pod.clone());
                pending.push(left);
            }
            Err(e) => {
                outcome
                    .failed
                    .push(format!("reading pod {}: {e}", left.pod));
                pending.push(left);
            }
        }
    }
    if !gone.is_empty() {
        let admin = match context.bootstrap(&namespace, &cluster.name_any()).await {
            Ok(Some(endpoint)) => KafkaAdmin::new(&endpoint).map_err(|e| e.to_string()),
            Ok(None) => Err("the brokers' address is not known yet".to_string()),
            Err(e) => Err(e.to_string()),
        };
        for left in gone {
            let unregistered = match &admin {
                Ok(admin) => admin
                    .unregister_broker(left.node_id)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.clone()),
            };
            match unregistered {
                Ok(how) => {
                    tracing::info!(cluster = %cluster.name_any(), broker_id = left.node_id, ?how, "broker unregistered after the scale-in");
                    outcome.done.push(left.node_id);
                }
                Err(e) => {
                    outcome.failed.push(format!("broker {}: {e}", left.node_id));
                    pending.push(left);
                }
            }
        }
    }
    pending.sort_by_key(|b| b.node_id);
    let requeue = if !outcome.failed.is_empty() {
        context.backoff.failed(&backoff_key)
    } else {
        context.backoff.succeeded(&backoff_key);
        UNREGISTER_POLL
    };
    if !outcome.done.is_empty() {
        let done: BTreeSet<i32> = outcome.done.iter().copied().collect();
        crate::events::publish(
            &context.recorder,
            &cluster.object_ref(&()),
            false,
            "ScaleInUnregistered",
            "ScaleIn",
            format!(
                "brokers {} unregistered: their pods are gone",
                describe(&done)
            ),
        )
        .await;
    }
    let condition = if pending.is_empty() {
        conditions::condition(
            SCALE_IN,
            false,
            "Done",
            "every pool runs the replicas its spec asks for and the brokers that left are unregistered",
            generation,
        )
    } else {
        conditions::condition(
            SCALE_IN,
            true,
            "Unregistering",
            unregistering_message(&pending, &outcome),
            generation,
        )
    };
    conditions::set_condition(&mut status.conditions, condition);
    let more = !pending.is_empty();
    status.unregistering_brokers = pending;
    more.then_some(requeue)
}

fn held_valid(
    cluster: &KafkaCluster,
    shrinking: &[Shrinking],
) -> Result<ValidCluster, ScaleInError> {
    validate(&held(cluster, shrinking)).map_err(|errors| {
        ScaleInError::Held(
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::model::test_cluster as model;

    fn ids(ids: &[BrokerId]) -> BTreeSet<BrokerId> {
        ids.iter().copied().collect()
    }

    fn none() -> BTreeMap<TopicPartition, OngoingReassignment> {
        BTreeMap::new()
    }

    #[test]
    fn a_replica_on_its_way_is_not_counted_in_the_replication_factor() {
        // t-0 moves off broker 4 onto broker 3: it lists four replicas meanwhile
        let m = model(&[1, 2, 3, 4], &[("t", &[1, 2, 4, 3])]);
        let moving = [(
            TopicPartition {
                topic: "t".to_string(),
                partition: 0,
            },
            OngoingReassignment {
                replicas: vec![1, 2, 4, 3],
                adding: vec![3],
                removing: vec![4],
            },
        )]
        .into_iter()
        .collect();
        let decision = decide(&ids(&[4]), &ids(&[1, 2, 3]), &m, &moving);
        assert_eq!(
            decision,
            Decision::Drain {
                holding: [(4, 1)].into_iter().collect(),
                reassigning: 1
            },
            "a move in flight is drained, not refused"
        );
        // the reassignment ended between the two reads: the model lists the new replicas
        let m = model(&[1, 2, 3, 4], &[("t", &[1, 2, 3])]);
        let decision = decide(&ids(&[4]), &ids(&[1, 2, 3]), &m, &moving);
        assert!(matches!(decision, Decision::Drain { .. }), "{decision:?}");
    }

    #[test]
    fn brokers_that_hold_replicas_are_drained_first() {
        let m = model(&[1, 2, 3, 4], &[("t", &[1, 2, 4]), ("t", &[4, 3, 2])]);
        let decision = decide(&ids(&[4]), &ids(&[1, 2, 3]), &m, &none());
        assert_eq!(
            decision,
            Decision::Drain {
                holding: [(4, 2)].into_iter().collect(),
                reassigning: 0
            }
        );
        assert!(decision.holds(), "the StatefulSet keeps its size");
        let text = message(&ids(&[4]), &decision);
        assert!(
            text.contains("draining brokers 4") && text.contains("2 replica(s) left"),
            "{text}"
        );
    }

    #[test]
    fn the_pool_shrinks_once_the_leaving_brokers_hold_nothing() {
        let m = model(&[1, 2, 3, 4, 5], &[("t", &[1, 2, 3]), ("t", &[3, 2, 1])]);
        let decision = decide(&ids(&[4, 5]), &ids(&[1, 2, 3]), &m, &none());
        assert_eq!(decision, Decision::Shrink);
        assert!(!decision.holds());
    }

    #[test]
    fn nothing_shrinks_while_a_reassignment_is_in_flight() {
        // broker 4 no longer listed, but a move off it may not have caught up yet
        let m = model(&[1, 2, 3, 4], &[("t", &[1, 2, 3])]);
        let moving = [(
            TopicPartition {
                topic: "t".to_string(),
                partition: 0,
            },
            OngoingReassignment {
                replicas: vec![1, 2, 3],
                adding: vec![],
                removing: vec![],
            },
        )]
        .into_iter()
        .collect();
        let decision = decide(&ids(&[4]), &ids(&[1, 2, 3]), &m, &moving);
        assert!(decision.holds(), "{decision:?}");
        let text = message(&ids(&[4]), &decision);
        assert!(text.contains("1 reassignment(s) in flight"), "{text}");
    }

    #[test]
    fn a_scale_in_below_a_topics_replication_factor_is_refused_naming_it() {
        let m = model(
            &[1, 2, 3],
            &[("small", &[1, 2]), ("big", &[1, 2, 3]), ("small", &[2, 3])],
        );
        let decision = decide(&ids(&[3]), &ids(&[1, 2]), &m, &none());
        assert_eq!(
            decision,
            Decision::Refused {
                topic: "big".to_string(),
                replication_factor: 3,
                staying: 2
            }
        );
        assert!(decision.holds(), "nothing shrinks");
        let text = message(&ids(&[3]), &decision);
        assert!(
            text.contains("topic big has replication factor 3"),
            "{text}"
        );
    }

    #[test]
    fn a_refusal_wins_even_when_the_leaving_brokers_are_empty() {
        // broker 3 holds nothing, but RF 3 on two brokers cannot recover from a loss
        let m = model(&[1, 2, 3], &[("t", &[1, 2, 3])]);
        let decision = decide(&ids(&[4]), &ids(&[1, 2]), &m, &none());
        assert!(matches!(decision, Decision::Refused { .. }), "{decision:?}");
    }

    #[test]
    fn the_leaving_brokers_are_the_highest_ordinals_of_every_shrinking_pool() {
        let shrinking = [
            Shrinking {
                pool: 1,
                running_replicas: 5,
                spec_replicas: 3,
                leaving: (4..6).collect(),
            },
            Shrinking {
                pool: 2,
                running_replicas: 2,
                spec_replicas: 1,
                leaving: (101..102).collect(),
            },
        ];
        assert_eq!(leaving(&shrinking), ids(&[4, 5, 101]));
        assert_eq!(describe(&ids(&[4, 5])), "4..5");
        assert_eq!(describe(&ids(&[7])), "7");
    }

    #[test]
    fn the_brokers_that_left_are_named_with_their_pods_and_remembered_once() {
        let mut cluster = crate::cluster::test_support::cluster();
        cluster.spec.node_pools[0].node_id_start = Some(10);
        let valid = validate(&cluster).expect("a valid spec");
        let shrinking = [Shrinking {
            pool: 0,
            running_replicas: 5,
            spec_replicas: 3,
            leaving: (13..15).collect(),
        }];
        let left = left_brokers(&valid, &shrinking);
        let pod = |ordinal| names::pod_name(&valid.name, "combined", ordinal);
        assert_eq!(
            left,
            vec![
                LeftBroker {
                    node_id: 13,
                    pod: pod(3)
                },
                LeftBroker {
                    node_id: 14,
                    pod: pod(4)
                },
            ]
        );
        // a later scale-in while broker 14 is still pending: one entry per broker
        let more = vec![
            LeftBroker {
                node_id: 14,
                pod: pod(4),
            },
            LeftBroker {
                node_id: 12,
                pod: pod(2),
            },
        ];
        let pending = remember_left(&left, more);
        let ids: Vec<i32> = pending.iter().map(|b| b.node_id).collect();
        assert_eq!(ids, vec![12, 13, 14]);
    }

    #[test]
    fn the_unregistering_message_says_what_is_left_and_why() {
        let pending = [
            LeftBroker {
                node_id: 4,
                pod: "c-brokers-3".to_string(),
            },
            LeftBroker {
                node_id: 5,
                pod: "c-brokers-4".to_string(),
            },
        ];
        let outcome = Unregistering {
            done: vec![],
            pods_left: vec!["c-brokers-4".to_string()],
            failed: vec!["broker 4: UnregisterBroker of broker 4: timed out".to_string()],
        };
        let text = unregistering_message(&pending, &outcome);
        assert!(
            text.starts_with("brokers 4..5 left their pool")
                && text.contains("waiting for pod(s) c-brokers-4")
                && text.contains("unregistering failed, retried: broker 4:"),
            "{text}"
        );
    }

    #[test]
    fn the_held_spec_keeps_the_running_size_of_shrinking_pools_only() {
        let cluster = crate::cluster::test_support::cluster();
        let shrinking = [Shrinking {
            pool: 0,
            running_replicas: 5,
            spec_replicas: 3,
            leaving: (3..5).collect(),
        }];
        let held = held(&cluster, &shrinking);
        assert_eq!(held.spec.node_pools[0].replicas, 5);
        assert_eq!(
            cluster.spec.node_pools[0].replicas, 3,
            "the spec is untouched"
        );
    }
}
