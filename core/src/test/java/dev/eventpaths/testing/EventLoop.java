package dev.eventpaths.testing;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/** For tests that drive Vert.x clients from the test's own thread. */
public final class EventLoop {
  private EventLoop() {}

  /**
   * Builds {@code chain} on an event loop and waits for its outcome. Built from the test's
   * thread, a chain like {@code request.send().compose(resp -> resp.body())} can attach its
   * body handler after the response (and its data) was already handled on the event loop, and
   * read an empty body (seen: a 200 with {@code content-length: 27} read as nothing).
   */
  public static <T> T await(Vertx vertx, Supplier<Future<T>> chain, Duration timeout) throws Exception {
    CompletableFuture<T> outcome = new CompletableFuture<>();
    vertx.getOrCreateContext().runOnContext(v -> chain.get().onComplete(ar -> {
      if (ar.succeeded()) {
        outcome.complete(ar.result());
      } else {
        outcome.completeExceptionally(ar.cause());
      }
    }));
    return outcome.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }
}
