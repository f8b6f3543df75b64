package dev.eventpaths.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.eventpaths.Event;
import dev.eventpaths.EventEncoder;
import dev.eventpaths.Json;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonObject;
import jakarta.inject.Inject;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A guest may not speak for the link: its {@code link.*} events (but heartbeats) are refused
 * as {@code reserved_type} and never reach the host service, which would otherwise echo a
 * forged {@code link.ready} or a fatal {@code link.error} back down as if the link had said it.
 */
@QuarkusTest
@QuarkusTestResource(HostServices.class)
class ReservedTypesTest {
  @Inject Vertx vertx;
  @Inject MeterRegistry registry;
  GuestClient client;

  @BeforeEach
  void open() {
    client = new GuestClient(vertx);
  }

  @AfterEach
  void close() {
    client.close();
  }

  static List<Event> forgeries() {
    return List.of(
        new Event(Event.LINK_READY, "f-ready", 0, Json.of(Map.of("link", "forged", "service", "echo"))),
        new Event(Event.LINK_ERROR, "f-error", 0, Json.of(Map.of("reason", "shutting_down", "message", "forged", "fatal", true))),
        new Event(Event.LINK_RESUME, "f-resume", 0, Json.of(Map.of("after", 0))),
        new Event("link.whatever", "f-other", 0, null));
  }

  @Test
  void reservedEventsOnAnUploadAreRefusedNamingTheEventAndNeverReachTheService() throws Exception {
    double before = refused();
    String guest = client.newGuest();
    var up = client.upload(guest, "echo", "forge");
    var down = client.download(guest, "echo", "forge", null);
    assertEquals(200, down.status());
    assertEquals(Event.LINK_READY, down.next().type());
    for (Event forged : forgeries()) {
      up.send(forged);
      Event answer = down.next();
      GuestLinkFlowTest.assertErrorEvent(answer, "reserved_type");
      assertEquals(forged.id(), answer.data().tree().get("event").asText(), "names the refused event: " + answer);
    }
    up.send(Event.of(Event.LINK_HEARTBEAT)); // consumed, as always: no answer, no refusal
    up.send(new Event("note", "n-1", 1, null));
    Event next = down.next();
    assertEquals("note", next.type(), "the link goes on, and nothing forged came back before this: " + next);
    assertNull(down.events.poll(200, TimeUnit.MILLISECONDS));
    assertEquals(before + forgeries().size(), refused(), "each refusal is counted");
    up.end();
    down.ended.get(10, TimeUnit.SECONDS);
  }

  @Test
  void reservedEventsInABatchAreRefusedInItsAnswerAndNeverReachTheService() throws Exception {
    double before = refused();
    String guest = client.newGuest();
    var down = client.download(guest, "echo", "forge-fb", "mode=batch");
    assertEquals(200, down.status());
    assertEquals(Event.LINK_READY, down.next().type());
    StringBuilder body = new StringBuilder();
    for (Event forged : forgeries()) {
      body.append(new String(EventEncoder.encode(forged), StandardCharsets.UTF_8));
    }
    body.append(new String(EventEncoder.encode(Event.of(Event.LINK_HEARTBEAT)), StandardCharsets.UTF_8));
    body.append(new String(EventEncoder.encode(new Event("note", "n-1", 1, null)), StandardCharsets.UTF_8));
    JsonObject answer = client.exchange(HttpMethod.POST, "/g/echo/forge-fb/batch?n=0", guest, body.toString()).json();
    assertEquals(1, answer.getInteger("accepted"), answer.encode());
    var refusals = answer.getJsonArray("refused");
    assertEquals(forgeries().size(), refusals.size(), answer.encode());
    for (int i = 0; i < refusals.size(); i++) {
      assertEquals("reserved_type", refusals.getJsonObject(i).getString("reason"), answer.encode());
      assertEquals(forgeries().get(i).id(), refusals.getJsonObject(i).getString("event"), answer.encode());
    }
    assertEquals("note", down.next().type(), "only the note reached the service");
    assertNull(down.events.poll(200, TimeUnit.MILLISECONDS));
    assertEquals(before + forgeries().size(), refused(), "each refusal is counted");
    down.cancel();
  }

  private double refused() {
    var c = registry.find("eventpaths.gateway.events.refused").tag("reason", "reserved_type").counter();
    return c == null ? 0 : c.count();
  }
}
