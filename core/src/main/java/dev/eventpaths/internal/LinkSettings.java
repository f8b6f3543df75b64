package dev.eventpaths.internal;

import java.time.Duration;

/**
 * The tunables of one side of a link (see {@code eventpaths.link.*} in docs/PROTOCOL.md).
 *
 * @param maxEventBytes longest accepted event line, newline included
 * @param heartbeat write a heartbeat after this long without writing anything
 * @param idleTimeout end the link after this long without reading anything while willing to read
 * @param batch how many events to request from a producer at a time
 * @param maxBadEvents refused lines tolerated per link before it is ended
 */
public record LinkSettings(int maxEventBytes, Duration heartbeat, Duration idleTimeout, int batch, int maxBadEvents) {
  public static final LinkSettings DEFAULTS =
      new LinkSettings(64 * 1024, Duration.ofSeconds(15), Duration.ofSeconds(45), 128, 16);

  public LinkSettings {
    if (maxEventBytes < 64) {
      throw new IllegalArgumentException("max-event-bytes must be at least 64");
    }
    if (heartbeat.isNegative() || heartbeat.isZero() || idleTimeout.compareTo(heartbeat) <= 0) {
      throw new IllegalArgumentException("heartbeat must be positive and shorter than idle-timeout");
    }
    if (batch < 1 || batch > 65536) {
      throw new IllegalArgumentException("batch must be 1-65536");
    }
  }

  /** How often the link's timer looks at heartbeats and idleness. */
  long tickMillis() {
    return Math.max(10, Math.min(heartbeat.toMillis(), idleTimeout.toMillis()) / 3);
  }
}
