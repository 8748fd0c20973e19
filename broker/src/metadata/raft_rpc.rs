//! The metadata quorum's RPCs on the wire: openraft's Vote, AppendEntries and
//! InstallSnapshot as Ironlog-private API keys inside Kafka request framing (request header
//! v1, response header v0, as Kafka frames non-flexible APIs), with JSON bodies of
//! openraft's serde types. They are served on the controller listener; a broker-only node
//! (a raft learner) serves AppendEntries and InstallSnapshot from the voters on its
//! inter-broker listener, the one address it has; elsewhere, and to Kafka clients, they are
//! unknown API keys.
//!
//! JoinAsLearner (Ironlog-private too) is a learner's request to a voter's controller
//! listener — a broker-only node's, or an observer controller's of a dynamic quorum (KIP-853,
//! which names its controller listener and directory id): the leader adds it to the
//! membership as a learner (or updates its entry), so that the log is replicated to it
//! without it voting (until AddRaftVoter promotes a controller); any other voter answers
//! with the leader it knows and where that leader is. A dynamic quorum's voter sends it too
//! when it restarts at another endpoint (the role of Kafka's UpdateRaftVoter): under the
//! directory id the membership has for it, the leader updates its entry.
//!
//! A controller under a voter's node id but another directory id (the voter's data dir was
//! replaced: Kafka's replica key is id + directory id) is not that voter: the leader asks it
//! to retry, and lists it as an observer, until the old voter is removed; then it joins as
//! any observer does.
//!
//! Every request names the sender's node id and cluster id, and in a dynamic quorum the
//! directory id the sender has for the receiver; a receiver that knows another cluster id
//! answers INCONSISTENT_CLUSTER_ID, one with another directory id INVALID_VOTER_KEY, without
//! touching raft (see [`super::identity`]).

use bytes::Bytes;
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use openraft::Raft;
use serde::{Deserialize, Serialize};

use super::identity::{QuorumIdentity, INCONSISTENT_CLUSTER_ID, INVALID_VOTER_KEY};
use super::store::{ControllerNode, MetadataNode, MetadataRaftConfig, RaftNodeId};

/// Ironlog-private API keys, far above Kafka's (which stop below 100).
pub(crate) const RAFT_VOTE_API_KEY: i16 = 32_001;
pub(crate) const RAFT_APPEND_ENTRIES_API_KEY: i16 = 32_002;
pub(crate) const RAFT_INSTALL_SNAPSHOT_API_KEY: i16 = 32_003;
pub(crate) const RAFT_JOIN_AS_LEARNER_API_KEY: i16 = 32_004;
/// The one version of each.
pub(crate) const RAFT_RPC_VERSION: i16 = 0;

pub(crate) fn is_raft_api_key(api_key: i16) -> bool {
    matches!(
        api_key,
        RAFT_VOTE_API_KEY
            | RAFT_APPEND_ENTRIES_API_KEY
            | RAFT_INSTALL_SNAPSHOT_API_KEY
            | RAFT_JOIN_AS_LEARNER_API_KEY
    )
}

/// The raft RPCs a learner serves (from the leader, which replicates to it).
pub(crate) fn is_learner_api_key(api_key: i16) -> bool {
    matches!(
        api_key,
        RAFT_APPEND_ENTRIES_API_KEY | RAFT_INSTALL_SNAPSHOT_API_KEY
    )
}

/// A node asks to follow the metadata log: `address` (`host:port` of a broker-only node's
/// inter-broker listener, of a controller's controller listener) is where the leader
/// replicates to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct JoinAsLearnerRequest {
    pub address: String,
    /// Set by a controller of a dynamic quorum (an observer until it is added as a voter).
    #[serde(default)]
    pub controller: Option<ControllerNode>,
}

/// The answer to [`JoinAsLearnerRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum JoinAsLearnerResponse {
    /// The membership names the sender as a learner at its address (now or already).
    Joined,
    /// This voter does not lead; the leader it knows, if any, and its controller listener.
    NotLeader {
        leader: Option<i32>,
        #[serde(default)]
        leader_address: Option<String>,
    },
    /// Refused for good (a voter id, or an id that is not a node id).
    Refused { reason: String },
    /// Not now (another membership change is being committed); ask again.
    Retry { reason: String },
}

/// A raft request with its sender.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RaftRpcRequest<T> {
    /// The sender's cluster id; `None` for a fresh node that does not know it yet.
    pub cluster_id: Option<String>,
    pub sender_node_id: i32,
    /// The directory id the sender has for the receiving controller (a dynamic quorum's
    /// membership entry): the receiver refuses a request for another replica key with
    /// INVALID_VOTER_KEY, as Kafka's voters do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_directory_id: Option<uuid::Uuid>,
    pub body: T,
}

impl<T> RaftRpcRequest<T> {
    /// The sender (cluster id and node id) apart from the raft body.
    fn split(self) -> (RaftRpcRequest<()>, T) {
        let RaftRpcRequest {
            cluster_id,
            sender_node_id,
            target_directory_id,
            body,
        } = self;
        let sender = RaftRpcRequest {
            cluster_id,
            sender_node_id,
            target_directory_id,
            body: (),
        };
        (sender, body)
    }
}

/// A raft response: Kafka's error code (0 or INCONSISTENT_CLUSTER_ID), the receiver's
/// cluster id, and openraft's answer when the request reached raft.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RaftRpcResponse<T> {
    pub error_code: i16,
    pub cluster_id: Option<String>,
    pub body: Option<T>,
}

/// Why a raft request could not be served (the connection is closed).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RaftRpcError {
    #[error("undecodable raft request (API key {api_key}): {reason}")]
    Undecodable { api_key: i16, reason: String },
    #[error("cannot encode the raft response: {0}")]
    Unencodable(String),
    #[error("unknown raft API key {0}")]
    UnknownKey(i16),
    #[error("raft API key {api_key} from node {sender}, which is not a voter (a learner serves only the voters' replication)")]
    NotFromVoter { api_key: i16, sender: i32 },
}

/// Serves one raft request body; returns the response body. `learner`: this is a learner's
/// listener, which serves only AppendEntries and InstallSnapshot from a voter.
pub(crate) async fn serve(
    raft: &Raft<MetadataRaftConfig>,
    identity: &QuorumIdentity,
    api_key: i16,
    body: &[u8],
    learner: bool,
) -> Result<Bytes, RaftRpcError> {
    if learner {
        if !is_learner_api_key(api_key) {
            return Err(RaftRpcError::UnknownKey(api_key));
        }
        #[derive(Deserialize)]
        struct Sender {
            sender_node_id: i32,
        }
        let sender = decode::<Sender>(api_key, body)?.sender_node_id;
        if !identity.is_voter(sender) && !is_dynamic_voter(raft, sender) {
            return Err(RaftRpcError::NotFromVoter { api_key, sender });
        }
    }
    match api_key {
        RAFT_VOTE_API_KEY => {
            let (sender, body) =
                decode::<RaftRpcRequest<VoteRequest<RaftNodeId>>>(api_key, body)?.split();
            respond(identity, &sender, || raft.vote(body)).await
        }
        RAFT_APPEND_ENTRIES_API_KEY => {
            let (sender, body) =
                decode::<RaftRpcRequest<AppendEntriesRequest<MetadataRaftConfig>>>(api_key, body)?
                    .split();
            respond(identity, &sender, || raft.append_entries(body)).await
        }
        RAFT_INSTALL_SNAPSHOT_API_KEY => {
            let (sender, body) = decode::<
                RaftRpcRequest<InstallSnapshotRequest<MetadataRaftConfig>>,
            >(api_key, body)?
            .split();
            respond(identity, &sender, || raft.install_snapshot(body)).await
        }
        RAFT_JOIN_AS_LEARNER_API_KEY => {
            let (sender, body) =
                decode::<RaftRpcRequest<JoinAsLearnerRequest>>(api_key, body)?.split();
            let learner = sender.sender_node_id;
            respond(identity, &sender, || {
                join_as_learner(raft, identity, learner, body)
            })
            .await
        }
        other => Err(RaftRpcError::UnknownKey(other)),
    }
}

/// Whether `sender` may replicate to this learner in a dynamic quorum: a voter of the
/// membership it has, or anyone while it has none yet (a fresh learner learns the voters
/// from the first AppendEntries; the cluster id check still applies).
fn is_dynamic_voter(raft: &Raft<MetadataRaftConfig>, sender: i32) -> bool {
    let Ok(sender) = RaftNodeId::try_from(sender) else {
        return false;
    };
    let metrics = raft.metrics();
    let m = metrics.borrow();
    let mut voters = m.membership_config.membership().voter_ids().peekable();
    voters.peek().is_none() || voters.any(|v| v == sender)
}

/// On the leader: `learner` joins the membership as a learner at `request.address` — a
/// membership entry only when it is new there or its entry changed.
async fn join_as_learner(
    raft: &Raft<MetadataRaftConfig>,
    identity: &QuorumIdentity,
    learner: i32,
    request: JoinAsLearnerRequest,
) -> JoinAsLearnerResponse {
    let Ok(id) = RaftNodeId::try_from(learner) else {
        return JoinAsLearnerResponse::Refused {
            reason: format!("{learner} is not a node id"),
        };
    };
    let node = MetadataNode {
        addr: request.address,
        controller: request.controller,
    };
    // (the leader this node knows and where, whether `learner` votes, and — only when this
    // node leads — the entry the membership has for `learner`)
    let (leader, leader_address, is_voter, leading) = {
        let metrics = raft.metrics();
        let m = metrics.borrow();
        let membership = m.membership_config.membership();
        let is_voter = membership.voter_ids().any(|v| v == id);
        let leads = m.state == openraft::ServerState::Leader && m.current_leader == Some(m.id);
        let known = membership
            .nodes()
            .find(|(n, _)| **n == id)
            .map(|(_, node)| node.clone());
        let leader_address = m.current_leader.and_then(|l| {
            membership
                .nodes()
                .find(|(n, _)| **n == l)
                .map(|(_, node)| node.addr.clone())
                .filter(|a| !a.is_empty())
        });
        (
            m.current_leader.and_then(|l| i32::try_from(l).ok()),
            leader_address,
            is_voter,
            leads.then_some(known),
        )
    };
    // A dynamic quorum's voter under its directory id may only update its endpoint (what
    // Kafka's voters send UpdateRaftVoter for); any other voter id is refused.
    let updates_endpoint = is_voter
        && node.controller.as_ref().is_some_and(|c| {
            leading.as_ref().is_none_or(|known| {
                known
                    .as_ref()
                    .and_then(|k| k.controller.as_ref())
                    .is_some_and(|k| k.directory_id == c.directory_id)
            })
        });
    if is_voter && !updates_endpoint {
        if let (Some(controller), Some(_)) = (node.controller.as_ref(), leading.as_ref()) {
            // Kafka's replica key is id + directory id: a controller under a voter's id
            // with another directory (its data dir was replaced) is an observer, never that
            // voter; it may join once the old voter is removed.
            identity.note_replacing_observer(learner, controller.directory_id);
            return JoinAsLearnerResponse::Retry {
                reason: format!(
                    "node {learner} is a voter of the metadata quorum under directory id \
                     {}, not {}: it stays an observer until that voter is removed",
                    known_directory(leading.as_ref())
                        .map_or_else(|| "(none)".to_string(), crate::types::kafka_uuid_string),
                    crate::types::kafka_uuid_string(controller.directory_id)
                ),
            };
        }
        return JoinAsLearnerResponse::Refused {
            reason: format!("node {learner} is a voter of the metadata quorum, not a learner"),
        };
    }
    if leading.is_some() {
        identity.forget_replacing_observer(learner);
    }
    let Some(known) = leading else {
        return JoinAsLearnerResponse::NotLeader {
            leader,
            leader_address,
        };
    };
    if known.as_ref() == Some(&node) {
        return JoinAsLearnerResponse::Joined;
    }
    if is_voter {
        tracing::info!(node_id = learner, node = %node, "updating a voter's endpoint");
    } else {
        tracing::info!(
            node_id = learner,
            node = %node,
            "adding a node to the metadata quorum as a learner"
        );
    }
    let change = openraft::ChangeMembers::SetNodes(std::collections::BTreeMap::from([(id, node)]));
    match raft.change_membership(change, true).await {
        Ok(_) => JoinAsLearnerResponse::Joined,
        Err(openraft::error::RaftError::APIError(
            openraft::error::ClientWriteError::ForwardToLeader(forward),
        )) => JoinAsLearnerResponse::NotLeader {
            leader: forward.leader_id.and_then(|l| i32::try_from(l).ok()),
            leader_address: forward
                .leader_node
                .map(|n| n.addr)
                .filter(|a| !a.is_empty()),
        },
        Err(e) => JoinAsLearnerResponse::Retry {
            reason: e.to_string(),
        },
    }
}

/// The directory id of a membership entry (none for a static voter or a broker).
fn known_directory(known: Option<&Option<MetadataNode>>) -> Option<uuid::Uuid> {
    known
        .and_then(|k| k.as_ref())
        .and_then(|k| k.controller.as_ref())
        .map(|c| c.directory_id)
}

fn decode<T: for<'de> Deserialize<'de>>(api_key: i16, body: &[u8]) -> Result<T, RaftRpcError> {
    serde_json::from_slice(body).map_err(|e| RaftRpcError::Undecodable {
        api_key,
        reason: e.to_string(),
    })
}

async fn respond<B, T: Serialize, F: std::future::Future<Output = T>>(
    identity: &QuorumIdentity,
    request: &RaftRpcRequest<B>,
    call: impl FnOnce() -> F,
) -> Result<Bytes, RaftRpcError> {
    let response = match identity.check_peer(request.sender_node_id, request.cluster_id.as_deref())
    {
        Err(ours) => RaftRpcResponse {
            error_code: INCONSISTENT_CLUSTER_ID,
            cluster_id: Some(ours),
            body: None,
        },
        Ok(()) if !identity.is_target(request.target_directory_id) => {
            tracing::debug!(
                sender = request.sender_node_id,
                "a raft request for another directory id of this node id: refused"
            );
            RaftRpcResponse {
                error_code: INVALID_VOTER_KEY,
                cluster_id: identity.cluster_id(),
                body: None,
            }
        }
        Ok(()) => RaftRpcResponse {
            error_code: 0,
            cluster_id: identity.cluster_id(),
            body: Some(call().await),
        },
    };
    serde_json::to_vec(&response)
        .map(Bytes::from)
        .map_err(|e| RaftRpcError::Unencodable(e.to_string()))
}
