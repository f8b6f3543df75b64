package dev.eventpaths.gateway;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.eventpaths.Event;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpMethod;
import jakarta.inject.Inject;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Every pairing rule of docs/PROTOCOL.md section 5, each refusal with its status and reason. */
@QuarkusTest
@QuarkusTestResource(HostServices.class)
class PairingRulesTest {
  @Inject Vertx vertx;
  @Inject GatewayMetrics metrics;
  GuestClient client;

  @BeforeEach
  void open() {
    client = new GuestClient(vertx);
  }

  @AfterEach
  void close() {
    client.close();
  }

  @Test
  void aDownloadWithoutUploadIsRefusedAfterTheGraceWindow() throws Exception {
    String guest = client.newGuest();
    long t0 = System.nanoTime();
    var down = client.download(guest, "echo", "lonely", null);
    assertEquals(409, down.status());
    long waitedMs = (System.nanoTime() - t0) / 1_000_000;
    var body = down.refusal.get(5, TimeUnit.SECONDS);
    assertEquals("unpaired", body.getString("error"));
    assertEquals("reopen", body.getString("action"));
    assertTrue(waitedMs >= 400, "waited the grace window for the racing upload: " + waitedMs + " ms");
  }

  @Test
  void aDownloadThatArrivesFirstIsPairedWithinTheGraceWindow() throws Exception {
    String guest = client.newGuest();
    var down = client.download(guest, "echo", "race", null);
    Thread.sleep(100);
    var up = client.upload(guest, "echo", "race");
    assertEquals(200, down.status());
    up.send(Event.of("after.race"));
    assertEquals("after.race", down.nextData().type());
    up.end();
  }

  @Test
  void anUploadWithoutDownloadIsEnded() throws Exception {
    String guest = client.newGuest();
    var up = client.upload(guest, "echo", "alone");
    var outcome = up.outcome.get(10, TimeUnit.SECONDS);
    assertEquals(408, outcome.status(), outcome.body());
    assertEquals("pairing_timeout", outcome.json().getString("error"));
  }

  @Test
  void aSecondDownloadOrUploadForALinkIsRefused() throws Exception {
    String guest = client.newGuest();
    var up = client.upload(guest, "echo", "dup");
    var down = client.download(guest, "echo", "dup", null);
    assertEquals(200, down.status());
    var hijack = client.download(guest, "echo", "dup", null);
    assertEquals(409, hijack.status());
    assertEquals("duplicate_stream", hijack.refusal.get(5, TimeUnit.SECONDS).getString("error"));
    var second = client.upload(guest, "echo", "dup");
    assertEquals(409, second.outcome.get(5, TimeUnit.SECONDS).status());
    up.send(Event.of("still.paired"));
    assertEquals("still.paired", down.nextData().type(), "the original pair is untouched");
    up.end();
  }

  @Test
  void aWaitingUploadIsReplacedByANewerOneFromAnotherConnection() throws Exception {
    String guest = client.newGuest();
    // The old connection's upload, still held (as when the gateway has not yet seen that
    // connection close); the guest reopens the link on a new connection: upload, then download.
    var stale = client.upload(guest, "echo", "moved");
    Thread.sleep(100);
    double before = metrics.refusals("superseded");
    try (GuestClient reopened = new GuestClient(vertx)) {
      var up = reopened.upload(guest, "echo", "moved");
      var outcome = stale.outcome.get(5, TimeUnit.SECONDS);
      assertEquals(409, outcome.status(), outcome.body());
      assertEquals("superseded", outcome.json().getString("error"));
      var down = reopened.download(guest, "echo", "moved", null);
      assertEquals(200, down.status());
      up.send(Event.of("on.the.new.connection"));
      assertEquals("on.the.new.connection", down.nextData().type(), "paired with the live upload, no upload_lost");
      up.end();
    }
    assertEquals(before + 1, metrics.refusals("superseded"));
  }

  @Test
  void aHalfThatLeavesBeforeItsPartnerIsNoLongerCountedAsWaiting() throws Exception {
    String guest = client.newGuest();
    int before = metrics.waiting();
    var up = client.upload(guest, "echo", "gone");
    assertEventually(() -> metrics.waiting() == before + 1, "the upload waits for its download");
    up.reset(); // the guest gives up on it (a closed tab, a dropped connection)
    assertEventually(() -> metrics.waiting() == before, "the gauge of waiting halves comes back down");
    // And the link is free again: a new pair on the same name works.
    var again = client.upload(guest, "echo", "gone");
    var down = client.download(guest, "echo", "gone", null);
    assertEquals(200, down.status());
    again.send(Event.of("after.reset"));
    assertEquals("after.reset", down.nextData().type());
    again.end();
    assertEventually(() -> metrics.waiting() == before, "nothing left waiting");
  }

  private static void assertEventually(java.util.function.BooleanSupplier check, String what) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!check.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("not within 10 s: " + what);
      }
      Thread.sleep(20);
    }
  }

  @Test
  void aSecondUploadOnTheSameConnectionIsStillADuplicate() throws Exception {
    String guest = client.newGuest();
    var first = client.upload(guest, "echo", "twice");
    Thread.sleep(100);
    var second = client.upload(guest, "echo", "twice");
    var outcome = second.outcome.get(5, TimeUnit.SECONDS);
    assertEquals(409, outcome.status());
    assertEquals("duplicate_stream", outcome.json().getString("error"));
    var down = client.download(guest, "echo", "twice", null);
    assertEquals(200, down.status());
    first.send(Event.of("first.kept"));
    assertEquals("first.kept", down.nextData().type());
    first.end();
  }

  @Test
  void aRefusedUploadIsAnsweredAndItsBodyStopped() throws Exception {
    // A browser shows an upload's answer only once its body ends: the reset (NO_ERROR) is what
    // ends it, and frees the stream's slot on the connection.
    String guest = client.newGuest();
    var first = client.upload(guest, "echo", "held");
    Thread.sleep(100);
    var refused = new java.util.LinkedHashMap<String, GuestClient.Upload>();
    refused.put("duplicate_stream", client.upload(guest, "echo", "held"));
    refused.put("bad_guest", client.upload("x".repeat(45), "echo", "l"));
    refused.put("bad_link_name", client.upload(guest, "echo", "bad.name"));
    refused.put("unknown_service", client.upload(guest, "nope", "l"));
    for (var e : refused.entrySet()) {
      var outcome = e.getValue().outcome.get(5, TimeUnit.SECONDS);
      assertEquals(e.getKey(), outcome.json().getString("error"));
      assertEquals(0L, e.getValue().reset.get(5, TimeUnit.SECONDS), e.getKey() + ": RST_STREAM NO_ERROR after the answer");
    }
    first.reset();
  }

  @Test
  void aRefusalIsLoggedWithItsReasonAndTheGuestsHashNotItsId() throws Exception {
    String guest = client.newGuest();
    try (var log = dev.eventpaths.testing.LogCapture.of("dev.eventpaths.gateway")) {
      assertEquals(404, client.download(guest, "nope", "logged", null).status());
      var lines = log.lines().stream().filter(l -> l.contains("unknown_service")).toList();
      assertEquals(1, lines.size(), log.lines().toString());
      assertTrue(lines.get(0).contains(dev.eventpaths.internal.LinkLog.guest(guest)), lines.get(0));
      assertTrue(lines.get(0).contains("/g/nope/logged/down"), lines.get(0));
      assertTrue(!lines.get(0).contains(guest.substring(0, 22)), "the guest id is a credential: " + lines.get(0));
    }
  }

  @Test
  void aForgedOrMissingGuestIdIsRefused() throws Exception {
    String guest = client.newGuest();
    String tampered = guest.substring(0, 5) + (guest.charAt(5) == 'A' ? 'B' : 'A') + guest.substring(6);
    for (String bad : new String[] {tampered, "x".repeat(45), null}) {
      var d = client.download(bad, "echo", "l", null);
      assertEquals(401, d.status());
      var body = d.refusal.get(5, TimeUnit.SECONDS);
      assertEquals("bad_guest", body.getString("error"));
      assertEquals("new_guest", body.getString("action"));
    }
  }

  @Test
  void unknownAndForbiddenServicesAreRefused() throws Exception {
    String guest = client.newGuest();
    var unknown = client.download(guest, "nope", "l", null);
    assertEquals(404, unknown.status());
    assertEquals("unknown_service", unknown.refusal.get(5, TimeUnit.SECONDS).getString("error"));
    var forbidden = client.download(guest, "internal", "l", null);
    assertEquals(403, forbidden.status());
    assertEquals("forbidden_service", forbidden.refusal.get(5, TimeUnit.SECONDS).getString("error"));
  }

  @Test
  void http11OnAStreamingRouteIsRefused() throws Exception {
    String guest = client.newGuest();
    given().relaxedHTTPSValidation().header("eventpaths-guest", guest)
        .when().get("https://localhost:" + org.eclipse.microprofile.config.ConfigProvider.getConfig()
            .getValue("quarkus.http.test-ssl-port", Integer.class) + "/g/echo/l/down")
        .then().statusCode(505).body("error", equalTo("http2_required"));
  }

  @Test
  void aGuestMayHoldOnlyTheConfiguredNumberOfLinks() throws Exception {
    String guest = client.newGuest();
    List<GuestClient.Download> held = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      var d = client.download(guest, "echo", "many-" + i, "mode=batch");
      assertEquals(200, d.status());
      held.add(d);
    }
    double before = metrics.refusals("too_many_links");
    var ninth = client.download(guest, "echo", "many-8", "mode=batch");
    assertEquals(429, ninth.status());
    assertEquals("too_many_links", ninth.refusal.get(5, TimeUnit.SECONDS).getString("error"));
    assertEquals(before + 1, metrics.refusals("too_many_links"), "counted by reason");
    held.get(0).cancel();
    // A closed link frees its place.
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    int status = 0;
    while (System.nanoTime() < deadline && status != 200) {
      Thread.sleep(50);
      status = client.download(guest, "echo", "many-8", "mode=batch").status();
    }
    assertEquals(200, status);
    held.forEach(GuestClient.Download::cancel);
  }

  @Test
  void oneConnectionMayCarryOnlyTheConfiguredNumberOfGuestStreams() throws Exception {
    List<GuestClient.Download> held = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      var d = client.download(client.newGuest(), "echo", "s", "mode=batch");
      assertEquals(200, d.status());
      held.add(d);
    }
    var over = client.download(client.newGuest(), "echo", "s", "mode=batch");
    assertEquals(429, over.status());
    assertEquals("too_many_streams", over.refusal.get(5, TimeUnit.SECONDS).getString("error"));
    try (GuestClient other = new GuestClient(vertx)) {
      assertEquals(200, other.download(other.newGuest(), "echo", "s", "mode=batch").status(),
          "another connection is not affected");
    }
    held.forEach(GuestClient.Download::cancel);
  }

  @Test
  void guestIdsAreIssuedUniqueAndLongEnough() throws Exception {
    String a = client.newGuest();
    String b = client.newGuest();
    assertTrue(!a.equals(b));
    assertEquals(45, a.length(), "22 chars of 128 random bits, a dot, 22 chars of MAC");
    assertEquals(200, client.exchange(HttpMethod.POST, "/guest", null, "").status());
  }
}
