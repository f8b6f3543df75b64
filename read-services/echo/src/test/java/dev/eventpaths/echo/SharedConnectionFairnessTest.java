package dev.eventpaths.echo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.eventpaths.Event;
import dev.eventpaths.Json;
import dev.eventpaths.LinkRequest;
import dev.eventpaths.internal.LinkClient;
import dev.eventpaths.internal.LinkRuntime;
import dev.eventpaths.internal.LinkSettings;
import io.quarkus.test.junit.QuarkusTest;
import io.smallrye.mutiny.Multi;
import io.vertx.core.Vertx;
import jakarta.inject.Inject;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Many links on one pooled HTTP/2 connection, all busy at once, must all be served: a link
 * whose events are in flight gets answers while its neighbours do too. And a link whose
 * reader stops must not hold back the others on its connection (core/README.md).
 */
@QuarkusTest
class SharedConnectionFairnessTest {
  /** Under {@link LinkSettings#LINKS_PER_CONNECTION}: all on one connection. */
  static final int LINKS = 250;
  static final Json PAD = Json.of(java.util.Map.of("pad", "x".repeat(160)));

  @Inject Vertx vertx;
  @Inject LinkRuntime server;

  @Test
  void everyBusyLinkOnASharedConnectionIsServed() throws Exception {
    double connectionsBefore = server.metrics().registry().get("eventpaths.connections.active").gauge().value();
    try (LinkClient client = TestPeers.client(vertx, "h2c")) {
      List<Reader> readers = new ArrayList<>();
      for (int i = 0; i < LINKS; i++) {
        Reader r = new Reader(Long.MAX_VALUE);
        client.open(LinkRequest.to("echo", "echo").link("fair-" + i), endless()).subscribe().withSubscriber(r);
        readers.add(r);
      }
      awaitAll(readers, 1, 60);
      assertEquals(connectionsBefore + 1,
          server.metrics().registry().get("eventpaths.connections.active").gauge().value(),
          "all links share one connection");
      long[] before = readers.stream().mapToLong(r -> r.received.get()).toArray();
      Thread.sleep(3_000); // a window of full load
      int starved = 0;
      long total = 0;
      for (int i = 0; i < LINKS; i++) {
        long got = readers.get(i).received.get() - before[i];
        total += got;
        if (got == 0) {
          starved++;
        }
      }
      assertTrue(total > 0, "events flowed");
      assertEquals(0, starved, "links that got nothing in 3 s of load while the others got " + total + " events");
      readers.forEach(Reader::cancel);
    }
  }

  @Test
  void aConnectionCarriesNoMoreLinksThanItsWindowHoldsStreamWindows() throws Exception {
    // Past 256 a link takes another connection, though the server allows 1,000 streams: 256
    // stream windows are all a connection window holds, and links whose readers stopped would
    // otherwise use it up and starve their neighbours.
    double before = server.metrics().registry().get("eventpaths.connections.active").gauge().value();
    try (LinkClient client = TestPeers.client(vertx, "h2c")) {
      List<Reader> readers = new ArrayList<>();
      for (int i = 0; i < LinkSettings.LINKS_PER_CONNECTION + 44; i++) {
        Reader r = new Reader(Long.MAX_VALUE);
        client.open(LinkRequest.to("echo", "echo").link("many-" + i), endless()).subscribe().withSubscriber(r);
        readers.add(r);
      }
      awaitAll(readers, 1, 60);
      double opened = server.metrics().registry().get("eventpaths.connections.active").gauge().value() - before;
      assertTrue(opened >= 2, "300 links on " + opened + " connection(s)");
      readers.forEach(Reader::cancel);
    }
  }

  @Test
  void aStalledLinkDoesNotHoldBackTheOthersOnItsConnection() throws Exception {
    try (LinkClient client = TestPeers.client(vertx, "h2c")) {
      // Ten links stop reading after their first events: their unread answers pile up to
      // their stream windows. The busy links must keep flowing past them.
      List<Reader> stalled = new ArrayList<>();
      for (int i = 0; i < 10; i++) {
        Reader r = new Reader(50);
        client.open(LinkRequest.to("echo", "echo").link("stalled-" + i), endless()).subscribe().withSubscriber(r);
        stalled.add(r);
      }
      awaitAll(stalled, 50, 30);
      Thread.sleep(500); // let the service fill their windows
      List<Reader> busy = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        Reader r = new Reader(Long.MAX_VALUE);
        client.open(LinkRequest.to("echo", "echo").link("busy-" + i), endless()).subscribe().withSubscriber(r);
        busy.add(r);
      }
      awaitAll(busy, 10_000, 30);
      for (Reader r : stalled) {
        assertTrue(r.received.get() <= 50, "a stalled reader got only what it asked for");
      }
      stalled.forEach(Reader::cancel);
      busy.forEach(Reader::cancel);
    }
  }

  @Test
  void aNewLinkIsServedOnAConnectionFullOfLinksWhoseReadersStopped() throws Exception {
    // The gateway's setting: 64 KiB stream windows, so 256 of them fill the connection's window.
    // Each stalled link leaves its stream window unread and the service one write queued beyond
    // it; together those queued writes exceed what is left of the connection's window, and
    // Netty then calls every stream of the connection unwritable, a new one too.
    LinkSettings settings = TestPeers.settings(java.time.Duration.ofSeconds(15), java.time.Duration.ofSeconds(45))
        .withStreamWindow(64 * 1024);
    try (LinkClient client = TestPeers.client(vertx, "h2c", settings,
        new dev.eventpaths.internal.LinkMetrics(new io.micrometer.core.instrument.simple.SimpleMeterRegistry()),
        TestPeers.SECRET)) {
      List<Reader> stalled = new ArrayList<>();
      for (int i = 0; i < LinkSettings.LINKS_PER_CONNECTION - 1; i++) { // all but one of the connection's links
        // Each reads ~400 KB before it stops: what the connection took in and its links read
        // (the part Netty has not yet told the peer it may send again) is counted too.
        Reader r = new Reader(2_000);
        client.open(LinkRequest.to("echo", "echo").link("full-" + i), endless()).subscribe().withSubscriber(r);
        stalled.add(r);
      }
      awaitAll(stalled, 2_000, 60);
      Thread.sleep(2_000); // let the service fill their windows
      Reader fresh = new Reader(Long.MAX_VALUE);
      client.open(LinkRequest.to("echo", "echo").link("fresh"),
          Multi.createFrom().items(Event.of("hello", PAD).withSeq(1))
              .onCompletion().switchTo(Multi.createFrom().nothing()))
          .subscribe().withSubscriber(fresh);
      awaitAll(List.of(fresh), 1, 5);
      stalled.forEach(Reader::cancel);
      fresh.cancel();
    }
  }

  /** An endless stream of ~200-byte events, emitted only on demand. */
  private static Multi<Event> endless() {
    return Multi.createFrom().generator(() -> 1L, (seq, emitter) -> {
      emitter.emit(Event.of("load", PAD).withSeq(seq));
      return seq + 1;
    });
  }

  private static void awaitAll(List<Reader> readers, long events, int seconds) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (System.nanoTime() < deadline) {
      long behind = readers.stream().filter(r -> r.received.get() < events).count();
      if (behind == 0) {
        return;
      }
      Thread.sleep(50);
    }
    long behind = readers.stream().filter(r -> r.received.get() < events).count();
    throw new AssertionError(behind + " of " + readers.size() + " links got fewer than " + events
        + " events in " + seconds + " s: " + readers.stream().map(r -> r.received.get()).toList());
  }

  /** Counts events (not link.ready); asks for {@code limit} in total, in steps. */
  static final class Reader implements Flow.Subscriber<Event> {
    final AtomicLong received = new AtomicLong();
    final long limit;
    volatile Flow.Subscription subscription;
    long requested;

    Reader(long limit) {
      this.limit = limit;
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
      subscription = s;
      more();
    }

    private void more() {
      long n = Math.min(256, limit - requested);
      if (n > 0) {
        requested += n;
        subscription.request(n);
      }
    }

    @Override
    public void onNext(Event e) {
      if (!e.type().startsWith("link.")) {
        received.incrementAndGet();
      } else {
        requested--; // control events do not count against the limit
      }
      if (requested - received.get() < 128) {
        more();
      }
    }

    @Override
    public void onError(Throwable t) {}

    @Override
    public void onComplete() {}

    void cancel() {
      subscription.cancel();
    }
  }
}
