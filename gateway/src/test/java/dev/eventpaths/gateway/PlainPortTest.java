package dev.eventpaths.gateway;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import org.eclipse.microprofile.config.ConfigProvider;
import org.junit.jupiter.api.Test;

/**
 * The gateway's plain port, wired into the app (PlainHttp first on the router, insecure
 * requests enabled): redirects to the app's own HTTPS port (gateway.public-https-port unset,
 * as in local runs), ACME challenges from gateway.acme.challenge-dir (HostServices), health
 * passed through (no management interface in tests), and the HTTPS port untouched.
 */
@QuarkusTest
@QuarkusTestResource(HostServices.class)
class PlainPortTest {
  static final HttpClient PLAIN = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .followRedirects(HttpClient.Redirect.NEVER).build();

  static int plainPort() {
    return ConfigProvider.getConfig().getValue("quarkus.http.test-port", Integer.class);
  }

  static int sslPort() {
    return ConfigProvider.getConfig().getValue("quarkus.http.test-ssl-port", Integer.class);
  }

  static HttpResponse<byte[]> plain(String method, String pathAndQuery) throws Exception {
    return PLAIN.send(HttpRequest.newBuilder(URI.create("http://localhost:" + plainPort() + pathAndQuery))
        .method(method, method.equals("POST") ? HttpRequest.BodyPublishers.ofString("{\"type\":\"x\"}\n")
            : HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofByteArray());
  }

  @Test
  void plainRequestsAreRedirectedToTheAppsOwnHttpsPortByDefault() throws Exception {
    HttpResponse<byte[]> r = plain("GET", "/board/?b=team&after=12");
    assertEquals(301, r.statusCode());
    assertEquals("https://localhost:" + sslPort() + "/board/?b=team&after=12", r.headers().firstValue("location").orElse(null));
    // Guest routes are never reached over plain HTTP; a streaming upload keeps its method.
    r = plain("POST", "/g/echo/x/up");
    assertEquals(308, r.statusCode());
    assertEquals("https://localhost:" + sslPort() + "/g/echo/x/up", r.headers().firstValue("location").orElse(null));
    assertEquals(308, plain("POST", "/guest").statusCode());
  }

  @Test
  void h2cClaimingHttpsIsStillThePlainPort() throws Exception {
    // Prior-knowledge h2c with :scheme https: the connection is plain, whatever the client says.
    for (String[] r : new String[][] {{"POST", "/guest"}, {"GET", "/board/"}, {"GET", "/q/metrics"},
        {"GET", "/g/echo/x/down"}}) {
      var h = H2cRaw.request(plainPort(), r[0], "https", "localhost:" + plainPort(), r[1], java.util.Map.of());
      int status = Integer.parseInt(h.status().toString());
      assertTrue(status == 301 || status == 308, r[0] + " " + r[1] + " over h2c answered " + status + ", not a redirect");
      assertEquals("https://localhost:" + sslPort() + r[1], String.valueOf(h.get("location")));
    }
  }

  @Test
  void aBadHostIsRefusedWithAReason() throws Exception {
    RawHttp.Response r = RawHttp.send(plainPort(), "GET /board/ HTTP/1.1\nhost: evil.example/@x");
    assertEquals(400, r.status());
    assertNull(r.header("location"));
    assertEquals("bad_host", new JsonObject(r.text()).getString("error"));
    assertEquals(400, RawHttp.send(plainPort(), "GET /board/ HTTP/1.0").status());
  }

  @Test
  void acmeChallengesAreServedFromTheConfiguredWebroot() throws Exception {
    String token = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
    byte[] keyAuth = (token + ".nP1qzpkkfFCGj5Lr1Xkh3cTsyCFJzoSpzTH4_eS6Y2g").getBytes();
    Files.createDirectories(HostServices.ACME_DIR.resolve(".well-known/acme-challenge"));
    Files.write(HostServices.ACME_DIR.resolve(".well-known/acme-challenge/" + token), keyAuth);
    HttpResponse<byte[]> r = plain("GET", "/.well-known/acme-challenge/" + token);
    assertEquals(200, r.statusCode());
    assertEquals("text/plain", r.headers().firstValue("content-type").orElse(null));
    assertArrayEquals(keyAuth, r.body());

    HttpResponse<byte[]> absent = plain("GET", "/.well-known/acme-challenge/not-written-yet");
    assertEquals(404, absent.statusCode());
    assertEquals("no_challenge", new JsonObject(new String(absent.body())).getString("error"));

    RawHttp.Response traversal = RawHttp.send(plainPort(),
        "GET /.well-known/acme-challenge/../../../../etc/passwd HTTP/1.1\nhost: localhost");
    assertEquals(400, traversal.status());
    assertEquals("bad_challenge_token", new JsonObject(traversal.text()).getString("error"));

    // The HTTPS port has no challenge route: the token is not served there.
    HttpResponse<byte[]> tls = GuestClient.jdk().send(HttpRequest.newBuilder(
        URI.create("https://localhost:" + sslPort() + "/.well-known/acme-challenge/" + token)).build(),
        HttpResponse.BodyHandlers.ofByteArray());
    assertEquals(404, tls.statusCode());
    assertFalse(new String(tls.body()).contains(token));
  }

  @Test
  void healthIsAnsweredOnThePlainPortWithoutTheManagementInterface() throws Exception {
    HttpResponse<byte[]> r = plain("GET", "/q/health/ready");
    assertEquals(200, r.statusCode());
    assertTrue(new String(r.body()).contains("UP"));
    assertEquals(301, plain("GET", "/q/metrics").statusCode());
  }

  @Test
  void theHttpsPortIsUnaffectedAndCountsThePlainPort() throws Exception {
    plain("GET", "/");
    HttpResponse<String> page = GuestClient.jdk().send(HttpRequest.newBuilder(
        URI.create("https://localhost:" + sslPort() + "/board/")).build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, page.statusCode());
    assertTrue(page.headers().firstValue("strict-transport-security").isPresent());
    assertEquals(HttpClient.Version.HTTP_2, page.version());
    HttpResponse<String> guest = GuestClient.jdk().send(HttpRequest.newBuilder(
        URI.create("https://localhost:" + sslPort() + "/guest")).POST(HttpRequest.BodyPublishers.noBody()).build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(200, guest.statusCode());
    HttpResponse<String> metrics = GuestClient.jdk().send(HttpRequest.newBuilder(
        URI.create("https://localhost:" + sslPort() + "/q/metrics")).build(), HttpResponse.BodyHandlers.ofString());
    assertTrue(metrics.body().contains("eventpaths_gateway_plain_requests_total{outcome=\"redirected\"}"), metrics.body()
        .lines().filter(l -> l.contains("plain_requests")).toList().toString());
  }
}
