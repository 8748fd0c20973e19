"""confluent-kafka (librdkafka) over SASL/OAUTHBEARER with a token the test signed:
`oauthbearer_session.py BOOTSTRAP EXPECT TOPIC`, the token in OAUTH_TOKEN, the principal
librdkafka should report in OAUTH_PRINCIPAL. librdkafka gets the token from `oauth_cb`.

EXPECT is `roundtrip` (produce to TOPIC, consume the records back), `write-denied` (the
token authenticates, producing is TOPIC_AUTHORIZATION_FAILED) or `auth-failure` (the broker
refuses the token: librdkafka reports an authentication error).
"""

import os
import sys
import time

from session_common import Mismatch, expect, expect_eq, run, step, wait_until

RECORDS = [f"oauth-{i}".encode() for i in range(3)]


def session(bootstrap):
    from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
    from confluent_kafka.admin import AdminClient

    expectation, topic = sys.argv[2], sys.argv[3]
    token, principal = os.environ["OAUTH_TOKEN"], os.environ["OAUTH_PRINCIPAL"]
    errors = []
    base = {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "OAUTHBEARER",
        # librdkafka wants the token's expiry; an hour on, the broker checks the real one.
        "oauth_cb": lambda _config: (token, time.time() + 3600, principal),
        "error_cb": errors.append,
    }
    if expectation == "auth-failure":
        step("confluent-kafka: metadata with a token the broker must refuse")
        admin = AdminClient(dict(base, **{"socket.timeout.ms": 5000}))
        try:
            admin.list_topics(timeout=8)
            raise Mismatch("metadata succeeded with a token the broker must refuse")
        except KafkaException:
            pass
        wait_until("an authentication error reported by librdkafka",
                   lambda: admin.poll(0.2) is not None and any(
                       e.code() == KafkaError._AUTHENTICATION for e in errors), timeout_secs=15)
        text = "; ".join(str(e) for e in errors[:3])
        print(f"reported: {text}")
        expect("invalid_token" in text, f"expected the broker's invalid_token refusal, got: {text}")
        return
    step(f"confluent-kafka: produce {len(RECORDS)} records to {topic} as {principal}")
    producer = Producer(dict(base, **{"acks": "all", "message.timeout.ms": 20000}))
    delivered = []
    for value in RECORDS:
        producer.produce(topic, value, on_delivery=lambda err, msg: delivered.append(err))
    expect_eq(producer.flush(30), 0, "records not delivered within 30 s")
    if expectation == "write-denied":
        codes = [e.code() if e else None for e in delivered]
        expect(all(c == KafkaError.TOPIC_AUTHORIZATION_FAILED for c in codes),
               f"expected TOPIC_AUTHORIZATION_FAILED for every record, got {delivered}")
        expect(not [e for e in errors if e.code() == KafkaError._AUTHENTICATION],
               f"the token must authenticate; authentication errors: {errors}")
        return
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


if __name__ == "__main__":
    run(session)
