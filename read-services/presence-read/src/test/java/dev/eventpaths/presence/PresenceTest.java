package dev.eventpaths.presence;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.eventpaths.Event;
import dev.eventpaths.LinkRequest;
import dev.eventpaths.internal.LinkClient;
import dev.eventpaths.internal.LinkMetrics;
import dev.eventpaths.internal.LinkSettings;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.quarkus.test.junit.QuarkusTest;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import io.smallrye.mutiny.operators.multi.processors.UnicastProcessor;
import io.vertx.core.Vertx;
import jakarta.inject.Inject;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import org.eclipse.microprofile.config.ConfigProvider;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * presence-read over real HTTP/2 links: a gateway's feed played with the library's
 * {@code LinkClient}, and guests watching boards.
 */
@QuarkusTest
class PresenceTest {
  static final String SECRET = "test-only-link-secret";

  @Inject Vertx vertx;
  LinkClient client;
  final List<AssertSubscriber<Event>> open = new ArrayList<>();

  @BeforeEach
  void connect() {
    int port = ConfigProvider.getConfig().getValue("quarkus.http.test-port", Integer.class);
    client = new LinkClient(vertx, LinkSettings.DEFAULTS, new LinkMetrics(new SimpleMeterRegistry()), "gateway",
        Map.of("presence-read", new LinkClient.Target("presence-read", URI.create("http://localhost:" + port), SECRET, null, 4)));
  }

  @AfterEach
  void close() {
    open.forEach(AssertSubscriber::cancel);
    client.close();
  }

  /** A gateway instance's feed link. */
  final class Gateway {
    final String id;
    final UnicastProcessor<Event> out = UnicastProcessor.create();
    final AssertSubscriber<Event> answers;

    Gateway(String id) {
      this.id = id;
      answers = client.open(LinkRequest.to("presence-read", "gateway-feed"), out).subscribe()
          .withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
      open.add(answers);
      answers.awaitItems(1, Duration.ofSeconds(10));
    }

    void opened(String guest, String link, String service, String board) {
      out.onNext(event(PresenceTestEvents.OPENED, guest, link, service, board));
    }

    void opened(String guest, String link, String board) {
      opened(guest, link, "board", board);
    }

    void closed(String guest, String link, String board) {
      out.onNext(event(PresenceTestEvents.CLOSED, guest, link, "board", board));
    }

    Event event(String type, String guest, String link, String service, String board) {
      Map<String, Object> d = new LinkedHashMap<>();
      d.put("gateway", id);
      d.put("guest", guest);
      d.put("service", service);
      d.put("link", link);
      d.put("params", board == null ? Map.of() : Map.of("board", board));
      return Event.of(type, d).withId(UUID.randomUUID().toString());
    }
  }

  /** A guest watching a board's presence. */
  AssertSubscriber<Event> watch(String board, String guest, long demand) {
    LinkRequest r = LinkRequest.to("presence-read", "presence").param("board", board);
    if (guest != null) {
      r = r.guest(guest);
    }
    AssertSubscriber<Event> s = client.open(r, Multi.createFrom().nothing()).subscribe()
        .withSubscriber(AssertSubscriber.create(demand));
    open.add(s);
    return s;
  }

  /** Folds a watcher's events into handle -> links, checking they are well formed. */
  static Map<String, Integer> state(AssertSubscriber<Event> s) {
    Map<String, Integer> state = null;
    for (Event e : List.copyOf(s.getItems())) {
      JsonNode d = e.data() == null ? null : e.data().tree();
      switch (e.type()) {
        case "presence.snapshot" -> {
          state = new TreeMap<>();
          for (JsonNode v : d.get("viewers")) {
            state.put(v.get("viewer").asText(), v.get("links").asInt());
          }
        }
        case "presence.joined" -> assertEquals(null, state.put(d.get("viewer").asText(), d.get("links").asInt()), "joined twice");
        case "presence.updated" -> assertTrue(state.put(d.get("viewer").asText(), d.get("links").asInt()) != null);
        case "presence.left" -> assertTrue(state.remove(d.get("viewer").asText()) != null, "left without joining");
        default -> { }
      }
    }
    return state;
  }

  static void awaitState(AssertSubscriber<Event> s, Map<String, Integer> expected) {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (!expected.equals(state(s))) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("expected " + expected + ", state " + state(s) + " from " + s.getItems());
      }
      sleep(5);
    }
  }

  static List<String> types(AssertSubscriber<Event> s) {
    return List.copyOf(s.getItems()).stream().map(Event::type).filter(t -> !t.startsWith("link.")).toList();
  }

  static String h(String guest) {
    return Handles.of(guest);
  }

  static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      throw new AssertionError(e);
    }
  }

  @Test
  void watchersOfTwoBoardsSeeTheirOwnViewersJoinChangeAndLeave() {
    String x = "guest-x-" + UUID.randomUUID();
    String y = "guest-y-" + UUID.randomUUID();
    AssertSubscriber<Event> a = watch("pa", "watcher-a", Long.MAX_VALUE);
    AssertSubscriber<Event> b = watch("pb", "watcher-b", Long.MAX_VALUE);
    awaitState(a, Map.of());
    awaitState(b, Map.of());
    Event snapshot = a.getItems().get(1);
    assertEquals("presence.snapshot", snapshot.type());
    assertEquals("{\"board\":\"pa\",\"viewers\":[],\"you\":\"" + h("watcher-a") + "\",\"complete\":true}",
        snapshot.data().toString(), "the watcher learns its own handle, nobody else's id");

    Gateway gw = new Gateway("gw-1");
    gw.opened(x, "l1", "pa");
    awaitState(a, Map.of(h(x), 1));
    gw.opened(y, "l2", "pb");
    gw.opened(x, "l3", "pa"); // a second tab on the same board
    gw.opened(x, "l4", "echo", null); // not a board link: not viewing anything
    awaitState(a, Map.of(h(x), 2));
    awaitState(b, Map.of(h(y), 1));
    gw.closed(x, "l1", "pa");
    awaitState(a, Map.of(h(x), 1));
    gw.closed(x, "l3", "pa");
    awaitState(a, Map.of());
    assertEquals(List.of("presence.snapshot", "presence.joined", "presence.updated", "presence.updated", "presence.left"),
        types(a));
    assertEquals(List.of("presence.snapshot", "presence.joined"), types(b), "board pb saw only its own viewer");

    for (Event e : a.getItems()) {
      assertFalse(e.toString().contains(x) || e.toString().contains(y), "a guest id leaked: " + e);
    }
    for (Event e : b.getItems()) {
      assertFalse(e.toString().contains(x) || e.toString().contains(y), "a guest id leaked: " + e);
    }
    assertEquals(12, h(x).length());
    assertTrue(gw.answers.getItems().stream().noneMatch(e -> e.type().equals(Event.LINK_ERROR)), "all events were taken");
  }

  @Test
  void whenAGatewaysFeedLinkEndsItsViewersLeaveAndOnlyThose() {
    AssertSubscriber<Event> w = watch("pc", null, Long.MAX_VALUE);
    Gateway one = new Gateway("gw-one");
    Gateway two = new Gateway("gw-two");
    Gateway three = new Gateway("gw-three");
    one.opened("g-1", "l", "pc");
    one.opened("g-2", "l", "pc");
    two.opened("g-3", "l", "pc");
    three.opened("g-4", "l", "pc");
    awaitState(w, Map.of(h("g-1"), 1, h("g-2"), 1, h("g-3"), 1, h("g-4"), 1));

    one.answers.cancel(); // the gateway died, or its connection did: the stream is reset
    awaitState(w, Map.of(h("g-3"), 1, h("g-4"), 1));
    two.out.onComplete(); // the gateway ended its feed cleanly
    two.answers.awaitCompletion(Duration.ofSeconds(10));
    awaitState(w, Map.of(h("g-4"), 1));
    three.closed("g-4", "l", "pc");
    awaitState(w, Map.of());
  }

  @Test
  void aGatewayThatReconnectsAndResendsItsOpenLinksCausesNoFlickerAndDropsWhatClosedMeanwhile() {
    AssertSubscriber<Event> w = watch("pd", null, Long.MAX_VALUE);
    Gateway before = new Gateway("gw-r");
    before.opened("stays", "l", "pd");
    before.opened("stays", "l", "pd"); // a repeat changes nothing
    before.opened("goes", "l", "pd");
    awaitState(w, Map.of(h("stays"), 1, h("goes"), 1));

    // The gateway thinks its feed is dead and opens another, re-sending what is open now:
    // "goes" closed while it was disconnected, so it is not re-sent.
    Gateway after = new Gateway("gw-r");
    after.opened("stays", "l", "pd");
    after.opened("new", "l", "pd");
    awaitState(w, Map.of(h("stays"), 1, h("goes"), 1, h("new"), 1));
    before.closed("stays", "l", "pd"); // late news from the old link: the new link's claim wins
    before.answers.cancel(); // the old link is finally noticed dead
    awaitState(w, Map.of(h("stays"), 1, h("new"), 1));
    sleep(200);
    assertEquals(Map.of(h("stays"), 1, h("new"), 1), state(w));
    assertEquals(List.of("presence.snapshot", "presence.joined", "presence.joined", "presence.joined", "presence.left"),
        types(w), "'stays' never left and never joined twice");
  }

  @Test
  void eventsTheFeedCannotUseGetANonFatalErrorAndTheFeedGoesOn() {
    Gateway gw = new Gateway("gw-bad");
    gw.out.onNext(Event.of("guest.link.renamed", Map.of("x", 1)).withId("e-1"));
    gw.out.onNext(Event.of("guest.link.opened", Map.of("gateway", "gw-bad", "guest", "g")).withId("e-2"));
    gw.out.onNext(Event.of("guest.link.opened").withId("e-3"));
    gw.answers.awaitItems(4, Duration.ofSeconds(10));
    List<Event> errors = gw.answers.getItems().subList(1, 4);
    assertEquals(List.of("unknown_type", "bad_event", "bad_event"), errors.stream().map(Event::errorReason).toList());
    assertEquals(List.of("e-1", "e-2", "e-3"), errors.stream().map(e -> e.data().tree().get("event").asText()).toList());
    assertTrue(errors.stream().noneMatch(e -> e.data().tree().get("fatal").asBoolean()));

    AssertSubscriber<Event> w = watch("pe", null, Long.MAX_VALUE);
    gw.opened("g-ok", "l", "pe");
    gw.opened("g-no-board", "l", "board", null); // the board service refuses it: views nothing
    awaitState(w, Map.of(h("g-ok"), 1));
  }

  @Test
  void aMissingOrInvalidBoardIsAFatalLinkError() {
    for (LinkRequest r : List.of(LinkRequest.to("presence-read", "presence"),
        LinkRequest.to("presence-read", "presence").param("board", "Bad Board"))) {
      AssertSubscriber<Event> s = client.open(r, Multi.createFrom().nothing()).subscribe()
          .withSubscriber(AssertSubscriber.create(10));
      s.awaitCompletion(Duration.ofSeconds(10));
      Event last = s.getItems().get(s.getItems().size() - 1);
      assertEquals("bad_param", last.errorReason(), String.valueOf(s.getItems()));
      assertTrue(last.data().tree().get("fatal").asBoolean());
    }
  }

  @Test
  void aWatcherThatReadsLateGetsTheDifferenceNotTheHistory() {
    AssertSubscriber<Event> slow = watch("pf", null, 2); // link.ready and the snapshot, then nothing
    AssertSubscriber<Event> fast = watch("pf", null, Long.MAX_VALUE);
    awaitState(slow, Map.of());
    Gateway gw = new Gateway("gw-churn");
    for (int i = 0; i < 300; i++) {
      gw.opened("churn-" + i, "l", "pf");
      if (i % 3 != 0) {
        gw.closed("churn-" + i, "l", "pf");
      }
    }
    Map<String, Integer> expected = new TreeMap<>();
    for (int i = 0; i < 300; i += 3) {
      expected.put(h("churn-" + i), 1);
    }
    awaitState(fast, expected);
    slow.request(Long.MAX_VALUE);
    awaitState(slow, expected);
    // A few changes may already be in flight (the link's buffers hold what the network took
    // before the reader stopped), but not the 500 joins and leaves of the churn.
    assertTrue(slow.getItems().size() <= 2 + expected.size() + 20,
        "about one joined per viewer there now, not the history of those who came and went: " + types(slow).size());
  }

  @Test
  void theEntryLimitIsEnforcedWithANonFatalErrorAndFreedWhenTheFeedEnds() {
    Gateway gw = new Gateway("gw-full");
    for (int i = 0; i < 1001; i++) { // test limit: 1000
      gw.opened("many-" + i, "l", "pg");
    }
    Event error = PresenceTestEvents.awaitError(gw.answers);
    assertEquals("too_many_entries", error.errorReason());
    gw.answers.cancel();
    AssertSubscriber<Event> w = watch("pg", null, Long.MAX_VALUE);
    awaitState(w, Map.of());
    Gateway again = new Gateway("gw-full-2");
    again.opened("one-more", "l", "pg");
    awaitState(w, Map.of(h("one-more"), 1));
  }

  @Test
  void metricsCountEntriesBoardsViewersFeedsAndWatchers() {
    Gateway gw = new Gateway("gw-metrics");
    gw.opened("m-1", "l1", "ph");
    gw.opened("m-1", "l2", "ph");
    AssertSubscriber<Event> w = watch("ph", null, Long.MAX_VALUE);
    awaitState(w, Map.of(h("m-1"), 2));
    String metrics = io.restassured.RestAssured.given().get("/q/metrics").then().statusCode(200).extract().asString();
    for (String name : List.of("presence_entries", "presence_boards", "presence_viewers", "presence_feeds",
        "presence_watchers")) {
      assertTrue(metrics.lines().anyMatch(l -> l.startsWith(name + " ") || l.startsWith(name + "{")), name + " in " + metrics);
    }
    assertTrue(metrics.lines().anyMatch(l -> l.startsWith("presence_entries") && !l.endsWith(" 0.0")),
        "entries counted");
  }
}
