package dev.eventpaths.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.eventpaths.Event;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.vertx.core.Vertx;
import jakarta.inject.Inject;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** A host service that dies ends only its own guest links; the rest keep flowing. */
@QuarkusTest
@QuarkusTestResource(HostServices.class)
class HostFailureTest {
  @Inject Vertx vertx;

  @Test
  void aKilledHostServiceEndsOnlyItsLinksWithALinkError() throws Exception {
    try (GuestClient client = new GuestClient(vertx)) {
      String guest = client.newGuest();
      List<GuestClient.Upload> ups = new ArrayList<>();
      List<GuestClient.Download> onA = new ArrayList<>();
      List<GuestClient.Download> onB = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        ups.add(client.upload(guest, "echo", "a" + i));
        onA.add(client.download(guest, "echo", "a" + i, null));
        ups.add(client.upload(guest, "echo-b", "b" + i));
        onB.add(client.download(guest, "echo-b", "b" + i, null));
      }
      for (int i = 0; i < 3; i++) {
        assertEquals(Event.LINK_READY, onA.get(i).next().type());
        assertEquals(Event.LINK_READY, onB.get(i).next().type());
      }
      HostServices.b.kill();
      try {
        for (var d : onB) {
          Event e = d.next();
          assertEquals(Event.LINK_ERROR, e.type(), e.toString());
          assertEquals("connection_lost", e.errorReason());
          d.ended.get(10, TimeUnit.SECONDS);
        }
        for (int i = 0; i < 3; i++) {
          ups.get(i * 2).send(Event.of("still.alive").withSeq(i + 1));
          Event back = onA.get(i).next();
          assertEquals("still.alive", back.type(), "links to the other service are untouched");
          assertEquals(i + 1, back.seq());
        }
        // Reopening a link to the dead service gets a link.error, not a hang.
        var up = client.upload(guest, "echo-b", "again");
        var down = client.download(guest, "echo-b", "again", null);
        assertEquals(200, down.status());
        Event refused = down.next();
        assertEquals("connect_failed", refused.errorReason(), refused.toString());
        assertTrue(refused.data().tree().get("fatal").asBoolean());
        String said = refused.data().tree().get("message").asText();
        assertTrue(said.matches("could not reach service echo \\(ref [0-9a-f]{12}\\)"),
            "the guest is told which service and a ref for the log, not where it lives: " + said);
        up.reset();
      } finally {
        HostServices.b.restart();
      }
      // Once the service is back, a new link works.
      var up = client.upload(guest, "echo-b", "back");
      var down = client.download(guest, "echo-b", "back", null);
      up.send(Event.of("hello.again"));
      assertEquals("hello.again", down.nextData().type());
      up.end();
      ups.forEach(GuestClient.Upload::reset);
    }
  }
}
