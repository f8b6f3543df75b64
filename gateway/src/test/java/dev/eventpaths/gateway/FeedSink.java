package dev.eventpaths.gateway;

import dev.eventpaths.Event;
import dev.eventpaths.EventService;
import dev.eventpaths.HostService;
import dev.eventpaths.LinkContext;
import io.smallrye.mutiny.Multi;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.concurrent.LinkedBlockingQueue;

/** A test host service that receives the gateway's feed of guest links (what presence-read does). */
@ApplicationScoped
@HostService("gateway-feed")
public class FeedSink implements EventService {
  static final LinkedBlockingQueue<Event> EVENTS = new LinkedBlockingQueue<>();

  @Override
  public Multi<Event> apply(Multi<Event> in, LinkContext link) {
    in.subscribe().with(EVENTS::add, t -> { }, () -> { });
    return Multi.createFrom().nothing();
  }
}
