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
 * @param streamWindow what a link's peer may send on it before this side's reader takes it, in
 *     bytes: the HTTP/2 stream window of a client's connections, and the window a server grants
 *     each link between host services (links opened for a guest keep the server's
 *     {@code quarkus.http.initial-window-size})
 */
public record LinkSettings(int maxEventBytes, Duration heartbeat, Duration idleTimeout, int batch, int maxBadEvents,
    int streamWindow) {
  /**
   * The default stream window: 1 MiB, gRPC-java's default flow-control window (see
   * {@code eventpaths.link.stream-window}).
   */
  public static final int DEFAULT_STREAM_WINDOW = 1024 * 1024;
  /**
   * Links one client connection carries at most: half as many stream windows as its connection
   * window holds (see {@link #connectionWindow()}), so that links whose readers stopped can never use the connection's window up
   * and stall their neighbours (a host service allows 1,000 streams a connection; past 256 the
   * client opens another connection, see {@code LinkClient}).
   */
  public static final int LINKS_PER_CONNECTION = 256;
  /** The largest stream window: 2 x {@link #LINKS_PER_CONNECTION} of them nearly fit an HTTP/2 connection window. */
  public static final int MAX_STREAM_WINDOW = 4 * 1024 * 1024;

  public static final LinkSettings DEFAULTS =
      new LinkSettings(64 * 1024, Duration.ofSeconds(15), Duration.ofSeconds(45), 128, 16);

  /** Settings with the default stream window. */
  public LinkSettings(int maxEventBytes, Duration heartbeat, Duration idleTimeout, int batch, int maxBadEvents) {
    this(maxEventBytes, heartbeat, idleTimeout, batch, maxBadEvents, DEFAULT_STREAM_WINDOW);
  }

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
    if (streamWindow < 65_535 || streamWindow > MAX_STREAM_WINDOW) {
      throw new IllegalArgumentException("stream-window must be 65535-" + MAX_STREAM_WINDOW + " bytes");
    }
  }

  /**
   * The HTTP/2 connection window that goes with the stream window: two stream windows for each
   * link a connection may carry ({@link #LINKS_PER_CONNECTION}), so that links whose readers
   * stopped (each holding at most its stream window) cannot use it up and stall their
   * neighbours on a shared connection.
   *
   * <p>Why two: what the links read is given back to the peer only once it adds up to half the
   * connection's window (Netty's WINDOW_UPDATE ratio), so up to half of it is read and not yet
   * given back at any time. With one stream window a link, the stalled links' unread windows
   * and that half together used the window up: nothing more came in, so nothing more was read,
   * and the half was never reached (a connection of 239 links, most of them stalled, got no
   * byte for any of them, a new link's {@code link.ready} included). With two, the stalled
   * links hold at most the other half. Capped at HTTP/2's largest window: 510 stream windows of
   * {@link #MAX_STREAM_WINDOW} still fit, so one link of a full connection is served.
   */
  public int connectionWindow() {
    return (int) Math.min(Integer.MAX_VALUE, 2L * LINKS_PER_CONNECTION * streamWindow);
  }

  /** The same settings with another stream window. */
  public LinkSettings withStreamWindow(int bytes) {
    return new LinkSettings(maxEventBytes, heartbeat, idleTimeout, batch, maxBadEvents, bytes);
  }

  /** How often the link's timer looks at heartbeats and idleness. */
  long tickMillis() {
    return Math.max(10, Math.min(heartbeat.toMillis(), idleTimeout.toMillis()) / 3);
  }
}
