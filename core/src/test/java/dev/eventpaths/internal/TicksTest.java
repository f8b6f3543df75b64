package dev.eventpaths.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The links' shared periodic timer: one per event loop, each task on its own context. */
class TicksTest {
  static final long PERIOD = 20;
  Vertx vertx;

  @BeforeEach
  void start() {
    vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(1));
  }

  @AfterEach
  void stop() throws Exception {
    vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  @Test
  void aThousandTasksOnOneEventLoopShareOneTimerAndEachRunsOnItsOwnContext() throws Exception {
    int before = Ticks.timers();
    int n = 1000;
    AtomicInteger[] runs = new AtomicInteger[n];
    AtomicInteger wrongContext = new AtomicInteger();
    List<Ticks.Tick> ticks = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      runs[i] = new AtomicInteger();
      AtomicInteger mine = runs[i];
      Context ctx = vertx.getOrCreateContext(); // a context per "link", all on the one loop
      ctx.runOnContext(v -> {
        Context own = Vertx.currentContext();
        synchronized (ticks) {
          ticks.add(Ticks.every(own, PERIOD, () -> {
            if (Vertx.currentContext() != own) {
              wrongContext.incrementAndGet();
            }
            mine.incrementAndGet();
          }));
        }
      });
    }
    waitFor(() -> java.util.Arrays.stream(runs).allMatch(r -> r.get() >= 3), "every task ran three times");
    assertEquals(before + 1, Ticks.timers(), "one timer for the loop and period");
    assertEquals(0, wrongContext.get(), "tasks run on the context they were registered with");

    synchronized (ticks) {
      ticks.forEach(Ticks.Tick::cancel);
    }
    int[] after = java.util.Arrays.stream(runs).mapToInt(AtomicInteger::get).toArray();
    waitFor(() -> Ticks.timers() == before, "the timer stops once its tasks are cancelled");
    Thread.sleep(PERIOD * 4);
    for (int i = 0; i < n; i++) {
      // At most the round already under way when cancel() was called.
      assertTrue(runs[i].get() <= after[i] + 1, "task " + i + " ran after it was cancelled");
    }
  }

  @Test
  void aTaskThatThrowsKeepsItsPlaceAndDoesNotStopTheOthers() throws Exception {
    AtomicInteger throwing = new AtomicInteger();
    AtomicInteger quiet = new AtomicInteger();
    CompletableFuture<List<Ticks.Tick>> made = new CompletableFuture<>();
    vertx.getOrCreateContext().runOnContext(v -> {
      Context ctx = Vertx.currentContext();
      made.complete(List.of(
          Ticks.every(ctx, PERIOD, () -> {
            throwing.incrementAndGet();
            throw new IllegalStateException("boom (expected by the test)");
          }),
          Ticks.every(ctx, PERIOD, quiet::incrementAndGet)));
    });
    List<Ticks.Tick> ticks = made.get(10, TimeUnit.SECONDS);
    waitFor(() -> throwing.get() >= 3 && quiet.get() >= 3, "both kept running");
    ticks.forEach(Ticks.Tick::cancel);
  }

  @Test
  void aTickCancelledFromAnotherThreadBeforeItsFirstRoundNeverRuns() throws Exception {
    AtomicInteger runs = new AtomicInteger();
    AtomicReference<Context> ctx = new AtomicReference<>();
    CompletableFuture<Void> got = new CompletableFuture<>();
    vertx.getOrCreateContext().runOnContext(v -> {
      ctx.set(Vertx.currentContext());
      got.complete(null);
    });
    got.get(10, TimeUnit.SECONDS);
    Ticks.Tick t = Ticks.every(ctx.get(), PERIOD, runs::incrementAndGet); // from the test thread
    t.cancel();
    Thread.sleep(PERIOD * 5);
    assertEquals(0, runs.get());
    assertSame(ctx.get(), t.context, "registered for its context");
  }

  @Test
  void theSharedTimerOutlivesTheVerticleWhoseLinkStartedIt() throws Exception {
    // The first link on a loop may run on a verticle's context (an HTTP server's, say), and a
    // verticle is undeployed on a dev-mode reload; Vert.x may close what a deployment's context
    // owns with it. Links that come later on the same loop must still be ticked.
    AtomicInteger first = new AtomicInteger();
    CompletableFuture<Ticks.Tick> made = new CompletableFuture<>();
    String id = vertx.deployVerticle(new io.vertx.core.AbstractVerticle() {
      @Override
      public void start() {
        made.complete(Ticks.every(context, PERIOD, first::incrementAndGet));
      }
    }).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    Ticks.Tick firstTick = made.get(10, TimeUnit.SECONDS);
    waitFor(() -> first.get() >= 2, "the verticle's tick ran");
    vertx.undeploy(id).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    firstTick.cancel(); // its link is gone with the verticle

    AtomicInteger later = new AtomicInteger();
    CompletableFuture<Ticks.Tick> made2 = new CompletableFuture<>();
    vertx.getOrCreateContext().runOnContext(v -> made2.complete(Ticks.every(Vertx.currentContext(), PERIOD, later::incrementAndGet)));
    Ticks.Tick laterTick = made2.get(10, TimeUnit.SECONDS);
    waitFor(() -> later.get() >= 3, "a later link on the same loop is ticked");
    laterTick.cancel();
  }

  private static void waitFor(BooleanSupplier done, String what) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!done.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("not within 10 s: " + what);
      }
      Thread.sleep(5);
    }
  }
}
