package dev.eventpaths.presence;

import dev.eventpaths.Event;
import dev.eventpaths.EventService;
import dev.eventpaths.HostService;
import dev.eventpaths.LinkContext;
import io.smallrye.mutiny.Multi;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

/**
 * {@code presence}: who is viewing a board, for guests (through the gateway). Parameter
 * {@code board} (required, 1-64 of {@code a-z 0-9 -}).
 *
 * <h2>Stream contract</h2>
 *
 * <ul>
 *   <li>Output: see {@link PresenceFeed}: a snapshot, then joined / updated / left, pulled at
 *       the guest's pace; never ends on its own. Viewers are named by handle, never by guest
 *       id. A missing or invalid {@code board} gets one fatal {@code link.error}
 *       ({@code bad_param}) and the link ends. There is no resume: every link starts with a
 *       snapshot ({@code after} is ignored).
 *   <li>Input: read and dropped (reading keeps the idle timeout working).
 *   <li>Cancellation: the feed is forgotten at once.
 * </ul>
 */
@ApplicationScoped
@HostService("presence")
public class PresenceService implements EventService {
  @Inject Viewers viewers;
  @Inject PresenceConfig config;

  @Override
  public Multi<Event> apply(Multi<Event> in, LinkContext link) {
    String board = link.param("board");
    if (board == null || !GatewayFeed.BOARD_NAME.matcher(board).matches()) {
      return Multi.createFrom().item(Event.error("bad_param",
          board == null ? "the board parameter is required (?board=name, 1-64 of a-z 0-9 -)"
              : "invalid board name: 1-64 of a-z 0-9 -", true, null));
    }
    String you = link.guestId().map(Handles::of).orElse(null);
    in.subscribe().with(ignored -> { }, failure -> { /* the link is over; the output is cancelled */ });
    return Multi.createFrom().publisher(new PresenceFeed(viewers, board, you, config.snapshotPartBytes()));
  }
}
