"""A user's session with kafka-python (pure-python client, negotiates its own versions).

    python3 kafka_python_session.py HOST:PORT [API_VERSION]

API_VERSION (e.g. `2.1`) pins kafka-python to the request versions it would use with a
broker of that Kafka release, skipping version negotiation: that is how an old client
talks. Without it the client negotiates from ApiVersions (newest versions both sides know).

Steps: admin create topics (with configs, duplicate rejected), list/describe topics,
describe configs (topic + broker), produce keys/headers/timestamps with every codec
kafka-python supports, consume everything from the beginning to the end with assign + seek
(no consumer group), beginning/end offsets, offsets for times, delete topics.
"""

import sys
import time

import kafka
import kafka.codec
import kafka.errors
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, OffsetSpec

from session_common import (
    STEP_TIMEOUT_SECS, compare_records, expect, expect_eq, expected_records, run, step,
    topic_name, wait_until,
)

# Codec name → kafka-python's check that its python package is importable.
CODECS = {
    "none": lambda: True,
    "gzip": kafka.codec.has_gzip,
    "snappy": kafka.codec.has_snappy,  # python-snappy
    "lz4": kafka.codec.has_lz4,  # lz4
    "zstd": kafka.codec.has_zstd,  # zstandard
}
RECORDS_PER_CODEC = 40
TIMEOUT_MS = int(STEP_TIMEOUT_SECS * 1000)


def client_config(bootstrap, api_version):
    config = {
        "bootstrap_servers": bootstrap,
        "request_timeout_ms": TIMEOUT_MS,
    }
    if api_version is not None:
        config["api_version"] = api_version
    return config


def admin_session(config, data_topic):
    admin = KafkaAdminClient(**config)
    try:
        step(f"admin: broker version as kafka-python sees it: {admin._manager.broker_version}")
        conf_topic = topic_name("kp-conf")
        admin.create_topics({
            data_topic: {"num_partitions": len(CODECS), "replication_factor": 1},
            conf_topic: {
                "num_partitions": 3,
                "replication_factor": 1,
                "configs": {"retention.ms": "3600000", "cleanup.policy": "delete"},
            },
        }, timeout_ms=TIMEOUT_MS)
        step(f"admin: created {data_topic} and {conf_topic}")

        try:
            admin.create_topics({conf_topic: {"num_partitions": 1, "replication_factor": 1}},
                                timeout_ms=TIMEOUT_MS)
            raise AssertionError(f"creating {conf_topic} twice succeeded")
        except kafka.errors.TopicAlreadyExistsError:
            step("admin: second create of the same topic rejected with TopicAlreadyExistsError")

        listed = wait_until(f"{data_topic} and {conf_topic} in list_topics",
                            lambda: (lambda t: t if {data_topic, conf_topic} <= set(t) else None)(
                                admin.list_topics()))
        step(f"admin: list_topics has both ({len(listed)} topics)")

        described = {t["name"]: t for t in admin.describe_topics([data_topic, conf_topic])}
        for name, count in ((data_topic, len(CODECS)), (conf_topic, 3)):
            t = described.get(name)
            expect(t is not None, f"describe_topics lacks {name}: {described}")
            expect_eq(t["error_code"], 0, f"describe_topics error code of {name}")
            expect_eq(sorted(p["partition_index"] for p in t["partitions"]), list(range(count)),
                      f"partitions of {name}")
            for p in t["partitions"]:
                expect_eq(p["leader_id"], 1, f"leader of {name}-{p['partition_index']}")
                expect_eq(p["replica_nodes"], [1], f"replicas of {name}-{p['partition_index']}")
                expect_eq(p["isr_nodes"], [1], f"isr of {name}-{p['partition_index']}")
        step("admin: describe_topics shows every partition led by broker 1")

        modified = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, conf_topic)])
        got = {k: (v["value"], v["config_source"])
               for k, v in modified["topic"][conf_topic].items()}
        expect_eq(got, {
            "retention.ms": ("3600000", "DYNAMIC_TOPIC_CONFIG"),
            "cleanup.policy": ("delete", "DYNAMIC_TOPIC_CONFIG"),
        }, "describe_configs (modified only) of the configured topic")
        everything = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, conf_topic,
                            configs={"retention.ms": None, "segment.bytes": None})],
            config_filter="all")
        picked = everything["topic"][conf_topic]
        expect_eq((picked["segment.bytes"]["value"], picked["segment.bytes"]["config_source"]),
                  ("1073741824", "DEFAULT_CONFIG"), "describe_configs segment.bytes default")
        expect_eq(sorted(picked), ["retention.ms", "segment.bytes"],
                  "describe_configs with named keys returns just those keys")
        broker = admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, "1")],
                                        config_filter="all")["broker"]["1"]
        expect("log.dirs" in broker and "num.partitions" in broker,
               f"broker describe_configs lacks log.dirs/num.partitions: {sorted(broker)[:20]}...")
        step(f"admin: describe_configs topic (modified + named keys) and broker ({len(broker)} keys)")

        admin.delete_topics([conf_topic], timeout_ms=TIMEOUT_MS)
        wait_until(f"{conf_topic} gone from list_topics",
                   lambda: conf_topic not in admin.list_topics())
        try:
            admin.delete_topics([conf_topic], timeout_ms=TIMEOUT_MS)
            raise AssertionError(f"deleting {conf_topic} twice succeeded")
        except kafka.errors.UnknownTopicOrPartitionError:
            step("admin: deleted topic; second delete rejected with UnknownTopicOrPartitionError")
    finally:
        admin.close()


def produce(config, topic, base_timestamp_ms):
    """Produce each codec's records to its own partition; return {partition: records}."""
    expected = {}
    for partition, (codec, available) in enumerate(CODECS.items()):
        expect(available(), f"kafka-python cannot use codec {codec}: its python package is "
               "missing (pip install python-snappy lz4 zstandard)")
        records = expected_records(codec, RECORDS_PER_CODEC, base_timestamp_ms)
        producer = KafkaProducer(
            **config,
            compression_type=None if codec == "none" else codec,
            acks="all",
            enable_idempotence=False,
            linger_ms=50,
            max_in_flight_requests_per_connection=1,
        )
        try:
            futures = [
                producer.send(topic, key=r["key"], value=r["value"], headers=r["headers"],
                              partition=partition, timestamp_ms=r["timestamp"])
                for r in records
            ]
            producer.flush(timeout=STEP_TIMEOUT_SECS)
            for i, future in enumerate(futures):
                meta = future.get(timeout=STEP_TIMEOUT_SECS)
                expect_eq((meta.partition, meta.offset), (partition, i),
                          f"{codec}: partition/offset acknowledged for record {i}")
                expect_eq(meta.timestamp, records[i]["timestamp"],
                          f"{codec}: timestamp acknowledged for record {i} (CreateTime)")
        finally:
            producer.close(timeout=STEP_TIMEOUT_SECS)
        expected[partition] = (codec, records)
        step(f"produce: {len(records)} records with {codec} to partition {partition}")
    return expected


def consume(config, topic, expected, base_timestamp_ms):
    consumer = KafkaConsumer(**config, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="none", fetch_max_wait_ms=200)
    try:
        partitions = [TopicPartition(topic, p) for p in expected]
        consumer.assign(partitions)

        end = consumer.end_offsets(partitions, timeout_ms=TIMEOUT_MS)
        begin = consumer.beginning_offsets(partitions, timeout_ms=TIMEOUT_MS)
        for tp in partitions:
            expect_eq(end[tp], RECORDS_PER_CODEC, f"end offset of {tp}")
            expect_eq(begin[tp], 0, f"beginning offset of {tp}")
        step("offsets: beginning 0 and end offset = records produced on every partition")

        for tp in partitions:
            consumer.seek(tp, 0)
        got = {tp.partition: [] for tp in partitions}
        deadline = time.monotonic() + STEP_TIMEOUT_SECS
        while any(len(got[p]) < end[TopicPartition(topic, p)] for p in got):
            expect(time.monotonic() < deadline,
                   f"consumed only {[(p, len(r)) for p, r in got.items()]} records of "
                   f"{RECORDS_PER_CODEC} per partition within {STEP_TIMEOUT_SECS:.0f} s")
            for tp, messages in consumer.poll(timeout_ms=500).items():
                for m in messages:
                    got[tp.partition].append(
                        (m.offset, m.key, m.value, m.headers, m.timestamp))
        for partition, (codec, records) in expected.items():
            compare_records(got[partition], records, f"consume {codec} (partition {partition})")
            tp = TopicPartition(topic, partition)
            expect_eq(consumer.position(tp), RECORDS_PER_CODEC, f"position at the end of {tp}")
        step("consume: assign + seek(0) read every record back exactly, to the end offset")

        # A time between records 12 and 13 finds 13; before everything finds 0; after
        # everything finds nothing (None).
        between = {tp: base_timestamp_ms + 12_500 for tp in partitions}
        for tp, found in consumer.offsets_for_times(between, timeout_ms=TIMEOUT_MS).items():
            expect(found is not None, f"offsets_for_times found nothing for {tp}")
            expect_eq((found.offset, found.timestamp), (13, base_timestamp_ms + 13_000),
                      f"offsets_for_times(t0 + 12.5 s) for {tp}")
        early = consumer.offsets_for_times({tp: base_timestamp_ms - 1 for tp in partitions},
                                           timeout_ms=TIMEOUT_MS)
        for tp, found in early.items():
            expect(found is not None and found.offset == 0,
                   f"offsets_for_times(before the first record) for {tp}: {found}")
        late = consumer.offsets_for_times(
            {tp: base_timestamp_ms + RECORDS_PER_CODEC * 1000 for tp in partitions},
            timeout_ms=TIMEOUT_MS)
        for tp, found in late.items():
            expect_eq(found, None, f"offsets_for_times(after the last record) for {tp}")
        step("offsets_for_times: between, before and after the records")

        # Seek to a found offset and read from there: what a user does after a time lookup.
        # The zstd partition: the offset lies inside a compressed batch, so the broker
        # returns the whole batch and the client drops the records before 13.
        tp0 = partitions[-1]
        consumer.assign([tp0])
        consumer.seek(tp0, 13)
        tail = []
        deadline = time.monotonic() + STEP_TIMEOUT_SECS
        while len(tail) < RECORDS_PER_CODEC - 13:
            expect(time.monotonic() < deadline,
                   f"from offset 13 read only {len(tail)} records within {STEP_TIMEOUT_SECS:.0f} s")
            for messages in consumer.poll(timeout_ms=500).values():
                tail.extend(m.offset for m in messages)
        expect_eq(tail, list(range(13, RECORDS_PER_CODEC)), "offsets read after seek(13)")
        step(f"consume: seek(13) into a compressed batch of {tp0} reads 13..end")
    finally:
        consumer.close()


def admin_changes(config, api_version):
    """Partitions, config changes (incremental and legacy AlterConfigs), admin ListOffsets,
    DeleteRecords and what a consumer sees after it; auto-creation by a producer."""
    admin = KafkaAdminClient(**config)
    producer = KafkaProducer(**config, enable_idempotence=False, compression_type="gzip",
                             linger_ms=20)
    consumer = None
    try:
        topic = topic_name("kp-admin")
        admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}},
                            timeout_ms=TIMEOUT_MS)
        admin.create_partitions({topic: NewPartitions(3)}, timeout_ms=TIMEOUT_MS)
        wait_until(f"3 partitions of {topic} in describe_topics",
                   lambda: len(admin.describe_topics([topic])[0]["partitions"]) == 3)
        step("admin: create_partitions 1 -> 3")

        resource = ConfigResource(ConfigResourceType.TOPIC, topic,
                                  configs={"retention.ms": "7200000"})
        admin.alter_configs([resource])
        got = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        expect_eq(got["topic"][topic].get("retention.ms", {}).get("value"), "7200000",
                  "retention.ms after alter_configs (negotiated: incremental)")
        resource = ConfigResource(ConfigResourceType.TOPIC, topic,
                                  configs={"segment.ms": "3600000"})
        admin.alter_configs([resource], incremental=False)
        got = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        # Legacy AlterConfigs replaces the whole set; kafka-python re-sends the keys already
        # set (retention.ms) so that they survive.
        expect_eq({k: v["value"] for k, v in got["topic"][topic].items()},
                  {"retention.ms": "7200000", "segment.ms": "3600000"},
                  "topic configs after a legacy AlterConfigs")
        step("admin: alter_configs incremental and legacy, seen in describe_configs")

        timestamp_ms = int(time.time() * 1000) - 60_000
        futures = [producer.send(topic, key=b"k%d" % i, value=b"v" * 100, partition=0,
                                 timestamp_ms=timestamp_ms + i)
                   for i in range(50)]
        producer.flush(timeout=STEP_TIMEOUT_SECS)
        for future in futures:
            future.get(timeout=STEP_TIMEOUT_SECS)
        tp0, tp1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
        listed = admin.list_partition_offsets(
            {tp0: OffsetSpec.LATEST, tp1: OffsetSpec.EARLIEST})
        expect_eq((listed[tp0].offset, listed[tp1].offset), (50, 0),
                  "admin list_partition_offsets latest of p0, earliest of p1")
        if api_version is None or api_version >= (3, 0):  # ListOffsets v7 (KIP-734)
            listed = admin.list_partition_offsets({tp0: OffsetSpec.MAX_TIMESTAMP})
            expect_eq((listed[tp0].offset, listed[tp0].timestamp), (49, timestamp_ms + 49),
                      "admin list_partition_offsets max timestamp")
            step("admin: list_partition_offsets latest, earliest, max timestamp")
        else:
            step("admin: list_partition_offsets latest, earliest")

        deleted = admin.delete_records({tp0: 10})
        expect_eq(deleted[tp0]["low_watermark"], 10, "low watermark after delete_records(10)")
        consumer = KafkaConsumer(**config, group_id=None, enable_auto_commit=False,
                                 auto_offset_reset="none", fetch_max_wait_ms=100)
        consumer.assign([tp0])
        expect_eq(consumer.beginning_offsets([tp0], timeout_ms=TIMEOUT_MS)[tp0], 10,
                  "beginning offset after delete_records")
        consumer.seek(tp0, 5)
        deadline = time.monotonic() + STEP_TIMEOUT_SECS
        while True:
            expect(time.monotonic() < deadline,
                   "no OffsetOutOfRangeError for a fetch below the log start offset")
            try:
                consumer.poll(timeout_ms=300)
            except kafka.errors.OffsetOutOfRangeError:
                break
        consumer.close()
        # A small fetch size: at least one whole batch still comes back (KIP-74).
        consumer = KafkaConsumer(**config, group_id=None, enable_auto_commit=False,
                                 auto_offset_reset="earliest", fetch_max_wait_ms=100,
                                 fetch_max_bytes=200, max_partition_fetch_bytes=100)
        consumer.assign([tp0])
        consumer.seek(tp0, 5)
        offsets = []
        deadline = time.monotonic() + STEP_TIMEOUT_SECS
        while len(offsets) < 40:
            expect(time.monotonic() < deadline,
                   f"after reset to earliest read only offsets {offsets[:5]}... ({len(offsets)})")
            for messages in consumer.poll(timeout_ms=300).values():
                offsets.extend(m.offset for m in messages)
        expect_eq(offsets, list(range(10, 50)), "offsets read after reset to earliest")
        step("delete_records: log start 10, OffsetOutOfRange below it, earliest reset reads 10..")

        auto = topic_name("kp-auto")
        meta = producer.send(auto, key=b"k", value=b"v").get(timeout=STEP_TIMEOUT_SECS)
        expect_eq((meta.partition, meta.offset), (0, 0), f"first record to auto-created {auto}")
        step(f"produce to a new topic auto-creates it ({auto})")
    finally:
        if consumer is not None:
            consumer.close()
        producer.close(timeout=STEP_TIMEOUT_SECS)
        admin.close()


def session(bootstrap):
    api_version = None
    if len(sys.argv) > 2:
        api_version = tuple(int(x) for x in sys.argv[2].split("."))
    step(f"kafka-python {kafka.__version__}, api_version "
         f"{'negotiated' if api_version is None else api_version}, bootstrap {bootstrap}")
    config = client_config(bootstrap, api_version)
    topic = topic_name("kp-data")
    admin_session(config, topic)
    base_timestamp_ms = int(time.time() * 1000) - 600_000
    expected = produce(config, topic, base_timestamp_ms)
    consume(config, topic, expected, base_timestamp_ms)
    admin_changes(config, api_version)


if __name__ == "__main__":
    run(session)
