package dev.eventpaths.echo;

import dev.eventpaths.Event;
import dev.eventpaths.EventService;
import dev.eventpaths.HostService;
import dev.eventpaths.LinkContext;
import io.smallrye.mutiny.Multi;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A test service that reports what happened to its streams: how its input ended and whether
 * its output was cancelled. With {@code ?first=n} it ends its output after n answers.
 */
@ApplicationScoped
@HostService("probe")
public class Probe implements EventService {
  static final AtomicReference<CompletableFuture<Throwable>> INPUT_FAILURE = new AtomicReference<>(new CompletableFuture<>());
  static final AtomicReference<CompletableFuture<Boolean>> OUTPUT_CANCELLED = new AtomicReference<>(new CompletableFuture<>());
  static final AtomicReference<CompletableFuture<LinkContext>> CONTEXT = new AtomicReference<>(new CompletableFuture<>());

  static void reset() {
    INPUT_FAILURE.set(new CompletableFuture<>());
    OUTPUT_CANCELLED.set(new CompletableFuture<>());
    CONTEXT.set(new CompletableFuture<>());
  }

  @Override
  public Multi<Event> apply(Multi<Event> in, LinkContext link) {
    CONTEXT.get().complete(link);
    if (link.param("detached") != null) {
      // Output independent of input: reads its input on the side, emits ticks of its own.
      in.subscribe().with(e -> { }, t -> INPUT_FAILURE.get().complete(t), () -> INPUT_FAILURE.get().complete(null));
      return Multi.createFrom().ticks().every(java.time.Duration.ofMillis(50)).map(i -> Event.of("tick"))
          .onCancellation().invoke(() -> OUTPUT_CANCELLED.get().complete(true));
    }
    Multi<Event> out = in.onFailure().invoke(t -> INPUT_FAILURE.get().complete(t))
        .onCompletion().invoke(() -> INPUT_FAILURE.get().complete(null));
    String first = link.param("first");
    if (first != null) {
      out = out.select().first(Long.parseLong(first));
    }
    return out.onCancellation().invoke(() -> OUTPUT_CANCELLED.get().complete(true));
  }
}
