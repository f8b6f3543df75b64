package dev.eventpaths.bench;

import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import java.util.function.ToDoubleFunction;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The guest suite: many paired guest links (docs/PROTOCOL.md, section 5) through the gateway to
 * the echo app, beside a Node.js http2 relay doing the same pairing, measured in the same run by
 * the same client ({@link GuestLoad}). See bench/README.md.
 *
 * <p>Per peer: open the pairs, load them (every link keeps a window of events in flight) for a
 * warm-up and a measured window, pace them at half that peak for another measured window, close
 * them; then measure the server's heap (after a full GC) before and after opening as many idle
 * pairs again.
 */
final class GatewaySuite {
  private GatewaySuite() {}

  /** Settings, from system properties ({@code -Dbench.gateway.*}). */
  record Settings(int pairs, int connections, int perGuest, int window, int pacedCap, double warmupSeconds,
      double maxWarmupSeconds, double seconds, double pacedShare, List<String> peers) {
    /** What the paced phase is called in the report: "half peak", or "25% of peak". */
    String paced() {
      return pacedShare == 0.5 ? "half peak" : String.format(Locale.ROOT, "%.0f%% of peak", pacedShare * 100);
    }

    static Settings fromSystemProperties() {
      Settings s = new Settings(
          Integer.getInteger("bench.gateway.pairs", 1000),
          Integer.getInteger("bench.gateway.connections", 20),
          Integer.getInteger("bench.gateway.linksPerGuest", 10),
          Integer.getInteger("bench.gateway.window", 8),
          Integer.getInteger("bench.gateway.pacedCap", 64),
          Double.parseDouble(System.getProperty("bench.gateway.warmupSeconds", "10")),
          Double.parseDouble(System.getProperty("bench.gateway.maxWarmupSeconds", "30")),
          Double.parseDouble(System.getProperty("bench.gateway.seconds", "10")),
          Double.parseDouble(System.getProperty("bench.gateway.pacedShare", "0.5")),
          List.of(System.getProperty("bench.gateway.peers", "gateway,vertx,node").split(",")));
      if (s.pairs < 1 || s.pairs > 100_000 || s.connections < 1 || s.perGuest < 1 || s.perGuest > 16
          || s.seconds <= 0 || s.seconds > 120 || s.warmupSeconds < 0 || s.maxWarmupSeconds > 120
          || s.maxWarmupSeconds < s.warmupSeconds || !(s.pacedShare > 0 && s.pacedShare <= 1)) {
        throw new IllegalArgumentException("bench.gateway.*: pairs 1..100000, connections >= 1, linksPerGuest 1..16, "
            + "seconds 0..120, warmupSeconds <= maxWarmupSeconds <= 120, pacedShare in (0, 1]");
      }
      if (2 * Math.ceil(s.pairs / (double) s.connections) > 200) {
        throw new IllegalArgumentException("bench.gateway.connections: " + s.pairs + " pairs need at least "
            + (int) Math.ceil(s.pairs / 100.0) + " connections (at most 200 guest streams per connection)");
      }
      return s;
    }
  }

  /** What one peer scored. */
  static final class Figures {
    final String peer;
    double openSeconds = Double.NaN;
    /** The same again later, on a warm server (the idle pairs of the memory figure). */
    double reopenSeconds = Double.NaN;
    double warmupSeconds = Double.NaN;
    GuestLoad.Window peak;
    GuestLoad.Drained warmupDrained;
    GuestLoad.Drained peakDrained;
    Cpu peakCpu;
    Cpu pacedCpu;
    double pacedTarget = Double.NaN;
    GuestLoad.Window paced;
    GuestLoad.Drained pacedDrained;
    double heapBytesPerLink = Double.NaN;
    /** The same from the class histogram (live objects only, net over all classes): steadier. */
    double histogramBytesPerLink = Double.NaN;
    String heapDetail = "";
    /** The gateway's classes that grew most with the idle pairs: "bytes per link  instances per link  class". */
    final List<String> perLinkClasses = new ArrayList<>();
    final List<String> errors = new ArrayList<>();
    String failure;

    Figures(String peer) {
      this.peer = peer;
    }

    /** The last stop's counts: they are cumulative over the pairs' life. */
    GuestLoad.Drained drained() {
      return pacedDrained != null ? pacedDrained : peakDrained != null ? peakDrained : warmupDrained;
    }

    long lost() {
      GuestLoad.Drained d = drained();
      return d == null ? 0 : d.lost() + d.misordered();
    }
  }

  /** The section of the report, and whether anything was lost or failed. */
  record Outcome(String markdown, boolean lost) {}

  static final Map<String, String> NAMES = Map.of("gateway", "gateway + echo", "vertx", "Vert.x relay",
      "node", "Node http2 relay");

  static Outcome run(Bench.Config c, Procs procs) throws Exception {
    Settings s = Settings.fromSystemProperties();
    Path root = c.root();
    Path certs = root.resolve(".certs");
    for (String f : new String[] {"ca.crt", "server.crt", "server.key"}) {
      if (!Files.isRegularFile(certs.resolve(f))) {
        throw new IllegalStateException("no " + certs.resolve(f) + ": run .ci/dev-cert.sh (bench/run.sh does)");
      }
    }
    Path gatewayJar = root.resolve("gateway/target/quarkus-app/quarkus-run.jar");
    Path echoJar = root.resolve("read-services/echo/target/quarkus-app/quarkus-run.jar");
    for (Path jar : new Path[] {gatewayJar, echoJar}) {
      if (s.peers().contains("gateway") && !Files.isRegularFile(jar)) {
        throw new IllegalStateException("no packaged app at " + jar + ": build first (bench/run.sh does)");
      }
    }
    String node = s.peers().contains("node") ? findNode() : null;
    Bench.log("gateway suite: %,d paired guest links over %d connections, window %d, %.0f s warm-up, %.0f s measured, "
        + "peers %s", s.pairs(), s.connections(), s.window(), s.warmupSeconds(), s.seconds(), s.peers());

    // Start every server (in parallel), then measure one peer at a time.
    String secret = UUID.randomUUID().toString();
    Map<String, Procs.Server> servers = new LinkedHashMap<>();
    Procs.Server echo = null;
    if (s.peers().contains("gateway")) {
      int echoPort = Procs.freePort();
      List<String> cmd = new ArrayList<>(List.of(Procs.java()));
      cmd.addAll(c.serverJvm());
      cmd.addAll(List.of("-Dquarkus.http.host=127.0.0.1", "-Dquarkus.http.port=" + echoPort,
          "-Dquarkus.http.ssl-port=0", "-jar", echoJar.toString()));
      echo = procs.start("gateway-echo", echoPort, cmd, Map.of("EVENTPATHS_LINK_SECRET", secret));
      int plain = Procs.freePort();
      int tls = Procs.freePort();
      cmd = new ArrayList<>(List.of(Procs.java()));
      cmd.addAll(c.serverJvm());
      cmd.addAll(List.of("-Dquarkus.http.host=127.0.0.1", "-Dquarkus.http.port=" + plain,
          "-Dquarkus.http.ssl-port=" + tls,
          "-Dquarkus.tls.key-store.pem.0.cert=" + certs.resolve("server.crt"),
          "-Dquarkus.tls.key-store.pem.0.key=" + certs.resolve("server.key"),
          "-Deventpaths.targets.echo.url=http://127.0.0.1:" + echoPort,
          "-Dgateway.max-links-per-guest=16",
          "-Dgateway.max-streams-per-connection=200",
          "-jar", gatewayJar.toString()));
      servers.put("gateway", procs.start("gateway", tls, cmd,
          Map.of("EVENTPATHS_LINK_SECRET", secret, "GATEWAY_GUEST_KEY", UUID.randomUUID() + "-" + UUID.randomUUID())));
    }
    if (s.peers().contains("vertx")) {
      int port = Procs.freePort();
      servers.put("vertx", procs.start("vertx-relay", port, Procs.benchMain(c.serverJvm(), VertxRelay.class, "" + port,
          certs.resolve("server.crt").toString(), certs.resolve("server.key").toString()), Map.of()));
    }
    if (node != null) {
      int port = Procs.freePort();
      servers.put("node", procs.start("node-relay", port, List.of(node, "--expose-gc",
          root.resolve("bench/node-relay/relay.mjs").toString(), "" + port, certs.resolve("server.crt").toString(),
          certs.resolve("server.key").toString()), Map.of()));
    }
    if (echo != null) {
      Procs.awaitPort(echo, Duration.ofSeconds(60));
    }
    for (Procs.Server srv : servers.values()) {
      Procs.awaitPort(srv, Duration.ofSeconds(60));
    }

    Map<String, Figures> figures = new LinkedHashMap<>();
    for (var e : servers.entrySet()) {
      List<Procs.Server> cpu = new ArrayList<>(List.of(e.getValue()));
      if (e.getKey().equals("gateway")) {
        cpu.add(echo);
      }
      Figures f = new Figures(e.getKey());
      figures.put(e.getKey(), f);
      try {
        measure(s, certs.resolve("ca.crt"), e.getKey(), e.getValue(), echo, cpu, f);
      } catch (Exception ex) {
        f.failure = String.valueOf(ex);
        Bench.log("  %-16s FAILED: %s", NAMES.get(e.getKey()), ex);
        ex.printStackTrace();
      }
    }
    String versions = nodeVersion(node);
    return new Outcome(report(s, figures, versions),
        figures.values().stream().anyMatch(f -> f.lost() != 0 || f.failure != null));
  }

  private static void measure(Settings s, Path ca, String peer, Procs.Server server, Procs.Server echo,
      List<Procs.Server> cpu, Figures f) throws Exception {
    String name = NAMES.get(peer);
    int perConn = 2 * (int) Math.ceil(s.pairs() / (double) s.connections());
    int guestsNeeded = (int) Math.ceil(s.pairs() / (double) s.perGuest());
    try (GuestLoad g = new GuestLoad(name, server.port(), ca, s.connections(), perConn)) {
      // Load: open the pairs, warm up, measure the peak; then pace at half of it.
      List<String> guests = g.newGuests(guestsNeeded);
      long t0 = System.nanoTime();
      g.open(guests, s.pairs(), s.perGuest(), "b", 100);
      f.openSeconds = (System.nanoTime() - t0) / 1e9;
      Bench.log("  %-16s %,d pairs open in %.2f s", name, s.pairs(), f.openSeconds);
      g.load(s.window());
      f.warmupSeconds = warmUp(g, s, name, cpu);
      // Stop and drain between the warm-up and the measured load, so that no link goes without
      // an answer for longer than one phase (the link idle timeout is 45 s; see README).
      f.warmupDrained = g.stop(Duration.ofSeconds(30));
      logDrained(name, "warm-up", f.warmupDrained);
      g.load(s.window());
      Thread.sleep(2000); // ramp: every link's first window in flight, out of the figures
      Cpu.Start c0 = Cpu.start(cpu);
      f.peak = g.measure(s.seconds());
      f.peakCpu = c0.stop(f.peak.echoed());
      f.peakDrained = g.stop(Duration.ofSeconds(30));
      Bench.log("  %-16s peak %,10.0f events/s, round trip p50 %.2f ms, p99 %.2f ms, %d links starved (%s)", name,
          f.peak.perSecond(), f.peak.roundTripMillis(0.5), f.peak.roundTripMillis(0.99), f.peak.starved(), f.peakCpu);
      logDrained(name, "peak", f.peakDrained);

      f.pacedTarget = f.peak.perSecond() * s.pacedShare();
      g.pace(f.pacedTarget, s.pacedCap());
      Thread.sleep(2000); // lead-in: the pacer's first slots, out of the figures
      c0 = Cpu.start(cpu);
      f.paced = g.measure(s.seconds());
      f.pacedCpu = c0.stop(f.paced.echoed());
      f.pacedDrained = g.stop(Duration.ofSeconds(30));
      Bench.log("  %-16s paced at %,.0f events/s: %,10.0f events/s, round trip p50 %.2f ms, p99 %.2f ms, %,d slots "
          + "skipped, %d links starved (%s)", name, f.pacedTarget, f.paced.perSecond(), f.paced.roundTripMillis(0.5),
          f.paced.roundTripMillis(0.99), f.paced.skipped(), f.paced.starved(), f.pacedCpu);
      logDrained(name, "paced", f.pacedDrained);
      g.closeAll(Duration.ofSeconds(30));

      // Memory: the server's heap after a full GC, before and after opening idle pairs.
      Thread.sleep(500);
      long[] before = heap(peer, server, echo, g);
      boolean jvm = !peer.equals("node");
      Map<String, long[]> histogramBefore = jvm ? histogram(server.process().pid()) : Map.of();
      guests = g.newGuests(guestsNeeded);
      t0 = System.nanoTime();
      g.open(guests, s.pairs(), s.perGuest(), "i", 100);
      f.reopenSeconds = (System.nanoTime() - t0) / 1e9;
      Bench.log("  %-16s %,d pairs open in %.2f s (warm server)", name, s.pairs(), f.reopenSeconds);
      Thread.sleep(1000);
      long[] after = heap(peer, server, echo, g);
      if (jvm) {
        List<String> classes = peer.equals("gateway") ? f.perLinkClasses : new ArrayList<>();
        f.histogramBytesPerLink = perLinkClasses(histogramBefore, histogram(server.process().pid()), s.pairs(), classes);
      }
      f.heapBytesPerLink = (after[0] - before[0]) / (double) s.pairs();
      if (peer.equals("gateway")) {
        f.heapDetail = String.format(Locale.ROOT, "gateway heap %.1f -> %.1f MB; the echo app's (its host link end, "
            + "not counted) %.1f -> %.1f MB, %.1f KB per link", before[0] / 1e6, after[0] / 1e6, before[1] / 1e6,
            after[1] / 1e6, (after[1] - before[1]) / 1024.0 / s.pairs());
      } else if (peer.equals("vertx")) {
        f.heapDetail = String.format(Locale.ROOT, "heap %.1f -> %.1f MB", before[0] / 1e6, after[0] / 1e6);
      } else {
        f.heapDetail = String.format(Locale.ROOT, "V8 heap %.1f -> %.1f MB; outside it, external+arrayBuffers %+.1f KB "
            + "and rss %+.1f KB per pair", before[0] / 1e6, after[0] / 1e6,
            (after[1] - before[1]) / 1024.0 / s.pairs(), (after[2] - before[2]) / 1024.0 / s.pairs());
      }
      Bench.log("  %-16s heap per idle paired link: %.2f KB (%s); class histogram %.2f KB", name,
          f.heapBytesPerLink / 1024, f.heapDetail, f.histogramBytesPerLink / 1024);
      g.closeAll(Duration.ofSeconds(30));
      g.errors.forEach(f.errors::add);
      if (!f.errors.isEmpty()) {
        Bench.log("  %-16s %d stream errors, first: %s", name, f.errors.size(), f.errors.get(0));
      }
    }
  }

  /**
   * Loads the pairs for at least {@code warmupSeconds}, then in 2 s slices until the rate stops
   * rising (a slice under 5% above the one before) and the JIT compilers of the servers and of
   * this process used under 5% of the slice, or {@code maxWarmupSeconds} have passed: a freshly
   * started JVM keeps compiling for a while, more so when it shares its cores, and its rate can
   * look flat while it does (the links suite saw the compilers at 10-30% of the time for
   * millions of events).
   */
  private static double warmUp(GuestLoad g, Settings s, String name, List<Procs.Server> servers) throws Exception {
    long t0 = System.nanoTime();
    Thread.sleep((long) (s.warmupSeconds() * 1000));
    double last = g.measure(2).perSecond();
    double jitShare = Double.NaN;
    while ((System.nanoTime() - t0) / 1e9 + 2 <= s.maxWarmupSeconds()) {
      long jit0 = jitNanos(servers);
      long slice0 = System.nanoTime();
      double now = g.measure(2).perSecond();
      long jit = jitNanos(servers);
      jitShare = jit0 < 0 || jit < 0 ? 0 : (jit - jit0) / (double) (System.nanoTime() - slice0);
      boolean rising = now > last * 1.05;
      last = now;
      if (!rising && jitShare < 0.05) {
        break;
      }
    }
    double took = (System.nanoTime() - t0) / 1e9;
    Bench.log("  %-16s warmed up for %.0f s (last 2 s: %,.0f events/s, JIT %.0f%% of it)", name, took, last,
        100 * jitShare);
    return took;
  }

  /** JIT compiler CPU so far of these servers and this process; -1 if any cannot be read. */
  private static long jitNanos(List<Procs.Server> servers) {
    long sum = Procs.jitCpuNanos(ProcessHandle.current().pid());
    for (Procs.Server srv : servers) {
      long n = Procs.jitCpuNanos(srv.process().pid());
      if (n < 0 || sum < 0) {
        return -1;
      }
      sum += n;
    }
    return sum;
  }

  private static void logDrained(String name, String what, GuestLoad.Drained d) {
    if (d.lost() != 0 || d.misordered() != 0) {
      Bench.log("  %-16s %s: LOST %,d of %,d events, %,d out of order", name, what, d.lost(), d.sent(), d.misordered());
    }
  }

  /**
   * CPU over one measured window: the server processes (the gateway and the echo app, or node),
   * this JVM (the client) and everything else on the machine, as cores busy and per event.
   */
  record Cpu(double seconds, long events, long serverNanos, long firstNanos, long clientNanos, long otherNanos) {
    record Start(List<Procs.Server> servers, long t0, long server0, long first0, long client0, long busy0) {
      Cpu stop(long events) {
        long t = System.nanoTime() - t0;
        long server = cpuNanos(servers) - server0;
        long first = servers.get(0).cpuNanos() - first0;
        long client = Bench.selfCpuNanos() - client0;
        long busy = Bench.machineBusyNanos() - busy0;
        return new Cpu(t / 1e9, events, server, first, client, busy < 0 ? -1 : Math.max(0, busy - server - client));
      }
    }

    static Start start(List<Procs.Server> servers) {
      return new Start(servers, System.nanoTime(), cpuNanos(servers), servers.get(0).cpuNanos(), Bench.selfCpuNanos(),
          Bench.machineBusyNanos());
    }

    double serverMicrosPerEvent() {
      return serverNanos / 1e3 / Math.max(1, events);
    }

    /** The server CPU split by process: "gateway + echo app" (one process: just its figure). */
    String split() {
      return String.format(Locale.ROOT, "%.1f + %.1f", firstNanos / 1e3 / Math.max(1, events),
          (serverNanos - firstNanos) / 1e3 / Math.max(1, events));
    }

    double clientMicrosPerEvent() {
      return clientNanos / 1e3 / Math.max(1, events);
    }

    String cores() {
      return String.format(Locale.ROOT, "%.2f / %.2f / %s", serverNanos / 1e9 / seconds, clientNanos / 1e9 / seconds,
          otherNanos < 0 ? "?" : String.format(Locale.ROOT, "%.2f", otherNanos / 1e9 / seconds));
    }

    @Override
    public String toString() {
      return String.format(Locale.ROOT, "CPU us/event: server %.1f, client %.1f; cores busy server/client/other %s",
          serverMicrosPerEvent(), clientMicrosPerEvent(), cores());
    }
  }

  private static long cpuNanos(List<Procs.Server> servers) {
    long n = 0;
    for (Procs.Server s : servers) {
      n += s.cpuNanos();
    }
    return n;
  }

  /**
   * The server's memory after a full GC, in bytes. The gateway: [gateway heap, echo heap] via
   * {@code jcmd GC.run} and {@code GC.heap_info}. Node: [V8 heapUsed, external + arrayBuffers,
   * rss] from the relay's /stats (which runs {@code global.gc()} first).
   */
  private static long[] heap(String peer, Procs.Server server, Procs.Server echo, GuestLoad g) throws Exception {
    if (peer.equals("gateway")) {
      return new long[] {jvmHeapAfterGc(server.process().pid()), jvmHeapAfterGc(echo.process().pid())};
    }
    if (peer.equals("vertx")) {
      return new long[] {jvmHeapAfterGc(server.process().pid())};
    }
    JsonObject m = g.json("GET", "/stats");
    if (!m.getBoolean("gc", false)) {
      throw new IllegalStateException("the Node relay runs without --expose-gc");
    }
    return new long[] {m.getLong("heapUsed"), m.getLong("external") + m.getLong("arrayBuffers"), m.getLong("rss")};
  }

  private static final Pattern USED = Pattern.compile("used (\\d+)K");
  private static final Pattern HISTOGRAM_ROW = Pattern.compile("^\\s*\\d+:\\s+(\\d+)\\s+(\\d+)\\s+(\\S+)");

  /** Live objects by class (after the full GC {@code GC.class_histogram} runs): class -> [instances, bytes]. */
  static Map<String, long[]> histogram(long pid) throws Exception {
    Map<String, long[]> out = new java.util.HashMap<>();
    for (String line : jcmd(pid, "GC.class_histogram").split("\n")) {
      Matcher m = HISTOGRAM_ROW.matcher(line);
      if (m.find()) {
        out.merge(m.group(3), new long[] {Long.parseLong(m.group(1)), Long.parseLong(m.group(2))},
            (a, b) -> new long[] {a[0] + b[0], a[1] + b[1]});
      }
    }
    return out;
  }

  /**
   * The classes whose live bytes grew most from {@code before} to {@code after}, per link, into
   * {@code out}; returns the net growth of all classes together, in bytes per link.
   */
  static double perLinkClasses(Map<String, long[]> before, Map<String, long[]> after, int links,
      List<String> out) {
    long net = liveBytes(after) - liveBytes(before);
    after.entrySet().stream()
        .map(e -> {
          long[] b = before.getOrDefault(e.getKey(), new long[2]);
          return Map.entry(e.getKey(), new long[] {e.getValue()[0] - b[0], e.getValue()[1] - b[1]});
        })
        .filter(e -> e.getValue()[1] > 0)
        .sorted((x, y) -> Long.compare(y.getValue()[1], x.getValue()[1]))
        .limit(24)
        .forEach(e -> out.add(String.format(Locale.ROOT, "%,.0f B in %.1f x %s", e.getValue()[1] / (double) links,
            e.getValue()[0] / (double) links, e.getKey())));
    return net / (double) links;
  }

  private static long liveBytes(Map<String, long[]> histogram) {
    return histogram.values().stream().mapToLong(v -> v[1]).sum();
  }

  static long jvmHeapAfterGc(long pid) throws Exception {
    jcmd(pid, "GC.run");
    jcmd(pid, "GC.run");
    String info = jcmd(pid, "GC.heap_info");
    Matcher m = USED.matcher(info);
    if (!m.find()) {
      throw new IllegalStateException("no used heap in jcmd GC.heap_info:\n" + info);
    }
    return Long.parseLong(m.group(1)) * 1024;
  }

  private static String jcmd(long pid, String command) throws Exception {
    Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
    Process p = new ProcessBuilder(Files.isExecutable(jcmd) ? jcmd.toString() : "jcmd", "" + pid, command)
        .redirectErrorStream(true).start();
    byte[] out = p.getInputStream().readAllBytes();
    if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IllegalStateException("jcmd " + pid + " " + command + " failed:\n" + new String(out, StandardCharsets.UTF_8));
    }
    return new String(out, StandardCharsets.UTF_8);
  }

  private static String findNode() {
    String env = System.getenv("BENCH_NODE");
    if (env != null && !env.isBlank()) {
      return env;
    }
    for (String dir : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
      Path p = Path.of(dir, "node");
      if (Files.isExecutable(p)) {
        return p.toString();
      }
    }
    throw new IllegalStateException("no node on the PATH (the Node relay peer needs Node.js 18+; "
        + "or leave it out with -Dbench.gateway.peers=gateway)");
  }

  private static String nodeVersion(String node) {
    if (node == null) {
      return "";
    }
    try {
      Process p = new ProcessBuilder(node, "--version").redirectErrorStream(true).start();
      String v = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
      p.waitFor(10, TimeUnit.SECONDS);
      return v;
    } catch (IOException | InterruptedException e) {
      return "?";
    }
  }

  // --- the report ---

  private static String report(Settings s, Map<String, Figures> figures, String nodeVersion) {
    Figures gw = figures.get("gateway");
    Figures vx = figures.get("vertx");
    Figures nd = figures.get("node");
    Figures[] cols = {gw, vx, nd};
    StringBuilder b = new StringBuilder();
    b.append("## Guest links: the gateway beside a Node.js http2 relay and a Vert.x relay\n\n");
    b.append(String.format(Locale.ROOT,
        "%,d paired guest links (an upload and a download each: %,d streams over %d TLS connections, h2 via ALPN, "
            + "%d links per guest), 200-byte events echoed. **gateway + echo**: the packaged gateway, a host link per "
            + "pair to the packaged echo app (h2c, loopback). **Node http2 relay**: `bench/node-relay/relay.mjs` "
            + "(Node %s, built-in `http2`), the same pairing, each upload piped into its download. **Vert.x relay**: "
            + "the same relay on Vert.x and the JDK's TLS, one event loop per core (`VertxRelay`): the floor of "
            + "any JVM gateway on this stack. One client for all (`GuestLoad`, Vert.x). Peak: every link keeps %d "
            + "events in flight; a warm-up of %s s (at least %.0f s, then until the rate stops rising), a stop until "
            + "every event is back, 2 s of load again, then %.0f s measured. Paced (%s): each peer paced at %.0f%% of "
            + "its own peak, one event per write, %.0f s measured.%n%n",
        s.pairs(), 2 * s.pairs(), s.connections(), s.perGuest(), nodeVersion.isEmpty() ? "-" : nodeVersion, s.window(),
        warmups(figures), s.warmupSeconds(), s.seconds(), s.paced(), s.pacedShare() * 100, s.seconds()));
    b.append(String.format(Locale.ROOT, "| %,d guest links, 200-byte events | gateway + echo | Vert.x relay "
        + "| Node http2 relay | gateway / Node | Vert.x relay / Node | goal |%n", s.pairs()));
    b.append("|---|---:|---:|---:|---:|---:|---|\n");
    double gPeak = peak(gw);
    double nPeak = peak(nd);
    row(b, "echo at peak, events/s", cols, GatewaySuite::peak, "%,.0f",
        goal(gPeak >= 1.5 * nPeak, gPeak, nPeak, "at least 1.5x Node's"));
    row(b, String.format(Locale.ROOT, "links starved at peak (no answer in the whole window, of %,d)", s.pairs()),
        cols, f -> starved(f, true), "%,.0f", "");
    row(b, "round trip p50 at peak, ms", cols, f -> rt(f, true, 0.5), "%.2f", "");
    row(b, "round trip p99 at peak, ms", cols, f -> rt(f, true, 0.99), "%.2f", "");
    String at = s.paced();
    row(b, "paced at " + at + ", events/s", cols, f -> f.paced == null ? Double.NaN : f.paced.perSecond(), "%,.0f",
        "");
    row(b, "links starved at " + at, cols, f -> starved(f, false), "%,.0f", "");
    row(b, "round trip p50 at " + at + ", ms", cols, f -> rt(f, false, 0.5), "%.2f", "");
    double gP99 = gw == null ? Double.NaN : rt(gw, false, 0.99);
    row(b, "round trip p99 at " + at + ", ms", cols, f -> rt(f, false, 0.99), "%.2f",
        s.pacedShare() == 0.5 ? goal(gP99 < 5, gP99, 0, "under 5 ms") : "(the 5 ms goal is at half peak)");
    double gHeap = gw == null ? Double.NaN : gw.heapBytesPerLink / 1024;
    row(b, "heap per idle paired link, KB (after GC)", cols, f -> f.heapBytesPerLink / 1024, "%.2f",
        goal(gHeap <= 10, gHeap, 0, "at most 10 KB"));
    row(b, "the same from the class histogram, KB (JVMs)", cols, f -> f.histogramBytesPerLink / 1024, "%.2f", "");
    row(b, "server CPU per event at peak, us", cols, f -> cpu(f, true, true), "%.1f", "");
    textRow(b, "of it, gateway + echo app, us", cols, f -> f.peer.equals("gateway") && f.peakCpu != null
        ? f.peakCpu.split() : "-");
    row(b, "client CPU per event at peak, us", cols, f -> cpu(f, true, false), "%.1f", "");
    row(b, "server CPU per event at " + at + ", us", cols, f -> cpu(f, false, true), "%.1f", "");
    textRow(b, "of it, gateway + echo app, us", cols, f -> f.peer.equals("gateway") && f.pacedCpu != null
        ? f.pacedCpu.split() : "-");
    row(b, "client CPU per event at " + at + ", us", cols, f -> cpu(f, false, false), "%.1f", "");
    textRow(b, "cores busy at peak: server / client / other", cols, f -> cores(f, true));
    textRow(b, "cores busy at " + at + ": server / client / other", cols, f -> cores(f, false));
    row(b, String.format(Locale.ROOT, "open %,d pairs, s", s.pairs()), cols, f -> f.openSeconds, "%.2f", "");
    row(b, String.format(Locale.ROOT, "open %,d pairs again (warm server), s", s.pairs()), cols,
        f -> f.reopenSeconds, "%.2f", "");
    b.append('\n');
    for (Figures f : figures.values()) {
      String n = NAMES.get(f.peer);
      if (f.failure != null) {
        b.append("- **").append(n).append(" FAILED**: ").append(f.failure).append('\n');
      }
      if (!f.heapDetail.isEmpty()) {
        b.append("- ").append(n).append(", memory: ").append(f.heapDetail).append('\n');
      }
      if (!f.perLinkClasses.isEmpty()) {
        b.append("- ").append(n).append(", what an idle link holds (`jcmd GC.class_histogram` growth per link, "
            + "largest first): ").append(String.join("; ", f.perLinkClasses)).append('\n');
      }
      if (f.paced != null) {
        b.append(String.format(Locale.ROOT, "- %s, %s: paced at %,.0f events/s, %,d slots skipped (a link "
            + "already had %d events in flight)%n", n, s.paced(), f.pacedTarget, f.paced.skipped(), s.pacedCap()));
      }
      GuestLoad.Drained d = f.drained();
      if (d != null && (d.lost() != 0 || d.misordered() != 0)) {
        b.append(String.format(Locale.ROOT, "- **%s: %,d of %,d events never came back, %,d out of order**%n", n,
            d.lost(), d.sent(), d.misordered()));
      }
      if (!f.errors.isEmpty()) {
        b.append(String.format(Locale.ROOT, "- %s: %d stream errors, first: `%s`%n", n, f.errors.size(),
            f.errors.get(0).replace('`', '\'')));
      }
    }
    return b.toString();
  }

  private static String warmups(Map<String, Figures> figures) {
    StringBuilder b = new StringBuilder();
    for (Figures f : figures.values()) {
      if (!Double.isNaN(f.warmupSeconds)) {
        b.append(b.length() == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.0f (%s)", f.warmupSeconds,
            NAMES.get(f.peer)));
      }
    }
    return b.length() == 0 ? "-" : b.toString();
  }

  private static double cpu(Figures f, boolean peak, boolean server) {
    Cpu c = peak ? f.peakCpu : f.pacedCpu;
    return c == null ? Double.NaN : server ? c.serverMicrosPerEvent() : c.clientMicrosPerEvent();
  }

  private static String cores(Figures f, boolean peak) {
    Cpu c = peak ? f.peakCpu : f.pacedCpu;
    return c == null ? "-" : c.cores();
  }

  private static void textRow(StringBuilder b, String label, Figures[] cols, Function<Figures, String> v) {
    b.append("| ").append(label);
    for (Figures f : cols) {
      b.append(" | ").append(f == null ? "-" : v.apply(f));
    }
    b.append(" | - | - |  |\n");
  }

  private static double peak(Figures f) {
    return f == null || f.peak == null ? Double.NaN : f.peak.perSecond();
  }

  private static double starved(Figures f, boolean peak) {
    GuestLoad.Window w = peak ? f.peak : f.paced;
    return w == null ? Double.NaN : w.starved();
  }

  private static double rt(Figures f, boolean peak, double q) {
    GuestLoad.Window w = peak ? f.peak : f.paced;
    return w == null ? Double.NaN : w.roundTripMillis(q);
  }

  private static String goal(boolean met, double a, double b, String what) {
    if (Double.isNaN(a) || Double.isNaN(b)) {
      return what + ": no figure";
    }
    return what + ": " + (met ? "met" : "**NOT met**");
  }

  /** One figure for each of gateway, Vert.x relay and Node ({@code null}: not run), then their ratios to Node's. */
  private static void row(StringBuilder b, String label, Figures[] cols, ToDoubleFunction<Figures> v, String fmt,
      String goal) {
    double[] x = new double[cols.length];
    b.append("| ").append(label);
    for (int i = 0; i < cols.length; i++) {
      x[i] = cols[i] == null ? Double.NaN : v.applyAsDouble(cols[i]);
      b.append(" | ").append(fmt(x[i], fmt));
    }
    double n = x[2];
    b.append(" | ").append(ratio(x[0], n)).append(" | ").append(ratio(x[1], n)).append(" | ").append(goal)
        .append(" |\n");
  }

  private static String ratio(double a, double b) {
    return Double.isNaN(a) || Double.isNaN(b) || b == 0 ? "-" : String.format(Locale.ROOT, "%.2f", a / b);
  }

  private static String fmt(double v, String fmt) {
    return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, fmt, v);
  }
}
