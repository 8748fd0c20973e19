"""A SCRAM or OAUTHBEARER user's client (confluent-kafka, librdkafka built with SASL).

    scram_client.py SETTINGS_JSON produce TOPIC VALUE
    scram_client.py SETTINGS_JSON consume TOPIC GROUP VALUE

With `sasl.mechanism` OAUTHBEARER, the setting `test.oauth.token` (not a librdkafka
setting: it is taken out) is the JWT handed to librdkafka through `oauth_cb`.

Prints one line: OK, or the Kafka error's name (TOPIC_AUTHORIZATION_FAILED,
_AUTHENTICATION, ...), and exits 0; any other failure exits non-zero.
"""

import json
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

TIMEOUT_S = 20.0


def produce(settings, topic, value):
    errors = []
    settings = dict(settings, **{"message.timeout.ms": "15000", "acks": "all",
                                 "error_cb": lambda e: errors.append(e)})
    producer = Producer(settings)
    results = []
    producer.produce(topic, value.encode(), on_delivery=lambda err, msg: results.append(err))
    deadline = time.monotonic() + TIMEOUT_S
    while not results and time.monotonic() < deadline:
        producer.poll(0.2)
        auth = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
        if auth:
            return "_AUTHENTICATION"
    if not results:
        return "NO_DELIVERY_REPORT"
    err = results[0]
    return "OK" if err is None else err.name()


def consume(settings, topic, group, value):
    consumer = Consumer(dict(settings, **{"group.id": group, "auto.offset.reset": "earliest",
                                          "enable.auto.commit": "false"}))
    consumer.subscribe([topic])
    deadline = time.monotonic() + TIMEOUT_S * 3
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                return msg.error().name()
            if msg.value() == value.encode():
                return "OK"
        return "NOT_CONSUMED"
    finally:
        consumer.close()


def main():
    settings = json.loads(sys.argv[1])
    token = settings.pop("test.oauth.token", None)
    if token is not None:
        # librdkafka wants the token's expiry; an hour on, the broker checks the real one
        principal = settings.pop("test.oauth.principal", "client")
        settings["oauth_cb"] = lambda _config: (token, time.time() + 3600, principal)
    action = sys.argv[2]
    if action == "produce":
        print(produce(settings, sys.argv[3], sys.argv[4]))
    elif action == "consume":
        print(consume(settings, sys.argv[3], sys.argv[4], sys.argv[5]))
    else:
        sys.exit(f"unknown action {action}")


if __name__ == "__main__":
    try:
        main()
    except KafkaException as e:
        print(e.args[0].name())
