package dev.eventpaths.gateway;

import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.lang.ref.WeakReference;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Test only: remembers, weakly, the routing context of each guest stream request while
 * {@link #recording} is on, so a test can tell whether an open link still holds it.
 */
@ApplicationScoped
public class RoutingWatch {
  static volatile boolean recording;
  static final List<WeakReference<RoutingContext>> seen = new CopyOnWriteArrayList<>();

  void mount(@Observes Router router) {
    router.route("/g/*").order(Integer.MIN_VALUE).handler(rc -> {
      if (recording) {
        seen.add(new WeakReference<>(rc));
      }
      rc.next();
    });
  }
}
