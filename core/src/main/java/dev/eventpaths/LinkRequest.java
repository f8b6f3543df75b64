package dev.eventpaths;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Where a link goes and what it says about itself: the target app (configured under
 * {@code eventpaths.targets.<target>}), the service in it, and optional link id, guest id and
 * query parameters.
 */
public record LinkRequest(String target, String service, String linkId, String guestId, Map<String, String> params,
    String address) {
  public LinkRequest {
    Objects.requireNonNull(target, "target");
    Objects.requireNonNull(service, "service");
    params = Map.copyOf(params);
  }

  /** A link to {@code service} in the app configured as {@code target}. */
  public static LinkRequest to(String target, String service) {
    return new LinkRequest(target, service, null, null, Map.of(), null);
  }

  /** This link's id (sent as {@code eventpaths-link}); one is made up if not given. */
  public LinkRequest link(String id) {
    return new LinkRequest(target, service, id, guestId, params, address);
  }

  /** The guest this link is opened for (the gateway does this). */
  public LinkRequest guest(String id) {
    return new LinkRequest(target, service, linkId, id, params, address);
  }

  /** Adds a query parameter, given to the service as {@link LinkContext#param}. */
  public LinkRequest param(String name, String value) {
    Map<String, String> p = new LinkedHashMap<>(params);
    p.put(name, value);
    return new LinkRequest(target, service, linkId, guestId, p, address);
  }

  /**
   * Opens the link to this one address of the target (one of {@link Links#addresses}), with no
   * failover: for a caller that must reach every instance, such as a feed each instance needs.
   * Without it, links are spread over all the addresses of the target's host name, and a link
   * whose address refuses the connection tries the others.
   */
  public LinkRequest via(String instanceAddress) {
    return new LinkRequest(target, service, linkId, guestId, params, instanceAddress);
  }

  /** Asks the service to resume after {@code seq} ({@code ?after=}). */
  public LinkRequest after(long seq) {
    return param("after", Long.toString(seq));
  }
}
