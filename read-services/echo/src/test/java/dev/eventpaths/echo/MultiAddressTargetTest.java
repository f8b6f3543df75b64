package dev.eventpaths.echo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.eventpaths.Event;
import dev.eventpaths.LinkRequest;
import dev.eventpaths.internal.LinkClient;
import dev.eventpaths.internal.LinkMetrics;
import dev.eventpaths.internal.LinkSettings;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.quarkus.test.junit.QuarkusTest;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import io.vertx.core.Vertx;
import jakarta.inject.Inject;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A target whose host name has several addresses (Fly's {@code <app>.internal}: one per
 * Machine) is several instances: a link whose instance refuses the connection goes to another,
 * and a caller can reach one instance on purpose. Here {@code two-instances.test} names
 * ::2 (nobody: a dead instance) and ::1 (this app), through the
 * JDK's hosts file (src/test/hosts/hosts).
 */
@QuarkusTest
class MultiAddressTargetTest {
  @Inject Vertx vertx;

  @Test
  void linksToANameGoToTheInstanceThatAnswersWhenAnotherIsDead() throws Exception {
    try (LinkClient client = client()) {
      List<String> addresses = client.addresses("echo").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
      assertEquals(List.of("0:0:0:0:0:0:0:1", "0:0:0:0:0:0:0:2"), addresses, "both instances of the name");
      List<AssertSubscriber<Event>> links = new ArrayList<>();
      for (int i = 0; i < 10; i++) {
        links.add(client.open(LinkRequest.to("echo", "echo"), Multi.createFrom().item(Event.of("hello").withSeq(i + 1)))
            .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE)));
      }
      for (int i = 0; i < 10; i++) {
        AssertSubscriber<Event> link = links.get(i);
        link.awaitCompletion(Duration.ofSeconds(20));
        assertEquals(List.of("link.ready", "hello"), link.getItems().stream().map(Event::type).toList(),
            "link " + i + " reached the live instance: " + link.getItems());
        assertEquals(i + 1, link.getItems().get(1).seq());
      }
    }
  }

  @Test
  void aLinkPinnedToOneInstanceReachesThatOneOrFailsWithItsAddress() throws Exception {
    try (LinkClient client = client()) {
      AssertSubscriber<Event> live = client.open(LinkRequest.to("echo", "echo").via("0:0:0:0:0:0:0:1"),
          Multi.createFrom().item(Event.of("hello"))).subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
      live.awaitCompletion(Duration.ofSeconds(20));
      assertEquals("hello", live.getItems().get(1).type());

      AssertSubscriber<Event> dead = client.open(LinkRequest.to("echo", "echo").via("0:0:0:0:0:0:0:2"),
          Multi.createFrom().item(Event.of("hello"))).subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
      dead.awaitCompletion(Duration.ofSeconds(20));
      assertEquals(1, dead.getItems().size(), "one event: the error");
      Event error = dead.getItems().get(0);
      assertEquals("link.error", error.type());
      String data = error.data().toString();
      assertTrue(data.contains("connect_failed") && data.contains("0:0:0:0:0:0:0:2"), "says which instance: " + data);
    }
  }

  private LinkClient client() {
    int port = TestPeers.url("h2c").getPort();
    return new LinkClient(vertx, LinkSettings.DEFAULTS, new LinkMetrics(new SimpleMeterRegistry()), "test",
        Map.of("echo", new LinkClient.Target("echo", URI.create("http://two-instances.test:" + port), TestPeers.SECRET, null, 4)));
  }
}
