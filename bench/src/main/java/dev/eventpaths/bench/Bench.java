package dev.eventpaths.bench;

import dev.eventpaths.internal.LinkSettings;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;

/**
 * The benchmark: eventpaths links beside a raw Vert.x HTTP/2 byte echo and a gRPC-java
 * bidirectional stream, all measured in one run. See bench/README.md; run it with bench/run.sh.
 *
 * <p>Each peer's server is its own JVM process on a free loopback port (the packaged echo app
 * for the links); the clients all run in this JVM, one peer at a time. Settings are system
 * properties ({@code -Dbench.events=...}), listed in {@link Config}.
 */
public final class Bench {
  private Bench() {}

  /** Run settings, from system properties. */
  /**
   * {@code -Dbench.linkWindow=N}: the links' HTTP/2 stream window on both sides
   * ({@code eventpaths.link.stream-window} of the client and of the echo app, which grants it to
   * each host link), or null for the library's defaults (1 MiB).
   */
  static final LinkSettings LINK_SETTINGS = System.getProperty("bench.linkWindow") == null ? LinkSettings.DEFAULTS
      : LinkSettings.DEFAULTS.withStreamWindow(Integer.getInteger("bench.linkWindow"));

  record Config(Path root, List<String> suites, long events, long warmupEvents, int links, int roundTrips,
      int warmupRoundTrips, int rounds, List<String> peers, List<String> serverJvm, Path out) {
    static Config fromSystemProperties() {
      Path root = Path.of(System.getProperty("bench.root", guessRoot())).toAbsolutePath().normalize();
      long events = Long.getLong("bench.events", 2_000_000L);
      List<String> suites = switch (System.getProperty("bench.suite", "all")) {
        case "all" -> List.of("codec", "links", "gateway");
        case "codec" -> List.of("codec");
        case "links" -> List.of("links");
        case "gateway" -> List.of("gateway");
        case "soak" -> List.of("soak"); // not in "all": minutes long, see SoakSuite
        default -> throw new IllegalArgumentException("bench.suite: all, codec, links, gateway or soak (browser: bench/run.sh only), not '"
            + System.getProperty("bench.suite") + "'");
      };
      return new Config(root,
          suites,
          events,
          Long.getLong("bench.warmup", Math.min(events, 300_000L)),
          Integer.getInteger("bench.links", 100),
          Integer.getInteger("bench.roundtrips", 2_000),
          Integer.getInteger("bench.warmupRoundtrips", 2_000),
          Integer.getInteger("bench.rounds", 1),
          List.of(System.getProperty("bench.peers", "links,grpc,raw").split(",")),
          List.of(System.getProperty("bench.serverJvm", "-Xms256m -Xmx1g").trim().split("\\s+")),
          Path.of(System.getProperty("bench.out",
              root.resolve(suites.equals(List.of("soak")) ? "bench/results/soak.md" : "bench/results/latest.md").toString())));
    }

    private static String guessRoot() {
      Path here = Path.of("").toAbsolutePath();
      return here.getFileName() != null && here.getFileName().toString().equals("bench") ? here.getParent().toString()
          : here.toString();
    }
  }

  /** One timed run of a throughput measurement. */
  record Throughput(long events, long received, long nanos, long cpuNanos, double otherCores) {
    /** Events sent that never arrived (or arrived more than once, if negative). */
    long lost() {
      return events - received;
    }

    double perSecond() {
      return received * 1e9 / nanos;
    }

    double cpuMicrosPerEvent() {
      return cpuNanos / 1e3 / events;
    }
  }

  /** What one peer scored over all rounds. */
  static final class Scores {
    final Map<String, List<Throughput>> throughput = new LinkedHashMap<>();
    final List<long[]> roundTrips = new ArrayList<>();

    Throughput median(String measure) {
      List<Throughput> runs = new ArrayList<>(throughput.getOrDefault(measure, List.of()));
      if (runs.isEmpty()) {
        return null;
      }
      runs.sort((a, b) -> Double.compare(a.perSecond(), b.perSecond()));
      return runs.get(runs.size() / 2);
    }

    /** The {@code q} quantile of all round trips, in microseconds. */
    double roundTripMicros(double q) {
      long[] all = roundTrips.stream().flatMapToLong(Arrays::stream).sorted().toArray();
      if (all.length == 0) {
        return Double.NaN;
      }
      int i = (int) Math.min(all.length - 1, Math.max(0, Math.ceil(q * all.length) - 1));
      return all[i] / 1e3;
    }
  }

  static final String ONE_WAY = "one way";
  static final String ECHO_1 = "echo, 1 link";
  static final Map<String, String> PEER_NAMES =
      Map.of("links", "eventpaths links", "grpc", "gRPC-java", "raw", "raw Vert.x h2");

  public static void main(String[] args) {
    int status;
    try {
      status = run(Config.fromSystemProperties());
    } catch (Throwable t) {
      t.printStackTrace();
      status = 1;
    }
    System.exit(status); // also ends the non-daemon threads gRPC and Vert.x leave behind
  }

  private static int run(Config c) throws Exception {
    Instant started = Instant.now();
    StringBuilder sections = new StringBuilder();
    boolean bad = false;
    if (c.suites().contains("codec")) {
      sections.append(CodecSuite.run(c.rounds())).append('\n');
    }
    if (c.suites().contains("links")) {
      bad |= runLinks(c, sections);
    }
    if (c.suites().contains("gateway")) {
      try (Procs procs = new Procs(c.root().resolve("bench/target/bench-logs"))) {
        GatewaySuite.Outcome o = GatewaySuite.run(c, procs);
        if (sections.length() > 0) {
          sections.append('\n');
        }
        sections.append(o.markdown());
        bad |= o.lost();
      }
    }
    if (c.suites().contains("soak")) {
      try (Procs procs = new Procs(c.root().resolve("bench/target/bench-logs"))) {
        GatewaySuite.Outcome o = SoakSuite.run(c, procs);
        sections.append(o.markdown());
        bad |= o.lost();
      }
    }
    String table = header(c, Duration.between(started, Instant.now())) + sections;
    System.out.println();
    System.out.println(table);
    Files.createDirectories(c.out().getParent());
    Files.writeString(c.out(), table);
    log("written to %s", c.root().relativize(c.out().toAbsolutePath()));
    if (bad) {
      log("EVENTS WERE LOST OR A PEER FAILED: see the table (exit status 3)");
    }
    return bad ? 3 : 0;
  }

  /** The host-to-host suite: links beside gRPC and raw Vert.x. Returns whether events were lost. */
  private static boolean runLinks(Config c, StringBuilder out) throws Exception {
    BenchEvents.checkCount(c.events());
    BenchEvents.checkCount(c.warmupEvents());
    if (c.links() < 1 || c.rounds() < 1 || c.roundTrips() < 1 || c.warmupRoundTrips() < 0) {
      throw new IllegalArgumentException("bench.links, bench.rounds and bench.roundtrips must be positive");
    }
    String echoN = "echo, " + c.links() + " links";
    Path jar = c.root().resolve("read-services/echo/target/quarkus-app/quarkus-run.jar");
    if (c.peers().contains("links") && !Files.isRegularFile(jar)) {
      throw new IllegalStateException("no packaged echo app at " + jar + ": build first (bench/run.sh does)");
    }
    log("bench: %,d events per throughput run (warm-up %,d), %d links, %,d round trips, %d round(s), peers %s",
        c.events(), c.warmupEvents(), c.links(), c.roundTrips(), c.rounds(), c.peers());

    Map<String, Scores> scores = new LinkedHashMap<>();
    try (Procs procs = new Procs(c.root().resolve("bench/target/bench-logs"))) {
      // Start every server first (they start in parallel), then measure one peer at a time.
      String secret = UUID.randomUUID().toString();
      Map<String, Procs.Server> servers = new LinkedHashMap<>();
      for (String peer : c.peers()) {
        int port = Procs.freePort();
        List<String> cmd = switch (peer) {
          case "links" -> {
            List<String> l = new ArrayList<>(List.of(Procs.java()));
            l.addAll(c.serverJvm());
            // the server's side of the window, as a deployment would set it
            l.addAll(List.of("-Dquarkus.http.host=127.0.0.1", "-Dquarkus.http.port=" + port,
                "-Deventpaths.link.stream-window=" + LINK_SETTINGS.streamWindow(),
                "-Dquarkus.http.http2-connection-window-size=" + LINK_SETTINGS.connectionWindow(),
                "-jar", jar.toString()));
            yield l;
          }
          case "grpc" -> Procs.benchMain(c.serverJvm(), GrpcEchoServer.class, "" + port);
          case "raw" -> Procs.benchMain(c.serverJvm(), RawEchoServer.class, "" + port);
          default -> throw new IllegalArgumentException("unknown peer '" + peer + "' (links, grpc, raw)");
        };
        servers.put(peer, procs.start(peer, port, cmd, Map.of("EVENTPATHS_LINK_SECRET", secret)));
      }
      for (Procs.Server s : servers.values()) {
        Procs.awaitPort(s, Duration.ofSeconds(60));
      }
      Map<String, Peer> peers = new LinkedHashMap<>();
      for (String name : c.peers()) {
        Procs.Server s = servers.get(name);
        peers.put(name, switch (name) {
          case "links" -> new LinksPeer(URI.create("http://127.0.0.1:" + s.port()), secret, LINK_SETTINGS);
          case "grpc" -> new GrpcPeer(s.port());
          default -> new RawPeer(s.port());
        });
        scores.put(name, new Scores());
      }
      try {
        for (var e : peers.entrySet()) {
          Peer p = e.getValue();
          log("warm-up: %s", p.name());
          warmPass(p, c, echoN);
          warmUntilJitQuiet(p, servers.get(e.getKey()), c, echoN);
          if (c.warmupRoundTrips() > 0) {
            p.roundTrips(c.warmupRoundTrips());
          }
        }
        for (int round = 1; round <= c.rounds(); round++) {
          for (var e : peers.entrySet()) {
            Peer p = e.getValue();
            Procs.Server server = servers.get(e.getKey());
            Scores sc = scores.get(e.getKey());
            record(sc, ONE_WAY, measure(p, ONE_WAY, server, c.events(), () -> p.oneWay(c.events())));
            record(sc, ECHO_1, measure(p, ECHO_1, server, c.events(), () -> p.echo(1, c.events())));
            record(sc, echoN, measure(p, echoN, server, c.events(), () -> p.echo(c.links(), c.events())));
            System.gc();
            long[] rt = p.roundTrips(c.roundTrips());
            sc.roundTrips.add(rt);
            long[] sorted = rt.clone();
            Arrays.sort(sorted);
            log("  %-16s round trips: p50 %.0f us, p99 %.0f us", p.name(), sorted[sorted.length / 2] / 1e3,
                sorted[(int) Math.ceil(0.99 * sorted.length) - 1] / 1e3);
          }
        }
      } finally {
        for (Peer p : peers.values()) {
          try {
            p.close();
          } catch (Exception ignored) {
            // closing is best effort; the servers are stopped anyway
          }
        }
      }
    }

    out.append(report(c, scores, echoN));
    return scores.values().stream().flatMap(sc -> sc.throughput.values().stream()).flatMap(List::stream)
        .anyMatch(t -> t.lost() != 0) || !WARMUP_LOSSES.isEmpty();
  }

  /** A warm-up pass is repeated until its JIT compile time is under this share of the pass. */
  private static final double JIT_QUIET = 0.05;
  private static final int MAX_JIT_PASSES = 12;
  /** Per peer: the JIT's share of each warm-up pass, for the report ("71% 40% 3%"). */
  private static final Map<String, String> JIT_SHARES = new LinkedHashMap<>();

  /**
   * Repeats the warm-up (one way, echo on 1 and on N links) until a pass's JIT compile time, in
   * this process and the peer's server together, is under 5% of the pass's length: every peer
   * is measured at its steady state, however much code its JVMs have to compile first. The
   * fixed 300,000-event warm-up left the links' JVMs compiling (a 3,000,000-event warm-up took
   * one link from 1.0M to 2.1M events/s one way while the raw echo, far less code, stayed at
   * 2.8M), so the ratios measured the JIT as much as the peers. Where /proc is missing the
   * fixed warm-up is all there is.
   */
  private static void warmUntilJitQuiet(Peer p, Procs.Server server, Config c, String echoN) throws Exception {
    long self = ProcessHandle.current().pid();
    long serverPid = server.process().pid();
    List<String> shares = new ArrayList<>();
    for (int pass = 1; pass <= MAX_JIT_PASSES; pass++) {
      long jit0 = Procs.jitCpuNanos(self);
      long jitServer0 = Procs.jitCpuNanos(serverPid);
      if (jit0 < 0 || jitServer0 < 0) {
        return;
      }
      long t0 = System.nanoTime();
      warmPass(p, c, echoN);
      long wall = System.nanoTime() - t0;
      long jitHere = Procs.jitCpuNanos(self) - jit0;
      long jitServer = Procs.jitCpuNanos(serverPid) - jitServer0;
      long jit = jitHere + jitServer;
      shares.add(String.format(Locale.ROOT, "%.0f%% (%.0f+%.0f)", 100.0 * jit / wall, 100.0 * jitHere / wall,
          100.0 * jitServer / wall));
      if (jit < JIT_QUIET * wall) {
        break;
      }
    }
    JIT_SHARES.put(p.name(), String.join(" ", shares));
    log("  %-16s JIT share of each further warm-up pass: %s", p.name(), JIT_SHARES.get(p.name()));
  }

  /** One warm-up pass: one way, echo on one link, echo on N links, {@code warmupEvents} each. */
  private static void warmPass(Peer p, Config c, String echoN) throws Exception {
    warm(p, ONE_WAY, c.warmupEvents(), p.oneWay(c.warmupEvents()));
    warm(p, ECHO_1, c.warmupEvents(), p.echo(1, c.warmupEvents()));
    warm(p, echoN, c.warmupEvents(), p.echo(c.links(), c.warmupEvents()));
  }

  /** Losses seen in warm-ups: "peer, measure: n of m events". */
  private static final List<String> WARMUP_LOSSES = new ArrayList<>();

  private static void warm(Peer p, String what, long sent, long arrived) {
    if (arrived != sent) {
      log("  %-16s %-15s LOST %,d of %,d events in the warm-up", p.name(), what, sent - arrived, sent);
      WARMUP_LOSSES.add(String.format(Locale.ROOT, "%s, %s (warm-up): %,d of %,d events did not arrive", p.name(), what,
          sent - arrived, sent));
    }
  }

  private static void record(Scores sc, String measure, Throughput t) {
    sc.throughput.computeIfAbsent(measure, k -> new ArrayList<>()).add(t);
  }

  private static Throughput measure(Peer p, String what, Procs.Server server, long expected, Callable<Long> run)
      throws Exception {
    System.gc();
    long cpu0 = selfCpuNanos() + server.cpuNanos();
    long busy0 = machineBusyNanos();
    long t0 = System.nanoTime();
    long got = run.call();
    long nanos = System.nanoTime() - t0;
    long cpu = selfCpuNanos() + server.cpuNanos() - cpu0;
    long busy = machineBusyNanos() - busy0;
    Throughput t = new Throughput(expected, got, nanos, cpu, busy < 0 ? Double.NaN : Math.max(0, busy - cpu) / (double) nanos);
    log("  %-16s %-15s %,12.0f events/s  (%.2f s, %.2f CPU us/event, other load %.2f cores)", p.name(), what,
        t.perSecond(), nanos / 1e9, t.cpuMicrosPerEvent(), t.otherCores());
    if (t.lost() != 0) {
      log("  %-16s %-15s LOST %,d of %,d events (%,d arrived)", p.name(), what, t.lost(), expected, got);
    }
    return t;
  }

  static long selfCpuNanos() {
    var os = ManagementFactory.getOperatingSystemMXBean();
    return os instanceof com.sun.management.OperatingSystemMXBean sun ? sun.getProcessCpuTime() : 0;
  }

  /** CPU time the whole machine spent busy (all processes), from /proc/stat; -1 if unknown. */
  static long machineBusyNanos() {
    try {
      String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
      long busy = 0;
      for (int i : new int[] {1, 2, 3, 6, 7, 8}) { // user nice system irq softirq steal
        busy += Long.parseLong(f[i]);
      }
      return busy * 10_000_000L; // USER_HZ = 100
    } catch (IOException | RuntimeException e) {
      return Long.MIN_VALUE / 4;
    }
  }

  // --- the report ---

  private static String header(Config c, Duration took) {
    return "# eventpaths benchmark: latest run\n\n" + String.format(Locale.ROOT,
        "%s, %d cores (%s), Java %s, took %d s. Command: `bench/run.sh`%s%n%n",
        Instant.now().truncatedTo(ChronoUnit.SECONDS), Runtime.getRuntime().availableProcessors(), cpuModel(),
        System.getProperty("java.version"), took.toSeconds(), flags(c));
  }

  private static String report(Config c, Map<String, Scores> scores, String echoN) {
    StringBuilder b = new StringBuilder();
    b.append("## Host-to-host links beside gRPC-java and raw Vert.x\n\n");
    b.append(String.format(Locale.ROOT,
        "200-byte events; %,d events per throughput run (after a %,d-event warm-up of each), "
            + "%,d round trips one at a time for latency; median of %d round(s).%n%n",
        c.events(), c.warmupEvents(), c.roundTrips(), c.rounds()));
    if (!JIT_SHARES.isEmpty()) {
      b.append("Then the warm-up is repeated until the JIT compilers (this process and the peer's server) use under 5% of "
          + "a pass; their share of each such pass: ");
      b.append(String.join("; ", JIT_SHARES.entrySet().stream().map(e -> e.getKey() + " " + e.getValue()).toList()));
      b.append(".\n\n");
    }
    String[] names = {"links", "grpc", "raw"};
    b.append("| 200-byte events | eventpaths links | gRPC-java | raw Vert.x h2 | links / gRPC | links / raw |\n");
    b.append("|---|---:|---:|---:|---:|---:|\n");
    List<String> losses = new ArrayList<>(WARMUP_LOSSES);
    for (String m : List.of(ONE_WAY, ECHO_1, echoN)) {
      double[] v = new double[3];
      for (int i = 0; i < 3; i++) {
        Scores s = scores.get(names[i]);
        Throughput t = s == null ? null : s.median(m);
        v[i] = t == null ? Double.NaN : t.perSecond();
        for (Throughput run : s == null ? List.<Throughput>of() : s.throughput.getOrDefault(m, List.of())) {
          if (run.lost() != 0) {
            losses.add(String.format(Locale.ROOT, "%s, %s: %,d of %,d events did not arrive", PEER_NAMES.get(names[i]), m, run.lost(),
                run.events()));
          }
        }
      }
      row(b, m + ", events/s", v, "%,.0f");
    }
    for (double q : new double[] {0.50, 0.99}) {
      double[] v = new double[3];
      for (int i = 0; i < 3; i++) {
        Scores s = scores.get(names[i]);
        v[i] = s == null ? Double.NaN : s.roundTripMicros(q);
      }
      row(b, "round trip p" + Math.round(q * 100) + ", us (lower is better)", v, "%,.0f");
    }
    if (!losses.isEmpty()) {
      b.append("\n**Events lost** (the figures above count only what arrived):\n\n");
      losses.forEach(l -> b.append("- ").append(l).append('\n'));
    }
    b.append("\nCPU used per event, client and server processes together, in microseconds "
        + "(\"other\": cores kept busy by everything else on the machine during that run):\n\n");
    b.append("| 200-byte events | eventpaths links | gRPC-java | raw Vert.x h2 | other (links, gRPC, raw) |\n");
    b.append("|---|---:|---:|---:|---|\n");
    for (String m : List.of(ONE_WAY, ECHO_1, echoN)) {
      b.append("| ").append(m);
      StringBuilder other = new StringBuilder();
      for (String n : names) {
        Scores s = scores.get(n);
        Throughput t = s == null ? null : s.median(m);
        b.append(" | ").append(t == null ? "-" : String.format(Locale.ROOT, "%.2f", t.cpuMicrosPerEvent()));
        other.append(other.length() == 0 ? "" : ", ")
            .append(t == null ? "-" : String.format(Locale.ROOT, "%.2f", t.otherCores()));
      }
      b.append(" | ").append(other).append(" |\n");
    }
    b.append("\nGoal: links at least gRPC-java's events/s and at least half the raw echo's:\n\n");
    for (String m : List.of(ONE_WAY, ECHO_1, echoN)) {
      Throughput l = med(scores, "links", m);
      Throughput g = med(scores, "grpc", m);
      Throughput r = med(scores, "raw", m);
      if (l == null) {
        continue;
      }
      String vsG = g == null ? "no gRPC figure" : (l.perSecond() >= g.perSecond() ? "met" : "NOT met") + " vs gRPC";
      String vsR = r == null ? "no raw figure" : (l.perSecond() >= r.perSecond() / 2 ? "met" : "NOT met") + " vs raw/2";
      b.append("- ").append(m).append(": ").append(vsG).append(", ").append(vsR).append('\n');
    }
    return b.toString();
  }

  private static Throughput med(Map<String, Scores> scores, String peer, String m) {
    Scores s = scores.get(peer);
    return s == null ? null : s.median(m);
  }

  private static void row(StringBuilder b, String label, double[] v, String fmt) {
    b.append("| ").append(label);
    for (double x : v) {
      b.append(" | ").append(Double.isNaN(x) ? "-" : String.format(Locale.ROOT, fmt, x));
    }
    b.append(" | ").append(ratio(v[0], v[1])).append(" | ").append(ratio(v[0], v[2])).append(" |\n");
  }

  private static String ratio(double a, double b) {
    return Double.isNaN(a) || Double.isNaN(b) || b == 0 ? "-" : String.format(Locale.ROOT, "%.2f", a / b);
  }

  private static String flags(Config c) {
    StringBuilder f = new StringBuilder();
    System.getProperties().stringPropertyNames().stream().sorted()
        .filter(k -> k.startsWith("bench.") && !k.equals("bench.root") && !k.equals("bench.out"))
        .forEach(k -> f.append(" -D").append(k).append('=').append(System.getProperty(k)));
    return f.length() == 0 ? "" : " (with" + f + ")";
  }

  private static String cpuModel() {
    try {
      return Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
          .map(l -> l.substring(l.indexOf(':') + 1).trim()).findFirst().orElse("unknown CPU");
    } catch (IOException e) {
      return "unknown CPU";
    }
  }

  static void log(String fmt, Object... args) {
    System.err.println(String.format(Locale.ROOT, fmt, args));
  }
}
