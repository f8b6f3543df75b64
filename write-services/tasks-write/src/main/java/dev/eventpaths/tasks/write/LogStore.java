package dev.eventpaths.tasks.write;

import java.util.List;
import java.util.function.Consumer;

/**
 * The durable log of changes. Implementations must make {@link #append} durable before it
 * returns: the writer acknowledges commands right after.
 */
interface LogStore extends AutoCloseable {
  /** A change and its position in the log. */
  record Entry(long seq, Change change) {}

  /** The last position in the log (0 when empty). */
  long head() throws Exception;

  /** Feeds every entry, in order, to {@code sink} (at start, to rebuild state). */
  void replay(Consumer<Entry> sink) throws Exception;

  /**
   * Appends changes at positions {@code head()+1 ...} in one transaction, durably.
   *
   * @return the position of the last change
   */
  long append(List<Change> changes) throws Exception;

  /** Up to {@code limit} entries after {@code after}, in order. Safe from any thread. */
  List<Entry> read(long after, int limit) throws Exception;

  @Override
  void close();
}
