package dev.eventpaths.echo;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.eventpaths.Event;
import dev.eventpaths.LinkRequest;
import dev.eventpaths.internal.LinkClient;
import io.quarkus.test.junit.QuarkusTest;
import io.smallrye.mutiny.operators.multi.processors.UnicastProcessor;
import io.vertx.core.Vertx;
import jakarta.inject.Inject;
import java.util.Iterator;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Full duplex: each answer must arrive while the request body is still open, or the next
 * event is never sent and the test hangs (it fails on the iterator's timeout instead).
 */
@QuarkusTest
class FullDuplexTest {
  @Inject Vertx vertx;

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"h2c", "h2"})
  void answersEachEventBeforeTheNextIsSent(String protocol) {
    try (LinkClient client = TestPeers.client(vertx, protocol)) {
      UnicastProcessor<Event> out = UnicastProcessor.create();
      Iterator<Event> answers = client.open(LinkRequest.to("echo", "echo"), out)
          .subscribe().asIterable().iterator();
      Event ready = answers.next();
      assertEquals(Event.LINK_READY, ready.type(), "first event is link.ready");
      for (int i = 1; i <= 1000; i++) {
        out.onNext(new Event("ping", "p-" + i, i, dev.eventpaths.Json.of(Map.of("n", i))));
        Event answer = answers.next();
        assertEquals("ping", answer.type());
        assertEquals(i, answer.seq());
        assertEquals("p-" + i, answer.id());
        assertEquals(i, answer.data().tree().get("n").asInt());
      }
      out.onComplete();
      assertEquals(false, answers.hasNext(), "the link ends after the caller's body ends");
    }
  }
}
