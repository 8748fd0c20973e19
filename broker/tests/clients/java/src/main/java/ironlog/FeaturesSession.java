package ironlog;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.kafka.common.utils.AppInfoParser;

/**
 * Kafka 4.1's {@code kafka-features} (run by its main class, see {@link Tool}) against a
 * cluster formatted at release 3.9: {@code describe} shows metadata.version finalized at
 * 3.9-IV0 and group.version at 0; {@code upgrade --metadata 4.1 --dry-run} validates
 * without changing anything; {@code upgrade --metadata 4.1} moves the cluster to 4.1-IV1,
 * which {@code describe} then shows with a newer epoch; {@code downgrade --feature metadata.version=21}
 * is refused as Kafka 4.1 refuses it (the metadata format changed at 4.0-IV1) and changes
 * nothing. The scenarios build on each other and run in this order.
 *
 * <p>Usage: {@code java ironlog.FeaturesSession HOST:PORT [SCENARIO...]}.
 */
public final class FeaturesSession extends Session {
    private static final String FEATURES = "org.apache.kafka.tools.FeatureCommand";
    private static final Pattern METADATA_VERSION = Pattern.compile(
        "(?m)^Feature: metadata\\.version\\tSupportedMinVersion: (\\S+)\\tSupportedMaxVersion: (\\S+)"
            + "\\tFinalizedVersionLevel: (\\S+)\\tEpoch: (\\d+)$");
    private static final Pattern GROUP_VERSION = Pattern.compile(
        "(?m)^Feature: group\\.version\\tSupportedMinVersion: 0\\tSupportedMaxVersion: 1"
            + "\\tFinalizedVersionLevel: (\\d+)\\tEpoch: \\d+$");

    /** The finalized features epoch before the upgrade. */
    private long epochBefore = -1;

    FeaturesSession(String bootstrap) {
        super(bootstrap);
        scenario("describe-at-3.9", this::describeAt39);
        scenario("upgrade-dry-run", this::dryRun);
        scenario("upgrade-to-4.1", this::upgrade);
        scenario("downgrade-refused", this::downgradeRefused);
    }

    public static void main(String[] args) {
        System.out.println("kafka-tools " + AppInfoParser.getVersion());
        System.exit(new FeaturesSession(args[0]).runAll(scenarioArgs(args)));
    }

    private Tool.Result features(String... args) {
        Tool.Result r = Tool.against(bootstrap, FEATURES, args);
        System.out.print(r.out());
        return r;
    }

    /** (finalized metadata.version, epoch) from {@code describe}, checking the supported range. */
    private String[] describe() {
        Tool.Result r = features("describe");
        expectEq(r.status(), 0, "exit status of " + r.command() + "\n" + r);
        Matcher m = METADATA_VERSION.matcher(r.out());
        expect(m.find(), "no metadata.version line in\n" + r);
        expectEq(m.group(1), "3.3-IV3", "SupportedMinVersion of metadata.version");
        expectEq(m.group(2), "4.1-IV1", "SupportedMaxVersion of metadata.version");
        Matcher g = GROUP_VERSION.matcher(r.out());
        expect(g.find(), "no group.version line in\n" + r);
        return new String[] {m.group(3), m.group(4), g.group(1)};
    }

    void describeAt39() {
        String[] now = describe();
        expectEq(now[0], "3.9-IV0", "FinalizedVersionLevel of metadata.version");
        expectEq(now[2], "0", "FinalizedVersionLevel of group.version at 3.9");
        epochBefore = Long.parseLong(now[1]);
    }

    void dryRun() {
        Tool.Result r = features("upgrade", "--metadata", "4.1", "--dry-run");
        expectEq(r.status(), 0, "exit status of " + r.command() + "\n" + r);
        expect(r.out().contains("metadata.version can be upgraded to 27."), "dry-run output:\n" + r);
        expectEq(describe()[0], "3.9-IV0", "metadata.version after a dry run");
    }

    void upgrade() throws Exception {
        Tool.Result r = features("upgrade", "--metadata", "4.1");
        expectEq(r.status(), 0, "exit status of " + r.command() + "\n" + r);
        expect(r.out().contains("metadata.version was upgraded to 27."), "upgrade output:\n" + r);
        // The broker answers once its own image has the level; others follow.
        String[] now = waitFor("describe showing 4.1-IV1", () -> {
            String[] d = describe();
            return d[0].equals("4.1-IV1") ? d : null;
        });
        expect(Long.parseLong(now[1]) > epochBefore,
            "the finalized features epoch did not move: " + epochBefore + " -> " + now[1]);
    }

    void downgradeRefused() {
        Tool.Result r = features("downgrade", "--feature", "metadata.version=21");
        expect(r.status() != 0, "a downgrade across 4.0-IV1 succeeded:\n" + r);
        String all = r.out() + r.err();
        expect(all.contains("Refusing to perform the requested downgrade because it might delete metadata information"),
            "downgrade refusal does not say why:\n" + r);
        expectEq(describe()[0], "4.1-IV1", "metadata.version after a refused downgrade");
    }
}
