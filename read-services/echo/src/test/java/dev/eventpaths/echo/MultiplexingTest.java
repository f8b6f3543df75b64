package dev.eventpaths.echo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.eventpaths.Event;
import dev.eventpaths.LinkRequest;
import dev.eventpaths.internal.LinkClient;
import dev.eventpaths.internal.LinkRuntime;
import io.quarkus.test.junit.QuarkusTest;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import io.smallrye.mutiny.operators.multi.processors.UnicastProcessor;
import io.vertx.core.Vertx;
import io.vertx.core.impl.ContextInternal;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

@QuarkusTest
class MultiplexingTest {
  @Inject Vertx vertx;
  @Inject LinkRuntime server;

  @Test
  void twoHundredConcurrentLinksShareOneConnection() {
    double connectionsBefore = gauge("eventpaths.connections.active");
    try (LinkClient client = TestPeers.client(vertx, "h2c")) {
      List<UnicastProcessor<Event>> outs = new ArrayList<>();
      List<AssertSubscriber<Event>> links = new ArrayList<>();
      for (int i = 0; i < 200; i++) {
        UnicastProcessor<Event> out = UnicastProcessor.create();
        outs.add(out);
        links.add(client.open(LinkRequest.to("echo", "echo").link("mux-" + i), out)
            .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE)));
      }
      for (int i = 0; i < 200; i++) {
        outs.get(i).onNext(Event.of("hello").withSeq(i + 1));
      }
      for (int i = 0; i < 200; i++) {
        int n = i;
        links.get(i).awaitItems(2, Duration.ofSeconds(20));
        assertEquals(n + 1, links.get(i).getItems().get(1).seq(), "each link gets its own answer");
      }
      // All 200 links are open at once now, on the server, over one TCP connection.
      assertEquals(200.0, gaugeTagged("eventpaths.links.active", "server", "echo"));
      assertEquals(connectionsBefore + 1, gauge("eventpaths.connections.active"),
          "200 links from one client arrive on one HTTP/2 connection");
      outs.forEach(UnicastProcessor::onComplete);
      links.forEach(l -> l.awaitCompletion(Duration.ofSeconds(20)));
    }
  }

  @Test
  void linksOpenedOnAnEventLoopUseThatLoopsOwnConnection() throws Exception {
    // Two contexts on different event loops (new event-loop contexts take the loops in turn).
    var internal = (io.vertx.core.impl.VertxInternal) vertx;
    ContextInternal a = internal.createEventLoopContext();
    ContextInternal b = a;
    for (int i = 0; i < 16 && b.nettyEventLoop() == a.nettyEventLoop(); i++) {
      b = internal.createEventLoopContext();
    }
    assertNotSame(a.nettyEventLoop(), b.nettyEventLoop(), "the test needs two event loops");
    double connectionsBefore = gauge("eventpaths.connections.active");
    try (LinkClient client = TestPeers.client(vertx, "h2c")) {
      List<UnicastProcessor<Event>> outs = new ArrayList<>();
      List<AssertSubscriber<Event>> links = new ArrayList<>();
      List<Thread> answeredOn = java.util.Collections.synchronizedList(new ArrayList<>());
      for (ContextInternal ctx : List.of(a, b)) {
        for (int i = 0; i < 100; i++) {
          UnicastProcessor<Event> out = UnicastProcessor.create();
          AssertSubscriber<Event> link = AssertSubscriber.create(Long.MAX_VALUE);
          outs.add(out);
          links.add(link);
          int n = i;
          ctx.runOnContext(v -> client.open(LinkRequest.to("echo", "echo").link("loop-" + n), out)
              .onItem().invoke(e -> answeredOn.add(Thread.currentThread()))
              .subscribe().withSubscriber(link));
        }
      }
      outs.forEach(o -> o.onNext(Event.of("hello").withSeq(1)));
      links.forEach(l -> l.awaitItems(2, Duration.ofSeconds(20)));
      // 100 links from each loop: one connection each, not one for all (nor one per link).
      assertEquals(connectionsBefore + 2, gauge("eventpaths.connections.active"),
          "links opened on two event loops arrive on two HTTP/2 connections, one per loop");
      Thread threadA = threadOf(a);
      Thread threadB = threadOf(b);
      synchronized (answeredOn) {
        assertEquals(400, answeredOn.size());
        answeredOn.forEach(t -> assertTrue(t == threadA || t == threadB, "answers arrive on their link's own loop: " + t));
      }
      outs.forEach(UnicastProcessor::onComplete);
      links.forEach(l -> l.awaitCompletion(Duration.ofSeconds(20)));
    }
  }

  private static Thread threadOf(ContextInternal ctx) throws Exception {
    var thread = new java.util.concurrent.CompletableFuture<Thread>();
    ctx.runOnContext(v -> thread.complete(Thread.currentThread()));
    return thread.get(5, java.util.concurrent.TimeUnit.SECONDS);
  }

  private double gauge(String name) {
    return server.metrics().registry().get(name).gauge().value();
  }

  private double gaugeTagged(String name, String side, String service) {
    return server.metrics().registry().get(name).tag("side", side).tag("service", service).gauge().value();
  }
}
