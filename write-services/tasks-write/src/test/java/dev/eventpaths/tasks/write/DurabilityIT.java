package dev.eventpaths.tasks.write;

import static dev.eventpaths.tasks.write.Peers.command;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.eventpaths.Event;
import dev.eventpaths.LinkRequest;
import dev.eventpaths.internal.LinkClient;
import dev.eventpaths.testing.AppProcess;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import io.vertx.core.Vertx;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The packaged app killed with SIGKILL right after acknowledging: nothing acknowledged is lost. */
class DurabilityIT {
  static final Path JAR = Path.of("target/quarkus-app/quarkus-run.jar");

  @Test
  void everyAcknowledgedCommandSurvivesAKillAndIsNotAppliedAgain() throws Exception {
    Path data = Files.createTempDirectory("tasks-it-");
    String secret = "it-secret-" + System.nanoTime();
    Vertx vertx = Vertx.vertx();
    int port = AppProcess.freePort();
    Map<String, String> env = Map.of("EVENTPATHS_LINK_SECRET", secret, "TASKS_DATA_DIR", data.toString());
    try (AppProcess app = AppProcess.start(JAR, port, env)) {
      Map<String, Long> acked = new HashMap<>();
      List<Event> cmds = new ArrayList<>();
      for (int i = 0; i < 2_000; i++) {
        cmds.add(command("task.add", "d-" + i, "durable", "t" + i, "title", "task " + i));
      }
      try (LinkClient client = Peers.client(vertx, app.url(), secret)) {
        AssertSubscriber<Event> answers = client.open(LinkRequest.to("tasks", "tasks-write"),
            Multi.createFrom().iterable(cmds).onCompletion().call(() -> io.smallrye.mutiny.Uni.createFrom().nothing()))
            .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
        answers.awaitItems(2_001, Duration.ofSeconds(60));
        for (Event e : answers.getItems()) {
          if (e.type().equals("ack")) {
            acked.put(e.id(), e.data().tree().get("seq").asLong());
          }
        }
        app.kill(); // SIGKILL: no shutdown hook, no final flush
      }
      assertEquals(2_000, acked.size());
      app.restart();
      try (LinkClient client = Peers.client(vertx, app.url(), secret)) {
        AssertSubscriber<Event> log = client.open(LinkRequest.to("tasks", "log"), Multi.createFrom().nothing())
            .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
        log.awaitItems(2_002, Duration.ofSeconds(30));
        Map<String, Long> inLog = new HashMap<>();
        log.getItems().stream().filter(e -> e.type().startsWith("task.")).forEach(e -> inLog.put(e.id(), e.seq()));
        assertEquals(acked, inLog, "every acknowledged command is in the log, at its acknowledged position");
        log.cancel();
        // Retrying after the restart is answered with the same position, not applied again.
        AssertSubscriber<Event> retry = client.open(LinkRequest.to("tasks", "tasks-write"),
            Multi.createFrom().item(cmds.get(7)).onCompletion().call(() -> io.smallrye.mutiny.Uni.createFrom().nothing()))
            .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
        retry.awaitItems(2, Duration.ofSeconds(10));
        assertEquals(acked.get("d-7"), retry.getItems().get(1).data().tree().get("seq").asLong());
        retry.cancel();
      }
    } finally {
      vertx.close();
    }
  }
}
