package dev.eventpaths.gateway;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Gateway meters (beside the library's link meters, which count guest links under
 * {@code side="guest"}): guests issued, pairs waiting and paired, refusals by reason, refused
 * events by reason, link errors by reason.
 */
@ApplicationScoped
public class GatewayMetrics {
  private final MeterRegistry registry;
  private final Counter guestsIssued;
  private final Counter pairings;
  private final AtomicInteger pairsWaiting = new AtomicInteger();
  private final ConcurrentHashMap<String, Counter> counters = new ConcurrentHashMap<>();

  @Inject
  public GatewayMetrics(MeterRegistry registry) {
    this.registry = registry;
    guestsIssued = Counter.builder("eventpaths.gateway.guests.issued").register(registry);
    pairings = Counter.builder("eventpaths.gateway.pairings").description("uploads and downloads paired").register(registry);
    Gauge.builder("eventpaths.gateway.pairs.waiting", pairsWaiting, AtomicInteger::get)
        .description("uploads or downloads waiting for their other half").register(registry);
  }

  void waiting(int delta) {
    pairsWaiting.addAndGet(delta);
  }

  /** Halves waiting for their other half now (the gauge's value). */
  int waiting() {
    return pairsWaiting.get();
  }

  void guestIssued() {
    guestsIssued.increment();
  }

  void paired() {
    pairings.increment();
  }

  void refusal(String reason) {
    count("eventpaths.gateway.refusals", reason);
  }

  void refusedEvent(String reason) {
    count("eventpaths.gateway.events.refused", reason);
  }

  void linkError(String reason) {
    count("eventpaths.gateway.link.errors", reason);
  }

  /** A connection closed for not sending its preface or a header block in time, by stage. */
  void handshakeTimeout(String stage) {
    counters.computeIfAbsent("eventpaths.gateway.handshake.timeouts/" + stage, k -> Counter.builder(
        "eventpaths.gateway.handshake.timeouts").description("connections closed by gateway.handshake-timeout, by stage")
        .tag("stage", stage).register(registry)).increment();
  }

  double handshakeTimeouts(String stage) {
    Counter c = counters.get("eventpaths.gateway.handshake.timeouts/" + stage);
    return c == null ? 0 : c.count();
  }

  /** A request on the plain HTTP port, by what was done with it (redirected, challenge_served, ...). */
  void plainRequest(String outcome) {
    counters.computeIfAbsent("eventpaths.gateway.plain.requests/" + outcome, k -> Counter.builder("eventpaths.gateway.plain.requests")
        .description("requests on the plain HTTP port, by outcome").tag("outcome", outcome).register(registry)).increment();
  }

  double plainRequests(String outcome) {
    Counter c = counters.get("eventpaths.gateway.plain.requests/" + outcome);
    return c == null ? 0 : c.count();
  }

  double refusals(String reason) {
    Counter c = counters.get("eventpaths.gateway.refusals/" + reason);
    return c == null ? 0 : c.count();
  }

  private void count(String name, String reason) {
    counters.computeIfAbsent(name + "/" + reason, k -> Counter.builder(name).tag("reason", reason).register(registry))
        .increment();
  }
}
