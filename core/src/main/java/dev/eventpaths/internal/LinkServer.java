package dev.eventpaths.internal;

import dev.eventpaths.EventService;
import dev.eventpaths.EventpathsConfig;
import dev.eventpaths.HostService;
import dev.eventpaths.LinkContext;
import io.quarkus.arc.InjectableInstance;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpVersion;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Any;
import jakarta.inject.Inject;
import java.lang.annotation.Annotation;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;
import org.jboss.logging.Logger;

/**
 * Mounts every {@link HostService} bean at {@code POST /links/{name}} on the Vert.x router.
 *
 * <p>The route sits on the router rather than in Quarkus REST because a REST method cannot
 * take a streaming request body as a {@code Multi} (quarkus issue 13661), and a full-duplex
 * link needs the body and the response to stream at once.
 */
@ApplicationScoped
public class LinkServer {
  private static final Logger LOG = Logger.getLogger(LinkServer.class);
  static final Pattern SERVICE_NAME = Pattern.compile("[a-z0-9][a-z0-9-]{0,63}");

  @Inject Vertx vertx;
  @Inject EventpathsConfig config;
  @Inject LinkRuntime runtime;
  @Inject @Any InjectableInstance<EventService> beans;

  private final Map<String, EventService> services = new HashMap<>();
  private final Set<ServerLink> open = ConcurrentHashMap.newKeySet();
  private final Map<HttpConnection, AtomicInteger> connections = new ConcurrentHashMap<>();
  private List<byte[]> secrets;
  private LinkSettings settings;
  private LinkMetrics metrics;
  private volatile boolean shuttingDown;

  void mount(@Observes @Priority(10) Router router) {
    settings = runtime.settings();
    metrics = runtime.metrics();
    secrets = new ArrayList<>();
    config.link().secret().ifPresent(s -> secrets.add(s.getBytes(StandardCharsets.UTF_8)));
    config.link().acceptedSecrets().ifPresent(l -> l.forEach(s -> secrets.add(s.getBytes(StandardCharsets.UTF_8))));
    for (var handle : beans.handles()) {
      String name = null;
      for (Annotation q : handle.getBean().getQualifiers()) {
        if (q instanceof HostService hs) {
          name = hs.value();
        }
      }
      if (name == null) {
        continue;
      }
      if (!SERVICE_NAME.matcher(name).matches()) {
        throw new IllegalStateException("@HostService(\"" + name + "\"): names are 1-64 chars of a-z 0-9 -");
      }
      if (services.put(name, handle.get()) != null) {
        throw new IllegalStateException("two beans are @HostService(\"" + name + "\")");
      }
    }
    if (services.isEmpty()) {
      return;
    }
    if (secrets.isEmpty()) {
      LOG.warn("eventpaths.link.secret is not set: every link to this app will be refused with 401");
    }
    LOG.infof("eventpaths services mounted at /links/{name}: %s", services.keySet());
    router.route("/links/:service").handler(this::handle);
  }

  void started(@Observes StartupEvent e) {
    // Forces the router observer's bean to exist early; nothing else to do.
  }

  /** Ends every open link with {@code shutting_down} so callers reconnect elsewhere. */
  void stopping(@Observes ShutdownEvent e) {
    shuttingDown = true;
    for (ServerLink link : List.copyOf(open)) {
      link.abortOnContext("shutting_down", "the service is stopping; reconnect");
    }
  }

  /** The links being served now. */
  public int openLinks() {
    return open.size();
  }

  private void handle(RoutingContext rc) {
    HttpServerRequest req = rc.request();
    if (shuttingDown) {
      refuse(rc, 503, "shutting_down", "the service is stopping; open the link elsewhere");
      return;
    }
    if (req.method() != HttpMethod.POST) {
      refuse(rc, 405, "method_not_allowed", "links are opened with POST");
      return;
    }
    if (req.version() != HttpVersion.HTTP_2) {
      refuse(rc, 505, "http2_required",
          "links need HTTP/2 (h2c with prior knowledge, or h2 over TLS): HTTP/1.x cannot stream both ways");
      return;
    }
    if (!authorized(req.getHeader("authorization"))) {
      refuse(rc, 401, "unauthorized", "missing or wrong link credential (authorization: Bearer <secret>)");
      return;
    }
    String name = rc.pathParam("service");
    EventService service = services.get(name);
    if (service == null) {
      refuse(rc, 404, "unknown_service", "no service '" + name + "' here; known: " + services.keySet());
      return;
    }
    String linkId = req.getHeader("eventpaths-link");
    if (linkId == null || linkId.isEmpty() || linkId.length() > 128) {
      linkId = UUID.randomUUID().toString();
    }
    String guest = req.getHeader("eventpaths-guest");
    String caller = req.getHeader("eventpaths-caller");
    // Read once, and the stream would keep them for the link's whole life (the credential
    // among them): an idle link's share of the heap.
    req.headers().clear();
    Map<String, String> params = new HashMap<>();
    req.params().forEach(p -> {
      if (!p.getKey().equals("service")) {
        params.putIfAbsent(p.getKey(), p.getValue());
      }
    });
    LinkContext ctx = new LinkContext(linkId, name, caller == null ? "unknown" : caller,
        java.util.Optional.ofNullable(guest).filter(g -> !g.isEmpty()), params);
    HttpConnection conn = req.connection();
    AtomicInteger onConn = connections.computeIfAbsent(conn, c -> {
      metrics.connections().incrementAndGet();
      FlushBatching.install(c);
      return new AtomicInteger();
    });
    onConn.incrementAndGet();
    ServerLink[] self = new ServerLink[1];
    self[0] = new ServerLink(vertx, req, ctx, settings, metrics, () -> {
      open.remove(self[0]);
      if (onConn.decrementAndGet() == 0 && connections.remove(conn, onConn)) {
        metrics.connections().decrementAndGet();
      }
    });
    open.add(self[0]);
    self[0].start(service);
  }

  private void refuse(RoutingContext rc, int status, String error, String message) {
    metrics.error("server", error);
    Refusal.send(rc.response(), status, error, message);
  }

  private boolean authorized(String header) {
    if (header == null || !header.startsWith("Bearer ")) {
      return false;
    }
    byte[] given = header.substring(7).trim().getBytes(StandardCharsets.UTF_8);
    boolean ok = false;
    for (byte[] s : secrets) {
      ok |= MessageDigest.isEqual(s, given); // no early exit: timing says nothing
    }
    return ok;
  }
}
