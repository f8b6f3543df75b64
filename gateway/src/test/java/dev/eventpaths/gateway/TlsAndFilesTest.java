package dev.eventpaths.gateway;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.startsWith;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.cert.X509Certificate;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;
import org.eclipse.microprofile.config.ConfigProvider;
import org.junit.jupiter.api.Test;

/** TLS and the plain port, and the headers on guest files. */
@QuarkusTest
@QuarkusTestResource(HostServices.class)
class TlsAndFilesTest {
  static int sslPort() {
    return ConfigProvider.getConfig().getValue("quarkus.http.test-ssl-port", Integer.class);
  }

  @Test
  void plainHttpOnlyRedirectsToHttps() {
    int port = ConfigProvider.getConfig().getValue("quarkus.http.test-port", Integer.class);
    given().redirects().follow(false).when().get("http://localhost:" + port + "/g/echo/x/down")
        .then().statusCode(301).header("location", startsWith("https://"));
  }

  @Test
  void guestFilesCarryAStrictContentSecurityPolicy() {
    given().relaxedHTTPSValidation().when().get("https://localhost:" + sslPort() + "/src/index.js")
        .then().statusCode(200)
        .header("content-security-policy", containsString("script-src 'self'"))
        .header("content-security-policy", containsString("frame-ancestors 'none'"))
        .header("x-content-type-options", "nosniff")
        .header("strict-transport-security", containsString("max-age="));
  }

  @Test
  void guestPagesAreCrossOriginIsolated() {
    // COOP + COEP make a page crossOriginIsolated (5 us timers, SharedArrayBuffer); CORP lets
    // each file load under the COEP of a page of this origin and of no other.
    given().relaxedHTTPSValidation().when().get("https://localhost:" + sslPort() + "/demo/index.html")
        .then().statusCode(200)
        .header("cross-origin-opener-policy", "same-origin")
        .header("cross-origin-embedder-policy", "require-corp")
        .header("cross-origin-resource-policy", "same-origin");
  }

  @Test
  void theSystemStatsReadEveryHostServicesOwnMetrics() {
    given().relaxedHTTPSValidation().when().get("https://localhost:" + sslPort() + "/system/stats")
        .then().statusCode(200)
        .body("services.echo.up", org.hamcrest.Matchers.equalTo(true))
        .body("services.echo.links", org.hamcrest.Matchers.notNullValue())
        .body("gateway.guestLinks", org.hamcrest.Matchers.notNullValue())
        .body("services.internal.up", org.hamcrest.Matchers.equalTo(true));
  }

  @Test
  void aRenewedCertificateIsServedWithoutARestart() throws Exception {
    BigInteger before = servedSerial();
    Path fresh = Files.createTempDirectory("renewed-");
    String certs = System.getProperty("dev-certs", "../.certs");
    // A new certificate from the same development CA, so every other test still trusts it.
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
        "-keyout", fresh.resolve("server.key").toString(), "-out", fresh.resolve("server.csr").toString());
    Files.writeString(fresh.resolve("ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n");
    run("openssl", "x509", "-req", "-in", fresh.resolve("server.csr").toString(), "-CA", certs + "/ca.crt",
        "-CAkey", certs + "/ca.key", "-CAcreateserial", "-CAserial", fresh.resolve("ca.srl").toString(), "-days", "30",
        "-extfile", fresh.resolve("ext").toString(), "-out", fresh.resolve("server.crt").toString());
    // Each file is replaced atomically (as a deploy should), but the two are not replaced at
    // once: a reload between them sees a key that does not match its certificate, so a
    // handshake in that moment may fail. The check is that the new certificate comes, soon.
    for (String f : new String[] {"server.key", "server.crt"}) {
      Path tmp = HostServices.TLS_DIR.resolve(f + ".new");
      Files.copy(fresh.resolve(f), tmp, StandardCopyOption.REPLACE_EXISTING);
      Files.move(tmp, HostServices.TLS_DIR.resolve(f), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
    BigInteger now = before;
    while (System.nanoTime() < deadline && now.equals(before)) {
      Thread.sleep(250);
      try {
        now = servedSerial();
      } catch (javax.net.ssl.SSLException midSwap) {
        // the reload caught the pair half replaced; the next one will not
      }
    }
    assertNotEquals(before, now, "new connections get the renewed certificate, same process");
  }

  private static BigInteger servedSerial() throws Exception {
    SSLContext ctx = SSLContext.getInstance("TLS");
    ctx.init(null, new TrustManager[] {new X509TrustManager() {
      public void checkClientTrusted(X509Certificate[] c, String a) { }

      public void checkServerTrusted(X509Certificate[] c, String a) { }

      public X509Certificate[] getAcceptedIssuers() {
        return new X509Certificate[0];
      }
    }}, null);
    try (SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket("localhost", sslPort())) {
      javax.net.ssl.SSLParameters params = s.getSSLParameters();
      params.setApplicationProtocols(new String[] {"h2", "http/1.1"});
      params.setServerNames(java.util.List.of(new javax.net.ssl.SNIHostName("localhost.localdomain")));
      s.setSSLParameters(params);
      s.startHandshake();
      return ((X509Certificate) s.getSession().getPeerCertificates()[0]).getSerialNumber();
    }
  }

  private static void run(String... cmd) throws Exception {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor() == 0, String.join(" ", cmd) + ": " + out);
  }
}
