package dev.eventpaths.tasks.write;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.function.Consumer;

/**
 * The log in an embedded SQLite file, WAL mode, {@code synchronous=FULL}: {@code COMMIT}
 * returns only after the WAL is fsynced, so an appended change survives a crash or a power
 * loss. One connection writes (the writer thread); another, guarded by a lock, reads for
 * followers (WAL lets readers run beside the writer).
 */
final class SqliteLogStore implements LogStore {
  private final Connection writer;
  private final Connection reader;
  private final Path file;
  private long head;

  SqliteLogStore(Path dir) throws Exception {
    Files.createDirectories(dir);
    file = dir.resolve("tasks.db").toAbsolutePath();
    String url = "jdbc:sqlite:" + file;
    writer = open(url);
    try (Statement s = writer.createStatement()) {
      s.execute("""
          CREATE TABLE IF NOT EXISTS log (
            seq INTEGER PRIMARY KEY,
            command_id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            board TEXT NOT NULL,
            task TEXT NOT NULL,
            title TEXT,
            before_task TEXT,
            at INTEGER NOT NULL)""");
    }
    writer.setAutoCommit(false);
    reader = open(url);
    head = queryHead();
  }

  @Override
  public String describe() {
    return "in SQLite at " + file;
  }

  private static Connection open(String url) throws SQLException {
    Connection c = DriverManager.getConnection(url);
    try (Statement s = c.createStatement()) {
      s.execute("PRAGMA journal_mode=WAL");
      s.execute("PRAGMA synchronous=FULL");
      s.execute("PRAGMA busy_timeout=5000");
    }
    return c;
  }

  private long queryHead() throws SQLException {
    try (Statement s = writer.createStatement(); ResultSet r = s.executeQuery("SELECT COALESCE(MAX(seq), 0) FROM log")) {
      r.next();
      return r.getLong(1);
    }
  }

  @Override
  public long head() {
    return head;
  }

  @Override
  public long write(long knownHead, Consumer<Entry> catchUp, java.util.function.Supplier<List<Change>> decide)
      throws Exception {
    // One process writes this file: there is nothing to catch up on.
    List<Change> changes = decide.get();
    if (changes.isEmpty()) {
      return head;
    }
    long seq = head;
    try (PreparedStatement ps = writer.prepareStatement(
        "INSERT INTO log (seq, command_id, type, board, task, title, before_task, at) VALUES (?,?,?,?,?,?,?,?)")) {
      for (Change c : changes) {
        bind(ps, ++seq, c);
        ps.addBatch();
      }
      ps.executeBatch();
      writer.commit();
    } catch (Exception e) {
      writer.rollback();
      throw e;
    }
    head = seq;
    return seq;
  }

  static void bind(PreparedStatement ps, long seq, Change c) throws SQLException {
    ps.setLong(1, seq);
    ps.setString(2, c.commandId());
    ps.setString(3, c.type());
    ps.setString(4, c.board());
    ps.setString(5, c.task());
    ps.setString(6, c.title());
    ps.setString(7, c.before());
    ps.setLong(8, c.at());
  }

  @Override
  public List<Entry> read(long after, int limit) throws Exception {
    synchronized (reader) {
      return LogStore.readPage(reader, after, limit);
    }
  }

  static Entry entry(ResultSet r) throws SQLException {
    return new Entry(r.getLong(1), new Change(r.getString(3), r.getString(2), r.getString(4), r.getString(5),
        r.getString(6), r.getString(7), r.getLong(8)));
  }

  @Override
  public void close() {
    try {
      writer.close();
      reader.close();
    } catch (SQLException e) {
      // closing at shutdown: nothing left to save
    }
  }
}
