package ironlog;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Future;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.utils.AppInfoParser;

/**
 * The producer and consumer basics every Java application relies on, in API that
 * kafka-clients 3.9 and 4.1 share: java_clients.rs runs this with each release's jar.
 *
 * <p>Usage: {@code java ironlog.ClientBasics HOST:PORT [SCENARIO...]}
 */
public final class ClientBasics extends Session {
    ClientBasics(String bootstrap) {
        super(bootstrap);
        scenario("default-producer-and-group-consumer", this::producerAndGroupConsumer);
        scenario("transactions", this::transactions);
    }

    public static void main(String[] args) {
        System.out.println("kafka-clients " + AppInfoParser.getVersion());
        System.exit(new ClientBasics(args[0]).runAll(scenarioArgs(args)));
    }

    /** The default producer (idempotent, acks=all) and a classic group consumer with the
     *  default assignors reading every record once, then committing; a second member of the
     *  group resumes from the commit. */
    void producerAndGroupConsumer() throws Exception {
        String topic = unique("basics");
        String group = unique("basics-group");
        try (Admin admin = Clients.admin(bootstrap)) {
            Clients.createTopic(admin, topic, 3, Map.of());
            List<Future<RecordMetadata>> acks = new ArrayList<>();
            try (KafkaProducer<String, String> producer = Clients.producer(bootstrap)) {
                for (int i = 0; i < 300; i++) {
                    acks.add(producer.send(new ProducerRecord<>(topic, "k" + (i % 17), "v" + i)));
                }
                Map<Integer, Long> next = new HashMap<>();
                Map<String, Integer> partitionOfKey = new HashMap<>();
                for (int i = 0; i < acks.size(); i++) {
                    RecordMetadata md = await(acks.get(i), "send of record " + i);
                    long want = next.getOrDefault(md.partition(), 0L);
                    expectEq(md.offset(), want, "offset of record " + i + " on partition " + md.partition());
                    next.put(md.partition(), want + 1);
                    Integer before = partitionOfKey.put("k" + (i % 17), md.partition());
                    expect(before == null || before == md.partition(), "key k" + (i % 17)
                        + " went to partitions " + before + " and " + md.partition());
                }
            }
            Set<String> seen = new HashSet<>();
            try (KafkaConsumer<String, String> c = Clients.consumer(bootstrap, "group.id", group,
                    "enable.auto.commit", "false")) {
                c.subscribe(List.of(topic));
                long deadline = System.currentTimeMillis() + STEP_TIMEOUT_MS;
                while (seen.size() < 300) {
                    expect(System.currentTimeMillis() < deadline, "group consumer read " + seen.size()
                        + " of 300 records within " + STEP_TIMEOUT_MS + " ms");
                    for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                        expect(seen.add(r.value()), "record " + r.value() + " delivered twice");
                    }
                }
                c.commitSync(Duration.ofSeconds(30));
            }
            Map<TopicPartition, OffsetAndMetadata> committed = await(
                admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata(), "ListConsumerGroupOffsets");
            var ends = await(admin.listOffsets(Map.of(
                new TopicPartition(topic, 0), OffsetSpec.latest(),
                new TopicPartition(topic, 1), OffsetSpec.latest(),
                new TopicPartition(topic, 2), OffsetSpec.latest())).all(), "ListOffsets latest");
            for (var e : ends.entrySet()) {
                OffsetAndMetadata o = committed.get(e.getKey());
                expect(o != null && o.offset() == e.getValue().offset(), "committed offset of "
                    + e.getKey() + ": expected " + e.getValue().offset() + ", got " + o);
            }
            // A new member resumes at the commit: nothing left to read; a new record arrives.
            try (KafkaProducer<String, String> producer = Clients.producer(bootstrap);
                 KafkaConsumer<String, String> c = Clients.consumer(bootstrap, "group.id", group)) {
                await(producer.send(new ProducerRecord<>(topic, 1, "late", "after-commit")), "send after commit");
                c.subscribe(List.of(topic));
                List<String> got = new ArrayList<>();
                long deadline = System.currentTimeMillis() + STEP_TIMEOUT_MS;
                while (got.isEmpty()) {
                    expect(System.currentTimeMillis() < deadline, "resumed member got nothing within "
                        + STEP_TIMEOUT_MS + " ms");
                    for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) got.add(r.value());
                }
                expectEq(got, List.of("after-commit"), "records a resumed member reads");
            }
        }
    }

    /** A transactional producer: a committed and an aborted transaction; read_committed
     *  readers see only the committed one, read_uncommitted readers both. */
    void transactions() throws Exception {
        String topic = unique("basics-txn");
        try (Admin admin = Clients.admin(bootstrap)) {
            Clients.createTopic(admin, topic, 1, Map.of());
        }
        try (KafkaProducer<String, String> p = Clients.producer(bootstrap, "transactional.id", unique("basics-tx"))) {
            p.initTransactions();
            p.beginTransaction();
            p.send(new ProducerRecord<>(topic, "a", "committed-1"));
            p.send(new ProducerRecord<>(topic, "a", "committed-2"));
            p.commitTransaction();
            p.beginTransaction();
            p.send(new ProducerRecord<>(topic, "a", "aborted-1"));
            p.flush();
            p.abortTransaction();
            p.beginTransaction();
            p.send(new ProducerRecord<>(topic, "a", "committed-3"));
            p.commitTransaction();
        }
        var tps = Clients.partitions(topic, 1);
        List<String> committed = Clients.readAll(bootstrap, tps, "isolation.level", "read_committed")
            .stream().map(ConsumerRecord::value).toList();
        expectEq(committed, List.of("committed-1", "committed-2", "committed-3"), "read_committed values");
        List<String> all = Clients.readAll(bootstrap, tps, "isolation.level", "read_uncommitted")
            .stream().map(ConsumerRecord::value).toList();
        expectEq(all, List.of("committed-1", "committed-2", "aborted-1", "committed-3"), "read_uncommitted values");
    }
}
