package dev.eventpaths.tasks.read;

import dev.eventpaths.Event;
import dev.eventpaths.EventService;
import dev.eventpaths.HostService;
import dev.eventpaths.Json;
import dev.eventpaths.LinkContext;
import io.smallrye.mutiny.Multi;
import jakarta.enterprise.context.ApplicationScoped;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A stand-in for tasks-write's {@code log} service (its contract: write-services/tasks-write/
 * README.md): every change after {@code ?after=}, in order, then live changes as tests append
 * them, demand-driven. Tests can also end or fail the links it serves, and make it repeat
 * changes a follower already has, as a log that lost track might.
 */
@ApplicationScoped
@HostService("log")
public class ScriptedLog implements EventService {
  private static final List<Event> LOG = new ArrayList<>();
  private static final AtomicLong SEQ = new AtomicLong();
  private static final AtomicInteger GENERATION = new AtomicInteger();
  /** The {@code after} of every link opened to this log, in order. */
  static final List<Long> CONNECTS = new CopyOnWriteArrayList<>();
  /** When each of those links was opened ({@link System#nanoTime}). */
  static final List<Long> CONNECT_NANOS = new CopyOnWriteArrayList<>();
  /** How many of the next links fail at once, before sending anything. */
  static final AtomicInteger FAIL_AT_ONCE = new AtomicInteger();
  static volatile boolean failNext;
  static volatile int repeat;

  /** Appends a change for {@code board}; returns it (with its seq). */
  static Event append(String type, String board, String task, Map<String, Object> more) {
    Map<String, Object> data = new LinkedHashMap<>();
    data.put("board", board);
    data.put("task", task);
    data.putAll(more);
    data.put("at", System.currentTimeMillis());
    synchronized (LOG) {
      Event e = new Event(type, "cmd-" + (SEQ.get() + 1), SEQ.incrementAndGet(), Json.of(data));
      LOG.add(e);
      return e;
    }
  }

  static Event add(String board, String task, String title, String before) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("title", title);
    m.put("before", before);
    return append("task.added", board, task, m);
  }

  static long head() {
    return SEQ.get();
  }

  /** Ends every link now open: with a failure (the follower sees service_failed) or cleanly. */
  static void dropLinks(boolean fail) {
    failNext = fail;
    GENERATION.incrementAndGet();
  }

  private static List<Event> after(long after, int max) {
    synchronized (LOG) {
      List<Event> out = new ArrayList<>();
      // seqs are 1..n in order, so the change after `after` sits at index `after`.
      for (int i = (int) Math.max(0, after); i < LOG.size() && out.size() < max; i++) {
        out.add(LOG.get(i));
      }
      return out;
    }
  }

  @Override
  public Multi<Event> apply(Multi<Event> in, LinkContext link) {
    long after = link.resumeAfter().orElse(0);
    CONNECT_NANOS.add(System.nanoTime());
    CONNECTS.add(after);
    if (FAIL_AT_ONCE.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
      return Multi.createFrom().failure(new IllegalStateException("the scripted log is failing"));
    }
    int generation = GENERATION.get();
    long[] cursor = {Math.max(0, after - repeat)};
    boolean[] live = {false};
    Multi<Event> changes = Multi.createFrom().ticks().every(Duration.ofMillis(5)).onOverflow().drop()
        .select().first(t -> GENERATION.get() == generation)
        .concatMap(t -> {
          List<Event> batch = after(cursor[0], 256);
          if (!batch.isEmpty()) {
            cursor[0] = batch.get(batch.size() - 1).seq();
          } else if (!live[0]) {
            live[0] = true;
            return Multi.createFrom().item(Event.of("log.live", Map.of("head", cursor[0])));
          }
          return Multi.createFrom().iterable(batch);
        });
    return changes.onCompletion().switchTo(() -> failNext
        ? Multi.createFrom().failure(new IllegalStateException("the scripted log failed"))
        : Multi.createFrom().empty());
  }
}
