package dev.eventpaths.internal;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http2.Http2ConnectionHandler;
import io.netty.handler.flush.FlushConsolidationHandler;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.net.impl.ConnectionBase;

/**
 * One socket flush per HTTP/2 connection per event-loop turn, however many of its streams wrote.
 *
 * <p>Why: Vert.x 4.5 flushes the channel after every stream write made outside a read of that
 * same connection. On a connection shared by many links the writes mostly come from elsewhere
 * (a guest's upload is read on one connection and forwarded on the host link's connection; the
 * answers come back the other way), so each one cost its own TLS record and {@code write}
 * system call. Netty's {@link FlushConsolidationHandler} turns those flushes into one task that
 * runs after the current turn's work, so TLS and the kernel see one batch. What it costs is the
 * rest of that turn before the bytes leave: microseconds, not a timer.
 *
 * <p>It sits just before the HTTP/2 handler (toward the socket), not at the pipeline's tail:
 * each Vert.x flush still makes the HTTP/2 handler frame that stream's data at once, and only
 * the socket flush waits. Held at the tail, the frames waited too, and Netty's fair byte
 * distributor then cut the pending data of many busy streams into 1 KiB slices: more frames,
 * and about a third more CPU per event on 100 busy links (measured). Flow control is unaffected:
 * framed bytes have left the stream's window either way.
 *
 * <p>Measured (bench, gateway suite, back to back): 187k to 247k events/s at peak on 1,000 guest
 * links, server CPU 8.2 to 6.2 us per event. {@code -Ddev.eventpaths.flush-batching=false}
 * turns it off, for such comparisons.
 */
public final class FlushBatching {
  static final String NAME = "eventpaths-flush-batching";
  /** A flush goes out at once after this many were held back in one turn. */
  private static final int MAX_HELD_FLUSHES = 256;

  /** {@code -Ddev.eventpaths.flush-batching=false} leaves Vert.x's flushing as it is (for comparison). */
  private static final boolean ENABLED = !"false".equals(System.getProperty("dev.eventpaths.flush-batching"));

  private FlushBatching() {}

  /** Installs the batching on an HTTP/2 connection, once; anything else is left as it is. */
  public static void install(HttpConnection connection) {
    if (!ENABLED || !(connection instanceof ConnectionBase base)) {
      return;
    }
    ChannelHandlerContext http2;
    try {
      http2 = base.channelHandlerContext();
      if (!(http2.handler() instanceof Http2ConnectionHandler)) {
        return;
      }
    } catch (RuntimeException e) {
      return;
    }
    Channel channel = http2.channel();
    if (channel.pipeline().get(NAME) != null) {
      return;
    }
    Runnable add = () -> {
      ChannelPipeline p = channel.pipeline();
      if (channel.isActive() && p.get(NAME) == null && !http2.isRemoved()) {
        p.addBefore(http2.name(), NAME, new FlushConsolidationHandler(MAX_HELD_FLUSHES, true));
      }
    };
    if (channel.eventLoop().inEventLoop()) {
      add.run();
    } else {
      channel.eventLoop().execute(add);
    }
  }
}
