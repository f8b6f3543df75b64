package dev.eventpaths.internal;

import dev.eventpaths.EventpathsConfig;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

/** What the server and client sides of the library share in one app: settings and meters. */
@ApplicationScoped
public class LinkRuntime {
  private final LinkSettings settings;
  private final LinkMetrics metrics;

  @Inject
  public LinkRuntime(EventpathsConfig config, MeterRegistry registry) {
    var l = config.link();
    this.settings = new LinkSettings(l.maxEventBytes(), l.heartbeat(), l.idleTimeout(), l.batch(), l.maxBadEvents(),
        l.streamWindow());
    this.metrics = new LinkMetrics(registry);
  }

  public LinkSettings settings() {
    return settings;
  }

  public LinkMetrics metrics() {
    return metrics;
  }
}
