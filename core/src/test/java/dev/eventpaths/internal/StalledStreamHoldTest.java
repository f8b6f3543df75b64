package dev.eventpaths.internal;

import dev.eventpaths.testing.Settle;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.eventpaths.Event;
import dev.eventpaths.EventEncoder;
import io.smallrye.mutiny.Multi;
import io.vertx.core.AsyncResult;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.Http2Settings;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.streams.WriteStream;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A peer that reads nothing: what the writer lets into Netty for that stream is the window the
 * peer granted and one write past it, whatever the connection's far larger window would take.
 * Each such byte sits in the writer's heap for as long as the peer does not read, so this is
 * what a stalled link costs (a guest's download at the gateway, a guest's host link at a
 * service). And the writer still resumes once the peer opens its window. Real h2c over loopback.
 */
class StalledStreamHoldTest {
  static final int EVENTS = 5_000; // about 1.1 MB: far more than any window below
  /** One write: what the writer coalesces before writing, plus the event that filled it. */
  static final int ONE_WRITE = OutboundWriter.FLUSH_BYTES + 1024;
  WriterOnARequest.Loopback loop;

  @AfterEach
  void stop() {
    if (loop != null) {
      loop.close();
    }
  }

  @ParameterizedTest(name = "peer window {0}")
  @ValueSource(ints = {0, 1, 1000, 65535})
  void aWriterWhosePeerReadsNothingHoldsOneWritePastThePeersWindow(int window) throws Exception {
    AtomicReference<HttpServerRequest> peerSide = new AtomicReference<>();
    AtomicReference<Context> peerContext = new AtomicReference<>();
    AtomicLong peerBytes = new AtomicLong();
    loop = WriterOnARequest.Loopback.start(window, vertx -> req -> {
      req.pause(); // reads nothing: grants no more than its initial window
      req.handler(b -> peerBytes.addAndGet(b.length()));
      req.endHandler(v -> req.response().end(Long.toString(peerBytes.get())));
      peerContext.set(vertx.getOrCreateContext());
      peerSide.set(req);
    });
    CompletableFuture<String> answer = new CompletableFuture<>();
    AtomicLong written = new AtomicLong();
    Context ctx = loop.vertx().getOrCreateContext();
    WriterOnARequest.open(loop.client(), loop.port(), ctx, 128, OutboundWriter.POLL_MAX_MILLIS,
        req -> new Counting(req, written), answer, (req, writer) -> {
          String pad = "x".repeat(200);
          Multi.createFrom().range(1, EVENTS + 1).map(i -> Event.of("e", Map.of("pad", pad)).withSeq(i)).subscribe(writer);
        });

    long held = Settle.value(written::get);
    assertTrue(held > 0, "the writer wrote");
    assertTrue(held <= window + ONE_WRITE,
        "a writer whose peer reads nothing let " + held + " bytes into Netty: more than the peer's window ("
            + window + ") and one write (" + ONE_WRITE + ")");

    // The peer reads again and opens its window (SETTINGS: a zero window has no WINDOW_UPDATE
    // to give back): the paused writer goes on to the end.
    HttpServerRequest req = peerSide.get();
    peerContext.get().runOnContext(v -> {
      req.resume();
      req.connection().updateSettings(new Http2Settings().setInitialWindowSize(LinkSettings.DEFAULTS.streamWindow()));
    });
    long total = Long.parseLong(answer.get(60, TimeUnit.SECONDS));
    assertEquals(written.get(), total, "every byte written arrived once the peer read");
    assertTrue(total > EVENTS * 200L, "all events were written: " + total);
  }

  @Test
  void aPausedWritersDemandIsBoundedInBytesNotOnlyInEvents() throws Exception {
    // 2 KB events to a peer that grants nothing: a batch of 128 of them is 256 KB the writer
    // would hold besides what it wrote; asked for by bytes, it holds about DEMAND_BYTES.
    loop = WriterOnARequest.Loopback.start(0, vertx -> req -> req.pause());
    AtomicLong written = new AtomicLong();
    AtomicLong emitted = new AtomicLong();
    Event sample = Event.of("e", Map.of("pad", "x".repeat(2000))).withSeq(1);
    int eventBytes = EventEncoder.encode(sample).length;
    Context ctx = loop.vertx().getOrCreateContext();
    WriterOnARequest.open(loop.client(), loop.port(), ctx, 128, OutboundWriter.POLL_MAX_MILLIS,
        req -> new Counting(req, written), new CompletableFuture<>(), (req, writer) ->
            Multi.createFrom().range(1, EVENTS + 1).map(i -> sample.withSeq(i)).onItem().invoke(e -> emitted.incrementAndGet())
                .subscribe(writer));
    Settle.value(emitted::get);
    long held = emitted.get() * eventBytes - Settle.value(written::get);
    assertTrue(held <= OutboundWriter.DEMAND_BYTES + 2L * eventBytes,
        "a paused writer holds " + held + " bytes of events it asked for, more than " + OutboundWriter.DEMAND_BYTES
            + " and two events");
  }


  /** The request, counting the bytes written to it: what the writer let into Netty. */
  private record Counting(WriteStream<Buffer> request, AtomicLong written) implements WriterOnARequest.Forwarding {
    @Override
    public Future<Void> write(Buffer data) {
      written.addAndGet(data.length());
      return request.write(data);
    }

    @Override
    public void write(Buffer data, Handler<AsyncResult<Void>> handler) {
      written.addAndGet(data.length());
      request.write(data, handler);
    }
  }
}
