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
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The link to the log ends (cleanly or with a failure): tasks-read opens another after the last
 * position it applied, applies every change once, and its guests notice nothing but a pause.
 */
@QuarkusTest
@WithTestResource(SelfTarget.class)
class LogFollowingTest {
  @Inject Vertx vertx;
  @Inject Boards boards;
  @Inject LogFollower follower;
  @Inject MeterRegistry registry;

  @AfterEach
  void reset() {
    ScriptedLog.repeat = 0;
  }

  void applied(long seq) {
    long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
    while (boards.lastApplied() < seq) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("log not applied up to " + seq + "; at " + boards.lastApplied());
      }
      Guests.sleep(5);
    }
  }

  /** Waits for a link to the log opened after {@code count} earlier ones; returns its after. */
  long reconnected(int count) {
    long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
    while (ScriptedLog.CONNECTS.size() <= count) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("tasks-read did not reconnect to the log");
      }
      Guests.sleep(5);
    }
    return ScriptedLog.CONNECTS.get(count);
  }

  @ParameterizedTest(name = "log link {0}")
  @ValueSource(strings = {"completes", "fails"})
  void whenTheLogLinkEndsItReconnectsAfterTheLastAppliedSeqAndGuestsMissNothing(String how) {
    String board = "follow-" + how;
    List<Long> written = new ArrayList<>();
    written.add(ScriptedLog.add(board, "a", "A", null).seq());
    applied(written.get(0));
    try (LinkClient client = Guests.client(vertx)) {
      AssertSubscriber<Event> guest = Guests.open(client, Guests.board(board), Long.MAX_VALUE);
      Guests.await(guest, e -> e.type().equals("board.snapshot"));
      written.add(ScriptedLog.add(board, "b", "B", "a").seq());
      Guests.awaitSeq(guest, written.get(1));
      double reconnects = registry.get("tasks.read.log.reconnects").counter().count();

      int links = ScriptedLog.CONNECTS.size();
      long before = boards.lastApplied();
      ScriptedLog.dropLinks(how.equals("fails"));
      long after = reconnected(links);
      assertEquals(before, after, "the new link asks for what follows the last applied change");
      assertTrue(registry.get("tasks.read.log.reconnects").counter().count() > reconnects);

      written.add(ScriptedLog.append("task.moved", board, "a", Map.of("before", "b")).seq());
      written.add(ScriptedLog.append("task.renamed", board, "b", Map.of("title", "Bee")).seq());
      Guests.awaitSeq(guest, written.get(3));
      List<Long> seen = Guests.payload(guest).stream().filter(e -> e.type().startsWith("task.")).map(Event::seq).toList();
      assertEquals(written.subList(1, 4), seen, "the guest's link lived through it and got each change once");
      assertEquals(List.of(new BoardProjection.Task("a", "A", false), new BoardProjection.Task("b", "Bee", false)),
          boards.tasks(board), "a moved before b, b renamed");
      guest.cancel();
    }
  }

  @Test
  void changesTheLogRepeatsAfterAReconnectAreNotAppliedTwice() {
    String board = "repeats";
    Event a = ScriptedLog.add(board, "a", "A", null);
    Event b = ScriptedLog.add(board, "b", "B", null);
    Event moved = ScriptedLog.append("task.moved", board, "a", java.util.Collections.singletonMap("before", null));
    applied(moved.seq());
    try (LinkClient client = Guests.client(vertx)) {
      AssertSubscriber<Event> guest = Guests.open(client, Guests.board(board).after(a.seq()), Long.MAX_VALUE);
      Guests.awaitSeq(guest, moved.seq());
      double duplicates = registry.get("tasks.read.log.duplicates").counter().count();

      ScriptedLog.repeat = 3; // the next link replays the three changes before `after`
      int links = ScriptedLog.CONNECTS.size();
      ScriptedLog.dropLinks(true);
      reconnected(links);
      Event removed = ScriptedLog.append("task.removed", board, "b", Map.of());
      Guests.awaitSeq(guest, removed.seq());

      assertTrue(registry.get("tasks.read.log.duplicates").counter().count() >= duplicates + 3,
          "the repeated changes were seen and ignored");
      assertEquals(List.of(b.seq(), moved.seq(), removed.seq()),
          Guests.payload(guest).stream().map(Event::seq).toList(), "guests get no repeats");
      assertEquals(List.of(new BoardProjection.Task("a", "A", false)), boards.tasks(board));
      guest.cancel();
    }
  }

  @Test
  void aLogThatKeepsFailingIsRetriedWithACappedJitteredBackoff() {
    // test config: reconnect.initial=50ms, reconnect.max=500ms
    Event last = ScriptedLog.add("backoff", "a", "A", null);
    applied(last.seq());
    int links = ScriptedLog.CONNECTS.size();
    ScriptedLog.FAIL_AT_ONCE.set(6); // the next six links fail before sending anything
    ScriptedLog.dropLinks(true);
    reconnected(links + 6); // the seventh works
    List<Long> at = ScriptedLog.CONNECT_NANOS.subList(links, links + 7);
    long[] ceilings = {100, 200, 400, 500, 500, 500}; // doubling from 50 ms, capped at 500 ms
    for (int i = 0; i < ceilings.length; i++) {
      long gapMs = (at.get(i + 1) - at.get(i)) / 1_000_000;
      assertTrue(gapMs >= ceilings[i] / 2 - 5 && gapMs <= ceilings[i] + 400,
          "attempt " + (i + 2) + " waited " + gapMs + " ms; expected " + ceilings[i] / 2 + "-" + ceilings[i]);
    }
    Event next = ScriptedLog.append("task.renamed", "backoff", "a", Map.of("title", "A2"));
    applied(next.seq());
    assertTrue(follower.connected());
  }
}
