"""A user's session with aiokafka (asyncio client, its own protocol code and version choice).

    python3 aiokafka_session.py HOST:PORT

Steps: admin create topic with a config + describe configs, produce keys/headers/timestamps
with every codec aiokafka supports (send, and one batch through create_batch/send_batch),
consume everything from the beginning to the end with assign + seek (no consumer group),
beginning/end offsets, offsets for times, admin delete topic.
"""

import asyncio
import time

import aiokafka
import aiokafka.codec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from session_common import (
    STEP_TIMEOUT_SECS, compare_records, expect, expect_eq, expected_records, run, step,
    topic_name,
)

# Codec name → aiokafka's check that it can use it (cramjam provides snappy, lz4 and zstd).
CODECS = {
    "none": lambda: True,
    "gzip": aiokafka.codec.has_gzip,
    "snappy": aiokafka.codec.has_snappy,
    "lz4": aiokafka.codec.has_lz4,
    "zstd": aiokafka.codec.has_zstd,
}
RECORDS_PER_CODEC = 30
TIMEOUT_MS = int(STEP_TIMEOUT_SECS * 1000)


async def with_deadline(what, awaitable):
    try:
        return await asyncio.wait_for(awaitable, STEP_TIMEOUT_SECS)
    except asyncio.TimeoutError:
        raise AssertionError(f"{what} did not finish within {STEP_TIMEOUT_SECS:.0f} s") from None


async def admin_create(bootstrap, topic):
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT_MS)
    await with_deadline("admin start", admin.start())
    try:
        response = await with_deadline("create_topics", admin.create_topics(
            [NewTopic(topic, num_partitions=len(CODECS) + 1, replication_factor=1,
                      topic_configs={"max.message.bytes": "2000000"})],
            timeout_ms=TIMEOUT_MS))
        errors = [(t[0], t[1]) for t in response.topic_errors]
        expect_eq(errors, [(topic, 0)], "create_topics (topic, error code)")
        expect(topic in await with_deadline("list_topics", admin.list_topics()),
               f"{topic} missing from list_topics after creation")
        responses = await with_deadline("describe_configs", admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic,
                            configs={"max.message.bytes": None, "retention.ms": None})]))
        entries = {}
        for response in responses:
            for resource in response.resources:
                expect_eq(resource[0], 0, f"describe_configs error code for {resource[3]}")
                for entry in resource[4]:
                    entries[entry[0]] = entry[1]
        expect_eq(entries, {"max.message.bytes": "2000000", "retention.ms": "604800000"},
                  "describe_configs values of max.message.bytes and retention.ms")
        step(f"admin: created {topic} with max.message.bytes, describe_configs shows it")
    finally:
        await admin.close()


async def admin_delete(bootstrap, topic):
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT_MS)
    await with_deadline("admin start", admin.start())
    try:
        response = await with_deadline("delete_topics",
                                       admin.delete_topics([topic], timeout_ms=TIMEOUT_MS))
        expect_eq([(t[0], t[1]) for t in response.topic_error_codes], [(topic, 0)],
                  "delete_topics (topic, error code)")
        deadline = time.monotonic() + STEP_TIMEOUT_SECS
        while topic in await with_deadline("list_topics", admin.list_topics()):
            expect(time.monotonic() < deadline, f"{topic} still listed after deletion")
            await asyncio.sleep(0.1)
        step(f"admin: deleted {topic}")
    finally:
        await admin.close()


async def produce(bootstrap, topic, base_timestamp_ms):
    expected = {}
    for partition, (codec, available) in enumerate(CODECS.items()):
        expect(available(), f"aiokafka cannot use codec {codec}: pip install cramjam")
        records = expected_records(codec, RECORDS_PER_CODEC, base_timestamp_ms)
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", linger_ms=50,
            compression_type=None if codec == "none" else codec,
            request_timeout_ms=TIMEOUT_MS)
        await with_deadline("producer start", producer.start())
        try:
            futures = [
                await producer.send(topic, key=r["key"], value=r["value"], headers=r["headers"],
                                    partition=partition, timestamp_ms=r["timestamp"])
                for r in records
            ]
            for i, future in enumerate(futures):
                meta = await with_deadline(f"ack of {codec} record {i}", future)
                expect_eq((meta.partition, meta.offset), (partition, i),
                          f"{codec}: partition/offset acknowledged for record {i}")
        finally:
            await producer.stop()
        expected[partition] = (codec, records)
        step(f"produce: {len(records)} records with {codec} to partition {partition}")

    # One explicitly built batch (aiokafka's create_batch/send_batch path), gzip.
    partition = len(CODECS)
    records = expected_records("batch", 10, base_timestamp_ms)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                compression_type="gzip", request_timeout_ms=TIMEOUT_MS)
    await with_deadline("producer start", producer.start())
    try:
        batch = producer.create_batch()
        for r in records:
            appended = batch.append(key=r["key"], value=r["value"], headers=r["headers"],
                                    timestamp=r["timestamp"])
            expect(appended is not None, "create_batch: batch full after fewer than 10 records")
        future = await producer.send_batch(batch, topic, partition=partition)
        meta = await with_deadline("ack of the built batch", future)
        expect_eq((meta.partition, meta.offset), (partition, 0), "send_batch base offset")
    finally:
        await producer.stop()
    expected[partition] = ("batch", records)
    step(f"produce: one built batch of {len(records)} records to partition {partition}")
    return expected


async def consume(bootstrap, topic, expected, base_timestamp_ms):
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="none",
                                fetch_max_wait_ms=200, request_timeout_ms=TIMEOUT_MS)
    await with_deadline("consumer start", consumer.start())
    try:
        partitions = [TopicPartition(topic, p) for p in expected]
        consumer.assign(partitions)
        end = await with_deadline("end_offsets", consumer.end_offsets(partitions))
        begin = await with_deadline("beginning_offsets", consumer.beginning_offsets(partitions))
        for tp in partitions:
            expect_eq(end[tp], len(expected[tp.partition][1]), f"end offset of {tp}")
            expect_eq(begin[tp], 0, f"beginning offset of {tp}")
        step("offsets: beginning 0 and end offset = records produced on every partition")

        await with_deadline("seek_to_beginning", consumer.seek_to_beginning(*partitions))
        got = {tp.partition: [] for tp in partitions}
        deadline = time.monotonic() + STEP_TIMEOUT_SECS
        while any(len(got[tp.partition]) < end[tp] for tp in partitions):
            expect(time.monotonic() < deadline,
                   f"consumed only {[(p, len(r)) for p, r in got.items()]} records within "
                   f"{STEP_TIMEOUT_SECS:.0f} s")
            batches = await consumer.getmany(timeout_ms=500)
            for tp, messages in batches.items():
                for m in messages:
                    got[tp.partition].append((m.offset, m.key, m.value, list(m.headers),
                                              m.timestamp))
        for partition, (codec, records) in expected.items():
            compare_records(got[partition], records, f"consume {codec} (partition {partition})")
            tp = TopicPartition(topic, partition)
            expect_eq(await consumer.position(tp), len(records), f"position at the end of {tp}")
        step("consume: assign + seek_to_beginning read every record back exactly, to the end")

        between = {tp: base_timestamp_ms + 7_500 for tp in partitions}
        found = await with_deadline("offsets_for_times", consumer.offsets_for_times(between))
        for tp in partitions:
            ot = found.get(tp)
            expect(ot is not None, f"offsets_for_times found nothing for {tp}")
            expect_eq((ot.offset, ot.timestamp), (8, base_timestamp_ms + 8_000),
                      f"offsets_for_times(t0 + 7.5 s) for {tp}")
        late = await with_deadline("offsets_for_times", consumer.offsets_for_times(
            {tp: base_timestamp_ms + 3_600_000 for tp in partitions}))
        for tp in partitions:
            expect_eq(late.get(tp), None, f"offsets_for_times(after the last record) for {tp}")
        step("offsets_for_times: between and after the records")

        tp0 = partitions[0]
        consumer.seek(tp0, 8)
        m = await with_deadline("getone after seek", consumer.getone(tp0))
        expect_eq((m.offset, m.timestamp), (8, base_timestamp_ms + 8_000),
                  "first record after seek(8)")
        step("consume: seek(8) then getone returns offset 8")
    finally:
        await consumer.stop()


async def async_session(bootstrap):
    step(f"aiokafka {aiokafka.__version__}, bootstrap {bootstrap}")
    topic = topic_name("aio-data")
    await admin_create(bootstrap, topic)
    base_timestamp_ms = int(time.time() * 1000) - 600_000
    expected = await produce(bootstrap, topic, base_timestamp_ms)
    await consume(bootstrap, topic, expected, base_timestamp_ms)
    await admin_delete(bootstrap, topic)


def session(bootstrap):
    asyncio.run(async_session(bootstrap))


if __name__ == "__main__":
    run(session)
