package dev.eventpaths.echo;

import dev.eventpaths.Event;
import dev.eventpaths.EventService;
import dev.eventpaths.HostService;
import dev.eventpaths.LinkContext;
import io.smallrye.mutiny.Multi;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.Map;

/**
 * Reads every event and answers once, when the caller ends its body, with
 * {@code sink.done {"count": n}}. For one-way throughput from caller to service.
 */
@ApplicationScoped
@HostService("sink")
public class Sink implements EventService {
  @Override
  public Multi<Event> apply(Multi<Event> in, LinkContext link) {
    return in.collect().with(java.util.stream.Collectors.counting())
        .map(n -> Event.of("sink.done", Map.of("count", n)))
        .toMulti();
  }
}
