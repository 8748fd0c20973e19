"""kafka-python's describe_topic_partitions (DescribeTopicPartitions, KIP-966), paged.

    python3 describe_topic_partitions.py HOST:PORT

Three topics (3, 5 and 2 partitions) are described four partitions at a time, following
the cursor the broker returns, until every partition was seen exactly once, in topic-name
then partition order; each partition agrees with Metadata (describe_topics). A topic that
does not exist is UNKNOWN_TOPIC_OR_PARTITION.
"""

from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from session_common import expect, expect_eq, run, step, topic_name, wait_until

UNKNOWN_TOPIC_OR_PARTITION = 3
PAGE_PARTITIONS = 4


def session(bootstrap):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        prefix = topic_name("kp-dtp")
        counts = {f"{prefix}-b": 5, f"{prefix}-a": 3, f"{prefix}-c": 2}
        step(f"create {sorted(counts)}")
        admin.create_topics([NewTopic(name, n, 1) for name, n in counts.items()])
        names = sorted(counts)

        def metadata_ready():
            described = admin.describe_topics(names)
            ready = all(t['error_code'] == 0 and len(t['partitions']) == counts[t['name']]
                        for t in described)
            return described if ready and len(described) == len(names) else None
        metadata = {t['name']: t for t in wait_until("the topics in metadata", metadata_ready)}

        step(f"page through them {PAGE_PARTITIONS} partitions at a time")
        seen = []
        topic_ids = {}
        cursor = None
        pages = 0
        for _ in range(sum(counts.values()) + 1):  # each page holds at least one partition
            page = admin.describe_topic_partitions(
                names, response_partition_limit=PAGE_PARTITIONS, cursor=cursor)
            pages += 1
            got = [(t['name'], p) for t in page['topics'] for p in t['partitions']]
            expect(len(got) <= PAGE_PARTITIONS, f"page {pages} holds {len(got)} partitions")
            for t in page['topics']:
                expect_eq(t['error_code'], 0, f"error of {t['name']}")
                topic_ids[t['name']] = str(t['topic_id'])
            seen.extend(got)
            cursor = page['next_cursor']
            if cursor is None:
                break
        expect_eq([(name, p['partition_index']) for name, p in seen],
                  [(name, i) for name in names for i in range(counts[name])],
                  "partitions in topic-name then partition order, each once")
        expect_eq(pages, 3, "pages of 4 over 10 partitions")
        for name in names:
            expect_eq(topic_ids[name], str(metadata[name]['topic_id']), f"topic id of {name}")
        for name, p in seen:
            md = next(m for m in metadata[name]['partitions']
                      if m['partition_index'] == p['partition_index'])
            for field in ('error_code', 'leader_id', 'leader_epoch', 'replica_nodes',
                          'isr_nodes', 'offline_replicas'):
                expect_eq(p[field], md[field],
                          f"{name}/{p['partition_index']} {field} (as Metadata has it)")

        step("a topic that does not exist")
        missing = f"{prefix}-missing"
        page = admin.describe_topic_partitions([missing])
        expect_eq([(t['name'], t['error_code'], t['partitions']) for t in page['topics']],
                  [(missing, UNKNOWN_TOPIC_OR_PARTITION, [])], "the unknown topic's entry")
        expect_eq(page['next_cursor'], None, "no cursor")
    finally:
        admin.close()


if __name__ == "__main__":
    run(session)
