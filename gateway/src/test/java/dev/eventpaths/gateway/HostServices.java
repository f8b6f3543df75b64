package dev.eventpaths.gateway;

import dev.eventpaths.testing.AppProcess;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import java.nio.file.Path;
import java.util.Map;

/**
 * Two real echo host services, each the packaged app in its own process, for the gateway to
 * link guests to: {@code echo} (routes echo, source, sink) and {@code echo-b} (route echo-b),
 * so one can be killed while the other keeps serving.
 */
public class HostServices implements QuarkusTestResourceLifecycleManager {
  static final Path ECHO_JAR = Path.of("../read-services/echo/target/quarkus-app/quarkus-run.jar");
  static final String SECRET = "test-only-link-secret";
  static Path TLS_DIR;
  /** The ACME webroot the gateway answers HTTP-01 challenges from (PlainPortTest). */
  static Path ACME_DIR;
  static AppProcess a;
  static AppProcess b;

  @Override
  public Map<String, String> start() {
    int sslPort;
    try {
      // The gateway serves a copy of the dev certificate that TlsReloadTest may replace.
      TLS_DIR = java.nio.file.Files.createTempDirectory("gateway-tls-");
      String certs0 = System.getProperty("dev-certs", "../.certs");
      for (String f : new String[] {"server.crt", "server.key"}) {
        java.nio.file.Files.copy(Path.of(certs0, f), TLS_DIR.resolve(f));
      }
      ACME_DIR = java.nio.file.Files.createTempDirectory("gateway-acme-");
      a = AppProcess.start(ECHO_JAR, SECRET);
      b = AppProcess.start(ECHO_JAR, SECRET);
      sslPort = AppProcess.freePort();
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
    String certs = System.getProperty("dev-certs", "../.certs");
    return Map.ofEntries(
        // The gateway's feed of guest links goes to a test service in this same app (FeedSink),
        // over h2 on the gateway's own TLS port: a fixed port so the target can name it.
        Map.entry("quarkus.http.test-ssl-port", Integer.toString(sslPort)),
        Map.entry("quarkus.tls.key-store.pem.0.cert", TLS_DIR.resolve("server.crt").toString()),
        Map.entry("quarkus.tls.key-store.pem.0.key", TLS_DIR.resolve("server.key").toString()),
        Map.entry("quarkus.tls.reload-period", "1s"),
        Map.entry("gateway.acme.challenge-dir", ACME_DIR.toString()),
        Map.entry("gateway.feed.target", "feedsink"),
        Map.entry("eventpaths.targets.feedsink.url", "https://localhost:" + sslPort),
        Map.entry("eventpaths.targets.feedsink.trust-cert-pem", certs + "/ca.crt"),
        Map.entry("eventpaths.targets.echo.url", a.url().toString()),
        Map.entry("eventpaths.targets.echob.url", b.url().toString()),
        // A target the gateway knows but guests may not reach: 403.
        Map.entry("eventpaths.targets.internal.url", a.url().toString()),
        Map.entry("gateway.routes.echo.target", "echo"),
        Map.entry("gateway.routes.source.target", "echo"),
        Map.entry("gateway.routes.sink.target", "echo"),
        Map.entry("gateway.routes.echo-b.target", "echob"),
        Map.entry("gateway.routes.echo-b.service", "echo"),
        Map.entry("gateway.pairing-grace", "500ms"),
        Map.entry("gateway.pairing-timeout", "1s"),
        Map.entry("gateway.max-links-per-guest", "8"),
        Map.entry("gateway.max-streams-per-connection", "40"));
  }

  @Override
  public void stop() {
    try {
      if (a != null) {
        a.close();
      }
      if (b != null) {
        b.close();
      }
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}
