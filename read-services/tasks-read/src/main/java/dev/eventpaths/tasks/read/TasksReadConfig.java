package dev.eventpaths.tasks.read;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.time.Duration;

/** tasks-read's own settings, under {@code tasks-read.*} (see README, "Configuration"). */
@ConfigMapping(prefix = "tasks-read")
public interface TasksReadConfig {
  Log log();

  /**
   * Changes kept per board for guests that resume with {@code after}. A guest further behind
   * than this gets a fresh snapshot instead, so memory per board is bounded whatever the guests do.
   */
  @WithDefault("1000")
  int history();

  Reconnect reconnect();

  /**
   * If the log does not say when its catch-up is over ({@code log.live}), the catch-up counts
   * as done once the log link has been ready and silent this long.
   */
  @WithDefault("1s")
  Duration catchUpQuiet();

  /**
   * Largest payload of one snapshot event. A bigger board is sent in parts, so a snapshot never
   * hits the link's max event size (64 KiB by default) however many tasks a board has.
   */
  @WithDefault("32768")
  int snapshotPartBytes();

  /** The log this service follows. */
  interface Log {
    /** The app that serves the log, configured under {@code eventpaths.targets.<target>}. */
    @WithDefault("tasks-write")
    String target();

    @WithDefault("log")
    String service();
  }

  /** Backoff between attempts to reach the log: doubling from initial, capped at max, jittered. */
  interface Reconnect {
    @WithDefault("200ms")
    Duration initial();

    @WithDefault("10s")
    Duration max();
  }
}
