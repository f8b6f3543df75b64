package dev.eventpaths.internal;

import dev.eventpaths.Event;
import dev.eventpaths.LinkRequest;
import io.smallrye.mutiny.Multi;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.Http2Settings;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.net.PemTrustOptions;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.jboss.logging.Logger;

/**
 * Opens links to host services over pooled HTTP/2 connections: one HTTP client per target
 * and event loop (see {@link PoolKey}), whose connections carry many links each.
 *
 * <p>{@code http://} targets use h2c with prior knowledge and {@code https://} targets h2
 * negotiated by ALPN. Never the HTTP/1.1 {@code Upgrade: h2c}: an upgraded exchange is half
 * duplex (the answer waits for the whole request body), which would silently break links.
 */
public final class LinkClient implements AutoCloseable {
  /**
   * One configured target.
   *
   * @param maxConnections most connections to it from one event loop
   * @param streamWait how long a link may wait for a stream on them before it fails with {@code busy}
   * @param maxWaiting most links waiting for a stream at once, per event loop and instance; more
   *     fail with {@code busy} at once
   */
  public record Target(String name, URI url, String secret, String trustCertPem, int maxConnections,
      Duration streamWait, int maxWaiting) {
    public Target {
      if (streamWait.isNegative() || streamWait.isZero()) {
        throw new IllegalArgumentException("target " + name + ": stream-wait must be positive");
      }
      if (maxWaiting < 1) {
        throw new IllegalArgumentException("target " + name + ": max-waiting must be at least 1");
      }
    }

    /** A target with the default stream wait and waiting bound. */
    public Target(String name, URI url, String secret, String trustCertPem, int maxConnections) {
      this(name, url, secret, trustCertPem, maxConnections, DEFAULT_STREAM_WAIT, DEFAULT_MAX_WAITING);
    }
  }

  /**
   * Default wait for a stream: above the 5 s TCP connect timeout, so that a slow connect fails
   * as {@code connect_failed} (and tries another instance) rather than as {@code busy}.
   */
  public static final Duration DEFAULT_STREAM_WAIT = Duration.ofSeconds(10);
  /** Default most links waiting for a stream, per event loop and instance of a target. */
  public static final int DEFAULT_MAX_WAITING = 1000;
  private static final Logger LOG = Logger.getLogger(LinkClient.class);
  /** At most one {@code busy} log line per target this often. */
  private static final long BUSY_LOG_NANOS = TimeUnit.SECONDS.toNanos(30);

  private final Vertx vertx;
  private final LinkSettings settings;
  private final LinkMetrics metrics;
  private final String caller;
  private final Map<String, Target> targets;
  private final Map<PoolKey, HttpClient> clients = new ConcurrentHashMap<>();
  private final Map<String, TargetAddresses> addresses = new ConcurrentHashMap<>();
  private final Map<Instance, Promise<Void>> connecting = new ConcurrentHashMap<>();
  private final Set<Instance> connected = ConcurrentHashMap.newKeySet();
  private final Map<String, AtomicLong> busyLogged = new ConcurrentHashMap<>();

  public LinkClient(Vertx vertx, LinkSettings settings, LinkMetrics metrics, String caller, Map<String, Target> targets) {
    this.vertx = vertx;
    this.settings = settings;
    this.metrics = metrics;
    this.caller = caller;
    this.targets = Map.copyOf(targets);
  }

  /** See {@link dev.eventpaths.Links#open(LinkRequest, Multi)} for the stream contract. */
  public Multi<Event> open(LinkRequest request, Multi<Event> out) {
    Target target = targets.get(request.target());
    if (target == null) {
      return Multi.createFrom().item(() -> {
        metrics.error("client", "unknown_target");
        return Event.error("unknown_target", "no eventpaths.targets." + request.target() + ".url is configured", true, null);
      });
    }
    tls(target); // a bad URL fails here, not at subscription
    TargetAddresses where = addressesOf(target);
    return Multi.createFrom().publisher(s -> {
      // The pool of the thread that subscribes: where the link will run (ClientLink's context).
      PoolKey key = new PoolKey(target.name(), eventLoopOf(io.vertx.core.Vertx.currentContext()));
      HttpClient http = clients.computeIfAbsent(key, k -> create(target));
      new ClientLink(this, http, key, target, where, caller, request, out, settings, metrics).subscribe(s);
    });
  }

  /**
   * Which connections a link may use: those of its target made on the event loop that opens it.
   * A link opened on an event loop (a service answering its own link, the gateway pairing a
   * guest's streams) then runs wholly on that thread: its host stream's bytes are read and
   * written where its events come from and go to, with no hand-off between threads per event.
   * Links opened elsewhere (a worker, a test's thread) share one pool per target.
   */
  record PoolKey(String target, io.netty.channel.EventLoop loop) {}

  /** One instance (address) of a target as one pool reaches it: what {@link #admit} is about. */
  record Instance(PoolKey pool, String address) {}

  private static io.netty.channel.EventLoop eventLoopOf(io.vertx.core.Context ctx) {
    return ctx instanceof io.vertx.core.impl.ContextInternal c && ctx.isEventLoopContext() ? c.nettyEventLoop() : null;
  }

  /** The addresses of a target's instances now (see {@link TargetAddresses}). */
  public Future<List<String>> addresses(String target) {
    Target t = targets.get(target);
    if (t == null) {
      return Future.failedFuture(new IllegalArgumentException("no eventpaths.targets." + target + ".url is configured"));
    }
    return addressesOf(t).all();
  }

  private TargetAddresses addressesOf(Target t) {
    return addresses.computeIfAbsent(t.name(), n -> new TargetAddresses(vertx, t.url().getHost()));
  }

  /** The port links to {@code t} connect to. */
  static int port(Target t) {
    return t.url().getPort() > 0 ? t.url().getPort() : "https".equalsIgnoreCase(t.url().getScheme()) ? 443 : 80;
  }

  Vertx vertx() {
    return vertx;
  }

  /**
   * Lets a link start once its pool has a connection to the instance. While the first one is
   * being made, other links wait for it: otherwise a burst of links would each open a
   * connection before the first one learned the server's stream limit. Completes with
   * {@code true} for the link that should make the connection.
   */
  Future<Boolean> admit(Instance instance) {
    if (connected.contains(instance)) {
      return Future.succeededFuture(false);
    }
    Promise<Void> mine = Promise.promise();
    Promise<Void> first = connecting.putIfAbsent(instance, mine);
    if (first == null) {
      return Future.succeededFuture(true);
    }
    return first.future().transform(ar -> Future.succeededFuture(false));
  }

  /** The connecting link got its stream (or failed): let the others go. */
  void admitted(Instance instance, HttpConnection connection) {
    if (connection != null) {
      connected.add(instance);
      connection.closeHandler(v -> connected.remove(instance));
    }
    Promise<Void> p = connecting.remove(instance);
    if (p != null) {
      p.tryComplete();
    }
  }

  /**
   * A link of {@code t} got no stream in time, or found the waiting line full: one log line per
   * target every 30 s at most (a developer can act on it; a guest cannot).
   */
  void busy(Target t, String why) {
    AtomicLong last = busyLogged.computeIfAbsent(t.name(), n -> new AtomicLong(System.nanoTime() - BUSY_LOG_NANOS));
    long now = System.nanoTime();
    long before = last.get();
    if (now - before >= BUSY_LOG_NANOS && last.compareAndSet(before, now)) {
      LOG.warnf("links to target %s fail with busy: %s. Each event loop holds at most max-connections (%d) x %d "
          + "links to it (fewer if the service's quarkus.http.limits.max-concurrent-streams is lower); raise "
          + "eventpaths.targets.%s.max-connections (eventpaths_link_errors_total{reason=\"busy\"} counts them)",
          t.name(), why, t.maxConnections(), LinkSettings.LINKS_PER_CONNECTION, t.name());
    }
  }

  /** Whether {@code t} is an {@code https://} target; anything but http and https is refused. */
  private static boolean tls(Target t) {
    boolean tls = "https".equalsIgnoreCase(t.url().getScheme());
    if (!tls && !"http".equalsIgnoreCase(t.url().getScheme())) {
      throw new IllegalArgumentException("target " + t.name() + ": url must be http:// or https://, not " + t.url());
    }
    return tls;
  }

  private HttpClient create(Target t) {
    boolean tls = tls(t);
    HttpClientOptions o = new HttpClientOptions()
        .setProtocolVersion(HttpVersion.HTTP_2)
        .setHttp2ClearTextUpgrade(false) // prior knowledge: the upgrade would make links half duplex
        // No more links on a connection than half its window holds stream windows: a server's limit
        // (1,000 for host services) would let stalled links exhaust the connection's window and
        // starve the rest (1,000 stalled guest links starved a new one for seconds).
        .setHttp2MultiplexingLimit(LinkSettings.LINKS_PER_CONNECTION)
        // Each link may leave a stream window of answers unread; the connection's window is two
        // stream windows a link, so links whose readers stopped (each holding at most its stream
        // window) cannot use it up and stall their neighbours on the connection, even with the
        // half of it Netty holds back until it sends a WINDOW_UPDATE (see connectionWindow()).
        // Writers stay bounded by the stream window through StreamWritability.
        .setInitialSettings(new Http2Settings().setInitialWindowSize(settings.streamWindow()))
        .setHttp2ConnectionWindowSize(settings.connectionWindow())
        .setDefaultHost(t.url().getHost())
        .setDefaultPort(port(t))
        .setConnectTimeout(5_000)
        .setTcpNoDelay(true);
    if (tls) {
      o.setSsl(true).setUseAlpn(true);
      if (t.trustCertPem() != null) {
        o.setTrustOptions(new PemTrustOptions().addCertPath(t.trustCertPem()));
      }
    }
    // A link waits for a stream when every connection is at the server's stream limit: in a
    // bounded line (maxWaiting; beyond it a link fails at once) for at most streamWait (set per
    // request, see ClientLink), never unseen and for ever.
    PoolOptions pool = new PoolOptions().setHttp2MaxSize(Math.max(1, t.maxConnections()))
        .setMaxWaitQueueSize(t.maxWaiting());
    // Owned by the Vert.x instance, not by whichever verticle's context happens to create it
    // (links are opened lazily, often on an HTTP server's event loop): Vert.x closes a client
    // with the context it was made on, so as Quarkus undeployed its HTTP verticles on SIGTERM
    // the host links went down (GOAWAY) before the gateway could end its guest links with
    // shutting_down. This client closes with close() or with Vert.x itself.
    if (vertx instanceof io.vertx.core.impl.VertxInternal internal) {
      // As HttpClientBuilder does it, with Vert.x's own close future in place of the current
      // context's: the client's own future (closing the client closes only it) is held by
      // Vert.x's.
      io.vertx.core.impl.CloseFuture own = new io.vertx.core.impl.CloseFuture();
      HttpClient client = internal.createHttpPoolClient(o, pool, own);
      internal.closeFuture().add(own);
      return client.connectionHandler(FlushBatching::install); // once per connection, as it connects
    }
    return vertx.createHttpClient(o, pool).connectionHandler(FlushBatching::install);
  }

  @Override
  public void close() {
    clients.values().forEach(HttpClient::close);
    clients.clear();
  }
}
