package dev.eventpaths;

import java.util.Map;
import java.util.Objects;

/**
 * One event: the only thing eventpaths services say to each other.
 *
 * <p>On the wire an event is one line of JSON: {@code {"type":..,"id":..,"seq":..,"data":..}}
 * (see docs/PROTOCOL.md). Events are immutable; the {@code with*} methods return copies.
 *
 * @param type dotted name, required; {@code link.*} is reserved for control events
 * @param id unique id of the event, or {@code null}; guests make it for writes so a retried
 *     write is applied once
 * @param seq position in its stream (positive), or {@code 0} when the event has none
 * @param data the payload, or {@code null} when the event has none
 */
public record Event(String type, String id, long seq, Json data) {
  /** Longest allowed {@code type} and {@code id}. */
  public static final int MAX_NAME_LENGTH = 128;

  /** The first event of every link, from the service side: {@code {"link":..,"service":..}}. */
  public static final String LINK_READY = "link.ready";
  /** Sent by each side when it has written nothing for a while; never reaches a service. */
  public static final String LINK_HEARTBEAT = "link.heartbeat";
  /** A failure: {@code {"reason":..,"message":..,"fatal":..,"event":..}}. */
  public static final String LINK_ERROR = "link.error";
  /** A request to resume after a {@code seq}: {@code {"after":..}}. */
  public static final String LINK_RESUME = "link.resume";

  public Event {
    Objects.requireNonNull(type, "type");
    if (!isKnownValidType(type)) {
      throw new IllegalArgumentException("invalid event type: '" + type + "'");
    }
    if (id != null && (id.isEmpty() || id.length() > MAX_NAME_LENGTH)) {
      throw new IllegalArgumentException("event id must be 1-" + MAX_NAME_LENGTH + " chars");
    }
    if (seq < 0) {
      throw new IllegalArgumentException("seq must not be negative");
    }
  }

  /** An event with only a type. */
  public static Event of(String type) {
    return new Event(type, null, 0, null);
  }

  /** An event with a type and a payload serialized with Jackson (see {@link Json#of}). */
  public static Event of(String type, Object data) {
    return new Event(type, null, 0, data == null ? null : Json.of(data));
  }

  /** A {@code link.error} event. */
  public static Event error(String reason, String message, boolean fatal, String eventId) {
    return error(reason, message, fatal, eventId, Map.of());
  }

  /**
   * A {@code link.error} event with more fields in its data, after the usual ones (for example
   * {@code retryAfter} with reason {@code busy}, docs/PROTOCOL.md section 3).
   */
  public static Event error(String reason, String message, boolean fatal, String eventId,
      Map<String, Object> more) {
    java.util.Map<String, Object> d = new java.util.LinkedHashMap<>();
    d.put("reason", reason);
    d.put("message", message);
    d.put("fatal", fatal);
    if (eventId != null) {
      d.put("event", eventId);
    }
    d.putAll(more);
    return new Event(LINK_ERROR, null, 0, Json.of(d));
  }

  /** Whether {@code type} is a valid event type name: 1-128 of {@code A-Z a-z 0-9 _ - .}. */
  public static boolean isValidType(String type) {
    // A loop, not a regex: this runs for every event decoded and made (a regex was a quarter
    // of the decoder's time in profiles).
    if (type == null || type.isEmpty() || type.length() > MAX_NAME_LENGTH) {
      return false;
    }
    for (int i = 0; i < type.length(); i++) {
      char c = type.charAt(i);
      if (c >= TYPE_CHARS.length || !TYPE_CHARS[c]) {
        return false;
      }
    }
    return true;
  }

  /**
   * Type name instances seen valid lately, by hash: a link makes millions of events of a
   * handful of types, mostly with the same String instance (the decoder keeps one per name),
   * and checking it again character by character was 5% of a busy link's event loop. Identity,
   * not equality: a String that is the very instance checked before is valid, and a lost
   * update between threads only costs one more check.
   */
  private static final String[] VALID_TYPES = new String[64];

  private static boolean isKnownValidType(String type) {
    int slot = type.hashCode() & (VALID_TYPES.length - 1);
    if (VALID_TYPES[slot] == type) {
      return true;
    }
    if (!isValidType(type)) {
      return false;
    }
    VALID_TYPES[slot] = type;
    return true;
  }

  /** The characters of a type name, by code: one lookup per character, not six comparisons. */
  private static final boolean[] TYPE_CHARS = new boolean[128];

  static {
    for (char c = 0; c < TYPE_CHARS.length; c++) {
      TYPE_CHARS[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_'
          || c == '-';
    }
  }

  public Event withId(String newId) {
    return new Event(type, newId, seq, data);
  }

  public Event withSeq(long newSeq) {
    return new Event(type, id, newSeq, data);
  }

  public Event withData(Object newData) {
    return new Event(type, id, seq, newData == null ? null : Json.of(newData));
  }

  /** Whether this is one of the reserved {@code link.*} control events. */
  public boolean isControl() {
    return type.startsWith("link.");
  }

  /** For a {@code link.error}, the reason code; otherwise {@code null}. */
  public String errorReason() {
    if (!LINK_ERROR.equals(type) || data == null) {
      return null;
    }
    var node = data.tree().get("reason");
    return node == null ? null : node.asText();
  }

  @Override
  public String toString() {
    return new String(EventEncoder.encode(this), java.nio.charset.StandardCharsets.UTF_8).trim();
  }
}
