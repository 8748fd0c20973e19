package ironlog;

import java.util.List;
import java.util.Map;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.errors.InvalidRequestException;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.quota.ClientQuotaFilterComponent;

/**
 * Client quotas through Kafka 4.1's {@code kafka-configs} (--alter / --describe of clients
 * and the default user; Kafka's messages, from its ConfigCommand) and the AdminClient's
 * alterClientQuotas / describeClientQuotas, with Kafka's refusal of an unknown key.
 */
public final class QuotaSession extends Session {
    private static final String CONFIGS = "kafka.admin.ConfigCommand";

    /** This run's unique part of every name. */
    private final String run = String.format("%06x", System.nanoTime() & 0xffffffL);

    QuotaSession(String bootstrap) {
        super(bootstrap);
        scenario("kafka-configs", this::configs);
        scenario("admin-quotas", this::admin);
    }

    public static void main(String[] args) {
        System.exit(new QuotaSession(args[0]).runAll(scenarioArgs(args)));
    }

    void configs() throws Exception {
        String client = "app-" + run;
        Tool.Result altered = tool("--alter", "--add-config", "producer_byte_rate=1024,consumer_byte_rate=2048",
            "--entity-type", "clients", "--entity-name", client);
        expectEq(altered.status(), 0, "kafka-configs --alter's exit status: " + altered);
        expectEq(altered.out(), "Completed updating config for client " + client + ".\n", "kafka-configs --alter");
        Tool.Result described = tool("--describe", "--entity-type", "clients", "--entity-name", client);
        expectEq(described.status(), 0, "kafka-configs --describe's exit status: " + described);
        String out = described.out();
        expect(out.startsWith("Quota configs for client-id '" + client + "' are "), "kafka-configs --describe: " + out);
        expect(out.contains("producer_byte_rate=1024.0") && out.contains("consumer_byte_rate=2048.0"),
            "kafka-configs --describe shows both quotas: " + out);
        Tool.Result defaults = tool("--alter", "--add-config", "producer_byte_rate=4096",
            "--entity-type", "users", "--entity-default");
        expectEq(defaults.status(), 0, "kafka-configs --alter of the default user: " + defaults);
        expectEq(defaults.out(), "Completed updating default config for users in the cluster.\n",
            "kafka-configs --alter --entity-default");
        Tool.Result deleted = tool("--alter", "--delete-config", "consumer_byte_rate",
            "--entity-type", "clients", "--entity-name", client);
        expectEq(deleted.status(), 0, "kafka-configs --delete-config: " + deleted);
        Tool.Result after = tool("--describe", "--entity-type", "clients", "--entity-name", client);
        expectEq(after.out(), "Quota configs for client-id '" + client + "' are producer_byte_rate=1024.0\n",
            "kafka-configs --describe after the delete");
    }

    void admin() throws Exception {
        String user = "user-" + run;
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
            ClientQuotaEntity entity = new ClientQuotaEntity(Map.of(ClientQuotaEntity.USER, user));
            await(admin.alterClientQuotas(List.of(new ClientQuotaAlteration(entity,
                List.of(new ClientQuotaAlteration.Op("request_percentage", 25.5))))).all(), "alterClientQuotas");
            var described = await(admin.describeClientQuotas(ClientQuotaFilter.containsOnly(
                List.of(ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.USER, user)))).entities(),
                "describeClientQuotas");
            expectEq(described, Map.of(entity, Map.of("request_percentage", 25.5)), "describeClientQuotas of the user");
            Throwable e = awaitFailure(admin.alterClientQuotas(List.of(new ClientQuotaAlteration(entity,
                List.of(new ClientQuotaAlteration.Op("bogus_rate", 1.0))))).all(), "alterClientQuotas of an unknown key");
            expect(e instanceof InvalidRequestException, "expected InvalidRequestException, got " + e);
            expectEq(e.getMessage(), "Invalid configuration key bogus_rate", "the refusal's message");
        }
    }

    private Tool.Result tool(String... args) {
        return Tool.against(bootstrap, CONFIGS, args);
    }
}
