package dev.eventpaths.tasks.read;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import java.io.IOException;
import java.net.ServerSocket;
import java.util.Map;

/**
 * In tests tasks-read follows a scripted {@code log} service inside itself ({@link ScriptedLog}),
 * so the app must know its own port before it starts: config mapping reads
 * {@code eventpaths.targets.tasks-write.url} at startup, and {@code test-port=0} is only known
 * after. This picks a free port and gives it to both.
 */
public class SelfTarget implements QuarkusTestResourceLifecycleManager {
  @Override
  public Map<String, String> start() {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
    return Map.of("quarkus.http.test-port", Integer.toString(port),
        "eventpaths.targets.tasks-write.url", "http://localhost:" + port);
  }

  @Override
  public void stop() {}
}
