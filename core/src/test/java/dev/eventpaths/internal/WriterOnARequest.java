package dev.eventpaths.internal;

import io.vertx.core.Context;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import java.util.concurrent.CompletableFuture;
import java.util.function.BiConsumer;

/**
 * An {@link OutboundWriter} on a real HTTP/2 request, as a link's caller has one: the writer's
 * completion ends the request body, and the peer's answer (its response body) is collected.
 */
final class WriterOnARequest {
  private WriterOnARequest() {}

  /**
   * Opens a POST to {@code 127.0.0.1:port} on {@code ctx}, sends its head and hands the request
   * and its writer to {@code then} (on {@code ctx}).
   *
   * @param answer completed with the response body, or with the writer's or the request's failure
   */
  static void open(HttpClient client, int port, Context ctx, int batch, long pollMaxMillis,
      CompletableFuture<String> answer, BiConsumer<HttpClientRequest, OutboundWriter> then) {
    ctx.runOnContext(v -> client.request(new RequestOptions().setMethod(HttpMethod.POST)
            .setHost("127.0.0.1").setPort(port).setURI("/"))
        .onFailure(answer::completeExceptionally)
        .onSuccess(req -> {
          req.setChunked(true);
          req.response().compose(r -> r.body()).onSuccess(b -> answer.complete(b.toString()))
              .onFailure(answer::completeExceptionally);
          req.sendHead();
          OutboundWriter writer = new OutboundWriter(ctx, req, batch, new OutboundWriter.Listener() {
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
          }, StreamWritability.of(req.connection(), req::streamId), pollMaxMillis);
          then.accept(req, writer);
        }));
  }
}
