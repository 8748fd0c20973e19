"""ACLs through the admin API (confluent-kafka's AdminClient, i.e. librdkafka):
`acl_admin.py BOOTSTRAP SETTINGS PREFIX PRINCIPAL...`. Connects as an admin with SETTINGS (a
JSON object in librdkafka's names) and grants each PRINCIPAL everything on the topics named
PREFIX... and READ on the groups named PREFIX... (PREFIXED bindings), then checks with
describe_acls (a MATCH filter on a name the prefix covers) that the bindings are there.
"""

import json
import sys

from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType,
                                   AdminClient, ResourcePatternType, ResourceType)

from session_common import expect_eq, run_main, step


def main():
    bootstrap, settings, prefix, principals = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4:]
    admin = AdminClient(dict(settings, **{"bootstrap.servers": bootstrap}))
    bindings = []
    for principal in principals:
        bindings.append(AclBinding(ResourceType.TOPIC, prefix, ResourcePatternType.PREFIXED, principal, "*",
                                   AclOperation.ALL, AclPermissionType.ALLOW))
        bindings.append(AclBinding(ResourceType.GROUP, prefix, ResourcePatternType.PREFIXED, principal, "*",
                                   AclOperation.READ, AclPermissionType.ALLOW))
    step(f"create {len(bindings)} ACL bindings for {principals} on {prefix}*")
    for binding, future in admin.create_acls(bindings).items():
        future.result(timeout=30)

    step(f"describe the topic bindings that apply to {prefix}x")
    matching = AclBindingFilter(ResourceType.TOPIC, prefix + "x", ResourcePatternType.MATCH, None, None,
                                AclOperation.ANY, AclPermissionType.ANY)
    described = admin.describe_acls(matching).result(timeout=30)
    expect_eq(sorted(b.principal for b in described), sorted(principals), "principals of the matching bindings")
    print("ok")


if __name__ == "__main__":
    run_main(main)
