"""Transactional producers of the python clients: commit, abort and consumed offsets.

    python3 transactional_producers.py HOST:PORT

kafka-python (transactional_id=...) commits one transaction and aborts another, then a
consume-transform-produce round sends the input offsets of a group consumer with
send_offsets_to_transaction; aiokafka does a commit, an abort and another commit. A
read_committed consumer must see exactly the committed records (reading past the aborted
ones), and the group's committed offset must be the one sent in the committed transaction.
"""

import asyncio

import aiokafka
import kafka
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition

from session_common import (STEP_TIMEOUT_SECS, expect_eq, read_partition, run, step, topic_name,
                            wait_until)


def committed_values(bootstrap, topic, count):
    """The first `count` values of `topic` partition 0 as read_committed sees them; nothing
    else (aborted records) may follow: the LSO is the end."""
    return [value for _, value in read_partition(bootstrap, topic, count, "read_committed",
                                                 ends_there=True)]


def kafka_python_transactions(bootstrap):
    topic = topic_name("kp-txn")
    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=topic_name("kp-tid"))
    try:
        producer.init_transactions()
        producer.begin_transaction()
        for i in range(5):
            producer.send(topic, value=b"committed-%d" % i, partition=0)
        producer.commit_transaction()
        producer.begin_transaction()
        for i in range(5):
            producer.send(topic, value=b"aborted-%d" % i, partition=0)
        producer.flush(timeout=STEP_TIMEOUT_SECS)
        producer.abort_transaction()
    finally:
        producer.close(timeout=STEP_TIMEOUT_SECS)
    expect_eq(committed_values(bootstrap, topic, 5), [b"committed-%d" % i for i in range(5)],
              "read_committed records")
    step(f"kafka-python {kafka.__version__} transactional producer: commit and abort")


def kafka_python_consume_transform_produce(bootstrap):
    source, sink, group = topic_name("kp-src"), topic_name("kp-sink"), topic_name("kp-eos")
    plain = KafkaProducer(bootstrap_servers=bootstrap)
    for i in range(4):
        plain.send(source, value=b"in-%d" % i, partition=0)
    plain.flush(timeout=STEP_TIMEOUT_SECS)
    plain.close(timeout=STEP_TIMEOUT_SECS)
    consumer = KafkaConsumer(source, bootstrap_servers=bootstrap, group_id=group,
                             enable_auto_commit=False, auto_offset_reset="earliest",
                             isolation_level="read_committed")
    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=topic_name("kp-eos"))
    try:
        got = []

        def all_read():
            for messages in consumer.poll(timeout_ms=200).values():
                got.extend(messages)
            return len(got) >= 4
        wait_until("the group consumer to read the 4 input records", all_read)
        producer.init_transactions()
        producer.begin_transaction()
        for m in got:
            producer.send(sink, value=m.value.upper(), partition=0)
        producer.send_offsets_to_transaction(
            {TopicPartition(source, 0): OffsetAndMetadata(4, "", -1)},
            consumer.group_metadata())
        producer.commit_transaction()
        committed = consumer.committed(TopicPartition(source, 0))
        expect_eq(committed, 4, "the group's offset committed with the transaction")
    finally:
        producer.close(timeout=STEP_TIMEOUT_SECS)
        consumer.close()
    expect_eq(committed_values(bootstrap, sink, 4), [b"IN-%d" % i for i in range(4)],
              "transformed records")
    step("kafka-python consume-transform-produce: output and input offsets in one transaction")


async def aiokafka_transactions(bootstrap):
    topic = topic_name("aio-txn")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap,
                                transactional_id=topic_name("aio-tid"))
    await asyncio.wait_for(producer.start(), STEP_TIMEOUT_SECS)
    try:
        async with producer.transaction():
            for i in range(3):
                await producer.send_and_wait(topic, value=b"committed-%d" % i, partition=0)
        await producer.begin_transaction()
        for i in range(3):
            await producer.send_and_wait(topic, value=b"aborted-%d" % i, partition=0)
        await producer.abort_transaction()
        # A record committed after the abort: reading up to it reads past the aborted range.
        async with producer.transaction():
            await producer.send_and_wait(topic, value=b"after-abort", partition=0)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", isolation_level="read_committed")
    await asyncio.wait_for(consumer.start(), STEP_TIMEOUT_SECS)
    try:
        consumer.assign([aiokafka.TopicPartition(topic, 0)])
        got = []
        # Bounded: 4 records are expected; 10 means aborted ones came through.
        while b"after-abort" not in got and len(got) < 10:
            m = await asyncio.wait_for(consumer.getone(), STEP_TIMEOUT_SECS)
            got.append(m.value)
    finally:
        await consumer.stop()
    expect_eq(got, [b"committed-%d" % i for i in range(3)] + [b"after-abort"],
              "read_committed records up to one committed after the abort")
    step(f"aiokafka {aiokafka.__version__} transactional producer: commit and abort")


def session(bootstrap):
    kafka_python_transactions(bootstrap)
    kafka_python_consume_transform_produce(bootstrap)
    asyncio.run(aiokafka_transactions(bootstrap))


if __name__ == "__main__":
    run(session)
