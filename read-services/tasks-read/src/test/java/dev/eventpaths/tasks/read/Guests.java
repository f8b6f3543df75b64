package dev.eventpaths.tasks.read;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import dev.eventpaths.Event;
import dev.eventpaths.LinkRequest;
import dev.eventpaths.internal.LinkClient;
import dev.eventpaths.internal.LinkMetrics;
import dev.eventpaths.internal.LinkSettings;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import io.vertx.core.Vertx;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.eclipse.microprofile.config.ConfigProvider;

/**
 * The guest side in tests: links to the app's {@code board} service over real HTTP/2 (h2c), as
 * the gateway opens them for guests.
 */
final class Guests {
  static final String SECRET = "test-only-link-secret";

  private Guests() {}

  /** A link client set as the gateway's: its stream window is 64 KiB (gateway/application.properties). */
  static LinkClient client(Vertx vertx) {
    int port = ConfigProvider.getConfig().getValue("quarkus.http.test-port", Integer.class);
    return new LinkClient(vertx, LinkSettings.DEFAULTS.withStreamWindow(64 * 1024),
        new LinkMetrics(new SimpleMeterRegistry()), "gateway",
        Map.of("tasks-read", new LinkClient.Target("tasks-read", URI.create("http://localhost:" + port), SECRET, null, 4)));
  }

  static LinkRequest board(String board) {
    return LinkRequest.to("tasks-read", "board").param("board", board).guest("guest-" + board);
  }

  /** Opens a board link and reads with the given initial demand. */
  static AssertSubscriber<Event> open(LinkClient client, LinkRequest request, long demand) {
    return client.open(request, Multi.createFrom().nothing()).subscribe().withSubscriber(AssertSubscriber.create(demand));
  }

  /** Waits until an event matching {@code p} has arrived; returns it. */
  static Event await(AssertSubscriber<Event> s, Predicate<Event> p) {
    long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
    while (System.nanoTime() < deadline) {
      for (Event e : List.copyOf(s.getItems())) {
        if (p.test(e)) {
          return e;
        }
      }
      sleep(10);
    }
    throw new AssertionError("no matching event within 15 s; got " + s.getItems());
  }

  static Event awaitSeq(AssertSubscriber<Event> s, long seq) {
    return await(s, e -> e.seq() == seq && e.type().startsWith("task."));
  }

  /** The events after {@code link.ready}, minus control events. */
  static List<Event> payload(AssertSubscriber<Event> s) {
    List<Event> out = new ArrayList<>();
    for (Event e : List.copyOf(s.getItems())) {
      if (!e.isControl()) {
        out.add(e);
      }
    }
    return out;
  }

  /** The task ids of a (single-part) snapshot, in order. */
  static List<String> taskIds(Event snapshot) {
    assertEquals("board.snapshot", snapshot.type());
    List<String> ids = new ArrayList<>();
    for (JsonNode t : snapshot.data().tree().get("tasks")) {
      ids.add(t.get("task").asText());
    }
    return ids;
  }

  static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }
}
