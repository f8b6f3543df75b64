package dev.eventpaths.bench;

import dev.eventpaths.Event;
import dev.eventpaths.EventDecoder;
import dev.eventpaths.EventEncoder;
import io.grpc.Drainable;
import io.grpc.KnownLength;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;

/**
 * The gRPC peer's service description, without protoc: two bidirectional-streaming methods
 * whose messages are {@link Event}s, marshalled as their NDJSON line by the library's own
 * {@link EventEncoder} and {@link EventDecoder} (so both peers pay the same codec per event).
 */
final class GrpcEvents {
  static final String SERVICE = "bench.Events";

  /** Answers every event with itself. */
  static final MethodDescriptor<Event, Event> ECHO = method("Echo");

  /** Counts events; when the input ends, answers one {@code sink.done {"count": n}}. */
  static final MethodDescriptor<Event, Event> SINK = method("Sink");

  private GrpcEvents() {}

  private static MethodDescriptor<Event, Event> method(String name) {
    return MethodDescriptor.<Event, Event>newBuilder()
        .setType(MethodDescriptor.MethodType.BIDI_STREAMING)
        .setFullMethodName(MethodDescriptor.generateFullMethodName(SERVICE, name))
        .setRequestMarshaller(Marshaller.INSTANCE)
        .setResponseMarshaller(Marshaller.INSTANCE)
        .build();
  }

  /** An event as its JSON line. */
  static final class Marshaller implements MethodDescriptor.Marshaller<Event> {
    static final Marshaller INSTANCE = new Marshaller();

    @Override
    public InputStream stream(Event event) {
      return new Bytes(EventEncoder.encode(event));
    }

    @Override
    public Event parse(InputStream in) {
      try {
        Event e = EventDecoder.parse(in.readAllBytes());
        if (e == null) {
          throw Status.INVALID_ARGUMENT.withDescription("empty event").asRuntimeException();
        }
        return e;
      } catch (EventDecoder.BadEventException e) {
        throw Status.INVALID_ARGUMENT.withDescription(e.reason() + ": " + e.getMessage()).asRuntimeException();
      } catch (IOException e) {
        throw Status.INTERNAL.withCause(e).asRuntimeException();
      }
    }
  }

  /** Bytes gRPC can size and copy in one go (what its protobuf marshaller offers too). */
  private static final class Bytes extends ByteArrayInputStream implements KnownLength, Drainable {
    Bytes(byte[] b) {
      super(b);
    }

    @Override
    public int drainTo(OutputStream target) throws IOException {
      int n = count - pos;
      target.write(buf, pos, n);
      pos = count;
      return n;
    }
  }
}
