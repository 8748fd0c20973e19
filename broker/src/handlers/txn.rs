//! Transaction APIs: AddPartitionsToTxn (v0–3 client path, v4+ batched/verify path),
//! AddOffsetsToTxn, EndTxn, TxnOffsetCommit, DescribeTransactions, ListTransactions. The
//! `TransactionCoordinator` does the work; these functions shape versions and map errors
//! older clients do not know (PRODUCER_FENCED → INVALID_PRODUCER_EPOCH).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::describe_transactions_response::{self, TopicData};
use kafka_protocol::messages::list_transactions_response;
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, DescribeTransactionsRequest, DescribeTransactionsResponse,
    EndTxnRequest, EndTxnResponse, ListTransactionsRequest, ListTransactionsResponse, ProducerId,
    TopicName, TransactionalId, TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};

use super::authorization::{Authz, Checked};
use super::requested_partitions::RequestedPartitions;
use super::{str_bytes, Broker, RequestContext};
use crate::error::{ApiError, ResponseError};
use crate::group::records::OffsetCommitValue;
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::txn::TxnState;
use crate::types::{now_ms, TopicPartition};

/// PRODUCER_FENCED exists for clients from these versions on; older ones get
/// INVALID_PRODUCER_EPOCH (as Kafka maps it).
fn fenced_for(code: ResponseError, version: i16, first_version_knowing: i16) -> ResponseError {
    if code == ResponseError::ProducerFenced && version < first_version_knowing {
        ResponseError::InvalidProducerEpoch
    } else {
        code
    }
}

fn code(result: &Result<(), ApiError>, version: i16, first_version_knowing: i16) -> i16 {
    match result {
        Ok(()) => 0,
        Err(e) => fenced_for(e.code, version, first_version_knowing).code(),
    }
}

/// Per-partition results of one transaction's AddPartitionsToTxn: unknown topics fail
/// alone (UNKNOWN_TOPIC_OR_PARTITION, the rest OPERATION_NOT_ATTEMPTED), else all share the
/// coordinator's answer.
#[allow(clippy::too_many_arguments)]
async fn add_partitions_one(
    broker: &Arc<Broker>,
    authz: &Authz<'_>,
    version: i16,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    verify_only: bool,
    topics: &[AddPartitionsToTxnTopic],
) -> Vec<AddPartitionsToTxnTopicResult> {
    let image = broker.image();
    let mut unknown: HashMap<(String, i32), ()> = HashMap::new();
    // Versions before 4 come from producers: WRITE on the transactional id, then on each
    // topic (v4+ comes from brokers, which the request's CLUSTER_ACTION covered).
    if version < 4 {
        if let Err(refused) = authz.check(
            AclOperation::Write,
            ResourceType::TransactionalId,
            transactional_id,
        ) {
            return partition_results(topics, |_, _| refused.code());
        }
    }
    let mut unwritable: HashSet<&str> = HashSet::new();
    if version < 4 {
        for t in topics {
            if !unwritable.contains(t.name.0.as_str())
                && !authz.allows_topic(AclOperation::Write, &t.name.0)
            {
                unwritable.insert(t.name.0.as_str());
            }
        }
    }
    let mut partitions = Vec::new();
    for t in topics {
        for &p in &t.partitions {
            if unwritable.contains(t.name.0.as_str()) {
                continue;
            }
            if image.has_partition(t.name.0.as_str(), p) {
                partitions.push(TopicPartition::new(t.name.0.to_string(), p));
            } else {
                unknown.insert((t.name.0.to_string(), p), ());
            }
        }
    }
    let shared: Option<i16> = if unknown.is_empty() && unwritable.is_empty() {
        let r = broker
            .txn
            .add_partitions(
                transactional_id,
                producer_id,
                producer_epoch,
                partitions,
                verify_only,
            )
            .await;
        if let Err(e) = &r {
            tracing::debug!(transactional_id, error = %e, "AddPartitionsToTxn failed");
        }
        Some(code(&r, version, 2))
    } else {
        None
    };
    partition_results(topics, |topic, p| match shared {
        Some(c) => c,
        None if unwritable.contains(topic) => ResponseError::TopicAuthorizationFailed.code(),
        None if unknown.contains_key(&(topic.to_string(), p)) => {
            ResponseError::UnknownTopicOrPartition.code()
        }
        None => ResponseError::OperationNotAttempted.code(),
    })
}

/// A result for every partition of `topics`, in request order, with the error code
/// `code(topic, partition)`.
fn partition_results(
    topics: &[AddPartitionsToTxnTopic],
    code: impl Fn(&str, i32) -> i16,
) -> Vec<AddPartitionsToTxnTopicResult> {
    topics
        .iter()
        .map(|t| {
            let mut tr = AddPartitionsToTxnTopicResult::default();
            tr.name = t.name.clone();
            tr.results_by_partition = t
                .partitions
                .iter()
                .map(|&p| {
                    let mut pr = AddPartitionsToTxnPartitionResult::default();
                    pr.partition_index = p;
                    pr.partition_error_code = code(&t.name.0, p);
                    pr
                })
                .collect();
            tr
        })
        .collect()
}

pub(super) async fn handle_add_partitions_to_txn(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    let mut response = AddPartitionsToTxnResponse::default();
    let authz = broker.authz(ctx);
    if ctx.version >= 4 {
        if let Err(refused) = authz.check(
            AclOperation::ClusterAction,
            ResourceType::Cluster,
            CLUSTER_NAME,
        ) {
            return response.with_error_code(refused.code());
        }
    }
    if ctx.version <= 3 {
        response.results_by_topic_v3_and_below = add_partitions_one(
            broker,
            &authz,
            ctx.version,
            &request.v3_and_below_transactional_id.0,
            request.v3_and_below_producer_id.0,
            request.v3_and_below_producer_epoch,
            false,
            &request.v3_and_below_topics,
        )
        .await;
        return response;
    }
    for t in &request.transactions {
        let mut r = AddPartitionsToTxnResult::default();
        r.transactional_id = t.transactional_id.clone();
        r.topic_results = add_partitions_one(
            broker,
            &authz,
            ctx.version,
            &t.transactional_id.0,
            t.producer_id.0,
            t.producer_epoch,
            t.verify_only,
            &t.topics,
        )
        .await;
        response.results_by_transaction.push(r);
    }
    response
}

/// Kafka's checks of a transaction's offsets (AddOffsetsToTxn, TxnOffsetCommit): WRITE on
/// the transactional id, then READ on the group.
fn check_offsets_of_txn(authz: &Authz<'_>, transactional_id: &str, group_id: &str) -> Checked {
    authz
        .check(
            AclOperation::Write,
            ResourceType::TransactionalId,
            transactional_id,
        )
        .and_then(|()| authz.check(AclOperation::Read, ResourceType::Group, group_id))
}

pub(super) async fn handle_add_offsets_to_txn(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    let authz = broker.authz(ctx);
    let refusal = check_offsets_of_txn(&authz, &request.transactional_id.0, &request.group_id.0);
    let r = if let Err(refused) = refusal {
        Err(ApiError::code_only(refused))
    } else {
        broker
            .txn
            .add_offsets(
                &request.transactional_id.0,
                request.producer_id.0,
                request.producer_epoch,
                &request.group_id.0,
            )
            .await
    };
    if let Err(e) = &r {
        tracing::debug!(transactional_id = %request.transactional_id.0.as_str(), error = %e, "AddOffsetsToTxn failed");
    }
    let mut response = AddOffsetsToTxnResponse::default();
    response.error_code = code(&r, ctx.version, 2);
    response
}

pub(super) async fn handle_end_txn(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: EndTxnRequest,
) -> EndTxnResponse {
    let authz = broker.authz(ctx);
    let r = if let Err(refused) = authz.check(
        AclOperation::Write,
        ResourceType::TransactionalId,
        &request.transactional_id.0,
    ) {
        Err(ApiError::code_only(refused))
    } else {
        broker
            .txn
            .end_txn(
                &request.transactional_id.0,
                request.producer_id.0,
                request.producer_epoch,
                request.committed,
            )
            .await
    };
    if let Err(e) = &r {
        tracing::debug!(transactional_id = %request.transactional_id.0.as_str(), committed = request.committed, error = %e, "EndTxn failed");
    }
    let mut response = EndTxnResponse::default();
    response.error_code = code(&r, ctx.version, 2);
    response.producer_id = ProducerId(-1);
    response.producer_epoch = -1;
    response
}

pub(super) async fn handle_txn_offset_commit(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    let now = now_ms();
    let max_metadata = broker.groups.config().offset_metadata_max_bytes;
    // As Kafka: WRITE on the transactional id and READ on the group, else every
    // partition carries the refusal; then READ on each topic. Partitions that do not exist
    // are answered here and never committed.
    let authz = broker.authz(ctx);
    let refusal = check_offsets_of_txn(&authz, &request.transactional_id.0, &request.group_id.0);
    let requested = RequestedPartitions::new(&broker.image(), &request.topics, |topic| {
        refusal
            .and_then(|()| authz.check(AclOperation::Read, ResourceType::Topic, topic))
            .err()
    });
    let mut too_large: Vec<(String, i32)> = Vec::new();
    let mut offsets = Vec::new();
    for t in &request.topics {
        for p in &t.partitions {
            if requested.is_answered_here(&t.name.0, p.partition_index) {
                continue;
            }
            let metadata = p
                .committed_metadata
                .as_ref()
                .map(|m| m.to_string())
                .unwrap_or_default();
            if metadata.len() > max_metadata {
                too_large.push((t.name.0.to_string(), p.partition_index));
                continue;
            }
            offsets.push((
                TopicPartition::new(t.name.0.to_string(), p.partition_index),
                OffsetCommitValue {
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata,
                    commit_timestamp_ms: now,
                    expire_timestamp_ms: None,
                },
            ));
        }
    }
    let shared = if offsets.is_empty() && too_large.is_empty() {
        // Only unknown or refused partitions: neither the transaction nor the group is
        // consulted.
        0
    } else {
        let r = broker
            .txn
            .txn_offset_commit(
                &request.transactional_id.0,
                &request.group_id.0,
                request.producer_id.0,
                request.producer_epoch,
                request.member_id.as_str(),
                request.generation_id,
                request.group_instance_id.as_ref().map(|s| s.as_str()),
                offsets,
            )
            .await;
        if let Err(e) = &r {
            tracing::debug!(transactional_id = %request.transactional_id.0.as_str(), group_id = %request.group_id.0.as_str(), error = %e, "TxnOffsetCommit failed");
        }
        code(&r, ctx.version, 3)
    };
    let topics = requested.respond(|topic, partition| {
        let too_large = too_large.iter().any(|(n, i)| n == topic && *i == partition);
        if too_large {
            ResponseError::OffsetMetadataTooLarge.code()
        } else {
            shared
        }
    });
    TxnOffsetCommitResponse::default().with_topics(topics)
}

pub(super) fn handle_describe_transactions(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let mut response = DescribeTransactionsResponse::default();
    // As Kafka: DESCRIBE on each transactional id; of its partitions only those of topics
    // the principal may DESCRIBE are shown.
    let authz = broker.authz(ctx);
    for id in &request.transactional_ids {
        let mut s = describe_transactions_response::TransactionState::default();
        s.transactional_id = id.clone();
        s.producer_id = ProducerId(-1);
        s.producer_epoch = -1;
        s.transaction_start_time_ms = -1;
        s.transaction_state = str_bytes("");
        if !authz.allows_transactional_id(AclOperation::Describe, &id.0) {
            s.error_code = ResponseError::TransactionalIdAuthorizationFailed.code();
            response.transaction_states.push(s);
            continue;
        }
        match broker.txn.describe(&id.0) {
            Ok(d) => {
                s.transaction_state = str_bytes(d.state.name());
                s.transaction_timeout_ms = d.timeout_ms;
                s.transaction_start_time_ms = d.start_ms;
                s.producer_id = ProducerId(d.producer_id);
                s.producer_epoch = d.producer_epoch;
                let mut topics: Vec<TopicData> = Vec::new();
                for tp in d.partitions.into_iter().filter(|tp| {
                    authz.allows_quietly(AclOperation::Describe, ResourceType::Topic, &tp.topic)
                }) {
                    match topics.last_mut() {
                        Some(t) if t.topic.0.as_str() == tp.topic => {
                            t.partitions.push(tp.partition)
                        }
                        _ => {
                            let mut t = TopicData::default();
                            t.topic = TopicName(str_bytes(&tp.topic));
                            t.partitions = vec![tp.partition];
                            topics.push(t);
                        }
                    }
                }
                s.topics = topics;
            }
            Err(e) => s.error_code = e.error_code(),
        }
        response.transaction_states.push(s);
    }
    response
}

pub(super) fn handle_list_transactions(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let mut response = ListTransactionsResponse::default();
    let mut states = Vec::new();
    for name in &request.state_filters {
        match TxnState::from_name(name.as_str()) {
            Some(s) => states.push(s),
            None => response.unknown_state_filters.push(name.clone()),
        }
    }
    if !request.state_filters.is_empty() && states.is_empty() {
        // Only unknown states asked for: nothing can match.
        return response;
    }
    let producer_ids: Vec<i64> = request.producer_id_filters.iter().map(|p| p.0).collect();
    let min_duration_ms = if ctx.version >= 1 {
        request.duration_filter
    } else {
        -1
    };
    match broker.txn.list(&states, &producer_ids, min_duration_ms) {
        Ok(listed) => {
            // Only the transactional ids the principal may DESCRIBE.
            let authz = broker.authz(ctx);
            response.transaction_states = listed
                .into_iter()
                .filter(|l| {
                    authz.allows_quietly(
                        AclOperation::Describe,
                        ResourceType::TransactionalId,
                        &l.transactional_id,
                    )
                })
                .map(|l| {
                    let mut s = list_transactions_response::TransactionState::default();
                    s.transactional_id = TransactionalId(str_bytes(&l.transactional_id));
                    s.producer_id = ProducerId(l.producer_id);
                    s.transaction_state = str_bytes(l.state.name());
                    s
                })
                .collect();
        }
        Err(e) => response.error_code = e.error_code(),
    }
    response
}
