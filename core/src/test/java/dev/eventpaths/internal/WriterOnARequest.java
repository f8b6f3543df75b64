package dev.eventpaths.internal;

import io.vertx.core.AsyncResult;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.Http2Settings;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.streams.WriteStream;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import java.util.function.Function;
import java.util.function.UnaryOperator;

/**
 * An {@link OutboundWriter} on a real HTTP/2 request, as a link's caller has one: the writer's
 * completion ends the request body, and the peer's answer (its response body) is collected.
 */
final class WriterOnARequest {
  private WriterOnARequest() {}

  /**
   * A peer on a free loopback port with the library's windows (a link server's, on the wire),
   * each request handled by {@code handler}; listening when this returns.
   */
  static HttpServer peer(Vertx vertx, Handler<HttpServerRequest> handler) throws Exception {
    return peer(vertx, LinkSettings.DEFAULTS.streamWindow(), handler);
  }

  /** The same with {@code streamWindow} as the window it grants each request (0 and up). */
  static HttpServer peer(Vertx vertx, int streamWindow, Handler<HttpServerRequest> handler) throws Exception {
    return vertx.createHttpServer(new HttpServerOptions()
            .setInitialSettings(new Http2Settings().setInitialWindowSize(streamWindow))
            .setHttp2ConnectionWindowSize(LinkSettings.DEFAULTS.connectionWindow()))
        .requestHandler(handler)
        .listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  /**
   * One test's loopback: a Vert.x, a {@link #peer} on it answering with the handler made from
   * it, and a {@link #client} to that peer. Closing it closes the Vert.x and so all three.
   */
  record Loopback(Vertx vertx, HttpServer server, HttpClient client) implements AutoCloseable {
    static Loopback start(Function<Vertx, Handler<HttpServerRequest>> handler) throws Exception {
      return start(LinkSettings.DEFAULTS.streamWindow(), handler);
    }

    /** The same with a peer granting each request {@code streamWindow} (see {@link #peer(Vertx, int, Handler)}). */
    static Loopback start(int streamWindow, Function<Vertx, Handler<HttpServerRequest>> handler) throws Exception {
      Vertx vertx = Vertx.vertx();
      return new Loopback(vertx, peer(vertx, streamWindow, handler.apply(vertx)), WriterOnARequest.client(vertx));
    }

    int port() {
      return server.actualPort();
    }

    @Override
    public void close() {
      vertx.close();
    }
  }

  /** How many NDJSON lines (newlines) {@code chunk} holds: what a peer counts as events. */
  static int lines(Buffer chunk) {
    int n = 0;
    for (int i = 0; i < chunk.length(); i++) {
      if (chunk.getByte(i) == '\n') {
        n++;
      }
    }
    return n;
  }

  /** An h2c client (prior knowledge) with the library's windows, as a link client has. */
  static HttpClient client(Vertx vertx) {
    return vertx.createHttpClient(new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2)
        .setHttp2ClearTextUpgrade(false)
        .setInitialSettings(new Http2Settings().setInitialWindowSize(LinkSettings.DEFAULTS.streamWindow()))
        .setHttp2ConnectionWindowSize(LinkSettings.DEFAULTS.connectionWindow()));
  }

  /**
   * Opens a POST to {@code 127.0.0.1:port} on {@code ctx}, sends its head and hands the request
   * and its writer to {@code then} (on {@code ctx}).
   *
   * @param answer completed with the response body, or with the writer's or the request's failure
   */
  static void open(HttpClient client, int port, Context ctx, int batch, long pollMaxMillis,
      CompletableFuture<String> answer, BiConsumer<HttpClientRequest, OutboundWriter> then) {
    open(client, port, ctx, batch, pollMaxMillis, UnaryOperator.identity(), answer, then);
  }

  /** The same to {@code path}. */
  static void open(HttpClient client, int port, Context ctx, String path, int batch, long pollMaxMillis,
      CompletableFuture<String> answer, BiConsumer<HttpClientRequest, OutboundWriter> then) {
    open(client, port, ctx, path, batch, OutboundWriter.DEMAND_BYTES, pollMaxMillis, UnaryOperator.identity(), answer, then);
  }

  /** The same, with the writer writing to {@code sink} applied to the request (a test's stand-in for it). */
  static void open(HttpClient client, int port, Context ctx, int batch, long pollMaxMillis,
      UnaryOperator<WriteStream<Buffer>> sink, CompletableFuture<String> answer,
      BiConsumer<HttpClientRequest, OutboundWriter> then) {
    open(client, port, ctx, "/", batch, OutboundWriter.DEMAND_BYTES, pollMaxMillis, sink, answer, then);
  }

  /** The same, with a writer whose requests ask for at most {@code demandBytes} bytes of events. */
  static void open(HttpClient client, int port, Context ctx, int batch, int demandBytes, long pollMaxMillis,
      UnaryOperator<WriteStream<Buffer>> sink, CompletableFuture<String> answer,
      BiConsumer<HttpClientRequest, OutboundWriter> then) {
    open(client, port, ctx, "/", batch, demandBytes, pollMaxMillis, sink, answer, then);
  }

  private static void open(HttpClient client, int port, Context ctx, String path, int batch, int demandBytes,
      long pollMaxMillis,
      UnaryOperator<WriteStream<Buffer>> sink, CompletableFuture<String> answer,
      BiConsumer<HttpClientRequest, OutboundWriter> then) {
    ctx.runOnContext(v -> client.request(new RequestOptions().setMethod(HttpMethod.POST)
            .setHost("127.0.0.1").setPort(port).setURI(path))
        .onFailure(answer::completeExceptionally)
        .onSuccess(req -> {
          req.setChunked(true);
          req.response().compose(r -> r.body()).onSuccess(b -> answer.complete(b.toString()))
              .onFailure(answer::completeExceptionally);
          req.sendHead();
          OutboundWriter writer = new OutboundWriter(ctx, sink.apply(req), batch, new OutboundWriter.Listener() {
            @Override
            public void completed() {
              req.end(); // as a link does: the producer is done, so is the request body
            }

            @Override
            public void failed(Throwable t) {
              answer.completeExceptionally(t);
            }

            @Override
            public void wrote(int events, int bytes) {}

            @Override
            public void paused(long nanos) {}
          }, StreamWritability.of(req.connection(), req::streamId), pollMaxMillis, demandBytes);
          then.accept(req, writer);
        }));
  }

  /** A request's body as a test's stand-in shows it: everything goes to {@code request()} unless overridden. */
  interface Forwarding extends WriteStream<Buffer> {
    WriteStream<Buffer> request();

    @Override
    default boolean writeQueueFull() {
      return request().writeQueueFull();
    }

    @Override
    default WriteStream<Buffer> drainHandler(Handler<Void> handler) {
      request().drainHandler(handler);
      return this;
    }

    @Override
    default Future<Void> write(Buffer data) {
      return request().write(data);
    }

    @Override
    default void write(Buffer data, Handler<AsyncResult<Void>> handler) {
      request().write(data, handler);
    }

    @Override
    default void end(Handler<AsyncResult<Void>> handler) {
      request().end(handler);
    }

    @Override
    default WriteStream<Buffer> exceptionHandler(Handler<Throwable> handler) {
      request().exceptionHandler(handler);
      return this;
    }

    @Override
    default WriteStream<Buffer> setWriteQueueMaxSize(int maxSize) {
      request().setWriteQueueMaxSize(maxSize);
      return this;
    }
  }
}
