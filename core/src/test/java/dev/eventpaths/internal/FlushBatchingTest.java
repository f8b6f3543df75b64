package dev.eventpaths.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.net.impl.ConnectionBase;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Writes to many streams of one connection in one event-loop turn leave in one flush; without
 * the batching Vert.x flushes once per write. Real h2c over loopback; the flushes are counted
 * where they reach the socket (a handler at the head of the client's pipeline).
 */
class FlushBatchingTest {
  static final int STREAMS = 50;
  Vertx vertx;
  HttpServer server;
  HttpClient client;
  final AtomicLong received = new AtomicLong();
  final AtomicInteger opened = new AtomicInteger();

  @BeforeEach
  void start() throws Exception {
    vertx = Vertx.vertx();
    server = vertx.createHttpServer()
        .requestHandler(req -> {
          opened.incrementAndGet();
          req.handler(b -> received.addAndGet(b.length()));
        })
        .listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    client = vertx.createHttpClient(new HttpClientOptions()
        .setProtocolVersion(HttpVersion.HTTP_2)
        .setHttp2ClearTextUpgrade(false));
  }

  @AfterEach
  void stop() {
    vertx.close();
  }

  @Test
  void writesToManyStreamsInOneTurnLeaveInOneFlush() throws Exception {
    assertEquals(1, flushesForOneWritePerStream(true), "flushes that carried bytes to the socket");
  }

  @Test
  void withoutTheBatchingEveryStreamWriteIsItsOwnFlush() throws Exception {
    // The control: what the batching saves, so the test above can tell it is working.
    assertTrue(flushesForOneWritePerStream(false) >= STREAMS, "Vert.x flushes after each write outside a read");
  }

  /** Returns the flushes that took bytes to the socket while one task wrote once to each stream. */
  private int flushesForOneWritePerStream(boolean batching) throws Exception {
    Context ctx = vertx.getOrCreateContext();
    List<HttpClientRequest> requests = new ArrayList<>();
    CountDownLatch open = new CountDownLatch(STREAMS);
    ctx.runOnContext(v -> {
      for (int i = 0; i < STREAMS; i++) {
        client.request(new RequestOptions().setMethod(HttpMethod.POST)
                .setHost("127.0.0.1").setPort(server.actualPort()).setURI("/" + i))
            .onSuccess(req -> {
              req.setChunked(true);
              req.sendHead().onSuccess(x -> {
                requests.add(req);
                open.countDown();
              });
            });
      }
    });
    assertTrue(open.await(10, TimeUnit.SECONDS), "streams opened");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (opened.get() < STREAMS && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertEquals(STREAMS, opened.get(), "the server saw every stream");

    CompletableFuture<AtomicInteger> counted = new CompletableFuture<>();
    ctx.runOnContext(v -> {
      if (batching) {
        FlushBatching.install(requests.get(0).connection());
      }
      AtomicInteger flushes = new AtomicInteger();
      ((ConnectionBase) requests.get(0).connection()).channelHandlerContext().pipeline()
          .addFirst(new ChannelOutboundHandlerAdapter() {
            boolean wrote;

            @Override
            public void write(ChannelHandlerContext c, Object msg, ChannelPromise promise) {
              wrote = true;
              c.write(msg, promise);
            }

            @Override
            public void flush(ChannelHandlerContext c) {
              if (wrote) {
                flushes.incrementAndGet();
                wrote = false;
              }
              c.flush();
            }
          });
      counted.complete(flushes);
    });
    AtomicInteger flushes = counted.get(10, TimeUnit.SECONDS);
    Buffer event = Buffer.buffer("{\"type\":\"e\",\"data\":{\"pad\":\"" + "x".repeat(170) + "\"}}\n");
    ctx.runOnContext(v -> requests.forEach(r -> r.write(event)));

    long expected = (long) STREAMS * event.length();
    deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (received.get() < expected && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertEquals(expected, received.get(), "every stream's write arrived");
    return flushes.get();
  }
}
