//! Produce: validates acks and the request shape, appends each partition's batch as leader,
//! and answers per partition. acks=0 gets no response (and a closed connection on error, as
//! Kafka does, so the client learns about the failure).

use std::collections::HashMap;
use std::sync::Arc;

use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, ResponseKind};

use super::{str_bytes, Broker, Outcome, RequestContext};
use crate::error::{ApiError, ResponseError};
use crate::log::BatchHeader;
use crate::log::{AppendInfo, AppendOrigin, TxnVerification};
use crate::security::acl::AclOperation;
use crate::types::{is_internal_topic, TopicPartition};

pub(super) async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: ProduceRequest,
) -> Outcome {
    let acks = request.acks;
    let request_error: Option<ApiError> = if !matches!(acks, -1..=1) {
        Some(ApiError::new(
            ResponseError::InvalidRequiredAcks,
            format!("acks={acks} is not -1, 0 or 1"),
        ))
    } else {
        None
    };

    // Per partition: either an early error or bytes to append.
    let mut order: Vec<(TopicPartition, Option<ApiError>)> = Vec::new();
    // (index in `order`, partition, bytes, the batch header when it parses).
    let mut candidates: Vec<(usize, TopicPartition, bytes::Bytes, Option<BatchHeader>)> =
        Vec::new();
    // v13+ names topics by id (KIP-516); an unknown id is UNKNOWN_TOPIC_ID per partition.
    let image = (ctx.version >= 13).then(|| broker.image());
    // WRITE on each topic, decided (and a denial audited) once per topic.
    let authz = broker.authz(ctx);
    let mut writable: HashMap<String, bool> = HashMap::new();
    for topic in &request.topic_data {
        let name = match &image {
            Some(image) => image.topic_by_id(topic.topic_id).map(|t| t.name.clone()),
            None => Some(topic.name.0.to_string()),
        };
        for p in &topic.partition_data {
            let tp = TopicPartition::new(name.clone().unwrap_or_default(), p.index);
            let early = if let Some(e) = &request_error {
                Some(e.clone())
            } else if name.is_none() {
                Some(ResponseError::UnknownTopicId.into())
            } else if !*writable
                .entry(tp.topic.clone())
                .or_insert_with(|| authz.allows_topic(AclOperation::Write, &tp.topic))
            {
                Some(ResponseError::TopicAuthorizationFailed.into())
            } else if is_internal_topic(&tp.topic) {
                // Kafka: "Cannot append to internal topic" — only coordinators write them.
                Some(ApiError::new(
                    ResponseError::InvalidTopicException,
                    format!("cannot produce to internal topic {}", tp.topic),
                ))
            } else {
                match &p.records {
                    None => Some(ApiError::new(ResponseError::InvalidRecord, "null records")),
                    Some(records) => match exactly_one_batch(records) {
                        Err(e) => Some(e),
                        Ok(header) => {
                            candidates.push((order.len(), tp.clone(), records.clone(), header));
                            None
                        }
                    },
                }
            };
            order.push((tp, early));
        }
    }
    let transactional_id = request
        .transactional_id
        .as_ref()
        .map(|t| t.0.as_str())
        .filter(|t| !t.is_empty());
    // As Kafka: transactional records need the request's transactional id and WRITE on
    // it; without either the whole request fails, nothing is written.
    if candidates
        .iter()
        .any(|(_, _, _, header)| header.as_ref().is_some_and(|h| h.is_transactional()))
        && !transactional_id
            .is_some_and(|id| authz.allows_transactional_id(AclOperation::Write, id))
    {
        candidates.clear();
        for (_, early) in &mut order {
            *early = Some(ApiError::new(
                ResponseError::TransactionalIdAuthorizationFailed,
                "transactional records need a transactional id the producer may WRITE",
            ));
        }
    }
    let mut to_append = Vec::with_capacity(candidates.len());
    for (index, tp, records, header) in candidates {
        match verify_transactional(broker, transactional_id, &tp, header.as_ref()).await {
            Ok(verification) => to_append.push((tp, records, verification)),
            Err(e) => order[index].1 = Some(e),
        }
    }
    let mut appended = broker
        .replicas
        .append_as_leader(to_append, acks, request.timeout_ms, AppendOrigin::Client)
        .await
        .into_iter();

    let mut order = order.into_iter();
    let mut failed = false;
    let mut response = ProduceResponse::default();
    for topic in &request.topic_data {
        let mut t = TopicProduceResponse::default();
        t.name = topic.name.clone();
        t.topic_id = topic.topic_id;
        for _ in &topic.partition_data {
            let Some((tp, early)) = order.next() else {
                break;
            };
            let result = match early {
                Some(e) => Err(e),
                None => match appended.next() {
                    Some((done_tp, r)) => {
                        debug_assert_eq!(done_tp, tp, "append results out of order");
                        r
                    }
                    None => Err(ResponseError::UnknownServerError.into()),
                },
            };
            if let Err(e) = &result {
                failed = true;
                tracing::debug!(partition = %tp, client = ?ctx.client_id, error = %e, "produce failed");
            }
            let pr = partition_response(tp.partition, result);
            t.partition_responses.push(pr);
        }
        response.responses.push(t);
    }
    if acks == 0 {
        if failed {
            return Outcome::Close("acks=0 produce failed; closing so the client notices".into());
        }
        return Outcome::NoResponse;
    }
    Outcome::Respond(Box::new(ResponseKind::Produce(response)))
}

/// One partition's answer: where its batch was appended, or why not (with the refused
/// records, KIP-467; versions before v8 drop the field).
fn partition_response(
    partition: i32,
    result: Result<AppendInfo, ApiError>,
) -> PartitionProduceResponse {
    let mut pr = PartitionProduceResponse::default();
    pr.index = partition;
    match result {
        Ok(info) => {
            pr.base_offset = info.base_offset;
            pr.log_append_time_ms = info.log_append_time_ms;
            pr.log_start_offset = info.log_start_offset;
        }
        Err(e) => {
            pr.error_code = e.error_code();
            pr.error_message = e.error_message();
            pr.record_errors = e
                .record_errors
                .iter()
                .map(|r| {
                    BatchIndexAndErrorMessage::default()
                        .with_batch_index(r.batch_index)
                        .with_batch_index_error_message(Some(str_bytes(&r.message)))
                })
                .collect();
            pr.base_offset = -1;
            pr.log_append_time_ms = -1;
            pr.log_start_offset = -1;
        }
    }
    pr
}

/// Produce v3+ carries exactly one v2 record batch per partition (Kafka rejects more, and
/// older message formats, with INVALID_RECORD). Deeper validation (CRC, magic, sizes) happens in the log.
/// Returns the batch's header when it parses.
fn exactly_one_batch(records: &bytes::Bytes) -> Result<Option<BatchHeader>, ApiError> {
    // The magic byte sits at offset 16 in every message format.
    if let Some(&magic) = records.get(16) {
        if magic != 2 {
            return Err(ApiError::new(
                ResponseError::InvalidRecord,
                format!("produce v3+ accepts only magic 2 record batches, got magic {magic}"),
            ));
        }
    }
    match BatchHeader::parse(records) {
        Ok(h) if h.total_size() < records.len() => Err(ApiError::new(
            ResponseError::InvalidRecord,
            "produce requests must contain exactly one record batch per partition",
        )),
        Ok(h) => Ok(Some(h)),
        // Too short or torn: let the log report the precise error.
        Err(_) => Ok(None),
    }
}

/// KIP-890 part 1 (`transaction.partition.verification.enable`): a transactional batch that
/// would start its producer's transaction on a partition is appended only after the
/// transaction coordinator confirmed the partition is in the producer's ongoing transaction
/// (AddPartitionsToTxn's verify-only check), under the guard the partition handed out
/// first — a produce arriving after its transaction ended cannot open a hanging one.
/// Errors as Kafka's produce path reports them: not in the transaction INVALID_TXN_STATE,
/// a fenced epoch INVALID_PRODUCER_EPOCH, a busy or moving coordinator the retriable
/// NOT_ENOUGH_REPLICAS. The coordinator is asked where it runs
/// (`TransactionCoordinator::verify_partition`: in process, or AddPartitionsToTxn
/// verify-only).
async fn verify_transactional(
    broker: &Arc<Broker>,
    transactional_id: Option<&str>,
    tp: &TopicPartition,
    header: Option<&BatchHeader>,
) -> Result<TxnVerification, ApiError> {
    let Some(header) = header else {
        return Ok(TxnVerification::Off);
    };
    if !header.is_transactional() || header.is_control() || header.producer_id < 0 {
        return Ok(TxnVerification::Off);
    }
    // Dynamic, as in Kafka (`kafka-configs.sh --entity-type brokers --alter`).
    if !broker.dynamic_bool("transaction.partition.verification.enable") {
        return Ok(TxnVerification::Off);
    }
    let Some(transactional_id) = transactional_id else {
        // Refused before (TRANSACTIONAL_ID_AUTHORIZATION_FAILED); nothing to verify here.
        return Ok(TxnVerification::Off);
    };
    let Some(guard) = broker
        .replicas
        .start_txn_verification(tp, header.producer_id)
    else {
        return Ok(TxnVerification::Unverified);
    };
    broker
        .txn
        .verify_partition(
            transactional_id,
            header.producer_id,
            header.producer_epoch,
            tp,
        )
        .await
        .map(|()| TxnVerification::Guard(guard))
        .map_err(|e| {
            let code = match e.code {
                ResponseError::ProducerFenced => ResponseError::InvalidProducerEpoch,
                ResponseError::ConcurrentTransactions
                | ResponseError::CoordinatorLoadInProgress
                | ResponseError::CoordinatorNotAvailable
                | ResponseError::NotCoordinator
                | ResponseError::NetworkException
                | ResponseError::RequestTimedOut => ResponseError::NotEnoughReplicas,
                other => other,
            };
            tracing::debug!(partition = %tp, transactional_id, producer_id = header.producer_id, error = %e, "transaction verification failed");
            ApiError::new(code, format!("transaction verification failed: {e}"))
        })
}
