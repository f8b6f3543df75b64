package dev.eventpaths.tasks.write;

import static dev.eventpaths.tasks.write.Peers.command;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.eventpaths.Event;
import dev.eventpaths.LinkRequest;
import dev.eventpaths.internal.LinkClient;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.quarkus.test.junit.QuarkusMock;
import io.quarkus.test.junit.QuarkusTest;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import io.vertx.core.Vertx;
import jakarta.inject.Inject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A command whose processing throws (a bug met by that one command) is rejected once, with a
 * ref and nothing of the exception; the link stays up and the commands behind it are applied.
 * (It used to fail the whole link: the guest reopened it and sent the same command again, for
 * ever, with its other writes stuck behind it.)
 */
@QuarkusTest
class FailingCommandTest {
  static final String SECRET_DETAIL = "/var/lib/tasks/secret.db is on fire";

  @Inject Vertx vertx;
  LinkClient client;
  CommandLog poisoned;
  String board;
  final List<LogRecord> logged = new CopyOnWriteArrayList<>();
  final Handler capture = new Handler() {
    @Override
    public void publish(LogRecord r) {
      logged.add(r);
    }

    @Override
    public void flush() {}

    @Override
    public void close() {}
  };

  /**
   * The real command log on a store of its own, whose validation throws on a poisoned
   * command. Not a bean (it would inherit CommandLog's scope): the test makes and starts it.
   */
  @jakarta.enterprise.inject.Vetoed
  static final class PoisonedLog extends CommandLog {
    @Override
    Change decideOne(Event command, long now) throws Rejection {
      if (command.data() != null && command.data().tree().has("poison")) {
        throw new IllegalStateException(SECRET_DETAIL);
      }
      return super.decideOne(command, now);
    }
  }

  @BeforeEach
  void open() throws Exception {
    Path dir = Files.createTempDirectory("tasks-poisoned-");
    poisoned = new PoisonedLog();
    poisoned.config = new TasksConfig() {
      @Override
      public String store() {
        return "sqlite";
      }

      @Override
      public Postgres postgres() {
        return Optional::empty;
      }

      @Override
      public String dataDir() {
        return dir.toString();
      }

      @Override
      public int queue() {
        return 1024;
      }

      @Override
      public int maxBatch() {
        return 64;
      }
    };
    poisoned.registry = new SimpleMeterRegistry();
    poisoned.start(null);
    QuarkusMock.installMockForType(poisoned, CommandLog.class);
    Logger.getLogger(CommandLog.class.getName()).addHandler(capture);
    client = Peers.client(vertx, Peers.testUrl(), Peers.SECRET);
    board = "b-" + UUID.randomUUID().toString().substring(0, 8);
  }

  @AfterEach
  void close() throws Exception {
    client.close();
    Logger.getLogger(CommandLog.class.getName()).removeHandler(capture);
    poisoned.stop(null);
  }

  @Test
  void aCommandWhoseProcessingFailsIsRejectedOnceAndTheCommandsBehindItAreApplied() throws Exception {
    List<Event> commands = List.of(
        command("task.add", "p1", board, "t1", "title", "before"),
        command("task.add", "p2", board, "t2", "title", "poisoned", "poison", true),
        command("task.add", "p3", board, "t3", "title", "after"),
        command("task.rename", "p4", board, "t1", "title", "renamed after"));
    AssertSubscriber<Event> answers = client.open(LinkRequest.to("tasks", "tasks-write"),
        Multi.createFrom().iterable(commands).onCompletion().call(() ->
            io.smallrye.mutiny.Uni.createFrom().nullItem().onItem().delayIt().by(Duration.ofMillis(300))))
        .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
    answers.awaitItems(commands.size() + 1, Duration.ofSeconds(20)); // link.ready and one answer each
    Thread.sleep(200);
    List<Event> got = answers.getItems();
    assertTrue(got.stream().noneMatch(e -> e.type().equals(Event.LINK_ERROR)), "the link did not fail: " + got);
    assertEquals(commands.size() + 1, got.size(), "one answer per command, the poisoned one once: " + got);
    Event rejected = got.stream().filter(e -> "p2".equals(e.id())).findFirst().orElseThrow();
    assertEquals("command.rejected", rejected.type(), rejected.toString());
    var d = rejected.data().tree();
    assertEquals("failed", d.get("reason").asText());
    assertEquals("p2", d.get("ack").asText(), "the rejection settles the command");
    String ref = d.get("ref").asText();
    assertTrue(ref.matches("[0-9a-f]{12}") && d.get("message").asText().contains(ref), rejected.toString());
    assertFalse(rejected.toString().contains("fire") || rejected.toString().contains("Exception"), "no internals: " + rejected);
    for (String id : List.of("p1", "p3", "p4")) {
      Event a = got.stream().filter(e -> id.equals(e.id())).findFirst().orElseThrow();
      assertEquals("ack", a.type(), "the commands around it are applied: " + a);
    }
    answers.cancel();

    LogRecord line = logged.stream().filter(r -> r.getMessage() != null && r.getMessage().contains(ref)).findFirst()
        .orElseThrow(() -> new AssertionError("no log line with ref " + ref));
    assertNotNull(line.getThrown(), "with the stack trace");
    assertEquals(SECRET_DETAIL, line.getThrown().getMessage());
    assertTrue(line.getMessage().contains("\"p2\"") && line.getMessage().contains("service tasks-write"), line.getMessage());
  }
}
