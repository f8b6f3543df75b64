package dev.eventpaths.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.eventpaths.LinkContext;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import org.jboss.logging.Logger;
import org.junit.jupiter.api.Test;

class LinkLogTest {
  /** A logger of its own, whose records this test keeps. */
  static final class Captured {
    final List<String> lines = new CopyOnWriteArrayList<>();
    final String name = "linklog-test-" + System.nanoTime();
    final Logger logger = Logger.getLogger(name);

    Captured() {
      java.util.logging.Logger jul = java.util.logging.Logger.getLogger(name);
      jul.setUseParentHandlers(false);
      jul.addHandler(new Handler() {
        @Override
        public void publish(LogRecord r) {
          lines.add(r.getMessage());
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
      });
    }
  }

  @Test
  void eachKeyGetsItsLinesPerIntervalAndTheNextIntervalSaysHowManyWereDropped() throws Exception {
    Captured c = new Captured();
    LinkLog log = new LinkLog(c.logger, 3, 200);
    for (int i = 0; i < 10; i++) {
      log.log(Logger.Level.WARN, "noisy", null, "noisy " + i);
    }
    assertTrue(log.log(Logger.Level.WARN, "quiet", null, "quiet 0"), "another key has a budget of its own");
    assertEquals(List.of("noisy 0", "noisy 1", "noisy 2", "quiet 0"), c.lines);
    Thread.sleep(250);
    assertTrue(log.log(Logger.Level.WARN, "noisy", null, "noisy 10"));
    assertEquals("noisy 10 (7 more such lines for noisy were not logged in the last interval)", c.lines.get(4));
    assertTrue(log.log(Logger.Level.WARN, "noisy", null, "noisy 11"));
    assertEquals("noisy 11", c.lines.get(5), "the count is said once");
  }

  @Test
  void aGuestIsNamedByAHashAndItsIdIsNeverInTheLine() {
    String guest = "AbCdEfGhIjKlMnOpQrStUvWx.rest-of-the-guest-id";
    LinkContext link = new LinkContext(guest.substring(0, 22) + "/board", "tasks-read", "gateway", Optional.of(guest), Map.of());
    String line = LinkLog.describe(link);
    assertFalse(line.contains(guest.substring(0, 22)), line);
    String hash = LinkLog.guest(guest);
    assertTrue(hash.matches("g-[0-9a-f]{12}"), hash);
    assertEquals("service tasks-read, link " + hash + "/board, caller gateway, guest " + hash, line);
    assertEquals("guest -", LinkLog.describe(new LinkContext("l-1", "s", "c", Optional.empty(), Map.of())).replaceAll(".*, ", ""));
  }

  @Test
  void aPeersTextCannotBreakTheLine() {
    assertEquals("\"a?b?c\"", LinkLog.quote("a\nb\"c"));
    assertEquals("\"" + "x".repeat(64) + "...\"", LinkLog.quote("x".repeat(100)));
  }
}
