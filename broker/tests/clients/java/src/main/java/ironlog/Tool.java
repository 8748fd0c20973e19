package ironlog;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

import org.apache.kafka.common.utils.Exit;

/**
 * Runs one of Kafka's command-line tools by its main class inside this JVM, as its shell
 * script would run it in its own: the arguments, stdin, and the stdout, stderr and exit
 * status it leaves. Kafka's tools exit through {@link Exit}, which is pointed at an
 * exception here; Scala tools print through {@code scala.Console}, which is redirected too.
 */
final class Tool {
    /** What one tool run left. */
    record Result(String command, int status, String out, String err) {
        @Override
        public String toString() {
            return command + " (exit " + status + ")\n----- stdout -----\n" + out + "----- stderr -----\n" + err;
        }
    }

    private static final class ToolExit extends RuntimeException {
        final int status;

        ToolExit(int status) {
            super(null, null, false, false);
            this.status = status;
        }
    }

    private Tool() {}

    /** {@code mainClass --bootstrap-server BOOTSTRAP args...}, as an operator types a tool
     *  against a cluster (empty stdin). */
    static Result against(String bootstrap, String mainClass, String... args) {
        String[] full = new String[args.length + 2];
        full[0] = "--bootstrap-server";
        full[1] = bootstrap;
        System.arraycopy(args, 0, full, 2, args.length);
        return run(mainClass, "", full);
    }

    static Result run(String mainClass, String stdin, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream oldOut = System.out, oldErr = System.err;
        InputStream oldIn = System.in;
        PrintStream newOut = new PrintStream(out, true, StandardCharsets.UTF_8);
        PrintStream newErr = new PrintStream(err, true, StandardCharsets.UTF_8);
        int status = 0;
        // The first exit ends a tool's process: later ones (a tool catching the exception
        // and exiting again) do not count.
        Integer[] firstExit = {null};
        Exit.Procedure exit = (code, message) -> {
            if (firstExit[0] == null) firstExit[0] = code;
            throw new ToolExit(code);
        };
        Exit.setExitProcedure(exit);
        Exit.setHaltProcedure(exit);
        System.setOut(newOut);
        System.setErr(newErr);
        System.setIn(new ByteArrayInputStream((stdin == null ? "" : stdin).getBytes(StandardCharsets.UTF_8)));
        try {
            int[] box = {0};
            scala.Console.withOut(newOut, () -> scala.Console.withErr(newErr, () -> {
                box[0] = invoke(mainClass, args);
                return null;
            }));
            status = firstExit[0] != null ? firstExit[0] : box[0];
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
            System.setIn(oldIn);
            Exit.resetExitProcedure();
            Exit.resetHaltProcedure();
        }
        String command = mainClass.substring(mainClass.lastIndexOf('.') + 1) + " " + String.join(" ", args);
        return new Result(command, status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** The exit status of {@code mainClass.main(args)}: 0 when it returns. */
    private static int invoke(String mainClass, String[] args) {
        try {
            Class.forName(mainClass).getMethod("main", String[].class).invoke(null, (Object) Arrays.copyOf(args, args.length));
            return 0;
        } catch (InvocationTargetException e) {
            for (Throwable c = e.getCause(); c != null; c = c.getCause()) {
                if (c instanceof ToolExit t) return t.status;
            }
            e.getCause().printStackTrace();
            return 255;
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot run " + mainClass + ": " + e, e);
        }
    }
}
