package dev.eventpaths.echo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.eventpaths.Event;
import dev.eventpaths.LinkRequest;
import dev.eventpaths.internal.LinkClient;
import dev.eventpaths.internal.LinkMetrics;
import dev.eventpaths.internal.LinkSettings;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import io.vertx.core.Vertx;
import io.vertx.core.http.Http2Settings;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A link client whose pool is full: links wait for a host stream in a bounded line, for a
 * bounded time, and then fail with {@code busy}; the pool grows up to max-connections first.
 * Against a real HTTP/2 server (h2c) that allows two concurrent streams per connection and
 * answers every link with {@code link.ready}, then holds it open.
 */
class HostStreamWaitTest {
  private static final int STREAMS_PER_CONNECTION = 2;

  private Vertx vertx;
  private HttpServer server;
  private final AtomicInteger connections = new AtomicInteger();
  private final List<LinkClient> clients = new ArrayList<>();

  @BeforeEach
  void startServer() throws Exception {
    vertx = Vertx.vertx();
    server = vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1").setPort(0)
            .setInitialSettings(new Http2Settings().setMaxConcurrentStreams(STREAMS_PER_CONNECTION)))
        .connectionHandler(c -> connections.incrementAndGet())
        .requestHandler(req -> req.response().setStatusCode(200).putHeader("content-type", "application/x-ndjson")
            .write("{\"type\":\"link.ready\",\"data\":{\"link\":\"x\",\"service\":\"held\"}}\n"));
    server.listen().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  @AfterEach
  void stop() throws Exception {
    clients.forEach(LinkClient::close);
    vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  private LinkClient client(int maxConnections, Duration streamWait, int maxWaiting) {
    URI url = URI.create("http://127.0.0.1:" + server.actualPort());
    LinkClient c = new LinkClient(vertx, LinkSettings.DEFAULTS, new LinkMetrics(new SimpleMeterRegistry()), "test",
        Map.of("held", new LinkClient.Target("held", url, TestPeers.SECRET, null, maxConnections, streamWait, maxWaiting)));
    clients.add(c);
    return c;
  }

  private static AssertSubscriber<Event> open(LinkClient client, String name) {
    return client.open(LinkRequest.to("held", "held").link(name), Multi.createFrom().nothing())
        .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
  }

  private static void assertReady(AssertSubscriber<Event> link) {
    link.awaitItems(1, Duration.ofSeconds(10));
    assertEquals(Event.LINK_READY, link.getItems().get(0).type(), "got " + link.getItems());
  }

  private static JsonObject busy(AssertSubscriber<Event> link, Duration within) {
    link.awaitItems(1, within);
    Event e = link.getItems().get(0);
    assertEquals(Event.LINK_ERROR, e.type(), "got " + e);
    JsonObject data = new JsonObject(e.data().toString());
    assertEquals("busy", data.getString("reason"), "got " + data);
    assertTrue(data.getBoolean("fatal"), "busy ends the link: " + data);
    link.awaitCompletion(Duration.ofSeconds(5));
    return data;
  }

  @Test
  void aLinkThatGetsNoStreamInTimeFailsBusyWithARetryHint() {
    LinkClient client = client(1, Duration.ofMillis(500), 10);
    List<AssertSubscriber<Event>> held = new ArrayList<>();
    for (int i = 0; i < STREAMS_PER_CONNECTION; i++) {
      held.add(open(client, "held-" + i));
    }
    held.forEach(HostStreamWaitTest::assertReady);

    long t0 = System.nanoTime();
    JsonObject data = busy(open(client, "waiting"), Duration.ofSeconds(5));
    long waitedMillis = (System.nanoTime() - t0) / 1_000_000;
    assertTrue(waitedMillis >= 400, "it waited for the stream wait (500 ms) first, not " + waitedMillis + " ms");
    assertEquals(1, data.getLong("retryAfter"), "a retry hint in seconds: " + data);
    assertEquals(1, connections.get(), "max-connections 1: no second connection");
    held.forEach(l -> assertEquals(1, l.getItems().size(), "the held links are untouched: " + l.getItems()));
  }

  @Test
  void aWaitingLinkProceedsWhenAStreamFrees() throws Exception {
    LinkClient client = client(1, Duration.ofSeconds(10), 10);
    AssertSubscriber<Event> first = open(client, "first");
    AssertSubscriber<Event> second = open(client, "second");
    assertReady(first);
    assertReady(second);
    AssertSubscriber<Event> waiting = open(client, "waiting");
    Thread.sleep(300);
    assertEquals(0, waiting.getItems().size(), "no stream free yet: " + waiting.getItems());

    first.cancel(); // RST_STREAM CANCEL: its stream is free
    assertReady(waiting);
  }

  @Test
  void aFullWaitingLineFailsBusyAtOnce() {
    LinkClient client = client(1, Duration.ofSeconds(30), 1);
    for (int i = 0; i < STREAMS_PER_CONNECTION; i++) {
      assertReady(open(client, "held-" + i));
    }
    AssertSubscriber<Event> waiting = open(client, "waiting"); // the line's one place
    long t0 = System.nanoTime();
    busy(open(client, "one-too-many"), Duration.ofSeconds(5));
    assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(5), "refused at once, not after the 30 s wait");
    assertEquals(0, waiting.getItems().size(), "the waiting link still waits: " + waiting.getItems());
  }

  @Test
  void thePoolGrowsToMaxConnectionsThenLinksFailBusy() {
    int maxConnections = 3;
    LinkClient client = client(maxConnections, Duration.ofMillis(500), 10);
    List<AssertSubscriber<Event>> links = new ArrayList<>();
    for (int i = 0; i < maxConnections * STREAMS_PER_CONNECTION; i++) {
      links.add(open(client, "link-" + i));
    }
    links.forEach(HostStreamWaitTest::assertReady);
    assertEquals(maxConnections, connections.get(),
        "6 links over connections of 2 streams each: the pool opened 3 connections");

    busy(open(client, "beyond"), Duration.ofSeconds(5));
  }
}
