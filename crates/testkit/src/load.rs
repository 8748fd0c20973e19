//! `load`: [`ProduceLoad`], a producer writing without pause on its own thread while a test
//! kills, stops or restarts brokers under it, recording every acknowledgement; and
//! [`check_acknowledged`], which reads the topic back and finds every acknowledged record
//! where its acknowledgement said it was.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::producer::FutureRecord;

use crate::clients::{block_on, KafkaClients};

/// Records sent before the load waits for their acknowledgements.
const LOAD_BATCH: u64 = 50;

/// One acknowledged record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckedRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub value: String,
}

/// (partition, offset) → value of acknowledged records, as [`check_acknowledged`] takes them.
pub type AckedValues = BTreeMap<(i32, i64), String>;

/// What a stopped [`ProduceLoad`] did.
#[derive(Debug, Clone, Default)]
pub struct LoadOutcome {
    /// Every acknowledged record, in order of acknowledgement.
    pub acked: Vec<AckedRecord>,
    /// Sends that were not acknowledged (refused, timed out, or failed).
    pub failed: u32,
}

impl LoadOutcome {
    /// Panics unless the acknowledgements keep the load's send order per partition: a
    /// later send (`k<n>` keys count up) acknowledged at a later offset of its partition,
    /// which an idempotent producer guarantees across retries and leader changes.
    /// `when` says in the failure message when this was checked.
    pub fn check_in_send_order(&self, when: &str) {
        let mut last: BTreeMap<i32, (u64, i64)> = BTreeMap::new();
        let mut by_send: Vec<&AckedRecord> = self.acked.iter().collect();
        by_send.sort_by_key(|r| key_number(&r.key));
        for record in by_send {
            if let Some((key, offset)) = last.get(&record.partition) {
                assert!(
                    record.offset > *offset,
                    "partition {}: send k{key:08} acknowledged at offset {offset}, the later \
                     send {} at offset {}: out of order {when}",
                    record.partition,
                    record.key,
                    record.offset
                );
            }
            last.insert(record.partition, (key_number(&record.key), record.offset));
        }
    }

    /// The acknowledged records by (partition, offset).
    pub fn acked_values(&self) -> AckedValues {
        self.acked
            .iter()
            .map(|r| ((r.partition, r.offset), r.value.clone()))
            .collect()
    }
}

/// A producer (acks=all unless its settings say otherwise) sending records keyed
/// `k00000000`, `k00000001`, ... to a topic through the partitioner, in batches of
/// [`LOAD_BATCH`], each batch's acknowledgements awaited before the next, until stopped or
/// `max_time` has passed (a bound, so a forgotten load ends).
pub struct ProduceLoad {
    acked: Arc<Mutex<Vec<AckedRecord>>>,
    failed: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ProduceLoad {
    /// Starts the load; `producer_settings` go on top of the kit's producer settings.
    pub fn start(
        clients: &impl KafkaClients,
        topic: &str,
        producer_settings: &[(&str, &str)],
        max_time: Duration,
    ) -> Self {
        let producer = clients.producer_with(producer_settings);
        let acked: Arc<Mutex<Vec<AckedRecord>>> = Arc::new(Mutex::new(Vec::new()));
        let failed = Arc::new(AtomicU32::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (acked, failed, stop, topic) = (
                acked.clone(),
                failed.clone(),
                stop.clone(),
                topic.to_string(),
            );
            std::thread::spawn(move || {
                let deadline = Instant::now() + max_time;
                let mut sent = 0u64;
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let mut batch = Vec::new();
                    for _ in 0..LOAD_BATCH {
                        let key = format!("k{sent:08}");
                        let value = format!("{key}:{}", "v".repeat((sent % 64) as usize));
                        sent += 1;
                        match producer
                            .send_result(FutureRecord::to(&topic).key(&key).payload(&value))
                        {
                            Ok(delivery) => batch.push((key, value, delivery)),
                            Err(_) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    let results = block_on(async {
                        let mut results = Vec::with_capacity(batch.len());
                        for (key, value, delivery) in batch {
                            results.push((key, value, delivery.await));
                        }
                        results
                    });
                    for (key, value, result) in results {
                        match result {
                            Ok(Ok(delivery)) => {
                                if let Ok(mut acked) = acked.lock() {
                                    acked.push(AckedRecord {
                                        partition: delivery.partition,
                                        offset: delivery.offset,
                                        key,
                                        value,
                                    });
                                }
                            }
                            _ => {
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            })
        };
        ProduceLoad {
            acked,
            failed,
            stop,
            thread: Some(thread),
        }
    }

    /// [`ProduceLoad::start`] with an idempotent producer that retries a send for up to
    /// three minutes (`message.timeout.ms`): through leader changes, restarts and network
    /// faults every send should end acknowledged, exactly once and in order. Each Produce
    /// request waits at most 5 s (`request.timeout.ms`, also the broker's acks=all wait):
    /// a leader cut off from its followers answers REQUEST_TIMED_OUT soon, and the
    /// producer retries where fresh metadata says — a batch of the load waits for all its
    /// partitions, so one stuck partition stalls it.
    pub fn start_idempotent(clients: &impl KafkaClients, topic: &str, max_time: Duration) -> Self {
        Self::start(
            clients,
            topic,
            &[
                ("enable.idempotence", "true"),
                ("message.timeout.ms", "180000"),
                ("request.timeout.ms", "5000"),
            ],
            max_time,
        )
    }

    /// Records acknowledged so far.
    pub fn acked_count(&self) -> usize {
        self.acked.lock().map(|a| a.len()).unwrap_or(0)
    }

    /// Waits up to `timeout` until `more` records more than now are acknowledged; the
    /// failure names `what` was awaited.
    pub fn await_acks(&self, more: usize, timeout: Duration, what: &str) {
        let target = self.acked_count() + more;
        crate::clients::wait_until(timeout, what, || self.acked_count() >= target);
    }

    /// Stops the load (the batch in flight is awaited) and returns what it did.
    pub fn stop(mut self) -> LoadOutcome {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the produce load's thread panicked");
        }
        LoadOutcome {
            acked: self.acked.lock().map(|a| a.clone()).unwrap_or_default(),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }
}

impl Drop for ProduceLoad {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The send number of a load key `k<n>`.
fn key_number(key: &str) -> u64 {
    key.trim_start_matches('k')
        .parse()
        .unwrap_or_else(|_| panic!("load key {key} is not k<number>"))
}

/// Every acknowledged record of `topic` (partitions `0..partitions`) is stored at its
/// offset with its value, offsets are contiguous from 0 and no key is stored twice (a load
/// without retries). `when` says in the failure message when this was checked.
pub fn check_acknowledged(
    clients: &impl KafkaClients,
    topic: &str,
    partitions: i32,
    acked: &AckedValues,
    when: &str,
) {
    let mut stored_total = 0;
    for partition in 0..partitions {
        let records = clients.consume_all(topic, partition, 0);
        stored_total += records.len();
        let mut keys = HashSet::new();
        for (i, record) in records.iter().enumerate() {
            assert_eq!(
                record.offset, i as i64,
                "partition {partition}: offsets must be contiguous from 0 {when}"
            );
            assert!(
                keys.insert(record.key.clone()),
                "partition {partition}: key {} stored twice {when}",
                record.key_str()
            );
        }
        for ((p, offset), value) in acked.range((partition, 0)..(partition + 1, 0)) {
            let stored = records.get(*offset as usize).map(|r| r.value_str());
            assert_eq!(
                stored.as_deref(),
                Some(value.as_str()),
                "acknowledged record {p}/{offset} is missing or different {when}"
            );
        }
    }
    assert!(
        stored_total >= acked.len(),
        "{stored_total} records stored, {} acknowledged {when}",
        acked.len()
    );
}

/// Every acknowledged record of `outcome` stored once where acknowledged in `topic`
/// ([`check_acknowledged`]) and in send order ([`LoadOutcome::check_in_send_order`]).
pub fn check_load_outcome(
    clients: &impl KafkaClients,
    topic: &str,
    partitions: i32,
    outcome: &LoadOutcome,
    when: &str,
) {
    eprintln!(
        "{} records acknowledged, {} sends not acknowledged {when}",
        outcome.acked.len(),
        outcome.failed
    );
    check_acknowledged(clients, topic, partitions, &outcome.acked_values(), when);
    outcome.check_in_send_order(when);
}
