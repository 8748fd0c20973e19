//! Client quotas against real clients: quotas set through AlterClientQuotas (the raw
//! protocol client; librdkafka has no quota admin API) throttle a librdkafka producer and
//! consumer to their byte rates — measured on the client's side over a steady window of
//! several seconds, after the burst Kafka's rate window lets through — with the throttle
//! time in the responses (librdkafka's throttle statistics); a SASL user's own quota
//! applies to that user only; DescribeClientQuotas answers Kafka's filters; bad input gets
//! Kafka's errors and stores nothing; quotas survive a restart; the quota APIs are
//! authorized as Kafka authorizes them.
mod common;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::{
    AlterClientQuotasRequest, DescribeClientQuotasRequest, DescribeClientQuotasResponse,
};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};

const INVALID_REQUEST: i16 = 42;
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
const UNSUPPORTED_VERSION: i16 = 35;

const EXACT: i8 = 0;
const DEFAULT: i8 = 1;
const ANY: i8 = 2;

/// 100 KB/s: low enough that a loaded 2-core machine sustains far more.
const QUOTA_BYTES_PER_S: f64 = 100_000.0;
const VALUE_BYTES: usize = 1000;

/// What librdkafka reports to its context: acknowledged value bytes with their times, and
/// the largest throttle time any broker response carried.
#[derive(Default)]
struct Observer {
    delivered: Mutex<Vec<(Instant, usize)>>,
    failed: AtomicU64,
    max_throttle_ms: AtomicI64,
}

#[derive(Clone, Default)]
struct QuotaContext(Arc<Observer>);

impl ClientContext for QuotaContext {
    fn stats(&self, statistics: Statistics) {
        for broker in statistics.brokers.values() {
            if let Some(throttle) = &broker.throttle {
                self.0
                    .max_throttle_ms
                    .fetch_max(throttle.max, Ordering::Relaxed);
            }
        }
    }
}

impl ProducerContext for QuotaContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(m) => {
                let bytes = m.payload().map_or(0, <[u8]>::len);
                self.0
                    .delivered
                    .lock()
                    .unwrap()
                    .push((Instant::now(), bytes));
            }
            Err(_) => {
                self.0.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl ConsumerContext for QuotaContext {}

/// An AlterClientQuotas entry: entity (type, name; `None` the default) and operations
/// (key, `Some(value)` to set, `None` to remove).
fn entry(entity: &[(&str, Option<&str>)], ops: &[(&str, Option<f64>)]) -> EntryData {
    EntryData::default()
        .with_entity(
            entity
                .iter()
                .map(|(t, n)| {
                    EntityData::default()
                        .with_entity_type(sb(t))
                        .with_entity_name(n.map(sb))
                })
                .collect(),
        )
        .with_ops(
            ops.iter()
                .map(|(k, v)| {
                    OpData::default()
                        .with_key(sb(k))
                        .with_value(v.unwrap_or(0.0))
                        .with_remove(v.is_none())
                })
                .collect(),
        )
}

/// AlterClientQuotas v1: each entry's error code and message.
fn alter(
    raw: &mut RawClient,
    entries: Vec<EntryData>,
    validate_only: bool,
) -> Vec<(i16, Option<String>)> {
    raw.expect_call(
        1,
        &AlterClientQuotasRequest::default()
            .with_entries(entries)
            .with_validate_only(validate_only),
        "AlterClientQuotas",
    )
    .entries
    .into_iter()
    .map(|e| (e.error_code, e.error_message.map(|m| m.to_string())))
    .collect()
}

fn alter_ok(raw: &mut RawClient, entries: Vec<EntryData>) {
    for (code, message) in alter(raw, entries, false) {
        assert_eq!(code, 0, "AlterClientQuotas refused an entry: {message:?}");
    }
}

/// Sets (`Some`) or removes (`None`) quota `key` of one entity (type, name; `None` the
/// default); the broker must accept it.
fn set_quota(raw: &mut RawClient, entity: (&str, Option<&str>), key: &str, value: Option<f64>) {
    alter_ok(raw, vec![entry(&[entity], &[(key, value)])]);
}

fn describe(
    raw: &mut RawClient,
    components: &[(&str, i8, Option<&str>)],
    strict: bool,
) -> DescribeClientQuotasResponse {
    let request = DescribeClientQuotasRequest::default()
        .with_components(
            components
                .iter()
                .map(|(t, m, name)| {
                    ComponentData::default()
                        .with_entity_type(sb(t))
                        .with_match_type(*m)
                        .with_match(name.map(sb))
                })
                .collect(),
        )
        .with_strict(strict);
    raw.expect_call(1, &request, "DescribeClientQuotas")
}

/// The entries of a DescribeClientQuotas answer as `type=name,...` → `key=value,...`,
/// sorted; panics on an error answer.
fn described(response: &DescribeClientQuotasResponse) -> Vec<String> {
    assert_eq!(
        response.error_code, 0,
        "DescribeClientQuotas failed: {:?}",
        response.error_message
    );
    let mut out: Vec<String> = response
        .entries
        .as_ref()
        .expect("a successful DescribeClientQuotas has entries")
        .iter()
        .map(|e| {
            let mut entity: Vec<String> = e
                .entity
                .iter()
                .map(|d| {
                    format!(
                        "{}={}",
                        d.entity_type,
                        d.entity_name
                            .as_ref()
                            .map_or("<default>".to_string(), |n| n.to_string())
                    )
                })
                .collect();
            entity.sort();
            let mut values: Vec<String> = e
                .values
                .iter()
                .map(|v| format!("{}={}", v.key, v.value))
                .collect();
            values.sort();
            format!("{} -> {}", entity.join(","), values.join(","))
        })
        .collect();
    out.sort();
    out
}

fn describe_all(raw: &mut RawClient) -> Vec<String> {
    described(&describe(raw, &[], false))
}

/// The rate of `samples` (time, bytes) from `from` on: the least-squares slope of the
/// cumulative bytes over time, which a burst at either end of the window moves little;
/// with the span it covers.
fn steady_rate(samples: &[(Instant, usize)], from: Instant) -> (f64, Duration) {
    let window: Vec<&(Instant, usize)> = samples.iter().filter(|(t, _)| *t >= from).collect();
    assert!(
        window.len() > 10,
        "too few acknowledgements after the burst to measure a rate"
    );
    let mut total = 0.0;
    let points: Vec<(f64, f64)> = window
        .iter()
        .map(|(t, b)| {
            total += *b as f64;
            ((*t - from).as_secs_f64(), total)
        })
        .collect();
    let n = points.len() as f64;
    let mean_t = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_b = points.iter().map(|p| p.1).sum::<f64>() / n;
    let covariance: f64 = points.iter().map(|p| (p.0 - mean_t) * (p.1 - mean_b)).sum();
    let variance: f64 = points.iter().map(|p| (p.0 - mean_t).powi(2)).sum();
    let span = window[window.len() - 1].0 - window[0].0;
    (covariance / variance, span)
}

fn assert_within_ten_percent(rate: f64, span: Duration, what: &str) {
    let low = QUOTA_BYTES_PER_S * 0.9;
    let high = QUOTA_BYTES_PER_S * 1.1;
    assert!(
        (low..=high).contains(&rate),
        "{what}: {rate:.0} B/s over {span:?}, not within 10% of the {QUOTA_BYTES_PER_S} B/s quota"
    );
}

/// The quota window of the throttling tests' brokers: 2 samples of 1 s
/// (`quota.window.num`, `quota.window.size.seconds`). Kafka's rate lets a window's worth of
/// quota through at once whenever a sample expires, so the achieved rate approaches the
/// quota over spans that are long against the window: 12 s against 2 s here, where
/// Kafka's default 11 s window would need minutes.
const QUOTA_WINDOW: [(&str, &str); 2] = [
    ("quota.window.num", "2"),
    ("quota.window.size.seconds", "1"),
];

/// The first window's allowance goes through unthrottled; the steady state is measured
/// from this long after the first acknowledgement, for `MEASURED`.
const BURST: Duration = Duration::from_secs(3);
const MEASURED: Duration = Duration::from_secs(12);

#[test]
fn a_producer_over_its_byte_rate_quota_is_throttled_to_the_quota() {
    let broker = TestBroker::start_with(&QUOTA_WINDOW);
    let mut raw = RawClient::connect(broker.bootstrap());
    let topic = topic_name("quota-produce");
    assert_eq!(raw.create_topic(&topic, 1, 1, &[], &[], false).0, 0);
    set_quota(
        &mut raw,
        ("client-id", Some("quota-producer")),
        "producer_byte_rate",
        Some(QUOTA_BYTES_PER_S),
    );

    let context = QuotaContext::default();
    let producer: ThreadedProducer<QuotaContext> = client_config_with(
        broker.bootstrap(),
        &[
            ("client.id", "quota-producer"),
            ("acks", "all"),
            ("linger.ms", "5"),
            ("batch.size", "16384"),
            ("compression.type", "none"),
            ("queue.buffering.max.kbytes", "256"),
            ("message.timeout.ms", "120000"),
            ("statistics.interval.ms", "500"),
        ],
        &[],
    )
    .create_with_context(context.clone())
    .expect("create the throttled producer");
    let value = vec![b'q'; VALUE_BYTES];
    let deadline = Instant::now() + BURST + MEASURED + Duration::from_secs(60);
    let mut first_ack: Option<Instant> = None;
    loop {
        assert!(
            Instant::now() < deadline,
            "the producer did not get through its window in time"
        );
        if first_ack.is_none() {
            first_ack = context.0.delivered.lock().unwrap().first().map(|(t, _)| *t);
        }
        if first_ack.is_some_and(|t| t.elapsed() >= BURST + MEASURED) {
            break;
        }
        try_queue(&producer, &topic, &value);
    }
    assert_eq!(
        context.0.failed.load(Ordering::Relaxed),
        0,
        "no delivery may fail"
    );
    let samples = context.0.delivered.lock().unwrap().clone();
    let (rate, span) = steady_rate(&samples, first_ack.unwrap() + BURST);
    assert_within_ten_percent(rate, span, "the producer's acknowledged rate");
    wait_until(
        Duration::from_secs(10),
        "librdkafka to report a throttle time from the broker",
        || context.0.max_throttle_ms.load(Ordering::Relaxed) > 0,
    );
    let _ = producer.flush(Duration::from_secs(60));
}

#[test]
fn a_consumer_over_its_byte_rate_quota_is_throttled_to_the_quota() {
    let broker = TestBroker::start_with(&QUOTA_WINDOW);
    let mut raw = RawClient::connect(broker.bootstrap());
    let topic = topic_name("quota-fetch");
    assert_eq!(raw.create_topic(&topic, 1, 1, &[], &[], false).0, 0);
    // Enough for the burst and the measured window at the quota, produced unthrottled.
    let count = ((BURST + MEASURED).as_secs_f64() * QUOTA_BYTES_PER_S * 2.0) as usize / VALUE_BYTES;
    let producer: ThreadedProducer<QuotaContext> = client_config_with(
        broker.bootstrap(),
        // batches no larger than a fetch, which returns at least one whole batch
        &[
            ("linger.ms", "20"),
            ("acks", "all"),
            ("batch.size", "16384"),
        ],
        &[],
    )
    .create_with_context(QuotaContext::default())
    .expect("create the loading producer");
    let value = vec![b'c'; VALUE_BYTES];
    let mut sent = 0;
    while sent < count {
        if try_queue(&producer, &topic, &value) {
            sent += 1;
        }
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("the topic's records acknowledged");
    assert_eq!(producer.context().0.failed.load(Ordering::Relaxed), 0);
    set_quota(
        &mut raw,
        ("client-id", Some("quota-consumer")),
        "consumer_byte_rate",
        Some(QUOTA_BYTES_PER_S),
    );

    let context = QuotaContext::default();
    let consumer: BaseConsumer<QuotaContext> = client_config_with(
        broker.bootstrap(),
        &[
            ("client.id", "quota-consumer"),
            ("group.id", "quota-consumer-assign-only"),
            ("enable.auto.commit", "false"),
            ("enable.partition.eof", "false"),
            ("fetch.wait.max.ms", "100"),
            // small fetches, so the rate is made of many responses
            ("fetch.max.bytes", "32768"),
            ("message.max.bytes", "32768"),
            ("max.partition.fetch.bytes", "32768"),
            ("statistics.interval.ms", "500"),
        ],
        &[],
    )
    .create_with_context(context.clone())
    .expect("create the throttled consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let mut received: Vec<(Instant, usize)> = Vec::new();
    let deadline = Instant::now() + BURST + MEASURED + Duration::from_secs(60);
    loop {
        assert!(
            Instant::now() < deadline,
            "the consumer did not get through its window in time"
        );
        if received
            .first()
            .is_some_and(|(t, _)| t.elapsed() >= BURST + MEASURED)
        {
            break;
        }
        assert!(
            received.len() < count,
            "the consumer read everything before the window ended: not throttled"
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => received.push((Instant::now(), m.payload().map_or(0, <[u8]>::len))),
            Some(Err(e)) => panic!("consuming failed: {e}"),
            None => {}
        }
    }
    let (rate, span) = steady_rate(&received, received[0].0 + BURST);
    assert_within_ten_percent(rate, span, "the consumer's received rate");
    wait_until(
        Duration::from_secs(10),
        "librdkafka to report a throttle time from the broker",
        || {
            // the consumer's statistics arrive through poll
            let _ = consumer.poll(Duration::from_millis(100));
            context.0.max_throttle_ms.load(Ordering::Relaxed) > 0
        },
    );
}

/// Queues `value` to `topic`; `false`, after a short wait, while librdkafka's queue is full
/// because the broker throttles.
fn try_queue(producer: &ThreadedProducer<QuotaContext>, topic: &str, value: &[u8]) -> bool {
    match producer.send(BaseRecord::<(), [u8]>::to(topic).payload(value)) {
        Ok(()) => true,
        Err((KafkaError::MessageProduction(_), _)) => {
            std::thread::sleep(Duration::from_millis(5));
            false
        }
        Err((e, _)) => panic!("producing to {topic} failed: {e}"),
    }
}

const PLAIN_JAAS: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_alice="alice-secret" user_bob="bob-secret";"#;

/// Produces `count` values of `VALUE_BYTES` as a SASL PLAIN `user` with client id `app`;
/// returns the largest throttle time librdkafka saw.
fn produce_as(broker: &TestBroker, topic: &str, user: &str, count: usize) -> i64 {
    let bootstrap = broker
        .listener("SASL_PLAINTEXT")
        .expect("the SASL listener");
    let password = format!("{user}-secret");
    let context = QuotaContext::default();
    let producer: ThreadedProducer<QuotaContext> = client_config_with(
        &bootstrap,
        &[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanisms", "PLAIN"),
            ("sasl.username", user),
            ("sasl.password", &password),
            ("client.id", "app"),
            ("linger.ms", "5"),
            ("message.timeout.ms", "120000"),
            ("statistics.interval.ms", "200"),
        ],
        &[],
    )
    .create_with_context(context.clone())
    .expect("create a SASL producer");
    let value = vec![b'u'; VALUE_BYTES];
    let mut sent = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while sent < count {
        assert!(
            Instant::now() < deadline,
            "{user} could not queue {count} records"
        );
        if try_queue(&producer, topic, &value) {
            sent += 1;
        }
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("every record acknowledged");
    assert_eq!(context.0.failed.load(Ordering::Relaxed), 0);
    // one more statistics interval, so the last responses' throttle times are reported
    let seen = Instant::now();
    while seen.elapsed() < Duration::from_millis(1000)
        && context.0.max_throttle_ms.load(Ordering::Relaxed) == 0
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    context.0.max_throttle_ms.load(Ordering::Relaxed)
}

#[test]
fn a_users_quota_throttles_that_user_only() {
    let listeners = "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0";
    let broker = broker_spec()
        .overrides(&[
            ("listeners", listeners),
            ("advertised.listeners", listeners),
            ("sasl.enabled.mechanisms", "PLAIN"),
            (
                "listener.name.sasl_plaintext.plain.sasl.jaas.config",
                PLAIN_JAAS,
            ),
        ])
        .start();
    let mut raw = RawClient::connect(broker.bootstrap());
    let topic = topic_name("quota-user");
    assert_eq!(raw.create_topic(&topic, 1, 1, &[], &[], false).0, 0);
    // 10 KB/s for alice: 300 KB is far beyond the ~100 KB her rate window lets through.
    set_quota(
        &mut raw,
        ("user", Some("alice")),
        "producer_byte_rate",
        Some(10_000.0),
    );
    let bob = produce_as(&broker, &topic, "bob", 300);
    assert_eq!(bob, 0, "bob has no quota and must not be throttled");
    let alice = produce_as(&broker, &topic, "alice", 300);
    assert!(
        alice > 0,
        "alice's producer was never throttled by her 10 KB/s quota"
    );
}

#[test]
fn describe_client_quotas_answers_kafkas_filters() {
    let broker = TestBroker::start();
    let mut raw = RawClient::connect(broker.bootstrap());
    alter_ok(
        &mut raw,
        vec![
            entry(
                &[("user", Some("alice"))],
                &[("producer_byte_rate", Some(1024.0))],
            ),
            entry(&[("user", None)], &[("consumer_byte_rate", Some(2048.0))]),
            entry(
                &[("user", Some("alice")), ("client-id", Some("app"))],
                &[
                    ("request_percentage", Some(12.5)),
                    ("controller_mutation_rate", Some(3.0)),
                ],
            ),
            entry(
                &[("client-id", None)],
                &[("producer_byte_rate", Some(4096.0))],
            ),
            entry(
                &[("ip", Some("10.1.2.3"))],
                &[("connection_creation_rate", Some(5.0))],
            ),
        ],
    );
    let all = [
        "client-id=<default> -> producer_byte_rate=4096",
        "client-id=app,user=alice -> controller_mutation_rate=3,request_percentage=12.5",
        "ip=10.1.2.3 -> connection_creation_rate=5",
        "user=<default> -> consumer_byte_rate=2048",
        "user=alice -> producer_byte_rate=1024",
    ];
    assert_eq!(describe_all(&mut raw), all, "no filter: everything");
    assert_eq!(
        described(&describe(
            &mut raw,
            &[("user", EXACT, Some("alice"))],
            false
        )),
        [all[1], all[4]],
        "alice exactly, not strict: her entities with and without a client id"
    );
    assert_eq!(
        described(&describe(&mut raw, &[("user", EXACT, Some("alice"))], true)),
        [all[4]],
        "strict: only the entity of exactly these types"
    );
    assert_eq!(
        described(&describe(&mut raw, &[("user", DEFAULT, None)], false)),
        [all[3]],
        "the default user"
    );
    assert_eq!(
        described(&describe(&mut raw, &[("user", ANY, None)], true)),
        [all[3], all[4]],
        "any user, strict"
    );
    assert_eq!(
        described(&describe(
            &mut raw,
            &[("user", ANY, None), ("client-id", ANY, None)],
            false
        )),
        [all[1]],
        "any user with any client id"
    );
    // removing a key, and the entity with its last key
    set_quota(
        &mut raw,
        ("ip", Some("10.1.2.3")),
        "connection_creation_rate",
        None,
    );
    assert!(
        !describe_all(&mut raw).iter().any(|e| e.starts_with("ip=")),
        "the ip entity is gone with its only quota"
    );
    // bad filters
    for (components, code, what) in [
        (
            vec![("user", EXACT, None)],
            INVALID_REQUEST,
            "exact without a name",
        ),
        (
            vec![("user", DEFAULT, Some("x"))],
            INVALID_REQUEST,
            "default with a name",
        ),
        (
            vec![("user", ANY, None), ("user", ANY, None)],
            INVALID_REQUEST,
            "a type twice",
        ),
        (
            vec![("ip", ANY, None), ("user", ANY, None)],
            INVALID_REQUEST,
            "ip with user",
        ),
        (
            vec![("group", ANY, None)],
            UNSUPPORTED_VERSION,
            "an unknown entity type",
        ),
        (
            vec![("user", 7, None)],
            INVALID_REQUEST,
            "an unknown match type",
        ),
    ] {
        let response = describe(&mut raw, &components, false);
        assert_eq!(
            response.error_code, code,
            "{what}: {:?}",
            response.error_message
        );
        assert!(
            response.entries.is_none(),
            "{what}: an error answer has no entries"
        );
    }
}

#[test]
fn bad_alterations_get_kafkas_errors_and_store_nothing() {
    let broker = TestBroker::start();
    let mut raw = RawClient::connect(broker.bootstrap());
    let cases: Vec<(EntryData, &str)> = vec![
        (
            entry(&[("user", Some("a"))], &[("bogus_rate", Some(1.0))]),
            "an unknown key",
        ),
        (
            entry(
                &[("user", Some("a"))],
                &[("producer_byte_rate", Some(-5.0))],
            ),
            "a negative value",
        ),
        (
            entry(&[("user", Some("a"))], &[("consumer_byte_rate", Some(0.0))]),
            "zero",
        ),
        (
            entry(
                &[("user", Some("a"))],
                &[("producer_byte_rate", Some(10.5))],
            ),
            "a fractional LONG",
        ),
        (
            entry(
                &[("ip", Some("1.2.3.4")), ("user", Some("a"))],
                &[("producer_byte_rate", Some(1.0))],
            ),
            "ip with user",
        ),
        (
            entry(
                &[("ip", Some("not an ip"))],
                &[("connection_creation_rate", Some(1.0))],
            ),
            "a bad ip",
        ),
        (
            entry(&[("ip", None)], &[("producer_byte_rate", Some(1.0))]),
            "a user key on an ip",
        ),
        (
            entry(
                &[("user", Some("a"))],
                &[("connection_creation_rate", Some(1.0))],
            ),
            "an ip key on a user",
        ),
        (
            entry(
                &[("group", Some("g"))],
                &[("producer_byte_rate", Some(1.0))],
            ),
            "an unknown entity type",
        ),
        (
            entry(&[], &[("producer_byte_rate", Some(1.0))]),
            "an empty entity",
        ),
        (
            entry(&[("user", Some(""))], &[("producer_byte_rate", Some(1.0))]),
            "an empty name",
        ),
        (
            entry(
                &[("user", Some("a"))],
                &[
                    ("producer_byte_rate", Some(1.0)),
                    ("producer_byte_rate", Some(2.0)),
                ],
            ),
            "a key twice",
        ),
        (
            entry(
                &[("client-id", Some("c"))],
                &[("producer_byte_rate", Some(1.0)), ("bogus", Some(1.0))],
            ),
            "a good key beside a bad one",
        ),
    ];
    for (e, what) in cases {
        let results = alter(&mut raw, vec![e], false);
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].0, INVALID_REQUEST, "{what}: {:?}", results[0].1);
        assert!(results[0].1.is_some(), "{what}: the error says why");
    }
    // the same entity twice in one request: both refused
    let twice = alter(
        &mut raw,
        vec![
            entry(&[("user", Some("a"))], &[("producer_byte_rate", Some(1.0))]),
            entry(&[("user", Some("a"))], &[("consumer_byte_rate", Some(1.0))]),
        ],
        false,
    );
    assert!(
        twice.iter().all(|(code, _)| *code == INVALID_REQUEST),
        "a duplicate entity: {twice:?}"
    );
    // validate_only checks and stores nothing
    let validated = alter(
        &mut raw,
        vec![entry(
            &[("user", Some("a"))],
            &[("producer_byte_rate", Some(1.0))],
        )],
        true,
    );
    assert_eq!(
        validated[0].0, 0,
        "a valid entry validates: {:?}",
        validated[0].1
    );
    assert_eq!(
        describe_all(&mut raw),
        Vec::<String>::new(),
        "nothing was stored"
    );
    // a good entry beside a bad one is applied, the bad one is not
    let mixed = alter(
        &mut raw,
        vec![
            entry(
                &[("user", Some("good"))],
                &[("producer_byte_rate", Some(1000.0))],
            ),
            entry(
                &[("user", Some("bad"))],
                &[("producer_byte_rate", Some(-1.0))],
            ),
        ],
        false,
    );
    assert_eq!((mixed[0].0, mixed[1].0), (0, INVALID_REQUEST));
    assert_eq!(
        describe_all(&mut raw),
        ["user=good -> producer_byte_rate=1000"]
    );
}

#[test]
fn quotas_survive_a_restart() {
    let mut broker = TestBroker::start();
    let mut raw = RawClient::connect(broker.bootstrap());
    alter_ok(
        &mut raw,
        vec![
            entry(
                &[("user", Some("alice"))],
                &[("producer_byte_rate", Some(1024.0))],
            ),
            entry(
                &[("client-id", None)],
                &[("consumer_byte_rate", Some(2048.0))],
            ),
        ],
    );
    let before = describe_all(&mut raw);
    drop(raw);
    broker.kill9_and_restart();
    let mut raw = RawClient::connect(broker.bootstrap());
    assert_eq!(
        describe_all(&mut raw),
        before,
        "the quotas after kill -9 and a restart"
    );
}

#[test]
fn the_quota_apis_need_kafkas_cluster_permissions() {
    // ANONYMOUS on the PLAINTEXT listener is no super user and has no ACLs.
    let broker = TestBroker::start_with(&[
        (
            "authorizer.class.name",
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        ),
        ("super.users", "User:admin"),
    ]);
    let mut raw = RawClient::connect(broker.bootstrap());
    let refused = alter(
        &mut raw,
        vec![entry(
            &[("user", Some("a"))],
            &[("producer_byte_rate", Some(1.0))],
        )],
        false,
    );
    assert_eq!(
        refused[0].0, CLUSTER_AUTHORIZATION_FAILED,
        "AlterClientQuotas needs ALTER_CONFIGS on the cluster"
    );
    let response = describe(&mut raw, &[], false);
    assert_eq!(
        response.error_code, CLUSTER_AUTHORIZATION_FAILED,
        "DescribeClientQuotas needs DESCRIBE_CONFIGS on the cluster"
    );
}

#[test]
fn quotas_altered_through_any_node_reach_every_node() {
    let cluster = cluster_spec(3).start();
    // Through every node in turn: whichever is not the active controller forwards it.
    for id in cluster.node_ids() {
        let client = format!("app-{id}");
        set_quota(
            &mut cluster.node(id).raw(),
            ("client-id", Some(client.as_str())),
            "producer_byte_rate",
            Some(1000.0 * f64::from(id)),
        );
    }
    let expected: Vec<String> = cluster
        .node_ids()
        .into_iter()
        .map(|id| format!("client-id=app-{id} -> producer_byte_rate={}", 1000 * id))
        .collect();
    for id in cluster.node_ids() {
        let mut raw = cluster.node(id).raw();
        let mut last = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            last = describe_all(&mut raw);
            if last == expected {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(last, expected, "node {id} describes every node's quota");
    }
}

/// CreateTopics of one topic at `version`: (error code, message, throttle_time_ms).
fn create_topic_at(
    raw: &mut RawClient,
    version: i16,
    name: &str,
    partitions: i32,
) -> (i16, Option<String>, i32) {
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    let request = kafka_protocol::messages::CreateTopicsRequest::default()
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name_of(name))
            .with_num_partitions(partitions)
            .with_replication_factor(1)])
        .with_timeout_ms(30_000);
    let response = raw.expect_call(version, &request, "CreateTopics");
    let topic = &response.topics[0];
    (
        topic.error_code,
        topic.error_message.as_ref().map(|m| m.to_string()),
        response.throttle_time_ms,
    )
}

const THROTTLING_QUOTA_EXCEEDED: i16 = 89;

#[test]
fn topic_mutations_over_the_controller_mutation_rate_are_refused_or_throttled() {
    let broker = TestBroker::start();
    let mut raw = RawClient::connect(broker.bootstrap());
    // One partition per second for every user (the raw client is ANONYMOUS): over Kafka's
    // 10 s minimum span, 10 partitions at once stay within it.
    set_quota(
        &mut raw,
        ("user", None),
        "controller_mutation_rate",
        Some(1.0),
    );
    let first = topic_name("mutations-a");
    let (code, message, throttle) = create_topic_at(&mut raw, 7, &first, 12);
    assert_eq!(
        (code, throttle),
        (0, 0),
        "the first request is admitted whole, though it goes over: {message:?}"
    );
    let refused = topic_name("mutations-b");
    let (code, message, throttle) = create_topic_at(&mut raw, 7, &refused, 1);
    assert_eq!(
        code, THROTTLING_QUOTA_EXCEEDED,
        "CreateTopics v7 while over the quota: {message:?}"
    );
    assert_eq!(
        message.as_deref(),
        Some("The throttling quota has been exceeded.")
    );
    assert!(throttle > 0, "the refusal carries the throttle time");
    // The refusal muted that connection for the throttle time; the quota is the user's,
    // on any connection. CreateTopics v5 knows no THROTTLING_QUOTA_EXCEEDED: done, and
    // throttled.
    let mut raw = RawClient::connect(broker.bootstrap());
    let permissive = topic_name("mutations-c");
    let (code, message, throttle) = create_topic_at(&mut raw, 5, &permissive, 10);
    assert_eq!(code, 0, "CreateTopics v5 is permissive: {message:?}");
    assert!(
        throttle > 0,
        "a permissive request over the quota is throttled"
    );
    let mut raw = RawClient::connect(broker.bootstrap());
    let image_topics: Vec<String> = {
        let response = raw.expect_call(
            12,
            &kafka_protocol::messages::MetadataRequest::default().with_topics(None),
            "Metadata",
        );
        response
            .topics
            .iter()
            .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
            .collect()
    };
    assert!(image_topics.contains(&first) && image_topics.contains(&permissive));
    assert!(
        !image_topics.contains(&refused),
        "the refused topic was not created"
    );
    // with the quota removed, the refused topic is created
    set_quota(&mut raw, ("user", None), "controller_mutation_rate", None);
    let (code, message, _) = create_topic_at(&mut raw, 7, &refused, 1);
    assert_eq!(
        code, 0,
        "without the quota the topic is created: {message:?}"
    );
}

/// What librdkafka's statistics said: how many reports, and the largest throttle time any
/// broker response carried.
#[derive(Clone, Default)]
struct ThrottleStats(Arc<(AtomicU64, AtomicI64)>);

impl ClientContext for ThrottleStats {
    fn stats(&self, statistics: Statistics) {
        for broker in statistics.brokers.values() {
            if let Some(throttle) = &broker.throttle {
                self.0 .1.fetch_max(throttle.max, Ordering::Relaxed);
            }
        }
        self.0 .0.fetch_add(1, Ordering::Relaxed);
    }
}

impl ProducerContext for ThrottleStats {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &DeliveryResult<'_>, _: ()) {}
}

/// Produces `count` records one request at a time as `client_id`; what its statistics
/// reported once two more reports came after the last record.
fn produce_one_by_one(broker: &TestBroker, topic: &str, client_id: &str, count: usize) -> i64 {
    let stats = ThrottleStats::default();
    let producer: ThreadedProducer<ThrottleStats> = client_config_with(
        broker.bootstrap(),
        &[
            ("client.id", client_id),
            ("linger.ms", "0"),
            ("message.timeout.ms", "60000"),
            ("statistics.interval.ms", "200"),
        ],
        &[],
    )
    .create_with_context(stats.clone())
    .expect("create a producer");
    for _ in 0..count {
        producer
            .send(BaseRecord::<(), str>::to(topic).payload("r"))
            .unwrap_or_else(|(e, _)| panic!("enqueue: {e}"));
        producer
            .flush(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{client_id}: a produce failed: {e}"));
    }
    let reports = stats.0 .0.load(Ordering::Relaxed);
    wait_until(
        Duration::from_secs(30),
        "librdkafka to report its statistics after producing",
        || stats.0 .0.load(Ordering::Relaxed) >= reports + 2,
    );
    stats.0 .1.load(Ordering::Relaxed)
}

#[test]
fn a_client_over_its_request_percentage_gets_throttled_responses() {
    let broker = TestBroker::start_with(&QUOTA_WINDOW);
    let mut raw = RawClient::connect(broker.bootstrap());
    let topic = topic_name("quota-request");
    assert_eq!(raw.create_topic(&topic, 1, 1, &[], &[], false).0, 0);
    // A thousandth of a percent of one handler thread: any request goes over it.
    set_quota(
        &mut raw,
        ("client-id", Some("busy-client")),
        "request_percentage",
        Some(0.001),
    );
    let described = describe_all(&mut raw);
    assert!(
        described
            .iter()
            .any(|d| d.contains("busy-client") && d.contains("request_percentage")),
        "DescribeClientQuotas does not list the request quota: {described:?}"
    );

    let busy = produce_one_by_one(&broker, &topic, "busy-client", 5);
    assert!(
        busy > 0,
        "librdkafka saw no throttle time for a client over its request_percentage"
    );
    let calm = produce_one_by_one(&broker, &topic, "calm-client", 5);
    assert_eq!(
        calm, 0,
        "a client without a request quota was throttled (for {calm} ms)"
    );
    let (status, metrics) = http(
        "GET",
        &format!("{}/metrics", broker.admin_url().expect("admin listener")),
        None,
    );
    assert_eq!(status, 200);
    assert!(
        metrics.lines().any(|l| l
            .starts_with("kafka_server_quota_throttled_responses_total{quota_type=\"Request\"}")),
        "no throttled responses counted under the Request quota type"
    );
}

/// The sample `name{quota_type="..."}` of the broker's /metrics (0 when absent).
fn quota_metric(broker: &TestBroker, name: &str, quota_type: &str) -> f64 {
    let url = broker
        .admin_url()
        .expect("the test broker has an admin listener");
    let (status, text) = http("GET", &format!("{url}/metrics"), None);
    assert_eq!(status, 200, "GET /metrics answered {status}: {text}");
    let series = format!("{name}{{quota_type=\"{quota_type}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .map(|v| v.trim().parse().expect("a metric value is a number"))
        .unwrap_or(0.0)
}

/// librdkafka's admin client sends CreateTopics v4, DeleteTopics v1 and CreatePartitions
/// v0 — versions without THROTTLING_QUOTA_EXCEEDED, so over the mutation quota its
/// requests are done and throttled (Kafka's permissive mode), never refused.
#[test]
fn librdkafkas_admin_client_over_the_controller_mutation_rate_is_throttled_not_refused() {
    use rdkafka::admin::{NewPartitions, NewTopic, TopicReplication};
    let broker = TestBroker::start();
    let mut raw = RawClient::connect(broker.bootstrap());
    set_quota(
        &mut raw,
        ("user", None),
        "controller_mutation_rate",
        Some(1.0),
    );
    let admin = broker.admin();
    let first = topic_name("admin-mutations-a");
    let second = topic_name("admin-mutations-b");
    // 12 partitions go over 1 per second across the 10 s span; the next request is over.
    for (topic, partitions) in [(&first, 12), (&second, 2)] {
        let results = block_on(admin.create_topics(
            [&NewTopic::new(
                topic,
                partitions,
                TopicReplication::Fixed(1),
            )],
            &admin_options(),
        ))
        .expect("CreateTopics through librdkafka");
        assert!(
            results.iter().all(|r| r.is_ok()),
            "librdkafka's CreateTopics v4 is permissive, yet {topic} was refused: {results:?}"
        );
    }
    let grown =
        block_on(admin.create_partitions([&NewPartitions::new(&second, 4)], &admin_options()))
            .expect("CreatePartitions through librdkafka");
    assert!(
        grown.iter().all(|r| r.is_ok()),
        "CreatePartitions v0 is permissive: {grown:?}"
    );
    let metadata = broker
        .consumer()
        .fetch_metadata(Some(&second), CLIENT_TIMEOUT)
        .expect("metadata of the second topic");
    assert_eq!(
        metadata.topics()[0].partitions().len(),
        4,
        "the permissive CreatePartitions was not done"
    );
    let deleted = block_on(admin.delete_topics(&[second.as_str()], &admin_options()))
        .expect("DeleteTopics through librdkafka");
    assert!(
        deleted.iter().all(|r| r.is_ok()),
        "DeleteTopics v1 is permissive: {deleted:?}"
    );
    let throttled = quota_metric(
        &broker,
        "kafka_server_quota_throttled_responses_total",
        "ControllerMutation",
    );
    assert!(
        throttled >= 3.0,
        "the requests over the mutation quota were not throttled ({throttled} throttled responses)"
    );
}
