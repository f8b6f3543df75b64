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
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Opens links to host services over pooled HTTP/2 connections: one HTTP client per target
 * and event loop (see {@link PoolKey}), whose connections carry many links each.
 *
 * <p>{@code http://} targets use h2c with prior knowledge and {@code https://} targets h2
 * negotiated by ALPN. Never the HTTP/1.1 {@code Upgrade: h2c}: an upgraded exchange is half
 * duplex (the answer waits for the whole request body), which would silently break links.
 */
public final class LinkClient implements AutoCloseable {
  /** One configured target. */
  public record Target(String name, URI url, String secret, String trustCertPem, int maxConnections) {}

  private final Vertx vertx;
  private final LinkSettings settings;
  private final LinkMetrics metrics;
  private final String caller;
  private final Map<String, Target> targets;
  private final Map<PoolKey, HttpClient> clients = new ConcurrentHashMap<>();
  private final Map<String, TargetAddresses> addresses = new ConcurrentHashMap<>();
  private final Map<Instance, Promise<Void>> connecting = new ConcurrentHashMap<>();
  private final Set<Instance> connected = ConcurrentHashMap.newKeySet();

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
        .setHttp2MultiplexingLimit(-1) // as many links per connection as the server allows
        // Each link may leave a stream window (64 KiB by default) of answers unread; the connection's
        // window is far larger, so links whose readers stopped (each holding at most its
        // stream window) cannot use it all up and stall their neighbours on the connection.
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
    PoolOptions pool = new PoolOptions().setHttp2MaxSize(Math.max(1, t.maxConnections()));
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
