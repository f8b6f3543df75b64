package dev.eventpaths.echo;

import dev.eventpaths.Event;
import dev.eventpaths.EventService;
import dev.eventpaths.HostService;
import dev.eventpaths.LinkContext;
import io.smallrye.mutiny.Multi;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * Answers every event with itself, in order. The smallest possible service: demand flows
 * straight through, so a caller that stops reading stops its own writes.
 */
@ApplicationScoped
@HostService("echo")
public class Echo implements EventService {
  @Override
  public Multi<Event> apply(Multi<Event> in, LinkContext link) {
    return in;
  }
}
