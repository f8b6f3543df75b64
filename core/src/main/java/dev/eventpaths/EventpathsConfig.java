package dev.eventpaths;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The library's configuration, under {@code eventpaths.*} in application.properties (or
 * environment variables: {@code EVENTPATHS_LINK_SECRET}, ...).
 *
 * <pre>
 * eventpaths.link.secret=...                     # from the environment in production
 * eventpaths.targets.echo.url=http://localhost:8101   # h2c prior knowledge
 * eventpaths.targets.tasks.url=https://tasks.internal:8443  # h2 over TLS (ALPN)
 * </pre>
 */
@ConfigMapping(prefix = "eventpaths")
public interface EventpathsConfig {
  /** How this app names itself to the services it calls; defaults to the application name. */
  @WithDefault("${quarkus.application.name:eventpaths}")
  String caller();

  Link link();

  /** The host services this app calls, by name. */
  Map<String, Target> targets();

  /** Settings of every link this app serves or opens. */
  interface Link {
    /**
     * The host-to-host credential. Clients send it; the server accepts it (or one of
     * {@link #acceptedSecrets()}). Without it every link is refused with 401.
     */
    Optional<String> secret();

    /** More secrets the server accepts, for rotating {@link #secret()} without downtime. */
    Optional<List<String>> acceptedSecrets();

    /** The longest event line accepted, its newline included. */
    @WithDefault("65536")
    int maxEventBytes();

    /** Write a heartbeat after this long without writing anything (keep it well under 60 s). */
    @WithDefault("15s")
    Duration heartbeat();

    /** End a link after this long without hearing from the peer while willing to read. */
    @WithDefault("45s")
    Duration idleTimeout();

    /** How many events a writer requests from its producer at a time. */
    @WithDefault("128")
    int batch();

    /** Refused lines tolerated per link before the link is ended. */
    @WithDefault("16")
    int maxBadEvents();

    /**
     * What the peer of one link may send before this app's reader takes it, in bytes (65535 to
     * 4 MiB; the default 1 MiB is gRPC-java's): the HTTP/2 stream window of the connections
     * this app opens links on, and the window this app grants each link another host service
     * opens to it. Links the gateway opened for a guest keep {@code quarkus.http.initial-window-size}
     * (64 KiB): a guest's input is untrusted. It bounds what a link whose reader stopped holds
     * here; one link's throughput needs a window of about what crosses it while the peer's
     * window update is on its way (docs/PROTOCOL.md, section 4).
     */
    @WithDefault("1048576")
    int streamWindow();
  }

  /** One host service app this app opens links to. */
  interface Target {
    /**
     * {@code http://host:port} for h2c with prior knowledge (private networks), or
     * {@code https://host:port} for h2 over TLS with ALPN.
     */
    URI url();

    /** The credential for this target, if not {@code eventpaths.link.secret}. */
    Optional<String> secret();

    /** PEM file of the CA that signs an {@code https} target's certificate (else the JVM's). */
    Optional<String> trustCertPem();

    /**
     * Most connections to this target from one event loop. The links opened on an event loop
     * share one; another opens only when it carries 256 links (half as many stream windows as
     * its connection window holds) or the server's concurrent-stream limit, whichever is lower. One
     * event loop holds at most this times 256 links (64 x 256 = 16,384 by default: the 10,000
     * guest links of one gateway fit even on one loop).
     */
    @WithDefault("64")
    int maxConnections();

    /**
     * How long a link waits for a stream when all {@link #maxConnections()} are full, before it
     * fails with a fatal {@code link.error} {@code busy} (with a {@code retryAfter} hint).
     */
    @WithDefault("10s")
    Duration streamWait();

    /**
     * Most links waiting for a stream at once, per event loop and instance of the target; more
     * fail with {@code busy} at once (the line is bounded: guests can open many links).
     */
    @WithDefault("1000")
    int maxWaiting();
  }
}
