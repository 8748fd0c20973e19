//! Incremental fetch sessions (KIP-227): the broker remembers a fetcher's partition set and
//! fetch offsets, so that later requests carry only changes (partitions whose offset moved,
//! added or forgotten ones) and responses only partitions with news (records, a moved high
//! watermark, last stable or log start offset, an error).
//!
//! As Kafka's `FetchManager`/`FetchSessionCache`:
//! - epoch 0 or -1 is a full request: it closes the session it names; epoch 0 opens a new
//!   one (if a slot can be had), -1 does not. Any other epoch is incremental and must be the
//!   session's next epoch (else INVALID_FETCH_SESSION_EPOCH, the session stays); an unknown
//!   id (0 included) is FETCH_SESSION_ID_NOT_FOUND; a request whose version disagrees with
//!   the session on topic ids (v13+) is FETCH_SESSION_TOPIC_ID_ERROR.
//! - an incremental request that leaves the session without partitions closes it and is
//!   answered without a session.
//! - a partition that returned records in an incremental response moves to the back of the
//!   session, so that partitions take turns when the response's byte limit is reached.
//! - bounded by `max.incremental.fetch.session.cache.slots`; when full, a new session may
//!   evict (1) the least recently used session if unused for more than [`EVICTION_MS`], else
//!   (2) the least valuable evictable session — ordered by (privileged, partition count, id),
//!   evicted only if the newcomer is more valuable — where a session is evictable by any
//!   newcomer once older than [`EVICTION_MS`] and by a follower's (privileged) newcomer also
//!   while young if it is a consumer's; both as of the session's last use. Otherwise no
//!   session is created and the fetch is answered without one. Kafka splits the cache into
//!   8 shards (each with an eighth of the slots) to spread lock contention; here one cache
//!   holds them all under one lock.
//!
//! Cost: creating a session in a full cache scans all sessions (at most the slot count);
//! every other operation touches one session.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use uuid::Uuid;

use crate::error::{ApiError, ResponseError};

/// How long a session must be unused to be stale, and how old (since creation) before a
/// bigger session may evict it: Kafka's `MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS`.
pub(crate) const EVICTION_MS: u64 = 120_000;

/// Identifies a partition inside a session: by topic id (v13+) or by name (older).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SessionKey {
    pub topic_id: Uuid,
    pub topic: String,
    pub partition: i32,
}

/// What the client asked for and what we last told it about one partition.
#[derive(Debug, Clone)]
pub(crate) struct CachedPartition {
    pub fetch_offset: i64,
    pub partition_max_bytes: i32,
    pub current_leader_epoch: i32,
    /// The epoch of the last batch the fetcher has (Fetch v12+; -1 = none): the leader
    /// answers a diverging epoch when its log disagrees.
    pub last_fetched_epoch: i32,
    /// The fetcher's own log start offset (a follower's; -1 from a consumer): the leader
    /// sends a consumer to a follower only if that follower still holds the fetch offset.
    pub fetcher_log_start_offset: i64,
    pub sent_high_watermark: i64,
    pub sent_last_stable_offset: i64,
    pub sent_log_start_offset: i64,
}

impl CachedPartition {
    pub(crate) fn new(
        fetch_offset: i64,
        partition_max_bytes: i32,
        current_leader_epoch: i32,
    ) -> Self {
        Self {
            fetch_offset,
            partition_max_bytes,
            current_leader_epoch,
            last_fetched_epoch: -1,
            fetcher_log_start_offset: -1,
            sent_high_watermark: -1,
            sent_last_stable_offset: -1,
            sent_log_start_offset: -1,
        }
    }

    /// With the request's `last_fetched_epoch`.
    pub(crate) fn with_last_fetched_epoch(mut self, last_fetched_epoch: i32) -> Self {
        self.last_fetched_epoch = last_fetched_epoch;
        self
    }

    /// With the request's `log_start_offset` (the fetcher's).
    pub(crate) fn with_fetcher_log_start_offset(mut self, log_start_offset: i64) -> Self {
        self.fetcher_log_start_offset = log_start_offset;
        self
    }

    /// Records what a response is about to report; returns whether an incremental response
    /// must include this partition (new records, an error, a preferred read replica, or
    /// changed offsets). After an error the remembered high watermark is -1, so the
    /// partition is reported again once the error is gone (as Kafka does).
    pub(crate) fn note_response(&mut self, report: &PartitionReport) -> bool {
        let changed = report.has_records
            || report.error
            || report.names_preferred_replica
            || report.high_watermark != self.sent_high_watermark
            || report.last_stable_offset != self.sent_last_stable_offset
            || report.log_start_offset != self.sent_log_start_offset;
        self.sent_high_watermark = if report.error {
            -1
        } else {
            report.high_watermark
        };
        self.sent_last_stable_offset = report.last_stable_offset;
        self.sent_log_start_offset = report.log_start_offset;
        changed
    }
}

/// What a response says about one partition of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartitionReport {
    pub key: SessionKey,
    pub has_records: bool,
    pub error: bool,
    /// The response names a preferred read replica (KIP-392): always included, as Kafka.
    pub names_preferred_replica: bool,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
}

pub(crate) struct FetchSession {
    pub id: i32,
    /// Opened by a follower (replica id ≥ 0): harder to evict.
    privileged: bool,
    /// Opened with a v13+ request (partitions by topic id).
    uses_topic_ids: bool,
    /// The epoch the next incremental request must carry.
    pub next_epoch: i32,
    /// The partitions in fetch order.
    pub partitions: IndexMap<SessionKey, CachedPartition>,
    created: Instant,
    last_used: Instant,
    /// The partition count and the evictable flags as of the last use (Kafka's cached size
    /// and evictable sets are also updated only then).
    size_at_last_use: usize,
    evictable_by_all: bool,
    evictable_by_privileged: bool,
}

impl FetchSession {
    /// Notes a use at `now`: recency, size and the evictable flags.
    fn touch(&mut self, now: Instant) {
        let eviction = Duration::from_millis(EVICTION_MS);
        let old = now.saturating_duration_since(self.created) > eviction;
        self.last_used = now;
        self.size_at_last_use = self.partitions.len();
        self.evictable_by_all = old;
        self.evictable_by_privileged = !self.privileged || old;
    }

    /// Eviction order: the smallest key goes first.
    fn evictable_key(&self) -> (bool, usize, i32) {
        (self.privileged, self.size_at_last_use, self.id)
    }
}

/// Kafka's `FetchMetadata.nextEpoch`: wraps from `i32::MAX` to 1.
fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}

pub(crate) struct FetchSessionCache {
    max_slots: usize,
    inner: Mutex<Inner>,
}

struct Inner {
    sessions: HashMap<i32, FetchSession>,
    next_id: i32,
}

/// How a fetch request relates to sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionRequest {
    /// Epoch -1 (a full request that wants no session).
    Sessionless,
    /// Epoch 0: a full request that opens a new session.
    New,
    /// Any other epoch: an incremental request of session `id`.
    Incremental { id: i32, epoch: i32 },
}

impl SessionRequest {
    /// Classifies (session id, epoch); a full request closes the session it names.
    pub(crate) fn classify(cache: &FetchSessionCache, session_id: i32, epoch: i32) -> Self {
        match epoch {
            -1 | 0 => {
                if session_id != 0 {
                    cache.remove(session_id);
                }
                if epoch == 0 {
                    SessionRequest::New
                } else {
                    SessionRequest::Sessionless
                }
            }
            epoch => SessionRequest::Incremental {
                id: session_id,
                epoch,
            },
        }
    }
}

/// The outcome of an incremental request's changes to its session.
#[derive(Debug)]
pub(crate) enum Incremental {
    /// The partitions to read (in the session's order); the response is checked against
    /// `epoch_after` (the epoch the session expects next).
    Continue {
        partitions: IndexMap<SessionKey, CachedPartition>,
        epoch_after: i32,
    },
    /// The request left the session without partitions: it was closed, and the request is
    /// answered without a session for the partitions it named.
    Closed,
}

impl FetchSessionCache {
    pub(crate) fn new(max_slots: usize) -> Self {
        let seed = (Uuid::new_v4().as_u128() as u32 & 0x3fff_ffff) as i32;
        Self {
            max_slots,
            inner: Mutex::new(Inner {
                sessions: HashMap::new(),
                next_id: seed.max(1),
            }),
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, ApiError> {
        self.inner.lock().map_err(|_| {
            ApiError::new(
                ResponseError::UnknownServerError,
                "fetch session cache poisoned",
            )
        })
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().map(|i| i.sessions.len()).unwrap_or(0)
    }

    pub(crate) fn remove(&self, id: i32) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.sessions.remove(&id);
        }
    }

    /// Creates a session holding `partitions` at `now`, evicting another if the cache is
    /// full and one may be evicted (see the module header); `None` when no slot can be had.
    pub(crate) fn create(
        &self,
        now: Instant,
        privileged: bool,
        uses_topic_ids: bool,
        partitions: IndexMap<SessionKey, CachedPartition>,
    ) -> Option<i32> {
        let mut inner = self.inner.lock().ok()?;
        if inner.sessions.len() >= self.max_slots
            && !inner.try_evict(now, privileged, partitions.len())
        {
            return None;
        }
        let mut id = inner.next_id;
        // Bounded probe for a free id (ids wrap within positive i32).
        for _ in 0..1024 {
            if id <= 0 {
                id = 1;
            }
            if !inner.sessions.contains_key(&id) {
                break;
            }
            id = id.wrapping_add(1);
        }
        if id <= 0 || inner.sessions.contains_key(&id) {
            return None;
        }
        inner.next_id = id.wrapping_add(1);
        let mut session = FetchSession {
            id,
            privileged,
            uses_topic_ids,
            next_epoch: 1,
            partitions,
            created: now,
            last_used: now,
            size_at_last_use: 0,
            evictable_by_all: false,
            evictable_by_privileged: false,
        };
        session.touch(now);
        inner.sessions.insert(id, session);
        Some(id)
    }

    /// Applies an incremental request to session `id` at `now`: checks the epoch and the
    /// topic-id usage, updates the fetch parameters of the partitions the request names
    /// (adding new ones at the back), drops the forgotten ones, and advances the epoch.
    pub(crate) fn begin_incremental(
        &self,
        now: Instant,
        id: i32,
        epoch: i32,
        uses_topic_ids: bool,
        requested: &IndexMap<SessionKey, CachedPartition>,
        forgotten: &[SessionKey],
    ) -> Result<Incremental, ApiError> {
        let mut inner = self.lock()?;
        let session = inner
            .sessions
            .get_mut(&id)
            .ok_or_else(|| ApiError::code_only(ResponseError::FetchSessionIdNotFound))?;
        if session.next_epoch != epoch {
            return Err(ApiError::new(
                ResponseError::InvalidFetchSessionEpoch,
                format!("expected epoch {}, got {epoch}", session.next_epoch),
            ));
        }
        if session.uses_topic_ids != uses_topic_ids {
            return Err(ApiError::code_only(ResponseError::FetchSessionTopicIdError));
        }
        for (key, p) in requested {
            match session.partitions.get_mut(key) {
                Some(existing) => {
                    existing.fetch_offset = p.fetch_offset;
                    existing.partition_max_bytes = p.partition_max_bytes;
                    existing.current_leader_epoch = p.current_leader_epoch;
                    existing.last_fetched_epoch = p.last_fetched_epoch;
                    existing.fetcher_log_start_offset = p.fetcher_log_start_offset;
                }
                None => {
                    session.partitions.insert(key.clone(), p.clone());
                }
            }
        }
        for key in forgotten {
            session.partitions.shift_remove(key);
        }
        if session.partitions.is_empty() {
            inner.sessions.remove(&id);
            return Ok(Incremental::Closed);
        }
        session.touch(now);
        session.next_epoch = next_epoch(session.next_epoch);
        Ok(Incremental::Continue {
            partitions: session.partitions.clone(),
            epoch_after: session.next_epoch,
        })
    }

    /// Records what a response of session `id` reports; returns per report whether an
    /// incremental response must include it. With `epoch_after` (incremental requests) the
    /// session must still expect that epoch — else another request of the session ran
    /// meanwhile, and this one is answered INVALID_FETCH_SESSION_EPOCH, as in Kafka —, and
    /// partitions that returned records move to the back of the session. A session evicted
    /// meanwhile reports everything.
    pub(crate) fn finish(
        &self,
        id: i32,
        epoch_after: Option<i32>,
        reports: &[PartitionReport],
    ) -> Result<Vec<bool>, ApiError> {
        let mut inner = self.lock()?;
        let Some(session) = inner.sessions.get_mut(&id) else {
            return Ok(vec![true; reports.len()]);
        };
        if let Some(expected) = epoch_after {
            if session.next_epoch != expected {
                return Err(ApiError::new(
                    ResponseError::InvalidFetchSessionEpoch,
                    format!(
                        "session {id} moved on to epoch {} while this request ran",
                        session.next_epoch
                    ),
                ));
            }
        }
        let mut include = Vec::with_capacity(reports.len());
        let mut with_records = Vec::new();
        for report in reports {
            let changed = match session.partitions.get_mut(&report.key) {
                Some(cached) => cached.note_response(report),
                None => true,
            };
            include.push(changed);
            if report.has_records {
                with_records.push(report.key.clone());
            }
        }
        if epoch_after.is_some() && !with_records.is_empty() {
            // One pass: the others keep their order, those with records follow in theirs.
            let mut moved = IndexMap::with_capacity(with_records.len());
            for key in &with_records {
                if let Some(p) = session.partitions.shift_remove(key) {
                    moved.insert(key.clone(), p);
                }
            }
            session.partitions.extend(moved);
        }
        Ok(include)
    }
}

impl Inner {
    /// Makes room for a session of `size` partitions (`privileged` if a follower's) at
    /// `now`; true if a session was evicted.
    fn try_evict(&mut self, now: Instant, privileged: bool, size: usize) -> bool {
        let eviction = Duration::from_millis(EVICTION_MS);
        let Some(stale) = self
            .sessions
            .values()
            .min_by_key(|s| (s.last_used, s.id))
            .map(|s| (s.id, s.last_used))
        else {
            return false;
        };
        if now.saturating_duration_since(stale.1) > eviction {
            self.sessions.remove(&stale.0);
            return true;
        }
        let victim = self
            .sessions
            .values()
            .filter(|s| {
                if privileged {
                    s.evictable_by_privileged
                } else {
                    s.evictable_by_all
                }
            })
            .map(FetchSession::evictable_key)
            .min();
        // The newcomer's key has id 0 (below every session's), so an equal (privileged,
        // size) never evicts.
        match victim {
            Some(key) if (privileged, size, 0) >= key => {
                self.sessions.remove(&key.2);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: i32) -> SessionKey {
        SessionKey {
            topic_id: Uuid::nil(),
            topic: "t".into(),
            partition: p,
        }
    }

    fn parts(n: i32) -> IndexMap<SessionKey, CachedPartition> {
        (0..n)
            .map(|p| (key(p), CachedPartition::new(0, 1024, -1)))
            .collect()
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn report(p: i32, has_records: bool, error: bool, hw: i64) -> PartitionReport {
        PartitionReport {
            key: key(p),
            has_records,
            error,
            names_preferred_replica: false,
            high_watermark: hw,
            last_stable_offset: hw,
            log_start_offset: 0,
        }
    }

    /// An incremental request of session `id` at `now` naming nothing; the epoch it used.
    fn touch(cache: &FetchSessionCache, now: Instant, id: i32) {
        let epoch = cache
            .lock()
            .expect("lock")
            .sessions
            .get(&id)
            .map(|s| s.next_epoch)
            .unwrap_or_else(|| panic!("session {id} is gone"));
        cache
            .begin_incremental(now, id, epoch, false, &IndexMap::new(), &[])
            .unwrap_or_else(|e| panic!("incremental request of session {id}: {e}"));
    }

    fn ids(cache: &FetchSessionCache) -> Vec<i32> {
        let mut ids: Vec<i32> = cache
            .lock()
            .expect("lock")
            .sessions
            .keys()
            .copied()
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn session_epochs_must_follow_in_order() {
        let cache = FetchSessionCache::new(10);
        let now = Instant::now();
        let id = cache
            .create(now, false, false, parts(1))
            .expect("a slot is free");
        let none = IndexMap::new();
        let go = |epoch| cache.begin_incremental(now, id, epoch, false, &none, &[]);
        assert!(go(1).is_ok());
        let err = go(1).expect_err("epoch 1 reused");
        assert_eq!(err.code, ResponseError::InvalidFetchSessionEpoch);
        assert!(go(2).is_ok(), "the session survives an epoch error");
        let err = cache
            .begin_incremental(now, id, 3, true, &none, &[])
            .expect_err("topic ids in a names session");
        assert_eq!(err.code, ResponseError::FetchSessionTopicIdError);
        assert!(go(3).is_ok(), "a topic-id error does not use up the epoch");
        let err = cache
            .begin_incremental(now, id + 1, 1, false, &none, &[])
            .expect_err("unknown session");
        assert_eq!(err.code, ResponseError::FetchSessionIdNotFound);
        assert_eq!(next_epoch(i32::MAX), 1, "epochs wrap to 1");
    }

    #[test]
    fn a_response_is_refused_when_the_session_moved_on_meanwhile() {
        let cache = FetchSessionCache::new(10);
        let now = Instant::now();
        let id = cache.create(now, false, false, parts(1)).expect("slot");
        let none = IndexMap::new();
        let Ok(Incremental::Continue { epoch_after, .. }) =
            cache.begin_incremental(now, id, 1, false, &none, &[])
        else {
            panic!("epoch 1 refused");
        };
        assert_eq!(epoch_after, 2);
        // a second request (epoch 2) of the same session overtakes the first
        cache
            .begin_incremental(now, id, 2, false, &none, &[])
            .expect("epoch 2");
        let err = cache
            .finish(id, Some(epoch_after), &[report(0, false, false, 0)])
            .expect_err("the first request's response after the session moved on");
        assert_eq!(err.code, ResponseError::InvalidFetchSessionEpoch);
        assert!(cache.finish(id, Some(3), &[]).is_ok());
    }

    #[test]
    fn a_full_cache_of_recent_sessions_refuses_new_ones_whatever_their_size() {
        let cache = FetchSessionCache::new(2);
        let t0 = Instant::now();
        assert!(cache.create(t0, false, false, parts(1)).is_some());
        assert!(cache.create(t0, false, false, parts(1)).is_some());
        assert!(
            cache
                .create(t0 + secs(60), false, false, parts(50))
                .is_none(),
            "a bigger session evicted one younger than 120 s"
        );
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn a_stale_session_is_evicted_first_least_recently_used_first() {
        let cache = FetchSessionCache::new(3);
        let t0 = Instant::now();
        let a = cache.create(t0, false, false, parts(10)).expect("a");
        let b = cache.create(t0, false, false, parts(1)).expect("b");
        let c = cache.create(t0, false, false, parts(1)).expect("c");
        // a used at 10 s, b at 20 s, c at 130 s: at 141 s a and b are stale (unused > 120 s)
        touch(&cache, t0 + secs(10), a);
        touch(&cache, t0 + secs(20), b);
        touch(&cache, t0 + secs(130), c);
        let d = cache
            .create(t0 + secs(141), false, false, parts(1))
            .expect("room by evicting the least recently used stale session");
        assert_eq!(
            ids(&cache),
            {
                let mut v = vec![b, c, d];
                v.sort();
                v
            },
            "a (least recently used, though the biggest) must be the one evicted"
        );
        let e = cache
            .create(t0 + secs(141), false, false, parts(1))
            .expect("b is stale too");
        assert!(!ids(&cache).contains(&b), "b evicted next");
        assert!(ids(&cache).contains(&e));
        assert!(
            cache
                .create(t0 + secs(141), false, false, parts(1))
                .is_none(),
            "no stale session left, and the others are small or young"
        );
    }

    #[test]
    fn without_stale_sessions_a_bigger_one_evicts_the_smallest_old_one() {
        let cache = FetchSessionCache::new(3);
        let t0 = Instant::now();
        let small = cache.create(t0, false, false, parts(2)).expect("small");
        let medium = cache.create(t0, false, false, parts(5)).expect("medium");
        let young = cache
            .create(t0 + secs(100), false, false, parts(1))
            .expect("young");
        // All used at 200 s: small and medium are then older than 120 s (evictable), young
        // (created at 100 s) is not.
        for id in [small, medium, young] {
            touch(&cache, t0 + secs(200), id);
        }
        let now = t0 + secs(210);
        assert!(
            cache.create(now, false, false, parts(2)).is_none(),
            "an equal size (2 vs the smallest old session's 2) must not evict"
        );
        let big = cache
            .create(now, false, false, parts(3))
            .expect("3 > 2 evicts");
        let left = ids(&cache);
        assert!(!left.contains(&small), "the smallest old session goes");
        assert!(left.contains(&young), "the young 1-partition session stays");
        assert!(left.contains(&medium) && left.contains(&big));
        assert!(
            cache.create(now, false, false, parts(4)).is_none(),
            "4 partitions cannot evict the 5-partition old session (big is young)"
        );
    }

    #[test]
    fn evictability_is_judged_as_of_the_last_use() {
        let cache = FetchSessionCache::new(1);
        let t0 = Instant::now();
        let old = cache.create(t0, false, false, parts(1)).expect("old");
        // Last used at 100 s (younger than 120 s then); at 200 s it is 200 s old but, unused
        // since 100 s, not yet stale and still not evictable by size.
        touch(&cache, t0 + secs(100), old);
        assert!(cache
            .create(t0 + secs(200), false, false, parts(9))
            .is_none());
        // Used again at 201 s it becomes evictable by a bigger session.
        touch(&cache, t0 + secs(201), old);
        assert!(cache
            .create(t0 + secs(202), false, false, parts(9))
            .is_some());
        assert!(!ids(&cache).contains(&old));
    }

    #[test]
    fn a_followers_session_evicts_consumers_first_and_is_itself_hard_to_evict() {
        let cache = FetchSessionCache::new(2);
        let t0 = Instant::now();
        let consumer = cache.create(t0, false, false, parts(50)).expect("consumer");
        let follower = cache.create(t0, true, false, parts(1)).expect("follower");
        // A follower's session evicts a young consumer's session of any size.
        let follower2 = cache
            .create(t0 + secs(1), true, false, parts(1))
            .expect("a privileged newcomer evicts an unprivileged session");
        assert_eq!(ids(&cache), {
            let mut v = vec![follower, follower2];
            v.sort();
            v
        });
        assert!(!ids(&cache).contains(&consumer));
        // Young followers' sessions are evictable by nobody; consumers cannot evict them.
        assert!(cache.create(t0 + secs(2), true, false, parts(9)).is_none());
        assert!(cache.create(t0 + secs(2), false, false, parts(9)).is_none());
        // Once old (as of a use), a bigger follower's session evicts the smaller one, but a
        // consumer's (unprivileged ranks below privileged) still cannot.
        touch(&cache, t0 + secs(130), follower);
        touch(&cache, t0 + secs(130), follower2);
        assert!(cache
            .create(t0 + secs(131), false, false, parts(99))
            .is_none());
        assert!(cache
            .create(t0 + secs(131), true, false, parts(2))
            .is_some());
    }

    #[test]
    fn emptying_a_session_closes_it() {
        let cache = FetchSessionCache::new(10);
        let now = Instant::now();
        let id = cache.create(now, false, false, parts(2)).expect("slot");
        let none = IndexMap::new();
        let r = cache
            .begin_incremental(now, id, 1, false, &none, &[key(0)])
            .expect("forget one");
        assert!(matches!(r, Incremental::Continue { ref partitions, .. } if partitions.len() == 1));
        let r = cache
            .begin_incremental(now, id, 2, false, &none, &[key(1)])
            .expect("forget the last");
        assert!(matches!(r, Incremental::Closed), "{r:?}");
        assert_eq!(cache.len(), 0, "the emptied session must be removed");
    }

    #[test]
    fn partitions_with_records_move_to_the_back_in_incremental_responses() {
        let cache = FetchSessionCache::new(10);
        let now = Instant::now();
        let id = cache.create(now, false, false, parts(4)).expect("slot");
        let order = |cache: &FetchSessionCache| -> Vec<i32> {
            cache.lock().expect("lock").sessions[&id]
                .partitions
                .keys()
                .map(|k| k.partition)
                .collect()
        };
        // a full response keeps the request's order
        cache
            .finish(
                id,
                None,
                &[report(0, true, false, 5), report(1, false, false, 5)],
            )
            .expect("full");
        assert_eq!(order(&cache), vec![0, 1, 2, 3]);
        let reports = [
            report(0, true, false, 5),
            report(1, false, false, 5),
            report(2, true, false, 5),
            report(3, false, false, 5),
        ];
        cache.finish(id, Some(1), &reports).expect("incremental");
        assert_eq!(order(&cache), vec![1, 3, 0, 2], "0 and 2 returned records");
    }

    #[test]
    fn incremental_inclusion_tracks_changes_and_errors() {
        let mut p = CachedPartition::new(0, 100, -1);
        let r = |has_records, error, hw, log_start| PartitionReport {
            key: key(0),
            has_records,
            error,
            names_preferred_replica: false,
            high_watermark: hw,
            last_stable_offset: hw,
            log_start_offset: log_start,
        };
        assert!(
            p.note_response(&r(false, false, 5, 0)),
            "first report always included"
        );
        assert!(!p.note_response(&r(false, false, 5, 0)), "nothing changed");
        assert!(
            p.note_response(&r(false, false, 6, 0)),
            "high watermark moved"
        );
        assert!(p.note_response(&r(true, false, 6, 0)), "records returned");
        assert!(p.note_response(&r(false, false, 6, 2)), "log start moved");
        assert!(
            p.note_response(&r(false, true, 6, 2)),
            "an error is always included"
        );
        assert!(
            p.note_response(&r(false, false, 6, 2)),
            "the first answer after an error is included even with the old offsets"
        );
        assert!(!p.note_response(&r(false, false, 6, 2)));
    }
}
