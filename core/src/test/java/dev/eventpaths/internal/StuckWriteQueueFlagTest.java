package dev.eventpaths.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.eventpaths.Event;
import io.smallrye.mutiny.Multi;
import io.vertx.core.Context;
import io.vertx.core.Handler;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.streams.WriteStream;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Vert.x's "write queue full" flag for an HTTP/2 stream is its copy of Netty's writability
 * notices, flipped on each one; were a notice lost, the flag would say full for good and its
 * drain handler never run. A writer must not wait on it alone: here the request's flag is
 * stuck at full and no drain ever comes, and every event still arrives, the writer going on
 * Netty's word and looking at the window again after each pause. Real h2c over loopback.
 */
class StuckWriteQueueFlagTest {
  static final int EVENTS = 20_000; // about 4.5 MB: a few stream windows, so several pauses
  WriterOnARequest.Loopback loop;

  @BeforeEach
  void start() throws Exception {
    loop = WriterOnARequest.Loopback.start(vertx -> req -> {
      AtomicInteger lines = new AtomicInteger();
      // A slowish reader, so that the writer does pause on a spent stream window.
      req.handler(b -> {
        lines.addAndGet(WriterOnARequest.lines(b));
        req.pause();
        vertx.setTimer(1, t -> req.resume());
      });
      req.endHandler(v -> req.response().end(Integer.toString(lines.get())));
    });
  }

  @AfterEach
  void stop() {
    loop.close();
  }

  @Test
  void aWriterWhoseWriteQueueFlagIsStuckAtFullStillDeliversEverything() throws Exception {
    CompletableFuture<String> answer = new CompletableFuture<>();
    AtomicInteger drainHandlersSet = new AtomicInteger();
    Context ctx = loop.vertx().getOrCreateContext();
    // Polls as in production, scaled down: 5 ms on Netty's word, 100 ms on Vert.x's.
    WriterOnARequest.open(loop.client(), loop.port(), ctx, 64, 5, req -> new StuckAtFull(req, drainHandlersSet), answer,
        (req, writer) -> {
          String pad = "x".repeat(200);
          Multi.createFrom().range(1, EVENTS + 1).map(i -> Event.of("e", Map.of("pad", pad)).withSeq(i)).subscribe(writer);
        });

    assertEquals(Integer.toString(EVENTS), answer.get(60, TimeUnit.SECONDS), "every event arrived");
    assertTrue(drainHandlersSet.get() > 0, "the writer paused on the spent window, and resumed with no drain notice");
  }

  /** The request as Vert.x would show it with a flag stuck at full: writes go through, no drain ever comes. */
  private record StuckAtFull(WriteStream<Buffer> request, AtomicInteger drainHandlersSet)
      implements WriterOnARequest.Forwarding {
    @Override
    public boolean writeQueueFull() {
      return true;
    }

    @Override
    public WriteStream<Buffer> drainHandler(Handler<Void> handler) {
      drainHandlersSet.incrementAndGet();
      return this;
    }
  }
}
