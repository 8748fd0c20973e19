"""Idempotent producers as the python clients configure them by default or on request.

    python3 idempotent_producers.py HOST:PORT

kafka-python (>= 2.1) enables idempotence by default (KIP-679, like the Java client since
Kafka 3.0); aiokafka with enable_idempotence=True. Both need InitProducerId first and
refuse to produce without it. Each producer sends records with keys and headers; they
must come back in order from offset 0.
"""

import asyncio

import aiokafka
import kafka
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka import KafkaProducer

from session_common import STEP_TIMEOUT_SECS, expect_eq, read_partition, run, step, topic_name

RECORDS = 20


def kafka_python_default(bootstrap):
    topic = topic_name("kp-idem")
    producer = KafkaProducer(bootstrap_servers=bootstrap)  # enable_idempotence defaults on
    try:
        futures = [producer.send(topic, key=b"k%d" % i, value=b"v%d" % i, partition=0,
                                 headers=[("h", b"x")]) for i in range(RECORDS)]
        producer.flush(timeout=STEP_TIMEOUT_SECS)
        for i, f in enumerate(futures):
            expect_eq(f.get(timeout=STEP_TIMEOUT_SECS).offset, i, f"offset of record {i}")
    finally:
        producer.close(timeout=STEP_TIMEOUT_SECS)
    expect_eq(read_partition(bootstrap, topic, RECORDS),
              [(i, b"v%d" % i) for i in range(RECORDS)], "records read back")
    step(f"kafka-python {kafka.__version__} default (idempotent) producer: {RECORDS} records")


async def aiokafka_idempotent(bootstrap):
    topic = topic_name("aio-idem")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await asyncio.wait_for(producer.start(), STEP_TIMEOUT_SECS)
    try:
        for i in range(RECORDS):
            meta = await asyncio.wait_for(
                producer.send_and_wait(topic, key=b"k%d" % i, value=b"v%d" % i, partition=0),
                STEP_TIMEOUT_SECS)
            expect_eq(meta.offset, i, f"offset of record {i}")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest")
    await asyncio.wait_for(consumer.start(), STEP_TIMEOUT_SECS)
    try:
        consumer.assign([aiokafka.TopicPartition(topic, 0)])
        got = []
        for _ in range(RECORDS):
            m = await asyncio.wait_for(consumer.getone(), STEP_TIMEOUT_SECS)
            got.append((m.offset, m.value))
    finally:
        await consumer.stop()
    expect_eq(got, [(i, b"v%d" % i) for i in range(RECORDS)], "records read back")
    step(f"aiokafka {aiokafka.__version__} idempotent producer: {RECORDS} records")


def session(bootstrap):
    kafka_python_default(bootstrap)
    asyncio.run(aiokafka_idempotent(bootstrap))


if __name__ == "__main__":
    run(session)
