package dev.eventpaths;

/**
 * The link broke before its input ended: the peer cancelled, the connection was lost, or the
 * peer went silent past the idle timeout. {@link #reason()} is the {@code link.error} reason.
 */
public final class LinkClosedException extends RuntimeException {
  private final String reason;

  public LinkClosedException(String reason, String message) {
    super(message, null, false, false);
    this.reason = reason;
  }

  public String reason() {
    return reason;
  }
}
