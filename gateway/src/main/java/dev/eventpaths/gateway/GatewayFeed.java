package dev.eventpaths.gateway;

import dev.eventpaths.Event;
import dev.eventpaths.Json;
import dev.eventpaths.LinkRequest;
import dev.eventpaths.Links;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.subscription.MultiEmitter;
import io.vertx.core.Vertx;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.jboss.logging.Logger;

/**
 * Tells a host service (presence-read) which guest links open and close on this gateway
 * instance, over one host-to-host link: {@code guest.link.opened} / {@code guest.link.closed}.
 * Presence is learned from the gateway, not from what guests say about themselves.
 *
 * <p>The feed is state, not history: after any break it reconnects (with backoff) and first
 * re-sends every link open now, so the receiver can rebuild this instance's entries. Its
 * buffer is bounded: a receiver too slow for it fails the feed link, which reconnects and
 * re-sends the state instead of queueing without end.
 */
@ApplicationScoped
public class GatewayFeed {
  private static final Logger LOG = Logger.getLogger(GatewayFeed.class);
  static final int BUFFER = 10_000;

  @Inject Links links;
  @Inject Vertx vertx;

  @Inject GatewayConfig config;
  private java.util.Optional<String> target = java.util.Optional.empty();
  private String service;

  /** This instance, as the receiver knows it. */
  final String instance = UUID.randomUUID().toString().substring(0, 12);

  private final Map<GuestPair, Map<String, Object>> open = new ConcurrentHashMap<>();
  private volatile MultiEmitter<? super Event> emitter;
  private volatile boolean stopped;
  private long backoffMs = 200;

  void start(@Observes StartupEvent e) {
    target = config.feed().target();
    service = config.feed().service();
    target.ifPresent(t -> connect());
  }

  void stop(@Observes ShutdownEvent e) {
    stopped = true;
    MultiEmitter<? super Event> em = emitter;
    if (em != null) {
      em.complete();
    }
  }

  void opened(GuestPair pair, Map<String, String> params) {
    if (target.isEmpty()) {
      return;
    }
    Map<String, Object> data = describe(pair, params);
    // The map and the feed change together, under one lock, re-sends included: otherwise a
    // close could overtake a re-sent open and leave a ghost viewer.
    synchronized (open) {
      open.put(pair, data);
      emit(new Event("guest.link.opened", null, 0, Json.of(data)));
    }
  }

  void closed(GuestPair pair) {
    synchronized (open) {
      Map<String, Object> data = open.remove(pair);
      if (data != null) {
        emit(new Event("guest.link.closed", null, 0, Json.of(data)));
      }
    }
  }

  private Map<String, Object> describe(GuestPair pair, Map<String, String> params) {
    Map<String, Object> d = new LinkedHashMap<>();
    d.put("gateway", instance);
    d.put("guest", pair.guest);
    d.put("service", pair.service);
    d.put("link", pair.linkName);
    d.put("params", params);
    return d;
  }

  private void emit(Event e) {
    MultiEmitter<? super Event> em = emitter;
    if (em != null && !em.isCancelled()) {
      em.emit(e);
    }
  }

  private void connect() {
    if (stopped) {
      return;
    }
    Multi<Event> out = Multi.createFrom().<Event>emitter(em -> {
      // State first: every link open now, then live changes.
      synchronized (open) {
        emitter = em;
        open.values().forEach(d -> em.emit(new Event("guest.link.opened", null, 0, Json.of(d))));
      }
    }).onOverflow().buffer(BUFFER);
    links.open(LinkRequest.to(target.get(), service).param("gateway", instance), out)
        .subscribe().with(
            e -> {
              if (Event.LINK_READY.equals(e.type())) {
                backoffMs = 200;
                LOG.infof("gateway feed to %s open (instance %s)", target.get(), instance);
              } else if (Event.LINK_ERROR.equals(e.type())) {
                LOG.warnf("gateway feed: %s", e.data());
              }
            },
            t -> reconnectLater(),
            this::reconnectLater);
  }

  private void reconnectLater() {
    emitter = null;
    if (stopped) {
      return;
    }
    long delay = backoffMs + (long) (Math.random() * backoffMs);
    backoffMs = Math.min(backoffMs * 2, Duration.ofSeconds(10).toMillis());
    vertx.setTimer(delay, t -> connect());
  }
}
