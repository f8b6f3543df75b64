package dev.eventpaths.internal;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.Http2ConnectionHandler;
import io.netty.handler.codec.http2.Http2RemoteFlowController;
import io.netty.handler.codec.http2.Http2Stream;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.net.impl.ConnectionBase;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntSupplier;

/**
 * Whether HTTP/2 flow control lets one stream send now, asked of Netty directly, and a notice
 * when it may have changed.
 *
 * <p>Why: Vert.x 4.5 learns a stream's writability from Netty's listener and flips its own
 * flag on each notice ({@code writeQueueFull()}); that flag lags behind Netty's state while an
 * event-loop task keeps writing, and with a connection window larger than the stream window a
 * link to a peer that reads nothing wrote megabytes into Netty's pending queue before it
 * reported full (measured: Netty said not writable, stream window 0, while Vert.x still said
 * writable). Asking Netty as well keeps what a link holds bounded by its stream window.
 *
 * <p>A pause Vert.x did not see brings no drain notice from Vert.x either. A stream's window
 * reopens only when the peer's WINDOW_UPDATE (or SETTINGS) frame is read, so the notice is
 * taken from the connection's pipeline: a handler after Netty's HTTP/2 handler hears each
 * {@code channelReadComplete}, by which time the frames of that read have been applied to the
 * flow controller, and wakes the writers waiting on that connection. A busy link is thus
 * resumed in the same event-loop turn that grants it credit, not after a timer.
 */
final class StreamWritability {
  static final String WATCH = "eventpaths-window-watch";
  /** No opinion: always writable, no notices (a sink that is not an HTTP/2 stream). */
  static final StreamWritability NONE = new StreamWritability(null, () -> -1);

  private final ConnectionBase connection;
  private final IntSupplier streamId;

  private StreamWritability(ConnectionBase connection, IntSupplier streamId) {
    this.connection = connection;
    this.streamId = streamId;
  }

  /** For one stream of {@code connection}; {@code streamId} is negative until the stream has one. */
  static StreamWritability of(HttpConnection connection, IntSupplier streamId) {
    return connection instanceof ConnectionBase base ? new StreamWritability(base, streamId) : NONE;
  }

  /**
   * Netty's answer for this stream: whether its flow controller would send more now (stream
   * window, connection window and socket buffer all counted). {@code null} (no opinion) where it
   * cannot be asked: not an HTTP/2 stream, no stream id yet (a request whose headers are not
   * sent), or the stream is gone.
   */
  Boolean opinion() {
    if (connection == null) {
      return null;
    }
    try {
      if (!(connection.channelHandlerContext().handler() instanceof Http2ConnectionHandler handler)) {
        return null;
      }
      int id = streamId.getAsInt();
      Http2Stream stream = id < 0 ? null : handler.connection().stream(id);
      if (stream == null) {
        return null;
      }
      Http2RemoteFlowController flow = handler.encoder().flowController();
      if (flow.isWritable(stream)) {
        return true;
      }
      // Netty's "no" counts every stream's queued bytes against the connection's window, those
      // of streams whose own windows are shut too: links whose readers stopped each leave one
      // write queued, and once those add up to what is left of the connection's window every
      // stream of the connection is "not writable" for as long as those readers stay stopped,
      // a new one included, though bytes written on it would go out at once (the distributor
      // gives the connection's window only to streams that can send). So this stream may go on
      // while it has nothing queued of its own, both windows are open and the socket takes
      // writes: it still holds at most one write beyond its window.
      return !flow.hasFlowControlled(stream) && flow.windowSize(stream) > 0
          && flow.windowSize(handler.connection().connectionStream()) > 0
          && connection.channelHandlerContext().channel().isWritable();
    } catch (RuntimeException e) {
      return null; // no stream yet: Vert.x's own answer stands
    }
  }

  /**
   * Calls {@code wake} once, on the connection's event loop, after the next read from the peer
   * has been processed (or when the socket drains, or the connection closes). Returns {@code false} when no notice
   * can be given here (the caller then polls).
   */
  boolean wakeAfterNextRead(Runnable wake) {
    if (connection == null) {
      return false;
    }
    Channel channel;
    try {
      channel = connection.channelHandlerContext().channel();
    } catch (RuntimeException e) {
      return false;
    }
    if (!channel.isActive()) {
      return false;
    }
    Runnable register = () -> {
      if (!channel.isActive()) {
        wake.run();
        return;
      }
      ReadWatch watch = (ReadWatch) channel.pipeline().get(WATCH);
      if (watch == null) {
        watch = new ReadWatch();
        channel.pipeline().addLast(WATCH, watch);
      }
      watch.waiters.add(wake);
    };
    if (channel.eventLoop().inEventLoop()) {
      register.run();
    } else {
      channel.eventLoop().execute(register);
    }
    return true;
  }

  /** The writers waiting for a read on one connection. Event-loop confined. */
  private static final class ReadWatch extends ChannelInboundHandlerAdapter {
    private List<Runnable> waiters = new ArrayList<>();

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
      ctx.fireChannelReadComplete();
      wakeAll();
    }

    /**
     * The socket took what was queued: a stream paused because the connection could not send
     * (not its window) may go on, and that comes with no read.
     */
    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
      ctx.fireChannelWritabilityChanged();
      if (ctx.channel().isWritable()) {
        wakeAll();
      }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      ctx.fireChannelInactive();
      wakeAll();
    }

    private void wakeAll() {
      if (waiters.isEmpty()) {
        return;
      }
      List<Runnable> now = waiters;
      waiters = new ArrayList<>();
      for (Runnable r : now) {
        r.run();
      }
    }
  }
}
