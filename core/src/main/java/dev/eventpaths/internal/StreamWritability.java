package dev.eventpaths.internal;

import io.netty.handler.codec.http2.Http2ConnectionHandler;
import io.netty.handler.codec.http2.Http2Stream;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.net.impl.ConnectionBase;
import java.util.function.BooleanSupplier;

/**
 * Whether HTTP/2 flow control lets one stream send now, asked of Netty directly.
 *
 * <p>Why: Vert.x 4.5 learns a stream's writability from Netty's listener and flips its own
 * flag on each notice ({@code writeQueueFull()}); that flag lags behind Netty's state while an
 * event-loop task keeps writing, and with a connection window larger than the stream window a
 * link to a peer that reads nothing wrote megabytes into Netty's pending queue before it
 * reported full (measured: Netty said not writable, stream window 0, while Vert.x still said
 * writable). Asking Netty as well keeps what a link holds bounded by its stream window.
 */
final class StreamWritability {
  private StreamWritability() {}

  /**
   * Netty's answer for this stream; {@code true} (no opinion) where it cannot be asked, or
   * while the stream has no id yet (a request whose headers are not sent).
   */
  static BooleanSupplier of(HttpConnection connection, java.util.function.IntSupplier streamId) {
    if (!(connection instanceof ConnectionBase base)) {
      return () -> true;
    }
    return () -> {
      try {
        if (!(base.channelHandlerContext().handler() instanceof Http2ConnectionHandler handler)) {
          return true;
        }
        int id = streamId.getAsInt();
        Http2Stream stream = id < 0 ? null : handler.connection().stream(id);
        return stream == null || handler.encoder().flowController().isWritable(stream);
      } catch (RuntimeException e) {
        return true; // no stream yet: Vert.x's own answer stands
      }
    };
  }
}
