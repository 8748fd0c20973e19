//! A user's session: produce and fetch records through librdkafka.
mod common;

use common::*;

#[test]
fn produce_then_consume_round_trips_a_record() {
    let broker = TestBroker::start();
    let topic = topic_name("roundtrip");
    broker.create_topic(&topic, 1, &[]);
    let producer = broker.producer();
    let (partition, offset) = broker.produce_one(&producer, &topic, 0, b"k", b"v");
    assert_eq!(
        (partition, offset),
        (0, 0),
        "first record lands at offset 0"
    );
    let records = broker.consume_all(&topic, 0, 0);
    assert_eq!(records.len(), 1);
}
