package dev.eventpaths.testing;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Byte sequences that are not well-formed UTF-8 (RFC 3629), ones at its edges that are, and
 * the event lines that carry them in each place a line has text: the type, the id, a data
 * string, a data key, and at the end of a line.
 */
public final class Utf8Corpus {
  private Utf8Corpus() {}

  /** Name -> bytes that no valid UTF-8 text contains. */
  public static final Map<String, byte[]> INVALID = new LinkedHashMap<>();
  /** Name -> well-formed edge cases (as bytes), which must pass. */
  public static final Map<String, byte[]> VALID = new LinkedHashMap<>();

  static {
    bad("overlong 2-byte NUL", "c080");
    bad("overlong 2-byte slash", "c0af");
    bad("overlong 2-byte C1", "c1bf");
    bad("overlong 3-byte slash", "e080af");
    bad("overlong 3-byte U+07FF", "e09fbf");
    bad("overlong 4-byte slash", "f08080af");
    bad("overlong 4-byte U+FFFF", "f08fbfbf");
    bad("surrogate U+D800", "eda080");
    bad("surrogate U+DBFF", "edafbf");
    bad("surrogate U+DC00", "edb080");
    bad("surrogate U+DFFF", "edbfbf");
    bad("surrogate pair encoded as two", "eda0bdedb880");
    bad("past U+10FFFF (F4 90)", "f4908080");
    bad("past U+10FFFF (F5)", "f5808080");
    bad("byte F7", "f7bfbfbf");
    bad("byte F8 (5-byte form)", "f888808080");
    bad("byte FC (6-byte form)", "fc8480808080");
    bad("byte FE", "fe");
    bad("byte FF", "ff");
    bad("byte C0 alone", "c0");
    bad("byte C1 alone", "c1");
    bad("lone continuation 80", "80");
    bad("lone continuation BF", "bf");
    bad("continuations after ASCII", "41808182");
    bad("2-byte lead without continuation", "c341");
    bad("3-byte truncated after 1", "e2");
    bad("3-byte truncated after 2", "e282");
    bad("4-byte truncated after 2", "f09f");
    bad("4-byte truncated after 3", "f09f98");
    bad("3-byte lead then ASCII", "e24141");
    good("U+0080", "c280");
    good("U+07FF", "dfbf");
    good("U+0800", "e0a080");
    good("U+D7FF", "ed9fbf");
    good("U+E000", "ee8080");
    good("U+FFFD", "efbfbd");
    good("U+FFFF", "efbfbf");
    good("U+10000", "f0908080");
    good("U+10FFFF", "f48fbfbf");
    good("emoji U+1F600", "f09f9880");
    good("mixed", "41c3a9e282acf09f9880");
  }

  private static void bad(String name, String hex) {
    INVALID.put(name, HexFormat.of().parseHex(hex));
  }

  private static void good(String name, String hex) {
    VALID.put(name, HexFormat.of().parseHex(hex));
  }

  /** One event line (no newline) with {@code text} in one place, and where. */
  public record Line(String where, byte[] bytes) {
    @Override
    public String toString() {
      return where + ": " + HexFormat.of().formatHex(bytes);
    }
  }

  /**
   * {@code text} in every place of an otherwise canonical event line. For truncated forms the
   * ones in a string also stand just before its closing quote, and one line ends with them
   * (no closing quote: a truncation at the line's end).
   */
  public static List<Line> linesWith(byte[] text) {
    List<Line> lines = new ArrayList<>();
    lines.add(new Line("in the type", cat("{\"type\":\"t", text, "x\",\"data\":1}")));
    lines.add(new Line("in the id", cat("{\"type\":\"t\",\"id\":\"i", text, "\",\"data\":1}")));
    lines.add(new Line("in a data string, mid-line", cat("{\"type\":\"t\",\"data\":\"a", text, "b\"}")));
    lines.add(new Line("in a data string, at its end", cat("{\"type\":\"t\",\"data\":\"a", text, "\"}")));
    lines.add(new Line("in a nested data string", cat("{\"type\":\"t\",\"data\":{\"k\":[\"", text, "\"]}}")));
    lines.add(new Line("in a data key", cat("{\"type\":\"t\",\"data\":{\"k", text, "\":1}}")));
    lines.add(new Line("in an unknown field", cat("{\"type\":\"t\",\"x\":\"", text, "\",\"data\":1}")));
    lines.add(new Line("in the data of a non-canonical line", cat("{ \"data\":\"", text, "\", \"type\":\"t\"}")));
    return lines;
  }

  /** Lines that end inside a string with {@code text}, where no valid line ends. */
  public static Line atLineEnd(byte[] text) {
    return new Line("at the line's end", cat("{\"type\":\"t\",\"data\":\"a", text, ""));
  }

  private static byte[] cat(String head, byte[] middle, String tail) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(head.getBytes(StandardCharsets.US_ASCII));
    out.writeBytes(middle);
    out.writeBytes(tail.getBytes(StandardCharsets.US_ASCII));
    return out.toByteArray();
  }
}
