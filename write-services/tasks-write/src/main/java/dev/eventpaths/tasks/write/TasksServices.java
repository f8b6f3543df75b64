package dev.eventpaths.tasks.write;

import dev.eventpaths.Event;
import dev.eventpaths.EventService;
import dev.eventpaths.HostService;
import dev.eventpaths.LinkContext;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

/** The two services of tasks-write: commands in (from guests), the log out (to readers). */
public final class TasksServices {
  private TasksServices() {}

  /**
   * Commands in, one answer per command out. At most 256 commands per link wait for the
   * writer at once: that is this link's demand, so a guest sending faster than the log
   * commits is slowed by HTTP/2 flow control, not buffered.
   */
  @ApplicationScoped
  @HostService("tasks-write")
  public static class Commands implements EventService {
    @Inject CommandLog log;

    @Override
    public Multi<Event> apply(Multi<Event> in, LinkContext link) {
      // A command whose processing fails is rejected, once, like any command that cannot be
      // applied: failing the link instead would have the guest reopen it and send the same
      // command again, for ever, with its other writes stuck behind it.
      return in.select().where(e -> !e.isControl())
          .onItem().transformToUni(cmd -> Uni.createFrom().completionStage(() -> log.submit(cmd))
              .onFailure().recoverWithItem(t -> CommandLog.failed(cmd, t, link)))
          .merge(256);
    }
  }

  /** The log from {@code ?after=} on, catch-up then live. The input is not read. */
  @ApplicationScoped
  @HostService("log")
  public static class Log implements EventService {
    @Inject CommandLog log;

    @Override
    public Multi<Event> apply(Multi<Event> in, LinkContext link) {
      return log.follow(link.resumeAfter().orElse(0));
    }
  }
}
