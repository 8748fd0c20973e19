//! Incremental fetch sessions (KIP-227): the broker remembers a consumer's partition set
//! so that later requests carry only changes and responses only partitions with news.
//!
//! Bounded: at most `max.incremental.fetch.session.cache.slots` sessions; when full, the
//! least recently used session older than `EVICTION_IDLE_MS` is evicted, otherwise the new
//! session is not created (the client then fetches without a session, as Kafka allows).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use uuid::Uuid;

use crate::error::{ApiError, ResponseError};

/// A session older than this without use may be evicted to make room.
const EVICTION_IDLE_MS: u64 = 30_000;

/// Identifies a partition inside a session: by topic id (v13+) or by name (older).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    pub topic_id: Uuid,
    pub topic: String,
    pub partition: i32,
}

/// What the client asked for and what we last told it about one partition.
#[derive(Debug, Clone)]
pub struct CachedPartition {
    pub fetch_offset: i64,
    pub partition_max_bytes: i32,
    pub current_leader_epoch: i32,
    pub sent_high_watermark: i64,
    pub sent_last_stable_offset: i64,
    pub sent_log_start_offset: i64,
}

impl CachedPartition {
    pub fn new(fetch_offset: i64, partition_max_bytes: i32, current_leader_epoch: i32) -> Self {
        Self {
            fetch_offset,
            partition_max_bytes,
            current_leader_epoch,
            sent_high_watermark: -1,
            sent_last_stable_offset: -1,
            sent_log_start_offset: -1,
        }
    }

    /// Records what a response is about to report; returns whether an incremental response
    /// must include this partition (new records, an error, or changed offsets).
    pub fn note_response(
        &mut self,
        has_records: bool,
        error: bool,
        hw: i64,
        lso: i64,
        log_start: i64,
    ) -> bool {
        let changed = has_records
            || error
            || hw != self.sent_high_watermark
            || lso != self.sent_last_stable_offset
            || log_start != self.sent_log_start_offset;
        self.sent_high_watermark = hw;
        self.sent_last_stable_offset = lso;
        self.sent_log_start_offset = log_start;
        changed
    }
}

pub struct FetchSession {
    pub id: i32,
    /// The epoch the next incremental request must carry.
    pub next_epoch: i32,
    pub partitions: IndexMap<SessionKey, CachedPartition>,
    last_used: Instant,
}

pub struct FetchSessionCache {
    max_slots: usize,
    inner: Mutex<Inner>,
}

struct Inner {
    sessions: HashMap<i32, FetchSession>,
    next_id: i32,
}

/// How a fetch request relates to sessions.
pub enum SessionRequest {
    /// session_id 0, epoch -1 (or a close request): no session.
    Sessionless,
    /// epoch 0: start a new full session.
    New,
    /// session_id > 0, epoch > 0.
    Incremental { id: i32, epoch: i32 },
}

impl SessionRequest {
    /// Classifies (session_id, epoch); closes a session when the client asks to.
    pub fn classify(
        cache: &FetchSessionCache,
        session_id: i32,
        epoch: i32,
    ) -> Result<Self, ApiError> {
        match (session_id, epoch) {
            (0, -1) => Ok(SessionRequest::Sessionless),
            (0, 0) => Ok(SessionRequest::New),
            (0, _) => Err(ApiError::new(
                ResponseError::InvalidFetchSessionEpoch,
                "no session id but epoch > 0",
            )),
            (id, -1) => {
                cache.remove(id);
                Ok(SessionRequest::Sessionless)
            }
            (id, 0) => {
                cache.remove(id);
                Ok(SessionRequest::New)
            }
            (id, e) => Ok(SessionRequest::Incremental { id, epoch: e }),
        }
    }
}

impl FetchSessionCache {
    pub fn new(max_slots: usize) -> Self {
        let seed = (Uuid::new_v4().as_u128() as u32 & 0x3fff_ffff) as i32;
        Self {
            max_slots,
            inner: Mutex::new(Inner {
                sessions: HashMap::new(),
                next_id: seed.max(1),
            }),
        }
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.sessions.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn remove(&self, id: i32) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.sessions.remove(&id);
        }
    }

    /// Creates a session holding `partitions`; `None` when no slot can be had.
    pub fn create(&self, partitions: IndexMap<SessionKey, CachedPartition>) -> Option<i32> {
        let mut inner = self.inner.lock().ok()?;
        if inner.sessions.len() >= self.max_slots {
            let idle = Duration::from_millis(EVICTION_IDLE_MS);
            let victim = inner
                .sessions
                .values()
                .filter(|s| s.last_used.elapsed() >= idle)
                .min_by_key(|s| s.last_used)
                .map(|s| s.id)?;
            inner.sessions.remove(&victim);
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
        if inner.sessions.contains_key(&id) {
            return None;
        }
        inner.next_id = id.wrapping_add(1);
        inner.sessions.insert(
            id,
            FetchSession {
                id,
                next_epoch: 1,
                partitions,
                last_used: Instant::now(),
            },
        );
        Some(id)
    }

    /// Runs `f` on session `id` after checking the epoch; advances the expected epoch.
    pub fn with_session<R>(
        &self,
        id: i32,
        epoch: i32,
        f: impl FnOnce(&mut FetchSession) -> R,
    ) -> Result<R, ApiError> {
        let mut inner = self.inner.lock().map_err(|_| {
            ApiError::new(
                ResponseError::UnknownServerError,
                "fetch session cache poisoned",
            )
        })?;
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
        session.next_epoch = if session.next_epoch == i32::MAX {
            1
        } else {
            session.next_epoch + 1
        };
        session.last_used = Instant::now();
        Ok(f(session))
    }

    /// Updates the cached partitions of session `id` (after a response was built) without
    /// touching the epoch.
    pub fn update(&self, id: i32, f: impl FnOnce(&mut FetchSession)) {
        if let Ok(mut inner) = self.inner.lock() {
            if let Some(s) = inner.sessions.get_mut(&id) {
                f(s);
            }
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

    #[test]
    fn session_epochs_must_follow_in_order() {
        let cache = FetchSessionCache::new(10);
        let mut parts = IndexMap::new();
        parts.insert(key(0), CachedPartition::new(0, 1024, -1));
        let id = cache.create(parts).expect("a slot is free");
        assert!(cache.with_session(id, 1, |_| ()).is_ok());
        let err = cache
            .with_session(id, 1, |_| ())
            .expect_err("epoch 1 reused");
        assert_eq!(err.code, ResponseError::InvalidFetchSessionEpoch);
        assert!(cache.with_session(id, 2, |_| ()).is_ok());
        let err = cache
            .with_session(id + 1, 1, |_| ())
            .expect_err("unknown session");
        assert_eq!(err.code, ResponseError::FetchSessionIdNotFound);
    }

    #[test]
    fn full_cache_refuses_new_sessions_while_all_are_recent() {
        let cache = FetchSessionCache::new(2);
        assert!(cache.create(IndexMap::new()).is_some());
        assert!(cache.create(IndexMap::new()).is_some());
        assert!(
            cache.create(IndexMap::new()).is_none(),
            "third session created beyond the slot limit"
        );
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn incremental_inclusion_tracks_changes() {
        let mut p = CachedPartition::new(0, 100, -1);
        assert!(
            p.note_response(false, false, 5, 5, 0),
            "first report always included"
        );
        assert!(!p.note_response(false, false, 5, 5, 0), "nothing changed");
        assert!(
            p.note_response(false, false, 6, 6, 0),
            "high watermark moved"
        );
        assert!(p.note_response(true, false, 6, 6, 0), "records returned");
    }
}
