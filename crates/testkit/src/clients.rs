//! `clients`: real Kafka clients (rdkafka = librdkafka) with test settings, and the client
//! sessions tests repeat — create a topic and wait for its leaders, produce and wait for
//! the acks, read a partition to its end — for anything with a bootstrap address
//! ([`KafkaClients`]: a [`crate::TestBroker`], a [`crate::TestCluster`], or
//! [`BootstrapServers`] for brokers the kit did not start, such as containers).
//!
//! Every wait has a deadline and fails with a sentence naming what did not happen.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message, Timestamp};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::raw::{RawClient, RawSocket};

/// Default deadline for one client operation (produce ack, admin call, metadata).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long [`KafkaClients::consume_all`] may take to reach the end of a partition.
const CONSUME_ALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How often [`wait_until`] looks again.
const WAIT_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// rdkafka clients and client sessions against anything with a bootstrap address. Only
/// [`KafkaClients::bootstrap_servers`] is required; everything else talks to it.
pub trait KafkaClients {
    /// `host:port[,host:port...]` of the client listeners.
    fn bootstrap_servers(&self) -> String;

    /// Client settings shared by every rdkafka client of this broker or cluster.
    fn client_config(&self) -> ClientConfig {
        client_config(&self.bootstrap_servers())
    }

    fn producer(&self) -> FutureProducer {
        self.producer_with(&[])
    }

    /// Producer with `acks=all` unless overridden, bounded delivery time.
    fn producer_with(&self, extra: &[(&str, &str)]) -> FutureProducer {
        producer_from(self.client_config(), extra)
    }

    /// A transactional producer of `id` (idempotent, transaction timeout 60 s) whose
    /// `init_transactions` succeeded.
    fn transactional_producer(&self, id: &str) -> FutureProducer {
        let producer = self.producer_with(&[
            ("transactional.id", id),
            ("enable.idempotence", "true"),
            ("transaction.timeout.ms", "60000"),
        ]);
        producer
            .init_transactions(CLIENT_TIMEOUT)
            .unwrap_or_else(|e| panic!("init_transactions for {id}: {e}"));
        producer
    }

    /// Assign-only consumer: reads from explicit offsets, reports partition EOF.
    fn consumer(&self) -> BaseConsumer {
        self.consumer_with(&[])
    }

    fn consumer_with(&self, extra: &[(&str, &str)]) -> BaseConsumer {
        consumer_from(self.client_config(), extra)
    }

    fn admin(&self) -> AdminClient<DefaultClientContext> {
        self.client_config()
            .create()
            .expect("create rdkafka admin client")
    }

    /// A raw protocol connection (the protocol crate's `Connection`, ApiVersions
    /// negotiated) to the first bootstrap address.
    fn raw(&self) -> RawClient {
        RawClient::connect(&first_address(&self.bootstrap_servers()))
    }

    /// A plain TCP connection to the first bootstrap address, for bytes no client sends.
    fn raw_socket(&self) -> RawSocket {
        RawSocket::connect(&first_address(&self.bootstrap_servers()))
    }

    /// Create a topic (replication factor 1) and wait until metadata shows a leader for
    /// every partition.
    fn create_topic(&self, name: &str, partitions: i32, configs: &[(&str, &str)]) {
        let admin = self.admin();
        let mut new_topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        for (k, v) in configs {
            new_topic = new_topic.set(k, v);
        }
        let results = block_on(admin.create_topics([&new_topic], &admin_options()))
            .unwrap_or_else(|e| panic!("CreateTopics {name} failed as a request: {e}"));
        for result in results {
            if let Err((topic, code)) = result {
                panic!("CreateTopics {topic} failed: {code:?}");
            }
        }
        self.wait_for_topic(name, partitions);
    }

    /// A topic named after `prefix` (unique, see [`topic_name`]) with `partitions`
    /// partitions and default configs, its leaders known; returns its name.
    fn new_topic(&self, prefix: &str, partitions: i32) -> String {
        let topic = topic_name(prefix);
        self.create_topic(&topic, partitions, &[]);
        topic
    }

    /// Wait until metadata lists `topic` with `partitions` partitions, each with a leader.
    fn wait_for_topic(&self, topic: &str, partitions: i32) {
        let consumer = self.consumer();
        wait_until(
            CLIENT_TIMEOUT,
            &format!("topic {topic} with {partitions} led partitions in metadata"),
            || {
                let Ok(md) = consumer.fetch_metadata(Some(topic), Duration::from_secs(5)) else {
                    return false;
                };
                md.topics().iter().any(|t| {
                    t.name() == topic
                        && t.error().is_none()
                        && t.partitions().len() == partitions as usize
                        && t.partitions().iter().all(|p| p.leader() >= 0)
                })
            },
        );
        // Metadata can name a leader before the leader hosts the partition (as in Kafka,
        // the metadata cache is updated first): wait until each partition answers
        // ListOffsets, so the test's next request finds it.
        wait_until(
            CLIENT_TIMEOUT,
            &format!("every partition of {topic} hosted by its leader"),
            || {
                (0..partitions).all(|p| {
                    consumer
                        .fetch_watermarks(topic, p, Duration::from_secs(5))
                        .is_ok()
                })
            },
        );
    }

    /// Produce one record and wait for its ack; returns (partition, offset).
    fn produce_one(
        &self,
        producer: &FutureProducer,
        topic: &str,
        partition: i32,
        key: &[u8],
        value: &[u8],
    ) -> (i32, i64) {
        let record = FutureRecord::to(topic)
            .partition(partition)
            .key(key)
            .payload(value);
        match block_on(producer.send(record, CLIENT_TIMEOUT)) {
            Ok(delivery) => (delivery.partition, delivery.offset),
            Err((e, _)) => panic!("produce to {topic}/{partition} was not acknowledged: {e}"),
        }
    }

    /// Sends every `(key, value)` (`None` value = tombstone) to `topic`/`partition` without
    /// waiting in between, then waits for every ack; returns the acked offsets in order.
    fn produce_all(
        &self,
        producer: &FutureProducer,
        topic: &str,
        partition: i32,
        records: &[(Vec<u8>, Option<Vec<u8>>)],
    ) -> Vec<i64> {
        let mut pending = Vec::with_capacity(records.len());
        for (key, value) in records {
            let mut record = FutureRecord::<[u8], [u8]>::to(topic)
                .partition(partition)
                .key(key.as_slice());
            if let Some(value) = value {
                record = record.payload(value.as_slice());
            }
            match producer.send_result(record) {
                Ok(delivery) => pending.push(delivery),
                Err((e, _)) => panic!("producer refused a record for {topic}/{partition}: {e}"),
            }
        }
        pending
            .into_iter()
            .map(|delivery| match block_on(delivery) {
                Ok(Ok(d)) => d.offset,
                Ok(Err((e, _))) => {
                    panic!("produce to {topic}/{partition} was not acknowledged: {e}")
                }
                Err(_) => panic!("produce to {topic}/{partition}: delivery future cancelled"),
            })
            .collect()
    }

    /// Every record of `topic`/`partition` from offset `from` up to the high watermark.
    fn consume_all(&self, topic: &str, partition: i32, from: i64) -> Vec<ConsumedRecord> {
        self.consume_all_with(&[], topic, partition, from)
    }

    fn consume_all_with(
        &self,
        extra: &[(&str, &str)],
        topic: &str,
        partition: i32,
        from: i64,
    ) -> Vec<ConsumedRecord> {
        let consumer = self.consumer_with(extra);
        assign(&consumer, topic, partition, Offset::Offset(from));
        let mut records = Vec::new();
        let deadline = Instant::now() + CONSUME_ALL_TIMEOUT;
        loop {
            assert!(
                Instant::now() < deadline,
                "consume_all {topic}/{partition} from {from}: no end of partition within \
                 {CONSUME_ALL_TIMEOUT:?} (got {} records so far)",
                records.len()
            );
            match consumer.poll(Duration::from_millis(200)) {
                None => {}
                Some(Ok(message)) => records.push(ConsumedRecord::from_message(&message)),
                Some(Err(KafkaError::PartitionEOF(_))) => return records,
                Some(Err(e)) => panic!("consume_all {topic}/{partition} from {from}: {e}"),
            }
        }
    }

    /// The values of every record of `topic`/`partition` from offset 0, read as a
    /// `read_committed` consumer reads them.
    fn committed_values(&self, topic: &str, partition: i32) -> Vec<String> {
        self.consume_all_with(
            &[("isolation.level", "read_committed")],
            topic,
            partition,
            0,
        )
        .iter()
        .map(ConsumedRecord::value_str)
        .collect()
    }

    /// Exactly `count` records starting at `from`, waiting up to `timeout` for them.
    fn consume_n(
        &self,
        topic: &str,
        partition: i32,
        from: i64,
        count: usize,
        timeout: Duration,
    ) -> Vec<ConsumedRecord> {
        let consumer = self.consumer();
        assign(&consumer, topic, partition, Offset::Offset(from));
        let mut records = Vec::new();
        let deadline = Instant::now() + timeout;
        while records.len() < count {
            assert!(
                Instant::now() < deadline,
                "consume_n {topic}/{partition} from {from}: got {} of {count} records within {timeout:?}",
                records.len()
            );
            match consumer.poll(Duration::from_millis(200)) {
                None | Some(Err(KafkaError::PartitionEOF(_))) => {}
                Some(Ok(message)) => records.push(ConsumedRecord::from_message(&message)),
                Some(Err(e)) => panic!("consume_n {topic}/{partition} from {from}: {e}"),
            }
        }
        records
    }

    /// Every config of broker `node_id` (name → value) as DescribeConfigs returns it.
    fn broker_configs(&self, node_id: i32) -> BTreeMap<String, Option<String>> {
        self.described_configs(
            &ResourceSpecifier::Broker(node_id),
            &format!("broker {node_id}"),
        )
    }

    /// Every config of `topic` (name → value) as DescribeConfigs returns it.
    fn topic_configs(&self, topic: &str) -> BTreeMap<String, Option<String>> {
        self.described_configs(&ResourceSpecifier::Topic(topic), &format!("topic {topic}"))
    }

    /// DescribeConfigs of one resource (`what` names it in failures).
    fn described_configs(
        &self,
        resource: &ResourceSpecifier<'_>,
        what: &str,
    ) -> BTreeMap<String, Option<String>> {
        let mut results = block_on(self.admin().describe_configs([resource], &admin_options()))
            .unwrap_or_else(|e| panic!("DescribeConfigs {what} failed as a request: {e}"));
        results
            .pop()
            .unwrap_or_else(|| panic!("DescribeConfigs {what}: no result"))
            .unwrap_or_else(|code| panic!("DescribeConfigs {what}: {code:?}"))
            .entries
            .into_iter()
            .map(|e| (e.name, e.value))
            .collect()
    }

    /// (low, high) watermarks as a client sees them.
    fn watermarks(&self, topic: &str, partition: i32) -> (i64, i64) {
        self.consumer()
            .fetch_watermarks(topic, partition, CLIENT_TIMEOUT)
            .unwrap_or_else(|e| panic!("ListOffsets (watermarks) for {topic}/{partition}: {e}"))
    }
}

/// Brokers the kit did not start (containers, a cluster elsewhere), known by their
/// bootstrap list `host:port[,host:port...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapServers(pub String);

impl KafkaClients for BootstrapServers {
    fn bootstrap_servers(&self) -> String {
        self.0.clone()
    }
}

/// The first `host:port` of a bootstrap list.
fn first_address(bootstrap: &str) -> String {
    bootstrap.split(',').next().unwrap_or_default().to_string()
}

/// Sends every value of `values` to partition 0 of `topic`, one after the other, each
/// acknowledged before the next is sent (inside a transaction: each is in it when sent).
pub fn send_all(producer: &FutureProducer, topic: &str, values: &[String]) {
    block_on(async {
        for v in values {
            producer
                .send(
                    FutureRecord::<(), String>::to(topic)
                        .partition(0)
                        .payload(v),
                    CLIENT_TIMEOUT,
                )
                .await
                .unwrap_or_else(|(e, _)| panic!("send to {topic} was not acknowledged: {e}"));
        }
    });
}

/// How a transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnEnd {
    Commit,
    Abort,
}

/// One transaction of `producer`: begin, [`send_all`] `values` to `topic`, then commit or
/// abort; panics naming the step that failed.
pub fn transaction(producer: &FutureProducer, topic: &str, values: &[String], end: TxnEnd) {
    producer
        .begin_transaction()
        .unwrap_or_else(|e| panic!("begin_transaction: {e}"));
    send_all(producer, topic, values);
    let ended = match end {
        TxnEnd::Commit => producer.commit_transaction(CLIENT_TIMEOUT),
        TxnEnd::Abort => producer.abort_transaction(CLIENT_TIMEOUT),
    };
    ended.unwrap_or_else(|e| panic!("{end:?} of a transaction of {} records: {e}", values.len()));
}

/// rdkafka settings shared by every test client: short timeouts and backoffs.
pub fn client_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("socket.timeout.ms", "20000")
        .set("request.timeout.ms", "20000")
        .set("metadata.max.age.ms", "5000")
        .set("topic.metadata.refresh.interval.ms", "1000")
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "500")
        .set("log_level", "4");
    config
}

/// [`client_config`] with `defaults` and then `extra` set on top.
pub fn client_config_with(
    bootstrap: &str,
    defaults: &[(&str, &str)],
    extra: &[(&str, &str)],
) -> ClientConfig {
    let mut config = client_config(bootstrap);
    for (k, v) in defaults.iter().chain(extra) {
        config.set(*k, *v);
    }
    config
}

pub fn producer_for(bootstrap: &str, extra: &[(&str, &str)]) -> FutureProducer {
    producer_from(client_config(bootstrap), extra)
}

/// [`producer_for`] on top of `config` (e.g. a secured cluster's client settings).
pub fn producer_from(mut config: ClientConfig, extra: &[(&str, &str)]) -> FutureProducer {
    let defaults = [
        ("acks", "all"),
        ("message.timeout.ms", "30000"),
        ("linger.ms", "5"),
        ("enable.idempotence", "false"),
    ];
    for (k, v) in defaults.iter().chain(extra) {
        config.set(*k, *v);
    }
    config.create().expect("create rdkafka producer")
}

/// A consumer for `assign()` at explicit offsets. librdkafka only allows `assign()` with a
/// `group.id`; nothing here subscribes or commits, so the group coordinator is not needed.
pub fn consumer_for(bootstrap: &str, extra: &[(&str, &str)]) -> BaseConsumer {
    consumer_from(client_config(bootstrap), extra)
}

/// [`consumer_for`] on top of `config` (e.g. a secured cluster's client settings).
pub fn consumer_from(mut config: ClientConfig, extra: &[(&str, &str)]) -> BaseConsumer {
    let defaults = [
        ("group.id", "ironlog-test-assign-only"),
        ("enable.auto.commit", "false"),
        ("enable.auto.offset.store", "false"),
        ("enable.partition.eof", "true"),
        ("auto.offset.reset", "earliest"),
        ("fetch.wait.max.ms", "200"),
        ("fetch.message.max.bytes", "4194304"),
        ("fetch.max.bytes", "8388608"),
    ];
    for (k, v) in defaults.iter().chain(extra) {
        config.set(*k, *v);
    }
    config.create().expect("create rdkafka consumer")
}

/// Run a future to completion on a fresh current-thread tokio runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build tokio runtime")
        .block_on(future)
}

/// Poll `condition` every 50 ms until it holds; panic naming `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(WAIT_POLL_INTERVAL);
    }
}

pub fn admin_options() -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(CLIENT_TIMEOUT))
        .operation_timeout(Some(CLIENT_TIMEOUT))
}

pub fn assign(consumer: &BaseConsumer, topic: &str, partition: i32, offset: Offset) {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, offset)
        .expect("build partition list");
    consumer.assign(&tpl).expect("assign partition");
}

/// A unique topic name per test (tests share nothing, but names help reading logs).
pub fn topic_name(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// A record as a consumer saw it, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp: Timestamp,
}

impl ConsumedRecord {
    pub fn from_message(message: &BorrowedMessage<'_>) -> Self {
        let headers = message
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| (h.key.to_string(), h.value.map(|v| v.to_vec())))
                    .collect()
            })
            .unwrap_or_default();
        ConsumedRecord {
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(|k| k.to_vec()),
            value: message.payload().map(|v| v.to_vec()),
            headers,
            timestamp: message.timestamp(),
        }
    }

    pub fn value_str(&self) -> String {
        String::from_utf8_lossy(self.value.as_deref().unwrap_or_default()).into_owned()
    }

    pub fn key_str(&self) -> String {
        String::from_utf8_lossy(self.key.as_deref().unwrap_or_default()).into_owned()
    }
}

/// `BTreeMap` of config name → value from a DescribeConfigs-like list, for readable asserts.
pub fn config_map<'a>(
    entries: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> BTreeMap<String, Option<String>> {
    entries
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.map(|s| s.to_string())))
        .collect()
}

/// Shared, thread-safe list of acknowledged deliveries: (key, partition, offset, value).
pub type AckLog = Arc<Mutex<Vec<(Vec<u8>, i32, i64, Vec<u8>)>>>;

/// Is this rdkafka error the given broker error code?
pub fn is_code(error: &KafkaError, code: RDKafkaErrorCode) -> bool {
    error.rdkafka_error_code() == Some(code)
}
