//! The raft network seam. A single-node quorum never sends an RPC, so every peer is
//! unreachable for now.
//!
//! The multi-broker issue replaces [`UnreachableNetworkFactory`] with a factory that speaks to
//! peer controllers (node id = Kafka `node.id`, address from the voter's [`BasicNode`]); the
//! log store, state machine and [`super::MetadataQuorum`] stay as they are.

use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;

use super::store::{MetadataRaftConfig, RaftNodeId};

#[derive(Debug, thiserror::Error)]
#[error("metadata quorum peer {target} is unreachable: no inter-controller network in this build")]
pub(crate) struct NoPeerNetwork {
    target: RaftNodeId,
}

/// Hands out clients that fail every RPC with `Unreachable`.
#[derive(Debug, Clone, Default)]
pub(crate) struct UnreachableNetworkFactory;

pub(crate) struct UnreachableNetwork {
    target: RaftNodeId,
}

impl UnreachableNetwork {
    fn unreachable<E: std::error::Error>(&self) -> RPCError<RaftNodeId, BasicNode, E> {
        tracing::debug!(
            target_node = self.target,
            "metadata raft RPC to a peer: no network, unreachable"
        );
        RPCError::Unreachable(Unreachable::new(&NoPeerNetwork {
            target: self.target,
        }))
    }
}

impl RaftNetworkFactory<MetadataRaftConfig> for UnreachableNetworkFactory {
    type Network = UnreachableNetwork;

    async fn new_client(&mut self, target: RaftNodeId, _node: &BasicNode) -> Self::Network {
        UnreachableNetwork { target }
    }
}

impl RaftNetwork<MetadataRaftConfig> for UnreachableNetwork {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<MetadataRaftConfig>,
        _option: RPCOption,
    ) -> Result<
        AppendEntriesResponse<RaftNodeId>,
        RPCError<RaftNodeId, BasicNode, RaftError<RaftNodeId>>,
    > {
        Err(self.unreachable())
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<MetadataRaftConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<RaftNodeId>,
        RPCError<RaftNodeId, BasicNode, RaftError<RaftNodeId, InstallSnapshotError>>,
    > {
        Err(self.unreachable())
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<RaftNodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<RaftNodeId>, RPCError<RaftNodeId, BasicNode, RaftError<RaftNodeId>>>
    {
        Err(self.unreachable())
    }
}
