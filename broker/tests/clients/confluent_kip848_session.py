"""confluent-kafka (librdkafka 2.16) with group.protocol=consumer (KIP-848), as its own
test suite uses it:

1. A consumer that only assign()s partitions (it never joins the group) commits; a later
   subscriber of the group starts from those offsets.
2. A classic group of two cooperative-sticky consumers gets a consumer-protocol consumer
   (the group converts), loses its classic consumers, gets classic ones again and loses the
   consumer-protocol one (the group converts back); AdminClient.describe_consumer_groups
   shows the group type at each step, and every record is delivered.
"""

import sys

from confluent_kafka import (
    Consumer,
    ConsumerGroupType,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from session_common import (
    STEP_TIMEOUT_SECS,
    Mismatch,
    bootstrap_from_args,
    expect,
    expect_eq,
    step,
    topic_name,
    wait_until,
)

PARTITIONS = 4


def produce(bootstrap, topic, values):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    failures = []
    for i, v in enumerate(values):
        p.produce(
            topic,
            key=f"k{i}",
            value=v,
            on_delivery=lambda err, _m: failures.append(err) if err else None,
        )
    left = p.flush(STEP_TIMEOUT_SECS)
    expect(left == 0 and not failures, f"produce to {topic}: {left} unsent, errors {failures}")


def consumer(bootstrap, group, protocol, **extra):
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "group.protocol": protocol,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": 100,
    }
    if protocol == "classic":
        conf.update(
            {
                "partition.assignment.strategy": "cooperative-sticky",
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 300,
            }
        )
    conf.update(extra)
    return Consumer(conf)


def poll_all(consumers, got):
    for c in consumers:
        for _ in range(200):
            m = c.poll(0.02)
            if m is None:
                break
            if m.error() is None:
                got.add(m.value().decode())


def assign_only_commits(bootstrap, admin):
    topic = topic_name("ck-assign")
    create_topic(admin, topic)
    group = topic_name("ck-assign-g")
    values = [f"a{i}" for i in range(20)]
    produce(bootstrap, topic, values)

    step("assign()-only consumer with group.protocol=consumer commits")
    c = consumer(bootstrap, group, "consumer")
    c.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    got = set()
    wait_until("the assign()-only consumer read everything", lambda: poll_all([c], got) or len(got) == 20)
    try:
        c.commit(asynchronous=False)
        c.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)
        c.commit(asynchronous=False)
    except KafkaException as e:
        raise Mismatch(f"commit of an assign()-only consumer failed: {e}")
    committed = c.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)
    ends = [c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(PARTITIONS)]
    expect_eq([tp.offset for tp in committed], ends, "committed offsets of the assign()-only consumer")
    c.close()

    step("a later subscriber of the group starts from those offsets")
    more = [f"b{i}" for i in range(20)]
    produce(bootstrap, topic, more)
    s = consumer(bootstrap, group, "consumer")
    s.subscribe([topic])
    got = set()
    wait_until("the subscriber read the new records", lambda: poll_all([s], got) or len(got) >= 20)
    expect_eq(got, set(more), "records read by the subscriber")
    s.close()


def create_topic(admin, topic):
    for f in admin.create_topics([NewTopic(topic, PARTITIONS, 1)]).values():
        f.result(timeout=STEP_TIMEOUT_SECS)


def group_type(admin, group):
    d = admin.describe_consumer_groups([group])[group].result(timeout=10)
    return d.type, len(d.members), d.state


def migration(bootstrap, admin):
    topic = topic_name("ck-mig")
    create_topic(admin, topic)
    group = topic_name("ck-mig-g")
    sent = set()
    got = set()
    members = {}

    def settle(what, want_type, want_members):
        batch = [f"{what}-{i}" for i in range(20)]
        produce(bootstrap, topic, batch)
        sent.update(batch)

        def settled():
            poll_all(members.values(), got)
            t, n, state = group_type(admin, group)
            owned = [len(c.assignment()) for c in members.values()]
            return (
                t == want_type
                and n == want_members
                and str(state).endswith("STABLE")
                and all(owned)
                and sum(owned) == PARTITIONS
            )

        wait_until(f"{what}: group described as {want_type} with {want_members} members", settled, 60)

    step("two classic cooperative-sticky consumers")
    for name in ("classic-1", "classic-2"):
        members[name] = consumer(bootstrap, group, "classic")
        members[name].subscribe([topic])
        settle(name, ConsumerGroupType.CLASSIC, len(members))

    step("a consumer-protocol consumer joins: the group converts")
    members["consumer-1"] = consumer(bootstrap, group, "consumer")
    members["consumer-1"].subscribe([topic])
    settle("upgrade", ConsumerGroupType.CONSUMER, 3)
    for name in ("classic-1", "classic-2"):
        members.pop(name).close()
    settle("classic consumers gone", ConsumerGroupType.CONSUMER, 1)

    step("classic consumers come back; the consumer-protocol one leaves: the group converts back")
    members["classic-3"] = consumer(bootstrap, group, "classic")
    members["classic-3"].subscribe([topic])
    settle("classic consumer back", ConsumerGroupType.CONSUMER, 2)
    members.pop("consumer-1").close()
    settle("downgrade", ConsumerGroupType.CLASSIC, 1)

    wait_until(
        "every record delivered",
        lambda: poll_all(members.values(), got) or sent <= got,
    )
    for c in members.values():
        c.close()


def main():
    bootstrap = bootstrap_from_args()
    admin = AdminClient({"bootstrap.servers": bootstrap})
    assign_only_commits(bootstrap, admin)
    migration(bootstrap, admin)
    print("confluent-kafka KIP-848 session: ok")


if __name__ == "__main__":
    try:
        main()
    except Mismatch as e:
        print(f"MISMATCH: {e}", file=sys.stderr)
        sys.exit(1)
