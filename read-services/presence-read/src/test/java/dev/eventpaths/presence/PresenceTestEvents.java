package dev.eventpaths.presence;

import dev.eventpaths.Event;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import java.time.Duration;
import java.util.List;

/** Small helpers for PresenceTest. */
final class PresenceTestEvents {
  static final String OPENED = GatewayFeed.OPENED;
  static final String CLOSED = GatewayFeed.CLOSED;

  private PresenceTestEvents() {}

  static Event awaitError(AssertSubscriber<Event> s) {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (System.nanoTime() < deadline) {
      for (Event e : List.copyOf(s.getItems())) {
        if (Event.LINK_ERROR.equals(e.type())) {
          return e;
        }
      }
      PresenceTest.sleep(5);
    }
    throw new AssertionError("no link.error in " + s.getItems());
  }
}
