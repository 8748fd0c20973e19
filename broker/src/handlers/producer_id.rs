//! InitProducerId for idempotent producers (no transactional id): a fresh producer id with
//! epoch 0 from this broker's block (`txn::ProducerIdManager`).
//! With a transactional id the transaction coordinator answers (`TransactionCoordinator::init_producer_id`).

use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};
use std::sync::Arc;

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::{Broker, RequestContext};
use crate::error::ResponseError;

pub(crate) async fn handle_init_producer_id(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    // As Kafka: WRITE on the transactional id; an idempotent producer needs
    // IDEMPOTENT_WRITE on the cluster or WRITE on some topic (KIP-679).
    let authz = broker.authz(ctx);
    let refused = match &request.transactional_id {
        Some(id) => (!authz.allows_transactional_id(AclOperation::Write, id))
            .then_some(ResponseError::TransactionalIdAuthorizationFailed),
        None => (!authz.allows_quietly(
            AclOperation::IdempotentWrite,
            ResourceType::Cluster,
            CLUSTER_NAME,
        ) && !authz.allows_some(AclOperation::Write, ResourceType::Topic))
        .then(|| {
            // Audited as the request's own check.
            authz.allows_cluster(AclOperation::IdempotentWrite);
            ResponseError::ClusterAuthorizationFailed
        }),
    };
    if let Some(code) = refused {
        return InitProducerIdResponse::default()
            .with_error_code(code.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
            .with_ongoing_txn_producer_id(ProducerId(-1))
            .with_ongoing_txn_producer_epoch(-1);
    }
    let result = match &request.transactional_id {
        Some(id) => {
            // KIP-360: a producer re-initializing itself names its current id and epoch.
            let expected = (request.producer_id.0 >= 0)
                .then_some((request.producer_id.0, request.producer_epoch));
            broker
                .txn
                .init_producer_id(id.0.as_str(), request.transaction_timeout_ms, expected)
                .await
        }
        None => broker
            .producer_ids
            .generate(&broker.controller_client)
            .await
            .map(|id| (id, 0)),
    };
    let mut response = InitProducerIdResponse::default();
    match result {
        Ok((producer_id, producer_epoch)) => {
            tracing::debug!(producer_id, producer_epoch, "initialized producer");
            response.producer_id = ProducerId(producer_id);
            response.producer_epoch = producer_epoch;
        }
        Err(e) => {
            tracing::info!(error = %e, "InitProducerId failed");
            // PRODUCER_FENCED is known to clients from v4 on.
            response.error_code = if e.code == ResponseError::ProducerFenced && ctx.version < 4 {
                ResponseError::InvalidProducerEpoch.code()
            } else {
                e.error_code()
            };
            response.producer_id = ProducerId(-1);
            response.producer_epoch = -1;
        }
    }
    response.ongoing_txn_producer_id = ProducerId(-1);
    response.ongoing_txn_producer_epoch = -1;
    response
}
