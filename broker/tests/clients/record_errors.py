"""Record-level produce errors (KIP-467) as confluent-kafka and kafka-python see them.

    python3 record_errors.py HOST:PORT

Each client sends 100 records in one batch to a compacted topic, 10 of them without a key.
The broker refuses the batch naming the 10 (record_errors), so each client fails exactly
those with INVALID_RECORD and the 90 others with its "part of a batch with invalid records"
error; nothing is stored, and the 90 sent again are acknowledged at offsets 0..89.
"""

from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic
import kafka.errors
from kafka import KafkaProducer

from session_common import STEP_TIMEOUT_SECS, expect, expect_eq, read_partition, run, step, topic_name

RECORDS = 100


def keyless(i):
    return i % 10 == 7


def record(i):
    return (None if keyless(i) else f"key-{i}".encode()), f"value-{i}".encode()


def create_compacted(bootstrap, topic):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, 1, 1, config={"cleanup.policy": "compact"})])
    for future in futures.values():
        future.result(timeout=STEP_TIMEOUT_SECS)


def stored_values_of(bootstrap, topic):
    """Every value of partition 0 (the end offset is read first, then read up to it)."""
    return [value for _, value in read_partition(bootstrap, topic)]


def confluent_kafka_session(bootstrap):
    topic = topic_name("ck-record-errors")
    create_compacted(bootstrap, topic)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1000,
                         "enable.idempotence": False, "acks": "all"})

    def send(indexes):
        reports = {}

        def on_delivery(i):
            return lambda err, msg: reports.__setitem__(i, err if err else msg.offset())
        for i in indexes:
            key, value = record(i)
            producer.produce(topic, key=key, value=value, partition=0, on_delivery=on_delivery(i))
        remaining = producer.flush(STEP_TIMEOUT_SECS)
        expect_eq(remaining, 0, "confluent-kafka: records without a delivery report")
        return reports

    step("confluent-kafka: 100 records, 10 keyless, to a compacted topic")
    reports = send(range(RECORDS))
    for i in range(RECORDS):
        err = reports[i]
        want = KafkaError.INVALID_RECORD if keyless(i) else KafkaError._INVALID_DIFFERENT_RECORD
        expect(isinstance(err, KafkaError) and err.code() == want,
               f"confluent-kafka record {i} ({'keyless' if keyless(i) else 'keyed'}): "
               f"expected error {want}, got {err!r}")
    expect_eq(stored_values_of(bootstrap, topic), [], "confluent-kafka: stored after the refusal")

    step("confluent-kafka: the 90 keyed records again")
    keyed = [i for i in range(RECORDS) if not keyless(i)]
    reports = send(keyed)
    expect_eq([reports[i] for i in keyed], list(range(len(keyed))), "confluent-kafka: offsets")
    expect_eq(stored_values_of(bootstrap, topic), [record(i)[1] for i in keyed],
              "confluent-kafka: stored values")


def kafka_python_session(bootstrap):
    topic = topic_name("kp-record-errors")
    create_compacted(bootstrap, topic)
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=1000, acks="all",
                             enable_idempotence=False, retries=0)
    try:
        step("kafka-python: 100 records, 10 keyless, to a compacted topic")
        futures = []
        for i in range(RECORDS):
            key, value = record(i)
            futures.append(producer.send(topic, key=key, value=value, partition=0))
        producer.flush(timeout=STEP_TIMEOUT_SECS)
        for i, future in enumerate(futures):
            expect(future.is_done and future.failed(), f"kafka-python record {i} did not fail")
            error = future.exception
            if keyless(i):
                expect(isinstance(error, kafka.errors.InvalidRecordError)
                       and "without a key" in str(error),
                       f"kafka-python keyless record {i}: expected InvalidRecordError with the "
                       f"broker's per-record message, got {error!r}")
            else:
                expect(not isinstance(error, kafka.errors.InvalidRecordError)
                       and "part of a batch" in str(error),
                       f"kafka-python keyed record {i}: expected the 'part of a batch' error, "
                       f"got {error!r}")
        expect_eq(stored_values_of(bootstrap, topic), [], "kafka-python: stored after the refusal")

        step("kafka-python: the 90 keyed records again")
        keyed = [i for i in range(RECORDS) if not keyless(i)]
        futures = [producer.send(topic, key=record(i)[0], value=record(i)[1], partition=0)
                   for i in keyed]
        producer.flush(timeout=STEP_TIMEOUT_SECS)
        expect_eq([f.get(timeout=STEP_TIMEOUT_SECS).offset for f in futures],
                  list(range(len(keyed))), "kafka-python: offsets")
    finally:
        producer.close(timeout=STEP_TIMEOUT_SECS)


def session(bootstrap):
    confluent_kafka_session(bootstrap)
    kafka_python_session(bootstrap)


if __name__ == "__main__":
    run(session)
