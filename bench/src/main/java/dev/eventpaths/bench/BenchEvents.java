package dev.eventpaths.bench;

import dev.eventpaths.Event;
import dev.eventpaths.EventEncoder;
import dev.eventpaths.Json;
import io.vertx.core.buffer.Buffer;
import java.util.Map;

/** The event every peer carries: exactly {@link #SIZE} bytes as an NDJSON line, newline included. */
final class BenchEvents {
  static final int SIZE = 200;
  static final String TYPE = "bench.event";
  /** Seqs run from here up, so every seq has 7 digits and every line has the same size. */
  static final long SEQ_BASE = 1_000_000;
  /** The longest run one measurement may ask for (keeps seqs at 7 digits). */
  static final long MAX_EVENTS = 8_999_999;

  static final Json DATA;

  static {
    int bare = EventEncoder.encode(new Event(TYPE, null, SEQ_BASE, Json.of(Map.of("pad", "")))).length;
    DATA = Json.of(Map.of("pad", "x".repeat(SIZE - bare)));
    int size = EventEncoder.encode(event(1)).length;
    if (size != SIZE) {
      throw new IllegalStateException("bench event is " + size + " bytes, not " + SIZE);
    }
  }

  private BenchEvents() {}

  /** The {@code i}-th event of a run (1-based). */
  static Event event(long i) {
    return new Event(TYPE, null, SEQ_BASE + i, DATA);
  }

  /** {@code lines} encoded events back to back (seqs 1..lines), for the raw peer. */
  static Buffer lines(int lines) {
    Buffer b = Buffer.buffer(lines * SIZE);
    for (int i = 1; i <= lines; i++) {
      b.appendBytes(EventEncoder.encode(event(i)));
    }
    return b;
  }

  static void checkCount(long n) {
    if (n < 1 || n > MAX_EVENTS) {
      throw new IllegalArgumentException("event count must be 1.." + MAX_EVENTS + ", not " + n);
    }
  }
}
