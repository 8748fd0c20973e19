//! The metadata quorum's RPCs on the wire: openraft's Vote, AppendEntries and
//! InstallSnapshot as Ironlog-private API keys inside Kafka request framing (request header
//! v1, response header v0, as Kafka frames non-flexible APIs), with JSON bodies of
//! openraft's serde types. They are served only on the controller listener; on any other
//! listener, and to Kafka clients, they are unknown API keys.
//!
//! Every request names the sender's node id and cluster id; a receiver that knows another
//! cluster id answers INCONSISTENT_CLUSTER_ID without touching raft (see
//! [`super::identity`]).

use bytes::Bytes;
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use openraft::Raft;
use serde::{Deserialize, Serialize};

use super::identity::{QuorumIdentity, INCONSISTENT_CLUSTER_ID};
use super::store::{MetadataRaftConfig, RaftNodeId};

/// Ironlog-private API keys, far above Kafka's (which stop below 100).
pub(crate) const RAFT_VOTE_API_KEY: i16 = 32_001;
pub(crate) const RAFT_APPEND_ENTRIES_API_KEY: i16 = 32_002;
pub(crate) const RAFT_INSTALL_SNAPSHOT_API_KEY: i16 = 32_003;
/// The one version of each.
pub(crate) const RAFT_RPC_VERSION: i16 = 0;

pub(crate) fn is_raft_api_key(api_key: i16) -> bool {
    matches!(
        api_key,
        RAFT_VOTE_API_KEY | RAFT_APPEND_ENTRIES_API_KEY | RAFT_INSTALL_SNAPSHOT_API_KEY
    )
}

/// A raft request with its sender.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RaftRpcRequest<T> {
    /// The sender's cluster id; `None` for a fresh node that does not know it yet.
    pub cluster_id: Option<String>,
    pub sender_node_id: i32,
    pub body: T,
}

impl<T> RaftRpcRequest<T> {
    /// The sender (cluster id and node id) apart from the raft body.
    fn split(self) -> (RaftRpcRequest<()>, T) {
        let RaftRpcRequest {
            cluster_id,
            sender_node_id,
            body,
        } = self;
        let sender = RaftRpcRequest {
            cluster_id,
            sender_node_id,
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
}

/// Serves one raft request body; returns the response body.
pub(crate) async fn serve(
    raft: &Raft<MetadataRaftConfig>,
    identity: &QuorumIdentity,
    api_key: i16,
    body: &[u8],
) -> Result<Bytes, RaftRpcError> {
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
        other => Err(RaftRpcError::UnknownKey(other)),
    }
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
