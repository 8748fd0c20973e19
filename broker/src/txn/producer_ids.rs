//! `ProducerIdManager`: this broker's block of producer ids, obtained from the active
//! controller (Kafka's AllocateProducerIds, through the `ControllerClient`) a block at a
//! time. Idempotent producers (InitProducerId without a transactional id) and the
//! transaction coordinator (a new transactional id, or an exhausted epoch) take ids from it.

use crate::error::ApiError;
use crate::metadata::ControllerClient;

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
    pub(crate) async fn generate(&self, controller: &ControllerClient) -> Result<i64, ApiError> {
        let mut block = self.block.lock().await;
        if block.0 >= block.1 {
            let (start, len) = controller
                .allocate_producer_ids(PRODUCER_ID_BLOCK_SIZE)
                .await?;
            *block = (start, start.saturating_add(len.max(1)));
        }
        let producer_id = block.0;
        block.0 += 1;
        Ok(producer_id)
    }
}
