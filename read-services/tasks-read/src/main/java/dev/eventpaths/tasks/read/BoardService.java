package dev.eventpaths.tasks.read;

import dev.eventpaths.Event;
import dev.eventpaths.EventService;
import dev.eventpaths.HostService;
import dev.eventpaths.LinkContext;
import io.smallrye.mutiny.Multi;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.util.regex.Pattern;

/**
 * {@code board}: one board's tasks for a guest, as a snapshot then live changes (see README,
 * "The board service").
 *
 * <p>Parameters (the gateway passes the guest's download query): {@code board} (required,
 * 1-64 of {@code a-z 0-9 -}) and {@code after} (optional: the last {@code seq} the guest has).
 *
 * <h2>Stream contract</h2>
 *
 * <ul>
 *   <li>Output: see {@link BoardFeed}: a snapshot (unless {@code after} can be served from the
 *       history), then the board's changes, pulled at the guest's pace; it never ends on its
 *       own. A missing or invalid {@code board} gets one fatal {@code link.error} with reason
 *       {@code bad_param}, and the link ends.
 *   <li>Input: read and dropped. The service needs nothing from the guest, but reading keeps
 *       the link's idle timeout working, so a guest that vanished without closing its
 *       connection is noticed and its feed released.
 *   <li>Cancellation (the guest or the gateway goes away): the feed is forgotten at once.
 * </ul>
 */
@ApplicationScoped
@HostService("board")
public class BoardService implements EventService {
  static final Pattern BOARD_NAME = Pattern.compile("[a-z0-9-]{1,64}");

  @Inject Boards boards;
  @Inject TasksReadConfig config;

  @Override
  public Multi<Event> apply(Multi<Event> in, LinkContext link) {
    String board = link.param("board");
    if (board == null || !BOARD_NAME.matcher(board).matches()) {
      return Multi.createFrom().item(Event.error("bad_param",
          board == null ? "the board parameter is required (?board=name, 1-64 of a-z 0-9 -)"
              : "invalid board name: 1-64 of a-z 0-9 -", true, null));
    }
    // An `after` that is not a number is treated as absent: a snapshot is always a correct answer.
    long after = link.resumeAfter().orElse(-1);
    in.subscribe().with(ignored -> { }, failure -> { /* the link is over; the output is cancelled */ });
    return Multi.createFrom().publisher(new BoardFeed(boards, board, after, config.snapshotPartBytes()));
  }
}
