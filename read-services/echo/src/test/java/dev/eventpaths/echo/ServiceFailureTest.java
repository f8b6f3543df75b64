package dev.eventpaths.echo;

import dev.eventpaths.testing.LogCapture;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.eventpaths.Event;
import dev.eventpaths.LinkRequest;
import dev.eventpaths.internal.LinkClient;
import dev.eventpaths.testing.Utf8Corpus;
import io.quarkus.test.junit.QuarkusTest;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import io.vertx.core.Vertx;
import jakarta.inject.Inject;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Duration;
import java.util.List;
import java.util.logging.LogRecord;
import org.junit.jupiter.api.Test;

/**
 * A service that throws is seen by its developer (one log line with the stack trace, the
 * link, the caller and the guest's hash, and a ref) and not by its caller, who gets a
 * {@code service_failed} with that ref and none of the internals. The host also logs each
 * link.error it sends for bad input, within a budget per service.
 */
@QuarkusTest
class ServiceFailureTest {
  static final String SERVER_LINK = "dev.eventpaths.internal.ServerLink";
  /** A guest id as the gateway makes them, and a link id as the gateway names it after the guest. */
  static final String GUEST = "AbCdEfGhIjKlMnOpQrStUvWx.signature-part-of-it";
  static final String LINK = GUEST.substring(0, 22) + "/main";

  @Inject Vertx vertx;

  @Test
  void aThrowingServiceIsLoggedWithItsTraceAndTheCallerGetsOnlyARef() throws Exception {
    try (LogCapture log = LogCapture.of(SERVER_LINK); LinkClient client = TestPeers.client(vertx, "h2c")) {
      AssertSubscriber<Event> s = client.open(LinkRequest.to("echo", "throws").guest(GUEST).link(LINK),
          Multi.createFrom().items(Event.of("fine"), Event.of("boom"))).subscribe().withSubscriber(AssertSubscriber.create(100));
      s.awaitCompletion(Duration.ofSeconds(10));
      Event error = s.getItems().get(s.getItems().size() - 1);
      BadInputTest.assertError(error, "service_failed", true, null);
      String ref = error.data().tree().get("ref").asText();
      assertTrue(ref.matches("[0-9a-f]{12}"), "a short ref: " + error);
      String told = error.data().toString();
      assertTrue(told.contains(ref), told);
      for (String internal : List.of(Throws.SECRET_DETAIL, "IllegalStateException", "hunter2", "Exception", "at dev.")) {
        assertFalse(told.contains(internal), "the caller is not told " + internal + ": " + told);
      }

      LogRecord line = awaitRecord(log, ref);
      assertTrue(line.getLevel().intValue() >= java.util.logging.Level.SEVERE.intValue(), "logged as an error: " + line.getLevel());
      String text = line.getMessage();
      assertTrue(text.contains("service throws") && text.contains("caller test"), text);
      assertTrue(text.contains("guest g-") && !text.contains(GUEST) && !text.contains(GUEST.substring(0, 22)),
          "the guest by its hash, never its id (nor the start of it, in the link id): " + text);
      assertTrue(text.contains("/main"), "the link's own name: " + text);
      assertNotNull(line.getThrown(), "the stack trace is logged");
      StringWriter trace = new StringWriter();
      line.getThrown().printStackTrace(new PrintWriter(trace));
      assertTrue(trace.toString().contains(Throws.SECRET_DETAIL) && trace.toString().contains("untilBoom"), trace.toString());
    }
  }

  @Test
  void failuresOfOneServiceAreLoggedWithinABudgetAndEachCallerStillGetsItsRef() throws Exception {
    try (LogCapture log = LogCapture.of(SERVER_LINK); LinkClient client = TestPeers.client(vertx, "h2c")) {
      int links = 25;
      for (int i = 0; i < links; i++) {
        AssertSubscriber<Event> s = client.open(LinkRequest.to("echo", "throws-often"), Multi.createFrom().item(Event.of("boom")))
            .subscribe().withSubscriber(AssertSubscriber.create(100));
        s.awaitCompletion(Duration.ofSeconds(10));
        Event error = s.getItems().get(s.getItems().size() - 1);
        assertEquals("service_failed", error.errorReason(), error.toString());
      }
      Thread.sleep(200);
      long failures = log.lines().stream().filter(l -> l.startsWith("service failed")).count();
      assertTrue(failures >= 1 && failures <= 10, failures + " lines for " + links + " failures in well under 10 s");
    }
  }

  @Test
  void eachRefusalSentIsLoggedOnceWithItsReasonAndTheLink() throws Exception {
    try (LogCapture log = LogCapture.of(SERVER_LINK)) {
      // (on a service no other test sends bad lines to: the budget is per service)
      BadInputTest.RawLink link = BadInputTest.RawLink.open(vertx, TestPeers.SECRET, "/links/throws");
      byte[] bad = Utf8Corpus.linesWith(Utf8Corpus.INVALID.get("surrogate U+D800")).get(2).bytes();
      link.send(bad, true);
      BadInputTest.assertError(link.next(), "malformed_event", false, null);
      link.send("{\"id\":\"w-\\n7\",\"data\":1}\n");
      BadInputTest.assertError(link.next(), "missing_type", false, "w-\n7");
      link.close();
      Thread.sleep(200);
      List<String> lines = log.lines().stream().filter(l -> l.startsWith("link.error")).toList();
      assertTrue(lines.stream().anyMatch(l -> l.contains("malformed_event") && l.contains("service throws")), String.valueOf(lines));
      String typeless = lines.stream().filter(l -> l.contains("missing_type")).findFirst().orElseThrow();
      assertTrue(typeless.contains("event \"w-?7\""), "the peer's id, with no line break of its own: " + typeless);
    }
  }

  private static LogRecord awaitRecord(LogCapture log, String ref) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (System.nanoTime() < deadline) {
      for (LogRecord r : log.records) {
        if (r.getMessage() != null && r.getMessage().contains(ref)) {
          return r;
        }
      }
      Thread.sleep(20);
    }
    throw new AssertionError("no log line with ref " + ref + ": " + log.lines());
  }
}
