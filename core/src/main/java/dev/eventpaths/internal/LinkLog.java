package dev.eventpaths.internal;

import dev.eventpaths.LinkContext;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import org.jboss.logging.Logger;

/**
 * Log lines about links that a developer can act on, without what must not be in a log (a
 * guest's id, which is its credential) and without letting one noisy peer flood it: each key
 * (a service and a kind of line) gets {@code lines} lines per {@code intervalMillis}; past
 * that lines are counted, and the first line of the next interval says how many were dropped.
 */
public final class LinkLog {
  /** Keys past this share one budget: keys are service and target names, a handful. */
  static final int MAX_KEYS = 1024;

  private final Logger log;
  private final int lines;
  private final long intervalNanos;
  private final ConcurrentHashMap<String, Budget> budgets = new ConcurrentHashMap<>();

  public LinkLog(Logger log, int lines, long intervalMillis) {
    this.log = log;
    this.lines = lines;
    this.intervalNanos = intervalMillis * 1_000_000L;
  }

  /** 10 lines per key per 10 s. */
  public LinkLog(Logger log) {
    this(log, 10, 10_000);
  }

  private static final class Budget {
    long start;
    int used;
    long suppressed;
  }

  /**
   * Logs {@code message} (and {@code thrown}'s stack trace, when not null) unless {@code key}
   * has spent its lines for this interval. Returns whether it was logged.
   */
  public boolean log(Logger.Level level, String key, Throwable thrown, String message) {
    if (!log.isEnabled(level)) {
      return false;
    }
    Budget b = budgets.get(key);
    if (b == null) {
      b = budgets.size() < MAX_KEYS ? budgets.computeIfAbsent(key, k -> new Budget())
          : budgets.computeIfAbsent("(other)", k -> new Budget());
    }
    long dropped;
    synchronized (b) {
      long now = System.nanoTime();
      if (b.used == 0 || now - b.start >= intervalNanos) {
        dropped = b.suppressed;
        b.start = now;
        b.used = 0;
        b.suppressed = 0;
      } else {
        dropped = 0;
      }
      if (b.used >= lines) {
        b.suppressed++;
        return false;
      }
      b.used++;
    }
    String line = dropped == 0 ? message
        : message + " (" + dropped + " more such lines for " + key + " were not logged in the last interval)";
    log.log(level, line, thrown);
    return true;
  }

  /**
   * A short random id that ties what a peer is told ({@code link.error}'s {@code ref}) to the
   * log line with the details, which the peer is not told.
   */
  public static String newRef() {
    return HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong()).substring(0, 12);
  }

  /** A guest as logs name it: a hash of its id, never the id (which is its credential), or {@code -}. */
  public static String guest(Optional<String> guestId) {
    return guestId.map(LinkLog::guest).orElse("-");
  }

  /** {@link #guest(Optional)} for an id. */
  public static String guest(String guestId) {
    try {
      byte[] h = MessageDigest.getInstance("SHA-256").digest(guestId.getBytes(StandardCharsets.UTF_8));
      return "g-" + HexFormat.of().formatHex(h, 0, 6);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e); // every JVM has SHA-256
    }
  }

  /**
   * A link's id as logs name it: the gateway names a guest's links after the start of the
   * guest's id ({@code <22 chars of it>/<link>}), which becomes the guest's hash here.
   */
  public static String link(LinkContext link) {
    return link(link.linkId(), link.guestId());
  }

  /** {@link #link(LinkContext)} for a link id and its guest. */
  public static String link(String id, Optional<String> guestId) {
    if (guestId.isPresent()) {
      String g = guestId.get();
      int slash = id.indexOf('/');
      if (slash > 0 && g.startsWith(id.substring(0, slash))) {
        return guest(g) + id.substring(slash);
      }
    }
    return id;
  }

  /**
   * Text a peer chose (an event id), fit for one log line: in quotes, control characters as
   * {@code ?} (no forged lines), at most 64 characters.
   */
  public static String quote(String text) {
    StringBuilder b = new StringBuilder(Math.min(text.length(), 64) + 3).append('"');
    for (int i = 0; i < text.length() && i < 64; i++) {
      char c = text.charAt(i);
      b.append(c < 0x20 || c == 0x7f || c == '"' ? '?' : c);
    }
    return b.append(text.length() > 64 ? "...\"" : "\"").toString();
  }

  /** One line's context: {@code service s, link l, caller c, guest g}. */
  public static String describe(LinkContext link) {
    return "service " + link.service() + ", link " + link(link) + ", caller " + link.caller() + ", guest "
        + guest(link.guestId());
  }
}
