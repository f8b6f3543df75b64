package dev.eventpaths.bench;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.Http2Settings;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.net.PemTrustOptions;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * Heap per stalled guest link: what an attacker's links cost the gateway (and the echo app
 * behind it) when they ask a service that produces a lot and never read their downloads, beside
 * what an idle link costs, measured in the same run (bench/README.md, "Heap per stalled link").
 *
 * <p>One gateway and one echo app (their packaged jars, own processes). Then, twice over a fresh
 * client: the heap after a full GC ({@code jcmd GC.run}) before and after opening {@code links}
 * pairs, divided by {@code links}: first idle pairs (service {@code echo}, nothing sent), then
 * stalled ones (service {@code source}, a million 150-byte events asked for, a guest announcing
 * stream window {@code window} whose downloads are paused), measured once the echo app has
 * stopped writing.
 *
 * <p>Run: {@code java -cp <bench classpath> -Dbench.root=. dev.eventpaths.bench.StalledLinks}
 * after {@code ./mvnw package -DskipTests -pl read-services/echo,gateway,bench -am}. Settings:
 * {@code -Dbench.stall.links} (500), {@code -Dbench.stall.connections} (17),
 * {@code -Dbench.stall.window} (0: the guest's HTTP/2 stream window),
 * {@code -Dbench.stall.connectionWindow} (15 MiB, Chromium's: the guest's connection window),
 * {@code -Dbench.stall.service} ({@code echo}: the guest also uploads; {@code source}: it only
 * asks), {@code -Dbench.stall.gatewayArgs} (more {@code -D} options for the gateway, e.g. its
 * {@code eventpaths.link.batch}), {@code -Dbench.serverJvm} (as the other suites:
 * {@code -Xms256m -Xmx1g}).
 */
final class StalledLinks {
  private StalledLinks() {}

  public static void main(String[] args) throws Exception {
    Path root = Path.of(System.getProperty("bench.root", ".")).toAbsolutePath().normalize();
    int links = Integer.getInteger("bench.stall.links", 500);
    int connections = Integer.getInteger("bench.stall.connections", 17);
    int window = Integer.getInteger("bench.stall.window", 0);
    // Chromium's: a browser lets a server send 15 MB on a connection before it reads.
    int connectionWindow = Integer.getInteger("bench.stall.connectionWindow", 15 * 1024 * 1024);
    // source: the service sends a million events; echo: the guest uploads as fast as the
    // upload's flow control lets it, and the service echoes them to the unread download.
    String service = System.getProperty("bench.stall.service", "echo");
    if (!service.equals("source") && !service.equals("echo")) {
      throw new IllegalArgumentException("bench.stall.service: source or echo");
    }
    List<String> jvm = List.of(System.getProperty("bench.serverJvm", "-Xms256m -Xmx1g").trim().split("\\s+"));
    if (links < 1 || links > 20_000 || connections < 1 || 2 * Math.ceil(links / (double) connections) > 200
        || window < 0) {
      throw new IllegalArgumentException("bench.stall.*: links 1..20000, at most 100 links per connection, window >= 0");
    }
    Path certs = root.resolve(".certs");
    String secret = UUID.randomUUID().toString();
    int status = 0;
    try (Procs procs = new Procs(root.resolve("bench/target/bench-logs"))) {
      int echoPort = Procs.freePort();
      List<String> cmd = new ArrayList<>(List.of(Procs.java()));
      cmd.addAll(jvm);
      cmd.addAll(List.of("-Dquarkus.http.host=127.0.0.1", "-Dquarkus.http.port=" + echoPort,
          "-Dquarkus.http.ssl-port=0", "-jar", root.resolve("read-services/echo/target/quarkus-app/quarkus-run.jar").toString()));
      Procs.Server echo = procs.start("stall-echo", echoPort, cmd, Map.of("EVENTPATHS_LINK_SECRET", secret));
      int tls = Procs.freePort();
      cmd = new ArrayList<>(List.of(Procs.java()));
      cmd.addAll(jvm);
      cmd.addAll(List.of("-Dquarkus.http.host=127.0.0.1", "-Dquarkus.http.port=" + Procs.freePort(),
          "-Dquarkus.http.ssl-port=" + tls,
          "-Dquarkus.tls.key-store.pem.0.cert=" + certs.resolve("server.crt"),
          "-Dquarkus.tls.key-store.pem.0.key=" + certs.resolve("server.key"),
          "-Deventpaths.targets.echo.url=http://127.0.0.1:" + echoPort,
          "-Dgateway.routes.source.target=echo",
          "-Dgateway.max-links-per-guest=16",
          "-Dgateway.max-streams-per-connection=200"));
      String extra = System.getProperty("bench.stall.gatewayArgs", "").trim();
      if (!extra.isEmpty()) {
        cmd.addAll(List.of(extra.split("\\s+")));
      }
      cmd.addAll(List.of("-jar", root.resolve("gateway/target/quarkus-app/quarkus-run.jar").toString()));
      Procs.Server gateway = procs.start("stall-gateway", tls, cmd,
          Map.of("EVENTPATHS_LINK_SECRET", secret, "GATEWAY_GUEST_KEY", UUID.randomUUID() + "-" + UUID.randomUUID()));
      Procs.awaitPort(echo, Duration.ofSeconds(60));
      Procs.awaitPort(gateway, Duration.ofSeconds(60));
      Path ca = certs.resolve("ca.crt");

      // Warm: one round of idle pairs, closed, before anything is measured.
      phase(gateway, echo, ca, tls, echoPort, links, connections, 65_535, connectionWindow, null);
      double[] idle = phase(gateway, echo, ca, tls, echoPort, links, connections, 65_535, connectionWindow, null);
      double[] stalled = phase(gateway, echo, ca, tls, echoPort, links, connections, window, connectionWindow, service);
      System.out.printf(Locale.ROOT, "%n| %,d guest links, %d connections (window %.1f MB) | gateway heap per link, KB (after GC) "
          + "| echo app heap per link, KB |%n|---|---|---|%n", links, connections, connectionWindow / 1e6);
      System.out.printf(Locale.ROOT, "| idle (service echo, nothing sent) | %.1f | %.1f |%n", idle[0] / 1024, idle[1] / 1024);
      System.out.printf(Locale.ROOT, "| stalled (service %s, guest window %d, downloads never read) | %.1f | %.1f |%n",
          service, window, stalled[0] / 1024, stalled[1] / 1024);
      System.out.printf(Locale.ROOT, "%nstalled: the echo app wrote %.1f KB per link before it stopped%n", stalled[2] / 1024);
    } catch (Exception e) {
      e.printStackTrace();
      status = 1;
    }
    System.exit(status);
  }

  /**
   * Opens {@code links} pairs on a fresh client, waits until they are settled, and returns the
   * growth per link of the gateway's and the echo app's heaps after GC, and (stalled) the bytes
   * the echo app wrote per link; closes the client, and so every pair, before it returns.
   */
  private static double[] phase(Procs.Server gateway, Procs.Server echo, Path ca, int port, int echoPort, int links,
      int connections, int window, int connectionWindow, String stall) throws Exception {
    Thread.sleep(1000); // the last phase's links are gone
    long gw0 = GatewaySuite.jvmHeapAfterGc(gateway.process().pid());
    long echo0 = GatewaySuite.jvmHeapAfterGc(echo.process().pid());
    long wrote0 = echoBytesOut(echoPort);
    Map<String, long[]> classes0 = GatewaySuite.histogram(gateway.process().pid());
    Vertx vertx = Vertx.vertx();
    try {
      List<HttpClient> clients = new ArrayList<>();
      for (int i = 0; i < connections; i++) {
        clients.add(vertx.createHttpClient(new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2)
            .setSsl(true).setUseAlpn(true).setTrustOptions(new PemTrustOptions().addCertPath(ca.toString()))
            .setDefaultHost("127.0.0.1").setDefaultPort(port).setHttp2MultiplexingLimit(200)
            .setInitialSettings(new Http2Settings().setInitialWindowSize(window))
            .setHttp2ConnectionWindowSize(connectionWindow), new PoolOptions().setHttp2MaxSize(1)));
      }
      var jdk = java.net.http.HttpClient.newBuilder().sslContext(sslContext(ca)).build();
      List<Future<?>> ready = new ArrayList<>();
      String guest = null;
      for (int i = 0; i < links; i++) {
        if (i % 16 == 0) {
          var r = jdk.send(java.net.http.HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + port + "/guest"))
              .POST(java.net.http.HttpRequest.BodyPublishers.noBody()).build(), java.net.http.HttpResponse.BodyHandlers.ofString());
          guest = new io.vertx.core.json.JsonObject(r.body()).getString("guest");
        }
        ready.add(open(clients.get(i % connections), guest, stall, "l" + i));
        if (i % 100 == 99) {
          Future.all(new ArrayList<>(ready)).toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
        }
      }
      Future.all(ready).toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
      // Settled: the echo app has stopped writing (every stalled link's chain is full).
      long last = -1;
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      for (int stable = 0; stable < 5 && System.nanoTime() < deadline; ) {
        Thread.sleep(300);
        long now = echoBytesOut(echoPort);
        stable = now == last ? stable + 1 : 0;
        last = now;
      }
      // What the settled links cost in CPU (their writers' looks at the window while paused).
      long cpu0 = gateway.cpuNanos();
      long t0 = System.nanoTime();
      Thread.sleep(3000);
      double cpuShare = (gateway.cpuNanos() - cpu0) / (double) (System.nanoTime() - t0);
      Bench.log("stall: the gateway used %.1f%% of a core while the %s links sat", cpuShare * 100,
          stall != null ? "stalled" : "idle");
      long gw1 = GatewaySuite.jvmHeapAfterGc(gateway.process().pid());
      long echo1 = GatewaySuite.jvmHeapAfterGc(echo.process().pid());
      List<String> grew = new ArrayList<>();
      GatewaySuite.perLinkClasses(classes0, GatewaySuite.histogram(gateway.process().pid()), links, grew);
      Bench.log("stall: gateway classes that grew most, per link: %s", String.join("; ", grew.subList(0, Math.min(8, grew.size()))));
      Bench.log("stall: %s %,d links: gateway heap %.1f -> %.1f MB, echo %.1f -> %.1f MB",
          stall != null ? "stalled (" + stall + ")" : "idle",
          links, gw0 / 1e6, gw1 / 1e6, echo0 / 1e6, echo1 / 1e6);
      return new double[] {(gw1 - gw0) / (double) links, (echo1 - echo0) / (double) links,
          (last - wrote0) / (double) links};
    } finally {
      vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
  }

  /**
   * Opens one pair: an upload and its download. Completes when the download has answered. Idle
   * ({@code stall} null): service echo, nothing sent, once {@code link.ready} came. Stalled: the
   * download is paused for good at its head; with {@code source} the service is asked for a
   * million events, with {@code echo} the upload sends 150-byte events while its write queue
   * has room, up to {@link #UPLOAD_EVENTS}.
   */
  private static Future<?> open(HttpClient http, String guest, String stall, String link) {
    String path = "/g/" + (stall == null ? "echo" : stall) + "/" + link;
    HttpClientRequest[] upload = {null};
    return http.request(new RequestOptions().setMethod(HttpMethod.POST).setURI(path + "/up")
            .putHeader("eventpaths-guest", guest).putHeader("content-type", "application/x-ndjson"))
        .compose(up -> {
          upload[0] = up;
          up.setChunked(true);
          up.exceptionHandler(t -> {});
          up.sendHead();
          return http.request(new RequestOptions().setMethod(HttpMethod.GET)
              .setURI(path + "/down" + ("source".equals(stall) ? "?n=1000000&size=150" : ""))
              .putHeader("eventpaths-guest", guest));
        })
        .compose(HttpClientRequest::send)
        .compose(resp -> {
          if (resp.statusCode() != 200) {
            return Future.failedFuture("download answered " + resp.statusCode());
          }
          if (stall != null) {
            resp.pause();
            if (stall.equals("echo")) {
              pump(upload[0], new long[] {0});
            }
            return Future.succeededFuture();
          }
          io.vertx.core.Promise<Void> seen = io.vertx.core.Promise.promise();
          resp.handler(b -> seen.tryComplete());
          return seen.future();
        });
  }

  private static final io.vertx.core.buffer.Buffer LINE = io.vertx.core.buffer.Buffer.buffer(
      "{\"type\":\"load\",\"data\":{\"pad\":\"" + "x".repeat(150) + "\"}}\n");

  /**
   * What one stalled echo link uploads at most (~560 KB): several times what the chain behind
   * it should hold, and a bound on this client's own heap (Vert.x's write-queue flag here is the
   * same copy of Netty's notices as the gateway's, and lags the same way).
   */
  static final int UPLOAD_EVENTS = 3_000;

  private static void pump(HttpClientRequest up, long[] sent) {
    while (!up.writeQueueFull() && sent[0] < UPLOAD_EVENTS) {
      sent[0]++;
      up.write(LINE);
    }
    if (sent[0] < UPLOAD_EVENTS) {
      up.drainHandler(v -> pump(up, sent));
    }
  }

  /** The bytes the echo app's services have written to their links (all of them). */
  private static long echoBytesOut(int echoPort) throws Exception {
    var r = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
        URI.create("http://127.0.0.1:" + echoPort + "/q/metrics")).build(), java.net.http.HttpResponse.BodyHandlers.ofString());
    return r.body().lines()
        .filter(l -> l.startsWith("eventpaths_bytes_total{") && l.contains("side=\"server\"") && l.contains("direction=\"out\""))
        .mapToLong(l -> (long) Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
  }

  private static javax.net.ssl.SSLContext sslContext(Path ca) throws Exception {
    var ks = java.security.KeyStore.getInstance("PKCS12");
    ks.load(null, null);
    try (var in = java.nio.file.Files.newInputStream(ca)) {
      ks.setCertificateEntry("ca", java.security.cert.CertificateFactory.getInstance("X.509").generateCertificate(in));
    }
    var tmf = javax.net.ssl.TrustManagerFactory.getInstance(javax.net.ssl.TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(ks);
    var ssl = javax.net.ssl.SSLContext.getInstance("TLS");
    ssl.init(null, tmf.getTrustManagers(), null);
    return ssl;
  }
}
