package dev.eventpaths.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import dev.eventpaths.Event;
import io.smallrye.mutiny.Multi;
import io.vertx.core.Context;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.net.impl.ConnectionBase;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A writer paused on Netty's word (its stream window spent while Vert.x, following the far
 * larger connection window, still says writable) resumes on the read that brings the peer's
 * WINDOW_UPDATE, not on a timer. Real h2c over loopback, the library's window sizes.
 */
class StreamWindowNoticeTest {
  static final int EVENTS = 100_000; // about 23 MB: some 350 stream windows
  WriterOnARequest.Loopback loop;

  @BeforeEach
  void start() throws Exception {
    loop = WriterOnARequest.Loopback.start(vertx -> req -> {
      long[] bytes = {0};
      AtomicReference<String> last = new AtomicReference<>("");
      req.handler(b -> {
        bytes[0] += b.length();
        String s = b.toString();
        int end = s.lastIndexOf('\n', s.length() - 2);
        last.set(end < 0 ? last.get() + s : s.substring(end + 1));
      });
      req.endHandler(v -> req.response().end(bytes[0] + " " + last.get().trim()));
    });
  }

  @AfterEach
  void stop() {
    loop.close();
  }

  @Test
  void aWriterPausedOnTheStreamWindowResumesOnThePeersWindowUpdateNotATimer() throws Exception {
    CompletableFuture<String> answer = new CompletableFuture<>();
    AtomicReference<HttpClientRequest> request = new AtomicReference<>();
    Context ctx = loop.vertx().getOrCreateContext();
    // The fallback poll is ten minutes here: only the read notice can resume it in time.
    WriterOnARequest.open(loop.client(), loop.port(), ctx, 64, TimeUnit.MINUTES.toMillis(10), answer, (req, writer) -> {
      request.set(req);
      String pad = "x".repeat(200);
      Multi.createFrom().range(1, EVENTS + 1).map(i -> Event.of("e", Map.of("pad", pad)).withSeq(i)).subscribe(writer);
    });

    String[] got = answer.get(120, TimeUnit.SECONDS).split(" ", 2);
    assertEquals(EVENTS, dev.eventpaths.EventDecoder.parse(got[1].getBytes(java.nio.charset.StandardCharsets.UTF_8)).seq(),
        "the last event arrived last");
    assertEquals(true, Long.parseLong(got[0]) > 20_000_000L, "every byte arrived: " + got[0]);
    // The writer did pause on Netty's word (that is what installs the watch); had the notice
    // not come, it would have waited for the ten-minute poll.
    assertNotNull(((ConnectionBase) request.get().connection()).channelHandlerContext().pipeline()
        .get(StreamWritability.WATCH), "the writer paused on the stream window and waited for a read");
  }
}
