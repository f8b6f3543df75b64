package dev.eventpaths.presence;

import com.fasterxml.jackson.databind.JsonNode;
import dev.eventpaths.Event;
import dev.eventpaths.EventService;
import dev.eventpaths.HostService;
import dev.eventpaths.LinkContext;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.smallrye.mutiny.Multi;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * {@code gateway-feed}: a gateway instance reports the guest links it opens and closes (see
 * README, "The gateway feed"). For hosts only: the gateway must never route guests here.
 *
 * <h2>Stream contract</h2>
 *
 * <ul>
 *   <li>Input: {@code guest.link.opened} and {@code guest.link.closed}, applied in order as
 *       they are read; read as fast as they are applied (no queue).
 *   <li>Output: nothing but a non-fatal {@code link.error} for each event it cannot use
 *       ({@code unknown_type}, {@code bad_event}, {@code too_many_entries}), naming the event's
 *       {@code id} when it has one. It completes when the input completes.
 *   <li>When the link ends, however it ends (the gateway ends its body, cancels, dies, goes
 *       idle), every entry this link still owns is dropped, and the boards' viewers see them leave.
 * </ul>
 */
@ApplicationScoped
@HostService("gateway-feed")
public class GatewayFeed implements EventService {
  static final String OPENED = "guest.link.opened";
  static final String CLOSED = "guest.link.closed";
  static final Pattern BOARD_NAME = Pattern.compile("[a-z0-9-]{1,64}");

  @Inject Viewers viewers;
  @Inject PresenceConfig config;
  @Inject MeterRegistry registry;
  private final Map<String, Counter> refused = new ConcurrentHashMap<>();

  @Override
  public Multi<Event> apply(Multi<Event> in, LinkContext link) {
    Viewers.Feed feed = viewers.openFeed();
    return in.onItem().transformToIterable(e -> handle(feed, e))
        .onTermination().invoke(() -> viewers.closeFeed(feed));
  }

  private List<Event> handle(Viewers.Feed feed, Event e) {
    boolean opened = e.type().equals(OPENED);
    if (!opened && !e.type().equals(CLOSED)) {
      return refuse("unknown_type", "gateway-feed takes " + OPENED + " and " + CLOSED + ", not " + e.type(), e);
    }
    JsonNode d = e.data() == null ? null : e.data().tree();
    String gateway = text(d, "gateway", 128);
    String guest = text(d, "guest", 512);
    String service = text(d, "service", 64);
    String linkName = text(d, "link", 128);
    if (gateway == null || guest == null || service == null || linkName == null) {
      return refuse("bad_event", "data needs gateway, guest, service and link (non-empty strings)", e);
    }
    if (!service.equals(config.service())) {
      return List.of(); // not a viewing link: nothing to remember
    }
    Viewers.Key key = new Viewers.Key(gateway, guest, service, linkName);
    if (!opened) {
      viewers.closed(feed, key);
      return List.of();
    }
    JsonNode params = d.get("params");
    String board = params == null ? null : text(params, "board", 64);
    if (board == null || !BOARD_NAME.matcher(board).matches()) {
      return List.of(); // the board service refuses such a link; its guest views nothing
    }
    if (viewers.opened(feed, key, board) == Viewers.Outcome.FULL) {
      return refuse("too_many_entries", "presence holds at most " + config.maxEntries() + " viewer links", e);
    }
    return List.of();
  }

  private List<Event> refuse(String reason, String message, Event e) {
    refused.computeIfAbsent(reason, r -> Counter.builder("presence.feed.refused")
        .description("gateway-feed events not applied, by reason").tag("reason", r).register(registry)).increment();
    return List.of(Event.error(reason, message, false, e.id()));
  }

  private static String text(JsonNode d, String field, int max) {
    JsonNode v = d == null ? null : d.get(field);
    if (v == null || !v.isTextual() || v.asText().isEmpty() || v.asText().length() > max) {
      return null;
    }
    return v.asText();
  }
}
