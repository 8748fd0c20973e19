//! The raft network: openraft's RPCs to peer controllers (node id = Kafka `node.id`, address
//! = the node's `host:port` in its [`MetadataNode`]) over the protocol crate's [`Connection`],
//! framed as [`super::raft_rpc`] describes.
//!
//! Bounds: one connection per peer, opened on use with the connect timeout, every request
//! with openraft's time to live; a failed connection is dropped and the peer reported
//! unreachable, so openraft backs off ([`PeerNetwork::backoff`]: 50 ms doubling to 1 s)
//! before it tries again. Nothing queues here: openraft has at most one replication
//! request in flight per peer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ironlog_protocol::{Connection, ConnectionConfig, Connector, RawRequest};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};

use super::identity::{QuorumIdentity, INCONSISTENT_CLUSTER_ID, INVALID_VOTER_KEY};
use super::raft_rpc::{
    JoinAsLearnerRequest, JoinAsLearnerResponse, RaftRpcRequest, RaftRpcResponse,
    RAFT_APPEND_ENTRIES_API_KEY, RAFT_INSTALL_SNAPSHOT_API_KEY, RAFT_JOIN_AS_LEARNER_API_KEY,
    RAFT_RPC_VERSION, RAFT_VOTE_API_KEY,
};
use super::store::{MetadataNode, MetadataRaftConfig, RaftNodeId};
use crate::security::NodeConnectors;

/// Longest wait for a TCP connection to a peer controller.
const PEER_CONNECT_TIMEOUT_MS: u64 = 1_000;
/// Largest raft response accepted (snapshot chunks are far smaller).
const PEER_FRAME_BYTES_MAX: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
enum PeerError {
    #[error("metadata quorum peer {peer} at {addr}: {reason}")]
    Transport {
        peer: RaftNodeId,
        addr: String,
        reason: String,
    },
    #[error(
        "metadata quorum peer {peer} refused this node: it has cluster id {theirs:?}, this node {ours:?} (INCONSISTENT_CLUSTER_ID)"
    )]
    InconsistentClusterId {
        peer: RaftNodeId,
        theirs: Option<String>,
        ours: Option<String>,
    },
    #[error("metadata quorum peer {peer} answered without a body")]
    EmptyResponse { peer: RaftNodeId },
}

/// Hands openraft one [`PeerNetwork`] per peer.
#[derive(Debug, Clone)]
pub(crate) struct PeerNetworkFactory {
    identity: Arc<QuorumIdentity>,
    /// `controller.quorum.voters`: a static quorum's configuration is where its voters
    /// are, whatever addresses the stored membership remembers.
    configured: BTreeMap<RaftNodeId, String>,
    /// Voters and the controllers of a dynamic quorum are reached on their controller
    /// listener, broker-only nodes on their inter-broker listener, each with that
    /// listener's security.
    connectors: NodeConnectors,
}

impl PeerNetworkFactory {
    pub(crate) fn new(
        identity: Arc<QuorumIdentity>,
        configured: BTreeMap<RaftNodeId, String>,
        connectors: NodeConnectors,
    ) -> Self {
        Self {
            identity,
            configured,
            connectors,
        }
    }
}

pub(crate) struct PeerNetwork {
    target: RaftNodeId,
    /// The target's directory id in a dynamic quorum's membership (sent with every request).
    target_directory_id: Option<uuid::Uuid>,
    addr: String,
    identity: Arc<QuorumIdentity>,
    connector: Arc<dyn Connector>,
    connection: Option<Connection>,
    /// Whether the last exchange went through (a change is logged once, not every retry).
    reachable: Option<bool>,
}

impl RaftNetworkFactory<MetadataRaftConfig> for PeerNetworkFactory {
    type Network = PeerNetwork;

    async fn new_client(&mut self, target: RaftNodeId, node: &MetadataNode) -> Self::Network {
        let (addr, connector) = match self.configured.get(&target) {
            Some(addr) => (addr.clone(), Arc::clone(&self.connectors.controller)),
            // a controller of a dynamic quorum, voter or observer
            None if node.controller.is_some() => {
                (node.addr.clone(), Arc::clone(&self.connectors.controller))
            }
            None => (node.addr.clone(), Arc::clone(&self.connectors.inter_broker)),
        };
        PeerNetwork {
            target,
            target_directory_id: node.controller.as_ref().map(|c| c.directory_id),
            addr,
            identity: Arc::clone(&self.identity),
            connector,
            connection: None,
            reachable: None,
        }
    }
}

/// How one call failed, before it is shaped into openraft's error of that RPC.
enum CallError {
    Unreachable(PeerError),
    Network(PeerError),
}

impl PeerNetwork {
    fn transport(&self, reason: impl std::fmt::Display) -> PeerError {
        PeerError::Transport {
            peer: self.target,
            addr: self.addr.clone(),
            reason: reason.to_string(),
        }
    }

    async fn connection(&mut self, timeout: Duration) -> Result<Connection, CallError> {
        if let Some(connection) = &self.connection {
            if connection.is_open() {
                return Ok(connection.clone());
            }
        }
        self.connection = None;
        if self.addr.is_empty() {
            return Err(CallError::Unreachable(
                self.transport("no address known for this voter"),
            ));
        }
        let config = ConnectionConfig {
            client_id: Some(format!("ironlog-raft-{}", self.identity.node_id())),
            connect_timeout: timeout.min(Duration::from_millis(PEER_CONNECT_TIMEOUT_MS)),
            request_timeout: timeout,
            max_in_flight: 2,
            max_frame_bytes: PEER_FRAME_BYTES_MAX,
            connector: Arc::clone(&self.connector),
            ..ConnectionConfig::default()
        };
        let connection = Connection::connect(&self.addr, config)
            .await
            .map_err(|e| CallError::Unreachable(self.transport(e)))?;
        self.connection = Some(connection.clone());
        Ok(connection)
    }

    /// One request/response exchange with the peer.
    async fn call<Req: Serialize, Resp: for<'de> Deserialize<'de>>(
        &mut self,
        api_key: i16,
        body: Req,
        option: &RPCOption,
    ) -> Result<Resp, CallError> {
        let timeout = option.hard_ttl();
        let request = RaftRpcRequest {
            cluster_id: self.identity.cluster_id(),
            sender_node_id: self.identity.node_id(),
            target_directory_id: self.target_directory_id,
            body,
        };
        let encoded = serde_json::to_vec(&request)
            .map_err(|e| CallError::Network(self.transport(format!("encoding: {e}"))))?;
        let connection = self.connection(timeout).await?;
        let response = connection
            .send_raw(
                RawRequest {
                    api_key,
                    api_version: RAFT_RPC_VERSION,
                    body: Bytes::from(encoded),
                    expect_response: true,
                },
                Some(timeout),
            )
            .await;
        let response = match response {
            Ok(Some(response)) => response,
            Ok(None) => return Err(CallError::Network(self.transport("no response"))),
            Err(e) => {
                self.connection = None;
                return Err(CallError::Unreachable(self.transport(e)));
            }
        };
        let decoded: RaftRpcResponse<Resp> = serde_json::from_slice(&response.body)
            .map_err(|e| CallError::Network(self.transport(format!("decoding: {e}"))))?;
        let peer = i32::try_from(self.target).ok();
        if decoded.error_code == INCONSISTENT_CLUSTER_ID {
            if let Some(peer) = peer {
                self.identity
                    .refused_by(peer, decoded.cluster_id.as_deref());
            }
            return Err(CallError::Unreachable(PeerError::InconsistentClusterId {
                peer: self.target,
                theirs: decoded.cluster_id,
                ours: self.identity.cluster_id(),
            }));
        }
        if decoded.error_code == INVALID_VOTER_KEY {
            // the node at that address is another replica of this node id (its data dir was
            // replaced): not the voter the membership names
            return Err(CallError::Unreachable(self.transport(
                "INVALID_VOTER_KEY: the node there has another directory id",
            )));
        }
        if let Some(peer) = peer {
            self.identity.clear(peer);
        }
        decoded
            .body
            .ok_or(CallError::Network(PeerError::EmptyResponse {
                peer: self.target,
            }))
    }

    #[allow(clippy::result_large_err)] // openraft's own error type, returned as is
    fn shape<T, E: std::error::Error>(
        &mut self,
        outcome: Result<Result<T, E>, CallError>,
    ) -> Result<T, RPCError<RaftNodeId, MetadataNode, E>> {
        let reachable = !matches!(outcome, Err(CallError::Unreachable(_)));
        if self.reachable != Some(reachable) {
            if reachable {
                tracing::info!(peer = self.target, addr = %self.addr, "metadata quorum peer reachable");
            } else if let Err(CallError::Unreachable(e)) = &outcome {
                tracing::warn!(error = %e, "metadata quorum peer unreachable; retrying with backoff");
            }
            self.reachable = Some(reachable);
        }
        match outcome {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(remote)) => Err(RPCError::RemoteError(RemoteError::new(self.target, remote))),
            Err(CallError::Unreachable(e)) => {
                tracing::debug!(error = %e, "metadata quorum peer unreachable");
                Err(RPCError::Unreachable(Unreachable::new(&e)))
            }
            Err(CallError::Network(e)) => {
                tracing::warn!(error = %e, "metadata quorum RPC failed");
                Err(RPCError::Network(NetworkError::new(&e)))
            }
        }
    }
}

/// The peer id of a request to an address whose node id is not known (one of
/// `controller.quorum.bootstrap.servers`): no contact or conflict is recorded for it.
pub(crate) const UNKNOWN_PEER: RaftNodeId = RaftNodeId::MAX;

/// A learner's JoinAsLearner to voter `voter` ([`UNKNOWN_PEER`] for a bootstrap server) at
/// `voter_addr` (its controller listener): one exchange on a fresh connection, bounded by
/// `timeout`. `Err` says why it did not go through (unreachable, or refused for another
/// cluster id).
pub(crate) async fn join_as_learner(
    identity: &Arc<QuorumIdentity>,
    connector: &Arc<dyn Connector>,
    voter: RaftNodeId,
    voter_addr: &str,
    request: JoinAsLearnerRequest,
    timeout: Duration,
) -> Result<JoinAsLearnerResponse, String> {
    let mut peer = PeerNetwork {
        target: voter,
        target_directory_id: None,
        addr: voter_addr.to_owned(),
        identity: Arc::clone(identity),
        connector: Arc::clone(connector),
        connection: None,
        reachable: None,
    };
    let outcome = peer
        .call(
            RAFT_JOIN_AS_LEARNER_API_KEY,
            request,
            &RPCOption::new(timeout),
        )
        .await;
    if let Some(connection) = peer.connection.take() {
        connection.close();
    }
    outcome.map_err(|e| match e {
        CallError::Unreachable(e) | CallError::Network(e) => e.to_string(),
    })
}

impl RaftNetwork<MetadataRaftConfig> for PeerNetwork {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<MetadataRaftConfig>,
        option: RPCOption,
    ) -> Result<
        AppendEntriesResponse<RaftNodeId>,
        RPCError<RaftNodeId, MetadataNode, RaftError<RaftNodeId>>,
    > {
        let outcome = self.call(RAFT_APPEND_ENTRIES_API_KEY, rpc, &option).await;
        self.shape(outcome)
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<MetadataRaftConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<RaftNodeId>,
        RPCError<RaftNodeId, MetadataNode, RaftError<RaftNodeId, InstallSnapshotError>>,
    > {
        let outcome = self.call(RAFT_INSTALL_SNAPSHOT_API_KEY, rpc, &option).await;
        self.shape(outcome)
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<RaftNodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<RaftNodeId>, RPCError<RaftNodeId, MetadataNode, RaftError<RaftNodeId>>>
    {
        let outcome = self.call(RAFT_VOTE_API_KEY, rpc, &option).await;
        self.shape(outcome)
    }

    fn backoff(&self) -> Backoff {
        Backoff::new((0..).map(|attempt: u32| {
            Duration::from_millis(50u64.saturating_mul(1 << attempt.min(5)).min(1_000))
        }))
    }
}
