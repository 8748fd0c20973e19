//! Fetch (consumers), in four steps: the partitions the request names (`requested_partitions`,
//! topics by id from v13), the fetch session it runs in (`open_session`: sessionless, new or
//! incremental; `fetch_session` keeps the sessions), the long poll (`long_poll`: read stored
//! bytes bounded by the high watermark — for read_committed the last stable offset, with
//! the aborted transactions of the range — until `min_bytes` arrived or `max_wait_ms`
//! passed), and the response (`build_response`; an incremental session carries only the
//! partitions with news). Stored batches are passed through as `Bytes`, never re-encoded.
//!
//! Fetch from the closest replica (KIP-392): a consumer of v11+ may read from a follower
//! (bounded by the follower's high watermark, learned from the leader); with the
//! rack-aware `replica.selector.class` a leader answers a consumer with a `rack_id` whose
//! rack holds an in-sync follower but not the leader with that `preferred_read_replica`
//! and no records (`crate::replica::preferred_read_replica`).
//!
//! Napkin math: one `spawn_blocking` hop per read round; per partition one index lookup and
//! then either one 61-byte `pread` per batch header (`log::ReadPlan::locate`, at most 256)
//! to find the whole batches to send from the segment file, or — when they are shorter
//! than `frame::SPLICE_MIN_BYTES` or too many small batches — one `pread` of at most
//! `partition_max_bytes` into one buffer. Batches left in the file go into the response as
//! placeholders (`frame::placeholder`) and leave by `sendfile` on plaintext connections:
//! no copy through the broker's memory and no buffer to allocate; TLS reads them into
//! memory at write time. Copied batches are spliced into the frame by reference.

use std::collections::HashMap;
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
use crate::frame::{FileRecords, SPLICE_MIN_BYTES};
use crate::log::Records;
use crate::metadata::MetadataImage;
use crate::replica::{FetchIsolation, Partition, ReplicaManager};
use crate::security::acl::AclOperation;
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
    /// The records, or the placeholder of `file` (`frame::placeholder`).
    records: Option<bytes::Bytes>,
    /// Batches sent from their segment file, for which `records` is the placeholder.
    file: Option<FileRecords>,
    aborted_transactions: Option<Vec<crate::log::AbortedTxn>>,
    /// Fetch v12+: where the fetcher's last fetched epoch ends in this log, when its log
    /// diverged from ours (`(epoch, end_offset)`; no records then).
    diverging_epoch: Option<(i32, i64)>,
    /// The follower a consumer should read this partition from (KIP-392; no records then).
    preferred_read_replica: Option<i32>,
}

/// Who fetches: a consumer (bounded by the high watermark, or the last stable offset for
/// read_committed) or a follower broker (up to the log end; its fetch offset is its log
/// end offset, which may advance the high watermark). A follower's broker epoch is
/// `replica_state.replica_epoch` (Fetch v15+; -1 before: not checked). A consumer of v11+
/// (which sends client metadata) may read from a follower (`from_follower_allowed`);
/// before, only from the leader (Kafka's `FetchParams.fetchOnlyLeader`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fetcher {
    Consumer {
        isolation: FetchIsolation,
        from_follower_allowed: bool,
    },
    Follower {
        replica_id: i32,
        broker_epoch: i64,
    },
}

/// Whether a Fetch comes from a consumer (counted against client quotas) rather than a
/// follower broker (replication, throttled by the replication quotas).
pub(crate) fn is_consumer_fetch(version: i16, request: &FetchRequest) -> bool {
    matches!(Fetcher::of(version, request), Fetcher::Consumer { .. })
}

impl Fetcher {
    fn of(version: i16, request: &FetchRequest) -> Self {
        let (replica_id, broker_epoch) = if version >= 15 {
            (
                request.replica_state.replica_id.0,
                request.replica_state.replica_epoch,
            )
        } else {
            (request.replica_id.0, -1)
        };
        if replica_id >= 0 {
            return Fetcher::Follower {
                replica_id,
                broker_epoch,
            };
        }
        Fetcher::Consumer {
            isolation: if request.isolation_level == 1 {
                FetchIsolation::TxnCommitted
            } else {
                FetchIsolation::HighWatermark
            },
            from_follower_allowed: version >= 11,
        }
    }

    fn isolation(self) -> FetchIsolation {
        match self {
            Fetcher::Consumer { isolation, .. } => isolation,
            Fetcher::Follower { .. } => FetchIsolation::LogEnd,
        }
    }
}

/// The response, and the segment file slices whose placeholders its `records` carry
/// (`crate::frame`: sent from the files by the connection).
pub(super) async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: FetchRequest,
) -> (FetchResponse, Vec<FileRecords>) {
    match handle_inner(broker, ctx, request).await {
        Ok(r) => r,
        Err(e) => {
            let mut r = FetchResponse::default();
            r.error_code = e.error_code();
            (r, Vec::new())
        }
    }
}

async fn handle_inner(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: FetchRequest,
) -> Result<(FetchResponse, Vec<FileRecords>), ApiError> {
    let uses_topic_ids = ctx.version >= 13;
    let fetcher = Fetcher::of(ctx.version, &request);
    let read_committed = fetcher.isolation() == FetchIsolation::TxnCommitted;
    let image = broker.image();
    let (requested, forgotten) = requested_partitions(&image, &request, uses_topic_ids);
    let mut session = open_session(broker, ctx, &request, uses_topic_ids, requested, &forgotten)?;
    // As Kafka: a follower needs CLUSTER_ACTION, a consumer READ on each topic (decided,
    // and a denial audited, once per topic); an unknown topic id is reported first.
    let authz = broker.authz(ctx);
    let follower_allowed = matches!(fetcher, Fetcher::Follower { .. })
        .then(|| authz.allows_cluster(AclOperation::ClusterAction));
    let mut readable: HashMap<String, bool> = HashMap::new();
    let targets: Vec<ReadTarget> = std::mem::take(&mut session.partitions)
        .into_iter()
        .map(|(key, cached)| {
            let unknown_id = key.topic.is_empty() && uses_topic_ids;
            let allowed = unknown_id
                || follower_allowed.unwrap_or_else(|| {
                    *readable
                        .entry(key.topic.clone())
                        .or_insert_with(|| authz.allows_topic(AclOperation::Read, &key.topic))
                });
            let resolved = if allowed {
                resolve(broker, &key, uses_topic_ids, &cached, fetcher)
            } else {
                Err(ResponseError::TopicAuthorizationFailed.into())
            };
            (key, cached, resolved)
        })
        .collect();
    // Kafka's `shouldLeaderThrottle`: a follower outside the ISR gets no data of a
    // leader-throttled partition while the leader quota is exceeded.
    let throttled: Arc<Vec<bool>> = Arc::new(match fetcher {
        Fetcher::Follower { replica_id, .. } => targets
            .iter()
            .map(|(_, _, resolved)| {
                resolved.as_ref().is_ok_and(|p| {
                    broker
                        .replicas
                        .quotas()
                        .leader
                        .is_throttled(&p.tp.topic, p.tp.partition)
                        && !p.replica_set().isr.contains(&replica_id)
                })
            })
            .collect(),
        Fetcher::Consumer { .. } => vec![false; targets.len()],
    });
    let preferred = preferred_read_replicas(broker, ctx, &request, fetcher, &image, &targets);
    let targets = Arc::new(targets);
    let results = long_poll(
        broker,
        &request,
        Arc::clone(&targets),
        Arc::clone(&throttled),
        preferred,
        fetcher,
    )
    .await?;
    let throttled_bytes: usize = results
        .iter()
        .zip(throttled.iter())
        .filter(|(_, throttled)| **throttled)
        .map(|(r, _)| r.records.as_ref().map_or(0, |b| b.len()))
        .sum();
    broker
        .replicas
        .quotas()
        .leader
        .record(throttled_bytes, crate::types::now_ms());
    if let Fetcher::Follower { .. } = fetcher {
        // The follower's position may let it rejoin the ISR.
        for (_, _, resolved) in targets.iter() {
            if let Ok(p) = resolved {
                broker.replicas.maybe_expand_isr(p);
            }
        }
    }
    let included = close_round(broker, &session, &results)?;
    let files: Vec<FileRecords> = results
        .iter()
        .zip(&included)
        .filter(|(_, included)| **included)
        .filter_map(|(r, _)| r.file.clone())
        .collect();
    let response = build_response(
        session.id,
        results,
        &included,
        uses_topic_ids,
        read_committed,
    );
    Ok((response, files))
}

/// Per target, the follower a consumer should read it from instead (KIP-392): only with the
/// rack-aware selector, from a consumer of v11+ naming its rack, for partitions led here.
fn preferred_read_replicas(
    broker: &Broker,
    ctx: &RequestContext,
    request: &FetchRequest,
    fetcher: Fetcher,
    image: &MetadataImage,
    targets: &[ReadTarget],
) -> Arc<Vec<Option<i32>>> {
    let client_rack = request.rack_id.as_str();
    let applies = broker.config.replica_selector_rack_aware
        && ctx.version >= 11
        && !client_rack.is_empty()
        && matches!(fetcher, Fetcher::Consumer { .. });
    let now = crate::types::now_ms();
    Arc::new(
        targets
            .iter()
            .map(|(_, cached, resolved)| {
                let p = resolved.as_ref().ok().filter(|_| applies)?;
                let chosen = crate::replica::preferred_read_replica(
                    p,
                    image,
                    &ctx.listener_name,
                    client_rack,
                    cached.fetch_offset,
                    now,
                );
                if let Some(id) = chosen {
                    tracing::debug!(partition = %p.tp, client_rack, preferred_read_replica = id, "consumer sent to a replica in its rack");
                }
                chosen
            })
            .collect(),
    )
}

/// A topic of the request as the session keys it: by id (v13+, the name from the image,
/// empty when unknown) or by name (the id from the image, nil when unknown).
fn topic_key(
    image: &MetadataImage,
    uses_topic_ids: bool,
    topic_id: Uuid,
    name: &str,
) -> (Uuid, String) {
    if uses_topic_ids {
        let name = image
            .topic_names_by_id
            .get(&topic_id)
            .cloned()
            .unwrap_or_default();
        (topic_id, name)
    } else {
        let id = image.topics.get(name).map_or(Uuid::nil(), |t| t.topic_id);
        (id, name.to_owned())
    }
}

/// The partitions the request asks about, in request order, and those it forgets
/// (incremental sessions).
fn requested_partitions(
    image: &MetadataImage,
    request: &FetchRequest,
    uses_topic_ids: bool,
) -> (IndexMap<SessionKey, CachedPartition>, Vec<SessionKey>) {
    let mut requested = IndexMap::new();
    for topic in &request.topics {
        let (topic_id, name) = topic_key(image, uses_topic_ids, topic.topic_id, &topic.topic.0);
        for p in &topic.partitions {
            let key = SessionKey {
                topic_id,
                topic: name.clone(),
                partition: p.partition,
            };
            let cached = CachedPartition::new(
                p.fetch_offset,
                p.partition_max_bytes,
                p.current_leader_epoch,
            )
            .with_last_fetched_epoch(p.last_fetched_epoch)
            .with_fetcher_log_start_offset(p.log_start_offset);
            requested.insert(key, cached);
        }
    }
    let forgotten = request
        .forgotten_topics_data
        .iter()
        .flat_map(|t| {
            let (topic_id, name) = topic_key(image, uses_topic_ids, t.topic_id, &t.topic.0);
            t.partitions.iter().map(move |&partition| SessionKey {
                topic_id,
                topic: name.clone(),
                partition,
            })
        })
        .collect();
    (requested, forgotten)
}

/// The fetch session this request runs in and the partitions it reads.
struct FetchRound {
    /// The session id of the response (0: sessionless).
    id: i32,
    /// The epoch an incremental session must still expect when the response is built.
    epoch_after: Option<i32>,
    partitions: IndexMap<SessionKey, CachedPartition>,
}

/// KIP-227: a sessionless fetch reads what it names; a full fetch (epoch 0) may open a new
/// session; an incremental one reads its session's partitions updated by the request.
fn open_session(
    broker: &Broker,
    ctx: &RequestContext,
    request: &FetchRequest,
    uses_topic_ids: bool,
    requested: IndexMap<SessionKey, CachedPartition>,
    forgotten: &[SessionKey],
) -> Result<FetchRound, ApiError> {
    let sessions = &broker.fetch_sessions;
    let is_from_follower = if ctx.version >= 15 {
        request.replica_state.replica_id.0 >= 0
    } else {
        request.replica_id.0 >= 0
    };
    let now = std::time::Instant::now();
    let sessionless = |partitions| FetchRound {
        id: 0,
        epoch_after: None,
        partitions,
    };
    Ok(
        match SessionRequest::classify(sessions, request.session_id, request.session_epoch) {
            SessionRequest::Sessionless => sessionless(requested),
            SessionRequest::New => FetchRound {
                id: sessions
                    .create(now, is_from_follower, uses_topic_ids, requested.clone())
                    .unwrap_or(0),
                epoch_after: None,
                partitions: requested,
            },
            SessionRequest::Incremental { id, epoch } => {
                match sessions.begin_incremental(
                    now,
                    id,
                    epoch,
                    uses_topic_ids,
                    &requested,
                    forgotten,
                )? {
                    Incremental::Continue {
                        partitions,
                        epoch_after,
                    } => FetchRound {
                        id,
                        epoch_after: Some(epoch_after),
                        partitions,
                    },
                    Incremental::Closed => sessionless(requested),
                }
            }
        },
    )
}

/// Reads the targets, and while less than `min_bytes` arrived (and no partition failed or
/// names a preferred read replica), waits for an append or the request's deadline (at most
/// `MAX_WAIT_MS_CAP`) and reads again.
async fn long_poll(
    broker: &Broker,
    request: &FetchRequest,
    targets: Arc<Vec<ReadTarget>>,
    throttled: Arc<Vec<bool>>,
    preferred: Arc<Vec<Option<i32>>>,
    fetcher: Fetcher,
) -> Result<Vec<PartitionResult>, ApiError> {
    let max_bytes = request
        .max_bytes
        .clamp(0, broker.config.fetch_max_bytes.max(1)) as usize;
    let min_bytes = request.min_bytes.max(0) as usize;
    let max_wait = Duration::from_millis(request.max_wait_ms.clamp(0, MAX_WAIT_MS_CAP) as u64);
    let deadline = tokio::time::Instant::now() + max_wait;
    // Only the first read records a follower's position (as Kafka's: a read completing a
    // long poll does not), so a waiting follower keeps the caught-up time of its fetch.
    let mut first_round = true;
    // Bounded by the deadline: each round either returns or waits until an append or it.
    loop {
        let arrived = broker.replicas.data_arrived();
        tokio::pin!(arrived);
        arrived.as_mut().enable();
        let t = Arc::clone(&targets);
        let preferred = Arc::clone(&preferred);
        let update_follower = std::mem::take(&mut first_round);
        let exceeded = broker
            .replicas
            .quotas()
            .leader
            .is_exceeded(crate::types::now_ms());
        let withheld: Vec<bool> = throttled.iter().map(|t| *t && exceeded).collect();
        let results = tokio::task::spawn_blocking(move || {
            read_all(
                &t,
                &withheld,
                &preferred,
                max_bytes,
                fetcher,
                update_follower,
            )
        })
        .await
        .map_err(|e| ApiError::new(ResponseError::UnknownServerError, e.to_string()))?;
        let bytes: usize = results
            .iter()
            .map(|r| r.records.as_ref().map_or(0, |b| b.len()))
            .sum();
        let has_error = results.iter().any(|r| {
            r.error.is_some() || r.diverging_epoch.is_some() || r.preferred_read_replica.is_some()
        });
        if bytes >= min_bytes
            || has_error
            || max_wait.is_zero()
            || tokio::time::Instant::now() >= deadline
        {
            return Ok(results);
        }
        tokio::select! {
            _ = &mut arrived => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// Reports the round to its session (which partitions an incremental response carries:
/// those with news) and returns, per result, whether the response includes it.
fn close_round(
    broker: &Broker,
    round: &FetchRound,
    results: &[PartitionResult],
) -> Result<Vec<bool>, ApiError> {
    let all = vec![true; results.len()];
    if round.id == 0 {
        return Ok(all);
    }
    let reports: Vec<PartitionReport> = results
        .iter()
        .map(|r| PartitionReport {
            key: r.key.clone(),
            has_records: r.records.as_ref().is_some_and(|b| !b.is_empty()),
            error: r.error.is_some(),
            names_preferred_replica: r.preferred_read_replica.is_some(),
            high_watermark: r.high_watermark,
            last_stable_offset: r.last_stable_offset,
            log_start_offset: r.log_start_offset,
        })
        .collect();
    let flags = broker
        .fetch_sessions
        .finish(round.id, round.epoch_after, &reports)?;
    Ok(if round.epoch_after.is_some() {
        flags
    } else {
        all
    })
}

/// The response: the included results grouped by topic, in read order.
fn build_response(
    session_id: i32,
    results: Vec<PartitionResult>,
    included: &[bool],
    uses_topic_ids: bool,
    read_committed: bool,
) -> FetchResponse {
    let mut response = FetchResponse::default();
    response.session_id = session_id;
    for (r, _) in results
        .into_iter()
        .zip(included)
        .filter(|(_, included)| **included)
    {
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
            t.partitions.push(partition_data(r, read_committed));
        }
    }
    response
}

fn partition_data(r: PartitionResult, read_committed: bool) -> PartitionData {
    let mut pd = PartitionData::default();
    pd.partition_index = r.key.partition;
    pd.high_watermark = r.high_watermark;
    pd.last_stable_offset = r.last_stable_offset;
    pd.log_start_offset = r.log_start_offset;
    pd.preferred_read_replica = r.preferred_read_replica.unwrap_or(-1).into();
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
    if let Some((epoch, end_offset)) = r.diverging_epoch {
        pd.diverging_epoch.epoch = epoch;
        pd.diverging_epoch.end_offset = end_offset;
    }
    match r.error {
        Some(e) => pd.error_code = e.error_code(),
        None => pd.records = Some(r.records.unwrap_or_default()),
    }
    pd
}

fn resolve(
    broker: &Broker,
    key: &SessionKey,
    uses_topic_ids: bool,
    cached: &CachedPartition,
    fetcher: Fetcher,
) -> Result<Arc<Partition>, ApiError> {
    if key.topic.is_empty() && uses_topic_ids {
        return Err(ResponseError::UnknownTopicId.into());
    }
    let tp = TopicPartition::new(key.topic.clone(), key.partition);
    let from_follower_allowed = matches!(
        fetcher,
        Fetcher::Consumer {
            from_follower_allowed: true,
            ..
        }
    );
    let found = if from_follower_allowed {
        // KIP-392: a replica serves a consumer whether it leads or follows.
        broker.replicas.hosted_partition(&tp).and_then(|p| {
            if p.is_leader() || p.is_replica(broker.replicas.node_id()) {
                Ok(p)
            } else {
                Err(ApiError::new(
                    ResponseError::NotLeaderOrFollower,
                    format!(
                        "broker {} is not a replica of {tp}",
                        broker.replicas.node_id()
                    ),
                ))
            }
        })
    } else {
        broker.replicas.leader_partition(&tp)
    };
    let p = found.map_err(|e| {
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
    if let Fetcher::Follower { replica_id, .. } = fetcher {
        if !p.is_replica(replica_id) {
            // Kafka's `followerReplicaOrThrow`: with a leader epoch that matches ours the
            // follower may only be early (a reassignment adding it): UNKNOWN_LEADER_EPOCH
            // makes it retry; without one, NOT_LEADER_OR_FOLLOWER.
            let code = if cached.current_leader_epoch >= 0 {
                ResponseError::UnknownLeaderEpoch
            } else {
                ResponseError::NotLeaderOrFollower
            };
            return Err(ApiError::new(
                code,
                format!("broker {replica_id} is not a replica of {tp}"),
            ));
        }
    }
    Ok(p)
}

/// Fetch v12+ (Kafka's `readRecords`): where the fetcher's last fetched epoch ends in this
/// log; `Some((epoch, end_offset))` when the fetcher's log diverged from ours (our epoch is
/// older, or it ends before the fetch offset). An epoch this log cannot place is
/// OFFSET_OUT_OF_RANGE, as is a fetch offset below the log start.
fn diverging_epoch(
    p: &Partition,
    fetch_offset: i64,
    last_fetched_epoch: i32,
) -> Result<Option<(i32, i64)>, ApiError> {
    if last_fetched_epoch < 0 {
        return Ok(None);
    }
    let (epoch, end_offset) = p.log.leader_epoch_end_offset(last_fetched_epoch);
    if epoch < 0 || end_offset < 0 {
        return Err(ApiError::new(
            ResponseError::OffsetOutOfRange,
            format!(
                "the end offset of the last fetched epoch {last_fetched_epoch} is unknown to {}",
                p.tp
            ),
        ));
    }
    let log_start_offset = p.log.log_start_offset();
    if fetch_offset < log_start_offset {
        return Err(ApiError::new(
            ResponseError::OffsetOutOfRange,
            format!(
                "offset {fetch_offset} of {} is below the log start {log_start_offset}",
                p.tp
            ),
        ));
    }
    Ok((epoch < last_fetched_epoch || end_offset < fetch_offset).then_some((epoch, end_offset)))
}

/// Reads every target within the response byte budget (blocking; runs on the blocking pool).
/// The first batch of the first partition with data is returned whole even when larger than
/// the limits (KIP-74), so a consumer always makes progress. A follower's read (with
/// `update_follower`) records its fetch offset as its log end offset, unless its log
/// diverged.
/// Reads every target; `withheld` partitions (throttled) return no records but still
/// record the follower's position; a partition with a `preferred` read replica is not read.
fn read_all(
    targets: &[ReadTarget],
    withheld: &[bool],
    preferred: &[Option<i32>],
    max_bytes: usize,
    fetcher: Fetcher,
    update_follower: bool,
) -> Vec<PartitionResult> {
    let mut remaining = max_bytes;
    let mut got_data = false;
    let now = crate::types::now_ms();
    targets
        .iter()
        .zip(withheld)
        .zip(preferred)
        .enumerate()
        .map(
            |(index, (((key, cached, resolved), withheld), preferred))| {
                let mut r = PartitionResult {
                    key: key.clone(),
                    error: None,
                    high_watermark: -1,
                    last_stable_offset: -1,
                    log_start_offset: -1,
                    records: None,
                    file: None,
                    aborted_transactions: None,
                    diverging_epoch: None,
                    preferred_read_replica: None,
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
                if preferred.is_some() {
                    r.preferred_read_replica = *preferred;
                    r.records = Some(bytes::Bytes::new());
                    return r;
                }
                // The log end before the read: appends after it do not keep a follower from
                // counting as caught up.
                let log_end_offset = p.log.log_end_offset();
                match diverging_epoch(p, cached.fetch_offset, cached.last_fetched_epoch) {
                    Err(e) => {
                        r.error = Some(e);
                        return r;
                    }
                    Ok(Some(diverging)) => {
                        r.diverging_epoch = Some(diverging);
                        r.records = Some(bytes::Bytes::new());
                        return r;
                    }
                    Ok(None) => {}
                }
                let limit = if *withheld {
                    0
                } else {
                    remaining.min(cached.partition_max_bytes.max(0) as usize)
                };
                match ReplicaManager::read(
                    p,
                    cached.fetch_offset,
                    limit,
                    fetcher.isolation(),
                    !got_data && !*withheld,
                    Some(SPLICE_MIN_BYTES),
                ) {
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
                        match in_response(index, data.records) {
                            Ok((records, file)) => {
                                r.records = Some(records);
                                r.file = file;
                            }
                            Err(e) => {
                                r.error = Some(e.into());
                                return r;
                            }
                        }
                    }
                    Err(e) => {
                        r.error = Some(e.into());
                        return r;
                    }
                }
                if let (
                    Fetcher::Follower {
                        replica_id,
                        broker_epoch,
                    },
                    true,
                ) = (fetcher, update_follower)
                {
                    if let Err(e) = p.update_follower_fetch(
                        replica_id,
                        broker_epoch,
                        cached.fetch_offset,
                        cached.fetcher_log_start_offset,
                        log_end_offset,
                        now,
                    ) {
                        r.error = Some(e);
                        r.records = None;
                        r.file = None;
                    }
                }
                r
            },
        )
        .collect()
}

/// A read's records as the `index`-th partition of the response carries them: bytes in
/// memory, or a file slice's placeholder and the slice (read into memory here, on the
/// blocking pool, when no placeholder can stand for it).
fn in_response(
    index: usize,
    records: Records,
) -> Result<(bytes::Bytes, Option<FileRecords>), crate::log::LogError> {
    match records {
        Records::Memory(bytes) => Ok((bytes, None)),
        Records::File(slice) => match crate::frame::placeholder(index, &slice) {
            Some(file) => Ok((file.placeholder.clone(), Some(file))),
            None => Ok((slice.read()?, None)),
        },
    }
}
