package dev.eventpaths.echo;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.eventpaths.Event;
import dev.eventpaths.LinkRequest;
import dev.eventpaths.internal.LinkClient;
import dev.eventpaths.internal.LinkRuntime;
import io.quarkus.test.junit.QuarkusTest;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import io.smallrye.mutiny.operators.multi.processors.UnicastProcessor;
import io.vertx.core.Vertx;
import jakarta.inject.Inject;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * A service may end its output while its caller is still sending (here {@code source}, which
 * never reads its input). The server then ends the response and lets the caller stop on its
 * own; the link must still be released on the server, and with it the connection's count.
 */
@QuarkusTest
class ServiceEndTest {
  @Inject Vertx vertx;
  @Inject LinkRuntime server;

  @Test
  void aLinkWhoseServiceEndsWhileTheCallerStillSendsIsReleasedOnTheServer() throws InterruptedException {
    double connectionsBefore = settled("eventpaths.connections.active");
    try (LinkClient client = TestPeers.client(vertx, "h2c")) {
      UnicastProcessor<Event> out = UnicastProcessor.create(); // never completed: still sending
      AssertSubscriber<Event> in = client.open(LinkRequest.to("echo", "source").link("ends-first").param("n", "3"), out)
          .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
      out.onNext(Event.of("still.here"));
      in.awaitCompletion(Duration.ofSeconds(10));
      assertEquals(3, in.getItems().stream().filter(e -> e.type().equals("source.item")).count());
    }
    // The server counts a connection while it has links; this one's only link has ended.
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (gauge("eventpaths.connections.active") != connectionsBefore && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertEquals(connectionsBefore, gauge("eventpaths.connections.active"),
        "the connection is released once the link whose service ended first is (it stayed counted when the"
            + " link's end threw before releasing it)");
  }

  /** The gauge once it has kept one value for 200 ms (an earlier test's links may still be ending). */
  private double settled(String name) throws InterruptedException {
    double last = gauge(name);
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    for (int same = 0; same < 10 && System.nanoTime() < deadline; ) {
      Thread.sleep(20);
      double now = gauge(name);
      same = now == last ? same + 1 : 0;
      last = now;
    }
    return last;
  }

  private double gauge(String name) {
    return server.metrics().registry().get(name).gauge().value();
  }
}
