"""SCRAM users through the admin API (confluent-kafka's AdminClient, i.e. librdkafka):
`scram_admin.py BOOTSTRAP SETTINGS USER PASSWORD`. Connects as an admin with SETTINGS (a
JSON object in librdkafka's names), upserts USER's SCRAM-SHA-256 and SCRAM-SHA-512
credentials with PASSWORD, describes them (mechanisms and iterations), checks that a bad
upsertion (too few iterations) and a deletion of a missing credential are refused with
Kafka's errors, and leaves the user in place.
"""

import json
import sys

from confluent_kafka.admin import (AdminClient, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialDeletion, UserScramCredentialUpsertion)
from confluent_kafka import KafkaException

from session_common import Mismatch, expect, expect_eq, run_main, step, wait_until


def main():
    bootstrap, settings, user, password = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
    admin = AdminClient(dict(settings, **{"bootstrap.servers": bootstrap}))
    step(f"upsert SCRAM-SHA-256 and SCRAM-SHA-512 credentials of {user}")
    futures = admin.alter_user_scram_credentials([
        UserScramCredentialUpsertion(user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), password.encode()),
    ])
    futures[user].result(timeout=30)
    futures = admin.alter_user_scram_credentials([
        UserScramCredentialUpsertion(user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), password.encode()),
    ])
    futures[user].result(timeout=30)

    # The describe may reach another broker of a cluster than the alter did; as in Kafka,
    # that broker serves it from its own metadata image, which catches up within moments.
    step(f"describe {user}")
    want = sorted([(str(ScramMechanism.SCRAM_SHA_256), 4096), (str(ScramMechanism.SCRAM_SHA_512), 8192)])
    seen = []

    def described_both():
        described = admin.describe_user_scram_credentials([user])[user].result(timeout=30)
        seen[:] = sorted((str(i.mechanism), i.iterations) for i in described.scram_credential_infos)
        return seen == want

    try:
        wait_until(f"both credentials of {user} described", described_both)
    except Mismatch:
        expect_eq(seen, want, "described credentials")
        raise

    step("too few iterations are refused")
    futures = admin.alter_user_scram_credentials([
        UserScramCredentialUpsertion("weak", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 1000), b"x"),
    ])
    try:
        futures["weak"].result(timeout=30)
        raise Mismatch("an upsertion with 1000 iterations was accepted")
    except KafkaException as e:
        expect(e.args[0].name() == "UNACCEPTABLE_CREDENTIAL", f"expected UNACCEPTABLE_CREDENTIAL, got {e}")

    step("deleting a credential that does not exist is refused")
    futures = admin.alter_user_scram_credentials([UserScramCredentialDeletion("ghost", ScramMechanism.SCRAM_SHA_512)])
    try:
        futures["ghost"].result(timeout=30)
        raise Mismatch("deleting a missing credential succeeded")
    except KafkaException as e:
        expect(e.args[0].name() == "RESOURCE_NOT_FOUND", f"expected RESOURCE_NOT_FOUND, got {e}")
    print("ok")


if __name__ == "__main__":
    run_main(main)
