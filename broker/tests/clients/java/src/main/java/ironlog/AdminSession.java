package ironlog;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.CreateTopicsOptions;
import org.apache.kafka.clients.admin.DescribeProducersResult.PartitionProducerState;
import org.apache.kafka.clients.admin.FeatureMetadata;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicCollection;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionReplica;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.InvalidConfigurationException;
import org.apache.kafka.common.errors.InvalidPartitionsException;
import org.apache.kafka.common.errors.InvalidReplicationFactorException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.utils.AppInfoParser;

/**
 * The Java AdminClient 4.1 on everything a single-node broker implements: topics (created,
 * described through DescribeTopicPartitions and by id, partitions added, deleted), configs
 * (topic and broker, incrementalAlterConfigs), the cluster, log dirs, offsets and
 * DeleteRecords, groups and their offsets, transactions and producers, fencing, features.
 * Each answer is checked against what Apache Kafka 4.1 answers in the same state.
 *
 * <p>Usage: {@code java ironlog.AdminSession HOST:PORT [SCENARIO...]}
 */
public final class AdminSession extends Session {
    private final Admin admin;

    AdminSession(String bootstrap) {
        super(bootstrap);
        admin = Clients.admin(bootstrap);
        scenario("cluster", this::cluster);
        scenario("topics", this::topics);
        scenario("configs", this::configs);
        scenario("offsets-and-delete-records", this::offsetsAndDeleteRecords);
        scenario("log-dirs", this::logDirs);
        scenario("group-offsets", this::groupOffsets);
        scenario("transactions-and-producers", this::transactionsAndProducers);
        scenario("features", this::features);
    }

    public static void main(String[] args) {
        System.out.println("kafka-clients " + AppInfoParser.getVersion());
        AdminSession s = new AdminSession(args[0]);
        int status = s.runAll(scenarioArgs(args));
        s.admin.close(Duration.ofSeconds(10));
        System.exit(status);
    }

    private int brokerId() throws InterruptedException {
        Collection<Node> nodes = await(admin.describeCluster().nodes(), "DescribeCluster nodes");
        expectEq(nodes.size(), 1, "brokers in the cluster");
        return nodes.iterator().next().id();
    }

    void cluster() throws Exception {
        var d = admin.describeCluster();
        Collection<Node> nodes = await(d.nodes(), "DescribeCluster nodes");
        expectEq(nodes.size(), 1, "brokers described");
        Node node = nodes.iterator().next();
        String[] hostPort = bootstrap.split(":");
        expectEq(node.host() + ":" + node.port(), hostPort[0] + ":" + hostPort[1], "the broker's advertised address");
        // A KRaft broker names a live broker as the controller (clients cannot reach controllers).
        expectEq(await(d.controller(), "DescribeCluster controller").id(), node.id(), "controller id");
        String clusterId = await(d.clusterId(), "DescribeCluster cluster id");
        expect(clusterId != null && Uuid.fromString(clusterId) != null, "cluster id is a Kafka Uuid: " + clusterId);
    }

    void topics() throws Exception {
        String topic = unique("admin-topic");
        var created = admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1)
            .configs(Map.of("cleanup.policy", "compact", "retention.ms", "3600000"))));
        await(created.all(), "CreateTopics " + topic);
        Uuid id = await(created.topicId(topic), "topic id of the created topic");
        expectEq(await(created.numPartitions(topic), "partitions of the created topic"), 3, "created partitions");
        expectEq(await(created.replicationFactor(topic), "replication factor"), 1, "created replication factor");
        Config createdConfig = await(created.config(topic), "configs of the created topic");
        expectEq(createdConfig.get("cleanup.policy").value(), "compact", "cleanup.policy returned by CreateTopics");
        expectEq(createdConfig.get("cleanup.policy").source(), ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG,
            "cleanup.policy source returned by CreateTopics");
        expectEq(createdConfig.get("segment.bytes").source(), ConfigEntry.ConfigSource.DEFAULT_CONFIG,
            "segment.bytes source returned by CreateTopics");

        // Errors as Kafka names them.
        expect(awaitFailure(admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all(),
            "CreateTopics of an existing topic") instanceof TopicExistsException, "existing topic: TopicExistsException");
        Throwable e = awaitFailure(admin.createTopics(List.of(new NewTopic(unique("rf3"), 1, (short) 3))).all(),
            "CreateTopics with replication factor 3 on one broker");
        expect(e instanceof InvalidReplicationFactorException, "replication factor 3 on one broker: " + describe(e));
        e = awaitFailure(admin.createTopics(List.of(new NewTopic(unique("badcfg"), 1, (short) 1)
            .configs(Map.of("cleanup.policy", "shred")))).all(), "CreateTopics with cleanup.policy=shred");
        expect(e instanceof InvalidConfigurationException, "cleanup.policy=shred: " + describe(e));
        String validated = unique("validate-only");
        await(admin.createTopics(List.of(new NewTopic(validated, 2, (short) 1)),
            new CreateTopicsOptions().validateOnly(true)).all(), "CreateTopics validateOnly");
        expect(!await(admin.listTopics().names(), "ListTopics").contains(validated), "a validateOnly topic was created");

        // DescribeTopicPartitions (the 4.x client's describeTopics by name).
        TopicDescription d = waitFor("topic " + topic + " described with leaders", () -> {
            try {
                TopicDescription t = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
                return t.partitions().stream().allMatch(p -> p.leader() != null) ? t : null;
            } catch (Exception ex) {
                throw new RuntimeException(ex);
            }
        });
        int broker = brokerId();
        expectEq(d.topicId(), id, "described topic id");
        expectEq(d.isInternal(), false, "internal flag");
        expectEq(d.partitions().size(), 3, "described partitions");
        for (var p : d.partitions()) {
            expectEq(p.leader().id(), broker, "leader of partition " + p.partition());
            expectEq(p.replicas().stream().map(Node::id).toList(), List.of(broker), "replicas of partition " + p.partition());
            expectEq(p.isr().stream().map(Node::id).toList(), List.of(broker), "ISR of partition " + p.partition());
            expectEq(p.elr(), List.of(), "ELR of partition " + p.partition());
            expectEq(p.lastKnownElr(), List.of(), "last known ELR of partition " + p.partition());
        }
        var byId = await(admin.describeTopics(TopicCollection.ofTopicIds(List.of(id))).allTopicIds(), "describeTopics by id");
        expectEq(byId.get(id).name(), topic, "topic described by id");
        Throwable unknown = awaitFailure(admin.describeTopics(List.of(unique("nope"))).allTopicNames(),
            "describeTopics of an unknown topic");
        expect(unknown instanceof UnknownTopicOrPartitionException, "unknown topic: " + describe(unknown));

        // Listing, with and without internal topics.
        Set<String> names = await(admin.listTopics().names(), "ListTopics");
        expect(names.contains(topic), "ListTopics lacks " + topic);
        expect(names.stream().noneMatch(n -> n.startsWith("__")), "ListTopics without listInternal lists internal topics: " + names);

        // More partitions; fewer is refused.
        await(admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(5))).all(), "CreatePartitions to 5");
        waitFor("5 partitions described", () -> {
            try {
                return admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions().size() == 5 ? true : null;
            } catch (Exception ex) {
                throw new RuntimeException(ex);
            }
        });
        e = awaitFailure(admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(2))).all(), "CreatePartitions to 2");
        expect(e instanceof InvalidPartitionsException, "fewer partitions: " + describe(e));

        await(admin.deleteTopics(List.of(topic)).all(), "DeleteTopics " + topic);
        waitFor("the deleted topic gone from ListTopics", () -> {
            try {
                return admin.listTopics().names().get().contains(topic) ? null : true;
            } catch (Exception ex) {
                throw new RuntimeException(ex);
            }
        });
    }

    void configs() throws Exception {
        String topic = unique("admin-configs");
        Clients.createTopic(admin, topic, 1, Map.of("retention.ms", "86400000"));
        ConfigResource t = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        Config c = await(admin.describeConfigs(List.of(t)).all(), "DescribeConfigs topic").get(t);
        expectEq(c.get("retention.ms").value(), "86400000", "retention.ms");
        expectEq(c.get("retention.ms").source(), ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, "retention.ms source");
        expectEq(c.get("cleanup.policy").value(), "delete", "cleanup.policy default");
        expectEq(c.get("cleanup.policy").source(), ConfigEntry.ConfigSource.DEFAULT_CONFIG, "cleanup.policy source");
        expectEq(c.get("segment.bytes").value(), "1073741824", "segment.bytes default");

        // incrementalAlterConfigs: SET, APPEND, SUBTRACT, DELETE.
        Map<ConfigResource, Collection<AlterConfigOp>> ops = Map.of(t, List.of(
            new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET),
            new AlterConfigOp(new ConfigEntry("cleanup.policy", "compact"), AlterConfigOp.OpType.APPEND),
            new AlterConfigOp(new ConfigEntry("max.message.bytes", "2000000"), AlterConfigOp.OpType.SET)));
        await(admin.incrementalAlterConfigs(ops).all(), "IncrementalAlterConfigs SET/APPEND");
        c = configOnceApplied(t, "max.message.bytes", "2000000");
        expectEq(c.get("retention.ms").value(), "7200000", "retention.ms after SET");
        expectEq(c.get("cleanup.policy").value(), "delete,compact", "cleanup.policy after APPEND");
        expectEq(c.get("max.message.bytes").value(), "2000000", "max.message.bytes after SET");
        await(admin.incrementalAlterConfigs(Map.of(t, List.of(
            new AlterConfigOp(new ConfigEntry("cleanup.policy", "delete"), AlterConfigOp.OpType.SUBTRACT),
            new AlterConfigOp(new ConfigEntry("retention.ms", ""), AlterConfigOp.OpType.DELETE)))).all(),
            "IncrementalAlterConfigs SUBTRACT/DELETE");
        c = configOnceApplied(t, "retention.ms", "604800000");
        expectEq(c.get("cleanup.policy").value(), "compact", "cleanup.policy after SUBTRACT");
        expectEq(c.get("retention.ms").value(), "604800000", "retention.ms after DELETE (the default)");
        expectEq(c.get("retention.ms").source(), ConfigEntry.ConfigSource.DEFAULT_CONFIG, "retention.ms source after DELETE");
        Throwable e = awaitFailure(admin.incrementalAlterConfigs(Map.of(t, List.of(
            new AlterConfigOp(new ConfigEntry("no.such.config", "1"), AlterConfigOp.OpType.SET)))).all(),
            "IncrementalAlterConfigs of an unknown topic config");
        expect(e instanceof InvalidConfigurationException, "unknown topic config: " + describe(e));

        // Broker configs: a per-broker dynamic value and a cluster-wide default, with sources.
        String broker = String.valueOf(brokerId());
        ConfigResource b = new ConfigResource(ConfigResource.Type.BROKER, broker);
        ConfigResource all = new ConfigResource(ConfigResource.Type.BROKER, "");
        c = await(admin.describeConfigs(List.of(b)).all(), "DescribeConfigs broker").get(b);
        expectEq(c.get("log.retention.hours").value(), "168", "log.retention.hours");
        expectEq(c.get("log.retention.hours").source(), ConfigEntry.ConfigSource.DEFAULT_CONFIG, "log.retention.hours source");
        expectEq(c.get("node.id").isReadOnly(), true, "node.id read-only");
        await(admin.incrementalAlterConfigs(Map.of(
            b, List.of(new AlterConfigOp(new ConfigEntry("log.cleaner.threads", "2"), AlterConfigOp.OpType.SET)),
            all, List.of(new AlterConfigOp(new ConfigEntry("log.retention.ms", "3600000"), AlterConfigOp.OpType.SET)))).all(),
            "IncrementalAlterConfigs broker and cluster default");
        // The broker applies the change from the metadata log: it may describe it a moment later.
        c = waitFor("the broker describing both changes", () -> {
            try {
                Config now = admin.describeConfigs(List.of(b)).all().get().get(b);
                return "2".equals(now.get("log.cleaner.threads").value())
                    && "3600000".equals(now.get("log.retention.ms").value()) ? now : null;
            } catch (Exception ex) {
                throw new RuntimeException(ex);
            }
        });
        expectEq(c.get("log.cleaner.threads").value(), "2", "log.cleaner.threads after SET");
        expectEq(c.get("log.cleaner.threads").source(), ConfigEntry.ConfigSource.DYNAMIC_BROKER_CONFIG, "log.cleaner.threads source");
        expectEq(c.get("log.retention.ms").value(), "3600000", "log.retention.ms after the cluster default");
        expectEq(c.get("log.retention.ms").source(), ConfigEntry.ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG, "log.retention.ms source");
        Config allConfig = await(admin.describeConfigs(List.of(all)).all(), "DescribeConfigs cluster default").get(all);
        List<String> dynamicDefaults = new ArrayList<>();
        for (ConfigEntry entry : allConfig.entries()) dynamicDefaults.add(entry.name() + "=" + entry.value());
        java.util.Collections.sort(dynamicDefaults);
        // min.insync.replicas: the cluster-level value the controller writes for eligible
        // leader replicas (KIP-966), as Kafka 4.1's does.
        expectEq(dynamicDefaults, List.of("log.retention.ms=3600000", "min.insync.replicas=1"), "the cluster-wide dynamic defaults");
        // A new topic's retention follows the cluster default.
        String topic2 = unique("admin-configs-default");
        Clients.createTopic(admin, topic2, 1, Map.of());
        ConfigResource t2 = new ConfigResource(ConfigResource.Type.TOPIC, topic2);
        ConfigEntry retention = await(admin.describeConfigs(List.of(t2)).all(), "DescribeConfigs topic").get(t2).get("retention.ms");
        expectEq(retention.value(), "3600000", "retention.ms of a topic under the cluster default");
        expectEq(retention.source(), ConfigEntry.ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG, "retention.ms source under the cluster default");
        e = awaitFailure(admin.incrementalAlterConfigs(Map.of(b, List.of(
            new AlterConfigOp(new ConfigEntry("node.id", "7"), AlterConfigOp.OpType.SET)))).all(),
            "IncrementalAlterConfigs of the read-only node.id");
        expect(e instanceof InvalidConfigurationException || e instanceof org.apache.kafka.common.errors.InvalidRequestException,
            "read-only broker config: " + describe(e));
        await(admin.incrementalAlterConfigs(Map.of(
            b, List.of(new AlterConfigOp(new ConfigEntry("log.cleaner.threads", ""), AlterConfigOp.OpType.DELETE)),
            all, List.of(new AlterConfigOp(new ConfigEntry("log.retention.ms", ""), AlterConfigOp.OpType.DELETE)))).all(),
            "IncrementalAlterConfigs DELETE broker configs");
        waitFor("log.cleaner.threads back to its default source after DELETE", () -> {
            try {
                return admin.describeConfigs(List.of(b)).all().get().get(b).get("log.cleaner.threads").source()
                    == ConfigEntry.ConfigSource.DEFAULT_CONFIG ? true : null;
            } catch (Exception ex) {
                throw new RuntimeException(ex);
            }
        });
        await(admin.deleteTopics(List.of(topic, topic2)).all(), "DeleteTopics");
    }

    /** The configs of {@code r} once {@code name} is {@code value}: a Kafka broker applies a
     *  change from the metadata log, so it may describe it a moment after the change. */
    private Config configOnceApplied(ConfigResource r, String name, String value) throws InterruptedException {
        return waitFor(r + " describing " + name + "=" + value, () -> {
            try {
                Config now = admin.describeConfigs(List.of(r)).all().get().get(r);
                return value.equals(now.get(name).value()) ? now : null;
            } catch (Exception ex) {
                throw new RuntimeException(ex);
            }
        });
    }

    void offsetsAndDeleteRecords() throws Exception {
        String topic = unique("admin-offsets");
        Clients.createTopic(admin, topic, 1, Map.of());
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaProducer<String, String> p = Clients.producer(bootstrap)) {
            for (int i = 0; i < 10; i++) {
                await(p.send(new ProducerRecord<>(topic, 0, 1_000_000L + i * 1000L, "k", "v" + i)), "send " + i);
            }
            // out of order: offset 10 has an earlier timestamp than offset 9
            await(p.send(new ProducerRecord<>(topic, 0, 1_000_500L, "k", "v10")), "send 10");
        }
        expectEq(listOffset(tp, OffsetSpec.earliest()).offset(), 0L, "earliest offset");
        expectEq(listOffset(tp, OffsetSpec.latest()).offset(), 11L, "latest offset");
        ListOffsetsResultInfo max = listOffset(tp, OffsetSpec.maxTimestamp());
        expectEq(max.offset(), 9L, "offset of the max timestamp");
        expectEq(max.timestamp(), 1_009_000L, "max timestamp");
        ListOffsetsResultInfo byTime = listOffset(tp, OffsetSpec.forTimestamp(1_003_500L));
        expectEq(byTime.offset(), 4L, "first offset at or after a timestamp");
        expectEq(byTime.timestamp(), 1_004_000L, "timestamp of that offset");
        expectEq(listOffset(tp, OffsetSpec.forTimestamp(2_000_000L)).offset(), -1L, "offset for a timestamp after every record");
        expectEq(listOffset(tp, OffsetSpec.earliestLocal()).offset(), 0L, "earliest local offset");
        expectEq(listOffset(tp, OffsetSpec.latestTiered()).offset(), -1L, "latest tiered offset (no tiered storage)");

        var deleted = await(admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(4))).lowWatermarks().get(tp),
            "DeleteRecords before 4");
        expectEq(deleted.lowWatermark(), 4L, "low watermark after DeleteRecords");
        expectEq(listOffset(tp, OffsetSpec.earliest()).offset(), 4L, "earliest offset after DeleteRecords");
        expectEq(listOffset(tp, OffsetSpec.forTimestamp(0L)).offset(), 4L, "offset for timestamp 0 after DeleteRecords");
        Throwable e = awaitFailure(admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(20))).all(),
            "DeleteRecords past the high watermark");
        expect(e instanceof org.apache.kafka.common.errors.OffsetOutOfRangeException, "DeleteRecords past the end: " + describe(e));
        deleted = await(admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(-1))).lowWatermarks().get(tp),
            "DeleteRecords before the high watermark (-1)");
        expectEq(deleted.lowWatermark(), 11L, "low watermark after deleting everything");
        await(admin.deleteTopics(List.of(topic)).all(), "DeleteTopics");
    }

    private ListOffsetsResultInfo listOffset(TopicPartition tp, OffsetSpec spec) throws InterruptedException {
        return await(admin.listOffsets(Map.of(tp, spec)).partitionResult(tp), "ListOffsets " + spec.getClass().getSimpleName());
    }

    void logDirs() throws Exception {
        String topic = unique("admin-logdirs");
        Clients.createTopic(admin, topic, 2, Map.of());
        try (KafkaProducer<String, String> p = Clients.producer(bootstrap)) {
            for (int i = 0; i < 20; i++) await(p.send(new ProducerRecord<>(topic, 0, "k", "value-" + i)), "send");
        }
        int broker = brokerId();
        Map<String, LogDirDescription> dirs = await(admin.describeLogDirs(List.of(broker)).allDescriptions(),
            "DescribeLogDirs").get(broker);
        expectEq(dirs.size(), 1, "log dirs of the broker");
        var dir = dirs.entrySet().iterator().next();
        expect(dir.getValue().error() == null, "log dir error: " + dir.getValue().error());
        var p0 = dir.getValue().replicaInfos().get(new TopicPartition(topic, 0));
        var p1 = dir.getValue().replicaInfos().get(new TopicPartition(topic, 1));
        expect(p0 != null && p1 != null, "log dir lacks the topic's partitions: " + dir.getValue().replicaInfos().keySet());
        expect(p0.size() > 0, "size of a written partition: " + p0.size());
        expectEq(p1.size(), 0L, "size of an empty partition");
        expectEq(p0.offsetLag(), 0L, "offset lag of a leader");
        expect(!p0.isFuture(), "a current replica described as future");
        expect(dir.getValue().totalBytes().isPresent() && dir.getValue().usableBytes().isPresent(),
            "total and usable bytes of the log dir (DescribeLogDirs v4)");
        var replica = new TopicPartitionReplica(topic, 0, broker);
        var info = await(admin.describeReplicaLogDirs(List.of(replica)).all(), "describeReplicaLogDirs").get(replica);
        expectEq(info.getCurrentReplicaLogDir(), dir.getKey(), "log dir of the replica");
        await(admin.deleteTopics(List.of(topic)).all(), "DeleteTopics");
    }

    void groupOffsets() throws Exception {
        String topic = unique("admin-groups");
        String group = unique("admin-group");
        Clients.createTopic(admin, topic, 3, Map.of());
        try (KafkaProducer<String, String> p = Clients.producer(bootstrap)) {
            for (int i = 0; i < 30; i++) await(p.send(new ProducerRecord<>(topic, i % 3, "k", "v" + i)), "send");
        }
        TopicPartition p0 = new TopicPartition(topic, 0), p1 = new TopicPartition(topic, 1), p2 = new TopicPartition(topic, 2);
        // A group committing through a consumer that only assigns (a "simple" group).
        try (KafkaConsumer<String, String> c = Clients.consumer(bootstrap, "group.id", group)) {
            c.assign(List.of(p0, p1));
            c.commitSync(Map.of(p0, new OffsetAndMetadata(3, "meta-0"), p1, new OffsetAndMetadata(5)));
        }
        var offsets = await(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata(), "ListConsumerGroupOffsets");
        expectEq(offsets.get(p0).offset(), 3L, "committed offset of p0");
        expectEq(offsets.get(p0).metadata(), "meta-0", "commit metadata of p0");
        expectEq(offsets.get(p1).offset(), 5L, "committed offset of p1");
        expect(!offsets.containsKey(p2), "an uncommitted partition listed: " + offsets.get(p2));

        Collection<GroupListing> groups = await(admin.listGroups(ListGroupsOptions.forConsumerGroups()).all(), "ListGroups");
        GroupListing listing = groups.stream().filter(g -> g.groupId().equals(group)).findFirst()
            .orElseThrow(() -> new Mismatch("ListGroups lacks " + group));
        expectEq(listing.type(), java.util.Optional.of(GroupType.CLASSIC), "listed type");
        expectEq(listing.protocol(), "", "listed protocol type (none: the group only committed)");
        expectEq(listing.groupState(), java.util.Optional.of(org.apache.kafka.common.GroupState.EMPTY), "listed state");
        var d = ClientSession.describeGroup(admin, group);
        expectEq(d.groupState(), org.apache.kafka.common.GroupState.EMPTY, "described state");
        expectEq(d.isSimpleConsumerGroup(), true, "described as a simple group");

        await(admin.alterConsumerGroupOffsets(group, Map.of(p0, new OffsetAndMetadata(7), p2, new OffsetAndMetadata(1))).all(),
            "AlterConsumerGroupOffsets");
        offsets = await(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata(), "ListConsumerGroupOffsets");
        Map<Integer, Long> got = new TreeMap<>();
        offsets.forEach((k, v) -> got.put(k.partition(), v.offset()));
        expectEq(got, Map.of(0, 7L, 1, 5L, 2, 1L), "offsets after AlterConsumerGroupOffsets");
        await(admin.deleteConsumerGroupOffsets(group, Set.of(p1)).all(), "DeleteConsumerGroupOffsets");
        offsets = await(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata(), "ListConsumerGroupOffsets");
        Set<Integer> left = new TreeSet<>();
        offsets.keySet().forEach(k -> left.add(k.partition()));
        expectEq(left, Set.of(0, 2), "partitions with offsets after DeleteConsumerGroupOffsets");
        await(admin.deleteConsumerGroups(List.of(group)).all(), "DeleteConsumerGroups");
        Throwable e = awaitFailure(admin.deleteConsumerGroups(List.of(group)).all(), "DeleteConsumerGroups of a deleted group");
        expect(e instanceof org.apache.kafka.common.errors.GroupIdNotFoundException, "deleting a deleted group: " + describe(e));
        await(admin.deleteTopics(List.of(topic)).all(), "DeleteTopics");
    }

    void transactionsAndProducers() throws Exception {
        String topic = unique("admin-txn");
        String txnId = unique("admin-txn-id");
        Clients.createTopic(admin, topic, 1, Map.of());
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaProducer<String, String> p = Clients.producer(bootstrap, "transactional.id", txnId,
                "transaction.timeout.ms", 120000)) {
            p.initTransactions();
            p.beginTransaction();
            await(p.send(new ProducerRecord<>(topic, 0, "k", "open")), "transactional send");

            Collection<TransactionListing> listed = await(admin.listTransactions().all(), "ListTransactions");
            TransactionListing mine = listed.stream().filter(l -> l.transactionalId().equals(txnId)).findFirst()
                .orElseThrow(() -> new Mismatch("ListTransactions lacks " + txnId + ": " + listed));
            expectEq(mine.state(), TransactionState.ONGOING, "listed state");
            TransactionDescription d = await(admin.describeTransactions(List.of(txnId)).description(txnId), "DescribeTransactions");
            expectEq(d.state(), TransactionState.ONGOING, "described state");
            expectEq(d.producerId(), mine.producerId(), "described producer id");
            expectEq(d.transactionTimeoutMs(), 120000L, "described transaction timeout");
            expectEq(d.topicPartitions(), Set.of(tp), "described partitions");
            expect(d.transactionStartTimeMs().isPresent(), "an ongoing transaction without a start time");
            expectEq(d.coordinatorId(), brokerId(), "described coordinator");

            PartitionProducerState state = await(admin.describeProducers(List.of(tp)).partitionResult(tp), "DescribeProducers");
            expectEq(state.activeProducers().size(), 1, "active producers of the partition");
            ProducerState ps = state.activeProducers().get(0);
            expectEq(ps.producerId(), d.producerId(), "producer id");
            expectEq(ps.producerEpoch(), (int) d.producerEpoch(), "producer epoch");
            expectEq(ps.lastSequence(), 0, "last sequence");
            expectEq(ps.currentTransactionStartOffset(), java.util.OptionalLong.of(0), "open transaction's first offset");

            var filtered = await(admin.listTransactions(new org.apache.kafka.clients.admin.ListTransactionsOptions()
                .filterStates(Set.of(TransactionState.COMPLETE_COMMIT))).all(), "ListTransactions in CompleteCommit");
            expect(filtered.stream().noneMatch(l -> l.transactionalId().equals(txnId)), "state filter ignored: " + filtered);

            // Fencing bumps the epoch and aborts the open transaction; the producer is fenced.
            await(admin.fenceProducers(List.of(txnId)).all(), "FenceProducers");
            try {
                p.commitTransaction();
                throw new Mismatch("a fenced producer committed");
            } catch (ProducerFencedException expected) {
                // as Kafka answers
            } catch (org.apache.kafka.common.KafkaException other) {
                expect(other.getCause() instanceof ProducerFencedException
                        || other instanceof org.apache.kafka.common.errors.InvalidProducerEpochException,
                    "commit of a fenced producer failed with " + describe(other) + ", not ProducerFencedException");
            }
            // The fencing InitProducerId aborts the open transaction, then takes the new epoch:
            // the transactional id is left Empty.
            TransactionDescription after = waitFor("the fenced transaction aborted", () -> {
                try {
                    TransactionDescription t = admin.describeTransactions(List.of(txnId)).description(txnId).get();
                    return t.state() == TransactionState.EMPTY || t.state() == TransactionState.COMPLETE_ABORT ? t : null;
                } catch (Exception ex) {
                    throw new RuntimeException(ex);
                }
            });
            expectEq(after.state(), TransactionState.EMPTY, "state after fencing");
            expect(after.producerEpoch() > d.producerEpoch(), "epoch after fencing: " + after.producerEpoch()
                + ", before " + d.producerEpoch());
        }
        var values = Clients.readAll(bootstrap, List.of(tp), "isolation.level", "read_committed");
        expectEq(values.size(), 0, "records of the fenced transaction visible to read_committed");
        PartitionProducerState state = await(admin.describeProducers(List.of(tp)).partitionResult(tp), "DescribeProducers");
        expectEq(state.activeProducers().get(0).currentTransactionStartOffset(), java.util.OptionalLong.empty(),
            "open transaction after the abort");
        Throwable e = awaitFailure(admin.describeTransactions(List.of(unique("no-txn"))).all(), "DescribeTransactions of an unknown id");
        expect(e instanceof org.apache.kafka.common.errors.TransactionalIdNotFoundException, "unknown transactional id: " + describe(e));
        await(admin.deleteTopics(List.of(topic)).all(), "DeleteTopics");
    }

    void features() throws Exception {
        FeatureMetadata f = await(admin.describeFeatures().featureMetadata(), "DescribeFeatures");
        Map<String, String> finalized = new TreeMap<>();
        f.finalizedFeatures().forEach((k, v) -> finalized.put(k, v.minVersionLevel() + "-" + v.maxVersionLevel()));
        Map<String, String> supported = new TreeMap<>();
        f.supportedFeatures().forEach((k, v) -> supported.put(k, v.minVersion() + "-" + v.maxVersion()));
        // Kafka 4.1 formatted with the feature levels Ironlog implements (kafka-reference.sh).
        expectEq(finalized, Map.of("group.version", "1-1", "metadata.version", "27-27"), "finalized features");
        expectEq(supported.keySet(), Set.of("eligible.leader.replicas.version", "group.version", "kraft.version",
            "metadata.version", "share.version", "transaction.version"), "supported features");
        expectEq(supported.get("metadata.version"), "7-27", "supported metadata.version levels");
        expectEq(supported.get("group.version"), "0-1", "supported group.version levels");
        expect(f.finalizedFeaturesEpoch().isPresent() && f.finalizedFeaturesEpoch().get() > 0,
            "finalized features epoch: " + f.finalizedFeaturesEpoch());
    }
}
