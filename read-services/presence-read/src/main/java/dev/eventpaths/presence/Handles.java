package dev.eventpaths.presence;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The name under which a guest appears to other guests: the first 12 hex digits (48 bits) of
 * the SHA-256 of its guest id.
 *
 * <p>Guest ids are credentials (whoever holds one speaks as that guest to the gateway), so they
 * are never shown to anyone else. A hash prefix is stable for the guest's whole session, the
 * same on every presence-read instance, and reveals nothing usable about the id. 48 bits keep
 * accidental collisions out of sight for any realistic board (two guests sharing a handle would
 * show as one viewer with their links added up).
 */
final class Handles {
  static final int HEX_DIGITS = 12;

  private Handles() {}

  static String of(String guestId) {
    try {
      byte[] digest = MessageDigest.getInstance("SHA-256").digest(guestId.getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(digest, 0, HEX_DIGITS / 2);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JVM has SHA-256", e);
    }
  }
}
