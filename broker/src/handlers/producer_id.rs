//! InitProducerId for idempotent producers (no transactional id): a fresh producer id with
//! epoch 0, taken from a block this broker obtained through the metadata quorum
//! (`Controller::allocate_producer_ids`, Kafka's AllocateProducerIds).
//! With a transactional id the transaction coordinator answers (`TransactionCoordinator::init_producer_id`).

use std::sync::Arc;

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::{Broker, RequestContext};
use crate::error::{ApiError, ResponseError};
use crate::metadata::Controller;

/// Producer ids fetched from the controller at a time (Kafka's block size).
pub(crate) const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

/// The current block of producer ids of this broker: `[next, end)`.
#[derive(Debug, Default)]
pub(crate) struct ProducerIdManager {
    block: tokio::sync::Mutex<(i64, i64)>,
}

impl ProducerIdManager {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The next unused producer id, allocating a new block when the current one is used up.
    pub(crate) async fn generate(
        &self,
        controller: &Controller,
        broker_id: i32,
    ) -> Result<i64, ApiError> {
        let mut block = self.block.lock().await;
        if block.0 >= block.1 {
            let start = controller
                .allocate_producer_ids(broker_id, PRODUCER_ID_BLOCK_SIZE)
                .await?;
            *block = (start, start + PRODUCER_ID_BLOCK_SIZE);
        }
        let producer_id = block.0;
        block.0 += 1;
        Ok(producer_id)
    }
}

pub(crate) async fn handle_init_producer_id(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
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
            .generate(&broker.controller, broker.node_id)
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
