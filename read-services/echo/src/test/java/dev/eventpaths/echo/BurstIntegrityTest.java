package dev.eventpaths.echo;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.eventpaths.Event;
import dev.eventpaths.Json;
import dev.eventpaths.LinkRequest;
import dev.eventpaths.internal.LinkClient;
import io.quarkus.test.junit.QuarkusTest;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import io.vertx.core.Vertx;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Bursts on many links of one connection come back byte for byte. Both ends write many full
 * buffers per event-loop turn here (the echo answers a whole read's worth of events at once),
 * while earlier buffers still wait in HTTP/2 flow control: an encode buffer reused before the
 * network took it would show here as a changed, misplaced or torn event.
 */
@QuarkusTest
class BurstIntegrityTest {
  static final int LINKS = 16;
  static final int EVENTS = 20_000;

  @Inject Vertx vertx;

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"h2c", "h2"})
  void burstsOnManyLinksComeBackByteForByte(String protocol) {
    try (LinkClient client = TestPeers.client(vertx, protocol)) {
      List<List<Event>> sent = new ArrayList<>();
      List<AssertSubscriber<Event>> links = new ArrayList<>();
      for (int l = 0; l < LINKS; l++) {
        List<Event> events = burst(l);
        sent.add(events);
        links.add(client.open(LinkRequest.to("echo", "echo").link("burst-" + l), Multi.createFrom().iterable(events))
            .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE)));
      }
      for (int l = 0; l < LINKS; l++) {
        AssertSubscriber<Event> link = links.get(l);
        link.awaitCompletion(Duration.ofSeconds(120));
        List<Event> back = link.getItems().stream().filter(e -> !e.isControl()).toList();
        List<Event> controls = link.getItems().stream().filter(e -> e.isControl() && !e.type().equals(Event.LINK_HEARTBEAT)).toList();
        assertEquals(EVENTS, back.size(), "link " + l + ": every event once; control events: " + controls);
        for (int i = 0; i < EVENTS; i++) {
          Event want = sent.get(l).get(i);
          Event got = back.get(i);
          assertEquals(want.id(), got.id(), "link " + l + ", event " + i);
          assertEquals(want.seq(), got.seq(), want.id());
          assertEquals(want.data().toString(), got.data().toString(), want.id());
        }
      }
    }
  }

  /** Events of uneven sizes (10 to 600 bytes of text), so a torn buffer cannot line up again. */
  private static List<Event> burst(int link) {
    SplittableRandom random = new SplittableRandom(link);
    List<Event> events = new ArrayList<>(EVENTS);
    StringBuilder text = new StringBuilder();
    for (int i = 1; i <= EVENTS; i++) {
      text.setLength(0);
      int n = random.nextInt(10, 600);
      for (int c = 0; c < n; c++) {
        text.append((char) ('a' + random.nextInt(26)));
      }
      events.add(new Event("burst", link + "-" + i, i, Json.of(Map.of("link", link, "n", i, "text", text.toString()))));
    }
    return events;
  }
}
