package dev.eventpaths.echo;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.eventpaths.Event;
import dev.eventpaths.LinkRequest;
import dev.eventpaths.internal.LinkClient;
import io.quarkus.test.junit.QuarkusTest;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import io.smallrye.mutiny.operators.multi.processors.UnicastProcessor;
import io.vertx.core.Vertx;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A peer that cancels many links at once (a gateway whose guests all leave) sends a burst of
 * RST_STREAM frames on one connection. A host service must not take that for a rapid-reset
 * attack and close the connection: the links that stay must keep flowing.
 */
@QuarkusTest
class CancellationBurstTest {
  @Inject Vertx vertx;

  @Test
  void aBurstOfCancelledLinksLeavesTheOtherLinksOnTheConnectionAlone() {
    try (LinkClient client = TestPeers.client(vertx, "h2c")) {
      UnicastProcessor<Event> stayOut = UnicastProcessor.create();
      AssertSubscriber<Event> stay = client.open(LinkRequest.to("echo", "echo").link("stays"), stayOut)
          .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
      stay.awaitItems(1, Duration.ofSeconds(20));
      for (int round = 0; round < 3; round++) {
        List<AssertSubscriber<Event>> leaving = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
          leaving.add(client.open(LinkRequest.to("echo", "echo"), UnicastProcessor.create())
              .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE)));
        }
        for (AssertSubscriber<Event> l : leaving) {
          try {
            l.awaitItems(1, Duration.ofSeconds(30));
          } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + ": " + l.getItems(), e); // what it got instead
          }
        }
        leaving.forEach(AssertSubscriber::cancel); // 300 RST_STREAM frames at once
      }
      // 900 resets in a few seconds: over the old 200-per-30-s guard, which closed the connection.
      for (int i = 1; i <= 20; i++) {
        stayOut.onNext(Event.of("ping").withSeq(i));
        stay.awaitItems(1 + i, Duration.ofSeconds(10));
      }
      List<String> types = stay.getItems().stream().map(Event::type).distinct().toList();
      assertEquals(List.of("link.ready", "ping"), types, "the link that stayed saw only its own events, no link.error");
      stayOut.onComplete();
      stay.awaitCompletion(Duration.ofSeconds(10));
    }
  }
}
