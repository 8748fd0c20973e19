package ironlog;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DeleteAclsResult;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.InvalidRequestException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.apache.kafka.common.resource.ResourceType;

/**
 * ACLs through Kafka 4.1's tools and AdminClient against a broker with the StandardAuthorizer
 * whose PLAINTEXT principal (User:ANONYMOUS) is a super user: {@code kafka-acls} adding,
 * listing and removing literal and prefixed bindings (its output is Kafka's, taken with
 * kafka-reference.sh, with this run's unique names masked as {@code S}), and
 * createAcls / describeAcls / deleteAcls with filters and a refused binding.
 */
public final class AclSession extends Session {
    private static final String ACLS = "org.apache.kafka.tools.AclCommand";
    private static final boolean PRINT = System.getProperty("ironlog.print") != null;

    /** This run's unique part of every name; masked as {@code S}. */
    private final String run = String.format("%06x", System.nanoTime() & 0xffffffL);

    AclSession(String bootstrap) {
        super(bootstrap);
        scenario("kafka-acls", this::acls);
        scenario("admin-acls", this::admin);
    }

    public static void main(String[] args) {
        System.exit(new AclSession(args[0]).runAll(scenarioArgs(args)));
    }

    void acls() throws Exception {
        String prefix = "acl-" + run + "-";
        String group = "acl-" + run + "-group";
        expectOut(tool("--add", "--allow-principal", "User:alice", "--operation", "Read",
            "--topic", prefix, "--resource-pattern-type", "prefixed"), 0, """
            Adding ACLs for resource `ResourcePattern(resourceType=TOPIC, name=acl-S-, patternType=PREFIXED)`:
             \t(principal=User:alice, host=*, operation=READ, permissionType=ALLOW)

            """);
        expectOut(tool("--add", "--deny-principal", "User:bob", "--deny-host", "10.0.0.1", "--operation", "Write",
            "--topic", prefix, "--resource-pattern-type", "prefixed"), 0, null);
        expectOut(tool("--add", "--allow-principal", "User:alice", "--operation", "Read", "--group", group), 0, """
            Adding ACLs for resource `ResourcePattern(resourceType=GROUP, name=acl-S-group, patternType=LITERAL)`:
             \t(principal=User:alice, host=*, operation=READ, permissionType=ALLOW)

            """);
        // MATCH lists every binding that applies to a name: here the prefixed ones.
        expectOut(sorted(tool("--list", "--topic", prefix + "orders", "--resource-pattern-type", "match")), 0, """
            \t(principal=User:alice, host=*, operation=READ, permissionType=ALLOW)
            \t(principal=User:bob, host=10.0.0.1, operation=WRITE, permissionType=DENY)
            Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=acl-S-, patternType=PREFIXED)`:
            """);
        expectOut(tool("--remove", "--allow-principal", "User:alice", "--operation", "Read",
            "--topic", prefix, "--resource-pattern-type", "prefixed", "--force"), 0, null);
        expectOut(tool("--list", "--topic", prefix, "--resource-pattern-type", "prefixed"), 0, """
            Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=acl-S-, patternType=PREFIXED)`:
            \t(principal=User:bob, host=10.0.0.1, operation=WRITE, permissionType=DENY)

            """);
        expectOut(tool("--remove", "--topic", prefix, "--resource-pattern-type", "prefixed", "--force"), 0, null);
        expectOut(tool("--remove", "--group", group, "--force"), 0, null);
        expectOut(tool("--list", "--topic", prefix, "--resource-pattern-type", "prefixed"), 0, "");
        // A binding Kafka refuses: an empty resource name.
        Tool.Result refused = tool("--add", "--allow-principal", "User:alice", "--operation", "Read",
            "--topic", "", "--resource-pattern-type", "literal");
        print(refused);
        expectEq(refused.status(), 1, "kafka-acls' exit status for an empty topic name");
        String error = "Error while executing ACL command: org.apache.kafka.common.errors.InvalidRequestException: "
            + "Invalid empty resource name\n";
        expect(refused.out().contains(error), "kafka-acls must print Kafka's refusal, " + error + "got:\n" + refused);
    }

    void admin() throws Exception {
        String topic = "admin-acl-" + run;
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
            AclBinding write = new AclBinding(new ResourcePattern(ResourceType.TOPIC, topic, PatternType.LITERAL),
                new AccessControlEntry("User:bob", "*", AclOperation.WRITE, AclPermissionType.ALLOW));
            AclBinding deny = new AclBinding(new ResourcePattern(ResourceType.TOPIC, topic, PatternType.PREFIXED),
                new AccessControlEntry("User:bob", "*", AclOperation.READ, AclPermissionType.DENY));
            AclBinding txn = new AclBinding(new ResourcePattern(ResourceType.TRANSACTIONAL_ID, topic, PatternType.LITERAL),
                new AccessControlEntry("User:bob", "*", AclOperation.WRITE, AclPermissionType.ALLOW));
            await(admin.createAcls(List.of(write, deny, txn)).all(), "createAcls");

            AclBindingFilter topics = new AclBindingFilter(
                new ResourcePatternFilter(ResourceType.TOPIC, null, PatternType.ANY), AccessControlEntryFilter.ANY);
            Set<AclBinding> described = new HashSet<>(await(admin.describeAcls(topics).values(), "describeAcls"));
            described.removeIf(b -> !b.pattern().name().equals(topic));
            expectEq(described, Set.of(write, deny), "describeAcls of the topic bindings");

            AclBindingFilter matching = new AclBindingFilter(
                new ResourcePatternFilter(ResourceType.TOPIC, topic + "-x", PatternType.MATCH), AccessControlEntryFilter.ANY);
            expectEq(new HashSet<>(await(admin.describeAcls(matching).values(), "describeAcls MATCH")), Set.of(deny),
                "describeAcls MATCH of a name the prefix covers");

            AclBinding clusterNamed = new AclBinding(new ResourcePattern(ResourceType.CLUSTER, "other", PatternType.LITERAL),
                new AccessControlEntry("User:bob", "*", AclOperation.ALTER, AclPermissionType.ALLOW));
            Throwable e = awaitFailure(admin.createAcls(List.of(clusterNamed)).all(), "createAcls on a CLUSTER named other");
            expect(e instanceof InvalidRequestException, "expected InvalidRequestException, got " + e);
            expectEq(e.getMessage(), "The only valid name for the CLUSTER resource is kafka-cluster", "the refusal's message");

            AclBindingFilter bobs = new AclBindingFilter(ResourcePatternFilter.ANY,
                new AccessControlEntryFilter("User:bob", null, AclOperation.ANY, AclPermissionType.ANY));
            DeleteAclsResult deleted = admin.deleteAcls(List.of(bobs));
            Set<AclBinding> removed = new HashSet<>(await(deleted.all(), "deleteAcls"));
            removed.removeIf(b -> !b.pattern().name().equals(topic));
            expectEq(removed, Set.of(write, deny, txn), "deleteAcls of bob's bindings");
            Set<AclBinding> left = new HashSet<>(await(admin.describeAcls(AclBindingFilter.ANY).values(), "describeAcls"));
            left.removeIf(b -> !b.pattern().name().equals(topic));
            expectEq(left, Set.of(), "bindings left after deleteAcls");
        }
    }

    // ---------------------------------------------------------------- helpers

    private Tool.Result tool(String... args) {
        return Tool.against(bootstrap, ACLS, args);
    }

    /** The run's stdout lines sorted, blank lines dropped (the tool prints sets). */
    private static Tool.Result sorted(Tool.Result r) {
        List<String> l = new java.util.ArrayList<>(List.of(r.out().split("\n")));
        l.removeIf(String::isBlank);
        l.sort(null);
        return new Tool.Result(r.command() + " | sort", r.status(), l.isEmpty() ? "" : String.join("\n", l) + "\n", r.err());
    }

    private String normalize(String text) {
        return text.replace(bootstrap, "<BOOTSTRAP>").replace(run, "S").replaceAll("[ ]+\n", "\n");
    }

    private void print(Tool.Result r) {
        if (PRINT) System.out.println(normalize(r.toString()));
    }

    private void expectOut(Tool.Result r, int status, String expected) {
        print(r);
        if (r.status() != status) {
            throw new Mismatch(normalize(r.command()) + ": exit status " + r.status() + ", Kafka's is " + status + "\n" + r);
        }
        if (expected == null) return;
        String got = normalize(r.out());
        String want = expected.replaceAll("[ ]+\n", "\n");
        if (!got.equals(want)) {
            throw new Mismatch(normalize(r.command()) + " printed, masked:\n" + got + "----- Kafka prints:\n" + want);
        }
    }
}
