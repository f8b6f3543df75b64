package dev.eventpaths.echo;

import dev.eventpaths.internal.LinkClient;
import dev.eventpaths.internal.LinkMetrics;
import dev.eventpaths.internal.LinkSettings;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.net.PemTrustOptions;
import java.net.URI;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.ConfigProvider;

/** Real HTTP/2 peers for tests: the library's link client, and a raw client for bad input. */
final class TestPeers {
  static final String SECRET = "test-only-link-secret";

  private TestPeers() {}

  static String certs() {
    return System.getProperty("dev-certs", "../../.certs");
  }

  /** The echo app's URL for a protocol: {@code h2c} (plain port) or {@code h2} (TLS port). */
  static URI url(String protocol) {
    var config = ConfigProvider.getConfig();
    if (protocol.equals("h2")) {
      return URI.create("https://localhost:" + config.getValue("quarkus.http.test-ssl-port", Integer.class));
    }
    return URI.create("http://localhost:" + config.getValue("quarkus.http.test-port", Integer.class));
  }

  static LinkClient client(Vertx vertx, String protocol) {
    return client(vertx, protocol, LinkSettings.DEFAULTS, new LinkMetrics(new SimpleMeterRegistry()), SECRET);
  }

  static LinkClient client(Vertx vertx, String protocol, LinkSettings settings, LinkMetrics metrics, String secret) {
    return client(vertx, url(protocol), settings, metrics, secret);
  }

  static LinkClient client(Vertx vertx, URI url, LinkSettings settings, LinkMetrics metrics, String secret) {
    String trust = url.getScheme().equals("https") ? certs() + "/ca.crt" : null;
    return new LinkClient(vertx, settings, metrics, "test",
        Map.of("echo", new LinkClient.Target("echo", url, secret, trust, 4)));
  }

  static LinkSettings settings(Duration heartbeat, Duration idle) {
    return new LinkSettings(64 * 1024, heartbeat, idle, 128, 16);
  }

  /** A plain Vert.x HTTP client speaking {@code version} to the plain port (prior knowledge). */
  static HttpClient raw(Vertx vertx, HttpVersion version) {
    return vertx.createHttpClient(new HttpClientOptions().setProtocolVersion(version)
        .setHttp2ClearTextUpgrade(false).setDefaultHost("localhost").setDefaultPort(url("h2c").getPort()));
  }

  /** A raw request/response exchange; returns status and body (see {@link dev.eventpaths.testing.EventLoop}). */
  static Reply exchange(Vertx vertx, HttpClient http, String path, Map<String, String> headers, String body)
      throws Exception {
    RequestOptions ro = new RequestOptions().setMethod(HttpMethod.POST).setURI(path);
    headers.forEach(ro::putHeader);
    return dev.eventpaths.testing.EventLoop.await(vertx, () -> http.request(ro).compose(req -> req.send(Buffer.buffer(body)))
        .compose(resp -> resp.body().map(b -> new Reply(resp.statusCode(), b.toString(), resp))), java.time.Duration.ofSeconds(10));
  }

  record Reply(int status, String body, HttpClientResponse response) {}

  static PemTrustOptions trust() {
    return new PemTrustOptions().addCertPath(certs() + "/ca.crt");
  }
}
