package dev.eventpaths.internal;

import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonObject;

/** A request refused before any stream started: a status and {@code {"error","message"}}. */
public final class Refusal {
  private Refusal() {}

  /** Ends {@code response} with the refusal, unless it has already gone out. */
  public static void send(HttpServerResponse response, int status, String error, String message) {
    send(response, status, new JsonObject().put("error", error).put("message", message));
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
