"""kafka-python's admin client on a broker's configs and Kafka 4.1's admin APIs.

    python3 kafka_python_configs.py HOST:PORT

Steps: the broker release kafka-python infers from ApiVersions (at least 4.1; it keys on
Produce v13); describe_configs of the broker and of a topic as kafka-python's own admin
suite checks them against Kafka >= 4.0 (advertised.listeners STATIC_BROKER_CONFIG,
read-only, not sensitive, no synonyms unasked; retention.bytes DEFAULT_CONFIG, LONG); a
dynamic broker config changed with alter_configs shows DYNAMIC_BROKER_CONFIG with its
synonyms, in the broker and in a topic's retention.ms; a read-only config is refused, by
kafka-python's own check and, when that is skipped, by the broker with Kafka's error and
message (incremental and legacy AlterConfigs) and nothing changes; reset_configs;
list_config_resources (KIP-1142) by type.
"""

import kafka
import kafka.errors
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from session_common import STEP_TIMEOUT_SECS, expect, expect_eq, run, step, topic_name, wait_until

TIMEOUT_MS = int(STEP_TIMEOUT_SECS * 1000)
BROKER = ConfigResource(ConfigResourceType.BROKER, "1")


def broker_configs(admin, synonyms=False, config_filter="all"):
    return admin.describe_configs([BROKER], include_synonyms=synonyms,
                                  config_filter=config_filter)["broker"]["1"]


def topic_configs(admin, topic, synonyms=False):
    resource = ConfigResource(ConfigResourceType.TOPIC, topic)
    return admin.describe_configs([resource], include_synonyms=synonyms,
                                  config_filter="all")["topic"][topic]


def settled_broker_config(admin, name, value, source, synonyms=False):
    """The broker's `name` once it shows `value` from `source` (Kafka applies a change a
    moment after answering it; this broker before answering)."""
    def settled():
        config = broker_configs(admin, synonyms=synonyms)[name]
        return config if (config["value"], config["config_source"]) == (value, source) else None
    return wait_until(f"{name} to be {value!r} from {source}", settled)


def flags(config):
    return {k: config[k] for k in ("config_source", "read_only", "config_type", "is_sensitive",
                                   "synonyms")}


def session(bootstrap):
    step(f"kafka-python {kafka.__version__}, bootstrap {bootstrap}")
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT_MS)
    try:
        inferred = admin._client.check_version()
        expect(inferred >= (4, 1),
               f"kafka-python infers broker release {inferred} from ApiVersions; Kafka 4.1's "
               f"APIs (Produce v13, ListOffsets v10) should make it at least (4, 1)")
        expect_eq(admin._client.check_version(node_id=1), inferred,
                  "the release inferred on the connection to broker 1")
        step(f"kafka-python infers broker release {inferred}")

        advertised = broker_configs(admin)["advertised.listeners"]
        expect_eq(flags(advertised), {
            "config_source": "STATIC_BROKER_CONFIG",
            "read_only": True,
            "config_type": "STRING",  # Kafka 4.1.1's type (kafka-python's suite allows LIST)
            "is_sensitive": False,
            "synonyms": [],
        }, "describe_configs of advertised.listeners")
        expect(advertised["value"] is not None and advertised["value"].startswith("PLAINTEXT://"),
               f"advertised.listeners has its value: {advertised}")
        expect_eq(broker_configs(admin)["listeners"]["read_only"], False,
                  "listeners is dynamic (per broker)")
        step("describe_configs: advertised.listeners is static and read-only, as in Kafka 4")

        topic = topic_name("kp-configs")
        admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}})
        retention_bytes = wait_until(f"describe_configs of {topic}",
                                     lambda: topic_configs(admin, topic).get("retention.bytes"))
        expect_eq((flags(retention_bytes), retention_bytes["value"]), ({
            "config_source": "DEFAULT_CONFIG",
            "read_only": False,
            "config_type": "LONG",
            "is_sensitive": False,
            "synonyms": [],
        }, "-1"), "describe_configs of the topic's retention.bytes")
        step("describe_configs: a new topic's retention.bytes is the LONG default -1")

        result = admin.alter_configs([ConfigResource(ConfigResourceType.BROKER, "1",
                                                     {"log.retention.ms": "3600000"})])
        expect_eq(result, {"broker": {"1": "OK"}}, "alter_configs of log.retention.ms")
        expected_synonyms = [
            {"name": "log.retention.ms", "value": "3600000", "source": "DYNAMIC_BROKER_CONFIG"},
            {"name": "log.retention.hours", "value": "168", "source": "DEFAULT_CONFIG"},
        ]
        retention = settled_broker_config(admin, "log.retention.ms", "3600000",
                                          "DYNAMIC_BROKER_CONFIG", synonyms=True)
        expect_eq((retention["read_only"], retention["synonyms"]), (False, expected_synonyms),
                  "broker log.retention.ms after alter_configs")
        expect_eq(list(broker_configs(admin, config_filter="modified")), ["log.retention.ms"],
                  "the broker's modified configs")
        topic_retention = topic_configs(admin, topic, synonyms=True)["retention.ms"]
        expect_eq((topic_retention["value"], topic_retention["config_source"],
                   topic_retention["synonyms"]),
                  ("3600000", "DYNAMIC_BROKER_CONFIG", expected_synonyms),
                  "the topic's retention.ms follows the dynamic broker default")
        step("alter_configs log.retention.ms: DYNAMIC_BROKER_CONFIG with synonyms, topic follows")

        change = {"advertised.listeners": "PLAINTEXT://elsewhere:9092"}
        try:
            admin.alter_configs([ConfigResource(ConfigResourceType.BROKER, "1", dict(change))])
            raise AssertionError("kafka-python let a read-only config through its own check")
        except ValueError as e:
            expect("advertised.listeners" in str(e), f"kafka-python's refusal names the key: {e}")
        refusal = str(kafka.errors.InvalidRequestError(
            "Cannot update these configs dynamically: Set(advertised.listeners)"))
        for incremental in (True, False):
            result = admin.alter_configs(
                [ConfigResource(ConfigResourceType.BROKER, "1", dict(change))],
                raise_on_unknown=False, incremental=incremental)
            expect_eq(result, {"broker": {"1": refusal}},
                      f"the broker's answer to a read-only change (incremental={incremental})")
        after = broker_configs(admin)
        expect_eq((after["advertised.listeners"]["value"],
                   after["advertised.listeners"]["config_source"]),
                  (advertised["value"], "STATIC_BROKER_CONFIG"),
                  "advertised.listeners after the refused changes")
        expect_eq(after["log.retention.ms"]["value"], "3600000",
                  "the refused legacy AlterConfigs changed nothing else")
        step("a read-only config is refused: INVALID_REQUEST, Kafka's message, nothing changed")

        result = admin.reset_configs([ConfigResource(ConfigResourceType.BROKER, "1",
                                                     ["log.retention.ms"])])
        expect_eq(result, {"broker": {"1": "OK"}}, "reset_configs of log.retention.ms")
        settled_broker_config(admin, "log.retention.ms", None, "DEFAULT_CONFIG")
        step("reset_configs: log.retention.ms is back to its (unset) default")

        listed = admin.list_config_resources()
        expect_eq(listed.get("broker"), ["1"], f"list_config_resources brokers: {listed}")
        expect(topic in listed.get("topic", []), f"list_config_resources lacks {topic}: {listed}")
        # Kafka also lists broker loggers, which this broker does not serve as a resource.
        expect_eq(sorted(set(listed) - {"broker_logger"}), ["broker", "topic"],
                  "the resource types listed")
        only_topics = admin.list_config_resources(["TOPIC"])
        expect_eq(sorted(only_topics), ["topic"], "list_config_resources(['TOPIC'])")
        expect_eq(admin.list_config_resources(["GROUP", "CLIENT_METRICS"]), {},
                  "no group configs or client-metrics subscriptions exist")
        try:
            admin.list_config_resources(["UNKNOWN"])
            raise AssertionError("list_config_resources of an unknown type succeeded")
        except kafka.errors.UnsupportedVersionError:
            pass
        step("list_config_resources: broker 1 and the topics; an unknown type is refused")
    finally:
        admin.close()


if __name__ == "__main__":
    run(session)
