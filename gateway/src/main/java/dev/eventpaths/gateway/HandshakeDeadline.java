package dev.eventpaths.gateway;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.ssl.AbstractSniHandler;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.concurrent.ScheduledFuture;
import io.quarkus.vertx.http.HttpServerStart;
import io.quarkus.vertx.http.HttpsServerStart;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.impl.VertxInternal;
import io.vertx.core.net.impl.TCPServerBase;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.ObservesAsync;
import jakarta.inject.Inject;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * A deadline for what a connection must send before it has earned its memory: the TLS
 * handshake, the HTTP/2 preface and first SETTINGS frame (or an HTTP/1.x request head), and
 * after that each header block (HEADERS or PUSH_PROMISE with its CONTINUATIONs), each within
 * {@code gateway.handshake-timeout}. A connection that misses one is closed, counted
 * ({@code eventpaths_gateway_handshake_timeouts_total{stage}}) and logged.
 *
 * <p>Why here: neither Vert.x nor Netty bounds these. Vert.x's idle timeout is reset by every
 * byte, and it hears of an HTTP/2 connection only once its SETTINGS arrive, so a client that
 * trickles a byte every few seconds held a connection (about 58 KB) for ever; a thousand of them
 * cost the gateway 58 MB. No Vert.x option or hook sees a connection before that, so this
 * watches the accepted channels themselves: a handler on each listening channel's pipeline
 * puts a {@link Watch} first on every new connection. Its scanner reads only frame headers
 * (9 bytes per frame, payloads skipped by length), after TLS where there is TLS; the clock runs
 * only while a read ends inside the preface, a frame header or a header block, so an idle
 * connection (a browser's pre-opened one) and a slow body are not affected.
 */
@ApplicationScoped
public class HandshakeDeadline {
  private static final Logger LOG = Logger.getLogger(HandshakeDeadline.class);
  static final String NAME = "eventpaths-handshake-deadline";
  private static final byte[] PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

  @Inject Vertx vertx;
  @Inject GatewayConfig config;
  @Inject GatewayMetrics metrics;
  @Inject GatewayLog log;

  void http(@ObservesAsync HttpServerStart started) {
    install();
  }

  void https(@ObservesAsync HttpsServerStart started) {
    install();
  }

  private void install() {
    long timeout = config.handshakeTimeout().toNanos();
    if (timeout <= 0) {
      return;
    }
    for (TCPServerBase server : ((VertxInternal) vertx).sharedHttpServers().values()) {
      Future<Channel> bound = bindFuture(server);
      if (bound == null) {
        LOG.warn("no handshake deadline on an HTTP server: its listening channel is not reachable in this Vert.x "
            + "version; slow clients are then bounded only by quarkus.http.idle-timeout");
        continue;
      }
      // A server still binding gets it when bound (each server start fires its own event too).
      bound.onSuccess(listening -> listening.eventLoop().execute(() -> {
        if (listening.pipeline().get(NAME) == null) {
          listening.pipeline().addFirst(NAME, new Acceptor(timeout));
        }
      }));
    }
  }

  private static final Field BIND = bindField();

  private static Field bindField() {
    try {
      Field f = TCPServerBase.class.getDeclaredField("bindFuture");
      f.setAccessible(true);
      return f;
    } catch (ReflectiveOperationException | RuntimeException e) {
      return null;
    }
  }

  @SuppressWarnings("unchecked")
  private static Future<Channel> bindFuture(TCPServerBase server) {
    try {
      return BIND == null ? null : (Future<Channel>) BIND.get(server);
    } catch (ReflectiveOperationException | RuntimeException e) {
      return null;
    }
  }

  /** On a listening channel: each accepted connection passes through here as a message. */
  @ChannelHandler.Sharable
  private final class Acceptor extends ChannelInboundHandlerAdapter {
    private final long timeoutNanos;

    Acceptor(long timeoutNanos) {
      this.timeoutNanos = timeoutNanos;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (msg instanceof Channel child) {
        child.pipeline().addFirst(NAME, new Watch(timeoutNanos));
      }
      ctx.fireChannelRead(msg);
    }
  }

  /** First on a connection: the clock, and the scanner on plain connections. */
  private final class Watch extends ChannelInboundHandlerAdapter {
    private final long timeoutNanos;
    private final Scanner scanner = new Scanner();
    private ChannelHandlerContext ctx;
    private long armedAt;
    private ScheduledFuture<?> check;
    /** Plain: this handler scans; TLS: a scanner after the SslHandler does; until known, neither. */
    private int placement; // 0 unknown, 1 plain, 2 behind TLS

    Watch(long timeoutNanos) {
      this.timeoutNanos = timeoutNanos;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
      this.ctx = ctx;
      if (ctx.channel().isActive()) {
        arm();
      }
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) throws Exception {
      arm();
      super.channelActive(ctx);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
      if (check != null) {
        check.cancel(false);
        check = null;
      }
      super.channelInactive(ctx);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (placement == 0) {
        SslHandler ssl = ctx.pipeline().get(SslHandler.class);
        if (ssl != null) {
          placement = 2;
          ctx.pipeline().addAfter(ctx.pipeline().context(ssl).name(), NAME + "-frames", new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext c, Object m) {
              scan(m);
              c.fireChannelRead(m);
            }
          });
        } else if (ctx.pipeline().get(AbstractSniHandler.class) == null) {
          placement = 1;
        }
      }
      if (placement == 1) {
        scan(msg);
      }
      ctx.fireChannelRead(msg);
    }

    private void scan(Object msg) {
      if (msg instanceof ByteBuf buf && !scanner.done()) {
        scanner.scan(buf);
        if (scanner.waiting()) {
          arm();
        } else {
          armedAt = 0;
        }
      }
    }

    private void arm() {
      if (armedAt == 0) {
        armedAt = System.nanoTime();
      }
      if (check == null && ctx != null) {
        check = ctx.executor().schedule(this::check, timeoutNanos, TimeUnit.NANOSECONDS);
      }
    }

    private void check() {
      check = null;
      if (armedAt == 0 || !ctx.channel().isActive()) {
        return;
      }
      long left = armedAt + timeoutNanos - System.nanoTime();
      if (left > 0) {
        check = ctx.executor().schedule(this::check, left, TimeUnit.NANOSECONDS);
        return;
      }
      String stage = scanner.stage();
      metrics.handshakeTimeout(stage);
      log.refused("handshake_timeout", "closed a connection from " + ctx.channel().remoteAddress() + " that sent no "
          + stage + " within " + config.handshakeTimeout().toMillis() + " ms (gateway.handshake-timeout)");
      ctx.channel().close();
    }
  }

  /**
   * Follows an HTTP/2 server connection's inbound bytes frame by frame without keeping any of
   * them: the preface, then each 9-byte frame header, whose length says how much payload to skip.
   * Bytes that are not the preface are an HTTP/1.x request head, followed to its blank line.
   */
  static final class Scanner {
    private static final int PREFACE_STATE = 0;
    private static final int HTTP1 = 1;
    private static final int FRAME_HEADER = 2;
    private static final int PAYLOAD = 3;
    private static final int DONE = 4;

    private int state = PREFACE_STATE;
    private int at; // bytes of the preface or of a frame header read
    private final byte[] header = new byte[9];
    private long payloadLeft;
    private boolean settingsSeen;
    private boolean inHeaderBlock;
    private boolean blockEndsWithThisFrame;
    private int http1Tail; // the last bytes of an HTTP/1.x head, for its CRLF CRLF

    boolean done() {
      return state == DONE;
    }

    /** Whether the bytes so far end inside something that must be complete by the deadline. */
    boolean waiting() {
      return switch (state) {
        case PREFACE_STATE, HTTP1 -> true;
        case FRAME_HEADER -> !settingsSeen || at > 0 || inHeaderBlock;
        case PAYLOAD -> !settingsSeen || inHeaderBlock;
        default -> false;
      };
    }

    String stage() {
      if (state == HTTP1) {
        return "http1_head";
      }
      return settingsSeen ? "header_block" : "preface";
    }

    void scan(ByteBuf buf) {
      int i = buf.readerIndex();
      int end = buf.writerIndex();
      while (i < end && state != DONE) {
        switch (state) {
          case PREFACE_STATE -> {
            byte b = buf.getByte(i);
            if (b != PREFACE[at]) {
              state = HTTP1; // this byte is looked at again as part of a request head
              continue;
            }
            i++;
            if (++at == PREFACE.length) {
              state = FRAME_HEADER;
              at = 0;
            }
          }
          case HTTP1 -> {
            http1Tail = (http1Tail << 8) | (buf.getByte(i++) & 0xff);
            if (http1Tail == 0x0d0a0d0a) {
              state = DONE;
            }
          }
          case FRAME_HEADER -> {
            header[at++] = buf.getByte(i++);
            if (at == 9) {
              at = 0;
              payloadLeft = ((header[0] & 0xffL) << 16) | ((header[1] & 0xffL) << 8) | (header[2] & 0xffL);
              int type = header[3] & 0xff;
              int flags = header[4] & 0xff;
              if (type == 0x1 || type == 0x5 || type == 0x9) { // HEADERS, PUSH_PROMISE, CONTINUATION
                inHeaderBlock = true;
                blockEndsWithThisFrame = (flags & 0x4) != 0; // END_HEADERS
              }
              state = PAYLOAD;
              if (payloadLeft == 0) {
                frameDone();
              }
            }
          }
          case PAYLOAD -> {
            long n = Math.min(payloadLeft, end - i);
            i += (int) n;
            payloadLeft -= n;
            if (payloadLeft == 0) {
              frameDone();
            }
          }
          default -> i = end;
        }
      }
    }

    private void frameDone() {
      state = FRAME_HEADER;
      settingsSeen = true; // a client's first frame is its SETTINGS (RFC 9113 3.4)
      if (inHeaderBlock && blockEndsWithThisFrame) {
        inHeaderBlock = false;
      }
    }
  }
}
