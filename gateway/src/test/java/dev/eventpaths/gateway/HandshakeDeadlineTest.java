package dev.eventpaths.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.eventpaths.testing.LogCapture;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import org.eclipse.microprofile.config.ConfigProvider;
import org.junit.jupiter.api.Test;

/**
 * gateway.handshake-timeout (2 s in tests): connections that trickle their preface or a header
 * block are closed; a connection that has sent its preface may then stay idle.
 */
@QuarkusTest
@QuarkusTestResource(HostServices.class)
class HandshakeDeadlineTest {
  static final byte[] PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
  static final byte[] SETTINGS = {0, 0, 0, 0x4, 0, 0, 0, 0, 0};

  @Inject GatewayMetrics metrics;

  static int sslPort() {
    return ConfigProvider.getConfig().getValue("quarkus.http.test-ssl-port", Integer.class);
  }

  static int plainPort() {
    return ConfigProvider.getConfig().getValue("quarkus.http.test-port", Integer.class);
  }

  static Socket h2OverTls() throws Exception {
    SSLSocket s = (SSLSocket) GuestClient.sslContext().getSocketFactory().createSocket("localhost", sslPort());
    SSLParameters p = s.getSSLParameters();
    p.setApplicationProtocols(new String[] {"h2"});
    s.setSSLParameters(p);
    s.startHandshake();
    assertEquals("h2", s.getApplicationProtocol());
    return s;
  }

  /**
   * Sends {@code bytes} one every 200 ms (after {@code whole} at once) and reports whether the
   * gateway closed the connection before {@code bytes} were all sent (the trickle takes longer
   * than the deadline, so a gateway without one never closes it).
   */
  static boolean closedWhileTrickling(Socket s, byte[] whole, byte[] bytes) throws Exception {
    s.setSoTimeout(200);
    OutputStream out = s.getOutputStream();
    InputStream in = s.getInputStream();
    out.write(whole);
    out.flush();
    for (byte b : bytes) {
      try {
        out.write(b);
        out.flush();
      } catch (IOException closed) {
        return true;
      }
      try {
        while (true) {
          if (in.read(new byte[4096]) < 0) {
            return true;
          }
        }
      } catch (java.net.SocketTimeoutException nothingYet) {
        // the trickle goes on
      } catch (IOException reset) {
        return true;
      }
    }
    return false;
  }

  static byte[] concat(byte[]... parts) {
    java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
    for (byte[] p : parts) {
      b.writeBytes(p);
    }
    return b.toByteArray();
  }

  @Test
  void aTrickledPrefaceOverTlsIsClosed() throws Exception {
    double before = metrics.handshakeTimeouts("preface");
    try (LogCapture log = LogCapture.of("dev.eventpaths.gateway"); Socket s = h2OverTls()) {
      assertTrue(closedWhileTrickling(s, new byte[0], concat(PREFACE, SETTINGS)), "the gateway waited for ever");
      assertEquals(before + 1, metrics.handshakeTimeouts("preface"));
      assertTrue(log.lines().stream().anyMatch(l -> l.contains("handshake_timeout") && l.contains("gateway.handshake-timeout")),
          log.lines().toString());
    }
  }

  @Test
  void aTrickledHeaderBlockIsClosed() throws Exception {
    // HEADERS on stream 1 announcing 40 bytes, without END_HEADERS, then its payload a byte at a time.
    byte[] headers = {0, 0, 40, 0x1, 0, 0, 0, 0, 1};
    double before = metrics.handshakeTimeouts("header_block");
    try (Socket s = h2OverTls()) {
      assertTrue(closedWhileTrickling(s, concat(PREFACE, SETTINGS, headers), new byte[40]), "the gateway waited for ever");
    }
    assertEquals(before + 1, metrics.handshakeTimeouts("header_block"));
  }

  @Test
  void aTrickledPrefaceOnThePlainPortIsClosed() throws Exception {
    try (Socket s = new Socket("127.0.0.1", plainPort())) {
      assertTrue(closedWhileTrickling(s, new byte[0], concat(PREFACE, SETTINGS)), "h2c preface");
    }
    try (Socket s = new Socket("127.0.0.1", plainPort())) {
      byte[] head = "GET / HTTP/1.1\r\nhost: localhost\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaa\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
      assertTrue(closedWhileTrickling(s, new byte[0], head), "HTTP/1.1 head");
    }
  }

  @Test
  void aConnectionThatHasSentItsPrefaceMayStayIdle() throws Exception {
    try (Socket s = h2OverTls()) {
      s.getOutputStream().write(concat(PREFACE, SETTINGS));
      s.getOutputStream().flush();
      // Idle for twice the deadline: read what the gateway sends (its SETTINGS, an ack) meanwhile.
      s.setSoTimeout(4000);
      InputStream in = s.getInputStream();
      long until = System.nanoTime() + 4_000_000_000L;
      byte[] buf = new byte[4096];
      while (System.nanoTime() < until) {
        try {
          assertTrue(in.read(buf) >= 0, "the gateway closed an idle connection that had sent its preface");
        } catch (java.net.SocketTimeoutException quiet) {
          break;
        }
      }
      // Still served: a PING is answered with its ack.
      s.getOutputStream().write(new byte[] {0, 0, 8, 0x6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8});
      s.getOutputStream().flush();
      s.setSoTimeout(5000);
      boolean acked = false;
      java.io.DataInputStream d = new java.io.DataInputStream(in);
      while (!acked) {
        int len = (d.readUnsignedByte() << 16) | (d.readUnsignedByte() << 8) | d.readUnsignedByte();
        int type = d.readUnsignedByte();
        int flags = d.readUnsignedByte();
        d.readInt();
        d.readFully(new byte[len]);
        acked = type == 0x6 && (flags & 1) != 0;
      }
      assertTrue(acked);
    }
  }
}
