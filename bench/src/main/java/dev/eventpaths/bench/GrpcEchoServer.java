package dev.eventpaths.bench;

import dev.eventpaths.Event;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The gRPC peer's server, run as its own process: gRPC-java over Netty (plaintext HTTP/2),
 * callbacks on the transport threads ({@code directExecutor}, gRPC's fastest setting). The echo
 * uses gRPC's documented manual flow control (ask for the next message only while the response
 * side is ready), so like the links it never buffers without bound when the caller reads slowly.
 *
 * <p>Usage: {@code java -cp <bench classpath> dev.eventpaths.bench.GrpcEchoServer <port>}
 */
public final class GrpcEchoServer {
  private GrpcEchoServer() {}

  public static void main(String[] args) throws Exception {
    int port = Integer.parseInt(args[0]);
    ServerServiceDefinition service = ServerServiceDefinition.builder(GrpcEvents.SERVICE)
        .addMethod(GrpcEvents.ECHO, ServerCalls.asyncBidiStreamingCall(GrpcEchoServer::echo))
        .addMethod(GrpcEvents.SINK, ServerCalls.asyncBidiStreamingCall(GrpcEchoServer::sink))
        .build();
    Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", port))
        .directExecutor()
        .addService(service)
        .build()
        .start();
    System.out.println("gRPC echo listening on 127.0.0.1:" + port);
    server.awaitTermination();
  }

  private static StreamObserver<Event> echo(StreamObserver<Event> responses) {
    ServerCallStreamObserver<Event> out = (ServerCallStreamObserver<Event>) responses;
    out.disableAutoRequest();
    AtomicBoolean wasReady = new AtomicBoolean();
    out.setOnReadyHandler(() -> {
      if (out.isReady() && wasReady.compareAndSet(false, true)) {
        out.request(1);
      }
    });
    return new StreamObserver<>() {
      @Override
      public void onNext(Event e) {
        out.onNext(e);
        if (out.isReady()) {
          out.request(1);
        } else {
          wasReady.set(false);
        }
      }

      @Override
      public void onError(Throwable t) {
        // the caller went away: nothing to answer
      }

      @Override
      public void onCompleted() {
        out.onCompleted();
      }
    };
  }

  private static StreamObserver<Event> sink(StreamObserver<Event> responses) {
    return new StreamObserver<>() {
      long count;

      @Override
      public void onNext(Event e) {
        count++;
      }

      @Override
      public void onError(Throwable t) {
        // the caller went away: nothing to answer
      }

      @Override
      public void onCompleted() {
        responses.onNext(Event.of("sink.done", Map.of("count", count)));
        responses.onCompleted();
      }
    };
  }
}
