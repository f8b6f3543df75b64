package dev.eventpaths;

import static java.nio.charset.StandardCharsets.US_ASCII;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * The decoder's fast path: a line in the exact shape the encoders write,
 * {@code {"type":"…","id":"…","seq":N,"data":…}} (id, seq and data each optional, in that
 * order, no blanks between them; docs/PROTOCOL.md, section 1), parsed by one pass over its
 * bytes instead of through a Jackson parser.
 *
 * <p>It only ever says yes to what the general parser ({@link EventDecoder#parse}) accepts, and
 * then to the same event: anything it is not sure of (another field order, blanks, escapes in
 * the envelope's strings, a number it would have to think about, very deep data, bytes that
 * are not valid UTF-8) it hands back with {@code null}, and the general parser decides, errors
 * and their messages included. The payload is still validated in full: a host service or a
 * guest never gets an event whose {@code data} is not one JSON value.
 *
 * <p>Why: for small events the per-line cost of a Jackson parser (its context, buffers and
 * symbol table) was most of a relay's decoding time, and every line of every link is decoded.
 */
final class CanonicalEvent {
  private static final byte[] TYPE = "{\"type\":\"".getBytes(US_ASCII);
  private static final byte[] ID = ",\"id\":\"".getBytes(US_ASCII);
  private static final byte[] SEQ = ",\"seq\":".getBytes(US_ASCII);
  private static final byte[] DATA = ",\"data\":".getBytes(US_ASCII);
  /** Deeper data goes to the general parser (Jackson's own limit is 1,000 levels). */
  static final int MAX_DEPTH = 256;
  /** Longer numbers go to the general parser (Jackson's own limit is 1,000 characters). */
  static final int MAX_NUMBER_LENGTH = 100;
  /**
   * Longer member names (in bytes) go to the general parser: Jackson refuses names over
   * 50,000 characters (StreamReadConstraints), and a service reading the data with Jackson
   * would fail on one this parser had let through.
   */
  static final int MAX_KEY_BYTES = 4096;

  private CanonicalEvent() {}

  /**
   * The event on {@code line[start, end)} (blanks around it already trimmed), or {@code null}
   * when the line is not in the canonical shape (it may still be a valid event). Its data is
   * kept in {@code line}, which the caller must not change afterwards.
   */
  static Event parse(byte[] line, int start, int end) {
    if (end - start < TYPE.length + 2 || line[end - 1] != '}') {
      return null;
    }
    return parse(line, start, end, end - 1, null);
  }

  /**
   * The event whose canonical line starts at {@code b[start]} and ends, {@code \n} included,
   * before {@code limit}: found and parsed in one pass over bytes still in a network buffer
   * (the decoder otherwise looks for the newline first, then parses the line: two passes).
   * Returns {@code null} when there is no such line there (it may be longer, split across
   * buffers or in another shape); otherwise {@code newline[0]} is the index of its {@code \n}.
   * The event's data is copied out of {@code b}.
   */
  static Event parseLine(byte[] b, int start, int limit, int[] newline) {
    return parse(b, start, limit, -1, newline);
  }

  /**
   * The one parser behind both. {@code close} is where the closing brace must be; or -1 for
   * "wherever the envelope ends, if a newline follows it", and then the newline's index goes
   * to {@code newline[0]} and the data is copied out of {@code line}.
   */
  private static Event parse(byte[] line, int start, int end, int close, int[] newline) {
    if (!startsWith(line, start, end, TYPE)) {
      return null;
    }
    int i = start + TYPE.length;
    int typeEnd = plainString(line, i, end);
    if (typeEnd < 0) {
      return null;
    }
    String type = typeName(line, i, typeEnd);
    if (type == null) {
      return null;
    }
    i = typeEnd + 1;
    String id = null;
    if (startsWith(line, i, end, ID)) {
      i += ID.length;
      int idEnd = plainString(line, i, end);
      if (idEnd < 0 || idEnd == i || idEnd - i > Event.MAX_NAME_LENGTH) {
        return null;
      }
      id = ascii(line, i, idEnd);
      i = idEnd + 1;
    }
    long seq = 0;
    if (startsWith(line, i, end, SEQ)) {
      i += SEQ.length;
      int from = i;
      if (i < end && line[i] == '0') {
        i++;
      } else {
        while (i < end && isDigit(line[i]) && i - from < 18) { // 18 digits: no overflow
          seq = seq * 10 + (line[i] - '0');
          i++;
        }
      }
      if (i == from || (i < end && isDigit(line[i]))) {
        return null;
      }
    }
    int dataFrom = -1;
    int dataEnd = -1;
    if (startsWith(line, i, end, DATA)) {
      i += DATA.length;
      int valueEnd = skipValue(line, i, close < 0 ? end : close);
      if (valueEnd < 0) {
        return null;
      }
      if (!(valueEnd - i == 4 && line[i] == 'n')) { // "data":null is no data
        dataFrom = i;
        dataEnd = valueEnd;
      }
      i = valueEnd;
    }
    if (close >= 0 ? i != close : i + 1 >= end || line[i] != '}' || line[i + 1] != '\n') {
      return null;
    }
    Json data = null;
    if (dataFrom >= 0) {
      data = close < 0 ? Json.trusted(Arrays.copyOfRange(line, dataFrom, dataEnd), 0, dataEnd - dataFrom)
          : Json.trusted(line, dataFrom, dataEnd - dataFrom);
    }
    if (close < 0) {
      newline[0] = i + 1;
    }
    return new Event(type, id, seq, data);
  }

  /** Recently seen type names by hash: a service sees a handful of types, each a million times. */
  private static final TypeName[] TYPES = new TypeName[64];

  private record TypeName(byte[] bytes, String name) {}

  /**
   * The type name on {@code line[from, to)} (printable ASCII): the same String as last time
   * when it was seen recently, or {@code null} if it is not a valid type name. The table is
   * shared by all threads without locks: its entries are immutable, a lost update only costs
   * a String.
   */
  private static String typeName(byte[] line, int from, int to) {
    int h = 0;
    for (int k = from; k < to; k++) {
      h = 31 * h + line[k];
    }
    int slot = (h ^ (h >>> 7)) & (TYPES.length - 1);
    TypeName seen = TYPES[slot];
    if (seen != null && Arrays.equals(seen.bytes, 0, seen.bytes.length, line, from, to)) {
      return seen.name;
    }
    String name = ascii(line, from, to);
    if (!Event.isValidType(name)) {
      return null;
    }
    TYPES[slot] = new TypeName(Arrays.copyOfRange(line, from, to), name);
    return name;
  }

  private static boolean startsWith(byte[] b, int i, int end, byte[] prefix) {
    return end - i >= prefix.length && Arrays.equals(b, i, i + prefix.length, prefix, 0, prefix.length);
  }

  /** The index of the closing quote of a string of printable ASCII without escapes, or -1. */
  private static int plainString(byte[] b, int i, int end) {
    for (; i < end; i++) {
      byte c = b[i];
      if (c == '"') {
        return i;
      }
      if (c < 0x20 || c == '\\' || c == 0x7f) { // negative: not ASCII
        return -1;
      }
    }
    return -1;
  }

  @SuppressWarnings("deprecation") // the ASCII-only String constructor: no decoder, no copy to chars
  private static String ascii(byte[] b, int from, int to) {
    return new String(b, 0, from, to - from);
  }

  private static boolean isDigit(byte c) {
    return c >= '0' && c <= '9';
  }

  private static boolean isBlank(byte c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
  }

  /**
   * Skips one JSON value (RFC 8259) that starts exactly at {@code i}. Returns the index just
   * past it, or -1 if there is none there or this method is not sure (see the class comment).
   */
  static int skipValue(byte[] b, int i, int end) {
    // Whether the container at nesting depth d is an object (else an array): bit d of shallow
    // below depth 64, deep[d] beyond (made only for such data: most events are a level or two,
    // and a 256-entry array per event was a measurable share of decoding).
    long shallow = 0;
    boolean[] deep = null;
    int depth = 0;
    while (true) {
      // --- a value at i
      if (i >= end) {
        return -1;
      }
      byte c = b[i];
      boolean opened = false;
      switch (c) {
        case '"' -> i = skipString(b, i + 1, end);
        case '{', '[' -> {
          if (depth == MAX_DEPTH) {
            return -1;
          }
          if (depth < 64) {
            shallow = c == '{' ? shallow | 1L << depth : shallow & ~(1L << depth);
          } else {
            if (deep == null) {
              deep = new boolean[MAX_DEPTH];
            }
            deep[depth] = c == '{';
          }
          depth++;
          i = skipBlanks(b, i + 1, end);
          if (i < end && b[i] == (c == '{' ? '}' : ']')) {
            depth--;
            i++;
          } else {
            opened = true;
          }
        }
        case 't' -> i = literal(b, i, end, "true");
        case 'f' -> i = literal(b, i, end, "false");
        case 'n' -> i = literal(b, i, end, "null");
        default -> i = skipNumber(b, i, end);
      }
      if (i < 0) {
        return -1;
      }
      if (opened && isObject(shallow, deep, depth - 1)) {
        // first member of an object: its key and colon, then the value
        i = key(b, i, end);
        if (i < 0) {
          return -1;
        }
        continue;
      }
      if (opened) {
        continue; // first element of an array
      }
      // --- after a value: a comma (then the next member), a close, or the end
      while (true) {
        if (depth == 0) {
          return i;
        }
        i = skipBlanks(b, i, end);
        if (i >= end) {
          return -1;
        }
        boolean inObject = isObject(shallow, deep, depth - 1);
        if (b[i] == ',') {
          i = skipBlanks(b, i + 1, end);
          if (inObject) {
            i = key(b, i, end);
            if (i < 0) {
              return -1;
            }
          }
          break;
        }
        if (b[i] != (inObject ? '}' : ']')) {
          return -1;
        }
        depth--;
        i++;
      }
    }
  }

  private static boolean isObject(long shallow, boolean[] deep, int depth) {
    return depth < 64 ? (shallow >>> depth & 1) != 0 : deep[depth];
  }

  /** A member's key and its colon at {@code i}: the index of the value after them, or -1. */
  private static int key(byte[] b, int i, int end) {
    if (i >= end || b[i] != '"') {
      return -1;
    }
    int from = i;
    i = skipString(b, i + 1, end);
    if (i < 0 || i - from > MAX_KEY_BYTES) {
      return -1;
    }
    i = skipBlanks(b, i, end);
    if (i >= end || b[i] != ':') {
      return -1;
    }
    return skipBlanks(b, i + 1, end);
  }

  private static int skipBlanks(byte[] b, int i, int end) {
    while (i < end && isBlank(b[i])) {
      i++;
    }
    return i;
  }

  private static int literal(byte[] b, int i, int end, String word) {
    int n = word.length();
    if (end - i < n) {
      return -1;
    }
    for (int k = 0; k < n; k++) {
      if (b[i + k] != word.charAt(k)) {
        return -1;
      }
    }
    return i + n;
  }

  /** {@code -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?} at {@code i}: the index after it, or -1. */
  private static int skipNumber(byte[] b, int i, int end) {
    int from = i;
    if (i < end && b[i] == '-') {
      i++;
    }
    if (i >= end || !isDigit(b[i])) {
      return -1;
    }
    if (b[i] == '0') {
      i++;
      if (i < end && isDigit(b[i])) {
        return -1; // a leading zero
      }
    } else {
      i = digits(b, i, end);
    }
    if (i < end && b[i] == '.') {
      int d = digits(b, i + 1, end);
      if (d == i + 1) {
        return -1;
      }
      i = d;
    }
    if (i < end && (b[i] == 'e' || b[i] == 'E')) {
      i++;
      if (i < end && (b[i] == '+' || b[i] == '-')) {
        i++;
      }
      int d = digits(b, i, end);
      if (d == i) {
        return -1;
      }
      i = d;
    }
    return i - from > MAX_NUMBER_LENGTH ? -1 : i;
  }

  private static int digits(byte[] b, int i, int end) {
    while (i < end && isDigit(b[i])) {
      i++;
    }
    return i;
  }

  /**
   * The rest of a string whose opening quote was just before {@code i}: the index after its
   * closing quote, or -1 if it is not a valid string (control characters, bad escapes, bytes
   * that are not well-formed UTF-8).
   */
  private static int skipString(byte[] b, int i, int end) {
    while (i < end) {
      if (end - i >= 8) {
        long special = special((long) LONGS.get(b, i));
        if (special == 0) {
          i += 8;
          continue;
        }
        i += Long.numberOfTrailingZeros(special) >>> 3; // straight to the first byte that needs a look
      }
      int c = b[i];
      if (c == '"') {
        return i + 1;
      }
      if (c >= 0x20 && c != '\\') {
        i++;
      } else if (c == '\\') {
        if (i + 1 >= end) {
          return -1;
        }
        switch (b[i + 1]) {
          case '"', '\\', '/', 'b', 'f', 'n', 'r', 't' -> i += 2;
          case 'u' -> {
            int u = unicodeEscape(b, i, end);
            if (u < 0 || (u >= 0xdc00 && u <= 0xdfff)) {
              return -1; // a low surrogate alone (Jackson refuses some: not sure)
            }
            i += 6;
            if (u >= 0xd800 && u <= 0xdbff) { // a high surrogate: its low half must follow
              int low = unicodeEscape(b, i, end);
              if (low < 0xdc00 || low > 0xdfff) {
                return -1;
              }
              i += 6;
            }
          }
          default -> {
            return -1;
          }
        }
      } else if (c >= 0) {
        return -1; // a control character
      } else {
        i = utf8(b, i, end);
        if (i < 0) {
          return -1;
        }
      }
    }
    return -1;
  }

  private static final VarHandle LONGS =
      MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
  private static final long ONES = 0x0101010101010101L;
  private static final long HIGH_BITS = 0x8080808080808080L;

  /**
   * The high bits of the bytes of {@code v} (little-endian) that may not stand in a string as
   * they are: a quote, a backslash, below 0x20 or above 0x7f; 0 when all 8 may. Word-at-a-time
   * tests: a byte x is zero iff (x - 1) & ~x has its high bit set, and below n (at most 0x80)
   * iff (x - n) & ~x has. Exact for "any of the 8" and for the lowest flagged byte (no borrow
   * reaches it from below); a borrow may flag a byte above a flagged one, which only makes the
   * caller look at that byte itself.
   */
  private static long special(long v) {
    long quote = v ^ 0x2222222222222222L;
    long backslash = v ^ 0x5c5c5c5c5c5c5c5cL;
    return (((quote - ONES) & ~quote) | ((backslash - ONES) & ~backslash) | ((v - 0x20 * ONES) & ~v) | v) & HIGH_BITS;
  }

  /** The code unit of a backslash-u escape (six bytes) at {@code i}, or -1 if there is none there. */
  private static int unicodeEscape(byte[] b, int i, int end) {
    if (end - i < 6 || b[i] != '\\' || b[i + 1] != 'u') {
      return -1;
    }
    int u = 0;
    for (int k = 2; k < 6; k++) {
      int d = Character.digit(b[i + k], 16);
      if (d < 0) {
        return -1;
      }
      u = u << 4 | d;
    }
    return u;
  }

  /**
   * Where {@code b[from, to)} stops being well-formed UTF-8 (RFC 3629: no overlong forms, no
   * encoded surrogates, nothing past U+10FFFF, no bytes C0, C1 or F5-FF, no truncated or stray
   * continuation bytes): the index of the first byte of the first bad sequence, or -1 when
   * there is none. The same rule as this parser's strings, for the general parser, whose
   * Jackson checks UTF-8 only loosely and passes most of it on byte for byte.
   */
  static int invalidUtf8(byte[] b, int from, int to) {
    int i = from;
    while (i < to) {
      if (to - i >= 8 && ((long) LONGS.get(b, i) & HIGH_BITS) == 0) {
        i += 8; // eight ASCII bytes
        continue;
      }
      if (b[i] >= 0) {
        i++;
        continue;
      }
      int next = utf8(b, i, to);
      if (next < 0) {
        return i;
      }
      i = next;
    }
    return -1;
  }

  /**
   * One well-formed UTF-8 sequence of two to four bytes at {@code i} (RFC 3629: no overlong
   * forms, no surrogates, nothing past U+10FFFF): the index after it, or -1.
   */
  private static int utf8(byte[] b, int i, int end) {
    int c = b[i] & 0xff;
    if (c >= 0xc2 && c <= 0xdf) {
      return cont(b, i + 1, end) ? i + 2 : -1;
    }
    if (c >= 0xe0 && c <= 0xef) {
      if (end - i < 3 || !cont(b, i + 1, end) || !cont(b, i + 2, end)) {
        return -1;
      }
      int c1 = b[i + 1] & 0xff;
      if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 > 0x9f)) {
        return -1; // overlong, or a surrogate
      }
      return i + 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
      if (end - i < 4 || !cont(b, i + 1, end) || !cont(b, i + 2, end) || !cont(b, i + 3, end)) {
        return -1;
      }
      int c1 = b[i + 1] & 0xff;
      if ((c == 0xf0 && c1 < 0x90) || (c == 0xf4 && c1 > 0x8f)) {
        return -1; // overlong, or past U+10FFFF
      }
      return i + 4;
    }
    return -1;
  }

  private static boolean cont(byte[] b, int i, int end) {
    return i < end && (b[i] & 0xc0) == 0x80;
  }
}
