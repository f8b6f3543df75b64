package dev.eventpaths.gateway;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersDecoder;
import io.netty.handler.codec.http2.DefaultHttp2HeadersEncoder;
import io.netty.handler.codec.http2.Http2Headers;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * One HTTP/2 request with prior knowledge over plain TCP, with whatever pseudo-headers the test
 * sets ({@code :scheme: https} on the plain port, which no well-behaved client sends), written
 * frame by frame with Netty's HPACK coder. Returns the response's headers.
 */
final class H2cRaw {
  private H2cRaw() {}

  static Http2Headers request(int port, String method, String scheme, String authority, String path,
      Map<String, String> headers) throws IOException {
    try (Socket s = new Socket("127.0.0.1", port)) {
      s.setSoTimeout(5000);
      OutputStream out = s.getOutputStream();
      out.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      frame(out, 0x4, 0, 0, new byte[0]); // SETTINGS, defaults
      Http2Headers h = new DefaultHttp2Headers().method(method).scheme(scheme).authority(authority).path(path);
      headers.forEach(h::add);
      ByteBuf block = Unpooled.buffer();
      try {
        new DefaultHttp2HeadersEncoder().encodeHeaders(1, h, block);
        byte[] bytes = new byte[block.readableBytes()];
        block.readBytes(bytes);
        frame(out, 0x1, 0x4 | 0x1, 1, bytes); // HEADERS, END_HEADERS | END_STREAM
      } catch (io.netty.handler.codec.http2.Http2Exception e) {
        throw new IOException(e);
      } finally {
        block.release();
      }
      out.flush();
      DataInputStream in = new DataInputStream(s.getInputStream());
      DefaultHttp2HeadersDecoder decoder = new DefaultHttp2HeadersDecoder();
      while (true) {
        int length = (in.readUnsignedByte() << 16) | (in.readUnsignedByte() << 8) | in.readUnsignedByte();
        int type = in.readUnsignedByte();
        int flags = in.readUnsignedByte();
        int stream = in.readInt() & 0x7fffffff;
        byte[] payload = new byte[length];
        in.readFully(payload);
        if (type == 0x4 && (flags & 0x1) == 0) {
          frame(out, 0x4, 0x1, 0, new byte[0]); // SETTINGS ack
          out.flush();
        } else if (type == 0x1 && stream == 1) {
          int from = 0;
          int to = payload.length;
          if ((flags & 0x8) != 0) { // PADDED
            to -= payload[0] & 0xff;
            from = 1;
          }
          if ((flags & 0x20) != 0) { // PRIORITY
            from += 5;
          }
          if ((flags & 0x4) == 0) {
            throw new IOException("a header block continued in CONTINUATION frames (not read by this test client)");
          }
          ByteBuf b = Unpooled.wrappedBuffer(payload, from, to - from);
          try {
            return decoder.decodeHeaders(1, b);
          } catch (io.netty.handler.codec.http2.Http2Exception e) {
            throw new IOException(e);
          }
        } else if (type == 0x7) {
          throw new IOException("GOAWAY before an answer");
        }
      }
    }
  }

  private static void frame(OutputStream out, int type, int flags, int stream, byte[] payload) throws IOException {
    int n = payload.length;
    out.write(new byte[] {(byte) (n >>> 16), (byte) (n >>> 8), (byte) n, (byte) type, (byte) flags,
        (byte) (stream >>> 24), (byte) (stream >>> 16), (byte) (stream >>> 8), (byte) stream});
    out.write(payload);
  }
}
