package ironlog;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.PartitionReassignment;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.ElectionNotNeededException;
import org.apache.kafka.common.errors.InvalidReplicaAssignmentException;
import org.apache.kafka.common.errors.NoReassignmentInProgressException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.utils.AppInfoParser;

/**
 * Partition reassignment and leader election from Kafka's Java stack against a cluster of
 * four brokers (ids 1–4): the AdminClient's alterPartitionReassignments,
 * listPartitionReassignments and electLeaders, and Kafka 4.1's kafka-reassign-partitions
 * (--generate, --execute with --throttle, --list, --verify clearing the throttles) and
 * kafka-leader-election (PREFERRED, UNCLEAN),
 * run by their main classes (see {@link Tool}).
 *
 * <p>The expected tool outputs follow the tools' own formatting code in Kafka 4.1
 * ({@code ReassignPartitionsCommand}, {@code LeaderElectionCommand}), with the run's unique
 * part of names masked as {@code S}.
 *
 * <p>Usage: {@code java [-Dironlog.print=1] ironlog.ReassignSession HOST:PORT[,...] [SCENARIO...]}
 */
public final class ReassignSession extends Session {
    private static final boolean PRINT = System.getProperty("ironlog.print") != null;
    private static final String REASSIGN = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand";
    private static final String ELECTION = "org.apache.kafka.tools.LeaderElectionCommand";

    private final Admin admin;
    /** This run's unique part of every name; masked as {@code S}. */
    private final String run = String.format("%06x", System.nanoTime() & 0xffffffL);

    ReassignSession(String bootstrap) {
        super(bootstrap);
        admin = Clients.admin(bootstrap);
        scenario("admin-reassignments", this::adminReassignments);
        scenario("admin-elect-leaders", this::adminElectLeaders);
        scenario("kafka-reassign-partitions", this::reassignTool);
        scenario("kafka-leader-election", this::electionTool);
    }

    public static void main(String[] args) {
        System.out.println("kafka-clients " + AppInfoParser.getVersion());
        ReassignSession s = new ReassignSession(args[0]);
        int status = s.runAll(scenarioArgs(args));
        s.admin.close(Duration.ofSeconds(10));
        System.exit(status);
    }

    // ---------------------------------------------------------------- helpers

    /** Creates {@code topic} with the given replicas per partition and waits for its leaders. */
    private void createAssigned(String topic, List<List<Integer>> replicas) throws InterruptedException {
        Map<Integer, List<Integer>> assignment = new java.util.HashMap<>();
        for (int p = 0; p < replicas.size(); p++) assignment.put(p, replicas.get(p));
        await(admin.createTopics(List.of(new NewTopic(topic, assignment))).all(), "CreateTopics " + topic);
        waitFor("topic " + topic + " led and in sync", () -> {
            TopicDescription d = describe(topic);
            return d != null && d.partitions().size() == replicas.size() && d.partitions().stream()
                .allMatch(p -> p.leader() != null && p.isr().size() == p.replicas().size()) ? true : null;
        });
    }

    private TopicDescription describe(String topic) {
        try {
            return admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    private static List<Integer> ids(List<Node> nodes) {
        return nodes.stream().map(Node::id).collect(Collectors.toList());
    }

    /** Waits until partition {@code partition} of {@code topic} has {@code replicas}, all in
     *  sync, and no reassignment is listed; returns it. */
    private TopicPartitionInfo awaitMoved(String topic, int partition, List<Integer> replicas)
            throws InterruptedException {
        return waitFor(topic + "-" + partition + " on " + replicas + ", all in sync, nothing moving", () -> {
            try {
                if (!admin.listPartitionReassignments().reassignments().get().isEmpty()) return null;
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
            TopicPartitionInfo p = describe(topic).partitions().get(partition);
            return ids(p.replicas()).equals(replicas) && Set.copyOf(ids(p.isr())).equals(Set.copyOf(replicas))
                && p.leader() != null ? p : null;
        });
    }

    private void send(String topic, int partition, int count) throws Exception {
        try (KafkaProducer<String, String> producer = Clients.producer(bootstrap)) {
            for (int i = 0; i < count; i++) {
                producer.send(new ProducerRecord<>(topic, partition, "k" + i, "v" + i)).get();
            }
        }
    }

    private static <T extends Throwable> void expectCause(Throwable got, Class<T> want, String what) {
        expect(want.isInstance(got), what + ": expected " + want.getSimpleName() + ", got " + describe(got));
    }

    private Tool.Result tool(String mainClass, String... args) {
        Tool.Result r = Tool.against(bootstrap, mainClass, args);
        if (PRINT) System.out.println(normalize(r.toString()));
        return r;
    }

    private String normalize(String text) {
        return text.replace(bootstrap, "<BOOTSTRAP>").replace(run, "S");
    }

    private void expectOut(Tool.Result r, int status, String expected) {
        if (r.status() != status) {
            throw new Mismatch(normalize(r.command()) + ": exit status " + r.status() + ", expected " + status + "\n"
                + normalize(r.toString()));
        }
        String got = normalize(r.out());
        if (!got.equals(expected)) {
            throw new Mismatch(normalize(r.command()) + " printed, masked:\n" + got + "----- Kafka prints:\n" + expected);
        }
    }

    private static ConfigResource topicResource(String topic) {
        return new ConfigResource(ConfigResource.Type.TOPIC, topic);
    }

    private Path json(String name, String content) throws Exception {
        Path file = Files.createTempFile(name, ".json");
        file.toFile().deleteOnExit();
        Files.writeString(file, content);
        return file;
    }

    // ---------------------------------------------------------------- scenarios

    void adminReassignments() throws Exception {
        String t = "admin-move-" + run;
        createAssigned(t, List.of(List.of(1, 2), List.of(2, 3)));
        send(t, 0, 20);
        await(admin.alterPartitionReassignments(Map.of(
            new TopicPartition(t, 0), Optional.of(new NewPartitionReassignment(List.of(3, 4))))).all(),
            "alterPartitionReassignments " + t + "-0 to 3,4");
        TopicPartitionInfo moved = awaitMoved(t, 0, List.of(3, 4));
        expect(moved.leader().id() == 3 || moved.leader().id() == 4, "a new replica leads: " + moved);
        var values = Clients.readAll(bootstrap, List.of(new TopicPartition(t, 0))).stream()
            .map(r -> r.value()).collect(Collectors.toList());
        expectEq(values.size(), 20, "records readable after the move");
        expectEq(values.get(19), "v19", "the last record after the move");

        var bad = admin.alterPartitionReassignments(Map.of(
            new TopicPartition(t, 1), Optional.of(new NewPartitionReassignment(List.of(2, 9))),
            new TopicPartition(t, 7), Optional.of(new NewPartitionReassignment(List.of(1, 2))),
            new TopicPartition("admin-no-such-" + run, 0), Optional.of(new NewPartitionReassignment(List.of(1, 2))),
            new TopicPartition(t, 0), Optional.empty())).values();
        expectCause(awaitFailure(bad.get(new TopicPartition(t, 1)), "unknown broker"),
            InvalidReplicaAssignmentException.class, "a reassignment to an unknown broker");
        expectCause(awaitFailure(bad.get(new TopicPartition(t, 7)), "unknown partition"),
            UnknownTopicOrPartitionException.class, "a reassignment of an unknown partition");
        expectCause(awaitFailure(bad.get(new TopicPartition("admin-no-such-" + run, 0)), "unknown topic"),
            UnknownTopicOrPartitionException.class, "a reassignment of an unknown topic");
        expectCause(awaitFailure(bad.get(new TopicPartition(t, 0)), "cancel without a move"),
            NoReassignmentInProgressException.class, "cancelling when nothing moves");
        var dup = admin.alterPartitionReassignments(Map.of(
            new TopicPartition(t, 1), Optional.of(new NewPartitionReassignment(List.of(3, 3))))).all();
        expectCause(awaitFailure(dup, "duplicate replicas"), InvalidReplicaAssignmentException.class,
            "a reassignment naming a broker twice");
        expectEq(ids(describe(t).partitions().get(1).replicas()), List.of(2, 3), "refused reassignments changed nothing");
        Map<TopicPartition, PartitionReassignment> listed =
            await(admin.listPartitionReassignments().reassignments(), "listPartitionReassignments");
        expectEq(listed, Map.of(), "nothing is moving");
    }

    void adminElectLeaders() throws Exception {
        String t = "admin-elect-" + run;
        createAssigned(t, List.of(List.of(1, 2, 3)));
        TopicPartition tp = new TopicPartition(t, 0);
        Map<TopicPartition, Optional<Throwable>> notNeeded =
            await(admin.electLeaders(ElectionType.PREFERRED, Set.of(tp)).partitions(), "electLeaders PREFERRED");
        expectCause(notNeeded.get(tp).orElseThrow(() -> new Mismatch("the preferred replica already leads: no error")),
            ElectionNotNeededException.class, "a preferred election where the preferred replica leads");
        // A reorder completes at once; the leader stays until elected.
        await(admin.alterPartitionReassignments(Map.of(tp,
            Optional.of(new NewPartitionReassignment(List.of(2, 1, 3))))).all(), "reorder to 2,1,3");
        TopicPartitionInfo reordered = awaitMoved(t, 0, List.of(2, 1, 3));
        expectEq(reordered.leader().id(), 1, "the leader after the reorder");
        Map<TopicPartition, Optional<Throwable>> elected =
            await(admin.electLeaders(ElectionType.PREFERRED, Set.of(tp)).partitions(), "electLeaders PREFERRED");
        expectEq(elected.get(tp), Optional.empty(), "the preferred election's result");
        waitFor(tp + " led by 2", () -> describe(t).partitions().get(0).leader().id() == 2 ? true : null);
        Map<TopicPartition, Optional<Throwable>> unclean =
            await(admin.electLeaders(ElectionType.UNCLEAN, Set.of(tp)).partitions(), "electLeaders UNCLEAN");
        expectCause(unclean.get(tp).orElseThrow(() -> new Mismatch("a live leader: no unclean election")),
            ElectionNotNeededException.class, "an unclean election where the leader is live");
        TopicPartition unknown = new TopicPartition(t, 5);
        Map<TopicPartition, Optional<Throwable>> missing =
            await(admin.electLeaders(ElectionType.PREFERRED, Set.of(unknown)).partitions(), "electLeaders unknown");
        expectCause(missing.get(unknown).orElseThrow(() -> new Mismatch("an unknown partition: no error")),
            UnknownTopicOrPartitionException.class, "a preferred election of an unknown partition");
        Map<TopicPartition, Optional<Throwable>> all =
            await(admin.electLeaders(ElectionType.PREFERRED, null).partitions(), "electLeaders on every partition");
        expect(!all.containsKey(tp), "electing every partition leaves out those led by their preferred replica: " + all);
    }

    void reassignTool() throws Exception {
        String t = "tool-move-" + run;
        createAssigned(t, List.of(List.of(1, 2)));
        send(t, 0, 5);
        Path topics = json("topics", "{\"version\":1,\"topics\":[{\"topic\":\"" + t + "\"}]}");
        Tool.Result generated = tool(REASSIGN, "--generate", "--topics-to-move-json-file", topics.toString(),
            "--broker-list", "3,4");
        String current = "{\"version\":1,\"partitions\":[{\"topic\":\"tool-move-S\",\"partition\":0,"
            + "\"replicas\":[1,2],\"log_dirs\":[\"any\",\"any\"]}]}";
        String out = normalize(generated.out());
        expect(generated.status() == 0, "--generate failed:\n" + normalize(generated.toString()));
        expect(out.startsWith("Current partition replica assignment\n" + current
                + "\n\nProposed partition reassignment configuration\n"),
            "--generate printed:\n" + out);
        Matcher proposed = Pattern.compile("\"replicas\":\\[(\\d+),(\\d+)\\]").matcher(out.substring(out.indexOf("Proposed")));
        expect(proposed.find() && Set.of(proposed.group(1), proposed.group(2)).equals(Set.of("3", "4")),
            "the proposal puts the replicas on brokers 3 and 4:\n" + out);

        Path target = json("target", "{\"version\":1,\"partitions\":[{\"topic\":\"" + t
            + "\",\"partition\":0,\"replicas\":[4,3]}]}");
        expectOut(tool(REASSIGN, "--execute", "--reassignment-json-file", target.toString(),
                "--throttle", "50000000"), 0,
            "Current partition replica assignment\n\n" + current + "\n\n"
            + "Save this to use as the --reassignment-json-file option during rollback\n"
            + "Warning: You must run --verify periodically, until the reassignment completes, to ensure the "
            + "throttle is removed.\n"
            + "The inter-broker throttle limit was set to 50000000 B/s\n"
            + "Successfully started partition reassignment for tool-move-S-0\n");
        Config throttles = await(admin.describeConfigs(List.of(topicResource(t))).all(), "DescribeConfigs " + t)
            .get(topicResource(t));
        expect(!throttles.get("leader.replication.throttled.replicas").value().isEmpty()
                && !throttles.get("follower.replication.throttled.replicas").value().isEmpty(),
            "--throttle set the topic's throttled replicas: " + throttles);
        Tool.Result[] last = {null};
        try {
            waitFor("--verify to report the move completed", () -> {
                last[0] = tool(REASSIGN, "--verify", "--reassignment-json-file", target.toString());
                return last[0].status() == 0 && last[0].out().contains("is completed.") ? last[0] : null;
            });
        } catch (Mismatch e) {
            throw new Mismatch(e.getMessage() + "; the last --verify:\n" + normalize(String.valueOf(last[0])));
        }
        expectOut(tool(REASSIGN, "--verify", "--reassignment-json-file", target.toString()), 0,
            "Status of partition reassignment:\n"
            + "Reassignment of partition tool-move-S-0 is completed.\n\n"
            + "Clearing broker-level throttles on brokers 1,2,3,4\n"
            + "Clearing topic-level throttles on topic tool-move-S\n");
        expectOut(tool(REASSIGN, "--list"), 0, "No partition reassignments found.\n");
        Config cleared = await(admin.describeConfigs(List.of(topicResource(t))).all(), "DescribeConfigs " + t)
            .get(topicResource(t));
        expectEq(cleared.get("leader.replication.throttled.replicas").value(), "",
            "leader.replication.throttled.replicas after --verify");
        expectEq(cleared.get("follower.replication.throttled.replicas").value(), "",
            "follower.replication.throttled.replicas after --verify");
        awaitMoved(t, 0, List.of(4, 3));

        Path bad = json("bad", "{\"version\":1,\"partitions\":[{\"topic\":\"" + t
            + "\",\"partition\":0,\"replicas\":[4,9]}]}");
        Tool.Result refused = tool(REASSIGN, "--execute", "--reassignment-json-file", bad.toString());
        expect(refused.status() == 1 && refused.out().contains("Unknown broker id 9"),
            "an unknown broker is refused by the tool:\n" + normalize(refused.toString()));
    }

    void electionTool() throws Exception {
        String t = "tool-elect-" + run;
        createAssigned(t, List.of(List.of(1, 2)));
        expectOut(tool(ELECTION, "--election-type", "PREFERRED", "--topic", t, "--partition", "0"), 0,
            "Valid replica already elected for partitions tool-elect-S-0\n");
        await(admin.alterPartitionReassignments(Map.of(new TopicPartition(t, 0),
            Optional.of(new NewPartitionReassignment(List.of(2, 1))))).all(), "reorder to 2,1");
        awaitMoved(t, 0, List.of(2, 1));
        expectOut(tool(ELECTION, "--election-type", "PREFERRED", "--topic", t, "--partition", "0"), 0,
            "Successfully completed leader election (PREFERRED) for partitions tool-elect-S-0\n");
        expectOut(tool(ELECTION, "--election-type", "UNCLEAN", "--topic", t, "--partition", "0"), 0,
            "Valid replica already elected for partitions tool-elect-S-0\n");
        expectOut(tool(ELECTION, "--election-type", "PREFERRED", "--topic", t, "--partition", "9"), 1,
            "Error completing leader election (PREFERRED) for partition: tool-elect-S-9: "
            + "org.apache.kafka.common.errors.UnknownTopicOrPartitionException: No such partition as tool-elect-S-9\n");
        waitFor(t + "-0 led by 2", () -> describe(t).partitions().get(0).leader().id() == 2 ? true : null);
    }
}
