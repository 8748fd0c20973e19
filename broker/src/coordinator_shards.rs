//! `CoordinatorShards`: the shards of an internal topic a coordinator serves — one `Shard` per
//! partition of `__consumer_offsets` (the `GroupCoordinator`) or `__transaction_state` (the
//! `TransactionCoordinator`) this broker leads — and their life cycle, which both share:
//!
//! - `follow_leadership` syncs the shards with every applied metadata image
//!   (`ReplicaManager::follow_applied_images` + `led_partitions`): a shard whose partition is
//!   still led here at the epoch it was created with stays; the others are closed and cleared
//!   and leave the map; a newly led partition gets a new shard, which the coordinator loads;
//! - `load` replays the partition (at most `LOAD_ATTEMPTS` reads, `LOAD_RETRY_BACKOFF` apart)
//!   and installs the coordinator's state unless the shard was closed meanwhile;
//! - `shard_for` finds the loaded shard of a key or the error Kafka answers;
//! - `ensure_topic` creates the compacted internal topic on first use, `append` writes one
//!   batch to a shard's partition, and `append_error_to_coordinator_error` is Kafka's
//!   translation of the append errors both coordinators answer alike.
//!
//! A coordinator brings only its state type `S` (the groups, the transactions) and its domain
//! logic: how to read and rebuild the state, and what to start once it is installed.
//!
//! Lock order: a shard's async `write_lock` (serializes its writes; held across appends) is
//! taken before its std mutex (`Shard::lock`), which is never held across an `.await`. The
//! loader holds the write lock from its read until the shard is marked loaded, so a write to
//! the partition meanwhile (a transaction marker) is either in what it read or applied after
//! the load. Closing a shard replaces its state with `S::default()`, dropping whatever the old
//! one held — parked waiters' senders —, so waiting requests answer NOT_COORDINATOR.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;

use crate::error::{ApiError, ResponseError};
use crate::log::{AppendInfo, AppendOrigin, TxnVerification};
use crate::metadata::{ControllerClient, CreateTopicSpec, MetadataImage, MetadataQuorum};
use crate::replica::{Partition, ReplicaManager};
use crate::types::TopicPartition;

/// Reads of the partition while loading one shard before giving up; the shard then stays
/// unloaded (COORDINATOR_LOAD_IN_PROGRESS) until leadership of its partition moves.
const LOAD_ATTEMPTS: u32 = 5;
/// Wait after a failed read before the next attempt.
const LOAD_RETRY_BACKOFF: Duration = Duration::from_secs(1);
/// Bytes per `Log::read` while loading a shard.
const LOAD_READ_BYTES: usize = 4 << 20;
/// Upper bound on `Log::read`s per load attempt (a 1 TiB partition at 4 MiB per read).
const LOAD_READS_MAX: usize = 1 << 18;

/// How a coordinator's internal topic is created: always compacted, with the
/// coordinator's partition count, replication factor and segment size, and `configs`
/// besides (`compression.type`, `min.insync.replicas`).
pub(crate) struct InternalTopicSpec {
    pub num_partitions: i32,
    pub replication_factor: i16,
    pub segment_bytes: i32,
    pub configs: Vec<(&'static str, String)>,
}

/// Kafka's translation (`CoordinatorRuntime`) of an error appending to an internal topic
/// into what a coordinator answers, where both coordinators answer alike: `None` for the
/// other errors, which each coordinator maps its own way.
pub(crate) fn append_error_to_coordinator_error(code: ResponseError) -> Option<ResponseError> {
    match code {
        ResponseError::UnknownTopicOrPartition
        | ResponseError::NotEnoughReplicas
        | ResponseError::NotEnoughReplicasAfterAppend
        | ResponseError::RequestTimedOut => Some(ResponseError::CoordinatorNotAvailable),
        ResponseError::NotLeaderOrFollower | ResponseError::KafkaStorageError => {
            Some(ResponseError::NotCoordinator)
        }
        _ => None,
    }
}

/// One led partition of an internal topic and the coordinator state `S` rebuilt from it.
pub(crate) struct Shard<S> {
    topic: &'static str,
    partition: i32,
    /// The partition's leader epoch when this broker took it over: the coordinator epoch
    /// (written into transaction markers). A new epoch means a new shard.
    coordinator_epoch: i32,
    /// Serializes the shard's writes; always taken before `state`.
    pub(crate) write_lock: tokio::sync::Mutex<()>,
    state: Mutex<ShardState<S>>,
}

/// A shard's state behind its mutex: the coordinator's `S` (reached through `Deref`) and the
/// life-cycle flags only `CoordinatorShards` sets.
pub(crate) struct ShardState<S> {
    /// Set once the partition was replayed into `data`.
    loaded: bool,
    /// Set when the shard was unloaded (leadership moved); it never serves again, and
    /// timers and waiters holding it stop.
    closed: bool,
    data: S,
}

impl<S: Default> Shard<S> {
    fn new(topic: &'static str, partition: i32, coordinator_epoch: i32) -> Self {
        Self {
            topic,
            partition,
            coordinator_epoch,
            write_lock: tokio::sync::Mutex::new(()),
            state: Mutex::new(ShardState {
                loaded: false,
                closed: false,
                data: S::default(),
            }),
        }
    }

    /// Unloads the shard: it no longer serves, and its state is dropped.
    fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        st.loaded = false;
        st.data = S::default();
    }
}

impl<S> Shard<S> {
    pub(crate) fn partition(&self) -> i32 {
        self.partition
    }

    pub(crate) fn coordinator_epoch(&self) -> i32 {
        self.coordinator_epoch
    }

    pub(crate) fn tp(&self) -> TopicPartition {
        TopicPartition::new(self.topic, self.partition)
    }

    /// The shard's state. Never hold the guard across an `.await`; take `write_lock` first
    /// when both are needed.
    pub(crate) fn lock(&self) -> MutexGuard<'_, ShardState<S>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends `batch` to the shard's partition as its leader, acknowledged by every
    /// in-sync replica (acks=-1) within `timeout_ms`. A failure is logged here; the caller
    /// answers it in its coordinator's terms.
    pub(crate) async fn append(
        &self,
        replicas: &ReplicaManager,
        batch: Bytes,
        verification: TxnVerification,
        timeout_ms: i32,
    ) -> Result<AppendInfo, ApiError> {
        let tp = self.tp();
        let result = replicas
            .append_as_leader(
                vec![(tp.clone(), batch, verification)],
                -1,
                timeout_ms,
                AppendOrigin::Coordinator,
            )
            .await
            .into_iter()
            .next()
            .map(|(_, r)| r)
            .unwrap_or_else(|| Err(ResponseError::UnknownServerError.into()));
        if let Err(e) = &result {
            tracing::warn!(partition = %tp, error = %e, "append to {} failed", tp.topic);
        }
        result
    }
}

impl<S> ShardState<S> {
    pub(crate) fn is_loaded(&self) -> bool {
        self.loaded
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }
}

impl<S> Deref for ShardState<S> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.data
    }
}

impl<S> DerefMut for ShardState<S> {
    fn deref_mut(&mut self) -> &mut S {
        &mut self.data
    }
}

/// The outcome of one load attempt's read.
pub(crate) enum LoadRead<T> {
    /// What was read (and built from it).
    Read(T),
    /// The partition is not hosted here: the load stops.
    Gone,
    /// The read failed: retried after the back-off, up to `LOAD_ATTEMPTS`.
    Failed(String),
    /// The read task did not finish (panicked, cancelled): the load stops.
    Aborted(String),
}

impl<T> LoadRead<T> {
    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> U) -> LoadRead<U> {
        match self {
            LoadRead::Read(t) => LoadRead::Read(f(t)),
            LoadRead::Gone => LoadRead::Gone,
            LoadRead::Failed(e) => LoadRead::Failed(e),
            LoadRead::Aborted(e) => LoadRead::Aborted(e),
        }
    }
}

/// The shards of one internal topic: partition → shard, for the partitions led here.
pub(crate) struct CoordinatorShards<S> {
    topic: &'static str,
    /// Who is loading, in log messages ("group coordinator", "transaction coordinator").
    coordinator: &'static str,
    node_id: i32,
    load_retry_backoff: Duration,
    shards: RwLock<HashMap<i32, Arc<Shard<S>>>>,
    /// Serializes `ensure_topic`'s creations.
    create_topic_lock: tokio::sync::Mutex<()>,
}

impl<S: Default> CoordinatorShards<S> {
    pub(crate) fn new(topic: &'static str, coordinator: &'static str, node_id: i32) -> Self {
        Self {
            topic,
            coordinator,
            node_id,
            load_retry_backoff: LOAD_RETRY_BACKOFF,
            shards: RwLock::new(HashMap::new()),
            create_topic_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Creates the internal topic through the controller if it does not exist yet, as
    /// Kafka does on a coordinator's first use, and waits (bounded) until the image that
    /// has it is applied here. `spec` builds the creation when one is needed. As Kafka: the
    /// configured replication factor, not capped by the brokers registered; until enough
    /// are, the controller refuses (INVALID_REPLICATION_FACTOR) and this answers
    /// COORDINATOR_NOT_AVAILABLE.
    pub(crate) async fn ensure_topic(
        &self,
        quorum: &MetadataQuorum,
        controller: &ControllerClient,
        replicas: &ReplicaManager,
        spec: impl FnOnce() -> InternalTopicSpec,
    ) -> Result<(), ApiError> {
        if quorum.image().topic(self.topic).is_some() {
            return Ok(());
        }
        let _guard = self.create_topic_lock.lock().await;
        if quorum.image().topic(self.topic).is_some() {
            return Ok(());
        }
        let InternalTopicSpec {
            num_partitions,
            replication_factor,
            segment_bytes,
            configs,
        } = spec();
        let configs = [
            ("cleanup.policy", "compact".to_owned()),
            ("segment.bytes", segment_bytes.to_string()),
        ]
        .into_iter()
        .chain(configs)
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
        let spec = CreateTopicSpec {
            name: self.topic.to_owned(),
            num_partitions,
            replication_factor,
            assignments: Default::default(),
            configs,
        };
        let result = controller
            .create_topics(vec![spec], false)
            .await
            .into_iter()
            .next();
        match result {
            Some(Ok(created)) => tracing::info!(
                topic = self.topic,
                partitions = created.num_partitions,
                replication_factor = created.replication_factor,
                "created internal topic"
            ),
            Some(Err(e)) if e.code == ResponseError::TopicAlreadyExists => {}
            Some(Err(e)) => {
                tracing::warn!(topic = self.topic, error = %e, "cannot create internal topic");
                return Err(ApiError::new(
                    ResponseError::CoordinatorNotAvailable,
                    format!("cannot create {}: {e}", self.topic),
                ));
            }
            None => return Err(ResponseError::CoordinatorNotAvailable.into()),
        }
        replicas
            .await_applied(quorum.image().offset, Duration::from_secs(30))
            .await;
        Ok(())
    }

    /// Calls `sync` for the current and every later metadata image once it is applied to
    /// local partitions, until shutdown; each created shard goes to `on_created` (which
    /// spawns its load).
    pub(crate) async fn follow_leadership(
        &self,
        replicas: &ReplicaManager,
        images: watch::Receiver<Arc<MetadataImage>>,
        shutdown: watch::Receiver<bool>,
        mut on_created: impl FnMut(Arc<Shard<S>>),
    ) {
        replicas
            .follow_applied_images(images, shutdown, |image| {
                for shard in self.sync(&replicas.led_partitions(image, self.topic)) {
                    on_created(shard);
                }
            })
            .await;
    }

    /// Matches the shards to `led` (partition → leader epoch): keeps a shard led at the
    /// epoch it was created with, closes and removes the others, and creates a shard for
    /// each newly led partition. Returns the created shards, to be loaded.
    pub(crate) fn sync(&self, led: &HashMap<i32, i32>) -> Vec<Arc<Shard<S>>> {
        let Ok(mut shards) = self.shards.write() else {
            return Vec::new();
        };
        shards.retain(|p, shard| {
            let keep = led.get(p) == Some(&shard.coordinator_epoch);
            if !keep {
                tracing::info!(partition = p, "unloading {} shard", self.coordinator);
                shard.close();
            }
            keep
        });
        let mut created = Vec::new();
        for (&p, &epoch) in led {
            if let Entry::Vacant(slot) = shards.entry(p) {
                let shard = Arc::new(Shard::new(self.topic, p, epoch));
                slot.insert(Arc::clone(&shard));
                created.push(shard);
            }
        }
        created
    }
}

impl<S> CoordinatorShards<S> {
    #[cfg(test)]
    fn with_load_retry_backoff(mut self, backoff: Duration) -> Self {
        self.load_retry_backoff = backoff;
        self
    }

    /// Loads a shard `sync` created. Each attempt calls `read` — before taking the shard's
    /// write lock — and awaits the future it returns under the write lock; a `Failed` read
    /// is retried after the back-off (the write lock released meanwhile), at most
    /// `LOAD_ATTEMPTS` times. Then, unless the shard was closed, `install` runs under the
    /// shard mutex with the read's result, and the shard is marked loaded; the write lock is
    /// held until then. Returns what `install` returned, or `None` when nothing was
    /// installed.
    pub(crate) async fn load<T, R, Fut>(
        &self,
        shard: &Shard<S>,
        mut read: impl FnMut() -> Fut,
        install: impl FnOnce(&mut S, T) -> R,
    ) -> Option<R>
    where
        Fut: Future<Output = LoadRead<T>>,
    {
        let tp = shard.tp();
        for attempt in 1..=LOAD_ATTEMPTS {
            let reading = read();
            let write = shard.write_lock.lock().await;
            let read_result = match reading.await {
                LoadRead::Read(t) => t,
                LoadRead::Gone => return None,
                LoadRead::Failed(e) => {
                    tracing::error!(partition = %tp, attempt, error = %e, "loading {} shard failed", self.coordinator);
                    drop(write);
                    tokio::time::sleep(self.load_retry_backoff).await;
                    continue;
                }
                LoadRead::Aborted(e) => {
                    tracing::error!(partition = %tp, attempt, error = %e, "{} shard load task failed", self.coordinator);
                    return None;
                }
            };
            let mut st = shard.lock();
            if st.closed {
                return None;
            }
            let installed = install(&mut st.data, read_result);
            st.loaded = true;
            drop(st);
            drop(write);
            return Some(installed);
        }
        None
    }

    /// Partitions of the topic in `image`, if it exists with at least one.
    pub(crate) fn partition_count(&self, image: &MetadataImage) -> Option<i32> {
        image
            .topic(self.topic)
            .map(|t| t.partitions.len() as i32)
            .filter(|n| *n > 0)
    }

    /// The partition of `key` (FindCoordinator's answer): by the topic's partition count,
    /// or by `configured_partitions` before the topic exists.
    pub(crate) fn partition_for_key(
        &self,
        image: &MetadataImage,
        key: &str,
        configured_partitions: i32,
    ) -> i32 {
        let n = self.partition_count(image).unwrap_or(configured_partitions);
        partition_for(key, n)
    }

    /// The loaded shard owning `key` (partition `abs(javaHashCode(key)) % partitions`), or
    /// Kafka's answer: COORDINATOR_NOT_AVAILABLE without the topic, NOT_COORDINATOR when
    /// another broker leads the partition (or its shard was just closed),
    /// COORDINATOR_LOAD_IN_PROGRESS while it is led here but not loaded yet.
    pub(crate) fn shard_for(
        &self,
        image: &MetadataImage,
        key: &str,
    ) -> Result<Arc<Shard<S>>, ResponseError> {
        let Some(n) = self.partition_count(image) else {
            return Err(ResponseError::CoordinatorNotAvailable);
        };
        let p = partition_for(key, n);
        let Some(shard) = self.get(p) else {
            // Led here but not picked up yet (just created or just started): loading.
            let led_here = image
                .topic(self.topic)
                .and_then(|t| t.partitions.get(&p))
                .is_some_and(|r| r.leader == self.node_id);
            return Err(if led_here {
                ResponseError::CoordinatorLoadInProgress
            } else {
                ResponseError::NotCoordinator
            });
        };
        serving(shard)
    }

    /// The shard of `partition`, loaded or not.
    pub(crate) fn get(&self, partition: i32) -> Option<Arc<Shard<S>>> {
        self.shards
            .read()
            .ok()
            .and_then(|s| s.get(&partition).cloned())
    }

    /// Every shard, loaded or not.
    pub(crate) fn all(&self) -> Vec<Arc<Shard<S>>> {
        self.shards
            .read()
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default()
    }
}

/// `shard` if it serves requests: NOT_COORDINATOR once closed, COORDINATOR_LOAD_IN_PROGRESS
/// until loaded.
fn serving<S>(shard: Arc<Shard<S>>) -> Result<Arc<Shard<S>>, ResponseError> {
    let st = shard.lock();
    if st.closed {
        return Err(ResponseError::NotCoordinator);
    }
    if !st.loaded {
        return Err(ResponseError::CoordinatorLoadInProgress);
    }
    drop(st);
    Ok(shard)
}

/// Decodes the entries of whole stored batches (as `Log::read` returns them) and the offset
/// after the last batch (`None`: no batch): the `records::decode_batches` of each coordinator.
pub(crate) type DecodeBatches<E, D> = fn(&Bytes) -> Result<(Vec<E>, Option<i64>), D>;

/// One load attempt's read for `CoordinatorShards::load`: every entry `decode` finds in `tp`
/// up to its log end offset (as Kafka's coordinators load: a replica that just became leader
/// holds every acknowledged write, but its high watermark may not have caught up with the
/// last ones yet — reading to it would forget an acknowledged offset commit or transaction
/// step), in offset order, read on the blocking pool. The partition is
/// looked up now (before the loader takes the write lock), the read runs when the future is
/// awaited.
pub(crate) fn read_partition<E, D>(
    replicas: &ReplicaManager,
    tp: &TopicPartition,
    decode: DecodeBatches<E, D>,
) -> impl Future<Output = LoadRead<Vec<E>>> + Send + 'static
where
    E: Send + 'static,
    D: Display + 'static,
{
    let partition = replicas.partition(tp);
    async move {
        let Some(partition) = partition else {
            return LoadRead::Gone;
        };
        match tokio::task::spawn_blocking(move || read_all_entries(&partition, decode)).await {
            Ok(Ok(entries)) => LoadRead::Read(entries),
            Ok(Err(e)) => LoadRead::Failed(e),
            Err(e) => LoadRead::Aborted(e.to_string()),
        }
    }
}

/// Every entry of `partition` from its log start up to its log end offset, in offset order;
/// at most `LOAD_READS_MAX` reads.
fn read_all_entries<E, D: Display>(
    partition: &Partition,
    decode: DecodeBatches<E, D>,
) -> Result<Vec<E>, String> {
    let end = partition.log.log_end_offset();
    let mut offset = partition.log.log_start_offset();
    let mut out = Vec::new();
    for _ in 0..LOAD_READS_MAX {
        if offset >= end {
            return Ok(out);
        }
        let data = partition
            .log
            .read(offset, LOAD_READ_BYTES, end, true)
            .map_err(|e| e.to_string())?;
        if data.records.is_empty() {
            return Ok(out);
        }
        let (entries, next) = decode(&data.records).map_err(|e| e.to_string())?;
        out.extend(entries);
        match next {
            Some(n) if n > offset => offset = n,
            _ => return Ok(out),
        }
    }
    Err(format!(
        "more than {LOAD_READS_MAX} reads to load {}",
        partition.tp
    ))
}

/// Java's `String.hashCode()`: `s[0]*31^(n-1) + … + s[n-1]` over UTF-16 code units, with
/// 32-bit wrap-around.
fn java_string_hash_code(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// The partition of an internal topic that owns `key` (a group id, a transactional id):
/// Kafka's `Utils.abs(key.hashCode) % partitions` (where `abs(Integer.MIN_VALUE)` is 0).
pub(crate) fn partition_for(key: &str, partitions: i32) -> i32 {
    let h = java_string_hash_code(key);
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicU32, Ordering};

    use tokio::sync::oneshot;
    use uuid::Uuid;

    use super::*;
    use crate::metadata::{PartitionRegistration, TopicImage};

    const TOPIC: &str = "__test_state";
    const NODE: i32 = 1;

    #[derive(Default)]
    struct TestState {
        entries: Vec<i64>,
        /// A parked request's answer channel, as groups hold them.
        waiter: Option<oneshot::Sender<()>>,
    }

    fn shards() -> CoordinatorShards<TestState> {
        CoordinatorShards::new(TOPIC, "test coordinator", NODE)
            .with_load_retry_backoff(Duration::ZERO)
    }

    fn led(partitions: &[(i32, i32)]) -> HashMap<i32, i32> {
        partitions.iter().copied().collect()
    }

    fn sorted_partitions(created: &[Arc<Shard<TestState>>]) -> Vec<(i32, i32)> {
        let mut out: Vec<(i32, i32)> = created
            .iter()
            .map(|s| (s.partition(), s.coordinator_epoch()))
            .collect();
        out.sort();
        out
    }

    /// An image whose topic has one partition per entry of `leaders`.
    fn image(leaders: &[i32]) -> MetadataImage {
        let partitions: BTreeMap<i32, PartitionRegistration> = leaders
            .iter()
            .enumerate()
            .map(|(p, &leader)| {
                (
                    p as i32,
                    PartitionRegistration {
                        replicas: vec![leader],
                        isr: vec![leader],
                        leader,
                        leader_epoch: 0,
                        partition_epoch: 0,
                        adding_replicas: vec![],
                        removing_replicas: vec![],
                        elr: vec![],
                        last_known_elr: vec![],
                    },
                )
            })
            .collect();
        let mut image = MetadataImage::default();
        image.topics.insert(
            TOPIC.to_owned(),
            Arc::new(TopicImage {
                name: TOPIC.to_owned(),
                topic_id: Uuid::from_u128(7),
                partitions,
            }),
        );
        image
    }

    async fn load_ok(shards: &CoordinatorShards<TestState>, shard: &Shard<TestState>) {
        let installed = shards
            .load(
                shard,
                || async { LoadRead::Read(vec![1]) },
                |st, entries| st.entries = entries,
            )
            .await;
        assert!(
            installed.is_some(),
            "load of partition {} installed nothing",
            shard.partition()
        );
    }

    #[tokio::test]
    async fn sync_keeps_closes_and_creates_shards_by_epoch() {
        let shards = shards();
        let created = shards.sync(&led(&[(0, 5), (1, 5), (2, 5)]));
        assert_eq!(sorted_partitions(&created), vec![(0, 5), (1, 5), (2, 5)]);
        for shard in &created {
            load_ok(&shards, shard).await;
        }
        let (tx, mut rx) = oneshot::channel();
        let p1 = shards.get(1).expect("shard of partition 1");
        p1.lock().waiter = Some(tx);
        let p0 = shards.get(0).expect("shard of partition 0");

        // Partition 0 stays at epoch 5, partition 1 moved to a new epoch, 2 is led elsewhere,
        // 3 is newly led.
        let created = shards.sync(&led(&[(0, 5), (1, 6), (3, 1)]));
        assert_eq!(sorted_partitions(&created), vec![(1, 6), (3, 1)]);

        let kept = shards.get(0).expect("partition 0 kept");
        assert!(
            Arc::ptr_eq(&kept, &p0),
            "a shard at the same epoch is kept, not recreated"
        );
        assert!(kept.lock().is_loaded() && kept.lock().entries == vec![1]);

        let st = p1.lock();
        assert!(
            st.is_closed() && !st.is_loaded(),
            "the old epoch's shard is closed"
        );
        assert!(
            st.entries.is_empty() && st.waiter.is_none(),
            "closing clears the state"
        );
        drop(st);
        assert_eq!(
            rx.try_recv(),
            Err(oneshot::error::TryRecvError::Closed),
            "a parked waiter's sender was dropped: it answers NOT_COORDINATOR"
        );
        let new_p1 = shards.get(1).expect("partition 1 at epoch 6");
        assert_eq!(new_p1.coordinator_epoch(), 6);
        assert!(!new_p1.lock().is_loaded(), "a new shard waits for its load");

        assert!(
            shards.get(2).is_none(),
            "a partition led elsewhere has no shard"
        );
        assert_eq!(shards.all().len(), 3);
    }

    #[tokio::test]
    async fn lookup_answers_kafkas_coordinator_errors() {
        let shards = shards();
        let key = "some-key";
        let err = |image: &MetadataImage| shards.shard_for(image, key).err();

        assert_eq!(
            err(&MetadataImage::default()),
            Some(ResponseError::CoordinatorNotAvailable),
            "no topic yet"
        );
        assert_eq!(
            err(&image(&[NODE + 1])),
            Some(ResponseError::NotCoordinator),
            "led elsewhere"
        );
        let led_here = image(&[NODE]);
        assert_eq!(
            err(&led_here),
            Some(ResponseError::CoordinatorLoadInProgress),
            "led here, shard not created yet"
        );
        let created = shards.sync(&led(&[(0, 0)]));
        assert_eq!(
            err(&led_here),
            Some(ResponseError::CoordinatorLoadInProgress),
            "shard created, not loaded"
        );
        load_ok(&shards, &created[0]).await;
        let shard = shards
            .shard_for(&led_here, key)
            .expect("loaded shard serves");
        assert!(Arc::ptr_eq(&shard, &created[0]));

        // A request that looked the shard up just before leadership moved.
        shards.sync(&HashMap::new());
        assert_eq!(
            serving(shard).err(),
            Some(ResponseError::NotCoordinator),
            "closed shard"
        );
    }

    #[tokio::test]
    async fn a_load_retries_failed_reads_then_installs() {
        let shards = shards();
        let shard = shards.sync(&led(&[(0, 0)])).remove(0);
        let reads = AtomicU32::new(0);
        let installed = shards
            .load(
                &shard,
                || {
                    let n = reads.fetch_add(1, Ordering::SeqCst) + 1;
                    let write_lock_held = shard.write_lock.try_lock().is_err();
                    async move {
                        assert!(
                            !write_lock_held,
                            "read is called before the write lock is taken"
                        );
                        if n < LOAD_ATTEMPTS {
                            LoadRead::Failed(format!("read {n} failed"))
                        } else {
                            LoadRead::Read(vec![10, 11])
                        }
                    }
                },
                |st, entries: Vec<i64>| {
                    st.entries = entries;
                    assert!(
                        shard.write_lock.try_lock().is_err(),
                        "write lock held while installing"
                    );
                    "installed"
                },
            )
            .await;
        assert_eq!(installed, Some("installed"));
        assert_eq!(reads.load(Ordering::SeqCst), LOAD_ATTEMPTS);
        let st = shard.lock();
        assert!(st.is_loaded() && st.entries == vec![10, 11]);
        drop(st);
        assert!(
            shard.write_lock.try_lock().is_ok(),
            "write lock released after the load"
        );
    }

    /// Loads `shard` with reads answering `outcomes` in turn; returns what was installed
    /// and how many reads were made.
    async fn load_scripted(
        shards: &CoordinatorShards<TestState>,
        shard: &Shard<TestState>,
        outcomes: Vec<LoadRead<Vec<i64>>>,
    ) -> (Option<Vec<i64>>, u32) {
        let mut outcomes = outcomes.into_iter();
        let mut reads = 0;
        let installed = shards
            .load(
                shard,
                || {
                    reads += 1;
                    let outcome = outcomes.next().expect("no read beyond the script");
                    async move { outcome }
                },
                |st, entries| {
                    st.entries.clone_from(&entries);
                    entries
                },
            )
            .await;
        (installed, reads)
    }

    #[tokio::test]
    async fn a_load_gives_up_after_its_attempts_or_when_the_partition_is_gone() {
        let shards = shards();
        let shard = shards.sync(&led(&[(0, 0)])).remove(0);
        let failures = (1..=LOAD_ATTEMPTS)
            .map(|n| LoadRead::Failed(format!("read {n} failed")))
            .collect();
        assert_eq!(
            load_scripted(&shards, &shard, failures).await,
            (None, LOAD_ATTEMPTS),
            "bounded by LOAD_ATTEMPTS"
        );
        assert!(!shard.lock().is_loaded());

        for stop in [LoadRead::Gone, LoadRead::Aborted("panicked".into())] {
            assert_eq!(
                load_scripted(&shards, &shard, vec![stop, LoadRead::Read(vec![1])]).await,
                (None, 1),
                "no retry"
            );
            assert!(!shard.lock().is_loaded());
        }
        assert_eq!(
            load_scripted(&shards, &shard, vec![LoadRead::Read(vec![2])]).await,
            (Some(vec![2]), 1)
        );
        assert!(shard.lock().is_loaded());
    }

    #[tokio::test]
    async fn a_shard_closed_during_its_load_is_not_installed() {
        let shards = shards();
        let shard = shards.sync(&led(&[(0, 0)])).remove(0);
        let installed = shards
            .load(
                &shard,
                || async {
                    // Leadership moves while the partition is being read.
                    shards.sync(&HashMap::new());
                    LoadRead::Read(vec![1])
                },
                |_, _| unreachable!("a closed shard is not installed"),
            )
            .await;
        assert_eq!(installed, None::<()>);
        let st = shard.lock();
        assert!(st.is_closed() && !st.is_loaded() && st.entries.is_empty());
        drop(st);
        assert!(shards.get(0).is_none());
    }

    #[test]
    fn java_hash_code_matches_java() {
        // Values computed by java.lang.String#hashCode.
        assert_eq!(java_string_hash_code(""), 0);
        assert_eq!(java_string_hash_code("a"), 97);
        assert_eq!(java_string_hash_code("hello"), 99_162_322);
        assert_eq!(java_string_hash_code("my-group"), -1_906_497_762);
        assert_eq!(partition_for("my-group", 50), 1_906_497_762 % 50);
        // Overflowing and non-ASCII (UTF-16 code units, including a surrogate pair).
        assert_eq!(
            java_string_hash_code("consumer-group-with-a-long-name"),
            "consumer-group-with-a-long-name"
                .encode_utf16()
                .fold(0i64, |h, u| ((h * 31 + u as i64) as i32) as i64) as i32
        );
        assert_eq!(java_string_hash_code("é"), 233);
        assert_eq!(java_string_hash_code("😀"), 1_772_899);
    }

    #[test]
    fn partition_for_is_abs_hash_mod_partitions() {
        assert_eq!(partition_for("a", 50), 97 % 50);
        // "polygenelubricants" hashes to Integer.MIN_VALUE in Java.
        assert_eq!(java_string_hash_code("polygenelubricants"), i32::MIN);
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        for g in ["x", "group-1", "ÄÖÜ", "g".repeat(100).as_str()] {
            let p = partition_for(g, 7);
            assert!((0..7).contains(&p), "{g} → {p}");
        }
    }
}
