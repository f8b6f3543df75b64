package dev.eventpaths;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import io.netty.buffer.ByteBuf;
import java.io.IOException;

/**
 * Splits a byte stream into NDJSON lines and parses each into an {@link Event}
 * (docs/PROTOCOL.md, section 1).
 *
 * <p>Memory is bounded: a partial line is held only up to {@code maxEventBytes}; a longer line
 * is reported once as {@code event_too_large} and its bytes are dropped up to the next newline,
 * so one bad line never costs more than the limit. Bad lines are reported to the sink and
 * skipped; decoding continues with the next line.
 *
 * <p>Not thread-safe: one decoder per stream, fed from one thread at a time.
 */
public final class EventDecoder {
  /** Receives what the decoder finds, in stream order. */
  public interface Sink {
    /** A valid event. */
    void event(Event event);

    /**
     * A refused line.
     *
     * @param reason one of {@code malformed_event}, {@code missing_type}, {@code event_too_large}
     * @param eventId the line's {@code id} when it could be read, else {@code null}
     */
    void refused(String reason, String message, String eventId);
  }

  /** A line that is not a valid event. */
  public static final class BadEventException extends Exception {
    private final String reason;
    private final String eventId;

    BadEventException(String reason, String message, String eventId) {
      super(message, null, false, false);
      this.reason = reason;
      this.eventId = eventId;
    }

    public String reason() {
      return reason;
    }

    public String eventId() {
      return eventId;
    }
  }

  /** {@code -Ddev.eventpaths.codec.fast-path=false} sends every line through Jackson (for comparison). */
  private static final boolean CANONICAL = !"false".equals(System.getProperty("dev.eventpaths.codec.fast-path"));

  private final int maxEventBytes;
  private final Sink sink;
  /** A line split across chunks; made when one is (an idle link holds none). */
  private byte[] partial = NONE;
  private static final byte[] NONE = new byte[0];
  private int partialLength;
  private boolean skipping;
  /** Where {@link CanonicalEvent#parseLine} found the newline (one decoder is one thread's at a time). */
  private final int[] newline = new int[1];
  private long bytesSeen;

  /**
   * @param maxEventBytes the longest line accepted, its {@code \n} included
   */
  public EventDecoder(int maxEventBytes, Sink sink) {
    if (maxEventBytes < 16) {
      throw new IllegalArgumentException("maxEventBytes must be at least 16");
    }
    this.maxEventBytes = maxEventBytes;
    this.sink = sink;
  }

  /** Total bytes fed so far. */
  public long bytesSeen() {
    return bytesSeen;
  }

  /** Whether a partial line is waiting for its end. */
  public boolean hasPartialLine() {
    return partialLength > 0 || skipping;
  }

  /** Decodes what {@code chunk} holds between its reader and writer index; does not consume it. */
  public void feed(ByteBuf chunk) {
    int i = chunk.readerIndex();
    int end = chunk.writerIndex();
    bytesSeen += end - i;
    int maxLine = maxEventBytes - 1;
    byte[] array = CANONICAL && chunk.hasArray() ? chunk.array() : null;
    int base = array == null ? 0 : chunk.arrayOffset();
    while (i < end) {
      if (array != null && partialLength == 0 && !skipping) {
        // A whole canonical line in this buffer: found and parsed in one pass (no search for
        // the newline first). Anything else (a line split across buffers, another shape, a
        // bad line) goes the general way below, from the same place.
        int limit = base + Math.min(end, i + maxLine + 1);
        Event e = CanonicalEvent.parseLine(array, base + i, limit, newline);
        if (e != null) {
          sink.event(e);
          i = newline[0] - base + 1;
          continue;
        }
      }
      int nl = chunk.indexOf(i, end, (byte) '\n');
      int stop = nl < 0 ? end : nl;
      int n = stop - i;
      if (skipping) {
        // dropping the rest of an oversize line
      } else if (partialLength + n > maxLine) {
        skipping = true;
        partialLength = 0;
        sink.refused("event_too_large", "event larger than " + maxEventBytes + " bytes", null);
      } else if (nl >= 0 && partialLength == 0) {
        byte[] line = new byte[n];
        chunk.getBytes(i, line);
        line(line);
      } else {
        ensure(partialLength + n);
        chunk.getBytes(i, partial, partialLength, n);
        partialLength += n;
        if (nl >= 0) {
          byte[] line = java.util.Arrays.copyOf(partial, partialLength);
          partialLength = 0;
          if (partial.length > 4096) {
            partial = NONE; // give back what one big event took
          }
          line(line);
        }
      }
      if (nl < 0) {
        break;
      }
      skipping = false;
      i = nl + 1;
    }
  }

  /**
   * Ends the stream: a last line without {@code \n} is decoded as an event (NDJSON allows it).
   */
  public void end() {
    if (partialLength > 0 && !skipping) {
      byte[] line = java.util.Arrays.copyOf(partial, partialLength);
      partialLength = 0;
      line(line);
    }
    skipping = false;
  }

  private void ensure(int capacity) {
    if (capacity > partial.length) {
      partial = java.util.Arrays.copyOf(partial, Math.min(maxEventBytes, Math.max(Math.max(capacity, 256), partial.length * 2)));
    }
  }

  private void line(byte[] line) {
    try {
      Event e = parse(line);
      if (e != null) {
        sink.event(e);
      }
    } catch (BadEventException bad) {
      sink.refused(bad.reason(), bad.getMessage(), bad.eventId());
    }
  }

  /**
   * Parses one line (without its {@code \n}). The array becomes the event's payload storage:
   * the caller must not change it afterwards.
   *
   * @return the event, or {@code null} for a blank line
   */
  public static Event parse(byte[] line) throws BadEventException {
    int len = line.length;
    while (len > 0 && isWhitespace(line[len - 1])) {
      len--;
    }
    int start = 0;
    while (start < len && isWhitespace(line[start])) {
      start++;
    }
    if (start == len) {
      return null;
    }
    Event canonical = CANONICAL ? CanonicalEvent.parse(line, start, len) : null;
    return canonical != null ? canonical : parseAny(line, len);
  }

  /**
   * Parses any line (trimmed to {@code len}, not blank) through Jackson: every field order,
   * blanks, escapes, and the reasons for refusing what is not an event.
   */
  static Event parseAny(byte[] line, int len) throws BadEventException {
    // Before Jackson, which lets overlong forms, encoded surrogates and code points past
    // U+10FFFF through (a relay would forward them byte for byte). The fast path checks its
    // strings as it reads them and hands such lines here, so each line is checked once.
    int bad = CanonicalEvent.invalidUtf8(line, 0, len);
    if (bad >= 0) {
      throw new BadEventException("malformed_event", "invalid UTF-8 at byte " + bad, null);
    }
    String type = null;
    String id = null;
    long seq = 0;
    Json data = null;
    String problem = null;
    try (JsonParser p = Json.FACTORY.createParser(line, 0, len)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        throw new BadEventException("malformed_event", "an event must be a JSON object", null);
      }
      JsonToken t = p.nextToken();
      while (t == JsonToken.FIELD_NAME) {
        String name = p.currentName();
        JsonToken v = p.nextToken();
        switch (name) {
          case "type" -> {
            if (v == JsonToken.VALUE_STRING) {
              type = p.getText();
            } else {
              problem = "type must be a string";
              p.skipChildren();
            }
          }
          case "id" -> {
            if (v == JsonToken.VALUE_STRING) {
              id = p.getText();
            } else if (v == JsonToken.VALUE_NUMBER_INT) {
              id = p.getText();
            } else if (v != JsonToken.VALUE_NULL) {
              problem = "id must be a string";
              p.skipChildren();
            }
          }
          case "seq" -> {
            if (v == JsonToken.VALUE_NUMBER_INT && p.getNumberType() != JsonParser.NumberType.BIG_INTEGER
                && p.getLongValue() >= 0) {
              seq = p.getLongValue();
            } else if (v != JsonToken.VALUE_NULL) {
              problem = "seq must be a non-negative integer";
              p.skipChildren();
            }
          }
          case "data" -> {
            int from = (int) p.currentTokenLocation().getByteOffset();
            p.skipChildren();
            t = p.nextToken(); // the data's text ends where the next token starts, less "," and blanks
            int to = valueEnd(line, (int) p.currentTokenLocation().getByteOffset());
            if (v != JsonToken.VALUE_NULL) {
              data = Json.trusted(line, from, to - from);
            }
            continue;
          }
          default -> p.skipChildren();
        }
        t = p.nextToken();
      }
      if (t != JsonToken.END_OBJECT) {
        throw new BadEventException("malformed_event", "unterminated event object", id);
      }
      if (p.nextToken() != null) {
        throw new BadEventException("malformed_event", "text after the event object", id);
      }
    } catch (JsonProcessingException e) {
      throw new BadEventException("malformed_event", "invalid JSON: " + e.getOriginalMessage(), id);
    } catch (IOException e) {
      throw new BadEventException("malformed_event", "unreadable event: " + e.getMessage(), id);
    }
    if (id != null && (id.isEmpty() || id.length() > Event.MAX_NAME_LENGTH)) {
      throw new BadEventException("malformed_event", "id must be 1-" + Event.MAX_NAME_LENGTH + " chars", null);
    }
    if (problem != null) {
      throw new BadEventException(problem.startsWith("type") ? "missing_type" : "malformed_event", problem, id);
    }
    if (type == null) {
      throw new BadEventException("missing_type", "an event needs a \"type\"", id);
    }
    if (!Event.isValidType(type)) {
      throw new BadEventException("missing_type", "invalid type name (1-128 of A-Z a-z 0-9 _ - .)", id);
    }
    return new Event(type, id, seq, data);
  }

  /** The end of a value that is followed, after whitespace and maybe a comma, by {@code next}. */
  private static int valueEnd(byte[] line, int next) {
    int i = next;
    while (i > 0 && isWhitespace(line[i - 1])) {
      i--;
    }
    if (i > 0 && line[i - 1] == ',') {
      i--;
      while (i > 0 && isWhitespace(line[i - 1])) {
        i--;
      }
    }
    return i;
  }

  private static boolean isWhitespace(byte b) {
    return b == ' ' || b == '\t' || b == '\r' || b == '\n';
  }
}
