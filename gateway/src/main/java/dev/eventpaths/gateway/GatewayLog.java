package dev.eventpaths.gateway;

import dev.eventpaths.internal.LinkLog;
import jakarta.enterprise.context.ApplicationScoped;
import org.jboss.logging.Logger;

/**
 * The gateway's lines about what it refused and which guest links ended in error: one line
 * each, with the reason, the service and link name and the guest's hash (never its id, which is
 * the guest's credential), budgeted per reason so that a flood of bad requests cannot flood the
 * log ({@link LinkLog}: 10 lines per reason per 10 s, then a count of those left out).
 */
@ApplicationScoped
public class GatewayLog {
  private static final Logger LOG = Logger.getLogger("dev.eventpaths.gateway");
  private final LinkLog lines = new LinkLog(LOG);

  /** A request refused before any stream started, or a connection closed for what it did not send. */
  void refused(String reason, String detail) {
    lines.log(Logger.Level.INFO, "refused/" + reason, null, "refused " + reason + ": " + detail);
  }

  /** A guest request refused: its reason, route and guest. */
  void refused(String reason, String method, String path, String guest, String message) {
    refused(reason, method + " " + LinkLog.quote(path) + ", guest " + (guest == null ? "-" : LinkLog.guest(guest))
        + ": " + message);
  }

  /** The gateway's own failure on a guest link, with its stack trace and the ref the guest was given. */
  void failed(String ref, String service, String link, String guest, Throwable t) {
    lines.log(Logger.Level.ERROR, "failed", t, "guest link failed in the gateway (ref " + ref + "), service " + service
        + ", link " + LinkLog.quote(link) + ", guest " + LinkLog.guest(guest));
  }

  /** A guest link that ended with a fatal {@code link.error} of the gateway's own. */
  void linkError(String reason, String service, String link, String guest, String message) {
    lines.log(Logger.Level.INFO, "link/" + reason, null, "guest link ended: " + reason + ", service " + service
        + ", link " + LinkLog.quote(link) + ", guest " + LinkLog.guest(guest) + ": " + message);
  }
}
