package ironlog;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

/**
 * What every session shares: named scenarios run one after the other against one broker,
 * each reported on its own line ({@code ok NAME} or {@code FAIL NAME: sentence}), checks
 * that throw a {@link Mismatch} naming what differs, and waits with deadlines.
 *
 * <p>A session runs every scenario (or those named on its command line) even after one
 * failed, so one run reports every difference; it exits 1 if any failed.
 */
abstract class Session {
    /** Milliseconds any single wait of a scenario may take. */
    static final long STEP_TIMEOUT_MS = 30_000;

    /** A difference from what Apache Kafka answers in the same state. */
    static final class Mismatch extends RuntimeException {
        Mismatch(String message) {
            super(message);
        }
    }

    /** One scenario's body; may throw anything (a failure is reported, not fatal). */
    interface Body {
        void run() throws Exception;
    }

    private record Scenario(String name, Body body) {}

    final String bootstrap;
    private final List<Scenario> scenarios = new ArrayList<>();

    Session(String bootstrap) {
        this.bootstrap = bootstrap;
    }

    void scenario(String name, Body body) {
        scenarios.add(new Scenario(name, body));
    }

    /** Runs the scenarios named in {@code only} (all when empty); returns the exit status. */
    int runAll(List<String> only) {
        for (String name : only) {
            if (scenarios.stream().noneMatch(s -> s.name.equals(name))) {
                System.out.println("FAIL " + name + ": no such scenario; known: "
                    + scenarios.stream().map(Scenario::name).toList());
                return 2;
            }
        }
        List<String> failed = new ArrayList<>();
        for (Scenario s : scenarios) {
            if (!only.isEmpty() && !only.contains(s.name)) continue;
            long start = System.nanoTime();
            System.out.println("--- " + s.name);
            System.out.flush();
            try {
                s.body.run();
                System.out.printf("ok %s (%d ms)%n", s.name, (System.nanoTime() - start) / 1_000_000);
            } catch (Throwable e) {
                failed.add(s.name);
                System.out.println("FAIL " + s.name + ": " + describe(e));
                if (!(e instanceof Mismatch)) e.printStackTrace(System.out);
            }
            System.out.flush();
        }
        System.out.println(failed.isEmpty() ? "all scenarios passed" : "failed scenarios: " + failed);
        return failed.isEmpty() ? 0 : 1;
    }

    /** The exception's message, with the causes an ExecutionException wraps. */
    static String describe(Throwable e) {
        StringBuilder sb = new StringBuilder(String.valueOf(e.getMessage()));
        for (Throwable c = e.getCause(); c != null && c != e; c = c.getCause()) {
            sb.append(" <- ").append(c.getClass().getSimpleName()).append(": ").append(c.getMessage());
            if (c.getCause() == c) break;
        }
        return e instanceof Mismatch ? sb.toString() : e.getClass().getSimpleName() + ": " + sb;
    }

    static void expect(boolean condition, String message) {
        if (!condition) throw new Mismatch(message);
    }

    static void expectEq(Object got, Object want, String what) {
        if (!Objects.equals(got, want)) {
            throw new Mismatch(what + ": expected " + want + ", got " + got);
        }
    }

    /** The future's value within the step timeout, or a mismatch naming {@code what}. */
    static <T> T await(Future<T> future, String what) throws InterruptedException {
        try {
            return future.get(STEP_TIMEOUT_MS, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw new Mismatch(what + " failed: " + describe(e.getCause()));
        } catch (TimeoutException e) {
            throw new Mismatch(what + ": no answer within " + STEP_TIMEOUT_MS + " ms");
        }
    }

    /** The exception the future fails with, or a mismatch if it succeeds. */
    static Throwable awaitFailure(Future<?> future, String what) throws InterruptedException {
        try {
            Object value = future.get(STEP_TIMEOUT_MS, TimeUnit.MILLISECONDS);
            throw new Mismatch(what + ": expected an error, got " + value);
        } catch (ExecutionException e) {
            return e.getCause();
        } catch (TimeoutException e) {
            throw new Mismatch(what + ": no answer within " + STEP_TIMEOUT_MS + " ms");
        }
    }

    /** Polls until {@code condition} returns non-null (returned); fails naming {@code what}. */
    static <T> T waitFor(String what, Supplier<T> condition) throws InterruptedException {
        long deadline = System.currentTimeMillis() + STEP_TIMEOUT_MS;
        RuntimeException last = null;
        while (System.currentTimeMillis() < deadline) {
            try {
                T value = condition.get();
                if (value != null) return value;
            } catch (RuntimeException e) {
                last = e;
            }
            Thread.sleep(100);
        }
        throw new Mismatch("timed out after " + STEP_TIMEOUT_MS + " ms waiting for " + what
            + (last == null ? "" : " (last error: " + describe(last) + ")"));
    }

    static String unique(String prefix) {
        return prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    /** {@code args[0]} is the bootstrap address; the rest name scenarios to run. */
    static List<String> scenarioArgs(String[] args) {
        return Arrays.asList(args).subList(Math.min(1, args.length), args.length);
    }
}
