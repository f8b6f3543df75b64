package dev.eventpaths.echo;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.eventpaths.Event;
import dev.eventpaths.LinkRequest;
import dev.eventpaths.internal.LinkClient;
import dev.eventpaths.internal.LinkMetrics;
import dev.eventpaths.internal.LinkSettings;
import dev.eventpaths.testing.EventLoop;
import dev.eventpaths.testing.Items;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.quarkus.test.junit.QuarkusTest;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import io.smallrye.mutiny.operators.multi.processors.UnicastProcessor;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetSocket;
import jakarta.inject.Inject;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/**
 * A connection that drops or breaks under hundreds of links: each link ends with a
 * {@code link.error} ({@code connection_lost}), and the client stays sound.
 *
 * <p>The connection runs through a TCP relay in this test, which then closes its sockets (the
 * peer's host went away) or sends the client a frame that is a connection error.
 */
@QuarkusTest
class ConnectionLossTest {
  static final int LINKS = 600;

  @Inject Vertx vertx;

  @Test
  void aDroppedConnectionEndsEachOfItsManyLinksWithLinkError() throws Exception {
    endEveryLink(toClient -> toClient.forEach(NetSocket::close)); // the host is gone (the relay closes both ends)
  }

  @Test
  void aConnectionErrorEndsEachOfItsManyLinksWithLinkError() throws Exception {
    // A frame no HTTP/2 peer may send (HEADERS on stream 0), as if from the host: the client
    // must end the connection (GOAWAY PROTOCOL_ERROR) and with it every link on it.
    Buffer bad = Buffer.buffer(new byte[] {0, 0, 0, 0x1, 0x4, 0, 0, 0, 0});
    endEveryLink(toClient -> toClient.forEach(s -> s.write(bad)));
  }

  @Test
  void aGoawayForEveryStreamEndsEachOfItsManyLinksWithLinkError() throws Exception {
    // GOAWAY (last stream 0, ENHANCE_YOUR_CALM), as a host under a reset flood sends it, then
    // the host closes the connection.
    Buffer goaway = Buffer.buffer(new byte[] {0, 0, 8, 0x7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11});
    endEveryLink(toClient -> toClient.forEach(s -> s.write(goaway).onComplete(v -> vertx.setTimer(50, t -> s.close()))));
  }

  /** @param breakIt given the relay's sockets to the client, breaks the connection */
  private void endEveryLink(java.util.function.Consumer<List<NetSocket>> breakIt) throws Exception {
    List<NetSocket> toClient = new CopyOnWriteArrayList<>();
    int echoPort = TestPeers.url("h2c").getPort();
    NetServer relay = vertx.createNetServer().connectHandler(in -> {
      toClient.add(in);
      in.pause();
      vertx.createNetClient().connect(echoPort, "localhost").onSuccess(out -> {
        in.handler(out::write);
        out.handler(in::write);
        in.closeHandler(v -> out.close());
        out.closeHandler(v -> in.close());
        in.resume();
      }).onFailure(t -> in.close());
    });
    int port = EventLoop.await(vertx, () -> relay.listen(0, "localhost"), Duration.ofSeconds(10)).actualPort();
    try (LinkClient client = TestPeers.client(vertx, URI.create("http://localhost:" + port), LinkSettings.DEFAULTS,
        new LinkMetrics(new SimpleMeterRegistry()), TestPeers.SECRET)) {
      List<AssertSubscriber<Event>> links = new ArrayList<>();
      for (int i = 0; i < LINKS; i++) {
        links.add(client.open(LinkRequest.to("echo", "echo"), UnicastProcessor.create())
            .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE)));
      }
      for (AssertSubscriber<Event> l : links) {
        List<Event> got = Items.atLeast(l, 1, Duration.ofSeconds(30));
        assertEquals(List.of(Event.LINK_READY), got.stream().map(Event::type).toList(), "before the break: " + got);
      }

      breakIt.accept(toClient);

      Map<String, Integer> endings = new TreeMap<>();
      for (AssertSubscriber<Event> l : links) {
        Items.atLeast(l, 2, Duration.ofSeconds(20));
        endings.merge(String.valueOf(l.getItems().get(1).errorReason()), 1, Integer::sum);
      }
      assertEquals(Map.of("connection_lost", LINKS), endings, "how the links ended");
    } finally {
      relay.close();
    }
  }
}
