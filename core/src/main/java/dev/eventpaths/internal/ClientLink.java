package dev.eventpaths.internal;

import dev.eventpaths.Event;
import dev.eventpaths.LinkRequest;
import io.smallrye.mutiny.Multi;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.SocketAddress;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeoutException;
import org.jboss.logging.Logger;

/**
 * One link this app opened: {@code out} feeds the request body, the response body feeds the
 * subscriber. Failures reach the subscriber as a fatal {@code link.error} event followed by
 * completion, never as an error signal.
 */
final class ClientLink implements InboundEvents.Listener, OutboundWriter.Listener {
  private static final LinkLog LINK_LOG = new LinkLog(Logger.getLogger(ClientLink.class));
  private static final int MAX_REFUSAL_BYTES = 4096;
  /** HTTP/2 error code CANCEL: this side does not want the stream any more. */
  private static final long CANCEL = 8;
  /** For {@link #shutdown}: the stream is gone already, write no RST_STREAM. */
  private static final long NO_RESET = -1;

  private final Vertx vertx;
  private final LinkClient owner;
  private final HttpClient http;
  /** Which of the target's pools {@code http} is. */
  private final LinkClient.PoolKey pool;
  private final LinkClient.Target target;
  private final TargetAddresses addresses;
  /** The instances tried so far; let go once the link has its stream (an idle link's heap). */
  private Set<String> tried = new HashSet<>(4);
  private final String caller;
  private final LinkRequest request;
  private final Multi<Event> out;
  private final LinkSettings settings;
  private final LinkMetrics metrics;
  private final LinkMetrics.Meters meters;
  private final Context context;
  private final InboundEvents inbound;
  private final String linkId;
  private HttpClientRequest req;
  private OutboundWriter writer;
  private Ticks.Tick ticking;
  private boolean closed;
  private boolean responseStarted;
  private boolean failing;

  ClientLink(LinkClient owner, HttpClient http, LinkClient.PoolKey pool, LinkClient.Target target, TargetAddresses addresses, String caller,
      LinkRequest request,
      Multi<Event> out, LinkSettings settings, LinkMetrics metrics) {
    this.owner = owner;
    this.vertx = owner.vertx();
    this.http = http;
    this.pool = pool;
    this.target = target;
    this.addresses = addresses;
    this.caller = caller;
    this.request = request;
    this.out = out;
    this.settings = settings;
    this.metrics = metrics;
    this.meters = metrics.of("client", request.service());
    Context current = Vertx.currentContext();
    this.context = current != null ? current : vertx.getOrCreateContext();
    this.inbound = new InboundEvents(context, settings.maxEventBytes(), true, this);
    this.linkId = request.linkId() != null ? request.linkId() : UUID.randomUUID().toString();
  }

  void subscribe(Flow.Subscriber<? super Event> subscriber) {
    meters.active.incrementAndGet();
    meters.opened.increment();
    inbound.subscribe(subscriber);
    context.runOnContext(v -> start(null));
  }

  /**
   * Picks an instance of the target and connects to it: the pinned address, or the next of
   * the target's addresses not tried yet. {@code lastFailure}: why the previous one failed.
   */
  private void start(String lastFailure) {
    if (closed) {
      return;
    }
    Future<String> where = request.address() != null
        ? Future.succeededFuture(tried.isEmpty() ? request.address() : null)
        : addresses.pick(tried);
    where.onComplete(ar -> {
      if (ar.failed()) {
        fail("connect_failed", "cannot resolve " + target.url().getHost() + " for " + target.name() + ": " + ar.cause());
      } else if (ar.result() == null) {
        fail("connect_failed", lastFailure);
      } else {
        String address = ar.result();
        tried.add(address);
        var instance = new LinkClient.Instance(pool, address);
        owner.admit(instance).onComplete(first -> connect(address, instance, first.result()));
      }
    });
  }

  private void connect(String address, LinkClient.Instance instance, boolean first) {
    if (closed) {
      if (first) {
        owner.admitted(instance, null);
      }
      return;
    }
    // No headers here: Vert.x's pool keeps the options' header map (captured by the stream's
    // lease) for the stream's whole life, credential and all. They go on the request below,
    // whose own map is emptied once the head is sent.
    RequestOptions ro = new RequestOptions().setMethod(HttpMethod.POST).setURI(path())
        // Bounds the wait for a stream in the pool (all connections at the server's stream
        // limit), not the TCP connect (the client's own 5 s timeout).
        .setConnectTimeout(target.streamWait().toMillis());
    if (!addresses.fixed() || request.address() != null) {
      // This instance's own connection pool; authority and TLS name stay the target's host.
      ro.setServer(SocketAddress.inetSocketAddress(LinkClient.port(target), address))
          .setHost(target.url().getHost()).setPort(LinkClient.port(target));
    }
    Future<io.vertx.core.http.HttpClientRequest> requested;
    try {
      requested = http.request(ro);
    } catch (IllegalStateException e) {
      // The client was closed (the app is stopping, or its owner closed it): an ending, told
      // as one, not an exception thrown into the event loop.
      if (first) {
        owner.admitted(instance, null);
      }
      fail("connect_failed", "the link client is closed: " + e.getMessage());
      return;
    }
    requested.onComplete(ar -> {
      if (first) {
        owner.admitted(instance, ar.succeeded() ? ar.result().connection() : null);
      }
      if (ar.failed() && isBusy(ar.cause())) {
        // The instance is up but has no stream for this link now: not a reason to mark it down.
        String why = ar.cause() instanceof io.vertx.core.http.ConnectionPoolTooBusyException
            ? "too many links waiting for a stream"
            : "no stream free within " + target.streamWait().toMillis() + " ms";
        owner.busy(target, why);
        long retryAfter = Math.max(1, (target.streamWait().toMillis() + 999) / 1000);
        fail("busy", "no room for another link to this service now; retry after " + retryAfter + " s",
            Map.of("retryAfter", retryAfter), NO_RESET);
        return;
      }
      if (ar.failed()) {
        String why = "cannot reach " + target.name() + " at " + target.url()
            + (addresses.fixed() ? "" : " (" + address + ")") + ": " + ar.cause().getMessage();
        addresses.down(address);
        if (!closed) {
          start(why); // another instance, if the name has one not tried yet
        }
        return;
      }
      addresses.up(address);
      tried = null; // no more failover: the link is on its instance for good
      if (closed) {
        ar.result().reset(CANCEL);
        return;
      }
      req = ar.result();
      req.setChunked(true);
      req.putHeader("content-type", "application/x-ndjson")
          .putHeader("eventpaths-caller", caller)
          .putHeader("eventpaths-link", linkId);
      if (target.secret() != null) {
        req.putHeader("authorization", "Bearer " + target.secret());
      }
      if (request.guestId() != null) {
        req.putHeader("eventpaths-guest", request.guestId());
      }
      // The stream is already gone when these fail (reset by the peer, or its connection
      // lost): end the link without resetting it. A reset written from here, inside Vert.x's
      // round of failing every stream of a broken connection, fails too and starts another
      // such round: with hundreds of links on the connection that recursion overflowed the
      // stack (seen when a host closed a connection on a reset flood).
      req.exceptionHandler(t -> {
        if (!responseStarted) {
          fail(t instanceof io.vertx.core.http.StreamResetException ? "cancelled" : "connection_lost",
              "link broken: " + t.getMessage(), NO_RESET);
        }
      });
      req.response().onComplete(r -> {
        if (r.failed()) {
          fail("connection_lost", "no answer from " + target.name() + ": " + r.cause().getMessage(), NO_RESET);
        } else {
          response(r.result());
        }
      });
      writer = new OutboundWriter(context, req, settings.batch(), this,
          StreamWritability.of(req.connection(), req::streamId));
      // Once sent, the request's headers (the credential among them) are not needed again, and
      // the request would keep them for the link's whole life: an idle link's share of the heap.
      io.vertx.core.http.HttpClientRequest sent = req;
      req.sendHead().onSuccess(v -> sent.headers().clear());
      ticking = Ticks.every(context, settings.tickMillis(), this::tick);
      out.subscribe(writer);
    });
  }

  private String path() {
    StringBuilder p = new StringBuilder("/links/").append(request.service());
    char sep = '?';
    for (var e : request.params().entrySet()) {
      p.append(sep).append(URLEncoder.encode(e.getKey(), StandardCharsets.UTF_8)).append('=')
          .append(URLEncoder.encode(e.getValue(), StandardCharsets.UTF_8));
      sep = '&';
    }
    return p.toString();
  }

  private void response(HttpClientResponse resp) {
    if (closed) {
      return;
    }
    if (resp.statusCode() == 200) {
      responseStarted = true;
      resp.headers().clear(); // not read; kept for the link's life otherwise
      inbound.attach(resp);
      return;
    }
    // A refusal: a short JSON body says why.
    Buffer body = Buffer.buffer();
    resp.handler(chunk -> {
      if (body.length() < MAX_REFUSAL_BYTES) {
        body.appendBuffer(chunk, 0, Math.min(chunk.length(), MAX_REFUSAL_BYTES - body.length()));
      }
    });
    resp.exceptionHandler(t -> refused(resp.statusCode(), body));
    resp.endHandler(v -> refused(resp.statusCode(), body));
  }

  private void refused(int status, Buffer body) {
    String reason = "refused_" + status;
    String message = "HTTP " + status + " from " + target.name();
    try {
      JsonObject json = body.toJsonObject();
      reason = json.getString("error", reason);
      message = json.getString("message", message);
    } catch (RuntimeException notJson) {
      // keep the status-based reason
    }
    fail(reason, message);
  }

  /**
   * Whether opening the stream failed for want of room in the pool: its waiting line was full,
   * or no stream freed within the target's stream wait.
   */
  private static boolean isBusy(Throwable t) {
    return t instanceof io.vertx.core.http.ConnectionPoolTooBusyException
        || t instanceof TimeoutException;
  }

  private void fail(String reason, String message) {
    fail(reason, message, Map.of(), CANCEL);
  }

  private void fail(String reason, String message, long resetCode) {
    fail(reason, message, Map.of(), resetCode);
  }

  /**
   * @param more further fields of the {@code link.error}'s data
   * @param resetCode the RST_STREAM code to end the stream with, or {@link #NO_RESET}
   */
  private void fail(String reason, String message, Map<String, Object> more, long resetCode) {
    if (closed) {
      return;
    }
    metrics.error("client", reason);
    failing = true;
    if (reason.equals("connect_failed") && request.guestId() != null) {
      // Goes down to a browser: the target's URL and addresses stay in this log.
      String ref = LinkLog.newRef();
      var guest = Optional.of(request.guestId());
      LINK_LOG.log(Logger.Level.WARN, target.name() + " unreachable", null, message + " [ref " + ref
          + "] (service " + request.service() + ", link " + LinkLog.link(linkId, guest) + ", guest " + LinkLog.guest(guest) + ")");
      message = "could not reach service " + request.service() + " (ref " + ref + ")";
    }
    inbound.breakWith(reason, message, more); // first, so this reason wins over the reset's echo
    shutdown(resetCode);
  }

  private void tick() {
    if (closed) {
      return;
    }
    long now = System.nanoTime();
    if (responseStarted && !inbound.isDone() && !inbound.isPausedByConsumer()
        && now - inbound.lastReadNanos() > settings.idleTimeout().toNanos()) {
      fail("idle_timeout", "nothing heard from " + target.name() + " for " + settings.idleTimeout().toSeconds() + " s");
      return;
    }
    if (writer != null && writer.isWritable() && !writer.isTerminated()
        && now - writer.lastWriteNanos() > settings.heartbeat().toNanos()) {
      writer.writeControl(Event.of(Event.LINK_HEARTBEAT));
    }
  }

  /** Ends the link from this side: stops the producer, resets the stream if it is still open. */
  private void shutdown(long resetCode) {
    if (closed) {
      return;
    }
    closed = true;
    meters.active.decrementAndGet();
    if (ticking != null) {
      ticking.cancel();
    }
    if (writer != null) {
      writer.cancel();
    }
    if (req != null && resetCode >= 0) {
      req.reset(resetCode);
    }
  }

  // --- inbound ---

  @Override
  public void refused(String reason, String message, String eventId) {
    // The service sent a line we cannot read: show it to the app, do not end the link.
    metrics.error("client", reason);
  }

  @Override
  public void read(int events, int bytes) {
    meters.read(events, bytes);
  }

  @Override
  public void cancelled() {
    // The app does not want more: cancel the stream (RST_STREAM CANCEL).
    shutdown(CANCEL);
  }

  @Override
  public void ended(String reason, String message) {
    if (reason == null) {
      // The service ended its output: the link is over. Stop sending (NO_ERROR if we still were).
      boolean stillSending = writer != null && !writer.isTerminated();
      shutdown(stillSending ? 0 : NO_RESET);
    } else if (!closed && !failing) {
      metrics.error("client", reason);
      shutdown(NO_RESET);
    }
  }

  // --- outbound ---

  @Override
  public void completed() {
    if (req != null && !closed) {
      req.end();
    }
  }

  @Override
  public void failed(Throwable t) {
    if (req != null && !closed) {
      metrics.error("client", "service_failed");
      writer.writeLast(Event.error("service_failed", "the caller's stream failed: " + t.getMessage(), true, null));
      req.end();
    }
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
