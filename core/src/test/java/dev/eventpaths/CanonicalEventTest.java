package dev.eventpaths;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The decoder's fast path against its general parser (Jackson), as the oracle: whatever the
 * fast path accepts, the general parser accepts as the same event; and what the encoder writes
 * does take the fast path.
 */
class CanonicalEventTest {
  static final ObjectMapper MAPPER = new ObjectMapper();

  @Test
  void everyLineTheEncoderWritesTakesTheFastPathAndDecodesAsTheGeneralParserDoes() throws Exception {
    Random random = new Random(7);
    for (int n = 0; n < 20_000; n++) {
      Event event = randomEvent(random);
      byte[] line = withoutNewline(EventEncoder.encode(event));
      Event fast = CanonicalEvent.parse(line, 0, line.length);
      assertNotNull(fast, () -> "not taken by the fast path: " + new String(line, StandardCharsets.UTF_8));
      assertEquals(EventDecoder.parseAny(line, line.length), fast);
      assertEquals(event, fast);
    }
  }

  @Test
  void theFastPathNeverAcceptsALineTheGeneralParserRefusesOrReadsOtherwise() throws Exception {
    Random random = new Random(Long.getLong("canonical.seed", 11)); // -Dcanonical.seed=N for other cases
    byte[] alphabet = "\"{}[],:\\ \t0123456789eE.-+tfnrulsabxTYPE".getBytes(StandardCharsets.US_ASCII);
    byte[] odd = HexFormat.of().parseHex("001f7f80bfc0c1c2dfe0eded9fa0eff0f4f58fff");
    int accepted = 0;
    int mutants = 0;
    for (int n = 0; n < 4_000; n++) {
      byte[] line = withoutNewline(EventEncoder.encode(randomEvent(random)));
      for (int m = 0; m < 50; m++) {
        byte[] mutant = mutate(line, random, alphabet, odd);
        mutants++;
        Event fast = CanonicalEvent.parse(mutant, 0, mutant.length);
        if (fast == null) {
          continue;
        }
        accepted++;
        try {
          assertEquals(EventDecoder.parseAny(mutant, mutant.length), fast, () -> show(mutant));
        } catch (EventDecoder.BadEventException e) {
          fail("the fast path accepted what the general parser refuses (" + e.getMessage() + "): " + show(mutant));
        }
      }
    }
    // Most mutants are invalid, but enough stay valid to make the comparison mean something.
    assertTrue(accepted > mutants / 20, accepted + " of " + mutants + " mutants accepted");
  }

  /**
   * The decoder finds and parses a whole canonical line in one pass while it is still in the
   * network buffer; every other line goes the general way. Fed as a stream, in buffers cut
   * anywhere, heap (at an offset in a larger array) or direct, lines of every kind must come
   * out exactly as each line does on its own: the same events, the same refusals, in order.
   */
  @Test
  void aStreamOfLinesDecodesAsEachOfItsLinesDoesAlone() throws Exception {
    Random random = new Random(Long.getLong("canonical.seed", 13));
    byte[] alphabet = "\"{}[],:\\ \t0123456789eE.-+tfnrulsabxTYPE".getBytes(StandardCharsets.US_ASCII);
    byte[] odd = HexFormat.of().parseHex("001f7f80bfc0c1c2dfe0eded9fa0eff0f4f58fff");
    int max = 600; // some random events are longer: refused as too large
    java.io.ByteArrayOutputStream stream = new java.io.ByteArrayOutputStream();
    List<String> expected = new ArrayList<>();
    for (int n = 0; n < 6_000; n++) {
      byte[] line = withoutNewline(EventEncoder.encode(randomEvent(random)));
      line = switch (random.nextInt(6)) {
        case 0, 1 -> mutate(line, random, alphabet, odd);
        case 2 -> (" " + new String(line, StandardCharsets.UTF_8) + "\r").getBytes(StandardCharsets.UTF_8);
        default -> line;
      };
      stream.write(line);
      stream.write('\n');
      if (line.length + 1 > max) {
        expected.add("refused event_too_large");
        continue;
      }
      try {
        Event e = EventDecoder.parse(line.clone());
        if (e != null) {
          expected.add(e.toString());
        }
      } catch (EventDecoder.BadEventException e) {
        expected.add("refused " + e.reason());
      }
    }
    byte[] all = stream.toByteArray();
    for (boolean direct : new boolean[] {false, true}) {
      List<String> got = new ArrayList<>();
      EventDecoder decoder = new EventDecoder(max, new EventDecoder.Sink() {
        @Override
        public void event(Event event) {
          got.add(event.toString());
        }

        @Override
        public void refused(String reason, String message, String eventId) {
          got.add("refused " + reason);
        }
      });
      for (int at = 0; at < all.length; ) {
        int n = Math.min(all.length - at, 1 + random.nextInt(random.nextBoolean() ? 64 : 4_096));
        io.netty.buffer.ByteBuf chunk;
        if (direct) {
          chunk = io.netty.buffer.Unpooled.directBuffer(n).writeBytes(all, at, n);
        } else {
          byte[] larger = new byte[n + 20];
          System.arraycopy(all, at, larger, 7, n);
          chunk = io.netty.buffer.Unpooled.wrappedBuffer(larger, 7, n);
        }
        decoder.feed(chunk);
        chunk.release();
        at += n;
      }
      decoder.end();
      assertEquals(expected.size(), got.size(), direct ? "direct buffers" : "heap buffers");
      for (int k = 0; k < expected.size(); k++) {
        assertEquals(expected.get(k), got.get(k), "line " + k + (direct ? ", direct buffers" : ", heap buffers"));
      }
    }
  }

  @Test
  void aKeyLongerThanJacksonTakesIsLeftToTheGeneralParserWhichRefusesIt() throws Exception {
    // Jackson refuses member names over 50,000 chars: a service reading such data would throw.
    byte[] line = ("{\"type\":\"t\",\"data\":{\"" + "k".repeat(50_001) + "\":1}}").getBytes(StandardCharsets.UTF_8);
    assertNull(CanonicalEvent.parse(line, 0, line.length));
    EventDecoder.BadEventException e = assertThrows(EventDecoder.BadEventException.class, () -> EventDecoder.parseAny(line, line.length));
    assertEquals("malformed_event", e.reason());
    byte[] fine = ("{\"type\":\"t\",\"data\":{\"" + "k".repeat(CanonicalEvent.MAX_KEY_BYTES - 2) + "\":1}}").getBytes(StandardCharsets.UTF_8);
    assertNotNull(CanonicalEvent.parse(fine, 0, fine.length), "a long key within the limit stays on the fast path");
    assertEquals(EventDecoder.parseAny(fine, fine.length).data().tree(), CanonicalEvent.parse(fine, 0, fine.length).data().tree());
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "01", "-", "1.", ".5", "+1", "1e", "1e+", "0x10", "NaN", "Infinity", "tru", "nul", "[1,]", "{\"a\":1,}", "{\"a\"}",
      "{\"a\" 1}", "{1:2}", "[", "{", "\"abc", "\"\\x\"", "\"\\u12g4\"", "[1 2]", "{\"a\":1 \"b\":2}", "'s'", "[] []"})
  void invalidDataIsLeftToTheGeneralParserWhichRefusesIt(String data) {
    byte[] line = ("{\"type\":\"t\",\"data\":" + data + "}").getBytes(StandardCharsets.UTF_8);
    assertNull(CanonicalEvent.parse(line, 0, line.length));
    assertThrows(EventDecoder.BadEventException.class, () -> EventDecoder.parseAny(line, line.length));
  }

  @Test
  void bytesThatAreNotUtf8AreLeftToTheGeneralParser() {
    for (String hex : List.of("c0af", "c1bf", "e08080", "eda080", "f08f8080", "f4908080", "f5808080", "80", "c2", "e282")) {
      byte[] bytes = HexFormat.of().parseHex(hex);
      byte[] head = "{\"type\":\"t\",\"data\":\"".getBytes(StandardCharsets.US_ASCII);
      byte[] line = new byte[head.length + bytes.length + 2];
      System.arraycopy(head, 0, line, 0, head.length);
      System.arraycopy(bytes, 0, line, head.length, bytes.length);
      line[line.length - 2] = '"';
      line[line.length - 1] = '}';
      assertNull(CanonicalEvent.parse(line, 0, line.length), hex);
    }
  }

  @Test
  void nestedDataAtEveryDepthDecodesAsTheGeneralParserDoes() throws Exception {
    // objects and arrays mixed, so that each level's kind matters on the way out
    for (int depth = 1; depth <= CanonicalEvent.MAX_DEPTH + 2; depth++) {
      StringBuilder open = new StringBuilder();
      StringBuilder close = new StringBuilder();
      for (int d = 0; d < depth; d++) {
        boolean object = (d * 7 + depth) % 3 != 0;
        open.append(object ? "{\"k\":" : "[1,");
        close.insert(0, object ? ",\"z\":true}" : ",[]]");
      }
      byte[] line = ("{\"type\":\"t\",\"data\":" + open + "\"x\"" + close + "}").getBytes(StandardCharsets.UTF_8);
      Event fast = CanonicalEvent.parse(line, 0, line.length);
      if (depth <= CanonicalEvent.MAX_DEPTH) {
        assertNotNull(fast, "depth " + depth);
        assertEquals(EventDecoder.parseAny(line, line.length), fast, "depth " + depth);
      } else {
        assertNull(fast, "depth " + depth);
      }
      byte[] broken = ("{\"type\":\"t\",\"data\":" + open + "\"x\"" + close.substring(1) + "}")
          .getBytes(StandardCharsets.UTF_8);
      assertNull(CanonicalEvent.parse(broken, 0, broken.length), "a closer missing at depth " + depth);
    }
  }

  @Test
  void dataNullIsNoDataOnBothPaths() throws Exception {
    byte[] line = "{\"type\":\"t\",\"id\":\"a\",\"seq\":0,\"data\":null}".getBytes(StandardCharsets.US_ASCII);
    Event fast = CanonicalEvent.parse(line, 0, line.length);
    assertEquals(new Event("t", "a", 0, null), fast);
    assertEquals(EventDecoder.parseAny(line, line.length), fast);
  }

  @Test
  void otherShapesOfValidEventsAreLeftToTheGeneralParser() throws Exception {
    for (String s : List.of(
        "{\"id\":\"a\",\"type\":\"t\"}", // another order
        "{ \"type\":\"t\"}", // blanks
        "{\"type\":\"t\" ,\"data\":1}",
        "{\"type\":\"t\",\"data\":1 }",
        "{\"type\":\"t\\u0078\"}", // an escape in the envelope
        "{\"type\":\"t\",\"id\":7}", // a number as the id
        "{\"type\":\"t\",\"seq\":12345678901234567890}", // too long to be sure
        "{\"type\":\"t\",\"extra\":1}",
        "{\"type\":\"t\",\"data\":" + "[".repeat(300) + "]".repeat(300) + "}")) {
      byte[] line = s.getBytes(StandardCharsets.UTF_8);
      assertNull(CanonicalEvent.parse(line, 0, line.length), s);
      if (!s.contains("12345678901234567890")) {
        assertNotNull(EventDecoder.parseAny(line, line.length), s); // valid all the same
      }
    }
  }

  static Event randomEvent(Random r) {
    String type = r.nextInt(4) == 0 ? "link.heartbeat" : "t" + r.nextInt(1000) + ".ev_-x";
    String id = r.nextBoolean() ? null : "id-" + Long.toString(r.nextLong() & Long.MAX_VALUE, 36);
    long seq = switch (r.nextInt(3)) {
      case 0 -> 0;
      case 1 -> r.nextInt(10);
      default -> r.nextLong() & 0x7fff_ffff_ffffL;
    };
    Object data = r.nextInt(6) == 0 ? null : randomValue(r, 0);
    // "data": null is no data, on both paths
    return new Event(type, id, seq, data == null || data instanceof com.fasterxml.jackson.databind.node.NullNode ? null : Json.of(data));
  }

  static Object randomValue(Random r, int depth) {
    int kind = r.nextInt(depth > 3 ? 5 : 7);
    return switch (kind) {
      case 0 -> randomString(r);
      case 1 -> r.nextInt(3) == 0 ? r.nextLong() : r.nextInt(1000) - 500;
      case 2 -> r.nextBoolean() ? r.nextDouble() * 1e6 - 5e5 : r.nextDouble() * Math.pow(10, r.nextInt(40) - 20);
      case 3 -> r.nextBoolean();
      case 4 -> com.fasterxml.jackson.databind.node.NullNode.getInstance();
      case 5 -> {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = r.nextInt(5); i > 0; i--) {
          m.put(randomString(r), randomValue(r, depth + 1));
        }
        yield m;
      }
      default -> {
        List<Object> l = new ArrayList<>();
        for (int i = r.nextInt(5); i > 0; i--) {
          l.add(randomValue(r, depth + 1));
        }
        yield l;
      }
    };
  }

  static String randomString(Random r) {
    String[] pieces = {"a", "task", " ", "\"", "\\", "/", "\n", "\t", "\u0001", "\u007f", "é", "日本", "\uD83D\uDE00", "}", "]", ",", ":", "{\"x\":1}"};
    StringBuilder b = new StringBuilder();
    for (int i = r.nextInt(6); i > 0; i--) {
      b.append(pieces[r.nextInt(pieces.length)]);
    }
    return b.toString();
  }

  static byte[] mutate(byte[] line, Random r, byte[] alphabet, byte[] odd) {
    byte[] pool = r.nextInt(4) == 0 ? odd : alphabet;
    byte b = pool[r.nextInt(pool.length)];
    int at = r.nextInt(line.length);
    return switch (r.nextInt(4)) {
      case 0 -> { // replace
        byte[] out = line.clone();
        out[at] = b;
        yield out;
      }
      case 1 -> { // insert
        byte[] out = new byte[line.length + 1];
        System.arraycopy(line, 0, out, 0, at);
        out[at] = b;
        System.arraycopy(line, at, out, at + 1, line.length - at);
        yield out;
      }
      case 2 -> { // delete
        byte[] out = new byte[line.length - 1];
        System.arraycopy(line, 0, out, 0, at);
        System.arraycopy(line, at + 1, out, at, line.length - at - 1);
        yield out;
      }
      default -> { // cut short, keeping the closing brace
        byte[] out = java.util.Arrays.copyOf(line, at + 1);
        out[at] = '}';
        yield out;
      }
    };
  }

  static byte[] withoutNewline(byte[] line) {
    return java.util.Arrays.copyOf(line, line.length - 1);
  }

  static String show(byte[] line) {
    return new String(line, StandardCharsets.UTF_8) + " [" + HexFormat.of().formatHex(line) + "]";
  }
}
