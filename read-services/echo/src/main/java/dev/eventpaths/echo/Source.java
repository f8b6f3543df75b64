package dev.eventpaths.echo;

import dev.eventpaths.Event;
import dev.eventpaths.EventService;
import dev.eventpaths.HostService;
import dev.eventpaths.Json;
import dev.eventpaths.LinkContext;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.smallrye.mutiny.Multi;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.util.Arrays;

/**
 * Emits {@code ?n=} events ({@code source.item}, {@code seq} 1..n, a payload of about
 * {@code ?size=} bytes), only as fast as they are requested, then ends. For benchmarks and for
 * proving backpressure: {@code echo.source.emitted} counts what left the producer.
 */
@ApplicationScoped
@HostService("source")
public class Source implements EventService {
  static final long MAX_EVENTS = 100_000_000L;

  private final Counter emitted;

  @Inject
  public Source(MeterRegistry registry) {
    emitted = Counter.builder("echo.source.emitted").description("events emitted by the source service")
        .register(registry);
  }

  @Override
  public Multi<Event> apply(Multi<Event> in, LinkContext link) {
    long n = Math.min(MAX_EVENTS, parse(link.param("n"), 1000));
    int size = (int) Math.max(0, Math.min(60_000, parse(link.param("size"), 100)));
    char[] fill = new char[size];
    Arrays.fill(fill, 'x');
    Json data = Json.of(java.util.Map.of("pad", new String(fill)));
    return Multi.createFrom().generator(() -> 1L, (seq, emitter) -> {
      if (seq > n) {
        emitter.complete();
        return seq;
      }
      emitted.increment();
      emitter.emit(new Event("source.item", null, seq, data));
      return seq + 1;
    });
  }

  private static long parse(String v, long dflt) {
    try {
      return v == null ? dflt : Long.parseLong(v);
    } catch (NumberFormatException e) {
      return dflt;
    }
  }
}
