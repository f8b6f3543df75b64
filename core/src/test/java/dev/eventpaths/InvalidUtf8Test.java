package dev.eventpaths;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.eventpaths.testing.Utf8Corpus;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Text that is not well-formed UTF-8 is refused as {@code malformed_event} wherever it stands
 * in a line and whichever parser reads it (the fast path hands it to the general one, which
 * refuses it): a relay never forwards it. Well-formed text at UTF-8's edges still passes.
 */
class InvalidUtf8Test {
  @Test
  void invalidUtf8AnywhereInALineIsRefusedByBothParsersAsMalformed() {
    int lines = 0;
    for (Map.Entry<String, byte[]> bad : Utf8Corpus.INVALID.entrySet()) {
      List<Utf8Corpus.Line> all = new ArrayList<>(Utf8Corpus.linesWith(bad.getValue()));
      all.add(Utf8Corpus.atLineEnd(bad.getValue()));
      for (Utf8Corpus.Line line : all) {
        String what = bad.getKey() + ", " + line;
        byte[] b = line.bytes();
        assertNull(CanonicalEvent.parse(b, 0, b.length), "fast path, " + what);
        assertRefusedMalformed(() -> EventDecoder.parseAny(b, b.length), "general parser, " + what);
        assertRefusedMalformed(() -> EventDecoder.parse(b.clone()), "decoder, " + what);
        for (boolean direct : new boolean[] {false, true}) {
          List<String> got = decode(b, direct);
          assertEquals(List.of("refused malformed_event"), got, (direct ? "stream (direct), " : "stream (heap), ") + what);
        }
        lines++;
      }
    }
    assertTrue(lines > 200, lines + " lines");
  }

  @Test
  void wellFormedTextAtUtf8sEdgesPassesBothParsersUnchanged() throws Exception {
    for (Map.Entry<String, byte[]> good : Utf8Corpus.VALID.entrySet()) {
      for (Utf8Corpus.Line line : Utf8Corpus.linesWith(good.getValue())) {
        if (line.where().equals("in the type")) {
          continue; // a type is ASCII: refused as missing_type, for another reason
        }
        String what = good.getKey() + ", " + line;
        byte[] b = line.bytes();
        Event general = EventDecoder.parseAny(b, b.length);
        assertNotNull(general, what);
        Event fast = CanonicalEvent.parse(b, 0, b.length);
        if (fast != null) {
          assertEquals(general, fast, what);
        }
        for (boolean direct : new boolean[] {false, true}) {
          assertEquals(List.of(general.toString()), decode(b, direct), what);
        }
        if (general.data() != null) {
          // the bytes come through as they were: nothing replaced or re-encoded
          String text = new String(b, StandardCharsets.UTF_8);
          assertTrue(text.contains(general.data().toString()), what);
        }
      }
      // the fast path reads them itself (it does not hand them to Jackson)
      byte[] canonical = cat("{\"type\":\"t\",\"data\":\"", good.getValue(), "\"}");
      assertNotNull(CanonicalEvent.parse(canonical, 0, canonical.length), good.getKey());
    }
  }

  @Test
  void theCheckSeesABadByteAfterAnyRunOfAscii() {
    // The check skips eight ASCII bytes at a time: a bad byte at every offset of that stride.
    for (int pad = 0; pad < 24; pad++) {
      for (byte[] bad : List.of(new byte[] {(byte) 0xc0, (byte) 0x80}, new byte[] {(byte) 0xff},
          new byte[] {(byte) 0xed, (byte) 0xa0, (byte) 0x80})) {
        byte[] b = cat("{ \"type\":\"t\",\"data\":\"" + "a".repeat(pad), bad, "\"}");
        assertEquals(21 + pad, CanonicalEvent.invalidUtf8(b, 0, b.length), "pad " + pad);
        assertRefusedMalformed(() -> EventDecoder.parseAny(b, b.length), "pad " + pad);
      }
    }
  }

  interface Parse {
    Event run() throws EventDecoder.BadEventException;
  }

  static void assertRefusedMalformed(Parse parse, String what) {
    try {
      Event e = parse.run();
      fail("accepted " + e + ": " + what);
    } catch (EventDecoder.BadEventException e) {
      assertEquals("malformed_event", e.reason(), e.getMessage() + ": " + what);
    }
  }

  /** The line and a newline through a decoder, in a heap buffer (the fast path's) or a direct one. */
  static List<String> decode(byte[] line, boolean direct) {
    List<String> got = new ArrayList<>();
    EventDecoder decoder = new EventDecoder(1024, new EventDecoder.Sink() {
      @Override
      public void event(Event event) {
        got.add(event.toString());
      }

      @Override
      public void refused(String reason, String message, String eventId) {
        got.add("refused " + reason);
      }
    });
    byte[] withNewline = Arrays.copyOf(line, line.length + 1);
    withNewline[line.length] = '\n';
    ByteBuf chunk = direct ? Unpooled.directBuffer().writeBytes(withNewline) : Unpooled.wrappedBuffer(withNewline);
    decoder.feed(chunk);
    chunk.release();
    decoder.end();
    return got;
  }

  static byte[] cat(String head, byte[] middle, String tail) {
    byte[] h = head.getBytes(StandardCharsets.US_ASCII);
    byte[] t = tail.getBytes(StandardCharsets.US_ASCII);
    byte[] out = new byte[h.length + middle.length + t.length];
    System.arraycopy(h, 0, out, 0, h.length);
    System.arraycopy(middle, 0, out, h.length, middle.length);
    System.arraycopy(t, 0, out, h.length + middle.length, t.length);
    return out;
  }
}
