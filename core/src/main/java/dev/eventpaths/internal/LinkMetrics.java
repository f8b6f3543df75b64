package dev.eventpaths.internal;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.FunctionTimer;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * The link meters, tagged by side ({@code server}: links this app serves; {@code client}: links
 * it opened) and service. Names (Prometheus adds {@code _total} etc.):
 *
 * <ul>
 *   <li>{@code eventpaths.links.active} gauge, {@code eventpaths.links.opened} counter
 *   <li>{@code eventpaths.events} and {@code eventpaths.bytes} counters, tag {@code direction}
 *       {@code in|out}
 *   <li>{@code eventpaths.link.errors} counter, tag {@code reason}
 *   <li>{@code eventpaths.backpressure.paused} timer (a count of pauses and their total time):
 *       time writers waited for the network
 *   <li>{@code eventpaths.connections.active} gauge: HTTP/2 connections carrying served links
 * </ul>
 */
public final class LinkMetrics {
  private final MeterRegistry registry;
  private final ConcurrentHashMap<String, Meters> meters = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, Counter> errors = new ConcurrentHashMap<>();
  private final AtomicInteger connections = new AtomicInteger();

  public LinkMetrics(MeterRegistry registry) {
    this.registry = registry == null ? new SimpleMeterRegistry() : registry;
    Gauge.builder("eventpaths.connections.active", connections, AtomicInteger::get)
        .description("HTTP/2 connections carrying links served by this app")
        .register(this.registry);
  }

  public MeterRegistry registry() {
    return registry;
  }

  /** The meters of one side and service. */
  public Meters of(String side, String service) {
    return meters.computeIfAbsent(side + '/' + service, k -> new Meters(side, service));
  }

  /** Counts one {@code link.error} or refusal. */
  public void error(String side, String reason) {
    errors.computeIfAbsent(side + '/' + reason, k -> Counter.builder("eventpaths.link.errors")
        .description("link errors and refusals by reason")
        .tag("side", side).tag("reason", reason).register(registry)).increment();
  }

  public AtomicInteger connections() {
    return connections;
  }

  /**
   * Meters of one side and service.
   *
   * <p>The per-event ones (events, bytes, pauses) count into {@link LongAdder}s that the registry
   * reads when it is scraped ({@code FunctionCounter}, {@code FunctionTimer}), instead of
   * registered counters and a timer: an app's registry is Quarkus' composite one, whose
   * counters and timers hand every increment to each registry inside it, and on the gateway that
   * was 6% of its CPU under load (a JFR profile of the bench's gateway suite, most of it the
   * timer of pauses, recorded at every drain of a busy download).
   */
  public final class Meters {
    public final AtomicInteger active = new AtomicInteger();
    public final Counter opened;
    private final LongAdder eventsIn = new LongAdder();
    private final LongAdder eventsOut = new LongAdder();
    private final LongAdder bytesIn = new LongAdder();
    private final LongAdder bytesOut = new LongAdder();
    private final LongAdder pauses = new LongAdder();
    private final LongAdder pausedNanos = new LongAdder();

    Meters(String side, String service) {
      Gauge.builder("eventpaths.links.active", active, AtomicInteger::get)
          .description("links open now").tag("side", side).tag("service", service).register(registry);
      opened = Counter.builder("eventpaths.links.opened").tag("side", side).tag("service", service).register(registry);
      counter("eventpaths.events", side, service, "in", eventsIn);
      counter("eventpaths.events", side, service, "out", eventsOut);
      counter("eventpaths.bytes", side, service, "in", bytesIn);
      counter("eventpaths.bytes", side, service, "out", bytesOut);
      FunctionTimer.builder("eventpaths.backpressure.paused", this, m -> m.pauses.sum(), m -> m.pausedNanos.sum(),
              TimeUnit.NANOSECONDS)
          .description("time writers waited for the network to drain")
          .tag("side", side).tag("service", service).register(registry);
    }

    private void counter(String name, String side, String service, String direction, LongAdder count) {
      FunctionCounter.builder(name, count, LongAdder::sum)
          .tag("side", side).tag("service", service).tag("direction", direction).register(registry);
    }

    public void paused(long nanos) {
      pauses.increment();
      pausedNanos.add(nanos);
    }

    /** A chunk read from the network: {@code events} decoded from {@code bytes}. */
    public void read(int events, int bytes) {
      if (events > 0) {
        eventsIn.add(events);
      }
      bytesIn.add(bytes);
    }

    /** A buffer written to the network. */
    public void wrote(int events, int bytes) {
      eventsOut.add(events);
      bytesOut.add(bytes);
    }
  }
}
