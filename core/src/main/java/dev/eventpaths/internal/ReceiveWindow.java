package dev.eventpaths.internal;

import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http2.Http2ConnectionHandler;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2LocalFlowController;
import io.netty.handler.codec.http2.Http2Stream;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.net.impl.ConnectionBase;

/**
 * Gives one served HTTP/2 stream a larger receive window than the connection's initial one.
 *
 * <p>Why: a server's SETTINGS_INITIAL_WINDOW_SIZE covers every stream of every connection,
 * and a link server serves two kinds of link on the same connections: links between host
 * services, where one busy link waits on flow control below about 1 MiB (core/README.md, "One
 * link's speed and the stream window"), and links the gateway opened for a guest, whose input
 * an untrusted guest writes and which should hold little in a service that stops reading. So
 * the connection keeps the small window, and a host link's stream is granted the rest with a
 * WINDOW_UPDATE when the link starts. Netty then counts that stream's window from the larger
 * size (its window updates come, as for every stream, when half of it has been read).
 */
final class ReceiveWindow {
  private ReceiveWindow() {}

  /**
   * Grows the receive window of stream {@code streamId} of {@code connection} to {@code bytes}
   * (never shrinks it). Must run on the connection's event loop. Returns whether it grew.
   */
  static boolean grow(HttpConnection connection, int streamId, int bytes) {
    if (!(connection instanceof ConnectionBase base)) {
      return false;
    }
    try {
      ChannelHandlerContext ctx = base.channelHandlerContext();
      if (!(ctx.handler() instanceof Http2ConnectionHandler handler)) {
        return false;
      }
      Http2Stream stream = handler.connection().stream(streamId);
      if (stream == null) {
        return false;
      }
      Http2LocalFlowController flow = handler.decoder().flowController();
      int more = bytes - flow.initialWindowSize(stream);
      if (more <= 0) {
        return false;
      }
      flow.incrementWindowSize(stream, more);
      ctx.flush();
      return true;
    } catch (Http2Exception | RuntimeException e) {
      return false; // the stream is gone or closing: its link is ending anyway
    }
  }
}
