//! Changing a dynamic quorum's voters (KIP-853's AddRaftVoter and RemoveRaftVoter) on
//! openraft's membership: a controller that follows the log as a learner (Kafka's observer,
//! joined with its controller listener and directory id) is promoted to voter; a voter is
//! demoted to learner (it keeps following, as a removed Kafka voter keeps fetching). Each is
//! one openraft membership change (a joint entry, then the uniform one), committed before
//! the request is answered.
//!
//! Kafka's rules, checked in Kafka's order: only the leader changes voters
//! (NOT_LEADER_OR_FOLLOWER); a static quorum (`controller.quorum.voters`, Kafka's
//! kraft.version 0) cannot (UNSUPPORTED_VERSION); one change at a time — another in flight
//! or a membership entry not yet applied is REQUEST_TIMED_OUT; a voter id already voting
//! is DUPLICATE_VOTER; a new voter must be an observer with that directory id, caught up to
//! the leader's commit point within the request's timeout (REQUEST_TIMED_OUT otherwise); a
//! voter to remove must vote with that directory id, and the last voter cannot go
//! (VOTER_NOT_FOUND, as Kafka's voter set refuses to become empty).
//!
//! UpdateRaftVoter (what Kafka's voters send their leader when their endpoint or supported
//! kraft.version may have changed), in the order of Kafka 4.1's `KafkaRaftClient` and
//! `UpdateVoterHandler`: the request's epoch against this leader's (FENCED_LEADER_EPOCH,
//! UNKNOWN_LEADER_EPOCH, then NOT_LEADER_OR_FOLLOWER), a directory id (INVALID_REQUEST), no
//! other change in flight (REQUEST_TIMED_OUT), a supported kraft.version range holding the
//! quorum's (INVALID_REQUEST), the controller listener among the endpoints
//! (INVALID_REQUEST), a voter with that id — and in a dynamic quorum that directory id —
//! (VOTER_NOT_FOUND); then a dynamic quorum's membership entry takes the new endpoint. A
//! static quorum answers NONE and keeps nothing (Kafka keeps the voter's range in memory
//! for a kraft.version upgrade, which Ironlog does not implement).

use std::collections::BTreeSet;
use std::time::Duration;

use openraft::error::{ChangeMembershipError, ClientWriteError, RaftError};
use openraft::ChangeMembers;
use uuid::Uuid;

use super::{MetadataNode, MetadataQuorum, RaftNodeId};
use crate::error::ResponseError;

/// Why a voter change was refused, by Kafka's error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum VoterChangeError {
    #[error("this node is not the metadata quorum leader")]
    NotLeader,
    #[error("the request's leader epoch {0} is older than this leader's")]
    FencedLeaderEpoch(i32),
    #[error("the request's leader epoch {0} is newer than this leader's")]
    UnknownLeaderEpoch(i32),
    #[error("Cluster doesn't support changing voters: the voters are controller.quorum.voters (kraft.version 0)")]
    StaticQuorum,
    #[error("{0}")]
    TimedOut(String),
    #[error("{0}")]
    DuplicateVoter(String),
    #[error("{0}")]
    VoterNotFound(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("raft: {0}")]
    Raft(String),
}

impl VoterChangeError {
    pub(crate) fn response_error(&self) -> ResponseError {
        match self {
            VoterChangeError::NotLeader => ResponseError::NotLeaderOrFollower,
            VoterChangeError::FencedLeaderEpoch(_) => ResponseError::FencedLeaderEpoch,
            VoterChangeError::UnknownLeaderEpoch(_) => ResponseError::UnknownLeaderEpoch,
            VoterChangeError::StaticQuorum => ResponseError::UnsupportedVersion,
            VoterChangeError::TimedOut(_) => ResponseError::RequestTimedOut,
            VoterChangeError::DuplicateVoter(_) => ResponseError::DuplicateVoter,
            VoterChangeError::VoterNotFound(_) => ResponseError::VoterNotFound,
            VoterChangeError::InvalidRequest(_) => ResponseError::InvalidRequest,
            VoterChangeError::Raft(_) => ResponseError::UnknownServerError,
        }
    }
}

/// Bound on a voter change when the request names no positive timeout.
const VOTER_CHANGE_TIMEOUT_DEFAULT_MS: u64 = 30_000;
/// How often the wait for a new voter to catch up looks again (it is also woken by metrics).
const CATCH_UP_POLL_MS: u64 = 50;

/// One endpoint of an AddRaftVoter request.
#[derive(Debug, Clone)]
pub(crate) struct VoterEndpoint {
    pub listener: String,
    pub host: String,
    pub port: u16,
}

impl MetadataQuorum {
    /// AddRaftVoter: promotes observer `voter_id` (directory `directory_id`) to voter.
    /// `listeners` must include this quorum's controller listener (Kafka's default listener).
    pub(crate) async fn add_voter(
        &self,
        voter_id: i32,
        directory_id: Uuid,
        listeners: &[VoterEndpoint],
        timeout_ms: i32,
    ) -> Result<(), VoterChangeError> {
        let _change = self.begin_voter_change()?;
        let id = RaftNodeId::try_from(voter_id).map_err(|_| {
            VoterChangeError::InvalidRequest(format!("{voter_id} is not a valid voter id"))
        })?;
        if directory_id.is_nil() {
            return Err(VoterChangeError::InvalidRequest(format!(
                "Add voter request for {voter_id} didn't include a directory id"
            )));
        }
        let listener = self.controller.as_ref().map(|c| c.listener.clone());
        let endpoint = match &listener {
            Some(listener) => match listeners.iter().find(|l| l.listener == *listener) {
                Some(l) => Some(host_port(&l.host, l.port)),
                None => {
                    return Err(VoterChangeError::InvalidRequest(format!(
                        "Add voter request didn't include the default listener {listener}"
                    )))
                }
            },
            None => None,
        };
        let (committed, voters) = {
            let metrics = self.metrics.borrow();
            let membership = metrics.membership_config.membership();
            let voters: BTreeSet<RaftNodeId> = membership.voter_ids().collect();
            if voters.contains(&id) {
                return Err(VoterChangeError::DuplicateVoter(format!(
                    "The voter id for ReplicaKey(id={voter_id}, directoryId={}) is already part \
                     of the set of voters {voters:?}.",
                    crate::types::kafka_uuid_string(directory_id)
                )));
            }
            let observer = membership
                .nodes()
                .find(|(n, _)| **n == id)
                .and_then(|(_, node)| node.controller.as_ref());
            let joined_at = membership
                .nodes()
                .find(|(n, _)| **n == id)
                .map(|(_, node)| node.addr.clone());
            if endpoint.is_some() && joined_at.is_some() && endpoint != joined_at {
                // the leader replicates to the observer where it joined from, and keeps to it
                tracing::warn!(
                    voter_id,
                    requested = ?endpoint,
                    joined_at = ?joined_at,
                    "AddRaftVoter names another endpoint than the observer joined with; the voter \
                     keeps the one it joined with"
                );
            }
            if observer.is_none_or(|c| c.directory_id != directory_id) {
                return Err(VoterChangeError::TimedOut(format!(
                    "Aborted add voter operation for ReplicaKey(id={voter_id}, directoryId={}): \
                     it is not an observer of the metadata quorum (a controller with \
                     controller.quorum.bootstrap.servers that has joined)",
                    crate::types::kafka_uuid_string(directory_id)
                )));
            }
            (metrics.last_applied.map_or(0, |l| l.index), voters)
        };
        let timeout = timeout_of(timeout_ms);
        self.await_caught_up(id, committed, timeout)
            .await
            .map_err(|()| {
                VoterChangeError::TimedOut(format!(
                    "Aborted add voter operation for {voter_id} since it is lagging behind"
                ))
            })?;
        tracing::info!(voter_id, voters = ?voters, "adding a voter to the metadata quorum");
        self.change_voters(ChangeMembers::AddVoterIds(BTreeSet::from([id])), timeout)
            .await
    }

    /// RemoveRaftVoter: demotes voter `voter_id` (directory `directory_id`) to learner.
    pub(crate) async fn remove_voter(
        &self,
        voter_id: i32,
        directory_id: Uuid,
    ) -> Result<(), VoterChangeError> {
        let _change = self.begin_voter_change()?;
        let key = || {
            format!(
                "ReplicaKey(id={voter_id}, directoryId={})",
                crate::types::kafka_uuid_string(directory_id)
            )
        };
        let id = RaftNodeId::try_from(voter_id).map_err(|_| {
            VoterChangeError::VoterNotFound(format!("Cannot remove voter {}", key()))
        })?;
        {
            let metrics = self.metrics.borrow();
            let membership = metrics.membership_config.membership();
            let voters: BTreeSet<RaftNodeId> = membership.voter_ids().collect();
            let directory = membership
                .nodes()
                .find(|(n, _)| **n == id)
                .and_then(|(_, node)| node.controller.as_ref())
                .map(|c| c.directory_id);
            let found = voters.contains(&id) && directory == Some(directory_id);
            if !found || voters.len() == 1 {
                return Err(VoterChangeError::VoterNotFound(format!(
                    "Cannot remove voter {} from the set of voters {voters:?}",
                    key()
                )));
            }
        }
        tracing::info!(voter_id, "removing a voter from the metadata quorum");
        let timeout = Duration::from_millis(self.options.propose_timeout_ms);
        self.change_voters(ChangeMembers::RemoveVoters(BTreeSet::from([id])), timeout)
            .await
    }

    /// UpdateRaftVoter: voter `voter_id` (directory `directory_id`) is now at `listeners`
    /// and supports kraft.version `kraft_versions` (see the module header);
    /// `leader_epoch` is the epoch the voter knows, `default_listener` the controller
    /// listener's name.
    pub(crate) async fn update_voter(
        &self,
        leader_epoch: i32,
        voter_id: i32,
        directory_id: Uuid,
        listeners: &[VoterEndpoint],
        kraft_versions: (i16, i16),
        default_listener: &str,
    ) -> Result<(), VoterChangeError> {
        let term = i32::try_from(self.metrics.borrow().current_term).unwrap_or(i32::MAX);
        if leader_epoch < term {
            return Err(VoterChangeError::FencedLeaderEpoch(leader_epoch));
        }
        if leader_epoch > term {
            return Err(VoterChangeError::UnknownLeaderEpoch(leader_epoch));
        }
        if !self.is_active_controller() {
            return Err(VoterChangeError::NotLeader);
        }
        if directory_id.is_nil() {
            return Err(VoterChangeError::InvalidRequest(format!(
                "Update voter request for {voter_id} didn't include a directory id"
            )));
        }
        let kraft_version = self.kraft_version();
        let guard = if self.is_dynamic() {
            Some(self.begin_voter_change()?)
        } else {
            None
        };
        let (min, max) = kraft_versions;
        if !(min <= kraft_version && kraft_version <= max) {
            return Err(VoterChangeError::InvalidRequest(format!(
                "Update voter request for {voter_id} supports kraft.version {min}-{max}, not \
                 the quorum's {kraft_version}"
            )));
        }
        let Some(endpoint) = listeners.iter().find(|l| l.listener == default_listener) else {
            return Err(VoterChangeError::InvalidRequest(format!(
                "Update voter request for {voter_id} didn't include the default listener \
                 {default_listener}"
            )));
        };
        let addr = host_port(&endpoint.host, endpoint.port);
        let not_found = || {
            VoterChangeError::VoterNotFound(format!(
                "Cannot update voter ReplicaKey(id={voter_id}, directoryId={}): it is not a voter",
                crate::types::kafka_uuid_string(directory_id)
            ))
        };
        let id = RaftNodeId::try_from(voter_id).map_err(|_| not_found())?;
        if guard.is_none() {
            // static voters: known by id only (Kafka ignores the directory id at kraft.version 0)
            return if self.voters.contains_key(&id) {
                Ok(())
            } else {
                Err(not_found())
            };
        }
        let current = {
            let metrics = self.metrics.borrow();
            let membership = metrics.membership_config.membership();
            let is_voter = membership.voter_ids().any(|v| v == id);
            let node = membership
                .nodes()
                .find(|(n, _)| **n == id)
                .map(|(_, node)| node.clone());
            node.filter(|node| {
                is_voter
                    && node
                        .controller
                        .as_ref()
                        .is_some_and(|c| c.directory_id == directory_id)
            })
        };
        let current = current.ok_or_else(not_found)?;
        if current.addr == addr {
            return Ok(());
        }
        let node = MetadataNode {
            addr,
            controller: current.controller.clone(),
        };
        tracing::info!(voter_id, from = %current, to = %node, "UpdateRaftVoter: updating a voter's endpoint");
        let timeout = Duration::from_millis(self.options.propose_timeout_ms);
        self.change_voters(
            ChangeMembers::SetNodes(std::collections::BTreeMap::from([(id, node)])),
            timeout,
        )
        .await
    }

    /// The checks every voter change starts with; the guard keeps others out until it ends.
    fn begin_voter_change(&self) -> Result<tokio::sync::MutexGuard<'_, ()>, VoterChangeError> {
        if !self.is_active_controller() {
            return Err(VoterChangeError::NotLeader);
        }
        if !self.is_dynamic() {
            return Err(VoterChangeError::StaticQuorum);
        }
        let guard = self.voter_change.try_lock().map_err(|_| {
            VoterChangeError::TimedOut(
                "Request timed out waiting for leader to handle previous add or remove voter \
                 request"
                    .to_string(),
            )
        })?;
        let metrics = self.metrics.borrow();
        let membership = &metrics.membership_config;
        let applied = metrics.last_applied.map_or(0, |l| l.index);
        let entry = membership.log_id().as_ref().map_or(0, |l| l.index);
        if membership.membership().get_joint_config().len() > 1 || entry > applied {
            return Err(VoterChangeError::TimedOut(format!(
                "Request timed out waiting for voters to commit the latest voter change at \
                 {entry} with HWM {}",
                applied + 1
            )));
        }
        drop(metrics);
        Ok(guard)
    }

    /// Waits (at most `timeout`) until the leader has replicated up to `index` to `id`.
    async fn await_caught_up(
        &self,
        id: RaftNodeId,
        index: u64,
        timeout: Duration,
    ) -> Result<(), ()> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut metrics = self.metrics.clone();
        loop {
            let matched = metrics
                .borrow_and_update()
                .replication
                .as_ref()
                .and_then(|r| r.get(&id).copied().flatten())
                .map(|l| l.index);
            if matched.is_some_and(|m| m >= index) {
                return Ok(());
            }
            let woken = tokio::time::timeout_at(deadline, async {
                tokio::select! {
                    _ = metrics.changed() => {}
                    _ = tokio::time::sleep(Duration::from_millis(CATCH_UP_POLL_MS)) => {}
                }
            })
            .await;
            if woken.is_err() {
                return Err(());
            }
        }
    }

    /// Commits one membership change (joint, then uniform), bounded by `timeout`.
    async fn change_voters(
        &self,
        change: ChangeMembers<RaftNodeId, MetadataNode>,
        timeout: Duration,
    ) -> Result<(), VoterChangeError> {
        let changed = tokio::time::timeout(timeout, self.raft.change_membership(change, true))
            .await
            .map_err(|_| {
                VoterChangeError::TimedOut(format!(
                    "the voter change did not commit within {} ms",
                    timeout.as_millis()
                ))
            })?;
        match changed {
            Ok(_) => Ok(()),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => {
                Err(VoterChangeError::NotLeader)
            }
            Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(
                ChangeMembershipError::InProgress(e),
            ))) => Err(VoterChangeError::TimedOut(format!(
                "Request timed out waiting for voters to commit the latest voter change: {e}"
            ))),
            Err(e) => Err(VoterChangeError::Raft(e.to_string())),
        }
    }
}

/// `host:port`, with an IPv6 host in brackets (as membership addresses are written).
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn timeout_of(timeout_ms: i32) -> Duration {
    let ms = u64::try_from(timeout_ms)
        .ok()
        .filter(|ms| *ms > 0)
        .unwrap_or(VOTER_CHANGE_TIMEOUT_DEFAULT_MS);
    Duration::from_millis(ms)
}
