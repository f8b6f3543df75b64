package dev.eventpaths.gateway;

import dev.eventpaths.Event;
import dev.eventpaths.EventDecoder;
import dev.eventpaths.EventEncoder;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.PemTrustOptions;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.eclipse.microprofile.config.ConfigProvider;

/**
 * A guest as the browser is one: HTTPS with ALPN h2 to the gateway, trusting the dev CA; an
 * upload is a streaming POST, a download a streaming GET. Real HTTP/2, no browser.
 */
final class GuestClient implements AutoCloseable {
  final HttpClient http;
  final String base;
  private final Vertx vertx;

  GuestClient(Vertx vertx) {
    this(vertx, 1, 1000);
  }

  /** A client that spreads its streams over up to {@code connections} connections. */
  GuestClient(Vertx vertx, int connections, int streamsPerConnection) {
    this(vertx, connections, streamsPerConnection, new io.vertx.core.http.Http2Settings());
  }

  /**
   * A client that announces {@code settings} (its stream window, for one: what the gateway may
   * send a download before the guest reads it; 0 is allowed, as for any HTTP/2 peer).
   */
  GuestClient(Vertx vertx, int connections, int streamsPerConnection, io.vertx.core.http.Http2Settings settings) {
    this.vertx = vertx;
    int port = ConfigProvider.getConfig().getValue("quarkus.http.test-ssl-port", Integer.class);
    base = "https://localhost:" + port;
    http = vertx.createHttpClient(new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2).setSsl(true).setUseAlpn(true)
        .setTrustOptions(new PemTrustOptions().addCertPath(System.getProperty("dev-certs", "../.certs") + "/ca.crt"))
        .setDefaultHost("localhost").setDefaultPort(port).setHttp2MultiplexingLimit(streamsPerConnection)
        .setInitialSettings(settings),
        new PoolOptions().setHttp2MaxSize(connections));
  }

  /**
   * A new guest id, fetched with the JDK's HTTP/2 client. (The Vert.x client resets each
   * finished request stream, and hundreds of resets on one connection trip the server's
   * rapid-reset guard, as they should; browsers and curl do not do that.)
   */
  String newGuest() throws Exception {
    var r = jdk().send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(base + "/guest"))
        .POST(java.net.http.HttpRequest.BodyPublishers.noBody()).build(), java.net.http.HttpResponse.BodyHandlers.ofString());
    if (r.statusCode() != 200) {
      throw new AssertionError("POST /guest: " + r.statusCode() + " " + r.body());
    }
    return new JsonObject(r.body()).getString("guest");
  }

  private static java.net.http.HttpClient jdkClient;

  /** TLS that trusts the development CA (.ci/dev-cert.sh). */
  static javax.net.ssl.SSLContext sslContext() throws Exception {
    var ks = java.security.KeyStore.getInstance("PKCS12");
    ks.load(null, null);
    try (var in = java.nio.file.Files.newInputStream(java.nio.file.Path.of(System.getProperty("dev-certs", "../.certs"), "ca.crt"))) {
      ks.setCertificateEntry("ca", java.security.cert.CertificateFactory.getInstance("X.509").generateCertificate(in));
    }
    var tmf = javax.net.ssl.TrustManagerFactory.getInstance(javax.net.ssl.TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(ks);
    var ssl = javax.net.ssl.SSLContext.getInstance("TLS");
    ssl.init(null, tmf.getTrustManagers(), null);
    return ssl;
  }

  static synchronized java.net.http.HttpClient jdk() throws Exception {
    if (jdkClient == null) {
      jdkClient = java.net.http.HttpClient.newBuilder().sslContext(sslContext()).version(java.net.http.HttpClient.Version.HTTP_2).build();
    }
    return jdkClient;
  }

  record Reply(int status, String body, HttpClientResponse response) {
    JsonObject json() {
      try {
        return new JsonObject(body);
      } catch (RuntimeException e) {
        throw new AssertionError("not a JSON body: status " + status + ", headers "
            + (response == null ? "none" : response.headers().entries()) + ", body [" + body + "]", e);
      }
    }
  }

  Reply exchange(HttpMethod method, String path, String guest, String body) throws Exception {
    RequestOptions ro = new RequestOptions().setMethod(method).setURI(path);
    if (guest != null) {
      ro.putHeader("eventpaths-guest", guest);
    }
    // No body: HEADERS with END_STREAM, as browsers send it. An empty DATA frame after the
    // server has answered makes it send RST_STREAM, and Netty counts those as abuse.
    return dev.eventpaths.testing.EventLoop.await(vertx, () -> http.request(ro)
        .compose(req -> body.isEmpty() ? req.send() : req.send(Buffer.buffer(body)))
        .compose(resp -> resp.body().map(b -> new Reply(resp.statusCode(), b.toString(), resp))), java.time.Duration.ofSeconds(15));
  }

  Upload upload(String guest, String service, String link) throws Exception {
    HttpClientRequest req = http.request(new RequestOptions().setMethod(HttpMethod.POST)
        .setURI("/g/" + service + "/" + link + "/up").putHeader("eventpaths-guest", guest)
        .putHeader("content-type", "application/x-ndjson")).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    req.setChunked(true);
    Upload u = new Upload(req);
    req.response().onComplete(ar -> {
      if (ar.failed()) {
        u.outcome.complete(new Reply(-1, String.valueOf(ar.cause()), null));
      } else {
        ar.result().body().onComplete(b -> u.outcome.complete(
            new Reply(ar.result().statusCode(), b.succeeded() ? b.result().toString() : String.valueOf(b.cause()), ar.result())));
      }
    });
    req.exceptionHandler(t -> {
      if (t instanceof io.vertx.core.http.StreamResetException r) {
        u.reset.complete(r.getCode());
      }
      u.outcome.complete(new Reply(-1, String.valueOf(t), null));
    });
    req.sendHead();
    return u;
  }

  Download download(String guest, String service, String link, String query) throws Exception {
    HttpClientRequest req = http.request(new RequestOptions().setMethod(HttpMethod.GET)
        .setURI("/g/" + service + "/" + link + "/down" + (query == null ? "" : "?" + query))
        .putHeader("eventpaths-guest", guest)).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    Download d = new Download(req);
    req.response().onComplete(ar -> {
      if (ar.failed()) {
        d.status.complete(-1);
        d.ended.complete(null);
        return;
      }
      HttpClientResponse resp = ar.result();
      d.response = resp;
      d.status.complete(resp.statusCode());
      if (resp.statusCode() != 200) {
        resp.body().onComplete(b -> d.refusal.complete(b.succeeded() ? new JsonObject(b.result()) : null));
        return;
      }
      EventDecoder decoder = new EventDecoder(1 << 20, new EventDecoder.Sink() {
        @Override
        public void event(Event event) {
          if (!event.type().equals(Event.LINK_HEARTBEAT)) {
            d.events.add(event);
          } else {
            d.heartbeats.incrementAndGet();
          }
        }

        @Override
        public void refused(String reason, String message, String eventId) {
          d.events.add(Event.error("client_saw_bad_line", message, true, null));
        }
      });
      resp.handler(b -> decoder.feed(b.getByteBuf()));
      resp.endHandler(v -> d.ended.complete(null));
      resp.exceptionHandler(t -> d.ended.complete(null));
    });
    req.end();
    return d;
  }

  @Override
  public void close() {
    http.close();
  }

  static final class Upload {
    final HttpClientRequest req;
    final CompletableFuture<Reply> outcome = new CompletableFuture<>();
    /** The HTTP/2 error code of the gateway's RST_STREAM, if it stops this body. */
    final CompletableFuture<Long> reset = new CompletableFuture<>();

    Upload(HttpClientRequest req) {
      this.req = req;
    }

    void send(Event e) {
      req.write(Buffer.buffer(EventEncoder.encode(e)));
    }

    void sendRaw(String text) {
      req.write(Buffer.buffer(text));
    }

    void end() {
      req.end();
    }

    void reset() {
      req.reset(8);
    }
  }

  static final class Download {
    final HttpClientRequest req;
    final CompletableFuture<Integer> status = new CompletableFuture<>();
    final CompletableFuture<JsonObject> refusal = new CompletableFuture<>();
    final CompletableFuture<Void> ended = new CompletableFuture<>();
    final LinkedBlockingQueue<Event> events = new LinkedBlockingQueue<>();
    final AtomicLong heartbeats = new AtomicLong();
    volatile HttpClientResponse response;

    Download(HttpClientRequest req) {
      this.req = req;
    }

    int status() throws Exception {
      return status.get(10, TimeUnit.SECONDS);
    }

    Event next() throws InterruptedException {
      Event e = events.poll(10, TimeUnit.SECONDS);
      if (e == null) {
        throw new AssertionError("no event on the download within 10 s");
      }
      return e;
    }

    /** The next event that is not link.ready. */
    Event nextData() throws InterruptedException {
      Event e = next();
      return e.type().equals(Event.LINK_READY) ? next() : e;
    }

    void cancel() {
      req.reset(8);
    }
  }
}
