package dev.eventpaths.gateway;

import io.quarkus.runtime.LaunchMode;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Base64;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.jboss.logging.Logger;

/**
 * Issues and checks guest ids: 128 random bits and a 128-bit HMAC-SHA256 tag over them, both
 * base64url, joined by a dot. Unguessable, and checkable by any gateway instance holding the
 * key, with no shared state.
 */
@ApplicationScoped
public class GuestIds {
  private static final Logger LOG = Logger.getLogger(GuestIds.class);
  private static final Base64.Encoder B64 = Base64.getUrlEncoder().withoutPadding();
  private static final Base64.Decoder B64D = Base64.getUrlDecoder();
  /** 22 + 1 + 22 characters. */
  static final int LENGTH = 45;

  private final SecureRandom random = new SecureRandom();
  private final SecretKeySpec key;
  private final ThreadLocal<Mac> mac;

  @Inject
  public GuestIds(GatewayConfig config) {
    this(config.guestKey().orElse(null));
  }

  /** With the key itself; {@code null} outside production means a random key. */
  GuestIds(String k) {
    if (k == null) {
      if (LaunchMode.current() == LaunchMode.NORMAL) {
        throw new IllegalStateException("gateway.guest-key is not set (GATEWAY_GUEST_KEY): every gateway instance "
            + "needs the same key to accept the guest ids the others issue; set one of 32+ random characters");
      }
      byte[] r = new byte[32];
      random.nextBytes(r);
      k = B64.encodeToString(r);
      LOG.warn("gateway.guest-key is not set: using a random key, so guest ids die with this process");
    }
    if (k.length() < 32) {
      throw new IllegalStateException("gateway.guest-key must be at least 32 characters");
    }
    key = new SecretKeySpec(k.getBytes(StandardCharsets.UTF_8), "HmacSHA256");
    mac = ThreadLocal.withInitial(() -> {
      try {
        Mac m = Mac.getInstance("HmacSHA256");
        m.init(key);
        return m;
      } catch (GeneralSecurityException e) {
        throw new IllegalStateException(e);
      }
    });
  }

  /** A new guest id. */
  public String issue() {
    byte[] id = new byte[16];
    random.nextBytes(id);
    return B64.encodeToString(id) + "." + B64.encodeToString(tag(id));
  }

  /** Whether {@code guest} is an id this gateway (or one sharing its key) issued. */
  public boolean valid(String guest) {
    if (guest == null || guest.length() != LENGTH || guest.charAt(22) != '.') {
      return false;
    }
    try {
      String idPart = guest.substring(0, 22);
      String tagPart = guest.substring(23);
      byte[] id = B64D.decode(idPart);
      byte[] tag = B64D.decode(tagPart);
      // 22 base64url characters carry 132 bits for 128: a decoder ignores the last character's
      // low 4 bits, so 16 spellings of each half would verify. Only the spelling issue() writes
      // is the id (one guest, one count of links, one person in presence).
      return id.length == 16 && canonical(idPart, id) && canonical(tagPart, tag)
          && MessageDigest.isEqual(tag, tag(id));
    } catch (IllegalArgumentException notBase64) {
      return false;
    }
  }

  private static boolean canonical(String text, byte[] decoded) {
    return B64.encodeToString(decoded).equals(text);
  }

  private byte[] tag(byte[] id) {
    return Arrays.copyOf(mac.get().doFinal(id), 16);
  }
}
