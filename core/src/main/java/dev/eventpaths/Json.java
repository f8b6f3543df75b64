package dev.eventpaths;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * An immutable JSON value kept as its UTF-8 text.
 *
 * <p>Event payloads stay as bytes until someone asks for them: a relay (the gateway, the echo
 * service) moves them without parsing them into objects, and a service that does read them
 * pays for that once, with the Jackson type of its choice.
 */
public final class Json {
  static final ObjectMapper MAPPER = new ObjectMapper();
  static final JsonFactory FACTORY = MAPPER.getFactory();

  /** The JSON {@code null}. */
  public static final Json NULL = new Json("null".getBytes(StandardCharsets.UTF_8), 0, 4);

  /** The empty object {@code {}}. */
  public static final Json EMPTY_OBJECT = new Json("{}".getBytes(StandardCharsets.UTF_8), 0, 2);

  private final byte[] bytes;
  private final int offset;
  private final int length;

  private Json(byte[] bytes, int offset, int length) {
    this.bytes = bytes;
    this.offset = offset;
    this.length = length;
  }

  /**
   * Wraps bytes already known to hold exactly one valid JSON value. The array is shared, not
   * copied: callers must not change it afterwards. Used by the codec, which has just validated
   * the value.
   */
  static Json trusted(byte[] bytes, int offset, int length) {
    return new Json(bytes, offset, length);
  }

  /**
   * Parses and validates JSON text.
   *
   * @throws IllegalArgumentException if the text is not exactly one JSON value
   */
  public static Json parse(String text) {
    byte[] b = text.getBytes(StandardCharsets.UTF_8);
    validate(b);
    return new Json(b, 0, b.length);
  }

  /** Serializes any Jackson-serializable value (a record, a map, a {@link JsonNode}, ...). */
  public static Json of(Object value) {
    if (value instanceof Json j) {
      return j;
    }
    try {
      byte[] b = MAPPER.writeValueAsBytes(value);
      return new Json(b, 0, b.length);
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot serialize " + value.getClass().getName(), e);
    }
  }

  private static void validate(byte[] b) {
    try (JsonParser p = FACTORY.createParser(b)) {
      JsonToken t = p.nextToken();
      if (t == null) {
        throw new IllegalArgumentException("empty JSON text");
      }
      p.skipChildren();
      if (p.nextToken() != null) {
        throw new IllegalArgumentException("more than one JSON value");
      }
    } catch (IOException e) {
      throw new IllegalArgumentException("invalid JSON: " + e.getMessage(), e);
    }
  }

  /** Reads the value as the given type with Jackson's default mapper. */
  public <T> T as(Class<T> type) {
    try {
      return MAPPER.readValue(bytes, offset, length, type);
    } catch (IOException e) {
      throw new IllegalArgumentException("data is not a " + type.getSimpleName() + ": " + e.getMessage(), e);
    }
  }

  /** Reads the value as a Jackson tree. */
  public JsonNode tree() {
    try {
      return MAPPER.readTree(bytes, offset, length);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The number of UTF-8 bytes of the JSON text. */
  public int byteLength() {
    return length;
  }

  /** Copies the UTF-8 text into {@code dst} at {@code at}. */
  public void copyTo(byte[] dst, int at) {
    System.arraycopy(bytes, offset, dst, at, length);
  }

  byte[] array() {
    return bytes;
  }

  int arrayOffset() {
    return offset;
  }

  @Override
  public String toString() {
    return new String(bytes, offset, length, StandardCharsets.UTF_8);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Json j
        && Arrays.equals(bytes, offset, offset + length, j.bytes, j.offset, j.offset + j.length);
  }

  @Override
  public int hashCode() {
    int h = 1;
    for (int i = offset; i < offset + length; i++) {
      h = 31 * h + bytes[i];
    }
    return h;
  }
}
