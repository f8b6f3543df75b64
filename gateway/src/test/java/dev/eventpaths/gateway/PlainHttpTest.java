package dev.eventpaths.gateway;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The plain port's handler ({@link PlainHttp.PlainHandler}) on a bare Vert.x server over real
 * sockets, in configurations one gateway process cannot have at once: public port 443 or
 * another, a challenge folder or none, health on this router or not. The wired gateway is
 * {@link PlainPortTest}.
 */
class PlainHttpTest {
  static Vertx vertx;
  static Path webroot;

  @BeforeAll
  static void setUp() throws Exception {
    vertx = Vertx.vertx();
    webroot = Files.createTempDirectory("acme-webroot-");
    Files.createDirectories(webroot.resolve(".well-known/acme-challenge"));
  }

  @AfterAll
  static void tearDown() throws Exception {
    vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  /** A server with the handler first and, behind it, what "the rest of the app" answers. */
  record Server(int port, GatewayMetrics metrics) {}

  static Server start(Optional<Path> dir, int publicPort, boolean healthHere) throws Exception {
    GatewayMetrics metrics = new GatewayMetrics(new SimpleMeterRegistry());
    Router router = Router.router(vertx);
    new PlainHttp.PlainHandler(dir, () -> publicPort, "/q/health", () -> healthHere, metrics).install(router);
    router.route().handler(rc -> rc.response().end("reached the app: " + rc.request().path()));
    HttpServer server = vertx.createHttpServer().requestHandler(router).listen(0, "127.0.0.1")
        .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    return new Server(server.actualPort(), metrics);
  }

  @Test
  void redirectsNameThePublicPortKeepPathAndQueryAndOmit443() throws Exception {
    Server s443 = start(Optional.empty(), 443, false);
    RawHttp.Response r = RawHttp.send(s443.port(), "GET /board/?b=team%20a&x=1 HTTP/1.1\nhost: App.Example.com:80");
    assertEquals(301, r.status());
    assertEquals("https://app.example.com/board/?b=team%20a&x=1", r.header("location"));
    assertEquals(1.0, s443.metrics().plainRequests("redirected"));

    Server s9443 = start(Optional.empty(), 9443, false);
    r = RawHttp.send(s9443.port(), "HEAD /g/echo/x/down HTTP/1.1\nhost: localhost:8080");
    assertEquals(301, r.status());
    assertEquals("https://localhost:9443/g/echo/x/down", r.header("location"));
    r = RawHttp.send(s9443.port(), "GET / HTTP/1.1\nhost: 127.0.0.1");
    assertEquals("https://127.0.0.1:9443/", r.header("location"));
    r = RawHttp.send(s9443.port(), "GET /a HTTP/1.1\nhost: [::1]:80");
    assertEquals("https://[::1]:9443/a", r.header("location"));
  }

  @Test
  void otherMethodsGet308SoAPostStaysAPost() throws Exception {
    Server s = start(Optional.empty(), 443, false);
    for (String method : new String[] {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
      RawHttp.Response r = RawHttp.send(s.port(), method + " /g/echo/x/up?y=2 HTTP/1.1\nhost: app.example.com",
          "{\"type\":\"x\"}\n".getBytes());
      assertEquals(308, r.status(), method);
      assertEquals("https://app.example.com/g/echo/x/up?y=2", r.header("location"), method);
    }
  }

  @Test
  void aBadOrMissingHostIsA400NeverARedirect() throws Exception {
    Server s = start(Optional.empty(), 443, false);
    String[] bad = {
        "evil.com/x", "evil.com@good.com", "user@good.com", "good.com:", "good.com:0", "good.com:65536", "good.com:80:80",
        "good.com,evil.com", "good com", "-good.com", "good-.com", "go_od.com", "good..com", ".good.com", "999.1.1.1",
        "1.2.3", "good.123", "[::1", "[::1]x", "[::g]", "[fe80::1%25eth0]", "[1.2.3.4]", "%65vil.com", "https://evil.com",
        "a".repeat(64) + ".com", "\\\\evil.com"};
    for (String host : bad) {
      RawHttp.Response r = RawHttp.send(s.port(), "GET /x HTTP/1.1\nhost: " + host);
      assertEquals(400, r.status(), host);
      assertNull(r.header("location"), host);
      assertEquals("application/json", r.header("content-type"), host + ": " + r.text());
      assertEquals("bad_host", new JsonObject(r.text()).getString("error"), host);
    }
    RawHttp.Response none = RawHttp.send(s.port(), "GET /x HTTP/1.0");
    assertEquals(400, none.status());
    assertTrue(new JsonObject(none.text()).getString("message").contains("no Host"));
    RawHttp.Response two = RawHttp.send(s.port(), "GET /x HTTP/1.1\nhost: good.com\nhost: evil.com");
    assertEquals(400, two.status());
    assertNull(two.header("location"));
    assertEquals(bad.length + 2, s.metrics().plainRequests("bad_host"));
    assertEquals(0, s.metrics().plainRequests("redirected"));
  }

  @Test
  void challengesAreServedByteForByteFromTheWebroot() throws Exception {
    Server s = start(Optional.of(webroot), 443, false);
    String token = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
    byte[] keyAuth = (token + ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI").getBytes();
    Files.write(webroot.resolve(".well-known/acme-challenge/" + token), keyAuth);
    RawHttp.Response r = RawHttp.send(s.port(), "GET /.well-known/acme-challenge/" + token + " HTTP/1.1\nhost: app.example.com");
    assertEquals(200, r.status());
    assertEquals("text/plain", r.header("content-type"));
    assertArrayEquals(keyAuth, r.body());
    assertNull(r.header("location"));
    // Any Host: the validation server asks for the domain being validated, and nothing is redirected.
    r = RawHttp.send(s.port(), "GET /.well-known/acme-challenge/" + token + " HTTP/1.0");
    assertArrayEquals(keyAuth, r.body());
    assertEquals(200, RawHttp.send(s.port(), "HEAD /.well-known/acme-challenge/" + token + " HTTP/1.1\nhost: a.b").status());
    assertEquals(3, s.metrics().plainRequests("challenge_served"));

    r = RawHttp.send(s.port(), "GET /.well-known/acme-challenge/NoSuchToken_123 HTTP/1.1\nhost: app.example.com");
    assertEquals(404, r.status());
    assertEquals("no_challenge", new JsonObject(r.text()).getString("error"));
    assertEquals(1, s.metrics().plainRequests("challenge_absent"));
  }

  @Test
  void invalidTokensAndTraversalAreRefused() throws Exception {
    Path secret = webroot.resolve("secret.txt");
    Files.writeString(secret, "not for you");
    Files.createDirectories(webroot.resolve(".well-known/acme-challenge/adir"));
    Files.createSymbolicLink(webroot.resolve(".well-known/acme-challenge/alink"), secret);
    Server s = start(Optional.of(webroot), 443, false);
    String[] refused = {"../../secret.txt", "..%2F..%2Fsecret.txt", "%2e%2e", "tok.en", "tok=", "a/b", "", "a".repeat(129),
        "..", "tok%00"};
    for (String token : refused) {
      RawHttp.Response r = RawHttp.send(s.port(), "GET /.well-known/acme-challenge/" + token + " HTTP/1.1\nhost: a.example");
      assertEquals(400, r.status(), token);
      assertEquals("bad_challenge_token", new JsonObject(r.text()).getString("error"), token);
    }
    // A valid name that is a folder or a symbolic link is not a challenge file.
    for (String token : new String[] {"adir", "alink"}) {
      RawHttp.Response r = RawHttp.send(s.port(), "GET /.well-known/acme-challenge/" + token + " HTTP/1.1\nhost: a.example");
      assertEquals(404, r.status(), token);
      assertTrue(!r.text().contains("not for you"), token);
    }
    // Not the challenge path once normalized elsewhere: redirected, not read.
    RawHttp.Response r = RawHttp.send(s.port(), "GET /.well-known/./acme-challenge/tok HTTP/1.1\nhost: a.example");
    assertEquals(301, r.status());
  }

  @Test
  void noChallengeFolderConfiguredIsA404WithAReason() throws Exception {
    Server s = start(Optional.empty(), 443, false);
    RawHttp.Response r = RawHttp.send(s.port(), "GET /.well-known/acme-challenge/abc HTTP/1.1\nhost: app.example.com");
    assertEquals(404, r.status());
    assertEquals("application/json", r.header("content-type"));
    assertEquals("acme_not_configured", new JsonObject(r.text()).getString("error"));
    // A POST there is no challenge request: redirected like anything else.
    assertEquals(308, RawHttp.send(s.port(), "POST /.well-known/acme-challenge/abc HTTP/1.1\nhost: a.example").status());
  }

  @Test
  void healthPassesThroughOnlyWhenServedOnThisRouter() throws Exception {
    Server here = start(Optional.empty(), 443, true);
    RawHttp.Response r = RawHttp.send(here.port(), "GET /q/health/ready HTTP/1.1\nhost: localhost");
    assertEquals(200, r.status());
    assertEquals("reached the app: /q/health/ready", r.text());
    assertEquals(301, RawHttp.send(here.port(), "GET /q/metrics HTTP/1.1\nhost: localhost").status());
    assertEquals(301, RawHttp.send(here.port(), "GET /q/healthz HTTP/1.1\nhost: localhost").status());
    assertEquals(308, RawHttp.send(here.port(), "POST /q/health HTTP/1.1\nhost: localhost").status());

    Server management = start(Optional.empty(), 443, false);
    r = RawHttp.send(management.port(), "GET /q/health/ready HTTP/1.1\nhost: localhost");
    assertEquals(301, r.status());
    assertEquals("https://localhost/q/health/ready", r.header("location"));
  }
}
