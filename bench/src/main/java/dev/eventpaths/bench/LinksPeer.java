package dev.eventpaths.bench;

import dev.eventpaths.Event;
import dev.eventpaths.LinkRequest;
import dev.eventpaths.internal.LinkClient;
import dev.eventpaths.internal.LinkMetrics;
import dev.eventpaths.internal.LinkSettings;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.subscription.BackPressureStrategy;
import io.smallrye.mutiny.subscription.MultiEmitter;
import io.vertx.core.Vertx;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * eventpaths links, through the library's own client ({@link LinkClient}, as {@code Links} uses
 * it), to the packaged echo app: services {@code sink} and {@code echo}. Events are made as
 * {@link Event} objects and encoded and decoded by the library on both sides.
 */
final class LinksPeer implements Peer {
  private final Vertx vertx = Vertx.vertx();
  private final LinkClient client;

  LinksPeer(URI url, String secret, LinkSettings settings) {
    client = new LinkClient(vertx, settings,
        new LinkMetrics(new SimpleMeterRegistry()), "bench",
        Map.of("echo", new LinkClient.Target("echo", url, secret, null, 4)));
  }

  @Override
  public String name() {
    return "eventpaths links";
  }

  /** {@code n} events, made only as fast as the link asks for them. */
  private static Multi<Event> events(long n) {
    return Multi.createFrom().generator(() -> 0L, (i, emitter) -> {
      if (i >= n) {
        emitter.complete();
        return i;
      }
      emitter.emit(BenchEvents.event(i + 1));
      return i + 1;
    });
  }

  @Override
  public long oneWay(long n) throws Exception {
    CompletableFuture<Long> done = new CompletableFuture<>();
    long[] count = {-1};
    client.open(LinkRequest.to("echo", "sink"), events(n)).subscribe().with(e -> {
      if (e.type().equals("sink.done")) {
        count[0] = e.data().tree().get("count").asLong();
      } else if (e.type().equals(Event.LINK_ERROR)) {
        done.completeExceptionally(new IllegalStateException("link failed: " + e));
      }
    }, done::completeExceptionally, () -> done.complete(count[0]));
    return done.get(Peer.TIMEOUT_SECONDS, TimeUnit.SECONDS);
  }

  @Override
  public long echo(int links, long n) throws Exception {
    List<CompletableFuture<Long>> all = new ArrayList<>();
    for (int l = 0; l < links; l++) {
      long share = n / links + (l < n % links ? 1 : 0);
      CompletableFuture<Long> done = new CompletableFuture<>();
      long[] count = {0};
      client.open(LinkRequest.to("echo", "echo"), events(share)).subscribe().with(e -> {
        if (!e.isControl()) {
          count[0]++;
        } else if (e.type().equals(Event.LINK_ERROR)) {
          done.completeExceptionally(new IllegalStateException("link failed: " + e));
        }
      }, done::completeExceptionally, () -> done.complete(count[0]));
      all.add(done);
    }
    long sum = 0;
    for (CompletableFuture<Long> f : all) {
      sum += f.get(Peer.TIMEOUT_SECONDS, TimeUnit.SECONDS);
    }
    return sum;
  }

  @Override
  public long[] roundTrips(int n) throws Exception {
    long[] took = new long[n];
    AtomicReference<MultiEmitter<? super Event>> out = new AtomicReference<>();
    Multi<Event> requests = Multi.createFrom().<Event>emitter(e -> out.set(e), BackPressureStrategy.BUFFER);
    CompletableFuture<Void> done = new CompletableFuture<>();
    long[] state = {0, 0}; // [round trips done, when the last one was sent]
    client.open(LinkRequest.to("echo", "echo"), requests).subscribe().with(e -> {
      if (e.type().equals(Event.LINK_READY)) {
        state[1] = System.nanoTime();
        out.get().emit(BenchEvents.event(1));
      } else if (!e.isControl()) {
        long now = System.nanoTime();
        int k = (int) state[0]++;
        took[k] = now - state[1];
        if (k + 1 < n) {
          state[1] = System.nanoTime();
          out.get().emit(BenchEvents.event(k + 2));
        } else {
          out.get().complete();
        }
      } else if (e.type().equals(Event.LINK_ERROR)) {
        done.completeExceptionally(new IllegalStateException("link failed: " + e));
      }
    }, done::completeExceptionally, () -> done.complete(null));
    done.get(Peer.TIMEOUT_SECONDS, TimeUnit.SECONDS);
    if (state[0] != n) {
      throw new IllegalStateException("round trips: " + state[0] + " of " + n);
    }
    return took;
  }

  @Override
  public void close() throws Exception {
    client.close();
    vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }
}
