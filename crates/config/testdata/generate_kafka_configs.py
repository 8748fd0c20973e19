#!/usr/bin/env python3
"""Writes kafka-4.1.1-configs.json: what a real Apache Kafka 4.1.1 node reports about
every broker and topic config, the reference `ironlog_config::defs` is tested against.

Observed, not transcribed: run two single-node Kafka 4.1.1 brokers (`kafka.Kafka`, storage
formatted with `kafka.tools.StorageTool format --standalone`, jars from Maven Central):
  PLAIN  -- node.id=1, listeners, advertised.listeners, controller settings, plus the
            keys Ironlog accepts that Kafka 4.1 has no public definition for (cluster.id,
            super.users, allow.everyone.if.no.acl.found, eligible.leader.replicas.enable,
            leader.imbalance.per.broker.percentage, producer.id.expiration.check.interval.ms,
            log.open.files.max),
            which Kafka describes only when they are set;
  FULL   -- the same plus a value for every `log.*` config that has no default
            (log.retention.ms, log.retention.minutes, log.roll.ms, log.roll.jitter.ms,
            log.flush.interval.ms), so a topic config's synonyms show the whole chain.
and save the docs tables Kafka prints itself (they carry the dynamic update mode and a
topic config's server default property):
  java -cp 'libs/*' kafka.server.KafkaConfig > broker-docs.html
  java -cp 'libs/*' org.apache.kafka.storage.internals.log.LogConfig > topic-docs.html
Then: generate_kafka_configs.py PLAIN_BOOTSTRAP FULL_BOOTSTRAP broker-docs.html topic-docs.html

Per broker config: DescribeConfigs type, default (the DEFAULT_CONFIG synonym's value, null
when there is none), is_sensitive, read_only, the update mode, and `definition`: "public"
(in the docs table: always described), "internal" (Kafka knows its type but describes it
only when set) or "none" (Kafka has no definition: type UNKNOWN, sensitive, when set). Per topic config: type,
default (the DEFAULT_CONFIG synonym's value, else the value on PLAIN, where
no log setting is set), is_sensitive, read_only and the
broker synonyms in priority order (as FULL lists them). No documentation text is kept.
"""

import html
import json
import re
import sys
import time

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.admin._configs import ConfigResource

TOPIC = "config-reference"


def describe(bootstrap, resource_type, name):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        if resource_type == "TOPIC":
            try:
                admin.create_topics([NewTopic(TOPIC, 1, 1)])
            except Exception as e:  # already there from an earlier run
                if "TopicAlreadyExists" not in repr(e):
                    raise
        deadline = time.monotonic() + 30
        while True:  # a topic just created is described once its metadata arrived
            result = admin.describe_configs([ConfigResource(resource_type, name)],
                                            include_synonyms=True, config_filter="all")
            configs = result[resource_type.lower()][name]
            if configs or time.monotonic() > deadline:
                return configs
            time.sleep(0.2)
    finally:
        admin.close()


def docs_table(path, field):
    """{config name: the docs table's `field` cell}."""
    text = open(path, encoding="utf-8").read()
    out = {}
    for item in text.split('<h4><a id="')[1:]:
        name = item.split('"', 1)[0]
        cell = re.search(rf"<tr><th>{re.escape(field)}:</th><td>(.*?)</td></tr>", item, re.S)
        out[name] = html.unescape(cell.group(1)) if cell else None
    return out


def main():
    plain, full, broker_docs, topic_docs = sys.argv[1:5]
    modes = docs_table(broker_docs, "Update Mode")
    server_default = docs_table(topic_docs, "Server Default Property")
    rows = []
    for name, c in sorted(describe(plain, "BROKER", "1").items()):
        defaults = [s["value"] for s in c["synonyms"]
                    if s["name"] == name and s["source"] == "DEFAULT_CONFIG"]
        mode = modes.get(name)
        if mode is not None:
            definition = "public"
            assert c["read_only"] == (mode == "read-only"), (name, c, mode)
        elif c["config_type"] == "UNKNOWN":
            definition = "none"
        else:
            definition = "internal"
        rows.append({"scope": "broker", "name": name, "type": c["config_type"],
                     "default": defaults[0] if defaults else None,
                     "sensitive": c["is_sensitive"], "read_only": c["read_only"],
                     "mode": mode, "definition": definition})
    full_topic = describe(full, "TOPIC", TOPIC)
    for name, c in sorted(describe(plain, "TOPIC", TOPIC).items()):
        # Kafka 4.1 formats new clusters with a cluster-level min.insync.replicas (for
        # eligible leader replicas); the default is the DEFAULT_CONFIG synonym's value.
        defaults = [s["value"] for s in c["synonyms"] if s["source"] == "DEFAULT_CONFIG"]
        synonyms = []
        for s in full_topic[name]["synonyms"]:
            if s["name"] not in synonyms:
                synonyms.append(s["name"])
        assert not synonyms or synonyms[0] == server_default.get(name), (name, synonyms)
        rows.append({"scope": "topic", "name": name, "type": c["config_type"],
                     "default": defaults[0] if defaults else c["value"], "sensitive": c["is_sensitive"],
                     "read_only": c["read_only"], "synonyms": synonyms})
    print("[")
    print(",\n".join(json.dumps(r, sort_keys=True) for r in rows))
    print("]")


if __name__ == "__main__":
    main()
