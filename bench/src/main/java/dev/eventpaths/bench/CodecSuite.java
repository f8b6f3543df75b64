package dev.eventpaths.bench;

import dev.eventpaths.Event;
import dev.eventpaths.EventDecoder;
import dev.eventpaths.EventEncoder;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.Arrays;
import java.util.Locale;

/**
 * The codec alone, in this JVM on one thread: what encoding and decoding one 200-byte bench
 * event costs, with no network. The links pay this on every hop (the raw peer does not), so it
 * is the first figure to look at when the links fall behind the raw echo.
 */
final class CodecSuite {
  private static final int LINES = 4_096;
  private static final int PASSES = 250;

  private CodecSuite() {}

  static String run(int rounds) {
    ByteBuf lines = Unpooled.buffer(LINES * BenchEvents.SIZE);
    Event[] events = new Event[LINES];
    for (int i = 0; i < LINES; i++) {
      events[i] = BenchEvents.event(i + 1);
      lines.writeBytes(EventEncoder.encode(events[i]));
    }
    long[] decoded = {0};
    EventDecoder decoder = new EventDecoder(64 * 1024, new EventDecoder.Sink() {
      @Override
      public void event(Event event) {
        decoded[0]++;
      }

      @Override
      public void refused(String reason, String message, String eventId) {
        throw new IllegalStateException("the bench's own line was refused: " + reason + " " + message);
      }
    });
    ByteBuf out = Unpooled.buffer(LINES * BenchEvents.SIZE);
    int measured = Math.max(3, rounds * 3);
    double[] decode = new double[measured];
    double[] encode = new double[measured];
    for (int round = -8; round < measured; round++) { // 8 rounds of warm-up for the JIT
      long t0 = System.nanoTime();
      for (int p = 0; p < PASSES; p++) {
        decoder.feed(lines.retainedDuplicate());
      }
      long t1 = System.nanoTime();
      for (int p = 0; p < PASSES; p++) {
        out.clear();
        for (Event e : events) {
          EventEncoder.encodeTo(e, out);
        }
      }
      long t2 = System.nanoTime();
      if (round >= 0) {
        decode[round] = (t1 - t0) / (double) (PASSES * LINES);
        encode[round] = (t2 - t1) / (double) (PASSES * LINES);
      }
    }
    if (decoded[0] != (long) (measured + 8) * PASSES * LINES) {
      throw new IllegalStateException("decoded " + decoded[0] + " events, not " + (long) (measured + 8) * PASSES * LINES);
    }
    double dec = median(decode);
    double enc = median(encode);
    Bench.log("  codec            decode %.0f ns, encode %.0f ns per %d-byte event", dec, enc, BenchEvents.SIZE);
    return String.format(Locale.ROOT, """
        ## The codec alone

        One thread, no network: %,d bench events (%d bytes each) decoded from one buffer and encoded \
        into one, %d passes per round, median of %d rounds after 8 of warm-up.

        | 200-byte events | ns per event | events/s on one core |
        |---|---:|---:|
        | decode (`EventDecoder`, fast path) | %.0f | %,.0f |
        | encode (`EventEncoder`) | %.0f | %,.0f |
        """, LINES, BenchEvents.SIZE, PASSES, measured, dec, 1e9 / dec, enc, 1e9 / enc);
  }

  private static double median(double[] xs) {
    double[] s = xs.clone();
    Arrays.sort(s);
    return s[s.length / 2];
  }
}
