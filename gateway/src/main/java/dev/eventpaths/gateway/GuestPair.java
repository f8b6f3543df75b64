package dev.eventpaths.gateway;

import dev.eventpaths.Event;
import dev.eventpaths.LinkRequest;
import dev.eventpaths.Links;
import dev.eventpaths.internal.InboundEvents;
import dev.eventpaths.internal.LinkLog;
import dev.eventpaths.internal.LinkMetrics;
import dev.eventpaths.internal.LinkSettings;
import dev.eventpaths.internal.OutboundWriter;
import dev.eventpaths.internal.Ticks;
import io.smallrye.mutiny.Multi;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonObject;
import java.util.concurrent.Flow;

/**
 * One guest link: an upload (or a {@link BatchSource} in fallback mode) and a download, tied
 * by (guest, service, link name), joined to one host-to-host link.
 *
 * <p>Upload events feed the host link's request body; the host link's events feed the
 * download. Demand runs through both: a guest that stops reading its download stops the host
 * link's reader and so the host service; a host service that stops reading stops the upload's
 * reader and so the browser's stream. Either stream breaking ends the whole pair (with a
 * {@code link.error} on the download when it is still there): the guest reopens both.
 *
 * <p>The download's event loop owns the pair once it runs; the upload's events hop over
 * through the library's thread-safe demand and hand-off.
 */
final class GuestPair {
  final String key;
  final String guest;
  final String service;
  final String linkName;
  final GatewayConfig.Route route;
  final GatewayMetrics metrics;
  private final LinkSettings settings;
  private final LinkMetrics.Meters meters;
  private final Vertx vertx;
  private final Runnable onClose;

  // Pairing state, guarded by the registry's lock.
  HttpServerRequest upload;
  HttpServerRequest download;
  BatchSource batch;
  long timer = -1;
  boolean started;
  boolean closed;
  java.util.Map<String, String> params = java.util.Map.of();
  /** Give back each stream's place in its connection's count, once. */
  final java.util.List<Runnable> releases = new java.util.concurrent.CopyOnWriteArrayList<>();

  private InboundEvents uploadEvents;
  private OutboundWriter downWriter;
  private Context downContext;
  private Context upContext;
  private Ticks.Tick heartbeats;
  private int badEvents;

  private final GatewayFeed feed;
  private final GatewayLog log;

  GuestPair(String key, String guest, String service, String linkName, GatewayConfig.Route route, Vertx vertx,
      LinkSettings settings, LinkMetrics linkMetrics, GatewayMetrics metrics, GatewayFeed feed, GatewayLog log, Runnable onClose) {
    this.feed = feed;
    this.log = log;
    this.key = key;
    this.guest = guest;
    this.service = service;
    this.linkName = linkName;
    this.route = route;
    this.vertx = vertx;
    this.settings = settings;
    this.metrics = metrics;
    this.meters = linkMetrics.of("guest", service);
    this.onClose = onClose;
  }

  /** Holds the upload, unread, until the download arrives. Called on the upload's context. */
  void holdUpload(HttpServerRequest req) {
    Context ctx = vertx.getOrCreateContext();
    upContext = ctx;
    req.params().clear(); // see start()
    uploadEvents = new InboundEvents(ctx, settings.maxEventBytes(), false, new UploadListener());
    uploadEvents.refuseReservedTypes(); // a guest's link.* events are not the link's (PROTOCOL.md 5)
    uploadEvents.attach(req); // no demand yet: paused
    req.response().closeHandler(v -> close("upload_lost", "the upload stream closed"));
  }

  /** Remembers the download's event loop while it waits for its upload. */
  void captureDownloadContext() {
    downContext = vertx.getOrCreateContext();
  }

  Context downloadContext() {
    return downContext;
  }

  /** Answers a waiting upload that will never be paired, and stops its body. */
  void answerUpload(int status, JsonObject body) {
    Runnable end = () -> {
      var resp = upload.response();
      if (!resp.ended() && !resp.closed()) {
        resp.setStatusCode(status).putHeader("content-type", "application/json").end(body.encode());
        if (!upload.isEnded()) {
          resp.reset(0);
        }
      }
      releases.forEach(Runnable::run);
    };
    if (upContext == null || Vertx.currentContext() == upContext) {
      end.run();
    } else {
      upContext.runOnContext(v -> end.run());
    }
  }

  /** Both sides are here: open the host link and start streaming. Called on the download's context. */
  void start(Links links, java.util.Map<String, String> params) {
    if (downContext == null) {
      downContext = vertx.getOrCreateContext();
    }
    // Vert.x Web copies the route's path parameters (service, link) into the request's own
    // parameter map, which the pair keeps for the link's life: read already, so let them go.
    download.params().clear();
    var resp = download.response();
    resp.setStatusCode(200)
        .putHeader("content-type", "application/x-ndjson")
        .putHeader("cache-control", "no-store")
        .putHeader("x-content-type-options", "nosniff");
    resp.closeHandler(v -> close(null, null));
    resp.exceptionHandler(t -> close(null, null));
    Flow.Publisher<Event> fromGuest = batch != null ? batch : uploadEvents;
    LinkRequest request = LinkRequest.to(route.target(), route.service().orElse(service))
        .guest(guest).link(guest.substring(0, 22) + "/" + linkName);
    for (var p : params.entrySet()) {
      request = request.param(p.getKey(), p.getValue());
    }
    // Bounded by the download's own stream window, not the connection's: a guest that reads
    // nothing leaves one batch and one write here (core/README.md, "A stalled link").
    downWriter = OutboundWriter.forResponse(downContext, download, settings.batch(), new DownloadListener());
    meters.active.incrementAndGet();
    meters.opened.increment();
    metrics.paired();
    heartbeats = Ticks.every(downContext, Math.max(50, settings.heartbeat().toMillis() / 3), this::heartbeat);
    links.open(request, Multi.createFrom().publisher(fromGuest)).subscribe(downWriter);
    feed.opened(this, params);
  }

  private void heartbeat() {
    if (closed || downWriter == null) {
      return;
    }
    if (downWriter.isWritable() && !downWriter.isTerminated()
        && System.nanoTime() - downWriter.lastWriteNanos() > settings.heartbeat().toNanos()) {
      downWriter.writeControl(Event.of(Event.LINK_HEARTBEAT));
    }
  }

  /**
   * Ends the pair. With a reason, the guest learns it from a fatal {@code link.error} on the
   * download. Safe from any thread; only the first call counts.
   */
  void close(String reason, String message) {
    Context ctx = downContext;
    if (ctx != null && Vertx.currentContext() != ctx) {
      ctx.runOnContext(v -> close(reason, message));
      return;
    }
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
    }
    if (reason != null) {
      metrics.linkError(reason);
      log.linkError(reason, service, linkName, guest, message);
    }
    if (timer >= 0) {
      vertx.cancelTimer(timer);
    }
    if (heartbeats != null) {
      heartbeats.cancel();
    }
    if (downWriter != null) {
      meters.active.decrementAndGet();
      if (reason != null) {
        downWriter.writeLast(Event.error(reason, message, true, null));
      }
      downWriter.cancel(); // cancels the host link: RST_STREAM to the host service
    }
    if (download != null && !download.response().ended() && !download.response().closed()) {
      if (download.response().headWritten()) {
        download.response().end();
      }
    }
    if (uploadEvents != null) {
      uploadEvents.breakWith("link_closed", "the guest link has ended");
    }
    if (batch != null) {
      batch.complete();
    }
    endUpload(reason);
    releases.forEach(Runnable::run);
    feed.closed(this);
    onClose.run();
  }

  /** Answers the upload (the browser sees it only once its body ends) and stops its body. */
  void endUpload(String reason) {
    HttpServerRequest up = upload;
    if (up == null) {
      return;
    }
    var resp = up.response();
    Runnable end = () -> {
      if (!resp.ended() && !resp.closed()) {
        resp.setStatusCode(200).putHeader("content-type", "application/json")
            .end(new JsonObject().put("closed", reason == null ? "done" : reason).encode());
        if (!up.isEnded()) {
          resp.reset(0); // RFC 9113 8.1: done, stop sending, no error
        }
      }
    };
    // The upload may live on another event loop than the download: answer on its own.
    if (upContext == null || Vertx.currentContext() == upContext) {
      end.run();
    } else {
      upContext.runOnContext(v -> end.run());
    }
  }

  private final class UploadListener implements InboundEvents.Listener {
    @Override
    public void refused(String reason, String message, String eventId) {
      metrics.refusedEvent(reason);
      log.refused(reason, "an event on " + service + "/" + linkName + ", guest " + LinkLog.guest(guest)
          + ": " + message);
      if (++badEvents > settings.maxBadEvents()) {
        close("too_many_bad_events", "more than " + settings.maxBadEvents() + " refused events on this link");
        return;
      }
      Event error = Event.error(reason, message, false, eventId);
      Context ctx = downContext;
      if (ctx != null) {
        ctx.runOnContext(v -> {
          if (!closed && downWriter != null) {
            downWriter.writeControl(error);
          }
        });
      }
    }

    @Override
    public void read(int events, int bytes) {
      meters.read(events, bytes);
    }

    @Override
    public void cancelled() {
      // The host link stopped taking the upload: it is ending, and will end the download.
    }

    @Override
    public void ended(String reason, String message) {
      if (reason != null && !"link_closed".equals(reason)) {
        close("upload_lost", "the upload stream broke: " + message);
      }
    }
  }

  private final class DownloadListener implements OutboundWriter.Listener {
    @Override
    public void completed() {
      close(null, null); // the host link ended (after its own link.error, if it failed)
    }

    @Override
    public void failed(Throwable t) {
      // The exception is for the gateway's log, not for an untrusted guest: the ref ties them.
      String ref = LinkLog.newRef();
      log.failed(ref, service, linkName, guest, t);
      close("gateway_failed", "the gateway failed on this link (ref " + ref + "); reopen it");
    }

    @Override
    public void wrote(int events, int bytes) {
      meters.wrote(events, bytes);
    }

    @Override
    public void paused(long nanos) {
      meters.paused(nanos);
    }
  }
}
