package dev.eventpaths.echo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.eventpaths.Event;
import dev.eventpaths.LinkClosedException;
import dev.eventpaths.LinkContext;
import dev.eventpaths.LinkRequest;
import dev.eventpaths.internal.LinkClient;
import io.quarkus.test.junit.QuarkusTest;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import io.smallrye.mutiny.operators.multi.processors.UnicastProcessor;
import io.vertx.core.Vertx;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

@QuarkusTest
class CancellationTest {
  @Inject Vertx vertx;

  @BeforeEach
  void reset() {
    Probe.reset();
  }

  @Test
  void cancellingTheCallerFailsTheServicesInputAndCancelsItsOutput() throws Exception {
    try (LinkClient client = TestPeers.client(vertx, "h2c")) {
      UnicastProcessor<Event> out = UnicastProcessor.create();
      AssertSubscriber<Event> answers = client.open(LinkRequest.to("echo", "probe").guest("g-1").param("board", "b"), out)
          .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
      out.onNext(Event.of("one"));
      answers.awaitItems(2, Duration.ofSeconds(10));
      LinkContext ctx = Probe.CONTEXT.get().get(5, TimeUnit.SECONDS);
      assertEquals("g-1", ctx.guestId().orElseThrow(), "the service learns the guest id");
      assertEquals("b", ctx.param("board"));
      assertEquals("test", ctx.caller());
      answers.cancel();
      Throwable failure = Probe.INPUT_FAILURE.get().get(5, TimeUnit.SECONDS);
      assertInstanceOf(LinkClosedException.class, failure, "the service's input fails when the caller cancels");
      assertEquals("cancelled", ((LinkClosedException) failure).reason());
    }
  }

  @Test
  void cancellingTheCallerCancelsAServiceOutputThatDoesNotDependOnItsInput() throws Exception {
    cancelWhileTheServiceTalks(Multi.createFrom().nothing(), false);
    assertInstanceOf(LinkClosedException.class, Probe.INPUT_FAILURE.get().get(5, TimeUnit.SECONDS));
  }

  @Test
  void cancellingACallerThatHadEndedItsInputStillCancelsTheServicesOutput() throws Exception {
    // Half closed: the caller's body is over (its input ended normally) and the service goes
    // on talking. A reset then has no input left to fail; it must still stop the output, or
    // the link, its service and its writer stay alive with nobody to read them.
    cancelWhileTheServiceTalks(Multi.createFrom().empty(), true);
  }

  /**
   * Opens the probe with an output of its own (ticks), sending {@code callerOutput}; cancels
   * once it talks, and asserts that its output is cancelled. {@code halfClosed}: the caller's
   * output is already over, so the service's input must have ended normally before the cancel.
   */
  private void cancelWhileTheServiceTalks(Multi<Event> callerOutput, boolean halfClosed) throws Exception {
    try (LinkClient client = TestPeers.client(vertx, "h2c")) {
      AssertSubscriber<Event> answers = client.open(LinkRequest.to("echo", "probe").param("detached", "1"), callerOutput)
          .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
      answers.awaitItems(3, Duration.ofSeconds(10));
      if (halfClosed) {
        assertEquals(null, Probe.INPUT_FAILURE.get().get(5, TimeUnit.SECONDS), "the input ended normally first");
      }
      answers.cancel();
      assertTrue(Probe.OUTPUT_CANCELLED.get().get(5, TimeUnit.SECONDS), "the service's output is cancelled");
    }
  }

  @Test
  void theServiceEndingItsOutputEndsTheLinkAndCancelsTheCallersProducer() throws Exception {
    CompletableFuture<Boolean> producerCancelled = new CompletableFuture<>();
    Multi<Event> endless = Multi.createFrom().ticks().every(Duration.ofMillis(5))
        .map(i -> Event.of("tick").withSeq(i + 1))
        .onCancellation().invoke(() -> producerCancelled.complete(true));
    try (LinkClient client = TestPeers.client(vertx, "h2c")) {
      AssertSubscriber<Event> answers = client.open(LinkRequest.to("echo", "probe").param("first", "3"), endless)
          .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
      answers.awaitCompletion(Duration.ofSeconds(10));
      assertEquals(4, answers.getItems().size(), "link.ready and three answers: " + answers.getItems());
      assertTrue(producerCancelled.get(5, TimeUnit.SECONDS), "the caller stops producing when the link is over");
    }
  }

  @Test
  void anUnreachableTargetIsALinkErrorNotAHang() throws Exception {
    int closedPort;
    try (var s = new java.net.ServerSocket(0)) {
      closedPort = s.getLocalPort();
    }
    var metrics = new dev.eventpaths.internal.LinkMetrics(new io.micrometer.core.instrument.simple.SimpleMeterRegistry());
    try (LinkClient client = TestPeers.client(vertx, java.net.URI.create("http://127.0.0.1:" + closedPort),
        dev.eventpaths.internal.LinkSettings.DEFAULTS, metrics, TestPeers.SECRET)) {
      AssertSubscriber<Event> s = client.open(LinkRequest.to("echo", "echo"), Multi.createFrom().empty())
          .subscribe().withSubscriber(AssertSubscriber.create(10));
      s.awaitCompletion(Duration.ofSeconds(10));
      BadInputTest.assertError(s.getItems().get(0), "connect_failed", true, null);
    }
  }
}
