package ironlog;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Future;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.utils.AppInfoParser;

/**
 * The Java client 4.1 against one broker: the default producer with every compression
 * codec, classic consumer groups (range, cooperative-sticky, static members), the consumer
 * protocol (KIP-848) and exactly-once consume-transform-produce. The AdminClient has its own
 * session ({@link AdminSession}).
 *
 * <p>Usage: {@code java ironlog.ClientSession HOST:PORT [SCENARIO...]}
 */
public final class ClientSession extends Session {
    ClientSession(String bootstrap) {
        super(bootstrap);
        scenario("default-producer", this::defaultProducer);
        scenario("classic-range", () -> classicGroup("org.apache.kafka.clients.consumer.RangeAssignor", "range"));
        scenario("classic-cooperative-sticky", this::cooperativeSticky);
        scenario("classic-static-members", this::staticMembers);
        scenario("consumer-protocol", this::consumerProtocol);
        scenario("exactly-once", this::exactlyOnce);
    }

    public static void main(String[] args) {
        System.out.println("kafka-clients " + AppInfoParser.getVersion());
        System.exit(new ClientSession(args[0]).runAll(scenarioArgs(args)));
    }

    /** The default producer (idempotent, acks=all) with keys, headers and each compression
     *  codec: every record acknowledged at the next offset of its partition, read back
     *  byte for byte with its headers and timestamp. */
    void defaultProducer() throws Exception {
        String topic = unique("java-produce");
        try (Admin admin = Clients.admin(bootstrap)) {
            Clients.createTopic(admin, topic, 3, Map.of());
        }
        Map<String, ProducerRecord<String, String>> sent = new HashMap<>();
        Map<Integer, Long> next = new HashMap<>();
        for (String codec : List.of("none", "gzip", "snappy", "lz4", "zstd")) {
            try (KafkaProducer<String, String> producer = Clients.producer(bootstrap,
                    "compression.type", codec, "linger.ms", 5)) {
                List<Future<RecordMetadata>> acks = new ArrayList<>();
                List<ProducerRecord<String, String>> records = new ArrayList<>();
                for (int i = 0; i < 100; i++) {
                    String value = codec + "-" + i + "-" + "x".repeat(i);
                    List<Header> headers = i % 3 == 0
                        ? List.of(new RecordHeader("h", ("hv" + i).getBytes(StandardCharsets.UTF_8)),
                                  new RecordHeader("empty", null))
                        : List.of();
                    var r = new ProducerRecord<>(topic, null, 1_700_000_000_000L + i, i % 5 == 0 ? null : "key" + (i % 7),
                        value, headers);
                    records.add(r);
                    acks.add(producer.send(r));
                }
                for (int i = 0; i < acks.size(); i++) {
                    RecordMetadata md = await(acks.get(i), codec + " send " + i);
                    long want = next.getOrDefault(md.partition(), 0L);
                    expectEq(md.offset(), want, codec + " record " + i + " offset on partition " + md.partition());
                    next.put(md.partition(), want + 1);
                    expectEq(md.timestamp(), records.get(i).timestamp(), codec + " record " + i + " timestamp (CreateTime)");
                    sent.put(records.get(i).value(), records.get(i));
                }
            }
        }
        var got = Clients.readAll(bootstrap, Clients.partitions(topic, 3));
        expectEq(got.size(), sent.size(), "records read back");
        for (ConsumerRecord<String, String> r : got) {
            ProducerRecord<String, String> s = sent.get(r.value());
            expect(s != null, "read a record nobody sent: " + r.value());
            expectEq(r.key(), s.key(), "key of " + r.value());
            expectEq(r.timestamp(), s.timestamp(), "timestamp of " + r.value());
            List<String> gotHeaders = new ArrayList<>();
            for (Header h : r.headers()) gotHeaders.add(h.key() + "=" + (h.value() == null ? "null" : new String(h.value())));
            List<String> wantHeaders = new ArrayList<>();
            for (Header h : s.headers()) wantHeaders.add(h.key() + "=" + (h.value() == null ? "null" : new String(h.value())));
            expectEq(gotHeaders, wantHeaders, "headers of " + r.value());
        }
    }

    /** Two members of a classic group with {@code assignor}: two partitions each, every
     *  record once, the commits listed by the admin client, the group described as Kafka
     *  describes it. */
    void classicGroup(String assignorClass, String assignorName) throws Exception {
        String topic = unique("java-" + assignorName);
        String group = unique("java-" + assignorName + "-group");
        try (Admin admin = Clients.admin(bootstrap)) {
            Clients.createTopic(admin, topic, 4, Map.of());
            try (Member a = new Member("a", Clients.consumer(bootstrap, "group.id", group,
                    "partition.assignment.strategy", assignorClass, "enable.auto.commit", "false"), topic);
                 Member b = new Member("b", Clients.consumer(bootstrap, "group.id", group,
                    "partition.assignment.strategy", assignorClass, "enable.auto.commit", "false"), topic)) {
                List<Member> members = List.of(a, b);
                // Records come once the group is formed: nothing is read twice because a
                // partition moved before its first commit.
                Member.pollUntil(members, "two partitions each",
                    () -> a.assigned().size() == 2 && b.assigned().size() == 2);
                produce(topic, 200);
                Member.pollUntil(members, "all 200 records",
                    () -> a.records.size() + b.records.size() >= 200);
                expectEq(a.assigned().size() + b.assigned().size(), 4, "partitions assigned after reading");
                expectDisjoint(a, b);
                expectEachOnce(members, 200);
                a.consumer.commitSync(Duration.ofSeconds(30));
                b.consumer.commitSync(Duration.ofSeconds(30));
                ConsumerGroupDescription d = describeGroup(admin, group);
                expectEq(d.type(), GroupType.CLASSIC, "group type");
                expectEq(d.groupState(), GroupState.STABLE, "group state");
                expectEq(d.partitionAssignor(), assignorName, "group's assignor");
                expectEq(d.members().size(), 2, "members described");
                Set<Integer> described = new TreeSet<>();
                for (MemberDescription m : d.members()) {
                    m.assignment().topicPartitions().forEach(tp -> described.add(tp.partition()));
                }
                expectEq(described, Set.of(0, 1, 2, 3), "partitions the described members own");
                expectCommittedAtEnd(admin, group, topic, 4);
            }
        }
    }

    /** cooperative-sticky: a second member takes two partitions from the first, which keeps
     *  the other two the whole time (only the moved ones are revoked). */
    void cooperativeSticky() throws Exception {
        String topic = unique("java-coop");
        String group = unique("java-coop-group");
        String assignor = "org.apache.kafka.clients.consumer.CooperativeStickyAssignor";
        try (Admin admin = Clients.admin(bootstrap)) {
            Clients.createTopic(admin, topic, 4, Map.of());
            produce(topic, 100);
            try (Member a = new Member("a", Clients.consumer(bootstrap, "group.id", group,
                    "partition.assignment.strategy", assignor), topic)) {
                Member.pollUntil(List.of(a), "the first member owning all 4 partitions",
                    () -> a.assigned().size() == 4);
                try (Member b = new Member("b", Clients.consumer(bootstrap, "group.id", group,
                        "partition.assignment.strategy", assignor), topic)) {
                    Member.pollUntil(List.of(a, b), "two partitions each",
                        () -> a.assigned().size() == 2 && b.assigned().size() == 2);
                    expectDisjoint(a, b);
                    expectEq(a.revoked.size(), 2, "partitions revoked from the first member (" + a.revoked + ")");
                    Set<Integer> revoked = new TreeSet<>();
                    a.revoked.forEach(tp -> revoked.add(tp.partition()));
                    expectEq(revoked, b.assigned(), "the revoked partitions are the ones the second member got");
                    Member.pollUntil(List.of(a, b), "all 100 records",
                        () -> a.records.size() + b.records.size() >= 100);
                    ConsumerGroupDescription d = describeGroup(admin, group);
                    expectEq(d.partitionAssignor(), "cooperative-sticky", "group's assignor");
                    expectEq(d.groupState(), GroupState.STABLE, "group state");
                }
            }
        }
    }

    /** Static members: one restarts with its group.instance.id within the session timeout
     *  and gets its partitions back; the other member sees no rebalance. */
    void staticMembers() throws Exception {
        String topic = unique("java-static");
        String group = unique("java-static-group");
        try (Admin admin = Clients.admin(bootstrap)) {
            Clients.createTopic(admin, topic, 4, Map.of());
            Object[] settings = {"group.id", group, "session.timeout.ms", 45000};
            try (Member a = new Member("a", Clients.consumer(bootstrap, concat(settings, "group.instance.id", "instance-a")), topic)) {
                Member b = new Member("b", Clients.consumer(bootstrap, concat(settings, "group.instance.id", "instance-b")), topic);
                Member.pollUntil(List.of(a, b), "two partitions each",
                    () -> a.assigned().size() == 2 && b.assigned().size() == 2);
                Set<Integer> bPartitions = b.assigned();
                ConsumerGroupDescription before = describeGroup(admin, group);
                Set<String> instances = new TreeSet<>();
                for (MemberDescription m : before.members()) instances.add(m.groupInstanceId().orElse("<none>"));
                expectEq(instances, Set.of("instance-a", "instance-b"), "described group.instance.ids");
                int changes = a.assignmentChanges;
                b.close();
                // Closing a static member sends no LeaveGroup: the group still has both members.
                expectEq(describeGroup(admin, group).members().size(), 2, "members after a static member closed");
                try (Member b2 = new Member("b2", Clients.consumer(bootstrap, concat(settings, "group.instance.id", "instance-b")), topic)) {
                    Member.pollUntil(List.of(a, b2), "the restarted static member's partitions",
                        () -> b2.assigned().size() == 2);
                    expectEq(b2.assigned(), bPartitions, "partitions of the restarted static member");
                    for (int i = 0; i < 10; i++) a.poll();
                    expectEq(a.assignmentChanges, changes, "assignment changes of the other member while the static member restarted");
                    ConsumerGroupDescription after = describeGroup(admin, group);
                    expectEq(after.groupState(), GroupState.STABLE, "group state after the restart");
                    expectEq(after.members().size(), 2, "members after the restart");
                }
            }
        }
    }

    /** The consumer protocol (KIP-848): two members split four partitions with the broker's
     *  assignor, read every record once and commit; the group is described as a CONSUMER
     *  group with member epochs; a third member joining takes partitions over. */
    void consumerProtocol() throws Exception {
        String topic = unique("java-848");
        String group = unique("java-848-group");
        try (Admin admin = Clients.admin(bootstrap)) {
            Clients.createTopic(admin, topic, 4, Map.of());
            Object[] settings = {"group.id", group, "group.protocol", "consumer", "enable.auto.commit", "false"};
            try (Member a = new Member("a", Clients.consumer(bootstrap, settings), topic);
                 Member b = new Member("b", Clients.consumer(bootstrap, settings), topic)) {
                List<Member> members = List.of(a, b);
                Member.pollUntil(members, "two partitions each",
                    () -> a.assigned().size() == 2 && b.assigned().size() == 2);
                produce(topic, 200);
                Member.pollUntil(members, "all 200 records",
                    () -> a.records.size() + b.records.size() >= 200);
                expectDisjoint(a, b);
                expectEachOnce(members, 200);
                a.consumer.commitSync(Duration.ofSeconds(30));
                b.consumer.commitSync(Duration.ofSeconds(30));
                expectCommittedAtEnd(admin, group, topic, 4);
                ConsumerGroupDescription d = waitFor("the consumer group stable with 2 members", () -> {
                    try {
                        ConsumerGroupDescription g = describeGroup(admin, group);
                        return g.groupState() == GroupState.STABLE && g.members().size() == 2 ? g : null;
                    } catch (InterruptedException e) {
                        throw new RuntimeException(e);
                    }
                });
                expectEq(d.type(), GroupType.CONSUMER, "group type");
                expectEq(d.partitionAssignor(), "uniform", "group's assignor (the broker's default)");
                expect(d.groupEpoch().isPresent() && d.groupEpoch().get() > 0, "group epoch described: " + d.groupEpoch());
                expectEq(d.targetAssignmentEpoch(), d.groupEpoch(), "target assignment epoch of a stable group");
                for (MemberDescription m : d.members()) {
                    expectEq(m.memberEpoch(), d.groupEpoch(), "epoch of member " + m.consumerId());
                    expectEq(m.assignment().topicPartitions().size(), 2, "partitions of member " + m.consumerId());
                    expectEq(m.targetAssignment().map(t -> t.topicPartitions().size()).orElse(-1), 2,
                        "target partitions of member " + m.consumerId());
                    expectEq(m.upgraded(), java.util.Optional.of(true), "member " + m.consumerId() + " uses the consumer protocol");
                }
                try (Member c = new Member("c", Clients.consumer(bootstrap, settings), topic)) {
                    List<Member> three = List.of(a, b, c);
                    Member.pollUntil(three, "the third member getting a partition and the assignment settling",
                        () -> !c.assigned().isEmpty()
                            && a.assigned().size() + b.assigned().size() + c.assigned().size() == 4);
                    Set<Integer> all = new TreeSet<>();
                    for (Member m : three) all.addAll(m.assigned());
                    expectEq(all, Set.of(0, 1, 2, 3), "partitions owned by the three members");
                }
            }
        }
    }

    /** Consume-transform-produce, exactly once: read_committed group consumer, a
     *  transactional producer sending the transformed records and the consumer's offsets
     *  (sendOffsetsToTransaction with the group metadata) in one transaction; one aborted
     *  transaction is redone; a second producer with the same transactional id fences the
     *  first. The output holds each input record exactly once. */
    void exactlyOnce() throws Exception {
        String in = unique("java-eos-in");
        String out = unique("java-eos-out");
        String group = unique("java-eos-group");
        String txnId = unique("java-eos-txn");
        int count = 120;
        try (Admin admin = Clients.admin(bootstrap)) {
            Clients.createTopic(admin, in, 2, Map.of());
            Clients.createTopic(admin, out, 2, Map.of());
            produce(in, count);
            try (KafkaConsumer<String, String> consumer = Clients.consumer(bootstrap, "group.id", group,
                    "isolation.level", "read_committed", "enable.auto.commit", "false", "max.poll.records", 25);
                 KafkaProducer<String, String> producer = Clients.producer(bootstrap, "transactional.id", txnId)) {
                producer.initTransactions();
                consumer.subscribe(List.of(in));
                int transformed = 0;
                boolean aborted = false;
                long deadline = System.currentTimeMillis() + 2 * STEP_TIMEOUT_MS;
                while (transformed < count) {
                    expect(System.currentTimeMillis() < deadline, "transformed " + transformed + " of "
                        + count + " records within " + 2 * STEP_TIMEOUT_MS + " ms");
                    var records = consumer.poll(Duration.ofMillis(200));
                    if (records.isEmpty()) continue;
                    producer.beginTransaction();
                    Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                    for (ConsumerRecord<String, String> r : records) {
                        producer.send(new ProducerRecord<>(out, r.partition(), r.key(), r.value().toUpperCase()));
                        offsets.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                    }
                    producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
                    if (!aborted && transformed > 0) {
                        // Abort one transaction halfway: its records (flushed first, so they are
                        // in the log, not dropped unsent by the client) and offsets vanish; go
                        // back to the committed offsets and transform the same records again.
                        producer.flush();
                        producer.abortTransaction();
                        aborted = true;
                        var committed = consumer.committed(offsets.keySet(), Duration.ofSeconds(30));
                        for (TopicPartition tp : offsets.keySet()) {
                            OffsetAndMetadata o = committed.get(tp);
                            consumer.seek(tp, o == null ? 0 : o.offset());
                        }
                        continue;
                    }
                    producer.commitTransaction();
                    transformed += records.count();
                }
                expect(aborted, "no transaction was aborted (the input came in one poll)");
                expectCommittedAtEnd(admin, group, in, 2);
                // A new producer with the same transactional id fences this one.
                try (KafkaProducer<String, String> successor = Clients.producer(bootstrap, "transactional.id", txnId)) {
                    successor.initTransactions();
                    try {
                        producer.beginTransaction();
                        producer.send(new ProducerRecord<>(out, 0, "fenced", "FENCED")).get();
                        producer.commitTransaction();
                        throw new Mismatch("a fenced producer committed a transaction");
                    } catch (ProducerFencedException e) {
                        // as Kafka answers
                    } catch (java.util.concurrent.ExecutionException e) {
                        // ProducerFencedException (transaction version 0/1) or, under Kafka 4.1's
                        // default transaction version 2, InvalidProducerEpochException.
                        expect(e.getCause() instanceof ProducerFencedException
                                || e.getCause() instanceof org.apache.kafka.common.errors.InvalidProducerEpochException,
                            "a fenced producer's send failed with " + describe(e.getCause())
                                + ", not ProducerFencedException or InvalidProducerEpochException");
                    }
                }
            }
            var outParts = Clients.partitions(out, 2);
            List<String> committed = new ArrayList<>();
            for (var r : Clients.readAll(bootstrap, outParts, "isolation.level", "read_committed")) committed.add(r.value());
            List<String> want = new ArrayList<>();
            for (int i = 0; i < count; i++) want.add(("v" + i).toUpperCase());
            expectEq(new TreeSet<>(committed), new TreeSet<>(want), "transformed values (read_committed)");
            expectEq(committed.size(), count, "transformed records (read_committed): each exactly once");
            int uncommitted = Clients.readAll(bootstrap, outParts, "isolation.level", "read_uncommitted").size();
            expect(uncommitted > count, "read_uncommitted sees the aborted transaction's records too: "
                + uncommitted + " records, " + count + " committed");
        }
    }

    // ---------------------------------------------------------------- helpers

    private void produce(String topic, int count) throws Exception {
        try (KafkaProducer<String, String> producer = Clients.producer(bootstrap)) {
            List<Future<RecordMetadata>> acks = new ArrayList<>();
            for (int i = 0; i < count; i++) acks.add(producer.send(new ProducerRecord<>(topic, "k" + i, "v" + i)));
            for (Future<RecordMetadata> f : acks) await(f, "send to " + topic);
        }
    }

    private static Object[] concat(Object[] a, Object... b) {
        Object[] out = new Object[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    static ConsumerGroupDescription describeGroup(Admin admin, String group) throws InterruptedException {
        return await(admin.describeConsumerGroups(List.of(group)).describedGroups().get(group), "DescribeGroups " + group);
    }

    private static void expectDisjoint(Member a, Member b) {
        Set<Integer> both = new HashSet<>(a.assigned());
        both.retainAll(b.assigned());
        expect(both.isEmpty(), "partitions " + both + " assigned to both " + a.name + " and " + b.name);
    }

    private static void expectEachOnce(List<Member> members, int count) {
        Set<String> seen = new HashSet<>();
        for (Member m : members) {
            for (var r : m.records) expect(seen.add(r.value()), "record " + r.value() + " delivered twice");
        }
        expectEq(seen.size(), count, "distinct records the group read");
    }

    static void expectCommittedAtEnd(Admin admin, String group, String topic, int partitions) throws InterruptedException {
        Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
        for (TopicPartition tp : Clients.partitions(topic, partitions)) latest.put(tp, OffsetSpec.latest());
        var ends = await(admin.listOffsets(latest).all(), "ListOffsets latest of " + topic);
        var committed = await(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata(),
            "ListConsumerGroupOffsets " + group);
        for (var e : ends.entrySet()) {
            OffsetAndMetadata o = committed.get(e.getKey());
            expect(o != null && o.offset() == e.getValue().offset(), "committed offset of " + e.getKey()
                + " in " + group + ": expected the end offset " + e.getValue().offset() + ", got " + o);
        }
    }
}
