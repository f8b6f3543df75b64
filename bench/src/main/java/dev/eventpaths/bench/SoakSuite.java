package dev.eventpaths.bench;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The idle soak: many idle paired guest links (10,000 by default) through one packaged gateway
 * to the packaged echo app, held for minutes. Whether they all fit and stay (none dropped, each
 * still answers an event at the end), what each costs the gateway's heap, and whether they all
 * close cleanly. A soak, not a test: {@code bench/run.sh -Dbench.suite=soak} (bench/README.md).
 */
final class SoakSuite {
  private SoakSuite() {}

  /** Settings, from system properties ({@code -Dbench.soak.*}). */
  record Settings(int pairs, int connections, int perGuest, double seconds, List<String> gatewayArgs) {
    static Settings fromSystemProperties() {
      int pairs = Integer.getInteger("bench.soak.pairs", 10_000);
      Settings s = new Settings(pairs,
          Integer.getInteger("bench.soak.connections", (int) Math.ceil(pairs / 100.0)),
          Integer.getInteger("bench.soak.linksPerGuest", 10),
          Double.parseDouble(System.getProperty("bench.soak.seconds", "180")),
          List.of(System.getProperty("bench.soak.gatewayArgs", "").trim().split("\\s+")).stream()
              .filter(a -> !a.isEmpty()).toList());
      if (pairs < 1 || pairs > 100_000 || s.perGuest < 1 || s.perGuest > 16 || !(s.seconds > 0 && s.seconds <= 3600)) {
        throw new IllegalArgumentException("bench.soak.*: pairs 1..100000, linksPerGuest 1..16, seconds 0..3600");
      }
      if (2 * Math.ceil(pairs / (double) s.connections) > 200) {
        throw new IllegalArgumentException("bench.soak.connections: " + pairs + " pairs need at least "
            + (int) Math.ceil(pairs / 100.0) + " connections (at most 200 guest streams per connection)");
      }
      return s;
    }
  }

  /** The report section, and whether a link was dropped, lost an event or failed. */
  static GatewaySuite.Outcome run(Bench.Config c, Procs procs) throws Exception {
    Settings s = Settings.fromSystemProperties();
    Path root = c.root();
    Path certs = root.resolve(".certs");
    Path gatewayJar = root.resolve("gateway/target/quarkus-app/quarkus-run.jar");
    Path echoJar = root.resolve("read-services/echo/target/quarkus-app/quarkus-run.jar");
    for (Path f : List.of(certs.resolve("ca.crt"), certs.resolve("server.crt"), gatewayJar, echoJar)) {
      if (!Files.isRegularFile(f)) {
        throw new IllegalStateException("no " + f + ": build and make the certificate first (bench/run.sh does)");
      }
    }
    Bench.log("soak: %,d idle paired guest links over %d connections for %.0f s%s", s.pairs(), s.connections(),
        s.seconds(), s.gatewayArgs().isEmpty() ? "" : ", gateway " + s.gatewayArgs());

    String secret = UUID.randomUUID().toString();
    int echoPort = Procs.freePort();
    List<String> cmd = new ArrayList<>(List.of(Procs.java()));
    cmd.addAll(c.serverJvm());
    cmd.addAll(List.of("-Dquarkus.http.host=127.0.0.1", "-Dquarkus.http.port=" + echoPort,
        "-Dquarkus.http.ssl-port=0", "-jar", echoJar.toString()));
    Procs.Server echo = procs.start("soak-echo", echoPort, cmd, Map.of("EVENTPATHS_LINK_SECRET", secret));
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
        "-Dgateway.max-streams-per-connection=200"));
    cmd.addAll(s.gatewayArgs());
    cmd.addAll(List.of("-jar", gatewayJar.toString()));
    Procs.Server gateway = procs.start("soak-gateway", tls, cmd,
        Map.of("EVENTPATHS_LINK_SECRET", secret, "GATEWAY_GUEST_KEY", UUID.randomUUID() + "-" + UUID.randomUUID()));
    Procs.awaitPort(echo, Duration.ofSeconds(60));
    Procs.awaitPort(gateway, Duration.ofSeconds(60));

    List<String[]> rows = new ArrayList<>();
    List<String> classes = new ArrayList<>();
    List<String> problems = new ArrayList<>();
    int perConn = 2 * (int) Math.ceil(s.pairs() / (double) s.connections());
    long gw = gateway.process().pid();
    try (GuestLoad g = new GuestLoad("gateway + echo", gateway.port(), certs.resolve("ca.crt"), s.connections(), perConn)) {
      List<String> guests = g.newGuests((int) Math.ceil(s.pairs() / (double) s.perGuest()));
      long before = GatewaySuite.jvmHeapAfterGc(gw);
      long echoBefore = GatewaySuite.jvmHeapAfterGc(echo.process().pid());
      Map<String, long[]> histogramBefore = GatewaySuite.histogram(gw);
      long t0 = System.nanoTime();
      try {
        g.open(guests, s.pairs(), s.perGuest(), "s", 100);
      } catch (Exception e) {
        problems.add("opening: " + e.getMessage() + "; " + g.errors.size() + " stream errors, first: " + g.errors.peek());
        Bench.log("  soak: %s", problems.get(0));
        return new GatewaySuite.Outcome(report(s, rows, classes, problems), true);
      }
      double openSeconds = (System.nanoTime() - t0) / 1e9;
      Bench.log("  soak: %,d pairs open in %.1f s", s.pairs(), openSeconds);
      rows.add(row("pairs opened (100 at a time, each until its link.ready)", "%,d in %.1f s", s.pairs(), openSeconds));

      Thread.sleep(1000);
      long after = GatewaySuite.jvmHeapAfterGc(gw);
      long echoAfter = GatewaySuite.jvmHeapAfterGc(echo.process().pid());
      double histogramPerLink = GatewaySuite.perLinkClasses(histogramBefore, GatewaySuite.histogram(gw), s.pairs(), classes);
      double perLink = (after - before) / (double) s.pairs();
      Bench.log("  soak: heap per idle paired link %.2f KB (class histogram %.2f KB); gateway heap %.1f -> %.1f MB",
          perLink / 1024, histogramPerLink / 1024, before / 1e6, after / 1e6);
      rows.add(row("heap per idle paired link, gateway (used heap after GC)", "%.2f KB", perLink / 1024));
      rows.add(row("the same from the class histogram", "%.2f KB", histogramPerLink / 1024));
      rows.add(row("the echo app's heap per link (its end of the host link, not counted above)", "%.2f KB",
          (echoAfter - echoBefore) / 1024.0 / s.pairs()));
      Map<String, long[]> histogramOpened = GatewaySuite.histogram(gw);
      double echoLinks = echoLinksActive(echoPort);
      rows.add(row("echo's links open after opening", "%,.0f", echoLinks));

      // Hold: every 10 s, count pairs that ended (none should: heartbeats keep them).
      long holdStart = System.nanoTime();
      long ended = 0;
      while (System.nanoTime() - holdStart < s.seconds() * 1e9) {
        Thread.sleep((long) Math.min(10_000, Math.max(1, s.seconds() * 1000 - (System.nanoTime() - holdStart) / 1e6)));
        ended = g.pairsEnded();
        Bench.log("  soak: %3.0f s held, %,d pairs ended, echo has %,.0f links, %d stream errors",
            (System.nanoTime() - holdStart) / 1e9, ended, echoLinksActive(echoPort), g.errors.size());
      }
      long held = GatewaySuite.jvmHeapAfterGc(gw);
      List<String> grew = new ArrayList<>();
      double heldPerLink = GatewaySuite.perLinkClasses(histogramOpened, GatewaySuite.histogram(gw), s.pairs(), grew);
      Bench.log("  soak: over the hold the gateway's live objects grew %.2f KB per link; most: %s", heldPerLink / 1024,
          grew.stream().limit(4).toList());
      double echoHeld = echoLinksActive(echoPort);
      rows.add(row("pairs dropped during the " + (int) s.seconds() + " s hold", "%,d", ended));
      rows.add(row("echo's links open at the end of the hold", "%,.0f", echoHeld));
      rows.add(row("gateway heap after GC: after opening -> end of the hold", "%.1f -> %.1f MB (class histogram: %+.2f KB "
          + "per link; most: %s)", after / 1e6, held / 1e6, heldPerLink / 1024, grew.isEmpty() ? "-" : grew.get(0)));
      if (ended > 0 || echoHeld != s.pairs()) {
        problems.add(ended + " pairs ended during the hold; echo had " + echoHeld + " links open");
      }

      // Alive: one event on every link, each answered.
      g.load(1);
      Thread.sleep(2000);
      GuestLoad.Drained d = g.stop(Duration.ofSeconds(30));
      rows.add(row("one event per link after the hold: sent / answered / lost", "%,d / %,d / %,d", d.sent(), d.received(),
          d.lost() + d.misordered()));
      if (d.lost() + d.misordered() > 0 || d.sent() < s.pairs()) {
        problems.add("after the hold: " + d);
      }

      int errorsBeforeClose = g.errors.size();
      t0 = System.nanoTime();
      g.closeAll(Duration.ofSeconds(60));
      double closeSeconds = (System.nanoTime() - t0) / 1e9;
      Thread.sleep(2000);
      double echoLeft = echoLinksActive(echoPort);
      int closeErrors = g.errors.size() - errorsBeforeClose;
      rows.add(row("closed: every upload ended, every download ended", "in %.1f s, %d errors; echo's links left open: %,.0f",
          closeSeconds, closeErrors, echoLeft));
      if (echoLeft != 0) {
        problems.add("echo still had " + echoLeft + " links open after the close");
      }
      g.errors.forEach(problems::add);
      rows.add(row("stream errors (dropped links, link.error on a download)", "%d", g.errors.size()));
    }
    return new GatewaySuite.Outcome(report(s, rows, classes, problems), !problems.isEmpty());
  }

  private static String[] row(String label, String fmt, Object... args) {
    return new String[] {label, String.format(Locale.ROOT, fmt, args)};
  }

  private static final Pattern ECHO_LINKS =
      Pattern.compile("(?m)^eventpaths_links_active\\{[^}]*service=\"echo\"[^}]*side=\"server\"[^}]*\\}\\s+(\\S+)");

  /** The echo app's {@code eventpaths_links_active} for its echo service (plain port, /q/metrics). */
  private static double echoLinksActive(int port) throws Exception {
    var http = java.net.http.HttpClient.newHttpClient();
    var r = http.send(java.net.http.HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/q/metrics"))
        .timeout(Duration.ofSeconds(30)).build(), java.net.http.HttpResponse.BodyHandlers.ofString());
    Matcher m = ECHO_LINKS.matcher(r.body());
    return m.find() ? Double.parseDouble(m.group(1)) : 0;
  }

  private static String report(Settings s, List<String[]> rows, List<String> classes, List<String> problems) {
    StringBuilder b = new StringBuilder(String.format(Locale.ROOT,
        "## Soak: %,d idle paired guest links through one gateway to echo, held %.0f s%n%n", s.pairs(), s.seconds()));
    b.append(String.format(Locale.ROOT, "%d client connections, %d links per guest%s.%n%n", s.connections(), s.perGuest(),
        s.gatewayArgs().isEmpty() ? "" : "; gateway started with `" + String.join(" ", s.gatewayArgs()) + "`"));
    b.append("| figure | value |\n|---|---|\n");
    rows.forEach(r -> b.append("| ").append(r[0]).append(" | ").append(r[1]).append(" |\n"));
    if (!classes.isEmpty()) {
      b.append("\nThe gateway's classes that grew most per idle paired link (bytes, instances per link):\n\n");
      classes.stream().limit(16).forEach(l -> b.append("- ").append(l).append('\n'));
    }
    if (!problems.isEmpty()) {
      b.append("\n**Problems** (").append(problems.size()).append("), first ones:\n\n");
      problems.stream().limit(10).forEach(p -> b.append("- ").append(p).append('\n'));
    }
    return b.toString();
  }
}
