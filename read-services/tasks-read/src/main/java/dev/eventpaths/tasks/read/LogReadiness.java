package dev.eventpaths.tasks.read;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/**
 * Ready ({@code /q/health/ready}) once the first catch-up of the log is over, and from then
 * on, even while the log is unreachable: the projections are still right as of their
 * position, and guests still get what this instance has. Before the first catch-up an
 * instance would make guests wait (see {@link Boards#read}), so it asks not to get them.
 */
@Readiness
@ApplicationScoped
public class LogReadiness implements HealthCheck {
  @Inject Boards boards;
  @Inject LogFollower follower;

  @Override
  public HealthCheckResponse call() {
    return HealthCheckResponse.named("tasks-log")
        .status(boards.isCaughtUp())
        .withData("caughtUp", boards.isCaughtUp())
        .withData("connected", follower.connected())
        .withData("seq", boards.lastApplied())
        .build();
  }
}
