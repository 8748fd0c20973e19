package ironlog;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.AppInfoParser;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.processor.StateRestoreListener;

/**
 * A Kafka Streams application, unchanged, against an Ironlog cluster: a repartition (orders
 * re-keyed by customer and by region), a KTable of orders per customer in a RocksDB store
 * backed by its changelog, a windowed sum per region, {@code processing.guarantee=exactly_once_v2}.
 *
 * <p>Two instances run while orders keep arriving; mid-run the session asks the test to
 * kill -9 the broker that coordinates the application's group and start it again
 * ({@code @@ kill-broker ID} on stdout, answered by a line on stdin once the broker is back).
 * Then one instance leaves and starts again with its state directory wiped, so its tasks'
 * state comes back from the changelogs. The committed output (read_committed) must then be
 * exactly what the orders add up to: no count or sum off by a lost or a doubled record.
 *
 * <p>Usage: {@code java ironlog.StreamsSession HOST:PORT[,...] [SCENARIO...]}
 */
public final class StreamsSession extends Session {
    private static final int PARTITIONS = 6;
    private static final int CUSTOMERS = 40;
    private static final String[] REGIONS = {"emea", "amer", "apac"};
    /** Event time of order 0; one order per second of event time. */
    private static final long EVENT_TIME_BASE_MS = 1_700_000_000_000L;
    private static final Duration WINDOW = Duration.ofMinutes(1);
    /** Milliseconds the converged output may take to appear once the last order is sent. */
    private static final long CONVERGE_TIMEOUT_MS = 180_000;
    private static final long STARTED_NS = System.nanoTime();

    private final Admin admin;
    private final BufferedReader stdin =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));

    StreamsSession(String bootstrap) {
        super(bootstrap);
        admin = Clients.admin(bootstrap);
        scenario("streams-exactly-once-through-a-broker-kill-and-a-restore", this::exactlyOnce);
    }

    public static void main(String[] args) {
        System.out.println("kafka-streams " + AppInfoParser.getVersion());
        StreamsSession s = new StreamsSession(args[0]);
        int status = s.runAll(scenarioArgs(args));
        s.admin.close(Duration.ofSeconds(10));
        System.exit(status);
    }

    // ---------------------------------------------------------------- the application

    static String customer(long order) {
        return "c" + (order * 7 % CUSTOMERS);
    }

    static String region(long order) {
        return REGIONS[(int) (order % REGIONS.length)];
    }

    static long amount(long order) {
        return 1 + order % 97;
    }

    static long eventTime(long order) {
        return EVENT_TIME_BASE_MS + order * 1_000;
    }

    static String windowKey(String region, long windowStartMs) {
        return region + "@" + windowStartMs;
    }

    /** orders (key order id, value "customer,region,amount") → counts per customer and
     *  per-minute sums per region. */
    static Topology topology(String orders, String counts, String sums) {
        StreamsBuilder builder = new StreamsBuilder();
        KStream<String, String> in = builder.stream(orders, Consumed.with(Serdes.String(), Serdes.String()));
        in.selectKey((k, v) -> v.split(",")[0])
            .groupByKey(Grouped.with("by-customer", Serdes.String(), Serdes.String()))
            .count(Materialized.as("orders-per-customer"))
            .toStream()
            .mapValues(count -> Long.toString(count))
            .to(counts, Produced.with(Serdes.String(), Serdes.String()));
        in.groupBy((k, v) -> v.split(",")[1], Grouped.with("by-region", Serdes.String(), Serdes.String()))
            .windowedBy(TimeWindows.ofSizeAndGrace(WINDOW, Duration.ofDays(1)))
            .aggregate(() -> 0L, (k, v, sum) -> sum + Long.parseLong(v.split(",")[2]),
                Materialized.<String, Long, org.apache.kafka.streams.state.WindowStore<org.apache.kafka.common.utils.Bytes, byte[]>>as("sales-per-region")
                    .withKeySerde(Serdes.String()).withValueSerde(Serdes.Long()))
            .toStream((w, sum) -> windowKey(w.key(), w.window().start()))
            .mapValues(sum -> Long.toString(sum))
            .to(sums, Produced.with(Serdes.String(), Serdes.String()));
        return builder.build();
    }

    /** Records restored from changelogs by one instance. */
    static final class RestoreCounter implements StateRestoreListener {
        final AtomicLong restored = new AtomicLong();

        @Override
        public void onRestoreStart(TopicPartition tp, String store, long start, long end) {}

        @Override
        public void onBatchRestored(TopicPartition tp, String store, long batchEnd, long count) {
            restored.addAndGet(count);
        }

        @Override
        public void onRestoreEnd(TopicPartition tp, String store, long total) {}
    }

    /** One running instance of the application. */
    final class Instance implements AutoCloseable {
        final String name;
        final KafkaStreams streams;
        final RestoreCounter restores = new RestoreCounter();
        final AtomicReference<Throwable> failure = new AtomicReference<>();

        Instance(String name, String appId, Path stateDir, Topology topology) {
            this.name = name;
            Properties p = Clients.props(bootstrap,
                StreamsConfig.APPLICATION_ID_CONFIG, appId,
                StreamsConfig.STATE_DIR_CONFIG, stateDir.toString(),
                StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2,
                StreamsConfig.NUM_STREAM_THREADS_CONFIG, 2,
                StreamsConfig.REPLICATION_FACTOR_CONFIG, 3,
                StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0,
                // Streams' members never send LeaveGroup: a closed instance's tasks move
                // after its session times out, so keep that short (as tests of Streams do).
                StreamsConfig.consumerPrefix("session.timeout.ms"), 10_000,
                StreamsConfig.consumerPrefix("heartbeat.interval.ms"), 1_000);
            streams = new KafkaStreams(topology, p);
            streams.setGlobalStateRestoreListener(restores);
            streams.setStateListener((now, before) ->
                System.out.printf("instance %s: %s -> %s (%d ms into the session)%n",
                    name, before, now, (System.nanoTime() - STARTED_NS) / 1_000_000));
            streams.setUncaughtExceptionHandler(e -> {
                failure.compareAndSet(null, e);
                // A thread died on an error Streams could not retry: replace it, as an
                // application that keeps running would, and report the first one.
                return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler
                    .StreamThreadExceptionResponse.REPLACE_THREAD;
            });
            streams.start();
        }

        /** Until every thread of the instance runs its assigned tasks (restored first). */
        void awaitRunning() throws InterruptedException {
            long deadline = System.currentTimeMillis() + CONVERGE_TIMEOUT_MS;
            while (streams.state() != KafkaStreams.State.RUNNING) {
                expect(System.currentTimeMillis() < deadline, "instance " + name + " not RUNNING after "
                    + CONVERGE_TIMEOUT_MS + " ms (state " + streams.state() + ")");
                Thread.sleep(100);
            }
        }


        @Override
        public void close() {
            streams.close(Duration.ofSeconds(60));
        }
    }

    // ---------------------------------------------------------------- the scenario

    private void exactlyOnce() throws Exception {
        String orders = unique("orders");
        String counts = unique("customer-counts");
        String sums = unique("region-sums");
        String appId = unique("shop");
        List<NewTopic> topics = new ArrayList<>();
        for (String t : List.of(orders, counts, sums)) topics.add(new NewTopic(t, PARTITIONS, (short) 3));
        await(admin.createTopics(topics).all(), "CreateTopics " + orders + ", " + counts + ", " + sums);
        Topology topology = topology(orders, counts, sums);
        Path root = Files.createTempDirectory("ironlog-streams-");

        try (KafkaProducer<String, String> producer = Clients.producer(bootstrap)) {
            long next = produce(producer, orders, 0, 2_000);
            Instance a = new Instance("a", appId, root.resolve("a"), topology);
            Instance b = new Instance("b", appId, root.resolve("b"), topology);
            try {
                a.awaitRunning();
                b.awaitRunning();
                // Orders keep arriving while a broker dies under the application.
                final long from = next;
                AtomicReference<Exception> producing = new AtomicReference<>();
                Thread feeder = new Thread(() -> {
                    try {
                        long n = from;
                        while (n < from + 3_000) {
                            n = produce(producer, orders, n, 50);
                            Thread.sleep(20);
                        }
                    } catch (Exception e) {
                        producing.set(e);
                    }
                });
                feeder.start();
                waitFor("the first counts in " + counts, () -> committedCount(counts) > 0 ? true : null);
                int coordinator = admin.describeConsumerGroups(List.of(appId)).all().get()
                    .get(appId).coordinator().id();
                System.out.println("@@ kill-broker " + coordinator);
                System.out.flush();
                String answer = stdin.readLine();
                expect(answer != null && answer.startsWith("restarted"),
                    "the test did not restart broker " + coordinator + " (answered " + answer + ")");
                feeder.join(CONVERGE_TIMEOUT_MS);
                expect(!feeder.isAlive(), "the orders sent during the broker kill did not finish");
                if (producing.get() != null) throw producing.get();
                next = from + 3_000;

                // One instance leaves and comes back with nothing on disk: its tasks' state
                // is rebuilt from the changelogs.
                b.close();
                Instance fresh = new Instance("b-wiped", appId, root.resolve("b-wiped"), topology);
                b = fresh;
                b.awaitRunning();
                next = produce(producer, orders, next, 1_000);
                long total = next;
                Map<String, Long> wantCounts = new TreeMap<>();
                Map<String, Long> wantSums = new TreeMap<>();
                for (long n = 0; n < total; n++) {
                    wantCounts.merge(customer(n), 1L, Long::sum);
                    long windowStart = eventTime(n) - eventTime(n) % WINDOW.toMillis();
                    wantSums.merge(windowKey(region(n), windowStart), amount(n), Long::sum);
                }
                converge("orders per customer", counts, wantCounts);
                converge("sales per region and minute", sums, wantSums);
                long restored = a.restores.restored.get() + b.restores.restored.get();
                expect(restored > 0, "no instance restored any state from the changelogs after "
                    + "one left with its state and came back wiped");
                for (Instance i : List.of(a, b)) {
                    expect(i.failure.get() == null, "instance " + i.name + " lost a stream thread: "
                        + (i.failure.get() == null ? "" : describe(i.failure.get())));
                }
                System.out.println("orders " + total + ", customers " + wantCounts.size()
                    + ", windows " + wantSums.size() + ", records restored " + restored);
            } finally {
                a.close();
                b.close();
            }
        }
    }

    /** Sends orders {@code from} .. {@code from + count - 1}, each acknowledged; returns the next. */
    private static long produce(KafkaProducer<String, String> producer, String topic, long from, int count)
            throws InterruptedException {
        List<Future<RecordMetadata>> sent = new ArrayList<>();
        for (long n = from; n < from + count; n++) {
            String value = customer(n) + "," + region(n) + "," + amount(n);
            sent.add(producer.send(new ProducerRecord<>(topic, null, eventTime(n), "o" + n, value)));
        }
        for (Future<RecordMetadata> f : sent) await(f, "order sent to " + topic);
        return from + count;
    }

    /** Committed records of {@code topic} (read_committed), all partitions. */
    private List<ConsumerRecord<String, String>> committed(String topic) throws InterruptedException {
        return Clients.readAll(bootstrap, Clients.partitions(topic, PARTITIONS),
            "isolation.level", "read_committed");
    }

    private int committedCount(String topic) {
        try {
            return committed(topic).size();
        } catch (InterruptedException e) {
            throw new RuntimeException(e);
        }
    }

    /** Waits until the latest committed value per key of {@code topic} equals {@code want}. */
    private void converge(String what, String topic, Map<String, Long> want) throws InterruptedException {
        long deadline = System.currentTimeMillis() + CONVERGE_TIMEOUT_MS;
        Map<String, Long> got = Map.of();
        while (System.currentTimeMillis() < deadline) {
            got = latest(committed(topic));
            if (got.equals(want)) return;
            if (overshoots(got, want)) break;
            Thread.sleep(500);
        }
        List<String> wrong = new ArrayList<>();
        for (var e : want.entrySet()) {
            Long g = got.get(e.getKey());
            if (!e.getValue().equals(g)) wrong.add(e.getKey() + " want " + e.getValue() + " got " + g);
        }
        for (String k : got.keySet()) if (!want.containsKey(k)) wrong.add(k + " unexpected");
        throw new Mismatch(what + " in " + topic + " is not what the orders add up to ("
            + wrong.size() + " of " + want.size() + " keys wrong): "
            + wrong.subList(0, Math.min(10, wrong.size())));
    }

    /** A committed value above the final one can never come right: a record counted twice. */
    private static boolean overshoots(Map<String, Long> got, Map<String, Long> want) {
        return got.entrySet().stream().anyMatch(e -> want.containsKey(e.getKey())
            && e.getValue() > want.get(e.getKey()));
    }

    private static Map<String, Long> latest(Collection<ConsumerRecord<String, String>> records) {
        Map<String, Long> out = new HashMap<>();
        for (ConsumerRecord<String, String> r : records) out.put(r.key(), Long.parseLong(r.value()));
        return new TreeMap<>(out);
    }
}
