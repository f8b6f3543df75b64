package dev.eventpaths.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.eventpaths.Event;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.vertx.core.Vertx;
import jakarta.inject.Inject;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The gateway reports guest links opening and closing to a host service, over a host link. */
@QuarkusTest
@QuarkusTestResource(HostServices.class)
class GatewayFeedTest {
  @Inject Vertx vertx;

  @Test
  void guestLinksOpeningAndClosingAreFedToTheConfiguredService() throws Exception {
    try (GuestClient client = new GuestClient(vertx)) {
      String guest = client.newGuest();
      var up = client.upload(guest, "echo", "watched");
      var down = client.download(guest, "echo", "watched", "board=kitchen");
      assertEquals(200, down.status());
      Event opened = next("guest.link.opened", guest);
      var d = opened.data().tree();
      assertEquals("echo", d.get("service").asText());
      assertEquals("watched", d.get("link").asText());
      assertEquals("kitchen", d.get("params").get("board").asText());
      assertEquals(12, d.get("gateway").asText().length(), "names the gateway instance");
      down.cancel();
      Event closed = next("guest.link.closed", guest);
      assertEquals("watched", closed.data().tree().get("link").asText());
      up.reset();
    }
  }

  private static Event next(String type, String guest) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (System.nanoTime() < deadline) {
      Event e = FeedSink.EVENTS.poll(100, TimeUnit.MILLISECONDS);
      if (e != null && e.type().equals(type) && e.data().tree().get("guest").asText().equals(guest)) {
        return e;
      }
    }
    throw new AssertionError("no " + type + " for " + guest);
  }
}
