package dev.eventpaths.tasks.read;

import dev.eventpaths.Event;
import dev.eventpaths.LinkRequest;
import dev.eventpaths.Links;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.mutiny.Multi;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.util.concurrent.Flow;
import java.util.concurrent.ThreadLocalRandom;
import org.jboss.logging.Logger;

/**
 * Follows tasks-write's {@code log} over one host-to-host link and applies it to {@link Boards}.
 *
 * <p>It asks for the changes after the last position applied ({@code ?after=}), so a new link
 * continues where the last one stopped: catch-up, then live. When a link ends (the log
 * completed, failed, or the connection broke: all of them arrive as the end of the stream,
 * usually after a fatal {@code link.error}) it opens another after a backoff that doubles up
 * to a cap and is jittered, so that many readers restarting together do not reconnect in step.
 * A change whose position was already applied is ignored ({@link Boards#apply}).
 *
 * <p>Demand: it asks the link for {@link #BATCH} changes at a time and applies each as it
 * arrives (a map update under a short lock), so the log is read as fast as it is applied and
 * never faster: nothing queues here.
 *
 * <p>Catch-up: the log does not have to say where its head is. If it sends {@code log.live}
 * (after the changes it had when the link opened), that ends the first catch-up; otherwise the
 * catch-up counts as over once the link has been ready and quiet for {@code catch-up-quiet}.
 * Guests are served only after that (see {@link Boards#read}).
 */
@ApplicationScoped
public class LogFollower {
  private static final Logger LOG = Logger.getLogger(LogFollower.class);
  static final int BATCH = 256;
  /** The event by which a log may say "that was the catch-up; live changes follow". */
  static final String LOG_LIVE = "log.live";

  @Inject Links links;
  @Inject Boards boards;
  @Inject TasksReadConfig config;
  @Inject Vertx vertx;
  @Inject MeterRegistry registry;

  private Counter reconnects;
  // One event-loop context for the follower: links it opens, their events, its timers and its
  // backoff state all live on it, so none of that needs a lock.
  private Context context;
  private volatile Follow current;
  private volatile boolean stopped;
  private int failedAttempts; // touched on the follower's context only
  private long retryTimer = -1;

  void start(@Observes StartupEvent e) {
    reconnects = Counter.builder("tasks.read.log.reconnects").description("links to the log opened after the first")
        .register(registry);
    Gauge.builder("tasks.read.log.connected", this, f -> f.current != null && f.current.ready ? 1 : 0)
        .description("1 while a link to the log is open").register(registry);
    context = vertx.getOrCreateContext();
    context.runOnContext(v -> connect());
  }

  // Before the library ends the links it serves (which, in tests, include the log itself), so
  // that the end of the log link is not taken for a reason to reconnect.
  void stop(@Observes @Priority(1) ShutdownEvent e) {
    stopped = true;
    Follow f = current;
    if (f != null) {
      f.cancel();
    }
    if (context != null) {
      context.runOnContext(v -> {
        if (retryTimer >= 0) {
          vertx.cancelTimer(retryTimer);
        }
      });
    }
  }

  /** Whether a link to the log is open and ready now. */
  boolean connected() {
    Follow f = current;
    return f != null && f.ready;
  }

  private void connect() {
    retryTimer = -1;
    if (stopped) {
      return;
    }
    long after = boards.lastApplied();
    LinkRequest request = LinkRequest.to(config.log().target(), config.log().service()).after(after);
    Follow f = new Follow(after);
    current = f;
    // The request body stays open and empty: the log needs nothing from us, and an open body
    // keeps heartbeats flowing both ways, so each side notices a dead peer.
    links.open(request, Multi.createFrom().nothing()).subscribe().withSubscriber(f);
  }

  /** Called when a link ends: decides the backoff and opens the next one. */
  private void ended(Follow f) {
    if (stopped || current != f) {
      return;
    }
    current = null;
    // A link that got as far as applying something proves the log works: start the backoff
    // over. One that never did (refused, unreachable, failing at once) backs off further.
    failedAttempts = f.applied > 0 ? 0 : failedAttempts + 1;
    long initial = Math.max(1, config.reconnect().initial().toMillis());
    long cap = Math.max(initial, config.reconnect().max().toMillis());
    long ceiling = Math.min(cap, initial << Math.min(failedAttempts, 20));
    // "Equal jitter": at least half the ceiling, so retries never collapse to zero delay.
    long delay = ceiling / 2 + ThreadLocalRandom.current().nextLong(ceiling / 2 + 1);
    LOG.infof("log link ended (%s); reconnecting in %d ms after seq %d", f.endReason, delay, boards.lastApplied());
    reconnects.increment();
    retryTimer = vertx.setTimer(delay, t -> connect());
  }

  /** One link to the log. */
  private final class Follow implements Flow.Subscriber<Event> {
    final long after;
    volatile boolean ready;
    Flow.Subscription subscription;
    int untilRequest;
    long applied;
    long lastHeardNanos = System.nanoTime();
    long quietTimer = -1;
    String endReason = "completed";
    volatile boolean cancelled;

    Follow(long after) {
      this.after = after;
    }

    void cancel() {
      cancelled = true;
      Flow.Subscription s = subscription;
      if (s != null) {
        s.cancel();
      }
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
      subscription = s;
      if (cancelled) {
        s.cancel();
        return;
      }
      untilRequest = BATCH / 2;
      s.request(BATCH);
    }

    @Override
    public void onNext(Event e) {
      lastHeardNanos = System.nanoTime();
      switch (e.type()) {
        case Event.LINK_READY -> {
          ready = true;
          LOG.infof("following the log after seq %d", after);
          if (!boards.isCaughtUp()) {
            long period = Math.max(10, config.catchUpQuiet().toMillis() / 4);
            quietTimer = vertx.setPeriodic(period, t -> checkQuiet());
          }
        }
        case Event.LINK_ERROR -> {
          endReason = String.valueOf(e.errorReason());
          LOG.warnf("log link: %s", e.data());
        }
        case LOG_LIVE -> caughtUp();
        default -> {
          if (boards.apply(e) == Boards.Applied.APPLIED) {
            applied++;
          }
        }
      }
      if (--untilRequest == 0) {
        untilRequest = BATCH / 2;
        subscription.request(BATCH / 2);
      }
    }

    private void checkQuiet() {
      if (ready && System.nanoTime() - lastHeardNanos >= config.catchUpQuiet().toNanos()) {
        LOG.infof("the log has been quiet for %s: taking that as the end of the catch-up", config.catchUpQuiet());
        caughtUp();
      }
    }

    private void caughtUp() {
      if (quietTimer >= 0) {
        vertx.cancelTimer(quietTimer);
        quietTimer = -1;
      }
      boards.caughtUp();
    }

    @Override
    public void onError(Throwable t) {
      // Links.open never fails (failures arrive as a link.error event); this is belt and braces.
      endReason = String.valueOf(t);
      onComplete();
    }

    @Override
    public void onComplete() {
      ready = false;
      if (quietTimer >= 0) {
        vertx.cancelTimer(quietTimer);
        quietTimer = -1;
      }
      context.runOnContext(v -> ended(this));
    }
  }
}
