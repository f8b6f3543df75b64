package dev.eventpaths.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class LinkSettingsTest {
  @Test
  void aStreamWindowOutsideItsRangeIsRefusedNamingTheRange() {
    for (int bad : new int[] {0, 65_534, LinkSettings.MAX_STREAM_WINDOW + 1}) {
      var e = assertThrows(IllegalArgumentException.class, () -> LinkSettings.DEFAULTS.withStreamWindow(bad));
      assertEquals("stream-window must be 65535-4194304 bytes", e.getMessage());
    }
  }

  @Test
  void theDefaultWindowIsGrpcJavasAndAnotherCanBeChosen() {
    assertEquals(1024 * 1024, LinkSettings.DEFAULTS.streamWindow());
    assertEquals(512 * 1024 * 1024, LinkSettings.DEFAULTS.connectionWindow());
    assertEquals(Integer.MAX_VALUE, LinkSettings.DEFAULTS.withStreamWindow(LinkSettings.MAX_STREAM_WINDOW).connectionWindow());
    assertEquals(64 * 1024, LinkSettings.DEFAULTS.withStreamWindow(64 * 1024).streamWindow());
    assertEquals(LinkSettings.DEFAULTS.batch(), LinkSettings.DEFAULTS.withStreamWindow(64 * 1024).batch());
  }
}
