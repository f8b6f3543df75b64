package dev.eventpaths.echo;

import dev.eventpaths.Event;
import dev.eventpaths.EventService;
import dev.eventpaths.HostService;
import dev.eventpaths.LinkContext;
import io.smallrye.mutiny.Multi;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * Test services that echo their input until they read {@code boom}, then throw: two of them,
 * because the host's log budget is per service and tests must not spend each other's.
 */
public final class Throws {
  /** What the exception says: internals a caller must never see. */
  static final String SECRET_DETAIL = "jdbc:postgresql://db.internal:5432/tasks?password=hunter2";

  private Throws() {}

  static Multi<Event> untilBoom(Multi<Event> in) {
    return in.onItem().transform(e -> {
      if (e.type().equals("boom")) {
        throw new IllegalStateException("cannot write to " + SECRET_DETAIL);
      }
      return e;
    });
  }

  @ApplicationScoped
  @HostService("throws")
  public static class One implements EventService {
    @Override
    public Multi<Event> apply(Multi<Event> in, LinkContext link) {
      return untilBoom(in);
    }
  }

  @ApplicationScoped
  @HostService("throws-often")
  public static class Often implements EventService {
    @Override
    public Multi<Event> apply(Multi<Event> in, LinkContext link) {
      return untilBoom(in);
    }
  }
}
