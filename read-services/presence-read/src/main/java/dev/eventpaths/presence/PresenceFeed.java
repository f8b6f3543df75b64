package dev.eventpaths.presence;

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
 * One guest's view of who is viewing one board: a snapshot, then changes, computed when the
 * guest's link asks for more.
 *
 * <h2>Stream contract</h2>
 *
 * <ul>
 *   <li>Single subscriber. First {@code presence.snapshot} (in parts, {@code
 *       presence.snapshot.more}, if the board is crowded), then {@code presence.joined},
 *       {@code presence.updated} and {@code presence.left}.
 *   <li>Pull-based and coalescing: the feed remembers what it last told the guest (handle ->
 *       links) and, when asked for more, sends the difference between that and the board now.
 *       A guest that reads slowly gets fewer, later changes (a viewer who came and went
 *       meanwhile never shows), never a backlog: what is held per guest is bounded by the
 *       board's viewers, not by how much happened.
 *   <li>Never completes or fails on its own; {@link #cancel} stops it and forgets it.
 *   <li>Events are emitted on the event loop the feed was subscribed on (the link's).
 * </ul>
 */
final class PresenceFeed implements Flow.Publisher<Event>, Flow.Subscription {
  private final Viewers viewers;
  private final String board;
  private final String you;
  private final int partBytes;
  private final AtomicLong requested = new AtomicLong();
  private final AtomicInteger wip = new AtomicInteger();
  private final ArrayDeque<Event> pending = new ArrayDeque<>();
  private volatile boolean cancelled;
  private Flow.Subscriber<? super Event> downstream;
  private Context context;
  // What the guest has been told (after the pending events): touched only by the drain loop.
  private Map<String, Integer> told;
  private long toldVersion;

  /** @param you the handle of the guest this feed is for, or {@code null} */
  PresenceFeed(Viewers viewers, String board, String you, int partBytes) {
    this.viewers = viewers;
    this.board = board;
    this.you = you;
    this.partBytes = partBytes;
  }

  @Override
  public void subscribe(Flow.Subscriber<? super Event> s) {
    if (downstream != null) {
      s.onSubscribe(this);
      s.onError(new IllegalStateException("a presence feed has a single subscriber"));
      return;
    }
    downstream = s;
    context = Vertx.currentContext();
    s.onSubscribe(this);
    viewers.watch(board, this);
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
      viewers.unwatch(board, this);
    }
  }

  /** The board's viewers changed: look again if the guest wants more. */
  void wake() {
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
        if (pending.isEmpty() && !refill()) {
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

  private boolean refill() {
    Viewers.View now = viewers.view(board, toldVersion);
    if (now == null) {
      return false;
    }
    toldVersion = now.version();
    if (told == null) {
      pending.addAll(snapshotEvents(board, now.viewers(), you, partBytes));
    } else {
      for (var e : now.viewers().entrySet()) {
        Integer before = told.get(e.getKey());
        if (before == null) {
          pending.add(change("presence.joined", e.getKey(), e.getValue()));
        } else if (!before.equals(e.getValue())) {
          pending.add(change("presence.updated", e.getKey(), e.getValue()));
        }
      }
      for (String gone : told.keySet()) {
        if (!now.viewers().containsKey(gone)) {
          pending.add(change("presence.left", gone, null));
        }
      }
    }
    told = now.viewers();
    return !pending.isEmpty() || refill();
  }

  private Event change(String type, String viewer, Integer links) {
    Map<String, Object> data = new LinkedHashMap<>();
    data.put("board", board);
    data.put("viewer", viewer);
    if (links != null) {
      data.put("links", links);
    }
    return Event.of(type, data);
  }

  /**
   * The viewers as one {@code presence.snapshot}, or a {@code presence.snapshot} and {@code
   * presence.snapshot.more} parts when they would not fit {@code partBytes} of payload. Each
   * part has {@code board}, {@code viewers} ({@code [{"viewer":handle,"links":n}]}, by handle)
   * and {@code complete}; the first also {@code you}, the guest's own handle, when known.
   */
  static List<Event> snapshotEvents(String board, Map<String, Integer> viewers, String you, int partBytes) {
    List<List<Map<String, Object>>> parts = new ArrayList<>();
    List<Map<String, Object>> part = new ArrayList<>();
    int budget = Math.max(256, partBytes - 128 - board.length() * 6);
    int used = 0;
    for (var v : viewers.entrySet()) {
      int size = v.getKey().length() + 32; // {"viewer":"<handle>","links":n}, (handles are hex)
      if (!part.isEmpty() && used + size > budget) {
        parts.add(part);
        part = new ArrayList<>();
        used = 0;
      }
      Map<String, Object> row = new LinkedHashMap<>();
      row.put("viewer", v.getKey());
      row.put("links", v.getValue());
      part.add(row);
      used += size;
    }
    parts.add(part);
    List<Event> events = new ArrayList<>(parts.size());
    for (int i = 0; i < parts.size(); i++) {
      Map<String, Object> data = new LinkedHashMap<>();
      data.put("board", board);
      data.put("viewers", parts.get(i));
      if (i == 0 && you != null) {
        data.put("you", you);
      }
      data.put("complete", i == parts.size() - 1);
      events.add(new Event(i == 0 ? "presence.snapshot" : "presence.snapshot.more", null, 0, Json.of(data)));
    }
    return events;
  }
}
