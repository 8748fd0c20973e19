"""kafka-python static group members (KIP-345) coming back after a restart.

    python3 static_members.py HOST:PORT

Two consumers with `group_instance_id` member-a and member-b (session 30 s) share a
4-partition topic. A closes — a static member sends no LeaveGroup — and a new consumer
with A's instance id joins. As against Kafka, it must get A's partitions back under a new
member id while the group keeps its generation and B is never revoked. Run three times:
A leading the group with the default assignors (range, roundrobin; eager), A following,
and A leading with cooperative-sticky.

Needs a broker with `group.initial.rebalance.delay.ms=0` (the test starts one).
"""

import time

from kafka import ConsumerRebalanceListener, KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor

from session_common import STEP_TIMEOUT_SECS, Mismatch, expect, expect_eq, run, step, topic_name

PARTITIONS = 4


class Recorder(ConsumerRebalanceListener):
    """Every rebalance callback a consumer sees: ("revoked" | "assigned", partitions)."""

    def __init__(self):
        self.events = []

    def on_partitions_revoked(self, revoked):
        self.events.append(("revoked", sorted(revoked)))

    def on_partitions_assigned(self, assigned):
        self.events.append(("assigned", sorted(assigned)))


def static_member(bootstrap, group, topic, instance, assignors):
    config = {
        "bootstrap_servers": bootstrap,
        "group_id": group,
        "group_instance_id": instance,
        "session_timeout_ms": 30000,
        "heartbeat_interval_ms": 500,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "fetch_max_wait_ms": 100,
    }
    if assignors is not None:
        config["partition_assignment_strategy"] = assignors
    consumer = KafkaConsumer(**config)
    # Know the topic's partitions before joining. Otherwise the first assignment is made
    # from metadata without them, the metadata that follows makes the member rejoin, and
    # kafka-python 3.0 loses that rejoin's assignment when a short poll times out while its
    # SyncGroup is in flight (its rejoin flag is not set for a metadata-driven rejoin), so
    # the member stays without partitions — a client bug, seen against any broker.
    deadline = time.monotonic() + STEP_TIMEOUT_SECS
    while len(consumer.partitions_for_topic(topic) or ()) < PARTITIONS:
        if time.monotonic() > deadline:
            raise Mismatch(f"the consumer's metadata never showed {PARTITIONS} partitions of {topic}")
        time.sleep(0.05)
    recorder = Recorder()
    consumer.subscribe([topic], listener=recorder)
    return consumer, recorder


def poll_until(consumers, what, done):
    """Poll every consumer in turn until `done()` holds (at most STEP_TIMEOUT_SECS)."""
    deadline = time.monotonic() + STEP_TIMEOUT_SECS
    while time.monotonic() < deadline:
        for c in consumers:
            c.poll(timeout_ms=50)
        if done():
            return
    raise Mismatch(f"timed out after {STEP_TIMEOUT_SECS:.0f} s waiting for {what}; "
                   f"assignments: {[sorted(c.assignment()) for c in consumers]}")


def restart_scenario(bootstrap, admin, a_leads, assignors, label):
    topic = topic_name("kp-static")
    group = topic_name("kp-static-group")
    admin.create_topics({topic: {"num_partitions": PARTITIONS, "replication_factor": 1}})
    step(f"{label}: created {topic} ({PARTITIONS} partitions)")
    if a_leads:
        a, _ = static_member(bootstrap, group, topic, "member-a", assignors)
        poll_until([a], "a owning every partition", lambda: len(a.assignment()) == PARTITIONS)
        b, b_events = static_member(bootstrap, group, topic, "member-b", assignors)
    else:
        b, b_events = static_member(bootstrap, group, topic, "member-b", assignors)
        poll_until([b], "b owning every partition", lambda: len(b.assignment()) == PARTITIONS)
        a, _ = static_member(bootstrap, group, topic, "member-a", assignors)
    poll_until([a, b], "a and b with 2 partitions each",
               lambda: len(a.assignment()) == 2 and len(b.assignment()) == 2
               and a.assignment() | b.assignment() == {TopicPartition(topic, p)
                                                       for p in range(PARTITIONS)})
    a_partitions, b_partitions = a.assignment(), b.assignment()
    old_a = a.group_metadata()
    generation = b.group_metadata().generation_id
    b_seen = len(b_events.events)
    step(f"{label}: a has {sorted(p.partition for p in a_partitions)}, "
         f"b has {sorted(p.partition for p in b_partitions)}, generation {generation}")

    a.close()
    a2, _ = static_member(bootstrap, group, topic, "member-a", assignors)
    # Had the broker rebalanced, b would have had to rejoin (eager: revoking first) before
    # the new a could get any assignment.
    poll_until([a2, b], "the new a owning a's old partitions",
               lambda: a2.assignment() == a_partitions)
    new_a = a2.group_metadata()
    expect(new_a.member_id != old_a.member_id,
           f"{label}: the new a kept the old member id {old_a.member_id}")
    expect_eq(new_a.generation_id, generation, f"{label}: the new a's generation")
    expect_eq(b.group_metadata().generation_id, generation, f"{label}: b's generation")
    expect_eq(b_events.events[b_seen:], [], f"{label}: rebalance callbacks b saw")
    expect_eq(b.assignment(), b_partitions, f"{label}: b's partitions")
    step(f"{label}: the new a ({new_a.member_id}) got its partitions back; "
         f"b saw nothing, generation still {generation}")
    a2.close()
    b.close()


def session(bootstrap):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        restart_scenario(bootstrap, admin, True, None, "leader a, range/roundrobin")
        restart_scenario(bootstrap, admin, False, None, "follower a, range/roundrobin")
        restart_scenario(bootstrap, admin, True, (CooperativeStickyAssignor,),
                         "leader a, cooperative-sticky")
    finally:
        admin.close()


if __name__ == "__main__":
    run(session)
