//! AddRaftVoter (API 80) and RemoveRaftVoter (API 81): changing a dynamic metadata
//! quorum's voters (KIP-853), as `kafka-metadata-quorum add-controller` and
//! `remove-controller` ask. Served on the controller listener (Kafka's `ControllerApis`),
//! and on a broker's listeners by forwarding to the active controller, as Kafka's brokers
//! do. Both need ALTER on the cluster; the rules and their errors are
//! `metadata::quorum::voter_changes`'.

use kafka_protocol::messages::{
    AddRaftVoterRequest, AddRaftVoterResponse, RemoveRaftVoterRequest, RemoveRaftVoterResponse,
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
    if !authorized {
        return refuse(ResponseError::ClusterAuthorizationFailed, None);
    }
    if let Some(message) = cluster_id_error(quorum, request.cluster_id.as_deref()) {
        return refuse(ResponseError::InconsistentClusterId, Some(message));
    }
    let listeners: Vec<VoterEndpoint> = request
        .listeners
        .iter()
        .map(|l| VoterEndpoint {
            listener: l.name.to_string(),
            host: l.host.to_string(),
            port: l.port,
        })
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
    if !authorized {
        return refuse(ResponseError::ClusterAuthorizationFailed, None);
    }
    if let Some(message) = cluster_id_error(quorum, request.cluster_id.as_deref()) {
        return refuse(ResponseError::InconsistentClusterId, Some(message));
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

fn log_refusal(api: &str, voter_id: i32, error: &VoterChangeError) {
    tracing::info!(api, voter_id, error = %error, "voter change refused");
}
