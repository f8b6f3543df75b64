package dev.eventpaths.internal;

import io.netty.channel.EventLoop;
import io.vertx.core.Context;
import io.vertx.core.impl.ContextInternal;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * Periodic work for many links on one event loop from one timer: a link's heartbeat and idle
 * check run every few seconds, and a Vert.x timer per link cost about 200 bytes of heap (the
 * timer, Netty's scheduled task, the handler, the timer map's entry) for every idle link a
 * gateway holds. Here a link costs one small entry in its event loop's list.
 *
 * <p>Each task runs on its event loop, on the Vert.x context it was registered with, once per
 * period (give or take a period for the first run). A task that throws is logged and keeps its
 * place. {@link Tick#cancel} may be called from any thread; the task never runs after it
 * returns on the event loop, and is dropped from the list at the next round.
 */
public final class Ticks {
  private static final Logger LOG = Logger.getLogger(Ticks.class);
  private static final Map<Key, Group> GROUPS = new ConcurrentHashMap<>();
  private static final java.util.Set<EventLoop> WATCHED = ConcurrentHashMap.newKeySet();

  private Ticks() {}

  /** Runs {@code task} every {@code periodMillis} on {@code context} until the tick is cancelled. */
  public static Tick every(Context context, long periodMillis, Runnable task) {
    ContextInternal ctx = (ContextInternal) context;
    Tick tick = new Tick(ctx, task);
    EventLoop loop = ctx.nettyEventLoop();
    if (loop.inEventLoop()) {
      register(loop, periodMillis, tick);
    } else {
      loop.execute(() -> register(loop, periodMillis, tick));
    }
    return tick;
  }

  /** How many timers run ticks now: one per event loop and period in use. */
  static int timers() {
    return GROUPS.size();
  }

  private static void register(EventLoop loop, long period, Tick tick) {
    if (tick.task == null) {
      return; // cancelled before it got here
    }
    Key key = new Key(loop, period);
    Group group = GROUPS.get(key);
    if (group == null) {
      group = new Group(key);
      GROUPS.put(key, group);
      Group g = group;
      // On the event loop itself, not through the first link's Vert.x context: that context may
      // belong to a verticle (an HTTP server's) whose end must not stop every later link's tick.
      group.timer = loop.scheduleAtFixedRate(g::run, period, period, TimeUnit.MILLISECONDS);
      if (WATCHED.add(loop)) {
        // A closed Vert.x stops its loops (and their timers): forget their groups with them.
        // Once per loop: groups come and go as links do, listeners would pile up.
        loop.terminationFuture().addListener(f -> {
          GROUPS.keySet().removeIf(k -> k.loop() == loop);
          WATCHED.remove(loop);
        });
      }
    }
    group.ticks.add(tick);
  }

  private record Key(EventLoop loop, long period) {}

  /** The ticks of one event loop and period. Confined to that event loop. */
  private static final class Group {
    final Key key;
    List<Tick> ticks = new ArrayList<>();
    ScheduledFuture<?> timer;

    Group(Key key) {
      this.key = key;
    }

    void run() {
      List<Tick> now = ticks;
      List<Tick> kept = new ArrayList<>(now.size());
      ticks = kept; // ticks registered by the tasks below land in the new list
      for (Tick t : now) {
        if (t.task == null) {
          continue;
        }
        kept.add(t);
        t.context.emit(t, Ticks::runOne);
      }
      if (kept.isEmpty() && ticks == kept) {
        timer.cancel(false);
        GROUPS.remove(key, this);
      }
    }
  }

  private static void runOne(Tick t) {
    Runnable task = t.task;
    if (task == null) {
      return;
    }
    try {
      task.run();
    } catch (Throwable e) {
      // Caught whatever it is: a periodic Netty task that throws is never run again, and this
      // one ticks every link on the loop.
      LOG.warn("a periodic link task failed", e);
    }
  }

  /** One registered task. */
  public static final class Tick {
    final ContextInternal context;
    volatile Runnable task;

    Tick(ContextInternal context, Runnable task) {
      this.context = context;
      this.task = task;
    }

    /** Stops the task (and lets go of it). Idempotent, any thread. */
    public void cancel() {
      task = null;
    }
  }
}
