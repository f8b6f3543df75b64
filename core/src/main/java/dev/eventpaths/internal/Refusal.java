package dev.eventpaths.internal;

import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.json.JsonObject;

/** A request refused before any stream started: a status and {@code {"error","message"}}. */
public final class Refusal {
  private Refusal() {}

  /** Ends {@code response} with the refusal, unless it has already gone out. */
  public static void send(HttpServerResponse response, int status, String error, String message) {
    send(response, status, new JsonObject().put("error", error).put("message", message));
  }

  /**
   * Refuses {@code request} and, on HTTP/2, stops a request body still coming with
   * {@code RST_STREAM NO_ERROR} (RFC 9113 8.1: the response is complete, send no more). Without
   * the reset a streaming upload is answered but never ended: a browser, which shows an
   * upload's response only once its body ends, never sees the reason, and the stream keeps its
   * place in the connection's concurrent-stream limit.
   */
  public static void send(HttpServerRequest request, int status, JsonObject body) {
    HttpServerResponse response = request.response();
    if (response.headWritten() || response.ended() || response.closed()) {
      return;
    }
    send(response, status, body);
    if (request.version() == HttpVersion.HTTP_2 && !request.isEnded()) {
      response.reset(0);
    }
  }

  /** Ends {@code response} with a JSON body that has at least {@code error} and {@code message}. */
  public static void send(HttpServerResponse response, int status, JsonObject body) {
    if (response.headWritten() || response.ended() || response.closed()) {
      return;
    }
    response.setStatusCode(status)
        .putHeader("content-type", "application/json")
        .putHeader("cache-control", "no-store")
        .end(body.encode());
  }
}
