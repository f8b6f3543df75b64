package dev.eventpaths;

import com.fasterxml.jackson.core.io.JsonStringEncoder;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;

/**
 * Writes events as NDJSON lines (docs/PROTOCOL.md, section 1).
 *
 * <p>Stateless and thread-safe. The payload's bytes are copied as they are (they were validated
 * when the {@link Json} was made), so encoding costs one pass over the envelope's strings.
 */
public final class EventEncoder {
  private static final byte[] TYPE = "{\"type\":".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] ID = ",\"id\":".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] SEQ = ",\"seq\":".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] DATA = ",\"data\":".getBytes(StandardCharsets.US_ASCII);
  /** "00" to "99": the two digits of each number below 100. */
  private static final byte[] DIGIT_PAIRS = new byte[200];

  static {
    for (int i = 0; i < 100; i++) {
      DIGIT_PAIRS[2 * i] = (byte) ('0' + i / 10);
      DIGIT_PAIRS[2 * i + 1] = (byte) ('0' + i % 10);
    }
  }

  private EventEncoder() {}

  /** Appends {@code event} and its terminating {@code \n} to {@code out}. */
  public static void encodeTo(Event event, ByteBuf out) {
    out.writeBytes(TYPE);
    writeString(event.type(), out);
    if (event.id() != null) {
      out.writeBytes(ID);
      writeString(event.id(), out);
    }
    if (event.seq() > 0) {
      out.writeBytes(SEQ);
      writeLong(event.seq(), out);
    }
    Json data = event.data();
    if (data != null) {
      out.writeBytes(DATA);
      out.writeBytes(data.array(), data.arrayOffset(), data.byteLength());
    }
    out.writeByte('}');
    out.writeByte('\n');
  }

  /** The encoded line of {@code event}, {@code \n} included. */
  public static byte[] encode(Event event) {
    ByteBuf buf = Unpooled.buffer(estimateSize(event));
    encodeTo(event, buf);
    byte[] b = new byte[buf.readableBytes()];
    buf.readBytes(b);
    return b;
  }

  /** A cheap upper-bound guess of the encoded size, for sizing buffers. */
  public static int estimateSize(Event event) {
    int n = 40 + event.type().length() * 3;
    if (event.id() != null) {
      n += 8 + event.id().length() * 3;
    }
    if (event.data() != null) {
      n += 8 + event.data().byteLength();
    }
    return n;
  }

  private static void writeString(String s, ByteBuf out) {
    int len = s.length();
    for (int i = 0; i < len; i++) {
      char c = s.charAt(i);
      if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') {
        // Rare for names and ids: let Jackson do escaping and UTF-8 right.
        out.writeByte('"');
        out.writeBytes(JsonStringEncoder.getInstance().quoteAsUTF8(s));
        out.writeByte('"');
        return;
      }
    }
    out.writeByte('"');
    out.writeCharSequence(s, StandardCharsets.US_ASCII); // one bounds check, not one per byte
    out.writeByte('"');
  }

  private static void writeLong(long v, ByteBuf out) {
    if (v < 10) {
      out.writeByte('0' + (int) v);
      return;
    }
    // Digits straight into the buffer (v > 0 here), two at a time from a table: no String per
    // event, and half the divisions (a 7-digit seq took 6% of an echo app's CPU digit by digit).
    int digits = 2;
    for (long x = 100; digits < 19 && v >= x; x *= 10) {
      digits++;
    }
    out.ensureWritable(digits);
    int at = out.writerIndex() + digits;
    while (v >= 100) {
      int pair = (int) (v % 100) * 2;
      v /= 100;
      out.setByte(--at, DIGIT_PAIRS[pair + 1]);
      out.setByte(--at, DIGIT_PAIRS[pair]);
    }
    if (v >= 10) {
      int pair = (int) v * 2;
      out.setByte(--at, DIGIT_PAIRS[pair + 1]);
      out.setByte(--at, DIGIT_PAIRS[pair]);
    } else {
      out.setByte(--at, (int) ('0' + v));
    }
    out.writerIndex(out.writerIndex() + digits);
  }
}
