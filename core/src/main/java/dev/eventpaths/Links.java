package dev.eventpaths;

import dev.eventpaths.internal.LinkClient;
import dev.eventpaths.internal.LinkRuntime;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import java.util.List;
import io.vertx.core.Vertx;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.util.HashMap;
import java.util.Map;

/**
 * Opens host-to-host links: inject it and call {@link #open}.
 *
 * <pre>{@code
 * @Inject Links links;
 *
 * Multi<Event> answers = links.open(LinkRequest.to("echo", "echo"), Multi.createFrom().items(
 *     Event.of("greeting", Map.of("text", "hello"))));
 * }</pre>
 *
 * <p>Targets are configured by name: {@code eventpaths.targets.<name>.url}. All links to one
 * target share pooled HTTP/2 connections.
 */
@ApplicationScoped
public class Links {
  private final LinkClient client;

  @Inject
  public Links(Vertx vertx, EventpathsConfig config, LinkRuntime runtime) {
    Map<String, LinkClient.Target> targets = new HashMap<>();
    config.targets().forEach((name, t) -> targets.put(name, new LinkClient.Target(name, t.url(),
        t.secret().or(() -> config.link().secret()).orElse(null), t.trustCertPem().orElse(null), t.maxConnections(),
        t.streamWait(), t.maxWaiting())));
    this.client = new LinkClient(vertx, runtime.settings(), runtime.metrics(), config.caller(), targets);
  }

  /**
   * Opens a link: {@code out} is sent to the service, and the service's events come back.
   *
   * <h2>Stream contract</h2>
   *
   * <ul>
   *   <li>Lazy: nothing happens until the returned stream is subscribed; each subscription
   *       opens one link (one HTTP/2 stream) and subscribes to {@code out} once the request is
   *       under way.
   *   <li>The first event is the service's {@code link.ready}. Heartbeats never appear.
   *   <li>{@code out} is requested in bounded batches and only while the network can take
   *       more; when it completes, the request body ends (the service's input completes) and
   *       the link stays open until the service ends its output.
   *   <li>The returned stream never fails: a refusal (401, 404, ...), an unreachable target, a
   *       lost connection, an idle peer or a failed service all arrive as one fatal
   *       {@code link.error} event (with {@code reason} and {@code message}), then completion.
   *   <li>Demand on the returned stream is demand on the network: while the subscriber
   *       requests nothing, the link stops reading and HTTP/2 flow control stops the service.
   *   <li>Cancelling the returned stream resets the HTTP/2 stream: the service's input fails
   *       with {@link LinkClosedException} and {@code out}'s subscription is cancelled.
   * </ul>
   */
  public Multi<Event> open(LinkRequest request, Multi<Event> out) {
    return client.open(request, out);
  }

  /**
   * The addresses of the target's instances now (its host name resolved: on Fly.io
   * {@code <app>.internal} names every Machine of the app), for {@link LinkRequest#via}. A
   * target configured as an IP address or {@code localhost} has one.
   */
  public Uni<List<String>> addresses(String target) {
    return Uni.createFrom().completionStage(() -> client.addresses(target).toCompletionStage());
  }

  /** {@code open(LinkRequest.to(target, service), out)}. */
  public Multi<Event> open(String target, String service, Multi<Event> out) {
    return open(LinkRequest.to(target, service), out);
  }

  @PreDestroy
  void close() {
    client.close();
  }
}
