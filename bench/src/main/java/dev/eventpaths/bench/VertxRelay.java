package dev.eventpaths.bench;

import io.vertx.core.AbstractVerticle;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.Http2Settings;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.PemKeyCertOptions;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The gateway suite's floor for a JVM: bench/node-relay/relay.mjs written on Vert.x, run as its
 * own process. The same routes and pairing rules (a download waits 2 s for its upload, an upload
 * 10 s for its download, a second half refused), a {@code link.ready} line, then each upload's
 * bytes piped into its download: HTTPS with h2 over ALPN on the JDK's TLS engine (as the gateway
 * runs), one event loop per core, no codec, no second hop, no metrics.
 *
 * <p>What it is for: everything the gateway does costs at least this much in this stack (TLS,
 * HTTP/2 and Vert.x on both guest streams), so its events/s bound what any JVM gateway on
 * Vert.x can reach on the machine, and the gateway's distance to it is the price of what the
 * relay leaves out (validating every event, the host link to the echo app and the echo app
 * itself).
 *
 * <p>Usage: {@code java -cp <bench classpath> dev.eventpaths.bench.VertxRelay <port> <cert.pem> <key.pem>}
 */
public final class VertxRelay extends AbstractVerticle {
  private static final long PAIRING_GRACE_MS = 2_000;
  private static final long PAIRING_TIMEOUT_MS = 10_000;
  private static final Pattern LINK = Pattern.compile("^/g/([A-Za-z0-9_.-]{1,64})/([A-Za-z0-9_-]{1,64})/(up|down)$");
  private static final SecureRandom RANDOM = new SecureRandom();

  /** Halves waiting for their partner, by guest/service/link; shared by the event loops. */
  private static final Map<String, Half> WAITING = new ConcurrentHashMap<>();

  private record Half(HttpServerRequest req, long timer) {}

  private final int port;
  private final String cert;
  private final String key;

  private VertxRelay(int port, String cert, String key) {
    this.port = port;
    this.cert = cert;
    this.key = key;
  }

  public static void main(String[] args) throws Exception {
    int port = Integer.parseInt(args[0]);
    Vertx vertx = Vertx.vertx();
    int loops = Runtime.getRuntime().availableProcessors();
    // One verticle, so one event loop, per core; Vert.x spreads the connections over them.
    vertx.deployVerticle(() -> new VertxRelay(port, args[1], args[2]), new DeploymentOptions().setInstances(loops))
        .toCompletionStage().toCompletableFuture().get();
    System.out.println("vertx relay listening on 127.0.0.1:" + port + " (" + loops + " event loops)");
  }

  @Override
  public void start(Promise<Void> started) {
    HttpServerOptions o = new HttpServerOptions()
        .setHost("127.0.0.1")
        .setPort(port)
        .setSsl(true)
        .setUseAlpn(true)
        .setAlpnVersions(List.of(HttpVersion.HTTP_2))
        .setKeyCertOptions(new PemKeyCertOptions().setCertPath(cert).setKeyPath(key))
        .setTcpNoDelay(true)
        // as the gateway's quarkus.http.limits.max-concurrent-streams, and the Node relay's
        .setInitialSettings(new Http2Settings().setMaxConcurrentStreams(256));
    vertx.createHttpServer(o).requestHandler(this::handle).listen().<Void>mapEmpty().onComplete(started);
  }

  private void handle(HttpServerRequest req) {
    if (req.path().equals("/guest") && req.method() == HttpMethod.POST) {
      byte[] id = new byte[24];
      RANDOM.nextBytes(id);
      json(req, 200, new JsonObject().put("guest", Base64.getUrlEncoder().withoutPadding().encodeToString(id)));
      return;
    }
    Matcher m = LINK.matcher(req.path());
    boolean up = m.matches() && m.group(3).equals("up");
    if (!m.matches() || req.method() != (up ? HttpMethod.POST : HttpMethod.GET)) {
      json(req, 404, new JsonObject().put("error", "not_found").put("message", req.method() + " " + req.path()));
      return;
    }
    String guest = req.getHeader("eventpaths-guest");
    if (guest == null) {
      json(req, 401, new JsonObject().put("error", "bad_guest").put("message", "no eventpaths-guest header"));
      return;
    }
    String service = m.group(1);
    String pairKey = guest + "/" + service + "/" + m.group(2);
    String key = pairKey + "/" + m.group(3);
    String partnerKey = pairKey + (up ? "/down" : "/up");
    Half partner = WAITING.remove(partnerKey);
    if (partner != null) {
      vertx.cancelTimer(partner.timer);
      if (up) {
        start(req, partner.req, pairKey, service);
      } else {
        start(partner.req, req, pairKey, service);
      }
      return;
    }
    if (up) {
      req.pause(); // unread until paired
    }
    long timer = vertx.setTimer(up ? PAIRING_TIMEOUT_MS : PAIRING_GRACE_MS, t -> {
      Half h = WAITING.get(key);
      if (h != null && h.req == req && WAITING.remove(key, h)) {
        json(req, up ? 408 : 409, new JsonObject().put("error", up ? "pairing_timeout" : "unpaired").put("action", "reopen"));
      }
    });
    Half mine = new Half(req, timer);
    if (WAITING.putIfAbsent(key, mine) != null) {
      vertx.cancelTimer(timer);
      json(req, 409, new JsonObject().put("error", "duplicate_stream").put("action", "close the old pair, then reopen"));
      return;
    }
    req.response().closeHandler(v -> { // a stream reset or its connection gone
      if (WAITING.remove(key, mine)) { // left before it was paired
        vertx.cancelTimer(timer);
      }
    });
  }

  /**
   * Pipes the upload into the download; either ending or failing ends the other. The bench opens
   * a pair's two halves on one connection, so both are on this event loop (the gateway, which
   * cannot count on that, moves events between contexts; this floor does not need to).
   */
  private void start(HttpServerRequest upload, HttpServerRequest download, String pairKey, String service) {
    HttpServerResponse down = download.response();
    down.putHeader("content-type", "application/x-ndjson").putHeader("cache-control", "no-store");
    down.write(new JsonObject().put("type", "link.ready")
        .put("data", new JsonObject().put("link", pairKey).put("service", service)).encode() + "\n");
    upload.handler(chunk -> {
      down.write(chunk);
      if (down.writeQueueFull()) {
        upload.pause();
        down.drainHandler(v -> upload.resume());
      }
    });
    upload.endHandler(v -> {
      json(upload, 200, new JsonObject().put("closed", "done"));
      down.end();
    });
    upload.exceptionHandler(e -> down.reset());
    download.exceptionHandler(e -> upload.response().reset());
    down.closeHandler(v -> {
      if (!upload.isEnded()) {
        upload.response().reset();
      }
    });
    upload.resume();
  }

  private static void json(HttpServerRequest req, int status, JsonObject body) {
    HttpServerResponse r = req.response();
    if (r.ended() || r.closed() || r.headWritten()) {
      return;
    }
    if (!req.isEnded()) {
      req.resume(); // read and drop the rest of a refused body
    }
    r.setStatusCode(status).putHeader("content-type", "application/json").putHeader("cache-control", "no-store")
        .end(body.encode());
  }
}
