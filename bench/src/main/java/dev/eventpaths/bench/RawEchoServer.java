package dev.eventpaths.bench;

import io.vertx.core.Vertx;
import io.vertx.core.http.Http2Settings;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;

/**
 * The raw peer's server, run as its own process: plain Vert.x HTTP/2 (h2c with prior knowledge),
 * no codec. {@code POST /echo} writes every received chunk straight back (the chunks are already
 * coalesced: one write per chunk, not per event), pausing the request while the response's
 * write queue is full. {@code POST /sink} counts bytes and answers with the number of
 * {@value BenchEvents#SIZE}-byte events when the body ends.
 *
 * <p>Usage: {@code java -cp <bench classpath> dev.eventpaths.bench.RawEchoServer <port>}
 */
public final class RawEchoServer {
  private RawEchoServer() {}

  public static void main(String[] args) throws Exception {
    int port = Integer.parseInt(args[0]);
    Vertx vertx = Vertx.vertx();
    HttpServerOptions o = new HttpServerOptions()
        .setHost("127.0.0.1")
        .setPort(port)
        .setTcpNoDelay(true)
        .setInitialSettings(new Http2Settings().setMaxConcurrentStreams(1000));
    vertx.createHttpServer(o).requestHandler(RawEchoServer::handle).listen()
        .toCompletionStage().toCompletableFuture().get();
    System.out.println("raw echo listening on 127.0.0.1:" + port);
  }

  private static void handle(HttpServerRequest req) {
    HttpServerResponse resp = req.response();
    resp.putHeader("content-type", "application/x-ndjson");
    switch (req.path()) {
      case "/echo" -> {
        resp.writeHead();
        req.handler(chunk -> {
          resp.write(chunk);
          if (resp.writeQueueFull()) {
            req.pause();
            resp.drainHandler(v -> req.resume());
          }
        });
        req.endHandler(v -> resp.end());
      }
      case "/sink" -> {
        long[] bytes = {0};
        req.handler(chunk -> bytes[0] += chunk.length());
        req.endHandler(v -> resp.end("{\"type\":\"sink.done\",\"data\":{\"count\":" + bytes[0] / BenchEvents.SIZE + "}}\n"));
      }
      default -> resp.setStatusCode(404).end();
    }
  }
}
