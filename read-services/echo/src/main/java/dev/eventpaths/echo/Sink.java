package dev.eventpaths.echo;

import dev.eventpaths.Event;
import dev.eventpaths.EventService;
import dev.eventpaths.HostService;
import dev.eventpaths.LinkContext;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import java.time.Duration;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.Map;

/**
 * Reads every event and answers once, when the caller ends its body, with
 * {@code sink.done {"count": n}}. For one-way throughput from caller to service. With
 * {@code ?delay-ms=d} it reads one event every d milliseconds: a slow consumer, for proving
 * that a caller's producer is held back.
 */
@ApplicationScoped
@HostService("sink")
public class Sink implements EventService {
  @Override
  public Multi<Event> apply(Multi<Event> in, LinkContext link) {
    long delay = parse(link.param("delay-ms"));
    if (delay > 0) {
      Duration d = Duration.ofMillis(Math.min(delay, 60_000));
      in = in.onItem().call(e -> Uni.createFrom().voidItem().onItem().delayIt().by(d));
    }
    return in.collect().with(java.util.stream.Collectors.counting())
        .map(n -> Event.of("sink.done", Map.of("count", n)))
        .toMulti();
  }

  private static long parse(String v) {
    try {
      return v == null ? 0 : Long.parseLong(v);
    } catch (NumberFormatException e) {
      return 0;
    }
  }
}
