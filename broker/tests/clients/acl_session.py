"""A user with ACLs through confluent-kafka (librdkafka): `acl_session.py BOOTSTRAP SETTINGS
TOPIC OTHER_TOPIC GROUP COUNT`. SETTINGS (a JSON object in librdkafka's names) authenticate a
user who may READ TOPIC (which holds COUNT records) and READ GROUP, nothing else. The
session consumes TOPIC in GROUP, checks the authorized operations the broker reports for
the topic and the group (READ, and the DESCRIBE it implies) and the cluster (none), and
that OTHER_TOPIC and producing are refused with Kafka's authorization errors.
"""

import json
import sys

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicCollection
from confluent_kafka.admin import AclOperation, AdminClient

from session_common import Mismatch, expect, expect_eq, run_main, step, wait_until

READ_AND_DESCRIBE = {AclOperation.READ, AclOperation.DESCRIBE}


def error_name(exception):
    error = exception.args[0] if exception.args else None
    return error.name() if isinstance(error, KafkaError) else repr(exception)


def main():
    bootstrap, settings = sys.argv[1], json.loads(sys.argv[2])
    topic, other, group, count = sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
    base = dict(settings, **{"bootstrap.servers": bootstrap})
    admin = AdminClient(base)

    step(f"consume {count} records of {topic} in {group}")
    consumer = Consumer(dict(base, **{"group.id": group, "auto.offset.reset": "earliest"}))
    consumer.subscribe([topic])
    got = []

    def poll():
        msg = consumer.poll(0.5)
        if msg is not None:
            if msg.error() is not None:
                raise Mismatch(f"consuming {topic}: {msg.error()}")
            got.append(msg.value())
        return len(got) >= count

    wait_until(f"{count} records of {topic}", poll)
    consumer.commit(asynchronous=False)
    consumer.close()

    step(f"the authorized operations of {topic} and {group}")
    described = admin.describe_topics(TopicCollection([topic]), include_authorized_operations=True)
    ops = set(described[topic].result(timeout=30).authorized_operations or [])
    expect_eq(ops, READ_AND_DESCRIBE, f"authorized operations of {topic}")
    groups = admin.describe_consumer_groups([group], include_authorized_operations=True)
    ops = set(groups[group].result(timeout=30).authorized_operations or [])
    expect_eq(ops, READ_AND_DESCRIBE, f"authorized operations of {group}")

    step(f"{other} and producing are refused; the cluster's operations are none")
    try:
        admin.describe_topics(TopicCollection([other]))[other].result(timeout=30)
        raise Mismatch(f"{other} was described without DESCRIBE on it")
    except KafkaException as e:
        expect_eq(error_name(e), "TOPIC_AUTHORIZATION_FAILED", f"describing {other}")
    # As Kafka: anyone may describe the cluster, but without DESCRIBE on it no operations.
    cluster = admin.describe_cluster(include_authorized_operations=True).result(timeout=30)
    expect_eq(list(cluster.authorized_operations or []), [], "authorized operations of the cluster")
    producer = Producer(dict(base, **{"acks": "all", "message.timeout.ms": 10000}))
    delivered = []
    producer.produce(topic, b"refused", on_delivery=lambda err, msg: delivered.append(err))
    producer.flush(30)
    expect(len(delivered) == 1 and delivered[0] is not None, f"producing without WRITE: {delivered}")
    expect_eq(delivered[0].name(), "TOPIC_AUTHORIZATION_FAILED", "producing without WRITE")
    print("ok")


if __name__ == "__main__":
    run_main(main)
