//! `ProducerIdManager`: this broker's block of producer ids, obtained through the metadata
//! quorum (`Controller::allocate_producer_ids`, Kafka's AllocateProducerIds) a block at a
//! time. Idempotent producers (InitProducerId without a transactional id) and the
//! transaction coordinator (a new transactional id, or an exhausted epoch) take ids from it.

use crate::error::ApiError;
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
