package dev.eventpaths.presence;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.Startup;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Who is viewing which board, as the gateways report it.
 *
 * <p>An <b>entry</b> is one guest link to the viewing service ({@code board}), keyed by
 * (gateway instance, guest, service, link name) and owned by the gateway-feed link that last
 * reported it open. Entries are a set, so a repeated {@code opened} changes nothing, and an
 * entry leaves when its owner reports it closed or when its owner's feed link ends.
 *
 * <p>Why ownership, and why the newest feed wins: a gateway that reconnects re-sends its open
 * links on the new feed link, possibly before this service has noticed that the old link is
 * dead. Re-sent entries move to the new link; entries the gateway no longer has stay with the
 * old one and go when it ends. Feed links are numbered as they open, and a report from an
 * older link never overrides a newer link's claim, so late news from a dying link cannot undo
 * what the gateway said since.
 *
 * <p>Each board has a version that goes up whenever its viewers change; {@link PresenceFeed}s
 * compare versions to know when to look again. One lock guards it all; watchers are woken
 * after it is released.
 */
@Startup // so its meters exist before the first link
@ApplicationScoped
public class Viewers {
  /** One guest link, as the gateway names it. */
  record Key(String gateway, String guest, String service, String link) {}

  /** What {@link #opened} did. */
  enum Outcome { ADDED, KEPT, IGNORED, FULL }

  /** One gateway-feed link: what it owns, and its place in the order links were opened. */
  static final class Feed {
    final long generation;
    final Set<Key> owned = new HashSet<>();
    boolean closed;

    Feed(long generation) {
      this.generation = generation;
    }
  }

  /** A board's viewers now, as other guests may see them: handle -> open links. */
  record View(long version, Map<String, Integer> viewers) {}

  private static final class Entry {
    final String board;
    Feed owner;

    Entry(String board, Feed owner) {
      this.board = board;
      this.owner = owner;
    }
  }

  private static final class Guest {
    final String handle;
    int entries;

    Guest(String id) {
      handle = Handles.of(id);
    }
  }

  private static final class Board {
    final Map<String, Integer> linksByGuest = new HashMap<>();
    final Set<PresenceFeed> watchers = new HashSet<>();
    long version = 1;

    boolean unused() {
      return linksByGuest.isEmpty() && watchers.isEmpty();
    }
  }

  private final int maxEntries;
  private final Object lock = new Object();
  private final Map<Key, Entry> entries = new HashMap<>();
  private final Map<String, Board> boards = new HashMap<>();
  // guest id -> its handle and how many entries it has, so a handle is hashed once per guest
  // and forgotten with the guest's last entry.
  private final Map<String, Guest> guests = new HashMap<>();
  private long generations;
  private final AtomicInteger feeds = new AtomicInteger();
  private final AtomicInteger watching = new AtomicInteger();

  @Inject
  public Viewers(PresenceConfig config, MeterRegistry registry) {
    this.maxEntries = config.maxEntries();
    Gauge.builder("presence.entries", this, v -> v.count(() -> v.entries.size()))
        .description("open guest links to the viewing service, over all gateways").register(registry);
    Gauge.builder("presence.boards", this, v -> v.count(() -> (int) v.boards.values().stream()
        .filter(b -> !b.linksByGuest.isEmpty()).count())).description("boards with at least one viewer").register(registry);
    Gauge.builder("presence.viewers", this, v -> v.count(() -> v.boards.values().stream()
        .mapToInt(b -> b.linksByGuest.size()).sum())).description("distinct (board, guest) viewers").register(registry);
    Gauge.builder("presence.feeds", feeds, AtomicInteger::get).description("gateway-feed links open").register(registry);
    Gauge.builder("presence.watchers", watching, AtomicInteger::get).description("presence links open").register(registry);
  }

  private int count(java.util.function.IntSupplier s) {
    synchronized (lock) {
      return s.getAsInt();
    }
  }

  Feed openFeed() {
    synchronized (lock) {
      feeds.incrementAndGet();
      return new Feed(++generations);
    }
  }

  /** The guest link {@code key}, viewing {@code board}, is open (as reported on {@code feed}). */
  Outcome opened(Feed feed, Key key, String board) {
    List<PresenceFeed> wake = new ArrayList<>();
    Outcome outcome;
    synchronized (lock) {
      Entry e = entries.get(key);
      if (feed.closed || e != null && e.owner.generation > feed.generation) {
        return Outcome.IGNORED;
      }
      if (e != null && e.board.equals(board)) {
        e.owner.owned.remove(key);
        e.owner = feed;
        feed.owned.add(key);
        return Outcome.KEPT; // a repeat or a re-send: nothing changes for anyone
      }
      if (e != null) {
        remove(key, e, wake); // same link, another board: cannot happen with today's gateway
      }
      if (entries.size() >= maxEntries) {
        outcome = Outcome.FULL;
      } else {
        entries.put(key, new Entry(board, feed));
        feed.owned.add(key);
        Board b = boards.computeIfAbsent(board, n -> new Board());
        b.linksByGuest.merge(key.guest(), 1, Integer::sum);
        guests.computeIfAbsent(key.guest(), Guest::new).entries++;
        b.version++;
        wake.addAll(b.watchers);
        outcome = Outcome.ADDED;
      }
    }
    wake.forEach(PresenceFeed::wake);
    return outcome;
  }

  /** The guest link {@code key} closed (as reported on {@code feed}); whether anything changed. */
  boolean closed(Feed feed, Key key) {
    List<PresenceFeed> wake = new ArrayList<>();
    synchronized (lock) {
      Entry e = entries.get(key);
      if (e == null || feed.closed || e.owner.generation > feed.generation) {
        return false;
      }
      remove(key, e, wake);
    }
    wake.forEach(PresenceFeed::wake);
    return true;
  }

  /** The feed link ended: everything it still owns is gone (the gateway may re-send it). */
  void closeFeed(Feed feed) {
    List<PresenceFeed> wake = new ArrayList<>();
    synchronized (lock) {
      if (feed.closed) {
        return;
      }
      feed.closed = true;
      feeds.decrementAndGet();
      for (Key key : List.copyOf(feed.owned)) {
        remove(key, entries.get(key), wake);
      }
    }
    wake.forEach(PresenceFeed::wake);
  }

  private void remove(Key key, Entry e, List<PresenceFeed> wake) {
    entries.remove(key);
    e.owner.owned.remove(key);
    Board b = boards.get(e.board);
    if (b.linksByGuest.merge(key.guest(), -1, Integer::sum) == 0) {
      b.linksByGuest.remove(key.guest());
    }
    Guest g = guests.get(key.guest());
    if (--g.entries == 0) {
      guests.remove(key.guest());
    }
    b.version++;
    wake.addAll(b.watchers);
    if (b.unused()) {
      boards.remove(e.board);
    }
  }

  /** The board's viewers, or {@code null} if its version is still {@code known}. */
  View view(String board, long known) {
    synchronized (lock) {
      Board b = boards.get(board);
      if (b == null || b.version == known) {
        return null;
      }
      // By handle, sorted: what guests see, and a stable order for snapshots and diffs.
      Map<String, Integer> out = new TreeMap<>();
      b.linksByGuest.forEach((guest, links) -> out.merge(guests.get(guest).handle, links, Integer::sum));
      return new View(b.version, out);
    }
  }

  void watch(String board, PresenceFeed feed) {
    synchronized (lock) {
      boards.computeIfAbsent(board, n -> new Board()).watchers.add(feed);
    }
    watching.incrementAndGet();
  }

  void unwatch(String board, PresenceFeed feed) {
    synchronized (lock) {
      Board b = boards.get(board);
      if (b == null || !b.watchers.remove(feed)) {
        return;
      }
      if (b.unused()) {
        boards.remove(board);
      }
    }
    watching.decrementAndGet();
  }
}
