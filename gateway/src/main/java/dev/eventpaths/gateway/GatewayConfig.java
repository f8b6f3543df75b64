package dev.eventpaths.gateway;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;

/** The gateway's configuration, under {@code gateway.*}. See gateway/README.md. */
@ConfigMapping(prefix = "gateway")
public interface GatewayConfig {
  /**
   * The key that signs guest ids (at least 32 characters). Every gateway instance needs the
   * same key, or ids issued by one are refused by another. Required in production.
   */
  Optional<String> guestKey();

  /**
   * The host services guests may reach, by public name. Anything not listed is refused:
   * deny by default.
   */
  Map<String, Route> routes();

  /** How long a download waits for its upload (the two requests race). */
  @WithDefault("2s")
  Duration pairingGrace();

  /** How long an upload waits for its download before it is ended. */
  @WithDefault("10s")
  Duration pairingTimeout();

  /**
   * How long a connection may take to send what must come whole: from its accept to the end of
   * its HTTP/2 preface and first SETTINGS (the TLS handshake included) or its HTTP/1.x request
   * head, and then for each header block. A connection that misses it is closed (0 turns it off).
   */
  @WithDefault("10s")
  Duration handshakeTimeout();

  /** Links one guest may hold at once. */
  @WithDefault("16")
  int maxLinksPerGuest();

  /** Guest streams (uploads, downloads) one connection may carry at once. */
  @WithDefault("64")
  int maxStreamsPerConnection();

  /** Events a batched-POST (fallback) link may hold waiting for its host service. */
  @WithDefault("1024")
  int batchQueue();

  /** Largest body of one batched POST. */
  @WithDefault("1048576")
  int maxBatchBytes();

  /**
   * A folder to serve the guest files from instead of the copy packaged in the app (for
   * development: edits show on reload).
   */
  Optional<String> guestDir();

  /**
   * The HTTPS port guests reach from outside, which the plain port's redirects name: 443
   * behind Fly's proxy (omitted from the URL), the app's own HTTPS port when absent (local
   * development, where nothing sits in front of the app).
   */
  Optional<Integer> publicHttpsPort();

  /** ACME HTTP-01 challenges, answered on the plain port. */
  Acme acme();

  /** ACME HTTP-01. */
  interface Acme {
    /**
     * The webroot an ACME client writes its challenge files into (certbot {@code --webroot -w},
     * lego {@code --http.webroot}): {@code GET /.well-known/acme-challenge/<token>} on the
     * plain port serves {@code <dir>/.well-known/acme-challenge/<token>}. None when absent.
     */
    Optional<String> challengeDir();
  }

  /** Where this gateway reports guest links opening and closing (presence-read). */
  Feed feed();

  /** The feed of guest links. */
  interface Feed {
    /** The target ({@code eventpaths.targets.<name>}) to report to; no feed when absent. */
    Optional<String> target();

    /** The service there. */
    @WithDefault("gateway-feed")
    String service();
  }

  /** One reachable host service. */
  interface Route {
    /** The target (an {@code eventpaths.targets.<name>} entry) that runs the service. */
    String target();

    /** The service's name in that app, if not the route's name. */
    Optional<String> service();
  }
}
