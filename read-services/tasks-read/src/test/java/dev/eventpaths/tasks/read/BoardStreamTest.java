package dev.eventpaths.tasks.read;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.eventpaths.Event;
import dev.eventpaths.internal.LinkClient;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import io.vertx.core.Vertx;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The board service as guests see it, over real HTTP/2 links, fed by the scripted log. */
@QuarkusTest
@WithTestResource(SelfTarget.class)
class BoardStreamTest {
  @Inject Vertx vertx;
  @Inject Boards boards;

  /** Waits until the app has applied the log up to {@code seq}. */
  void applied(long seq) {
    long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
    while (boards.lastApplied() < seq) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("log not applied up to " + seq + "; at " + boards.lastApplied());
      }
      Guests.sleep(5);
    }
  }

  @Test
  void aGuestGetsASnapshotThenTheBoardsLiveChangesOnly() {
    ScriptedLog.add("live", "a", "Alpha", null);
    Event b = ScriptedLog.add("live", "b", "Beta", "a");
    applied(b.seq());
    try (LinkClient client = Guests.client(vertx)) {
      AssertSubscriber<Event> guest = Guests.open(client, Guests.board("live"), Long.MAX_VALUE);
      Event snapshot = Guests.await(guest, e -> e.type().equals("board.snapshot"));
      assertEquals(Event.LINK_READY, guest.getItems().get(0).type());
      assertEquals(List.of("b", "a"), Guests.taskIds(snapshot));
      assertTrue(snapshot.seq() >= b.seq(), "the snapshot is as of the log position it reflects");
      JsonNode data = snapshot.data().tree();
      assertEquals("live", data.get("board").asText());
      assertTrue(data.get("complete").asBoolean());
      assertEquals("{\"task\":\"b\",\"title\":\"Beta\",\"done\":false}", data.get("tasks").get(0).toString());

      ScriptedLog.add("another-board", "x", "X", null);
      Event done = ScriptedLog.append("task.completed", "live", "a", Map.of());
      Event moved = ScriptedLog.append("task.moved", "live", "a", Map.of("before", "b"));
      Guests.awaitSeq(guest, moved.seq());
      List<Event> payload = Guests.payload(guest);
      assertEquals(List.of("board.snapshot", "task.completed", "task.moved"), payload.stream().map(Event::type).toList(),
          "only this board's changes, after the snapshot");
      assertEquals(done.seq(), payload.get(1).seq());
      assertEquals(done.id(), payload.get(1).id(), "the change keeps the command id, for the writer's guest");
      assertEquals(done.data(), payload.get(1).data(), "changes are passed on as the log wrote them");
      assertEquals(List.of("a", "b"), boards.tasks("live").stream().map(BoardProjection.Task::task).toList());
      guest.cancel();
    }
  }

  @Test
  void aGuestResumingWithAfterGetsOnlyTheChangesItMissed() {
    ScriptedLog.add("resume", "a", "A", null);
    Event second = ScriptedLog.add("resume", "b", "B", null);
    applied(second.seq());
    try (LinkClient client = Guests.client(vertx)) {
      AssertSubscriber<Event> first = Guests.open(client, Guests.board("resume"), Long.MAX_VALUE);
      long seen = Guests.await(first, e -> e.type().equals("board.snapshot")).seq();
      first.cancel(); // the guest goes away (its service worker was stopped, say)

      List<Event> missed = new ArrayList<>();
      missed.add(ScriptedLog.append("task.renamed", "resume", "a", Map.of("title", "A2")));
      ScriptedLog.add("resume-elsewhere", "z", "Z", null);
      missed.add(ScriptedLog.add("resume", "c", "C", "a"));
      applied(missed.get(1).seq());

      AssertSubscriber<Event> again = Guests.open(client, Guests.board("resume").after(seen), Long.MAX_VALUE);
      Guests.awaitSeq(again, missed.get(1).seq());
      Event live = ScriptedLog.append("task.removed", "resume", "b", Map.of());
      Guests.awaitSeq(again, live.seq());
      missed.add(live);
      assertEquals(missed.stream().map(Event::seq).toList(), Guests.payload(again).stream().map(Event::seq).toList(),
          "no snapshot, no duplicates: exactly the changes after " + seen);

      // Resuming from a position inside the board's history (here: after its first change).
      AssertSubscriber<Event> older = Guests.open(client, Guests.board("resume").after(second.seq() - 1), Long.MAX_VALUE);
      Guests.awaitSeq(older, live.seq());
      assertEquals(List.of(second.seq(), missed.get(0).seq(), missed.get(1).seq(), live.seq()),
          Guests.payload(older).stream().map(Event::seq).toList());
      again.cancel();
      older.cancel();
    }
  }

  @Test
  void aGuestWhoseAfterIsNoLongerInTheHistoryOrNotYetKnownGetsASnapshot() {
    Event first = ScriptedLog.add("old", "t", "v0", null);
    Event last = first;
    for (int i = 1; i <= 150; i++) { // the test history holds 100 changes per board
      last = ScriptedLog.append("task.renamed", "old", "t", Map.of("title", "v" + i));
    }
    applied(last.seq());
    try (LinkClient client = Guests.client(vertx)) {
      AssertSubscriber<Event> tooOld = Guests.open(client, Guests.board("old").after(first.seq()), Long.MAX_VALUE);
      Event snapshot = Guests.await(tooOld, e -> !e.isControl());
      assertEquals("board.snapshot", snapshot.type());
      assertEquals("v150", snapshot.data().tree().get("tasks").get(0).get("title").asText());
      assertTrue(snapshot.seq() >= last.seq());

      AssertSubscriber<Event> ahead = Guests.open(client, Guests.board("old").after(last.seq() + 1_000_000), Long.MAX_VALUE);
      assertEquals("board.snapshot", Guests.await(ahead, e -> !e.isControl()).type(),
          "a position this service never reached (a reset log, an instance ahead) gets a snapshot");

      AssertSubscriber<Event> garbled = Guests.open(client, Guests.board("old").param("after", "yesterday"), Long.MAX_VALUE);
      assertEquals("board.snapshot", Guests.await(garbled, e -> !e.isControl()).type());
      tooOld.cancel();
      ahead.cancel();
      garbled.cancel();
    }
  }

  @Test
  void aMissingOrInvalidBoardIsAFatalLinkError() {
    try (LinkClient client = Guests.client(vertx)) {
      for (var request : List.of(dev.eventpaths.LinkRequest.to("tasks-read", "board"),
          Guests.board("Not_A_Board!"), Guests.board("x".repeat(65)), Guests.board(""))) {
        AssertSubscriber<Event> s = Guests.open(client, request, Long.MAX_VALUE);
        s.awaitCompletion(Duration.ofSeconds(10));
        Event error = s.getItems().get(s.getItems().size() - 1);
        assertEquals(Event.LINK_ERROR, error.type(), request.params() + ": " + s.getItems());
        assertEquals("bad_param", error.errorReason());
        assertTrue(error.data().tree().get("fatal").asBoolean());
        assertTrue(error.data().tree().get("message").asText().contains("board"));
      }
    }
  }

  @Test
  void aBoardTooBigForOneEventArrivesInPartsThatEachFitTheLink() {
    Event last = null;
    for (int i = 0; i < 300; i++) {
      last = ScriptedLog.add("big", "t" + i, "w".repeat(400) + i, null);
    }
    applied(last.seq());
    try (LinkClient client = Guests.client(vertx)) {
      AssertSubscriber<Event> guest = Guests.open(client, Guests.board("big"), Long.MAX_VALUE);
      Guests.await(guest, e -> e.data() != null && e.data().tree().path("complete").asBoolean(false));
      List<Event> parts = Guests.payload(guest);
      assertTrue(parts.size() >= 4, "about 120 KB in parts of at most 32 KiB: " + parts.size());
      List<String> ids = new ArrayList<>();
      for (Event p : parts) {
        p.data().tree().get("tasks").forEach(t -> ids.add(t.get("task").asText()));
      }
      assertEquals(300, ids.size());
      assertEquals("t0", ids.get(0));
      assertEquals("t299", ids.get(299));
      guest.cancel();
    }
  }

  @Test
  void readinessAndMetricsReportTheFollower() {
    given().get("/q/health/ready").then().statusCode(200).body("checks.find { it.name == 'tasks-log' }.data.caughtUp",
        equalTo(true));
    given().get("/q/metrics").then().statusCode(200)
        .body(containsString("tasks_read_boards"), containsString("tasks_read_followers"),
            containsString("tasks_read_log_seq"), containsString("tasks_read_log_lag_seconds"),
            containsString("tasks_read_log_connected"));
  }
}
