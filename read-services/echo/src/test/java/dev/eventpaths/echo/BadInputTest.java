package dev.eventpaths.echo;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.eventpaths.Event;
import dev.eventpaths.EventDecoder;
import dev.eventpaths.LinkRequest;
import dev.eventpaths.internal.LinkClient;
import dev.eventpaths.testing.Utf8Corpus;
import io.quarkus.test.junit.QuarkusTest;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import io.smallrye.mutiny.operators.multi.processors.UnicastProcessor;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonObject;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Bad input gets a clear error, and a healthy link open beside it keeps flowing throughout.
 * The bad bytes are written with a raw HTTP/2 client: the library's own client cannot send them.
 */
@QuarkusTest
class BadInputTest {
  @Inject Vertx vertx;

  LinkClient client;
  UnicastProcessor<Event> bystanderOut;
  AssertSubscriber<Event> bystander;
  int bystanderSeq;

  @BeforeEach
  void openBystander() {
    client = TestPeers.client(vertx, "h2c");
    bystanderOut = UnicastProcessor.create();
    bystander = client.open(LinkRequest.to("echo", "echo"), bystanderOut)
        .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
    bystanderStillFlows();
  }

  @AfterEach
  void checkBystander() {
    bystanderStillFlows();
    bystanderOut.onComplete();
    bystander.awaitCompletion(Duration.ofSeconds(10));
    assertTrue(bystander.getItems().stream().noneMatch(e -> e.type().equals(Event.LINK_ERROR)),
        "the healthy link saw no error");
    client.close();
  }

  void bystanderStillFlows() {
    bystanderSeq++;
    bystanderOut.onNext(Event.of("still.here").withSeq(bystanderSeq));
    bystander.awaitItems(bystanderSeq + 1, Duration.ofSeconds(10));
  }

  @Test
  void malformedOversizeAndTypelessLinesGetNonFatalErrorsAndTheLinkGoesOn() throws Exception {
    RawLink link = RawLink.open(vertx, TestPeers.SECRET, "/links/echo");
    link.send("{not json\n");
    assertError(link.next(), "malformed_event", false, null);
    link.send("{\"id\":\"w-1\",\"data\":{}}\n");
    assertError(link.next(), "missing_type", false, "w-1");
    link.send("{\"type\":\"big\",\"data\":\"" + "z".repeat(70_000) + "\"}\n");
    assertError(link.next(), "event_too_large", false, null);
    link.send("[1,2]\n");
    assertError(link.next(), "malformed_event", false, null);
    link.send("{\"type\":\"ok\",\"seq\":7}\n");
    Event answer = link.next();
    assertEquals("ok", answer.type(), "the link still answers after refused lines");
    assertEquals(7, answer.seq());
    link.close();
  }

  /**
   * Every line of the corpus, through a real link: refused as malformed and never echoed, in
   * heap and direct buffers alike (whatever the server's transport hands the decoder), while
   * well-formed edge cases come back byte for byte.
   */
  @Test
  void linesThatAreNotWellFormedUtf8AreRefusedAndNeverEchoed() throws Exception {
    List<byte[]> lines = new ArrayList<>();
    for (byte[] bad : Utf8Corpus.INVALID.values()) {
      Utf8Corpus.linesWith(bad).forEach(l -> lines.add(l.bytes()));
      lines.add(Utf8Corpus.atLineEnd(bad).bytes());
    }
    RawLink link = null;
    for (int i = 0; i < lines.size(); i++) {
      if (i % 15 == 0) { // below max-bad-events: one link per 15 refusals
        if (link != null) {
          link.close();
        }
        link = RawLink.open(vertx, TestPeers.SECRET, "/links/echo");
      }
      link.send(lines.get(i), true);
      link.send("{\"type\":\"after\",\"seq\":" + (i + 1) + "}\n");
      Event refused = link.next();
      assertError(refused, "malformed_event", false, null);
      Event after = link.next();
      assertEquals(i + 1, after.seq(), "only the good line came back after line " + i + ": " + after);
    }
    link.close();
    link = RawLink.open(vertx, TestPeers.SECRET, "/links/echo");
    int seq = 0;
    for (var good : Utf8Corpus.VALID.entrySet()) {
      byte[] line = Utf8Corpus.linesWith(good.getValue()).get(2).bytes(); // in a data string
      link.send(line, true);
      Event back = link.next();
      assertEquals("t", back.type(), good.getKey() + ": " + back);
      String sent = new String(line, java.nio.charset.StandardCharsets.UTF_8);
      assertTrue(sent.contains(back.data().toString()), good.getKey() + " comes back unchanged: " + back);
      seq++;
    }
    assertTrue(seq > 5);
    link.close();
  }

  @Test
  void tooManyBadLinesEndTheLinkWithAFatalError() throws Exception {
    RawLink link = RawLink.open(vertx, TestPeers.SECRET, "/links/echo");
    for (int i = 0; i < 17; i++) {
      link.send("garbage " + i + "\n");
    }
    Event last = null;
    for (int i = 0; i < 17; i++) {
      last = link.next();
      if (last.data().tree().get("fatal").asBoolean()) {
        break;
      }
    }
    assertError(last, "too_many_bad_events", true, null);
    link.close();
  }

  @Test
  void missingOrWrongCredentialIsRefusedWith401() throws Exception {
    HttpClient http = TestPeers.raw(vertx, HttpVersion.HTTP_2);
    var noAuth = TestPeers.exchange(vertx, http, "/links/echo", Map.of(), "{\"type\":\"x\"}\n");
    assertEquals(401, noAuth.status());
    assertEquals("unauthorized", new JsonObject(noAuth.body()).getString("error"));
    var wrong = TestPeers.exchange(vertx, http, "/links/echo", Map.of("authorization", "Bearer nope"), "");
    assertEquals(401, wrong.status());
    assertEquals("unauthorized", new JsonObject(wrong.body()).getString("error"));
    http.close();
  }

  @Test
  void unknownServiceIsRefusedWith404() throws Exception {
    HttpClient http = TestPeers.raw(vertx, HttpVersion.HTTP_2);
    var r = TestPeers.exchange(vertx, http, "/links/nope", Map.of("authorization", "Bearer " + TestPeers.SECRET), "");
    assertEquals(404, r.status());
    assertEquals("unknown_service", new JsonObject(r.body()).getString("error"));
    http.close();
  }

  @Test
  void http11OnALinkRouteIsRefusedWith505() {
    // The app listens on :: in tests (MultiAddressTargetTest), which is no host for a URL.
    given().baseUri("http://localhost").port(TestPeers.url("h2c").getPort())
        .header("authorization", "Bearer " + TestPeers.SECRET).body("{\"type\":\"x\"}\n")
        .when().post("/links/echo")
        .then().statusCode(505).body("error", equalTo("http2_required"));
  }

  @Test
  void theLibraryClientReportsARefusalAsALinkError() {
    var metrics = new dev.eventpaths.internal.LinkMetrics(new io.micrometer.core.instrument.simple.SimpleMeterRegistry());
    try (LinkClient wrong = TestPeers.client(vertx, "h2c", dev.eventpaths.internal.LinkSettings.DEFAULTS, metrics, "wrong")) {
      AssertSubscriber<Event> s = wrong.open(LinkRequest.to("echo", "echo"), io.smallrye.mutiny.Multi.createFrom().empty())
          .subscribe().withSubscriber(AssertSubscriber.create(10));
      s.awaitCompletion(Duration.ofSeconds(10));
      assertEquals(1, s.getItems().size());
      assertError(s.getItems().get(0), "unauthorized", true, null);
      assertEquals(1.0, metrics.registry().get("eventpaths.link.errors").tag("reason", "unauthorized").counter().count());
    }
  }

  static void assertError(Event e, String reason, boolean fatal, String eventId) {
    assertEquals(Event.LINK_ERROR, e.type(), "expected a link.error, got " + e);
    var d = e.data().tree();
    assertEquals(reason, d.get("reason").asText(), e.toString());
    assertEquals(fatal, d.get("fatal").asBoolean(), e.toString());
    assertTrue(d.get("message").asText().length() > 5, "a message for humans: " + e);
    if (eventId != null) {
      assertEquals(eventId, d.get("event").asText(), "names the refused event");
    }
  }

  /** A link driven byte by byte over a raw Vert.x HTTP/2 request. */
  static final class RawLink {
    final HttpClient http;
    final HttpClientRequest req;
    final LinkedBlockingQueue<Event> events = new LinkedBlockingQueue<>();

    private RawLink(HttpClient http, HttpClientRequest req) {
      this.http = http;
      this.req = req;
    }

    static RawLink open(Vertx vertx, String secret, String path) throws Exception {
      HttpClient http = TestPeers.raw(vertx, HttpVersion.HTTP_2);
      HttpClientRequest req = http.request(new RequestOptions().setMethod(HttpMethod.POST).setURI(path)
          .putHeader("authorization", "Bearer " + secret)).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
      req.setChunked(true);
      RawLink link = new RawLink(http, req);
      List<Event> sink = new ArrayList<>();
      EventDecoder decoder = new EventDecoder(1 << 20, new EventDecoder.Sink() {
        @Override
        public void event(Event event) {
          if (!event.type().equals(Event.LINK_READY) && !event.type().equals(Event.LINK_HEARTBEAT)) {
            link.events.add(event);
          }
        }

        @Override
        public void refused(String reason, String message, String eventId) {
          throw new AssertionError("server sent a bad line: " + message);
        }
      });
      req.response().onSuccess(resp -> resp.handler(b -> decoder.feed(b.getByteBuf())));
      req.sendHead();
      return link;
    }

    void send(String text) {
      req.write(Buffer.buffer(text));
    }

    void send(byte[] line, boolean newline) {
      Buffer b = Buffer.buffer(line);
      req.write(newline ? b.appendByte((byte) '\n') : b);
    }

    Event next() throws InterruptedException {
      Event e = events.poll(10, TimeUnit.SECONDS);
      if (e == null) {
        throw new AssertionError("no event within 10 s");
      }
      return e;
    }

    void close() {
      req.reset(8);
      http.close();
    }
  }
}
