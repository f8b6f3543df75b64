package dev.eventpaths.testing;

import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import java.time.Duration;
import java.util.List;

/** Waiting on an {@link AssertSubscriber} in a way whose failure shows what did arrive. */
public final class Items {
  private Items() {}

  /**
   * Waits until {@code subscriber} holds at least {@code count} items and returns them all.
   * Unlike {@code awaitItems}, more than {@code count} is not a failure here; the caller asserts
   * on the list, so an unexpected extra event shows up as itself rather than as a count.
   */
  public static <T> List<T> atLeast(AssertSubscriber<T> subscriber, int count, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    for (;;) {
      // The end is read before the items: every item comes before it, so once it is seen the
      // items read next are all there will be (read the other way round, the last item and the
      // end could both land in between, and a complete list would be reported short).
      boolean over = subscriber.hasCompleted() || subscriber.getFailure() != null;
      List<T> items = subscriber.getItems();
      if (items.size() >= count) {
        return items;
      }
      if (over || System.nanoTime() > deadline) {
        throw new AssertionError("expected at least " + count + " items within " + timeout + ", got " + items
            + (subscriber.hasCompleted() ? " and completion" : "")
            + (subscriber.getFailure() != null ? " and failure " + subscriber.getFailure() : ""));
      }
      try {
        Thread.sleep(2);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted", e);
      }
    }
  }
}
