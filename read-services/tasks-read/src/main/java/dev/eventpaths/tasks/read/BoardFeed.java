package dev.eventpaths.tasks.read;

import dev.eventpaths.Event;
import dev.eventpaths.Json;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One guest's view of one board: a snapshot, then the board's changes, pulled from
 * {@link Boards} only as fast as the guest's link asks for them.
 *
 * <h2>Stream contract</h2>
 *
 * <ul>
 *   <li>Single subscriber. Nothing is emitted before the service has caught up with the log.
 *   <li>First a snapshot ({@code board.snapshot}, then {@code board.snapshot.more} parts if
 *       the board is big), unless the guest resumed with an {@code after} the history still
 *       covers; then that board's changes ({@code task.*}, as the log wrote them, each with
 *       its log {@code seq}), in log order, each once.
 *   <li>Pull-based: this feed holds a position, not a queue. It reads from the board's
 *       history only what was requested; a guest that stops reading costs nothing but its
 *       position. If the history has moved past that position when the guest reads again, it
 *       gets a fresh snapshot (same as above) and continues from there.
 *   <li>Never completes or fails on its own: it lives as long as the link. {@link #cancel}
 *       stops it and forgets it; nothing is buffered for it afterwards.
 *   <li>Events are emitted on the event loop the feed was subscribed on (the link's), never
 *       on the log follower's thread.
 * </ul>
 */
final class BoardFeed implements Flow.Publisher<Event>, Flow.Subscription {
  /** Changes read from the history per trip to {@link Boards}: bounds the time its lock is held. */
  static final int READ_BATCH = 128;

  private final Boards boards;
  private final String board;
  private final int partBytes;
  private final AtomicLong requested = new AtomicLong();
  private final AtomicInteger wip = new AtomicInteger();
  // Only the current snapshot's parts or the current batch of changes: bounded by one board
  // (the parts) or READ_BATCH, never by how far behind the guest is.
  private final ArrayDeque<Event> pending = new ArrayDeque<>();
  private volatile boolean cancelled;
  private Flow.Subscriber<? super Event> downstream;
  private Context context;
  private long cursor; // touched only by the drain loop, which never runs twice at once

  /**
   * @param after the guest's last {@code seq} when it resumes, or a negative number for a
   *     first link (snapshot first)
   */
  BoardFeed(Boards boards, String board, long after, int partBytes) {
    this.boards = boards;
    this.board = board;
    this.cursor = after;
    this.partBytes = partBytes;
  }

  String board() {
    return board;
  }

  @Override
  public void subscribe(Flow.Subscriber<? super Event> s) {
    if (downstream != null) {
      s.onSubscribe(this);
      s.onError(new IllegalStateException("a board feed has a single subscriber"));
      return;
    }
    downstream = s;
    context = Vertx.currentContext();
    s.onSubscribe(this);
    boards.follow(this);
    signal();
  }

  @Override
  public void request(long n) {
    if (n <= 0) {
      cancel();
      downstream.onError(new IllegalArgumentException("request(" + n + "): demand must be positive (Reactive Streams 3.9)"));
      return;
    }
    requested.getAndAccumulate(n, (a, b) -> a + b < 0 ? Long.MAX_VALUE : a + b);
    signal();
  }

  @Override
  public void cancel() {
    if (!cancelled) {
      cancelled = true;
      boards.unfollow(this);
    }
  }

  /** Something changed on the board (or the service caught up): look again if the guest wants more. */
  void wake() {
    // Checking demand here keeps the follower from scheduling work for guests that are not
    // reading; a later request() looks again anyway.
    if (!cancelled && requested.get() > 0) {
      signal();
    }
  }

  private void signal() {
    if (wip.getAndIncrement() == 0) {
      Context c = context;
      if (c == null || Vertx.currentContext() == c) {
        drain();
      } else {
        c.runOnContext(v -> drain());
      }
    }
  }

  private void drain() {
    int missed = 1;
    while (true) {
      long r = requested.get();
      long sent = 0;
      while (sent < r && !cancelled) {
        if (pending.isEmpty() && !refill((int) Math.min(r - sent, READ_BATCH))) {
          break;
        }
        downstream.onNext(pending.poll());
        sent++;
      }
      if (sent > 0 && r != Long.MAX_VALUE) {
        requested.addAndGet(-sent);
      }
      if (cancelled) {
        pending.clear();
        return;
      }
      missed = wip.addAndGet(-missed);
      if (missed == 0) {
        return;
      }
    }
  }

  /** Reads what comes next from the board into {@link #pending}; false if there is nothing yet. */
  private boolean refill(int max) {
    Boards.Read read = boards.read(board, cursor, max);
    if (read == null) {
      return false;
    }
    if (read instanceof Boards.Changes c) {
      pending.addAll(c.events());
      cursor = c.events().get(c.events().size() - 1).seq();
    } else {
      Boards.Snapshot s = (Boards.Snapshot) read;
      pending.addAll(snapshotEvents(board, s.seq(), s.tasks(), partBytes));
      cursor = s.seq();
    }
    return true;
  }

  /**
   * A board's tasks as one {@code board.snapshot} event, or, when they would not fit in
   * {@code partBytes} of payload, a {@code board.snapshot} and {@code board.snapshot.more} parts.
   * Every part has {@code board}, {@code tasks} (the next tasks in board order) and
   * {@code complete} (true on the last part), and the same {@code seq}.
   */
  static List<Event> snapshotEvents(String board, long seq, List<BoardProjection.Task> tasks, int partBytes) {
    List<List<BoardProjection.Task>> parts = new ArrayList<>();
    List<BoardProjection.Task> part = new ArrayList<>();
    int budget = Math.max(256, partBytes - 64 - board.length() * 6); // the envelope of the part
    int used = 0;
    for (BoardProjection.Task t : tasks) {
      int size = Json.of(t).byteLength() + 1;
      if (!part.isEmpty() && used + size > budget) {
        parts.add(part);
        part = new ArrayList<>();
        used = 0;
      }
      part.add(t);
      used += size;
    }
    parts.add(part);
    List<Event> events = new ArrayList<>(parts.size());
    for (int i = 0; i < parts.size(); i++) {
      Map<String, Object> data = new LinkedHashMap<>();
      data.put("board", board);
      data.put("tasks", parts.get(i));
      data.put("complete", i == parts.size() - 1);
      events.add(new Event(i == 0 ? "board.snapshot" : "board.snapshot.more", null, seq, Json.of(data)));
    }
    return events;
  }
}
