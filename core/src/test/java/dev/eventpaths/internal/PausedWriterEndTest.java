package dev.eventpaths.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.eventpaths.Event;
import io.vertx.core.Context;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.net.impl.ConnectionBase;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A producer that completes right after the write that paused its writer on Netty's word: the
 * end is reported at once (nothing is pending) and the owner ends the request, while the
 * writer still waits for the stream's window. When it looks again it must not ask the ended
 * request (Vert.x throws "Request already complete" from the writer's timer), and once the
 * peer reads, everything arrives. Real h2c over loopback.
 */
class PausedWriterEndTest {
  static final int STREAM_WINDOW = LinkSettings.DEFAULTS.streamWindow();
  WriterOnARequest.Loopback loop;
  final CompletableFuture<HttpServerRequest> held = new CompletableFuture<>();
  final List<Throwable> thrown = new CopyOnWriteArrayList<>();

  @BeforeEach
  void start() throws Exception {
    // A peer that reads nothing until told, with the library's windows.
    loop = WriterOnARequest.Loopback.start(vertx -> req -> {
      req.pause();
      AtomicInteger lines = new AtomicInteger();
      req.handler(b -> lines.addAndGet(WriterOnARequest.lines(b)));
      req.endHandler(v -> req.response().end(Integer.toString(lines.get())));
      held.complete(req);
    });
    loop.vertx().exceptionHandler(thrown::add);
  }

  @AfterEach
  void stop() {
    loop.close();
  }

  @Test
  void aProducerThatEndsJustAsItsWriterPausesEndsTheStreamWithNothingThrownOrLost() throws Exception {
    CompletableFuture<String> answer = new CompletableFuture<>();
    CompletableFuture<Integer> ended = new CompletableFuture<>();
    AtomicReference<HttpClientRequest> request = new AtomicReference<>();
    Context ctx = loop.vertx().getOrCreateContext();
    // A batch of 8,192 events (2 MB, its bytes unbounded) lets one task write to the window
    // and pause on it.
    WriterOnARequest.open(loop.client(), loop.port(), ctx, 8_192, Integer.MAX_VALUE, 10, java.util.function.UnaryOperator.identity(),
        answer, (req, writer) -> {
      request.set(req);
      // The producer stops at the write that paused the writer (nothing is left pending
      // then: that write took it all) and completes right after it.
      Event event = Event.of("e", Map.of("pad", "x".repeat(200)));
      long[] demand = {0};
      writer.onSubscribe(new Flow.Subscription() {
        @Override
        public void request(long n) {
          demand[0] += n;
        }

        @Override
        public void cancel() {}
      });
      int[] sent = {0};
      Runnable[] step = {null};
      step[0] = () -> {
        // All in one event-loop task, as a synchronous producer writes: Vert.x hears of the
        // spent stream window only after the task, so the writer pauses on Netty's word.
        while (writer.isWritable() && demand[0] > 0 && sent[0] < 1_000_000) {
          demand[0]--;
          sent[0]++;
          writer.onNext(event.withSeq(sent[0]));
        }
        if (writer.isWritable()) {
          ended.completeExceptionally(new AssertionError("the writer never paused: " + sent[0] + " sent"));
        } else {
          writer.onComplete();
          ended.complete(sent[0]);
        }
      };
      // Start once the peer's connection window update has come (right after its SETTINGS):
      // before it, the connection's 64 KiB would pause the writer on Vert.x's word instead.
      loop.vertx().setTimer(200, t -> step[0].run());
    });

    int sent = ended.get(10, TimeUnit.SECONDS);
    long line = dev.eventpaths.EventEncoder.encode(Event.of("e", Map.of("pad", "x".repeat(200))).withSeq(sent)).length;
    assertTrue(sent * line >= STREAM_WINDOW, "wrote the stream window before pausing: " + sent + " events");
    Thread.sleep(300); // the writer's poll (every 10 ms here) and read notices look at the window
    assertEquals(List.of(), thrown, "thrown on the event loop");
    assertNotNull(((ConnectionBase) request.get().connection()).channelHandlerContext().pipeline()
        .get(StreamWritability.WATCH), "the writer paused on Netty's word (after " + sent + " events)");

    HttpServerRequest peer = held.get(10, TimeUnit.SECONDS);
    peer.resume();
    assertEquals(Integer.toString(sent), answer.get(30, TimeUnit.SECONDS), "every event arrived");
    assertEquals(List.of(), thrown, "thrown on the event loop");
  }
}
