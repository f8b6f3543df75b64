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
 * instance: {@code guest.link.opened} / {@code guest.link.closed}. Presence is learned from the
 * gateway, not from what guests say about themselves.
 *
 * <p>presence-read keeps its state per instance, so the feed goes to every instance: one
 * host-to-host link per address of the target's name (Fly's {@code <app>.internal} names every
 * Machine), looked up again every few seconds so instances that come and go are fed too.
 *
 * <p>The feed is state, not history: after any break a link reconnects (with backoff) and first
 * re-sends every link open now, so the receiver can rebuild this instance's entries. Its
 * buffer is bounded: a receiver too slow for it fails the feed link, which reconnects and
 * re-sends the state instead of queueing without end.
 */
@ApplicationScoped
public class GatewayFeed {
  private static final Logger LOG = Logger.getLogger(GatewayFeed.class);
  static final int BUFFER = 10_000;
  static final long REFRESH_MILLIS = 5_000;

  @Inject Links links;
  @Inject Vertx vertx;

  @Inject GatewayConfig config;
  private java.util.Optional<String> target = java.util.Optional.empty();
  private String service;

  /** This instance, as the receiver knows it. */
  final String instance = UUID.randomUUID().toString().substring(0, 12);

  /** Each open link's description, encoded once (an idle link's share of the gateway's heap). */
  private final Map<GuestPair, Json> open = new ConcurrentHashMap<>();
  /** One feed per address of the target. */
  private final Map<String, Feed> feeds = new ConcurrentHashMap<>();
  private volatile boolean stopped;
  private long refreshTimer = -1;

  void start(@Observes StartupEvent e) {
    target = config.feed().target();
    service = config.feed().service();
    target.ifPresent(t -> {
      refresh();
      refreshTimer = vertx.setPeriodic(REFRESH_MILLIS, id -> refresh());
    });
  }

  void stop(@Observes ShutdownEvent e) {
    stopped = true;
    if (refreshTimer >= 0) {
      vertx.cancelTimer(refreshTimer);
    }
    feeds.values().forEach(Feed::stop);
  }

  void opened(GuestPair pair, Map<String, String> params) {
    if (target.isEmpty()) {
      return;
    }
    Json data = Json.of(describe(pair, params));
    // The map and the feeds change together, under one lock, re-sends included: otherwise a
    // close could overtake a re-sent open and leave a ghost viewer.
    synchronized (open) {
      open.put(pair, data);
      emit(new Event("guest.link.opened", null, 0, data));
    }
  }

  void closed(GuestPair pair) {
    synchronized (open) {
      Json data = open.remove(pair);
      if (data != null) {
        emit(new Event("guest.link.closed", null, 0, data));
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
    feeds.values().forEach(f -> f.emit(e));
  }

  /** Starts a feed for each new address of the target and stops those whose address went. */
  private void refresh() {
    if (stopped) {
      return;
    }
    links.addresses(target.get()).subscribe().with(now -> {
      for (String address : now) {
        feeds.computeIfAbsent(address, a -> {
          Feed f = new Feed(a);
          f.connect();
          return f;
        });
      }
      feeds.keySet().stream().filter(a -> !now.contains(a)).toList().forEach(a -> {
        Feed gone = feeds.remove(a);
        if (gone != null) {
          gone.stop();
        }
      });
    }, t -> LOG.warnf("gateway feed: cannot resolve %s: %s", target.get(), t.getMessage()));
  }

  /** The feed link to one instance, reconnected with backoff until stopped. */
  private final class Feed {
    final String address;
    volatile MultiEmitter<? super Event> emitter;
    volatile boolean done;
    long backoffMs = 200;

    Feed(String address) {
      this.address = address;
    }

    void emit(Event e) {
      MultiEmitter<? super Event> em = emitter;
      if (em != null && !em.isCancelled()) {
        em.emit(e);
      }
    }

    void stop() {
      done = true;
      MultiEmitter<? super Event> em = emitter;
      if (em != null) {
        em.complete();
      }
    }

    void connect() {
      if (stopped || done) {
        return;
      }
      Multi<Event> out = Multi.createFrom().<Event>emitter(em -> {
        // State first: every link open now, then live changes.
        synchronized (open) {
          emitter = em;
          open.values().forEach(d -> em.emit(new Event("guest.link.opened", null, 0, d)));
        }
      }).onOverflow().buffer(BUFFER);
      links.open(LinkRequest.to(target.get(), service).param("gateway", instance).via(address), out)
          .subscribe().with(
              e -> {
                if (Event.LINK_READY.equals(e.type())) {
                  backoffMs = 200;
                  LOG.infof("gateway feed to %s at %s open (instance %s)", target.get(), address, instance);
                } else if (Event.LINK_ERROR.equals(e.type())) {
                  LOG.warnf("gateway feed to %s at %s: %s", target.get(), address, e.data());
                }
              },
              t -> reconnectLater(),
              this::reconnectLater);
    }

    private void reconnectLater() {
      emitter = null;
      if (stopped || done) {
        return;
      }
      long delay = backoffMs + (long) (Math.random() * backoffMs);
      backoffMs = Math.min(backoffMs * 2, Duration.ofSeconds(10).toMillis());
      vertx.setTimer(delay, t -> connect());
    }
  }
}
