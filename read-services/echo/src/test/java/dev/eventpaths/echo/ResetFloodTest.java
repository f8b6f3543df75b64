package dev.eventpaths.echo;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.eventpaths.Event;
import dev.eventpaths.LinkRequest;
import dev.eventpaths.internal.LinkClient;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import io.smallrye.mutiny.operators.multi.processors.UnicastProcessor;
import io.vertx.core.Vertx;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A host whose reset-flood guard trips (here set low: 200 resets per window) ends the whole
 * connection, hundreds of links with it. The client must take that as what it is: every link
 * on the connection ends with {@code link.error connection_lost}, and the next link opens on a
 * new connection.
 */
@QuarkusTest
@TestProfile(ResetFloodTest.LowGuard.class)
class ResetFloodTest {
  public static class LowGuard implements QuarkusTestProfile {
    @Override
    public Map<String, String> getConfigOverrides() {
      return Map.of("quarkus.http.limits.rst-flood-max-rst-frame-per-window", "200");
    }
  }

  @Inject Vertx vertx;

  private static void pause() {
    try {
      Thread.sleep(5);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted", e);
    }
  }

  @Test
  void aConnectionClosedOnAResetFloodEndsItsLinksWithLinkErrorAndTheNextLinkOpensAnew() {
    // What Vert.x reports as failing inside its connections meanwhile: nothing, if the links
    // take the connection's end as it is (a link that answers it by resetting its dead stream
    // makes Vert.x fail the whole connection's streams again, one level deeper each time).
    java.util.logging.Logger connections = java.util.logging.Logger.getLogger("io.vertx.core.net.impl.ConnectionBase");
    List<Throwable> reported = new java.util.concurrent.CopyOnWriteArrayList<>();
    java.util.logging.Handler watch = new java.util.logging.Handler() {
      @Override
      public void publish(java.util.logging.LogRecord r) {
        // The OS's word that the host closed first, for a write already on its way: expected.
        boolean peerClosed = r.getMessage() != null && (r.getMessage().contains("Broken pipe")
            || r.getMessage().contains("Connection reset by peer"));
        if (r.getLevel().intValue() >= java.util.logging.Level.SEVERE.intValue() && !peerClosed) {
          reported.add(r.getThrown() != null ? r.getThrown() : new Exception(r.getMessage()));
        }
      }

      @Override
      public void flush() {}

      @Override
      public void close() {}
    };
    connections.addHandler(watch);
    try {
      floodThenCheck();
    } finally {
      connections.removeHandler(watch);
    }
    assertEquals(List.of(), reported.stream().limit(3).map(String::valueOf).toList(),
        reported.size() + " exceptions reported by Vert.x's connections");
  }

  private void floodThenCheck() {
    try (LinkClient client = TestPeers.client(vertx, "h2c")) {
      // All on one connection (at most LinkSettings.LINKS_PER_CONNECTION, 256, share one), and
      // the leaving ones' resets over the guard of 200.
      List<AssertSubscriber<Event>> stay = new ArrayList<>();
      for (int i = 0; i < 40; i++) {
        stay.add(client.open(LinkRequest.to("echo", "echo"), UnicastProcessor.create())
            .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE)));
      }
      List<AssertSubscriber<Event>> leaving = new ArrayList<>();
      for (int i = 0; i < 210; i++) {
        leaving.add(client.open(LinkRequest.to("echo", "echo"), UnicastProcessor.create())
            .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE)));
      }
      stay.forEach(l -> l.awaitItems(1, Duration.ofSeconds(30)));
      leaving.forEach(l -> l.awaitItems(1, Duration.ofSeconds(30)));
      leaving.forEach(AssertSubscriber::cancel); // 210 RST_STREAM frames: over the guard
      // and links still waiting for their answer when the connection goes
      List<UnicastProcessor<Event>> lateOut = new ArrayList<>();
      List<AssertSubscriber<Event>> late = new ArrayList<>();
      for (int i = 0; i < 300; i++) {
        lateOut.add(UnicastProcessor.create());
        late.add(client.open(LinkRequest.to("echo", "echo"), lateOut.get(i))
            .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE)));
      }

      for (AssertSubscriber<Event> l : stay) {
        l.awaitItems(2, Duration.ofSeconds(20));
        assertEquals("connection_lost", l.getItems().get(1).errorReason(), l.getItems().toString());
        l.awaitCompletion(Duration.ofSeconds(10)); // the link.error is the last event
      }

      // Each late link went on the connection that closed and ends with a link.error, or went
      // on the next connection and works; none is left hanging.
      long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
      for (AssertSubscriber<Event> l : late) {
        while (!l.hasCompleted() && l.getItems().isEmpty()) {
          if (System.nanoTime() > deadline) {
            throw new AssertionError("a link opened as the connection closed neither opened nor ended");
          }
          pause();
        }
      }
      Map<String, Integer> lateOutcomes = new java.util.TreeMap<>();
      for (int i = 0; i < late.size(); i++) {
        AssertSubscriber<Event> l = late.get(i);
        lateOut.get(i).onNext(Event.of("ping").withSeq(1)); // dropped if the link has ended
        while (!l.hasCompleted() && l.getItems().size() < 2) {
          if (System.nanoTime() > deadline) {
            throw new AssertionError("a link opened as the connection closed neither echoed nor ended: " + l.getItems());
          }
          pause();
        }
        List<String> types = l.getItems().stream().map(Event::type).toList();
        if (types.equals(List.of(Event.LINK_READY, "ping"))) {
          lateOut.get(i).onComplete();
          l.awaitCompletion(Duration.ofSeconds(10));
          lateOutcomes.merge("worked", 1, Integer::sum);
        } else {
          l.awaitCompletion(Duration.ofSeconds(10));
          Event last = l.getItems().get(l.getItems().size() - 1);
          assertEquals(Event.LINK_ERROR, last.type(), l.getItems().toString());
          lateOutcomes.merge(last.errorReason(), 1, Integer::sum);
        }
      }
      System.out.println("links opened as the connection closed: " + lateOutcomes);

      UnicastProcessor<Event> out = UnicastProcessor.create();
      AssertSubscriber<Event> next = client.open(LinkRequest.to("echo", "echo"), out)
          .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
      next.awaitItems(1, Duration.ofSeconds(20));
      out.onNext(Event.of("ping").withSeq(1));
      next.awaitItems(2, Duration.ofSeconds(10));
      assertEquals(List.of(Event.LINK_READY, "ping"), next.getItems().stream().map(Event::type).toList());
      out.onComplete();
      next.awaitCompletion(Duration.ofSeconds(10));
    }
  }
}
