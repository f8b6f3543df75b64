package dev.eventpaths.tasks.write;

import dev.eventpaths.Event;
import dev.eventpaths.Json;
import dev.eventpaths.internal.LinkClient;
import dev.eventpaths.internal.LinkMetrics;
import dev.eventpaths.internal.LinkSettings;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Vertx;
import java.net.URI;
import java.util.LinkedHashMap;
import java.util.Map;

/** A real link client to tasks-write (as the gateway or tasks-read would be), and command helpers. */
final class Peers {
  static final String SECRET = "test-only-link-secret";

  private Peers() {}

  static LinkClient client(Vertx vertx, URI url, String secret) {
    return new LinkClient(vertx, LinkSettings.DEFAULTS, new LinkMetrics(new SimpleMeterRegistry()), "test",
        Map.of("tasks", new LinkClient.Target("tasks", url, secret, null, 4)));
  }

  static URI testUrl() {
    return URI.create("http://localhost:"
        + org.eclipse.microprofile.config.ConfigProvider.getConfig().getValue("quarkus.http.test-port", Integer.class));
  }

  static Event command(String type, String id, String board, String task, Object... more) {
    Map<String, Object> d = new LinkedHashMap<>();
    d.put("board", board);
    d.put("task", task);
    for (int i = 0; i < more.length; i += 2) {
      d.put((String) more[i], more[i + 1]);
    }
    return new Event(type, id, 0, Json.of(d));
  }
}
