package dev.eventpaths.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.eventpaths.Event;
import io.smallrye.mutiny.Multi;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.http.Http2Settings;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Streams whose peer reads nothing each leave one write queued in Netty past their window.
 * Netty counts those queued bytes against what is left of the connection's window, for every
 * stream: once they add up to more, it calls every stream of the connection unwritable, though
 * the connection's window is open and a stream that can send would be given it. A writer on
 * another stream of that connection must still get its events out, not wait for those readers.
 * Real h2c over loopback.
 */
class ConnectionWideStallTest {
  static final int STREAM_WINDOW = 64 * 1024;
  /** Fifteen stream windows and one more: once 15 streams are full, 64 KiB of it is left. */
  static final int CONNECTION_WINDOW = 16 * STREAM_WINDOW;
  static final int STALLED = 15;
  Vertx vertx;

  @AfterEach
  void stop() {
    if (vertx != null) {
      vertx.close();
    }
  }

  @Test
  void aStreamBesideStalledStreamsWhoseQueuedBytesExceedTheConnectionsWindowStillWrites() throws Exception {
    vertx = Vertx.vertx();
    AtomicInteger stalledSeen = new AtomicInteger();
    HttpServer server = vertx.createHttpServer(new HttpServerOptions()
            .setInitialSettings(new Http2Settings().setInitialWindowSize(STREAM_WINDOW))
            .setHttp2ConnectionWindowSize(CONNECTION_WINDOW))
        .requestHandler(req -> {
          if (req.path().equals("/stall")) {
            req.pause(); // reads nothing: its stream window fills and stays full
            stalledSeen.incrementAndGet();
            return;
          }
          AtomicInteger lines = new AtomicInteger();
          req.handler(chunk -> {
            if (lines.addAndGet(WriterOnARequest.lines(chunk)) >= 3 && !req.response().ended()) {
              req.response().end("3 events");
            }
          });
        })
        .listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    HttpClient client = WriterOnARequest.client(vertx); // one connection: all streams share it
    Context ctx = vertx.getOrCreateContext();
    String pad = "x".repeat(1000);
    for (int i = 0; i < STALLED; i++) {
      WriterOnARequest.open(client, server.actualPort(), ctx, "/stall", 128, OutboundWriter.POLL_MAX_MILLIS,
          new CompletableFuture<>(), (req, writer) ->
              Multi.createFrom().range(1, 1_000_000).map(n -> Event.of("fill", Map.of("pad", pad)).withSeq(n)).subscribe(writer));
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (stalledSeen.get() < STALLED && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertEquals(STALLED, stalledSeen.get(), "the stalled streams reached the peer");
    Thread.sleep(1_000); // their windows fill, each with one write queued past it

    // A few events, spaced out: the first write of a stream goes out before the writer asks
    // Netty anything, so only a later one shows whether the writer was let go on.
    CompletableFuture<String> answer = new CompletableFuture<>();
    WriterOnARequest.open(client, server.actualPort(), ctx, "/fresh", 128, OutboundWriter.POLL_MAX_MILLIS, answer,
        (req, writer) -> Multi.createFrom().ticks().every(Duration.ofMillis(200)).select().first(3)
            .map(n -> Event.of("fresh", Map.of("n", n)).withSeq(n + 1)).subscribe(writer));
    assertEquals("3 events", answer.get(5, TimeUnit.SECONDS));
  }
}
