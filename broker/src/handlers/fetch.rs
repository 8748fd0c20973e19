//! Fetch (consumers): resolves the partition set (sessionless, new session or incremental
//! session; `fetch_session` keeps the sessions), reads stored bytes bounded by the high watermark (or, for read_committed, the
//! last stable offset, answering the aborted transactions of the returned range), and
//! long-polls until `min_bytes` arrived or `max_wait_ms` passed. Stored batches are passed
//! through as `Bytes` without re-encoding.
//!
//! Napkin math: one `spawn_blocking` hop per read round; per partition one index lookup and
//! one `pread` of at most `partition_max_bytes`; the response frame takes those bytes by
//! reference (`frame::ChunkedFrame`), so they are not copied again.

use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId, TopicName};
use uuid::Uuid;

use super::fetch_session::{
    CachedPartition, Incremental, PartitionReport, SessionKey, SessionRequest,
};
use super::{str_bytes, Broker, RequestContext};
use crate::error::{ApiError, ResponseError};
use crate::replica::{Partition, ReplicaManager};
use crate::types::TopicPartition;

/// Upper bound on one long poll, whatever the client asks for.
const MAX_WAIT_MS_CAP: i32 = 60_000;

/// One partition to read: its session key, what the client asked, and the partition (or why
/// it cannot be read).
type ReadTarget = (
    SessionKey,
    CachedPartition,
    Result<Arc<Partition>, ApiError>,
);

struct PartitionResult {
    key: SessionKey,
    error: Option<ApiError>,
    high_watermark: i64,
    last_stable_offset: i64,
    log_start_offset: i64,
    records: Option<bytes::Bytes>,
    aborted_transactions: Option<Vec<crate::log::AbortedTxn>>,
}

pub(super) async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: FetchRequest,
) -> FetchResponse {
    match handle_inner(broker, ctx, request).await {
        Ok(r) => r,
        Err(e) => {
            let mut r = FetchResponse::default();
            r.error_code = e.error_code();
            r
        }
    }
}

async fn handle_inner(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: FetchRequest,
) -> Result<FetchResponse, ApiError> {
    let uses_topic_ids = ctx.version >= 13;
    let read_committed = request.isolation_level == 1;
    let image = broker.image();

    // The partitions the client asked about in this request, in order.
    let mut requested: IndexMap<SessionKey, CachedPartition> = IndexMap::new();
    for topic in &request.topics {
        let (topic_id, name) = if uses_topic_ids {
            let name = image
                .topic_names_by_id
                .get(&topic.topic_id)
                .cloned()
                .unwrap_or_default();
            (topic.topic_id, name)
        } else {
            let name = topic.topic.0.to_string();
            let id = image
                .topics
                .get(&name)
                .map(|t| t.topic_id)
                .unwrap_or(Uuid::nil());
            (id, name)
        };
        for p in &topic.partitions {
            requested.insert(
                SessionKey {
                    topic_id,
                    topic: name.clone(),
                    partition: p.partition,
                },
                CachedPartition::new(
                    p.fetch_offset,
                    p.partition_max_bytes,
                    p.current_leader_epoch,
                ),
            );
        }
    }
    let forgotten: Vec<SessionKey> = request
        .forgotten_topics_data
        .iter()
        .flat_map(|t| {
            let (topic_id, name) = if uses_topic_ids {
                (
                    t.topic_id,
                    image
                        .topic_names_by_id
                        .get(&t.topic_id)
                        .cloned()
                        .unwrap_or_default(),
                )
            } else {
                let name = t.topic.0.to_string();
                (
                    image
                        .topics
                        .get(&name)
                        .map(|x| x.topic_id)
                        .unwrap_or(Uuid::nil()),
                    name,
                )
            };
            t.partitions.iter().map(move |&p| SessionKey {
                topic_id,
                topic: name.clone(),
                partition: p,
            })
        })
        .collect();

    // Resolve the session and the full partition list to read.
    let sessions = &broker.fetch_sessions;
    let is_from_follower = if ctx.version >= 15 {
        request.replica_state.replica_id.0 >= 0
    } else {
        request.replica_id.0 >= 0
    };
    let now = std::time::Instant::now();
    // (session id of the response, the epoch an incremental session must still expect
    // when the response is built, the partitions to read)
    let (session_id, epoch_after, partitions) =
        match SessionRequest::classify(sessions, request.session_id, request.session_epoch) {
            SessionRequest::Sessionless => (0, None, requested),
            SessionRequest::New => {
                let id = sessions
                    .create(now, is_from_follower, uses_topic_ids, requested.clone())
                    .unwrap_or(0);
                (id, None, requested)
            }
            SessionRequest::Incremental { id, epoch } => {
                match sessions.begin_incremental(
                    now,
                    id,
                    epoch,
                    uses_topic_ids,
                    &requested,
                    &forgotten,
                )? {
                    Incremental::Continue {
                        partitions,
                        epoch_after,
                    } => (id, Some(epoch_after), partitions),
                    Incremental::Closed => (0, None, requested),
                }
            }
        };

    let max_bytes = request
        .max_bytes
        .clamp(0, broker.config.fetch_max_bytes.max(1)) as usize;
    let min_bytes = request.min_bytes.max(0) as usize;
    let max_wait = Duration::from_millis(request.max_wait_ms.clamp(0, MAX_WAIT_MS_CAP) as u64);
    let deadline = tokio::time::Instant::now() + max_wait;
    let targets: Vec<ReadTarget> = partitions
        .into_iter()
        .map(|(key, cached)| {
            let resolved = resolve(broker, &key, uses_topic_ids, &cached);
            (key, cached, resolved)
        })
        .collect();
    let targets = Arc::new(targets);

    // Long poll: read, and if too little arrived, wait for an append or the deadline.
    let results = loop {
        let arrived = broker.replicas.data_arrived();
        tokio::pin!(arrived);
        arrived.as_mut().enable();
        let t = Arc::clone(&targets);
        let results = tokio::task::spawn_blocking(move || read_all(&t, max_bytes, read_committed))
            .await
            .map_err(|e| ApiError::new(ResponseError::UnknownServerError, e.to_string()))?;
        let bytes: usize = results
            .iter()
            .map(|r| r.records.as_ref().map_or(0, |b| b.len()))
            .sum();
        let has_error = results.iter().any(|r| r.error.is_some());
        if bytes >= min_bytes
            || has_error
            || max_wait.is_zero()
            || tokio::time::Instant::now() >= deadline
        {
            break results;
        }
        tokio::select! {
            _ = &mut arrived => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    };

    // Build the response; incremental sessions report only partitions with news.
    let mut include = vec![true; results.len()];
    if session_id != 0 {
        let reports: Vec<PartitionReport> = results
            .iter()
            .map(|r| PartitionReport {
                key: r.key.clone(),
                has_records: r.records.as_ref().is_some_and(|b| !b.is_empty()),
                error: r.error.is_some(),
                high_watermark: r.high_watermark,
                last_stable_offset: r.last_stable_offset,
                log_start_offset: r.log_start_offset,
            })
            .collect();
        let flags = sessions.finish(session_id, epoch_after, &reports)?;
        if epoch_after.is_some() {
            include = flags;
        }
    }

    let mut response = FetchResponse::default();
    response.session_id = session_id;
    for (r, included) in results.into_iter().zip(include) {
        if !included {
            continue;
        }
        let mut pd = PartitionData::default();
        pd.partition_index = r.key.partition;
        pd.high_watermark = r.high_watermark;
        pd.last_stable_offset = r.last_stable_offset;
        pd.log_start_offset = r.log_start_offset;
        pd.preferred_read_replica = (-1).into();
        if read_committed {
            pd.aborted_transactions = Some(
                r.aborted_transactions
                    .iter()
                    .flatten()
                    .map(|a| {
                        let mut t = AbortedTransaction::default();
                        t.producer_id = ProducerId(a.producer_id);
                        t.first_offset = a.first_offset;
                        t
                    })
                    .collect(),
            );
        }
        match &r.error {
            Some(e) => pd.error_code = e.error_code(),
            None => pd.records = Some(r.records.clone().unwrap_or_default()),
        }
        let same_topic = response
            .responses
            .last()
            .is_some_and(|t: &FetchableTopicResponse| {
                if uses_topic_ids {
                    t.topic_id == r.key.topic_id
                } else {
                    t.topic.0.as_str() == r.key.topic
                }
            });
        if !same_topic {
            let mut t = FetchableTopicResponse::default();
            t.topic = TopicName(str_bytes(&r.key.topic));
            t.topic_id = r.key.topic_id;
            response.responses.push(t);
        }
        if let Some(t) = response.responses.last_mut() {
            t.partitions.push(pd);
        }
    }
    Ok(response)
}

fn resolve(
    broker: &Broker,
    key: &SessionKey,
    uses_topic_ids: bool,
    cached: &CachedPartition,
) -> Result<Arc<Partition>, ApiError> {
    if key.topic.is_empty() && uses_topic_ids {
        return Err(ResponseError::UnknownTopicId.into());
    }
    let tp = TopicPartition::new(key.topic.clone(), key.partition);
    let p = broker.replicas.leader_partition(&tp).map_err(|e| {
        // By topic id, a partition metadata does not know is of an unknown topic id.
        if uses_topic_ids && e.code == ResponseError::UnknownTopicOrPartition {
            ApiError::code_only(ResponseError::UnknownTopicId)
        } else {
            e
        }
    })?;
    if uses_topic_ids && p.topic_id != key.topic_id {
        return Err(ResponseError::UnknownTopicId.into());
    }
    p.check_leader_epoch(cached.current_leader_epoch)?;
    Ok(p)
}

/// Reads every target within the response byte budget (blocking; runs on the blocking pool).
/// The first batch of the first partition with data is returned whole even when larger than
/// the limits (KIP-74), so a consumer always makes progress.
fn read_all(
    targets: &[ReadTarget],
    max_bytes: usize,
    read_committed: bool,
) -> Vec<PartitionResult> {
    let mut remaining = max_bytes;
    let mut got_data = false;
    targets
        .iter()
        .map(|(key, cached, resolved)| {
            let mut r = PartitionResult {
                key: key.clone(),
                error: None,
                high_watermark: -1,
                last_stable_offset: -1,
                log_start_offset: -1,
                records: None,
                aborted_transactions: None,
            };
            let p = match resolved {
                Ok(p) => p,
                Err(e) => {
                    r.error = Some(e.clone());
                    return r;
                }
            };
            r.high_watermark = p.high_watermark();
            r.last_stable_offset = p.last_stable_offset();
            r.log_start_offset = p.log.log_start_offset();
            let limit = remaining.min(cached.partition_max_bytes.max(0) as usize);
            match ReplicaManager::read(p, cached.fetch_offset, limit, read_committed, !got_data) {
                Ok(read) => {
                    r.aborted_transactions = read.aborted_transactions;
                    r.high_watermark = read.high_watermark;
                    r.last_stable_offset = read.last_stable_offset;
                    let data = read.data;
                    r.log_start_offset = data.log_start_offset;
                    if !data.records.is_empty() {
                        got_data = true;
                        remaining = remaining.saturating_sub(data.records.len());
                    }
                    r.records = Some(data.records);
                }
                Err(e) => r.error = Some(e.into()),
            }
            r
        })
        .collect()
}
