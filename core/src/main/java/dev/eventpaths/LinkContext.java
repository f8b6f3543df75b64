package dev.eventpaths;

import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * What a service knows about one link.
 *
 * @param linkId the link's id (the caller's {@code eventpaths-link} header, or one made up)
 * @param service the service name the link was opened to
 * @param caller the calling app, as it named itself ({@code eventpaths-caller}); authenticated
 *     only in the sense that it holds the link secret
 * @param guestId the guest the link was opened for by the gateway, if any
 * @param params the query parameters of the link request
 */
public record LinkContext(
    String linkId, String service, String caller, Optional<String> guestId, Map<String, String> params) {

  public LinkContext {
    params = Map.copyOf(params);
  }

  /** A query parameter of the link request, or {@code null}. */
  public String param(String name) {
    return params.get(name);
  }

  /**
   * The {@code seq} after which the caller wants events ({@code ?after=}), when it is resuming.
   */
  public OptionalLong resumeAfter() {
    String after = params.get("after");
    if (after == null || after.isEmpty()) {
      return OptionalLong.empty();
    }
    try {
      long v = Long.parseLong(after);
      return v >= 0 ? OptionalLong.of(v) : OptionalLong.empty();
    } catch (NumberFormatException e) {
      return OptionalLong.empty();
    }
  }
}
