package dev.eventpaths.testing;

import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/** Waiting for a counter that moves while something drains or fills to stop moving. */
public final class Settle {
  private Settle() {}

  /** {@code value}'s value once it has not changed for 700 ms (polled every 20 ms, for at most 30 s). */
  public static long value(LongSupplier value) throws InterruptedException {
    long last = -1;
    long stableSince = System.nanoTime();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (System.nanoTime() < deadline) {
      long v = value.getAsLong();
      if (v != last) {
        last = v;
        stableSince = System.nanoTime();
      } else if (System.nanoTime() - stableSince > TimeUnit.MILLISECONDS.toNanos(700)) {
        return v;
      }
      Thread.sleep(20);
    }
    throw new AssertionError("value never settled: " + last);
  }
}
