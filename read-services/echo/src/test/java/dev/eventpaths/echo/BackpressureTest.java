package dev.eventpaths.echo;

import dev.eventpaths.testing.Settle;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.eventpaths.Event;
import dev.eventpaths.LinkRequest;
import dev.eventpaths.internal.LinkClient;
import dev.eventpaths.internal.LinkRuntime;
import dev.eventpaths.internal.LinkSettings;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.test.junit.QuarkusTest;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import io.vertx.core.Vertx;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.Flow;
import org.eclipse.microprofile.config.ConfigProvider;
import org.junit.jupiter.api.Test;

/**
 * A slow consumer must slow its producer, across the network, with bounded buffering, and
 * lose nothing when it speeds up again.
 */
@QuarkusTest
class BackpressureTest {
  static final long TEN_MILLION = Long.getLong("backpressure.events", 10_000_000L);
  /**
   * What may sit between a paused reader and its producer with a 64 KiB stream window: the
   * window, the writer's write queue (about one window), one batch of 128 events, and the
   * chunk the reader had already decoded. With ~190-byte events that is well under 2,000
   * events; the bound leaves room for HTTP/2 framing and timing but is 5,000x smaller than the
   * producer.
   */
  static final long BOUND = 2_000;

  /**
   * The same for any window: the window in ~150-byte lines at the least, the one write (16 KiB
   * and an event) a writer may leave in Netty past the window, the chunk the reader decoded,
   * and a batch of 128 (OutboundWriter stops on Netty's "not writable" at once).
   */
  static long most(int window) {
    return (window + 2 * 17 * 1024) / 150 + 128;
  }

  @Inject Vertx vertx;
  @Inject MeterRegistry registry;
  @Inject LinkRuntime server;

  @Test
  void aReaderThatStopsStopsTheServiceAndResumesWithNothingLost() throws Exception {
    try (LinkClient client = TestPeers.client(vertx, "h2c")) {
      double before = emitted();
      Reader reader = new Reader();
      client.open(LinkRequest.to("echo", "source").param("n", Long.toString(TEN_MILLION)).param("size", "100"),
          Multi.createFrom().empty()).subscribe().withSubscriber(reader);
      reader.request(1_000);
      long emitted = Settle.value(() -> (long) (emitted() - before));
      long received = reader.received.get();
      assertEquals(1_000, received, "got what was asked for");
      // The client's default stream window (1 MiB) is what the service may run ahead.
      assertTrue(emitted - received <= most(LinkSettings.DEFAULT_STREAM_WINDOW),
          "producer stopped within the bound while the reader was paused: emitted " + emitted + ", read " + received);
      double pausedSeconds = server.metrics().registry().get("eventpaths.backpressure.paused")
          .tag("side", "server").tag("service", "source").functionTimer().totalTime(TimeUnit.SECONDS);
      reader.request(Long.MAX_VALUE);
      assertTrue(reader.done.await(120, TimeUnit.SECONDS), "all events arrive after resuming");
      assertEquals(null, reader.failure.get());
      assertEquals(TEN_MILLION + 1, reader.received.get(), "every event once, plus link.ready");
      assertEquals(0, reader.outOfOrder.get(), "in order");
      assertTrue(server.metrics().registry().get("eventpaths.backpressure.paused")
          .tag("side", "server").tag("service", "source").functionTimer().totalTime(TimeUnit.SECONDS) >= pausedSeconds,
          "time paused is measured");
    }
  }

  /**
   * {@code eventpaths.link.stream-window} is what a client lets a service send ahead of a
   * stopped reader: with 64 KiB the producer stops within {@link #BOUND}; with 1 MiB it runs on
   * past that, and still stops within that window, the writer's allowance past it and a batch.
   */
  @Test
  void aClientsStreamWindowSetsHowFarAServiceRunsAheadOfAStoppedReader() throws Exception {
    assertTrue(ranAhead(64 * 1024) <= BOUND, "a 64 KiB window holds the service to " + BOUND + " events ahead");
    int window = 1024 * 1024;
    long ahead = ranAhead(window);
    assertTrue(ahead > BOUND && ahead <= most(window),
        "a 1 MiB window lets the service run " + BOUND + "-" + most(window) + " events ahead: it ran " + ahead);
  }

  /** How many events the source service runs ahead of a reader that took 1,000 and stopped. */
  private long ranAhead(int window) throws Exception {
    var settings = TestPeers.settings(Duration.ofSeconds(15), Duration.ofSeconds(45)).withStreamWindow(window);
    try (LinkClient client = TestPeers.client(vertx, "h2c", settings,
        new dev.eventpaths.internal.LinkMetrics(new io.micrometer.core.instrument.simple.SimpleMeterRegistry()),
        TestPeers.SECRET)) {
      double before = emitted();
      Reader reader = new Reader();
      client.open(LinkRequest.to("echo", "source").param("n", "1000000").param("size", "100"),
          Multi.createFrom().empty()).subscribe().withSubscriber(reader);
      reader.request(1_000);
      long ahead = Settle.value(() -> (long) (emitted() - before)) - reader.received.get();
      reader.subscription.cancel();
      return ahead;
    }
  }

  /**
   * A service that completes while its caller still sends (the caller's body stays open, as a
   * guest's upload does behind the gateway): the end of the output must reach a slow reader
   * whole. The server used to reset the stream right after ending its response, and the reset
   * discarded what flow control still held: the last events never came.
   */
  @Test
  void aCompletedOutputReachesASlowReaderWholeWhileTheCallerStillSends() throws Exception {
    try (LinkClient client = TestPeers.client(vertx, "h2c")) {
      int n = 20_000;
      Reader reader = new Reader();
      client.open(LinkRequest.to("echo", "source").param("n", Integer.toString(n)).param("size", "100"),
          Multi.createFrom().nothing()).subscribe().withSubscriber(reader);
      // Slowly: the service completes long before the reader has taken the last windows.
      for (int i = 0; i < 100 && reader.done.getCount() > 0; i++) {
        reader.request(250);
        Thread.sleep(20);
      }
      reader.request(Long.MAX_VALUE);
      assertTrue(reader.done.await(60, TimeUnit.SECONDS), "the link ends");
      assertEquals(null, reader.failure.get(), "it ends cleanly, not with a reset");
      assertEquals(n + 1, reader.received.get(), "every event once, plus link.ready");
      assertEquals(0, reader.outOfOrder.get(), "in order");
    }
  }

  @Test
  void aServiceThatStopsReadingStopsTheCallersProducer() throws Exception {
    // A link between host services: the service grants it its stream window (1 MiB by default),
    // so the caller runs past what the connection's 64 KiB would let it (see the guest's below).
    int window = server.settings().streamWindow();
    assertTrue(window >= 1024 * 1024, "host links get a large window here");
    long stalled = sendToAServiceThatStopsReading(LinkRequest.to("echo", "hold"));
    assertTrue(stalled <= most(window), "bounded in flight between producer and a service that reads nothing: " + stalled);
    assertTrue(stalled > BOUND, "the service granted the host link its window: " + stalled);
  }

  /**
   * A link the gateway opened for a guest keeps the connection's small window (64 KiB) at the
   * service, whatever window host links get: what an untrusted guest can park in a service
   * that stops reading is one small window per link.
   */
  @Test
  void aLinkOpenedForAGuestKeepsTheSmallWindowAtAServiceThatStopsReading() throws Exception {
    long guest = sendToAServiceThatStopsReading(LinkRequest.to("echo", "hold").guest("g-1"));
    assertTrue(guest <= BOUND, "a guest's link is held to " + BOUND + " events ahead: " + guest);
  }

  /**
   * Sends up to 200,000 events to a service that reads none until the caller's producer stops,
   * then lets the service read: returns where the producer stopped, once all arrived in order.
   */
  private long sendToAServiceThatStopsReading(LinkRequest request) throws Exception {
    CompletableFuture<AssertSubscriber<Event>> held = new CompletableFuture<>();
    Hold.NEXT.set(held);
    AtomicLong produced = new AtomicLong();
    Multi<Event> endless = Multi.createFrom().generator(() -> 1L, (seq, emitter) -> {
      produced.incrementAndGet();
      emitter.emit(Event.of("load", java.util.Map.of("pad", "y".repeat(150))).withSeq(seq));
      return seq + 1;
    });
    try (LinkClient client = TestPeers.client(vertx, "h2c")) {
      AssertSubscriber<Event> answers = client.open(request, endless.select().first(200_000))
          .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
      AssertSubscriber<Event> service = held.get(10, TimeUnit.SECONDS);
      long stalled = Settle.value(produced::get);
      assertTrue(stalled < 200_000, "the caller's producer stopped: " + stalled);
      service.request(Long.MAX_VALUE);
      service.awaitItems(200_000, Duration.ofSeconds(60));
      for (int i = 0; i < 200_000; i++) {
        if (service.getItems().get(i).seq() != i + 1) {
          throw new AssertionError("out of order at " + i);
        }
      }
      service.awaitCompletion(Duration.ofSeconds(10));
      answers.cancel();
      return stalled;
    }
  }

  private double emitted() {
    var c = registry.find("echo.source.emitted").counter();
    return c == null ? 0 : c.count();
  }

  @Test
  void aStreamThatEndsWhileTheNetworkIsFullStillDeliversItsTail() throws Exception {
    // 150 events of ~1 KB: more than one 64 KiB stream window, fewer than one batch beyond
    // it, so the service completes while its writer waits for the paused reader.
    try (LinkClient client = TestPeers.client(vertx, "h2c")) {
      AssertSubscriber<Event> reader = client.open(
          LinkRequest.to("echo", "source").param("n", "150").param("size", "1000"), Multi.createFrom().empty())
          .subscribe().withSubscriber(AssertSubscriber.create(0));
      Thread.sleep(1_000);
      reader.request(Long.MAX_VALUE);
      reader.awaitCompletion(Duration.ofSeconds(10));
      assertEquals(151, reader.getItems().size(), "link.ready and all 150 events");
      assertEquals(150, reader.getItems().get(150).seq());
    }
  }


  /** Counts and checks order without keeping the events (10 million would not fit a test). */
  static final class Reader implements Flow.Subscriber<Event> {
    final AtomicLong received = new AtomicLong();
    final AtomicLong outOfOrder = new AtomicLong();
    final AtomicReference<Throwable> failure = new AtomicReference<>();
    final CountDownLatch done = new CountDownLatch(1);
    volatile Flow.Subscription subscription;
    long expected = 1;

    @Override
    public void onSubscribe(Flow.Subscription s) {
      subscription = s;
    }

    void request(long n) throws InterruptedException {
      while (subscription == null) {
        Thread.sleep(5);
      }
      subscription.request(n);
    }

    @Override
    public void onNext(Event e) {
      received.incrementAndGet();
      if (e.type().equals("source.item")) {
        if (e.seq() != expected) {
          outOfOrder.incrementAndGet();
        }
        expected = e.seq() + 1;
      } else if (!e.type().equals(Event.LINK_READY)) {
        failure.compareAndSet(null, new AssertionError("unexpected " + e));
      }
    }

    @Override
    public void onError(Throwable t) {
      failure.set(t);
      done.countDown();
    }

    @Override
    public void onComplete() {
      done.countDown();
    }
  }
}
