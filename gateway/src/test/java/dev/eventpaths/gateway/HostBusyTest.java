package dev.eventpaths.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.eventpaths.Event;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import io.quarkus.test.junit.QuarkusTest;
import io.vertx.core.Vertx;
import io.vertx.core.http.Http2Settings;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import jakarta.inject.Inject;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A host service with no room for another link: the guest's download gets a fatal
 * {@code link.error} {@code busy} with a {@code retryAfter} hint within the target's stream
 * wait, not silence; the guest's other link is untouched.
 */
@QuarkusTest
@QuarkusTestResource(HostServices.class)
@QuarkusTestResource(HostBusyTest.OneStreamHost.class)
class HostBusyTest {
  @Inject Vertx vertx;

  @Test
  void aGuestLinkTheHostHasNoStreamForGetsBusyOnItsDownload() throws Exception {
    try (GuestClient client = new GuestClient(vertx)) {
      String guest = client.newGuest();
      var upA = client.upload(guest, "tight", "a");
      var downA = client.download(guest, "tight", "a", null);
      assertEquals(Event.LINK_READY, downA.next().type());

      var upB = client.upload(guest, "tight", "b");
      var downB = client.download(guest, "tight", "b", null);
      assertEquals(200, downB.status());
      long t0 = System.nanoTime();
      Event busy = downB.next();
      assertEquals("busy", busy.errorReason(), busy.toString());
      assertTrue(busy.data().tree().get("fatal").asBoolean(), busy.toString());
      assertEquals(1, busy.data().tree().get("retryAfter").asInt(), busy.toString());
      assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(5), "within the 500 ms stream wait, give or take");
      downB.ended.get(10, TimeUnit.SECONDS);

      assertTrue(!downA.ended.isDone(), "the guest's other link goes on");
      upA.end();
      upB.reset();
    }
  }

  /**
   * An h2c host that allows one stream per connection and answers each link with
   * {@code link.ready}, then holds it; the gateway may open one connection to it.
   */
  public static final class OneStreamHost implements QuarkusTestResourceLifecycleManager {
    private Vertx vertx;

    @Override
    public Map<String, String> start() {
      vertx = Vertx.vertx();
      HttpServer server = vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1").setPort(0)
              .setInitialSettings(new Http2Settings().setMaxConcurrentStreams(1)))
          .requestHandler(req -> req.response().setStatusCode(200).putHeader("content-type", "application/x-ndjson")
              .write("{\"type\":\"link.ready\",\"data\":{\"link\":\"x\",\"service\":\"held\"}}\n"));
      try {
        server.listen().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
      return Map.of(
          "eventpaths.targets.tight.url", "http://127.0.0.1:" + server.actualPort(),
          "eventpaths.targets.tight.max-connections", "1",
          "eventpaths.targets.tight.stream-wait", "500ms",
          "gateway.routes.tight.target", "tight");
    }

    @Override
    public void stop() {
      vertx.close();
    }
  }
}
