package dev.eventpaths;

import io.smallrye.mutiny.Multi;

/**
 * A host service: a function from a stream of events in to a stream of events out.
 *
 * <p>Expose one by declaring a CDI bean that implements this interface and carries
 * {@link HostService @HostService("name")}; the library mounts it at {@code POST /links/name}
 * and calls {@link #apply} once per link.
 *
 * <h2>Stream contract</h2>
 *
 * <ul>
 *   <li><b>Input.</b> {@code in} delivers the caller's events in order, at most as many as
 *       requested: while nothing is requested the library stops reading the network and
 *       HTTP/2 flow control stops the caller. {@code in} may be subscribed at most once.
 *       Heartbeats never appear. A line that is not a valid event never appears either: the
 *       caller gets a non-fatal {@code link.error} for it instead.
 *   <li><b>Input completion.</b> {@code in} completes when the caller ends its request body.
 *       The link stays open: the output may go on (a read service streams live changes).
 *   <li><b>Input failure.</b> {@code in} fails with {@link LinkClosedException} when the link
 *       breaks (peer reset, connection lost, idle timeout), after the events already read.
 *       Right after that, the output subscription is cancelled (if the failure has not
 *       already ended it).
 *   <li><b>Output.</b> The returned stream is subscribed once, on the link's event loop. The
 *       library requests events in bounded batches and only while the network can take them,
 *       so a service must honour demand (Mutiny operators do; an emitter must use a bounded
 *       overflow strategy). Events are written in order; {@code link.*} events are sent as is.
 *   <li><b>Output completion</b> ends the response body: the link is over.
 *   <li><b>Output failure</b> is sent to the caller as a fatal {@code link.error} with reason
 *       {@code service_failed}, then the link ends. {@code apply} throwing counts the same.
 *       The caller is told only the service and a {@code ref}; the exception, with its stack
 *       trace, is logged here under that ref (at most a few lines per service per interval).
 *   <li><b>Cancellation.</b> If the caller cancels or the link breaks, the output subscription
 *       is cancelled; events the service emits after that are dropped.
 * </ul>
 */
@FunctionalInterface
public interface EventService {
  /**
   * Builds the output of one link from its input. Called on the link's event loop: do not
   * block here; return a stream that does its work when subscribed.
   */
  Multi<Event> apply(Multi<Event> in, LinkContext link);
}
