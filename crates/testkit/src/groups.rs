//! `groups`: consumer-group sessions with rdkafka — group consumers that record every
//! rebalance callback, polling rounds, and waits for an assignment.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::FutureRecord;
use rdkafka::TopicPartitionList;

use crate::clients::{block_on, client_config_with, ConsumedRecord, KafkaClients};

/// Broker settings for group tests: no initial rebalance delay, a small `__consumer_offsets`.
pub const FAST_GROUP_BROKER: &[(&str, &str)] = &[
    ("group.initial.rebalance.delay.ms", "0"),
    ("offsets.topic.num.partitions", "5"),
];

/// A rebalance callback as a group consumer saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebalanceEvent {
    Assign(Vec<(String, i32)>),
    Revoke(Vec<(String, i32)>),
    Error(String),
}

/// Consumer context that records every rebalance callback.
#[derive(Default, Clone)]
pub struct RecordingContext {
    pub events: Arc<Mutex<Vec<RebalanceEvent>>>,
}

impl RecordingContext {
    pub fn events(&self) -> Vec<RebalanceEvent> {
        self.events.lock().expect("events lock").clone()
    }
}

fn tpl_pairs(tpl: &TopicPartitionList) -> Vec<(String, i32)> {
    let mut v: Vec<(String, i32)> = tpl
        .elements()
        .iter()
        .map(|e| (e.topic().to_string(), e.partition()))
        .collect();
    v.sort();
    v
}

impl rdkafka::client::ClientContext for RecordingContext {}

impl rdkafka::consumer::ConsumerContext for RecordingContext {
    fn pre_rebalance(
        &self,
        _consumer: &BaseConsumer<Self>,
        rebalance: &rdkafka::consumer::Rebalance<'_>,
    ) {
        let event = match rebalance {
            rdkafka::consumer::Rebalance::Assign(tpl) => RebalanceEvent::Assign(tpl_pairs(tpl)),
            rdkafka::consumer::Rebalance::Revoke(tpl) => RebalanceEvent::Revoke(tpl_pairs(tpl)),
            rdkafka::consumer::Rebalance::Error(e) => RebalanceEvent::Error(e.to_string()),
        };
        self.events.lock().expect("events lock").push(event);
    }
}

/// A consumer that joins `group` (subscribe), commits only when told, short session.
pub fn group_consumer_for(
    bootstrap: &str,
    group: &str,
    extra: &[(&str, &str)],
) -> BaseConsumer<RecordingContext> {
    let defaults = [
        ("group.id", group),
        ("enable.auto.commit", "false"),
        ("auto.offset.reset", "earliest"),
        ("session.timeout.ms", "6000"),
        ("heartbeat.interval.ms", "500"),
        ("fetch.wait.max.ms", "100"),
    ];
    client_config_with(bootstrap, &defaults, extra)
        .create_with_context(RecordingContext::default())
        .expect("create rdkafka group consumer")
}

/// The partitions currently assigned to `consumer`, sorted.
pub fn assignment_of<C: rdkafka::consumer::ConsumerContext>(
    consumer: &BaseConsumer<C>,
) -> Vec<(String, i32)> {
    consumer
        .assignment()
        .map(|tpl| tpl_pairs(&tpl))
        .unwrap_or_default()
}

/// Polls every consumer (briefly) once; returns what each received.
pub fn poll_round<C: rdkafka::consumer::ConsumerContext>(
    consumers: &[&BaseConsumer<C>],
) -> Vec<Vec<ConsumedRecord>> {
    consumers
        .iter()
        .map(|c| {
            let mut got = Vec::new();
            // Bounded: at most 1000 messages per consumer per round.
            for _ in 0..1000 {
                match c.poll(Duration::from_millis(20)) {
                    Some(Ok(m)) => got.push(ConsumedRecord::from_message(&m)),
                    Some(Err(_)) => {}
                    None => break,
                }
            }
            got
        })
        .collect()
}

/// Polls `consumers` until together they received at least `count` records, within
/// `timeout`; returns what each received. `what` names them in the failure message.
pub fn poll_until_received<C: rdkafka::consumer::ConsumerContext>(
    consumers: &[&BaseConsumer<C>],
    count: usize,
    timeout: Duration,
    what: &str,
) -> Vec<Vec<ConsumedRecord>> {
    let deadline = Instant::now() + timeout;
    let mut received: Vec<Vec<ConsumedRecord>> = vec![Vec::new(); consumers.len()];
    loop {
        let total: usize = received.iter().map(Vec::len).sum();
        if total >= count {
            return received;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: received {total} of {count} records within {timeout:?}: {:?}",
            received
                .iter()
                .flatten()
                .map(ConsumedRecord::value_str)
                .collect::<Vec<_>>()
        );
        for (i, got) in poll_round(consumers).into_iter().enumerate() {
            received[i].extend(got);
        }
    }
}

/// Polls all consumers until `done` holds for their assignments, within `timeout`.
pub fn poll_until_assigned<C: rdkafka::consumer::ConsumerContext>(
    consumers: &[&BaseConsumer<C>],
    timeout: Duration,
    what: &str,
    mut done: impl FnMut(&[Vec<(String, i32)>]) -> bool,
) -> Vec<Vec<ConsumedRecord>> {
    let deadline = Instant::now() + timeout;
    let mut received: Vec<Vec<ConsumedRecord>> = vec![Vec::new(); consumers.len()];
    loop {
        for (i, got) in poll_round(consumers).into_iter().enumerate() {
            received[i].extend(got);
        }
        let assignments: Vec<Vec<(String, i32)>> =
            consumers.iter().map(|c| assignment_of(c)).collect();
        if done(&assignments) {
            return received;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}; assignments: {assignments:?}"
        );
    }
}

/// Produces `values` to `topic` spread over its partitions by key; waits for every ack.
pub fn produce_values(broker: &impl KafkaClients, topic: &str, values: &[String]) {
    let producer = broker.producer();
    let keys: Vec<String> = (0..values.len()).map(|i| format!("k{i}")).collect();
    let deliveries: Vec<_> = values
        .iter()
        .zip(&keys)
        .map(|(v, key)| {
            producer
                .send_result(FutureRecord::to(topic).key(key).payload(v))
                .unwrap_or_else(|(e, _)| panic!("enqueueing {v} for {topic} failed: {e}"))
        })
        .collect();
    block_on(async {
        for (v, delivery) in values.iter().zip(deliveries) {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => panic!("producing {v} to {topic} failed: {e}"),
                Err(_) => panic!("producer dropped the delivery of {v}"),
            }
        }
    });
}

/// A consumer group member on its own thread, recording every record it receives and
/// committing after every poll that returned records.
pub struct GroupReader {
    received: Arc<Mutex<Vec<ConsumedRecord>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GroupReader {
    /// Joins `group` on `bootstrap`, subscribed to `topic`, and starts polling.
    pub fn start(bootstrap: String, group: String, topic: String) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (received, stop) = (received.clone(), stop.clone());
            std::thread::spawn(move || {
                let consumer = group_consumer_for(&bootstrap, &group, &[]);
                consumer.subscribe(&[&topic]).expect("subscribe");
                while !stop.load(Ordering::Relaxed) {
                    let mut got = false;
                    if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
                        got = true;
                        received
                            .lock()
                            .expect("received lock")
                            .push(ConsumedRecord::from_message(&message));
                    }
                    if got {
                        // Failures while a coordinator moves are retried by the next commit.
                        let _ = consumer.commit_consumer_state(CommitMode::Async);
                    }
                }
            })
        };
        Self {
            received,
            stop,
            thread: Some(thread),
        }
    }

    /// Every record received so far, in order of arrival.
    pub fn received(&self) -> Vec<ConsumedRecord> {
        self.received.lock().expect("received lock").clone()
    }

    /// Waits up to `timeout` until the group received every record of `acked` (at its
    /// partition and offset), stops, and checks each received record of `acked` has the
    /// value acknowledged there (a record may come twice after a rebalance, as
    /// at-least-once delivery allows).
    pub fn stop_after_receiving(self, acked: &crate::load::AckedValues, timeout: Duration) {
        let mut missing = acked.len();
        crate::clients::wait_until(
            timeout,
            "the consumer group to receive every acknowledged record",
            || {
                let received: std::collections::BTreeSet<(i32, i64)> = self
                    .received()
                    .iter()
                    .map(|r| (r.partition, r.offset))
                    .collect();
                missing = acked.keys().filter(|k| !received.contains(k)).count();
                missing == 0
            },
        );
        for record in self.stop() {
            if let Some(value) = acked.get(&(record.partition, record.offset)) {
                assert_eq!(
                    &record.value_str(),
                    value,
                    "the group read {}/{} with another value than was acknowledged there",
                    record.partition,
                    record.offset
                );
            }
        }
    }

    /// Stops polling (the thread ends) and returns every record received.
    pub fn stop(mut self) -> Vec<ConsumedRecord> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the group reader's thread panicked");
        }
        self.received()
    }
}

impl Drop for GroupReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// How long [`close_within`] waits for librdkafka's close, and [`leave_and_close`] for the
/// members to give up their partitions.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Closes `consumer` (dropping it sends the leave, as `close()` does) on a thread of its own
/// and panics naming `what` when that does not return within [`CLOSE_TIMEOUT`]: rust-rdkafka
/// polls until librdkafka reports the consumer closed, and librdkafka can wait for ever when a
/// rebalance was pending at close (librdkafka #4884). A test then fails where it hung, instead
/// of holding the whole run; the stuck thread is left behind for the process exit.
pub fn close_within<C: rdkafka::consumer::ConsumerContext + 'static>(
    consumer: BaseConsumer<C>,
    what: &str,
) {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(consumer);
        let _ = done_tx.send(());
    });
    if done_rx.recv_timeout(CLOSE_TIMEOUT).is_err() {
        panic!("closing {what} did not return within {CLOSE_TIMEOUT:?} (a librdkafka close hang)");
    }
}

/// Takes `consumers` out of their group in the order librdkafka closes cleanly: every one
/// unsubscribes, all are polled until none has a partition (so no rebalance is pending when
/// they close), then each closes through [`close_within`]. Ends a test whose members would
/// otherwise be dropped one after another, each leave handing partitions to the next one
/// while it is closing.
pub fn leave_and_close<C: rdkafka::consumer::ConsumerContext + 'static>(
    consumers: Vec<BaseConsumer<C>>,
    what: &str,
) {
    for consumer in &consumers {
        consumer.unsubscribe();
    }
    let refs: Vec<&BaseConsumer<C>> = consumers.iter().collect();
    poll_until_assigned(
        &refs,
        CLOSE_TIMEOUT,
        &format!("{what} to give up every partition"),
        |a| a.iter().all(Vec::is_empty),
    );
    for (i, consumer) in consumers.into_iter().enumerate() {
        close_within(consumer, &format!("{what}, member {i}"));
    }
}
