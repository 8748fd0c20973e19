"""A client over a secured listener: `security_session.py BOOTSTRAP CLIENT EXPECT SETTINGS`.

CLIENT is `confluent` (confluent-kafka, i.e. librdkafka) or `kafka-python`; SETTINGS a JSON
object of security settings in librdkafka's names (security.protocol, ssl.ca.location,
ssl.certificate.location, ssl.key.location, sasl.mechanism, sasl.username, sasl.password),
translated for kafka-python. EXPECT is `roundtrip` (create a topic by producing to it, read
the records back, as the authenticated user) or `auth-failure` (the broker refuses the
credentials: SASL_AUTHENTICATION_FAILED, or a TLS handshake failure for certificates).
"""

import json
import sys

from session_common import Mismatch, expect, expect_eq, step, topic_name, wait_until

RECORDS = [f"value-{i}".encode() for i in range(5)]


def confluent(bootstrap, settings, expectation):
    from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
    from confluent_kafka.admin import AdminClient

    errors = []
    base = dict(settings, **{"bootstrap.servers": bootstrap, "error_cb": errors.append})
    if expectation == "auth-failure":
        step("confluent-kafka: metadata with refused credentials")
        admin = AdminClient(dict(base, **{"socket.timeout.ms": 5000}))
        try:
            admin.list_topics(timeout=8)
            raise Mismatch("metadata succeeded with credentials the broker must refuse")
        except KafkaException:
            pass
        # error_cb runs from poll()
        wait_until("an authentication error reported by librdkafka", lambda: admin.poll(0.2) is not None and any(
            e.code() in (KafkaError._AUTHENTICATION, KafkaError._SSL, KafkaError._TRANSPORT,
                         KafkaError._ALL_BROKERS_DOWN) for e in errors), timeout_secs=10)
        text = "; ".join(str(e) for e in errors[:3])
        print(f"reported: {text}")
        if settings.get("security.protocol", "").startswith("sasl"):
            expect("Authentication failed" in text,
                   f"expected the broker's SASL_AUTHENTICATION_FAILED message, got: {text}")
        return
    topic = topic_name("secure")
    step(f"confluent-kafka: produce {len(RECORDS)} records to {topic}")
    producer = Producer(dict(base, **{"acks": "all"}))
    delivered = []
    for value in RECORDS:
        producer.produce(topic, value, on_delivery=lambda err, msg: delivered.append(err))
    remaining = producer.flush(30)
    expect_eq(remaining, 0, "records not delivered within 30 s")
    expect(all(e is None for e in delivered), f"delivery errors: {delivered}")
    step("confluent-kafka: consume them back")
    consumer = Consumer(dict(base, **{"group.id": topic, "auto.offset.reset": "earliest"}))
    consumer.subscribe([topic])
    got = []

    def poll():
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            got.append(msg.value())
        return len(got) >= len(RECORDS)

    wait_until("all records consumed", poll)
    consumer.close()
    expect_eq(got, RECORDS, "records read back")
    expect(not [e for e in errors if e.code() == KafkaError._AUTHENTICATION],
           f"authentication errors: {errors}")


def kafka_python_settings(settings):
    out = {"security_protocol": settings.get("security.protocol", "PLAINTEXT").upper()}
    names = {
        "ssl.ca.location": "ssl_cafile",
        "ssl.certificate.location": "ssl_certfile",
        "ssl.key.location": "ssl_keyfile",
        "sasl.mechanism": "sasl_mechanism",
        "sasl.username": "sasl_plain_username",
        "sasl.password": "sasl_plain_password",
    }
    for key, value in settings.items():
        if key in names:
            out[names[key]] = value
    if "ssl_cafile" in out:
        out["ssl_check_hostname"] = True
    return out


def kafka_python(bootstrap, settings, expectation):
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError, KafkaTimeoutError, SaslAuthenticationFailedError

    config = kafka_python_settings(settings)
    if expectation == "auth-failure":
        step("kafka-python: connect with refused credentials")
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=8000, **config)
            admin.list_topics()
            raise Mismatch("kafka-python listed topics with credentials the broker must refuse")
        except SaslAuthenticationFailedError as e:
            print(f"refused: {e!r}")
            expect("Authentication failed" in str(e), f"expected the broker's message, got {e}")
        except (KafkaError, OSError) as e:
            # kafka-python 3 reports a refused bootstrap connection as a bootstrap timeout;
            # the test checks the broker's log for the refusal itself.
            expect(isinstance(e, KafkaTimeoutError) or not settings.get("security.protocol", "").startswith("sasl"),
                   f"expected SaslAuthenticationFailedError, got {e!r}")
            print(f"refused: {e!r}")
        return
    topic = topic_name("secure-kp")
    step(f"kafka-python: produce {len(RECORDS)} records to {topic}")
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", **config)
    for value in RECORDS:
        producer.send(topic, value).get(timeout=30)
    producer.close()
    step("kafka-python: consume them back")
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=topic,
                             auto_offset_reset="earliest", consumer_timeout_ms=1000, **config)
    got = []

    def poll():
        for batch in consumer.poll(timeout_ms=500).values():
            got.extend(r.value for r in batch)
        return len(got) >= len(RECORDS)

    wait_until("all records consumed", poll)
    consumer.close()
    expect_eq(got, RECORDS, "records read back")


def main():
    bootstrap, client, expectation, settings = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    try:
        {"confluent": confluent, "kafka-python": kafka_python}[client](bootstrap, settings, expectation)
    except Mismatch as e:
        sys.exit(f"MISMATCH: {e}")
    print("ok")


if __name__ == "__main__":
    main()
