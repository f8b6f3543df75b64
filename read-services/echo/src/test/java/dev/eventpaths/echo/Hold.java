package dev.eventpaths.echo;

import dev.eventpaths.Event;
import dev.eventpaths.EventService;
import dev.eventpaths.HostService;
import dev.eventpaths.LinkContext;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A test service that reads its input only when the test says so: it subscribes to its input
 * with no demand and hands the subscriber to the test. Its output stays open until the input
 * ends, then reports how many events it got.
 */
@ApplicationScoped
@HostService("hold")
public class Hold implements EventService {
  static final AtomicReference<CompletableFuture<AssertSubscriber<Event>>> NEXT = new AtomicReference<>();

  @Override
  public Multi<Event> apply(Multi<Event> in, LinkContext link) {
    AssertSubscriber<Event> reader = AssertSubscriber.create(0);
    in.subscribe().withSubscriber(reader);
    CompletableFuture<AssertSubscriber<Event>> f = NEXT.get();
    if (f != null) {
      f.complete(reader);
    }
    return Multi.createFrom().emitter(e -> { /* never emits: the link lives until cancelled */ });
  }
}
