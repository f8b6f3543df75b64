package dev.eventpaths.bench;

import dev.eventpaths.Event;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ClientResponseObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The gRPC peer's client: one channel (one HTTP/2 connection, like the links), a bidirectional
 * stream per link, messages sent while the stream is ready ({@code isReady}/on-ready handler,
 * gRPC's flow control), callbacks on the transport threads.
 */
final class GrpcPeer implements Peer {
  private final ManagedChannel channel;

  GrpcPeer(int port) {
    channel = NettyChannelBuilder.forAddress("127.0.0.1", port)
        .usePlaintext()
        .directExecutor()
        .build();
  }

  @Override
  public String name() {
    return "gRPC-java";
  }

  /**
   * Runs one call: sends {@code n} events as fast as the stream is ready, then completes;
   * {@code each} sees every answer; the result completes when the server completes.
   */
  private CompletableFuture<Void> call(MethodDescriptor<Event, Event> method, long n, Consumer<Event> each) {
    CompletableFuture<Void> done = new CompletableFuture<>();
    ClientCalls.asyncBidiStreamingCall(channel.newCall(method, CallOptions.DEFAULT),
        new ClientResponseObserver<Event, Event>() {
          long sent;
          boolean ended;

          @Override
          public void beforeStart(ClientCallStreamObserver<Event> out) {
            out.setOnReadyHandler(() -> {
              while (sent < n && out.isReady()) {
                out.onNext(BenchEvents.event(++sent));
              }
              if (sent == n && !ended) {
                ended = true;
                out.onCompleted();
              }
            });
          }

          @Override
          public void onNext(Event e) {
            each.accept(e);
          }

          @Override
          public void onError(Throwable t) {
            done.completeExceptionally(t);
          }

          @Override
          public void onCompleted() {
            done.complete(null);
          }
        });
    return done;
  }

  @Override
  public long oneWay(long n) throws Exception {
    long[] count = {-1};
    call(GrpcEvents.SINK, n, e -> count[0] = e.data().tree().get("count").asLong())
        .get(Peer.TIMEOUT_SECONDS, TimeUnit.SECONDS);
    return count[0];
  }

  @Override
  public long echo(int links, long n) throws Exception {
    List<CompletableFuture<Void>> all = new ArrayList<>();
    long[][] counts = new long[links][1];
    for (int l = 0; l < links; l++) {
      long share = n / links + (l < n % links ? 1 : 0);
      long[] count = counts[l];
      all.add(call(GrpcEvents.ECHO, share, e -> count[0]++));
    }
    long sum = 0;
    for (int l = 0; l < links; l++) {
      all.get(l).get(Peer.TIMEOUT_SECONDS, TimeUnit.SECONDS);
      sum += counts[l][0];
    }
    return sum;
  }

  @Override
  public long[] roundTrips(int n) throws Exception {
    long[] took = new long[n];
    CompletableFuture<Void> done = new CompletableFuture<>();
    long[] state = {0, 0}; // [round trips done, when the last one was sent]
    ClientCalls.asyncBidiStreamingCall(channel.newCall(GrpcEvents.ECHO, CallOptions.DEFAULT),
        new ClientResponseObserver<Event, Event>() {
          ClientCallStreamObserver<Event> out;

          @Override
          public void beforeStart(ClientCallStreamObserver<Event> out) {
            this.out = out;
          }

          @Override
          public void onNext(Event e) {
            long now = System.nanoTime();
            int k = (int) state[0]++;
            took[k] = now - state[1];
            if (k + 1 < n) {
              state[1] = System.nanoTime();
              out.onNext(BenchEvents.event(k + 2));
            } else {
              out.onCompleted();
            }
          }

          @Override
          public void onError(Throwable t) {
            done.completeExceptionally(t);
          }

          @Override
          public void onCompleted() {
            done.complete(null);
          }
        }).onNext(first(state));
    done.get(Peer.TIMEOUT_SECONDS, TimeUnit.SECONDS);
    if (state[0] != n) {
      throw new IllegalStateException("round trips: " + state[0] + " of " + n);
    }
    return took;
  }

  private static Event first(long[] state) {
    state[1] = System.nanoTime();
    return BenchEvents.event(1);
  }

  @Override
  public void close() throws Exception {
    channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
  }
}
