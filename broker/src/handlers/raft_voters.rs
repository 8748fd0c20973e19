//! AddRaftVoter (API 80) and RemoveRaftVoter (API 81): changing a dynamic metadata
//! quorum's voters (KIP-853), as `kafka-metadata-quorum add-controller` and
//! `remove-controller` ask. Served on the controller listener (Kafka's `ControllerApis`),
//! and on a broker's listeners by forwarding to the active controller, as Kafka's brokers
//! do. Both need ALTER on the cluster; the rules and their errors are
//! `metadata::quorum::voter_changes`'. UpdateRaftVoter (API 82), a voter telling its
//! leader its endpoint and supported kraft.version, only on the controller listener (as in
//! Kafka) and with CLUSTER_ACTION on the cluster; its answer names the leader and its
//! endpoint on that listener. (Ironlog's own voters tell their leader through
//! JoinAsLearner, `metadata::raft_rpc`; API 82 is there for Kafka's.)

use kafka_protocol::messages::update_raft_voter_response::CurrentLeader;
use kafka_protocol::messages::{
    AddRaftVoterRequest, AddRaftVoterResponse, BrokerId, RemoveRaftVoterRequest,
    RemoveRaftVoterResponse, UpdateRaftVoterRequest, UpdateRaftVoterResponse,
};

use super::str_bytes;
use crate::error::ResponseError;
use crate::metadata::quorum::{VoterChangeError, VoterEndpoint};
use crate::metadata::MetadataQuorum;

/// The request's cluster id, when it names one, must be this cluster's.
fn cluster_id_error(quorum: &MetadataQuorum, theirs: Option<&str>) -> Option<String> {
    let ours = quorum.cluster_id()?;
    let theirs = theirs?;
    (theirs != ours).then(|| format!("cluster id {theirs} is not this cluster's ({ours})"))
}

/// What every voter change checks first, in Kafka's order: the principal may ask, and the
/// request is for this cluster. The refusal's error and message otherwise.
fn admit(
    quorum: &MetadataQuorum,
    authorized: bool,
    cluster_id: Option<&str>,
) -> Result<(), (ResponseError, Option<String>)> {
    if !authorized {
        return Err((ResponseError::ClusterAuthorizationFailed, None));
    }
    match cluster_id_error(quorum, cluster_id) {
        Some(message) => Err((ResponseError::InconsistentClusterId, Some(message))),
        None => Ok(()),
    }
}

/// A request's listener as the quorum keeps it.
fn endpoint(name: &str, host: &str, port: u16) -> VoterEndpoint {
    VoterEndpoint {
        listener: name.to_string(),
        host: host.to_string(),
        port,
    }
}

pub(crate) async fn handle_add(
    quorum: &MetadataQuorum,
    authorized: bool,
    request: AddRaftVoterRequest,
) -> AddRaftVoterResponse {
    let refuse = |code: ResponseError, message: Option<String>| {
        AddRaftVoterResponse::default()
            .with_error_code(code.code())
            .with_error_message(message.as_deref().map(str_bytes))
    };
    if let Err((code, message)) = admit(quorum, authorized, request.cluster_id.as_deref()) {
        return refuse(code, message);
    }
    let listeners: Vec<VoterEndpoint> = request
        .listeners
        .iter()
        .map(|l| endpoint(&l.name, &l.host, l.port))
        .collect();
    let outcome = quorum
        .add_voter(
            request.voter_id,
            request.voter_directory_id,
            &listeners,
            request.timeout_ms,
        )
        .await;
    match outcome {
        Ok(()) => AddRaftVoterResponse::default(),
        Err(e) => {
            log_refusal("AddRaftVoter", request.voter_id, &e);
            refuse(e.response_error(), Some(e.to_string()))
        }
    }
}

pub(crate) async fn handle_remove(
    quorum: &MetadataQuorum,
    authorized: bool,
    request: RemoveRaftVoterRequest,
) -> RemoveRaftVoterResponse {
    let refuse = |code: ResponseError, message: Option<String>| {
        RemoveRaftVoterResponse::default()
            .with_error_code(code.code())
            .with_error_message(message.as_deref().map(str_bytes))
    };
    if let Err((code, message)) = admit(quorum, authorized, request.cluster_id.as_deref()) {
        return refuse(code, message);
    }
    match quorum
        .remove_voter(request.voter_id, request.voter_directory_id)
        .await
    {
        Ok(()) => RemoveRaftVoterResponse::default(),
        Err(e) => {
            log_refusal("RemoveRaftVoter", request.voter_id, &e);
            refuse(e.response_error(), Some(e.to_string()))
        }
    }
}

pub(crate) async fn handle_update(
    quorum: &MetadataQuorum,
    authorized: bool,
    controller_listener: &str,
    request: UpdateRaftVoterRequest,
) -> UpdateRaftVoterResponse {
    let code: i16 = if let Err((code, _)) = admit(quorum, authorized, request.cluster_id.as_deref())
    {
        code.code()
    } else {
        let listeners: Vec<VoterEndpoint> = request
            .listeners
            .iter()
            .map(|l| endpoint(&l.name, &l.host, l.port))
            .collect();
        let range = &request.k_raft_version_feature;
        match quorum
            .update_voter(
                request.current_leader_epoch,
                request.voter_id,
                request.voter_directory_id,
                &listeners,
                (range.min_supported_version, range.max_supported_version),
                controller_listener,
            )
            .await
        {
            Ok(()) => 0,
            Err(e) => {
                log_refusal("UpdateRaftVoter", request.voter_id, &e);
                e.response_error().code()
            }
        }
    };
    let mut response = UpdateRaftVoterResponse::default().with_error_code(code);
    response.current_leader = current_leader(quorum);
    response
}

/// The leader this node knows, its epoch and controller endpoint (Kafka's
/// `RaftUtil.updateVoterResponse`): -1 and an empty host when unknown.
fn current_leader(quorum: &MetadataQuorum) -> CurrentLeader {
    let epoch = i32::try_from(quorum.metrics().current_term).unwrap_or(i32::MAX);
    let leader = quorum.leader_id();
    let endpoint = leader
        .and_then(|id| quorum.leader_address(id))
        .and_then(|addr| {
            let (host, port) = addr.rsplit_once(':')?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            Some((host.to_string(), port.parse::<i32>().ok()?))
        });
    let (host, port) = endpoint.unwrap_or_default();
    CurrentLeader::default()
        .with_leader_id(BrokerId(leader.unwrap_or(-1)))
        .with_leader_epoch(epoch)
        .with_host(str_bytes(&host))
        .with_port(port)
}

fn log_refusal(api: &str, voter_id: i32, error: &VoterChangeError) {
    tracing::info!(api, voter_id, error = %error, "voter change refused");
}
