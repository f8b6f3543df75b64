package dev.eventpaths.gateway;

import dev.eventpaths.testing.Settle;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.eventpaths.internal.LinkRuntime;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.vertx.core.Vertx;
import io.vertx.core.http.Http2Settings;
import jakarta.inject.Inject;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A guest that opens links to a service that produces a lot and never reads its downloads
 * (a zero stream window, a one-byte one, or the default with its reader paused): what each such
 * link makes the gateway and the host service hold is bounded by the link's windows, not by the
 * connections' far larger ones. Every byte held here sits in a heap for as long as the guest
 * likes, so this is what an attacker's stalled link costs (core/README.md, "A stalled link").
 * Real HTTP/2 with TLS through the gateway to the packaged echo app.
 */
@QuarkusTest
@QuarkusTestResource(HostServices.class)
class StalledDownloadTest {
  static final int LINKS = 4;
  /** One write of a link's writer: what it coalesces (16 KiB) and the event that filled it. */
  static final int ONE_WRITE = 16 * 1024 + 1024;
  /** What a service may send a guest's host link before the gateway reads it (the gateway's setting). */
  static final int HOST_LINK_WINDOW = 65_536;
  /** What a writer holds encoded while paused (a batch of 128 ~200-byte events) and the chunk its reader decoded. */
  static final int HELD = 128 * 250 + ONE_WRITE;

  @Inject Vertx vertx;
  @Inject LinkRuntime runtime;

  /**
   * {@code source}: the service sends a million events. {@code echo}: the guest uploads ~560 KB
   * as fast as its stream lets it and the service echoes it to the unread download, so both
   * directions of the pair fill up.
   */
  @ParameterizedTest(name = "service {0}, guest stream window {1}")
  @CsvSource({"source, 0", "source, 1", "source, 65535", "echo, 0", "echo, 65535"})
  void aGuestThatNeverReadsItsDownloadsCostsTheGatewayAndTheServiceOnlyTheLinksWindows(String service, int window)
      throws Exception {
    long[] before = counters(service);
    try (GuestClient client = new GuestClient(vertx, 1, 1000, new Http2Settings().setInitialWindowSize(window))) {
      String guest = client.newGuest();
      List<GuestClient.Upload> ups = new ArrayList<>();
      List<GuestClient.Download> downs = new ArrayList<>();
      String pad = "u".repeat(150);
      for (int i = 0; i < LINKS; i++) {
        GuestClient.Upload up = client.upload(guest, service, "stall-" + i);
        ups.add(up);
        GuestClient.Download down = client.download(guest, service, "stall-" + i, "n=1000000&size=150");
        assertEquals(200, down.status());
        down.response.pause(); // reads nothing (with a zero window the gateway can send nothing anyway)
        downs.add(down);
        if (service.equals("echo")) {
          vertx.runOnContext(v -> {
            for (int e = 1; e <= 3_000; e++) {
              up.send(dev.eventpaths.Event.of("u", java.util.Map.of("pad", pad)).withSeq(e));
            }
          });
        }
      }
      Settle.value(() -> java.util.Arrays.stream(counters(service)).sum());

      long[] now = counters(service);
      long[] d = new long[now.length];
      for (int i = 0; i < d.length; i++) {
        d[i] = (now[i] - before[i]) / LINKS;
      }
      long downOut = d[0], hostIn = d[1], serviceOut = d[2], upIn = d[3], hostOut = d[4], serviceIn = d[5];
      String figures = String.format(java.util.Locale.ROOT, "per link, bytes: the gateway read %,d of the upload, wrote %,d "
          + "to the host link, read %,d from it, wrote %,d to the download; the service read %,d, wrote %,d",
          upIn, hostOut, hostIn, downOut, serviceIn, serviceOut);
      assertTrue(downOut > 0, "the service's answers reached the downloads: " + figures);
      // Gateway, download side: what the guest's window let out, and one write queued in Netty.
      assertTrue(downOut <= window + ONE_WRITE,
          "the gateway let at most the guest's window and one write into each download: " + figures);
      // Gateway, from the host link to the download: a batch of 128 events and one chunk read.
      assertTrue(hostIn - downOut <= HELD,
          "the gateway holds at most a batch and a chunk of each link's answers: " + figures);
      // Service: the host link's window (unread at the gateway, in Vert.x) and one write queued there.
      assertTrue(serviceOut - hostIn <= HOST_LINK_WINDOW + ONE_WRITE,
          "the service let at most the host link's window and one write into each: " + figures);
      // The upload's way, when there is one: the same bounds the other way round.
      assertTrue(upIn - hostOut <= HELD, "the gateway holds at most a batch and a chunk of each upload: " + figures);
      assertTrue(hostOut - serviceIn <= HOST_LINK_WINDOW + ONE_WRITE,
          "the gateway let at most the service's window and one write into each host link: " + figures);
      downs.forEach(GuestClient.Download::cancel);
      ups.forEach(GuestClient.Upload::reset);
    }
  }

  /**
   * The byte counters of guest links to {@code service}: the gateway's download out, host link
   * in, the service's out; the gateway's upload in, host link out, the service's in.
   */
  private long[] counters(String service) {
    return new long[] {gateway("guest", service, "out"), gateway("client", service, "in"), service(service, "out"),
        gateway("guest", service, "in"), gateway("client", service, "out"), service(service, "in")};
  }

  /** The gateway's byte counter for guest links to {@code service} on one side. */
  private long gateway(String side, String service, String direction) {
    var c = runtime.metrics().registry().find("eventpaths.bytes")
        .tag("side", side).tag("service", service).tag("direction", direction).functionCounter();
    return c == null ? 0 : (long) c.count();
  }

  /** The bytes the echo app's {@code service} read or wrote on its links (its server side). */
  private static long service(String service, String direction) {
    return HostServices.a.metrics().lines()
        .filter(l -> l.startsWith("eventpaths_bytes_total{") && l.contains("side=\"server\"")
            && l.contains("service=\"" + service + "\"") && l.contains("direction=\"" + direction + "\""))
        .mapToLong(l -> (long) Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
  }
}
