package dev.eventpaths.tasks.read;

import com.fasterxml.jackson.databind.JsonNode;
import dev.eventpaths.Event;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.jboss.logging.Logger;

/**
 * Every board's projection and recent changes, in memory, as of one position of the log.
 *
 * <p>One writer ({@link LogFollower}) applies the log in order; many readers ({@link BoardFeed},
 * one per guest) pull snapshots and changes at their own pace. State changes under one lock,
 * held for a map lookup or a list copy; readers are woken after it is released, and do their
 * encoding and writing on their own event loops.
 */
@ApplicationScoped
public class Boards {
  private static final Logger LOG = Logger.getLogger(Boards.class);

  /** What {@link #read} found for a guest. */
  sealed interface Read permits Changes, Snapshot {}

  /** The board's changes after the guest's position, oldest first (never empty). */
  record Changes(List<Event> events) implements Read {}

  /**
   * The whole board as of log position {@code seq}: the guest must start over from it.
   *
   * @param cause why: {@code new} (first read), {@code behind} (the guest's position fell out
   *     of the history), {@code unknown_after} (a position this service has not reached)
   */
  record Snapshot(long seq, List<BoardProjection.Task> tasks, String cause) implements Read {}

  /** What {@link #apply} did with a change. */
  enum Applied { APPLIED, DUPLICATE, SKIPPED }

  private static final class Board {
    final BoardProjection projection = new BoardProjection();
    final History history;

    Board(int historySize) {
      history = new History(historySize);
    }
  }

  private final int historySize;
  private final Object lock = new Object();
  private final Map<String, Board> boards = new HashMap<>(); // guarded by lock
  private long lastApplied; // guarded by lock; also published below for meters and health
  private volatile long lastAppliedSeen;
  private volatile long lastDelayMillis;
  private volatile boolean caughtUp;
  // Guests watching each board, whether the board exists yet or not. Boards themselves are made
  // only by the log (trusted); a guest naming a board costs an entry here only while its link lives.
  private final Map<String, Set<BoardFeed>> feeds = new ConcurrentHashMap<>();
  private final AtomicInteger feedCount = new AtomicInteger();
  private final Map<String, Counter> snapshots = new ConcurrentHashMap<>();
  private final MeterRegistry registry;
  private final Counter duplicates;

  @Inject
  public Boards(TasksReadConfig config, MeterRegistry registry) {
    this.historySize = config.history();
    this.registry = registry;
    Gauge.builder("tasks.read.boards", this, Boards::boardCount).description("boards in memory").register(registry);
    Gauge.builder("tasks.read.followers", feedCount, AtomicInteger::get)
        .description("guest links following a board").register(registry);
    Gauge.builder("tasks.read.log.seq", this, b -> b.lastAppliedSeen).description("last log position applied")
        .register(registry);
    Gauge.builder("tasks.read.log.lag", this, b -> b.lastDelayMillis / 1000.0).baseUnit("seconds")
        .description("time from the last applied change being written (its `at`) to being applied here")
        .register(registry);
    Gauge.builder("tasks.read.caught.up", this, b -> b.caughtUp ? 1 : 0)
        .description("1 once the first catch-up of the log reached its head").register(registry);
    duplicates = Counter.builder("tasks.read.log.duplicates")
        .description("log changes ignored because their seq was already applied").register(registry);
  }

  /**
   * Applies one change of the log. Changes at or below the last applied position are ignored
   * (a reconnected log may repeat some), so each position is applied at most once. Every
   * {@code task.*} change is kept in its board's history and passed on to guests, even one that
   * leaves the projection as it was: guests apply the same rules and need the change's {@code id}.
   */
  Applied apply(Event change) {
    if (change.seq() <= 0) {
      return Applied.SKIPPED;
    }
    JsonNode data = change.data() == null ? null : change.data().tree();
    JsonNode boardNode = data == null ? null : data.get("board");
    String board = boardNode == null || !boardNode.isTextual() ? null : boardNode.asText();
    synchronized (lock) {
      if (change.seq() <= lastApplied) {
        duplicates.increment();
        return Applied.DUPLICATE;
      }
      lastApplied = change.seq();
      lastAppliedSeen = lastApplied;
      if (board == null || !change.type().startsWith("task.")) {
        return Applied.SKIPPED; // a position with nothing for boards: remembered, not kept
      }
      Board b = boards.computeIfAbsent(board, n -> new Board(historySize));
      b.projection.apply(change.type(), data);
      b.history.add(change);
    }
    JsonNode at = data.get("at");
    if (at != null && at.canConvertToLong()) {
      lastDelayMillis = Math.max(0, System.currentTimeMillis() - at.asLong());
    }
    wake(board);
    return Applied.APPLIED;
  }

  /** The catch-up reached the log's head: from now on guests are served. */
  void caughtUp() {
    if (caughtUp) {
      return;
    }
    synchronized (lock) {
      caughtUp = true;
      LOG.infof("caught up with the log at seq %d (%d boards); serving guests", lastApplied, boards.size());
    }
    feeds.keySet().forEach(this::wake);
  }

  boolean isCaughtUp() {
    return caughtUp;
  }

  long lastApplied() {
    return lastAppliedSeen;
  }

  /**
   * What a guest at position {@code cursor} of {@code board} should get next: nothing
   * ({@code null}: not caught up yet, or nothing new), up to {@code max} changes, or a snapshot.
   *
   * @param cursor the last {@code seq} the guest has, or a negative number when it has nothing
   */
  Read read(String board, long cursor, int max) {
    Read r;
    synchronized (lock) {
      if (!caughtUp) {
        // Before the first catch-up a snapshot would show a board missing its newest tasks
        // (or none at all): guests wait until it is true.
        return null;
      }
      Board b = boards.get(board);
      if (cursor < 0) {
        r = snapshot(b, "new");
      } else if (cursor > lastApplied) {
        // The guest knows a position this service has not applied: another instance ahead of
        // this one, or a log that was reset. A snapshot is right in both cases.
        r = snapshot(b, "unknown_after");
      } else if (b == null) {
        return null;
      } else if (!b.history.covers(cursor)) {
        r = snapshot(b, "behind");
      } else {
        List<Event> changes = b.history.after(cursor, max);
        return changes.isEmpty() ? null : new Changes(changes);
      }
    }
    snapshots.computeIfAbsent(((Snapshot) r).cause(), c -> Counter.builder("tasks.read.snapshots")
        .description("snapshots sent to guests, by cause").tag("cause", c).register(registry)).increment();
    return r;
  }

  private Snapshot snapshot(Board b, String cause) {
    return new Snapshot(lastApplied, b == null ? List.of() : b.projection.tasks(), cause);
  }

  /** The board's tasks now (for tests and tools). */
  List<BoardProjection.Task> tasks(String board) {
    synchronized (lock) {
      Board b = boards.get(board);
      return b == null ? List.of() : b.projection.tasks();
    }
  }

  void follow(BoardFeed feed) {
    feeds.computeIfAbsent(feed.board(), k -> ConcurrentHashMap.newKeySet()).add(feed);
    feedCount.incrementAndGet();
  }

  void unfollow(BoardFeed feed) {
    feeds.computeIfPresent(feed.board(), (k, set) -> {
      if (set.remove(feed)) {
        feedCount.decrementAndGet();
      }
      return set.isEmpty() ? null : set;
    });
  }

  private void wake(String board) {
    Set<BoardFeed> set = feeds.get(board);
    if (set != null) {
      set.forEach(BoardFeed::wake);
    }
  }

  private int boardCount() {
    synchronized (lock) {
      return boards.size();
    }
  }
}
