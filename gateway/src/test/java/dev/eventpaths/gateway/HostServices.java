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
  static AppProcess a;
  static AppProcess b;

  @Override
  public Map<String, String> start() {
    try {
      a = AppProcess.start(ECHO_JAR, SECRET);
      b = AppProcess.start(ECHO_JAR, SECRET);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
    return Map.ofEntries(
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
