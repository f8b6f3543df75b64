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

  /** Where the log is, for the start-up line (no credentials). */
  String describe();

  /** The last position in the log (0 when empty). */
  long head() throws Exception;

  /** Feeds every entry, in order, to {@code sink} (at start, to rebuild state). */
  default void replay(Consumer<Entry> sink) throws Exception {
    long after = 0;
    while (true) {
      List<Entry> page = read(after, 10_000);
      if (page.isEmpty()) {
        return;
      }
      page.forEach(sink);
      after = page.get(page.size() - 1).seq();
    }
  }

  /**
   * Runs one write transaction, durably: first {@code catchUp} gets every entry after
   * {@code knownHead} that other writers appended (none for a single-writer store), then
   * {@code decide} returns the changes to append, which go at the next positions.
   *
   * @return the position of the last entry (caught up or appended)
   */
  long write(long knownHead, Consumer<Entry> catchUp, java.util.function.Supplier<List<Change>> decide) throws Exception;

  /**
   * Calls {@code onHead} with the new head whenever another writer commits (a store shared by
   * several instances); a single-writer store never calls it.
   */
  default void watch(java.util.function.LongConsumer onHead) {}

  /** Up to {@code limit} entries after {@code after}, in order. Safe from any thread. */
  List<Entry> read(long after, int limit) throws Exception;

  /**
   * One page of the log after {@code after}, read with plain SQL both stores share (the
   * {@code log} table has the same columns in SQLite and PostgreSQL). The caller holds the
   * connection's lock.
   */
  static List<Entry> readPage(java.sql.Connection c, long after, int limit) throws java.sql.SQLException {
    List<Entry> out = new java.util.ArrayList<>();
    try (java.sql.PreparedStatement ps = c.prepareStatement(
        "SELECT seq, command_id, type, board, task, title, before_task, at FROM log WHERE seq > ? ORDER BY seq LIMIT ?")) {
      ps.setLong(1, after);
      ps.setInt(2, limit);
      try (java.sql.ResultSet r = ps.executeQuery()) {
        while (r.next()) {
          out.add(SqliteLogStore.entry(r));
        }
      }
    }
    return out;
  }

  @Override
  void close();
}
