package dev.eventpaths.tasks.read;

import dev.eventpaths.Event;
import java.util.ArrayList;
import java.util.List;

/**
 * The last {@code capacity} changes of one board, in log order, for guests that resume.
 *
 * <p>{@link #floor()} is the {@code seq} of the newest change that was dropped to make room (0
 * while nothing was): every change after the floor is still here, so a guest whose last
 * {@code seq} is at least the floor can be brought up to date from the history alone.
 *
 * <p>Not thread-safe: {@link Boards} guards it.
 */
final class History {
  private final Event[] ring;
  private int head; // index of the oldest change
  private int size;
  private long floor;

  History(int capacity) {
    if (capacity < 1) {
      throw new IllegalArgumentException("history must hold at least one change");
    }
    ring = new Event[capacity];
  }

  /** Appends a change; its {@code seq} must be above every one already here. */
  void add(Event change) {
    if (size == ring.length) {
      floor = ring[head].seq();
      ring[head] = change;
      head = (head + 1) % ring.length;
    } else {
      ring[(head + size) % ring.length] = change;
      size++;
    }
  }

  long floor() {
    return floor;
  }

  /** Whether every change after {@code seq} is still here. */
  boolean covers(long seq) {
    return seq >= floor;
  }

  /** Up to {@code max} changes with {@code seq > after}, oldest first. */
  List<Event> after(long after, int max) {
    // Binary search for the first change after `after`: a guest that keeps up asks with the
    // newest seq, and a big history must not be scanned for every read.
    int lo = 0;
    int hi = size;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (get(mid).seq() <= after) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    int n = Math.min(max, size - lo);
    List<Event> out = new ArrayList<>(n);
    for (int i = lo; i < lo + n; i++) {
      out.add(get(i));
    }
    return out;
  }

  int size() {
    return size;
  }

  private Event get(int i) {
    return ring[(head + i) % ring.length];
  }
}
