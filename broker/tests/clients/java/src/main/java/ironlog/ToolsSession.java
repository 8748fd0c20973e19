package ironlog;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.utils.AppInfoParser;

/**
 * Kafka 4.1's command-line tools, run by their main classes (see {@link Tool}), each
 * printing what it prints for Apache Kafka 4.1 in the same state: the expected outputs
 * below were taken from Kafka (kafka-reference.sh) and differ from it only where ids,
 * hosts, ports and the run's unique names are masked ({@link #normalize}).
 *
 * <p>Usage: {@code java [-Dironlog.print=1] ironlog.ToolsSession HOST:PORT [SCENARIO...]};
 * with {@code ironlog.print} every tool's masked output is printed as well.
 */
public final class ToolsSession extends Session {
    private static final boolean PRINT = System.getProperty("ironlog.print") != null;
    private static final String TOPICS = "org.apache.kafka.tools.TopicCommand";
    private static final String CONFIGS = "kafka.admin.ConfigCommand";
    private static final String GROUPS = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand";
    private static final String PRODUCER = "org.apache.kafka.tools.ConsoleProducer";
    private static final String CONSUMER = "org.apache.kafka.tools.consumer.ConsoleConsumer";
    private static final String GET_OFFSETS = "org.apache.kafka.tools.GetOffsetShell";
    private static final String DELETE_RECORDS = "org.apache.kafka.tools.DeleteRecordsCommand";
    private static final String LOG_DIRS = "org.apache.kafka.tools.LogDirsCommand";
    private static final String TRANSACTIONS = "org.apache.kafka.tools.TransactionsCommand";
    private static final String FEATURES = "org.apache.kafka.tools.FeatureCommand";
    private static final String PRODUCER_PERF = "org.apache.kafka.tools.ProducerPerformance";
    private static final String CONSUMER_PERF = "org.apache.kafka.tools.ConsumerPerformance";

    /** This run's unique part of every name; masked as {@code S}. */
    private final String run = String.format("%06x", System.nanoTime() & 0xffffffL);
    /** Run-specific values of the running scenario (member ids, producer ids) by the
     *  placeholders that stand for them in expected outputs. */
    private final Map<String, String> masks = new LinkedHashMap<>();
    /** The partition of the console topic the console producer wrote (its other one is empty). */
    private int fullPartition;

    ToolsSession(String bootstrap) {
        super(bootstrap);
        scenario("kafka-topics", this::topics);
        scenario("kafka-configs", this::configs);
        scenario("console-and-consumer-groups", this::consoleAndGroups);
        scenario("kafka-get-offsets-and-delete-records", this::offsets);
        scenario("kafka-log-dirs", this::logDirs);
        scenario("kafka-transactions", this::transactions);
        scenario("kafka-features", this::features);
        scenario("perf-tests", this::perf);
    }

    public static void main(String[] args) {
        System.out.println("kafka-tools " + AppInfoParser.getVersion());
        System.exit(new ToolsSession(args[0]).runAll(scenarioArgs(args)));
    }

    // ---------------------------------------------------------------- scenarios

    void topics() throws Exception {
        String t = "tools-topics-" + run;
        expectOut(tool(TOPICS, "--create", "--topic", t, "--partitions", "3", "--replication-factor", "1",
            "--config", "cleanup.policy=compact"), 0, "Created topic tools-topics-S.\n");
        expectOut(tool(TOPICS, "--create", "--topic", t, "--partitions", "3"), 1,
            "Error while executing topic command : Topic 'tools-topics-S' already exists.\n");
        expectOut(tool(TOPICS, "--create", "--topic", "tools-topics2-" + run, "--partitions", "1"), 0,
            "Created topic tools-topics2-S.\n");
        expectOut(tool(TOPICS, "--list", "--topic", "tools-topics.*" + run), 0, "tools-topics-S\ntools-topics2-S\n");
        expectOut(tool(TOPICS, "--describe", "--topic", t), 0, """
            Topic: tools-topics-S\tTopicId: <ID>\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: min.insync.replicas=1,cleanup.policy=compact
            \tTopic: tools-topics-S\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\tElr: \tLastKnownElr:
            \tTopic: tools-topics-S\tPartition: 1\tLeader: 1\tReplicas: 1\tIsr: 1\tElr: \tLastKnownElr:
            \tTopic: tools-topics-S\tPartition: 2\tLeader: 1\tReplicas: 1\tIsr: 1\tElr: \tLastKnownElr:
            """);
        expectOut(tool(TOPICS, "--alter", "--topic", t, "--partitions", "4"), 0, "");
        expectOut(tool(TOPICS, "--alter", "--topic", t, "--partitions", "2"), 1, "Error while executing topic command : "
            + "The topic tools-topics-S currently has 4 partition(s); 2 would not be an increase.\n");
        expectOut(tool(TOPICS, "--describe", "--topic", t), 0, """
            Topic: tools-topics-S\tTopicId: <ID>\tPartitionCount: 4\tReplicationFactor: 1\tConfigs: min.insync.replicas=1,cleanup.policy=compact
            \tTopic: tools-topics-S\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\tElr: \tLastKnownElr:
            \tTopic: tools-topics-S\tPartition: 1\tLeader: 1\tReplicas: 1\tIsr: 1\tElr: \tLastKnownElr:
            \tTopic: tools-topics-S\tPartition: 2\tLeader: 1\tReplicas: 1\tIsr: 1\tElr: \tLastKnownElr:
            \tTopic: tools-topics-S\tPartition: 3\tLeader: 1\tReplicas: 1\tIsr: 1\tElr: \tLastKnownElr:
            """);
        expectOut(tool(TOPICS, "--describe", "--under-replicated-partitions", "--topic", t), 0, "");
        expectOut(tool(TOPICS, "--describe", "--topic", "tools-no-such-" + run), 1,
            "Error while executing topic command : Topic 'tools-no-such-S' does not exist as expected\n");
        expectOut(tool(TOPICS, "--delete", "--topic", "tools-topics2-" + run), 0, "");
    }

    void configs() throws Exception {
        String t = "tools-configs-" + run;
        String topicArgs = "--entity-type topics --entity-name " + t + " ";
        String brokerArgs = "--entity-type brokers --entity-name 1 ";
        String defaultArgs = "--entity-type brokers --entity-default ";
        expectOut(tool(TOPICS, "--create", "--topic", t, "--partitions", "1", "--config", "cleanup.policy=compact"), 0,
            "Created topic tools-configs-S.\n");
        expectOut(configs(topicArgs + "--describe"), 0, """
            Dynamic configs for topic tools-configs-S are:
              cleanup.policy=compact sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:cleanup.policy=compact, DEFAULT_CONFIG:log.cleanup.policy=delete}
            """);
        expectOut(configs(topicArgs + "--alter --add-config retention.ms=86400000,max.message.bytes=2000000"), 0,
            "Completed updating config for topic tools-configs-S.\n");
        expectOut(configs(topicArgs + "--describe"), 0, """
            Dynamic configs for topic tools-configs-S are:
              cleanup.policy=compact sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:cleanup.policy=compact, DEFAULT_CONFIG:log.cleanup.policy=delete}
              max.message.bytes=2000000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:max.message.bytes=2000000, DEFAULT_CONFIG:message.max.bytes=1048588}
              retention.ms=86400000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=86400000}
            """);
        expectOut(configs(topicArgs + "--alter --delete-config max.message.bytes"), 0,
            "Completed updating config for topic tools-configs-S.\n");
        Tool.Result bad = configs(topicArgs + "--alter --add-config no.such.config=1");
        expectOut(bad, 1, "");
        expectErr(bad, "InvalidConfigurationException: Unknown topic config name: no.such.config");
        expectOut(configs(topicArgs + "--describe --all"), 0, """
            All configs for topic tools-configs-S are:
              cleanup.policy=compact sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:cleanup.policy=compact, DEFAULT_CONFIG:log.cleanup.policy=delete}
              compression.gzip.level=-1 sensitive=false synonyms={DEFAULT_CONFIG:compression.gzip.level=-1}
              compression.lz4.level=9 sensitive=false synonyms={DEFAULT_CONFIG:compression.lz4.level=9}
              compression.type=producer sensitive=false synonyms={DEFAULT_CONFIG:compression.type=producer}
              compression.zstd.level=3 sensitive=false synonyms={DEFAULT_CONFIG:compression.zstd.level=3}
              delete.retention.ms=86400000 sensitive=false synonyms={DEFAULT_CONFIG:log.cleaner.delete.retention.ms=86400000}
              file.delete.delay.ms=60000 sensitive=false synonyms={DEFAULT_CONFIG:log.segment.delete.delay.ms=60000}
              flush.messages=9223372036854775807 sensitive=false synonyms={DEFAULT_CONFIG:log.flush.interval.messages=9223372036854775807}
              flush.ms=9223372036854775807 sensitive=false synonyms={}
              follower.replication.throttled.replicas= sensitive=false synonyms={}
              index.interval.bytes=4096 sensitive=false synonyms={DEFAULT_CONFIG:log.index.interval.bytes=4096}
              leader.replication.throttled.replicas= sensitive=false synonyms={}
              local.retention.bytes=-2 sensitive=false synonyms={DEFAULT_CONFIG:log.local.retention.bytes=-2}
              local.retention.ms=-2 sensitive=false synonyms={DEFAULT_CONFIG:log.local.retention.ms=-2}
              max.compaction.lag.ms=9223372036854775807 sensitive=false synonyms={DEFAULT_CONFIG:log.cleaner.max.compaction.lag.ms=9223372036854775807}
              max.message.bytes=1048588 sensitive=false synonyms={DEFAULT_CONFIG:message.max.bytes=1048588}
              message.timestamp.after.max.ms=3600000 sensitive=false synonyms={DEFAULT_CONFIG:log.message.timestamp.after.max.ms=3600000}
              message.timestamp.before.max.ms=9223372036854775807 sensitive=false synonyms={DEFAULT_CONFIG:log.message.timestamp.before.max.ms=9223372036854775807}
              message.timestamp.type=CreateTime sensitive=false synonyms={DEFAULT_CONFIG:log.message.timestamp.type=CreateTime}
              min.cleanable.dirty.ratio=0.5 sensitive=false synonyms={DEFAULT_CONFIG:log.cleaner.min.cleanable.ratio=0.5}
              min.compaction.lag.ms=0 sensitive=false synonyms={DEFAULT_CONFIG:log.cleaner.min.compaction.lag.ms=0}
              min.insync.replicas=1 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:min.insync.replicas=1, DEFAULT_CONFIG:min.insync.replicas=1}
              preallocate=false sensitive=false synonyms={DEFAULT_CONFIG:log.preallocate=false}
              remote.log.copy.disable=false sensitive=false synonyms={}
              remote.log.delete.on.disable=false sensitive=false synonyms={}
              remote.storage.enable=false sensitive=false synonyms={}
              retention.bytes=-1 sensitive=false synonyms={DEFAULT_CONFIG:log.retention.bytes=-1}
              retention.ms=86400000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=86400000}
              segment.bytes=1073741824 sensitive=false synonyms={DEFAULT_CONFIG:log.segment.bytes=1073741824}
              segment.index.bytes=10485760 sensitive=false synonyms={DEFAULT_CONFIG:log.index.size.max.bytes=10485760}
              segment.jitter.ms=0 sensitive=false synonyms={}
              segment.ms=604800000 sensitive=false synonyms={}
              unclean.leader.election.enable=false sensitive=false synonyms={DEFAULT_CONFIG:unclean.leader.election.enable=false}
            """);
        expectOut(configs(brokerArgs + "--describe"), 0, "Dynamic configs for broker 1 are:\n");
        expectOut(configs(brokerArgs + "--alter --add-config log.cleaner.threads=2"), 0, "Completed updating config for broker 1.\n");
        expectOut(configs(defaultArgs + "--alter --add-config log.retention.ms=3600000"), 0,
            "Completed updating default config for brokers in the cluster.\n");
        // The broker applies changes from the metadata log: it may describe them a moment later.
        waitForOutput("broker 1 describing the new cluster default", () -> configs(brokerArgs + "--describe --all"),
            r -> r.out().contains("log.retention.ms=3600000"));
        expectOut(configs(brokerArgs + "--describe"), 0, """
            Dynamic configs for broker 1 are:
              log.cleaner.threads=2 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:log.cleaner.threads=2, DEFAULT_CONFIG:log.cleaner.threads=1}
            """);
        expectOut(configs(defaultArgs + "--describe"), 0, """
            Default configs for brokers in the cluster are:
              log.retention.ms=3600000 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=3600000}
              min.insync.replicas=1 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:min.insync.replicas=1}
            """);
        expectOut(lines(configs(brokerArgs + "--describe --all"),
            "  log.retention.ms=", "  log.retention.hours=", "  log.cleaner.threads=", "  node.id=",
            "  log.segment.bytes=", "  auto.create.topics.enable=", "All configs for broker"), 0, """
            All configs for broker 1 are:
              auto.create.topics.enable=true sensitive=false synonyms={DEFAULT_CONFIG:auto.create.topics.enable=true}
              log.cleaner.threads=2 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:log.cleaner.threads=2, DEFAULT_CONFIG:log.cleaner.threads=1}
              log.retention.hours=168 sensitive=false synonyms={DEFAULT_CONFIG:log.retention.hours=168}
              log.retention.ms=3600000 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=3600000, DEFAULT_CONFIG:log.retention.hours=168}
              log.segment.bytes=1073741824 sensitive=false synonyms={DEFAULT_CONFIG:log.segment.bytes=1073741824}
              node.id=1 sensitive=false synonyms={STATIC_BROKER_CONFIG:node.id=1}
            """);
        expectOut(configs(brokerArgs + "--alter --delete-config log.cleaner.threads"), 0, "Completed updating config for broker 1.\n");
        expectOut(configs(defaultArgs + "--alter --delete-config log.retention.ms"), 0,
            "Completed updating default config for brokers in the cluster.\n");
        bad = configs(brokerArgs + "--alter --add-config node.id=7");
        expectOut(bad, 1, "");
        expectErr(bad, "Cannot update these configs dynamically: Set(node.id)");
    }

    void consoleAndGroups() throws Exception {
        masks.clear();
        String t = "tools-console-" + run;
        String g = "tools-group-" + run;
        expectOut(tool(TOPICS, "--create", "--topic", t, "--partitions", "2"), 0, "Created topic tools-console-S.\n");
        StringBuilder input = new StringBuilder();
        for (int i = 0; i < 10; i++) input.append("key").append(i % 2).append(':').append("value-").append(i).append('\n');
        expectOut(Tool.run(PRODUCER, input.toString(), "--bootstrap-server", bootstrap, "--topic", t,
            "--property", "parse.key=true", "--property", "key.separator=:"), 0, "");
        // The console producer's default partitioner sends a batch to one partition: which one
        // is the producer's choice, so the partition is masked.
        Tool.Result consumed = sorted(tool(CONSUMER, "--topic", t, "--from-beginning", "--max-messages", "10", "--group", g,
            "--property", "print.key=true", "--property", "print.offset=true", "--timeout-ms", "20000"));
        expectOut(consumed, 0, """
            Offset:0\tkey0\tvalue-0
            Offset:1\tkey1\tvalue-1
            Offset:2\tkey0\tvalue-2
            Offset:3\tkey1\tvalue-3
            Offset:4\tkey0\tvalue-4
            Offset:5\tkey1\tvalue-5
            Offset:6\tkey0\tvalue-6
            Offset:7\tkey1\tvalue-7
            Offset:8\tkey0\tvalue-8
            Offset:9\tkey1\tvalue-9
            """);
        expectErr(consumed, "Processed a total of 10 messages");
        int full = endOffset(t, 0) == 10 ? 0 : 1;
        fullPartition = full;
        expectOut(lines(tool(GROUPS, "--list"), g), 0, "tools-group-S\n");
        Tool.Result r = groupTable(tool(GROUPS, "--describe", "--group", g));
        expectOut(r, 0, """

            GROUP              TOPIC                PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID
            tools-group-S tools-console-S <EMPTY>          0               0               0               -               -               -
            tools-group-S tools-console-S <FULL>          10              10              0               -               -               -
            """);
        expectErr(r, "Consumer group 'tools-group-S' has no active members.");
        expectOut(tool(GROUPS, "--describe", "--group", g, "--state"), 0, """

            GROUP              COORDINATOR (ID)          ASSIGNMENT-STRATEGY  STATE                #MEMBERS
            tools-group-S <BOOTSTRAP>  (1)      -                    Empty                0
            """);
        expectOut(tool(GROUPS, "--describe", "--group", g, "--members"), 0, """

            GROUP           CONSUMER-ID     HOST            CLIENT-ID       #PARTITIONS
            """);
        expectOut(groupTable(tool(GROUPS, "--reset-offsets", "--group", g, "--topic", t, "--to-earliest", "--dry-run")), 0, """

            GROUP                          TOPIC                          PARTITION  NEW-OFFSET
            tools-group-S             tools-console-S           <EMPTY>          0
            tools-group-S             tools-console-S           <FULL>          0
            """);
        expectOut(tool(GROUPS, "--reset-offsets", "--group", g, "--topic", t + ":" + full, "--to-offset", "2", "--execute"), 0, """

            GROUP                          TOPIC                          PARTITION  NEW-OFFSET
            tools-group-S             tools-console-S           <FULL>          2
            """.replace("<FULL>", String.valueOf(full)));
        expectOut(groupTable(tool(GROUPS, "--reset-offsets", "--group", g, "--topic", t, "--shift-by", "-1", "--execute")), 0, """

            GROUP                          TOPIC                          PARTITION  NEW-OFFSET
            tools-group-S             tools-console-S           <EMPTY>          0
            tools-group-S             tools-console-S           <FULL>          1
            """);
        expectOut(groupTable(tool(GROUPS, "--describe", "--group", g)), 0, """

            GROUP              TOPIC                PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID
            tools-group-S tools-console-S <EMPTY>          0               0               0               -               -               -
            tools-group-S tools-console-S <FULL>          1               10              9               -               -               -
            """);
        // An active member of a classic and of a consumer-protocol group.
        for (String protocol : List.of("classic", "consumer")) {
            String active = "tools-active-" + protocol + "-" + run;
            AtomicBoolean stop = new AtomicBoolean();
            String clientId = "tools-client-" + protocol;
            Thread poller;
            try (KafkaConsumer<String, String> c = Clients.consumer(bootstrap, "group.id", active,
                    "group.protocol", protocol, "client.id", clientId)) {
                c.subscribe(List.of(t));
                poller = new Thread(() -> {
                    while (!stop.get()) c.poll(java.time.Duration.ofMillis(100));
                });
                poller.start();
                try {
                    r = waitForOutput("group " + active + " stable with its member", () ->
                        tool(GROUPS, "--describe", "--group", active, "--members"), x -> x.out().contains(clientId)
                            && x.out().contains(" 2 "));
                    nameMemberId(r.out(), protocol.equals("classic") ? "<MEMBER0>" : "<MEMBER1>");
                    if (protocol.equals("classic")) {
                        expectOut(groupTable(tool(GROUPS, "--describe", "--group", active)), 0, """

                            GROUP                       TOPIC                PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID                                               HOST            CLIENT-ID
                            tools-active-classic-S tools-console-S <EMPTY>          -               0               -               <MEMBER0> /<HOST>      tools-client-classic
                            tools-active-classic-S tools-console-S <FULL>          -               10              -               <MEMBER0> /<HOST>      tools-client-classic
                            """);
                        expectOut(tool(GROUPS, "--describe", "--group", active, "--members", "--verbose"), 0, """

                            GROUP                       CONSUMER-ID                                               HOST            CLIENT-ID            #PARTITIONS     CURRENT-EPOCH   CURRENT-ASSIGNMENT       TARGET-EPOCH    TARGET-ASSIGNMENT
                            tools-active-classic-S <MEMBER0> /<HOST>      tools-client-classic 2               -               tools-console-S:0,1 -               -
                            """);
                        expectOut(tool(GROUPS, "--describe", "--group", active, "--state"), 0, """

                            GROUP                       COORDINATOR (ID)          ASSIGNMENT-STRATEGY  STATE                #MEMBERS
                            tools-active-classic-S <BOOTSTRAP>  (1)      range                Stable               1
                            """);
                    } else {
                        expectOut(groupTable(tool(GROUPS, "--describe", "--group", active)), 0, """

                            GROUP                        TOPIC                PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID            HOST            CLIENT-ID
                            tools-active-consumer-S tools-console-S <EMPTY>          -               0               -               <MEMBER1> /<HOST>      tools-client-consumer
                            tools-active-consumer-S tools-console-S <FULL>          -               10              -               <MEMBER1> /<HOST>      tools-client-consumer
                            """);
                        expectOut(tool(GROUPS, "--describe", "--group", active, "--members", "--verbose"), 0, """

                            GROUP                        CONSUMER-ID            HOST            CLIENT-ID             #PARTITIONS     CURRENT-EPOCH   CURRENT-ASSIGNMENT       TARGET-EPOCH    TARGET-ASSIGNMENT
                            tools-active-consumer-S <MEMBER1> /<HOST>      tools-client-consumer 2               «*»               tools-console-S:0,1 «*»               tools-console-S:0,1
                            """);
                        expectOut(tool(GROUPS, "--describe", "--group", active, "--state", "--verbose"), 0, """

                            GROUP                        COORDINATOR (ID)          ASSIGNMENT-STRATEGY  STATE                GROUP-EPOCH     TARGET-ASSIGNMENT-EPOCH   #MEMBERS
                            tools-active-consumer-S <BOOTSTRAP>  (1)      uniform              Stable               «*»1
                            """);
                    }
                    expectOut(tool(GROUPS, "--delete", "--group", active), 0, """

                        Error: Deletion of some consumer groups failed:
                        * Group 'ACTIVE' could not be deleted due to: org.apache.kafka.common.errors.GroupNotEmptyException: The group is not empty.
                        """.replace("ACTIVE", "tools-active-" + protocol + "-S"));
                } finally {
                    stop.set(true);
                    poller.join();
                }
            }
        }
        expectOut(tool(GROUPS, "--delete-offsets", "--group", g, "--topic", t), 0, """
            Request succeeded for deleting offsets from group tools-group-S.

            TOPIC                PARTITION  STATUS
            tools-console-S 0          Successful
            tools-console-S 1          Successful
            """);
        expectOut(tool(GROUPS, "--delete", "--group", g), 0, "Deletion of requested consumer groups ('tools-group-S') was successful.\n");
        expectOut(tool(GROUPS, "--describe", "--group", g), 0, "\nError: Executing consumer group command failed due to "
            + "org.apache.kafka.common.errors.GroupIdNotFoundException: Group tools-group-S not found.\n");
    }

    void offsets() throws Exception {
        String t = "tools-offsets-" + run;
        expectOut(tool(TOPICS, "--create", "--topic", t, "--partitions", "2"), 0, "Created topic tools-offsets-S.\n");
        try (KafkaProducer<String, String> p = Clients.producer(bootstrap)) {
            for (int i = 0; i < 10; i++) {
                await(p.send(new ProducerRecord<>(t, i % 2, 1_000_000L + i * 1000L, "k", "v" + i)), "send");
            }
        }
        expectOut(tool(GET_OFFSETS, "--topic", t), 0, "tools-offsets-S:0:5\ntools-offsets-S:1:5\n");
        expectOut(tool(GET_OFFSETS, "--topic", t, "--time", "-2"), 0, "tools-offsets-S:0:0\ntools-offsets-S:1:0\n");
        expectOut(tool(GET_OFFSETS, "--topic", t, "--time", "1004500"), 0, "tools-offsets-S:0:3\ntools-offsets-S:1:2\n");
        expectOut(tool(GET_OFFSETS, "--topic", t, "--time", "-3"), 0, "tools-offsets-S:0:4\ntools-offsets-S:1:4\n");
        expectOut(tool(GET_OFFSETS, "--topic-partitions", t + ":1"), 0, "tools-offsets-S:1:5\n");
        Path json = Files.createTempFile("delete-records", ".json");
        Files.writeString(json, "{\"version\":1,\"partitions\":[{\"topic\":\"" + t + "\",\"partition\":0,\"offset\":3},"
            + "{\"topic\":\"" + t + "\",\"partition\":1,\"offset\":9}]}");
        Tool.Result r = tool(DELETE_RECORDS, "--offset-json-file", json.toString());
        Files.delete(json);
        expectOut(sorted(r), 0, """
            Executing records delete operation
            Records delete operation completed:
            partition: tools-offsets-S-0\tlow_watermark: 3
            partition: tools-offsets-S-1\terror: org.apache.kafka.common.errors.OffsetOutOfRangeException: The requested offset is not within the range of offsets maintained by the server.
            """);
        expectOut(tool(GET_OFFSETS, "--topic", t, "--time", "-2"), 0, "tools-offsets-S:0:3\ntools-offsets-S:1:0\n");
    }

    void logDirs() throws Exception {
        String t = "tools-logdirs-" + run;
        expectOut(tool(TOPICS, "--create", "--topic", t, "--partitions", "2"), 0, "Created topic tools-logdirs-S.\n");
        try (KafkaProducer<String, String> p = Clients.producer(bootstrap)) {
            await(p.send(new ProducerRecord<>(t, 0, 1_000_000L, "k", "v")), "send");
        }
        expectOut(tool(LOG_DIRS, "--describe", "--topic-list", t), 0, """
            Querying brokers for log directories information
            Received log directory information from brokers 1
            {"brokers":[{"broker":1,"logDirs":[{"partitions":[{"partition":"tools-logdirs-S-0","size":70,"offsetLag":0,"isFuture":false},{"partition":"tools-logdirs-S-1","size":0,"offsetLag":0,"isFuture":false}],"error":null,"logDir":"<DIR>"}]}],"version":1}
            """);
    }

    void transactions() throws Exception {
        masks.clear();
        String t = "tools-txn-" + run;
        String id = "tools-txn-id-" + run;
        expectOut(tool(TOPICS, "--create", "--topic", t, "--partitions", "1"), 0, "Created topic tools-txn-S.\n");
        try (KafkaProducer<String, String> p = Clients.producer(bootstrap, "transactional.id", id)) {
            p.initTransactions();
            p.beginTransaction();
            await(p.send(new ProducerRecord<>(t, 0, "k", "committed")), "send");
            p.commitTransaction();
            p.beginTransaction();
            await(p.send(new ProducerRecord<>(t, 0, "k", "open")), "send");
            try (Admin admin = Clients.admin(bootstrap)) {
                var d = await(admin.describeTransactions(List.of(id)).description(id), "DescribeTransactions");
                masks.put("<PID>", String.valueOf(d.producerId()));
                masks.put("<EPOCH>", String.valueOf(d.producerEpoch()));
            }
            expectOut(lines(tool(TRANSACTIONS, "list"), "TransactionalId", id), 0, """
                TransactionalId«*»\tCoordinator\tProducerId\tTransactionState
                tools-txn-id-S«*»\t1          \t<PID>«*»\tOngoing
                """);
            expectOut(tool(TRANSACTIONS, "describe", "--transactional-id", id), 0, """
                CoordinatorId\tTransactionalId    \tProducerId\tProducerEpoch\tTransactionState\tTransactionTimeoutMs\tCurrentTransactionStartTimeMs\tTransactionDurationMs\tTopicPartitions
                1            \ttools-txn-id-S\t<PID>«*»\t<EPOCH>«*»\tOngoing         \t60000               \t«*»\t«*»\ttools-txn-S-0
                """);
            expectOut(tool(TRANSACTIONS, "describe-producers", "--topic", t, "--partition", "0"), 0, """
                ProducerId\tProducerEpoch\tLatestCoordinatorEpoch\tLastSequence\tLastTimestamp\tCurrentTransactionStartOffset
                <PID>«*»\t<EPOCH>«*»\t0                     \t1           \t«*»\t2
                """);
            expectOut(tool(TRANSACTIONS, "find-hanging", "--broker-id", "1"), 0,
                "Topic\tPartition\tProducerId\tProducerEpoch\tCoordinatorEpoch\tStartOffset\tLastTimestamp\tDuration(min)\n");
            expectOut(tool(TRANSACTIONS, "abort", "--topic", t, "--partition", "0", "--start-offset", "2"), 0, "");
            expectOut(tool(TRANSACTIONS, "describe-producers", "--topic", t, "--partition", "0"), 0, """
                ProducerId\tProducerEpoch\tLatestCoordinatorEpoch\tLastSequence\tLastTimestamp\tCurrentTransactionStartOffset
                <PID>«*»\t<EPOCH>«*»\t0                     \t1           \t«*»\tNone
                """);
        }
        Tool.Result r = tool(TRANSACTIONS, "describe", "--transactional-id", "tools-no-such-" + run);
        expectOut(r, 1, "");
        expectErr(r, "Failed to describe transaction state of transactional-id `tools-no-such-S`: DescribeTransactions "
            + "request for transactionalId `tools-no-such-S` failed because the ID could not be found.");
    }

    void features() throws Exception {
        // Kafka 4.1 formatted with the feature levels Ironlog implements (kafka-reference.sh):
        // no eligible leader replicas, transaction version 0. The highest supported levels of
        // the features Ironlog lacks differ by design (Kafka 1, 1, 1, 2; Ironlog 0: it does
        // not offer levels it cannot run) and are not compared.
        expectOut(tool(FEATURES, "describe"), 0, """
            Feature: eligible.leader.replicas.version\tSupportedMinVersion: 0\tSupportedMaxVersion: «*»\tFinalizedVersionLevel: 0\tEpoch: «*»
            Feature: group.version\tSupportedMinVersion: 0\tSupportedMaxVersion: 1\tFinalizedVersionLevel: 1\tEpoch: «*»
            Feature: kraft.version\tSupportedMinVersion: 0\tSupportedMaxVersion: «*»\tFinalizedVersionLevel: 0\tEpoch: «*»
            Feature: metadata.version\tSupportedMinVersion: 3.3-IV3\tSupportedMaxVersion: 4.1-IV1\tFinalizedVersionLevel: 4.1-IV1\tEpoch: «*»
            Feature: share.version\tSupportedMinVersion: 0\tSupportedMaxVersion: «*»\tFinalizedVersionLevel: 0\tEpoch: «*»
            Feature: transaction.version\tSupportedMinVersion: 0\tSupportedMaxVersion: «*»\tFinalizedVersionLevel: 0\tEpoch: «*»
            """);
    }

    void perf() throws Exception {
        String t = "tools-perf-" + run;
        expectOut(tool(TOPICS, "--create", "--topic", t, "--partitions", "2"), 0, "Created topic tools-perf-S.\n");
        Tool.Result p = Tool.run(PRODUCER_PERF, "", "--topic", t, "--num-records", "20000", "--record-size", "100",
            "--throughput", "-1", "--producer-props", "bootstrap.servers=" + bootstrap, "acks=all");
        print(p);
        expectEq(p.status(), 0, "exit status of " + p.command());
        expect(Pattern.compile("(?m)^20000 records sent, [0-9.]+ records/sec \\([0-9.]+ MB/sec\\), [0-9.]+ ms avg latency, "
            + "[0-9.]+ ms max latency, [0-9]+ ms 50th, [0-9]+ ms 95th, [0-9]+ ms 99th, [0-9]+ ms 99.9th\\.$")
            .matcher(p.out()).find(), "ProducerPerformance summary line missing:\n" + p);
        Tool.Result c = Tool.run(CONSUMER_PERF, "", "--bootstrap-server", bootstrap, "--topic", t, "--messages", "20000",
            "--timeout", "30000");
        print(c);
        expectEq(c.status(), 0, "exit status of " + c.command());
        String[] rows = c.out().strip().split("\n");
        expectEq(rows[0], "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, "
            + "rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec", "ConsumerPerformance header");
        String[] values = rows[rows.length - 1].split(", ");
        expectEq(values.length, 10, "ConsumerPerformance columns in " + rows[rows.length - 1]);
        expectEq(values[2], "1.9073", "data.consumed.in.MB");
        expectEq(values[4], "20000", "data.consumed.in.nMsg");
    }

    // ---------------------------------------------------------------- running and comparing

    private Tool.Result configs(String args) {
        return tool(CONFIGS, args.trim().split(" "));
    }

    private long endOffset(String topic, int partition) throws InterruptedException {
        try (Admin admin = Clients.admin(bootstrap)) {
            var tp = new org.apache.kafka.common.TopicPartition(topic, partition);
            return await(admin.listOffsets(Map.of(tp, org.apache.kafka.clients.admin.OffsetSpec.latest())).partitionResult(tp),
                "ListOffsets").offset();
        }
    }

    /** A consumer-groups table of the console topic with the partition column masked:
     *  {@code <EMPTY>} for the partition the console producer left empty, {@code <FULL>} for
     *  the one it wrote, rows in that order. */
    private Tool.Result groupTable(Tool.Result r) {
        List<String> out = new ArrayList<>();
        List<String> rows = new ArrayList<>();
        int at = -1;
        for (String line : r.out().split("\n", -1)) {
            Matcher m = Pattern.compile("^(tools-\\S+\\s+tools-console-\\S+\\s+)([01])(\\s.*)$").matcher(line);
            if (m.matches()) {
                if (at < 0) at = out.size();
                boolean isFull = Integer.parseInt(m.group(2)) == fullPartition;
                rows.add(m.group(1) + (isFull ? "<FULL>" : "<EMPTY>") + m.group(3));
            } else {
                out.add(line);
            }
        }
        rows.sort(java.util.Comparator.comparing(row -> row.contains("<FULL>") ? 1 : 0));
        if (at >= 0) out.addAll(at, rows);
        return new Tool.Result(r.command(), r.status(), String.join("\n", out), r.err());
    }

    /** Runs a tool that takes {@code --bootstrap-server} with it and {@code args}. */
    private Tool.Result tool(String mainClass, String... args) {
        return Tool.against(bootstrap, mainClass, args);
    }

    /** The run's stdout lines that contain any of {@code needles}, in order. */
    private static Tool.Result lines(Tool.Result r, String... needles) {
        StringBuilder sb = new StringBuilder();
        for (String line : r.out().split("\n", -1)) {
            if (Arrays.stream(needles).anyMatch(line::contains)) sb.append(line).append('\n');
        }
        return new Tool.Result(r.command() + " | grep " + String.join("|", needles), r.status(), sb.toString(), r.err());
    }

    /** The run's stdout lines sorted (for tools that print partitions in arrival order). */
    private static Tool.Result sorted(Tool.Result r) {
        List<String> l = new ArrayList<>(Arrays.asList(r.out().split("\n")));
        l.removeIf(String::isEmpty);
        l.sort(null);
        return new Tool.Result(r.command() + " | sort", r.status(), l.isEmpty() ? "" : String.join("\n", l) + "\n", r.err());
    }

    private Tool.Result waitForOutput(String what, java.util.function.Supplier<Tool.Result> run,
            java.util.function.Predicate<Tool.Result> done) throws InterruptedException {
        Tool.Result[] last = {null};
        try {
            return waitFor(what, () -> {
                Tool.Result r = run.get();
                last[0] = r;
                return done.test(r) ? r : null;
            });
        } catch (Mismatch e) {
            throw new Mismatch(e.getMessage() + "; last run:\n" + last[0]);
        }
    }

    /** Names the member id a --members table lists (its CONSUMER-ID column) {@code placeholder}. */
    private void nameMemberId(String membersTable, String placeholder) {
        for (String line : membersTable.split("\n")) {
            String[] cols = line.trim().split("\\s+");
            if (cols.length > 2 && cols[0].startsWith("tools-active-")) masks.put(placeholder, cols[1]);
        }
    }

    /** What a tool printed with this run's variable parts masked: the run id, the broker's
     *  address, topic and member ids, producer ids, log dir paths. */
    String normalize(String text) {
        String s = text.replace(bootstrap, "<BOOTSTRAP>");
        s = s.replace(run, "S");
        s = s.replaceAll("TopicId: [A-Za-z0-9_-]{22}", "TopicId: <ID>");
        s = s.replaceAll("/127\\.0\\.0\\.1", "/<HOST>");
        s = s.replaceAll("\"logDir\":\"[^\"]*\"", "\"logDir\":\"<DIR>\"");
        s = sortPartitionObjects(s);
        return s.replaceAll("[ \t]+\n", "\n");
    }

    /** kafka-log-dirs' partition objects in name order (the tool prints them in hash order). */
    private static String sortPartitionObjects(String s) {
        Matcher m = Pattern.compile("\\{\"partition\":\"[^\"]+\"[^}]*\\}").matcher(s);
        List<String> objects = new ArrayList<>();
        while (m.find()) objects.add(m.group());
        if (objects.size() < 2) return s;
        List<String> sorted = new ArrayList<>(objects);
        sorted.sort(null);
        StringBuilder out = new StringBuilder();
        m.reset();
        int i = 0;
        while (m.find()) m.appendReplacement(out, Matcher.quoteReplacement(sorted.get(i++)));
        m.appendTail(out);
        return out.toString();
    }

    private void print(Tool.Result r) {
        if (!PRINT) return;
        System.out.println(">>> " + normalize(r.command()) + "   [exit " + r.status() + "]");
        System.out.print(normalize(r.out()));
        String err = r.err().lines().filter(l -> !l.startsWith("[")).reduce("", (a, b) -> a + b + "\n");
        if (!err.isEmpty()) System.out.print("stderr: " + normalize(err));
    }

    /** The run exited with {@code status} and printed {@code expected} (masked) on stdout;
     *  a null {@code expected} checks the status only. */
    private void expectOut(Tool.Result r, int status, String expected) {
        print(r);
        if (r.status() != status) {
            throw new Mismatch(normalize(r.command()) + ": exit status " + r.status() + ", Kafka's is " + status + "\n" + r);
        }
        if (expected == null) return;
        String got = normalize(r.out());
        if (!matches(got, expected)) {
            throw new Mismatch(normalize(r.command()) + " printed, masked:\n" + got + "----- Kafka prints:\n" + expected
                + "----- first difference at: " + firstDifference(got, expected));
        }
    }

    /** Whether {@code got} is {@code expected}, where {@code «*»} in {@code expected} stands
     *  for anything within a column (a time, a duration, padding after a value) and each
     *  placeholder of {@link #masks} for its value. */
    private boolean matches(String got, String expected) {
        for (var m : masks.entrySet()) expected = expected.replace(m.getKey(), m.getValue());
        StringBuilder regex = new StringBuilder();
        for (String part : expected.split("«\\*»", -1)) {
            if (regex.length() > 0) regex.append("[^\\t\\n]*?");
            regex.append(Pattern.quote(part));
        }
        return Pattern.compile(regex.toString(), Pattern.DOTALL).matcher(got).matches();
    }

    /** The run printed {@code needle} on stderr (masked). */
    private void expectErr(Tool.Result r, String needle) {
        expect(normalize(r.err()).contains(needle), normalize(r.command()) + " did not print on stderr, as Kafka does: "
            + needle + "\n" + r);
    }

    private static String firstDifference(String a, String b) {
        String[] x = a.split("\n", -1), y = b.split("\n", -1);
        for (int i = 0; i < Math.max(x.length, y.length); i++) {
            String l = i < x.length ? x[i] : "<none>", m = i < y.length ? y[i] : "<none>";
            if (!l.equals(m)) return "line " + (i + 1) + ": got [" + l + "], Kafka [" + m + "]";
        }
        return "none";
    }

}
