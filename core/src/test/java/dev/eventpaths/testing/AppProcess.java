package dev.eventpaths.testing;

import java.io.File;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A packaged Quarkus app (what is deployed: {@code target/quarkus-app/quarkus-run.jar}) running
 * as its own process on a free port, for tests that kill, freeze or restart a real peer.
 */
public final class AppProcess implements AutoCloseable {
  private final Path jar;
  private final Map<String, String> env;
  private final int port;
  private Process process;
  private Path log;

  private AppProcess(Path jar, int port, Map<String, String> env) {
    this.jar = jar;
    this.port = port;
    this.env = env;
  }

  /**
   * Starts the app packaged at {@code jar} with {@code EVENTPATHS_LINK_SECRET=secret} and waits
   * until it is ready.
   */
  public static AppProcess start(Path jar, String secret) throws Exception {
    return start(jar, freePort(), Map.of("EVENTPATHS_LINK_SECRET", secret));
  }

  public static AppProcess start(Path jar, int port, Map<String, String> env) throws Exception {
    if (!Files.exists(jar)) {
      throw new IllegalStateException(jar + " is missing: package the app first (./mvnw verify does)");
    }
    AppProcess p = new AppProcess(jar, port, env);
    p.launch();
    return p;
  }

  /** Starts the app again on the same port (after {@link #kill}). */
  public void restart() throws Exception {
    kill();
    launch();
  }

  private void launch() throws Exception {
    log = Files.createTempFile("app-", ".log");
    List<String> cmd = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx256m", "-XX:TieredStopAtLevel=1", "-Dquarkus.http.port=" + port, "-Dquarkus.http.ssl-port=" + freePort(),
        "-jar", jar.toString()));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().putAll(env);
    process = pb.start();
    awaitReady();
  }

  public int port() {
    return port;
  }

  /** Stops the process at once (SIGKILL): no shutdown hooks, connections just die. */
  public void kill() throws InterruptedException {
    if (process != null && process.isAlive()) {
      process.destroyForcibly().waitFor();
    }
  }

  public URI url() {
    return URI.create("http://127.0.0.1:" + port);
  }

  public long pid() {
    return process.pid();
  }

  /**
   * The app's {@code /q/metrics} text, over HTTP/1.1 with a 10 s timeout: the JDK client's default
   * h2c upgrade on a plain port is a second protocol dance a test has no reason to depend on.
   */
  public String metrics() {
    try {
      HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();
      return http.send(java.net.http.HttpRequest.newBuilder(url().resolve("/q/metrics")).timeout(Duration.ofSeconds(10)).build(),
          java.net.http.HttpResponse.BodyHandlers.ofString()).body();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(jar + ": /q/metrics", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** Sends a signal: {@code STOP} freezes the process with its connections open, {@code CONT} thaws it. */
  public void signal(String sig) throws IOException, InterruptedException {
    new ProcessBuilder("kill", "-" + sig, Long.toString(process.pid())).inheritIO().start().waitFor();
  }

  private void awaitReady() throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IllegalStateException(jar + " exited: " + Files.readString(log));
      }
      try {
        var r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/q/health/ready")).build(),
            HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() == 200) {
          return;
        }
      } catch (IOException notYet) {
        // starting
      }
      Thread.sleep(100);
    }
    throw new IllegalStateException(jar + " not ready in 60 s: " + Files.readString(log));
  }

  public static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  @Override
  public void close() throws Exception {
    kill();
    if (log != null) {
      new File(log.toString()).delete();
    }
  }
}
