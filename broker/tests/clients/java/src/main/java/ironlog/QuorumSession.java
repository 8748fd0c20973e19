package ironlog;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.utils.AppInfoParser;

/**
 * Kafka 4.1's {@code kafka-metadata-quorum} (run by its main class, see {@link Tool})
 * against a cluster: {@code describe --status} and
 * {@code describe --replication} (plain and {@code --human-readable}) print what they print
 * for Apache Kafka's KRaft quorum of static voters — every line and column in Kafka's
 * layout, the cluster id the cluster reports, the leader among the voters, each voter with
 * no directory id and its controller endpoint, the broker-only nodes (none in a cluster of
 * combined nodes) as observers, followers' and observers' lags from the leader's log end
 * offset.
 *
 * <p>Usage: {@code IRONLOG_VOTERS=1@HOST:PORT,... java ironlog.QuorumSession HOST:PORT
 * [SCENARIO...]} — the voters as {@code controller.quorum.voters} names them, on the
 * {@code CONTROLLER} listener; {@code IRONLOG_OBSERVERS=4,5,...}: the broker-only nodes.
 */
public final class QuorumSession extends Session {
    private static final String QUORUM = "org.apache.kafka.tools.MetadataQuorumCommand";
    /** Uuid.ZERO_UUID as Kafka prints it: a static voter has no directory id. */
    private static final String NO_DIRECTORY = "AAAAAAAAAAAAAAAAAAAAAA";

    /** (id, host:port) of every voter, by id. */
    private final List<String[]> voters = new ArrayList<>();
    /** The ids of the broker-only nodes, sorted. */
    private final List<String> observers = new ArrayList<>();

    QuorumSession(String bootstrap, String votersSetting, String observersSetting) {
        super(bootstrap);
        for (String id : observersSetting.split(",")) {
            if (!id.isBlank()) observers.add(id.trim());
        }
        observers.sort((a, b) -> Integer.compare(Integer.parseInt(a), Integer.parseInt(b)));
        for (String voter : votersSetting.split(",")) {
            String[] idAddress = voter.split("@", 2);
            voters.add(idAddress);
        }
        voters.sort((a, b) -> Integer.compare(Integer.parseInt(a[0]), Integer.parseInt(b[0])));
        scenario("describe-status", this::status);
        scenario("describe-replication", this::replication);
    }

    public static void main(String[] args) {
        System.out.println("kafka-tools " + AppInfoParser.getVersion());
        String votersSetting = System.getenv("IRONLOG_VOTERS");
        if (votersSetting == null || votersSetting.isEmpty()) {
            System.out.println("FAIL setup: IRONLOG_VOTERS (controller.quorum.voters) is not set");
            System.exit(2);
        }
        String observersSetting = System.getenv().getOrDefault("IRONLOG_OBSERVERS", "");
        System.exit(new QuorumSession(args[0], votersSetting, observersSetting).runAll(scenarioArgs(args)));
    }

    private Tool.Result describe(String... args) {
        String[] full = new String[args.length + 3];
        full[0] = "--bootstrap-server";
        full[1] = bootstrap;
        full[2] = "describe";
        System.arraycopy(args, 0, full, 3, args.length);
        Tool.Result r = Tool.run(QUORUM, "", full);
        System.out.print(r.out());
        expect(r.status() == 0, r.command() + " failed:\n" + r);
        return r;
    }

    /** The value after {@code label} on its line, checking Kafka's padding to 24 columns. */
    private static String field(String[] lines, int index, String label, Tool.Result r) {
        String prefix = String.format("%-24s", label + ":");
        expect(lines.length > index && lines[index].startsWith(prefix),
            "line " + (index + 1) + " is not `" + prefix + "...`:\n" + r);
        return lines[index].substring(prefix.length());
    }

    private String votersAsKafkaPrintsThem() {
        List<String> nodes = new ArrayList<>();
        for (String[] voter : voters) {
            // Kafka 4.1 leaves out the directory id a static voter does not have
            nodes.add("{\"id\": " + voter[0] + ", \"endpoints\": [\"CONTROLLER://" + voter[1] + "\"]}");
        }
        return "[" + String.join(", ", nodes) + "]";
    }

    private boolean isVoter(String id) {
        return voters.stream().anyMatch(v -> v[0].equals(id));
    }

    void status() throws Exception {
        String clusterId;
        try (Admin admin = Clients.admin(bootstrap)) {
            clusterId = await(admin.describeCluster().clusterId(), "describeCluster");
        }
        Tool.Result r = describe("--status");
        String[] lines = r.out().split("\n");
        expectEq(lines.length, 8, "lines of describe --status");
        expectEq(field(lines, 0, "ClusterId", r), clusterId, "ClusterId");
        String leader = field(lines, 1, "LeaderId", r);
        expect(isVoter(leader), "LeaderId " + leader + " is not one of the voters " + votersAsKafkaPrintsThem());
        expect(Long.parseLong(field(lines, 2, "LeaderEpoch", r)) >= 1, "LeaderEpoch below 1:\n" + r);
        expect(Long.parseLong(field(lines, 3, "HighWatermark", r)) >= 1, "HighWatermark below 1:\n" + r);
        expect(Long.parseLong(field(lines, 4, "MaxFollowerLag", r)) >= 0, "MaxFollowerLag below 0:\n" + r);
        expect(Long.parseLong(field(lines, 5, "MaxFollowerLagTimeMs", r)) >= 0,
            "MaxFollowerLagTimeMs below 0 (every follower has caught up at some point):\n" + r);
        expectEq(field(lines, 6, "CurrentVoters", r), votersAsKafkaPrintsThem(), "CurrentVoters");
        String current = field(lines, 7, "CurrentObservers", r);
        if (observers.isEmpty()) {
            expectEq(current, "[]", "CurrentObservers (combined nodes are all voters)");
        } else {
            List<String> ids = new ArrayList<>();
            Matcher m = Pattern.compile("\"id\": (\\d+)").matcher(current);
            while (m.find()) ids.add(m.group(1));
            ids.sort((a, b) -> Integer.compare(Integer.parseInt(a), Integer.parseInt(b)));
            expectEq(ids, observers, "the ids CurrentObservers lists (the broker-only nodes):\n" + r);
        }
    }

    void replication() throws Exception {
        checkReplicationTable(describe("--replication"), false);
        checkReplicationTable(describe("--replication", "--human-readable"), true);
    }

    private void checkReplicationTable(Tool.Result r, boolean humanReadable) {
        String[] lines = r.out().split("\n");
        expectEq(lines.length, 1 + voters.size() + observers.size(), "lines of " + r.command());
        expectEq(Arrays.asList(lines[0].trim().split("\\s+")),
            List.of("NodeId", "DirectoryId", "LogEndOffset", "Lag", "LastFetchTimestamp", "LastCaughtUpTimestamp", "Status"),
            "the header of " + r.command());
        long now = System.currentTimeMillis();
        long leaderEnd = -1;
        List<String> ids = new ArrayList<>();
        for (int i = 1; i < lines.length; i++) {
            // "N ms ago" is three words in human-readable form
            String[] cells = lines[i].trim().replace(" ms ago", "_ms_ago").split("\\s+");
            expectEq(cells.length, 7, "cells of row " + i + " of " + r.command() + ":\n" + r);
            String status = cells[6];
            String expected = i == 1 ? "Leader" : i <= voters.size() ? "Follower" : "Observer";
            expectEq(status, expected, "status of row " + i + " (the leader first, then the voters, then the observers)");
            expectEq(observers.contains(cells[0]), expected.equals("Observer"), "whether node " + cells[0] + " is an observer");
            expectEq(cells[1], NO_DIRECTORY, "DirectoryId of node " + cells[0]);
            long end = Long.parseLong(cells[2]);
            if (i == 1) leaderEnd = end;
            expectEq(Long.parseLong(cells[3]), leaderEnd - end, "Lag of node " + cells[0] + " (the leader's log end minus its own)");
            expect(end >= 1, "LogEndOffset of node " + cells[0] + " below 1");
            for (int c : new int[] {4, 5}) {
                if (humanReadable) {
                    expect(cells[c].endsWith("_ms_ago"), "column " + c + " of node " + cells[0] + " is not `N ms ago`:\n" + r);
                    long ago = Long.parseLong(cells[c].substring(0, cells[c].length() - "_ms_ago".length()));
                    expect(ago >= 0 && ago < 60_000, "node " + cells[0] + " last heard of " + ago + " ms ago:\n" + r);
                } else {
                    long at = Long.parseLong(cells[c]);
                    expect(at > now - 60_000 && at <= now, "timestamp " + at + " of node " + cells[0] + " is not within the last minute:\n" + r);
                }
            }
            ids.add(cells[0]);
        }
        ids.sort(null);
        List<String> all = new ArrayList<>(voters.stream().map(v -> v[0]).toList());
        all.addAll(observers);
        all.sort(null);
        expectEq(ids, all, "the nodes " + r.command() + " lists");
    }
}
