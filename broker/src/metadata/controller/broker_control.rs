//! The controller's side of the broker lifecycle (Kafka's `ClusterControlManager` and
//! `BrokerHeartbeatManager`, with the leader elections `ReplicationControlManager` makes
//! when a broker is fenced, unfenced or shuts down):
//!
//! - registration: a new incarnation of a broker whose session is alive (its heartbeats
//!   reached this controller) is DUPLICATE_BROKER_REGISTRATION; otherwise the broker is
//!   registered fenced, its epoch the record's offset. A new incarnation of an unfenced
//!   broker first loses the leaderships other replicas can take.
//! - heartbeats renew the session; a fenced broker whose metadata offset reached its
//!   registration is unfenced (and leads the leaderless partitions of its ISR);
//!   `want_shut_down` is Kafka's controlled shutdown: leaderships move to other live ISR
//!   members and the broker leaves the ISRs that keep another member, then it is fenced and
//!   told `should_shut_down`; later heartbeats of that registration never unfence it (one
//!   sent before the request may arrive after it) — only a new registration does.
//! - [`Controller::expire_sessions`] fences brokers silent for `broker.session.timeout.ms`,
//!   with the same elections.
//!
//! Elections pick the first live replica of the ISR, in replica order. Where no other ISR
//! member is alive the partition keeps its leader and epoch (clients see no leader while
//! that broker is fenced, as Kafka's metadata cache shows a fenced leader) unless
//! `unclean.leader.election.enable` lets a live out-of-sync replica lead. Sessions are the
//! active controller's memory: a newly active controller starts every unfenced broker's
//! session at its activation, as Kafka does.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::partition_change::{Election, PartitionChangeBuilder};
use super::{invalid_request, Controller};
use crate::error::{ApiError, ResponseError};
use crate::metadata::features;
use crate::metadata::image::MetadataImage;
use crate::metadata::records::{ConfigResource, MetadataRecord, NO_LEADER};
use crate::metadata::BrokerRegistrationRequest;

const MIN_INSYNC_REPLICAS: &str = "min.insync.replicas";

/// One BrokerHeartbeat, as the controller takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BrokerHeartbeat {
    pub broker_id: i32,
    pub broker_epoch: i64,
    pub current_metadata_offset: i64,
    pub want_fence: bool,
    pub want_shut_down: bool,
}

/// The controller's answer to a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeartbeatOutcome {
    pub is_caught_up: bool,
    pub is_fenced: bool,
    pub should_shut_down: bool,
}

#[derive(Debug)]
struct Session {
    epoch: i64,
    last_contact: Instant,
    /// The broker itself reached this controller (a registration or heartbeat), rather
    /// than the session being started at activation.
    heard_from: bool,
    /// The broker asked for a controlled shutdown in this session (Kafka's SHUTDOWN_NOW
    /// state): a later heartbeat of the same registration without `want_shut_down` (one
    /// sent before, arriving after) does not unfence it.
    shutting_down: bool,
}

/// The active controller's heartbeat sessions.
#[derive(Debug)]
pub(crate) struct BrokerSessions {
    timeout: Duration,
    /// The raft term these sessions belong to; another term starts them over.
    term: Option<u64>,
    sessions: HashMap<i32, Session>,
}

impl BrokerSessions {
    pub(crate) fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            term: None,
            sessions: HashMap::new(),
        }
    }

    /// Starts over for a new term of leadership: every unfenced broker's session starts
    /// now (a grace of one session timeout to reach the new controller).
    fn activate(&mut self, term: u64, image: &MetadataImage) {
        if self.term == Some(term) {
            return;
        }
        self.term = Some(term);
        let now = Instant::now();
        self.sessions = image
            .brokers
            .values()
            .filter(|b| !b.fenced)
            .map(|b| {
                (
                    b.broker_id,
                    Session {
                        epoch: b.epoch,
                        last_contact: now,
                        heard_from: false,
                        shutting_down: false,
                    },
                )
            })
            .collect();
    }

    fn is_alive(&self, broker_id: i32, epoch: i64) -> bool {
        self.sessions
            .get(&broker_id)
            .is_some_and(|s| s.epoch == epoch && s.last_contact.elapsed() < self.timeout)
    }

    /// A live session the broker itself kept up, and not ended by a controlled shutdown
    /// (as Kafka's: a broker that shut down has no valid session).
    fn heard_from_alive(&self, broker_id: i32, epoch: i64) -> bool {
        self.is_alive(broker_id, epoch)
            && self.sessions[&broker_id].heard_from
            && !self.sessions[&broker_id].shutting_down
    }

    fn touch(&mut self, broker_id: i32, epoch: i64) {
        let shutting_down = self
            .sessions
            .get(&broker_id)
            .is_some_and(|s| s.epoch == epoch && s.shutting_down);
        self.sessions.insert(
            broker_id,
            Session {
                epoch,
                last_contact: Instant::now(),
                heard_from: true,
                shutting_down,
            },
        );
    }

    /// Marks the session of `broker_id` at `epoch` as shutting down.
    fn shut_down(&mut self, broker_id: i32, epoch: i64) {
        if let Some(session) = self.sessions.get_mut(&broker_id) {
            if session.epoch == epoch {
                session.shutting_down = true;
            }
        }
    }

    /// Forgets the session of an unregistered broker.
    fn remove(&mut self, broker_id: i32) {
        self.sessions.remove(&broker_id);
    }

    fn is_shutting_down(&self, broker_id: i32, epoch: i64) -> bool {
        self.sessions
            .get(&broker_id)
            .is_some_and(|s| s.epoch == epoch && s.shutting_down)
    }
}

impl Controller {
    /// Starts the sessions over when this node leads in a new term; `NOT_CONTROLLER` when
    /// it does not lead.
    fn activate_sessions(&self, image: &MetadataImage) -> Result<(), ApiError> {
        let term = self.quorum.active_term().ok_or_else(|| {
            ApiError::new(
                ResponseError::NotController,
                "this node is not the active controller",
            )
        })?;
        self.lock_sessions().activate(term, image);
        Ok(())
    }

    fn lock_sessions(&self) -> std::sync::MutexGuard<'_, BrokerSessions> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// BrokerRegistration: returns the broker epoch. A retry of the current registration
    /// (same incarnation, endpoints and rack) proposes nothing.
    pub(crate) async fn register_broker(
        &self,
        reg: BrokerRegistrationRequest,
    ) -> Result<i64, ApiError> {
        let _guard = self.operation_lock.lock().await;
        self.ensure_active()?;
        if reg.broker_id < 0 {
            return Err(invalid_request(format!(
                "Invalid broker id {}",
                reg.broker_id
            )));
        }
        let image = self.quorum.image();
        self.activate_sessions(&image)?;
        let mut records = Vec::new();
        let supported = reg.features.clone().unwrap_or_else(features::supported);
        features::check_registration(&image.finalized_features(), &supported).inspect_err(
            |e| tracing::warn!(broker_id = reg.broker_id, error = %e, "refusing a registration"),
        )?;
        if let Some(existing) = image.brokers.get(&reg.broker_id) {
            if existing.incarnation_id == reg.incarnation_id {
                if existing.listeners == reg.listeners
                    && existing.rack == reg.rack
                    && existing.features == reg.features
                {
                    self.lock_sessions().touch(reg.broker_id, existing.epoch);
                    return Ok(existing.epoch);
                }
            } else if self
                .lock_sessions()
                .heard_from_alive(reg.broker_id, existing.epoch)
            {
                return Err(ApiError::new(
                    ResponseError::DuplicateBrokerRegistration,
                    "Another broker is registered with that broker id. If the broker was recently \
                     restarted this should self-resolve once the heartbeat manager expires the \
                     broker's session.",
                ));
            }
            if !existing.fenced {
                records = self.leave_leaderships(&image, reg.broker_id, false);
            }
        }
        records.extend(self.cluster_min_insync_replicas_record(&image));
        tracing::info!(broker_id = reg.broker_id, incarnation_id = %reg.incarnation_id, "registering broker");
        records.push(MetadataRecord::RegisterBroker {
            broker_id: reg.broker_id,
            incarnation_id: reg.incarnation_id,
            listeners: reg.listeners,
            rack: reg.rack,
            fenced: true,
            features: reg.features,
        });
        let offset = self.propose(records).await?;
        let epoch = i64::try_from(offset).unwrap_or(i64::MAX);
        self.lock_sessions().touch(reg.broker_id, epoch);
        Ok(epoch)
    }

    /// BrokerHeartbeat (see the module header).
    pub(crate) async fn heartbeat(
        &self,
        heartbeat: BrokerHeartbeat,
    ) -> Result<HeartbeatOutcome, ApiError> {
        let _guard = self.operation_lock.lock().await;
        self.ensure_active()?;
        let image = self.quorum.image();
        self.activate_sessions(&image)?;
        let id = heartbeat.broker_id;
        let registration = image.brokers.get(&id).ok_or_else(|| {
            ApiError::new(
                ResponseError::StaleBrokerEpoch,
                format!("No broker registration found for broker {id}"),
            )
        })?;
        if registration.epoch != heartbeat.broker_epoch {
            return Err(ApiError::new(
                ResponseError::StaleBrokerEpoch,
                format!(
                    "Expected broker epoch {}, but got broker epoch {}",
                    registration.epoch, heartbeat.broker_epoch
                ),
            ));
        }
        let shutting_down = {
            let mut sessions = self.lock_sessions();
            sessions.touch(id, registration.epoch);
            if heartbeat.want_shut_down {
                sessions.shut_down(id, registration.epoch);
            }
            sessions.is_shutting_down(id, registration.epoch)
        };
        let is_caught_up = heartbeat.current_metadata_offset >= registration.epoch;
        let mut records = Vec::new();
        let mut fenced = registration.fenced;
        let mut should_shut_down = false;
        if shutting_down && !heartbeat.want_shut_down {
            // A heartbeat sent before the shutdown request: the broker stays fenced.
            should_shut_down = fenced;
        } else if heartbeat.want_shut_down {
            records = self.leave_leaderships(&image, id, true);
            if !fenced {
                records.push(MetadataRecord::FenceBroker { broker_id: id });
                fenced = true;
            }
            should_shut_down = true;
            tracing::info!(
                broker_id = id,
                changes = records.len(),
                "controlled shutdown: leaderships moved, broker fenced"
            );
        } else if heartbeat.want_fence && !fenced {
            records = self.leave_leaderships(&image, id, false);
            records.push(MetadataRecord::FenceBroker { broker_id: id });
            fenced = true;
        } else if fenced && is_caught_up && !heartbeat.want_fence {
            records.push(MetadataRecord::UnfenceBroker { broker_id: id });
            records.extend(self.take_leaderless(&image, id));
            fenced = false;
            tracing::info!(
                broker_id = id,
                "unfencing broker: caught up with the metadata log"
            );
        }
        if !records.is_empty() {
            self.propose(records).await?;
        }
        Ok(HeartbeatOutcome {
            is_caught_up,
            is_fenced: fenced,
            should_shut_down,
        })
    }

    /// Fences every unfenced broker whose session expired (on the active controller; a
    /// no-op elsewhere). Returns the fenced broker ids.
    pub(crate) async fn expire_sessions(&self) -> Result<Vec<i32>, ApiError> {
        if !self.quorum.is_active_controller() {
            return Ok(Vec::new());
        }
        let _guard = self.operation_lock.lock().await;
        self.ensure_active()?;
        let image = self.quorum.image();
        self.activate_sessions(&image)?;
        let expired: Vec<i32> = {
            let sessions = self.lock_sessions();
            image
                .brokers
                .values()
                .filter(|b| !b.fenced && !sessions.is_alive(b.broker_id, b.epoch))
                .map(|b| b.broker_id)
                .collect()
        };
        if expired.is_empty() {
            return Ok(expired);
        }
        let mut records = Vec::new();
        let mut next = image.as_ref().clone();
        for id in &expired {
            let moves = self.leave_leaderships(&next, *id, false);
            next.apply_in_place(&moves);
            next.apply_in_place(&[MetadataRecord::FenceBroker { broker_id: *id }]);
            records.extend(moves);
            records.push(MetadataRecord::FenceBroker { broker_id: *id });
        }
        tracing::warn!(
            brokers = ?expired,
            session_timeout_ms = self.defaults.broker_session_timeout_ms,
            "fencing brokers without a heartbeat for broker.session.timeout.ms"
        );
        self.propose(records).await?;
        Ok(expired)
    }

    /// UnregisterBroker (KIP-746): removes `broker_id`'s registration, as Kafka 4.1's
    /// controller does for any registered broker, fenced or not (a live broker that is
    /// unregistered gets STALE_BROKER_EPOCH on its next heartbeat and registers again).
    /// First the broker leaves its leaderships and every ISR that keeps another member, as
    /// when it is fenced, so no partition is led by a broker the cluster no longer lists.
    /// BROKER_ID_NOT_REGISTERED for an id without a registration. Returns the offset of the
    /// records.
    pub(crate) async fn unregister_broker(&self, broker_id: i32) -> Result<u64, ApiError> {
        let _guard = self.operation_lock.lock().await;
        self.ensure_active()?;
        let image = self.quorum.image();
        let registration = image.brokers.get(&broker_id).ok_or_else(|| {
            ApiError::new(
                ResponseError::BrokerIdNotRegistered,
                format!("Broker ID {broker_id} is not currently registered"),
            )
        })?;
        let mut records = self.leave_leaderships(&image, broker_id, false);
        records.push(MetadataRecord::UnregisterBroker {
            broker_id,
            broker_epoch: registration.epoch,
        });
        tracing::info!(
            broker_id,
            broker_epoch = registration.epoch,
            fenced = registration.fenced,
            changes = records.len() - 1,
            "unregistering broker"
        );
        let offset = self.propose(records).await?;
        self.lock_sessions().remove(broker_id);
        Ok(offset)
    }

    /// The cluster-level `min.insync.replicas` config record ELR needs (KIP-966: Kafka
    /// writes it when the cluster is formed with ELR), while the image has none: written
    /// with the first registration a controller takes, so every broker's first image
    /// holds it and DescribeConfigs reports it on every topic as
    /// DYNAMIC_DEFAULT_BROKER_CONFIG. A metadata log from before ELR gets it the same way.
    fn cluster_min_insync_replicas_record(&self, image: &MetadataImage) -> Option<MetadataRecord> {
        let resource = ConfigResource::Broker(None);
        let set = image
            .configs
            .get(&resource)
            .is_some_and(|c| c.contains_key(MIN_INSYNC_REPLICAS));
        (!set).then(|| {
            tracing::info!(
                min_insync_replicas = self.defaults.min_insync_replicas,
                "writing the cluster-level min.insync.replicas eligible leader replicas need"
            );
            MetadataRecord::Config {
                resource,
                name: MIN_INSYNC_REPLICAS.to_string(),
                value: Some(self.defaults.min_insync_replicas.to_string()),
            }
        })
    }

    /// The partition changes that take `broker_id` out of leadership and out of every ISR
    /// that keeps another member (see the module header for who leads instead), through
    /// the partition change builder (so the ELR is kept as KIP-966 says).
    /// `only_to_live_isr`: a controlled shutdown never elects uncleanly.
    fn leave_leaderships(
        &self,
        image: &MetadataImage,
        broker_id: i32,
        only_to_live_isr: bool,
    ) -> Vec<MetadataRecord> {
        let live = |id: i32| id != broker_id && image.brokers.get(&id).is_some_and(|b| !b.fenced);
        let mut records = Vec::new();
        for topic in image.topics.values() {
            let election = if !only_to_live_isr && self.unclean_election_enabled(image, &topic.name)
            {
                Election::Unclean
            } else {
                Election::Online
            };
            let min_isr = self.min_insync_replicas(image, &topic.name);
            for (&partition, reg) in &topic.partitions {
                let leads = reg.leader == broker_id;
                if !leads && !reg.isr.contains(&broker_id) {
                    continue;
                }
                let others: Vec<i32> = reg
                    .isr
                    .iter()
                    .copied()
                    .filter(|&r| r != broker_id)
                    .collect();
                // The ISR keeps its last member, and a leader nobody in it can replace
                // stays in it (it keeps leading until it is back or the ELR or an unclean
                // election gives the partition another leader).
                let target_isr = if others.is_empty() || (leads && !others.iter().any(|&r| live(r)))
                {
                    reg.isr.clone()
                } else {
                    others
                };
                records.extend(
                    PartitionChangeBuilder::new(topic.topic_id, partition, reg, &live, min_isr)
                        .election(election)
                        .target_isr(target_isr)
                        .build(),
                );
            }
        }
        records
    }

    /// The elections `broker_id`'s unfencing makes: leadership of the partitions without
    /// a live leader whose ISR — or, when no ISR member is live, whose ELR — holds it, and
    /// the last known ELR cleared where it leads again.
    fn take_leaderless(&self, image: &MetadataImage, broker_id: i32) -> Vec<MetadataRecord> {
        let live = |id: i32| id == broker_id || image.brokers.get(&id).is_some_and(|b| !b.fenced);
        let mut records = Vec::new();
        for topic in image.topics.values() {
            let min_isr = self.min_insync_replicas(image, &topic.name);
            for (&partition, reg) in &topic.partitions {
                let leaderless =
                    reg.leader == NO_LEADER || (reg.leader != broker_id && !live(reg.leader));
                let candidate = reg.isr.contains(&broker_id) || reg.elr.contains(&broker_id);
                let returns = reg.leader == broker_id && !reg.last_known_elr.is_empty();
                if (leaderless && candidate) || returns {
                    records.extend(
                        PartitionChangeBuilder::new(topic.topic_id, partition, reg, &live, min_isr)
                            .build(),
                    );
                }
            }
        }
        records
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use uuid::Uuid;

    use super::*;
    use crate::metadata::quorum::{MetadataQuorum, QuorumConfig};
    use crate::metadata::{ControllerDefaults, CreateTopicSpec};

    async fn controller(
        dir: &std::path::Path,
        session_timeout_ms: u64,
        unclean: bool,
    ) -> Controller {
        let quorum = MetadataQuorum::start(QuorumConfig {
            node_id: 1,
            metadata_dir: dir.join("__cluster_metadata-0"),
            cluster_id: None,
            voters: BTreeMap::new(),
            learner_address: None,
            bootstrap_servers: Vec::new(),
            controller: None,
            standalone: false,
            connectors: crate::security::NodeConnectors::plaintext(),
            bootstrap_records: Vec::new(),
        })
        .await
        .unwrap();
        Controller::new(
            Arc::new(quorum),
            ControllerDefaults {
                num_partitions: 1,
                default_replication_factor: 1,
                node_id: 1,
                broker_session_timeout_ms: session_timeout_ms,
                unclean_leader_election_enable: unclean,
                min_insync_replicas: 1,
                auto_leader_rebalance_enable: true,
                leader_imbalance_per_broker_percentage: 10,
            },
        )
    }

    fn registration(id: i32, incarnation: u128) -> BrokerRegistrationRequest {
        BrokerRegistrationRequest {
            broker_id: id,
            incarnation_id: Uuid::from_u128(incarnation),
            listeners: vec![],
            rack: None,
            features: Some(crate::metadata::features::supported()),
        }
    }

    async fn heartbeat(c: &Controller, id: i32, want_shut_down: bool) -> HeartbeatOutcome {
        let epoch = c.quorum.image().brokers[&id].epoch;
        c.heartbeat(BrokerHeartbeat {
            broker_id: id,
            broker_epoch: epoch,
            current_metadata_offset: i64::MAX,
            want_fence: false,
            want_shut_down,
        })
        .await
        .unwrap()
    }

    /// Brokers 1..=n registered and unfenced, and topic `t` with one partition on
    /// `replicas` (leader first).
    async fn cluster(c: &Controller, n: i32, replicas: Vec<i32>) {
        for id in 1..=n {
            c.register_broker(registration(id, id as u128))
                .await
                .unwrap();
            assert!(!heartbeat(c, id, false).await.is_fenced);
        }
        let created = c
            .create_topics(
                vec![CreateTopicSpec {
                    name: "t".into(),
                    num_partitions: -1,
                    replication_factor: -1,
                    assignments: BTreeMap::from([(0, replicas)]),
                    configs: BTreeMap::new(),
                }],
                false,
            )
            .await;
        assert!(created[0].is_ok(), "{created:?}");
    }

    fn partition(c: &Controller) -> crate::metadata::PartitionRegistration {
        c.quorum.image().topic("t").unwrap().partitions[&0].clone()
    }

    #[tokio::test]
    async fn registration_is_fenced_until_caught_up_and_a_live_duplicate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let c = controller(dir.path(), 60_000, false).await;
        let epoch = c.register_broker(registration(2, 7)).await.unwrap();
        let image = c.quorum.image();
        assert!(image.brokers[&2].fenced, "a new registration is fenced");
        assert_eq!(
            image.brokers[&2].epoch, epoch,
            "the epoch is the record's offset"
        );
        let behind = c
            .heartbeat(BrokerHeartbeat {
                broker_id: 2,
                broker_epoch: epoch,
                current_metadata_offset: epoch - 1,
                want_fence: false,
                want_shut_down: false,
            })
            .await
            .unwrap();
        assert!(
            behind.is_fenced && !behind.is_caught_up,
            "behind the registration: stays fenced"
        );
        assert!(
            !heartbeat(&c, 2, false).await.is_fenced,
            "caught up: unfenced"
        );
        let duplicate = c.register_broker(registration(2, 8)).await.unwrap_err();
        assert_eq!(duplicate.code, ResponseError::DuplicateBrokerRegistration);
        let stale = c
            .heartbeat(BrokerHeartbeat {
                broker_id: 2,
                broker_epoch: epoch + 100,
                current_metadata_offset: 0,
                want_fence: false,
                want_shut_down: false,
            })
            .await
            .unwrap_err();
        assert_eq!(stale.code, ResponseError::StaleBrokerEpoch);
        assert_eq!(
            c.register_broker(registration(2, 7)).await.unwrap(),
            epoch,
            "a retry of the same registration keeps its epoch"
        );
    }

    #[tokio::test]
    async fn an_expired_session_fences_the_broker_and_its_leadership_moves_within_the_isr() {
        let dir = tempfile::tempdir().unwrap();
        let c = controller(dir.path(), 300, false).await;
        cluster(&c, 3, vec![2, 3, 1]).await;
        let before = partition(&c);
        // brokers 1 and 3 keep heartbeating, broker 2 falls silent
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            heartbeat(&c, 1, false).await;
            heartbeat(&c, 3, false).await;
            let fenced = c.expire_sessions().await.unwrap();
            if !fenced.is_empty() {
                assert_eq!(fenced, vec![2]);
                break;
            }
            assert!(Instant::now() < deadline, "broker 2 was never fenced");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let after = partition(&c);
        assert!(c.quorum.image().brokers[&2].fenced);
        assert_eq!(
            after.leader, 3,
            "the next live ISR member in replica order leads"
        );
        assert_eq!(after.isr, vec![3, 1], "the fenced replica left the ISR");
        assert_eq!(after.leader_epoch, before.leader_epoch + 1);
        // broker 2 comes back: unfenced, but not back in the ISR (that is AlterPartition's)
        assert!(!heartbeat(&c, 2, false).await.is_fenced);
        assert_eq!(partition(&c).isr, vec![3, 1]);
    }

    #[tokio::test]
    async fn controlled_shutdown_moves_leadership_and_a_sole_replica_keeps_its_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let c = controller(dir.path(), 60_000, false).await;
        cluster(&c, 2, vec![1, 2]).await;
        let outcome = heartbeat(&c, 1, true).await;
        assert!(outcome.should_shut_down && outcome.is_fenced);
        let p = partition(&c);
        assert_eq!((p.leader, p.isr.clone()), (2, vec![2]));
        // now 2 is the only ISR member: its shutdown cannot move leadership
        let epoch = p.leader_epoch;
        assert!(heartbeat(&c, 2, true).await.should_shut_down);
        let p = partition(&c);
        assert_eq!(
            (p.leader, p.leader_epoch),
            (2, epoch),
            "no other ISR member: unchanged"
        );
        // 2 restarts (a new registration): it still leads, at the same epoch; 1 restarts
        // out of the ISR
        for id in [2, 1] {
            c.register_broker(registration(id, 100 + id as u128))
                .await
                .expect("a broker that shut down registers again at once");
            assert!(!heartbeat(&c, id, false).await.is_fenced);
        }
        let p = partition(&c);
        assert_eq!((p.leader, p.leader_epoch, p.isr), (2, epoch, vec![2]));
    }

    #[tokio::test]
    async fn a_heartbeat_arriving_after_a_controlled_shutdown_does_not_unfence_the_broker() {
        let dir = tempfile::tempdir().unwrap();
        let c = controller(dir.path(), 60_000, false).await;
        cluster(&c, 2, vec![1, 2]).await;
        assert!(heartbeat(&c, 1, true).await.should_shut_down);
        let late = heartbeat(&c, 1, false).await;
        assert!(
            late.is_fenced && late.should_shut_down,
            "a heartbeat sent before the shutdown request keeps the broker fenced: {late:?}"
        );
        assert!(c.quorum.image().brokers[&1].fenced);
        c.register_broker(registration(1, 99)).await.unwrap();
        assert!(
            !heartbeat(&c, 1, false).await.is_fenced,
            "a new registration after the restart is unfenced once caught up"
        );
    }

    #[tokio::test]
    async fn unregistering_removes_the_broker_and_its_leaderships_and_the_id_can_register_again() {
        let dir = tempfile::tempdir().unwrap();
        let c = controller(dir.path(), 60_000, false).await;
        cluster(&c, 3, vec![2, 3, 1]).await;
        let unknown = c.unregister_broker(42).await.unwrap_err();
        assert_eq!(unknown.code, ResponseError::BrokerIdNotRegistered);
        // broker 2 is live, unfenced and leads: as Kafka 4.1, it is unregistered anyway,
        // after its leadership moved within the ISR
        c.unregister_broker(2).await.unwrap();
        let image = c.quorum.image();
        assert!(
            !image.brokers.contains_key(&2),
            "broker 2 is no longer registered: {:?}",
            image.brokers.keys().collect::<Vec<_>>()
        );
        let p = partition(&c);
        assert_eq!(
            (p.leader, p.isr.clone()),
            (3, vec![3, 1]),
            "broker 2 left the leadership and the ISR"
        );
        let again = c.unregister_broker(2).await.unwrap_err();
        assert_eq!(
            again.code,
            ResponseError::BrokerIdNotRegistered,
            "a second unregistration of the same id"
        );
        // its heartbeat of the removed registration is stale: the broker registers again
        let stale = c
            .heartbeat(BrokerHeartbeat {
                broker_id: 2,
                broker_epoch: 0,
                current_metadata_offset: i64::MAX,
                want_fence: false,
                want_shut_down: false,
            })
            .await
            .unwrap_err();
        assert_eq!(stale.code, ResponseError::StaleBrokerEpoch);
        c.register_broker(registration(2, 2))
            .await
            .expect("an unregistered id registers again, even with the same incarnation");
        assert!(!heartbeat(&c, 2, false).await.is_fenced);
        // a fenced broker (its session expired) is unregistered the same way
        c.quorum
            .propose(vec![MetadataRecord::FenceBroker { broker_id: 3 }])
            .await
            .unwrap();
        c.unregister_broker(3).await.unwrap();
        assert!(!c.quorum.image().brokers.contains_key(&3));
    }

    #[tokio::test]
    async fn unclean_election_only_when_enabled() {
        for unclean in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let c = controller(dir.path(), 60_000, unclean).await;
            cluster(&c, 2, vec![1, 2]).await;
            // shrink the ISR to the leader alone, as AlterPartition would
            let topic_id = c.quorum.image().topic("t").unwrap().topic_id;
            c.quorum
                .propose(vec![MetadataRecord::PartitionChange {
                    topic_id,
                    partition: 0,
                    leader: None,
                    isr: Some(vec![1]),
                    replicas: None,
                    adding_replicas: None,
                    removing_replicas: None,
                    eligible_leader_replicas: None,
                    last_known_elr: None,
                }])
                .await
                .unwrap();
            let epoch = c.quorum.image().brokers[&1].epoch;
            c.heartbeat(BrokerHeartbeat {
                broker_id: 1,
                broker_epoch: epoch,
                current_metadata_offset: i64::MAX,
                want_fence: true,
                want_shut_down: false,
            })
            .await
            .unwrap();
            let p = partition(&c);
            if unclean {
                assert_eq!(
                    (p.leader, p.isr),
                    (2, vec![2]),
                    "unclean: the out-of-sync replica leads"
                );
            } else {
                assert_eq!(
                    (p.leader, p.isr),
                    (1, vec![1]),
                    "clean only: the partition waits for 1"
                );
            }
        }
    }
}
