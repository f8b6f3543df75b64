package dev.eventpaths.internal;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The instances a target's host name stands for. On Fly.io {@code <app>.internal} resolves to
 * every running Machine of the app; here, in a hosts file, a name may have several lines. Links
 * are spread over the addresses in turn, and an address that refused a connection is skipped
 * for a while, so a dead instance costs one failed connect, not an outage.
 *
 * <p>Resolution uses the JDK resolver (the system's: hosts file, then DNS), on a worker thread,
 * at most once per {@link #TTL_MILLIS}; when it fails the last good answer is kept. A target
 * given as an IP literal or as {@code localhost} is one instance and is never resolved: the
 * loopback name often has an IPv4 and an IPv6 line while a service listens on one of them.
 */
final class TargetAddresses {
  static final long TTL_MILLIS = 5_000;
  static final long DOWN_MILLIS = 3_000;

  private final Vertx vertx;
  private final String host;
  private final boolean fixed;
  private final Map<String, Long> downUntil = new ConcurrentHashMap<>();
  private volatile List<String> addresses;
  private volatile long resolvedAt;
  private volatile Future<List<String>> resolving;
  private int next;

  TargetAddresses(Vertx vertx, String host) {
    this.vertx = vertx;
    this.host = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
    this.fixed = this.host.equalsIgnoreCase("localhost") || isIpLiteral(this.host);
    this.addresses = fixed ? List.of(this.host) : List.of();
  }

  /** Whether the target is one fixed address (an IP literal or localhost). */
  boolean fixed() {
    return fixed;
  }

  /** Every address of the name now, in a stable order (resolving if the answer is stale). */
  Future<List<String>> all() {
    if (fixed || !addresses.isEmpty() && System.currentTimeMillis() - resolvedAt < TTL_MILLIS) {
      return Future.succeededFuture(addresses);
    }
    Future<List<String>> r = resolving;
    if (r != null) {
      return r;
    }
    Future<List<String>> f = vertx.executeBlocking(() -> {
      try {
        return Arrays.stream(InetAddress.getAllByName(host)).map(InetAddress::getHostAddress).distinct().sorted().toList();
      } catch (UnknownHostException e) {
        if (!addresses.isEmpty()) {
          return addresses; // keep the last good answer through a resolver hiccup
        }
        throw e;
      }
    }, false);
    resolving = f;
    return f.onComplete(ar -> {
      if (ar.succeeded()) {
        addresses = ar.result();
        resolvedAt = System.currentTimeMillis();
      }
      resolving = null;
    });
  }

  /**
   * The address for the next connection: the next in turn that is neither in {@code tried}
   * nor marked down; a down one if nothing else is left; {@code null} when all were tried.
   */
  Future<String> pick(Set<String> tried) {
    return all().map(list -> {
      List<String> candidates = new ArrayList<>();
      for (String a : list) {
        if (!tried.contains(a)) {
          candidates.add(a);
        }
      }
      if (candidates.isEmpty()) {
        return null;
      }
      long now = System.currentTimeMillis();
      List<String> up = candidates.stream().filter(a -> downUntil.getOrDefault(a, 0L) <= now).toList();
      List<String> from = up.isEmpty() ? candidates : up;
      synchronized (this) {
        return from.get(Math.floorMod(next++, from.size()));
      }
    });
  }

  /** A connection to {@code address} failed: prefer the others for a while. */
  void down(String address) {
    downUntil.put(address, System.currentTimeMillis() + DOWN_MILLIS);
    resolvedAt = 0; // the set of instances may have changed: ask again next time
  }

  /** A connection to {@code address} worked. */
  void up(String address) {
    downUntil.remove(address);
  }

  private static boolean isIpLiteral(String h) {
    return h.indexOf(':') >= 0 || h.matches("\\d{1,3}(\\.\\d{1,3}){3}");
  }
}
