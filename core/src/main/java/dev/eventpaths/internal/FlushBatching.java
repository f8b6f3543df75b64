package dev.eventpaths.internal;

import io.netty.channel.Channel;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http2.Http2ConnectionHandler;
import io.netty.handler.flush.FlushConsolidationHandler;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.net.impl.ConnectionBase;

/**
 * One flush per HTTP/2 connection per event-loop turn, however many of its streams wrote.
 *
 * <p>Why: Vert.x 4.5 flushes the channel after every stream write made outside a read of that
 * same connection. On a connection shared by many links the writes mostly come from elsewhere
 * (a guest's upload is read on one connection and forwarded on the host link's connection; the
 * answers come back the other way), so each write cost its own HTTP/2 frame, TLS record and
 * {@code write} system call. Netty's {@link FlushConsolidationHandler}, placed at the tail of
 * the pipeline where {@code channel.flush()} enters, turns those flushes into one task that
 * runs after the writes of the current event-loop turn: the flow controller then merges the
 * queued DATA frames of each stream, and TLS and the kernel see one batch. What it costs is
 * the rest of that turn's work before the bytes leave: microseconds, not a timer.
 *
 * <p>Flow control is unaffected: bytes waiting for the flush count against the stream's window
 * as before ({@link StreamWritability} asks Netty, which includes them).
 */
public final class FlushBatching {
  static final String NAME = "eventpaths-flush-batching";
  /** A flush goes out at once after this many were held back in one turn. */
  private static final int MAX_HELD_FLUSHES = 256;

  private FlushBatching() {}

  /** Installs the batching on an HTTP/2 connection, once; anything else is left as it is. */
  public static void install(HttpConnection connection) {
    if (!(connection instanceof ConnectionBase base)) {
      return;
    }
    Channel channel;
    try {
      if (!(base.channelHandlerContext().handler() instanceof Http2ConnectionHandler)) {
        return;
      }
      channel = base.channelHandlerContext().channel();
    } catch (RuntimeException e) {
      return;
    }
    if (channel.pipeline().get(NAME) != null) {
      return;
    }
    Runnable add = () -> {
      ChannelPipeline p = channel.pipeline();
      if (channel.isActive() && p.get(NAME) == null) {
        p.addLast(NAME, new FlushConsolidationHandler(MAX_HELD_FLUSHES, true));
      }
    };
    if (channel.eventLoop().inEventLoop()) {
      add.run();
    } else {
      channel.eventLoop().execute(add);
    }
  }
}
