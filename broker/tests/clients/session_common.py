"""Helpers shared by the python client sessions in this folder.

Each session script is run as `python3 SCRIPT BOOTSTRAP` (or with BOOTSTRAP in the
environment). A session prints what it does, one line per step, and exits non-zero with a
sentence naming the mismatch on the first thing that is not as expected.
"""

import os
import sys
import time
import uuid

# Seconds any single wait in a session may take.
STEP_TIMEOUT_SECS = 30.0


class Mismatch(Exception):
    """What the broker did differs from what a Kafka broker does."""


def bootstrap_from_args():
    if len(sys.argv) > 1:
        return sys.argv[1]
    addr = os.environ.get("BOOTSTRAP")
    if not addr:
        sys.exit(f"usage: {sys.argv[0]} HOST:PORT (or BOOTSTRAP=HOST:PORT in the environment)")
    return addr


def step(text):
    print(f"--- {text}", flush=True)


def expect(condition, message):
    if not condition:
        raise Mismatch(message)


def expect_eq(got, want, what):
    if got != want:
        raise Mismatch(f"{what}: expected {want!r}, got {got!r}")


def topic_name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_until(what, condition, timeout_secs=STEP_TIMEOUT_SECS, interval_secs=0.1):
    """Poll `condition()` until it returns a truthy value (returned) or fail with `what`."""
    deadline = time.monotonic() + timeout_secs
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as e:  # the condition may fail while the broker catches up
            last_error = e
        time.sleep(interval_secs)
    detail = f" (last error: {last_error!r})" if last_error else ""
    raise Mismatch(f"timed out after {timeout_secs:.0f} s waiting for {what}{detail}")


def read_partition(bootstrap, topic, count=None, isolation_level="read_uncommitted",
                   ends_there=False):
    """(offset, value) of the first `count` records of `topic` partition 0 as kafka-python's
    consumer reads them at `isolation_level`; all up to the end offset (read first) when
    `count` is None. With `ends_there`, nothing may follow them: the consumer's position
    must then be the end offset (for read_committed: no aborted records after)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest",
                             isolation_level=isolation_level, fetch_max_wait_ms=100)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        if count is None:
            count = consumer.end_offsets([tp])[tp]
        got = []

        def all_read():
            for messages in consumer.poll(timeout_ms=200).values():
                got.extend((m.offset, m.value) for m in messages)
            return len(got) >= count
        wait_until(f"{count} {isolation_level} records of {topic}", all_read)
        if ends_there:
            expect_eq(consumer.position(tp), consumer.end_offsets([tp])[tp],
                      f"{isolation_level} position after the records read")
        return got
    finally:
        consumer.close()


def expected_records(codec, count, base_timestamp_ms):
    """The records one session produces for `codec`: keys, values, headers, timestamps.

    Values are long and repetitive enough for every codec to really compress them; some
    records have no key, one has no value (a tombstone) and one has no headers.
    """
    records = []
    for i in range(count):
        key = None if i % 7 == 3 and i != count - 2 else f"key-{codec}-{i}".encode()
        value = None if i == count - 2 else (f"value {i} of {codec} " * (1 + i % 5)).encode()
        headers = [] if i % 5 == 4 else [
            ("h1", f"v{i}".encode()),
            ("trace-id", f"{codec}-{i}".encode()),
            ("empty", b""),
        ]
        records.append({
            "key": key,
            "value": value,
            "headers": headers,
            "timestamp": base_timestamp_ms + i * 1000,
        })
    return records


def compare_records(got, want, where):
    """`got`: list of (offset, key, value, headers, timestamp) from offset 0 on."""
    expect_eq(len(got), len(want), f"{where}: number of records consumed")
    for i, (rec, exp) in enumerate(zip(got, want)):
        offset, key, value, headers, timestamp = rec
        expect_eq(offset, i, f"{where}: offset of record {i}")
        expect_eq(key, exp["key"], f"{where}: key of record {i}")
        expect_eq(value, exp["value"], f"{where}: value of record {i}")
        expect_eq([(k, bytes(v) if v is not None else None) for k, v in headers],
                  exp["headers"], f"{where}: headers of record {i}")
        expect_eq(timestamp, exp["timestamp"], f"{where}: timestamp of record {i}")


def run_main(main):
    """Run `main()`; on a failed check exit with `MISMATCH:` and what did not match."""
    try:
        main()
    except Mismatch as e:
        sys.exit(f"MISMATCH: {e}")


def run(session):
    """Run `session(bootstrap)`; exit 1 with the mismatch or the error on failure."""
    bootstrap = bootstrap_from_args()
    started = time.monotonic()
    try:
        session(bootstrap)
    except Mismatch as e:
        print(f"MISMATCH: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    except Exception as e:
        import traceback
        traceback.print_exc()
        print(f"ERROR: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    print(f"OK: {os.path.basename(sys.argv[0])} passed in {time.monotonic() - started:.1f} s",
          flush=True)
