package dev.eventpaths.internal;

import dev.eventpaths.Event;
import dev.eventpaths.EventService;
import dev.eventpaths.LinkContext;
import io.smallrye.mutiny.Multi;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import java.util.Map;
import org.jboss.logging.Logger;

/**
 * One link served by this app: the request body feeds the service, the service's output
 * feeds the response body. Lives on the event loop of its request.
 */
final class ServerLink implements InboundEvents.Listener, OutboundWriter.Listener {
  private static final Logger LOG = Logger.getLogger(ServerLink.class);
  /** Shared by all links: the budget is per service (and kind of line), not per link. */
  static final LinkLog LINK_LOG = new LinkLog(LOG);
  private final Vertx vertx;
  private final Context context;
  private final HttpServerRequest request;
  private final HttpServerResponse response;
  private final LinkSettings settings;
  private final LinkMetrics metrics;
  private final LinkMetrics.Meters meters;
  private final LinkContext link;
  private final Runnable onClose;
  private final InboundEvents inbound;
  private final OutboundWriter writer;
  private Ticks.Tick ticking;
  private int badEvents;
  private boolean closed;
  private boolean aborting;

  ServerLink(Vertx vertx, HttpServerRequest request, LinkContext link, LinkSettings settings, LinkMetrics metrics,
      Runnable onClose) {
    this.vertx = vertx;
    this.context = vertx.getOrCreateContext();
    this.request = request;
    this.response = request.response();
    this.settings = settings;
    this.metrics = metrics;
    this.meters = metrics.of("server", link.service());
    this.link = link;
    this.onClose = onClose;
    this.inbound = new InboundEvents(context, settings.maxEventBytes(), false, this);
    this.writer = OutboundWriter.forResponse(context, request, settings.batch(), this);
  }

  LinkContext context() {
    return link;
  }

  void start(EventService service) {
    meters.active.incrementAndGet();
    meters.opened.increment();
    response.setStatusCode(200)
        .putHeader("content-type", "application/x-ndjson")
        .putHeader("cache-control", "no-store")
        .putHeader("eventpaths-link", link.linkId());
    response.exceptionHandler(t -> broken(
        t instanceof io.vertx.core.http.StreamResetException ? "cancelled" : "connection_lost",
        "link broken: " + t.getMessage()));
    response.closeHandler(v -> broken("connection_lost", "the connection closed"));
    writer.writeControl(Event.of(Event.LINK_READY, Map.of("link", link.linkId(), "service", link.service())));
    if (link.guestId().isEmpty()) {
      // A link between host services gets this app's stream window; a link the gateway opened
      // for a guest keeps the connection's small one (ReceiveWindow says why).
      ReceiveWindow.grow(request.connection(), response.streamId(), settings.streamWindow());
    }
    inbound.attach(request);
    ticking = Ticks.every(context, settings.tickMillis(), this::tick);
    Multi<Event> out;
    try {
      out = service.apply(Multi.createFrom().publisher(inbound), link);
      if (out == null) {
        out = Multi.createFrom().failure(new NullPointerException("service returned null"));
      }
    } catch (Throwable t) {
      out = Multi.createFrom().failure(t);
    }
    out.subscribe(writer);
  }

  /** Ends the link from this side with a fatal {@code link.error} (shutdown, idle, abuse). */
  void abort(String reason, String message) {
    if (closed) {
      return;
    }
    metrics.error("server", reason);
    logSent(reason, true, null);
    aborting = true;
    writer.writeLast(Event.error(reason, message, true, null));
    inbound.breakWith(reason, message); // before the reset, so the service sees this reason
    finish(true);
  }

  /** {@link #abort} from any thread. */
  void abortOnContext(String reason, String message) {
    context.runOnContext(v -> abort(reason, message));
  }

  private void tick() {
    if (closed) {
      return;
    }
    long now = System.nanoTime();
    if (!inbound.isDone() && !inbound.isPausedByConsumer()
        && now - inbound.lastReadNanos() > settings.idleTimeout().toNanos()) {
      abort("idle_timeout", "nothing heard from the caller for " + settings.idleTimeout().toSeconds() + " s");
      return;
    }
    if (writer.isWritable() && !writer.isTerminated() && now - writer.lastWriteNanos() > settings.heartbeat().toNanos()) {
      writer.writeControl(Event.of(Event.LINK_HEARTBEAT));
    }
  }

  /**
   * The stream was reset or its connection lost. The input hears it first (a service reading
   * it sees why); then the output stops here too, because a caller that had already ended its
   * body has no input left to fail, and nothing else would stop a service still talking to
   * nobody (its writer waiting for a window that never reopens, the link counted active).
   * Queued on the link's context, so it runs after the input's own notice (which, when it
   * comes, has closed the link already: then this does nothing).
   */
  private void broken(String reason, String message) {
    inbound.breakWith(reason, message);
    context.runOnContext(v -> ended(reason, message));
  }

  // --- inbound ---

  @Override
  public void refused(String reason, String message, String eventId) {
    metrics.error("server", reason);
    if (++badEvents > settings.maxBadEvents()) {
      abort("too_many_bad_events", "more than " + settings.maxBadEvents() + " refused events on this link");
      return;
    }
    logSent(reason, false, eventId);
    writer.writeControl(Event.error(reason, message, false, eventId));
  }

  @Override
  public void read(int events, int bytes) {
    meters.read(events, bytes);
  }

  @Override
  public void cancelled() {
    // The service stopped reading its input; its output decides when the link ends.
  }

  @Override
  public void ended(String reason, String message) {
    if (reason != null && !aborting) {
      // The caller is gone: nobody will read what the service still has to say.
      if (!closed) {
        metrics.error("server", reason);
      }
      writer.cancel();
      finish(false);
    }
  }

  // --- outbound ---

  @Override
  public void completed() {
    if (closed) {
      return;
    }
    finish(true);
  }

  @Override
  public void failed(Throwable t) {
    if (closed) {
      return; // the link broke first; the failure is the input's LinkClosedException coming back
    }
    metrics.error("server", "service_failed");
    // The caller (maybe a browser, through the gateway) learns that it failed and the ref to
    // ask about; what failed and where (the exception, its message, its trace) stays here.
    String ref = LinkLog.newRef();
    LINK_LOG.log(Logger.Level.ERROR, link.service() + " failed", t,
        "service failed, link.error service_failed sent [ref " + ref + "] (" + LinkLog.describe(link) + ")");
    writer.writeLast(Event.error("service_failed", "service " + link.service() + " failed (ref " + ref + ")", true, null,
        Map.of("ref", ref)));
    finish(true);
  }

  /** One line per link.error this side sends (bad input, idle, abuse), within its service's budget. */
  private void logSent(String reason, boolean fatal, String eventId) {
    // Ends that are no one's fault are news, not warnings.
    Logger.Level level = reason.equals("idle_timeout") || reason.equals("shutting_down") ? Logger.Level.INFO : Logger.Level.WARN;
    LINK_LOG.log(level, link.service(), null, "link.error " + reason + (fatal ? " (fatal)" : "") + " sent ("
        + LinkLog.describe(link) + (eventId == null ? "" : ", event " + LinkLog.quote(eventId)) + ")");
  }

  @Override
  public void wrote(int events, int bytes) {
    meters.wrote(events, bytes);
  }

  @Override
  public void paused(long nanos) {
    meters.paused(nanos);
  }

  private void finish(boolean endResponse) {
    if (closed) {
      return;
    }
    closed = true;
    if (ticking != null) {
      ticking.cancel();
    }
    meters.active.decrementAndGet();
    if (endResponse && !response.ended() && !response.closed()) {
      // RFC 9113 8.1 lets a server reset (NO_ERROR) a caller still sending after a complete
      // response, but a reset also discards what the caller has received and not yet read:
      // a slow reader lost the tail of the output to it. A link client stops sending by itself
      // once it has read the end (ClientLink resets its request then); one that does not is
      // reset after the idle timeout.
      if (!request.isEnded()) {
        long orphan = vertx.setTimer(settings.idleTimeout().toMillis(), t -> {
          if (!request.isEnded() && !response.closed()) {
            response.reset(0);
          }
        });
        // Before end(): Vert.x refuses a close handler on an ended response, and the exception
        // used to skip the rest of this method (the link stayed registered, its connection
        // counted open for ever).
        response.closeHandler(v -> vertx.cancelTimer(orphan));
      }
      response.end();
    }
    // If the service still reads its input, tell it the link is over.
    inbound.breakWith("link_closed", "the link has ended");
    onClose.run();
  }
}
