package ironlog;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.BooleanSupplier;

import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;

/**
 * One member of a consumer group: its consumer, the records it received, and every
 * assignment change its rebalance listener saw. Members of one group are polled in turn
 * from one thread ({@link #pollUntil}), as separate applications would poll.
 */
final class Member implements ConsumerRebalanceListener, AutoCloseable {
    final String name;
    final KafkaConsumer<String, String> consumer;
    final List<ConsumerRecord<String, String>> records = new ArrayList<>();
    /** Every partition ever revoked from this member (onPartitionsRevoked). */
    final Set<TopicPartition> revoked = new HashSet<>();
    /** Calls of onPartitionsAssigned or onPartitionsRevoked with a non-empty set. */
    int assignmentChanges;

    Member(String name, KafkaConsumer<String, String> consumer, String topic) {
        this.name = name;
        this.consumer = consumer;
        consumer.subscribe(List.of(topic), this);
    }

    @Override
    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
        revoked.addAll(partitions);
        if (!partitions.isEmpty()) assignmentChanges++;
    }

    @Override
    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
        if (!partitions.isEmpty()) assignmentChanges++;
    }

    @Override
    public void onPartitionsLost(Collection<TopicPartition> partitions) {
        onPartitionsRevoked(partitions);
    }

    /** The current assignment's partition numbers, sorted. */
    Set<Integer> assigned() {
        Set<Integer> out = new TreeSet<>();
        for (TopicPartition tp : consumer.assignment()) out.add(tp.partition());
        return out;
    }

    void poll() {
        for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(100))) records.add(r);
    }

    @Override
    public void close() {
        consumer.close(Duration.ofSeconds(10));
    }

    /** Polls every member in turn until {@code done} holds; fails naming {@code what}. */
    static void pollUntil(List<Member> members, String what, BooleanSupplier done) {
        long deadline = System.currentTimeMillis() + Session.STEP_TIMEOUT_MS;
        while (!done.getAsBoolean()) {
            if (System.currentTimeMillis() > deadline) {
                StringBuilder state = new StringBuilder();
                for (Member m : members) {
                    state.append(" ").append(m.name).append(": assigned ").append(m.assigned())
                        .append(", ").append(m.records.size()).append(" records;");
                }
                throw new Session.Mismatch("timed out after " + Session.STEP_TIMEOUT_MS
                    + " ms waiting for " + what + " (" + state.toString().trim() + ")");
            }
            for (Member m : members) m.poll();
        }
    }
}
