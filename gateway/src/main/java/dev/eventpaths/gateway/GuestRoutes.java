package dev.eventpaths.gateway;

import dev.eventpaths.Event;
import dev.eventpaths.EventDecoder;
import dev.eventpaths.EventpathsConfig;
import dev.eventpaths.Links;
import dev.eventpaths.internal.FlushBatching;
import dev.eventpaths.internal.InboundEvents;
import dev.eventpaths.internal.LinkRuntime;
import dev.eventpaths.internal.Refusal;
import io.quarkus.runtime.ShutdownEvent;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;

/**
 * The guest-facing link endpoints (docs/PROTOCOL.md, section 5): guest ids, uploads,
 * downloads, and the batched-POST fallback. Pairing state lives in one map under one lock;
 * what happens after a state change (starting a link, refusing a stream) runs outside it.
 */
@ApplicationScoped
public class GuestRoutes {
  static final Pattern LINK_NAME = Pattern.compile("[A-Za-z0-9_-]{1,64}");
  static final String GUEST_HEADER = "eventpaths-guest";

  @Inject Vertx vertx;
  @Inject GatewayConfig config;
  @Inject EventpathsConfig eventpaths;
  @Inject GuestIds guestIds;
  @Inject Links links;
  @Inject LinkRuntime runtime;
  @Inject GatewayMetrics metrics;
  @Inject GatewayFeed feed;
  @Inject GatewayLog log;

  private final Object lock = new Object();
  private volatile boolean shuttingDown;
  private final Map<String, GuestPair> pairs = new HashMap<>();
  private final Map<String, Integer> linksPerGuest = new HashMap<>();
  private final Map<HttpConnection, AtomicInteger> streamsPerConnection = new ConcurrentHashMap<>();

  void mount(@Observes Router router) {
    router.post("/guest").handler(this::issueGuest);
    router.post("/g/:service/:link/up").handler(rc -> stream(rc, true));
    router.get("/g/:service/:link/down").handler(rc -> stream(rc, false));
    router.post("/g/:service/:link/batch").handler(this::batch);
  }

  /**
   * Graceful shutdown (Fly sends SIGTERM on deploys and scaling): every guest link ends with a
   * fatal {@code link.error} {@code shutting_down} on its download, so the guest reopens it
   * at once, through the balancer, on another instance; new guest streams get 503. Waits (at
   * most 2 s) for the downloads to be ended before the HTTP server closes.
   */
  void stopping(@Observes ShutdownEvent e) {
    shuttingDown = true;
    List<GuestPair> all;
    synchronized (lock) {
      all = new ArrayList<>(pairs.values());
    }
    all.forEach(p -> p.close("shutting_down", "the gateway is stopping; reopen the link"));
    long deadline = System.nanoTime() + 2_000_000_000L;
    while (pairs() > 0 && System.nanoTime() < deadline) {
      try {
        Thread.sleep(20);
      } catch (InterruptedException ie) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }

  /** The pairs held now (waiting or running). */
  public int pairs() {
    synchronized (lock) {
      return pairs.size();
    }
  }

  private void issueGuest(RoutingContext rc) {
    metrics.guestIssued();
    rc.response().putHeader("content-type", "application/json").putHeader("cache-control", "no-store")
        .end(new JsonObject().put("guest", guestIds.issue()).encode());
  }

  private void refuse(RoutingContext rc, int status, String error, String message, String action) {
    metrics.refusal(error);
    log.refused(error, rc.request().method().name(), rc.request().path(), rc.request().getHeader(GUEST_HEADER), message);
    JsonObject body = new JsonObject().put("error", error).put("message", message);
    if (action != null) {
      body.put("action", action);
    }
    Refusal.send(rc.request(), status, body);
  }

  /** Checks what every guest request must carry; refuses and returns null if it fails. */
  private GatewayConfig.Route admit(RoutingContext rc, boolean streaming) {
    HttpServerRequest req = rc.request();
    if (shuttingDown) {
      refuse(rc, 503, "shutting_down", "the gateway is stopping; reopen the link (another instance takes it)", "reopen");
      return null;
    }
    if (streaming && req.version() != HttpVersion.HTTP_2) {
      refuse(rc, 505, "http2_required", "guest links stream over HTTP/2 only (HTTPS with ALPN h2)", null);
      return null;
    }
    String guest = req.getHeader(GUEST_HEADER);
    if (!guestIds.valid(guest)) {
      refuse(rc, 401, "bad_guest", guest == null ? "no eventpaths-guest header" : "this guest id was not issued here",
          "new_guest");
      return null;
    }
    String service = rc.pathParam("service");
    GatewayConfig.Route route = config.routes().get(service);
    if (route == null) {
      if (eventpaths.targets().containsKey(service)) {
        refuse(rc, 403, "forbidden_service", "guests may not link to '" + service + "'", null);
      } else {
        refuse(rc, 404, "unknown_service", "no service '" + service + "'; guests may reach " + config.routes().keySet(),
            null);
      }
      return null;
    }
    if (!LINK_NAME.matcher(rc.pathParam("link")).matches()) {
      refuse(rc, 400, "bad_link_name", "link names are 1-64 of A-Z a-z 0-9 _ -", null);
      return null;
    }
    return route;
  }

  private void stream(RoutingContext rc, boolean isUpload) {
    GatewayConfig.Route route = admit(rc, true);
    if (route == null) {
      return;
    }
    HttpServerRequest req = unwrapped(rc.request());
    HttpConnection conn = req.connection();
    AtomicInteger onConn = streamsPerConnection.computeIfAbsent(conn, c -> {
      FlushBatching.install(c);
      return new AtomicInteger();
    });
    if (onConn.incrementAndGet() > config.maxStreamsPerConnection()) {
      onConn.decrementAndGet();
      refuse(rc, 429, "too_many_streams", "more than " + config.maxStreamsPerConnection()
          + " guest streams on one connection", "close some links");
      return;
    }
    java.util.concurrent.atomic.AtomicBoolean released = new java.util.concurrent.atomic.AtomicBoolean();
    Runnable release = () -> {
      if (released.compareAndSet(false, true) && onConn.decrementAndGet() == 0) {
        streamsPerConnection.remove(conn, onConn);
      }
    };
    req.response().endHandler(v -> release.run());
    String guest = req.getHeader(GUEST_HEADER);
    String service = rc.pathParam("service");
    String link = rc.pathParam("link");
    String key = guest + "/" + service + "/" + link;
    boolean batchMode = !isUpload && req.query() != null && "batch".equals(req.getParam("mode"));
    Map<String, String> params = linkParams(req);
    if (params == null) {
      refuse(rc, 400, "bad_params", "at most 16 query parameters, names up to 32 and values up to 256 characters", null);
      return;
    }
    // Everything needed from the request is read now; the pair holds the request for the
    // link's whole life, and with it every header the browser sent (a few hundred bytes each
    // from a browser: user-agent, sec-fetch-*, accept-*, ...). An idle link's share of the heap.
    req.headers().clear();

    GuestPair pair;
    GuestPair superseded = null;
    String refusal = null;
    boolean startNow = false;
    synchronized (lock) {
      pair = pairs.get(key);
      if (isUpload && pair != null && !pair.started && !pair.closed && pair.upload != null
          && pair.upload.connection() != conn) {
        // An upload still waiting for its download, from another connection: the guest has
        // reopened the link on a new connection, and the old one is dead or dying (the
        // gateway may not have seen it close yet). The newer upload takes its place, so the
        // download that follows pairs with a live upload, not with one that is gone.
        superseded = pair;
        pair.closed = true;
        unregister(pair);
        pair = null;
      }
      if (pair == null) {
        int held = linksPerGuest.getOrDefault(guest, 0);
        if (held >= config.maxLinksPerGuest()) {
          refusal = "too_many_links";
        } else {
          linksPerGuest.put(guest, held + 1);
          GuestPair[] self = new GuestPair[1];
          pair = new GuestPair(key, guest, service, link, route, vertx, runtime.settings(), runtime.metrics(), metrics, feed, log,
              () -> forget(self[0]));
          self[0] = pair;
          pairs.put(key, pair);
          if (isUpload) {
            pair.upload = req;
          } else {
            pair.download = req;
            if (batchMode) {
              pair.batch = new BatchSource(config.batchQueue());
              pair.started = true;
              startNow = true;
            }
          }
          if (!startNow) {
            metrics.waiting(1);
          }
        }
      } else if (isUpload ? pair.upload != null || pair.batch != null : pair.download != null) {
        refusal = "duplicate_stream";
      } else if (batchMode) {
        refusal = "mode_conflict";
      } else {
        if (isUpload) {
          pair.upload = req;
        } else {
          pair.download = req;
        }
        pair.started = true;
        metrics.waiting(-1);
        startNow = true;
        if (pair.timer >= 0) {
          // The waiting half's deadline is moot now; a pending timer would hold memory (and
          // wake up to do nothing) for the whole pairing timeout.
          vertx.cancelTimer(pair.timer);
          pair.timer = -1;
        }
      }
    }
    if (superseded != null) {
      if (superseded.timer >= 0) {
        vertx.cancelTimer(superseded.timer);
      }
      metrics.refusal("superseded");
      log.linkError("superseded", superseded.service, superseded.linkName, superseded.guest,
          "a newer upload for the link arrived on another connection");
      superseded.answerUpload(409, new JsonObject().put("error", "superseded")
          .put("message", "a newer upload for this link arrived on another connection").put("action", "reopen"));
    }
    if (refusal != null) {
      release.run();
      switch (refusal) {
        case "too_many_links" -> refuse(rc, 429, refusal, "this guest holds " + config.maxLinksPerGuest()
            + " links already", "close a link first");
        case "duplicate_stream" -> refuse(rc, 409, refusal, "this link already has its " + (isUpload ? "upload" : "download"),
            "close the old pair, then reopen");
        default -> refuse(rc, 409, refusal, "this link has a streaming upload; batches are for links opened with mode=batch",
            "reopen");
      }
      return;
    }
    pair.releases.add(release);
    if (isUpload) {
      pair.holdUpload(req);
    }
    if (startNow) {
      if (isUpload) {
        // The download was waiting: the pair runs on the download's event loop.
        GuestPair p = pair;
        p.downloadContext().runOnContext(v -> p.start(links, p.params));
      } else {
        pair.start(links, params);
      }
      return;
    }
    GuestPair waiting = pair;
    if (isUpload) {
      waiting.timer = vertx.setTimer(config.pairingTimeout().toMillis(), t -> expire(waiting, true));
    } else {
      waiting.params = params;
      waiting.captureDownloadContext();
      waiting.timer = vertx.setTimer(config.pairingGrace().toMillis(), t -> expire(waiting, false));
      req.response().closeHandler(v -> expire(waiting, false));
    }
  }

  /**
   * The download's query parameters, handed to the host service as link parameters
   * ({@code after} to resume, and whatever the service defines, like a board name); bounded.
   */
  private static Map<String, String> linkParams(HttpServerRequest req) {
    Map<String, String> out = new java.util.LinkedHashMap<>();
    if (req.query() == null) {
      return out; // and no parameter map kept in the request for nothing
    }
    for (var e : req.params()) {
      String k = e.getKey();
      if (k.equals("mode") || k.equals("service") || k.equals("link")) {
        continue;
      }
      if (out.size() >= 16 || k.length() > 32 || e.getValue().length() > 256) {
        return null;
      }
      out.putIfAbsent(k, e.getValue());
    }
    return out;
  }

  /** A half that waited too long (or left): refuse it with what to do. */
  private void expire(GuestPair pair, boolean upload) {
    synchronized (lock) {
      if (pair.started || pair.closed || pairs.get(pair.key) != pair) {
        return;
      }
      pair.closed = true;
      unregister(pair);
    }
    if (upload) {
      metrics.refusal("pairing_timeout");
      log.linkError("pairing_timeout", pair.service, pair.linkName, pair.guest, "no download came for the upload");
      pair.answerUpload(408, new JsonObject().put("error", "pairing_timeout")
          .put("message", "no download came for this upload within " + config.pairingTimeout().toSeconds() + " s")
          .put("action", "reopen"));
    } else {
      metrics.refusal("unpaired");
      log.linkError("unpaired", pair.service, pair.linkName, pair.guest, "no upload came for the download");
      Refusal.send(pair.download.response(), 409, new JsonObject().put("error", "unpaired")
          .put("message", "no upload for this link reached this gateway instance")
          .put("action", "reopen"));
      pair.releases.forEach(Runnable::run);
    }
  }

  /** A pair that ended by itself (its stream closed, its host link ended) leaves the registry. */
  private void forget(GuestPair pair) {
    synchronized (lock) {
      unregister(pair);
    }
  }

  /**
   * Takes a pair out of the registry and out of its guest's count, once: a pair that never
   * paired (an upload whose stream closed before its download came, one that expired or was
   * superseded) also leaves the count of waiting halves. Called holding {@code lock}.
   */
  private void unregister(GuestPair pair) {
    if (pairs.remove(pair.key, pair)) {
      linksPerGuest.computeIfPresent(pair.guest, (g, n) -> n <= 1 ? null : n - 1);
      if (!pair.started) {
        metrics.waiting(-1);
      }
    }
  }

  private void batch(RoutingContext rc) {
    GatewayConfig.Route route = admit(rc, false);
    if (route == null) {
      return;
    }
    HttpServerRequest req = rc.request();
    String key = req.getHeader(GUEST_HEADER) + "/" + rc.pathParam("service") + "/" + rc.pathParam("link");
    long n = batchNumber(req.getParam("n", ""));
    if (n < 0) {
      refuse(rc, 400, "bad_batch_number", "?n= must be the batch number: 0, 1, 2, ... (decimal, at most 2^53 - 1)", null);
      return;
    }
    GuestPair pair;
    synchronized (lock) {
      pair = pairs.get(key);
    }
    if (pair == null || pair.batch == null) {
      refuse(rc, 404, "no_link", "no fallback link open here; open its download with ?mode=batch first", "reopen");
      return;
    }
    Buffer body = Buffer.buffer();
    int max = config.maxBatchBytes();
    boolean[] tooBig = new boolean[1];
    req.handler(chunk -> {
      if (body.length() + chunk.length() > max) {
        tooBig[0] = true;
      } else if (!tooBig[0]) {
        body.appendBuffer(chunk);
      }
    });
    req.endHandler(v -> {
      if (tooBig[0]) {
        refuse(rc, 413, "batch_too_large", "a batch may hold at most " + max + " bytes", null);
        return;
      }
      List<Event> events = new ArrayList<>();
      List<JsonObject> refused = new ArrayList<>();
      EventDecoder decoder = new EventDecoder(runtime.settings().maxEventBytes(), new EventDecoder.Sink() {
        @Override
        public void event(Event event) {
          if (Event.LINK_HEARTBEAT.equals(event.type())) {
            return;
          }
          if (event.isControl()) { // as on a streaming upload (InboundEvents.refuseReservedTypes)
            refused(InboundEvents.RESERVED_TYPE, InboundEvents.reservedMessage(event.type()), event.id());
            return;
          }
          events.add(event);
        }

        @Override
        public void refused(String reason, String message, String eventId) {
          metrics.refusedEvent(reason);
          log.refused(reason, "a batch event on " + rc.pathParam("service") + "/" + rc.pathParam("link") + ": " + message);
          refused.add(new JsonObject().put("reason", reason).put("message", message).put("event", eventId));
        }
      });
      decoder.feed(body.getByteBuf());
      decoder.end();
      switch (pair.batch.offer(n, events)) {
        case ACCEPTED -> rc.response().putHeader("content-type", "application/json")
            .end(new JsonObject().put("accepted", events.size()).put("refused", refused).put("next", n + 1).encode());
        case DUPLICATE -> rc.response().putHeader("content-type", "application/json")
            .end(new JsonObject().put("duplicate", true).put("next", pair.batch.next()).encode());
        case GAP -> Refusal.send(rc.response(), 409, new JsonObject().put("error", "batch_gap")
            .put("message", "batch " + n + " skips ahead").put("expected", pair.batch.next()));
        case FULL -> {
          metrics.refusal("slow_down");
          rc.response().putHeader("retry-after", "1");
          Refusal.send(rc.response(), 429, new JsonObject().put("error", "slow_down")
              .put("message", "the host service is not keeping up; retry this batch").put("action", "retry"));
        }
        case CLOSED -> refuse(rc, 410, "link_closed", "this link has ended", "reopen");
      }
    });
  }

  /** Decimal digits without sign or leading zeros, at most what a browser's number counts exactly. */
  private static final Pattern BATCH_NUMBER = Pattern.compile("0|[1-9][0-9]{0,15}");

  /**
   * The batch number {@code ?n=} names, or -1 when it is not one. A negative number used to
   * read as a batch already applied ({@code duplicate}), so a client bug silently dropped events.
   */
  static long batchNumber(String n) {
    if (!BATCH_NUMBER.matcher(n).matches()) {
      return -1;
    }
    long v = Long.parseLong(n);
    return v <= (1L << 53) - 1 ? v : -1;
  }

  /**
   * Vert.x Web's request wrapper points at its RoutingContext, and through it at the route's
   * maps (path and query parameters, context data, the body holder): about 1.9 KB per guest link
   * (measured, bench gateway suite) kept for as long as the pair holds its requests, which for a
   * guest link is its whole life. The pair holds Vert.x's own request instead; the wrapper only
   * forwards to it, and the routing state is garbage once the route has run. Where the field is
   * not there (another Vert.x version), the wrapper is kept: more memory, same behaviour.
   */
  private static final java.lang.reflect.Field WRAPPED = wrappedField();

  private static java.lang.reflect.Field wrappedField() {
    try {
      java.lang.reflect.Field f = io.vertx.core.http.impl.HttpServerRequestWrapper.class.getDeclaredField("delegate");
      f.setAccessible(true);
      return f;
    } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
      return null;
    }
  }

  static HttpServerRequest unwrapped(HttpServerRequest req) {
    try {
      while (WRAPPED != null && req instanceof io.vertx.core.http.impl.HttpServerRequestWrapper) {
        req = (HttpServerRequest) WRAPPED.get(req);
      }
    } catch (ReflectiveOperationException | RuntimeException e) {
      // keep the wrapper
    }
    return req;
  }
}
