package dev.eventpaths.gateway;

import io.vertx.ext.web.handler.FileSystemAccess;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.StaticHandler;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;

/**
 * Serves the guest runtime and pages (guest/) with a strict Content Security Policy: scripts,
 * styles, workers and fetches from this origin only, no inline code, no framing. Pages are
 * also cross-origin isolated (COOP + COEP): everything they load is same-origin anyway, and
 * isolation gives them (and the bench) 5 us timers instead of 100 us ones.
 */
@ApplicationScoped
public class GuestFiles {
  static final String CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
      + "connect-src 'self'; worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; "
      + "frame-ancestors 'none'; form-action 'self'";

  @Inject GatewayConfig config;

  void mount(@Observes Router router) {
    StaticHandler files = config.guestDir()
        .map(dir -> StaticHandler.create(FileSystemAccess.ROOT, java.nio.file.Path.of(dir).toAbsolutePath().normalize().toString()).setCachingEnabled(false))
        .orElseGet(() -> StaticHandler.create("guest-files"))
        .setIndexPage("index.html")
        .setDefaultContentEncoding("UTF-8");
    router.get("/*").order(1000).handler(this::headers).handler(files);
  }

  private void headers(RoutingContext rc) {
    var h = rc.response().headers();
    h.set("content-security-policy", CSP);
    h.set("x-content-type-options", "nosniff");
    h.set("referrer-policy", "no-referrer");
    h.set("cross-origin-opener-policy", "same-origin");
    h.set("cross-origin-resource-policy", "same-origin");
    h.set("cross-origin-embedder-policy", "require-corp");
    if (PlainHttp.overTls(rc.request())) {
      h.set("strict-transport-security", "max-age=31536000");
    }
    String path = rc.normalizedPath();
    if (path.endsWith("-sw.js") || path.endsWith("/sw.js")) {
      // The worker script may control the whole origin, and must never be served stale.
      h.set("service-worker-allowed", "/");
      h.set("cache-control", "no-cache");
    }
    rc.next();
  }
}
