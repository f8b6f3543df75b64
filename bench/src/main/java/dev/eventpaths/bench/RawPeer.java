package dev.eventpaths.bench;

import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The raw peer's client: Vert.x HTTP/2 (h2c with prior knowledge, all streams on one
 * connection, like the links), writing pre-encoded event lines {@link #LINES_PER_WRITE} at a
 * time and honouring the write queue, counting answers by bytes. No codec anywhere: the ceiling
 * of what HTTP/2 on Vert.x carries here.
 */
final class RawPeer implements Peer {
  /** Events per write: 16,000 bytes, about what the library's writer coalesces (16 KiB). */
  static final int LINES_PER_WRITE = 80;

  private final Vertx vertx = Vertx.vertx();
  private final HttpClient http;
  private final Buffer chunk = BenchEvents.lines(LINES_PER_WRITE);
  private final Buffer one = BenchEvents.lines(1);

  RawPeer(int port) {
    http = vertx.createHttpClient(new HttpClientOptions()
        .setProtocolVersion(HttpVersion.HTTP_2)
        .setHttp2ClearTextUpgrade(false)
        .setHttp2MultiplexingLimit(-1)
        .setDefaultHost("127.0.0.1")
        .setDefaultPort(port)
        .setTcpNoDelay(true), new PoolOptions().setHttp2MaxSize(1));
  }

  @Override
  public String name() {
    return "raw Vert.x h2";
  }

  private void open(String path, CompletableFuture<?> failed, java.util.function.Consumer<HttpClientRequest> use) {
    http.request(new RequestOptions().setMethod(HttpMethod.POST).setURI(path)).onComplete(ar -> {
      if (ar.failed()) {
        failed.completeExceptionally(ar.cause());
        return;
      }
      HttpClientRequest req = ar.result();
      req.setChunked(true);
      req.exceptionHandler(failed::completeExceptionally);
      use.accept(req);
    });
  }

  /** Writes {@code remaining} events, a chunk at a time, while the write queue has room. */
  private void pump(HttpClientRequest req, long remaining) {
    while (remaining > 0 && !req.writeQueueFull()) {
      int k = (int) Math.min(LINES_PER_WRITE, remaining);
      req.write(k == LINES_PER_WRITE ? chunk : chunk.slice(0, k * BenchEvents.SIZE));
      remaining -= k;
    }
    if (remaining == 0) {
      req.end();
    } else {
      long left = remaining;
      req.drainHandler(v -> pump(req, left));
    }
  }

  @Override
  public long oneWay(long n) throws Exception {
    CompletableFuture<Long> done = new CompletableFuture<>();
    open("/sink", done, req -> {
      req.response().onFailure(done::completeExceptionally).onSuccess(resp -> resp.body()
          .onFailure(done::completeExceptionally)
          .onSuccess(body -> done.complete(new JsonObject(body.toString().trim()).getJsonObject("data").getLong("count"))));
      req.sendHead();
      pump(req, n);
    });
    return done.get(Peer.TIMEOUT_SECONDS, TimeUnit.SECONDS);
  }

  @Override
  public long echo(int links, long n) throws Exception {
    List<CompletableFuture<Long>> all = new ArrayList<>();
    for (int l = 0; l < links; l++) {
      long share = n / links + (l < n % links ? 1 : 0);
      CompletableFuture<Long> done = new CompletableFuture<>();
      open("/echo", done, req -> {
        req.response().onFailure(done::completeExceptionally).onSuccess(resp -> {
          long[] bytes = {0};
          resp.handler(b -> bytes[0] += b.length());
          resp.exceptionHandler(done::completeExceptionally);
          resp.endHandler(v -> done.complete(bytes[0] / BenchEvents.SIZE));
        });
        req.sendHead();
        pump(req, share);
      });
      all.add(done);
    }
    long sum = 0;
    for (CompletableFuture<Long> f : all) {
      sum += f.get(Peer.TIMEOUT_SECONDS, TimeUnit.SECONDS);
    }
    return sum;
  }

  @Override
  public long[] roundTrips(int n) throws Exception {
    long[] took = new long[n];
    CompletableFuture<Void> done = new CompletableFuture<>();
    open("/echo", done, req -> {
      long[] state = {0, 0, 0}; // [round trips done, when the last one was sent, bytes of it back]
      req.response().onFailure(done::completeExceptionally).onSuccess(resp -> {
        resp.handler(b -> {
          state[2] += b.length();
          if (state[2] < BenchEvents.SIZE) {
            return;
          }
          long now = System.nanoTime();
          state[2] -= BenchEvents.SIZE;
          int k = (int) state[0]++;
          took[k] = now - state[1];
          if (k + 1 < n) {
            state[1] = System.nanoTime();
            req.write(one);
          } else {
            req.end();
          }
        });
        resp.exceptionHandler(done::completeExceptionally);
        resp.endHandler(v -> {
          if (state[0] == n) {
            done.complete(null);
          } else {
            done.completeExceptionally(new IllegalStateException("round trips: " + state[0] + " of " + n));
          }
        });
      });
      req.sendHead();
      state[1] = System.nanoTime();
      req.write(one);
    });
    done.get(Peer.TIMEOUT_SECONDS, TimeUnit.SECONDS);
    return took;
  }

  @Override
  public void close() throws Exception {
    http.close();
    vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }
}
