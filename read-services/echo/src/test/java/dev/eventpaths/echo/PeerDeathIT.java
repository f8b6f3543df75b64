package dev.eventpaths.echo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.eventpaths.Event;
import dev.eventpaths.LinkRequest;
import dev.eventpaths.internal.LinkClient;
import dev.eventpaths.internal.LinkMetrics;
import dev.eventpaths.testing.AppProcess;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import io.smallrye.mutiny.operators.multi.processors.UnicastProcessor;
import io.vertx.core.Vertx;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Against the packaged app in its own process: a server that dies, or freezes without closing
 * its connections, is noticed within a bounded time and reported as a {@code link.error}.
 */
class PeerDeathIT {
  static final java.nio.file.Path JAR = java.nio.file.Path.of("target/quarkus-app/quarkus-run.jar");
  static final String SECRET = "it-" + java.util.UUID.randomUUID();
  static Vertx vertx;

  @BeforeAll
  static void start() {
    vertx = Vertx.vertx();
  }

  @AfterAll
  static void stop() {
    vertx.close();
  }

  @Test
  void aKilledServerIsALinkErrorWithinSeconds() throws Exception {
    try (AppProcess echo = AppProcess.start(JAR, SECRET);
        LinkClient client = TestPeers.client(vertx, echo.url(), TestPeers.settings(Duration.ofSeconds(1), Duration.ofSeconds(3)),
            new LinkMetrics(new SimpleMeterRegistry()), SECRET)) {
      UnicastProcessor<Event> out = UnicastProcessor.create();
      AssertSubscriber<Event> answers = client.open(LinkRequest.to("echo", "echo"), out)
          .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
      out.onNext(Event.of("before.kill"));
      answers.awaitItems(2, Duration.ofSeconds(10));
      long killedAt = System.nanoTime();
      echo.signal("KILL");
      answers.awaitCompletion(Duration.ofSeconds(10));
      long tookMs = (System.nanoTime() - killedAt) / 1_000_000;
      Event last = answers.getItems().get(answers.getItems().size() - 1);
      BadInputTest.assertError(last, "connection_lost", true, null);
      System.out.printf("killed server noticed after %d ms%n", tookMs);
    }
  }

  @Test
  void aFrozenServerIsAnIdleTimeoutWithinTheConfiguredBound() throws Exception {
    try (AppProcess echo = AppProcess.start(JAR, SECRET);
        LinkClient client = TestPeers.client(vertx, echo.url(), TestPeers.settings(Duration.ofMillis(500), Duration.ofSeconds(2)),
            new LinkMetrics(new SimpleMeterRegistry()), SECRET)) {
      UnicastProcessor<Event> out = UnicastProcessor.create();
      AssertSubscriber<Event> answers = client.open(LinkRequest.to("echo", "echo"), out)
          .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
      out.onNext(Event.of("before.freeze"));
      answers.awaitItems(2, Duration.ofSeconds(10));
      long frozenAt = System.nanoTime();
      echo.signal("STOP"); // the TCP connection stays open; nothing more arrives
      try {
        answers.awaitCompletion(Duration.ofSeconds(10));
      } finally {
        echo.signal("CONT");
      }
      long tookMs = (System.nanoTime() - frozenAt) / 1_000_000;
      Event last = answers.getItems().get(answers.getItems().size() - 1);
      BadInputTest.assertError(last, "idle_timeout", true, null);
      assertTrue(tookMs >= 1_500 && tookMs < 4_000, "noticed after the 2 s idle timeout, not much later: " + tookMs + " ms");
      assertEquals(3, answers.getItems().size());
      System.out.printf("frozen server noticed after %d ms%n", tookMs);
    }
  }
}
