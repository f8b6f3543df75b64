package dev.eventpaths.gateway;

import dev.eventpaths.EventpathsConfig;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.search.Search;
import io.vertx.core.CompositeFuture;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code GET /system/stats}: the live numbers behind the system page (guest/system/): links
 * open per service, events in and out on each path, refusals and errors by reason. Read from
 * the apps' own metrics: the gateway's registry, and each host service's {@code /q/metrics}
 * over the private network. Only counts leave: no guest ids, no payloads.
 */
@ApplicationScoped
public class SystemStats {
  @Inject Vertx vertx;
  @Inject MeterRegistry registry;
  @Inject EventpathsConfig eventpaths;

  private HttpClient http;

  void mount(@Observes Router router) {
    http = vertx.createHttpClient(new HttpClientOptions().setConnectTimeout(1_000).setIdleTimeout(30));
    router.get("/system/stats").handler(this::stats);
  }

  private void stats(RoutingContext rc) {
    JsonObject out = new JsonObject().put("at", System.currentTimeMillis());
    out.put("gateway", new JsonObject()
        .put("guestLinks", sum("eventpaths.links.active", "side", "guest"))
        .put("eventsFromGuests", sum("eventpaths.events", "side", "guest", "direction", "in"))
        .put("eventsToGuests", sum("eventpaths.events", "side", "guest", "direction", "out"))
        .put("hostLinks", sum("eventpaths.links.active", "side", "client"))
        .put("pairings", sum("eventpaths.gateway.pairings"))
        .put("refusals", byReason("eventpaths.gateway.refusals"))
        .put("linkErrors", byReason("eventpaths.gateway.link.errors")));
    List<Future<JsonObject>> calls = new ArrayList<>();
    List<String> names = new ArrayList<>();
    for (Map.Entry<String, EventpathsConfig.Target> t : eventpaths.targets().entrySet()) {
      names.add(t.getKey());
      calls.add(scrape(t.getValue().url()));
    }
    Future.join(new ArrayList<>(calls)).onComplete(done -> {
      JsonObject services = new JsonObject();
      for (int i = 0; i < names.size(); i++) {
        Future<JsonObject> f = calls.get(i);
        services.put(names.get(i), f.succeeded() ? f.result() : new JsonObject().put("up", false));
      }
      out.put("services", services);
      rc.response().putHeader("content-type", "application/json").putHeader("cache-control", "no-store")
          .end(out.encode());
    });
  }

  /** One host service's link numbers, from its Prometheus text. */
  private Future<JsonObject> scrape(URI url) {
    if (!"http".equals(url.getScheme())) {
      return Future.succeededFuture(new JsonObject().put("up", false).put("why", "only plain private targets are read"));
    }
    RequestOptions ro = new RequestOptions().setMethod(HttpMethod.GET).setHost(url.getHost())
        .setPort(url.getPort()).setURI("/q/metrics").setTimeout(2_000);
    return http.request(ro).compose(req -> req.send()).compose(resp -> resp.body()).map(body -> {
      JsonObject s = new JsonObject().put("up", true);
      double linksIn = 0, eventsIn = 0, eventsOut = 0, errors = 0;
      for (String line : body.toString().split("\n")) {
        if (line.startsWith("#")) {
          continue;
        }
        double v = value(line);
        if (line.startsWith("eventpaths_links_active{") && line.contains("side=\"server\"")) {
          linksIn += v;
        } else if (line.startsWith("eventpaths_events_total{") && line.contains("side=\"server\"")) {
          if (line.contains("direction=\"in\"")) {
            eventsIn += v;
          } else {
            eventsOut += v;
          }
        } else if (line.startsWith("eventpaths_link_errors_total{")) {
          errors += v;
        }
      }
      return s.put("links", linksIn).put("eventsIn", eventsIn).put("eventsOut", eventsOut).put("errors", errors);
    });
  }

  private static double value(String line) {
    int sp = line.lastIndexOf(' ');
    try {
      return sp < 0 ? 0 : Double.parseDouble(line.substring(sp + 1));
    } catch (NumberFormatException e) {
      return 0;
    }
  }

  private double sum(String name, String... tags) {
    Search s = registry.find(name).tags(tags);
    double total = 0;
    for (var c : s.counters()) {
      total += c.count();
    }
    for (var c : s.functionCounters()) {
      total += c.count();
    }
    for (var g : s.gauges()) {
      total += g.value();
    }
    return total;
  }

  private JsonObject byReason(String name) {
    JsonObject o = new JsonObject();
    registry.find(name).counters().forEach(c -> o.put(c.getId().getTag("reason"), c.count()));
    return o;
  }
}
