package dev.eventpaths.gateway;

import dev.eventpaths.testing.Settle;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.eventpaths.Event;
import dev.eventpaths.EventEncoder;
import dev.eventpaths.internal.LinkRuntime;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpMethod;
import jakarta.inject.Inject;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Events through the gateway: round trips, many guests, backpressure, fallback, bad input. */
@QuarkusTest
@QuarkusTestResource(HostServices.class)
class GuestLinkFlowTest {
  @Inject Vertx vertx;
  @Inject LinkRuntime runtime;
  GuestClient client;

  @BeforeEach
  void open() {
    client = new GuestClient(vertx);
  }

  @AfterEach
  void close() {
    client.close();
  }

  @Test
  void aPairedLinkRoundTripsEventsToTheHostService() throws Exception {
    String guest = client.newGuest();
    var up = client.upload(guest, "echo", "main");
    var down = client.download(guest, "echo", "main", null);
    assertEquals(200, down.status());
    Event ready = down.next();
    assertEquals(Event.LINK_READY, ready.type(), "the host service's link.ready is forwarded");
    for (int i = 1; i <= 100; i++) {
      up.send(new Event("note", "n-" + i, i, dev.eventpaths.Json.of(Map.of("i", i))));
      Event back = down.next();
      assertEquals("n-" + i, back.id());
      assertEquals(i, back.data().tree().get("i").asInt());
    }
    up.end();
    down.ended.get(10, TimeUnit.SECONDS); // echo ends when its input ends; so does the download
    assertEquals(200, up.outcome.get(10, TimeUnit.SECONDS).status(), "the upload is answered when the link ends");
  }

  @Test
  void anOpenLinkDoesNotHoldOnToItsRoutingState() throws Exception {
    // A guest link lives for hours; what the route needed for a moment (its RoutingContext,
    // parameter maps, body holder: ~1.9 KB a link) must not live with it.
    String guest = client.newGuest();
    RoutingWatch.seen.clear();
    RoutingWatch.recording = true;
    GuestClient.Upload up;
    GuestClient.Download down;
    try {
      up = client.upload(guest, "echo", "held");
      down = client.download(guest, "echo", "held", "board=x");
      assertEquals(Event.LINK_READY, down.next().type());
    } finally {
      RoutingWatch.recording = false;
    }
    assertEquals(2, RoutingWatch.seen.size(), "the upload's and the download's routing contexts were seen");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (RoutingWatch.seen.stream().anyMatch(r -> r.get() != null) && System.nanoTime() < deadline) {
      System.gc();
      Thread.sleep(50);
    }
    assertEquals(0, RoutingWatch.seen.stream().filter(r -> r.get() != null).count(),
        "routing contexts still reachable while the link is open");
    // ... and the link still works on the request objects it kept.
    up.send(new Event("note", "after-gc", 1, dev.eventpaths.Json.of(Map.of("i", 1))));
    assertEquals("after-gc", down.next().id());
    up.end();
    down.ended.get(10, TimeUnit.SECONDS);
  }

  @Test
  void fiveHundredGuestsWithALinkEachAtOnce() throws Exception {
    try (GuestClient many = new GuestClient(vertx, 40, 30)) {
      int guests = 500;
      List<GuestClient.Upload> ups = new ArrayList<>();
      List<GuestClient.Download> downs = new ArrayList<>();
      List<String> ids = new ArrayList<>();
      for (int g = 0; g < guests; g++) {
        try {
          ids.add(many.newGuest());
        } catch (AssertionError e) {
          throw new AssertionError("guest " + g + ": " + e.getMessage());
        }
      }
      for (int g = 0; g < guests; g++) {
        ups.add(many.upload(ids.get(g), "echo", "l"));
        downs.add(many.download(ids.get(g), "echo", "l", null));
      }
      for (int g = 0; g < guests; g++) {
        assertEquals(200, downs.get(g).status(), "guest " + g);
        ups.get(g).send(Event.of("hi").withSeq(g + 1));
      }
      for (int g = 0; g < guests; g++) {
        assertEquals(g + 1, downs.get(g).nextData().seq(), "each guest gets its own answer");
      }
      ups.forEach(GuestClient.Upload::end);
      for (var d : downs) {
        d.ended.get(20, TimeUnit.SECONDS);
      }
    }
  }

  @Test
  void badUploadLinesGetNonFatalErrorsAndOtherLinksAreUntouched() throws Exception {
    String guest = client.newGuest();
    String other = client.newGuest();
    var up = client.upload(guest, "echo", "bad");
    var down = client.download(guest, "echo", "bad", null);
    var sameGuestUp = client.upload(guest, "echo", "good");
    var sameGuestDown = client.download(guest, "echo", "good", null);
    var otherUp = client.upload(other, "echo", "good");
    var otherDown = client.download(other, "echo", "good", null);
    assertEquals(Event.LINK_READY, down.next().type());
    up.sendRaw("{oops\n");
    assertErrorEvent(down.next(), "malformed_event");
    up.sendRaw("{\"type\":\"x\",\"data\":\"" + "z".repeat(70_000) + "\"}\n");
    assertErrorEvent(down.next(), "event_too_large");
    up.sendRaw("{\"type\":7}\n");
    assertErrorEvent(down.next(), "missing_type");
    up.send(Event.of("fine"));
    assertEquals("fine", down.next().type(), "the bad link itself goes on");
    sameGuestUp.send(Event.of("a"));
    otherUp.send(Event.of("b"));
    assertEquals("a", sameGuestDown.nextData().type());
    assertEquals("b", otherDown.nextData().type());
    for (var u : List.of(up, sameGuestUp, otherUp)) {
      u.end();
    }
  }

  @Test
  void aGuestThatStopsReadingPausesTheHostServicesProducer() throws Exception {
    String guest = client.newGuest();
    var up = client.upload(guest, "source", "flood");
    var down = client.download(guest, "source", "flood", "after=0&n=1000000&size=150");
    assertEquals(200, down.status());
    down.response.pause(); // the guest stops reading
    long emitted = Settle.value(() -> echoCounter("echo_source_emitted_total"));
    assertTrue(emitted < 20_000, "the host's producer stopped early: " + emitted + " of 1,000,000 emitted");
    long relayedIn = (long) runtime.metrics().registry().get("eventpaths.events")
        .tag("side", "client").tag("service", "source").tag("direction", "in").functionCounter().count();
    long relayedOut = (long) runtime.metrics().registry().get("eventpaths.events")
        .tag("side", "guest").tag("service", "source").tag("direction", "out").functionCounter().count();
    assertTrue(relayedIn - relayedOut <= 1_000,
        "the gateway holds at most a batch plus a chunk: read " + relayedIn + ", wrote " + relayedOut);
    down.response.resume();
    up.end();
    down.ended.get(60, TimeUnit.SECONDS);
  }

  @Test
  void aHostServiceThatReadsSlowlyPausesTheGuestsUpload() throws Exception {
    String guest = client.newGuest();
    var up = client.upload(guest, "sink", "slow");
    var down = client.download(guest, "sink", "slow", "delay-ms=10");
    assertEquals(200, down.status());
    // A well-behaved writer: writes while the stream's write queue has room.
    long[] written = {0};
    String pad = "w".repeat(150);
    vertx.runOnContext(v -> pump(up, written, pad));
    long stalled = Settle.value(() -> written[0]);
    long bytesIntoGateway = (long) runtime.metrics().registry().get("eventpaths.bytes")
        .tag("side", "guest").tag("service", "sink").tag("direction", "in").functionCounter().count();
    assertTrue(stalled < 5_000, "the guest's writer stalled: " + stalled + " events written");
    assertTrue(bytesIntoGateway < 600_000, "the gateway read little of the upload: " + bytesIntoGateway + " bytes");
    up.reset();
  }

  private static void pump(GuestClient.Upload up, long[] written, String pad) {
    while (!up.req.writeQueueFull() && written[0] < 1_000_000) {
      written[0]++;
      up.send(Event.of("w", Map.of("pad", pad)).withSeq(written[0]));
    }
    if (written[0] < 1_000_000) {
      up.req.drainHandler(v -> pump(up, written, pad));
    }
  }

  @Test
  void theBatchedFallbackDeliversInOrderExactlyOnceUnderRetries() throws Exception {
    String guest = client.newGuest();
    var down = client.download(guest, "echo", "fb", "mode=batch");
    assertEquals(200, down.status());
    assertEquals(Event.LINK_READY, down.next().type());
    String path = "/g/echo/fb/batch?n=";
    assertEquals(1, client.exchange(HttpMethod.POST, path + "0", guest, lines(1, 3)).json().getInteger("accepted") / 3);
    var retry = client.exchange(HttpMethod.POST, path + "0", guest, lines(1, 3));
    assertEquals(200, retry.status());
    assertEquals(true, retry.json().getBoolean("duplicate"), "a retried batch is not applied again");
    var gap = client.exchange(HttpMethod.POST, path + "2", guest, lines(7, 9));
    assertEquals(409, gap.status());
    assertEquals(1, gap.json().getInteger("expected"));
    assertEquals(200, client.exchange(HttpMethod.POST, path + "1", guest, lines(4, 6)).status());
    assertEquals(200, client.exchange(HttpMethod.POST, path + "2", guest, lines(7, 9)).status());
    assertEquals(true, client.exchange(HttpMethod.POST, path + "1", guest, lines(4, 6)).json().getBoolean("duplicate"));
    for (int i = 1; i <= 9; i++) {
      assertEquals(i, down.next().seq(), "in order, each once");
    }
    assertEquals(null, down.events.poll(300, TimeUnit.MILLISECONDS), "nothing applied twice");
    var noLink = client.exchange(HttpMethod.POST, "/g/echo/none/batch?n=0", guest, lines(1, 1));
    assertEquals(404, noLink.status());
    down.cancel();
  }

  @Test
  void aBatchNumberThatIsNotACountIsRefusedNotTakenForARetry() throws Exception {
    String guest = client.newGuest();
    var down = client.download(guest, "echo", "fbn", "mode=batch");
    assertEquals(Event.LINK_READY, down.next().type());
    for (String n : new String[] {"-1", "-9223372036854775808", "9007199254740992", "1.5", "0x1", "", "+1"}) {
      var r = client.exchange(HttpMethod.POST, "/g/echo/fbn/batch?n=" + n, guest, lines(1, 1));
      assertEquals(400, r.status(), "n=" + n + ": " + r.body());
      assertEquals("bad_batch_number", r.json().getString("error"), "n=" + n);
    }
    assertEquals(200, client.exchange(HttpMethod.POST, "/g/echo/fbn/batch?n=0", guest, lines(1, 1)).status());
    assertEquals(1, down.next().seq(), "the link still takes batch 0");
    down.cancel();
  }

  private static String lines(int from, int to) {
    StringBuilder b = new StringBuilder();
    for (int i = from; i <= to; i++) {
      b.append(new String(EventEncoder.encode(Event.of("b").withSeq(i)), java.nio.charset.StandardCharsets.UTF_8));
    }
    return b.toString();
  }

  static void assertErrorEvent(Event e, String reason) {
    assertEquals(Event.LINK_ERROR, e.type(), e.toString());
    assertEquals(reason, e.errorReason(), e.toString());
    assertEquals(false, e.data().tree().get("fatal").asBoolean(), e.toString());
  }

  static long echoCounter(String name) {
    return HostServices.a.metrics().lines().filter(l -> l.startsWith(name))
        .mapToLong(l -> (long) Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
  }

}
