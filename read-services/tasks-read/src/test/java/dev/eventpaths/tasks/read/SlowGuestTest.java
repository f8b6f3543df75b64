package dev.eventpaths.tasks.read;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.eventpaths.Event;
import dev.eventpaths.internal.LinkClient;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import io.vertx.core.Vertx;
import jakarta.inject.Inject;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A guest that stops reading holds back nobody, costs a position rather than a queue, and gets
 * a fresh snapshot when it reads again after the history has moved past it.
 */
@QuarkusTest
@WithTestResource(SelfTarget.class)
class SlowGuestTest {
  static final int CHANGES = 3_000;
  static final int ROUND = 50; // below the test history (100): a guest that reads keeps up

  @Inject Vertx vertx;
  @Inject MeterRegistry registry;

  @Test
  void aStalledGuestDoesNotHoldBackOthersAndGetsASnapshotWhenItReadsAgain() {
    // Two connections, as two gateway instances (or two browsers) would have. Over one shared
    // connection a stalled link still holds the others back: a known limit, core/README.md.
    try (LinkClient client = Guests.client(vertx); LinkClient other = Guests.client(vertx)) {
      run(client, other);
    }
  }

  private void run(LinkClient forFast, LinkClient forStalled) {
    String board = "slow-" + System.nanoTime();
    Event start = ScriptedLog.add(board, "t", "start", null);
    AssertSubscriber<Event> fast = Guests.open(forFast, Guests.board(board), Long.MAX_VALUE);
    AssertSubscriber<Event> stalled = Guests.open(forStalled, Guests.board(board), 2); // link.ready, snapshot
    Event firstSnapshot = Guests.await(stalled, e -> e.type().equals("board.snapshot"));
    Guests.await(fast, e -> e.type().equals("board.snapshot"));
    assertTrue(firstSnapshot.seq() >= start.seq());
    double behindBefore = behindSnapshots();

    List<Long> written = new ArrayList<>();
    String pad = "p".repeat(200);
    for (int i = 1; i <= CHANGES; i++) {
      written.add(ScriptedLog.append("task.renamed", board, "t", Map.of("title", pad + i)).seq());
      if (i % ROUND == 0) {
        Guests.awaitSeq(fast, written.get(i - 1));
      }
    }
    // The start change may reach a guest as a change (not in its snapshot) if tasks-read had
    // not applied it yet when the guest came: count only what this test wrote after it.
    List<Long> fastSeqs = Guests.payload(fast).stream().filter(e -> e.type().startsWith("task.") && e.seq() > start.seq())
        .map(Event::seq).toList();
    assertEquals(written, fastSeqs, "the reading guest got every change once, in order, while the other read nothing");
    assertEquals(2, stalled.getItems().size(), "the stalled guest read nothing more");

    stalled.request(Long.MAX_VALUE);
    Event resnapshot = Guests.await(stalled, e -> e.type().equals("board.snapshot") && e != firstSnapshot);
    List<Event> got = Guests.payload(stalled);
    int at = got.indexOf(resnapshot);
    List<Long> inFlight = got.subList(1, at).stream().filter(e -> e.seq() > start.seq()).map(Event::seq).toList();
    assertTrue(inFlight.size() < CHANGES / 2,
        "only what the network held was produced for the stalled guest: " + inFlight.size());
    assertEquals(written.subList(0, inFlight.size()), inFlight, "what it got before falling behind is gapless");
    assertTrue(resnapshot.seq() >= written.get(CHANGES - 1));
    assertEquals(pad + CHANGES, resnapshot.data().tree().get("tasks").get(0).get("title").asText(),
        "the new snapshot is the board now");
    assertTrue(behindSnapshots() > behindBefore, "counted as a snapshot for falling behind");

    Event after = ScriptedLog.append("task.completed", board, "t", Map.of());
    Guests.awaitSeq(stalled, after.seq());
    Guests.awaitSeq(fast, after.seq());
    fast.cancel();
    stalled.cancel();
  }

  double behindSnapshots() {
    var c = registry.find("tasks.read.snapshots").tag("cause", "behind").counter();
    return c == null ? 0 : c.count();
  }
}
