package dev.eventpaths.bench;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** The server processes of a run: started on free loopback ports, stopped at the end. */
final class Procs implements AutoCloseable {
  /** One started server. */
  record Server(String name, Process process, int port, Path log) {
    /** CPU time this process has used so far, in nanoseconds (0 if the OS does not say). */
    long cpuNanos() {
      return process.info().totalCpuDuration().map(Duration::toNanos).orElse(0L);
    }
  }

  private final Path logs;
  private final List<Server> servers = new ArrayList<>();

  Procs(Path logs) throws IOException {
    this.logs = Files.createDirectories(logs);
    Runtime.getRuntime().addShutdownHook(new Thread(this::close));
  }

  /**
   * CPU time the JIT compiler threads (HotSpot's C1/C2 "CompilerThread"s) of process {@code pid}
   * have used so far, in nanoseconds, from /proc; -1 where that cannot be read (not Linux).
   * /proc counts in USER_HZ ticks, which Linux fixes at 100 per second for user space.
   */
  static long jitCpuNanos(long pid) {
    try (var tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
      long ticks = 0;
      for (Path task : (Iterable<Path>) tasks::iterator) {
        String stat;
        try {
          stat = Files.readString(task.resolve("stat"));
        } catch (IOException threadEnded) {
          continue;
        }
        String comm = stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        if (!comm.matches("C\\d CompilerThre.*")) {
          continue;
        }
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        ticks += Long.parseLong(f[11]) + Long.parseLong(f[12]); // utime, stime
      }
      return ticks * 10_000_000L;
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  /** A port nobody listens on right now. */
  static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  /** The java launcher of this JVM, so every process runs on the same JDK. */
  static String java() {
    return Path.of(System.getProperty("java.home"), "bin", "java").toString();
  }

  /** The command that runs {@code main} from this bench's own classpath, with {@code jvm} options. */
  static List<String> benchMain(List<String> jvm, Class<?> main, String... args) {
    List<String> cmd = new ArrayList<>(List.of(java()));
    cmd.addAll(jvm);
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), main.getName()));
    cmd.addAll(List.of(args));
    return cmd;
  }

  Server start(String name, int port, List<String> command, Map<String, String> env) throws IOException {
    Path log = logs.resolve(name + ".log");
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().putAll(env);
    Server s = new Server(name, pb.start(), port, log);
    synchronized (servers) {
      servers.add(s);
    }
    return s;
  }

  /** Waits until {@code s} accepts connections; fails with its log if it dies or takes too long. */
  static void awaitPort(Server s, Duration timeout) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      if (!s.process().isAlive()) {
        throw new IllegalStateException(s.name() + " exited with " + s.process().exitValue() + ":\n" + tail(s.log()));
      }
      try (Socket socket = new Socket()) {
        socket.connect(new InetSocketAddress("127.0.0.1", s.port()), 200);
        return;
      } catch (IOException notYet) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException(s.name() + " did not listen on " + s.port() + " within " + timeout + ":\n"
              + tail(s.log()));
        }
        Thread.sleep(50);
      }
    }
  }

  static String tail(Path log) {
    try {
      List<String> lines = Files.readAllLines(log);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
    } catch (IOException e) {
      return "(no log: " + e.getMessage() + ")";
    }
  }

  /** Stops every server: SIGTERM, then SIGKILL after 10 s. */
  @Override
  public void close() {
    List<Server> all;
    synchronized (servers) {
      all = List.copyOf(servers);
      servers.clear();
    }
    for (Server s : all) {
      s.process().destroy();
    }
    for (Server s : all) {
      try {
        if (!s.process().waitFor(10, TimeUnit.SECONDS)) {
          s.process().destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        s.process().destroyForcibly();
        Thread.currentThread().interrupt();
      }
    }
  }
}
