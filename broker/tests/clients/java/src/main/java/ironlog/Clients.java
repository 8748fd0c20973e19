package ironlog;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Clients as an application builds them: only the bootstrap address, the serializers and
 * the settings a scenario names; every other setting is the client's default. Uses only
 * API that kafka-clients 3.9 and 4.1 share, so {@link ClientBasics} runs with either.
 */
final class Clients {
    private Clients() {}

    static Properties props(String bootstrap, Object... keyValues) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        for (int i = 0; i + 1 < keyValues.length; i += 2) {
            p.put(keyValues[i].toString(), keyValues[i + 1].toString());
        }
        return p;
    }

    static Admin admin(String bootstrap) {
        return Admin.create(props(bootstrap, AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30000));
    }

    static KafkaProducer<String, String> producer(String bootstrap, Object... keyValues) {
        Properties p = props(bootstrap, keyValues);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        return new KafkaProducer<>(p);
    }

    static KafkaConsumer<String, String> consumer(String bootstrap, Object... keyValues) {
        Properties p = props(bootstrap, keyValues);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.putIfAbsent(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        return new KafkaConsumer<>(p);
    }

    /** Creates {@code topic} (replication factor 1) and waits until it is described. */
    static void createTopic(Admin admin, String topic, int partitions, Map<String, String> configs)
            throws InterruptedException {
        NewTopic t = new NewTopic(topic, partitions, (short) 1).configs(configs);
        Session.await(admin.createTopics(List.of(t)).all(), "CreateTopics " + topic);
        Session.waitFor("topic " + topic + " with " + partitions + " partitions and leaders", () -> {
            try {
                var d = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
                return d.partitions().size() == partitions
                    && d.partitions().stream().allMatch(p -> p.leader() != null) ? true : null;
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
    }

    /** Every record of {@code partitions} from their beginning up to their end offsets, read by
     *  an assign()-only consumer with {@code keyValues} settings. */
    static List<ConsumerRecord<String, String>> readAll(String bootstrap, List<TopicPartition> partitions,
            Object... keyValues) throws InterruptedException {
        try (KafkaConsumer<String, String> c = consumer(bootstrap, keyValues)) {
            c.assign(partitions);
            c.seekToBeginning(partitions);
            Map<TopicPartition, Long> end = c.endOffsets(partitions, Duration.ofSeconds(30));
            List<ConsumerRecord<String, String>> out = new ArrayList<>();
            long deadline = System.currentTimeMillis() + Session.STEP_TIMEOUT_MS;
            while (true) {
                boolean done = true;
                for (TopicPartition tp : partitions) {
                    if (c.position(tp, Duration.ofSeconds(30)) < end.get(tp)) done = false;
                }
                if (done) return out;
                Session.expect(System.currentTimeMillis() < deadline, "reading " + partitions
                    + " to their end offsets " + end + " took over " + Session.STEP_TIMEOUT_MS
                    + " ms (" + out.size() + " records so far)");
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) out.add(r);
            }
        }
    }

    static List<TopicPartition> partitions(String topic, int count) {
        List<TopicPartition> out = new ArrayList<>();
        for (int p = 0; p < count; p++) out.add(new TopicPartition(topic, p));
        return out;
    }

    /** Values grouped by partition, in offset order. */
    static Map<Integer, List<String>> valuesByPartition(List<ConsumerRecord<String, String>> records) {
        Map<Integer, List<String>> out = new HashMap<>();
        for (ConsumerRecord<String, String> r : records) {
            out.computeIfAbsent(r.partition(), k -> new ArrayList<>()).add(r.value());
        }
        return out;
    }
}
