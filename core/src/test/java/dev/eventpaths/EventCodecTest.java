package dev.eventpaths;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class EventCodecTest {
  final List<Event> events = new ArrayList<>();
  final List<String> refused = new ArrayList<>();
  final EventDecoder decoder = new EventDecoder(1024, new EventDecoder.Sink() {
    @Override
    public void event(Event event) {
      events.add(event);
    }

    @Override
    public void refused(String reason, String message, String eventId) {
      refused.add(reason + (eventId == null ? "" : ":" + eventId));
    }
  });

  void feed(String s) {
    decoder.feed(Unpooled.wrappedBuffer(s.getBytes(StandardCharsets.UTF_8)));
  }

  @ParameterizedTest
  @ValueSource(strings = {"\"a, } b\"", "12.5e3", "-7", "[1,{\"x\":[]}]", "{\"nested\":{\"deep\":\"}\"}}", "true", "\"\\u00e9\\n\""})
  void dataOfEveryJsonKindSurvivesARoundTrip(String data) {
    feed("{\"type\":\"t.x\",\"data\":" + data + " ,\"id\":\"i\"}\n");
    assertEquals(List.of(), refused);
    Event e = events.get(0);
    assertEquals(Json.parse(data).tree(), e.data().tree());
    assertEquals("i", e.id());
    Event again = reparse(e);
    assertEquals(e, again);
  }

  @Test
  void aTypeIsCheckedHoweverOftenItsNameWasSeenValid() {
    String valid = "board.changed";
    for (int i = 0; i < 3; i++) {
      assertEquals(valid, Event.of(valid).type());
      assertEquals(valid, Event.of(new String(valid)).type()); // another instance, checked too
    }
    // Invalid names whose slot in the table of valid ones may hold a valid name of the same hash
    for (String bad : List.of("board changed", "board.changed!", "", "x".repeat(Event.MAX_NAME_LENGTH + 1), "b\u00f6ard")) {
      assertThrows(IllegalArgumentException.class, () -> Event.of(bad), bad);
      assertThrows(IllegalArgumentException.class, () -> Event.of(bad), bad + " (again)");
    }
  }

  @Test
  void aSeqIsWrittenAsItsDecimalDigitsAtEveryLength() {
    List<Long> seqs = new ArrayList<>(List.of(1L, 9L, Long.MAX_VALUE));
    java.util.Random random = new java.util.Random(7);
    for (long p = 10; p > 0 && p <= 1_000_000_000_000_000_000L; p *= 10) {
      seqs.addAll(List.of(p - 1, p, p + 1, p + random.nextInt(1_000)));
    }
    for (int i = 0; i < 10_000; i++) {
      seqs.add(1 + (random.nextLong() >>> 1) % Long.MAX_VALUE);
    }
    for (long seq : seqs) {
      String line = new String(EventEncoder.encode(Event.of("x").withSeq(seq)), StandardCharsets.US_ASCII);
      assertEquals("{\"type\":\"x\",\"seq\":" + seq + "}\n", line);
    }
  }

  @Test
  void eventsSplitAcrossChunksAtEveryByteAreReassembled() {
    String line = "{\"type\":\"a.b\",\"id\":\"x-1\",\"seq\":42,\"data\":{\"text\":\"h\u00e9llo \u2603\"}}\n";
    byte[] bytes = (line + line + line).getBytes(StandardCharsets.UTF_8);
    for (byte b : bytes) {
      decoder.feed(Unpooled.wrappedBuffer(new byte[] {b}));
    }
    assertEquals(3, events.size());
    assertEquals("h\u00e9llo \u2603", events.get(2).data().tree().get("text").asText());
    assertEquals(42, events.get(1).seq());
  }

  @Test
  void anOversizeLineIsRefusedOnceAndTheNextLineDecodes() {
    feed("{\"type\":\"big\",\"data\":\"" + "x".repeat(600));
    feed("x".repeat(600) + "\"}\n{\"type\":\"small\"}\n");
    assertEquals(List.of("event_too_large"), refused);
    assertEquals(1, events.size());
    assertEquals("small", events.get(0).type());
  }

  @Test
  void aLineOfExactlyTheLimitIsAcceptedAndOneMoreByteIsNot() {
    String head = "{\"type\":\"t\",\"data\":\"";
    String tail = "\"}";
    String exact = head + "y".repeat(1023 - head.length() - tail.length()) + tail;
    assertEquals(1023, exact.length());
    feed(exact + "\n");
    feed(head + "y".repeat(1024 - head.length() - tail.length()) + tail + "\n");
    assertEquals(1, events.size());
    assertEquals(List.of("event_too_large"), refused);
  }

  @Test
  void badLinesAreRefusedWithTheirReasonAndIdAndBlankLinesIgnored() {
    feed("nope\n\n  \r\n{\"id\":\"w1\"}\n{\"type\":\"bad type!\"}\n{\"type\":\"x\"} trailing\n{\"type\":\"x\",\"seq\":-1}\n{\"type\":\"ok\"}\r\n");
    assertEquals(List.of("malformed_event", "missing_type:w1", "missing_type", "malformed_event", "malformed_event"), refused);
    assertEquals(1, events.size());
    assertEquals("ok", events.get(0).type());
  }

  @Test
  void aFinalLineWithoutNewlineIsDecodedAtTheEnd() {
    feed("{\"type\":\"last\"}");
    assertEquals(0, events.size());
    decoder.end();
    assertEquals("last", events.get(0).type());
  }

  @Test
  void unknownFieldsAreIgnoredAndDroppedOnReencode() {
    feed("{\"type\":\"x\",\"extra\":{\"a\":[1,2]},\"seq\":3}\n");
    Event e = events.get(0);
    assertEquals("{\"type\":\"x\",\"seq\":3}", e.toString());
  }

  @Test
  void namesWithCharactersThatNeedEscapingAreEncodedAsValidJson() throws Exception {
    Event e = new Event("t", "q\"uo\\te \u2603\n", 0, Json.of(Map.of("k", "v")));
    Event back = EventDecoder.parse(e.toString().getBytes(StandardCharsets.UTF_8));
    assertEquals(e, back);
  }

  @Test
  void invalidEventsCannotBeConstructed() {
    assertThrows(IllegalArgumentException.class, () -> Event.of("has space"));
    assertThrows(IllegalArgumentException.class, () -> Event.of("x").withSeq(-1));
    assertThrows(IllegalArgumentException.class, () -> Json.parse("{"));
    assertThrows(IllegalArgumentException.class, () -> Json.parse("1 2"));
  }

  @Test
  void errorEventsCarryReasonMessageFatalAndEvent() {
    Event e = Event.error("malformed_event", "bad", false, "w-9");
    assertEquals("malformed_event", e.errorReason());
    assertEquals("w-9", e.data().tree().get("event").asText());
    assertTrue(e.isControl());
    assertNull(Event.of("x").errorReason());
  }

  private static Event reparse(Event e) {
    try {
      return EventDecoder.parse(EventEncoder.encode(e));
    } catch (EventDecoder.BadEventException x) {
      throw new AssertionError(x);
    }
  }
}
