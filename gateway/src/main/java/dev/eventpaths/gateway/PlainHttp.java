package dev.eventpaths.gateway;

import dev.eventpaths.internal.Refusal;
import io.quarkus.runtime.LaunchMode;
import io.quarkus.vertx.http.ManagementInterface;
import io.vertx.core.Handler;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.function.BooleanSupplier;
import java.util.function.IntSupplier;
import java.util.regex.Pattern;
import org.eclipse.microprofile.config.ConfigProvider;

/**
 * The plain HTTP port (Fly's port 80). Quarkus lets plain requests through
 * ({@code quarkus.http.insecure-requests=enabled}) and this, first on the router, answers
 * every one of them; nothing behind it (guest links, guest files) is reachable without TLS:
 *
 * <ul>
 *   <li>{@code GET|HEAD /.well-known/acme-challenge/<token>}: the ACME HTTP-01 answer, read from
 *       {@code <gateway.acme.challenge-dir>/.well-known/acme-challenge/<token>} (the webroot
 *       layout of certbot and lego), {@code text/plain}, byte for byte; a token that is not
 *       1-128 base64url characters is refused (400), an absent file or no directory
 *       configured is a 404, both with a JSON reason;
 *   <li>{@code GET|HEAD} of the health endpoints ({@code /q/health...}) when they are served on
 *       this router, that is without the management interface (local runs, tests): passed on,
 *       so a plain-HTTP readiness probe ({@code .ci/start}) really asks for readiness. With the
 *       management interface (the Fly image) they live on its own port and this rule is off;
 *   <li>anything else: a permanent redirect to {@code https://<host><:public port><path>?<query>}
 *       (301 for GET and HEAD, 308 otherwise, so a POST stays a POST), the public port being
 *       {@code gateway.public-https-port} (443 is left out of the URL), by default the app's own
 *       HTTPS port. The host comes from the request's {@code Host}, which must be one plausible
 *       host name or IP literal with an optional port; anything else is a 400, never a redirect.
 * </ul>
 *
 * Every outcome is counted: {@code eventpaths_gateway_plain_requests_total{outcome}}.
 */
@ApplicationScoped
public class PlainHttp {
  /** Before every other route of the application (only Quarkus' own first handlers precede it). */
  static final int ORDER = Integer.MIN_VALUE + 100;
  static final String CHALLENGE_PATH = "/.well-known/acme-challenge/";
  static final Pattern TOKEN = Pattern.compile("[A-Za-z0-9_-]{1,128}");
  /** An HTTP-01 key authorization is token.thumbprint, under 200 bytes: anything much larger is not one. */
  static final int MAX_CHALLENGE_BYTES = 4096;

  @Inject GatewayConfig config;
  @Inject GatewayMetrics metrics;

  private volatile boolean managementInterface;

  /** Fired only when the management interface is enabled: health is then not on this router. */
  void management(@Observes ManagementInterface management) {
    managementInterface = true;
  }

  void mount(@Observes Router router) {
    Optional<Integer> configured = config.publicHttpsPort();
    configured.ifPresent(p -> {
      if (p < 1 || p > 65535) {
        throw new IllegalStateException("gateway.public-https-port must be 1-65535, not " + p);
      }
    });
    IntSupplier port = configured.<IntSupplier>map(p -> () -> p).orElse(PlainHttp::ownHttpsPort);
    String root = ConfigProvider.getConfig().getOptionalValue("quarkus.http.non-application-root-path", String.class)
        .orElse("q").replaceAll("^/+|/+$", "");
    new PlainHandler(config.acme().challengeDir().map(Path::of), port, "/" + root + "/health", () -> !managementInterface,
        metrics).install(router);
  }

  /**
   * Whether the request came over TLS, from the connection itself. Not {@code isSSL()}: on
   * HTTP/2 that follows the client's {@code :scheme}, so a prior-knowledge h2c client saying
   * {@code https} on the plain port would be served as if it had come over TLS.
   */
  static boolean overTls(HttpServerRequest req) {
    return req.connection() != null && req.connection().isSsl();
  }

  /** The port this app serves HTTPS on (tests run on their own port). */
  static int ownHttpsPort() {
    var c = ConfigProvider.getConfig();
    if (LaunchMode.current() == LaunchMode.TEST) {
      Optional<Integer> test = c.getOptionalValue("quarkus.http.test-ssl-port", Integer.class);
      if (test.isPresent() && test.get() > 0) {
        return test.get();
      }
    }
    return c.getOptionalValue("quarkus.http.ssl-port", Integer.class).orElse(8443);
  }

  /** The handler itself, apart from CDI so it can be tested on a bare Vert.x server. */
  static final class PlainHandler implements Handler<RoutingContext> {
    private final Optional<Path> challengeDir;
    private final IntSupplier publicPort;
    private final String healthPath;
    private final BooleanSupplier healthHere;
    private final GatewayMetrics metrics;

    PlainHandler(Optional<Path> challengeDir, IntSupplier publicPort, String healthPath, BooleanSupplier healthHere,
        GatewayMetrics metrics) {
      this.challengeDir = challengeDir.map(d -> d.toAbsolutePath().normalize());
      this.publicPort = publicPort;
      this.healthPath = healthPath;
      this.healthHere = healthHere;
      this.metrics = metrics;
    }

    /** First on {@code router}, for requests and for the router's own refusals of them. */
    void install(Router router) {
      router.route().order(ORDER).handler(this).failureHandler(this::failure);
    }

    /**
     * Vert.x Web refuses an HTTP/1.1 request whose Host it cannot parse before any handler
     * runs (a bare 400): on the plain port, that refusal gets the JSON reason too.
     */
    private void failure(RoutingContext rc) {
      HttpServerRequest req = rc.request();
      List<String> hosts = req.headers().getAll("host");
      if (!overTls(req) && rc.statusCode() == 400 && !rc.response().headWritten()
          && (hosts.size() != 1 || hostOf(hosts.get(0)) == null)) {
        badHost(rc, hosts);
      } else {
        rc.next();
      }
    }

    private void badHost(RoutingContext rc, List<String> hosts) {
      metrics.plainRequest("bad_host");
      Refusal.send(rc.response(), 400, "bad_host", hosts.isEmpty()
          ? "no Host header: this port only redirects to https://<host>/, and needs the host"
          : "the Host header is not one host name or IP address (with an optional port)");
    }

    @Override
    public void handle(RoutingContext rc) {
      HttpServerRequest req = rc.request();
      if (overTls(req)) {
        rc.next();
        return;
      }
      String path = req.path();
      if (path == null || !path.startsWith("/")) {
        path = "/";
      }
      boolean read = req.method() == HttpMethod.GET || req.method() == HttpMethod.HEAD;
      if (read && path.startsWith(CHALLENGE_PATH)) {
        challenge(rc, path.substring(CHALLENGE_PATH.length()));
        return;
      }
      if (read && (path.equals(healthPath) || path.startsWith(healthPath + "/")) && healthHere.getAsBoolean()) {
        metrics.plainRequest("health");
        rc.next();
        return;
      }
      List<String> hosts = req.headers().getAll("host");
      String host = hosts.size() == 1 ? hostOf(hosts.get(0)) : null;
      if (host == null && hosts.isEmpty() && req.authority() != null) {
        // HTTP/2 (h2c) carries :authority instead of Host.
        host = hostOf(req.authority().toString());
      }
      if (host == null) {
        badHost(rc, hosts);
        return;
      }
      int port = publicPort.getAsInt();
      String query = req.query();
      String location = "https://" + host + (port == 443 ? "" : ":" + port) + path + (query == null ? "" : "?" + query);
      metrics.plainRequest("redirected");
      rc.response().setStatusCode(read ? 301 : 308).putHeader("location", location).putHeader("content-length", "0")
          .end();
    }

    private void challenge(RoutingContext rc, String token) {
      if (!TOKEN.matcher(token).matches()) {
        metrics.plainRequest("bad_challenge_token");
        Refusal.send(rc.response(), 400, "bad_challenge_token", "an ACME challenge token is 1-128 of A-Z a-z 0-9 _ -");
        return;
      }
      if (challengeDir.isEmpty()) {
        metrics.plainRequest("challenge_absent");
        Refusal.send(rc.response(), 404, "acme_not_configured",
            "this gateway answers no ACME challenges (gateway.acme.challenge-dir is not set)");
        return;
      }
      Path file = challengeDir.get().resolve(".well-known").resolve("acme-challenge").resolve(token);
      rc.vertx().<Buffer>executeBlocking(() -> read(file), false).onComplete(done -> {
        if (done.succeeded() && done.result() != null) {
          metrics.plainRequest("challenge_served");
          rc.response().putHeader("content-type", "text/plain").putHeader("cache-control", "no-store")
              .putHeader("x-content-type-options", "nosniff").end(done.result());
        } else {
          metrics.plainRequest("challenge_absent");
          Refusal.send(rc.response(), 404, "no_challenge", "no ACME challenge with this token is waiting here");
        }
      });
    }

    /** The file's bytes if it is a regular file (not a link) of bounded size, else null. */
    private static Buffer read(Path file) throws IOException {
      try {
        BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        if (!a.isRegularFile() || a.size() > MAX_CHALLENGE_BYTES) {
          return null;
        }
        byte[] bytes = Files.readAllBytes(file);
        return bytes.length > MAX_CHALLENGE_BYTES ? null : Buffer.buffer(bytes);
      } catch (NoSuchFileException e) {
        return null;
      }
    }
  }

  private static final Pattern LABEL = Pattern.compile("[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?");
  private static final Pattern IPV6 = Pattern.compile("[0-9a-f:.]{2,45}");
  private static final Pattern PORT = Pattern.compile("[0-9]{1,5}");

  /**
   * The host part of a {@code Host} value, lower case, if the value is exactly one DNS name
   * (labels of letters, digits and inner hyphens; an optional final dot), IPv4 address or
   * bracketed IPv6 literal, with an optional port 1-65535; null for anything else (user
   * info, paths, several hosts, control characters, percent-encoding, zone ids...).
   */
  static String hostOf(String value) {
    if (value == null || value.isEmpty() || value.length() > 260) {
      return null;
    }
    String v = value.toLowerCase(Locale.ROOT);
    String host;
    String port = null;
    if (v.startsWith("[")) {
      int close = v.indexOf(']');
      if (close < 0) {
        return null;
      }
      String literal = v.substring(1, close);
      String rest = v.substring(close + 1);
      if (!rest.isEmpty()) {
        if (!rest.startsWith(":")) {
          return null;
        }
        port = rest.substring(1);
      }
      if (!IPV6.matcher(literal).matches() || !literal.contains(":") || !ipv6(literal)) {
        return null;
      }
      host = "[" + literal + "]";
    } else {
      int colon = v.indexOf(':');
      if (colon >= 0) {
        port = v.substring(colon + 1);
        v = v.substring(0, colon);
      }
      String name = v.endsWith(".") ? v.substring(0, v.length() - 1) : v;
      if (name.isEmpty() || name.length() > 253) {
        return null;
      }
      String[] labels = name.split("\\.", -1);
      for (String label : labels) {
        if (!LABEL.matcher(label).matches()) {
          return null;
        }
      }
      // All-numeric dotted names must be an IPv4 address (no 999.1.1.1, no 1.2.3).
      if (labels[labels.length - 1].chars().allMatch(Character::isDigit) && !ipv4(labels)) {
        return null;
      }
      host = v;
    }
    if (port != null && !(PORT.matcher(port).matches() && Integer.parseInt(port) >= 1 && Integer.parseInt(port) <= 65535)) {
      return null;
    }
    return host;
  }

  private static boolean ipv4(String[] labels) {
    if (labels.length != 4) {
      return false;
    }
    for (String l : labels) {
      if (l.length() > 3 || !l.chars().allMatch(Character::isDigit) || Integer.parseInt(l) > 255) {
        return false;
      }
    }
    return true;
  }

  /** An IPv6 literal, as the JDK parses one (bracketed: never a name lookup). */
  private static boolean ipv6(String literal) {
    try {
      java.net.InetAddress.getByName("[" + literal + "]");
      return true;
    } catch (java.net.UnknownHostException e) {
      return false;
    }
  }
}
