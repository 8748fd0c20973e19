package ironlog;

import java.util.List;
import java.util.Map;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialDeletion;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.admin.UserScramCredentialsDescription;
import org.apache.kafka.common.errors.DuplicateResourceException;
import org.apache.kafka.common.errors.ResourceNotFoundException;
import org.apache.kafka.common.errors.UnacceptableCredentialException;

/**
 * SCRAM credentials through Kafka 4.1's AdminClient (alterUserScramCredentials /
 * describeUserScramCredentials, with Kafka's refusals of too few iterations and of unknown
 * users or mechanisms) and through {@code kafka-configs --entity-type users} (Kafka's
 * messages, from its ConfigCommand).
 */
public final class ScramSession extends Session {
    private static final String CONFIGS = "kafka.admin.ConfigCommand";

    /** This run's unique part of every name. */
    private final String run = String.format("%06x", System.nanoTime() & 0xffffffL);

    ScramSession(String bootstrap) {
        super(bootstrap);
        scenario("admin-scram", this::admin);
        scenario("kafka-configs-users", this::configs);
    }

    public static void main(String[] args) {
        System.exit(new ScramSession(args[0]).runAll(scenarioArgs(args)));
    }

    void admin() throws Exception {
        String user = "alice-" + run;
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
            // One alteration per user and request: Kafka refuses a second with DUPLICATE_RESOURCE.
            Throwable twice = awaitFailure(admin.alterUserScramCredentials(List.of(
                new UserScramCredentialUpsertion(user, new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192), "pw-256"),
                new UserScramCredentialUpsertion(user, new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), "pw-512")))
                .all(), "two upsertions for one user in one request");
            expect(twice instanceof DuplicateResourceException,
                "two alterations of one user: expected DuplicateResourceException, got " + twice);
            await(admin.alterUserScramCredentials(List.of(
                new UserScramCredentialUpsertion(user, new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192), "pw-256")))
                .all(), "alterUserScramCredentials (SCRAM-SHA-256)");
            await(admin.alterUserScramCredentials(List.of(
                new UserScramCredentialUpsertion(user, new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), "pw-512")))
                .all(), "alterUserScramCredentials (SCRAM-SHA-512)");
            UserScramCredentialsDescription described =
                await(admin.describeUserScramCredentials(List.of(user)).description(user), "describeUserScramCredentials");
            expectEq(setOf(described.credentialInfos()), setOf(List.of(
                new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192),
                new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096))), "the user's credentials");

            Throwable few = awaitFailure(admin.alterUserScramCredentials(List.of(
                new UserScramCredentialUpsertion(user, new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 1000), "pw")))
                .all(), "an upsertion with 1000 iterations");
            expect(few instanceof UnacceptableCredentialException,
                "too few iterations: expected UnacceptableCredentialException, got " + few);

            await(admin.alterUserScramCredentials(List.of(
                new UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_256))).all(), "deleting SCRAM-SHA-256");
            described = await(admin.describeUserScramCredentials(List.of(user)).description(user),
                "describeUserScramCredentials after the deletion");
            expectEq(described.credentialInfos(), List.of(new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096)),
                "the user's credentials after deleting SCRAM-SHA-256");
            Throwable again = awaitFailure(admin.alterUserScramCredentials(List.of(
                new UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_256))).all(),
                "deleting SCRAM-SHA-256 a second time");
            expect(again instanceof ResourceNotFoundException,
                "a deletion of a credential that is not there: expected ResourceNotFoundException, got " + again);

            String nobody = "nobody-" + run;
            Throwable unknown = awaitFailure(admin.describeUserScramCredentials(List.of(nobody)).description(nobody),
                "describeUserScramCredentials of a user without credentials");
            expect(unknown instanceof ResourceNotFoundException,
                "an unknown user: expected ResourceNotFoundException, got " + unknown);
            var all = await(admin.describeUserScramCredentials().users(), "describeUserScramCredentials of everyone");
            expect(all.contains(user) && !all.contains(nobody), "every user with credentials: " + all);
        }
    }

    void configs() throws Exception {
        String user = "bob-" + run;
        Tool.Result altered = tool("--alter", "--add-config", "SCRAM-SHA-512=[iterations=8192,password=secret]",
            "--entity-type", "users", "--entity-name", user);
        expectEq(altered.status(), 0, "kafka-configs --alter's exit status: " + altered);
        expectEq(altered.out(), "Completed updating config for user " + user + ".\n", "kafka-configs --alter");
        Tool.Result described = tool("--describe", "--entity-type", "users", "--entity-name", user);
        expectEq(described.status(), 0, "kafka-configs --describe's exit status: " + described);
        expectEq(described.out(), "SCRAM credential configs for user-principal '" + user
            + "' are SCRAM-SHA-512=iterations=8192\n", "kafka-configs --describe");
        Tool.Result deleted = tool("--alter", "--delete-config", "SCRAM-SHA-512",
            "--entity-type", "users", "--entity-name", user);
        expectEq(deleted.status(), 0, "kafka-configs --delete-config: " + deleted);
        // A user without credentials (or quotas) is not listed at all.
        Tool.Result after = tool("--describe", "--entity-type", "users", "--entity-name", user);
        expectEq(after.status(), 0, "kafka-configs --describe after the deletion: " + after);
        expectEq(after.out(), "", "kafka-configs --describe after the deletion");
    }

    private static <T> java.util.Set<T> setOf(List<T> items) {
        return new java.util.HashSet<>(items);
    }

    private Tool.Result tool(String... args) {
        return Tool.against(bootstrap, CONFIGS, args);
    }
}
