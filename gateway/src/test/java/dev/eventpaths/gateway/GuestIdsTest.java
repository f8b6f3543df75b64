package dev.eventpaths.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class GuestIdsTest {
  private static final String ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  private final GuestIds ids = new GuestIds("k".repeat(32));

  @Test
  void anIssuedIdVerifies() {
    String id = ids.issue();
    assertEquals(GuestIds.LENGTH, id.length());
    assertTrue(ids.valid(id));
  }

  @Test
  void eachHalfHasOneSpellingOnly() {
    for (int n = 0; n < 50; n++) {
      String id = ids.issue();
      for (int at : new int[] {21, 44}) { // the last character of each half
        List<String> verified = new ArrayList<>();
        for (char c : ALPHABET.toCharArray()) {
          String other = id.substring(0, at) + c + id.substring(at + 1);
          if (ids.valid(other)) {
            verified.add(other);
          }
        }
        assertEquals(List.of(id), verified, "spellings of " + id + " that verify, changing character " + at);
      }
    }
  }

  @Test
  void anIdFromAnotherKeyOrMalformedIsRefused() {
    String foreign = new GuestIds("z".repeat(32)).issue();
    assertFalse(ids.valid(foreign));
    assertFalse(ids.valid(null));
    assertFalse(ids.valid(""));
    assertFalse(ids.valid("x".repeat(GuestIds.LENGTH)));
    String id = ids.issue();
    assertFalse(ids.valid(id.replace('.', '_')));
    assertFalse(ids.valid(id.substring(0, 22) + "." + "=".repeat(22)));
  }
}
