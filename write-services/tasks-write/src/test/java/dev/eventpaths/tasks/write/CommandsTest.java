package dev.eventpaths.tasks.write;

import static dev.eventpaths.tasks.write.Peers.command;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.eventpaths.Event;
import dev.eventpaths.LinkRequest;
import dev.eventpaths.internal.LinkClient;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.test.junit.QuarkusTest;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import io.smallrye.mutiny.operators.multi.processors.UnicastProcessor;
import io.vertx.core.Vertx;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

@QuarkusTest
class CommandsTest {
  @Inject Vertx vertx;
  @Inject MeterRegistry registry;
  @Inject CommandLog log;
  LinkClient client;
  String board;

  @BeforeEach
  void open() {
    client = Peers.client(vertx, Peers.testUrl(), Peers.SECRET);
    board = "b-" + UUID.randomUUID().toString().substring(0, 8);
  }

  @AfterEach
  void close() {
    client.close();
  }

  /** Sends commands on one link and returns the answers, by command id. */
  Map<String, Event> send(List<Event> commands) {
    AssertSubscriber<Event> answers = client.open(LinkRequest.to("tasks", "tasks-write"),
        Multi.createFrom().iterable(commands).onCompletion().call(() ->
            io.smallrye.mutiny.Uni.createFrom().nullItem().onItem().delayIt().by(Duration.ofMillis(100))))
        .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
    answers.awaitItems(commands.size() + 1, Duration.ofSeconds(30));
    Map<String, Event> byId = new HashMap<>();
    for (Event e : answers.getItems()) {
      if (!e.isControl()) {
        byId.put(e.id(), e);
      }
    }
    answers.cancel();
    return byId;
  }

  List<Event> logOf(String board, long after) {
    long head = log.head();
    AssertSubscriber<Event> s = client.open(LinkRequest.to("tasks", "log").after(after), Multi.createFrom().nothing())
        .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
    s.awaitItems((int) (head - after) + 2, Duration.ofSeconds(20)); // + link.ready and log.live
    s.cancel();
    return s.getItems().stream().filter(e -> e.type().startsWith("task.") && board.equals(e.data().tree().get("board").asText()))
        .toList();
  }

  @Test
  void everyCommandIsAcknowledgedWithItsLogPositionAndTheLogHasTheChange() {
    var answers = send(List.of(
        command("task.add", "c1", board, "t1", "title", "Buy milk"),
        command("task.add", "c2", board, "t2", "title", "Walk dog", "before", "t1"),
        command("task.rename", "c3", board, "t1", "title", "Buy oat milk"),
        command("task.complete", "c4", board, "t2"),
        command("task.move", "c5", board, "t2", "before", null),
        command("task.reopen", "c6", board, "t2"),
        command("task.remove", "c7", board, "t1")));
    long lastSeq = 0;
    for (int i = 1; i <= 7; i++) {
      Event a = answers.get("c" + i);
      assertEquals("ack", a.type(), a.toString());
      long seq = a.data().tree().get("seq").asLong();
      assertTrue(seq > lastSeq, "log order follows command order on one link");
      lastSeq = seq;
    }
    List<Event> changes = logOf(board, 0);
    assertEquals(List.of("task.added", "task.added", "task.renamed", "task.completed", "task.moved", "task.reopened",
        "task.removed"), changes.stream().map(Event::type).toList());
    assertEquals("Buy oat milk", changes.get(2).data().tree().get("title").asText());
    assertEquals("t1", changes.get(1).data().tree().get("before").asText());
    assertEquals("c3", changes.get(2).id(), "each change names its command");
  }

  @Test
  void aRetriedCommandIsAppliedOnceAndGetsTheSameAck() {
    Event add = command("task.add", "once-" + board, board, "t1", "title", "Only once");
    long first = send(List.of(add)).get(add.id()).data().tree().get("seq").asLong();
    var again = send(List.of(add, add));
    assertEquals(first, again.get(add.id()).data().tree().get("seq").asLong());
    assertEquals(1, logOf(board, 0).size(), "applied once");
  }

  @Test
  void badCommandsAreRejectedWithAReasonAndNothingElseBreaks() {
    var answers = send(List.of(
        new Event("task.explode", "r1", 0, dev.eventpaths.Json.of(Map.of("board", board, "task", "t"))),
        new Event("task.add", "r2", 0, dev.eventpaths.Json.of(Map.of("board", board))),
        command("task.rename", "r3", board, "ghost", "title", "x"),
        command("task.add", "r4", board, "t1", "title", "x".repeat(501)),
        command("task.add", "r5", "Bad Board!", "t1", "title", "x"),
        command("task.add", "ok1", board, "t1", "title", "fine"),
        command("task.add", "r6", board, "t1", "title", "again"),
        command("task.move", "r7", board, "t1", "before", "t1")));
    Map<String, String> expected = Map.of("r1", "unknown_command", "r2", "missing_field", "r3", "no_such_task",
        "r4", "bad_title", "r5", "bad_board", "r6", "task_exists", "r7", "bad_task_id");
    expected.forEach((id, reason) -> {
      Event e = answers.get(id);
      assertEquals("command.rejected", e.type(), e.toString());
      assertEquals(reason, e.data().tree().get("reason").asText(), e.toString());
      assertEquals(id, e.data().tree().get("ack").asText(), "a rejection settles the command");
      assertTrue(e.data().tree().get("message").asText().length() > 5);
    });
    assertEquals("ack", answers.get("ok1").type(), "good commands between bad ones are applied");
    assertEquals(1, logOf(board, 0).size());
  }

  @Test
  void underLoadManyCommandsShareACommitAndAllAreAcknowledged() {
    double commitsBefore = registry.get("tasks.commits").counter().count();
    int links = 10;
    int perLink = 500;
    List<AssertSubscriber<Event>> subs = new ArrayList<>();
    for (int l = 0; l < links; l++) {
      List<Event> cmds = new ArrayList<>();
      for (int i = 0; i < perLink; i++) {
        cmds.add(command("task.add", board + "-" + l + "-" + i, board, "t" + l + "x" + i, "title", "task " + i));
      }
      subs.add(client.open(LinkRequest.to("tasks", "tasks-write"), Multi.createFrom().iterable(cmds)
              .onCompletion().call(() -> io.smallrye.mutiny.Uni.createFrom().nullItem().onItem().delayIt().by(Duration.ofSeconds(5))))
          .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE)));
    }
    for (var s : subs) {
      s.awaitItems(perLink + 1, Duration.ofSeconds(60));
      assertTrue(s.getItems().stream().skip(1).allMatch(e -> e.type().equals("ack")));
      s.cancel();
    }
    double commits = registry.get("tasks.commits").counter().count() - commitsBefore;
    assertTrue(commits < links * perLink / 4.0, "group commit: " + commits + " commits for " + links * perLink + " commands");
    assertEquals(links * perLink, logOf(board, 0).size());
  }

  @Test
  void theLogServesCatchUpThenLive() {
    send(List.of(command("task.add", "l1-" + board, board, "t1", "title", "one")));
    long head = log.head();
    AssertSubscriber<Event> follower = client.open(LinkRequest.to("tasks", "log").after(head - 1), Multi.createFrom().nothing())
        .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
    follower.awaitItems(3, Duration.ofSeconds(10));
    assertEquals(head, follower.getItems().get(1).seq(), "catch-up from after=");
    assertEquals("log.live", follower.getItems().get(2).type(), "the end of the catch-up is marked");
    send(List.of(command("task.add", "l2-" + board, board, "t2", "title", "two")));
    follower.awaitItems(4, Duration.ofSeconds(10));
    assertEquals("t2", follower.getItems().get(3).data().tree().get("task").asText(), "then live");
    follower.cancel();
  }
}
