package dev.eventpaths;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Where a link goes and what it says about itself: the target app (configured under
 * {@code eventpaths.targets.<target>}), the service in it, and optional link id, guest id and
 * query parameters.
 */
public record LinkRequest(String target, String service, String linkId, String guestId, Map<String, String> params) {
  public LinkRequest {
    Objects.requireNonNull(target, "target");
    Objects.requireNonNull(service, "service");
    params = Map.copyOf(params);
  }

  /** A link to {@code service} in the app configured as {@code target}. */
  public static LinkRequest to(String target, String service) {
    return new LinkRequest(target, service, null, null, Map.of());
  }

  /** This link's id (sent as {@code eventpaths-link}); one is made up if not given. */
  public LinkRequest link(String id) {
    return new LinkRequest(target, service, id, guestId, params);
  }

  /** The guest this link is opened for (the gateway does this). */
  public LinkRequest guest(String id) {
    return new LinkRequest(target, service, linkId, id, params);
  }

  /** Adds a query parameter, given to the service as {@link LinkContext#param}. */
  public LinkRequest param(String name, String value) {
    Map<String, String> p = new LinkedHashMap<>(params);
    p.put(name, value);
    return new LinkRequest(target, service, linkId, guestId, p);
  }

  /** Asks the service to resume after {@code seq} ({@code ?after=}). */
  public LinkRequest after(long seq) {
    return param("after", Long.toString(seq));
  }
}
